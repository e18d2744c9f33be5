//! The provider core: its schema, configuration, and dispatch to resources on plain values.

use crate::actions::{self, Action, Invocation, Progress};
use crate::aws::{AssumeRole, Aws, Settings};
use crate::diag::{AttrPath, Diagnostics};
use crate::resources::{self, base_plan, Ctx, DataSource, ListSink, Listed, Resource};
use crate::schema::{Attribute, Block, IdentitySchema, NestedBlock, Schema, Type, Validator};
use crate::value::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{mpsc, RwLock};
use tokio_util::sync::CancellationToken;

/// hashicorp/aws's default, so throttled accounts behave as users expect.
const DEFAULT_MAX_RETRIES: u32 = 25;

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
        Self::with_actions(actions::actions())
    }

    /// The provider with these actions instead of the registered ones (tests use it).
    pub fn with_actions(actions: Vec<Arc<dyn Action>>) -> Self {
        Provider {
            resources: resources::resources()
                .into_iter()
                .map(|r| (r.type_name(), r))
                .collect(),
            data_sources: resources::data_sources()
                .into_iter()
                .map(|d| (d.type_name(), d))
                .collect(),
            actions: actions.into_iter().map(|a| (a.type_name(), a)).collect(),
            configured: RwLock::new(Configured::No),
            stop: CancellationToken::new(),
        }
    }

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

    pub fn schema() -> Schema {
        let assume_role = Block::new(
            "Assume this IAM role (STS AssumeRole) with the credentials from the standard chain.",
        )
        .attr(
            Attribute::required("role_arn", Type::String, "ARN of the role to assume.")
                .check(Validator::Arn("iam", "role/")),
        )
        .attr(Attribute::optional(
            "session_name",
            Type::String,
            "Session name; defaults to `terraform-provider-ecsx`.",
        ))
        .attr(Attribute::optional(
            "external_id",
            Type::String,
            "External ID the role's trust policy expects.",
        ))
        .attr(
            Attribute::optional(
                "duration",
                Type::String,
                "Session length, e.g. `1h` (15m to 12h).",
            )
            .check(Validator::Duration(ROLE_SESSION.0, ROLE_SESSION.1)),
        );
        let endpoints = Block::new("Custom service endpoints, e.g. for a local emulator. `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` work too.")
            .attr(Attribute::optional("ecs", Type::String, "Endpoint URL for Amazon ECS."))
            .attr(Attribute::optional("elbv2", Type::String, "Endpoint URL for Elastic Load Balancing v2."))
            .attr(Attribute::optional("sts", Type::String, "Endpoint URL for AWS STS (used by `assume_role`)."))
            .attr(Attribute::optional("cloudwatch", Type::String, "Endpoint URL for Amazon CloudWatch (alarms of `analysis` blocks)."));
        Schema {
            version: 0,
            block: Block::new(
                "The ecsx provider runs canary and blue/green releases on Amazon ECS services that use the EXTERNAL deployment controller. \
                 Credentials come from the standard AWS chain: environment, shared profiles, SSO, web identity, container and instance roles.",
            )
            .attr(Attribute::optional("region", Type::String, "AWS region, e.g. `us-east-1`; defaults to `AWS_REGION` or the profile's region."))
            .attr(Attribute::optional("profile", Type::String, "Named profile from the shared config and credentials files."))
            .attr(Attribute::optional("shared_config_files", Type::list_of(Type::String), "Paths of shared config files, instead of `~/.aws/config`."))
            .attr(Attribute::optional("shared_credentials_files", Type::list_of(Type::String), "Paths of shared credentials files, instead of `~/.aws/credentials`."))
            .attr(Attribute::optional("max_retries", Type::Number, "Most retries of one throttled or failed AWS call; defaults to 25.").check(Validator::IntRange(0, 100)))
            .block(NestedBlock::single("assume_role", assume_role))
            .block(NestedBlock::single("endpoints", endpoints)),
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

    pub fn validate_provider_config(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        Self::schema()
            .block
            .validate(config, &AttrPath::root(), &mut d);
        check_settings(config, &mut d);
        d
    }

    pub async fn configure(&self, config: &Value) -> Diagnostics {
        let mut d = self.validate_provider_config(config);
        if d.has_errors() {
            return d;
        }
        if !config.is_wholly_known() {
            crate::log::debug(
                "provider configuration has unknown values; deferring AWS setup",
                &[],
            );
            *self.configured.write().await = Configured::Unknown;
            return d;
        }
        let settings = settings_from(config);
        match Aws::connect(&settings).await {
            Ok(aws) => {
                crate::log::debug(
                    "provider configured",
                    &[("region", aws.region.clone().into())],
                );
                *self.configured.write().await = Configured::Ready(Arc::new(aws));
            }
            Err(e) => d.error_at(AttrPath::attr("region"), "Invalid AWS configuration", e),
        }
        d
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

    fn data_source(&self, type_name: &str) -> Result<&Arc<dyn DataSource>, Diagnostics> {
        self.data_sources
            .get(type_name)
            .ok_or_else(|| unknown_type("data source", type_name))
    }

    pub fn validate_resource_config(&self, type_name: &str, config: &Value) -> Diagnostics {
        let r = match self.resource(type_name) {
            Ok(r) => r,
            Err(d) => return d,
        };
        let mut d = Diagnostics::new();
        r.schema().block.validate(config, &AttrPath::root(), &mut d);
        r.validate(config, &mut d);
        d
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

    /// Reshapes stored JSON state to the current schema.
    pub fn upgrade_state(
        &self,
        type_name: &str,
        version: i64,
        raw_json: &[u8],
    ) -> (Value, Diagnostics) {
        let r = match self.resource(type_name) {
            Ok(r) => r,
            Err(d) => return (Value::Null, d),
        };
        let schema = r.schema();
        let mut d = Diagnostics::new();
        if version < 0 {
            d.error(
                "Invalid state version",
                format!(
                    "The state of this {type_name} claims schema version {version}; versions start at 0, so the state file is damaged. Restore it from a backup or re-import the resource."
                ),
            );
            return (Value::Null, d);
        }
        if version > schema.version {
            d.error(
                "State from a newer provider",
                format!(
                    "The state of this {type_name} was written with schema version {version}, newer than this provider's {}. Use the newer ecsx release.",
                    schema.version
                ),
            );
            return (Value::Null, d);
        }
        match crate::value::parse_json(raw_json) {
            Ok(v) => {
                let v = schema.block.conform(&v);
                if v.is_null() {
                    (v, d)
                } else {
                    (r.upgrade(version, v), d)
                }
            }
            Err(e) => {
                d.error(
                    "Unreadable state",
                    format!("The stored state of this {type_name} is not valid JSON: {e}"),
                );
                (Value::Null, d)
            }
        }
    }

    /// Refreshes `state`. The identity stays `current_identity` when Terraform has one:
    /// identity never changes for the life of an object.
    pub async fn read_resource(
        &self,
        type_name: &str,
        state: &Value,
        current_identity: &Value,
    ) -> Outcome {
        let r = match self.resource(type_name) {
            Ok(r) => r,
            Err(d) => return Outcome::failed(state.clone(), d),
        };
        let ctx = match self.ctx().await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return Outcome {
                    state: state.clone(),
                    identity: current_identity.clone(),
                    diagnostics: Diagnostics::new(),
                }
            }
            Err(d) => return Outcome::failed(state.clone(), d),
        };
        let mut d = Diagnostics::new();
        let v = r.schema().block.conform(&r.read(&ctx, state, &mut d).await);
        let identity = settled_identity(r.as_ref(), &v, current_identity, &ctx.aws.region);
        Outcome {
            state: v,
            identity,
            diagnostics: d,
        }
    }

    pub async fn plan_resource(
        &self,
        type_name: &str,
        prior: &Value,
        proposed: &Value,
        config: &Value,
        prior_identity: &Value,
    ) -> PlanOutcome {
        let fail = |d: Diagnostics| PlanOutcome {
            planned: proposed.clone(),
            requires_replace: vec![],
            identity: prior_identity.clone(),
            diagnostics: d,
        };
        let r = match self.resource(type_name) {
            Ok(r) => r,
            Err(d) => return fail(d),
        };
        if proposed.is_null() {
            return PlanOutcome {
                planned: Value::Null,
                requires_replace: vec![],
                identity: Value::Null,
                diagnostics: Diagnostics::new(),
            };
        }
        let ctx = match self.ctx().await {
            Ok(c) => c,
            Err(d) => return fail(d),
        };
        let schema = r.schema();
        let mut plan = base_plan(&schema, prior, proposed, config);
        let mut d = Diagnostics::new();
        r.modify_plan(ctx.as_ref(), &mut plan, &mut d).await;
        let planned = schema.block.conform(&plan.planned);
        let region = ctx.as_ref().map(|c| c.aws.region.as_str()).unwrap_or("");
        // A new object (create or replace) has its identity once applied: the account comes
        // from an ARN AWS assigns. Terraform would accept unknown values here, but `show -json`
        // of such a plan fails ("value is not known"), so the plan carries none. An update
        // keeps the identity it has, derived from the prior state if Terraform has none.
        let identity = if prior.is_null() || !plan.requires_replace.is_empty() {
            settled_identity(r.as_ref(), &planned, &Value::Null, region)
        } else {
            settled_identity(r.as_ref(), prior, prior_identity, region)
        };
        PlanOutcome {
            planned,
            requires_replace: plan.requires_replace,
            identity,
            diagnostics: d,
        }
    }

    pub async fn apply_resource(
        &self,
        type_name: &str,
        prior: &Value,
        planned: &Value,
        planned_identity: &Value,
    ) -> Outcome {
        let r = match self.resource(type_name) {
            Ok(r) => r,
            Err(d) => return Outcome::failed(prior.clone(), d),
        };
        let ctx = match self.ready_ctx().await {
            Ok(c) => c,
            Err(d) => return Outcome::failed(prior.clone(), d),
        };
        let mut d = Diagnostics::new();
        let state = if planned.is_null() {
            r.delete(&ctx, prior, &mut d).await
        } else if prior.is_null() {
            r.create(&ctx, planned, &mut d).await
        } else {
            r.update(&ctx, prior, planned, &mut d).await
        };
        if state.is_null() && !planned.is_null() && !d.has_errors() {
            d.error(
                "Provider produced no state",
                format!("{type_name} returned no state and no error; this is a bug in ecsx."),
            );
        }
        let state = r.schema().block.conform(&state);
        let identity = settled_identity(r.as_ref(), &state, planned_identity, &ctx.aws.region);
        Outcome {
            state,
            identity,
            diagnostics: d,
        }
    }

    /// Imports by id, or by identity when `identity` is not null (`import { identity = ... }`).
    pub async fn import_resource(&self, type_name: &str, id: &str, identity: &Value) -> Outcome {
        let r = match self.resource(type_name) {
            Ok(r) => r,
            Err(d) => return Outcome::failed(Value::Null, d),
        };
        let ctx = match self.ready_ctx().await {
            Ok(c) => c,
            Err(d) => return Outcome::failed(Value::Null, d),
        };
        let mut d = Diagnostics::new();
        let id = if identity.is_null() {
            id.to_string()
        } else {
            match r.import_id(identity, &ctx.aws.region, &mut d) {
                Some(id) => id,
                None => return Outcome::failed(Value::Null, d),
            }
        };
        let state = r.schema().block.conform(&r.import(&ctx, &id, &mut d).await);
        let found = settled_identity(r.as_ref(), &state, &Value::Null, &ctx.aws.region);
        if !identity.is_null() {
            resources::adopt::check_account(identity, &found, &mut d);
        }
        if d.has_errors() {
            return Outcome::failed(Value::Null, d);
        }
        Outcome {
            state,
            identity: found,
            diagnostics: d,
        }
    }

    /// Reshapes a stored identity to the current identity schema.
    pub fn upgrade_identity(
        &self,
        type_name: &str,
        version: i64,
        raw_json: &[u8],
    ) -> (Value, Diagnostics) {
        let mut d = Diagnostics::new();
        let r = match self.resource(type_name) {
            Ok(r) => r,
            Err(d) => return (Value::Null, d),
        };
        let Some(schema) = r.identity_schema() else {
            d.error(
                "Resource has no identity",
                format!("{type_name} has no resource identity, so there is nothing to upgrade."),
            );
            return (Value::Null, d);
        };
        if version < 0 || version > schema.version {
            d.error(
                "Unsupported identity version",
                format!(
                    "The stored identity of this {type_name} has version {version}; this provider knows versions 0 to {}. Use the ecsx release that wrote it, or remove and re-import the resource.",
                    schema.version
                ),
            );
            return (Value::Null, d);
        }
        match crate::protocol::codec::from_json(raw_json) {
            Ok(v) => (schema.conform(&v), d),
            Err(e) => {
                d.error(
                    "Unreadable identity",
                    format!("The stored identity of this {type_name} is not valid JSON: {e}"),
                );
                (Value::Null, d)
            }
        }
    }

    /// What `-generate-config-out` writes for `state`: the attributes a user sets.
    pub fn generate_config(&self, type_name: &str, state: &Value) -> (Value, Diagnostics) {
        match self.resource(type_name) {
            Ok(r) => (
                r.schema().block.config_from_state(state),
                Diagnostics::new(),
            ),
            Err(d) => (Value::Null, d),
        }
    }

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

/// STS accepts role sessions from 15 minutes to 12 hours (the role's maximum may be lower).
const ROLE_SESSION: (u64, u64) = (15 * 60, 12 * 3600);

/// Rules beyond the per-attribute validators: what STS and the SDK would refuse only later,
/// with less helpful errors.
fn check_settings(config: &Value, d: &mut Diagnostics) {
    let ep = AttrPath::attr("endpoints").index(0);
    for service in ["ecs", "elbv2", "sts", "cloudwatch"] {
        let Some(url) = config.block("endpoints").get(service).as_str() else {
            continue;
        };
        let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
        let host = url
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        if !scheme_ok
            || host.is_empty()
            || host.starts_with('/')
            || url.contains(char::is_whitespace)
        {
            d.error_at(
                ep.then(service),
                "Invalid endpoint URL",
                format!(
                    "endpoints[0].{service} must be an http:// or https:// URL such as \"http://127.0.0.1:5000\", got {url:?}."
                ),
            );
        }
    }
}

fn opt_string(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// Provider settings from a wholly known, validated configuration.
pub fn settings_from(config: &Value) -> Settings {
    let role = config.block("assume_role");
    let ep = config.block("endpoints");
    Settings {
        region: opt_string(config.get("region")),
        profile: opt_string(config.get("profile")),
        shared_config_files: config.get("shared_config_files").strings(),
        shared_credentials_files: config.get("shared_credentials_files").strings(),
        assume_role: opt_string(role.get("role_arn")).map(|role_arn| AssumeRole {
            role_arn,
            session_name: opt_string(role.get("session_name")),
            external_id: opt_string(role.get("external_id")),
            duration: role
                .get("duration")
                .as_str()
                .and_then(crate::duration::parse),
        }),
        endpoint_ecs: opt_string(ep.get("ecs")),
        endpoint_elbv2: opt_string(ep.get("elbv2")),
        endpoint_sts: opt_string(ep.get("sts")),
        endpoint_cloudwatch: opt_string(ep.get("cloudwatch")),
        max_retries: config
            .get("max_retries")
            .as_i64()
            .map(|n| n.clamp(0, 100) as u32)
            .unwrap_or(DEFAULT_MAX_RETRIES),
    }
}

#[cfg(test)]
mod tests;
