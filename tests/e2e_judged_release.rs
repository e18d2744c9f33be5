//! Releases judged by the built-in judge through real Terraform: ALB-style points for the
//! canary's (green) and the baseline's (blue) target group are published on the real clock
//! before the apply, minutes ahead included, and the provider reads them with its own clock.
//! Windows are one minute with no delay, so each release waits one to two real minutes for
//! its first whole window. The releases share those minutes: each runs on its own emulator
//! and workspace in a thread of its own, and one test reports every release that failed.

mod common;

use common::{
    planned_after, rollout_steps, AlbMetrics, CanaryConfig, Clock, GroupOn, Scenario, Stack,
    ACTIONS_TF,
};
use serde_json::json;
use std::future::Future;
use std::pin::Pin;

const ADDR: &str = common::CANARY_ADDR;

/// The analysis block of these tests: a one-minute window read at once, 50 requests each.
fn analysis(on_inconclusive: &str) -> String {
    format!(
        "  analysis {{\n    check_interval     = \"5s\"\n    window             = \"1m\"\n    delay              = \"0s\"\n    on_inconclusive    = {on_inconclusive:?}\n    inconclusive_limit = \"0s\"\n    compare {{\n      min_requests = 50\n    }}\n  }}\n"
    )
}

/// A one-step release to revision 1 at 10%, promoted when it passes.
fn release(s: &Stack, on_inconclusive: &str) -> CanaryConfig {
    CanaryConfig::new(&s.infra)
        .extra(&analysis(on_inconclusive))
        .canary_steps(&s.td(1), &[(10, "1s")], 1)
        .canary_extra("    promote = true\n")
}

/// `scenario` for green (canary) against blue, from 5 minutes ago to 4 minutes ahead.
async fn traffic(s: &Stack, scenario: Scenario) {
    let alb = AlbMetrics::new(&s.aws.cloudwatch);
    let lb = &s.infra.load_balancer_arn;
    alb.publish_scenario(
        Clock::system(),
        &GroupOn::new(s.green(), lb),
        &GroupOn::new(s.blue(), lb),
        scenario,
        -4..=5,
    )
    .await;
}

/// A deployment of revision 0 with no canary, applied.
async fn applied(s: Stack) -> Stack {
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);
    s
}

async fn stack(name: &str) -> Stack {
    applied(Stack::short_periods(name).await).await
}

type Release = Pin<Box<dyn Future<Output = ()>>>;
/// A release by name, and how to run it.
type Named = (&'static str, fn() -> Release);

#[test]
fn judged_releases() {
    let releases: [Named; 8] = [
        ("healthy", || {
            Box::pin(a_healthy_canary_is_judged_and_promoted())
        }),
        ("5xx", || {
            Box::pin(a_canary_with_3_points_more_5xx_is_rolled_back_naming_both_rates())
        }),
        ("slow", || Box::pin(a_canary_twice_as_slow_is_rolled_back())),
        ("sparse", || {
            Box::pin(at_low_traffic_the_release_holds_at_a_gate_and_says_why())
        }),
        ("partial", || {
            Box::pin(a_metric_cloudwatch_does_not_answer_in_full_never_passes())
        }),
        ("refused", || {
            Box::pin(a_failed_get_metric_data_call_stops_the_release_unjudged())
        }),
        ("query", || {
            Box::pin(a_metric_query_of_your_own_fails_a_release())
        }),
        ("test", || {
            Box::pin(a_canary_failing_on_test_traffic_never_gets_production_traffic())
        }),
    ];
    let running: Vec<_> = releases
        .into_iter()
        .map(|(name, release)| {
            let thread = std::thread::Builder::new()
                .name(name.to_string())
                .spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("a runtime")
                        .block_on(release())
                })
                .expect("a thread");
            (name, thread)
        })
        .collect();
    let failed: Vec<&str> = running
        .into_iter()
        .filter_map(|(name, thread)| thread.join().is_err().then_some(name))
        .collect();
    assert!(
        failed.is_empty(),
        "judged releases that failed (their panics are above): {failed:?}"
    );
}

