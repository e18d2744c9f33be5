//! Bakes: a scheduled release holds the canary at each step for its pause, reading the
//! `analysis` alarms and checking the built-in judge, and rolls the release back when an alarm
//! fires or the judge fails it. A bake cut short (Ctrl-C, the apply's timeout, alarms or
//! metrics that cannot be read) becomes the `last_release` record the next apply resumes
//! from: an unwatched or unjudged bake never counts as passed.

use super::super::judge::{BakeMove, Judge, Verdict};
use super::super::model::Desired;
use super::super::release::Outcome;
use super::super::release::Release;
use super::super::rollout::BakeKind;
use super::super::routers::{read_routers, shift};
use super::judging;
use super::ledger::{Cause, Failure, Ledger};
use crate::aws::cloudwatch;
use crate::aws::ecs;
use crate::aws::AwsError;
use crate::diag::AttrPath;
use crate::framework::Ctx;
use std::time::Duration;

/// A bake: holds the canary at its step for `pause`, reading the alarms every check interval
/// (and once at the start). An alarm in ALARM rolls the release back at once: all traffic to
/// the live target group, test routes too, then the canary goes.
pub(super) async fn bake(
    ctx: &Ctx,
    d: &Desired,
    live: &mut Ledger,
    (step, traffic, full, alarms): (usize, i64, Duration, &[String]),
    kind: BakeKind,
) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    let interval = d
        .analysis
        .as_ref()
        .map(|a| a.interval)
        .unwrap_or(Duration::from_secs(30));
    crate::log::info(
        "baking",
        &[
            ("deployment", d.id().into()),
            ("step", (step as u64).into()),
            ("traffic_percent", (traffic as u64).into()),
            ("pause_s", full.as_secs().into()),
        ],
    );
    // As much of the pause as the apply's timeout leaves.
    let pause = full.min(live.deadline.saturating_duration_since(started));
    let at = (step, traffic);
    let stop = |f: Failure, why: &str| stop_as(kind, at, f, why);
    // The built-in judge, for steps with canary traffic (test traffic only, at step 0 of
    // `judge_test_traffic`); a judge that cannot work stops the bake before it counts.
    let judged = (traffic > 0 && kind != BakeKind::Promotion) || kind == BakeKind::Test;
    let judging = if judged {
        match judging::judge_of(d, live.live_tg.as_deref(), kind == BakeKind::Test) {
            Ok(j) => j,
            Err(why) => {
                let why = format!("the judge cannot judge this release: {why}");
                return Err(stop(unjudged(d, at, full, started, &why), &why));
            }
        }
    } else {
        None
    };
    let since = judging::now();
    // The previous check's verdict: a window it passed once settled is not read again.
    let mut last_verdict: Option<Verdict> = None;
    loop {
        // The release itself, re-read at each check: another apply, a console edit or an abort
        // from elsewhere may have changed it, and a bake that went on would record a release
        // that no longer exists.
        match changed_under(ctx, d, live, traffic).await {
            Ok(None) => {}
            Ok(Some(what)) => return Err(stop(changed(step, traffic, what.clone()), &what)),
            Err(e) => {
                let why = format!("the release could not be read back ({e})");
                return Err(stop(interrupted(d, at, full, started, &why), &why));
            }
        }
        if !alarms.is_empty() {
            watch_alarms(ctx, d, live, alarms, kind, (at, full, pause, started)).await?;
        }
        // Judged: whether the bake goes on past its pause for want of a verdict.
        let mut waiting = false;
        if let Some((j, subject)) = &judging {
            let checked = judging::step(
                ctx,
                d,
                (j, subject, last_verdict.as_ref()),
                (since, at, started, full),
            );
            let (v, next) = match checked.await {
                Ok(checked) => checked,
                Err(e) => {
                    let why = format!("the judge could not read CloudWatch ({e})");
                    return Err(stop(unjudged(d, at, full, started, &why), &why));
                }
            };
            match next {
                BakeMove::RollBack if kind == BakeKind::Replacement => {
                    return Err(replacement_judged(v, at))
                }
                BakeMove::RollBack => {
                    let why = judged_why(j, v, at);
                    return Err(roll_back(ctx, d, live, why, step).await);
                }
                BakeMove::Hold => {
                    let why = v.summary();
                    return Err(stop(held(d, at, v), &why));
                }
                BakeMove::Pass => {
                    live.verdict = Some(format!("step {step} ({traffic}%): {}", v.summary()));
                    return Ok(());
                }
                BakeMove::Continue | BakeMove::Extend => {
                    waiting = true;
                    last_verdict = Some(v);
                }
            }
        }
        let left = pause.saturating_sub(started.elapsed());
        if left.is_zero() && !waiting {
            if pause < full {
                let why = "the apply's timeout ran out";
                return Err(stop(interrupted(d, at, full, started, why), why));
            }
            return Ok(());
        }
        if waiting && std::time::Instant::now() >= live.deadline {
            let why = "the apply's timeout ran out while the judge waited for a verdict";
            return Err(stop(interrupted(d, at, full, started, why), why));
        }
        tokio::select! {
            _ = tokio::time::sleep(nap(left, interval, live.deadline)) => {}
            _ = ctx.stop.cancelled() => {
                let why = "stopped by Terraform";
                return Err(stop(interrupted(d, at, full, started, why), why));
            }
        }
    }
}

