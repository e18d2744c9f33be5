//! Panics become diagnostics at the RPC boundary. A bug in one resource fails that one RPC with
//! an error Terraform shows, instead of a reset connection, and a streamed RPC still ends with
//! the event that tells Terraform how it ended (a stream that just stops reads as success).

use crate::diag::Diagnostics;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::task::Poll;

/// Runs `f`; a panic while it runs becomes an error diagnostic naming the RPC.
///
/// Unwind safety: after a panic the future is dropped, never polled again, and the provider's
/// shared state is behind locks that poison or values that are only replaced whole.
pub(super) async fn guarded<T>(rpc: &str, f: impl Future<Output = T>) -> Result<T, Diagnostics> {
    let mut f = std::pin::pin!(f);
    std::future::poll_fn(
        |cx| match catch_unwind(AssertUnwindSafe(|| f.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panicked(rpc, payload.as_ref()))),
        },
    )
    .await
}

/// [`guarded`] for an RPC whose work is synchronous.
pub(super) fn guarded_sync<T>(rpc: &str, f: impl FnOnce() -> T) -> Result<T, Diagnostics> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panicked(rpc, payload.as_ref()))
}

fn panicked(rpc: &str, payload: &(dyn std::any::Any + Send)) -> Diagnostics {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string());
    crate::log::error(
        "panic in an RPC; reported to Terraform as an error",
        &[("rpc", rpc.into()), ("panic", message.clone().into())],
    );
    let mut d = Diagnostics::new();
    d.error(
        "Internal error in the ecsx provider",
        format!(
            "{rpc} failed with a bug in ecsx: {message}. Nothing more was done after that point; the next plan reads what AWS holds. Please report this with the output of TF_LOG_PROVIDER=DEBUG."
        ),
    );
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_an_async_rpc_is_an_error_diagnostic() {
        let out = guarded("ApplyResourceChange", async {
            tokio::task::yield_now().await;
            let v: Vec<u8> = Vec::new();
            v[3]
        })
        .await;
        let d = out.expect_err("the panic is caught");
        assert!(d.has_errors());
        let detail = &d.iter().next().expect("one").detail;
        assert!(
            detail
                .starts_with("ApplyResourceChange failed with a bug in ecsx: index out of bounds"),
            "{detail}"
        );
        assert_eq!(guarded("x", async { 7 }).await.ok(), Some(7));
    }

    #[test]
    fn a_panic_in_a_sync_rpc_is_an_error_diagnostic() {
        let d = guarded_sync("ValidateResourceConfig", || -> () { panic!("boom {}", 1) })
            .expect_err("caught");
        assert!(d.iter().any(|x| x.detail.contains("boom 1")));
    }
}
