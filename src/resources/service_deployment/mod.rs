//! Native ECS service deployments (services on the ECS deployment controller, with the
//! BLUE_GREEN, CANARY or LINEAR strategy and PAUSE lifecycle hooks), seen and driven from
//! Terraform: the `ecsx_service_deployments` data source and the
//! `ecsx_service_deployment_continue` / `_rollback` / `_stop` actions.

mod actions;
mod data_source;
mod decide;

pub(crate) use actions::{ContinueDeployment, RollbackDeployment, StopDeployment};
pub(crate) use data_source::ServiceDeployments;

use super::support::aws_error;
use crate::aws::ecs::{self, deployment_status, ServiceDeployment};
use crate::aws::AwsError;
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::Ctx;
use crate::schema::{Attribute, Type, Validator};

fn cluster_attribute() -> Attribute {
    Attribute::required("cluster", Type::String, "The ECS cluster (name or ARN).")
        .check(Validator::NameOrArn("ecs", "cluster/"))
}

fn service_attribute() -> Attribute {
    Attribute::required(
        "service",
        Type::String,
        "The ECS service (name or ARN); native service deployments exist for services on the ECS deployment controller.",
    )
    .check(Validator::NameOrArn("ecs", "service/"))
}

/// `service NAME in cluster NAME`, for messages.
fn subject(cluster: &str, service: &str) -> String {
    format!("service {service:?} in cluster {cluster:?}")
}

/// What an action decides from: the deployments going on (newest first) and the newest one.
pub(crate) struct Observed {
    pub ongoing: Vec<ServiceDeployment>,
    pub newest: Option<ServiceDeployment>,
}

/// Reads the service's ongoing deployments (and, when there is none, its newest one); on an
/// error reports it (cluster or service not found at their attribute) and returns None.
pub(crate) async fn observe(
    ctx: &Ctx,
    cluster: &str,
    service: &str,
    diags: &mut Diagnostics,
) -> Option<Observed> {
    let client = &ctx.aws.ecs;
    let read = async {
        let ongoing =
            ecs::find_service_deployments(client, cluster, service, &deployment_status::ONGOING, 0)
                .await?;
        let newest = match ongoing.first() {
            Some(d) => Some(d.clone()),
            None => ecs::find_service_deployments(client, cluster, service, &[], 1)
                .await?
                .into_iter()
                .next(),
        };
        Ok::<_, AwsError>(Observed { ongoing, newest })
    };
    match read.await {
        Ok(o) => Some(o),
        Err(e) => {
            report_read_error(ctx, cluster, service, &e, diags);
            None
        }
    }
}

/// A failed read of a service's deployments, at the attribute it is about.
pub(crate) fn report_read_error(
    ctx: &Ctx,
    cluster: &str,
    service: &str,
    e: &AwsError,
    diags: &mut Diagnostics,
) {
    match e {
        AwsError::NotFound {
            what: "cluster", ..
        } => diags.error_at(
            AttrPath::attr("cluster"),
            "ECS cluster not found",
            format!(
                "Cluster {cluster:?} does not exist (ClusterNotFoundException). Check the cluster name and the provider's region ({}).",
                ctx.aws.region
            ),
        ),
        e if e.is_not_found() => diags.error_at(
            AttrPath::attr("service"),
            "ECS service not found",
            format!(
                "Service {service:?} was not found in cluster {cluster:?} (ServiceNotFoundException). Check the cluster and service names and the provider's region ({}).",
                ctx.aws.region
            ),
        ),
        e => aws_error(
            diags,
            None,
            "Could not read service deployments",
            &subject(cluster, service),
            e,
        ),
    }
}
