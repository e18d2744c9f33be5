//! Windows, figures and verdicts: the series of one check turned into PASS, FAIL or
//! INCONCLUSIVE with both groups' numbers, and what a bake does with a verdict.
//!
//! Rules, in order: a series CloudWatch did not answer in full (a status other than
//! `Complete`) makes the comparison INCONCLUSIVE and is never judged on what did come back;
//! fewer than `min_requests` on either group is INCONCLUSIVE (one error in three requests is
//! not a 33% error rate); then FAIL when the canary's error rate is more than
//! `error_rate_max_delta` points above the baseline's, or its p99 more than
//! `latency_p99_max_ratio` times the baseline's. Each `metric_query` is judged on its own:
//! no point in the window is INCONCLUSIVE, a point on the bad side of its threshold is FAIL.

use super::config::{Comparison, Judge, OnInconclusive};
use super::queries::{check_id, id, Role, Subject, SERIES};
use crate::metric_data::{Answers, Status};
use std::time::Duration;

/// A window of whole minutes, `[start, end)` in seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: i64,
    pub end: i64,
}

fn clock(t: i64) -> String {
    let s = t.rem_euclid(86_400);
    format!("{:02}:{:02}", s / 3600, s % 3600 / 60)
}

impl Window {
    /// `15:01-15:06 UTC`.
    pub fn label(&self) -> String {
        format!("{}-{} UTC", clock(self.start), clock(self.end))
    }
}

const MINUTE: i64 = 60;

/// The newest window a check can judge at `now`: it ends `delay` before the current minute
/// began (CloudWatch's newest minutes are still filling) and starts no earlier than the first
/// whole minute after `since`, when the step's traffic moved. Err: the time (seconds since
/// the epoch) the first such window becomes readable.
pub fn window(now: i64, since: i64, length: Duration, delay: Duration) -> Result<Window, i64> {
    let length = length.as_secs() as i64;
    let delay = delay.as_secs() as i64;
    let end = now.div_euclid(MINUTE) * MINUTE - delay;
    let start = end - length;
    let first = (since + MINUTE - 1).div_euclid(MINUTE) * MINUTE;
    if start < first {
        return Err(first + length + delay);
    }
    Ok(Window { start, end })
}

/// One target group's figures over a window, summed over its load balancers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Figures {
    pub target_group: String,
    pub requests: f64,
    pub target_5xx: f64,
    pub connection_errors: f64,
    /// Errors (target 5XX plus failed connections) per request, in percent; None without
    /// requests.
    pub error_rate: Option<f64>,
    /// p99 response time in seconds: each minute's p99, weighted by its requests (CloudWatch
    /// cannot merge percentiles across load balancers or minutes; this is the closest
    /// figure). None without response times.
    pub p99: Option<f64>,
    /// The most unhealthy targets any minute reported; None when none was reported.
    pub unhealthy_hosts: Option<f64>,
    /// Minutes of the window with any request.
    pub minutes_with_traffic: usize,
}

impl Figures {
    fn describe(&self) -> String {
        let rate = self
            .error_rate
            .map_or("no requests".into(), |r| format!("{r:.2}% errors"));
        let p99 = self
            .p99
            .map_or(String::new(), |p| format!(", p99 {:.0} ms", p * 1000.0));
        format!(
            "{} {rate} ({} 5XX + {} failed connections in {} requests{p99})",
            self.target_group, self.target_5xx, self.connection_errors, self.requests
        )
    }
}

/// What a check found.
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// FAIL: the canary's error rate is too far above the baseline's (percent, points).
    ErrorRate {
        canary: f64,
        baseline: f64,
        max_delta: f64,
    },
    /// FAIL: the canary's p99 is too many times the baseline's (seconds).
    Latency {
        canary: f64,
        baseline: f64,
        max_ratio: f64,
    },
    /// FAIL: a `metric_query` on the bad side of its threshold.
    Metric {
        name: String,
        value: f64,
        threshold: f64,
        comparison: Comparison,
    },
    /// INCONCLUSIVE: too few requests on a group to compare.
    TooFewRequests {
        canary: f64,
        baseline: f64,
        min: u64,
    },
    /// INCONCLUSIVE: CloudWatch did not answer a series in full (PartialData, InternalError,
    /// Forbidden, or no result at all).
    Incomplete { series: String, status: String },
    /// INCONCLUSIVE: a `metric_query` has no point in the window.
    NoData { name: String },
    /// INCONCLUSIVE: no whole window at this step's weight is readable yet.
    NotYet { readable_at: i64 },
}

