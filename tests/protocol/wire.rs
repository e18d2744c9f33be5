//! Values and diagnostics on the wire, in rmpv so the tests do not lean on the provider's codec.

use ecsx::protocol::tfplugin6 as pb;
use rmpv::Value as Mp;
use std::collections::BTreeSet;

pub(crate) fn mp_unknown() -> Mp {
    // What Terraform sends for an unknown value: fixext1, type 0, one zero byte.
    Mp::Ext(0, vec![0])
}

pub(crate) fn mp_object(pairs: &[(&str, Mp)]) -> Mp {
    Mp::Map(
        pairs
            .iter()
            .map(|(k, v)| (Mp::from(*k), v.clone()))
            .collect(),
    )
}

pub(crate) fn mp_bytes(v: &Mp) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, v).expect("encode msgpack");
    out
}

pub(crate) fn msgpack(bytes: Vec<u8>) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: bytes,
        json: vec![],
    })
}

pub(crate) fn json(bytes: &[u8]) -> Option<pb::DynamicValue> {
    Some(pb::DynamicValue {
        msgpack: vec![],
        json: bytes.to_vec(),
    })
}

/// Decodes a `DynamicValue` the provider sent, which must be msgpack.
pub(crate) fn decode_reply(dv: Option<&pb::DynamicValue>) -> Mp {
    let dv = dv.expect("a DynamicValue in the reply");
    assert!(!dv.msgpack.is_empty(), "reply carries no msgpack: {dv:?}");
    let mut rd = dv.msgpack.as_slice();
    let v = rmpv::decode::read_value(&mut rd).expect("reply is valid msgpack");
    assert!(rd.is_empty(), "trailing bytes after the reply value");
    v
}

pub(crate) fn mp_keys(v: &Mp) -> BTreeSet<String> {
    match v {
        Mp::Map(pairs) => pairs
            .iter()
            .map(|(k, _)| k.as_str().expect("string key").to_string())
            .collect(),
        other => panic!("expected an object, got {other}"),
    }
}

pub(crate) fn mp_get<'a>(v: &'a Mp, key: &str) -> &'a Mp {
    match v {
        Mp::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no attribute {key} in {v}")),
        other => panic!("expected an object, got {other}"),
    }
}

/// A full `ecsx_primary_task_set` configuration object as Terraform sends it.
pub(crate) fn primary_task_set_config(cluster: Mp, service: Mp, task_set: Mp) -> Mp {
    mp_object(&[
        ("cluster", cluster),
        ("service", service),
        ("task_set", task_set),
        ("wait_for_steady_state", Mp::Nil),
        ("id", Mp::Nil),
        ("task_set_arn", Mp::Nil),
        ("task_set_id", Mp::Nil),
        ("task_definition", Mp::Nil),
        ("previous_task_set_id", Mp::Nil),
        ("timeouts", Mp::Array(vec![])),
    ])
}

pub(crate) fn good_config() -> Mp {
    primary_task_set_config(
        Mp::from("prod"),
        Mp::from("web"),
        Mp::from("ecs-svc/1234567890123456789"),
    )
}

pub(crate) fn is_error(d: &pb::Diagnostic) -> bool {
    d.severity == pb::diagnostic::Severity::Error as i32
}

/// The attribute path of a diagnostic in HCL-ish form (`a.b[0]["k"]`), empty when it has none.
pub(crate) fn path_of(d: &pb::Diagnostic) -> String {
    use pb::attribute_path::step::Selector;
    let Some(p) = &d.attribute else {
        return String::new();
    };
    let mut out = String::new();
    for step in &p.steps {
        match &step.selector {
            Some(Selector::AttributeName(a)) if out.is_empty() => out.push_str(a),
            Some(Selector::AttributeName(a)) => out.push_str(&format!(".{a}")),
            Some(Selector::ElementKeyString(k)) => out.push_str(&format!("[{k:?}]")),
            Some(Selector::ElementKeyInt(i)) => out.push_str(&format!("[{i}]")),
            None => out.push_str("<empty step>"),
        }
    }
    out
}

pub(crate) fn error_paths(diags: &[pb::Diagnostic]) -> BTreeSet<String> {
    diags.iter().filter(|d| is_error(d)).map(path_of).collect()
}

pub(crate) fn assert_error_diag(what: &str, diags: &[pb::Diagnostic]) {
    assert!(
        diags.iter().any(is_error),
        "{what}: expected an error diagnostic, got {diags:#?}"
    );
}
