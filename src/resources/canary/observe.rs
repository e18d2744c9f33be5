//! What AWS holds: Read (task sets, weights, drift, orphans) and the plan-time checks of the
//! service and of the listeners and rules a deployment rewrites.

use super::drift::Drift;
use super::model::{CanarySpec, Desired, Observed, TaskSetRef, MAX_TASK_SETS};
use super::release::Release;
use super::release::{read_back, record, StandIn, TAG_RELEASE};
use super::rollout::{Rollout, Step};
use super::template::{EcsDefault, Template};
use crate::arn;
use crate::aws::ecs::{self, TaskSet};
use crate::aws::elbv2::{self, Router};
use crate::aws::AwsError;
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::Ctx;
use crate::resources::ownership::{owned_active, owned_by, Role, TAG_DEPLOYMENT, TAG_ROLE};
use crate::resources::support::{aws_error, external_service_or_later, reported};
use crate::value::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// Refreshes the state: one DescribeServices (its task sets included), one DescribeListeners
/// and one DescribeRules, at once, so that concurrent refreshes meet in the same coalesced
/// calls (src/aws/batch.rs); a DescribeTaskSets only when tags must be read (see
/// [`tags_needed`]), or always with coalescing off. The plan right after may reuse what was
/// read here for its checks.
pub(crate) async fn read(ctx: &Ctx, state: &Value, diags: &mut Diagnostics) -> Value {
    let d = Desired::from(state);
    let (svc, routers) = tokio::join!(
        ctx.aws.reads.service(&d.cluster, &d.service),
        find_routers_for_refresh(ctx, &d)
    );
    let svc = match svc {
        Ok(s) if s.is_active() => s,
        Ok(_) | Err(AwsError::NotFound { .. }) => {
            diags.warning(
                "ECS service gone; removing from state",
                format!("Service {:?} in cluster {:?} no longer exists or is not ACTIVE, so ecsx_canary_deployment {} was removed from the state.", d.service, d.cluster, d.id()),
            );
            return Value::Null;
        }
        Err(e) => {
            aws_error(
                diags,
                None,
                "Could not read the ECS service",
                &format!("service {:?} in cluster {:?}", d.service, d.cluster),
                &e,
            );
            return state.clone();
        }
    };
    let Some((all_routers, test_routers)) = reported(
        routers,
        diags,
        Some(AttrPath::attr("traffic")),
        "Could not read listeners and rules",
        &format!("deployment {}", d.id()),
    ) else {
        return state.clone();
    };
    let tags = tags_needed(state, &svc) || acted_since(state, &svc, &all_routers);
    let sets = if !ctx.aws.reads.saves_reads() || tags {
        let listed = ecs::find_task_sets(&ctx.aws.ecs, &d.cluster, &d.service, &[]).await;
        let subject = format!("service {:?} in cluster {:?}", d.service, d.cluster);
        match reported(listed, diags, None, "Could not list task sets", &subject) {
            Some((sets, _)) => sets,
            None => return state.clone(),
        }
    } else {
        owned_as_recorded(state, &d, &svc)
    };
    let both: Vec<Router> = all_routers.iter().chain(&test_routers).cloned().collect();
    ctx.aws.reads.remember(&d.cluster, &svc, &both);
    // What an ecsx_canary_continue or ecsx_canary_abort action did since the last apply:
    // records on the deployment's task sets (0.1.x's actions left them on the service).
    let mut state = state.clone();
    let id = d.id();
    let records: Vec<&BTreeMap<String, String>> = sets
        .iter()
        .filter(|t| owned_by(t, &id))
        .map(|t| &t.tags)
        .collect();
    let canary_created = TaskSetRef::read(&state, Role::Canary)
        .and_then(|c| sets.iter().find(|t| t.id == c.id))
        .and_then(|t| t.created_at.as_deref())
        .and_then(|at| {
            aws_smithy_types::DateTime::from_str(at, aws_smithy_types::date_time::Format::DateTime)
                .ok()
        });
    if let Some(r) = read_back(&state, &svc.tags, &records, canary_created) {
        record(&mut state, &r);
    }
    let d = Desired::from(&state);
    observe(&state, &d, &svc, &sets, &all_routers, &test_routers)
}

/// Whether a refresh must read the task sets' tags (DescribeTaskSets): DescribeServices lists
/// every task set but not its tags, and tags tell whose a task set is. They are needed when
/// the service has a live task set the state does not record (an orphan of this deployment,
/// a PRIMARY that a promotion the state missed made, or somebody else's), or when the state's
/// drift says a recorded task set does not carry the ownership tag yet (just imported).
/// DRAINING task sets need none: ECS removes them, and nothing ecsx decides depends on whose
/// they were. See also [`acted_since`].
pub(crate) fn tags_needed(state: &Value, svc: &ecs::Service) -> bool {
    let recorded = recorded_ids(state);
    let unknown = svc
        .task_sets
        .iter()
        .any(|t| !t.is_draining() && !recorded.contains(&t.id));
    let untagged = Drift::from_values(state.get("drift"))
        .iter()
        .any(|d| matches!(d, Drift::NotOwned { .. }));
    unknown || untagged
}

