//! Resources and data sources: the traits they implement and the plan logic they share.

pub mod adopt;
pub mod canary;
pub mod primary_task_set;
pub mod support;
pub mod task_sets;

use crate::aws::Aws;
use crate::diag::{AttrPath, Diagnostics};
use crate::schema::{IdentitySchema, Mode, Schema};
use crate::value::Value;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a resource gets to work with: AWS clients and the stop signal.
#[derive(Clone)]
pub struct Ctx {
    pub aws: Arc<Aws>,
    pub stop: CancellationToken,
}

/// A plan being made: the generic part is filled in before `modify_plan` sees it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub prior: Value,
    pub config: Value,
    pub planned: Value,
    pub requires_replace: Vec<AttrPath>,
}

impl Plan {
    pub fn is_create(&self) -> bool {
        self.prior.is_null()
    }
}

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

/// One result of a listing: an object that could be imported, or (identity Null) a warning
/// about one that cannot.
#[derive(Debug, Clone, Default)]
pub struct Listed {
    pub identity: Value,
    pub display_name: String,
    /// The state import would build; only when the request asked for it.
    pub resource: Option<Value>,
    pub diagnostics: Diagnostics,
}

/// Where a listing sends its results. It ends the listing at the requested limit or when
/// Terraform stops reading.
pub struct ListSink {
    tx: mpsc::Sender<Listed>,
    remaining: Option<i64>,
    include_resource: bool,
    /// The resource and identity schemas results are conformed to.
    shape: Option<(Schema, Option<IdentitySchema>)>,
}

impl ListSink {
    /// `limit` of 0 or less means no limit.
    pub fn new(tx: mpsc::Sender<Listed>, limit: i64, include_resource: bool) -> Self {
        ListSink {
            tx,
            remaining: (limit > 0).then_some(limit),
            include_resource,
            shape: None,
        }
    }

    /// Makes every result carry exactly these schemas' attributes.
    pub fn set_shape(&mut self, schema: Schema, identity: Option<IdentitySchema>) {
        self.shape = Some((schema, identity));
    }

    /// Whether results should carry the full resource object.
    pub fn include_resource(&self) -> bool {
        self.include_resource
    }

    /// False once no more results are wanted.
    pub fn wants_more(&self) -> bool {
        self.remaining.is_none_or(|n| n > 0) && !self.tx.is_closed()
    }

    /// Sends one importable object, with warnings about adopting it (`notes`); false once no
    /// more are wanted.
    pub async fn found(
        &mut self,
        identity: Value,
        display_name: String,
        resource: Value,
        notes: Diagnostics,
    ) -> bool {
        if !self.wants_more() {
            return false;
        }
        let (identity, resource) = match &self.shape {
            Some((schema, id_schema)) => (
                id_schema
                    .as_ref()
                    .map_or(identity.clone(), |s| s.conform(&identity)),
                schema.block.conform(&resource),
            ),
            None => (identity, resource),
        };
        let item = Listed {
            identity,
            display_name,
            resource: self.include_resource.then_some(resource),
            diagnostics: notes,
        };
        if self.tx.send(item).await.is_err() {
            return false;
        }
        if let Some(n) = &mut self.remaining {
            *n -= 1;
        }
        self.wants_more()
    }

    /// Reports an object that cannot be adopted: a warning naming the reason. It does not
    /// count toward the limit.
    pub async fn skipped(&mut self, diagnostics: Diagnostics) -> bool {
        if self.tx.is_closed() {
            return false;
        }
        let item = Listed {
            diagnostics,
            ..Default::default()
        };
        self.tx.send(item).await.is_ok() && self.wants_more()
    }
}

#[async_trait]
pub trait DataSource: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    async fn read(&self, ctx: &Ctx, config: &Value, diags: &mut Diagnostics) -> Value;
}

