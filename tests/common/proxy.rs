//! The fault-injecting proxy (`tests/rig/proxy.py`) between the provider and the emulator.

use super::process::{rig_http, RigProcess};
use super::Emulator;
use serde_json::Value as Json;
use std::time::{Duration, Instant};

/// A running `tests/rig/proxy.py` in front of an emulator, killed when dropped. Point a
/// workspace at it with `ws.set_env("AWS_ENDPOINT_URL", &proxy.endpoint())`.
pub struct Proxy {
    process: RigProcess,
}

impl Proxy {
    pub fn start(upstream: &Emulator) -> Self {
        Proxy {
            process: RigProcess::start(
                "proxy",
                &["--upstream", &upstream.endpoint(), "--port", "0"],
            ),
        }
    }

    pub fn endpoint(&self) -> String {
        self.process.endpoint()
    }

    fn admin(&self, method: &str, path: &str, body: &str) -> Json {
        let (status, reply) = rig_http(self.process.port(), method, path, body);
        assert_eq!(status, 200, "{method} {path} {body}: {reply}");
        serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{path} replied {reply:?}: {e}"))
    }

    /// Replaces the fault rules in force (and releases held responses).
    pub fn faults(&self, rules: Json) {
        self.admin("POST", "/_proxy/faults", &rules.to_string());
    }

    pub fn clear_faults(&self) {
        self.faults(Json::Array(vec![]));
    }

    /// Zero counters, no rules, no eventual-consistency memory.
    pub fn reset(&self) {
        self.admin("POST", "/_proxy/reset", "");
    }

    /// `{"calls": {...}, "total", "faults": {...}, "retries", "retries_by_operation", "held"}`.
    pub fn stats(&self) -> Json {
        self.admin("GET", "/_proxy/stats", "")
    }

    /// Calls of one operation so far, e.g. `ecs.CreateTaskSet`.
    pub fn calls(&self, operation: &str) -> u64 {
        self.stats()["calls"][operation].as_u64().unwrap_or(0)
    }

    /// Waits until a `hold_after_commit` rule holds an answer: the call took effect in AWS
    /// and its caller is waiting for the reply.
    pub fn wait_held(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.stats()["held"].as_u64().unwrap_or(0) > 0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}
