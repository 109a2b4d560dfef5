//! The breaker's time-following, graded policy, through the public API: health
//! decays with time (half-life), admission is graded below `shed_below`, and a slow
//! success counts as a failure (`slow_call`, `Permit::record_timed`).
//!
//! Every test sets the settings it depends on explicitly (not the defaults), on a
//! `ManualClock`.

use fusebox::{Breaker, BreakerBuilder, ManualClock, Verdict};
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

/// `health(alpha, threshold, 1)` with a half-life of 64 ms (ticks of exactly 1 ms),
/// graded admission off, on `clock`.
fn manual(clock: &ManualClock, alpha: f64, threshold: f64) -> BreakerBuilder {
    Breaker::builder()
        .health(alpha, threshold, 1)
        .half_life(64 * MS)
        .shed_below(0.0)
        .open_jitter(0.0)
        .jitter_seed(7)
        .clock(clock.clone())
}

fn fail(b: &Breaker) {
    let _ = b
        .try_acquire()
        .expect("admitted")
        .record(Verdict::failure());
}

fn health(b: &Breaker) -> f64 {
    b.snapshot().health.expect("a measuring state")
}

/// The decay mark lives in the 40-bit field of the deadline word, so time in
/// ticks stops at 2^40 - 1 (as open deadlines saturate there): past it, an interval
/// is never claimed twice and a failure is not forgotten at once. (With 1 ms ticks
/// that is 34.8 years after the breaker was built; before the fix every report
/// past it claimed `now - (2^40 - 1)` ticks again, from a mark that could not move.)
#[test]
fn decay_time_stops_at_the_end_of_the_mark_range() {
    // The same failures at one instant near the start: no decay between them.
    let reference = |failures: usize| {
        let clock = ManualClock::new();
        let b = manual(&clock, 0.5, 0.1).build().unwrap();
        for _ in 0..failures {
            fail(&b);
        }
        health(&b)
    };
    let clock = ManualClock::new();
    let b = manual(&clock, 0.5, 0.1).build().unwrap();
    clock.set(Duration::from_millis(1 << 41));
    fail(&b);
    assert_eq!(
        health(&b),
        reference(1),
        "no time has passed since the failure"
    );
    fail(&b);
    assert_eq!(
        health(&b),
        reference(2),
        "two failures at one instant, no decay between"
    );
    // Time has stopped for decay: it never brings health back.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(health(&b), reference(2));
    // Up to the end of the range time still runs: a half-life ending at the last
    // tick decays a failure as it does near the start.
    let after_a_half_life = |at: Duration| {
        let clock = ManualClock::new();
        let b = manual(&clock, 0.5, 0.1).build().unwrap();
        clock.set(at);
        fail(&b);
        clock.advance(64 * MS);
        let h = health(&b);
        clock.advance(Duration::from_secs(3600));
        (h, health(&b))
    };
    let (near_start, later) = after_a_half_life(Duration::ZERO);
    assert!(near_start > reference(1) && near_start < 1.0 && later == 1.0);
    let (at_the_end, later) = after_a_half_life(Duration::from_millis((1 << 40) - 1 - 64));
    assert_eq!(at_the_end, near_start);
    assert_eq!(later, at_the_end, "then time stops");
}

/// Samples count the attempts of the current spell below full health. When time
/// alone brings health back to full, the spell is over: the next failure starts a
/// new one with one sample, and does not inherit the old spell's count (before the
/// fix it did, so with `min_samples` 5 a single failure after a quiet recovery
/// tripped the breaker, although the snapshot just before showed 0 samples).
#[test]
fn a_spell_ended_by_time_leaves_no_samples() {
    let clock = ManualClock::new();
    let b = Breaker::builder()
        .health(0.9, 0.5, 5)
        .half_life(64 * MS)
        .shed_below(0.0)
        .open_jitter(0.0)
        .clock(clock.clone())
        .build()
        .unwrap();
    for _ in 0..4 {
        fail(&b);
    }
    assert_eq!(
        b.snapshot().samples,
        4,
        "below the threshold, but 4 samples of 5"
    );
    clock.advance(21 * 64 * MS);
    let s = b.snapshot();
    assert_eq!(
        (s.health, s.samples),
        (Some(1.0), 0),
        "time ended the spell"
    );
    let r = b.try_acquire().unwrap().record(Verdict::failure());
    assert_eq!(
        r.transition(),
        None,
        "one failure of a new spell does not trip"
    );
    let s = b.snapshot();
    assert_eq!(s.samples, 1);
    assert!(
        s.health.unwrap() < 0.5,
        "health is below the threshold: only samples hold the trip"
    );
}
