//! The judge's settings in the `analysis` block, typed and checked once: `compare`,
//! `metric_query` and `on_inconclusive`.

use crate::diag::AttrPath;
use crate::metric_data::Source;
use crate::value::Value;
use std::time::Duration;

/// `analysis.compare`: the canary's target group against the baseline's.
#[derive(Debug, Clone, PartialEq)]
pub struct Compare {
    /// FAIL when the canary's error rate exceeds the baseline's by more than this many
    /// percentage points (errors: target 5XX plus failed target connections, per request).
    pub error_rate_max_delta: f64,
    /// FAIL when the canary's p99 response time exceeds the baseline's this many times over;
    /// None: latency is not judged.
    pub latency_p99_max_ratio: Option<f64>,
    /// Below this many requests on either group in a window, the window is INCONCLUSIVE.
    pub min_requests: u64,
}

impl Default for Compare {
    fn default() -> Self {
        Compare {
            error_rate_max_delta: 1.0,
            latency_p99_max_ratio: Some(1.5),
            min_requests: 100,
        }
    }
}

/// When a `metric_query` value is bad, in CloudWatch's alarm words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
}

impl Comparison {
    pub const NAMES: [&'static str; 4] = [
        "GreaterThanThreshold",
        "GreaterThanOrEqualToThreshold",
        "LessThanThreshold",
        "LessThanOrEqualToThreshold",
    ];

    pub fn parse(s: &str) -> Option<Comparison> {
        Some(match s {
            "GreaterThanThreshold" => Comparison::GreaterThan,
            "GreaterThanOrEqualToThreshold" => Comparison::GreaterThanOrEqual,
            "LessThanThreshold" => Comparison::LessThan,
            "LessThanOrEqualToThreshold" => Comparison::LessThanOrEqual,
            _ => return None,
        })
    }

    /// Whether `value` is on the bad side of `threshold`.
    pub fn breached(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparison::GreaterThan => value > threshold,
            Comparison::GreaterThanOrEqual => value >= threshold,
            Comparison::LessThan => value < threshold,
            Comparison::LessThanOrEqual => value <= threshold,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::GreaterThan => ">",
            Comparison::GreaterThanOrEqual => ">=",
            Comparison::LessThan => "<",
            Comparison::LessThanOrEqual => "<=",
        }
    }
}

/// One `analysis.metric_query`: a metric (or a CloudWatch expression) read over the whole
/// window as one value, FAIL when it is on the bad side of the threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricCheck {
    pub name: String,
    pub source: Source,
    pub threshold: f64,
    pub comparison: Comparison,
}

/// `analysis.on_inconclusive`: what a step does once its bake, extended for
/// `inconclusive_limit`, still has no verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnInconclusive {
    /// Stop at a gate with the reason; `ecsx_canary_continue` (or a new apply) goes on.
    #[default]
    Hold,
    /// Roll back as a FAIL would.
    Fail,
    /// Go on, but only when too little traffic was the reason: a window CloudWatch could not
    /// answer in full never passes.
    Pass,
}

impl OnInconclusive {
    pub const NAMES: [&'static str; 3] = ["hold", "fail", "pass"];

    pub fn parse(s: &str) -> Option<OnInconclusive> {
        Some(match s {
            "hold" => OnInconclusive::Hold,
            "fail" => OnInconclusive::Fail,
            "pass" => OnInconclusive::Pass,
            _ => return None,
        })
    }
}

/// The judge of a release: its comparison, its own metric checks, the windows they read,
/// and what an inconclusive step does.
#[derive(Debug, Clone, PartialEq)]
pub struct Judge {
    pub compare: Option<Compare>,
    pub checks: Vec<MetricCheck>,
    /// The length of every judged window, whole minutes.
    pub window: Duration,
    /// How long before the current minute a window ends: CloudWatch's newest minutes are
    /// still filling.
    pub delay: Duration,
    pub on_inconclusive: OnInconclusive,
    /// How much longer than its pause a step may bake waiting for a verdict.
    pub inconclusive_limit: Duration,
    /// Opt-in (`judge_test_traffic`): how long a new canary's test traffic is judged before
    /// any production traffic moves to it.
    pub test_traffic: Option<Duration>,
}

impl Default for Judge {
    fn default() -> Self {
        Judge {
            compare: None,
            checks: Vec::new(),
            window: DEFAULT_WINDOW,
            delay: DEFAULT_DELAY,
            on_inconclusive: OnInconclusive::default(),
            inconclusive_limit: DEFAULT_LIMIT,
            test_traffic: None,
        }
    }
}

/// A setting the judge cannot work with, at its attribute path.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub path: AttrPath,
    pub summary: String,
    pub detail: String,
}

