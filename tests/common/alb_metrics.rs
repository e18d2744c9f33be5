//! ALB-style CloudWatch points for the judge's tests: what Elastic Load Balancing publishes
//! per target group and load balancer each minute (`AWS/ApplicationELB`, dimensions
//! `TargetGroup` + `LoadBalancer`), written with PutMetricData at minutes a test chooses.
//!
//! Time is injected: a [`Clock`] is the "now" the test reasons in, and every point is
//! written at a minute relative to it, so a test publishes ten minutes of history at once
//! instead of waiting for them. `Clock::system()` is the real now, for runs where the
//! provider reads CloudWatch with its own clock.

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_cloudwatch::Client;
use std::time::{SystemTime, UNIX_EPOCH};

pub const NAMESPACE: &str = "AWS/ApplicationELB";

/// The "now" of a test, in seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub now: i64,
}

impl Clock {
    pub fn at(now: i64) -> Clock {
        Clock { now }
    }

    pub fn system() -> Clock {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        Clock { now }
    }

    /// The start of the minute `back` minutes before the current one.
    pub fn minute(&self, back: i64) -> i64 {
        self.now.div_euclid(60) * 60 - back * 60
    }
}

/// One target group behind one load balancer, by ARN.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupOn {
    pub target_group_arn: String,
    pub load_balancer_arn: String,
}

impl GroupOn {
    pub fn new(target_group_arn: &str, load_balancer_arn: &str) -> GroupOn {
        GroupOn {
            target_group_arn: target_group_arn.into(),
            load_balancer_arn: load_balancer_arn.into(),
        }
    }

    /// `TargetGroup=targetgroup/NAME/ID`, `LoadBalancer=app/NAME/ID`: the ARN suffixes.
    pub fn dimensions(&self) -> Vec<Dimension> {
        let suffix = |arn: &str, after: &str| -> String {
            let resource = arn.splitn(6, ':').nth(5).unwrap_or(arn);
            resource.strip_prefix(after).unwrap_or(resource).to_string()
        };
        vec![
            Dimension::builder()
                .name("TargetGroup")
                .value(suffix(&self.target_group_arn, ""))
                .build(),
            Dimension::builder()
                .name("LoadBalancer")
                .value(suffix(&self.load_balancer_arn, "loadbalancer/"))
                .build(),
        ]
    }
}

/// One minute of one target group's traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct Minute {
    pub requests: u32,
    pub target_5xx: u32,
    pub connection_errors: u32,
    /// Every request's response time, as (seconds, how many requests took it).
    pub response_times: Vec<(f64, u32)>,
    pub unhealthy_hosts: u32,
}

impl Minute {
    /// `requests` answered, 99% in 50 ms and 1% (at least one) in 200 ms: a nearest-rank p99
    /// of 50 ms from 100 requests up ([`Minute::p99`]).
    pub fn healthy(requests: u32) -> Minute {
        let slow = (requests / 100).max(1).min(requests);
        Minute {
            requests,
            target_5xx: 0,
            connection_errors: 0,
            response_times: vec![(0.05, requests - slow), (0.2, slow)],
            unhealthy_hosts: 0,
        }
    }

    /// `percent` of the requests answered 5XX by the targets.
    pub fn with_5xx_percent(mut self, percent: f64) -> Minute {
        self.target_5xx = (self.requests as f64 * percent / 100.0).round() as u32;
        self
    }

    /// Every response `factor` times slower.
    pub fn slower(mut self, factor: f64) -> Minute {
        for (t, _) in &mut self.response_times {
            *t *= factor;
        }
        self
    }

    pub fn with_connection_errors(mut self, n: u32) -> Minute {
        self.connection_errors = n;
        self
    }

    pub fn with_unhealthy_hosts(mut self, n: u32) -> Minute {
        self.unhealthy_hosts = n;
        self
    }

