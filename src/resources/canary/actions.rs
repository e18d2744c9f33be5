//! The `ecsx_canary_continue` and `ecsx_canary_abort` actions (Terraform 1.14+,
//! `terraform apply -invoke=action.TYPE.NAME`): continue a release held at a gate, or roll a
//! canary back, without editing the configuration.
//!
//! An action cannot write Terraform state, so each first records what it does as a release
//! record on the deployment's stable task set (tag `ecsx:release`), then does it with the same
//! executor an apply uses, and records how the release ended (a rollback or an interrupted
//! bake inside the action included) on the task set that is stable then. The next refresh
//! reads the newest record back into `last_release` (`schedule::read_back`), so the next plan
//! neither undoes an abort nor repeats a continue nor starts a rolled-back canary again. Task
//! sets are the deployment's own: no other tool manages their tags, and every task set ARN has
//! the long format that tagging needs.

use super::apply::converge_reporting;
use super::model::TaskSetRef;
use super::model::{CanarySpec, Desired};
use super::release::Outcome;
use super::release::Release;
use super::release::{now, Writer, ABORTED_BY_ACTION, TAG_RELEASE};
use crate::aws::ecs;
use crate::diag::{AttrPath, Diagnostics};
use crate::framework::{timeout, Action, Ctx, Progress};
use crate::resources::ownership::Role;
use crate::resources::support::aws_error;
use crate::schema::{Attribute, Block, Schema, Type, Validator};
use crate::value::Value;
use async_trait::async_trait;
use std::collections::BTreeMap;

pub(crate) struct Continue;
pub(crate) struct Abort;

fn deployment_attribute() -> Attribute {
    Attribute::required(
        "deployment",
        super::schema::schema().block.implied_type(),
        "The deployment, as the whole resource: `deployment = ecsx_canary_deployment.NAME`. Terraform refreshes it before the action runs, so the action starts from what AWS holds.",
    )
}

/// The deployment the action acts on: known, and one with a canary.
fn deployment<'a>(config: &'a Value, diags: &mut Diagnostics) -> Option<&'a Value> {
    let v = config.get("deployment");
    if v.is_null() || !v.is_wholly_known() || v.get("cluster").as_str().is_none() {
        diags.error_at(
            AttrPath::attr("deployment"),
            "Deployment not known yet",
            "The action needs an ecsx_canary_deployment that has been applied: set deployment = ecsx_canary_deployment.NAME and apply it first.",
        );
        return None;
    }
    Some(v)
}

/// The gate a held release waits at: its canary, the step number and that step's weight.
fn gate(state: &Value, diags: &mut Diagnostics) -> Option<(CanarySpec, usize, i64)> {
    let d = Desired::from(state);
    let waiting = d
        .canary
        .as_ref()
        .and_then(|c| c.gate.map(|(n, w)| (c.clone(), n, w)));
    if waiting.is_none() {
        let record = d
            .last_release
            .as_ref()
            .map(|r| format!(" Its last release is {} ({}).", r.result, r.reason))
            .unwrap_or_default();
        diags.error_at(
            AttrPath::attr("deployment"),
            "Nothing waits for approval",
            format!(
                "Deployment {} has no canary step with `approval = true` left to approve.{record}",
                d.id()
            ),
        );
    }
    waiting
}

/// A canary the abort can roll back: configured and not settled yet.
fn abortable(state: &Value, diags: &mut Diagnostics) -> Option<CanarySpec> {
    let d = Desired::from(state);
    if let Some(c) = d.canary {
        return Some(c);
    }
    let why = match (&d.held, &d.last_release) {
        (Some(_), Some(r)) => format!("its canary was {} already ({})", r.result, r.reason),
        _ => "it runs no canary".to_string(),
    };
    diags.error_at(
        AttrPath::attr("deployment"),
        "Nothing to abort",
        format!("Deployment {} has nothing to roll back: {why}.", d.id()),
    );
    None
}

/// Records `release` on the stable task set of `state` (tag `ecsx:release`): what the action
/// does, durable before it is carried out, or how the release ended after it.
async fn record(
    ctx: &Ctx,
    state: &Value,
    release: &Release,
    by: Writer,
    diags: &mut Diagnostics,
) -> bool {
    let d = Desired::from(state);
    let subject = format!("deployment {}", d.id());
    let Some(stable) = TaskSetRef::read(state, Role::Stable) else {
        diags.error_at(
            AttrPath::attr("deployment"),
            "No stable task set to record on",
            format!("Deployment {} records no stable task set, so the action has nowhere to record what it does. Apply the deployment first.", d.id()),
        );
        return false;
    };
    let tags = BTreeMap::from([(TAG_RELEASE.to_string(), release.to_tag(by))]);
    if let Err(e) = ecs::tag_resource(&ctx.aws.ecs, "task set", &stable.arn, &tags).await {
        aws_error(
            diags,
            Some(AttrPath::attr("deployment")),
            "Could not record the action on the stable task set",
            &subject,
            &e,
        );
        return false;
    }
    true
}

/// Carries out `planned` from `state` as an apply would, reporting each step.
async fn carry_out(
    ctx: &Ctx,
    state: &Value,
    planned: &Value,
    progress: &Progress,
    diags: &mut Diagnostics,
) -> Value {
    let limit = timeout(state, "update", super::schema::APPLY_TIMEOUT);
    let say = |line: &str| progress.try_say(line);
    converge_reporting(ctx, state, planned, limit, Some(&say), diags).await
}

