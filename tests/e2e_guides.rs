//! The guides' examples, applied: docs/guides/migrate-from-local-exec.md
//! (examples/guides/from-local-exec) and docs/guides/migrate-from-pipecd.md
//! (examples/guides/from-pipecd), each against what the old tool leaves on a service.

mod common;

use common::{crate_root, planned_after, Stack};
use serde_json::{json, Value as Json};

const ADDR: &str = "ecsx_canary_deployment.web";

/// A stack with short STABILIZING and DRAINING periods, so a release takes seconds.
async fn stack(name: &str) -> Stack {
    let s = Stack::new(name).await;
    s.emu
        .configure(json!({"stabilize_seconds": 1, "drain_seconds": 1}));
    s
}

/// Copies a guide's example (every .tf file) into the workspace, replacing main.tf.
fn use_example(s: &Stack, example: &str) {
    let dir = crate_root().join("examples/guides").join(example);
    let _ = std::fs::remove_file(s.ws.dir().join("main.tf"));
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "tf") {
            let name = path.file_name().expect("file name").to_string_lossy();
            s.ws.write(
                &name,
                &std::fs::read_to_string(&path).expect("read example"),
            );
        }
    }
}

fn tfvars(s: &Stack, vars: Json) {
    s.ws.write(
        "terraform.tfvars.json",
        &serde_json::to_string_pretty(&vars).expect("tfvars JSON"),
    );
}

/// The plan's resource change for `address`, or panics listing the addresses it has.
fn change<'a>(plan: &'a Json, address: &str) -> &'a Json {
    plan["resource_changes"]
        .as_array()
        .and_then(|rc| rc.iter().find(|r| r["address"] == address))
        .unwrap_or_else(|| {
            panic!(
                "no change for {address} in the plan: {:?}",
                plan["resource_changes"]
                    .as_array()
                    .map(|rc| rc.iter().map(|r| r["address"].clone()).collect::<Vec<_>>())
            )
        })
}

