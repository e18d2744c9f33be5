//! The built-in judge against CloudWatch (the patched moto emulator): ALB-style points
//! published per minute for both target groups on an injected clock, read back with one
//! GetMetricData per check (src/aws/metrics.rs, through the AWS SDK for Rust and its RPC v2
//! CBOR), and turned into PASS / FAIL / INCONCLUSIVE with both groups' figures.

mod common;

use common::{AlbMetrics, Aws, Clock, Emulator, GroupOn, Minute, Scenario};
use ecsx::aws::metrics;
use ecsx::resources::canary::judge::{self, Compare, Group, Judge, Outcome, Subject, Verdict};
use serde_json::json;
use std::time::Duration;

const ACCOUNT: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012";

fn tg(name: &str) -> String {
    format!("{ACCOUNT}:targetgroup/{name}/73e2d6bc24d8a067")
}

fn lb(name: &str) -> String {
    format!("{ACCOUNT}:loadbalancer/app/{name}/50dc6c495c0c9188")
}

/// The canary group `<name>-green` and the baseline `<name>-blue`, both behind `lbs`.
fn subject(name: &str, lbs: &[&str]) -> Subject {
    let group = |color: &str| Group {
        target_group_arn: tg(&format!("{name}-{color}")),
        load_balancer_arns: lbs.iter().map(|l| lb(l)).collect(),
    };
    Subject {
        canary: group("green"),
        baseline: group("blue"),
    }
}

fn on(s: &Subject, lb: usize) -> (GroupOn, GroupOn) {
    (
        GroupOn::new(&s.canary.target_group_arn, &s.canary.load_balancer_arns[lb]),
        GroupOn::new(
            &s.baseline.target_group_arn,
            &s.baseline.load_balancer_arns[lb],
        ),
    )
}

fn compare() -> Judge {
    Judge {
        compare: Some(Compare::default()),
        ..Judge::default()
    }
}

/// One check at `clock`: the newest readable window of a step that began 20 minutes ago.
async fn check(aws: &Aws, j: &Judge, s: &Subject, clock: Clock) -> Verdict {
    let w = judge::window(clock.now, clock.minute(20), j.window(), j.delay())
        .expect("a whole window at this step");
    let queries = judge::queries(j, s).expect("queries");
    let answers = metrics::read(&aws.cloudwatch, &queries, w.start, w.end)
        .await
        .expect("GetMetricData");
    judge::judge(j, s, w, &answers)
}

struct Rig {
    emu: Emulator,
    aws: Aws,
    alb: AlbMetrics,
    /// A fixed "now" in the middle of a minute, an hour ago: nothing waits for real minutes.
    clock: Clock,
}

async fn rig() -> Rig {
    let emu = Emulator::start();
    let aws = Aws::connect(&emu).await;
    let alb = AlbMetrics::new(&aws.cloudwatch);
    let clock = Clock::at(Clock::system().minute(60) + 25);
    Rig {
        emu,
        aws,
        alb,
        clock,
    }
}

#[tokio::test]
async fn each_scenario_gets_its_verdict_with_both_groups_figures() {
    let r = rig().await;
    let cases = [
        (Scenario::Healthy, Outcome::Pass, "PASS"),
        (
            Scenario::FiveXxHeavy,
            Outcome::Fail,
            "FAIL: error rate 4.00% on the canary vs 1.00% on the baseline: 3.00 points above it, at most 1 allowed",
        ),
        (
            Scenario::Slow,
            Outcome::Fail,
            "p99 response time 100 ms on the canary vs 50 ms on the baseline: 2.00x, at most 1.5x allowed",
        ),
        (
            Scenario::Sparse,
            Outcome::Inconclusive,
            "too few requests to compare: 10 on the canary and 4500 on the baseline, at least 100 each needed",
        ),
    ];
    for (scenario, outcome, text) in cases {
        let s = subject(&format!("{scenario:?}").to_lowercase(), &["web"]);
        let (c, b) = on(&s, 0);
        // the ten minutes up to the delay, and the newest (still filling) ones too
        r.alb
            .publish_scenario(r.clock, &c, &b, scenario, 0..=12)
            .await;
        let v = check(&r.aws, &compare(), &s, r.clock).await;
        assert_eq!(v.outcome, outcome, "{scenario:?}: {}", v.summary());
        assert!(v.summary().contains(text), "{scenario:?}: {}", v.summary());
        let w = v.window.expect("a window");
        assert_eq!(
            (w.start, w.end),
            (r.clock.minute(8), r.clock.minute(3)),
            "five minutes ending three before the current one"
        );
        let canary = v.canary.as_ref().expect("canary figures");
        assert_eq!(
            canary.target_group,
            format!("{}-green", format!("{scenario:?}").to_lowercase())
        );
        assert_eq!(canary.minutes_with_traffic, 5);
    }
}

