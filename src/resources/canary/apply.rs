//! The executor: carries out exactly the [`Rollout`] it is given, and the destroy sequence.
//! Where the world changed since the plan (PRIMARY moved), it re-plans with the same planner.

use super::bake::{bake, interrupted_record};
use super::model::{CanarySpec, Desired, Observed, TaskSetRef};
use super::observe::{
    check_routers, creates_task_sets, find_routers, find_routers_fresh, leftovers, note_forwarded,
};
use super::release::Release;
use super::release::{plan_stand_in, record, StandIn, Writer, TAG_RELEASE};
use super::rollout::{BakeKind, Fresh, Rollout, RoutePurpose, Step, Subject};
use super::template::Template;
use crate::aws::ecs::{self, TaskSet, TaskSetSpec};
use crate::aws::elbv2::{self, Router};
use crate::aws::wait::{self, Poll};
use crate::aws::AwsError;
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::{Ctx, Progress};
use crate::resources::ownership::{owned_by, ownership_tags, Role};
use crate::resources::support::{aws_error, external_service_after_create, reported};
use crate::value::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Target groups and their weights, as one kind of router (managed or test) should forward.
type Weights = [(String, i32)];

/// How long ELBv2 may keep showing the previous weights after a change.
const ROUTING_VISIBLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

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

