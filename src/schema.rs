//! Schemas as data: attributes, blocks, validators and plan behaviour, declared once per resource.

use crate::arn;
use crate::diag::{AttrPath, Diagnostics};
use crate::value::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    String,
    Number,
    Bool,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(Vec<(&'static str, Type)>),
}

impl Type {
    pub fn list_of(t: Type) -> Type {
        Type::List(Box::new(t))
    }
    pub fn set_of(t: Type) -> Type {
        Type::Set(Box::new(t))
    }
    pub fn map_of(t: Type) -> Type {
        Type::Map(Box::new(t))
    }

    /// The cty type constraint as JSON, as the protocol carries it.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Type::String => json!("string"),
            Type::Number => json!("number"),
            Type::Bool => json!("bool"),
            Type::List(t) => json!(["list", t.to_json()]),
            Type::Set(t) => json!(["set", t.to_json()]),
            Type::Map(t) => json!(["map", t.to_json()]),
            Type::Object(attrs) => {
                let m: serde_json::Map<String, serde_json::Value> = attrs
                    .iter()
                    .map(|(k, t)| (k.to_string(), t.to_json()))
                    .collect();
                json!(["object", m])
            }
        }
    }

    /// A short name for docs: `String`, `List of String`, ...
    pub fn doc_name(&self) -> String {
        match self {
            Type::String => "String".into(),
            Type::Number => "Number".into(),
            Type::Bool => "Boolean".into(),
            Type::List(t) => format!("List of {}", t.doc_name()),
            Type::Set(t) => format!("Set of {}", t.doc_name()),
            Type::Map(t) => format!("Map of {}", t.doc_name()),
            Type::Object(_) => "Object".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Required,
    Optional,
    /// Set by the provider only.
    Computed,
    /// Optional in configuration; the provider fills it (e.g. with a default) when omitted.
    OptionalComputed,
}

/// A check on a known, non-null configuration value.
/// The longest `timeouts` value: a week. Longer would outlive the credentials of any apply.
pub const TIMEOUT_MAX_SECS: u64 = 7 * 24 * 3600;

#[derive(Debug, Clone, PartialEq)]
pub enum Validator {
    /// An integer within the inclusive range.
    IntRange(i64, i64),
    /// A string that is not empty or blank.
    NotBlank,
    /// One of the listed strings.
    OneOf(&'static [&'static str]),
    /// An ARN of the given service whose resource starts with the given type, e.g. ("elasticloadbalancing", "targetgroup/").
    Arn(&'static str, &'static str),
    /// Every element of a list or set is such an ARN.
    EachArn(&'static str, &'static str),
    /// A name, or an ARN of the given service and resource type.
    NameOrArn(&'static str, &'static str),
    /// A Go-style duration such as `30m` or `1h30m`, from the first to the second number of
    /// seconds (inclusive).
    Duration(u64, u64),
    /// A list or set with no element twice.
    Unique,
    /// A task set id (`ecs-svc/...`) or task set ARN.
    TaskSetRef,
}

impl Validator {
    /// The rule as one sentence for documentation, e.g. "Must be a whole number from 0 to 100."
    pub fn describe(&self) -> String {
        match self {
            Validator::IntRange(lo, hi) => format!("Must be a whole number from {lo} to {hi}."),
            Validator::NotBlank => "Must not be blank.".into(),
            Validator::OneOf(opts) => format!("Must be one of `{}`.", opts.join("`, `")),
            Validator::Arn(svc, res) => format!("Must be an ARN of the form `{}`.", arn_pattern(svc, res)),
            Validator::EachArn(svc, res) => {
                format!("Each element must be an ARN of the form `{}`.", arn_pattern(svc, res))
            }
            Validator::NameOrArn(svc, res) => format!(
                "Must be a name (letters, digits, `-` and `_`, up to 255) or an ARN of the form `{}`.",
                arn_pattern(svc, res)
            ),
            Validator::Duration(lo, hi) => format!(
                "Must be a duration such as `90s`, `20m` or `1h30m`, from `{}` to `{}`.",
                crate::duration::format(std::time::Duration::from_secs(*lo)),
                crate::duration::format(std::time::Duration::from_secs(*hi))
            ),
            Validator::Unique => "Elements must be unique.".into(),
            Validator::TaskSetRef => format!(
                "Must be a task set ID (`ecs-svc/...`) or an ARN of the form `{}CLUSTER/SERVICE/ID`.",
                arn_pattern("ecs", "task-set/").trim_end_matches("...")
            ),
        }
    }

