//! Import: rebuild a deployment from a running service (task set template from ECS, target
//! groups, the listeners and rules that split between them or forward plainly to the
//! PRIMARY's), then adopt its task sets; for a service still on the ECS or CODE_DEPLOY
//! controller, the state its arrival starts from.

use super::arrival::Arrival;
use super::drift::Drift;
use super::pairing;
use super::template::{EcsDefault, Template};
use crate::aws::ecs::{self, ServiceSetup, TaskSet};
use crate::aws::elbv2::{self, Router};
use crate::diag::Diagnostics;
use crate::framework::Ctx;
use crate::resources::ownership::{foreign_owner, owned_by, Role};
use crate::resources::support::{
    aws_error, external_service, reported, resource_id, split_import_id,
};
use crate::value::Value;

/// ImportResourceState: the deployment as [`adopt`] builds it. Terraform imports during
/// `plan`, so nothing is written here: the task sets lack the ownership tags until the first
/// apply adds them (a `not_owned` drift entry and a "tag ..." step in that plan).
/// A service still on the ECS or CODE_DEPLOY controller is imported for an arrival
/// ([`arrival_adoption`]).
pub(crate) async fn import(ctx: &Ctx, id: &str, diags: &mut Diagnostics) -> Value {
    let Some((cluster, service)) = split_import_id(id, diags) else {
        return Value::Null;
    };
    match arriving_service(ctx, &cluster, &service).await {
        Some(setup) => arrival_adoption(ctx, &setup, diags).await.0,
        None => state_from_aws(ctx, &cluster, &service, diags).await,
    }
}

/// The service as an arrival reads it (one DescribeServices; ListServiceDeployments only for
/// an ECS-controller service) when it is ACTIVE on another controller than EXTERNAL; None
/// otherwise, or when it cannot be read (the ordinary import then says why).
async fn arriving_service(ctx: &Ctx, cluster: &str, service: &str) -> Option<ServiceSetup> {
    ServiceSetup::find(&ctx.aws.ecs, cluster, service)
        .await
        .ok()
        .filter(|s| s.service.is_active() && !s.service.is_external())
}

/// The state import builds for an `arrival`: a service on the ECS or CODE_DEPLOY controller,
/// whose running tasks (as the switch will leave them) give the stable template and target
/// group, with the routing [`routing`] finds for that target group,
/// `arrival { from_controller }`, no task set owned yet, and a [`Drift::Controller`] entry
/// that makes plan and apply treat the deployment as one still to create. Reads only; Null
/// after an error diagnostic. With the reason no canary target group was chosen, if none was.
pub(crate) async fn arrival_adoption(
    ctx: &Ctx,
    setup: &ServiceSetup,
    diags: &mut Diagnostics,
) -> (Value, Option<String>) {
    let svc = &setup.service;
    let cluster = crate::arn::cluster_name(&svc.cluster_arn);
    let subject = format!("Service {:?} in cluster {cluster:?}", svc.name);
    let t = Arrival::Switch(setup.clone()).task_set();
    let Some(primary_tg) = t.target_group_arns.first().cloned() else {
        diags.error(
            "Nothing to route",
            format!("{subject} has no load balancer target group, so a deployment would have no traffic to manage. Give it a load balancer first."),
        );
        return (Value::Null, None);
    };
    if t.task_definition.is_empty() {
        diags.error(
            "Nothing running to take over",
            format!("{subject} names no task definition, so there are no running tasks to adopt."),
        );
        return (Value::Null, None);
    }
    let Some(routing) = routing(ctx, &svc.name, &primary_tg, None, diags).await else {
        return (Value::Null, None);
    };
    let drift = Drift::Controller {
        service: svc.arn.clone(),
        controller: svc.controller.clone(),
    };
    let mut state = imported_state(
        (cluster, &svc.name),
        (&t, None),
        (&primary_tg, routing.canary_tg.as_deref()),
        (&routing.routers, &routing.test_routers),
        &EcsDefault::of(&t, None),
        std::slice::from_ref(&drift),
    );
    for k in ["stable_task_set_id", "stable_task_set_arn"] {
        state.set(k, Value::Null);
    }
    state.set(
        "arrival",
        Value::List(vec![Value::object([(
            "from_controller",
            Value::from(svc.controller.as_str()),
        )])]),
    );
    state.set("rollout_steps", Value::string_list([drift.render()]));
    (state, routing.unpaired)
}

