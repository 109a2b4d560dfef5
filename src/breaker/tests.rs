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

/// Leases double after every four consecutive periods replaced by expiry (a slow
/// but alive downstream gets longer), up to `probe_timeout`.
#[test]
fn probe_leases_double_every_four_replaced_periods_up_to_the_cap() {
    let clock = ManualClock::new();
    let b = Breaker::builder()
        .trip_after_consecutive_failures(1)
        .open_for(100 * MS)
        .open_jitter(0.0)
        .probes(1)
        .probe_timeout(300 * MS)
        .clock(clock.clone())
        .build()
        .unwrap();
    let _ = fail(&b);
    clock.advance(100 * MS);
    std::mem::forget(b.try_acquire().expect("the first probe"));
    // Periods 0-3 last 100 ms, 4-7 200 ms, then the 300 ms cap.
    for (period, lease) in [100, 100, 100, 100, 200, 200, 200, 200, 300, 300]
        .into_iter()
        .enumerate()
    {
        clock.advance((lease - 1) * MS);
        assert_eq!(
            b.try_acquire().unwrap_err(),
            Rejected::ProbesBusy,
            "period {period}: lease {lease} ms not over"
        );
        clock.advance(MS);
        std::mem::forget(b.try_acquire().expect("a fresh period"));
    }
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
    let _ = b.force_open();
    let before = b.snapshot();
    assert_eq!(old.record(Verdict::failure()), Recorded::Stale);
    assert_eq!(old2.record(Verdict::Success), Recorded::Stale);
    assert_eq!(b.snapshot(), before);
    assert_eq!(b.stale_reports(), 2);
}

/// A probe permit of an old half-open period, dropped after a new period began,
/// must not free the new period's slot: one body, for borrowed and owned permits.
macro_rules! stale_probe_drop_test {
    ($name:ident, $acquire:ident) => {
        #[test]
        fn $name() {
            let clock = ManualClock::new();
            let b = shared(&clock);
            trip(&b);
            clock.advance(100 * MS);
            let old_probe = b.$acquire().unwrap();
            // The probe's half-open period ends (reset), and a new one begins.
            let _ = b.reset();
            trip(&b);
            clock.advance(100 * MS);
            let new_probe = b.$acquire().unwrap();
            drop(old_probe);
            assert_eq!(
                b.snapshot().probes_in_flight,
                1,
                "the old drop must not free the new slot"
            );
            assert_eq!(b.$acquire().unwrap_err(), Rejected::ProbesBusy);
            drop(new_probe);
        }
    };
}

stale_probe_drop_test!(stale_probe_drop_does_not_free_a_newer_slot, try_acquire);
stale_probe_drop_test!(
    owned_stale_probe_drop_does_not_free_a_newer_slot,
    try_acquire_owned
);

#[test]
fn operator_transitions_bump_the_epoch_from_any_state() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    let t = b.force_open().unwrap();
    assert_eq!(
        (t.from, t.to, t.epoch),
        (State::Closed, State::ForcedOpen, 1)
    );
    assert_eq!(b.try_acquire().unwrap_err(), Rejected::ForcedOpen);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(
        b.try_acquire().unwrap_err(),
        Rejected::ForcedOpen,
        "forced open never expires"
    );
    let t = b.disable().unwrap();
    assert_eq!(
        (t.from, t.to, t.epoch),
        (State::ForcedOpen, State::Disabled, 2)
    );
    let t = b.reset().unwrap();
    assert_eq!((t.from, t.to, t.epoch), (State::Disabled, State::Closed, 3));
    let _ = fail(&b);
    let t = b.reset().unwrap();
    assert_eq!((t.from, t.to, t.epoch), (State::Closed, State::Closed, 4));
    assert_eq!(b.snapshot().health, Some(1.0));
    assert_eq!(b.snapshot().samples, 0);
}

