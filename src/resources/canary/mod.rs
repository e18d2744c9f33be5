//! `ecsx_canary_deployment`: a whole canary release on one service. The stable task set is
//! PRIMARY and sits on the live target group; a canary sits on the other one. Promotion either
//! swaps the two target groups' roles (`promotion = "swap"`, the guide's Method A) or keeps
//! them fixed (`"replace"`, Method B), never sending traffic to a task set before it is steady.
//!
//! Three floors, each looking only down (`tests/architecture.rs` keeps it so):
//! - data, pure: `schema` (schema, validation, timeouts), `model` (configuration and refreshed
//!   state as typed values), `template`, `drift`, `release` (the release record and the tags
//!   actions leave), `judge` (the built-in judge: canary against baseline from ALB metrics;
//!   public for tests/);
//! - decide, pure: `rollout` (the planner: the steps an apply makes, and their words);
//! - act, on AWS: `routers` (read and shift listeners and rules), `safety` (plan-time
//!   checks), `arrival` (a service switched onto the EXTERNAL controller), `observe` (Read),
//!   `plan` (PlanResourceChange), `apply` (the executor: run, bake, judging, ledger, destroy),
//!   `import`, `list` (`terraform query`), `actions`
//!   (`ecsx_canary_continue`, `ecsx_canary_abort`).

mod actions;
mod apply;
mod arrival;
mod arrivals;
mod drift;
pub mod judge;
mod model;
mod observe;
mod pairing;
mod plan;
mod release;
mod rollout;
mod routers;
mod safety;
mod schema;
mod template;

pub(crate) mod import;
mod list;

pub(crate) use actions::{Abort, Continue};

use super::adopt;
use crate::diag::Diagnostics;
use crate::framework::{timeout, Ctx, ListSink, Plan, Resource};
use crate::schema::{IdentitySchema, Schema};
use crate::value::Value;
use async_trait::async_trait;
use schema::{APPLY_TIMEOUT, DELETE_TIMEOUT};

pub struct CanaryDeployment;

#[async_trait]
impl Resource for CanaryDeployment {
    fn type_name(&self) -> &'static str {
        "ecsx_canary_deployment"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        schema::validate(config, diags)
    }

    fn upgrade(&self, version: i64, state: Value) -> Value {
        schema::upgrade(version, state)
    }

    async fn modify_plan(&self, ctx: Option<&Ctx>, plan: &mut Plan, diags: &mut Diagnostics) {
        plan::modify_plan(ctx, plan, diags).await
    }

    async fn create(&self, ctx: &Ctx, planned: &Value, diags: &mut Diagnostics) -> Value {
        let limit = timeout(planned, "create", APPLY_TIMEOUT);
        apply::converge(ctx, &Value::Null, planned, limit, diags).await
    }

    async fn read(&self, ctx: &Ctx, state: &Value, diags: &mut Diagnostics) -> Value {
        observe::read(ctx, state, diags).await
    }

    async fn update(
        &self,
        ctx: &Ctx,
        prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Value {
        let limit = timeout(planned, "update", APPLY_TIMEOUT);
        if drift::awaiting_arrival(prior).is_none() {
            return apply::converge(ctx, prior, planned, limit, diags).await;
        }
        // Imported for an arrival: the apply is the create's; if it stops before anything is
        // owned, the imported state stays.
        let created = apply::converge(ctx, &Value::Null, planned, limit, diags).await;
        if created.is_null() {
            prior.clone()
        } else {
            created
        }
    }

    async fn delete(&self, ctx: &Ctx, prior: &Value, diags: &mut Diagnostics) -> Value {
        if drift::awaiting_arrival(prior).is_some() {
            // Nothing owned yet: forgetting the deployment leaves the service as it is.
            return Value::Null;
        }
        let limit = timeout(prior, "delete", DELETE_TIMEOUT);
        apply::destroy(ctx, prior, limit, diags).await
    }

    async fn import(&self, ctx: &Ctx, id: &str, diags: &mut Diagnostics) -> Value {
        import::import(ctx, id, diags).await
    }

    fn identity_schema(&self) -> Option<IdentitySchema> {
        Some(adopt::service_identity_schema())
    }

    fn identity(&self, state: &Value, region: &str) -> Value {
        // Imported for an arrival, no task set is owned yet: the service's ARN tells the
        // account and region.
        match drift::awaiting_arrival(state) {
            Some((service_arn, _)) => {
                adopt::service_identity_from(state, Some(&service_arn), region)
            }
            None => adopt::service_identity(state, "stable_task_set_arn", region),
        }
    }

    fn import_id(&self, identity: &Value, region: &str, diags: &mut Diagnostics) -> Option<String> {
        adopt::import_id(identity, region, diags)
    }

    fn list_schema(&self) -> Option<Schema> {
        Some(list::schema())
    }

    async fn list(&self, ctx: &Ctx, config: &Value, sink: &mut ListSink, diags: &mut Diagnostics) {
        list::list(ctx, config, sink, diags).await
    }
}
