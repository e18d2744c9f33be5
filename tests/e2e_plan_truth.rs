//! Plans that say what kind of change they make, through real Terraform: a rollback, a
//! promotion and a cutover each carry a warning naming the kind and the weights before and
//! after, which an in-place update of computed attributes alone does not show.

mod common;

use common::{planned_after, rollout_steps, CanaryConfig, Stack};

const ADDR: &str = common::CANARY_ADDR;

#[tokio::test]
async fn rollback_promotion_and_cutover_plans_say_so() {
    let s = Stack::short_periods("kinds").await;
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);
    s.deploy(&CanaryConfig::new(&s.infra).canary(&s.td(1), 10));
    s.ws.apply(&[]);

    // Removing the canary block is a rollback.
    s.deploy(&CanaryConfig::new(&s.infra));
    let (code, plan) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{plan}");
    plan.assert_contains(&["Warning: Rollback", "90/10", "becomes 100/0"])
        .assert_not_contains(&["Warning: Promotion", "Warning: Cutover"]);
    // Only this apply's steps: the last apply's ("create canary task set ...") are not shown
    // as removed lines, and emptying them is no news from outside Terraform.
    plan.assert_contains(&["+ \"delete canary task set kinds:2"])
        .assert_not_contains(&["- \"create canary task set", "changed outside of Terraform"]);

    // Naming the canary's version as stable is a promotion.
    s.deploy(&CanaryConfig::new(&s.infra).stable(&s.td(1)));
    let (code, plan) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{plan}");
    plan.assert_contains(&["Warning: Promotion", "the canary (kinds:2)"])
        .assert_not_contains(&["Warning: Rollback", "Warning: Cutover"]);
    s.ws.apply(&[]);
    s.ws.assert_plan_empty();

    // A new stable version without a canary: production cuts over at once.
    s.deploy(&CanaryConfig::new(&s.infra).stable(&s.td(2)));
    let (code, plan) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{plan}");
    plan.assert_contains(&[
        "Warning: Cutover: production moves at once",
        "kinds:3 (2 task(s)",
        "kinds-blue",
        "one step",
    ]);
    s.ws.apply(&[]);
    s.ws.assert_plan_empty();
}

/// A `task_set.tags` change alone is made in place on the task sets that stay (TagResource /
/// UntagResource): no new task set, no traffic move, and the plan says so.
#[tokio::test]
async fn a_tag_only_template_change_retags_in_place() {
    let s = Stack::short_periods("retag").await;
    s.deploy(&CanaryConfig::new(&s.infra).tag("team", "web"));
    s.ws.apply(&[]);
    s.deploy(
        &CanaryConfig::new(&s.infra)
            .tag("team", "web")
            .canary(&s.td(1), 10),
    );
    s.ws.apply(&[]);
    let stable = s.id_of("stable").expect("stable");
    let canary = s.id_of("canary").expect("canary");

    s.deploy(
        &CanaryConfig::new(&s.infra)
            .tag("cost_center", "42")
            .canary(&s.td(1), 10),
    );
    let plan = s.ws.plan_json();
    assert_eq!(
        rollout_steps(&planned_after(&plan, ADDR)),
        [
            format!("retag stable task set retag:1 ({stable}) in place: cost_center=42, -team"),
            format!("retag canary task set retag:2 ({canary}) in place: cost_center=42, -team"),
        ]
    );
    s.ws.apply(&[]);
    assert_eq!(s.id_of("stable").as_deref(), Some(stable.as_str()));
    assert_eq!(s.id_of("canary").as_deref(), Some(canary.as_str()));
    assert_eq!(s.live().await.len(), 2, "no new task set");
    assert_eq!(s.splits().await[0], (90, 10), "no traffic moved");
    for id in [&stable, &canary] {
        let tags = s.tags(id).await;
        assert!(
            tags.contains(&("cost_center".into(), "42".into())),
            "{tags:?}"
        );
        assert!(tags.iter().all(|(k, _)| k != "team"), "{tags:?}");
        assert!(
            tags.iter().any(|(k, _)| k == "ecsx:deployment"),
            "ownership kept: {tags:?}"
        );
    }
    s.ws.assert_plan_empty();
}

