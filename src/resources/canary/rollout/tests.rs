//! Unit tests of `rollout`.

use super::super::drift::Drift;
use super::super::model::TaskSetRef;
use super::*;
use crate::resources::ownership::Role;
use crate::value::Value;

const TD: &str = "arn:aws:ecs:us-east-1:1:task-definition/web:";
const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/1";
const GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/green/2";
const RULE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/lb/1/2/3";
const TEST: &str = "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/lb/1/9";

/// A configuration: stable version, optional (canary version, traffic %).
pub(crate) fn config(stable: u32, canary: Option<(u32, i64)>) -> Value {
    Value::object([
        ("cluster", Value::from("prod")),
        ("service", Value::from("web")),
        ("wait_for_steady_state", Value::from(true)),
        ("keep_primary_on_destroy", Value::from(false)),
        (
            "task_set",
            Value::List(vec![Value::object([
                ("container_name", Value::from("web")),
                ("container_port", Value::from(8080i64)),
            ])]),
        ),
        (
            "stable",
            Value::List(vec![Value::object([
                ("task_definition", Value::from(format!("{TD}{stable}"))),
                ("scale_percent", Value::from(100i64)),
            ])]),
        ),
        (
            "canary",
            Value::List(
                canary
                    .map(|(td, p)| {
                        Value::object([
                            ("task_definition", Value::from(format!("{TD}{td}"))),
                            ("traffic_percent", Value::from(p)),
                            ("scale_percent", Value::from(100i64)),
                        ])
                    })
                    .into_iter()
                    .collect(),
            ),
        ),
        (
            "traffic",
            Value::List(vec![Value::object([
                ("primary_target_group_arn", Value::from(BLUE)),
                ("canary_target_group_arn", Value::from(GREEN)),
                ("listener_rule_arns", Value::string_list([RULE])),
            ])]),
        ),
    ])
}

/// What a refresh observes after an apply of `cfg` (stable ecs-svc/1, canary as given).
fn applied(cfg: &Value, canary: Option<&str>) -> Observed {
    let d = Desired::from(cfg);
    Observed {
        weights: Some(d.weights()),
        stable: Some(TaskSetRef {
            id: "ecs-svc/1".into(),
            arn: "arn:1".into(),
        }),
        canary: canary.map(|id| TaskSetRef {
            id: id.into(),
            arn: "arn:2".into(),
        }),
        deployed: Some(d),
        live_tg: Some(BLUE.into()),
        ..Observed::default()
    }
}

fn steps(seen: &Observed, cfg: &Value) -> Vec<String> {
    Rollout::plan(seen, &Desired::from(cfg)).lines
}

fn with_promotion(mut cfg: Value, mode: &str) -> Value {
    cfg.set("promotion", Value::from(mode));
    cfg
}

/// The task sets a rollout deletes, by id (one it creates itself: "new").
fn retired(r: &Rollout) -> Vec<String> {
    r.steps
        .iter()
        .filter_map(|s| match s {
            Step::Retire {
                subject: Subject::Recorded(t),
                ..
            } => Some(t.id.clone()),
            Step::Retire { .. } => Some("new".into()),
            _ => None,
        })
        .collect()
}

/// What a rollout writes: (managed routers, test routers, PRIMARY changes, creates).
fn writes(r: &Rollout) -> (bool, bool, bool, usize) {
    let tests = r
        .steps
        .iter()
        .any(|s| matches!(s, Step::Route { tests: Some(_), .. }));
    let primary = r
        .steps
        .iter()
        .any(|s| matches!(s, Step::MakePrimary { .. }));
    (r.routes_production(), tests, primary, r.creates())
}

fn with_tests(mut cfg: Value) -> Value {
    let mut t = cfg.block("traffic").clone();
    t.set("test_listener_arns", Value::string_list([TEST]));
    cfg.set("traffic", Value::List(vec![t]));
    cfg
}

#[test]
fn bootstrap_creates_stable_then_routes() {
    assert_eq!(
        steps(&Observed::default(), &config(12, None)),
        [
            "create stable task set web:12 (scale 100%) on tg blue",
            "make stable task set web:12 PRIMARY",
            "shift traffic 100/0 on 1 rule"
        ]
    );
}

#[test]
fn idle_plan_has_no_steps() {
    let cfg = config(12, Some((13, 10)));
    let r = Rollout::plan(&applied(&cfg, Some("ecs-svc/2")), &Desired::from(&cfg));
    assert!(r.is_idle(), "{r:?}");
    assert!(r.lines.is_empty());
}

#[test]
fn canary_in_creates_before_shifting() {
    let seen = applied(&config(12, None), None);
    assert_eq!(
        steps(&seen, &config(12, Some((13, 10)))),
        [
            "create canary task set web:13 (scale 100%) on tg green",
            "shift traffic 90/10 on 1 rule"
        ]
    );
}

#[test]
fn traffic_change_only_shifts() {
    let seen = applied(&config(12, Some((13, 10))), Some("ecs-svc/2"));
    let r = Rollout::plan(&seen, &Desired::from(&config(12, Some((13, 50)))));
    assert_eq!(r.lines, ["shift traffic 50/50 on 1 rule"]);
    assert_eq!(writes(&r), (true, false, false, 0));
    assert!(retired(&r).is_empty());
    assert_eq!(r.live_after.as_deref(), Some(BLUE));
}

