//! PlanResourceChange for `ecsx_canary_deployment`: the planned values and `rollout_steps` from
//! the planner (after an arrival's switch, when there is one), and the checks AWS can answer
//! before anything changes.

use super::arrival::{self, Arrival};
use super::drift::awaiting_arrival;
use super::model::{Desired, Observed, TaskSetRef};
use super::observe::{creates_task_sets, leftovers};
use super::release::Outcome;
use super::release::{plan_stand_in, record};
use super::release::{Release, StandIn};
use super::rollout::{BakeKind, NewTaskSet, PrimaryReason, Rollout, Step, Subject};
use super::routers::{note_forwarded, routers_for_plan, Routers};
use super::safety::{
    check_alarms, check_bakes_fit, check_capacity, check_containers, check_routers, check_service,
    check_target_groups,
};
use crate::aws::AwsError;
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::{Ctx, Plan};
use crate::resources::ownership::Role;
use crate::value::Value;

/// Computed attributes an apply may change.
const COMPUTED: [&str; 14] = [
    "stable_task_set_id",
    "stable_task_set_arn",
    "canary_task_set_id",
    "canary_task_set_arn",
    "live_target_group_arn",
    "primary_weight",
    "canary_weight",
    "rollout_steps",
    "orphaned_task_set_ids",
    "drift",
    "ecs_filled_in",
    "schedule",
    "last_release",
    "promoted_stable",
];

pub(crate) async fn modify_plan(ctx: Option<&Ctx>, plan: &mut Plan, diags: &mut Diagnostics) {
    if plan.planned.is_null() || !plan.config.is_wholly_known() {
        if !plan.planned.is_null() {
            for k in COMPUTED {
                plan.planned.set(k, Value::Unknown);
            }
        }
        return;
    }
    // A state imported for an arrival owns nothing yet: its plan is the create's.
    let prior = if plan.requires_replace.is_empty() && awaiting_arrival(&plan.prior).is_none() {
        plan.prior.clone()
    } else {
        Value::Null
    };
    // The release record is the state's until an apply that walks a schedule writes it, and
    // a promoted version stands in for stable.task_definition only until that changes.
    plan.planned
        .set("last_release", prior.get("last_release").clone());
    plan_stand_in(&prior, &mut plan.planned);
    warn_of_promoted_version(&plan.planned, diags);
    let mut d = Desired::from(&plan.planned);
    let mut seen = Observed::from_state(&prior);
    // A create with an `arrival` block on a service still on another controller: the planner
    // starts from the task set the switch will leave the running tasks in.
    let arriving = match ctx.filter(|_| prior.is_null()) {
        Some(ctx) => arrival::pending(ctx, &d, diags).await,
        None => None,
    };
    if let Some(a) = &arriving {
        seen = arrival::arrived(&d, &a.task_set());
        arrival::warn(&d, a, diags);
    } else if prior.is_null() {
        // Task sets an earlier create left (it crashed, or failed and returned no state): its
        // stable task set is taken over and keeps serving, and so is a canary beside it; the
        // others are deleted once the stable one is PRIMARY.
        if let Some(ctx) = ctx {
            if let Ok(found) = leftovers(ctx, &d, None).await {
                seen = found;
            }
        }
        if let Some(r) = &seen.record {
            // How that create left the release: a rolled-back canary stays held back, an
            // interrupted bake is finished first.
            record(&mut plan.planned, r);
            d = Desired::from(&plan.planned);
        }
        if let Some(stable) = &seen.stable {
            diags.warning(
                "Resuming an earlier create",
                format!(
                    "Task set {} of deployment {} is left from an earlier create of this resource that did not finish; this apply takes it over as the stable task set, without replacing it{}.",
                    stable.id,
                    d.id(),
                    seen.record.as_ref().map(|r| format!(", and continues from its record: {} ({})", r.result, r.reason)).unwrap_or_default()
                ),
            );
        }
    }
    warn_of_release_state(&d, diags);
    // One read of the routers per plan (or the refresh's, moments ago): for the target groups
    // a create needs forwarded, and for the safety check below.
    let mut routers = None;
    if let Some(ctx) = ctx.filter(|_| creates_task_sets(&seen, &d)) {
        let found = routers_for_plan(ctx, &d).await;
        // Unreadable routers are reported by check_routers below.
        if let Ok(found) = &found {
            note_forwarded(&mut seen, found);
        }
        routers = Some(found);
    }
    let r = Rollout::plan(&seen, &d);
    let planned = &mut plan.planned;
    planned.set("id", Value::from(d.id()));
    let (pw, cw) = d.weights();
    planned.set("primary_weight", Value::from(pw));
    planned.set("canary_weight", Value::from(cw));
    planned.set("orphaned_task_set_ids", Value::List(vec![]));
    planned.set("schedule", schedule_value(&r));
    if r.ends_release(&d) {
        // The apply records how the release ended, and a promotion what stands in for
        // stable.task_definition.
        planned.set("last_release", Value::Unknown);
        if d.canary.as_ref().is_some_and(|c| c.promote) {
            planned.set(StandIn::ATTRIBUTE, Value::Unknown);
        }
    }
    planned.set("drift", Value::List(vec![]));
    planned.set("live_target_group_arn", Value::from(r.live_after.clone()));
    if r.is_idle() && arriving.is_none() {
        for k in [
            "stable_task_set_id",
            "stable_task_set_arn",
            "canary_task_set_id",
            "canary_task_set_arn",
            "rollout_steps",
            "ecs_filled_in",
            "schedule",
        ] {
            planned.set(k, prior.get(k).clone());
        }
        return;
    }
    let mut lines = arriving.as_ref().map(|a| a.lines(&d)).unwrap_or_default();
    lines.extend(r.lines.iter().cloned());
    planned.set("rollout_steps", Value::string_list(&lines));
    // The apply writes the configured template to the state: nothing is ECS's guess then.
    planned.set("ecs_filled_in", Value::List(vec![]));
    // A task set recorded already keeps its id (a promoted canary becomes the stable one);
    // one the apply creates is known only then.
    let after = |planned: &mut Value, role: Role, subject: Option<&Subject>| match subject {
        Some(Subject::ToCreate(_)) => {
            planned.set(&format!("{}_task_set_id", role.as_str()), Value::Unknown);
            planned.set(&format!("{}_task_set_arn", role.as_str()), Value::Unknown);
        }
        Some(Subject::Recorded(t)) => TaskSetRef::write(planned, role, Some(t)),
        None => TaskSetRef::write(planned, role, None),
    };
    after(planned, Role::Stable, r.stable_after.as_ref());
    after(planned, Role::Canary, r.canary_after.as_ref());
    if planned.get("stable_task_set_id").as_str() == Some(arrival::RUNNING_TASKS) {
        // The task set ECS makes of the running tasks has an id only after the switch.
        planned.set("stable_task_set_id", Value::Unknown);
        planned.set("stable_task_set_arn", Value::Unknown);
    }
    if let Some(ctx) = ctx {
        let limit = plan_timeout(&plan.planned, prior.is_null());
        let checked = (&seen, &d, &r, arriving.as_ref());
        check_before_changes(ctx, checked, routers, limit, diags).await;
    }
}

