//! Adopting what exists and what the same apply creates: ImportResourceState runs during `plan`,
//! so it writes nothing and the first apply tags the task sets; another controller's task sets
//! are refused; a service that does not exist yet at plan time is checked again at apply.

mod common;

use common::{CanaryConfig, Stack, TAG_DEPLOYMENT};
use serde_json::json;

const ADDR: &str = "ecsx_canary_deployment.web";

/// A service released by hand: an untagged PRIMARY on blue, all traffic on blue.
async fn released_by_hand(name: &str, tags: &[(&str, &str)]) -> (Stack, String) {
    release_by_hand(name, tags, false).await
}

/// [`released_by_hand`], with `ecs_defaults`: on a cluster whose default capacity provider
/// strategy is FARGATE_SPOT, by a CreateTaskSet that names no security group, launch type,
/// strategy or platform version, so ECS fills them in.
async fn release_by_hand(name: &str, tags: &[(&str, &str)], ecs_defaults: bool) -> (Stack, String) {
    let s = Stack::new(name).await;
    s.emu
        .configure(json!({"stabilize_seconds": 1, "drain_seconds": 1}));
    let (td, blue) = (&s.infra.task_definitions[0], &s.infra.blue_target_group_arn);
    let stable = if ecs_defaults {
        s.aws
            .set_default_capacity_provider_strategy(&s.infra.cluster, &[("FARGATE_SPOT", 1)])
            .await;
        s.aws
            .create_task_set_with_ecs_defaults(&s.infra, td, blue)
            .await
    } else {
        s.aws.create_task_set_on(&s.infra, td, blue, tags).await
    };
    s.aws
        .set_primary(&s.infra.cluster, s.infra.service(), &stable.arn)
        .await;
    for arn in [
        &s.infra.listener_arn,
        &s.infra.rule_arn,
        &s.infra.test_listener_arn,
    ] {
        s.aws
            .set_forward(
                arn,
                &[
                    (&s.infra.blue_target_group_arn, 100),
                    (&s.infra.green_target_group_arn, 0),
                ],
            )
            .await;
    }
    (s, stable.id)
}

fn import_block(s: &Stack) -> String {
    format!(
        "import {{\n  to = {ADDR}\n  id = \"{}/{}\"\n}}\n",
        s.infra.cluster,
        s.infra.service()
    )
}

