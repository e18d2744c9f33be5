//! The rollout planner: a pure function of what was observed and what is configured. It
//! decides every AWS write an apply makes, as an ordered list of [`Step`]s, and renders the
//! lines `terraform plan` shows.
//!
//! The one rule every step order keeps: no task set takes a share of traffic (production or
//! test) before it is steady. A new task set always comes up on a target group that gets no
//! traffic, and it gets traffic only once it is steady. Which target group is live (serves
//! the stable task set) is state: with `promotion = "swap"` the two target groups trade roles
//! at each promotion; with `"replace"` the stable task set returns to the primary one.

mod builder;
mod render;
mod step;
#[cfg(test)]
pub(crate) mod tests;

pub(crate) use step::{
    BakeKind, NewTaskSet, PrimaryReason, RetireReason, Rollout, RoutePurpose, Step, Subject,
};

use super::model::{Desired, Observed};
use builder::Builder;

impl Rollout {
    /// The rollout from what was observed to what is configured, in five phases (see
    /// [`Builder`]), and the lines `terraform plan` shows of it.
    pub(crate) fn plan(seen: &Observed, d: &Desired) -> Rollout {
        let mut b = Builder::new(seen, d);
        b.tag_unowned();
        let live = b.stable();
        let idle = d.other_tg(&live).to_string();
        b.canary(&live, &idle);
        let canary_weight = b.traffic(&live, &idle);
        let live = b.promotion(live, &idle, canary_weight);
        b.clean_up();
        b.retag();
        let mut r = b.finish(live);
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
