//! The executor: carries out exactly the [`Rollout`] it is given, and the destroy sequence.
//! Where the world changed since the plan (PRIMARY moved), it re-plans with the same planner.

use super::model::{owned_by, ownership_tags, Desired, Observed, Role, TaskSetRef, Template};
use super::observe::{check_routers, find_routers, leftovers, note_canary_association};
use super::rollout::{NewTaskSet, PrimaryTarget, Rescale, Rollout, Routing};
use crate::aws::ecs::{self, TaskSet, TaskSetSpec};
use crate::aws::elbv2::{self, Router};
use crate::aws::wait::{self, Poll};
use crate::aws::AwsError;
use crate::diag::{AttrPath, Diagnostics};
use crate::resources::support::{aws_error, external_service_after_create, reported};
use crate::resources::Ctx;
use crate::value::Value;
use std::time::Duration;

/// How long ELBv2 may keep showing the previous weights after a change.
const ROUTING_VISIBLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Carries out the rollout from `prior` to `planned`. On failure, traffic stays on steady
/// task sets, a canary or stable that failed to stabilise is removed, and the state
/// returned is what AWS really holds, so the next apply picks up where this one stopped.
pub(crate) async fn converge(
    ctx: &Ctx,
    prior: &Value,
    planned: &Value,
    limit: Duration,
    diags: &mut Diagnostics,
) -> Value {
    let d = Desired::from(planned);
    let Some(svc) = external_service_after_create(ctx, &d.cluster, &d.service, diags).await else {
        return prior.clone();
    };
    let mut seen = if prior.is_null() {
        match leftovers(ctx, &d).await {
            Ok(orphans) => Observed {
                orphans,
                ..Observed::default()
            },
            Err(e) => {
                aws_error(
                    diags,
                    None,
                    "Could not list task sets",
                    &format!("deployment {}", d.id()),
                    &e,
                );
                return prior.clone();
            }
        }
    } else {
        Observed::from_state(prior).with_live_primary(svc.primary())
    };
    if let Err(e) = note_canary_association(ctx, &d, &mut seen).await {
        aws_error(
            diags,
            Some(AttrPath::attr("traffic")),
            "Could not read listeners and rules",
            &format!("deployment {}", d.id()),
            &e,
        );
        return prior.clone();
    }
    let r = Rollout::plan(&seen, &d);
    if let Err(e) = check_routers(ctx, &d, diags).await {
        aws_error(
            diags,
            Some(AttrPath::attr("traffic")),
            "Could not read listeners and rules",
            &format!("deployment {}", d.id()),
            &e,
        );
        return prior.clone();
    }
    if diags.has_errors() {
        return prior.clone();
    }
    let mut live = Live {
        stable: seen.stable.clone(),
        canary: seen.canary.clone(),
    };
    match run(ctx, &d, &r, limit, &mut live).await {
        Ok(()) => {
            let mut state = planned.clone();
            state.set("id", Value::from(d.id()));
            let (pw, cw) = d.weights();
            state.set("primary_weight", Value::from(pw));
            state.set("canary_weight", Value::from(cw));
            if state.get("rollout_steps").is_unknown() {
                // Planned while parts of the configuration were unknown.
                state.set("rollout_steps", Value::string_list(&r.steps));
            }
            TaskSetRef::write(&mut state, Role::Stable, live.stable.as_ref());
            TaskSetRef::write(&mut state, Role::Canary, live.canary.as_ref());
            state.set("orphaned_task_set_ids", Value::List(vec![]));
            state.set("drift", Value::List(vec![]));
            state
        }
        Err(failure) => {
            aws_error(
                diags,
                failure.path.clone(),
                &failure.summary,
                &format!("deployment {}", d.id()),
                &failure.error,
            );
            // What AWS holds now, read back through Read so the next plan sees it.
            let mut partial = planned.clone();
            partial.set("id", Value::from(d.id()));
            TaskSetRef::write(&mut partial, Role::Stable, live.stable.as_ref());
            TaskSetRef::write(&mut partial, Role::Canary, live.canary.as_ref());
            partial.set("drift", Value::List(vec![]));
            // Not the planned steps: the next plan must show the steps still to take.
            partial.set(
                "rollout_steps",
                Value::string_list([format!("stopped: {}", failure.summary)]),
            );
            let mut read_diags = Diagnostics::new();
            let seen = super::observe::read(ctx, &partial, &mut read_diags).await;
            diags.extend(read_diags);
            if seen.is_null() {
                partial
            } else {
                seen
            }
        }
    }
}

/// Task sets as an apply goes: the stable and canary the state will record.
struct Live {
    stable: Option<TaskSetRef>,
    canary: Option<TaskSetRef>,
}

