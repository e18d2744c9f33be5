//! AWS SDK clients against the emulator: out-of-band ECS and ELBv2 changes, reads for
//! assertions, and the check that AWS holds what a canary deployment's state says.

use super::{CanaryConfig, Emulator, Infra, CONTAINER_NAME, CONTAINER_PORT, REGION};
use serde_json::Value as Json;

/// AWS SDK clients pointed at the emulator, for out-of-band changes and assertions.
#[derive(Clone)]
pub struct Aws {
    pub ecs: aws_sdk_ecs::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

/// A task set as the tests need it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSetRef {
    pub id: String,
    pub arn: String,
    pub task_definition: String,
}

/// Everything an `ecsx_canary_deployment` manages, as AWS holds it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// Task sets that are not DRAINING: (id, status, stability, target group, task definition).
    pub live: Vec<(String, String, String, String, String)>,
    /// (router ARN, weight of the primary target group, weight of the canary target group).
    pub splits: Vec<(String, i32, i32)>,
}

/// A forward action splitting between target groups with the given weights.
pub fn forward_action(
    split: &[(&str, i32)],
    stickiness_seconds: Option<i32>,
) -> aws_sdk_elasticloadbalancingv2::types::Action {
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, ForwardActionConfig, TargetGroupStickinessConfig, TargetGroupTuple,
    };
    let mut cfg = ForwardActionConfig::builder();
    for (tg, w) in split {
        cfg = cfg.target_groups(
            TargetGroupTuple::builder()
                .target_group_arn(*tg)
                .weight(*w)
                .build(),
        );
    }
    if let Some(d) = stickiness_seconds {
        cfg = cfg.target_group_stickiness_config(
            TargetGroupStickinessConfig::builder()
                .enabled(true)
                .duration_seconds(d)
                .build(),
        );
    }
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(cfg.build())
        .build()
}

impl Aws {
    /// Clients for the emulator.
    pub async fn connect(emu: &Emulator) -> Self {
        Self::connect_to(&emu.endpoint()).await
    }