#[test]
fn swap_promotes_the_canary_itself_and_the_target_groups_trade_roles() {
    let mut prior = with_tests(config(12, Some((13, 50))));
    let mut canary = prior.block("canary").clone();
    canary.set("scale_percent", Value::from(50i64));
    prior.set("canary", Value::List(vec![canary]));
    let seen = applied(&prior, Some("ecs-svc/2"));
    let r = Rollout::plan(&seen, &Desired::from(&with_tests(config(13, None))));
    assert_eq!(
        r.lines,
        [
            "scale canary task set web:13 to 100%",
            "move all production traffic to tg green on 1 rule",
            "make canary task set web:13 PRIMARY (tg green is live now)",
            "delete old stable task set web:12 (ecs-svc/1)"
        ]
    );
    assert_eq!(r.creates(), 0, "no third task set");
    assert_eq!(retired(&r), ["ecs-svc/1"]);
    assert_eq!(r.live_after.as_deref(), Some(GREEN));
    assert_eq!(
        r.stable_after,
        Some(Subject::Recorded(TaskSetRef {
            id: "ecs-svc/2".into(),
            arn: "arn:2".into()
        }))
    );
    assert_eq!(r.canary_after, None);

    // The next canary goes to blue, where the old stable was, and splits the other way round.
    let mut after = applied(&with_tests(config(13, None)), None);
    after.live_tg = Some(GREEN.into());
    let r = Rollout::plan(
        &after,
        &Desired::from(&with_tests(config(13, Some((14, 10))))),
    );
    assert_eq!(
        r.lines,
        [
            "create canary task set web:14 (scale 100%) on tg blue",
            "shift traffic 90/10 on 1 rule",
            "route test traffic 100% to blue on 1 test listener"
        ]
    );
    let Some(Step::Route {
        production: Some(split),
        ..
    }) = r.steps.get(1)
    else {
        panic!("{r:?}")
    };
    assert_eq!(split, &vec![(BLUE.into(), 10), (GREEN.into(), 90)]);
}

#[test]
fn swap_blue_green_without_a_canary_never_touches_the_live_target_group() {
    let seen = applied(&with_tests(config(12, None)), None);
    let r = Rollout::plan(&seen, &Desired::from(&with_tests(config(13, None))));
    assert_eq!(
        r.lines,
        [
            "create stable task set web:13 (scale 100%) on tg green",
            "route test traffic 100% to green on 1 test listener",
            "move all production traffic to tg green on 1 rule",
            "make stable task set web:13 PRIMARY (tg green is live now)",
            "delete old stable task set web:12 (ecs-svc/1)"
        ]
    );
    assert_eq!(r.live_after.as_deref(), Some(GREEN));
    assert_eq!(r.stable_after, Some(Subject::ToCreate(NewTaskSet::Stable)));
}

#[test]
fn a_stable_change_with_another_canary_version_clears_the_idle_target_group_first() {
    let seen = applied(&config(12, Some((13, 10))), Some("ecs-svc/2"));
    let r = Rollout::plan(&seen, &Desired::from(&config(14, None)));
    assert_eq!(
        r.lines,
        [
            "shift traffic 100/0 on 1 rule",
            "delete canary task set web:13 (ecs-svc/2)",
            "create stable task set web:14 (scale 100%) on tg green",
            "move all production traffic to tg green on 1 rule",
            "make stable task set web:14 PRIMARY (tg green is live now)",
            "delete old stable task set web:12 (ecs-svc/1)"
        ]
    );
}

#[test]
fn replace_promotes_through_the_canary_and_returns_to_the_primary_target_group() {
    let seen = applied(&config(12, Some((13, 50))), Some("ecs-svc/2"));
    let r = Rollout::plan(
        &seen,
        &Desired::from(&with_promotion(config(13, None), "replace")),
    );
    assert_eq!(
        r.lines,
        [
            "move all production traffic to tg green on 1 rule",
            "make canary task set web:13 PRIMARY (tg green is live now)",
            "delete old stable task set web:12 (ecs-svc/1)",
            "create stable task set web:13 (scale 100%) on tg blue",
            "move all production traffic to tg blue on 1 rule",
            "make stable task set web:13 PRIMARY (tg blue is live now)",
            "delete canary task set web:13 (ecs-svc/2)"
        ]
    );
    assert_eq!(retired(&r), ["ecs-svc/1", "ecs-svc/2"]);
    assert_eq!(r.live_after.as_deref(), Some(BLUE));

    // Without a canary of the new version, a bridge task set serves while blue is replaced.
    let seen = applied(&config(12, None), None);
    let r = Rollout::plan(
        &seen,
        &Desired::from(&with_promotion(config(13, None), "replace")),
    );
    assert_eq!(
        r.lines,
        [
            "create bridge task set web:13 (scale 100%) on tg green",
            "move all production traffic to tg green on 1 rule",
            "make bridge task set web:13 PRIMARY (tg green is live now)",
            "delete old stable task set web:12 (ecs-svc/1)",
            "create stable task set web:13 (scale 100%) on tg blue",
            "move all production traffic to tg blue on 1 rule",
            "make stable task set web:13 PRIMARY (tg blue is live now)",
            "delete bridge task set web:13"
        ]
    );
    assert_eq!(r.creates(), 2);
}

