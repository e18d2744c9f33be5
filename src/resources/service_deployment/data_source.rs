//! Data source `ecsx_service_deployments`: a service's native deployments, newest first, and
//! the lifecycle hooks that wait, so `terraform plan` shows where a native release stands.

use super::{cluster_attribute, report_read_error, service_attribute};
use crate::aws::ecs::{self, Hook, RevisionSummary, ServiceDeployment};
use crate::diag::Diagnostics;
use crate::framework::{Ctx, DataSource};
use crate::resources::support::resource_id;
use crate::schema::{Attribute, Block, Schema, Type, Validator};
use crate::value::Value;
use async_trait::async_trait;

pub(crate) struct ServiceDeployments;

/// How many deployments the data source reads when `max_deployments` is not set.
const DEFAULT_DEPLOYMENTS: i64 = 5;

fn revision_type() -> Type {
    Type::Object(vec![
        ("arn", Type::String),
        ("requested_task_count", Type::Number),
        ("running_task_count", Type::Number),
        ("pending_task_count", Type::Number),
        ("production_traffic_weight", Type::Number),
        ("test_traffic_weight", Type::Number),
    ])
}

fn hook_type() -> Type {
    Type::Object(vec![
        ("hook_id", Type::String),
        ("target_type", Type::String),
        ("target_arn", Type::String),
        ("status", Type::String),
        ("expires_at", Type::String),
        ("timeout_action", Type::String),
    ])
}

fn deployment_type() -> Type {
    Type::Object(vec![
        ("arn", Type::String),
        ("status", Type::String),
        ("status_reason", Type::String),
        ("lifecycle_stage", Type::String),
        ("strategy", Type::String),
        ("created_at", Type::String),
        ("started_at", Type::String),
        ("finished_at", Type::String),
        ("target_revision", revision_type()),
        ("source_revisions", Type::list_of(revision_type())),
        ("hooks", Type::list_of(hook_type())),
    ])
}

fn waiting_type() -> Type {
    Type::Object(vec![
        ("service_deployment_arn", Type::String),
        ("hook_id", Type::String),
        ("lifecycle_stage", Type::String),
        ("expires_at", Type::String),
        ("timeout_action", Type::String),
    ])
}

fn revision_value(r: &RevisionSummary) -> Value {
    Value::object([
        ("arn", Value::from(r.arn.as_str())),
        (
            "requested_task_count",
            Value::from(i64::from(r.requested_task_count)),
        ),
        (
            "running_task_count",
            Value::from(i64::from(r.running_task_count)),
        ),
        (
            "pending_task_count",
            Value::from(i64::from(r.pending_task_count)),
        ),
        (
            "production_traffic_weight",
            r.production_traffic_weight.map_or(Value::Null, Value::from),
        ),
        (
            "test_traffic_weight",
            r.test_traffic_weight.map_or(Value::Null, Value::from),
        ),
    ])
}

fn hook_value(h: &Hook) -> Value {
    Value::object([
        ("hook_id", Value::from(h.id.as_str())),
        ("target_type", Value::from(h.target_type.as_str())),
        ("target_arn", Value::from(h.target_arn.clone())),
        ("status", Value::from(h.status.as_str())),
        ("expires_at", Value::from(h.expires_at.clone())),
        ("timeout_action", Value::from(h.timeout_action.clone())),
    ])
}

pub(crate) fn deployment_value(d: &ServiceDeployment) -> Value {
    Value::object([
        ("arn", Value::from(d.arn.as_str())),
        ("status", Value::from(d.status.as_str())),
        ("status_reason", Value::from(d.status_reason.clone())),
        ("lifecycle_stage", Value::from(d.lifecycle_stage.clone())),
        ("strategy", Value::from(d.strategy.clone())),
        ("created_at", Value::from(d.created_at.clone())),
        ("started_at", Value::from(d.started_at.clone())),
        ("finished_at", Value::from(d.finished_at.clone())),
        (
            "target_revision",
            d.target_revision
                .as_ref()
                .map_or(Value::Null, revision_value),
        ),
        (
            "source_revisions",
            Value::List(d.source_revisions.iter().map(revision_value).collect()),
        ),
        (
            "hooks",
            Value::List(d.hooks.iter().map(hook_value).collect()),
        ),
    ])
}

/// Every waiting hook of the deployments that go on.
fn waiting_value(deployments: &[ServiceDeployment]) -> Value {
    Value::List(
        deployments
            .iter()
            .filter(|d| d.is_ongoing())
            .flat_map(|d| {
                d.waiting_hooks().map(move |h| {
                    Value::object([
                        ("service_deployment_arn", Value::from(d.arn.as_str())),
                        ("hook_id", Value::from(h.id.as_str())),
                        ("lifecycle_stage", Value::from(d.lifecycle_stage.clone())),
                        ("expires_at", Value::from(h.expires_at.clone())),
                        ("timeout_action", Value::from(h.timeout_action.clone())),
                    ])
                })
            })
            .collect(),
    )
}

