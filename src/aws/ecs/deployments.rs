//! Native ECS service deployments (services on the ECS deployment controller): find
//! (ListServiceDeployments + DescribeServiceDeployments), the lifecycle hook calls
//! (ContinueServiceDeployment) and StopServiceDeployment.

use super::*;

/// ECS's vocabulary for service deployments and their lifecycle hooks.
pub mod deployment_status {
    pub const PENDING: &str = "PENDING";
    pub const IN_PROGRESS: &str = "IN_PROGRESS";
    pub const SUCCESSFUL: &str = "SUCCESSFUL";
    pub const STOPPED: &str = "STOPPED";
    pub const STOP_REQUESTED: &str = "STOP_REQUESTED";
    pub const ROLLBACK_REQUESTED: &str = "ROLLBACK_REQUESTED";
    pub const ROLLBACK_IN_PROGRESS: &str = "ROLLBACK_IN_PROGRESS";
    pub const ROLLBACK_SUCCESSFUL: &str = "ROLLBACK_SUCCESSFUL";
    pub const ROLLBACK_FAILED: &str = "ROLLBACK_FAILED";
    /// Statuses of a deployment that is still going on (forwards or backwards).
    pub const ONGOING: [&str; 5] = [
        PENDING,
        IN_PROGRESS,
        STOP_REQUESTED,
        ROLLBACK_REQUESTED,
        ROLLBACK_IN_PROGRESS,
    ];
    /// A hook that waits for ContinueServiceDeployment.
    pub const HOOK_AWAITING_ACTION: &str = "AWAITING_ACTION";
    pub const HOOK_PAUSE: &str = "PAUSE";
    pub const ACTION_CONTINUE: &str = "CONTINUE";
    pub const ACTION_ROLLBACK: &str = "ROLLBACK";
    pub const STOP_ROLLBACK: &str = "ROLLBACK";
    pub const STOP_ABORT: &str = "ABORT";
}

const SERVICE_DEPLOYMENT_NOT_FOUND: &str = "ServiceDeploymentNotFoundException";
/// ListServiceDeployments answers at most 100 per page.
const LIST_PAGE: i32 = 100;
/// DescribeServiceDeployments takes at most 20 ARNs per call.
pub const DESCRIBE_DEPLOYMENTS_BATCH: usize = 20;

/// A service revision as a service deployment summarizes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RevisionSummary {
    pub arn: String,
    pub requested_task_count: i32,
    pub running_task_count: i32,
    pub pending_task_count: i32,
    pub production_traffic_weight: Option<f64>,
    pub test_traffic_weight: Option<f64>,
}

impl RevisionSummary {
    fn from_sdk(r: &ecs::ServiceRevisionSummary) -> Self {
        RevisionSummary {
            arn: r.arn().unwrap_or_default().to_string(),
            requested_task_count: r.requested_task_count(),
            running_task_count: r.running_task_count(),
            pending_task_count: r.pending_task_count(),
            production_traffic_weight: r.requested_production_traffic_weight(),
            test_traffic_weight: r.requested_test_traffic_weight(),
        }
    }
}

/// A lifecycle hook of a service deployment, as it ran or runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hook {
    pub id: String,
    /// `PAUSE` or `AWS_LAMBDA`.
    pub target_type: String,
    pub target_arn: Option<String>,
    /// `AWAITING_ACTION`, `IN_PROGRESS`, `SUCCEEDED`, `FAILED` or `TIMED_OUT`.
    pub status: String,
    pub expires_at: Option<String>,
    /// What ECS does when the hook times out: `CONTINUE` or `ROLLBACK`.
    pub timeout_action: Option<String>,
}

impl Hook {
    pub fn is_waiting(&self) -> bool {
        self.status == deployment_status::HOOK_AWAITING_ACTION
    }

    fn from_sdk(h: &ecs::DeploymentLifecycleHookDetail) -> Self {
        Hook {
            id: h.hook_id().unwrap_or_default().to_string(),
            target_type: h
                .target_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            target_arn: h.target_arn().map(str::to_string),
            status: h
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            expires_at: rfc3339(h.expires_at()),
            timeout_action: h.timeout_action().map(|a| a.as_str().to_string()),
        }
    }
}

