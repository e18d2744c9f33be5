//! Listing services: ListServices pages and DescribeServices in batches, with tags.

use super::controller::ServiceSetup;
use super::*;

/// ListServices accepts at most 100 results per page.
const LIST_SERVICES_PAGE: i32 = 100;
/// DescribeServices accepts at most 10 services per call.
pub const DESCRIBE_SERVICES_BATCH: usize = 10;

/// One page of ListServices: service ARNs and the token of the next page.
pub async fn list_services_page(
    ecs: &Client,
    cluster: &str,
    next_token: Option<String>,
) -> Result<(Vec<String>, Option<String>), AwsError> {
    let out = ecs
        .list_services()
        .cluster(cluster)
        .max_results(LIST_SERVICES_PAGE)
        .set_next_token(next_token)
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk("ListServices", e, &[CLUSTER_NOT_FOUND], "cluster", cluster)
        })?;
    Ok((
        out.service_arns().to_vec(),
        out.next_token().map(str::to_string),
    ))
}

/// One DescribeServices call for up to [`DESCRIBE_SERVICES_BATCH`] services, with their tags.
/// Services AWS reports MISSING are left out (they went away since ListServices).
pub async fn find_services_tagged(
    ecs: &Client,
    cluster: &str,
    services: &[String],
) -> Result<Vec<(Service, BTreeMap<String, String>)>, AwsError> {
    Ok(find_service_setups_tagged(ecs, cluster, services)
        .await?
        .into_iter()
        .map(|(s, tags)| (s.service, tags))
        .collect())
}

/// [`find_services_tagged`], each service as a change of its deployment controller reads it
/// ([`ServiceSetup`], without its service deployments), from the same one call.
pub async fn find_service_setups_tagged(
    ecs: &Client,
    cluster: &str,
    services: &[String],
) -> Result<Vec<(ServiceSetup, BTreeMap<String, String>)>, AwsError> {
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .set_services(Some(services.to_vec()))
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
    Ok(out
        .services()
        .iter()
        .map(|s| {
            let tags = s
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect();
            (ServiceSetup::from_sdk(s), tags)
        })
        .collect())
}

/// The services of `cluster` whose load balancers name listener rules or listeners for ECS to
/// shift ([`Service::ecs_routers`]): every ListServices page, then DescribeServices in batches.
pub async fn services_with_ecs_routers(
    ecs: &Client,
    cluster: &str,
) -> Result<Vec<Service>, AwsError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let (arns, next) = list_services_page(ecs, cluster, token).await?;
        for batch in arns.chunks(DESCRIBE_SERVICES_BATCH) {
            let found = find_services_tagged(ecs, cluster, batch).await?;
            out.extend(
                found
                    .into_iter()
                    .map(|(s, _)| s)
                    .filter(|s| !s.ecs_routers.is_empty()),
            );
        }
        match next {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok(out),
        }
    }
}
