//! Scheduled releases of `ecsx_canary_deployment` through real Terraform: one apply walks the
//! steps and their bakes, CloudWatch alarms roll the release back and fail the apply, and a
//! rolled-back version is held back until it is retried on purpose, and `promote` ends the
//! release with the canary as the stable task set.

mod common;

use common::{planned_after, rollout_steps, CanaryConfig, Stack};
use serde_json::json;
use std::time::{Duration, Instant};

const ADDR: &str = common::CANARY_ADDR;

#[tokio::test]
async fn a_scheduled_release_walks_every_step_in_one_apply() {
    let s = Stack::short_periods("sched").await;
    s.aws.put_alarm("sched-5xx").await;
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);

    s.deploy(&s.scheduled("2s", "sched-5xx", 1));
    let plan = s.ws.plan_json();
    let after = planned_after(&plan, ADDR);
    assert_eq!(
        rollout_steps(&after),
        [
            "create canary task set sched:2 (scale 100%) on tg sched-green",
            "shift traffic 90/10 on 2 rules",
            "route test traffic 100% to sched-green on 1 test listener",
            "step 1: bake 2s at 10% watching alarms sched-5xx",
            "shift traffic 50/50 on 2 rules",
            "step 2: bake 1s at 50% watching alarms sched-5xx",
            "takes at least 3s (bakes), plus the waits for steady task sets",
        ]
    );
    assert_eq!(
        after["schedule"],
        json!([
            {"traffic_percent": 10, "pause": "2s", "alarms": ["sched-5xx"], "judge": null},
            {"traffic_percent": 50, "pause": "1s", "alarms": ["sched-5xx"], "judge": null},
        ])
    );
    assert_eq!(after["canary_weight"], 50);
    let started = Instant::now();
    s.ws.apply(&[]);
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the bakes were skipped"
    );
    assert_eq!(s.splits().await, [(50, 50), (50, 50), (0, 100)]);
    let st = s.state();
    assert_eq!(st["last_release"]["result"], "completed");
    assert_eq!(st["last_release"]["task_definition"], s.td(1).as_str());
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn an_alarm_rolls_the_release_back_mid_bake_and_the_version_is_held() {
    let s = Stack::short_periods("alarm").await;
    s.aws.put_alarm("alarm-5xx").await;
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);
    let stable = s.id_of("stable").expect("stable");

    s.deploy(&s.scheduled("60s", "alarm-5xx", 1));
    // Wait until the canary takes its 10%, then fire the alarm.
    let run = s.apply_to_step_1().await;
    let fired = Instant::now();
    s.aws
        .set_alarm("alarm-5xx", "ALARM", "Threshold Crossed: 7 datapoints")
        .await;
    let out = run.wait();
    assert!(
        !out.success(),
        "a rolled-back release fails the apply:\n{out}"
    );
    assert!(
        fired.elapsed() < Duration::from_secs(20),
        "the rollback waited out the bake"
    );
    out.assert_contains(&[
        "Release rolled back: alarm alarm-5xx went into ALARM at step 1 (10% to the canary)",
        "Threshold Crossed: 7 datapoints",
    ]);
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
    let live = s.live().await;
    assert_eq!(live.len(), 1, "the canary is gone: {live:#?}");
    assert_eq!(s.id_of("stable").as_deref(), Some(stable.as_str()));
    let st = s.state();
    assert_eq!(st["last_release"]["result"], "rolled_back");
    assert_eq!(st["canary_task_set_id"], serde_json::Value::Null);

    // The same configuration plans nothing: the version is held, and the plan says why.
    s.aws.set_alarm("alarm-5xx", "OK", "recovered").await;
    let (code, plan) = s.ws.plan_detailed();
    assert_eq!(
        code, 0,
        "a rolled-back canary is not retried on its own:\n{plan}"
    );
    plan.assert_contains(&["Canary held back after a rollback", "raise canary.attempt"]);

    // Raising the attempt starts it again, and this time it completes.
    s.deploy(&s.scheduled("1s", "alarm-5xx", 2));
    let plan = s.ws.plan_json();
    assert_eq!(
        rollout_steps(&planned_after(&plan, ADDR))[0],
        "create canary task set alarm:2 (scale 100%) on tg alarm-green"
    );
    s.ws.apply(&[]);
    assert_eq!(s.state()["last_release"]["result"], "completed");
    assert_eq!(s.splits().await, [(50, 50), (50, 50), (0, 100)]);
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn an_alarm_that_does_not_exist_warns_at_plan_and_the_apply_moves_nothing() {
    let s = Stack::short_periods("noalarm").await;
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);
    s.deploy(&s.scheduled("1s", "no-such-alarm", 1));
    // The same apply may create the alarm: a warning at plan.
    let (code, plan) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{plan}");
    plan.assert_contains(&["Warning: Alarm not found", "no-such-alarm"]);
    // Still missing when the apply starts: refused before anything moves.
    s.ws.apply_fails(&[])
        .assert_contains(&["Error: Alarm not found", "Nothing was changed"]);
    assert_eq!(s.live().await.len(), 1, "no canary was created");
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
}