/// A service deployment as DescribeServiceDeployments reports it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceDeployment {
    pub arn: String,
    pub service_arn: String,
    pub cluster_arn: String,
    pub status: String,
    pub status_reason: Option<String>,
    /// The lifecycle stage it is in (`PRE_PRODUCTION_TRAFFIC_SHIFT`, ...); None once over.
    pub lifecycle_stage: Option<String>,
    /// `ROLLING`, `BLUE_GREEN`, `CANARY` or `LINEAR`; None when ECS does not say.
    pub strategy: Option<String>,
    pub created_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub stopped_at: Option<String>,
    pub updated_at: Option<String>,
    pub source_revisions: Vec<RevisionSummary>,
    pub target_revision: Option<RevisionSummary>,
    pub hooks: Vec<Hook>,
}

impl ServiceDeployment {
    pub fn is_ongoing(&self) -> bool {
        deployment_status::ONGOING.contains(&self.status.as_str())
    }

    /// Whether it goes forwards and can still be stopped (PENDING or IN_PROGRESS).
    pub fn is_running_forward(&self) -> bool {
        self.status == deployment_status::PENDING || self.status == deployment_status::IN_PROGRESS
    }

    /// Hooks that wait for ContinueServiceDeployment.
    pub fn waiting_hooks(&self) -> impl Iterator<Item = &Hook> {
        self.hooks.iter().filter(|h| h.is_waiting())
    }

    /// The production traffic weight of the target revision, when ECS reports one.
    pub fn target_production_weight(&self) -> Option<f64> {
        self.target_revision
            .as_ref()
            .and_then(|r| r.production_traffic_weight)
    }

    pub(crate) fn from_sdk(d: &ecs::ServiceDeployment) -> Self {
        ServiceDeployment {
            arn: d.service_deployment_arn().unwrap_or_default().to_string(),
            service_arn: d.service_arn().unwrap_or_default().to_string(),
            cluster_arn: d.cluster_arn().unwrap_or_default().to_string(),
            status: d
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            status_reason: d.status_reason().map(str::to_string),
            lifecycle_stage: d.lifecycle_stage().map(|s| s.as_str().to_string()),
            strategy: d
                .deployment_configuration()
                .and_then(|c| c.strategy())
                .map(|s| s.as_str().to_string()),
            created_at: rfc3339(d.created_at()),
            started_at: rfc3339(d.started_at()),
            finished_at: rfc3339(d.finished_at()),
            stopped_at: rfc3339(d.stopped_at()),
            updated_at: rfc3339(d.updated_at()),
            source_revisions: d
                .source_service_revisions()
                .iter()
                .map(RevisionSummary::from_sdk)
                .collect(),
            target_revision: d.target_service_revision().map(RevisionSummary::from_sdk),
            hooks: d
                .lifecycle_hook_details()
                .iter()
                .map(Hook::from_sdk)
                .collect(),
        }
    }
}

fn rfc3339(t: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    t.and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}

/// The ARNs of a service's deployments, newest first as ECS lists them, at most `limit`
/// (0: all), only those in `statuses` when it is not empty.
pub async fn list_service_deployments(
    ecs: &Client,
    cluster: &str,
    service: &str,
    statuses: &[&str],
    limit: usize,
) -> Result<Vec<String>, AwsError> {
    let mut arns = Vec::new();
    let mut next_token = None;
    let filter: Option<Vec<ecs::ServiceDeploymentStatus>> =
        (!statuses.is_empty()).then(|| statuses.iter().map(|s| (*s).into()).collect());
    loop {
        let out = ecs
            .list_service_deployments()
            .cluster(cluster)
            .service(service)
            .set_status(filter.clone())
            .max_results(LIST_PAGE)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| not_found_as_service(e, cluster, service))?;
        arns.extend(
            out.service_deployments()
                .iter()
                .filter_map(|d| d.service_deployment_arn().map(str::to_string)),
        );
        next_token = out.next_token().map(str::to_string);
        if next_token.is_none() || (limit > 0 && arns.len() >= limit) {
            break;
        }
    }
    if limit > 0 {
        arns.truncate(limit);
    }
    Ok(arns)
}

