//! The randomized release walk (`make chaos`): seeded, reproducible sequences of release
//! operations through real Terraform against the emulator, with the release's invariants
//! checked after every operation. In the spirit of Jepsen and FoundationDB's simulation
//! testing: the operations are drawn at random (config edits, actions, alarm flips, proxy
//! faults, `kill -9`, Ctrl-C, a failing first apply), the checks are the same every time.
//!
//! Invariants, after every operation:
//! - (a) production traffic never rests on a target group without a steady task set of the
//!   deployment (a background sampler reads ECS and ELBv2 every ~100 ms);
//! - (b) no unproven task set takes traffic, no mixed versions behind one weighted target
//!   group (the emulator's traffic model, sampled after every AWS call);
//! - (c) after a recovery apply (a plain `terraform apply` of the same configuration, faults
//!   cleared, alarm OK) the state is what AWS holds and the next plan is empty;
//! - (d) no orphaned task set: the live task sets are the state's stable and canary;
//! - (e) a rolled-back or aborted (version, attempt) is never started again until the
//!   canary's version changes or `attempt` is raised;
//! - (f) plans never write (every `terraform plan` runs in the emulator's write window).
//!
//! Knobs: `CHAOS_SEQUENCES` (default 1), `CHAOS_SEED` (the first sequence's seed; sequence
//! `i` runs seed `CHAOS_SEED + i`, so `CHAOS_SEED=N CHAOS_SEQUENCES=1` replays sequence N),
//! `CHAOS_OPS` (`8-15`, or one number), `CHAOS_SHRINK` (`0` turns shrinking off),
//! `CHAOS_BREAK=no_wait` (a deliberately broken rig, to show the walk fails).
//!
//! Every test here is `#[ignore]`d: `make test` does not run them; `make chaos` runs the
//! `walk_` ones, `make chaos CHAOS_TESTS=regression_` the shrunk sequences the walk found
//! (those marked "fails on main" fail until the provider bug they name is fixed).

mod common;

use common::{kill9, pid_alive, provider_pids, state_values, Aws, CanaryConfig, Running, Stack};
use serde_json::{json, Value as Json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ADDR: &str = common::CANARY_ADDR;
const APPLY: [&str; 4] = ["apply", "-auto-approve", "-input=false", "-no-color"];
const ALARM: &str = "chaos-5xx";

// --- the PRNG ----------------------------------------------------------------------------------

/// splitmix64: small, self-contained and the same on every machine, so a seed names one
/// sequence for good.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5eed_c4a0_5eed_c4a0)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.range(1, 100) <= percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.range(0, items.len() as u64 - 1) as usize]
    }
}

// --- operations ----------------------------------------------------------------------------------

/// A canary step: traffic percent and a pause in seconds, or a gate (`None`).
type Step = (u32, Option<u32>);

