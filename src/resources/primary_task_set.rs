//! `ecsx_primary_task_set`: which task set of an EXTERNAL-controller service is PRIMARY.

use super::adopt;
use super::support::{
    aws_error, external_service, external_service_at_plan, reported, resource_id, split_import_id,
};
use crate::arn;
use crate::aws::ecs::{self, Service, TaskSet};
use crate::aws::AwsError;
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::{timeout, Ctx, ListSink, Plan, Resource};
use crate::schema::{Attribute, Block, IdentitySchema, Schema, Type, Validator};
use crate::value::Value;
use async_trait::async_trait;
use std::time::Duration;

pub struct PrimaryTaskSet;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// Computed attributes that describe the task set; they follow `task_set`.
const TASK_SET_FACTS: [&str; 4] = [
    "task_set_arn",
    "task_set_id",
    "task_definition",
    "previous_task_set_id",
];

#[async_trait]
impl Resource for PrimaryTaskSet {
    fn type_name(&self) -> &'static str {
        "ecsx_primary_task_set"
    }

    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: Block::new(
                "Makes one task set of an ECS service that uses the EXTERNAL deployment controller its PRIMARY task set \
                 (UpdateServicePrimaryTaskSet), and keeps it so: a primary changed out of band shows as drift and is put back. \
                 ECS cannot un-set a primary, so destroying this resource only forgets it and leaves the service as it is.",
            )
            .attr(
                Attribute::required("cluster", Type::String, "The ECS cluster.")
                    .replace()
                    .check(Validator::NameOrArn("ecs", "cluster/")),
            )
            .attr(
                Attribute::required("service", Type::String, "The ECS service; it must use the EXTERNAL deployment controller.")
                    .replace()
                    .check(Validator::NameOrArn("ecs", "service/")),
            )
            .attr(
                Attribute::required("task_set", Type::String, "The task set that must be PRIMARY. Changing it promotes another task set in place.")
                    .check(Validator::TaskSetRef),
            )
            .attr(Attribute::defaulted(
                "wait_for_steady_state",
                Type::Bool,
                Value::from(false),
                "Wait until the primary task set reports `STEADY_STATE` before finishing.",
            ))
            .attr(Attribute::computed("id", Type::String, "`CLUSTER/SERVICE`, with names rather than ARNs.").stable())
            .attr(Attribute::computed("task_set_arn", Type::String, "ARN of the PRIMARY task set."))
            .attr(Attribute::computed("task_set_id", Type::String, "ID of the PRIMARY task set."))
            .attr(Attribute::computed("task_definition", Type::String, "Task definition ARN the PRIMARY task set runs."))
            .attr(Attribute::computed(
                "previous_task_set_id",
                Type::String,
                "ID of the task set that was PRIMARY before this resource last changed it; null when it changed nothing.",
            ))
            .block(Block::timeouts(&["create", "update"])),
        }
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        // A task set ARN names its cluster and service: they must be the configured ones.
        let Some(task_set) = config.get("task_set").as_str() else {
            return;
        };
        let Some((ts_cluster, ts_service)) = arn::task_set_owner(task_set) else {
            return;
        };
        let cluster = config.get("cluster").as_str().map(arn::cluster_name);
        let service = config.get("service").as_str().map(arn::service_name);
        let (Some(cluster), Some(service)) = (cluster, service) else {
            return;
        };
        if (cluster, service) != (ts_cluster, ts_service) {
            diags.error_at(
                AttrPath::attr("task_set"),
                "Task set not in this service",
                format!(
                    "Task set {task_set:?} is not a task set of service {service:?} in cluster {cluster:?}: its ARN names service {ts_service:?} in cluster {ts_cluster:?}. \
                     Use the ecsx_task_sets data source to list the service's task sets."
                ),
            );
        }
    }

    async fn modify_plan(&self, ctx: Option<&Ctx>, plan: &mut Plan, diags: &mut Diagnostics) {
        if plan.planned.is_null() {
            return;
        }
        let promoting = plan.is_create()
            || !plan.requires_replace.is_empty()
            || plan.planned.get("task_set") != plan.prior.get("task_set");
        if !promoting {
            // Only a different task set changes the facts about it; waiting or timeouts do not.
            for k in TASK_SET_FACTS {
                plan.planned.set(k, plan.prior.get(k).clone());
            }
            return;
        }
        // A promotion AWS can judge already: the service takes task sets and the task set is
        // one of its live ones. Values known only after apply are checked by apply.
        let known = |k: &str| plan.planned.get(k).as_str().map(str::to_string);
        let (Some(ctx), Some(cluster), Some(service), Some(task_set)) =
            (ctx, known("cluster"), known("service"), known("task_set"))
        else {
            return;
        };
        if external_service_at_plan(ctx, &cluster, &service, diags)
            .await
            .is_some()
        {
            find_target(ctx, &cluster, &service, &task_set, diags).await;
        }
    }

    async fn create(&self, ctx: &Ctx, planned: &Value, diags: &mut Diagnostics) -> Value {
        let limit = timeout(planned, "create", DEFAULT_TIMEOUT);
        self.promote(ctx, planned, None, limit, diags).await
    }

    async fn update(
        &self,
        ctx: &Ctx,
        prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Value {
        let limit = timeout(planned, "update", DEFAULT_TIMEOUT);
        let out = self.promote(ctx, planned, Some(prior), limit, diags).await;
        if out.is_null() {
            prior.clone()
        } else {
            out
        }
    }

    async fn read(&self, ctx: &Ctx, state: &Value, diags: &mut Diagnostics) -> Value {
        let cluster = state.get("cluster").as_str().unwrap_or_default();
        let service = state.get("service").as_str().unwrap_or_default();
        let svc = match ecs::find_service(&ctx.aws.ecs, cluster, service).await {
            Ok(s) if s.is_active() => s,
            Ok(s) => {
                gone_warning(diags, cluster, service, &format!("is {}", s.status));
                return Value::Null;
            }
            Err(e) if e.is_not_found() => {
                gone_warning(diags, cluster, service, "no longer exists");
                return Value::Null;
            }
            Err(e) => {
                aws_error(
                    diags,
                    None,
                    "Could not read the ECS service",
                    &format!("service {service:?} in cluster {cluster:?}"),
                    &e,
                );
                return state.clone();
            }
        };
        let mut next = state.clone();
        next.set("id", Value::from(resource_id(cluster, service)));
        let configured = state
            .get("task_set")
            .as_str()
            .unwrap_or_default()
            .to_string();
        match svc.primary() {
            Some(p) if p.matches(&configured) => set_facts(&mut next, p),
            Some(p) => {
                // Drift: someone else promoted a task set. Show it in the form the user writes.
                let shown = if configured.starts_with("arn:") || configured.is_empty() {
                    &p.arn
                } else {
                    &p.id
                };
                next.set("task_set", Value::from(shown.as_str()));
                set_facts(&mut next, p);
            }
            None => {
                next.set("task_set", Value::Null);
                for k in ["task_set_arn", "task_set_id", "task_definition"] {
                    next.set(k, Value::Null);
                }
            }
        }
        next
    }

    async fn delete(&self, _ctx: &Ctx, prior: &Value, diags: &mut Diagnostics) -> Value {
        diags.warning(
            "Primary task set left in place",
            format!(
                "ECS cannot un-set a primary task set, so ecsx_primary_task_set {} was removed from the Terraform state only: \
                 task set {} stays PRIMARY. Delete the service, or promote another task set, to change that.",
                prior.get("id").as_str().unwrap_or_default(),
                prior.get("task_set_id").as_str().or(prior.get("task_set").as_str()).unwrap_or("(none)"),
            ),
        );
        Value::Null
    }

    async fn import(&self, ctx: &Ctx, id: &str, diags: &mut Diagnostics) -> Value {
        let Some((cluster, service)) = split_import_id(id, diags) else {
            return Value::Null;
        };
        let Some(svc) = external_service(ctx, &cluster, &service, diags).await else {
            return Value::Null;
        };
        let Some(p) = svc.primary() else {
            diags.error(
                "No primary task set to import",
                format!("Service {service:?} in cluster {cluster:?} has no PRIMARY task set yet."),
            );
            return Value::Null;
        };
        imported_state(&cluster, &service, p)
    }

    fn identity_schema(&self) -> Option<IdentitySchema> {
        Some(adopt::service_identity_schema())
    }

    fn identity(&self, state: &Value, region: &str) -> Value {
        adopt::service_identity(state, "task_set_arn", region)
    }

    fn import_id(&self, identity: &Value, region: &str, diags: &mut Diagnostics) -> Option<String> {
        adopt::import_id(identity, region, diags)
    }

    fn list_schema(&self) -> Option<Schema> {
        Some(adopt::list_schema(
            "Lists the services of a cluster whose PRIMARY task set ecsx_primary_task_set can adopt: EXTERNAL-controller services with a PRIMARY task set. Services that cannot be adopted come back as warnings naming the reason.",
        ))
    }

    async fn list(&self, ctx: &Ctx, config: &Value, sink: &mut ListSink, diags: &mut Diagnostics) {
        let mut services = adopt::Services::new(ctx, adopt::ServiceFilter::from(config));
        while let Some(batch) = services.next_batch(diags).await {
            for svc in batch {
                let more = match adoptable(ctx, &svc, diags).await {
                    Err(reason) => {
                        sink.skipped(adopt::skipped_warning(self.type_name(), &svc, &reason))
                            .await
                    }
                    Ok(None) => return,
                    Ok(Some(p)) => {
                        let name = format!(
                            "{}: PRIMARY {} ({}), {} task set{}",
                            svc.name,
                            arn::task_definition_label(&p.task_definition),
                            p.id,
                            svc.task_sets.len(),
                            if svc.task_sets.len() == 1 { "" } else { "s" },
                        );
                        let cluster = arn::cluster_name(&svc.cluster_arn);
                        let state = imported_state(cluster, &svc.name, p);
                        sink.found(adopt::identity_of(&svc), name, state, Diagnostics::new())
                            .await
                    }
                };
                if !more {
                    return;
                }
            }
        }
    }
}

