//! Whole RPCs on generated input, in-process: an answer or an error diagnostic, never a panic.

use crate::strategies::{
    check_property, dynamic_value, mutated_config, proptest_config_for, rpc_config, type_name,
    validated_config,
};
use crate::wire::{is_error, json, mp_bytes, mp_object, mp_unknown, msgpack};
use crate::{CANARY, PRIMARY_TASK_SET, TASK_SETS};
use ecsx::protocol::codec;
use ecsx::protocol::server;
use ecsx::protocol::tfplugin6 as pb;
use ecsx::provider::Provider;
use ecsx::value::Value;
use proptest::prelude::*;
use rmpv::Value as Mp;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The longest one RPC may take on generated input before it counts as hung.
const RPC_LIMIT: Duration = Duration::from_secs(10);

thread_local! {
    static RPC_RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
}

/// Runs one RPC future to completion on this thread's runtime; Err when it hangs.
fn run_rpc<T>(fut: impl Future<Output = T>) -> Result<T, String> {
    RPC_RUNTIME.with(|rt| {
        rt.block_on(async { tokio::time::timeout(RPC_LIMIT, fut).await })
            .map_err(|_| format!("no answer within {RPC_LIMIT:?}"))
    })
}

/// The answer of one RPC run by [`run_rpc`]; a hang or a gRPC error (named `rpc`) fails the case.
fn answer<T>(
    rpc: &str,
    fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, TestCaseError> {
    run_rpc(fut)
        .map_err(TestCaseError::fail)?
        .map(tonic::Response::into_inner)
        .map_err(|s| TestCaseError::fail(format!("{rpc}: {s}")))
}

/// The provider service, no network in between: one never configured, and one configured with
/// a region unknown until apply (plans run their whole logic, nothing reaches AWS).
struct RpcTargets {
    unconfigured: server::ProviderService,
    deferred: server::ProviderService,
}

fn rpc_targets() -> &'static RpcTargets {
    static TARGETS: std::sync::OnceLock<RpcTargets> = std::sync::OnceLock::new();
    TARGETS.get_or_init(|| {
        use pb::provider_server::Provider as _;
        let deferred = server::ProviderService::new(Arc::new(Provider::new()));
        let config = mp_object(&[("region", mp_unknown()), ("max_retries", Mp::from(0))]);
        let resp = run_rpc(deferred.configure_provider(tonic::Request::new(
            pb::configure_provider::Request {
                terraform_version: "1.15.5".into(),
                config: msgpack(mp_bytes(&config)),
                client_capabilities: None,
            },
        )))
        .expect("ConfigureProvider answers")
        .expect("ConfigureProvider succeeds")
        .into_inner();
        assert!(
            !resp.diagnostics.iter().any(is_error),
            "{:#?}",
            resp.diagnostics
        );
        RpcTargets {
            unconfigured: server::ProviderService::new(Arc::new(Provider::new())),
            deferred,
        }
    })
}

/// Decodes a value the way the provider does: msgpack, else JSON, else null.
fn decodes(dv: Option<&pb::DynamicValue>) -> bool {
    match dv {
        Some(d) if !d.msgpack.is_empty() => codec::from_msgpack(&d.msgpack).is_ok(),
        Some(d) if !d.json.is_empty() => codec::from_json(&d.json).is_ok(),
        _ => true,
    }
}

/// The contract of every answer: an error diagnostic, or values that decode; an input that
/// does not decode must have got an error.
fn check_answer(
    what: &str,
    inputs_decode: bool,
    diags: &[pb::Diagnostic],
    values: &[Option<&pb::DynamicValue>],
) -> Result<(), TestCaseError> {
    let failed = diags.iter().any(is_error);
    prop_assert!(
        inputs_decode || failed,
        "{what}: undecodable input accepted without an error: {diags:#?}"
    );
    for d in diags.iter().filter(|d| is_error(d)) {
        prop_assert!(!d.summary.is_empty(), "{what}: error without a summary");
    }
    if !failed {
        for v in values {
            prop_assert!(
                v.is_some_and(|v| codec::from_msgpack(&v.msgpack).is_ok()),
                "{what}: answer without a valid value: {v:?}"
            );
        }
    }
    Ok(())
}

/// `v` with the attributes and blocks of `block` it lacks added as null and no blocks, the way
/// Terraform sends a configuration (written here, not borrowed from the provider under test).
fn with_every_attribute(block: &ecsx::schema::Block, v: Value) -> Value {
    let Value::Map(mut m) = v else { return v };
    for a in &block.attributes {
        m.entry(a.name.to_string()).or_insert(Value::Null);
    }
    for b in &block.blocks {
        let items = m.remove(b.name).unwrap_or_else(|| Value::List(vec![]));
        let items = match items {
            Value::List(items) => Value::List(
                items
                    .into_iter()
                    .map(|i| with_every_attribute(&b.block, i))
                    .collect(),
            ),
            other => other,
        };
        m.insert(b.name.to_string(), items);
    }
    Value::Map(m)
}

