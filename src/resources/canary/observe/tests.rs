//! Unit tests of `observe`.

use super::super::release::Outcome;
use super::super::rollout::tests::config;
use super::super::routers::router_path;
use super::super::safety::{check_capacity, check_room, computed_count};
use super::*;
use crate::aws::elbv2::test_fixtures::router;
use std::time::Duration;

const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/1";
const GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/green/2";
const RULE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/lb/1/2/3";

/// The state an apply of `cfg` leaves (stable ecs-svc/1, canary ecs-svc/2 if configured).
fn applied(cfg: &Value) -> Value {
    let mut s = cfg.clone();
    let d = Desired::from(cfg);
    let (p, c) = d.weights();
    let canary = d.canary.as_ref().map(|_| TaskSetRef {
        id: "ecs-svc/2".into(),
        arn: "arn:2".into(),
    });
    TaskSetRef::write(
        &mut s,
        Role::Stable,
        Some(&TaskSetRef {
            id: "ecs-svc/1".into(),
            arn: "arn:1".into(),
        }),
    );
    TaskSetRef::write(&mut s, Role::Canary, canary.as_ref());
    s.set("primary_weight", Value::from(p));
    s.set("canary_weight", Value::from(c));
    s.set("rollout_steps", Value::List(vec![]));
    s.set("orphaned_task_set_ids", Value::List(vec![]));
    s.set("drift", Value::List(vec![]));
    s
}

/// A steady task set tagged as the test deployment's.
fn task_set(id: &str, status: &str) -> TaskSet {
    TaskSet {
        id: id.into(),
        status: status.into(),
        stability_status: "STEADY_STATE".into(),
        tags: crate::resources::ownership::ownership_tags("prod/web", Role::Stable),
        ..TaskSet::default()
    }
}

fn service(sets: &[TaskSet]) -> ecs::Service {
    ecs::Service {
        arn: "svc".into(),
        name: "web".into(),
        cluster_arn: "prod".into(),
        status: "ACTIVE".into(),
        controller: "EXTERNAL".into(),
        desired_count: 2,
        task_sets: sets.to_vec(),
        tags: Default::default(),
        ecs_routers: vec![],
    }
}

#[test]
fn a_shift_cut_short_is_drift_that_shifts_again() {
    // Killed between two ModifyRule calls on the way from 10 % to 50 %: the listener
    // reads 50/50, the rule still 90/10, and the configuration already asks for 50 %.
    let state = applied(&config(12, Some((13, 10))));
    let d = Desired::from(&state);
    let sets = vec![
        task_set("ecs-svc/1", "PRIMARY"),
        task_set("ecs-svc/2", "ACTIVE"),
    ];
    let r = |arn: &str, b, g| router(arn, &[(BLUE, b), (GREEN, g)]);
    let managed = [r("prod", 50, 50), r("api", 90, 10)];
    let seen = observe(&state, &d, &service(&sets), &sets, &managed, &[]);
    let drift = seen.get("rollout_steps").strings();
    assert_eq!(drift.len(), 1, "{drift:?}");
    assert!(
        drift[0].contains("split differently") && drift[0].contains("api 90/10"),
        "{drift:?}"
    );
    assert_eq!(
        Drift::from_values(seen.get("drift")),
        [Drift::SplitDisagrees {
            routers: vec![("prod".into(), 50, 50), ("api".into(), 90, 10)]
        }]
    );
    let plan = Rollout::plan(
        &Observed::from_state(&seen),
        &Desired::from(&config(12, Some((13, 50)))),
    );
    assert!(
        plan.routes_production(),
        "the next apply must set every router again"
    );

    // Routers that agree are no drift.
    let agreeing = [r("prod", 90, 10), r("api", 90, 10)];
    let seen = observe(&state, &d, &service(&sets), &sets, &agreeing, &[]);
    assert!(seen.get("rollout_steps").strings().is_empty());
    assert!(seen.get("drift").as_list().is_empty());
}