/// The state import builds for the PRIMARY task set `p` of a service.
fn imported_state(cluster: &str, service: &str, p: &TaskSet) -> Value {
    let mut state = Value::object([
        ("cluster", Value::from(cluster)),
        ("service", Value::from(service)),
        ("task_set", Value::from(p.arn.as_str())),
        ("wait_for_steady_state", Value::from(false)),
        ("id", Value::from(resource_id(cluster, service))),
        ("previous_task_set_id", Value::Null),
        ("timeouts", Value::List(vec![])),
    ]);
    set_facts(&mut state, p);
    state
}

/// The PRIMARY task set of a service this resource can adopt; Err(reason) when it cannot;
/// Ok(None) after an AWS failure (in `diags`).
async fn adoptable<'s>(
    ctx: &Ctx,
    svc: &'s Service,
    diags: &mut Diagnostics,
) -> Result<Option<&'s TaskSet>, String> {
    if let Some(reason) = adopt::unadoptable(svc) {
        return Err(reason);
    }
    let cluster = arn::cluster_name(&svc.cluster_arn);
    let listed = ecs::find_task_sets(&ctx.aws.ecs, cluster, &svc.name, &[]).await;
    let subject = format!("service {:?} in cluster {cluster:?}", svc.name);
    let Some((sets, _)) = reported(listed, diags, None, "Could not list task sets", &subject)
    else {
        return Ok(None);
    };
    // A canary deployment (or another release controller) promotes its own task sets: two
    // controllers deciding PRIMARY would undo each other.
    if let Some((t, owner)) = adopt::claimed_elsewhere(&sets, "") {
        return Err(format!(
            "task set {} is managed by {owner}, which already decides the PRIMARY task set",
            t.id
        ));
    }
    Ok(svc.primary())
}

