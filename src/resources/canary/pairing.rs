//! Adopting a plain forward: which target group becomes the canary's when listeners or rules
//! forward to the PRIMARY task set's target group alone, chosen by rules that leave nothing to
//! guess, or why none is.
//!
//! The usual state before ecsx is a blue/green pair of which only the blue target group is
//! forwarded to. A target group is the canary's when it is the only one that:
//! - is not the primary's and routes like it: same VPC, protocol, protocol version, port and
//!   target type;
//! - is attached to no load balancer (ELBv2's `LoadBalancerArns` is empty): no listener or rule
//!   of any load balancer forwards to it, so adopting it takes traffic from nobody;
//! - has no registered targets (DescribeTargetHealth): no task set or instance uses it.
//!
//! A target group a listener or rule already forwards to is never chosen, even on the same load
//! balancer: another service's target group looks the same from ELBv2. Several free ones are
//! not ranked (names are not evidence); the explanation lists them.

use crate::aws::elbv2::{Router, TargetGroup};

/// How many target groups an explanation names before "and N more".
const NAMED: usize = 5;

/// The listeners and rules that forward to `primary` alone: a plain `TargetGroupArn` forward,
/// or a weighted forward that lists only it. What an adopted plain forward manages.
pub(crate) fn plain_forwards(all: &[Router], primary: &str) -> Vec<Router> {
    all.iter()
        .filter(|r| {
            r.weights()
                .is_some_and(|w| !w.is_empty() && w.iter().all(|(tg, _)| tg == primary))
        })
        .cloned()
        .collect()
}

/// Why a target group that routes like the primary's cannot be its canary's.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Unfit {
    /// Listeners or rules of these load balancers forward to it.
    OnLoadBalancers(Vec<String>),
    /// This many targets are registered in it.
    Targets(usize),
}

/// The target groups that route like the primary's (same VPC, protocol, protocol version,
/// port and target type), split into those attached to no load balancer (still to be checked
/// for targets) and those that are.
pub(crate) fn routing_like(
    primary: &TargetGroup,
    all: &[TargetGroup],
) -> (Vec<TargetGroup>, Vec<(TargetGroup, Unfit)>) {
    let mut unattached = Vec::new();
    let mut attached = Vec::new();
    for t in all
        .iter()
        .filter(|t| t.arn != primary.arn && t.routes_like(primary))
    {
        if t.load_balancer_arns.is_empty() {
            unattached.push(t.clone());
        } else {
            attached.push((
                t.clone(),
                Unfit::OnLoadBalancers(t.load_balancer_arns.clone()),
            ));
        }
    }
    unattached.sort_by(|a, b| a.name.cmp(&b.name));
    attached.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    (unattached, attached)
}

/// The canary's target group: the one free candidate. Otherwise why none was chosen (no
/// candidate, none free, or several), naming what was found.
pub(crate) fn choose(
    primary: &TargetGroup,
    free: &[TargetGroup],
    unfit: &[(TargetGroup, Unfit)],
) -> Result<String, String> {
    match free {
        [one] => Ok(one.arn.clone()),
        [] if unfit.is_empty() => Err(format!(
            "no other target group routes like {} ({})",
            primary.name,
            kind(primary)
        )),
        [] => Err(format!(
            "no target group that routes like {} ({}) is free to be its canary's: {}",
            primary.name,
            kind(primary),
            named(unfit.iter().map(|(t, why)| match why {
                Unfit::OnLoadBalancers(lbs) => format!(
                    "{} (load balancer {} forwards to it)",
                    t.name,
                    lbs.iter()
                        .map(|l| balancer_label(l))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Unfit::Targets(n) => format!(
                    "{} ({n} registered target{})",
                    t.name,
                    if *n == 1 { "" } else { "s" }
                ),
            }))
        )),
        several => Err(format!(
            "several target groups could be its canary's ({}, attached to no load balancer, no registered targets): {}; ecsx does not guess between them",
            kind(primary),
            named(several.iter().map(|t| t.name.clone()))
        )),
    }
}

/// `VPC vpc-1, HTTP port 80, target type ip`.
fn kind(t: &TargetGroup) -> String {
    format!(
        "VPC {}, {} port {}, target type {}",
        t.vpc_id.as_deref().unwrap_or("?"),
        t.protocol.as_deref().unwrap_or("?"),
        t.port.map_or("?".to_string(), |p| p.to_string()),
        t.target_type.as_deref().unwrap_or("?")
    )
}

/// `app/NAME/ID` of a load balancer ARN: its name and id, as the console shows them.
fn balancer_label(arn: &str) -> &str {
    arn.split_once(":loadbalancer/")
        .map(|(_, rest)| rest)
        .unwrap_or(arn)
}

fn named(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    let mut out = items
        .iter()
        .take(NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > NAMED {
        out.push_str(&format!(" and {} more", items.len() - NAMED));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::elbv2::test_fixtures::router;

    fn tg(name: &str, vpc: &str, port: i32, lbs: &[&str]) -> TargetGroup {
        TargetGroup {
            arn: format!("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/{name}/1"),
            name: name.to_string(),
            load_balancer_arns: lbs.iter().map(|s| s.to_string()).collect(),
            protocol: Some("HTTP".into()),
            protocol_version: Some("HTTP1".into()),
            port: Some(port),
            vpc_id: Some(vpc.to_string()),
            target_type: Some("ip".into()),
        }
    }

    const LB: &str = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/prod/9";

    #[test]
    fn plain_forwards_are_those_to_the_primary_alone() {
        let blue = "arn:tg/blue";
        let routers = vec![
            router("plain", &[(blue, 1)]),
            router("split", &[(blue, 90), ("arn:tg/green", 10)]),
            router("other", &[("arn:tg/other", 1)]),
        ];
        let arns: Vec<String> = plain_forwards(&routers, blue)
            .into_iter()
            .map(|r| r.arn)
            .collect();
        assert_eq!(arns, ["plain"]);
    }

    #[test]
    fn only_one_free_target_group_of_the_same_kind_is_chosen() {
        let blue = tg("web-blue", "vpc-1", 80, &[LB]);
        let green = tg("web-green", "vpc-1", 80, &[]);
        let all = vec![
            blue.clone(),
            green.clone(),
            tg("other-vpc", "vpc-2", 80, &[]),
            tg("other-port", "vpc-1", 8080, &[]),
            tg("api-blue", "vpc-1", 80, &[LB]),
        ];
        let (free, unfit) = routing_like(&blue, &all);
        assert_eq!(free, vec![green.clone()]);
        assert_eq!(unfit.len(), 1);
        assert_eq!(choose(&blue, &free, &unfit), Ok(green.arn.clone()));

        // Two free ones: explained, not guessed.
        let two = vec![green.clone(), tg("web-spare", "vpc-1", 80, &[])];
        let why = choose(&blue, &two, &unfit).unwrap_err();
        assert!(why.contains("several target groups could be"), "{why}");
        assert!(why.contains("web-green, web-spare"), "{why}");

        // None free: each found one with its reason.
        let busy = vec![(green, Unfit::Targets(2))];
        let why = choose(&blue, &[], &[unfit, busy].concat()).unwrap_err();
        assert!(
            why.contains("api-blue (load balancer app/prod/9 forwards to it)"),
            "{why}"
        );
        assert!(why.contains("web-green (2 registered targets)"), "{why}");

        // Nothing like it at all.
        let why = choose(&blue, &[], &[]).unwrap_err();
        assert!(why.contains("no other target group routes like web-blue (VPC vpc-1, HTTP port 80, target type ip)"), "{why}");
    }
}
