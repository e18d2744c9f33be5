//! Crash consistency: `kill -9` of the provider (and, separately, of Terraform) at every step
//! of a rollout, then `terraform apply` again.
//!
//! The kill comes at the worst moment: `tests/rig/proxy.py` lets the step's AWS call take
//! effect and holds its answer (`hold_after_commit`), so the step happened in AWS but the
//! provider never learned it. After the recovery apply each case proves: it converged, no
//! owned task set is left orphaned, the state matches AWS, the next plan is empty, and a
//! background sampler (polling ECS and ELBv2 every ~100 ms) never saw traffic on a target
//! group without a STEADY_STATE task set.
//!
//! `make test` runs one kill point; `make reliability` runs all (`--run-ignored all`).

mod common;

use common::{
    kill9, pid_alive, provider_pids, Aws, CanaryConfig, Infra, Observed, Output, ReliabilityRow,
    Stack,
};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SUITE: &str = "crash";
const APPLY: [&str; 4] = ["apply", "-auto-approve", "-input=false", "-no-color"];

/// Which process dies.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Victim {
    Provider,
    Terraform,
}

/// The configurations a rollout walks through.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Stable on revision 0, 100 % to blue.
    Boot,
    /// Canary on revision 1 at 10 %.
    Canary10,
    /// The same canary at 50 %.
    Canary50,
    /// Revision 1 becomes the stable version (`promotion = "swap"`: the canary takes over).
    Promote,
    /// The same with `promotion = "replace"`: through the canary back to blue.
    PromoteReplace,
    /// Revision 1 becomes the stable version without a canary: blue/green onto green.
    BlueGreen,
    /// A scheduled canary on revision 1: 10 % baking 4 s, then 50 % for 1 s, alarm watched.
    Scheduled,
    /// A canary on revision 1 at 10 %, held at the gate of step 2 (50 %).
    Gated,
    /// The same with step 2 approved (`approved_step = 2`): on to 50 %.
    GateApproved,
}

/// The alarm the scheduled phases watch; it stays OK.
const ALARM: &str = "crash-5xx";

impl Phase {
    fn config(self, infra: &Infra) -> CanaryConfig {
        let base = CanaryConfig::new(infra);
        let td1 = infra.task_definitions[1].clone();
        match self {
            Phase::Boot => base,
            Phase::Canary10 => base.canary(&td1, 10),
            Phase::Canary50 => base.canary(&td1, 50),
            Phase::Promote | Phase::BlueGreen => base.stable(&td1),
            Phase::PromoteReplace => base.stable(&td1).extra("  promotion = \"replace\""),
            Phase::Scheduled => base
                .extra(&format!(
                    "  analysis {{\n    alarm_names    = [{ALARM:?}]\n    check_interval = \"1s\"\n  }}\n"
                ))
                .canary_steps(&td1, &[(10, "4s"), (50, "1s")], 1),
            Phase::Gated => base.canary_steps(&td1, &[(10, "1s"), (50, "approval")], 1),
            Phase::GateApproved => base
                .canary_steps(&td1, &[(10, "1s"), (50, "approval")], 1)
                .canary_extra("    approved_step = 2\n"),
        }
    }
}

/// Where a rollout gets killed: after `prior` applied cleanly, the apply of `target` dies when
/// the `skip`+1-th `operation` call has taken effect.
struct KillPoint {
    label: &'static str,
    prior: &'static [Phase],
    target: Phase,
    operation: &'static str,
    skip: u32,
    victim: Victim,
}

/// Short STABILIZING and DRAINING periods; the provider talks to AWS through the proxy.
async fn stack(name: &str) -> Stack {
    Stack::with_proxy(
        name,
        1,
        &["--stabilize-seconds", "1", "--drain-seconds", "1"],
    )
    .await
}

/// `terraform apply` after a crash. A stale lock (Terraform killed while holding it) is
/// released with `force-unlock`; returns the apply and whether that was needed.
fn recover(rig: &Stack) -> (Output, bool) {
    let out = rig.ws.run(&APPLY);
    if out.success() || !out.text().contains("Error acquiring the state lock") {
        return (out, false);
    }
    let id = lock_id(&out.text()).unwrap_or_else(|| panic!("no lock ID in:\n{out}"));
    rig.ws.ok(&["force-unlock", "-force", &id]);
    (rig.ws.run(&APPLY), true)
}