impl PrimaryTaskSet {
    /// Makes `planned.task_set` PRIMARY, confirms it, and waits if asked.
    async fn promote(
        &self,
        ctx: &Ctx,
        planned: &Value,
        prior: Option<&Value>,
        limit: Duration,
        diags: &mut Diagnostics,
    ) -> Value {
        let cluster = planned.get("cluster").as_str().unwrap_or_default();
        let service = planned.get("service").as_str().unwrap_or_default();
        let wanted = planned.get("task_set").as_str().unwrap_or_default();
        let Some(svc) = external_service(ctx, cluster, service, diags).await else {
            return Value::Null;
        };
        let Some(target) = find_target(ctx, cluster, service, wanted, diags).await else {
            return Value::Null;
        };
        let before = svc.primary().cloned();
        let mut previous = prior
            .map(|p| p.get("previous_task_set_id").clone())
            .unwrap_or(Value::Null);
        let mut current = target.clone();
        if !target.is_primary() {
            crate::log::info(
                "promoting task set",
                &[
                    ("cluster", cluster.into()),
                    ("service", service.into()),
                    ("task_set", target.id.clone().into()),
                ],
            );
            match ecs::set_primary_confirmed(&ctx.aws.ecs, cluster, service, &target.arn).await {
                Ok(t) => current = t,
                Err(AwsError::NotPrimary { primary, .. }) => {
                    diags.error_at(
                        AttrPath::attr("task_set"),
                        "Task set did not become PRIMARY",
                        format!(
                            "ECS accepted UpdateServicePrimaryTaskSet for task set {} of service {service:?} in cluster {cluster:?}, but the service reports {} as PRIMARY.",
                            target.id,
                            primary.as_deref().unwrap_or("no task set")
                        ),
                    );
                    return Value::Null;
                }
                Err(e) => {
                    aws_error(
                        diags,
                        Some(AttrPath::attr("task_set")),
                        "Could not make the task set PRIMARY",
                        &format!(
                            "task set {} of service {service:?} in cluster {cluster:?}",
                            target.id
                        ),
                        &e,
                    );
                    return Value::Null;
                }
            }
            previous = before.map(|b| Value::from(b.id)).unwrap_or(Value::Null);
        }
        if planned.get("wait_for_steady_state").as_bool() == Some(true) {
            match ecs::wait_steady(
                &ctx.aws.ecs,
                cluster,
                service,
                &target.arn,
                limit,
                &ctx.stop,
            )
            .await
            {
                Ok(t) => current = t,
                Err(e) => {
                    aws_error(
                        diags,
                        Some(AttrPath::attr("wait_for_steady_state")),
                        "Primary task set did not reach a steady state",
                        &format!(
                            "task set {} of service {service:?} in cluster {cluster:?} is PRIMARY",
                            target.id
                        ),
                        &e,
                    );
                }
            }
        }
        let mut state = planned.clone();
        state.set("id", Value::from(resource_id(cluster, service)));
        state.set("previous_task_set_id", previous);
        set_facts(&mut state, &current);
        state
    }
}

