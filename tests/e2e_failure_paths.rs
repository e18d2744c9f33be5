//! The ways a release stops early, through real Terraform: each leaves production on a steady
//! task set and a record that makes the next apply continue safely, never one that skips a
//! check or replaces what serves. A failed first apply leaves no tainted state (whose
//! replacement would delete the PRIMARY); a rollback inside an action is kept; alarms that
//! cannot be read, or no longer exist, stop a bake instead of passing it.

mod common;

use common::{planned_actions, planned_after, rollout_steps, state_values, CanaryConfig, Stack};
use serde_json::json;
use std::time::{Duration, Instant};

const ADDR: &str = common::CANARY_ADDR;

/// The id (`ecs-svc/...`) of the PRIMARY task set, from ECS.
async fn primary_id(s: &Stack) -> String {
    let arn = s.primary_arn().await.expect("a PRIMARY task set");
    let (_, id) = arn.rsplit_once("/ecs-svc/").expect("a task set ARN");
    format!("ecs-svc/{id}")
}

/// A first apply whose canary never stabilises, after the stable task set became PRIMARY,
/// fails without a state: Terraform has nothing to taint, the next plan is a create (not a
/// replacement whose destroy deletes the PRIMARY), and that create takes the stable over.
#[tokio::test]
async fn a_failed_first_apply_is_not_tainted_and_the_next_create_keeps_the_primary() {
    let s = Stack::short_periods("firstfail").await;
    s.emu
        .configure(json!({"never_stable_task_definitions": [s.td(1)]}));
    let cfg = CanaryConfig::new(&s.infra)
        .extra("  timeouts {\n    create = \"6s\"\n  }")
        .canary(&s.td(1), 10);
    s.deploy(&cfg);
    s.ws.apply_fails(&[]).assert_contains(&[
        "Canary task set did not reach a steady state",
        "First apply failed: nothing recorded in the state",
    ]);
    let stable = primary_id(&s).await;
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
    assert!(
        state_values(&s.ws.show_json(), ADDR).is_none(),
        "nothing in the state, so nothing tainted"
    );

    let plan = s.ws.plan_json();
    assert_eq!(
        planned_actions(&plan, ADDR),
        ["create"],
        "not a replacement"
    );
    let steps = rollout_steps(&planned_after(&plan, ADDR));
    assert!(
        steps
            .iter()
            .all(|l| !l.contains("stable task set web") || !l.starts_with("create")),
        "no second stable task set: {steps:?}"
    );

    // The canary's version stabilises now: the create resumes around the same stable.
    s.emu
        .configure(json!({"never_stable_task_definitions": []}));
    s.ws.apply(&[])
        .assert_contains(&["Resuming an earlier create", &stable]);
    assert_eq!(s.id_of("stable").as_deref(), Some(stable.as_str()));
    assert_eq!(primary_id(&s).await, stable);
    assert_eq!(s.splits().await, [(90, 10), (90, 10), (0, 100)]);
    s.ws.assert_plan_empty();
}

/// A canary an earlier create left before it was steady (that create was killed while it
/// waited, `make chaos` seed 137): the create that takes it over waits for it to be steady
/// before any traffic moves to it, and fails without a state if it never gets there.
#[tokio::test]
async fn a_create_waits_for_a_leftover_canary_to_be_steady_before_routing_to_it() {
    let s = Stack::short_periods("leftunsteady").await;
    s.emu
        .configure(json!({"never_stable_task_definitions": [s.td(1)]}));
    let cfg = CanaryConfig::new(&s.infra)
        .extra("  timeouts {\n    create = \"6s\"\n  }")
        .canary(&s.td(1), 10);
    s.deploy(&cfg);
    s.ws.apply_fails(&[])
        .assert_contains(&["Canary task set did not reach a steady state"]);
    let stable = primary_id(&s).await;
    // What a create killed while it waited for its canary leaves: the canary, owned, on the
    // canary target group, not steady, with no traffic yet.
    let deployment = format!("{}/{}", s.infra.cluster, s.infra.service());
    let left = s
        .aws
        .create_task_set_on(
            &s.infra,
            &s.td(1),
            s.green(),
            &[("ecsx:deployment", &deployment), ("ecsx:role", "canary")],
        )
        .await;

    s.ws.apply_fails(&[]).assert_contains(&[
        "Resuming an earlier create",
        "A task set left by an earlier create did not reach a steady state",
    ]);
    assert_eq!(
        s.splits().await,
        [(100, 0), (100, 0), (100, 0)],
        "no traffic, test traffic included, to a task set that is not steady"
    );
    assert!(state_values(&s.ws.show_json(), ADDR).is_none());

    // Once it is steady, the next create takes it over and routes to it.
    s.emu
        .configure(json!({"never_stable_task_definitions": []}));
    s.ws.apply(&[]);
    assert_eq!(s.id_of("stable").as_deref(), Some(stable.as_str()));
    assert_eq!(s.id_of("canary").as_deref(), Some(left.id.as_str()));
    assert_eq!(s.splits().await, [(90, 10), (90, 10), (0, 100)]);
    s.ws.assert_plan_empty();
}

