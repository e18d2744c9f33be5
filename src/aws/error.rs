//! Typed errors of the AWS layer: not-found apart from API failures, with code and request id.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum AwsError {
    #[error("{what} {id} was not found")]
    NotFound { what: &'static str, id: String },
    #[error("{operation} failed: {code}: {message}{}{}", request_suffix(.request_id), hint(.code))]
    Api {
        operation: &'static str,
        code: String,
        message: String,
        request_id: Option<String>,
    },
    #[error("timed out after {}s waiting for {what}", .after.as_secs())]
    Timeout { what: String, after: Duration },
    #[error("stopped by Terraform while waiting for {what}")]
    Cancelled { what: String },
    /// UpdateServicePrimaryTaskSet succeeded, yet the service names another PRIMARY.
    #[error("ECS accepted UpdateServicePrimaryTaskSet for task set {task_set}, but the service reports {} as PRIMARY", .primary.as_deref().unwrap_or("no task set"))]
    NotPrimary {
        task_set: String,
        primary: Option<String>,
    },
    #[error("{0}")]
    Unexpected(String),
}

/// Error codes whose meaning is not obvious from AWS's message.
pub const LIMIT_EXCEEDED: &str = "LimitExceededException";
pub const SERVICE_NOT_ACTIVE: &str = "ServiceNotActiveException";

fn hint(code: &str) -> &'static str {
    match code {
        LIMIT_EXCEEDED => ". This is an AWS service quota, not throttling, so ecsx did not retry it: wait for the resources counted against the quota to go away, or raise the quota in the Service Quotas console",
        SERVICE_NOT_ACTIVE => ". The service is being deleted or was deleted (DRAINING or INACTIVE)",
        _ => "",
    }
}

fn request_suffix(id: &Option<String>) -> String {
    id.as_ref()
        .map(|i| format!(" (request id {i})"))
        .unwrap_or_default()
}

impl AwsError {
    /// Classifies an SDK error; `not_found` lists the error codes that mean "gone" for this call.
    pub fn from_sdk<E, R>(
        operation: &'static str,
        err: SdkError<E, R>,
        not_found: &[&str],
        what: &'static str,
        id: &str,
    ) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let code = err.code().map(str::to_string);
        if let Some(c) = &code {
            if not_found.contains(&c.as_str()) {
                return AwsError::NotFound {
                    what,
                    id: id.to_string(),
                };
            }
        }
        let request_id = err.meta().extra("aws_request_id").map(str::to_string);
        match code {
            Some(code) => AwsError::Api {
                operation,
                message: err.message().unwrap_or_default().to_string(),
                code,
                request_id,
            },
            None => AwsError::Api {
                operation,
                code: "RequestFailed".into(),
                message: DisplayErrorContext(&err).to_string(),
                request_id,
            },
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            AwsError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, AwsError::NotFound { .. })
    }
}

/// A retry classifier that runs after the SDK's own: an error the SDK counts as throttling
/// because of its code but which is a quota (`LimitExceededException`) is final. Retrying it
/// only spends every attempt (up to `max_retries`) on an answer that cannot change.
#[derive(Debug, Default)]
pub(crate) struct QuotaIsNotThrottling;

impl aws_smithy_runtime_api::client::retries::classifiers::ClassifyRetry for QuotaIsNotThrottling {
    fn classify_retry(
        &self,
        ctx: &aws_smithy_runtime_api::client::interceptors::context::InterceptorContext,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryAction {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryAction;
        let quota = ctx.response().is_some_and(|r| {
            r.status().as_u16() == 400 && r.body().bytes().is_some_and(is_quota_error)
        });
        if quota {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "ecsx.QuotaIsNotThrottling"
    }

    fn priority(
        &self,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority;
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// Whether an error body (JSON `__type`, or a query-protocol XML `<Code>`) names a quota error.
fn is_quota_error(body: &[u8]) -> bool {
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) {
        let code = doc
            .get("__type")
            .or_else(|| doc.get("code"))
            .and_then(|c| c.as_str())
            .unwrap_or_default();
        // `__type` may carry a namespace: `com.amazonaws.ecs#LimitExceededException`.
        return code.rsplit('#').next() == Some(LIMIT_EXCEEDED);
    }
    std::str::from_utf8(body)
        .is_ok_and(|text| text.contains(&format!("<Code>{LIMIT_EXCEEDED}</Code>")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_code_and_request() {
        let e = AwsError::Api {
            operation: "CreateTaskSet",
            code: "InvalidParameterException".into(),
            message: "bad".into(),
            request_id: Some("r-1".into()),
        };
        assert_eq!(
            e.to_string(),
            "CreateTaskSet failed: InvalidParameterException: bad (request id r-1)"
        );
        assert_eq!(e.code(), Some("InvalidParameterException"));
    }

    #[test]
    fn quota_errors_say_so() {
        let e = AwsError::Api {
            operation: "CreateTaskSet",
            code: LIMIT_EXCEEDED.into(),
            message: "The limit was exceeded.".into(),
            request_id: None,
        };
        let text = e.to_string();
        assert!(text.contains("service quota, not throttling"), "{text}");
        assert!(is_quota_error(
            br#"{"__type":"LimitExceededException","message":"x"}"#
        ));
        assert!(is_quota_error(
            br#"{"__type":"com.amazonaws.ecs#LimitExceededException"}"#
        ));
        assert!(is_quota_error(
            b"<ErrorResponse><Error><Code>LimitExceededException</Code></Error></ErrorResponse>"
        ));
        assert!(!is_quota_error(br#"{"__type":"ThrottlingException"}"#));
        assert!(!is_quota_error(b"not json"));
    }

    #[test]
    fn quota_classifier_forbids_retries_and_leaves_the_rest_alone() {
        use aws_smithy_runtime_api::client::interceptors::context::{Input, InterceptorContext};
        use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
        use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};
        use aws_smithy_types::body::SdkBody;
        let classify = |status: u16, body: &'static str| {
            let mut ctx = InterceptorContext::new(Input::doesnt_matter());
            ctx.set_response(HttpResponse::new(
                status.try_into().unwrap(),
                SdkBody::from(body),
            ));
            QuotaIsNotThrottling.classify_retry(&ctx)
        };
        assert_eq!(
            classify(400, r#"{"__type":"LimitExceededException"}"#),
            RetryAction::RetryForbidden
        );
        assert_eq!(
            classify(400, r#"{"__type":"ThrottlingException"}"#),
            RetryAction::NoActionIndicated
        );
        assert_eq!(classify(500, "{}"), RetryAction::NoActionIndicated);
    }
}
