//! Ownership: the tags that mark a task set as one deployment's (and in which role), and the
//! tags other release controllers leave, so no resource takes over what another manages.

use crate::aws::ecs::TaskSet;
use std::collections::BTreeMap;

pub(crate) const TAG_DEPLOYMENT: &str = "ecsx:deployment";
pub(crate) const TAG_ROLE: &str = "ecsx:role";
/// What a task set is for in a deployment; the value of its `ecsx:role` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Stable,
    Canary,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Stable => "stable",
            Role::Canary => "canary",
        }
    }
}

/// The tags that mark a task set as this deployment's, in `role`.
pub(crate) fn ownership_tags(deployment: &str, role: Role) -> BTreeMap<String, String> {
    [
        (TAG_DEPLOYMENT.to_string(), deployment.to_string()),
        (TAG_ROLE.to_string(), role.as_str().to_string()),
    ]
    .into()
}

pub(crate) fn owned_by(t: &TaskSet, deployment: &str) -> bool {
    t.tags.get(TAG_DEPLOYMENT).map(String::as_str) == Some(deployment)
}

/// Tag keys other release controllers put on the task sets they manage, with their names.
const FOREIGN_CONTROLLER_TAGS: [(&str, &str); 1] = [("pipecd-dev-managed-by", "PipeCD")];

/// Who else manages `t`, if anyone: another ecsx deployment or a known release controller.
pub(crate) fn foreign_owner(t: &TaskSet, deployment: &str) -> Option<String> {
    if let Some(other) = t.tags.get(TAG_DEPLOYMENT).filter(|d| *d != deployment) {
        return Some(format!(
            "ecsx deployment {other} ({TAG_DEPLOYMENT}={other})"
        ));
    }
    FOREIGN_CONTROLLER_TAGS.iter().find_map(|(key, name)| {
        t.tags
            .get(*key)
            .map(|value| format!("{name} ({key}={value})"))
    })
}

/// The active (not DRAINING) task sets owned by `deployment`.
pub(crate) fn owned_active(sets: &[TaskSet], deployment: &str) -> Vec<String> {
    sets.iter()
        .filter(|t| owned_by(t, deployment) && !t.is_draining())
        .map(|t| t.id.clone())
        .collect()
}
