//! `fusebox::tower::RegistryLayer` (features `tower`, `registry`, `http`,
//! `tokio`): one breaker and budget per request key, picked from a `Registry`.
#![cfg(all(
    feature = "tower",
    feature = "registry",
    feature = "http",
    feature = "tokio"
))]

use fusebox::http::HttpClassifier;
use fusebox::tower::{Authority, Host, RegistryLayer, RequestKey, key_ref};
use fusebox::{
    Breaker, GuardError, Jitter, ManualClock, Outcome, Registry, Rejected, Retry, RetryBudget,
    State, Stop, TokioSleeper, Verdict,
};
use http::{Request, Response, StatusCode};
use std::convert::Infallible;
use std::future::{Future, ready};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{Layer, Service, ServiceExt, service_fn};

const SEC: Duration = Duration::from_secs(1);

fn retry(max_attempts: u32) -> Retry {
    Retry::builder()
        .max_attempts(max_attempts)
        .constant_backoff(Duration::from_millis(10))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

/// Breakers that trip after `n` consecutive failures, named after their key.
fn registry(n: u32, max_entries: usize) -> Arc<Registry<String>> {
    Arc::new(
        Registry::<String>::builder()
            .breaker(move |host: Option<&String>| {
                Breaker::builder()
                    .name(host.map_or("overflow", String::as_str))
                    .trip_after_consecutive_failures(n)
                    .open_for(60 * SEC)
            })
            .budget(|_| RetryBudget::builder())
            .max_entries(max_entries)
            .build()
            .unwrap(),
    )
}

fn get(uri: &str) -> Request<String> {
    Request::get(uri).body(String::new()).unwrap()
}

type Reply = Result<Response<String>, GuardError<Infallible>>;

/// A downstream answering 503 for `down.example.com` and 200 for every other
/// host, counting calls per host.
fn downstream(
    calls: Arc<Mutex<Vec<String>>>,
) -> impl Service<
    Request<String>,
    Response = Response<String>,
    Error = Infallible,
    Future = impl Future + Send,
> + Clone {
    service_fn(move |req: Request<String>| {
        let host = req.uri().host().unwrap_or("").to_owned();
        let status = if host == "down.example.com" {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        calls.lock().unwrap().push(host);
        ready(Ok::<_, Infallible>(
            Response::builder()
                .status(status)
                .body(String::new())
                .unwrap(),
        ))
    })
}

/// Two hosts behind one layer: the failing one trips its own breaker (and its
/// retries use its own budget); the other keeps succeeding, its breaker closed
/// and untouched by the first one's failures.
#[tokio::test(start_paused = true)]
async fn a_failing_host_trips_only_its_own_breaker() {
    let registry = registry(3, 16);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut svc = RegistryLayer::new(Arc::clone(&registry), Authority, retry(3))
        .with_classifier(HttpClassifier::new())
        .with_sleeper(TokioSleeper)
        .layer(downstream(calls.clone()));

    // Three attempts, three failures: `down` trips; the 503 is returned as is.
    let r: Reply = svc
        .ready()
        .await
        .unwrap()
        .call(get("http://down.example.com/a"))
        .await;
    assert_eq!(r.unwrap().status(), 503);
    for i in 0..5 {
        let r: Reply = svc
            .ready()
            .await
            .unwrap()
            .call(get(&format!("http://up.example.com/{i}")))
            .await;
        assert_eq!(r.unwrap().status(), 200);
    }
    let r: Reply = svc
        .ready()
        .await
        .unwrap()
        .call(get("http://down.example.com/b"))
        .await;
    match r {
        Err(GuardError::Rejected {
            rejected: Rejected::Open { retry_after },
            attempts: 0,
            ..
        }) => assert!(retry_after.is_some_and(|d| d > Duration::ZERO)),
        other => panic!("expected a rejection by down's breaker, got {other:?}"),
    }

    let down = registry.get("down.example.com");
    let up = registry.get("up.example.com");
    assert_eq!(down.breaker().snapshot().state, State::Open);
    assert_eq!(down.breaker().name(), "down.example.com");
    let up_snapshot = up.breaker().snapshot();
    assert_eq!(
        (up_snapshot.state, up_snapshot.health),
        (State::Closed, Some(1.0))
    );
    assert!(
        down.budget().unwrap().balance() < up.budget().unwrap().balance(),
        "down's retries were withdrawn from down's budget only"
    );
    let calls = calls.lock().unwrap();
    assert_eq!(
        calls.iter().filter(|h| *h == "down.example.com").count(),
        3,
        "the rejected call never reached the downstream"
    );
    assert_eq!(calls.iter().filter(|h| *h == "up.example.com").count(), 5);
}

/// An entry is made on a key's first use, once, and found again after.
#[tokio::test]
async fn keys_are_created_on_first_use() {
    let registry = registry(5, 16);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut svc = RegistryLayer::new(Arc::clone(&registry), Authority, retry(1))
        .with_sleeper(TokioSleeper)
        .layer(downstream(calls));
    assert!(registry.is_empty());
    let a = svc
        .ready()
        .await
        .unwrap()
        .call(get("http://a.example.com/"))
        .await;
    assert!(a.is_ok());
    assert_eq!(registry.len(), 1);
    let first = registry.get("a.example.com");
    for uri in [
        "http://a.example.com/x",
        "http://b.example.com:8080/",
        "http://a.example.com/y",
    ] {
        let r = svc.ready().await.unwrap().call(get(uri)).await;
        assert!(r.is_ok());
    }
    assert_eq!(registry.len(), 2);
    let mut keys: Vec<_> = registry.snapshots().into_iter().map(|(k, _)| k).collect();
    keys.sort();
    assert_eq!(keys, ["a.example.com", "b.example.com:8080"]);
    assert!(
        registry.get("a.example.com").ptr_eq(&first),
        "found, not made again"
    );
    // Requests to a.example.com go through that entry's breaker: opened by hand,
    // it refuses them, and b.example.com:8080 still passes.
    first.breaker().force_open();
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(get("http://a.example.com/z"))
        .await;
    assert!(
        matches!(r, Err(GuardError::Rejected { attempts: 0, .. })),
        "{r:?}"
    );
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(get("http://b.example.com:8080/"))
        .await;
    assert!(r.is_ok());
}

/// At the cap, a new key shares the overflow entry: its failures trip the
/// overflow breaker, which then refuses every key beyond the cap, while the
/// keys with an entry of their own go on.
#[tokio::test(start_paused = true)]
async fn keys_beyond_the_cap_share_the_overflow_breaker() {
    let registry = registry(2, 1);
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut svc = RegistryLayer::new(Arc::clone(&registry), Authority, retry(1))
        .with_classifier(HttpClassifier::new())
        .with_sleeper(TokioSleeper)
        .layer(downstream(calls.clone()));
    let ok = svc
        .ready()
        .await
        .unwrap()
        .call(get("http://up.example.com/"))
        .await;
    assert_eq!(ok.unwrap().status(), 200);
    // The registry is full: `down` gets the overflow entry, twice, and trips it.
    for _ in 0..2 {
        let r = svc
            .ready()
            .await
            .unwrap()
            .call(get("http://down.example.com/"))
            .await;
        assert_eq!(r.unwrap().status(), 503);
    }
    assert_eq!(registry.len(), 1, "no entry made beyond the cap");
    assert_eq!(registry.overflow().breaker().snapshot().state, State::Open);
    // Another new key shares the overflow breaker: refused, never sent.
    let r = svc
        .ready()
        .await
        .unwrap()
        .call(get("http://other.example.com/"))
        .await;
    assert!(
        matches!(r, Err(GuardError::Rejected { attempts: 0, .. })),
        "{r:?}"
    );
    assert!(
        !calls
            .lock()
            .unwrap()
            .iter()
            .any(|h| h == "other.example.com")
    );
    // The key with its own entry is unaffected.
    let ok = svc
        .ready()
        .await
        .unwrap()
        .call(get("http://up.example.com/"))
        .await;
    assert_eq!(ok.unwrap().status(), 200);
    assert_eq!(
        registry.get("up.example.com").breaker().snapshot().state,
        State::Closed
    );
}

/// A future that never resolves until told to (through the shared flag).
struct Hang(Arc<AtomicU32>);

impl Future for Hang {
    type Output = Result<u32, &'static str>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.0.load(Ordering::Relaxed) == 1 {
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            Poll::Ready(Ok(7))
        }
    }
}

