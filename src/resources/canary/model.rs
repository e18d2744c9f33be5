//! The deployment as configured (`Desired`, with its `CanarySpec`, traffic steps and
//! analysis) and as the refreshed state records it (`Observed`), parsed once from Terraform
//! values. The template, drift and release records it holds have modules of their own.

use super::drift::Drift;
use super::release::Outcome;
use super::release::{CanaryVersion, Release, StandIn};
use super::template::{EcsDefault, Template};
use crate::arn;
use crate::aws::ecs::TaskSet;
use crate::aws::elbv2;
use crate::resources::ownership::Role;
use crate::resources::support::resource_id;
use crate::value::Value;

/// ECS refuses a sixth task set on a service.
pub(crate) const MAX_TASK_SETS: usize = 5;
/// How a new stable version takes over (`promotion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Promotion {
    /// The new version comes up on the idle target group, which then becomes the live one:
    /// the two target groups trade roles at each release.
    #[default]
    Swap,
    /// The stable task set always returns to the primary target group; a task set of the new
    /// version on the canary target group serves alone while it is replaced.
    Replace,
}

impl Promotion {
    pub(crate) const NAMES: [&'static str; 2] = ["swap", "replace"];

    fn parse(s: Option<&str>) -> Promotion {
        match s {
            Some("replace") => Promotion::Replace,
            _ => Promotion::Swap,
        }
    }
}

/// One `canary.step`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrafficStep {
    pub traffic: i64,
    pub pause: std::time::Duration,
    /// Needs approval (`canary.approved_step` at least this step's number) before its weight.
    pub approval: bool,
}

/// The `analysis` block: alarms that roll the release back, and the built-in judge.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Analysis {
    pub alarms: Vec<String>,
    pub interval: std::time::Duration,
    /// `compare` / `metric_query` (None: alarms only); Err: settings only known at apply
    /// that the judge cannot work with.
    pub judge: Result<Option<super::judge::Judge>, super::judge::ConfigError>,
}

/// A task set the state knows by id and ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskSetRef {
    pub id: String,
    pub arn: String,
}

impl TaskSetRef {
    pub(crate) fn of(t: &TaskSet) -> TaskSetRef {
        TaskSetRef {
            id: t.id.clone(),
            arn: t.arn.clone(),
        }
    }

    /// `<role>_task_set_id` and `<role>_task_set_arn` of a state or plan value.
    pub(crate) fn read(v: &Value, role: Role) -> Option<TaskSetRef> {
        let id = v.get(&format!("{}_task_set_id", role.as_str())).as_str()?;
        let arn = v.get(&format!("{}_task_set_arn", role.as_str())).as_str()?;
        Some(TaskSetRef {
            id: id.to_string(),
            arn: arn.to_string(),
        })
    }

    pub(crate) fn write(v: &mut Value, role: Role, t: Option<&TaskSetRef>) {
        v.set(
            &format!("{}_task_set_id", role.as_str()),
            Value::from(t.map(|x| x.id.clone())),
        );
        v.set(
            &format!("{}_task_set_arn", role.as_str()),
            Value::from(t.map(|x| x.arn.clone())),
        );
    }
}

