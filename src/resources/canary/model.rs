//! The deployment as configured (`Desired`) and as the refreshed state records it (`Observed`),
//! parsed once from Terraform values; the task set template; ownership tags; drift as data.

use crate::arn;
use crate::aws::ecs::{CapacityProvider, Placement, ServiceRegistry, TaskSet};
use crate::aws::elbv2;
use crate::resources::support::resource_id;
use crate::value::Value;
use std::collections::BTreeMap;

pub(crate) use super::schedule::{Analysis, Release, StandIn, TrafficStep};

pub(crate) const TAG_DEPLOYMENT: &str = "ecsx:deployment";
pub(crate) const TAG_ROLE: &str = "ecsx:role";
/// ECS refuses a sixth task set on a service.
pub(crate) const MAX_TASK_SETS: usize = 5;
/// Prefix of the `rollout_steps` lines Read renders from [`Drift`], for people only.
pub(crate) const DRIFT_PREFIX: &str = "drift: ";

/// What a task set is for in a deployment; the value of its `ecsx:role` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Stable,
    Canary,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Stable => "stable",
            Role::Canary => "canary",
        }
    }
}

/// How a new stable version takes over (`promotion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Promotion {
    /// The new version comes up on the idle target group, which then becomes the live one:
    /// the two target groups trade roles at each release.
    #[default]
    Swap,
    /// The stable task set always returns to the primary target group; a task set of the new
    /// version on the canary target group serves alone while it is replaced.
    Replace,
}

impl Promotion {
    pub(crate) const NAMES: [&'static str; 2] = ["swap", "replace"];

    fn parse(s: Option<&str>) -> Promotion {
        match s {
            Some("replace") => Promotion::Replace,
            _ => Promotion::Swap,
        }
    }
}

/// A task set the state knows by id and ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskSetRef {
    pub id: String,
    pub arn: String,
}

impl TaskSetRef {
    pub(crate) fn of(t: &TaskSet) -> TaskSetRef {
        TaskSetRef {
            id: t.id.clone(),
            arn: t.arn.clone(),
        }
    }

    /// `<role>_task_set_id` and `<role>_task_set_arn` of a state or plan value.
    pub(crate) fn read(v: &Value, role: Role) -> Option<TaskSetRef> {
        let id = v.get(&format!("{}_task_set_id", role.as_str())).as_str()?;
        let arn = v.get(&format!("{}_task_set_arn", role.as_str())).as_str()?;
        Some(TaskSetRef {
            id: id.to_string(),
            arn: arn.to_string(),
        })
    }

    pub(crate) fn write(v: &mut Value, role: Role, t: Option<&TaskSetRef>) {
        v.set(
            &format!("{}_task_set_id", role.as_str()),
            Value::from(t.map(|x| x.id.clone())),
        );
        v.set(
            &format!("{}_task_set_arn", role.as_str()),
            Value::from(t.map(|x| x.arn.clone())),
        );
    }
}

/// The deployment as configured, read from a planned value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Desired {
    pub cluster: String,
    pub service: String,
    pub template: Template,
    /// False for an imported state, which has no template until the configuration gives one.
    pub has_template: bool,
    pub stable_td: String,
    pub stable_scale: f64,
    pub canary: Option<CanarySpec>,
    pub primary_tg: String,
    pub canary_tg: String,
    pub routers: Vec<(elbv2::Kind, String)>,
    pub test_routers: Vec<(elbv2::Kind, String)>,
    pub wait: bool,
    pub promotion: Promotion,
    pub analysis: Option<Analysis>,
    pub last_release: Option<Release>,
    /// The configured canary when the last release settled it (then `canary` is None): an
    /// alarm or an abort rolled it back ([`Release::holds_back`]), or it was promoted
    /// ([`Release::promoted`]). The rollout plans as if it were not configured.
    pub held: Option<CanarySpec>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CanarySpec {
    pub task_definition: String,
    /// Where the release ends: `traffic_percent`, or the last step's.
    pub traffic: i64,
    pub scale: f64,
    /// The traffic steps of a scheduled release, in order; empty without `step` blocks.
    /// Only the steps this apply may walk: up to the first gate not yet approved.
    pub steps: Vec<TrafficStep>,
    pub attempt: i64,
    /// The first step (1-based) waiting for approval, with its weight, if any.
    pub gate: Option<(usize, i64)>,
    /// `promote`, and no gate before the end: the apply ends with the canary promoted.
    pub promote: bool,
    /// The step whose bake an earlier apply was stopped in, and how much of it was left.
    pub resume: Option<(usize, std::time::Duration)>,
}