const MINUTE: u64 = 60;
/// The longest window: an hour of one-minute points per query is 60 points; longer windows
/// judge too late to help.
const WINDOW_MAX: u64 = 3600;
/// CloudWatch's ELB minutes land within a few minutes; more than this is a typo.
const DELAY_MAX: u64 = 15 * 60;
const DEFAULT_LIMIT: Duration = Duration::from_secs(15 * 60);
const DEFAULT_WINDOW: Duration = Duration::from_secs(5 * 60);
const DEFAULT_DELAY: Duration = Duration::from_secs(3 * 60);

impl Judge {
    /// The judge of an `analysis` block (its object value); None when it sets neither
    /// `compare` nor `metric_query` (alarms alone). Unknown values are left for apply time.
    pub fn from_analysis(a: &Value) -> Result<Option<Judge>, ConfigError> {
        let base = AttrPath::attr("analysis").index(0);
        let compare = match a.block("compare") {
            Value::Null => None,
            c => Some(compare(c, base.then("compare").index(0))?),
        };
        let mut checks = Vec::new();
        if let Value::List(l) = a.get("metric_query") {
            for (i, q) in l.iter().enumerate() {
                checks.push(check(q, base.then("metric_query").index(i))?);
            }
        }
        if compare.is_none() && checks.is_empty() {
            return Ok(None);
        }
        let on_inconclusive = match a.get("on_inconclusive").as_str() {
            None => OnInconclusive::default(),
            Some(s) => OnInconclusive::parse(s).ok_or_else(|| ConfigError {
                path: base.then("on_inconclusive"),
                summary: "Unknown on_inconclusive".into(),
                detail: format!(
                    "on_inconclusive is {s:?}; use one of {}.",
                    OnInconclusive::NAMES.join(", ")
                ),
            })?,
        };
        let inconclusive_limit = duration(
            a.get("inconclusive_limit"),
            base.then("inconclusive_limit"),
            DEFAULT_LIMIT,
            (0, 24 * 3600),
            1,
        )?;
        let window = duration(
            a.get("window"),
            base.then("window"),
            DEFAULT_WINDOW,
            (MINUTE, WINDOW_MAX),
            MINUTE,
        )?;
        let delay = duration(
            a.get("delay"),
            base.then("delay"),
            DEFAULT_DELAY,
            (0, DELAY_MAX),
            MINUTE,
        )?;
        let test_traffic = match a.get("judge_test_traffic") {
            v if v.as_str().is_some() => Some(duration(
                v,
                base.then("judge_test_traffic"),
                Duration::ZERO,
                (0, 24 * 3600),
                1,
            )?),
            _ => None,
        };
        Ok(Some(Judge {
            compare,
            checks,
            window,
            delay,
            on_inconclusive,
            inconclusive_limit,
            test_traffic,
        }))
    }

    /// The window length every check of this judge reads.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// What a bake with this judge checks, for the plan: `canary` against `baseline` (target
    /// group names) behind `load_balancers` (names), e.g. "judging tg web-green against tg
    /// web-blue on load balancer web (error rate at most +1 point, p99 at most 1.5x, at least
    /// 100 requests each), per 5m window ending 3m before now".
    pub fn describe(&self, canary: &str, baseline: &str, load_balancers: &[String]) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.compare {
            let p99 = c
                .latency_p99_max_ratio
                .map_or(String::new(), |r| format!(", p99 at most {r}x"));
            parts.push(format!(
                "tg {canary} against tg {baseline} on {} {} (error rate at most +{} {}{p99}, at least {} requests each)",
                if load_balancers.len() == 1 {
                    "load balancer"
                } else {
                    "load balancers"
                },
                load_balancers.join(", "),
                c.error_rate_max_delta,
                if c.error_rate_max_delta == 1.0 {
                    "point"
                } else {
                    "points"
                },
                c.min_requests,
            ));
        }
        for m in &self.checks {
            parts.push(format!(
                "metric_query {:?} ({} {} fails)",
                m.name,
                m.comparison.symbol(),
                m.threshold
            ));
        }
        format!(
            "judging {}, per {} window ending {} before now",
            parts.join(" and "),
            crate::duration::format(self.window),
            crate::duration::format(self.delay)
        )
    }

    /// How long before now a window ends.
    pub fn delay(&self) -> Duration {
        self.delay
    }
}