impl Finding {
    fn fails(&self) -> bool {
        matches!(
            self,
            Finding::ErrorRate { .. } | Finding::Latency { .. } | Finding::Metric { .. }
        )
    }

    /// Whether `on_inconclusive = "pass"` may let this through: only a quiet canary, never a
    /// window CloudWatch did not answer in full.
    fn may_pass(&self) -> bool {
        matches!(self, Finding::TooFewRequests { .. })
    }

    fn describe(&self) -> String {
        match self {
            Finding::ErrorRate { canary, baseline, max_delta } => format!(
                "error rate {canary:.2}% on the canary vs {baseline:.2}% on the baseline: {:.2} points above it, at most {max_delta} allowed",
                canary - baseline
            ),
            Finding::Latency { canary, baseline, max_ratio } => format!(
                "p99 response time {:.0} ms on the canary vs {:.0} ms on the baseline: {:.2}x, at most {max_ratio}x allowed",
                canary * 1000.0,
                baseline * 1000.0,
                canary / baseline
            ),
            Finding::Metric { name, value, threshold, comparison } => format!(
                "metric_query {name:?} is {value} ({} {threshold} fails)",
                comparison.symbol()
            ),
            Finding::TooFewRequests { canary, baseline, min } => format!(
                "too few requests to compare: {canary} on the canary and {baseline} on the baseline, at least {min} each needed"
            ),
            Finding::Incomplete { series, status } => {
                format!("CloudWatch did not answer {series} in full ({status})")
            }
            Finding::NoData { name } => format!("metric_query {name:?} has no data in the window"),
            Finding::NotYet { readable_at } => format!(
                "no whole window at this weight yet; the first is readable at {} UTC",
                clock(*readable_at)
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    Inconclusive,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Inconclusive => "INCONCLUSIVE",
        }
    }
}

/// A check's verdict with the numbers behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub window: Option<Window>,
    pub canary: Option<Figures>,
    pub baseline: Option<Figures>,
    /// Each `metric_query`'s value over the window, by name.
    pub checks: Vec<(String, Option<f64>)>,
    pub findings: Vec<Finding>,
}

impl Verdict {
    /// Whether this verdict still stands for `window`, so a check need not read it again: a
    /// PASS of the same window read at least a minute after its end (`delay`), when
    /// CloudWatch's load balancer minutes have landed. A window read sooner, or one without a
    /// verdict, is read again at every check: late points may change it.
    pub fn stands_for(&self, window: &Window, delay: Duration) -> bool {
        self.outcome == Outcome::Pass
            && self.window.as_ref() == Some(window)
            && delay >= Duration::from_secs(MINUTE as u64)
    }

