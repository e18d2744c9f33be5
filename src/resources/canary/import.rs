//! Import: rebuild a deployment from a running service (task set template from ECS, target
//! groups, the listeners and rules that split between them), then adopt its task sets.

use super::model::{foreign_owner, Template};
use crate::aws::ecs::{self, TaskSet};
use crate::aws::elbv2::{self, Router};
use crate::diag::Diagnostics;
use crate::resources::support::{
    aws_error, external_service, reported, resource_id, split_import_id,
};
use crate::resources::Ctx;
use crate::value::Value;

/// ImportResourceState: the deployment as [`adopt`] builds it. Terraform imports during
/// `plan`, so nothing is written here: the task sets lack the ownership tags until the first
/// apply adds them (a `not_owned` drift entry and a "tag ..." step in that plan).
pub(crate) async fn import(ctx: &Ctx, id: &str, diags: &mut Diagnostics) -> Value {
    let Some((cluster, service)) = split_import_id(id, diags) else {
        return Value::Null;
    };
    adopt(ctx, &cluster, &service, diags).await
}

/// The state import would build for `service` in `cluster`, read from AWS without writing:
/// the PRIMARY task set is the stable, one other task set the canary. Null, with an error
/// naming the reason, for a service that cannot be adopted.
pub(crate) async fn adopt(
    ctx: &Ctx,
    cluster: &str,
    service: &str,
    diags: &mut Diagnostics,
) -> Value {
    if external_service(ctx, cluster, service, diags)
        .await
        .is_none()
    {
        return Value::Null;
    }
    let listed = ecs::find_task_sets(&ctx.aws.ecs, cluster, service, &[]).await;
    let subject = format!("service {service:?} in cluster {cluster:?}");
    let Some((sets, _)) = reported(listed, diags, None, "Could not list task sets", &subject)
    else {
        return Value::Null;
    };
    let live: Vec<&TaskSet> = sets.iter().filter(|t| !t.is_draining()).collect();
    let Some(stable) = live.iter().find(|t| t.is_primary()) else {
        diags.error(
            "Nothing to import",
            format!("Service {service:?} in cluster {cluster:?} has no PRIMARY task set."),
        );
        return Value::Null;
    };
    let others: Vec<&&TaskSet> = live.iter().filter(|t| t.id != stable.id).collect();
    if others.len() > 1 {
        diags.error(
            "Too many task sets to import",
            format!(
                "Service {service:?} in cluster {cluster:?} has task sets {} besides the PRIMARY {}; a deployment holds a stable and at most one canary. Delete the extra task sets first.",
                others.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", "),
                stable.id
            ),
        );
        return Value::Null;
    }
    let canary = others.first();
    let deployment = resource_id(cluster, service);
    let claimed: Vec<String> = std::iter::once(*stable)
        .chain(canary.map(|c| **c))
        .filter_map(|t| foreign_owner(t, &deployment).map(|who| format!("{} by {who}", t.id)))
        .collect();
    if !claimed.is_empty() {
        diags.error(
            "Task sets managed by another controller",
            format!(
                "Service {service:?} in cluster {cluster:?} has task sets that another release controller manages: {}. \
                 Two controllers moving the same task sets and weights would undo each other; stop the other one for this service \
                 (and remove its tags) before importing it into ecsx.",
                claimed.join(", ")
            ),
        );
        return Value::Null;
    }
    let primary_tg = stable
        .target_group_arns
        .first()
        .cloned()
        .unwrap_or_default();
    let canary_tg = canary.and_then(|c| c.target_group_arns.first().cloned());
    if canary.is_some()
        && (canary_tg.is_none() || canary_tg.as_deref() == Some(primary_tg.as_str()))
    {
        diags.error(
            "Canary is not on its own target group",
            format!("Task set {} must sit on a target group other than the PRIMARY's to be imported as the canary.", canary.map(|c| c.id.as_str()).unwrap_or_default()),
        );
        return Value::Null;
    }
    let (routers, canary_tg) =
        match elbv2::discover(&ctx.aws.elbv2, &primary_tg, canary_tg.as_deref()).await {
            Ok(r) => r,
            Err(e) => {
                aws_error(
                    diags,
                    None,
                    "Could not find the listeners and rules",
                    &format!("target group {primary_tg}"),
                    &e,
                );
                return Value::Null;
            }
        };
    let (routers, test_routers) =
        split_test_routers(routers, &primary_tg, canary_tg.as_deref(), canary.is_some());
    let arns = |routers: &[Router], kind| {
        Value::string_list(
            routers
                .iter()
                .filter(|r| r.kind == kind)
                .map(|r| r.arn.as_str()),
        )
    };
    let none_if_empty = |v: Value| {
        if v.as_list().is_empty() {
            Value::Null
        } else {
            v
        }
    };
    let state = Value::object([
        ("cluster", Value::from(cluster)),
        ("service", Value::from(service)),
        ("wait_for_steady_state", Value::from(true)),
        ("keep_primary_on_destroy", Value::from(false)),
        ("id", Value::from(resource_id(cluster, service))),
        ("stable_task_set_id", Value::from(stable.id.as_str())),
        ("stable_task_set_arn", Value::from(stable.arn.as_str())),
        (
            "canary_task_set_id",
            Value::from(canary.map(|c| c.id.clone())),
        ),
        (
            "canary_task_set_arn",
            Value::from(canary.map(|c| c.arn.clone())),
        ),
        ("rollout_steps", Value::List(vec![])),
        ("orphaned_task_set_ids", Value::List(vec![])),
        ("drift", Value::List(vec![])),
        ("task_set", Value::List(vec![Template::block_of(stable)])),
        (
            "stable",
            Value::List(vec![Value::object([
                (
                    "task_definition",
                    Value::from(stable.task_definition.as_str()),
                ),
                ("scale_percent", Value::from(stable.scale_percent)),
            ])]),
        ),
        (
            "canary",
            Value::List(
                canary
                    .map(|c| {
                        Value::object([
                            ("task_definition", Value::from(c.task_definition.as_str())),
                            ("scale_percent", Value::from(c.scale_percent)),
                            ("traffic_percent", Value::from(0i64)),
                        ])
                    })
                    .into_iter()
                    .collect(),
            ),
        ),
        (
            "traffic",
            Value::List(vec![Value::object([
                ("primary_target_group_arn", Value::from(primary_tg.as_str())),
                ("canary_target_group_arn", Value::from(canary_tg.clone())),
                (
                    "listener_arns",
                    none_if_empty(arns(&routers, elbv2::Kind::Listener)),
                ),
                (
                    "listener_rule_arns",
                    none_if_empty(arns(&routers, elbv2::Kind::Rule)),
                ),
                (
                    "test_listener_arns",
                    none_if_empty(arns(&test_routers, elbv2::Kind::Listener)),
                ),
                (
                    "test_listener_rule_arns",
                    none_if_empty(arns(&test_routers, elbv2::Kind::Rule)),
                ),
            ])]),
        ),
        ("timeouts", Value::List(vec![])),
    ]);
    let mut state = super::observe::read(ctx, &state, diags).await;
    state.set("rollout_steps", Value::List(vec![]));
    state
}

