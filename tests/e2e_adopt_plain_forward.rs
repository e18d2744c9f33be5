//! `terraform query -generate-config-out` on services whose listener rule forwards plainly to
//! the PRIMARY task set's one target group (the usual state before ecsx): with one free target
//! group of the same kind (the blue/green pair's idle half), the generated configuration names
//! it as the canary's, validates, plans only the adoption steps (tags, the plain forward made a
//! weighted 100/0, no traffic moved), applies, and then plans nothing. With two such target
//! groups the list resource explains the service and names both instead of guessing.

mod common;

use common::*;

const QUERY: &str = r#"
list "ecsx_canary_deployment" "adopt" {
  provider = ecsx
  config {
    cluster = "plain"
  }
}
"#;

/// A target group in the infra's VPC on `port`, attached to nothing.
async fn target_group_on_port(aws: &Aws, infra: &Infra, name: &str, port: i32) -> String {
    use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, TargetTypeEnum};
    let out = aws
        .elbv2
        .create_target_group()
        .name(name)
        .protocol(ProtocolEnum::Http)
        .port(port)
        .vpc_id(&infra.vpc)
        .target_type(TargetTypeEnum::Ip)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTargetGroup {name}: {e:?}"));
    out.target_groups()[0]
        .target_group_arn()
        .unwrap_or_default()
        .to_string()
}

/// A plain forward (a `TargetGroupArn`, no weights) to `tg`.
fn plain_forward(tg: &str) -> aws_sdk_elasticloadbalancingv2::types::Action {
    use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum};
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(tg)
        .build()
}

/// What the cluster holds besides plain-1 (the infra's weighted blue/green rule).
struct Plain {
    /// plain-2: its target group, the rule forwarding plainly to it, its free partner.
    only2: String,
    rule2: String,
    spare2: String,
    /// plain-3: its target group, the rule forwarding plainly to it, one of its two partners.
    only3: String,
    rule3: String,
    a3: String,
}

/// plain-2 behind a plain forward with one free target group of its kind (port 80); plain-3
/// behind a plain forward on port 81 with two (one of them freed by a ModifyRule, which real
/// ELBv2 shows in its LoadBalancerArns and plain moto does not).
async fn plain_forwards(aws: &Aws, infra: &Infra) -> Plain {
    let stable = aws
        .create_fargate_task_set(
            infra,
            "plain-1",
            &infra.task_definitions[0],
            &infra.blue_target_group_arn,
            &[],
        )
        .await;
    aws.set_primary(&infra.cluster, "plain-1", &stable.arn)
        .await;

    let only2 = aws.create_target_group(infra, "plain-2-only").await;
    let spare2 = aws.create_target_group(infra, "plain-2-spare").await;
    let rule2 = aws
        .create_rule(&infra.listener_arn, 30, "/plain/*", plain_forward(&only2))
        .await;
    let stable2 = aws
        .create_fargate_task_set(infra, "plain-2", &infra.task_definitions[1], &only2, &[])
        .await;
    aws.set_primary(&infra.cluster, "plain-2", &stable2.arn)
        .await;

    let only3 = target_group_on_port(aws, infra, "plain-3-only", 81).await;
    let a3 = target_group_on_port(aws, infra, "plain-3-a", 81).await;
    target_group_on_port(aws, infra, "plain-3-b", 81).await;
    let rule3 = aws
        .create_rule(&infra.listener_arn, 40, "/three/*", plain_forward(&only3))
        .await;
    // plain-3-a served a retired path once; the rule now forwards elsewhere.
    let old = aws
        .create_rule(&infra.listener_arn, 41, "/old/*", plain_forward(&a3))
        .await;
    aws.set_forward(&old, &[(&only3, 1)]).await;
    let stable3 = aws
        .create_fargate_task_set(infra, "plain-3", &infra.task_definitions[2], &only3, &[])
        .await;
    aws.set_primary(&infra.cluster, "plain-3", &stable3.arn)
        .await;
    Plain {
        only2,
        rule2,
        spare2,
        only3,
        rule3,
        a3,
    }
}

