//! Native ECS deployments through real Terraform: the `ecsx_service_deployments` data source
//! shows a canary paused before its production shift at plan time, and the
//! `ecsx_service_deployment_continue` / `_rollback` / `_stop` actions release it, roll it back
//! or stop it, and refuse (changing nothing) when nothing or more than one thing waits.

mod common;

use common::{fast_native_stages, Aws, Emulator, Infra, Workspace};

struct Native {
    _emu: Emulator,
    infra: Infra,
    aws: Aws,
    ws: Workspace,
}

const SERVICE: &str = "native";

impl Native {
    /// A native canary service with `pauses` PAUSE hooks before each production shift, and a
    /// workspace with the data source and the three actions on it.
    async fn start(name: &str, pauses: usize) -> Native {
        let emu = Emulator::start();
        fast_native_stages(&emu);
        let infra = Infra::create(&emu, name);
        let aws = Aws::connect(&emu).await;
        aws.create_native_canary_service(&infra, SERVICE, pauses)
            .await;
        let ws = Workspace::with_emulator(name, &emu);
        ws.config(&config(&infra.cluster, ""));
        Native {
            _emu: emu,
            infra,
            aws,
            ws,
        }
    }

    fn td(&self, i: usize) -> String {
        self.infra.task_definitions[i].clone()
    }

    fn invoke(&self, action: &str) -> common::Output {
        self.ws.run(&[
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
            &format!("-invoke=action.{action}.web"),
        ])
    }

    async fn release(&self, td: usize) -> String {
        let d = self
            .aws
            .release_native(&self.infra.cluster, SERVICE, &self.td(td))
            .await;
        d.service_deployment_arn().unwrap_or_default().to_string()
    }

    async fn newest(&self) -> aws_sdk_ecs::types::ServiceDeployment {
        self.aws
            .newest_deployment(&self.infra.cluster, SERVICE)
            .await
    }

    async fn running(&self) -> String {
        self.aws
            .service_task_definition(&self.infra.cluster, SERVICE)
            .await
    }
}

/// The data source, outputs of what waits, and the three actions; `extra` goes into each
/// action's config.
fn config(cluster: &str, extra: &str) -> String {
    let target = format!("cluster = \"{cluster}\"\n    service = \"{SERVICE}\"\n    {extra}");
    format!(
        r#"
data "ecsx_service_deployments" "web" {{
  cluster = "{cluster}"
  service = "{SERVICE}"
}}

output "waiting_hook_ids" {{
  value = [for h in data.ecsx_service_deployments.web.waiting_hooks : h.hook_id]
}}

output "waiting_stage" {{
  value = [for h in data.ecsx_service_deployments.web.waiting_hooks : h.lifecycle_stage]
}}

action "ecsx_service_deployment_continue" "web" {{
  config {{
    {target}
  }}
}}

action "ecsx_service_deployment_rollback" "web" {{
  config {{
    {target}
  }}
}}

action "ecsx_service_deployment_stop" "web" {{
  config {{
    cluster = "{cluster}"
    service = "{SERVICE}"
  }}
}}
"#
    )
}

fn weight(d: &aws_sdk_ecs::types::ServiceDeployment) -> Option<f64> {
    d.target_service_revision()
        .and_then(|r| r.requested_production_traffic_weight())
}

fn status(d: &aws_sdk_ecs::types::ServiceDeployment) -> String {
    d.status()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default()
}

