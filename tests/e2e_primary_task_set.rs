//! `ecsx_primary_task_set` and `ecsx_task_sets` end to end: real Terraform, the provider
//! binary, and the emulator patched to real-AWS behaviour.

mod common;

use common::{
    error_diagnostics, planned_actions, primary_task_set, state_output, state_values, Stack,
    Workspace,
};
use serde_json::{json, Value as Json};
use std::time::{Duration, Instant};

const ADDR: &str = common::PRIMARY_ADDR;

#[tokio::test]
async fn create_makes_the_task_set_primary() {
    let s = Stack::new("basic").await;
    let a = s.task_set(0).await;
    let _b = s.task_set(1).await;
    assert_eq!(s.primary_arn().await, None, "no task set is PRIMARY yet");

    s.primary_config(&a.id, "");
    s.ws.apply(&[]);

    assert_eq!(s.primary_arn().await.as_deref(), Some(a.arn.as_str()));
    let st = s.primary_state();
    assert_eq!(st["id"], "basic/basic");
    assert_eq!(st["cluster"], "basic");
    assert_eq!(st["service"], "basic");
    assert_eq!(st["task_set"], a.id.as_str());
    assert_eq!(st["task_set_id"], a.id.as_str());
    assert_eq!(st["task_set_arn"], a.arn.as_str());
    assert_eq!(st["task_definition"], s.infra.task_definitions[0].as_str());
    assert_eq!(st["wait_for_steady_state"], false);
    assert_eq!(
        st["previous_task_set_id"],
        Json::Null,
        "nothing was PRIMARY before"
    );
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn changing_task_set_promotes_in_place() {
    let s = Stack::new("update").await;
    let a = s.task_set(0).await;
    let b = s.task_set(1).await;
    let c = s.task_set(2).await;
    s.aws
        .set_primary(&s.infra.cluster, s.infra.service(), &c.arn)
        .await;

    s.primary_config(&a.id, "");
    s.ws.apply(&[]);
    assert_eq!(
        s.primary_state()["previous_task_set_id"],
        c.id.as_str(),
        "the task set PRIMARY before create"
    );

    // By ARN this time: the same resource, another task set.
    s.primary_config(&b.arn, "");
    let plan = s.ws.plan_json();
    assert_eq!(planned_actions(&plan, ADDR), ["update"], "{plan:#}");
    let (code, out) = s.ws.plan_detailed();
    assert_eq!(code, 2);
    out.assert_contains(&["~ update in-place", "0 to add, 1 to change, 0 to destroy"])
        .assert_not_contains(&["must be replaced"]);

    s.ws.apply(&[])
        .assert_contains(&["0 added, 1 changed, 0 destroyed"]);
    assert_eq!(s.primary_arn().await.as_deref(), Some(b.arn.as_str()));
    let st = s.primary_state();
    assert_eq!(st["task_set"], b.arn.as_str());
    assert_eq!(st["task_set_id"], b.id.as_str());
    assert_eq!(st["task_set_arn"], b.arn.as_str());
    assert_eq!(st["task_definition"], s.infra.task_definitions[1].as_str());
    assert_eq!(st["previous_task_set_id"], a.id.as_str());
    s.ws.assert_plan_empty();

    // Only the waiting behaviour changes: an update that keeps every fact about the task set.
    s.primary_config(&b.arn, "  timeouts {\n    update = \"5m\"\n  }");
    let plan = s.ws.plan_json();
    assert_eq!(planned_actions(&plan, ADDR), ["update"]);
    let after = &plan["resource_changes"][0]["change"]["after"];
    assert_eq!(
        after["task_set_arn"],
        b.arn.as_str(),
        "facts stay known: {plan:#}"
    );
    assert_eq!(after["previous_task_set_id"], a.id.as_str());
    s.ws.apply(&[]);
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn primary_changed_out_of_band_is_drift_and_is_put_back() {
    let s = Stack::new("drift").await;
    let a = s.task_set(0).await;
    let b = s.task_set(1).await;
    s.primary_config(&b.id, "");
    s.ws.apply(&[]);

    s.aws
        .set_primary(&s.infra.cluster, s.infra.service(), &a.arn)
        .await;
    let (code, out) = s.ws.plan_detailed();
    assert_eq!(code, 2, "drift must show as a change:\n{out}");
    out.assert_contains(&[
        &format!("~ task_set = \"{}\" -> \"{}\"", a.id, b.id),
        "1 to change",
    ]);

    s.ws.apply(&[]);
    assert_eq!(s.primary_arn().await.as_deref(), Some(b.arn.as_str()));
    assert_eq!(s.primary_state()["previous_task_set_id"], a.id.as_str());
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn service_deleted_out_of_band_is_removed_from_state() {
    let s = Stack::new("gone").await;
    let a = s.task_set(0).await;
    s.primary_config(&a.id, "");
    s.ws.apply(&[]);

    s.aws
        .delete_service(&s.infra.cluster, s.infra.service())
        .await;
    let (code, out) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{out}");
    out.assert_contains(&[
        "ECS service gone; removing from state",
        "Service \"gone\" in cluster \"gone\" is INACTIVE",
        "ecsx_primary_task_set.this will be created",
        "1 to add, 0 to change, 0 to destroy",
    ]);
    assert_eq!(planned_actions(&s.ws.plan_json(), ADDR), ["create"]);

    // Recreating it on a deleted (INACTIVE) service is refused, as ECS refuses it.
    s.ws.apply_fails(&[]).assert_contains(&[
        "Error: ECS service is not active",
        "Service \"gone\" in cluster \"gone\" is INACTIVE",
    ]);
    assert!(state_values(&s.ws.show_json(), ADDR).is_none());
}

#[tokio::test]
async fn import_with_the_cli_then_plan_is_empty() {
    let s = Stack::new("import").await;
    let a = s.task_set(0).await;
    let _b = s.task_set(1).await;
    s.aws
        .set_primary(&s.infra.cluster, s.infra.service(), &a.arn)
        .await;
    s.primary_config(&a.arn, "");

    s.ws.fails(&["import", "-input=false", "-no-color", ADDR, "arn:aws:ecs:x"])
        .assert_contains(&["Invalid import id", "Expected CLUSTER/SERVICE"]);

    s.ws.import(ADDR, "import/import")
        .assert_contains(&["Import successful!"]);
    let st = s.primary_state();
    assert_eq!(st["id"], "import/import");
    assert_eq!(st["task_set"], a.arn.as_str());
    assert_eq!(st["task_set_id"], a.id.as_str());
    assert_eq!(st["task_definition"], s.infra.task_definitions[0].as_str());
    assert_eq!(st["previous_task_set_id"], Json::Null);
    s.ws.assert_plan_empty();
    assert_eq!(s.primary_arn().await.as_deref(), Some(a.arn.as_str()));
}

#[tokio::test]
async fn import_block_then_plan_is_empty() {
    let s = Stack::new("importblk").await;
    let _a = s.task_set(0).await;
    let b = s.task_set(1).await;
    s.aws
        .set_primary(&s.infra.cluster, s.infra.service(), &b.arn)
        .await;
    s.ws.config(&format!(
        "import {{\n  to = {ADDR}\n  id = \"importblk/importblk\"\n}}\n\n{}",
        primary_task_set("importblk", "importblk", &b.arn, "")
    ));

    let plan = s.ws.plan_json();
    let change = &plan["resource_changes"][0];
    assert_eq!(change["address"], ADDR);
    assert_eq!(change["change"]["actions"], json!(["no-op"]), "{plan:#}");
    assert_eq!(change["change"]["importing"]["id"], "importblk/importblk");

    s.ws.apply(&[])
        .assert_contains(&["1 imported, 0 added, 0 changed, 0 destroyed"]);
    let st = s.primary_state();
    assert_eq!(st["task_set_arn"], b.arn.as_str());
    assert_eq!(st["task_set_id"], b.id.as_str());
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn destroy_forgets_and_leaves_the_primary_in_place() {
    let s = Stack::new("destroy").await;
    let a = s.task_set(0).await;
    s.primary_config(&a.id, "");
    s.ws.apply(&[]);

    s.ws.destroy().assert_contains(&[
        "Warning: Primary task set left in place",
        &format!("task set {} stays PRIMARY", a.id),
        "1 destroyed",
    ]);
    let state = s.ws.show_json();
    assert!(state_values(&state, ADDR).is_none(), "{state:#}");
    let t = s
        .aws
        .task_set(&s.infra.cluster, s.infra.service(), &a.arn)
        .await
        .expect("task set still exists");
    assert_eq!(t.status(), Some("PRIMARY"));
}

#[tokio::test]
async fn unknown_service_or_cluster_is_reported() {
    let s = Stack::new("missing").await;
    let a = s.task_set(0).await;
    s.ws.config(&format!(
        "{}\n\n{}",
        primary_task_set("missing", "nope", &a.id, "").replace("\"this\"", "\"service\""),
        primary_task_set("nocluster", "missing", &a.id, "").replace("\"this\"", "\"cluster\""),
    ));
    s.ws.apply_fails(&[]).assert_contains(&[
        "Error: ECS service not found",
        "with ecsx_primary_task_set.service",
        "Service \"nope\" was not found in cluster \"missing\" (DescribeServices failure MISSING)",
        "with ecsx_primary_task_set.cluster",
        "Service \"missing\" was not found in cluster \"nocluster\" (ClusterNotFoundException)",
    ]);
    assert_eq!(s.primary_arn().await, None);
}

#[tokio::test]
async fn service_with_the_ecs_controller_is_refused() {
    let s = Stack::new("ecsctl").await;
    let a = s.task_set(0).await;
    s.aws
        .create_ecs_controller_service(&s.infra, "rolling")
        .await;
    s.ws.config(&primary_task_set("ecsctl", "rolling", &a.id, ""));
    s.ws.apply_fails(&[]).assert_contains(&[
        "Error: Service does not use the EXTERNAL deployment controller",
        "Service \"rolling\" in cluster \"ecsctl\" uses the ECS deployment controller",
        "service = \"rolling\"",
    ]);
}

#[tokio::test]
async fn task_set_of_another_service_is_refused() {
    let s = Stack::with_services("other", 2).await;
    let foreign = s
        .aws
        .create_task_set(&s.infra, &s.infra.services[1], &s.infra.task_definitions[0])
        .await;
    s.ws.config(&primary_task_set("other", "other-1", &foreign.arn, ""));
    s.ws.apply_fails(&[]).assert_contains(&[
        "Error: Task set not in this service",
        &format!(
            "Task set \"{}\" is not a task set of service \"other-1\" in cluster \"other\"",
            foreign.arn
        ),
        "task_set = \"arn:aws:ecs:",
    ]);
    assert_eq!(s.primary_arn().await, None);
}

#[tokio::test]
async fn draining_task_set_is_refused() {
    let s = Stack::new("drain").await;
    s.emu.configure(json!({"drain_seconds": 300}));
    let a = s.task_set(0).await;
    let b = s.task_set(1).await;
    s.aws
        .set_primary(&s.infra.cluster, s.infra.service(), &a.arn)
        .await;
    s.aws
        .delete_task_set(&s.infra.cluster, s.infra.service(), &b.arn)
        .await;
    let t = s
        .aws
        .task_set(&s.infra.cluster, s.infra.service(), &b.arn)
        .await;
    assert_eq!(
        t.and_then(|t| t.status().map(String::from)).as_deref(),
        Some("DRAINING")
    );

    s.primary_config(&b.id, "");
    s.ws.apply_fails(&[]).assert_contains(&[
        "Error: Task set is draining",
        &format!(
            "Task set {} of service \"drain\" in cluster \"drain\" is DRAINING",
            b.id
        ),
    ]);
    assert_eq!(s.primary_arn().await.as_deref(), Some(a.arn.as_str()));
}

#[test]
fn invalid_arguments_fail_validation_with_their_paths() {
    let ws = Workspace::new("validate");
    // Line numbers matter: the diagnostics must point at the attribute, not the block.
    ws.config(
        r#"resource "ecsx_primary_task_set" "empty" {
  cluster  = ""
  service  = "web"
  task_set = ""
}

resource "ecsx_primary_task_set" "malformed" {
  cluster  = "arn:aws:ecs:us-east-1:123456789012:service/prod/web"
  service  = "web"
  task_set = "ecs-svc/../../etc"
  timeouts {
    create = "soon"
  }
}
"#,
    );
    let out = ws.validate();
    assert_eq!(out.code, 1, "{out}");
    out.assert_contains(&["Error: Invalid name or ARN", "Error: Invalid task set"]);

    let report = ws.validate_json();
    assert_eq!(report["valid"], false, "{report:#}");
    let diags = error_diagnostics(&report);
    // main.tf starts with a 6-line terraform block written by Workspace::config.
    let header = 6;
    let expected = [
        ("Invalid name or ARN", "cluster: \"\"", header + 2),
        ("Invalid task set", "task_set: \"\"", header + 4),
        (
            "Invalid name or ARN",
            "cluster: \"arn:aws:ecs:us-east-1:123456789012:service/prod/web\"",
            header + 8,
        ),
        (
            "Invalid task set",
            "task_set: \"ecs-svc/../../etc\"",
            header + 10,
        ),
        ("Invalid duration", "timeouts[0].create", header + 12),
    ];
    for (summary, detail, line) in expected {
        assert!(
            diags
                .iter()
                .any(|(s, d, l)| s == summary && d.starts_with(detail) && *l == line),
            "no {summary:?} diagnostic starting {detail:?} at main.tf line {line}; got {diags:#?}"
        );
    }
    assert_eq!(diags.len(), expected.len(), "{diags:#?}");
}

#[tokio::test]
async fn wait_for_steady_state_waits_while_stabilizing() {
    let s = Stack::new("steady").await;
    let stabilize = Duration::from_secs(4);
    s.emu
        .configure(json!({"stabilize_seconds": stabilize.as_secs()}));
    // Taken before CreateTaskSet, so it is no later than the start of the emulator's window.
    let created = Instant::now();
    let a = s.task_set(0).await;
    let t = s
        .aws
        .task_set(&s.infra.cluster, s.infra.service(), &a.arn)
        .await;
    assert_eq!(
        t.and_then(|t| t.stability_status().map(|x| x.as_str().to_string()))
            .as_deref(),
        Some("STABILIZING")
    );

    s.primary_config(&a.id, "  wait_for_steady_state = true");
    s.ws.apply(&[]);
    assert!(
        created.elapsed() >= stabilize,
        "apply returned {:?} after the task set was created, before it could be steady",
        created.elapsed()
    );
    let t = s
        .aws
        .task_set(&s.infra.cluster, s.infra.service(), &a.arn)
        .await
        .expect("task set");
    assert_eq!(t.status(), Some("PRIMARY"));
    assert_eq!(
        t.stability_status().map(|x| x.as_str()),
        Some("STEADY_STATE")
    );
    s.ws.assert_plan_empty();

    // A task set that never stabilises runs into the update timeout.
    let b = s.task_set(1).await;
    s.emu
        .configure(json!({"never_stable_task_definitions": [b.task_definition]}));
    s.primary_config(
        &b.id,
        "  wait_for_steady_state = true\n  timeouts {\n    update = \"2s\"\n  }",
    );
    s.ws.apply_fails(&[]).assert_contains(&[
        "Error: Primary task set did not reach a steady state",
        &format!(
            "task set {} of service \"steady\" in cluster \"steady\" is PRIMARY",
            b.id
        ),
        "timeouts block",
    ]);
    assert_eq!(s.primary_arn().await.as_deref(), Some(b.arn.as_str()));
}

#[tokio::test]
async fn task_sets_data_source_lists_task_sets_and_the_primary() {
    let s = Stack::new("listing").await;
    let a = s.task_set(0).await;
    // createdAt has millisecond resolution; keep "oldest first" unambiguous.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let b = s.task_set(1).await;
    s.aws
        .set_primary(&s.infra.cluster, s.infra.service(), &b.arn)
        .await;
    s.ws.config(
        r#"data "ecsx_task_sets" "this" {
  cluster = "listing"
  service = "arn:aws:ecs:us-east-1:123456789012:service/listing/listing"
}

output "id" { value = data.ecsx_task_sets.this.id }
output "primary" { value = data.ecsx_task_sets.this.primary_task_set_id }
output "ids" { value = [for t in data.ecsx_task_sets.this.task_sets : t.id] }
output "arns" { value = [for t in data.ecsx_task_sets.this.task_sets : t.arn] }
output "statuses" { value = [for t in data.ecsx_task_sets.this.task_sets : t.status] }
output "task_definitions" { value = [for t in data.ecsx_task_sets.this.task_sets : t.task_definition] }
output "target_groups" { value = [for t in data.ecsx_task_sets.this.task_sets : t.target_group_arns] }
output "scale" { value = [for t in data.ecsx_task_sets.this.task_sets : t.scale_percent] }
"#,
    );
    s.ws.apply(&[]);
    let state = s.ws.show_json();
    assert_eq!(state_output(&state, "id"), "listing/listing");
    assert_eq!(state_output(&state, "primary"), b.id.as_str());
    // Oldest first.
    assert_eq!(state_output(&state, "ids"), &json!([a.id, b.id]));
    assert_eq!(state_output(&state, "arns"), &json!([a.arn, b.arn]));
    assert_eq!(
        state_output(&state, "statuses"),
        &json!(["ACTIVE", "PRIMARY"])
    );
    assert_eq!(
        state_output(&state, "task_definitions"),
        &json!([s.infra.task_definitions[0], s.infra.task_definitions[1]])
    );
    let tg = &s.infra.blue_target_group_arn;
    assert_eq!(state_output(&state, "target_groups"), &json!([[tg], [tg]]));
    assert_eq!(state_output(&state, "scale"), &json!([100, 100]));

    s.ws.config(
        r#"data "ecsx_task_sets" "this" {
  cluster = "listing"
  service = "nope"
}
"#,
    );
    s.ws.fails(&["plan", "-input=false", "-no-color"])
        .assert_contains(&["Error: ECS service not found", "Service \"nope\""]);
}

#[test]
fn provider_schema_declares_the_primary_task_set_exactly() {
    let ws = Workspace::new("schema");
    ws.config("");
    let schema = ws.providers_schema();
    let provider = &schema["provider_schemas"][common::PROVIDER_SOURCE];
    let block = &provider["resource_schemas"]["ecsx_primary_task_set"]["block"];
    assert!(block.is_object(), "no ecsx_primary_task_set in {schema:#}");

    // name -> (type, required, optional, computed)
    let expected = [
        ("cluster", "string", true, false, false),
        ("service", "string", true, false, false),
        ("task_set", "string", true, false, false),
        ("wait_for_steady_state", "bool", false, true, true),
        ("id", "string", false, false, true),
        ("task_set_arn", "string", false, false, true),
        ("task_set_id", "string", false, false, true),
        ("task_definition", "string", false, false, true),
        ("previous_task_set_id", "string", false, false, true),
    ];
    let attrs = block["attributes"].as_object().expect("attributes");
    let mut names: Vec<&str> = attrs.keys().map(String::as_str).collect();
    names.sort();
    let mut want: Vec<&str> = expected.iter().map(|e| e.0).collect();
    want.sort();
    assert_eq!(names, want);
    let flag = |a: &Json, k: &str| a[k].as_bool().unwrap_or(false);
    for (name, ty, required, optional, computed) in expected {
        let a = &attrs[name];
        assert_eq!(a["type"], ty, "{name}: {a:#}");
        assert_eq!(
            (
                flag(a, "required"),
                flag(a, "optional"),
                flag(a, "computed")
            ),
            (required, optional, computed),
            "{name} (required, optional, computed): {a:#}"
        );
        assert!(!flag(a, "sensitive"), "{name} is not sensitive");
        assert!(
            a["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{name} has a description"
        );
    }

    let blocks = block["block_types"].as_object().expect("block_types");
    assert_eq!(blocks.keys().collect::<Vec<_>>(), ["timeouts"]);
    let timeouts = &blocks["timeouts"];
    assert_eq!(timeouts["nesting_mode"], "list");
    assert_eq!(timeouts["max_items"], 1);
    let t_attrs = timeouts["block"]["attributes"]
        .as_object()
        .expect("timeouts attributes");
    assert_eq!(t_attrs.keys().collect::<Vec<_>>(), ["create", "update"]);
    for (name, a) in t_attrs {
        assert_eq!(a["type"], "string", "timeouts.{name}");
        assert_eq!(
            (
                flag(a, "required"),
                flag(a, "optional"),
                flag(a, "computed")
            ),
            (false, true, false),
            "timeouts.{name}"
        );
    }

    let ds = &provider["data_source_schemas"]["ecsx_task_sets"]["block"]["attributes"];
    let mut ds_names: Vec<&str> = ds
        .as_object()
        .expect("ecsx_task_sets attributes")
        .keys()
        .map(String::as_str)
        .collect();
    ds_names.sort();
    assert_eq!(
        ds_names,
        [
            "cluster",
            "id",
            "primary_task_set_id",
            "service",
            "task_sets"
        ]
    );
}
