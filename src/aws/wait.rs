//! Polling with a deadline and cancellation, the `waitXStable` half of find/status/wait.

use super::AwsError;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What one poll step found.
pub enum Poll<T> {
    Done(T),
    /// Not there yet; the string says what is awaited, for logs and the timeout error.
    Pending(String),
}

/// Calls `step` every `interval` until it is done, fails, the deadline passes or `stop` fires.
pub async fn until<T, F, Fut>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    stop: &CancellationToken,
    mut step: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, AwsError>>,
{
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        if stop.is_cancelled() {
            return Err(AwsError::Cancelled {
                what: what.to_string(),
            });
        }
        match step().await? {
            Poll::Done(v) => return Ok(v),
            Poll::Pending(why) => {
                if why != last {
                    // INFO: a long wait shows what it waits for with TF_LOG_PROVIDER=INFO.
                    crate::log::info(
                        "waiting",
                        &[("for", what.into()), ("state", why.clone().into())],
                    );
                    last = why;
                }
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(AwsError::Timeout {
                what: format!("{what} ({last})"),
                after: timeout,
            });
        }
        let nap = interval.min(deadline - now);
        tokio::select! {
            _ = tokio::time::sleep(nap) => {}
            _ = stop.cancelled() => {
                return Err(AwsError::Cancelled { what: what.to_string() });
            }
        }
    }
}

/// Calls `step` again while it fails with an error `retryable` accepts, for at most `budget`,
/// `interval` apart; logs each retry. For errors that mean "not there yet" (propagation), not
/// for throttling, which the SDK retries itself.
pub async fn retry_while<T, F, Fut>(
    operation: &str,
    target: &str,
    budget: Duration,
    interval: Duration,
    retryable: fn(&AwsError) -> bool,
    mut step: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let started = Instant::now();
    let mut attempt = 1u32;
    loop {
        match step().await {
            Err(e) if retryable(&e) && started.elapsed() + interval <= budget => {
                crate::log::warn(
                    "AWS has not caught up yet; retrying",
                    &[
                        ("operation", operation.into()),
                        ("target", target.into()),
                        ("attempt", attempt.into()),
                        ("elapsed_s", started.elapsed().as_secs().into()),
                        ("budget_s", budget.as_secs().into()),
                        ("error", e.to_string().into()),
                    ],
                );
                attempt += 1;
                tokio::time::sleep(interval).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn finishes_when_step_is_done() {
        let n = AtomicU32::new(0);
        let stop = CancellationToken::new();
        let got = until(
            "x",
            Duration::from_secs(60),
            Duration::from_secs(1),
            &stop,
            || async {
                if n.fetch_add(1, Ordering::SeqCst) < 3 {
                    Ok(Poll::Pending("not yet".into()))
                } else {
                    Ok(Poll::Done(7))
                }
            },
        )
        .await;
        assert_eq!(got, Ok(7));
    }

    fn not_yet(e: &AwsError) -> bool {
        matches!(e, AwsError::Api { code, .. } if code == "ServiceNotFoundException")
    }

    fn api(code: &str) -> AwsError {
        AwsError::Api {
            operation: "CreateTaskSet",
            code: code.into(),
            message: "m".into(),
            request_id: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_propagation_errors_until_they_pass() {
        let n = AtomicU32::new(0);
        let got = retry_while(
            "CreateTaskSet",
            "s",
            Duration::from_secs(120),
            Duration::from_secs(5),
            not_yet,
            || async {
                if n.fetch_add(1, Ordering::SeqCst) < 3 {
                    Err(api("ServiceNotFoundException"))
                } else {
                    Ok(1)
                }
            },
        )
        .await;
        assert_eq!(got, Ok(1));
        assert_eq!(n.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn propagation_retries_are_bounded_and_others_are_not_retried() {
        let n = AtomicU32::new(0);
        let started = Instant::now();
        let got: Result<(), _> = retry_while(
            "CreateTaskSet",
            "s",
            Duration::from_secs(120),
            Duration::from_secs(5),
            not_yet,
            || async {
                n.fetch_add(1, Ordering::SeqCst);
                Err(api("ServiceNotFoundException"))
            },
        )
        .await;
        assert_eq!(got, Err(api("ServiceNotFoundException")));
        assert!(started.elapsed() <= Duration::from_secs(120));
        assert_eq!(n.load(Ordering::SeqCst), 25);
        n.store(0, Ordering::SeqCst);
        let got: Result<(), _> = retry_while(
            "CreateTaskSet",
            "s",
            Duration::from_secs(120),
            Duration::from_secs(5),
            not_yet,
            || async {
                n.fetch_add(1, Ordering::SeqCst);
                Err(api("InvalidParameterException"))
            },
        )
        .await;
        assert!(got.is_err());
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn times_out() {
        let stop = CancellationToken::new();
        let got: Result<(), _> = until(
            "steady",
            Duration::from_secs(5),
            Duration::from_secs(1),
            &stop,
            || async { Ok(Poll::Pending("STABILIZING".into())) },
        )
        .await;
        assert!(matches!(got, Err(AwsError::Timeout { .. })), "{got:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn stop_cancels_a_wait() {
        let stop = CancellationToken::new();
        let s2 = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            s2.cancel();
        });
        let got: Result<(), _> = until(
            "steady",
            Duration::from_secs(600),
            Duration::from_secs(10),
            &stop,
            || async { Ok(Poll::Pending("STABILIZING".into())) },
        )
        .await;
        assert!(matches!(got, Err(AwsError::Cancelled { .. })), "{got:?}");
    }
}