/// The task set `wanted` of the service; None, with an error at `task_set`, when it is not one
/// of the service's task sets or is DRAINING.
async fn find_target(
    ctx: &Ctx,
    cluster: &str,
    service: &str,
    wanted: &str,
    diags: &mut Diagnostics,
) -> Option<TaskSet> {
    let target = match ecs::find_task_sets(&ctx.aws.ecs, cluster, service, &[wanted.to_string()])
        .await
    {
        Ok((sets, _)) if !sets.is_empty() => sets.into_iter().next().unwrap_or_default(),
        Ok(_) => {
            diags.error_at(
                AttrPath::attr("task_set"),
                "Task set not in this service",
                format!(
                    "Task set {wanted:?} is not a task set of service {service:?} in cluster {cluster:?} (DescribeTaskSets failure MISSING). \
                     Use the ecsx_task_sets data source to list the service's task sets."
                ),
            );
            return None;
        }
        Err(e) => {
            aws_error(
                diags,
                Some(AttrPath::attr("task_set")),
                "Could not read the task set",
                &format!("task set {wanted:?} of service {service:?} in cluster {cluster:?}"),
                &e,
            );
            return None;
        }
    };
    if target.is_draining() {
        diags.error_at(
            AttrPath::attr("task_set"),
            "Task set is draining",
            format!(
                "Task set {} of service {service:?} in cluster {cluster:?} is DRAINING (it is being deleted) and cannot become PRIMARY.",
                target.id
            ),
        );
        return None;
    }
    Some(target)
}

