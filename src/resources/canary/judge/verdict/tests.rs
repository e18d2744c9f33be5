use super::*;
use crate::metric_data::{Series, Source};
use crate::resources::canary::judge::config::{Compare, MetricCheck};
use crate::resources::canary::judge::queries::Group;
use std::collections::BTreeMap;

const TG_GREEN: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-green/73e2d6bc24d8a067";
const TG_BLUE: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-blue/6d0ecf831eec9f09";
const LB: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188";
const LB2: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/internal/9f3c1a2b3c4d5e6f";

/// 2026-12-07 15:00:00 UTC.
const T0: i64 = 1_796_655_600;
const W: Window = Window {
    start: T0,
    end: T0 + 300,
};

fn subject(lbs: usize) -> Subject {
    let lbs: Vec<String> = [LB, LB2][..lbs].iter().map(|s| s.to_string()).collect();
    Subject {
        canary: Group {
            target_group_arn: TG_GREEN.into(),
            load_balancer_arns: lbs.clone(),
        },
        baseline: Group {
            target_group_arn: TG_BLUE.into(),
            load_balancer_arns: lbs,
        },
    }
}

fn compare() -> Judge {
    Judge {
        compare: Some(Compare::default()),
        inconclusive_limit: Duration::from_secs(600),
        ..Judge::default()
    }
}

/// Per-minute traffic of one group on one load balancer: (requests, 5xx, p99 seconds) for
/// each minute of W; None: no point that minute (no traffic).
struct Minutes(Vec<Option<(f64, f64, f64)>>);

fn steady(requests: f64, errors: f64, p99: f64) -> Minutes {
    Minutes(vec![Some((requests, errors, p99)); 5])
}

fn series(points: Vec<(i64, f64)>) -> Series {
    Series {
        status: Status::Complete,
        points: points.into_iter().collect::<BTreeMap<_, _>>(),
        messages: Vec::new(),
    }
}

fn put(answers: &mut Answers, role: Role, lb: usize, m: &Minutes) {
    let at = |i: usize| T0 + 60 * i as i64;
    let pick = |f: fn(&(f64, f64, f64)) -> f64| -> Vec<(i64, f64)> {
        m.0.iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (at(i), f(p))))
            .collect()
    };
    answers.insert(id(role, lb, "req"), series(pick(|p| p.0)));
    // ELB reports a count only when it is not zero
    answers.insert(
        id(role, lb, "err"),
        series(pick(|p| p.1).into_iter().filter(|p| p.1 > 0.0).collect()),
    );
    answers.insert(id(role, lb, "conn"), series(vec![]));
    answers.insert(id(role, lb, "p99"), series(pick(|p| p.2)));
    answers.insert(id(role, lb, "unh"), series(vec![]));
}

fn answers(canary: &Minutes, baseline: &Minutes) -> Answers {
    let mut a = Answers::new();
    put(&mut a, Role::Canary, 0, canary);
    put(&mut a, Role::Baseline, 0, baseline);
    a
}

#[test]
fn windows_end_the_delay_before_the_current_minute_and_start_after_the_step() {
    let five = Duration::from_secs(300);
    let three = Duration::from_secs(180);
    // now 15:20:42, step since 15:05:10: window 15:12-15:17
    let now = T0 + 20 * 60 + 42;
    assert_eq!(
        window(now, T0 + 5 * 60 + 10, five, three),
        Ok(Window {
            start: T0 + 12 * 60,
            end: T0 + 17 * 60
        })
    );
    // step since 15:13:10: the first whole minute is 15:14, so 15:14-15:19 is the first
    // window, readable from 15:22
    assert_eq!(
        window(now, T0 + 13 * 60 + 10, five, three),
        Err(T0 + 22 * 60)
    );
    // a step that began on a minute boundary counts that minute
    assert!(window(T0 + 8 * 60, T0, five, three).is_ok());
    assert_eq!(window(T0 + 8 * 60 - 1, T0, five, three), Err(T0 + 8 * 60));
    assert_eq!(W.label(), "15:00-15:05 UTC");
}

