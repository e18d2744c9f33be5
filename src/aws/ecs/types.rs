//! ECS's objects as ecsx reads them: services and task sets, their statuses and placement,
//! converted once from the SDK's types.

use super::writes::{settle_window, Write};
use aws_sdk_ecs::types as ecs;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// ECS's vocabulary: task set and service statuses, stability, deployment controllers.
pub mod status {
    pub const PRIMARY: &str = "PRIMARY";
    pub const ACTIVE: &str = "ACTIVE";
    pub const DRAINING: &str = "DRAINING";
    pub const STEADY_STATE: &str = "STEADY_STATE";
    /// A service's status while it exists (`DRAINING` and `INACTIVE` once deleted).
    pub const SERVICE_ACTIVE: &str = "ACTIVE";
    pub const CONTROLLER_EXTERNAL: &str = "EXTERNAL";
    pub const CONTROLLER_ECS: &str = "ECS";
    pub const CONTROLLER_CODE_DEPLOY: &str = "CODE_DEPLOY";
}

/// A service as ecsx needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub arn: String,
    pub name: String,
    pub cluster_arn: String,
    pub status: String,
    /// `ECS`, `CODE_DEPLOY` or `EXTERNAL`.
    pub controller: String,
    pub desired_count: i32,
    /// Task sets as DescribeServices lists them (without tags).
    pub task_sets: Vec<TaskSet>,
    /// The service's own tags (DescribeServices with `include = TAGS`).
    pub tags: BTreeMap<String, String>,
    /// The listener rules (or NLB listeners) whose weights ECS itself shifts for this service:
    /// `productionListenerRule` and `testListenerRule` of its load balancers'
    /// `advancedConfiguration` (native blue/green, canary and linear deployments).
    pub ecs_routers: Vec<String>,
}

impl Service {
    pub fn primary(&self) -> Option<&TaskSet> {
        self.task_sets.iter().find(|t| t.is_primary())
    }

    pub fn is_active(&self) -> bool {
        self.status == status::SERVICE_ACTIVE
    }

    pub fn is_external(&self) -> bool {
        self.controller == status::CONTROLLER_EXTERNAL
    }

    /// A service as DescribeServices reports it.
    pub(crate) fn from_sdk(s: &ecs::Service) -> Service {
        Service {
            arn: s.service_arn().unwrap_or_default().to_string(),
            name: s.service_name().unwrap_or_default().to_string(),
            cluster_arn: s.cluster_arn().unwrap_or_default().to_string(),
            status: s.status().unwrap_or_default().to_string(),
            controller: s
                .deployment_controller()
                .map(|d| d.r#type().as_str().to_string())
                .unwrap_or_else(|| "ECS".to_string()),
            desired_count: s.desired_count(),
            task_sets: s.task_sets().iter().map(TaskSet::from_sdk).collect(),
            tags: s
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect(),
            ecs_routers: s
                .load_balancers()
                .iter()
                .filter_map(|lb| lb.advanced_configuration())
                .flat_map(|a| [a.production_listener_rule(), a.test_listener_rule()])
                .flatten()
                .map(str::to_string)
                .collect(),
        }
    }
}

/// Where and how a task set's tasks run: everything CreateTaskSet takes besides the task
/// definition, the target group and the scale. TaskSet reports it, TaskSetSpec sends it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Placement {
    pub launch_type: Option<String>,
    pub capacity_providers: Vec<CapacityProvider>,
    pub platform_version: Option<String>,
    /// awsvpc networking; no subnets means no network configuration.
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    /// Cloud Map registries (ECS takes at most one per task set).
    pub service_registries: Vec<ServiceRegistry>,
}

impl Placement {
    /// The placement of a task set or service as ECS describes it (both carry the same
    /// fields).
    pub(crate) fn from_sdk(
        launch_type: Option<&ecs::LaunchType>,
        capacity_providers: &[ecs::CapacityProviderStrategyItem],
        platform_version: Option<&str>,
        network: Option<&ecs::NetworkConfiguration>,
        registries: &[ecs::ServiceRegistry],
    ) -> Placement {
        let vpc = network.and_then(|n| n.awsvpc_configuration());
        Placement {
            launch_type: launch_type.map(|l| l.as_str().to_string()),
            capacity_providers: capacity_providers
                .iter()
                .map(|c| CapacityProvider {
                    name: c.capacity_provider().to_string(),
                    weight: c.weight(),
                    base: c.base(),
                })
                .collect(),
            platform_version: platform_version.map(str::to_string),
            subnets: vpc.map(|v| v.subnets().to_vec()).unwrap_or_default(),
            security_groups: vpc
                .map(|v| v.security_groups().to_vec())
                .unwrap_or_default(),
            assign_public_ip: vpc.and_then(|v| v.assign_public_ip())
                == Some(&ecs::AssignPublicIp::Enabled),
            service_registries: registries
                .iter()
                .map(|r| ServiceRegistry {
                    registry_arn: r.registry_arn().unwrap_or_default().to_string(),
                    port: r.port(),
                    container_name: r.container_name().map(str::to_string),
                    container_port: r.container_port(),
                })
                .collect(),
        }
    }
}