/// What an operation changes, in the configuration or through an action.
#[derive(Clone, Debug, PartialEq)]
enum Edit {
    /// Apply the configuration as it is.
    Keep,
    /// The first apply, with a canary whose version never turns steady (it fails).
    FirstApplyFails,
    /// A canary of task definition revision `rev` at `traffic` percent.
    Canary {
        rev: usize,
        traffic: u32,
    },
    /// A canary of revision `rev` walking `steps`.
    Schedule {
        rev: usize,
        steps: Vec<Step>,
    },
    /// The canary's `traffic_percent` (its steps dropped).
    Traffic(u32),
    /// `approved_step` raised to the first gate not yet approved.
    Approve,
    /// `canary.promote = true`.
    Promote,
    /// `promotion = "swap"` or `"replace"`.
    Promotion(&'static str),
    RemoveCanary,
    /// `stable.task_definition` = revision `rev`, the canary block removed (a promotion when
    /// the canary ran `rev`, else a blue/green change).
    Stable(usize),
    /// `canary.attempt` + 1.
    Attempt,
    Destroy,
    /// `terraform apply -invoke=action.ecsx_canary_continue.web`.
    Continue,
    /// `terraform apply -invoke=action.ecsx_canary_abort.web`.
    Abort,
}

/// How the operation's Terraform command runs.
#[derive(Clone, Debug, PartialEq)]
enum Mode {
    Plain,
    /// The alarm goes into ALARM `after_ms` into the command.
    Alarm {
        after_ms: u64,
    },
    /// Proxy faults on `operation` for the next `times` calls.
    Fault {
        operation: &'static str,
        kind: &'static str,
        times: u32,
    },
    /// `kill -9` of the provider (or of Terraform) `after_ms` into the command.
    Kill {
        terraform: bool,
        after_ms: u64,
    },
    /// `kill -9` of the provider (or of Terraform) once the `skip`+1-th `operation` call took
    /// effect in AWS and its answer is held back (the proxy's `hold_after_commit`).
    KillAtCall {
        terraform: bool,
        operation: &'static str,
        skip: u32,
    },
    /// SIGINT to Terraform's process group `after_ms` into the command.
    CtrlC {
        after_ms: u64,
    },
}

#[derive(Clone, Debug, PartialEq)]
struct Op {
    edit: Edit,
    mode: Mode,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps = |s: &[Step]| {
            s.iter()
                .map(|(t, p)| match p {
                    Some(p) => format!("{t}%/{p}s"),
                    None => format!("{t}%/gate"),
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        match &self.edit {
            Edit::Keep => write!(f, "apply as is")?,
            Edit::FirstApplyFails => write!(f, "first apply with a never-steady canary")?,
            Edit::Canary { rev, traffic } => write!(f, "canary rev{rev} at {traffic}%")?,
            Edit::Schedule { rev, steps: s } => write!(f, "canary rev{rev} steps [{}]", steps(s))?,
            Edit::Traffic(t) => write!(f, "canary traffic {t}%")?,
            Edit::Approve => write!(f, "approve the next gate")?,
            Edit::Promote => write!(f, "promote = true")?,
            Edit::Promotion(m) => write!(f, "promotion = {m}")?,
            Edit::RemoveCanary => write!(f, "remove the canary")?,
            Edit::Stable(r) => write!(f, "stable rev{r}, no canary")?,
            Edit::Attempt => write!(f, "raise attempt")?,
            Edit::Destroy => write!(f, "destroy")?,
            Edit::Continue => write!(f, "action continue")?,
            Edit::Abort => write!(f, "action abort")?,
        }
        match &self.mode {
            Mode::Plain => Ok(()),
            Mode::Alarm { after_ms } => write!(f, " | alarm fires after {after_ms} ms"),
            Mode::Fault {
                operation,
                kind,
                times,
            } => write!(f, " | {kind} x{times} on {operation}"),
            Mode::Kill {
                terraform,
                after_ms,
            } => write!(
                f,
                " | kill -9 {} after {after_ms} ms",
                if *terraform { "terraform" } else { "provider" }
            ),
            Mode::KillAtCall {
                terraform,
                operation,
                skip,
            } => write!(
                f,
                " | kill -9 {} once {operation} #{} took effect",
                if *terraform { "terraform" } else { "provider" },
                skip + 1
            ),
            Mode::CtrlC { after_ms } => write!(f, " | Ctrl-C after {after_ms} ms"),
        }
    }
}

/// Operations as Rust, for turning a shrunk sequence into a regression test.
fn as_rust(ops: &[Op]) -> String {
    ops.iter()
        .map(|o| format!("        {o:?},"))
        .collect::<Vec<_>>()
        .join("\n")
}

const FAULT_OPERATIONS: &[&str] = &[
    "ecs.CreateTaskSet",
    "ecs.UpdateTaskSet",
    "ecs.DeleteTaskSet",
    "ecs.DescribeTaskSets",
    "ecs.DescribeServices",
    "ecs.UpdateServicePrimaryTaskSet",
    "ecs.TagResource",
    "elbv2.ModifyRule",
    "elbv2.ModifyListener",
    "elbv2.DescribeRules",
    "elbv2.DescribeListeners",
    "cloudwatch.DescribeAlarms",
];

/// The AWS writes a kill can follow.
const WRITE_OPERATIONS: &[&str] = &[
    "ecs.CreateTaskSet",
    "ecs.UpdateTaskSet",
    "ecs.DeleteTaskSet",
    "ecs.UpdateServicePrimaryTaskSet",
    "ecs.TagResource",
    "elbv2.ModifyRule",
    "elbv2.ModifyListener",
];

fn random_steps(rng: &mut Rng) -> Vec<Step> {
    let n = rng.range(1, 3) as usize;
    let mut pcts: BTreeSet<u32> = BTreeSet::new();
    while pcts.len() < n {
        pcts.insert(rng.pick(&[10, 25, 50, 75, 100]));
    }
    pcts.into_iter()
        .map(|t| {
            if rng.chance(25) {
                (t, None)
            } else {
                (t, Some(rng.range(1, 3) as u32))
            }
        })
        .collect()
}

fn random_mode(rng: &mut Rng, edit: &Edit) -> Mode {
    if matches!(edit, Edit::FirstApplyFails) {
        return Mode::Plain;
    }
    let roll = rng.range(1, 100);
    match roll {
        1..=30 => Mode::Plain,
        31..=48 => Mode::Alarm {
            after_ms: rng.range(0, 2500),
        },
        49..=62 => Mode::Fault {
            operation: rng.pick(FAULT_OPERATIONS),
            kind: rng.pick(&["throttle", "http500"]),
            times: rng.range(1, 3) as u32,
        },
        63..=80 => Mode::KillAtCall {
            terraform: rng.chance(30),
            operation: rng.pick(WRITE_OPERATIONS),
            skip: rng.range(0, 2) as u32,
        },
        81..=88 => Mode::Kill {
            terraform: rng.chance(30),
            after_ms: rng.range(200, 2500),
        },
        _ => Mode::CtrlC {
            after_ms: rng.range(300, 3000),
        },
    }
}

/// A sequence of `n` operations for `seed`: the first deploys (sometimes through a failing
/// first apply), the rest are drawn with weights.
fn generate(seed: u64, n: usize) -> Vec<Op> {
    let mut rng = Rng::new(seed);
    let mut ops = Vec::with_capacity(n);
    let first = if rng.chance(25) {
        Edit::FirstApplyFails
    } else {
        Edit::Keep
    };
    ops.push(Op {
        mode: random_mode(&mut rng, &first),
        edit: first,
    });
    while ops.len() < n {
        let edit = match rng.range(1, 100) {
            1..=16 => Edit::Canary {
                rev: rng.range(0, 2) as usize,
                traffic: rng.pick(&[10, 25, 50, 100]),
            },
            17..=36 => Edit::Schedule {
                rev: rng.range(0, 2) as usize,
                steps: random_steps(&mut rng),
            },
            37..=42 => Edit::Traffic(rng.pick(&[0, 10, 50, 100])),
            43..=50 => Edit::Approve,
            51..=56 => Edit::Promote,
            57..=60 => Edit::Promotion(rng.pick(&["swap", "replace"])),
            61..=66 => Edit::RemoveCanary,
            67..=72 => Edit::Stable(rng.range(0, 2) as usize),
            73..=77 => Edit::Attempt,
            78..=80 => Edit::Destroy,
            81..=90 => Edit::Continue,
            91..=96 => Edit::Abort,
            _ => Edit::Keep,
        };
        ops.push(Op {
            mode: random_mode(&mut rng, &edit),
            edit,
        });
    }
    ops
}

// --- the walker's model of the configuration -------------------------------------------------------

#[derive(Clone, Debug)]
struct CanarySpec {
    rev: usize,
    traffic: u32,
    steps: Vec<Step>,
    approved: usize,
    promote: bool,
}

#[derive(Clone, Debug)]
struct Model {
    stable: usize,
    canary: Option<CanarySpec>,
    attempt: u32,
    promotion: &'static str,
    /// A short create timeout (the failing first apply).
    short_create: bool,
}

impl Model {
    fn new() -> Self {
        Model {
            stable: 0,
            canary: None,
            attempt: 1,
            promotion: "swap",
            short_create: false,
        }
    }

    /// A canary revision that differs from the stable one.
    fn other(&self, rev: usize) -> usize {
        if rev == self.stable {
            (rev + 1) % 3
        } else {
            rev
        }
    }

    /// Applies a configuration edit; false when it changes nothing here.
    fn edit(&mut self, edit: &Edit) -> bool {
        match edit {
            Edit::Keep | Edit::Destroy | Edit::Continue | Edit::Abort => return true,
            Edit::FirstApplyFails => {
                self.canary = Some(CanarySpec {
                    rev: self.other(1),
                    traffic: 10,
                    steps: vec![],
                    approved: 0,
                    promote: false,
                });
            }
            Edit::Canary { rev, traffic } => {
                self.canary = Some(CanarySpec {
                    rev: self.other(*rev),
                    traffic: *traffic,
                    steps: vec![],
                    approved: 0,
                    promote: false,
                });
            }
            Edit::Schedule { rev, steps } => {
                self.canary = Some(CanarySpec {
                    rev: self.other(*rev),
                    traffic: 0,
                    steps: steps.clone(),
                    approved: 0,
                    promote: false,
                });
            }
            Edit::Traffic(t) => {
                let Some(c) = &mut self.canary else {
                    return false;
                };
                c.steps.clear();
                c.approved = 0;
                c.traffic = *t;
            }
            Edit::Approve => {
                let Some(c) = &mut self.canary else {
                    return false;
                };
                let Some(gate) = c
                    .steps
                    .iter()
                    .enumerate()
                    .position(|(i, (_, p))| p.is_none() && i + 1 > c.approved)
                else {
                    return false;
                };
                c.approved = gate + 1;
            }
            Edit::Promote => {
                let Some(c) = &mut self.canary else {
                    return false;
                };
                c.promote = true;
            }
            Edit::Promotion(m) => self.promotion = m,
            Edit::RemoveCanary => {
                if self.canary.take().is_none() {
                    return false;
                }
            }
            Edit::Stable(rev) => {
                self.stable = *rev;
                self.canary = None;
            }
            Edit::Attempt => self.attempt += 1,
        }
        true
    }

    fn config(&self, s: &Stack) -> CanaryConfig {
        let create = if self.short_create { "6s" } else { "60s" };
        let mut extra = format!(
            "  analysis {{\n    alarm_names    = [{ALARM:?}]\n    check_interval = \"1s\"\n  }}\n  timeouts {{\n    create = {create:?}\n    update = \"60s\"\n    delete = \"60s\"\n  }}\n"
        );
        if self.promotion != "swap" {
            extra += &format!("  promotion = {:?}\n", self.promotion);
        }
        let cfg = CanaryConfig::new(&s.infra)
            .stable(&s.td(self.stable))
            .extra(&extra);
        let Some(c) = &self.canary else {
            return cfg;
        };
        let mut lines = String::new();
        if c.approved > 0 {
            lines += &format!("    approved_step = {}\n", c.approved);
        }
        if c.promote {
            lines += "    promote = true\n";
        }
        let mut cfg = if c.steps.is_empty() {
            let mut cfg = cfg.canary(&s.td(c.rev), c.traffic);
            cfg.canary_attempt = Some(self.attempt);
            cfg
        } else {
            let steps: Vec<(u32, String)> = c
                .steps
                .iter()
                .map(|(t, p)| (*t, p.map_or("approval".to_string(), |p| format!("{p}s"))))
                .collect();
            let refs: Vec<(u32, &str)> = steps.iter().map(|(t, p)| (*t, p.as_str())).collect();
            cfg.canary_steps(&s.td(c.rev), &refs, self.attempt)
        };
        cfg = cfg.canary_extra(&lines);
        cfg
    }
}

// --- invariant (a): the traffic sampler ------------------------------------------------------------

/// What the background sampler saw: moments when a target group with weight had no steady
/// task set, and every task set it ever saw (id -> (task definition, first seen)).
#[derive(Default)]
struct Seen {
    samples: u64,
    homeless: Vec<String>,
    sets: HashMap<String, String>,
}

/// Reads ECS and ELBv2 every ~100 ms (the emulator directly, not through the proxy).
struct Sampler {
    stop: Arc<AtomicBool>,
    armed: Arc<AtomicBool>,
    suspended: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(endpoint: String, cfg: CanaryConfig) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        // Armed once traffic first has a steady home; disarmed around a destroy.
        let armed = Arc::new(AtomicBool::new(false));
        let suspended = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (flag, arm, out) = (stop.clone(), armed.clone(), seen.clone());
        let off = suspended.clone();
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("sampler runtime");
            rt.block_on(async move {
                let aws = Aws::connect_to(&endpoint).await;
                while !flag.load(Ordering::SeqCst) {
                    let tick = Instant::now();
                    let before = weights(&aws, &cfg).await;
                    let sets = aws.task_sets(&cfg.cluster, &cfg.service).await;
                    let after = weights(&aws, &cfg).await;
                    if before == after {
                        let homeless = homeless(&cfg, &after, &sets);
                        let mut seen = out.lock().expect("sampler lock");
                        seen.samples += 1;
                        for t in &sets {
                            seen.sets
                                .entry(t.id().unwrap_or_default().to_string())
                                .or_insert_with(|| t.task_definition().unwrap_or_default().into());
                        }
                        if off.load(Ordering::SeqCst) {
                            // A destroy: nothing to protect until the next create.
                        } else if homeless.is_empty() {
                            arm.store(true, Ordering::SeqCst);
                        } else if arm.load(Ordering::SeqCst) {
                            let live: Vec<String> = sets
                                .iter()
                                .filter(|t| t.status() != Some("DRAINING"))
                                .map(|t| {
                                    format!(
                                        "{} {} {} on {}",
                                        t.id().unwrap_or_default(),
                                        t.status().unwrap_or_default(),
                                        t.stability_status().map(|s| s.as_str()).unwrap_or(""),
                                        short_tg(common::target_group(t))
                                    )
                                })
                                .collect();
                            seen.homeless.push(format!(
                                "{}; live: [{}]",
                                homeless.join(", "),
                                live.join("; ")
                            ));
                        }
                    }
                    let period = Duration::from_millis(100);
                    tokio::time::sleep(period.saturating_sub(tick.elapsed())).await;
                }
            })
        });
        Sampler {
            stop,
            armed,
            suspended,
            seen,
            handle: Some(handle),
        }
    }

