//! ALB listeners and rules: read forward weights, and rewrite only the forward action.

use super::AwsError;
use aws_sdk_elasticloadbalancingv2::types::{self as elb};
use aws_sdk_elasticloadbalancingv2::Client;

mod router;

pub use router::{Balancer, Forward, Kind, OtherAction, Router, RouterAction, Stickiness};

/// Checks that an answer named every requested ARN: ELBv2 may page, and a partial answer must
/// never read as "nothing to shift".
fn complete(
    what: &'static str,
    requested: &[String],
    routers: Vec<Router>,
) -> Result<Vec<Router>, AwsError> {
    let missing: Vec<&str> = requested
        .iter()
        .filter(|a| !routers.iter().any(|r| &r.arn == *a))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        Ok(routers)
    } else {
        Err(AwsError::NotFound {
            what,
            id: missing.join(", "),
        })
    }
}

/// DescribeRules for all `arns`, following `NextMarker`; every ARN must come back.
pub async fn find_rules(elbv2: &Client, arns: &[String]) -> Result<Vec<Router>, AwsError> {
    if arns.is_empty() {
        return Ok(vec![]);
    }
    let found = all_pages(|marker| async move {
        let out = elbv2
            .describe_rules()
            .set_rule_arns(Some(arns.to_vec()))
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    "DescribeRules",
                    e,
                    &["RuleNotFound"],
                    "listener rule",
                    &arns.join(", "),
                )
            })?;
        Ok(rule_page(out.rules(), out.next_marker(), |_| true))
    })
    .await?;
    complete("listener rule", arns, found)
}

/// DescribeListeners for all `arns`, following `NextMarker`; every ARN must come back.
pub async fn find_listeners(elbv2: &Client, arns: &[String]) -> Result<Vec<Router>, AwsError> {
    if arns.is_empty() {
        return Ok(vec![]);
    }
    let found = all_pages(|marker| async move {
        let out = elbv2
            .describe_listeners()
            .set_listener_arns(Some(arns.to_vec()))
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    "DescribeListeners",
                    e,
                    &["ListenerNotFound"],
                    "listener",
                    &arns.join(", "),
                )
            })?;
        Ok(listener_page(out.listeners(), out.next_marker()))
    })
    .await?;
    complete("listener", arns, found)
}

/// One page of a Describe call: the routers it holds, how many items it had (filtered out
/// ones included), and the marker it ended with.
struct Page {
    routers: Vec<Router>,
    items: usize,
    next: Option<String>,
}

fn listener_page(listeners: &[elb::Listener], next: Option<&str>) -> Page {
    Page {
        routers: listeners
            .iter()
            .map(|l| {
                Router::from_sdk(
                    Kind::Listener,
                    l.listener_arn().unwrap_or_default(),
                    l.default_actions(),
                )
            })
            .collect(),
        items: listeners.len(),
        next: next.map(str::to_string),
    }
}

fn rule_page(rules: &[elb::Rule], next: Option<&str>, keep: impl Fn(&elb::Rule) -> bool) -> Page {
    Page {
        routers: rules
            .iter()
            .filter(|r| keep(r))
            .map(|r| Router::from_sdk(Kind::Rule, r.rule_arn().unwrap_or_default(), r.actions()))
            .collect(),
        items: rules.len(),
        next: next.map(str::to_string),
    }
}

/// Asks `page` for the first page, then with each marker it hands back, until one comes back
/// without (see [`next_marker`]), and returns the routers of every page.
async fn all_pages<F, Fut>(mut page: F) -> Result<Vec<Router>, AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page, AwsError>>,
{
    let mut found = Vec::new();
    let mut items = 0;
    let mut marker = None;
    loop {
        let p = page(marker.take()).await?;
        items += p.items;
        found.extend(p.routers);
        match next_marker(p.next.as_deref(), items) {
            Some(m) => marker = Some(m),
            None => return Ok(found),
        }
    }
}

/// The marker to ask with next: None at the end (no marker, or an empty one). `items` (so far)
/// bounds the loop against an endpoint that hands back the same marker forever.
fn next_marker(marker: Option<&str>, items: usize) -> Option<String> {
    const MAX_ITEMS: usize = 10_000;
    marker
        .filter(|m| !m.is_empty() && items < MAX_ITEMS)
        .map(str::to_string)
}

/// Every listener of a load balancer, following `NextMarker`.
async fn listeners_of(elbv2: &Client, lb: &str) -> Result<Vec<Router>, AwsError> {
    all_pages(|marker| async move {
        let out = elbv2
            .describe_listeners()
            .load_balancer_arn(lb)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    "DescribeListeners",
                    e,
                    &["LoadBalancerNotFound"],
                    "load balancer",
                    lb,
                )
            })?;
        Ok(listener_page(out.listeners(), out.next_marker()))
    })
    .await
}

