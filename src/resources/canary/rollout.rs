//! The rollout planner: a pure function of what was observed and what is configured. It
//! decides every AWS write an apply makes, as an ordered list of [`Step`]s, and renders the
//! lines `terraform plan` shows.
//!
//! The one rule every step order keeps: no task set takes a share of traffic (production or
//! test) before it is steady. A new task set always comes up on a target group that gets no
//! traffic, and it gets traffic only once it is steady. Which target group is live (serves
//! the stable task set) is state: with `promotion = "swap"` the two target groups trade roles
//! at each promotion; with `"replace"` the stable task set returns to the primary one.

use super::drift::Drift;
use super::model::{td_label, Desired, Observed, Promotion, TaskSetRef, TrafficStep};
use crate::resources::ownership::Role;
use std::collections::BTreeMap;

/// A task set a step acts on: one the state records, or one this apply creates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Subject {
    Known(TaskSetRef),
    New(Fresh),
}

/// The task sets an apply may create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Fresh {
    /// The next stable task set.
    Stable,
    /// The next canary task set.
    Canary,
    /// With `promotion = "replace"`: the new version on the idle target group, serving alone
    /// while the stable task set on the primary target group is replaced.
    Bridge,
}

impl Fresh {
    /// The `ecsx:role` tag of the task set: a bridge is tagged like a canary.
    pub(crate) fn role(self) -> Role {
        match self {
            Fresh::Stable => Role::Stable,
            Fresh::Canary | Fresh::Bridge => Role::Canary,
        }
    }

    pub(crate) fn noun(self) -> &'static str {
        match self {
            Fresh::Stable => "stable",
            Fresh::Canary => "canary",
            Fresh::Bridge => "bridge",
        }
    }
}

/// Weights for every router of one kind (managed or test): target group and weight.
pub(crate) type Split = Vec<(String, i32)>;

/// Why a task set goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetireReason {
    /// The canary was rolled back or replaced by a new canary version.
    Canary,
    /// A new stable task set took over.
    OldStable,
    /// The bridge of a `replace` promotion, once the new stable task set serves.
    Bridge,
    /// Owned by the deployment, missing from its state.
    Orphan,
}

/// What a [`Step::Route`] is for; only the rendered line differs.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RoutePurpose {
    /// Weights between the stable and the canary.
    Split,
    /// All production traffic to one target group, away from the live one.
    MoveAll,
    /// List a target group at weight 0, because CreateTaskSet refuses a target group that no
    /// listener or rule forwards to.
    Associate,
}

/// Why a [`Step::MakePrimary`] runs; only the rendered line differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrimaryWhy {
    /// The first stable task set of the deployment, or one on the same target group.
    First,
    /// The live target group changes to the one of this task set.
    Switch,
    /// Repair: PRIMARY moved away from the recorded stable task set.
    Again,
}

/// One AWS change of an apply, executed in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// Tag a recorded (imported) task set as the deployment's.
    Adopt { task_set: TaskSetRef, role: Role },
    /// TagResource / UntagResource on a task set that stays: the template's `tags` changed
    /// and nothing else, which AWS changes in place (no new task set, no traffic move).
    Retag {
        task_set: TaskSetRef,
        role: Role,
        label: String,
        set: BTreeMap<String, String>,
        remove: Vec<String>,
    },
    /// CreateTaskSet, then wait until the task set is steady.
    Create {
        fresh: Fresh,
        task_definition: String,
        scale: f64,
        target_group: String,
    },
    /// UpdateTaskSet, then wait until steady.
    Scale {
        subject: Subject,
        role: Role,
        label: String,
        scale: f64,
    },
    /// Weights on the managed routers (`production`) and/or the test routers (`tests`).
    Route {
        production: Option<Split>,
        tests: Option<Split>,
        purpose: RoutePurpose,
        /// The live target group while this step runs, for the rendered line.
        live: String,
    },
    /// UpdateServicePrimaryTaskSet. `live` is the target group that serves from then on.
    MakePrimary {
        subject: Subject,
        noun: &'static str,
        label: String,
        live: String,
        why: PrimaryWhy,
    },
    /// Hold the canary at step `step` (1-based) of a scheduled release for `pause`, reading
    /// `alarms` every check interval (and once even without a pause); any in ALARM rolls the
    /// release back.
    Bake {
        step: usize,
        traffic: i64,
        pause: std::time::Duration,
        alarms: Vec<String>,
        kind: BakeKind,
    },
    /// DeleteTaskSet of a task set no traffic reaches any more.
    Retire {
        subject: Subject,
        reason: RetireReason,
        label: String,
    },
}

