//! `HttpClassifier` driving a `Guard` over scripted responses, deterministically:
//! a `ManualClock` and a `ManualSleeper` that advances it instead of sleeping.
#![cfg(feature = "http")]

use fusebox::http::{HttpClassifier, guard_error_response};
use fusebox::{
    Breaker, Guard, GuardError, Jitter, ManualClock, ManualSleeper, Rejected, Retry, State,
};
use http::{Response, StatusCode};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

const BACKOFF: Duration = Duration::from_millis(100);

type Res = Result<Response<&'static str>, GuardError<&'static str>>;

fn breaker(clock: &ManualClock, trip_after: u32) -> Arc<Breaker> {
    Arc::new(
        Breaker::builder()
            .trip_after_consecutive_failures(trip_after)
            .open_for(Duration::from_secs(10))
            .open_jitter(0.0)
            .clock(clock.clone())
            .build()
            .unwrap(),
    )
}

fn retry(max_attempts: u32) -> Retry {
    Retry::builder()
        .max_attempts(max_attempts)
        .constant_backoff(BACKOFF)
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

fn guard(
    b: &Arc<Breaker>,
    retry: Retry,
    sleeper: &ManualSleeper,
) -> Guard<HttpClassifier, ManualSleeper> {
    Guard::new(Arc::clone(b), retry)
        .with_classifier(HttpClassifier::new())
        .with_sleeper(sleeper.clone())
}

fn respond(status: u16, retry_after: Option<&str>) -> Result<Response<&'static str>, &'static str> {
    let mut builder = Response::builder().status(status);
    if let Some(v) = retry_after {
        builder = builder.header("retry-after", v);
    }
    Ok(builder.body("body").unwrap())
}

fn health(b: &Breaker) -> f64 {
    b.snapshot().health.unwrap()
}

/// A 503 asking for 2 s, then a 200: the retry sleeps the server's 2 s (not its
/// own 100 ms backoff), the 503 counts against health, and the 200 is returned.
#[test]
fn retry_after_on_503_is_slept_then_200_returned() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 5);
    let sleeper = ManualSleeper::new(clock.clone());
    let g = guard(&b, retry(3), &sleeper);
    let r: Res = g.call(|a| {
        if a.number == 1 {
            respond(503, Some("2"))
        } else {
            respond(200, None)
        }
    });
    assert_eq!(r.unwrap().status(), StatusCode::OK);
    assert_eq!(sleeper.sleeps(), 1);
    assert!(
        sleeper.slept() >= Duration::from_secs(2),
        "{:?}",
        sleeper.slept()
    );
    assert_eq!(clock.now(), Duration::from_secs(2));
    let s = b.snapshot();
    assert_eq!(s.samples, 2, "both attempts were health signals");
    assert!(s.health.unwrap() < 1.0, "{s:?}");
}

/// The same with `Retry-After` on a 429: the hint is honoured too.
#[test]
fn retry_after_on_429_is_slept() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 5);
    let sleeper = ManualSleeper::new(clock.clone());
    let g = guard(&b, retry(3), &sleeper);
    let r: Res = g.call(|a| {
        if a.number == 1 {
            respond(429, Some("  7 "))
        } else {
            respond(204, None)
        }
    });
    assert_eq!(r.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(sleeper.slept(), Duration::from_secs(7));
}

/// A 4xx ends the call at once: one attempt, no sleep, the response returned,
/// and no health signal at all. 501 and 505 alike.
#[test]
fn client_errors_end_the_call_without_a_health_signal() {
    for status in [400, 401, 403, 404, 409, 422, 501, 505] {
        let clock = ManualClock::new();
        let b = breaker(&clock, 1);
        let sleeper = ManualSleeper::new(clock.clone());
        let g = guard(&b, retry(5), &sleeper);
        let calls = Cell::new(0);
        let r: Res = g.call(|_| {
            calls.set(calls.get() + 1);
            respond(status, Some("1"))
        });
        assert_eq!(r.unwrap().status().as_u16(), status);
        assert_eq!((calls.get(), sleeper.sleeps()), (1, 0), "{status}");
        let s = b.snapshot();
        assert_eq!((s.state, s.samples), (State::Closed, 0), "{status}: {s:?}");
        assert_eq!(s.health, Some(1.0), "{status}");
    }
}