#[test]
fn operator_calls_that_would_change_only_the_epoch_are_noops() {
    use StdOrdering as Ordering;
    let events = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&events);
    let clock = ManualClock::new();
    let b = Breaker::builder()
        .trip_after_consecutive_failures(2)
        .clock(clock.clone())
        .on_transition(move |_| {
            seen.fetch_add(1, Ordering::Relaxed);
        })
        .build()
        .unwrap();
    let noop = |b: &Breaker, op: fn(&Breaker) -> Option<Transition>, events: usize| {
        let before = b.snapshot();
        let permit = b.try_acquire().ok();
        assert_eq!(op(b), None);
        assert_eq!(b.snapshot(), before, "a no-op changes nothing");
        assert_eq!(events, 0, "and fires no event");
        // A permit out before the no-op is still current.
        if let Some(permit) = permit {
            assert!(!permit.record(Verdict::Ignored).is_stale());
        }
    };
    // A pristine Closed breaker: reset is a no-op.
    noop(&b, Breaker::reset, events.load(Ordering::Relaxed));
    assert_eq!(b.snapshot().epoch, 0);
    // Closed with a failure seen: reset is a transition.
    let _ = fail(&b);
    assert!(b.reset().is_some());
    assert_eq!(events.swap(0, Ordering::Relaxed), 1);
    // Forced open twice, disabled twice: the second call is a no-op.
    assert!(b.force_open().is_some());
    assert_eq!(events.swap(0, Ordering::Relaxed), 1);
    noop(&b, Breaker::force_open, events.load(Ordering::Relaxed));
    assert!(b.disable().is_some());
    assert_eq!(events.swap(0, Ordering::Relaxed), 1);
    noop(&b, Breaker::disable, events.load(Ordering::Relaxed));
    assert_eq!(b.snapshot().epoch, 3);
    // Disabled at full health with no samples is not Closed: reset moves it.
    assert_eq!(b.reset().unwrap().to, State::Closed);
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
    let t = b.reset().unwrap();
    assert_eq!(t.to, State::Closed);
    assert_eq!(b.snapshot().health, Some(1.0));
}

