//! Unit tests: every transition, driven by a `ManualClock`.

use super::*;
use crate::{ManualClock, Rejected, State};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};

const MS: Duration = Duration::from_millis(1);

/// Trips on the 2nd consecutive failure; open 100 ms (x2 per re-open, cap 350 ms);
/// no jitter; 1 probe; closes after 2 probe successes.
fn breaker(clock: &ManualClock) -> Breaker {
    Breaker::builder()
        .trip_after_consecutive_failures(2)
        .open_for(100 * MS)
        .open_growth(2.0)
        .open_cap(350 * MS)
        .open_jitter(0.0)
        .probes(1)
        .close_after(2)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn fail(b: &Breaker) -> Recorded {
    b.try_acquire()
        .expect("admitted")
        .record(Verdict::failure())
}

fn succeed(b: &Breaker) -> Recorded {
    b.try_acquire().expect("admitted").record(Verdict::Success)
}

/// Trip `b` (fresh, from full health) and return the transition.
fn trip(b: &Breaker) -> Transition {
    assert_eq!(fail(b).transition(), None);
    fail(b).transition().expect("second failure trips")
}

#[test]
fn starts_closed_at_full_health() {
    let b = breaker(&ManualClock::new());
    let s = b.snapshot();
    assert_eq!(s.state, State::Closed);
    assert_eq!((s.epoch, s.health, s.samples), (0, Some(1.0), 0));
    assert_eq!((s.open_until, s.ready_to_probe), (None, false));
}

#[test]
fn closed_to_open_on_the_tripping_failure() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let t = trip(&b);
    assert_eq!((t.from, t.to, t.epoch), (State::Closed, State::Open, 1));
    assert_eq!(t.open_for, Some(100 * MS));
    let s = b.snapshot();
    assert_eq!((s.state, s.epoch, s.reopens), (State::Open, 1, 0));
    assert_eq!(s.open_until, Some(100 * MS));
    assert!(s.health.unwrap() < b.threshold());
    assert_eq!(
        b.try_acquire().unwrap_err(),
        Rejected::Open {
            retry_after: Some(100 * MS)
        }
    );
    clock.advance(40 * MS);
    assert_eq!(b.try_acquire().unwrap_err().retry_after(), Some(60 * MS));
}

#[test]
fn success_cannot_trip() {
    let b = Breaker::builder()
        .health(1.0, 0.5, 0)
        .open_jitter(0.0)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    // alpha = 1: one failure drops health to 0, but it is a success that we record.
    for _ in 0..10 {
        assert_eq!(succeed(&b), Recorded::Applied { transition: None });
    }
    assert_eq!(b.snapshot().state, State::Closed);
}

#[test]
fn open_to_half_open_lazily_at_the_deadline() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    trip(&b);
    clock.advance(99 * MS);
    assert!(matches!(b.try_acquire(), Err(Rejected::Open { .. })));
    assert!(!b.snapshot().ready_to_probe);
    clock.advance(MS);
    // The snapshot reports the stored state: still open, but ready to probe.
    let s = b.snapshot();
    assert_eq!((s.state, s.ready_to_probe), (State::Open, true));
    let probe = b
        .try_acquire()
        .expect("first caller after the deadline probes");
    assert_eq!(probe.epoch(), 2);
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.epoch, s.probes_in_flight),
        (State::HalfOpen, 2, 1)
    );
    assert_eq!(s.health, None);
    assert_eq!(b.try_acquire().unwrap_err(), Rejected::ProbesBusy);
    drop(probe);
}

#[test]
fn half_open_closes_after_close_after_successes() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    trip(&b);
    clock.advance(100 * MS);
    assert_eq!(succeed(&b), Recorded::Applied { transition: None });
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.probe_successes, s.probes_in_flight),
        (State::HalfOpen, 1, 0)
    );
    let t = succeed(&b)
        .transition()
        .expect("second probe success closes");
    assert_eq!(
        (t.from, t.to, t.epoch, t.open_for),
        (State::HalfOpen, State::Closed, 3, None)
    );
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.health, s.samples, s.reopens),
        (State::Closed, Some(1.0), 0, 0)
    );
}