/// [`converge`], telling `progress` (an action's) each step as it starts.
pub(crate) async fn converge_reporting(
    ctx: &Ctx,
    prior: &Value,
    planned: &Value,
    limit: Duration,
    progress: Option<&Progress>,
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
    let mut seen = if prior.is_null() {
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
    let routers = find_routers_fresh(ctx, &d).await;
    if let Ok(found) = &routers {
        if creates_task_sets(&seen, &d) {
            note_forwarded(&mut seen, found);
        }
    }
    let r = Rollout::plan(&seen, &d);
    if let Err(e) = check_routers(ctx, &d, routers, diags).await {
        aws_error(
            diags,
            Some(AttrPath::attr("traffic")),
            "Could not read listeners and rules",
            &format!("deployment {}", d.id()),
            &e,
        );
        return prior.clone();
    }
    if r.bakes() {
        // Before any traffic moves: a release that would watch a missing alarm never starts.
        super::plan::check_alarms(ctx, &d, true, diags).await;
    }
    if diags.has_errors() {
        return prior.clone();
    }
    let mut live = Live {
        stable: seen.stable.clone(),
        canary: seen.canary.clone(),
        live_tg: seen.live_tg.clone(),
        created: Vec::new(),
        deadline: std::time::Instant::now() + limit,
    };
    match run(ctx, &d, &r, limit, progress, &mut live).await {
        Ok(()) => {
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
            if let Some(c) = d.canary.as_ref().filter(|_| r.ends_release(&d)) {
                let configured_stable = planned.block("stable").get("task_definition");
                record(
                    &mut state,
                    &release_end(c, d.last_release.as_ref(), configured_stable),
                );
            }
            keep_unwritten_records(prior, &mut state);
            state.set("orphaned_task_set_ids", Value::List(vec![]));
            state.set("drift", Value::List(vec![]));
            read_back(ctx, &d, state, prior.is_null(), diags).await
        }
        Err(failure) => {
            aws_error(
                diags,
                failure.path.clone(),
                &failure.summary,
                &format!("deployment {}", d.id()),
                &failure.error,
            );
            undo_unserving(ctx, &d, &mut live).await;
            if prior.is_null() {
                return failed_create(ctx, &d, &live, failure.record.as_ref(), diags).await;
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
            } else if let Some(c) = d.canary.as_ref().filter(|_| r.ends_release(&d)) {
                // Every way a scheduled release stops is on record, this one too.
                let failed = Release {
                    approved_step: Release::approvals_kept(d.last_release.as_ref(), c),
                    ..Release::of(c, Release::FAILED, failure.summary.clone())
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
    live: &Live,
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

/// Task sets as an apply goes: what the state will record, and what this apply created.
pub(super) struct Live {
    stable: Option<TaskSetRef>,
    pub(super) canary: Option<TaskSetRef>,
    pub(super) live_tg: Option<String>,
    created: Vec<(Fresh, TaskSetRef, String)>,
    /// When the apply's timeout (`timeouts.create` / `update`) runs out: a bake stops there.
    pub(super) deadline: std::time::Instant,
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
                Release::HELD,
                format!("waiting for approval of step {n} ({w}%)"),
            )
        },
        None if c.promote => Release {
            stable_task_definition: configured_stable.as_str().unwrap_or_default().to_string(),
            ..Release::of(c, Release::PROMOTED, String::new())
        },
        None => Release::of(c, Release::COMPLETED, String::new()),
    };
    end.approved_step = Release::approvals_kept(prior, c);
    end
}

impl Live {
    fn resolve(&self, s: &Subject) -> Option<TaskSetRef> {
        match s {
            Subject::Known(t) => Some(t.clone()),
            // The latest: a promotion with `replace` creates a second stable task set.
            Subject::New(f) => self
                .created
                .iter()
                .rev()
                .find(|(x, _, _)| x == f)
                .map(|(_, t, _)| t.clone()),
        }
    }

    fn records(&self, id: &str) -> bool {
        [&self.stable, &self.canary]
            .iter()
            .any(|t| t.as_ref().is_some_and(|t| t.id == id))
    }

    fn write(&self, state: &mut Value) {
        TaskSetRef::write(state, Role::Stable, self.stable.as_ref());
        TaskSetRef::write(state, Role::Canary, self.canary.as_ref());
        state.set("live_target_group_arn", Value::from(self.live_tg.clone()));
    }
}

/// After a failure: a task set this apply created that the state will not record (a new
/// stable version or bridge that never became PRIMARY) goes, once all traffic is back on the
/// live target group. Best effort; where traffic cannot be moved back it stays, and the next
/// refresh lists it as orphaned.
async fn undo_unserving(ctx: &Ctx, d: &Desired, live: &mut Live) {
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

pub(super) struct Failure {
    pub(super) path: Option<AttrPath>,
    pub(super) summary: String,
    pub(super) error: AwsError,
    /// What `last_release` records: an alarm rolled the release back, or a bake was cut short.
    pub(super) record: Option<Release>,
}

impl Failure {
    fn at(role: Role, summary: &str, error: AwsError) -> Failure {
        Failure {
            path: Some(AttrPath::attr(role.as_str())),
            summary: summary.to_string(),
            error,
            record: None,
        }
    }
}

async fn run(
    ctx: &Ctx,
    d: &Desired,
    r: &Rollout,
    limit: Duration,
    progress: Option<&Progress>,
    live: &mut Live,
) -> Result<(), Failure> {
    let wait = |arn: String| async move {
        if d.wait {
            ecs::wait_steady(&ctx.aws.ecs, &d.cluster, &d.service, &arn, limit, &ctx.stop)
                .await
                .map(|_| ())
        } else {
            Ok(())
        }
    };
    let missing = |what: &str| Failure {
        path: None,
        summary: format!(
            "Internal error: the rollout refers to a {what} task set it did not create"
        ),
        error: AwsError::Unexpected(what.to_string()),
        record: None,
    };
    for (i, step) in r.steps.iter().enumerate() {
        // Each step as it starts: in the logs (TF_LOG_PROVIDER=INFO), and in an action's
        // progress, which Terraform prints.
        for line in Rollout::describe_step(d, step) {
            crate::log::info(
                "release step",
                &[("deployment", d.id().into()), ("step", line.clone().into())],
            );
            if let Some(p) = progress {
                p.try_say(line);
            }
        }
        match step {
            Step::Adopt { task_set, role } => {
                ecs::tag_resource(
                    &ctx.aws.ecs,
                    "task set",
                    &task_set.arn,
                    &ownership_tags(&d.id(), *role),
                )
                .await
                .map_err(|e| Failure::at(*role, "Could not tag the imported task set", e))?;
            }
            Step::Retag {
                task_set,
                role,
                set,
                remove,
                ..
            } => {
                let failed =
                    |e| Failure::at(*role, "Could not change the tags of a task set in place", e);
                if !set.is_empty() {
                    ecs::tag_resource(&ctx.aws.ecs, "task set", &task_set.arn, set)
                        .await
                        .map_err(failed)?;
                }
                if !remove.is_empty() {
                    ecs::untag_resource(&ctx.aws.ecs, "task set", &task_set.arn, remove)
                        .await
                        .map_err(failed)?;
                }
            }
            Step::Create {
                fresh,
                task_definition,
                scale,
                target_group,
            } => {
                let role = fresh.role();
                let t = create(ctx, d, *fresh, task_definition, *scale, target_group)
                    .await
                    .map_err(|e| {
                        Failure::at(
                            role,
                            &format!("Could not create the {} task set", fresh.noun()),
                            e,
                        )
                    })?;
                if let Err(e) = wait(t.arn.clone()).await {
                    discard(ctx, d, &t).await;
                    let summary = match fresh {
                        Fresh::Canary => "Canary task set did not reach a steady state; it was removed and no traffic moved to it",
                        Fresh::Stable | Fresh::Bridge => "New stable task set did not reach a steady state; it was removed and traffic stays where it was",
                    };
                    return Err(Failure::at(role, summary, e));
                }
                let t = TaskSetRef::of(&t);
                if *fresh == Fresh::Canary {
                    live.canary = Some(t.clone());
                }
                live.created.push((*fresh, t, target_group.clone()));
            }
            Step::Scale {
                subject,
                role,
                scale,
                ..
            } => {
                let t = live.resolve(subject).ok_or_else(|| missing("scaled"))?;
                rescale(ctx, d, &t, *scale, *role).await?;
                wait(t.arn.clone()).await.map_err(|e| {
                    Failure::at(
                        *role,
                        &format!(
                            "{} task set did not reach a steady state after scaling",
                            if *role == Role::Stable {
                                "Stable"
                            } else {
                                "Canary"
                            }
                        ),
                        e,
                    )
                })?;
            }
            Step::Route {
                production,
                tests,
                purpose,
                ..
            } => {
                let summary = match purpose {
                    RoutePurpose::Associate => {
                        "Could not add the target group to the listeners and rules"
                    }
                    RoutePurpose::MoveAll | RoutePurpose::Split => "Could not shift traffic",
                };
                shift(ctx, d, production.as_deref(), tests.as_deref())
                    .await
                    .map_err(|e| Failure {
                        path: Some(AttrPath::attr("traffic")),
                        summary: summary.into(),
                        record: unbaked(d, r.steps.get(i + 1), &e),
                        error: e,
                    })?;
            }
            Step::MakePrimary {
                subject, live: tg, ..
            } => {
                let t = live.resolve(subject).ok_or_else(|| missing("new"))?;
                ecs::set_primary_confirmed(&ctx.aws.ecs, &d.cluster, &d.service, &t.arn)
                    .await
                    .map_err(|e| {
                        Failure::at(
                            Role::Stable,
                            "Could not make the new stable task set PRIMARY",
                            e,
                        )
                    })?;
                if live.canary.as_ref().is_some_and(|c| c.id == t.id) {
                    live.canary = None;
                }
                live.stable = Some(t);
                live.live_tg = Some(tg.clone());
            }
            Step::Bake {
                step,
                traffic,
                pause,
                alarms,
                kind,
            } => bake(ctx, d, live, (*step, *traffic, *pause, alarms), *kind).await?,
            Step::Retire { subject, .. } => {
                let t = live.resolve(subject).ok_or_else(|| missing("retired"))?;
                ecs::delete_task_set(&ctx.aws.ecs, &d.cluster, &d.service, &t.arn, false)
                    .await
                    .map_err(|e| {
                        Failure::at(Role::Stable, "Could not delete an old task set", e)
                    })?;
                if live.canary.as_ref().is_some_and(|c| c.id == t.id) {
                    live.canary = None;
                }
            }
        }
    }
    if d.canary.is_none() {
        live.canary = None;
    }
    Ok(())
}

/// A schedule step's weight that may have been written without its bake: the step's whole
/// bake is recorded as still to go, so the next apply bakes it at that weight instead of
/// counting it as passed. None when no bake of a schedule step follows.
fn unbaked(d: &Desired, next: Option<&Step>, e: &AwsError) -> Option<Release> {
    match next {
        Some(Step::Bake {
            step,
            traffic,
            pause,
            kind: BakeKind::Step,
            ..
        }) => interrupted_record(
            d,
            *step,
            *pause,
            format!(
                "stopped while setting step {step}'s weight ({traffic}%), before its bake: {e}"
            ),
        ),
        _ => None,
    }
}

/// CreateTaskSet from the deployment's template, tagged as owned.
async fn create(
    ctx: &Ctx,
    d: &Desired,
    fresh: Fresh,
    task_definition: &str,
    scale: f64,
    target_group: &str,
) -> Result<TaskSet, AwsError> {
    let Template {
        placement,
        container_name,
        container_port,
        mut tags,
        ..
    } = d.template.clone();
    tags.extend(ownership_tags(&d.id(), fresh.role()));
    let token = uuid::Uuid::new_v4().to_string();
    let spec = TaskSetSpec {
        cluster: d.cluster.clone(),
        service: d.service.clone(),
        task_definition: task_definition.to_string(),
        external_id: format!("ecsx-{}-{}", fresh.noun(), &token[..8]),
        placement,
        target_group_arn: target_group.to_string(),
        container_name,
        container_port,
        scale_percent: scale,
        tags,
        client_token: token,
    };
    crate::log::info(
        "creating task set",
        &[
            ("deployment", d.id().into()),
            ("role", fresh.noun().into()),
            ("task_definition", task_definition.to_string().into()),
            ("target_group", target_group.to_string().into()),
        ],
    );
    ecs::create_task_set(&ctx.aws.ecs, &spec).await
}

async fn rescale(
    ctx: &Ctx,
    d: &Desired,
    t: &TaskSetRef,
    scale: f64,
    role: Role,
) -> Result<(), Failure> {
    ecs::update_scale(&ctx.aws.ecs, &d.cluster, &d.service, &t.arn, scale)
        .await
        .map(|_| ())
        .map_err(|e| {
            let summary = match role {
                Role::Stable => "Could not scale the stable task set",
                Role::Canary => "Could not scale the canary task set",
            };
            Failure::at(role, summary, e)
        })
}

/// Removes a task set that failed to stabilise; best effort, the error at hand matters more.
async fn discard(ctx: &Ctx, d: &Desired, t: &TaskSet) {
    if let Err(e) = ecs::delete_task_set(&ctx.aws.ecs, &d.cluster, &d.service, &t.arn, true).await {
        crate::log::warn(
            "could not remove a task set that failed to stabilise",
            &[
                ("task_set", t.id.clone().into()),
                ("error", e.to_string().into()),
            ],
        );
    }
}

/// Writes `production` on the managed routers and `tests` on the test routers (None: leave
/// them), skipping routers already right, then waits until ELBv2 reads them back.
pub(super) async fn shift(
    ctx: &Ctx,
    d: &Desired,
    production: Option<&Weights>,
    tests: Option<&Weights>,
) -> Result<(), AwsError> {
    let (managed, test) = find_routers_fresh(ctx, d).await?;
    // Checked again right before writing: someone may have edited a rule since the plan.
    for r in managed.iter().chain(&test) {
        if let Some(tg) = r
            .weights()
            .unwrap_or_default()
            .into_iter()
            .map(|(tg, _)| tg)
            .find(|tg| !d.owns_target_group(tg))
        {
            return Err(AwsError::Unexpected(format!(
                "the {} {} forwards to target group {tg}, which this deployment does not manage; ecsx leaves it untouched",
                r.kind.noun(),
                r.arn
            )));
        }
    }
    // What each router forwarded before this write: until ELBv2 shows the new weights, it may
    // still show these, and anything else is somebody else's write.
    let before: BTreeMap<String, Vec<(String, i32)>> = managed
        .iter()
        .chain(&test)
        .map(|r| (r.arn.clone(), sorted_split(r)))
        .collect();
    let mut wrote = false;
    for (routers, want) in [(&managed, production), (&test, tests)] {
        let Some(want) = want else { continue };
        for r in routers.iter().filter(|r| !r.forwards_exactly(want)) {
            elbv2::set_split(&ctx.aws.elbv2, r, want).await?;
            wrote = true;
        }
    }
    if wrote {
        wait_routed(ctx, d, production, tests, &before).await?;
    }
    Ok(())
}

fn sorted_split(r: &Router) -> Vec<(String, i32)> {
    let mut w = r.weights().unwrap_or_default();
    w.sort();
    w
}

/// ELBv2 may describe a rule's old actions for a moment after ModifyRule. Waits until every
/// router reads back what was just written, so the state and the steps that follow (deleting
/// the task sets traffic left) rest on what AWS reports, not on what was sent. A router that
/// shows neither what was written nor what it forwarded `before` was changed by someone else
/// meanwhile: that is no lag to wait out, and the apply stops at once, naming it.
async fn wait_routed(
    ctx: &Ctx,
    d: &Desired,
    production: Option<&Weights>,
    tests: Option<&Weights>,
    before: &BTreeMap<String, Vec<(String, i32)>>,
) -> Result<(), AwsError> {
    wait::until(
        "listeners and rules to show the new weights",
        ROUTING_VISIBLE_TIMEOUT,
        ecs::poll_interval(),
        &ctx.stop,
        || async {
            let (managed, test) = find_routers(ctx, d).await?;
            let groups = [(&managed[..], production), (&test[..], tests)];
            let (behind, changed) = lagging(&groups, before);
            if let Some(r) = changed.first() {
                return Err(changed_under_write(r, &groups));
            }
            Ok(if behind.is_empty() {
                Poll::Done(())
            } else {
                Poll::Pending(format!("{} still show other weights", behind.join(", ")))
            })
        },
    )
    .await
}

/// The routers that do not forward as intended yet (a None split is not checked): those that
/// still show what they forwarded `before` the write (ELBv2 lag), and those that show
/// something else (changed by someone else).
fn lagging<'a>(
    groups: &[(&'a [Router], Option<&Weights>)],
    before: &BTreeMap<String, Vec<(String, i32)>>,
) -> (Vec<String>, Vec<&'a Router>) {
    let mut behind = Vec::new();
    let mut changed = Vec::new();
    for (routers, want) in groups {
        let Some(want) = want else { continue };
        for r in routers.iter().filter(|r| !r.forwards_exactly(want)) {
            if before.get(&r.arn) == Some(&sorted_split(r)) {
                behind.push(r.arn.clone());
            } else {
                changed.push(r);
            }
        }
    }
    (behind, changed)
}

fn changed_under_write(r: &Router, groups: &[(&[Router], Option<&Weights>)]) -> AwsError {
    let show = |w: &[(String, i32)]| {
        w.iter()
            .map(|(tg, w)| format!("{w} to {}", crate::arn::target_group_label(tg)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let wanted = groups
        .iter()
        .find(|(routers, _)| routers.iter().any(|x| x.arn == r.arn))
        .and_then(|(_, want)| *want)
        .map(&show)
        .unwrap_or_default();
    AwsError::Unexpected(format!(
        "the {} {} forwards {} since this apply wrote {wanted}: something outside this apply (another apply, a console edit, an abort) changed it meanwhile. ecsx stopped without writing again; plan again to see what the next apply would do",
        r.kind.noun(),
        r.arn,
        show(&r.weights().unwrap_or_default()),
    ))
}

/// Destroy: traffic back to the stable target group, then the canary and orphans, then the
/// stable (PRIMARY, so force) unless kept; waits until they have drained.
pub(crate) async fn destroy(
    ctx: &Ctx,
    prior: &Value,
    limit: Duration,
    diags: &mut Diagnostics,
) -> Value {
    let d = Desired::from(prior);
    let ecs_client = &ctx.aws.ecs;
    let svc = match ecs::find_service(ecs_client, &d.cluster, &d.service).await {
        Ok(s) => s,
        Err(e) if e.is_not_found() => return Value::Null,
        Err(e) => {
            aws_error(
                diags,
                None,
                "Could not read the ECS service",
                &format!("service {:?} in cluster {:?}", d.service, d.cluster),
                &e,
            );
            return prior.clone();
        }
    };
    if !svc.is_active() {
        return Value::Null;
    }
    // Traffic back to the live target group before anything is deleted.
    let live = Observed::from_state(prior)
        .live_tg
        .unwrap_or_else(|| d.primary_tg.clone());
    let all_back = d.all_to(&live);
    if let Err(e) = shift(ctx, &d, Some(&all_back), Some(&all_back)).await {
        aws_error(
            diags,
            Some(AttrPath::attr("traffic")),
            "Could not move traffic back to the stable task set",
            &format!("deployment {}", d.id()),
            &e,
        );
        return prior.clone();
    }
    let listed = ecs::find_task_sets(ecs_client, &d.cluster, &d.service, &[]).await;
    let subject = format!("deployment {}", d.id());
    let Some((sets, _)) = reported(listed, diags, None, "Could not list task sets", &subject)
    else {
        return prior.clone();
    };
    let stable_id = TaskSetRef::read(prior, Role::Stable)
        .map(|t| t.id)
        .unwrap_or_default();
    let keep_stable = prior.get("keep_primary_on_destroy").as_bool() == Some(true);
    // Canary and orphans first, the stable (PRIMARY, so force) last.
    let mut order: Vec<&TaskSet> = sets
        .iter()
        .filter(|t| owned_by(t, &d.id()) && !t.is_draining() && t.id != stable_id)
        .collect();
    if !keep_stable {
        order.extend(
            sets.iter()
                .filter(|t| t.id == stable_id && !t.is_draining()),
        );
    }
    let mut deleted = Vec::new();
    for t in order {
        if let Err(e) =
            ecs::delete_task_set(ecs_client, &d.cluster, &d.service, &t.arn, t.is_primary()).await
        {
            aws_error(
                diags,
                None,
                "Could not delete a task set",
                &format!("task set {} of deployment {}", t.id, d.id()),
                &e,
            );
            return prior.clone();
        }
        deleted.push(t.arn.clone());
    }
    if !deleted.is_empty() {
        crate::log::info(
            "waiting for deleted task sets to drain",
            &[
                ("deployment", d.id().into()),
                ("task_sets", (deleted.len() as u64).into()),
                ("timeout_s", limit.as_secs().into()),
            ],
        );
    }
    for a in &deleted {
        if let Err(e) =
            ecs::wait_gone(ecs_client, &d.cluster, &d.service, a, limit, &ctx.stop).await
        {
            aws_error(
                diags,
                None,
                "Task set still draining",
                &format!("deployment {}", d.id()),
                &e,
            );
            return prior.clone();
        }
    }
    if keep_stable {
        diags.warning(
            "Stable task set kept",
            format!("keep_primary_on_destroy is set, so task set {stable_id} of deployment {} keeps running as PRIMARY.", d.id()),
        );
    }
    Value::Null
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::elbv2::tests_support::router;

    const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/1";
    const GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/green/2";

    #[test]
    fn lagging_tells_elbv2_lag_from_somebody_else_s_write() {
        let split = [(BLUE.to_string(), 90), (GREEN.to_string(), 10)];
        let test_split = [(BLUE.to_string(), 0), (GREEN.to_string(), 100)];
        let r = |arn: &str, b, g| router(arn, &[(BLUE, b), (GREEN, g)]);
        // Before the write, every router forwarded all to blue.
        let before: BTreeMap<String, Vec<(String, i32)>> = ["prod", "api", "test"]
            .iter()
            .map(|a| (a.to_string(), sorted_split(&r(a, 100, 0))))
            .collect();
        let managed = vec![r("prod", 90, 10), r("api", 100, 0)];
        let test = vec![r("test", 0, 100)];
        let both = |m: &[Router], t: &[Router]| {
            let (behind, changed) = lagging(
                &[(m, Some(&split[..])), (t, Some(&test_split[..]))],
                &before,
            );
            (
                behind,
                changed.iter().map(|r| r.arn.clone()).collect::<Vec<_>>(),
            )
        };
        // "api" still shows what it forwarded before: ELBv2 lag, waited out.
        assert_eq!(both(&managed, &test), (vec!["api".to_string()], vec![]));
        let test = [r("test", 100, 0)];
        assert_eq!(
            both(&managed[..1], &test),
            (vec!["test".to_string()], vec![])
        );
        // Neither before nor what was written: somebody else's write.
        let edited = [r("prod", 50, 50)];
        assert_eq!(both(&edited, &[]), (vec![], vec!["prod".to_string()]));
        let err = changed_under_write(&edited[0], &[(&edited[..], Some(&split[..]))]);
        assert!(
            err.to_string().contains(
                "forwards 50 to blue, 50 to green since this apply wrote 90 to blue, 10 to green"
            ),
            "{err}"
        );
        let (behind, changed) =
            lagging(&[(&managed[..1], Some(&split[..])), (&test, None)], &before);
        assert!(behind.is_empty() && changed.is_empty());
    }
}
