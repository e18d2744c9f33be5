//! The provider's own configuration: its schema, the checks beyond it, and the AWS settings
//! it becomes.

use super::{Configured, Provider};
use crate::aws::{AssumeRole, Aws, Settings};
use crate::diag::{AttrPath, Diagnostics};
use crate::schema::{Attribute, Block, NestedBlock, Schema, Type, Validator};
use crate::value::Value;
use std::sync::Arc;

/// hashicorp/aws's default, so throttled accounts behave as users expect.
pub(super) const DEFAULT_MAX_RETRIES: u32 = 25;

impl Provider {
    pub fn schema() -> Schema {
        let assume_role = Block::new(
            "Assume this IAM role (STS AssumeRole) with the credentials from the standard chain.",
        )
        .attr(
            Attribute::required("role_arn", Type::String, "ARN of the role to assume.")
                .check(Validator::Arn("iam", "role/")),
        )
        .attr(Attribute::optional(
            "session_name",
            Type::String,
            "Session name; defaults to `terraform-provider-ecsx`.",
        ))
        .attr(Attribute::optional(
            "external_id",
            Type::String,
            "External ID the role's trust policy expects.",
        ))
        .attr(
            Attribute::optional(
                "duration",
                Type::String,
                "Session length, e.g. `1h` (15m to 12h).",
            )
            .check(Validator::Duration(ROLE_SESSION.0, ROLE_SESSION.1)),
        );
        let endpoints = Block::new("Custom service endpoints, e.g. for a local emulator. `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` work too.")
            .attr(Attribute::optional("ecs", Type::String, "Endpoint URL for Amazon ECS."))
            .attr(Attribute::optional("elbv2", Type::String, "Endpoint URL for Elastic Load Balancing v2."))
            .attr(Attribute::optional("sts", Type::String, "Endpoint URL for AWS STS (used by `assume_role`)."))
            .attr(Attribute::optional("cloudwatch", Type::String, "Endpoint URL for Amazon CloudWatch (alarms of `analysis` blocks)."));
        Schema {
            version: 0,
            block: Block::new(
                "The ecsx provider runs canary and blue/green releases on Amazon ECS services that use the EXTERNAL deployment controller. \
                 Credentials come from the standard AWS chain: environment, shared profiles, SSO, web identity, container and instance roles.",
            )
            .attr(Attribute::optional("region", Type::String, "AWS region, e.g. `us-east-1`; defaults to `AWS_REGION` or the profile's region."))
            .attr(Attribute::optional("profile", Type::String, "Named profile from the shared config and credentials files."))
            .attr(Attribute::optional("shared_config_files", Type::list_of(Type::String), "Paths of shared config files, instead of `~/.aws/config`."))
            .attr(Attribute::optional("shared_credentials_files", Type::list_of(Type::String), "Paths of shared credentials files, instead of `~/.aws/credentials`."))
            .attr(Attribute::optional("max_retries", Type::Number, "Most retries of one throttled or failed AWS call; defaults to 25.").check(Validator::IntRange(0, 100)))
            .block(NestedBlock::single("assume_role", assume_role))
            .block(NestedBlock::single("endpoints", endpoints)),
        }
    }

    pub fn validate_provider_config(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        Self::schema()
            .block
            .validate(config, &AttrPath::root(), &mut d);
        check_settings(config, &mut d);
        d
    }

    pub async fn configure(&self, config: &Value) -> Diagnostics {
        let mut d = self.validate_provider_config(config);
        if d.has_errors() {
            return d;
        }
        if !config.is_wholly_known() {
            crate::log::debug(
                "provider configuration has unknown values; deferring AWS setup",
                &[],
            );
            *self.configured.write().await = Configured::Unknown;
            return d;
        }
        let settings = settings_from(config);
        match Aws::connect(&settings).await {
            Ok(aws) => {
                crate::log::debug(
                    "provider configured",
                    &[("region", aws.region.clone().into())],
                );
                *self.configured.write().await = Configured::Ready(Arc::new(aws));
            }
            Err(e) => d.error_at(AttrPath::attr("region"), "Invalid AWS configuration", e),
        }
        d
    }
}

/// STS accepts role sessions from 15 minutes to 12 hours (the role's maximum may be lower).
const ROLE_SESSION: (u64, u64) = (15 * 60, 12 * 3600);

/// Rules beyond the per-attribute validators: what STS and the SDK would refuse only later,
/// with less helpful errors.
fn check_settings(config: &Value, d: &mut Diagnostics) {
    let ep = AttrPath::attr("endpoints").index(0);
    for service in ["ecs", "elbv2", "sts", "cloudwatch"] {
        let Some(url) = config.block("endpoints").get(service).as_str() else {
            continue;
        };
        let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
        let host = url
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        if !scheme_ok
            || host.is_empty()
            || host.starts_with('/')
            || url.contains(char::is_whitespace)
        {
            d.error_at(
                ep.then(service),
                "Invalid endpoint URL",
                format!(
                    "endpoints[0].{service} must be an http:// or https:// URL such as \"http://127.0.0.1:5000\", got {url:?}."
                ),
            );
        }
    }
}

fn opt_string(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

/// Provider settings from a wholly known, validated configuration.
pub fn settings_from(config: &Value) -> Settings {
    let role = config.block("assume_role");
    let ep = config.block("endpoints");
    Settings {
        region: opt_string(config.get("region")),
        profile: opt_string(config.get("profile")),
        shared_config_files: config.get("shared_config_files").strings(),
        shared_credentials_files: config.get("shared_credentials_files").strings(),
        assume_role: opt_string(role.get("role_arn")).map(|role_arn| AssumeRole {
            role_arn,
            session_name: opt_string(role.get("session_name")),
            external_id: opt_string(role.get("external_id")),
            duration: role
                .get("duration")
                .as_str()
                .and_then(crate::duration::parse),
        }),
        endpoint_ecs: opt_string(ep.get("ecs")),
        endpoint_elbv2: opt_string(ep.get("elbv2")),
        endpoint_sts: opt_string(ep.get("sts")),
        endpoint_cloudwatch: opt_string(ep.get("cloudwatch")),
        max_retries: config
            .get("max_retries")
            .as_i64()
            .map(|n| n.clamp(0, 100) as u32)
            .unwrap_or(DEFAULT_MAX_RETRIES),
    }
}
