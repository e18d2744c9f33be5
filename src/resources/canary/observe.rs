//! Read: what AWS holds (task sets, weights, drift, orphans, release records) as state, and
//! the task sets an unfinished create left, which the next create takes over.

use super::drift::{awaiting_arrival, Drift};
use super::model::{CanarySpec, Desired, Observed, TaskSetRef};
use super::release::Outcome;
use super::release::Release;
use super::release::{read_back, record, StandIn, TAG_RELEASE};
use super::rollout::Rollout;
use super::routers::routers_for_refresh;
use super::template::{EcsDefault, Template};
use crate::aws::ecs::{self, TaskSet};
use crate::aws::elbv2::Router;
use crate::aws::AwsError;
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::Ctx;
use crate::resources::ownership::{owned_active, owned_by, Role, TAG_DEPLOYMENT, TAG_ROLE};
use crate::resources::support::{aws_error, reported};
use crate::value::Value;
use std::collections::BTreeMap;

/// A state imported for an arrival owns nothing to refresh: it stays as imported while the
/// service is ACTIVE (the plan reads what the switch needs), and goes with the service.
async fn read_awaiting_arrival(
    ctx: &Ctx,
    d: &Desired,
    state: &Value,
    diags: &mut Diagnostics,
) -> Value {
    match ctx.aws.reads.service(&d.cluster, &d.service).await {
        Ok(s) if s.is_active() => state.clone(),
        Ok(_) | Err(AwsError::NotFound { .. }) => {
            diags.warning(
                "ECS service gone; removing from state",
                format!("Service {:?} in cluster {:?} no longer exists or is not ACTIVE, so ecsx_canary_deployment {} (imported for an arrival) was removed from the state.", d.service, d.cluster, d.id()),
            );
            Value::Null
        }
        Err(e) => {
            aws_error(
                diags,
                None,
                "Could not read the ECS service",
                &format!("service {:?} in cluster {:?}", d.service, d.cluster),
                &e,
            );
            state.clone()
        }
    }
}

