//! The AWS layer: SDK clients built from provider settings, and find/status/wait per object.

pub mod cloudwatch;
pub mod ecs;
pub mod elbv2;
pub mod error;
mod logging;
pub mod metrics;
pub mod pace;
pub mod reads;
pub mod wait;

pub use error::AwsError;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use std::time::Duration;

/// Provider settings that shape the SDK clients, already validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub shared_config_files: Vec<String>,
    pub shared_credentials_files: Vec<String>,
    pub assume_role: Option<AssumeRole>,
    pub endpoint_ecs: Option<String>,
    pub endpoint_elbv2: Option<String>,
    pub endpoint_sts: Option<String>,
    pub endpoint_cloudwatch: Option<String>,
    pub max_retries: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssumeRole {
    pub role_arn: String,
    pub session_name: Option<String>,
    pub external_id: Option<String>,
    pub duration: Option<Duration>,
}

/// The clients every resource uses.
#[derive(Clone, Debug)]
pub struct Aws {
    pub ecs: aws_sdk_ecs::Client,
    pub elbv2: aws_sdk_elasticloadbalancingv2::Client,
    /// Alarms that gate a release (`analysis`); read only.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub region: String,
    /// Coalesced Describe calls and what this process's refreshes read (src/aws/reads).
    pub reads: std::sync::Arc<reads::Reads>,
}

impl Aws {
    /// Builds clients from the standard `aws-config` chain (environment, profiles, SSO,
    /// web identity, container and instance credentials), then applies the settings.
    pub async fn connect(s: &Settings) -> Result<Aws, String> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(s.max_retries + 1))
            // A response that never comes (a stalled connection, an overloaded endpoint) must
            // end in a retry, not hang the apply until Terraform's own timeout.
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(attempt_timeout())
                    .build(),
            );
        if let Some(r) = &s.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(p) = &s.profile {
            loader = loader.profile_name(p);
        }
        if !s.shared_config_files.is_empty() || !s.shared_credentials_files.is_empty() {
            use aws_runtime::env_config::file::{
                EnvConfigFileKind as ProfileFileKind, EnvConfigFiles as ProfileFiles,
            };
            let mut files = ProfileFiles::builder();
            if !s.shared_config_files.is_empty() {
                files = files.include_default_config_file(false);
            }
            if !s.shared_credentials_files.is_empty() {
                files = files.include_default_credentials_file(false);
            }
            for f in &s.shared_config_files {
                files = files.with_file(ProfileFileKind::Config, expand_home(f));
            }
            for f in &s.shared_credentials_files {
                files = files.with_file(ProfileFileKind::Credentials, expand_home(f));
            }
            loader = loader.profile_files(files.build());
        }
        let mut base = loader.load().await;
        let region = base
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| {
                "No AWS region is set. Set `region` in the provider block, or AWS_REGION / AWS_DEFAULT_REGION, or a region in the AWS profile.".to_string()
            })?;
        if let Some(role) = &s.assume_role {
            let mut sts_conf = base.to_builder();
            if let Some(url) = &s.endpoint_sts {
                sts_conf = sts_conf.endpoint_url(url);
            }
            let sts_conf = sts_conf.build();
            let mut b = aws_config::sts::AssumeRoleProvider::builder(&role.role_arn)
                .session_name(
                    role.session_name
                        .clone()
                        .unwrap_or_else(|| "terraform-provider-ecsx".to_string()),
                )
                .configure(&sts_conf);
            if let Some(id) = &role.external_id {
                b = b.external_id(id);
            }
            if let Some(d) = role.duration {
                b = b.session_length(d);
            }
            let creds = b.build().await;
            base = base
                .into_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(creds),
                )
                .build();
        }
        // Every request of the three clients is paced per API family (src/aws/pace.rs).
        let paced = pace::Limiter::from_env()
            .map(|l| pace::PacedClient::new(pace::default_https_client(), l));
        let mut ecs = aws_sdk_ecs::config::Builder::from(&base)
            .interceptor(logging::CallLog)
            .retry_classifier(error::QuotaIsNotThrottling);
        if let Some(url) = &s.endpoint_ecs {
            ecs = ecs.endpoint_url(url);
        }
        if let Some(p) = &paced {
            ecs = ecs.interceptor(pace::TagOperation).http_client(p.clone());
        }
        let mut elbv2 = aws_sdk_elasticloadbalancingv2::config::Builder::from(&base)
            .interceptor(logging::CallLog)
            .retry_classifier(error::QuotaIsNotThrottling);
        if let Some(url) = &s.endpoint_elbv2 {
            elbv2 = elbv2.endpoint_url(url);
        }
        if let Some(p) = &paced {
            elbv2 = elbv2.interceptor(pace::TagOperation).http_client(p.clone());
        }
        let mut cloudwatch = aws_sdk_cloudwatch::config::Builder::from(&base)
            .interceptor(logging::CallLog)
            .retry_classifier(error::QuotaIsNotThrottling);
        if let Some(url) = &s.endpoint_cloudwatch {
            cloudwatch = cloudwatch.endpoint_url(url);
        }
        if let Some(p) = &paced {
            cloudwatch = cloudwatch
                .interceptor(pace::TagOperation)
                .http_client(p.clone());
        }
        let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(cloudwatch.build());
        let ecs = aws_sdk_ecs::Client::from_conf(ecs.build());
        let elbv2 = aws_sdk_elasticloadbalancingv2::Client::from_conf(elbv2.build());
        let reads = std::sync::Arc::new(reads::Reads::from_env(ecs.clone(), elbv2.clone()));
        Ok(Aws {
            ecs,
            elbv2,
            cloudwatch,
            region,
            reads,
        })
    }
}

/// How long one attempt of an AWS call may take before the SDK gives up on it and retries;
/// `ECSX_ATTEMPT_TIMEOUT` (a duration such as `10s`) overrides the 30 s default.
pub fn attempt_timeout() -> Duration {
    attempt_timeout_from(std::env::var("ECSX_ATTEMPT_TIMEOUT").ok().as_deref())
}

const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

fn attempt_timeout_from(value: Option<&str>) -> Duration {
    value
        .and_then(crate::duration::parse)
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_ATTEMPT_TIMEOUT)
}

fn expand_home(path: &str) -> String {
    match (path.strip_prefix("~/"), std::env::var("HOME")) {
        (Some(rest), Ok(home)) => format!("{home}/{rest}"),
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_timeout_defaults_and_parses() {
        assert_eq!(attempt_timeout_from(None), DEFAULT_ATTEMPT_TIMEOUT);
        assert_eq!(attempt_timeout_from(Some("3s")), Duration::from_secs(3));
        assert_eq!(
            attempt_timeout_from(Some("1500ms")),
            Duration::from_millis(1500)
        );
        // Nonsense and zero (which would fail every call) fall back to the default.
        assert_eq!(attempt_timeout_from(Some("soon")), DEFAULT_ATTEMPT_TIMEOUT);
        assert_eq!(attempt_timeout_from(Some("0s")), DEFAULT_ATTEMPT_TIMEOUT);
    }
}