impl CanarySpec {
    /// A canary as it runs in ECS, for a task set found without a configuration to match:
    /// its version at its scale, no steps.
    pub(crate) fn running(t: &TaskSet) -> CanarySpec {
        CanarySpec {
            task_definition: t.task_definition.clone(),
            traffic: 0,
            scale: t.scale_percent,
            steps: Vec::new(),
            attempt: 1,
            gate: None,
            promote: false,
            resume: None,
        }
    }
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
    pub(crate) fn from(v: &Value) -> Desired {
        let s = |x: &Value| x.as_str().unwrap_or_default().to_string();
        let stable = v.block("stable");
        let traffic = v.block("traffic");
        let canary = v.block("canary");
        Desired {
            cluster: s(v.get("cluster")),
            service: s(v.get("service")),
            template: Template {
                ecs_defaults: EcsDefault::from_value(v.get("ecs_filled_in")),
                ..Template::from(v.get("task_set"))
            },
            has_template: !v.get("task_set").as_list().is_empty(),
            stable_td: s(stable.get("task_definition")),
            stable_scale: stable.get("scale_percent").as_f64().unwrap_or(100.0),
            canary: (!canary.is_null()).then(|| {
                let steps: Vec<TrafficStep> = canary
                    .get("step")
                    .as_list()
                    .iter()
                    .map(|st| TrafficStep {
                        traffic: st.get("traffic_percent").as_i64().unwrap_or(0),
                        pause: st
                            .get("pause")
                            .as_str()
                            .and_then(crate::duration::parse)
                            .unwrap_or_default(),
                        approval: st.get("approval").as_bool().unwrap_or(false),
                    })
                    .collect();
                let task_definition = s(canary.get("task_definition"));
                let attempt = canary.get("attempt").as_i64().unwrap_or(1);
                // Approved in the configuration, or by an ecsx_canary_continue action.
                let record = Release::read(v.get("last_release"))
                    .filter(|r| r.task_definition == task_definition && r.attempt == attempt);
                let approved = canary
                    .get("approved_step")
                    .as_i64()
                    .unwrap_or(0)
                    .max(record.as_ref().map_or(0, |r| r.approved_step));
                let resume = record
                    .filter(|r| r.result == Release::INTERRUPTED && r.step > 0)
                    .map(|r| (r.step as usize, r.remaining));
                let mut steps = steps;
                let gate = steps
                    .iter()
                    .enumerate()
                    .find(|(i, st)| st.approval && (*i as i64) + 1 > approved)
                    .map(|(i, st)| (i + 1, st.traffic));
                let scheduled = !steps.is_empty();
                if let Some((n, _)) = gate {
                    steps.truncate(n - 1);
                }
                CanarySpec {
                    task_definition,
                    // Where this apply ends: the last step before a gate, or the last step.
                    traffic: match steps.last() {
                        Some(st) => st.traffic,
                        None if scheduled => 0,
                        None => canary.get("traffic_percent").as_i64().unwrap_or(0),
                    },
                    scale: canary.get("scale_percent").as_f64().unwrap_or(100.0),
                    steps,
                    attempt,
                    promote: canary.get("promote").as_bool() == Some(true) && gate.is_none(),
                    resume,
                    gate,
                }
            }),
            primary_tg: s(traffic.get("primary_target_group_arn")),
            canary_tg: s(traffic.get("canary_target_group_arn")),
            routers: routers(traffic, "listener_arns", "listener_rule_arns"),
            test_routers: routers(traffic, "test_listener_arns", "test_listener_rule_arns"),
            wait: v.get("wait_for_steady_state").as_bool().unwrap_or(true),
            promotion: Promotion::parse(v.get("promotion").as_str()),
            analysis: {
                let a = v.block("analysis");
                (!a.is_null()).then(|| Analysis {
                    alarms: a.get("alarm_names").strings(),
                    interval: a
                        .get("check_interval")
                        .as_str()
                        .and_then(crate::duration::parse)
                        .filter(|d| !d.is_zero())
                        .unwrap_or(std::time::Duration::from_secs(30)),
                })
            },
            last_release: Release::read(v.get("last_release")),
            held: None,
        }
        .settle(StandIn::read(v))
    }

