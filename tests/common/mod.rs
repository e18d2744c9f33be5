//! The end-to-end rig: the patched moto emulator, test infrastructure, AWS SDK clients and
//! Terraform workspaces that run the provider binary through dev_overrides.
//!
//! Every `tests/e2e_*.rs` file includes this module with `mod common;`; not every file uses
//! every helper, hence the `dead_code` allowance (it covers the submodules too).
#![allow(dead_code)]

mod alb_metrics;
mod aws;
mod canary;
mod emulator;
mod infra;
mod native;
mod plan_writes;
mod primary;
mod process;
mod proxy;
mod reliability;
mod stack;
mod traffic;
mod workspace;

// Each binary uses a subset of these re-exports too.
#[allow(unused_imports)]
pub use self::{
    alb_metrics::{AlbMetrics, Clock, GroupOn, Minute, Scenario},
    aws::{forward_action, Aws, Observed, TaskSetRef},
    canary::{
        by_id, rollout_steps, target_group, CanaryConfig, Sample, ACTIONS_TF, CANARY_ADDR,
        TAG_DEPLOYMENT, TAG_ROLE,
    },
    emulator::Emulator,
    infra::Infra,
    native::fast_native_stages,
    plan_writes::watched as plan_watched,
    primary::{primary_task_set, PRIMARY_ADDR},
    process::{child_pids, kill9, pid_alive, provider_pids, rig_http},
    proxy::Proxy,
    reliability::ReliabilityRow,
    stack::Stack,
    traffic::{MixedTargetGroup, Traffic, UnprovenTraffic},
    workspace::{
        error_diagnostics, planned_actions, planned_after, provider_dir, resource_values,
        state_output, state_values, terraform_command, Output, Running, Workspace,
    },
};

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The provider's address as dev_overrides and `required_providers` name it.
pub const PROVIDER_SOURCE: &str = "registry.terraform.io/ecsx/ecsx";
pub const REGION: &str = "us-east-1";
/// infra.py's container, which task sets attach to the target groups.
pub const CONTAINER_NAME: &str = "web";
pub const CONTAINER_PORT: i32 = 8080;

pub fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The project's virtualenv interpreter (`make venv` creates it).
pub fn venv_python() -> PathBuf {
    let py = crate_root().join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run `make venv` first",
        py.display()
    );
    py
}

/// A fresh directory under cargo's per-target temp dir, unique per process and call.
fn scratch_dir(name: &str) -> PathBuf {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e")
        .join(format!(
            "{name}-{}-{}-{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    dir
}