/// What AWS can tell before anything changes: the service takes task sets, there is room for
/// the new ones, alarms exist, bakes fit the timeout, the routers to rewrite forward only to
/// the deployment's target groups, the task definitions have the container and port.
async fn check_before_changes(
    ctx: &Ctx,
    (seen, d, r, arriving): (&Observed, &Desired, &Rollout, Option<&Arrival>),
    routers: Option<Result<Routers, AwsError>>,
    limit: std::time::Duration,
    diags: &mut Diagnostics,
) {
    match arriving {
        // Not on EXTERNAL yet: what ECS would refuse the switch for instead.
        Some(a) => {
            arrival::check(d, a, diags);
            check_capacity(a.service(), d, r, diags);
        }
        None => check_service(ctx, d, r, diags).await,
    }
    summarize(Some(ctx), seen, d, r, diags);
    if r.bakes() {
        check_alarms(ctx, d, false, diags).await;
    }
    check_bakes_fit(limit, r, diags);
    let routes = r.steps.iter().any(|s| matches!(s, Step::Route { .. }));
    // A missing target group is named as such, not as a router forwarding elsewhere.
    if routes && check_target_groups(ctx, d, diags).await {
        let found = match routers {
            Some(found) => found,
            None => routers_for_plan(ctx, d).await,
        };
        check_routers(ctx, d, found, diags).await;
    }
    check_containers(ctx, d, r, diags).await;
}

