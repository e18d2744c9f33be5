//! Managed resources' RPCs: validate, upgrade, read, plan, apply, import, generate config.

use super::{settled_identity, Outcome, PlanOutcome, Provider};
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::base_plan;
use crate::value::Value;

impl Provider {
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
            crate::resources::adopt::check_account(identity, &found, &mut d);
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
        match crate::value::parse_json(raw_json) {
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
}