/// One Cloud Map registry of a task set.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceRegistry {
    pub registry_arn: String,
    pub port: Option<i32>,
    pub container_name: Option<String>,
    pub container_port: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskSet {
    pub id: String,
    pub arn: String,
    /// `PRIMARY`, `ACTIVE` or `DRAINING`.
    pub status: String,
    pub task_definition: String,
    pub scale_percent: f64,
    /// `STEADY_STATE` or `STABILIZING`.
    pub stability_status: String,
    pub external_id: Option<String>,
    pub target_group_arns: Vec<String>,
    pub created_at: Option<String>,
    /// When the status last changed: for a DRAINING task set, when its deletion began.
    pub updated_at: Option<String>,
    /// `updated_at` as a time: when the task set was last written, by ECS's clock.
    pub updated_time: Option<SystemTime>,
    /// When ECS last computed `stability_status`: a value older than the last write is stale.
    pub stability_status_at: Option<SystemTime>,
    pub tags: BTreeMap<String, String>,
    pub computed_desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    /// How it was created, so an import can rebuild the template.
    pub placement: Placement,
    pub container_name: Option<String>,
    pub container_port: Option<i32>,
}

impl TaskSet {
    /// What ECS reports: STEADY_STATE. On its own this can be stale right after a write; a
    /// wait uses [`TaskSet::settled_since`].
    pub fn is_steady(&self) -> bool {
        self.stability_status == status::STEADY_STATE
    }

    pub fn is_primary(&self) -> bool {
        self.status == status::PRIMARY
    }

    pub fn is_draining(&self) -> bool {
        self.status == status::DRAINING
    }

    /// Whether the task set has really settled after ecsx's last write to it: STEADY_STATE,
    /// every computed task running and none pending, and a stability computed after the
    /// write, or, once [`settle_window`] has passed since the write with nothing recomputed,
    /// the counts alone (a write that changed no task count may never be re-dated). ECS
    /// computes stability asynchronously, so right after UpdateTaskSet it can still report the
    /// STEADY_STATE and counts from before. Err says what is awaited.
    pub fn settled_since(&self, written: Option<Write>) -> Result<(), String> {
        let counts = format!(
            "running {}/{} pending {}",
            self.running_count, self.computed_desired_count, self.pending_count
        );
        if !self.is_steady() {
            return Err(format!(
                "{} {} {counts}",
                self.stability_status, self.status
            ));
        }
        if self.running_count != self.computed_desired_count || self.pending_count != 0 {
            return Err(format!("STEADY_STATE but {counts}"));
        }
        let Some(w) = written else { return Ok(()) };
        let window = settle_window();
        if w.local.elapsed() >= window {
            return Ok(());
        }
        match self.stability_status_at {
            Some(at) if at <= w.at => Err(format!(
                "STEADY_STATE from before the last write ({counts}); waiting up to {} after it for ECS to recompute it",
                crate::duration::format(window)
            )),
            None => Err(format!("STEADY_STATE without stabilityStatusAt ({counts})")),
            Some(_) => Ok(()),
        }
    }

    /// Whether `reference` (an id or an ARN) names this task set.
    pub fn matches(&self, reference: &str) -> bool {
        reference == self.id || reference == self.arn
    }

    pub(super) fn from_sdk(t: &ecs::TaskSet) -> TaskSet {
        TaskSet {
            id: t.id().unwrap_or_default().to_string(),
            arn: t.task_set_arn().unwrap_or_default().to_string(),
            status: t.status().unwrap_or_default().to_string(),
            task_definition: t.task_definition().unwrap_or_default().to_string(),
            scale_percent: t.scale().map(|s| s.value()).unwrap_or(0.0),
            stability_status: t
                .stability_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            external_id: t.external_id().map(str::to_string),
            target_group_arns: t
                .load_balancers()
                .iter()
                .filter_map(|lb| lb.target_group_arn().map(str::to_string))
                .collect(),
            created_at: t
                .created_at()
                .and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
            updated_at: t
                .updated_at()
                .and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
            updated_time: t.updated_at().and_then(|d| SystemTime::try_from(*d).ok()),
            stability_status_at: t
                .stability_status_at()
                .and_then(|d| SystemTime::try_from(*d).ok()),
            tags: t
                .tags()
                .iter()
                .filter_map(|tag| Some((tag.key()?.to_string(), tag.value()?.to_string())))
                .collect(),
            computed_desired_count: t.computed_desired_count(),
            running_count: t.running_count(),
            pending_count: t.pending_count(),
            placement: Placement::from_sdk(
                t.launch_type(),
                t.capacity_provider_strategy(),
                t.platform_version(),
                t.network_configuration(),
                t.service_registries(),
            ),
            container_name: t
                .load_balancers()
                .first()
                .and_then(|lb| lb.container_name().map(str::to_string)),
            container_port: t
                .load_balancers()
                .first()
                .and_then(|lb| lb.container_port()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CapacityProvider {
    pub name: String,
    pub weight: i32,
    pub base: i32,
}