    /// Around a destroy: the deployment is going away with its task sets, and the routers
    /// keep forwarding to a target group nobody serves; nothing counts until `resume`.
    fn suspend(&self) {
        self.suspended.store(true, Ordering::SeqCst);
        self.armed.store(false, Ordering::SeqCst);
    }

    /// After a create finished: counts again once traffic has a steady home.
    fn resume(&self) {
        self.armed.store(false, Ordering::SeqCst);
        self.suspended.store(false, Ordering::SeqCst);
    }

    fn homeless_count(&self) -> usize {
        self.seen.lock().expect("sampler lock").homeless.len()
    }

    fn homeless_since(&self, from: usize) -> Vec<String> {
        self.seen.lock().expect("sampler lock").homeless[from..].to_vec()
    }

    fn sets(&self) -> HashMap<String, String> {
        self.seen.lock().expect("sampler lock").sets.clone()
    }

    fn samples(&self) -> u64 {
        self.seen.lock().expect("sampler lock").samples
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The last `n` characters of `text`, on a character boundary.
fn tail(text: &str, n: usize) -> String {
    let skip = text.chars().count().saturating_sub(n);
    text.chars().skip(skip).collect()
}

fn short_tg(arn: &str) -> &str {
    arn.rsplit('/').nth(1).unwrap_or(arn)
}

/// (router, weight per target group) of every production router (listener and rule) the
/// configuration names; test listeners carry no production traffic.
async fn weights(aws: &Aws, cfg: &CanaryConfig) -> Vec<(String, Vec<(String, i32)>)> {
    let mut out = Vec::new();
    for arn in cfg.listeners.iter().chain(&cfg.rules) {
        let mut w = aws.forward_weights(arn).await;
        w.sort();
        out.push((arn.clone(), w));
    }
    out
}

/// Target groups with weight on some router but no live STEADY_STATE task set.
fn homeless(
    cfg: &CanaryConfig,
    routers: &[(String, Vec<(String, i32)>)],
    sets: &[aws_sdk_ecs::types::TaskSet],
) -> Vec<String> {
    let mut out = Vec::new();
    for (arn, weights) in routers {
        for (tg, w) in weights {
            if *w <= 0 || (tg != &cfg.primary_target_group && tg != &cfg.canary_target_group) {
                continue;
            }
            let steady = sets.iter().any(|t| {
                common::target_group(t) == tg
                    && t.status() != Some("DRAINING")
                    && t.stability_status().map(|s| s.as_str()) == Some("STEADY_STATE")
            });
            if !steady {
                out.push(format!(
                    "weight {w} of {} on {} with no steady task set",
                    arn.rsplit('/').take(3).collect::<Vec<_>>().join("/"),
                    short_tg(tg)
                ));
            }
        }
    }
    out
}

// --- running one sequence --------------------------------------------------------------------------

/// A broken invariant: its letter and what was seen.
#[derive(Debug, Clone)]
struct Violation {
    invariant: char,
    at_op: usize,
    what: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invariant ({}) broken at operation {}: {}",
            self.invariant,
            self.at_op + 1,
            self.what
        )
    }
}

/// How a sequence ended.
struct Outcome {
    violation: Option<Violation>,
    log: Vec<String>,
    seconds: f64,
    samples: u64,
    plain_failures: u32,
}

/// `CHAOS_BREAK=no_wait`: a deliberately broken rig, to show the walk can fail. Every
/// configuration says `wait_for_steady_state = false`, so the provider moves traffic to task
/// sets the emulator still reports STABILIZING: invariants (a) and (b) must catch it.
fn broken_rig() -> Option<String> {
    std::env::var("CHAOS_BREAK").ok().filter(|v| !v.is_empty())
}

struct Walk<'a> {
    s: &'a Stack,
    sampler: Sampler,
    model: Model,
    deployed: bool,
    /// Rolled-back (task definition, attempt) pairs still held.
    held: HashSet<(String, u32)>,
    last_canary_td: Option<String>,
    /// Task set ids already judged by invariant (e).
    judged: HashSet<String>,
    /// `ecsx:release` tag values already read: a record counts once, when it appears. An
    /// abort's record stays on the stable task set after a release of another version ended
    /// the hold (seed 6042); read again later, it would hold the version back once more.
    records_seen: HashSet<String>,
    log: Vec<String>,
    op: usize,
    /// Configuration applies that failed with no fault, kill or alarm to explain it.
    plain_failures: u32,
    /// The next create starts from nothing after a destroy: its stable task set takes the
    /// traffic the routers still send to the live target group.
    fresh_create: bool,
}