fn compare(v: &Value, path: AttrPath) -> Result<Compare, ConfigError> {
    let d = Compare::default();
    let delta = number(
        v.get("error_rate_max_delta"),
        path.clone().then("error_rate_max_delta"),
        d.error_rate_max_delta,
        (0.0, 100.0),
    )?;
    let ratio = match v.get("latency_p99_max_ratio") {
        // 0 turns the latency rule off
        Value::Number(n) if *n == 0.0 => None,
        other => Some(number(
            other,
            path.clone().then("latency_p99_max_ratio"),
            1.5,
            (1.0, 1000.0),
        )?),
    };
    let min_requests = number(
        v.get("min_requests"),
        path.clone().then("min_requests"),
        d.min_requests as f64,
        (1.0, 1e12),
    )?;
    if min_requests.fract() != 0.0 {
        return Err(ConfigError {
            path: path.then("min_requests"),
            summary: "min_requests is not a whole number".into(),
            detail: format!("min_requests is {min_requests}; requests are counted whole."),
        });
    }
    Ok(Compare {
        error_rate_max_delta: delta,
        latency_p99_max_ratio: ratio,
        min_requests: min_requests as u64,
    })
}

fn check(v: &Value, path: AttrPath) -> Result<MetricCheck, ConfigError> {
    let s = |k: &str| v.get(k).as_str().map(str::to_string);
    let name = s("name").unwrap_or_default();
    let source = match (s("expression"), s("metric_name")) {
        (Some(e), None) => Source::Expression(e),
        (None, Some(metric)) => Source::Stat {
            namespace: s("namespace").ok_or_else(|| ConfigError {
                path: path.clone().then("namespace"),
                summary: "metric_query needs a namespace".into(),
                detail: format!("metric_query {name:?} names metric {metric:?}; say which namespace it is in, e.g. \"AWS/ApplicationELB\"."),
            })?,
            metric,
            dimensions: match v.get("dimensions") {
                Value::Map(m) => m
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect(),
                _ => Vec::new(),
            },
            stat: s("stat").unwrap_or_else(|| "Average".into()),
        },
        (Some(_), Some(_)) | (None, None) => {
            return Err(ConfigError {
                path: path.then("expression"),
                summary: "metric_query needs one of expression or metric_name".into(),
                detail: format!("metric_query {name:?}: set either expression (a CloudWatch metric math or Metrics Insights expression) or metric_name with namespace, dimensions and stat, not both."),
            })
        }
    };
    let comparison_text = s("comparison").unwrap_or_else(|| "GreaterThanThreshold".into());
    let comparison = Comparison::parse(&comparison_text).ok_or_else(|| ConfigError {
        path: path.clone().then("comparison"),
        summary: "Unknown comparison".into(),
        detail: format!(
            "comparison is {comparison_text:?}; use one of {}.",
            Comparison::NAMES.join(", ")
        ),
    })?;
    let threshold = match v.get("threshold") {
        Value::Number(n) if n.is_finite() => *n,
        _ => {
            return Err(ConfigError {
                path: path.then("threshold"),
                summary: "metric_query needs a threshold".into(),
                detail: format!(
                    "metric_query {name:?}: the value the query is compared with, e.g. 5."
                ),
            })
        }
    };
    Ok(MetricCheck {
        name,
        source,
        threshold,
        comparison,
    })
}

