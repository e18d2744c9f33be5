//! GetMetadata and GetProviderSchema: the resources, with attribute types in cty type JSON.

use crate::client::connected;
use crate::{within, PRIMARY_TASK_SET, TASK_SETS};
use ecsx::protocol::tfplugin6 as pb;
use std::collections::{BTreeMap, BTreeSet};

/// True when `t` is a cty type constraint in its JSON form.
fn is_cty_type(t: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match t {
        J::String(s) => matches!(s.as_str(), "string" | "number" | "bool" | "dynamic"),
        J::Array(parts) => match parts.as_slice() {
            [J::String(k), elem] if matches!(k.as_str(), "list" | "set" | "map") => {
                is_cty_type(elem)
            }
            [J::String(k), J::Object(attrs)] if k == "object" => attrs.values().all(is_cty_type),
            [J::String(k), J::Object(attrs), J::Array(optional)] if k == "object" => {
                attrs.values().all(is_cty_type)
                    && optional
                        .iter()
                        .all(|o| o.as_str().is_some_and(|n| attrs.contains_key(n)))
            }
            [J::String(k), J::Array(elems)] if k == "tuple" => elems.iter().all(is_cty_type),
            _ => false,
        },
        _ => false,
    }
}

/// Every attribute type in `block` (recursively) parses as cty type JSON; returns name -> type.
fn check_block_types(block: &pb::schema::Block, at: &str) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for a in &block.attributes {
        let ty: serde_json::Value = serde_json::from_slice(&a.r#type).unwrap_or_else(|e| {
            panic!(
                "{at}.{}: type {:?} is not JSON: {e}",
                a.name,
                String::from_utf8_lossy(&a.r#type)
            )
        });
        assert!(is_cty_type(&ty), "{at}.{}: {ty} is not a cty type", a.name);
        assert!(
            a.required || a.optional || a.computed,
            "{at}.{}: neither required, optional nor computed",
            a.name
        );
        assert!(
            !(a.required && (a.optional || a.computed)),
            "{at}.{}: required and optional/computed at once",
            a.name
        );
        out.insert(a.name.clone(), ty);
    }
    for nb in &block.block_types {
        let inner = nb.block.as_ref().expect("nested block has a block");
        check_block_types(inner, &format!("{at}.{}", nb.type_name));
    }
    out
}

#[tokio::test]
async fn metadata_and_schema_list_the_resources_with_cty_types() {
    let (_server, mut client, _) = connected().await;

    let meta = within(
        "GetMetadata",
        client.get_metadata(pb::get_metadata::Request {}),
    )
    .await
    .expect("GetMetadata")
    .into_inner();
    assert!(meta.diagnostics.is_empty(), "{:?}", meta.diagnostics);
    let resources: Vec<_> = meta
        .resources
        .iter()
        .map(|r| r.type_name.as_str())
        .collect();
    let data_sources: Vec<_> = meta
        .data_sources
        .iter()
        .map(|r| r.type_name.as_str())
        .collect();
    assert!(resources.contains(&PRIMARY_TASK_SET), "{resources:?}");
    assert!(data_sources.contains(&TASK_SETS), "{data_sources:?}");

    let schema = within(
        "GetProviderSchema",
        client.get_provider_schema(pb::get_provider_schema::Request {}),
    )
    .await
    .expect("GetProviderSchema")
    .into_inner();
    assert!(schema.diagnostics.is_empty(), "{:?}", schema.diagnostics);
    // Metadata and schema agree on what exists.
    let mut schema_resources: Vec<_> = schema.resource_schemas.keys().cloned().collect();
    let mut meta_resources: Vec<_> = resources.iter().map(|s| s.to_string()).collect();
    schema_resources.sort();
    meta_resources.sort();
    assert_eq!(schema_resources, meta_resources);
    assert!(schema.data_source_schemas.contains_key(TASK_SETS));

    let provider = schema.provider.as_ref().expect("provider schema");
    check_block_types(provider.block.as_ref().expect("provider block"), "provider");
    for (name, s) in schema
        .resource_schemas
        .iter()
        .chain(schema.data_source_schemas.iter())
    {
        check_block_types(s.block.as_ref().expect("block"), name);
    }

    let pts = schema.resource_schemas[PRIMARY_TASK_SET]
        .block
        .as_ref()
        .expect("ecsx_primary_task_set block");
    let types = check_block_types(pts, PRIMARY_TASK_SET);
    let names: BTreeSet<&str> = types.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = [
        "cluster",
        "service",
        "task_set",
        "wait_for_steady_state",
        "id",
        "task_set_arn",
        "task_set_id",
        "task_definition",
        "previous_task_set_id",
    ]
    .into_iter()
    .collect();
    assert_eq!(names, want);
    assert_eq!(types["wait_for_steady_state"], serde_json::json!("bool"));
    for n in want.iter().filter(|n| **n != "wait_for_steady_state") {
        assert_eq!(types[*n], serde_json::json!("string"), "{n}");
    }
    let attr = |n: &str| pts.attributes.iter().find(|a| a.name == n).expect(n);
    for n in ["cluster", "service", "task_set"] {
        assert!(attr(n).required, "{n} must be required");
    }
    for n in ["id", "task_set_arn", "task_set_id", "task_definition"] {
        assert!(
            attr(n).computed && !attr(n).optional,
            "{n} must be computed only"
        );
    }
    let blocks: Vec<_> = pts
        .block_types
        .iter()
        .map(|b| b.type_name.as_str())
        .collect();
    assert_eq!(blocks, vec!["timeouts"]);
    let timeouts = pts.block_types[0].block.as_ref().expect("timeouts block");
    let ops: BTreeSet<_> = timeouts
        .attributes
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert!(ops.contains("create") && ops.contains("update"), "{ops:?}");
}