    /// What the releases so far settled: a version promoted in place of the configured stable
    /// one stands in for it (`promoted_stable`), and a canary version the last one rolled
    /// back or promoted is not started again on its own.
    fn settle(mut self, stand_in: Option<StandIn>) -> Desired {
        if let Some(td) = stand_in.as_ref().and_then(|s| s.runs_for(&self.stable_td)) {
            self.stable_td = td.to_string();
        }
        if let (Some(c), Some(r)) = (&self.canary, &self.last_release) {
            if r.holds_back(c) || r.promoted(c) {
                self.held = self.canary.take();
            }
        }
        self
    }

    /// Whether the canary walks `step` blocks or is promoted at the end (a scheduled release).
    pub(crate) fn scheduled(&self) -> bool {
        self.canary
            .as_ref()
            .is_some_and(|c| !c.steps.is_empty() || c.gate.is_some() || c.promote)
    }

    /// (stable, canary) weights on the managed routers after the apply: the live target
    /// group's and the idle one's. A promoting release ends with the canary serving alone on
    /// the target group that is live then.
    pub(crate) fn weights(&self) -> (i64, i64) {
        match &self.canary {
            Some(c) if c.promote => (100, 0),
            Some(c) => (100 - c.traffic, c.traffic),
            None => (100, 0),
        }
    }

    /// The deployment's other target group than `tg`.
    pub(crate) fn other_tg(&self, tg: &str) -> &str {
        if tg == self.primary_tg {
            &self.canary_tg
        } else {
            &self.primary_tg
        }
    }

    /// Everything to `tg`, nothing to the other target group.
    pub(crate) fn all_to(&self, tg: &str) -> Vec<(String, i32)> {
        vec![(tg.to_string(), 100), (self.other_tg(tg).to_string(), 0)]
    }

    pub(crate) fn id(&self) -> String {
        resource_id(&self.cluster, &self.service)
    }

    /// Whether `tg` is one of the deployment's two target groups.
    pub(crate) fn owns_target_group(&self, tg: &str) -> bool {
        tg == self.primary_tg || tg == self.canary_tg
    }
}

/// AWS differs from the state in a way no configured attribute shows. Read records it in the
/// `drift` attribute; the planner acts on these values, and `rollout_steps` only renders them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Drift {
    /// Another task set (or none) is PRIMARY instead of the stable one.
    PrimaryMoved {
        stable: String,
        primary: Option<String>,
    },
    /// The managed routers disagree, e.g. a shift cut short; each router with its split.
    SplitDisagrees { routers: Vec<(String, i64, i64)> },
    /// A managed router forwards to a target group outside the deployment.
    ForeignTargetGroup { router: String },
    /// A test router does not route as the deployment's state requires.
    TestRouteOff { router: String },
    /// The state's stable or canary task set lacks this deployment's ownership tags, as after
    /// an import (which reads only: Terraform imports during `plan`).
    NotOwned { task_set: String, role: Role },
}

impl Drift {
    const PRIMARY_MOVED: &'static str = "primary_moved";
    const SPLIT_DISAGREES: &'static str = "split_disagrees";
    const FOREIGN_TARGET_GROUP: &'static str = "foreign_target_group";
    const TEST_ROUTE_OFF: &'static str = "test_route_off";
    const NOT_OWNED: &'static str = "not_owned";

    /// Whether repairing this drift means setting the weights again.
    pub(crate) fn is_routing(&self) -> bool {
        matches!(
            self,
            Drift::SplitDisagrees { .. }
                | Drift::ForeignTargetGroup { .. }
                | Drift::TestRouteOff { .. }
        )
    }

