//! The `ecsx_service_deployment_continue`, `_rollback` and `_stop` actions (Terraform 1.14+,
//! `terraform apply -invoke=action.TYPE.NAME`): release the PAUSE lifecycle hook a native
//! deployment waits at (CONTINUE or ROLLBACK), or stop a deployment, then follow it until it
//! pauses again, completes or rolls back.
//!
//! Each action reads the service's deployments at plan time and again when invoked, and acts
//! only on exactly one waiting hook (or one running deployment): nothing waits, or two things
//! do, is an error before anything changes.

use super::decide::{self, describe, describe_hook, fmt_weight, Settled};
use super::{cluster_attribute, observe, service_attribute, subject};
use crate::aws::ecs::{self, deployment_status as ds};
use crate::aws::{wait, AwsError};
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::{Action, Ctx, Progress};
use crate::resources::support::aws_error;
use crate::schema::{Attribute, Block, Schema, Type, Validator};
use crate::value::Value;
use async_trait::async_trait;
use std::sync::Mutex;
use std::time::Duration;

pub(crate) struct ContinueDeployment;
pub(crate) struct RollbackDeployment;
pub(crate) struct StopDeployment;

/// How long an action follows the deployment when `timeout` is not set.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

fn hook_id_attribute() -> Attribute {
    Attribute::optional(
        "hook_id",
        Type::String,
        "The waiting lifecycle hook to act on (`waiting_hooks[*].hook_id` of the `ecsx_service_deployments` data source). Unset: the one hook that waits; when several wait, the action refuses and names them. Set: the action refuses unless that hook waits, so an action prepared for one pause cannot release another.",
    )
}

fn timeout_attribute() -> Attribute {
    Attribute::optional(
        "timeout",
        Type::String,
        "How long to follow the deployment after acting, e.g. `45m` (default `30m`). At the end the action fails and says where the deployment stands; ECS goes on with it regardless.",
    )
    .check(Validator::Duration(1, crate::schema::TIMEOUT_MAX_SECS))
}

