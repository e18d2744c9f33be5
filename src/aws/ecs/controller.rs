//! Changing a service's deployment controller in place (UpdateService `deploymentController`):
//! what DescribeServices tells of the refusals ECS would make, the switch itself, and the wait
//! for the task set that holds the running tasks afterwards.

use super::deployments::{deployment_status, list_service_deployments};
use super::types::{status, Placement, Service, TaskSet};
use super::{describe_service, poll_interval};
use crate::aws::wait::{self, Poll};
use crate::aws::AwsError;
use aws_sdk_ecs::types as ecs;
use aws_sdk_ecs::Client;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A service as a change of its deployment controller needs it: what runs (which becomes a
/// task set after ECS→EXTERNAL), and what ECS refuses the change for.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSetup {
    /// The ordinary view: controller, desired count, task sets, tags.
    pub service: Service,
    pub task_definition: Option<String>,
    pub running_count: i32,
    /// The target groups of the service's load balancers, in order.
    pub target_group_arns: Vec<String>,
    pub container_name: Option<String>,
    pub container_port: Option<i32>,
    pub placement: Placement,
    /// `deploymentConfiguration.strategy`; `ROLLING` when ECS does not say.
    pub strategy: String,
    /// `deploymentConfiguration.alarms.enable`.
    pub alarms_enabled: bool,
    /// `deploymentConfiguration.deploymentCircuitBreaker.enable`.
    pub circuit_breaker_enabled: bool,
    /// Service Connect is enabled on the PRIMARY deployment.
    pub service_connect: bool,
    /// The PRIMARY deployment has VPC Lattice configurations.
    pub vpc_lattice: bool,
    /// The service deployments still going on (ListServiceDeployments), newest first; read
    /// only for a service on the ECS controller, the only one that has them.
    pub ongoing_deployments: Vec<String>,
    /// The one going on is the service's first: it starts the tasks of a new service.
    pub first_deployment: bool,
}

impl ServiceSetup {
    /// One DescribeServices call, and for an ECS-controller service one
    /// ListServiceDeployments call for the deployments still going on.
    pub async fn find(ecs: &Client, cluster: &str, service: &str) -> Result<Self, AwsError> {
        let s = describe_service(ecs, cluster, service).await?;
        let mut setup = Self::from_sdk(&s);
        setup.read_deployments(ecs, cluster).await?;
        Ok(setup)
    }

    /// For an active ECS-controller service (as DescribeServices showed it, say in a listing's
    /// batch): one ListServiceDeployments call for the deployments still going on, and when
    /// one is, a second to tell whether it is the service's first.
    pub async fn read_deployments(&mut self, ecs: &Client, cluster: &str) -> Result<(), AwsError> {
        if self.service.controller != status::CONTROLLER_ECS || !self.service.is_active() {
            return Ok(());
        }
        let service = self.service.name.as_str();
        self.ongoing_deployments =
            list_service_deployments(ecs, cluster, service, &deployment_status::ONGOING, 0).await?;
        if !self.ongoing_deployments.is_empty() {
            let all = list_service_deployments(ecs, cluster, service, &[], 2).await?;
            self.first_deployment = all.len() == 1;
        }
        Ok(())
    }

    pub(crate) fn from_sdk(s: &ecs::Service) -> Self {
        let config = s.deployment_configuration();
        let primary = s
            .deployments()
            .iter()
            .find(|d| d.status() == Some(status::PRIMARY));
        let first_lb = s.load_balancers().first();
        ServiceSetup {
            service: Service::from_sdk(s),
            task_definition: s.task_definition().map(str::to_string),
            running_count: s.running_count(),
            target_group_arns: s
                .load_balancers()
                .iter()
                .filter_map(|lb| lb.target_group_arn().map(str::to_string))
                .collect(),
            container_name: first_lb.and_then(|lb| lb.container_name().map(str::to_string)),
            container_port: first_lb.and_then(|lb| lb.container_port()),
            placement: Placement::from_sdk(
                s.launch_type(),
                s.capacity_provider_strategy(),
                s.platform_version(),
                s.network_configuration(),
                s.service_registries(),
            ),
            strategy: config
                .and_then(|c| c.strategy())
                .map(|st| st.as_str().to_string())
                .unwrap_or_else(|| "ROLLING".to_string()),
            alarms_enabled: config.and_then(|c| c.alarms()).is_some_and(|a| a.enable()),
            circuit_breaker_enabled: config
                .and_then(|c| c.deployment_circuit_breaker())
                .is_some_and(|b| b.enable()),
            service_connect: primary
                .and_then(|d| d.service_connect_configuration())
                .is_some_and(|c| c.enabled()),
            vpc_lattice: primary.is_some_and(|d| !d.vpc_lattice_configurations().is_empty()),
            ongoing_deployments: Vec::new(),
            first_deployment: false,
        }
    }

    /// The task sets DescribeServices lists that are not DRAINING.
    pub fn live_task_sets(&self) -> Vec<&TaskSet> {
        self.service
            .task_sets
            .iter()
            .filter(|t| !t.is_draining())
            .collect()
    }
}

/// UpdateService with only `deploymentController`: the change ECS makes in place.
pub async fn switch_controller(
    ecs: &Client,
    cluster: &str,
    service: &str,
    to: &str,
) -> Result<(), AwsError> {
    ecs.update_service()
        .cluster(cluster)
        .service(service)
        .deployment_controller(
            ecs::DeploymentController::builder()
                .r#type(to.into())
                .build()
                .map_err(|e| AwsError::Unexpected(e.to_string()))?,
        )
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            AwsError::from_sdk(
                "UpdateService",
                e,
                &["ServiceNotFoundException"],
                "service",
                &format!("{service} in cluster {cluster}"),
            )
        })
}

/// Waits until the service reports the EXTERNAL controller and a live task set (the running
/// tasks ECS left in one after the switch); returns the service as then described.
pub async fn wait_switched(
    ecs: &Client,
    cluster: &str,
    service: &str,
    timeout: Duration,
    stop: &CancellationToken,
) -> Result<Service, AwsError> {
    let what = format!("service {service} in cluster {cluster} to use the EXTERNAL controller");
    wait::until(&what, timeout, poll_interval(), stop, || async {
        let s = super::find_service(ecs, cluster, service).await?;
        if !s.is_external() {
            return Ok(Poll::Pending(format!("controller {}", s.controller)));
        }
        if s.task_sets.iter().all(|t| t.is_draining()) {
            return Ok(Poll::Pending("no task set yet".to_string()));
        }
        Ok(Poll::Done(s))
    })
    .await
}
