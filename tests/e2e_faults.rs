//! Faults between the provider and AWS: throttling, 5xx, reset connections, slow answers, a
//! 500 after the call took effect, and eventual consistency, injected by `tests/rig/proxy.py`
//! on the calls a canary release makes. Each case applies a canary step and then a promotion
//! under the fault and proves: the apply succeeds, no task set is created twice, the state
//! matches AWS, and the next plan is empty.
//!
//! `make test` runs the quick case; `make reliability` runs them all (`--run-ignored all`).

mod common;

use common::{CanaryConfig, ReliabilityRow, Stack};
use serde_json::{json, Value as Json};
use std::time::Instant;

const SUITE: &str = "faults";
/// The SDK attempt timeout the provider runs with here; `slow` answers take longer.
const ATTEMPT_TIMEOUT: &str = "3s";
const SLOW_SECONDS: f64 = 4.5;

/// Every call a canary step or a promotion makes.
const CALLS: [&str; 9] = [
    "ecs.DescribeServices",
    "ecs.DescribeTaskSets",
    "ecs.CreateTaskSet",
    "ecs.UpdateServicePrimaryTaskSet",
    "ecs.DeleteTaskSet",
    "elbv2.DescribeListeners",
    "elbv2.DescribeRules",
    "elbv2.ModifyListener",
    "elbv2.ModifyRule",
];

/// The calls that change something.
const WRITES: [&str; 5] = [
    "ecs.CreateTaskSet",
    "ecs.UpdateServicePrimaryTaskSet",
    "ecs.DeleteTaskSet",
    "elbv2.ModifyListener",
    "elbv2.ModifyRule",
];

/// An emulator with short STABILIZING and a long DRAINING period (deleted task sets stay
/// listed, so every task set ever created can be counted), the proxy in front of it, and a
/// workspace whose provider talks to the proxy.
async fn stack(name: &str) -> Stack {
    let mut s = Stack::with_proxy(
        name,
        1,
        &["--stabilize-seconds", "1", "--drain-seconds", "120"],
    )
    .await;
    s.ws.set_env("ECSX_ATTEMPT_TIMEOUT", ATTEMPT_TIMEOUT);
    s
}

/// Applies `cfg` with `rules` in force and checks the outcome; returns a summary and
/// the proxy's figures for the apply.
async fn step(rig: &Stack, cfg: &CanaryConfig, rules: &Json, task_sets_after: usize) -> Step {
    rig.ws.config(&cfg.hcl());
    rig.proxy().reset();
    rig.proxy().faults(rules.clone());
    rig.reset_traffic();
    let started = Instant::now();
    let out = rig
        .ws
        .run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    let seconds = started.elapsed().as_secs_f64();
    let stats = rig.proxy().stats();
    assert!(
        out.success(),
        "apply under {rules} failed; proxy: {stats}\n{out}"
    );
    let summary = rig.aws.assert_matches_state(cfg, &rig.state()).await;
    // Retries and failed calls never send traffic to a task set before it is steady.
    let traffic = rig.traffic();
    assert!(
        traffic.violations.is_empty() && traffic.mixed.is_empty(),
        "under {rules}: {}",
        traffic.report()
    );
    // Every task set of the service, DRAINING ones included.
    assert_eq!(
        rig.all().await.len(),
        task_sets_after,
        "a task set was created twice (or not at all) under {rules}: {:#?}",
        rig.all().await
    );
    // Rules with `times` are spent by now; probability and consistency rules still hold.
    let (code, plan) = rig.ws.plan_detailed();
    assert_eq!(code, 0, "the plan after the apply must be empty:\n{plan}");
    Step {
        summary,
        calls: stats["total"].as_u64().unwrap_or(0),
        retries: stats["retries"].as_u64().unwrap_or(0),
        faults: stats["faults"].clone(),
        creates: stats["calls"]["ecs.CreateTaskSet"].as_u64().unwrap_or(0),
        seconds,
    }
}

struct Step {
    summary: String,
    calls: u64,
    retries: u64,
    faults: Json,
    creates: u64,
    seconds: f64,
}

