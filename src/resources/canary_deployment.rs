//! `ecsx_canary_deployment`: a whole canary release on one service, Method B (fixed target group roles).
//!
//! The stable task set always sits on the primary target group and is PRIMARY; a canary
//! sits on the canary target group. A plan is a [`Rollout`] computed from the refreshed
//! state and the configuration; apply carries out the same rollout, step by step.

use super::support::{
    aws_error, external_service, external_service_at_plan, reported, resource_id, split_import_id,
};
use super::{timeout, Ctx, Plan, Resource};
use crate::arn;
use crate::aws::ecs::{self, TaskSet, TaskSetSpec};
use crate::aws::elbv2::{self, Router};
use crate::aws::wait::{self, Poll};
use crate::aws::AwsError;
use crate::diag::{AttrPath, Diagnostics};
use crate::schema::{Attribute, Block, NestedBlock, Schema, Type, Validator};
use crate::value::Value;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::time::Duration;

mod list;

pub struct CanaryDeployment;

pub const TAG_DEPLOYMENT: &str = "ecsx:deployment";
pub const TAG_ROLE: &str = "ecsx:role";
/// ECS refuses a sixth task set on a service.
pub const MAX_TASK_SETS: usize = 5;
/// Rollout lines that Read writes when AWS differs in ways no other attribute shows.
const DRIFT: &str = "drift: ";

const CREATE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const DELETE_TIMEOUT: Duration = Duration::from_secs(20 * 60);

fn task_set_block() -> Block {
    Block::new("Template for every task set the deployment creates. Task sets are immutable apart from scale, so a change here rolls new task sets.")
        .attr(Attribute::optional("launch_type", Type::String, "How ECS launches the tasks. Conflicts with `capacity_provider_strategy`.").check(Validator::OneOf(&["FARGATE", "EC2", "EXTERNAL"])))
        .attr(Attribute::optional("platform_version", Type::String, "Fargate platform version, e.g. `LATEST`."))
        .attr(Attribute::required("container_name", Type::String, "Container that receives load balancer traffic.").check(Validator::NotBlank))
        .attr(Attribute::required("container_port", Type::Number, "Port of that container.").check(Validator::IntRange(1, 65535)))
        .attr(Attribute::optional("tags", Type::map_of(Type::String), "Tags for the task sets, besides the `ecsx:deployment` and `ecsx:role` tags ecsx adds."))
        .block(NestedBlock::many(
            "capacity_provider_strategy",
            Block::new("A capacity provider to run the task sets on. Conflicts with `launch_type`.")
                .attr(Attribute::required("capacity_provider", Type::String, "Capacity provider name.").check(Validator::NotBlank))
                .attr(Attribute::optional("weight", Type::Number, "Relative share of tasks.").check(Validator::IntRange(0, 1000)))
                .attr(Attribute::optional("base", Type::Number, "Tasks to run on this provider first.").check(Validator::IntRange(0, 100000))),
        ))
        .block(NestedBlock::single(
            "network_configuration",
            Block::new("awsvpc networking for the task sets.")
                .attr(Attribute::required("subnets", Type::list_of(Type::String), "Subnet IDs.").check(Validator::Unique))
                .attr(Attribute::optional("security_groups", Type::list_of(Type::String), "Security group IDs.").check(Validator::Unique))
                .attr(Attribute::defaulted("assign_public_ip", Type::Bool, Value::from(false), "Give tasks public IPs.")),
        ))
}

fn percent(name: &'static str, default: i64, description: &'static str) -> Attribute {
    Attribute::defaulted(name, Type::Number, Value::from(default), description)
        .check(Validator::IntRange(0, 100))
}

fn arn_list(name: &'static str, res: &'static str, description: &'static str) -> Attribute {
    Attribute::optional(name, Type::list_of(Type::String), description)
        .check(Validator::EachArn("elasticloadbalancing", res))
        .check(Validator::Unique)
}

/// The deployment as configured, read from a planned value.
#[derive(Debug, Clone, PartialEq)]
struct Desired {
    cluster: String,
    service: String,
    template: Value,
    stable_td: String,
    stable_scale: f64,
    canary: Option<CanarySpec>,
    primary_tg: String,
    canary_tg: String,
    routers: Vec<(elbv2::Kind, String)>,
    test_routers: Vec<(elbv2::Kind, String)>,
    wait: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct CanarySpec {
    task_definition: String,
    traffic: i64,
    scale: f64,
}

fn routers(traffic: &Value, listeners: &str, rules: &str) -> Vec<(elbv2::Kind, String)> {
    let mut out: Vec<_> = traffic
        .get(listeners)
        .strings()
        .into_iter()
        .map(|a| (elbv2::Kind::Listener, a))
        .collect();
    out.extend(
        traffic
            .get(rules)
            .strings()
            .into_iter()
            .map(|a| (elbv2::Kind::Rule, a)),
    );
    out
}

impl Desired {
    fn from(v: &Value) -> Desired {
        let s = |x: &Value| x.as_str().unwrap_or_default().to_string();
        let stable = v.block("stable");
        let traffic = v.block("traffic");
        let canary = v.block("canary");
        Desired {
            cluster: s(v.get("cluster")),
            service: s(v.get("service")),
            template: v.get("task_set").clone(),
            stable_td: s(stable.get("task_definition")),
            stable_scale: stable.get("scale_percent").as_f64().unwrap_or(100.0),
            canary: (!canary.is_null()).then(|| CanarySpec {
                task_definition: s(canary.get("task_definition")),
                traffic: canary.get("traffic_percent").as_i64().unwrap_or(0),
                scale: canary.get("scale_percent").as_f64().unwrap_or(100.0),
            }),
            primary_tg: s(traffic.get("primary_target_group_arn")),
            canary_tg: s(traffic.get("canary_target_group_arn")),
            routers: routers(traffic, "listener_arns", "listener_rule_arns"),
            test_routers: routers(traffic, "test_listener_arns", "test_listener_rule_arns"),
            wait: v.get("wait_for_steady_state").as_bool().unwrap_or(true),
        }
    }

    fn weights(&self) -> (i64, i64) {
        let p = self.canary.as_ref().map(|c| c.traffic).unwrap_or(0);
        (100 - p, p)
    }

    fn split(&self) -> Vec<(String, i32)> {
        let (p, c) = self.weights();
        vec![
            (self.primary_tg.clone(), p as i32),
            (self.canary_tg.clone(), c as i32),
        ]
    }

    /// Test listeners send everything to the canary while one exists.
    fn test_split(&self, canary_exists: bool) -> Vec<(String, i32)> {
        let c = if canary_exists { 100 } else { 0 };
        vec![
            (self.primary_tg.clone(), 100 - c),
            (self.canary_tg.clone(), c),
        ]
    }

    fn id(&self) -> String {
        resource_id(&self.cluster, &self.service)
    }
}

/// What an apply will do, derived from the refreshed state and the plan.
#[derive(Debug, Clone, Default, PartialEq)]
struct Rollout {
    new_stable: bool,
    stable_scale: Option<f64>,
    repair_primary: bool,
    new_canary: bool,
    canary_scale: Option<f64>,
    shift: bool,
    route_tests: bool,
    delete_canary: Option<String>,
    delete_stable: Option<String>,
    delete_orphans: Vec<String>,
    steps: Vec<String>,
}

impl Rollout {
    fn plan(prior: &Value, d: &Desired) -> Rollout {
        let p = if prior.is_null() {
            None
        } else {
            Some(Desired::from(prior))
        };
        let drift: Vec<String> = prior
            .get("rollout_steps")
            .strings()
            .into_iter()
            .filter(|s| s.starts_with(DRIFT))
            .collect();
        let stable_id = prior.get("stable_task_set_id").as_str().map(str::to_string);
        let canary_id = prior.get("canary_task_set_id").as_str().map(str::to_string);
        // An imported deployment has no template yet: adopting the configured one rolls nothing.
        // Otherwise the templates are compared as ECS sees them, so a template read back from
        // ECS (import) equals a configuration that leaves ECS's defaults unset.
        let template_changed = p.as_ref().is_some_and(|p| {
            !p.template.as_list().is_empty()
                && !Template::from(&p.template).creates_same_as(&Template::from(&d.template))
        });
        let new_stable = match &p {
            None => true,
            Some(p) => {
                stable_id.is_none()
                    || p.stable_td != d.stable_td
                    || template_changed
                    || p.primary_tg != d.primary_tg
            }
        };
        let mut r = Rollout {
            new_stable,
            ..Rollout::default()
        };
        if !r.new_stable {
            if let Some(p) = &p {
                if p.stable_scale != d.stable_scale {
                    r.stable_scale = Some(d.stable_scale);
                }
            }
            r.repair_primary = drift.iter().any(|s| s.contains("PRIMARY"));
        }
        if let Some(c) = &d.canary {
            let old = p.as_ref().and_then(|p| p.canary.clone());
            r.new_canary = canary_id.is_none()
                || old
                    .as_ref()
                    .is_none_or(|o| o.task_definition != c.task_definition)
                || template_changed
                || p.as_ref().is_some_and(|p| p.canary_tg != d.canary_tg);
            if !r.new_canary && old.as_ref().is_some_and(|o| o.scale != c.scale) {
                r.canary_scale = Some(c.scale);
            }
        }
        if canary_id.is_some() && (d.canary.is_none() || r.new_canary) {
            r.delete_canary = canary_id.clone();
        }
        if r.new_stable {
            r.delete_stable = stable_id.clone();
        }
        r.delete_orphans = prior.get("orphaned_task_set_ids").strings();

        let prior_weights = (
            prior.get("primary_weight").as_i64(),
            prior.get("canary_weight").as_i64(),
        );
        let (pw, cw) = d.weights();
        let traffic_drift = drift
            .iter()
            .any(|s| s.contains("traffic") || s.contains("listener"));
        r.shift = !d.routers.is_empty()
            && (prior_weights != (Some(pw), Some(cw))
                || p.as_ref().is_none_or(|p| {
                    p.routers != d.routers
                        || p.primary_tg != d.primary_tg
                        || p.canary_tg != d.canary_tg
                })
                || traffic_drift);
        let canary_before = canary_id.is_some();
        r.route_tests = !d.test_routers.is_empty()
            && (p.as_ref().is_none_or(|p| {
                p.test_routers != d.test_routers
                    || p.primary_tg != d.primary_tg
                    || p.canary_tg != d.canary_tg
            }) || canary_before != d.canary.is_some()
                || traffic_drift);
        r.steps = r.describe(p.as_ref(), d);
        r
    }