#[async_trait]
impl Action for Continue {
    fn type_name(&self) -> &'static str {
        "ecsx_canary_continue"
    }

    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: Block::new("Approves the gate a scheduled release of an `ecsx_canary_deployment` waits at (`step.approval`) and walks on at once, as an apply would: each step's weight and bake with the alarms watched, up to the next gate or to the end, promoting with `canary.promote`. The approval, and how the walk ended (a rollback by an alarm included), are recorded on the deployment's stable task set (tag `ecsx:release`) and read back by the next refresh into `last_release`, so the next plan neither repeats nor undoes them. Without actions (Terraform before 1.14, OpenTofu), set `canary.approved_step` instead.")
                .attr(deployment_attribute())
                .attr(
                    Attribute::optional("step", Type::Number, "The gated step to approve, counting from 1. Checked against the step the release waits at, so an action prepared for one gate cannot pass another; unset approves whichever gate it waits at.")
                        .check(Validator::IntRange(1, 1000)),
                ),
        }
    }

    async fn plan(&self, _ctx: Option<&Ctx>, config: &Value, diags: &mut Diagnostics) {
        if config.get("deployment").is_wholly_known() {
            if let Some(state) = deployment(config, diags) {
                if let Some((_, n, _)) = gate(state, diags) {
                    check_step(config, n, diags);
                }
            }
        }
    }

    async fn invoke(
        &self,
        ctx: &Ctx,
        config: &Value,
        progress: &Progress,
        diags: &mut Diagnostics,
    ) {
        let Some(state) = deployment(config, diags) else {
            return;
        };
        let Some((c, n, w)) = gate(state, diags) else {
            return;
        };
        if !check_step(config, n, diags) {
            return;
        }
        let d = Desired::from(state);
        progress
            .say(format!(
                "approving step {n} ({w}%) of deployment {}",
                d.id()
            ))
            .await;
        let prior = Release::read(state.get("last_release")).filter(|r| r.is_of(&c));
        let approved = Release {
            approved_step: n as i64,
            step: n as i64,
            at: now(),
            ..prior.unwrap_or_else(|| Release::of(&c, Outcome::AwaitingApproval, String::new()))
        };
        if !record(ctx, state, &approved, Writer::Continue, diags).await {
            return;
        }
        let mut planned = state.clone();
        planned.set("last_release", approved.to_value());
        let after = carry_out(ctx, state, &planned, progress, diags).await;
        // How the walk ended (held again, completed, promoted, rolled back, interrupted), on
        // the task set that is stable now: the state this action cannot write.
        if let Some(end) =
            Release::read(after.get("last_release")).filter(|r| r.is_of(&c) && *r != approved)
        {
            record(ctx, &after, &end, Writer::Continue, diags).await;
        }
        if !diags.has_errors() {
            let end = Release::read(after.get("last_release"));
            progress
                .say(match end {
                    Some(r) if r.waits() => {
                        format!("held again: {}", r.reason)
                    }
                    Some(r) => format!("release {}", r.result),
                    None => "done".to_string(),
                })
                .await;
        }
    }
}

/// A `step` set in the action's configuration must be the gate the release waits at.
fn check_step(config: &Value, waiting: usize, diags: &mut Diagnostics) -> bool {
    match config.get("step").as_i64() {
        Some(s) if s != waiting as i64 => {
            diags.error_at(
                AttrPath::attr("step"),
                "Release waits at another step",
                format!("The action approves step {s}, but the release waits for approval of step {waiting}."),
            );
            false
        }
        _ => true,
    }
}

#[async_trait]
impl Action for Abort {
    fn type_name(&self) -> &'static str {
        "ecsx_canary_abort"
    }

    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: Block::new("Rolls the canary of an `ecsx_canary_deployment` back at once: all production and test traffic to the stable task set, then the canary task set is deleted, as an alarm rollback does. The abort is recorded on the deployment's stable task set (tag `ecsx:release`) before anything moves, and read back by the next refresh into `last_release` (`rolled_back`), so the canary version is held back: the next plan does not start it again until `canary.task_definition` changes or `canary.attempt` is raised.")
                .attr(deployment_attribute()),
        }
    }

    async fn plan(&self, _ctx: Option<&Ctx>, config: &Value, diags: &mut Diagnostics) {
        if config.get("deployment").is_wholly_known() {
            if let Some(state) = deployment(config, diags) {
                abortable(state, diags);
            }
        }
    }

    async fn invoke(
        &self,
        ctx: &Ctx,
        config: &Value,
        progress: &Progress,
        diags: &mut Diagnostics,
    ) {
        let Some(state) = deployment(config, diags) else {
            return;
        };
        let Some(c) = abortable(state, diags) else {
            return;
        };
        let d = Desired::from(state);
        let at = now();
        progress
            .say(format!("aborting the canary of deployment {}", d.id()))
            .await;
        let rolled_back = Release {
            at,
            ..Release::of(&c, Outcome::RolledBack, ABORTED_BY_ACTION.to_string())
        };
        if !record(ctx, state, &rolled_back, Writer::Abort, diags).await {
            return;
        }
        let mut planned = state.clone();
        planned.set("last_release", rolled_back.to_value());
        carry_out(ctx, state, &planned, progress, diags).await;
        if !diags.has_errors() {
            progress
                .say("rolled back: all traffic on the stable task set, canary deleted")
                .await;
        }
    }
}
