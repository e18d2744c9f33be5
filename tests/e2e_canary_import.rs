//! Importing task sets that another tool made: ImportResourceState runs during `plan`, so it
//! writes nothing; the first apply tags the task sets; another controller's task sets are refused.

mod common;

use common::{CanaryConfig, Stack, TAG_DEPLOYMENT};
use serde_json::json;

const ADDR: &str = "ecsx_canary_deployment.web";

/// A service released by hand: an untagged PRIMARY on blue, all traffic on blue.
async fn released_by_hand(name: &str, tags: &[(&str, &str)]) -> (Stack, String) {
    let s = Stack::new(name).await;
    s.emu
        .configure(json!({"stabilize_seconds": 1, "drain_seconds": 1}));
    let stable = s
        .aws
        .create_task_set_on(
            &s.infra,
            &s.infra.task_definitions[0],
            &s.infra.blue_target_group_arn,
            tags,
        )
        .await;
    s.aws
        .set_primary(&s.infra.cluster, s.infra.service(), &stable.arn)
        .await;
    for arn in [
        &s.infra.listener_arn,
        &s.infra.rule_arn,
        &s.infra.test_listener_arn,
    ] {
        s.aws
            .set_forward(
                arn,
                &[
                    (&s.infra.blue_target_group_arn, 100),
                    (&s.infra.green_target_group_arn, 0),
                ],
            )
            .await;
    }
    (s, stable.id)
}

fn import_block(s: &Stack) -> String {
    format!(
        "import {{\n  to = {ADDR}\n  id = \"{}/{}\"\n}}\n",
        s.infra.cluster,
        s.infra.service()
    )
}

#[tokio::test]
async fn import_writes_nothing_and_the_first_apply_adopts_by_tagging() {
    let (s, stable_id) = released_by_hand("adopt", &[("team", "web")]).await;
    let cfg = CanaryConfig::new(&s.infra).tag("team", "web");
    s.ws.config(&format!("{}{}", import_block(&s), cfg.hcl()));

    let (code, out) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{out}");
    out.assert_contains(&[
        "1 to import",
        &format!("tag stable {stable_id} as owned by deployment adopt/adopt"),
    ])
    // Without a canary, import cannot tell the test listener from a production one (both send
    // everything to blue), so the configuration moves it to test_listener_arns: weights are
    // set again to what they already are. No task set is created.
    .assert_not_contains(&["create stable task set", "create canary task set"]);
    let tags = s
        .aws
        .task_set_tags(&s.infra.cluster, s.infra.service(), &stable_id)
        .await;
    assert!(
        tags.iter().all(|(k, _)| !k.starts_with("ecsx:")),
        "a plan with an import block must not tag: {tags:?}"
    );

    s.ws.apply(&[]);
    let tags = s
        .aws
        .task_set_tags(&s.infra.cluster, s.infra.service(), &stable_id)
        .await;
    assert!(
        tags.contains(&(TAG_DEPLOYMENT.to_string(), "adopt/adopt".to_string())),
        "{tags:?}"
    );
    let live = s
        .aws
        .live_task_sets(&s.infra.cluster, s.infra.service())
        .await;
    assert_eq!(live.len(), 1, "adoption rolls nothing: {live:#?}");
    assert_eq!(live[0].id(), Some(stable_id.as_str()));
    for arn in [
        &s.infra.listener_arn,
        &s.infra.rule_arn,
        &s.infra.test_listener_arn,
    ] {
        assert_eq!(
            s.aws
                .split(
                    arn,
                    &s.infra.blue_target_group_arn,
                    &s.infra.green_target_group_arn
                )
                .await,
            (100, 0),
            "{arn}"
        );
    }
    s.ws.assert_plan_empty();
}

#[tokio::test]
async fn import_refuses_task_sets_another_controller_manages() {
    let (s, stable_id) = released_by_hand("pipecd", &[("pipecd-dev-managed-by", "piped")]).await;
    s.ws.config(&CanaryConfig::new(&s.infra).hcl());
    s.ws.fails(&["import", "-input=false", "-no-color", ADDR, "pipecd/pipecd"])
        .assert_contains(&[
            "Task sets managed by another controller",
            &format!("{stable_id} by PipeCD (pipecd-dev-managed-by=piped)"),
        ]);
    let tags = s
        .aws
        .task_set_tags(&s.infra.cluster, s.infra.service(), &stable_id)
        .await;
    assert_eq!(
        tags,
        [("pipecd-dev-managed-by".to_string(), "piped".to_string())]
    );
}
