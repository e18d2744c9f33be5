//! Running the steps of a [`Rollout`] in order, each recorded in the ledger as it lands.

use super::super::model::{Desired, TaskSetRef};
use super::super::release::Release;
use super::super::rollout::{BakeKind, NewTaskSet, Rollout, RoutePurpose, Step};
use super::super::routers::shift;
use super::super::template::Template;
use super::bake::{bake, interrupted_record};
use super::ledger::{Cause, Failure, Ledger};
use crate::aws::ecs::{self, TaskSet, TaskSetSpec};
use crate::aws::AwsError;
use crate::diag::AttrPath;
use crate::framework::Ctx;
use crate::resources::ownership::{ownership_tags, Role};
use std::collections::BTreeMap;
use std::time::Duration;

/// Hears each step's description as the step starts (an action passes its progress).
pub(crate) type OnStep<'a> = dyn Fn(&str) + Send + Sync + 'a;

pub(super) async fn run(
    ctx: &Ctx,
    d: &Desired,
    r: &Rollout,
    limit: Duration,
    on_step: Option<&OnStep<'_>>,
    live: &mut Ledger,
) -> Result<(), Failure> {
    let missing = |what: &str| Failure {
        path: None,
        summary: format!(
            "Internal error: the rollout refers to a {what} task set it did not create"
        ),
        cause: Cause::Refused(what.to_string()),
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
            if let Some(say) = on_step {
                say(&line);
            }
        }
        match step {
            Step::TagOwned { task_set, role } => {
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
            } => retag(ctx, &task_set.arn, *role, set, remove).await?,
            Step::Create {
                new,
                task_definition,
                scale,
                target_group,
            } => {
                let t = create_steady(ctx, d, *new, (task_definition, *scale), target_group, limit)
                    .await?;
                if *new == NewTaskSet::Canary {
                    live.canary = Some(t.clone());
                }
                live.created.push((*new, t, target_group.clone()));
            }
            Step::Scale {
                subject,
                role,
                scale,
                ..
            } => {
                let t = live.resolve(subject).ok_or_else(|| missing("scaled"))?;
                rescale(ctx, d, &t, *scale, *role).await?;
                steady(ctx, d, &t.arn, limit).await.map_err(|e| {
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
                        cause: Cause::Aws(e),
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

/// Waits until the task set is steady, unless the deployment says not to (`wait = false`).
async fn steady(ctx: &Ctx, d: &Desired, arn: &str, limit: Duration) -> Result<(), AwsError> {
    if d.wait {
        ecs::wait_steady(&ctx.aws.ecs, &d.cluster, &d.service, arn, limit, &ctx.stop)
            .await
            .map(|_| ())
    } else {
        Ok(())
    }
}

/// A new task set, steady; one that never turns steady is deleted again.
async fn create_steady(
    ctx: &Ctx,
    d: &Desired,
    new: NewTaskSet,
    (task_definition, scale): (&str, f64),
    target_group: &str,
    limit: Duration,
) -> Result<TaskSetRef, Failure> {
    let role = new.role();
    let t = create(ctx, d, new, task_definition, scale, target_group)
        .await
        .map_err(|e| {
            Failure::at(
                role,
                &format!("Could not create the {} task set", new.noun()),
                e,
            )
        })?;
    if let Err(e) = steady(ctx, d, &t.arn, limit).await {
        discard(ctx, d, &t).await;
        let summary = match new {
            NewTaskSet::Canary => "Canary task set did not reach a steady state; it was removed and no traffic moved to it",
            NewTaskSet::Stable | NewTaskSet::Bridge => "New stable task set did not reach a steady state; it was removed and traffic stays where it was",
        };
        return Err(Failure::at(role, summary, e));
    }
    Ok(TaskSetRef::of(&t))
}

/// TagResource and UntagResource on a task set that stays.
async fn retag(
    ctx: &Ctx,
    arn: &str,
    role: Role,
    set: &BTreeMap<String, String>,
    remove: &[String],
) -> Result<(), Failure> {
    let failed = |e| Failure::at(role, "Could not change the tags of a task set in place", e);
    if !set.is_empty() {
        ecs::tag_resource(&ctx.aws.ecs, "task set", arn, set)
            .await
            .map_err(failed)?;
    }
    if !remove.is_empty() {
        ecs::untag_resource(&ctx.aws.ecs, "task set", arn, remove)
            .await
            .map_err(failed)?;
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
    new: NewTaskSet,
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
    tags.extend(ownership_tags(&d.id(), new.role()));
    let token = uuid::Uuid::new_v4().to_string();
    let spec = TaskSetSpec {
        cluster: d.cluster.clone(),
        service: d.service.clone(),
        task_definition: task_definition.to_string(),
        external_id: format!("ecsx-{}-{}", new.noun(), &token[..8]),
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
            ("role", new.noun().into()),
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
