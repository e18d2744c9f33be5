//! The executor's ledger: which task sets the run has made or found and what is recorded of
//! them, and the failure that stopped it, with its cause.

use super::super::judge::Verdict;
use super::super::model::TaskSetRef;
use super::super::release::Release;
use super::super::rollout::{NewTaskSet, Subject};
use crate::aws::AwsError;
use crate::diag::AttrPath;
use crate::resources::ownership::Role;
use crate::value::Value;

/// Task sets as an apply goes: what the state will record, and what this apply created.
pub(super) struct Ledger {
    pub(super) stable: Option<TaskSetRef>,
    pub(super) canary: Option<TaskSetRef>,
    pub(super) live_tg: Option<String>,
    pub(super) created: Vec<(NewTaskSet, TaskSetRef, String)>,
    /// When the apply's timeout (`timeouts.create` / `update`) runs out: a bake stops there.
    pub(super) deadline: std::time::Instant,
    /// The built-in judge's last passing verdict, which the release's record keeps.
    pub(super) verdict: Option<String>,
}

impl Ledger {
    pub(super) fn resolve(&self, s: &Subject) -> Option<TaskSetRef> {
        match s {
            Subject::Recorded(t) => Some(t.clone()),
            // The latest: a promotion with `replace` creates a second stable task set.
            Subject::ToCreate(f) => self
                .created
                .iter()
                .rev()
                .find(|(x, _, _)| x == f)
                .map(|(_, t, _)| t.clone()),
        }
    }

    pub(super) fn records(&self, id: &str) -> bool {
        [&self.stable, &self.canary]
            .iter()
            .any(|t| t.as_ref().is_some_and(|t| t.id == id))
    }

    pub(super) fn write(&self, state: &mut Value) {
        TaskSetRef::write(state, Role::Stable, self.stable.as_ref());
        TaskSetRef::write(state, Role::Canary, self.canary.as_ref());
        state.set("live_target_group_arn", Value::from(self.live_tg.clone()));
    }
}

/// Why a run stopped.
#[derive(Debug)]
pub(super) enum Cause {
    /// An AWS call failed, or AWS never showed what was asked of it in time.
    Aws(AwsError),
    /// An alarm in ALARM: traffic went back (or, before a promotion, never moved).
    Alarm { alarm: String, detail: String },
    /// A bake cut short (Ctrl-C, the timeout, alarms that cannot be read): traffic stays at
    /// the step and `remaining` of its pause is still to go.
    Interrupted {
        remaining: std::time::Duration,
        detail: String,
    },
    /// The built-in judge: a FAIL verdict (or an INCONCLUSIVE one that `on_inconclusive =
    /// "fail"` fails) moved traffic back, or, `held`, no verdict within `inconclusive_limit`
    /// left traffic at the step for the next apply to judge again.
    Judged {
        verdict: Box<Verdict>,
        held: bool,
        detail: String,
    },
    /// Stopped by a rule of ecsx rather than by AWS, an alarm or the judge: the release
    /// changed under the apply, a new stable task set's walk was cut short, or the rollout and
    /// the ledger disagree.
    Refused(String),
}

impl Cause {
    /// Logs the stop under TF_LOG with what the cause carries: the alarm, the bake left.
    pub(super) fn log(&self, deployment: &str) {
        let at = ("deployment", deployment.into());
        match self {
            Cause::Aws(e) => {
                crate::log::warn("apply stopped", &[at, ("error", e.to_string().into())])
            }
            Cause::Alarm { alarm, .. } => crate::log::warn(
                "apply stopped by an alarm",
                &[at, ("alarm", alarm.as_str().into())],
            ),
            Cause::Judged { verdict, held, .. } => crate::log::warn(
                if *held {
                    "apply held by the judge"
                } else {
                    "apply stopped by the judge"
                },
                &[at, ("verdict", verdict.summary().into())],
            ),
            Cause::Interrupted { remaining, .. } => crate::log::info(
                "bake interrupted",
                &[at, ("remaining_s", remaining.as_secs().into())],
            ),
            Cause::Refused(why) => {
                crate::log::warn("apply stopped", &[at, ("reason", why.as_str().into())])
            }
        }
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cause::Aws(e) => write!(f, "{e}"),
            Cause::Alarm { detail, .. }
            | Cause::Judged { detail, .. }
            | Cause::Interrupted { detail, .. }
            | Cause::Refused(detail) => f.write_str(detail),
        }
    }
}

pub(super) struct Failure {
    pub(super) path: Option<AttrPath>,
    pub(super) summary: String,
    pub(super) cause: Cause,
    /// What `last_release` records: an alarm or the judge rolled the release back, or a bake
    /// was cut short.
    pub(super) record: Option<Release>,
}

impl Failure {
    pub(super) fn at(role: Role, summary: &str, error: AwsError) -> Failure {
        Failure {
            path: Some(AttrPath::attr(role.as_str())),
            summary: summary.to_string(),
            cause: Cause::Aws(error),
            record: None,
        }
    }
}