/// The `ID:` of a Terraform lock error.
fn lock_id(text: &str) -> Option<String> {
    let after = text.split("ID: ").nth(1)?;
    after.split_whitespace().next().map(str::to_string)
}

/// What the background sampler saw.
#[derive(Debug, Default)]
struct Sampled {
    samples: u64,
    /// Samples dropped because the weights changed while the task sets were read.
    torn: u64,
    /// Samples taken before traffic first had a steady home (only while bootstrapping).
    unarmed: u64,
    violations: Vec<String>,
    seconds: f64,
}

impl Sampled {
    /// Mean time between consistent samples.
    fn interval_ms(&self) -> u64 {
        (self.seconds * 1000.0 / self.samples.max(1) as f64).round() as u64
    }
}

/// Polls AWS (the emulator directly, not through the proxy) every ~100 ms and checks that every
/// target group with traffic on any managed or test router has a STEADY_STATE task set.
struct Sampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Sampled>,
}

impl Sampler {
    /// With `armed`, every sample counts; otherwise sampling counts once traffic first has a
    /// steady home (a service being bootstrapped has no task set at all to begin with).
    fn start(endpoint: String, cfg: CanaryConfig, armed: bool) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("sampler runtime");
            rt.block_on(async move {
                let aws = Aws::connect_to(&endpoint).await;
                let mut seen = Sampled::default();
                let mut armed = armed;
                let started = Instant::now();
                while !flag.load(Ordering::SeqCst) {
                    let tick = Instant::now();
                    // Weights, task sets, weights again: a sample is consistent only if no
                    // shift happened while the task sets were read.
                    let before = splits(&aws, &cfg).await;
                    let live = aws
                        .observe(&CanaryConfig {
                            listeners: vec![],
                            rules: vec![],
                            test_listeners: vec![],
                            test_rules: vec![],
                            ..cfg.clone()
                        })
                        .await
                        .live;
                    let after = splits(&aws, &cfg).await;
                    if before != after {
                        seen.torn += 1;
                        continue;
                    }
                    let sets = Observed {
                        live,
                        splits: after,
                    };
                    seen.samples += 1;
                    let homeless = homeless_traffic(&cfg, &sets);
                    if !armed {
                        if homeless.is_empty() {
                            armed = true;
                        } else {
                            seen.unarmed += 1;
                        }
                    } else if !homeless.is_empty() {
                        seen.violations.push(format!("{homeless:?} in {sets:?}"));
                    }
                    let period = Duration::from_millis(100);
                    tokio::time::sleep(period.saturating_sub(tick.elapsed())).await;
                }
                seen.seconds = started.elapsed().as_secs_f64();
                seen
            })
        });
        Sampler { stop, handle }
    }

    fn finish(self) -> Sampled {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.join().expect("sampler thread")
    }
}

/// (router, primary weight, canary weight) of every router `cfg` names, in two calls.
async fn splits(aws: &Aws, cfg: &CanaryConfig) -> Vec<(String, i32, i32)> {
    use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum};
    let weight = |actions: &[Action], tg: &str| -> i32 {
        actions
            .iter()
            .filter(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
            .filter_map(|a| a.forward_config())
            .flat_map(|f| f.target_groups())
            .filter(|t| t.target_group_arn() == Some(tg))
            .map(|t| t.weight().unwrap_or(1))
            .sum()
    };
    let mut out = Vec::new();
    let listeners: Vec<String> = cfg
        .listeners
        .iter()
        .chain(&cfg.test_listeners)
        .cloned()
        .collect();
    let rules: Vec<String> = cfg.rules.iter().chain(&cfg.test_rules).cloned().collect();
    let (p, c) = (&cfg.primary_target_group, &cfg.canary_target_group);
    if !listeners.is_empty() {
        let got = aws
            .elbv2
            .describe_listeners()
            .set_listener_arns(Some(listeners))
            .send()
            .await
            .expect("DescribeListeners");
        for l in got.listeners() {
            let a = l.default_actions();
            out.push((
                l.listener_arn().unwrap_or_default().to_string(),
                weight(a, p),
                weight(a, c),
            ));
        }
    }
    if !rules.is_empty() {
        let got = aws
            .elbv2
            .describe_rules()
            .set_rule_arns(Some(rules))
            .send()
            .await
            .expect("DescribeRules");
        for r in got.rules() {
            let a = r.actions();
            out.push((
                r.rule_arn().unwrap_or_default().to_string(),
                weight(a, p),
                weight(a, c),
            ));
        }
    }
    out.sort();
    out
}

