//! Adopting running services through real Terraform: `terraform query` over the list resources,
//! `-generate-config-out`, import by identity, and identity in the state.

mod common;

use common::*;
use serde_json::Value as Json;

/// A task set of `service` on target group `tg`, the way a release script makes one.
async fn task_set_on(
    aws: &Aws,
    infra: &Infra,
    service: &str,
    task_definition: &str,
    tg: &str,
) -> TaskSetRef {
    aws.create_fargate_task_set(infra, service, task_definition, tg, &[])
        .await
}

/// The cluster a release script left behind: `adopt-1` mid-canary (stable on blue, canary on
/// green, 90/10 on the listener and the rule, the test listener on green), `adopt-2` stable only
/// on its own target groups behind its own rule, with a test listener still on its green target
/// group, and `adopt-ecs`, an ECS-controller service.
async fn released_by_scripts(emu: &Emulator) -> (Infra, Aws, Adopt2) {
    let infra = Infra::create_n(emu, "adopt", 2);
    let aws = Aws::connect(emu).await;
    let (blue, green) = (&infra.blue_target_group_arn, &infra.green_target_group_arn);
    let stable = task_set_on(&aws, &infra, "adopt-1", &infra.task_definitions[0], blue).await;
    aws.set_primary(&infra.cluster, "adopt-1", &stable.arn)
        .await;
    task_set_on(&aws, &infra, "adopt-1", &infra.task_definitions[1], green).await;
    for router in [&infra.listener_arn, &infra.rule_arn] {
        aws.set_forward(router, &[(blue, 90), (green, 10)]).await;
    }

    let blue2 = aws.create_target_group(&infra, "adopt-2-blue").await;
    let green2 = aws.create_target_group(&infra, "adopt-2-green").await;
    aws.create_rule(
        &infra.listener_arn,
        20,
        "/two/*",
        forward_action(&[(&blue2, 100), (&green2, 0)], None),
    )
    .await;
    let stable2 = task_set_on(&aws, &infra, "adopt-2", &infra.task_definitions[2], &blue2).await;
    aws.set_primary(&infra.cluster, "adopt-2", &stable2.arn)
        .await;
    // The script's test listener for adopt-2 still points at green, where nothing runs now.
    let test2 = aws
        .elbv2
        .create_listener()
        .load_balancer_arn(&infra.load_balancer_arn)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(9092)
        .default_actions(forward_action(&[(&blue2, 0), (&green2, 100)], None))
        .send()
        .await
        .expect("CreateListener for adopt-2's test traffic");
    let test2 = test2.listeners()[0]
        .listener_arn()
        .unwrap_or_default()
        .to_string();

    aws.create_ecs_controller_service(&infra, "adopt-ecs").await;
    (
        infra,
        aws,
        Adopt2 {
            blue2,
            green2,
            test2,
        },
    )
}

/// adopt-2's own target groups and the test listener a script left on green.
struct Adopt2 {
    blue2: String,
    green2: String,
    test2: String,
}

const QUERY: &str = r#"
list "ecsx_canary_deployment" "adopt" {
  provider = ecsx
  config {
    cluster = "adopt"
  }
}
"#;

/// The live task set ids of both adoptable services, sorted.
async fn live_ids(aws: &Aws, infra: &Infra) -> Vec<String> {
    let mut ids = vec![];
    for svc in ["adopt-1", "adopt-2"] {
        for t in aws.live_task_sets(&infra.cluster, svc).await {
            ids.push(t.id().unwrap_or_default().to_string());
        }
    }
    ids.sort();
    ids
}

fn identity_of<'a>(state: &'a Json, address: &str) -> &'a Json {
    state
        .pointer("/values/root_module/resources")
        .and_then(Json::as_array)
        .and_then(|rs| rs.iter().find(|r| r["address"] == address))
        .map(|r| &r["identity"])
        .unwrap_or_else(|| panic!("no {address} in state: {state:#}"))
}