/// The state import would build for `service` in `cluster`, read from AWS without writing:
/// the PRIMARY task set is the stable, one other task set the canary. Null, with an error
/// naming the reason, for a service that cannot be adopted.
pub(crate) async fn state_from_aws(
    ctx: &Ctx,
    cluster: &str,
    service: &str,
    diags: &mut Diagnostics,
) -> Value {
    adoption(ctx, cluster, service, diags).await.0
}

/// [`state_from_aws`], and for a plain forward without a canary target group, why none was
/// chosen (the listing explains the service with it).
pub(crate) async fn adoption(
    ctx: &Ctx,
    cluster: &str,
    service: &str,
    diags: &mut Diagnostics,
) -> (Value, Option<String>) {
    if external_service(ctx, cluster, service, diags)
        .await
        .is_none()
    {
        return (Value::Null, None);
    }
    let listed = ecs::find_task_sets(&ctx.aws.ecs, cluster, service, &[]).await;
    let subject = format!("service {service:?} in cluster {cluster:?}");
    let Some((sets, _)) = reported(listed, diags, None, "Could not list task sets", &subject)
    else {
        return (Value::Null, None);
    };
    let live: Vec<&TaskSet> = sets.iter().filter(|t| !t.is_draining()).collect();
    let Some(stable) = live.iter().find(|t| t.is_primary()) else {
        diags.error(
            "Nothing to import",
            format!("Service {service:?} in cluster {cluster:?} has no PRIMARY task set."),
        );
        return (Value::Null, None);
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
        return (Value::Null, None);
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
        return (Value::Null, None);
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
        return (Value::Null, None);
    }
    let Some(routing) = routing(ctx, service, &primary_tg, canary_tg.as_deref(), diags).await
    else {
        return (Value::Null, None);
    };
    let Routing {
        routers,
        test_routers,
        canary_tg,
        unpaired,
    } = routing;
    // Which template fields ECS may have filled in, so that a configuration leaving them
    // unset rolls nothing; the cluster's default strategy tells an ECS-chosen placement apart.
    let cluster_default = match ecs::find_default_capacity_provider_strategy(&ctx.aws.ecs, cluster)
        .await
    {
        Ok(d) => Some(d),
        Err(e) => {
            diags.warning(
                    "Could not read the cluster's default capacity provider strategy",
                    format!(
                        "{e}. The imported template keeps stable task set {}'s launch type and capacity provider strategy as set: \
                         a configuration that sets neither plans new task sets.",
                        stable.id
                    ),
                );
            None
        }
    };
    let ecs_defaults = EcsDefault::of(stable, cluster_default.as_deref());
    let untagged: Vec<Drift> = std::iter::once((*stable, Role::Stable))
        .chain(canary.map(|c| (**c, Role::Canary)))
        .filter(|(t, _)| !owned_by(t, &deployment))
        .map(|(t, role)| Drift::NotOwned {
            task_set: t.id.clone(),
            role,
        })
        .collect();
    let state = imported_state(
        (cluster, service),
        (stable, canary.map(|c| **c)),
        (&primary_tg, canary_tg.as_deref()),
        (&routers, &test_routers),
        &ecs_defaults,
        &untagged,
    );
    let mut state = super::observe::read(ctx, &state, diags).await;
    state.set("rollout_steps", Value::List(vec![]));
    (state, unpaired)
}

/// The listeners and rules a deployment on `primary_tg` manages, and its canary target group.
pub(crate) struct Routing {
    pub routers: Vec<Router>,
    pub test_routers: Vec<Router>,
    pub canary_tg: Option<String>,
    /// For a plain forward without a canary target group: why none was chosen.
    pub unpaired: Option<String>,
}