/// What a [`Step::Bake`] is for; only the rendered line differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BakeKind {
    /// A step's pause.
    Step,
    /// The rest of a step's pause that an earlier apply did not finish.
    Resumed,
    /// The last alarm check, right before a promotion (`canary.promote`).
    Promotion,
    /// A step of a new stable task set's walk (a template or stable version change); step 0
    /// is the one alarm check before it takes all traffic when there are no steps.
    Replacement,
}

/// Everything one apply does, and what the state holds after it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Rollout {
    pub steps: Vec<Step>,
    /// The steps as `rollout_steps` shows them.
    pub lines: Vec<String>,
    /// The stable task set after the apply: the recorded one, the promoted canary, or new.
    pub stable_after: Option<Subject>,
    /// The canary after the apply, if one runs.
    pub canary_after: Option<Subject>,
    /// The target group the stable task set sits on after the apply.
    pub live_after: Option<String>,
    /// The traffic steps the apply walks (the `schedule` attribute).
    pub schedule: Vec<ScheduledStep>,
}

/// One entry of the `schedule` attribute.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScheduledStep {
    pub traffic: i64,
    pub pause: std::time::Duration,
    pub alarms: Vec<String>,
}

/// Builds the steps, tracking what the routers hold after each one, so that a route step is
/// planned only where it changes something.
struct Builder<'a> {
    d: &'a Desired,
    steps: Vec<Step>,
    /// Managed routers' weights as they stand; None when unknown (must be written).
    production: Option<Split>,
    /// Test routers' target group as it stands; None when unknown.
    tests: Option<String>,
    /// Target groups some router forwards to (at any weight); None when not read.
    forwarded: Option<Vec<String>>,
}

/// Sorted, so splits compare regardless of order.
fn normal(mut s: Split) -> Split {
    s.sort();
    s
}