#[test]
fn replace_brings_a_swapped_deployment_home() {
    let mut seen = applied(&config(12, None), None);
    seen.live_tg = Some(GREEN.into());
    let r = Rollout::plan(
        &seen,
        &Desired::from(&with_promotion(config(13, None), "replace")),
    );
    assert_eq!(
        r.lines,
        [
            "create stable task set web:13 (scale 100%) on tg blue",
            "move all production traffic to tg blue on 1 rule",
            "make stable task set web:13 PRIMARY (tg blue is live now)",
            "delete old stable task set web:12 (ecs-svc/1)"
        ]
    );
    // A mode change alone moves nothing.
    assert!(steps(&seen, &with_promotion(config(12, None), "replace")).is_empty());
}

#[test]
fn rollback_shifts_before_deleting() {
    let seen = applied(&config(12, Some((13, 50))), Some("ecs-svc/2"));
    assert_eq!(
        steps(&seen, &config(12, None)),
        [
            "shift traffic 100/0 on 1 rule",
            "delete canary task set web:13 (ecs-svc/2)"
        ]
    );
}

#[test]
fn new_canary_version_takes_the_old_one_out_of_traffic_first() {
    let seen = applied(&config(12, Some((13, 10))), Some("ecs-svc/2"));
    let r = Rollout::plan(&seen, &Desired::from(&config(12, Some((14, 10)))));
    assert_eq!(
        r.lines,
        [
            "shift traffic 100/0 on 1 rule",
            "delete canary task set web:13 (ecs-svc/2)",
            "create canary task set web:14 (scale 100%) on tg green",
            "shift traffic 90/10 on 1 rule"
        ]
    );
    assert_eq!(retired(&r), ["ecs-svc/2"]);
}

#[test]
fn drift_and_orphans_become_steps() {
    let cfg = config(12, None);
    let mut seen = applied(&cfg, None);
    seen.drift = vec![Drift::PrimaryMoved {
        stable: "ecs-svc/1".into(),
        primary: Some("ecs-svc/9".into()),
    }];
    seen.orphans = vec!["ecs-svc/7".into()];
    seen.weights = Some((70, 30));
    assert_eq!(
        steps(&seen, &cfg),
        [
            "make stable task set web:12 PRIMARY again",
            "shift traffic 100/0 on 1 rule",
            "delete orphaned task set ecs-svc/7"
        ]
    );
}

/// Observed states that differ only in what AWS shows, each with the writes it must plan.
#[test]
fn observed_states_drive_the_writes() {
    let cfg = with_tests(config(12, Some((13, 10))));
    let d = Desired::from(&cfg);
    let base = applied(&cfg, Some("ecs-svc/2"));
    struct Case {
        name: &'static str,
        seen: Observed,
        production: bool,
        tests: bool,
        primary: bool,
        creates: usize,
    }
    let with = |f: &dyn Fn(&mut Observed)| {
        let mut s = base.clone();
        f(&mut s);
        s
    };
    let cases = [
        Case {
            name: "in sync",
            seen: base.clone(),
            production: false,
            tests: false,
            primary: false,
            creates: 0,
        },
        Case {
            name: "weights edited by hand",
            seen: with(&|s| s.weights = Some((100, 0))),
            production: true,
            tests: false,
            primary: false,
            creates: 0,
        },
        Case {
            name: "a shift cut short",
            seen: with(&|s| {
                s.drift = vec![Drift::SplitDisagrees {
                    routers: vec![("a".into(), 50, 50), ("b".into(), 90, 10)],
                }]
            }),
            production: true,
            tests: true,
            primary: false,
            creates: 0,
        },
        Case {
            name: "test listener off",
            seen: with(&|s| {
                s.drift = vec![Drift::TestRouteOff {
                    router: TEST.into(),
                }]
            }),
            production: true,
            tests: true,
            primary: false,
            creates: 0,
        },
        Case {
            name: "PRIMARY moved",
            seen: with(&|s| {
                s.drift = vec![Drift::PrimaryMoved {
                    stable: "ecs-svc/1".into(),
                    primary: None,
                }]
            }),
            production: false,
            tests: false,
            primary: true,
            creates: 0,
        },
        // Green still takes 10% with nothing behind it: it goes back to blue before the new
        // canary comes up there.
        Case {
            name: "canary deleted out of band",
            seen: with(&|s| s.canary = None),
            production: true,
            tests: true,
            primary: false,
            creates: 1,
        },
        Case {
            name: "stable deleted out of band",
            seen: with(&|s| s.stable = None),
            production: false,
            tests: false,
            primary: true,
            creates: 1,
        },
    ];
    for c in cases {
        let r = Rollout::plan(&c.seen, &d);
        assert_eq!(
            writes(&r),
            (c.production, c.tests, c.primary, c.creates),
            "{}: {r:?}",
            c.name
        );
    }
}

