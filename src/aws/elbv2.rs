//! ALB listeners and rules: read forward weights, and rewrite only the forward action.

use super::AwsError;
use aws_sdk_elasticloadbalancingv2::types::{self as elb, ActionTypeEnum};
use aws_sdk_elasticloadbalancingv2::Client;

/// Where traffic can be split: a listener's default actions or a rule's actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Listener,
    Rule,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Listener => "listener",
            Kind::Rule => "listener rule",
        }
    }
}

/// A managed listener or rule with its current actions.
#[derive(Debug, Clone, PartialEq)]
pub struct Router {
    pub kind: Kind,
    pub arn: String,
    pub actions: Vec<elb::Action>,
}

impl Router {
    /// Target group weights of the forward action, in order; None without a forward action.
    pub fn weights(&self) -> Option<Vec<(String, i32)>> {
        let fwd = self
            .actions
            .iter()
            .find(|a| a.r#type == Some(ActionTypeEnum::Forward))?;
        match &fwd.forward_config {
            Some(cfg) if !cfg.target_groups().is_empty() => Some(
                cfg.target_groups()
                    .iter()
                    .map(|t| {
                        (
                            t.target_group_arn().unwrap_or_default().to_string(),
                            t.weight().unwrap_or(1),
                        )
                    })
                    .collect(),
            ),
            _ => fwd.target_group_arn.clone().map(|tg| vec![(tg, 1)]),
        }
    }

    /// The weight sent to `tg` (0 when it is not listed).
    pub fn weight_of(&self, tg: &str) -> i32 {
        self.weights()
            .unwrap_or_default()
            .iter()
            .filter(|(arn, _)| arn == tg)
            .map(|(_, w)| *w)
            .sum()
    }

    /// Whether the forward action already sends exactly these weights.
    pub fn forwards_exactly(&self, split: &[(String, i32)]) -> bool {
        let Some(w) = self.weights() else {
            return false;
        };
        split.iter().all(|(tg, want)| {
            w.iter()
                .filter(|(a, _)| a == tg)
                .map(|(_, x)| *x)
                .sum::<i32>()
                == *want
        }) && w.iter().all(|(a, _)| split.iter().any(|(tg, _)| tg == a))
    }

    /// The actions with only the forward action's target groups replaced: order,
    /// other actions (authentication, ...) and the stickiness settings stay as they are.
    pub fn rewritten(&self, split: &[(String, i32)]) -> Vec<elb::Action> {
        let groups: Vec<elb::TargetGroupTuple> = split
            .iter()
            .map(|(tg, w)| {
                elb::TargetGroupTuple::builder()
                    .target_group_arn(tg)
                    .weight(*w)
                    .build()
            })
            .collect();
        self.actions
            .iter()
            .map(|a| {
                if a.r#type != Some(ActionTypeEnum::Forward) {
                    return a.clone();
                }
                let mut next = a.clone();
                let stickiness = a
                    .forward_config
                    .as_ref()
                    .and_then(|c| c.target_group_stickiness_config.clone());
                next.target_group_arn = None;
                next.forward_config = Some(
                    elb::ForwardActionConfig::builder()
                        .set_target_groups(Some(groups.clone()))
                        .set_target_group_stickiness_config(stickiness)
                        .build(),
                );
                next
            })
            .collect()
    }
}

/// One DescribeRules call for all `arns`.
pub async fn find_rules(elbv2: &Client, arns: &[String]) -> Result<Vec<Router>, AwsError> {
    if arns.is_empty() {
        return Ok(vec![]);
    }
    let out = elbv2
        .describe_rules()
        .set_rule_arns(Some(arns.to_vec()))
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
    Ok(out
        .rules()
        .iter()
        .map(|r| Router {
            kind: Kind::Rule,
            arn: r.rule_arn().unwrap_or_default().to_string(),
            actions: r.actions().to_vec(),
        })
        .collect())
}

/// One DescribeListeners call for all `arns`.
pub async fn find_listeners(elbv2: &Client, arns: &[String]) -> Result<Vec<Router>, AwsError> {
    if arns.is_empty() {
        return Ok(vec![]);
    }
    let out = elbv2
        .describe_listeners()
        .set_listener_arns(Some(arns.to_vec()))
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
    Ok(out
        .listeners()
        .iter()
        .map(|l| Router {
            kind: Kind::Listener,
            arn: l.listener_arn().unwrap_or_default().to_string(),
            actions: l.default_actions().to_vec(),
        })
        .collect())
}

