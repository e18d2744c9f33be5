//! The rollout planner: a pure function of what was observed and what is configured. It
//! decides every AWS write an apply makes and renders the steps `terraform plan` shows.

use super::model::{td_label, tg_label, Desired, Drift, Observed, Role, TaskSetRef};

/// A task set to create.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NewTaskSet {
    pub role: Role,
    pub task_definition: String,
    pub scale: f64,
    pub target_group: String,
}

/// A new scale for an existing task set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rescale {
    pub task_set: TaskSetRef,
    pub scale: f64,
}

/// Which task set UpdateServicePrimaryTaskSet names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PrimaryTarget {
    /// The stable task set this apply creates, once it is steady.
    NewStable,
    /// The stable task set already recorded (PRIMARY moved away from it).
    Stable(TaskSetRef),
}

/// Weights to write: on the managed routers, on the test routers, or both.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Routing {
    pub production: bool,
    pub tests: bool,
    /// Whether a canary runs once the apply is done (test routers send it everything then).
    pub canary_exists: bool,
}

/// Why a task set goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetireReason {
    /// The canary was rolled back, promoted, or replaced by a new canary version.
    Canary,
    /// A new stable task set took over.
    OldStable,
    /// Owned by the deployment, missing from its state.
    Orphan,
}

/// A task set to delete once traffic has left it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Retire {
    pub id: String,
    /// ARN where the state has it, else the id (DeleteTaskSet takes either).
    pub reference: String,
    pub reason: RetireReason,
    /// Task definition label for the step text, where known.
    pub label: String,
}

/// Everything one apply does, in this order: stable, PRIMARY, canary, weights, clean-up.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Rollout {
    /// Recorded task sets to tag as the deployment's (after an import) before anything else.
    pub adopt: Vec<(TaskSetRef, Role)>,
    pub create_stable: Option<NewTaskSet>,
    pub scale_stable: Option<Rescale>,
    /// Put the canary target group at weight 0 on the managed routers before the canary task
    /// set is created: ECS refuses a target group no listener or rule forwards to.
    pub associate_canary_tg: bool,
    pub make_primary: Option<PrimaryTarget>,
    pub create_canary: Option<NewTaskSet>,
    pub scale_canary: Option<Rescale>,
    pub routing: Option<Routing>,
    pub retire: Vec<Retire>,
    pub steps: Vec<String>,
}

