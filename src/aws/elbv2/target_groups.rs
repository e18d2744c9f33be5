//! Target groups: one by ARN, every one of the account's region (for adoption, paged), their
//! registered targets, and their deregistration delay.

use super::{next_marker, AwsError};
use aws_sdk_elasticloadbalancingv2::types::{self as elb};
use aws_sdk_elasticloadbalancingv2::Client;

/// A target group as ecsx needs it: which load balancers use it, what it routes to (VPC,
/// protocol, port, target type), and its name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    /// The load balancers whose listeners or rules forward to it (ELBv2's `LoadBalancerArns`).
    pub load_balancer_arns: Vec<String>,
    /// `TCP`, `UDP`, `TCP_UDP`, `TLS` on a Network Load Balancer; `HTTP`/`HTTPS` on an ALB.
    pub protocol: Option<String>,
    /// `HTTP1`, `HTTP2` or `GRPC` (HTTP/HTTPS target groups only).
    pub protocol_version: Option<String>,
    pub port: Option<i32>,
    pub vpc_id: Option<String>,
    /// `ip` for awsvpc tasks, `instance` for bridge and host networking.
    pub target_type: Option<String>,
}

impl TargetGroup {
    /// ECS refuses a task set on a target group no listener or rule forwards to
    /// ("does not have an associated load balancer").
    pub fn is_associated(&self) -> bool {
        !self.load_balancer_arns.is_empty()
    }

    /// Whether tasks registered in `self` would be reached like those in `other`: same VPC,
    /// protocol, protocol version, port and target type (what a blue/green pair shares).
    pub fn routes_like(&self, other: &TargetGroup) -> bool {
        self.vpc_id == other.vpc_id
            && self.protocol == other.protocol
            && self.protocol_version == other.protocol_version
            && self.port == other.port
            && self.target_type == other.target_type
    }

    fn from_sdk(t: &elb::TargetGroup) -> TargetGroup {
        TargetGroup {
            arn: t.target_group_arn().unwrap_or_default().to_string(),
            name: t.target_group_name().unwrap_or_default().to_string(),
            load_balancer_arns: t.load_balancer_arns().to_vec(),
            protocol: t.protocol().map(|p| p.as_str().to_string()),
            protocol_version: t.protocol_version().map(str::to_string),
            port: t.port(),
            vpc_id: t.vpc_id().map(str::to_string),
            target_type: t.target_type().map(|p| p.as_str().to_string()),
        }
    }
}

/// One DescribeTargetGroups call for one target group.
pub async fn find_target_group(elbv2: &Client, arn: &str) -> Result<TargetGroup, AwsError> {
    let out = elbv2
        .describe_target_groups()
        .target_group_arns(arn)
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(
                "DescribeTargetGroups",
                e,
                &["TargetGroupNotFound"],
                "target group",
                arn,
            )
        })?;
    out.target_groups()
        .iter()
        .find(|t| t.target_group_arn() == Some(arn))
        .map(TargetGroup::from_sdk)
        .ok_or_else(|| AwsError::NotFound {
            what: "target group",
            id: arn.to_string(),
        })
}

/// The most DescribeTargetGroups answers per page (ELBv2's limit for `PageSize`).
const PAGE_SIZE: i32 = 400;

/// Every target group of the region: DescribeTargetGroups without a filter, following
/// `NextMarker` (ELBv2 pages at up to 400). No filter narrows it to a VPC, so adoption reads
/// this once and shares it ([`crate::aws::reads::Reads::all_target_groups`]).
pub async fn all_target_groups(elbv2: &Client) -> Result<Vec<TargetGroup>, AwsError> {
    let mut found = Vec::new();
    let mut marker = None;
    loop {
        let out = elbv2
            .describe_target_groups()
            .page_size(PAGE_SIZE)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("DescribeTargetGroups", e, &[], "target groups", ""))?;
        found.extend(out.target_groups().iter().map(TargetGroup::from_sdk));
        match next_marker(out.next_marker(), found.len()) {
            Some(m) => marker = Some(m),
            None => return Ok(found),
        }
    }
}

/// How many targets are registered in `arn` (in any state, draining ones included): one
/// DescribeTargetHealth call. ECS registers each task of a task set in its target group.
pub async fn registered_targets(elbv2: &Client, arn: &str) -> Result<usize, AwsError> {
    let out = elbv2
        .describe_target_health()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(
                "DescribeTargetHealth",
                e,
                &["TargetGroupNotFound"],
                "target group",
                arn,
            )
        })?;
    Ok(out.target_health_descriptions().len())
}

/// ELBv2's default deregistration delay (the `deregistration_delay.timeout_seconds` attribute).
pub const DEFAULT_DEREGISTRATION_DELAY: std::time::Duration = std::time::Duration::from_secs(300);

/// How long a target of `arn` stays draining after deregistration: one
/// DescribeTargetGroupAttributes call; the 300 s default when the attribute is absent.
pub async fn deregistration_delay(
    elbv2: &Client,
    arn: &str,
) -> Result<std::time::Duration, AwsError> {
    let out = elbv2
        .describe_target_group_attributes()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(
                "DescribeTargetGroupAttributes",
                e,
                &["TargetGroupNotFound"],
                "target group",
                arn,
            )
        })?;
    Ok(out
        .attributes()
        .iter()
        .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
        .and_then(|a| a.value()?.parse::<u64>().ok())
        .map(std::time::Duration::from_secs)
        .unwrap_or(DEFAULT_DEREGISTRATION_DELAY))
}
