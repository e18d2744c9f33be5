//! Listeners and rules: reading them (always, or reusing a read this process made moments
//! ago for a plan, a refresh or right before a write), where each sits in the configuration,
//! and shifting traffic: one weight write per router, then the wait until ELBv2 shows it.

use super::model::{Desired, Observed};
use crate::aws::ecs::{self};
use crate::aws::elbv2::{self, Router};
use crate::aws::wait::{self, Poll};
use crate::aws::AwsError;
use crate::diag::AttrPath;
use crate::framework::Ctx;
use std::collections::BTreeMap;
use std::time::Duration;

/// Managed and test routers, as read.
pub(crate) type Routers = (Vec<Router>, Vec<Router>);

/// One DescribeListeners and one DescribeRules call for every managed and test router, each
/// coalesced with concurrent requests of other deployments.
pub(crate) async fn read_routers(ctx: &Ctx, d: &Desired) -> Result<Routers, AwsError> {
    let writes = elbv2::router_writes();
    let (listeners, rules) = router_arns(d);
    let (listeners, rules) = tokio::join!(
        ctx.aws.reads.listeners(&listeners),
        ctx.aws.reads.rules(&rules)
    );
    let all: Vec<Router> = listeners?.into_iter().chain(rules?).collect();
    ctx.aws.reads.note_routers(&all, writes);
    Ok(partition_by_config(d, all))
}

/// [`read_routers`] for an apply: what this process read less than a second ago with no
/// router write begun since (Terraform's re-plan right before the apply, the read-back that
/// ended the shift before) is as good as a read now; anything older is read again.
pub(crate) async fn routers_before_write(ctx: &Ctx, d: &Desired) -> Result<Routers, AwsError> {
    match ctx.aws.reads.routers_just_read(&all_router_arns(d)) {
        Some(all) => Ok(partition_by_config(d, all)),
        None => read_routers(ctx, d).await,
    }
}

/// [`read_routers`] for Read: deployments sharing listeners and rules share one read of them
/// within a refresh (src/aws/reads `REFRESH_SHARE`).
pub(crate) async fn routers_for_refresh(
    ctx: &Ctx,
    d: &Desired,
) -> Result<(Vec<Router>, Vec<Router>), AwsError> {
    let (listeners, rules) = router_arns(d);
    let (listeners, rules) = tokio::join!(
        ctx.aws.reads.refresh_listeners(&listeners),
        ctx.aws.reads.refresh_rules(&rules)
    );
    let all: Vec<Router> = listeners?.into_iter().chain(rules?).collect();
    Ok(partition_by_config(d, all))
}

/// Every listener and rule ARN of a deployment, test routers included, in configuration order.
pub(crate) fn all_router_arns(d: &Desired) -> Vec<String> {
    d.routers
        .iter()
        .chain(&d.test_routers)
        .map(|(_, a)| a.clone())
        .collect()
}

/// The listener ARNs and the rule ARNs of a deployment, test routers included.
pub(crate) fn router_arns(d: &Desired) -> (Vec<String>, Vec<String>) {
    let pick = |kind| -> Vec<String> {
        d.routers
            .iter()
            .chain(&d.test_routers)
            .filter(|(k, _)| *k == kind)
            .map(|(_, a)| a.clone())
            .collect()
    };
    (pick(elbv2::Kind::Listener), pick(elbv2::Kind::Rule))
}

fn partition_by_config(d: &Desired, all: Vec<Router>) -> (Vec<Router>, Vec<Router>) {
    let is_test = |r: &Router| d.test_routers.iter().any(|(_, a)| *a == r.arn);
    let (test, managed): (Vec<Router>, Vec<Router>) = all.into_iter().partition(is_test);
    (managed, test)
}

/// The routers as the refresh of this plan read them moments ago, else read now.
pub(crate) async fn routers_for_plan(ctx: &Ctx, d: &Desired) -> Result<Routers, AwsError> {
    match ctx.aws.reads.recent_routers(&all_router_arns(d)) {
        Some(all) => Ok(partition_by_config(d, all)),
        None => read_routers(ctx, d).await,
    }
}