#[test]
fn a_moved_primary_and_orphans_are_observed() {
    let state = applied(&config(12, None));
    let d = Desired::from(&state);
    let orphan = task_set("ecs-svc/7", "ACTIVE");
    let mut stable = task_set("ecs-svc/1", "ACTIVE");
    stable.task_definition = d.stable_td.clone();
    stable.scale_percent = 100.0;
    let mut primary = task_set("ecs-svc/9", "PRIMARY");
    primary.tags.clear();
    let sets = vec![stable, primary, orphan];
    let managed = [router("prod", &[(BLUE, 100), (GREEN, 0)])];
    let seen = observe(&state, &d, &service(&sets), &sets, &managed, &[]);
    assert_eq!(
        seen.get("rollout_steps").strings(),
        ["drift: task set ecs-svc/9 is PRIMARY instead of stable task set ecs-svc/1"]
    );
    assert_eq!(seen.get("orphaned_task_set_ids").strings(), ["ecs-svc/7"]);
    let plan = Rollout::plan(&Observed::from_state(&seen), &d);
    assert_eq!(
        plan.lines,
        [
            "make stable task set web:12 PRIMARY again",
            "delete orphaned task set ecs-svc/7"
        ]
    );
}

#[test]
fn an_imported_task_set_without_tags_is_adopted_at_apply() {
    let state = applied(&config(12, None));
    let d = Desired::from(&state);
    let mut stable = task_set("ecs-svc/1", "PRIMARY");
    stable.task_definition = d.stable_td.clone();
    stable.scale_percent = 100.0;
    stable.tags.clear();
    let sets = vec![stable];
    let managed = [router("prod", &[(BLUE, 100), (GREEN, 0)])];
    let seen = observe(&state, &d, &service(&sets), &sets, &managed, &[]);
    let plan = Rollout::plan(&Observed::from_state(&seen), &d);
    assert_eq!(
        plan.lines,
        ["tag stable ecs-svc/1 as owned by deployment prod/web"]
    );
}

#[test]
fn computed_counts_round_up_like_ecs() {
    assert_eq!(computed_count(0, 100.0), 0);
    assert_eq!(computed_count(2, 10.0), 1);
    assert_eq!(computed_count(10, 25.0), 3);
    assert_eq!(computed_count(4, 0.0), 0);
}

#[test]
fn no_traffic_to_a_task_set_without_tasks() {
    let cfg = config(12, Some((13, 10)));
    let d = Desired::from(&cfg);
    let r = Rollout::plan(&Observed::default(), &d);
    let mut svc = service(&[]);
    svc.desired_count = 0;
    let mut diags = Diagnostics::new();
    check_capacity(&svc, &d, &r, &mut diags);
    let paths: Vec<String> = diags
        .iter()
        .map(|x| x.path.clone().unwrap().to_string())
        .collect();
    assert_eq!(
        paths,
        ["canary[0].traffic_percent", "stable[0].scale_percent"]
    );
    assert!(
        diags.iter().any(|x| x.detail.contains("desiredCount 0")),
        "{diags:?}"
    );
    svc.desired_count = 2;
    let mut diags = Diagnostics::new();
    check_capacity(&svc, &d, &r, &mut diags);
    assert!(diags.is_empty(), "{diags:?}");
}

#[test]
fn the_limit_error_names_draining_task_sets() {
    let d = Desired::from(&config(12, Some((13, 10))));
    let r = Rollout::plan(&Observed::default(), &d);
    let mut sets: Vec<TaskSet> = (0..4)
        .map(|i| TaskSet {
            task_definition: format!("arn:aws:ecs:us-east-1:1:task-definition/web:{i}"),
            ..task_set(&format!("ecs-svc/{i}"), "ACTIVE")
        })
        .collect();
    sets[3].status = "DRAINING".into();
    sets[3].updated_at = Some("2026-12-02T01:00:00Z".into());
    // 2026-12-02T01:00:00Z
    sets[3].updated_time =
        Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_173_200));
    sets[3].target_group_arns = vec!["arn:tg/blue".into()];
    // The delay could not be read: the default is named.
    let mut diags = Diagnostics::new();
    check_room(&service(&sets), &d, &r, &BTreeMap::new(), &mut diags);
    let detail = &diags.iter().next().expect("an error").detail;
    assert!(
        detail.contains("ecs-svc/3 (DRAINING, web:3, draining since 2026-12-02T01:00:00Z)"),
        "{detail}"
    );
    assert!(detail.contains("1 of them are DRAINING"), "{detail}");
    assert!(detail.contains("300 s unless"), "{detail}");

    // With the target group's delay read (at plan, only when the limit is hit), each DRAINING
    // task set says when it will be gone.
    let delays = BTreeMap::from([("arn:tg/blue".to_string(), Duration::from_secs(90))]);
    let mut diags = Diagnostics::new();
    check_room(&service(&sets), &d, &r, &delays, &mut diags);
    let detail = &diags.iter().next().expect("an error").detail;
    assert!(
        detail.contains(
            "ecs-svc/3 (DRAINING, web:3, draining since 2026-12-02T01:00:00Z, gone around 2026-12-02T01:01:30Z)"
        ),
        "{detail}"
    );
    assert!(
        detail.contains("the time given with each") && !detail.contains("300 s"),
        "{detail}"
    );
}