fn waiting_hook(d: &aws_sdk_ecs::types::ServiceDeployment) -> String {
    d.lifecycle_hook_details()
        .iter()
        .find(|h| h.status().map(|s| s.as_str()) == Some("AWAITING_ACTION"))
        .and_then(|h| h.hook_id())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_paused_native_canary_is_shown_at_plan_and_continued_to_completion() {
    let n = Native::start("natc", 1).await;
    let arn = n.release(1).await;
    let hook = waiting_hook(&n.newest().await);

    // The plan reads the data source: the waiting hook and its stage.
    let plan = n.ws.ok(&["plan", "-input=false", "-no-color"]);
    plan.assert_contains(&[&hook, "PRE_PRODUCTION_TRAFFIC_SHIFT"]);

    // Continue: the canary step (10%), then ECS pauses again before the last shift.
    let out = n.invoke("ecsx_service_deployment_continue");
    assert!(out.success(), "{out}");
    out.assert_contains(&[
        &format!("CONTINUE at PRE_PRODUCTION_TRAFFIC_SHIFT of service deployment {arn}"),
        "10% of production traffic on the target revision",
        "paused again at PRE_PRODUCTION_TRAFFIC_SHIFT",
    ]);
    let d = n.newest().await;
    assert_eq!(status(&d), "IN_PROGRESS");
    assert_eq!(weight(&d), Some(10.0));
    let second = waiting_hook(&d);
    assert!(!second.is_empty() && second != hook, "{d:#?}");

    // Continue again: all production traffic, then the deployment completes.
    let out = n.invoke("ecsx_service_deployment_continue");
    assert!(out.success(), "{out}");
    out.assert_contains(&[&format!("service deployment {arn} completed")]);
    let d = n.newest().await;
    assert_eq!(
        (status(&d), weight(&d)),
        ("SUCCESSFUL".to_string(), Some(100.0))
    );
    assert_eq!(n.running().await, n.td(1));

    // Nothing waits now: the plan shows no waiting hook.
    let plan = n.ws.ok(&["plan", "-input=false", "-no-color"]);
    plan.assert_not_contains(&[&second]);
}

#[tokio::test]
async fn a_paused_native_canary_is_rolled_back_by_the_action() {
    let n = Native::start("natr", 1).await;
    let arn = n.release(1).await;
    let out = n.invoke("ecsx_service_deployment_rollback");
    assert!(out.success(), "{out}");
    out.assert_contains(&[
        &format!("ROLLBACK at PRE_PRODUCTION_TRAFFIC_SHIFT of service deployment {arn}"),
        &format!("service deployment {arn} rolled back"),
    ]);
    let d = n.newest().await;
    assert_eq!(status(&d), "ROLLBACK_SUCCESSFUL");
    assert_eq!(n.running().await, n.td(0));
}

#[tokio::test]
async fn actions_with_nothing_waiting_fail_clearly_and_change_nothing() {
    let n = Native::start("natn", 1).await;
    let before = n.aws.native_deployments(&n.infra.cluster, SERVICE).await;
    for action in [
        "ecsx_service_deployment_continue",
        "ecsx_service_deployment_rollback",
        "ecsx_service_deployment_stop",
    ] {
        let out = n.invoke(action);
        assert!(!out.success(), "{action} succeeded:\n{out}");
        out.assert_contains(&[
            "No service deployment in progress",
            "is SUCCESSFUL. Nothing was changed.",
        ]);
    }
    assert_eq!(
        n.aws.native_deployments(&n.infra.cluster, SERVICE).await,
        before
    );
    assert_eq!(n.running().await, n.td(0));
}

#[tokio::test]
async fn two_waiting_hooks_need_hook_id_and_a_stop_rolls_back() {
    let n = Native::start("nat2", 2).await;
    let arn = n.release(1).await;
    let d = n.newest().await;
    let hooks: Vec<String> = d
        .lifecycle_hook_details()
        .iter()
        .filter_map(|h| h.hook_id().map(str::to_string))
        .collect();
    assert_eq!(hooks.len(), 2, "{d:#?}");

    // Two hooks wait: the continue refuses and names both; nothing changes.
    let out = n.invoke("ecsx_service_deployment_continue");
    assert!(!out.success(), "{out}");
    out.assert_contains(&[
        "More than one lifecycle hook waits",
        &format!("hook {} of {arn}", hooks[0]),
        &format!("hook {} of {arn}", hooks[1]),
        "Set hook_id",
    ]);
    assert_eq!(waiting_hook(&n.newest().await), hooks[0]);

    // A hook_id that does not wait is refused too.
    n.ws.config(&config(&n.infra.cluster, "hook_id = \"no-such-hook\""));
    let out = n.invoke("ecsx_service_deployment_continue");
    assert!(!out.success(), "{out}");
    out.assert_contains(&["Lifecycle hook no-such-hook does not wait"]);

    // Naming one releases it; the other still waits, so the action stops there.
    n.ws.config(&config(
        &n.infra.cluster,
        &format!("hook_id = \"{}\"", hooks[1]),
    ));
    let out = n.invoke("ecsx_service_deployment_continue");
    assert!(out.success(), "{out}");
    out.assert_contains(&[&format!(
        "paused again at PRE_PRODUCTION_TRAFFIC_SHIFT: hook {}",
        hooks[0]
    )]);

    // Stop: back to the source revision.
    let out = n.invoke("ecsx_service_deployment_stop");
    assert!(out.success(), "{out}");
    out.assert_contains(&[
        &format!("stopping service deployment {arn} (ROLLBACK)"),
        &format!("service deployment {arn} is ROLLBACK_SUCCESSFUL"),
    ]);
    assert_eq!(status(&n.newest().await), "ROLLBACK_SUCCESSFUL");
    assert_eq!(n.running().await, n.td(0));
}
