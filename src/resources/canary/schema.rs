//! Schema and cross-field validation of `ecsx_canary_deployment`.

use super::model::Promotion;
use crate::diag::{AttrPath, Diagnostics};
use crate::schema::{Attribute, Block, NestedBlock, Schema, Type, Validator};
use crate::value::Value;
use std::time::Duration;

/// The default of `timeouts.create` and `timeouts.update`.
pub(crate) const APPLY_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// The default of `timeouts.delete`.
pub(crate) const DELETE_TIMEOUT: Duration = Duration::from_secs(20 * 60);

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
        .block(NestedBlock::single(
            "service_registries",
            Block::new("AWS Cloud Map service discovery for the task sets' tasks. With the EXTERNAL deployment controller, registries belong to each task set, so a service that uses Cloud Map needs this block to keep its tasks registered.")
                .attr(Attribute::required("registry_arn", Type::String, "ARN of the Cloud Map service.").check(Validator::Arn("servicediscovery", "service/")))
                .attr(Attribute::optional("port", Type::Number, "Port for SRV records when the task definition uses awsvpc networking.").check(Validator::IntRange(1, 65535)))
                .attr(Attribute::optional("container_name", Type::String, "Container to register in SRV records (bridge or host networking).").check(Validator::NotBlank))
                .attr(Attribute::optional("container_port", Type::Number, "Port of that container for SRV records.").check(Validator::IntRange(1, 65535))),
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

pub(crate) fn schema() -> Schema {
    let stable = Block::new("The version serving production traffic: its task set is PRIMARY and sits on the live target group.")
        .attr(Attribute::required("task_definition", Type::String, "Task definition ARN of the stable version.").check(Validator::Arn("ecs", "task-definition/")))
        .attr(percent("scale_percent", 100, "Share of the service's desired count the stable task set runs, in percent."));
    let canary = Block::new("Present while a canary runs, on the idle target group. Remove it to roll back; set `stable.task_definition` to the canary's and remove it to promote.")
        .attr(Attribute::required("task_definition", Type::String, "Task definition ARN of the canary version; must differ from the stable one.").check(Validator::Arn("ecs", "task-definition/")))
        .attr(percent("traffic_percent", 0, "Share of traffic sent to the canary target group, in percent."))
        .attr(percent("scale_percent", 100, "Share of the service's desired count the canary task set runs, in percent."))
        .attr(Attribute::defaulted("approved_step", Type::Number, Value::from(0i64), "Approves the gated steps (`step.approval`) up to this step number, counting from 1: set it to the step a held release waits for to continue.").check(Validator::IntRange(0, 1000)))
        .attr(Attribute::defaulted("promote", Type::Bool, Value::from(false), "After the last step (or `traffic_percent` without steps), promote the canary in the same apply, as `promotion` says: it becomes the stable task set and the old one is deleted. `last_release` records it; until `stable.task_definition` is changed, the promoted version stands in for it."))
        .attr(Attribute::defaulted("attempt", Type::Number, Value::from(1i64), "Raise it to start this canary version again after an automatic rollback (`last_release`); a rolled-back version is otherwise not started again.").check(Validator::IntRange(1, 1_000_000)))
        .block(NestedBlock::many(
            "step",
            Block::new("A traffic step of a scheduled release, in order; weights must rise from step to step. One apply walks every step after the current weight: it sets the weight, then bakes for `pause` while the `analysis` alarms are watched. Without steps, `traffic_percent` is the one step.")
                .attr(Attribute::required("traffic_percent", Type::Number, "Share of traffic sent to the canary at this step, in percent.").check(Validator::IntRange(1, 100)))
                .attr(Attribute::optional("pause", Type::String, "How long to bake at this step, watching the alarms, before the next one, e.g. `5m`; `0s` (or unset) reads the alarms once and goes on.").check(Validator::Duration(0, crate::schema::TIMEOUT_MAX_SECS)))
                .attr(Attribute::defaulted("approval", Type::Bool, Value::from(false), "A manual gate: the apply stops before this step's weight, successfully, with the release held at the step before, until `canary.approved_step` reaches this step's number.")),
        ));
    let [window, delay, on_inconclusive, inconclusive_limit, judge_test_traffic] =
        super::judge::schema::attributes();
    let analysis = Block::new("What rolls the release back: CloudWatch alarms, the built-in judge (`compare`: the canary's target group against the baseline's), metric queries of your own, or any mix. From the first canary traffic of an apply until it ends, an alarm in ALARM or a FAIL verdict moves all traffic back to the stable task set, deletes the canary and fails the apply, naming the alarm or the metric; `last_release` records it.")
        .attr(Attribute::optional("alarm_names", Type::list_of(Type::String), "Names of metric or composite alarms; each must exist (checked at plan).").check(Validator::Unique))
        .attr(Attribute::defaulted("check_interval", Type::String, Value::from("30s"), "How often the alarms are read (and the judge checks) during a bake. At least `1s`, so a bake never reads CloudWatch in a busy loop; at most `1h`, so an alarm is never left unread for longer.").check(Validator::Duration(1, 3600)))
        .attr(window)
        .attr(delay)
        .attr(on_inconclusive)
        .attr(inconclusive_limit)
        .attr(judge_test_traffic)
        .block(super::judge::schema::compare_block())
        .block(super::judge::schema::metric_query_block());
    let traffic = Block::new("Where traffic is split. ecsx rewrites only the forward action of these listeners and rules.")
        .attr(Attribute::required("primary_target_group_arn", Type::String, "Target group of the first stable task set. With `promotion = \"swap\"` the two target groups trade roles at each promotion (`live_target_group_arn` says which one serves now); with `\"replace\"` the stable task set returns here.").check(Validator::Arn("elasticloadbalancing", "targetgroup/")))
        .attr(Attribute::required("canary_target_group_arn", Type::String, "The other target group: the first canary's, then whichever one is idle.").check(Validator::Arn("elasticloadbalancing", "targetgroup/")))
        .attr(arn_list("listener_arns", "listener/", "Listeners whose default action is split between the two target groups."))
        .attr(arn_list("listener_rule_arns", "listener-rule/", "Listener rules whose forward action is split between the two target groups."))
        .attr(arn_list("test_listener_arns", "listener/", "Test listeners: 100% to the canary's target group while a canary exists (and to a new stable version before production traffic), else 100% to the live one."))
        .attr(arn_list("test_listener_rule_arns", "listener-rule/", "Test listener rules, routed like `test_listener_arns`."));
    let arrival = Block::new("Moves a running service onto ecsx in place, when this deployment is created: the apply switches the service from the ECS (or CODE_DEPLOY) deployment controller to EXTERNAL (UpdateService) and takes over the task set that then holds its running tasks as the stable one (tagged, made PRIMARY), moving no traffic; then it goes on as for any service. The plan shows the switch, and each reason ECS would refuse it (a deployment in progress, but for a new service's first, which the apply waits for; Service Connect, VPC Lattice, deployment alarms, the circuit breaker or a strategy other than ROLLING on an ECS-controller service; anything but one PRIMARY task set on a CODE_DEPLOY one) is a plan error. On a service already on EXTERNAL whose only task set nobody owns, that task set is taken over; otherwise nothing happens. Ignored after the create. hashicorp/aws treats `deployment_controller` as ForceNew, so its `aws_ecs_service` needs `lifecycle { ignore_changes = [deployment_controller, ...] }` (guide: Adopting existing services, section Arrival).")
        .attr(Attribute::required("from_controller", Type::String, "The deployment controller the service uses now: `ECS` or `CODE_DEPLOY`. A service found on another one is a plan error, so the switch never comes as a surprise.").check(Validator::OneOf(&["ECS", "CODE_DEPLOY"])));
    Schema {
        version: 2,
        block: Block::new(
            "A canary release of one ECS service that uses the EXTERNAL deployment controller: task sets, ALB weights, \
             promotion, rollback and clean-up, declared in HCL. `rollout_steps` previews at plan time what an apply will do.",
        )
        .attr(Attribute::required("cluster", Type::String, "The ECS cluster.").replace().check(Validator::NameOrArn("ecs", "cluster/")))
        .attr(Attribute::required("service", Type::String, "The ECS service; it must use the EXTERNAL deployment controller, or be switched to it by `arrival`.").replace().check(Validator::NameOrArn("ecs", "service/")))
        .attr(Attribute::defaulted("wait_for_steady_state", Type::Bool, Value::from(true), "Wait for each new or rescaled task set to reach `STEADY_STATE` before traffic moves to it."))
        .attr(Attribute::defaulted("promotion", Type::String, Value::from("swap"), "How a new stable version takes over. `swap`: it comes up on the idle target group (a promoted canary is already there and is scaled to the stable's size), gets all traffic once steady, becomes PRIMARY, and the target groups trade roles. `replace`: the stable task set always returns to `traffic.primary_target_group_arn`; the new version serves alone from the canary target group while it is replaced, which needs up to three task sets' capacity at the peak.").check(Validator::OneOf(&Promotion::NAMES)))
        .attr(Attribute::defaulted("keep_primary_on_destroy", Type::Bool, Value::from(false), "On destroy, leave the stable task set running (and PRIMARY) instead of deleting every task set the deployment owns."))
        .attr(Attribute::computed("id", Type::String, "`CLUSTER/SERVICE`.").stable())
        .attr(Attribute::computed("stable_task_set_id", Type::String, "ID of the stable (PRIMARY) task set."))
        .attr(Attribute::computed("stable_task_set_arn", Type::String, "ARN of the stable task set."))
        .attr(Attribute::computed("canary_task_set_id", Type::String, "ID of the canary task set; null without a canary."))
        .attr(Attribute::computed("canary_task_set_arn", Type::String, "ARN of the canary task set; null without a canary."))
        .attr(Attribute::computed("live_target_group_arn", Type::String, "The target group the stable task set sits on; known at plan time. With `promotion = \"swap\"` it alternates between the two target groups at each promotion."))
        .attr(Attribute::computed("primary_weight", Type::Number, "Weight of the live target group (the stable task set's) on the managed listeners and rules; known at plan time."))
        .attr(Attribute::computed("canary_weight", Type::Number, "Weight of the other target group (the canary's); known at plan time."))
        .attr(Attribute::computed("rollout_steps", Type::list_of(Type::String), "At plan time, the steps this apply will take, in words; after the apply, the steps it took (for `terraform show`). The next plan or refresh starts from an empty list (the provider drops it when Terraform reads the stored state back), so a plan never shows the last apply's steps as removed lines, and a refresh-only plan reports no change. Empty when nothing changes."))
        .attr(Attribute::computed("ecs_filled_in", Type::list_of(Type::String), "After an import: the `task_set` fields whose values ECS may have filled in (`security_groups`: the VPC default security group; `capacity_provider_strategy` or `launch_type`: the cluster's default; `platform_version`: the version `LATEST` resolved to). A configuration that leaves such a field unset matches the running task sets, so adopting rolls nothing; one that sets it is compared exactly. Empty after the first apply."))
        .attr(Attribute::computed(
            "schedule",
            Type::list_of(Type::Object(vec![("traffic_percent", Type::Number), ("pause", Type::String), ("alarms", Type::list_of(Type::String)), ("judge", Type::String)])),
            "At plan time, the traffic steps this apply walks, in order: the canary's weight, how long it bakes there, the alarms watched meanwhile and what the built-in judge checks (`judge`: which target group against which, on which load balancers, by which rules; null without a judge); empty when the weights do not change. Dropped from the stored state as `rollout_steps` is. For `plan -json` consumers; `rollout_steps` shows the same in words.",
        ))
        .attr(Attribute::computed(
            "last_release",
            super::release::Release::attribute_type(),
            "The last scheduled release of a canary version (`task_definition` at `attempt`), as of `at`. `result` is `completed`; `held` (waiting at the gate of step `step`); `inconclusive` (the built-in judge found no verdict within `analysis.inconclusive_limit` with `on_inconclusive = \"hold\"`: traffic stays at the judged step and the release waits, as at a gate, for approval of step `step`, the next one; `reason` gives the judge's figures); `promoted` (with `canary.promote`: the canary became the stable task set; `stable_task_definition` is `stable.task_definition` as configured then, and while it stays so the promoted version is the stable one); `rolled_back` (by an alarm or `ecsx_canary_abort`; `reason` says which, the step and the weight); `interrupted` (stopped during the bake of step `step`, or before it once its weight was set, with `remaining` of its pause still to go, which the next apply bakes first); or `failed` (the apply stopped on an error, `reason`; the next apply starts the release again from where traffic is). `approved_step` is the highest gate an `ecsx_canary_continue` action approved. A rolled-back version is not started again until `canary.task_definition` changes or `canary.attempt` is raised.",
        ).stable())
        .attr(Attribute::computed(
            super::release::StandIn::ATTRIBUTE,
            super::release::StandIn::attribute_type(),
            "After `canary.promote` made a canary version the stable one: that version (`task_definition`), and `stable.task_definition` as configured then (`in_place_of`). While the configuration still names `in_place_of`, the promoted version runs in its place: nothing is replaced, and every plan warns that the configuration names the old version. Kept through later releases, aborts and approvals; null once `stable.task_definition` names another version.",
        ).stable())
        .attr(Attribute::computed("orphaned_task_set_ids", Type::list_of(Type::String), "Task sets tagged as owned by this deployment but missing from its state (e.g. after a crash); the next apply deletes them."))
        .attr(Attribute::computed(
            "drift",
            Type::list_of(Type::Object(vec![("kind", Type::String), ("subject", Type::String), ("observed", Type::String)])),
            "What the last refresh found changed outside Terraform that no other attribute shows, one entry per object. `kind` is `primary_moved` (`subject`: the stable task set; `observed`: the task set that is PRIMARY instead, empty for none), `split_disagrees` (`subject`: a managed listener or rule; `observed`: its `primary/canary` weights), `foreign_target_group` or `test_route_off` (`subject`: the listener or rule), `not_owned` (`subject`: an imported task set not yet tagged as the deployment's; `observed`: its role), `controller` (`subject`: the service, imported for an `arrival` while still on another deployment controller; `observed`: that controller; the apply switches it and takes its running tasks over). The next apply repairs each; empty after it.",
        ))
        .block(NestedBlock::required("task_set", task_set_block()))
        .block(NestedBlock::required("stable", stable))
        .block(NestedBlock::single("canary", canary))
        .block(NestedBlock::required("traffic", traffic))
        .block(NestedBlock::single("analysis", analysis))
        .block(NestedBlock::single("arrival", arrival))
        .block(Block::timeouts(&["create", "update", "delete"])),
    }
}

/// Version 2 keeps the version a promotion made stable in `promoted_stable`; in version 1
/// only a `promoted` `last_release` said so, and the next record lost it. A version-1 state
/// whose record is a promotion gets its stand-in, so the upgrade plans nothing.
///
/// Version 0 had fixed target group roles: the stable task set always sat on the primary
/// target group. Version 1 records the live one and the promotion mode; a version-0 state
/// gets the default mode (a steady deployment looks the same in both) and its live target
/// group, so the upgrade changes nothing in AWS and plans nothing.
pub(crate) fn upgrade(version: i64, mut state: Value) -> Value {
    if version < 1 {
        if state.get("promotion").is_null() {
            state.set("promotion", Value::from("swap"));
        }
        let primary = state
            .block("traffic")
            .get("primary_target_group_arn")
            .clone();
        if state.get("live_target_group_arn").is_null()
            && !state.get("stable_task_set_id").is_null()
        {
            state.set("live_target_group_arn", primary);
        }
    }
    if version < 2 {
        super::release::upgrade_stand_in(&mut state);
    }
    // What the last apply did is read by `terraform show` right after it; by the next plan it
    // is history, so that plan lists only its own steps, never the last apply's as removed
    // lines. Dropped here rather than in Read, where a `plan -refresh-only` would report it
    // as a change made outside Terraform.
    for k in ["rollout_steps", "schedule"] {
        state.set(k, Value::List(vec![]));
    }
    state
}

/// Rules across attributes, beyond the per-attribute validators.
pub(crate) fn validate(config: &Value, diags: &mut Diagnostics) {
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
    let canary = config.block("canary");
    let steps = canary.get("step").as_list();
    let mut last = 0;
    for (i, step) in steps.iter().enumerate() {
        let Some(t) = step.get("traffic_percent").as_i64() else {
            continue;
        };
        if t <= last {
            diags.error_at(
                AttrPath::attr("canary").index(0).then("step").index(i).then("traffic_percent"),
                "Steps must raise the traffic",
                format!("canary.step[{i}].traffic_percent is {t}, not more than the step before ({last}). List the steps in the order they run, each sending more traffic to the canary."),
            );
        }
        last = t;
    }
    if !steps.is_empty()
        && canary
            .get("traffic_percent")
            .as_i64()
            .is_some_and(|t| t != 0)
    {
        diags.error_at(
            AttrPath::attr("canary").index(0).then("traffic_percent"),
            "Conflicting arguments",
            "Set either canary.traffic_percent or canary.step blocks, not both: with steps, the last step's traffic_percent is where the release ends.",
        );
    }
    let analysis = config.block("analysis");
    super::judge::schema::validate(analysis, diags);
    let alarms = analysis.get("alarm_names");
    let judged = !analysis.block("compare").is_null()
        || match analysis.get("metric_query") {
            Value::List(l) => !l.is_empty(),
            Value::Null => false,
            _ => true,
        };
    // Only a block known at validate time: a dynamic one may still be unknown here.
    if matches!(analysis, Value::Map(_)) && alarms.is_null() && !judged {
        diags.error_at(
            AttrPath::attr("analysis").index(0),
            "Nothing to judge the release by",
            "The analysis block names no alarm_names, no compare block and no metric_query, so the release would bake watching nothing. Add one of them, or remove the analysis block.",
        );
    }
    if analysis.get("judge_test_traffic").as_str().is_some() {
        let tests_known = ["test_listener_arns", "test_listener_rule_arns"]
            .iter()
            .all(|k| traffic.get(k).is_wholly_known());
        let no_tests = ["test_listener_arns", "test_listener_rule_arns"]
            .iter()
            .all(|k| traffic.get(k).as_list().is_empty());
        let path = AttrPath::attr("analysis")
            .index(0)
            .then("judge_test_traffic");
        if matches!(analysis, Value::Map(_)) && !judged {
            diags.error_at(
                path.clone(),
                "No judge for the test traffic",
                "analysis.judge_test_traffic judges a new canary's test traffic with the built-in judge, but the analysis block has no compare block and no metric_query. Add one, or remove judge_test_traffic.",
            );
        }
        if traffic.as_map().is_some() && tests_known && no_tests {
            diags.error_at(
                path,
                "No test traffic to judge",
                "analysis.judge_test_traffic judges the canary on test listeners before production traffic moves, but traffic names no test_listener_arns or test_listener_rule_arns. Add the test listener or rule, or remove judge_test_traffic.",
            );
        }
    }
    if alarms.is_wholly_known() && matches!(alarms, Value::List(l) if l.is_empty()) {
        diags.error_at(
            AttrPath::attr("analysis").index(0).then("alarm_names"),
            "No alarms to watch",
            "analysis.alarm_names is empty, so the release would bake watching nothing. Name at least one alarm, or remove the analysis block.",
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

#[cfg(test)]
mod tests {
    use super::super::rollout::tests::config;
    use super::*;

    const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/1";
    const TEST_LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/lb/1/9";

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
        schema().block.validate(&cfg, &AttrPath::root(), &mut d);
        validate(&cfg, &mut d);
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn durations_out_of_bounds_are_errors_at_their_path() {
        let mut cfg = config(12, Some((13, 10)));
        let mut canary = cfg.block("canary").clone();
        let step = |pause: &str| {
            Value::object([
                ("traffic_percent", Value::from(10i64)),
                ("pause", Value::from(pause)),
                ("approval", Value::from(false)),
            ])
        };
        canary.set("traffic_percent", Value::from(0i64));
        canary.set(
            "step",
            Value::List(vec![step("99999999999999999999s"), step("9999h")]),
        );
        cfg.set("canary", Value::List(vec![canary]));
        cfg.set(
            "analysis",
            Value::List(vec![Value::object([
                ("alarm_names", Value::List(vec![])),
                ("check_interval", Value::from("0s")),
            ])]),
        );
        let mut d = Diagnostics::new();
        schema().block.validate(&cfg, &AttrPath::root(), &mut d);
        validate(&cfg, &mut d);
        let found: Vec<(String, String)> = d
            .iter()
            .map(|x| (x.path.clone().unwrap().to_string(), x.summary.clone()))
            .collect();
        for want in [
            ("canary[0].step[0].pause", "Invalid duration"),
            ("canary[0].step[1].pause", "Value out of range"),
            ("analysis[0].check_interval", "Value out of range"),
            ("analysis[0].alarm_names", "No alarms to watch"),
        ] {
            assert!(
                found.iter().any(|(p, s)| (p.as_str(), s.as_str()) == want),
                "{want:?} missing from {found:?}"
            );
        }
    }

    #[test]
    fn an_analysis_block_needs_something_to_judge_by_and_a_judge_that_works() {
        let with = |analysis: Value| {
            let mut cfg = config(12, Some((13, 10)));
            cfg.set("analysis", Value::List(vec![analysis]));
            let mut d = Diagnostics::new();
            validate(&cfg, &mut d);
            d.iter()
                .map(|x| (x.path.clone().unwrap().to_string(), x.summary.clone()))
                .collect::<Vec<_>>()
        };
        let nothing = Value::object([("check_interval", Value::from("30s"))]);
        assert_eq!(
            with(nothing),
            [(
                "analysis[0]".to_string(),
                "Nothing to judge the release by".to_string()
            )]
        );
        let compare = |window: &str| {
            Value::object([
                ("compare", Value::List(vec![Value::object::<&str>([])])),
                ("window", Value::from(window)),
            ])
        };
        assert_eq!(with(compare("5m")), []);
        // a dynamic block known only at apply waits for it
        assert_eq!(with(Value::Unknown), []);
        assert_eq!(
            with(compare("150s")),
            [(
                "analysis[0].window".to_string(),
                "Invalid window".to_string()
            )]
        );
        // judging test traffic needs a judge and test listeners to judge on
        let mut on_tests = compare("5m");
        on_tests.set("judge_test_traffic", Value::from("10m"));
        assert_eq!(
            with(on_tests.clone()),
            [(
                "analysis[0].judge_test_traffic".to_string(),
                "No test traffic to judge".to_string()
            )]
        );
        let mut alarms_only = Value::object([("alarm_names", Value::string_list(["web-5xx"]))]);
        alarms_only.set("judge_test_traffic", Value::from("10m"));
        assert_eq!(
            with(alarms_only)[0],
            (
                "analysis[0].judge_test_traffic".to_string(),
                "No judge for the test traffic".to_string()
            )
        );
        let mut cfg = config(12, Some((13, 10)));
        let mut traffic = cfg.block("traffic").clone();
        traffic.set("test_listener_arns", Value::string_list([TEST_LISTENER]));
        cfg.set("traffic", Value::List(vec![traffic]));
        cfg.set("analysis", Value::List(vec![on_tests]));
        let mut d = Diagnostics::new();
        validate(&cfg, &mut d);
        assert!(
            d.iter().next().is_none(),
            "{:?}",
            d.iter().collect::<Vec<_>>()
        );
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
        validate(&cfg, &mut d);
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
}