#[tokio::test]
async fn import_writes_nothing_and_the_first_apply_adopts_by_tagging() {
    let (s, stable_id) = released_by_hand("adopt", &[("team", "web")]).await;
    let cfg = CanaryConfig::new(&s.infra).tag("team", "web");
    s.ws.config(&format!("{}{}", import_block(&s), cfg.hcl()));

    let (code, out) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{out}");
    out.assert_contains(&[
        "1 to import",
        &format!("tag stable {stable_id} as owned by deployment adopt/adopt"),
        "Warning: Adoption",
    ])
    // Without a canary, import cannot tell the test listener from a production one (both send
    // everything to blue), so the configuration moves it to test_listener_arns: weights are
    // set again to what they already are. No task set is created.
    .assert_not_contains(&["create stable task set", "create canary task set"]);
    let tags = s
        .aws
        .task_set_tags(&s.infra.cluster, s.infra.service(), &stable_id)
        .await;
    assert!(
        tags.iter().all(|(k, _)| !k.starts_with("ecsx:")),
        "a plan with an import block must not tag: {tags:?}"
    );

    s.ws.apply(&[]);
    let tags = s
        .aws
        .task_set_tags(&s.infra.cluster, s.infra.service(), &stable_id)
        .await;
    assert!(
        tags.contains(&(TAG_DEPLOYMENT.to_string(), "adopt/adopt".to_string())),
        "{tags:?}"
    );
    let live = s
        .aws
        .live_task_sets(&s.infra.cluster, s.infra.service())
        .await;
    assert_eq!(live.len(), 1, "adoption rolls nothing: {live:#?}");
    assert_eq!(live[0].id(), Some(stable_id.as_str()));
    for arn in [
        &s.infra.listener_arn,
        &s.infra.rule_arn,
        &s.infra.test_listener_arn,
    ] {
        assert_eq!(
            s.aws
                .split(
                    arn,
                    &s.infra.blue_target_group_arn,
                    &s.infra.green_target_group_arn
                )
                .await,
            (100, 0),
            "{arn}"
        );
    }
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn import_refuses_task_sets_another_controller_manages() {
    let (s, stable_id) = released_by_hand("pipecd", &[("pipecd-dev-managed-by", "piped")]).await;
    s.ws.config(&CanaryConfig::new(&s.infra).hcl());
    s.ws.fails(&["import", "-input=false", "-no-color", ADDR, "pipecd/pipecd"])
        .assert_contains(&[
            "Task sets managed by another controller",
            &format!("{stable_id} by PipeCD (pipecd-dev-managed-by=piped)"),
        ]);
    let tags = s
        .aws
        .task_set_tags(&s.infra.cluster, s.infra.service(), &stable_id)
        .await;
    assert_eq!(
        tags,
        [("pipecd-dev-managed-by".to_string(), "piped".to_string())]
    );
}

#[tokio::test]
async fn a_service_the_same_apply_creates_plans_with_a_warning_and_applies() {
    let mut s = Stack::new("later").await;
    s.emu
        .configure(json!({"stabilize_seconds": 1, "drain_seconds": 1}));
    s.ws.set_env("ECSX_PROPAGATION_TIMEOUT", "3s");
    let mut cfg = CanaryConfig::new(&s.infra);
    cfg.service = "later-svc".into();
    s.ws.config(&cfg.hcl());

    // Nothing refused at plan: the service may come from aws_ecs_service in the same apply.
    s.ws.ok(&["plan", "-out=tfplan", "-input=false", "-no-color"])
        .assert_contains(&[
            "ECS service not found yet",
            "checks again at apply",
            "1 to add",
        ]);
    // Still missing at apply: refused there, after the bounded wait.
    s.ws.fails(&["apply", "-input=false", "-no-color", "tfplan"])
        .assert_contains(&[
            "ECS service not found",
            "Service \"later-svc\" was not found",
        ]);

    s.ws.ok(&["plan", "-out=tfplan", "-input=false", "-no-color"]);
    s.aws
        .ecs
        .create_service()
        .cluster(&s.infra.cluster)
        .service_name("later-svc")
        .desired_count(2)
        .deployment_controller(
            aws_sdk_ecs::types::DeploymentController::builder()
                .r#type(aws_sdk_ecs::types::DeploymentControllerType::External)
                .build()
                .expect("deployment controller"),
        )
        .send()
        .await
        .expect("CreateService");
    s.ws.ok(&["apply", "-input=false", "-no-color", "tfplan"]);
    let live = s.aws.live_task_sets(&s.infra.cluster, "later-svc").await;
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0].status(), Some("PRIMARY"));
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn cloud_map_registries_are_kept_on_every_task_set_and_survive_import() {
    let s = Stack::short_periods("cmap").await;
    let registry = "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-cmap0001";
    let with_registry = |cfg: &CanaryConfig| {
        cfg.hcl().replacen(
            "  task_set {\n",
            &format!(
                "  task_set {{\n    service_registries {{\n      registry_arn = {registry:?}\n      port         = 8080\n    }}\n"
            ),
            1,
        )
    };
    let cfg = CanaryConfig::new(&s.infra);
    s.ws.config(&with_registry(&cfg.clone().canary(&s.td(1), 10)));
    s.ws.apply(&[]);
    let live = s
        .aws
        .live_task_sets(&s.infra.cluster, s.infra.service())
        .await;
    assert_eq!(live.len(), 2);
    for t in &live {
        let regs = t.service_registries();
        assert_eq!(regs.len(), 1, "{t:#?}");
        assert_eq!(regs[0].registry_arn(), Some(registry));
        assert_eq!(regs[0].port(), Some(8080));
    }
    s.ws.assert_plan_empty();

    // Re-adopted from ECS, the registry is part of the rebuilt template: nothing rolls.
    s.ws.ok(&["state", "rm", ADDR]);
    s.ws.import(ADDR, "cmap/cmap");
    let (_, out) = s.ws.plan_detailed();
    out.assert_not_contains(&[
        "create stable task set",
        "create canary task set",
        "service_registries",
    ]);
}

/// A listener or rule that forwards plainly (`TargetGroupArn`, no `ForwardConfig`), as a
/// service migrated from a simple setup does.
async fn forward_plainly(s: &Stack, arn: &str, tg: &str) {
    use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum};
    let action = Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(tg)
        .build();
    if arn.contains(":listener-rule/") {
        s.aws
            .elbv2
            .modify_rule()
            .rule_arn(arn)
            .actions(action)
            .send()
            .await
            .expect("ModifyRule");
    } else {
        s.aws
            .elbv2
            .modify_listener()
            .listener_arn(arn)
            .default_actions(action)
            .send()
            .await
            .expect("ModifyListener");
    }
}

