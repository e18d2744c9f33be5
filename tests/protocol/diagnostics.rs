//! Diagnostics: attribute paths on validation errors; malformed values never panic or hang.

use crate::client::{connected, trusted_channel};
use crate::wire::{
    assert_error_diag, error_paths, good_config, is_error, json, mp_bytes, mp_unknown, msgpack,
    primary_task_set_config,
};
use crate::{within, PRIMARY_TASK_SET};
use ecsx::protocol::tfplugin6 as pb;
use ecsx::protocol::tfplugin6::provider_client::ProviderClient;
use rmpv::Value as Mp;
use std::collections::BTreeSet;

#[tokio::test]
async fn validate_resource_config_points_at_the_bad_attributes() {
    let (_server, mut client, _) = connected().await;
    let cases: Vec<(&str, Mp, &[&str])> = vec![
        ("good", good_config(), &[]),
        (
            "empty cluster, malformed task_set",
            primary_task_set_config(Mp::from(""), Mp::from("web"), Mp::from("not a task set!")),
            &["cluster", "task_set"],
        ),
        (
            "task set ARN of the wrong service",
            primary_task_set_config(
                Mp::from("prod"),
                Mp::from("web"),
                Mp::from("arn:aws:ec2:us-east-1:123456789012:instance/i-1"),
            ),
            &["task_set"],
        ),
        (
            "missing cluster",
            primary_task_set_config(
                Mp::Nil,
                Mp::from("web"),
                Mp::from("ecs-svc/1234567890123456789"),
            ),
            &["cluster"],
        ),
        (
            "unknown values are not judged yet",
            primary_task_set_config(mp_unknown(), mp_unknown(), mp_unknown()),
            &[],
        ),
    ];
    for (label, config, want) in cases {
        let resp = within(
            label,
            client.validate_resource_config(pb::validate_resource_config::Request {
                type_name: PRIMARY_TASK_SET.into(),
                config: msgpack(mp_bytes(&config)),
                client_capabilities: None,
            }),
        )
        .await
        .unwrap_or_else(|e| panic!("{label}: {e}"))
        .into_inner();
        let got = error_paths(&resp.diagnostics);
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(got, want, "{label}: {:#?}", resp.diagnostics);
        for d in resp.diagnostics.iter().filter(|d| is_error(d)) {
            assert!(!d.summary.is_empty(), "{label}: diagnostic without summary");
        }
    }
}

fn malformed_values() -> Vec<(&'static str, pb::DynamicValue)> {
    let good = mp_bytes(&good_config());
    let mut deep_msgpack = vec![0x91; 100_000];
    deep_msgpack.push(0xc0);
    let mut deep_map = Vec::new();
    for _ in 0..10_000 {
        deep_map.extend_from_slice(&[0x81, 0xa1, b'a']);
    }
    deep_map.push(0xc0);
    let cases: Vec<(&str, Option<pb::DynamicValue>)> = vec![
        (
            "garbage msgpack",
            msgpack(vec![0xc1, 0xff, 0x13, 0x37, 0xde, 0xad, 0xbe, 0xef]),
        ),
        ("invalid JSON", json(b"{\"cluster\": ")),
        ("JSON that is not JSON at all", json(b"\xff\xfe{]")),
        (
            "truncated msgpack",
            msgpack(good[..good.len() / 2].to_vec()),
        ),
        (
            "truncated by one byte",
            msgpack(good[..good.len() - 1].to_vec()),
        ),
        (
            "str32 claiming 4 GiB",
            msgpack(vec![0xdb, 0xff, 0xff, 0xff, 0xff, b'a']),
        ),
        (
            "array32 claiming 4 billion items",
            msgpack(vec![0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0]),
        ),
        (
            "map32 claiming 4 billion pairs",
            msgpack(vec![0xdf, 0xff, 0xff, 0xff, 0xff]),
        ),
        (
            "unknown extension type 5",
            msgpack(mp_bytes(&primary_task_set_config(
                Mp::Ext(5, vec![0]),
                Mp::from("web"),
                Mp::from("ecs-svc/1"),
            ))),
        ),
        (
            "timestamp extension (-1)",
            msgpack(vec![0xd6, 0xff, 0x00, 0x00, 0x00, 0x01]),
        ),
        ("deeply nested arrays", msgpack(deep_msgpack)),
        ("deeply nested maps", msgpack(deep_map)),
        ("deeply nested JSON", json("[".repeat(100_000).as_bytes())),
        ("non-string map key", msgpack(vec![0x81, 0x01, 0xa1, b'x'])),
        ("invalid UTF-8 string", msgpack(vec![0xa2, 0xff, 0xfe])),
        ("trailing bytes", msgpack(vec![0xc0, 0xc0])),
    ];
    cases
        .into_iter()
        .map(|(l, v)| (l, v.expect("a value")))
        .collect()
}

