//! `ecsx_canary_deployment` behaviours end to end: a whole canary release (create, canary in,
//! traffic, scale, new canary version, promote, rollback, blue/green, template change,
//! destroy, import) through real Terraform against the patched emulator.

mod common;

use common::{
    by_id, planned_actions, planned_after, rollout_steps, target_group, CanaryConfig, Stack,
    TAG_DEPLOYMENT, TAG_ROLE,
};
use serde_json::{json, Value as Json};

const ADDR: &str = common::CANARY_ADDR;

#[tokio::test]
async fn create_puts_the_stable_on_blue_as_primary_with_all_traffic() {
    let s = Stack::short_periods("create").await;
    // infra.py starts the test listener on green: create must route it to blue.
    assert_eq!(s.splits().await[2], (0, 100));
    s.deploy(&CanaryConfig::new(&s.infra));

    let plan = s.ws.plan_json();
    assert_eq!(planned_actions(&plan, ADDR), ["create"]);
    let after = planned_after(&plan, ADDR);
    assert_eq!(after["primary_weight"], 100, "{after:#}");
    assert_eq!(after["canary_weight"], 0);
    assert_eq!(after["id"], "create/create");
    assert_eq!(
        rollout_steps(&after),
        [
            "create stable task set create:1 (scale 100%) on tg create-blue".to_string(),
            "make stable task set create:1 PRIMARY".into(),
            "shift traffic 100/0 on 2 rules".into(),
            "route test traffic 100% to create-blue on 1 test listener".into(),
        ]
    );
    s.ws.ok(&["apply", "-input=false", "-no-color", "tfplan"])
        .assert_contains(&["1 added, 0 changed, 0 destroyed"]);

    let st = s.state();
    let stable_id = st["stable_task_set_id"].as_str().expect("stable id");
    let sets = s.all().await;
    assert_eq!(sets.len(), 1, "{sets:#?}");
    let t = &sets[0];
    assert_eq!(t.id(), Some(stable_id));
    assert_eq!(t.task_set_arn(), st["stable_task_set_arn"].as_str());
    assert_eq!(t.status(), Some("PRIMARY"));
    assert_eq!(t.task_definition(), Some(s.td(0).as_str()));
    assert_eq!(target_group(t), s.blue());
    assert!(
        t.external_id()
            .is_some_and(|x| x.starts_with("ecsx-stable-")),
        "{t:?}"
    );
    let tags = s.tags(stable_id).await;
    assert!(
        tags.contains(&(TAG_DEPLOYMENT.into(), "create/create".into())),
        "{tags:?}"
    );
    assert!(
        tags.contains(&(TAG_ROLE.into(), "stable".into())),
        "{tags:?}"
    );
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);

    assert_eq!(st["primary_weight"], 100);
    assert_eq!(st["canary_weight"], 0);
    assert_eq!(st["canary_task_set_id"], Json::Null);
    assert_eq!(st["canary_task_set_arn"], Json::Null);
    assert_eq!(st["orphaned_task_set_ids"], json!([]));
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn canary_in_then_more_traffic_moves_only_weights() {
    let s = Stack::short_periods("canin").await;
    let cfg = CanaryConfig::new(&s.infra);
    s.deploy(&cfg);
    s.ws.apply(&[]);
    let stable_id = s.state()["stable_task_set_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Canary in at 10%: the plan previews the task set and the weights.
    s.deploy(&cfg.clone().canary(&s.td(1), 10));
    let (code, out) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{out}");
    out.assert_contains(&[
        "~ canary_weight = 0 -> 10",
        "~ primary_weight = 100 -> 90",
        "\"create canary task set canin:2 (scale 100%) on tg canin-green\"",
        "\"shift traffic 90/10 on 2 rules\"",
        "1 to change",
    ]);
    // `plan -json` streams the change; `show -json` of the saved plan carries its values.
    let out = s.ws.ok(&["plan", "-json", "-input=false", "-out=tfplan"]);
    let messages: Vec<Json> = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        messages.iter().any(|m| m["type"] == "planned_change"
            && m["change"]["resource"]["addr"] == ADDR
            && m["change"]["action"] == "update"),
        "{out}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m["type"] == "change_summary" && m["changes"]["change"] == 1),
        "{out}"
    );
    let shown = s.ws.ok(&["show", "-json", "-no-color", "tfplan"]);
    let plan: Json = serde_json::from_str(shown.stdout.trim()).expect("show -json");
    s.ws.ok(&["apply", "-input=false", "-no-color", "tfplan"]);
    assert_eq!(planned_actions(&plan, ADDR), ["update"]);
    let after = planned_after(&plan, ADDR);
    assert_eq!(
        (
            after["primary_weight"].clone(),
            after["canary_weight"].clone()
        ),
        (json!(90), json!(10))
    );
    assert_eq!(
        rollout_steps(&after),
        [
            "create canary task set canin:2 (scale 100%) on tg canin-green".to_string(),
            "shift traffic 90/10 on 2 rules".into(),
            "route test traffic 100% to canin-green on 1 test listener".into(),
        ]
    );
    assert_eq!(
        after["stable_task_set_id"],
        stable_id.as_str(),
        "the stable stays"
    );

    let st = s.state();
    let canary_id = st["canary_task_set_id"]
        .as_str()
        .expect("canary id")
        .to_string();
    let sets = s.all().await;
    assert_eq!(sets.len(), 2, "{sets:#?}");
    let canary = by_id(&sets, &canary_id).expect("canary task set");
    assert_eq!(canary.status(), Some("ACTIVE"));
    assert_eq!(canary.task_definition(), Some(s.td(1).as_str()));
    assert_eq!(target_group(canary), s.green());
    assert_eq!(
        canary.stability_status().map(|x| x.as_str()),
        Some("STEADY_STATE")
    );
    assert!(s
        .tags(&canary_id)
        .await
        .contains(&(TAG_ROLE.into(), "canary".into())));
    assert_eq!(
        by_id(&sets, &stable_id).and_then(|t| t.status()),
        Some("PRIMARY")
    );
    assert_eq!(s.splits().await, [(90, 10), (90, 10), (0, 100)]);
    assert_eq!(
        (st["primary_weight"].clone(), st["canary_weight"].clone()),
        (json!(90), json!(10))
    );
    s.ws.assert_plan_empty();

    // 10 -> 50: only the weights change, no task set is created.
    let before: Vec<String> = s
        .all()
        .await
        .iter()
        .filter_map(|t| t.id().map(String::from))
        .collect();
    s.deploy(&cfg.clone().canary(&s.td(1), 50));
    let plan = s.plan_then_apply();
    assert_eq!(
        rollout_steps(&planned_after(&plan, ADDR)),
        ["shift traffic 50/50 on 2 rules"]
    );
    let mut after: Vec<String> = s
        .all()
        .await
        .iter()
        .filter_map(|t| t.id().map(String::from))
        .collect();
    let mut before = before;
    before.sort();
    after.sort();
    assert_eq!(
        before, after,
        "a traffic change creates or deletes no task set"
    );
    assert_eq!(s.state()["canary_task_set_id"], canary_id.as_str());
    assert_eq!(s.splits().await, [(50, 50), (50, 50), (0, 100)]);
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn canary_scale_updates_and_new_version_replaces_the_old_one_out_of_traffic() {
    let s = Stack::short_periods("cscale").await;
    let (stable_id, canary_id) = s.with_canary(20).await;
    let base = CanaryConfig::new(&s.infra);

    // scale_percent: UpdateTaskSet on the same canary, nothing else.
    s.deploy(&base.clone().canary_scaled(&s.td(1), 20, 50));
    let plan = s.plan_then_apply();
    assert_eq!(
        rollout_steps(&planned_after(&plan, ADDR)),
        ["scale canary task set cscale:2 to 50%"]
    );
    let sets = s.all().await;
    assert_eq!(sets.len(), 2, "no task set created or deleted: {sets:#?}");
    let canary = by_id(&sets, &canary_id).expect("same canary");
    assert_eq!(canary.scale().map(|x| x.value()), Some(50.0));
    assert_eq!(
        canary.stability_status().map(|x| x.as_str()),
        Some("STEADY_STATE")
    );
    assert_eq!(s.state()["canary_task_set_id"], canary_id.as_str());
    assert_eq!(s.splits().await[0], (80, 20));
    s.ws.assert_plan_empty();

    // A new canary version: the old one leaves traffic and goes before its successor comes
    // up on green (one target group never serves two versions), then the weight comes back.
    s.deploy(&base.clone().canary_scaled(&s.td(2), 20, 50));
    let plan = s.plan_then_apply();
    let after = planned_after(&plan, ADDR);
    assert_eq!(
        rollout_steps(&after),
        [
            "shift traffic 100/0 on 2 rules".to_string(),
            "route test traffic 100% to cscale-blue on 1 test listener".into(),
            format!("delete canary task set cscale:2 ({canary_id})"),
            "create canary task set cscale:3 (scale 50%) on tg cscale-green".into(),
            "shift traffic 80/20 on 2 rules".into(),
            "route test traffic 100% to cscale-green on 1 test listener".into(),
        ]
    );
    let st = s.state();
    let new_id = st["canary_task_set_id"]
        .as_str()
        .expect("canary")
        .to_string();
    assert_ne!(new_id, canary_id);
    assert_eq!(st["stable_task_set_id"], stable_id.as_str());
    s.assert_deleted(&canary_id).await;
    let live = s.live().await;
    assert_eq!(live.len(), 2, "{live:#?}");
    let canary = by_id(&live, &new_id).expect("new canary");
    assert_eq!(canary.task_definition(), Some(s.td(2).as_str()));
    assert_eq!(target_group(canary), s.green());
    assert_eq!(canary.scale().map(|x| x.value()), Some(50.0));
    assert_eq!(s.splits().await, [(80, 20), (80, 20), (0, 100)]);
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn promote_swaps_the_canary_in_as_primary_and_green_becomes_live() {
    let s = Stack::short_periods("promote").await;
    let (stable_id, canary_id) = s.with_canary(50).await;

    s.deploy(&CanaryConfig::new(&s.infra).stable(&s.td(1)));
    let plan = s.plan_then_apply();
    let after = planned_after(&plan, ADDR);
    assert_eq!(
        rollout_steps(&after),
        [
            "move all production traffic to tg promote-green on 2 rules".to_string(),
            "make canary task set promote:2 PRIMARY (tg promote-green is live now)".into(),
            format!("delete old stable task set promote:1 ({stable_id})"),
        ]
    );
    assert_eq!(
        (
            after["primary_weight"].clone(),
            after["canary_weight"].clone()
        ),
        (json!(100), json!(0))
    );
    // Known at plan time: the canary becomes the stable task set, green the live target group.
    assert_eq!(after["stable_task_set_id"], canary_id.as_str());
    assert_eq!(after["canary_task_set_id"], Json::Null);
    assert_eq!(after["live_target_group_arn"], s.green());

    let st = s.state();
    assert_eq!(st["stable_task_set_id"], canary_id.as_str());
    assert_eq!(st["live_target_group_arn"], s.green());
    s.assert_deleted(&stable_id).await;
    let live = s.live().await;
    assert_eq!(live.len(), 1, "no third task set: {live:#?}");
    assert_eq!(live[0].id(), Some(canary_id.as_str()));
    assert_eq!(live[0].status(), Some("PRIMARY"));
    assert_eq!(live[0].task_definition(), Some(s.td(1).as_str()));
    assert_eq!(target_group(&live[0]), s.green());
    assert_eq!(s.splits().await, [(0, 100), (0, 100), (0, 100)]);
    s.ws.assert_plan_empty();

    // The next canary comes up on blue, where the old stable was.
    s.deploy(
        &CanaryConfig::new(&s.infra)
            .stable(&s.td(1))
            .canary(&s.td(2), 10),
    );
    let plan = s.plan_then_apply();
    assert_eq!(
        rollout_steps(&planned_after(&plan, ADDR)),
        [
            "create canary task set promote:3 (scale 100%) on tg promote-blue",
            "shift traffic 90/10 on 2 rules",
            "route test traffic 100% to promote-blue on 1 test listener",
        ]
    );
    assert_eq!(s.splits().await, [(10, 90), (10, 90), (100, 0)]);
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn promote_with_replace_returns_the_stable_to_blue() {
    let s = Stack::short_periods("replace").await;
    let replace = "  promotion = \"replace\"";
    s.with_canary_config(50, replace).await;
    let st = s.state();
    let (stable_id, canary_id) = (
        st["stable_task_set_id"].as_str().unwrap().to_string(),
        st["canary_task_set_id"].as_str().unwrap().to_string(),
    );

    s.deploy(&CanaryConfig::new(&s.infra).stable(&s.td(1)).extra(replace));
    let plan = s.plan_then_apply();
    assert_eq!(
        rollout_steps(&planned_after(&plan, ADDR)),
        [
            "move all production traffic to tg replace-green on 2 rules".to_string(),
            "make canary task set replace:2 PRIMARY (tg replace-green is live now)".into(),
            format!("delete old stable task set replace:1 ({stable_id})"),
            "create stable task set replace:2 (scale 100%) on tg replace-blue".into(),
            "move all production traffic to tg replace-blue on 2 rules".into(),
            "route test traffic 100% to replace-blue on 1 test listener".into(),
            "make stable task set replace:2 PRIMARY (tg replace-blue is live now)".into(),
            format!("delete canary task set replace:2 ({canary_id})"),
        ]
    );
    let st = s.state();
    let new_id = st["stable_task_set_id"].as_str().unwrap().to_string();
    assert_ne!(new_id, stable_id);
    assert_ne!(new_id, canary_id);
    assert_eq!(st["live_target_group_arn"], s.blue());
    s.assert_deleted(&stable_id).await;
    s.assert_deleted(&canary_id).await;
    let live = s.live().await;
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0].status(), Some("PRIMARY"));
    assert_eq!(target_group(&live[0]), s.blue());
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
    s.ws.assert_plan_empty();
    // Reported for now; e2e_canary_safety's rule1_traffic_model_sees_each_phase enforces it.
    s.report_traffic("canary 50% then replace promotion");
}

#[tokio::test]
async fn rollback_moves_traffic_back_then_deletes_the_canary() {
    let s = Stack::short_periods("rollback").await;
    let (stable_id, canary_id) = s.with_canary(30).await;
    assert_eq!(s.splits().await, [(70, 30), (70, 30), (0, 100)]);
    s.report_traffic("bootstrap and canary 30%");
    s.reset_traffic();

    s.deploy(&CanaryConfig::new(&s.infra));
    let plan = s.ws.plan_json();
    assert_eq!(
        rollout_steps(&planned_after(&plan, ADDR)),
        [
            "shift traffic 100/0 on 2 rules".to_string(),
            "route test traffic 100% to rollback-blue on 1 test listener".into(),
            format!("delete canary task set rollback:2 ({canary_id})"),
        ]
    );
    // Weights first: no instant with traffic on green and no canary to serve it.
    let (_, samples) = s.apply_sampling().await;
    for x in &samples {
        if !x.live_on(s.green()) {
            assert_eq!(
                x.green,
                [0, 0, 0],
                "traffic on green after the canary went: {x:?}"
            );
        }
    }
    let st = s.state();
    assert_eq!(
        st["stable_task_set_id"],
        stable_id.as_str(),
        "the stable stays"
    );
    assert_eq!(st["canary_task_set_id"], Json::Null);
    s.assert_deleted(&canary_id).await;
    let live = s.live().await;
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0].id(), Some(stable_id.as_str()));
    assert_eq!(live[0].status(), Some("PRIMARY"));
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
    s.ws.assert_plan_empty();
    s.report_traffic("rollback");
}

