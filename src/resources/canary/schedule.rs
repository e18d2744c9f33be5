//! The parts of a deployment that schedule a release: traffic steps, the alarms that gate
//! them, and the record of how the last scheduled release ended.

use super::model::CanarySpec;
use crate::value::Value;

/// One `canary.step`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TrafficStep {
    pub traffic: i64,
    pub pause: std::time::Duration,
    /// Needs approval (`canary.approved_step` at least this step's number) before its weight.
    pub approval: bool,
}

/// The `analysis` block: alarms that roll the release back.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Analysis {
    pub alarms: Vec<String>,
    pub interval: std::time::Duration,
}

/// The `last_release` attribute.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Release {
    pub result: String,
    pub task_definition: String,
    pub attempt: i64,
    pub reason: String,
    pub at: String,
}

impl Release {
    pub(crate) const COMPLETED: &'static str = "completed";
    pub(crate) const ROLLED_BACK: &'static str = "rolled_back";
    pub(crate) const HELD: &'static str = "held";

    pub(crate) fn read(v: &Value) -> Option<Release> {
        let s = |k: &str| v.get(k).as_str().unwrap_or_default().to_string();
        v.get("result").as_str()?;
        Some(Release {
            result: s("result"),
            task_definition: s("task_definition"),
            attempt: v.get("attempt").as_i64().unwrap_or(1),
            reason: s("reason"),
            at: s("at"),
        })
    }

    pub(crate) fn to_value(&self) -> Value {
        Value::object([
            ("result", Value::from(self.result.as_str())),
            (
                "task_definition",
                Value::from(self.task_definition.as_str()),
            ),
            ("attempt", Value::from(self.attempt)),
            ("reason", Value::from(self.reason.as_str())),
            ("at", Value::from(self.at.as_str())),
        ])
    }

    /// Whether this record holds `c` back: its version was rolled back at this attempt.
    pub(crate) fn holds_back(&self, c: &CanarySpec) -> bool {
        self.result == Self::ROLLED_BACK
            && self.task_definition == c.task_definition
            && self.attempt == c.attempt
    }
}