fn set_facts(state: &mut Value, t: &TaskSet) {
    state.set("task_set_arn", Value::from(t.arn.as_str()));
    state.set("task_set_id", Value::from(t.id.as_str()));
    state.set("task_definition", Value::from(t.task_definition.as_str()));
}

fn gone_warning(diags: &mut Diagnostics, cluster: &str, service: &str, why: &str) {
    diags.warning(
        "ECS service gone; removing from state",
        format!(
            "Service {service:?} in cluster {cluster:?} {why}, so ecsx_primary_task_set {} was removed from the state. \
             The next plan will create it again if it is still configured.",
            resource_id(cluster, service)
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_refuses_a_task_set_arn_of_another_service() {
        let cfg = |cluster: &str, service: &str, task_set: Value| {
            Value::object([
                ("cluster", Value::from(cluster)),
                ("service", Value::from(service)),
                ("task_set", task_set),
            ])
        };
        let arn = "arn:aws:ecs:us-east-1:1:task-set/prod/api/ecs-svc/1";
        let errors = |c: &Value| {
            let mut d = Diagnostics::new();
            PrimaryTaskSet.validate(c, &mut d);
            d.iter()
                .map(|x| format!("{}: {}", x.path.clone().unwrap_or_default(), x.detail))
                .collect::<Vec<_>>()
        };
        let e = errors(&cfg("prod", "web", Value::from(arn)));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(&format!(
                "task_set: Task set {arn:?} is not a task set of service \"web\" in cluster \"prod\": its ARN names service \"api\""
            )),
            "{e:?}"
        );
        assert_eq!(errors(&cfg("other", "api", Value::from(arn))).len(), 1);
        // The same service, named by ARN; a task set id; unknown values: nothing to say yet.
        let svc = "arn:aws:ecs:us-east-1:1:service/prod/api";
        assert!(errors(&cfg("prod", svc, Value::from(arn))).is_empty());
        assert!(errors(&cfg("prod", "web", Value::from("ecs-svc/1"))).is_empty());
        assert!(errors(&cfg("prod", "web", Value::Unknown)).is_empty());
    }

    #[test]
    fn schema_is_exactly_as_documented() {
        let s = PrimaryTaskSet.schema();
        let names: Vec<_> = s.block.attributes.iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            [
                "cluster",
                "service",
                "task_set",
                "wait_for_steady_state",
                "id",
                "task_set_arn",
                "task_set_id",
                "task_definition",
                "previous_task_set_id"
            ]
        );
        assert!(s.block.attribute("cluster").unwrap().requires_replace);
        assert!(!s.block.attribute("task_set").unwrap().requires_replace);
        assert_eq!(s.block.blocks[0].name, "timeouts");
    }

    #[test]
    fn bad_config_is_reported_with_paths() {
        let cfg = Value::object([
            ("cluster", Value::from("")),
            ("service", Value::from("arn:aws:ecs:us-east-1:1:cluster/x")),
            ("task_set", Value::from("not a task set")),
            (
                "timeouts",
                Value::List(vec![Value::object([("create", Value::from("soon"))])]),
            ),
        ]);
        let mut d = Diagnostics::new();
        PrimaryTaskSet
            .schema()
            .block
            .validate(&cfg, &AttrPath::root(), &mut d);
        let paths: Vec<String> = d
            .iter()
            .filter_map(|x| x.path.as_ref().map(|p| p.to_string()))
            .collect();
        assert_eq!(
            paths,
            ["cluster", "service", "task_set", "timeouts[0].create"]
        );
    }
}