impl Walk<'_> {
    fn note(&mut self, line: String) {
        eprintln!("    {line}");
        self.log.push(line);
    }

    fn violation(&self, invariant: char, what: String) -> Violation {
        Violation {
            invariant,
            at_op: self.op,
            what,
        }
    }

    fn config(&self) -> CanaryConfig {
        let mut cfg = self.model.config(self.s);
        if broken_rig().as_deref() == Some("no_wait") {
            cfg.extra += "  wait_for_steady_state = false\n";
        }
        cfg
    }

    fn write_config(&self) {
        self.s.deploy(&self.config());
        self.s.ws.write("actions.tf", common::ACTIONS_TF);
    }

    fn summary(out: &common::Output) -> String {
        let text = out.text();
        let first_error = text
            .split("Error: ")
            .nth(1)
            .map(|e| format!(": Error: {}", e.chars().take(300).collect::<String>()))
            .unwrap_or_default();
        format!(
            "terraform {} -> exit {} in {:.1}s{first_error}",
            out.args.join(" "),
            out.code,
            out.elapsed.as_secs_f64()
        )
    }

    /// Runs `args` under `mode`; returns the command's output and whether the mode disturbed it.
    async fn command(&mut self, args: &[&str], mode: &Mode) -> (common::Output, bool) {
        match mode {
            Mode::Plain => (self.s.ws.run(args), false),
            Mode::Fault {
                operation,
                kind,
                times,
            } => {
                self.s.proxy().reset();
                self.s
                    .proxy()
                    .faults(json!([{"operation": operation, "kind": kind, "times": times}]));
                let out = self.s.ws.run(args);
                let faults = self.s.proxy().stats()["faults"].clone();
                self.s.proxy().clear_faults();
                self.note(format!("proxy faults injected: {faults}"));
                (out, true)
            }
            Mode::Alarm { after_ms } => {
                let mut run = self.s.ws.spawn(args);
                let fired = self.wait_while_running(&mut run, *after_ms).await;
                if fired {
                    self.s
                        .aws
                        .set_alarm(ALARM, "ALARM", "Threshold Crossed: chaos")
                        .await;
                    self.note(format!("alarm set to ALARM at {after_ms} ms"));
                } else {
                    self.note("the command ended before the alarm flip".into());
                }
                let out = run.wait();
                self.s.aws.set_alarm(ALARM, "OK", "chaos: recovered").await;
                (out, fired)
            }
            Mode::Kill {
                terraform,
                after_ms,
            } => {
                let mut run = self.s.ws.spawn(args);
                let running = self.wait_while_running(&mut run, *after_ms).await;
                if !running {
                    self.note("the command ended before the kill".into());
                    return (run.wait(), false);
                }
                self.kill(&run, *terraform, format!("at {after_ms} ms"))
                    .await;
                (run.wait(), true)
            }
            Mode::KillAtCall {
                terraform,
                operation,
                skip,
            } => {
                self.s.proxy().reset();
                self.s.proxy().faults(json!([{
                    "operation": operation, "kind": "hold_after_commit",
                    "skip": skip, "times": 1, "seconds": 60
                }]));
                let mut run = self.s.ws.spawn(args);
                let mut held = false;
                while run.is_running() {
                    if self.s.proxy().stats()["held"].as_u64().unwrap_or(0) > 0 {
                        held = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                if held {
                    let when = format!("once {operation} #{} took effect", skip + 1);
                    self.kill(&run, *terraform, when).await;
                } else {
                    self.note(format!("{operation} #{} never came", skip + 1));
                }
                let out = run.wait();
                self.s.proxy().clear_faults();
                (out, held)
            }
            Mode::CtrlC { after_ms } => {
                let mut run = self.s.ws.spawn(args);
                let running = self.wait_while_running(&mut run, *after_ms).await;
                if running {
                    run.interrupt();
                    self.note(format!("Ctrl-C at {after_ms} ms"));
                } else {
                    self.note("the command ended before the Ctrl-C".into());
                }
                (run.wait(), running)
            }
        }
    }

    /// `kill -9` of Terraform (then of any provider still alive 10 s later: it should have
    /// exited by itself) or of its provider processes.
    async fn kill(&mut self, run: &Running, terraform: bool, when: String) {
        let tf = run.pid();
        let providers: Vec<u32> = provider_pids(tf)
            .into_iter()
            .filter(|p| pid_alive(*p))
            .collect();
        if terraform {
            kill9(tf);
            let deadline = Instant::now() + Duration::from_secs(10);
            while providers.iter().any(|p| pid_alive(*p)) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let alive: Vec<u32> = providers
                .iter()
                .copied()
                .filter(|p| pid_alive(*p))
                .collect();
            self.note(format!(
                "kill -9 terraform {tf} {when}; providers {providers:?} left alive after 10 s: {alive:?}"
            ));
            alive.iter().for_each(|p| kill9(*p));
        } else if providers.is_empty() {
            self.note(format!(
                "no provider process {when} (between Terraform's phases); killed terraform instead"
            ));
            kill9(tf);
        } else {
            providers.iter().for_each(|p| kill9(*p));
            self.note(format!("kill -9 provider {providers:?} {when}"));
        }
    }

    /// Sleeps `ms` unless the command ends first; true when it still runs.
    async fn wait_while_running(&self, run: &mut Running, ms: u64) -> bool {
        let until = Instant::now() + Duration::from_millis(ms);
        while Instant::now() < until {
            if !run.is_running() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        run.is_running()
    }

    /// A plain `terraform apply` (or destroy), releasing a stale lock a killed Terraform left.
    fn recover(&mut self, args: &[&str]) -> common::Output {
        let out = self.s.ws.run(args);
        if out.success() || !out.text().contains("Error acquiring the state lock") {
            return out;
        }
        let text = out.text();
        let id = text
            .split("ID: ")
            .nth(1)
            .and_then(|a| a.split_whitespace().next())
            .unwrap_or_default()
            .to_string();
        self.s.ws.ok(&["force-unlock", "-force", &id]);
        self.note(format!("stale state lock {id} force-unlocked"));
        self.s.ws.run(args)
    }

    /// One operation and the checks after it.
    async fn run_op(&mut self, op: &Op) -> Result<(), Violation> {
        self.s.reset_traffic();
        let homeless_from = self.sampler.homeless_count();
        let sets_before: HashSet<String> = self.sampler.sets().into_keys().collect();
        let was_deployed = self.deployed;
        if !self.deployed && matches!(op.edit, Edit::Continue | Edit::Abort | Edit::Destroy) {
            self.note("nothing deployed: applied as is instead".into());
            return Box::pin(self.run_op(&Op {
                edit: Edit::Keep,
                mode: op.mode.clone(),
            }))
            .await;
        }
        if !self.deployed {
            // Until a create has finished, the routers forward to a target group that nothing
            // serves yet, or only a task set the create may still remove when it fails:
            // (a) counts again from the first create that finished (see below).
            self.sampler.suspend();
        }
        let first_fail = matches!(op.edit, Edit::FirstApplyFails) && !self.deployed;
        if matches!(op.edit, Edit::FirstApplyFails) && !first_fail {
            self.note("already deployed: applied as is instead".into());
        } else if !self.model.edit(&op.edit) {
            self.note("nothing to change in the configuration".into());
        }
        if let Some(c) = &self.model.canary {
            let td = self.s.td(c.rev);
            if self.last_canary_td.as_deref() != Some(td.as_str()) {
                // A new canary version: a rollback of another version holds nothing now.
                self.held.clear();
                self.last_canary_td = Some(td);
            }
        }
        if first_fail {
            self.model.short_create = true;
            let td = self.s.td(self.model.canary.as_ref().map_or(1, |c| c.rev));
            self.s
                .emu
                .configure(json!({"never_stable_task_definitions": [td]}));
        }
        self.write_config();

        let invoke;
        let args: Vec<&str> = match op.edit {
            Edit::Destroy => {
                self.sampler.suspend();
                vec!["destroy", "-auto-approve", "-input=false", "-no-color"]
            }
            Edit::Continue | Edit::Abort => {
                let name = if op.edit == Edit::Continue {
                    "ecsx_canary_continue"
                } else {
                    "ecsx_canary_abort"
                };
                invoke = format!("-invoke=action.{name}.web");
                let mut a = APPLY.to_vec();
                a.push(&invoke);
                a
            }
            _ => APPLY.to_vec(),
        };
        let (out, disturbed) = self.command(&args, &op.mode).await;
        let summary = Self::summary(&out);
        self.note(summary);
        if !out.success() {
            self.log
                .push(format!("--- its output ---\n{}", tail(&out.text(), 1500)));
        }
        self.after_command(&sets_before)?;

        let destroy = op.edit == Edit::Destroy;
        if first_fail {
            self.s
                .emu
                .configure(json!({"never_stable_task_definitions": []}));
            self.model.short_create = false;
            self.write_config();
        }
        let action = matches!(op.edit, Edit::Continue | Edit::Abort);
        if !out.success() && !disturbed && !first_fail && !action {
            // A configuration apply that failed with nothing disturbing it: worth a look.
            self.plain_failures += 1;
            self.note("NOTE: a plain apply failed (see its output above)".into());
        }
        if !out.success() || disturbed || first_fail {
            // The recovery: the same configuration again, plainly.
            let rec_args: Vec<&str> = if destroy {
                vec!["destroy", "-auto-approve", "-input=false", "-no-color"]
            } else {
                APPLY.to_vec()
            };
            let rec = self.recover(&rec_args);
            let summary = Self::summary(&rec);
            self.note(format!("recovery: {summary}"));
            self.log
                .push(format!("--- its output ---\n{}", tail(&rec.text(), 2500)));
            self.after_command(&sets_before)?;
            if !rec.success() {
                return Err(self.violation('c', format!("the recovery apply failed:\n{rec}")));
            }
        } else if action {
            // An action cannot write the state: the next plan must keep what it did, and a
            // refresh records it.
            let (code, plan) = self.s.ws.plan_detailed();
            if code != 0 {
                return Err(self.violation(
                    'c',
                    format!("the plan after the action is not empty:\n{plan}"),
                ));
            }
            let refresh = self.s.ws.run(&[
                "apply",
                "-refresh-only",
                "-auto-approve",
                "-input=false",
                "-no-color",
            ]);
            self.note(format!("refresh: {}", Self::summary(&refresh)));
            if !refresh.success() {
                return Err(self.violation('c', format!("the refresh failed:\n{refresh}")));
            }
        }
        self.deployed = !destroy;
        if self.deployed && !was_deployed {
            self.sampler.resume();
        }
        if destroy {
            self.fresh_create = true;
            // The rollback records go with the state and the task sets: a create after a
            // destroy starts a new deployment, with no history to hold a version back.
            self.held.clear();
            let live = self.s.live().await;
            if !live.is_empty() {
                return Err(self.violation(
                    'd',
                    format!("destroy left {} live task set(s): {live:?}", live.len()),
                ));
            }
        } else {
            self.check_state_and_plan().await?;
        }

        // (a) and (b): over the whole operation.
        let homeless = self.sampler.homeless_since(homeless_from);
        if !homeless.is_empty() {
            return Err(self.violation(
                'a',
                format!(
                    "{} sample(s) with traffic on a target group without a steady task set, first: {}",
                    homeless.len(),
                    homeless[0]
                ),
            ));
        }
        let traffic = self.s.traffic();
        let stable_td = self.s.td(self.model.stable);
        let violations: Vec<String> = traffic
            .violations
            .iter()
            // A create after a destroy: a new stable task set (an interrupted create's too)
            // takes the traffic the routers never stopped sending to the live target group,
            // which nothing served since the destroy.
            .filter(|v| !(self.fresh_create && !was_deployed && v.task_definition == stable_td))
            .map(|v| v.to_string())
            .collect();
        if !violations.is_empty() || !traffic.mixed.is_empty() {
            return Err(self.violation(
                'b',
                format!(
                    "{}\n  unproven: {violations:?}\n  mixed: {:?}",
                    traffic.report(),
                    traffic
                        .mixed
                        .iter()
                        .map(|m| m.to_string())
                        .collect::<Vec<_>>()
                ),
            ));
        }
        if self.deployed && !was_deployed {
            self.fresh_create = false;
        }
        Ok(())
    }

    /// Invariant (e) over the task sets first seen since the operation began, then the
    /// rollback records read back (state and the stable task set's `ecsx:release` tag).
    fn after_command(&mut self, sets_before: &HashSet<String>) -> Result<(), Violation> {
        // Give the sampler one more tick to see what the command left.
        std::thread::sleep(Duration::from_millis(250));
        let sets = self.sampler.sets();
        if let Some(c) = &self.model.canary {
            let td = self.s.td(c.rev);
            let key = (td.clone(), self.model.attempt);
            if self.held.contains(&key) && self.model.stable != c.rev {
                for (id, set_td) in &sets {
                    if !sets_before.contains(id) && !self.judged.contains(id) && set_td == &td {
                        return Err(self.violation(
                            'e',
                            format!(
                                "task set {id} runs {td} at attempt {}, which was rolled back",
                                self.model.attempt
                            ),
                        ));
                    }
                }
            }
        }
        self.judged.extend(sets.into_keys());
        Ok(())
    }

    /// Reads the rollback records AWS and the state hold into `held`.
    async fn read_records(&mut self, state: Option<&Json>) {
        if let Some(st) = state {
            let lr = &st["last_release"];
            if lr["result"] == "rolled_back" {
                if let (Some(td), Some(a)) =
                    (lr["task_definition"].as_str(), lr["attempt"].as_u64())
                {
                    self.held.insert((td.to_string(), a as u32));
                }
            }
        }
        for t in self.s.live().await {
            let id = t.id().unwrap_or_default().to_string();
            for (k, v) in self.s.tags(&id).await {
                if k != "ecsx:release" || !self.records_seen.insert(v.clone()) {
                    continue;
                }
                // v1 RESULT STEP ATTEMPT APPROVED REMAINING AT TD STABLE BY LABEL
                let f: Vec<&str> = v.split_whitespace().collect();
                if f.len() >= 11 && f[1] == "rolled_back" {
                    let label = f[10..].join(" ");
                    let attempt: u32 = f[3].parse().unwrap_or(0);
                    if let Some(td) = self
                        .s
                        .infra
                        .task_definitions
                        .iter()
                        .find(|td| td.ends_with(&format!("/{label}")))
                    {
                        self.held.insert((td.clone(), attempt));
                    }
                }
            }
        }
    }

    /// (c) and (d): the state is what AWS holds, nothing orphaned, and the next plan is empty.
    async fn check_state_and_plan(&mut self) -> Result<(), Violation> {
        let show = self.s.ws.show_json();
        let Some(state) = state_values(&show, ADDR).cloned() else {
            return Err(self.violation('c', "no state after a successful apply".into()));
        };
        self.read_records(Some(&state)).await;
        if let Err(what) = state_matches_aws(self.s, &self.config(), &state).await {
            let invariant = if what.starts_with("(d)") { 'd' } else { 'c' };
            return Err(self.violation(invariant, what));
        }
        let (code, plan) = self.s.ws.plan_detailed();
        if code != 0 {
            return Err(self.violation(
                'c',
                format!("the plan after the apply is not empty:\n{plan}"),
            ));
        }
        let lr = &state["last_release"];
        self.note(format!(
            "ok: stable {} canary {} weights {}/{} last_release {} step {}",
            state["stable_task_set_id"].as_str().unwrap_or("-"),
            state["canary_task_set_id"].as_str().unwrap_or("-"),
            state["primary_weight"],
            state["canary_weight"],
            lr["result"].as_str().unwrap_or("-"),
            lr["step"]
        ));
        Ok(())
    }
}

/// The state's task sets are exactly the live ones, the stable PRIMARY on the live target
/// group, the canary on the other, the weights on every router as the state says.
async fn state_matches_aws(s: &Stack, cfg: &CanaryConfig, state: &Json) -> Result<(), String> {
    let seen = s.aws.observe(cfg).await;
    let stable = state["stable_task_set_id"].as_str().unwrap_or_default();
    let canary = state["canary_task_set_id"].as_str();
    let mut want: Vec<&str> = vec![stable];
    want.extend(canary);
    want.sort_unstable();
    let mut got: Vec<&str> = seen.live.iter().map(|t| t.0.as_str()).collect();
    got.sort_unstable();
    if got != want {
        return Err(format!(
            "(d) live task sets {got:?} are not the state's stable and canary {want:?}\nAWS: {seen:#?}"
        ));
    }
    let live_tg = state["live_target_group_arn"]
        .as_str()
        .unwrap_or(&cfg.primary_target_group);
    let idle_tg = if live_tg == cfg.primary_target_group {
        &cfg.canary_target_group
    } else {
        &cfg.primary_target_group
    };
    let find = |id: &str| {
        seen.live
            .iter()
            .find(|t| t.0 == id)
            .cloned()
            .unwrap_or_default()
    };
    let st = find(stable);
    if st.1 != "PRIMARY" || st.3 != live_tg {
        return Err(format!(
            "the stable task set {stable} is not PRIMARY on the live target group: {seen:#?}"
        ));
    }
    if let Some(c) = canary {
        let ct = find(c);
        if &ct.3 != idle_tg {
            return Err(format!(
                "the canary {c} is not on the idle target group: {seen:#?}"
            ));
        }
        if let Some((td, _, _)) = &cfg.canary {
            if &ct.4 != td {
                return Err(format!(
                    "the canary {c} runs {} but the configuration says {td}",
                    ct.4
                ));
            }
        }
    }
    let (pw, cw) = (
        state["primary_weight"].as_i64().unwrap_or(-1) as i32,
        state["canary_weight"].as_i64().unwrap_or(-1) as i32,
    );
    for (arn, p, c) in &seen.splits {
        let (live_w, idle_w) = if cfg.test_listeners.contains(arn) {
            if canary.is_some() {
                (0, 100)
            } else {
                (100, 0)
            }
        } else {
            (pw, cw)
        };
        let want = if live_tg == cfg.primary_target_group {
            (live_w, idle_w)
        } else {
            (idle_w, live_w)
        };
        if (*p, *c) != want {
            return Err(format!(
                "weights on {arn} are {p}/{c} (blue/green), the state says {want:?}: {state:#}"
            ));
        }
    }
    for key in ["orphaned_task_set_ids", "drift"] {
        if state[key].as_array().is_some_and(|a| !a.is_empty()) {
            return Err(format!(
                "{key} is not empty after the apply: {}",
                state[key]
            ));
        }
    }
    Ok(())
}

/// Runs `ops` against a fresh stack; the first broken invariant ends the sequence.
async fn run_sequence(label: &str, ops: &[Op]) -> Outcome {
    let started = Instant::now();
    let s = Stack::with_proxy(
        "chaos",
        1,
        &["--stabilize-seconds", "1", "--drain-seconds", "1"],
    )
    .await;
    s.aws.put_alarm(ALARM).await;
    let sampler = Sampler::start(s.emu.endpoint(), CanaryConfig::new(&s.infra));
    let mut walk = Walk {
        s: &s,
        sampler,
        model: Model::new(),
        deployed: false,
        held: HashSet::new(),
        last_canary_td: None,
        judged: HashSet::new(),
        records_seen: HashSet::new(),
        log: Vec::new(),
        op: 0,
        plain_failures: 0,
        fresh_create: false,
    };
    let mut violation = None;
    for (i, op) in ops.iter().enumerate() {
        walk.op = i;
        walk.note(format!("[{label}] op {}: {op}", i + 1));
        let t = Instant::now();
        let result = walk.run_op(op).await;
        walk.note(format!(
            "op {} took {:.1}s",
            i + 1,
            t.elapsed().as_secs_f64()
        ));
        if let Err(v) = result {
            walk.note(format!("VIOLATION {v}"));
            violation = Some(v);
            break;
        }
    }
    let samples = walk.sampler.samples();
    let plain_failures = walk.plain_failures;
    if violation
        .as_ref()
        .is_some_and(|v| "cd".contains(v.invariant))
    {
        // What a fresh refresh makes of it, for the post-mortem.
        let out =
            s.ws.run(&["plan", "-refresh-only", "-input=false", "-no-color"]);
        walk.note(format!(
            "post-mortem plan -refresh-only (exit {}):\n{}",
            out.code,
            tail(&out.text(), 2500)
        ));
        let sets = s.all().await;
        for t in &sets {
            let id = t.id().unwrap_or_default();
            walk.note(format!(
                "post-mortem task set {id} {} tags {:?}",
                t.status().unwrap_or_default(),
                s.tags(id).await
            ));
        }
    }
    if violation.is_some() {
        // Keep the workspace (state, plans, Terraform's output files) for a post-mortem.
        let keep = std::env::temp_dir().join(format!("chaos-{}", label.replace(' ', "-")));
        let _ = std::fs::remove_dir_all(&keep);
        let copied = std::process::Command::new("cp")
            .arg("-r")
            .arg(s.ws.dir())
            .arg(&keep)
            .status()
            .is_ok_and(|st| st.success());
        if copied {
            let _ = std::fs::write(keep.join("emulator.log"), s.emu.log_text());
            walk.note(format!(
                "workspace and emulator log kept at {}",
                keep.display()
            ));
        }
        eprintln!("--- emulator log (tail) ---");
        let log = s.emu.log_text();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        for l in tail.iter().rev() {
            eprintln!("{l}");
        }
    }
    Outcome {
        violation,
        log: std::mem::take(&mut walk.log),
        seconds: started.elapsed().as_secs_f64(),
        samples,
        plain_failures,
    }
}

/// Runs a sequence on its own thread and runtime, so a panic in the rig (a harness
/// assertion, a plan that wrote: invariant (f)) ends only that sequence.
fn run_isolated(label: String, ops: Vec<Op>) -> Outcome {
    let started = Instant::now();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(run_sequence(&label, &ops))
    });
    match handle.join() {
        Ok(outcome) => outcome,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into());
            let invariant = if what.contains("a plan must only read") {
                'f'
            } else {
                '?'
            };
            Outcome {
                violation: Some(Violation {
                    invariant,
                    at_op: usize::MAX,
                    what: format!("the sequence panicked: {what}"),
                }),
                log: vec![],
                seconds: started.elapsed().as_secs_f64(),
                samples: 0,
                plain_failures: 0,
            }
        }
    }
}

