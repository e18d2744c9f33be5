//! The `ecsx_canary_deployment` list resource: the services of a cluster that could become canary
//! deployments, each with the state [`import::state_from_aws`] builds. Reads AWS only: nothing is tagged.

use super::import;
use crate::arn;
use crate::aws::ecs::Service;
use crate::diag::{Diagnostics, Severity};
use crate::framework::{Ctx, ListSink};
use crate::resources::adopt;
use crate::schema::Schema;
use crate::value::Value;

const TYPE_NAME: &str = "ecsx_canary_deployment";

pub(super) fn schema() -> Schema {
    adopt::list_schema(
        "Lists the services of a cluster that can become canary deployments: EXTERNAL-controller services with a PRIMARY task set, at most one other task set on its own target group, and no task set another controller manages. \
         With `include_resource`, each result carries the state import would build: the task set template from ECS, the target groups, and the listeners and rules that forward to them. \
         Services that cannot be adopted come back as warnings naming the reason. Listing only reads AWS.",
    )
}

pub(super) async fn list(ctx: &Ctx, config: &Value, sink: &mut ListSink, diags: &mut Diagnostics) {
    let mut services = adopt::Services::new(ctx, adopt::ServiceFilter::from(config));
    while let Some(batch) = services.next_batch(diags).await {
        for svc in batch {
            let more = match adoptable(ctx, &svc).await {
                Err(reason) => {
                    sink.skipped(adopt::skipped_warning(TYPE_NAME, &svc, &reason))
                        .await
                }
                Ok((state, notes)) => {
                    let name = display_name(&svc, &state);
                    sink.found(adopt::identity_of(&svc), name, state, notes)
                        .await
                }
            };
            if !more {
                return;
            }
        }
    }
}

/// The state import would build for `svc` and its warnings, or why it cannot be adopted.
async fn adoptable(ctx: &Ctx, svc: &Service) -> Result<(Value, Diagnostics), String> {
    // What DescribeServices already tells costs no further call.
    if let Some(reason) = adopt::unadoptable(svc) {
        return Err(reason);
    }
    let cluster = arn::cluster_name(&svc.cluster_arn);
    let mut d = Diagnostics::new();
    let state = import::state_from_aws(ctx, cluster, &svc.name, &mut d).await;
    let first_error = d.iter().find(|x| x.severity == Severity::Error).map(|e| {
        format!(
            "{}: {}",
            e.summary.to_lowercase(),
            e.detail.trim_end_matches('.')
        )
    });
    match first_error {
        Some(reason) => Err(reason),
        None if state.is_null() => Err("it went away while it was being listed".to_string()),
        None => Ok((state, d)),
    }
}

/// `web: PRIMARY web:12, canary web:13, traffic 90/10, 2 task sets`: what a person scans for.
fn display_name(svc: &Service, state: &Value) -> String {
    let live = svc.task_sets.iter().filter(|t| !t.is_draining()).count();
    let label = |block: &str| {
        state
            .block(block)
            .get("task_definition")
            .as_str()
            .map(arn::task_definition_label)
    };
    let weight = |k: &str| state.get(k).as_i64().unwrap_or_default();
    let mut name = format!("{}: PRIMARY {}", svc.name, label("stable").unwrap_or("?"));
    if let Some(c) = label("canary") {
        name.push_str(&format!(", canary {c}"));
    }
    name.push_str(&format!(
        ", traffic {}/{}, {live} task set{}",
        weight("primary_weight"),
        weight("canary_weight"),
        if live == 1 { "" } else { "s" }
    ));
    name
}
