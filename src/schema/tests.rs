//! Unit tests of `schema`.

use super::*;

fn sample() -> Block {
    Block::new("test")
        .attr(Attribute::required("name", Type::String, "n").check(Validator::NotBlank))
        .attr(
            Attribute::defaulted("pct", Type::Number, Value::from(100i64), "p")
                .check(Validator::IntRange(0, 100)),
        )
        .block(NestedBlock::required(
            "inner",
            Block::new("i").attr(Attribute::optional("x", Type::String, "x")),
        ))
}

#[test]
fn validate_reports_each_problem_with_its_path() {
    let cfg = Value::object([
        ("name", Value::from("  ")),
        ("pct", Value::from(101i64)),
        ("inner", Value::List(vec![])),
    ]);
    let mut d = Diagnostics::new();
    sample().validate(&cfg, &AttrPath::root(), &mut d);
    let paths: Vec<String> = d
        .iter()
        .map(|x| x.path.clone().unwrap().to_string())
        .collect();
    assert_eq!(paths, vec!["name", "pct", "inner"]);
}

#[test]
fn unknown_blocks_skip_validation() {
    let mut d = Diagnostics::new();
    sample().validate(&Value::Unknown, &AttrPath::root(), &mut d);
    let cfg = Value::object([
        ("name", Value::from("a")),
        ("inner", Value::List(vec![Value::Unknown])),
    ]);
    sample().validate(&cfg, &AttrPath::root(), &mut d);
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn computed_attributes_cannot_be_configured() {
    let b = Block::new("t")
        .attr(Attribute::optional("name", Type::String, "n"))
        .attr(Attribute::computed("id", Type::String, "i"));
    let mut d = Diagnostics::new();
    let cfg = Value::object([("name", Value::from("a")), ("id", Value::Null)]);
    b.validate(&cfg, &AttrPath::root(), &mut d);
    assert!(d.is_empty(), "{d:?}");
    for id in [Value::from("x"), Value::Unknown] {
        let cfg = Value::object([("name", Value::from("a")), ("id", id)]);
        b.validate(&cfg, &AttrPath::root(), &mut d);
    }
    let paths: Vec<String> = d
        .iter()
        .map(|x| x.path.clone().unwrap_or_default().to_string())
        .collect();
    assert_eq!(paths, ["id", "id"]);
}

#[test]
fn empty_name_or_arn_says_empty() {
    let mut d = Diagnostics::new();
    Validator::NameOrArn("ecs", "cluster/").check(
        &Value::from(""),
        &AttrPath::attr("cluster"),
        &mut d,
    );
    let x = d.iter().next().expect("a diagnostic");
    assert_eq!(x.summary, "Invalid name or ARN");
    assert_eq!(x.detail, "cluster: \"\" is empty; give a name or an ARN.");
}

#[test]
fn unknown_values_skip_validation() {
    let cfg = Value::object([
        ("name", Value::Unknown),
        ("pct", Value::Unknown),
        ("inner", Value::Unknown),
    ]);
    let mut d = Diagnostics::new();
    sample().validate(&cfg, &AttrPath::root(), &mut d);
    assert!(d.is_empty(), "{d:?}");
}

#[test]
fn conform_fills_and_drops() {
    let v = Value::object([("name", Value::from("a")), ("stale", Value::from(1i64))]);
    let c = sample().conform(&v);
    assert!(c.get("stale").is_null());
    assert!(c.as_map().unwrap().contains_key("pct"));
    assert_eq!(c.get("inner"), &Value::List(vec![]));
}

#[test]
fn full_description_adds_what_the_schema_enforces() {
    let a = Attribute::defaulted("pct", Type::Number, Value::from(100i64), "Share.")
        .check(Validator::IntRange(0, 100));
    assert_eq!(
        a.full_description(),
        "Share. Must be a whole number from 0 to 100. Defaults to `100`."
    );
    let c = Attribute::required("cluster", Type::String, "Cluster.")
        .replace()
        .check(Validator::NameOrArn("ecs", "cluster/"));
    assert_eq!(
        c.full_description(),
        "Cluster. Changing it forces a new resource. Must be a name (letters, digits, `-` and `_`, up to 255) \
         or an ARN of the form `arn:PARTITION:ecs:REGION:ACCOUNT:cluster/...`."
    );
    let r = Attribute::required("role_arn", Type::String, "Role.")
        .check(Validator::Arn("iam", "role/"));
    assert!(r
        .full_description()
        .ends_with("`arn:PARTITION:iam::ACCOUNT:role/...`."));
    let t = Attribute::required("task_set", Type::String, "Task set.").check(Validator::TaskSetRef);
    assert!(t
        .full_description()
        .ends_with("`arn:PARTITION:ecs:REGION:ACCOUNT:task-set/CLUSTER/SERVICE/ID`."));
    let s = Attribute::defaulted("name", Type::String, Value::from("x"), "Name.");
    assert_eq!(s.full_description(), "Name. Defaults to `\"x\"`.");
}

/// The generated docs (scripts/docs.py) refuse an undescribed attribute; fail here first.
#[test]
fn every_attribute_and_block_is_described() {
    fn walk(path: &str, b: &Block, missing: &mut Vec<String>) {
        if b.description.trim().is_empty() {
            missing.push(format!("{path} (block)"));
        }
        for a in &b.attributes {
            if a.description.trim().is_empty() {
                missing.push(format!("{path}.{}", a.name));
            }
        }
        for nb in &b.blocks {
            walk(&format!("{path}.{}", nb.name), &nb.block, missing);
        }
    }
    let p = crate::provider::Provider::new();
    let mut missing = Vec::new();
    walk(
        "provider",
        &crate::provider::Provider::schema().block,
        &mut missing,
    );
    for (name, s) in p.resource_schemas().iter().chain(&p.data_source_schemas()) {
        walk(name, &s.block, &mut missing);
    }
    assert!(missing.is_empty(), "no description: {missing:?}");
}

#[test]
fn conform_keeps_unknown_blocks_unknown() {
    let v = Value::object([("name", Value::from("a")), ("inner", Value::Unknown)]);
    assert_eq!(sample().conform(&v).get("inner"), &Value::Unknown);
    let v = Value::object([("inner", Value::List(vec![Value::Unknown]))]);
    assert_eq!(
        sample().conform(&v).get("inner"),
        &Value::List(vec![Value::Unknown])
    );
    assert_eq!(sample().conform(&Value::Unknown), Value::Unknown);
}

#[test]
fn defaults_follow_config() {
    let mut v = Value::object([("pct", Value::from(50i64))]);
    sample().apply_defaults(&mut v, &Value::object([("pct", Value::Null)]));
    assert_eq!(v.get("pct").as_i64(), Some(100));
    let cfg = Value::object([("pct", Value::from(5i64))]);
    let mut v = cfg.clone();
    sample().apply_defaults(&mut v, &cfg);
    assert_eq!(v.get("pct").as_i64(), Some(5));
}