/// Dropping a response future mid-attempt frees the half-open probe slot of
/// the request's key, and of no other key.
#[tokio::test]
async fn dropping_the_future_frees_the_probe_slot_of_its_key() {
    let clock = ManualClock::new();
    let registry = Arc::new(
        Registry::<u32>::builder()
            .breaker(|_| {
                Breaker::builder()
                    .trip_after_consecutive_failures(1)
                    .open_for(SEC)
                    .open_jitter(0.0)
                    .probes(1)
                    .close_after(1)
            })
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    // Both keys half-open, one probe slot each.
    for key in [1u32, 2] {
        let entry = registry.get(&key);
        let _ = entry
            .breaker()
            .try_acquire()
            .unwrap()
            .record(Verdict::failure());
    }
    clock.advance(2 * SEC);
    let hang = Arc::new(AtomicU32::new(1));
    let inner = service_fn({
        let hang = hang.clone();
        move |_: u32| Hang(hang.clone())
    });
    // The request is its own key (an owned key from a closure).
    let mut svc = RegistryLayer::new(Arc::clone(&registry), |req: &u32| *req, retry(1))
        .with_sleeper(TokioSleeper)
        .layer(inner);

    let mut future = Box::pin(svc.ready().await.unwrap().call(1));
    let waker = std::task::Waker::noop();
    assert!(
        future
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending()
    );
    let one = registry.get(&1).breaker().snapshot();
    let two = registry.get(&2).breaker().snapshot();
    assert_eq!((one.state, one.probes_in_flight), (State::HalfOpen, 1));
    assert_eq!(
        (two.state, two.ready_to_probe, two.probes_in_flight),
        (State::Open, true, 0),
        "key 2 still waits for its first probe"
    );
    // Key 1's slot is taken; key 2's is not.
    let r = svc.ready().await.unwrap().call(1).await;
    assert!(matches!(r, Err(GuardError::Rejected { .. })), "{r:?}");

    drop(future);
    let one = registry.get(&1).breaker().snapshot();
    assert_eq!(
        (one.state, one.probes_in_flight, one.probe_successes),
        (State::HalfOpen, 0, 0),
        "cancelled: key 1's slot freed, no health signal"
    );
    hang.store(0, Ordering::Relaxed);
    assert_eq!(svc.ready().await.unwrap().call(1).await, Ok(7));
    assert_eq!(registry.get(&1).breaker().snapshot().state, State::Closed);
    let two = registry.get(&2).breaker().snapshot();
    assert_eq!(
        (two.state, two.ready_to_probe),
        (State::Open, true),
        "key 2 untouched"
    );
}

/// The key functions for `http::Request`s: the authority as written (no user
/// information), the `Host` header for origin-form requests, the host alone;
/// and a borrowed key from a closure.
#[test]
fn authority_and_host_keys() {
    let key = |picker: &dyn Fn(&Request<()>) -> String, req: Request<()>| picker(&req);
    let authority = |req: &Request<()>| Authority.with_key(req, str::to_owned);
    let host = |req: &Request<()>| Host.with_key(req, str::to_owned);
    let req = |uri: &str| Request::get(uri).body(()).unwrap();
    let with_host = |uri: &str, h: &str| Request::get(uri).header("host", h).body(()).unwrap();

    assert_eq!(
        key(&authority, req("https://api.example.com/v1")),
        "api.example.com"
    );
    assert_eq!(
        key(&authority, req("http://u:pw@db.example.com:5432/")),
        "db.example.com:5432"
    );
    assert_eq!(
        key(&authority, with_host("/v1", "api.example.com:8443")),
        "api.example.com:8443"
    );
    assert_eq!(
        key(&authority, with_host("/", "u@h.example.com")),
        "h.example.com"
    );
    assert_eq!(key(&authority, req("/no-host")), "");
    // The URI's authority wins over the header.
    assert_eq!(
        key(
            &authority,
            with_host("http://a.example.com/", "b.example.com")
        ),
        "a.example.com"
    );

    assert_eq!(
        key(&host, req("http://api.example.com:8080/")),
        "api.example.com"
    );
    assert_eq!(
        key(&host, with_host("/", "api.example.com:8080")),
        "api.example.com"
    );
    assert_eq!(key(&host, with_host("/", "[::1]:8080")), "[::1]");
    assert_eq!(key(&host, req("http://[::1]:8080/")), "[::1]");
    assert_eq!(key(&host, req("/")), "");

    // The key is borrowed from the request, not copied.
    let r = req("https://api.example.com/");
    let uri_text = r.uri().authority().unwrap().as_str().as_ptr();
    assert_eq!(Authority.with_key(&r, str::as_ptr), uri_text);
    let path = key_ref(|r: &Request<()>| r.uri().path());
    assert_eq!(path.with_key(&r, str::to_owned), "/");
}

/// Behind a `Registry<String>` keyed by `key_ref`, with an `OnStop`: stop
/// reasons are told per call, and the key's breaker is the one named.
#[tokio::test(start_paused = true)]
async fn on_stop_and_borrowed_keys() {
    let registry = registry(100, 16);
    let stops = Arc::new(Mutex::new(Vec::new()));
    let inner =
        service_fn(|req: (String, u32)| ready(if req.1 == 0 { Err("down") } else { Ok(req.1) }));
    let mut svc = RegistryLayer::new(
        Arc::clone(&registry),
        key_ref(|req: &(String, u32)| req.0.as_str()),
        retry(2),
    )
    .with_sleeper(TokioSleeper)
    .on_stop({
        let stops = stops.clone();
        move |o: &Outcome<u32, &'static str>| stops.lock().unwrap().push((o.stop, o.attempts))
    })
    .layer(inner);
    let r = svc.ready().await.unwrap().call(("a".into(), 0)).await;
    assert!(matches!(r, Err(GuardError::Exhausted { attempts: 2, .. })));
    let r = svc.ready().await.unwrap().call(("b".into(), 5)).await;
    assert_eq!(r, Ok(5));
    assert_eq!(
        *stops.lock().unwrap(),
        [(Stop::Exhausted, 2), (Stop::Succeeded, 1)]
    );
    assert_eq!(
        registry.get("a").breaker().snapshot().samples,
        2,
        "a's two failures"
    );
    assert_eq!(registry.get("b").breaker().snapshot().health, Some(1.0));
    // The future is spawnable.
    fn is_send_static<T: Send + 'static>(_: &T) {}
    let future = svc.ready().await.unwrap().call(("b".into(), 1));
    is_send_static(&future);
    assert_eq!(tokio::spawn(future).await.unwrap(), Ok(1));
}

/// The registry's clock on tokio's (paused) time, for the deadline.
struct TokioClock(tokio::time::Instant);

impl fusebox::Clock for TokioClock {
    fn now_nanos(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A service whose first readiness check is immediate and every later one takes
/// `wait` of tokio time; its calls fail at once.
struct SlowReady {
    wait: Duration,
    checks: Arc<AtomicU32>,
    calls: Arc<AtomicU32>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Clone for SlowReady {
    fn clone(&self) -> Self {
        Self {
            wait: self.wait,
            checks: Arc::clone(&self.checks),
            calls: Arc::clone(&self.calls),
            sleep: None,
        }
    }
}

impl Service<u32> for SlowReady {
    type Response = u32;
    type Error = &'static str;
    type Future = std::future::Ready<Result<u32, &'static str>>;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), &'static str>> {
        if self.sleep.is_none() {
            if self.checks.fetch_add(1, Ordering::Relaxed) == 0 {
                return Poll::Ready(Ok(()));
            }
            self.sleep = Some(Box::pin(tokio::time::sleep(self.wait)));
        }
        if let Some(sleep) = self.sleep.as_mut() {
            std::task::ready!(sleep.as_mut().poll(cx));
        }
        self.sleep = None;
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, _: u32) -> Self::Future {
        self.calls.fetch_add(1, Ordering::Relaxed);
        ready(Err("down"))
    }
}

/// As through `GuardService`: a retry whose `poll_ready` outlasts the deadline
/// is not sent, and the key's breaker records the first failure only.
#[tokio::test(start_paused = true)]
async fn a_retry_readied_past_the_deadline_is_not_sent() {
    let registry = Arc::new(
        Registry::<String>::builder()
            .breaker(|_| Breaker::builder().trip_after_consecutive_failures(2))
            .clock(TokioClock(tokio::time::Instant::now()))
            .build()
            .unwrap(),
    );
    let retry = Retry::builder()
        .max_attempts(3)
        .constant_backoff(Duration::from_millis(10))
        .jitter(Jitter::None)
        .deadline(SEC)
        .build()
        .unwrap();
    let inner = SlowReady {
        wait: 2 * SEC,
        checks: Arc::default(),
        calls: Arc::default(),
        sleep: None,
    };
    let mut svc = RegistryLayer::new(Arc::clone(&registry), key_ref(|_: &u32| "db"), retry)
        .with_sleeper(TokioSleeper)
        .layer(inner.clone());
    let r = svc.ready().await.unwrap().call(1).await;
    assert_eq!(
        r,
        Err(GuardError::DeadlineExceeded {
            attempts: 1,
            last: Some("down")
        })
    );
    assert_eq!(
        inner.calls.load(Ordering::Relaxed),
        1,
        "no second inner call"
    );
    let s = registry.get("db").breaker().snapshot();
    assert_eq!((s.state, s.samples), (State::Closed, 1), "one failure");
}

/// A call in flight holds its key's entry: a sweep meanwhile does not evict
/// it (the key keeps one breaker); once the call is over, the entry is idle
/// like any other.
#[tokio::test(start_paused = true)]
async fn a_call_in_flight_keeps_its_entry() {
    let clock = ManualClock::new();
    let registry = Arc::new(
        Registry::<String>::builder()
            .idle_after(16 * SEC) // a tick is 1 s
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let inner = service_fn(|_: u32| std::future::pending::<Result<u32, &'static str>>());
    let mut svc = RegistryLayer::new(Arc::clone(&registry), key_ref(|_: &u32| "db"), retry(1))
        .with_sleeper(TokioSleeper)
        .layer(inner);
    let call = svc.ready().await.unwrap().call(1);
    // By address (not a clone, which would hold the breaker itself): the call
    // keeps it alive, so the address cannot be reused meanwhile.
    let breaker = registry.with("db", |entry| Arc::as_ptr(entry.breaker()));
    // A sweep 1 s later starts an epoch after those lookups: 16 s on, the entry
    // is idle by its lookups, and only the call keeps it.
    clock.advance(SEC);
    assert_eq!(registry.evict_idle(), 0);
    clock.advance(16 * SEC);
    assert_eq!(registry.evict_idle(), 0, "the call holds the entry");
    assert!(registry.with("db", |entry| Arc::as_ptr(entry.breaker()) == breaker));
    drop(call); // cancelled: the entry is released
    // Idle like any other: it goes 16 s after the first epoch started after its
    // last lookup (the `with` just above).
    clock.advance(SEC);
    assert_eq!(registry.evict_idle(), 0);
    clock.advance(16 * SEC);
    assert_eq!(registry.evict_idle(), 1);
    assert!(registry.is_empty());
}