#[test]
fn template_from_ecs_defaults_rolls_nothing_but_a_real_change_does() {
    let cfg = config(12, Some((13, 10)));
    let mut prior_cfg = cfg.clone();
    // What import reads back from ECS for a task set created without a platform version.
    let mut ts = prior_cfg.block("task_set").clone();
    ts.set("platform_version", Value::from("LATEST"));
    ts.set(
        "capacity_provider_strategy",
        Value::List(vec![Value::object([
            ("capacity_provider", Value::from("FARGATE")),
            ("weight", Value::from(0i64)),
            ("base", Value::from(0i64)),
        ])]),
    );
    prior_cfg.set("task_set", Value::List(vec![ts]));
    let seen = applied(&prior_cfg, Some("ecs-svc/2"));
    let mut same = cfg.clone();
    let mut ts = same.block("task_set").clone();
    ts.set(
        "capacity_provider_strategy",
        Value::List(vec![Value::object([(
            "capacity_provider",
            Value::from("FARGATE"),
        )])]),
    );
    same.set("task_set", Value::List(vec![ts.clone()]));
    assert!(steps(&seen, &same).is_empty());

    // ECS may report subnets in another order than the configuration gives them.
    let mut reordered = same.clone();
    let mut rts = reordered.block("task_set").clone();
    rts.set(
        "network_configuration",
        Value::List(vec![Value::object([(
            "subnets",
            Value::string_list(["subnet-b", "subnet-a"]),
        )])]),
    );
    reordered.set("task_set", Value::List(vec![rts.clone()]));
    let mut forward = prior_cfg.clone();
    let mut fts = forward.block("task_set").clone();
    fts.set(
        "network_configuration",
        Value::List(vec![Value::object([(
            "subnets",
            Value::string_list(["subnet-a", "subnet-b"]),
        )])]),
    );
    forward.set("task_set", Value::List(vec![fts]));
    assert!(steps(&applied(&forward, Some("ecs-svc/2")), &reordered).is_empty());

    ts.set("tags", Value::object([("team", Value::from("x"))]));
    let mut tagged = same.clone();
    tagged.set("task_set", Value::List(vec![ts]));
    let r = Rollout::plan(&seen, &Desired::from(&tagged));
    // Tags alone change in place: no new task set, no traffic move.
    assert_eq!(r.creates(), 0, "{r:?}");
    assert_eq!(
        r.lines,
        [
            "retag stable task set web:12 (ecs-svc/1) in place: team=x",
            "retag canary task set web:13 (ecs-svc/2) in place: team=x"
        ]
    );
    assert!(!r.routes_production());
    // With anything else changed as well, the task sets are replaced, new tags included.
    let mut both = tagged.clone();
    let mut bts = both.block("task_set").clone();
    bts.set("container_port", Value::from(9090i64));
    both.set("task_set", Value::List(vec![bts]));
    let r = Rollout::plan(&seen, &Desired::from(&both));
    assert_eq!(r.creates(), 2, "{r:?}");
    assert!(r.steps.iter().all(|s| !matches!(s, Step::Retag { .. })));
}

#[test]
fn an_import_is_adopted_by_tagging_first() {
    let cfg = config(12, Some((13, 25)));
    let mut seen = applied(&cfg, Some("ecs-svc/2"));
    seen.drift = vec![
        Drift::NotOwned {
            task_set: "ecs-svc/1".into(),
            role: Role::Stable,
        },
        Drift::NotOwned {
            task_set: "ecs-svc/2".into(),
            role: Role::Canary,
        },
    ];
    let r = Rollout::plan(&seen, &Desired::from(&cfg));
    assert_eq!(
        r.lines,
        [
            "tag stable ecs-svc/1 as owned by deployment prod/web",
            "tag canary ecs-svc/2 as owned by deployment prod/web"
        ]
    );
    assert!(matches!(&r.steps[1], Step::TagOwned { task_set, .. } if task_set.arn == "arn:2"));
    assert_eq!(writes(&r), (false, false, false, 0));
}

#[test]
fn an_unassociated_target_group_is_added_at_weight_0_first() {
    let seen = Observed {
        forwarded: Some(vec![BLUE.into()]),
        ..applied(&config(12, None), None)
    };
    let r = Rollout::plan(&seen, &Desired::from(&config(12, Some((13, 10)))));
    assert_eq!(
        r.lines,
        [
            "add tg green at weight 0 on 1 rule (a task set needs a target group the load balancer forwards to)",
            "create canary task set web:13 (scale 100%) on tg green",
            "shift traffic 90/10 on 1 rule"
        ]
    );
    // A blue/green release onto green needs the same first.
    assert_eq!(
        steps(&seen, &config(13, None))[0],
        "add tg green at weight 0 on 1 rule (a task set needs a target group the load balancer forwards to)"
    );
    let associated = Observed {
        forwarded: Some(vec![BLUE.into(), GREEN.into()]),
        ..seen
    };
    assert_eq!(
        steps(&associated, &config(12, Some((13, 10)))),
        [
            "create canary task set web:13 (scale 100%) on tg green",
            "shift traffic 90/10 on 1 rule"
        ]
    );
}

#[test]
fn an_imported_state_without_template_adopts_the_configured_one() {
    let cfg = config(12, None);
    let mut imported = cfg.clone();
    imported.set("task_set", Value::List(vec![]));
    let seen = applied(&imported, None);
    assert!(steps(&seen, &cfg).is_empty());
}

