//! States written by every earlier schema version upgrade cleanly (UpgradeResourceState).
//!
//! `tests/fixtures/state/<resource type>/v<N>.json` holds the attributes of a real state that a
//! release with schema version N wrote (what Terraform sends as `RawState.json`). Every
//! resource must have a fixture for each version from 0 to its current one, so bumping a
//! schema version without committing the state the previous release wrote fails here; see
//! docs/versioning.md. Each fixture goes through the provider's UpgradeResourceState
//! in-process and must come back without errors, shaped and typed like the current schema.

use ecsx::protocol::server::ProviderService;
use ecsx::protocol::tfplugin6 as pb;
use ecsx::protocol::tfplugin6::provider_server::Provider as _;
use ecsx::provider::Provider;
use rmpv::Value as Mp;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/state")
}

fn service() -> ProviderService {
    ProviderService::new(Arc::new(Provider::new()))
}

async fn resource_schemas(svc: &ProviderService) -> BTreeMap<String, pb::Schema> {
    let resp = svc
        .get_provider_schema(tonic::Request::new(pb::get_provider_schema::Request {}))
        .await
        .expect("GetProviderSchema")
        .into_inner();
    resp.resource_schemas.into_iter().collect()
}

async fn upgrade(
    svc: &ProviderService,
    type_name: &str,
    version: i64,
    json: &[u8],
) -> pb::upgrade_resource_state::Response {
    svc.upgrade_resource_state(tonic::Request::new(pb::upgrade_resource_state::Request {
        type_name: type_name.into(),
        version,
        raw_state: Some(pb::RawState {
            json: json.to_vec(),
            flatmap: Default::default(),
        }),
    }))
    .await
    .expect("UpgradeResourceState")
    .into_inner()
}

fn errors(diags: &[pb::Diagnostic]) -> Vec<String> {
    diags
        .iter()
        .filter(|d| d.severity == pb::diagnostic::Severity::Error as i32)
        .map(|d| format!("{}: {}", d.summary, d.detail))
        .collect()
}

fn decode(dv: Option<&pb::DynamicValue>) -> Mp {
    let dv = dv.expect("an upgraded_state in the reply");
    let mut rd = dv.msgpack.as_slice();
    let v = rmpv::decode::read_value(&mut rd).expect("upgraded_state is msgpack");
    assert!(rd.is_empty(), "trailing bytes after the upgraded state");
    v
}

fn mp_map(v: &Mp) -> BTreeMap<String, &Mp> {
    match v {
        Mp::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| (k.as_str().expect("string keys").to_string(), v))
            .collect(),
        other => panic!("expected an object, got {other}"),
    }
}

/// Checks `v` against a cty type (its JSON form, as the schema carries it); `path` for messages.
fn check_type(path: &str, ty: &Json, v: &Mp, problems: &mut Vec<String>) {
    if v.is_nil() {
        return;
    }
    let ok = match ty {
        Json::String(s) => match s.as_str() {
            "string" => v.is_str(),
            "number" => v.is_number(),
            "bool" => v.is_bool(),
            "dynamic" => true,
            _ => false,
        },
        Json::Array(parts) => match (parts.first().and_then(Json::as_str), parts.get(1)) {
            (Some("list" | "set"), Some(elem)) => match v.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        check_type(&format!("{path}[{i}]"), elem, item, problems);
                    }
                    true
                }
                None => false,
            },
            (Some("map"), Some(elem)) => match v {
                Mp::Map(pairs) => {
                    for (k, item) in pairs {
                        check_type(&format!("{path}[{k}]"), elem, item, problems);
                    }
                    true
                }
                _ => false,
            },
            (Some("object"), Some(Json::Object(fields))) => match v {
                Mp::Map(_) => {
                    let got = mp_map(v);
                    for (name, fty) in fields {
                        match got.get(name) {
                            Some(fv) => check_type(&format!("{path}.{name}"), fty, fv, problems),
                            None => problems.push(format!("{path}.{name}: missing")),
                        }
                    }
                    true
                }
                _ => false,
            },
            _ => false,
        },
        _ => false,
    };
    if !ok {
        problems.push(format!("{path}: {v} is not a {ty}"));
    }
}

