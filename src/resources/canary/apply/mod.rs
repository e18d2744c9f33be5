//! The executor: carries out exactly the [`Rollout`] it is given, and the destroy sequence.
//! Where the world changed since the plan (PRIMARY moved), it re-plans with the same planner.
//!
//! `mod.rs` converges (plan again on what AWS holds, run, record, undo on failure); `run`
//! carries out the steps in order; `bake` holds traffic at a step and watches the alarms;
//! `judging` runs the built-in judge during a bake; `ledger` is what the run has done so far
//! (and why it stopped); `destroy` removes every task set the deployment owns.

mod bake;
mod destroy;
mod judging;
mod ledger;
mod run;

pub(crate) use destroy::destroy;

pub(crate) use run::OnStep;

use super::model::{CanarySpec, Desired, Observed, TaskSetRef};
use super::observe::{creates_task_sets, leftovers};
use super::release::Outcome;
use super::release::Release;
use super::release::{plan_stand_in, record, StandIn, Writer, TAG_RELEASE};
use super::rollout::Rollout;
use super::routers::shift;
use super::routers::{note_forwarded, routers_before_write};
use super::safety::check_routers;
use crate::aws::ecs::{self};
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::Ctx;
use crate::resources::ownership::Role;
use crate::resources::support::{aws_error, external_service_after_create};
use crate::value::Value;
use ledger::{Cause, Failure, Ledger};
use run::run;
use std::collections::BTreeMap;
use std::time::Duration;

/// Carries out the rollout from `prior` to `planned`. On failure, traffic stays on steady
/// task sets, a task set that failed to stabilise or never took over is removed, and the
/// state returned is what AWS really holds, so the next apply picks up where this one stopped.
pub(crate) async fn converge(
    ctx: &Ctx,
    prior: &Value,
    planned: &Value,
    limit: Duration,
    diags: &mut Diagnostics,
) -> Value {
    converge_reporting(ctx, prior, planned, limit, None, diags).await
}

/// [`converge`], telling `on_step` (an action's progress) each step as it starts.
pub(crate) async fn converge_reporting(
    ctx: &Ctx,
    prior: &Value,
    planned: &Value,
    limit: Duration,
    on_step: Option<&OnStep<'_>>,
    diags: &mut Diagnostics,
) -> Value {
    // The release record the plan left unknown is the prior one until this apply writes it:
    // approvals, holds and interrupted bakes come from it.
    let mut basis = planned.clone();
    if basis.get("last_release").is_unknown() {
        basis.set("last_release", prior.get("last_release").clone());
    }
    if basis.get(StandIn::ATTRIBUTE).is_unknown() {
        plan_stand_in(prior, &mut basis);
    }
    let d = Desired::from(&basis);
    let arrived = match arrive(ctx, prior, &d, limit, diags).await {
        Ok(t) => t,
        Err(()) => return prior.clone(),
    };
    // Terraform's re-plan read the service moments ago in this process: nothing was written
    // since, so the apply starts from that read.
    let just_read = ctx
        .aws
        .reads
        .service_just_read(&d.cluster, &d.service)
        .filter(|s| s.is_active() && s.is_external());
    let svc = match just_read {
        Some(s) => s,
        None => match external_service_after_create(ctx, &d.cluster, &d.service, diags).await {
            Some(s) => s,
            None => return prior.clone(),
        },
    };
    let mut d = d;
    let mut seen = if let Some(t) = &arrived {
        super::arrival::arrived(&d, t)
    } else if prior.is_null() {
        match leftovers(ctx, &d, Some(&svc)).await {
            Ok(seen) => {
                if !steady_leftovers(ctx, &d, &seen, limit, diags).await {
                    return prior.clone();
                }
                // A failed first apply's record: what the plan continued from.
                if let Some(r) = &seen.record {
                    if basis.get("last_release").is_null() {
                        basis.set("last_release", r.to_value());
                        d = Desired::from(&basis);
                    }
                }
                seen
            }
            Err(e) => {
                aws_error(
                    diags,
                    None,
                    "Could not list task sets",
                    &format!("deployment {}", d.id()),
                    &e,
                );
                return prior.clone();
            }
        }
    } else {
        Observed::from_state(prior).with_live_primary(svc.primary())
    };
    // One read of the routers for both: the target groups a create needs forwarded, and the
    // safety check (every shift checks again right before it writes).
    let routers = routers_before_write(ctx, &d).await;
    if let Ok(found) = &routers {
        if creates_task_sets(&seen, &d) {
            note_forwarded(&mut seen, found);
        }
    }
    let r = Rollout::plan(&seen, &d);
    if !check_routers(ctx, &d, routers, diags).await {
        return prior.clone();
    }
    if r.bakes() {
        // Before any traffic moves: a release that would watch a missing alarm never starts.
        super::safety::check_alarms(ctx, &d, true, diags).await;
    }
    if diags.has_errors() {
        return prior.clone();
    }
    let mut live = Ledger {
        stable: seen.stable.clone(),
        canary: seen.canary.clone(),
        live_tg: seen.live_tg.clone(),
        created: Vec::new(),
        deadline: std::time::Instant::now() + limit,
        verdict: None,
    };
    match run(ctx, &d, &r, limit, on_step, &mut live).await {
        Ok(()) => completed(ctx, &d, &r, prior, planned, &live, diags).await,
        Err(failure) => stopped(ctx, &d, &r, prior, planned, live, failure, diags).await,
    }
}

