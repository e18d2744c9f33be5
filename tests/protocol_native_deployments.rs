//! In-process gRPC tests of the native deployment actions and data source against the rig's
//! emulator: ValidateActionConfig, PlanAction refusals with their attribute paths, the
//! streaming InvokeAction of a continue, and ReadDataSource of a paused deployment.

mod common;

use common::{fast_native_stages, Aws, Emulator, Infra};
use ecsx::protocol::codec;
use ecsx::protocol::server::ProviderService;
use ecsx::protocol::tfplugin6 as pb;
use ecsx::protocol::tfplugin6::provider_client::ProviderClient;
use ecsx::provider::Provider;
use ecsx::value::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::transport::Channel;

const STEP: Duration = Duration::from_secs(60);
const ERROR: i32 = pb::diagnostic::Severity::Error as i32;
const SERVICE: &str = "native";

async fn connected() -> ProviderClient<Channel> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let svc =
        pb::provider_server::ProviderServer::new(ProviderService::new(Arc::new(Provider::new())));
    tokio::spawn(async move {
        let _ = tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await;
    });
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    ProviderClient::new(channel)
}

fn dv(v: &Value) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: codec::to_msgpack(v),
        json: vec![],
    })
}

/// The provider against the emulator, with the rig's dummy credentials.
async fn configure(client: &mut ProviderClient<Channel>, emu: &Emulator) {
    for (k, v) in [
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ("ECSX_POLL_INTERVAL", "100ms"),
    ] {
        // Each test runs in a process of its own (nextest), before any other thread reads these.
        std::env::set_var(k, v);
    }
    let endpoint = Value::from(emu.endpoint());
    let endpoints = Value::List(vec![Value::object([
        ("ecs", endpoint.clone()),
        ("elbv2", endpoint.clone()),
        ("sts", endpoint.clone()),
        ("cloudwatch", endpoint),
    ])]);
    let r = client
        .configure_provider(pb::configure_provider::Request {
            terraform_version: "1.15.5".into(),
            config: dv(&Value::object([
                ("region", Value::from("us-east-1")),
                ("max_retries", Value::from(0i64)),
                ("endpoints", endpoints),
            ])),
            client_capabilities: None,
        })
        .await
        .expect("ConfigureProvider")
        .into_inner();
    assert!(
        r.diagnostics.iter().all(|d| d.severity != ERROR),
        "{:#?}",
        r.diagnostics
    );
}

fn target(cluster: &str, extra: &[(&str, Value)]) -> Value {
    let mut v = Value::object([
        ("cluster", Value::from(cluster)),
        ("service", Value::from(SERVICE)),
        ("hook_id", Value::Null),
        ("timeout", Value::Null),
    ]);
    for (k, x) in extra {
        v.set(k, x.clone());
    }
    v
}

