//! Feature `metrics`: what the counters and gauges say, read from a recorder
//! of the test's own. The denominator (first-attempt successes counted on
//! request, on every way of calling), its exactness after an export from many
//! threads, and `fusebox_health` while the breaker does not measure health.
#![cfg(feature = "metrics")]

mod metrics_support;

use fusebox::{
    Breaker, Classification, Classify, Guard, GuardError, Jitter, ManualClock, ManualSleeper,
    Retry, Verdict,
};
use metrics_support::store;
use std::sync::Arc;
use std::time::Duration;

fn named(name: &str, clock: &ManualClock) -> Arc<Breaker> {
    Arc::new(
        Breaker::builder()
            .name(name)
            .trip_after_consecutive_failures(5)
            .clock(clock.clone())
            .build()
            .unwrap(),
    )
}

fn retry(attempts: u32) -> Retry {
    Retry::builder()
        .max_attempts(attempts)
        .constant_backoff(Duration::from_millis(1))
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

/// `n` calls that succeed at once, `retried` that succeed on their second
/// attempt, and one that exhausts its two attempts.
fn drive(guard: &Guard<fusebox::DefaultClassifier, ManualSleeper>, n: u32, retried: u32) {
    for _ in 0..n {
        let r: Result<u32, GuardError<&str>> = guard.call(|a| Ok(a.number));
        assert_eq!(r, Ok(1));
    }
    for _ in 0..retried {
        let r: Result<u32, GuardError<&str>> =
            guard.call(|a| if a.number == 1 { Err("flaky") } else { Ok(2) });
        assert_eq!(r, Ok(2));
    }
    let r: Result<u32, GuardError<&str>> = guard.call(|_| Err("down"));
    assert!(r.is_err());
}

fn calls(name: &str, stop: &str) -> u64 {
    store().counter(&format!(
        "fusebox_calls_total{{breaker={name},stop={stop}}}"
    ))
}

/// Every call by stop, summed: what `sum(rate(fusebox_calls_total))` adds up.
fn all_calls(name: &str) -> u64 {
    fusebox::Stop::ALL
        .iter()
        .map(|stop| calls(name, stop.as_str()))
        .sum()
}

#[test]
fn without_the_opt_in_first_attempt_successes_are_not_counted() {
    let store = store();
    let clock = ManualClock::new();
    let breaker = named("uncounted", &clock);
    let guard = Guard::new(Arc::clone(&breaker), retry(2)).with_sleeper(ManualSleeper::new(clock));
    drive(&guard, 300, 3);
    fusebox::metrics::export(&breaker);
    assert_eq!(calls("uncounted", "succeeded"), 3, "the retried ones only");
    assert_eq!(calls("uncounted", "exhausted"), 1);
    assert_eq!(all_calls("uncounted"), 4, "not the 304 calls made");
    assert_eq!(
        store.gauge("fusebox_successes_counted{breaker=uncounted}"),
        0.0
    );
}

#[test]
fn with_the_opt_in_calls_total_counts_every_call() {
    let store = store();
    let clock = ManualClock::new();
    let breaker = named("counted", &clock);
    fusebox::metrics::count_successes(&breaker);
    fusebox::metrics::count_successes(&breaker); // idempotent
    assert_eq!(
        store.gauge("fusebox_successes_counted{breaker=counted}"),
        1.0
    );
    let guard = Guard::new(Arc::clone(&breaker), retry(2)).with_sleeper(ManualSleeper::new(clock));
    drive(&guard, 300, 3);
    // Before an export, the stripes may hold part of a batch.
    let before = calls("counted", "succeeded");
    assert!((3..=303).contains(&before), "{before}");
    fusebox::metrics::export(&breaker);
    assert_eq!(calls("counted", "succeeded"), 303, "300 at once, 3 retried");
    assert_eq!(all_calls("counted"), 304, "every call, once");
    // The error rate's one line: every stop but succeeded and ignored, over all.
    let errors = all_calls("counted") - calls("counted", "succeeded") - calls("counted", "ignored");
    assert_eq!(errors, 1);
    // An export with nothing new adds nothing.
    fusebox::metrics::export(&breaker);
    assert_eq!(all_calls("counted"), 304);
}

#[test]
fn an_export_makes_the_count_exact_across_threads() {
    store(); // the recorder first, as in a service
    let clock = ManualClock::new();
    let breaker = named("threads", &clock);
    fusebox::metrics::count_successes(&breaker);
    let guard = Guard::new(Arc::clone(&breaker), retry(1));
    const THREADS: u64 = 4;
    const CALLS: u64 = 10_001; // not a whole number of batches
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..CALLS {
                    let r: Result<(), GuardError<()>> = guard.call(|_| Ok(()));
                    assert!(r.is_ok());
                }
            });
        }
    });
    assert!(
        calls("threads", "succeeded") < THREADS * CALLS,
        "a batch is pending"
    );
    fusebox::metrics::export(&breaker);
    assert_eq!(calls("threads", "succeeded"), THREADS * CALLS);
}

