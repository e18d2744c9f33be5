//! Coalesced reads: concurrent Describe calls of one provider process merged into one call,
//! and the reads of a refresh kept for a moment so the plan right after it need not repeat them.
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

use super::ecs::Service;
use super::elbv2::{Kind, Router};
use super::AwsError;
use crate::log;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
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
            // Larger than one call may be: on its own, as before coalescing.
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
            Kind::Listener => super::elbv2::find_listeners(&self.0, arns).await?,
            Kind::Rule => super::elbv2::find_rules(&self.0, arns).await?,
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

/// What a refresh read moments ago, for the plan-time checks of the same plan.
#[derive(Debug, Default)]
struct Recent {
    services: HashMap<(String, String), (Instant, Service)>,
    routers: HashMap<String, (Instant, Router)>,
}

/// Listeners and rules refreshes read, with when and at which count of router writes
/// ([`super::elbv2::router_writes`]): a refresh of another deployment takes them while they are
/// younger than the share time and no write has begun since.
#[derive(Debug, Default)]
struct RouterShare {
    read: HashMap<String, (Instant, u64, Router)>,
}

impl RouterShare {
    fn get(
        &self,
        arns: &[String],
        writes: u64,
        now: Instant,
        ttl: Duration,
    ) -> Option<Vec<Router>> {
        arns.iter()
            .map(|a| {
                self.read
                    .get(a)
                    .filter(|(at, w, _)| *w == writes && now.saturating_duration_since(*at) < ttl)
                    .map(|(_, _, r)| r.clone())
            })
            .collect()
    }

    fn put(&mut self, routers: &[Router], writes: u64, now: Instant, ttl: Duration) {
        self.read
            .retain(|_, (at, w, _)| *w == writes && now.saturating_duration_since(*at) < ttl);
        for r in routers {
            self.read.insert(r.arn.clone(), (now, writes, r.clone()));
        }
    }
}

/// Within an apply, how old a read of listeners and rules (with no router write begun since)
/// or of a service may be to stand in for a new one: the re-plan Terraform runs right before
/// each apply, and the read-back that ends one shift before the next, are that recent.
pub const JUST_READ: Duration = Duration::from_secs(1);

/// What this process read last, for [`Reads::routers_just_read`] and [`Reads::service_just_read`].
#[derive(Debug, Default)]
struct JustRead {
    routers: RouterShare,
    services: HashMap<(String, String), (Instant, Service)>,
}

/// The coalesced reads of one provider process and what its refreshes saw.
#[derive(Debug)]
pub struct Reads {
    services: Coalescer<DescribeServices>,
    listeners: Coalescer<DescribeRouters>,
    rules: Coalescer<DescribeRouters>,
    recent: Mutex<Recent>,
    ttl: Duration,
    /// None with coalescing off: every refresh reads its own routers, as before.
    share: Option<Mutex<RouterShare>>,
    /// None with coalescing off: every check reads afresh, as before.
    just_read: Option<Mutex<JustRead>>,
}

impl Reads {
    pub fn new(
        ecs: aws_sdk_ecs::Client,
        elbv2: aws_sdk_elasticloadbalancingv2::Client,
        window: Option<Duration>,
    ) -> Reads {
        Reads {
            services: Coalescer::new(DescribeServices(ecs), window),
            listeners: Coalescer::new(DescribeRouters(elbv2.clone(), Kind::Listener), window),
            rules: Coalescer::new(DescribeRouters(elbv2, Kind::Rule), window),
            recent: Mutex::new(Recent::default()),
            ttl: REUSE_TTL,
            share: window.map(|_| Mutex::new(RouterShare::default())),
            just_read: window.map(|_| Mutex::new(JustRead::default())),
        }
    }

    /// With the settings `ECSX_COALESCE` / `ECSX_COALESCE_WINDOW` give.
    pub fn from_env(
        ecs: aws_sdk_ecs::Client,
        elbv2: aws_sdk_elasticloadbalancingv2::Client,
    ) -> Reads {
        let env = |k| std::env::var(k).ok();
        Reads::new(
            ecs,
            elbv2,
            window_from(
                env("ECSX_COALESCE").as_deref(),
                env("ECSX_COALESCE_WINDOW").as_deref(),
            ),
        )
    }