#[tokio::test]
async fn a_plain_forward_is_adopted_with_its_one_free_partner_and_two_are_explained() {
    let emu = Emulator::start();
    let infra = Infra::create_n(&emu, "plain", 3);
    let aws = Aws::connect(&emu).await;
    let p = plain_forwards(&aws, &infra).await;
    // ELBv2 pages DescribeTargetGroups (up to 400 a page): one a page makes the listing follow
    // every marker.
    emu.configure(serde_json::json!({ "elb_page_size": 1 }));

    let ws = Workspace::with_emulator("plain", &emu);
    ws.config("provider \"ecsx\" {}\n");
    ws.write("adopt.tfquery.hcl", QUERY);
    let out = ws.ok(&["query", "-no-color", "-generate-config-out=generated.tf"]);
    out.assert_contains(&[
        "plain-1: PRIMARY plain:1, traffic 100/0, 1 task set",
        "plain-2: PRIMARY plain:2, traffic 100/0, 1 task set",
        "Service plain-3 cannot be adopted",
        "several target groups could be its canary's",
        "plain-3-a, plain-3-b",
        "ecsx does not guess",
    ]);
    out.assert_not_contains(&["Service plain-2 cannot be adopted"]);
    let generated =
        std::fs::read_to_string(ws.dir().join("generated.tf")).expect("generated.tf written");
    assert!(
        generated.contains("service    = \"plain-2\""),
        "{generated}"
    );
    assert!(
        generated.contains(&format!("canary_target_group_arn  = \"{}\"", p.spare2)),
        "{generated}"
    );
    assert!(
        generated.contains(&format!("listener_rule_arns       = [\"{}\"]", p.rule2)),
        "{generated}"
    );
    assert!(!generated.contains("plain-3"), "{generated}");
    assert!(!generated.contains("= null\n    listener_rule_arns       = null"));
    let valid = ws.validate();
    assert!(valid.success(), "{valid}");

    // The plan (which must not write: the workspace watches) imports both and shows only the
    // adoption steps: the tags, and plain-2's plain forward (weight 1) made a weighted 100/0
    // with its canary target group listed at 0. No traffic moves; no task set is made.
    let (code, plan) = ws.plan_detailed();
    assert_eq!(code, 2, "{plan}");
    plan.assert_contains(&[
        "Plan: 2 to import, 0 to add, 2 to change, 0 to destroy.",
        "primary_weight          = 1 -> 100",
    ]);
    let plan = ws.plan_json();
    let steps = |service: &str| -> Vec<String> {
        let change = plan["resource_changes"]
            .as_array()
            .and_then(|rc| {
                rc.iter()
                    .find(|r| r["change"]["after"]["service"] == service)
            })
            .unwrap_or_else(|| panic!("{service} not in the plan: {plan:#}"));
        rollout_steps(&change["change"]["after"])
    };
    let tagged = |s: &[String]| s.iter().any(|l| l.starts_with("tag stable ecs-svc/"));
    let two = steps("plain-2");
    assert_eq!(two.len(), 2, "{two:?}");
    assert!(tagged(&two), "{two:?}");
    assert!(
        two.contains(&"shift traffic 100/0 on 1 rule".to_string()),
        "{two:?}"
    );
    let one = steps("plain-1");
    assert!(tagged(&one) && one.len() == 1, "{one:?}");
    assert_eq!(
        aws.forward_weights(&p.rule2).await,
        vec![(p.only2.clone(), 1)],
        "a plan must not touch the rule"
    );

    ws.apply(&[]);
    let mut after = aws.forward_weights(&p.rule2).await;
    after.sort();
    let mut want = vec![(p.only2.clone(), 100), (p.spare2.clone(), 0)];
    want.sort();
    assert_eq!(after, want, "the plain forward is now weighted 100/0");
    ws.assert_plan_empty();

    // plain-3, imported by hand as the explanation says: the import warns that it chose no
    // canary target group, the configuration names one, and the plan is the same adoption.
    let mut cfg = CanaryConfig::new(&infra);
    cfg.service = "plain-3".into();
    cfg.stable_task_definition = infra.task_definitions[2].clone();
    cfg.primary_target_group = p.only3.clone();
    cfg.canary_target_group = p.a3.clone();
    cfg.listeners = vec![];
    cfg.rules = vec![p.rule3.clone()];
    cfg.test_listeners = vec![];
    ws.write(
        "plain3.tf",
        &format!(
            "import {{\n  to = {CANARY_ADDR}\n  id = \"plain/plain-3\"\n}}\n{}",
            cfg.hcl()
        ),
    );
    let (code, plan) = ws.plan_detailed();
    assert_eq!(code, 2, "{plan}");
    plan.assert_contains(&[
        "No canary target group for a plain forward",
        "plain-3-a, plain-3-b",
        "\"shift traffic 100/0 on 1 rule\"",
        "Plan: 1 to import, 0 to add, 1 to change, 0 to destroy.",
    ]);
    plan.assert_not_contains(&["create canary", "create stable"]);
    ws.apply(&[]);
    assert_eq!(aws.split(&p.rule3, &p.only3, &p.a3).await, (100, 0));
    ws.assert_plan_empty();
}