/// (summary, first attribute name of the path) of each error.
fn errors(d: &[pb::Diagnostic]) -> Vec<(String, String)> {
    d.iter()
        .filter(|x| x.severity == ERROR)
        .map(|x| {
            let path = x
                .attribute
                .as_ref()
                .and_then(|p| p.steps.first())
                .and_then(|s| match &s.selector {
                    Some(pb::attribute_path::step::Selector::AttributeName(n)) => Some(n.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            (x.summary.clone(), path)
        })
        .collect()
}

async fn plan(
    client: &mut ProviderClient<Channel>,
    action: &str,
    config: &Value,
) -> Vec<(String, String)> {
    let r = client
        .plan_action(pb::plan_action::Request {
            action_type: action.into(),
            config: dv(config),
            client_capabilities: None,
        })
        .await
        .expect("PlanAction")
        .into_inner();
    errors(&r.diagnostics)
}

/// The progress lines and the final errors of one InvokeAction.
async fn invoke(
    client: &mut ProviderClient<Channel>,
    action: &str,
    config: &Value,
) -> (Vec<String>, Vec<(String, String)>) {
    let mut stream = client
        .invoke_action(pb::invoke_action::Request {
            action_type: action.into(),
            config: dv(config),
            client_capabilities: None,
        })
        .await
        .expect("InvokeAction")
        .into_inner();
    let (mut lines, mut end) = (vec![], None);
    while let Some(e) = tokio::time::timeout(STEP, stream.message())
        .await
        .expect("an InvokeAction event in time")
        .expect("InvokeAction stream")
    {
        match e.r#type {
            Some(pb::invoke_action::event::Type::Progress(p)) => lines.push(p.message),
            Some(pb::invoke_action::event::Type::Completed(c)) => {
                end = Some(errors(&c.diagnostics))
            }
            None => panic!("an empty event"),
        }
    }
    (lines, end.expect("a Completed event"))
}

#[tokio::test]
async fn validate_plan_and_invoke_over_the_wire() {
    let emu = Emulator::start();
    fast_native_stages(&emu);
    let infra = Infra::create(&emu, "natp");
    let aws = Aws::connect(&emu).await;
    aws.create_native_canary_service(&infra, SERVICE, 2).await;
    let mut client = connected().await;
    configure(&mut client, &emu).await;
    let cluster = infra.cluster.as_str();

    // Validation: stop_type and timeout are checked by the schema, at their paths.
    let r = client
        .validate_action_config(pb::validate_action_config::Request {
            type_name: "ecsx_service_deployment_stop".into(),
            config: dv(&Value::object([
                ("cluster", Value::from(cluster)),
                ("service", Value::from(SERVICE)),
                ("service_deployment_arn", Value::Null),
                ("stop_type", Value::from("PAUSE")),
                ("timeout", Value::from("soon")),
            ])),
        })
        .await
        .expect("ValidateActionConfig")
        .into_inner();
    let paths: Vec<String> = errors(&r.diagnostics).into_iter().map(|e| e.1).collect();
    assert_eq!(paths, ["stop_type", "timeout"]);

    // Nothing in progress: refused at plan, at `service`.
    assert_eq!(
        plan(
            &mut client,
            "ecsx_service_deployment_continue",
            &target(cluster, &[])
        )
        .await,
        [(
            "No service deployment in progress".to_string(),
            "service".to_string()
        )]
    );
    // An unknown service: at `service` too.
    let mut unknown = target(cluster, &[]);
    unknown.set("service", Value::from("nope"));
    assert_eq!(
        plan(&mut client, "ecsx_service_deployment_rollback", &unknown).await,
        [("ECS service not found".to_string(), "service".to_string())]
    );

    // Two hooks wait: refused at `hook_id`; naming one plans cleanly.
    let d = aws
        .release_native(cluster, SERVICE, &infra.task_definitions[1])
        .await;
    let hooks: Vec<String> = d
        .lifecycle_hook_details()
        .iter()
        .filter_map(|h| h.hook_id().map(str::to_string))
        .collect();
    assert_eq!(
        plan(
            &mut client,
            "ecsx_service_deployment_continue",
            &target(cluster, &[])
        )
        .await,
        [(
            "More than one lifecycle hook waits".to_string(),
            "hook_id".to_string()
        )]
    );
    let first = target(cluster, &[("hook_id", Value::from(hooks[0].as_str()))]);
    assert_eq!(
        plan(&mut client, "ecsx_service_deployment_continue", &first).await,
        []
    );

    // The data source shows both waiting hooks and the deployment in progress.
    let r = client
        .read_data_source(pb::read_data_source::Request {
            type_name: "ecsx_service_deployments".into(),
            config: dv(&Value::object([
                ("cluster", Value::from(cluster)),
                ("service", Value::from(SERVICE)),
                ("max_deployments", Value::Null),
                ("id", Value::Unknown),
                ("deployments", Value::Unknown),
                ("waiting_hooks", Value::Unknown),
                ("in_progress_deployment_arn", Value::Unknown),
            ])),
            provider_meta: None,
            client_capabilities: None,
        })
        .await
        .expect("ReadDataSource")
        .into_inner();
    assert!(errors(&r.diagnostics).is_empty(), "{:#?}", r.diagnostics);
    let state = codec::from_msgpack(&r.state.as_ref().expect("state").msgpack).expect("decodes");
    let arn = d.service_deployment_arn().unwrap_or_default();
    assert_eq!(state.get("in_progress_deployment_arn").as_str(), Some(arn));
    let waiting: Vec<&str> = state
        .get("waiting_hooks")
        .as_list()
        .iter()
        .filter_map(|h| h.get("hook_id").as_str())
        .collect();
    assert_eq!(waiting, [hooks[0].as_str(), hooks[1].as_str()]);
    assert_eq!(state.get("deployments").as_list().len(), 2);

    // Continue the first: the stream reports the release and stops at the hook still waiting.
    let (lines, end) = invoke(&mut client, "ecsx_service_deployment_continue", &first).await;
    assert_eq!(end, [], "{lines:#?}");
    assert!(
        lines[0].starts_with(&format!(
            "CONTINUE at PRE_PRODUCTION_TRAFFIC_SHIFT of service deployment {arn}: hook {}",
            hooks[0]
        )),
        "{lines:#?}"
    );
    assert!(
        lines.last().is_some_and(|l| l.contains(&format!(
            "paused again at PRE_PRODUCTION_TRAFFIC_SHIFT: hook {}",
            hooks[1]
        ))),
        "{lines:#?}"
    );
    // The same configuration again: that hook no longer waits, refused before any call.
    let (_, end) = invoke(&mut client, "ecsx_service_deployment_continue", &first).await;
    assert_eq!(
        end,
        [(
            "Lifecycle hook does not wait".to_string(),
            "hook_id".to_string()
        )]
    );
}