/// Checks an object against a schema block: exactly its attributes and nested blocks, typed.
fn check_block(path: &str, block: &pb::schema::Block, v: &Mp, problems: &mut Vec<String>) {
    let got = mp_map(v);
    let want: BTreeSet<String> = block
        .attributes
        .iter()
        .map(|a| a.name.clone())
        .chain(block.block_types.iter().map(|b| b.type_name.clone()))
        .collect();
    let have: BTreeSet<String> = got.keys().cloned().collect();
    if want != have {
        problems.push(format!(
            "{path}: attributes {have:?}, the schema has {want:?}"
        ));
    }
    for a in &block.attributes {
        let ty: Json = serde_json::from_slice(&a.r#type).expect("cty type JSON");
        if let Some(av) = got.get(&a.name) {
            check_type(&format!("{path}.{}", a.name), &ty, av, problems);
        }
    }
    for nb in &block.block_types {
        let Some(bv) = got.get(&nb.type_name) else {
            continue;
        };
        let inner = nb.block.as_ref().expect("nested block schema");
        let p = format!("{path}.{}", nb.type_name);
        use pb::schema::nested_block::NestingMode;
        match NestingMode::try_from(nb.nesting).expect("nesting mode") {
            NestingMode::Single | NestingMode::Group => {
                if !bv.is_nil() {
                    check_block(&p, inner, bv, problems)
                }
            }
            NestingMode::List | NestingMode::Set => match bv.as_array() {
                Some(items) => {
                    for (i, item) in items.iter().enumerate() {
                        check_block(&format!("{p}[{i}]"), inner, item, problems);
                    }
                }
                None => problems.push(format!("{p}: {bv} is not a list of blocks")),
            },
            NestingMode::Map => match bv {
                Mp::Map(pairs) => {
                    for (k, item) in pairs {
                        check_block(&format!("{p}[{k}]"), inner, item, problems);
                    }
                }
                _ => problems.push(format!("{p}: {bv} is not a map of blocks")),
            },
            NestingMode::Invalid => problems.push(format!("{p}: invalid nesting")),
        }
    }
}

/// msgpack to JSON, numbers compared as f64 so 10 and 10.0 agree.
fn to_json(v: &Mp) -> Json {
    match v {
        Mp::Nil => Json::Null,
        Mp::Boolean(b) => Json::Bool(*b),
        Mp::Integer(i) => Json::from(i.as_f64().expect("integer")),
        Mp::F32(f) => Json::from(*f as f64),
        Mp::F64(f) => Json::from(*f),
        Mp::String(s) => Json::String(s.as_str().expect("utf-8").to_string()),
        Mp::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Mp::Map(pairs) => Json::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.as_str().expect("string key").to_string(), to_json(v)))
                .collect(),
        ),
        other => panic!("unexpected msgpack value in a state: {other}"),
    }
}

fn numbers_as_f64(v: &Json) -> Json {
    match v {
        Json::Number(n) => Json::from(n.as_f64().expect("number")),
        Json::Array(items) => Json::Array(items.iter().map(numbers_as_f64).collect()),
        Json::Object(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), numbers_as_f64(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The fixture versions on disk for one resource type: v0.json, v1.json, ...
fn fixture_versions(type_name: &str) -> BTreeMap<i64, PathBuf> {
    let dir = fixtures_dir().join(type_name);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return BTreeMap::new();
    };
    entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?;
            let n: i64 = name
                .strip_prefix('v')?
                .strip_suffix(".json")?
                .parse()
                .ok()?;
            Some((n, path))
        })
        .collect()
}