#[tokio::test]
async fn a_gate_holds_the_release_until_the_step_is_approved() {
    let s = Stack::short_periods("gate").await;
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);
    let gated = |approved: u32| {
        CanaryConfig::new(&s.infra)
            .canary_steps(&s.td(1), &[(10, "1s"), (50, "approval")], 1)
            .canary_extra(&format!("    approved_step = {approved}\n"))
    };

    s.deploy(&gated(0));
    let plan = s.ws.plan_json();
    let after = planned_after(&plan, ADDR);
    assert_eq!(
        rollout_steps(&after).last().map(String::as_str),
        Some("step 2: hold at 10% until approved (canary.approved_step = 2), then 50%")
    );
    assert_eq!(after["canary_weight"], 10);
    s.ws.apply(&[]);
    assert_eq!(s.splits().await[0], (90, 10), "held before the gated step");
    let st = s.state();
    assert_eq!(st["last_release"]["result"], "held");
    assert_eq!(
        st["last_release"]["reason"],
        "waiting for approval of step 2 (50%)"
    );
    let (code, plan) = s.ws.plan_detailed();
    assert_eq!(code, 0, "a held release plans nothing:\n{plan}");
    plan.assert_contains(&["Release waiting for approval", "canary.approved_step = 2"]);

    // Approving the step continues from where the release waits.
    s.deploy(&gated(2));
    let plan = s.ws.plan_json();
    assert_eq!(
        rollout_steps(&planned_after(&plan, ADDR)),
        ["shift traffic 50/50 on 2 rules"]
    );
    s.ws.apply(&[]);
    assert_eq!(s.splits().await[0], (50, 50));
    assert_eq!(s.state()["last_release"]["result"], "completed");
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn a_three_step_release_with_promote_ends_promoted_in_one_apply() {
    let s = Stack::short_periods("promo").await;
    s.aws.put_alarm("promo-5xx").await;
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);
    let old_stable = s.id_of("stable").expect("stable");
    let release = |revision: usize| {
        CanaryConfig::new(&s.infra)
            .extra("  analysis {\n    alarm_names    = [\"promo-5xx\"]\n    check_interval = \"1s\"\n  }\n")
            .canary_steps(&s.td(revision), &[(10, "1s"), (50, "1s"), (100, "1s")], 1)
            .canary_extra("    promote = true\n")
    };

    s.deploy(&release(1));
    let plan = s.ws.plan_json();
    let after = planned_after(&plan, ADDR);
    assert_eq!(
        rollout_steps(&after),
        [
            "create canary task set promo:2 (scale 100%) on tg promo-green",
            "shift traffic 90/10 on 2 rules",
            "route test traffic 100% to promo-green on 1 test listener",
            "step 1: bake 1s at 10% watching alarms promo-5xx",
            "shift traffic 50/50 on 2 rules",
            "step 2: bake 1s at 50% watching alarms promo-5xx",
            "shift traffic 0/100 on 2 rules",
            "step 3: bake 1s at 100% watching alarms promo-5xx",
            "check alarms promo-5xx once more before the promotion",
            "make canary task set promo:2 PRIMARY (tg promo-green is live now)",
            format!("delete old stable task set promo:1 ({old_stable})").as_str(),
            "takes at least 3s (bakes), plus the waits for steady task sets",
        ]
    );
    assert_eq!(
        (&after["primary_weight"], &after["canary_weight"]),
        (&json!(100), &json!(0))
    );
    assert_eq!(after["live_target_group_arn"], s.green());
    s.ws.apply(&[]);

    let st = s.state();
    let canary = st["stable_task_set_id"]
        .as_str()
        .expect("stable")
        .to_string();
    assert_ne!(canary, old_stable, "the canary is the stable task set now");
    assert_eq!(st["canary_task_set_id"], serde_json::Value::Null);
    assert_eq!(st["last_release"]["result"], "promoted");
    assert_eq!(
        st["last_release"]["stable_task_definition"],
        s.td(0).as_str()
    );
    assert_eq!(st["live_target_group_arn"], s.green());
    assert_eq!(s.splits().await, [(0, 100), (0, 100), (0, 100)]);
    let live = s.live().await;
    assert_eq!(live.len(), 1, "only the promoted task set runs: {live:#?}");
    assert_eq!(live[0].task_definition(), Some(s.td(1).as_str()));
    // The configuration still names revision 1 as stable and still has the canary block:
    // nothing to do, and nothing rolls back to revision 1; but the plan says which version
    // runs and the line that makes the configuration say so.
    s.ws.assert_plan_empty().assert_contains(&[
        "Warning: The configuration names the old stable version",
        "promo:2 runs as the stable version since canary.promote promoted it",
        &format!("task_definition = \"{}\"", s.td(1)),
    ]);

    // The next version with the same edit: only canary.task_definition changes. It starts
    // from the promoted version, on the target group that is idle now.
    s.deploy(&release(2));
    let plan = s.ws.plan_json();
    let steps = rollout_steps(&planned_after(&plan, ADDR));
    assert_eq!(
        steps[0],
        "create canary task set promo:3 (scale 100%) on tg promo-blue"
    );
    assert!(steps.contains(&format!("delete old stable task set promo:2 ({canary})")));
    s.ws.apply(&[]);
    assert_eq!(s.state()["live_target_group_arn"], s.blue());
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
    s.ws.assert_plan_empty();

    // Writing the promoted version into stable.task_definition and dropping the canary block
    // changes nothing in AWS.
    s.deploy(&CanaryConfig::new(&s.infra).stable(&s.td(2)).no_canary());
    let before = s.state();
    let plan = s.ws.plan_json();
    let after = planned_after(&plan, ADDR);
    // Nothing to do: no steps (the refresh emptied the last apply's), the task sets stay.
    assert_eq!(after["rollout_steps"], serde_json::json!([]));
    assert_eq!(after["stable_task_set_id"], before["stable_task_set_id"]);
    s.ws.apply(&[]);
    s.ws.assert_plan_empty();
    s.ws.destroy();
    assert!(s.live().await.is_empty(), "destroy leaves no task set");
}