    /// The line shown in `rollout_steps` after a refresh.
    pub(crate) fn render(&self) -> String {
        let body = match self {
            Drift::PrimaryMoved { stable, primary } => format!(
                "task set {} is PRIMARY instead of stable task set {stable}",
                primary.as_deref().unwrap_or("none")
            ),
            Drift::SplitDisagrees { routers } => format!(
                "traffic is split differently across listeners and rules: {}",
                routers
                    .iter()
                    .map(|(arn, p, c)| format!("{} {arn} {p}/{c}", router_noun(arn)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Drift::ForeignTargetGroup { router } => format!(
                "{} {router} forwards to a target group outside this deployment",
                router_noun(router)
            ),
            Drift::TestRouteOff { router } => format!(
                "test {} {router} does not route as expected",
                router_noun(router)
            ),
            Drift::NotOwned { task_set, role } => format!(
                "{} task set {task_set} does not carry the {TAG_DEPLOYMENT} tag yet",
                role.as_str()
            ),
        };
        format!("{DRIFT_PREFIX}{body}")
    }

    /// Entries of the `drift` attribute: `{kind, subject, observed}`, one per object that drifted.
    pub(crate) fn to_values(drift: &[Drift]) -> Value {
        let entry = |kind: &str, subject: &str, observed: String| {
            Value::object([
                ("kind", Value::from(kind)),
                ("subject", Value::from(subject)),
                ("observed", Value::from(observed)),
            ])
        };
        let mut out = Vec::new();
        for d in drift {
            match d {
                Drift::PrimaryMoved { stable, primary } => out.push(entry(
                    Self::PRIMARY_MOVED,
                    stable,
                    primary.clone().unwrap_or_default(),
                )),
                Drift::SplitDisagrees { routers } => {
                    for (arn, p, c) in routers {
                        out.push(entry(Self::SPLIT_DISAGREES, arn, format!("{p}/{c}")));
                    }
                }
                Drift::ForeignTargetGroup { router } => {
                    out.push(entry(Self::FOREIGN_TARGET_GROUP, router, String::new()))
                }
                Drift::TestRouteOff { router } => {
                    out.push(entry(Self::TEST_ROUTE_OFF, router, String::new()))
                }
                Drift::NotOwned { task_set, role } => {
                    out.push(entry(Self::NOT_OWNED, task_set, role.as_str().to_string()))
                }
            }
        }
        Value::List(out)
    }

    /// Reads the `drift` attribute back; entries of an unknown kind are skipped.
    pub(crate) fn from_values(v: &Value) -> Vec<Drift> {
        let mut out = Vec::new();
        let mut split = Vec::new();
        for e in v.as_list() {
            let subject = e.get("subject").as_str().unwrap_or_default().to_string();
            let observed = e.get("observed").as_str().unwrap_or_default();
            match e.get("kind").as_str() {
                Some(Self::PRIMARY_MOVED) => out.push(Drift::PrimaryMoved {
                    stable: subject,
                    primary: (!observed.is_empty()).then(|| observed.to_string()),
                }),
                Some(Self::SPLIT_DISAGREES) => {
                    let (p, c) = observed.split_once('/').unwrap_or(("0", "0"));
                    split.push((subject, p.parse().unwrap_or(0), c.parse().unwrap_or(0)));
                }
                Some(Self::FOREIGN_TARGET_GROUP) => {
                    out.push(Drift::ForeignTargetGroup { router: subject })
                }
                Some(Self::TEST_ROUTE_OFF) => out.push(Drift::TestRouteOff { router: subject }),
                Some(Self::NOT_OWNED) => out.push(Drift::NotOwned {
                    task_set: subject,
                    role: if observed == Role::Canary.as_str() {
                        Role::Canary
                    } else {
                        Role::Stable
                    },
                }),
                _ => {}
            }
        }
        if !split.is_empty() {
            out.push(Drift::SplitDisagrees { routers: split });
        }
        out
    }
}

fn router_noun(arn: &str) -> &'static str {
    if arn.contains(":listener-rule/") {
        elbv2::Kind::Rule.noun()
    } else {
        elbv2::Kind::Listener.noun()
    }
}

/// The deployment as the refreshed state records it: the planner's picture of AWS.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Observed {
    /// What was last deployed; None before the first apply (or when replacing).
    pub deployed: Option<Desired>,
    pub stable: Option<TaskSetRef>,
    pub canary: Option<TaskSetRef>,
    pub weights: Option<(i64, i64)>,
    pub drift: Vec<Drift>,
    /// Live task sets tagged as this deployment's that the state does not hold.
    pub orphans: Vec<String>,
    /// The target group the stable task set sits on (`live_target_group_arn`).
    pub live_tg: Option<String>,
    /// The target groups some managed or test router forwards to (at any weight), which
    /// CreateTaskSet requires of a target group; read live, only when a task set is to be
    /// created. None when not read.
    pub forwarded: Option<Vec<String>>,
    /// How an earlier, failed first apply left the release (`ecsx:release` on the task sets
    /// it left), which a create that takes them over continues from. None otherwise.
    pub record: Option<Release>,
}

impl Observed {
    pub(crate) fn from_state(prior: &Value) -> Observed {
        if prior.is_null() {
            return Observed::default();
        }
        let weights = match (
            prior.get("primary_weight").as_i64(),
            prior.get("canary_weight").as_i64(),
        ) {
            (Some(p), Some(c)) => Some((p, c)),
            _ => None,
        };
        let deployed = Desired::from(prior);
        // States from before `live_target_group_arn` kept the stable on the primary one.
        let live_tg = prior
            .get("live_target_group_arn")
            .as_str()
            .map(str::to_string)
            .or_else(|| Some(deployed.primary_tg.clone()).filter(|tg| !tg.is_empty()));
        Observed {
            deployed: Some(deployed),
            stable: TaskSetRef::read(prior, Role::Stable),
            canary: TaskSetRef::read(prior, Role::Canary),
            weights,
            drift: Drift::from_values(prior.get("drift")),
            orphans: prior.get("orphaned_task_set_ids").strings(),
            live_tg,
            forwarded: None,
            record: None,
        }
    }

