//! Waiting on task sets: one poll step (status) and the loops built on it.

use super::*;

/// One poll step: has this task set settled since ecsx last wrote it (see
/// [`TaskSet::settled_since`])?
pub async fn status_task_set(
    ecs: &Client,
    cluster: &str,
    service: &str,
    task_set_arn: &str,
) -> Result<Poll<TaskSet>, AwsError> {
    let (sets, _) = find_task_sets(ecs, cluster, service, &[task_set_arn.to_string()]).await?;
    match sets.into_iter().next() {
        Some(t) => match t.settled_since(last_write(task_set_arn)) {
            Ok(()) => Ok(Poll::Done(t)),
            Err(why) => Ok(Poll::Pending(why)),
        },
        // Real ECS can briefly not list a task set it just created.
        None => Ok(Poll::Pending("not visible yet".into())),
    }
}

/// Waits until the task set is STEADY_STATE with all its tasks running, as computed after
/// ecsx's last write to it.
pub async fn wait_steady(
    ecs: &Client,
    cluster: &str,
    service: &str,
    task_set_arn: &str,
    timeout: Duration,
    stop: &CancellationToken,
) -> Result<TaskSet, AwsError> {
    let what = format!(
        "task set {} to reach STEADY_STATE",
        crate::arn::task_set_id(task_set_arn)
    );
    wait::until(&what, timeout, poll_interval(), stop, || {
        status_task_set(ecs, cluster, service, task_set_arn)
    })
    .await
}

/// Waits until a deleted task set is no longer listed (DRAINING finished).
pub async fn wait_gone(
    ecs: &Client,
    cluster: &str,
    service: &str,
    task_set_arn: &str,
    timeout: Duration,
    stop: &CancellationToken,
) -> Result<(), AwsError> {
    let what = format!(
        "task set {} to finish draining",
        crate::arn::task_set_id(task_set_arn)
    );
    wait::until(&what, timeout, poll_interval(), stop, || async {
        match find_task_sets(ecs, cluster, service, &[task_set_arn.to_string()]).await {
            Ok((sets, _)) => Ok(match sets.first() {
                None => Poll::Done(()),
                Some(t) => Poll::Pending(t.status.clone()),
            }),
            Err(e) if e.is_not_found() => Ok(Poll::Done(())),
            Err(e) => Err(e),
        }
    })
    .await
}

/// How often waits poll; `ECSX_POLL_INTERVAL` (a duration) overrides the 5 s default.
pub fn poll_interval() -> Duration {
    std::env::var("ECSX_POLL_INTERVAL")
        .ok()
        .and_then(|s| crate::duration::parse(&s))
        .unwrap_or(Duration::from_secs(5))
}
