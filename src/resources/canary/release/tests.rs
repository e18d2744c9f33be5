//! Unit tests of `release`.

use super::*;
use crate::resources::canary::model::CanarySpec;

const TD13: &str = "arn:aws:ecs:us-east-1:1:task-definition/web:13";

fn state(record: Option<Release>) -> Value {
    Value::object([
        (
            "canary",
            Value::List(vec![Value::object([
                ("task_definition", Value::from(TD13)),
                ("attempt", Value::from(2i64)),
            ])]),
        ),
        ("last_release", record.map_or(Value::Null, |r| r.to_value())),
    ])
}

fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What ecsx 0.1.x's continue wrote on the service.
fn approval_tag(c: &CanarySpec, step: usize) -> String {
    format!("{step} {} web:13", c.attempt)
}

/// What ecsx 0.1.x's abort wrote on the service.
fn abort_tag(c: &CanarySpec, at: &str) -> String {
    format!("{} {at} web:13", c.attempt)
}

fn canary() -> CanarySpec {
    CanarySpec {
        task_definition: TD13.into(),
        traffic: 10,
        scale: 100.0,
        steps: vec![],
        attempt: 2,
        gate: Some((2, 50)),
        promote: false,
        resume: None,
    }
}

#[test]
fn records_round_trip_through_the_attribute() {
    let r = Release {
        step: 3,
        remaining: std::time::Duration::from_secs(90),
        approved_step: 2,
        stable_task_definition: "td/web:12".into(),
        ..Release::of(&canary(), Outcome::Interrupted, "stopped".into())
    };
    assert_eq!(Release::read(&r.to_value()), Some(r));
}

#[test]
fn an_approval_tag_of_this_version_raises_approved_step_once() {
    let c = canary();
    let approved = tags(&[(TAG_APPROVED, &approval_tag(&c, 2))]);
    assert_eq!(approval_tag(&c, 2), "2 2 web:13");
    let held = Release {
        step: 2,
        ..Release::of(&c, Outcome::AwaitingApproval, "waiting".into())
    };
    let r = read_back(&state(Some(held)), &approved, &[], None).expect("read back");
    assert_eq!((r.result.as_str(), r.approved_step), ("held", 2));
    // Read back already: nothing new.
    assert_eq!(read_back(&state(Some(r)), &approved, &[], None), None);
    // Another version or attempt: not this release's approval.
    let other = tags(&[(TAG_APPROVED, "2 1 web:13")]);
    assert_eq!(read_back(&state(None), &other, &[], None), None);
    let other = tags(&[(TAG_APPROVED, "2 2 web:14")]);
    assert_eq!(read_back(&state(None), &other, &[], None), None);
}

#[test]
fn a_promoted_stable_outlives_later_records_until_the_stable_changes() {
    const TD12: &str = "arn:aws:ecs:us-east-1:1:task-definition/web:12";
    let c = canary();
    let promoted = Release {
        stable_task_definition: TD12.into(),
        ..Release::of(&c, Outcome::Promoted, String::new())
    };
    let mut v = Value::object([(
        "stable",
        Value::List(vec![Value::object([(
            "task_definition",
            Value::from(TD12),
        )])]),
    )]);
    record(&mut v, &promoted);
    let s = StandIn::read(&v).expect("a promotion stands in");
    assert_eq!(s.runs_for(TD12), Some(TD13));
    assert_eq!(
        s.runs_for("arn:aws:ecs:us-east-1:1:task-definition/web:14"),
        None
    );
    // The next release's record replaces the promotion's; the stand-in stays.
    record(&mut v, &Release::of(&c, Outcome::Completed, String::new()));
    assert_eq!(StandIn::read(&v), Some(s.clone()));
    let mut planned = v.clone();
    plan_stand_in(&v, &mut planned);
    assert_eq!(StandIn::read(&planned), Some(s));
    // A configuration that names another stable version ends it.
    planned.set(
        "stable",
        Value::List(vec![Value::object([(
            "task_definition",
            Value::from(TD13),
        )])]),
    );
    plan_stand_in(&v, &mut planned);
    assert!(planned.get(StandIn::ATTRIBUTE).is_null());
}

#[test]
fn a_version_1_state_gets_the_stand_in_its_promotion_record_made() {
    let c = canary();
    let promoted = Release {
        stable_task_definition: "td/web:12".into(),
        ..Release::of(&c, Outcome::Promoted, String::new())
    };
    let mut v = state(Some(promoted));
    upgrade_stand_in(&mut v);
    assert_eq!(
        StandIn::read(&v),
        Some(StandIn {
            task_definition: TD13.into(),
            in_place_of: "td/web:12".into()
        })
    );
    let mut held = state(Some(Release::of(
        &c,
        Outcome::AwaitingApproval,
        String::new(),
    )));
    upgrade_stand_in(&mut held);
    assert!(held.get(StandIn::ATTRIBUTE).is_null());
}