    /// Folds in the PRIMARY a fresh DescribeServices reports, so an apply that finds the
    /// PRIMARY moved since the plan re-plans with it instead of deciding on its own.
    pub(crate) fn with_live_primary(mut self, primary: Option<&TaskSet>) -> Observed {
        if let Some(stable) = &self.stable {
            let moved = primary.is_none_or(|p| p.id != stable.id);
            let known = self
                .drift
                .iter()
                .any(|d| matches!(d, Drift::PrimaryMoved { .. }));
            if moved && !known {
                self.drift.push(Drift::PrimaryMoved {
                    stable: stable.id.clone(),
                    primary: primary.map(|p| p.id.clone()),
                });
            }
        }
        self
    }
}

/// A `task_set` field whose value in a template read back from ECS (import) may be ECS's
/// default for a CreateTaskSet that left it unset, rather than something asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum EcsDefault {
    /// One security group: the VPC's default one, which ECS uses when a request names none
    /// (telling it apart would take EC2's DescribeSecurityGroups).
    SecurityGroups,
    /// The cluster's default capacity provider strategy, used when a request names neither a
    /// strategy nor a launch type.
    CapacityProviderStrategy,
    /// EC2, the launch type ECS uses when a request names neither and the cluster has no
    /// default strategy.
    LaunchType,
    /// A Fargate platform version: what `LATEST` resolved to, as ECS reports it.
    PlatformVersion,
}

impl EcsDefault {
    const ALL: [EcsDefault; 4] = [
        EcsDefault::SecurityGroups,
        EcsDefault::CapacityProviderStrategy,
        EcsDefault::LaunchType,
        EcsDefault::PlatformVersion,
    ];

