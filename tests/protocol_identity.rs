//! In-process gRPC tests of resource identity, list resources and config generation: the
//! tfplugin6 RPCs Terraform 1.12+ (identity) and 1.14+ (`terraform query`) call, served by tonic
//! on a local socket, against the emulator where AWS is involved.

mod common;

use common::{Aws, Emulator, Infra, REGION};
use ecsx::protocol::codec;
use ecsx::protocol::server::ProviderService;
use ecsx::protocol::tfplugin6 as pb;
use ecsx::protocol::tfplugin6::provider_client::ProviderClient;
use ecsx::provider::Provider;
use ecsx::value::Value;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tonic::transport::Channel;

const PRIMARY: &str = "ecsx_primary_task_set";
const CANARY: &str = "ecsx_canary_deployment";
/// The account moto puts in every ARN.
const ACCOUNT: &str = "123456789012";

/// The longest any single step may take before the test fails instead of hanging.
const STEP: Duration = Duration::from_secs(60);

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: no answer within {STEP:?}"),
    }
}

/// The provider service on a plaintext local socket (TLS is tests/protocol.rs's concern) and a
/// client connected to it.
async fn connected() -> (tokio::task::JoinHandle<()>, ProviderClient<Channel>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let svc =
        pb::provider_server::ProviderServer::new(ProviderService::new(Arc::new(Provider::new())));
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

fn undv(d: Option<&pb::DynamicValue>) -> Value {
    let d = d.expect("a DynamicValue");
    if d.msgpack.is_empty() {
        codec::from_json(&d.json).expect("json")
    } else {
        codec::from_msgpack(&d.msgpack).expect("msgpack")
    }
}

fn id_data(v: &Value) -> Option<pb::ResourceIdentityData> {
    Some(pb::ResourceIdentityData {
        identity_data: dv(v),
    })
}

fn id_value(d: Option<&pb::ResourceIdentityData>) -> Value {
    undv(d.and_then(|i| i.identity_data.as_ref()))
}

fn errors(d: &[pb::Diagnostic]) -> Vec<&pb::Diagnostic> {
    d.iter()
        .filter(|x| x.severity == pb::diagnostic::Severity::Error as i32)
        .collect()
}

fn warnings(d: &[pb::Diagnostic]) -> Vec<&pb::Diagnostic> {
    d.iter()
        .filter(|x| x.severity == pb::diagnostic::Severity::Warning as i32)
        .collect()
}

fn path_of(d: &pb::Diagnostic) -> String {
    use pb::attribute_path::step::Selector;
    d.attribute
        .as_ref()
        .map(|p| {
            p.steps
                .iter()
                .map(|s| match &s.selector {
                    Some(Selector::AttributeName(n)) => n.clone(),
                    Some(Selector::ElementKeyString(k)) => format!("[{k:?}]"),
                    Some(Selector::ElementKeyInt(i)) => format!("[{i}]"),
                    None => "?".into(),
                })
                .collect::<Vec<_>>()
                .join(".")
        })
        .unwrap_or_default()
}

fn identity(cluster: &str, service: &str) -> Value {
    Value::object([
        ("account_id", Value::Null),
        ("region", Value::Null),
        ("cluster", Value::from(cluster)),
        ("service", Value::from(service)),
    ])
}

/// Configures the provider against the emulator with dummy credentials.
async fn configure(client: &mut ProviderClient<Channel>, emu: &Emulator) {
    static CREDENTIALS: std::sync::Once = std::sync::Once::new();
    CREDENTIALS.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", "test");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    });
    let config = Value::object([
        ("region", Value::from(REGION)),
        ("max_retries", Value::from(1i64)),
        (
            "endpoints",
            Value::List(vec![Value::object([
                ("ecs", Value::from(emu.endpoint())),
                ("elbv2", Value::from(emu.endpoint())),
                ("sts", Value::from(emu.endpoint())),
            ])]),
        ),
    ]);
    let r = within(
        "ConfigureProvider",
        client.configure_provider(pb::configure_provider::Request {
            terraform_version: "1.15.5".into(),
            config: dv(&config),
            client_capabilities: None,
        }),
    )
    .await
    .expect("ConfigureProvider")
    .into_inner();
    assert!(errors(&r.diagnostics).is_empty(), "{:#?}", r.diagnostics);
}

/// Drains a ListResource stream.
async fn list(
    client: &mut ProviderClient<Channel>,
    type_name: &str,
    config: Value,
    include: bool,
    limit: i64,
) -> Vec<pb::list_resource::Event> {
    let mut stream = within(
        "ListResource",
        client.list_resource(pb::list_resource::Request {
            type_name: type_name.into(),
            config: dv(&config),
            include_resource_object: include,
            limit,
        }),
    )
    .await
    .expect("ListResource")
    .into_inner();
    let mut events = vec![];
    while let Some(e) = within("ListResource event", stream.message())
        .await
        .expect("ListResource stream")
    {
        events.push(e);
    }
    events
}

fn list_config(cluster: &str) -> Value {
    Value::object([
        ("cluster", Value::from(cluster)),
        ("service_name_prefix", Value::Null),
        ("tags", Value::Null),
    ])
}

// ---------------------------------------------------------------------------------------------
// Schemas and capabilities
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn identity_and_list_schemas_are_served() {
    let (_server, mut client) = connected().await;
    let ids = within(
        "GetResourceIdentitySchemas",
        client.get_resource_identity_schemas(pb::get_resource_identity_schemas::Request {}),
    )
    .await
    .expect("GetResourceIdentitySchemas")
    .into_inner();
    assert!(ids.diagnostics.is_empty(), "{:#?}", ids.diagnostics);
    for type_name in [PRIMARY, CANARY] {
        let s = ids
            .identity_schemas
            .get(type_name)
            .unwrap_or_else(|| panic!("identity schema of {type_name}"));
        assert_eq!(s.version, 0);
        let attrs: Vec<(&str, bool, bool, &[u8])> = s
            .identity_attributes
            .iter()
            .map(|a| {
                (
                    a.name.as_str(),
                    a.required_for_import,
                    a.optional_for_import,
                    a.r#type.as_slice(),
                )
            })
            .collect();
        assert_eq!(
            attrs,
            [
                ("account_id", false, true, &b"\"string\""[..]),
                ("region", false, true, &b"\"string\""[..]),
                ("cluster", true, false, &b"\"string\""[..]),
                ("service", true, false, &b"\"string\""[..]),
            ],
            "{type_name}"
        );
        assert!(s
            .identity_attributes
            .iter()
            .all(|a| !a.description.is_empty()));
    }
    assert!(!ids.identity_schemas.contains_key("ecsx_task_sets"));

    let schema = within(
        "GetProviderSchema",
        client.get_provider_schema(pb::get_provider_schema::Request {}),
    )
    .await
    .expect("GetProviderSchema")
    .into_inner();
    let mut listed: Vec<&String> = schema.list_resource_schemas.keys().collect();
    listed.sort();
    assert_eq!(listed, [CANARY, PRIMARY]);
    for (name, s) in &schema.list_resource_schemas {
        let block = s.block.as_ref().expect("list block");
        let attr = |n: &str| {
            block
                .attributes
                .iter()
                .find(|a| a.name == n)
                .unwrap_or_else(|| panic!("{name}: list attribute {n}"))
        };
        assert!(attr("cluster").required, "{name}");
        assert!(attr("service_name_prefix").optional, "{name}");
        assert_eq!(attr("tags").r#type, br#"["map","string"]"#, "{name}");
    }
    let caps = schema.server_capabilities.expect("capabilities");
    assert!(caps.generate_resource_config);
    assert!(!caps.plan_destroy);

    let meta = within(
        "GetMetadata",
        client.get_metadata(pb::get_metadata::Request {}),
    )
    .await
    .expect("GetMetadata")
    .into_inner();
    let mut names: Vec<&str> = meta
        .list_resources
        .iter()
        .map(|m| m.type_name.as_str())
        .collect();
    names.sort();
    assert_eq!(names, [CANARY, PRIMARY]);
}

#[tokio::test]
async fn upgrade_resource_identity_takes_version_zero_and_refuses_others() {
    let (_server, mut client) = connected().await;
    let raw =
        br#"{"cluster":"prod","service":"web","region":"eu-west-1","account_id":"1","extra":1}"#;
    let up = |type_name: &str, version: i64, json: &[u8]| pb::upgrade_resource_identity::Request {
        type_name: type_name.into(),
        version,
        raw_identity: Some(pb::RawState {
            json: json.to_vec(),
            flatmap: Default::default(),
        }),
    };
    for type_name in [PRIMARY, CANARY] {
        let r = within(
            "UpgradeResourceIdentity",
            client.upgrade_resource_identity(up(type_name, 0, raw)),
        )
        .await
        .expect("UpgradeResourceIdentity")
        .into_inner();
        assert!(r.diagnostics.is_empty(), "{:#?}", r.diagnostics);
        assert_eq!(
            id_value(r.upgraded_identity.as_ref()),
            Value::object([
                ("account_id", Value::from("1")),
                ("region", Value::from("eu-west-1")),
                ("cluster", Value::from("prod")),
                ("service", Value::from("web")),
            ])
        );
    }
    let cases: [(&str, i64, &[u8], &str); 4] = [
        (PRIMARY, 1, raw, "Unsupported identity version"),
        (PRIMARY, -1, raw, "Unsupported identity version"),
        (PRIMARY, 0, b"{not json", "Unreadable identity"),
        ("ecsx_task_sets", 0, raw, "Unknown resource type"),
    ];
    for (type_name, version, json, summary) in cases {
        let r = within(
            "UpgradeResourceIdentity",
            client.upgrade_resource_identity(up(type_name, version, json)),
        )
        .await
        .expect("UpgradeResourceIdentity")
        .into_inner();
        let errs = errors(&r.diagnostics);
        assert_eq!(
            errs.len(),
            1,
            "{type_name} v{version}: {:#?}",
            r.diagnostics
        );
        assert_eq!(errs[0].summary, summary);
        assert!(r.upgraded_identity.is_none());
    }
}

#[tokio::test]
async fn validate_list_resource_config_points_at_the_bad_attribute() {
    let (_server, mut client) = connected().await;
    let cases = [
        (list_config("prod"), vec![]),
        (list_config("arn:aws:ecs:us-east-1:1:cluster/prod"), vec![]),
        (Value::object([("cluster", Value::Null)]), vec!["cluster"]),
        (list_config("not a name!"), vec!["cluster"]),
        (
            Value::object([
                ("cluster", Value::from("prod")),
                ("service_name_prefix", Value::from("  ")),
            ]),
            vec!["service_name_prefix"],
        ),
    ];
    for type_name in [PRIMARY, CANARY] {
        for (config, want) in &cases {
            let r = within(
                "ValidateListResourceConfig",
                client.validate_list_resource_config(pb::validate_list_resource_config::Request {
                    type_name: type_name.into(),
                    config: dv(config),
                    include_resource_object: dv(&Value::from(true)),
                    limit: dv(&Value::from(10i64)),
                }),
            )
            .await
            .expect("ValidateListResourceConfig")
            .into_inner();
            let paths: Vec<String> = errors(&r.diagnostics).into_iter().map(path_of).collect();
            assert_eq!(&paths, want, "{type_name} {config:?}: {:#?}", r.diagnostics);
        }
    }
    let r = within(
        "ValidateListResourceConfig",
        client.validate_list_resource_config(pb::validate_list_resource_config::Request {
            type_name: "ecsx_task_sets".into(),
            config: dv(&list_config("prod")),
            include_resource_object: None,
            limit: None,
        }),
    )
    .await
    .expect("ValidateListResourceConfig")
    .into_inner();
    assert_eq!(
        errors(&r.diagnostics)[0].summary,
        "Unknown list resource type"
    );
}

#[tokio::test]
async fn generate_resource_config_keeps_what_a_user_sets() {
    let (_server, mut client) = connected().await;
    let state = Value::object([
        ("cluster", Value::from("prod")),
        ("service", Value::from("web")),
        (
            "task_set",
            Value::from("arn:aws:ecs:us-east-1:1:task-set/prod/web/ecs-svc/1"),
        ),
        ("wait_for_steady_state", Value::from(false)),
        ("id", Value::from("prod/web")),
        (
            "task_set_arn",
            Value::from("arn:aws:ecs:us-east-1:1:task-set/prod/web/ecs-svc/1"),
        ),
        ("task_set_id", Value::from("ecs-svc/1")),
        (
            "task_definition",
            Value::from("arn:aws:ecs:us-east-1:1:task-definition/web:1"),
        ),
        ("previous_task_set_id", Value::Null),
        (
            "timeouts",
            Value::List(vec![Value::object([("create", Value::from("5m"))])]),
        ),
    ]);
    let r = within(
        "GenerateResourceConfig",
        client.generate_resource_config(pb::generate_resource_config::Request {
            type_name: PRIMARY.into(),
            state: dv(&state),
        }),
    )
    .await
    .expect("GenerateResourceConfig")
    .into_inner();
    assert!(r.diagnostics.is_empty(), "{:#?}", r.diagnostics);
    let config = undv(r.config.as_ref());
    assert_eq!(
        config,
        Value::object([
            ("cluster", Value::from("prod")),
            ("service", Value::from("web")),
            ("task_set", state.get("task_set").clone()),
            // At its default: left for Terraform to plan again.
            ("wait_for_steady_state", Value::Null),
            ("id", Value::Null),
            ("task_set_arn", Value::Null),
            ("task_set_id", Value::Null),
            ("task_definition", Value::Null),
            ("previous_task_set_id", Value::Null),
            ("timeouts", Value::List(vec![])),
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// Against the emulator: listing, import by identity, identity through Read and Plan
// ---------------------------------------------------------------------------------------------

/// A cluster with three EXTERNAL services (`pid-1` has a PRIMARY task set, `pid-2` has one
/// ACTIVE task set but no PRIMARY, `pid-3` nothing) and one ECS-controller service `pid-ecs`.
async fn cluster_to_adopt(emu: &Emulator) -> (Infra, Aws) {
    let infra = Infra::create_n(emu, "pid", 3);
    let aws = Aws::connect(emu).await;
    let ts = aws
        .create_task_set(&infra, &infra.services[0], &infra.task_definitions[0])
        .await;
    aws.set_primary(&infra.cluster, &infra.services[0], &ts.arn)
        .await;
    aws.create_task_set(&infra, &infra.services[1], &infra.task_definitions[0])
        .await;
    aws.create_ecs_controller_service(&infra, "pid-ecs").await;
    (infra, aws)
}

#[tokio::test]
async fn list_primary_task_sets_finds_the_adoptable_and_explains_the_rest() {
    let emu = Emulator::start();
    let (infra, aws) = cluster_to_adopt(&emu).await;
    let primary = aws
        .primary_arn(&infra.cluster, &infra.services[0])
        .await
        .expect("pid-1 has a PRIMARY");
    let (_server, mut client) = connected().await;
    configure(&mut client, &emu).await;

    let events = list(&mut client, PRIMARY, list_config(&infra.cluster), true, 100).await;
    let found: Vec<&pb::list_resource::Event> =
        events.iter().filter(|e| e.identity.is_some()).collect();
    assert_eq!(found.len(), 1, "{events:#?}");
    let e = found[0];
    assert!(e.diagnostic.is_empty(), "{:#?}", e.diagnostic);
    assert_eq!(
        id_value(e.identity.as_ref()),
        Value::object([
            ("account_id", Value::from(ACCOUNT)),
            ("region", Value::from(REGION)),
            ("cluster", Value::from(infra.cluster.as_str())),
            ("service", Value::from("pid-1")),
        ])
    );
    assert!(
        e.display_name.starts_with("pid-1: PRIMARY pid:1 (ecs-svc/"),
        "{}",
        e.display_name
    );
    let state = undv(e.resource_object.as_ref());
    assert_eq!(state.get("task_set").as_str(), Some(primary.as_str()));
    assert_eq!(state.get("id").as_str(), Some("pid/pid-1"));

    // Each service left out is a warning without identity that names it and the reason.
    let skipped: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.identity.is_none())
        .flat_map(|e| warnings(&e.diagnostic))
        .map(|d| (d.summary.clone(), d.detail.clone()))
        .collect();
    assert_eq!(skipped.len(), 3, "{events:#?}");
    let reason = |svc: &str| {
        skipped
            .iter()
            .find(|(s, _)| s == &format!("Service {svc} cannot be adopted"))
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| panic!("no warning for {svc}: {skipped:#?}"))
    };
    assert!(
        reason("pid-2").contains("no PRIMARY task set"),
        "{}",
        reason("pid-2")
    );
    assert!(reason("pid-3").contains("no PRIMARY task set"));
    assert!(
        reason("pid-ecs").contains("ECS deployment controller"),
        "{}",
        reason("pid-ecs")
    );
    assert!(events.iter().all(|e| errors(&e.diagnostic).is_empty()));

    // Without include_resource_object, no object; a prefix narrows the services read.
    let events = list(
        &mut client,
        PRIMARY,
        list_config(&infra.cluster),
        false,
        100,
    )
    .await;
    assert!(events.iter().all(|e| e.resource_object.is_none()));
    let mut cfg = list_config(&infra.cluster);
    cfg.set("service_name_prefix", Value::from("pid-e"));
    let events = list(&mut client, PRIMARY, cfg, true, 100).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert!(events[0].identity.is_none());

    // A tag filter: moto's services carry no tags, so nothing matches.
    let mut cfg = list_config(&infra.cluster);
    cfg.set(
        "tags",
        Value::Map([("team".to_string(), Value::from("payments"))].into()),
    );
    assert!(list(&mut client, PRIMARY, cfg, true, 100).await.is_empty());

    // An unknown cluster is one error at the cluster attribute.
    let events = list(&mut client, PRIMARY, list_config("nope"), true, 100).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let errs = errors(&events[0].diagnostic);
    assert_eq!(errs.len(), 1, "{events:#?}");
    assert_eq!(path_of(errs[0]), "cluster");
}

#[tokio::test]
async fn list_stops_at_the_limit() {
    let emu = Emulator::start();
    let infra = Infra::create_n(&emu, "lim", 3);
    let aws = Aws::connect(&emu).await;
    for svc in &infra.services {
        let ts = aws
            .create_task_set(&infra, svc, &infra.task_definitions[0])
            .await;
        aws.set_primary(&infra.cluster, svc, &ts.arn).await;
    }
    let (_server, mut client) = connected().await;
    configure(&mut client, &emu).await;
    for (limit, want) in [(1, 1), (2, 2), (100, 3), (0, 3)] {
        let events = list(
            &mut client,
            PRIMARY,
            list_config(&infra.cluster),
            false,
            limit,
        )
        .await;
        let names: Vec<&str> = events.iter().map(|e| e.display_name.as_str()).collect();
        assert_eq!(events.len(), want, "limit {limit}: {names:?}");
        assert!(events.iter().all(|e| e.identity.is_some()));
    }
}

#[tokio::test]
async fn import_by_identity_and_identity_through_read_and_plan() {
    let emu = Emulator::start();
    let (infra, _aws) = cluster_to_adopt(&emu).await;
    let (_server, mut client) = connected().await;
    configure(&mut client, &emu).await;
    let import = |identity: Option<Value>, id: &str| pb::import_resource_state::Request {
        type_name: PRIMARY.into(),
        id: id.into(),
        client_capabilities: None,
        identity: identity.as_ref().and_then(id_data),
    };
    let want = Value::object([
        ("account_id", Value::from(ACCOUNT)),
        ("region", Value::from(REGION)),
        ("cluster", Value::from("pid")),
        ("service", Value::from("pid-1")),
    ]);

    // By identity (names only, or with the right account and region) and by id: the same.
    let mut with_all = want.clone();
    with_all.set("cluster", Value::from(infra.cluster_arn.as_str()));
    for (label, req) in [
        ("identity", import(Some(identity("pid", "pid-1")), "")),
        ("full identity", import(Some(with_all), "")),
        ("id", import(None, "pid/pid-1")),
    ] {
        let r = within("ImportResourceState", client.import_resource_state(req))
            .await
            .expect("ImportResourceState")
            .into_inner();
        assert!(
            errors(&r.diagnostics).is_empty(),
            "{label}: {:#?}",
            r.diagnostics
        );
        assert_eq!(r.imported_resources.len(), 1, "{label}");
        let imported = &r.imported_resources[0];
        assert_eq!(id_value(imported.identity.as_ref()), want, "{label}");
        assert_eq!(
            undv(imported.state.as_ref()).get("id").as_str(),
            Some("pid/pid-1")
        );
    }

    // Refusals name the attribute at fault.
    let mut other_account = identity("pid", "pid-1");
    other_account.set("account_id", Value::from("999999999999"));
    let mut other_region = identity("pid", "pid-1");
    other_region.set("region", Value::from("eu-west-1"));
    for (label, id, path, summary) in [
        (
            "account",
            other_account,
            "account_id",
            "Identity in another account",
        ),
        (
            "region",
            other_region,
            "region",
            "Identity in another region",
        ),
        (
            "no service",
            identity("pid", "pid-2"),
            "",
            "No primary task set to import",
        ),
        (
            "ecs controller",
            identity("pid", "pid-ecs"),
            "service",
            "Service does not use the EXTERNAL deployment controller",
        ),
    ] {
        let r = within(
            "ImportResourceState",
            client.import_resource_state(import(Some(id), "")),
        )
        .await
        .expect("ImportResourceState")
        .into_inner();
        let errs = errors(&r.diagnostics);
        assert_eq!(errs.len(), 1, "{label}: {:#?}", r.diagnostics);
        assert_eq!(
            (path_of(errs[0]).as_str(), errs[0].summary.as_str()),
            (path, summary),
            "{label}"
        );
        assert!(r.imported_resources.is_empty(), "{label}");
    }

    let r = within(
        "ImportResourceState",
        client.import_resource_state(import(None, "pid/pid-1")),
    )
    .await
    .expect("ImportResourceState")
    .into_inner();
    let state = undv(r.imported_resources[0].state.as_ref());

    // Read: a state from before identities (none from Terraform) gets one; a known one stays.
    for current in [None, Some(want.clone())] {
        let r = within(
            "ReadResource",
            client.read_resource(pb::read_resource::Request {
                type_name: PRIMARY.into(),
                current_state: dv(&state),
                private: vec![],
                provider_meta: None,
                client_capabilities: None,
                current_identity: current.as_ref().and_then(id_data),
            }),
        )
        .await
        .expect("ReadResource")
        .into_inner();
        assert!(errors(&r.diagnostics).is_empty(), "{:#?}", r.diagnostics);
        assert_eq!(id_value(r.new_identity.as_ref()), want);
    }

    // Plan: no change keeps the identity; a new object has none until it is applied (its
    // account comes from an ARN AWS assigns, and `show -json` cannot render unknown identities).
    let mut cfg = state.clone();
    for k in [
        "id",
        "task_set_arn",
        "task_set_id",
        "task_definition",
        "previous_task_set_id",
    ] {
        cfg.set(k, Value::Null);
    }
    cfg.set("wait_for_steady_state", Value::Null);
    let plan = |prior: &Value, prior_identity: Option<Value>| pb::plan_resource_change::Request {
        type_name: PRIMARY.into(),
        prior_state: dv(prior),
        proposed_new_state: dv(&if prior.is_null() {
            cfg.clone()
        } else {
            prior.clone()
        }),
        config: dv(&cfg),
        prior_private: vec![],
        provider_meta: None,
        client_capabilities: None,
        prior_identity: prior_identity.as_ref().and_then(id_data),
    };
    for (label, prior, prior_identity) in [
        ("update", state.clone(), Some(want.clone())),
        ("update, identity from state", state.clone(), None),
    ] {
        let r = within(
            "PlanResourceChange",
            client.plan_resource_change(plan(&prior, prior_identity)),
        )
        .await
        .expect("PlanResourceChange")
        .into_inner();
        assert!(
            errors(&r.diagnostics).is_empty(),
            "{label}: {:#?}",
            r.diagnostics
        );
        assert_eq!(id_value(r.planned_identity.as_ref()), want, "{label}");
    }
    let r = within(
        "PlanResourceChange",
        client.plan_resource_change(plan(&Value::Null, None)),
    )
    .await
    .expect("PlanResourceChange")
    .into_inner();
    assert!(errors(&r.diagnostics).is_empty(), "{:#?}", r.diagnostics);
    assert!(r.planned_identity.is_none(), "{:?}", r.planned_identity);
}

/// CreateTaskSet on any service of `infra`, on target group `tg`, with `tags`.
async fn task_set(
    aws: &Aws,
    infra: &Infra,
    service: &str,
    tg: &str,
    tags: &[(&str, &str)],
) -> common::TaskSetRef {
    use aws_sdk_ecs::types::{
        AwsVpcConfiguration, LaunchType, LoadBalancer, NetworkConfiguration, Scale, ScaleUnit, Tag,
    };
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(infra.subnets.clone()))
        .security_groups(&infra.security_group)
        .build()
        .expect("awsvpc configuration");
    let mut req = aws
        .ecs
        .create_task_set()
        .cluster(&infra.cluster)
        .service(service)
        .task_definition(&infra.task_definitions[0])
        .launch_type(LaunchType::Fargate)
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(vpc)
                .build(),
        )
        .load_balancers(
            LoadBalancer::builder()
                .target_group_arn(tg)
                .container_name(common::CONTAINER_NAME)
                .container_port(common::CONTAINER_PORT)
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
    let t = req.send().await.expect("CreateTaskSet");
    let t = t.task_set().expect("a task set");
    common::TaskSetRef {
        id: t.id().unwrap_or_default().to_string(),
        arn: t.task_set_arn().unwrap_or_default().to_string(),
        task_definition: t.task_definition().unwrap_or_default().to_string(),
    }
}

#[tokio::test]
async fn list_canary_deployments_names_why_a_service_cannot_be_adopted() {
    let emu = Emulator::start();
    let infra = Infra::create_n(&emu, "cl", 4);
    let aws = Aws::connect(&emu).await;
    let (blue, green) = (&infra.blue_target_group_arn, &infra.green_target_group_arn);
    let primary = |svc: &'static str, tags: &'static [(&'static str, &'static str)]| {
        let (aws, infra) = (&aws, &infra);
        async move {
            let t = task_set(aws, infra, svc, blue, tags).await;
            aws.set_primary(&infra.cluster, svc, &t.arn).await;
            t
        }
    };
    // cl-1: a stable and a canary on its own target group: adoptable.
    primary("cl-1", &[]).await;
    task_set(&aws, &infra, "cl-1", green, &[]).await;
    // cl-2: two task sets besides the PRIMARY.
    primary("cl-2", &[]).await;
    task_set(&aws, &infra, "cl-2", green, &[]).await;
    task_set(&aws, &infra, "cl-2", green, &[]).await;
    // cl-3: the second task set shares the PRIMARY's target group.
    primary("cl-3", &[]).await;
    task_set(&aws, &infra, "cl-3", blue, &[]).await;
    // cl-4: owned by another ecsx deployment.
    primary("cl-4", &[("ecsx:deployment", "other/cl-4")]).await;

    let (_server, mut client) = connected().await;
    configure(&mut client, &emu).await;
    let events = list(&mut client, CANARY, list_config(&infra.cluster), true, 100).await;
    let found: Vec<&pb::list_resource::Event> =
        events.iter().filter(|e| e.identity.is_some()).collect();
    assert_eq!(found.len(), 1, "{events:#?}");
    assert_eq!(
        id_value(found[0].identity.as_ref()).get("service").as_str(),
        Some("cl-1")
    );
    assert_eq!(
        found[0].display_name,
        "cl-1: PRIMARY cl:1, canary cl:1, traffic 100/0, 2 task sets"
    );
    let state = undv(found[0].resource_object.as_ref());
    assert_eq!(
        state
            .block("traffic")
            .get("canary_target_group_arn")
            .as_str(),
        Some(green.as_str())
    );
    assert!(state
        .block("canary")
        .get("task_definition")
        .as_str()
        .is_some());
    assert_eq!(state.get("id").as_str(), Some("cl/cl-1"));

    let reasons: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.identity.is_none())
        .flat_map(|e| warnings(&e.diagnostic))
        .map(|d| (d.summary.clone(), d.detail.clone()))
        .collect();
    assert_eq!(reasons.len(), 3, "{reasons:#?}");
    for (svc, needle) in [
        ("cl-2", "besides the PRIMARY"),
        ("cl-3", "canary is not on its own target group"),
        ("cl-4", "managed by another controller"),
    ] {
        let (_, detail) = reasons
            .iter()
            .find(|(s, _)| s == &format!("Service {svc} cannot be adopted"))
            .unwrap_or_else(|| panic!("no warning for {svc}: {reasons:#?}"));
        assert!(detail.contains(needle), "{svc}: {detail}");
    }

    // Listing reads only: no task set of the adoptable service got an ownership tag.
    for t in aws.live_task_sets(&infra.cluster, "cl-1").await {
        let arn = t.task_set_arn().unwrap_or_default();
        assert!(
            aws.task_set_tags(&infra.cluster, "cl-1", arn)
                .await
                .is_empty(),
            "{arn} was tagged"
        );
    }
}
