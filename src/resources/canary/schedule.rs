//! The parts of a deployment that schedule a release: traffic steps, the alarms that gate
//! them, and the record of how the last scheduled release ended.

use super::model::CanarySpec;
use crate::schema::Type;
use crate::value::Value;
use std::collections::BTreeMap;

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
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Release {
    pub result: String,
    pub task_definition: String,
    pub attempt: i64,
    pub reason: String,
    pub at: String,
    /// The step (1-based) the record is about: where a held release waits, where an
    /// interrupted bake stopped; 0 otherwise.
    pub step: i64,
    /// Of an interrupted bake: how much of the step's pause was still to go.
    pub remaining: std::time::Duration,
    /// The highest gated step an `ecsx_canary_continue` action approved (read back from the
    /// service's tag); 0 when none did.
    pub approved_step: i64,
    /// Of a promotion (`canary.promote`): `stable.task_definition` as configured then. While
    /// the configuration still says so, the promoted version is the stable one.
    pub stable_task_definition: String,
}

impl Release {
    pub(crate) const COMPLETED: &'static str = "completed";
    pub(crate) const HELD: &'static str = "held";
    pub(crate) const PROMOTED: &'static str = "promoted";
    pub(crate) const ROLLED_BACK: &'static str = "rolled_back";
    pub(crate) const INTERRUPTED: &'static str = "interrupted";

    /// The attribute's object type.
    pub(crate) fn attribute_type() -> Type {
        Type::Object(vec![
            ("result", Type::String),
            ("task_definition", Type::String),
            ("attempt", Type::Number),
            ("reason", Type::String),
            ("at", Type::String),
            ("step", Type::Number),
            ("remaining", Type::String),
            ("approved_step", Type::Number),
            ("stable_task_definition", Type::String),
        ])
    }

    /// A record of `c` (its version at its attempt).
    pub(crate) fn of(c: &CanarySpec, result: &str, reason: String) -> Release {
        Release {
            result: result.into(),
            task_definition: c.task_definition.clone(),
            attempt: c.attempt,
            reason,
            at: now(),
            ..Release::default()
        }
    }

    pub(crate) fn read(v: &Value) -> Option<Release> {
        let s = |k: &str| v.get(k).as_str().unwrap_or_default().to_string();
        v.get("result").as_str()?;
        Some(Release {
            result: s("result"),
            task_definition: s("task_definition"),
            attempt: v.get("attempt").as_i64().unwrap_or(1),
            reason: s("reason"),
            at: s("at"),
            step: v.get("step").as_i64().unwrap_or(0),
            remaining: v
                .get("remaining")
                .as_str()
                .and_then(crate::duration::parse)
                .unwrap_or_default(),
            approved_step: v.get("approved_step").as_i64().unwrap_or(0),
            stable_task_definition: s("stable_task_definition"),
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
            ("step", Value::from(self.step)),
            (
                "remaining",
                Value::from(crate::duration::format(self.remaining).as_str()),
            ),
            ("approved_step", Value::from(self.approved_step)),
            (
                "stable_task_definition",
                Value::from(self.stable_task_definition.as_str()),
            ),
        ])
    }

    /// Whether the record is about `c`'s version at its attempt.
    pub(crate) fn is_of(&self, c: &CanarySpec) -> bool {
        self.task_definition == c.task_definition && self.attempt == c.attempt
    }

    /// Whether this record holds `c` back: its version was rolled back at this attempt.
    pub(crate) fn holds_back(&self, c: &CanarySpec) -> bool {
        self.result == Self::ROLLED_BACK && self.is_of(c)
    }

    /// Whether `c` was promoted already (`canary.promote`): it is the stable version now.
    pub(crate) fn promoted(&self, c: &CanarySpec) -> bool {
        self.result == Self::PROMOTED && self.is_of(c)
    }

    /// The version a promotion made stable, while `stable.task_definition` is still
    /// configured as it was then.
    pub(crate) fn stands_in_for(&self, configured_stable: &str) -> Option<&str> {
        (self.result == Self::PROMOTED
            && !self.stable_task_definition.is_empty()
            && self.stable_task_definition == configured_stable)
            .then_some(self.task_definition.as_str())
    }
}