/// The deployment as configured, read from a planned value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Desired {
    pub cluster: String,
    pub service: String,
    pub template: Template,
    /// False for an imported state, which has no template until the configuration gives one.
    pub has_template: bool,
    pub stable_td: String,
    pub stable_scale: f64,
    pub canary: Option<CanarySpec>,
    pub primary_tg: String,
    pub canary_tg: String,
    pub routers: Vec<(elbv2::Kind, String)>,
    pub test_routers: Vec<(elbv2::Kind, String)>,
    pub wait: bool,
    pub promotion: Promotion,
    pub analysis: Option<Analysis>,
    pub last_release: Option<Release>,
    /// The configured canary when the last release settled it (then `canary` is None): an
    /// alarm or an abort rolled it back ([`Release::holds_back`]), or it was promoted
    /// ([`Release::promoted`]). The rollout plans as if it were not configured.
    pub held: Option<CanarySpec>,
    /// `arrival.from_controller`: the controller a create may switch the service from.
    pub arrival: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CanarySpec {
    pub task_definition: String,
    /// Where the release ends: `traffic_percent`, or the last step's.
    pub traffic: i64,
    pub scale: f64,
    /// The traffic steps of a scheduled release, in order; empty without `step` blocks.
    /// Only the steps this apply may walk: up to the first gate not yet approved.
    pub steps: Vec<TrafficStep>,
    pub attempt: i64,
    /// The first step (1-based) waiting for approval, with its weight, if any.
    pub gate: Option<(usize, i64)>,
    /// `promote`, and no gate before the end: the apply ends with the canary promoted.
    pub promote: bool,
    /// The step whose bake an earlier apply was stopped in, and how much of it was left.
    pub resume: Option<(usize, std::time::Duration)>,
}

impl<'a> From<&'a CanarySpec> for CanaryVersion<'a> {
    fn from(c: &'a CanarySpec) -> Self {
        CanaryVersion {
            task_definition: &c.task_definition,
            attempt: c.attempt,
        }
    }
}

impl CanarySpec {
    /// A canary as it runs in ECS, for a task set found without a configuration to match:
    /// its version at its scale, no steps.
    pub(crate) fn running(t: &TaskSet) -> CanarySpec {
        CanarySpec {
            task_definition: t.task_definition.clone(),
            traffic: 0,
            scale: t.scale_percent,
            steps: Vec::new(),
            attempt: 1,
            gate: None,
            promote: false,
            resume: None,
        }
    }
}

fn routers(traffic: &Value, listeners: &str, rules: &str) -> Vec<(elbv2::Kind, String)> {
    let mut out: Vec<_> = traffic
        .get(listeners)
        .strings()
        .into_iter()
        .map(|a| (elbv2::Kind::Listener, a))
        .collect();
    out.extend(
        traffic
            .get(rules)
            .strings()
            .into_iter()
            .map(|a| (elbv2::Kind::Rule, a)),
    );
    out
}

