//! The record of how the last release ended (`last_release`, and the `ecsx:release` tag it
//! is also written to), the promoted version's stand-in (`promoted_stable`), and the tags
//! actions leave. Data only: a record is about a canary version, never the deployment model.

use crate::schema::Type;
use crate::value::Value;
use std::collections::BTreeMap;

/// A canary version at an attempt: what a release record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CanaryVersion<'a> {
    pub task_definition: &'a str,
    pub attempt: i64,
}

/// How a release ended, as `last_release.result` and the `ecsx:release` tag spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Outcome {
    /// Every step walked and the canary left at its configured weight.
    #[default]
    Completed,
    /// Waiting at an approval gate (`"held"`): the step's weight waits for an
    /// `ecsx_canary_continue` action or a raised `canary.approved_step`.
    AwaitingApproval,
    /// `canary.promote`: the canary's version became the stable one.
    Promoted,
    /// The built-in judge found no verdict within `inconclusive_limit` and `on_inconclusive =
    /// "hold"`: traffic stays at the judged step, which waits like a gate (before step `step`,
    /// the next one) for an `ecsx_canary_continue` action or a raised `canary.approved_step`.
    Inconclusive,
    /// An alarm or an abort moved traffic back and removed the canary.
    RolledBack,
    /// A bake cut short (Ctrl-C, a timeout): the next apply finishes it.
    Interrupted,
    /// The apply walking the release failed (a canary that never turned steady, an AWS
    /// error): the next apply starts it again from where traffic is.
    Failed,
}

impl Outcome {
    const ALL: [Outcome; 7] = [
        Outcome::Completed,
        Outcome::AwaitingApproval,
        Outcome::Inconclusive,
        Outcome::Promoted,
        Outcome::RolledBack,
        Outcome::Interrupted,
        Outcome::Failed,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::AwaitingApproval => "held",
            Outcome::Inconclusive => "inconclusive",
            Outcome::Promoted => "promoted",
            Outcome::RolledBack => "rolled_back",
            Outcome::Interrupted => "interrupted",
            Outcome::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Outcome> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `last_release` attribute.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Release {
    pub result: Outcome,
    pub task_definition: String,
    pub attempt: i64,
    pub reason: String,
    pub at: String,
    /// The step (1-based) the record is about: where a held release waits, where an
    /// interrupted bake stopped; 0 otherwise.
    pub step: i64,
    /// Of an interrupted bake: how much of the step's pause was still to go.
    pub remaining: std::time::Duration,
    /// The highest gated step an `ecsx_canary_continue` action approved (read back from its
    /// record on a task set); 0 when none did.
    pub approved_step: i64,
    /// Of a promotion (`canary.promote`): `stable.task_definition` as configured then. While
    /// the configuration still says so, the promoted version is the stable one.
    pub stable_task_definition: String,
}

impl Release {
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
    pub(crate) fn of<'a>(
        c: impl Into<CanaryVersion<'a>>,
        result: Outcome,
        reason: String,
    ) -> Release {
        let c = c.into();
        Release {
            result,
            task_definition: c.task_definition.to_string(),
            attempt: c.attempt,
            reason,
            at: now(),
            ..Release::default()
        }
    }

    pub(crate) fn read(v: &Value) -> Option<Release> {
        let s = |k: &str| v.get(k).as_str().unwrap_or_default().to_string();
        let result = Outcome::parse(v.get("result").as_str()?)?;
        Some(Release {
            result,
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

    /// The approvals `prior` holds for `c`'s release, which a new record of it keeps: an
    /// approved gate stays approved however the release goes on.
    pub(crate) fn approvals_kept<'a>(
        prior: Option<&Release>,
        c: impl Into<CanaryVersion<'a>>,
    ) -> i64 {
        let c = c.into();
        prior.filter(|r| r.is_of(c)).map_or(0, |r| r.approved_step)
    }

    /// Whether the record is about `c`'s version at its attempt.
    pub(crate) fn is_of<'a>(&self, c: impl Into<CanaryVersion<'a>>) -> bool {
        let c = c.into();
        self.task_definition == c.task_definition && self.attempt == c.attempt
    }

    /// Whether the release waits for an approval: at a gate of `step.approval`, or where the
    /// judge held it for want of a verdict.
    pub(crate) fn waits(&self) -> bool {
        matches!(
            self.result,
            Outcome::AwaitingApproval | Outcome::Inconclusive
        )
    }

    /// Whether this record holds `c` back: its version was rolled back at this attempt.
    pub(crate) fn holds_back<'a>(&self, c: impl Into<CanaryVersion<'a>>) -> bool {
        self.result == Outcome::RolledBack && self.is_of(c)
    }

    /// Whether `c` was promoted already (`canary.promote`): it is the stable version now.
    pub(crate) fn promoted<'a>(&self, c: impl Into<CanaryVersion<'a>>) -> bool {
        self.result == Outcome::Promoted && self.is_of(c)
    }
}

