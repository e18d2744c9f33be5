//! The contract of a managed resource: the RPCs Terraform sends for it, on plain values.

use super::{Ctx, ListSink, Plan};
use crate::diag::Diagnostics;
use crate::schema::{IdentitySchema, Schema};
use crate::value::Value;
use async_trait::async_trait;

#[async_trait]
pub trait Resource: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;

    /// Rules beyond the schema's per-attribute validators.
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}

    /// Moves a state written with schema `version` (already conformed to the current
    /// schema's shape) to the current meaning. Terraform sends every stored state through
    /// here before it plans or refreshes, the current version's too, so this is also where
    /// a state sheds what only the apply that wrote it needed.
    fn upgrade(&self, _version: i64, state: Value) -> Value {
        state
    }

    /// Refines a plan; `ctx` is None while the provider configuration is unknown.
    async fn modify_plan(&self, _ctx: Option<&Ctx>, _plan: &mut Plan, _diags: &mut Diagnostics) {}

    /// Returns the new state; Null if nothing was created.
    async fn create(&self, ctx: &Ctx, planned: &Value, diags: &mut Diagnostics) -> Value;

    /// Returns the refreshed state; Null when the object is gone.
    async fn read(&self, ctx: &Ctx, state: &Value, diags: &mut Diagnostics) -> Value;

    async fn update(
        &self,
        ctx: &Ctx,
        prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Value;

    /// Returns what is left: Null once deleted, or the prior state when deletion failed.
    async fn delete(&self, ctx: &Ctx, prior: &Value, diags: &mut Diagnostics) -> Value;

    /// Builds state from an import id; Null (with an error) when there is nothing to import.
    async fn import(&self, ctx: &Ctx, id: &str, diags: &mut Diagnostics) -> Value;

    /// The identity schema (Terraform 1.12+); None for a resource without identity.
    fn identity_schema(&self) -> Option<IdentitySchema> {
        None
    }

    /// The identity of the object `state` describes. `region` is the provider's, for
    /// when the state names none. Values not known yet (a create) are Unknown.
    fn identity(&self, _state: &Value, _region: &str) -> Value {
        Value::Null
    }

    /// The import id that an identity from `import { identity = {...} }` names.
    /// `region` is the provider's.
    fn import_id(
        &self,
        _identity: &Value,
        _region: &str,
        diags: &mut Diagnostics,
    ) -> Option<String> {
        diags.error(
            "Import by identity not supported",
            format!(
                "{} has no resource identity; import it with an id.",
                self.type_name()
            ),
        );
        None
    }

    /// The schema of a list block's `config { ... }` (Terraform 1.14+ `terraform query`);
    /// None for a resource that cannot be listed.
    fn list_schema(&self) -> Option<Schema> {
        None
    }

    /// Lists the existing objects `config` selects into `sink`, reading AWS only.
    async fn list(
        &self,
        _ctx: &Ctx,
        _config: &Value,
        _sink: &mut ListSink,
        _diags: &mut Diagnostics,
    ) {
    }
}