/// Warnings about where the last release left things: a canary held back after a rollback,
/// an interrupted bake or a failed release this apply resumes, a gate waiting for approval.
fn warn_of_release_state(d: &Desired, diags: &mut Diagnostics) {
    if let (Some(c), Some(r)) = (&d.held, &d.last_release) {
        // A promoted canary is the stable task set now: nothing to say.
        if r.holds_back(c) {
            diags.warning(
                "Canary held back after a rollback",
                format!(
                    "Canary {} of deployment {} was rolled back at {}: {}. It is not started again on its own. To retry this version, raise canary.attempt (now {}); or set canary.task_definition to another version, or remove the canary block.",
                    crate::arn::task_definition_label(&c.task_definition),
                    d.id(),
                    r.at,
                    r.reason,
                    c.attempt
                ),
            );
        }
    }
    if let (Some(c), Some(r)) = (&d.canary, &d.last_release) {
        let label = crate::arn::task_definition_label(&c.task_definition);
        if r.is_of(c) && r.result == Outcome::Interrupted {
            diags.warning(
                "Resuming an interrupted release",
                format!(
                    "Canary {label} of deployment {} stopped at step {} with {} of its bake still to go ({}). While traffic is still at that step, this apply bakes the rest first, watching the alarms, before it goes on.",
                    d.id(),
                    r.step,
                    crate::duration::format(r.remaining),
                    r.reason
                ),
            );
        } else if r.is_of(c) && r.result == Outcome::Failed {
            diags.warning(
                "The last release failed",
                format!(
                    "The last apply of canary {label} of deployment {} failed at {}: {}. This apply starts the release again from where traffic is.",
                    d.id(),
                    r.at,
                    r.reason
                ),
            );
        }
    }
    if let Some((n, w)) = d.canary.as_ref().and_then(|c| c.gate) {
        // Held by the judge for want of a verdict, or at a configured gate.
        let why = d
            .last_release
            .as_ref()
            .filter(|r| r.result == Outcome::Inconclusive && r.step == n as i64)
            .map_or_else(
                || format!("before step {n} ({w}%), which needs approval"),
                |r| format!("where the judge found no verdict ({})", r.reason),
            );
        diags.warning(
            "Release waiting for approval",
            format!(
                "Deployment {} holds its canary at {}% {why}. To continue, invoke an ecsx_canary_continue action for it (Terraform 1.14+: terraform apply -invoke=action.ecsx_canary_continue.NAME), or set canary.approved_step = {n}; ecsx_canary_abort rolls it back.",
                d.id(),
                d.weights().1
            ),
        );
    }
}

