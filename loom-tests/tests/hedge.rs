#![cfg(loom)]
//! Hedging (docs/DESIGN.md, "Hedging"): a hedged call holds two permits of one
//! epoch at once, its first attempt's and its hedge's; the winner records, the
//! loser is dropped unrecorded (a cancellation). Raced against another caller
//! whose failure trips the breaker, the call changes nothing the trip does not
//! allow: the loser's cancellation is a no-op whether its epoch is current or
//! stale, and the winner's success is applied or reported stale, never both.

use fusebox::{ManualClock, Recorded, State, Verdict};
use fusebox_loom_tests::{Stats, Turns, Witness, builder, sequential};
use loom::thread;
// `try_acquire_owned` takes a `std::sync::Arc` (see tests/owned.rs).
use std::sync::Arc;

/// Closed, full health, one failure trips. Before the race, the hedged call
/// holds its first attempt's permit and its hedge's (both epoch 0), and B holds
/// a permit. A: the hedge wins (records a success), the first attempt is
/// dropped (its future lost the race). B: records a failure, which trips. At
/// quiescence the breaker is exactly as B's trip alone leaves it, in every
/// interleaving: a success at full health changes nothing, a stale one is
/// refused, and the loser's drop never frees, counts or moves anything.
#[test]
fn hedge_loser_and_winner_race_a_trip() {
    let stats = Stats::unbounded("hedge::hedge_loser_and_winner_race_a_trip");
    let applied = Witness::new("the hedge's success was applied (before the trip)");
    let stale = Witness::new("the hedge's success was stale (after the trip)");
    let (applied_in, stale_in) = (applied.clone(), stale.clone());
    // The reference: B's trip alone, on a breaker built the same way.
    let reference = sequential(|| {
        let clock = ManualClock::new();
        let breaker = builder(&clock)
            .trip_after_consecutive_failures(1)
            .build()
            .unwrap();
        let permit = breaker.try_acquire().unwrap();
        let _ = permit.record(Verdict::failure());
        breaker.snapshot()
    });
    assert_eq!(reference.state, State::Open, "reference: {reference:?}");
    assert_eq!(reference.epoch, 1, "reference: {reference:?}");
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let breaker = Arc::new(
            builder(&clock)
                .trip_after_consecutive_failures(1)
                .build()
                .unwrap(),
        );
        // Owned permits, to hand them to the model's threads (the hedged
        // future holds borrowed ones; the protocol is the same).
        let first = breaker.try_acquire_owned().expect("closed");
        let hedge = breaker.try_acquire_owned().expect("closed");
        let theirs = breaker.try_acquire_owned().expect("closed");
        assert_eq!((first.epoch(), hedge.epoch()), (0, 0));

        // A success at full health is a pure load (the healthy path), which
        // loom's DPOR does not order after another thread's CAS by itself: a
        // shared tick before each side makes both orders happen (README,
        // "DPOR and pure loads").
        let turns = Turns::new();
        let a = {
            let turns = turns.clone();
            thread::spawn(move || {
                turns.tick();
                let won = hedge.record(Verdict::Success);
                drop(first); // the loser: cancelled, not recorded
                won
            })
        };
        let b = thread::spawn(move || {
            turns.tick();
            theirs.record(Verdict::failure())
        });
        let won = a.join().unwrap();
        let tripped = b.join().unwrap();

        assert_eq!(
            tripped.transition().map(|t| (t.from, t.to)),
            Some((State::Closed, State::Open)),
            "B's failure trips, whatever the hedge did: {tripped:?}"
        );
        match won {
            Recorded::Applied { transition: None } => applied_in.saw(),
            Recorded::Stale => stale_in.saw(),
            other => panic!("a success cannot move a closed breaker: {other:?}"),
        }
        let s = breaker.snapshot();
        assert_eq!(s, reference, "the call left a trace beyond the trip");
        assert_eq!(breaker.limit().in_flight, 0, "a permit kept a slot");
        assert_eq!(Arc::strong_count(&breaker), 1, "a permit kept its Arc");
    }));
    stats.report();
    applied.assert_seen();
    stale.assert_seen();
}