/// Finds the listeners and rules of the primary target group's load balancers that split
/// traffic between it and one other target group (`canary_tg` when known): what an imported
/// deployment manages. Returns them with the other target group. Used by import only.
pub async fn discover(
    elbv2: &Client,
    primary_tg: &str,
    canary_tg: Option<&str>,
) -> Result<(Vec<Router>, Option<String>), AwsError> {
    let tgs = elbv2
        .describe_target_groups()
        .target_group_arns(primary_tg)
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(
                "DescribeTargetGroups",
                e,
                &["TargetGroupNotFound"],
                "target group",
                primary_tg,
            )
        })?;
    let lbs: Vec<String> = tgs
        .target_groups()
        .iter()
        .flat_map(|t| t.load_balancer_arns().to_vec())
        .collect();
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
        let listeners = elbv2
            .describe_listeners()
            .load_balancer_arn(&lb)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    "DescribeListeners",
                    e,
                    &["LoadBalancerNotFound"],
                    "load balancer",
                    &lb,
                )
            })?;
        for l in listeners.listeners() {
            let arn = l.listener_arn().unwrap_or_default().to_string();
            let listener = Router {
                kind: Kind::Listener,
                arn: arn.clone(),
                actions: l.default_actions().to_vec(),
            };
            if both(&listener) {
                found.push(listener);
            }
            let rules = elbv2
                .describe_rules()
                .listener_arn(&arn)
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk("DescribeRules", e, &["ListenerNotFound"], "listener", &arn)
                })?;
            for r in rules
                .rules()
                .iter()
                .filter(|r| r.is_default() != Some(true))
            {
                let rule = Router {
                    kind: Kind::Rule,
                    arn: r.rule_arn().unwrap_or_default().to_string(),
                    actions: r.actions().to_vec(),
                };
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

/// Sends `split` on the router, touching nothing but its forward action.
pub async fn set_split(
    elbv2: &Client,
    router: &Router,
    split: &[(String, i32)],
) -> Result<(), AwsError> {
    let actions = router.rewritten(split);
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
mod tests {
    use super::*;

    fn router(actions: Vec<elb::Action>) -> Router {
        Router {
            kind: Kind::Rule,
            arn: "r".into(),
            actions,
        }
    }

    fn forward(groups: &[(&str, i32)], sticky: Option<i32>) -> elb::Action {
        let mut cfg = elb::ForwardActionConfig::builder();
        for (tg, w) in groups {
            cfg = cfg.target_groups(
                elb::TargetGroupTuple::builder()
                    .target_group_arn(*tg)
                    .weight(*w)
                    .build(),
            );
        }
        if let Some(d) = sticky {
            cfg = cfg.target_group_stickiness_config(
                elb::TargetGroupStickinessConfig::builder()
                    .enabled(true)
                    .duration_seconds(d)
                    .build(),
            );
        }
        elb::Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .order(2)
            .forward_config(cfg.build())
            .build()
    }

    #[test]
    fn reads_weights_and_simple_forward() {
        let r = router(vec![forward(&[("blue", 90), ("green", 10)], None)]);
        assert_eq!(r.weight_of("green"), 10);
        assert!(r.forwards_exactly(&[("blue".into(), 90), ("green".into(), 10)]));
        assert!(!r.forwards_exactly(&[("blue".into(), 100), ("green".into(), 0)]));
        let simple = router(vec![elb::Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn("blue")
            .build()]);
        assert_eq!(simple.weights(), Some(vec![("blue".into(), 1)]));
    }

    #[test]
    fn rewrite_keeps_other_actions_order_and_stickiness() {
        let auth = elb::Action::builder()
            .r#type(ActionTypeEnum::AuthenticateOidc)
            .order(1)
            .build();
        let r = router(vec![
            auth.clone(),
            forward(&[("blue", 100), ("green", 0)], Some(300)),
        ]);
        let out = r.rewritten(&[("blue".into(), 50), ("green".into(), 50)]);
        assert_eq!(out[0], auth);
        assert_eq!(out[1].order, Some(2));
        let cfg = out[1].forward_config.as_ref().unwrap();
        assert_eq!(cfg.target_groups()[1].weight(), Some(50));
        assert_eq!(
            cfg.target_group_stickiness_config()
                .unwrap()
                .duration_seconds(),
            Some(300)
        );
    }

    #[test]
    fn foreign_target_group_is_not_exact() {
        let r = router(vec![forward(&[("blue", 100), ("other", 0)], None)]);
        assert!(!r.forwards_exactly(&[("blue".into(), 100), ("green".into(), 0)]));
    }
}

/// Routers for unit tests elsewhere in the crate, so they need no SDK types.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A listener `arn` whose only action forwards to `split` (target group, weight).
    pub(crate) fn router(arn: &str, split: &[(&str, i32)]) -> Router {
        let mut cfg = elb::ForwardActionConfig::builder();
        for (tg, w) in split {
            cfg = cfg.target_groups(
                elb::TargetGroupTuple::builder()
                    .target_group_arn(*tg)
                    .weight(*w)
                    .build(),
            );
        }
        Router {
            kind: Kind::Listener,
            arn: arn.into(),
            actions: vec![elb::Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .forward_config(cfg.build())
                .build()],
        }
    }
}
