//! Native ECS deployments in the rig (tests/rig/native.py): a service on the ECS deployment
//! controller with a CANARY strategy and PAUSE hooks, releases of it, and waits on its
//! service deployments.

use super::{Aws, Emulator, Infra, CONTAINER_NAME, CONTAINER_PORT};
use aws_sdk_ecs::types::{
    AdvancedConfiguration, AwsVpcConfiguration, CanaryConfiguration, DeploymentConfiguration,
    DeploymentLifecycleHook, DeploymentLifecycleHookStage, DeploymentLifecycleHookTargetType,
    DeploymentLifecycleHookTimeoutConfiguration, DeploymentStrategy, LaunchType, LoadBalancer,
    NetworkConfiguration, ServiceDeployment,
};
use serde_json::json;
use std::time::{Duration, Instant};

/// Fast lifecycle stages: 0.2 s each, and one emulated minute (hook timeouts) in 1 s.
pub fn fast_native_stages(emu: &Emulator) {
    emu.configure(json!({"native_stage_seconds": 0.2, "native_minute_seconds": 1.0}));
}

impl Aws {
    /// Service `name` on the ECS deployment controller, running the first task definition,
    /// with a CANARY strategy (10%, no bake) behind the infra's rule and `pauses` PAUSE hooks
    /// before each production traffic shift (60 emulated minutes, then the default ROLLBACK).
    /// Waits until its first deployment is over.
    pub async fn create_native_canary_service(&self, infra: &Infra, name: &str, pauses: usize) {
        let lb = LoadBalancer::builder()
            .target_group_arn(&infra.blue_target_group_arn)
            .container_name(CONTAINER_NAME)
            .container_port(CONTAINER_PORT)
            .advanced_configuration(
                AdvancedConfiguration::builder()
                    .alternate_target_group_arn(&infra.green_target_group_arn)
                    .production_listener_rule(&infra.rule_arn)
                    .role_arn("arn:aws:iam::123456789012:role/ecs-infrastructure")
                    .build(),
            )
            .build();
        let hooks = (0..pauses).map(|_| {
            DeploymentLifecycleHook::builder()
                .target_type(DeploymentLifecycleHookTargetType::Pause)
                .lifecycle_stages(DeploymentLifecycleHookStage::PreProductionTrafficShift)
                .timeout_configuration(
                    DeploymentLifecycleHookTimeoutConfiguration::builder()
                        .timeout_in_minutes(60)
                        .build(),
                )
                .build()
        });
        let config = DeploymentConfiguration::builder()
            .strategy(DeploymentStrategy::Canary)
            .canary_configuration(
                CanaryConfiguration::builder()
                    .canary_percent(10.0)
                    .canary_bake_time_in_minutes(0)
                    .build(),
            )
            .bake_time_in_minutes(0)
            .set_lifecycle_hooks(Some(hooks.collect()))
            .build();
        let network = awsvpc(infra);
        self.ecs
            .create_service()
            .cluster(&infra.cluster)
            .service_name(name)
            .task_definition(&infra.task_definitions[0])
            .desired_count(2)
            .launch_type(LaunchType::Fargate)
            .network_configuration(network)
            .load_balancers(lb)
            .deployment_configuration(config)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateService {name}: {e:?}"));
        self.wait_deployment(&infra.cluster, name, "the first deployment to end", |d| {
            d.status().map(|s| s.as_str()) == Some("SUCCESSFUL")
        })
        .await;
    }

    /// Releases task definition `td` on a native service and waits until a hook waits.
    pub async fn release_native(
        &self,
        cluster: &str,
        service: &str,
        td: &str,
    ) -> ServiceDeployment {
        self.ecs
            .update_service()
            .cluster(cluster)
            .service(service)
            .task_definition(td)
            .send()
            .await
            .unwrap_or_else(|e| panic!("UpdateService {service}: {e:?}"));
        self.wait_deployment(cluster, service, "a paused hook", |d| {
            d.lifecycle_hook_details()
                .iter()
                .any(|h| h.status().map(|s| s.as_str()) == Some("AWAITING_ACTION"))
        })
        .await
    }

