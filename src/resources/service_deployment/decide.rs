//! What an action on a native service deployment acts on, and when a followed deployment has
//! settled: pure functions of what ECS reported, with the refusals as typed values.

use crate::aws::ecs::{deployment_status as ds, Hook, ServiceDeployment};
use crate::diag::{AttrPath, Diagnostics};

/// Why an action has nothing (or too much) to act on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Refusal {
    /// No deployment of the service is going on; `last` is the newest one (ARN, status).
    NothingOngoing { last: Option<(String, String)> },
    /// A deployment goes on, but no hook waits.
    NothingWaits {
        deployment: String,
        status: String,
        stage: Option<String>,
    },
    /// More than one hook waits: (deployment ARN, hook id) each.
    SeveralWait(Vec<(String, String)>),
    /// `hook_id` was set, but no hook of that id waits.
    HookNotWaiting {
        hook_id: String,
        waiting: Vec<String>,
    },
    /// More than one deployment can be stopped.
    SeveralRunning(Vec<String>),
    /// `service_deployment_arn` was set, but that deployment cannot be stopped (or is not the
    /// service's).
    NotRunning { arn: String, status: Option<String> },
}

impl Refusal {
    pub(crate) fn summary(&self) -> &'static str {
        match self {
            Refusal::NothingOngoing { .. } => "No service deployment in progress",
            Refusal::NothingWaits { .. } => "No lifecycle hook waits",
            Refusal::SeveralWait(_) => "More than one lifecycle hook waits",
            Refusal::HookNotWaiting { .. } => "Lifecycle hook does not wait",
            Refusal::SeveralRunning(_) => "More than one service deployment in progress",
            Refusal::NotRunning { .. } => "Service deployment cannot be stopped",
        }
    }

    /// The configuration attribute the refusal is about.
    pub(crate) fn path(&self) -> AttrPath {
        match self {
            Refusal::SeveralWait(_) | Refusal::HookNotWaiting { .. } => AttrPath::attr("hook_id"),
            Refusal::SeveralRunning(_) | Refusal::NotRunning { .. } => {
                AttrPath::attr("service_deployment_arn")
            }
            _ => AttrPath::attr("service"),
        }
    }

    pub(crate) fn detail(&self, subject: &str) -> String {
        match self {
            Refusal::NothingOngoing { last: None } => format!(
                "{subject} has no service deployment (ListServiceDeployments lists none). Native deployments exist only for services on the ECS deployment controller; nothing was changed."
            ),
            Refusal::NothingOngoing { last: Some((arn, status)) } => format!(
                "{subject} has no service deployment in progress; the newest, {arn}, is {status}. Nothing was changed."
            ),
            Refusal::NothingWaits { deployment, status, stage } => format!(
                "Service deployment {deployment} of {subject} is {status}{}, and no PAUSE lifecycle hook waits (AWAITING_ACTION). Nothing was changed; the data source ecsx_service_deployments shows where it stands, and ecsx_service_deployment_stop stops it.",
                stage.as_ref().map(|s| format!(" at stage {s}")).unwrap_or_default()
            ),
            Refusal::SeveralWait(waiting) => format!(
                "In {subject}, {} lifecycle hooks wait: {}. Set hook_id to the one to act on. Nothing was changed.",
                waiting.len(),
                waiting
                    .iter()
                    .map(|(d, h)| format!("hook {h} of {d}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Refusal::HookNotWaiting { hook_id, waiting } => format!(
                "Lifecycle hook {hook_id} does not wait in {subject}; {}. Nothing was changed.",
                if waiting.is_empty() {
                    "no hook waits".to_string()
                } else {
                    format!("waiting: {}", waiting.join(", "))
                }
            ),
            Refusal::SeveralRunning(arns) => format!(
                "{subject} has {} service deployments in progress: {}. Set service_deployment_arn to the one to stop. Nothing was changed.",
                arns.len(),
                arns.join(", ")
            ),
            Refusal::NotRunning { arn, status: Some(s) } => format!(
                "Service deployment {arn} of {subject} is {s}; only a PENDING or IN_PROGRESS deployment can be stopped. Nothing was changed."
            ),
            Refusal::NotRunning { arn, status: None } => format!(
                "{subject} has no service deployment {arn} (ListServiceDeployments does not list it). Nothing was changed."
            ),
        }
    }

    pub(crate) fn report(&self, subject: &str, diags: &mut Diagnostics) {
        diags.error_at(self.path(), self.summary(), self.detail(subject));
    }
}

/// The one waiting hook to act on among the service's ongoing deployments (newest first);
/// `hook_id` picks one when set. `newest` is the service's newest deployment, for the message
/// when nothing goes on.
pub(crate) fn waiting_hook<'a>(
    ongoing: &'a [ServiceDeployment],
    newest: Option<&ServiceDeployment>,
    hook_id: Option<&str>,
) -> Result<(&'a ServiceDeployment, &'a Hook), Refusal> {
    let waiting: Vec<(&ServiceDeployment, &Hook)> = ongoing
        .iter()
        .flat_map(|d| d.waiting_hooks().map(move |h| (d, h)))
        .collect();
    if let Some(id) = hook_id {
        return waiting
            .into_iter()
            .find(|(_, h)| h.id == id)
            .ok_or_else(|| Refusal::HookNotWaiting {
                hook_id: id.to_string(),
                waiting: ongoing
                    .iter()
                    .flat_map(|d| d.waiting_hooks().map(|h| h.id.clone()))
                    .collect(),
            });
    }
    match waiting.as_slice() {
        [one] => Ok(*one),
        [] => Err(match ongoing.first() {
            None => Refusal::NothingOngoing {
                last: newest.map(|d| (d.arn.clone(), d.status.clone())),
            },
            Some(d) => Refusal::NothingWaits {
                deployment: d.arn.clone(),
                status: d.status.clone(),
                stage: d.lifecycle_stage.clone(),
            },
        }),
        several => Err(Refusal::SeveralWait(
            several
                .iter()
                .map(|(d, h)| (d.arn.clone(), h.id.clone()))
                .collect(),
        )),
    }
}

