//! `terraform query -generate-config-out` on a service whose listener rule forwards plainly to
//! the PRIMARY task set's one target group (the usual state before ecsx): the list resource says
//! why it cannot generate a configuration for it instead of writing one that `terraform
//! validate` refuses, and the generated configuration of the services it does list validates.

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

#[tokio::test]
async fn a_plain_forward_is_explained_and_the_generated_configuration_validates() {
    let emu = Emulator::start();
    let infra = Infra::create_n(&emu, "plain", 2);
    let aws = Aws::connect(&emu).await;
    // plain-1: the infra's weighted rule (blue 100 / green 0), adoptable.
    let stable = aws
        .create_fargate_task_set(
            &infra,
            "plain-1",
            &infra.task_definitions[0],
            &infra.blue_target_group_arn,
            &[],
        )
        .await;
    aws.set_primary(&infra.cluster, "plain-1", &stable.arn)
        .await;
    // plain-2: its own target group behind a rule that forwards to it alone.
    let only = aws.create_target_group(&infra, "plain-2-only").await;
    aws.create_rule(
        &infra.listener_arn,
        30,
        "/plain/*",
        forward_action(&[(&only, 1)], None),
    )
    .await;
    let stable2 = aws
        .create_fargate_task_set(&infra, "plain-2", &infra.task_definitions[1], &only, &[])
        .await;
    aws.set_primary(&infra.cluster, "plain-2", &stable2.arn)
        .await;

    let ws = Workspace::with_emulator("plain", &emu);
    ws.config("provider \"ecsx\" {}\n");
    ws.write("adopt.tfquery.hcl", QUERY);
    let out = ws.ok(&["query", "-no-color", "-generate-config-out=generated.tf"]);
    out.assert_contains(&[
        "plain-1: PRIMARY plain:1, traffic 100/0, 1 task set",
        "Service plain-2 cannot be adopted",
        "no listener or listener rule splits traffic between the PRIMARY task set's target group plain-2-only and a second target group",
        "traffic.canary_target_group_arn",
    ]);
    let generated =
        std::fs::read_to_string(ws.dir().join("generated.tf")).expect("generated.tf written");
    assert!(
        generated.contains("service    = \"plain-1\""),
        "{generated}"
    );
    assert!(!generated.contains("plain-2"), "{generated}");
    assert!(
        !generated.contains("canary_target_group_arn  = null"),
        "{generated}"
    );
    let valid = ws.validate();
    assert!(valid.success(), "{valid}");
}