#[test]
fn an_abort_tag_of_this_version_rolls_it_back() {
    let c = canary();
    let at = "2026-12-02T15:00:00Z";
    let aborted = tags(&[
        (TAG_ABORTED, &abort_tag(&c, at)),
        (TAG_APPROVED, "2 2 web:13"),
    ]);
    let r = read_back(&state(None), &aborted, &[], None).expect("read back");
    assert_eq!(
        (r.result, r.reason.as_str(), r.at.as_str()),
        (Outcome::RolledBack, ABORTED_BY_ACTION, at)
    );
    assert!(r.holds_back(&c));
    assert_eq!(
        read_back(&state(Some(r)), &aborted, &[], None),
        None,
        "already recorded"
    );
    let older = tags(&[(TAG_ABORTED, &format!("1 {at} web:13"))]);
    assert_eq!(
        read_back(&state(None), &older, &[], None),
        None,
        "an earlier attempt's abort"
    );
}

#[test]
fn a_record_tag_round_trips_and_fits_ecs_limit() {
    let c = canary();
    let r = Release {
        step: 2,
        remaining: std::time::Duration::from_secs(75),
        approved_step: 1,
        at: "2026-12-07T10:00:00.250Z".into(),
        ..Release::of(&c, Outcome::Interrupted, "stopped".into())
    };
    let v = r.to_tag(Writer::FirstApply);
    assert!(
        v.starts_with("v1 interrupted 2 2 1 75 2026-12-07T10:00:00.250Z "),
        "{v}"
    );
    assert!(v.ends_with(" apply web:13"), "{v}");
    let back = Release::from_tag(&v, TD13, 2, "td/web:12").expect("read");
    assert_eq!(
        (back.result, back.step, back.remaining, back.approved_step),
        (
            Outcome::Interrupted,
            2,
            std::time::Duration::from_secs(75),
            1
        )
    );
    assert_eq!(back.task_definition, TD13);
    assert!(
        back.reason.contains("the deployment's first apply"),
        "{}",
        back.reason
    );
    // Another version or attempt: not this release's record.
    assert_eq!(Release::from_tag(&v, TD13, 1, ""), None);
    assert_eq!(Release::from_tag(&v, "td/web:14", 2, ""), None);
    assert_eq!(Release::from_tag("2 2 web:13", TD13, 2, ""), None);

    // A family name at ECS's 255 characters still fits a tag value.
    let long = format!(
        "arn:aws:ecs:us-east-1:1:task-definition/{}:7",
        "f".repeat(255)
    );
    let promoted = Release {
        task_definition: long.clone(),
        stable_task_definition: TD13.into(),
        ..Release::of(&c, Outcome::Promoted, String::new())
    };
    let v = promoted.to_tag(Writer::Continue);
    assert!(v.len() <= 256, "{} characters", v.len());
    let back = Release::from_tag(&v, &long, 2, TD13).expect("read");
    assert_eq!(back.stable_task_definition, TD13);
    assert_eq!(
        Release::from_tag(&v, &long, 2, "td/web:99").map(|r| r.stable_task_definition),
        Some(String::new()),
        "a promotion's stable version is kept only while it is still configured"
    );
}

#[test]
fn the_newest_record_on_the_task_sets_wins_over_the_state_and_the_service() {
    let c = canary();
    let at = |s: &str| Release {
        at: s.into(),
        step: 2,
        ..Release::of(&c, Outcome::AwaitingApproval, "waiting".into())
    };
    let held = at("2026-12-07T10:00:00Z");
    let rolled = Release {
        result: Outcome::RolledBack,
        ..at("2026-12-07T10:05:00Z")
    };
    let approved = Release {
        approved_step: 2,
        ..at("2026-12-07T10:01:00Z")
    };
    let a = tags(&[(TAG_RELEASE, &approved.to_tag(Writer::Continue))]);
    let b = tags(&[(TAG_RELEASE, &rolled.to_tag(Writer::Abort))]);
    let legacy = tags(&[(TAG_APPROVED, "2 2 web:13")]);
    let r = read_back(&state(Some(held.clone())), &legacy, &[&a, &b], None).expect("newer");
    assert_eq!(r.result, Outcome::RolledBack);
    assert_eq!(r.reason, ABORTED_BY_ACTION);
    // Records older than the state's own are history.
    let later = at("2026-12-07T11:00:00Z");
    assert_eq!(
        read_back(&state(Some(later)), &tags(&[]), &[&a, &b], None),
        None
    );
    // Nor do records older than the canary task set the state records: an abort of an
    // earlier release of the same version is not this release's.
    let created = aws_smithy_types::DateTime::from_secs(
        aws_smithy_types::DateTime::from_str(
            "2026-12-07T10:06:00Z",
            aws_smithy_types::date_time::Format::DateTime,
        )
        .expect("a time")
        .secs(),
    );
    assert_eq!(
        read_back(
            &state(Some(held.clone())),
            &tags(&[]),
            &[&a, &b],
            Some(created)
        ),
        None
    );
    // With no record on the task sets, the service tags of 0.1.x still count.
    let r = read_back(&state(Some(held)), &legacy, &[], None).expect("legacy");
    assert_eq!(r.approved_step, 2);
}
