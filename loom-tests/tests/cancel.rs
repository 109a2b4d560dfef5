#![cfg(loom)]
//! Property 5, a cancelled probe frees its slot: dropping a probe permit unrecorded
//! gives its half-open slot back (so the breaker cannot wedge in `HalfOpen`), and only
//! its own slot: a cancellation from an older half-open epoch never frees a slot of a
//! newer one.

use fusebox::{Breaker, ManualClock, Permit, Rejected, State, Verdict};
use fusebox_loom_tests::{Latch, OPEN_FOR, Stats, Turns, Witness, builder, trip_and_wait};
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

// `stale_cancel_does_not_free_a_newer_probe_slot` (one model of about 500k
// iterations) is split in three, by which of B's steps A's operations race: A's
// cancellation of a probe of epoch 2 it already holds against all of B's steps
// (the late cancellation itself); A's whole `try_acquire` and cancellation against
// B's probe of epoch 2 and its failure; and against B's probe of epoch 4. Together
// they race every pair of A's and B's operations the one model raced; what none of
// them runs is a single execution in which A's `try_acquire` and A's cancellation
// race two different of those phases (README.md, "Split models").

/// The breaker of the stale-cancel models: probes = 2, Open past its deadline
/// (clock at 1 ms). Returns it and the epoch of its first probe (2).
fn two_probes_open_past_the_deadline(clock: &ManualClock) -> (Arc<Breaker>, u32) {
    let breaker = Arc::new(
        builder(clock)
            .trip_after_consecutive_failures(1)
            .probes(2)
            .build()
            .unwrap(),
    );
    let probe_epoch = trip_and_wait(&breaker, clock);
    (breaker, probe_epoch)
}

/// B's first steps: take a probe of `probe_epoch` and fail it (a re-open for 2 ms,
/// epoch `probe_epoch + 1`).
fn probe_and_fail(breaker: &Breaker, probe_epoch: u32) {
    let probe = breaker.try_acquire().expect("probes = 2: always a slot");
    assert_eq!(probe.epoch(), probe_epoch);
    let reopen = probe.record(Verdict::failure());
    let t = reopen.transition().expect("B's probe failure re-opens");
    assert_eq!(
        (t.to, t.epoch, t.open_for),
        (State::Open, probe_epoch + 1, Some(OPEN_FOR * 2))
    );
}

/// B's last steps: advance the clock to the re-open's deadline, take the first
/// probe of the next half-open period (epoch `probe_epoch + 2`), raise `newer_out`
/// (if there is one: a thread that can hold a probe of `probe_epoch` asks it) and,
/// while holding the probe, check that its slot is still counted.
fn newer_probe_holds_its_slot(
    breaker: &Breaker,
    clock: &ManualClock,
    newer_out: Option<&Latch>,
    probe_epoch: u32,
) {
    clock.advance(OPEN_FOR * 2);
    let newer = breaker.try_acquire().expect("past the new deadline");
    assert_eq!(newer.epoch(), probe_epoch + 2);
    if let Some(newer_out) = newer_out {
        newer_out.open();
    }
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
}

/// A's cancellation of `permit` (if any): whether B's newer probe was already out
/// when A cancelled a probe of `probe_epoch` (a lock: loom orders it like any other
/// access, no spinning).
fn cancel(permit: Option<Permit<'_>>, newer_out: &Latch, probe_epoch: u32) -> bool {
    let late = permit.as_ref().is_some_and(|p| p.epoch() == probe_epoch) && newer_out.arrived() > 0;
    drop(permit);
    late
}

/// At quiescence: HalfOpen at `probe_epoch + 2` with no probe in flight, two fresh
/// probes admitted, a third busy.
fn no_slot_leaked(breaker: &Breaker, probe_epoch: u32) {
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
}

/// The late cancellation. probes = 2, Open past its deadline: A (the model thread)
/// takes a probe of epoch 2 before B starts, then cancels it (drops it) while B
/// takes the second probe of epoch 2 and fails it (re-open for 2 ms, epoch 3),
/// advances the clock to the new deadline and takes the first probe of the next
/// half-open period (epoch 4), which it holds while checking that its slot is still
/// counted: a late cancellation of A's epoch-2 permit must not free it.
///
/// Catches: a cancellation that frees a slot of whatever half-open epoch it finds
/// (plant C1 of `README.md`).
#[test]
fn stale_cancel_does_not_free_a_newer_probe_slot() {
    let stats = Stats::unbounded("cancel::stale_cancel_does_not_free_a_newer_probe_slot");
    let late = Witness::new("A cancelled its epoch-2 probe after B's epoch-4 probe was out");
    let late_in = late.clone();
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let (breaker, probe_epoch) = two_probes_open_past_the_deadline(&clock);
        let newer_out = Latch::new();
        let mine = breaker.try_acquire().expect("the first probe");
        assert_eq!(mine.epoch(), probe_epoch);
        let b = {
            let (breaker, clock, newer_out) = (breaker.clone(), clock.clone(), newer_out.clone());
            thread::spawn(move || {
                probe_and_fail(&breaker, probe_epoch);
                newer_probe_holds_its_slot(&breaker, &clock, Some(&newer_out), probe_epoch);
            })
        };
        if cancel(Some(mine), &newer_out, probe_epoch) {
            late_in.saw();
        }
        b.join().unwrap();
        no_slot_leaked(&breaker, probe_epoch);
    }));
    stats.report();
    late.assert_seen();
}