impl Builder<'_> {
    fn all_to(&self, tg: &str) -> Split {
        normal(self.d.all_to(tg))
    }

    fn route(
        &mut self,
        production: Option<Split>,
        tests: Option<&str>,
        purpose: RoutePurpose,
        live: &str,
    ) {
        let production = production
            .map(normal)
            .filter(|s| !self.d.routers.is_empty() && self.production.as_ref() != Some(s));
        let tests = tests
            .filter(|t| !self.d.test_routers.is_empty() && self.tests.as_deref() != Some(*t))
            .map(|t| self.all_to(t));
        if production.is_none() && tests.is_none() {
            return;
        }
        if let Some(p) = &production {
            self.production = Some(p.clone());
            // Every target group of a written split is listed, at weight 0 or more.
            self.forwarded = Some(p.iter().map(|(tg, _)| tg.clone()).collect());
        }
        if let Some(t) = &tests {
            self.tests = t.iter().find(|(_, w)| *w == 100).map(|(tg, _)| tg.clone());
        }
        self.steps.push(Step::Route {
            production,
            tests,
            purpose,
            live: live.to_string(),
        });
    }

    /// All production and test traffic to `tg`.
    fn move_all(&mut self, tg: &str, live: &str) {
        let purpose = if tg == live {
            RoutePurpose::Split
        } else {
            RoutePurpose::MoveAll
        };
        self.route(Some(self.all_to(tg)), Some(tg), purpose, live);
    }

    /// CreateTaskSet on `tg`. A new task set comes up where no traffic goes: a target group
    /// other than the live one that may still take some (a crash between two shifts, a hand
    /// edit) is cleared first, and one no router lists yet is added at weight 0, because
    /// CreateTaskSet refuses a target group no listener or rule forwards to.
    fn create(&mut self, fresh: Fresh, task_definition: &str, scale: f64, tg: &str, live: &str) {
        let busy = self
            .production
            .as_ref()
            .is_none_or(|p| p.iter().any(|(t, w)| t == tg && *w > 0))
            || self.tests.as_deref().is_none_or(|t| t == tg);
        let listed = self
            .forwarded
            .as_ref()
            .is_none_or(|f| f.iter().any(|x| x == tg));
        if tg != live && (busy || !listed) {
            let purpose = if listed {
                RoutePurpose::Split
            } else {
                // Written even where the weights look right: the target group is not listed.
                self.production = None;
                RoutePurpose::Associate
            };
            self.route(Some(self.all_to(live)), Some(live), purpose, live);
        }
        self.steps.push(Step::Create {
            fresh,
            task_definition: task_definition.to_string(),
            scale,
            target_group: tg.to_string(),
        });
    }

    /// Step `n` of a walk: `idle` at the step's weight on the managed routers (test traffic
    /// to `tests`), then the step's bake where it has a pause or alarms to watch; the step goes
    /// into `schedule`. A canary release and a new stable task set walk the same way.
    fn walk_step(
        &mut self,
        n: usize,
        st: &TrafficStep,
        (live, idle, tests): (&str, &str, &str),
        alarms: &[String],
        kind: BakeKind,
        schedule: &mut Vec<ScheduledStep>,
    ) {
        let split = vec![
            (live.to_string(), (100 - st.traffic) as i32),
            (idle.to_string(), st.traffic as i32),
        ];
        self.route(Some(split), Some(tests), RoutePurpose::Split, live);
        if !st.pause.is_zero() || !alarms.is_empty() {
            self.steps.push(Step::Bake {
                step: n,
                traffic: st.traffic,
                pause: st.pause,
                alarms: alarms.to_vec(),
                kind,
            });
        }
        schedule.push(ScheduledStep {
            traffic: st.traffic,
            pause: st.pause,
            alarms: alarms.to_vec(),
        });
    }

    /// A new stable task set on `idle` walks the configured `canary.step` weights below 100
    /// (their pauses and the `analysis` alarms; approvals hold canary releases only), or,
    /// without steps, has the alarms read once before it takes all traffic. Every stop
    /// before the end moves all traffic back to `live` and deletes the new task set.
    fn walk_replacement(
        &mut self,
        live: &str,
        idle: &str,
        alarms: &[String],
        schedule: &mut Vec<ScheduledStep>,
    ) {
        let d = self.d;
        let steps = d
            .canary
            .as_ref()
            .or(d.held.as_ref())
            .map_or(&[][..], |c| c.steps.as_slice());
        let mut walked = 0;
        for (i, st) in steps.iter().enumerate().filter(|(_, st)| st.traffic < 100) {
            let kind = BakeKind::Replacement;
            self.walk_step(i + 1, st, (live, idle, idle), alarms, kind, schedule);
            walked += 1;
        }
        if walked == 0 && !alarms.is_empty() {
            self.steps.push(Step::Bake {
                step: 0,
                traffic: 0,
                pause: std::time::Duration::ZERO,
                alarms: alarms.to_vec(),
                kind: BakeKind::Replacement,
            });
        }
        if walked > 0 {
            schedule.push(ScheduledStep {
                traffic: 100,
                pause: std::time::Duration::ZERO,
                alarms: Vec::new(),
            });
        }
    }

    fn primary(
        &mut self,
        subject: Subject,
        noun: &'static str,
        td: &str,
        live: &str,
        why: PrimaryWhy,
    ) {
        self.steps.push(Step::MakePrimary {
            subject,
            noun,
            label: td_label(td),
            live: live.to_string(),
            why,
        });
    }

    fn retire(&mut self, subject: Subject, reason: RetireReason, td: &str) {
        self.steps.push(Step::Retire {
            subject,
            reason,
            label: td_label(td),
        });
    }
}

/// The tags to set (new or changed values) and the keys to remove, from `old` to `new`.
fn tag_changes(
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let set = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect();
    (set, remove)
}