/// Terraform's rule for a plan: what the configuration sets, the plan keeps (a block unknown
/// in the configuration stays unknown); only computed attributes may differ.
fn plan_keeps_config(
    block: &ecsx::schema::Block,
    planned: &Value,
    config: &Value,
    at: &str,
) -> Result<(), String> {
    use ecsx::schema::Mode;
    if config.is_unknown() {
        return if planned.is_unknown() {
            Ok(())
        } else {
            Err(format!(
                "{at}: unknown in the configuration, planned {planned:?}"
            ))
        };
    }
    for a in &block.attributes {
        let (p, c) = (planned.get(a.name), config.get(a.name));
        let must_equal = match a.mode {
            Mode::Required | Mode::Optional => true,
            Mode::OptionalComputed => !c.is_null(),
            Mode::Computed => false,
        };
        if must_equal && p != c {
            return Err(format!("{at}{}: configured {c:?}, planned {p:?}", a.name));
        }
    }
    for b in &block.blocks {
        let (p, c) = (planned.get(b.name), config.get(b.name));
        if c.is_unknown() {
            if !p.is_unknown() {
                return Err(format!("{at}{}: unknown block planned as {p:?}", b.name));
            }
            continue;
        }
        let (ps, cs) = (p.as_list(), c.as_list());
        if ps.len() != cs.len() {
            return Err(format!(
                "{at}{}: {} blocks configured, {} planned",
                b.name,
                cs.len(),
                ps.len()
            ));
        }
        for (i, (pi, ci)) in ps.iter().zip(cs).enumerate() {
            plan_keeps_config(&b.block, pi, ci, &format!("{at}{}[{i}].", b.name))?;
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(proptest_config_for(1000, 1))]

    #[test]
    fn random_bytes_into_every_rpc_get_an_error_diagnostic_or_a_valid_answer(
        bytes in prop::collection::vec(any::<u8>(), 0..128),
        as_json in any::<bool>(),
        type_name in prop::sample::select(vec![PRIMARY_TASK_SET, CANARY, TASK_SETS]),
        deferred in any::<bool>(),
    ) {
        use pb::provider_server::Provider as _;
        let t = rpc_targets();
        let svc = if deferred { &t.deferred } else { &t.unconfigured };
        let dv = if as_json { json(&bytes) } else { msgpack(bytes.clone()) };
        let ok = decodes(dv.as_ref());
        let type_name = type_name.to_string();

        let r = answer("ValidateResourceConfig", svc.validate_resource_config(tonic::Request::new(
            pb::validate_resource_config::Request {
                type_name: type_name.clone(),
                config: dv.clone(),
                client_capabilities: None,
            },
        )))?;
        check_answer("ValidateResourceConfig", ok, &r.diagnostics, &[])?;

        let r = answer("PlanResourceChange", svc.plan_resource_change(tonic::Request::new(
            pb::plan_resource_change::Request {
                type_name: type_name.clone(),
                prior_state: dv.clone(),
                proposed_new_state: dv.clone(),
                config: dv.clone(),
                prior_private: vec![],
                provider_meta: None,
                client_capabilities: None,
                prior_identity: None,
            },
        )))?;
        check_answer("PlanResourceChange", ok, &r.diagnostics, &[r.planned_state.as_ref()])?;

        let r = answer("ApplyResourceChange", svc.apply_resource_change(tonic::Request::new(
            pb::apply_resource_change::Request {
                type_name: type_name.clone(),
                prior_state: dv.clone(),
                planned_state: dv.clone(),
                config: dv.clone(),
                planned_private: vec![],
                provider_meta: None,
                planned_identity: None,
            },
        )))?;
        prop_assert!(r.diagnostics.iter().any(is_error), "ApplyResourceChange: {:#?}", r.diagnostics);

        let r = answer("ReadResource", svc.read_resource(tonic::Request::new(
            pb::read_resource::Request {
                type_name: type_name.clone(),
                current_state: dv.clone(),
                private: vec![],
                provider_meta: None,
                client_capabilities: None,
                current_identity: None,
            },
        )))?;
        check_answer("ReadResource", ok, &r.diagnostics, &[r.new_state.as_ref()])?;

        let r = answer("UpgradeResourceState", svc.upgrade_resource_state(tonic::Request::new(
            pb::upgrade_resource_state::Request {
                type_name,
                version: 0,
                raw_state: Some(pb::RawState { json: bytes.clone(), flatmap: Default::default() }),
            },
        )))?;
        let readable = bytes.is_empty() || codec::from_json(&bytes).is_ok();
        check_answer("UpgradeResourceState", readable, &r.diagnostics, &[r.upgraded_state.as_ref()])?;
    }
}

#[test]
fn validate_and_plan_answer_any_input() {
    check_property(
        rpc_config(),
        (
            type_name(),
            prop::collection::vec(dynamic_value(), 3),
            any::<bool>(),
        ),
        |(type_name, values, deferred)| {
            use pb::provider_server::Provider as _;
            let t = rpc_targets();
            let svc = if deferred {
                &t.deferred
            } else {
                &t.unconfigured
            };
            let (a, b, c) = (values[0].clone(), values[1].clone(), values[2].clone());

            let r = answer(
                "ValidateResourceConfig",
                svc.validate_resource_config(tonic::Request::new(
                    pb::validate_resource_config::Request {
                        type_name: type_name.clone(),
                        config: a.clone(),
                        client_capabilities: None,
                    },
                )),
            )?;
            check_answer(
                "ValidateResourceConfig",
                decodes(a.as_ref()),
                &r.diagnostics,
                &[],
            )?;

            let r = answer(
                "ValidateDataResourceConfig",
                svc.validate_data_resource_config(tonic::Request::new(
                    pb::validate_data_resource_config::Request {
                        type_name: type_name.clone(),
                        config: a.clone(),
                    },
                )),
            )?;
            check_answer(
                "ValidateDataResourceConfig",
                decodes(a.as_ref()),
                &r.diagnostics,
                &[],
            )?;

            let r = answer(
                "ValidateProviderConfig",
                svc.validate_provider_config(tonic::Request::new(
                    pb::validate_provider_config::Request { config: b.clone() },
                )),
            )?;
            check_answer(
                "ValidateProviderConfig",
                decodes(b.as_ref()),
                &r.diagnostics,
                &[],
            )?;

            let r = answer(
                "PlanResourceChange",
                svc.plan_resource_change(tonic::Request::new(pb::plan_resource_change::Request {
                    type_name,
                    prior_state: a.clone(),
                    proposed_new_state: b.clone(),
                    config: c.clone(),
                    prior_private: vec![],
                    provider_meta: None,
                    client_capabilities: None,
                    prior_identity: None,
                })),
            )?;
            let all_decode = [&a, &b, &c].iter().all(|v| decodes(v.as_ref()));
            check_answer(
                "PlanResourceChange",
                all_decode,
                &r.diagnostics,
                &[r.planned_state.as_ref()],
            )?;
            Ok(())
        },
    );
}

#[test]
fn apply_read_import_and_data_reads_answer_any_input() {
    check_property(
        rpc_config(),
        (
            type_name(),
            prop::collection::vec(dynamic_value(), 2),
            prop_oneof![any::<String>(), "[a-z/_-]{0,12}"],
            any::<bool>(),
        ),
        |(type_name, values, id, deferred)| {
            use pb::provider_server::Provider as _;
            let t = rpc_targets();
            let svc = if deferred {
                &t.deferred
            } else {
                &t.unconfigured
            };
            let (a, b) = (values[0].clone(), values[1].clone());

            let r = answer(
                "ApplyResourceChange",
                svc.apply_resource_change(tonic::Request::new(
                    pb::apply_resource_change::Request {
                        type_name: type_name.clone(),
                        prior_state: a.clone(),
                        planned_state: b.clone(),
                        config: b.clone(),
                        planned_private: vec![],
                        provider_meta: None,
                        planned_identity: None,
                    },
                )),
            )?;
            // Neither provider can reach AWS, so an apply can only fail, and must say so.
            prop_assert!(
                r.diagnostics.iter().any(is_error),
                "ApplyResourceChange: {:#?}",
                r.diagnostics
            );

            let r = answer(
                "ReadResource",
                svc.read_resource(tonic::Request::new(pb::read_resource::Request {
                    type_name: type_name.clone(),
                    current_state: a.clone(),
                    private: vec![],
                    provider_meta: None,
                    client_capabilities: None,
                    current_identity: None,
                })),
            )?;
            check_answer(
                "ReadResource",
                decodes(a.as_ref()),
                &r.diagnostics,
                &[r.new_state.as_ref()],
            )?;

            let r = answer(
                "ReadDataSource",
                svc.read_data_source(tonic::Request::new(pb::read_data_source::Request {
                    type_name: type_name.clone(),
                    config: b.clone(),
                    provider_meta: None,
                    client_capabilities: None,
                })),
            )?;
            prop_assert!(
                r.diagnostics.iter().any(is_error),
                "ReadDataSource: {:#?}",
                r.diagnostics
            );

            let r = answer(
                "ImportResourceState",
                svc.import_resource_state(tonic::Request::new(
                    pb::import_resource_state::Request {
                        type_name,
                        id: id.clone(),
                        client_capabilities: None,
                        identity: None,
                    },
                )),
            )?;
            prop_assert!(
                r.diagnostics.iter().any(is_error),
                "ImportResourceState {id:?}: {:#?}",
                r.diagnostics
            );
            prop_assert!(r.imported_resources.is_empty());

            // The import id parser on its own: CLUSTER/SERVICE names or an error, never a panic.
            let mut d = ecsx::diag::Diagnostics::new();
            match ecsx::resources::support::split_import_id(&id, &mut d) {
                Some((c, s)) => prop_assert_eq!(format!("{c}/{s}"), id),
                None => prop_assert!(d.has_errors()),
            }
            Ok(())
        },
    );
}

#[test]
fn upgrade_resource_state_refuses_wrong_versions_and_damaged_state() {
    check_property(
        proptest_config_for(300, 10),
        (
            type_name(),
            prop_oneof![Just(0i64), Just(-1i64), Just(1i64), any::<i64>()],
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..256),
                prop_oneof![mutated_config(CANARY), mutated_config(PRIMARY_TASK_SET)]
                    .prop_map(|v| codec::to_json_value(&v).to_string().into_bytes()),
            ],
        ),
        |(type_name, version, raw)| {
            use pb::provider_server::Provider as _;
            let r = answer(
                "UpgradeResourceState",
                rpc_targets()
                    .unconfigured
                    .upgrade_resource_state(tonic::Request::new(
                        pb::upgrade_resource_state::Request {
                            type_name: type_name.clone(),
                            version,
                            raw_state: Some(pb::RawState {
                                json: raw.clone(),
                                flatmap: Default::default(),
                            }),
                        },
                    )),
            )?;
            let known = [PRIMARY_TASK_SET, CANARY].contains(&type_name.as_str());
            let readable = raw.is_empty() || codec::from_json(&raw).is_ok();
            let failed = r.diagnostics.iter().any(is_error);
            // ecsx_canary_deployment is at schema version 1, the others at 0: a version
            // from 0 to the current one upgrades, any other is an error.
            let current = if type_name == CANARY { 1 } else { 0 };
            let valid_version = (0..=current).contains(&version);
            if !raw.is_empty() && (!known || !valid_version || !readable) {
                prop_assert!(
                    failed,
                    "version {version} of {type_name:?}: {:#?}",
                    r.diagnostics
                );
            }
            if known && valid_version && readable {
                prop_assert!(!failed, "{:#?}", r.diagnostics);
            }
            check_answer(
                "UpgradeResourceState",
                true,
                &r.diagnostics,
                &[r.upgraded_state.as_ref()],
            )?;
            Ok(())
        },
    );
}

