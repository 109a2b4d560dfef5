//! `fusebox::tower` (features `tower` + `tokio`): the `GuardLayer` around tower
//! services, on tokio's paused clock where time matters.
#![cfg(all(feature = "tower", feature = "tokio"))]

use fusebox::tower::GuardLayer;
use fusebox::{
    Breaker, Classification, Guard, GuardError, Jitter, ManualClock, Outcome, Rejected, Retry,
    RetryBudget, State, Stop, TokioSleeper, Verdict,
};
use std::future::{Future, pending, ready};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

fn retry(max_attempts: u32, backoff: Duration) -> Retry {
    Retry::builder()
        .max_attempts(max_attempts)
        .constant_backoff(backoff)
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

fn breaker() -> Arc<Breaker> {
    Arc::new(
        Breaker::builder()
            .trip_after_consecutive_failures(100)
            .build()
            .unwrap(),
    )
}

/// A `service_fn` that counts its calls and answers the `n`-th (1-based) with
/// `answer(n)`.
fn counting<F>(
    calls: Arc<AtomicU32>,
    answer: F,
) -> impl Service<u32, Response = u32, Error = &'static str, Future = impl Future + Send> + Clone
where
    F: Fn(u32, u32) -> Result<u32, &'static str> + Clone + Send + 'static,
{
    service_fn(move |req: u32| {
        let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
        ready(answer(n, req))
    })
}

type Res = Result<u32, GuardError<&'static str>>;

/// Fails twice, then answers: three inner calls, two backoffs of tokio time,
/// under `ServiceBuilder::new().layer(..)`.
#[tokio::test(start_paused = true)]
async fn retries_then_succeeds_under_service_builder() {
    let b = breaker();
    let guard = Guard::new(Arc::clone(&b), retry(3, 10 * SEC)).with_sleeper(TokioSleeper);
    let calls = Arc::new(AtomicU32::new(0));
    let inner = counting(calls.clone(), |n, req| {
        if n < 3 { Err("flaky") } else { Ok(req * 2) }
    });
    let mut svc = ServiceBuilder::new()
        .layer(GuardLayer::new(guard))
        .service(inner);
    let start = Instant::now();
    let r: Res = svc.ready().await.unwrap().call(21).await;
    assert_eq!(r, Ok(42));
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    assert_eq!(start.elapsed(), 20 * SEC, "two 10 s backoffs");
    assert_eq!(b.snapshot().samples, 3, "every attempt recorded");
}

/// Every attempt fails: `Exhausted` with the last error, `max_attempts` calls.
#[tokio::test(start_paused = true)]
async fn every_attempt_fails_exhausted() {
    let guard = Guard::new(breaker(), retry(4, SEC)).with_sleeper(TokioSleeper);
    let calls = Arc::new(AtomicU32::new(0));
    let mut svc = GuardLayer::new(guard).layer(counting(calls.clone(), |_, _| Err("down")));
    let r: Res = svc.ready().await.unwrap().call(1).await;
    assert_eq!(
        r,
        Err(GuardError::Exhausted {
            attempts: 4,
            last: Some("down")
        })
    );
    assert_eq!(calls.load(Ordering::Relaxed), 4);
}

/// An open breaker refuses before the inner service is called, with the
/// breaker's `retry_after`; clones of the service share the breaker.
#[tokio::test(start_paused = true)]
async fn rejection_never_reaches_the_inner_service() {
    let b = Arc::new(
        Breaker::builder()
            .trip_after_consecutive_failures(2)
            .open_for(30 * SEC)
            .build()
            .unwrap(),
    );
    let guard = Guard::new(Arc::clone(&b), retry(1, SEC)).with_sleeper(TokioSleeper);
    let calls = Arc::new(AtomicU32::new(0));
    let mut svc = GuardLayer::new(guard).layer(counting(calls.clone(), |_, _| Err("down")));
    let mut other = svc.clone();
    for _ in 0..2 {
        let r: Res = svc.ready().await.unwrap().call(1).await;
        assert_eq!(r.unwrap_err().stop(), Stop::Exhausted);
    }
    assert_eq!(b.snapshot().state, State::Open);
    assert_eq!(calls.load(Ordering::Relaxed), 2);

    for _ in 0..5 {
        let r: Res = other.ready().await.unwrap().call(1).await;
        let e = r.unwrap_err();
        assert!(
            matches!(
                e,
                GuardError::Rejected {
                    rejected: Rejected::Open { .. },
                    attempts: 0,
                    last: None
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.stop(), Stop::Rejected);
        let wait = e
            .retry_after()
            .expect("an open breaker knows when it admits");
        assert!(wait > Duration::ZERO && wait <= 30 * SEC, "{wait:?}");
    }
    assert_eq!(
        calls.load(Ordering::Relaxed),
        2,
        "no rejected call reached the inner service"
    );
}

/// The breaker opens on the call's own failures: the retries stop there
/// (rule 3: it will still be open when the backoff ends), `RejectedMidCall`
/// keeping the last error.
#[tokio::test(start_paused = true)]
async fn breaker_opening_mid_call_stops_the_retries() {
    let b = Arc::new(
        Breaker::builder()
            .trip_after_consecutive_failures(2)
            .open_for(60 * SEC)
            .build()
            .unwrap(),
    );
    let guard = Guard::new(Arc::clone(&b), retry(5, SEC)).with_sleeper(TokioSleeper);
    let calls = Arc::new(AtomicU32::new(0));
    let mut svc = GuardLayer::new(guard).layer(counting(calls.clone(), |_, _| Err("down")));
    let r: Res = svc.ready().await.unwrap().call(1).await;
    let e = r.unwrap_err();
    assert_eq!(e.stop(), Stop::RejectedMidCall);
    assert_eq!((e.attempts(), e.last()), (2, Some(&"down")));
    assert_eq!(
        calls.load(Ordering::Relaxed),
        2,
        "no attempt after the trip"
    );
}

/// Someone else opens the breaker while the call sleeps: the next permit is
/// refused after the sleep, and the inner service is not called again.
#[tokio::test(start_paused = true)]
async fn breaker_opened_during_the_backoff_stops_the_call() {
    let b = breaker();
    let guard = Guard::new(Arc::clone(&b), retry(5, 10 * SEC)).with_sleeper(TokioSleeper);
    let calls = Arc::new(AtomicU32::new(0));
    let mut svc = GuardLayer::new(guard).layer(counting(calls.clone(), |_, _| Err("down")));
    let opener = tokio::spawn({
        let b = Arc::clone(&b);
        async move {
            tokio::time::sleep(5 * SEC).await;
            b.force_open();
        }
    });
    let r: Res = svc.ready().await.unwrap().call(1).await;
    opener.await.unwrap();
    let e = r.unwrap_err();
    assert!(
        matches!(
            e,
            GuardError::Rejected {
                rejected: Rejected::ForcedOpen,
                attempts: 1,
                last: Some("down")
            }
        ),
        "{e:?}"
    );
    assert_eq!(calls.load(Ordering::Relaxed), 1);
}

/// The deadline cuts an inner future that never answers: `DeadlineExceeded`
/// at the deadline, one failure recorded, the future dropped.
#[tokio::test(start_paused = true)]
async fn deadline_cuts_a_hanging_inner_future() {
    let b = breaker();
    let retry = Retry::builder()
        .max_attempts(3)
        .deadline(2 * SEC)
        .build()
        .unwrap();
    let guard = Guard::new(Arc::clone(&b), retry).with_sleeper(TokioSleeper);
    let dropped = Arc::new(AtomicU32::new(0));
    let inner = service_fn({
        let dropped = Arc::clone(&dropped);
        move |_: u32| {
            let guard = DropCounter(Arc::clone(&dropped));
            async move {
                let _guard = guard;
                pending::<()>().await;
                Ok::<u32, &str>(0)
            }
        }
    });
    let mut svc = GuardLayer::new(guard).layer(inner);
    let start = Instant::now();
    let r: Res = svc.ready().await.unwrap().call(1).await;
    assert_eq!(
        r,
        Err(GuardError::DeadlineExceeded {
            attempts: 1,
            last: None
        })
    );
    assert_eq!(start.elapsed(), 2 * SEC);
    assert_eq!(
        dropped.load(Ordering::Relaxed),
        1,
        "the attempt was dropped"
    );
    let s = b.snapshot();
    assert_eq!(s.samples, 1, "the cut attempt is a failure");
    assert!(s.health.unwrap() < 1.0);
}

struct DropCounter(Arc<AtomicU32>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// The attempt timeout cuts each slow attempt and the call goes on: two
/// attempts hang, the third answers.
#[tokio::test(start_paused = true)]
async fn attempt_timeout_cuts_and_retries() {
    let b = breaker();
    let retry = Retry::builder()
        .max_attempts(3)
        .constant_backoff(10 * MS)
        .jitter(Jitter::None)
        .attempt_timeout(100 * MS)
        .build()
        .unwrap();
    let guard = Guard::new(Arc::clone(&b), retry).with_sleeper(TokioSleeper);
    let calls = Arc::new(AtomicU32::new(0));
    let inner = service_fn({
        let calls = Arc::clone(&calls);
        move |req: u32| {
            let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                if n < 3 {
                    pending::<()>().await;
                }
                Ok::<u32, &str>(req)
            }
        }
    });
    let mut svc = GuardLayer::new(guard).layer(inner);
    let start = Instant::now();
    let r: Res = svc.ready().await.unwrap().call(7).await;
    assert_eq!(r, Ok(7));
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    assert_eq!(start.elapsed(), 2 * 100 * MS + 2 * 10 * MS);
    assert_eq!(b.snapshot().samples, 3);

    // Every attempt hangs: `Exhausted` with no last error (all were cut).
    let hangs = service_fn(|_: u32| async {
        pending::<()>().await;
        Ok::<u32, &str>(0)
    });
    let retry = Retry::builder()
        .max_attempts(2)
        .constant_backoff(10 * MS)
        .jitter(Jitter::None)
        .attempt_timeout(100 * MS)
        .build()
        .unwrap();
    let guard = Guard::new(breaker(), retry).with_sleeper(TokioSleeper);
    let r: Res = GuardLayer::new(guard).layer(hangs).oneshot(1).await;
    assert_eq!(
        r,
        Err(GuardError::Exhausted {
            attempts: 2,
            last: None
        })
    );
}

fn half_open(clock: &ManualClock) -> Arc<Breaker> {
    let b = Arc::new(
        Breaker::builder()
            .trip_after_consecutive_failures(1)
            .open_for(SEC)
            .open_jitter(0.0)
            .probes(1)
            .close_after(1)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let _ = b.try_acquire().unwrap().record(Verdict::failure());
    clock.advance(SEC);
    b
}

/// Dropping the response future mid-attempt is a cancellation: the half-open
/// probe's permit is dropped unrecorded, the slot is free for the next call.
#[tokio::test(start_paused = true)]
async fn dropping_the_future_mid_attempt_frees_the_probe_slot() {
    let clock = ManualClock::new();
    let b = half_open(&clock);
    let guard = Guard::new(Arc::clone(&b), retry(3, SEC)).with_sleeper(TokioSleeper);
    let hang = Arc::new(AtomicU32::new(1));
    let inner = service_fn({
        let hang = Arc::clone(&hang);
        move |req: u32| {
            let hang = hang.load(Ordering::Relaxed) == 1;
            async move {
                if hang {
                    pending::<()>().await;
                }
                Ok::<u32, &str>(req)
            }
        }
    });
    let mut svc = GuardLayer::new(guard).layer(inner);
    let future = svc.ready().await.unwrap().call(1);
    let mut future = Box::pin(future);
    // Polled once: the probe is in flight.
    let waker = std::task::Waker::noop();
    assert!(
        future
            .as_mut()
            .poll(&mut Context::from_waker(waker))
            .is_pending()
    );
    let s = b.snapshot();
    assert_eq!((s.state, s.probes_in_flight), (State::HalfOpen, 1));
    // A second call now is refused: the one probe slot is taken.
    let r: Res = svc.ready().await.unwrap().call(2).await;
    assert!(matches!(
        r,
        Err(GuardError::Rejected {
            rejected: Rejected::ProbesBusy,
            ..
        })
    ));

    drop(future);
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.probes_in_flight, s.probe_successes),
        (State::HalfOpen, 0, 0),
        "cancelled: slot freed, no health signal"
    );
    hang.store(0, Ordering::Relaxed);
    let r: Res = svc.ready().await.unwrap().call(9).await;
    assert_eq!(r, Ok(9));
    assert_eq!(
        b.snapshot().state,
        State::Closed,
        "the next probe closed it"
    );
}

/// Dropped mid-backoff: nothing is held during the sleep; the failed attempt
/// before it was recorded and no other attempt is made.
#[tokio::test(start_paused = true)]
async fn dropping_the_future_mid_backoff_leaks_nothing() {
    let b = breaker();
    let guard = Guard::new(Arc::clone(&b), retry(3, 60 * SEC)).with_sleeper(TokioSleeper);
    let calls = Arc::new(AtomicU32::new(0));
    let mut svc = GuardLayer::new(guard).layer(counting(calls.clone(), |_, _| Err("down")));
    let future = svc.ready().await.unwrap().call(1);
    let r = tokio::time::timeout(SEC, future).await;
    assert!(r.is_err(), "dropped during the 60 s backoff");
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.samples, s.probes_in_flight),
        (State::Closed, 1, 0)
    );
    assert_eq!(Arc::strong_count(&b), 2, "no permit outlives the future");
}