/// Two steps' fault counts, added up per fault kind.
fn merged(a: &Json, b: &Json) -> Json {
    let mut out = a.as_object().cloned().unwrap_or_default();
    for (k, v) in b.as_object().into_iter().flatten() {
        let sum = out.get(k).and_then(Json::as_u64).unwrap_or(0) + v.as_u64().unwrap_or(0);
        out.insert(k.clone(), Json::from(sum));
    }
    Json::Object(out)
}

fn injected(faults: &Json) -> u64 {
    faults
        .as_object()
        .map(|m| m.values().filter_map(Json::as_u64).sum())
        .unwrap_or(0)
}

/// One rule per operation: `kind` on the next `times` calls of each.
fn each(kind: &str, ops: &[&str], times: u32, seconds: Option<f64>) -> Json {
    Json::Array(
        ops.iter()
            .map(|op| {
                let mut r = json!({"operation": op, "kind": kind, "times": times});
                if let Some(s) = seconds {
                    r["seconds"] = json!(s);
                }
                r
            })
            .collect(),
    )
}

/// Bootstrap without faults, then under `rules` a canary step (revision 1 at 10 %), its
/// promotion (the canary takes over) and a blue/green release of revision 2. Records one row.
async fn case(name: &str, label: &str, rules: Json) -> (Step, Step) {
    let mut row = ReliabilityRow::new(
        SUITE,
        label,
        &describe_rules(&rules),
        "canary step, promotion and blue/green succeed; no task set created twice; no traffic to an unproven task set; state matches AWS; next plan empty",
    );
    let rig = stack(name).await;
    let base = CanaryConfig::new(&rig.infra);
    rig.ws.config(&base.hcl());
    rig.ws.apply(&[]);

    let td1 = rig.infra.task_definitions[1].clone();
    let td2 = rig.infra.task_definitions[2].clone();
    // Stable + canary.
    let canary = step(&rig, &base.clone().canary(&td1, 10), &rules, 2).await;
    // The canary is the stable task set now; the old stable is DRAINING.
    let swap = step(&rig, &base.clone().stable(&td1), &rules, 2).await;
    // + a new stable task set on blue; the one on green is DRAINING too.
    let bluegreen = step(&rig, &base.clone().stable(&td2), &rules, 3).await;
    let promote = Step {
        summary: bluegreen.summary,
        calls: swap.calls + bluegreen.calls,
        retries: swap.retries + bluegreen.retries,
        faults: merged(&swap.faults, &bluegreen.faults),
        creates: swap.creates + bluegreen.creates,
        seconds: swap.seconds + bluegreen.seconds,
    };
    assert!(
        injected(&canary.faults) + injected(&promote.faults) > 0,
        "the rules {rules} never fired: the case proves nothing"
    );
    row.figure("api_calls", canary.calls + promote.calls);
    row.figure("sdk_retries", canary.retries + promote.retries);
    row.figure(
        "faults_injected",
        injected(&canary.faults) + injected(&promote.faults),
    );
    row.figure("create_task_set_calls", canary.creates + promote.creates);
    row.figure(
        "apply_seconds",
        (((canary.seconds + promote.seconds) * 10.0).round() / 10.0).to_string(),
    );
    row.pass(&format!(
        "ok: {}; {} faults, {} SDK retries, 3 task sets created by {} CreateTaskSet calls; plans empty",
        promote.summary,
        injected(&canary.faults) + injected(&promote.faults),
        canary.retries + promote.retries,
        canary.creates + promote.creates
    ));
    (canary, promote)
}

/// `kind on op (x times | p=...)` for each rule, short operation names.
fn describe_rules(rules: &Json) -> String {
    let list = rules
        .get("rules")
        .unwrap_or(rules)
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut out: Vec<String> = Vec::new();
    for r in &list {
        let kind = r["kind"].as_str().unwrap_or("?");
        let mut how = Vec::new();
        if let Some(s) = r["seconds"].as_f64() {
            how.push(format!("{s}s"));
        }
        if let Some(t) = r["times"].as_u64() {
            how.push(format!("x{t}"));
        }
        if let Some(p) = r["probability"].as_f64() {
            how.push(format!("p={p}"));
        }
        let how = how.join(" ");
        let op = r["operation"].as_str().unwrap_or("*").to_string();
        // One entry per kind: "throttle x2 on ecs.A, ecs.B".
        let head = format!("{kind} {how} on ");
        match out.iter_mut().find(|e| e.starts_with(&head)) {
            Some(e) => {
                e.push_str(", ");
                e.push_str(&op);
            }
            None => out.push(format!("{head}{op}")),
        }
    }
    out.join("; ")
}