#[test]
fn probe_verdicts_do_not_move_health() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    trip(&b);
    clock.advance(100 * MS);
    let _ = b.try_acquire().unwrap().record(Verdict::Ignored);
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.probes_in_flight, s.probe_successes),
        (State::HalfOpen, 0, 0)
    );
}

#[test]
fn probe_failure_reopens_with_a_longer_capped_period() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    trip(&b);
    let mut expected = [200, 350, 350].into_iter();
    for reopen in 1..=3 {
        let period = b.snapshot().open_until.unwrap() - clock.now();
        clock.advance(period);
        let t = fail(&b).transition().expect("probe failure re-opens");
        assert_eq!((t.from, t.to), (State::HalfOpen, State::Open));
        assert_eq!(t.open_for, Some(expected.next().unwrap() * MS));
        let s = b.snapshot();
        assert_eq!(
            (s.state, s.reopens, s.health),
            (State::Open, reopen, Some(0.0))
        );
    }
    // A close resets the growth.
    clock.advance(350 * MS);
    let _ = succeed(&b);
    let _ = succeed(&b);
    assert_eq!(b.snapshot().state, State::Closed);
    assert_eq!(trip(&b).open_for, Some(100 * MS));
}

#[test]
fn probes_are_capped_at_once_not_in_total() {
    let clock = ManualClock::new();
    let b = Breaker::builder()
        .trip_after_consecutive_failures(1)
        .open_for(MS)
        .open_jitter(0.0)
        .probes(2)
        .close_after(3)
        .clock(clock.clone())
        .build()
        .unwrap();
    let _ = fail(&b);
    clock.advance(MS);
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    assert_eq!(b.try_acquire().unwrap_err(), Rejected::ProbesBusy);
    assert_eq!(
        p1.record(Verdict::Success),
        Recorded::Applied { transition: None }
    );
    let p3 = b.try_acquire().expect("a finished probe frees its slot");
    assert_eq!(
        p2.record(Verdict::Success),
        Recorded::Applied { transition: None }
    );
    let t = p3.record(Verdict::Success).transition().unwrap();
    assert_eq!(t.to, State::Closed);
}

#[test]
fn dropped_probe_frees_its_slot_and_is_no_signal() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    trip(&b);
    clock.advance(100 * MS);
    let probe = b.try_acquire().unwrap();
    assert_eq!(b.try_acquire().unwrap_err(), Rejected::ProbesBusy);
    drop(probe);
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.probes_in_flight, s.probe_successes),
        (State::HalfOpen, 0, 0)
    );
    assert!(b.try_acquire().is_ok());
}

#[test]
fn dropped_closed_permit_changes_nothing() {
    let b = breaker(&ManualClock::new());
    let before = b.snapshot();
    drop(b.try_acquire().unwrap());
    assert_eq!(b.snapshot(), before);
}

#[test]
fn stale_report_changes_nothing_and_is_counted() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let old = b.try_acquire().unwrap();
    let old2 = b.try_acquire().unwrap();
    let _ = b.reset();
    let before = b.snapshot();
    assert_eq!(old.record(Verdict::failure()), Recorded::Stale);
    assert_eq!(old2.record(Verdict::Success), Recorded::Stale);
    assert_eq!(b.snapshot(), before);
    assert_eq!(b.stale_reports(), 2);
}

#[test]
fn stale_probe_drop_does_not_free_a_newer_slot() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    trip(&b);
    clock.advance(100 * MS);
    let old_probe = b.try_acquire().unwrap();
    // The probe's half-open period ends (reset), and a new one begins.
    let _ = b.reset();
    trip(&b);
    clock.advance(100 * MS);
    let new_probe = b.try_acquire().unwrap();
    drop(old_probe);
    assert_eq!(
        b.snapshot().probes_in_flight,
        1,
        "the old drop must not free the new slot"
    );
    assert_eq!(b.try_acquire().unwrap_err(), Rejected::ProbesBusy);
    drop(new_probe);
}

