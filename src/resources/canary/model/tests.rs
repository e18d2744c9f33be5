//! Unit tests of `model`.

use super::*;

#[test]
fn drift_survives_the_state_round_trip() {
    let drift = vec![
        Drift::PrimaryMoved {
            stable: "ecs-svc/1".into(),
            primary: Some("ecs-svc/9".into()),
        },
        Drift::PrimaryMoved {
            stable: "ecs-svc/1".into(),
            primary: None,
        },
        Drift::ForeignTargetGroup {
            router: "arn:l".into(),
        },
        Drift::TestRouteOff {
            router: "arn:t".into(),
        },
        Drift::NotOwned {
            task_set: "ecs-svc/2".into(),
            role: Role::Canary,
        },
        // Read back last: one entry per router, gathered into one value.
        Drift::SplitDisagrees {
            routers: vec![("arn:a".into(), 50, 50), ("arn:b".into(), 90, 10)],
        },
    ];
    assert_eq!(Drift::from_values(&Drift::to_values(&drift)), drift);
}

#[test]
fn drift_renders_for_people() {
    let d = Drift::SplitDisagrees {
        routers: vec![
            (
                "arn:aws:elasticloadbalancing:r:1:listener/app/lb/1/2".into(),
                50,
                50,
            ),
            (
                "arn:aws:elasticloadbalancing:r:1:listener-rule/app/lb/1/2/3".into(),
                90,
                10,
            ),
        ],
    };
    assert_eq!(
        d.render(),
        "drift: traffic is split differently across listeners and rules: \
         listener arn:aws:elasticloadbalancing:r:1:listener/app/lb/1/2 50/50, \
         listener rule arn:aws:elasticloadbalancing:r:1:listener-rule/app/lb/1/2/3 90/10"
    );
}

#[test]
fn a_live_primary_that_moved_becomes_drift_once() {
    let state = Observed {
        stable: Some(TaskSetRef {
            id: "ecs-svc/1".into(),
            arn: "arn:1".into(),
        }),
        ..Observed::default()
    };
    let other = TaskSet {
        id: "ecs-svc/9".into(),
        ..TaskSet::default()
    };
    let seen = state.clone().with_live_primary(Some(&other));
    assert_eq!(
        seen.drift,
        [Drift::PrimaryMoved {
            stable: "ecs-svc/1".into(),
            primary: Some("ecs-svc/9".into())
        }]
    );
    assert_eq!(seen.clone().with_live_primary(Some(&other)).drift.len(), 1);
    let same = TaskSet {
        id: "ecs-svc/1".into(),
        ..TaskSet::default()
    };
    assert!(state.with_live_primary(Some(&same)).drift.is_empty());
}

#[test]
fn owned_live_skips_draining_and_foreign_task_sets() {
    let owned = |id: &str, deployment: &str, status: &str| TaskSet {
        id: id.into(),
        status: status.into(),
        tags: [(TAG_DEPLOYMENT.to_string(), deployment.to_string())].into(),
        ..TaskSet::default()
    };
    let sets = vec![
        owned("ecs-svc/1", "prod/web", "PRIMARY"),
        owned("ecs-svc/2", "prod/web", "DRAINING"),
        owned("ecs-svc/3", "prod/other", "ACTIVE"),
        TaskSet {
            id: "ecs-svc/4".into(),
            status: "ACTIVE".into(),
            ..TaskSet::default()
        },
    ];
    assert_eq!(owned_live(&sets, "prod/web"), ["ecs-svc/1"]);
}

#[test]
fn foreign_owners_are_named() {
    let tagged = |k: &str, v: &str| TaskSet {
        tags: [(k.to_string(), v.to_string())].into(),
        ..TaskSet::default()
    };
    assert_eq!(
        foreign_owner(&tagged(TAG_DEPLOYMENT, "prod/web"), "prod/web"),
        None
    );
    assert_eq!(
        foreign_owner(&tagged(TAG_DEPLOYMENT, "prod/api"), "prod/web").as_deref(),
        Some("ecsx deployment prod/api (ecsx:deployment=prod/api)")
    );
    assert_eq!(
        foreign_owner(&tagged("pipecd-dev-managed-by", "piped"), "prod/web").as_deref(),
        Some("PipeCD (pipecd-dev-managed-by=piped)")
    );
    assert_eq!(foreign_owner(&tagged("team", "a"), "prod/web"), None);
}
