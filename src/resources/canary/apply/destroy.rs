//! Destroy: every task set the deployment owns is removed, traffic first moved off the ones
//! going, so that `terraform destroy` leaves no task set behind.

use super::super::model::{Desired, Observed, TaskSetRef};
use super::super::routers::shift;
use crate::aws::ecs::{self, TaskSet};
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::Ctx;
use crate::resources::ownership::{owned_by, Role};
use crate::resources::support::{aws_error, reported};
use crate::value::Value;
use std::time::Duration;

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
    // Traffic back to the live target group before anything is deleted.
    let live = Observed::from_state(prior)
        .live_tg
        .unwrap_or_else(|| d.primary_tg.clone());
    let all_back = d.all_to(&live);
    if let Err(e) = shift(ctx, &d, Some(&all_back), Some(&all_back)).await {
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