impl Rollout {
    pub(crate) fn plan(seen: &Observed, d: &Desired) -> Rollout {
        let p = seen.deployed.as_ref();
        // Templates are compared as ECS sees them: a template read back from ECS (import)
        // equals a configuration that leaves the values ECS filled in unset. A state without
        // a template (imported by an older release) adopts the configured one. Tags alone
        // are changed in place on the task sets that stay.
        let template_changed = p.is_some_and(|p| {
            p.has_template
                && !p
                    .template
                    .without_tags()
                    .creates_same_as(&d.template.without_tags())
        });
        let retag = p
            .filter(|p| p.has_template && p.template.tags != d.template.tags)
            .map(|p| tag_changes(&p.template.tags, &d.template.tags));
        // The live target group as recorded, if it is still one of the configured two.
        let live0 = seen
            .stable
            .as_ref()
            .and(seen.live_tg.as_ref())
            .filter(|tg| d.owns_target_group(tg))
            .cloned();
        // Where the recorded canary sits: the deployed configuration's other target group.
        let canary_tg0 = match (p, seen.live_tg.as_deref()) {
            (Some(p), Some(live)) => Some(p.other_tg(live).to_string()),
            _ => None,
        };
        let routing_drift = seen.drift.iter().any(Drift::is_routing);
        // What the routers hold is known from the state only where the deployed routers and
        // target groups are the configured ones.
        let same_pair = p.is_some_and(|p| {
            p.owns_target_group(&d.primary_tg) && p.owns_target_group(&d.canary_tg)
        });
        let same_routers = same_pair && p.is_some_and(|p| p.routers == d.routers);
        let same_tests = same_pair && p.is_some_and(|p| p.test_routers == d.test_routers);
        let recorded_live = seen.live_tg.as_ref().filter(|tg| d.owns_target_group(tg));
        let mut b = Builder {
            d,
            steps: Vec::new(),
            production: match (recorded_live, seen.weights) {
                (Some(live), Some((lw, iw))) if !routing_drift && same_routers => {
                    Some(normal(vec![
                        (live.clone(), lw as i32),
                        (d.other_tg(live).to_string(), iw as i32),
                    ]))
                }
                _ => None,
            },
            tests: match recorded_live {
                Some(live) if !routing_drift && same_tests => {
                    Some(match (&seen.canary, &canary_tg0) {
                        (Some(_), Some(c)) => c.clone(),
                        _ => live.clone(),
                    })
                }
                _ => None,
            },
            forwarded: seen.forwarded.clone(),
        };

        for drift in &seen.drift {
            if let Drift::NotOwned { task_set, role } = drift {
                let recorded = match role {
                    Role::Stable => &seen.stable,
                    Role::Canary => &seen.canary,
                };
                if let Some(t) = recorded.as_ref().filter(|t| t.id == *task_set) {
                    b.steps.push(Step::Adopt {
                        task_set: t.clone(),
                        role: *role,
                    });
                }
            }
        }

        // The recorded canary while it still runs, with its deployed version and scale.
        // A canary the last release settled (rolled back, aborted) whose task set still runs
        // (an abort cut short) is still the recorded canary: it leaves like any other.
        let deployed_canary = p.and_then(|p| p.canary.as_ref().or(p.held.as_ref()));
        let mut canary: Option<(TaskSetRef, String, f64)> = match (&seen.canary, deployed_canary) {
            (Some(t), Some(c)) => Some((t.clone(), c.task_definition.clone(), c.scale)),
            _ => None,
        };
        let stable_changed = p.is_none_or(|p| p.stable_td != d.stable_td) || template_changed;
        let stable_label = p.map(|p| p.stable_td.clone()).unwrap_or_default();

        let alarms = d
            .analysis
            .as_ref()
            .map(|a| a.alarms.clone())
            .unwrap_or_default();
        let mut schedule = Vec::new();

        // 1. The stable version.
        let mut stable_after = seen.stable.clone().map(Subject::Known);
        let live = match (&seen.stable, &live0) {
            (Some(old), Some(live)) if stable_changed => {
                let live = live.clone();
                let idle = d.other_tg(&live).to_string();
                let target = match d.promotion {
                    Promotion::Swap => idle.clone(),
                    Promotion::Replace => d.primary_tg.clone(),
                };
                // The canary already runs the new version on the idle target group.
                let promotable = canary
                    .as_ref()
                    .filter(|(_, td, _)| {
                        *td == d.stable_td
                            && !template_changed
                            && canary_tg0.as_ref() == Some(&idle)
                    })
                    .cloned();
                let old_stable = Subject::Known(old.clone());
                if let Some((c, _, scale)) = &promotable {
                    if *scale != d.stable_scale {
                        b.steps.push(Step::Scale {
                            subject: Subject::Known(c.clone()),
                            role: Role::Canary,
                            label: td_label(&d.stable_td),
                            scale: d.stable_scale,
                        });
                    }
                } else if let Some((c, td, _)) = canary.take() {
                    // The old canary stops taking traffic and goes: the idle target group
                    // must be empty for the new version.
                    b.move_all(&live, &live);
                    b.retire(Subject::Known(c), RetireReason::Canary, &td);
                }
                // The new version on the idle target group, serving everything, PRIMARY.
                let (serving, noun) = match &promotable {
                    Some((c, _, _)) => (Subject::Known(c.clone()), "canary"),
                    None => {
                        let fresh = if target == idle {
                            Fresh::Stable
                        } else {
                            Fresh::Bridge
                        };
                        b.create(fresh, &d.stable_td, d.stable_scale, &idle, &live);
                        (Subject::New(fresh), fresh.noun())
                    }
                };
                if promotable.is_none() {
                    // Test traffic reaches the new version before production traffic does.
                    b.route(None, Some(&idle), RoutePurpose::Split, &live);
                    // Replacing the stable is a release too: the new task set walks the
                    // configured steps, baking with the alarms watched, before it takes all.
                    b.walk_replacement(&live, &idle, &alarms, &mut schedule);
                }
                if let (Some(_), false) = (&promotable, alarms.is_empty()) {
                    // A promotion by commit (the canary's version named as stable) reads the
                    // alarms once before it moves traffic, as `promote = true` does.
                    let current = match &b.production {
                        Some(p) => p
                            .iter()
                            .find(|(tg, _)| *tg == idle)
                            .map_or(0, |(_, w)| i64::from(*w)),
                        None => seen.weights.map_or(0, |(_, iw)| iw),
                    };
                    b.steps.push(Step::Bake {
                        step: 0,
                        traffic: current,
                        pause: std::time::Duration::ZERO,
                        alarms: alarms.clone(),
                        kind: BakeKind::Promotion,
                    });
                }
                b.move_all(&idle, &live);
                b.primary(
                    serving.clone(),
                    noun,
                    &d.stable_td,
                    &idle,
                    PrimaryWhy::Switch,
                );
                b.retire(old_stable, RetireReason::OldStable, &stable_label);
                canary = None;
                if target == idle {
                    stable_after = Some(serving);
                    idle
                } else {
                    // replace: the stable task set comes back on the primary target group,
                    // which no traffic reaches now, and the bridge goes.
                    b.create(Fresh::Stable, &d.stable_td, d.stable_scale, &target, &idle);
                    b.move_all(&target, &idle);
                    b.primary(
                        Subject::New(Fresh::Stable),
                        "stable",
                        &d.stable_td,
                        &target,
                        PrimaryWhy::Switch,
                    );
                    let reason = match serving {
                        Subject::Known(_) => RetireReason::Canary,
                        Subject::New(_) => RetireReason::Bridge,
                    };
                    b.retire(serving, reason, &d.stable_td);
                    stable_after = Some(Subject::New(Fresh::Stable));
                    target
                }
            }
            (Some(old), Some(live)) => {
                if p.is_some_and(|p| p.stable_scale != d.stable_scale) {
                    b.steps.push(Step::Scale {
                        subject: Subject::Known(old.clone()),
                        role: Role::Stable,
                        label: td_label(&d.stable_td),
                        scale: d.stable_scale,
                    });
                }
                if seen
                    .drift
                    .iter()
                    .any(|x| matches!(x, Drift::PrimaryMoved { .. }))
                {
                    b.primary(
                        Subject::Known(old.clone()),
                        "stable",
                        &d.stable_td,
                        live,
                        PrimaryWhy::Again,
                    );
                }
                live.clone()
            }
            (old, _) => {
                // No stable task set yet, or its target group is no longer configured: a new
                // one on the primary target group, then everything routes to it.
                let live = d.primary_tg.clone();
                b.create(Fresh::Stable, &d.stable_td, d.stable_scale, &live, &live);
                b.primary(
                    Subject::New(Fresh::Stable),
                    "stable",
                    &d.stable_td,
                    &live,
                    PrimaryWhy::First,
                );
                if let Some(old) = old {
                    b.production = None;
                    b.tests = None;
                    b.move_all(&live, &live);
                    b.retire(
                        Subject::Known(old.clone()),
                        RetireReason::OldStable,
                        &stable_label,
                    );
                }
                stable_after = Some(Subject::New(Fresh::Stable));
                live
            }
        };
        let idle = d.other_tg(&live).to_string();

        // 2. The canary, on the idle target group.
        let mut canary_after = None;
        if let Some(c) = &d.canary {
            let keep = canary.as_ref().filter(|(_, td, _)| {
                *td == c.task_definition
                    && !template_changed
                    && canary_tg0.as_deref() == Some(idle.as_str())
            });
            if let Some((t, _, scale)) = keep {
                if *scale != c.scale {
                    b.steps.push(Step::Scale {
                        subject: Subject::Known(t.clone()),
                        role: Role::Canary,
                        label: td_label(&c.task_definition),
                        scale: c.scale,
                    });
                }
                canary_after = Some(Subject::Known(t.clone()));
            } else {
                if let Some((t, td, _)) = canary.take() {
                    // A new canary version: the old one stops taking traffic and goes first.
                    b.move_all(&live, &live);
                    b.retire(Subject::Known(t), RetireReason::Canary, &td);
                }
                b.create(Fresh::Canary, &c.task_definition, c.scale, &idle, &live);
                canary_after = Some(Subject::New(Fresh::Canary));
            }
        }

        // 3. Traffic, now that every task set that will take some is steady: each step of a
        // schedule above the canary's current weight, then where the release ends.
        let split = |w: i64| vec![(live.clone(), (100 - w) as i32), (idle.clone(), w as i32)];
        let test_to = if d.canary.is_some() { &idle } else { &live };
        if let Some(c) = &d.canary {
            let current = match (&b.production, &canary_after) {
                (_, Some(Subject::New(_))) => 0,
                (Some(p), _) => p
                    .iter()
                    .find(|(tg, _)| *tg == idle)
                    .map_or(0, |(_, w)| i64::from(*w)),
                (None, _) => seen.weights.map_or(0, |(_, iw)| iw),
            };
            // The rest of a bake an earlier apply was stopped in, while traffic is still there.
            if let Some((n, left)) = c.resume.filter(|(n, _)| {
                c.steps
                    .get(n.wrapping_sub(1))
                    .is_some_and(|st| st.traffic == current)
            }) {
                b.steps.push(Step::Bake {
                    step: n,
                    traffic: current,
                    pause: left,
                    alarms: alarms.clone(),
                    kind: BakeKind::Resumed,
                });
                schedule.push(ScheduledStep {
                    traffic: current,
                    pause: left,
                    alarms: alarms.clone(),
                });
            }
            for (i, st) in c
                .steps
                .iter()
                .enumerate()
                .filter(|(_, st)| st.traffic > current)
            {
                let kind = BakeKind::Step;
                b.walk_step(
                    i + 1,
                    st,
                    (&live, &idle, test_to),
                    &alarms,
                    kind,
                    &mut schedule,
                );
            }
        }
        let before = b.steps.len();
        let iw = d.canary.as_ref().map_or(0, |c| c.traffic);
        b.route(Some(split(iw)), Some(test_to), RoutePurpose::Split, &live);
        let moved = b.steps[before..].iter().any(|s| {
            matches!(
                s,
                Step::Route {
                    production: Some(_),
                    ..
                }
            )
        });
        if moved && d.canary.is_some() {
            schedule.push(ScheduledStep {
                traffic: iw,
                pause: std::time::Duration::ZERO,
                alarms: Vec::new(),
            });
        }

        // 4. With `promote`, once the last step has baked: the canary takes over as the stable
        // task set, the way `promotion` says, and the alarms are read once more first.
        let mut live = live;
        let promoting = d.canary.as_ref().filter(|c| c.promote);
        if let (Some(c), Some(serving)) = (promoting, promoting.and_then(|_| canary_after.take())) {
            if c.scale != d.stable_scale {
                b.steps.push(Step::Scale {
                    subject: serving.clone(),
                    role: Role::Canary,
                    label: td_label(&c.task_definition),
                    scale: d.stable_scale,
                });
            }
            if !alarms.is_empty() {
                b.steps.push(Step::Bake {
                    step: c.steps.len().max(1),
                    traffic: iw,
                    pause: std::time::Duration::ZERO,
                    alarms: alarms.clone(),
                    kind: BakeKind::Promotion,
                });
            }
            b.move_all(&idle, &live);
            schedule.push(ScheduledStep {
                traffic: 100,
                pause: std::time::Duration::ZERO,
                alarms: Vec::new(),
            });
            b.primary(
                serving.clone(),
                "canary",
                &c.task_definition,
                &idle,
                PrimaryWhy::Switch,
            );
            if let Some(old) = stable_after.take() {
                b.retire(old, RetireReason::OldStable, &d.stable_td);
            }
            if d.promotion == Promotion::Replace && idle != d.primary_tg {
                // replace: the stable task set comes back on the primary target group, which
                // no traffic reaches now, and the promoted canary goes.
                let home = d.primary_tg.clone();
                b.create(
                    Fresh::Stable,
                    &c.task_definition,
                    d.stable_scale,
                    &home,
                    &idle,
                );
                b.move_all(&home, &idle);
                b.primary(
                    Subject::New(Fresh::Stable),
                    "stable",
                    &c.task_definition,
                    &home,
                    PrimaryWhy::Switch,
                );
                b.retire(serving, RetireReason::Canary, &c.task_definition);
                stable_after = Some(Subject::New(Fresh::Stable));
                live = home;
            } else {
                stable_after = Some(serving);
                live = idle.clone();
            }
        }

        // 5. Clean-up: the task sets nothing routes to any more.
        if d.canary.is_none() {
            if let Some((t, td, _)) = canary.take() {
                b.retire(Subject::Known(t), RetireReason::Canary, &td);
            }
        }
        for id in &seen.orphans {
            b.steps.push(Step::Retire {
                subject: Subject::Known(TaskSetRef {
                    id: id.clone(),
                    arn: id.clone(),
                }),
                reason: RetireReason::Orphan,
                label: String::new(),
            });
        }

        // Tags changed and nothing else: in place, on every recorded task set that stays.
        if let Some((set, remove)) = retag {
            let kept = [
                (
                    Role::Stable,
                    &seen.stable,
                    &stable_after,
                    p.map(|p| p.stable_td.clone()),
                ),
                (
                    Role::Canary,
                    &seen.canary,
                    &canary_after,
                    p.and_then(|p| p.canary.as_ref().map(|c| c.task_definition.clone())),
                ),
            ];
            let mut retags = Vec::new();
            for (role, before, after, td) in kept {
                if let (Some(t), Some(Subject::Known(a))) = (before, after) {
                    if t.id == a.id {
                        retags.push(Step::Retag {
                            task_set: t.clone(),
                            role,
                            label: td_label(&td.unwrap_or_default()),
                            set: set.clone(),
                            remove: remove.clone(),
                        });
                    }
                }
            }
            b.steps.splice(0..0, retags);
        }

        let mut r = Rollout {
            steps: b.steps,
            lines: Vec::new(),
            stable_after,
            canary_after,
            live_after: Some(live),
            schedule,
        };
        r.lines = r.describe(d);
        let baking = r.baking();
        if !baking.is_zero() {
            r.lines.push(format!(
                "takes at least {} (bakes), plus the waits for steady task sets",
                crate::duration::format(baking)
            ));
        }
        if let (Some((n, w)), false) = (d.canary.as_ref().and_then(|c| c.gate), r.is_idle()) {
            r.lines.push(format!(
                "step {n}: hold at {}% until approved (canary.approved_step = {n}), then {w}%",
                d.weights().1
            ));
        }
        r
    }