#[tokio::test]
async fn a_missing_minute_is_no_traffic_and_late_minutes_count_once_they_land() {
    let r = rig().await;
    let s = subject("late", &["web"]);
    let (c, b) = on(&s, 0);
    let bad = Minute::healthy(60).with_5xx_percent(10.0);
    for back in [4, 5, 6, 7] {
        r.alb
            .publish(&b, r.clock.minute(back), &Minute::healthy(600))
            .await;
    }
    // the canary's traffic of minute 7 back is there; 4 to 6 back are late
    r.alb.publish(&c, r.clock.minute(7), &bad).await;
    let v = check(&r.aws, &compare(), &s, r.clock).await;
    assert_eq!(v.outcome, Outcome::Inconclusive, "{}", v.summary());
    assert!(v.summary().contains("60 on the canary"), "{}", v.summary());
    for back in [4, 5, 6] {
        r.alb.publish(&c, r.clock.minute(back), &bad).await;
    }
    let v = check(&r.aws, &compare(), &s, r.clock).await;
    assert_eq!(v.outcome, Outcome::Fail, "{}", v.summary());
    let canary = v.canary.unwrap();
    // minute 8 back (the window's first) had no traffic: it adds nothing, not a zero-error minute
    assert_eq!(
        (
            canary.requests,
            canary.target_5xx,
            canary.minutes_with_traffic
        ),
        (240.0, 24.0, 4)
    );
}

#[tokio::test]
async fn a_read_cloudwatch_does_not_answer_in_full_never_passes() {
    let r = rig().await;
    let s = subject("partial", &["web"]);
    let (c, b) = on(&s, 0);
    r.alb
        .publish_scenario(r.clock, &c, &b, Scenario::Healthy, 3..=12)
        .await;
    assert_eq!(
        check(&r.aws, &compare(), &s, r.clock).await.outcome,
        Outcome::Pass
    );
    for status in ["PartialData", "InternalError", "Forbidden"] {
        r.emu
            .configure(json!({"metric_data_statuses": {"TargetResponseTime": status}}));
        let v = check(&r.aws, &compare(), &s, r.clock).await;
        assert_eq!(
            v.outcome,
            Outcome::Inconclusive,
            "{status}: {}",
            v.summary()
        );
        assert!(
            v.summary().contains(&format!(
                "CloudWatch did not answer TargetResponseTime of partial-green on app/web/50dc6c495c0c9188 in full ({status})"
            )),
            "{}",
            v.summary()
        );
        let pass_anyway = Judge {
            on_inconclusive: judge::OnInconclusive::Pass,
            ..compare()
        };
        assert_eq!(
            judge::after_check(&v, true, Duration::from_secs(3600), &pass_anyway),
            judge::BakeMove::Hold,
            "{status}"
        );
    }
}

#[tokio::test]
async fn pages_are_followed_and_load_balancers_add_up() {
    let r = rig().await;
    let s = subject("paged", &["web", "internal"]);
    let (c0, b0) = on(&s, 0);
    let (c1, b1) = on(&s, 1);
    r.alb
        .publish_scenario(r.clock, &c0, &b0, Scenario::Healthy, 3..=12)
        .await;
    // the canary's errors are all on the second load balancer: 30 of 300 requests there
    for back in 3..=12 {
        r.alb
            .publish(
                &c1,
                r.clock.minute(back),
                &Minute::healthy(60).with_5xx_percent(10.0),
            )
            .await;
        r.alb
            .publish(&b1, r.clock.minute(back), &Minute::healthy(60))
            .await;
    }
    let whole = check(&r.aws, &compare(), &s, r.clock).await;
    // 20 queries x up to 5 points: 7 points a page takes many pages
    r.emu.configure(json!({"metric_data_page_points": 7}));
    let paged = check(&r.aws, &compare(), &s, r.clock).await;
    assert_eq!(paged, whole, "pages merge into the same answer");
    assert_eq!(whole.outcome, Outcome::Fail, "{}", whole.summary());
    let canary = whole.canary.unwrap();
    assert_eq!((canary.requests, canary.target_5xx), (800.0, 30.0));
    assert_eq!(whole.baseline.unwrap().requests, 4800.0);
}

#[tokio::test]
async fn a_metric_query_reads_the_whole_window_as_one_point() {
    let r = rig().await;
    let s = subject("query", &["web"]);
    let (c, b) = on(&s, 0);
    r.alb
        .publish_scenario(r.clock, &c, &b, Scenario::FiveXxHeavy, 3..=12)
        .await;
    let dims = c
        .dimensions()
        .iter()
        .map(|d| {
            (
                d.name().unwrap_or_default().to_string(),
                d.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let j = Judge {
        checks: vec![judge::MetricCheck {
            name: "green 5xx".into(),
            source: ecsx::metric_data::Source::Stat {
                namespace: "AWS/ApplicationELB".into(),
                metric: "HTTPCode_Target_5XX_Count".into(),
                dimensions: dims,
                stat: "Sum".into(),
            },
            threshold: 1.0,
            comparison: judge::Comparison::GreaterThan,
        }],
        ..Judge::default()
    };
    let v = check(&r.aws, &j, &s, r.clock).await;
    // 4 errors a minute over the five minutes of the window
    assert_eq!(
        v.checks,
        [("green 5xx".to_string(), Some(20.0))],
        "{}",
        v.summary()
    );
    assert_eq!(v.outcome, Outcome::Fail);
}