impl Rollout {
    pub(crate) fn plan(seen: &Observed, d: &Desired) -> Rollout {
        let p = seen.deployed.as_ref();
        // An imported deployment has no template yet: adopting the configured one rolls nothing.
        // Otherwise the templates are compared as ECS sees them, so a template read back from
        // ECS (import) equals a configuration that leaves ECS's defaults unset.
        let template_changed =
            p.is_some_and(|p| p.has_template && !p.template.creates_same_as(&d.template));
        let new_stable = match p {
            None => true,
            Some(p) => {
                seen.stable.is_none()
                    || p.stable_td != d.stable_td
                    || template_changed
                    || p.primary_tg != d.primary_tg
            }
        };
        let mut r = Rollout::default();
        for drift in &seen.drift {
            if let Drift::NotOwned { task_set, role } = drift {
                let recorded = match role {
                    Role::Stable => &seen.stable,
                    Role::Canary => &seen.canary,
                };
                if let Some(t) = recorded.as_ref().filter(|t| t.id == *task_set) {
                    r.adopt.push((t.clone(), *role));
                }
            }
        }
        if new_stable {
            r.create_stable = Some(NewTaskSet {
                role: Role::Stable,
                task_definition: d.stable_td.clone(),
                scale: d.stable_scale,
                target_group: d.primary_tg.clone(),
            });
            r.make_primary = Some(PrimaryTarget::NewStable);
        } else if let Some(stable) = &seen.stable {
            if p.is_some_and(|p| p.stable_scale != d.stable_scale) {
                r.scale_stable = Some(Rescale {
                    task_set: stable.clone(),
                    scale: d.stable_scale,
                });
            }
            if seen
                .drift
                .iter()
                .any(|x| matches!(x, Drift::PrimaryMoved { .. }))
            {
                r.make_primary = Some(PrimaryTarget::Stable(stable.clone()));
            }
        }

        let old_canary = p.and_then(|p| p.canary.as_ref());
        let mut new_canary = false;
        if let Some(c) = &d.canary {
            new_canary = seen.canary.is_none()
                || old_canary.is_none_or(|o| o.task_definition != c.task_definition)
                || template_changed
                || p.is_some_and(|p| p.canary_tg != d.canary_tg);
            if new_canary {
                r.associate_canary_tg =
                    seen.canary_tg_associated == Some(false) && !d.routers.is_empty();
                r.create_canary = Some(NewTaskSet {
                    role: Role::Canary,
                    task_definition: c.task_definition.clone(),
                    scale: c.scale,
                    target_group: d.canary_tg.clone(),
                });
            } else if let (Some(o), Some(t)) = (old_canary, &seen.canary) {
                if o.scale != c.scale {
                    r.scale_canary = Some(Rescale {
                        task_set: t.clone(),
                        scale: c.scale,
                    });
                }
            }
        }

        let routing_drift = seen.drift.iter().any(|x| x.is_routing());
        let (pw, cw) = d.weights();
        let production = !d.routers.is_empty()
            && (seen.weights != Some((pw, cw))
                || p.is_none_or(|p| {
                    p.routers != d.routers
                        || p.primary_tg != d.primary_tg
                        || p.canary_tg != d.canary_tg
                })
                || routing_drift);
        let tests = !d.test_routers.is_empty()
            && (p.is_none_or(|p| {
                p.test_routers != d.test_routers
                    || p.primary_tg != d.primary_tg
                    || p.canary_tg != d.canary_tg
            }) || seen.canary.is_some() != d.canary.is_some()
                || routing_drift);
        if production || tests {
            r.routing = Some(Routing {
                production,
                tests,
                canary_exists: d.canary.is_some(),
            });
        }

        if let Some(c) = &seen.canary {
            if d.canary.is_none() || new_canary {
                r.retire.push(Retire {
                    id: c.id.clone(),
                    reference: c.arn.clone(),
                    reason: RetireReason::Canary,
                    label: old_canary
                        .map(|o| td_label(&o.task_definition))
                        .unwrap_or_default(),
                });
            }
        }
        if new_stable {
            if let Some(s) = &seen.stable {
                r.retire.push(Retire {
                    id: s.id.clone(),
                    reference: s.arn.clone(),
                    reason: RetireReason::OldStable,
                    label: p.map(|p| td_label(&p.stable_td)).unwrap_or_default(),
                });
            }
        }
        for id in &seen.orphans {
            r.retire.push(Retire {
                id: id.clone(),
                reference: id.clone(),
                reason: RetireReason::Orphan,
                label: String::new(),
            });
        }
        r.steps = r.describe(d);
        r
    }