    fn of(findings: Vec<Finding>) -> Outcome {
        if findings.iter().any(Finding::fails) {
            Outcome::Fail
        } else if findings.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Inconclusive
        }
    }

    /// The verdict of a check made before any whole window is readable.
    pub fn not_yet(readable_at: i64) -> Verdict {
        Verdict {
            outcome: Outcome::Inconclusive,
            window: None,
            canary: None,
            baseline: None,
            checks: Vec::new(),
            findings: vec![Finding::NotYet { readable_at }],
        }
    }

    /// What decided the verdict, in short: the failing findings of a FAIL, else every
    /// finding; "PASS" when nothing was found.
    pub fn headline(&self) -> String {
        let shown: Vec<String> = self
            .findings
            .iter()
            .filter(|f| self.outcome != Outcome::Fail || f.fails())
            .map(Finding::describe)
            .collect();
        if shown.is_empty() {
            self.outcome.as_str().to_string()
        } else {
            shown.join("; ")
        }
    }

    /// One line for logs, errors and `last_release`: the outcome, why, both groups' figures
    /// and the window.
    pub fn summary(&self) -> String {
        let mut parts = vec![self.outcome.as_str().to_string()];
        let shown: Vec<&Finding> = match self.outcome {
            Outcome::Fail => self.findings.iter().filter(|f| f.fails()).collect(),
            _ => self.findings.iter().collect(),
        };
        if !shown.is_empty() {
            parts.push(
                shown
                    .iter()
                    .map(|f| f.describe())
                    .collect::<Vec<_>>()
                    .join("; "),
            );
        }
        if let (Some(c), Some(b)) = (&self.canary, &self.baseline) {
            parts.push(format!(
                "canary {}; baseline {}",
                c.describe(),
                b.describe()
            ));
        }
        if let Some(w) = self.window {
            parts.push(format!("window {}", w.label()));
        }
        parts.join(": ")
    }
}

/// The series of one group over the window, or why they cannot be used.
fn figures(
    answers: &Answers,
    role: Role,
    group: &super::queries::Group,
    w: Window,
) -> (Figures, Vec<Finding>) {
    let label = crate::arn::target_group_label(&group.target_group_arn).to_string();
    let mut f = Figures {
        target_group: label.clone(),
        ..Figures::default()
    };
    let mut incomplete = Vec::new();
    // per minute: requests, and p99 x requests where both are known
    let mut minutes: std::collections::BTreeMap<i64, f64> = std::collections::BTreeMap::new();
    let (mut weighted, mut weight) = (0.0, 0.0);
    for lb in 0..group.load_balancer_arns.len() {
        let lb_label = crate::arn::parse(&group.load_balancer_arns[lb])
            .map(|a| a.resource.trim_start_matches("loadbalancer/").to_string())
            .unwrap_or_default();
        let mut series = |name: &str, metric: &str| -> Vec<(i64, f64)> {
            match answers.get(&id(role, lb, name)) {
                Some(s) if s.status == Status::Complete => s
                    .points
                    .range(w.start..w.end)
                    .map(|(t, v)| (*t, *v))
                    .collect(),
                other => {
                    incomplete.push(Finding::Incomplete {
                        series: format!("{metric} of {label} on {lb_label}"),
                        status: other.map_or("no result".into(), |s| s.status.as_str().to_string()),
                    });
                    Vec::new()
                }
            }
        };
        let [req, err, conn, p99, unh] = SERIES.map(|(name, metric, _)| series(name, metric));
        for (t, v) in &req {
            *minutes.entry(*t).or_default() += v;
        }
        f.requests += req.iter().map(|p| p.1).sum::<f64>();
        f.target_5xx += err.iter().map(|p| p.1).sum::<f64>();
        f.connection_errors += conn.iter().map(|p| p.1).sum::<f64>();
        for (t, p) in &p99 {
            let n = req.iter().find(|r| r.0 == *t).map_or(0.0, |r| r.1);
            weighted += p * n;
            weight += n;
        }
        f.unhealthy_hosts = unh
            .iter()
            .map(|p| p.1)
            .chain(f.unhealthy_hosts)
            .reduce(f64::max);
    }
    f.minutes_with_traffic = minutes.values().filter(|n| **n > 0.0).count();
    if f.requests > 0.0 {
        let errors = (f.target_5xx + f.connection_errors).min(f.requests);
        f.error_rate = Some(errors / f.requests * 100.0);
    }
    if weight > 0.0 {
        f.p99 = Some(weighted / weight);
    }
    (f, incomplete)
}