#[async_trait]
impl DataSource for ServiceDeployments {
    fn type_name(&self) -> &'static str {
        "ecsx_service_deployments"
    }

    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: Block::new("The native service deployments of an ECS service on the ECS deployment controller (rolling, BLUE_GREEN, CANARY or LINEAR), newest first, and the PAUSE lifecycle hooks that wait for `ecsx_service_deployment_continue` or `ecsx_service_deployment_rollback`. Read at plan time, so `terraform plan` shows where a native release stands.")
                .attr(cluster_attribute())
                .attr(service_attribute())
                .attr(
                    Attribute::optional("max_deployments", Type::Number, "How many of the newest deployments to read (default 5). Deployments in progress are always read, however many.")
                        .check(Validator::IntRange(1, 100)),
                )
                .attr(Attribute::computed("id", Type::String, "`CLUSTER/SERVICE`."))
                .attr(Attribute::computed(
                    "deployments",
                    Type::list_of(deployment_type()),
                    "The service's deployments, newest first: `arn`, `status` (PENDING, IN_PROGRESS, SUCCESSFUL, STOPPED, STOP_REQUESTED, ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS, ROLLBACK_SUCCESSFUL, ROLLBACK_FAILED), `status_reason`, `lifecycle_stage` (the current stage, e.g. PRE_PRODUCTION_TRAFFIC_SHIFT; null once over), `strategy`, `created_at`, `started_at`, `finished_at` (RFC 3339), `target_revision` and `source_revisions` (`arn`, `requested_task_count`, `running_task_count`, `pending_task_count`, `production_traffic_weight` and `test_traffic_weight` in percent, as ECS requests them), and `hooks` (`hook_id`, `target_type` PAUSE or AWS_LAMBDA, `target_arn`, `status` AWAITING_ACTION, IN_PROGRESS, SUCCEEDED, FAILED or TIMED_OUT, `expires_at`, `timeout_action`).",
                ))
                .attr(Attribute::computed(
                    "waiting_hooks",
                    Type::list_of(waiting_type()),
                    "The lifecycle hooks that wait (AWAITING_ACTION) in deployments in progress: `service_deployment_arn`, `hook_id`, `lifecycle_stage`, `expires_at` and `timeout_action` (what ECS does at `expires_at`: CONTINUE or ROLLBACK). Empty when nothing waits.",
                ))
                .attr(Attribute::computed(
                    "in_progress_deployment_arn",
                    Type::String,
                    "The newest deployment that is still going on (forwards or rolling back); null when none is.",
                )),
        }
    }

    async fn read(&self, ctx: &Ctx, config: &Value, diags: &mut Diagnostics) -> Value {
        let cluster = config.get("cluster").as_str().unwrap_or_default();
        let service = config.get("service").as_str().unwrap_or_default();
        let limit = config
            .get("max_deployments")
            .as_i64()
            .unwrap_or(DEFAULT_DEPLOYMENTS)
            .max(1) as usize;
        let client = &ctx.aws.ecs;
        let read = async {
            let ongoing = ecs::list_service_deployments(
                client,
                cluster,
                service,
                &ecs::deployment_status::ONGOING,
                0,
            )
            .await?;
            let newest =
                ecs::list_service_deployments(client, cluster, service, &[], limit).await?;
            // Newest first: the ongoing ones not among the newest go after them.
            let mut arns = newest;
            for arn in ongoing {
                if !arns.contains(&arn) {
                    arns.push(arn);
                }
            }
            if arns.is_empty() {
                return Ok(Vec::new());
            }
            ecs::describe_service_deployments(client, &arns).await
        };
        let deployments = match read.await {
            Ok(d) => d,
            Err(e) => {
                report_read_error(ctx, cluster, service, &e, diags);
                return Value::Null;
            }
        };
        let mut out = config.clone();
        out.set("id", Value::from(resource_id(cluster, service)));
        out.set(
            "deployments",
            Value::List(deployments.iter().map(deployment_value).collect()),
        );
        out.set("waiting_hooks", waiting_value(&deployments));
        out.set(
            "in_progress_deployment_arn",
            Value::from(
                deployments
                    .iter()
                    .find(|d| d.is_ongoing())
                    .map(|d| d.arn.clone()),
            ),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_hooks_come_from_ongoing_deployments_only() {
        let waiting = Hook {
            id: "h".into(),
            status: "AWAITING_ACTION".into(),
            ..Default::default()
        };
        let going = ServiceDeployment {
            arn: "d2".into(),
            status: "IN_PROGRESS".into(),
            lifecycle_stage: Some("PRE_PRODUCTION_TRAFFIC_SHIFT".into()),
            hooks: vec![waiting.clone()],
            ..Default::default()
        };
        // A deployment that is over never has a hook waiting, whatever a stale answer says.
        let over = ServiceDeployment {
            arn: "d1".into(),
            status: "STOPPED".into(),
            hooks: vec![waiting],
            ..Default::default()
        };
        let v = waiting_value(&[going.clone(), over]);
        assert_eq!(v.as_list().len(), 1);
        assert_eq!(v.as_list()[0].get("hook_id").as_str(), Some("h"));
        assert_eq!(
            v.as_list()[0].get("lifecycle_stage").as_str(),
            Some("PRE_PRODUCTION_TRAFFIC_SHIFT")
        );
        let d = deployment_value(&going);
        assert!(d.get("target_revision").is_null());
        assert_eq!(d.get("hooks").as_list().len(), 1);
    }
}
