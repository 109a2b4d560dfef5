//! The hedged tower layer (`HedgedGuardLayer`, features `tower` and `tokio`), on
//! tokio's paused clock; the breaker reads the same virtual time through
//! `TokioClock`.
#![cfg(all(feature = "tower", feature = "tokio"))]

use fusebox::tower::HedgedGuardLayer;
use fusebox::{Breaker, Guard, GuardError, Hedge, Outcome, Stop, TokioSleeper, Winner};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tower::{Layer, Service, ServiceExt, service_fn};

mod hedge_support;
use hedge_support::{Log, MS, breaker, retry};

/// An attempt's future that sets `dropped` when dropped before it ended.
struct Tracked<F> {
    inner: Pin<Box<F>>,
    done: bool,
    dropped: Arc<AtomicBool>,
}

impl<F: Future> Future for Tracked<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let out = self.inner.as_mut().poll(cx);
        if out.is_ready() {
            self.done = true;
        }
        out
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        if !self.done {
            self.dropped.store(true, Ordering::Relaxed);
        }
    }
}

/// The downstream: request `n` (counted from 0) takes `latency(n)` ms and
/// answers `n`, or fails when `fails(n)`.
#[derive(Clone, Debug)]
struct Downstream {
    sent: Arc<AtomicU32>,
    latency: fn(u32) -> u64,
    fails: fn(u32) -> bool,
    dropped: Arc<AtomicBool>,
}

impl Downstream {
    fn new(latency: fn(u32) -> u64, fails: fn(u32) -> bool) -> Self {
        Self {
            sent: Arc::new(AtomicU32::new(0)),
            latency,
            fails,
            dropped: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Service<u32> for Downstream {
    type Response = u32;
    type Error = String;
    type Future = Tracked<Pin<Box<dyn Future<Output = Result<u32, String>> + Send>>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), String>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: u32) -> Self::Future {
        let n = self.sent.fetch_add(1, Ordering::Relaxed);
        let (latency, fails) = ((self.latency)(n), (self.fails)(n));
        Tracked {
            inner: Box::pin(Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(latency)).await;
                if fails {
                    Err(format!("failed {n}"))
                } else {
                    Ok(n)
                }
            })),
            done: false,
            dropped: Arc::clone(&self.dropped),
        }
    }
}

type Outcomes = Arc<Mutex<Vec<(Stop, u32, Option<Winner>)>>>;

fn layer(
    b: &Arc<Breaker>,
    max_attempts: u32,
    hedge: Hedge,
    outcomes: &Outcomes,
) -> HedgedGuardLayer<
    fusebox::DefaultClassifier,
    TokioSleeper,
    fusebox::tower::CloneRequest,
    impl Fn(&Outcome<u32, String>) + Clone + use<>,
> {
    let guard = Guard::new(Arc::clone(b), retry(max_attempts))
        .with_sleeper(TokioSleeper)
        .with_hedging(hedge);
    let sink = Arc::clone(outcomes);
    HedgedGuardLayer::new(guard).on_stop(move |o: &Outcome<u32, String>| {
        sink.lock().unwrap().push((o.stop, o.attempts, o.winner()));
    })
}

#[tokio::test(start_paused = true)]
async fn a_slow_first_attempt_loses_to_the_hedge_and_its_permit_is_cancelled() {
    let log = Log::default();
    let b = breaker(&log);
    let outcomes = Outcomes::default();
    let down = Downstream::new(|n| if n == 0 { 10_000 } else { 5 }, |_| false);
    let mut svc = layer(&b, 3, Hedge::after(100 * MS).unwrap(), &outcomes).layer(down.clone());
    let start = tokio::time::Instant::now();
    let r = svc.ready().await.unwrap().call(7).await;
    assert_eq!(r, Ok(1), "the hedge's answer");
    assert_eq!(start.elapsed(), 105 * MS);
    assert_eq!(down.sent.load(Ordering::Relaxed), 2);
    assert!(
        down.dropped.load(Ordering::Relaxed),
        "the loser's future was dropped"
    );
    // The loser's permit was dropped unrecorded: no verdict, no stale report.
    let s = b.snapshot();
    assert_eq!((s.samples, s.health), (0, Some(1.0)));
    assert_eq!(b.stale_reports(), 0);
    assert_eq!(b.limit().in_flight, 0);
    assert_eq!(
        *log.lock().unwrap(),
        ["hedge 2 100ms", "settled 1 true 1", "call_stopped"]
    );
    assert_eq!(
        *outcomes.lock().unwrap(),
        [(Stop::Succeeded, 2, Some(Winner::Hedge(1)))]
    );
}