#[tokio::test]
async fn query_generates_config_that_imports_and_plans_nothing() {
    let emu = Emulator::start();
    let (infra, aws, two) = released_by_scripts(&emu).await;
    let ws = Workspace::with_emulator("adopt", &emu);
    ws.config("provider \"ecsx\" {}\n");
    ws.write("adopt.tfquery.hcl", QUERY);

    // 1. query lists the two adoptable services and explains the third.
    let out = ws.ok(&["query", "-no-color"]);
    out.assert_contains(&[
        "list.ecsx_canary_deployment.adopt",
        "account_id=123456789012,cluster=adopt,region=us-east-1,service=adopt-1",
        "adopt-1: PRIMARY adopt:1, canary adopt:2, traffic 90/10, 2 task sets",
        "service=adopt-2",
        "adopt-2: PRIMARY adopt:3, traffic 100/0, 1 task set",
        "Service adopt-ecs cannot be adopted",
        "ECS deployment controller",
        // adopt-2's test listener would move at the first apply: left out, and said so.
        "Listener left out of the deployment",
        "traffic.test_listener_arns",
    ]);

    // Listing wrote nothing: no task set got an ownership tag.
    for svc in ["adopt-1", "adopt-2"] {
        for t in aws.live_task_sets(&infra.cluster, svc).await {
            let tags = aws
                .task_set_tags(&infra.cluster, svc, t.task_set_arn().unwrap_or_default())
                .await;
            assert!(tags.is_empty(), "query tagged {svc}: {tags:?}");
        }
    }

    // 2. -generate-config-out writes import blocks by identity and resource blocks.
    ws.ok(&["query", "-no-color", "-generate-config-out=generated.tf"]);
    let generated =
        std::fs::read_to_string(ws.dir().join("generated.tf")).expect("generated.tf written");
    for needle in [
        "resource \"ecsx_canary_deployment\" \"adopt_0\"",
        "resource \"ecsx_canary_deployment\" \"adopt_1\"",
        "identity = {",
        "service    = \"adopt-1\"",
        "service    = \"adopt-2\"",
        &format!(
            "primary_target_group_arn = \"{}\"",
            infra.blue_target_group_arn
        ),
        &format!("task_definition = \"{}\"", infra.task_definitions[1]),
        "traffic_percent = 10",
    ] {
        assert!(
            generated.contains(needle),
            "generated.tf lacks {needle:?}:\n{generated}"
        );
    }
    assert!(!generated.contains("adopt-ecs"), "{generated}");
    // Nothing computed-only or at its default is written.
    for absent in [
        "rollout_steps",
        "stable_task_set_id",
        "primary_weight",
        "wait_for_steady_state",
    ] {
        assert!(
            !generated.contains(absent),
            "generated.tf has {absent}:\n{generated}"
        );
    }

    // 3. Applied as written: both imported, and the only writes are the ownership tags (import
    // reads only; the first apply tags the adopted task sets). Then the plan is empty.
    let before = live_ids(&aws, &infra).await;
    let plan = ws.plan_json();
    for i in 0..2 {
        let address = format!("ecsx_canary_deployment.adopt_{i}");
        let change = plan["resource_changes"]
            .as_array()
            .and_then(|rc| rc.iter().find(|r| r["address"] == address.as_str()))
            .unwrap_or_else(|| panic!("{address} not in the plan"));
        assert!(change["change"]["importing"].is_object(), "{change:#}");
        let steps: Vec<&str> = change["change"]["after"]["rollout_steps"]
            .as_array()
            .map(|a| a.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        assert!(!steps.is_empty(), "{address}: {change:#}");
        assert!(
            steps.iter().all(|s| s.starts_with("tag ")),
            "{address} would do more than tag: {steps:?}"
        );
    }
    let out = ws.apply(&[]);
    out.assert_contains(&["2 imported, 0 added, 2 changed, 0 destroyed"]);
    ws.assert_plan_empty();
    assert_eq!(
        live_ids(&aws, &infra).await,
        before,
        "a task set was created or deleted"
    );
    for router in [&infra.listener_arn, &infra.rule_arn] {
        assert_eq!(
            aws.split(
                router,
                &infra.blue_target_group_arn,
                &infra.green_target_group_arn
            )
            .await,
            (90, 10),
            "import moved traffic on {router}"
        );
    }
    assert_eq!(
        aws.split(&two.test2, &two.blue2, &two.green2).await,
        (0, 100)
    );
    assert!(!generated.contains(&two.test2), "{generated}");

    // 4. The state carries the identity.
    let state = ws.show_json();
    let addresses: Vec<String> = (0..2)
        .map(|i| format!("ecsx_canary_deployment.adopt_{i}"))
        .collect();
    let mut services: Vec<String> = addresses
        .iter()
        .map(|a| {
            let id = identity_of(&state, a);
            assert_eq!(id["cluster"], "adopt", "{a}: {id}");
            assert_eq!(id["account_id"], "123456789012", "{a}: {id}");
            assert_eq!(id["region"], REGION, "{a}: {id}");
            id["service"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    services.sort();
    assert_eq!(services, ["adopt-1", "adopt-2"]);

    // 5. import { identity = {...} } with only the names: forget one and import it again.
    let two = addresses
        .iter()
        .find(|a| identity_of(&state, a)["service"] == "adopt-2")
        .expect("adopt-2 in state")
        .clone();
    ws.ok(&["state", "rm", "-no-color", &two]);
    let resources_only: String = {
        // Keep the resource blocks, drop every import block Terraform wrote after them.
        let mut keep = String::new();
        let mut skipping = false;
        for line in generated.lines() {
            if line.starts_with("import {") {
                skipping = true;
            }
            if !skipping {
                keep.push_str(line);
                keep.push('\n');
            }
            if skipping && line == "}" {
                skipping = false;
            }
        }
        keep
    };
    ws.write("generated.tf", &resources_only);
    ws.write(
        "import.tf",
        &format!(
            "import {{\n  to = {two}\n  identity = {{\n    cluster = \"adopt\"\n    service = \"adopt-2\"\n  }}\n}}\n"
        ),
    );
    // Its task sets carry the ownership tags already, so the import is all this apply does.
    let out = ws.apply(&[]);
    out.assert_contains(&["1 imported, 0 added, 0 changed, 0 destroyed"]);
    ws.assert_plan_empty();
    let state = ws.show_json();
    assert_eq!(identity_of(&state, &two)["service"], "adopt-2");
    assert_eq!(identity_of(&state, &two)["account_id"], "123456789012");
}

#[tokio::test]
async fn primary_task_sets_are_listed_and_adopted_the_same_way() {
    let emu = Emulator::start();
    let infra = Infra::create_n(&emu, "adoptp", 2);
    let aws = Aws::connect(&emu).await;
    let ts = aws
        .create_task_set(&infra, "adoptp-1", &infra.task_definitions[0])
        .await;
    aws.set_primary(&infra.cluster, "adoptp-1", &ts.arn).await;
    let ws = Workspace::with_emulator("adoptp", &emu);
    ws.config("provider \"ecsx\" {}\n");
    ws.write(
        "adopt.tfquery.hcl",
        "list \"ecsx_primary_task_set\" \"p\" {\n  provider = ecsx\n  config {\n    cluster = \"adoptp\"\n  }\n}\n",
    );
    ws.ok(&["query", "-no-color", "-generate-config-out=generated.tf"])
        .assert_contains(&[
            "service=adoptp-1",
            "Service adoptp-2 cannot be adopted",
            "no PRIMARY task set yet",
        ]);
    ws.apply(&[])
        .assert_contains(&["1 imported, 0 added, 0 changed, 0 destroyed"]);
    ws.assert_plan_empty();
    let state = ws.show_json();
    let id = identity_of(&state, "ecsx_primary_task_set.p_0");
    assert_eq!(id["service"], "adoptp-1", "{id}");
    assert_eq!(
        state_values(&state, "ecsx_primary_task_set.p_0").expect("in state")["task_set"],
        ts.arn.as_str()
    );
}
