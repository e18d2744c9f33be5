//! Coalesced reads: concurrent Describe calls of one provider process merged into one call.
//!
//! Terraform sends up to ten ReadResource / PlanResourceChange calls at once to one provider
//! process. DescribeServices takes up to ten services of one cluster, DescribeListeners and
//! DescribeRules many ARNs, so requests that arrive within a short window of each other (15 ms
//! by default, `ECSX_COALESCE_WINDOW`, and at most four windows in all; `ECSX_COALESCE=off`
//! turns merging off) share one call. Each caller
//! gets exactly its own answer: a service reported MISSING, or an ARN not in the answer, fails
//! only the caller that asked for it. ELBv2 refuses a whole call for one unknown ARN, so a
//! merged call that fails with not-found is asked again once per caller, with that caller's
//! ARNs alone. Any other error of a merged call goes to every caller it served.

use super::super::ecs::Service;
use super::super::elbv2::{Kind, Router};
use super::super::AwsError;
use crate::log;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// DescribeServices takes at most 10 services per call (ECS API reference).
pub const MAX_SERVICES: usize = 10;
/// ARNs per DescribeListeners / DescribeRules call. The API reference gives no maximum for
/// `ListenerArns` / `RuleArns` and pages answers at up to 400 items; 20 is DescribeLoadBalancers'
/// documented per-call maximum for the same API, and keeps every answer on one page.
pub const MAX_ROUTER_ARNS: usize = 20;
const DEFAULT_WINDOW: Duration = Duration::from_millis(15);
/// A batch that keeps being joined is sent at the latest this many windows after it opened.
const MAX_WINDOWS: u32 = 4;
/// How long a refresh's reads may stand in for the plan-time checks of the same plan.
pub const REUSE_TTL: Duration = Duration::from_secs(10);
/// How long a listener or rule one refresh read serves the refreshes of other deployments in
/// the same process (they name the same shared listeners and rules), while nothing was written.
pub const REFRESH_SHARE: Duration = Duration::from_secs(2);

/// One Describe operation the coalescer can merge: the fake in the tests, the SDK otherwise.
pub(crate) trait Describe: Send + Sync + 'static {
    /// What one call is scoped to (a cluster for DescribeServices; nothing for ELBv2).
    type Group: Clone + Eq + Hash + Send + Sync + std::fmt::Debug + 'static;
    type Item: Clone + Eq + Hash + Send + Sync + std::fmt::Display + 'static;
    type Found: Clone + Send + Sync + 'static;
    /// For the logs, e.g. `ecs.DescribeServices`.
    const OPERATION: &'static str;
    const MAX_ITEMS: usize;
    /// Whether one unknown item makes the API refuse the whole call (ELBv2), so a failed
    /// merged call is asked again per caller.
    const ONE_UNKNOWN_FAILS_ALL: bool;

    /// One API call for `items`; items the answer does not hold are missing.
    fn describe(
        &self,
        group: &Self::Group,
        items: &[Self::Item],
    ) -> impl Future<Output = Found<Self::Item, Self::Found>> + Send;

    /// The error a caller gets for an item the answer did not hold.
    fn missing(group: &Self::Group, item: &Self::Item) -> AwsError;
}

type Answer<B> = Result<Vec<<B as Describe>::Found>, AwsError>;
/// What one API call returned: each found item with its answer.
pub(crate) type Found<I, F> = Result<Vec<(I, F)>, AwsError>;

struct Waiter<B: Describe> {
    items: Vec<B::Item>,
    reply: oneshot::Sender<Answer<B>>,
}

struct Open<B: Describe> {
    id: u64,
    distinct: HashSet<B::Item>,
    waiters: Vec<Waiter<B>>,
    opened: tokio::time::Instant,
    last: tokio::time::Instant,
}

/// Merges concurrent requests for one operation into calls of up to `B::MAX_ITEMS` items.
pub(crate) struct Coalescer<B: Describe> {
    backend: Arc<B>,
    /// None: every request is its own call.
    window: Option<Duration>,
    open: Arc<Mutex<HashMap<B::Group, Open<B>>>>,
    next_id: AtomicU64,
}

impl<B: Describe> std::fmt::Debug for Coalescer<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer")
            .field("operation", &B::OPERATION)
            .field("window", &self.window)
            .finish()
    }
}

