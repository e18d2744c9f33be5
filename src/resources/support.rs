//! Pieces the resources share: AWS errors as diagnostics, service checks.

use crate::arn;
use crate::aws::ecs::{self, Service};
use crate::aws::wait::{self, Poll};
use crate::aws::AwsError;
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::Ctx;

/// The value of an AWS call, or None after reporting its failure with [`aws_error`].
pub fn reported<T>(
    result: Result<T, AwsError>,
    diags: &mut Diagnostics,
    path: Option<AttrPath>,
    summary: &str,
    subject: &str,
) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            aws_error(diags, path, summary, subject, &e);
            None
        }
    }
}

/// Adds an error diagnostic for an AWS failure, naming the objects and the AWS error code.
pub fn aws_error(
    diags: &mut Diagnostics,
    path: Option<AttrPath>,
    summary: &str,
    subject: &str,
    err: &AwsError,
) {
    let detail = match err {
        AwsError::Api { code, .. } => format!("{subject}: {err}\n\nAWS error code: {code}."),
        AwsError::Timeout { .. } => format!(
            "{subject}: {err}.\n\nRaise the limit in the resource's timeouts block if the service needs longer."
        ),
        _ => format!("{subject}: {err}."),
    };
    match path {
        Some(p) => diags.error_at(p, summary, detail),
        None => diags.error(summary, detail),
    }
}

/// Finds the service and checks it can run task sets: ACTIVE and EXTERNAL-controlled.
pub async fn external_service(
    ctx: &Ctx,
    cluster: &str,
    service: &str,
    diags: &mut Diagnostics,
) -> Option<Service> {
    find_external_service(ctx, cluster, service, true, Missing::Error, diags).await
}

/// [`external_service`] at apply, for a configuration that may have created the cluster or
/// the service moments ago: ECS can answer not-found for a short while after CreateService, so
/// not-found is retried for a bounded time (`ECSX_PROPAGATION_TIMEOUT`, default 2m) first.
pub async fn external_service_after_create(
    ctx: &Ctx,
    cluster: &str,
    service: &str,
    diags: &mut Diagnostics,
) -> Option<Service> {
    let what = format!("service {service} in cluster {cluster} to be visible");
    let seen = wait::until(
        &what,
        ecs::propagation_timeout(),
        ecs::poll_interval(),
        &ctx.stop,
        || async {
            match ecs::find_service(&ctx.aws.ecs, cluster, service).await {
                Ok(_) => Ok(Poll::Done(())),
                Err(e) if e.is_not_found() => {
                    crate::log::info(
                        "ECS does not show the service yet; retrying",
                        &[("cluster", cluster.into()), ("service", service.into())],
                    );
                    Ok(Poll::Pending(e.to_string()))
                }
                Err(e) => Err(e),
            }
        },
    )
    .await;
    if let Err(AwsError::Cancelled { .. }) = seen {
        diags.error(
            "Stopped",
            format!("Terraform stopped the apply while ecsx waited for service {service:?} in cluster {cluster:?} to appear."),
        );
        return None;
    }
    // Found, gone for good, or another error: the ordinary checks report each.
    external_service(ctx, cluster, service, diags).await
}

/// [`external_service`] at plan for a resource that must allow the cluster and service to be
/// created by the same apply: not-found is a warning, and the apply checks again.
pub async fn external_service_or_later(
    ctx: &Ctx,
    cluster: &str,
    service: &str,
    diags: &mut Diagnostics,
) -> Option<Service> {
    find_external_service(ctx, cluster, service, false, Missing::Warning, diags).await
}

/// What a cluster or service ECS does not know means for the caller.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    Error,
    Warning,
}