/// A create's arrival (`arrival` block): the service switched onto EXTERNAL and the task set
/// of its running tasks taken over, before anything else; that task set, PRIMARY. Ok(None)
/// when there is nothing to switch or take over; Err(()) after an error diagnostic.
async fn arrive(
    ctx: &Ctx,
    prior: &Value,
    d: &Desired,
    limit: Duration,
    diags: &mut Diagnostics,
) -> Result<Option<ecs::TaskSet>, ()> {
    if !prior.is_null() || d.arrival.is_none() {
        return Ok(None);
    }
    let Some(a) = super::arrival::pending(ctx, d, diags).await else {
        return if diags.has_errors() {
            Err(())
        } else {
            Ok(None)
        };
    };
    match super::arrival::arrive(ctx, d, &a, limit, diags).await {
        Some(t) => Ok(Some(t)),
        None => Err(()),
    }
}

/// The state after a run that carried out every step, read back from AWS.
async fn completed(
    ctx: &Ctx,
    d: &Desired,
    r: &Rollout,
    prior: &Value,
    planned: &Value,
    live: &Ledger,
    diags: &mut Diagnostics,
) -> Value {
    let mut state = planned.clone();
    state.set("id", Value::from(d.id()));
    let (pw, cw) = d.weights();
    state.set("primary_weight", Value::from(pw));
    state.set("canary_weight", Value::from(cw));
    if state.get("rollout_steps").is_unknown() {
        // Planned while parts of the configuration were unknown.
        state.set("rollout_steps", Value::string_list(&r.lines));
    }
    live.write(&mut state);
    if let Some(c) = d.canary.as_ref().filter(|_| r.ends_release(d)) {
        let configured_stable = planned.block("stable").get("task_definition");
        let mut end = release_end(c, d.last_release.as_ref(), configured_stable);
        if let Some(v) = live.verdict.as_ref().filter(|_| end.reason.is_empty()) {
            end.reason = format!("last verdict: {v}");
        }
        record(&mut state, &end);
    }
    keep_unwritten_records(prior, &mut state);
    state.set("orphaned_task_set_ids", Value::List(vec![]));
    state.set("drift", Value::List(vec![]));
    read_back(ctx, d, state, prior.is_null(), diags).await
}

