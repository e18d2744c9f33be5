//! Lifecycle RPCs: Shutdown, health, StopProvider, a deferred ConfigureProvider, state upgrades.

use crate::client::{connected, start_server, trusted_channel, ClientIdentity};
use crate::wire::{
    assert_error_diag, decode_reply, good_config, is_error, mp_bytes, mp_get, mp_keys, mp_object,
    mp_unknown, msgpack,
};
use crate::{within, PRIMARY_TASK_SET};
use ecsx::protocol::plugin::grpc_controller_client::GrpcControllerClient;
use ecsx::protocol::plugin::Empty;
use ecsx::protocol::tfplugin6 as pb;
use rmpv::Value as Mp;
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test]
async fn controller_shutdown_makes_serve_return() {
    let (server, mut client, client_id) = connected().await;
    // A live connection during shutdown, as Terraform has.
    within(
        "GetMetadata",
        client.get_metadata(pb::get_metadata::Request {}),
    )
    .await
    .expect("GetMetadata before shutdown");

    // The controller on its own connection, while the provider connection stays open.
    let mut controller = GrpcControllerClient::new(trusted_channel(&server, &client_id).await);
    within("Shutdown", controller.shutdown(Empty {}))
        .await
        .expect("Shutdown");
    let served = tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("serve did not return within 10s of Shutdown")
        .expect("the server task panicked");
    served.expect("serve returned an error");
}

#[tokio::test]
async fn health_service_reports_plugin_serving() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let client_id = ClientIdentity::terraform_like();
    let server = start_server(&client_id).await;
    let mut health = HealthClient::new(trusted_channel(&server, &client_id).await);
    let resp = within(
        "Health/Check plugin",
        health.check(HealthCheckRequest {
            service: "plugin".into(),
        }),
    )
    .await
    .expect("Health/Check")
    .into_inner();
    assert_eq!(
        ServingStatus::try_from(resp.status),
        Ok(ServingStatus::Serving)
    );
    // The control: a service nobody registered is not reported as serving.
    let other = within(
        "Health/Check other",
        health.check(HealthCheckRequest {
            service: "no.such.Service".into(),
        }),
    )
    .await;
    match other {
        Err(status) => assert_eq!(status.code(), tonic::Code::NotFound),
        Ok(resp) => panic!("unknown service reported as {:?}", resp.into_inner()),
    }
}

#[tokio::test]
async fn stop_provider_returns_promptly_without_error() {
    let (_server, mut client, _) = connected().await;
    let resp = tokio::time::timeout(
        Duration::from_secs(3),
        client.stop_provider(pb::stop_provider::Request {}),
    )
    .await
    .expect("StopProvider took longer than 3s")
    .expect("StopProvider")
    .into_inner();
    assert_eq!(resp.error, "");
    // Stopping cancels in-flight work; it does not stop the server answering.
    within(
        "GetMetadata after StopProvider",
        client.get_metadata(pb::get_metadata::Request {}),
    )
    .await
    .expect("GetMetadata after StopProvider");
}

#[tokio::test]
async fn configure_with_unknown_region_defers_and_plans_still_work() {
    let (_server, mut client, _) = connected().await;
    let config = mp_object(&[
        ("region", mp_unknown()),
        ("profile", Mp::Nil),
        ("shared_config_files", Mp::Nil),
        ("shared_credentials_files", Mp::Nil),
        ("max_retries", Mp::Nil),
        ("assume_role", Mp::Array(vec![])),
        ("endpoints", Mp::Array(vec![])),
    ]);
    let resp = within(
        "ConfigureProvider",
        client.configure_provider(pb::configure_provider::Request {
            terraform_version: "1.15.5".into(),
            config: msgpack(mp_bytes(&config)),
            client_capabilities: None,
        }),
    )
    .await
    .expect("ConfigureProvider")
    .into_inner();
    assert!(
        !resp.diagnostics.iter().any(is_error),
        "{:#?}",
        resp.diagnostics
    );

    // With the configuration deferred, a create plan still answers, with unknown computed values.
    let plan = within(
        "PlanResourceChange",
        client.plan_resource_change(pb::plan_resource_change::Request {
            type_name: PRIMARY_TASK_SET.into(),
            prior_state: msgpack(mp_bytes(&Mp::Nil)),
            proposed_new_state: msgpack(mp_bytes(&good_config())),
            config: msgpack(mp_bytes(&good_config())),
            prior_private: vec![],
            provider_meta: None,
            client_capabilities: None,
            prior_identity: None,
        }),
    )
    .await
    .expect("PlanResourceChange")
    .into_inner();
    assert!(
        !plan.diagnostics.iter().any(is_error),
        "{:#?}",
        plan.diagnostics
    );
    let planned = decode_reply(plan.planned_state.as_ref());
    assert_eq!(mp_get(&planned, "cluster"), &Mp::from("prod"));
    assert_eq!(mp_get(&planned, "wait_for_steady_state"), &Mp::from(false));
    assert!(
        matches!(mp_get(&planned, "id"), Mp::Ext(0, _)),
        "id should be unknown on create: {planned}"
    );
}