/// Drops operations one at a time (from the end) while the sequence still breaks the same
/// invariant, re-running each candidate from a fresh stack (at most `budget` runs), then makes
/// each remaining disturbance plain where the invariant still breaks without it.
fn shrink(ops: &[Op], invariant: char, budget: usize) -> Vec<Op> {
    let mut best = ops.to_vec();
    let mut runs = 0;
    // The last operation is the one that broke the invariant: it stays.
    let mut i = best.len().saturating_sub(1);
    while i > 0 && runs < budget {
        i -= 1;
        if i >= best.len() {
            continue;
        }
        let mut candidate = best.clone();
        candidate.remove(i);
        if candidate.is_empty() {
            continue;
        }
        runs += 1;
        eprintln!(
            "shrink run {runs}: without op {} ({}), {} ops",
            i + 1,
            best[i],
            candidate.len()
        );
        let out = run_isolated(format!("shrink {runs}"), candidate.clone());
        if out.violation.as_ref().map(|v| v.invariant) == Some(invariant) {
            eprintln!("  still breaks ({invariant}): keeping it out");
            // Drop everything after the failing operation too.
            if let Some(v) = &out.violation {
                if v.at_op < candidate.len() {
                    candidate.truncate(v.at_op + 1);
                }
            }
            best = candidate;
            i = i.min(best.len().saturating_sub(1));
        } else {
            eprintln!("  passes without it: keeping it");
        }
    }
    // Then the disturbances: each operation's mode made plain, where it still breaks.
    for i in 0..best.len() {
        if runs >= budget * 2 || best[i].mode == Mode::Plain {
            continue;
        }
        let mut candidate = best.clone();
        candidate[i].mode = Mode::Plain;
        runs += 1;
        eprintln!("shrink run {runs}: op {} ({}) plain", i + 1, best[i]);
        let out = run_isolated(format!("shrink {runs}"), candidate.clone());
        if out.violation.as_ref().map(|v| v.invariant) == Some(invariant) {
            eprintln!("  still breaks ({invariant}): plain it is");
            best = candidate;
        } else {
            eprintln!("  passes plain: keeping the disturbance");
        }
    }
    best
}