    /// The `task_set` attribute it is about.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EcsDefault::SecurityGroups => "security_groups",
            EcsDefault::CapacityProviderStrategy => "capacity_provider_strategy",
            EcsDefault::LaunchType => "launch_type",
            EcsDefault::PlatformVersion => "platform_version",
        }
    }

    /// The fields of `t` ECS may have filled in; `cluster_default` is the cluster's default
    /// capacity provider strategy (None when it could not be read: then neither placement
    /// field counts, and leaving both unset in the configuration rolls).
    pub(crate) fn of(t: &TaskSet, cluster_default: Option<&[CapacityProvider]>) -> Vec<EcsDefault> {
        let p = &t.placement;
        let mut out = Vec::new();
        if p.security_groups.len() == 1 {
            out.push(EcsDefault::SecurityGroups);
        }
        if let Some(default) = cluster_default {
            if !p.capacity_providers.is_empty() && p.capacity_providers == default {
                out.push(EcsDefault::CapacityProviderStrategy);
            }
            if default.is_empty()
                && p.capacity_providers.is_empty()
                && p.launch_type.as_deref() == Some(LAUNCH_TYPE_EC2)
            {
                out.push(EcsDefault::LaunchType);
            }
        }
        if p.platform_version.as_deref().is_some_and(|v| !is_latest(v)) {
            out.push(EcsDefault::PlatformVersion);
        }
        out
    }

    /// The `ecs_filled_in` attribute.
    pub(crate) fn to_value(fields: &[EcsDefault]) -> Value {
        Value::string_list(fields.iter().map(|f| f.as_str()))
    }

    /// Reads the `ecs_filled_in` attribute; unknown names are skipped.
    pub(crate) fn from_value(v: &Value) -> Vec<EcsDefault> {
        v.strings()
            .iter()
            .filter_map(|name| EcsDefault::ALL.into_iter().find(|f| f.as_str() == name))
            .collect()
    }
}

const LAUNCH_TYPE_EC2: &str = "EC2";

fn is_latest(version: &str) -> bool {
    version.eq_ignore_ascii_case("LATEST")
}

/// The `task_set` template as CreateTaskSet receives it, ECS's defaults spelled out.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Template {
    pub placement: Placement,
    pub container_name: String,
    pub container_port: i32,
    pub tags: BTreeMap<String, String>,
    /// For a template read back from ECS (an imported state): the fields whose value ECS may
    /// have filled in, from the state's `ecs_filled_in` attribute.
    pub ecs_defaults: Vec<EcsDefault>,
}

impl Template {
    /// The template without its `tags`, which AWS changes on a running task set in place.
    pub(crate) fn without_tags(&self) -> Template {
        Template {
            tags: BTreeMap::new(),
            ..self.clone()
        }
    }