/// Quick case for `make test`: the dangerous 500 after CreateTaskSet took effect (the SDK
/// retries with the same clientToken, so ECS returns the task set it made) and throttled
/// weight changes.
#[tokio::test]
async fn create_answered_500_after_commit_and_throttled_shifts() {
    let rules = json!([
        {"operation": "ecs.CreateTaskSet", "kind": "after_commit_500", "times": 2},
        {"operation": "elbv2.ModifyRule", "kind": "throttle", "times": 2},
        {"operation": "elbv2.ModifyListener", "kind": "throttle", "times": 1},
    ]);
    let (canary, promote) = case(
        "fq",
        "after_commit_500 x2 on CreateTaskSet + throttle on ModifyRule/ModifyListener",
        rules,
    )
    .await;
    // Each create was answered 500 twice after ECS stored it; the SDK retried with the
    // same clientToken and got the stored task set back instead of a second one.
    assert!(
        canary.creates >= 3 && promote.creates >= 3,
        "the SDK must have retried each create: {} and {} CreateTaskSet calls",
        canary.creates,
        promote.creates
    );
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn throttling_on_every_call() {
    case(
        "fthr",
        "throttle x2 on every call",
        each("throttle", &CALLS, 2, None),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn too_many_requests_on_every_call() {
    case(
        "f429",
        "too_many_requests (429) x1 on every call",
        each("too_many_requests", &CALLS, 1, None),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn http500_on_every_call() {
    case(
        "f500",
        "http500 x2 on every call",
        each("http500", &CALLS, 2, None),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn http503_on_every_call() {
    case(
        "f503",
        "http503 x2 on every call",
        each("http503", &CALLS, 2, None),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn connection_reset_on_every_call() {
    case(
        "frst",
        "reset x1 on every call",
        each("reset", &CALLS, 1, None),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn slow_answers_on_writes() {
    case(
        "fslow",
        &format!("slow ({SLOW_SECONDS}s > {ATTEMPT_TIMEOUT} attempt timeout) x1 on every write"),
        each("slow", &WRITES, 1, Some(SLOW_SECONDS)),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn slow_answers_on_reads() {
    case(
        "fslowr",
        &format!("slow ({SLOW_SECONDS}s) x1 on DescribeServices/DescribeTaskSets/DescribeRules"),
        each(
            "slow",
            &[
                "ecs.DescribeServices",
                "ecs.DescribeTaskSets",
                "elbv2.DescribeRules",
            ],
            1,
            Some(SLOW_SECONDS),
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn after_commit_500_on_every_write() {
    case(
        "fac",
        "after_commit_500 x1 on every write",
        each("after_commit_500", &WRITES, 1, None),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn random_throttling_on_a_third_of_calls() {
    case(
        "fprob",
        "throttle with probability 0.3 on every call",
        json!({"seed": 5, "rules": [{"operation": "*", "kind": "throttle", "probability": 0.3}]}),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn mixed_random_faults() {
    case(
        "fmix",
        "mixed: throttle p=0.1, http500 p=0.05, reset p=0.05, after_commit_500 p=0.05 on every call",
        json!([
            {"operation": "*", "kind": "throttle", "probability": 0.1},
            {"operation": "*", "kind": "http500", "probability": 0.05},
            {"operation": "*", "kind": "reset", "probability": 0.05},
            {"operation": "*", "kind": "after_commit_500", "probability": 0.05},
        ]),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn new_task_sets_invisible_for_a_while() {
    case(
        "fhide",
        "hide_new_task_sets 3s on DescribeTaskSets and DescribeServices",
        json!([{"operation": "*", "kind": "hide_new_task_sets", "seconds": 3}]),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn weight_changes_visible_late() {
    case(
        "fstale",
        "stale_weights 3s after every ModifyRule/ModifyListener",
        json!([{"operation": "*", "kind": "stale_weights", "seconds": 3}]),
    )
    .await;
}