fn timeout(config: &Value) -> Duration {
    config
        .get("timeout")
        .as_str()
        .and_then(crate::duration::parse)
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// The cluster and service of a configuration, when both are known.
fn target(config: &Value) -> Option<(&str, &str)> {
    Some((
        config.get("cluster").as_str()?,
        config.get("service").as_str()?,
    ))
}

/// Follows deployment `arn` until it settles (see [`decide::settled`]), reporting each change
/// of where it stands.
async fn follow(
    ctx: &Ctx,
    arn: &str,
    acted: Option<&ecs::Hook>,
    pause_counts: bool,
    limit: Duration,
    progress: &Progress,
) -> Result<Settled, AwsError> {
    let last = Mutex::new(String::new());
    let what = format!("service deployment {arn}");
    wait::until(&what, limit, ecs::poll_interval(), &ctx.stop, || async {
        let d = ecs::find_service_deployment(&ctx.aws.ecs, arn).await?;
        let line = describe(&d);
        let changed = {
            let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
            let changed = *last != line;
            last.clone_from(&line);
            changed
        };
        if changed {
            crate::log::info(
                "service deployment",
                &[("arn", arn.into()), ("state", line.clone().into())],
            );
            progress.say(line.clone()).await;
        }
        Ok(match decide::settled(&d, acted, pause_counts) {
            Some(s) => wait::Poll::Done(s),
            None => wait::Poll::Pending(line),
        })
    })
    .await
}

/// Reports a failed follow: a timeout says the action's call stands and ECS goes on.
fn report_follow_error(e: &AwsError, acted: &str, arn: &str, diags: &mut Diagnostics) {
    // Only running out of time is about the `timeout` attribute.
    let path = matches!(e, AwsError::Timeout { .. }).then(|| AttrPath::attr("timeout"));
    aws_error(
        diags,
        path,
        "Service deployment did not settle",
        &format!("{acted} on service deployment {arn} was accepted by ECS, which goes on with the deployment without Terraform"),
        e,
    );
}

/// Plan and invoke of continue and rollback: the one waiting hook.
async fn waiting_hook(
    ctx: &Ctx,
    config: &Value,
    diags: &mut Diagnostics,
) -> Option<(ecs::ServiceDeployment, ecs::Hook)> {
    let (cluster, service) = target(config)?;
    let seen = observe(ctx, cluster, service, diags).await?;
    match decide::waiting_hook(
        &seen.ongoing,
        seen.newest.as_ref(),
        config.get("hook_id").as_str(),
    ) {
        Ok((d, h)) => Some((d.clone(), h.clone())),
        Err(refusal) => {
            refusal.report(&subject(cluster, service), diags);
            None
        }
    }
}

/// Releases the waiting hook with `action` (CONTINUE or ROLLBACK); returns the deployment and
/// hook acted on.
async fn release(
    ctx: &Ctx,
    config: &Value,
    action: &str,
    progress: &Progress,
    diags: &mut Diagnostics,
) -> Option<(ecs::ServiceDeployment, ecs::Hook)> {
    let (d, hook) = waiting_hook(ctx, config, diags).await?;
    progress
        .say(format!(
            "{action} at {} of service deployment {}: {}",
            d.lifecycle_stage.as_deref().unwrap_or("its current stage"),
            d.arn,
            describe_hook(&hook)
        ))
        .await;
    if let Err(e) = ecs::continue_service_deployment(&ctx.aws.ecs, &d.arn, &hook.id, action).await {
        let path = config
            .get("hook_id")
            .as_str()
            .map(|_| AttrPath::attr("hook_id"));
        aws_error(
            diags,
            path,
            "Could not release the lifecycle hook",
            &format!(
                "ContinueServiceDeployment {action} on hook {} of service deployment {}",
                hook.id, d.arn
            ),
            &e,
        );
        return None;
    }
    Some((d, hook))
}

fn action_schema(description: &'static str, extra: Vec<Attribute>) -> Schema {
    let mut block = Block::new(description)
        .attr(cluster_attribute())
        .attr(service_attribute());
    for a in extra {
        block = block.attr(a);
    }
    Schema { version: 0, block }
}

#[async_trait]
impl Action for ContinueDeployment {
    fn type_name(&self) -> &'static str {
        "ecsx_service_deployment_continue"
    }

    fn schema(&self) -> Schema {
        action_schema(
            "Continues a native ECS service deployment (BLUE_GREEN, CANARY or LINEAR on the ECS deployment controller) that waits at a PAUSE lifecycle hook, e.g. before a production traffic shift: ContinueServiceDeployment with CONTINUE on the one hook that waits, then follows the deployment until it waits at the next hook, completes or rolls back, reporting each stage and traffic weight. Refuses, changing nothing, when no hook waits or several do (see `hook_id`). A deployment that rolls back while followed fails the action.",
            vec![hook_id_attribute(), timeout_attribute()],
        )
    }

    async fn plan(&self, ctx: Option<&Ctx>, config: &Value, diags: &mut Diagnostics) {
        if let Some(ctx) = ctx {
            waiting_hook(ctx, config, diags).await;
        }
    }

    async fn invoke(
        &self,
        ctx: &Ctx,
        config: &Value,
        progress: &Progress,
        diags: &mut Diagnostics,
    ) {
        let Some((d, hook)) = release(ctx, config, ds::ACTION_CONTINUE, progress, diags).await
        else {
            return;
        };
        match follow(ctx, &d.arn, Some(&hook), true, timeout(config), progress).await {
            Ok(Settled::Paused { hook, stage }) => {
                progress
                    .say(format!(
                        "paused again at {}: {} waits; continue or roll back with the actions again",
                        stage.as_deref().unwrap_or("the next stage"),
                        describe_hook(&hook)
                    ))
                    .await;
            }
            Ok(Settled::Over { status, .. }) if status == ds::SUCCESSFUL => {
                progress
                    .say(format!("service deployment {} completed", d.arn))
                    .await;
            }
            Ok(Settled::Over { status, reason }) => diags.error_at(
                AttrPath::attr("service"),
                "Service deployment did not complete",
                format!(
                    "Service deployment {} was continued at hook {}, then ended {status}{}.",
                    d.arn,
                    hook.id,
                    reason.map(|r| format!(": {r}")).unwrap_or_default()
                ),
            ),
            Err(e) => report_follow_error(&e, "CONTINUE", &d.arn, diags),
        }
    }
}

#[async_trait]
impl Action for RollbackDeployment {
    fn type_name(&self) -> &'static str {
        "ecsx_service_deployment_rollback"
    }

    fn schema(&self) -> Schema {
        action_schema(
            "Rolls back a native ECS service deployment that waits at a PAUSE lifecycle hook: ContinueServiceDeployment with ROLLBACK on the one hook that waits, which sends production traffic back to the source revision, then follows the deployment until the rollback is over. Refuses, changing nothing, when no hook waits or several do (see `hook_id`); a deployment that waits at no hook is stopped with `ecsx_service_deployment_stop`.",
            vec![hook_id_attribute(), timeout_attribute()],
        )
    }

    async fn plan(&self, ctx: Option<&Ctx>, config: &Value, diags: &mut Diagnostics) {
        if let Some(ctx) = ctx {
            waiting_hook(ctx, config, diags).await;
        }
    }

    async fn invoke(
        &self,
        ctx: &Ctx,
        config: &Value,
        progress: &Progress,
        diags: &mut Diagnostics,
    ) {
        let Some((d, hook)) = release(ctx, config, ds::ACTION_ROLLBACK, progress, diags).await
        else {
            return;
        };
        match follow(ctx, &d.arn, Some(&hook), false, timeout(config), progress).await {
            Ok(Settled::Over { status, .. }) if status == ds::ROLLBACK_SUCCESSFUL => {
                progress
                    .say(format!("service deployment {} rolled back", d.arn))
                    .await;
            }
            Ok(Settled::Over { status, reason }) => diags.error_at(
                AttrPath::attr("service"),
                "Rollback did not succeed",
                format!(
                    "Service deployment {} was rolled back at hook {}, then ended {status}{}.",
                    d.arn,
                    hook.id,
                    reason.map(|r| format!(": {r}")).unwrap_or_default()
                ),
            ),
            Ok(Settled::Paused { .. }) => {}
            Err(e) => report_follow_error(&e, "ROLLBACK", &d.arn, diags),
        }
    }
}