fn env_u64(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn ops_range() -> (usize, usize) {
    let v = std::env::var("CHAOS_OPS").unwrap_or_else(|_| "8-15".into());
    match v.split_once('-') {
        Some((a, b)) => (
            a.trim().parse().unwrap_or(8),
            b.trim().parse().unwrap_or(15),
        ),
        None => {
            let n = v.trim().parse().unwrap_or(10);
            (n, n)
        }
    }
}

fn print_sequence(seed: u64, ops: &[Op]) {
    eprintln!("sequence seed={seed}, {} operations:", ops.len());
    for (i, op) in ops.iter().enumerate() {
        eprintln!("  {:2}. {op}", i + 1);
    }
}

/// Runs a named sequence (a shrunk failure) and fails with its log if any invariant breaks.
fn assert_walks_clean(name: &str, ops: Vec<Op>) {
    print_sequence(0, &ops);
    let out = run_isolated(name.to_string(), ops);
    if let Some(v) = out.violation {
        panic!("{v}\n--- log ---\n{}", out.log.join("\n"));
    }
}

/// `make chaos`: `CHAOS_SEQUENCES` sequences from seed `CHAOS_SEED`, each of `CHAOS_OPS`
/// operations; fails listing every seed that broke an invariant, with its shrunk sequence.
#[test]
#[ignore = "the randomized release walk: make chaos"]
fn walk_random_sequences() {
    let sequences = env_u64("CHAOS_SEQUENCES", 1);
    let first = env_u64("CHAOS_SEED", 1);
    let (lo, hi) = ops_range();
    let shrinking = std::env::var("CHAOS_SHRINK").map_or(true, |v| v != "0");
    let mut failures = Vec::new();
    let mut seconds = Vec::new();
    let mut ops_total = 0;
    for seed in first..first + sequences {
        let mut rng = Rng::new(seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let n = rng.range(lo as u64, hi as u64) as usize;
        let ops = generate(seed, n);
        ops_total += ops.len();
        print_sequence(seed, &ops);
        let out = run_isolated(format!("seed {seed}"), ops.clone());
        seconds.push(out.seconds);
        eprintln!(
            "CHAOS seed={seed} ops={} seconds={:.1} samples={} plain_failures={} result={}",
            ops.len(),
            out.seconds,
            out.samples,
            out.plain_failures,
            out.violation
                .as_ref()
                .map_or("ok".to_string(), |v| format!("FAILED ({})", v.invariant))
        );
        let Some(v) = out.violation else { continue };
        eprintln!("\n=== seed {seed} broke an invariant ===\n{v}");
        print_sequence(seed, &ops);
        eprintln!("--- log ---\n{}", out.log.join("\n"));
        let minimal = if shrinking && v.invariant != '?' {
            let failing: Vec<Op> = ops[..(v.at_op + 1).min(ops.len())].to_vec();
            let m = shrink(&failing, v.invariant, 12);
            eprintln!("=== seed {seed}: minimal sequence ({} ops) ===", m.len());
            print_sequence(seed, &m);
            eprintln!("as Rust:\n{}", as_rust(&m));
            m
        } else {
            ops.clone()
        };
        failures.push((seed, v, minimal));
    }
    let total: f64 = seconds.iter().sum();
    eprintln!(
        "\nCHAOS SUMMARY: {} sequence(s), {ops_total} operations, {total:.0} s ({:.1} s per sequence), {} failed",
        seconds.len(),
        total / seconds.len().max(1) as f64,
        failures.len()
    );
    for (seed, v, m) in &failures {
        eprintln!("  seed {seed}: {v}");
        print_sequence(*seed, m);
    }
    assert!(
        failures.is_empty(),
        "{} sequence(s) broke an invariant",
        failures.len()
    );
}

/// The walk's own plumbing: a seed gives the same sequence every time, sequences differ, and
/// each operation kind is drawn.
#[test]
#[ignore = "the randomized release walk: make chaos"]
fn walk_sequences_are_reproducible_and_varied() {
    assert_eq!(generate(7, 12), generate(7, 12));
    assert_ne!(generate(7, 12), generate(8, 12));
    let all: Vec<Op> = (0..200).flat_map(|s| generate(s, 15)).collect();
    for probe in [
        |o: &Op| matches!(o.edit, Edit::FirstApplyFails),
        |o: &Op| matches!(o.edit, Edit::Schedule { .. }),
        |o: &Op| matches!(o.edit, Edit::Destroy),
        |o: &Op| matches!(o.edit, Edit::Continue),
        |o: &Op| matches!(o.edit, Edit::Abort),
        |o: &Op| matches!(o.edit, Edit::Stable(_)),
        |o: &Op| matches!(o.edit, Edit::Promotion("replace")),
        |o: &Op| {
            matches!(
                o.mode,
                Mode::Kill {
                    terraform: true,
                    ..
                }
            )
        },
        |o: &Op| {
            matches!(
                o.mode,
                Mode::Kill {
                    terraform: false,
                    ..
                }
            )
        },
        |o: &Op| matches!(o.mode, Mode::CtrlC { .. }),
        |o: &Op| {
            matches!(
                o.mode,
                Mode::KillAtCall {
                    terraform: false,
                    ..
                }
            )
        },
        |o: &Op| {
            matches!(
                o.mode,
                Mode::KillAtCall {
                    terraform: true,
                    ..
                }
            )
        },
        |o: &Op| matches!(o.mode, Mode::Alarm { .. }),
        |o: &Op| matches!(o.mode, Mode::Fault { .. }),
    ] {
        assert!(all.iter().any(probe));
    }
}

// --- regressions: shrunk sequences the walk found ----------------------------------------------

/// Found by `make chaos CHAOS_SEED=1` (shrunk from 8 operations); fixed. Invariant (d): an
/// `ecsx_canary_abort` interrupted half a second in (Ctrl-C; Terraform 1.15.5 itself crashes
/// on the interrupt, so the provider dies mid-action) has recorded the rollback and
/// moved all traffic to the stable task set, but not deleted the canary. The recovery apply
/// succeeds, records no canary and no orphan, and plans nothing more, while the canary task
/// set (owned, tagged `ecsx:role = canary`) stays live on the idle target group for good.
#[test]
#[ignore = "a chaos regression, fixed: make chaos CHAOS_TESTS=regression_"]
fn regression_an_interrupted_abort_leaves_no_canary_behind() {
    assert_walks_clean(
        "interrupted abort",
        vec![
            Op {
                edit: Edit::Keep,
                mode: Mode::Plain,
            },
            Op {
                edit: Edit::Schedule {
                    rev: 1,
                    steps: vec![(10, Some(3)), (100, None)],
                },
                mode: Mode::CtrlC { after_ms: 3170 },
            },
            Op {
                edit: Edit::Abort,
                mode: Mode::CtrlC { after_ms: 547 },
            },
        ],
    );
}

/// Found by `make chaos CHAOS_SEED=14` (an earlier generator; shrunk from 14 operations);
/// fixed (invariant (c)): canary `chaos:2` is aborted (the record goes on the stable
/// task set's `ecsx:release` tag), a scheduled release of `chaos:3` then completes, and the
/// canary goes back to `chaos:2` at the same attempt. Since the canary's version changed in
/// between, the apply starts `chaos:2` again and moves 100% to it; but the next refresh reads
/// the abort record still on the tag (the completed release of `chaos:3` never replaced it),
/// so the very next plan holds `chaos:2` back: it deletes the canary the apply just made and
/// moves the traffic back. An apply followed by a plan that undoes it.
#[test]
#[ignore = "a chaos regression, fixed: make chaos CHAOS_TESTS=regression_"]
fn regression_an_abort_record_outlives_a_later_release() {
    assert_walks_clean(
        "stale abort record",
        vec![
            Op {
                edit: Edit::FirstApplyFails,
                mode: Mode::Plain,
            },
            Op {
                edit: Edit::Abort,
                mode: Mode::Plain,
            },
            Op {
                edit: Edit::Schedule {
                    rev: 2,
                    steps: vec![(10, Some(1)), (25, None), (100, Some(2))],
                },
                mode: Mode::Plain,
            },
            Op {
                edit: Edit::Canary {
                    rev: 0,
                    traffic: 100,
                },
                mode: Mode::Kill {
                    terraform: true,
                    after_ms: 4869,
                },
            },
        ],
    );
}

/// The same as [`regression_an_interrupted_abort_leaves_no_canary_behind`], found again by
/// `make chaos CHAOS_SEED=111` and bound to an AWS call: the provider dies (`kill -9`) right
/// after `ecsx_canary_abort` wrote its record on the stable task set (`TagResource`), before
/// anything moved. Fixed (invariant (d)): the recovery apply reads the record, drops
/// the canary from the state and succeeds, but the canary task set stays live, owned and
/// unlisted in `orphaned_task_set_ids`; the next plan is empty, so nothing ever deletes it.
#[test]
#[ignore = "a chaos regression, fixed: make chaos CHAOS_TESTS=regression_"]
fn regression_an_abort_killed_after_its_record_leaves_no_canary_behind() {
    assert_walks_clean(
        "abort killed after its record",
        vec![
            Op {
                edit: Edit::Canary {
                    rev: 1,
                    traffic: 50,
                },
                mode: Mode::Plain,
            },
            Op {
                edit: Edit::Abort,
                mode: Mode::KillAtCall {
                    terraform: false,
                    operation: "ecs.TagResource",
                    skip: 0,
                },
            },
        ],
    );
}

/// Found by `make chaos CHAOS_SEED=2009` (operations 6 to 8 of 15, its alarm flips not needed).
/// Fixed (invariant (c)): a `replace` promotion (`promote = true`) whose provider died once
/// its last `DeleteTaskSet` (the promoted canary's) took effect. AWS held the finished
/// promotion: a new stable task set of the canary's version, PRIMARY on the primary target
/// group. The refresh took it for a stable change, not a promotion (the state still said
/// `promote = false`, and only a PRIMARY canary counted), so the recovery plan put the retired
/// version back as stable and started the canary again, and failed: "Too many task sets".
#[test]
#[ignore = "a chaos regression, fixed: make chaos CHAOS_TESTS=regression_"]
fn regression_a_replace_promotion_killed_at_its_end_is_read_as_a_promotion() {
    assert_walks_clean(
        "replace promotion killed at its end",
        vec![
            Op {
                edit: Edit::Promotion("replace"),
                mode: Mode::Plain,
            },
            Op {
                edit: Edit::Schedule {
                    rev: 1,
                    steps: vec![(75, Some(3))],
                },
                mode: Mode::Plain,
            },
            Op {
                edit: Edit::Promote,
                mode: Mode::KillAtCall {
                    terraform: false,
                    operation: "ecs.DeleteTaskSet",
                    skip: 1,
                },
            },
        ],
    );
}

/// Found by `make chaos CHAOS_SEED=106` (shrunk from 8 operations, its `kill -9` made plain:
/// not needed). Fixed (invariant (c), by `promoted_stable`): a canary (`chaos:2`) is promoted with
/// `canary.promote = true` while `stable.task_definition` still names `chaos:1`, which
/// `last_release` (`promoted`) makes stand for the promoted version. The next release, a
/// scheduled canary of `chaos:3` without `promote`, completes; its `completed` record replaces
/// the `promoted` one, and with it the stand-in: the very next plan replaces the stable task
/// set (running `chaos:2`, serving production) with a new one of `chaos:1`, the version the
/// promotion retired, and deletes the running canary to do so.
#[test]
#[ignore = "a chaos regression, fixed: make chaos CHAOS_TESTS=regression_"]
fn regression_a_release_after_a_promotion_keeps_the_promoted_stable() {
    assert_walks_clean(
        "release after a promotion",
        vec![
            Op {
                edit: Edit::FirstApplyFails,
                mode: Mode::Plain,
            },
            Op {
                edit: Edit::Promote,
                mode: Mode::Plain,
            },
            Op {
                edit: Edit::Traffic(0),
                mode: Mode::Plain,
            },
            Op {
                edit: Edit::Schedule {
                    rev: 2,
                    steps: vec![(25, Some(1)), (100, Some(2))],
                },
                mode: Mode::Plain,
            },
        ],
    );
}

/// Found by `make chaos CHAOS_SEED=1004` (shrunk from 9 operations, its disturbances made
/// plain). Fixed (invariant (c), and on the way to (b) and (e), by `promoted_stable`): canary `chaos:3` is
/// promoted (`swap`: it now serves from the green target group), then canary `chaos:2` waits at
/// a gate before its first step and is aborted with `ecsx_canary_abort`. The action succeeds,
/// but the next plan, instead of being empty, creates canary `chaos:2` again (the aborted
/// version, same attempt) and on `chaos-green`, the live target group where the promoted
/// stable task set serves, with test traffic routed there too: the abort's record on the
/// stable task set has replaced the `promoted` one the refresh needed.
#[test]
#[ignore = "a chaos regression, fixed: make chaos CHAOS_TESTS=regression_"]
fn regression_an_abort_after_a_promotion_is_kept() {
    assert_walks_clean(
        "abort after a promotion",
        vec![
            Op {
                edit: Edit::Canary {
                    rev: 2,
                    traffic: 50,
                },
                mode: Mode::Plain,
            },
            Op {
                edit: Edit::Promote,
                mode: Mode::Plain,
            },
            Op {
                edit: Edit::Schedule {
                    rev: 1,
                    steps: vec![(50, None)],
                },
                mode: Mode::Plain,
            },
            Op {
                edit: Edit::Abort,
                mode: Mode::Plain,
            },
        ],
    );
}
