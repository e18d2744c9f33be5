//! Unit tests of `model`.

use super::*;
use crate::aws::ecs::{CapacityProvider, Placement};
use crate::resources::ownership::{foreign_owner, owned_active, TAG_DEPLOYMENT};

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
        Drift::Controller {
            service: "arn:aws:ecs:us-east-1:1:service/prod/web".into(),
            controller: "ECS".into(),
        },
        // Read back last: one entry per router, gathered into one value.
        Drift::SplitDisagrees {
            routers: vec![("arn:a".into(), 50, 50), ("arn:b".into(), 90, 10)],
        },
    ];
    assert_eq!(Drift::from_values(&Drift::to_values(&drift)), drift);
}

#[test]
fn a_state_imported_for_an_arrival_is_told_by_its_controller_drift() {
    let service = "arn:aws:ecs:us-east-1:111122223333:service/prod/web";
    let arriving = Drift::Controller {
        service: service.into(),
        controller: "CODE_DEPLOY".into(),
    };
    let state = Value::object([("drift", Drift::to_values(std::slice::from_ref(&arriving)))]);
    assert_eq!(
        super::super::drift::awaiting_arrival(&state),
        Some((service.to_string(), "CODE_DEPLOY".to_string()))
    );
    assert_eq!(
        arriving.render(),
        "drift: service web uses the CODE_DEPLOY deployment controller; the arrival switches it to EXTERNAL"
    );
    let owned = Value::object([(
        "drift",
        Drift::to_values(&[Drift::NotOwned {
            task_set: "ecs-svc/1".into(),
            role: Role::Stable,
        }]),
    )]);
    assert_eq!(super::super::drift::awaiting_arrival(&owned), None);
    assert_eq!(super::super::drift::awaiting_arrival(&Value::Null), None);
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
    assert_eq!(owned_active(&sets, "prod/web"), ["ecs-svc/1"]);
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

/// A template as configured or read back: `f` edits the placement of a Fargate template in
/// two subnets with one security group.
fn template(f: impl Fn(&mut Placement)) -> Template {
    let mut t = Template {
        container_name: "web".into(),
        container_port: 8080,
        ..Template::default()
    };
    t.placement.launch_type = Some("FARGATE".into());
    t.placement.subnets = vec!["subnet-a".into(), "subnet-b".into()];
    t.placement.security_groups = vec!["sg-app".into()];
    f(&mut t.placement);
    t
}

/// What ECS reports for a task set created with subnets only, on a cluster whose default
/// capacity provider strategy is FARGATE_SPOT.
fn filled_task_set() -> TaskSet {
    TaskSet {
        id: "ecs-svc/1".into(),
        placement: template(|p| {
            p.launch_type = None;
            p.capacity_providers = vec![spot()];
            p.platform_version = Some("1.4.0".into());
            p.security_groups = vec!["sg-default".into()];
            p.subnets = vec!["subnet-b".into(), "subnet-a".into()];
        })
        .placement,
        container_name: Some("web".into()),
        container_port: Some(8080),
        ..TaskSet::default()
    }
}

fn spot() -> CapacityProvider {
    CapacityProvider {
        name: "FARGATE_SPOT".into(),
        weight: 1,
        base: 0,
    }
}

#[test]
fn import_records_which_fields_ecs_may_have_filled_in() {
    let t = filled_task_set();
    assert_eq!(
        EcsDefault::of(&t, Some(&[spot()])),
        [
            EcsDefault::SecurityGroups,
            EcsDefault::CapacityProviderStrategy,
            EcsDefault::PlatformVersion
        ]
    );
    // A strategy other than the cluster's default was asked for; so was FARGATE (ECS's own
    // choice is EC2); several security groups are never ECS's default.
    assert_eq!(
        EcsDefault::of(&t, Some(&[])),
        [EcsDefault::SecurityGroups, EcsDefault::PlatformVersion]
    );
    assert_eq!(
        EcsDefault::of(&t, None),
        [EcsDefault::SecurityGroups, EcsDefault::PlatformVersion]
    );
    let mut asked = t.clone();
    asked.placement.capacity_providers.clear();
    asked.placement.launch_type = Some("FARGATE".into());
    asked.placement.security_groups = vec!["sg-a".into(), "sg-b".into()];
    assert_eq!(
        EcsDefault::of(&asked, Some(&[])),
        [EcsDefault::PlatformVersion]
    );
    let mut ec2 = asked.clone();
    ec2.placement.launch_type = Some("EC2".into());
    ec2.placement.platform_version = None;
    assert_eq!(EcsDefault::of(&ec2, Some(&[])), [EcsDefault::LaunchType]);
    assert_eq!(EcsDefault::of(&ec2, Some(&[spot()])), []);

    // The record survives the state round trip in `ecs_filled_in`, next to the template.
    let fields = EcsDefault::of(&t, Some(&[spot()]));
    let value = EcsDefault::to_value(&fields);
    assert_eq!(
        value.strings(),
        [
            "security_groups",
            "capacity_provider_strategy",
            "platform_version"
        ]
    );
    assert_eq!(EcsDefault::from_value(&value), fields);
}

#[test]
fn a_template_read_back_from_ecs_matches_a_configuration_that_leaves_its_defaults_unset() {
    let t = filled_task_set();
    let mut filled = Template {
        ecs_defaults: EcsDefault::of(&t, Some(&[spot()])),
        ..Template::from(&Value::List(vec![Template::block_of(&t)]))
    };
    assert_eq!(filled.ecs_defaults.len(), 3);
    let unset = template(|p| {
        p.launch_type = None;
        p.security_groups.clear();
    });
    let with = |f: &dyn Fn(&mut Placement)| {
        template(|p| {
            *p = unset.placement.clone();
            f(p);
        })
    };
    // (configuration, matches the imported template)
    let cases: Vec<(&str, Template, bool)> = vec![
        ("every default left unset", unset.clone(), true),
        (
            "platform version LATEST",
            with(&|p| p.platform_version = Some("LATEST".into())),
            true,
        ),
        (
            "the reported values spelled out",
            with(&|p| {
                p.capacity_providers = vec![spot()];
                p.platform_version = Some("1.4.0".into());
                p.security_groups = vec!["sg-default".into()];
            }),
            true,
        ),
        (
            "another security group",
            with(&|p| p.security_groups = vec!["sg-app".into()]),
            false,
        ),
        (
            "the launch type instead of the strategy",
            with(&|p| p.launch_type = Some("FARGATE".into())),
            false,
        ),
        (
            "another strategy",
            with(&|p| {
                p.capacity_providers = vec![CapacityProvider {
                    name: "FARGATE".into(),
                    weight: 1,
                    base: 0,
                }]
            }),
            false,
        ),
        (
            "a pinned platform version",
            with(&|p| p.platform_version = Some("1.3.0".into())),
            false,
        ),
        (
            "another subnet",
            with(&|p| p.subnets = vec!["subnet-c".into()]),
            false,
        ),
    ];
    for (name, config, matches) in &cases {
        assert_eq!(filled.creates_same_as(config), *matches, "{name}");
    }
    // Without the record (a state applied from a configuration) only the exact values match:
    // dropping a field from the configuration is a change.
    filled.ecs_defaults.clear();
    for (name, config, _) in &cases {
        let exact = *name == "the reported values spelled out";
        assert_eq!(filled.creates_same_as(config), exact, "{name}");
    }
}