/// The kind of change a plan makes, as one warning a reviewer cannot miss among in-place
/// updates: a rollback, a promotion or a cutover, with the weights before and after.
fn summarize(
    ctx: Option<&Ctx>,
    seen: &Observed,
    d: &Desired,
    r: &Rollout,
    diags: &mut Diagnostics,
) {
    let Some(before) = seen.stable.as_ref().map(|_| seen.weights) else {
        return; // The first release of the deployment: nothing to compare with.
    };
    let before = before.map_or("unknown".to_string(), |(p, c)| format!("{p}/{c}"));
    let (pw, cw) = d.weights();
    let after = format!("{pw}/{cw}");
    let label = crate::arn::task_definition_label;
    let to = r
        .live_after
        .as_deref()
        .map(crate::arn::target_group_label)
        .unwrap_or_default();
    let promotes = r.steps.iter().any(|s| {
        matches!(s, Step::MakePrimary { noun, why, .. } if *noun == "canary" && *why == PrimaryReason::Switch)
    });
    let new_stable = r.steps.iter().find_map(|s| match s {
        Step::Create {
            new: NewTaskSet::Stable | NewTaskSet::Bridge,
            scale,
            target_group,
            ..
        } => Some((*scale, target_group.clone())),
        _ => None,
    });
    let id = d.id();
    let adopted: Vec<&str> = r
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::TagOwned { task_set, .. } => Some(task_set.id.as_str()),
            _ => None,
        })
        .collect();
    if !adopted.is_empty() {
        diags.warning(
            "Adoption",
            format!("Deployment {id} takes over task set(s) {} as they run: they are tagged as its own ({before} stable/canary stays unless other steps below change it).", adopted.join(", ")),
        );
    }
    if promotes {
        let version = label(&d.stable_td);
        diags.warning(
            "Promotion",
            format!("Deployment {id}: the canary ({version}) becomes the stable task set. Production traffic {before} (stable/canary) becomes all on target group {to}, and the old stable task set is deleted."),
        );
    } else if let Some((scale, tg)) = new_stable {
        let tasks = ctx
            .and_then(|c| c.aws.reads.service_just_read(&d.cluster, &d.service))
            .map(|s| {
                let n = (f64::from(s.desired_count) * scale / 100.0).ceil() as i64;
                format!("{n} task(s), {scale}% of desiredCount {}", s.desired_count)
            })
            .unwrap_or_else(|| format!("{scale}% of the service's desired count"));
        let walk: Vec<(i64, &Vec<String>)> = r
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Bake {
                    kind: BakeKind::Replacement,
                    traffic,
                    alarms,
                    ..
                } => Some((*traffic, alarms)),
                _ => None,
            })
            .collect();
        let watched = walk.first().map(|(_, a)| a.join(", ")).unwrap_or_default();
        let weights: Vec<String> = walk
            .iter()
            .filter(|(w, _)| *w > 0)
            .map(|(w, _)| format!("{w}%"))
            .collect();
        if !weights.is_empty() {
            let alarms = if watched.is_empty() {
                String::new()
            } else {
                format!(", watching alarms {watched}")
            };
            diags.warning(
                "Replacement: the new stable task set walks the steps",
                format!(
                    "Deployment {id}: a new stable task set of {} ({tasks}) comes up on target group {} and takes production traffic ({before} now) in the configured steps, {} then 100%, baking at each{alarms}. Any stop on the way (an alarm, Ctrl-C, the timeout) moves all traffic back to the current stable task set and deletes the new one.",
                    label(&d.stable_td),
                    crate::arn::target_group_label(&tg),
                    weights.join(", "),
                ),
            );
            return;
        }
        let checked = if watched.is_empty() {
            String::new()
        } else {
            format!(" Alarms {watched} are read once first; one in ALARM stops it.")
        };
        diags.warning(
            "Cutover: production moves at once",
            format!(
                "Deployment {id}: a new stable task set of {} ({tasks}) comes up on target group {}, and once it is steady all production traffic ({before} now) moves to it in one step, with no canary step and no bake.{checked} For a gradual release, bring the new version in as a canary first; with canary step blocks configured, a replacement walks them too.",
                label(&d.stable_td),
                crate::arn::target_group_label(&tg),
            ),
        );
    } else if seen.canary.is_some() && d.canary.is_none() {
        diags.warning(
            "Rollback",
            format!("Deployment {id}: the canary leaves. Production traffic {before} (stable/canary) becomes {after}, then the canary task set is deleted."),
        );
    }
}

/// After a promotion in an apply (`canary.promote`), the configuration still names the old
/// stable version: every plan says which version runs and the one line that makes the
/// configuration say so, until it does.
fn warn_of_promoted_version(planned: &Value, diags: &mut Diagnostics) {
    let Some(s) = StandIn::read(planned) else {
        return;
    };
    let configured = planned.block("stable").get("task_definition");
    let Some(running) = s.runs_for(configured.as_str().unwrap_or_default()) else {
        return;
    };
    let at = Release::read(planned.get("last_release"))
        .filter(|r| r.result == Outcome::Promoted && r.task_definition == running)
        .map(|r| format!(" at {}", r.at))
        .unwrap_or_default();
    let label = crate::arn::task_definition_label;
    diags.warning_at(
        AttrPath::attr("stable").index(0).then("task_definition"),
        "The configuration names the old stable version",
        format!(
            "{} runs as the stable version since canary.promote promoted it{at}, but stable.task_definition still says {}. Nothing changes while it does; so that the configuration says what runs, set\n  task_definition = \"{running}\"\nin the stable block, and remove the canary block or point it at the next version.",
            label(running),
            label(&s.in_place_of),
        ),
    );
}

/// The timeout this apply runs under: `timeouts.create` or `timeouts.update`.
fn plan_timeout(planned: &Value, create: bool) -> std::time::Duration {
    let op = if create { "create" } else { "update" };
    crate::framework::timeout(planned, op, super::schema::APPLY_TIMEOUT)
}

/// The `schedule` attribute: each traffic step the apply walks.
fn schedule_value(r: &Rollout) -> Value {
    Value::List(
        r.schedule
            .iter()
            .map(|st| {
                Value::object([
                    ("traffic_percent", Value::from(st.traffic)),
                    (
                        "pause",
                        Value::from(crate::duration::format(st.pause).as_str()),
                    ),
                    ("alarms", Value::string_list(&st.alarms)),
                    ("judge", Value::from(st.judge.clone())),
                ])
            })
            .collect(),
    )
}
