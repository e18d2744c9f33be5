//! Plans never write: every `terraform plan` of a workspace tied to an emulator runs inside the
//! emulator's write window (`/_rig/window`), and a plan that made any write call fails the test.

use super::process::rig_http;
use serde_json::Value as Json;

/// Runs `plan` (a `terraform plan ...` invocation) with the emulator on `port` counting write
/// calls; panics naming them if there were any. The emulator sees every call, whether the
/// provider talks to it directly or through the fault proxy.
pub fn watched<T>(port: u16, what: &str, plan: impl FnOnce() -> T) -> T {
    let (status, body) = rig_http(port, "POST", "/_rig/window", r#"{"name": "plan"}"#);
    assert_eq!(status, 200, "POST /_rig/window: {body}");
    let out = plan();
    let (status, body) = rig_http(port, "DELETE", "/_rig/window", "");
    assert_eq!(status, 200, "DELETE /_rig/window: {body}");
    let window: Json = serde_json::from_str(&body).unwrap_or(Json::Null);
    assert_eq!(
        window["write_total"].as_u64(),
        Some(0),
        "`{what}` made write calls; a plan must only read: {}",
        window["writes"]
    );
    out
}

/// Whether Terraform arguments run a plan (`plan ...`; `apply` plans too, but may write).
pub fn is_plan(args: &[&str]) -> bool {
    args.first() == Some(&"plan")
}
