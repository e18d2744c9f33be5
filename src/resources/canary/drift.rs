//! Drift as data: how AWS differs from the state in a way no configured attribute shows.
//! Read records it in the `drift` attribute, the planner acts on it, `rollout_steps` renders it.

use crate::aws::elbv2;
use crate::resources::ownership::{Role, TAG_DEPLOYMENT};
use crate::value::Value;

/// Prefix of the `rollout_steps` lines Read renders from [`Drift`], for people only.
pub(crate) const DRIFT_PREFIX: &str = "drift: ";

/// AWS differs from the state in a way no configured attribute shows. Read records it in the
/// `drift` attribute; the planner acts on these values, and `rollout_steps` only renders them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Drift {
    /// Another task set (or none) is PRIMARY instead of the stable one.
    PrimaryMoved {
        stable: String,
        primary: Option<String>,
    },
    /// The managed routers disagree, e.g. a shift cut short; each router with its split.
    SplitDisagrees { routers: Vec<(String, i64, i64)> },
    /// A managed router forwards to a target group outside the deployment.
    ForeignTargetGroup { router: String },
    /// A test router does not route as the deployment's state requires.
    TestRouteOff { router: String },
    /// The state's stable or canary task set lacks this deployment's ownership tags, as after
    /// an import (which reads only: Terraform imports during `plan`).
    NotOwned { task_set: String, role: Role },
    /// The service (`service`, its ARN) still uses `controller` (ECS or CODE_DEPLOY), as after
    /// an import made for an arrival: nothing is owned yet, and the `arrival` block's apply
    /// switches the service and takes its running tasks over.
    Controller { service: String, controller: String },
}

impl Drift {
    const PRIMARY_MOVED: &'static str = "primary_moved";
    const SPLIT_DISAGREES: &'static str = "split_disagrees";
    const FOREIGN_TARGET_GROUP: &'static str = "foreign_target_group";
    const TEST_ROUTE_OFF: &'static str = "test_route_off";
    const NOT_OWNED: &'static str = "not_owned";
    const CONTROLLER: &'static str = "controller";

    /// Whether repairing this drift means setting the weights again.
    pub(crate) fn is_routing(&self) -> bool {
        matches!(
            self,
            Drift::SplitDisagrees { .. }
                | Drift::ForeignTargetGroup { .. }
                | Drift::TestRouteOff { .. }
        )
    }

    /// The line shown in `rollout_steps` after a refresh.
    pub(crate) fn render(&self) -> String {
        let body = match self {
            Drift::PrimaryMoved { stable, primary } => format!(
                "task set {} is PRIMARY instead of stable task set {stable}",
                primary.as_deref().unwrap_or("none")
            ),
            Drift::SplitDisagrees { routers } => format!(
                "traffic is split differently across listeners and rules: {}",
                routers
                    .iter()
                    .map(|(arn, p, c)| format!("{} {arn} {p}/{c}", router_noun(arn)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Drift::ForeignTargetGroup { router } => format!(
                "{} {router} forwards to a target group outside this deployment",
                router_noun(router)
            ),
            Drift::TestRouteOff { router } => format!(
                "test {} {router} does not route as expected",
                router_noun(router)
            ),
            Drift::NotOwned { task_set, role } => format!(
                "{} task set {task_set} does not carry the {TAG_DEPLOYMENT} tag yet",
                role.as_str()
            ),
            Drift::Controller { service, controller } => format!(
                "service {} uses the {controller} deployment controller; the arrival switches it to EXTERNAL",
                crate::arn::service_name(service)
            ),
        };
        format!("{DRIFT_PREFIX}{body}")
    }

    /// Entries of the `drift` attribute: `{kind, subject, observed}`, one per object that drifted.
    pub(crate) fn to_values(drift: &[Drift]) -> Value {
        let entry = |kind: &str, subject: &str, observed: String| {
            Value::object([
                ("kind", Value::from(kind)),
                ("subject", Value::from(subject)),
                ("observed", Value::from(observed)),
            ])
        };
        let mut out = Vec::new();
        for d in drift {
            match d {
                Drift::PrimaryMoved { stable, primary } => out.push(entry(
                    Self::PRIMARY_MOVED,
                    stable,
                    primary.clone().unwrap_or_default(),
                )),
                Drift::SplitDisagrees { routers } => {
                    for (arn, p, c) in routers {
                        out.push(entry(Self::SPLIT_DISAGREES, arn, format!("{p}/{c}")));
                    }
                }
                Drift::ForeignTargetGroup { router } => {
                    out.push(entry(Self::FOREIGN_TARGET_GROUP, router, String::new()))
                }
                Drift::TestRouteOff { router } => {
                    out.push(entry(Self::TEST_ROUTE_OFF, router, String::new()))
                }
                Drift::NotOwned { task_set, role } => {
                    out.push(entry(Self::NOT_OWNED, task_set, role.as_str().to_string()))
                }
                Drift::Controller {
                    service,
                    controller,
                } => out.push(entry(Self::CONTROLLER, service, controller.clone())),
            }
        }
        Value::List(out)
    }

    /// Reads the `drift` attribute back; entries of an unknown kind are skipped.
    pub(crate) fn from_values(v: &Value) -> Vec<Drift> {
        let mut out = Vec::new();
        let mut split = Vec::new();
        for e in v.as_list() {
            let subject = e.get("subject").as_str().unwrap_or_default().to_string();
            let observed = e.get("observed").as_str().unwrap_or_default();
            match e.get("kind").as_str() {
                Some(Self::PRIMARY_MOVED) => out.push(Drift::PrimaryMoved {
                    stable: subject,
                    primary: (!observed.is_empty()).then(|| observed.to_string()),
                }),
                Some(Self::SPLIT_DISAGREES) => {
                    let (p, c) = observed.split_once('/').unwrap_or(("0", "0"));
                    split.push((subject, p.parse().unwrap_or(0), c.parse().unwrap_or(0)));
                }
                Some(Self::FOREIGN_TARGET_GROUP) => {
                    out.push(Drift::ForeignTargetGroup { router: subject })
                }
                Some(Self::TEST_ROUTE_OFF) => out.push(Drift::TestRouteOff { router: subject }),
                Some(Self::NOT_OWNED) => out.push(Drift::NotOwned {
                    task_set: subject,
                    role: if observed == Role::Canary.as_str() {
                        Role::Canary
                    } else {
                        Role::Stable
                    },
                }),
                Some(Self::CONTROLLER) => out.push(Drift::Controller {
                    service: subject,
                    controller: observed.to_string(),
                }),
                _ => {}
            }
        }
        if !split.is_empty() {
            out.push(Drift::SplitDisagrees { routers: split });
        }
        out
    }
}

/// The service ARN and controller of a state imported for an arrival ([`Drift::Controller`]):
/// a deployment that owns nothing yet, which plan and apply treat as one still to create.
pub(crate) fn awaiting_arrival(state: &Value) -> Option<(String, String)> {
    if state.is_null() {
        return None;
    }
    Drift::from_values(state.get("drift"))
        .into_iter()
        .find_map(|d| match d {
            Drift::Controller {
                service,
                controller,
            } => Some((service, controller)),
            _ => None,
        })
}

fn router_noun(arn: &str) -> &'static str {
    if arn.contains(":listener-rule/") {
        elbv2::Kind::Rule.noun()
    } else {
        elbv2::Kind::Listener.noun()
    }
}