/// An alarm that rolls a first apply back: no state, but the rollback is recorded on the
/// stable task set, so the next create takes the stable over and holds the canary back.
#[tokio::test]
async fn a_first_apply_rolled_back_by_an_alarm_keeps_its_record_without_a_state() {
    let s = Stack::short_periods("firstroll").await;
    s.aws.put_alarm("firstroll-5xx").await;
    s.aws
        .set_alarm("firstroll-5xx", "ALARM", "Threshold Crossed: 9 datapoints")
        .await;
    s.deploy(&s.scheduled("30s", "firstroll-5xx", 1));
    s.ws.apply_fails(&[]).assert_contains(&[
        "Release rolled back: alarm firstroll-5xx went into ALARM at step 1",
        "First apply failed: nothing recorded in the state",
    ]);
    let stable = primary_id(&s).await;
    assert_eq!(s.live().await.len(), 1, "the canary is gone");
    assert!(state_values(&s.ws.show_json(), ADDR).is_none());

    s.aws.set_alarm("firstroll-5xx", "OK", "recovered").await;
    let (code, plan) = s.ws.plan_detailed();
    assert_eq!(code, 2, "a create that takes the stable over:\n{plan}");
    plan.assert_contains(&[
        "Resuming an earlier create",
        "rolled_back",
        "Canary held back after a rollback",
    ]);
    plan.assert_not_contains(&["create canary task set"]);
    s.ws.apply(&[]);
    assert_eq!(s.id_of("stable").as_deref(), Some(stable.as_str()));
    assert_eq!(
        s.live().await.len(),
        1,
        "the rolled-back canary is not started"
    );
    let st = s.state();
    assert_eq!(st["last_release"]["result"], "rolled_back");
    assert_eq!(st["last_release"]["step"], 1);
    s.ws.assert_plan_empty();
}