    fn describe(&self, prior: Option<&Desired>, d: &Desired) -> Vec<String> {
        let tg = |a: &str| arn::target_group_label(a).to_string();
        let td = |a: &str| arn::task_definition_label(a).to_string();
        let mut steps = Vec::new();
        if self.new_stable {
            steps.push(format!(
                "create stable task set {} (scale {}%) on tg {}",
                td(&d.stable_td),
                d.stable_scale,
                tg(&d.primary_tg)
            ));
            steps.push(format!("make stable task set {} PRIMARY", td(&d.stable_td)));
        }
        if let Some(s) = self.stable_scale {
            steps.push(format!(
                "scale stable task set {} to {s}%",
                td(&d.stable_td)
            ));
        }
        if self.repair_primary {
            steps.push(format!(
                "make stable task set {} PRIMARY again",
                td(&d.stable_td)
            ));
        }
        if let Some(c) = &d.canary {
            if self.new_canary {
                steps.push(format!(
                    "create canary task set {} (scale {}%) on tg {}",
                    td(&c.task_definition),
                    c.scale,
                    tg(&d.canary_tg)
                ));
            }
            if let Some(s) = self.canary_scale {
                steps.push(format!(
                    "scale canary task set {} to {s}%",
                    td(&c.task_definition)
                ));
            }
        }
        if self.shift {
            let (p, c) = d.weights();
            let n = d.routers.len();
            steps.push(format!(
                "shift traffic {p}/{c} on {n} {}",
                if n == 1 { "rule" } else { "rules" }
            ));
        }
        if self.route_tests {
            let to = if d.canary.is_some() {
                tg(&d.canary_tg)
            } else {
                tg(&d.primary_tg)
            };
            let n = d.test_routers.len();
            steps.push(format!(
                "route test traffic 100% to {to} on {n} test {}",
                if n == 1 { "listener" } else { "listeners" }
            ));
        }
        if let Some(id) = &self.delete_canary {
            let label = prior
                .and_then(|p| p.canary.as_ref())
                .map(|c| td(&c.task_definition))
                .unwrap_or_default();
            steps.push(format!("delete canary task set {label} ({id})"));
        }
        if let Some(id) = &self.delete_stable {
            let label = prior.map(|p| td(&p.stable_td)).unwrap_or_default();
            steps.push(format!("delete old stable task set {label} ({id})"));
        }
        for id in &self.delete_orphans {
            steps.push(format!("delete orphaned task set {id}"));
        }
        steps
    }

    fn creates(&self) -> usize {
        usize::from(self.new_stable) + usize::from(self.new_canary)
    }

    fn is_idle(&self) -> bool {
        self.steps.is_empty()
    }
}

#[async_trait]
impl Resource for CanaryDeployment {
    fn type_name(&self) -> &'static str {
        "ecsx_canary_deployment"
    }

    fn schema(&self) -> Schema {
        let stable = Block::new("The version serving production traffic: its task set is PRIMARY and sits on the primary target group.")
            .attr(Attribute::required("task_definition", Type::String, "Task definition ARN of the stable version.").check(Validator::Arn("ecs", "task-definition/")))
            .attr(percent("scale_percent", 100, "Share of the service's desired count the stable task set runs, in percent."));
        let canary = Block::new("Present while a canary runs. Remove it to roll back; set `stable.task_definition` to the canary's and remove it to promote.")
            .attr(Attribute::required("task_definition", Type::String, "Task definition ARN of the canary version; must differ from the stable one.").check(Validator::Arn("ecs", "task-definition/")))
            .attr(percent("traffic_percent", 0, "Share of traffic sent to the canary target group, in percent."))
            .attr(percent("scale_percent", 100, "Share of the service's desired count the canary task set runs, in percent."));
        let traffic = Block::new("Where traffic is split. ecsx rewrites only the forward action of these listeners and rules.")
            .attr(Attribute::required("primary_target_group_arn", Type::String, "Target group of the stable task set.").check(Validator::Arn("elasticloadbalancing", "targetgroup/")))
            .attr(Attribute::required("canary_target_group_arn", Type::String, "Target group of the canary task set.").check(Validator::Arn("elasticloadbalancing", "targetgroup/")))
            .attr(arn_list("listener_arns", "listener/", "Listeners whose default action is split between the two target groups."))
            .attr(arn_list("listener_rule_arns", "listener-rule/", "Listener rules whose forward action is split between the two target groups."))
            .attr(arn_list("test_listener_arns", "listener/", "Test listeners: 100% to the canary while one exists, else 100% to the primary target group."))
            .attr(arn_list("test_listener_rule_arns", "listener-rule/", "Test listener rules, routed like `test_listener_arns`."));
        Schema {
            version: 0,
            block: Block::new(
                "A canary release of one ECS service that uses the EXTERNAL deployment controller: task sets, ALB weights, \
                 promotion, rollback and clean-up, declared in HCL. `rollout_steps` previews at plan time what an apply will do.",
            )
            .attr(Attribute::required("cluster", Type::String, "The ECS cluster.").replace().check(Validator::NameOrArn("ecs", "cluster/")))
            .attr(Attribute::required("service", Type::String, "The ECS service; it must use the EXTERNAL deployment controller.").replace().check(Validator::NameOrArn("ecs", "service/")))
            .attr(Attribute::defaulted("wait_for_steady_state", Type::Bool, Value::from(true), "Wait for each new or rescaled task set to reach `STEADY_STATE` before traffic moves to it."))
            .attr(Attribute::defaulted("keep_primary_on_destroy", Type::Bool, Value::from(false), "On destroy, leave the stable task set running (and PRIMARY) instead of deleting every task set the deployment owns."))
            .attr(Attribute::computed("id", Type::String, "`CLUSTER/SERVICE`.").stable())
            .attr(Attribute::computed("stable_task_set_id", Type::String, "ID of the stable (PRIMARY) task set."))
            .attr(Attribute::computed("stable_task_set_arn", Type::String, "ARN of the stable task set."))
            .attr(Attribute::computed("canary_task_set_id", Type::String, "ID of the canary task set; null without a canary."))
            .attr(Attribute::computed("canary_task_set_arn", Type::String, "ARN of the canary task set; null without a canary."))
            .attr(Attribute::computed("primary_weight", Type::Number, "Weight of the primary target group on the managed listeners and rules; known at plan time."))
            .attr(Attribute::computed("canary_weight", Type::Number, "Weight of the canary target group; known at plan time."))
            .attr(Attribute::computed("rollout_steps", Type::list_of(Type::String), "At plan time, the steps this apply will take; afterwards, the steps last taken. Unchanged when nothing changes."))
            .attr(Attribute::computed("orphaned_task_set_ids", Type::list_of(Type::String), "Task sets tagged as owned by this deployment but missing from its state (e.g. after a crash); the next apply deletes them."))
            .block(NestedBlock::required("task_set", task_set_block()))
            .block(NestedBlock::required("stable", stable))
            .block(NestedBlock::single("canary", canary))
            .block(NestedBlock::required("traffic", traffic))
            .block(Block::timeouts(&["create", "update", "delete"])),
        }
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        let ts = config.block("task_set");
        let cps = ts.get("capacity_provider_strategy");
        // Only a known launch type conflicts: an unknown one may still turn out null.
        if ts.get("launch_type").as_str().is_some() && !cps.as_list().is_empty() {
            diags.error_at(
                AttrPath::attr("task_set").index(0).then("launch_type"),
                "Conflicting arguments",
                "Set either task_set.launch_type or task_set.capacity_provider_strategy blocks, not both: ECS accepts only one of them.",
            );
        }
        let traffic = config.block("traffic");
        let known = |k: &str| traffic.get(k).is_wholly_known();
        let (p, c) = (
            traffic.get("primary_target_group_arn"),
            traffic.get("canary_target_group_arn"),
        );
        if p.as_str().is_some() && p == c {
            diags.error_at(
                AttrPath::attr("traffic").index(0).then("canary_target_group_arn"),
                "Same target group twice",
                "traffic.primary_target_group_arn and traffic.canary_target_group_arn must be two different target groups: the canary needs its own.",
            );
        }
        // A traffic block still unknown (a dynamic block over an unknown collection) is judged at apply.
        if traffic.as_map().is_some()
            && known("listener_arns")
            && known("listener_rule_arns")
            && traffic.get("listener_arns").as_list().is_empty()
            && traffic.get("listener_rule_arns").as_list().is_empty()
        {
            diags.error_at(
                AttrPath::attr("traffic").index(0).then("listener_rule_arns"),
                "Nothing to route",
                "Set traffic.listener_arns, traffic.listener_rule_arns, or both: ecsx needs at least one listener or rule whose weights it manages.",
            );
        }
        let stable_td = config.block("stable").get("task_definition");
        let canary_td = config.block("canary").get("task_definition");
        if stable_td.as_str().is_some() && stable_td == canary_td {
            diags.error_at(
                AttrPath::attr("canary").index(0).then("task_definition"),
                "Canary runs the stable version",
                "canary.task_definition equals stable.task_definition. To promote the canary, remove the canary block in the same change; to test a new version, point the canary at it.",
            );
        }
    }