/// `config` with the canary walking `steps` (traffic, pause) and an alarm watched.
fn scheduled(stable: u32, canary: u32, steps: &[(i64, &str)]) -> Value {
    let mut cfg = config(stable, Some((canary, 0)));
    let mut c = cfg.block("canary").clone();
    c.set(
        "step",
        Value::List(
            steps
                .iter()
                .map(|(t, p)| {
                    Value::object([
                        ("traffic_percent", Value::from(*t)),
                        ("pause", Value::from(*p)),
                    ])
                })
                .collect(),
        ),
    );
    cfg.set("canary", Value::List(vec![c]));
    cfg.set(
        "analysis",
        Value::List(vec![Value::object([
            ("alarm_names", Value::string_list(["web-5xx"])),
            ("check_interval", Value::from("30s")),
        ])]),
    );
    cfg
}

#[test]
fn a_schedule_walks_each_step_with_its_bake() {
    let seen = applied(&config(12, None), None);
    let cfg = scheduled(12, 13, &[(5, "0s"), (10, "5m"), (50, "10m")]);
    let r = Rollout::plan(&seen, &Desired::from(&cfg));
    assert_eq!(
        r.lines,
        [
            "create canary task set web:13 (scale 100%) on tg green",
            "shift traffic 95/5 on 1 rule",
            "step 1: check alarms web-5xx at 5%",
            "shift traffic 90/10 on 1 rule",
            "step 2: bake 5m at 10% watching alarms web-5xx",
            "shift traffic 50/50 on 1 rule",
            "step 3: bake 10m at 50% watching alarms web-5xx",
            "takes at least 15m (bakes), plus the waits for steady task sets"
        ]
    );
    assert!(r.bakes());
    assert_eq!(
        r.schedule.iter().map(|s| s.traffic).collect::<Vec<_>>(),
        [5, 10, 50]
    );
    assert_eq!(Desired::from(&cfg).weights(), (50, 50));

    // Applied: nothing more to do. Adding a step above the current weight walks only it.
    let mut at_50 = applied(&cfg, Some("ecs-svc/2"));
    at_50.weights = Some((50, 50));
    assert!(Rollout::plan(&at_50, &Desired::from(&cfg)).is_idle());
    let more = scheduled(12, 13, &[(5, "0s"), (10, "5m"), (50, "10m"), (100, "1m")]);
    assert_eq!(
        steps(&at_50, &more),
        [
            "shift traffic 0/100 on 1 rule",
            "step 4: bake 1m at 100% watching alarms web-5xx",
            "takes at least 1m (bakes), plus the waits for steady task sets"
        ]
    );
}

#[test]
fn a_rolled_back_version_is_held_until_its_attempt_is_raised() {
    let seen = applied(&config(12, None), None);
    let mut cfg = scheduled(12, 13, &[(10, "5m")]);
    cfg.set(
        "last_release",
        Value::object([
            ("result", Value::from("rolled_back")),
            ("task_definition", Value::from(format!("{TD}13"))),
            ("attempt", Value::from(1i64)),
            (
                "reason",
                Value::from("alarm web-5xx in ALARM at step 1 (10%)"),
            ),
            ("at", Value::from("2026-12-02T06:00:00Z")),
        ]),
    );
    let d = Desired::from(&cfg);
    assert!(d.canary.is_none() && d.held.is_some());
    assert!(Rollout::plan(&seen, &d).is_idle());
    let mut retry = cfg.clone();
    let mut c = retry.block("canary").clone();
    c.set("attempt", Value::from(2i64));
    retry.set("canary", Value::List(vec![c]));
    assert_eq!(Rollout::plan(&seen, &Desired::from(&retry)).creates(), 1);
}

#[test]
fn a_gate_ends_the_apply_before_its_step_until_approved() {
    let seen = applied(&config(12, None), None);
    let mut cfg = scheduled(12, 13, &[(10, "1m"), (50, "1m")]);
    let mut c = cfg.block("canary").clone();
    let mut steps = c.get("step").as_list().to_vec();
    steps[1].set("approval", Value::from(true));
    c.set("step", Value::List(steps));
    cfg.set("canary", Value::List(vec![c.clone()]));
    let d = Desired::from(&cfg);
    assert_eq!(d.weights(), (90, 10));
    assert_eq!(d.canary.as_ref().and_then(|c| c.gate), Some((2, 50)));
    let r = Rollout::plan(&seen, &d);
    assert_eq!(
        r.lines.last().map(String::as_str),
        Some("step 2: hold at 10% until approved (canary.approved_step = 2), then 50%")
    );
    c.set("approved_step", Value::from(2i64));
    cfg.set("canary", Value::List(vec![c]));
    let d = Desired::from(&cfg);
    assert_eq!(
        (d.weights(), d.canary.as_ref().and_then(|c| c.gate)),
        ((50, 50), None)
    );
}

/// `cfg` with `last_release` set to `record` (result, canary version, extra fields).
fn with_record(mut cfg: Value, result: &str, canary: u32, extra: &[(&str, Value)]) -> Value {
    let mut r = Value::object([
        ("result", Value::from(result)),
        ("task_definition", Value::from(format!("{TD}{canary}"))),
        ("attempt", Value::from(1i64)),
        ("reason", Value::from("")),
        ("at", Value::from("2026-12-02T06:00:00Z")),
    ]);
    for (k, v) in extra {
        r.set(k, v.clone());
    }
    cfg.set("last_release", r);
    cfg
}

