//! The words of a rollout: the lines `rollout_steps` shows, one or two per step.

use super::step::Split;
use super::{BakeKind, PrimaryReason, RetireReason, Rollout, RoutePurpose, Step, Subject};
use crate::resources::canary::model::{td_label, tg_label, Desired};

impl Rollout {
    /// One step's lines, as `rollout_steps` shows them (for an action's progress).
    pub(crate) fn describe_step(d: &Desired, step: &Step) -> Vec<String> {
        Rollout {
            steps: vec![step.clone()],
            ..Rollout::default()
        }
        .describe(d)
    }

    /// The steps as `rollout_steps` shows them.
    pub(super) fn describe(&self, d: &Desired) -> Vec<String> {
        let mut lines = Vec::new();
        // The live target group as the steps go, for what a bake judges.
        let mut live_now = None;
        for step in &self.steps {
            if let Step::Route { live, .. } | Step::MakePrimary { live, .. } = step {
                live_now = Some(live.clone());
            }
            match step {
                Step::TagOwned { task_set, role } => lines.push(format!(
                    "tag {} {} as owned by deployment {}",
                    role.as_str(),
                    task_set.id,
                    d.id()
                )),
                Step::Retag {
                    task_set,
                    role,
                    label,
                    set,
                    remove,
                } => {
                    let mut what: Vec<String> =
                        set.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    what.extend(remove.iter().map(|k| format!("-{k}")));
                    lines.push(format!(
                        "retag {} task set {label} ({}) in place: {}",
                        role.as_str(),
                        task_set.id,
                        what.join(", ")
                    ))
                }
                Step::Create {
                    new,
                    task_definition,
                    scale,
                    target_group,
                } => lines.push(format!(
                    "create {} task set {} (scale {scale}%) on tg {}",
                    new.noun(),
                    td_label(task_definition),
                    tg_label(target_group)
                )),
                Step::Scale {
                    role, label, scale, ..
                } => lines.push(format!(
                    "scale {} task set {label} to {scale}%",
                    role.as_str()
                )),
                Step::Route {
                    production,
                    tests,
                    purpose,
                    live,
                } => route_lines(
                    d,
                    (production.as_ref(), tests.as_ref()),
                    purpose,
                    live,
                    &mut lines,
                ),
                Step::MakePrimary {
                    noun,
                    label,
                    live,
                    why,
                    ..
                } => lines.push(match why {
                    PrimaryReason::Repair => format!("make {noun} task set {label} PRIMARY again"),
                    PrimaryReason::First => format!("make {noun} task set {label} PRIMARY"),
                    PrimaryReason::Switch => format!(
                        "make {noun} task set {label} PRIMARY (tg {} is live now)",
                        tg_label(live)
                    ),
                }),
                Step::Bake {
                    kind: BakeKind::Promotion,
                    alarms,
                    ..
                } => lines.push(format!(
                    "check alarms {} once more before the promotion",
                    alarms.join(", ")
                )),
                Step::Bake {
                    step: 0,
                    kind: BakeKind::Replacement,
                    alarms,
                    ..
                } => lines.push(format!(
                    "check alarms {} before the new stable task set takes all traffic",
                    alarms.join(", ")
                )),
                Step::Bake {
                    step,
                    traffic,
                    pause,
                    alarms,
                    kind,
                } => lines.push(bake_line(*step, *traffic, *pause, alarms, *kind)),
                Step::Retire {
                    subject,
                    reason,
                    label,
                } => {
                    // A task set this apply created has no id to show yet.
                    let (id, known) = match subject {
                        Subject::Recorded(t) => (t.id.clone(), format!(" ({})", t.id)),
                        Subject::ToCreate(_) => (String::new(), String::new()),
                    };
                    lines.push(match reason {
                        RetireReason::Canary => format!("delete canary task set {label}{known}"),
                        RetireReason::OldStable => {
                            format!("delete old stable task set {label}{known}")
                        }
                        RetireReason::Bridge => format!("delete bridge task set {label}{known}"),
                        RetireReason::Orphan => format!("delete orphaned task set {id}"),
                    });
                }
            }
            // A bake with canary traffic says what the built-in judge checks there.
            lines.extend(self.judge_line(d, step, live_now.as_deref()));
        }
        lines
    }

    /// What the built-in judge checks at a bake with canary traffic (`live`: the live target
    /// group where the steps are by then), if the release has a judge.
    fn judge_line(&self, d: &Desired, step: &Step, live: Option<&str>) -> Option<String> {
        let Step::Bake {
            step: n,
            traffic,
            kind,
            ..
        } = step
        else {
            return None;
        };
        let live = live.or(self.live_after.as_deref())?;
        if *kind == BakeKind::Test {
            return Some(format!("step {n}: {}", judged_test(d, live)?));
        }
        if *traffic <= 0 || *kind == BakeKind::Promotion {
            return None;
        }
        Some(format!("step {n}: {}", judged(d, live)?))
    }
}