/// Refreshes the state: one DescribeServices (its task sets included), one DescribeListeners
/// and one DescribeRules, at once, so that concurrent refreshes meet in the same coalesced
/// calls (src/aws/reads); a DescribeTaskSets only when tags must be read (see
/// [`tags_needed`]), or always with coalescing off. The plan right after may reuse what was
/// read here for its checks.
pub(crate) async fn read(ctx: &Ctx, state: &Value, diags: &mut Diagnostics) -> Value {
    let d = Desired::from(state);
    if awaiting_arrival(state).is_some() {
        return read_awaiting_arrival(ctx, &d, state, diags).await;
    }
    let (svc, routers) = tokio::join!(
        ctx.aws.reads.service(&d.cluster, &d.service),
        routers_for_refresh(ctx, &d)
    );
    let svc = match svc {
        Ok(s) if s.is_active() && !s.is_external() => {
            // Ejected (UpdateService to another controller): ECS removed the task sets with
            // the change, so nothing of the deployment is left to manage.
            diags.warning(
                "Service left the EXTERNAL controller; removing from state",
                format!("Service {:?} in cluster {:?} uses the {} deployment controller now: it was switched away from EXTERNAL (ejected), and ECS removed its task sets, so ecsx_canary_deployment {} manages nothing there and was removed from the state. Its tasks keep running under {}. To leave the service off ecsx, remove the resource from the configuration; to move it back in place, keep an arrival block (from_controller = \"{}\") and apply.", d.service, d.cluster, s.controller, d.id(), s.controller, s.controller),
            );
            return Value::Null;
        }
        Ok(s) if s.is_active() => s,
        Ok(_) | Err(AwsError::NotFound { .. }) => {
            diags.warning(
                "ECS service gone; removing from state",
                format!("Service {:?} in cluster {:?} no longer exists or is not ACTIVE, so ecsx_canary_deployment {} was removed from the state.", d.service, d.cluster, d.id()),
            );
            return Value::Null;
        }
        Err(e) => {
            aws_error(
                diags,
                None,
                "Could not read the ECS service",
                &format!("service {:?} in cluster {:?}", d.service, d.cluster),
                &e,
            );
            return state.clone();
        }
    };
    let Some((all_routers, test_routers)) = reported(
        routers,
        diags,
        Some(AttrPath::attr("traffic")),
        "Could not read listeners and rules",
        &format!("deployment {}", d.id()),
    ) else {
        return state.clone();
    };
    let tags = tags_needed(state, &svc) || acted_since(state, &svc, &all_routers);
    let sets = if !ctx.aws.reads.saves_reads() || tags {
        let listed = ecs::find_task_sets(&ctx.aws.ecs, &d.cluster, &d.service, &[]).await;
        let subject = format!("service {:?} in cluster {:?}", d.service, d.cluster);
        match reported(listed, diags, None, "Could not list task sets", &subject) {
            Some((sets, _)) => sets,
            None => return state.clone(),
        }
    } else {
        owned_as_recorded(state, &d, &svc)
    };
    let both: Vec<Router> = all_routers.iter().chain(&test_routers).cloned().collect();
    ctx.aws.reads.remember(&d.cluster, &svc, &both);
    // What an ecsx_canary_continue or ecsx_canary_abort action did since the last apply:
    // records on the deployment's task sets (0.1.x's actions left them on the service).
    let mut state = state.clone();
    let id = d.id();
    let records: Vec<&BTreeMap<String, String>> = sets
        .iter()
        .filter(|t| owned_by(t, &id))
        .map(|t| &t.tags)
        .collect();
    let canary_created = TaskSetRef::read(&state, Role::Canary)
        .and_then(|c| sets.iter().find(|t| t.id == c.id))
        .and_then(|t| t.created_at.as_deref())
        .and_then(|at| {
            aws_smithy_types::DateTime::from_str(at, aws_smithy_types::date_time::Format::DateTime)
                .ok()
        });
    if let Some(r) = read_back(&state, &svc.tags, &records, canary_created) {
        record(&mut state, &r);
    }
    let d = Desired::from(&state);
    observe(&state, &d, &svc, &sets, &all_routers, &test_routers)
}

/// Whether a refresh must read the task sets' tags (DescribeTaskSets): DescribeServices lists
/// every task set but not its tags, and tags tell whose a task set is. They are needed when
/// the service has a live task set the state does not record (an orphan of this deployment,
/// a PRIMARY that a promotion the state missed made, or somebody else's), or when the state's
/// drift says a recorded task set does not carry the ownership tag yet (just imported).
/// DRAINING task sets need none: ECS removes them, and nothing ecsx decides depends on whose
/// they were. See also [`acted_since`].
pub(crate) fn tags_needed(state: &Value, svc: &ecs::Service) -> bool {
    let recorded = recorded_ids(state);
    let unknown = svc
        .task_sets
        .iter()
        .any(|t| !t.is_draining() && !recorded.contains(&t.id));
    let untagged = Drift::from_values(state.get("drift"))
        .iter()
        .any(|d| matches!(d, Drift::NotOwned { .. }));
    unknown || untagged
}

/// Whether the service or the managed routers show what an `ecsx_canary_continue` or
/// `ecsx_canary_abort` action leaves behind while the state records a canary: the canary gone
/// or draining, another PRIMARY, or weights other than the state's. Only then can a release
/// record on the task sets (`ecsx:release`) be newer than the state, and only then does a
/// refresh read their tags for it. An approval whose action did nothing else is missed, so
/// the gate holds again: the safe way round.
pub(crate) fn acted_since(state: &Value, svc: &ecs::Service, managed: &[Router]) -> bool {
    let Some(canary) = TaskSetRef::read(state, Role::Canary) else {
        return false;
    };
    let canary_live = svc
        .task_sets
        .iter()
        .any(|t| t.id == canary.id && !t.is_draining());
    let stable = TaskSetRef::read(state, Role::Stable).map(|t| t.id);
    let primary_moved = svc.primary().map(|p| p.id.clone()) != stable;
    let d = Desired::from(state);
    // States from before `live_target_group_arn` kept the stable on the primary one.
    let live = state
        .get("live_target_group_arn")
        .as_str()
        .unwrap_or(&d.primary_tg);
    let weights = (
        state.get("primary_weight").as_i64(),
        state.get("canary_weight").as_i64(),
    );
    let weights_moved = match weights {
        (Some(pw), Some(cw)) => {
            let want = [
                (live.to_string(), pw as i32),
                (d.other_tg(live).to_string(), cw as i32),
            ];
            managed.iter().any(|r| !r.forwards_exactly(&want))
        }
        _ => true,
    };
    !canary_live || primary_moved || weights_moved
}