/// The `promoted_stable` attribute: after `canary.promote`, the version the promotion made
/// stable and the `stable.task_definition` it runs in place of. It outlives the
/// `last_release` record of the promotion (the next release, an abort or an approval replace
/// that), and holds until the configuration names another stable version.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StandIn {
    /// The promoted version, running as the stable task set.
    pub task_definition: String,
    /// `stable.task_definition` as configured at the promotion.
    pub in_place_of: String,
}

impl StandIn {
    pub(crate) const ATTRIBUTE: &'static str = "promoted_stable";

    /// The attribute's object type.
    pub(crate) fn attribute_type() -> Type {
        Type::Object(vec![
            ("task_definition", Type::String),
            ("in_place_of", Type::String),
        ])
    }

    /// What `v` (a state or plan) records.
    pub(crate) fn read(v: &Value) -> Option<StandIn> {
        let a = v.get(Self::ATTRIBUTE);
        let s = |k: &str| {
            a.get(k)
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        Some(StandIn {
            task_definition: s("task_definition")?,
            in_place_of: s("in_place_of")?,
        })
    }

    fn to_value(&self) -> Value {
        Value::object([
            (
                "task_definition",
                Value::from(self.task_definition.as_str()),
            ),
            ("in_place_of", Value::from(self.in_place_of.as_str())),
        ])
    }

    /// The stand-in a promotion record makes.
    pub(crate) fn of(r: &Release) -> Option<StandIn> {
        (r.result == Outcome::Promoted && !r.stable_task_definition.is_empty()).then(|| StandIn {
            task_definition: r.task_definition.clone(),
            in_place_of: r.stable_task_definition.clone(),
        })
    }

    /// The version that runs for `configured_stable`: the promoted one while the
    /// configuration still names the version it replaced.
    pub(crate) fn runs_for(&self, configured_stable: &str) -> Option<&str> {
        (self.in_place_of == configured_stable).then_some(self.task_definition.as_str())
    }
}

/// Sets `v`'s `last_release` to `r`; a promotion also sets `promoted_stable`.
pub(crate) fn record(v: &mut Value, r: &Release) {
    v.set("last_release", r.to_value());
    if let Some(s) = StandIn::of(r) {
        v.set(StandIn::ATTRIBUTE, s.to_value());
    }
}

/// `promoted_stable` as a plan leaves it: kept while `stable.task_definition` is what the
/// promotion replaced, null once it names another version.
pub(crate) fn plan_stand_in(prior: &Value, planned: &mut Value) {
    let configured = planned.block("stable").get("task_definition").clone();
    let kept = StandIn::read(prior)
        .filter(|s| configured.as_str() == Some(s.in_place_of.as_str()))
        .map_or(Value::Null, |s| s.to_value());
    planned.set(StandIn::ATTRIBUTE, kept);
}

/// For a state of schema version 1, where a `promoted` record alone said which version stood
/// in for the configured stable one.
pub(crate) fn upgrade_stand_in(state: &mut Value) {
    if !state.get(StandIn::ATTRIBUTE).is_null() {
        return;
    }
    if let Some(s) = Release::read(state.get("last_release")).and_then(|r| StandIn::of(&r)) {
        state.set(StandIn::ATTRIBUTE, s.to_value());
    }
}

/// Now, for `last_release.at`.
pub(crate) fn now() -> String {
    aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// The task set tag that carries a release record where Terraform's state cannot: the actions
/// cannot write state, and a first apply that fails returns none (a failed create with a
/// state is tainted, and its replacement would delete the task set serving production). It
/// lives on the task sets the deployment owns, which no other tool manages or strips, and
/// Read folds the newest one into `last_release` (see [`read_back`]).
pub(crate) const TAG_RELEASE: &str = "ecsx:release";
/// ECS's limit on a tag value.
const TAG_VALUE_MAX: usize = 256;

/// The service tag ecsx 0.1.x's `ecsx_canary_continue` wrote: `STEP ATTEMPT family:revision`,
/// the gated step it approved for that canary version. Still read, never written.
pub(crate) const TAG_APPROVED: &str = "ecsx:approved";
/// The service tag ecsx 0.1.x's `ecsx_canary_abort` wrote: `ATTEMPT AT family:revision`.
/// Still read, never written.
pub(crate) const TAG_ABORTED: &str = "ecsx:aborted";

/// Who wrote a [`TAG_RELEASE`] record; it decides the `reason` read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writer {
    /// The first apply of the deployment, which failed after a task set served.
    FirstApply,
    /// An `ecsx_canary_continue` action.
    Continue,
    /// An `ecsx_canary_abort` action.
    Abort,
}

impl Writer {
    fn as_str(self) -> &'static str {
        match self {
            Writer::FirstApply => "apply",
            Writer::Continue => "continue",
            Writer::Abort => "abort",
        }
    }