/// After a run stopped: the error, traffic back off what does not serve, and the state of
/// what AWS holds now, read back through Read so the next plan sees it.
#[allow(clippy::too_many_arguments)]
async fn stopped(
    ctx: &Ctx,
    d: &Desired,
    r: &Rollout,
    prior: &Value,
    planned: &Value,
    mut live: Ledger,
    failure: Failure,
    diags: &mut Diagnostics,
) -> Value {
    let subject = format!("deployment {}", d.id());
    failure.cause.log(&d.id());
    match &failure.cause {
        Cause::Aws(e) => aws_error(diags, failure.path.clone(), &failure.summary, &subject, e),
        other => {
            let detail = format!("{subject}: {other}.");
            match failure.path.clone() {
                Some(p) => diags.error_at(p, &failure.summary, detail),
                None => diags.error(&failure.summary, detail),
            }
        }
    }
    undo_unserving(ctx, d, &mut live).await;
    if prior.is_null() {
        return failed_create(ctx, d, &live, failure.record.as_ref(), diags).await;
    }
    // What AWS holds now, read back through Read so the next plan sees it.
    let mut partial = planned.clone();
    partial.set("id", Value::from(d.id()));
    live.write(&mut partial);
    // A stable task set this apply did not replace still runs the prior template:
    // recorded so, the next plan still shows the template change, and makes it.
    let kept = TaskSetRef::read(prior, Role::Stable)
        .is_some_and(|t| live.stable.as_ref().is_some_and(|s| s.id == t.id));
    if kept {
        partial.set("task_set", prior.get("task_set").clone());
    }
    if let Some(release) = &failure.record {
        // Rolled back: the canary block stays as configured and the next plan holds it
        // back. Interrupted: the next apply bakes the rest first.
        record(&mut partial, release);
    } else if let Some(c) = d.canary.as_ref().filter(|_| r.ends_release(d)) {
        // Every way a scheduled release stops is on record, this one too.
        let failed = Release {
            approved_step: Release::approvals_kept(d.last_release.as_ref(), c),
            ..Release::of(c, Outcome::Failed, failure.summary.clone())
        };
        record(&mut partial, &failed);
    }
    keep_unwritten_records(prior, &mut partial);
    partial.set("drift", Value::List(vec![]));
    // Not the planned steps: the next plan must show the steps still to take.
    partial.set(
        "rollout_steps",
        Value::string_list([format!("stopped: {}", failure.summary)]),
    );
    let mut read_diags = Diagnostics::new();
    let seen = super::observe::read(ctx, &partial, &mut read_diags).await;
    diags.extend(read_diags);
    if seen.is_null() {
        partial
    } else {
        seen
    }
}

/// The attributes an apply's end is checked on: which task sets serve, where, at what weights.
const CHECKED_AT_END: [&str; 5] = [
    "stable_task_set_id",
    "canary_task_set_id",
    "live_target_group_arn",
    "primary_weight",
    "canary_weight",
];

/// The state an apply ends with, checked against what AWS holds now (one refresh): what the
/// rollout expected is written only where AWS agrees. Where something outside this apply
/// changed the release meanwhile, the apply fails, naming it, with the state read back (a
/// create with none, as any failed create: see [`failed_create`]).
async fn read_back(
    ctx: &Ctx,
    d: &Desired,
    state: Value,
    creating: bool,
    diags: &mut Diagnostics,
) -> Value {
    let mut read_diags = Diagnostics::new();
    let seen = super::observe::read(ctx, &state, &mut read_diags).await;
    if read_diags.has_errors() {
        // Could not read: the apply itself went as planned, and the next refresh reads again.
        crate::log::warn(
            "could not read the deployment back after the apply",
            &[("deployment", d.id().into())],
        );
        return state;
    }
    let differs: Vec<String> = CHECKED_AT_END
        .iter()
        .filter(|k| seen.is_null() || seen.get(k) != state.get(k))
        .map(|k| {
            format!(
                "{k}: expected {}, AWS has {}",
                show(state.get(k)),
                show(seen.get(k))
            )
        })
        .collect();
    if differs.is_empty() {
        return state;
    }
    diags.extend(read_diags);
    diags.error_at(
        AttrPath::attr("canary"),
        "The release changed under this apply",
        format!(
            "When deployment {}'s apply ended, AWS did not hold what it had done: {}. Something outside this apply (another apply, a console edit, an abort) changed the release; the state records what AWS holds now. Plan again to see what the next apply would do.",
            d.id(),
            differs.join("; ")
        ),
    );
    if creating {
        diags.warning(
            "First apply failed: nothing recorded in the state",
            format!("So that Terraform does not plan to replace deployment {} (which would delete the task sets serving it), the state records nothing; the next apply takes over the task sets there are and continues from there.", d.id()),
        );
        return Value::Null;
    }
    if seen.is_null() {
        state
    } else {
        seen
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        v => v
            .as_str()
            .map(str::to_string)
            .or_else(|| v.as_i64().map(|n| n.to_string()))
            .unwrap_or_else(|| format!("{v:?}")),
    }
}

