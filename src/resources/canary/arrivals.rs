//! What the `ecsx_canary_deployment` listing tells of services on the ECS or CODE_DEPLOY
//! deployment controller: where their native release stands, and whether an `arrival` can
//! take them in, or why not (a native deployment in progress or paused at a lifecycle hook,
//! or what ECS would refuse the switch for: arrival's own checks).

use super::arrival;
use crate::arn;
use crate::aws::ecs::{self, status, ServiceDeployment, ServiceSetup};
use crate::aws::AwsError;
use crate::framework::Ctx;

/// Whether the listing offers `setup` for an arrival rather than an import: ACTIVE on the ECS
/// or CODE_DEPLOY controller.
pub(super) fn arrives(setup: &ServiceSetup) -> bool {
    setup.service.is_active()
        && matches!(
            setup.service.controller.as_str(),
            status::CONTROLLER_ECS | status::CONTROLLER_CODE_DEPLOY
        )
}

/// Reads what an arrival decides on (the deployments going on, as arrival's plan reads them)
/// and the newest native deployment, described; then `setup` with that deployment, or why
/// arrival cannot take the service in. For an ECS-controller service: ListServiceDeployments
/// once or twice, then DescribeServiceDeployments for one deployment; nothing for CODE_DEPLOY.
pub(super) async fn standing(
    ctx: &Ctx,
    mut setup: ServiceSetup,
) -> Result<(ServiceSetup, Option<ServiceDeployment>), String> {
    let newest = newest_deployment(ctx, &mut setup)
        .await
        .map_err(|e| format!("its service deployments could not be read: {e}"))?;
    match refused(&setup, newest.as_ref()) {
        Some(reason) => Err(reason),
        None => Ok((setup, newest)),
    }
}