    /// The nearest-rank p99 of the response times (what the rig's percentile patch answers).
    pub fn p99(&self) -> Option<f64> {
        let mut all: Vec<f64> = self
            .response_times
            .iter()
            .flat_map(|(t, n)| std::iter::repeat_n(*t, *n as usize))
            .collect();
        all.sort_by(f64::total_cmp);
        let rank = (0.99 * all.len() as f64).ceil() as usize;
        all.get(rank.max(1) - 1).copied()
    }
}

/// The traffic shapes of the judge's tests, per minute for (canary, baseline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Both groups answer alike: 100 and 900 requests a minute, no errors.
    Healthy,
    /// The canary answers 4% 5XX, the baseline 1%: 3 points above.
    FiveXxHeavy,
    /// The canary's responses take twice as long.
    Slow,
    /// The canary sees 2 requests a minute.
    Sparse,
}

impl Scenario {
    pub fn minute(self) -> (Minute, Minute) {
        match self {
            Scenario::Healthy => (Minute::healthy(100), Minute::healthy(900)),
            Scenario::FiveXxHeavy => (
                Minute::healthy(100).with_5xx_percent(4.0),
                Minute::healthy(900).with_5xx_percent(1.0),
            ),
            Scenario::Slow => (Minute::healthy(100).slower(2.0), Minute::healthy(900)),
            Scenario::Sparse => (Minute::healthy(2), Minute::healthy(900)),
        }
    }
}

/// Publishes ALB points the way ELB does: each metric only when it has something to say
/// (counts when not zero, response times when there were requests).
pub struct AlbMetrics {
    cw: Client,
}

impl AlbMetrics {
    pub fn new(cw: &Client) -> AlbMetrics {
        AlbMetrics { cw: cw.clone() }
    }

    /// One minute of `group`'s traffic, stamped inside the minute starting at `at`.
    pub async fn publish(&self, group: &GroupOn, at: i64, m: &Minute) {
        let stamp = aws_smithy_types::DateTime::from_secs(at + 30);
        let dims = group.dimensions();
        let datum = |name: &str, unit: StandardUnit| {
            MetricDatum::builder()
                .metric_name(name)
                .set_dimensions(Some(dims.clone()))
                .timestamp(stamp)
                .unit(unit)
        };
        let mut data = Vec::new();
        for (name, n) in [
            ("RequestCount", m.requests),
            ("HTTPCode_Target_5XX_Count", m.target_5xx),
            ("TargetConnectionErrorCount", m.connection_errors),
        ] {
            if n > 0 {
                data.push(datum(name, StandardUnit::Count).value(n as f64).build());
            }
        }
        let timed: Vec<&(f64, u32)> = m.response_times.iter().filter(|(_, n)| *n > 0).collect();
        if m.requests > 0 && !timed.is_empty() {
            data.push(
                datum("TargetResponseTime", StandardUnit::Seconds)
                    .set_values(Some(timed.iter().map(|(t, _)| *t).collect()))
                    .set_counts(Some(timed.iter().map(|(_, n)| *n as f64).collect()))
                    .build(),
            );
        }
        if m.unhealthy_hosts > 0 {
            data.push(
                datum("UnHealthyHostCount", StandardUnit::Count)
                    .value(m.unhealthy_hosts as f64)
                    .build(),
            );
        }
        if data.is_empty() {
            return;
        }
        self.cw
            .put_metric_data()
            .namespace(NAMESPACE)
            .set_metric_data(Some(data))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutMetricData for {group:?} at {at}: {e:?}"));
    }

    /// `scenario` for both groups over the minutes `back` (oldest first) before `clock`'s
    /// current minute, e.g. `3..=12` for the ten minutes that end three minutes ago.
    pub async fn publish_scenario(
        &self,
        clock: Clock,
        canary: &GroupOn,
        baseline: &GroupOn,
        scenario: Scenario,
        back: std::ops::RangeInclusive<i64>,
    ) {
        let (c, b) = scenario.minute();
        for minute in back.rev() {
            self.publish(canary, clock.minute(minute), &c).await;
            self.publish(baseline, clock.minute(minute), &b).await;
        }
    }
}