/// A request type that cannot be cloned, with a policy that says so: one
/// attempt, `Exhausted`, and nothing withdrawn from the budget.
#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_be_cloned_gets_one_attempt() {
    struct Upload(#[allow(dead_code)] Vec<u8>);
    let budget = Arc::new(RetryBudget::builder().build().unwrap());
    let guard = Guard::new(breaker(), retry(5, SEC))
        .with_budget(Arc::clone(&budget))
        .with_sleeper(TokioSleeper);
    let calls = Arc::new(AtomicU32::new(0));
    let inner = service_fn({
        let calls = Arc::clone(&calls);
        move |_: Upload| {
            calls.fetch_add(1, Ordering::Relaxed);
            ready(Err::<u32, &str>("reset"))
        }
    });
    let mut svc = GuardLayer::new(guard)
        .clone_requests_with(|_: &Upload| None)
        .layer(inner);
    let before = budget.balance();
    let r: Res = svc.ready().await.unwrap().call(Upload(vec![1, 2, 3])).await;
    assert_eq!(
        r,
        Err(GuardError::Exhausted {
            attempts: 1,
            last: Some("reset")
        })
    );
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert!(budget.balance() >= before, "no retry token withdrawn");
}

/// A policy that can copy a request once: two attempts, then the call ends.
#[tokio::test(start_paused = true)]
async fn a_policy_that_stops_copying_ends_the_retries() {
    let guard = Guard::new(breaker(), retry(5, SEC)).with_sleeper(TokioSleeper);
    let copies = Arc::new(AtomicU32::new(0));
    let policy = {
        let copies = Arc::clone(&copies);
        move |req: &u32| (copies.fetch_add(1, Ordering::Relaxed) == 0).then_some(*req)
    };
    let calls = Arc::new(AtomicU32::new(0));
    let mut svc = GuardLayer::new(guard)
        .clone_requests_with(policy)
        .layer(counting(calls.clone(), |_, _| Err("down")));
    let r: Res = svc.ready().await.unwrap().call(1).await;
    assert_eq!(
        r,
        Err(GuardError::Exhausted {
            attempts: 2,
            last: Some("down")
        })
    );
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    assert_eq!(
        copies.load(Ordering::Relaxed),
        2,
        "asked before each attempt but the last"
    );
}