#[test]
fn operator_transitions_bump_the_epoch_from_any_state() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let t = b.force_open();
    assert_eq!(
        (t.from, t.to, t.epoch),
        (State::Closed, State::ForcedOpen, 1)
    );
    assert_eq!(b.try_acquire().unwrap_err(), Rejected::ForcedOpen);
    let t = b.force_open();
    assert_eq!(
        (t.from, t.to, t.epoch),
        (State::ForcedOpen, State::ForcedOpen, 2)
    );
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        b.try_acquire().unwrap_err(),
        Rejected::ForcedOpen,
        "forced open never expires"
    );
    let t = b.disable();
    assert_eq!(
        (t.from, t.to, t.epoch),
        (State::ForcedOpen, State::Disabled, 3)
    );
    let t = b.reset();
    assert_eq!((t.from, t.to, t.epoch), (State::Disabled, State::Closed, 4));
    let t = b.reset();
    assert_eq!((t.from, t.to, t.epoch), (State::Closed, State::Closed, 5));
    assert_eq!(b.snapshot().health, Some(1.0));
}

#[test]
fn disabled_admits_everything_measures_and_never_trips() {
    let b = breaker(&ManualClock::new());
    let _ = fail(&b);
    let h = b.snapshot().health;
    let _ = b.disable();
    assert_eq!(b.snapshot().health, h, "health carries over from closed");
    for _ in 0..50 {
        assert_eq!(fail(&b), Recorded::Applied { transition: None });
    }
    let s = b.snapshot();
    assert_eq!(s.state, State::Disabled);
    assert!(s.health.unwrap() < 0.01);
    let t = b.reset();
    assert_eq!(t.to, State::Closed);
    assert_eq!(b.snapshot().health, Some(1.0));
}

#[test]
fn reset_from_open_and_half_open() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    trip(&b);
    assert_eq!(b.reset().from, State::Open);
    assert_eq!(b.snapshot().open_until, None);
    trip(&b);
    clock.advance(Duration::from_secs(1));
    let probe = b.try_acquire().unwrap();
    assert_eq!(b.reset().from, State::HalfOpen);
    assert_eq!(probe.record(Verdict::failure()), Recorded::Stale);
    assert_eq!(b.snapshot().state, State::Closed);
}

#[test]
fn time_going_backwards_never_transitions_or_panics() {
    let clock = ManualClock::starting_at(Duration::from_secs(10));
    let b = breaker(&clock);
    trip(&b);
    clock.rewind(Duration::from_secs(10)); // before the breaker was even built
    match b.try_acquire() {
        Err(Rejected::Open { retry_after }) => assert_eq!(retry_after, Some(100 * MS)),
        other => panic!("expected open, got {other:?}"),
    }
    assert!(!b.snapshot().ready_to_probe);
    clock.set(Duration::from_secs(10) + 50 * MS);
    assert!(b.try_acquire().is_err());
    clock.set(Duration::from_secs(10) + 100 * MS);
    assert!(b.try_acquire().is_ok());
}

#[test]
fn far_future_clock_saturates_without_panicking() {
    let clock = ManualClock::new();
    let b = Breaker::builder()
        .trip_after_consecutive_failures(1)
        .open_for(crate::MAX_OPEN_PERIOD)
        .open_cap(crate::MAX_OPEN_PERIOD)
        .open_jitter(0.0)
        .clock(clock.clone())
        .build()
        .unwrap();
    clock.set(Duration::from_nanos(u64::MAX));
    let _ = fail(&b);
    assert_eq!(b.snapshot().state, State::Open);
    // Deadline saturated at the word's limit; now (saturated) is past it.
    assert!(b.try_acquire().is_ok());
}