    /// One service, read together with concurrent requests for services of the same cluster.
    /// MISSING is `NotFound`, as with [`super::ecs::find_service`].
    pub async fn service(&self, cluster: &str, service: &str) -> Result<Service, AwsError> {
        let mut one = self
            .services
            .get(cluster.to_string(), vec![service.to_string()])
            .await?;
        one.pop()
            .ok_or_else(|| DescribeServices::missing(&cluster.to_string(), &service.to_string()))
    }

    /// Listeners, read together with concurrent requests; an unknown ARN fails this request
    /// with `NotFound` as an uncoalesced DescribeListeners would.
    pub async fn listeners(&self, arns: &[String]) -> Result<Vec<Router>, AwsError> {
        self.listeners.get((), arns.to_vec()).await
    }

    pub async fn rules(&self, arns: &[String]) -> Result<Vec<Router>, AwsError> {
        self.rules.get((), arns.to_vec()).await
    }

    /// [`Reads::listeners`] for a refresh: what another refresh of this process read less than
    /// [`REFRESH_SHARE`] ago, when no router write has begun since; else read (and share) now.
    /// Only Read uses it: checks before a write and read-backs read afresh.
    pub async fn refresh_listeners(&self, arns: &[String]) -> Result<Vec<Router>, AwsError> {
        self.refresh_routers(&self.listeners, arns).await
    }

    pub async fn refresh_rules(&self, arns: &[String]) -> Result<Vec<Router>, AwsError> {
        self.refresh_routers(&self.rules, arns).await
    }

    async fn refresh_routers(
        &self,
        kind: &Coalescer<DescribeRouters>,
        arns: &[String],
    ) -> Result<Vec<Router>, AwsError> {
        let Some(share) = &self.share else {
            return kind.get((), arns.to_vec()).await;
        };
        if arns.is_empty() {
            return Ok(vec![]);
        }
        let writes = super::elbv2::router_writes();
        let lock = || share.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = lock().get(arns, writes, Instant::now(), REFRESH_SHARE) {
            return Ok(hit);
        }
        let found = kind.get((), arns.to_vec()).await?;
        // A write that began while this read was out may or may not show in it: not shared.
        if super::elbv2::router_writes() == writes {
            lock().put(&found, writes, Instant::now(), REFRESH_SHARE);
        }
        Ok(found)
    }

    /// Keeps what a refresh read, for [`Reads::recent_service`] and [`Reads::recent_routers`].
    pub fn remember(&self, cluster: &str, service: &Service, routers: &[Router]) {
        let now = Instant::now();
        let mut r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let ttl = self.ttl;
        r.services.retain(|_, (at, _)| at.elapsed() < ttl);
        r.routers.retain(|_, (at, _)| at.elapsed() < ttl);
        r.services.insert(
            (cluster.to_string(), service.name.clone()),
            (now, service.clone()),
        );
        for x in routers {
            r.routers.insert(x.arn.clone(), (now, x.clone()));
        }
    }

    /// Records a read of listeners and rules that began when [`super::elbv2::router_writes`]
    /// was `writes`.
    pub fn note_routers(&self, routers: &[Router], writes: u64) {
        if let Some(j) = &self.just_read {
            let mut j = j.lock().unwrap_or_else(|p| p.into_inner());
            j.routers.put(routers, writes, Instant::now(), JUST_READ);
        }
    }

    /// Every one of `arns` as this process read it less than [`JUST_READ`] ago, if no router
    /// write has begun since; None otherwise. Not taken out: within an apply, the read-back
    /// of one shift serves as the check before the next.
    pub fn routers_just_read(&self, arns: &[String]) -> Option<Vec<Router>> {
        let j = self.just_read.as_ref()?;
        let j = j.lock().unwrap_or_else(|p| p.into_inner());
        let writes = super::elbv2::router_writes();
        j.routers.get(arns, writes, Instant::now(), JUST_READ)
    }

    /// Whether reads are saved beyond merging: with coalescing off, a refresh also reads every
    /// task set's tags (DescribeTaskSets) as it did before tag-less refreshes, and every check
    /// reads afresh, so that `ECSX_COALESCE=off` reads the way the provider did before any of
    /// it (the scale bench's comparison, and a way back should a saving ever be in doubt).
    pub fn saves_reads(&self) -> bool {
        self.just_read.is_some()
    }

    /// Records a read of a service (the plan-time check of Terraform's re-plan before apply).
    pub fn note_service(&self, cluster: &str, service: &Service) {
        if let Some(j) = &self.just_read {
            let mut j = j.lock().unwrap_or_else(|p| p.into_inner());
            j.services.retain(|_, (at, _)| at.elapsed() < JUST_READ);
            j.services.insert(
                (cluster.to_string(), service.name.clone()),
                (Instant::now(), service.clone()),
            );
        }
    }

