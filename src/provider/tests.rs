//! Unit tests of `provider`.

use super::config::DEFAULT_MAX_RETRIES;
use super::*;

#[test]
fn settings_read_every_field() {
    let cfg = Value::object([
        ("region", Value::from("eu-west-1")),
        ("profile", Value::from("prod")),
        ("shared_config_files", Value::string_list(["/a"])),
        ("shared_credentials_files", Value::Null),
        ("max_retries", Value::from(3i64)),
        (
            "assume_role",
            Value::List(vec![Value::object([
                ("role_arn", Value::from("arn:aws:iam::1:role/deploy")),
                ("session_name", Value::Null),
                ("external_id", Value::from("x")),
                ("duration", Value::from("1h")),
            ])]),
        ),
        (
            "endpoints",
            Value::List(vec![Value::object([(
                "ecs",
                Value::from("http://127.0.0.1:1"),
            )])]),
        ),
    ]);
    let s = settings_from(&cfg);
    assert_eq!(s.region.as_deref(), Some("eu-west-1"));
    assert_eq!(s.max_retries, 3);
    let role = s.assume_role.unwrap();
    assert_eq!(role.duration, Some(std::time::Duration::from_secs(3600)));
    assert_eq!(s.endpoint_ecs.as_deref(), Some("http://127.0.0.1:1"));
    assert_eq!(s.endpoint_elbv2, None);
}

#[test]
fn defaults_when_empty() {
    let s = settings_from(&Value::Null);
    assert_eq!(s.max_retries, DEFAULT_MAX_RETRIES);
    assert!(s.assume_role.is_none());
}

#[test]
fn state_versions_outside_the_schema_are_refused() {
    let p = Provider::new();
    let raw = br#"{"cluster":"prod","service":"web","task_set":"ecs-svc/1"}"#;
    let (v, d) = p.upgrade_state("ecsx_primary_task_set", 0, raw);
    assert!(!d.has_errors(), "{d:?}");
    assert_eq!(v.get("cluster").as_str(), Some("prod"));
    for version in [-1, i64::MIN, 1, i64::MAX] {
        let (v, d) = p.upgrade_state("ecsx_primary_task_set", version, raw);
        assert!(d.has_errors() && v.is_null(), "version {version}: {d:?}");
    }
}

#[test]
fn session_length_and_endpoints_are_checked() {
    let cfg = |duration: &str, ecs: &str| {
        Value::object([
            (
                "assume_role",
                Value::List(vec![Value::object([
                    ("role_arn", Value::from("arn:aws:iam::1:role/deploy")),
                    ("duration", Value::from(duration)),
                ])]),
            ),
            (
                "endpoints",
                Value::List(vec![Value::object([("ecs", Value::from(ecs))])]),
            ),
        ])
    };
    let paths = |c: &Value| -> Vec<String> {
        Provider::new()
            .validate_provider_config(c)
            .iter()
            .map(|x| x.path.clone().unwrap_or_default().to_string())
            .collect()
    };
    assert!(paths(&cfg("1h", "http://127.0.0.1:5000")).is_empty());
    assert!(paths(&cfg("15m", "https://ecs.eu-west-1.amazonaws.com")).is_empty());
    assert_eq!(
        paths(&cfg("5m", "localhost:5000")),
        ["assume_role[0].duration", "endpoints[0].ecs"]
    );
    assert_eq!(
        paths(&cfg("13h", "http://")),
        ["assume_role[0].duration", "endpoints[0].ecs"]
    );
    // Unknown values wait for apply.
    let mut unknown = cfg("1h", "http://x");
    unknown.set(
        "endpoints",
        Value::List(vec![Value::object([("ecs", Value::Unknown)])]),
    );
    assert!(paths(&unknown).is_empty());
}

#[tokio::test]
async fn unknown_config_defers_instead_of_failing() {
    let p = Provider::new();
    let d = p
        .configure(&Value::object([("region", Value::Unknown)]))
        .await;
    assert!(!d.has_errors(), "{d:?}");
    assert!(matches!(p.ctx().await, Ok(None)));
}
