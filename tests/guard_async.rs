//! `Guard::call_async` on tokio (feature `tokio`), including cancellation at every
//! await point.
#![cfg(feature = "tokio")]

use fusebox::{
    Breaker, Guard, GuardError, Jitter, ManualClock, Retry, State, TokioSleeper, Verdict,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const SEC: Duration = Duration::from_secs(1);

fn retry(max_attempts: u32, backoff: Duration) -> Retry {
    Retry::builder()
        .max_attempts(max_attempts)
        .constant_backoff(backoff)
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

type Res = Result<u32, GuardError<&'static str>>;

/// Retries on tokio's (paused, auto-advancing) timer and succeeds.
#[tokio::test(start_paused = true)]
async fn retries_on_tokio_time() {
    let b = Arc::new(Breaker::builder().build().unwrap());
    let guard = Guard::new(Arc::clone(&b), retry(3, 10 * SEC)).with_sleeper(TokioSleeper);
    let start = tokio::time::Instant::now();
    let calls = AtomicU32::new(0);
    let r: Res = guard
        .call_async(|a| {
            calls.fetch_add(1, Ordering::Relaxed);
            async move {
                if a.number < 3 {
                    Err("flaky")
                } else {
                    Ok(a.number)
                }
            }
        })
        .await;
    assert_eq!(r, Ok(3));
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    assert_eq!(start.elapsed(), 20 * SEC, "slept 2 × 10 s of tokio time");
    assert_eq!(b.snapshot().samples, 3);
}

/// The future is `Send` (it can be spawned on a multi-threaded runtime).
#[tokio::test]
async fn call_async_future_is_send() {
    let b = Arc::new(Breaker::builder().build().unwrap());
    let guard =
        Arc::new(Guard::new(b, retry(2, Duration::from_millis(1))).with_sleeper(TokioSleeper));
    let handle = tokio::spawn(async move {
        let r: Res = guard.call_async(|a| async move { Ok(a.number) }).await;
        r
    });
    assert_eq!(handle.await.unwrap(), Ok(1));
}

fn half_open(clock: &ManualClock) -> Arc<Breaker> {
    let b = Arc::new(
        Breaker::builder()
            .trip_after_consecutive_failures(1)
            .open_for(SEC)
            .open_jitter(0.0)
            .close_after(1)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let _ = b.try_acquire().unwrap().record(Verdict::failure());
    clock.advance(SEC);
    b
}

/// Cancelled mid-attempt (the future is dropped while the operation is pending):
/// the probe permit is dropped unrecorded, its slot freed, no health signal.
#[tokio::test(start_paused = true)]
async fn cancelled_mid_attempt_frees_the_probe_slot() {
    let clock = ManualClock::new();
    let b = half_open(&clock);
    let guard = Guard::new(Arc::clone(&b), retry(3, SEC)).with_sleeper(TokioSleeper);
    let r = tokio::time::timeout(
        SEC,
        guard.call_async(|_| async {
            std::future::pending::<()>().await;
            Ok::<u32, &str>(1)
        }),
    )
    .await;
    assert!(
        r.is_err(),
        "timed out: the call future was dropped mid-attempt"
    );
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.probes_in_flight, s.probe_successes),
        (State::HalfOpen, 0, 0)
    );
    let r: Res = guard.call_async(|_| async { Ok(9) }).await;
    assert_eq!(r, Ok(9));
    assert_eq!(b.snapshot().state, State::Closed);
}

/// Cancelled mid-sleep: nothing is held during a sleep, so nothing leaks; the
/// failed attempt before it was recorded.
#[tokio::test(start_paused = true)]
async fn cancelled_mid_sleep_leaks_nothing() {
    let b = Arc::new(
        Breaker::builder()
            .trip_after_consecutive_failures(10)
            .build()
            .unwrap(),
    );
    let guard = Guard::new(Arc::clone(&b), retry(3, 60 * SEC)).with_sleeper(TokioSleeper);
    let attempts = AtomicU32::new(0);
    let r = tokio::time::timeout(
        SEC,
        guard.call_async(|_| {
            attempts.fetch_add(1, Ordering::Relaxed);
            async { Err::<u32, &str>("down") }
        }),
    )
    .await;
    assert!(r.is_err(), "timed out during the 60 s backoff");
    assert_eq!(attempts.load(Ordering::Relaxed), 1);
    let s = b.snapshot();
    assert_eq!((s.state, s.samples), (State::Closed, 1));
    assert!(s.health.unwrap() < 1.0);
}

/// A panicking async operation propagates and leaves the breaker consistent.
#[tokio::test(start_paused = true)]
async fn panicking_async_attempt_frees_the_probe_slot() {
    let clock = ManualClock::new();
    let b = half_open(&clock);
    let guard = Arc::new(Guard::new(Arc::clone(&b), retry(3, SEC)).with_sleeper(TokioSleeper));
    let g = Arc::clone(&guard);
    let joined = tokio::spawn(async move {
        let _: Res = g.call_async(|_| async { panic!("client bug") }).await;
    })
    .await;
    assert!(joined.unwrap_err().is_panic());
    assert_eq!(b.snapshot().probes_in_flight, 0);
}

/// `call_async` times its attempts on the breaker's clock when a slow-call
/// threshold is set: a slow success is a failure for the breaker, and still the
/// call's `Ok`; a fast one is a success. (Without this test a `call_async` that
/// never timed its attempts passed the suite: a mutation-testing gap.)
#[tokio::test(start_paused = true)]
async fn a_slow_success_counts_against_the_breaker() {
    let clock = ManualClock::new();
    let b = Arc::new(
        Breaker::builder()
            .trip_after_consecutive_failures(100)
            .slow_call(Duration::from_millis(50), 1.0)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let guard = Guard::new(Arc::clone(&b), retry(3, SEC)).with_sleeper(TokioSleeper);
    let fast: Res = guard.call_async(|a| async move { Ok(a.number) }).await;
    assert_eq!(fast, Ok(1));
    assert_eq!(b.snapshot().health, Some(1.0), "a fast success");
    let slow: Res = guard
        .call_async(|a| {
            let clock = clock.clone();
            async move {
                clock.advance(Duration::from_millis(200)); // 200 ms on the breaker's clock
                Ok(a.number)
            }
        })
        .await;
    assert_eq!(slow, Ok(1), "one attempt: the classifier saw a success");
    let s = b.snapshot();
    assert_eq!(s.samples, 1);
    assert!(
        s.health.unwrap() < 1.0,
        "the slow success counted as a failure"
    );
}
