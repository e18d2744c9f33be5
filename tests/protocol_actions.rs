//! In-process gRPC tests of provider actions (tfplugin6 ValidateActionConfig, PlanAction and
//! streaming InvokeAction) with a test-only action, and the schemas of ecsx's own actions
//! (their behaviour is tested through Terraform in tests/e2e_progressive.rs).

use async_trait::async_trait;
use ecsx::diag::{AttrPath, Diagnostics};
use ecsx::framework::{Action, Ctx, Progress};
use ecsx::protocol::codec;
use ecsx::protocol::server::ProviderService;
use ecsx::protocol::tfplugin6 as pb;
use ecsx::protocol::tfplugin6::provider_client::ProviderClient;
use ecsx::provider::Provider;
use ecsx::schema::{Attribute, Block, Schema, Type, Validator};
use ecsx::value::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::transport::Channel;

const STEP: Duration = Duration::from_secs(30);

/// Counts to `to`, one progress line per step; fails at `fail_at`.
struct CountAction;

#[async_trait]
impl Action for CountAction {
    fn type_name(&self) -> &'static str {
        "ecsx_test_count"
    }

    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: Block::new("Counts.")
                .attr(
                    Attribute::required("to", Type::Number, "Last number.")
                        .check(Validator::IntRange(1, 10)),
                )
                .attr(Attribute::optional("fail_at", Type::Number, "Fail here.")),
        }
    }

    fn validate(&self, config: &Value, diags: &mut Diagnostics) {
        if let (Some(to), Some(fail)) = (config.get("to").as_i64(), config.get("fail_at").as_i64())
        {
            if fail > to {
                diags.error_at(
                    AttrPath::attr("fail_at"),
                    "Never reached",
                    format!("fail_at {fail} is past to {to}."),
                );
            }
        }
    }

    async fn plan(&self, ctx: Option<&Ctx>, _config: &Value, diags: &mut Diagnostics) {
        if ctx.is_none() {
            diags.warning("Provider configuration unknown", "Checked at invoke.");
        }
    }

    async fn invoke(
        &self,
        _ctx: &Ctx,
        config: &Value,
        progress: &Progress,
        diags: &mut Diagnostics,
    ) {
        let to = config.get("to").as_i64().unwrap_or(0);
        let fail_at = config.get("fail_at").as_i64();
        for n in 1..=to {
            if Some(n) == fail_at {
                diags.error("Count failed", format!("stopped at {n}"));
                return;
            }
            if !progress.say(format!("counted {n}")).await {
                return;
            }
        }
    }
}

async fn connected(provider: Provider) -> (tokio::task::JoinHandle<()>, ProviderClient<Channel>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let svc = pb::provider_server::ProviderServer::new(ProviderService::new(Arc::new(provider)));
    let server = tokio::spawn(async move {
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
    (server, ProviderClient::new(channel))
}

fn dv(v: &Value) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: codec::to_msgpack(v),
        json: vec![],
    })
}

fn count(to: i64, fail_at: Option<i64>) -> Value {
    Value::object([
        ("to", Value::from(to)),
        ("fail_at", fail_at.map(Value::from).unwrap_or(Value::Null)),
    ])
}

fn summaries(d: &[pb::Diagnostic]) -> Vec<(i32, String)> {
    d.iter().map(|x| (x.severity, x.summary.clone())).collect()
}

const ERROR: i32 = pb::diagnostic::Severity::Error as i32;
const WARNING: i32 = pb::diagnostic::Severity::Warning as i32;

async fn configure(client: &mut ProviderClient<Channel>, region: Value) {
    let r = tokio::time::timeout(
        STEP,
        client.configure_provider(pb::configure_provider::Request {
            terraform_version: "1.15.5".into(),
            config: dv(&Value::object([
                ("region", region),
                ("max_retries", Value::from(0i64)),
            ])),
            client_capabilities: None,
        }),
    )
    .await
    .expect("ConfigureProvider answers")
    .expect("ConfigureProvider")
    .into_inner();
    assert!(
        r.diagnostics.iter().all(|d| d.severity != ERROR),
        "{:#?}",
        r.diagnostics
    );
}

#[tokio::test]
async fn ecsx_serves_the_continue_and_abort_actions_and_refuses_unknown_ones() {
    let (_server, mut client) = connected(Provider::new()).await;
    let schema = client
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .expect("GetProviderSchema")
        .into_inner();
    let mut names: Vec<&str> = schema.action_schemas.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "ecsx_canary_abort",
            "ecsx_canary_continue",
            "ecsx_service_deployment_continue",
            "ecsx_service_deployment_rollback",
            "ecsx_service_deployment_stop",
        ]
    );
    // Each canary action takes the whole deployment resource as its `deployment` attribute.
    let resource = &schema.resource_schemas["ecsx_canary_deployment"];
    for &name in names.iter().filter(|n| n.starts_with("ecsx_canary_")) {
        let block = schema.action_schemas[name]
            .schema
            .as_ref()
            .and_then(|s| s.block.as_ref())
            .expect("action block");
        let deployment = block
            .attributes
            .iter()
            .find(|a| a.name == "deployment")
            .expect("deployment attribute");
        assert!(deployment.required, "{name}.deployment is required");
        let ty: serde_json::Value = serde_json::from_slice(&deployment.r#type).expect("type");
        let fields = ty[1].as_object().expect("an object type");
        let block = resource.block.as_ref().expect("resource block");
        for a in &block.attributes {
            assert!(
                fields.contains_key(&a.name),
                "{name}.deployment lacks {}",
                a.name
            );
        }
        for b in &block.block_types {
            assert_eq!(
                fields[&b.type_name][0], "list",
                "{name}.deployment.{}",
                b.type_name
            );
        }
    }
    let meta = client
        .get_metadata(pb::get_metadata::Request {})
        .await
        .expect("GetMetadata")
        .into_inner();
    assert_eq!(meta.actions.len(), 5);
    let r = client
        .validate_action_config(pb::validate_action_config::Request {
            type_name: "ecsx_test_count".into(),
            config: dv(&count(1, None)),
        })
        .await
        .expect("ValidateActionConfig")
        .into_inner();
    assert_eq!(
        summaries(&r.diagnostics),
        [(ERROR, "Unknown action type".into())]
    );
}

