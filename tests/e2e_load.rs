//! Load: one configuration with 20 `ecsx_canary_deployment` resources (20 EXTERNAL services,
//! each with its own blue/green target groups and listener rule), one `terraform apply
//! -parallelism=10` rolling a canary step on all of them while `tests/rig/proxy.py` throttles
//! a share of all AWS calls. All succeed, the state matches AWS for every service, the next
//! plan is empty, and the run reports API calls, SDK retries and wall time.
//!
//! Long: `make reliability` runs it (`--run-ignored all`).

mod common;

use common::{
    forward_action, resource_values, Aws, CanaryConfig, Infra, Proxy, ReliabilityRow, Stack,
    Workspace,
};
use serde_json::json;
use std::time::Instant;

const SUITE: &str = "load";
const SERVICES: usize = 20;
const PARALLELISM: &str = "-parallelism=10";
const THROTTLE_PROBABILITY: f64 = 0.2;

/// One deployment per service: its own target groups and a listener rule on the shared ALB.
async fn deployments(aws: &Aws, infra: &Infra) -> Vec<CanaryConfig> {
    let mut out = Vec::new();
    for (i, service) in infra.services.iter().enumerate() {
        let blue = aws.create_target_group(infra, &format!("s{i}-blue")).await;
        let green = aws.create_target_group(infra, &format!("s{i}-green")).await;
        let rule = aws
            .create_rule(
                &infra.listener_arn,
                100 + i as i32,
                &format!("/{service}/*"),
                forward_action(&[(&blue, 100), (&green, 0)], None),
            )
            .await;
        let mut cfg = CanaryConfig::new(infra);
        cfg.service = service.clone();
        cfg.primary_target_group = blue;
        cfg.canary_target_group = green;
        cfg.listeners = vec![];
        cfg.rules = vec![rule];
        cfg.test_listeners = vec![];
        out.push(cfg);
    }
    out
}

fn address(i: usize) -> String {
    format!("ecsx_canary_deployment.svc_{i}")
}

/// All deployments in one `main.tf`, each resource named `svc_<i>`.
fn hcl(cfgs: &[CanaryConfig]) -> String {
    cfgs.iter()
        .enumerate()
        .map(|(i, c)| {
            c.hcl().replacen(
                "resource \"ecsx_canary_deployment\" \"web\"",
                &format!("resource \"ecsx_canary_deployment\" \"svc_{i}\""),
                1,
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

struct Run {
    seconds: f64,
    calls: u64,
    retries: u64,
    throttled: u64,
}

fn apply(ws: &Workspace, proxy: &Proxy) -> Run {
    let started = Instant::now();
    let out = ws.run(&[
        "apply",
        "-auto-approve",
        "-input=false",
        "-no-color",
        PARALLELISM,
    ]);
    let seconds = started.elapsed().as_secs_f64();
    let stats = proxy.stats();
    assert!(out.success(), "apply failed; proxy: {stats}\n{out}");
    Run {
        seconds,
        calls: stats["total"].as_u64().unwrap_or(0),
        retries: stats["retries"].as_u64().unwrap_or(0),
        throttled: stats["faults"]["throttle"].as_u64().unwrap_or(0),
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn canary_step_on_20_services_under_throttling() {
    let mut row = ReliabilityRow::new(
        SUITE,
        &format!("canary step on {SERVICES} services, {PARALLELISM}"),
        &format!(
            "throttle with probability {THROTTLE_PROBABILITY} on every AWS call (ThrottlingException / Throttling)"
        ),
        "every deployment succeeds; state matches AWS for each service; next plan empty",
    );
    let s = Stack::with_proxy(
        "ld",
        SERVICES as u32,
        &["--stabilize-seconds", "1", "--drain-seconds", "1"],
    )
    .await;
    let (ws, proxy, aws, infra) = (&s.ws, s.proxy(), &s.aws, &s.infra);
    let base = deployments(aws, infra).await;

    // Bootstrap all 20, no faults: the baseline.
    ws.config(&hcl(&base));
    proxy.reset();
    let boot = apply(ws, proxy);

    // The canary step under throttling.
    let td1 = infra.task_definitions[1].clone();
    let canary: Vec<CanaryConfig> = base.iter().map(|c| c.clone().canary(&td1, 10)).collect();
    ws.config(&hcl(&canary));
    proxy.reset();
    proxy.faults(json!({"seed": 20, "rules": [
        {"operation": "*", "kind": "throttle", "probability": THROTTLE_PROBABILITY}
    ]}));
    let step = apply(ws, proxy);
    assert!(step.throttled > 0, "no call was throttled");

    let state = ws.show_json();
    for (i, cfg) in canary.iter().enumerate() {
        aws.assert_matches_state(cfg, &resource_values(&state, &address(i)))
            .await;
    }
    let (code, plan) = ws.plan_detailed();
    assert_eq!(
        code, 0,
        "the plan after the load apply must be empty:\n{plan}"
    );
    proxy.clear_faults();

    println!(
        "bootstrap of {SERVICES} deployments: {:.1}s, {} API calls, {} retries",
        boot.seconds, boot.calls, boot.retries
    );
    println!(
        "canary step on {SERVICES} deployments under {THROTTLE_PROBABILITY} throttling: {:.1}s, {} API calls, {} throttled, {} SDK retries",
        step.seconds, step.calls, step.throttled, step.retries
    );
    row.figure("services", SERVICES as u64);
    row.figure("api_calls", step.calls);
    row.figure("throttled", step.throttled);
    row.figure("sdk_retries", step.retries);
    row.figure("wall_seconds", round1(step.seconds));
    row.figure(
        "calls_per_service",
        round1(step.calls as f64 / SERVICES as f64),
    );
    row.figure("bootstrap_api_calls", boot.calls);
    row.figure("bootstrap_retries", boot.retries);
    row.figure("bootstrap_wall_seconds", round1(boot.seconds));
    row.pass(&format!(
        "all {SERVICES} succeeded in {:.1}s: {} API calls ({:.1} per service), {} throttled, {} SDK retries; states match AWS; plan empty",
        step.seconds,
        step.calls,
        step.calls as f64 / SERVICES as f64,
        step.throttled,
        step.retries
    ));
}