/// Now, for `last_release.at`.
pub(crate) fn now() -> String {
    aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// The service tag an `ecsx_canary_continue` action writes before it walks on:
/// `STEP ATTEMPT family:revision`, the gated step it approved for that canary version.
pub(crate) const TAG_APPROVED: &str = "ecsx:approved";
/// The service tag an `ecsx_canary_abort` action writes before it rolls back:
/// `ATTEMPT AT family:revision`.
pub(crate) const TAG_ABORTED: &str = "ecsx:aborted";

/// The reason `last_release` gives for an abort.
pub(crate) const ABORTED_BY_ACTION: &str = "aborted by the ecsx_canary_abort action";

/// The [`TAG_APPROVED`] value for step `step` of `c`.
pub(crate) fn approval_tag(c: &CanarySpec, step: usize) -> String {
    format!(
        "{step} {} {}",
        c.attempt,
        crate::arn::task_definition_label(&c.task_definition)
    )
}

/// The [`TAG_ABORTED`] value for `c`, aborted at `at`.
pub(crate) fn abort_tag(c: &CanarySpec, at: &str) -> String {
    format!(
        "{} {at} {}",
        c.attempt,
        crate::arn::task_definition_label(&c.task_definition)
    )
}

/// Splits a tag value into its three fields, the last being the version's label.
fn fields(v: &str) -> Option<(&str, &str, &str)> {
    let mut it = v.splitn(3, ' ');
    Some((it.next()?, it.next()?, it.next()?))
}

/// What the actions recorded on the service for the canary of `state`, folded into its
/// `last_release`: an abort rolls the version back, an approval raises `approved_step`.
/// None when the tags say nothing new about this canary version.
pub(crate) fn read_back(state: &Value, tags: &BTreeMap<String, String>) -> Option<Release> {
    let canary = state.block("canary");
    let td = canary.get("task_definition").as_str()?;
    let attempt = canary.get("attempt").as_i64().unwrap_or(1);
    let label = crate::arn::task_definition_label(td);
    let prior = Release::read(state.get("last_release"))
        .filter(|r| r.task_definition == td && r.attempt == attempt);
    let base = || Release {
        task_definition: td.to_string(),
        attempt,
        ..prior.clone().unwrap_or_default()
    };
    if let Some((a, at, l)) = tags.get(TAG_ABORTED).and_then(|v| fields(v)) {
        let already = prior
            .as_ref()
            .is_some_and(|r| r.result == Release::ROLLED_BACK);
        if l == label && a.parse() == Ok(attempt) && !already {
            return Some(Release {
                result: Release::ROLLED_BACK.into(),
                reason: ABORTED_BY_ACTION.into(),
                at: at.to_string(),
                remaining: std::time::Duration::ZERO,
                ..base()
            });
        }
    }
    let (step, a, l) = tags.get(TAG_APPROVED).and_then(|v| fields(v))?;
    let step: i64 = step.parse().ok()?;
    let seen = prior.as_ref().map_or(0, |r| r.approved_step);
    let settled = prior
        .as_ref()
        .is_some_and(|r| r.result == Release::ROLLED_BACK);
    (l == label && a.parse() == Ok(attempt) && step > seen && !settled).then(|| Release {
        approved_step: step,
        ..base()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TD13: &str = "arn:aws:ecs:us-east-1:1:task-definition/web:13";

    fn state(record: Option<Release>) -> Value {
        Value::object([
            (
                "canary",
                Value::List(vec![Value::object([
                    ("task_definition", Value::from(TD13)),
                    ("attempt", Value::from(2i64)),
                ])]),
            ),
            ("last_release", record.map_or(Value::Null, |r| r.to_value())),
        ])
    }

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn canary() -> CanarySpec {
        CanarySpec {
            task_definition: TD13.into(),
            traffic: 10,
            scale: 100.0,
            steps: vec![],
            attempt: 2,
            gate: Some((2, 50)),
            promote: false,
            resume: None,
        }
    }

    #[test]
    fn records_round_trip_through_the_attribute() {
        let r = Release {
            step: 3,
            remaining: std::time::Duration::from_secs(90),
            approved_step: 2,
            stable_task_definition: "td/web:12".into(),
            ..Release::of(&canary(), Release::INTERRUPTED, "stopped".into())
        };
        assert_eq!(Release::read(&r.to_value()), Some(r));
    }

    #[test]
    fn an_approval_tag_of_this_version_raises_approved_step_once() {
        let c = canary();
        let approved = tags(&[(TAG_APPROVED, &approval_tag(&c, 2))]);
        assert_eq!(approval_tag(&c, 2), "2 2 web:13");
        let held = Release {
            step: 2,
            ..Release::of(&c, Release::HELD, "waiting".into())
        };
        let r = read_back(&state(Some(held)), &approved).expect("read back");
        assert_eq!((r.result.as_str(), r.approved_step), ("held", 2));
        // Read back already: nothing new.
        assert_eq!(read_back(&state(Some(r)), &approved), None);
        // Another version or attempt: not this release's approval.
        let other = tags(&[(TAG_APPROVED, "2 1 web:13")]);
        assert_eq!(read_back(&state(None), &other), None);
        let other = tags(&[(TAG_APPROVED, "2 2 web:14")]);
        assert_eq!(read_back(&state(None), &other), None);
    }

    #[test]
    fn an_abort_tag_of_this_version_rolls_it_back() {
        let c = canary();
        let at = "2026-12-02T15:00:00Z";
        let aborted = tags(&[
            (TAG_ABORTED, &abort_tag(&c, at)),
            (TAG_APPROVED, "2 2 web:13"),
        ]);
        let r = read_back(&state(None), &aborted).expect("read back");
        assert_eq!(
            (r.result.as_str(), r.reason.as_str(), r.at.as_str()),
            (Release::ROLLED_BACK, ABORTED_BY_ACTION, at)
        );
        assert!(r.holds_back(&c));
        assert_eq!(
            read_back(&state(Some(r)), &aborted),
            None,
            "already recorded"
        );
        let older = tags(&[(TAG_ABORTED, &format!("1 {at} web:13"))]);
        assert_eq!(
            read_back(&state(None), &older),
            None,
            "an earlier attempt's abort"
        );
    }
}