/// The ids of the stable and canary task sets the state records.
fn recorded_ids(state: &Value) -> Vec<String> {
    [Role::Stable, Role::Canary]
        .into_iter()
        .filter_map(|r| TaskSetRef::read(state, r).map(|t| t.id))
        .collect()
}

/// The service's task sets when [`tags_needed`] says no tags must be read: the ones the state
/// records are this deployment's (the apply that recorded them tagged them so, and an import
/// that found them untagged left drift that makes the refresh read the tags instead); the
/// others are DRAINING and carry no tags here.
fn owned_as_recorded(state: &Value, d: &Desired, svc: &ecs::Service) -> Vec<TaskSet> {
    let recorded = recorded_ids(state);
    svc.task_sets
        .iter()
        .map(|t| {
            let mut t = t.clone();
            t.tags.clear();
            if recorded.contains(&t.id) {
                t.tags.insert(TAG_DEPLOYMENT.to_string(), d.id());
            }
            t
        })
        .collect()
}

/// What a create starts from: task sets already tagged for its deployment mean an earlier
/// create died (Terraform or the provider killed) after CreateTaskSet and before anything
/// reached the state. No Read runs before a create, so they would never show as orphans.
/// The stable task set that create made (its version, on the primary target group, from the
/// same template) is taken over, so that no second one comes up next to it on a target group
/// that may already serve traffic; the others are deleted at the end.
///
/// With the service at hand (`svc`, read moments ago): no live task set there means nothing
/// was left, and the tags need not be read (DescribeTaskSets).
pub(crate) async fn leftovers(
    ctx: &Ctx,
    d: &Desired,
    svc: Option<&ecs::Service>,
) -> Result<Observed, AwsError> {
    if svc.is_some_and(|s| s.task_sets.iter().all(|t| t.is_draining())) {
        return Ok(resume_create(d, &[]));
    }
    let (sets, _) = ecs::find_task_sets(&ctx.aws.ecs, &d.cluster, &d.service, &[]).await?;
    Ok(resume_create(d, &sets))
}

