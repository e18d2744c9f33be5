//! The `ecsx_canary_deployment` list resource: the services of a cluster that could become canary
//! deployments, each with the state [`import::state_from_aws`] builds (for a service on the ECS
//! or CODE_DEPLOY controller, [`import::arrival_adoption`]'s). Reads AWS only: nothing is tagged.

use super::arrivals;
use super::import;
use crate::arn;
use crate::aws::ecs::{Service, ServiceSetup};
use crate::diag::{Diagnostics, Severity};
use crate::framework::{Ctx, ListSink};
use crate::resources::adopt;
use crate::schema::Schema;
use crate::value::Value;

const TYPE_NAME: &str = "ecsx_canary_deployment";

pub(super) fn schema() -> Schema {
    adopt::list_schema(
        "Lists the services of a cluster that can become canary deployments: EXTERNAL-controller services with a PRIMARY task set, at most one other task set on its own target group, listeners or rules that split traffic between the PRIMARY's target group and a second one (or forward to the PRIMARY's alone while exactly one free target group of the same kind can be the canary's: see the adoption guide), and no task set another controller manages. \
         With `include_resource`, each result carries the state import would build: the task set template from ECS, the target groups, and the listeners and rules that forward to them. \
         Services on the ECS (or CODE_DEPLOY) deployment controller are listed when an `arrival` can take them in: the display name says where the native release stands (the last service deployment's status, the task definition, the running tasks), and the state holds `arrival { from_controller }` with a `traffic` block built as for a plain forward (the service's load balancer target group as primary, its one free partner as canary, the listeners and rules that forward to it), so the generated configuration plans only the switch and the take-over. \
         Services that cannot be adopted come back as warnings naming the reason: for an ECS-controller service, a native deployment in progress or paused at a lifecycle hook (with its stage and hook, to be continued or rolled back with the `ecsx_service_deployment_continue` / `_rollback` actions) and every refusal arrival's plan would make. Listing only reads AWS.",
    )
}

pub(super) async fn list(ctx: &Ctx, config: &Value, sink: &mut ListSink, diags: &mut Diagnostics) {
    let mut services = adopt::Services::new(ctx, adopt::ServiceFilter::from(config));
    while let Some(batch) = services.next_setups(diags).await {
        for setup in batch {
            let svc = setup.service.clone();
            let found = if arrivals::arrives(&setup) {
                arriving(ctx, setup).await
            } else {
                adoptable(ctx, &svc)
                    .await
                    .map(|(state, notes)| (display_name(&svc, &state), state, notes))
            };
            let more = match found {
                Err(reason) => {
                    sink.skipped(adopt::skipped_warning(TYPE_NAME, &svc, &reason))
                        .await
                }
                Ok((name, state, notes)) => {
                    sink.found(adopt::identity_of(&svc), name, state, notes)
                        .await
                }
            };
            if !more {
                return;
            }
        }
    }
}

/// The state import would build for `svc` and its warnings, or why it cannot be adopted.
async fn adoptable(ctx: &Ctx, svc: &Service) -> Result<(Value, Diagnostics), String> {
    // What DescribeServices already tells costs no further call.
    if let Some(reason) = adopt::unadoptable(svc) {
        return Err(reason);
    }
    let cluster = arn::cluster_name(&svc.cluster_arn);
    let mut d = Diagnostics::new();
    let (state, unpaired) = import::adoption(ctx, cluster, &svc.name, &mut d).await;
    vetted(state, unpaired.as_deref(), d)
}

/// A service on the ECS or CODE_DEPLOY controller: the state an import for its arrival builds,
/// named with where its native release stands, or why arrival cannot take it in.
async fn arriving(ctx: &Ctx, setup: ServiceSetup) -> Result<(String, Value, Diagnostics), String> {
    let controller = setup.service.controller.clone();
    let why = |reason: String| {
        format!("it uses the {controller} deployment controller, and an arrival cannot take it in: {reason}")
    };
    let (setup, newest) = arrivals::standing(ctx, setup).await.map_err(why)?;
    let mut d = Diagnostics::new();
    let (state, unpaired) = import::arrival_adoption(ctx, &setup, &mut d).await;
    let (state, notes) = vetted(state, unpaired.as_deref(), d).map_err(why)?;
    Ok((
        arrivals::display_name(&setup, newest.as_ref()),
        state,
        notes,
    ))
}

/// What import built, if a configuration can be generated from it: its first error, a service
/// gone meanwhile and a traffic block without routers or canary target group are reasons not
/// to offer it.
fn vetted(
    state: Value,
    unpaired: Option<&str>,
    d: Diagnostics,
) -> Result<(Value, Diagnostics), String> {
    let first_error = d.iter().find(|x| x.severity == Severity::Error).map(|e| {
        format!(
            "{}: {}",
            e.summary.to_lowercase(),
            e.detail.trim_end_matches('.')
        )
    });
    match first_error {
        Some(reason) => Err(reason),
        None if state.is_null() => Err("it went away while it was being listed".to_string()),
        None => match unrouted(&state, unpaired) {
            Some(reason) => Err(reason),
            None => Ok((state, d)),
        },
    }
}