/// How long a bake sleeps before its next check: to the end of its pause or the next check,
/// whichever comes first; past the pause (a judge waiting for a verdict) a whole interval;
/// never past the apply's timeout, and never less than 100 ms.
fn nap(left: Duration, interval: Duration, deadline: std::time::Instant) -> Duration {
    let nap = if left.is_zero() {
        interval
    } else {
        left.min(interval)
    };
    nap.min(deadline.saturating_duration_since(std::time::Instant::now()))
        .max(Duration::from_millis(100))
}

/// A new stable task set's walk records nothing on a stop: the apply moves all traffic back
/// and deletes it (no canary release stopped), and the next apply walks again.
fn stop_as(kind: BakeKind, at: (usize, i64), f: Failure, why: &str) -> Failure {
    if kind == BakeKind::Replacement {
        replacement_stopped(at, why)
    } else {
        f
    }
}

/// One read of the bake's alarms. Fails closed: a bake whose alarms cannot be read, or read
/// nothing, stops here, and the record makes the next apply bake the rest of this step,
/// watching again. An alarm in ALARM rolls the release back (or refuses the promotion).
async fn watch_alarms(
    ctx: &Ctx,
    d: &Desired,
    live: &mut Ledger,
    alarms: &[String],
    kind: BakeKind,
    (at, full, pause, started): ((usize, i64), Duration, Duration, std::time::Instant),
) -> Result<(), Failure> {
    let (step, traffic) = at;
    let stop = |f: Failure, why: &str| stop_as(kind, at, f, why);
    let found = match cloudwatch::describe(&ctx.aws.cloudwatch, alarms).await {
        Ok(found) => found,
        Err(e) => {
            let why = format!("the alarms could not be read ({e})");
            return Err(stop(unwatched(d, at, full, started, &why), &why));
        }
    };
    if let Some(a) = found.iter().find(|a| a.is_firing()) {
        if kind == BakeKind::Replacement {
            return Err(replacement_rolled_back(a, at));
        }
        if kind == BakeKind::Promotion && d.canary.is_none() {
            // A promotion by commit: the canary block is gone from the configuration,
            // so nothing says to roll back; the promotion does not start.
            return Err(promotion_refused(a, traffic));
        }
        return Err(roll_back(ctx, d, live, alarm_why(a, step, traffic), step).await);
    }
    let missing = cloudwatch::missing(alarms, &found);
    if !missing.is_empty() {
        let why = format!(
            "alarm {} no longer exists, so the bake would watch nothing there",
            missing.join(", ")
        );
        return Err(stop(unwatched(d, at, full, started, &why), &why));
    }
    if let Some(a) = found.iter().find(|a| a.cannot_evaluate()) {
        let why = format!(
            "CloudWatch cannot evaluate alarm {} ({})",
            a.name,
            a.evaluation.as_deref().unwrap_or_default()
        );
        return Err(stop(unwatched(d, at, full, started, &why), &why));
    }
    let states: Vec<String> = found
        .iter()
        .map(|a| format!("{} {}", a.name, a.state))
        .collect();
    crate::log::info(
        "alarms read",
        &[
            ("deployment", d.id().into()),
            ("step", (step as u64).into()),
            ("traffic_percent", (traffic as u64).into()),
            ("alarms", states.join(", ").into()),
            (
                "bake_remaining_s",
                pause.saturating_sub(started.elapsed()).as_secs().into(),
            ),
        ],
    );
    Ok(())
}

