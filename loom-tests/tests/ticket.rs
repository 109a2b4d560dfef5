#![cfg(loom)]
//! The healthy path's whole-word ticket (`state.rs`, `Ticket`).
//!
//! A permit admitted under the healthy word (any `Closed` word at full health, which
//! always has 0 samples: samples count the spell below full health) keeps that whole
//! word, and its success report is a no-op exactly when the current word still
//! equals it: one load and one compare, no CAS. These models race that report against the two
//! kinds of change it must not miss:
//!
//! - a same-epoch change (another permit's failure lowers health without
//!   tripping): a success that comes after it must be applied (health rises), not
//!   taken for a no-op;
//! - a new epoch (`force_open`): the success must be `Stale` or come before it.
//!
//! The report is a pure load; loom does not try "the other thread's CAS before a
//! pure load" unless something forces the order (see `Turns`), so both threads
//! tick before their operations, and witnesses assert that every order the models
//! mean to cover was reached.

use fusebox::{Breaker, BreakerSnapshot, ManualClock, Recorded, State, Transition, Verdict};
use fusebox_loom_tests::{Stats, Turns, Witness, builder, sequential};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;

/// `trip_after_consecutive_failures(2)` (graded admission off, set explicitly), at
/// the healthy word: a new breaker is at full health with no samples, and two
/// successes on it are no-ops that leave it so.
fn healthy(clock: &ManualClock) -> Breaker {
    let breaker = builder(clock)
        .trip_after_consecutive_failures(2)
        .shed_below(0.0)
        .build()
        .unwrap();
    for _ in 0..2 {
        let r = breaker.try_acquire().unwrap().record(Verdict::Success);
        assert_eq!(r, Recorded::Applied { transition: None });
    }
    let s = breaker.snapshot();
    assert_eq!(
        (s.state, s.epoch, s.health, s.samples),
        (State::Closed, 0, Some(1.0), 0)
    );
    breaker
}

/// A's success against B's non-tripping failure, in both sequential orders:
/// (A then B, B then A) final snapshots.
fn failure_references() -> (BreakerSnapshot, BreakerSnapshot) {
    sequential(|| {
        let run = |a_first: bool| {
            let clock = ManualClock::new();
            let breaker = healthy(&clock);
            let a = breaker.try_acquire().unwrap();
            let b = || {
                let r = breaker.try_acquire().unwrap().record(Verdict::failure());
                assert_eq!(
                    r,
                    Recorded::Applied { transition: None },
                    "one failure of two"
                );
            };
            if a_first {
                assert_eq!(
                    a.record(Verdict::Success),
                    Recorded::Applied { transition: None }
                );
                b();
            } else {
                b();
                assert_eq!(
                    a.record(Verdict::Success),
                    Recorded::Applied { transition: None }
                );
            }
            breaker.snapshot()
        };
        let (a_then_b, b_then_a) = (run(true), run(false));
        assert!(
            b_then_a.health > a_then_b.health,
            "a success after the failure raises health: {a_then_b:?} {b_then_a:?}"
        );
        (a_then_b, b_then_a)
    })
}

/// A (the model thread) holds a whole-word ticket and reports a success; B, on its
/// own permit of the same epoch, reports a failure that does not trip and then
/// raises a flag (`Release`). If A saw the flag (`Acquire`) before reporting, B's
/// failure happened before A's report, so A's success must be applied on top of
/// it: the final snapshot is "B then A", never "A then B" (a success wrongly taken
/// for a no-op because the ticket was compared with an old word). Without the
/// flag either order is allowed. Both of A's reports are `Applied`.
#[test]
fn whole_ticket_success_after_a_seen_failure_is_applied() {
    let (a_then_b, b_then_a) = failure_references();
    let stats = Stats::unbounded("ticket::whole_ticket_success_after_a_seen_failure_is_applied");
    let seen = Witness::new("A saw B's failure first (B then A)");
    let unseen_first = Witness::new("A did not see it and came first (A then B)");
    let unseen_after = Witness::new("A did not see the flag but came after (B then A)");
    let (seen_in, first_in, after_in) = (seen.clone(), unseen_first.clone(), unseen_after.clone());
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let breaker = Arc::new(healthy(&clock));
        let turns = Turns::new();
        let flag = Arc::new(AtomicBool::new(false));
        let a = breaker.try_acquire().unwrap();
        let b = {
            let (breaker, turns, flag) = (breaker.clone(), turns.clone(), flag.clone());
            thread::spawn(move || {
                turns.tick();
                let r = breaker.try_acquire().unwrap().record(Verdict::failure());
                assert_eq!(r, Recorded::Applied { transition: None });
                // Release: publishes B's failure to a thread that sees the flag.
                flag.store(true, Ordering::Release);
            })
        };
        turns.tick();
        // Acquire: pairs with B's Release store.
        let saw = flag.load(Ordering::Acquire);
        turns.tick();
        let r = a.record(Verdict::Success);
        b.join().unwrap();
        assert_eq!(r, Recorded::Applied { transition: None });
        let after = breaker.snapshot();
        if saw {
            assert_eq!(after, b_then_a, "A reported after seeing B's failure");
            seen_in.saw();
        } else if after == a_then_b {
            first_in.saw();
        } else {
            assert_eq!(after, b_then_a, "one of the two orders");
            after_in.saw();
        }
    }));
    stats.report();
    seen.assert_seen();
    unseen_first.assert_seen();
    unseen_after.assert_seen();
}

/// A (the model thread) holds a whole-word ticket and reports a success; B calls
/// `force_open()`. A's report is either applied before B's transition (a no-op:
/// the final word is B's alone) or `Stale`, and either way the final state is
/// B's: `ForcedOpen` at epoch 1, nothing of A's, one stale report exactly when A
/// was stale.
#[test]
fn whole_ticket_success_vs_force_open() {
    let alone: BreakerSnapshot = sequential(|| {
        let clock = ManualClock::new();
        let breaker = healthy(&clock);
        let t = breaker.force_open().expect("closed -> forced open");
        assert_eq!(
            (t.from, t.to, t.epoch),
            (State::Closed, State::ForcedOpen, 1)
        );
        breaker.snapshot()
    });
    let stats = Stats::unbounded("ticket::whole_ticket_success_vs_force_open");
    let stale = Witness::new("A's success was stale");
    let applied = Witness::new("A's success came first (a no-op)");
    let (stale_in, applied_in) = (stale.clone(), applied.clone());
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let breaker = Arc::new(healthy(&clock));
        let turns = Turns::new();
        let a = breaker.try_acquire().unwrap();
        let b = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || {
                turns.tick();
                breaker.force_open()
            })
        };
        turns.tick();
        let r = a.record(Verdict::Success);
        let t: Transition = b.join().unwrap().expect("closed -> forced open");
        assert_eq!(
            (t.from, t.to, t.epoch),
            (State::Closed, State::ForcedOpen, 1)
        );
        assert_eq!(breaker.snapshot(), alone, "the final state is B's alone");
        match r {
            Recorded::Stale => {
                assert_eq!(breaker.stale_reports(), 1);
                stale_in.saw();
            }
            Recorded::Applied { transition: None } => {
                assert_eq!(breaker.stale_reports(), 0);
                applied_in.saw();
            }
            other => panic!("a success on the healthy word transitions nothing: {other:?}"),
        }
    }));
    stats.report();
    stale.assert_seen();
    applied.assert_seen();
}