#[tokio::test]
async fn a_test_action_is_served_validated_planned_and_invoked_with_progress() {
    let (_server, mut client) =
        connected(Provider::with_actions(vec![Arc::new(CountAction)])).await;

    let schema = client
        .get_provider_schema(pb::get_provider_schema::Request {})
        .await
        .expect("GetProviderSchema")
        .into_inner();
    let action = schema
        .action_schemas
        .get("ecsx_test_count")
        .and_then(|a| a.schema.as_ref())
        .and_then(|s| s.block.as_ref())
        .expect("the action's schema");
    assert!(action
        .attributes
        .iter()
        .any(|a| a.name == "to" && a.required));
    let meta = client
        .get_metadata(pb::get_metadata::Request {})
        .await
        .expect("GetMetadata")
        .into_inner();
    assert_eq!(meta.actions[0].type_name, "ecsx_test_count");

    // Validation: the schema's validators and the action's own rule, with paths.
    for (config, want) in [
        (count(3, None), vec![]),
        (count(11, None), vec!["to"]),
        (count(3, Some(5)), vec!["fail_at"]),
    ] {
        let r = client
            .validate_action_config(pb::validate_action_config::Request {
                type_name: "ecsx_test_count".into(),
                config: dv(&config),
            })
            .await
            .expect("ValidateActionConfig")
            .into_inner();
        let paths: Vec<String> = r
            .diagnostics
            .iter()
            .filter(|d| d.severity == ERROR)
            .map(|d| {
                d.attribute
                    .as_ref()
                    .and_then(|p| p.steps.first())
                    .and_then(|s| match &s.selector {
                        Some(pb::attribute_path::step::Selector::AttributeName(n)) => {
                            Some(n.clone())
                        }
                        _ => None,
                    })
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(paths, want, "{config:?}");
    }

    // Before ConfigureProvider, plan and invoke say so instead of failing the stream.
    let plan = |config: Value| pb::plan_action::Request {
        action_type: "ecsx_test_count".into(),
        config: dv(&config),
        client_capabilities: None,
    };
    let r = client
        .plan_action(plan(count(2, None)))
        .await
        .expect("PlanAction")
        .into_inner();
    assert_eq!(
        summaries(&r.diagnostics),
        [(ERROR, "Provider not configured".into())]
    );

    // With the configuration unknown, the plan still runs.
    configure(&mut client, Value::Unknown).await;
    let r = client
        .plan_action(plan(count(2, None)))
        .await
        .expect("PlanAction")
        .into_inner();
    assert_eq!(
        summaries(&r.diagnostics),
        [(WARNING, "Provider configuration unknown".into())]
    );

    // Invoke needs a configured provider; region only (no AWS call is made).
    configure(&mut client, Value::from("us-east-1")).await;
    let invoke = |config: Value| pb::invoke_action::Request {
        action_type: "ecsx_test_count".into(),
        config: dv(&config),
        client_capabilities: None,
    };
    for (config, progress, outcome) in [
        (
            count(3, None),
            vec!["counted 1", "counted 2", "counted 3"],
            vec![],
        ),
        (
            count(3, Some(2)),
            vec!["counted 1"],
            vec![(ERROR, "Count failed".to_string())],
        ),
    ] {
        let mut stream = client
            .invoke_action(invoke(config.clone()))
            .await
            .expect("InvokeAction")
            .into_inner();
        let mut lines = vec![];
        let mut completed = None;
        while let Some(e) = tokio::time::timeout(STEP, stream.message())
            .await
            .expect("an InvokeAction event in time")
            .expect("InvokeAction stream")
        {
            assert!(completed.is_none(), "an event after Completed: {e:?}");
            match e.r#type {
                Some(pb::invoke_action::event::Type::Progress(p)) => lines.push(p.message),
                Some(pb::invoke_action::event::Type::Completed(c)) => {
                    completed = Some(summaries(&c.diagnostics))
                }
                None => panic!("an empty event"),
            }
        }
        assert_eq!(lines, progress, "{config:?}");
        assert_eq!(completed, Some(outcome), "{config:?}");
    }

    // An unknown action completes at once with an error.
    let mut stream = client
        .invoke_action(pb::invoke_action::Request {
            action_type: "ecsx_nope".into(),
            config: dv(&Value::Null),
            client_capabilities: None,
        })
        .await
        .expect("InvokeAction")
        .into_inner();
    let e = stream.message().await.expect("stream").expect("one event");
    match e.r#type {
        Some(pb::invoke_action::event::Type::Completed(c)) => {
            assert_eq!(
                summaries(&c.diagnostics),
                [(ERROR, "Unknown action type".into())]
            )
        }
        other => panic!("expected Completed, got {other:?}"),
    }
}