/// Whether the service or the managed routers show what an `ecsx_canary_continue` or
/// `ecsx_canary_abort` action leaves behind while the state records a canary: the canary gone
/// or draining, another PRIMARY, or weights other than the state's. Only then can a release
/// record on the task sets (`ecsx:release`) be newer than the state, and only then does a
/// refresh read their tags for it. An approval whose action did nothing else is missed, so
/// the gate holds again: the safe way round.
pub(crate) fn acted_since(state: &Value, svc: &ecs::Service, managed: &[Router]) -> bool {
    let Some(canary) = TaskSetRef::read(state, Role::Canary) else {
        return false;
    };
    let canary_live = svc
        .task_sets
        .iter()
        .any(|t| t.id == canary.id && !t.is_draining());
    let stable = TaskSetRef::read(state, Role::Stable).map(|t| t.id);
    let primary_moved = svc.primary().map(|p| p.id.clone()) != stable;
    let d = Desired::from(state);
    // States from before `live_target_group_arn` kept the stable on the primary one.
    let live = state
        .get("live_target_group_arn")
        .as_str()
        .unwrap_or(&d.primary_tg);
    let weights = (
        state.get("primary_weight").as_i64(),
        state.get("canary_weight").as_i64(),
    );
    let weights_moved = match weights {
        (Some(pw), Some(cw)) => {
            let want = [
                (live.to_string(), pw as i32),
                (d.other_tg(live).to_string(), cw as i32),
            ];
            managed.iter().any(|r| !r.forwards_exactly(&want))
        }
        _ => true,
    };
    !canary_live || primary_moved || weights_moved
}

/// The ids of the stable and canary task sets the state records.
fn recorded_ids(state: &Value) -> Vec<String> {
    [Role::Stable, Role::Canary]
        .into_iter()
        .filter_map(|r| TaskSetRef::read(state, r).map(|t| t.id))
        .collect()
}

/// The service's task sets when [`tags_needed`] says no tags must be read: the ones the state
/// records are this deployment's (the apply that recorded them tagged them so, and an import
/// that found them untagged left drift that makes the refresh read the tags instead); the
/// others are DRAINING and carry no tags here.
fn owned_as_recorded(state: &Value, d: &Desired, svc: &ecs::Service) -> Vec<TaskSet> {
    let recorded = recorded_ids(state);
    svc.task_sets
        .iter()
        .map(|t| {
            let mut t = t.clone();
            t.tags.clear();
            if recorded.contains(&t.id) {
                t.tags.insert(TAG_DEPLOYMENT.to_string(), d.id());
            }
            t
        })
        .collect()
}

/// What a create starts from: task sets already tagged for its deployment mean an earlier
/// create died (Terraform or the provider killed) after CreateTaskSet and before anything
/// reached the state. No Read runs before a create, so they would never show as orphans.
/// The stable task set that create made (its version, on the primary target group, from the
/// same template) is taken over, so that no second one comes up next to it on a target group
/// that may already serve traffic; the others are deleted at the end.
///
/// With the service at hand (`svc`, read moments ago): no live task set there means nothing
/// was left, and the tags need not be read (DescribeTaskSets).
pub(crate) async fn leftovers(
    ctx: &Ctx,
    d: &Desired,
    svc: Option<&ecs::Service>,
) -> Result<Observed, AwsError> {
    if svc.is_some_and(|s| s.task_sets.iter().all(|t| t.is_draining())) {
        return Ok(resume_create(d, &[]));
    }
    let (sets, _) = ecs::find_task_sets(&ctx.aws.ecs, &d.cluster, &d.service, &[]).await?;
    Ok(resume_create(d, &sets))
}

pub(crate) fn resume_create(d: &Desired, sets: &[TaskSet]) -> Observed {
    let id = d.id();
    let same_template = |t: &TaskSet| {
        let read = Template {
            ecs_defaults: EcsDefault::of(t, None),
            ..Template::from(&Value::List(vec![Template::block_of(t)]))
        };
        read.creates_same_as(&d.template)
    };
    let live: Vec<&TaskSet> = sets
        .iter()
        .filter(|t| owned_by(t, &id) && !t.is_draining())
        .collect();
    let resumed = live.iter().copied().find(|t| {
        t.tags.get(TAG_ROLE).map(String::as_str) == Some(Role::Stable.as_str())
            && t.task_definition == d.stable_td
            && t.target_group_arns.first() == Some(&d.primary_tg)
            && same_template(t)
    });
    let Some(t) = resumed else {
        return Observed {
            orphans: owned_active(sets, &id),
            ..Observed::default()
        };
    };
    // A canary the earlier create left on the other target group, which traffic may reach:
    // taken over as the recorded canary, so the planner keeps it when it runs the configured
    // version, and otherwise moves all traffic off it and deletes it before a new canary
    // comes up there.
    let canary = live
        .iter()
        .copied()
        .find(|c| c.id != t.id && c.target_group_arns.first() == Some(&d.canary_tg));
    // How that create left the release, if it got far enough to say.
    let record = d.canary.as_ref().and_then(|c| {
        live.iter()
            .filter_map(|t| t.tags.get(TAG_RELEASE))
            .filter_map(|v| Release::from_tag(v, &c.task_definition, c.attempt, &d.stable_td))
            .max_by_key(Release::made_at)
    });
    let orphans: Vec<String> = owned_active(sets, &id)
        .into_iter()
        .filter(|o| *o != t.id && canary.is_none_or(|c| c.id != *o))
        .collect();
    // Deployed as configured, except that nothing is known of the routers (the create may
    // have died before, between or after its shifts): every one is written.
    let mut deployed = d.clone();
    deployed.canary = canary.map(|c| {
        let configured = d
            .canary
            .as_ref()
            .filter(|k| k.task_definition == c.task_definition && same_template(c));
        CanarySpec {
            task_definition: c.task_definition.clone(),
            scale: c.scale_percent,
            ..configured
                .cloned()
                .unwrap_or_else(|| CanarySpec::running(c))
        }
    });
    deployed.routers.clear();
    deployed.test_routers.clear();
    let stable = TaskSetRef::of(t);
    Observed {
        deployed: Some(deployed),
        drift: if t.is_primary() {
            vec![]
        } else {
            vec![Drift::PrimaryMoved {
                stable: stable.id.clone(),
                primary: None,
            }]
        },
        stable: Some(stable),
        canary: canary.map(TaskSetRef::of),
        live_tg: Some(d.primary_tg.clone()),
        orphans,
        record,
        ..Observed::default()
    }
}