/// An alarm that fires while `ecsx_canary_continue` walks the release rolls it back, and the
/// rollback outlives the action: the next plan holds the version back instead of starting it
/// again. The record lives on the task set, not on the service another tool may own.
#[tokio::test]
async fn a_rollback_inside_the_continue_action_holds_the_version_back() {
    let s = Stack::short_periods("actroll").await;
    s.aws.put_alarm("actroll-5xx").await;
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);
    let stable = s.id_of("stable").expect("stable");
    s.ws.write("actions.tf", common::ACTIONS_TF);
    let gated = CanaryConfig::new(&s.infra)
        .extra("  analysis {\n    alarm_names    = [\"actroll-5xx\"]\n    check_interval = \"1s\"\n  }\n")
        .canary_steps(&s.td(1), &[(10, "1s"), (50, "approval"), (100, "30s")], 1);
    s.deploy(&gated);
    s.ws.apply(&[]);
    assert_eq!(s.splits().await[0], (90, 10));

    let mut run = s.ws.spawn(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        "-invoke=action.ecsx_canary_continue.web",
    ]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.splits().await[0] != (0, 100) {
        assert!(run.is_running(), "the action ended before step 3");
        assert!(Instant::now() < deadline, "step 3 never came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.aws
        .set_alarm("actroll-5xx", "ALARM", "Threshold Crossed: 3 datapoints")
        .await;
    let out = run.wait();
    assert!(
        !out.success(),
        "a rolled-back release fails the action:\n{out}"
    );
    out.assert_contains(&["Release rolled back: alarm actroll-5xx went into ALARM at step 3"]);
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
    assert_eq!(s.live().await.len(), 1, "the canary is gone");
    let service_tags = s
        .aws
        .service_tags(&s.infra.cluster, s.infra.service())
        .await;
    assert!(
        service_tags.iter().all(|(k, _)| !k.starts_with("ecsx:")),
        "nothing written on the service: {service_tags:?}"
    );
    assert!(
        s.tags(&stable)
            .await
            .iter()
            .any(|(k, v)| k == "ecsx:release" && v.starts_with("v1 rolled_back 3 ")),
        "the record is on the stable task set"
    );

    s.aws.set_alarm("actroll-5xx", "OK", "recovered").await;
    let (code, plan) = s.ws.plan_detailed();
    assert_eq!(
        code, 0,
        "the rolled-back canary is not started again:\n{plan}"
    );
    plan.assert_contains(&["Canary held back after a rollback"]);
    s.ws.ok(&[
        "apply",
        "-refresh-only",
        "-auto-approve",
        "-input=false",
        "-no-color",
    ]);
    let st = s.state();
    assert_eq!(st["last_release"]["result"], "rolled_back");
    assert_eq!(st["last_release"]["step"], 3);
    s.ws.assert_plan_empty();
}

/// Alarms that cannot be read mid-bake (DescribeAlarms refused: a policy, expired session
/// credentials) stop the bake with an `interrupted` record: the next apply bakes the rest of
/// the step, watching again, rather than counting the unobserved time as passed.
#[tokio::test]
async fn an_unreadable_alarm_stops_the_bake_and_the_next_apply_bakes_the_rest() {
    let s = Stack::with_proxy("unread", 1, &[]).await;
    s.emu
        .configure(json!({"stabilize_seconds": 1, "drain_seconds": 1}));
    let run = s.baking_at_step_1("unread-5xx", "8s").await;
    s.proxy()
        .faults(json!([{"operation": "cloudwatch.DescribeAlarms", "kind": "access_denied"}]));
    let out = run.wait();
    assert!(!out.success(), "an unwatched bake fails the apply:\n{out}");
    out.assert_contains(&[
        "Stopped at step 1 (10%): the release's alarms are not watched",
        "AccessDenied",
    ]);
    assert_eq!(s.splits().await[0], (90, 10), "traffic stays at the step");
    let st = s.state();
    assert_eq!(st["last_release"]["result"], "interrupted");
    assert_eq!(st["last_release"]["step"], 1);

    s.proxy().clear_faults();
    let plan = s.ws.plan_json();
    let first = rollout_steps(&planned_after(&plan, ADDR))[0].clone();
    assert!(
        first.starts_with("step 1: bake ") && first.ends_with("(the rest of an interrupted bake)"),
        "{first}"
    );
    s.ws.apply(&[]);
    assert_eq!(s.state()["last_release"]["result"], "completed");
    s.ws.assert_plan_empty();
}

/// An alarm deleted while a release bakes: the bake stops (it would watch nothing), and an
/// alarm that does not exist yet at plan time is a warning, since the same apply may create it.
#[tokio::test]
async fn a_missing_alarm_warns_at_plan_and_stops_a_bake() {
    let s = Stack::short_periods("gone").await;
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);
    s.deploy(&s.scheduled("20s", "gone-5xx", 1));
    let (code, plan) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{plan}");
    plan.assert_contains(&["Warning: Alarm not found", "gone-5xx"]);

    s.aws.put_alarm("gone-5xx").await;
    let run = s.apply_to_step_1().await;
    s.aws.delete_alarm("gone-5xx").await;
    let out = run.wait();
    assert!(!out.success(), "{out}");
    out.assert_contains(&["alarm gone-5xx no longer exists"]);
    assert_eq!(s.splits().await[0], (90, 10));
    assert_eq!(s.state()["last_release"]["result"], "interrupted");
}

