//! CloudWatch alarms that gate a release. ecsx only reads them: DescribeAlarms, by name.

use super::AwsError;
use aws_sdk_cloudwatch::types::{AlarmType, EvaluationState, StateValue};
use aws_sdk_cloudwatch::Client;

/// DescribeAlarms takes at most 100 names per call.
const NAMES_PER_CALL: usize = 100;

/// One alarm as the release watches it.
#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub name: String,
    /// `OK`, `ALARM` or `INSUFFICIENT_DATA`.
    pub state: String,
    pub reason: String,
    /// When the alarm last changed state, as CloudWatch reports it.
    pub since: Option<String>,
    /// A metric alarm's `EvaluationState` (`PARTIAL_DATA`, `EVALUATION_FAILURE`,
    /// `EVALUATION_ERROR`), when CloudWatch reports one; None while it evaluates normally.
    pub evaluation: Option<String>,
}

impl Alarm {
    pub fn is_firing(&self) -> bool {
        self.state == StateValue::Alarm.as_str()
    }

    /// Whether CloudWatch cannot evaluate the alarm at all (a metric query that fails, a
    /// misconfigured expression): its state then says nothing about the release.
    pub fn cannot_evaluate(&self) -> bool {
        self.evaluation.as_deref().is_some_and(|e| {
            e == EvaluationState::EvaluationFailure.as_str()
                || e == EvaluationState::EvaluationError.as_str()
        })
    }
}

/// The named alarms, metric and composite, following `NextToken`. Names CloudWatch does not
/// know are simply absent from the answer; [`missing`] tells which.
pub async fn describe(cw: &Client, names: &[String]) -> Result<Vec<Alarm>, AwsError> {
    let mut out = Vec::new();
    for chunk in names.chunks(NAMES_PER_CALL) {
        let mut token: Option<String> = None;
        loop {
            let resp = cw
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .alarm_types(AlarmType::MetricAlarm)
                .alarm_types(AlarmType::CompositeAlarm)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk("DescribeAlarms", e, &[], "alarm", &chunk.join(", "))
                })?;
            let metric = resp.metric_alarms().iter().map(|a| {
                (
                    a.alarm_name(),
                    a.state_value(),
                    a.state_reason(),
                    a.state_updated_timestamp(),
                    a.evaluation_state(),
                )
            });
            let composite = resp.composite_alarms().iter().map(|a| {
                (
                    a.alarm_name(),
                    a.state_value(),
                    a.state_reason(),
                    a.state_updated_timestamp(),
                    None,
                )
            });
            for (name, state, reason, since, evaluation) in metric.chain(composite) {
                out.push(Alarm {
                    name: name.unwrap_or_default().to_string(),
                    state: state.map(|s| s.as_str().to_string()).unwrap_or_default(),
                    reason: reason.unwrap_or_default().to_string(),
                    since: since.map(|t| t.to_string()),
                    evaluation: evaluation.map(|e| e.as_str().to_string()),
                });
            }
            match resp.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
    }
    Ok(out)
}

/// The names in `wanted` that `found` lacks, in order.
pub fn missing<'a>(wanted: &'a [String], found: &[Alarm]) -> Vec<&'a str> {
    wanted
        .iter()
        .filter(|n| !found.iter().any(|a| a.name == **n))
        .map(String::as_str)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alarm(name: &str, state: &str) -> Alarm {
        Alarm {
            name: name.into(),
            state: state.into(),
            reason: String::new(),
            since: None,
            evaluation: None,
        }
    }

    #[test]
    fn missing_names_and_firing() {
        let found = [alarm("web-5xx", "ALARM"), alarm("web-p99", "OK")];
        let wanted = ["web-5xx".to_string(), "nope".into(), "web-p99".into()];
        assert_eq!(missing(&wanted, &found), ["nope"]);
        assert!(found[0].is_firing());
        assert!(!found[1].is_firing());
        assert!(!alarm("x", "INSUFFICIENT_DATA").is_firing());
        let broken = Alarm {
            evaluation: Some("EVALUATION_ERROR".into()),
            ..alarm("x", "OK")
        };
        assert!(broken.cannot_evaluate());
        let partial = Alarm {
            evaluation: Some("PARTIAL_DATA".into()),
            ..alarm("x", "OK")
        };
        assert!(!partial.cannot_evaluate());
    }
}
