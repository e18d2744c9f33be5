//! The last write ecsx made to each task set, which a wait for steadiness must see answered.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::SystemTime;

/// The last write ecsx made to each task set, by ECS's clock (the `updatedAt` or `createdAt`
/// the write answered with). A wait is satisfied only by a stability ECS computed after it,
/// whoever calls the wait; kept per process, which is one Terraform operation.
static LAST_WRITE: Mutex<BTreeMap<String, Write>> = Mutex::new(BTreeMap::new());

/// ecsx's last write to a task set: when, by ECS's clock (`updatedAt`), and when by this
/// process's clock, for how long ago it was.
#[derive(Debug, Clone, Copy)]
pub struct Write {
    pub at: SystemTime,
    pub local: std::time::Instant,
}

pub(super) fn remember_write(task_set_arn: &str, at: Option<SystemTime>) {
    if let (Some(at), Ok(mut writes)) = (at, LAST_WRITE.lock()) {
        let local = std::time::Instant::now();
        writes.insert(task_set_arn.to_string(), Write { at, local });
    }
}

/// ecsx's last create or scale of this task set; None if it made none.
pub fn last_write(task_set_arn: &str) -> Option<Write> {
    LAST_WRITE
        .lock()
        .ok()
        .and_then(|w| w.get(task_set_arn).copied())
}

/// How long after a write a STEADY_STATE dated before it, with every computed task running,
/// is taken as the task set's settled state: ECS documents no recomputation of
/// `stabilityStatusAt` after an UpdateTaskSet that leaves the task count as it was (50% to
/// 60% of one task), so a wait must not depend on one. ECS recomputes the counts within
/// seconds of a write that changes them, and that transition re-dates the status.
/// `ECSX_SETTLE_WINDOW` (a duration) overrides the 30 s default.
pub fn settle_window() -> std::time::Duration {
    std::env::var("ECSX_SETTLE_WINDOW")
        .ok()
        .and_then(|s| crate::duration::parse(&s))
        .unwrap_or(std::time::Duration::from_secs(30))
}