/// An alarm in ALARM during a new stable task set's walk: the apply moves all traffic back to
/// the stable task set and deletes the new one (as after any failure), and fails naming the
/// alarm. Nothing is held back: the next apply walks again.
fn replacement_rolled_back(alarm: &cloudwatch::Alarm, (step, traffic): (usize, i64)) -> Failure {
    Failure {
        path: Some(AttrPath::attr("analysis").index(0).then("alarm_names")),
        summary: format!(
            "New stable task set rolled back: alarm {} went into ALARM at step {step} ({traffic}% to it)",
            alarm.name
        ),
        cause: Cause::Alarm {
            alarm: alarm.name.clone(),
            detail: format!(
                "alarm {} in ALARM: {}. All traffic goes back to the current stable task set and the new one is deleted; the next apply walks the steps again from the start",
                alarm.name, alarm.reason
            ),
        },
        record: None,
    }
}

/// Any other stop of a new stable task set's walk (Ctrl-C, the timeout, alarms that cannot
/// be read, the release changed under the apply).
fn replacement_stopped((step, traffic): (usize, i64), why: &str) -> Failure {
    Failure {
        path: Some(AttrPath::attr("task_set")),
        summary: format!(
            "New stable task set not taken over: stopped at step {step} ({traffic}% to it)"
        ),
        cause: Cause::Refused(format!(
            "{why}. All traffic goes back to the current stable task set and the new one is deleted; the next apply walks the steps again from the start"
        )),
        record: None,
    }
}

/// A promotion by commit that an alarm in ALARM stops before any traffic moves.
fn promotion_refused(alarm: &cloudwatch::Alarm, traffic: i64) -> Failure {
    Failure {
        path: Some(AttrPath::attr("analysis").index(0).then("alarm_names")),
        summary: format!(
            "Promotion not started: alarm {} is in ALARM",
            alarm.name
        ),
        cause: Cause::Alarm {
            alarm: alarm.name.clone(),
            detail: format!(
                "alarm {} in ALARM before the promotion: {}. Traffic stays where it was ({traffic}% to the canary) and nothing was promoted. Promote once the alarm is OK, or put the stable version back in stable.task_definition to keep it.",
                alarm.name, alarm.reason
            ),
        },
        record: None,
    }
}

/// What changed in the release a bake walks since its step began, if anything: the canary
/// task set gone or draining, or a managed listener or rule no longer at the step's weights.
async fn changed_under(
    ctx: &Ctx,
    d: &Desired,
    live: &Ledger,
    traffic: i64,
) -> Result<Option<String>, AwsError> {
    if let Some(c) = &live.canary {
        let (sets, _) = ecs::find_task_sets(
            &ctx.aws.ecs,
            &d.cluster,
            &d.service,
            std::slice::from_ref(&c.arn),
        )
        .await?;
        match sets.first() {
            None => return Ok(Some(format!("canary task set {} is gone", c.id))),
            Some(t) if t.is_draining() => {
                return Ok(Some(format!("canary task set {} is being deleted", c.id)))
            }
            Some(_) => {}
        }
    }
    let Some(live_tg) = &live.live_tg else {
        return Ok(None);
    };
    let want = [
        (live_tg.clone(), (100 - traffic) as i32),
        (d.other_tg(live_tg).to_string(), traffic as i32),
    ];
    let (managed, _) = read_routers(ctx, d).await?;
    Ok(managed
        .iter()
        .find(|r| !r.forwards_exactly(&want))
        .map(|r| {
            let seen = r
                .weights()
                .unwrap_or_default()
                .iter()
                .map(|(tg, w)| format!("{w} to {}", crate::arn::target_group_label(tg)))
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "the {} {} forwards {seen}, not {}/{} as this step set it",
                r.kind.noun(),
                r.arn,
                100 - traffic,
                traffic
            )
        }))
}

/// A bake that found its release changed under it: it stops without moving anything, and the
/// state it returns is what AWS holds, read back.
fn changed(step: usize, traffic: i64, what: String) -> Failure {
    Failure {
        path: Some(AttrPath::attr("canary")),
        summary: format!("The release changed under this apply at step {step} ({traffic}%)"),
        cause: Cause::Refused(format!(
            "{what}. Something outside this apply (another apply, a console edit, an abort) changed the release while it baked; ecsx stopped without moving traffic, and the state records what AWS holds now. Plan again to see what the next apply would do."
        )),
        record: None,
    }
}

/// The `interrupted` record of a bake at `step` that still has `remaining` of its pause to go:
/// the next apply bakes that first, at the same weight, before it goes on.
pub(super) fn interrupted_record(
    d: &Desired,
    step: usize,
    remaining: Duration,
    reason: String,
) -> Option<Release> {
    d.canary.as_ref().map(|c| Release {
        step: step as i64,
        remaining,
        approved_step: Release::approvals_kept(d.last_release.as_ref(), c),
        ..Release::of(c, Outcome::Interrupted, reason)
    })
}