#[tokio::test]
async fn stable_change_without_canary_is_a_blue_green_onto_the_idle_target_group() {
    let s = Stack::short_periods("bluegreen").await;
    let cfg = CanaryConfig::new(&s.infra);
    s.deploy(&cfg);
    s.ws.apply(&[]);
    let old = s.state()["stable_task_set_id"]
        .as_str()
        .unwrap()
        .to_string();

    s.deploy(&cfg.stable(&s.td(2)));
    let plan = s.plan_then_apply();
    assert_eq!(
        rollout_steps(&planned_after(&plan, ADDR)),
        [
            "create stable task set bluegreen:3 (scale 100%) on tg bluegreen-green".to_string(),
            "route test traffic 100% to bluegreen-green on 1 test listener".into(),
            "move all production traffic to tg bluegreen-green on 2 rules".into(),
            "make stable task set bluegreen:3 PRIMARY (tg bluegreen-green is live now)".into(),
            format!("delete old stable task set bluegreen:1 ({old})"),
        ]
    );
    let new = s.state()["stable_task_set_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new, old);
    s.assert_deleted(&old).await;
    let live = s.live().await;
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0].id(), Some(new.as_str()));
    assert_eq!(live[0].status(), Some("PRIMARY"));
    assert_eq!(live[0].task_definition(), Some(s.td(2).as_str()));
    assert_eq!(target_group(&live[0]), s.green());
    assert_eq!(s.splits().await, [(0, 100), (0, 100), (0, 100)]);
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn template_change_rolls_new_task_sets_and_keeps_the_split() {
    let s = Stack::short_periods("template").await;
    let (stable_id, canary_id) = s.with_canary(20).await;

    // Task sets are immutable apart from scale and tags: other security groups (here with a
    // new tag as well) mean new task sets, the new tag included.
    let mut changed = CanaryConfig::new(&s.infra)
        .canary(&s.td(1), 20)
        .tag("team", "payments");
    changed.security_groups = vec![];
    s.deploy(&changed);
    let plan = s.plan_then_apply();
    let after = planned_after(&plan, ADDR);
    assert_eq!(
        rollout_steps(&after),
        [
            "shift traffic 100/0 on 2 rules".to_string(),
            "route test traffic 100% to template-blue on 1 test listener".into(),
            format!("delete canary task set template:2 ({canary_id})"),
            "create stable task set template:1 (scale 100%) on tg template-green".into(),
            "route test traffic 100% to template-green on 1 test listener".into(),
            "move all production traffic to tg template-green on 2 rules".into(),
            "make stable task set template:1 PRIMARY (tg template-green is live now)".into(),
            format!("delete old stable task set template:1 ({stable_id})"),
            "create canary task set template:2 (scale 100%) on tg template-blue".into(),
            "shift traffic 80/20 on 2 rules".into(),
            "route test traffic 100% to template-blue on 1 test listener".into(),
        ]
    );
    let st = s.state();
    let (new_stable, new_canary) = (
        st["stable_task_set_id"].as_str().unwrap().to_string(),
        st["canary_task_set_id"].as_str().unwrap().to_string(),
    );
    assert_ne!(new_stable, stable_id);
    assert_ne!(new_canary, canary_id);
    s.assert_deleted(&stable_id).await;
    s.assert_deleted(&canary_id).await;
    for id in [&new_stable, &new_canary] {
        let tags = s.tags(id).await;
        assert!(
            tags.contains(&("team".into(), "payments".into())),
            "{id}: {tags:?}"
        );
    }
    let live = s.live().await;
    assert_eq!(live.len(), 2, "{live:#?}");
    assert_eq!(
        by_id(&live, &new_stable).and_then(|t| t.status()),
        Some("PRIMARY")
    );
    assert_eq!(by_id(&live, &new_canary).map(target_group), Some(s.blue()));
    assert_eq!(s.splits().await, [(20, 80), (20, 80), (100, 0)]);
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn destroy_moves_traffic_back_and_leaves_no_task_set() {
    let s = Stack::short_periods("destroy").await;
    let _ = s.with_canary(40).await;
    assert_eq!(s.splits().await, [(60, 40), (60, 40), (0, 100)]);
    // An owned task set the state lost (a crash after CreateTaskSet) goes too.
    let orphan = s
        .aws
        .create_task_set_on(
            &s.infra,
            &s.td(2),
            s.green(),
            &[(TAG_DEPLOYMENT, "destroy/destroy"), (TAG_ROLE, "canary")],
        )
        .await;
    assert_eq!(s.all().await.len(), 3);

    s.ws.destroy().assert_contains(&["1 destroyed"]);
    assert!(by_id(&s.all().await, &orphan.id).is_none());
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
    let left = s.all().await;
    assert!(
        left.is_empty(),
        "destroy waits until every task set drained: {left:#?}"
    );
    // The service can be deleted now, as aws_ecs_service would.
    s.aws
        .delete_service(&s.infra.cluster, s.infra.service())
        .await;
}

#[tokio::test]
async fn destroy_with_keep_primary_keeps_the_stable() {
    let s = Stack::short_periods("keep").await;
    let cfg = CanaryConfig::new(&s.infra).extra("  keep_primary_on_destroy = true");
    s.deploy(&cfg);
    s.ws.apply(&[]);
    s.deploy(&cfg.clone().canary(&s.td(1), 40));
    s.ws.apply(&[]);
    s.ws.assert_plan_empty();
    let st = s.state();
    let stable_id = st["stable_task_set_id"].as_str().unwrap().to_string();

    s.ws.destroy()
        .assert_contains(&["Stable task set kept", &stable_id, "1 destroyed"]);
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
    let left = s.all().await;
    assert_eq!(left.len(), 1, "only the stable is left: {left:#?}");
    assert_eq!(left[0].id(), Some(stable_id.as_str()));
    assert_eq!(left[0].status(), Some("PRIMARY"));
}

#[tokio::test]
async fn import_adopts_the_stable_and_the_canary() {
    let s = Stack::short_periods("import").await;
    let (stable_id, canary_id) = s.with_canary(25).await;
    s.ws.ok(&["state", "rm", ADDR]);

    s.ws.import(ADDR, "import/import")
        .assert_contains(&["Import successful!"]);
    let st = s.state();
    assert_eq!(st["id"], "import/import");
    assert_eq!(st["stable_task_set_id"], stable_id.as_str());
    assert_eq!(st["canary_task_set_id"], canary_id.as_str());
    assert_eq!(st["stable"][0]["task_definition"], s.td(0).as_str());
    assert_eq!(st["canary"][0]["task_definition"], s.td(1).as_str());
    assert_eq!(st["canary"][0]["traffic_percent"], 25);
    assert_eq!(st["traffic"][0]["primary_target_group_arn"], s.blue());
    assert_eq!(st["traffic"][0]["canary_target_group_arn"], s.green());
    assert_eq!(
        st["traffic"][0]["listener_rule_arns"],
        json!([s.infra.rule_arn])
    );
    assert_eq!(
        st["traffic"][0]["listener_arns"],
        json!([s.infra.listener_arn])
    );
    // Sending everything to the canary while the others split: the test listener.
    assert_eq!(
        st["traffic"][0]["test_listener_arns"],
        json!([s.infra.test_listener_arn])
    );
    assert_eq!(
        (st["primary_weight"].clone(), st["canary_weight"].clone()),
        (json!(75), json!(25))
    );

    // The task set template read back from ECS spells out what ECS filled in (the platform
    // version LATEST resolved to), which import lists in `ecs_filled_in` and the configuration
    // leaves unset: adopting the configuration rolls nothing.
    let before: Vec<String> = s
        .all()
        .await
        .iter()
        .filter_map(|t| t.id().map(String::from))
        .collect();
    let (code, out) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{out}");
    out.assert_contains(&[
        "- platform_version = \"1.4.0\" -> null",
        "0 to add, 1 to change",
    ])
    .assert_not_contains(&["rollout_steps", "known after apply", "ecsx:"]);
    let plan = s.ws.plan_json();
    let after = planned_after(&plan, ADDR);
    assert_eq!(after["stable_task_set_id"], stable_id.as_str(), "{after:#}");
    assert_eq!(after["canary_task_set_id"], canary_id.as_str());
    for step in rollout_steps(&after) {
        assert!(
            !step.contains("task set"),
            "import must not roll task sets: {step}"
        );
    }
    s.ws.apply(&[]);
    let now: Vec<String> = s
        .all()
        .await
        .iter()
        .filter_map(|t| t.id().map(String::from))
        .collect();
    assert_eq!(before, now);
    assert_eq!(s.splits().await, [(75, 25), (75, 25), (0, 100)]);
    s.ws.assert_plan_empty();

    // And the imported deployment goes on like any other: promote (the canary takes over).
    s.deploy(&CanaryConfig::new(&s.infra).stable(&s.td(1)));
    s.ws.apply(&[]);
    s.assert_deleted(&stable_id).await;
    let live = s.live().await;
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].id(), Some(canary_id.as_str()));
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn import_refuses_a_service_with_two_extra_task_sets() {
    let s = Stack::short_periods("importx").await;
    let (stable_id, canary_id) = s.with_canary(10).await;
    s.ws.ok(&["state", "rm", ADDR]);
    let extra = s
        .aws
        .create_task_set_on(&s.infra, &s.td(2), s.green(), &[])
        .await;

    let out = s.ws.fails(&[
        "import",
        "-input=false",
        "-no-color",
        ADDR,
        "importx/importx",
    ]);
    out.assert_contains(&[
        "Too many task sets to import",
        &canary_id,
        &extra.id,
        &format!("besides the PRIMARY {stable_id}"),
    ]);
    assert!(common::state_values(&s.ws.show_json(), ADDR).is_none());
    assert_eq!(s.live().await.len(), 3, "a failed import touches nothing");
    s.ws.fails(&["import", "-input=false", "-no-color", ADDR, "importx"])
        .assert_contains(&["Invalid import id", "Expected CLUSTER/SERVICE"]);
}

