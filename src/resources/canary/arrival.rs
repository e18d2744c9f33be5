//! Arrival (`arrival` block): a running service moved onto ecsx in place when the deployment is
//! created. At plan, every reason ECS would refuse to switch it from the ECS (or CODE_DEPLOY)
//! deployment controller to EXTERNAL is an error at its attribute; at apply, UpdateService
//! switches it and the task set that holds its running tasks is taken over as the stable one
//! (tagged, made PRIMARY) with no traffic moved; and the planner starts from that task set.

use super::model::{Desired, Observed, TaskSetRef};
use super::template::{EcsDefault, Template};
use crate::arn;
use crate::aws::ecs::{self, status, ServiceSetup, TaskSet};
use crate::aws::wait::{self, Poll};
use crate::aws::AwsError;
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::Ctx;
use crate::resources::ownership::{foreign_owner, owned_by, ownership_tags, Role};
use crate::resources::support::aws_error;
use crate::value::Value;
use std::time::Duration;

/// The id the plan gives the task set ECS will make of the running tasks (its real id is
/// known only after the switch); shown in no line, and planned as unknown.
pub(crate) const RUNNING_TASKS: &str = "(the service's running tasks)";

/// What arrival does for this create.
#[derive(Debug, Clone)]
pub(crate) enum Arrival {
    /// Switch the service (as read at `setup`) to EXTERNAL, then take over its running tasks.
    Switch(ServiceSetup),
    /// The service uses EXTERNAL already and holds one live task set nobody owns (an arrival
    /// stopped after the switch, or a task set made by hand): take it over.
    TakeOver(ServiceSetup, Box<TaskSet>),
}

impl Arrival {
    fn setup(&self) -> &ServiceSetup {
        match self {
            Arrival::Switch(s) | Arrival::TakeOver(s, _) => s,
        }
    }

    /// The task set that becomes the stable one: as ECS will make it, or as it is.
    pub(crate) fn task_set(&self) -> TaskSet {
        match self {
            Arrival::TakeOver(_, t) => (**t).clone(),
            Arrival::Switch(s) => match s.service.controller.as_str() {
                // CODE_DEPLOY keeps its tasks in task sets already: the PRIMARY one stays.
                status::CONTROLLER_CODE_DEPLOY => match s.service.primary() {
                    Some(t) => t.clone(),
                    None => running_tasks(s),
                },
                _ => running_tasks(s),
            },
        }
    }

    /// The service as read, for the checks that need its desired count.
    pub(crate) fn service(&self) -> &ecs::Service {
        &self.setup().service
    }

    /// The lines `rollout_steps` starts with.
    pub(crate) fn lines(&self, d: &Desired) -> Vec<String> {
        let t = self.task_set();
        let version = arn::task_definition_label(&t.task_definition);
        let tg = arn::target_group_label(&d.primary_tg);
        let mut lines = Vec::new();
        let held = match self {
            Arrival::Switch(s) => {
                lines.push(format!(
                    "switch service {} from the {} deployment controller to EXTERNAL (UpdateService); its {} running task(s) of {version} keep running",
                    d.service, s.service.controller, s.running_count
                ));
                if t.id == RUNNING_TASKS {
                    "the task set ECS puts them in".to_string()
                } else {
                    format!("task set {}", t.id)
                }
            }
            Arrival::TakeOver(_, t) => format!("task set {} ({version})", t.id),
        };
        lines.push(format!(
            "take over {held} as the stable task set of deployment {}: tag it and make it PRIMARY; traffic unchanged (all of it stays on tg {tg})",
            d.id()
        ));
        lines
    }
}

/// The task set ECS makes of an ECS-controller service's running tasks, as the plan expects
/// it: the service's task definition, load balancers and placement, at 100%.
fn running_tasks(s: &ServiceSetup) -> TaskSet {
    TaskSet {
        id: RUNNING_TASKS.to_string(),
        status: status::ACTIVE.to_string(),
        task_definition: s.task_definition.clone().unwrap_or_default(),
        scale_percent: 100.0,
        stability_status: status::STEADY_STATE.to_string(),
        target_group_arns: s.target_group_arns.clone(),
        computed_desired_count: s.service.desired_count,
        running_count: s.running_count,
        placement: s.placement.clone(),
        container_name: s.container_name.clone(),
        container_port: s.container_port,
        ..TaskSet::default()
    }
}

