//! ECS services and task sets: find (one API read), status (one poll step) and mutations.

use super::wait::{self, Poll};
use super::AwsError;
use aws_sdk_ecs::types as ecs;
use aws_sdk_ecs::Client;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

const CLUSTER_NOT_FOUND: &str = "ClusterNotFoundException";
const SERVICE_NOT_FOUND: &str = "ServiceNotFoundException";
const TASK_SET_NOT_FOUND: &str = "TaskSetNotFoundException";
/// The service is being deleted (DRAINING) or was deleted (INACTIVE).
pub const SERVICE_NOT_ACTIVE: &str = "ServiceNotActiveException";
const INVALID_PARAMETER: &str = "InvalidParameterException";
/// The `DescribeTaskSets` failure reason for an id or ARN ECS does not know.
const FAILURE_MISSING: &str = "MISSING";

/// Errors CreateTaskSet answers while a just-made cluster, service or listener/rule
/// association has not reached ECS yet; hashicorp/aws retries on the same ones.
fn not_propagated_yet(e: &AwsError) -> bool {
    match e {
        AwsError::NotFound { what, .. } => *what == "service" || *what == "cluster",
        AwsError::Api { code, message, .. } => {
            code == CLUSTER_NOT_FOUND
                || code == SERVICE_NOT_FOUND
                || (code == INVALID_PARAMETER
                    && message.contains("does not have an associated load balancer"))
        }
        _ => false,
    }
}

/// How long CreateTaskSet is retried on propagation errors; `ECSX_PROPAGATION_TIMEOUT` (a
/// duration) overrides the 2 minute default, which is what hashicorp/aws allows.
pub fn propagation_timeout() -> Duration {
    std::env::var("ECSX_PROPAGATION_TIMEOUT")
        .ok()
        .and_then(|s| crate::duration::parse(&s))
        .unwrap_or(Duration::from_secs(120))
}

/// One DescribeServices call. A missing service is `NotFound`; an INACTIVE one is returned
/// with its status so the caller can tell "deleted" apart from "never existed".
pub async fn find_service(ecs: &Client, cluster: &str, service: &str) -> Result<Service, AwsError> {
    describe_service(ecs, cluster, service)
        .await
        .map(|s| Service::from_sdk(&s))
}

/// [`find_service`] as the SDK reports it, for readers that need more of it.
async fn describe_service(
    ecs: &Client,
    cluster: &str,
    service: &str,
) -> Result<ecs::Service, AwsError> {
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .include(ecs::ServiceField::Tags)
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(
                "DescribeServices",
                e,
                &[CLUSTER_NOT_FOUND],
                "cluster",
                cluster,
            )
        })?;
    let Some(s) = out.services().first() else {
        return Err(AwsError::NotFound {
            what: "service",
            id: format!("{service} in cluster {cluster}"),
        });
    };
    Ok(s.clone())
}

/// One DescribeClusters call: the cluster's default capacity provider strategy, which
/// CreateTaskSet uses for a request that names neither a launch type nor a strategy.
pub async fn find_default_capacity_provider_strategy(
    ecs: &Client,
    cluster: &str,
) -> Result<Vec<CapacityProvider>, AwsError> {
    let out = ecs
        .describe_clusters()
        .clusters(cluster)
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(
                "DescribeClusters",
                e,
                &[CLUSTER_NOT_FOUND],
                "cluster",
                cluster,
            )
        })?;
    let Some(c) = out.clusters().first() else {
        return Err(AwsError::NotFound {
            what: "cluster",
            id: cluster.to_string(),
        });
    };
    Ok(c.default_capacity_provider_strategy()
        .iter()
        .map(|c| CapacityProvider {
            name: c.capacity_provider().to_string(),
            weight: c.weight(),
            base: c.base(),
        })
        .collect())
}

