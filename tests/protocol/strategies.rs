//! Proptest budgets and generators: value trees, mutated configurations, hostile DynamicValues.

use crate::wire::{json, mp_bytes, msgpack};
use crate::{CANARY, PRIMARY_TASK_SET, TASK_SETS};
use ecsx::protocol::codec;
use ecsx::protocol::tfplugin6 as pb;
use ecsx::value::Value;
use proptest::prelude::*;
use rmpv::Value as Mp;

/// `PROPTEST_CASES`, which the long reliability run sets (e.g. 100000).
fn proptest_cases() -> Option<u32> {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
}

/// `default` cases in the normal test run. The long reliability run sets `PROPTEST_CASES`
/// (100000) as the budget of the cheapest properties (random bytes into the codec and into
/// every RPC); a property whose case costs about `cost` times as much runs that budget divided
/// by `cost`. At 100000 that is about 240000 generated inputs in all, and a minute or two of
/// CPU for the whole file (debug build).
pub(crate) fn proptest_config_for(default: u32, cost: u32) -> ProptestConfig {
    ProptestConfig {
        cases: proptest_cases()
            .map(|n| (n / cost.max(1)).max(1))
            .unwrap_or(default),
        // Failures print their minimal input; do not write regression files into the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// 2000 cases in the normal test run; all of `PROPTEST_CASES` in the long run.
pub(crate) fn proptest_config() -> ProptestConfig {
    proptest_config_for(2000, 1)
}

/// A value tree costs about sixteen times a random byte string to generate, encode and decode.
pub(crate) fn tree_config() -> ProptestConfig {
    proptest_config_for(1000, 16)
}

/// Whole RPCs on generated values: each case makes several calls on values up to 128 nodes.
pub(crate) fn rpc_config() -> ProptestConfig {
    proptest_config_for(300, 20)
}

/// Only configurations that validate are planned: about a third are set aside.
pub(crate) fn validated_config() -> ProptestConfig {
    let c = proptest_config_for(300, 40);
    ProptestConfig {
        max_global_rejects: c.cases.saturating_mul(4),
        ..c
    }
}

/// Runs a property with exactly `config`. (`proptest!` lets `PROPTEST_CASES` override the case
/// count of every property, which the costlier ones, scaled by [`proptest_config_for`], must not.)
pub(crate) fn check_property<S: Strategy>(
    config: ProptestConfig,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = proptest::test_runner::TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}\n{runner}");
    }
}

fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<i32>().prop_map(f64::from),
        (-9.0e15f64..9.0e15).prop_map(f64::trunc),
        // Any double except NaN, which equals nothing and which Terraform cannot send.
        any::<f64>().prop_filter("not NaN", |f| !f.is_nan()),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(1.0e300),
    ]
}

pub(crate) fn value_tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        Just(Value::Unknown),
        any::<bool>().prop_map(Value::Bool),
        number().prop_map(Value::Number),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(8, 128, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
            prop::collection::btree_map(any::<String>(), inner, 0..8).prop_map(Value::Map),
        ]
    })
}

/// Arbitrary msgpack trees, including what the codec must refuse (ext types, binary, odd keys).
pub(crate) fn msgpack_tree() -> impl Strategy<Value = Mp> {
    let leaf = prop_oneof![
        Just(Mp::Nil),
        any::<bool>().prop_map(Mp::Boolean),
        any::<i64>().prop_map(Mp::from),
        any::<u64>().prop_map(Mp::from),
        any::<f32>().prop_map(Mp::F32),
        any::<f64>().prop_map(Mp::F64),
        any::<String>().prop_map(Mp::from),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(Mp::Binary),
        (any::<i8>(), prop::collection::vec(any::<u8>(), 0..16)).prop_map(|(t, d)| Mp::Ext(t, d)),
    ];
    leaf.prop_recursive(6, 96, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Mp::Array),
            prop::collection::vec((inner.clone(), inner), 0..6).prop_map(Mp::Map),
        ]
    })
}