/// Whether this create is an arrival, read from AWS: None without an `arrival` block, for a
/// service ECS cannot find (the ordinary checks report it), or one already on EXTERNAL with
/// nothing to take over.
pub(crate) async fn pending(ctx: &Ctx, d: &Desired, diags: &mut Diagnostics) -> Option<Arrival> {
    d.arrival.as_ref()?;
    let setup = match ServiceSetup::find(&ctx.aws.ecs, &d.cluster, &d.service).await {
        Ok(s) if s.service.is_active() => s,
        Ok(_) => return None,
        Err(e) if e.is_not_found() => {
            diags.warning_at(
                from_path(),
                "Arrival decided at apply",
                format!("Service {:?} in cluster {:?} does not exist yet, so this plan cannot show an arrival. If this apply creates it on the ECS or CODE_DEPLOY controller, the apply switches it to EXTERNAL and adopts its running tasks first, waiting for its first deployment to end, and the steps it takes differ from rollout_steps here.", d.service, d.cluster),
            );
            return None;
        }
        Err(e) => {
            aws_error(
                diags,
                Some(from_path()),
                "Could not read the service to switch",
                &format!("service {:?} in cluster {:?}", d.service, d.cluster),
                &e,
            );
            return None;
        }
    };
    if !setup.service.is_external() {
        return Some(Arrival::Switch(setup));
    }
    let [only] = setup.live_task_sets()[..] else {
        return None;
    };
    // DescribeServices lists task sets without tags: whose it is takes DescribeTaskSets.
    let id = only.id.clone();
    let tagged = ecs::find_task_sets(&ctx.aws.ecs, &d.cluster, &d.service, &[id]).await;
    let t = match tagged {
        Ok((sets, _)) => sets.into_iter().next()?,
        Err(e) => {
            aws_error(
                diags,
                Some(from_path()),
                "Could not read the service's task set",
                &format!("service {:?} in cluster {:?}", d.service, d.cluster),
                &e,
            );
            return None;
        }
    };
    let deployment = d.id();
    if owned_by(&t, &deployment) || foreign_owner(&t, &deployment).is_some() {
        return None;
    }
    Some(Arrival::TakeOver(setup, Box::new(t)))
}

/// The warning a reviewer cannot miss: this apply changes the service's controller, and what
/// hashicorp/aws needs so that its next plan does not replace the service for it.
pub(crate) fn warn(d: &Desired, arrival: &Arrival, diags: &mut Diagnostics) {
    let what = match arrival {
        Arrival::Switch(s) => format!(
            "service {:?} switches from the {} deployment controller to EXTERNAL in place (UpdateService), and its running tasks become the stable task set of deployment {}",
            d.service,
            s.service.controller,
            d.id()
        ),
        Arrival::TakeOver(_, t) => format!(
            "task set {} of service {:?}, which nobody owns, becomes the stable task set of deployment {}",
            t.id,
            d.service,
            d.id()
        ),
    };
    diags.warning(
        "Arrival",
        format!(
            "This apply: {what}, with no traffic moved. hashicorp/aws replaces a service whose deployment_controller changes, so give its aws_ecs_service lifecycle {{ ignore_changes = [deployment_controller] }} before this apply."
        ),
    );
}

fn from_path() -> AttrPath {
    AttrPath::attr("arrival").index(0).then("from_controller")
}