#[test]
fn reset_from_open_and_half_open() {
    let clock = ManualClock::new();
    let b = breaker(&clock);
    trip(&b);
    assert_eq!(b.reset().unwrap().from, State::Open);
    assert_eq!(b.snapshot().open_until, None);
    trip(&b);
    clock.advance(Duration::from_secs(1));
    let probe = b.try_acquire().unwrap();
    assert_eq!(b.reset().unwrap().from, State::HalfOpen);
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
    let update = b.update(b.load(), |cur| b.decide_record(cur, 0, Verdict::Success, 0));
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

#[test]
fn health_equal_to_the_threshold_in_real_arithmetic_does_not_trip() {
    // alpha 0.5, threshold 0.25: two failures from full give exactly 0.25.
    let b = Breaker::builder()
        .health(0.5, 0.25, 1)
        .shed_below(0.0)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    assert_eq!(fail(&b).transition(), None);
    assert_eq!(fail(&b).transition(), None, "health 0.25 is not below 0.25");
    let s = b.snapshot();
    assert_eq!(s.state, State::Closed);
    assert!(s.health.unwrap() >= 0.25, "{s:?}");
    let t = fail(&b).transition().expect("0.125 is below 0.25");
    assert_eq!(t.to, State::Open);
}

#[test]
fn health_returns_to_full_and_to_the_fast_path_after_any_failure_burst() {
    // The default alpha left health 3 units short of full forever when successes
    // rounded to nearest; every healthy call then took the slow path.
    for n in [1, 2, 5, 13, 50] {
        let b = Breaker::builder()
            .trip_after_consecutive_failures(n)
            .clock(ManualClock::new())
            .build()
            .unwrap();
        let bound = b.successes_to_full_health();
        for burst in [1, n.saturating_sub(1).max(1)] {
            for _ in 0..burst {
                let _ = fail(&b);
            }
            if b.snapshot().state != State::Closed {
                let _ = b.reset();
                continue;
            }
            assert!(!b.load().is_healthy(Snapshot::healthy_base()));
            for _ in 0..bound {
                assert_eq!(succeed(&b), Recorded::Applied { transition: None });
            }
            assert_eq!(b.snapshot().health, Some(1.0), "n = {n}, burst = {burst}");
            assert!(
                b.load().is_healthy(Snapshot::healthy_base()),
                "the healthy fast path is back: {:?}",
                b.load()
            );
            let permit = b.try_acquire().unwrap();
            assert_eq!(
                permit.ticket,
                Ticket::whole(b.load()),
                "a whole-word ticket"
            );
            let _ = permit.record(Verdict::Success);
        }
    }
}

#[test]
fn a_lost_probe_holds_half_open_only_for_the_probe_lease() {
    let clock = ManualClock::new();
    let b = Breaker::builder()
        .trip_after_consecutive_failures(1)
        .open_for(100 * MS)
        .open_jitter(0.0)
        .probes(1)
        .probe_timeout(500 * MS)
        .clock(clock.clone())
        .build()
        .unwrap();
    let _ = fail(&b);
    clock.advance(100 * MS);
    let lost = b.try_acquire().expect("the first probe");
    let lost_epoch = lost.epoch();
    std::mem::forget(lost); // never recorded, never dropped
    // The first period's lease is `open_for`.
    clock.advance(99 * MS);
    assert_eq!(b.try_acquire().unwrap_err(), Rejected::ProbesBusy);
    clock.advance(MS);
    let fresh = b
        .try_acquire()
        .expect("past the lease: a fresh half-open period");
    assert_eq!(fresh.epoch(), lost_epoch + 1);
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.probes_in_flight, s.probe_successes),
        (State::HalfOpen, 1, 0)
    );
    // The lost permit's report (were it ever made) is stale: rebuild one of its
    // epoch to show what it would do.
    let ghost = Permit::new(&b, Ticket::of_epoch(lost_epoch));
    assert_eq!(ghost.record(Verdict::failure()), Recorded::Stale);
    assert_eq!(b.snapshot(), s);
    // The fresh period has its own lease: busy until it expires too.
    assert_eq!(b.try_acquire().unwrap_err(), Rejected::ProbesBusy);
    assert!(fresh.record(Verdict::Success).transition().is_none());
    let second = b.try_acquire().expect("the slot is free again");
    let t = second
        .record(Verdict::Success)
        .transition()
        .expect("closes");
    assert_eq!(t.to, State::Closed);
}

#[test]
fn the_probe_lease_is_not_renewed_while_a_slot_is_free() {
    let clock = ManualClock::new();
    let b = Breaker::builder()
        .trip_after_consecutive_failures(1)
        .open_for(100 * MS)
        .open_jitter(0.0)
        .probes(2)
        .close_after(3)
        .probe_timeout(MS)
        .clock(clock.clone())
        .build()
        .unwrap();
    let _ = fail(&b);
    clock.advance(100 * MS);
    let first = b.try_acquire().unwrap();
    clock.advance(Duration::from_secs(5));
    // One slot is free: admitted in the same period, whatever the lease says.
    let second = b.try_acquire().unwrap();
    assert_eq!(second.epoch(), first.epoch());
    assert!(!first.record(Verdict::Success).is_stale());
    drop(second);
}

/// `trip_after_consecutive_failures(5)`, a 64 ms half-life, no grading, on
/// `clock`: four failures, one short of a trip.
fn four_failures_on(clock: &ManualClock) -> Breaker {
    let b = Breaker::builder()
        .trip_after_consecutive_failures(5)
        .half_life(64 * MS)
        .shed_below(0.0)
        .clock(clock.clone())
        .build()
        .unwrap();
    for _ in 0..4 {
        let _ = fail(&b);
    }
    b
}