async fn a_healthy_canary_is_judged_and_promoted() {
    let s = stack("jok").await;
    traffic(&s, Scenario::Healthy).await;
    s.deploy(&release(&s, "hold"));
    let after = planned_after(&s.ws.plan_json(), ADDR);
    let steps = rollout_steps(&after);
    assert!(
        steps.contains(&"step 1: judging tg jok-green against tg jok-blue on load balancer jok-alb (error rate at most +1 point, p99 at most 1.5x, at least 50 requests each), per 1m window ending 0s before now".to_string()),
        "{steps:#?}"
    );
    // plan -json consumers see the same in the schedule
    assert_eq!(
        after["schedule"][0]["judge"],
        json!("judging tg jok-green against tg jok-blue on load balancer jok-alb (error rate at most +1 point, p99 at most 1.5x, at least 50 requests each), per 1m window ending 0s before now"),
        "{:#}",
        after["schedule"]
    );
    s.ws.apply(&[]);
    let st = s.state();
    assert_eq!(st["last_release"]["result"], "promoted");
    // terraform show says why it moved on: the last verdict, with both groups' figures
    let reason = st["last_release"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("last verdict: step 1 (10%): PASS: canary jok-green 0.00% errors (0 5XX + 0 failed connections in 100 requests, p99 50 ms); baseline jok-blue 0.00% errors"),
        "{reason}"
    );
    assert_eq!(s.splits().await, [(0, 100), (0, 100), (0, 100)]);
    s.ws.assert_plan_empty();
}

async fn a_canary_with_3_points_more_5xx_is_rolled_back_naming_both_rates() {
    let s = stack("j5xx").await;
    traffic(&s, Scenario::FiveXxHeavy).await;
    s.deploy(&release(&s, "hold"));
    let out = s.ws.apply_fails(&[]);
    out.assert_contains(&[
        "Release rolled back at step 1 (10% to the canary): error rate 4.00% on the canary vs 1.00% on the baseline: 3.00 points above it, at most 1 allowed",
    ]);
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
    let st = s.state();
    assert_eq!(st["last_release"]["result"], "rolled_back");
    let reason = st["last_release"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("canary j5xx-green 4.00% errors")
            && reason.contains("baseline j5xx-blue 1.00% errors")
            && reason.contains("window "),
        "{reason}"
    );
    assert_eq!(st["canary_task_set_id"], json!(null));
}

async fn a_canary_twice_as_slow_is_rolled_back() {
    let s = stack("jslow").await;
    traffic(&s, Scenario::Slow).await;
    s.deploy(&release(&s, "hold"));
    let out = s.ws.apply_fails(&[]);
    out.assert_contains(&[
        "Release rolled back at step 1 (10% to the canary): p99 response time 100 ms on the canary vs 50 ms on the baseline: 2.00x, at most 1.5x allowed",
    ]);
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
    let st = s.state();
    assert_eq!(st["last_release"]["result"], "rolled_back");
    assert_eq!(st["canary_task_set_id"], json!(null));
}

async fn at_low_traffic_the_release_holds_at_a_gate_and_says_why() {
    let s = stack("jlow").await;
    s.ws.write("actions.tf", ACTIONS_TF);
    traffic(&s, Scenario::Sparse).await;
    s.deploy(&release(&s, "hold"));
    // The apply did not do what its plan said, so it fails; the release waits at a gate.
    let out = s.ws.apply_fails(&[]);
    out.assert_contains(&[
        "Held at step 1 (10%): the judge found no verdict",
        "too few requests to compare: 2 on the canary and 900 on the baseline, at least 50 each needed",
        "ecsx_canary_continue",
    ]);
    assert_eq!(s.splits().await[0], (90, 10), "traffic stays at the step");
    let st = s.state();
    assert_eq!(st["last_release"]["result"], "inconclusive");
    assert_eq!(
        st["last_release"]["step"], 2,
        "waits before what follows step 1"
    );
    // The next plan changes nothing and says what waits.
    let (code, plan) = s.ws.plan_detailed();
    assert_eq!(code, 0, "a held release plans nothing:\n{plan}");
    plan.assert_contains(&["Release waiting for approval", "no verdict"]);
    // A person judges: continuing walks on, here to the promotion.
    let out = s.ws.ok(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        "-invoke=action.ecsx_canary_continue.web",
    ]);
    out.assert_contains(&["approving step 2"]);
    assert_eq!(s.splits().await, [(0, 100), (0, 100), (0, 100)]);
    let (code, plan) = s.ws.plan_detailed();
    assert_eq!(code, 0, "the next plan keeps what the action did:\n{plan}");
}

