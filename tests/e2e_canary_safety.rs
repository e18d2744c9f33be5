//! `ecsx_canary_deployment` safety rules 1-8 end to end, through real Terraform against the
//! patched emulator: steady before traffic, clean failures and Ctrl-C, ownership, the
//! five-task-set limit, forward-only rewrites, drift, input validation, batched refresh.

mod common;

use aws_sdk_ecs::types::TaskSet;
use common::{
    by_id, error_diagnostics, forward_action, planned_after, rollout_steps, target_group,
    CanaryConfig, Sample, Stack, Workspace, TAG_DEPLOYMENT, TAG_ROLE,
};
use serde_json::{json, Value as Json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const ADDR: &str = common::CANARY_ADDR;

/// Safety rule 1: no traffic reaches a task set before it reports STEADY_STATE.
#[tokio::test]
async fn rule1_traffic_never_moves_before_the_canary_is_steady() {
    let s = Stack::short_periods("steady").await;
    // Set before anything exists: the emulator judges every task set by the current window.
    s.emu.configure(json!({"stabilize_seconds": 3}));
    let cfg = CanaryConfig::new(&s.infra);
    s.deploy(&cfg);
    s.ws.apply(&[]);

    s.deploy(&cfg.clone().canary(&s.td(1), 50));
    let (_, samples) = s.apply_sampling().await;
    let stabilizing: Vec<&Sample> = samples
        .iter()
        .filter(|x| x.any_on(s.green(), "STABILIZING"))
        .collect();
    for x in &stabilizing {
        assert_eq!(
            x.green,
            [0, 0, 0],
            "traffic moved to a STABILIZING canary: {x:?}"
        );
    }
    assert!(
        stabilizing.len() >= 3,
        "the sampler must see the canary STABILIZING to prove anything: {samples:#?}"
    );
    assert_eq!(s.splits().await, [(50, 50), (50, 50), (0, 100)]);
    s.ws.assert_plan_empty();
    // Reported, not enforced, until promotion stops using the live target group.
    s.report_traffic("canary 50%");
    s.reset_traffic();

    // Promote (swap): the canary takes over where it runs; nothing new comes up and nothing
    // is PRIMARY before it is steady.
    s.deploy(&cfg.stable(&s.td(1)));
    let (_, samples) = s.apply_sampling().await;
    for x in &samples {
        for (id, _, status, st) in &x.sets {
            assert!(
                !(status == "PRIMARY" && st == "STABILIZING"),
                "{id} became PRIMARY before it was steady: {x:?}"
            );
        }
        assert!(
            !x.any_on(s.blue(), "STABILIZING") && !x.any_on(s.green(), "STABILIZING"),
            "promotion by swap starts no task set: {x:?}"
        );
    }
    assert_eq!(s.splits().await, [(0, 100), (0, 100), (0, 100)]);
    s.ws.assert_plan_empty();

    // replace: the new stable comes up on blue while nothing routes there.
    let replace = cfg_replace(&s, &s.td(2));
    s.deploy(&replace);
    let (_, samples) = s.apply_sampling().await;
    let watched = samples
        .iter()
        .filter(|x| x.any_on(s.blue(), "STABILIZING"))
        .count();
    assert!(
        watched >= 3,
        "the new stable was seen STABILIZING: {samples:#?}"
    );
    for x in &samples {
        if x.any_on(s.blue(), "STABILIZING") {
            assert_eq!(
                (x.green[0], x.green[1]),
                (100, 100),
                "blue took traffic while its new task set was STABILIZING: {x:?}"
            );
        }
    }
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
    s.ws.assert_plan_empty();
    s.report_traffic("promote");
}

/// Safety rule 1 as the rig's traffic model sees it (tests/rig/emulator.py, `TrafficModel`):
/// through a whole release cycle, in both promotion modes, no task set takes a share of any
/// listener or rule before it is steady (or more than it had before a scale-up), and no
/// weighted target group ever serves two task definitions.
async fn walk_a_release_cycle(name: &str, promotion: &str) {
    let s = Stack::short_periods(name).await;
    let cfg = CanaryConfig::new(&s.infra).extra(&format!("  promotion = {promotion:?}"));
    let phases = [
        ("bootstrap", cfg.clone()),
        (
            "canary 10% at half scale",
            cfg.clone().canary_scaled(&s.td(1), 10, 50),
        ),
        ("more traffic, full scale", cfg.clone().canary(&s.td(1), 50)),
        ("a new canary version", cfg.clone().canary(&s.td(2), 20)),
        ("rollback", cfg.clone()),
        ("canary again", cfg.clone().canary(&s.td(2), 30)),
        ("promote", cfg.clone().stable(&s.td(2))),
        (
            "next canary",
            cfg.clone().stable(&s.td(2)).canary(&s.td(1), 10),
        ),
        ("promote again", cfg.clone().stable(&s.td(1))),
        ("blue/green without a canary", cfg.clone().stable(&s.td(0))),
        (
            "template change with a canary",
            cfg.clone().canary(&s.td(2), 10).tag("team", "web"),
        ),
    ];
    for (phase, next) in &phases {
        s.reset_traffic();
        s.deploy(next);
        s.ws.apply(&[]);
        let traffic = s.report_traffic(phase);
        assert!(traffic.samples > 0, "{phase}: the model sampled nothing");
        assert!(
            traffic.violations.is_empty() && traffic.mixed.is_empty(),
            "{promotion}, {phase}: {}",
            traffic.report()
        );
        s.ws.assert_plan_empty();
    }
    let live = s.live().await;
    assert_eq!(live.len(), 2, "stable and canary only: {live:#?}");
}

#[tokio::test]
async fn rule1_traffic_model_swap_cycle() {
    walk_a_release_cycle("mswap", "swap").await;
}

#[tokio::test]
async fn rule1_traffic_model_replace_cycle() {
    walk_a_release_cycle("mrepl", "replace").await;
}

/// Control for the traffic model: with `wait_for_steady_state = false` the provider routes to
/// a canary still STABILIZING, and the model must report it. Without this, the zero counts
/// above could come from a blind model.
#[tokio::test]
async fn rule1_traffic_model_sees_traffic_to_an_unproven_canary() {
    let s = Stack::short_periods("mblind").await;
    s.emu.configure(json!({"stabilize_seconds": 3}));
    let cfg = CanaryConfig::new(&s.infra).extra("  wait_for_steady_state = false");
    s.deploy(&cfg);
    s.ws.apply(&[]);
    // Until the stable task set is steady, no router has had a proven server (bootstrap).
    tokio::time::sleep(Duration::from_secs(4)).await;
    s.reset_traffic();
    s.deploy(&cfg.canary(&s.td(1), 10));
    s.ws.apply(&[]);
    let traffic = s.report_traffic("canary without waiting");
    assert!(
        traffic
            .violations
            .iter()
            .any(|v| v.task_definition == s.td(1) && v.cap == 0.0),
        "the model missed traffic to a STABILIZING canary: {}",
        traffic.report()
    );
}

/// A stable change to `td` with `promotion = "replace"` and no canary (a bridge serves).
fn cfg_replace(s: &Stack, td: &str) -> CanaryConfig {
    CanaryConfig::new(&s.infra)
        .stable(td)
        .extra("  promotion = \"replace\"")
}

/// Safety rule 2: a canary that never stabilises fails the apply, is removed, traffic stays,
/// the state says so, and the next apply converges.
#[tokio::test]
async fn rule2_canary_that_never_stabilises_is_removed_and_traffic_stays() {
    let s = Stack::short_periods("nostable").await;
    let timeouts = "  timeouts {\n    update = \"5s\"\n  }";
    let cfg = CanaryConfig::new(&s.infra).extra(timeouts);
    s.deploy(&cfg);
    s.ws.apply(&[]);
    let stable_id = s.id_of("stable").expect("stable");
    s.emu
        .configure(json!({"never_stable_task_definitions": [s.td(1)]}));

    let cfg = cfg.canary(&s.td(1), 10);
    s.deploy(&cfg);
    s.ws.apply_fails(&[]).assert_contains(&[
        "Error: Canary task set did not reach a steady state; it was removed and no traffic moved to it",
        "timed out after 5s waiting for task set",
        "to reach STEADY_STATE",
    ]);
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
    let failed: Vec<TaskSet> = s
        .all()
        .await
        .into_iter()
        .filter(|t| target_group(t) == s.green())
        .collect();
    for t in &failed {
        assert_eq!(
            t.status(),
            Some("DRAINING"),
            "the failed canary is removed: {t:?}"
        );
    }
    let live = s.live().await;
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0].id(), Some(stable_id.as_str()));
    assert_eq!(live[0].status(), Some("PRIMARY"));

    // The state is the truth: the stable, no canary, 100/0.
    let st = s.state();
    assert_eq!(st["stable_task_set_id"], stable_id.as_str());
    assert_eq!(st["canary_task_set_id"], Json::Null);
    assert_eq!(st["canary"], json!([]));
    assert_eq!(
        (st["primary_weight"].clone(), st["canary_weight"].clone()),
        (json!(100), json!(0))
    );
    let (code, out) = s.ws.plan_detailed();
    assert_eq!(code, 2, "the next plan picks up from there:\n{out}");
    out.assert_contains(&["+ canary {", "~ canary_weight = 0 -> 10"]);
    let after = planned_after(&s.ws.plan_json(), ADDR);
    assert_eq!(
        rollout_steps(&after)[0],
        "create canary task set nostable:2 (scale 100%) on tg nostable-green"
    );

    // Once the canary can stabilise, the next apply converges.
    s.emu
        .configure(json!({"never_stable_task_definitions": []}));
    s.ws.apply(&[]);
    assert_eq!(s.splits().await, [(90, 10), (90, 10), (0, 100)]);
    assert_eq!(s.id_of("stable").as_deref(), Some(stable_id.as_str()));
    assert!(s.id_of("canary").is_some());
    s.ws.assert_plan_empty();
}