/// A first apply that failed returns no state. Terraform keeps the state of a failed create
/// only as tainted, and plans its replacement, whose destroy would delete every task set of
/// the deployment, the PRIMARY one serving production included. With none, the next plan is
/// a create that takes over what this one left (`observe::resume_create`): the stable task set
/// keeps serving. How the release stopped (rolled back, interrupted) goes on the stable task
/// set as a release record, which that create reads back.
async fn failed_create(
    ctx: &Ctx,
    d: &Desired,
    live: &Ledger,
    record: Option<&Release>,
    diags: &mut Diagnostics,
) -> Value {
    let Some(stable) = &live.stable else {
        return Value::Null;
    };
    if let Some(r) = record {
        let tags = BTreeMap::from([(TAG_RELEASE.to_string(), r.to_tag(Writer::FirstApply))]);
        if let Err(e) = ecs::tag_resource(&ctx.aws.ecs, "task set", &stable.arn, &tags).await {
            aws_error(
                diags,
                None,
                "Could not record how the release stopped",
                &format!("task set {} of deployment {}", stable.id, d.id()),
                &e,
            );
        }
    }
    diags.warning(
        "First apply failed: nothing recorded in the state",
        format!(
            "Deployment {}'s first apply stopped after stable task set {} became PRIMARY. So that Terraform does not plan to replace it (which would delete that task set), the state records nothing; the next apply takes the task sets it left over and continues from there{}.",
            d.id(),
            stable.id,
            if record.is_some() { ", as recorded on the stable task set" } else { "" }
        ),
    );
    Value::Null
}

/// The task sets an earlier create left, which this one takes over, may never have been
/// steady (it died waiting for them): no traffic moves to one before it is. False, with the
/// error, when one does not get there; the create then fails with no state, as the earlier one
/// did, and the next one tries again.
async fn steady_leftovers(
    ctx: &Ctx,
    d: &Desired,
    seen: &Observed,
    limit: Duration,
    diags: &mut Diagnostics,
) -> bool {
    if !d.wait {
        return true;
    }
    for (role, t) in [(Role::Stable, &seen.stable), (Role::Canary, &seen.canary)] {
        let Some(t) = t else { continue };
        let waited = ecs::wait_steady(
            &ctx.aws.ecs,
            &d.cluster,
            &d.service,
            &t.arn,
            limit,
            &ctx.stop,
        )
        .await;
        if let Err(e) = waited {
            aws_error(
                diags,
                Some(AttrPath::attr(role.as_str())),
                "A task set left by an earlier create did not reach a steady state",
                &format!("deployment {}, task set {}", d.id(), t.id),
                &e,
            );
            return false;
        }
    }
    true
}

/// The records the plan left unknown and this apply did not write stay the prior ones: the
/// last release, and a promoted stable version while the configuration still names the one
/// it replaced.
fn keep_unwritten_records(prior: &Value, state: &mut Value) {
    if state.get("last_release").is_unknown() {
        state.set("last_release", prior.get("last_release").clone());
    }
    if state.get(StandIn::ATTRIBUTE).is_unknown() {
        plan_stand_in(prior, state);
    }
}

/// How a release that walked its steps ends: held at a gate, promoted, or completed. An
/// approval an action recorded for this release is kept.
fn release_end(c: &CanarySpec, prior: Option<&Release>, configured_stable: &Value) -> Release {
    let mut end = match c.gate {
        Some((n, w)) => Release {
            step: n as i64,
            ..Release::of(
                c,
                Outcome::AwaitingApproval,
                format!("waiting for approval of step {n} ({w}%)"),
            )
        },
        None if c.promote => Release {
            stable_task_definition: configured_stable.as_str().unwrap_or_default().to_string(),
            ..Release::of(c, Outcome::Promoted, String::new())
        },
        None => Release::of(c, Outcome::Completed, String::new()),
    };
    end.approved_step = Release::approvals_kept(prior, c);
    end
}

/// After a failure: a task set this apply created that the state will not record (a new
/// stable version or bridge that never became PRIMARY) goes, once all traffic is back on the
/// live target group. Best effort; where traffic cannot be moved back it stays, and the next
/// refresh lists it as orphaned.
async fn undo_unserving(ctx: &Ctx, d: &Desired, live: &mut Ledger) {
    let unrecorded: Vec<TaskSetRef> = live
        .created
        .iter()
        .filter(|(_, t, _)| !live.records(&t.id))
        .map(|(_, t, _)| t.clone())
        .collect();
    let Some(tg) = live.live_tg.clone().filter(|_| !unrecorded.is_empty()) else {
        return;
    };
    let all = d.all_to(&tg);
    let back = shift(ctx, d, Some(&all), Some(&all)).await;
    if let Err(e) = back {
        crate::log::warn(
            "could not move traffic back to the live target group after a failure",
            &[("error", e.to_string().into())],
        );
        return;
    }
    for t in unrecorded {
        if let Err(e) =
            ecs::delete_task_set(&ctx.aws.ecs, &d.cluster, &d.service, &t.arn, true).await
        {
            crate::log::warn(
                "could not remove a task set that did not take over",
                &[("task_set", t.id.into()), ("error", e.to_string().into())],
            );
        }
    }
}