/// An alarm CloudWatch cannot evaluate (`EvaluationState` EVALUATION_ERROR: its metric query
/// fails) says nothing about the canary even while it reads OK: the bake stops as unwatched.
#[tokio::test]
async fn an_alarm_cloudwatch_cannot_evaluate_stops_a_bake() {
    let s = Stack::short_periods("noeval").await;
    let run = s.baking_at_step_1("noeval-5xx", "20s").await;
    s.emu
        .configure(json!({"alarm_evaluation_states": {"noeval-5xx": "EVALUATION_ERROR"}}));
    let out = run.wait();
    assert!(!out.success(), "{out}");
    out.assert_contains(&[
        "the release's alarms are not watched",
        "cannot evaluate alarm noeval-5xx (EVALUATION_ERROR)",
    ]);
    assert_eq!(s.splits().await[0], (90, 10), "traffic stays at the step");
    assert_eq!(s.state()["last_release"]["result"], "interrupted");
}

/// A scale that leaves the task count as it was (60% instead of 100% of two tasks is still two)
/// may never get a new STEADY_STATE date from ECS, which documents none: the wait settles on
/// the counts once the settle window has passed, instead of sitting until its timeout.
#[tokio::test]
async fn a_scale_that_keeps_the_task_count_does_not_wait_for_a_new_steady_state() {
    let mut s = Stack::short_periods("samecount").await;
    s.ws.set_env("ECSX_SETTLE_WINDOW", "2s");
    s.emu
        .configure(json!({"restabilize_unchanged_count": false}));
    let cfg = CanaryConfig::new(&s.infra).extra("  timeouts {\n    update = \"20s\"\n  }");
    s.deploy(&cfg.clone().canary_scaled(&s.td(1), 10, 100));
    s.ws.apply(&[]);
    s.deploy(&cfg.canary_scaled(&s.td(1), 10, 60));
    let started = Instant::now();
    s.ws.apply(&[]);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the wait ran into its timeout"
    );
    s.ws.assert_plan_empty();
}