/// Safety rule 2, Ctrl-C: SIGINT to Terraform mid-wait makes it call StopProvider; the
/// replacement canary is removed. The old canary left traffic before its successor came up
/// (one target group never serves two versions), so all traffic is on the stable task set.
#[tokio::test]
async fn rule2_ctrl_c_mid_wait_leaves_traffic_on_the_stable_task_set() {
    let s = Stack::short_periods("ctrlc").await;
    let cfg = s.with_canary_config(20, "").await;
    let old_canary = s.id_of("canary").expect("canary");
    let stable_id = s.id_of("stable").expect("stable");
    s.emu
        .configure(json!({"never_stable_task_definitions": [s.td(2)]}));

    s.deploy(&cfg.clone().canary(&s.td(2), 20));
    let mut run =
        s.ws.spawn(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    // Wait until the new canary exists and is being waited on, then press Ctrl-C.
    let deadline = Instant::now() + Duration::from_secs(45);
    let new_canary = loop {
        assert!(run.is_running(), "apply ended before the interrupt");
        assert!(Instant::now() < deadline, "the new canary never appeared");
        let sets = s.all().await;
        if let Some(t) = sets
            .iter()
            .find(|t| t.task_definition() == Some(s.td(2).as_str()))
        {
            break t.id().unwrap_or_default().to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    run.interrupt();
    let out = run.wait();
    assert!(!out.success(), "an interrupted apply fails:\n{out}");
    out.assert_contains(&[
        "Interrupt received",
        "Canary task set did not reach a steady state; it was removed and no traffic moved to it",
        "stopped by Terraform while waiting for task set",
    ]);

    s.assert_deleted(&new_canary).await;
    s.assert_deleted(&old_canary).await;
    let live = s.live().await;
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(
        by_id(&live, &stable_id).and_then(|t| t.status()),
        Some("PRIMARY")
    );
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
    let st = s.state();
    assert_eq!(st["canary_task_set_id"], Json::Null);

    s.emu
        .configure(json!({"never_stable_task_definitions": []}));
    s.ws.apply(&[]);
    let new = s.id_of("canary").expect("canary");
    assert_ne!(new, old_canary);
    assert_eq!(s.splits().await, [(80, 20), (80, 20), (0, 100)]);
    s.ws.assert_plan_empty();
}

/// Safety rule 3: task sets ecsx does not own are never touched, by apply or destroy.
#[tokio::test]
async fn rule3_foreign_task_sets_are_never_touched() {
    let s = Stack::short_periods("foreign").await;
    let cfg = CanaryConfig::new(&s.infra);
    s.deploy(&cfg);
    s.ws.apply(&[]);
    let foreign = s.foreign(2).await;
    s.ws.assert_plan_empty();

    let check = |sets: Vec<TaskSet>| {
        let t = by_id(&sets, &foreign.id)
            .unwrap_or_else(|| panic!("foreign task set {} gone: {sets:#?}", foreign.id))
            .clone();
        assert_eq!(t.status(), Some("ACTIVE"), "{t:?}");
        assert_eq!(t.scale().map(|x| x.value()), Some(100.0));
    };
    s.deploy(&cfg.clone().canary(&s.td(1), 10));
    s.ws.apply(&[]);
    check(s.all().await);
    s.ws.assert_plan_empty();
    s.deploy(&cfg.clone().stable(&s.td(1)));
    s.ws.apply(&[]);
    check(s.all().await);
    s.ws.assert_plan_empty();
    s.ws.destroy();
    let left = s.all().await;
    assert_eq!(
        left.len(),
        1,
        "only the foreign task set is left: {left:#?}"
    );
    check(left);
}

/// Safety rule 3: an owned task set missing from the state shows at plan and is deleted.
#[tokio::test]
async fn rule3_owned_orphan_shows_at_plan_and_is_deleted() {
    let s = Stack::short_periods("orphan").await;
    let cfg = CanaryConfig::new(&s.infra);
    s.deploy(&cfg);
    s.ws.apply(&[]);
    let id = s.deployment_id();
    // What a crash right after CreateTaskSet leaves: tagged as ours, unknown to the state.
    let orphan = s
        .aws
        .create_task_set_on(
            &s.infra,
            &s.td(1),
            s.green(),
            &[(TAG_DEPLOYMENT, id.as_str()), (TAG_ROLE, "canary")],
        )
        .await;
    let foreign = s.foreign(2).await;

    let (code, out) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{out}");
    out.assert_contains(&[&format!("delete orphaned task set {}", orphan.id)])
        .assert_not_contains(&[&foreign.id]);
    let plan = s.ws.plan_json();
    let before = plan["prior_state"]["values"]["root_module"]["resources"][0]["values"].clone();
    assert_eq!(
        before["orphaned_task_set_ids"],
        json!([orphan.id]),
        "{plan:#}"
    );
    let after = planned_after(&plan, ADDR);
    assert_eq!(after["orphaned_task_set_ids"], json!([]));
    assert_eq!(
        rollout_steps(&after),
        [format!("delete orphaned task set {}", orphan.id)]
    );

    s.ws.ok(&["apply", "-input=false", "-no-color", "tfplan"]);
    s.assert_deleted(&orphan.id).await;
    assert_eq!(
        by_id(&s.all().await, &foreign.id).and_then(|t| t.status()),
        Some("ACTIVE")
    );
    assert_eq!(s.state()["orphaned_task_set_ids"], json!([]));
    s.ws.assert_plan_empty();
}

/// Safety rule 4: a plan that would put a sixth task set on the service fails at plan time,
/// naming the task sets in the way.
#[tokio::test]
async fn rule4_no_traffic_to_a_task_set_that_runs_no_tasks() {
    let s = Stack::short_periods("empty").await;
    let cfg = CanaryConfig::new(&s.infra);
    s.deploy(&cfg);
    s.ws.apply(&[]);
    // Scaled to zero out of band: every task set is steady with no tasks behind it.
    s.aws
        .ecs
        .update_service()
        .cluster(&s.infra.cluster)
        .service(s.infra.service())
        .desired_count(0)
        .send()
        .await
        .expect("UpdateService");
    s.deploy(&cfg.clone().canary(&s.td(1), 10));
    s.ws.fails(&["plan", "-input=false", "-no-color"])
        .assert_contains(&[
            "Error: Traffic to a canary with no tasks",
            "has desiredCount 0",
            "traffic_percent = 10",
        ]);
    // A canary that takes no production traffic yet is fine.
    s.deploy(&cfg.clone().canary(&s.td(1), 0));
    let (code, out) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{out}");
}

#[tokio::test]
async fn rule4_plan_that_exceeds_five_task_sets_fails_naming_them() {
    let s = Stack::short_periods("limit").await;
    let cfg = CanaryConfig::new(&s.infra);
    s.deploy(&cfg);
    s.ws.apply(&[]);
    let stable_id = s.id_of("stable").expect("stable");
    let mut foreign = Vec::new();
    for rev in [0, 1, 2, 2] {
        foreign.push(s.foreign(rev).await);
    }

    s.deploy(&cfg.clone().canary(&s.td(1), 10));
    let out = s.ws.fails(&["plan", "-input=false", "-no-color"]);
    let mut names: Vec<&str> = foreign.iter().map(|t| t.id.as_str()).collect();
    names.push(&stable_id);
    out.assert_contains(&[
        "Error: Too many task sets on the service",
        "already has 5",
        "at most 5 task sets",
    ])
    .assert_contains(&names);
    s.ws.apply_fails(&[])
        .assert_contains(&["Too many task sets on the service"]);
    assert_eq!(s.all().await.len(), 5, "nothing was created");

    // With room again, the same change applies.
    s.aws
        .delete_task_set(&s.infra.cluster, s.infra.service(), &foreign[0].arn)
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    s.ws.apply(&[]);
    assert_eq!(s.splits().await, [(90, 10), (90, 10), (0, 100)]);
    assert_eq!(s.live().await.len(), 5);
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn rule4_the_limit_error_says_when_each_draining_task_set_will_be_gone() {
    use aws_sdk_elasticloadbalancingv2::types::TargetGroupAttribute;
    let s = Stack::short_periods("drainlimit").await;
    // Green drains for 30 s (scaled by the emulator: 100 s x 30/300 = 10 s here).
    s.emu.configure(json!({"drain_seconds": 100}));
    s.aws
        .elbv2
        .modify_target_group_attributes()
        .target_group_arn(s.green())
        .attributes(
            TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value("30")
                .build(),
        )
        .send()
        .await
        .expect("ModifyTargetGroupAttributes");
    let cfg = CanaryConfig::new(&s.infra);
    s.deploy(&cfg);
    s.ws.apply(&[]);
    let mut foreign = Vec::new();
    for rev in [0, 1, 2, 2] {
        foreign.push(s.foreign(rev).await);
    }
    s.aws
        .delete_task_set(&s.infra.cluster, s.infra.service(), &foreign[0].arn)
        .await;

    s.deploy(&cfg.clone().canary(&s.td(1), 10));
    let out = s.ws.fails(&["plan", "-input=false", "-no-color"]);
    out.assert_contains(&[
        "Error: Too many task sets on the service",
        &format!("{} (DRAINING,", foreign[0].id),
        "draining since",
        "gone around",
        "1 of them are DRAINING",
        "the time given with each",
    ])
    .assert_not_contains(&["300 s unless"]);
}

/// Safety rule 5: only the forward action's target groups and weights are rewritten; the
/// rule's conditions, priority and stickiness stay.
#[tokio::test]
async fn rule5_shifts_keep_conditions_priority_and_stickiness() {
    use aws_sdk_elasticloadbalancingv2::types::{
        HostHeaderConditionConfig, PathPatternConditionConfig, RuleCondition,
    };
    let s = Stack::short_periods("sticky").await;
    let sticky = s
        .aws
        .elbv2
        .create_rule()
        .listener_arn(&s.infra.listener_arn)
        .priority(20)
        .conditions(
            RuleCondition::builder()
                .field("path-pattern")
                .path_pattern_config(
                    PathPatternConditionConfig::builder()
                        .values("/cart/*")
                        .build(),
                )
                .build(),
        )
        .conditions(
            RuleCondition::builder()
                .field("host-header")
                .host_header_config(
                    HostHeaderConditionConfig::builder()
                        .values("shop.example.com")
                        .build(),
                )
                .build(),
        )
        .actions(forward_action(
            &[(s.blue(), 100), (s.green(), 0)],
            Some(3600),
        ))
        .send()
        .await
        .expect("CreateRule")
        .rules()[0]
        .rule_arn()
        .unwrap_or_default()
        .to_string();
    let before = s.aws.rule(&sticky).await;

    let mut cfg = CanaryConfig::new(&s.infra);
    cfg.rules.push(sticky.clone());
    s.deploy(&cfg);
    s.ws.apply(&[]);
    let check = |rule: aws_sdk_elasticloadbalancingv2::types::Rule, want: (i32, i32)| {
        assert_eq!(rule.conditions(), before.conditions(), "conditions kept");
        assert_eq!(rule.priority(), Some("20"));
        let fwd = rule.actions()[0].forward_config().expect("forward config");
        let sticky = fwd
            .target_group_stickiness_config()
            .expect("stickiness kept");
        assert_eq!(
            (sticky.enabled(), sticky.duration_seconds()),
            (Some(true), Some(3600))
        );
        let weights: Vec<i32> = fwd
            .target_groups()
            .iter()
            .filter_map(|t| t.weight())
            .collect();
        assert_eq!(weights, [want.0, want.1]);
    };
    s.deploy(&cfg.clone().canary(&s.td(1), 30));
    s.ws.apply(&[]);
    check(s.aws.rule(&sticky).await, (70, 30));
    s.ws.assert_plan_empty();
    s.deploy(&cfg);
    s.ws.apply(&[]);
    check(s.aws.rule(&sticky).await, (100, 0));
    s.ws.assert_plan_empty();
}

/// Safety rule 5: a managed rule that forwards to a third target group is an error naming
/// it, at create and when it appears later; the rule is left as it is.
#[tokio::test]
async fn rule5_rule_forwarding_to_a_third_target_group_is_refused() {
    let s = Stack::short_periods("thirdtg").await;
    let third = s.aws.create_target_group(&s.infra, "thirdtg-third").await;
    let odd = s
        .aws
        .create_rule(
            &s.infra.listener_arn,
            30,
            "/legacy/*",
            forward_action(&[(s.blue(), 100), (&third, 0)], None),
        )
        .await;
    let mut cfg = CanaryConfig::new(&s.infra);
    cfg.rules.push(odd.clone());
    s.deploy(&cfg);
    s.ws.apply_fails(&[]).assert_contains(&[
        "Error: Managed listener or rule forwards to another target group",
        &odd,
        &third,
    ]);
    assert!(s.all().await.is_empty(), "nothing was created");
    assert_eq!(
        s.aws.forward_weights(&odd).await,
        [(s.blue().to_string(), 100), (third.clone(), 0)]
    );

    // Later, someone points a managed rule at the third target group: drift, then refused.
    cfg.rules.pop();
    s.deploy(&cfg);
    s.ws.apply(&[]);
    s.ws.assert_plan_empty();
    s.aws
        .set_forward(&s.infra.rule_arn, &[(s.blue(), 100), (&third, 0)])
        .await;
    // The next plan cannot stay quiet: it refuses at once, or shows the drift for apply to refuse.
    let out =
        s.ws.run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    match out.code {
        1 => {
            out.assert_contains(&[
                "forwards to another target group",
                &s.infra.rule_arn,
                &third,
            ]);
        }
        2 => {
            out.assert_contains(&["forwards to a target group outside this deployment"]);
        }
        _ => panic!("the plan must not be empty:\n{out}"),
    }
    s.ws.apply_fails(&[]).assert_contains(&[
        "forwards to another target group",
        &s.infra.rule_arn,
        &third,
    ]);
    assert_eq!(
        s.aws.forward_weights(&s.infra.rule_arn).await,
        [(s.blue().to_string(), 100), (third.clone(), 0)],
        "the rule is left as it is"
    );
}

/// Safety rule 6: weights changed by hand show in the next plan and apply puts them back.
#[tokio::test]
async fn rule6_weights_changed_by_hand_are_drift() {
    let s = Stack::short_periods("driftw").await;
    s.with_canary_config(10, "").await;
    s.aws
        .set_forward(&s.infra.rule_arn, &[(s.blue(), 50), (s.green(), 50)])
        .await;
    s.aws
        .set_forward(
            &s.infra.test_listener_arn,
            &[(s.blue(), 100), (s.green(), 0)],
        )
        .await;

    let (code, out) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{out}");
    out.assert_contains(&[
        "~ canary_weight = 50 -> 10",
        "\"shift traffic 90/10 on 2 rules\"",
        "\"route test traffic 100% to driftw-green on 1 test listener\"",
    ]);
    s.ws.apply(&[]);
    assert_eq!(s.splits().await, [(90, 10), (90, 10), (0, 100)]);
    s.ws.assert_plan_empty();
}

/// Safety rule 6: a canary deleted out of band shows in the next plan and apply recreates it.
#[tokio::test]
async fn rule6_canary_deleted_out_of_band_is_drift() {
    let s = Stack::short_periods("driftc").await;
    s.with_canary_config(10, "").await;
    let canary = s.state()["canary_task_set_arn"]
        .as_str()
        .unwrap()
        .to_string();
    s.aws
        .delete_task_set(&s.infra.cluster, s.infra.service(), &canary)
        .await;

    let (code, out) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{out}");
    out.assert_contains(&["create canary task set driftc:2 (scale 100%) on tg driftc-green"]);
    s.ws.apply(&[]);
    let st = s.state();
    let new = st["canary_task_set_arn"].as_str().expect("canary");
    assert_ne!(new, canary);
    let live = s.live().await;
    assert_eq!(live.len(), 2, "{live:#?}");
    assert!(live
        .iter()
        .any(|t| t.task_set_arn() == Some(new) && target_group(t) == s.green()));
    assert_eq!(s.splits().await, [(90, 10), (90, 10), (0, 100)]);
    s.ws.assert_plan_empty();
}

/// Safety rule 6: a PRIMARY changed out of band shows in the next plan and apply repairs it.
#[tokio::test]
async fn rule6_primary_changed_out_of_band_is_drift() {
    let s = Stack::short_periods("driftp").await;
    s.with_canary_config(10, "").await;
    let st = s.state();
    let (stable, canary) = (
        st["stable_task_set_arn"].as_str().unwrap().to_string(),
        st["canary_task_set_arn"].as_str().unwrap().to_string(),
    );
    s.aws
        .set_primary(&s.infra.cluster, s.infra.service(), &canary)
        .await;

    let (code, out) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{out}");
    out.assert_contains(&["make stable task set driftp:1 PRIMARY again"]);
    s.ws.apply(&[]);
    assert_eq!(s.primary_arn().await.as_deref(), Some(stable.as_str()));
    assert_eq!(s.state()["canary_task_set_arn"], canary.as_str());
    assert_eq!(s.splits().await, [(90, 10), (90, 10), (0, 100)]);
    s.ws.assert_plan_empty();
}

/// Safety rule 7: bad input is reported by `terraform validate` at the attribute's line.
#[test]
fn rule7_bad_input_is_reported_at_validate_with_the_attribute() {
    let ws = Workspace::new("canary-validate");
    let td = |n: u32| format!("arn:aws:ecs:us-east-1:123456789012:task-definition/web:{n}");
    let tg = |n: &str| {
        format!(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{n}/0123456789abcdef"
        )
    };
    let rule = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/lb/1/2/3";
    let resource = |name: &str, task_set: &str, stable: &str, canary: &str, traffic: &str| {
        format!(
            "resource \"ecsx_canary_deployment\" \"{name}\" {{\n  cluster = \"prod\"\n  service = \"web\"\n  task_set {{\n    container_name = \"web\"\n    container_port = 8080\n{task_set}  }}\n  stable {{\n{stable}  }}\n{canary}  traffic {{\n{traffic}  }}\n}}\n"
        )
    };
    let good_traffic = format!(
        "    primary_target_group_arn = \"{}\"\n    canary_target_group_arn  = \"{}\"\n    listener_rule_arns       = [\"{rule}\"]\n",
        tg("blue"),
        tg("green")
    );
    let good_stable = format!("    task_definition = \"{}\"\n", td(1));
    let fargate = "    launch_type = \"FARGATE\"\n";
    let canary = |body: &str| format!("  canary {{\n{body}  }}\n");
    let cases: Vec<(&str, String, &str, &str)> = vec![
        // (resource name, HCL, summary, the text on the line the diagnostic must point at)
        (
            "percent",
            resource("percent", fargate, &good_stable, &canary(&format!("    task_definition = \"{}\"\n    traffic_percent = 101\n", td(2))), &good_traffic),
            "Value out of range",
            "traffic_percent = 101",
        ),
        (
            "scale",
            resource("scale", fargate, &format!("{good_stable}    scale_percent = -1\n"), "", &good_traffic),
            "Value out of range",
            "scale_percent = -1",
        ),
        (
            "same_tg",
            resource("same_tg", fargate, &good_stable, "", &format!("    primary_target_group_arn = \"{}\"\n    canary_target_group_arn = \"{}\"\n    listener_rule_arns = [\"{rule}\"]\n", tg("blue"), tg("blue"))),
            "Same target group twice",
            "canary_target_group_arn = ",
        ),
        (
            "no_router",
            resource("no_router", fargate, &good_stable, "", &format!("    primary_target_group_arn = \"{}\"\n    canary_target_group_arn = \"{}\"\n    listener_rule_arns = []\n", tg("blue"), tg("green"))),
            "Nothing to route",
            "listener_rule_arns = []",
        ),
        (
            "both_launch",
            resource("both_launch", "    launch_type = \"EC2\"\n    capacity_provider_strategy {\n      capacity_provider = \"FARGATE_SPOT\"\n    }\n", &good_stable, "", &good_traffic),
            "Conflicting arguments",
            "launch_type = \"EC2\"",
        ),
        (
            "same_td",
            resource("same_td", fargate, &good_stable, &canary(&format!("    task_definition = \"{}\"   # same\n", td(1))), &good_traffic),
            "Canary runs the stable version",
            "# same",
        ),
        (
            "bad_td",
            resource("bad_td", fargate, "    task_definition = \"web:12\"\n", "", &good_traffic),
            "Invalid ARN",
            "task_definition = \"web:12\"",
        ),
        (
            "bad_tg",
            resource("bad_tg", fargate, &good_stable, "", &format!("    primary_target_group_arn = \"blue\"\n    canary_target_group_arn = \"{}\"\n    listener_rule_arns = [\"{rule}\"]\n", tg("green"))),
            "Invalid ARN",
            "primary_target_group_arn = \"blue\"",
        ),
        (
            "bad_rule",
            resource("bad_rule", fargate, &good_stable, "", &format!("    primary_target_group_arn = \"{}\"\n    canary_target_group_arn = \"{}\"\n    listener_rule_arns = [\"arn:aws:ecs:us-east-1:123456789012:cluster/prod\"]\n", tg("blue"), tg("green"))),
            "Invalid ARN",
            "cluster/prod\"]",
        ),
    ];
    let body: String = cases
        .iter()
        .map(|c| c.1.clone())
        .collect::<Vec<_>>()
        .join("\n");
    ws.config(&body);
    let main = std::fs::read_to_string(ws.dir().join("main.tf")).expect("main.tf");
    let line_of = |resource: &str, needle: &str| -> u64 {
        let header = format!("\"ecsx_canary_deployment\" \"{resource}\"");
        let lines: Vec<&str> = main.lines().collect();
        let start = lines
            .iter()
            .position(|l| l.contains(&header))
            .expect("resource header");
        let i = lines[start..]
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} not in resource {resource}"));
        (start + i + 1) as u64
    };

    let out = ws.validate();
    assert_eq!(out.code, 1, "{out}");
    let report = ws.validate_json();
    let diags = error_diagnostics(&report);
    for (name, _, summary, needle) in &cases {
        let line = line_of(name, needle);
        assert!(
            diags.iter().any(|(s, _, l)| s == summary && *l == line),
            "no {summary:?} for resource {name} at main.tf line {line} ({needle}); got {diags:#?}\n{main}"
        );
    }
    assert_eq!(
        diags.len(),
        cases.len(),
        "one diagnostic per mistake: {diags:#?}"
    );
}

/// Safety rule 7: a service with the ECS deployment controller is refused at plan time.
#[tokio::test]
async fn rule7_service_without_external_controller_is_refused_at_plan() {
    let s = Stack::short_periods("notext").await;
    s.aws
        .create_ecs_controller_service(&s.infra, "rolling")
        .await;
    let mut cfg = CanaryConfig::new(&s.infra);
    cfg.service = "rolling".into();
    s.deploy(&cfg);
    s.ws.fails(&["plan", "-input=false", "-no-color"])
        .assert_contains(&[
            "Error: Service does not use the EXTERNAL deployment controller",
            "uses the ECS deployment controller",
            "service = \"rolling\"",
        ]);
    assert!(
        s.aws
            .task_sets(&s.infra.cluster, "rolling")
            .await
            .is_empty(),
        "nothing was created"
    );
}

/// Safety rule 8: a refresh reads a deployment with 1 listener and 3 rules (and a test
/// listener) in one call of each Describe operation, and reads the task sets' tags
/// (DescribeTaskSets) only when the service has a task set the state does not record.
#[tokio::test]
async fn rule8_refresh_costs_one_call_per_describe_operation() {
    let mut s = Stack::short_periods("batch").await;
    let mut cfg = CanaryConfig::new(&s.infra);
    for (i, path) in ["/a/*", "/b/*"].into_iter().enumerate() {
        let arn = s
            .aws
            .create_rule(
                &s.infra.listener_arn,
                40 + i as i32,
                path,
                forward_action(&[(s.blue(), 100), (s.green(), 0)], None),
            )
            .await;
        cfg.rules.push(arn);
    }
    assert_eq!((cfg.listeners.len(), cfg.rules.len()), (1, 3));
    s.deploy(&cfg);
    s.ws.apply(&[]);
    s.deploy(&cfg.clone().canary(&s.td(1), 10));
    s.ws.apply(&[]);
    s.ws.assert_plan_empty();

    s.ws.set_env("TF_LOG", "debug");
    let refresh = |s: &Stack| {
        let out =
            s.ws.ok(&["plan", "-refresh-only", "-input=false", "-no-color"]);
        let mut ops: BTreeMap<String, usize> = BTreeMap::new();
        for line in out.stderr.lines().filter(|l| l.contains("aws call")) {
            let op = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("operation="))
                .unwrap_or_else(|| panic!("no operation in {line}"));
            let op = op.trim_matches('"');
            *ops.entry(op.rsplit('.').next().unwrap_or(op).to_string())
                .or_default() += 1;
        }
        (out, ops)
    };
    let calls = |extra: &[(&str, usize)]| {
        let mut want = BTreeMap::from([
            ("DescribeListeners".to_string(), 1),
            ("DescribeRules".to_string(), 1),
            ("DescribeServices".to_string(), 1),
        ]);
        want.extend(extra.iter().map(|(op, n)| (op.to_string(), *n)));
        want
    };
    // Both task sets are the ones the state records: DescribeServices lists them, no tags
    // are needed.
    let (out, ops) = refresh(&s);
    out.assert_contains(&["No changes"]);
    assert_eq!(ops, calls(&[]), "AWS calls of one refresh");
    // The one DescribeRules names all three rules, the one DescribeListeners both listeners.
    let line_of = |op: &str| {
        out.stderr
            .lines()
            .find(|l| l.contains("aws call") && l.contains(op))
            .unwrap_or_default()
    };
    for rule in &cfg.rules {
        assert!(
            line_of("DescribeRules").contains(rule.as_str()),
            "{rule}:\n{out}"
        );
    }
    for listener in [&s.infra.listener_arn, &s.infra.test_listener_arn] {
        assert!(
            line_of("DescribeListeners").contains(listener.as_str()),
            "{listener}:\n{out}"
        );
    }
    // A task set the state does not know (an apply that died right after CreateTaskSet left
    // it): one DescribeTaskSets reads the tags, and it shows as an orphan.
    let id = s.deployment_id();
    let orphan = s
        .aws
        .create_task_set_on(
            &s.infra,
            &s.td(2),
            s.green(),
            &[(TAG_DEPLOYMENT, id.as_str()), (TAG_ROLE, "canary")],
        )
        .await;
    let (out, ops) = refresh(&s);
    assert_eq!(
        ops,
        calls(&[("DescribeTaskSets", 1)]),
        "AWS calls of a refresh that finds a task set the state does not record"
    );
    out.assert_contains(&["orphaned_task_set_ids", &orphan.id]);
}
