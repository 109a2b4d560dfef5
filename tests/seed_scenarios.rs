//! The naive retry-inside-breaker design's failures, replayed against fusebox: each
//! one is gone.
//!
//! That design keeps an integer failure count, retries inside `execute()` and
//! lets any caller overwrite `last_failure_time`. These tests drive the same
//! situations through the permit API.

use fusebox::{Breaker, ManualClock, Recorded, Rejected, State, Verdict};
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

fn breaker(clock: &ManualClock, n: u32) -> Breaker {
    Breaker::builder()
        .trip_after_consecutive_failures(n)
        .open_for(Duration::from_secs(1))
        .open_jitter(0.0)
        .probes(1)
        .close_after(1)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// One call with up to `attempts` attempts against a downstream that always fails,
/// each attempt asking the breaker first. Returns the attempts made.
fn failing_call(b: &Breaker, attempts: u32) -> u32 {
    let mut made = 0;
    for _ in 0..attempts {
        let Ok(permit) = b.try_acquire() else { break };
        made += 1;
        let _ = permit.record(Verdict::failure());
    }
    made
}

/// (a) 3 attempts per call, threshold 5: the naive design needed 15 failed attempts to trip.
/// Attempt-level health trips on the 5th failed attempt.
#[test]
fn opens_on_the_fifth_failed_attempt_not_the_fifteenth() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 5);
    let mut downstream_attempts = 0;
    let mut calls = 0;
    while b.snapshot().state == State::Closed {
        downstream_attempts += failing_call(&b, 3);
        calls += 1;
        assert!(calls < 10, "never tripped");
    }
    assert_eq!(downstream_attempts, 5, "the 5th failed attempt trips");
    assert_eq!(calls, 2, "inside the second call");
    // And the breaker's own rejection stops the rest of that call.
    assert!(matches!(b.try_acquire(), Err(Rejected::Open { .. })));
}

/// (a, edges) The 4th attempt does not trip, the 5th does, for both failure orders
/// across calls.
#[test]
fn fourth_failed_attempt_does_not_trip() {
    let b = breaker(&ManualClock::new(), 5);
    assert_eq!(failing_call(&b, 3), 3);
    assert_eq!(failing_call(&b, 1), 1);
    assert_eq!(b.snapshot().state, State::Closed);
    assert_eq!(failing_call(&b, 1), 1);
    assert_eq!(b.snapshot().state, State::Open);
}

/// (b) A permit admitted before a transition and recorded after it is stale and
/// changes nothing: not the state, not the deadline, not health.
#[test]
fn late_report_from_before_the_trip_is_stale() {
    for late in [Verdict::failure(), Verdict::Success, Verdict::Ignored] {
        let clock = ManualClock::new();
        let b = breaker(&clock, 2);
        let sleeper = b.try_acquire().unwrap(); // admitted in epoch 0, then "sleeps"
        let _ = failing_call(&b, 2); // others trip the breaker meanwhile
        let opened = b.snapshot();
        assert_eq!(opened.state, State::Open);
        clock.advance(300 * MS); // the sleeper wakes later
        assert_eq!(sleeper.record(late), Recorded::Stale, "{late:?}");
        let after = b.snapshot();
        assert_eq!(after.state, opened.state);
        assert_eq!(after.epoch, opened.epoch);
        assert_eq!(after.open_until, opened.open_until, "deadline untouched");
        assert_eq!(after.health, opened.health);
        assert_eq!(b.stale_reports(), 1);
    }
}

/// (b) The seed's worst case: a straggler from before the break reports success
/// while the breaker is half-open. It must not count as a probe success.
#[test]
fn straggler_success_cannot_close_a_half_open_breaker() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let straggler = b.try_acquire().unwrap();
    let _ = failing_call(&b, 1);
    clock.advance(Duration::from_secs(1));
    let probe = b.try_acquire().unwrap();
    assert_eq!(b.snapshot().state, State::HalfOpen);
    assert_eq!(straggler.record(Verdict::Success), Recorded::Stale);
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.probe_successes, s.probes_in_flight),
        (State::HalfOpen, 0, 1)
    );
    drop(probe);
}

/// (b) A straggler's failure after a re-close cannot re-open the new epoch, nor
/// move its deadline.
#[test]
fn straggler_failure_cannot_touch_a_newer_open_period() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let straggler = b.try_acquire().unwrap();
    let _ = failing_call(&b, 1); // epoch 1: open until 1 s
    clock.advance(Duration::from_secs(1));
    let probe = b.try_acquire().unwrap(); // epoch 2: half-open
    let _ = probe.record(Verdict::failure()); // epoch 3: open until 1 s + 2 s
    let reopened = b.snapshot();
    clock.advance(Duration::from_millis(500));
    assert_eq!(straggler.record(Verdict::failure()), Recorded::Stale);
    let after = b.snapshot();
    assert_eq!(after.open_until, reopened.open_until);
    assert_eq!(after.epoch, reopened.epoch);
    assert_eq!(after.reopens, reopened.reopens);
}

/// (c) fail, fail, succeed: the success does not erase the failures.
#[test]
fn late_success_leaves_health_visibly_degraded() {
    let b = breaker(&ManualClock::new(), 5);
    let alpha = b.alpha();
    let _ = failing_call(&b, 2);
    let _ = b.try_acquire().unwrap().record(Verdict::Success);
    let s = b.snapshot();
    let h = s.health.unwrap();
    // In real numbers: (1 - a)^2 after two failures, then pulled toward 1 by a.
    let expected = {
        let after_failures = (1.0 - alpha) * (1.0 - alpha);
        after_failures + alpha * (1.0 - after_failures)
    };
    assert!(
        (h - expected).abs() < 1e-5,
        "health {h}, expected {expected}"
    );
    assert!(h < 0.85, "visibly degraded, not reset: {h}");
    assert_eq!(s.samples, 3);
    assert_eq!(s.state, State::Closed);
}

/// (d) A dropped probe permit (a cancelled or panicking attempt) frees its slot.
#[test]
fn dropped_probe_permit_frees_its_slot() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let _ = failing_call(&b, 1);
    clock.advance(Duration::from_secs(1));
    let probe = b.try_acquire().unwrap();
    assert_eq!(b.try_acquire().unwrap_err(), Rejected::ProbesBusy);
    drop(probe);
    assert_eq!(b.snapshot().probes_in_flight, 0);
    let _ = b
        .try_acquire()
        .expect("slot freed")
        .record(Verdict::Success);
    assert_eq!(b.snapshot().state, State::Closed);
}

/// (d) The same when the attempt panics: the permit is dropped during unwinding.
#[test]
fn panicking_probe_frees_its_slot() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let _ = failing_call(&b, 1);
    clock.advance(Duration::from_secs(1));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _permit = b.try_acquire().unwrap();
        panic!("downstream client bug");
    }));
    assert!(result.is_err());
    assert_eq!(b.snapshot().probes_in_flight, 0);
    assert!(b.try_acquire().is_ok());
}

/// The seed's "breaker opens mid-retry and the retry never knows": asking before
/// every attempt, the second attempt of a call is refused once others tripped it.
#[test]
fn retry_learns_of_a_trip_before_its_next_attempt() {
    let b = breaker(&ManualClock::new(), 3);
    let first = b.try_acquire().unwrap();
    let _ = failing_call(&b, 3); // another caller trips the breaker
    let _ = first.record(Verdict::failure()); // our first attempt failed (stale now)
    assert!(
        matches!(b.try_acquire(), Err(Rejected::Open { .. })),
        "no second attempt"
    );
}
