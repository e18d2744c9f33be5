//! An SDK interceptor that logs every AWS call: operation, target, duration, attempts, request id.

use crate::log;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde_json::{json, Value as Json};
use std::time::Instant;

#[derive(Debug)]
pub(crate) struct CallLog;

#[derive(Debug, Clone)]
struct Started(Instant);
impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Clone)]
struct Attempts(u32);
impl Storable for Attempts {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Clone)]
struct Target(Json);
impl Storable for Target {
    type Storer = StoreReplace<Self>;
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "ecsx.CallLog"
    }

    fn read_before_execution(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        cfg.interceptor_state().store_put(Attempts(0));
        Ok(())
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let n = cfg.load::<Attempts>().map(|a| a.0).unwrap_or(0) + 1;
        cfg.interceptor_state().store_put(Attempts(n));
        if n == 1 {
            if let Some(body) = ctx.request().body().bytes() {
                cfg.interceptor_state().store_put(Target(target_of(body)));
            }
        }
        if n > 1 && log::enabled(log::Level::Debug) {
            log::debug(
                "aws retry",
                &[("operation", json!(operation(cfg))), ("attempt", json!(n))],
            );
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if !log::enabled(log::Level::Debug) {
            return Ok(());
        }
        let millis = cfg
            .load::<Started>()
            .map(|s| s.0.elapsed().as_millis() as u64)
            .unwrap_or(0);
        let attempts = cfg.load::<Attempts>().map(|a| a.0).unwrap_or(0);
        let mut fields = vec![
            ("operation", json!(operation(cfg))),
            ("duration_ms", json!(millis)),
            ("attempts", json!(attempts)),
            ("retries", json!(attempts.saturating_sub(1))),
        ];
        if let Some(t) = cfg.load::<Target>() {
            fields.push(("target", t.0.clone()));
        }
        if let Some(resp) = ctx.response() {
            fields.push(("http_status", json!(resp.status().as_u16())));
            let id = resp
                .headers()
                .get("x-amzn-requestid")
                .or_else(|| resp.headers().get("x-amz-request-id"));
            if let Some(id) = id {
                fields.push(("request_id", json!(id)));
            }
        }
        let ok = matches!(ctx.output_or_error(), Some(Ok(_)));
        fields.push(("outcome", json!(if ok { "ok" } else { "error" })));
        log::debug("aws call", &fields);
        Ok(())
    }
}

fn operation(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map(short_operation)
        .unwrap_or_default()
}

/// Short service names, as in `ecs.CreateTaskSet` / `elbv2.ModifyRule`.
pub(crate) fn short_operation(m: &Metadata) -> String {
    let service = match m.service() {
        "Elastic Load Balancing v2" => "elbv2".to_string(),
        other => other.to_ascii_lowercase(),
    };
    format!("{service}.{}", m.name())
}

/// The ids a request names: cluster/service/task set for ECS (JSON body),
/// rule and listener ARNs for ELBv2 (form body). Request bodies of these APIs carry no secrets.
fn target_of(body: &[u8]) -> Json {
    const ECS_KEYS: [&str; 7] = [
        "cluster",
        "service",
        "services",
        "taskSet",
        "taskSets",
        "primaryTaskSet",
        "taskDefinition",
    ];
    if let Ok(Json::Object(m)) = serde_json::from_slice::<Json>(body) {
        let picked: serde_json::Map<String, Json> = m
            .into_iter()
            .filter(|(k, _)| ECS_KEYS.contains(&k.as_str()))
            .collect();
        return Json::Object(picked);
    }
    let text = String::from_utf8_lossy(body);
    let picked: serde_json::Map<String, Json> = text
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| {
            k.starts_with("RuleArn")
                || k.starts_with("ListenerArn")
                || k.starts_with("TargetGroupArn")
        })
        .map(|(k, v)| (k.to_string(), json!(percent_decode(v))))
        .collect();
    Json::Object(picked)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() && s.is_char_boundary(i + 3) => {
                match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecs_targets_come_from_json() {
        let t = target_of(br#"{"cluster":"prod","service":"web","scale":{"value":10}}"#);
        assert_eq!(t, json!({"cluster": "prod", "service": "web"}));
    }

    #[test]
    fn elbv2_targets_come_from_form() {
        let t = target_of(b"Action=ModifyRule&RuleArn=arn%3Aaws%3Aelb%2Fx&Version=2015-12-01");
        assert_eq!(t, json!({"RuleArn": "arn:aws:elb/x"}));
    }

    #[test]
    fn percent_decode_handles_edges() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%41b"), "Ab");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