/// Managed and test routers, as read.
pub(crate) type Routers = (Vec<Router>, Vec<Router>);

/// One DescribeListeners and one DescribeRules call for every managed and test router, each
/// coalesced with concurrent requests of other deployments.
pub(crate) async fn find_routers(ctx: &Ctx, d: &Desired) -> Result<Routers, AwsError> {
    let writes = elbv2::router_writes();
    let (listeners, rules) = router_arns(d);
    let (listeners, rules) = tokio::join!(
        ctx.aws.reads.listeners(&listeners),
        ctx.aws.reads.rules(&rules)
    );
    let all: Vec<Router> = listeners?.into_iter().chain(rules?).collect();
    ctx.aws.reads.note_routers(&all, writes);
    Ok(split_test_routers(d, all))
}

/// [`find_routers`] for an apply: what this process read less than a second ago with no
/// router write begun since (Terraform's re-plan right before the apply, the read-back that
/// ended the shift before) is as good as a read now; anything older is read again.
pub(crate) async fn find_routers_fresh(ctx: &Ctx, d: &Desired) -> Result<Routers, AwsError> {
    match ctx.aws.reads.routers_just_read(&all_router_arns(d)) {
        Some(all) => Ok(split_test_routers(d, all)),
        None => find_routers(ctx, d).await,
    }
}

/// [`find_routers`] for Read: deployments sharing listeners and rules share one read of them
/// within a refresh (src/aws/batch.rs `REFRESH_SHARE`).
async fn find_routers_for_refresh(
    ctx: &Ctx,
    d: &Desired,
) -> Result<(Vec<Router>, Vec<Router>), AwsError> {
    let (listeners, rules) = router_arns(d);
    let (listeners, rules) = tokio::join!(
        ctx.aws.reads.refresh_listeners(&listeners),
        ctx.aws.reads.refresh_rules(&rules)
    );
    let all: Vec<Router> = listeners?.into_iter().chain(rules?).collect();
    Ok(split_test_routers(d, all))
}

/// Every listener and rule ARN of a deployment, test routers included, in configuration order.
fn all_router_arns(d: &Desired) -> Vec<String> {
    d.routers
        .iter()
        .chain(&d.test_routers)
        .map(|(_, a)| a.clone())
        .collect()
}

/// The listener ARNs and the rule ARNs of a deployment, test routers included.
fn router_arns(d: &Desired) -> (Vec<String>, Vec<String>) {
    let pick = |kind| -> Vec<String> {
        d.routers
            .iter()
            .chain(&d.test_routers)
            .filter(|(k, _)| *k == kind)
            .map(|(_, a)| a.clone())
            .collect()
    };
    (pick(elbv2::Kind::Listener), pick(elbv2::Kind::Rule))
}

fn split_test_routers(d: &Desired, all: Vec<Router>) -> (Vec<Router>, Vec<Router>) {
    let is_test = |r: &Router| d.test_routers.iter().any(|(_, a)| *a == r.arn);
    let (test, managed): (Vec<Router>, Vec<Router>) = all.into_iter().partition(is_test);
    (managed, test)
}

/// The routers as the refresh of this plan read them moments ago, else read now.
pub(crate) async fn find_routers_at_plan(ctx: &Ctx, d: &Desired) -> Result<Routers, AwsError> {
    match ctx.aws.reads.recent_routers(&all_router_arns(d)) {
        Some(all) => Ok(split_test_routers(d, all)),
        None => find_routers(ctx, d).await,
    }
}

/// Where a listener or rule ARN sits in the configuration, e.g. `traffic[0].listener_rule_arns[1]`.
pub(crate) fn router_path(d: &Desired, arn: &str) -> AttrPath {
    let traffic = AttrPath::attr("traffic").index(0);
    let lists = [
        (&d.routers, elbv2::Kind::Listener, "listener_arns"),
        (&d.routers, elbv2::Kind::Rule, "listener_rule_arns"),
        (&d.test_routers, elbv2::Kind::Listener, "test_listener_arns"),
        (
            &d.test_routers,
            elbv2::Kind::Rule,
            "test_listener_rule_arns",
        ),
    ];
    for (routers, kind, name) in lists {
        let mut of_kind = routers.iter().filter(|(k, _)| *k == kind);
        if let Some(i) = of_kind.position(|(_, a)| a == arn) {
            return traffic.then(name).index(i);
        }
    }
    traffic
}