    async fn modify_plan(&self, ctx: Option<&Ctx>, plan: &mut Plan, diags: &mut Diagnostics) {
        if plan.planned.is_null() || !plan.config.is_wholly_known() {
            mark_unknown(&mut plan.planned);
            return;
        }
        let prior = if plan.requires_replace.is_empty() {
            plan.prior.clone()
        } else {
            Value::Null
        };
        let d = Desired::from(&plan.planned);
        let r = Rollout::plan(&prior, &d);
        let planned = &mut plan.planned;
        planned.set("id", Value::from(d.id()));
        let (pw, cw) = d.weights();
        planned.set("primary_weight", Value::from(pw));
        planned.set("canary_weight", Value::from(cw));
        planned.set("orphaned_task_set_ids", Value::List(vec![]));
        if r.is_idle() {
            for k in [
                "stable_task_set_id",
                "stable_task_set_arn",
                "canary_task_set_id",
                "canary_task_set_arn",
                "rollout_steps",
            ] {
                planned.set(k, prior.get(k).clone());
            }
            return;
        }
        planned.set("rollout_steps", Value::string_list(&r.steps));
        let keep = |planned: &mut Value, id: &str, arn_key: &str, new: bool| {
            if new {
                planned.set(id, Value::Unknown);
                planned.set(arn_key, Value::Unknown);
            } else {
                planned.set(id, prior.get(id).clone());
                planned.set(arn_key, prior.get(arn_key).clone());
            }
        };
        keep(
            planned,
            "stable_task_set_id",
            "stable_task_set_arn",
            r.new_stable,
        );
        if d.canary.is_some() {
            keep(
                planned,
                "canary_task_set_id",
                "canary_task_set_arn",
                r.new_canary,
            );
        } else {
            planned.set("canary_task_set_id", Value::Null);
            planned.set("canary_task_set_arn", Value::Null);
        }
        if let Some(ctx) = ctx {
            // What AWS can tell before anything changes: the service takes task sets, there is
            // room for the new ones, and the routers to rewrite forward only to our target groups.
            check_service(ctx, &d, &r, diags).await;
            if prior.is_null() {
                // The apply deletes these after the new stable task set is PRIMARY.
                if let Ok(ids) = leftovers(ctx, &d).await {
                    let mut steps = r.steps.clone();
                    steps.extend(
                        ids.iter()
                            .map(|id| format!("delete orphaned task set {id}")),
                    );
                    planned.set("rollout_steps", Value::string_list(&steps));
                }
            }
            if r.shift || r.route_tests {
                if let Err(e) = check_routers(ctx, &d, diags).await {
                    aws_error(
                        diags,
                        Some(AttrPath::attr("traffic")),
                        "Could not read listeners and rules",
                        &format!("deployment {}", d.id()),
                        &e,
                    );
                }
            }
        }
    }

    async fn create(&self, ctx: &Ctx, planned: &Value, diags: &mut Diagnostics) -> Value {
        let limit = timeout(planned, "create", CREATE_TIMEOUT);
        self.converge(ctx, &Value::Null, planned, limit, diags)
            .await
    }

    async fn update(
        &self,
        ctx: &Ctx,
        prior: &Value,
        planned: &Value,
        diags: &mut Diagnostics,
    ) -> Value {
        let limit = timeout(planned, "update", CREATE_TIMEOUT);
        self.converge(ctx, prior, planned, limit, diags).await
    }

    async fn read(&self, ctx: &Ctx, state: &Value, diags: &mut Diagnostics) -> Value {
        let d = Desired::from(state);
        let svc = match ecs::find_service(&ctx.aws.ecs, &d.cluster, &d.service).await {
            Ok(s) if s.status == "ACTIVE" => s,
            Ok(_) | Err(AwsError::NotFound { .. }) => {
                diags.warning(
                    "ECS service gone; removing from state",
                    format!("Service {:?} in cluster {:?} no longer exists or is not ACTIVE, so ecsx_canary_deployment {} was removed from the state.", d.service, d.cluster, d.id()),
                );
                return Value::Null;
            }
            Err(e) => {
                aws_error(
                    diags,
                    None,
                    "Could not read the ECS service",
                    &format!("service {:?} in cluster {:?}", d.service, d.cluster),
                    &e,
                );
                return state.clone();
            }
        };
        let subject = format!("service {:?} in cluster {:?}", d.service, d.cluster);
        let listed = ecs::find_task_sets(&ctx.aws.ecs, &d.cluster, &d.service, &[]).await;
        let Some((sets, _)) = reported(listed, diags, None, "Could not list task sets", &subject)
        else {
            return state.clone();
        };
        let routers = find_routers(ctx, &d).await;
        let Some((all_routers, test_routers)) = reported(
            routers,
            diags,
            Some(AttrPath::attr("traffic")),
            "Could not read listeners and rules",
            &format!("deployment {}", d.id()),
        ) else {
            return state.clone();
        };
        observe(state, &d, &svc, &sets, &all_routers, &test_routers)
    }

    async fn delete(&self, ctx: &Ctx, prior: &Value, diags: &mut Diagnostics) -> Value {
        let d = Desired::from(prior);
        let limit = timeout(prior, "delete", DELETE_TIMEOUT);
        let ecs_client = &ctx.aws.ecs;
        let svc = match ecs::find_service(ecs_client, &d.cluster, &d.service).await {
            Ok(s) => s,
            Err(e) if e.is_not_found() => return Value::Null,
            Err(e) => {
                aws_error(
                    diags,
                    None,
                    "Could not read the ECS service",
                    &format!("service {:?} in cluster {:?}", d.service, d.cluster),
                    &e,
                );
                return prior.clone();
            }
        };
        if svc.status != "ACTIVE" {
            return Value::Null;
        }
        // Traffic back to the stable target group before anything is deleted.
        let mut back = d.clone();
        back.canary = None;
        if let Err(e) = shift(ctx, &back, false).await {
            aws_error(
                diags,
                Some(AttrPath::attr("traffic")),
                "Could not move traffic back to the stable task set",
                &format!("deployment {}", d.id()),
                &e,
            );
            return prior.clone();
        }
        let listed = ecs::find_task_sets(ecs_client, &d.cluster, &d.service, &[]).await;
        let subject = format!("deployment {}", d.id());
        let Some((sets, _)) = reported(listed, diags, None, "Could not list task sets", &subject)
        else {
            return prior.clone();
        };
        let stable_id = prior
            .get("stable_task_set_id")
            .as_str()
            .unwrap_or_default()
            .to_string();
        let keep_stable = prior.get("keep_primary_on_destroy").as_bool() == Some(true);
        let owned: Vec<&TaskSet> = sets
            .iter()
            .filter(|t| owned_by(t, &d.id()) && t.status != "DRAINING")
            .collect();
        // Canary and orphans first, the stable (PRIMARY, so force) last.
        let mut order: Vec<&TaskSet> = owned
            .iter()
            .copied()
            .filter(|t| t.id != stable_id)
            .collect();
        if !keep_stable {
            order.extend(
                sets.iter()
                    .filter(|t| t.id == stable_id && t.status != "DRAINING"),
            );
        }
        let mut deleted = Vec::new();
        for t in order {
            let force = t.status == "PRIMARY";
            if let Err(e) =
                ecs::delete_task_set(ecs_client, &d.cluster, &d.service, &t.arn, force).await
            {
                aws_error(
                    diags,
                    None,
                    "Could not delete a task set",
                    &format!("task set {} of deployment {}", t.id, d.id()),
                    &e,
                );
                return prior.clone();
            }
            deleted.push(t.arn.clone());
        }
        for a in &deleted {
            if let Err(e) =
                ecs::wait_gone(ecs_client, &d.cluster, &d.service, a, limit, &ctx.stop).await
            {
                aws_error(
                    diags,
                    None,
                    "Task set still draining",
                    &format!("deployment {}", d.id()),
                    &e,
                );
                return prior.clone();
            }
        }
        if keep_stable {
            diags.warning(
                "Stable task set kept",
                format!("keep_primary_on_destroy is set, so task set {stable_id} of deployment {} keeps running as PRIMARY.", d.id()),
            );
        }
        Value::Null
    }