/// [`external_service`] at plan time: an INACTIVE (deleted) service is no error yet. Read drops
/// resources on it from the state with a warning, the plan shows the create, and the apply
/// refuses it, as ECS would, unless the service is back by then.
pub async fn external_service_at_plan(
    ctx: &Ctx,
    cluster: &str,
    service: &str,
    diags: &mut Diagnostics,
) -> Option<Service> {
    find_external_service(ctx, cluster, service, false, Missing::Error, diags).await
}

async fn find_external_service(
    ctx: &Ctx,
    cluster: &str,
    service: &str,
    inactive_is_error: bool,
    missing: Missing,
    diags: &mut Diagnostics,
) -> Option<Service> {
    let later = "If this configuration creates it (for example with aws_ecs_service), that is expected: ecsx checks again at apply, before it changes anything.";
    let svc = match ecs::find_service(&ctx.aws.ecs, cluster, service).await {
        Ok(s) => s,
        Err(AwsError::NotFound {
            what: "cluster", ..
        }) => {
            let detail = format!(
                "Service {service:?} was not found in cluster {cluster:?} (ClusterNotFoundException): the cluster does not exist. Check the cluster name and the provider's region ({}).",
                ctx.aws.region
            );
            match missing {
                Missing::Error => {
                    diags.error_at(AttrPath::attr("cluster"), "ECS cluster not found", detail)
                }
                Missing::Warning => diags.warning_at(
                    AttrPath::attr("cluster"),
                    "ECS cluster not found yet",
                    format!("{detail} {later}"),
                ),
            }
            return None;
        }
        Err(AwsError::NotFound { .. }) => {
            let detail = format!(
                "Service {service:?} was not found in cluster {cluster:?} (DescribeServices failure MISSING). Check the cluster and service names and the provider's region ({}).",
                ctx.aws.region
            );
            match missing {
                Missing::Error => {
                    diags.error_at(AttrPath::attr("service"), "ECS service not found", detail)
                }
                Missing::Warning => diags.warning_at(
                    AttrPath::attr("service"),
                    "ECS service not found yet",
                    format!("{detail} {later}"),
                ),
            }
            return None;
        }
        Err(e) => {
            aws_error(
                diags,
                Some(AttrPath::attr("service")),
                "Could not read the ECS service",
                &format!("service {service:?} in cluster {cluster:?}"),
                &e,
            );
            return None;
        }
    };
    if !svc.is_active() {
        if !inactive_is_error {
            return None;
        }
        diags.error_at(
            AttrPath::attr("service"),
            "ECS service is not active",
            format!("Service {service:?} in cluster {cluster:?} is {} (ServiceNotActiveException): task sets can only be managed on an ACTIVE service.", svc.status),
        );
        return None;
    }
    if !svc.is_external() {
        diags.error_at(
            AttrPath::attr("service"),
            "Service does not use the EXTERNAL deployment controller",
            format!(
                "Service {service:?} in cluster {cluster:?} uses the {} deployment controller. Task sets, and so ecsx, need the EXTERNAL one. ECS changes it in place (UpdateService deploymentController): an arrival block on ecsx_canary_deployment (from_controller = \"{}\") does so and adopts the running tasks.",
                svc.controller, svc.controller
            ),
        );
        return None;
    }
    Some(svc)
}

/// Splits an import id `CLUSTER/SERVICE`.
pub fn split_import_id(id: &str, diags: &mut Diagnostics) -> Option<(String, String)> {
    match id.split_once('/') {
        Some((c, s)) if arn::is_ecs_name(c) && arn::is_ecs_name(s) => {
            Some((c.to_string(), s.to_string()))
        }
        _ => {
            diags.error(
                "Invalid import id",
                format!(
                    "Expected CLUSTER/SERVICE (names, not ARNs), e.g. \"prod/web\"; got {id:?}."
                ),
            );
            None
        }
    }
}

/// `CLUSTER/SERVICE` from names or ARNs.
pub fn resource_id(cluster: &str, service: &str) -> String {
    format!(
        "{}/{}",
        arn::cluster_name(cluster),
        arn::service_name(service)
    )
}