/// A classifier that wants each attempt's time (so the guard times them).
struct WantsTime;

impl Classify<u8, ()> for WantsTime {
    fn classify(&self, r: &Result<u8, ()>) -> Classification {
        if r.is_ok() {
            Classification::Success
        } else {
            Classification::failure()
        }
    }
    fn wants_elapsed(&self) -> bool {
        true
    }
}

#[test]
fn every_way_of_calling_counts_its_first_attempt_success() {
    store();
    let clock = ManualClock::new();
    // Timed attempts (a slow-call threshold): the success goes through the
    // timed loop's `after_record`.
    let timed = Arc::new(
        Breaker::builder()
            .name("timed")
            .slow_call(Duration::from_secs(1), 1.0)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    // A classifier that wants the time, on another breaker: the same loop.
    let classified = named("classified", &clock);
    let lean = named("async-lean", &clock);
    let deadline = named("async-deadline", &clock);
    for b in [&timed, &classified, &lean, &deadline] {
        fusebox::metrics::count_successes(b);
    }
    let guard = Guard::new(Arc::clone(&timed), retry(2));
    let r: Result<u8, GuardError<()>> = guard.call(|_| Ok(1));
    assert_eq!(r, Ok(1));
    let guard = Guard::new(Arc::clone(&classified), retry(2)).with_classifier(WantsTime);
    let r: Result<u8, GuardError<()>> = guard.call(|_| Ok(1));
    assert_eq!(r, Ok(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let sleeper = ManualSleeper::new(clock.clone());
    // No time limit: the async lean first attempt.
    let guard = Guard::new(Arc::clone(&lean), retry(2)).with_sleeper(sleeper.clone());
    let r: Result<u8, GuardError<()>> = runtime.block_on(guard.call_async(|_| async { Ok(1) }));
    assert_eq!(r, Ok(1));
    // A deadline: the general async loop.
    let with_deadline = Retry::builder()
        .max_attempts(2)
        .deadline(Duration::from_secs(5))
        .build()
        .unwrap();
    let guard = Guard::new(Arc::clone(&deadline), with_deadline).with_sleeper(sleeper);
    let r: Result<u8, GuardError<()>> = runtime.block_on(guard.call_async(|_| async { Ok(1) }));
    assert_eq!(r, Ok(1));
    for b in [&timed, &classified, &lean, &deadline] {
        fusebox::metrics::export(b);
        assert_eq!(calls(b.name(), "succeeded"), 1, "{}", b.name());
        assert_eq!(all_calls(b.name()), 1, "{}", b.name());
    }
}

#[cfg(feature = "tower")]
#[test]
fn the_tower_layer_counts_its_first_attempt_success() {
    use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
    store();
    let clock = ManualClock::new();
    let breaker = named("layer", &clock);
    fusebox::metrics::count_successes(&breaker);
    let guard = Guard::new(Arc::clone(&breaker), retry(2)).with_sleeper(ManualSleeper::new(clock));
    let mut svc = ServiceBuilder::new()
        .layer(fusebox::tower::GuardLayer::new(guard))
        .service(service_fn(|req: u32| {
            std::future::ready(Ok::<u32, ()>(req + 1))
        }));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for i in 0..3 {
        let r: Result<u32, GuardError<()>> =
            runtime.block_on(async { svc.ready().await?.call(i).await });
        assert_eq!(r, Ok(i + 1));
    }
    fusebox::metrics::export(&breaker);
    assert_eq!(calls("layer", "succeeded"), 3);
    assert_eq!(all_calls("layer"), 3);
}

#[test]
fn health_is_zero_while_not_measured_and_follows_the_transitions() {
    let store = store();
    let clock = ManualClock::new();
    let breaker = Breaker::builder()
        .name("gauge")
        .trip_after_consecutive_failures(2)
        .open_for(Duration::from_secs(1))
        .open_jitter(0.0)
        .probes(1)
        .close_after(1)
        .clock(clock.clone())
        .build()
        .unwrap();
    let health = || store.gauge("fusebox_health{breaker=gauge}");
    let state = || store.gauge("fusebox_state{breaker=gauge}");
    let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
    fusebox::metrics::export(&breaker);
    let below = health();
    assert!(below > 0.0 && below < 1.0, "{below}");
    let _ = breaker.try_acquire().unwrap().record(Verdict::failure()); // trips
    assert_eq!(state(), 1.0, "open");
    assert_eq!(health(), 0.0, "set on the transition");
    // The snapshot has the health it tripped at; the gauge does not.
    assert!(breaker.snapshot().health.is_some());
    fusebox::metrics::export(&breaker);
    assert_eq!(health(), 0.0, "and by an export while open");
    assert!(health().is_finite());
    clock.advance(Duration::from_secs(2));
    let probe = breaker.try_acquire().unwrap(); // open -> half-open
    assert_eq!((state(), health()), (2.0, 0.0), "half-open");
    let _ = probe.record(Verdict::Success); // half-open -> closed
    assert_eq!(state(), 0.0, "closed");
    let closed = breaker.snapshot().health.unwrap();
    assert_eq!(health(), closed, "measured again, on the transition");
    breaker.force_open();
    assert_eq!((state(), health()), (3.0, 0.0), "forced open");
    breaker.disable();
    fusebox::metrics::export(&breaker);
    assert_eq!(state(), 4.0, "disabled");
    assert_eq!(
        health(),
        breaker.snapshot().health.unwrap(),
        "disabled measures"
    );
}

#[test]
fn a_guard_built_before_the_opt_in_counts_from_then_on() {
    store();
    let clock = ManualClock::new();
    let breaker = named("late", &clock);
    let guard = Guard::new(Arc::clone(&breaker), retry(2)).with_sleeper(ManualSleeper::new(clock));
    let call = || {
        let r: Result<u8, GuardError<()>> = guard.call(|_| Ok(1));
        assert_eq!(r, Ok(1));
    };
    call();
    fusebox::metrics::export(&breaker);
    assert_eq!(calls("late", "succeeded"), 0, "not counted yet");
    fusebox::metrics::count_successes(&breaker);
    call();
    call();
    fusebox::metrics::export(&breaker);
    assert_eq!(calls("late", "succeeded"), 2, "the same guard, counted now");
}

/// Answers every request with a canned 200, below the guard: no network.
#[cfg(feature = "reqwest")]
struct Canned;

/// The trait is declared with `#[async_trait]`; without the macro (not a
/// dependency here), an impl writes out the method it expands to.
#[cfg(feature = "reqwest")]
impl reqwest_middleware::Middleware for Canned {
    fn handle<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        _: reqwest::Request,
        _: &'life1 mut http::Extensions,
        _: reqwest_middleware::Next<'life2>,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = reqwest_middleware::Result<reqwest::Response>>
                + Send
                + 'async_trait,
        >,
    >
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async { Ok(http::Response::new("ok").into()) })
    }
}

#[cfg(feature = "reqwest")]
#[test]
fn the_reqwest_middleware_counts_its_first_attempt_success() {
    use fusebox::TokioSleeper;
    use fusebox::reqwest::{GuardMiddleware, ReqwestClassifier};
    store();
    let clock = ManualClock::new();
    let breaker = named("reqwest-middleware", &clock);
    fusebox::metrics::count_successes(&breaker);
    let guard = Guard::new(Arc::clone(&breaker), retry(2))
        .with_classifier(ReqwestClassifier::new())
        .with_sleeper(TokioSleeper);
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(GuardMiddleware::new(guard))
        .with(Canned)
        .build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    for _ in 0..3 {
        let response = runtime
            .block_on(client.get("http://inventory.invalid/").send())
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    fusebox::metrics::export(&breaker);
    assert_eq!(calls("reqwest-middleware", "succeeded"), 3);
    assert_eq!(all_calls("reqwest-middleware"), 3);
}