#[tokio::test]
async fn actions_continue_and_abort_a_held_release_and_the_next_plan_keeps_them() {
    let s = Stack::short_periods("act").await;
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);
    s.ws.write("actions.tf", common::ACTIONS_TF);
    let gated = |revision: usize| {
        CanaryConfig::new(&s.infra).canary_steps(
            &s.td(revision),
            &[(10, "1s"), (50, "approval"), (100, "1s")],
            1,
        )
    };
    let invoke = |action: &str| {
        s.ws.ok(&[
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
            &format!("-invoke=action.{action}.web"),
        ])
    };

    // Held at the gate before step 2; continuing walks steps 2 and 3 in the action.
    s.deploy(&gated(1));
    s.ws.apply(&[]);
    assert_eq!(s.splits().await[0], (90, 10));
    let out = invoke("ecsx_canary_continue");
    out.assert_contains(&["approving step 2 (50%)", "shift traffic 0/100 on 2 rules"]);
    assert_eq!(s.splits().await, [(0, 100), (0, 100), (0, 100)]);
    // The state is the action's only after a refresh: the next plan reads the approval back
    // from the service and plans nothing, neither back to 10% nor the steps again.
    let (code, plan) = s.ws.plan_detailed();
    assert_eq!(code, 0, "the next plan keeps what the action did:\n{plan}");
    s.ws.ok(&[
        "apply",
        "-refresh-only",
        "-auto-approve",
        "-input=false",
        "-no-color",
    ]);
    let st = s.state();
    assert_eq!(st["last_release"]["approved_step"], 2);
    assert_eq!(st["last_release"]["result"], "completed");
    assert_eq!(st["canary_weight"], 100);

    // A gate with nothing waiting is refused at plan, before anything is written.
    let out = s.ws.fails(&[
        "plan",
        "-input=false",
        "-no-color",
        "-invoke=action.ecsx_canary_continue.web",
    ]);
    out.assert_contains(&["Nothing waits for approval"]);

    // The next version, held at the gate again (the approval was for revision 2): aborted.
    s.deploy(&gated(2));
    s.ws.apply(&[]);
    assert_eq!(s.splits().await[0], (90, 10));
    let canary = s.id_of("canary").expect("canary");
    invoke("ecsx_canary_abort");
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
    assert!(
        s.live()
            .await
            .iter()
            .all(|t| t.id() != Some(canary.as_str())),
        "the canary is gone"
    );
    let (code, plan) = s.ws.plan_detailed();
    assert_eq!(code, 0, "an aborted canary is not started again:\n{plan}");
    plan.assert_contains(&[
        "Canary held back after a rollback",
        "aborted by the ecsx_canary_abort action",
    ]);
    s.ws.ok(&[
        "apply",
        "-refresh-only",
        "-auto-approve",
        "-input=false",
        "-no-color",
    ]);
    assert_eq!(s.state()["last_release"]["result"], "rolled_back");
    s.ws.destroy();
    assert!(s.live().await.is_empty());
}