struct Failure {
    path: Option<AttrPath>,
    summary: String,
    error: AwsError,
}

impl Failure {
    fn at(role: Role, summary: &str, error: AwsError) -> Failure {
        Failure {
            path: Some(AttrPath::attr(role.as_str())),
            summary: summary.to_string(),
            error,
        }
    }
}

async fn run(
    ctx: &Ctx,
    d: &Desired,
    r: &Rollout,
    limit: Duration,
    live: &mut Live,
) -> Result<(), Failure> {
    let wait = |arn: String| async move {
        if d.wait {
            ecs::wait_steady(&ctx.aws.ecs, &d.cluster, &d.service, &arn, limit, &ctx.stop)
                .await
                .map(|_| ())
        } else {
            Ok(())
        }
    };
    // 0. Adopt imported task sets: tag them as the deployment's.
    for (t, role) in &r.adopt {
        ecs::tag_task_set(&ctx.aws.ecs, &t.arn, &ownership_tags(&d.id(), *role))
            .await
            .map_err(|e| Failure::at(*role, "Could not tag the imported task set", e))?;
    }
    // 1. The stable version: a new task set on the primary target group, steady, then PRIMARY.
    if let Some(n) = &r.create_stable {
        let t = create(ctx, d, n)
            .await
            .map_err(|e| Failure::at(Role::Stable, "Could not create the stable task set", e))?;
        if let Err(e) = wait(t.arn.clone()).await {
            discard(ctx, d, &t).await;
            return Err(Failure::at(Role::Stable, "New stable task set did not reach a steady state; it was removed and traffic stays where it was", e));
        }
        live.stable = Some(TaskSetRef::of(&t));
    }
    if let Some(s) = &r.scale_stable {
        rescale(ctx, d, s, Role::Stable).await?;
        wait(s.task_set.arn.clone()).await.map_err(|e| {
            Failure::at(
                Role::Stable,
                "Stable task set did not reach a steady state after scaling",
                e,
            )
        })?;
    }
    match (&r.make_primary, &live.stable) {
        (Some(PrimaryTarget::NewStable), Some(t)) => {
            set_primary(ctx, d, t, "Could not make the new stable task set PRIMARY").await?
        }
        (Some(PrimaryTarget::Stable(t)), _) => {
            set_primary(
                ctx,
                d,
                t,
                "Could not make the stable task set PRIMARY again",
            )
            .await?
        }
        _ => {}
    }
    // 2. The canary: a new task set on the canary target group, steady before any traffic.
    if r.associate_canary_tg {
        // Where the canary target group is not forwarded to, all traffic is on the primary
        // one already: 100/0 moves none of it.
        let hold = Routing {
            production: true,
            tests: false,
            canary_exists: false,
        };
        let mut before = d.clone();
        before.canary = None;
        shift(ctx, &before, &hold).await.map_err(|e| Failure {
            path: Some(AttrPath::attr("traffic")),
            summary: "Could not add the canary target group to the listeners and rules".into(),
            error: e,
        })?;
    }
    if let Some(n) = &r.create_canary {
        let t = create(ctx, d, n)
            .await
            .map_err(|e| Failure::at(Role::Canary, "Could not create the canary task set", e))?;
        if let Err(e) = wait(t.arn.clone()).await {
            discard(ctx, d, &t).await;
            return Err(Failure::at(Role::Canary, "Canary task set did not reach a steady state; it was removed and no traffic moved to it", e));
        }
        // A replaced canary keeps the canary target group's traffic until the clean-up.
        live.canary = Some(TaskSetRef::of(&t));
    } else if let Some(s) = &r.scale_canary {
        rescale(ctx, d, s, Role::Canary).await?;
        wait(s.task_set.arn.clone()).await.map_err(|e| {
            Failure::at(
                Role::Canary,
                "Canary task set did not reach a steady state after scaling",
                e,
            )
        })?;
    }
    // 3. Traffic, now that every task set that will take some is steady.
    if let Some(routing) = &r.routing {
        shift(ctx, d, routing).await.map_err(|e| Failure {
            path: Some(AttrPath::attr("traffic")),
            summary: "Could not shift traffic".into(),
            error: e,
        })?;
    }
    if d.canary.is_none() {
        live.canary = None;
    }
    // 4. Clean-up: the task sets nothing routes to any more.
    for t in &r.retire {
        ecs::delete_task_set(&ctx.aws.ecs, &d.cluster, &d.service, &t.reference, false)
            .await
            .map_err(|e| Failure::at(Role::Stable, "Could not delete an old task set", e))?;
    }
    Ok(())
}