#[async_trait]
impl Action for StopDeployment {
    fn type_name(&self) -> &'static str {
        "ecsx_service_deployment_stop"
    }

    fn schema(&self) -> Schema {
        action_schema(
            "Stops a native ECS service deployment that is PENDING or IN_PROGRESS, waiting at a hook or not: StopServiceDeployment with `stop_type` ROLLBACK (back to the source revision) or ABORT (stop where it is), then follows it until it is over. Refuses, changing nothing, when no deployment runs or several do (see `service_deployment_arn`).",
            vec![
                Attribute::optional(
                    "service_deployment_arn",
                    Type::String,
                    "The deployment to stop (`in_progress_deployment_arn` of the `ecsx_service_deployments` data source). Unset: the one deployment that runs; the action refuses when several do.",
                ),
                Attribute::optional(
                    "stop_type",
                    Type::String,
                    "`ROLLBACK` (default): production traffic back to the source revision, whether or not the deployment was configured to roll back. `ABORT`: stop where it is.",
                )
                .check(Validator::OneOf(&[ds::STOP_ROLLBACK, ds::STOP_ABORT])),
                timeout_attribute(),
            ],
        )
    }

    async fn plan(&self, ctx: Option<&Ctx>, config: &Value, diags: &mut Diagnostics) {
        if let Some(ctx) = ctx {
            stoppable(ctx, config, diags).await;
        }
    }

    async fn invoke(
        &self,
        ctx: &Ctx,
        config: &Value,
        progress: &Progress,
        diags: &mut Diagnostics,
    ) {
        let Some(d) = stoppable(ctx, config, diags).await else {
            return;
        };
        let stop_type = config
            .get("stop_type")
            .as_str()
            .unwrap_or(ds::STOP_ROLLBACK);
        progress
            .say(format!(
                "stopping service deployment {} ({stop_type}): {}",
                d.arn,
                describe(&d)
            ))
            .await;
        if let Err(e) = ecs::stop_service_deployment(&ctx.aws.ecs, &d.arn, stop_type).await {
            aws_error(
                diags,
                None,
                "Could not stop the service deployment",
                &format!("StopServiceDeployment {stop_type} on {}", d.arn),
                &e,
            );
            return;
        }
        match follow(ctx, &d.arn, None, false, timeout(config), progress).await {
            Ok(Settled::Over { status, reason }) => {
                if status == ds::ROLLBACK_FAILED {
                    diags.error_at(
                        AttrPath::attr("service"),
                        "Rollback did not succeed",
                        format!(
                            "Service deployment {} was stopped, and its rollback ended {status}{}.",
                            d.arn,
                            reason.map(|r| format!(": {r}")).unwrap_or_default()
                        ),
                    );
                } else {
                    let weight = ecs::find_service_deployment(&ctx.aws.ecs, &d.arn)
                        .await
                        .ok()
                        .and_then(|d| d.target_production_weight())
                        .map(|w| {
                            format!(
                                ", {}% of production traffic on its target revision",
                                fmt_weight(w)
                            )
                        })
                        .unwrap_or_default();
                    progress
                        .say(format!("service deployment {} is {status}{weight}", d.arn))
                        .await;
                }
            }
            Ok(Settled::Paused { .. }) => {}
            Err(e) => report_follow_error(&e, stop_type, &d.arn, diags),
        }
    }
}

/// Plan and invoke of stop: the one running deployment.
async fn stoppable(
    ctx: &Ctx,
    config: &Value,
    diags: &mut Diagnostics,
) -> Option<ecs::ServiceDeployment> {
    let (cluster, service) = target(config)?;
    let seen = observe(ctx, cluster, service, diags).await?;
    match decide::stoppable(
        &seen.ongoing,
        seen.newest.as_ref(),
        config.get("service_deployment_arn").as_str(),
    ) {
        Ok(d) => Some(d.clone()),
        Err(refusal) => {
            refusal.report(&subject(cluster, service), diags);
            None
        }
    }
}