    /// Task sets the apply creates, for the five-task-set limit.
    pub(crate) fn creates(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| matches!(s, Step::Create { .. }))
            .count()
    }

    /// Whether this apply ends a scheduled release and so writes `last_release`: it walks
    /// traffic steps, or it brings a new canary to a gate (the first step's included).
    pub(crate) fn ends_release(&self, d: &Desired) -> bool {
        let gated = d.canary.as_ref().is_some_and(|c| c.gate.is_some());
        d.scheduled() && (!self.schedule.is_empty() || gated && !self.is_idle())
    }

    /// Whether the apply walks a schedule with bakes or alarm checks.
    pub(crate) fn bakes(&self) -> bool {
        self.steps.iter().any(|s| matches!(s, Step::Bake { .. }))
    }

    /// How long the bakes take in all.
    pub(crate) fn baking(&self) -> std::time::Duration {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Bake { pause, .. } => Some(*pause),
                _ => None,
            })
            .sum()
    }

    /// Whether any step writes weights on the managed routers.
    pub(crate) fn routes_production(&self) -> bool {
        self.steps.iter().any(|s| {
            matches!(
                s,
                Step::Route {
                    production: Some(_),
                    ..
                }
            )
        })
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.steps.is_empty()
    }
}

mod render;

#[cfg(test)]
pub(crate) mod tests;
