//! The provider core: the registered resources, data sources and actions, the configured AWS
//! clients, and one file per family of RPCs, each on plain values (`framework` types); the wire
//! layer (`protocol`) decodes and encodes around it.

mod action;
mod config;
mod data_source;
mod list;
pub mod registry;
mod resource;

pub use config::settings_from;

use crate::aws::Aws;
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::{Action, Ctx, DataSource, Resource};
use crate::schema::{IdentitySchema, Schema};
use crate::value::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::RwLock;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
enum Configured {
    No,
    /// The configuration had values unknown until apply; plans skip AWS checks.
    Unknown,
    Ready(Arc<Aws>),
}

pub struct Provider {
    resources: BTreeMap<&'static str, Arc<dyn Resource>>,
    data_sources: BTreeMap<&'static str, Arc<dyn DataSource>>,
    actions: BTreeMap<&'static str, Arc<dyn Action>>,
    configured: RwLock<Configured>,
    stop: CancellationToken,
}

/// A plan answer in plain values.
pub struct PlanOutcome {
    pub planned: Value,
    pub requires_replace: Vec<AttrPath>,
    /// Null for a resource without identity, or when planning a destroy.
    pub identity: Value,
    pub diagnostics: Diagnostics,
}

/// A managed object's state and identity as Read, Apply and Import return them.
pub struct Outcome {
    pub state: Value,
    /// Null for a resource without identity, or when there is no object.
    pub identity: Value,
    pub diagnostics: Diagnostics,
}

impl Outcome {
    fn failed(state: Value, diagnostics: Diagnostics) -> Self {
        Outcome {
            state,
            identity: Value::Null,
            diagnostics,
        }
    }
}

impl Default for Provider {
    fn default() -> Self {
        Self::new()
    }
}

impl Provider {
    pub fn new() -> Self {
        Self::with_actions(registry::actions())
    }

    /// The provider with these actions instead of the registered ones (tests use it).
    pub fn with_actions(actions: Vec<Arc<dyn Action>>) -> Self {
        Provider {
            resources: registry::resources()
                .into_iter()
                .map(|r| (r.type_name(), r))
                .collect(),
            data_sources: registry::data_sources()
                .into_iter()
                .map(|d| (d.type_name(), d))
                .collect(),
            actions: actions.into_iter().map(|a| (a.type_name(), a)).collect(),
            configured: RwLock::new(Configured::No),
            stop: CancellationToken::new(),
        }
    }

    pub fn resource_schemas(&self) -> BTreeMap<&'static str, Schema> {
        self.resources
            .iter()
            .map(|(k, r)| (*k, r.schema()))
            .collect()
    }

    pub fn data_source_schemas(&self) -> BTreeMap<&'static str, Schema> {
        self.data_sources
            .iter()
            .map(|(k, d)| (*k, d.schema()))
            .collect()
    }

    pub fn identity_schemas(&self) -> BTreeMap<&'static str, IdentitySchema> {
        self.resources
            .iter()
            .filter_map(|(k, r)| Some((*k, r.identity_schema()?)))
            .collect()
    }

    /// The `config { ... }` schemas of list blocks, by resource type.
    pub fn list_resource_schemas(&self) -> BTreeMap<&'static str, Schema> {
        self.resources
            .iter()
            .filter_map(|(k, r)| Some((*k, r.list_schema()?)))
            .collect()
    }

    pub fn resource_names(&self) -> Vec<&'static str> {
        self.resources.keys().copied().collect()
    }

    pub fn data_source_names(&self) -> Vec<&'static str> {
        self.data_sources.keys().copied().collect()
    }

    /// Cancels in-flight waits (StopProvider, e.g. Ctrl-C in Terraform).
    pub fn stop(&self) {
        crate::log::info("stop requested; cancelling in-flight waits", &[]);
        self.stop.cancel();
    }

    async fn ctx(&self) -> Result<Option<Ctx>, Diagnostics> {
        match &*self.configured.read().await {
            Configured::Ready(aws) => Ok(Some(Ctx {
                aws: aws.clone(),
                stop: self.stop.clone(),
            })),
            Configured::Unknown => Ok(None),
            Configured::No => {
                let mut d = Diagnostics::new();
                d.error(
                    "Provider not configured",
                    "Terraform did not call ConfigureProvider before using the provider.",
                );
                Err(d)
            }
        }
    }

    /// Like `ctx`, but operations that must call AWS fail while the configuration is unknown.
    async fn ready_ctx(&self) -> Result<Ctx, Diagnostics> {
        match self.ctx().await? {
            Some(c) => Ok(c),
            None => {
                let mut d = Diagnostics::new();
                d.error(
                    "Provider configuration is not known yet",
                    "The ecsx provider block uses values that are only known after apply, so this operation cannot reach AWS yet. Apply the resources it depends on first (terraform apply -target=...).",
                );
                Err(d)
            }
        }
    }

    fn resource(&self, type_name: &str) -> Result<&Arc<dyn Resource>, Diagnostics> {
        self.resources
            .get(type_name)
            .ok_or_else(|| unknown_type("resource", type_name))
    }
}

/// `known` when it is a whole identity (identity never changes), else the identity derived
/// from `state`; Null when the resource has none or it cannot be known yet.
fn settled_identity(r: &dyn Resource, state: &Value, known: &Value, region: &str) -> Value {
    if r.identity_schema().is_none() || state.is_null() {
        return Value::Null;
    }
    if !known.is_null() && known.is_wholly_known() {
        return conformed_identity(r, known);
    }
    let derived = conformed_identity(r, &r.identity(state, region));
    if derived.is_wholly_known() {
        derived
    } else {
        Value::Null
    }
}

fn conformed_identity(r: &dyn Resource, identity: &Value) -> Value {
    match r.identity_schema() {
        Some(schema) => schema.conform(identity),
        None => Value::Null,
    }
}

fn unknown_type(kind: &str, name: &str) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.error(
        format!("Unknown {kind} type"),
        format!("The ecsx provider has no {kind} named {name:?}."),
    );
    d
}

#[cfg(test)]
mod tests;
