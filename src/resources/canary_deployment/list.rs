//! The `ecsx_canary_deployment` list resource: the services of a cluster that could become canary
//! deployments, each with the state import would build. Reads AWS only: nothing is tagged.

use super::{split_test_routers, template_of, CanaryDeployment, TAG_DEPLOYMENT};
use crate::arn;
use crate::aws::ecs::{self, Service, TaskSet};
use crate::aws::elbv2::{self, Router};
use crate::diag::Diagnostics;
use crate::resources::support::{reported, resource_id};
use crate::resources::{adopt, Ctx, ListSink, Resource};
use crate::value::Value;

pub(super) async fn list(
    r: &CanaryDeployment,
    ctx: &Ctx,
    config: &Value,
    sink: &mut ListSink,
    diags: &mut Diagnostics,
) {
    let mut services = adopt::Services::new(ctx, adopt::ServiceFilter::from(config));
    while let Some(batch) = services.next_batch(diags).await {
        for svc in batch {
            let more = match adoptable(r, ctx, &svc, diags).await {
                Err(NotListed::Unadoptable(reason)) => {
                    sink.skipped(adopt::skipped_warning(r.type_name(), &svc, &reason))
                        .await
                }
                // An AWS failure ends the listing, as an error, rather than hiding a service.
                Err(NotListed::Failed) => return,
                Ok((state, notes)) => {
                    let name = display_name(&svc, &state);
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

/// `web: PRIMARY web:12, canary web:13, traffic 90/10, 2 task sets`: what a person scans for.
fn display_name(svc: &Service, state: &Value) -> String {
    let live = svc
        .task_sets
        .iter()
        .filter(|t| t.status != "DRAINING")
        .count();
    let stable = state.block("stable").get("task_definition").as_str();
    let canary = state.block("canary").get("task_definition").as_str();
    let weight = |k: &str| state.get(k).as_i64().unwrap_or_default();
    let mut name = format!(
        "{}: PRIMARY {}",
        svc.name,
        arn::task_definition_label(stable.unwrap_or("?"))
    );
    if let Some(c) = canary {
        name.push_str(&format!(", canary {}", arn::task_definition_label(c)));
    }
    name.push_str(&format!(
        ", traffic {}/{}, {live} task set{}",
        weight("primary_weight"),
        weight("canary_weight"),
        if live == 1 { "" } else { "s" }
    ));
    name
}

/// Why a service is not in the listing.
enum NotListed {
    /// It cannot be adopted, for this reason (a warning; the listing goes on).
    Unadoptable(String),
    /// AWS failed; the error is in the listing's diagnostics.
    Failed,
}

/// The state import would build for `svc` with warnings about adopting it, or why not.
async fn adoptable(
    r: &CanaryDeployment,
    ctx: &Ctx,
    svc: &Service,
    diags: &mut Diagnostics,
) -> Result<(Value, Diagnostics), NotListed> {
    if let Some(reason) = adopt::unadoptable(svc) {
        return Err(NotListed::Unadoptable(reason));
    }
    let cluster = arn::cluster_name(&svc.cluster_arn).to_string();
    let id = resource_id(&cluster, &svc.name);
    let listed = ecs::find_task_sets(&ctx.aws.ecs, &cluster, &svc.name, &[]).await;
    let subject = format!("service {:?} in cluster {cluster:?}", svc.name);
    let Some((sets, _)) = reported(listed, diags, None, "Could not list task sets", &subject)
    else {
        return Err(NotListed::Failed);
    };
    if let Some((t, owner)) = adopt::claimed_elsewhere(&sets, &id) {
        return Err(NotListed::Unadoptable(format!(
            "task set {} is owned by another deployment, {owner:?} (tag {TAG_DEPLOYMENT})",
            t.id
        )));
    }
    let mut notes = Diagnostics::new();
    let state = imported_state(ctx, &cluster, &svc.name, &sets, &mut notes, diags).await?;
    // Read fills in what the routers say (weights, the canary's traffic share), as import does.
    let mut read = Diagnostics::new();
    let mut state = r.read(ctx, &state, &mut read).await;
    if read.has_errors() {
        diags.extend(read);
        return Err(NotListed::Failed);
    }
    if state.is_null() {
        return Err(NotListed::Unadoptable(
            "it went away while it was being listed".to_string(),
        ));
    }
    notes.extend(read);
    state.set("rollout_steps", Value::List(vec![]));
    Ok((state, notes))
}

fn kind_name(kind: elbv2::Kind) -> &'static str {
    match kind {
        elbv2::Kind::Listener => "Listener",
        elbv2::Kind::Rule => "Listener rule",
    }
}

/// What `import` builds before it tags the task sets, read-only.
///
/// This mirrors `CanaryDeployment::import` in `canary_deployment.rs` step for step until the
/// canary resource's own read-only import builder lands (issue 13 depends on that
/// restructuring); then this function goes and the listing calls that one.
/// Adoption problems are `Unadoptable`; AWS failures go to `diags`, warnings to `notes`.
async fn imported_state(
    ctx: &Ctx,
    cluster: &str,
    service: &str,
    sets: &[TaskSet],
    notes: &mut Diagnostics,
    diags: &mut Diagnostics,
) -> Result<Value, NotListed> {
    let live: Vec<&TaskSet> = sets.iter().filter(|t| t.status != "DRAINING").collect();
    let Some(stable) = live.iter().find(|t| t.status == "PRIMARY") else {
        return Err(NotListed::Unadoptable(
            "it has no PRIMARY task set".to_string(),
        ));
    };
    let others: Vec<&&TaskSet> = live.iter().filter(|t| t.id != stable.id).collect();
    if others.len() > 1 {
        return Err(NotListed::Unadoptable(format!(
            "it has task sets {} besides the PRIMARY {}, and a deployment holds a stable and at most one canary; finish or roll back the release in flight and delete the extra task sets first",
            others.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", "),
            stable.id
        )));
    }
    let canary = others.first();
    let primary_tg = stable
        .target_group_arns
        .first()
        .cloned()
        .unwrap_or_default();
    let canary_tg = canary.and_then(|c| c.target_group_arns.first().cloned());
    if canary.is_some()
        && (canary_tg.is_none() || canary_tg.as_deref() == Some(primary_tg.as_str()))
    {
        return Err(NotListed::Unadoptable(format!(
            "its canary is not on its own target group: task set {} must sit on a target group other than the PRIMARY's to be imported as the canary",
            canary.map(|c| c.id.as_str()).unwrap_or_default()
        )));
    }
    let discovered = elbv2::discover(&ctx.aws.elbv2, &primary_tg, canary_tg.as_deref()).await;
    let Some((routers, canary_tg)) = reported(
        discovered,
        diags,
        None,
        "Could not find the listeners and rules",
        &format!("target group {primary_tg}"),
    ) else {
        return Err(NotListed::Failed);
    };
    let discovered = routers.clone();
    let (routers, test_routers) =
        split_test_routers(routers, &primary_tg, canary_tg.as_deref(), canary.is_some());
    for left in discovered
        .iter()
        .filter(|d| !routers.iter().chain(&test_routers).any(|r| r.arn == d.arn))
    {
        notes.warning(
            format!("{} left out of the deployment", kind_name(left.kind)),
            format!(
                "{} {} of service {service:?} sends all its traffic to target group {} although no canary runs, so adopting leaves it unmanaged and moves no traffic. \
                 To have ecsx route test traffic there (to the stable task set while no canary runs, to the canary while one does), add it to {} after the import.",
                kind_name(left.kind),
                left.arn,
                canary_tg.as_deref().map(arn::target_group_label).unwrap_or_default(),
                match left.kind {
                    elbv2::Kind::Listener => "traffic.test_listener_arns",
                    elbv2::Kind::Rule => "traffic.test_listener_rule_arns",
                },
            ),
        );
    }
    let arns = |routers: &[Router], kind| {
        let v = Value::string_list(
            routers
                .iter()
                .filter(|r| r.kind == kind)
                .map(|r| r.arn.as_str()),
        );
        if v.as_list().is_empty() {
            Value::Null
        } else {
            v
        }
    };
    Ok(Value::object([
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
        ("task_set", Value::List(vec![template_of(stable)])),
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
                ("listener_arns", arns(&routers, elbv2::Kind::Listener)),
                ("listener_rule_arns", arns(&routers, elbv2::Kind::Rule)),
                (
                    "test_listener_arns",
                    arns(&test_routers, elbv2::Kind::Listener),
                ),
                (
                    "test_listener_rule_arns",
                    arns(&test_routers, elbv2::Kind::Rule),
                ),
            ])]),
        ),
        ("timeouts", Value::List(vec![])),
    ]))
}
