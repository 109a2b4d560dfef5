#![cfg(loom)]
//! Owned permits: where an `OwnedPermit` differs from a borrowed `Permit` (it
//! holds an `Arc<Breaker>`, so it can be acquired on one thread and dropped on
//! another), the probe cap and the cancellation still hold.
//!
//! The breaker is in a `std::sync::Arc`, since that is what
//! `Breaker::try_acquire_owned` takes: loom does not model that `Arc`'s reference
//! count (the standard library's own concern), only the breaker's atomics; the
//! model checks that the count comes back to one at the end.

use fusebox::{Breaker, ManualClock, Rejected, State};
use fusebox_loom_tests::{Held, Stats, Witness, builder, trip_and_wait};
use loom::thread;
use std::sync::Arc;

/// probes = 1, Open past its deadline. The model thread acquires the owned probe
/// and hands it to A, which drops it there (a cancellation on another thread).
/// Meanwhile B acquires: if admitted, it must be the only probe out (the cap, by
/// a shared `Held` count), and its second attempt, while it holds the slot, must be
/// `ProbesBusy` (A's cancellation freed the slot exactly once, not B's as well).
/// At quiescence no probe is in flight, the cap holds for a fresh pair of
/// attempts, and every `Arc` clone was released.
#[test]
fn owned_probe_cancelled_on_another_thread_frees_its_slot_once() {
    let stats =
        Stats::unbounded("owned::owned_probe_cancelled_on_another_thread_frees_its_slot_once");
    let busy = Witness::new("B was turned away while A still held the probe");
    let freed = Witness::new("B got the slot A's cancellation freed");
    let (busy_in, freed_in) = (busy.clone(), freed.clone());
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let breaker: Arc<Breaker> = Arc::new(
            builder(&clock)
                .trip_after_consecutive_failures(1)
                .probes(1)
                .close_after(2)
                .build()
                .unwrap(),
        );
        let probe_epoch = trip_and_wait(&breaker, &clock);
        let held = Held::new();
        let probe = breaker.try_acquire_owned().expect("the first probe");
        assert_eq!(probe.epoch(), probe_epoch);
        assert_eq!(held.enter(), 1);

        let a = {
            let held = held.clone();
            thread::spawn(move || {
                held.leave();
                drop(probe);
            })
        };
        let b = {
            let (breaker, held) = (breaker.clone(), held.clone());
            thread::spawn(move || match breaker.try_acquire_owned() {
                Ok(permit) => {
                    assert_eq!(permit.epoch(), probe_epoch);
                    let now = held.enter();
                    assert!(now <= 1, "{now} probes held at once with probes = 1");
                    match breaker.try_acquire_owned() {
                        Err(Rejected::ProbesBusy) => {}
                        other => {
                            panic!("B holds the only slot, yet its second attempt got {other:?}")
                        }
                    }
                    held.leave();
                    drop(permit);
                    true
                }
                Err(Rejected::ProbesBusy) => false,
                Err(e) => panic!("B: unexpected rejection {e:?}"),
            })
        };
        a.join().unwrap();
        if b.join().unwrap() {
            freed_in.saw();
        } else {
            busy_in.saw();
        }

        let s = breaker.snapshot();
        assert_eq!((s.state, s.epoch), (State::HalfOpen, probe_epoch), "{s:?}");
        assert_eq!(
            s.probes_in_flight, 0,
            "a cancelled probe kept its slot: {s:?}"
        );
        let fresh = breaker.try_acquire_owned().expect("the slot is free again");
        assert_eq!(
            breaker.try_acquire_owned().unwrap_err(),
            Rejected::ProbesBusy
        );
        drop(fresh);
        assert_eq!(breaker.snapshot().probes_in_flight, 0);
        assert_eq!(
            Arc::strong_count(&breaker),
            1,
            "an owned permit kept its Arc"
        );
    }));
    stats.report();
    busy.assert_seen();
    freed.assert_seen();
}