    /// Clients for `endpoint` (the emulator, or a proxy in front of it), for a thread that
    /// runs its own async runtime (SDK connections belong to the runtime that opened them).
    pub async fn connect_to(endpoint: &str) -> Self {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                "test", "test", None, None, "ecsx-rig",
            ))
            .load()
            .await;
        Aws {
            ecs: aws_sdk_ecs::Client::new(&conf),
            elbv2: aws_sdk_elasticloadbalancingv2::Client::new(&conf),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&conf),
        }
    }

    /// A metric alarm named `name` on a made-up metric, in state OK.
    pub async fn put_alarm(&self, name: &str) {
        use aws_sdk_cloudwatch::types::{ComparisonOperator, Statistic};
        self.cloudwatch
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("ecsx/rig")
            .metric_name("5xx")
            .statistic(Statistic::Sum)
            .period(60)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
            .send()
            .await
            .expect("PutMetricAlarm");
        self.set_alarm(name, "OK", "created by the rig").await;
    }

    /// SetAlarmState: `state` is OK, ALARM or INSUFFICIENT_DATA.
    pub async fn set_alarm(&self, name: &str, state: &str, reason: &str) {
        self.cloudwatch
            .set_alarm_state()
            .alarm_name(name)
            .state_value(aws_sdk_cloudwatch::types::StateValue::from(state))
            .state_reason(reason)
            .send()
            .await
            .expect("SetAlarmState");
    }

    /// DeleteAlarms of one alarm.
    pub async fn delete_alarm(&self, name: &str) {
        self.cloudwatch
            .delete_alarms()
            .alarm_names(name)
            .send()
            .await
            .expect("DeleteAlarms");
    }

    /// The tags of an ECS service, via DescribeServices with TAGS.
    pub async fn service_tags(&self, cluster: &str, service: &str) -> Vec<(String, String)> {
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send()
            .await
            .expect("DescribeServices");
        out.services()
            .first()
            .map(|s| pairs(s.tags()))
            .unwrap_or_default()
    }

    /// CreateTaskSet on `service`: Fargate, awsvpc in the infra's subnets and security
    /// group, registered with the blue target group at 100 %.
    pub async fn create_task_set(
        &self,
        infra: &Infra,
        service: &str,
        task_definition: &str,
    ) -> TaskSetRef {
        self.create_fargate_task_set(
            infra,
            service,
            task_definition,
            &infra.blue_target_group_arn,
            &[],
        )
        .await
    }

    /// CreateTaskSet on the infra's first service, on target group `tg`, with `tags`
    /// (e.g. the ecsx ownership tags, to fake a task set a crashed apply left behind).
    pub async fn create_task_set_on(
        &self,
        infra: &Infra,
        task_definition: &str,
        tg: &str,
        tags: &[(&str, &str)],
    ) -> TaskSetRef {
        self.create_fargate_task_set(infra, infra.service(), task_definition, tg, tags)
            .await
    }

    /// CreateTaskSet: Fargate, awsvpc in the infra's subnets and security group, 100 % scale,
    /// registered with `tg`.
    pub async fn create_fargate_task_set(
        &self,
        infra: &Infra,
        service: &str,
        task_definition: &str,
        tg: &str,
        tags: &[(&str, &str)],
    ) -> TaskSetRef {
        self.create_task_set_spelled(infra, service, task_definition, tg, tags, true)
            .await
    }

    /// CreateTaskSet on the infra's first service as a hand-written call often makes it: the
    /// subnets, the target group and the scale only, so ECS fills in the security group,
    /// the placement (the cluster's default strategy) and the platform version.
    pub async fn create_task_set_with_ecs_defaults(
        &self,
        infra: &Infra,
        task_definition: &str,
        tg: &str,
    ) -> TaskSetRef {
        self.create_task_set_spelled(infra, infra.service(), task_definition, tg, &[], false)
            .await
    }

    /// PutClusterCapacityProviders: FARGATE and FARGATE_SPOT, with `strategy` (provider,
    /// weight) as the cluster's default capacity provider strategy.
    pub async fn set_default_capacity_provider_strategy(
        &self,
        cluster: &str,
        strategy: &[(&str, i32)],
    ) {
        use aws_sdk_ecs::types::CapacityProviderStrategyItem;
        let items = strategy
            .iter()
            .map(|(name, weight)| {
                CapacityProviderStrategyItem::builder()
                    .capacity_provider(*name)
                    .weight(*weight)
                    .build()
                    .expect("capacity provider strategy item")
            })
            .collect();
        self.ecs
            .put_cluster_capacity_providers()
            .cluster(cluster)
            .capacity_providers("FARGATE")
            .capacity_providers("FARGATE_SPOT")
            .set_default_capacity_provider_strategy(Some(items))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutClusterCapacityProviders {cluster}: {e:?}"));
    }

    /// CreateTaskSet registered with `tg` at 100 % scale in the infra's subnets; with
    /// `spelled_out`, also on FARGATE in the infra's security group.
    async fn create_task_set_spelled(
        &self,
        infra: &Infra,
        service: &str,
        task_definition: &str,
        tg: &str,
        tags: &[(&str, &str)],
        spelled_out: bool,
    ) -> TaskSetRef {
        use aws_sdk_ecs::types::{
            AwsVpcConfiguration, LaunchType, LoadBalancer, NetworkConfiguration, Scale, ScaleUnit,
            Tag,
        };
        let mut vpc = AwsVpcConfiguration::builder().set_subnets(Some(infra.subnets.clone()));
        if spelled_out {
            vpc = vpc.security_groups(&infra.security_group);
        }
        let vpc = vpc.build().expect("awsvpc configuration");
        let mut req = self
            .ecs
            .create_task_set()
            .cluster(&infra.cluster)
            .service(service)
            .task_definition(task_definition)
            .set_launch_type(spelled_out.then_some(LaunchType::Fargate))
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(vpc)
                    .build(),
            )
            .load_balancers(
                LoadBalancer::builder()
                    .target_group_arn(tg)
                    .container_name(CONTAINER_NAME)
                    .container_port(CONTAINER_PORT)
                    .build(),
            )
            .scale(
                Scale::builder()
                    .value(100.0)
                    .unit(ScaleUnit::Percent)
                    .build(),
            );
        for (k, v) in tags {
            req = req.tags(Tag::builder().key(*k).value(*v).build());
        }
        let out = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateTaskSet {task_definition} on {service}: {e:?}"));
        let t = out.task_set().expect("CreateTaskSet returned a task set");
        TaskSetRef {
            id: t.id().unwrap_or_default().to_string(),
            arn: t.task_set_arn().unwrap_or_default().to_string(),
            task_definition: t.task_definition().unwrap_or_default().to_string(),
        }
    }

    /// The service as DescribeServices shows it, if ECS knows it.
    pub async fn service(
        &self,
        cluster: &str,
        service: &str,
    ) -> Option<aws_sdk_ecs::types::Service> {
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeServices {cluster}/{service}: {e:?}"));
        out.services().first().cloned()
    }

    /// All task sets of a service, as DescribeServices lists them.
    pub async fn task_sets(
        &self,
        cluster: &str,
        service: &str,
    ) -> Vec<aws_sdk_ecs::types::TaskSet> {
        self.service(cluster, service)
            .await
            .map(|s| s.task_sets().to_vec())
            .unwrap_or_default()
    }

    /// One task set with its current status, via DescribeTaskSets.
    pub async fn task_set(
        &self,
        cluster: &str,
        service: &str,
        task_set: &str,
    ) -> Option<aws_sdk_ecs::types::TaskSet> {
        self.describe_task_set(cluster, service, task_set, None)
            .await
    }

    /// DescribeTaskSets of one task set, with the optional `include` fields.
    async fn describe_task_set(
        &self,
        cluster: &str,
        service: &str,
        task_set: &str,
        include: Option<aws_sdk_ecs::types::TaskSetField>,
    ) -> Option<aws_sdk_ecs::types::TaskSet> {
        let out = self
            .ecs
            .describe_task_sets()
            .cluster(cluster)
            .service(service)
            .task_sets(task_set)
            .set_include(include.map(|f| vec![f]))
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeTaskSets {task_set}: {e:?}"));
        out.task_sets().first().cloned()
    }

    /// The ARN of the service's PRIMARY task set, if any.
    pub async fn primary_arn(&self, cluster: &str, service: &str) -> Option<String> {
        self.task_sets(cluster, service)
            .await
            .iter()
            .find(|t| t.status() == Some("PRIMARY"))
            .and_then(|t| t.task_set_arn().map(str::to_string))
    }

    /// UpdateServicePrimaryTaskSet, out of band.
    pub async fn set_primary(&self, cluster: &str, service: &str, task_set: &str) {
        self.ecs
            .update_service_primary_task_set()
            .cluster(cluster)
            .service(service)
            .primary_task_set(task_set)
            .send()
            .await
            .unwrap_or_else(|e| panic!("UpdateServicePrimaryTaskSet {task_set}: {e:?}"));
    }

    /// DeleteTaskSet, out of band; the emulator keeps it DRAINING for `drain_seconds`.
    pub async fn delete_task_set(&self, cluster: &str, service: &str, task_set: &str) {
        self.ecs
            .delete_task_set()
            .cluster(cluster)
            .service(service)
            .task_set(task_set)
            .force(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DeleteTaskSet {task_set}: {e:?}"));
    }

    /// DeleteService with force, out of band; the service turns INACTIVE.
    pub async fn delete_service(&self, cluster: &str, service: &str) {
        self.ecs
            .delete_service()
            .cluster(cluster)
            .service(service)
            .force(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DeleteService {service}: {e:?}"));
    }

    /// A service with the default (ECS) deployment controller, which cannot run task sets.
    pub async fn create_ecs_controller_service(&self, infra: &Infra, name: &str) -> String {
        let out = self
            .ecs
            .create_service()
            .cluster(&infra.cluster)
            .service_name(name)
            .task_definition(&infra.task_definitions[0])
            .desired_count(1)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateService {name}: {e:?}"));
        out.service()
            .and_then(|s| s.service_arn())
            .unwrap_or_default()
            .to_string()
    }

    /// A service on the ECS deployment controller with a native blue/green strategy whose load
    /// balancer names `rule` as its production listener rule: ECS shifts that rule itself.
    pub async fn create_native_blue_green_service(
        &self,
        infra: &Infra,
        name: &str,
        rule: &str,
    ) -> String {
        use aws_sdk_ecs::types::{AdvancedConfiguration, LoadBalancer};
        let lb = LoadBalancer::builder()
            .target_group_arn(&infra.blue_target_group_arn)
            .container_name("web")
            .container_port(8080)
            .advanced_configuration(
                AdvancedConfiguration::builder()
                    .alternate_target_group_arn(&infra.green_target_group_arn)
                    .production_listener_rule(rule)
                    .role_arn("arn:aws:iam::123456789012:role/ecs-infrastructure")
                    .build(),
            )
            .build();
        let out = self
            .ecs
            .create_service()
            .cluster(&infra.cluster)
            .service_name(name)
            .task_definition(&infra.task_definitions[0])
            .desired_count(1)
            .load_balancers(lb)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateService {name}: {e:?}"));
        out.service()
            .and_then(|s| s.service_arn())
            .unwrap_or_default()
            .to_string()
    }

    /// The service's task sets that are not DRAINING.
    pub async fn live_task_sets(
        &self,
        cluster: &str,
        service: &str,
    ) -> Vec<aws_sdk_ecs::types::TaskSet> {
        self.task_sets(cluster, service)
            .await
            .into_iter()
            .filter(|t| t.status() != Some("DRAINING"))
            .collect()
    }

    /// The tags of a task set, via DescribeTaskSets with TAGS.
    pub async fn task_set_tags(
        &self,
        cluster: &str,
        service: &str,
        task_set: &str,
    ) -> Vec<(String, String)> {
        let tags = Some(aws_sdk_ecs::types::TaskSetField::Tags);
        self.describe_task_set(cluster, service, task_set, tags)
            .await
            .map(|t| pairs(t.tags()))
            .unwrap_or_default()
    }

    /// The actions of a listener (default actions) or listener rule, by ARN.
    pub async fn router_actions(
        &self,
        arn: &str,
    ) -> Vec<aws_sdk_elasticloadbalancingv2::types::Action> {
        if arn.contains(":listener-rule/") {
            self.rule(arn).await.actions().to_vec()
        } else {
            let out = self
                .elbv2
                .describe_listeners()
                .listener_arns(arn)
                .send()
                .await
                .unwrap_or_else(|e| panic!("DescribeListeners {arn}: {e:?}"));
            out.listeners()
                .first()
                .unwrap_or_else(|| panic!("no listener {arn}"))
                .default_actions()
                .to_vec()
        }
    }

    /// One listener rule, by ARN.
    pub async fn rule(&self, arn: &str) -> aws_sdk_elasticloadbalancingv2::types::Rule {
        let out = self
            .elbv2
            .describe_rules()
            .rule_arns(arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeRules {arn}: {e:?}"));
        out.rules()
            .first()
            .cloned()
            .unwrap_or_else(|| panic!("no rule {arn}"))
    }

    /// The (target group, weight) pairs of the forward action of a listener or rule.
    pub async fn forward_weights(&self, arn: &str) -> Vec<(String, i32)> {
        use aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum;
        let actions = self.router_actions(arn).await;
        let fwd = actions
            .iter()
            .find(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
            .unwrap_or_else(|| panic!("{arn} has no forward action: {actions:?}"));
        match fwd.forward_config() {
            Some(c) if !c.target_groups().is_empty() => c
                .target_groups()
                .iter()
                .map(|t| {
                    (
                        t.target_group_arn().unwrap_or_default().to_string(),
                        t.weight().unwrap_or(1),
                    )
                })
                .collect(),
            _ => vec![(fwd.target_group_arn().unwrap_or_default().to_string(), 1)],
        }
    }

    /// (weight of `primary`, weight of `canary`) on a listener or rule; 0 when not listed.
    pub async fn split(&self, arn: &str, primary: &str, canary: &str) -> (i32, i32) {
        let w = self.forward_weights(arn).await;
        let of = |tg: &str| w.iter().filter(|(a, _)| a == tg).map(|(_, x)| *x).sum();
        (of(primary), of(canary))
    }

    /// Replaces the actions of a listener or rule with one forward action, out of band.
    pub async fn set_forward(&self, arn: &str, split: &[(&str, i32)]) {
        let action = forward_action(split, None);
        if arn.contains(":listener-rule/") {
            self.elbv2
                .modify_rule()
                .rule_arn(arn)
                .actions(action)
                .send()
                .await
                .unwrap_or_else(|e| panic!("ModifyRule {arn}: {e:?}"));
        } else {
            self.elbv2
                .modify_listener()
                .listener_arn(arn)
                .default_actions(action)
                .send()
                .await
                .unwrap_or_else(|e| panic!("ModifyListener {arn}: {e:?}"));
        }
    }

    /// A new rule on `listener` matching `path` that forwards with `action`; returns its ARN.
    pub async fn create_rule(
        &self,
        listener: &str,
        priority: i32,
        path: &str,
        action: aws_sdk_elasticloadbalancingv2::types::Action,
    ) -> String {
        use aws_sdk_elasticloadbalancingv2::types::{PathPatternConditionConfig, RuleCondition};
        let out = self
            .elbv2
            .create_rule()
            .listener_arn(listener)
            .priority(priority)
            .conditions(
                RuleCondition::builder()
                    .field("path-pattern")
                    .path_pattern_config(PathPatternConditionConfig::builder().values(path).build())
                    .build(),
            )
            .actions(action)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateRule on {listener}: {e:?}"));
        out.rules()
            .first()
            .and_then(|r| r.rule_arn())
            .unwrap_or_default()
            .to_string()
    }

    /// A target group in the infra's VPC, besides blue and green.
    pub async fn create_target_group(&self, infra: &Infra, name: &str) -> String {
        use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, TargetTypeEnum};
        let out = self
            .elbv2
            .create_target_group()
            .name(name)
            .protocol(ProtocolEnum::Http)
            .port(CONTAINER_PORT)
            .vpc_id(&infra.vpc)
            .target_type(TargetTypeEnum::Ip)
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateTargetGroup {name}: {e:?}"));
        out.target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .unwrap_or_default()
            .to_string()
    }

    /// Reads the service's task sets and the forward weights of every router `cfg` names.
    pub async fn observe(&self, cfg: &CanaryConfig) -> Observed {
        let live = self
            .live_task_sets(&cfg.cluster, &cfg.service)
            .await
            .iter()
            .map(|t| {
                (
                    t.id().unwrap_or_default().to_string(),
                    t.status().unwrap_or_default().to_string(),
                    t.stability_status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default(),
                    t.load_balancers()
                        .first()
                        .and_then(|l| l.target_group_arn())
                        .unwrap_or_default()
                        .to_string(),
                    t.task_definition().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let mut splits = Vec::new();
        for arn in cfg
            .listeners
            .iter()
            .chain(&cfg.rules)
            .chain(&cfg.test_listeners)
            .chain(&cfg.test_rules)
        {
            let (p, c) = self
                .split(arn, &cfg.primary_target_group, &cfg.canary_target_group)
                .await;
            splits.push((arn.clone(), p, c));
        }
        Observed { live, splits }
    }

    /// Panics unless AWS holds exactly what `state` (the resource's `show -json` values) and
    /// `cfg` say: one PRIMARY stable task set and at most one canary, no other live task set
    /// (no orphan, no duplicate), the configured weights on every managed router, test
    /// routers on the canary while one runs. Returns a one-line summary.
    pub async fn assert_matches_state(&self, cfg: &CanaryConfig, state: &Json) -> String {
        let seen = self.observe(cfg).await;
        let stable = state["stable_task_set_id"].as_str().unwrap_or_default();
        let canary = state["canary_task_set_id"].as_str();
        let mut want: Vec<&str> = vec![stable];
        want.extend(canary);
        let mut got: Vec<&str> = seen.live.iter().map(|t| t.0.as_str()).collect();
        want.sort_unstable();
        got.sort_unstable();
        assert_eq!(
            got, want,
            "live task sets must be exactly the state's stable and canary\nAWS: {seen:#?}\nstate: {state:#}"
        );
        let find = |id: &str| seen.live.iter().find(|t| t.0 == id).cloned();
        let s = find(stable).unwrap_or_default();
        assert_eq!(s.1, "PRIMARY", "stable must be PRIMARY: {seen:#?}");
        // The target groups trade roles at each swap promotion; the state says which is live.
        let live = state["live_target_group_arn"]
            .as_str()
            .unwrap_or(&cfg.primary_target_group)
            .to_string();
        let swapped = live != cfg.primary_target_group;
        let idle = if swapped {
            &cfg.primary_target_group
        } else {
            &cfg.canary_target_group
        };
        assert_eq!(s.3, live, "stable on the live TG: {seen:#?}");
        assert_eq!(s.4, cfg.stable_task_definition, "stable version");
        match (&cfg.canary, canary) {
            (Some((td, _, _)), Some(id)) => {
                let c = find(id).unwrap_or_default();
                assert_eq!(&c.4, td, "canary version: {seen:#?}");
                assert_eq!(&c.3, idle, "canary on the idle TG: {seen:#?}");
            }
            (None, None) => {}
            (want, got) => panic!("canary in config {want:?} but state has {got:?}: {state:#}"),
        }
        let traffic = cfg.end_weight() as i32;
        assert_eq!(state["primary_weight"], 100 - traffic, "{state:#}");
        assert_eq!(state["canary_weight"], traffic, "{state:#}");
        assert_eq!(
            state["orphaned_task_set_ids"],
            Json::Array(vec![]),
            "{state:#}"
        );
        for (arn, p, c) in &seen.splits {
            let test = cfg.test_listeners.contains(arn) || cfg.test_rules.contains(arn);
            // (live, idle) weights, then as (primary, canary) target group weights.
            let (lw, iw) = match (test, cfg.canary.is_some()) {
                (true, true) => (0, 100),
                (true, false) => (100, 0),
                (false, _) => (100 - traffic, traffic),
            };
            let expected = if swapped { (iw, lw) } else { (lw, iw) };
            assert_eq!((*p, *c), expected, "weights on {arn}: {seen:#?}");
        }
        format!(
            "{} live task set(s), stable {stable} PRIMARY{}, traffic {}/{traffic}",
            seen.live.len(),
            canary.map(|c| format!(", canary {c}")).unwrap_or_default(),
            100 - traffic
        )
    }
}

/// ECS tags as (key, value) pairs.
fn pairs(tags: &[aws_sdk_ecs::types::Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}