    fn check(&self, v: &Value, path: &AttrPath, diags: &mut Diagnostics) {
        match self {
            Validator::IntRange(lo, hi) => match v.as_i64() {
                Some(n) if (*lo..=*hi).contains(&n) => {}
                _ => diags.error_at(
                    path.clone(),
                    "Value out of range",
                    format!(
                        "{path} must be a whole number between {lo} and {hi}, got {}.",
                        display(v)
                    ),
                ),
            },
            Validator::NotBlank => {
                if v.as_str().is_some_and(|s| s.trim().is_empty()) {
                    diags.error_at(
                        path.clone(),
                        "Empty value",
                        format!("{path} must not be empty."),
                    );
                }
            }
            Validator::OneOf(opts) => {
                if let Some(s) = v.as_str() {
                    if !opts.contains(&s) {
                        diags.error_at(
                            path.clone(),
                            "Invalid value",
                            format!("{path} must be one of {}, got {s:?}.", opts.join(", ")),
                        );
                    }
                }
            }
            Validator::Arn(svc, res) => check_arn(v, svc, res, path, diags),
            Validator::EachArn(svc, res) => {
                for (i, item) in v.as_list().iter().enumerate() {
                    if item.is_wholly_known() && !item.is_null() {
                        check_arn(item, svc, res, &path.index(i), diags);
                    }
                }
            }
            Validator::NameOrArn(svc, res) => {
                if let Some(s) = v.as_str() {
                    if s.trim().is_empty() {
                        let what = if s.is_empty() { "empty" } else { "blank" };
                        diags.error_at(
                            path.clone(),
                            "Invalid name or ARN",
                            format!("{path}: {s:?} is {what}; give a name or an ARN."),
                        );
                    } else if let Err(why) = arn::name_or_arn(s, svc, res) {
                        diags.error_at(
                            path.clone(),
                            "Invalid name or ARN",
                            format!("{path}: {why}"),
                        );
                    }
                }
            }
            Validator::Duration(lo, hi) => {
                let Some(s) = v.as_str() else { return };
                let (lo, hi) = (
                    std::time::Duration::from_secs(*lo),
                    std::time::Duration::from_secs(*hi),
                );
                match crate::duration::parse(s) {
                    None => diags.error_at(
                        path.clone(),
                        "Invalid duration",
                        format!(
                            "{path} must be a duration such as \"30s\", \"20m\" or \"1h30m\", got {s:?}."
                        ),
                    ),
                    Some(d) if d < lo || d > hi => diags.error_at(
                        path.clone(),
                        "Value out of range",
                        format!(
                            "{path} must be from {} to {}, got {s:?}.",
                            crate::duration::format(lo),
                            crate::duration::format(hi)
                        ),
                    ),
                    Some(_) => {}
                }
            }
            Validator::TaskSetRef => {
                if let Some(s) = v.as_str() {
                    if let Err(why) = arn::check_task_set_ref(s) {
                        diags.error_at(path.clone(), "Invalid task set", format!("{path}: {why}"));
                    }
                }
            }
            Validator::Unique => {
                let items = v.as_list();
                for (i, item) in items.iter().enumerate() {
                    if item.is_wholly_known() && items[..i].contains(item) {
                        diags.error_at(
                            path.index(i),
                            "Duplicate value",
                            format!("{path} lists {} more than once.", display(item)),
                        );
                    }
                }
            }
        }
    }
}