/// Whether the rollout would create a task set, so that [`note_forwarded`] matters:
/// CreateTaskSet refuses a target group that no listener or rule forwards to.
pub(crate) fn creates_task_sets(seen: &Observed, d: &Desired) -> bool {
    Rollout::plan(seen, d).creates() > 0
}

/// Fills in [`Observed::forwarded`]: the target groups the routers, as just read, forward to.
pub(crate) fn note_forwarded(seen: &mut Observed, (managed, test): &Routers) {
    let mut forwarded: Vec<String> = managed
        .iter()
        .chain(test)
        .flat_map(|r| r.weights().unwrap_or_default())
        .map(|(tg, _)| tg)
        .collect();
    forwarded.sort();
    forwarded.dedup();
    seen.forwarded = Some(forwarded);
}

/// Safety rule: a managed router must forward only to the deployment's two target groups.
/// Checked on `found`, the routers as the plan or the start of an apply read them (every
/// shift checks again on its own read right before writing); a read that failed because a
/// listener or rule does not exist is reported at its place in the configuration.
pub(crate) async fn check_routers(
    ctx: &Ctx,
    d: &Desired,
    found: Result<Routers, AwsError>,
    diags: &mut Diagnostics,
) -> Result<(), AwsError> {
    let (managed, test) = match found {
        Ok(found) => found,
        Err(e) if e.is_not_found() => return report_missing_routers(ctx, d, e, diags).await,
        Err(e) => return Err(e),
    };
    check_ecs_owned(ctx, d, diags).await;
    for r in managed.iter().chain(&test) {
        match r.weights() {
            None => diags.error_at(
                router_path(d, &r.arn),
                "Managed listener or rule does not forward",
                format!(
                    "The {} {} has no forward action; ecsx only rewrites forward actions.",
                    r.kind.noun(),
                    r.arn
                ),
            ),
            Some(w) => {
                for (tg, _) in w.iter().filter(|(tg, _)| !d.owns_target_group(tg)) {
                    diags.error_at(
                        router_path(d, &r.arn),
                        "Managed listener or rule forwards to another target group",
                        format!(
                            "The {} {} forwards to target group {tg}, which is neither the primary nor the canary target group of deployment {}. ecsx will not take traffic from a target group it does not manage.",
                            r.kind.noun(), r.arn, d.id()
                        ),
                    );
                }
            }
        }
    }
    Ok(())
}

/// Both configured target groups exist, and each one a load balancer already uses is on the
/// load balancer of the managed listeners and rules (ELBv2 lets a target group serve one
/// load balancer only). False when one is missing: the routers then forward to a target
/// group this deployment does not name, which says nothing useful next to this error.
pub(crate) async fn check_target_groups(ctx: &Ctx, d: &Desired, diags: &mut Diagnostics) -> bool {
    let balancers: Vec<String> = d
        .routers
        .iter()
        .chain(&d.test_routers)
        .filter_map(|(_, arn)| arn::load_balancer_of(arn))
        .collect();
    let (primary, canary) = tokio::join!(
        elbv2::find_target_group(&ctx.aws.elbv2, &d.primary_tg),
        elbv2::find_target_group(&ctx.aws.elbv2, &d.canary_tg)
    );
    let mut all_there = true;
    for (attr, arn, found) in [
        ("primary_target_group_arn", &d.primary_tg, primary),
        ("canary_target_group_arn", &d.canary_tg, canary),
    ] {
        let path = AttrPath::attr("traffic").index(0).then(attr);
        match found {
            Err(e) if e.is_not_found() => {
                all_there = false;
                diags.error_at(
                    path,
                    "Target group not found",
                    format!(
                        "Target group {arn} does not exist in the provider's region ({}) (TargetGroupNotFound). Check traffic.{attr}: the deployment's task sets register there, and the listeners and rules must forward to it.",
                        ctx.aws.region
                    ),
                );
            }
            Err(e) => aws_error(
                diags,
                Some(path),
                "Could not read the target group",
                &format!("target group {arn}"),
                &e,
            ),
            Ok(tg) => {
                let elsewhere = !tg.load_balancer_arns.is_empty()
                    && !balancers.is_empty()
                    && !tg
                        .load_balancer_arns
                        .iter()
                        .any(|lb| balancers.contains(lb));
                if elsewhere {
                    diags.error_at(
                        path,
                        "Target group belongs to another load balancer",
                        format!(
                            "Target group {arn} serves load balancer {}, not the one of the managed listeners and rules ({}). A target group serves one load balancer only; check traffic.{attr}.",
                            tg.load_balancer_arns.join(", "),
                            balancers.first().cloned().unwrap_or_default()
                        ),
                    );
                }
            }
        }
    }
    all_there
}

/// Containers of task definitions, read once per provider process: a task definition revision
/// never changes.
static CONTAINERS: std::sync::Mutex<BTreeMap<String, Containers>> =
    std::sync::Mutex::new(BTreeMap::new());

/// A task definition's containers, each with the container ports it maps.
type Containers = Vec<(String, Vec<i32>)>;

