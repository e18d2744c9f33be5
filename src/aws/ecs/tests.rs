//! Unit tests of `ecs`.

use super::*;

fn at(secs: u64) -> Option<SystemTime> {
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// A write at `secs` by ECS's clock, made `ago` before now by this process's clock.
fn written(secs: u64, ago: Duration) -> Option<Write> {
    let local = std::time::Instant::now()
        .checked_sub(ago)
        .expect("a monotonic clock past boot");
    at(secs).map(|at| Write { at, local })
}

fn at_write(secs: u64) -> Option<Write> {
    written(secs, Duration::ZERO)
}

fn steady(computed: i32, running: i32, pending: i32, status_at: u64) -> TaskSet {
    TaskSet {
        arn: "arn:aws:ecs:us-east-1:1:task-set/c/s/ecs-svc/1".into(),
        status: "ACTIVE".into(),
        stability_status: "STEADY_STATE".into(),
        computed_desired_count: computed,
        running_count: running,
        pending_count: pending,
        stability_status_at: at(status_at),
        ..TaskSet::default()
    }
}

#[test]
fn settled_needs_counts_and_a_status_newer_than_the_write() {
    // The STEADY_STATE from before an UpdateTaskSet at t=100 is not an answer to it.
    assert!(steady(2, 2, 0, 90).settled_since(at_write(100)).is_err());
    assert!(steady(2, 2, 0, 100).settled_since(at_write(100)).is_err());
    assert!(steady(1, 1, 0, 101).settled_since(at_write(100)).is_ok());
    // Counts must agree even when the status is fresh.
    assert!(steady(2, 1, 0, 101).settled_since(at_write(100)).is_err());
    assert!(steady(2, 2, 1, 101).settled_since(at_write(100)).is_err());
    // No write by ecsx (a wait after UpdateServicePrimaryTaskSet): counts decide.
    assert!(steady(2, 2, 0, 90).settled_since(None).is_ok());
    // A service with desiredCount 0: steady at once with no tasks.
    assert!(steady(0, 0, 0, 101).settled_since(at_write(100)).is_ok());
    let mut stabilizing = steady(2, 1, 1, 101);
    stabilizing.stability_status = "STABILIZING".into();
    assert!(stabilizing.settled_since(at_write(100)).is_err());
    // A scale that changed no task count may never be re-dated: once the settle window has
    // passed since the write, the counts decide.
    let window = settle_window();
    assert!(steady(2, 2, 0, 90)
        .settled_since(written(100, window + Duration::from_secs(1)))
        .is_ok());
    assert!(steady(2, 1, 1, 90)
        .settled_since(written(100, window + Duration::from_secs(1)))
        .is_err());
    let waiting = steady(2, 2, 0, 90).settled_since(at_write(100));
    assert!(waiting.is_err_and(|why| why.contains("waiting up to 30s after it")));
}

#[test]
fn describe_failures_other_than_missing_are_errors() {
    let t = steady(1, 1, 0, 1);
    let refs = vec![t.arn.clone(), "ecs-svc/2".to_string()];
    let missing = [(
        "ecs-svc/2".to_string(),
        "MISSING".to_string(),
        String::new(),
    )];
    assert_eq!(
        answered_task_sets(&refs, std::slice::from_ref(&t), &missing),
        Ok(vec!["ecs-svc/2".to_string()])
    );
    let denied = [(
        "ecs-svc/2".to_string(),
        "ACCESS_DENIED".to_string(),
        "no".to_string(),
    )];
    let e = answered_task_sets(&refs, std::slice::from_ref(&t), &denied).unwrap_err();
    assert_eq!(e.code(), Some("ACCESS_DENIED"));
    // Neither described nor reported: never read as "not there".
    assert!(answered_task_sets(&refs, std::slice::from_ref(&t), &[]).is_err());
}

#[test]
fn propagation_errors_are_the_three_hashicorp_retries() {
    let api = |code: &str, message: &str| AwsError::Api {
        operation: "CreateTaskSet",
        code: code.into(),
        message: message.into(),
        request_id: None,
    };
    assert!(not_propagated_yet(&api("ClusterNotFoundException", "")));
    assert!(not_propagated_yet(&AwsError::NotFound {
        what: "service",
        id: "s".into()
    }));
    assert!(not_propagated_yet(&api(
        "InvalidParameterException",
        "The target group with targetGroupArn arn:x does not have an associated load balancer."
    )));
    assert!(!not_propagated_yet(&api(
        "InvalidParameterException",
        "5 deployments exist on the service."
    )));
    assert!(!not_propagated_yet(&api("ThrottlingException", "")));
}