    /// The steps as `rollout_steps` shows them.
    fn describe(&self, d: &Desired) -> Vec<String> {
        let mut steps = Vec::new();
        for (t, role) in &self.adopt {
            steps.push(format!(
                "tag {} {} as owned by deployment {}",
                role.as_str(),
                t.id,
                d.id()
            ));
        }
        if let Some(n) = &self.create_stable {
            steps.push(format!(
                "create stable task set {} (scale {}%) on tg {}",
                td_label(&n.task_definition),
                n.scale,
                tg_label(&n.target_group)
            ));
            steps.push(format!(
                "make stable task set {} PRIMARY",
                td_label(&n.task_definition)
            ));
        }
        if let Some(s) = &self.scale_stable {
            steps.push(format!(
                "scale stable task set {} to {}%",
                td_label(&d.stable_td),
                s.scale
            ));
        }
        if let Some(PrimaryTarget::Stable(_)) = &self.make_primary {
            steps.push(format!(
                "make stable task set {} PRIMARY again",
                td_label(&d.stable_td)
            ));
        }
        if self.associate_canary_tg {
            let n = d.routers.len();
            steps.push(format!(
                "add tg {} at weight 0 on {n} {} (a task set needs a target group the load balancer forwards to)",
                tg_label(&d.canary_tg),
                if n == 1 { "rule" } else { "rules" }
            ));
        }
        if let Some(n) = &self.create_canary {
            steps.push(format!(
                "create canary task set {} (scale {}%) on tg {}",
                td_label(&n.task_definition),
                n.scale,
                tg_label(&n.target_group)
            ));
        }
        if let (Some(s), Some(c)) = (&self.scale_canary, &d.canary) {
            steps.push(format!(
                "scale canary task set {} to {}%",
                td_label(&c.task_definition),
                s.scale
            ));
        }
        if let Some(routing) = &self.routing {
            if routing.production {
                let (p, c) = d.weights();
                let n = d.routers.len();
                steps.push(format!(
                    "shift traffic {p}/{c} on {n} {}",
                    if n == 1 { "rule" } else { "rules" }
                ));
            }
            if routing.tests {
                let to = if routing.canary_exists {
                    tg_label(&d.canary_tg)
                } else {
                    tg_label(&d.primary_tg)
                };
                let n = d.test_routers.len();
                steps.push(format!(
                    "route test traffic 100% to {to} on {n} test {}",
                    if n == 1 { "listener" } else { "listeners" }
                ));
            }
        }
        for t in &self.retire {
            steps.push(match t.reason {
                RetireReason::Canary => format!("delete canary task set {} ({})", t.label, t.id),
                RetireReason::OldStable => {
                    format!("delete old stable task set {} ({})", t.label, t.id)
                }
                RetireReason::Orphan => format!("delete orphaned task set {}", t.id),
            });
        }
        steps
    }

