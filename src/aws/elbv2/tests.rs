//! Unit tests of `elbv2`.

use super::*;
use aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum;

const ALB_RULE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/lb/1/2/3";
const NLB_LISTENER: &str = "arn:aws:elasticloadbalancing:us-east-1:1:listener/net/lb/1/2";

fn sticky_forward(groups: &[(&str, i32)], sticky: Option<i32>) -> RouterAction {
    let RouterAction::Forward(mut f) = RouterAction::forward(groups) else {
        unreachable!()
    };
    f.order = Some(2);
    f.stickiness = sticky.map(|d| Stickiness {
        enabled: true,
        duration_seconds: Some(d),
    });
    RouterAction::Forward(f)
}

fn oidc(secret: Option<&str>) -> elb::Action {
    elb::Action::builder()
        .r#type(ActionTypeEnum::AuthenticateOidc)
        .order(1)
        .authenticate_oidc_config(
            elb::AuthenticateOidcActionConfig::builder()
                .issuer("https://idp")
                .client_id("app")
                .set_client_secret(secret.map(str::to_string))
                .build(),
        )
        .build()
}

#[test]
fn reads_weights_and_simple_forward() {
    let r = Router::forwarding(Kind::Rule, ALB_RULE, &[("blue", 90), ("green", 10)]);
    assert_eq!(r.weight_of("green"), 10);
    assert!(r.forwards_exactly(&[("blue".into(), 90), ("green".into(), 10)]));
    assert!(!r.forwards_exactly(&[("blue".into(), 100), ("green".into(), 0)]));
    let simple = Router::from_sdk(
        Kind::Listener,
        "l",
        &[elb::Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn("blue")
            .build()],
    );
    assert_eq!(simple.weights(), Some(vec![("blue".into(), 1)]));
    assert!(simple.forwards_plainly() && simple.forwards_to("blue"));
    assert!(!simple.forwards_to("green"));
}

#[test]
fn zero_weight_still_associates() {
    let r = Router::forwarding(Kind::Listener, "l", &[("blue", 100), ("green", 0)]);
    assert!(r.forwards_to("green") && !r.forwards_plainly());
}

#[test]
fn rewrite_keeps_other_actions_order_and_stickiness() {
    let auth = RouterAction::Other(OtherAction::new("authenticate-cognito", Some(1)));
    let r = Router {
        kind: Kind::Rule,
        arn: ALB_RULE.into(),
        actions: vec![
            auth.clone(),
            sticky_forward(&[("blue", 100), ("green", 0)], Some(300)),
        ],
    };
    let out = r.rewritten(&[("blue".into(), 50), ("green".into(), 50)]);
    assert_eq!(out[0], auth);
    let RouterAction::Forward(f) = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!(f.order, Some(2));
    assert_eq!(f.target_groups[1], ("green".into(), 50));
    assert_eq!(f.stickiness.and_then(|s| s.duration_seconds), Some(300));
    let sdk = out[1].to_sdk();
    let cfg = sdk.forward_config().unwrap();
    assert_eq!(cfg.target_groups()[1].weight(), Some(50));
    assert_eq!(
        cfg.target_group_stickiness_config()
            .unwrap()
            .duration_seconds(),
        Some(300)
    );
    assert_eq!(sdk.target_group_arn(), None);
}

#[test]
fn rewrite_asks_to_keep_an_oidc_secret_it_was_not_shown() {
    // DescribeRules never returns ClientSecret; ModifyRule needs it or UseExistingClientSecret.
    let described = [oidc(None), sticky_forward(&[("blue", 100)], None).to_sdk()];
    let r = Router::from_sdk(Kind::Rule, ALB_RULE, &described);
    let out: Vec<elb::Action> = r
        .rewritten(&[("blue".into(), 90), ("green".into(), 10)])
        .iter()
        .map(RouterAction::to_sdk)
        .collect();
    let cfg = out[0].authenticate_oidc_config().unwrap();
    assert_eq!(cfg.use_existing_client_secret(), Some(true));
    assert_eq!(cfg.client_secret(), None);
    // Everything else about the action is as it was read.
    let mut back = out[0].clone();
    back.authenticate_oidc_config
        .as_mut()
        .unwrap()
        .use_existing_client_secret = None;
    assert_eq!(back, described[0]);
    assert_eq!(out[1].r#type(), Some(&ActionTypeEnum::Forward));

    // A secret that is known (a configuration that returns it) is sent back as it is.
    let shown = Router::from_sdk(Kind::Rule, ALB_RULE, &[oidc(Some("s3cret"))]);
    let out = shown.rewritten(&[]);
    assert_eq!(out[0].to_sdk(), oidc(Some("s3cret")));
}

#[test]
fn rewrite_on_a_network_load_balancer_sends_no_stickiness() {
    let r = Router {
        kind: Kind::Listener,
        arn: NLB_LISTENER.into(),
        actions: vec![sticky_forward(&[("blue", 100), ("green", 0)], Some(60))],
    };
    assert_eq!(r.balancer(), Balancer::Network);
    let out = r.rewritten(&[("blue".into(), 90), ("green".into(), 10)]);
    let sdk = out[0].to_sdk();
    let cfg = sdk.forward_config().unwrap();
    assert!(cfg.target_group_stickiness_config().is_none());
    assert_eq!(cfg.target_groups().len(), 2);
}

#[test]
fn foreign_target_group_is_not_exact() {
    let r = Router::forwarding(Kind::Rule, "r", &[("blue", 100), ("other", 0)]);
    assert!(!r.forwards_exactly(&[("blue".into(), 100), ("green".into(), 0)]));
}

#[test]
fn a_partial_answer_is_not_found() {
    let got = complete(
        "listener",
        &["a".into(), "b".into()],
        vec![Router::forwarding(Kind::Listener, "a", &[("blue", 1)])],
    );
    assert_eq!(
        got,
        Err(AwsError::NotFound {
            what: "listener",
            id: "b".into()
        })
    );
}

#[test]
fn markers_end_and_are_bounded() {
    assert_eq!(next_marker(None, 3), None);
    assert_eq!(next_marker(Some(""), 3), None);
    assert_eq!(next_marker(Some("m"), 3), Some("m".into()));
    assert_eq!(next_marker(Some("m"), 10_000), None);
}