/// A release changed under a running apply (here: its weights set back by hand while step 1
/// bakes; the same for another apply or an abort from elsewhere) stops that apply at the next
/// check, naming the change, and the state records what AWS holds, not what the plan expected.
#[tokio::test]
async fn a_release_changed_under_a_baking_apply_stops_it_and_the_state_is_what_aws_holds() {
    let s = Stack::short_periods("underfoot").await;
    let run = s.baking_at_step_1("underfoot-5xx", "60s").await;
    // Into the bake: every router shows step 1 and the apply has read them back (a change
    // made while it still waits for ELBv2 to show its own write reads as ELBv2 lag, which it
    // waits out for up to 5 minutes).
    while s.splits().await != [(90, 10), (90, 10), (0, 100)] {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let edited = Instant::now();
    s.aws
        .set_forward(&s.infra.rule_arn, &[(s.blue(), 100), (s.green(), 0)])
        .await;
    let out = run.wait();
    assert!(!out.success(), "{out}");
    assert!(
        edited.elapsed() < Duration::from_secs(20),
        "the bake did not notice the change"
    );
    out.assert_contains(&[
        "The release changed under this apply at step 1 (10%)",
        &s.infra.rule_arn,
    ]);
    let st = s.state();
    assert_ne!(st["last_release"]["result"], "completed");
    assert!(
        st["drift"]
            .as_array()
            .is_some_and(|d| d.iter().any(|x| x["kind"] == "split_disagrees")),
        "the state records the rule as AWS holds it: {st:#}"
    );
    let (code, plan) = s.ws.plan_detailed();
    assert_eq!(code, 2, "the next plan shows what it would do:\n{plan}");
}

/// Ctrl-C after a step's weight reached ELBv2 but before its bake began: the state records the
/// step's whole bake as still to go, so the next apply bakes it at that weight instead of
/// counting the step as passed.
#[tokio::test]
async fn a_stop_between_a_step_weight_and_its_bake_leaves_the_whole_bake_to_do() {
    let s = Stack::with_proxy("unbaked", 1, &[]).await;
    s.emu
        .configure(json!({"stabilize_seconds": 1, "drain_seconds": 1}));
    s.aws.put_alarm("unbaked-5xx").await;
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);
    s.deploy(&s.scheduled("5s", "unbaked-5xx", 1));
    // Step 1's ModifyRule takes effect, and its answer comes 3 s later.
    s.proxy().faults(json!([{
        "operation": "elbv2.ModifyRule", "kind": "hold_after_commit", "times": 1, "seconds": 3
    }]));
    let run =
        s.ws.spawn(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    assert!(
        s.proxy().wait_held(Duration::from_secs(60)),
        "step 1's weight was never written"
    );
    run.interrupt();
    let out = run.wait();
    assert!(!out.success(), "{out}");
    assert_eq!(s.splits().await[0], (90, 10), "the write took effect");
    let st = s.state();
    assert_eq!(st["last_release"]["result"], "interrupted", "{st:#}");
    assert_eq!(st["last_release"]["step"], 1);
    assert_eq!(
        st["last_release"]["remaining"], "5s",
        "the whole bake is still to go"
    );

    s.proxy().clear_faults();
    let plan = s.ws.plan_json();
    assert_eq!(
        rollout_steps(&planned_after(&plan, ADDR))[0],
        "step 1: bake 5s at 10% watching alarms unbaked-5xx (the rest of an interrupted bake)"
    );
    s.ws.apply(&[]);
    assert_eq!(s.state()["last_release"]["result"], "completed");
    s.ws.assert_plan_empty();
}

/// A scheduled release whose apply fails on an error (here a canary that never turns steady) is
/// on record as `failed` with the reason, and the next plan says so before it starts again.
#[tokio::test]
async fn a_failed_release_is_on_record_and_the_next_plan_says_so() {
    let s = Stack::short_periods("failrec").await;
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);
    s.emu
        .configure(json!({"never_stable_task_definitions": [s.td(1)]}));
    let cfg = CanaryConfig::new(&s.infra)
        .extra("  timeouts {\n    update = \"5s\"\n  }")
        .canary_steps(&s.td(1), &[(10, "1s"), (50, "1s")], 1);
    s.deploy(&cfg);
    s.ws.apply_fails(&[])
        .assert_contains(&["Canary task set did not reach a steady state"]);
    let st = s.state();
    assert_eq!(st["last_release"]["result"], "failed", "{st:#}");
    assert!(st["last_release"]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("did not reach a steady state")));
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);

    s.emu
        .configure(json!({"never_stable_task_definitions": []}));
    let (code, plan) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{plan}");
    plan.assert_contains(&["The last release failed", "did not reach a steady state"]);
    s.ws.apply(&[]);
    assert_eq!(s.state()["last_release"]["result"], "completed");
    s.ws.assert_plan_empty();
}

/// A listener rule that ECS itself shifts for a native blue/green service of the cluster (its
/// `advancedConfiguration.productionListenerRule`) is refused at plan, naming the service:
/// ECS would undo ecsx's weights at that service's next deployment, and ecsx would undo ECS's.
#[tokio::test]
async fn a_rule_that_ecs_shifts_for_a_native_service_is_refused_at_plan() {
    let s = Stack::short_periods("native").await;
    s.aws
        .create_native_blue_green_service(&s.infra, "native-bg", &s.infra.rule_arn)
        .await;
    s.deploy(&CanaryConfig::new(&s.infra));
    let out = s.ws.fails(&["plan", "-input=false", "-no-color"]);
    out.assert_contains(&[
        "Error: Listener or rule managed by Amazon ECS",
        &s.infra.rule_arn,
        "\"native-bg\"",
    ]);
    s.ws.apply_fails(&[])
        .assert_contains(&["Listener or rule managed by Amazon ECS"]);
    assert!(s.live().await.is_empty(), "nothing was created");
}

/// A gate at the very first step holds the release before any canary traffic, and that too is
/// on record (`held` at step 1) with the plan's warning; the next plan is empty.
#[tokio::test]
async fn a_release_held_at_the_first_step_s_gate_is_on_record() {
    let s = Stack::short_periods("gate1").await;
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);
    s.deploy(&CanaryConfig::new(&s.infra).canary_steps(
        &s.td(1),
        &[(10, "approval"), (50, "1s")],
        1,
    ));
    s.ws.apply(&[])
        .assert_contains(&["Release waiting for approval", "before step 1 (10%)"]);
    assert_eq!(
        s.splits().await[0],
        (100, 0),
        "no canary traffic before the gate"
    );
    let st = s.state();
    assert_eq!(st["last_release"]["result"], "held", "{st:#}");
    assert_eq!(st["last_release"]["step"], 1);
    assert!(
        st["canary_task_set_id"].is_string(),
        "the canary waits, steady"
    );
    s.ws.assert_plan_empty();
}