/// The verdict of one check over window `w`, from the answers of the queries
/// [`super::queries::queries`] built for `judge` and `subject`.
pub fn judge(judge: &Judge, subject: &Subject, w: Window, answers: &Answers) -> Verdict {
    let mut findings = Vec::new();
    let (mut canary, mut baseline) = (None, None);
    if let Some(c) = &judge.compare {
        let (cf, mut ci) = figures(answers, Role::Canary, &subject.canary, w);
        let (bf, bi) = figures(answers, Role::Baseline, &subject.baseline, w);
        ci.extend(bi);
        if !ci.is_empty() {
            findings.extend(ci);
        } else if cf.requests < c.min_requests as f64 || bf.requests < c.min_requests as f64 {
            findings.push(Finding::TooFewRequests {
                canary: cf.requests,
                baseline: bf.requests,
                min: c.min_requests,
            });
        } else {
            let (cr, br) = (cf.error_rate.unwrap_or(0.0), bf.error_rate.unwrap_or(0.0));
            if cr - br > c.error_rate_max_delta {
                findings.push(Finding::ErrorRate {
                    canary: cr,
                    baseline: br,
                    max_delta: c.error_rate_max_delta,
                });
            }
            if let (Some(max), Some(cp), Some(bp)) = (c.latency_p99_max_ratio, cf.p99, bf.p99) {
                if bp > 0.0 && cp / bp > max {
                    findings.push(Finding::Latency {
                        canary: cp,
                        baseline: bp,
                        max_ratio: max,
                    });
                }
            }
        }
        canary = Some(cf);
        baseline = Some(bf);
    }
    let mut checks = Vec::new();
    for (i, check) in judge.checks.iter().enumerate() {
        let value = match answers.get(&check_id(i)) {
            Some(s) if s.status == Status::Complete => {
                // one point per window (the query's period is the window)
                s.points.range(w.start..w.end).map(|(_, v)| *v).next_back()
            }
            other => {
                findings.push(Finding::Incomplete {
                    series: format!("metric_query {:?}", check.name),
                    status: other.map_or("no result".into(), |s| s.status.as_str().to_string()),
                });
                checks.push((check.name.clone(), None));
                continue;
            }
        };
        match value {
            None => findings.push(Finding::NoData {
                name: check.name.clone(),
            }),
            Some(v) if check.comparison.breached(v, check.threshold) => {
                findings.push(Finding::Metric {
                    name: check.name.clone(),
                    value: v,
                    threshold: check.threshold,
                    comparison: check.comparison,
                })
            }
            Some(_) => {}
        }
        checks.push((check.name.clone(), value));
    }
    Verdict {
        outcome: Verdict::of(findings.clone()),
        window: Some(w),
        canary,
        baseline,
        checks,
        findings,
    }
}

/// What a bake does after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BakeMove {
    /// Keep baking (the pause is not over, or no window is readable yet).
    Continue,
    /// The step passed: go on to the next one.
    Pass,
    /// The pause is over without a verdict: bake on, up to `inconclusive_limit`.
    Extend,
    /// Roll back exactly as an alarm in ALARM does.
    RollBack,
    /// Stop at a gate with the verdict as the reason.
    Hold,
}

/// The pure rule of a bake with a judge: FAIL rolls back at once; PASS at the end of the
/// pause goes on; INCONCLUSIVE at the end extends the bake for up to `inconclusive_limit`
/// (`extended`: how long it already has been), then `on_inconclusive` decides.
pub fn after_check(v: &Verdict, pause_over: bool, extended: Duration, judge: &Judge) -> BakeMove {
    match v.outcome {
        Outcome::Fail => BakeMove::RollBack,
        Outcome::Pass if pause_over => BakeMove::Pass,
        Outcome::Pass => BakeMove::Continue,
        Outcome::Inconclusive
            if v.findings
                .iter()
                .any(|f| matches!(f, Finding::NotYet { .. })) =>
        {
            BakeMove::Continue
        }
        Outcome::Inconclusive if !pause_over => BakeMove::Continue,
        Outcome::Inconclusive if extended < judge.inconclusive_limit => BakeMove::Extend,
        Outcome::Inconclusive => match judge.on_inconclusive {
            OnInconclusive::Hold => BakeMove::Hold,
            OnInconclusive::Fail => BakeMove::RollBack,
            OnInconclusive::Pass if v.findings.iter().all(Finding::may_pass) => BakeMove::Pass,
            OnInconclusive::Pass => BakeMove::Hold,
        },
    }
}

#[cfg(test)]
mod tests;
