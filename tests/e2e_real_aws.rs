//! Real-AWS behaviours the plain emulator was lenient about (issue 10), driven through the
//! provider's own AWS layer (`ecsx::aws`) against the patched emulator and the fault proxy, and
//! one canary release on a Network Load Balancer through real Terraform.

mod common;

use common::{forward_action, CanaryConfig, Emulator, Infra, Proxy, Workspace};
use ecsx::aws::{ecs, elbv2, Aws as Provider, AwsError, Settings};
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The provider's clients against `endpoint`, as Terraform would configure them.
async fn provider_at(endpoint: &str) -> Provider {
    // Each nextest test is its own process, so this environment is this test's alone.
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    std::env::set_var("ECSX_POLL_INTERVAL", "200ms");
    Provider::connect(&Settings {
        region: Some(common::REGION.into()),
        endpoint_ecs: Some(endpoint.into()),
        endpoint_elbv2: Some(endpoint.into()),
        max_retries: 25,
        ..Settings::default()
    })
    .await
    .expect("provider clients")
}

fn spec(infra: &Infra, service: &str, td: usize, tg: &str, token: &str) -> ecs::TaskSetSpec {
    ecs::TaskSetSpec {
        cluster: infra.cluster.clone(),
        service: service.into(),
        task_definition: infra.task_definitions[td].clone(),
        external_id: format!("rig-{token}"),
        placement: ecs::Placement {
            launch_type: Some("FARGATE".into()),
            subnets: infra.subnets.clone(),
            security_groups: vec![infra.security_group.clone()],
            ..ecs::Placement::default()
        },
        target_group_arn: tg.into(),
        container_name: common::CONTAINER_NAME.into(),
        container_port: common::CONTAINER_PORT,
        scale_percent: 100.0,
        client_token: token.into(),
        ..ecs::TaskSetSpec::default()
    }
}

/// Issue 10 item 6: with the emulator's stale window on, a wait that trusted `stabilityStatus`
/// alone returned at once after UpdateTaskSet, with the old count and the old STEADY_STATE:
/// traffic would have moved before the new tasks ran. The wait now returns only when the
/// counts are ECS's answer to the write.
#[tokio::test]
async fn waits_do_not_trust_a_stability_from_before_the_write() {
    let emu = Emulator::start();
    emu.configure(json!({"stale_stability_seconds": 1.5, "stabilize_seconds": 0.5}));
    let infra = Infra::create(&emu, "stale");
    let p = provider_at(&emu.endpoint()).await;
    let stop = CancellationToken::new();
    let (c, s) = (infra.cluster.as_str(), infra.service());

    let made = ecs::create_task_set(
        &p.ecs,
        &spec(&infra, s, 0, &infra.blue_target_group_arn, "a"),
    )
    .await
    .expect("create");
    let (seen, _) = ecs::find_task_sets(&p.ecs, c, s, std::slice::from_ref(&made.arn))
        .await
        .unwrap();
    assert!(
        seen[0].stability_status_at <= seen[0].updated_time && seen[0].computed_desired_count == 0,
        "the emulator should report the uncomputed state right after create: {:?}",
        seen[0]
    );
    let started = Instant::now();
    let t = ecs::wait_steady(&p.ecs, c, s, &made.arn, Duration::from_secs(30), &stop)
        .await
        .expect("steady");
    assert_eq!((t.computed_desired_count, t.running_count), (2, 2), "{t:?}");
    assert!(started.elapsed() >= Duration::from_millis(1000), "{t:?}");

    ecs::update_scale(&p.ecs, c, s, &made.arn, 50.0)
        .await
        .expect("scale");
    let (seen, _) = ecs::find_task_sets(&p.ecs, c, s, std::slice::from_ref(&made.arn))
        .await
        .unwrap();
    assert_eq!(seen[0].computed_desired_count, 2, "stale count expected");
    let t = ecs::wait_steady(&p.ecs, c, s, &made.arn, Duration::from_secs(30), &stop)
        .await
        .expect("steady");
    assert_eq!((t.computed_desired_count, t.running_count), (1, 1), "{t:?}");
}