/// A bake whose judge cannot judge (GetMetricData refused or failing, an NLB to compare on)
/// stops as an unwatched one does: nothing unjudged counts as baked.
fn unjudged(
    d: &Desired,
    at: (usize, i64),
    pause: Duration,
    started: std::time::Instant,
    why: &str,
) -> Failure {
    let path = AttrPath::attr("analysis").index(0);
    unread(
        d,
        at,
        (pause, started),
        why,
        (path, "the release is not judged"),
    )
}

/// A bake that cannot watch its alarms stops as an interrupted one does: traffic stays at the
/// step, and the rest of the bake is recorded for the next apply, never counted as passed.
fn unwatched(
    d: &Desired,
    at: (usize, i64),
    pause: Duration,
    started: std::time::Instant,
    why: &str,
) -> Failure {
    let path = AttrPath::attr("analysis").index(0).then("alarm_names");
    let what = "the release's alarms are not watched";
    unread(d, at, (pause, started), why, (path, what))
}

/// A bake stopped because what it watches cannot be read: as an interrupted one, pointing at
/// `path` and saying `what` went unread.
fn unread(
    d: &Desired,
    (step, traffic): (usize, i64),
    (pause, started): (Duration, std::time::Instant),
    why: &str,
    (path, what): (AttrPath, &str),
) -> Failure {
    let mut f = interrupted(d, (step, traffic), pause, started, why);
    f.path = Some(path);
    f.summary = format!(
        "Stopped {}: {what}; traffic stays there",
        where_at(step, traffic, "")
    );
    f
}

/// Where a bake is: `at step N (W% suffix)`, or on the test traffic of step 0
/// (`judge_test_traffic`), before any production traffic moved.
fn where_at(step: usize, traffic: i64, suffix: &str) -> String {
    if step == 0 && traffic == 0 {
        "on test traffic, before step 1".to_string()
    } else {
        format!("at step {step} ({traffic}%{suffix})")
    }
}

/// A bake cut short: traffic stays at the step, and `last_release` records how much of the
/// pause is left, which the next apply bakes before it goes on.
fn interrupted(
    d: &Desired,
    (step, traffic): (usize, i64),
    pause: Duration,
    started: std::time::Instant,
    why: &str,
) -> Failure {
    let baked = started.elapsed().min(pause);
    // Whole seconds, rounded up: the rest is never shorter than what was left.
    let remaining = Duration::from_secs((pause - baked).as_secs_f64().ceil() as u64);
    let record = interrupted_record(
        d,
        step,
        remaining,
        format!(
            "{why} {} into the {} bake of step {step} ({traffic}%)",
            crate::duration::format(Duration::from_secs(baked.as_secs())),
            crate::duration::format(pause)
        ),
    );
    Failure {
        path: Some(AttrPath::attr("canary")),
        summary: format!("Stopped while baking at step {step} ({traffic}%); traffic stays there"),
        cause: Cause::Interrupted {
            remaining,
            detail: format!(
                "{why} {}s into a {}s bake; the next apply bakes the remaining {} at this step first",
                baked.as_secs(),
                pause.as_secs(),
                crate::duration::format(Duration::from_secs(remaining.as_secs()))
            ),
        },
        record,
    }
}

/// What rolled a release back: an alarm in ALARM, or the judge's verdict.
enum By {
    Alarm(String),
    Judge(Box<Verdict>),
}

/// Why a release rolls back: where the diagnostic points, its summary, the reason
/// `last_release` records, and what did it.
struct RollBackWhy {
    path: AttrPath,
    summary: String,
    reason: String,
    by: By,
}

fn alarm_why(alarm: &cloudwatch::Alarm, step: usize, traffic: i64) -> RollBackWhy {
    RollBackWhy {
        path: AttrPath::attr("analysis").index(0).then("alarm_names"),
        summary: format!(
            "Release rolled back: alarm {} went into ALARM at step {step} ({traffic}% to the canary)",
            alarm.name
        ),
        reason: format!(
            "alarm {} in ALARM at step {step} ({traffic}%): {}",
            alarm.name, alarm.reason
        ),
        by: By::Alarm(alarm.name.clone()),
    }
}

