//! `terraform query` on services of the ECS deployment controller: one an arrival can take in
//! (ROLLING, its listener and rule forwarding plainly to its target group, one free partner
//! target group) is listed with where its native release stands, and its generated
//! configuration (an `arrival` block, the plain forward's traffic block) validates, plans only
//! the arrival (switch, take over, traffic unchanged), applies, and then plans nothing. One
//! whose native deployment waits at a lifecycle hook is explained with its stage and hook, and
//! one ECS would refuse to switch (circuit breaker on) with arrival's own refusal.

mod common;

use aws_sdk_ecs::types::{DeploymentCircuitBreaker, DeploymentConfiguration};
use common::{fast_native_stages, rollout_steps, Stack};

const SERVICE: &str = "rolling";

fn query(cluster: &str, prefix: &str) -> String {
    format!(
        r#"
list "ecsx_canary_deployment" "arrive" {{
  provider = ecsx
  config {{
    cluster             = "{cluster}"
    service_name_prefix = "{prefix}"
  }}
}}
"#
    )
}

#[tokio::test]
async fn an_ecs_controller_service_is_listed_and_its_generated_arrival_applies() {
    let s = Stack::short_periods("arrq").await;
    fast_native_stages(&s.emu);
    s.aws
        .create_rolling_service(&s.infra, SERVICE, |r| r, true)
        .await;
    // The single-target forward of an ECS-controller service; green, forwarded to by nothing
    // once the test listener goes, is the one free partner.
    for arn in [&s.infra.listener_arn, &s.infra.rule_arn] {
        s.aws.set_forward(arn, &[(s.blue(), 100)]).await;
    }
    s.aws
        .elbv2
        .delete_listener()
        .listener_arn(&s.infra.test_listener_arn)
        .send()
        .await
        .expect("DeleteListener");

    s.ws.config("provider \"ecsx\" {}\n");
    s.ws.write("arrive.tfquery.hcl", &query(&s.infra.cluster, SERVICE));
    let out =
        s.ws.ok(&["query", "-no-color", "-generate-config-out=generated.tf"]);
    out.assert_contains(&[
        "rolling: ECS controller, last deployment SUCCESSFUL, arrq:1, 2 tasks; arrival",
        "can move it onto ecsx",
    ]);
    out.assert_not_contains(&["Service rolling cannot be adopted"]);
    let generated =
        std::fs::read_to_string(s.ws.dir().join("generated.tf")).expect("generated.tf written");
    for want in [
        "from_controller = \"ECS\"".to_string(),
        format!("canary_target_group_arn  = \"{}\"", s.green()),
        format!("primary_target_group_arn = \"{}\"", s.blue()),
        format!("listener_arns            = [\"{}\"]", s.infra.listener_arn),
        format!("listener_rule_arns       = [\"{}\"]", s.infra.rule_arn),
    ] {
        assert!(generated.contains(&want), "{want} in\n{generated}");
    }
    let valid = s.ws.validate();
    assert!(valid.success(), "{valid}");

    // Without its arrival block the imported deployment has nothing to stand on.
    let without = generated.replace("  arrival {\n    from_controller = \"ECS\"\n  }\n", "");
    assert_ne!(without, generated);
    s.ws.write("generated.tf", &without);
    s.ws.fails(&["plan", "-input=false", "-no-color"])
        .assert_contains(&["does not use the EXTERNAL"]);
    s.ws.write("generated.tf", &generated);

    // The first plan imports the service for its arrival and shows only the arrival: the
    // switch, the take-over, and the plain forwards written as weighted 100/0 (no traffic
    // moves). It writes nothing.
    let (code, plan) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{plan}");
    plan.assert_contains(&["Plan: 1 to import, 0 to add, 1 to change, 0 to destroy."]);
    let plan = s.ws.plan_json();
    let after = plan["resource_changes"]
        .as_array()
        .and_then(|rc| {
            rc.iter()
                .find(|r| r["change"]["after"]["service"] == SERVICE)
        })
        .map(|r| r["change"]["after"].clone())
        .unwrap_or_else(|| panic!("{SERVICE} not in the plan: {plan:#}"));
    let steps = rollout_steps(&after);
    assert_eq!(steps.len(), 3, "{steps:#?}");
    assert!(
        steps[0]
            .starts_with("switch service rolling from the ECS deployment controller to EXTERNAL"),
        "{steps:#?}"
    );
    assert!(
        steps[1].starts_with("take over") && steps[1].contains("traffic unchanged"),
        "{steps:#?}"
    );
    assert_eq!(steps[2], "shift traffic 100/0 on 2 rules", "{steps:#?}");
    assert_eq!(
        s.aws.controller(&s.infra.cluster, SERVICE).await,
        "ECS",
        "a plan writes nothing"
    );

    s.ws.apply(&[]);
    assert_eq!(
        s.aws.controller(&s.infra.cluster, SERVICE).await,
        "EXTERNAL"
    );
    let live = s.aws.live_task_sets(&s.infra.cluster, SERVICE).await;
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0].status(), Some("PRIMARY"));
    for router in [&s.infra.listener_arn, &s.infra.rule_arn] {
        assert_eq!(
            s.aws.split(router, s.blue(), s.green()).await,
            (100, 0),
            "{router}"
        );
    }
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn a_native_deployment_paused_at_a_hook_is_explained() {
    let s = Stack::short_periods("arrqp").await;
    fast_native_stages(&s.emu);
    s.aws
        .create_native_canary_service(&s.infra, "paused", 1)
        .await;
    let held = s
        .aws
        .release_native(&s.infra.cluster, "paused", &s.td(1))
        .await;
    let hook = held
        .lifecycle_hook_details()
        .iter()
        .find(|h| h.status().map(|x| x.as_str()) == Some("AWAITING_ACTION"))
        .and_then(|h| h.hook_id())
        .expect("a waiting hook")
        .to_string();

    // A ROLLING service with the circuit breaker on: what arrival's plan refuses, the
    // listing explains.
    let breaker = DeploymentConfiguration::builder()
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(true)
                .rollback(true)
                .build(),
        )
        .build();
    s.aws
        .create_rolling_service(
            &s.infra,
            "paused-breaker",
            |r| r.deployment_configuration(breaker),
            true,
        )
        .await;

    s.ws.config("provider \"ecsx\" {}\n");
    s.ws.write("arrive.tfquery.hcl", &query(&s.infra.cluster, "paused"));
    let out = s.ws.ok(&["query", "-no-color"]);
    out.assert_contains(&[
        "Service paused cannot be adopted",
        "IN_PROGRESS at stage",
        "PRE_PRODUCTION_TRAFFIC_SHIFT",
        &hook,
        "ecsx_service_deployment_continue",
        "ecsx_service_deployment_rollback",
        "deployment strategy is CANARY",
        "Service paused-breaker cannot be adopted",
        "deployment_circuit_breaker.enable",
    ]);
    out.assert_not_contains(&["arrival can move it"]);
}