    /// Task sets the apply creates, for the five-task-set limit.
    pub(crate) fn creates(&self) -> usize {
        usize::from(self.create_stable.is_some()) + usize::from(self.create_canary.is_some())
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.steps.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::value::Value;

    const TD: &str = "arn:aws:ecs:us-east-1:1:task-definition/web:";
    const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/1";
    const GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/green/2";
    const RULE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/lb/1/2/3";
    const TEST: &str = "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/lb/1/9";

    /// A configuration: stable version, optional (canary version, traffic %).
    pub(crate) fn config(stable: u32, canary: Option<(u32, i64)>) -> Value {
        Value::object([
            ("cluster", Value::from("prod")),
            ("service", Value::from("web")),
            ("wait_for_steady_state", Value::from(true)),
            ("keep_primary_on_destroy", Value::from(false)),
            (
                "task_set",
                Value::List(vec![Value::object([
                    ("container_name", Value::from("web")),
                    ("container_port", Value::from(8080i64)),
                ])]),
            ),
            (
                "stable",
                Value::List(vec![Value::object([
                    ("task_definition", Value::from(format!("{TD}{stable}"))),
                    ("scale_percent", Value::from(100i64)),
                ])]),
            ),
            (
                "canary",
                Value::List(
                    canary
                        .map(|(td, p)| {
                            Value::object([
                                ("task_definition", Value::from(format!("{TD}{td}"))),
                                ("traffic_percent", Value::from(p)),
                                ("scale_percent", Value::from(100i64)),
                            ])
                        })
                        .into_iter()
                        .collect(),
                ),
            ),
            (
                "traffic",
                Value::List(vec![Value::object([
                    ("primary_target_group_arn", Value::from(BLUE)),
                    ("canary_target_group_arn", Value::from(GREEN)),
                    ("listener_rule_arns", Value::string_list([RULE])),
                ])]),
            ),
        ])
    }

    /// What a refresh observes after an apply of `cfg` (stable ecs-svc/1, canary as given).
    fn applied(cfg: &Value, canary: Option<&str>) -> Observed {
        let d = Desired::from(cfg);
        Observed {
            weights: Some(d.weights()),
            stable: Some(TaskSetRef {
                id: "ecs-svc/1".into(),
                arn: "arn:1".into(),
            }),
            canary: canary.map(|id| TaskSetRef {
                id: id.into(),
                arn: "arn:2".into(),
            }),
            deployed: Some(d),
            ..Observed::default()
        }
    }

    fn steps(seen: &Observed, cfg: &Value) -> Vec<String> {
        Rollout::plan(seen, &Desired::from(cfg)).steps
    }

    fn with_tests(mut cfg: Value) -> Value {
        let mut t = cfg.block("traffic").clone();
        t.set("test_listener_arns", Value::string_list([TEST]));
        cfg.set("traffic", Value::List(vec![t]));
        cfg
    }

    #[test]
    fn bootstrap_creates_stable_then_routes() {
        assert_eq!(
            steps(&Observed::default(), &config(12, None)),
            [
                "create stable task set web:12 (scale 100%) on tg blue",
                "make stable task set web:12 PRIMARY",
                "shift traffic 100/0 on 1 rule"
            ]
        );
    }

    #[test]
    fn idle_plan_has_no_steps() {
        let cfg = config(12, Some((13, 10)));
        let r = Rollout::plan(&applied(&cfg, Some("ecs-svc/2")), &Desired::from(&cfg));
        assert!(r.is_idle(), "{r:?}");
        assert_eq!(r, Rollout::default());
    }

    #[test]
    fn canary_in_creates_before_shifting() {
        let seen = applied(&config(12, None), None);
        assert_eq!(
            steps(&seen, &config(12, Some((13, 10)))),
            [
                "create canary task set web:13 (scale 100%) on tg green",
                "shift traffic 90/10 on 1 rule"
            ]
        );
    }

    #[test]
    fn traffic_change_only_shifts() {
        let seen = applied(&config(12, Some((13, 10))), Some("ecs-svc/2"));
        let r = Rollout::plan(&seen, &Desired::from(&config(12, Some((13, 50)))));
        assert_eq!(r.steps, ["shift traffic 50/50 on 1 rule"]);
        assert_eq!(
            r.routing,
            Some(Routing {
                production: true,
                tests: false,
                canary_exists: true
            })
        );
        assert_eq!(r.creates(), 0);
        assert!(r.retire.is_empty());
    }

    #[test]
    fn promote_rolls_a_new_stable_and_cleans_up() {
        let seen = applied(&config(12, Some((13, 50))), Some("ecs-svc/2"));
        let r = Rollout::plan(&seen, &Desired::from(&config(13, None)));
        assert_eq!(
            r.steps,
            [
                "create stable task set web:13 (scale 100%) on tg blue",
                "make stable task set web:13 PRIMARY",
                "shift traffic 100/0 on 1 rule",
                "delete canary task set web:13 (ecs-svc/2)",
                "delete old stable task set web:12 (ecs-svc/1)"
            ]
        );
        assert_eq!(r.make_primary, Some(PrimaryTarget::NewStable));
        let gone: Vec<&str> = r.retire.iter().map(|t| t.reference.as_str()).collect();
        assert_eq!(gone, ["arn:2", "arn:1"]);
    }

    #[test]
    fn rollback_shifts_before_deleting() {
        let seen = applied(&config(12, Some((13, 50))), Some("ecs-svc/2"));
        assert_eq!(
            steps(&seen, &config(12, None)),
            [
                "shift traffic 100/0 on 1 rule",
                "delete canary task set web:13 (ecs-svc/2)"
            ]
        );
    }

    #[test]
    fn new_canary_version_replaces_the_old() {
        let seen = applied(&config(12, Some((13, 10))), Some("ecs-svc/2"));
        let r = Rollout::plan(&seen, &Desired::from(&config(12, Some((14, 10)))));
        assert!(r.create_canary.is_some());
        assert_eq!(r.retire.len(), 1);
        assert_eq!(r.retire[0].id, "ecs-svc/2");
        assert_eq!(r.retire[0].reason, RetireReason::Canary);
        assert!(r.routing.is_none());
    }

    #[test]
    fn drift_and_orphans_become_steps() {
        let cfg = config(12, None);
        let mut seen = applied(&cfg, None);
        seen.drift = vec![Drift::PrimaryMoved {
            stable: "ecs-svc/1".into(),
            primary: Some("ecs-svc/9".into()),
        }];
        seen.orphans = vec!["ecs-svc/7".into()];
        seen.weights = Some((70, 30));
        assert_eq!(
            steps(&seen, &cfg),
            [
                "make stable task set web:12 PRIMARY again",
                "shift traffic 100/0 on 1 rule",
                "delete orphaned task set ecs-svc/7"
            ]
        );
    }

    /// Observed states that differ only in what AWS shows, each with the writes it must plan.
    #[test]
    fn observed_states_drive_the_writes() {
        let cfg = with_tests(config(12, Some((13, 10))));
        let d = Desired::from(&cfg);
        let base = applied(&cfg, Some("ecs-svc/2"));
        struct Case {
            name: &'static str,
            seen: Observed,
            production: bool,
            tests: bool,
            primary: bool,
            creates: usize,
        }
        let with = |f: &dyn Fn(&mut Observed)| {
            let mut s = base.clone();
            f(&mut s);
            s
        };
        let cases = [
            Case {
                name: "in sync",
                seen: base.clone(),
                production: false,
                tests: false,
                primary: false,
                creates: 0,
            },
            Case {
                name: "weights edited by hand",
                seen: with(&|s| s.weights = Some((100, 0))),
                production: true,
                tests: false,
                primary: false,
                creates: 0,
            },
            Case {
                name: "a shift cut short",
                seen: with(&|s| {
                    s.drift = vec![Drift::SplitDisagrees {
                        routers: vec![("a".into(), 50, 50), ("b".into(), 90, 10)],
                    }]
                }),
                production: true,
                tests: true,
                primary: false,
                creates: 0,
            },
            Case {
                name: "test listener off",
                seen: with(&|s| {
                    s.drift = vec![Drift::TestRouteOff {
                        router: TEST.into(),
                    }]
                }),
                production: true,
                tests: true,
                primary: false,
                creates: 0,
            },
            Case {
                name: "PRIMARY moved",
                seen: with(&|s| {
                    s.drift = vec![Drift::PrimaryMoved {
                        stable: "ecs-svc/1".into(),
                        primary: None,
                    }]
                }),
                production: false,
                tests: false,
                primary: true,
                creates: 0,
            },
            Case {
                name: "canary deleted out of band",
                seen: with(&|s| s.canary = None),
                production: false,
                tests: true,
                primary: false,
                creates: 1,
            },
            Case {
                name: "stable deleted out of band",
                seen: with(&|s| s.stable = None),
                production: false,
                tests: false,
                primary: true,
                creates: 1,
            },
        ];
        for c in cases {
            let r = Rollout::plan(&c.seen, &d);
            let routing = r.routing.clone().unwrap_or(Routing {
                production: false,
                tests: false,
                canary_exists: true,
            });
            assert_eq!(
                (
                    routing.production,
                    routing.tests,
                    r.make_primary.is_some(),
                    r.creates()
                ),
                (c.production, c.tests, c.primary, c.creates),
                "{}: {r:?}",
                c.name
            );
        }
    }

    #[test]
    fn template_from_ecs_defaults_rolls_nothing_but_a_real_change_does() {
        let cfg = config(12, Some((13, 10)));
        let mut prior_cfg = cfg.clone();
        // What import reads back from ECS for a task set created without a platform version.
        let mut ts = prior_cfg.block("task_set").clone();
        ts.set("platform_version", Value::from("LATEST"));
        ts.set(
            "capacity_provider_strategy",
            Value::List(vec![Value::object([
                ("capacity_provider", Value::from("FARGATE")),
                ("weight", Value::from(0i64)),
                ("base", Value::from(0i64)),
            ])]),
        );
        prior_cfg.set("task_set", Value::List(vec![ts]));
        let seen = applied(&prior_cfg, Some("ecs-svc/2"));
        let mut same = cfg.clone();
        let mut ts = same.block("task_set").clone();
        ts.set(
            "capacity_provider_strategy",
            Value::List(vec![Value::object([(
                "capacity_provider",
                Value::from("FARGATE"),
            )])]),
        );
        same.set("task_set", Value::List(vec![ts.clone()]));
        assert!(steps(&seen, &same).is_empty());

        // ECS may report subnets in another order than the configuration gives them.
        let mut reordered = same.clone();
        let mut rts = reordered.block("task_set").clone();
        rts.set(
            "network_configuration",
            Value::List(vec![Value::object([(
                "subnets",
                Value::string_list(["subnet-b", "subnet-a"]),
            )])]),
        );
        reordered.set("task_set", Value::List(vec![rts.clone()]));
        let mut forward = prior_cfg.clone();
        let mut fts = forward.block("task_set").clone();
        fts.set(
            "network_configuration",
            Value::List(vec![Value::object([(
                "subnets",
                Value::string_list(["subnet-a", "subnet-b"]),
            )])]),
        );
        forward.set("task_set", Value::List(vec![fts]));
        assert!(steps(&applied(&forward, Some("ecs-svc/2")), &reordered).is_empty());

        ts.set("tags", Value::object([("team", Value::from("x"))]));
        let mut tagged = same.clone();
        tagged.set("task_set", Value::List(vec![ts]));
        let r = Rollout::plan(&seen, &Desired::from(&tagged));
        assert!(
            r.create_stable.is_some() && r.create_canary.is_some(),
            "{r:?}"
        );
    }

    #[test]
    fn an_import_is_adopted_by_tagging_first() {
        let cfg = config(12, Some((13, 25)));
        let mut seen = applied(&cfg, Some("ecs-svc/2"));
        seen.drift = vec![
            Drift::NotOwned {
                task_set: "ecs-svc/1".into(),
                role: Role::Stable,
            },
            Drift::NotOwned {
                task_set: "ecs-svc/2".into(),
                role: Role::Canary,
            },
        ];
        let r = Rollout::plan(&seen, &Desired::from(&cfg));
        assert_eq!(
            r.steps,
            [
                "tag stable ecs-svc/1 as owned by deployment prod/web",
                "tag canary ecs-svc/2 as owned by deployment prod/web"
            ]
        );
        assert_eq!(r.adopt[1].0.arn, "arn:2");
        assert_eq!(r.creates(), 0);
        assert!(r.routing.is_none() && r.make_primary.is_none());
    }

    #[test]
    fn an_unassociated_canary_target_group_is_added_at_weight_0_first() {
        let seen = Observed {
            canary_tg_associated: Some(false),
            ..applied(&config(12, None), None)
        };
        let r = Rollout::plan(&seen, &Desired::from(&config(12, Some((13, 10)))));
        assert!(r.associate_canary_tg);
        assert_eq!(
            r.steps,
            [
                "add tg green at weight 0 on 1 rule (a task set needs a target group the load balancer forwards to)",
                "create canary task set web:13 (scale 100%) on tg green",
                "shift traffic 90/10 on 1 rule"
            ]
        );
        let associated = Observed {
            canary_tg_associated: Some(true),
            ..seen
        };
        assert!(
            !Rollout::plan(&associated, &Desired::from(&config(12, Some((13, 10)))))
                .associate_canary_tg
        );
    }

    #[test]
    fn an_imported_state_without_template_adopts_the_configured_one() {
        let cfg = config(12, None);
        let mut imported = cfg.clone();
        imported.set("task_set", Value::List(vec![]));
        let seen = applied(&imported, None);
        assert!(steps(&seen, &cfg).is_empty());
    }
}