/// The one deployment a stop acts on: PENDING or IN_PROGRESS; `arn` picks one when set.
pub(crate) fn stoppable<'a>(
    ongoing: &'a [ServiceDeployment],
    newest: Option<&ServiceDeployment>,
    arn: Option<&str>,
) -> Result<&'a ServiceDeployment, Refusal> {
    if let Some(arn) = arn {
        return match ongoing.iter().find(|d| d.arn == arn) {
            Some(d) if d.is_running_forward() => Ok(d),
            Some(d) => Err(Refusal::NotRunning {
                arn: arn.to_string(),
                status: Some(d.status.clone()),
            }),
            None => Err(Refusal::NotRunning {
                arn: arn.to_string(),
                status: newest.filter(|d| d.arn == arn).map(|d| d.status.clone()),
            }),
        };
    }
    let running: Vec<&ServiceDeployment> =
        ongoing.iter().filter(|d| d.is_running_forward()).collect();
    match running.as_slice() {
        [one] => Ok(one),
        [] => Err(Refusal::NothingOngoing {
            last: ongoing
                .first()
                .or(newest)
                .map(|d| (d.arn.clone(), d.status.clone())),
        }),
        several => Err(Refusal::SeveralRunning(
            several.iter().map(|d| d.arn.clone()).collect(),
        )),
    }
}

/// Where a followed deployment ended up.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Settled {
    /// Over: SUCCESSFUL, STOPPED, ROLLBACK_SUCCESSFUL or ROLLBACK_FAILED.
    Over {
        status: String,
        reason: Option<String>,
    },
    /// Paused again, at another hook than the one acted on.
    Paused { hook: Hook, stage: Option<String> },
}

/// Whether `d` has settled after the action acted on `acted` (None: stop). A stop or a
/// rollback settles only when the deployment is over. A later pause is a waiting hook other
/// than the one acted on: another id, or the same id waiting until another time (the API does
/// not say whether a hook that runs before every production step keeps its id).
pub(crate) fn settled(
    d: &ServiceDeployment,
    acted: Option<&Hook>,
    pause_counts: bool,
) -> Option<Settled> {
    if !d.is_ongoing() {
        return Some(Settled::Over {
            status: d.status.clone(),
            reason: d.status_reason.clone(),
        });
    }
    if !pause_counts || d.status != ds::IN_PROGRESS {
        return None;
    }
    d.waiting_hooks()
        .find(|h| acted.is_none_or(|a| a.id != h.id || a.expires_at != h.expires_at))
        .map(|h| Settled::Paused {
            hook: h.clone(),
            stage: d.lifecycle_stage.clone(),
        })
}

/// One line on where a deployment stands, for progress messages.
pub(crate) fn describe(d: &ServiceDeployment) -> String {
    let mut line = d.status.clone();
    if let Some(stage) = &d.lifecycle_stage {
        line.push_str(&format!(" at {stage}"));
    }
    if let Some(w) = d.target_production_weight() {
        line.push_str(&format!(
            ", {}% of production traffic on the target revision",
            fmt_weight(w)
        ));
    }
    let waiting: Vec<String> = d.waiting_hooks().map(describe_hook).collect();
    if !waiting.is_empty() {
        line.push_str(&format!("; waiting: {}", waiting.join(", ")));
    }
    line
}

pub(crate) fn describe_hook(h: &Hook) -> String {
    let mut s = format!("hook {}", h.id);
    match (&h.expires_at, &h.timeout_action) {
        (Some(at), Some(a)) => s.push_str(&format!(" (until {at}, then {a})")),
        (Some(at), None) => s.push_str(&format!(" (until {at})")),
        _ => {}
    }
    s
}