/// The routing of a service whose task sets (or running tasks) sit on `primary_tg`, and a
/// canary's on `canary_tg` when one runs: the listeners and rules that split between the two,
/// or forward plainly to the primary's with the one free partner [`pairing`] chooses; test
/// routers told apart by their routing. None after an error diagnostic.
pub(crate) async fn routing(
    ctx: &Ctx,
    service: &str,
    primary_tg: &str,
    canary_tg: Option<&str>,
    diags: &mut Diagnostics,
) -> Option<Routing> {
    let found = match elbv2::discover(&ctx.aws.elbv2, primary_tg, canary_tg).await {
        Ok(r) => r,
        Err(e) => {
            aws_error(
                diags,
                None,
                "Could not find the listeners and rules",
                &format!("target group {primary_tg}"),
                &e,
            );
            return None;
        }
    };
    let has_canary = canary_tg.is_some();
    let (routers, canary_tg, unpaired) = match (&found.other, has_canary) {
        (None, false) => pair_plain_forward(ctx, service, &found, diags).await,
        _ => (found.splits, found.other, None),
    };
    let (routers, test_routers, left_out) =
        classify_by_routing(routers, primary_tg, canary_tg.as_deref(), has_canary);
    for r in &left_out {
        let (what, attr) = match r.kind {
            elbv2::Kind::Listener => ("Listener", "traffic.test_listener_arns"),
            elbv2::Kind::Rule => ("Listener rule", "traffic.test_listener_rule_arns"),
        };
        diags.warning(
            format!("{what} left out of the deployment"),
            format!(
                "{what} {} of service {service:?} sends all its traffic to target group {} although no canary runs, so importing leaves it unmanaged and moves no traffic. \
                 To have ecsx route test traffic there (to the stable task set while no canary runs, to the canary while one does), add it to {attr} after the import.",
                r.arn,
                canary_tg.as_deref().map(crate::arn::target_group_label).unwrap_or_default(),
            ),
        );
    }
    Some(Routing {
        routers,
        test_routers,
        canary_tg,
        unpaired,
    })
}

/// A service whose routers forward to its PRIMARY's target group alone (a plain forward, the
/// usual state before ecsx): the canary target group [`pairing`] chooses and those routers,
/// which the first apply turns into weighted forwards (100/0). Without a choice: no routers, no
/// canary target group, and why (also a warning, for an import by hand).
async fn pair_plain_forward(
    ctx: &Ctx,
    service: &str,
    found: &elbv2::Discovered,
    diags: &mut Diagnostics,
) -> (Vec<Router>, Option<String>, Option<String>) {
    let plain = pairing::plain_forwards(&found.all, &found.primary.arn);
    if plain.is_empty() {
        return (vec![], None, None);
    }
    let why = match canary_target_group(ctx, &found.primary).await {
        Ok(Ok(canary)) => return (plain, Some(canary), None),
        Ok(Err(why)) => why,
        Err(e) => format!("the target groups could not be read: {e}"),
    };
    diags.warning(
        "No canary target group for a plain forward",
        format!(
            "Listeners or rules of service {service:?} forward to its PRIMARY task set's target group {} alone, and import chose no canary target group: {}. \
             Name one in traffic.canary_target_group_arn and the listeners or rules in traffic.listener_arns / traffic.listener_rule_arns; the first apply then makes each plain forward a weighted one (100/0) without moving traffic.",
            found.primary.name,
            why.trim_end_matches('.')
        ),
    );
    (vec![], None, Some(why))
}

/// The one target group that can be `primary`'s canary's ([`pairing`]'s rules), or why none
/// can. Lists the region's target groups once for all services asked about within seconds,
/// then reads the registered targets of unattached ones until two are found free.
async fn canary_target_group(
    ctx: &Ctx,
    primary: &elbv2::TargetGroup,
) -> Result<Result<String, String>, crate::aws::AwsError> {
    let all = ctx.aws.reads.all_target_groups().await?;
    let (unattached, mut unfit) = pairing::routing_like(primary, &all);
    let mut free = Vec::new();
    for t in unattached {
        // Two free ones already make the choice ambiguous: the rest need not be read.
        if free.len() == 2 {
            break;
        }
        match elbv2::registered_targets(&ctx.aws.elbv2, &t.arn).await? {
            0 => free.push(t),
            n => unfit.push((t, pairing::Unfit::Targets(n))),
        }
    }
    Ok(pairing::choose(primary, &free, &unfit))
}