/// Why the state import built has no traffic a configuration could be generated from: no
/// listener or rule forwards to the PRIMARY's target group with a second one, and no canary
/// target group could be chosen for a plain forward (`unpaired`: why, from import's warning).
/// `terraform validate` refuses a configuration without them, so such a service is not
/// offered for `-generate-config-out`.
fn unrouted(state: &Value, unpaired: Option<&str>) -> Option<String> {
    let traffic = state.block("traffic");
    let primary = traffic
        .get("primary_target_group_arn")
        .as_str()
        .map(arn::target_group_label)
        .unwrap_or("?");
    let routers = ["listener_arns", "listener_rule_arns"]
        .iter()
        .any(|k| !traffic.get(k).as_list().is_empty());
    if !traffic.get("canary_target_group_arn").is_null() && routers {
        return None;
    }
    let todo = "name it in traffic.canary_target_group_arn and the listeners or rules in traffic.listener_arns / traffic.listener_rule_arns of a configuration, then import with an import block";
    Some(match unpaired {
        Some(why) => format!(
            "listeners or rules forward to the PRIMARY task set's target group {primary} alone, and no canary target group was chosen: {}. \
             Pick the canary target group (or create one: same VPC, protocol, port and target type, attached to no load balancer), {todo}",
            why.trim_end_matches('.')
        ),
        None => format!(
            "no listener or listener rule forwards to the PRIMARY task set's target group {primary}, alone or split with a second target group, \
             so there is no traffic block to generate. Create a second target group for the canary (same VPC, protocol, port and target type), {todo}"
        ),
    })
}

/// `web: PRIMARY web:12, canary web:13, traffic 90/10, 2 task sets`: what a person scans for.
fn display_name(svc: &Service, state: &Value) -> String {
    let live = svc.task_sets.iter().filter(|t| !t.is_draining()).count();
    let label = |block: &str| {
        state
            .block(block)
            .get("task_definition")
            .as_str()
            .map(arn::task_definition_label)
    };
    let (primary, canary) = shares(
        state.get("primary_weight").as_i64().unwrap_or_default(),
        state.get("canary_weight").as_i64().unwrap_or_default(),
    );
    let mut name = format!("{}: PRIMARY {}", svc.name, label("stable").unwrap_or("?"));
    if let Some(c) = label("canary") {
        name.push_str(&format!(", canary {c}"));
    }
    name.push_str(&format!(
        ", traffic {primary}/{canary}, {live} task set{}",
        if live == 1 { "" } else { "s" }
    ));
    name
}

/// Weights as percentages of the traffic: ELBv2 reads a plain forward to one target group as
/// weight 1, which sends it all of it (100/0).
fn shares(primary: i64, canary: i64) -> (i64, i64) {
    let total = primary + canary;
    if total <= 0 || total == 100 {
        return (primary, canary);
    }
    let p = (primary * 100 + total / 2) / total;
    (p, 100 - p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traffic(canary: Option<&str>, rules: &[&str]) -> Value {
        Value::object([(
            "traffic",
            Value::List(vec![Value::object([
                (
                    "primary_target_group_arn",
                    Value::from(
                        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/blue/1",
                    ),
                ),
                ("canary_target_group_arn", Value::from(canary)),
                ("listener_arns", Value::Null),
                (
                    "listener_rule_arns",
                    if rules.is_empty() {
                        Value::Null
                    } else {
                        Value::string_list(rules)
                    },
                ),
            ])]),
        )])
    }

    #[test]
    fn traffic_is_shown_in_percent() {
        assert_eq!(shares(1, 0), (100, 0));
        assert_eq!(shares(90, 10), (90, 10));
        assert_eq!(shares(1, 3), (25, 75));
        assert_eq!(shares(0, 0), (0, 0));
    }

    #[test]
    fn only_services_with_a_split_to_a_second_target_group_are_offered() {
        let green = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/green/2";
        assert_eq!(unrouted(&traffic(Some(green), &["rule"]), None), None);
        let lost = unrouted(&traffic(None, &[]), None).expect("nothing routed is not offered");
        assert!(lost.contains("target group blue"), "{lost}");
        assert!(unrouted(&traffic(Some(green), &[]), None).is_some());
        let plain = unrouted(&traffic(None, &[]), Some("several target groups could be."))
            .expect("an unpaired plain forward is not offered");
        assert!(
            plain.contains("target group blue alone, and no canary target group was chosen: several target groups could be. Pick"),
            "{plain}"
        );
    }
}