#[test]
fn router_paths_point_at_the_list_entry() {
    let mut cfg = config(12, None);
    let mut traffic = cfg.block("traffic").clone();
    let other = RULE.replace("/3", "/4");
    traffic.set(
        "listener_rule_arns",
        Value::string_list([RULE, other.as_str()]),
    );
    traffic.set("test_listener_arns", Value::string_list(["arn:l"]));
    cfg.set("traffic", Value::List(vec![traffic]));
    let d = Desired::from(&cfg);
    assert_eq!(
        router_path(&d, &other).to_string(),
        "traffic[0].listener_rule_arns[1]"
    );
    assert_eq!(
        router_path(&d, "arn:l").to_string(),
        "traffic[0].test_listener_arns[0]"
    );
    assert_eq!(router_path(&d, "arn:none").to_string(), "traffic[0]");
}

#[test]
fn a_create_takes_over_the_stable_task_set_of_its_interrupted_predecessor() {
    let d = Desired::from(&config(12, None));
    let mut made = task_set("ecs-svc/5", "ACTIVE");
    made.task_definition = d.stable_td.clone();
    made.target_group_arns = vec![BLUE.into()];
    made.container_name = Some("web".into());
    made.container_port = Some(8080);
    let mut other = task_set("ecs-svc/6", "ACTIVE");
    other.task_definition = d.stable_td.clone();
    other.target_group_arns = vec![GREEN.into()];
    let mut stray = task_set("ecs-svc/7", "ACTIVE");
    stray.target_group_arns = vec![BLUE.into()];
    let seen = resume_create(&d, &[made.clone(), other.clone(), stray]);
    assert_eq!(
        seen.stable.as_ref().map(|t| t.id.as_str()),
        Some("ecs-svc/5")
    );
    // The one on the other target group, which traffic may reach, is the recorded canary:
    // the planner moves traffic off it before it goes.
    assert_eq!(
        seen.canary.as_ref().map(|t| t.id.as_str()),
        Some("ecs-svc/6")
    );
    assert_eq!(seen.orphans, ["ecs-svc/7"]);
    let r = Rollout::plan(&seen, &d);
    assert_eq!(r.creates(), 0, "{r:?}");
    assert_eq!(
        r.lines,
        [
            "make stable task set web:12 PRIMARY again",
            "shift traffic 100/0 on 1 rule",
            "delete canary task set web:12 (ecs-svc/6)",
            "delete orphaned task set ecs-svc/7"
        ]
    );

    // With a canary configured: one of its version is kept, and the record the failed
    // create left on its stable task set is read back.
    let cfg = config(12, Some((13, 10)));
    let d = Desired::from(&cfg);
    let c = d.canary.clone().expect("canary");
    other.task_definition = c.task_definition.clone();
    other.container_name = Some("web".into());
    other.container_port = Some(8080);
    let record = Release {
        step: 1,
        at: "2026-12-07T10:00:00Z".into(),
        ..Release::of(&c, Outcome::RolledBack, String::new())
    };
    let mut recorded = made.clone();
    recorded.tags.insert(
        super::TAG_RELEASE.into(),
        record.to_tag(super::super::release::Writer::FirstApply),
    );
    let seen = resume_create(&d, &[recorded, other.clone()]);
    assert_eq!(
        seen.canary.as_ref().map(|t| t.id.as_str()),
        Some("ecs-svc/6")
    );
    assert_eq!(
        seen.record.as_ref().map(|r| (r.result, r.step)),
        Some((Outcome::RolledBack, 1))
    );
    let r = Rollout::plan(&seen, &d);
    assert_eq!(
        r.creates(),
        0,
        "the canary of the configured version is kept: {r:?}"
    );
    // Another version is not taken over.
    made.task_definition = "arn:aws:ecs:us-east-1:1:task-definition/web:11".into();
    let seen = resume_create(&d, &[made]);
    assert!(seen.stable.is_none());
    assert_eq!(seen.orphans, ["ecs-svc/5"]);
}