/// The attribute a path ends at, for messages.
fn name_of(path: &AttrPath) -> String {
    path.0
        .iter()
        .rev()
        .find_map(|s| match s {
            crate::diag::PathStep::Attr(a) => Some(a.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn number(
    v: &Value,
    path: AttrPath,
    default: f64,
    (lo, hi): (f64, f64),
) -> Result<f64, ConfigError> {
    let n = match v {
        Value::Number(n) => *n,
        _ => return Ok(default),
    };
    if !(lo..=hi).contains(&n) {
        return Err(ConfigError {
            summary: "Value out of range".into(),
            detail: format!(
                "{} is {n}; it must be between {lo} and {hi}.",
                name_of(&path)
            ),
            path,
        });
    }
    Ok(n)
}

fn duration(
    v: &Value,
    path: AttrPath,
    default: Duration,
    (lo, hi): (u64, u64),
    whole: u64,
) -> Result<Duration, ConfigError> {
    let Some(text) = v.as_str() else {
        return Ok(default);
    };
    let name = name_of(&path);
    let bad = |why: String| ConfigError {
        path: path.clone(),
        summary: format!("Invalid {name}"),
        detail: why,
    };
    let d = crate::duration::parse(text)
        .ok_or_else(|| bad(format!("{name} is {text:?}, not a duration like \"5m\".")))?;
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 || secs % whole != 0 {
        return Err(bad(format!("{name} is {text:?}; CloudWatch's load balancer points are one minute each, so it must be whole minutes.")));
    }
    if !(lo..=hi).contains(&secs) {
        return Err(bad(format!(
            "{name} is {text:?}; it must be from {} to {}.",
            crate::duration::format(Duration::from_secs(lo)),
            crate::duration::format(Duration::from_secs(hi))
        )));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis(fields: Vec<(&str, Value)>) -> Value {
        Value::object(fields)
    }

    fn block(fields: Vec<(&str, Value)>) -> Value {
        Value::List(vec![Value::object(fields)])
    }

    #[test]
    fn alarms_alone_make_no_judge() {
        let a = analysis(vec![("alarm_names", Value::List(vec![Value::from("x")]))]);
        assert_eq!(Judge::from_analysis(&a), Ok(None));
    }

    #[test]
    fn an_empty_compare_block_takes_the_defaults() {
        let a = analysis(vec![("compare", block(vec![]))]);
        let j = Judge::from_analysis(&a).unwrap().unwrap();
        assert_eq!(j.compare, Some(Compare::default()));
        assert_eq!(j.on_inconclusive, OnInconclusive::Hold);
        assert_eq!(j.inconclusive_limit, Duration::from_secs(900));
        assert_eq!(Judge::default().inconclusive_limit, j.inconclusive_limit);
        assert_eq!((j.window().as_secs(), j.delay().as_secs()), (300, 180));
    }

    #[test]
    fn settings_are_read_and_checked_with_their_paths() {
        let a = analysis(vec![
            (
                "compare",
                block(vec![
                    ("error_rate_max_delta", Value::from(2.5)),
                    ("latency_p99_max_ratio", Value::from(0.0)),
                    ("min_requests", Value::from(20i64)),
                ]),
            ),
            ("window", Value::from("2m")),
            ("delay", Value::from("0s")),
            ("on_inconclusive", Value::from("pass")),
            ("inconclusive_limit", Value::from("1m")),
        ]);
        let j = Judge::from_analysis(&a).unwrap().unwrap();
        assert_eq!((j.window.as_secs(), j.delay.as_secs()), (120, 0));
        let c = j.compare.unwrap();
        assert_eq!(
            (
                c.error_rate_max_delta,
                c.latency_p99_max_ratio,
                c.min_requests
            ),
            (2.5, None, 20)
        );
        assert_eq!(j.on_inconclusive, OnInconclusive::Pass);

        let bad = |field: &str, value: Value| {
            let a = analysis(vec![("compare", block(vec![(field, value)]))]);
            let e = Judge::from_analysis(&a).unwrap_err();
            (e.path.to_string(), e.summary)
        };
        let bad_window = |value: &str| {
            let a = analysis(vec![
                ("compare", block(vec![])),
                ("window", Value::from(value)),
            ]);
            let e = Judge::from_analysis(&a).unwrap_err();
            (e.path.to_string(), e.summary)
        };
        for window in ["90s", "2h", "0s"] {
            assert_eq!(
                bad_window(window),
                ("analysis[0].window".into(), "Invalid window".into()),
                "{window}"
            );
        }
        assert_eq!(
            bad("error_rate_max_delta", Value::from(-1.0)),
            (
                "analysis[0].compare[0].error_rate_max_delta".into(),
                "Value out of range".into()
            )
        );
        assert_eq!(
            bad("latency_p99_max_ratio", Value::from(0.5)),
            (
                "analysis[0].compare[0].latency_p99_max_ratio".into(),
                "Value out of range".into()
            )
        );
        assert_eq!(
            bad("min_requests", Value::from(2.5)).1,
            "min_requests is not a whole number"
        );
        let e = Judge::from_analysis(&analysis(vec![
            ("compare", block(vec![])),
            ("on_inconclusive", Value::from("maybe")),
        ]))
        .unwrap_err();
        assert_eq!(e.path.to_string(), "analysis[0].on_inconclusive");
    }

    #[test]
    fn metric_queries_take_a_metric_or_an_expression() {
        let q = |fields: Vec<(&str, Value)>| {
            Judge::from_analysis(&analysis(vec![(
                "metric_query",
                Value::List(vec![Value::object(fields)]),
            )]))
        };
        let j = q(vec![
            ("name", Value::from("queue depth")),
            ("namespace", Value::from("Shop")),
            ("metric_name", Value::from("Backlog")),
            (
                "dimensions",
                Value::Map(
                    [("Queue".to_string(), Value::from("orders"))]
                        .into_iter()
                        .collect(),
                ),
            ),
            ("stat", Value::from("Maximum")),
            ("threshold", Value::from(50.0)),
        ])
        .unwrap()
        .unwrap();
        let c = &j.checks[0];
        assert_eq!(c.comparison, Comparison::GreaterThan);
        assert_eq!(
            c.source,
            Source::Stat {
                namespace: "Shop".into(),
                metric: "Backlog".into(),
                dimensions: vec![("Queue".into(), "orders".into())],
                stat: "Maximum".into()
            }
        );
        assert!(j.compare.is_none());
        let e = q(vec![
            ("name", Value::from("x")),
            ("threshold", Value::from(1.0)),
        ])
        .unwrap_err();
        assert_eq!(e.path.to_string(), "analysis[0].metric_query[0].expression");
        let e = q(vec![
            ("expression", Value::from("m1")),
            ("threshold", Value::from(1.0)),
            ("comparison", Value::from("Above")),
        ])
        .unwrap_err();
        assert_eq!(e.path.to_string(), "analysis[0].metric_query[0].comparison");
        let e = q(vec![
            ("metric_name", Value::from("m")),
            ("threshold", Value::from(1.0)),
        ])
        .unwrap_err();
        assert_eq!(e.path.to_string(), "analysis[0].metric_query[0].namespace");
        let e = q(vec![("expression", Value::from("m1"))]).unwrap_err();
        assert_eq!(e.path.to_string(), "analysis[0].metric_query[0].threshold");
    }

    #[test]
    fn the_plan_says_what_is_judged() {
        let mut j = Judge {
            compare: Some(Compare::default()),
            ..Judge::default()
        };
        assert_eq!(
            j.describe("web-green", "web-blue", &["web".to_string()]),
            "judging tg web-green against tg web-blue on load balancer web (error rate at most +1 point, p99 at most 1.5x, at least 100 requests each), per 5m window ending 3m before now"
        );
        j.checks.push(MetricCheck {
            name: "orders".into(),
            source: Source::Expression("m1".into()),
            threshold: 10.0,
            comparison: Comparison::LessThan,
        });
        j.compare = None;
        assert_eq!(
            j.describe("web-green", "web-blue", &[]),
            "judging metric_query \"orders\" (< 10 fails), per 5m window ending 3m before now"
        );
    }

    #[test]
    fn comparisons_say_which_side_is_bad() {
        assert!(Comparison::GreaterThan.breached(2.0, 1.0));
        assert!(!Comparison::GreaterThan.breached(1.0, 1.0));
        assert!(Comparison::GreaterThanOrEqual.breached(1.0, 1.0));
        assert!(Comparison::LessThan.breached(0.5, 1.0));
        assert!(!Comparison::LessThanOrEqual.breached(1.5, 1.0));
        for n in Comparison::NAMES {
            assert!(Comparison::parse(n).is_some(), "{n}");
        }
    }
}