    fn parse(s: &str) -> Option<Writer> {
        [Writer::FirstApply, Writer::Continue, Writer::Abort]
            .into_iter()
            .find(|w| w.as_str() == s)
    }

    fn during(self) -> &'static str {
        match self {
            Writer::FirstApply => "the deployment's first apply",
            Writer::Continue => "an ecsx_canary_continue action",
            Writer::Abort => "an ecsx_canary_abort action",
        }
    }
}

/// A short, stable key of a task definition ARN for tag values, which cannot hold two ARNs:
/// FNV-1a, 64 bits, in hex. Records are matched against the configured ARNs by this key.
fn td_key(td: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in td.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Release {
    /// The [`TAG_RELEASE`] value: `v1 RESULT STEP ATTEMPT APPROVED REMAINING_S AT TD STABLE BY
    /// LABEL`, TD and STABLE being [`td_key`]s (`-` for none) and LABEL the canary's
    /// `family:revision` for people, cut to fit ECS's 256 characters.
    pub(crate) fn to_tag(&self, by: Writer) -> String {
        let stable = if self.stable_task_definition.is_empty() {
            "-".to_string()
        } else {
            td_key(&self.stable_task_definition)
        };
        let head = format!(
            "v1 {} {} {} {} {} {} {} {stable} {} ",
            self.result,
            self.step,
            self.attempt,
            self.approved_step,
            self.remaining.as_secs(),
            self.at,
            td_key(&self.task_definition),
            by.as_str()
        );
        let label = crate::arn::task_definition_label(&self.task_definition);
        let room = TAG_VALUE_MAX.saturating_sub(head.len());
        let cut: String = label.chars().take(room).collect();
        head + &cut
    }

    /// A [`TAG_RELEASE`] value read back as the record of `canary_td` at `attempt`; None when
    /// it is about another version or attempt, or is not such a value. `stable_td` is the
    /// configured stable version, which a promotion's record names by key.
    pub(crate) fn from_tag(
        v: &str,
        canary_td: &str,
        attempt: i64,
        stable_td: &str,
    ) -> Option<Release> {
        let f: Vec<&str> = v.splitn(11, ' ').collect();
        let [ver, result, step, att, approved, remaining, at, td, stable, by, ..] = f[..] else {
            return None;
        };
        let by = Writer::parse(by)?;
        if ver != "v1" || td != td_key(canary_td) || att.parse::<i64>().ok()? != attempt {
            return None;
        }
        let step: i64 = step.parse().ok()?;
        let remaining = std::time::Duration::from_secs(remaining.parse().ok()?);
        let result = Outcome::parse(result)?;
        let reason = match (result, by) {
            (Outcome::RolledBack, Writer::Abort) => ABORTED_BY_ACTION.to_string(),
            (Outcome::RolledBack, _) => {
                format!(
                    "an alarm or the judge rolled the release back at step {step} during {}",
                    by.during()
                )
            }
            (Outcome::Interrupted, _) => format!(
                "stopped at step {step} during {}, with {} of its bake still to go",
                by.during(),
                crate::duration::format(remaining)
            ),
            (Outcome::AwaitingApproval, _) => format!("waiting for approval of step {step}"),
            (Outcome::Inconclusive, _) => {
                format!("held by the judge without a verdict; waiting for approval of step {step}")
            }
            _ => String::new(),
        };
        Some(Release {
            result,
            task_definition: canary_td.to_string(),
            attempt,
            reason,
            at: at.to_string(),
            step,
            remaining,
            approved_step: approved.parse().ok()?,
            stable_task_definition: if stable != "-" && stable == td_key(stable_td) {
                stable_td.to_string()
            } else {
                String::new()
            },
        })
    }
}

/// The reason `last_release` gives for an abort.
pub(crate) const ABORTED_BY_ACTION: &str = "aborted by the ecsx_canary_abort action";

/// Splits a tag value into its three fields, the last being the version's label.
fn fields(v: &str) -> Option<(&str, &str, &str)> {
    let mut it = v.splitn(3, ' ');
    Some((it.next()?, it.next()?, it.next()?))
}

impl Release {
    /// When the record was made, for ordering records; None when `at` is not a timestamp.
    pub(crate) fn made_at(&self) -> Option<aws_smithy_types::DateTime> {
        aws_smithy_types::DateTime::from_str(
            &self.at,
            aws_smithy_types::date_time::Format::DateTime,
        )
        .ok()
    }
}

/// What was recorded where the state cannot hold it, since the state's own record, folded
/// into its `last_release`: the newest [`TAG_RELEASE`] record about the state's canary version
/// on the deployment's task sets (`task_set_tags`) that is newer than the state's; failing
/// that, what ecsx 0.1.x's actions left on the service (`service_tags`: an abort rolls the
/// version back, an approval raises `approved_step`). None when nothing says anything new.
///
/// A record counts only when it was made after everything the state knows of: the state's own
/// record (of any version) and `not_before`, when the recorded canary task set was created.
/// An older one is history, e.g. an abort of an earlier release of the same version.
pub(crate) fn read_back(
    state: &Value,
    service_tags: &BTreeMap<String, String>,
    task_set_tags: &[&BTreeMap<String, String>],
    not_before: Option<aws_smithy_types::DateTime>,
) -> Option<Release> {
    let canary = state.block("canary");
    let td = canary.get("task_definition").as_str()?;
    let attempt = canary.get("attempt").as_i64().unwrap_or(1);
    let stable_td = state
        .block("stable")
        .get("task_definition")
        .as_str()
        .unwrap_or_default();
    let prior = Release::read(state.get("last_release"))
        .filter(|r| r.task_definition == td && r.attempt == attempt);
    let since = Release::read(state.get("last_release"))
        .as_ref()
        .and_then(Release::made_at)
        .max(not_before);
    let newest = task_set_tags
        .iter()
        .filter_map(|tags| tags.get(TAG_RELEASE))
        .filter_map(|v| Release::from_tag(v, td, attempt, stable_td))
        .filter_map(|r| r.made_at().map(|at| (at, r)))
        .filter(|(at, _)| since.is_none_or(|s| *at > s))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, r)| r);
    if newest.is_some() {
        return newest;
    }
    legacy_read_back(td, attempt, prior, service_tags)
}

/// The service tags of ecsx 0.1.x's actions ([`TAG_ABORTED`], [`TAG_APPROVED`]).
fn legacy_read_back(
    td: &str,
    attempt: i64,
    prior: Option<Release>,
    tags: &BTreeMap<String, String>,
) -> Option<Release> {
    let label = crate::arn::task_definition_label(td);
    let base = || Release {
        task_definition: td.to_string(),
        attempt,
        ..prior.clone().unwrap_or_default()
    };
    if let Some((a, at, l)) = tags.get(TAG_ABORTED).and_then(|v| fields(v)) {
        let already = prior
            .as_ref()
            .is_some_and(|r| r.result == Outcome::RolledBack);
        if l == label && a.parse() == Ok(attempt) && !already {
            return Some(Release {
                result: Outcome::RolledBack,
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
        .is_some_and(|r| r.result == Outcome::RolledBack);
    (l == label && a.parse() == Ok(attempt) && step > seen && !settled).then(|| Release {
        approved_step: step,
        ..base()
    })
}

#[cfg(test)]
mod tests;