/// A promotion by commit (the canary's version named as stable, the canary block removed)
/// reads the `analysis` alarms once before it moves traffic, as `promote = true` does; one in
/// ALARM stops it with nothing moved, and it goes through once the alarm is OK.
#[tokio::test]
async fn a_promotion_by_commit_reads_the_alarms_before_it_moves_traffic() {
    let s = Stack::short_periods("commitpromo").await;
    s.aws.put_alarm("commitpromo-5xx").await;
    let analysis =
        "  analysis {\n    alarm_names    = [\"commitpromo-5xx\"]\n    check_interval = \"1s\"\n  }\n";
    let base = CanaryConfig::new(&s.infra).extra(analysis);
    s.deploy(&base.clone());
    s.ws.apply(&[]);
    s.deploy(&base.clone().canary(&s.td(1), 50));
    s.ws.apply(&[]);
    let canary = s.id_of("canary").expect("canary");

    s.aws
        .set_alarm(
            "commitpromo-5xx",
            "ALARM",
            "Threshold Crossed: 4 datapoints",
        )
        .await;
    s.deploy(&base.clone().stable(&s.td(1)));
    let plan = s.ws.plan_json();
    assert!(
        rollout_steps(&planned_after(&plan, ADDR))
            .contains(&"check alarms commitpromo-5xx once more before the promotion".to_string()),
        "{:?}",
        rollout_steps(&planned_after(&plan, ADDR))
    );
    s.ws.apply_fails(&[])
        .assert_contains(&["Promotion not started: alarm commitpromo-5xx is in ALARM"]);
    assert_eq!(s.splits().await[0], (50, 50), "nothing moved");
    assert_eq!(s.id_of("canary").as_deref(), Some(canary.as_str()));

    s.aws.set_alarm("commitpromo-5xx", "OK", "recovered").await;
    s.ws.apply(&[]);
    assert_eq!(
        s.id_of("stable").as_deref(),
        Some(canary.as_str()),
        "the canary took over"
    );
    s.ws.assert_plan_empty();
}

/// ELBv2 may describe a rule's old actions for a while after ModifyRule, which a shift waits
/// out (`elb_stale_seconds`). A rule that shows something else meanwhile, neither what the
/// apply wrote nor what it replaced, was changed by someone else: the apply stops at once,
/// naming it, instead of waiting five minutes for weights that never come.
#[tokio::test]
async fn a_rule_changed_while_a_shift_waits_for_elbv2_stops_the_apply_at_once() {
    let s = Stack::with_proxy("shiftwait", 1, &[]).await;
    s.emu
        .configure(json!({"stabilize_seconds": 1, "drain_seconds": 1}));
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);
    s.emu.configure(json!({"elb_stale_seconds": 6}));
    s.deploy(&CanaryConfig::new(&s.infra).canary(&s.td(1), 10));
    let writes = s.proxy().calls("elbv2.ModifyRule");
    let mut run =
        s.ws.spawn(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.proxy().calls("elbv2.ModifyRule") == writes {
        assert!(run.is_running(), "the apply ended before its shift");
        assert!(Instant::now() < deadline, "no shift came");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Somebody else's write while ELBv2 still shows the rule as it was.
    let (blue, green) = (s.blue().to_string(), s.green().to_string());
    s.aws
        .set_forward(&s.infra.rule_arn, &[(&blue, 50), (&green, 50)])
        .await;
    let started = Instant::now();
    let out = run.wait();
    assert!(!out.success(), "{out}");
    out.assert_contains(&["forwards 50 to", "changed it meanwhile"]);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the apply waited for weights that never came"
    );
    s.emu.configure(json!({"elb_stale_seconds": 0}));
}