    /// Reads the `task_set` block list of a configuration or state value.
    pub(crate) fn from(task_set: &Value) -> Template {
        let ts = task_set.as_list().first().cloned().unwrap_or_default();
        let net = ts.block("network_configuration");
        Template {
            placement: Placement {
                launch_type: ts.get("launch_type").as_str().map(str::to_string),
                // ECS defaults a capacity provider's weight and base to 0.
                capacity_providers: ts
                    .get("capacity_provider_strategy")
                    .as_list()
                    .iter()
                    .map(|c| CapacityProvider {
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
                service_registries: ts
                    .get("service_registries")
                    .as_list()
                    .iter()
                    .map(|r| ServiceRegistry {
                        registry_arn: r
                            .get("registry_arn")
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        port: r.get("port").as_i64().map(|p| p as i32),
                        container_name: r.get("container_name").as_str().map(str::to_string),
                        container_port: r.get("container_port").as_i64().map(|p| p as i32),
                    })
                    .collect(),
            },
            container_name: ts
                .get("container_name")
                .as_str()
                .unwrap_or_default()
                .to_string(),
            container_port: ts.get("container_port").as_i64().unwrap_or(0) as i32,
            tags: ts.get("tags").string_map(),
            ecs_defaults: Vec::new(),
        }
    }

    /// Whether `config` makes the same task sets as the state's template `self`. An unset
    /// platform version is `LATEST`; ECS keeps subnets and security groups as sets and may list
    /// them in another order.
    ///
    /// A template read back from ECS (import) names the fields whose value ECS may have
    /// filled in ([`EcsDefault`]); such a field matches a configuration that leaves it unset
    /// (for the launch type and strategy: sets neither; for the platform version: says
    /// `LATEST` or nothing). Any field the configuration sets is compared exactly, so a
    /// deliberate change still rolls; after the first apply the state holds the configuration
    /// and nothing is lenient.
    pub(crate) fn creates_same_as(&self, config: &Template) -> bool {
        let latest = |v: &Option<String>| v.as_deref().is_none_or(is_latest);
        let normal = |t: &Template| {
            let mut t = t.clone();
            t.ecs_defaults.clear();
            if latest(&t.placement.platform_version) {
                t.placement.platform_version = None;
            }
            t.placement.subnets.sort();
            t.placement.security_groups.sort();
            t
        };
        let filled = |f| self.ecs_defaults.contains(&f);
        let (c, mut state) = (&config.placement, self.clone());
        let s = &mut state.placement;
        if filled(EcsDefault::SecurityGroups) && c.security_groups.is_empty() {
            s.security_groups.clear();
        }
        if (filled(EcsDefault::CapacityProviderStrategy) || filled(EcsDefault::LaunchType))
            && c.launch_type.is_none()
            && c.capacity_providers.is_empty()
        {
            s.launch_type = None;
            s.capacity_providers.clear();
        }
        if filled(EcsDefault::PlatformVersion) && latest(&c.platform_version) {
            s.platform_version = None;
        }
        normal(&state) == normal(config)
    }

    /// The `task_set` block of an existing task set, as import and list rebuild it from ECS.
    pub(crate) fn block_of(t: &TaskSet) -> Value {
        let p = &t.placement;
        let user_tags: BTreeMap<String, Value> = t
            .tags
            .iter()
            .filter(|(k, _)| !k.starts_with("ecsx:"))
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        let network = if p.subnets.is_empty() {
            vec![]
        } else {
            vec![Value::object([
                ("subnets", Value::string_list(&p.subnets)),
                (
                    "security_groups",
                    if p.security_groups.is_empty() {
                        Value::Null
                    } else {
                        Value::string_list(&p.security_groups)
                    },
                ),
                ("assign_public_ip", Value::from(p.assign_public_ip)),
            ])]
        };
        Value::object([
            ("launch_type", Value::from(p.launch_type.clone())),
            ("platform_version", Value::from(p.platform_version.clone())),
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
                    Value::Map(user_tags)
                },
            ),
            (
                "capacity_provider_strategy",
                Value::List(
                    p.capacity_providers
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
            (
                "service_registries",
                Value::List(
                    p.service_registries
                        .iter()
                        .map(|r| {
                            let port = |p: Option<i32>| {
                                p.map(|p| Value::from(p as i64)).unwrap_or(Value::Null)
                            };
                            Value::object([
                                ("registry_arn", Value::from(r.registry_arn.as_str())),
                                ("port", port(r.port)),
                                ("container_name", Value::from(r.container_name.clone())),
                                ("container_port", port(r.container_port)),
                            ])
                        })
                        .collect(),
                ),
            ),
        ])
    }
}

/// The tags that mark a task set as this deployment's, in `role`.
pub(crate) fn ownership_tags(deployment: &str, role: Role) -> BTreeMap<String, String> {
    [
        (TAG_DEPLOYMENT.to_string(), deployment.to_string()),
        (TAG_ROLE.to_string(), role.as_str().to_string()),
    ]
    .into()
}

pub(crate) fn owned_by(t: &TaskSet, deployment: &str) -> bool {
    t.tags.get(TAG_DEPLOYMENT).map(String::as_str) == Some(deployment)
}

/// Tag keys other release controllers put on the task sets they manage, with their names.
const FOREIGN_CONTROLLER_TAGS: [(&str, &str); 1] = [("pipecd-dev-managed-by", "PipeCD")];

/// Who else manages `t`, if anyone: another ecsx deployment or a known release controller.
pub(crate) fn foreign_owner(t: &TaskSet, deployment: &str) -> Option<String> {
    if let Some(other) = t.tags.get(TAG_DEPLOYMENT).filter(|d| *d != deployment) {
        return Some(format!(
            "ecsx deployment {other} ({TAG_DEPLOYMENT}={other})"
        ));
    }
    FOREIGN_CONTROLLER_TAGS.iter().find_map(|(key, name)| {
        t.tags
            .get(*key)
            .map(|value| format!("{name} ({key}={value})"))
    })
}

/// The live (not DRAINING) task sets owned by `deployment`.
pub(crate) fn owned_live(sets: &[TaskSet], deployment: &str) -> Vec<String> {
    sets.iter()
        .filter(|t| owned_by(t, deployment) && !t.is_draining())
        .map(|t| t.id.clone())
        .collect()
}

/// `web:13` for a task definition ARN, `blue` for a target group ARN: labels for step text.
pub(crate) fn td_label(a: &str) -> String {
    arn::task_definition_label(a).to_string()
}

pub(crate) fn tg_label(a: &str) -> String {
    arn::target_group_label(a).to_string()
}

#[cfg(test)]
mod tests;