/// Items 3 and 2: right after CreateService, and right after a listener starts forwarding to
/// a target group, CreateTaskSet is refused for a while; the provider retries exactly those
/// refusals (logged) with the same client token, so one task set is made.
#[tokio::test]
async fn create_task_set_waits_out_propagation() {
    let emu = Emulator::start();
    let infra = Infra::create(&emu, "prop");
    let rig = common::Aws::connect(&emu).await;
    let proxy = Proxy::start(&emu);
    let p = provider_at(&proxy.endpoint()).await;
    emu.configure(json!({"propagation_seconds": 1.5}));
    tokio::time::sleep(Duration::from_millis(1600)).await; // the rig's own service is old now
    rig.ecs
        .create_service()
        .cluster(&infra.cluster)
        .service_name("fresh")
        .desired_count(1)
        .deployment_controller(
            aws_sdk_ecs::types::DeploymentController::builder()
                .r#type(aws_sdk_ecs::types::DeploymentControllerType::External)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create service");
    let started = Instant::now();
    let t = ecs::create_task_set(
        &p.ecs,
        &spec(&infra, "fresh", 0, &infra.blue_target_group_arn, "p"),
    )
    .await
    .expect("created after propagation");
    assert!(started.elapsed() >= Duration::from_millis(1400));
    assert!(proxy.calls("ecs.CreateTaskSet") >= 2, "{}", proxy.stats());
    let (sets, _) = ecs::find_task_sets(&p.ecs, &infra.cluster, "fresh", &[])
        .await
        .unwrap();
    assert_eq!(sets.len(), 1, "one task set despite the retries: {sets:?}");
    assert_eq!(sets[0].arn, t.arn);

    // A target group a rule only just started forwarding to.
    let orange = rig.create_target_group(&infra, "prop-orange").await;
    let route = forward_action(&[(&infra.blue_target_group_arn, 100), (&orange, 0)], None);
    rig.create_rule(&infra.listener_arn, 50, "/orange/*", route)
        .await;
    let group = elbv2::find_target_group(&p.elbv2, &orange).await.unwrap();
    assert!(group.is_associated());
    ecs::create_task_set(&p.ecs, &spec(&infra, infra.service(), 1, &orange, "o"))
        .await
        .expect("created once the association reached ECS");

    // Other refusals are not retried: an unassociated target group fails at once... once the
    // propagation window is over.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let lonely = rig.create_target_group(&infra, "prop-lonely").await;
    assert!(!elbv2::find_target_group(&p.elbv2, &lonely)
        .await
        .unwrap()
        .is_associated());
    std::env::set_var("ECSX_PROPAGATION_TIMEOUT", "1s");
    let err = ecs::create_task_set(&p.ecs, &spec(&infra, infra.service(), 2, &lonely, "l"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("does not have an associated load balancer"),
        "{err}"
    );
}

/// Item 9: a quota error is final (one call, no SDK retries) and says it is a quota, while
/// throttling is still retried; ServiceNotActive on delete means the task set is going anyway.
#[tokio::test]
async fn quota_errors_fail_fast_and_a_dying_service_takes_its_task_sets() {
    let emu = Emulator::start();
    let infra = Infra::create(&emu, "quota");
    let proxy = Proxy::start(&emu);
    let p = provider_at(&proxy.endpoint()).await;
    proxy.faults(json!([{"operation": "ecs.DescribeServices", "kind": "limit_exceeded"}]));
    let started = Instant::now();
    let err = ecs::find_service(&p.ecs, &infra.cluster, infra.service())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("LimitExceededException"), "{err}");
    assert!(err.to_string().contains("service quota"), "{err}");
    assert_eq!(proxy.calls("ecs.DescribeServices"), 1, "{}", proxy.stats());
    assert!(started.elapsed() < Duration::from_secs(5));

    proxy.reset();
    proxy.faults(json!([{"operation": "ecs.DescribeServices", "kind": "throttle", "times": 2}]));
    ecs::find_service(&p.ecs, &infra.cluster, infra.service())
        .await
        .expect("throttling is retried");
    assert_eq!(proxy.calls("ecs.DescribeServices"), 3, "{}", proxy.stats());

    proxy.faults(json!([{"operation": "ecs.DeleteTaskSet", "kind": "service_not_active"}]));
    ecs::delete_task_set(&p.ecs, &infra.cluster, infra.service(), "ecs-svc/1", true)
        .await
        .expect("a service being deleted takes its task sets with it");
}

/// Items 1 and 8: ELBv2 answers one item per page (the emulator's `elb_page_size`) and never shows an
/// OIDC client secret; the provider follows markers, reports a missing ARN as not found, and
/// rewrites a rule behind OIDC authentication without losing its secret.
#[tokio::test]
async fn routers_page_hide_oidc_secrets_and_must_all_answer() {
    let emu = Emulator::start();
    emu.configure(json!({"elb_page_size": 1}));
    let infra = Infra::create(&emu, "elb");
    let rig = common::Aws::connect(&emu).await;
    let p = provider_at(&emu.endpoint()).await;
    let both = vec![infra.listener_arn.clone(), infra.test_listener_arn.clone()];
    let found = elbv2::find_listeners(&p.elbv2, &both)
        .await
        .expect("two pages");
    assert_eq!(found.len(), 2);
    // Another last digit: the ARN of no listener (one in sixteen ARNs ends in 0 already).
    let (head, last) = infra
        .test_listener_arn
        .split_at(infra.test_listener_arn.len() - 1);
    let gone = format!("{head}{}", if last == "0" { "1" } else { "0" });
    let err = elbv2::find_listeners(&p.elbv2, &[infra.listener_arn.clone(), gone.clone()])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, AwsError::NotFound { id, .. } if id == &gone),
        "{err:?}"
    );

    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, AuthenticateOidcActionConfig,
    };
    let oidc = Action::builder()
        .r#type(ActionTypeEnum::AuthenticateOidc)
        .order(1)
        .authenticate_oidc_config(
            AuthenticateOidcActionConfig::builder()
                .issuer("https://idp.example.com")
                .authorization_endpoint("https://idp.example.com/authorize")
                .token_endpoint("https://idp.example.com/token")
                .user_info_endpoint("https://idp.example.com/userinfo")
                .client_id("shop")
                .client_secret("s3cret")
                .build(),
        )
        .build();
    let mut fwd = forward_action(
        &[
            (&infra.blue_target_group_arn, 100),
            (&infra.green_target_group_arn, 0),
        ],
        Some(60),
    );
    fwd.order = Some(2);
    let rule = rig
        .elbv2
        .create_rule()
        .listener_arn(&infra.listener_arn)
        .priority(60)
        .conditions(
            aws_sdk_elasticloadbalancingv2::types::RuleCondition::builder()
                .field("path-pattern")
                .values("/account/*")
                .build(),
        )
        .actions(oidc)
        .actions(fwd)
        .send()
        .await
        .expect("rule behind OIDC")
        .rules()[0]
        .rule_arn()
        .unwrap()
        .to_string();
    let routers = elbv2::find_rules(&p.elbv2, std::slice::from_ref(&rule))
        .await
        .unwrap();
    let split = vec![
        (infra.blue_target_group_arn.clone(), 90),
        (infra.green_target_group_arn.clone(), 10),
    ];
    elbv2::set_split(&p.elbv2, &routers[0], &split)
        .await
        .expect("ModifyRule keeps the existing client secret");
    let after = rig.rule(&rule).await;
    let kinds: Vec<_> = after
        .actions()
        .iter()
        .map(|a| a.r#type().cloned())
        .collect();
    assert_eq!(
        kinds,
        [
            Some(ActionTypeEnum::AuthenticateOidc),
            Some(ActionTypeEnum::Forward)
        ]
    );
    assert_eq!(
        after.actions()[0]
            .authenticate_oidc_config()
            .and_then(|c| c.client_id()),
        Some("shop")
    );
    assert_eq!(
        rig.split(
            &rule,
            &infra.blue_target_group_arn,
            &infra.green_target_group_arn
        )
        .await,
        (90, 10)
    );
    let stickiness = after.actions()[1]
        .forward_config()
        .and_then(|c| c.target_group_stickiness_config())
        .and_then(|s| s.duration_seconds());
    assert_eq!(stickiness, Some(60));
}

