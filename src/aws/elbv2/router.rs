//! Listeners and rules as ecsx sees them (routers): their actions, the forward action's
//! weights, and the request that rewrites only that action.

use aws_sdk_elasticloadbalancingv2::types::{self as elb, ActionTypeEnum};

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

/// Which kind of load balancer a listener belongs to: Network Load Balancers have no rules and
/// no target group stickiness, and their ARNs read `listener/net/...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Balancer {
    Application,
    Network,
}

impl Balancer {
    pub fn of_arn(arn: &str) -> Balancer {
        if crate::arn::is_network_listener(arn) {
            Balancer::Network
        } else {
            Balancer::Application
        }
    }
}

/// Target group stickiness of a forward action (ALB only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stickiness {
    pub enabled: bool,
    pub duration_seconds: Option<i32>,
}

/// A forward action in plain Rust: the target groups with their weights, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Forward {
    pub order: Option<i32>,
    pub target_groups: Vec<(String, i32)>,
    /// Written as a plain `TargetGroupArn` without a weighted `ForwardConfig`.
    pub plain: bool,
    pub stickiness: Option<Stickiness>,
}

/// Any action ecsx does not rewrite (authentication, redirect, fixed response): sent back
/// exactly as it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct OtherAction {
    pub action_type: String,
    pub order: Option<i32>,
    /// An `authenticate-oidc` action read without its client secret (ELBv2 never returns it):
    /// Modify* must then say `UseExistingClientSecret=true` or it is refused.
    pub reuse_client_secret: bool,
    sdk: Box<elb::Action>,
}

impl OtherAction {
    /// An action of `action_type` with nothing but its order, for tests and examples.
    pub fn new(action_type: &str, order: Option<i32>) -> OtherAction {
        OtherAction::from_sdk(
            &elb::Action::builder()
                .r#type(ActionTypeEnum::from(action_type))
                .set_order(order)
                .build(),
        )
    }

    pub(super) fn from_sdk(a: &elb::Action) -> OtherAction {
        OtherAction {
            action_type: a
                .r#type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            order: a.order(),
            reuse_client_secret: false,
            sdk: Box::new(a.clone()),
        }
    }

    fn oidc_without_secret(&self) -> bool {
        self.sdk
            .authenticate_oidc_config()
            .is_some_and(|c| c.client_secret().is_none())
    }

    pub(super) fn to_sdk(&self) -> elb::Action {
        let mut a = (*self.sdk).clone();
        if self.reuse_client_secret {
            if let Some(cfg) = a.authenticate_oidc_config.as_mut() {
                cfg.client_secret = None;
                cfg.use_existing_client_secret = Some(true);
            }
        }
        a
    }
}

/// One action of a listener or rule.
#[derive(Debug, Clone, PartialEq)]
pub enum RouterAction {
    Forward(Forward),
    Other(OtherAction),
}

impl RouterAction {
    /// A weighted forward to `groups`, in that order.
    pub fn forward(groups: &[(&str, i32)]) -> RouterAction {
        RouterAction::Forward(Forward {
            order: None,
            target_groups: groups.iter().map(|(t, w)| (t.to_string(), *w)).collect(),
            plain: false,
            stickiness: None,
        })
    }

