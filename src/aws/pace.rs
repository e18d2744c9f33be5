//! Client-side pacing: a token bucket per AWS API family that delays a request before it is
//! sent, so the account's own buckets are rarely emptied and SDK retries are not used up.
//!
//! AWS throttles per account and region with token buckets (a burst capacity, a refill rate per
//! second). A plan of hundreds of deployments sends its reads as fast as Terraform asks; once
//! AWS throttles, every SDK retry takes from the SDK's retry quota and a plan can fail. Here each
//! HTTP attempt (the first one, each retry, and every merged call of src/aws/reads, which are
//! SDK calls too) first takes a token from its family's bucket, waiting when there is none. The
//! buckets are sized below AWS's documented ones, so other tools in the account keep headroom:
//!
//! | family | AWS bucket (burst / refill per s) | ecsx (burst / refill per s) |
//! |---|---|---|
//! | each ECS action | 50 / 20 (ECS "Request throttling": the page's example for cluster reads; the refill is our reading) | 40 / 16 |
//! | ELBv2 Describe* (shared) | 40 / 10 (ELB "API throttling": non-mutating actions share one bucket) | 30 / 8 |
//! | other ELBv2 actions (shared) | smaller, per mutating action | 15 / 4 |
//! | CloudWatch DescribeAlarms | 9 per s (CloudWatch service quotas) | 8 / 7 |
//! | CloudWatch GetMetricData | 50 per s (CloudWatch service quotas) | 20 / 16 |
//!
//! `ECSX_RATE_LIMIT` sets it: `off` (or `0`, `false`, `no`) sends every request at once, unpaced; a number
//! scales every burst and refill (`0.5` for an account other tools already keep busy, `4` for
//! raised quotas); unset or `1` is the table above. The buckets belong to one provider process,
//! which is one Terraform run: two runs at once in one account each pace themselves.
//!
//! The wait happens inside the attempt, so it counts toward `ECSX_ATTEMPT_TIMEOUT` (30 s). With
//! Terraform's ten concurrent operations the queue in front of a bucket stays short: ten
//! requests wait at most 10 / 16 s for an ECS action.

use crate::log;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Burst and refill of one bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: f64,
    pub per_second: f64,
}

const ECS_ACTION: Rate = Rate {
    burst: 40.0,
    per_second: 16.0,
};
const ELBV2_DESCRIBE: Rate = Rate {
    burst: 30.0,
    per_second: 8.0,
};
const ELBV2_OTHER: Rate = Rate {
    burst: 15.0,
    per_second: 4.0,
};
const CLOUDWATCH_ALARMS: Rate = Rate {
    burst: 8.0,
    per_second: 7.0,
};
const CLOUDWATCH_METRIC_DATA: Rate = Rate {
    burst: 20.0,
    per_second: 16.0,
};

/// The bucket a call takes its token from (its key, shared by the calls of one family) and its
/// size; None: not paced (STS, and anything this table does not know).
pub fn family(operation: &str) -> Option<(String, Rate)> {
    let (service, action) = operation.split_once('.')?;
    match service {
        "ecs" => Some((operation.to_string(), ECS_ACTION)),
        "elbv2" if action.starts_with("Describe") => {
            Some(("elbv2.Describe*".to_string(), ELBV2_DESCRIBE))
        }
        "elbv2" => Some(("elbv2.*".to_string(), ELBV2_OTHER)),
        "cloudwatch" if action == "GetMetricData" => {
            Some((operation.to_string(), CLOUDWATCH_METRIC_DATA))
        }
        "cloudwatch" => Some((operation.to_string(), CLOUDWATCH_ALARMS)),
        _ => None,
    }
}

/// A token bucket that hands out departure times: a caller that finds no token reserves the
/// next one and waits for it, so waiting callers leave in order and never spin.
#[derive(Debug)]
struct Bucket {
    rate: Rate,
    /// Below zero: that many callers are already waiting for tokens not yet refilled.
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: Rate, now: Instant) -> Bucket {
        Bucket {
            rate,
            tokens: rate.burst,
            at: now,
        }
    }

    /// Takes one token; how long the caller must wait before it may send.
    fn reserve(&mut self, now: Instant) -> Duration {
        let refilled = now.saturating_duration_since(self.at).as_secs_f64() * self.rate.per_second;
        self.tokens = (self.tokens + refilled).min(self.rate.burst);
        self.at = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate.per_second)
        }
    }
}