/// Every reason ECS would refuse the switch (UpdateService `deploymentController`), and what
/// would make the take-over move traffic, each an error at its attribute.
pub(crate) fn check(d: &Desired, arrival: &Arrival, diags: &mut Diagnostics) {
    let s = arrival.setup();
    let svc = format!("Service {:?} in cluster {:?}", d.service, d.cluster);
    let from = d.arrival.as_deref().unwrap_or_default();
    if let Arrival::Switch(_) = arrival {
        if s.service.controller != from {
            diags.error_at(
                from_path(),
                "Service uses another deployment controller",
                format!(
                    "{svc} uses the {} deployment controller, not {from}. Set arrival.from_controller = \"{}\" to switch it from that one.",
                    s.service.controller, s.service.controller
                ),
            );
            return;
        }
        for (summary, detail) in refusals(s) {
            diags.error_at(from_path(), summary, format!("{svc}: {detail}"));
        }
        if s.first_deployment {
            diags.warning_at(
                from_path(),
                "Arrival waits for the first deployment",
                format!("{svc} is still starting its tasks (its first service deployment, {}). ECS does not change the controller during a deployment, so the apply waits for it to end before the switch.", s.ongoing_deployments.first().map(String::as_str).unwrap_or_default()),
            );
        }
    }
    let t = arrival.task_set();
    if t.task_definition.is_empty() {
        diags.error_at(
            from_path(),
            "Nothing running to take over",
            format!("{svc} names no task definition, so there are no running tasks to adopt."),
        );
    }
    if !t.target_group_arns.contains(&d.primary_tg) {
        let on = if t.target_group_arns.is_empty() {
            "no target group".to_string()
        } else {
            format!("target group {}", t.target_group_arns.join(", "))
        };
        diags.error_at(
            AttrPath::attr("traffic").index(0).then("primary_target_group_arn"),
            "Running tasks are not on the primary target group",
            format!(
                "{svc} registers its running tasks with {on}. Arrival adopts them where they serve, so traffic.primary_target_group_arn must name that target group (the service's load_balancer)."
            ),
        );
    }
}

/// What ECS refuses UpdateService `deploymentController` = EXTERNAL for, as
/// (summary, detail): from ECS, a deployment going on (but a new service's first, which the
/// apply waits for: it only starts the tasks), Service Connect, VPC Lattice,
/// deployment alarms, the circuit breaker or a strategy other than ROLLING; from
/// CODE_DEPLOY, anything but exactly one task set, the PRIMARY one.
pub(crate) fn refusals(s: &ServiceSetup) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if s.service.controller == status::CONTROLLER_CODE_DEPLOY {
        let live = s.live_task_sets();
        if live.len() > 1 {
            out.push((
                "Switch refused: more than one task set",
                format!(
                    "it has {} task sets ({}); ECS changes the controller only with exactly one, the PRIMARY one. Let the CodeDeploy deployment finish or stop it, then plan again.",
                    live.len(),
                    live.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ));
        } else if !live.first().is_some_and(|t| t.is_primary()) {
            out.push((
                "Switch refused: no PRIMARY task set",
                "ECS changes the controller only when the service has one task set and it is PRIMARY.".to_string(),
            ));
        }
        return out;
    }
    if let Some(arn) = s
        .ongoing_deployments
        .first()
        .filter(|_| !s.first_deployment)
    {
        out.push((
            "Switch refused: deployment in progress",
            format!("service deployment {arn} is still going on, and ECS does not change the controller during one. Wait for it to end (or stop it), then plan again."),
        ));
    }
    let config = "deployment_configuration of the aws_ecs_service";
    for (on, summary, detail) in [
        (
            s.service_connect,
            "Switch refused: Service Connect",
            "it uses Service Connect, which ECS supports only on the ECS controller. Turn service_connect_configuration off first.".to_string(),
        ),
        (
            s.vpc_lattice,
            "Switch refused: VPC Lattice",
            "it uses VPC Lattice (vpc_lattice_configurations), which ECS supports only on the ECS controller. Remove it first.".to_string(),
        ),
        (
            s.alarms_enabled,
            "Switch refused: deployment alarms",
            format!("deployment alarms are enabled. Turn them off in the {config} first (alarms.enable = false)."),
        ),
        (
            s.circuit_breaker_enabled,
            "Switch refused: circuit breaker",
            format!("the deployment circuit breaker is enabled. Turn it off in the {config} first (deployment_circuit_breaker.enable = false)."),
        ),
        (
            s.strategy != "ROLLING",
            "Switch refused: deployment strategy",
            format!("its deployment strategy is {}; ECS changes the controller only from ROLLING. Set strategy = \"ROLLING\" in the {config} first.", s.strategy),
        ),
    ] {
        if on {
            out.push((summary, detail));
        }
    }
    out
}