/// Typos that AWS would refuse only at apply, or would blame on something else, fail the plan
/// naming the attribute and the missing object: a target group that does not exist (not "the
/// rule forwards to another target group"), and a container name or port the task definition
/// does not have.
#[tokio::test]
async fn typos_in_target_groups_and_containers_fail_the_plan_naming_them() {
    let s = Stack::short_periods("typos").await;
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);

    let typo = s
        .infra
        .blue_target_group_arn
        .replace("typos-blue", "typos-bleu");
    let mut cfg = CanaryConfig::new(&s.infra).canary(&s.td(1), 10);
    cfg.primary_target_group = typo.clone();
    s.deploy(&cfg);
    let out = s.ws.fails(&["plan", "-input=false", "-no-color"]);
    out.assert_contains(&[
        "Error: Target group not found",
        &typo,
        "primary_target_group_arn",
    ])
    .assert_not_contains(&["forwards to another target group"]);

    let main_tf = CanaryConfig::new(&s.infra).canary(&s.td(1), 10).hcl();
    s.ws.config(&main_tf.replace("container_name = \"web\"", "container_name = \"wbe\""));
    let out = s.ws.fails(&["plan", "-input=false", "-no-color"]);
    out.assert_contains(&[
        "Error: Container not in the task definition",
        "\"wbe\"",
        "web",
    ]);

    s.ws.config(&main_tf.replace("container_port = 8080", "container_port = 8081"));
    let out = s.ws.fails(&["plan", "-input=false", "-no-color"]);
    out.assert_contains(&["Error: Container port not mapped", "8081", "ports 8080"]);
    assert_eq!(s.live().await.len(), 1, "failed plans change nothing");
}

/// A change that needs a new stable task set (here other security groups) is a release: with
/// `canary.step` blocks configured, the new task set walks their weights with the `analysis`
/// alarms watched. An alarm during the walk moves everything back and deletes the new task set;
/// the next apply walks again and, with the alarm OK, ends on the new task set.
#[tokio::test]
async fn a_template_change_with_steps_walks_them_with_the_alarms_watched() {
    let s = Stack::short_periods("walkstable").await;
    let alarm = "walkstable-5xx";
    s.aws.put_alarm(alarm).await;
    s.deploy(&CanaryConfig::new(&s.infra));
    s.ws.apply(&[]);
    let stable = s.id_of("stable").expect("stable");

    // A release of revision 1 is rolled back: its canary block (and steps) stay configured.
    let cfg = s.scheduled("3s", alarm, 1);
    s.aws.set_alarm(alarm, "ALARM", "seeded").await;
    s.deploy(&cfg);
    let out =
        s.ws.run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    assert!(!out.success(), "{out}");
    s.aws.set_alarm(alarm, "OK", "recovered").await;
    s.ws.assert_plan_empty();

    let mut changed = cfg.clone();
    changed.security_groups = vec![];
    s.deploy(&changed);
    let (code, plan) = s.ws.plan_detailed();
    assert_eq!(code, 2, "{plan}");
    plan.assert_contains(&[
        "Warning: Replacement: the new stable task set walks the steps",
        "10%, 50% then 100%",
        "walkstable-5xx",
    ])
    .assert_not_contains(&["Warning: Cutover"]);
    let planned = planned_after(&s.ws.plan_json(), ADDR);
    let steps = rollout_steps(&planned);
    assert!(
        steps.contains(
            &"step 1: bake 3s at 10% watching alarms walkstable-5xx (the new stable task set)"
                .to_string()
        ),
        "{steps:#?}"
    );

    // An alarm at step 1: everything goes back and the new task set is deleted.
    let run = s.apply_to_step_1().await;
    s.aws
        .set_alarm(alarm, "ALARM", "Threshold Crossed: 3 datapoints")
        .await;
    let out = run.wait();
    assert!(!out.success(), "{out}");
    out.assert_contains(&[
        "New stable task set rolled back: alarm walkstable-5xx",
        "Threshold Crossed: 3 datapoints",
    ]);
    assert_eq!(s.splits().await, [(100, 0), (100, 0), (100, 0)]);
    let live = s.live().await;
    assert_eq!(live.len(), 1, "the new task set is gone: {live:#?}");
    assert_eq!(s.id_of("stable").as_deref(), Some(stable.as_str()));
    assert_eq!(
        s.state()["last_release"]["result"],
        "rolled_back",
        "the canary release's record is untouched"
    );

    // With the alarm OK, the next apply walks again and ends on the new task set.
    s.aws.set_alarm(alarm, "OK", "recovered").await;
    let started = std::time::Instant::now();
    s.ws.apply(&[]);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(4),
        "the bakes were skipped"
    );
    let new = s.id_of("stable").expect("stable");
    assert_ne!(new, stable);
    s.assert_deleted(&stable).await;
    assert_eq!(s.splits().await, [(0, 100), (0, 100), (0, 100)]);
    s.ws.assert_plan_empty();
}