impl Desired {
    pub(crate) fn from(v: &Value) -> Desired {
        let s = |x: &Value| x.as_str().unwrap_or_default().to_string();
        let stable = v.block("stable");
        let traffic = v.block("traffic");
        let canary = v.block("canary");
        Desired {
            cluster: s(v.get("cluster")),
            service: s(v.get("service")),
            template: Template {
                ecs_defaults: EcsDefault::from_value(v.get("ecs_filled_in")),
                ..Template::from(v.get("task_set"))
            },
            has_template: !v.get("task_set").as_list().is_empty(),
            stable_td: s(stable.get("task_definition")),
            stable_scale: stable.get("scale_percent").as_f64().unwrap_or(100.0),
            canary: (!canary.is_null()).then(|| {
                let steps: Vec<TrafficStep> = canary
                    .get("step")
                    .as_list()
                    .iter()
                    .map(|st| TrafficStep {
                        traffic: st.get("traffic_percent").as_i64().unwrap_or(0),
                        pause: st
                            .get("pause")
                            .as_str()
                            .and_then(crate::duration::parse)
                            .unwrap_or_default(),
                        approval: st.get("approval").as_bool().unwrap_or(false),
                    })
                    .collect();
                let task_definition = s(canary.get("task_definition"));
                let attempt = canary.get("attempt").as_i64().unwrap_or(1);
                // Approved in the configuration, or by an ecsx_canary_continue action.
                let record = Release::read(v.get("last_release"))
                    .filter(|r| r.task_definition == task_definition && r.attempt == attempt);
                let approved = canary
                    .get("approved_step")
                    .as_i64()
                    .unwrap_or(0)
                    .max(record.as_ref().map_or(0, |r| r.approved_step));
                // Held by the judge for want of a verdict: the step after the judged one
                // waits as a gate does (past the last step, the promotion or the end).
                let promote = canary.get("promote").as_bool() == Some(true);
                let held = record
                    .as_ref()
                    .filter(|r| r.result == Outcome::Inconclusive && r.step > approved)
                    .map(|r| {
                        let n = r.step as usize;
                        let last = steps.last().map_or(0, |st| st.traffic);
                        let w = steps
                            .get(n - 1)
                            .map_or(if promote { 100 } else { last }, |st| st.traffic);
                        (n, w)
                    });
                let resume = record
                    .filter(|r| r.result == Outcome::Interrupted && r.step > 0)
                    .map(|r| (r.step as usize, r.remaining));
                let mut steps = steps;
                let gate = steps
                    .iter()
                    .enumerate()
                    .find(|(i, st)| st.approval && (*i as i64) + 1 > approved)
                    .map(|(i, st)| (i + 1, st.traffic));
                let gate = match (gate, held) {
                    (Some(g), Some(h)) => Some(if h.0 < g.0 { h } else { g }),
                    (g, h) => g.or(h),
                };
                let scheduled = !steps.is_empty();
                if let Some((n, _)) = gate {
                    steps.truncate(n - 1);
                }
                CanarySpec {
                    task_definition,
                    // Where this apply ends: the last step before a gate, or the last step.
                    traffic: match steps.last() {
                        Some(st) => st.traffic,
                        None if scheduled => 0,
                        None => canary.get("traffic_percent").as_i64().unwrap_or(0),
                    },
                    scale: canary.get("scale_percent").as_f64().unwrap_or(100.0),
                    steps,
                    attempt,
                    promote: promote && gate.is_none(),
                    resume,
                    gate,
                }
            }),
            primary_tg: s(traffic.get("primary_target_group_arn")),
            canary_tg: s(traffic.get("canary_target_group_arn")),
            routers: routers(traffic, "listener_arns", "listener_rule_arns"),
            test_routers: routers(traffic, "test_listener_arns", "test_listener_rule_arns"),
            wait: v.get("wait_for_steady_state").as_bool().unwrap_or(true),
            promotion: Promotion::parse(v.get("promotion").as_str()),
            analysis: {
                let a = v.block("analysis");
                (!a.is_null()).then(|| Analysis {
                    alarms: a.get("alarm_names").strings(),
                    interval: a
                        .get("check_interval")
                        .as_str()
                        .and_then(crate::duration::parse)
                        .filter(|d| !d.is_zero())
                        .unwrap_or(std::time::Duration::from_secs(30)),
                    judge: super::judge::Judge::from_analysis(a),
                })
            },
            last_release: Release::read(v.get("last_release")),
            held: None,
            arrival: v
                .block("arrival")
                .get("from_controller")
                .as_str()
                .map(str::to_string),
        }
        .settle(StandIn::read(v))
    }

    /// What the releases so far settled: a version promoted in place of the configured stable
    /// one stands in for it (`promoted_stable`), and a canary version the last one rolled
    /// back or promoted is not started again on its own.
    fn settle(mut self, stand_in: Option<StandIn>) -> Desired {
        if let Some(td) = stand_in.as_ref().and_then(|s| s.runs_for(&self.stable_td)) {
            self.stable_td = td.to_string();
        }
        if let (Some(c), Some(r)) = (&self.canary, &self.last_release) {
            if r.holds_back(c) || r.promoted(c) {
                self.held = self.canary.take();
            }
        }
        self
    }

    /// Whether the canary walks `step` blocks or is promoted at the end (a scheduled release).
    pub(crate) fn scheduled(&self) -> bool {
        self.canary
            .as_ref()
            .is_some_and(|c| !c.steps.is_empty() || c.gate.is_some() || c.promote)
    }

    /// (stable, canary) weights on the managed routers after the apply: the live target
    /// group's and the idle one's. A promoting release ends with the canary serving alone on
    /// the target group that is live then.
    pub(crate) fn weights(&self) -> (i64, i64) {
        match &self.canary {
            Some(c) if c.promote => (100, 0),
            Some(c) => (100 - c.traffic, c.traffic),
            None => (100, 0),
        }
    }

