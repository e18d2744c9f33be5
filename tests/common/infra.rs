//! What `tests/rig/infra.py create` builds around a service: cluster, VPC, ALB, target groups.

use super::{crate_root, venv_python, Emulator};
use serde::Deserialize;
use std::process::{Command, Stdio};

/// What `tests/rig/infra.py create` made: a cluster, EXTERNAL services, three task
/// definition revisions, a VPC, and an ALB with blue/green target groups.
#[derive(Debug, Clone, Deserialize)]
pub struct Infra {
    pub region: String,
    pub cluster: String,
    pub cluster_arn: String,
    pub services: Vec<String>,
    pub service_arns: Vec<String>,
    pub task_definitions: Vec<String>,
    pub subnets: Vec<String>,
    pub security_group: String,
    pub vpc: String,
    pub load_balancer_arn: String,
    pub blue_target_group_arn: String,
    pub green_target_group_arn: String,
    pub listener_arn: String,
    pub test_listener_arn: String,
    pub rule_arn: String,
}

impl Infra {
    /// One EXTERNAL service named `name` in cluster `name`.
    pub fn create(emu: &Emulator, name: &str) -> Self {
        Self::create_n(emu, name, 1)
    }

    /// `count` EXTERNAL services (`name-1` ... `name-N` when count > 1).
    pub fn create_n(emu: &Emulator, name: &str, count: u32) -> Self {
        let out = Command::new(venv_python())
            .arg(crate_root().join("tests/rig/infra.py"))
            .args(["--endpoint", &emu.endpoint(), "create", "--name", name])
            .args(["--count", &count.to_string()])
            .stdin(Stdio::null())
            .output()
            .expect("run tests/rig/infra.py");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "infra.py create failed ({}):\n{stdout}\n{}\n--- emulator log ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            emu.log_text()
        );
        serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("infra.py printed {stdout:?}: {e}"))
    }

    pub fn service(&self) -> &str {
        &self.services[0]
    }
}