/// 5xx responses degrade health until the breaker trips; the retry then stops
/// without sleeping and returns the last response, and the next call is refused
/// before it reaches the downstream, a refusal that becomes a 503 with
/// `Retry-After` for this server's own client.
#[test]
fn server_errors_degrade_health_and_trip() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 3);
    let sleeper = ManualSleeper::new(clock.clone());
    let g = guard(&b, retry(10), &sleeper);
    let statuses = [500, 502, 504];
    let healths = std::cell::RefCell::new(Vec::new());
    let r: Res = g.call(|a| {
        healths.borrow_mut().push(health(&b));
        respond(statuses[(a.number as usize - 1) % 3], None)
    });
    // The third failure trips; the guard returns the last response it got.
    assert_eq!(r.unwrap().status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(sleeper.sleeps(), 2);
    let healths = healths.into_inner();
    assert_eq!(healths.len(), 3);
    assert!(healths.windows(2).all(|w| w[1] < w[0]), "{healths:?}");
    assert_eq!(b.snapshot().state, State::Open);

    let calls = Cell::new(0);
    let refused: Res = g.call(|_| {
        calls.set(calls.get() + 1);
        respond(200, None)
    });
    assert_eq!(calls.get(), 0);
    let err = refused.unwrap_err();
    assert!(matches!(
        err,
        GuardError::Rejected {
            rejected: Rejected::Open { .. },
            attempts: 0,
            ..
        }
    ));
    let response: Response<String> = guard_error_response(&err).unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "10");
}

/// Transport errors are retryable unit failures: the call exhausts its attempts
/// and keeps the last error.
#[test]
fn transport_errors_are_retried_and_count() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 10);
    let sleeper = ManualSleeper::new(clock.clone());
    let g = guard(&b, retry(3), &sleeper);
    let r: Res = g.call(|_| Err("connection refused"));
    assert_eq!(
        r.unwrap_err(),
        GuardError::Exhausted {
            attempts: 3,
            last: Some("connection refused")
        }
    );
    assert_eq!(sleeper.slept(), 2 * BACKOFF);
    assert_eq!(b.snapshot().samples, 3);
}

/// A 429 weighs half a 503 by default, and nothing with `with_throttle_weight(0.0)`
/// (still retried).
#[test]
fn throttling_weighs_less_than_a_server_error() {
    let after_one = |status: u16, classifier: HttpClassifier| {
        let clock = ManualClock::new();
        let b = breaker(&clock, 10);
        let sleeper = ManualSleeper::new(clock.clone());
        let g = Guard::new(Arc::clone(&b), retry(2))
            .with_classifier(classifier)
            .with_sleeper(sleeper.clone());
        let r: Res = g.call(|a| {
            if a.number == 1 {
                respond(status, None)
            } else {
                respond(200, None)
            }
        });
        assert_eq!(r.unwrap().status(), StatusCode::OK, "retried");
        (sleeper.sleeps(), b.snapshot().samples)
    };
    // Both retried once.
    assert_eq!(after_one(503, HttpClassifier::new()).0, 1);
    assert_eq!(after_one(429, HttpClassifier::new()).0, 1);
    let silent = HttpClassifier::new().with_throttle_weight(0.0);
    let (sleeps, samples) = after_one(429, silent);
    assert_eq!(sleeps, 1);
    // Only the 200 was a sample, and at full health a success leaves none.
    assert_eq!(samples, 0, "a weight-0 failure is no health signal");

    // The drop itself, one attempt each, no retry.
    let drop = |status: u16| {
        let clock = ManualClock::new();
        let b = breaker(&clock, 10);
        let g = guard(&b, retry(1), &ManualSleeper::new(clock));
        let _: Res = g.call(|_| respond(status, None));
        1.0 - health(&b)
    };
    let (throttled, failed) = (drop(429), drop(503));
    assert!(
        throttled > 0.0 && throttled < failed,
        "{throttled} vs {failed}"
    );
}

/// A hint that cannot be honoured within the call's deadline ends the call at
/// once, without sleeping, with the response that asked for it.
#[test]
fn a_hint_past_the_deadline_ends_the_call() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 10);
    let sleeper = ManualSleeper::new(clock.clone());
    let retry = Retry::builder()
        .max_attempts(5)
        .constant_backoff(BACKOFF)
        .jitter(Jitter::None)
        .deadline(Duration::from_secs(5))
        .build()
        .unwrap();
    let g = guard(&b, retry, &sleeper);
    let calls = Cell::new(0);
    let r: Res = g.call(|_| {
        calls.set(calls.get() + 1);
        respond(503, Some("60"))
    });
    let response = r.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "60");
    assert_eq!((calls.get(), sleeper.sleeps()), (1, 0));
}