fn set_canary(cfg: &mut Value, k: &str, v: Value) {
    let mut c = cfg.block("canary").clone();
    c.set(k, v);
    cfg.set("canary", Value::List(vec![c]));
}

#[test]
fn promote_walks_the_schedule_then_swaps_in_the_same_apply() {
    let seen = applied(&config(12, None), None);
    let mut cfg = scheduled(12, 13, &[(10, "1m"), (50, "1m")]);
    set_canary(&mut cfg, "promote", Value::from(true));
    set_canary(&mut cfg, "scale_percent", Value::from(50i64));
    let d = Desired::from(&cfg);
    assert_eq!(d.weights(), (100, 0));
    let r = Rollout::plan(&seen, &d);
    assert_eq!(
        r.lines,
        [
            "create canary task set web:13 (scale 50%) on tg green",
            "shift traffic 90/10 on 1 rule",
            "step 1: bake 1m at 10% watching alarms web-5xx",
            "shift traffic 50/50 on 1 rule",
            "step 2: bake 1m at 50% watching alarms web-5xx",
            "scale canary task set web:13 to 100%",
            "check alarms web-5xx once more before the promotion",
            "move all production traffic to tg green on 1 rule",
            "make canary task set web:13 PRIMARY (tg green is live now)",
            "delete old stable task set web:12 (ecs-svc/1)",
            "takes at least 2m (bakes), plus the waits for steady task sets"
        ]
    );
    assert_eq!(
        (&r.stable_after, &r.canary_after, r.live_after.as_deref()),
        (
            &Some(Subject::ToCreate(NewTaskSet::Canary)),
            &None,
            Some(GREEN)
        )
    );
    assert_eq!(
        r.schedule.iter().map(|s| s.traffic).collect::<Vec<_>>(),
        [10, 50, 100]
    );

    // Promoted: the promoted version stands in for the configured stable one, and the
    // canary block, still configured, starts nothing.
    let mut done = with_record(
        cfg.clone(),
        "promoted",
        13,
        &[("stable_task_definition", Value::from(format!("{TD}12")))],
    );
    done.set(
        "promoted_stable",
        Value::object([
            ("task_definition", Value::from(format!("{TD}13"))),
            ("in_place_of", Value::from(format!("{TD}12"))),
        ]),
    );
    let d = Desired::from(&done);
    assert_eq!(d.stable_td, format!("{TD}13"));
    assert!(d.canary.is_none() && d.held.is_some());
    let mut after = applied(&done, None);
    after.stable = Some(TaskSetRef {
        id: "ecs-svc/2".into(),
        arn: "arn:2".into(),
    });
    after.live_tg = Some(GREEN.into());
    after.weights = Some((100, 0));
    assert!(Rollout::plan(&after, &d).is_idle());

    // The next version, with stable.task_definition still as it was: released from 13.
    let mut next = done.clone();
    set_canary(&mut next, "task_definition", Value::from(format!("{TD}14")));
    let d = Desired::from(&next);
    assert_eq!(d.stable_td, format!("{TD}13"));
    let lines = Rollout::plan(&after, &d).lines;
    assert_eq!(
        lines[0],
        "create canary task set web:14 (scale 50%) on tg blue"
    );
    assert!(lines.contains(&"delete old stable task set web:13 (ecs-svc/2)".to_string()));

    // stable.task_definition changed in the configuration: that is the stable version again.
    let mut back = done.clone();
    let mut st = back.block("stable").clone();
    st.set("task_definition", Value::from(format!("{TD}11")));
    back.set("stable", Value::List(vec![st]));
    assert_eq!(Desired::from(&back).stable_td, format!("{TD}11"));
}

#[test]
fn promote_with_replace_returns_the_stable_to_the_primary_target_group() {
    let seen = applied(&config(12, None), None);
    let mut cfg = with_promotion(scheduled(12, 13, &[(10, "0s")]), "replace");
    set_canary(&mut cfg, "promote", Value::from(true));
    cfg.set("analysis", Value::List(vec![]));
    let r = Rollout::plan(&seen, &Desired::from(&cfg));
    assert_eq!(
        r.lines,
        [
            "create canary task set web:13 (scale 100%) on tg green",
            "shift traffic 90/10 on 1 rule",
            "move all production traffic to tg green on 1 rule",
            "make canary task set web:13 PRIMARY (tg green is live now)",
            "delete old stable task set web:12 (ecs-svc/1)",
            "create stable task set web:13 (scale 100%) on tg blue",
            "move all production traffic to tg blue on 1 rule",
            "make stable task set web:13 PRIMARY (tg blue is live now)",
            "delete canary task set web:13"
        ]
    );
    assert_eq!(r.live_after.as_deref(), Some(BLUE));
    assert_eq!(r.stable_after, Some(Subject::ToCreate(NewTaskSet::Stable)));
}