#[test]
fn the_scenarios() {
    // (name, canary, baseline, outcome, text the summary must hold)
    let cases: Vec<(&str, Minutes, Minutes, Outcome, &str)> = vec![
        (
            "healthy canary",
            steady(100.0, 1.0, 0.20),
            steady(900.0, 9.0, 0.21),
            Outcome::Pass,
            "PASS: canary web-green 1.00% errors (5 5XX + 0 failed connections in 500 requests, p99 200 ms); baseline web-blue 1.00% errors (45 5XX + 0 failed connections in 4500 requests, p99 210 ms): window 15:00-15:05 UTC",
        ),
        (
            "5xx-heavy canary: 4% against 1%",
            steady(100.0, 4.0, 0.20),
            steady(900.0, 9.0, 0.20),
            Outcome::Fail,
            "FAIL: error rate 4.00% on the canary vs 1.00% on the baseline: 3.00 points above it, at most 1 allowed",
        ),
        (
            "slow canary: p99 twice the baseline's",
            steady(100.0, 0.0, 0.40),
            steady(900.0, 0.0, 0.20),
            Outcome::Fail,
            "p99 response time 400 ms on the canary vs 200 ms on the baseline: 2.00x, at most 1.5x allowed",
        ),
        (
            "sparse traffic: 3 requests, 1 error",
            Minutes(vec![Some((2.0, 1.0, 0.2)), None, None, Some((1.0, 0.0, 0.2)), None]),
            steady(900.0, 0.0, 0.20),
            Outcome::Inconclusive,
            "too few requests to compare: 3 on the canary and 4500 on the baseline, at least 100 each needed",
        ),
        (
            "missing minutes are no traffic, not missing errors",
            Minutes(vec![Some((60.0, 0.0, 0.2)), None, Some((60.0, 0.0, 0.2)), None, None]),
            steady(900.0, 9.0, 0.20),
            Outcome::Pass,
            "canary web-green 0.00% errors (0 5XX + 0 failed connections in 120 requests",
        ),
        (
            "within the allowed delta",
            steady(100.0, 1.9, 0.29),
            steady(900.0, 9.0, 0.20),
            Outcome::Pass,
            "PASS",
        ),
    ];
    for (name, canary, baseline, outcome, text) in cases {
        let v = judge(&compare(), &subject(1), W, &answers(&canary, &baseline));
        assert_eq!(v.outcome, outcome, "{name}: {}", v.summary());
        assert!(
            v.summary().contains(text),
            "{name}: {:?} lacks {text:?}",
            v.summary()
        );
    }
}

#[test]
fn an_incomplete_series_is_never_judged_on_what_came_back() {
    for status in [
        Status::PartialData,
        Status::InternalError,
        Status::Forbidden,
    ] {
        // the partial answer would look like a 50% error rate
        let mut a = answers(&steady(100.0, 50.0, 0.2), &steady(900.0, 0.0, 0.2));
        a.get_mut("c0_req").unwrap().status = status.clone();
        let v = judge(&compare(), &subject(1), W, &a);
        assert_eq!(v.outcome, Outcome::Inconclusive, "{status:?}");
        assert!(
            v.summary().contains(&format!(
                "CloudWatch did not answer RequestCount of web-green on app/web/50dc6c495c0c9188 in full ({})",
                status.as_str()
            )),
            "{}",
            v.summary()
        );
        // ...and on_inconclusive = "pass" never lets it through
        let pass = Judge {
            on_inconclusive: OnInconclusive::Pass,
            ..compare()
        };
        assert_eq!(
            after_check(&v, true, Duration::from_secs(600), &pass),
            BakeMove::Hold
        );
    }
    let mut a = answers(&steady(100.0, 0.0, 0.2), &steady(900.0, 0.0, 0.2));
    a.remove("b0_p99");
    let v = judge(&compare(), &subject(1), W, &a);
    assert_eq!(v.outcome, Outcome::Inconclusive);
    assert!(v.summary().contains("(no result)"), "{}", v.summary());
}

#[test]
fn several_load_balancers_add_up_per_target_group() {
    let mut a = answers(&steady(10.0, 0.0, 0.2), &steady(500.0, 0.0, 0.2));
    // the canary's second load balancer carries most of its traffic, and its errors
    put(&mut a, Role::Canary, 1, &steady(90.0, 5.0, 0.4));
    put(&mut a, Role::Baseline, 1, &steady(400.0, 4.0, 0.2));
    let v = judge(&compare(), &subject(2), W, &a);
    let c = v.canary.as_ref().unwrap();
    assert_eq!((c.requests, c.target_5xx), (500.0, 25.0));
    assert_eq!(c.error_rate, Some(5.0));
    // p99 weighted by each minute's requests: (10 x 0.2 + 90 x 0.4) / 100
    assert!((c.p99.unwrap() - 0.38).abs() < 1e-9, "{:?}", c.p99);
    assert_eq!(c.minutes_with_traffic, 5);
    let b = v.baseline.as_ref().unwrap();
    assert_eq!((b.requests, b.error_rate), (4500.0, Some(20.0 / 45.0)));
    assert_eq!(v.outcome, Outcome::Fail, "{}", v.summary());
    // one group's traffic alone on either load balancer would pass: 0% on the first
    let v = judge(&compare(), &subject(1), W, &a);
    assert_eq!(
        v.outcome,
        Outcome::Inconclusive,
        "10 x 5 = 50 requests only"
    );
}

#[test]
fn failed_connections_count_as_errors_and_unhealthy_hosts_are_shown() {
    let mut a = answers(&steady(100.0, 0.0, 0.2), &steady(900.0, 0.0, 0.2));
    a.insert(
        "c0_conn".into(),
        series((0..5).map(|i| (T0 + 60 * i, 10.0)).collect()),
    );
    a.insert("c0_unh".into(), series(vec![(T0, 1.0), (T0 + 60, 2.0)]));
    let v = judge(&compare(), &subject(1), W, &a);
    assert_eq!(v.outcome, Outcome::Fail);
    let c = v.canary.unwrap();
    assert_eq!(
        (c.connection_errors, c.error_rate, c.unhealthy_hosts),
        (50.0, Some(10.0), Some(2.0))
    );
}

