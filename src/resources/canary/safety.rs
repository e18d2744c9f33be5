//! The plan-time safety checks: what AWS would refuse only once the apply runs, or what
//! would hurt production if it did not. Routers forward only to the deployment's target
//! groups, the service has room and capacity for the task sets the rollout creates, the task
//! definitions have the configured container and port, alarms exist, bakes fit the timeout.

use super::model::{Desired, MAX_TASK_SETS};
use super::rollout::{Rollout, Step};
use super::routers::{router_path, Routers};
use crate::arn;
use crate::aws::ecs::{self, TaskSet};
use crate::aws::elbv2::{self};
use crate::aws::{cloudwatch, AwsError};
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::Ctx;
use crate::resources::support::{aws_error, external_service_or_later};
use std::collections::BTreeMap;
use std::time::Duration;

/// Safety rule: a managed router must forward only to the deployment's two target groups.
/// Checked on `found`, the routers as the plan or the start of an apply read them (every
/// shift checks again on its own read right before writing); a read that failed because a
/// listener or rule does not exist is reported at its place in the configuration, any other
/// failed read at `traffic`. False when the routers could not be read.
pub(crate) async fn check_routers(
    ctx: &Ctx,
    d: &Desired,
    found: Result<Routers, AwsError>,
    diags: &mut Diagnostics,
) -> bool {
    let Err(e) = check_routers_read(ctx, d, found, diags).await else {
        return true;
    };
    aws_error(
        diags,
        Some(AttrPath::attr("traffic")),
        "Could not read listeners and rules",
        &format!("deployment {}", d.id()),
        &e,
    );
    false
}

/// [`check_routers`] on what was read; Err: a read that failed other than for a missing
/// listener or rule.
async fn check_routers_read(
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

pub(super) fn over_limit(svc: &ecs::Service, r: &Rollout) -> bool {
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
pub(super) fn gone_around(t: &TaskSet, delays: &BTreeMap<String, Duration>) -> Option<String> {
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

pub(super) fn check_room(
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
pub(super) fn computed_count(desired_count: i32, scale_percent: f64) -> i64 {
    (f64::from(desired_count.max(0)) * scale_percent / 100.0).ceil() as i64
}

/// Refuses weight on a task set that would run no tasks: with desiredCount 0 (or a scale that
/// rounds to nothing) every task set is STEADY_STATE at once with zero tasks, and the load
/// balancer would send that share of production traffic to an empty target group.
pub(super) fn check_capacity(
    svc: &ecs::Service,
    d: &Desired,
    r: &Rollout,
    diags: &mut Diagnostics,
) {
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

/// Bakes longer in all than the apply may run would stop it part way, every time.
pub(crate) fn check_bakes_fit(limit: std::time::Duration, r: &Rollout, diags: &mut Diagnostics) {
    let baking = r.baking();
    if baking > limit {
        diags.warning_at(
            AttrPath::attr("canary").index(0).then("step"),
            "Bakes longer than the apply's timeout",
            format!(
                "The steps of this apply bake for {} in all, but the apply stops after {} (timeouts). It will stop part way, with traffic at the step it reached, and the next apply bakes the rest; raise the timeout to walk the schedule in one apply.",
                crate::duration::format(baking),
                crate::duration::format(limit)
            ),
        );
    }
}

/// Every alarm of `analysis` must exist: a misspelt name would watch nothing. At plan a
/// missing one is a warning, since the same apply may create it (an
/// `aws_cloudwatch_metric_alarm` next to the deployment); when the apply starts, before any
/// traffic moves, it is an error.
pub(super) async fn check_alarms(ctx: &Ctx, d: &Desired, at_apply: bool, diags: &mut Diagnostics) {
    let Some(a) = d.analysis.as_ref().filter(|a| !a.alarms.is_empty()) else {
        return;
    };
    match cloudwatch::describe(&ctx.aws.cloudwatch, &a.alarms).await {
        Ok(found) => {
            let missing = cloudwatch::missing(&a.alarms, &found);
            if missing.is_empty() {
                return;
            }
            let path = AttrPath::attr("analysis").index(0).then("alarm_names");
            let names = missing.join(", ");
            let region = &ctx.aws.region;
            if at_apply {
                diags.error_at(
                    path,
                    "Alarm not found",
                    format!("CloudWatch in {region} has no alarm named {names}, so the release would watch nothing there. Nothing was changed: fix the name, or create the alarm first (reference it, e.g. aws_cloudwatch_metric_alarm.NAME.alarm_name, so Terraform creates it before the release starts)."),
                );
            } else {
                diags.warning_at(
                    path,
                    "Alarm not found",
                    format!("CloudWatch in {region} has no alarm named {names} yet. If this apply creates it, reference it (aws_cloudwatch_metric_alarm.NAME.alarm_name) so it exists before the release starts; the apply refuses to move traffic while an alarm is missing, and a bake stops if one disappears."),
                );
            }
        }
        Err(e) => aws_error(
            diags,
            Some(AttrPath::attr("analysis")),
            "Could not read the release's alarms",
            &format!("deployment {}", d.id()),
            &e,
        ),
    }
}
