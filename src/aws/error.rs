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
    #[error("{operation} failed: {code}: {message}{}", request_suffix(.request_id))]
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
}