    async fn import(&self, ctx: &Ctx, id: &str, diags: &mut Diagnostics) -> Value {
        let Some((cluster, service)) = split_import_id(id, diags) else {
            return Value::Null;
        };
        if external_service(ctx, &cluster, &service, diags)
            .await
            .is_none()
        {
            return Value::Null;
        }
        let listed = ecs::find_task_sets(&ctx.aws.ecs, &cluster, &service, &[]).await;
        let subject = format!("service {service:?} in cluster {cluster:?}");
        let Some((sets, _)) = reported(listed, diags, None, "Could not list task sets", &subject)
        else {
            return Value::Null;
        };
        let live: Vec<&TaskSet> = sets.iter().filter(|t| t.status != "DRAINING").collect();
        let Some(stable) = live.iter().find(|t| t.status == "PRIMARY") else {
            diags.error(
                "Nothing to import",
                format!("Service {service:?} in cluster {cluster:?} has no PRIMARY task set."),
            );
            return Value::Null;
        };
        let others: Vec<&&TaskSet> = live.iter().filter(|t| t.id != stable.id).collect();
        if others.len() > 1 {
            diags.error(
                "Too many task sets to import",
                format!(
                    "Service {service:?} in cluster {cluster:?} has task sets {} besides the PRIMARY {}; a deployment holds a stable and at most one canary. Delete the extra task sets first.",
                    others.iter().map(|t| t.id.as_str()).collect::<Vec<_>>().join(", "),
                    stable.id
                ),
            );
            return Value::Null;
        }
        let canary = others.first();
        let primary_tg = stable
            .target_group_arns
            .first()
            .cloned()
            .unwrap_or_default();
        let canary_tg = canary.and_then(|c| c.target_group_arns.first().cloned());
        if canary.is_some()
            && (canary_tg.is_none() || canary_tg.as_deref() == Some(primary_tg.as_str()))
        {
            diags.error(
                "Canary is not on its own target group",
                format!("Task set {} must sit on a target group other than the PRIMARY's to be imported as the canary.", canary.map(|c| c.id.as_str()).unwrap_or_default()),
            );
            return Value::Null;
        }
        let (routers, canary_tg) =
            match elbv2::discover(&ctx.aws.elbv2, &primary_tg, canary_tg.as_deref()).await {
                Ok(r) => r,
                Err(e) => {
                    aws_error(
                        diags,
                        None,
                        "Could not find the listeners and rules",
                        &format!("target group {primary_tg}"),
                        &e,
                    );
                    return Value::Null;
                }
            };
        let (routers, test_routers) =
            split_test_routers(routers, &primary_tg, canary_tg.as_deref(), canary.is_some());
        let arns = |routers: &[Router], kind| {
            Value::string_list(
                routers
                    .iter()
                    .filter(|r| r.kind == kind)
                    .map(|r| r.arn.as_str()),
            )
        };
        let none_if_empty = |v: Value| {
            if v.as_list().is_empty() {
                Value::Null
            } else {
                v
            }
        };
        let state = Value::object([
            ("cluster", Value::from(cluster.as_str())),
            ("service", Value::from(service.as_str())),
            ("wait_for_steady_state", Value::from(true)),
            ("keep_primary_on_destroy", Value::from(false)),
            ("id", Value::from(id)),
            ("stable_task_set_id", Value::from(stable.id.as_str())),
            ("stable_task_set_arn", Value::from(stable.arn.as_str())),
            (
                "canary_task_set_id",
                Value::from(canary.map(|c| c.id.clone())),
            ),
            (
                "canary_task_set_arn",
                Value::from(canary.map(|c| c.arn.clone())),
            ),
            ("rollout_steps", Value::List(vec![])),
            ("orphaned_task_set_ids", Value::List(vec![])),
            ("task_set", Value::List(vec![template_of(stable)])),
            (
                "stable",
                Value::List(vec![Value::object([
                    (
                        "task_definition",
                        Value::from(stable.task_definition.as_str()),
                    ),
                    ("scale_percent", Value::from(stable.scale_percent)),
                ])]),
            ),
            (
                "canary",
                Value::List(
                    canary
                        .map(|c| {
                            Value::object([
                                ("task_definition", Value::from(c.task_definition.as_str())),
                                ("scale_percent", Value::from(c.scale_percent)),
                                ("traffic_percent", Value::from(0i64)),
                            ])
                        })
                        .into_iter()
                        .collect(),
                ),
            ),
            (
                "traffic",
                Value::List(vec![Value::object([
                    ("primary_target_group_arn", Value::from(primary_tg.as_str())),
                    ("canary_target_group_arn", Value::from(canary_tg.clone())),
                    (
                        "listener_arns",
                        none_if_empty(arns(&routers, elbv2::Kind::Listener)),
                    ),
                    (
                        "listener_rule_arns",
                        none_if_empty(arns(&routers, elbv2::Kind::Rule)),
                    ),
                    (
                        "test_listener_arns",
                        none_if_empty(arns(&test_routers, elbv2::Kind::Listener)),
                    ),
                    (
                        "test_listener_rule_arns",
                        none_if_empty(arns(&test_routers, elbv2::Kind::Rule)),
                    ),
                ])]),
            ),
            ("timeouts", Value::List(vec![])),
        ]);
        // Import adopts the task sets: tag them as owned so later applies may manage them.
        for (t, role) in std::iter::once((*stable, "stable")).chain(canary.map(|c| (**c, "canary")))
        {
            if let Err(e) = tag_owned(ctx, &t.arn, id, role).await {
                aws_error(
                    diags,
                    None,
                    "Could not tag the imported task set",
                    &format!("task set {}", t.id),
                    &e,
                );
                return Value::Null;
            }
        }
        let mut state = self.read(ctx, &state, diags).await;
        state.set("rollout_steps", Value::List(vec![]));
        state
    }

    fn identity_schema(&self) -> Option<crate::schema::IdentitySchema> {
        Some(super::adopt::service_identity_schema())
    }

    fn identity(&self, state: &Value, region: &str) -> Value {
        super::adopt::service_identity(state, "stable_task_set_arn", region)
    }

    fn import_id(&self, identity: &Value, region: &str, diags: &mut Diagnostics) -> Option<String> {
        super::adopt::import_id(identity, region, diags)
    }

    fn list_schema(&self) -> Option<Schema> {
        Some(super::adopt::list_schema(
            "Lists the services of a cluster that can become canary deployments: EXTERNAL-controller services with a PRIMARY task set, at most one other task set on its own target group, and no task set owned by another deployment. \
             With `include_resource`, each result carries the state import would build: the task set template from ECS, the target groups, and the listeners and rules that forward to them. \
             Services that cannot be adopted come back as warnings naming the reason. Listing only reads AWS.",
        ))
    }

    async fn list(
        &self,
        ctx: &Ctx,
        config: &Value,
        sink: &mut super::ListSink,
        diags: &mut Diagnostics,
    ) {
        list::list(self, ctx, config, sink, diags).await
    }
}

impl CanaryDeployment {
    /// Carries out the rollout from `prior` to `planned`. On failure, traffic stays on steady
    /// task sets, a canary or stable that failed to stabilise is removed, and the state
    /// returned is what AWS really holds, so the next apply picks up where this one stopped.
    async fn converge(
        &self,
        ctx: &Ctx,
        prior: &Value,
        planned: &Value,
        limit: Duration,
        diags: &mut Diagnostics,
    ) -> Value {
        let d = Desired::from(planned);
        let mut r = Rollout::plan(prior, &d);
        let Some(svc) = external_service(ctx, &d.cluster, &d.service, diags).await else {
            return prior.clone();
        };
        if prior.is_null() {
            match leftovers(ctx, &d).await {
                Ok(ids) => r.delete_orphans = ids,
                Err(e) => {
                    aws_error(
                        diags,
                        None,
                        "Could not list task sets",
                        &format!("deployment {}", d.id()),
                        &e,
                    );
                    return prior.clone();
                }
            }
        }
        if let Err(e) = check_routers(ctx, &d, diags).await {
            aws_error(
                diags,
                Some(AttrPath::attr("traffic")),
                "Could not read listeners and rules",
                &format!("deployment {}", d.id()),
                &e,
            );
            return prior.clone();
        }
        if diags.has_errors() {
            return prior.clone();
        }
        let mut live = Live {
            stable: id_arn(prior, "stable"),
            canary: id_arn(prior, "canary"),
            retired_canary: None,
        };
        let result = self.run(ctx, &d, &r, &svc, limit, &mut live).await;
        match result {
            Ok(()) => {
                let mut state = planned.clone();
                state.set("id", Value::from(d.id()));
                let (pw, cw) = d.weights();
                state.set("primary_weight", Value::from(pw));
                state.set("canary_weight", Value::from(cw));
                if state.get("rollout_steps").is_unknown() {
                    // Planned while parts of the configuration were unknown.
                    state.set("rollout_steps", Value::string_list(&r.steps));
                }
                set_id_arn(&mut state, "stable", live.stable.as_ref());
                set_id_arn(&mut state, "canary", live.canary.as_ref());
                state.set("orphaned_task_set_ids", Value::List(vec![]));
                state
            }
            Err(failure) => {
                aws_error(
                    diags,
                    failure.path.clone(),
                    &failure.summary,
                    &format!("deployment {}", d.id()),
                    &failure.error,
                );
                // What AWS holds now, read back through Read so the next plan sees it.
                let mut partial = planned.clone();
                partial.set("id", Value::from(d.id()));
                set_id_arn(&mut partial, "stable", live.stable.as_ref());
                set_id_arn(&mut partial, "canary", live.canary.as_ref());
                // Not the planned steps: the next plan must show the steps still to take.
                partial.set(
                    "rollout_steps",
                    Value::string_list([format!("stopped: {}", failure.summary)]),
                );
                let mut read_diags = Diagnostics::new();
                let seen = self.read(ctx, &partial, &mut read_diags).await;
                diags.extend(read_diags);
                if seen.is_null() {
                    partial
                } else {
                    seen
                }
            }
        }
    }

    async fn run(
        &self,
        ctx: &Ctx,
        d: &Desired,
        r: &Rollout,
        svc: &ecs::Service,
        limit: Duration,
        live: &mut Live,
    ) -> Result<(), Failure> {
        let ecs_client = &ctx.aws.ecs;
        let wait = |arn: String| async move {
            if d.wait {
                ecs::wait_steady(ecs_client, &d.cluster, &d.service, &arn, limit, &ctx.stop)
                    .await
                    .map(|_| ())
            } else {
                Ok(())
            }
        };
        // 1. The stable version: a new task set on the primary target group, steady, then PRIMARY.
        if r.new_stable {
            let t = create(
                ctx,
                d,
                "stable",
                &d.stable_td,
                d.stable_scale,
                &d.primary_tg,
            )
            .await
            .map_err(|e| Failure::at("stable", "Could not create the stable task set", e))?;
            if let Err(e) = wait(t.arn.clone()).await {
                discard(ctx, d, &t).await;
                return Err(Failure::at("stable", "New stable task set did not reach a steady state; it was removed and traffic stays where it was", e));
            }
            promote(ctx, d, &t).await.map_err(|e| {
                Failure::at(
                    "stable",
                    "Could not make the new stable task set PRIMARY",
                    e,
                )
            })?;
            live.stable = Some((t.id.clone(), t.arn.clone()));
        } else if let Some((_, arn)) = live.stable.clone() {
            if let Some(s) = r.stable_scale {
                ecs::update_scale(ecs_client, &d.cluster, &d.service, &arn, s)
                    .await
                    .map_err(|e| Failure::at("stable", "Could not scale the stable task set", e))?;
                wait(arn.clone()).await.map_err(|e| {
                    Failure::at(
                        "stable",
                        "Stable task set did not reach a steady state after scaling",
                        e,
                    )
                })?;
            }
            if svc.primary().is_none_or(|p| p.arn != arn) {
                let t = TaskSet {
                    arn: arn.clone(),
                    ..Default::default()
                };
                promote(ctx, d, &t).await.map_err(|e| {
                    Failure::at(
                        "stable",
                        "Could not make the stable task set PRIMARY again",
                        e,
                    )
                })?;
            }
        }
        // 2. The canary: a new task set on the canary target group, steady before any traffic.
        if let Some(c) = &d.canary {
            if r.new_canary {
                let t = create(ctx, d, "canary", &c.task_definition, c.scale, &d.canary_tg)
                    .await
                    .map_err(|e| {
                        Failure::at("canary", "Could not create the canary task set", e)
                    })?;
                if let Err(e) = wait(t.arn.clone()).await {
                    discard(ctx, d, &t).await;
                    return Err(Failure::at("canary", "Canary task set did not reach a steady state; it was removed and no traffic moved to it", e));
                }
                if let Some(old) = live.canary.replace((t.id.clone(), t.arn.clone())) {
                    // The old canary still holds the canary target group's traffic until step 4.
                    live.retired_canary = Some(old);
                }
            } else if let (Some(s), Some((_, arn))) = (r.canary_scale, live.canary.clone()) {
                ecs::update_scale(ecs_client, &d.cluster, &d.service, &arn, s)
                    .await
                    .map_err(|e| Failure::at("canary", "Could not scale the canary task set", e))?;
                wait(arn).await.map_err(|e| {
                    Failure::at(
                        "canary",
                        "Canary task set did not reach a steady state after scaling",
                        e,
                    )
                })?;
            }
        }
        // 3. Traffic, now that every task set that will take some is steady.
        shift(ctx, d, d.canary.is_some())
            .await
            .map_err(|e| Failure::at("traffic", "Could not shift traffic", e))?;
        // 4. Clean-up: the task sets nothing routes to any more.
        let mut doomed: Vec<String> = Vec::new();
        if d.canary.is_none() {
            if let Some((_, arn)) = live.canary.take() {
                doomed.push(arn);
            }
        }
        if let Some((_, arn)) = live.retired_canary.take() {
            doomed.push(arn);
        }
        if let Some(old) = &r.delete_stable {
            doomed.push(old.clone());
        }
        doomed.extend(r.delete_orphans.iter().cloned());
        for t in doomed {
            ecs::delete_task_set(ecs_client, &d.cluster, &d.service, &t, false)
                .await
                .map_err(|e| Failure::at("stable", "Could not delete an old task set", e))?;
        }
        Ok(())
    }
}