    /// The deployment's other target group than `tg`.
    pub(crate) fn other_tg(&self, tg: &str) -> &str {
        if tg == self.primary_tg {
            &self.canary_tg
        } else {
            &self.primary_tg
        }
    }

    /// Everything to `tg`, nothing to the other target group.
    pub(crate) fn all_to(&self, tg: &str) -> Vec<(String, i32)> {
        vec![(tg.to_string(), 100), (self.other_tg(tg).to_string(), 0)]
    }

    pub(crate) fn id(&self) -> String {
        resource_id(&self.cluster, &self.service)
    }

    /// Whether `tg` is one of the deployment's two target groups.
    pub(crate) fn owns_target_group(&self, tg: &str) -> bool {
        tg == self.primary_tg || tg == self.canary_tg
    }
}

/// The deployment as the refreshed state records it: the planner's picture of AWS.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Observed {
    /// What was last deployed; None before the first apply (or when replacing).
    pub deployed: Option<Desired>,
    pub stable: Option<TaskSetRef>,
    pub canary: Option<TaskSetRef>,
    pub weights: Option<(i64, i64)>,
    pub drift: Vec<Drift>,
    /// Ledger task sets tagged as this deployment's that the state does not hold.
    pub orphans: Vec<String>,
    /// The target group the stable task set sits on (`live_target_group_arn`).
    pub live_tg: Option<String>,
    /// The target groups some managed or test router forwards to (at any weight), which
    /// CreateTaskSet requires of a target group; read live, only when a task set is to be
    /// created. None when not read.
    pub forwarded: Option<Vec<String>>,
    /// How an earlier, failed first apply left the release (`ecsx:release` on the task sets
    /// it left), which a create that takes them over continues from. None otherwise.
    pub record: Option<Release>,
}

impl Observed {
    pub(crate) fn from_state(prior: &Value) -> Observed {
        if prior.is_null() {
            return Observed::default();
        }
        let weights = match (
            prior.get("primary_weight").as_i64(),
            prior.get("canary_weight").as_i64(),
        ) {
            (Some(p), Some(c)) => Some((p, c)),
            _ => None,
        };
        let deployed = Desired::from(prior);
        // States from before `live_target_group_arn` kept the stable on the primary one.
        let live_tg = prior
            .get("live_target_group_arn")
            .as_str()
            .map(str::to_string)
            .or_else(|| Some(deployed.primary_tg.clone()).filter(|tg| !tg.is_empty()));
        Observed {
            deployed: Some(deployed),
            stable: TaskSetRef::read(prior, Role::Stable),
            canary: TaskSetRef::read(prior, Role::Canary),
            weights,
            drift: Drift::from_values(prior.get("drift")),
            orphans: prior.get("orphaned_task_set_ids").strings(),
            live_tg,
            forwarded: None,
            record: None,
        }
    }

    /// Folds in the PRIMARY a fresh DescribeServices reports, so an apply that finds the
    /// PRIMARY moved since the plan re-plans with it instead of deciding on its own.
    pub(crate) fn with_live_primary(mut self, primary: Option<&TaskSet>) -> Observed {
        if let Some(stable) = &self.stable {
            let moved = primary.is_none_or(|p| p.id != stable.id);
            let known = self
                .drift
                .iter()
                .any(|d| matches!(d, Drift::PrimaryMoved { .. }));
            if moved && !known {
                self.drift.push(Drift::PrimaryMoved {
                    stable: stable.id.clone(),
                    primary: primary.map(|p| p.id.clone()),
                });
            }
        }
        self
    }
}

/// `web:13` for a task definition ARN, `blue` for a target group ARN: labels for step text.
pub(crate) fn td_label(a: &str) -> String {
    arn::task_definition_label(a).to_string()
}

pub(crate) fn tg_label(a: &str) -> String {
    arn::target_group_label(a).to_string()
}

#[cfg(test)]
mod tests;