#[test]
fn quiet_time_restores_full_health_and_one_timed_report_the_fast_path() {
    // Time alone brings health back to full within 21 half-lives (the snapshot and
    // admission see it at once, reading only); the stored word, and with it the
    // read-only healthy path, follows at the next report that reads the time
    // (a failure, a timed report, a graded acquire: see the next test). A
    // success or a non-signal reported without time applies no decay: it
    // reads no clock.
    let clock = ManualClock::new();
    let b = four_failures_on(&clock);
    assert!(!b.load().is_healthy(Snapshot::healthy_base()));
    clock.advance(21 * 64 * MS);
    let s = b.snapshot();
    assert_eq!((s.health, s.samples), (Some(1.0), 0), "{s:?}");
    assert!(
        !b.load().is_healthy(Snapshot::healthy_base()),
        "nothing was written yet"
    );
    let permit = b.try_acquire().unwrap();
    assert_eq!(
        permit.ticket,
        Ticket::of_epoch(0),
        "not yet a whole-word ticket"
    );
    let before = b.load();
    assert_eq!(
        permit.record(Verdict::Ignored),
        Recorded::Applied { transition: None }
    );
    assert_eq!(b.load(), before, "an untimed non-signal changes nothing");
    let permit = b.try_acquire().unwrap();
    assert_eq!(
        permit.record_timed(Verdict::Ignored, Duration::ZERO),
        Recorded::Applied { transition: None }
    );
    assert!(
        b.load().is_healthy(Snapshot::healthy_base()),
        "the timed report stored full health: {:?}",
        b.load()
    );
    let permit = b.try_acquire().unwrap();
    assert_eq!(
        permit.ticket,
        Ticket::whole(b.load()),
        "a whole-word ticket"
    );
    let raw = b.state.load(Ordering::Relaxed);
    assert_eq!(
        permit.record(Verdict::Success),
        Recorded::Applied { transition: None }
    );
    assert_eq!(
        b.state.load(Ordering::Relaxed),
        raw,
        "and a success writes nothing"
    );
}

/// Successes reported without time after a quiet recovery still bring the
/// stored word back to full health (and the healthy path) on their own, within
/// `successes_to_full_health`, and never below the health time has reached.
#[test]
fn untimed_successes_after_a_quiet_recovery_restore_the_healthy_word() {
    let clock = ManualClock::new();
    let b = four_failures_on(&clock);
    clock.advance(21 * 64 * MS);
    let mut n = 0;
    while !b.load().is_healthy(Snapshot::healthy_base()) {
        assert_eq!(b.snapshot().health, Some(1.0), "time has restored it");
        let _ = b.try_acquire().unwrap().record(Verdict::Success);
        n += 1;
        assert!(n <= b.successes_to_full_health(), "bounded");
    }
    assert!(n > 0, "the successes did it, not time");
}

