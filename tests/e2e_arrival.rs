//! Arrival through real Terraform: a service made on the ECS deployment controller (as
//! hashicorp/aws's `aws_ecs_service` makes it by default) moves into ecsx in one apply, whose
//! plan shows the switch and moves no traffic; a canary and a promotion then work as on any
//! service, and destroy leaves no task set. Each reason ECS refuses the switch is a plan
//! error, and a service ejected back to ECS under a deployment is said so on refresh.

mod common;

use aws_sdk_ecs::types::{
    DeploymentAlarms, DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentStrategy,
    ServiceConnectConfiguration, VpcLatticeConfiguration,
};
use common::{fast_native_stages, planned_after, rollout_steps, CanaryConfig, Stack, CANARY_ADDR};
use serde_json::json;

const SERVICE: &str = "rolling";

/// A stack with a ROLLING ECS-controller service `rolling` on blue, whose listener and rule
/// forward to blue alone (the single-target forward of an ECS-controller service).
async fn ecs_controller_stack(name: &str) -> Stack {
    let s = Stack::short_periods(name).await;
    fast_native_stages(&s.emu);
    s.aws
        .create_rolling_service(&s.infra, SERVICE, |r| r, true)
        .await;
    for arn in [&s.infra.listener_arn, &s.infra.rule_arn] {
        s.aws.set_forward(arn, &[(s.blue(), 100)]).await;
    }
    s
}

/// The deployment of `rolling` with an arrival block, without test listeners.
fn arriving(s: &Stack) -> CanaryConfig {
    let mut cfg =
        CanaryConfig::new(&s.infra).extra("  arrival {\n    from_controller = \"ECS\"\n  }\n");
    cfg.service = SERVICE.into();
    cfg.test_listeners.clear();
    cfg
}

async fn production(s: &Stack) -> [(i32, i32); 2] {
    [
        s.aws.split(&s.infra.rule_arn, s.blue(), s.green()).await,
        s.aws
            .split(&s.infra.listener_arn, s.blue(), s.green())
            .await,
    ]
}

#[tokio::test]
async fn an_ecs_controller_service_moves_into_ecsx_in_one_apply() {
    let s = ecs_controller_stack("arrive").await;
    let cfg = arriving(&s);
    s.deploy(&cfg);
    let plan = s.ws.plan_json();
    let steps = rollout_steps(&planned_after(&plan, CANARY_ADDR));
    assert!(
        steps[0]
            .starts_with("switch service rolling from the ECS deployment controller to EXTERNAL"),
        "{steps:#?}"
    );
    assert!(
        steps[0].contains("its 2 running task(s) of arrive:1 keep running"),
        "{steps:#?}"
    );
    assert!(steps[1].contains("traffic unchanged"), "{steps:#?}");
    assert!(
        !steps.iter().any(|l| l.starts_with("create ")),
        "adopts, creates nothing: {steps:#?}"
    );
    assert_eq!(
        s.aws.controller(&s.infra.cluster, SERVICE).await,
        "ECS",
        "a plan writes nothing"
    );
    let before = production(&s).await;
    s.ws.ok(&["apply", "-input=false", "-no-color", "tfplan"]);
    assert_eq!(
        s.aws.controller(&s.infra.cluster, SERVICE).await,
        "EXTERNAL"
    );
    let live = s.aws.live_task_sets(&s.infra.cluster, SERVICE).await;
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0].status(), Some("PRIMARY"));
    assert_eq!(live[0].task_definition(), Some(s.td(0).as_str()));
    let stable = live[0].id().unwrap_or_default().to_string();
    let state = s.state();
    assert_eq!(state["stable_task_set_id"], json!(stable));
    let tags = s
        .aws
        .task_set_tags(&s.infra.cluster, SERVICE, &stable)
        .await;
    assert!(
        tags.iter()
            .any(|(k, v)| k == "ecsx:deployment" && v.ends_with("/rolling")),
        "{tags:?}"
    );
    let after = production(&s).await;
    assert_eq!(before.map(|(b, _)| b), [100, 100]);
    assert_eq!(after, [(100, 0), (100, 0)], "traffic unchanged");
    // The second plan is empty.
    s.ws.ok(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);

    // From here on it is a service like any other: a canary, then its promotion.
    let cfg = cfg.canary(&s.td(1), 10);
    s.deploy(&cfg);
    s.ws.apply(&[]);
    assert_eq!(production(&s).await, [(90, 10), (90, 10)]);
    let promoted = cfg.stable(&s.td(1)).no_canary();
    s.deploy(&promoted);
    s.ws.apply(&[]);
    let live = s.aws.live_task_sets(&s.infra.cluster, SERVICE).await;
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0].task_definition(), Some(s.td(1).as_str()));
    assert_eq!(live[0].status(), Some("PRIMARY"));
    s.ws.ok(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
    s.ws.destroy();
    assert!(s
        .aws
        .live_task_sets(&s.infra.cluster, SERVICE)
        .await
        .is_empty());
}

