//! Data sources' RPCs: validate and read.

use super::{unknown_type, Provider};
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::DataSource;
use crate::value::Value;
use std::sync::Arc;

impl Provider {
    fn data_source(&self, type_name: &str) -> Result<&Arc<dyn DataSource>, Diagnostics> {
        self.data_sources
            .get(type_name)
            .ok_or_else(|| unknown_type("data source", type_name))
    }

    pub fn validate_data_source_config(&self, type_name: &str, config: &Value) -> Diagnostics {
        let ds = match self.data_source(type_name) {
            Ok(ds) => ds,
            Err(d) => return d,
        };
        let mut d = Diagnostics::new();
        ds.schema()
            .block
            .validate(config, &AttrPath::root(), &mut d);
        d
    }

    pub async fn read_data_source(&self, type_name: &str, config: &Value) -> (Value, Diagnostics) {
        let ds = match self.data_source(type_name) {
            Ok(ds) => ds,
            Err(d) => return (Value::Null, d),
        };
        let ctx = match self.ready_ctx().await {
            Ok(c) => c,
            Err(d) => return (Value::Null, d),
        };
        let mut d = Diagnostics::new();
        let v = ds.read(&ctx, config, &mut d).await;
        (ds.schema().block.conform(&v), d)
    }
}