#[tokio::test]
async fn ctrl_c_mid_bake_keeps_the_step_and_the_next_apply_bakes_the_rest() {
    let s = Stack::short_periods("stop").await;
    let run = s.baking_at_step_1("stop-5xx", "12s").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    run.interrupt();
    let out = run.wait();
    assert!(!out.success(), "an interrupted apply fails:\n{out}");
    out.assert_contains(&["Stopped while baking at step 1 (10%); traffic stays there"]);
    assert_eq!(s.splits().await, [(90, 10), (90, 10), (0, 100)]);

    // The state is the truth, with how much of the bake is left.
    let st = s.state();
    assert_eq!(st["last_release"]["result"], "interrupted");
    assert_eq!(st["last_release"]["step"], 1);
    let left = st["last_release"]["remaining"].as_str().expect("remaining");
    let secs: u64 = left.trim_end_matches('s').parse().expect("seconds");
    assert!(
        (1..=10).contains(&secs),
        "remaining {left} of 12s after ~3s"
    );
    assert!(st["canary_task_set_id"].is_string());

    let plan = s.ws.plan_json();
    assert_eq!(
        rollout_steps(&planned_after(&plan, ADDR))[0],
        format!(
            "step 1: bake {left} at 10% watching alarms stop-5xx (the rest of an interrupted bake)"
        )
    );
    let started = Instant::now();
    s.ws.apply(&[]);
    assert!(
        started.elapsed() >= Duration::from_secs(secs),
        "the rest of the bake was skipped"
    );
    assert_eq!(s.splits().await, [(50, 50), (50, 50), (0, 100)]);
    assert_eq!(s.state()["last_release"]["result"], "completed");
    s.ws.assert_plan_empty();
}
