//! Unit tests of `coalesce`, and of the reads `Reads` keeps.

use super::*;
use crate::aws::reads::RouterShare;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

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
    use crate::aws::elbv2::test_fixtures::router;
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
