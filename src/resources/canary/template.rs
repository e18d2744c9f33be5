//! The task set template (`task_set`): what a CreateTaskSet asks for, read from the
//! configuration or back from ECS, and the fields ECS fills in with its defaults.

use crate::aws::ecs::{CapacityProvider, Placement, ServiceRegistry, TaskSet};
use crate::value::Value;
use std::collections::BTreeMap;

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