/// Item 7: what the DRAINING time of a deleted task set depends on, read for the other half.
#[tokio::test]
async fn deregistration_delay_is_read_from_the_target_group() {
    let emu = Emulator::start();
    let infra = Infra::create(&emu, "delay");
    let rig = common::Aws::connect(&emu).await;
    let p = provider_at(&emu.endpoint()).await;
    assert_eq!(
        elbv2::deregistration_delay(&p.elbv2, &infra.blue_target_group_arn)
            .await
            .unwrap(),
        Duration::from_secs(300)
    );
    rig.elbv2
        .modify_target_group_attributes()
        .target_group_arn(&infra.green_target_group_arn)
        .attributes(
            aws_sdk_elasticloadbalancingv2::types::TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value("30")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        elbv2::deregistration_delay(&p.elbv2, &infra.green_target_group_arn)
            .await
            .unwrap(),
        Duration::from_secs(30)
    );
}

/// `tests/rig/infra.py create --nlb`: the same surroundings behind a Network Load Balancer.
fn nlb_infra(emu: &Emulator, name: &str) -> Infra {
    let out = Command::new(common::venv_python())
        .arg(common::crate_root().join("tests/rig/infra.py"))
        .args([
            "--endpoint",
            &emu.endpoint(),
            "create",
            "--name",
            name,
            "--nlb",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run tests/rig/infra.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "infra.py create --nlb failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).expect("infra JSON")
}

/// Item 4: a whole canary release on an NLB through Terraform: bootstrap, 10 %, promote,
/// destroy, each apply followed by an empty plan. The emulator refuses stickiness on NLB
/// listeners, so a rewrite that kept ALB habits fails here.
#[tokio::test]
async fn canary_release_on_a_network_load_balancer() {
    let emu = Emulator::start();
    emu.configure(json!({"stabilize_seconds": 1, "drain_seconds": 1, "elb_page_size": 1}));
    let infra = nlb_infra(&emu, "nlb");
    assert!(infra.listener_arn.contains(":listener/net/"), "{infra:?}");
    let rig = common::Aws::connect(&emu).await;
    let ws = Workspace::with_emulator("nlb", &emu);
    let (blue, green) = (
        infra.blue_target_group_arn.as_str(),
        infra.green_target_group_arn.as_str(),
    );
    let mut cfg = CanaryConfig::new(&infra);
    cfg.rules = vec![];
    let splits = || async {
        (
            rig.split(&infra.listener_arn, blue, green).await,
            rig.split(&infra.test_listener_arn, blue, green).await,
        )
    };

    ws.config(&cfg.hcl());
    ws.apply(&[]);
    ws.assert_plan_empty();
    assert_eq!(splits().await, ((100, 0), (100, 0)));

    let td1 = infra.task_definitions[1].clone();
    ws.config(&cfg.clone().canary(&td1, 10).hcl());
    ws.apply(&[]);
    ws.assert_plan_empty();
    assert_eq!(splits().await, ((90, 10), (0, 100)));

    // Swap promotion: the canary on green takes all traffic on the NLB listeners.
    ws.config(&cfg.clone().stable(&td1).hcl());
    ws.apply(&[]);
    ws.assert_plan_empty();
    assert_eq!(splits().await, ((0, 100), (0, 100)));
    let live: Vec<_> = rig
        .task_sets(&infra.cluster, infra.service())
        .await
        .into_iter()
        .filter(|t| t.status() != Some("DRAINING"))
        .collect();
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live[0].task_definition(), Some(td1.as_str()));

    ws.destroy();
    let live = rig
        .task_sets(&infra.cluster, infra.service())
        .await
        .into_iter()
        .filter(|t| t.status() != Some("DRAINING"))
        .count();
    assert_eq!(live, 0);
    let listener = rig.router_actions(&infra.listener_arn).await;
    assert!(
        listener[0]
            .forward_config()
            .and_then(|c| c.target_group_stickiness_config())
            .is_none(),
        "{listener:?}"
    );
}

/// Item 4: an NLB listener goes in `listener_arns`; an NLB "rule" ARN is refused where a
/// listener rule is expected, at validate, with its attribute path.
#[tokio::test]
async fn network_load_balancer_rule_arns_are_refused() {
    let emu = Emulator::start();
    let infra = nlb_infra(&emu, "nlbval");
    let ws = Workspace::with_emulator("nlbval", &emu);
    let mut cfg = CanaryConfig::new(&infra);
    cfg.rules = vec![format!(
        "{}/0123456789abcdef",
        infra
            .listener_arn
            .replace(":listener/net/", ":listener-rule/net/")
    )];
    ws.config(&cfg.hcl());
    ws.fails(&["validate", "-no-color"])
        .assert_contains(&["traffic[0].listener_rule_arns[0]", "Network Load Balancer"]);
}

/// Item 10: the harness runs every `terraform plan` inside the emulator's write window; a
/// write in it fails the test. Here a write is made on purpose inside the window.
#[test]
#[should_panic(expected = "a plan must only read")]
fn a_write_during_a_plan_fails_the_test() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let emu = Emulator::start();
    let infra = Infra::create(&emu, "planw");
    let rig = rt.block_on(common::Aws::connect(&emu));
    // Reads pass...
    common::plan_watched(emu.port(), "reads", || {
        rt.block_on(rig.task_sets(&infra.cluster, infra.service()))
    });
    // ...a write does not.
    common::plan_watched(emu.port(), "terraform plan", || {
        rt.block_on(rig.set_forward(
            &infra.listener_arn,
            &[
                (&infra.blue_target_group_arn, 90),
                (&infra.green_target_group_arn, 10),
            ],
        ))
    });
}