fn actions(c: &Json) -> Vec<String> {
    c["change"]["actions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn steps(v: &Json) -> Vec<String> {
    v["rollout_steps"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl Stack {
    /// (id, status, task definition, scale %) of each live task set, sorted by id.
    async fn task_sets(&self) -> Vec<(String, String, String, f64)> {
        let mut v: Vec<_> = self
            .aws
            .live_task_sets(&self.infra.cluster, self.infra.service())
            .await
            .iter()
            .map(|t| {
                (
                    t.id().unwrap_or_default().to_string(),
                    t.status().unwrap_or_default().to_string(),
                    t.task_definition().unwrap_or_default().to_string(),
                    t.scale().map(|s| s.value()).unwrap_or_default(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    fn apply_plan_file(&self) {
        self.ws.ok(&[
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
            "tfplan",
        ]);
    }
}

/// What the local-exec script (bench/baseline) leaves mid-release: the stable task set on blue
/// and PRIMARY, a canary on green at 10%, the test listener on green, and its three
/// terraform_data resources in the state. Then the guide's switch: the first plan imports and
/// forgets, moves no weight and rolls no task set; the apply changes nothing in AWS; the
/// release goes on with ecsx.
#[tokio::test]
async fn from_local_exec_the_switch_moves_no_traffic() {
    let s = stack("guidele").await;
    let (blue, green) = (s.blue().to_string(), s.green().to_string());
    let stable = s
        .aws
        .create_task_set_on(&s.infra, &s.td(0), &blue, &[])
        .await;
    s.aws
        .set_primary(&s.infra.cluster, s.infra.service(), &stable.arn)
        .await;
    let canary = s
        .aws
        .create_task_set_on(&s.infra, &s.td(1), &green, &[])
        .await;
    for arn in [&s.infra.rule_arn, &s.infra.listener_arn] {
        s.aws.set_forward(arn, &[(&blue, 90), (&green, 10)]).await;
    }
    s.aws
        .set_forward(&s.infra.test_listener_arn, &[(&blue, 0), (&green, 100)])
        .await;
    let before_splits = s.splits().await;
    assert_eq!(before_splits, [(90, 10), (90, 10), (0, 100)]);

    // The script's state: its three terraform_data resources (their provisioners ran the AWS
    // CLI; here the task sets above stand for what they made).
    s.ws.write(
        "main.tf",
        "resource \"terraform_data\" \"stable\" {\n  input = \"stable\"\n}\n\
         resource \"terraform_data\" \"canary\" {\n  count = 1\n  input = \"canary\"\n}\n\
         resource \"terraform_data\" \"traffic\" {\n  input = \"90/10\"\n}\n",
    );
    s.ws.apply(&[]);

    use_example(&s, "from-local-exec");
    tfvars(
        &s,
        json!({
            "cluster": s.infra.cluster,
            "service": s.infra.service(),
            "subnets": s.infra.subnets,
            "security_groups": [s.infra.security_group],
            "blue_target_group_arn": blue,
            "green_target_group_arn": green,
            "listener_arn": s.infra.listener_arn,
            "rule_arn": s.infra.rule_arn,
            "test_listener_arn": s.infra.test_listener_arn,
            "stable_task_definition": s.td(0),
            "canary_task_definition": s.td(1),
            "canary_traffic_percent": 10,
        }),
    );
    let sets_before = s.task_sets().await;

    let plan = s.ws.plan_json();
    let c = change(&plan, ADDR);
    assert_eq!(
        actions(c),
        ["update"],
        "the switch imports and adopts: {c:#}"
    );
    let adopt = steps(&planned_after(&plan, ADDR));
    assert!(
        !adopt.is_empty() && adopt.iter().all(|s| s.starts_with("tag ")),
        "the only steps tag the adopted task sets: {adopt:?}"
    );
    assert!(
        c["change"]["importing"].is_object(),
        "{ADDR} is imported: {c:#}"
    );
    let after = planned_after(&plan, ADDR);
    assert_eq!(
        (
            after["primary_weight"].clone(),
            after["canary_weight"].clone()
        ),
        (json!(90), json!(10)),
        "{after:#}"
    );
    assert_eq!(after["stable_task_set_id"], stable.id.as_str());
    assert_eq!(after["canary_task_set_id"], canary.id.as_str());
    assert!(
        steps(&after).iter().all(|s| s.starts_with("tag ")),
        "no rollout, only the adoption tags: {after:#}"
    );
    for old in [
        "terraform_data.stable",
        "terraform_data.canary[0]",
        "terraform_data.traffic",
    ] {
        assert_eq!(
            actions(change(&plan, old)),
            ["forget"],
            "{old} is forgotten, not destroyed"
        );
    }
    assert_eq!(s.splits().await, before_splits, "planning moved traffic");
    s.ws.ok(&["show", "-no-color", "tfplan"]).assert_contains(&[
        "ecsx_canary_deployment.web will be updated in-place",
        "(imported from",
        "terraform_data.traffic will no longer be managed by Terraform",
        "Plan: 1 to import, 0 to add, 1 to change, 0 to destroy",
    ]);

    s.apply_plan_file();
    assert_eq!(s.splits().await, before_splits, "the switch moved traffic");
    assert_eq!(
        s.task_sets().await,
        sets_before,
        "the switch touched task sets"
    );
    assert_eq!(
        s.aws
            .primary_arn(&s.infra.cluster, s.infra.service())
            .await
            .as_deref(),
        Some(stable.arn.as_str())
    );
    s.ws.assert_plan_empty();
    let out = s.ws.ok(&["state", "list"]);
    assert_eq!(out.stdout.trim(), ADDR, "only ecsx is left in the state");

    // The release goes on with ecsx: more traffic, then promote the canary.
    let mut vars: Json = serde_json::from_str(
        &std::fs::read_to_string(s.ws.dir().join("terraform.tfvars.json")).expect("tfvars"),
    )
    .expect("tfvars JSON");
    vars["canary_traffic_percent"] = json!(50);
    tfvars(&s, vars.clone());
    s.ws.apply(&[]);
    assert_eq!(s.splits().await, [(50, 50), (50, 50), (0, 100)]);

    vars["stable_task_definition"] = json!(s.td(1));
    vars["canary_task_definition"] = json!("");
    vars["canary_traffic_percent"] = json!(0);
    tfvars(&s, vars);
    s.ws.apply(&[]);
    // promotion = "swap": the canary took over on green, which is the live target group now.
    assert_eq!(s.splits().await, [(0, 100), (0, 100), (0, 100)]);
    let sets = s.task_sets().await;
    assert_eq!(sets.len(), 1, "the script's task sets are gone: {sets:#?}");
    assert_eq!(
        (sets[0].1.as_str(), sets[0].2.as_str()),
        ("PRIMARY", s.td(1).as_str())
    );
    s.ws.assert_plan_empty();
}

/// What a finished PipeCD ECS deployment leaves: one PRIMARY task set on the primary target
/// group, the listener and rule forwarding 100/0 between the two groups. The guide imports it
/// (first plan: no change), then walks the pipeline's stages as commits.
#[tokio::test]
async fn from_pipecd_the_pipeline_stages_as_commits() {
    let s = stack("guidepipe").await;
    let (blue, green) = (s.blue().to_string(), s.green().to_string());
    let primary = s
        .aws
        .create_task_set_on(&s.infra, &s.td(0), &blue, &[])
        .await;
    s.aws
        .set_primary(&s.infra.cluster, s.infra.service(), &primary.arn)
        .await;
    // PipeCD has no test listener: route the rig's one to the primary group only, outside
    // the split.
    s.aws
        .set_forward(&s.infra.test_listener_arn, &[(&blue, 1)])
        .await;
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (1, 0)]);

    use_example(&s, "from-pipecd");
    let mut vars = json!({
        "cluster": s.infra.cluster,
        "service": s.infra.service(),
        "subnets": s.infra.subnets,
        "security_groups": [s.infra.security_group],
        "primary_target_group_arn": blue,
        "canary_target_group_arn": green,
        "listener_arns": [s.infra.listener_arn],
        "listener_rule_arns": [s.infra.rule_arn],
        "primary_task_definition": s.td(0),
    });
    tfvars(&s, vars.clone());

    // Adoption: import, nothing else.
    let plan = s.ws.plan_json();
    let c = change(&plan, ADDR);
    assert_eq!(actions(c), ["update"], "adoption imports and tags: {c:#}");
    let adopt = steps(&planned_after(&plan, ADDR));
    assert!(
        !adopt.is_empty() && adopt.iter().all(|s| s.starts_with("tag ")),
        "the only steps tag the adopted task sets: {adopt:?}"
    );
    assert!(c["change"]["importing"].is_object(), "{c:#}");
    s.ws.ok(&["show", "-no-color", "tfplan"]).assert_contains(&[
        "ecsx_canary_deployment.web will be updated in-place",
        "(imported from",
        "Plan: 1 to import, 0 to add, 1 to change, 0 to destroy.",
    ]);
    s.apply_plan_file();
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (1, 0)]);
    s.ws.assert_plan_empty();

    // ECS_CANARY_ROLLOUT with.scale 30: a canary task set at 30% of the desired count on the
    // canary group, no traffic yet.
    vars["canary_task_definition"] = json!(s.td(1));
    vars["canary_scale"] = json!(30);
    tfvars(&s, vars.clone());
    s.ws.apply(&[]);
    let st = s.state();
    let canary_id = st["canary_task_set_id"]
        .as_str()
        .expect("a canary task set")
        .to_string();
    let sets = s.task_sets().await;
    let canary = sets
        .iter()
        .find(|t| t.0 == canary_id)
        .unwrap_or_else(|| panic!("canary {canary_id} runs: {sets:#?}"));
    assert_eq!((canary.2.as_str(), canary.3), (s.td(1).as_str(), 30.0));
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (1, 0)]);

    // ECS_TRAFFIC_ROUTING with.canary 20.
    vars["canary_traffic"] = json!(20);
    tfvars(&s, vars.clone());
    s.ws.apply(&[]);
    assert_eq!(s.splits().await, [(80, 20), (80, 20), (1, 0)]);

    // ECS_PRIMARY_ROLLOUT, ECS_TRAFFIC_ROUTING with.primary 100 and ECS_CANARY_CLEAN: one commit.
    vars["primary_task_definition"] = json!(s.td(1));
    vars["canary_task_definition"] = json!("");
    tfvars(&s, vars);
    s.ws.apply(&[]);
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (1, 0)]);
    let sets = s.task_sets().await;
    assert_eq!(sets.len(), 1, "only the new primary is left: {sets:#?}");
    assert_eq!(
        (sets[0].1.as_str(), sets[0].2.as_str(), sets[0].3),
        ("PRIMARY", s.td(1).as_str(), 100.0)
    );
    assert_ne!(sets[0].0, primary.id, "a new task set on the primary group");
    s.ws.assert_plan_empty();
}