#[test]
fn weights_are_clamped_and_nan_is_no_signal() {
    let b = Breaker::builder()
        .health(0.25, 0.01, 0)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    for weight in [f64::NAN, 0.0, -1.0, f64::NEG_INFINITY] {
        assert_eq!(
            b.try_acquire().unwrap().record(Verdict::Failure { weight }),
            Recorded::Applied { transition: None }
        );
        assert_eq!(
            b.snapshot().health,
            Some(1.0),
            "weight {weight} is no signal"
        );
        assert_eq!(b.snapshot().samples, 0);
    }
    // A huge weight pulls health all the way to zero (alpha * weight capped at 1).
    let t = b
        .try_acquire()
        .unwrap()
        .record(Verdict::Failure {
            weight: f64::INFINITY,
        })
        .transition()
        .expect("health 0 < threshold trips");
    assert_eq!(t.to, State::Open);
    assert_eq!(b.snapshot().health, Some(0.0));
}

#[test]
fn half_weight_failure_moves_health_half_as_far() {
    let b = Breaker::builder()
        .health(0.2, 0.01, 0)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    let _ = b
        .try_acquire()
        .unwrap()
        .record(Verdict::Failure { weight: 0.5 });
    let h = b.snapshot().health.unwrap();
    assert!((h - 0.9).abs() < 1e-5, "health {h}");
}

#[test]
fn healthy_success_writes_nothing() {
    let b = breaker(&ManualClock::new());
    // Saturate samples (min_samples = 2).
    let _ = succeed(&b);
    let _ = succeed(&b);
    let raw = b.state.load(Ordering::Relaxed);
    let update = b.update(b.load(), |cur| b.decide_record(cur, 0, Verdict::Success));
    assert!(
        update.after.is_none(),
        "a success at full health must not write"
    );
    assert_eq!(b.state.load(Ordering::Relaxed), raw);
}

#[test]
fn listener_sees_every_transition_once_and_its_panic_is_contained() {
    let clock = ManualClock::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let b = Breaker::builder()
        .trip_after_consecutive_failures(1)
        .open_for(MS)
        .open_jitter(0.0)
        .close_after(1)
        .clock(clock.clone())
        .on_transition(move |t| {
            seen.fetch_add(1, StdOrdering::SeqCst);
            if t.to == State::HalfOpen {
                panic!("listener bug");
            }
        })
        .build()
        .unwrap();
    let _ = fail(&b); // Closed -> Open
    clock.advance(MS);
    let probe = b
        .try_acquire()
        .expect("the listener's panic must not lose the probe"); // -> HalfOpen
    assert_eq!(b.snapshot().probes_in_flight, 1);
    let _ = probe.record(Verdict::Success); // -> Closed
    assert_eq!(calls.load(StdOrdering::SeqCst), 3);
    assert_eq!(b.snapshot().state, State::Closed);
}

#[test]
fn jitter_shortens_within_bounds_and_is_seedable() {
    let periods = |seed: u64| {
        let clock = ManualClock::new();
        let b = Breaker::builder()
            .trip_after_consecutive_failures(1)
            .open_for(Duration::from_secs(10))
            .open_cap(Duration::from_secs(10))
            .open_jitter(0.5)
            .jitter_seed(seed)
            .clock(clock)
            .build()
            .unwrap();
        (0..20)
            .map(|_| {
                let _ = b.reset();
                fail(&b).transition().unwrap().open_for.unwrap()
            })
            .collect::<Vec<_>>()
    };
    let a = periods(7);
    assert_eq!(a, periods(7), "same seed, same periods");
    assert_ne!(a, periods(8));
    for p in &a {
        assert!(
            *p > Duration::from_secs(5) && *p <= Duration::from_secs(10),
            "{p:?}"
        );
    }
}

#[test]
fn debug_output_is_decoded() {
    let b = breaker(&ManualClock::new());
    let s = format!("{b:?}");
    assert!(
        s.contains("Closed") && s.contains("epoch: 0") && s.contains("raw"),
        "{s}"
    );
    let p = b.try_acquire().unwrap();
    assert!(format!("{p:?}").contains("epoch: 0"));
    let _ = p.record(Verdict::Success);
}