pub(crate) fn resume_create(d: &Desired, sets: &[TaskSet]) -> Observed {
    let id = d.id();
    let same_template = |t: &TaskSet| {
        let read = Template {
            ecs_defaults: EcsDefault::of(t, None),
            ..Template::from(&Value::List(vec![Template::block_of(t)]))
        };
        read.creates_same_as(&d.template)
    };
    let live: Vec<&TaskSet> = sets
        .iter()
        .filter(|t| owned_by(t, &id) && !t.is_draining())
        .collect();
    let resumed = live.iter().copied().find(|t| {
        t.tags.get(TAG_ROLE).map(String::as_str) == Some(Role::Stable.as_str())
            && t.task_definition == d.stable_td
            && t.target_group_arns.first() == Some(&d.primary_tg)
            && same_template(t)
    });
    let Some(t) = resumed else {
        return Observed {
            orphans: owned_active(sets, &id),
            ..Observed::default()
        };
    };
    // A canary the earlier create left on the other target group, which traffic may reach:
    // taken over as the recorded canary, so the planner keeps it when it runs the configured
    // version, and otherwise moves all traffic off it and deletes it before a new canary
    // comes up there.
    let canary = live
        .iter()
        .copied()
        .find(|c| c.id != t.id && c.target_group_arns.first() == Some(&d.canary_tg));
    // How that create left the release, if it got far enough to say.
    let record = d.canary.as_ref().and_then(|c| {
        live.iter()
            .filter_map(|t| t.tags.get(TAG_RELEASE))
            .filter_map(|v| Release::from_tag(v, &c.task_definition, c.attempt, &d.stable_td))
            .max_by_key(Release::made_at)
    });
    let orphans: Vec<String> = owned_active(sets, &id)
        .into_iter()
        .filter(|o| *o != t.id && canary.is_none_or(|c| c.id != *o))
        .collect();
    // Deployed as configured, except that nothing is known of the routers (the create may
    // have died before, between or after its shifts): every one is written.
    let mut deployed = d.clone();
    deployed.canary = canary.map(|c| {
        let configured = d
            .canary
            .as_ref()
            .filter(|k| k.task_definition == c.task_definition && same_template(c));
        CanarySpec {
            task_definition: c.task_definition.clone(),
            scale: c.scale_percent,
            ..configured
                .cloned()
                .unwrap_or_else(|| CanarySpec::running(c))
        }
    });
    deployed.routers.clear();
    deployed.test_routers.clear();
    let stable = TaskSetRef::of(t);
    Observed {
        deployed: Some(deployed),
        drift: if t.is_primary() {
            vec![]
        } else {
            vec![Drift::PrimaryMoved {
                stable: stable.id.clone(),
                primary: None,
            }]
        },
        stable: Some(stable),
        canary: canary.map(TaskSetRef::of),
        live_tg: Some(d.primary_tg.clone()),
        orphans,
        record,
        ..Observed::default()
    }
}

/// Whether the rollout would create a task set, so that [`note_forwarded`] matters:
/// CreateTaskSet refuses a target group that no listener or rule forwards to.
pub(crate) fn creates_task_sets(seen: &Observed, d: &Desired) -> bool {
    Rollout::plan(seen, d).creates() > 0
}