/// CreateTaskSet for one role, from the deployment's template, tagged as owned.
async fn create(ctx: &Ctx, d: &Desired, n: &NewTaskSet) -> Result<TaskSet, AwsError> {
    let Template {
        placement,
        container_name,
        container_port,
        mut tags,
        ..
    } = d.template.clone();
    tags.extend(ownership_tags(&d.id(), n.role));
    let token = uuid::Uuid::new_v4().to_string();
    let spec = TaskSetSpec {
        cluster: d.cluster.clone(),
        service: d.service.clone(),
        task_definition: n.task_definition.clone(),
        external_id: format!("ecsx-{}-{}", n.role.as_str(), &token[..8]),
        placement,
        target_group_arn: n.target_group.clone(),
        container_name,
        container_port,
        scale_percent: n.scale,
        tags,
        client_token: token,
    };
    crate::log::info(
        "creating task set",
        &[
            ("deployment", d.id().into()),
            ("role", n.role.as_str().into()),
            ("task_definition", n.task_definition.clone().into()),
        ],
    );
    ecs::create_task_set(&ctx.aws.ecs, &spec).await
}

async fn rescale(ctx: &Ctx, d: &Desired, s: &Rescale, role: Role) -> Result<(), Failure> {
    ecs::update_scale(
        &ctx.aws.ecs,
        &d.cluster,
        &d.service,
        &s.task_set.arn,
        s.scale,
    )
    .await
    .map(|_| ())
    .map_err(|e| {
        let summary = match role {
            Role::Stable => "Could not scale the stable task set",
            Role::Canary => "Could not scale the canary task set",
        };
        Failure::at(role, summary, e)
    })
}

async fn set_primary(ctx: &Ctx, d: &Desired, t: &TaskSetRef, summary: &str) -> Result<(), Failure> {
    ecs::set_primary_confirmed(&ctx.aws.ecs, &d.cluster, &d.service, &t.arn)
        .await
        .map(|_| ())
        .map_err(|e| Failure::at(Role::Stable, summary, e))
}

/// Removes a task set that failed to stabilise; best effort, the error at hand matters more.
async fn discard(ctx: &Ctx, d: &Desired, t: &TaskSet) {
    if let Err(e) = ecs::delete_task_set(&ctx.aws.ecs, &d.cluster, &d.service, &t.arn, true).await {
        crate::log::warn(
            "could not remove a task set that failed to stabilise",
            &[
                ("task_set", t.id.clone().into()),
                ("error", e.to_string().into()),
            ],
        );
    }
}

/// Writes the weights the routing asks for on the managed and/or test routers, skipping
/// routers already right, then waits until ELBv2 reads them back.
async fn shift(ctx: &Ctx, d: &Desired, routing: &Routing) -> Result<(), AwsError> {
    let (managed, test) = find_routers(ctx, d).await?;
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
    let split = d.split();
    let test_split = d.test_split(routing.canary_exists);
    let managed: &[Router] = if routing.production { &managed } else { &[] };
    let test: &[Router] = if routing.tests { &test } else { &[] };
    let mut wrote = false;
    for (routers, want) in [(managed, &split), (test, &test_split)] {
        for r in routers.iter().filter(|r| !r.forwards_exactly(want)) {
            elbv2::set_split(&ctx.aws.elbv2, r, want).await?;
            wrote = true;
        }
    }
    if wrote {
        wait_routed(ctx, d, routing, &split, &test_split).await?;
    }
    Ok(())
}

/// ELBv2 may describe a rule's old actions for a moment after ModifyRule. Waits until every
/// router reads back what was just written, so the state and the clean-up that follows (deleting
/// the task sets traffic left) rest on what AWS reports, not on what was sent.
async fn wait_routed(
    ctx: &Ctx,
    d: &Desired,
    routing: &Routing,
    split: &[(String, i32)],
    test_split: &[(String, i32)],
) -> Result<(), AwsError> {
    wait::until(
        "listeners and rules to show the new weights",
        ROUTING_VISIBLE_TIMEOUT,
        ecs::poll_interval(),
        &ctx.stop,
        || async {
            let (managed, test) = find_routers(ctx, d).await?;
            let managed: &[Router] = if routing.production { &managed } else { &[] };
            let test: &[Router] = if routing.tests { &test } else { &[] };
            let behind = lagging(managed, test, split, test_split);
            Ok(if behind.is_empty() {
                Poll::Done(())
            } else {
                Poll::Pending(format!("{} still show other weights", behind.join(", ")))
            })
        },
    )
    .await
}

/// The routers that do not (yet) forward as intended.
fn lagging(
    managed: &[Router],
    test: &[Router],
    split: &[(String, i32)],
    test_split: &[(String, i32)],
) -> Vec<String> {
    managed
        .iter()
        .filter(|r| !r.forwards_exactly(split))
        .chain(test.iter().filter(|r| !r.forwards_exactly(test_split)))
        .map(|r| r.arn.clone())
        .collect()
}