#[test]
fn a_config_that_validates_plans_and_keeps_its_values() {
    check_property(
        validated_config(),
        prop_oneof![mutated_config(CANARY), mutated_config(PRIMARY_TASK_SET)],
        |config| {
            use pb::provider_server::Provider as _;
            let svc = &rpc_targets().deferred;
            let type_name = if config.get("traffic").is_null() {
                PRIMARY_TASK_SET
            } else {
                CANARY
            };
            // Terraform sends every schema attribute; absent ones are null.
            let schema = Provider::new().resource_schemas()[type_name].clone();
            let config = with_every_attribute(&schema.block, config);
            let dv = msgpack(codec::to_msgpack(&config));
            let v = answer(
                "ValidateResourceConfig",
                svc.validate_resource_config(tonic::Request::new(
                    pb::validate_resource_config::Request {
                        type_name: type_name.into(),
                        config: dv.clone(),
                        client_capabilities: None,
                    },
                )),
            )?;
            // Only what validates is planned; Terraform would stop at the diagnostics otherwise.
            prop_assume!(!v.diagnostics.iter().any(is_error));
            let p = answer(
                "PlanResourceChange",
                svc.plan_resource_change(tonic::Request::new(pb::plan_resource_change::Request {
                    type_name: type_name.into(),
                    prior_state: msgpack(codec::to_msgpack(&Value::Null)),
                    proposed_new_state: dv.clone(),
                    config: dv,
                    prior_private: vec![],
                    provider_meta: None,
                    client_capabilities: None,
                    prior_identity: None,
                })),
            )?;
            prop_assert!(!p.diagnostics.iter().any(is_error), "{:#?}", p.diagnostics);
            let planned = p
                .planned_state
                .as_ref()
                .map(|d| codec::from_msgpack(&d.msgpack))
                .ok_or_else(|| TestCaseError::fail("no planned state"))?
                .map_err(|e| TestCaseError::fail(format!("planned state: {e}")))?;
            if let Err(e) = plan_keeps_config(&schema.block, &planned, &config, "") {
                return Err(TestCaseError::fail(format!("invalid plan: {e}")));
            }
            Ok(())
        },
    );
}
