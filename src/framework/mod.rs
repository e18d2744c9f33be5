//! The contracts: what a resource, data source, action or listing implements, and what the
//! provider core hands it (`Ctx`). Framework-native types only: nothing here knows the wire
//! (`protocol`), the registry (`provider`) or any implementation (`resources`).

mod action;
mod data_source;
mod list;
mod plan;
mod resource;

pub use action::{Action, Invocation, Progress};
pub use data_source::DataSource;
pub use list::{ListSink, Listed};
pub use plan::{base_plan, Plan};
pub use resource::Resource;

use crate::aws::Aws;
use crate::value::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// What a resource gets to work with: AWS clients and the stop signal.
#[derive(Clone)]
pub struct Ctx {
    pub aws: Arc<Aws>,
    pub stop: CancellationToken,
}

/// The `timeouts.<op>` duration of a value, or the default.
pub fn timeout(v: &Value, op: &str, default: Duration) -> Duration {
    v.block("timeouts")
        .get(op)
        .as_str()
        .and_then(crate::duration::parse)
        .unwrap_or(default)
}