/// A valid configuration of each resource type, as plain values.
fn valid_config(type_name: &str) -> Value {
    let list = |v: Value| Value::List(vec![v]);
    match type_name {
        CANARY => Value::object([
            ("cluster", Value::from("prod")),
            ("service", Value::from("web")),
            (
                "task_set",
                list(Value::object([
                    ("launch_type", Value::from("FARGATE")),
                    ("container_name", Value::from("web")),
                    ("container_port", Value::from(8080i64)),
                    (
                        "network_configuration",
                        list(Value::object([(
                            "subnets",
                            Value::string_list(["subnet-1"]),
                        )])),
                    ),
                ])),
            ),
            (
                "stable",
                list(Value::object([(
                    "task_definition",
                    Value::from("arn:aws:ecs:us-east-1:1:task-definition/web:1"),
                )])),
            ),
            (
                "canary",
                list(Value::object([
                    (
                        "task_definition",
                        Value::from("arn:aws:ecs:us-east-1:1:task-definition/web:2"),
                    ),
                    ("traffic_percent", Value::from(10i64)),
                ])),
            ),
            (
                "traffic",
                list(Value::object([
                    (
                        "primary_target_group_arn",
                        Value::from("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/b/1"),
                    ),
                    (
                        "canary_target_group_arn",
                        Value::from("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/g/2"),
                    ),
                    (
                        "listener_rule_arns",
                        Value::string_list([
                            "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/l/1/2/3",
                        ]),
                    ),
                ])),
            ),
        ]),
        _ => Value::object([
            ("cluster", Value::from("prod")),
            ("service", Value::from("web")),
            ("task_set", Value::from("ecs-svc/1234567890123456789")),
        ]),
    }
}

/// A step into a value: an object key or a list index.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every path in `v`, the root included.
fn all_paths(v: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match v {
        Value::Map(m) => {
            for (k, child) in m {
                at.push(Step::Key(k.clone()));
                all_paths(child, at, out);
                at.pop();
            }
        }
        Value::List(items) => {
            for (i, child) in items.iter().enumerate() {
                at.push(Step::Index(i));
                all_paths(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn replace_at(v: &mut Value, path: &[Step], new: Value) {
    let Some((first, rest)) = path.split_first() else {
        *v = new;
        return;
    };
    let child = match (v, first) {
        (Value::Map(m), Step::Key(k)) => m.get_mut(k),
        (Value::List(items), Step::Index(i)) => items.get_mut(*i),
        _ => None,
    };
    if let Some(c) = child {
        replace_at(c, rest, new);
    }
}

/// Values a mistaken configuration could plausibly hold, plus arbitrary trees.
fn replacement() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => prop_oneof![
            Just(Value::Null),
            Just(Value::Unknown),
            Just(Value::List(vec![])),
            Just(Value::List(vec![Value::Unknown])),
            any::<bool>().prop_map(Value::Bool),
            (-200i64..70_000).prop_map(Value::from),
            Just(Value::Number(10.5)),
            prop::sample::select(vec![
                "",
                " ",
                "prod",
                "FARGATE",
                "5m",
                "soon",
                "ecs-svc/1",
                "arn:aws:ecs:us-east-1:1:cluster/prod",
                "arn:aws:ecs:us-east-1:1:service/prod/web",
                "arn:aws:ecs:us-east-1:1:task-set/prod/api/ecs-svc/1",
                "arn:aws:ecs:us-east-1:1:task-definition/web:1",
                "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/b/1",
                "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/l/1/2",
                "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/l/1/2/3",
                "arn:aws:iam::1:role/deploy",
            ])
            .prop_map(Value::from),
        ],
        1 => value_tree(),
    ]
}

/// A valid configuration of `type_name` with one to four values replaced.
pub(crate) fn mutated_config(type_name: &'static str) -> impl Strategy<Value = Value> {
    let base = valid_config(type_name);
    let mut paths = Vec::new();
    all_paths(&base, &mut Vec::new(), &mut paths);
    prop::collection::vec((prop::sample::select(paths), replacement()), 1..5).prop_map(
        move |edits| {
            let mut v = base.clone();
            for (path, new) in edits {
                replace_at(&mut v, &path, new);
            }
            v
        },
    )
}

pub(crate) fn type_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![PRIMARY_TASK_SET, CANARY, TASK_SETS]).prop_map(String::from),
        1 => any::<String>(),
    ]
}

/// Any `DynamicValue` a broken or hostile client could send.
pub(crate) fn dynamic_value() -> impl Strategy<Value = Option<pb::DynamicValue>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256).prop_map(msgpack),
        prop::collection::vec(any::<u8>(), 0..256).prop_map(|b| json(&b)),
        msgpack_tree().prop_map(|mp| msgpack(mp_bytes(&mp))),
        prop_oneof![mutated_config(CANARY), mutated_config(PRIMARY_TASK_SET)]
            .prop_map(|v| msgpack(codec::to_msgpack(&v))),
        prop_oneof![mutated_config(CANARY), mutated_config(PRIMARY_TASK_SET)]
            .prop_map(|v| json(codec::to_json_value(&v).to_string().as_bytes())),
        Just(None),
        Just(Some(pb::DynamicValue::default())),
    ]
}
