//! Unit tests of `rollout`.

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