/// A listener's default action and a rule forwarding plainly to blue: both are adopted, and a
/// target group of the same kind that holds a registered target is not taken for the canary's
/// (DescribeTargetHealth), so green, attached to nothing, is the one free partner.
#[tokio::test]
async fn a_plain_listener_default_action_is_adopted_and_busy_target_groups_are_passed_over() {
    let emu = Emulator::start();
    let infra = Infra::create(&emu, "plainl");
    let aws = Aws::connect(&emu).await;
    let (blue, green) = (&infra.blue_target_group_arn, &infra.green_target_group_arn);
    for router in [&infra.listener_arn, &infra.rule_arn] {
        if router.contains(":listener-rule/") {
            aws.elbv2
                .modify_rule()
                .rule_arn(router)
                .actions(plain_forward(blue))
                .send()
                .await
                .expect("ModifyRule");
        } else {
            aws.elbv2
                .modify_listener()
                .listener_arn(router)
                .default_actions(plain_forward(blue))
                .send()
                .await
                .expect("ModifyListener");
        }
    }
    // The test listener goes: a listener forwarding to green would make green busy.
    aws.elbv2
        .delete_listener()
        .listener_arn(&infra.test_listener_arn)
        .send()
        .await
        .expect("DeleteListener");
    let busy = aws.create_target_group(&infra, "plainl-busy").await;
    aws.elbv2
        .register_targets()
        .target_group_arn(&busy)
        .targets(
            aws_sdk_elasticloadbalancingv2::types::TargetDescription::builder()
                .id("10.0.1.17")
                .port(8080)
                .build(),
        )
        .send()
        .await
        .expect("RegisterTargets");
    let stable = aws
        .create_fargate_task_set(
            &infra,
            infra.service(),
            &infra.task_definitions[0],
            blue,
            &[],
        )
        .await;
    aws.set_primary(&infra.cluster, infra.service(), &stable.arn)
        .await;

    let ws = Workspace::with_emulator("plainl", &emu);
    ws.config("provider \"ecsx\" {}\n");
    ws.write(
        "adopt.tfquery.hcl",
        &QUERY.replace("\"plain\"", "\"plainl\""),
    );
    let out = ws.ok(&["query", "-no-color", "-generate-config-out=generated.tf"]);
    out.assert_contains(&["plainl: PRIMARY plainl:1, traffic 100/0, 1 task set"]);
    let generated =
        std::fs::read_to_string(ws.dir().join("generated.tf")).expect("generated.tf written");
    for want in [
        format!("canary_target_group_arn  = \"{green}\""),
        format!("listener_arns            = [\"{}\"]", infra.listener_arn),
        format!("listener_rule_arns       = [\"{}\"]", infra.rule_arn),
    ] {
        assert!(generated.contains(&want), "{want} in\n{generated}");
    }
    let valid = ws.validate();
    assert!(valid.success(), "{valid}");
    let (code, plan) = ws.plan_detailed();
    assert_eq!(code, 2, "{plan}");
    plan.assert_contains(&["\"shift traffic 100/0 on 2 rules\"", "Plan: 1 to import"]);
    plan.assert_not_contains(&["create canary", "create stable"]);
    ws.apply(&[]);
    for router in [&infra.listener_arn, &infra.rule_arn] {
        assert_eq!(aws.split(router, blue, green).await, (100, 0), "{router}");
        assert_eq!(aws.forward_weights(router).await.len(), 2, "{router}");
    }
    ws.assert_plan_empty();
}