    /// The service's deployments, newest first: (ARN, status).
    pub async fn native_deployments(&self, cluster: &str, service: &str) -> Vec<(String, String)> {
        let out = self
            .ecs
            .list_service_deployments()
            .cluster(cluster)
            .service(service)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListServiceDeployments {service}: {e:?}"));
        out.service_deployments()
            .iter()
            .map(|d| {
                (
                    d.service_deployment_arn().unwrap_or_default().to_string(),
                    d.status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect()
    }

    /// The newest deployment of the service, described.
    pub async fn newest_deployment(&self, cluster: &str, service: &str) -> ServiceDeployment {
        let (arn, _) = self
            .native_deployments(cluster, service)
            .await
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{service} has no service deployment"));
        self.ecs
            .describe_service_deployments()
            .service_deployment_arns(arn)
            .send()
            .await
            .expect("DescribeServiceDeployments")
            .service_deployments()
            .first()
            .cloned()
            .expect("the deployment")
    }

    /// Waits (up to 20 s) until the newest deployment satisfies `done`.
    pub async fn wait_deployment(
        &self,
        cluster: &str,
        service: &str,
        what: &str,
        done: impl Fn(&ServiceDeployment) -> bool,
    ) -> ServiceDeployment {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let d = self.newest_deployment(cluster, service).await;
            if done(&d) {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "waited in vain for {what}: {d:#?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Service `name` on the ECS deployment controller with the default ROLLING strategy, two
    /// Fargate tasks of the first task definition behind the blue target group: what an
    /// `aws_ecs_service` of hashicorp/aws makes by default. `customize` adds to the
    /// CreateService request; with `wait`, returns once its first deployment has ended.
    pub async fn create_rolling_service(
        &self,
        infra: &Infra,
        name: &str,
        customize: impl FnOnce(
            aws_sdk_ecs::operation::create_service::builders::CreateServiceFluentBuilder,
        )
            -> aws_sdk_ecs::operation::create_service::builders::CreateServiceFluentBuilder,
        wait: bool,
    ) {
        let lb = LoadBalancer::builder()
            .target_group_arn(&infra.blue_target_group_arn)
            .container_name(CONTAINER_NAME)
            .container_port(CONTAINER_PORT)
            .build();
        let network = awsvpc(infra);
        let request = self
            .ecs
            .create_service()
            .cluster(&infra.cluster)
            .service_name(name)
            .task_definition(&infra.task_definitions[0])
            .desired_count(2)
            .launch_type(LaunchType::Fargate)
            .network_configuration(network)
            .load_balancers(lb);
        customize(request)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateService {name}: {e:?}"));
        if wait {
            self.wait_deployment(&infra.cluster, name, "the first deployment to end", |d| {
                d.status().map(|s| s.as_str()) == Some("SUCCESSFUL")
            })
            .await;
        }
    }

    /// The service's deployment controller: `ECS`, `CODE_DEPLOY` or `EXTERNAL`.
    pub async fn controller(&self, cluster: &str, service: &str) -> String {
        self.service(cluster, service)
            .await
            .and_then(|s| {
                s.deployment_controller()
                    .map(|c| c.r#type().as_str().to_string())
            })
            .unwrap_or_else(|| "ECS".into())
    }

    /// The task definition the service runs.
    pub async fn service_task_definition(&self, cluster: &str, service: &str) -> String {
        self.service(cluster, service)
            .await
            .and_then(|s| s.task_definition().map(str::to_string))
            .unwrap_or_default()
    }
}

/// The infra's subnets and security group, as a service's awsvpc network configuration.
fn awsvpc(infra: &Infra) -> NetworkConfiguration {
    NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(infra.subnets.clone()))
                .security_groups(&infra.security_group)
                .build()
                .expect("awsvpc configuration"),
        )
        .build()
}
