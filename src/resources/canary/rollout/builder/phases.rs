//! The five phases of a rollout, in the order [`Rollout::plan`] calls them: the stable
//! version, the canary, traffic, the promotion, clean-up (and tags first and last).

use super::{tag_changes, Builder};
use crate::resources::canary::drift::Drift;
use crate::resources::canary::model::{td_label, Promotion, TaskSetRef};
use crate::resources::canary::release::Outcome;
use crate::resources::canary::rollout::step::{
    BakeKind, NewTaskSet, PrimaryReason, RetireReason, RoutePurpose, ScheduledStep, Step, Subject,
};
use crate::resources::ownership::Role;
use std::time::Duration;

impl Builder<'_> {
    /// Recorded task sets without the deployment's tags (an import) are tagged first.
    pub(crate) fn tag_unowned(&mut self) {
        for drift in &self.seen.drift {
            if let Drift::NotOwned { task_set, role } = drift {
                let recorded = match role {
                    Role::Stable => &self.seen.stable,
                    Role::Canary => &self.seen.canary,
                };
                if let Some(t) = recorded.as_ref().filter(|t| t.id == *task_set) {
                    self.steps.push(Step::TagOwned {
                        task_set: t.clone(),
                        role: *role,
                    });
                }
            }
        }
    }

    /// Phase 1, the stable version: kept, replaced (walking the steps), promoted by commit, or
    /// created. Returns the target group that serves afterwards.
    pub(crate) fn stable(&mut self) -> String {
        let (seen, d) = (self.seen, self.d);
        let stable_changed =
            self.deployed.is_none_or(|p| p.stable_td != d.stable_td) || self.template_changed;
        // The live target group as recorded, if it is still one of the configured two.
        let live0 = seen
            .stable
            .as_ref()
            .and(seen.live_tg.as_ref())
            .filter(|tg| d.owns_target_group(tg))
            .cloned();
        self.stable_after = seen.stable.clone().map(Subject::Recorded);
        match (&seen.stable, live0) {
            (Some(old), Some(live)) if stable_changed => self.new_stable(old, live),
            (Some(old), Some(live)) => {
                self.keep_stable(old, &live);
                live
            }
            (old, _) => self.first_stable(old.as_ref()),
        }
    }

    /// The recorded stable task set stays: rescaled, and PRIMARY again if that moved.
    fn keep_stable(&mut self, old: &TaskSetRef, live: &str) {
        let d = self.d;
        if self
            .deployed
            .is_some_and(|p| p.stable_scale != d.stable_scale)
        {
            self.steps.push(Step::Scale {
                subject: Subject::Recorded(old.clone()),
                role: Role::Stable,
                label: td_label(&d.stable_td),
                scale: d.stable_scale,
            });
        }
        if self
            .seen
            .drift
            .iter()
            .any(|x| matches!(x, Drift::PrimaryMoved { .. }))
        {
            self.primary(
                Subject::Recorded(old.clone()),
                "stable",
                &d.stable_td,
                live,
                PrimaryReason::Repair,
            );
        }
    }

    /// No stable task set yet, or its target group is no longer configured: a new one on the
    /// primary target group, then everything routes to it.
    fn first_stable(&mut self, old: Option<&TaskSetRef>) -> String {
        let d = self.d;
        let live = d.primary_tg.clone();
        self.create(
            NewTaskSet::Stable,
            &d.stable_td,
            d.stable_scale,
            &live,
            &live,
        );
        self.primary(
            Subject::ToCreate(NewTaskSet::Stable),
            "stable",
            &d.stable_td,
            &live,
            PrimaryReason::First,
        );
        if let Some(old) = old {
            self.production = None;
            self.tests = None;
            self.move_all(&live, &live);
            self.retire(
                Subject::Recorded(old.clone()),
                RetireReason::OldStable,
                &self.deployed_stable_td(),
            );
        }
        self.stable_after = Some(Subject::ToCreate(NewTaskSet::Stable));
        live
    }

    /// A new stable version or template: the canary already running it takes over (a
    /// promotion by commit), or a new task set on the idle target group walks the steps and
    /// takes over. With `replace`, the stable task set then returns to the primary group.
    fn new_stable(&mut self, old: &TaskSetRef, live: String) -> String {
        let d = self.d;
        let idle = d.other_tg(&live).to_string();
        let target = match d.promotion {
            Promotion::Swap => idle.clone(),
            Promotion::Replace => d.primary_tg.clone(),
        };
        // The canary already runs the new version on the idle target group.
        let promotable = self
            .canary
            .as_ref()
            .filter(|(_, td, _)| {
                *td == d.stable_td
                    && !self.template_changed
                    && self.canary_tg0.as_ref() == Some(&idle)
            })
            .cloned();
        if let Some((c, _, scale)) = &promotable {
            if *scale != d.stable_scale {
                self.steps.push(Step::Scale {
                    subject: Subject::Recorded(c.clone()),
                    role: Role::Canary,
                    label: td_label(&d.stable_td),
                    scale: d.stable_scale,
                });
            }
        } else if let Some((c, td, _)) = self.canary.take() {
            // The old canary stops taking traffic and goes: the idle target group must be
            // empty for the new version.
            self.move_all(&live, &live);
            self.retire(Subject::Recorded(c), RetireReason::Canary, &td);
        }
        // The new version on the idle target group, serving everything, PRIMARY.
        let (serving, noun) = match &promotable {
            Some((c, _, _)) => (Subject::Recorded(c.clone()), "canary"),
            None => {
                let new = if target == idle {
                    NewTaskSet::Stable
                } else {
                    NewTaskSet::Bridge
                };
                self.create(new, &d.stable_td, d.stable_scale, &idle, &live);
                // Test traffic reaches the new version before production traffic does.
                self.route(None, Some(&idle), RoutePurpose::Split, &live);
                // Replacing the stable is a release too: the new task set walks the
                // configured steps, baking with the alarms watched, before it takes all.
                self.walk_replacement(&live, &idle);
                (Subject::ToCreate(new), new.noun())
            }
        };
        if promotable.is_some() && !self.alarms.is_empty() {
            // A promotion by commit (the canary's version named as stable) reads the alarms
            // once before it moves traffic, as `promote = true` does.
            let current = match &self.production {
                Some(p) => p
                    .iter()
                    .find(|(tg, _)| *tg == idle)
                    .map_or(0, |(_, w)| i64::from(*w)),
                None => self.seen.weights.map_or(0, |(_, iw)| iw),
            };
            self.check_alarms_once(0, current);
        }
        self.move_all(&idle, &live);
        self.primary(
            serving.clone(),
            noun,
            &d.stable_td,
            &idle,
            PrimaryReason::Switch,
        );
        let old_td = self.deployed_stable_td();
        self.retire(
            Subject::Recorded(old.clone()),
            RetireReason::OldStable,
            &old_td,
        );
        self.canary = None;
        if target == idle {
            self.stable_after = Some(serving);
            return idle;
        }
        let reason = match serving {
            Subject::Recorded(_) => RetireReason::Canary,
            Subject::ToCreate(_) => RetireReason::Bridge,
        };
        self.return_home(serving, reason, &d.stable_td, &idle)
    }

    /// With `replace`: the stable task set comes back on the primary target group, which no
    /// traffic reaches now, and `serving` (a bridge or the promoted canary) goes.
    fn return_home(
        &mut self,
        serving: Subject,
        reason: RetireReason,
        td: &str,
        serving_tg: &str,
    ) -> String {
        let d = self.d;
        let home = d.primary_tg.clone();
        self.create(NewTaskSet::Stable, td, d.stable_scale, &home, serving_tg);
        self.move_all(&home, serving_tg);
        self.primary(
            Subject::ToCreate(NewTaskSet::Stable),
            "stable",
            td,
            &home,
            PrimaryReason::Switch,
        );
        self.retire(serving, reason, td);
        self.stable_after = Some(Subject::ToCreate(NewTaskSet::Stable));
        home
    }

    /// Phase 2, the canary on the idle target group: kept (rescaled), or a new version in place of
    /// the recorded one.
    pub(crate) fn canary(&mut self, live: &str, idle: &str) {
        let Some(c) = &self.d.canary else {
            return;
        };
        let keep = self.canary.as_ref().filter(|(_, td, _)| {
            *td == c.task_definition
                && !self.template_changed
                && self.canary_tg0.as_deref() == Some(idle)
        });
        if let Some((t, _, scale)) = keep.cloned() {
            if scale != c.scale {
                self.steps.push(Step::Scale {
                    subject: Subject::Recorded(t.clone()),
                    role: Role::Canary,
                    label: td_label(&c.task_definition),
                    scale: c.scale,
                });
            }
            self.canary_after = Some(Subject::Recorded(t));
            return;
        }
        if let Some((t, td, _)) = self.canary.take() {
            // A new canary version: the old one stops taking traffic and goes first.
            self.move_all(live, live);
            self.retire(Subject::Recorded(t), RetireReason::Canary, &td);
        }
        self.create(NewTaskSet::Canary, &c.task_definition, c.scale, idle, live);
        self.canary_after = Some(Subject::ToCreate(NewTaskSet::Canary));
    }

    /// Phase 3, traffic, now that every task set that will take some is steady: the rest of a bake
    /// an earlier apply was stopped in, each step of the schedule above the canary's current
    /// weight, then where the release ends. Returns the canary's weight at the end.
    pub(crate) fn traffic(&mut self, live: &str, idle: &str) -> i64 {
        let d = self.d;
        let test_to = if d.canary.is_some() { idle } else { live };
        if let Some(c) = &d.canary {
            let current = match (&self.production, &self.canary_after) {
                (_, Some(Subject::ToCreate(_))) => 0,
                (Some(p), _) => p
                    .iter()
                    .find(|(tg, _)| *tg == idle)
                    .map_or(0, |(_, w)| i64::from(*w)),
                (None, _) => self.seen.weights.map_or(0, |(_, iw)| iw),
            };
            if let Some((n, left)) = c.resume.filter(|(n, _)| {
                c.steps
                    .get(n.wrapping_sub(1))
                    .is_some_and(|st| st.traffic == current)
            }) {
                self.steps.push(Step::Bake {
                    step: n,
                    traffic: current,
                    pause: left,
                    alarms: self.alarms.clone(),
                    kind: BakeKind::Resumed,
                });
                self.schedule.push(ScheduledStep {
                    traffic: current,
                    pause: left,
                    alarms: self.alarms.clone(),
                    judge: (current > 0)
                        .then(|| super::super::render::judged(d, live))
                        .flatten(),
                });
            }
            for (i, st) in c
                .steps
                .iter()
                .enumerate()
                .filter(|(_, st)| st.traffic > current)
            {
                if i == 0 && current == 0 {
                    self.judge_test_traffic(live, idle);
                }
                self.walk_step(i + 1, st, (live, idle, test_to), BakeKind::Step);
            }
        }
        let before = self.steps.len();
        let iw = d.canary.as_ref().map_or(0, |c| c.traffic);
        let split = vec![
            (live.to_string(), (100 - iw) as i32),
            (idle.to_string(), iw as i32),
        ];
        self.route(Some(split), Some(test_to), RoutePurpose::Split, live);
        let moved = self.steps[before..].iter().any(|s| {
            matches!(
                s,
                Step::Route {
                    production: Some(_),
                    ..
                }
            )
        });
        if moved && d.canary.is_some() {
            self.schedule.push(ScheduledStep {
                traffic: iw,
                pause: Duration::ZERO,
                alarms: Vec::new(),
                judge: None,
            });
        }
        iw
    }

    /// Step 0 of a judged release that opts in (`analysis.judge_test_traffic`), before its
    /// first production weight: test traffic to the canary on `idle`, judged for the opted-in
    /// time. Not again once a person approved going on past a hold there.
    fn judge_test_traffic(&mut self, live: &str, idle: &str) {
        let d = self.d;
        let Some(c) = &d.canary else { return };
        let pause = d
            .analysis
            .as_ref()
            .and_then(|a| a.judge.as_ref().ok())
            .and_then(|j| j.as_ref())
            .and_then(|j| j.test_traffic);
        let Some(pause) = pause.filter(|_| !d.test_routers.is_empty()) else {
            return;
        };
        let approved = d.last_release.as_ref().is_some_and(|r| {
            r.is_of(c) && r.result == Outcome::Inconclusive && r.step == 1 && r.approved_step >= 1
        });
        if approved {
            return;
        }
        self.route(None, Some(idle), RoutePurpose::Split, live);
        self.steps.push(Step::Bake {
            step: 0,
            traffic: 0,
            pause,
            alarms: self.alarms.clone(),
            kind: BakeKind::Test,
        });
        self.schedule.push(ScheduledStep {
            traffic: 0,
            pause,
            alarms: self.alarms.clone(),
            judge: super::super::render::judged_test(d, live),
        });
    }

    /// Phase 4, with `promote`, once the last step has baked: the canary takes over as the stable
    /// task set, the way `promotion` says, and the alarms are read once more first. Returns
    /// the target group that serves afterwards.
    pub(crate) fn promotion(&mut self, live: String, idle: &str, iw: i64) -> String {
        let d = self.d;
        let Some(c) = d.canary.as_ref().filter(|c| c.promote) else {
            return live;
        };
        let Some(serving) = self.canary_after.take() else {
            return live;
        };
        if c.scale != d.stable_scale {
            self.steps.push(Step::Scale {
                subject: serving.clone(),
                role: Role::Canary,
                label: td_label(&c.task_definition),
                scale: d.stable_scale,
            });
        }
        if !self.alarms.is_empty() {
            self.check_alarms_once(c.steps.len().max(1), iw);
        }
        self.move_all(idle, &live);
        self.schedule.push(ScheduledStep {
            traffic: 100,
            pause: Duration::ZERO,
            alarms: Vec::new(),
            judge: None,
        });
        self.primary(
            serving.clone(),
            "canary",
            &c.task_definition,
            idle,
            PrimaryReason::Switch,
        );
        if let Some(old) = self.stable_after.take() {
            self.retire(old, RetireReason::OldStable, &d.stable_td);
        }
        if d.promotion == Promotion::Replace && idle != d.primary_tg {
            return self.return_home(serving, RetireReason::Canary, &c.task_definition, idle);
        }
        self.stable_after = Some(serving);
        idle.to_string()
    }

    /// Phase 5, clean-up: the task sets nothing routes to any more.
    pub(crate) fn clean_up(&mut self) {
        if self.d.canary.is_none() {
            if let Some((t, td, _)) = self.canary.take() {
                self.retire(Subject::Recorded(t), RetireReason::Canary, &td);
            }
        }
        for id in &self.seen.orphans {
            self.steps.push(Step::Retire {
                subject: Subject::Recorded(TaskSetRef {
                    id: id.clone(),
                    arn: id.clone(),
                }),
                reason: RetireReason::Orphan,
                label: String::new(),
            });
        }
    }

    /// Tags changed and nothing else: in place, first, on every recorded task set that stays.
    pub(crate) fn retag(&mut self) {
        let (seen, d) = (self.seen, self.d);
        let Some(p) = self
            .deployed
            .filter(|p| p.has_template && p.template.tags != d.template.tags)
        else {
            return;
        };
        let (set, remove) = tag_changes(&p.template.tags, &d.template.tags);
        let kept = [
            (
                Role::Stable,
                &seen.stable,
                &self.stable_after,
                Some(p.stable_td.clone()),
            ),
            (
                Role::Canary,
                &seen.canary,
                &self.canary_after,
                p.canary.as_ref().map(|c| c.task_definition.clone()),
            ),
        ];
        let mut retags = Vec::new();
        for (role, before, after, td) in kept {
            if let (Some(t), Some(Subject::Recorded(a))) = (before, after) {
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
        self.steps.splice(0..0, retags);
    }
}