/// Each task definition the apply starts a task set of has the configured container, and the
/// container maps the configured port: CreateTaskSet would refuse it only once the apply runs
/// (or, for a port, the load balancer would find nothing listening). A task definition that
/// cannot be read is left to CreateTaskSet to judge.
pub(crate) async fn check_containers(ctx: &Ctx, d: &Desired, r: &Rollout, diags: &mut Diagnostics) {
    let mut started: Vec<&str> = r
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Create {
                task_definition, ..
            } => Some(task_definition.as_str()),
            _ => None,
        })
        .collect();
    started.dedup();
    let (name, port) = (&d.template.container_name, d.template.container_port);
    for td in started {
        let cached = CONTAINERS.lock().ok().and_then(|c| c.get(td).cloned());
        let containers = match cached {
            Some(c) => c,
            None => match ecs::task_definition_containers(&ctx.aws.ecs, td).await {
                Ok(c) => {
                    if let Ok(mut cache) = CONTAINERS.lock() {
                        cache.insert(td.to_string(), c.clone());
                    }
                    c
                }
                Err(e) => {
                    crate::log::debug(
                        "task definition not read; CreateTaskSet will judge it",
                        &[
                            ("task_definition", td.into()),
                            ("error", e.to_string().into()),
                        ],
                    );
                    continue;
                }
            },
        };
        let ts = AttrPath::attr("task_set").index(0);
        let label = arn::task_definition_label(td);
        match containers.iter().find(|(n, _)| n == name) {
            None => diags.error_at(
                ts.then("container_name"),
                "Container not in the task definition",
                format!(
                    "Task definition {label} has no container named {name:?}; its containers: {}. Check task_set.container_name.",
                    containers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ),
            Some((_, ports)) if !ports.contains(&port) => diags.error_at(
                ts.then("container_port"),
                "Container port not mapped",
                format!(
                    "Container {name:?} of task definition {label} maps {}, not port {port}, so the load balancer would reach nothing there. Check task_set.container_port, or add the port mapping to the task definition.",
                    if ports.is_empty() {
                        "no ports".to_string()
                    } else {
                        format!("ports {}", ports.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "))
                    }
                ),
            ),
            Some(_) => {}
        }
    }
}

/// The services of a cluster that have ECS shift listener rules itself, read once per cluster
/// and provider process: every deployment of one plan or apply shares the scan.
type EcsOwned = Vec<(String, String)>;
static ECS_OWNED: std::sync::Mutex<
    BTreeMap<String, std::sync::Arc<tokio::sync::OnceCell<EcsOwned>>>,
> = std::sync::Mutex::new(BTreeMap::new());

/// (service name, router ARN) for every listener rule or listener of `cluster` that a service
/// on the ECS deployment controller names in its `advancedConfiguration`.
async fn ecs_owned_routers(ctx: &Ctx, cluster: &str) -> Result<EcsOwned, AwsError> {
    let cell = ECS_OWNED
        .lock()
        .map(|mut m| m.entry(cluster.to_string()).or_default().clone())
        .unwrap_or_default();
    cell.get_or_try_init(|| async {
        let services = ecs::services_with_ecs_routers(&ctx.aws.ecs, cluster).await?;
        Ok::<_, AwsError>(
            services
                .iter()
                .flat_map(|s| s.ecs_routers.iter().map(|r| (s.name.clone(), r.clone())))
                .collect(),
        )
    })
    .await
    .cloned()
}

/// A listener rule (or NLB listener) that ECS itself shifts for a native blue/green, canary or
/// linear service: ECS rewrites its weights at that service's next deployment and does not
/// repair outside changes, so two controllers on one rule would undo each other. Refused,
/// like rules that forward to another deployment's target groups. Only the deployment's own
/// cluster is searched (ECS has no lookup from a rule to the services that name it).
async fn check_ecs_owned(ctx: &Ctx, d: &Desired, diags: &mut Diagnostics) {
    let owned = match ecs_owned_routers(ctx, &d.cluster).await {
        Ok(owned) => owned,
        // A cluster the same apply creates has no services yet.
        Err(e) if e.is_not_found() => return,
        Err(e) => {
            aws_error(
                diags,
                Some(AttrPath::attr("traffic")),
                "Could not list the cluster's services",
                &format!("cluster {:?}, for deployment {}", d.cluster, d.id()),
                &e,
            );
            return;
        }
    };
    for (kind, arn) in d.routers.iter().chain(&d.test_routers) {
        if let Some((service, _)) = owned.iter().find(|(_, r)| r == arn) {
            diags.error_at(
                router_path(d, arn),
                "Listener or rule managed by Amazon ECS",
                format!(
                    "The {} {arn} is named in the advancedConfiguration of ECS service {service:?} in cluster {:?}: ECS shifts its weights itself during that service's deployments. ecsx will not share it with another controller; give deployment {} a listener rule of its own.",
                    kind.noun(),
                    d.cluster,
                    d.id()
                ),
            );
        }
    }
}

/// ELBv2 refuses a whole Describe call for one unknown ARN without naming it: asks for each
/// listener and rule alone, and reports every missing one at its place in the configuration.
async fn report_missing_routers(
    ctx: &Ctx,
    d: &Desired,
    batch_error: AwsError,
    diags: &mut Diagnostics,
) -> Result<(), AwsError> {
    let mut missing = 0;
    for (kind, arn) in d.routers.iter().chain(&d.test_routers) {
        let one = std::slice::from_ref(arn);
        let found = match kind {
            elbv2::Kind::Listener => elbv2::find_listeners(&ctx.aws.elbv2, one).await,
            elbv2::Kind::Rule => elbv2::find_rules(&ctx.aws.elbv2, one).await,
        };
        match found {
            Err(e) if e.is_not_found() => {
                missing += 1;
                let (summary, code) = match kind {
                    elbv2::Kind::Listener => ("Listener not found", "ListenerNotFound"),
                    elbv2::Kind::Rule => ("Listener rule not found", "RuleNotFound"),
                };
                diags.error_at(
                    router_path(d, arn),
                    summary,
                    format!(
                        "The {} {arn} does not exist in the provider's region ({}) ({code}). Check the ARN, or create it before the deployment.",
                        kind.noun(),
                        ctx.aws.region
                    ),
                );
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    if missing == 0 {
        return Err(batch_error);
    }
    Ok(())
}

/// The service must exist and be EXTERNAL-controlled (a service this apply creates is
/// checked again then). Safety rules: ECS allows five task sets per service, so a plan that
/// creates more fails, naming those in the way; and no step may send traffic to a task set
/// that runs no tasks.
pub(crate) async fn check_service(ctx: &Ctx, d: &Desired, r: &Rollout, diags: &mut Diagnostics) {
    // The refresh of this plan read the service moments ago; anything but an ACTIVE EXTERNAL
    // service is read again, so its diagnostics stay those of today.
    let recent = ctx
        .aws
        .reads
        .recent_service(&d.cluster, &d.service)
        .filter(|s| s.is_active() && s.is_external());
    let svc = match recent {
        Some(s) => s,
        None => match external_service_or_later(ctx, &d.cluster, &d.service, diags).await {
            Some(s) => s,
            None => return,
        },
    };
    // Terraform's re-plan right before an apply: the apply starts from this read.
    ctx.aws.reads.note_service(&d.cluster, &svc);
    let delays = if over_limit(&svc, r) {
        draining_delays(ctx, &svc).await
    } else {
        BTreeMap::new()
    };
    check_room(&svc, d, r, &delays, diags);
    check_capacity(&svc, d, r, diags);
}

fn over_limit(svc: &ecs::Service, r: &Rollout) -> bool {
    svc.task_sets.len() + r.creates() > MAX_TASK_SETS
}

/// The deregistration delay of each target group a DRAINING task set of `svc` sits on (one
/// DescribeTargetGroupAttributes each), read only when the plan hits the task set limit, so
/// that the error can say when each will be gone. A group that cannot be read is left out.
async fn draining_delays(ctx: &Ctx, svc: &ecs::Service) -> BTreeMap<String, Duration> {
    let mut out = BTreeMap::new();
    let groups = svc
        .task_sets
        .iter()
        .filter(|t| t.is_draining())
        .flat_map(|t| t.target_group_arns.iter());
    for tg in groups {
        if !out.contains_key(tg) {
            if let Ok(delay) = elbv2::deregistration_delay(&ctx.aws.elbv2, tg).await {
                out.insert(tg.clone(), delay);
            }
        }
    }
    out
}

/// When a DRAINING task set will be gone, roughly: when it started draining plus the longest
/// deregistration delay of its target groups. None when a delay or the start is unknown.
fn gone_around(t: &TaskSet, delays: &BTreeMap<String, Duration>) -> Option<String> {
    let since = t.updated_time?;
    if t.target_group_arns.is_empty() {
        return None;
    }
    let mut longest = Duration::ZERO;
    for tg in &t.target_group_arns {
        longest = longest.max(*delays.get(tg)?);
    }
    aws_smithy_types::DateTime::from(since + longest)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .ok()
}

fn check_room(
    svc: &ecs::Service,
    d: &Desired,
    r: &Rollout,
    delays: &BTreeMap<String, Duration>,
    diags: &mut Diagnostics,
) {
    let existing = svc.task_sets.len();
    if !over_limit(svc, r) {
        return;
    }
    let mut all_timed = true;
    let names: Vec<String> = svc
        .task_sets
        .iter()
        .map(|t| {
            let mut since = match (&t.updated_at, t.is_draining()) {
                (Some(at), true) => format!(", draining since {at}"),
                _ => String::new(),
            };
            if t.is_draining() {
                match gone_around(t, delays) {
                    Some(at) => since += &format!(", gone around {at}"),
                    None => all_timed = false,
                }
            }
            format!(
                "{} ({}, {}{since})",
                t.id,
                t.status,
                arn::task_definition_label(&t.task_definition)
            )
        })
        .collect();
    let draining = svc.task_sets.iter().filter(|t| t.is_draining()).count();
    let wait = if draining > 0 && all_timed {
        format!(
            " {draining} of them are DRAINING: ECS removes each once its target group's deregistration delay has passed (the time given with each: when it started draining plus that delay), then plan again."
        )
    } else if draining > 0 {
        format!(
            " {draining} of them are DRAINING: ECS removes each once its target group's deregistration delay has passed (300 s unless the target group sets deregistration_delay.timeout_seconds), then plan again."
        )
    } else {
        " Delete task sets ecsx does not own, then plan again.".to_string()
    };
    diags.error_at(
        AttrPath::attr("service"),
        "Too many task sets on the service",
        format!(
            "This plan creates {} task set(s) while service {:?} already has {existing}: {}. ECS allows at most {MAX_TASK_SETS} task sets (DRAINING ones included) on a service.{wait}",
            r.creates(),
            d.service,
            names.join(", ")
        ),
    );
}

/// Tasks ECS runs for a task set at `scale_percent` of the service: the desired count times
/// the scale, rounded up.
fn computed_count(desired_count: i32, scale_percent: f64) -> i64 {
    (f64::from(desired_count.max(0)) * scale_percent / 100.0).ceil() as i64
}

/// Refuses weight on a task set that would run no tasks: with desiredCount 0 (or a scale that
/// rounds to nothing) every task set is STEADY_STATE at once with zero tasks, and the load
/// balancer would send that share of production traffic to an empty target group.
fn check_capacity(svc: &ecs::Service, d: &Desired, r: &Rollout, diags: &mut Diagnostics) {
    if !r.routes_production() {
        return;
    }
    let (pw, cw) = d.weights();
    let detail = |role: &str, scale: f64| {
        format!(
            "Service {:?} has desiredCount {}, so the {role} task set at {scale}% runs {} tasks, and the {role} target group would get production traffic with nothing behind it. \
             Scale the service up first (desired_count of aws_ecs_service, or UpdateService), or keep this share of traffic at 0.",
            d.service,
            svc.desired_count,
            computed_count(svc.desired_count, scale)
        )
    };
    if let Some(c) = d.canary.as_ref().filter(|_| cw > 0) {
        if computed_count(svc.desired_count, c.scale) == 0 {
            diags.error_at(
                AttrPath::attr("canary").index(0).then("traffic_percent"),
                "Traffic to a canary with no tasks",
                detail("canary", c.scale),
            );
        }
    }
    if pw > 0 && computed_count(svc.desired_count, d.stable_scale) == 0 {
        diags.error_at(
            AttrPath::attr("stable").index(0).then("scale_percent"),
            "Traffic to a stable task set with no tasks",
            detail("stable", d.stable_scale),
        );
    }
}

/// Turns what AWS holds into state: task sets by id, real scales and weights, orphans, and
/// [`Drift`] in the `drift` attribute (rendered into `rollout_steps` for people).
pub(crate) fn observe(
    state: &Value,
    d: &Desired,
    svc: &ecs::Service,
    sets: &[TaskSet],
    managed: &[Router],
    test: &[Router],
) -> Value {
    let mut next = state.clone();
    let id = d.id();
    next.set("id", Value::from(id.as_str()));
    let find = |role: Role| {
        TaskSetRef::read(state, role)
            .and_then(|want| sets.iter().find(|t| t.id == want.id && !t.is_draining()))
    };
    let mut stable = find(Role::Stable);
    let mut canary = find(Role::Canary);
    let mut live_tg = Observed::from_state(state).live_tg;
    let mut release = d.last_release.clone();
    // A promotion the state never recorded (the provider or Terraform died after
    // UpdateServicePrimaryTaskSet): a task set of this deployment is PRIMARY, and either the
    // stable task set is gone, or the PRIMARY one is neither the recorded stable nor canary
    // (a new stable or bridge, which takes PRIMARY only once all traffic is on it). That one
    // is the stable task set now; the old one, if still there, is an orphan.
    let unrecorded =
        |t: &TaskSet| stable.is_none_or(|s| s.id != t.id) && canary.is_none_or(|c| c.id != t.id);
    if TaskSetRef::read(state, Role::Stable).is_some() {
        if let Some(p) = svc
            .primary()
            .and_then(|p| sets.iter().find(|t| t.id == p.id))
            .filter(|t| owned_by(t, &id) && !t.is_draining())
            .filter(|t| stable.is_none() || unrecorded(t))
        {
            if canary.is_some_and(|c| c.id == p.id) {
                canary = None;
            }
            // The canary's version took over from another stable version: that is its
            // promotion, by an ecsx_canary_continue action or an apply that died after it
            // (whose `promote = true`, or stable.task_definition naming the canary's version,
            // never reached the state). `swap` made the canary itself PRIMARY; `replace` a new
            // task set of its version on the primary target group, the canary going after.
            let configured_stable = state.block("stable").get("task_definition").clone();
            if let Some(c) = d.canary.as_ref().filter(|c| {
                c.task_definition == p.task_definition
                    && configured_stable.as_str() != Some(c.task_definition.as_str())
            }) {
                let promoted = Release {
                    stable_task_definition: configured_stable
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    ..Release::of(c, Release::PROMOTED, String::new())
                };
                record(&mut next, &promoted);
                release = Some(promoted);
            }
            stable = Some(p);
            if let Some(tg) = p.target_group_arns.first() {
                live_tg = Some(tg.clone());
            }
            TaskSetRef::write(&mut next, Role::Stable, Some(&TaskSetRef::of(p)));
        }
    }
    let live = live_tg.clone().unwrap_or_else(|| d.primary_tg.clone());
    let idle = d.other_tg(&live).to_string();
    next.set("live_target_group_arn", Value::from(live.as_str()));
    let mut drift = Vec::new();
    for (t, role) in [(stable, Role::Stable), (canary, Role::Canary)] {
        if let Some(t) = t.filter(|t| !owned_by(t, &id)) {
            drift.push(Drift::NotOwned {
                task_set: t.id.clone(),
                role,
            });
        }
    }

    match stable {
        Some(t) => {
            let mut block = state.block("stable").clone();
            // A version a promotion made stable stands in for the configured one.
            let configured = block.get("task_definition").as_str().unwrap_or_default();
            let stands_in =
                StandIn::read(&next).and_then(|s| s.runs_for(configured).map(str::to_string));
            if stands_in.as_deref() != Some(t.task_definition.as_str()) {
                block.set("task_definition", Value::from(t.task_definition.as_str()));
            }
            block.set("scale_percent", Value::from(t.scale_percent));
            next.set("stable", Value::List(vec![block]));
            if svc.primary().is_none_or(|p| p.id != t.id) {
                drift.push(Drift::PrimaryMoved {
                    stable: t.id.clone(),
                    primary: svc.primary().map(|p| p.id.clone()),
                });
            }
        }
        None => TaskSetRef::write(&mut next, Role::Stable, None),
    }
    let canary_weight = managed.first().map(|r| r.weight_of(&idle) as i64);
    match canary {
        Some(t) => {
            let mut block = state.block("canary").clone();
            if block.is_null() {
                block = Value::object([("traffic_percent", Value::from(0i64))]);
            }
            block.set("task_definition", Value::from(t.task_definition.as_str()));
            block.set("scale_percent", Value::from(t.scale_percent));
            // With steps, where the release ends is the last step's weight; a weight off
            // it shows in canary_weight instead.
            if let Some(w) = canary_weight.filter(|_| block.get("step").as_list().is_empty()) {
                block.set("traffic_percent", Value::from(w));
            }
            next.set("canary", Value::List(vec![block]));
        }
        None => {
            // A canary version an alarm rolled back, or one promoted, stays configured but
            // held (`last_release`).
            let configured = state.block("canary").get("task_definition").as_str();
            let promoted = release.as_ref().is_some_and(|r| {
                r.result == Release::PROMOTED && configured == Some(r.task_definition.as_str())
            });
            if d.held.is_none() && !promoted {
                next.set("canary", Value::List(vec![]));
            }
            TaskSetRef::write(&mut next, Role::Canary, None);
        }
    }

    // Weights: report the first managed router that differs from the state, so any hand edit shows.
    let expected = (
        state.get("primary_weight").as_i64(),
        state.get("canary_weight").as_i64(),
    );
    let seen: Vec<(i64, i64)> = managed
        .iter()
        .map(|r| (r.weight_of(&live) as i64, r.weight_of(&idle) as i64))
        .collect();
    let (pw, cw) = seen
        .iter()
        .copied()
        .find(|w| (Some(w.0), Some(w.1)) != expected)
        .or(seen.first().copied())
        .unwrap_or((100, 0));
    next.set("primary_weight", Value::from(pw));
    next.set("canary_weight", Value::from(cw));
    // A shift cut short (a crash between two ModifyRule calls) leaves routers disagreeing;
    // one weight pair cannot show that, so it is drift, and the next plan shifts them all again.
    if seen.iter().any(|w| *w != seen[0]) {
        drift.push(Drift::SplitDisagrees {
            routers: managed
                .iter()
                .zip(&seen)
                .map(|(r, (p, c))| (r.arn.clone(), *p, *c))
                .collect(),
        });
    }
    for r in managed {
        if r.weights()
            .unwrap_or_default()
            .iter()
            .any(|(tg, _)| !d.owns_target_group(tg))
        {
            drift.push(Drift::ForeignTargetGroup {
                router: r.arn.clone(),
            });
        }
    }
    let test_split = d.all_to(if canary.is_some() { &idle } else { &live });
    for r in test {
        if !r.forwards_exactly(&test_split) {
            drift.push(Drift::TestRouteOff {
                router: r.arn.clone(),
            });
        }
    }
    let known: Vec<&str> = [stable, canary]
        .iter()
        .flatten()
        .map(|t| t.id.as_str())
        .collect();
    let orphans: Vec<String> = owned_active(sets, &id)
        .into_iter()
        .filter(|t| !known.contains(&t.as_str()))
        .collect();
    next.set("orphaned_task_set_ids", Value::string_list(&orphans));
    next.set("drift", Drift::to_values(&drift));
    if let Some(r) = release.filter(|r| r.result == Release::HELD && r.approved_step >= r.step) {
        next.set("last_release", continued(r, &next).to_value());
    }
    if !drift.is_empty() {
        next.set(
            "rollout_steps",
            Value::string_list(drift.iter().map(Drift::render)),
        );
    }
    next
}

/// A held release whose gate an ecsx_canary_continue action approved, as the action left it:
/// held at the next gate, at its end, or somewhere on the way (the action failed or was
/// stopped; the next apply walks on from the weight it reached).
fn continued(held: Release, next: &Value) -> Release {
    let d = Desired::from(next);
    let by = format!(
        "step {} approved by ecsx_canary_continue",
        held.approved_step
    );
    let Some(c) = d.canary.as_ref() else {
        return held;
    };
    let at = next.get("canary_weight").as_i64();
    match c.gate {
        Some((n, w)) if n as i64 > held.step => Release {
            step: n as i64,
            reason: format!("waiting for approval of step {n} ({w}%); {by}"),
            ..held
        },
        _ if at == Some(c.traffic) => Release {
            result: Release::COMPLETED.into(),
            step: 0,
            reason: by,
            ..held
        },
        _ => Release {
            result: Release::INTERRUPTED.into(),
            step: 0,
            reason: format!("{by}; it stopped at {}%", at.unwrap_or(0)),
            ..held
        },
    }
}

#[cfg(test)]
mod tests;