/// The planner's picture after the take-over: `t` is the stable task set on the primary target
/// group, PRIMARY, running what it runs (a configuration asking for another version or template
/// replaces it as any release would), and no listener or rule is known, so each is written.
pub(crate) fn arrived(d: &Desired, t: &TaskSet) -> Observed {
    let mut deployed = d.clone();
    deployed.stable_td = t.task_definition.clone();
    deployed.stable_scale = t.scale_percent;
    deployed.canary = None;
    deployed.held = None;
    deployed.routers.clear();
    deployed.test_routers.clear();
    let read = Template {
        ecs_defaults: EcsDefault::of(t, None),
        ..Template::from(&Value::List(vec![Template::block_of(t)]))
    };
    if !read.creates_same_as(&d.template) {
        deployed.template = read;
    }
    Observed {
        deployed: Some(deployed),
        stable: Some(TaskSetRef::of(t)),
        live_tg: Some(d.primary_tg.clone()),
        ..Observed::default()
    }
}

/// Carries the arrival out: the checks again on what AWS holds now, the switch, the wait for
/// the task set, its take-over. Returns the stable task set, PRIMARY; None after an error.
pub(crate) async fn arrive(
    ctx: &Ctx,
    d: &Desired,
    arrival: &Arrival,
    limit: Duration,
    diags: &mut Diagnostics,
) -> Option<TaskSet> {
    let subject = format!("service {:?} in cluster {:?}", d.service, d.cluster);
    let arrival = match after_deployments(ctx, d, arrival, limit).await {
        Ok(a) => a,
        Err(e) => {
            aws_error(
                diags,
                Some(from_path()),
                "A service deployment did not end",
                &subject,
                &e,
            );
            return None;
        }
    };
    let arrival = &arrival;
    check(d, arrival, diags);
    if diags.has_errors() {
        return None;
    }
    let t = match arrival {
        Arrival::TakeOver(_, t) => (**t).clone(),
        Arrival::Switch(s) => {
            crate::log::info(
                "switching the service to the EXTERNAL deployment controller",
                &[
                    ("service", d.service.as_str().into()),
                    ("from", s.service.controller.as_str().into()),
                ],
            );
            let switched = ecs::switch_controller(
                &ctx.aws.ecs,
                &d.cluster,
                &d.service,
                status::CONTROLLER_EXTERNAL,
            )
            .await;
            if let Err(e) = switched {
                aws_error(
                    diags,
                    Some(from_path()),
                    "ECS refused the switch",
                    &subject,
                    &e,
                );
                return None;
            }
            let waited =
                ecs::wait_switched(&ctx.aws.ecs, &d.cluster, &d.service, limit, &ctx.stop).await;
            let svc = match waited {
                Ok(svc) => svc,
                Err(e) => {
                    aws_error(
                        diags,
                        None,
                        "Switched, but no task set appeared",
                        &subject,
                        &e,
                    );
                    return None;
                }
            };
            match holding_running_tasks(&svc, s) {
                Some(t) => t,
                None => {
                    diags.error(
                        "Switched, but which task set holds the running tasks is unclear",
                        format!("{subject} uses EXTERNAL now, with task sets {}. Delete all but the one to keep, then apply again: arrival takes over a single task set.", svc.task_sets.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", ")),
                    );
                    return None;
                }
            }
        }
    };
    match take_over(ctx, d, &t).await {
        Ok(t) => Some(t),
        Err(e) => {
            aws_error(
                diags,
                None,
                "Could not take over the running tasks",
                &format!("task set {} of {subject}", t.id),
                &e,
            );
            None
        }
    }
}