    /// The service as this process read it less than [`JUST_READ`] ago, taken out: for the
    /// start of an apply, before it writes anything.
    pub fn service_just_read(&self, cluster: &str, service: &str) -> Option<Service> {
        let j = self.just_read.as_ref()?;
        let mut j = j.lock().unwrap_or_else(|p| p.into_inner());
        let (at, svc) = j
            .services
            .remove(&(cluster.to_string(), service.to_string()))?;
        (at.elapsed() < JUST_READ).then_some(svc)
    }

    /// The service as a refresh of this process read it less than the TTL ago, taken out so
    /// it stands in for one read only. For plan-time checks; never before a write.
    pub fn recent_service(&self, cluster: &str, service: &str) -> Option<Service> {
        let mut r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let key = (cluster.to_string(), service.to_string());
        let (at, svc) = r.services.remove(&key)?;
        (at.elapsed() < self.ttl).then_some(svc)
    }

    /// Every one of `arns` as a refresh of this process read it less than the TTL ago, or None
    /// when any is not at hand. For plan-time checks; never before a write.
    pub fn recent_routers(&self, arns: &[String]) -> Option<Vec<Router>> {
        let mut r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = arns.iter().all(|a| {
            r.routers
                .get(a)
                .is_some_and(|(at, _)| at.elapsed() < self.ttl)
        });
        if !fresh {
            return None;
        }
        Some(
            arns.iter()
                .filter_map(|a| r.routers.remove(a).map(|(_, x)| x))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A fake Describe: knows `known`, records each call's items, and behaves like ELBv2
    /// (refuses the whole call for one unknown item) when `strict`.
    #[derive(Default)]
    struct Fake {
        known: Vec<String>,
        strict: bool,
        fail_with: Option<AwsError>,
        calls: Mutex<Vec<Vec<String>>>,
        delay: Duration,
    }

    #[derive(Default)]
    struct FakeOp(Arc<Fake>);

    impl Describe for FakeOp {
        type Group = String;
        type Item = String;
        type Found = String;
        const OPERATION: &'static str = "fake.Describe";
        const MAX_ITEMS: usize = 4;
        const ONE_UNKNOWN_FAILS_ALL: bool = true;

        async fn describe(
            &self,
            _: &String,
            items: &[String],
        ) -> Result<Vec<(String, String)>, AwsError> {
            let f = &self.0;
            f.calls.lock().unwrap().push(items.to_vec());
            tokio::time::sleep(f.delay).await;
            if let Some(e) = &f.fail_with {
                return Err(e.clone());
            }
            if f.strict && items.iter().any(|i| !f.known.contains(i)) {
                return Err(AwsError::NotFound {
                    what: "rule",
                    id: items.join(", "),
                });
            }
            Ok(items
                .iter()
                .filter(|i| f.known.contains(i))
                .map(|i| (i.clone(), format!("answer for {i}")))
                .collect())
        }

        fn missing(_: &String, item: &String) -> AwsError {
            AwsError::NotFound {
                what: "item",
                id: item.clone(),
            }
        }
    }

    fn fake(known: &[&str], strict: bool) -> Arc<Fake> {
        Arc::new(Fake {
            known: known.iter().map(|s| s.to_string()).collect(),
            strict,
            ..Fake::default()
        })
    }

    fn coalescer(f: &Arc<Fake>, window_ms: Option<u64>) -> Arc<Coalescer<FakeOp>> {
        Arc::new(Coalescer::new(
            FakeOp(f.clone()),
            window_ms.map(Duration::from_millis),
        ))
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Starts one request per entry at once; returns their answers in order.
    async fn concurrently(
        c: &Arc<Coalescer<FakeOp>>,
        group: &str,
        requests: &[&[&str]],
    ) -> Vec<Answer<FakeOp>> {
        let handles: Vec<_> = requests
            .iter()
            .map(|r| {
                let (c, g, items) = (c.clone(), group.to_string(), strings(r));
                tokio::spawn(async move { c.get(g, items).await })
            })
            .collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn concurrent_requests_share_one_call_and_get_their_own_answers() {
        let f = fake(&["a", "b", "c"], false);
        let c = coalescer(&f, Some(20));
        let got = concurrently(&c, "prod", &[&["a"], &["b", "c"], &["a"]]).await;
        assert_eq!(got[0], Ok(strings(&["answer for a"])));
        assert_eq!(got[1], Ok(strings(&["answer for b", "answer for c"])));
        assert_eq!(got[2], Ok(strings(&["answer for a"])));
        let calls = f.calls.lock().unwrap().clone();
        assert_eq!(
            calls,
            [strings(&["a", "b", "c"])],
            "one call, each item once"
        );
    }

    #[tokio::test]
    async fn a_full_batch_goes_at_once_and_the_next_one_starts() {
        let f = fake(&["a", "b", "c", "d", "e", "f"], false);
        // A window far longer than the test: only filling up sends the first batch.
        let c = coalescer(&f, Some(200));
        let started = Instant::now();
        let got = concurrently(&c, "prod", &[&["a", "b"], &["c", "d"], &["e", "f"]]).await;
        assert!(got.iter().all(Result::is_ok), "{got:?}");
        let calls = f.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert!(calls.iter().all(|c| c.len() <= FakeOp::MAX_ITEMS));
        assert!(calls.contains(&strings(&["a", "b", "c", "d"])), "{calls:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    /// Requests a few milliseconds apart keep a batch open; a quiet window or four windows in
    /// all send it. The clock is paused, so only the order of events matters.
    #[tokio::test(start_paused = true)]
    async fn a_stream_of_requests_joins_one_batch_until_quiet_or_four_windows() {
        let items: Vec<String> = (0..8).map(|i| format!("i{i}")).collect();
        let f = Arc::new(Fake {
            known: items.clone(),
            ..Fake::default()
        });
        let c = Arc::new(Coalescer::new(
            FakeOp(f.clone()),
            Some(Duration::from_millis(15)),
        ));
        let mut asks = Vec::new();
        // Three requests 10 ms apart (one batch); after 40 ms of quiet, two more 10 ms apart.
        for (i, at) in [0u64, 10, 20, 60, 70].into_iter().enumerate() {
            let (c, item) = (c.clone(), items[i].clone());
            asks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(at)).await;
                c.get("prod".into(), vec![item]).await
            }));
        }
        for a in asks {
            assert!(a.await.unwrap().is_ok());
        }
        let calls = f.calls.lock().unwrap().clone();
        assert_eq!(
            calls,
            [strings(&["i0", "i1", "i2"]), strings(&["i3", "i4"])],
            "{calls:?}"
        );
        // A stream that never goes quiet is cut after four windows (60 ms): the requests up
        // to 56 ms share the first call, the one at 70 ms starts the next.
        f.calls.lock().unwrap().clear();
        let mut asks = Vec::new();
        for (at, item) in [
            (0u64, "i4"),
            (14, "i4"),
            (28, "i5"),
            (42, "i5"),
            (56, "i6"),
            (70, "i6"),
        ] {
            let (c, item) = (c.clone(), item.to_string());
            asks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(at)).await;
                c.get("prod".into(), vec![item]).await
            }));
        }
        for a in asks {
            assert!(a.await.unwrap().is_ok());
        }
        let calls = f.calls.lock().unwrap().clone();
        assert_eq!(
            calls,
            [strings(&["i4", "i5", "i6"]), strings(&["i6"])],
            "{calls:?}"
        );
    }

    #[tokio::test]
    async fn groups_are_separate_calls() {
        let f = fake(&["a"], false);
        let c = coalescer(&f, Some(20));
        let (x, y) = tokio::join!(
            c.get("prod".into(), strings(&["a"])),
            c.get("test".into(), strings(&["a"]))
        );
        assert!(x.is_ok() && y.is_ok());
        assert_eq!(f.calls.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_missing_item_fails_only_its_caller() {
        // DescribeServices: the answer leaves the missing service out (failures: MISSING).
        let f = fake(&["a", "b"], false);
        let c = coalescer(&f, Some(20));
        let got = concurrently(&c, "prod", &[&["a"], &["gone"], &["b"]]).await;
        assert_eq!(got[0], Ok(strings(&["answer for a"])));
        assert_eq!(
            got[1],
            Err(AwsError::NotFound {
                what: "item",
                id: "gone".into()
            })
        );
        assert_eq!(got[2], Ok(strings(&["answer for b"])));
        assert_eq!(f.calls.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_unknown_arn_that_refuses_the_merged_call_fails_only_its_caller() {
        // ELBv2: one unknown ARN refuses the whole call; each caller is asked again alone.
        let f = fake(&["r1", "r2", "r3"], true);
        let c = coalescer(&f, Some(20));
        let got = concurrently(&c, "", &[&["r1"], &["r2", "nope"], &["r3"]]).await;
        assert_eq!(got[0], Ok(strings(&["answer for r1"])));
        assert!(matches!(&got[1], Err(e) if e.is_not_found()), "{got:?}");
        assert_eq!(got[2], Ok(strings(&["answer for r3"])));
        let calls = f.calls.lock().unwrap().clone();
        assert_eq!(
            calls.len(),
            4,
            "merged call, then one per caller: {calls:?}"
        );
        assert!(calls[1..].contains(&strings(&["r2", "nope"])));
    }

    #[tokio::test]
    async fn an_error_of_a_merged_call_reaches_every_caller() {
        let f = Arc::new(Fake {
            known: strings(&["a", "b"]),
            fail_with: Some(AwsError::Api {
                operation: "DescribeServices",
                code: "ThrottlingException".into(),
                message: "Rate exceeded".into(),
                request_id: None,
            }),
            ..Fake::default()
        });
        let c = coalescer(&f, Some(20));
        let got = concurrently(&c, "prod", &[&["a"], &["b"]]).await;
        for g in &got {
            assert!(
                matches!(g, Err(AwsError::Api { code, .. }) if code == "ThrottlingException"),
                "{got:?}"
            );
        }
        assert_eq!(f.calls.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn switched_off_every_request_is_its_own_call() {
        let f = fake(&["a", "b"], false);
        let c = coalescer(&f, None);
        let got = concurrently(&c, "prod", &[&["a"], &["b"], &["zzz"]]).await;
        assert!(got[0].is_ok() && got[1].is_ok() && got[2].is_err());
        assert_eq!(f.calls.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn many_concurrent_callers_each_get_their_answer() {
        let known: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
        let f = Arc::new(Fake {
            known: known.clone(),
            delay: Duration::from_millis(2),
            ..Fake::default()
        });
        let c = coalescer(&f, Some(5));
        let count = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = known
            .iter()
            .map(|k| {
                let (c, k, count) = (c.clone(), k.clone(), count.clone());
                tokio::spawn(async move {
                    let got = c.get("prod".into(), vec![k.clone()]).await;
                    assert_eq!(got, Ok(vec![format!("answer for {k}")]));
                    count.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(count.load(Ordering::Relaxed), 40);
        let calls = f.calls.lock().unwrap().len();
        assert!(
            calls <= 12,
            "40 requests in batches of 4 need 10 calls, made {calls}"
        );
    }

    #[test]
    fn the_switch_and_the_window_come_from_the_environment() {
        assert_eq!(window_from(None, None), Some(DEFAULT_WINDOW));
        assert_eq!(window_from(Some("off"), None), None);
        assert_eq!(window_from(Some("OFF"), Some("9ms")), None);
        assert_eq!(
            window_from(Some("on"), Some("9ms")),
            Some(Duration::from_millis(9))
        );
        assert_eq!(window_from(None, Some("soon")), Some(DEFAULT_WINDOW));
    }

    #[test]
    fn a_shared_router_read_serves_while_young_and_no_write_began() {
        use crate::aws::elbv2::tests_support::router;
        let t0 = Instant::now();
        let ttl = REFRESH_SHARE;
        let (a, b) = (
            router("arn:a", &[("tg1", 100)]),
            router("arn:b", &[("tg1", 100)]),
        );
        let mut share = RouterShare::default();
        share.put(&[a.clone(), b.clone()], 7, t0, ttl);
        let both = vec!["arn:a".to_string(), "arn:b".to_string()];
        let hit = share.get(&both, 7, t0 + ttl / 2, ttl).unwrap();
        assert_eq!(
            hit.iter().map(|r| r.arn.as_str()).collect::<Vec<_>>(),
            ["arn:a", "arn:b"]
        );
        // Too old, a write since, or one ARN not read: read again.
        assert!(share.get(&both, 7, t0 + ttl, ttl).is_none());
        assert!(share.get(&both, 8, t0, ttl).is_none());
        assert!(share
            .get(&["arn:a".to_string(), "arn:c".to_string()], 7, t0, ttl)
            .is_none());
        // A read after a write replaces what came before it.
        share.put(&[a], 8, t0, ttl);
        assert!(share.get(&["arn:b".to_string()], 8, t0, ttl).is_none());
        assert!(share.get(&["arn:a".to_string()], 8, t0, ttl).is_some());
    }
}