/// A success reported without time and the time that passes around it commute:
/// the word a failure is applied to after (success, then a quiet interval) is
/// the word it is applied to after (the interval, then the success), up to the
/// fixed-point rounding, which never lowers health below the real value.
#[test]
fn an_untimed_success_commutes_with_time_up_to_rounding_toward_health() {
    let build = |clock: &ManualClock| {
        Breaker::builder()
            .health(0.2, 0.01, 1)
            .half_life(64 * MS)
            .shed_below(0.0)
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    for quiet_ticks in [0u32, 1, 5, 63, 64, 100, 700] {
        let (c1, c2) = (ManualClock::new(), ManualClock::new());
        let (b1, b2) = (build(&c1), build(&c2));
        for b in [&b1, &b2] {
            for _ in 0..3 {
                let _ = fail(b);
            }
        }
        // b1: the success first (untimed), then the quiet interval.
        let _ = b1.try_acquire().unwrap().record(Verdict::Success);
        c1.advance(quiet_ticks * MS);
        // b2: the interval, then the success reported on time.
        c2.advance(quiet_ticks * MS);
        let _ = b2
            .try_acquire()
            .unwrap()
            .record_timed(Verdict::Success, Duration::ZERO);
        // A failure now brings both up to date with time.
        let _ = fail(&b1);
        let _ = fail(&b2);
        let (h1, h2) = (b1.load().health(), b2.load().health());
        assert!(h1.abs_diff(h2) <= 2, "{quiet_ticks} ticks: {h1} vs {h2}");
        // The real health: three failures (x0.8 each), a success and the
        // interval (both shrink the gap), a failure.
        let tick = 1.0 / 64.0;
        let gap = (1.0 - 0.8f64.powi(3)) * 0.8 * 0.5f64.powf(f64::from(quiet_ticks) * tick);
        let real = (1.0 - gap) * 0.8 * f64::from(HEALTH_FULL);
        for h in [h1, h2] {
            assert!(f64::from(h) >= real.floor(), "{quiet_ticks}: {h} < {real}");
        }
    }
}

/// Once time alone has restored full health, the first graded acquire whose
/// draw the stored health would refuse stores it, so the attempts after it take
/// the healthy path again without waiting for a report.
#[test]
fn a_graded_acquire_after_a_quiet_recovery_restores_the_healthy_word() {
    let clock = ManualClock::new();
    let b = Breaker::builder()
        .health(0.5, 0.01, 1)
        .shed_below(0.9)
        .half_life(64 * MS)
        .jitter_seed(3)
        .clock(clock.clone())
        .build()
        .unwrap();
    let _ = fail(&b);
    assert!(
        b.load().health() < b.config.shed_below,
        "in the graded range"
    );
    clock.advance(21 * 64 * MS);
    assert!(
        !b.load().is_healthy(Snapshot::healthy_base()),
        "stored health is still low"
    );
    // A draw the stored health admits needs no clock (and stores nothing); the
    // first draw it would refuse reads the time, finds full health and stores
    // it. With this seed the first draw is admitted by the stored health.
    let mut held = Vec::new();
    while !b.load().is_healthy(Snapshot::healthy_base()) {
        held.push(b.try_acquire().expect("full health by now: admitted"));
        assert!(held.len() <= 64, "a refusing draw comes (chance 0.44 each)");
    }
    assert!(
        held.len() > 1,
        "the seed's first draw was admitted unstored"
    );
    for permit in held {
        assert!(permit.record(Verdict::Success).transition().is_none());
    }
    assert!(b.load().is_healthy(Snapshot::healthy_base()));
}

// Owned permits: the borrowed permit's protocol, through the same code.

/// `breaker`, in an `Arc`.
fn shared(clock: &ManualClock) -> Arc<Breaker> {
    Arc::new(breaker(clock))
}

/// One script, run with borrowed permits on one breaker and owned permits on
/// another (same config, same clock): every result and every snapshot agree.
#[test]
fn owned_permits_follow_the_borrowed_protocol_step_by_step() {
    let clock = ManualClock::new();
    let (borrowed, owned) = (breaker(&clock), shared(&clock));
    let same = |what: &str| assert_eq!(borrowed.snapshot(), owned.snapshot(), "{what}");

    // Closed: success, failure, cancellation, a stale report.
    let r = (
        borrowed.try_acquire().unwrap().record(Verdict::Success),
        owned.try_acquire_owned().unwrap().record(Verdict::Success),
    );
    assert_eq!(r.0, r.1);
    same("success");
    let r = (
        borrowed.try_acquire().unwrap().record(Verdict::failure()),
        owned
            .try_acquire_owned()
            .unwrap()
            .record(Verdict::failure()),
    );
    assert_eq!(r.0, r.1);
    same("failure");
    drop((
        borrowed.try_acquire().unwrap(),
        owned.try_acquire_owned().unwrap(),
    ));
    same("closed cancellation");
    let (bp, op) = (
        borrowed.try_acquire().unwrap(),
        owned.try_acquire_owned().unwrap(),
    );
    assert_eq!(bp.epoch(), op.epoch());
    assert_eq!(borrowed.reset(), owned.reset());
    assert_eq!(bp.record(Verdict::failure()), Recorded::Stale);
    assert_eq!(op.record(Verdict::failure()), Recorded::Stale);
    same("stale");
    assert_eq!(borrowed.stale_reports(), owned.stale_reports());

    // Trip, wait, probe: the cap, a cancelled probe, a probe success, a re-open.
    let t = (
        [fail(&borrowed), fail(&borrowed)],
        [
            owned
                .try_acquire_owned()
                .unwrap()
                .record(Verdict::failure()),
            owned
                .try_acquire_owned()
                .unwrap()
                .record(Verdict::failure()),
        ],
    );
    assert_eq!(t.0, t.1);
    same("tripped");
    assert_eq!(
        borrowed.try_acquire().unwrap_err(),
        owned.try_acquire_owned().unwrap_err()
    );
    clock.advance(100 * MS);
    let (bp, op) = (
        borrowed.try_acquire().unwrap(),
        owned.try_acquire_owned().unwrap(),
    );
    assert_eq!(bp.epoch(), op.epoch());
    same("probe out");
    assert_eq!(
        borrowed.try_acquire().unwrap_err(),
        owned.try_acquire_owned().unwrap_err()
    );
    drop((bp, op));
    same("probe cancelled");
    let r = (
        borrowed.try_acquire().unwrap().record(Verdict::Success),
        owned.try_acquire_owned().unwrap().record(Verdict::Success),
    );
    assert_eq!(r.0, r.1);
    same("probe success");
    let r = (
        borrowed.try_acquire().unwrap().record(Verdict::failure()),
        owned
            .try_acquire_owned()
            .unwrap()
            .record(Verdict::failure()),
    );
    assert_eq!(r.0, r.1);
    assert_eq!(r.1.transition().map(|t| t.to), Some(State::Open));
    same("re-opened");
    assert_eq!(
        Arc::strong_count(&owned),
        1,
        "every permit released its Arc"
    );
}

#[test]
fn owned_stale_report_changes_nothing_and_is_counted() {
    let b = shared(&ManualClock::new());
    let old = b.try_acquire_owned().unwrap();
    let old2 = b.try_acquire_owned().unwrap();
    assert_eq!(Arc::strong_count(&b), 3);
    let _ = b.force_open();
    let before = b.snapshot();
    assert_eq!(old.record(Verdict::failure()), Recorded::Stale);
    assert_eq!(old2.record(Verdict::Success), Recorded::Stale);
    assert_eq!(b.snapshot(), before);
    assert_eq!(b.stale_reports(), 2);
    assert_eq!(Arc::strong_count(&b), 1);
    // A rejection clones nothing.
    assert_eq!(b.try_acquire_owned().unwrap_err(), Rejected::ForcedOpen);
    assert_eq!(Arc::strong_count(&b), 1);
}

#[test]
fn owned_dropped_probe_frees_its_slot_and_is_no_signal() {
    let clock = ManualClock::new();
    let b = shared(&clock);
    trip(&b);
    clock.advance(100 * MS);
    let probe = b.try_acquire_owned().unwrap();
    assert_eq!(b.try_acquire_owned().unwrap_err(), Rejected::ProbesBusy);
    drop(probe);
    let s = b.snapshot();
    assert_eq!(
        (s.state, s.probes_in_flight, s.probe_successes),
        (State::HalfOpen, 0, 0)
    );
    assert_eq!(Arc::strong_count(&b), 1);
    // The slot is free exactly once: one new probe, and the cap holds again.
    let again = b.try_acquire_owned().unwrap();
    assert_eq!(b.try_acquire_owned().unwrap_err(), Rejected::ProbesBusy);
    drop(again);
}

#[test]
fn owned_recorded_probe_does_not_also_cancel() {
    // A recorded probe's slot is freed by the report; its `Drop` (which releases
    // the `Arc`) must not free it again, or two probes could be out at once.
    let clock = ManualClock::new();
    let b = Arc::new(
        Breaker::builder()
            .trip_after_consecutive_failures(1)
            .open_for(100 * MS)
            .open_jitter(0.0)
            .probes(2)
            .close_after(3)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let _ = b.try_acquire_owned().unwrap().record(Verdict::failure());
    clock.advance(100 * MS);
    let first = b.try_acquire_owned().unwrap();
    let second = b.try_acquire_owned().unwrap();
    assert_eq!(b.try_acquire_owned().unwrap_err(), Rejected::ProbesBusy);
    assert!(!first.record(Verdict::Ignored).is_stale());
    assert_eq!(
        b.snapshot().probes_in_flight,
        1,
        "second still holds its slot"
    );
    let third = b.try_acquire_owned().unwrap();
    assert_eq!(b.try_acquire_owned().unwrap_err(), Rejected::ProbesBusy);
    // And a cancellation frees one slot, not two.
    drop(second);
    assert_eq!(
        b.snapshot().probes_in_flight,
        1,
        "third still holds its slot"
    );
    drop(third);
    assert_eq!(b.snapshot().probes_in_flight, 0);
}

#[test]
fn owned_permits_are_recorded_and_dropped_on_other_threads() {
    let clock = ManualClock::new();
    let b = shared(&clock);
    // Two failures recorded on spawned threads trip the breaker.
    for _ in 0..2 {
        let permit = b.try_acquire_owned().unwrap();
        let recorded = std::thread::spawn(move || permit.record(Verdict::failure()))
            .join()
            .unwrap();
        assert!(!recorded.is_stale());
    }
    assert_eq!(b.snapshot().state, State::Open);
    clock.advance(100 * MS);
    // A probe dropped on another thread frees its slot there.
    let probe = b.try_acquire_owned().unwrap();
    assert_eq!(b.try_acquire_owned().unwrap_err(), Rejected::ProbesBusy);
    std::thread::spawn(move || drop(probe)).join().unwrap();
    assert_eq!(b.snapshot().probes_in_flight, 0);
    // And one recorded there closes it (close_after = 2).
    for _ in 0..2 {
        let probe = b.try_acquire_owned().unwrap();
        let recorded = std::thread::spawn(move || probe.record(Verdict::Success))
            .join()
            .unwrap();
        assert!(!recorded.is_stale());
    }
    assert_eq!(b.snapshot().state, State::Closed);
    assert_eq!(Arc::strong_count(&b), 1);
}

#[test]
fn owned_record_timed_and_debug() {
    let b = Arc::new(
        Breaker::builder()
            .slow_call(500 * MS, 1.0)
            .clock(ManualClock::new())
            .build()
            .unwrap(),
    );
    let p = b.try_acquire_owned().unwrap();
    assert!(format!("{p:?}").contains("OwnedPermit") && format!("{p:?}").contains("epoch: 0"));
    assert!(Arc::ptr_eq(p.breaker(), &b));
    let _ = p.record_timed(Verdict::Success, 400 * MS);
    assert_eq!(b.snapshot().health, Some(1.0), "fast enough");
    let _ = b
        .try_acquire_owned()
        .unwrap()
        .record_timed(Verdict::Success, 600 * MS);
    assert!(
        b.snapshot().health.unwrap() < 1.0,
        "a slow success is a failure"
    );
}

/// The decay tick of a time is `elapsed / tick_ns` (capped at the mark's
/// field), computed by a multiply and shift: the same as the division, at the
/// edges and over a sweep, for the smallest, default and largest half-lives.
#[test]
fn the_tick_of_a_time_is_the_exact_quotient() {
    for half_life in [
        64 * MS,
        64 * MS + Duration::from_nanos(63),
        Duration::from_secs(5),
        Duration::from_secs(366 * 86_400),
    ] {
        let b = Breaker::builder().half_life(half_life).build().unwrap();
        let d = b.config.tick.get();
        let mut x = 0x2545_F491_4F6C_DD1D_u64;
        let mut times = vec![
            0,
            1,
            d - 1,
            d,
            d + 1,
            2 * d - 1,
            u64::MAX,
            u64::MAX - 1,
            u64::MAX / 2,
        ];
        for k in [3u64, 1 << 20, MARK_MAX, MARK_MAX + 1] {
            if let Some(t) = k.checked_mul(d) {
                times.extend([t - 1, t, t + 1]);
            }
        }
        for _ in 0..100_000 {
            x = splitmix64(x);
            times.push(x >> (x % 64));
        }
        for t in times {
            assert_eq!(b.tick_of(t), (t / d).min(MARK_MAX), "{t} / {d}");
        }
    }
}

/// A clock that counts its readings.
#[derive(Clone, Default)]
struct CountingClock(Arc<AtomicUsize>);

impl Clock for CountingClock {
    fn now_nanos(&self) -> u64 {
        self.0.fetch_add(1, StdOrdering::Relaxed);
        0
    }
}

/// Below full health the clock is read by failures only: untimed successes,
/// non-signals, and graded admissions whose draw the stored health admits
/// read none (the clock stands still here, so time changes nothing either way).
#[test]
fn a_downstream_that_fails_a_little_reads_the_clock_once_per_failure() {
    let clock = CountingClock::default();
    let b = Breaker::builder()
        .trip_on_failure_rate(0.95, 50)
        .shed_below(0.99)
        .min_admit(0.5)
        .adaptive_limit(false)
        .jitter_seed(11)
        .clock(clock.clone())
        .build()
        .unwrap();
    let reads = || clock.0.load(StdOrdering::Relaxed);
    let built = reads();
    let (mut failures, mut refusals) = (0, 0);
    for i in 0..10_000u32 {
        match b.try_acquire() {
            Ok(p) => {
                let _ = p.record(if i % 20 == 0 {
                    failures += 1;
                    Verdict::failure()
                } else if i % 7 == 0 {
                    Verdict::Ignored
                } else {
                    Verdict::Success
                });
            }
            Err(Rejected::Shed) => refusals += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    let total = reads() - built;
    assert_eq!(b.snapshot().state, State::Closed);
    assert!(refusals > 100, "grading refused some: {refusals}");
    // Every failure reads the clock once; a graded admission reads it only
    // when the stored health would refuse its draw, and then (the clock
    // standing still) the draw is refused; an observed breaker stamps the
    // refusal's event with the time too.
    let per_refusal = if b.observed() { 2 } else { 1 };
    assert_eq!(
        total,
        failures + per_refusal * refusals,
        "{failures} failures, {refusals} refusals"
    );
}

/// `record_timed` reads the breaker's clock (to report on time and to feed
/// the concurrency limit) only while the limit is on; with it off, a timed
/// success below full health is an untimed one. Both permits alike.
#[test]
fn record_timed_reads_the_clock_only_while_the_limit_is_on() {
    for adaptive in [false, true] {
        let clock = CountingClock::default();
        let b = Arc::new(
            Breaker::builder()
                .adaptive_limit(adaptive)
                .clock(clock.clone())
                .build()
                .unwrap(),
        );
        let _ = fail(&b); // below full health: a success is not the no-op
        let reads = || clock.0.load(StdOrdering::Relaxed);
        let before = reads();
        let _ = b.try_acquire().unwrap().record_timed(Verdict::Success, MS);
        let borrowed = reads() - before;
        let before = reads();
        let _ = b
            .try_acquire_owned()
            .unwrap()
            .record_timed(Verdict::Success, MS);
        let owned = reads() - before;
        let expected = usize::from(adaptive);
        assert_eq!(
            (borrowed, owned),
            (expected, expected),
            "limit on: {adaptive}"
        );
    }
}