#[tokio::test]
async fn every_resource_has_a_state_fixture_for_each_schema_version() {
    let schemas = resource_schemas(&service()).await;
    assert!(!schemas.is_empty(), "the provider serves resources");
    let mut missing = Vec::new();
    for (type_name, schema) in &schemas {
        let have = fixture_versions(type_name);
        for v in 0..=schema.version {
            if !have.contains_key(&v) {
                missing.push(format!(
                    "tests/fixtures/state/{type_name}/v{v}.json (schema version {v})"
                ));
            }
        }
        if let Some((&newest, _)) = have.last_key_value() {
            assert!(
                newest <= schema.version,
                "{type_name}: a fixture for schema version {newest}, but the schema is at {}",
                schema.version
            );
        }
    }
    assert!(
        missing.is_empty(),
        "states of these schema versions are not kept; commit the attributes of a state that \
         release wrote (terraform show -json, or .terraform.tfstate's instances[].attributes):\n{}",
        missing.join("\n")
    );
    // A fixture folder for a resource the provider no longer serves means a rename or removal
    // that needs a MoveResourceState story, not silence.
    for entry in std::fs::read_dir(fixtures_dir()).expect("tests/fixtures/state") {
        let entry = entry.expect("dir entry");
        if entry.file_type().expect("file type").is_dir() {
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                schemas.contains_key(&name),
                "tests/fixtures/state/{name}: no such resource in the provider"
            );
        }
    }
}

#[tokio::test]
async fn states_of_every_earlier_schema_version_upgrade_cleanly() {
    let svc = service();
    let schemas = resource_schemas(&svc).await;
    let mut upgraded = 0;
    for (type_name, schema) in &schemas {
        let block = schema.block.as_ref().expect("resource schema block");
        for (version, path) in fixture_versions(type_name) {
            let raw = std::fs::read(&path).expect("read fixture");
            let fixture: Json = serde_json::from_slice(&raw).expect("fixture is JSON");
            let resp = upgrade(&svc, type_name, version, &raw).await;
            let errs = errors(&resp.diagnostics);
            assert!(
                errs.is_empty(),
                "{type_name} v{version} ({}): {errs:#?}",
                path.display()
            );
            let state = decode(resp.upgraded_state.as_ref());
            let mut problems = Vec::new();
            check_block(type_name, block, &state, &mut problems);
            assert!(
                problems.is_empty(),
                "{type_name} v{version} upgraded to v{} does not fit the schema:\n{}",
                schema.version,
                problems.join("\n")
            );
            // A state of the current version comes back as it went in, apart from attributes
            // added since the fixture was written without a version bump (they read as null or
            // empty, which is how Terraform fills them too).
            if version == schema.version {
                assert_eq!(
                    without_added(&to_json(&state), &fixture),
                    numbers_as_f64(&fixture),
                    "{type_name} v{version}: UpgradeResourceState changed a current state"
                );
            }
            upgraded += 1;
        }
    }
    assert!(upgraded >= schemas.len(), "{upgraded} fixtures upgraded");
}

#[tokio::test]
async fn a_state_from_a_newer_schema_version_is_refused() {
    let svc = service();
    for (type_name, schema) in resource_schemas(&svc).await {
        let (_, path) = fixture_versions(&type_name)
            .into_iter()
            .next_back()
            .expect("a fixture");
        let raw = std::fs::read(path).expect("read fixture");
        let resp = upgrade(&svc, &type_name, schema.version + 1, &raw).await;
        assert!(
            !errors(&resp.diagnostics).is_empty(),
            "{type_name}: a state of schema version {} was accepted by a provider at {}",
            schema.version + 1,
            schema.version
        );
    }
}

/// `state` without the null or empty attributes that `fixture` does not have, at every depth.
fn without_added(state: &Json, fixture: &Json) -> Json {
    match (state, fixture) {
        (Json::Object(s), Json::Object(f)) => Json::Object(
            s.iter()
                .filter(|(k, v)| {
                    f.contains_key(*k)
                        || !(v.is_null() || v.as_array().is_some_and(|a| a.is_empty()))
                })
                .map(|(k, v)| {
                    let inner = f.get(k).map(|fv| without_added(v, fv)).unwrap_or(v.clone());
                    (k.clone(), inner)
                })
                .collect(),
        ),
        (Json::Array(s), Json::Array(f)) if s.len() == f.len() => Json::Array(
            s.iter()
                .zip(f)
                .map(|(sv, fv)| without_added(sv, fv))
                .collect(),
        ),
        _ => state.clone(),
    }
}