#[tokio::test]
async fn upgrade_resource_state_fills_every_schema_attribute() {
    let (_server, mut client, _) = connected().await;
    let raw = br#"{"cluster":"prod","service":"web","task_set":"ecs-svc/1","attribute_from_the_past":"x"}"#;
    let resp = within(
        "UpgradeResourceState",
        client.upgrade_resource_state(pb::upgrade_resource_state::Request {
            type_name: PRIMARY_TASK_SET.into(),
            version: 0,
            raw_state: Some(pb::RawState {
                json: raw.to_vec(),
                flatmap: Default::default(),
            }),
        }),
    )
    .await
    .expect("UpgradeResourceState")
    .into_inner();
    assert!(
        !resp.diagnostics.iter().any(is_error),
        "{:#?}",
        resp.diagnostics
    );
    let state = decode_reply(resp.upgraded_state.as_ref());
    let want: BTreeSet<String> = [
        "cluster",
        "service",
        "task_set",
        "wait_for_steady_state",
        "id",
        "task_set_arn",
        "task_set_id",
        "task_definition",
        "previous_task_set_id",
        "timeouts",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(mp_keys(&state), want);
    assert_eq!(mp_get(&state, "cluster"), &Mp::from("prod"));
    assert_eq!(mp_get(&state, "task_set_arn"), &Mp::Nil);
    assert_eq!(mp_get(&state, "timeouts"), &Mp::Array(vec![]));

    // State written by a newer schema version is refused, not silently reshaped.
    let newer = within(
        "UpgradeResourceState from the future",
        client.upgrade_resource_state(pb::upgrade_resource_state::Request {
            type_name: PRIMARY_TASK_SET.into(),
            version: 99,
            raw_state: Some(pb::RawState {
                json: raw.to_vec(),
                flatmap: Default::default(),
            }),
        }),
    )
    .await
    .expect("UpgradeResourceState")
    .into_inner();
    assert_error_diag("UpgradeResourceState version 99", &newer.diagnostics);
}

/// `protocol::serve_service` serves any `tfplugin6.Provider` implementation with the same
/// transport as `serve` (TLS, the controller, health): the bench's no-op provider relies on it.
#[tokio::test]
async fn serve_service_serves_a_given_provider_service_until_shutdown() {
    use ecsx::protocol::{server, tls};
    use ecsx::provider::Provider;
    use std::net::{Ipv4Addr, SocketAddr};
    use std::sync::Arc;

    let client_id = ClientIdentity::terraform_like();
    let identity = tls::ServerIdentity::generate().expect("server identity");
    let config = tls::server_config(&identity, client_id.cert.clone()).expect("server TLS config");
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let service = server::ProviderService::new(Arc::new(Provider::new()));
    let task = tokio::spawn(ecsx::protocol::serve_service(listener, config, service));
    let server = crate::client::TestServer {
        addr,
        cert: identity.cert_der.clone(),
        task,
    };
    let channel = trusted_channel(&server, &client_id).await;
    let mut client = pb::provider_client::ProviderClient::new(channel);
    let meta = within(
        "GetMetadata",
        client.get_metadata(pb::get_metadata::Request {}),
    )
    .await
    .expect("GetMetadata")
    .into_inner();
    assert!(meta
        .resources
        .iter()
        .any(|r| r.type_name == "ecsx_canary_deployment"));
    let mut controller = GrpcControllerClient::new(trusted_channel(&server, &client_id).await);
    within("Shutdown", controller.shutdown(Empty {}))
        .await
        .expect("Shutdown");
    tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("serve_service did not return within 10s of Shutdown")
        .expect("the server task panicked")
        .expect("serve_service returned an error");
}
