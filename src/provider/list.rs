//! List resources' RPCs (`terraform query`): validate and list.

use super::{unknown_type, Provider};
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::{ListSink, Listed};
use crate::schema::Schema;
use crate::value::Value;
use tokio::sync::mpsc;

impl Provider {
    pub fn validate_list_config(&self, type_name: &str, config: &Value) -> Diagnostics {
        match self.list_schema(type_name) {
            Ok(schema) => {
                let mut d = Diagnostics::new();
                schema.block.validate(config, &AttrPath::root(), &mut d);
                d
            }
            Err(d) => d,
        }
    }

    fn list_schema(&self, type_name: &str) -> Result<Schema, Diagnostics> {
        self.resources
            .get(type_name)
            .and_then(|r| r.list_schema())
            .ok_or_else(|| unknown_type("list resource", type_name))
    }

    /// Lists existing objects into `tx`: at most `limit` results (0: no limit), each with its
    /// identity and, when asked, its full state. Failures come as a last result with errors.
    pub async fn list_resource(
        &self,
        type_name: &str,
        config: &Value,
        include_resource: bool,
        limit: i64,
        tx: mpsc::Sender<Listed>,
    ) {
        let mut d = self.validate_list_config(type_name, config);
        let mut sink = ListSink::new(tx, limit, include_resource);
        if !d.has_errors() {
            match (self.resource(type_name), self.ready_ctx().await) {
                (Ok(r), Ok(ctx)) => {
                    sink.set_shape(r.schema(), r.identity_schema());
                    r.list(&ctx, config, &mut sink, &mut d).await;
                }
                (Err(e), _) | (_, Err(e)) => d.extend(e),
            }
        }
        if !d.is_empty() {
            sink.skipped(d).await;
        }
    }
}