impl<B: Describe> Coalescer<B> {
    pub(crate) fn new(backend: B, window: Option<Duration>) -> Self {
        Coalescer {
            backend: Arc::new(backend),
            window,
            open: Arc::new(Mutex::new(HashMap::new())),
            next_id: AtomicU64::new(0),
        }
    }

    /// The answers for `items`, in their order; fails when any of them is missing.
    pub(crate) async fn get(&self, group: B::Group, items: Vec<B::Item>) -> Answer<B> {
        if items.is_empty() {
            return Ok(vec![]);
        }
        let Some(window) = self.window else {
            return own_answer::<B>(&group, &items, self.backend.describe(&group, &items).await);
        };
        let mut wanted: Vec<B::Item> = Vec::new();
        for i in &items {
            if !wanted.contains(i) {
                wanted.push(i.clone());
            }
        }
        if wanted.len() > B::MAX_ITEMS {
            // Larger than one call may be: on its own, unmerged.
            return own_answer::<B>(&group, &items, self.backend.describe(&group, &items).await);
        }
        let (tx, rx) = oneshot::channel();
        let mut send: Vec<Open<B>> = Vec::new();
        let mut started = None;
        {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            // A request that does not fit sends the open batch off and starts the next one.
            let fits = open.get(&group).is_none_or(|b| {
                b.distinct.union(&wanted.iter().cloned().collect()).count() <= B::MAX_ITEMS
            });
            if !fits {
                send.extend(open.remove(&group));
            }
            let now = tokio::time::Instant::now();
            let batch = open.entry(group.clone()).or_insert_with(|| {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                started = Some(id);
                Open {
                    id,
                    distinct: HashSet::new(),
                    waiters: Vec::new(),
                    opened: now,
                    last: now,
                }
            });
            batch.last = now;
            batch.distinct.extend(wanted.iter().cloned());
            batch.waiters.push(Waiter {
                items: items.clone(),
                reply: tx,
            });
            if batch.distinct.len() == B::MAX_ITEMS {
                send.extend(open.remove(&group));
                started = None;
            }
        }
        for b in send {
            tokio::spawn(run(self.backend.clone(), group.clone(), b.waiters));
        }
        if let Some(id) = started {
            // The first request of a batch sends it off once no request has joined it for a
            // window (requests of a refresh arrive a few milliseconds apart, as Terraform's
            // workers free up), and at the latest MAX_WINDOWS windows after it opened, unless
            // it filled up (and was sent) before.
            let (open, backend, group) = (self.open.clone(), self.backend.clone(), group.clone());
            tokio::spawn(async move {
                let mut nap = window;
                loop {
                    tokio::time::sleep(nap).await;
                    let due = {
                        let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
                        let Some(b) = open.get(&group).filter(|b| b.id == id) else {
                            return;
                        };
                        let close = (b.last + window).min(b.opened + window * MAX_WINDOWS);
                        let now = tokio::time::Instant::now();
                        if now < close {
                            nap = close - now;
                            None
                        } else {
                            open.remove(&group)
                        }
                    };
                    if let Some(b) = due {
                        run(backend, group, b.waiters).await;
                        return;
                    }
                }
            });
        }
        rx.await.unwrap_or_else(|_| {
            Err(AwsError::Unexpected(format!(
                "{} was cancelled",
                B::OPERATION
            )))
        })
    }
}

/// One merged call for every waiter of a batch; each gets its own answer.
async fn run<B: Describe>(backend: Arc<B>, group: B::Group, waiters: Vec<Waiter<B>>) {
    let mut items: Vec<B::Item> = Vec::new();
    for w in &waiters {
        for i in &w.items {
            if !items.contains(i) {
                items.push(i.clone());
            }
        }
    }
    if waiters.len() > 1 && log::enabled(log::Level::Debug) {
        log::debug(
            "aws coalesced read",
            &[
                ("operation", json!(B::OPERATION)),
                ("group", json!(format!("{group:?}"))),
                ("callers", json!(waiters.len())),
                (
                    "served",
                    json!(waiters
                        .iter()
                        .map(|w| w.items.iter().map(|i| i.to_string()).collect::<Vec<_>>())
                        .collect::<Vec<_>>()),
                ),
            ],
        );
    }
    let answer = backend.describe(&group, &items).await;
    match answer {
        Err(e) if e.is_not_found() && B::ONE_UNKNOWN_FAILS_ALL && waiters.len() > 1 => {
            // One caller's unknown ARN refused everybody's call: ask again per caller.
            for w in waiters {
                let own = backend.describe(&group, &w.items).await;
                let _ = w.reply.send(own_answer::<B>(&group, &w.items, own));
            }
        }
        Err(e) => {
            for w in waiters {
                let _ = w.reply.send(Err(e.clone()));
            }
        }
        Ok(found) => {
            let found: HashMap<B::Item, B::Found> = found.into_iter().collect();
            for w in waiters {
                let _ = w.reply.send(pick::<B>(&group, &w.items, &found));
            }
        }
    }
}