#[test]
fn a_gate_stops_promote_until_it_is_approved() {
    let mut cfg = scheduled(12, 13, &[(10, "1m"), (50, "1m")]);
    set_canary(&mut cfg, "promote", Value::from(true));
    let mut steps = cfg.block("canary").get("step").as_list().to_vec();
    steps[1].set("approval", Value::from(true));
    set_canary(&mut cfg, "step", Value::List(steps));
    let d = Desired::from(&cfg);
    assert!(!d.canary.as_ref().unwrap().promote);
    assert_eq!(d.weights(), (90, 10));
    // An ecsx_canary_continue action approved step 2 (read back into last_release).
    let approved = with_record(
        cfg,
        "held",
        13,
        &[
            ("step", Value::from(2i64)),
            ("approved_step", Value::from(2i64)),
        ],
    );
    let d = Desired::from(&approved);
    assert!(d.canary.as_ref().unwrap().promote);
    assert_eq!(d.canary.as_ref().and_then(|c| c.gate), None);
    // The approval belongs to that release: another version starts gated again.
    let mut other = approved.clone();
    set_canary(
        &mut other,
        "task_definition",
        Value::from(format!("{TD}14")),
    );
    assert_eq!(
        Desired::from(&other).canary.and_then(|c| c.gate),
        Some((2, 50))
    );
}

/// A release of `scheduled` with test listeners and a judge that opts in to judging test
/// traffic for 5m.
fn judged_on_test_traffic(steps: &[(i64, &str)]) -> Value {
    let mut cfg = with_tests(scheduled(12, 13, steps));
    cfg.set(
        "analysis",
        Value::List(vec![Value::object([
            ("check_interval", Value::from("30s")),
            ("judge_test_traffic", Value::from("5m")),
            (
                "compare",
                Value::List(vec![Value::object([("min_requests", Value::from(100i64))])]),
            ),
        ])]),
    );
    cfg
}

#[test]
fn judged_test_traffic_is_step_0_before_any_production_weight() {
    let seen = applied(&with_tests(config(12, None)), None);
    let d = Desired::from(&judged_on_test_traffic(&[(10, "1m"), (50, "0s")]));
    let r = Rollout::plan(&seen, &d);
    let judging = "(error rate at most +1 point, p99 at most 1.5x, at least 100 requests each), per 5m window ending 3m before now";
    assert_eq!(
        r.lines[..7],
        [
            "create canary task set web:13 (scale 100%) on tg green".to_string(),
            "route test traffic 100% to green on 1 test listener".to_string(),
            "step 0: bake 5m on test traffic only, 0% of production".to_string(),
            format!("step 0: judging tg green (test traffic) against tg blue on load balancer lb {judging}"),
            "shift traffic 90/10 on 1 rule".to_string(),
            "step 1: bake 1m at 10%".to_string(),
            format!("step 1: judging tg green against tg blue on load balancer lb {judging}"),
        ]
    );
    // step 2 has no pause, and is judged all the same: its bake lasts until a verdict
    assert!(r.lines.contains(&"step 2: judging tg green against tg blue on load balancer lb (error rate at most +1 point, p99 at most 1.5x, at least 100 requests each), per 5m window ending 3m before now".to_string()), "{:#?}", r.lines);
    assert_eq!(r.schedule[0].traffic, 0);
    assert_eq!(
        r.schedule[0].judge.as_deref(),
        Some(
            format!(
                "judging tg green (test traffic) against tg blue on load balancer lb {judging}"
            )
            .as_str()
        )
    );
    // Once production traffic moved, or past an approved hold there, no step 0 again.
    let at_10 = applied(&with_tests(config(12, Some((13, 10)))), Some("ecs-svc/2"));
    let r = Rollout::plan(&at_10, &d);
    assert!(
        !r.lines.iter().any(|l| l.starts_with("step 0")),
        "{:#?}",
        r.lines
    );
    let approved = with_record(
        judged_on_test_traffic(&[(10, "1m"), (50, "0s")]),
        "inconclusive",
        13,
        &[
            ("step", Value::from(1i64)),
            ("approved_step", Value::from(1i64)),
        ],
    );
    let r = Rollout::plan(&seen, &Desired::from(&approved));
    assert!(
        !r.lines.iter().any(|l| l.starts_with("step 0")),
        "{:#?}",
        r.lines
    );
    // Held there and not approved: nothing moves.
    let held = with_record(
        judged_on_test_traffic(&[(10, "1m"), (50, "0s")]),
        "inconclusive",
        13,
        &[("step", Value::from(1i64))],
    );
    let d = Desired::from(&held);
    assert_eq!(d.canary.as_ref().and_then(|c| c.gate), Some((1, 10)));
    assert_eq!(d.weights(), (100, 0));
}