/// Task sets as an apply goes: (id, arn) of each role.
struct Live {
    stable: Option<(String, String)>,
    canary: Option<(String, String)>,
    retired_canary: Option<(String, String)>,
}

struct Failure {
    path: Option<AttrPath>,
    summary: String,
    error: AwsError,
}

impl Failure {
    fn at(attr: &str, summary: &str, error: AwsError) -> Failure {
        Failure {
            path: Some(AttrPath::attr(attr)),
            summary: summary.to_string(),
            error,
        }
    }
}

fn id_arn(v: &Value, role: &str) -> Option<(String, String)> {
    let id = v.get(&format!("{role}_task_set_id")).as_str()?;
    let arn = v.get(&format!("{role}_task_set_arn")).as_str()?;
    Some((id.to_string(), arn.to_string()))
}

fn set_id_arn(v: &mut Value, role: &str, t: Option<&(String, String)>) {
    v.set(
        &format!("{role}_task_set_id"),
        Value::from(t.map(|x| x.0.clone())),
    );
    v.set(
        &format!("{role}_task_set_arn"),
        Value::from(t.map(|x| x.1.clone())),
    );
}

fn mark_unknown(planned: &mut Value) {
    if planned.is_null() {
        return;
    }
    for k in [
        "stable_task_set_id",
        "stable_task_set_arn",
        "canary_task_set_id",
        "canary_task_set_arn",
        "primary_weight",
        "canary_weight",
        "rollout_steps",
        "orphaned_task_set_ids",
    ] {
        planned.set(k, Value::Unknown);
    }
}

/// Import has no configuration, so it tells test listeners and rules (100% to the canary
/// while one runs) from the production ones by their routing. With the canary at 100%, they
/// look alike: all stay production routers and the configuration decides. Without a canary, a
/// router that sends everything to the canary target group (a test listener a script left
/// there) is left out: managing it, as either kind, would move its traffic at the first apply.
fn split_test_routers(
    routers: Vec<Router>,
    primary_tg: &str,
    canary_tg: Option<&str>,
    canary_exists: bool,
) -> (Vec<Router>, Vec<Router>) {
    let Some(canary_tg) = canary_tg else {
        return (routers, vec![]);
    };
    let all_to_canary = |r: &Router| r.weight_of(primary_tg) == 0 && r.weight_of(canary_tg) > 0;
    if routers.iter().all(all_to_canary) {
        return (routers, vec![]);
    }
    if !canary_exists {
        return (
            routers.into_iter().filter(|r| !all_to_canary(r)).collect(),
            vec![],
        );
    }
    let (test, managed): (Vec<Router>, Vec<Router>) = routers.into_iter().partition(all_to_canary);
    (managed, test)
}

