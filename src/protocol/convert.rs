//! Plain values, schemas and diagnostics to and from their protobuf forms.

use super::codec;
use super::tfplugin6 as pb;
use crate::diag::{AttrPath, Diagnostics, PathStep, Severity};
use crate::framework::{Invocation, Listed};
use crate::schema::{Block, IdentitySchema, Mode, Nesting, Schema};
use crate::value::Value;

/// Decodes a `DynamicValue`: msgpack when present, else JSON, else null.
pub fn decode(dv: Option<&pb::DynamicValue>, what: &str) -> Result<Value, Diagnostics> {
    let Some(dv) = dv else { return Ok(Value::Null) };
    let res = if !dv.msgpack.is_empty() {
        codec::from_msgpack(&dv.msgpack)
    } else if !dv.json.is_empty() {
        codec::from_json(&dv.json)
    } else {
        Ok(Value::Null)
    };
    res.map_err(|e| {
        let mut d = Diagnostics::new();
        d.error(
            "Invalid value from Terraform",
            format!("The provider could not decode the {what}: {e}. This is a bug in Terraform or in the provider protocol layer."),
        );
        d
    })
}

pub fn encode(v: &Value) -> pb::DynamicValue {
    pb::DynamicValue {
        msgpack: codec::to_msgpack(v),
        json: Vec::new(),
    }
}

/// An identity as Terraform carries it; None for a null identity (no identity to report).
pub fn identity(v: &Value) -> Option<pb::ResourceIdentityData> {
    (!v.is_null()).then(|| pb::ResourceIdentityData {
        identity_data: Some(encode(v)),
    })
}

/// Decodes an identity Terraform sent; absent is null.
pub fn decode_identity(
    id: Option<&pb::ResourceIdentityData>,
    what: &str,
) -> Result<Value, Diagnostics> {
    decode(id.and_then(|i| i.identity_data.as_ref()), what)
}

pub fn identity_schema(s: &IdentitySchema) -> pb::ResourceIdentitySchema {
    pb::ResourceIdentitySchema {
        version: s.version,
        identity_attributes: s
            .attributes
            .iter()
            .map(|a| pb::resource_identity_schema::IdentityAttribute {
                name: a.name.to_string(),
                r#type: a.ty.to_json().to_string().into_bytes(),
                required_for_import: a.required_for_import,
                optional_for_import: !a.required_for_import,
                description: a.description.to_string(),
            })
            .collect(),
    }
}

pub fn path(p: &AttrPath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: p
            .0
            .iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    PathStep::Attr(a) => Selector::AttributeName(a.clone()),
                    PathStep::Key(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::Index(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

pub fn diagnostics(d: &Diagnostics) -> Vec<pb::Diagnostic> {
    d.iter()
        .map(|x| pb::Diagnostic {
            severity: match x.severity {
                Severity::Error => pb::diagnostic::Severity::Error,
                Severity::Warning => pb::diagnostic::Severity::Warning,
            } as i32,
            summary: x.summary.clone(),
            detail: x.detail.clone(),
            attribute: x.path.as_ref().filter(|p| !p.0.is_empty()).map(path),
        })
        .collect()
}

pub fn schema(s: &Schema) -> pb::Schema {
    pb::Schema {
        version: s.version,
        block: Some(block(&s.block)),
    }
}

fn block(b: &Block) -> pb::schema::Block {
    pb::schema::Block {
        version: 0,
        attributes: b
            .attributes
            .iter()
            .map(|a| pb::schema::Attribute {
                name: a.name.to_string(),
                r#type: a.ty.to_json().to_string().into_bytes(),
                description: a.full_description(),
                required: a.mode == Mode::Required,
                optional: matches!(a.mode, Mode::Optional | Mode::OptionalComputed),
                computed: a.is_computed(),
                sensitive: a.sensitive,
                description_kind: pb::StringKind::Markdown as i32,
                deprecated: false,
            })
            .collect(),
        block_types: b
            .blocks
            .iter()
            .map(|nb| pb::schema::NestedBlock {
                type_name: nb.name.to_string(),
                block: Some(block(&nb.block)),
                nesting: match nb.nesting {
                    Nesting::List | Nesting::ListMany => {
                        pb::schema::nested_block::NestingMode::List
                    }
                } as i32,
                min_items: nb.min_items,
                max_items: nb.max_items,
            })
            .collect(),
        description: b.description.to_string(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: false,
    }
}

/// One InvokeAction event from what the action reported.
pub(super) fn invoke_event(item: Invocation) -> pb::invoke_action::Event {
    use pb::invoke_action::event::{Completed, Progress, Type};
    pb::invoke_action::Event {
        r#type: Some(match item {
            Invocation::Progress(message) => Type::Progress(Progress { message }),
            Invocation::Completed(d) => Type::Completed(Completed {
                diagnostics: diagnostics(&d),
            }),
        }),
    }
}

/// One ListResource event from one listing result.
pub(super) fn list_event(item: Listed) -> pb::list_resource::Event {
    pb::list_resource::Event {
        identity: identity(&item.identity),
        display_name: item.display_name,
        resource_object: item.resource.as_ref().map(encode),
        diagnostic: diagnostics(&item.diagnostics),
    }
}