fn not_found_as_service(
    e: aws_smithy_runtime_api::client::result::SdkError<
        aws_sdk_ecs::operation::list_service_deployments::ListServiceDeploymentsError,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
    cluster: &str,
    service: &str,
) -> AwsError {
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
    match e.code() {
        Some(CLUSTER_NOT_FOUND) => AwsError::NotFound {
            what: "cluster",
            id: cluster.to_string(),
        },
        _ => AwsError::from_sdk(
            "ListServiceDeployments",
            e,
            &[SERVICE_NOT_FOUND],
            "service",
            &format!("{service} in cluster {cluster}"),
        ),
    }
}

/// DescribeServiceDeployments in batches of [`DESCRIBE_DEPLOYMENTS_BATCH`], in the order of
/// `arns`; ARNs ECS reports MISSING are left out.
pub async fn describe_service_deployments(
    ecs: &Client,
    arns: &[String],
) -> Result<Vec<ServiceDeployment>, AwsError> {
    let mut found = Vec::with_capacity(arns.len());
    for batch in arns.chunks(DESCRIBE_DEPLOYMENTS_BATCH) {
        let out = ecs
            .describe_service_deployments()
            .set_service_deployment_arns(Some(batch.to_vec()))
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    "DescribeServiceDeployments",
                    e,
                    &[SERVICE_DEPLOYMENT_NOT_FOUND],
                    "service deployment",
                    batch.first().map(String::as_str).unwrap_or_default(),
                )
            })?;
        let mut described: Vec<ServiceDeployment> = out
            .service_deployments()
            .iter()
            .map(ServiceDeployment::from_sdk)
            .collect();
        for arn in batch {
            if let Some(i) = described.iter().position(|d| &d.arn == arn) {
                found.push(described.swap_remove(i));
            }
        }
    }
    Ok(found)
}

/// The service's deployments, newest first (at most `limit`, 0: all; only `statuses` when
/// not empty), described.
pub async fn find_service_deployments(
    ecs: &Client,
    cluster: &str,
    service: &str,
    statuses: &[&str],
    limit: usize,
) -> Result<Vec<ServiceDeployment>, AwsError> {
    let arns = list_service_deployments(ecs, cluster, service, statuses, limit).await?;
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    describe_service_deployments(ecs, &arns).await
}

/// One service deployment; NotFound when ECS does not know it.
pub async fn find_service_deployment(
    ecs: &Client,
    arn: &str,
) -> Result<ServiceDeployment, AwsError> {
    describe_service_deployments(ecs, &[arn.to_string()])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| AwsError::NotFound {
            what: "service deployment",
            id: arn.to_string(),
        })
}

/// ContinueServiceDeployment: `action` (`CONTINUE` or `ROLLBACK`) on the hook `hook_id`.
pub async fn continue_service_deployment(
    ecs: &Client,
    arn: &str,
    hook_id: &str,
    action: &str,
) -> Result<(), AwsError> {
    ecs.continue_service_deployment()
        .service_deployment_arn(arn)
        .hook_id(hook_id)
        .action(action.into())
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(
                "ContinueServiceDeployment",
                e,
                &[SERVICE_DEPLOYMENT_NOT_FOUND],
                "service deployment",
                arn,
            )
        })?;
    Ok(())
}

/// StopServiceDeployment with `stop_type` (`ROLLBACK` or `ABORT`).
pub async fn stop_service_deployment(
    ecs: &Client,
    arn: &str,
    stop_type: &str,
) -> Result<(), AwsError> {
    ecs.stop_service_deployment()
        .service_deployment_arn(arn)
        .stop_type(stop_type.into())
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(
                "StopServiceDeployment",
                e,
                &[SERVICE_DEPLOYMENT_NOT_FOUND],
                "service deployment",
                arn,
            )
        })?;
    Ok(())
}