#[test]
fn tags_are_read_only_for_task_sets_the_state_does_not_record() {
    let state = applied(&config(12, Some((13, 10))));
    let untagged = |id: &str, status: &str| TaskSet {
        tags: Default::default(),
        ..task_set(id, status)
    };
    let recorded = &[
        untagged("ecs-svc/1", "PRIMARY"),
        untagged("ecs-svc/2", "ACTIVE"),
    ][..];
    assert!(!tags_needed(&state, &service(recorded)));
    // An old stable draining after a promotion needs no tags either.
    let draining = [recorded.to_vec(), vec![untagged("ecs-svc/0", "DRAINING")]].concat();
    assert!(!tags_needed(&state, &service(&draining)));
    // An orphan, a PRIMARY the state missed, a foreign task set: whose it is decides.
    let unknown = [recorded.to_vec(), vec![untagged("ecs-svc/3", "ACTIVE")]].concat();
    assert!(tags_needed(&state, &service(&unknown)));
    // Just imported: the state's drift says the stable does not carry the tag yet.
    let mut imported = state.clone();
    imported.set(
        "drift",
        Drift::to_values(&[Drift::NotOwned {
            task_set: "ecs-svc/1".into(),
            role: Role::Stable,
        }]),
    );
    assert!(tags_needed(&imported, &service(recorded)));
}

#[test]
fn an_action_s_traces_make_a_refresh_read_the_release_records() {
    let state = applied(&config(12, Some((13, 10))));
    let untagged = |id: &str, status: &str| TaskSet {
        tags: Default::default(),
        ..task_set(id, status)
    };
    let both = [
        untagged("ecs-svc/1", "PRIMARY"),
        untagged("ecs-svc/2", "ACTIVE"),
    ];
    let as_recorded = [router(RULE, &[(BLUE, 90), (GREEN, 10)])];
    // Nothing moved since the apply: the refresh stays at three calls.
    assert!(!acted_since(&state, &service(&both), &as_recorded));
    // A continue walked on: other weights.
    let walked = [router(RULE, &[(BLUE, 50), (GREEN, 50)])];
    assert!(acted_since(&state, &service(&both), &walked));
    // An abort: the canary is draining.
    let aborted = [both[0].clone(), untagged("ecs-svc/2", "DRAINING")];
    assert!(acted_since(&state, &service(&aborted), &as_recorded));
    // A promotion: another PRIMARY.
    let promoted = [
        untagged("ecs-svc/1", "ACTIVE"),
        untagged("ecs-svc/2", "PRIMARY"),
    ];
    assert!(acted_since(&state, &service(&promoted), &as_recorded));
    // No canary recorded: no action could have run.
    let mut steady = state.clone();
    TaskSetRef::write(&mut steady, Role::Canary, None);
    assert!(!acted_since(&steady, &service(&both[..1]), &walked));
}

#[test]
fn without_tags_the_recorded_task_sets_read_as_owned_and_nothing_drifts() {
    let state = applied(&config(12, Some((13, 10))));
    let d = Desired::from(&state);
    let untagged = |id: &str, status: &str| TaskSet {
        tags: Default::default(),
        ..task_set(id, status)
    };
    let svc = service(&[
        untagged("ecs-svc/1", "PRIMARY"),
        untagged("ecs-svc/2", "ACTIVE"),
        untagged("ecs-svc/0", "DRAINING"),
    ]);
    let sets = owned_as_recorded(&state, &d, &svc);
    let owned: Vec<&str> = sets
        .iter()
        .filter(|t| owned_by(t, &d.id()))
        .map(|t| t.id.as_str())
        .collect();
    assert_eq!(owned, ["ecs-svc/1", "ecs-svc/2"]);
    let managed = [router(RULE, &[(BLUE, 90), (GREEN, 10)])];
    let seen = observe(&state, &d, &svc, &sets, &managed, &[]);
    assert_eq!(seen.get("drift"), &Value::List(vec![]), "{seen:?}");
    assert_eq!(seen.get("orphaned_task_set_ids"), &Value::List(vec![]));
}