    pub(super) fn from_sdk(a: &elb::Action) -> RouterAction {
        if a.r#type() != Some(&ActionTypeEnum::Forward) {
            return RouterAction::Other(OtherAction::from_sdk(a));
        }
        let cfg = a.forward_config();
        let weighted: Vec<(String, i32)> = cfg
            .map(|c| {
                c.target_groups()
                    .iter()
                    .map(|t| {
                        (
                            t.target_group_arn().unwrap_or_default().to_string(),
                            t.weight().unwrap_or(1),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (target_groups, plain) = if weighted.is_empty() {
            let plain: Vec<(String, i32)> = a
                .target_group_arn()
                .map(|tg| vec![(tg.to_string(), 1)])
                .unwrap_or_default();
            (plain, true)
        } else {
            (weighted, false)
        };
        RouterAction::Forward(Forward {
            order: a.order(),
            target_groups,
            plain,
            stickiness: cfg
                .and_then(|c| c.target_group_stickiness_config())
                .map(|s| Stickiness {
                    enabled: s.enabled().unwrap_or(false),
                    duration_seconds: s.duration_seconds(),
                }),
        })
    }

    pub(super) fn to_sdk(&self) -> elb::Action {
        match self {
            RouterAction::Other(o) => o.to_sdk(),
            RouterAction::Forward(f) if f.plain => elb::Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .set_order(f.order)
                .set_target_group_arn(f.target_groups.first().map(|(tg, _)| tg.clone()))
                .build(),
            RouterAction::Forward(f) => {
                let groups = f
                    .target_groups
                    .iter()
                    .map(|(tg, w)| {
                        elb::TargetGroupTuple::builder()
                            .target_group_arn(tg)
                            .weight(*w)
                            .build()
                    })
                    .collect();
                let stickiness = f.stickiness.map(|s| {
                    elb::TargetGroupStickinessConfig::builder()
                        .enabled(s.enabled)
                        .set_duration_seconds(s.duration_seconds)
                        .build()
                });
                elb::Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .set_order(f.order)
                    .forward_config(
                        elb::ForwardActionConfig::builder()
                            .set_target_groups(Some(groups))
                            .set_target_group_stickiness_config(stickiness)
                            .build(),
                    )
                    .build()
            }
        }
    }
}

/// A managed listener or rule with its current actions.
#[derive(Debug, Clone, PartialEq)]
pub struct Router {
    pub kind: Kind,
    pub arn: String,
    pub actions: Vec<RouterAction>,
}

impl Router {
    /// A router whose only action forwards to `groups` with these weights.
    pub fn forwarding(kind: Kind, arn: &str, groups: &[(&str, i32)]) -> Router {
        Router {
            kind,
            arn: arn.to_string(),
            actions: vec![RouterAction::forward(groups)],
        }
    }

    pub(super) fn from_sdk(kind: Kind, arn: &str, actions: &[elb::Action]) -> Router {
        Router {
            kind,
            arn: arn.to_string(),
            actions: actions.iter().map(RouterAction::from_sdk).collect(),
        }
    }

    pub fn balancer(&self) -> Balancer {
        Balancer::of_arn(&self.arn)
    }

    fn forward(&self) -> Option<&Forward> {
        self.actions.iter().find_map(|a| match a {
            RouterAction::Forward(f) => Some(f),
            RouterAction::Other(_) => None,
        })
    }

    /// Target group weights of the forward action, in order; None without a forward action.
    pub fn weights(&self) -> Option<Vec<(String, i32)>> {
        self.forward()
            .filter(|f| !f.target_groups.is_empty())
            .map(|f| f.target_groups.clone())
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

    /// Whether the forward action lists `tg` at all, even at weight 0. ECS counts a target
    /// group as associated with a load balancer (and lets a task set use it) only then.
    pub fn forwards_to(&self, tg: &str) -> bool {
        self.weights()
            .unwrap_or_default()
            .iter()
            .any(|(arn, _)| arn == tg)
    }

    /// Whether the forward action is a plain `TargetGroupArn` forward (no weights), as a
    /// listener made before weighted routing, or by hand, usually is.
    pub fn forwards_plainly(&self) -> bool {
        self.forward().is_some_and(|f| f.plain)
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

    /// The actions with only the forward action's target groups replaced: order, other
    /// actions (authentication, ...) and the stickiness settings stay as they are. An
    /// `authenticate-oidc` action read without its secret asks ELBv2 to keep the secret it
    /// has; a Network Load Balancer gets no stickiness (it has none, and refuses it).
    pub fn rewritten(&self, split: &[(String, i32)]) -> Vec<RouterAction> {
        let network = self.balancer() == Balancer::Network;
        self.actions
            .iter()
            .map(|a| match a {
                RouterAction::Other(o) => {
                    let mut o = o.clone();
                    o.reuse_client_secret = o.oidc_without_secret();
                    RouterAction::Other(o)
                }
                RouterAction::Forward(f) => RouterAction::Forward(Forward {
                    order: f.order,
                    target_groups: split.to_vec(),
                    plain: false,
                    stickiness: if network { None } else { f.stickiness },
                }),
            })
            .collect()
    }
}
