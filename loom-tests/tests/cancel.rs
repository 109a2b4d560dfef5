#![cfg(loom)]
//! Property 5, a cancelled probe frees its slot: dropping a probe permit unrecorded
//! gives its half-open slot back (so the breaker cannot wedge in `HalfOpen`), and only
//! its own slot: a cancellation from an older half-open epoch never frees a slot of a
//! newer one.

use fusebox::{ManualClock, Rejected, State, Verdict};
use fusebox_loom_tests::{Latch, OPEN_FOR, Stats, Witness, builder, trip_and_wait};
use loom::sync::Arc;
use loom::thread;

/// probes = 1, Open past its deadline. A calls `try_acquire` and drops what it gets
/// (a cancellation); B calls `try_acquire` and records `Ignored` if admitted. At
/// quiescence no probe is in flight, a fresh `try_acquire` is admitted, and the cap
/// still holds (a second one is busy): the slot was freed exactly once per permit.
#[test]
fn cancelled_probe_frees_its_slot() {
    let stats = Stats::unbounded("cancel::cancelled_probe_frees_its_slot");
    let busy = Witness::new("B was turned away while A held the slot");
    let busy_in = busy.clone();
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let breaker = Arc::new(
            builder(&clock)
                .trip_after_consecutive_failures(1)
                .probes(1)
                .close_after(2)
                .build()
                .unwrap(),
        );
        let probe_epoch = trip_and_wait(&breaker, &clock);

        let a = {
            let breaker = breaker.clone();
            thread::spawn(move || {
                let permit = breaker.try_acquire();
                let admitted = permit.as_ref().map(|p| p.epoch()).ok();
                drop(permit);
                admitted
            })
        };
        let b = {
            let breaker = breaker.clone();
            thread::spawn(move || match breaker.try_acquire() {
                Ok(permit) => {
                    let epoch = permit.epoch();
                    assert!(!permit.record(Verdict::Ignored).is_stale());
                    Ok(epoch)
                }
                Err(e) => Err(e),
            })
        };
        let a = a.join().unwrap();
        let b = b.join().unwrap();

        assert!(a.is_some() || b.is_ok(), "someone got the first probe");
        for epoch in a.into_iter().chain(b.ok()) {
            assert_eq!(epoch, probe_epoch);
        }
        match b {
            Ok(_) => {}
            Err(Rejected::ProbesBusy) => {
                assert!(a.is_some(), "busy, so A held the slot");
                busy_in.saw();
            }
            Err(e) => panic!("B: unexpected rejection {e:?}"),
        }

        let s = breaker.snapshot();
        assert_eq!((s.state, s.epoch), (State::HalfOpen, probe_epoch), "{s:?}");
        assert_eq!(
            s.probes_in_flight, 0,
            "a finished probe kept its slot: {s:?}"
        );
        assert_eq!(s.probe_successes, 0, "{s:?}");
        let fresh = breaker.try_acquire().expect("the slot is free again");
        assert_eq!(fresh.epoch(), probe_epoch);
        assert_eq!(breaker.try_acquire().unwrap_err(), Rejected::ProbesBusy);
        drop(fresh);
        assert_eq!(breaker.snapshot().probes_in_flight, 0);
    }));
    stats.report();
    busy.assert_seen();
}

/// probes = 2, Open past its deadline (clock at 1 ms). A takes a probe and drops it.
/// B takes a probe and fails it (re-open for 2 ms, epoch 3), advances the clock to
/// the new deadline and takes the first probe of the next half-open period (epoch 4),
/// which it holds while checking that its slot is still counted: a late cancellation
/// of A's epoch-2 permit must not free it.
#[test]
fn stale_cancel_does_not_free_a_newer_probe_slot() {
    let stats = Stats::unbounded("cancel::stale_cancel_does_not_free_a_newer_probe_slot");
    let late = Witness::new("A cancelled its epoch-2 probe after B's epoch-4 probe was out");
    let late_in = late.clone();
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let breaker = Arc::new(
            builder(&clock)
                .trip_after_consecutive_failures(1)
                .probes(2)
                .build()
                .unwrap(),
        );
        let probe_epoch = trip_and_wait(&breaker, &clock);
        let newer_out = Latch::new();

        let a = {
            let (breaker, newer_out) = (breaker.clone(), newer_out.clone());
            thread::spawn(move || {
                let permit = breaker.try_acquire();
                let epoch = permit.as_ref().map(|p| p.epoch()).ok();
                // Whether B's newer probe was already out when A cancelled (a lock:
                // loom orders it like any other access, no spinning).
                let late = epoch == Some(probe_epoch) && newer_out.arrived() > 0;
                drop(permit);
                (epoch, late)
            })
        };
        let b = {
            let (breaker, clock, newer_out) = (breaker.clone(), clock.clone(), newer_out.clone());
            thread::spawn(move || {
                let probe = breaker.try_acquire().expect("probes = 2: always a slot");
                assert_eq!(probe.epoch(), probe_epoch);
                let reopen = probe.record(Verdict::failure());
                let t = reopen.transition().expect("B's probe failure re-opens");
                assert_eq!(
                    (t.to, t.epoch, t.open_for),
                    (State::Open, probe_epoch + 1, Some(OPEN_FOR * 2))
                );
                clock.advance(OPEN_FOR * 2);
                let newer = breaker.try_acquire().expect("past the new deadline");
                assert_eq!(newer.epoch(), probe_epoch + 2);
                newer_out.open();
                let s = breaker.snapshot();
                assert_eq!(
                    (s.state, s.epoch),
                    (State::HalfOpen, probe_epoch + 2),
                    "{s:?}"
                );
                assert!(
                    s.probes_in_flight >= 1,
                    "B's held probe lost its slot: {s:?}"
                );
                drop(newer);
            })
        };
        let (a_epoch, a_late) = a.join().unwrap();
        b.join().unwrap();
        if a_late {
            late_in.saw();
        }
        if let Some(e) = a_epoch {
            assert!(
                e == probe_epoch || e == probe_epoch + 2,
                "A admitted in {e}"
            );
        }

        let s = breaker.snapshot();
        assert_eq!(
            (s.state, s.epoch),
            (State::HalfOpen, probe_epoch + 2),
            "{s:?}"
        );
        assert_eq!(s.probes_in_flight, 0, "{s:?}");
        let fresh = breaker.try_acquire().expect("the slots are free");
        let second = breaker.try_acquire().expect("probes = 2");
        assert_eq!(breaker.try_acquire().unwrap_err(), Rejected::ProbesBusy);
        drop((fresh, second));
    }));
    stats.report();
    late.assert_seen();
}