/// The buckets of one provider process.
#[derive(Debug)]
pub struct Limiter {
    scale: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    /// `scale` multiplies every burst and refill; it must be above zero.
    pub fn new(scale: f64) -> Limiter {
        Limiter {
            scale,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// From `ECSX_RATE_LIMIT`; None when pacing is off.
    pub fn from_env() -> Option<Arc<Limiter>> {
        scale_from(std::env::var("ECSX_RATE_LIMIT").ok().as_deref())
            .map(|s| Arc::new(Limiter::new(s)))
    }

    /// Waits until `operation` (e.g. `ecs.DescribeServices`) may be sent; returns the wait.
    pub async fn acquire(&self, operation: &str) -> Duration {
        let Some((key, rate)) = family(operation) else {
            return Duration::ZERO;
        };
        let wait = {
            let now = Instant::now();
            let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            let scaled = Rate {
                burst: (rate.burst * self.scale).max(1.0),
                per_second: rate.per_second * self.scale,
            };
            buckets
                .entry(key)
                .or_insert_with(|| Bucket::new(scaled, now))
                .reserve(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
    }
}

/// `off`/`0`/`false`/`no`: None; a positive number: that scale; anything else: 1.
pub fn scale_from(value: Option<&str>) -> Option<f64> {
    let Some(v) = value.map(|v| v.trim().to_ascii_lowercase()) else {
        return Some(1.0);
    };
    if matches!(v.as_str(), "off" | "0" | "false" | "no") {
        return None;
    }
    Some(
        v.parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(1.0),
    )
}

/// The operation of a request, put on it by [`TagOperation`] for [`PacedClient`].
#[derive(Debug, Clone)]
struct Operation(String);

/// Tags each request with its operation; headers and body stay as they are.
#[derive(Debug)]
pub(crate) struct TagOperation;

impl Intercept for TagOperation {
    fn name(&self) -> &'static str {
        "ecsx.TagOperation"
    }

    fn modify_before_transmit(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            ctx.request_mut()
                .add_extension(Operation(super::logging::short_operation(m)));
        }
        Ok(())
    }
}

/// The SDK's HTTP client, with every request paced by the [`Limiter`] first.
#[derive(Debug, Clone)]
pub(crate) struct PacedClient {
    inner: SharedHttpClient,
    limiter: Arc<Limiter>,
}

impl PacedClient {
    pub(crate) fn new(inner: SharedHttpClient, limiter: Arc<Limiter>) -> PacedClient {
        PacedClient { inner, limiter }
    }
}

impl HttpClient for PacedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            limiter: self.limiter.clone(),
        })
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.inner.connector_metadata()
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    limiter: Arc<Limiter>,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let (inner, limiter) = (self.inner.clone(), self.limiter.clone());
        HttpConnectorFuture::new(async move {
            if let Some(Operation(op)) = request.extension::<Operation>().cloned() {
                let waited = limiter.acquire(&op).await;
                if !waited.is_zero() && log::enabled(log::Level::Debug) {
                    log::debug(
                        "aws paced",
                        &[
                            ("operation", json!(op)),
                            ("waited_ms", json!(waited.as_millis() as u64)),
                        ],
                    );
                }
            }
            inner.call(request).await
        })
    }
}