/// One DescribeTaskSets call with tags. With `refs`, only those task sets; the second list
/// holds the references AWS reported MISSING.
pub async fn find_task_sets(
    ecs: &Client,
    cluster: &str,
    service: &str,
    refs: &[String],
) -> Result<(Vec<TaskSet>, Vec<String>), AwsError> {
    let out = ecs
        .describe_task_sets()
        .cluster(cluster)
        .service(service)
        .set_task_sets((!refs.is_empty()).then(|| refs.to_vec()))
        .include(ecs::TaskSetField::Tags)
        .send()
        .await
        .map_err(|e| {
            let id = format!("{service} in cluster {cluster}");
            match e
                .as_service_error()
                .and_then(|s| aws_smithy_types::error::metadata::ProvideErrorMetadata::code(s))
            {
                Some(CLUSTER_NOT_FOUND) => AwsError::NotFound {
                    what: "cluster",
                    id: cluster.to_string(),
                },
                _ => {
                    AwsError::from_sdk("DescribeTaskSets", e, &[SERVICE_NOT_FOUND], "service", &id)
                }
            }
        })?;
    let sets: Vec<TaskSet> = out.task_sets().iter().map(TaskSet::from_sdk).collect();
    let failures: Vec<(String, String, String)> = out
        .failures()
        .iter()
        .map(|f| {
            (
                f.arn().unwrap_or_default().to_string(),
                f.reason().unwrap_or_default().to_string(),
                f.detail().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let missing = answered_task_sets(refs, &sets, &failures)?;
    Ok((sets, missing))
}

/// Checks a DescribeTaskSets answer: the references reported MISSING, or an error for any other
/// failure, and for a requested task set that is neither described nor reported (a partial
/// answer must never read as "not there").
fn answered_task_sets(
    refs: &[String],
    sets: &[TaskSet],
    failures: &[(String, String, String)],
) -> Result<Vec<String>, AwsError> {
    if let Some((arn, reason, detail)) = failures.iter().find(|(_, r, _)| r != FAILURE_MISSING) {
        return Err(AwsError::Api {
            operation: "DescribeTaskSets",
            code: if reason.is_empty() {
                "Failure".into()
            } else {
                reason.clone()
            },
            message: format!("task set {arn}: {detail}")
                .trim_end_matches(": ")
                .to_string(),
            request_id: None,
        });
    }
    let missing: Vec<String> = failures.iter().map(|(a, _, _)| a.clone()).collect();
    let unanswered: Vec<&String> = refs
        .iter()
        .filter(|r| !sets.iter().any(|t| t.matches(r)) && !missing.contains(r))
        .collect();
    if !unanswered.is_empty() {
        return Err(AwsError::Unexpected(format!(
            "DescribeTaskSets neither described nor reported {}",
            unanswered
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(missing)
}

/// Everything CreateTaskSet needs for one task set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskSetSpec {
    pub cluster: String,
    pub service: String,
    pub task_definition: String,
    pub external_id: String,
    pub placement: Placement,
    pub target_group_arn: String,
    pub container_name: String,
    pub container_port: i32,
    pub scale_percent: f64,
    pub tags: BTreeMap<String, String>,
    /// Makes retries of the same create return the same task set instead of a duplicate.
    pub client_token: String,
}

pub async fn create_task_set(ecs: &Client, spec: &TaskSetSpec) -> Result<TaskSet, AwsError> {
    let bad = |e: aws_sdk_ecs::error::BuildError| AwsError::Unexpected(e.to_string());
    let mut req = ecs
        .create_task_set()
        .cluster(&spec.cluster)
        .service(&spec.service)
        .task_definition(&spec.task_definition)
        .external_id(&spec.external_id)
        .client_token(&spec.client_token)
        .scale(
            ecs::Scale::builder()
                .value(spec.scale_percent)
                .unit(ecs::ScaleUnit::Percent)
                .build(),
        )
        .load_balancers(
            ecs::LoadBalancer::builder()
                .target_group_arn(&spec.target_group_arn)
                .container_name(&spec.container_name)
                .container_port(spec.container_port)
                .build(),
        );
    let p = &spec.placement;
    if let Some(lt) = &p.launch_type {
        req = req.launch_type(ecs::LaunchType::from(lt.as_str()));
    }
    for cp in &p.capacity_providers {
        req = req.capacity_provider_strategy(
            ecs::CapacityProviderStrategyItem::builder()
                .capacity_provider(&cp.name)
                .weight(cp.weight)
                .base(cp.base)
                .build()
                .map_err(bad)?,
        );
    }
    if let Some(pv) = &p.platform_version {
        req = req.platform_version(pv);
    }
    if !p.subnets.is_empty() {
        let vpc = ecs::AwsVpcConfiguration::builder()
            .set_subnets(Some(p.subnets.clone()))
            .set_security_groups((!p.security_groups.is_empty()).then(|| p.security_groups.clone()))
            .assign_public_ip(if p.assign_public_ip {
                ecs::AssignPublicIp::Enabled
            } else {
                ecs::AssignPublicIp::Disabled
            })
            .build()
            .map_err(bad)?;
        req = req.network_configuration(
            ecs::NetworkConfiguration::builder()
                .awsvpc_configuration(vpc)
                .build(),
        );
    }
    for r in &p.service_registries {
        req = req.service_registries(
            ecs::ServiceRegistry::builder()
                .registry_arn(&r.registry_arn)
                .set_port(r.port)
                .set_container_name(r.container_name.clone())
                .set_container_port(r.container_port)
                .build(),
        );
    }
    for (k, v) in &spec.tags {
        req = req.tags(ecs::Tag::builder().key(k).value(v).build());
    }
    let id = format!("{} in cluster {}", spec.service, spec.cluster);
    // The client token makes every retry return the same task set, never a duplicate.
    let out = super::wait::retry_while(
        "CreateTaskSet",
        &id,
        propagation_timeout(),
        poll_interval(),
        not_propagated_yet,
        || async {
            req.clone().send().await.map_err(|e| {
                AwsError::from_sdk("CreateTaskSet", e, &[SERVICE_NOT_FOUND], "service", &id)
            })
        },
    )
    .await?;
    let t = out
        .task_set()
        .ok_or_else(|| AwsError::Unexpected("CreateTaskSet returned no task set".into()))?;
    let made = TaskSet::from_sdk(t);
    remember_write(
        &made.arn,
        t.created_at().and_then(|d| SystemTime::try_from(*d).ok()),
    );
    Ok(made)
}

pub async fn update_scale(
    ecs: &Client,
    cluster: &str,
    service: &str,
    task_set: &str,
    percent: f64,
) -> Result<TaskSet, AwsError> {
    let out = ecs
        .update_task_set()
        .cluster(cluster)
        .service(service)
        .task_set(task_set)
        .scale(
            ecs::Scale::builder()
                .value(percent)
                .unit(ecs::ScaleUnit::Percent)
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(
                "UpdateTaskSet",
                e,
                &[TASK_SET_NOT_FOUND],
                "task set",
                task_set,
            )
        })?;
    let t = out
        .task_set()
        .map(TaskSet::from_sdk)
        .ok_or_else(|| AwsError::Unexpected("UpdateTaskSet returned no task set".into()))?;
    remember_write(&t.arn, t.updated_time);
    Ok(t)
}

/// UpdateServicePrimaryTaskSet; returns the task set as ECS reports it afterwards.
pub async fn set_primary(
    ecs: &Client,
    cluster: &str,
    service: &str,
    task_set: &str,
) -> Result<TaskSet, AwsError> {
    let out = ecs
        .update_service_primary_task_set()
        .cluster(cluster)
        .service(service)
        .primary_task_set(task_set)
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(
                "UpdateServicePrimaryTaskSet",
                e,
                &[TASK_SET_NOT_FOUND],
                "task set",
                task_set,
            )
        })?;
    out.task_set().map(TaskSet::from_sdk).ok_or_else(|| {
        AwsError::Unexpected("UpdateServicePrimaryTaskSet returned no task set".into())
    })
}

/// Makes `task_set` (an ARN) PRIMARY and checks that ECS agrees: UpdateServicePrimaryTaskSet,
/// then one DescribeServices when the answer does not already show it PRIMARY. Returns the
/// task set as UpdateServicePrimaryTaskSet reported it, marked PRIMARY.
pub async fn set_primary_confirmed(
    ecs: &Client,
    cluster: &str,
    service: &str,
    task_set_arn: &str,
) -> Result<TaskSet, AwsError> {
    let mut after = set_primary(ecs, cluster, service, task_set_arn).await?;
    if after.is_primary() {
        return Ok(after);
    }
    let svc = find_service(ecs, cluster, service).await?;
    match svc.primary() {
        Some(p) if p.arn == task_set_arn => {
            after.status = status::PRIMARY.to_string();
            Ok(after)
        }
        other => Err(AwsError::NotPrimary {
            task_set: crate::arn::task_set_id(task_set_arn).to_string(),
            primary: other.map(|p| p.id.clone()),
        }),
    }
}

/// TagResource on a task set: ownership tags, release records (`ecsx:release`), and the
/// template's tags when only they change; `noun` names the resource in errors.
pub async fn tag_resource(
    ecs: &Client,
    noun: &'static str,
    arn: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), AwsError> {
    let mut req = ecs.tag_resource().resource_arn(arn);
    for (k, v) in tags {
        req = req.tags(ecs::Tag::builder().key(k).value(v).build());
    }
    req.send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("TagResource", e, &[], noun, arn))
}

/// The containers of a task definition, each with the container ports it maps: one
/// DescribeTaskDefinition call.
pub async fn task_definition_containers(
    ecs: &Client,
    task_definition: &str,
) -> Result<Vec<(String, Vec<i32>)>, AwsError> {
    let out = ecs
        .describe_task_definition()
        .task_definition(task_definition)
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(
                "DescribeTaskDefinition",
                e,
                &[],
                "task definition",
                task_definition,
            )
        })?;
    Ok(out
        .task_definition()
        .map(|t| {
            t.container_definitions()
                .iter()
                .map(|c| {
                    (
                        c.name().unwrap_or_default().to_string(),
                        c.port_mappings()
                            .iter()
                            .filter_map(|p| p.container_port())
                            .collect(),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// UntagResource: removes tag keys from a task set.
pub async fn untag_resource(
    ecs: &Client,
    noun: &'static str,
    arn: &str,
    keys: &[String],
) -> Result<(), AwsError> {
    ecs.untag_resource()
        .resource_arn(arn)
        .set_tag_keys(Some(keys.to_vec()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("UntagResource", e, &[], noun, arn))
}

/// DeleteTaskSet. A task set that is already gone counts as deleted.
pub async fn delete_task_set(
    ecs: &Client,
    cluster: &str,
    service: &str,
    task_set: &str,
    force: bool,
) -> Result<(), AwsError> {
    match ecs
        .delete_task_set()
        .cluster(cluster)
        .service(service)
        .task_set(task_set)
        .force(force)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        // A service being deleted takes its task sets with it.
        Err(e) => match AwsError::from_sdk(
            "DeleteTaskSet",
            e,
            &[TASK_SET_NOT_FOUND, SERVICE_NOT_FOUND, SERVICE_NOT_ACTIVE],
            "task set",
            task_set,
        ) {
            AwsError::NotFound { .. } => Ok(()),
            other => Err(other),
        },
    }
}

mod controller;
mod deployments;
mod list;
mod types;
mod waits;
mod writes;

pub use deployments::{
    continue_service_deployment, deployment_status, describe_service_deployments,
    find_service_deployment, find_service_deployments, list_service_deployments,
    stop_service_deployment, Hook, RevisionSummary, ServiceDeployment, DESCRIBE_DEPLOYMENTS_BATCH,
};

pub use controller::{switch_controller, wait_switched, ServiceSetup};
pub use list::{
    find_service_setups_tagged, find_services_tagged, list_services_page,
    services_with_ecs_routers, DESCRIBE_SERVICES_BATCH,
};
pub use types::{status, CapacityProvider, Placement, Service, ServiceRegistry, TaskSet};
pub use waits::{poll_interval, status_task_set, wait_gone, wait_steady};
use writes::remember_write;
pub use writes::{last_write, settle_window, Write};

#[cfg(test)]
mod tests;