/// The last attempt allowed is never copied for: with `max_attempts(1)` the
/// policy is not even asked.
#[tokio::test(start_paused = true)]
async fn no_copy_when_no_retry_is_allowed() {
    let guard = Guard::new(breaker(), retry(1, SEC)).with_sleeper(TokioSleeper);
    let copies = Arc::new(AtomicU32::new(0));
    let policy = {
        let copies = Arc::clone(&copies);
        move |req: &u32| {
            copies.fetch_add(1, Ordering::Relaxed);
            Some(*req)
        }
    };
    let calls = Arc::new(AtomicU32::new(0));
    let svc = GuardLayer::new(guard)
        .clone_requests_with(policy)
        .layer(counting(calls.clone(), |_, req| Ok(req)));
    let r: Res = svc.oneshot(5).await;
    assert_eq!(r, Ok(5));
    assert_eq!(copies.load(Ordering::Relaxed), 0);
}

/// `on_stop` sees every call's stop reason, an `Ok` the classifier called a
/// failure included (returned as `Ok`, reported as `Exhausted`).
#[tokio::test(start_paused = true)]
async fn stop_reasons_are_reported() {
    let b = Arc::new(
        Breaker::builder()
            .trip_after_consecutive_failures(4)
            .open_for(60 * SEC)
            .build()
            .unwrap(),
    );
    // `Ok(503)` is a retryable failure, `Ok(404)` no signal, other `Ok`s succeed.
    let classify = |r: &Result<u32, &'static str>| match r {
        Ok(503) | Err(_) => Classification::failure(),
        Ok(404) => Classification::Ignored,
        Ok(_) => Classification::Success,
    };
    let guard = Guard::new(Arc::clone(&b), retry(3, MS))
        .with_classifier(classify)
        .with_sleeper(TokioSleeper);
    type Seen = Vec<(Stop, u32, Option<u32>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let on_stop = {
        let seen = Arc::clone(&seen);
        move |o: &Outcome<u32, &'static str>| {
            seen.lock()
                .unwrap()
                .push((o.stop, o.attempts, o.value().copied()))
        }
    };
    let calls = Arc::new(AtomicU32::new(0));
    let inner = counting(
        calls.clone(),
        |_, req| if req == 0 { Err("down") } else { Ok(req) },
    );
    let mut svc = ServiceBuilder::new()
        .layer(GuardLayer::new(guard).on_stop(on_stop))
        .service(inner);

    let mut call = async |req: u32| -> Res { svc.ready().await.unwrap().call(req).await };
    assert_eq!(call(200).await, Ok(200));
    assert_eq!(call(404).await, Ok(404));
    assert_eq!(call(503).await, Ok(503), "the response is still returned");
    assert_eq!(call(0).await.unwrap_err().stop(), Stop::RejectedMidCall);
    assert_eq!(call(200).await.unwrap_err().stop(), Stop::Rejected);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (Stop::Succeeded, 1, Some(200)),
            (Stop::Ignored, 1, Some(404)),
            (Stop::Exhausted, 3, Some(503)),
            (Stop::RejectedMidCall, 1, None),
            (Stop::Rejected, 0, None),
        ]
    );
    assert_eq!(
        calls.load(Ordering::Relaxed),
        6,
        "the rejected call made none"
    );
}