async fn a_metric_cloudwatch_does_not_answer_in_full_never_passes() {
    let s = stack("jpart").await;
    traffic(&s, Scenario::Healthy).await;
    s.emu
        .configure(json!({"metric_data_statuses": {"RequestCount": "InternalError"}}));
    // even on_inconclusive = "pass" does not let an unread window through: it holds
    s.deploy(&release(&s, "pass"));
    let out = s.ws.apply_fails(&[]);
    out.assert_contains(&[
        "Held at step 1 (10%): the judge found no verdict",
        "CloudWatch did not answer RequestCount of jpart-green",
        "(InternalError)",
    ]);
    assert_eq!(s.splits().await[0], (90, 10));
    assert_eq!(s.state()["last_release"]["result"], "inconclusive");
}

async fn a_failed_get_metric_data_call_stops_the_release_unjudged() {
    let s = applied(Stack::with_proxy("jdeny", 1, &[]).await).await;
    s.emu
        .configure(json!({"stabilize_seconds": 1, "drain_seconds": 1}));
    traffic(&s, Scenario::Healthy).await;
    s.proxy().faults(json!([{
        "operation": "cloudwatch.GetMetricData", "kind": "access_denied"
    }]));
    s.deploy(&release(&s, "pass"));
    let out = s.ws.apply_fails(&[]);
    out.assert_contains(&[
        "Stopped at step 1 (10%): the release is not judged",
        "the judge could not read CloudWatch",
    ]);
    assert_eq!(s.splits().await[0], (90, 10), "traffic stays at the step");
    let st = s.state();
    assert_eq!(st["last_release"]["result"], "interrupted");
    assert_eq!(st["canary_weight"], 10);
}

async fn a_metric_query_of_your_own_fails_a_release() {
    let s = stack("jq").await;
    traffic(&s, Scenario::FiveXxHeavy).await;
    let green = GroupOn::new(s.green(), &s.infra.load_balancer_arn).dimensions();
    let dims: Vec<String> = green
        .iter()
        .map(|d| {
            format!(
                "{} = {:?}",
                d.name().unwrap_or_default(),
                d.value().unwrap_or_default()
            )
        })
        .collect();
    let analysis = format!(
        "  analysis {{\n    check_interval     = \"5s\"\n    window             = \"1m\"\n    delay              = \"0s\"\n    inconclusive_limit = \"0s\"\n    metric_query {{\n      name        = \"green 5xx\"\n      namespace   = \"AWS/ApplicationELB\"\n      metric_name = \"HTTPCode_Target_5XX_Count\"\n      dimensions  = {{ {} }}\n      stat        = \"Sum\"\n      threshold   = 1\n    }}\n  }}\n",
        dims.join(", ")
    );
    s.deploy(&CanaryConfig::new(&s.infra).extra(&analysis).canary_steps(
        &s.td(1),
        &[(10, "1s")],
        1,
    ));
    let out = s.ws.apply_fails(&[]);
    out.assert_contains(&[
        "Release rolled back at step 1 (10% to the canary): metric_query \"green 5xx\" is 4 (> 1 fails)",
    ]);
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
    assert_eq!(s.state()["last_release"]["result"], "rolled_back");
}

async fn a_canary_failing_on_test_traffic_never_gets_production_traffic() {
    let s = stack("jtest").await;
    traffic(&s, Scenario::FiveXxHeavy).await;
    let judged = analysis("hold").replace(
        "    compare {",
        "    judge_test_traffic = \"0s\"\n    compare {",
    );
    s.deploy(
        &CanaryConfig::new(&s.infra)
            .extra(&judged)
            .canary_steps(&s.td(1), &[(10, "1s")], 1),
    );
    let after = planned_after(&s.ws.plan_json(), ADDR);
    let steps = rollout_steps(&after);
    assert!(
        steps.contains(&"step 0: bake until the judge's first verdict on test traffic only, 0% of production".to_string())
            && steps.contains(&"step 0: judging tg jtest-green (test traffic) against tg jtest-blue on load balancer jtest-alb (error rate at most +1 point, p99 at most 1.5x, at least 50 requests each), per 1m window ending 0s before now".to_string()),
        "{steps:#?}"
    );
    let out = s.ws.apply_fails(&[]);
    out.assert_contains(&[
        "Release rolled back on test traffic, before step 1: error rate 4.00% on the canary vs 1.00% on the baseline",
    ]);
    // Production never moved; test traffic is back on the stable task set's group.
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
    let st = s.state();
    assert_eq!(st["last_release"]["result"], "rolled_back");
    assert_eq!(st["canary_task_set_id"], json!(null));
}