#[test]
fn a_release_the_judge_held_waits_at_a_gate_after_the_judged_step() {
    let mut cfg = scheduled(12, 13, &[(10, "1m"), (50, "1m")]);
    set_canary(&mut cfg, "promote", Value::from(true));
    // No verdict at step 1: the judge held the release before step 2.
    let held = |step: i64, approved: i64| {
        with_record(
            cfg.clone(),
            "inconclusive",
            13,
            &[
                ("step", Value::from(step)),
                ("approved_step", Value::from(approved)),
            ],
        )
    };
    let d = Desired::from(&held(2, 0));
    assert_eq!(d.canary.as_ref().and_then(|c| c.gate), Some((2, 50)));
    assert_eq!(d.weights(), (90, 10), "traffic stays at the judged step");
    assert!(!d.canary.as_ref().unwrap().promote);
    // Applied at 10% already: nothing to do, the step is not baked again.
    let at_step_1 = applied(&held(2, 0), Some("ecs-svc/2"));
    assert!(Rollout::plan(&at_step_1, &d).is_idle());
    // Approved: the walk goes on to step 2 and the promotion.
    let d = Desired::from(&held(2, 2));
    assert_eq!(d.canary.as_ref().and_then(|c| c.gate), None);
    assert!(d.canary.as_ref().unwrap().promote);
    // Held at the last step: the promotion waits (100%), then goes on when approved.
    let d = Desired::from(&held(3, 0));
    assert_eq!(d.canary.as_ref().and_then(|c| c.gate), Some((3, 100)));
    assert_eq!(d.weights(), (50, 50));
    assert!(!d.canary.as_ref().unwrap().promote);
    // The hold belongs to that release: another version walks on its own.
    let mut other = held(2, 0);
    set_canary(
        &mut other,
        "task_definition",
        Value::from(format!("{TD}14")),
    );
    assert_eq!(Desired::from(&other).canary.and_then(|c| c.gate), None);
}

#[test]
fn an_interrupted_bake_is_finished_before_the_next_step() {
    let cfg = scheduled(12, 13, &[(10, "5m"), (50, "5m")]);
    let stopped = with_record(
        cfg.clone(),
        "interrupted",
        13,
        &[
            ("step", Value::from(1i64)),
            ("remaining", Value::from("3m")),
        ],
    );
    let mut at_10 = applied(&config(12, Some((13, 10))), Some("ecs-svc/2"));
    at_10.weights = Some((90, 10));
    at_10.deployed = Some(Desired::from(&stopped));
    assert_eq!(
        steps(&at_10, &stopped),
        [
            "step 1: bake 3m at 10% watching alarms web-5xx (the rest of an interrupted bake)",
            "shift traffic 50/50 on 1 rule",
            "step 2: bake 5m at 50% watching alarms web-5xx",
            "takes at least 8m (bakes), plus the waits for steady task sets"
        ]
    );
    // Traffic moved since (someone shifted it): the rest is not baked at another weight.
    at_10.weights = Some((80, 20));
    assert!(!steps(&at_10, &stopped)[0].contains("interrupted"));
}

#[test]
fn a_change_that_replaces_the_stable_walks_the_configured_steps() {
    // A canary release of web:13 was rolled back: the canary block (with its steps) stays
    // configured but held, and the template changes under stable web:12.
    let cfg = with_record(
        scheduled(12, 13, &[(10, "5m"), (50, "10m"), (100, "1m")]),
        "rolled_back",
        13,
        &[],
    );
    let seen = applied(&cfg, None);
    let mut changed = cfg.clone();
    changed.set("task_set", Value::List(vec![ts_with_port(&cfg, 8081)]));
    let r = Rollout::plan(&seen, &Desired::from(&changed));
    assert_eq!(
        r.lines,
        [
            "create stable task set web:12 (scale 100%) on tg green",
            "shift traffic 90/10 on 1 rule",
            "step 1: bake 5m at 10% watching alarms web-5xx (the new stable task set)",
            "shift traffic 50/50 on 1 rule",
            "step 2: bake 10m at 50% watching alarms web-5xx (the new stable task set)",
            "move all production traffic to tg green on 1 rule",
            "make stable task set web:12 PRIMARY (tg green is live now)",
            "delete old stable task set web:12 (ecs-svc/1)",
            "takes at least 15m (bakes), plus the waits for steady task sets"
        ]
    );
    assert_eq!(
        r.schedule.iter().map(|s| s.traffic).collect::<Vec<_>>(),
        [10, 50, 100]
    );
    assert!(!r.ends_release(&Desired::from(&changed)));

    // A stable version change walks them the same way.
    let mut bumped = cfg.clone();
    bumped.set(
        "stable",
        Value::List(vec![Value::object([
            ("task_definition", Value::from(format!("{TD}14"))),
            ("scale_percent", Value::from(100i64)),
        ])]),
    );
    let lines = steps(&seen, &bumped);
    assert!(
        lines.contains(
            &"step 2: bake 10m at 50% watching alarms web-5xx (the new stable task set)"
                .to_string()
        ),
        "{lines:#?}"
    );

    // No steps, but alarms: they are read once before the cutover.
    let mut plain = config(12, None);
    plain.set("analysis", cfg.get("analysis").clone());
    let seen = applied(&plain, None);
    let mut changed = plain.clone();
    changed.set("task_set", Value::List(vec![ts_with_port(&plain, 8081)]));
    let lines = steps(&seen, &changed);
    assert_eq!(
        lines[..3],
        [
            "create stable task set web:12 (scale 100%) on tg green",
            "check alarms web-5xx before the new stable task set takes all traffic",
            "move all production traffic to tg green on 1 rule",
        ]
    );
}

fn ts_with_port(cfg: &Value, port: i64) -> Value {
    let mut ts = cfg.block("task_set").clone();
    ts.set("container_port", Value::from(port));
    ts
}