#[tokio::test]
async fn malformed_dynamic_values_give_diagnostics_and_the_server_survives() {
    let (server, mut client, client_id) = connected().await;
    let good = msgpack(mp_bytes(&good_config()));

    for (label, bad) in malformed_values() {
        let bad = Some(bad);

        let r = within(
            label,
            client.validate_resource_config(pb::validate_resource_config::Request {
                type_name: PRIMARY_TASK_SET.into(),
                config: bad.clone(),
                client_capabilities: None,
            }),
        )
        .await
        .unwrap_or_else(|e| panic!("ValidateResourceConfig, {label}: {e}"))
        .into_inner();
        assert_error_diag(&format!("ValidateResourceConfig, {label}"), &r.diagnostics);

        // Each position a value can take in a plan.
        for slot in ["prior_state", "proposed_new_state", "config"] {
            let pick = |s: &str| if s == slot { bad.clone() } else { good.clone() };
            let r = within(
                label,
                client.plan_resource_change(pb::plan_resource_change::Request {
                    type_name: PRIMARY_TASK_SET.into(),
                    prior_state: pick("prior_state"),
                    proposed_new_state: pick("proposed_new_state"),
                    config: pick("config"),
                    prior_private: vec![],
                    provider_meta: None,
                    client_capabilities: None,
                    prior_identity: None,
                }),
            )
            .await
            .unwrap_or_else(|e| panic!("PlanResourceChange {slot}, {label}: {e}"))
            .into_inner();
            assert_error_diag(
                &format!("PlanResourceChange {slot}, {label}"),
                &r.diagnostics,
            );
        }

        let r = within(
            label,
            client.read_resource(pb::read_resource::Request {
                type_name: PRIMARY_TASK_SET.into(),
                current_state: bad.clone(),
                private: vec![],
                provider_meta: None,
                client_capabilities: None,
                current_identity: None,
            }),
        )
        .await
        .unwrap_or_else(|e| panic!("ReadResource, {label}: {e}"))
        .into_inner();
        assert_error_diag(&format!("ReadResource, {label}"), &r.diagnostics);

        for slot in ["prior_state", "planned_state"] {
            let pick = |s: &str| if s == slot { bad.clone() } else { good.clone() };
            let r = within(
                label,
                client.apply_resource_change(pb::apply_resource_change::Request {
                    type_name: PRIMARY_TASK_SET.into(),
                    prior_state: pick("prior_state"),
                    planned_state: pick("planned_state"),
                    config: good.clone(),
                    planned_private: vec![],
                    provider_meta: None,
                    planned_identity: None,
                }),
            )
            .await
            .unwrap_or_else(|e| panic!("ApplyResourceChange {slot}, {label}: {e}"))
            .into_inner();
            assert_error_diag(
                &format!("ApplyResourceChange {slot}, {label}"),
                &r.diagnostics,
            );
        }
    }

    // Still healthy: the same connection and a fresh one both get answers.
    let r = within(
        "ValidateResourceConfig after abuse",
        client.validate_resource_config(pb::validate_resource_config::Request {
            type_name: PRIMARY_TASK_SET.into(),
            config: good.clone(),
            client_capabilities: None,
        }),
    )
    .await
    .expect("the server answers after malformed input")
    .into_inner();
    assert!(r.diagnostics.is_empty(), "{:#?}", r.diagnostics);
    let channel = trusted_channel(&server, &client_id).await;
    within(
        "GetProviderSchema on a new connection",
        ProviderClient::new(channel).get_provider_schema(pb::get_provider_schema::Request {}),
    )
    .await
    .expect("a new connection is served");
    assert!(!server.task.is_finished(), "the server stopped");
}
