//! The judge's part of the `analysis` block's schema, and its validation: `compare`,
//! `metric_query`, `window`, `delay`, `on_inconclusive`, `inconclusive_limit`.

use super::config::{Comparison, Judge, OnInconclusive};
use crate::diag::Diagnostics;
use crate::schema::{Attribute, Block, NestedBlock, Type, Validator};
use crate::value::Value;

/// `analysis.compare`.
pub fn compare_block() -> NestedBlock {
    NestedBlock::single(
        "compare",
        Block::new("Judge the canary by what its users see: its target group against the baseline's (the live one), from the load balancers' own CloudWatch metrics (`AWS/ApplicationELB`, per target group and load balancer), with no alarm to create. Each check reads the newest whole window and yields PASS, FAIL or INCONCLUSIVE; a FAIL rolls the release back as an alarm in ALARM does. Application Load Balancers only: Network Load Balancers report no HTTP codes or response times per target group.")
            .attr(Attribute::defaulted("error_rate_max_delta", Type::Number, Value::from(1.0), "FAIL when the canary's error rate (target 5XX responses plus failed target connections, per request) is more than this many percentage points above the baseline's in a window, e.g. `1` fails 2.5% against 1.2%. From 0 to 100."))
            .attr(Attribute::defaulted("latency_p99_max_ratio", Type::Number, Value::from(1.5), "FAIL when the canary's p99 `TargetResponseTime` is more than this many times the baseline's in a window. At least 1; `0` leaves latency unjudged."))
            .attr(Attribute::defaulted("min_requests", Type::Number, Value::from(100i64), "Fewer requests than this on either target group in a window make it INCONCLUSIVE instead of judging a handful of requests (one error in three is not a 33% error rate).").check(Validator::IntRange(1, 1_000_000_000))),
    )
}

/// `analysis.metric_query`.
pub fn metric_query_block() -> NestedBlock {
    NestedBlock::many(
        "metric_query",
        Block::new("A CloudWatch metric of your own, judged per window like the comparison: one value over the whole window (the query's period is the window), FAIL when it is on the bad side of `threshold`, INCONCLUSIVE when it has no data. Read in the same GetMetricData call as the comparison. Set `expression`, or `namespace` with `metric_name`.")
            .attr(Attribute::required("name", Type::String, "Names the query in verdicts, errors and `last_release`.").check(Validator::NotBlank))
            .attr(Attribute::optional("expression", Type::String, "A CloudWatch metric math or Metrics Insights expression, evaluated by CloudWatch over the window."))
            .attr(Attribute::optional("namespace", Type::String, "The metric's namespace, e.g. `AWS/ApplicationELB` or your own."))
            .attr(Attribute::optional("metric_name", Type::String, "The metric's name."))
            .attr(Attribute::optional("dimensions", Type::map_of(Type::String), "The metric's dimensions, all of which it must carry."))
            .attr(Attribute::defaulted("stat", Type::String, Value::from("Average"), "The statistic over the window: `Sum`, `Average`, `Minimum`, `Maximum`, `SampleCount` or a percentile such as `p99`."))
            .attr(Attribute::required("threshold", Type::Number, "The value the query is compared with."))
            .attr(Attribute::defaulted("comparison", Type::String, Value::from("GreaterThanThreshold"), "When the value is bad, in CloudWatch alarm words: `GreaterThanThreshold` fails a value above `threshold`.").check(Validator::OneOf(&Comparison::NAMES))),
    )
}

/// `analysis.window`, `analysis.delay`, `analysis.on_inconclusive`,
/// `analysis.inconclusive_limit` and `analysis.judge_test_traffic`.
pub fn attributes() -> [Attribute; 5] {
    [
        Attribute::defaulted("window", Type::String, Value::from("5m"), "The length of a window the judge (`compare`, `metric_query`) reads, in whole minutes (ELB reports every minute). A window starts no earlier than the first whole minute of its step's traffic, so each step is judged on its own traffic.").check(Validator::Duration(60, 3600)),
        Attribute::defaulted("delay", Type::String, Value::from("3m"), "How long before the current minute a judged window ends: CloudWatch's newest load balancer minutes are still filling, and a window read too early looks quieter than it was.").check(Validator::Duration(0, 900)),
        Attribute::defaulted("on_inconclusive", Type::String, Value::from("hold"), "What a step does when its bake, extended by `inconclusive_limit`, still has no verdict (too few requests, or CloudWatch did not answer in full). `hold`: traffic stays at the step and the release waits there as at an approval gate, the reason in `last_release` (`inconclusive`): `ecsx_canary_continue` (or `canary.approved_step`) walks on, `ecsx_canary_abort` rolls back; the apply fails, since it did not do what its plan said. `fail`: roll back. `pass`: go on, but only when too few requests was the reason: a window CloudWatch did not answer in full never passes.").check(Validator::OneOf(&OnInconclusive::NAMES)),
        Attribute::defaulted("inconclusive_limit", Type::String, Value::from("15m"), "How much longer than its `pause` a step may bake waiting for a conclusive window.").check(Validator::Duration(0, 86_400)),
        Attribute::optional("judge_test_traffic", Type::String, "Opt-in: before any production traffic moves to a new canary, route the test listeners (`traffic.test_listener_arns`, `test_listener_rule_arns`) to it and judge its test traffic for this long, e.g. `10m`, against the baseline's production traffic: an extra bake (step 0 in `rollout_steps`) whose FAIL rolls back before a single user reached the canary. Needs test listeners or rules and `compare` or `metric_query`; `0s` bakes until the first verdict.").check(Validator::Duration(0, 86_400)),
    ]
}

/// The judge's settings checked as one: the errors `Judge::from_analysis` finds, at their
/// attribute paths. Unknown values wait for apply.
pub fn validate(analysis: &Value, diags: &mut Diagnostics) {
    if analysis.is_null() {
        return;
    }
    if let Err(e) = Judge::from_analysis(analysis) {
        diags.error_at(e.path, e.summary, e.detail);
    }
}