async fn newest_deployment(
    ctx: &Ctx,
    setup: &mut ServiceSetup,
) -> Result<Option<ServiceDeployment>, AwsError> {
    if setup.service.controller != status::CONTROLLER_ECS {
        return Ok(None);
    }
    let ecs = &ctx.aws.ecs;
    let cluster = arn::cluster_name(&setup.service.cluster_arn).to_string();
    setup.read_deployments(ecs, &cluster).await?;
    let newest = match setup.ongoing_deployments.first() {
        Some(arn) => Some(arn.clone()),
        None => ecs::list_service_deployments(ecs, &cluster, &setup.service.name, &[], 1)
            .await?
            .into_iter()
            .next(),
    };
    let Some(newest) = newest else {
        return Ok(None);
    };
    match ecs::find_service_deployment(ecs, &newest).await {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why an arrival cannot take `setup` in, if it cannot. A native deployment going on (but a
/// new service's first, which the arrival waits for, unless a hook holds it) is explained with
/// its stage and waiting hook; then every refusal arrival's plan would make.
pub(super) fn refused(setup: &ServiceSetup, newest: Option<&ServiceDeployment>) -> Option<String> {
    let ongoing = newest.filter(|d| d.is_ongoing());
    let held = ongoing.filter(|d| !setup.first_deployment || d.waiting_hooks().next().is_some());
    let mut reasons = Vec::new();
    let rest = match held {
        Some(d) => {
            reasons.push(in_progress(d));
            // Said above, with its stage and hook.
            let mut rest = setup.clone();
            rest.ongoing_deployments.clear();
            arrival::refusals(&rest)
        }
        None => arrival::refusals(setup),
    };
    if !rest.is_empty() {
        reasons.push(format!(
            "ECS would refuse to switch it to EXTERNAL: {}",
            rest.iter()
                .map(|(_, detail)| detail.trim_end_matches('.'))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    (!reasons.is_empty()).then(|| reasons.join(". "))
}

/// `its native service deployment ID is IN_PROGRESS at stage S, lifecycle hook H waits ...`.
fn in_progress(d: &ServiceDeployment) -> String {
    let stage = d
        .lifecycle_stage
        .as_deref()
        .map(|s| format!(" at stage {s}"))
        .unwrap_or_default();
    let mut out = format!(
        "its native service deployment {} is {}{stage}",
        deployment_label(&d.arn),
        d.status
    );
    let waiting: Vec<String> = d
        .waiting_hooks()
        .map(|h| {
            let timeout = match (&h.expires_at, &h.timeout_action) {
                (Some(at), Some(action)) => format!(" (ECS does {action} at {at})"),
                _ => String::new(),
            };
            format!("lifecycle hook {} waits{timeout}", h.id)
        })
        .collect();
    if waiting.is_empty() {
        out.push_str(", and ECS does not change the controller during a deployment: wait for it to end (or stop it with the ecsx_service_deployment_stop action)");
    } else {
        out.push_str(&format!(
            ", where {}; ECS does not change the controller during a deployment: continue it with the ecsx_service_deployment_continue action or roll it back with ecsx_service_deployment_rollback",
            waiting.join(", ")
        ));
    }
    out.push_str(
        " (the ecsx_service_deployments data source shows where it stands), then query again",
    );
    out
}

/// The last part of a service deployment ARN, the id ECS shows.
fn deployment_label(a: &str) -> &str {
    a.rsplit('/').next().unwrap_or(a)
}

/// `web: ECS controller, last deployment SUCCESSFUL, web:12, 3 tasks; arrival can move it onto
/// ecsx`: where the native release stands, for a person scanning the list.
pub(super) fn display_name(setup: &ServiceSetup, newest: Option<&ServiceDeployment>) -> String {
    let svc = &setup.service;
    let mut name = format!("{}: {} controller", svc.name, svc.controller);
    if svc.controller == status::CONTROLLER_ECS {
        match newest {
            Some(d) if d.is_ongoing() => {
                name.push_str(&format!(", first deployment {}", d.status));
            }
            Some(d) => name.push_str(&format!(", last deployment {}", d.status)),
            None => name.push_str(", no service deployment listed"),
        }
    }
    let running = arrival::Arrival::Switch(setup.clone()).task_set();
    if !running.task_definition.is_empty() {
        let held = if svc.controller == status::CONTROLLER_CODE_DEPLOY {
            "PRIMARY task set "
        } else {
            ""
        };
        name.push_str(&format!(
            ", {held}{}",
            arn::task_definition_label(&running.task_definition)
        ));
    }
    let n = setup.running_count;
    name.push_str(&format!(
        ", {n} task{}; arrival can move it onto ecsx",
        if n == 1 { "" } else { "s" }
    ));
    if newest.is_some_and(|d| d.is_ongoing()) {
        name.push_str(" once that deployment ends");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::ecs::{deployment_status as ds, Hook, TaskSet};

    /// Arrival's fixture with three tasks.
    fn setup(controller: &str) -> ServiceSetup {
        let mut s = super::super::arrival::tests::setup(controller);
        s.service.desired_count = 3;
        s.running_count = 3;
        s
    }

    const DEPLOYMENT: &str = "arn:aws:ecs:us-east-1:1:service-deployment/prod/web/abc123";

    fn deployment(status: &str, hook: Option<&str>) -> ServiceDeployment {
        ServiceDeployment {
            arn: DEPLOYMENT.into(),
            status: status.into(),
            lifecycle_stage: hook.map(|_| "PRE_PRODUCTION_TRAFFIC_SHIFT".to_string()),
            hooks: hook
                .map(|id| Hook {
                    id: id.into(),
                    target_type: ds::HOOK_PAUSE.into(),
                    status: ds::HOOK_AWAITING_ACTION.into(),
                    expires_at: Some("2026-12-07T20:00:00Z".into()),
                    timeout_action: Some("ROLLBACK".into()),
                    ..Hook::default()
                })
                .into_iter()
                .collect(),
            ..ServiceDeployment::default()
        }
    }

    #[test]
    fn the_name_says_where_the_native_release_stands() {
        let done = deployment(ds::SUCCESSFUL, None);
        assert_eq!(
            display_name(&setup("ECS"), Some(&done)),
            "web: ECS controller, last deployment SUCCESSFUL, web:12, 3 tasks; arrival can move it onto ecsx"
        );
        let mut first = setup("ECS");
        first.ongoing_deployments = vec![DEPLOYMENT.into()];
        first.first_deployment = true;
        let starting = deployment(ds::IN_PROGRESS, None);
        assert!(refused(&first, Some(&starting)).is_none(), "arrival waits");
        assert!(display_name(&first, Some(&starting))
            .ends_with("first deployment IN_PROGRESS, web:12, 3 tasks; arrival can move it onto ecsx once that deployment ends"));
        let mut cd = setup("CODE_DEPLOY");
        cd.service.task_sets = vec![TaskSet {
            id: "ecs-svc/1".into(),
            status: "PRIMARY".into(),
            task_definition: "arn:aws:ecs:us-east-1:1:task-definition/web:11".into(),
            ..TaskSet::default()
        }];
        assert_eq!(
            display_name(&cd, None),
            "web: CODE_DEPLOY controller, PRIMARY task set web:11, 3 tasks; arrival can move it onto ecsx"
        );
        assert!(refused(&cd, None).is_none());
    }

    #[test]
    fn a_deployment_held_at_a_hook_is_explained_with_its_stage_and_hook() {
        let mut s = setup("ECS");
        s.ongoing_deployments = vec![DEPLOYMENT.into()];
        s.strategy = "CANARY".into();
        let why = refused(&s, Some(&deployment(ds::IN_PROGRESS, Some("hook-1")))).unwrap();
        for want in [
            "deployment abc123 is IN_PROGRESS at stage PRE_PRODUCTION_TRAFFIC_SHIFT",
            "lifecycle hook hook-1 waits (ECS does ROLLBACK at 2026-12-07T20:00:00Z)",
            "ecsx_service_deployment_continue",
            "ecsx_service_deployment_rollback",
            "ECS would refuse to switch it to EXTERNAL: its deployment strategy is CANARY",
        ] {
            assert!(why.contains(want), "{want} in {why}");
        }
        // The deployment is said once, with its stage, not again as a refusal.
        assert!(!why.contains("is still going on"), "{why}");
        // Even a first deployment is held by a waiting hook.
        s.first_deployment = true;
        assert!(refused(&s, Some(&deployment(ds::IN_PROGRESS, Some("h")))).is_some());
        // Without a hook: wait, or stop it.
        s.first_deployment = false;
        let why = refused(&s, Some(&deployment(ds::IN_PROGRESS, None))).unwrap();
        assert!(why.contains("ecsx_service_deployment_stop"), "{why}");
    }

    #[test]
    fn arrivals_refusals_are_the_listings() {
        let mut s = setup("ECS");
        s.circuit_breaker_enabled = true;
        s.service_connect = true;
        let why = refused(&s, Some(&deployment(ds::SUCCESSFUL, None))).unwrap();
        assert!(
            why.starts_with("ECS would refuse to switch it to EXTERNAL: it uses Service Connect"),
            "{why}"
        );
        assert!(
            why.contains("; the deployment circuit breaker is enabled"),
            "{why}"
        );
        assert!(arrives(&s));
        s.service.controller = "EXTERNAL".into();
        assert!(!arrives(&s));
    }
}
