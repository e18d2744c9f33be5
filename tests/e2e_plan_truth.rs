//! Plans that say what kind of change they make, through real Terraform: a rollback, a
//! promotion and a cutover each carry a warning naming the kind and the weights before and
//! after, which an in-place update of computed attributes alone does not show.

mod common;

use common::{CanaryConfig, Stack};

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