#[test]
fn metric_queries_judge_one_value_per_window() {
    let j = Judge {
        compare: None,
        checks: vec![
            MetricCheck {
                name: "checkout errors".into(),
                source: Source::Expression("SUM(METRICS())".into()),
                threshold: 5.0,
                comparison: Comparison::GreaterThan,
            },
            MetricCheck {
                name: "orders".into(),
                source: Source::Expression("m2".into()),
                threshold: 10.0,
                comparison: Comparison::LessThan,
            },
        ],
        ..Judge::default()
    };
    let with = |m0: Option<f64>, m1: Option<f64>| {
        let mut a = Answers::new();
        a.insert(
            "m0".into(),
            series(m0.map(|v| (T0, v)).into_iter().collect()),
        );
        a.insert(
            "m1".into(),
            series(m1.map(|v| (T0, v)).into_iter().collect()),
        );
        judge(&j, &subject(1), W, &a)
    };
    assert_eq!(with(Some(1.0), Some(50.0)).outcome, Outcome::Pass);
    let v = with(Some(7.0), Some(50.0));
    assert_eq!(v.outcome, Outcome::Fail);
    assert!(
        v.summary()
            .contains("metric_query \"checkout errors\" is 7 (> 5 fails)"),
        "{}",
        v.summary()
    );
    let v = with(Some(1.0), Some(3.0));
    assert_eq!(v.outcome, Outcome::Fail, "fewer orders than 10 fails");
    let v = with(Some(1.0), None);
    assert_eq!(v.outcome, Outcome::Inconclusive);
    assert_eq!(
        v.findings,
        [Finding::NoData {
            name: "orders".into()
        }]
    );
    assert_eq!(
        v.checks,
        [
            ("checkout errors".to_string(), Some(1.0)),
            ("orders".to_string(), None)
        ]
    );
    assert!(v.canary.is_none(), "no comparison configured");
}

#[test]
fn what_a_bake_does_with_each_verdict() {
    let pass = judge(
        &compare(),
        &subject(1),
        W,
        &answers(&steady(100.0, 0.0, 0.2), &steady(900.0, 0.0, 0.2)),
    );
    let fail = judge(
        &compare(),
        &subject(1),
        W,
        &answers(&steady(100.0, 9.0, 0.2), &steady(900.0, 0.0, 0.2)),
    );
    let quiet = judge(
        &compare(),
        &subject(1),
        W,
        &answers(&steady(1.0, 0.0, 0.2), &steady(900.0, 0.0, 0.2)),
    );
    let not_yet = Verdict::not_yet(T0);
    let j = |on: OnInconclusive| Judge {
        on_inconclusive: on,
        ..compare()
    };
    let ten = Duration::from_secs(600);
    let one = Duration::from_secs(60);
    use BakeMove::*;
    use OnInconclusive as O;
    // (verdict, pause over, extended, on_inconclusive, move)
    let cases = [
        (&fail, false, Duration::ZERO, O::Hold, RollBack),
        (&pass, false, Duration::ZERO, O::Hold, Continue),
        (&pass, true, Duration::ZERO, O::Hold, Pass),
        (&quiet, false, Duration::ZERO, O::Hold, Continue),
        (&quiet, true, one, O::Hold, Extend),
        (&quiet, true, ten, O::Hold, Hold),
        (&quiet, true, ten, O::Fail, RollBack),
        (&quiet, true, ten, O::Pass, Pass),
        (&not_yet, true, ten, O::Pass, Continue),
    ];
    for (i, (v, over, extended, on, want)) in cases.into_iter().enumerate() {
        assert_eq!(
            after_check(v, over, extended, &j(on)),
            want,
            "case {i}: {}",
            v.summary()
        );
    }
    assert_eq!(
        not_yet.summary(),
        "INCONCLUSIVE: no whole window at this weight yet; the first is readable at 15:00 UTC"
    );
}

#[test]
fn a_settled_window_that_passed_is_not_read_again() {
    let j = compare();
    let s = subject(1);
    let pass = judge(
        &j,
        &s,
        W,
        &answers(&steady(100.0, 1.0, 0.20), &steady(900.0, 9.0, 0.21)),
    );
    assert_eq!(pass.outcome, Outcome::Pass);
    let minutes = |m: u64| Duration::from_secs(60 * m);
    assert!(pass.stands_for(&W, minutes(3)));
    // read sooner than a minute after its end: late points may still land
    assert!(!pass.stands_for(&W, minutes(0)));
    // the next window is read
    let next = Window {
        start: W.start + 60,
        end: W.end + 60,
    };
    assert!(!pass.stands_for(&next, minutes(3)));
    // no verdict yet: read again
    let thin = judge(
        &j,
        &s,
        W,
        &answers(&steady(2.0, 0.0, 0.20), &steady(900.0, 9.0, 0.21)),
    );
    assert_eq!(thin.outcome, Outcome::Inconclusive);
    assert!(!thin.stands_for(&W, minutes(3)));
}