pub(crate) fn fmt_weight(w: f64) -> String {
    if w.fract() == 0.0 {
        format!("{w:.0}")
    } else {
        format!("{w}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::ecs::RevisionSummary;

    fn hook(id: &str, status: &str) -> Hook {
        Hook {
            id: id.into(),
            target_type: "PAUSE".into(),
            status: status.into(),
            expires_at: Some("2026-12-07T16:00:00Z".into()),
            timeout_action: Some("ROLLBACK".into()),
            ..Default::default()
        }
    }

    fn deployment(arn: &str, status: &str, hooks: Vec<Hook>) -> ServiceDeployment {
        ServiceDeployment {
            arn: arn.into(),
            status: status.into(),
            lifecycle_stage: Some("PRE_PRODUCTION_TRAFFIC_SHIFT".into()),
            hooks,
            target_revision: Some(RevisionSummary {
                production_traffic_weight: Some(10.0),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn one_waiting_hook_is_chosen() {
        let ds = [deployment(
            "d1",
            "IN_PROGRESS",
            vec![hook("old", "SUCCEEDED"), hook("h1", "AWAITING_ACTION")],
        )];
        let (d, h) = waiting_hook(&ds, None, None).unwrap();
        assert_eq!((d.arn.as_str(), h.id.as_str()), ("d1", "h1"));
    }

    #[test]
    fn refusals_name_what_there_is() {
        let newest = deployment("d0", "SUCCESSFUL", vec![]);
        assert_eq!(
            waiting_hook(&[], Some(&newest), None).unwrap_err(),
            Refusal::NothingOngoing {
                last: Some(("d0".into(), "SUCCESSFUL".into()))
            }
        );
        let busy = [deployment(
            "d1",
            "IN_PROGRESS",
            vec![hook("h", "SUCCEEDED")],
        )];
        let nothing = waiting_hook(&busy, None, None).unwrap_err();
        assert!(matches!(nothing, Refusal::NothingWaits { .. }));
        assert_eq!(nothing.path(), AttrPath::attr("service"));
        assert!(nothing
            .detail("service web in cluster prod")
            .contains("at stage PRE_PRODUCTION_TRAFFIC_SHIFT"));
        let two = [deployment(
            "d1",
            "IN_PROGRESS",
            vec![hook("a", "AWAITING_ACTION"), hook("b", "AWAITING_ACTION")],
        )];
        let several = waiting_hook(&two, None, None).unwrap_err();
        assert_eq!(several.path(), AttrPath::attr("hook_id"));
        assert!(several.detail("s").contains("hook a of d1, hook b of d1"));
        assert_eq!(waiting_hook(&two, None, Some("b")).unwrap().1.id, "b");
        assert_eq!(
            waiting_hook(&two, None, Some("c")).unwrap_err(),
            Refusal::HookNotWaiting {
                hook_id: "c".into(),
                waiting: vec!["a".into(), "b".into()]
            }
        );
    }

    #[test]
    fn stop_needs_one_running_deployment() {
        let ds = [
            deployment("d2", "ROLLBACK_IN_PROGRESS", vec![]),
            deployment("d1", "IN_PROGRESS", vec![]),
        ];
        assert_eq!(stoppable(&ds, None, None).unwrap().arn, "d1");
        assert_eq!(
            stoppable(&ds, None, Some("d2")).unwrap_err(),
            Refusal::NotRunning {
                arn: "d2".into(),
                status: Some("ROLLBACK_IN_PROGRESS".into())
            }
        );
        let two = [
            deployment("d2", "IN_PROGRESS", vec![]),
            deployment("d1", "PENDING", vec![]),
        ];
        assert!(matches!(
            stoppable(&two, None, None),
            Err(Refusal::SeveralRunning(_))
        ));
        assert!(matches!(
            stoppable(&[], None, None),
            Err(Refusal::NothingOngoing { last: None })
        ));
    }

    #[test]
    fn a_followed_deployment_settles_when_over_or_paused_elsewhere() {
        let acted = hook("h1", "AWAITING_ACTION");
        let paused = deployment("d", "IN_PROGRESS", vec![acted.clone()]);
        // The hook just continued may still be reported waiting for a moment.
        assert_eq!(settled(&paused, Some(&acted), true), None);
        assert!(matches!(
            settled(&paused, Some(&hook("h0", "AWAITING_ACTION")), true),
            Some(Settled::Paused { .. })
        ));
        // The same hook id waiting until a later time is the next pause.
        let mut again = acted.clone();
        again.expires_at = Some("2026-12-07T17:00:00Z".into());
        let next = deployment("d", "IN_PROGRESS", vec![again]);
        assert!(matches!(
            settled(&next, Some(&acted), true),
            Some(Settled::Paused { .. })
        ));
        // A rollback or a stop waits for the end.
        assert_eq!(settled(&paused, None, false), None);
        let over = deployment("d", "ROLLBACK_SUCCESSFUL", vec![]);
        assert!(matches!(
            settled(&over, None, false),
            Some(Settled::Over { status, .. }) if status == "ROLLBACK_SUCCESSFUL"
        ));
    }

    #[test]
    fn progress_lines() {
        let d = deployment("d", "IN_PROGRESS", vec![hook("h1", "AWAITING_ACTION")]);
        assert_eq!(
            describe(&d),
            "IN_PROGRESS at PRE_PRODUCTION_TRAFFIC_SHIFT, 10% of production traffic on the target revision; waiting: hook h1 (until 2026-12-07T16:00:00Z, then ROLLBACK)"
        );
        assert_eq!(fmt_weight(12.5), "12.5");
    }
}