#[tokio::test(start_paused = true)]
async fn a_fast_answer_sends_no_hedge() {
    let log = Log::default();
    let b = breaker(&log);
    let outcomes = Outcomes::default();
    let down = Downstream::new(|_| 99, |_| false);
    let mut svc = layer(&b, 3, Hedge::after(100 * MS).unwrap(), &outcomes).layer(down.clone());
    for _ in 0..3 {
        assert!(svc.ready().await.unwrap().call(1).await.is_ok());
    }
    assert_eq!(down.sent.load(Ordering::Relaxed), 3);
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
    assert_eq!(
        outcomes.lock().unwrap()[0],
        (Stop::Succeeded, 1, Some(Winner::Primary))
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_be_copied_gets_one_attempt_and_no_hedge() {
    let log = Log::default();
    let b = breaker(&log);
    let down = Downstream::new(|_| 1_000, |_| true);
    let guard = Guard::new(Arc::clone(&b), retry(3))
        .with_sleeper(TokioSleeper)
        .with_hedging(Hedge::after(100 * MS).unwrap());
    let mut svc = HedgedGuardLayer::new(guard)
        .clone_requests_with(|_: &u32| None::<u32>)
        .layer(down.clone());
    let r = svc.ready().await.unwrap().call(1).await;
    assert!(
        matches!(&r, Err(GuardError::Exhausted { attempts: 1, .. })),
        "{r:?}"
    );
    assert_eq!(down.sent.load(Ordering::Relaxed), 1);
    assert!(!log.lock().unwrap().iter().any(|l| l.starts_with("hedge")));
}

#[tokio::test(start_paused = true)]
async fn a_refused_call_never_reaches_the_service() {
    let log = Log::default();
    let b = breaker(&log);
    let outcomes = Outcomes::default();
    let down = Downstream::new(|_| 1, |_| false);
    let mut svc = layer(&b, 3, Hedge::after(100 * MS).unwrap(), &outcomes).layer(down.clone());
    b.force_open();
    let r = svc.ready().await.unwrap().call(1).await;
    assert!(
        matches!(r, Err(GuardError::Rejected { attempts: 0, .. })),
        "{r:?}"
    );
    assert_eq!(down.sent.load(Ordering::Relaxed), 0);
    assert_eq!(*outcomes.lock().unwrap(), [(Stop::Rejected, 0, None)]);
}

#[tokio::test(start_paused = true)]
async fn failures_are_retried_and_hedges_count_toward_max_attempts() {
    // Request 0 hangs (hedged at 100 ms), the hedge (1) fails at 150 ms and
    // is recorded while 0 is in flight; 0 fails at 300 ms: the round's last
    // attempt decides, a retry after 10 ms (2) answers. Three attempts, the
    // most `max_attempts(3)` allows.
    let log = Log::default();
    let b = breaker(&log);
    let outcomes = Outcomes::default();
    let down = Downstream::new(
        |n| match n {
            0 => 300,
            1 => 50,
            _ => 5,
        },
        |n| n < 2,
    );
    let mut svc = layer(&b, 3, Hedge::after(100 * MS).unwrap(), &outcomes).layer(down.clone());
    let start = tokio::time::Instant::now();
    let r = svc.ready().await.unwrap().call(1).await;
    assert_eq!(r, Ok(2));
    assert_eq!(start.elapsed(), (300 + 10 + 5) * MS);
    assert_eq!(down.sent.load(Ordering::Relaxed), 3);
    assert_eq!(
        *outcomes.lock().unwrap(),
        [(Stop::Succeeded, 3, Some(Winner::Primary))]
    );
    // Two failures and the success recorded (the spell below full health).
    assert_eq!(b.snapshot().samples, 3, "{:?}", b.snapshot());
    // With max_attempts(2), the hedge is the call's last attempt: no retry.
    let outcomes = Outcomes::default();
    let down = Downstream::new(|n| if n == 0 { 300 } else { 50 }, |_| true);
    let mut svc = layer(&b, 2, Hedge::after(100 * MS).unwrap(), &outcomes).layer(down.clone());
    let r = svc.ready().await.unwrap().call(1).await;
    assert!(
        matches!(&r, Err(GuardError::Exhausted { attempts: 2, .. })),
        "{r:?}"
    );
    assert_eq!(down.sent.load(Ordering::Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_response_future_cancels_every_attempt() {
    let log = Log::default();
    let b = breaker(&log);
    let outcomes = Outcomes::default();
    let down = Downstream::new(|_| 10_000, |_| false);
    let mut svc = layer(&b, 3, Hedge::after(100 * MS).unwrap(), &outcomes).layer(down.clone());
    let future = svc.ready().await.unwrap().call(1);
    // Past the hedge: two attempts in flight, then the caller gives up.
    let r = tokio::time::timeout(250 * MS, future).await;
    assert!(r.is_err(), "timed out");
    assert_eq!(down.sent.load(Ordering::Relaxed), 2);
    assert!(down.dropped.load(Ordering::Relaxed));
    assert_eq!(b.limit().in_flight, 0, "both permits given back");
    let s = b.snapshot();
    assert_eq!((s.samples, s.health), (0, Some(1.0)), "no verdict");
    assert!(outcomes.lock().unwrap().is_empty(), "no stop told");
    assert_eq!(
        *log.lock().unwrap(),
        ["hedge 2 100ms", "settled 1 false 2"],
        "the hedge settled when the call was dropped: none won, both cancelled"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hedge_whose_service_is_not_ready_fails_as_its_attempt() {
    // A service whose clones are never ready (only the one the caller
    // readied is): the hedge's `poll_ready` error is its attempt's error,
    // classified (a retryable failure) and recorded while the first attempt
    // is in flight; the first attempt's answer then wins.
    struct Picky {
        readied: bool,
        sent: Arc<AtomicU32>,
    }
    impl Clone for Picky {
        fn clone(&self) -> Self {
            Self {
                readied: false,
                sent: Arc::clone(&self.sent),
            }
        }
    }
    impl Service<u32> for Picky {
        type Response = u32;
        type Error = String;
        type Future = Pin<Box<dyn Future<Output = Result<u32, String>> + Send>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), String>> {
            if self.readied {
                Poll::Ready(Ok(()))
            } else {
                Poll::Ready(Err("not ready".into()))
            }
        }
        fn call(&mut self, x: u32) -> Self::Future {
            self.sent.fetch_add(1, Ordering::Relaxed);
            Box::pin(async move {
                tokio::time::sleep(300 * MS).await;
                Ok(x)
            })
        }
    }
    let log = Log::default();
    let b = breaker(&log);
    let outcomes = Outcomes::default();
    let sent = Arc::new(AtomicU32::new(0));
    let picky = Picky {
        readied: true,
        sent: Arc::clone(&sent),
    };
    let mut svc = layer(&b, 3, Hedge::after(100 * MS).unwrap(), &outcomes).layer(picky);
    let r = svc.ready().await.unwrap().call(5).await;
    assert_eq!(r, Ok(5));
    assert_eq!(
        sent.load(Ordering::Relaxed),
        1,
        "the hedge never reached call"
    );
    // Its failure was recorded (health below full), then the first
    // attempt's success: two samples of the spell below full health.
    let snap = b.snapshot();
    assert!(snap.health.unwrap() < 1.0, "{snap:?}");
    assert_eq!(snap.samples, 2, "{snap:?}");
    assert_eq!(
        *log.lock().unwrap(),
        ["hedge 2 100ms", "settled 1 false 0", "call_stopped"]
    );
    assert_eq!(
        *outcomes.lock().unwrap(),
        [(Stop::Succeeded, 2, Some(Winner::Primary))]
    );
}

#[tokio::test(start_paused = true)]
async fn a_service_fn_layer_is_send_and_answers() {
    let log = Log::default();
    let b = breaker(&log);
    let outcomes = Outcomes::default();
    let svc = layer(&b, 3, Hedge::builder().build().unwrap(), &outcomes)
        .layer(service_fn(|x: u32| async move { Ok::<u32, String>(x + 1) }));
    let handle = tokio::spawn(async move {
        let mut svc = svc;
        svc.ready().await.unwrap().call(1).await
    });
    assert_eq!(handle.await.unwrap(), Ok(2));
}

#[tokio::test(start_paused = true)]
async fn attempts_are_cut_at_their_limits_then_retried() {
    // Attempt timeout 300 ms, a hedge at 100 ms: requests 0 and 1 hang; the
    // first is cut at 300 ms, the hedge at 400 ms (its own start plus the
    // timeout); the retry 10 ms later answers in 5 ms.
    let log = Log::default();
    let b = breaker(&log);
    let down = Downstream::new(|n| if n < 2 { 10_000 } else { 5 }, |_| false);
    let retry = fusebox::Retry::builder()
        .max_attempts(3)
        .attempt_timeout(300 * MS)
        .constant_backoff(10 * MS)
        .jitter(fusebox::Jitter::None)
        .build()
        .unwrap();
    let guard = Guard::new(Arc::clone(&b), retry)
        .with_sleeper(TokioSleeper)
        .with_hedging(Hedge::after(100 * MS).unwrap());
    let mut svc = HedgedGuardLayer::new(guard).layer(down.clone());
    let start = tokio::time::Instant::now();
    let r = svc.ready().await.unwrap().call(1).await;
    assert_eq!(r, Ok(2));
    assert_eq!(start.elapsed(), 415 * MS);
    assert_eq!(down.sent.load(Ordering::Relaxed), 3);
    assert!(
        down.dropped.load(Ordering::Relaxed),
        "the cut attempts were dropped"
    );
    assert_eq!(b.limit().in_flight, 0);
    let log = log.lock().unwrap();
    assert_eq!(
        *log,
        [
            "hedge 2 100ms",
            "timed out 1 at 300ms",
            "timed out 2 at 400ms",
            "retry",
            "settled 1 false 0",
            "call_stopped"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_layer_spends_its_guards_retry_budget() {
    // An empty retry budget: the first attempt's failure is not retried.
    let log = Log::default();
    let b = breaker(&log);
    let budget = Arc::new(
        fusebox::RetryBudget::builder()
            .ratio(0.001)
            .min_retries_per_sec(0)
            .initial_balance(0)
            .build()
            .unwrap(),
    );
    let guard = Guard::new(Arc::clone(&b), retry(3))
        .with_sleeper(TokioSleeper)
        .with_budget(budget)
        .with_hedging(Hedge::after(100 * MS).unwrap());
    let outcomes = Outcomes::default();
    let sink = Arc::clone(&outcomes);
    let down = Downstream::new(|_| 5, |_| true);
    let mut svc = HedgedGuardLayer::new(guard)
        .on_stop(move |o: &Outcome<u32, String>| {
            sink.lock().unwrap().push((o.stop, o.attempts, o.winner()))
        })
        .layer(down.clone());
    let r = svc.ready().await.unwrap().call(1).await;
    assert!(r.is_err());
    assert_eq!(
        *outcomes.lock().unwrap(),
        [(Stop::BudgetExhausted, 1, None)]
    );
    assert_eq!(down.sent.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn a_first_attempt_that_needs_its_time_is_timed_through_the_layer() {
    // A breaker that weighs slow calls: the first attempt (100 ms, above the
    // 50 ms threshold) is timed, and told as slow.
    let slow = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&slow);
    let b = Arc::new(
        Breaker::builder()
            .clock(hedge_support::TokioClock(tokio::time::Instant::now()))
            .slow_call(50 * MS, 1.0)
            .listener(move |e: &fusebox::Event<'_>| {
                if let fusebox::EventKind::SlowAttempt { .. } = e.kind {
                    seen.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build()
            .unwrap(),
    );
    let outcomes = Outcomes::default();
    let down = Downstream::new(|_| 100, |_| false);
    let mut svc = layer(
        &b,
        3,
        Hedge::after(Duration::from_secs(1)).unwrap(),
        &outcomes,
    )
    .layer(down.clone());
    assert_eq!(svc.ready().await.unwrap().call(1).await, Ok(0));
    assert_eq!(slow.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn poll_ready_errors_are_permanent_with_no_attempt() {
    #[derive(Clone)]
    struct Down;
    impl Service<u32> for Down {
        type Response = u32;
        type Error = String;
        type Future = std::future::Ready<Result<u32, String>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), String>> {
            Poll::Ready(Err("down".to_string()))
        }
        fn call(&mut self, x: u32) -> Self::Future {
            std::future::ready(Ok(x))
        }
    }
    let log = Log::default();
    let outcomes = Outcomes::default();
    let mut svc = layer(
        &breaker(&log),
        3,
        Hedge::after(100 * MS).unwrap(),
        &outcomes,
    )
    .layer(Down);
    match svc.ready().await {
        Err(GuardError::Permanent { attempts, error }) => {
            assert_eq!((attempts, error.as_str()), (0, "down"))
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}

#[tokio::test(start_paused = true)]
async fn a_call_that_cannot_retry_copies_no_request() {
    // A copy is made only for a call that may make another attempt.
    #[derive(Clone)]
    struct Counting(Arc<AtomicU32>);
    impl fusebox::tower::ClonePolicy<u32> for Counting {
        fn clone_request(&self, request: &u32) -> Option<u32> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Some(*request)
        }
    }
    for (max_attempts, copies) in [(1, 0), (2, 1)] {
        let log = Log::default();
        let outcomes = Outcomes::default();
        let copied = Arc::new(AtomicU32::new(0));
        let mut svc = layer(
            &breaker(&log),
            max_attempts,
            Hedge::after(100 * MS).unwrap(),
            &outcomes,
        )
        .clone_requests_with(Counting(Arc::clone(&copied)))
        .layer(Downstream::new(|_| 5, |_| false));
        assert_eq!(svc.ready().await.unwrap().call(1).await, Ok(0));
        assert_eq!(
            copied.load(Ordering::Relaxed),
            copies,
            "max_attempts {max_attempts}"
        );
    }
}

#[test]
fn the_layer_its_service_and_future_say_what_they_are() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let log = Log::default();
    let outcomes = Outcomes::default();
    let layer = layer(
        &breaker(&log),
        3,
        Hedge::after(100 * MS).unwrap(),
        &outcomes,
    );
    assert!(format!("{layer:?}").starts_with("HedgedGuardLayer"));
    let mut svc = layer.layer(Downstream::new(|_| 5, |_| false));
    assert!(format!("{svc:?}").starts_with("HedgedGuardService"));
    let future = svc.call(1);
    assert!(format!("{future:?}").starts_with("HedgedResponseFuture"));
}

#[tokio::test(start_paused = true)]
async fn a_classifier_that_wants_the_time_gets_it_for_an_answer_at_once() {
    // A first attempt whose classifier reads its time is timed from its
    // start, even when it answers at its first poll (`Some`, not `None`).
    #[derive(Clone)]
    struct Timed(Arc<Mutex<Vec<Option<Duration>>>>);
    impl fusebox::Classify<u32, String> for Timed {
        fn classify(&self, r: &Result<u32, String>) -> fusebox::Classification {
            self.classify_timed(r, None)
        }
        fn classify_timed(
            &self,
            r: &Result<u32, String>,
            elapsed: Option<Duration>,
        ) -> fusebox::Classification {
            self.0.lock().unwrap().push(elapsed);
            fusebox::DefaultClassifier.classify(r)
        }
        fn wants_elapsed(&self) -> bool {
            true
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    // No concurrency limit: a thread's first attempt would be a latency
    // sample for it, timed for that reason alone.
    let b = Breaker::builder()
        .clock(hedge_support::TokioClock(tokio::time::Instant::now()))
        .adaptive_limit(false)
        .build()
        .unwrap();
    let guard = Guard::new(Arc::new(b), retry(3))
        .with_sleeper(TokioSleeper)
        .with_classifier(Timed(Arc::clone(&seen)))
        .with_hedging(Hedge::after(100 * MS).unwrap());
    let mut svc = HedgedGuardLayer::new(guard).layer(service_fn(|x: u32| {
        std::future::ready(Ok::<u32, String>(x))
    }));
    assert_eq!(svc.ready().await.unwrap().call(7).await, Ok(7));
    assert_eq!(*seen.lock().unwrap(), [Some(Duration::ZERO)]);
}