/// The HTTPS client the SDK would build itself (hyper, rustls with aws-lc, the proxy settings
/// of the environment), for [`PacedClient`] to wrap.
pub(crate) fn default_https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::{tls, Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut conn = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        conn.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            conn.set_sleep_impl(components.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_follow_the_aws_buckets() {
        let key = |op| family(op).map(|(k, _)| k);
        assert_eq!(
            key("ecs.DescribeServices").as_deref(),
            Some("ecs.DescribeServices")
        );
        assert_eq!(
            key("ecs.DescribeTaskSets").as_deref(),
            Some("ecs.DescribeTaskSets")
        );
        assert_eq!(
            key("elbv2.DescribeRules").as_deref(),
            Some("elbv2.Describe*")
        );
        assert_eq!(
            key("elbv2.DescribeListeners").as_deref(),
            Some("elbv2.Describe*")
        );
        assert_eq!(key("elbv2.ModifyRule").as_deref(), Some("elbv2.*"));
        assert_eq!(key("sts.AssumeRole"), None);
        assert_eq!(key("nonsense"), None);
        // Every paced family stays below the AWS bucket the proxy's `--limits aws` models.
        for (op, aws) in [
            ("ecs.DescribeServices", (50.0, 20.0)),
            ("elbv2.DescribeRules", (40.0, 10.0)),
            ("elbv2.ModifyRule", (20.0, 5.0)),
            ("cloudwatch.DescribeAlarms", (9.0, 9.0)),
            ("cloudwatch.GetMetricData", (50.0, 50.0)),
        ] {
            let (_, r) = family(op).unwrap();
            assert!(r.burst < aws.0 && r.per_second < aws.1, "{op}");
        }
    }

    #[test]
    fn the_setting_switches_and_scales() {
        assert_eq!(scale_from(None), Some(1.0));
        assert_eq!(scale_from(Some("off")), None);
        assert_eq!(scale_from(Some("0")), None);
        assert_eq!(scale_from(Some(" FALSE ")), None);
        assert_eq!(scale_from(Some("0.5")), Some(0.5));
        assert_eq!(scale_from(Some("4")), Some(4.0));
        assert_eq!(scale_from(Some("-2")), Some(1.0));
        assert_eq!(scale_from(Some("fast")), Some(1.0));
    }

    /// Within `ms` after `expected`: tokio's timer ends a sleep on a whole millisecond.
    fn about(d: Duration, expected: Duration, ms: u64) -> bool {
        d >= expected && d <= expected + Duration::from_millis(ms)
    }

    /// The clock is paused: time moves only when every task sleeps, so no figure here depends
    /// on how fast the machine is.
    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_then_the_refill_paces_in_order() {
        let limiter = Limiter::new(1.0);
        let start = Instant::now();
        // ECS: 40 at once, then one every 1/16 s.
        for _ in 0..40 {
            assert_eq!(
                limiter.acquire("ecs.DescribeTaskSets").await,
                Duration::ZERO
            );
        }
        assert_eq!(Instant::now(), start);
        let waited = limiter.acquire("ecs.DescribeTaskSets").await;
        assert_eq!(waited, Duration::from_secs_f64(1.0 / 16.0));
        for _ in 0..15 {
            limiter.acquire("ecs.DescribeTaskSets").await;
        }
        assert!(about(Instant::now() - start, Duration::from_secs(1), 20));
        // Another ECS action has its own bucket, still full.
        assert_eq!(
            limiter.acquire("ecs.DescribeServices").await,
            Duration::ZERO
        );
        // Unpaced operations never wait.
        assert_eq!(limiter.acquire("sts.AssumeRole").await, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_queue_for_a_shared_bucket() {
        let limiter = Arc::new(Limiter::new(1.0));
        let start = Instant::now();
        // ELBv2 Describe*: 30 at once for listeners and rules together, then 8 per second.
        let mut calls = Vec::new();
        for i in 0..46 {
            let l = limiter.clone();
            let op = if i % 2 == 0 {
                "elbv2.DescribeRules"
            } else {
                "elbv2.DescribeListeners"
            };
            calls.push(tokio::spawn(async move {
                l.acquire(op).await;
                Instant::now() - start
            }));
        }
        let mut sent = Vec::new();
        for c in calls {
            sent.push(c.await.unwrap());
        }
        sent.sort();
        assert_eq!(sent.iter().filter(|d| d.is_zero()).count(), 30);
        assert_eq!(*sent.last().unwrap(), Duration::from_secs(2));
        // After a quiet spell the bucket is full again, and never fuller.
        tokio::time::sleep(Duration::from_secs(60)).await;
        for _ in 0..30 {
            assert_eq!(limiter.acquire("elbv2.DescribeRules").await, Duration::ZERO);
        }
        assert!(limiter.acquire("elbv2.DescribeRules").await > Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn the_scale_multiplies_burst_and_refill() {
        let limiter = Limiter::new(0.5);
        for _ in 0..20 {
            assert_eq!(limiter.acquire("ecs.UpdateTaskSet").await, Duration::ZERO);
        }
        assert_eq!(
            limiter.acquire("ecs.UpdateTaskSet").await,
            Duration::from_secs_f64(1.0 / 8.0)
        );
    }

    /// The HTTP layer under the SDK: answers every request with an empty JSON object and
    /// records the operation each request was tagged with.
    #[derive(Debug, Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Option<String>>>>);

    impl HttpClient for Recorder {
        fn http_connector(
            &self,
            _: &HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            SharedHttpConnector::new(self.clone())
        }
    }

    impl HttpConnector for Recorder {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let op = request.extension::<Operation>().map(|o| o.0.clone());
            self.0.lock().unwrap().push(op);
            let ok = aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(200).unwrap(),
                aws_smithy_types::body::SdkBody::from("{}"),
            );
            HttpConnectorFuture::ready(Ok(ok))
        }
    }

    /// SDK calls reach the limiter with their operation, so coalesced calls (SDK calls too) are
    /// paced like any other.
    #[tokio::test(start_paused = true)]
    async fn sdk_calls_are_tagged_and_paced() {
        let seen = Recorder::default();
        let conf = aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ecs::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .interceptor(TagOperation)
            .http_client(PacedClient::new(
                SharedHttpClient::new(seen.clone()),
                Arc::new(Limiter::new(1.0)),
            ))
            .build();
        let ecs = aws_sdk_ecs::Client::from_conf(conf);
        let start = Instant::now();
        for _ in 0..42 {
            ecs.describe_services()
                .cluster("c")
                .services("s")
                .send()
                .await
                .unwrap();
        }
        let seen = seen.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 42);
        assert!(seen
            .iter()
            .all(|op| op.as_deref() == Some("ecs.DescribeServices")));
        // 40 from the burst, two more at 1/16 s each.
        assert!(about(
            Instant::now() - start,
            Duration::from_millis(125),
            20
        ));
    }
}