/// A's whole `try_acquire` and cancellation against B's probe of epoch 2 and its
/// failure. probes = 2, Open past its deadline: A asks for a probe and drops what it
/// gets; B takes a probe and fails it (re-open for 2 ms, epoch 3). A is admitted in
/// epoch 2 (either slot, either one making the transition into HalfOpen) or turned
/// away by the re-open, and its cancellation lands in epoch 2 or, stale, in epoch 3.
/// Then (the model thread) the clock reaches the new deadline and a probe of epoch
/// 4 holds its slot: no cancellation freed it, and none is left owed.
///
/// Catches: the re-open's deadline publication or the readers' loads of it without
/// their orderings (plants 2, 2c, 2d of `README.md`).
#[test]
fn stale_cancel_probe_races_the_reopen() {
    let stats = Stats::unbounded("cancel::stale_cancel_probe_races_the_reopen");
    let admitted = Witness::new("A admitted in epoch 2");
    let turned_away = Witness::new("A turned away by the re-open");
    let ws = [&admitted, &turned_away].map(Witness::clone);
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let (breaker, probe_epoch) = two_probes_open_past_the_deadline(&clock);
        let a = {
            let breaker = breaker.clone();
            thread::spawn(move || {
                let permit = breaker.try_acquire();
                let epoch = permit.as_ref().map(|p| p.epoch()).ok();
                drop(permit);
                epoch
            })
        };
        let b = {
            let breaker = breaker.clone();
            thread::spawn(move || probe_and_fail(&breaker, probe_epoch))
        };
        let a_epoch = a.join().unwrap();
        b.join().unwrap();
        match a_epoch {
            Some(e) => {
                assert_eq!(e, probe_epoch, "A admitted in {e}");
                ws[0].saw();
            }
            None => ws[1].saw(),
        }
        newer_probe_holds_its_slot(&breaker, &clock, None, probe_epoch);
        no_slot_leaked(&breaker, probe_epoch);
    }));
    stats.report();
    admitted.assert_seen();
    turned_away.assert_seen();
}

/// A's whole `try_acquire` and cancellation against B's probe of epoch 4. probes =
/// 2; B's probe of epoch 2 has failed (re-open for 2 ms, epoch 3) before the race.
/// A asks for a probe and drops what it gets, while B advances the clock to the new
/// deadline and takes a probe of epoch 4, which it holds while checking that its
/// slot is still counted. A is turned away (Open, before the deadline) or admitted
/// in epoch 4 (either one making the transition into HalfOpen), and then cancels
/// its own probe: only its own slot. Both threads tick first: A's `try_acquire` in
/// Open is loads and a clock reading only, and B's clock advance and CAS into
/// HalfOpen would otherwise never come before them (see `Turns`).
///
/// Catches: the lease publication or the readers' loads of the deadline word
/// without their orderings (plants 2c, 2d of `README.md`).
#[test]
fn stale_cancel_probe_asks_during_a_newer_probe() {
    let stats = Stats::unbounded("cancel::stale_cancel_probe_asks_during_a_newer_probe");
    let admitted = Witness::new("A admitted in epoch 4");
    let turned_away = Witness::new("A turned away (Open)");
    let ws = [&admitted, &turned_away].map(Witness::clone);
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let (breaker, probe_epoch) = two_probes_open_past_the_deadline(&clock);
        probe_and_fail(&breaker, probe_epoch);
        let turns = Turns::new();
        let a = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || {
                turns.tick();
                let permit = breaker.try_acquire();
                let epoch = permit.as_ref().map(|p| p.epoch()).ok();
                drop(permit);
                epoch
            })
        };
        let b = {
            let (breaker, clock, turns) = (breaker.clone(), clock.clone(), turns.clone());
            thread::spawn(move || {
                turns.tick();
                newer_probe_holds_its_slot(&breaker, &clock, None, probe_epoch);
            })
        };
        let a_epoch = a.join().unwrap();
        b.join().unwrap();
        match a_epoch {
            Some(e) => {
                assert_eq!(e, probe_epoch + 2, "A admitted in {e}");
                ws[0].saw();
            }
            None => ws[1].saw(),
        }
        no_slot_leaked(&breaker, probe_epoch);
    }));
    stats.report();
    admitted.assert_seen();
    turned_away.assert_seen();
}