fn own_answer<B: Describe>(
    group: &B::Group,
    items: &[B::Item],
    answer: Found<B::Item, B::Found>,
) -> Answer<B> {
    let found: HashMap<B::Item, B::Found> = answer?.into_iter().collect();
    pick::<B>(group, items, &found)
}

fn pick<B: Describe>(
    group: &B::Group,
    items: &[B::Item],
    found: &HashMap<B::Item, B::Found>,
) -> Answer<B> {
    items
        .iter()
        .map(|i| found.get(i).cloned().ok_or_else(|| B::missing(group, i)))
        .collect()
}

/// DescribeServices for services of one cluster.
#[derive(Debug)]
pub(crate) struct DescribeServices(pub aws_sdk_ecs::Client);

impl Describe for DescribeServices {
    type Group = String;
    type Item = String;
    type Found = Service;
    const OPERATION: &'static str = "ecs.DescribeServices";
    const MAX_ITEMS: usize = MAX_SERVICES;
    const ONE_UNKNOWN_FAILS_ALL: bool = false;

    async fn describe(
        &self,
        cluster: &String,
        services: &[String],
    ) -> Result<Vec<(String, Service)>, AwsError> {
        let out = self
            .0
            .describe_services()
            .cluster(cluster)
            .set_services(Some(services.to_vec()))
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    "DescribeServices",
                    e,
                    &["ClusterNotFoundException"],
                    "cluster",
                    cluster,
                )
            })?;
        // Answers name services by ARN; a caller may have asked by name or by ARN.
        let mut found = Vec::new();
        for s in out.services() {
            let svc = Service::from_sdk(s);
            for asked in services {
                if *asked == svc.name || *asked == svc.arn {
                    found.push((asked.clone(), svc.clone()));
                }
            }
        }
        Ok(found)
    }

    fn missing(cluster: &String, service: &String) -> AwsError {
        AwsError::NotFound {
            what: "service",
            id: format!("{service} in cluster {cluster}"),
        }
    }
}

/// DescribeListeners or DescribeRules for listener or rule ARNs.
#[derive(Debug)]
pub(crate) struct DescribeRouters(pub aws_sdk_elasticloadbalancingv2::Client, pub Kind);

impl Describe for DescribeRouters {
    type Group = ();
    type Item = String;
    type Found = Router;
    const OPERATION: &'static str = "elbv2.DescribeListeners/DescribeRules";
    const MAX_ITEMS: usize = MAX_ROUTER_ARNS;
    const ONE_UNKNOWN_FAILS_ALL: bool = true;

    async fn describe(&self, _: &(), arns: &[String]) -> Result<Vec<(String, Router)>, AwsError> {
        let found = match self.1 {
            Kind::Listener => super::super::elbv2::find_listeners(&self.0, arns).await?,
            Kind::Rule => super::super::elbv2::find_rules(&self.0, arns).await?,
        };
        Ok(found.into_iter().map(|r| (r.arn.clone(), r)).collect())
    }

    fn missing(_: &(), arn: &String) -> AwsError {
        AwsError::NotFound {
            what: "listener or rule",
            id: arn.clone(),
        }
    }
}

/// Whether reads are merged, and within which window: `ECSX_COALESCE=off` (or `0`, `false`)
/// turns merging off; `ECSX_COALESCE_WINDOW` (a duration such as `5ms`) sets the window.
pub fn window_from(coalesce: Option<&str>, window: Option<&str>) -> Option<Duration> {
    if matches!(
        coalesce.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("off" | "0" | "false" | "no")
    ) {
        return None;
    }
    Some(
        window
            .and_then(crate::duration::parse)
            .unwrap_or(DEFAULT_WINDOW),
    )
}

#[cfg(test)]
mod tests;