/// Timed attempts (a slow-call threshold): a slow success is a failure for the
/// breaker, and still the call's `Ok`.
#[tokio::test(start_paused = true)]
async fn slow_success_counts_against_the_breaker() {
    let clock = ManualClock::new();
    let b = Arc::new(
        Breaker::builder()
            .trip_after_consecutive_failures(100)
            .slow_call(50 * MS, 1.0)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let guard = Guard::new(Arc::clone(&b), retry(3, MS)).with_sleeper(TokioSleeper);
    let inner = service_fn(move |req: u32| {
        let clock = clock.clone();
        async move {
            clock.advance(200 * MS); // the downstream took 200 ms (breaker clock)
            Ok::<u32, &str>(req)
        }
    });
    let r: Res = GuardLayer::new(guard).layer(inner).oneshot(3).await;
    assert_eq!(r, Ok(3), "one attempt: the classifier saw a success");
    let s = b.snapshot();
    assert_eq!(s.samples, 1);
    assert!(
        s.health.unwrap() < 1.0,
        "the slow success counted as a failure"
    );
}

/// A service whose `poll_ready` fails on its `fail_at`-th readiness check, and
/// whose calls fail.
#[derive(Clone)]
struct Unready {
    checks: Arc<AtomicU32>,
    calls: Arc<AtomicU32>,
    fail_at: u32,
}

impl Service<u32> for Unready {
    type Response = u32;
    type Error = &'static str;
    type Future = std::future::Ready<Result<u32, &'static str>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), &'static str>> {
        let n = self.checks.fetch_add(1, Ordering::Relaxed) + 1;
        Poll::Ready(if n == self.fail_at {
            Err("broken")
        } else {
            Ok(())
        })
    }
    fn call(&mut self, _: u32) -> Self::Future {
        self.calls.fetch_add(1, Ordering::Relaxed);
        ready(Err("down"))
    }
}

/// Each retry waits for its own clone's `poll_ready`; a readiness error ends
/// the call (`Permanent`, reported) without another attempt. The caller's own
/// `poll_ready` error is the inner one as `Permanent` with no attempt.
#[tokio::test(start_paused = true)]
async fn retries_poll_ready_first_and_a_readiness_error_ends_the_call() {
    let b = breaker();
    let guard = Guard::new(Arc::clone(&b), retry(5, MS)).with_sleeper(TokioSleeper);
    let stops = Arc::new(Mutex::new(Vec::new()));
    let layer = GuardLayer::new(guard).on_stop({
        let stops = Arc::clone(&stops);
        move |o: &Outcome<u32, &'static str>| stops.lock().unwrap().push(o.stop)
    });
    let inner = Unready {
        checks: Arc::default(),
        calls: Arc::default(),
        fail_at: 3,
    };
    let mut svc = layer.layer(inner.clone());
    let r: Res = svc.ready().await.unwrap().call(1).await;
    assert_eq!(
        r,
        Err(GuardError::Permanent {
            attempts: 2,
            error: "broken"
        })
    );
    // Readiness checks: the caller's, the first retry's, the second retry's (fails).
    assert_eq!(inner.checks.load(Ordering::Relaxed), 3);
    assert_eq!(inner.calls.load(Ordering::Relaxed), 2);
    assert_eq!(
        b.snapshot().samples,
        2,
        "the readiness error is no health signal"
    );
    assert_eq!(*stops.lock().unwrap(), [Stop::Permanent]);

    let mut svc = GuardLayer::new(Guard::new(breaker(), retry(2, MS)).with_sleeper(TokioSleeper))
        .layer(Unready {
            checks: Arc::default(),
            calls: Arc::default(),
            fail_at: 1,
        });
    let r = svc.ready().await.map(|_| ());
    assert_eq!(
        r.unwrap_err(),
        GuardError::Permanent {
            attempts: 0,
            error: "broken"
        }
    );
}

/// The response future is `Send + 'static`: it runs on spawned tasks, many at
/// once, sharing one breaker.
#[tokio::test]
async fn the_future_is_spawnable() {
    let b = breaker();
    let guard = Guard::new(Arc::clone(&b), retry(3, MS)).with_sleeper(TokioSleeper);
    let calls = Arc::new(AtomicU32::new(0));
    let svc = GuardLayer::new(guard).layer(counting(calls.clone(), |n, req| {
        // The first attempt of the first 32 tasks fails; their retries come later.
        if n <= 32 { Err("flaky") } else { Ok(req) }
    }));
    let mut tasks = Vec::new();
    for i in 0..64u32 {
        let mut svc = svc.clone();
        tasks.push(tokio::spawn(async move {
            let r: Res = svc.ready().await.unwrap().call(i).await;
            r
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), Ok(i as u32));
    }
    assert_eq!(
        calls.load(Ordering::Relaxed),
        64 + 32,
        "32 calls were retried once"
    );
    assert_eq!(Arc::strong_count(&b), 2, "every permit released");
}

/// A stop before any attempt resolves on the first poll, and the future
/// reports `Debug` without needing the inner types to.
#[tokio::test]
async fn a_rejected_future_is_ready_at_once() {
    let b = breaker();
    b.force_open();
    let guard = Guard::new(Arc::clone(&b), retry(3, MS)).with_sleeper(TokioSleeper);
    let mut svc = GuardLayer::new(guard).layer(service_fn(|_: u32| pending::<Result<u32, ()>>()));
    let mut future = Box::pin(svc.call(1));
    assert!(format!("{future:?}").contains("stopped"));
    let poll = future
        .as_mut()
        .poll(&mut Context::from_waker(std::task::Waker::noop()));
    assert!(matches!(
        poll,
        Poll::Ready(Err(GuardError::Rejected {
            rejected: Rejected::ForcedOpen,
            ..
        }))
    ));
    let _: &Pin<Box<_>> = &future;
}

/// The breaker's clock on tokio's (paused) time, so that the deadline, measured
/// on the breaker's clock, agrees with the sleeps and the readiness waits.
struct TokioClock(Instant);

impl fusebox::Clock for TokioClock {
    fn now_nanos(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A service whose first readiness check is immediate and every later one
/// takes `wait` of tokio time (a pool exhausted, a rate limiter below this
/// layer), and whose calls fail at once.
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

/// A retry whose `poll_ready` outlasts the deadline is not sent: local
/// back-pressure must not be blamed on the downstream. The first attempt fails,
/// the 10 ms backoff ends, the retry's readiness takes 2 s of a 1 s deadline:
/// the call stops with `DeadlineExceeded` and the first error, the inner
/// service is called once, and the breaker (which trips on two failures) has
/// recorded one.
#[tokio::test(start_paused = true)]
async fn a_retry_readied_past_the_deadline_is_not_sent() {
    let b = Arc::new(
        Breaker::builder()
            .clock(TokioClock(Instant::now()))
            .trip_after_consecutive_failures(2)
            .build()
            .unwrap(),
    );
    let retry = Retry::builder()
        .max_attempts(3)
        .constant_backoff(10 * MS)
        .jitter(Jitter::None)
        .deadline(SEC)
        .build()
        .unwrap();
    let guard = Guard::new(Arc::clone(&b), retry).with_sleeper(TokioSleeper);
    let stops = Arc::new(Mutex::new(Vec::new()));
    let layer = GuardLayer::new(guard).on_stop({
        let stops = Arc::clone(&stops);
        move |o: &Outcome<u32, &'static str>| stops.lock().unwrap().push((o.stop, o.attempts))
    });
    let inner = SlowReady {
        wait: 2 * SEC,
        checks: Arc::default(),
        calls: Arc::default(),
        sleep: None,
    };
    let mut svc = layer.layer(inner.clone());
    let start = Instant::now();
    let r: Res = svc.ready().await.unwrap().call(1).await;
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
    assert_eq!(inner.checks.load(Ordering::Relaxed), 2);
    assert_eq!(start.elapsed(), 2 * SEC + 10 * MS, "stopped once ready");
    let s = b.snapshot();
    assert_eq!((s.state, s.samples), (State::Closed, 1), "one failure");
    assert_eq!(*stops.lock().unwrap(), [(Stop::DeadlineExceeded, 1)]);
}

/// Dropping the response future while a *retry* is in flight cancels that
/// retry's permit: here the retry is the half-open probe (the first attempt
/// failed and tripped the breaker, whose open period ended during the
/// backoff), and dropping the future frees its slot.
#[tokio::test(start_paused = true)]
async fn dropping_the_future_mid_retry_frees_the_probe_slot() {
    let clock = ManualClock::new();
    let b = Arc::new(
        Breaker::builder()
            .trip_after_consecutive_failures(1)
            .open_for(SEC)
            .open_jitter(0.0)
            .probes(1)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let guard = Guard::new(Arc::clone(&b), retry(3, 2 * SEC)).with_sleeper(TokioSleeper);
    // The first attempt fails; the second hangs.
    let calls = Arc::new(AtomicU32::new(0));
    let inner = service_fn({
        let calls = Arc::clone(&calls);
        move |_: u32| {
            let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                if n == 1 {
                    return Err("down");
                }
                pending::<()>().await;
                Ok::<u32, &str>(n)
            }
        }
    });
    let mut svc = GuardLayer::new(guard).layer(inner);
    let mut future = Box::pin(svc.ready().await.unwrap().call(1));
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    assert!(future.as_mut().poll(&mut cx).is_pending(), "backing off");
    assert_eq!(b.snapshot().state, State::Open, "the failure tripped it");
    // The backoff (2 s) outlasts the open period (1 s): then the retry is the
    // first probe.
    clock.advance(2 * SEC);
    tokio::time::advance(2 * SEC).await;
    assert!(
        future.as_mut().poll(&mut cx).is_pending(),
        "the retry hangs"
    );
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    let s = b.snapshot();
    assert_eq!((s.state, s.probes_in_flight), (State::HalfOpen, 1));
    assert!(format!("{future:?}").contains("attempting"));

    drop(future);
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.probes_in_flight, s.probe_successes),
        (State::HalfOpen, 0, 0),
        "cancelled: the retry's slot freed, no health signal"
    );
    assert_eq!(Arc::strong_count(&b), 2, "the guard's and ours");
}

/// A call writes no reference count that other calls share: the response
/// futures of a service hold its own handle on the guard (one per service
/// clone), not a clone of the guard's `Arc`, nor of the breaker's (their
/// permits are held beside the handle). A clone works on its parent's handle
/// for its first call and makes its own at its second.
#[tokio::test]
async fn calls_in_flight_hold_no_shared_reference_count() {
    let b = breaker();
    let guard = Guard::new(Arc::clone(&b), retry(3, MS)).with_sleeper(TokioSleeper);
    let mut svc = GuardLayer::new(guard).layer(service_fn(|_: u32| pending::<Res>()));
    let guard_count = Arc::strong_count(svc.guard());
    let breaker_count = Arc::strong_count(&b);
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    let mut in_flight = Vec::new();
    for i in 0..8 {
        let mut future = Box::pin(svc.call(i));
        assert!(future.as_mut().poll(&mut cx).is_pending());
        in_flight.push(future);
    }
    assert_eq!(Arc::strong_count(svc.guard()), guard_count, "the guard's");
    assert_eq!(Arc::strong_count(&b), breaker_count, "the breaker's");

    let mut clone = svc.clone();
    assert!(Arc::ptr_eq(clone.guard(), svc.guard()), "one guard");
    in_flight.push(Box::pin(clone.call(8)));
    assert_eq!(
        Arc::strong_count(svc.guard()),
        guard_count,
        "the parent's handle"
    );
    in_flight.push(Box::pin(clone.call(9)));
    assert_eq!(
        Arc::strong_count(svc.guard()),
        guard_count + 1,
        "the clone's own handle, made at its second call"
    );
    for i in 10..16 {
        in_flight.push(Box::pin(clone.call(i)));
    }
    assert_eq!(Arc::strong_count(svc.guard()), guard_count + 1);
    assert_eq!(Arc::strong_count(&b), breaker_count);

    drop(in_flight);
    drop(clone);
    assert_eq!(Arc::strong_count(svc.guard()), guard_count);
    assert_eq!(b.snapshot().probes_in_flight, 0);
}

/// The first attempt's future holds what that attempt needs: the inner
/// service's future, the timer it may race (inline, so that a call with a
/// deadline allocates nothing), and a few words (the service's handle and the
/// attempt's ticket, when it began, the copies a retry would resend); the
/// retry machinery's state is made at the first retry.
#[tokio::test]
async fn the_first_attempts_future_is_small() {
    let guard = Guard::new(breaker(), Retry::default()).with_sleeper(TokioSleeper);
    let mut svc = GuardLayer::new(guard).layer(service_fn(|x: u32| ready(Ok::<u32, &str>(x))));
    let future = svc.call(1);
    let inner = std::mem::size_of::<std::future::Ready<Result<u32, &str>>>();
    let timer = std::mem::size_of::<Option<tokio::time::Sleep>>();
    let words = (std::mem::size_of_val(&future) - inner - timer) / std::mem::size_of::<usize>();
    assert!(
        words <= 12,
        "{} bytes: the inner future ({inner}), the timer ({timer}) and {words} words",
        std::mem::size_of_val(&future)
    );
    assert_eq!(future.await, Ok(1));
}
