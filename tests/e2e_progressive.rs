//! Scheduled releases of `ecsx_canary_deployment` through real Terraform: one apply walks the
//! steps and their bakes, CloudWatch alarms roll the release back and fail the apply, and a
//! rolled-back version is held back until it is retried on purpose.

mod common;

use common::{planned_after, rollout_steps, CanaryConfig, Stack};
use serde_json::json;
use std::time::{Duration, Instant};

const ADDR: &str = common::CANARY_ADDR;

/// A canary of revision 1 walking 10% (baking `pause`) then 50% (1 s), watching `alarm`.
fn scheduled(s: &Stack, pause: &str, alarm: &str, attempt: u32) -> CanaryConfig {
    CanaryConfig::new(&s.infra)
        .extra(&format!(
            "  analysis {{\n    alarm_names    = [{alarm:?}]\n    check_interval = \"1s\"\n  }}\n"
        ))
        .canary_steps(&s.td(1), &[(10, pause), (50, "1s")], attempt)
}

#[tokio::test]
async fn a_scheduled_release_walks_every_step_in_one_apply() {
    let s = Stack::short_periods("sched").await;
    s.aws.put_alarm("sched-5xx").await;
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);

    s.deploy(&scheduled(&s, "2s", "sched-5xx", 1));
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
        ]
    );
    assert_eq!(
        after["schedule"],
        json!([
            {"traffic_percent": 10, "pause": "2s", "alarms": ["sched-5xx"]},
            {"traffic_percent": 50, "pause": "1s", "alarms": ["sched-5xx"]},
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

    s.deploy(&scheduled(&s, "60s", "alarm-5xx", 1));
    let mut run =
        s.ws.spawn(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    // Wait until the canary takes its 10%, then fire the alarm.
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.splits().await[0] != (90, 10) {
        assert!(run.is_running(), "apply ended before step 1");
        assert!(Instant::now() < deadline, "step 1 never came");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    s.deploy(&scheduled(&s, "1s", "alarm-5xx", 2));
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
async fn an_alarm_that_does_not_exist_is_a_plan_error() {
    let s = Stack::short_periods("noalarm").await;
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);
    s.deploy(&scheduled(&s, "1s", "no-such-alarm", 1));
    let out = s.ws.fails(&["plan", "-input=false", "-no-color"]);
    out.assert_contains(&["Alarm not found", "no-such-alarm"]);
    assert_eq!(s.live().await.len(), 1, "a failed plan changes nothing");
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