/// Where a listener or rule ARN sits in the configuration, e.g. `traffic[0].listener_rule_arns[1]`.
pub(crate) fn router_path(d: &Desired, arn: &str) -> AttrPath {
    let traffic = AttrPath::attr("traffic").index(0);
    let lists = [
        (&d.routers, elbv2::Kind::Listener, "listener_arns"),
        (&d.routers, elbv2::Kind::Rule, "listener_rule_arns"),
        (&d.test_routers, elbv2::Kind::Listener, "test_listener_arns"),
        (
            &d.test_routers,
            elbv2::Kind::Rule,
            "test_listener_rule_arns",
        ),
    ];
    for (routers, kind, name) in lists {
        let mut of_kind = routers.iter().filter(|(k, _)| *k == kind);
        if let Some(i) = of_kind.position(|(_, a)| a == arn) {
            return traffic.then(name).index(i);
        }
    }
    traffic
}

/// Fills in [`Observed::forwarded`]: the target groups the routers, as just read, forward to.
pub(crate) fn note_forwarded(seen: &mut Observed, (managed, test): &Routers) {
    let mut forwarded: Vec<String> = managed
        .iter()
        .chain(test)
        .flat_map(|r| r.weights().unwrap_or_default())
        .map(|(tg, _)| tg)
        .collect();
    forwarded.sort();
    forwarded.dedup();
    seen.forwarded = Some(forwarded);
}