/// Target groups that get traffic from some router but have no STEADY_STATE live task set.
fn homeless_traffic(cfg: &CanaryConfig, seen: &Observed) -> Vec<String> {
    let mut out = Vec::new();
    for (arn, primary, canary) in &seen.splits {
        for (tg, weight) in [
            (&cfg.primary_target_group, primary),
            (&cfg.canary_target_group, canary),
        ] {
            let steady = seen
                .live
                .iter()
                .any(|t| &t.3 == tg && t.2 == "STEADY_STATE");
            if *weight > 0 && !steady {
                out.push(format!("{weight}% of {arn} to {tg}"));
            }
        }
    }
    out
}

async fn kill_and_recover(name: &str, k: KillPoint) {
    let victim = match k.victim {
        Victim::Provider => "kill -9 provider",
        Victim::Terraform => "kill -9 terraform",
    };
    let mut row = ReliabilityRow::new(
        SUITE,
        &format!("{}: {victim}", k.label),
        &format!(
            "{} -> {:?}, killed once {} #{} took effect",
            k.prior
                .last()
                .map(|p| format!("{p:?}"))
                .unwrap_or_else(|| "no deployment".into()),
            k.target,
            k.operation,
            k.skip + 1
        ),
        "next apply converges; no orphaned task set; state matches AWS; plan empty; traffic always on a steady task set",
    );
    let rig = stack(name).await;
    rig.aws.put_alarm(ALARM).await;
    for phase in k.prior {
        rig.ws.config(&phase.config(&rig.infra).hcl());
        rig.ws.apply(&[]);
    }
    let target = k.target.config(&rig.infra);
    let sampler = Sampler::start(rig.emu.endpoint(), target.clone(), !k.prior.is_empty());
    rig.reset_traffic();

    // The apply that dies.
    rig.proxy().reset();
    rig.proxy().faults(json!([{
        "operation": k.operation, "kind": "hold_after_commit", "skip": k.skip, "times": 1, "seconds": 120
    }]));
    rig.ws.config(&target.hcl());
    let running = rig.ws.spawn(&APPLY);
    let terraform = running.pid();
    assert!(
        rig.proxy().wait_held(Duration::from_secs(90)),
        "{} #{} never happened; proxy: {}",
        k.operation,
        k.skip + 1,
        rig.proxy().stats()
    );
    let providers: Vec<u32> = provider_pids(terraform)
        .into_iter()
        .filter(|p| pid_alive(*p))
        .collect();
    assert!(
        !providers.is_empty(),
        "no provider process under {terraform}"
    );
    let mut orphaned_provider_exited = None;
    match k.victim {
        Victim::Provider => providers.iter().for_each(|p| kill9(*p)),
        Victim::Terraform => {
            kill9(terraform);
            // The provider notices its parent is gone and exits on its own, before the held
            // answer arrives: no orphaned plugin carries on the rollout unobserved.
            let deadline = Instant::now() + Duration::from_secs(10);
            while providers.iter().any(|p| pid_alive(*p)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let alive: Vec<u32> = providers
                .iter()
                .copied()
                .filter(|p| pid_alive(*p))
                .collect();
            orphaned_provider_exited = Some(alive.is_empty());
            alive.iter().for_each(|p| kill9(*p));
        }
    }
    let killed = running.wait();
    assert!(
        !killed.success(),
        "the killed apply cannot succeed:\n{killed}"
    );
    rig.proxy().clear_faults();

    // Recovery.
    let (recovery, unlocked) = recover(&rig);
    assert!(recovery.success(), "the recovery apply failed:\n{recovery}");
    let state = rig.state();
    let summary = rig.aws.assert_matches_state(&target, &state).await;
    let (code, plan) = rig.ws.plan_detailed();
    let sampled = sampler.finish();
    assert_eq!(code, 0, "the plan after recovery must be empty:\n{plan}");
    assert!(
        sampled.violations.is_empty(),
        "traffic reached a target group without a steady task set in {} of {} samples: {:#?}",
        sampled.violations.len(),
        sampled.samples,
        sampled.violations
    );
    assert!(sampled.samples > 0, "the sampler took no sample");
    // The emulator's per-task-set model, over the killed apply and the recovery.
    let traffic = rig.traffic();
    assert!(
        traffic.violations.is_empty() && traffic.mixed.is_empty(),
        "{}",
        traffic.report()
    );
    assert_eq!(
        orphaned_provider_exited,
        if k.victim == Victim::Terraform {
            Some(true)
        } else {
            None
        },
        "after kill -9 of Terraform the provider must exit by itself"
    );
    let recovery_steps: Vec<String> = state["rollout_steps"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    row.figure("samples", sampled.samples);
    row.figure("sample_interval_ms", sampled.interval_ms());
    row.figure("unsteady_moments", sampled.violations.len() as u64);
    row.figure("unproven_traffic", traffic.violations.len() as u64);
    row.figure("mixed_target_groups", traffic.mixed.len() as u64);
    row.figure("orphans_left", 0);
    row.figure("recovery_applies", 1);
    row.figure("force_unlock", unlocked);
    row.figure("recovery_steps", recovery_steps.join("; "));
    row.pass(&format!(
        "converged: {summary}; 0 orphans; {} samples, 0 with traffic off a steady task set{}{}",
        sampled.samples,
        if unlocked {
            "; stale lock force-unlocked"
        } else {
            ""
        },
        if orphaned_provider_exited == Some(true) {
            "; orphaned provider exited by itself"
        } else {
            ""
        }
    ));
}

const BOOT: &[Phase] = &[];
const AFTER_BOOT: &[Phase] = &[Phase::Boot];
const AT_10: &[Phase] = &[Phase::Boot, Phase::Canary10];
const AT_50: &[Phase] = &[Phase::Boot, Phase::Canary50];

fn point(
    label: &'static str,
    prior: &'static [Phase],
    target: Phase,
    operation: &'static str,
    skip: u32,
) -> KillPoint {
    KillPoint {
        label,
        prior,
        target,
        operation,
        skip,
        victim: Victim::Provider,
    }
}

fn terraform(mut k: KillPoint) -> KillPoint {
    k.victim = Victim::Terraform;
    k
}

/// Quick case for `make test`: the provider dies right after creating the canary.
#[tokio::test]
async fn provider_killed_after_canary_create() {
    kill_and_recover(
        "kq",
        point(
            "canary in, after canary create",
            AFTER_BOOT,
            Phase::Canary10,
            "ecs.CreateTaskSet",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_after_bootstrap_create() {
    kill_and_recover(
        "kb1",
        point(
            "bootstrap, after stable create",
            BOOT,
            Phase::Boot,
            "ecs.CreateTaskSet",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_after_bootstrap_primary_switch() {
    kill_and_recover(
        "kb2",
        point(
            "bootstrap, after primary switch",
            BOOT,
            Phase::Boot,
            "ecs.UpdateServicePrimaryTaskSet",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_after_canary_listener_shift() {
    kill_and_recover(
        "kc1",
        point(
            "canary in, after 90/10 on the listener",
            AFTER_BOOT,
            Phase::Canary10,
            "elbv2.ModifyListener",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_after_canary_rule_shift() {
    kill_and_recover(
        "kc2",
        point(
            "canary in, after 90/10 on the rule",
            AFTER_BOOT,
            Phase::Canary10,
            "elbv2.ModifyRule",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_after_test_listener_routed() {
    kill_and_recover(
        "kc3",
        point(
            "canary in, after the test listener moved to the canary",
            AFTER_BOOT,
            Phase::Canary10,
            "elbv2.ModifyListener",
            1,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_after_shift_to_50_listener() {
    kill_and_recover(
        "kt1",
        point(
            "10% -> 50%, after the listener shift",
            AT_10,
            Phase::Canary50,
            "elbv2.ModifyListener",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_after_shift_to_50_rule() {
    kill_and_recover(
        "kt2",
        point(
            "10% -> 50%, after the rule shift",
            AT_10,
            Phase::Canary50,
            "elbv2.ModifyRule",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_after_promote_create() {
    kill_and_recover(
        "kp1",
        point(
            "replace promote, after new stable create",
            AT_50,
            Phase::PromoteReplace,
            "ecs.CreateTaskSet",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_after_primary_switch() {
    kill_and_recover(
        "kp2",
        point(
            "promote, after primary switch",
            AT_50,
            Phase::Promote,
            "ecs.UpdateServicePrimaryTaskSet",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_after_promote_listener_shift() {
    kill_and_recover(
        "kp3",
        point(
            "promote, after 100/0 on the listener",
            AT_50,
            Phase::Promote,
            "elbv2.ModifyListener",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_after_promote_rule_shift() {
    kill_and_recover(
        "kp4",
        point(
            "promote, after 100/0 on the rule",
            AT_50,
            Phase::Promote,
            "elbv2.ModifyRule",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_after_canary_delete() {
    kill_and_recover(
        "kp5",
        point(
            "promote, after deleting the old stable",
            AT_50,
            Phase::Promote,
            "ecs.DeleteTaskSet",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_after_old_stable_delete() {
    kill_and_recover(
        "kp6",
        point(
            "replace promote, after deleting the canary",
            AT_50,
            Phase::PromoteReplace,
            "ecs.DeleteTaskSet",
            1,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_after_rollback_shift() {
    kill_and_recover(
        "kr1",
        point(
            "rollback, after 100/0 on the listener",
            AT_50,
            Phase::Boot,
            "elbv2.ModifyListener",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_after_rollback_delete() {
    kill_and_recover(
        "kr2",
        point(
            "rollback, after deleting the canary",
            AT_50,
            Phase::Boot,
            "ecs.DeleteTaskSet",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn terraform_killed_after_canary_create() {
    kill_and_recover(
        "ktc",
        terraform(point(
            "canary in, after canary create",
            AFTER_BOOT,
            Phase::Canary10,
            "ecs.CreateTaskSet",
            0,
        )),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn terraform_killed_after_primary_switch() {
    kill_and_recover(
        "ktp",
        terraform(point(
            "promote, after primary switch",
            AT_50,
            Phase::Promote,
            "ecs.UpdateServicePrimaryTaskSet",
            0,
        )),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn terraform_killed_after_canary_delete() {
    kill_and_recover(
        "ktd",
        terraform(point(
            "promote, after deleting the old stable",
            AT_50,
            Phase::Promote,
            "ecs.DeleteTaskSet",
            0,
        )),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn terraform_killed_during_bootstrap() {
    kill_and_recover(
        "ktb",
        terraform(point(
            "bootstrap, after primary switch",
            BOOT,
            Phase::Boot,
            "ecs.UpdateServicePrimaryTaskSet",
            0,
        )),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_replace_promote_after_all_traffic_to_the_canary() {
    kill_and_recover(
        "kr3",
        point(
            "replace promote, after all traffic to the canary",
            AT_50,
            Phase::PromoteReplace,
            "elbv2.ModifyListener",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_replace_promote_after_the_canary_became_primary() {
    kill_and_recover(
        "kr4",
        point(
            "replace promote, after the canary became PRIMARY",
            AT_50,
            Phase::PromoteReplace,
            "ecs.UpdateServicePrimaryTaskSet",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_replace_promote_after_deleting_the_old_stable() {
    kill_and_recover(
        "kr5",
        point(
            "replace promote, after deleting the old stable",
            AT_50,
            Phase::PromoteReplace,
            "ecs.DeleteTaskSet",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_replace_promote_after_traffic_back_to_blue() {
    kill_and_recover(
        "kr6",
        point(
            "replace promote, after traffic back to blue",
            AT_50,
            Phase::PromoteReplace,
            "elbv2.ModifyListener",
            1,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_replace_promote_after_the_new_stable_became_primary() {
    kill_and_recover(
        "kr7",
        point(
            "replace promote, after the new stable became PRIMARY",
            AT_50,
            Phase::PromoteReplace,
            "ecs.UpdateServicePrimaryTaskSet",
            1,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_blue_green_after_new_stable_create() {
    kill_and_recover(
        "kg1",
        point(
            "blue/green, after new stable create",
            AFTER_BOOT,
            Phase::BlueGreen,
            "ecs.CreateTaskSet",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_blue_green_after_the_test_listener_moved() {
    kill_and_recover(
        "kg2",
        point(
            "blue/green, after the test listener moved",
            AFTER_BOOT,
            Phase::BlueGreen,
            "elbv2.ModifyListener",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_blue_green_after_the_listener_moved() {
    kill_and_recover(
        "kg3",
        point(
            "blue/green, after the listener moved",
            AFTER_BOOT,
            Phase::BlueGreen,
            "elbv2.ModifyListener",
            1,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_blue_green_after_the_rule_moved() {
    kill_and_recover(
        "kg4",
        point(
            "blue/green, after the rule moved",
            AFTER_BOOT,
            Phase::BlueGreen,
            "elbv2.ModifyRule",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_blue_green_after_primary_switch() {
    kill_and_recover(
        "kg5",
        point(
            "blue/green, after primary switch",
            AFTER_BOOT,
            Phase::BlueGreen,
            "ecs.UpdateServicePrimaryTaskSet",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_blue_green_after_deleting_the_old_stable() {
    kill_and_recover(
        "kg6",
        point(
            "blue/green, after deleting the old stable",
            AFTER_BOOT,
            Phase::BlueGreen,
            "ecs.DeleteTaskSet",
            0,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn terraform_killed_blue_green_after_the_listener_moved() {
    kill_and_recover(
        "ktg",
        terraform(point(
            "blue/green, after the listener moved",
            AFTER_BOOT,
            Phase::BlueGreen,
            "elbv2.ModifyListener",
            1,
        )),
    )
    .await;
}

/// Control for the sampler: with `wait_for_steady_state = false` the provider moves traffic to
/// a canary that is still STABILIZING, and the sampler must see it. Without this, "zero
/// moments" above could mean a blind sampler.
#[tokio::test]
#[ignore = "long: make reliability"]
async fn sampler_control_sees_traffic_on_an_unsteady_canary() {
    let mut row = ReliabilityRow::new(
        SUITE,
        "control: wait_for_steady_state = false",
        "Boot -> Canary10 with traffic moved before the canary is steady (3 s STABILIZING), no kill",
        "the sampler reports traffic on a target group without a steady task set",
    );
    let rig = stack("kctl").await;
    rig.emu.configure(json!({"stabilize_seconds": 3}));
    let boot = Phase::Boot
        .config(&rig.infra)
        .extra("wait_for_steady_state = false");
    rig.ws.config(&boot.hcl());
    rig.ws.apply(&[]);
    // Wait for the stable task set to settle, so only the canary can be unsteady.
    std::thread::sleep(Duration::from_secs(4));
    let target = Phase::Canary10
        .config(&rig.infra)
        .extra("wait_for_steady_state = false");
    let sampler = Sampler::start(rig.emu.endpoint(), target.clone(), true);
    std::thread::sleep(Duration::from_millis(500));
    rig.ws.config(&target.hcl());
    rig.ws.apply(&[]);
    std::thread::sleep(Duration::from_secs(4));
    let sampled = sampler.finish();
    assert!(
        !sampled.violations.is_empty(),
        "the sampler missed traffic on a STABILIZING canary in {} samples",
        sampled.samples
    );
    row.figure("samples", sampled.samples);
    row.figure("sample_interval_ms", sampled.interval_ms());
    row.figure("unsteady_moments", sampled.violations.len() as u64);
    row.pass(&format!(
        "seen: {} of {} samples had traffic on a target group whose only task set was STABILIZING",
        sampled.violations.len(),
        sampled.samples
    ));
}

const AT_GATE: &[Phase] = &[Phase::Boot, Phase::Gated];

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_mid_bake() {
    kill_and_recover(
        "kb1",
        point(
            "scheduled release, mid-bake at step 1 (10%)",
            AFTER_BOOT,
            Phase::Scheduled,
            "cloudwatch.DescribeAlarms",
            2,
        ),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn terraform_killed_mid_bake() {
    kill_and_recover(
        "kb2",
        terraform(point(
            "scheduled release, mid-bake at step 1 (10%)",
            AFTER_BOOT,
            Phase::Scheduled,
            "cloudwatch.DescribeAlarms",
            2,
        )),
    )
    .await;
}

#[tokio::test]
#[ignore = "long: make reliability"]
async fn provider_killed_after_the_shift_past_an_approved_gate() {
    kill_and_recover(
        "kg1",
        point(
            "held at a gate, approved: after 50/50 on the rule",
            AT_GATE,
            Phase::GateApproved,
            "elbv2.ModifyRule",
            0,
        ),
    )
    .await;
}