/// What the built-in judge checks while `live` serves the stable task set: the other target
/// group against it, on the load balancers of the managed routers, by which rules; None
/// without a judge.
pub(super) fn judged(d: &Desired, live: &str) -> Option<String> {
    let j = d.analysis.as_ref()?.judge.as_ref().ok()?.as_ref()?;
    let (canary, baseline) = (tg_label(d.other_tg(live)), tg_label(live));
    Some(j.describe(&canary, &baseline, &load_balancer_names(&d.routers)))
}

/// What the built-in judge checks on test traffic (step 0 of `analysis.judge_test_traffic`):
/// the other target group's test traffic against `live`'s production traffic.
pub(super) fn judged_test(d: &Desired, live: &str) -> Option<String> {
    let j = d.analysis.as_ref()?.judge.as_ref().ok()?.as_ref()?;
    let canary = format!("{} (test traffic)", tg_label(d.other_tg(live)));
    let routers: Vec<_> = d.routers.iter().chain(&d.test_routers).cloned().collect();
    Some(j.describe(&canary, &tg_label(live), &load_balancer_names(&routers)))
}

/// The names of the load balancers of `routers` (listener or rule ARNs), each once.
fn load_balancer_names<T>(routers: &[(T, String)]) -> Vec<String> {
    let mut lbs: Vec<String> = routers
        .iter()
        .filter_map(|(_, arn)| crate::arn::load_balancer_of(arn))
        .map(|lb| {
            // loadbalancer/app/NAME/ID: the name
            let name = crate::arn::parse(&lb)
                .and_then(|a| a.resource.split('/').nth(2).map(str::to_string));
            name.unwrap_or(lb)
        })
        .collect();
    lbs.sort();
    lbs.dedup();
    lbs
}

/// The line of a bake of a walk's step: how long, at what weight, watching what.
fn bake_line(
    step: usize,
    traffic: i64,
    pause: std::time::Duration,
    alarms: &[String],
    kind: BakeKind,
) -> String {
    let mut watching = if alarms.is_empty() {
        String::new()
    } else {
        format!(" watching alarms {}", alarms.join(", "))
    };
    match kind {
        BakeKind::Resumed => watching += " (the rest of an interrupted bake)",
        BakeKind::Replacement => watching += " (the new stable task set)",
        BakeKind::Step | BakeKind::Promotion | BakeKind::Test => {}
    }
    if kind == BakeKind::Test {
        let how_long = if pause.is_zero() {
            "until the judge's first verdict".to_string()
        } else {
            crate::duration::format(pause)
        };
        return format!(
            "step {step}: bake {how_long} on test traffic only, 0% of production{watching}"
        );
    }
    if pause.is_zero() {
        format!(
            "step {step}: check alarms {} at {traffic}%{}",
            alarms.join(", "),
            if kind == BakeKind::Replacement {
                " (the new stable task set)"
            } else {
                ""
            }
        )
    } else {
        format!(
            "step {step}: bake {} at {traffic}%{watching}",
            crate::duration::format(pause)
        )
    }
}

/// The lines of a route step: the production split (or where all of it goes), and where
/// test traffic goes.
fn route_lines(
    d: &Desired,
    (production, tests): (Option<&Split>, Option<&Split>),
    purpose: &RoutePurpose,
    live: &str,
    lines: &mut Vec<String>,
) {
    let rules = |n: usize| if n == 1 { "rule" } else { "rules" };
    let n = d.routers.len();
    match (purpose, production) {
        (RoutePurpose::Associate, _) => lines.push(format!(
            "add tg {} at weight 0 on {n} {} (a task set needs a target group the load balancer forwards to)",
            tg_label(d.other_tg(live)),
            rules(n)
        )),
        (RoutePurpose::MoveAll, Some(s)) => {
            let to = s.iter().find(|(_, w)| *w == 100).map(|(tg, _)| tg_label(tg));
            lines.push(format!(
                "move all production traffic to tg {} on {n} {}",
                to.unwrap_or_default(),
                rules(n)
            ))
        }
        (_, Some(s)) => {
            let w = |tg: &str| s.iter().find(|(x, _)| x == tg).map_or(0, |(_, w)| *w);
            lines.push(format!(
                "shift traffic {}/{} on {n} {}",
                w(live),
                w(d.other_tg(live)),
                rules(n)
            ))
        }
        (_, None) => {}
    }
    if let Some(t) = tests {
        let to = t
            .iter()
            .find(|(_, w)| *w == 100)
            .map(|(tg, _)| tg_label(tg));
        let n = d.test_routers.len();
        lines.push(format!(
            "route test traffic 100% to {} on {n} test {}",
            to.unwrap_or_default(),
            if n == 1 { "listener" } else { "listeners" }
        ));
    }
}
