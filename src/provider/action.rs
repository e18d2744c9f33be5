//! Actions' RPCs: validate, plan and invoke.

use super::{unknown_type, Provider};
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::{Action, Invocation, Progress};
use crate::schema::Schema;
use crate::value::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::mpsc;

impl Provider {
    pub fn action_schemas(&self) -> BTreeMap<&'static str, Schema> {
        self.actions.iter().map(|(k, a)| (*k, a.schema())).collect()
    }

    fn action(&self, type_name: &str) -> Result<&Arc<dyn Action>, Diagnostics> {
        self.actions
            .get(type_name)
            .ok_or_else(|| unknown_type("action", type_name))
    }

    pub fn validate_action_config(&self, type_name: &str, config: &Value) -> Diagnostics {
        let a = match self.action(type_name) {
            Ok(a) => a,
            Err(d) => return d,
        };
        let mut d = Diagnostics::new();
        a.schema().block.validate(config, &AttrPath::root(), &mut d);
        a.validate(config, &mut d);
        d
    }

    pub async fn plan_action(&self, type_name: &str, config: &Value) -> Diagnostics {
        let a = match self.action(type_name) {
            Ok(a) => a,
            Err(d) => return d,
        };
        let ctx = match self.ctx().await {
            Ok(c) => c,
            Err(d) => return d,
        };
        let mut d = Diagnostics::new();
        a.plan(ctx.as_ref(), config, &mut d).await;
        d
    }

    /// Runs an action, sending its progress and then its outcome to `tx`.
    pub async fn invoke_action(
        &self,
        type_name: &str,
        config: &Value,
        tx: mpsc::Sender<Invocation>,
    ) {
        let mut d = Diagnostics::new();
        match (self.action(type_name), self.ready_ctx().await) {
            (Ok(a), Ok(ctx)) => {
                let progress = Progress::new(tx.clone());
                a.invoke(&ctx, config, &progress, &mut d).await;
            }
            (Err(e), _) | (_, Err(e)) => d.extend(e),
        }
        let _ = tx.send(Invocation::Completed(d)).await;
    }
}