/// Destroy: traffic back to the stable target group, then the canary and orphans, then the
/// stable (PRIMARY, so force) unless kept; waits until they have drained.
pub(crate) async fn destroy(
    ctx: &Ctx,
    prior: &Value,
    limit: Duration,
    diags: &mut Diagnostics,
) -> Value {
    let d = Desired::from(prior);
    let ecs_client = &ctx.aws.ecs;
    let svc = match ecs::find_service(ecs_client, &d.cluster, &d.service).await {
        Ok(s) => s,
        Err(e) if e.is_not_found() => return Value::Null,
        Err(e) => {
            aws_error(
                diags,
                None,
                "Could not read the ECS service",
                &format!("service {:?} in cluster {:?}", d.service, d.cluster),
                &e,
            );
            return prior.clone();
        }
    };
    if !svc.is_active() {
        return Value::Null;
    }
    // Traffic back to the stable target group before anything is deleted.
    let mut back = d.clone();
    back.canary = None;
    let all_back = Routing {
        production: true,
        tests: true,
        canary_exists: false,
    };
    if let Err(e) = shift(ctx, &back, &all_back).await {
        aws_error(
            diags,
            Some(AttrPath::attr("traffic")),
            "Could not move traffic back to the stable task set",
            &format!("deployment {}", d.id()),
            &e,
        );
        return prior.clone();
    }
    let listed = ecs::find_task_sets(ecs_client, &d.cluster, &d.service, &[]).await;
    let subject = format!("deployment {}", d.id());
    let Some((sets, _)) = reported(listed, diags, None, "Could not list task sets", &subject)
    else {
        return prior.clone();
    };
    let stable_id = TaskSetRef::read(prior, Role::Stable)
        .map(|t| t.id)
        .unwrap_or_default();
    let keep_stable = prior.get("keep_primary_on_destroy").as_bool() == Some(true);
    // Canary and orphans first, the stable (PRIMARY, so force) last.
    let mut order: Vec<&TaskSet> = sets
        .iter()
        .filter(|t| owned_by(t, &d.id()) && !t.is_draining() && t.id != stable_id)
        .collect();
    if !keep_stable {
        order.extend(
            sets.iter()
                .filter(|t| t.id == stable_id && !t.is_draining()),
        );
    }
    let mut deleted = Vec::new();
    for t in order {
        if let Err(e) =
            ecs::delete_task_set(ecs_client, &d.cluster, &d.service, &t.arn, t.is_primary()).await
        {
            aws_error(
                diags,
                None,
                "Could not delete a task set",
                &format!("task set {} of deployment {}", t.id, d.id()),
                &e,
            );
            return prior.clone();
        }
        deleted.push(t.arn.clone());
    }
    if !deleted.is_empty() {
        crate::log::info(
            "waiting for deleted task sets to drain",
            &[
                ("deployment", d.id().into()),
                ("task_sets", (deleted.len() as u64).into()),
                ("timeout_s", limit.as_secs().into()),
            ],
        );
    }
    for a in &deleted {
        if let Err(e) =
            ecs::wait_gone(ecs_client, &d.cluster, &d.service, a, limit, &ctx.stop).await
        {
            aws_error(
                diags,
                None,
                "Task set still draining",
                &format!("deployment {}", d.id()),
                &e,
            );
            return prior.clone();
        }
    }
    if keep_stable {
        diags.warning(
            "Stable task set kept",
            format!("keep_primary_on_destroy is set, so task set {stable_id} of deployment {} keeps running as PRIMARY.", d.id()),
        );
    }
    Value::Null
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::elbv2::tests_support::router;

    const BLUE: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/blue/1";
    const GREEN: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/green/2";

    #[test]
    fn lagging_names_routers_that_still_show_other_weights() {
        let split = vec![(BLUE.to_string(), 90), (GREEN.to_string(), 10)];
        let test_split = vec![(BLUE.to_string(), 0), (GREEN.to_string(), 100)];
        let r = |arn: &str, b, g| router(arn, &[(BLUE, b), (GREEN, g)]);
        let managed = [r("prod", 90, 10), r("api", 100, 0)];
        let test = [r("test", 0, 100)];
        assert_eq!(lagging(&managed, &test, &split, &test_split), ["api"]);
        let test = [r("test", 100, 0)];
        assert_eq!(lagging(&managed[..1], &test, &split, &test_split), ["test"]);
        assert!(lagging(&managed[..1], &[], &split, &test_split).is_empty());
    }
}