/// The `task_set` template block as ECS reports an existing task set.
fn template_of(t: &TaskSet) -> Value {
    let user_tags: Vec<(String, Value)> = t
        .tags
        .iter()
        .filter(|(k, _)| !k.starts_with("ecsx:"))
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    let network = if t.subnets.is_empty() {
        vec![]
    } else {
        vec![Value::object([
            ("subnets", Value::string_list(&t.subnets)),
            (
                "security_groups",
                if t.security_groups.is_empty() {
                    Value::Null
                } else {
                    Value::string_list(&t.security_groups)
                },
            ),
            ("assign_public_ip", Value::from(t.assign_public_ip)),
        ])]
    };
    Value::object([
        ("launch_type", Value::from(t.launch_type.clone())),
        ("platform_version", Value::from(t.platform_version.clone())),
        ("container_name", Value::from(t.container_name.clone())),
        (
            "container_port",
            t.container_port
                .map(|p| Value::from(p as i64))
                .unwrap_or(Value::Null),
        ),
        (
            "tags",
            if user_tags.is_empty() {
                Value::Null
            } else {
                Value::Map(user_tags.into_iter().collect())
            },
        ),
        (
            "capacity_provider_strategy",
            Value::List(
                t.capacity_providers
                    .iter()
                    .map(|c| {
                        Value::object([
                            ("capacity_provider", Value::from(c.name.as_str())),
                            ("weight", Value::from(c.weight as i64)),
                            ("base", Value::from(c.base as i64)),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("network_configuration", Value::List(network)),
    ])
}

/// Task sets a create finds already tagged for its deployment: an earlier create died (Terraform
/// or the provider killed) after CreateTaskSet and before anything reached the state. No Read
/// runs before a create, so they would never show as orphans; the create deletes them instead.
async fn leftovers(ctx: &Ctx, d: &Desired) -> Result<Vec<String>, AwsError> {
    let (sets, _) = ecs::find_task_sets(&ctx.aws.ecs, &d.cluster, &d.service, &[]).await?;
    Ok(unrecorded(&sets, &d.id()))
}

/// The live task sets owned by `deployment`.
fn unrecorded(sets: &[TaskSet], deployment: &str) -> Vec<String> {
    sets.iter()
        .filter(|t| owned_by(t, deployment) && t.status != "DRAINING")
        .map(|t| t.id.clone())
        .collect()
}

pub fn owned_by(t: &TaskSet, deployment: &str) -> bool {
    t.tags.get(TAG_DEPLOYMENT).map(String::as_str) == Some(deployment)
}

/// The `task_set` template as CreateTaskSet receives it, ECS's defaults spelled out.
#[derive(Debug, Clone, PartialEq, Default)]
struct Template {
    launch_type: Option<String>,
    capacity_providers: Vec<ecs::CapacityProvider>,
    platform_version: Option<String>,
    subnets: Vec<String>,
    security_groups: Vec<String>,
    assign_public_ip: bool,
    container_name: String,
    container_port: i32,
    tags: BTreeMap<String, String>,
}

impl Template {
    /// Reads the `task_set` block list of a configuration or state value.
    fn from(task_set: &Value) -> Template {
        let ts = task_set.as_list().first().cloned().unwrap_or_default();
        let net = ts.block("network_configuration");
        Template {
            launch_type: ts.get("launch_type").as_str().map(str::to_string),
            // ECS defaults a capacity provider's weight and base to 0.
            capacity_providers: ts
                .get("capacity_provider_strategy")
                .as_list()
                .iter()
                .map(|c| ecs::CapacityProvider {
                    name: c
                        .get("capacity_provider")
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    weight: c.get("weight").as_i64().unwrap_or(0) as i32,
                    base: c.get("base").as_i64().unwrap_or(0) as i32,
                })
                .collect(),
            platform_version: ts.get("platform_version").as_str().map(str::to_string),
            subnets: net.get("subnets").strings(),
            security_groups: net.get("security_groups").strings(),
            assign_public_ip: net.get("assign_public_ip").as_bool().unwrap_or(false),
            container_name: ts
                .get("container_name")
                .as_str()
                .unwrap_or_default()
                .to_string(),
            container_port: ts.get("container_port").as_i64().unwrap_or(0) as i32,
            tags: ts.get("tags").string_map(),
        }
    }

    /// Whether both templates make the same task sets. An unset platform version is
    /// `LATEST`, which is also what ECS reports for a task set created without one.
    fn creates_same_as(&self, other: &Template) -> bool {
        let platform = |t: &Template| {
            t.platform_version
                .clone()
                .filter(|v| !v.eq_ignore_ascii_case("LATEST"))
        };
        platform(self) == platform(other)
            && Template {
                platform_version: None,
                ..self.clone()
            } == Template {
                platform_version: None,
                ..other.clone()
            }
    }
}

async fn create(
    ctx: &Ctx,
    d: &Desired,
    role: &str,
    task_definition: &str,
    scale: f64,
    tg: &str,
) -> Result<TaskSet, AwsError> {
    let t = Template::from(&d.template);
    let mut tags = t.tags;
    tags.insert(TAG_DEPLOYMENT.into(), d.id());
    tags.insert(TAG_ROLE.into(), role.into());
    let token = uuid::Uuid::new_v4().to_string();
    let spec = TaskSetSpec {
        cluster: d.cluster.clone(),
        service: d.service.clone(),
        task_definition: task_definition.to_string(),
        external_id: format!("ecsx-{role}-{}", &token[..8]),
        launch_type: t.launch_type,
        capacity_providers: t.capacity_providers,
        platform_version: t.platform_version,
        subnets: t.subnets,
        security_groups: t.security_groups,
        assign_public_ip: t.assign_public_ip,
        target_group_arn: tg.to_string(),
        container_name: t.container_name,
        container_port: t.container_port,
        scale_percent: scale,
        tags,
        client_token: token,
    };
    crate::log::info(
        "creating task set",
        &[
            ("deployment", d.id().into()),
            ("role", role.into()),
            ("task_definition", task_definition.into()),
        ],
    );
    ecs::create_task_set(&ctx.aws.ecs, &spec).await
}

/// Makes `t` PRIMARY and checks ECS agrees.
async fn promote(ctx: &Ctx, d: &Desired, t: &TaskSet) -> Result<(), AwsError> {
    let after = ecs::set_primary(&ctx.aws.ecs, &d.cluster, &d.service, &t.arn).await?;
    if after.status == "PRIMARY" {
        return Ok(());
    }
    let svc = ecs::find_service(&ctx.aws.ecs, &d.cluster, &d.service).await?;
    match svc.primary() {
        Some(p) if p.arn == t.arn => Ok(()),
        other => Err(AwsError::Unexpected(format!(
            "ECS accepted UpdateServicePrimaryTaskSet for {}, but the service reports {} as PRIMARY",
            t.arn,
            other.map(|p| p.id.as_str()).unwrap_or("no task set")
        ))),
    }
}

/// Removes a task set that failed to stabilise; best effort, the error at hand matters more.
async fn discard(ctx: &Ctx, d: &Desired, t: &TaskSet) {
    if let Err(e) = ecs::delete_task_set(&ctx.aws.ecs, &d.cluster, &d.service, &t.arn, true).await {
        crate::log::warn(
            "could not remove a task set that failed to stabilise",
            &[
                ("task_set", t.id.clone().into()),
                ("error", e.to_string().into()),
            ],
        );
    }
}

async fn tag_owned(ctx: &Ctx, arn: &str, deployment: &str, role: &str) -> Result<(), AwsError> {
    use aws_sdk_ecs::types::Tag;
    ctx.aws
        .ecs
        .tag_resource()
        .resource_arn(arn)
        .tags(Tag::builder().key(TAG_DEPLOYMENT).value(deployment).build())
        .tags(Tag::builder().key(TAG_ROLE).value(role).build())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| AwsError::from_sdk("TagResource", e, &[], "task set", arn))
}

/// One DescribeListeners and one DescribeRules call for every managed and test router.
async fn find_routers(ctx: &Ctx, d: &Desired) -> Result<(Vec<Router>, Vec<Router>), AwsError> {
    let pick = |kind| -> Vec<String> {
        d.routers
            .iter()
            .chain(&d.test_routers)
            .filter(|(k, _)| *k == kind)
            .map(|(_, a)| a.clone())
            .collect()
    };
    let listeners = elbv2::find_listeners(&ctx.aws.elbv2, &pick(elbv2::Kind::Listener)).await?;
    let rules = elbv2::find_rules(&ctx.aws.elbv2, &pick(elbv2::Kind::Rule)).await?;
    let all: Vec<Router> = listeners.into_iter().chain(rules).collect();
    let is_test = |r: &Router| d.test_routers.iter().any(|(_, a)| *a == r.arn);
    let (test, managed): (Vec<Router>, Vec<Router>) = all.into_iter().partition(is_test);
    Ok((managed, test))
}

/// Where a listener or rule ARN sits in the configuration, e.g. `traffic[0].listener_rule_arns[1]`.
fn router_path(d: &Desired, arn: &str) -> AttrPath {
    let traffic = AttrPath::attr("traffic").index(0);
    let lists = [
        (&d.routers, elbv2::Kind::Listener, "listener_arns"),
        (&d.routers, elbv2::Kind::Rule, "listener_rule_arns"),
        (&d.test_routers, elbv2::Kind::Listener, "test_listener_arns"),
        (
            &d.test_routers,
            elbv2::Kind::Rule,
            "test_listener_rule_arns",
        ),
    ];
    for (routers, kind, name) in lists {
        let mut of_kind = routers.iter().filter(|(k, _)| *k == kind);
        if let Some(i) = of_kind.position(|(_, a)| a == arn) {
            return traffic.then(name).index(i);
        }
    }
    traffic
}

/// Safety rule: a managed router must forward only to the deployment's two target groups.
async fn check_routers(ctx: &Ctx, d: &Desired, diags: &mut Diagnostics) -> Result<(), AwsError> {
    let (managed, test) = match find_routers(ctx, d).await {
        Ok(found) => found,
        Err(e) if e.is_not_found() => return report_missing_routers(ctx, d, e, diags).await,
        Err(e) => return Err(e),
    };
    for r in managed.iter().chain(&test) {
        match r.weights() {
            None => diags.error_at(
                router_path(d, &r.arn),
                "Managed listener or rule does not forward",
                format!(
                    "The {} {} has no forward action; ecsx only rewrites forward actions.",
                    r.kind.noun(),
                    r.arn
                ),
            ),
            Some(w) => {
                for (tg, _) in w
                    .iter()
                    .filter(|(tg, _)| *tg != d.primary_tg && *tg != d.canary_tg)
                {
                    diags.error_at(
                        router_path(d, &r.arn),
                        "Managed listener or rule forwards to another target group",
                        format!(
                            "The {} {} forwards to target group {tg}, which is neither the primary nor the canary target group of deployment {}. ecsx will not take traffic from a target group it does not manage.",
                            r.kind.noun(), r.arn, d.id()
                        ),
                    );
                }
            }
        }
    }
    Ok(())
}

/// ELBv2 refuses a whole Describe call for one unknown ARN without naming it: asks for each
/// listener and rule alone, and reports every missing one at its place in the configuration.
async fn report_missing_routers(
    ctx: &Ctx,
    d: &Desired,
    batch_error: AwsError,
    diags: &mut Diagnostics,
) -> Result<(), AwsError> {
    let mut missing = 0;
    for (kind, arn) in d.routers.iter().chain(&d.test_routers) {
        let one = std::slice::from_ref(arn);
        let found = match kind {
            elbv2::Kind::Listener => elbv2::find_listeners(&ctx.aws.elbv2, one).await,
            elbv2::Kind::Rule => elbv2::find_rules(&ctx.aws.elbv2, one).await,
        };
        match found {
            Err(e) if e.is_not_found() => {
                missing += 1;
                let (summary, code) = match kind {
                    elbv2::Kind::Listener => ("Listener not found", "ListenerNotFound"),
                    elbv2::Kind::Rule => ("Listener rule not found", "RuleNotFound"),
                };
                diags.error_at(
                    router_path(d, arn),
                    summary,
                    format!(
                        "The {} {arn} does not exist in the provider's region ({}) ({code}). Check the ARN, or create it before the deployment.",
                        kind.noun(),
                        ctx.aws.region
                    ),
                );
            }
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    if missing == 0 {
        return Err(batch_error);
    }
    Ok(())
}

/// Sets the weights on every managed router, and the test routing; skips routers already right.
async fn shift(ctx: &Ctx, d: &Desired, canary_exists: bool) -> Result<(), AwsError> {
    let (managed, test) = find_routers(ctx, d).await?;
    // Checked again right before writing: someone may have edited a rule since the plan.
    for r in managed.iter().chain(&test) {
        if let Some(tg) = r
            .weights()
            .unwrap_or_default()
            .into_iter()
            .map(|(tg, _)| tg)
            .find(|tg| *tg != d.primary_tg && *tg != d.canary_tg)
        {
            return Err(AwsError::Unexpected(format!(
                "the {} {} forwards to target group {tg}, which this deployment does not manage; ecsx leaves it untouched",
                r.kind.noun(),
                r.arn
            )));
        }
    }
    let split = d.split();
    let test_split = d.test_split(canary_exists);
    let mut wrote = false;
    for r in &managed {
        if !r.forwards_exactly(&split) {
            elbv2::set_split(&ctx.aws.elbv2, r, &split).await?;
            wrote = true;
        }
    }
    for r in &test {
        if !r.forwards_exactly(&test_split) {
            elbv2::set_split(&ctx.aws.elbv2, r, &test_split).await?;
            wrote = true;
        }
    }
    if wrote {
        wait_routed(ctx, d, &split, &test_split).await?;
    }
    Ok(())
}

/// How long ELBv2 may keep showing the previous weights after a change.
const ROUTING_VISIBLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// ELBv2 may describe a rule's old actions for a moment after ModifyRule. Waits until every
/// router reads back what was just written, so the state and the clean-up that follows (deleting
/// the task sets traffic left) rest on what AWS reports, not on what was sent.
async fn wait_routed(
    ctx: &Ctx,
    d: &Desired,
    split: &[(String, i32)],
    test_split: &[(String, i32)],
) -> Result<(), AwsError> {
    wait::until(
        "listeners and rules to show the new weights",
        ROUTING_VISIBLE_TIMEOUT,
        ecs::poll_interval(),
        &ctx.stop,
        || async {
            let (managed, test) = find_routers(ctx, d).await?;
            let behind = lagging(&managed, &test, split, test_split);
            Ok(if behind.is_empty() {
                Poll::Done(())
            } else {
                Poll::Pending(format!("{} still show other weights", behind.join(", ")))
            })
        },
    )
    .await
}

/// The routers that do not (yet) forward as intended.
fn lagging(
    managed: &[Router],
    test: &[Router],
    split: &[(String, i32)],
    test_split: &[(String, i32)],
) -> Vec<String> {
    managed
        .iter()
        .filter(|r| !r.forwards_exactly(split))
        .chain(test.iter().filter(|r| !r.forwards_exactly(test_split)))
        .map(|r| r.arn.clone())
        .collect()
}

/// The service must exist and be EXTERNAL-controlled. Safety rule: ECS allows five task sets
/// per service; a plan that creates more fails at plan time, naming those in the way.
async fn check_service(ctx: &Ctx, d: &Desired, r: &Rollout, diags: &mut Diagnostics) {
    let Some(svc) = external_service_at_plan(ctx, &d.cluster, &d.service, diags).await else {
        return;
    };
    let existing = svc.task_sets.len();
    let at_peak = existing + r.creates();
    if at_peak > MAX_TASK_SETS {
        let names: Vec<String> = svc
            .task_sets
            .iter()
            .map(|t| {
                format!(
                    "{} ({}, {})",
                    t.id,
                    t.status,
                    arn::task_definition_label(&t.task_definition)
                )
            })
            .collect();
        diags.error_at(
            AttrPath::attr("service"),
            "Too many task sets on the service",
            format!(
                "This plan creates {} task set(s) while service {:?} already has {existing}: {}. ECS allows at most {MAX_TASK_SETS} task sets (DRAINING ones included) on a service. \
                 Wait for draining task sets to go, or delete task sets ecsx does not own, then plan again.",
                r.creates(),
                d.service,
                names.join(", ")
            ),
        );
    }
}

/// Turns what AWS holds into state: task sets by id, real scales and weights, orphans, drift notes.
fn observe(
    state: &Value,
    d: &Desired,
    svc: &ecs::Service,
    sets: &[TaskSet],
    managed: &[Router],
    test: &[Router],
) -> Value {
    let mut next = state.clone();
    let id = d.id();
    next.set("id", Value::from(id.as_str()));
    let find = |role: &str| {
        state
            .get(&format!("{role}_task_set_id"))
            .as_str()
            .and_then(|want| sets.iter().find(|t| t.id == want && t.status != "DRAINING"))
    };
    let stable = find("stable");
    let canary = find("canary");
    let mut drift = Vec::new();

    match stable {
        Some(t) => {
            let mut block = state.block("stable").clone();
            block.set("task_definition", Value::from(t.task_definition.as_str()));
            block.set("scale_percent", Value::from(t.scale_percent));
            next.set("stable", Value::List(vec![block]));
            if svc.primary().is_none_or(|p| p.id != t.id) {
                drift.push(format!(
                    "{DRIFT}task set {} is PRIMARY instead of stable task set {}",
                    svc.primary().map(|p| p.id.as_str()).unwrap_or("none"),
                    t.id
                ));
            }
        }
        None => set_id_arn(&mut next, "stable", None),
    }
    let canary_weight = managed.first().map(|r| r.weight_of(&d.canary_tg) as i64);
    match canary {
        Some(t) => {
            let mut block = state.block("canary").clone();
            if block.is_null() {
                block = Value::object([("traffic_percent", Value::from(0i64))]);
            }
            block.set("task_definition", Value::from(t.task_definition.as_str()));
            block.set("scale_percent", Value::from(t.scale_percent));
            if let Some(w) = canary_weight {
                block.set("traffic_percent", Value::from(w));
            }
            next.set("canary", Value::List(vec![block]));
        }
        None => {
            next.set("canary", Value::List(vec![]));
            set_id_arn(&mut next, "canary", None);
        }
    }

    // Weights: report the first managed router that differs from the state, so any hand edit shows.
    let expected = (
        state.get("primary_weight").as_i64(),
        state.get("canary_weight").as_i64(),
    );
    let seen: Vec<(i64, i64)> = managed
        .iter()
        .map(|r| {
            (
                r.weight_of(&d.primary_tg) as i64,
                r.weight_of(&d.canary_tg) as i64,
            )
        })
        .collect();
    let (pw, cw) = seen
        .iter()
        .copied()
        .find(|w| (Some(w.0), Some(w.1)) != expected)
        .or(seen.first().copied())
        .unwrap_or((100, 0));
    next.set("primary_weight", Value::from(pw));
    next.set("canary_weight", Value::from(cw));
    // A shift cut short (a crash between two ModifyRule calls) leaves routers disagreeing;
    // one weight pair cannot show that, so say it, and the next plan shifts them all again.
    if seen.iter().any(|w| *w != seen[0]) {
        let splits: Vec<String> = managed
            .iter()
            .zip(&seen)
            .map(|(r, (p, c))| format!("{} {} {p}/{c}", r.kind.noun(), r.arn))
            .collect();
        drift.push(format!(
            "{DRIFT}traffic is split differently across listeners and rules: {}",
            splits.join(", ")
        ));
    }
    for r in managed {
        if r.weights()
            .unwrap_or_default()
            .iter()
            .any(|(tg, _)| *tg != d.primary_tg && *tg != d.canary_tg)
        {
            drift.push(format!(
                "{DRIFT}{} {} forwards to a target group outside this deployment",
                r.kind.noun(),
                r.arn
            ));
        }
    }
    let test_split = d.test_split(canary.is_some());
    for r in test {
        if !r.forwards_exactly(&test_split) {
            drift.push(format!(
                "{DRIFT}test {} {} does not route as expected",
                r.kind.noun(),
                r.arn
            ));
        }
    }
    let known: Vec<&str> = [stable, canary]
        .iter()
        .flatten()
        .map(|t| t.id.as_str())
        .collect();
    let orphans: Vec<String> = sets
        .iter()
        .filter(|t| owned_by(t, &id) && t.status != "DRAINING" && !known.contains(&t.id.as_str()))
        .map(|t| t.id.clone())
        .collect();
    next.set("orphaned_task_set_ids", Value::string_list(&orphans));
    if !drift.is_empty() {
        next.set("rollout_steps", Value::string_list(&drift));
    }
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    const TD: &str = "arn:aws:ecs:us-east-1:1:task-definition/web:";
    const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/1";
    const GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/green/2";
    const RULE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/lb/1/2/3";

    fn config(stable: u32, canary: Option<(u32, i64)>) -> Value {
        Value::object([
            ("cluster", Value::from("prod")),
            ("service", Value::from("web")),
            ("wait_for_steady_state", Value::from(true)),
            ("keep_primary_on_destroy", Value::from(false)),
            (
                "task_set",
                Value::List(vec![Value::object([
                    ("container_name", Value::from("web")),
                    ("container_port", Value::from(8080i64)),
                ])]),
            ),
            (
                "stable",
                Value::List(vec![Value::object([
                    ("task_definition", Value::from(format!("{TD}{stable}"))),
                    ("scale_percent", Value::from(100i64)),
                ])]),
            ),
            (
                "canary",
                Value::List(
                    canary
                        .map(|(td, p)| {
                            Value::object([
                                ("task_definition", Value::from(format!("{TD}{td}"))),
                                ("traffic_percent", Value::from(p)),
                                ("scale_percent", Value::from(100i64)),
                            ])
                        })
                        .into_iter()
                        .collect(),
                ),
            ),
            (
                "traffic",
                Value::List(vec![Value::object([
                    ("primary_target_group_arn", Value::from(BLUE)),
                    ("canary_target_group_arn", Value::from(GREEN)),
                    ("listener_rule_arns", Value::string_list([RULE])),
                ])]),
            ),
        ])
    }

    /// The state an apply of `cfg` leaves.
    fn applied(cfg: &Value, canary_id: Option<&str>) -> Value {
        let mut s = cfg.clone();
        let d = Desired::from(cfg);
        let (p, c) = d.weights();
        s.set("stable_task_set_id", Value::from("ecs-svc/1"));
        s.set("stable_task_set_arn", Value::from("arn:1"));
        s.set("canary_task_set_id", Value::from(canary_id));
        s.set(
            "canary_task_set_arn",
            Value::from(canary_id.map(|_| "arn:2")),
        );
        s.set("primary_weight", Value::from(p));
        s.set("canary_weight", Value::from(c));
        s.set("rollout_steps", Value::List(vec![]));
        s.set("orphaned_task_set_ids", Value::List(vec![]));
        s
    }

    fn steps(prior: &Value, cfg: &Value) -> Vec<String> {
        Rollout::plan(prior, &Desired::from(cfg)).steps
    }

    #[test]
    fn bootstrap_creates_stable_then_routes() {
        assert_eq!(
            steps(&Value::Null, &config(12, None)),
            [
                "create stable task set web:12 (scale 100%) on tg blue",
                "make stable task set web:12 PRIMARY",
                "shift traffic 100/0 on 1 rule"
            ]
        );
    }

    #[test]
    fn idle_plan_has_no_steps() {
        let cfg = config(12, Some((13, 10)));
        assert!(steps(&applied(&cfg, Some("ecs-svc/2")), &cfg).is_empty());
    }

    #[test]
    fn canary_in_creates_before_shifting() {
        let prior = applied(&config(12, None), None);
        assert_eq!(
            steps(&prior, &config(12, Some((13, 10)))),
            [
                "create canary task set web:13 (scale 100%) on tg green",
                "shift traffic 90/10 on 1 rule"
            ]
        );
    }

    #[test]
    fn traffic_change_only_shifts() {
        let prior = applied(&config(12, Some((13, 10))), Some("ecs-svc/2"));
        assert_eq!(
            steps(&prior, &config(12, Some((13, 50)))),
            ["shift traffic 50/50 on 1 rule"]
        );
    }

    #[test]
    fn promote_rolls_a_new_stable_and_cleans_up() {
        let prior = applied(&config(12, Some((13, 50))), Some("ecs-svc/2"));
        assert_eq!(
            steps(&prior, &config(13, None)),
            [
                "create stable task set web:13 (scale 100%) on tg blue",
                "make stable task set web:13 PRIMARY",
                "shift traffic 100/0 on 1 rule",
                "delete canary task set web:13 (ecs-svc/2)",
                "delete old stable task set web:12 (ecs-svc/1)"
            ]
        );
    }

    #[test]
    fn rollback_shifts_before_deleting() {
        let prior = applied(&config(12, Some((13, 50))), Some("ecs-svc/2"));
        assert_eq!(
            steps(&prior, &config(12, None)),
            [
                "shift traffic 100/0 on 1 rule",
                "delete canary task set web:13 (ecs-svc/2)"
            ]
        );
    }

    #[test]
    fn new_canary_version_replaces_the_old() {
        let prior = applied(&config(12, Some((13, 10))), Some("ecs-svc/2"));
        let r = Rollout::plan(&prior, &Desired::from(&config(12, Some((14, 10)))));
        assert!(r.new_canary);
        assert_eq!(r.delete_canary.as_deref(), Some("ecs-svc/2"));
        assert!(!r.shift);
    }

    #[test]
    fn drift_and_orphans_become_steps() {
        let cfg = config(12, None);
        let mut prior = applied(&cfg, None);
        prior.set(
            "rollout_steps",
            Value::string_list([format!(
                "{DRIFT}task set ecs-svc/9 is PRIMARY instead of stable task set ecs-svc/1"
            )]),
        );
        prior.set("orphaned_task_set_ids", Value::string_list(["ecs-svc/7"]));
        prior.set("primary_weight", Value::from(70i64));
        prior.set("canary_weight", Value::from(30i64));
        assert_eq!(
            steps(&prior, &cfg),
            [
                "make stable task set web:12 PRIMARY again",
                "shift traffic 100/0 on 1 rule",
                "delete orphaned task set ecs-svc/7"
            ]
        );
    }

    #[test]
    fn template_from_ecs_defaults_rolls_nothing_but_a_real_change_does() {
        let cfg = config(12, Some((13, 10)));
        let mut prior = applied(&cfg, Some("ecs-svc/2"));
        // What import reads back from ECS for a task set created without a platform version.
        let mut ts = prior.block("task_set").clone();
        ts.set("platform_version", Value::from("LATEST"));
        ts.set(
            "capacity_provider_strategy",
            Value::List(vec![Value::object([
                ("capacity_provider", Value::from("FARGATE")),
                ("weight", Value::from(0i64)),
                ("base", Value::from(0i64)),
            ])]),
        );
        prior.set("task_set", Value::List(vec![ts]));
        let mut same = cfg.clone();
        let mut ts = same.block("task_set").clone();
        ts.set(
            "capacity_provider_strategy",
            Value::List(vec![Value::object([(
                "capacity_provider",
                Value::from("FARGATE"),
            )])]),
        );
        same.set("task_set", Value::List(vec![ts.clone()]));
        assert!(steps(&prior, &same).is_empty());

        ts.set("tags", Value::object([("team", Value::from("x"))]));
        let mut tagged = same.clone();
        tagged.set("task_set", Value::List(vec![ts]));
        let r = Rollout::plan(&prior, &Desired::from(&tagged));
        assert!(r.new_stable && r.new_canary, "{r:?}");
    }

    fn router(arn: &str, blue: i32, green: i32) -> Router {
        use aws_sdk_elasticloadbalancingv2::types::{
            Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple,
        };
        let tuple = |tg: &str, w: i32| {
            TargetGroupTuple::builder()
                .target_group_arn(tg)
                .weight(w)
                .build()
        };
        Router {
            kind: elbv2::Kind::Listener,
            arn: arn.into(),
            actions: vec![Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .forward_config(
                    ForwardActionConfig::builder()
                        .target_groups(tuple(BLUE, blue))
                        .target_groups(tuple(GREEN, green))
                        .build(),
                )
                .build()],
        }
    }

    #[test]
    fn import_tells_test_routers_by_their_routing() {
        let arns = |v: &[Router]| v.iter().map(|r| r.arn.clone()).collect::<Vec<_>>();
        let routers = vec![router("prod", 75, 25), router("test", 0, 100)];
        let (managed, test) = split_test_routers(routers.clone(), BLUE, Some(GREEN), true);
        assert_eq!(
            (arns(&managed), arns(&test)),
            (vec!["prod".into()], vec!["test".into()])
        );
        // Without a canary, a router with all traffic on the canary target group is left out.
        let (managed, test) = split_test_routers(routers, BLUE, Some(GREEN), false);
        assert_eq!(arns(&managed), vec!["prod".to_string()]);
        assert!(test.is_empty());
        let full = vec![router("prod", 0, 100), router("test", 0, 100)];
        let (managed, test) = split_test_routers(full, BLUE, Some(GREEN), true);
        assert_eq!(managed.len(), 2);
        assert!(test.is_empty());
    }

    #[test]
    fn validate_waits_for_unknown_values() {
        // launch_type = var.x ? "FARGATE" : null next to a capacity provider, and a traffic
        // block from a dynamic block over a collection known only at apply.
        let mut cfg = config(12, Some((13, 10)));
        let mut ts = cfg.block("task_set").clone();
        ts.set("launch_type", Value::Unknown);
        ts.set(
            "capacity_provider_strategy",
            Value::List(vec![Value::object([(
                "capacity_provider",
                Value::from("FARGATE_SPOT"),
            )])]),
        );
        cfg.set("task_set", Value::List(vec![ts]));
        cfg.set("traffic", Value::Unknown);
        let mut d = Diagnostics::new();
        CanaryDeployment
            .schema()
            .block
            .validate(&cfg, &AttrPath::root(), &mut d);
        CanaryDeployment.validate(&cfg, &mut d);
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn router_paths_point_at_the_list_entry() {
        let mut cfg = config(12, None);
        let mut traffic = cfg.block("traffic").clone();
        let other = RULE.replace("/3", "/4");
        traffic.set(
            "listener_rule_arns",
            Value::string_list([RULE, other.as_str()]),
        );
        traffic.set("test_listener_arns", Value::string_list(["arn:l"]));
        cfg.set("traffic", Value::List(vec![traffic]));
        let d = Desired::from(&cfg);
        assert_eq!(
            router_path(&d, &other).to_string(),
            "traffic[0].listener_rule_arns[1]"
        );
        assert_eq!(
            router_path(&d, "arn:l").to_string(),
            "traffic[0].test_listener_arns[0]"
        );
        assert_eq!(router_path(&d, "arn:none").to_string(), "traffic[0]");
    }

    #[test]
    fn validate_catches_cross_field_mistakes() {
        let mut cfg = config(12, Some((12, 10)));
        let mut traffic = cfg.block("traffic").clone();
        traffic.set("canary_target_group_arn", Value::from(BLUE));
        traffic.set("listener_rule_arns", Value::List(vec![]));
        cfg.set("traffic", Value::List(vec![traffic]));
        let mut ts = cfg.block("task_set").clone();
        ts.set("launch_type", Value::from("FARGATE"));
        ts.set(
            "capacity_provider_strategy",
            Value::List(vec![Value::object([(
                "capacity_provider",
                Value::from("FARGATE_SPOT"),
            )])]),
        );
        cfg.set("task_set", Value::List(vec![ts]));
        let mut d = Diagnostics::new();
        CanaryDeployment.validate(&cfg, &mut d);
        let paths: Vec<String> = d
            .iter()
            .map(|x| x.path.clone().unwrap().to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "task_set[0].launch_type",
                "traffic[0].canary_target_group_arn",
                "traffic[0].listener_rule_arns",
                "canary[0].task_definition"
            ]
        );
    }

    #[test]
    fn lagging_names_routers_that_still_show_other_weights() {
        let split = vec![(BLUE.to_string(), 90), (GREEN.to_string(), 10)];
        let test_split = vec![(BLUE.to_string(), 0), (GREEN.to_string(), 100)];
        let managed = [router("prod", 90, 10), router("api", 100, 0)];
        let test = [router("test", 0, 100)];
        assert_eq!(lagging(&managed, &test, &split, &test_split), ["api"]);
        let test = [router("test", 100, 0)];
        assert_eq!(lagging(&managed[..1], &test, &split, &test_split), ["test"]);
        assert!(lagging(&managed[..1], &[], &split, &test_split).is_empty());
    }

    #[test]
    fn a_shift_cut_short_is_drift_that_shifts_again() {
        // Killed between two ModifyRule calls on the way from 10 % to 50 %: the listener
        // reads 50/50, the rule still 90/10, and the configuration already asks for 50 %.
        let state = applied(&config(12, Some((13, 10))), Some("ecs-svc/2"));
        let d = Desired::from(&state);
        let task_set = |id: &str, status: &str| TaskSet {
            id: id.into(),
            status: status.into(),
            stability_status: "STEADY_STATE".into(),
            ..TaskSet::default()
        };
        let sets = vec![
            task_set("ecs-svc/1", "PRIMARY"),
            task_set("ecs-svc/2", "ACTIVE"),
        ];
        let svc = ecs::Service {
            arn: "svc".into(),
            name: "web".into(),
            cluster_arn: "prod".into(),
            status: "ACTIVE".into(),
            controller: "EXTERNAL".into(),
            desired_count: 2,
            task_sets: sets.clone(),
        };
        let managed = [router("prod", 50, 50), router("api", 90, 10)];
        let seen = observe(&state, &d, &svc, &sets, &managed, &[]);
        let drift = seen.get("rollout_steps").strings();
        assert_eq!(drift.len(), 1, "{drift:?}");
        assert!(
            drift[0].contains("split differently") && drift[0].contains("api 90/10"),
            "{drift:?}"
        );
        let r = Rollout::plan(&seen, &Desired::from(&config(12, Some((13, 50)))));
        assert!(r.shift, "the next apply must set every router again: {r:?}");

        // Routers that agree are no drift.
        let agreeing = [router("prod", 90, 10), router("api", 90, 10)];
        let seen = observe(&state, &d, &svc, &sets, &agreeing, &[]);
        assert!(seen.get("rollout_steps").strings().is_empty());
    }

    #[test]
    fn a_create_finds_the_task_sets_an_earlier_crash_left() {
        let owned = |id: &str, deployment: &str, status: &str| TaskSet {
            id: id.into(),
            status: status.into(),
            tags: [(TAG_DEPLOYMENT.to_string(), deployment.to_string())].into(),
            ..TaskSet::default()
        };
        let sets = vec![
            owned("ecs-svc/1", "prod/web", "PRIMARY"),
            owned("ecs-svc/2", "prod/web", "DRAINING"),
            owned("ecs-svc/3", "prod/other", "ACTIVE"),
            TaskSet {
                id: "ecs-svc/4".into(),
                status: "ACTIVE".into(),
                ..TaskSet::default()
            },
        ];
        assert_eq!(unrecorded(&sets, "prod/web"), ["ecs-svc/1"]);
    }
}