/// Import has no configuration, so it tells test listeners and rules (100% to the canary
/// while one runs) from the production ones by their routing. Without a canary, or with one
/// at 100%, they look alike: all stay production routers and the configuration decides.
pub(crate) fn split_test_routers(
    routers: Vec<Router>,
    primary_tg: &str,
    canary_tg: Option<&str>,
    canary_exists: bool,
) -> (Vec<Router>, Vec<Router>) {
    let Some(canary_tg) = canary_tg.filter(|_| canary_exists) else {
        return (routers, vec![]);
    };
    let all_to_canary = |r: &Router| r.weight_of(primary_tg) == 0 && r.weight_of(canary_tg) > 0;
    if routers.iter().all(all_to_canary) {
        return (routers, vec![]);
    }
    let (test, managed): (Vec<Router>, Vec<Router>) = routers.into_iter().partition(all_to_canary);
    (managed, test)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::elbv2::tests_support::router;

    const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/1";
    const GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/green/2";

    #[test]
    fn import_tells_test_routers_by_their_routing() {
        let r = |arn: &str, b, g| router(arn, &[(BLUE, b), (GREEN, g)]);
        let arns = |v: &[Router]| v.iter().map(|r| r.arn.clone()).collect::<Vec<_>>();
        let routers = vec![r("prod", 75, 25), r("test", 0, 100)];
        let (managed, test) = split_test_routers(routers.clone(), BLUE, Some(GREEN), true);
        assert_eq!(
            (arns(&managed), arns(&test)),
            (vec!["prod".into()], vec!["test".into()])
        );
        // Without a canary, or with all traffic on it, they cannot be told apart.
        let (managed, test) = split_test_routers(routers, BLUE, Some(GREEN), false);
        assert_eq!(managed.len(), 2);
        assert!(test.is_empty());
        let full = vec![r("prod", 0, 100), r("test", 0, 100)];
        let (managed, test) = split_test_routers(full, BLUE, Some(GREEN), true);
        assert_eq!(managed.len(), 2);
        assert!(test.is_empty());
    }
}