#[tokio::test]
async fn a_service_ejected_to_ecs_is_dropped_from_state_and_can_arrive_again() {
    let s = ecs_controller_stack("eject").await;
    s.deploy(&arriving(&s));
    s.ws.apply(&[]);
    // Ejected out of band: EXTERNAL -> ECS (one task set, the PRIMARY one, as ECS requires).
    s.aws
        .ecs
        .update_service()
        .cluster(&s.infra.cluster)
        .service(SERVICE)
        .deployment_controller(
            aws_sdk_ecs::types::DeploymentController::builder()
                .r#type(aws_sdk_ecs::types::DeploymentControllerType::Ecs)
                .build()
                .expect("controller"),
        )
        .send()
        .await
        .expect("UpdateService to ECS");
    let plan =
        s.ws.ok(&["plan", "-input=false", "-no-color", "-out=tfplan"]);
    plan.assert_contains(&[
        "Service left the EXTERNAL controller; removing from state",
        "uses the ECS deployment controller now",
        "switch service rolling from the ECS deployment controller",
    ]);
    // With the arrival block still there, it moves back in.
    s.ws.ok(&["apply", "-input=false", "-no-color", "tfplan"]);
    assert_eq!(
        s.aws.controller(&s.infra.cluster, SERVICE).await,
        "EXTERNAL"
    );
    assert_eq!(production(&s).await, [(100, 0), (100, 0)]);
}

#[tokio::test]
async fn each_refusal_is_a_plan_error() {
    let s = ecs_controller_stack("refuse").await;
    let config = |c: DeploymentConfiguration| {
        move |r: aws_sdk_ecs::operation::create_service::builders::CreateServiceFluentBuilder| {
            r.deployment_configuration(c)
        }
    };
    let breaker = DeploymentConfiguration::builder()
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(true)
                .rollback(true)
                .build(),
        )
        .build();
    let alarms = DeploymentConfiguration::builder()
        .alarms(
            DeploymentAlarms::builder()
                .alarm_names("a")
                .enable(true)
                .rollback(true)
                .build()
                .expect("alarms"),
        )
        .build();
    let blue_green = DeploymentConfiguration::builder()
        .strategy(DeploymentStrategy::BlueGreen)
        .build();
    s.aws
        .create_rolling_service(&s.infra, "breaker", config(breaker), true)
        .await;
    s.aws
        .create_rolling_service(&s.infra, "alarms", config(alarms), true)
        .await;
    s.aws
        .create_rolling_service(&s.infra, "bluegreen", config(blue_green), true)
        .await;
    s.aws
        .create_rolling_service(
            &s.infra,
            "connect",
            |r| {
                r.service_connect_configuration(
                    ServiceConnectConfiguration::builder()
                        .enabled(true)
                        .namespace("ns")
                        .build(),
                )
            },
            true,
        )
        .await;
    let lattice = VpcLatticeConfiguration::builder()
        .role_arn("arn:aws:iam::123456789012:role/lattice")
        .target_group_arn("arn:aws:vpc-lattice:us-east-1:123456789012:targetgroup/tg-1")
        .port_name("http")
        .build()
        .expect("lattice");
    s.aws
        .create_rolling_service(
            &s.infra,
            "lattice",
            |r| r.vpc_lattice_configurations(lattice),
            true,
        )
        .await;
    // A deployment that is still going on (not the service's first): stages of ten minutes.
    s.aws
        .create_rolling_service(&s.infra, "busy", |r| r, true)
        .await;
    s.emu.configure(json!({"native_stage_seconds": 600}));
    s.aws
        .ecs
        .update_service()
        .cluster(&s.infra.cluster)
        .service("busy")
        .force_new_deployment(true)
        .send()
        .await
        .expect("UpdateService forceNewDeployment");
    let services = [
        "breaker",
        "alarms",
        "bluegreen",
        "connect",
        "lattice",
        "busy",
    ];
    let hcl: Vec<String> = services
        .iter()
        .map(|name| {
            let mut cfg = arriving(&s);
            cfg.service = (*name).into();
            cfg.hcl()
                .replacen("\"web\" {", &format!("\"{name}\" {{"), 1)
        })
        .collect();
    s.ws.config(&hcl.join("\n"));
    let out = s.ws.fails(&["plan", "-input=false", "-no-color"]);
    out.assert_contains(&[
        "Error: Switch refused: circuit breaker",
        "Error: Switch refused: deployment alarms",
        "Error: Switch refused: deployment strategy",
        "Error: Switch refused: Service Connect",
        "Error: Switch refused: VPC Lattice",
        "Error: Switch refused: deployment in progress",
        "from_controller = \"ECS\"",
    ]);
    for name in services {
        assert_eq!(
            s.aws.controller(&s.infra.cluster, name).await,
            "ECS",
            "{name} untouched"
        );
    }
}

