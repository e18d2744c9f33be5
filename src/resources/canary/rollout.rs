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
pub(crate) mod tests;