/// A state written by schema version 0 (fixed target group roles, no `promotion` or
/// `live_target_group_arn`) upgrades to nothing to do, then releases like any other.
#[tokio::test]
async fn a_version_0_state_plans_nothing_and_then_promotes() {
    let s = Stack::short_periods("stv0").await;
    let (stable_id, canary_id) = s.with_canary(10).await;
    let path = s.ws.dir().join("terraform.tfstate");
    let mut state: Json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for r in state["resources"].as_array_mut().unwrap() {
        if r["type"] == "ecsx_canary_deployment" {
            let inst = &mut r["instances"][0];
            inst["schema_version"] = json!(0);
            let attrs = inst["attributes"].as_object_mut().unwrap();
            attrs.remove("promotion");
            attrs.remove("live_target_group_arn");
        }
    }
    std::fs::write(&path, serde_json::to_string_pretty(&state).unwrap()).unwrap();

    s.ws.assert_plan_empty();
    s.ws.ok(&["apply", "-refresh-only", "-auto-approve", "-input=false"]);
    let st = s.state();
    assert_eq!(st["live_target_group_arn"], s.blue());
    assert_eq!(st["promotion"], "swap");
    s.deploy(&CanaryConfig::new(&s.infra).stable(&s.td(1)));
    s.ws.apply(&[]);
    s.assert_deleted(&stable_id).await;
    assert_eq!(s.state()["stable_task_set_id"], canary_id.as_str());
    assert_eq!(s.splits().await, [(0, 100), (0, 100), (0, 100)]);
    s.ws.assert_plan_empty();
}