/// A new service's first deployment (which a plan allows: it only starts the tasks, say of a
/// service this apply created) is waited for, within the apply's timeout, when nothing else
/// stands in the way of the switch; anything ECS would refuse is reported as at plan.
async fn after_deployments(
    ctx: &Ctx,
    d: &Desired,
    arrival: &Arrival,
    limit: Duration,
) -> Result<Arrival, AwsError> {
    let Arrival::Switch(s) = arrival else {
        return Ok(arrival.clone());
    };
    if s.ongoing_deployments.is_empty() || !refusals(s).is_empty() {
        return Ok(arrival.clone());
    }
    let what = format!("the deployments of service {} to end", d.service);
    let interval = ecs::poll_interval();
    let ended = wait::until(&what, limit, interval, &ctx.stop, || async {
        let s = ServiceSetup::find(&ctx.aws.ecs, &d.cluster, &d.service).await?;
        match s.ongoing_deployments.first() {
            Some(arn) => Ok(Poll::Pending(format!("{arn} is going on"))),
            None => Ok(Poll::Done(s)),
        }
    })
    .await?;
    Ok(Arrival::Switch(ended))
}

/// The live task set of `svc` after the switch: the only one, or the one running the service's
/// task definition.
fn holding_running_tasks(svc: &ecs::Service, before: &ServiceSetup) -> Option<TaskSet> {
    let live: Vec<&TaskSet> = svc.task_sets.iter().filter(|t| !t.is_draining()).collect();
    if let [only] = live[..] {
        return Some(only.clone());
    }
    let running: Vec<&&TaskSet> = live
        .iter()
        .filter(|t| Some(&t.task_definition) == before.task_definition.as_ref())
        .collect();
    match running[..] {
        [only] => Some((*only).clone()),
        _ => None,
    }
}

