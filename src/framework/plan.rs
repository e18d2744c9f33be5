//! A plan being made, and its generic part: what every resource's PlanResourceChange does
//! before the resource refines it.

use crate::diag::AttrPath;
use crate::schema::{Mode, Schema};
use crate::value::Value;

/// A plan being made: the generic part is filled in before `modify_plan` sees it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub prior: Value,
    pub config: Value,
    pub planned: Value,
    pub requires_replace: Vec<AttrPath>,
}

impl Plan {
    pub fn is_create(&self) -> bool {
        self.prior.is_null()
    }
}

/// The generic part of PlanResourceChange, as terraform-plugin-framework does it:
/// defaults for omitted optional attributes, RequiresReplace, and computed attributes
/// marked unknown when something changes (unless they keep their prior value).
pub fn base_plan(schema: &Schema, prior: &Value, proposed: &Value, config: &Value) -> Plan {
    let mut planned = proposed.clone();
    schema.block.apply_defaults(&mut planned, config);
    let mut requires_replace = Vec::new();
    if !prior.is_null() {
        for a in schema
            .block
            .attributes
            .iter()
            .filter(|a| a.requires_replace)
        {
            let v = planned.get(a.name);
            if v.is_unknown() || v != prior.get(a.name) {
                requires_replace.push(AttrPath::attr(a.name));
            }
        }
        for b in schema.block.blocks.iter().filter(|b| b.requires_replace) {
            if planned.get(b.name) != prior.get(b.name) {
                requires_replace.push(AttrPath::attr(b.name));
            }
        }
    }
    let creating = prior.is_null() || !requires_replace.is_empty();
    let changed = creating
        || schema
            .block
            .attributes
            .iter()
            .filter(|a| a.mode != Mode::Computed)
            .any(|a| planned.get(a.name) != prior.get(a.name))
        || schema
            .block
            .blocks
            .iter()
            .any(|b| planned.get(b.name) != prior.get(b.name));
    if changed {
        for a in &schema.block.attributes {
            let user_set = !config.get(a.name).is_null();
            let fill = match a.mode {
                Mode::Computed => creating || !a.use_state_for_unknown,
                Mode::OptionalComputed => {
                    !user_set && a.default.is_none() && (creating || !a.use_state_for_unknown)
                }
                _ => false,
            };
            if fill {
                planned.set(a.name, Value::Unknown);
            }
        }
    }
    Plan {
        prior: prior.clone(),
        config: config.clone(),
        planned,
        requires_replace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Attribute, Block, Type};

    fn schema() -> Schema {
        Schema {
            version: 0,
            block: Block::new("t")
                .attr(Attribute::required("cluster", Type::String, "c").replace())
                .attr(Attribute::required("target", Type::String, "t"))
                .attr(Attribute::defaulted(
                    "wait",
                    Type::Bool,
                    Value::from(false),
                    "w",
                ))
                .attr(Attribute::computed("id", Type::String, "i").stable())
                .attr(Attribute::computed("arn", Type::String, "a")),
        }
    }

    fn state(cluster: &str, target: &str) -> Value {
        Value::object([
            ("cluster", Value::from(cluster)),
            ("target", Value::from(target)),
            ("wait", Value::from(false)),
            ("id", Value::from("c/s")),
            ("arn", Value::from("arn:1")),
        ])
    }

    fn config(cluster: &str, target: &str) -> Value {
        Value::object([
            ("cluster", Value::from(cluster)),
            ("target", Value::from(target)),
            ("wait", Value::Null),
            ("id", Value::Null),
            ("arn", Value::Null),
        ])
    }

    #[test]
    fn create_marks_computed_unknown_and_applies_defaults() {
        let cfg = config("c", "t");
        let p = base_plan(&schema(), &Value::Null, &cfg, &cfg);
        assert!(p.planned.get("id").is_unknown());
        assert!(p.planned.get("arn").is_unknown());
        assert_eq!(p.planned.get("wait"), &Value::from(false));
        assert!(p.requires_replace.is_empty());
    }

    #[test]
    fn no_change_keeps_prior_values() {
        let prior = state("c", "t");
        let mut proposed = prior.clone();
        proposed.set("wait", Value::from(false));
        let p = base_plan(&schema(), &prior, &proposed, &config("c", "t"));
        assert_eq!(p.planned, prior);
    }

    #[test]
    fn update_keeps_stable_computed_and_unknowns_the_rest() {
        let prior = state("c", "t");
        let mut proposed = prior.clone();
        proposed.set("target", Value::from("t2"));
        let p = base_plan(&schema(), &prior, &proposed, &config("c", "t2"));
        assert_eq!(p.planned.get("id"), &Value::from("c/s"));
        assert!(p.planned.get("arn").is_unknown());
        assert!(p.requires_replace.is_empty());
    }

    #[test]
    fn replace_attribute_is_reported() {
        let prior = state("c", "t");
        let mut proposed = prior.clone();
        proposed.set("cluster", Value::from("c2"));
        let p = base_plan(&schema(), &prior, &proposed, &config("c2", "t"));
        assert_eq!(p.requires_replace, vec![AttrPath::attr("cluster")]);
        assert!(p.planned.get("id").is_unknown());
    }

    #[test]
    fn removed_optional_goes_back_to_default() {
        let mut prior = state("c", "t");
        prior.set("wait", Value::from(true));
        let p = base_plan(&schema(), &prior, &prior.clone(), &config("c", "t"));
        assert_eq!(p.planned.get("wait"), &Value::from(false));
    }
}