/// A new service's first deployment (its tasks still starting, as for a service the same apply
/// creates) is no refusal: the plan warns, and the apply waits for it to end, then switches.
#[tokio::test]
async fn a_new_service_is_switched_once_its_first_deployment_ends() {
    let s = Stack::short_periods("first").await;
    s.emu.configure(json!({"native_stage_seconds": 6}));
    s.aws
        .create_rolling_service(&s.infra, SERVICE, |r| r, false)
        .await;
    for arn in [&s.infra.listener_arn, &s.infra.rule_arn] {
        s.aws.set_forward(arn, &[(s.blue(), 100)]).await;
    }
    s.deploy(&arriving(&s));
    s.ws.ok(&["plan", "-input=false", "-no-color", "-out=tfplan"])
        .assert_contains(&["Warning: Arrival waits for the first deployment"]);
    s.ws.ok(&["apply", "-input=false", "-no-color", "tfplan"]);
    assert_eq!(
        s.aws.controller(&s.infra.cluster, SERVICE).await,
        "EXTERNAL"
    );
    let deployments = s.aws.native_deployments(&s.infra.cluster, SERVICE).await;
    assert_eq!(deployments[0].1, "SUCCESSFUL", "{deployments:?}");
    assert_eq!(production(&s).await, [(100, 0), (100, 0)]);
    s.ws.ok(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
}

/// An arrival whose apply stopped after the switch leaves an EXTERNAL service with one task set
/// nobody owns: with the arrival block, the next create takes that task set over.
#[tokio::test]
async fn the_only_unowned_task_set_of_an_external_service_is_taken_over() {
    let s = Stack::short_periods("takeover").await;
    let left = s
        .aws
        .create_task_set_on(&s.infra, &s.td(0), s.blue(), &[])
        .await;
    for arn in [&s.infra.listener_arn, &s.infra.rule_arn] {
        s.aws.set_forward(arn, &[(s.blue(), 100)]).await;
    }
    let mut cfg = arriving(&s);
    cfg.service = s.infra.service().to_string();
    s.deploy(&cfg);
    let plan = s.ws.plan_json();
    let steps = rollout_steps(&planned_after(&plan, CANARY_ADDR));
    assert!(
        steps[0].starts_with(&format!("take over task set {} (", left.id)),
        "{steps:#?}"
    );
    s.ws.ok(&["apply", "-input=false", "-no-color", "tfplan"]);
    assert_eq!(s.id_of("stable").as_deref(), Some(left.id.as_str()));
    assert_eq!(s.primary_arn().await.as_deref(), Some(left.arn.as_str()));
    assert_eq!(production(&s).await, [(100, 0), (100, 0)]);
    s.ws.ok(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
}

/// The first apply may also start a canary: the switch and the take-over come first, then the
/// canary as on any service.
#[tokio::test]
async fn an_arrival_and_a_canary_in_one_apply() {
    let s = ecs_controller_stack("both").await;
    s.deploy(&arriving(&s).canary(&s.td(1), 10));
    s.ws.apply(&[]);
    assert_eq!(
        s.aws.controller(&s.infra.cluster, SERVICE).await,
        "EXTERNAL"
    );
    assert_eq!(production(&s).await, [(90, 10), (90, 10)]);
    let live = s.aws.live_task_sets(&s.infra.cluster, SERVICE).await;
    assert_eq!(live.len(), 2, "{live:#?}");
    s.ws.ok(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
}