/// Tags `t` as the deployment's stable task set and makes it PRIMARY.
async fn take_over(ctx: &Ctx, d: &Desired, t: &TaskSet) -> Result<TaskSet, AwsError> {
    let tags = ownership_tags(&d.id(), Role::Stable);
    ecs::tag_resource(&ctx.aws.ecs, "task set", &t.arn, &tags).await?;
    let mut t = t.clone();
    if !t.is_primary() {
        let primary =
            ecs::set_primary_confirmed(&ctx.aws.ecs, &d.cluster, &d.service, &t.arn).await?;
        t.status = primary.status;
    }
    t.tags.extend(tags);
    Ok(t)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::rollout::tests::config;
    use super::super::rollout::{Rollout, Step, Subject};
    use super::*;
    use crate::aws::ecs::Placement;

    const TD: &str = "arn:aws:ecs:us-east-1:1:task-definition/web:";
    const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/1";

    /// Service web of cluster prod on `controller`: two tasks of web:12 on tg blue, ROLLING,
    /// nothing an arrival refuses.
    pub(crate) fn setup(controller: &str) -> ServiceSetup {
        ServiceSetup {
            service: ecs::Service {
                arn: "arn:aws:ecs:us-east-1:1:service/prod/web".into(),
                name: "web".into(),
                cluster_arn: "arn:aws:ecs:us-east-1:1:cluster/prod".into(),
                status: "ACTIVE".into(),
                controller: controller.into(),
                desired_count: 2,
                task_sets: vec![],
                tags: Default::default(),
                ecs_routers: vec![],
            },
            task_definition: Some(format!("{TD}12")),
            running_count: 2,
            target_group_arns: vec![BLUE.into()],
            container_name: Some("web".into()),
            container_port: Some(8080),
            placement: Placement::default(),
            strategy: "ROLLING".into(),
            alarms_enabled: false,
            circuit_breaker_enabled: false,
            service_connect: false,
            vpc_lattice: false,
            ongoing_deployments: vec![],
            first_deployment: false,
        }
    }

    fn desired(stable: u32, canary: Option<(u32, i64)>) -> Desired {
        let mut cfg = config(stable, canary);
        cfg.set(
            "arrival",
            Value::List(vec![Value::object([(
                "from_controller",
                Value::from("ECS"),
            )])]),
        );
        Desired::from(&cfg)
    }

    fn errors(d: &Desired, a: &Arrival) -> Vec<(String, String)> {
        let mut diags = Diagnostics::new();
        check(d, a, &mut diags);
        diags
            .iter()
            .map(|x| {
                let path = x.path.clone().map(|p| p.to_string()).unwrap_or_default();
                (path, x.summary.clone())
            })
            .collect()
    }

    #[test]
    fn every_refusal_is_an_error_at_from_controller() {
        let d = desired(12, None);
        assert!(errors(&d, &Arrival::Switch(setup("ECS"))).is_empty());
        let mut s = setup("ECS");
        s.ongoing_deployments = vec!["arn:deployment".into()];
        s.service_connect = true;
        s.vpc_lattice = true;
        s.alarms_enabled = true;
        s.circuit_breaker_enabled = true;
        s.strategy = "BLUE_GREEN".into();
        let mut first = setup("ECS");
        first.ongoing_deployments = vec!["arn:deployment".into()];
        first.first_deployment = true;
        assert!(
            refusals(&first).is_empty(),
            "a new service's tasks starting"
        );
        let found = errors(&d, &Arrival::Switch(s));
        let summaries: Vec<&str> = found.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(
            summaries,
            [
                "Switch refused: deployment in progress",
                "Switch refused: Service Connect",
                "Switch refused: VPC Lattice",
                "Switch refused: deployment alarms",
                "Switch refused: circuit breaker",
                "Switch refused: deployment strategy",
            ]
        );
        assert!(found.iter().all(|(p, _)| p == "arrival[0].from_controller"));
    }

    #[test]
    fn another_controller_or_target_group_is_refused() {
        let d = desired(12, None);
        let found = errors(&d, &Arrival::Switch(setup("CODE_DEPLOY")));
        assert_eq!(found[0].1, "Service uses another deployment controller");
        let mut s = setup("ECS");
        s.target_group_arns =
            vec!["arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/x/9".into()];
        let found = errors(&d, &Arrival::Switch(s));
        assert_eq!(
            found,
            [(
                "traffic[0].primary_target_group_arn".to_string(),
                "Running tasks are not on the primary target group".to_string()
            )]
        );
    }

    #[test]
    fn code_deploy_needs_one_primary_task_set() {
        let mut s = setup("CODE_DEPLOY");
        let t = |id: &str, status: &str| TaskSet {
            id: id.into(),
            status: status.into(),
            ..TaskSet::default()
        };
        s.service.task_sets = vec![t("a", "PRIMARY"), t("b", "ACTIVE")];
        assert_eq!(refusals(&s)[0].0, "Switch refused: more than one task set");
        s.service.task_sets = vec![t("b", "ACTIVE")];
        assert_eq!(refusals(&s)[0].0, "Switch refused: no PRIMARY task set");
        s.service.task_sets = vec![t("a", "PRIMARY"), t("old", "DRAINING")];
        assert!(refusals(&s).is_empty());
        // CODE_DEPLOY's PRIMARY task set is the one taken over.
        assert_eq!(Arrival::Switch(s).task_set().id, "a");
    }

    #[test]
    fn after_the_switch_only_the_routers_are_written() {
        let d = desired(12, None);
        let a = Arrival::Switch(setup("ECS"));
        let r = Rollout::plan(&arrived(&d, &a.task_set()), &d);
        assert!(
            r.steps.iter().all(|s| matches!(s, Step::Route { .. })),
            "{:?}",
            r.lines
        );
        assert!(matches!(&r.stable_after, Some(Subject::Recorded(t)) if t.id == RUNNING_TASKS));
        assert_eq!(r.live_after.as_deref(), Some(BLUE));
        let lines = a.lines(&d);
        assert!(lines[0]
            .starts_with("switch service web from the ECS deployment controller to EXTERNAL"));
        assert!(lines[1].contains("traffic unchanged"), "{lines:?}");
    }

    #[test]
    fn another_version_configured_is_a_release_after_the_switch() {
        // The service runs web:12; the configuration names web:13 as stable: the running
        // tasks are adopted, then replaced as any release replaces a stable version.
        let d = desired(13, None);
        let r = Rollout::plan(&arrived(&d, &Arrival::Switch(setup("ECS")).task_set()), &d);
        assert!(r
            .steps
            .iter()
            .any(|s| matches!(s, Step::Create { task_definition, .. } if task_definition.ends_with(":13"))));
        assert!(matches!(r.stable_after, Some(Subject::ToCreate(_))));
    }
}
