//! The judge during a bake: which target groups and load balancers a step judges, one check
//! (one GetMetricData for all queries), and the words of what follows from its verdict.
//! The rules themselves are pure, in `judge`.

use super::super::judge::{self, BakeMove, Group, Judge, Subject, Verdict};
use super::super::model::Desired;
use crate::aws::{metrics, AwsError};
use crate::diag::AttrPath;
use crate::framework::Ctx;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, now.
pub(super) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The judge of `d`, if its `analysis` has one; Err: why it cannot judge this release.
/// `test`: the canary is judged on the test listeners' traffic (`judge_test_traffic`).
pub(super) fn judge_of(
    d: &Desired,
    live_tg: Option<&str>,
    test: bool,
) -> Result<Option<(Judge, Subject)>, String> {
    let Some(a) = &d.analysis else {
        return Ok(None);
    };
    let j = match &a.judge {
        Ok(None) => return Ok(None),
        Ok(Some(j)) => j.clone(),
        Err(e) => return Err(format!("{} at {}: {}", e.summary, e.path, e.detail)),
    };
    let live = live_tg.ok_or("the live target group is not known")?;
    let load_balancers = |routers: &[(_, String)]| {
        let mut lbs: Vec<String> = routers
            .iter()
            .filter_map(|(_, arn)| crate::arn::load_balancer_of(arn))
            .collect();
        lbs.sort();
        lbs.dedup();
        lbs
    };
    let production = load_balancers(&d.routers);
    let subject = Subject {
        canary: Group {
            target_group_arn: d.other_tg(live).to_string(),
            load_balancer_arns: if test {
                load_balancers(&d.test_routers)
            } else {
                production.clone()
            },
        },
        baseline: Group {
            target_group_arn: live.to_string(),
            load_balancer_arns: production,
        },
    };
    // Refuses what it cannot judge (an NLB) before any traffic is judged by nothing.
    judge::queries(&j, &subject).map_err(|e| e.to_string())?;
    Ok(Some((j, subject)))
}

/// One check: the newest whole window since `since` (seconds since the epoch), read in one
/// GetMetricData (paged) and judged; `last`, the bake's previous verdict, stands instead when
/// it passed that same window already settled. A read that fails is an error, never a verdict.
pub(super) async fn check(
    ctx: &Ctx,
    j: &Judge,
    subject: &Subject,
    since: i64,
    last: Option<&Verdict>,
) -> Result<Verdict, AwsError> {
    let w = match judge::window(now(), since, j.window(), j.delay()) {
        Ok(w) => w,
        Err(readable_at) => return Ok(Verdict::not_yet(readable_at)),
    };
    if let Some(v) = last.filter(|v| v.stands_for(&w, j.delay())) {
        return Ok(v.clone());
    }
    let queries = judge::queries(j, subject).map_err(|e| AwsError::Unexpected(e.to_string()))?;
    let answers = metrics::read(&ctx.aws.cloudwatch, &queries, w.start, w.end).await?;
    Ok(judge::judge(j, subject, w, &answers))
}

/// One check during the bake of `step` (`traffic`%), logged, and what the bake does next:
/// `since` is when the bake began judging, `started` when it began, `full` its whole pause,
/// `last` the bake's previous verdict.
pub(super) async fn step(
    ctx: &Ctx,
    d: &Desired,
    (j, subject, last): (&Judge, &Subject, Option<&Verdict>),
    (since, (step, traffic), started, full): (i64, (usize, i64), Instant, Duration),
) -> Result<(Verdict, BakeMove), AwsError> {
    let v = check(ctx, j, subject, since, last).await?;
    crate::log::info(
        "judged",
        &[
            ("deployment", d.id().into()),
            ("step", (step as u64).into()),
            ("traffic_percent", (traffic as u64).into()),
            ("verdict", v.summary().into()),
        ],
    );
    let over = started.elapsed() >= full;
    let extended = started.elapsed().saturating_sub(full);
    let next = judge::after_check(&v, over, extended, j);
    Ok((v, next))
}

/// Where a verdict's diagnostics point: the comparison, or the first metric query.
pub(super) fn path(j: &Judge) -> AttrPath {
    let a = AttrPath::attr("analysis").index(0);
    if j.compare.is_some() {
        a.then("compare")
    } else {
        a.then("metric_query")
    }
}
