//! ALB listeners and rules: read forward weights, and rewrite only the forward action.

use super::AwsError;
use aws_sdk_elasticloadbalancingv2::types::{self as elb};
use aws_sdk_elasticloadbalancingv2::Client;

mod router;
mod target_groups;

pub use router::{Balancer, Forward, Kind, OtherAction, Router, RouterAction, Stickiness};
pub use target_groups::{
    all_target_groups, deregistration_delay, find_target_group, registered_targets, TargetGroup,
    DEFAULT_DEREGISTRATION_DELAY,
};

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

/// What import finds around the primary target group: the load balancers that use it, and
/// the listeners and rules on them.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// The primary target group as DescribeTargetGroups shows it.
    pub primary: TargetGroup,
    /// The listeners and rules that split traffic between the primary and one other target
    /// group: what an imported deployment manages.
    pub splits: Vec<Router>,
    /// That other target group (the canary's, when it was known).
    pub other: Option<String>,
    /// Every listener and rule of the primary's load balancers, each once, listeners before
    /// their rules.
    pub all: Vec<Router>,
}

/// Reads the primary target group, then every listener and rule of its load balancers, and
/// finds those that split traffic between it and one other target group (`canary_tg` when
/// known). Used by import only.
pub async fn discover(
    elbv2: &Client,
    primary_tg: &str,
    canary_tg: Option<&str>,
) -> Result<Discovered, AwsError> {
    let primary = find_target_group(elbv2, primary_tg).await?;
    let mut all = Vec::new();
    for lb in &primary.load_balancer_arns {
        for listener in listeners_of(elbv2, lb).await? {
            let rules = rules_of(elbv2, &listener.arn).await?;
            all.push(listener);
            all.extend(rules);
        }
    }
    // A rule can be listed under more than one listener call; keep each once.
    let mut seen = std::collections::HashSet::new();
    all.retain(|r| seen.insert(r.arn.clone()));
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
    let splits = all.iter().filter(|r| both(r)).cloned().collect();
    Ok(Discovered {
        primary,
        splits,
        other,
        all,
    })
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