/// The non-default rules of a listener, following `NextMarker`. NLB listeners have none (and
/// ELBv2 refuses the call for them), so they are not asked.
async fn rules_of(elbv2: &Client, listener: &str) -> Result<Vec<Router>, AwsError> {
    if Balancer::of_arn(listener) == Balancer::Network {
        return Ok(vec![]);
    }
    all_pages(|marker| async move {
        let out = elbv2
            .describe_rules()
            .listener_arn(listener)
            .set_marker(marker)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    "DescribeRules",
                    e,
                    &["ListenerNotFound"],
                    "listener",
                    listener,
                )
            })?;
        Ok(rule_page(out.rules(), out.next_marker(), |r| {
            r.is_default() != Some(true)
        }))
    })
    .await
}

/// A target group as ecsx needs it: which load balancers use it, and how long ELBv2 keeps
/// draining a deregistered target (what a deleted task set's DRAINING lasts).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetGroup {
    pub arn: String,
    pub load_balancer_arns: Vec<String>,
    /// `TCP`, `UDP`, `TCP_UDP`, `TLS` on a Network Load Balancer; `HTTP`/`HTTPS` on an ALB.
    pub protocol: Option<String>,
}

impl TargetGroup {
    /// ECS refuses a task set on a target group no listener or rule forwards to
    /// ("does not have an associated load balancer").
    pub fn is_associated(&self) -> bool {
        !self.load_balancer_arns.is_empty()
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
        .map(|t| TargetGroup {
            arn: arn.to_string(),
            load_balancer_arns: t.load_balancer_arns().to_vec(),
            protocol: t.protocol().map(|p| p.as_str().to_string()),
        })
        .ok_or_else(|| AwsError::NotFound {
            what: "target group",
            id: arn.to_string(),
        })
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

/// Finds the listeners and rules of the primary target group's load balancers that split
/// traffic between it and one other target group (`canary_tg` when known): what an imported
/// deployment manages. Returns them with the other target group. Used by import only.
pub async fn discover(
    elbv2: &Client,
    primary_tg: &str,
    canary_tg: Option<&str>,
) -> Result<(Vec<Router>, Option<String>), AwsError> {
    let lbs = find_target_group(elbv2, primary_tg)
        .await?
        .load_balancer_arns;
    let mut other: Option<String> = canary_tg.map(str::to_string);
    let mut both = |r: &Router| {
        let w = r.weights().unwrap_or_default();
        let rest: Vec<&String> = w
            .iter()
            .map(|(tg, _)| tg)
            .filter(|tg| *tg != primary_tg)
            .collect();
        if w.len() != 2 || rest.len() != 1 {
            return false;
        }
        match &other {
            Some(c) => rest[0] == c,
            None => {
                other = Some(rest[0].clone());
                true
            }
        }
    };
    let mut found = Vec::new();
    for lb in lbs {
        for listener in listeners_of(elbv2, &lb).await? {
            let rules = rules_of(elbv2, &listener.arn).await?;
            if both(&listener) {
                found.push(listener);
            }
            for rule in rules {
                if both(&rule) {
                    found.push(rule);
                }
            }
        }
    }
    // A rule can be listed under more than one listener call; keep each once.
    let mut seen = std::collections::HashSet::new();
    found.retain(|r| seen.insert(r.arn.clone()));
    Ok((found, other))
}

/// Router writes this process has started or finished; a shared refresh read of routers
/// (src/aws/reads) counts only while this has not moved since the read began.
static ROUTER_WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub(crate) fn router_writes() -> u64 {
    ROUTER_WRITES.load(std::sync::atomic::Ordering::SeqCst)
}

/// Sends `split` on the router, touching nothing but its forward action.
pub async fn set_split(
    elbv2: &Client,
    router: &Router,
    split: &[(String, i32)],
) -> Result<(), AwsError> {
    use std::sync::atomic::Ordering::SeqCst;
    // Before (a read in flight now may see either weights) and after (one made during the
    // write may hold the old ones).
    ROUTER_WRITES.fetch_add(1, SeqCst);
    let sent = send_split(elbv2, router, split).await;
    ROUTER_WRITES.fetch_add(1, SeqCst);
    sent
}

async fn send_split(
    elbv2: &Client,
    router: &Router,
    split: &[(String, i32)],
) -> Result<(), AwsError> {
    let actions: Vec<elb::Action> = router
        .rewritten(split)
        .iter()
        .map(RouterAction::to_sdk)
        .collect();
    match router.kind {
        Kind::Rule => elbv2
            .modify_rule()
            .rule_arn(&router.arn)
            .set_actions(Some(actions))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                AwsError::from_sdk(
                    "ModifyRule",
                    e,
                    &["RuleNotFound"],
                    "listener rule",
                    &router.arn,
                )
            }),
        Kind::Listener => elbv2
            .modify_listener()
            .listener_arn(&router.arn)
            .set_default_actions(Some(actions))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                AwsError::from_sdk(
                    "ModifyListener",
                    e,
                    &["ListenerNotFound"],
                    "listener",
                    &router.arn,
                )
            }),
    }
}

#[cfg(test)]
mod tests;

/// Routers for unit tests elsewhere in the crate, so they need no SDK types.
#[cfg(test)]
pub(crate) mod test_fixtures {
    use super::*;

    /// A listener `arn` whose only action forwards to `split` (target group, weight).
    pub(crate) fn router(arn: &str, split: &[(&str, i32)]) -> Router {
        Router::forwarding(Kind::Listener, arn, split)
    }
}