/// Turns what AWS holds into state: task sets by id, real scales and weights, orphans, and
/// [`Drift`] in the `drift` attribute (rendered into `rollout_steps` for people).
pub(crate) fn observe(
    state: &Value,
    d: &Desired,
    svc: &ecs::Service,
    sets: &[TaskSet],
    managed: &[Router],
    test: &[Router],
) -> Value {
    let mut next = state.clone();
    let id = d.id();
    next.set("id", Value::from(id.as_str()));
    let find = |role: Role| {
        TaskSetRef::read(state, role)
            .and_then(|want| sets.iter().find(|t| t.id == want.id && !t.is_draining()))
    };
    let mut stable = find(Role::Stable);
    let mut canary = find(Role::Canary);
    let mut live_tg = Observed::from_state(state).live_tg;
    let mut release = d.last_release.clone();
    // A promotion the state never recorded (the provider or Terraform died after
    // UpdateServicePrimaryTaskSet): a task set of this deployment is PRIMARY, and either the
    // stable task set is gone, or the PRIMARY one is neither the recorded stable nor canary
    // (a new stable or bridge, which takes PRIMARY only once all traffic is on it). That one
    // is the stable task set now; the old one, if still there, is an orphan.
    let unrecorded =
        |t: &TaskSet| stable.is_none_or(|s| s.id != t.id) && canary.is_none_or(|c| c.id != t.id);
    if TaskSetRef::read(state, Role::Stable).is_some() {
        if let Some(p) = svc
            .primary()
            .and_then(|p| sets.iter().find(|t| t.id == p.id))
            .filter(|t| owned_by(t, &id) && !t.is_draining())
            .filter(|t| stable.is_none() || unrecorded(t))
        {
            if canary.is_some_and(|c| c.id == p.id) {
                canary = None;
            }
            // The canary's version took over from another stable version: that is its
            // promotion, by an ecsx_canary_continue action or an apply that died after it
            // (whose `promote = true`, or stable.task_definition naming the canary's version,
            // never reached the state). `swap` made the canary itself PRIMARY; `replace` a new
            // task set of its version on the primary target group, the canary going after.
            let configured_stable = state.block("stable").get("task_definition").clone();
            if let Some(c) = d.canary.as_ref().filter(|c| {
                c.task_definition == p.task_definition
                    && configured_stable.as_str() != Some(c.task_definition.as_str())
            }) {
                let promoted = Release {
                    stable_task_definition: configured_stable
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    ..Release::of(c, Outcome::Promoted, String::new())
                };
                record(&mut next, &promoted);
                release = Some(promoted);
            }
            stable = Some(p);
            if let Some(tg) = p.target_group_arns.first() {
                live_tg = Some(tg.clone());
            }
            TaskSetRef::write(&mut next, Role::Stable, Some(&TaskSetRef::of(p)));
        }
    }
    let live = live_tg.clone().unwrap_or_else(|| d.primary_tg.clone());
    let idle = d.other_tg(&live).to_string();
    next.set("live_target_group_arn", Value::from(live.as_str()));
    let mut drift = Vec::new();
    for (t, role) in [(stable, Role::Stable), (canary, Role::Canary)] {
        if let Some(t) = t.filter(|t| !owned_by(t, &id)) {
            drift.push(Drift::NotOwned {
                task_set: t.id.clone(),
                role,
            });
        }
    }

    match stable {
        Some(t) => {
            let mut block = state.block("stable").clone();
            // A version a promotion made stable stands in for the configured one.
            let configured = block.get("task_definition").as_str().unwrap_or_default();
            let stands_in =
                StandIn::read(&next).and_then(|s| s.runs_for(configured).map(str::to_string));
            if stands_in.as_deref() != Some(t.task_definition.as_str()) {
                block.set("task_definition", Value::from(t.task_definition.as_str()));
            }
            block.set("scale_percent", Value::from(t.scale_percent));
            next.set("stable", Value::List(vec![block]));
            if svc.primary().is_none_or(|p| p.id != t.id) {
                drift.push(Drift::PrimaryMoved {
                    stable: t.id.clone(),
                    primary: svc.primary().map(|p| p.id.clone()),
                });
            }
        }
        None => TaskSetRef::write(&mut next, Role::Stable, None),
    }
    let canary_weight = managed.first().map(|r| r.weight_of(&idle) as i64);
    write_canary(&mut next, state, d, canary, canary_weight, release.as_ref());

    let test_to = if canary.is_some() { &idle } else { &live };
    let (pw, cw) = routing(state, d, managed, test, (&live, &idle, test_to), &mut drift);
    next.set("primary_weight", Value::from(pw));
    next.set("canary_weight", Value::from(cw));
    let known: Vec<&str> = [stable, canary]
        .iter()
        .flatten()
        .map(|t| t.id.as_str())
        .collect();
    let orphans: Vec<String> = owned_active(sets, &id)
        .into_iter()
        .filter(|t| !known.contains(&t.as_str()))
        .collect();
    next.set("orphaned_task_set_ids", Value::string_list(&orphans));
    next.set("drift", Drift::to_values(&drift));
    if let Some(r) = release.filter(|r| r.waits() && r.approved_step >= r.step) {
        next.set("last_release", continued(r, &next).to_value());
    }
    if !drift.is_empty() {
        next.set(
            "rollout_steps",
            Value::string_list(drift.iter().map(Drift::render)),
        );
    }
    next
}

