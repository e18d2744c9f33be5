//! Data source `ecsx_task_sets`: the task sets of a service, so nobody has to guess ARNs.

use super::support::{aws_error, resource_id};
use crate::aws::{ecs, AwsError};
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::{Ctx, DataSource};
use crate::schema::{Attribute, Block, Schema, Type, Validator};
use crate::value::Value;
use async_trait::async_trait;

pub struct TaskSets;

fn task_set_type() -> Type {
    Type::Object(vec![
        ("id", Type::String),
        ("arn", Type::String),
        ("status", Type::String),
        ("task_definition", Type::String),
        ("scale_percent", Type::Number),
        ("stability_status", Type::String),
        ("external_id", Type::String),
        ("target_group_arns", Type::list_of(Type::String)),
        ("created_at", Type::String),
        ("tags", Type::map_of(Type::String)),
    ])
}

pub fn task_set_value(t: &ecs::TaskSet) -> Value {
    Value::object([
        ("id", Value::from(t.id.as_str())),
        ("arn", Value::from(t.arn.as_str())),
        ("status", Value::from(t.status.as_str())),
        ("task_definition", Value::from(t.task_definition.as_str())),
        ("scale_percent", Value::from(t.scale_percent)),
        ("stability_status", Value::from(t.stability_status.as_str())),
        ("external_id", Value::from(t.external_id.clone())),
        (
            "target_group_arns",
            Value::string_list(&t.target_group_arns),
        ),
        ("created_at", Value::from(t.created_at.clone())),
        (
            "tags",
            Value::Map(
                t.tags
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                    .collect(),
            ),
        ),
    ])
}

#[async_trait]
impl DataSource for TaskSets {
    fn type_name(&self) -> &'static str {
        "ecsx_task_sets"
    }

    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: Block::new("Lists the task sets of an ECS service that uses the EXTERNAL deployment controller, and which one is PRIMARY.")
                .attr(Attribute::required("cluster", Type::String, "The ECS cluster.").check(Validator::NameOrArn("ecs", "cluster/")))
                .attr(Attribute::required("service", Type::String, "The ECS service; it must use the EXTERNAL deployment controller.").check(Validator::NameOrArn("ecs", "service/")))
                .attr(Attribute::computed("id", Type::String, "`CLUSTER/SERVICE`."))
                .attr(Attribute::computed(
                    "task_sets",
                    Type::list_of(task_set_type()),
                    "The service's task sets, oldest first: `id`, `arn`, `status` (PRIMARY, ACTIVE, DRAINING), `task_definition`, \
                     `scale_percent`, `stability_status` (STEADY_STATE, STABILIZING), `external_id`, `target_group_arns`, `created_at` (RFC 3339) and `tags`.",
                ))
                .attr(Attribute::computed("primary_task_set_id", Type::String, "ID of the PRIMARY task set; null when there is none.")),
        }
    }

    async fn read(&self, ctx: &Ctx, config: &Value, diags: &mut Diagnostics) -> Value {
        let cluster = config.get("cluster").as_str().unwrap_or_default();
        let service = config.get("service").as_str().unwrap_or_default();
        let mut sets = match ecs::find_task_sets(&ctx.aws.ecs, cluster, service, &[]).await {
            Ok((sets, _)) => sets,
            Err(AwsError::NotFound {
                what: "cluster", ..
            }) => {
                diags.error_at(
                    AttrPath::attr("cluster"),
                    "ECS cluster not found",
                    format!("Service {service:?} was not found in cluster {cluster:?} (ClusterNotFoundException): the cluster does not exist. Check the cluster name and the provider's region ({}).", ctx.aws.region),
                );
                return Value::Null;
            }
            Err(e) if e.is_not_found() => {
                diags.error_at(
                    AttrPath::attr("service"),
                    "ECS service not found",
                    format!("Service {service:?} was not found in cluster {cluster:?} (ServiceNotFoundException). Check the cluster and service names and the provider's region ({}).", ctx.aws.region),
                );
                return Value::Null;
            }
            Err(e) => {
                aws_error(
                    diags,
                    None,
                    "Could not list task sets",
                    &format!("service {service:?} in cluster {cluster:?}"),
                    &e,
                );
                return Value::Null;
            }
        };
        sets.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        let primary = sets.iter().find(|t| t.is_primary()).map(|t| t.id.clone());
        let mut out = config.clone();
        out.set("id", Value::from(resource_id(cluster, service)));
        out.set(
            "task_sets",
            Value::List(sets.iter().map(task_set_value).collect()),
        );
        out.set("primary_task_set_id", Value::from(primary));
        out
    }
}