/// The generic part of PlanResourceChange, as terraform-plugin-framework does it:
/// defaults for omitted optional attributes, RequiresReplace, and computed attributes
/// marked unknown when something changes (unless they keep their prior value).
pub fn base_plan(schema: &Schema, prior: &Value, proposed: &Value, config: &Value) -> Plan {
    let mut planned = proposed.clone();
    schema.block.apply_defaults(&mut planned, config);
    let mut requires_replace = Vec::new();
    if !prior.is_null() {
        for a in schema
            .block
            .attributes
            .iter()
            .filter(|a| a.requires_replace)
        {
            let v = planned.get(a.name);
            if v.is_unknown() || v != prior.get(a.name) {
                requires_replace.push(AttrPath::attr(a.name));
            }
        }
        for b in schema.block.blocks.iter().filter(|b| b.requires_replace) {
            if planned.get(b.name) != prior.get(b.name) {
                requires_replace.push(AttrPath::attr(b.name));
            }
        }
    }
    let creating = prior.is_null() || !requires_replace.is_empty();
    let changed = creating
        || schema
            .block
            .attributes
            .iter()
            .filter(|a| a.mode != Mode::Computed)
            .any(|a| planned.get(a.name) != prior.get(a.name))
        || schema
            .block
            .blocks
            .iter()
            .any(|b| planned.get(b.name) != prior.get(b.name));
    if changed {
        for a in &schema.block.attributes {
            let user_set = !config.get(a.name).is_null();
            let fill = match a.mode {
                Mode::Computed => creating || !a.use_state_for_unknown,
                Mode::OptionalComputed => {
                    !user_set && a.default.is_none() && (creating || !a.use_state_for_unknown)
                }
                _ => false,
            };
            if fill {
                planned.set(a.name, Value::Unknown);
            }
        }
    }
    Plan {
        prior: prior.clone(),
        config: config.clone(),
        planned,
        requires_replace,
    }
}

/// The `timeouts.<op>` duration of a value, or the default.
pub fn timeout(v: &Value, op: &str, default: Duration) -> Duration {
    v.block("timeouts")
        .get(op)
        .as_str()
        .and_then(crate::duration::parse)
        .unwrap_or(default)
}

/// All resources the provider serves.
pub fn resources() -> Vec<Arc<dyn Resource>> {
    vec![
        Arc::new(primary_task_set::PrimaryTaskSet),
        Arc::new(canary::CanaryDeployment),
    ]
}

/// All data sources the provider serves.
pub fn data_sources() -> Vec<Arc<dyn DataSource>> {
    vec![Arc::new(task_sets::TaskSets)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Attribute, Block, Type};

    fn schema() -> Schema {
        Schema {
            version: 0,
            block: Block::new("t")
                .attr(Attribute::required("cluster", Type::String, "c").replace())
                .attr(Attribute::required("target", Type::String, "t"))
                .attr(Attribute::defaulted(
                    "wait",
                    Type::Bool,
                    Value::from(false),
                    "w",
                ))
                .attr(Attribute::computed("id", Type::String, "i").stable())
                .attr(Attribute::computed("arn", Type::String, "a")),
        }
    }

    fn state(cluster: &str, target: &str) -> Value {
        Value::object([
            ("cluster", Value::from(cluster)),
            ("target", Value::from(target)),
            ("wait", Value::from(false)),
            ("id", Value::from("c/s")),
            ("arn", Value::from("arn:1")),
        ])
    }

    fn config(cluster: &str, target: &str) -> Value {
        Value::object([
            ("cluster", Value::from(cluster)),
            ("target", Value::from(target)),
            ("wait", Value::Null),
            ("id", Value::Null),
            ("arn", Value::Null),
        ])
    }

    #[test]
    fn create_marks_computed_unknown_and_applies_defaults() {
        let cfg = config("c", "t");
        let p = base_plan(&schema(), &Value::Null, &cfg, &cfg);
        assert!(p.planned.get("id").is_unknown());
        assert!(p.planned.get("arn").is_unknown());
        assert_eq!(p.planned.get("wait"), &Value::from(false));
        assert!(p.requires_replace.is_empty());
    }

    #[test]
    fn no_change_keeps_prior_values() {
        let prior = state("c", "t");
        let mut proposed = prior.clone();
        proposed.set("wait", Value::from(false));
        let p = base_plan(&schema(), &prior, &proposed, &config("c", "t"));
        assert_eq!(p.planned, prior);
    }

    #[test]
    fn update_keeps_stable_computed_and_unknowns_the_rest() {
        let prior = state("c", "t");
        let mut proposed = prior.clone();
        proposed.set("target", Value::from("t2"));
        let p = base_plan(&schema(), &prior, &proposed, &config("c", "t2"));
        assert_eq!(p.planned.get("id"), &Value::from("c/s"));
        assert!(p.planned.get("arn").is_unknown());
        assert!(p.requires_replace.is_empty());
    }

    #[test]
    fn replace_attribute_is_reported() {
        let prior = state("c", "t");
        let mut proposed = prior.clone();
        proposed.set("cluster", Value::from("c2"));
        let p = base_plan(&schema(), &prior, &proposed, &config("c2", "t"));
        assert_eq!(p.requires_replace, vec![AttrPath::attr("cluster")]);
        assert!(p.planned.get("id").is_unknown());
    }

    #[test]
    fn removed_optional_goes_back_to_default() {
        let mut prior = state("c", "t");
        prior.set("wait", Value::from(true));
        let p = base_plan(&schema(), &prior, &prior.clone(), &config("c", "t"));
        assert_eq!(p.planned.get("wait"), &Value::from(false));
    }
}