#[tokio::test]
async fn a_canary_target_group_nothing_forwards_to_is_added_at_weight_0_first() {
    let (s, stable_id) = released_by_hand("plain", &[]).await;
    for arn in [
        &s.infra.listener_arn,
        &s.infra.rule_arn,
        &s.infra.test_listener_arn,
    ] {
        forward_plainly(&s, arn, &s.infra.blue_target_group_arn).await;
    }
    let cfg = CanaryConfig::new(&s.infra).canary(&s.td(1), 10);
    s.ws.config(&format!("{}{}", import_block(&s), cfg.hcl()));
    let (code, out) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{out}");
    out.assert_contains(&[
        "add tg plain-green at weight 0 on 2 rules",
        "create canary task set",
        "shift traffic 90/10 on 2 rules",
    ]);
    s.ws.apply(&[]);
    for arn in [&s.infra.listener_arn, &s.infra.rule_arn] {
        assert_eq!(
            s.aws
                .split(
                    arn,
                    &s.infra.blue_target_group_arn,
                    &s.infra.green_target_group_arn
                )
                .await,
            (90, 10),
            "{arn}"
        );
    }
    let live = s
        .aws
        .live_task_sets(&s.infra.cluster, s.infra.service())
        .await;
    assert_eq!(live.len(), 2, "{live:#?}");
    assert!(live.iter().any(|t| t.id() == Some(stable_id.as_str())));
    s.ws.assert_plan_empty();
}

/// The configuration of a service released with ECS's defaults: no security groups, launch
/// type, capacity provider strategy or platform version.
fn leaving_ecs_defaults_unset(s: &Stack) -> CanaryConfig {
    let mut cfg = CanaryConfig::new(&s.infra);
    cfg.launch_type = None;
    cfg.security_groups = vec![];
    cfg
}

#[tokio::test]
async fn importing_task_sets_ecs_filled_with_defaults_rolls_nothing() {
    let (s, stable_id) = release_by_hand("dflt", &[], true).await;
    // What ECS reports: the VPC's default security group, the cluster's default strategy and
    // the platform version LATEST resolved to.
    let live = s
        .aws
        .task_set(&s.infra.cluster, s.infra.service(), &stable_id)
        .await
        .expect("the hand-made task set");
    let awsvpc = live
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .expect("awsvpc");
    assert_eq!(awsvpc.security_groups().len(), 1, "{live:#?}");
    assert_ne!(awsvpc.security_groups()[0], s.infra.security_group);
    assert_eq!(
        live.capacity_provider_strategy()[0].capacity_provider(),
        "FARGATE_SPOT"
    );
    assert_eq!(live.launch_type(), None);
    assert_eq!(live.platform_version(), Some("1.4.0"));

    let cfg = leaving_ecs_defaults_unset(&s);
    s.ws.config(&format!("{}{}", import_block(&s), cfg.hcl()));
    let (code, out) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{out}");
    out.assert_contains(&[
        "1 to import",
        &format!("tag stable {stable_id} as owned by deployment dflt/dflt"),
    ])
    .assert_not_contains(&["create stable task set", "create canary task set"]);

    s.ws.apply(&[]);
    let live = s
        .aws
        .live_task_sets(&s.infra.cluster, s.infra.service())
        .await;
    assert_eq!(live.len(), 1, "adoption rolls nothing: {live:#?}");
    assert_eq!(live[0].id(), Some(stable_id.as_str()));
    s.ws.assert_plan_empty();

    // Removed from the state and imported again (now tagged as the deployment's): still
    // nothing to roll.
    s.ws.config(&cfg.hcl());
    s.ws.ok(&["state", "rm", ADDR]);
    s.ws.import(ADDR, "dflt/dflt");
    let (_, out) = s.ws.plan_detailed();
    out.assert_not_contains(&["create stable task set", "create canary task set"]);
}

#[tokio::test]
async fn a_deliberate_change_to_a_field_ecs_filled_in_still_rolls() {
    let (s, stable_id) = release_by_hand("dchg", &[], true).await;
    let unset = leaving_ecs_defaults_unset(&s);
    let pinned = |hcl: String| {
        hcl.replacen(
            "    container_name",
            "    platform_version = \"1.3.0\"\n    container_name",
            1,
        )
    };
    let changes = [
        ("a security group", {
            let mut c = unset.clone();
            c.security_groups = vec![s.infra.security_group.clone()];
            c.hcl()
        }),
        ("the FARGATE launch type", {
            let mut c = unset.clone();
            c.launch_type = Some("FARGATE".into());
            c.hcl()
        }),
        ("another capacity provider", {
            let mut c = unset.clone();
            c.capacity_provider = Some("FARGATE".into());
            c.hcl()
        }),
        ("a pinned platform version", pinned(unset.hcl())),
    ];
    for (what, hcl) in changes {
        s.ws.config(&format!("{}{hcl}", import_block(&s)));
        let (code, out) = s.ws.plan_detailed();
        assert_eq!(code, 2, "{what}: {out}");
        out.assert_contains(&[
            "create stable task set",
            &format!("delete old stable task set dchg:1 ({stable_id})"),
        ]);
    }
}
