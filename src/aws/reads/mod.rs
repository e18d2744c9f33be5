//! Reads this process shares: concurrent Describe calls merged into one call (`coalesce`),
//! and the reads of a refresh, a plan or a write kept for a moment so the next step need not
//! repeat them (`Reads`: 10 s for a plan after its refresh, 2 s between deployments of one
//! refresh, 1 s before a write, 10 s for the region's target groups that adoption lists).

mod coalesce;

pub use coalesce::{window_from, MAX_ROUTER_ARNS, MAX_SERVICES, REFRESH_SHARE, REUSE_TTL};
pub(crate) use coalesce::{Coalescer, Describe, DescribeRouters, DescribeServices};

use super::ecs::Service;
use super::elbv2::{Kind, Router, TargetGroup};
use super::AwsError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// A listing made once and shared for `ttl`: concurrent askers wait for the one in flight
/// (the lock is held across it), later ones take it until it is `ttl` old. A failed listing
/// is not kept.
#[derive(Debug)]
struct Shared<T> {
    ttl: Duration,
    slot: tokio::sync::Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T> Shared<T> {
    fn new(ttl: Duration) -> Shared<T> {
        Shared {
            ttl,
            slot: tokio::sync::Mutex::new(None),
        }
    }

    async fn get<F, Fut>(&self, list: F) -> Result<Arc<T>, AwsError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, AwsError>>,
    {
        let mut held = self.slot.lock().await;
        if let Some((at, listed)) = held.as_ref() {
            if at.elapsed() < self.ttl {
                return Ok(listed.clone());
            }
        }
        let listed = Arc::new(list().await?);
        *held = Some((Instant::now(), listed.clone()));
        Ok(listed)
    }
}

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
    /// None with coalescing off: every refresh reads its own routers.
    share: Option<Mutex<RouterShare>>,
    /// None with coalescing off: every check reads afresh.
    just_read: Option<Mutex<JustRead>>,
    elbv2: aws_sdk_elasticloadbalancingv2::Client,
    /// The region's target groups as last listed; None with coalescing off.
    target_groups: Option<Shared<Vec<TargetGroup>>>,
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
            rules: Coalescer::new(DescribeRouters(elbv2.clone(), Kind::Rule), window),
            recent: Mutex::new(Recent::default()),
            ttl: REUSE_TTL,
            share: window.map(|_| Mutex::new(RouterShare::default())),
            just_read: window.map(|_| Mutex::new(JustRead::default())),
            elbv2,
            target_groups: window.map(|_| Shared::new(REUSE_TTL)),
        }
    }

    /// Every target group of the region ([`super::elbv2::all_target_groups`]), listed once for
    /// all who ask within the TTL: adoption looks for a canary target group per service, and a
    /// listing of a cluster asks for each. With coalescing off, every call lists.
    pub async fn all_target_groups(&self) -> Result<Arc<Vec<TargetGroup>>, AwsError> {
        let list = || super::elbv2::all_target_groups(&self.elbv2);
        match &self.target_groups {
            Some(shared) => shared.get(list).await,
            None => Ok(Arc::new(list().await?)),
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
    /// task set's tags (DescribeTaskSets) and every check reads afresh: `ECSX_COALESCE=off`
    /// reads everything every time (the scale bench's baseline, and a way back should a
    /// saving ever be in doubt).
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
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    #[tokio::test]
    async fn a_listing_is_made_once_for_concurrent_and_later_askers_until_it_is_old() {
        let shared: Shared<usize> = Shared::new(Duration::from_millis(200));
        let calls = AtomicUsize::new(0);
        let list = || async {
            let n = calls.fetch_add(1, SeqCst) + 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<usize, AwsError>(n)
        };
        let (a, b, c) = tokio::join!(shared.get(list), shared.get(list), shared.get(list));
        assert_eq!((*a.unwrap(), *b.unwrap(), *c.unwrap()), (1, 1, 1));
        assert_eq!(*shared.get(list).await.unwrap(), 1);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(*shared.get(list).await.unwrap(), 2);
        assert_eq!(calls.load(SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_listing_is_not_kept() {
        let shared: Shared<u8> = Shared::new(Duration::from_secs(10));
        let failed = shared
            .get(|| async {
                Err(AwsError::NotFound {
                    what: "target groups",
                    id: String::new(),
                })
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(*shared.get(|| async { Ok(7) }).await.unwrap(), 7);
    }
}
