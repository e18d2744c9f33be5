//! The patched moto emulator (`tests/rig/emulator.py`) and its `/_rig/config` timings.

use super::process::{rig_http, RigProcess};
use serde_json::Value as Json;

/// A running `tests/rig/emulator.py`, killed when dropped.
pub struct Emulator {
    process: RigProcess,
}

impl Emulator {
    /// Starts the emulator with its default timings (2 s STABILIZING, 2 s DRAINING).
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts the emulator with extra launcher flags, e.g. `["--stabilize-seconds", "0"]`.
    pub fn start_with(args: &[&str]) -> Self {
        let args = [&["--port", "0", "--quiet"], args].concat();
        Emulator {
            process: RigProcess::start("emulator", &args),
        }
    }

    pub fn port(&self) -> u16 {
        self.process.port()
    }

    pub fn endpoint(&self) -> String {
        self.process.endpoint()
    }

    pub fn log_text(&self) -> String {
        self.process.log_text()
    }

    /// POST /_rig/config: changes timings, e.g. `{"stabilize_seconds": 5}`. Returns the
    /// settings now in force.
    pub fn configure(&self, settings: Json) -> Json {
        let body = settings.to_string();
        let (status, reply) = rig_http(self.port(), "POST", "/_rig/config", &body);
        assert_eq!(status, 200, "POST /_rig/config {body}: {reply}");
        serde_json::from_str(&reply)
            .unwrap_or_else(|e| panic!("/_rig/config replied {reply:?}: {e}"))
    }
}