/// A FAIL verdict (or an INCONCLUSIVE one that `on_inconclusive = "fail"` turns into one):
/// the summary names what failed; the reason holds both groups' figures and the window.
fn judged_why(j: &Judge, v: Verdict, (step, traffic): (usize, i64)) -> RollBackWhy {
    RollBackWhy {
        path: judging::path(j),
        summary: format!(
            "Release rolled back {}: {}",
            where_at(step, traffic, " to the canary"),
            v.headline()
        ),
        reason: format!("{}: {}", where_at(step, traffic, ""), v.summary()),
        by: By::Judge(Box::new(v)),
    }
}

/// A FAIL during a new stable task set's walk: as after an alarm there.
fn replacement_judged(v: Verdict, (step, traffic): (usize, i64)) -> Failure {
    Failure {
        path: Some(AttrPath::attr("analysis").index(0)),
        summary: format!(
            "New stable task set rolled back: the judge found {} at step {step} ({traffic}% to it)",
            v.headline()
        ),
        cause: Cause::Judged {
            detail: format!(
                "{}. All traffic goes back to the current stable task set and the new one is deleted; the next apply walks the steps again from the start",
                v.summary()
            ),
            verdict: Box::new(v),
            held: false,
        },
        record: None,
    }
}

/// No verdict within `inconclusive_limit` and `on_inconclusive = "hold"`: traffic stays at the
/// step, and the release waits at a gate before the next step (the promotion or the end after
/// the last one) for a person to judge: `ecsx_canary_continue` walks on, `ecsx_canary_abort`
/// rolls back. The apply fails there, since it did not do what its plan said; the next plan
/// holds at the gate and changes nothing.
fn held(d: &Desired, (step, traffic): (usize, i64), v: Verdict) -> Failure {
    let record = d.canary.as_ref().map(|c| Release {
        step: step as i64 + 1,
        approved_step: Release::approvals_kept(d.last_release.as_ref(), c),
        ..Release::of(
            c,
            Outcome::Inconclusive,
            format!("held {}: {}", where_at(step, traffic, ""), v.summary()),
        )
    });
    Failure {
        path: Some(AttrPath::attr("analysis").index(0).then("on_inconclusive")),
        summary: format!(
            "Held {}: the judge found no verdict; traffic stays there",
            where_at(step, traffic, "")
        ),
        record,
        cause: Cause::Judged {
            detail: format!(
                "{}. The release waits, as at a gate, for approval of what follows (step {}): invoke ecsx_canary_continue to walk on (or set canary.approved_step = {}), or ecsx_canary_abort to roll it back",
                v.summary(),
                step + 1,
                step + 1
            ),
            verdict: Box::new(v),
            held: true,
        },
    }
}

/// Moves everything back to the stable task set and deletes the canary; returns the failure
/// to report, whether or not the clean-up itself worked.
async fn roll_back(
    ctx: &Ctx,
    d: &Desired,
    live: &mut Ledger,
    why: RollBackWhy,
    step: usize,
) -> Failure {
    let RollBackWhy {
        path,
        summary,
        reason,
        by,
    } = why;
    crate::log::warn(
        "rolling back",
        &[
            ("deployment", d.id().into()),
            ("reason", reason.clone().into()),
        ],
    );
    let release = d.canary.as_ref().map(|c| Release {
        step: step as i64,
        ..Release::of(c, Outcome::RolledBack, reason.clone())
    });
    let detail = format!(
        "{reason}. All traffic is back on the stable task set and the canary was deleted; this canary version is not started again until canary.task_definition changes or canary.attempt is raised"
    );
    let cause = match by {
        By::Alarm(alarm) => Cause::Alarm { alarm, detail },
        By::Judge(verdict) => Cause::Judged {
            verdict,
            held: false,
            detail,
        },
    };
    let mut failure = Failure {
        path: Some(path),
        summary,
        cause,
        record: release,
    };
    let Some(tg) = live.live_tg.clone() else {
        return failure;
    };
    let all = d.all_to(&tg);
    if let Err(e) = shift(ctx, d, Some(&all), Some(&all)).await {
        failure.summary = format!("{}; moving traffic back failed", failure.summary);
        failure.cause = Cause::Aws(e);
        return failure;
    }
    if let Some(c) = live.canary.take() {
        if let Err(e) =
            ecs::delete_task_set(&ctx.aws.ecs, &d.cluster, &d.service, &c.arn, false).await
        {
            failure.summary = format!("{}; deleting the canary failed", failure.summary);
            failure.cause = Cause::Aws(e);
            live.canary = Some(c);
        }
    }
    failure
}
