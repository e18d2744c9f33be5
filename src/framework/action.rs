//! The contract of an action (Terraform 1.14+ `action` blocks, `terraform apply
//! -invoke=action.TYPE.NAME`) and the progress it reports while it runs.

use super::Ctx;
use crate::diag::Diagnostics;
use crate::schema::Schema;
use crate::value::Value;
use async_trait::async_trait;
use tokio::sync::mpsc;

/// What an invocation reports while it runs, in order; the last is always `Completed`.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// A line Terraform prints as the action goes.
    Progress(String),
    Completed(Diagnostics),
}

/// Where a running action reports progress.
pub struct Progress {
    tx: mpsc::Sender<Invocation>,
}

impl Progress {
    pub fn new(tx: mpsc::Sender<Invocation>) -> Self {
        Progress { tx }
    }

    /// Sends one progress line without waiting; dropped when the channel is full.
    pub fn try_say(&self, message: impl Into<String>) {
        let _ = self.tx.try_send(Invocation::Progress(message.into()));
    }

    /// Sends one progress line; false when Terraform stopped listening.
    pub async fn say(&self, message: impl Into<String>) -> bool {
        self.tx
            .send(Invocation::Progress(message.into()))
            .await
            .is_ok()
    }
}

#[async_trait]
pub trait Action: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;

    /// Rules beyond the schema's per-attribute validators.
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}

    /// Checks at plan time what can be checked before invoking; `ctx` is None while the
    /// provider configuration is unknown.
    async fn plan(&self, _ctx: Option<&Ctx>, _config: &Value, _diags: &mut Diagnostics) {}

    /// Runs the action, reporting progress as it goes.
    async fn invoke(&self, ctx: &Ctx, config: &Value, progress: &Progress, diags: &mut Diagnostics);
}
