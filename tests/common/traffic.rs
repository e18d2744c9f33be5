//! The emulator's traffic model (`/_rig/traffic`): which task set held which share of a
//! listener's or rule's traffic while it was not yet steady, and target groups that served
//! two task definitions at once.

use super::{process::rig_http, Stack};
use serde::Deserialize;
use std::fmt;

/// What the emulator's traffic model recorded since the last [`Stack::reset_traffic`].
#[derive(Debug, Clone, Deserialize)]
pub struct Traffic {
    pub enabled: bool,
    /// Requests sampled (each ECS or ELBv2 request is one).
    pub samples: u64,
    pub violations: Vec<UnprovenTraffic>,
    pub mixed: Vec<MixedTargetGroup>,
    /// Errors the model hit while sampling; a non-empty list means it saw nothing reliable.
    pub errors: Vec<String>,
}

/// A task set that was not yet steady (since creation, or since a scale-up) holding more of
/// a router's traffic than it held when it became so (`cap`).
#[derive(Debug, Clone, Deserialize)]
pub struct UnprovenTraffic {
    pub at: String,
    pub task_set: String,
    pub service: Option<String>,
    pub task_definition: String,
    /// The listener (default action) or rule ARN.
    pub router: String,
    pub share: f64,
    pub cap: f64,
}

/// A target group with weight on some router serving task sets of two or more task
/// definitions at once.
#[derive(Debug, Clone, Deserialize)]
pub struct MixedTargetGroup {
    pub at: String,
    pub target_group: String,
    pub task_definitions: Vec<String>,
}

impl fmt::Display for UnprovenTraffic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} task set {} ({}, {}) held {:.3} of {} (allowed {:.3})",
            self.at,
            self.task_set,
            self.service.as_deref().unwrap_or("?"),
            self.task_definition,
            self.share,
            self.router,
            self.cap
        )
    }
}

impl fmt::Display for MixedTargetGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} target group {} served {}",
            self.at,
            self.target_group,
            self.task_definitions.join(" and ")
        )
    }
}

impl Traffic {
    /// One line per violation and mixed moment, for panics and test logs.
    pub fn report(&self) -> String {
        let mut out = format!(
            "{} samples, {} unproven-traffic violation(s), {} mixed moment(s)",
            self.samples,
            self.violations.len(),
            self.mixed.len()
        );
        for v in &self.violations {
            out += &format!("\n  violation: {v}");
        }
        for m in &self.mixed {
            out += &format!("\n  mixed: {m}");
        }
        out
    }
}

impl Stack {
    /// GET /_rig/traffic on the emulator itself (the fault proxy, if any, is bypassed).
    pub fn traffic(&self) -> Traffic {
        let (status, body) = rig_http(self.emu.port(), "GET", "/_rig/traffic", "");
        assert_eq!(status, 200, "GET /_rig/traffic: {body}");
        let traffic: Traffic = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("/_rig/traffic replied {body:?}: {e}"));
        assert!(
            traffic.errors.is_empty(),
            "the traffic model failed: {:?}",
            traffic.errors
        );
        traffic
    }

    /// DELETE /_rig/traffic: start a new phase's record (episodes already reported stay so).
    pub fn reset_traffic(&self) {
        let (status, body) = rig_http(self.emu.port(), "DELETE", "/_rig/traffic", "");
        assert_eq!(status, 200, "DELETE /_rig/traffic: {body}");
    }

    /// Panics listing every task set that got traffic before it was steady since the last
    /// [`Stack::reset_traffic`].
    pub fn assert_no_unproven_traffic(&self) {
        let traffic = self.traffic();
        assert!(
            traffic.violations.is_empty(),
            "traffic reached task sets before they were steady: {}",
            traffic.report()
        );
    }

    /// Prints the traffic model's record (for suites that report, not yet enforce, it) and
    /// returns it.
    pub fn report_traffic(&self, phase: &str) -> Traffic {
        let traffic = self.traffic();
        eprintln!("traffic model, {phase}: {}", traffic.report());
        traffic
    }
}