/// The state import builds from what it found, before the refresh reads it again: the
/// configuration a plain `terraform plan` then agrees with.
fn imported_state(
    (cluster, service): (&str, &str),
    (stable, canary): (&TaskSet, Option<&TaskSet>),
    (primary_tg, canary_tg): (&str, Option<&str>),
    (routers, test_routers): (&[Router], &[Router]),
    ecs_defaults: &[EcsDefault],
    untagged: &[Drift],
) -> Value {
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
    Value::object([
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
        ("live_target_group_arn", Value::from(primary_tg)),
        ("ecs_filled_in", EcsDefault::to_value(ecs_defaults)),
        ("promotion", Value::from("swap")),
        ("rollout_steps", Value::List(vec![])),
        ("orphaned_task_set_ids", Value::List(vec![])),
        // Which of them lack the ownership tag: the refresh reads tags only while this says
        // some do (observe::tags_needed), and the first apply tags them.
        ("drift", Drift::to_values(untagged)),
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
                ("primary_target_group_arn", Value::from(primary_tg)),
                (
                    "canary_target_group_arn",
                    Value::from(canary_tg.map(str::to_string)),
                ),
                (
                    "listener_arns",
                    none_if_empty(arns(routers, elbv2::Kind::Listener)),
                ),
                (
                    "listener_rule_arns",
                    none_if_empty(arns(routers, elbv2::Kind::Rule)),
                ),
                (
                    "test_listener_arns",
                    none_if_empty(arns(test_routers, elbv2::Kind::Listener)),
                ),
                (
                    "test_listener_rule_arns",
                    none_if_empty(arns(test_routers, elbv2::Kind::Rule)),
                ),
            ])]),
        ),
        ("timeouts", Value::List(vec![])),
    ])
}

/// Import has no configuration, so it tells test listeners and rules (100% to the canary
/// while one runs) from the production ones by their routing: (production, test, left out).
/// With the canary at 100% they look alike: all stay production routers and the
/// configuration decides. Without a canary, a router that sends everything to the canary
/// target group (a test listener a script left there) is left out: managing it, as either
/// kind, would move its traffic at the first apply.
pub(crate) fn classify_by_routing(
    routers: Vec<Router>,
    primary_tg: &str,
    canary_tg: Option<&str>,
    canary_exists: bool,
) -> (Vec<Router>, Vec<Router>, Vec<Router>) {
    let Some(canary_tg) = canary_tg else {
        return (routers, vec![], vec![]);
    };
    let all_to_canary = |r: &Router| r.weight_of(primary_tg) == 0 && r.weight_of(canary_tg) > 0;
    if routers.iter().all(all_to_canary) {
        return (routers, vec![], vec![]);
    }
    let (to_canary, managed): (Vec<Router>, Vec<Router>) =
        routers.into_iter().partition(all_to_canary);
    if canary_exists {
        (managed, to_canary, vec![])
    } else {
        (managed, vec![], to_canary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::elbv2::test_fixtures::router;

    const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/1";
    const GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/green/2";

    #[test]
    fn import_tells_test_routers_by_their_routing() {
        let r = |arn: &str, b, g| router(arn, &[(BLUE, b), (GREEN, g)]);
        let arns = |v: &[Router]| v.iter().map(|r| r.arn.clone()).collect::<Vec<_>>();
        let routers = vec![r("prod", 75, 25), r("test", 0, 100)];
        let (managed, test, left) = classify_by_routing(routers.clone(), BLUE, Some(GREEN), true);
        assert_eq!(
            (arns(&managed), arns(&test)),
            (vec!["prod".into()], vec!["test".into()])
        );
        assert!(left.is_empty());
        // Without a canary, a router with all traffic on the canary target group is left out:
        // managing it would move its traffic.
        let (managed, test, left) = classify_by_routing(routers, BLUE, Some(GREEN), false);
        assert_eq!(
            (arns(&managed), arns(&left)),
            (vec!["prod".into()], vec!["test".into()])
        );
        assert!(test.is_empty());
        // With all traffic on the canary they cannot be told apart.
        let full = vec![r("prod", 0, 100), r("test", 0, 100)];
        let (managed, test, left) = classify_by_routing(full, BLUE, Some(GREEN), true);
        assert_eq!(managed.len(), 2);
        assert!(test.is_empty() && left.is_empty());
    }
}
