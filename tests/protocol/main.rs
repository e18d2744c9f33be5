//! In-process gRPC tests of the wire layer: TLS pinning, schemas, diagnostics, codec robustness,
//! the controller and health services, and the built binary's go-plugin handshake.
//!
//! Helpers: `client` (TLS client and the server under test), `wire` (values and diagnostics as
//! Terraform sends and reads them), `strategies` (proptest budgets and generators). The other
//! modules hold the tests, one concern each.

mod client;
#[path = "../support/mtls.rs"]
mod mtls;
mod strategies;
mod wire;

mod codec_properties;
mod diagnostics;
mod handshake;
mod lifecycle;
mod rpc_properties;
mod schema;
mod tls;

use std::future::Future;
use std::time::Duration;

/// The longest any single step may take before the test fails instead of hanging.
const STEP: Duration = Duration::from_secs(30);

const PRIMARY_TASK_SET: &str = "ecsx_primary_task_set";
const TASK_SETS: &str = "ecsx_task_sets";
const CANARY: &str = "ecsx_canary_deployment";

/// Runs `fut`, failing the test if it takes longer than [`STEP`].
async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {STEP:?}"),
    }
}
