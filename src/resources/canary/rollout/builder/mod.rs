//! Building a rollout. The builder tracks what the routers hold after each step, so that a
//! route step is planned only where it changes something; its moves (route, create, walk a
//! step, make PRIMARY, retire) are here, the five phases that use them in `phases`.

mod phases;

use super::step::{
    BakeKind, NewTaskSet, PrimaryReason, RetireReason, Rollout, RoutePurpose, ScheduledStep, Split,
    Step, Subject,
};
use crate::resources::canary::drift::Drift;
use crate::resources::canary::model::{td_label, Desired, Observed, TaskSetRef, TrafficStep};
use std::collections::BTreeMap;
use std::time::Duration;

pub(super) struct Builder<'a> {
    seen: &'a Observed,
    d: &'a Desired,
    /// The configuration the state was applied with; None before the first apply.
    deployed: Option<&'a Desired>,
    steps: Vec<Step>,
    /// Managed routers' weights as they stand; None when unknown (must be written).
    production: Option<Split>,
    /// Test routers' target group as it stands; None when unknown.
    tests: Option<String>,
    /// Target groups some router forwards to (at any weight); None when not read.
    forwarded: Option<Vec<String>>,
    /// The template differs from the deployed one in more than its tags.
    template_changed: bool,
    /// The recorded canary while it still runs: its task set, deployed version and scale.
    canary: Option<(TaskSetRef, String, f64)>,
    /// The target group the recorded canary sits on: the deployed configuration's other one.
    canary_tg0: Option<String>,
    /// The `analysis` alarms every bake watches.
    alarms: Vec<String>,
    schedule: Vec<ScheduledStep>,
    stable_after: Option<Subject>,
    canary_after: Option<Subject>,
}

/// Sorted, so splits compare regardless of order.
fn normal(mut s: Split) -> Split {
    s.sort();
    s
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

impl<'a> Builder<'a> {
    /// What the state tells of the routers and the recorded task sets, before any step.
    pub(super) fn new(seen: &'a Observed, d: &'a Desired) -> Builder<'a> {
        let p = seen.deployed.as_ref();
        // Templates are compared as ECS sees them: a template read back from ECS (import)
        // equals a configuration that leaves the values ECS filled in unset. A state without
        // a template (imported by an older release) adopts the configured one. Tags alone
        // are changed in place on the task sets that stay (`retag`).
        let template_changed = p.is_some_and(|p| {
            p.has_template
                && !p
                    .template
                    .without_tags()
                    .creates_same_as(&d.template.without_tags())
        });
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
        let production = match (recorded_live, seen.weights) {
            (Some(live), Some((lw, iw))) if !routing_drift && same_routers => Some(normal(vec![
                (live.clone(), lw as i32),
                (d.other_tg(live).to_string(), iw as i32),
            ])),
            _ => None,
        };
        let tests = match recorded_live {
            Some(live) if !routing_drift && same_tests => Some(match (&seen.canary, &canary_tg0) {
                (Some(_), Some(c)) => c.clone(),
                _ => live.clone(),
            }),
            _ => None,
        };
        // A canary the last release settled (rolled back, aborted) whose task set still runs
        // (an abort cut short) is still the recorded canary: it leaves like any other.
        let deployed_canary = p.and_then(|p| p.canary.as_ref().or(p.held.as_ref()));
        let canary = match (&seen.canary, deployed_canary) {
            (Some(t), Some(c)) => Some((t.clone(), c.task_definition.clone(), c.scale)),
            _ => None,
        };
        Builder {
            seen,
            d,
            deployed: p,
            steps: Vec::new(),
            production,
            tests,
            forwarded: seen.forwarded.clone(),
            template_changed,
            canary,
            canary_tg0,
            alarms: d
                .analysis
                .as_ref()
                .map(|a| a.alarms.clone())
                .unwrap_or_default(),
            schedule: Vec::new(),
            stable_after: None,
            canary_after: None,
        }
    }

    /// The rollout, with `live` serving after it.
    pub(super) fn finish(self, live: String) -> Rollout {
        Rollout {
            steps: self.steps,
            lines: Vec::new(),
            stable_after: self.stable_after,
            canary_after: self.canary_after,
            live_after: Some(live),
            schedule: self.schedule,
        }
    }

    fn deployed_stable_td(&self) -> String {
        self.deployed
            .map(|p| p.stable_td.clone())
            .unwrap_or_default()
    }

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
    fn create(&mut self, new: NewTaskSet, task_definition: &str, scale: f64, tg: &str, live: &str) {
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
            new,
            task_definition: task_definition.to_string(),
            scale,
            target_group: tg.to_string(),
        });
    }

    /// One alarm check with no pause, at `traffic`: before a promotion moves traffic.
    fn check_alarms_once(&mut self, step: usize, traffic: i64) {
        self.steps.push(Step::Bake {
            step,
            traffic,
            pause: Duration::ZERO,
            alarms: self.alarms.clone(),
            kind: BakeKind::Promotion,
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
        kind: BakeKind,
    ) {
        let split = vec![
            (live.to_string(), (100 - st.traffic) as i32),
            (idle.to_string(), st.traffic as i32),
        ];
        self.route(Some(split), Some(tests), RoutePurpose::Split, live);
        // The built-in judge checks every step with canary traffic, a step without a pause
        // too: it bakes until the judge has a verdict.
        let judge = (st.traffic > 0)
            .then(|| super::render::judged(self.d, live))
            .flatten();
        if !st.pause.is_zero() || !self.alarms.is_empty() || judge.is_some() {
            self.steps.push(Step::Bake {
                step: n,
                traffic: st.traffic,
                pause: st.pause,
                alarms: self.alarms.clone(),
                kind,
            });
        }
        self.schedule.push(ScheduledStep {
            traffic: st.traffic,
            pause: st.pause,
            alarms: self.alarms.clone(),
            judge,
        });
    }

    /// A new stable task set on `idle` walks the configured `canary.step` weights below 100
    /// (their pauses and the `analysis` alarms; approvals hold canary releases only), or,
    /// without steps, has the alarms read once before it takes all traffic. Every stop
    /// before the end moves all traffic back to `live` and deletes the new task set.
    fn walk_replacement(&mut self, live: &str, idle: &str) {
        let d = self.d;
        let steps = d
            .canary
            .as_ref()
            .or(d.held.as_ref())
            .map_or(&[][..], |c| c.steps.as_slice());
        let mut walked = 0;
        for (i, st) in steps.iter().enumerate().filter(|(_, st)| st.traffic < 100) {
            self.walk_step(i + 1, st, (live, idle, idle), BakeKind::Replacement);
            walked += 1;
        }
        if walked == 0 && !self.alarms.is_empty() {
            self.steps.push(Step::Bake {
                step: 0,
                traffic: 0,
                pause: Duration::ZERO,
                alarms: self.alarms.clone(),
                kind: BakeKind::Replacement,
            });
        }
        if walked > 0 {
            self.schedule.push(ScheduledStep {
                traffic: 100,
                pause: Duration::ZERO,
                alarms: Vec::new(),
                judge: None,
            });
        }
    }

    fn primary(
        &mut self,
        subject: Subject,
        noun: &'static str,
        td: &str,
        live: &str,
        why: PrimaryReason,
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