fn check_arn(v: &Value, svc: &str, res: &str, path: &AttrPath, diags: &mut Diagnostics) {
    if let Some(s) = v.as_str() {
        if let Err(why) = arn::expect(s, svc, res) {
            diags.error_at(path.clone(), "Invalid ARN", format!("{path}: {why}"));
        }
    }
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:PREFIX...`, with no region for global services.
fn arn_pattern(svc: &str, res: &str) -> String {
    let region = if svc == "iam" { "" } else { "REGION" };
    format!("arn:PARTITION:{svc}:{region}:ACCOUNT:{res}...")
}

/// A value as HCL would spell it, for "Defaults to ..." text.
fn hcl_literal(v: &Value) -> String {
    match v {
        Value::Null | Value::Unknown => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("{n}"),
        Value::String(s) => format!("{s:?}"),
        Value::List(items) => format!(
            "[{}]",
            items.iter().map(hcl_literal).collect::<Vec<_>>().join(", ")
        ),
        Value::Map(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!("{k} = {}", hcl_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => format!("{n}"),
        Value::Bool(b) => format!("{b}"),
        other => format!("{other:?}"),
    }
}

#[derive(Debug, Clone)]
pub struct Attribute {
    pub name: &'static str,
    pub ty: Type,
    pub mode: Mode,
    pub description: &'static str,
    pub sensitive: bool,
    /// A change to this attribute destroys and recreates the resource.
    pub requires_replace: bool,
    /// Keep the prior state's value in plans instead of marking it unknown.
    pub use_state_for_unknown: bool,
    /// Filled in at plan time when the configuration leaves it null (needs OptionalComputed).
    pub default: Option<Value>,
    pub validators: Vec<Validator>,
}

impl Attribute {
    fn new(name: &'static str, ty: Type, mode: Mode, description: &'static str) -> Self {
        Attribute {
            name,
            ty,
            mode,
            description,
            sensitive: false,
            requires_replace: false,
            use_state_for_unknown: false,
            default: None,
            validators: Vec::new(),
        }
    }
    pub fn required(name: &'static str, ty: Type, description: &'static str) -> Self {
        Self::new(name, ty, Mode::Required, description)
    }
    pub fn optional(name: &'static str, ty: Type, description: &'static str) -> Self {
        Self::new(name, ty, Mode::Optional, description)
    }
    pub fn computed(name: &'static str, ty: Type, description: &'static str) -> Self {
        Self::new(name, ty, Mode::Computed, description)
    }
    /// Optional with a default value (optional + computed on the wire).
    pub fn defaulted(
        name: &'static str,
        ty: Type,
        default: Value,
        description: &'static str,
    ) -> Self {
        let mut a = Self::new(name, ty, Mode::OptionalComputed, description);
        a.default = Some(default);
        a
    }
    pub fn replace(mut self) -> Self {
        self.requires_replace = true;
        self
    }
    pub fn stable(mut self) -> Self {
        self.use_state_for_unknown = true;
        self
    }
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    pub fn check(mut self, v: Validator) -> Self {
        self.validators.push(v);
        self
    }
    pub fn is_computed(&self) -> bool {
        matches!(self.mode, Mode::Computed | Mode::OptionalComputed)
    }

    /// The description Terraform and the docs show: the prose, then what the schema
    /// enforces (replacement, validators, default), so none of it is written twice.
    pub fn full_description(&self) -> String {
        let mut parts = vec![self.description.trim().to_string()];
        if self.requires_replace {
            parts.push("Changing it forces a new resource.".into());
        }
        parts.extend(self.validators.iter().map(Validator::describe));
        if let Some(d) = &self.default {
            parts.push(format!("Defaults to `{}`.", hcl_literal(d)));
        }
        parts.retain(|p| !p.is_empty());
        parts.join(" ")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// At most one block; a list of zero or one objects on the wire.
    List,
    /// Any number of blocks, as a list.
    ListMany,
}

#[derive(Debug, Clone)]
pub struct NestedBlock {
    pub name: &'static str,
    pub nesting: Nesting,
    pub min_items: i64,
    pub max_items: i64,
    pub requires_replace: bool,
    pub block: Block,
}

impl NestedBlock {
    /// A block that may appear at most once (`max_items = 1`).
    pub fn single(name: &'static str, block: Block) -> Self {
        NestedBlock {
            name,
            nesting: Nesting::List,
            min_items: 0,
            max_items: 1,
            requires_replace: false,
            block,
        }
    }
    /// A block that must appear exactly once.
    pub fn required(name: &'static str, block: Block) -> Self {
        NestedBlock {
            min_items: 1,
            ..Self::single(name, block)
        }
    }
    /// A block that may repeat.
    pub fn many(name: &'static str, block: Block) -> Self {
        NestedBlock {
            name,
            nesting: Nesting::ListMany,
            min_items: 0,
            max_items: 0,
            requires_replace: false,
            block,
        }
    }
    pub fn replace(mut self) -> Self {
        self.requires_replace = true;
        self
    }
}

#[derive(Debug, Clone, Default)]
pub struct Block {
    pub description: &'static str,
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
}

impl Block {
    pub fn new(description: &'static str) -> Self {
        Block {
            description,
            ..Default::default()
        }
    }
    pub fn attr(mut self, a: Attribute) -> Self {
        self.attributes.push(a);
        self
    }
    pub fn block(mut self, b: NestedBlock) -> Self {
        self.blocks.push(b);
        self
    }

    /// The type of this block's values, as Terraform sees them: an object of its
    /// attributes and of its nested blocks (each a list of objects). An attribute of this
    /// type takes a whole resource of this schema (`attr = TYPE.NAME`).
    pub fn implied_type(&self) -> Type {
        let mut fields: Vec<(&'static str, Type)> = self
            .attributes
            .iter()
            .map(|a| (a.name, a.ty.clone()))
            .collect();
        fields.extend(
            self.blocks
                .iter()
                .map(|b| (b.name, Type::list_of(b.block.implied_type()))),
        );
        Type::Object(fields)
    }

    /// A `timeouts` block with the given operations, as terraform-plugin-framework shapes it.
    pub fn timeouts(ops: &[&'static str]) -> NestedBlock {
        let mut b = Block::new("How long each operation may take before it fails.");
        for op in ops {
            let desc: &'static str = match *op {
                "create" => "How long create may take.",
                "update" => "How long update may take.",
                "delete" => "How long delete may take.",
                _ => "How long the operation may take.",
            };
            b = b.attr(
                Attribute::optional(op, Type::String, desc)
                    .check(Validator::Duration(1, TIMEOUT_MAX_SECS)),
            );
        }
        NestedBlock::single("timeouts", b)
    }

    /// Checks a configuration value against the schema's validators, collecting diagnostics.
    pub fn validate(&self, config: &Value, path: &AttrPath, diags: &mut Diagnostics) {
        // A block whose whole value is unknown (e.g. from a dynamic block) is judged once known.
        if config.is_unknown() {
            return;
        }
        for a in &self.attributes {
            let v = config.get(a.name);
            let p = path.then(a.name);
            if a.mode == Mode::Required && v.is_null() {
                diags.error_at(
                    p.clone(),
                    "Missing required argument",
                    format!("The argument {p} is required."),
                );
                continue;
            }
            // Terraform passes configured values of computed-only attributes through; the
            // provider must refuse them, or they would be silently overwritten.
            if a.mode == Mode::Computed && !v.is_null() {
                diags.error_at(
                    p.clone(),
                    "Invalid Configuration for Read-Only Attribute",
                    format!("{p} is set by the provider and cannot be configured: remove it from the configuration."),
                );
                continue;
            }
            if v.is_null() || v.is_unknown() {
                continue;
            }
            for check in &a.validators {
                check.check(v, &p, diags);
            }
        }
        for b in &self.blocks {
            let items = config.get(b.name).as_list();
            let p = path.then(b.name);
            let known = !config.get(b.name).is_unknown();
            if known && (items.len() as i64) < b.min_items {
                diags.error_at(
                    p.clone(),
                    "Missing required block",
                    format!("A {} block is required.", b.name),
                );
            }
            if known && b.max_items > 0 && items.len() as i64 > b.max_items {
                diags.error_at(
                    p.clone(),
                    "Too many blocks",
                    format!("At most {} {} block is allowed.", b.max_items, b.name),
                );
            }
            for (i, item) in items.iter().enumerate() {
                b.block.validate(item, &p.index(i), diags);
            }
        }
    }

    /// Reshapes a decoded value to exactly this schema: missing attributes become null,
    /// attributes the schema does not know are dropped. Used on stored state.
    pub fn conform(&self, v: &Value) -> Value {
        // Unknown stays unknown: a dynamic block over an unknown collection is planned as such.
        if v.is_null() || v.is_unknown() {
            return v.clone();
        }
        let mut out = BTreeMap::new();
        for a in &self.attributes {
            out.insert(a.name.to_string(), v.get(a.name).clone());
        }
        for b in &self.blocks {
            let blocks = v.get(b.name);
            let conformed = if blocks.is_unknown() {
                Value::Unknown
            } else {
                Value::List(
                    blocks
                        .as_list()
                        .iter()
                        .map(|i| b.block.conform(i))
                        .collect(),
                )
            };
            out.insert(b.name.to_string(), conformed);
        }
        Value::Map(out)
    }

    /// Sets defaults in `planned` for attributes the configuration leaves null (recursively
    /// through blocks, pairing block items by index).
    pub fn apply_defaults(&self, planned: &mut Value, config: &Value) {
        let Value::Map(m) = planned else { return };
        for a in &self.attributes {
            if let Some(d) = &a.default {
                if config.get(a.name).is_null() {
                    m.insert(a.name.to_string(), d.clone());
                }
            }
        }
        for b in &self.blocks {
            if let Some(Value::List(items)) = m.get_mut(b.name) {
                let cfg_items = config.get(b.name).as_list();
                for (i, item) in items.iter_mut().enumerate() {
                    let cfg = cfg_items.get(i).cloned().unwrap_or(Value::Null);
                    b.block.apply_defaults(item, &cfg);
                }
            }
        }
    }

    /// The configuration that reproduces `state`: what `-generate-config-out` writes.
    /// Computed-only attributes go, defaulted attributes at their default go (Terraform plans
    /// the default again), and `timeouts` is left out; everything a user sets stays as is.
    pub fn config_from_state(&self, state: &Value) -> Value {
        if state.is_null() || state.is_unknown() {
            return state.clone();
        }
        let mut out = BTreeMap::new();
        for a in &self.attributes {
            let v = state.get(a.name);
            let keep = match a.mode {
                Mode::Computed => false,
                _ => a.default.as_ref() != Some(v),
            };
            let v = if keep { v.clone() } else { Value::Null };
            out.insert(a.name.to_string(), v);
        }
        for b in &self.blocks {
            let items = if b.name == "timeouts" {
                vec![]
            } else {
                state
                    .get(b.name)
                    .as_list()
                    .iter()
                    .map(|i| b.block.config_from_state(i))
                    .collect()
            };
            out.insert(b.name.to_string(), Value::List(items));
        }
        Value::Map(out)
    }

    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct Schema {
    pub version: i64,
    pub block: Block,
}

/// The attributes that name a managed object for its whole life (resource identity,
/// Terraform 1.12+): what `import { identity = {...} }` takes and list results carry.
#[derive(Debug, Clone)]
pub struct IdentitySchema {
    /// Versioned apart from the resource schema; bump it when the attributes change.
    pub version: i64,
    pub attributes: Vec<IdentityAttribute>,
}

#[derive(Debug, Clone)]
pub struct IdentityAttribute {
    pub name: &'static str,
    pub ty: Type,
    /// Import needs it; otherwise the provider fills it in (account, region).
    pub required_for_import: bool,
    pub description: &'static str,
}

impl IdentityAttribute {
    pub fn required(name: &'static str, description: &'static str) -> Self {
        IdentityAttribute {
            name,
            ty: Type::String,
            required_for_import: true,
            description,
        }
    }
    pub fn optional(name: &'static str, description: &'static str) -> Self {
        IdentityAttribute {
            required_for_import: false,
            ..Self::required(name, description)
        }
    }
}

impl IdentitySchema {
    /// An identity value with exactly this schema's attributes (missing ones null).
    pub fn conform(&self, v: &Value) -> Value {
        if v.is_null() {
            return Value::Null;
        }
        Value::object(
            self.attributes
                .iter()
                .map(|a| (a.name, v.get(a.name).clone())),
        )
    }
}

#[cfg(test)]
mod tests;