/// How long ELBv2 may keep showing the previous weights after a change.
const ROUTING_VISIBLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Writes `production` on the managed routers and `tests` on the test routers (None: leave
/// them), skipping routers already right, then waits until ELBv2 reads them back.
pub(crate) async fn shift(
    ctx: &Ctx,
    d: &Desired,
    production: Option<&Weights>,
    tests: Option<&Weights>,
) -> Result<(), AwsError> {
    let (managed, test) = routers_before_write(ctx, d).await?;
    // Checked again right before writing: someone may have edited a rule since the plan.
    for r in managed.iter().chain(&test) {
        if let Some(tg) = r
            .weights()
            .unwrap_or_default()
            .into_iter()
            .map(|(tg, _)| tg)
            .find(|tg| !d.owns_target_group(tg))
        {
            return Err(AwsError::Unexpected(format!(
                "the {} {} forwards to target group {tg}, which this deployment does not manage; ecsx leaves it untouched",
                r.kind.noun(),
                r.arn
            )));
        }
    }
    // What each router forwarded before this write: until ELBv2 shows the new weights, it may
    // still show these, and anything else is somebody else's write.
    let before: BTreeMap<String, Vec<(String, i32)>> = managed
        .iter()
        .chain(&test)
        .map(|r| (r.arn.clone(), sorted_split(r)))
        .collect();
    let mut wrote = false;
    for (routers, want) in [(&managed, production), (&test, tests)] {
        let Some(want) = want else { continue };
        for r in routers.iter().filter(|r| !r.forwards_exactly(want)) {
            elbv2::set_split(&ctx.aws.elbv2, r, want).await?;
            wrote = true;
        }
    }
    if wrote {
        wait_routed(ctx, d, production, tests, &before).await?;
    }
    Ok(())
}

fn sorted_split(r: &Router) -> Vec<(String, i32)> {
    let mut w = r.weights().unwrap_or_default();
    w.sort();
    w
}

/// Target groups and their weights, as one kind of router (managed or test) should forward.
type Weights = [(String, i32)];

/// ELBv2 may describe a rule's old actions for a moment after ModifyRule. Waits until every
/// router reads back what was just written, so the state and the steps that follow (deleting
/// the task sets traffic left) rest on what AWS reports, not on what was sent. A router that
/// shows neither what was written nor what it forwarded `before` was changed by someone else
/// meanwhile: that is no lag to wait out, and the apply stops at once, naming it.
async fn wait_routed(
    ctx: &Ctx,
    d: &Desired,
    production: Option<&Weights>,
    tests: Option<&Weights>,
    before: &BTreeMap<String, Vec<(String, i32)>>,
) -> Result<(), AwsError> {
    wait::until(
        "listeners and rules to show the new weights",
        ROUTING_VISIBLE_TIMEOUT,
        ecs::poll_interval(),
        &ctx.stop,
        || async {
            let (managed, test) = read_routers(ctx, d).await?;
            let groups = [(&managed[..], production), (&test[..], tests)];
            let (behind, changed) = lagging(&groups, before);
            if let Some(r) = changed.first() {
                return Err(changed_under_write(r, &groups));
            }
            Ok(if behind.is_empty() {
                Poll::Done(())
            } else {
                Poll::Pending(format!("{} still show other weights", behind.join(", ")))
            })
        },
    )
    .await
}

/// The routers that do not forward as intended yet (a None split is not checked): those that
/// still show what they forwarded `before` the write (ELBv2 lag), and those that show
/// something else (changed by someone else).
fn lagging<'a>(
    groups: &[(&'a [Router], Option<&Weights>)],
    before: &BTreeMap<String, Vec<(String, i32)>>,
) -> (Vec<String>, Vec<&'a Router>) {
    let mut behind = Vec::new();
    let mut changed = Vec::new();
    for (routers, want) in groups {
        let Some(want) = want else { continue };
        for r in routers.iter().filter(|r| !r.forwards_exactly(want)) {
            if before.get(&r.arn) == Some(&sorted_split(r)) {
                behind.push(r.arn.clone());
            } else {
                changed.push(r);
            }
        }
    }
    (behind, changed)
}

fn changed_under_write(r: &Router, groups: &[(&[Router], Option<&Weights>)]) -> AwsError {
    let show = |w: &[(String, i32)]| {
        w.iter()
            .map(|(tg, w)| format!("{w} to {}", crate::arn::target_group_label(tg)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let wanted = groups
        .iter()
        .find(|(routers, _)| routers.iter().any(|x| x.arn == r.arn))
        .and_then(|(_, want)| *want)
        .map(&show)
        .unwrap_or_default();
    AwsError::Unexpected(format!(
        "the {} {} forwards {} since this apply wrote {wanted}: something outside this apply (another apply, a console edit, an abort) changed it meanwhile. ecsx stopped without writing again; plan again to see what the next apply would do",
        r.kind.noun(),
        r.arn,
        show(&r.weights().unwrap_or_default()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::elbv2::test_fixtures::router;

    const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/1";
    const GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/green/2";

    #[test]
    fn lagging_tells_elbv2_lag_from_somebody_else_s_write() {
        let split = [(BLUE.to_string(), 90), (GREEN.to_string(), 10)];
        let test_split = [(BLUE.to_string(), 0), (GREEN.to_string(), 100)];
        let r = |arn: &str, b, g| router(arn, &[(BLUE, b), (GREEN, g)]);
        // Before the write, every router forwarded all to blue.
        let before: BTreeMap<String, Vec<(String, i32)>> = ["prod", "api", "test"]
            .iter()
            .map(|a| (a.to_string(), sorted_split(&r(a, 100, 0))))
            .collect();
        let managed = vec![r("prod", 90, 10), r("api", 100, 0)];
        let test = vec![r("test", 0, 100)];
        let both = |m: &[Router], t: &[Router]| {
            let (behind, changed) = lagging(
                &[(m, Some(&split[..])), (t, Some(&test_split[..]))],
                &before,
            );
            (
                behind,
                changed.iter().map(|r| r.arn.clone()).collect::<Vec<_>>(),
            )
        };
        // "api" still shows what it forwarded before: ELBv2 lag, waited out.
        assert_eq!(both(&managed, &test), (vec!["api".to_string()], vec![]));
        let test = [r("test", 100, 0)];
        assert_eq!(
            both(&managed[..1], &test),
            (vec!["test".to_string()], vec![])
        );
        // Neither before nor what was written: somebody else's write.
        let edited = [r("prod", 50, 50)];
        assert_eq!(both(&edited, &[]), (vec![], vec!["prod".to_string()]));
        let err = changed_under_write(&edited[0], &[(&edited[..], Some(&split[..]))]);
        assert!(
            err.to_string().contains(
                "forwards 50 to blue, 50 to green since this apply wrote 90 to blue, 10 to green"
            ),
            "{err}"
        );
        let (behind, changed) =
            lagging(&[(&managed[..1], Some(&split[..])), (&test, None)], &before);
        assert!(behind.is_empty() && changed.is_empty());
    }
}