/// The `canary` block and task set as AWS shows them: the running canary's version, scale
/// and (without steps) weight; or none, unless the configured canary is held back or was
/// promoted (`last_release`).
fn write_canary(
    next: &mut Value,
    state: &Value,
    d: &Desired,
    canary: Option<&TaskSet>,
    canary_weight: Option<i64>,
    release: Option<&Release>,
) {
    match canary {
        Some(t) => {
            let mut block = state.block("canary").clone();
            if block.is_null() {
                block = Value::object([("traffic_percent", Value::from(0i64))]);
            }
            block.set("task_definition", Value::from(t.task_definition.as_str()));
            block.set("scale_percent", Value::from(t.scale_percent));
            // With steps, where the release ends is the last step's weight; a weight off
            // it shows in canary_weight instead.
            if let Some(w) = canary_weight.filter(|_| block.get("step").as_list().is_empty()) {
                block.set("traffic_percent", Value::from(w));
            }
            next.set("canary", Value::List(vec![block]));
        }
        None => {
            // A canary version an alarm rolled back, or one promoted, stays configured but
            // held (`last_release`).
            let configured = state.block("canary").get("task_definition").as_str();
            let promoted = release.is_some_and(|r| {
                r.result == Outcome::Promoted && configured == Some(r.task_definition.as_str())
            });
            if d.held.is_none() && !promoted {
                next.set("canary", Value::List(vec![]));
            }
            TaskSetRef::write(next, Role::Canary, None);
        }
    }
}

/// The weights the routers show (the first managed router that differs from the state, so
/// any hand edit shows), and the routing drift: routers that disagree, forward outside the
/// deployment, or route test traffic elsewhere than to `test_to`.
fn routing(
    state: &Value,
    d: &Desired,
    managed: &[Router],
    test: &[Router],
    (live, idle, test_to): (&str, &str, &str),
    drift: &mut Vec<Drift>,
) -> (i64, i64) {
    let expected = (
        state.get("primary_weight").as_i64(),
        state.get("canary_weight").as_i64(),
    );
    let seen: Vec<(i64, i64)> = managed
        .iter()
        .map(|r| (r.weight_of(live) as i64, r.weight_of(idle) as i64))
        .collect();
    let (pw, cw) = seen
        .iter()
        .copied()
        .find(|w| (Some(w.0), Some(w.1)) != expected)
        .or(seen.first().copied())
        .unwrap_or((100, 0));
    // A shift cut short (a crash between two ModifyRule calls) leaves routers disagreeing;
    // one weight pair cannot show that, so it is drift, and the next plan shifts them all again.
    if seen.iter().any(|w| *w != seen[0]) {
        drift.push(Drift::SplitDisagrees {
            routers: managed
                .iter()
                .zip(&seen)
                .map(|(r, (p, c))| (r.arn.clone(), *p, *c))
                .collect(),
        });
    }
    for r in managed {
        if r.weights()
            .unwrap_or_default()
            .iter()
            .any(|(tg, _)| !d.owns_target_group(tg))
        {
            drift.push(Drift::ForeignTargetGroup {
                router: r.arn.clone(),
            });
        }
    }
    let test_split = d.all_to(test_to);
    for r in test {
        if !r.forwards_exactly(&test_split) {
            drift.push(Drift::TestRouteOff {
                router: r.arn.clone(),
            });
        }
    }
    (pw, cw)
}

/// A held release whose gate an ecsx_canary_continue action approved, as the action left it:
/// held at the next gate, at its end, or somewhere on the way (the action failed or was
/// stopped; the next apply walks on from the weight it reached).
fn continued(held: Release, next: &Value) -> Release {
    let d = Desired::from(next);
    let by = format!(
        "step {} approved by ecsx_canary_continue",
        held.approved_step
    );
    let Some(c) = d.canary.as_ref() else {
        return held;
    };
    let at = next.get("canary_weight").as_i64();
    match c.gate {
        Some((n, w)) if n as i64 > held.step => Release {
            step: n as i64,
            reason: format!("waiting for approval of step {n} ({w}%); {by}"),
            ..held
        },
        _ if at == Some(c.traffic) => Release {
            result: Outcome::Completed,
            step: 0,
            reason: by,
            ..held
        },
        _ => Release {
            result: Outcome::Interrupted,
            step: 0,
            reason: format!("{by}; it stopped at {}%", at.unwrap_or(0)),
            ..held
        },
    }
}

#[cfg(test)]
mod tests;
