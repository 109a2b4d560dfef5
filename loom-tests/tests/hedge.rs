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

/// The models' breaker: closed, full health, tripped by one failure.
fn trips_on_one(clock: &ManualClock) -> Arc<fusebox::Breaker> {
    Arc::new(
        builder(clock)
            .trip_after_consecutive_failures(1)
            .build()
            .unwrap(),
    )
}

/// The reference both models compare with: B's trip alone (one failure on a
/// closed breaker that trips on one), on a breaker built as theirs.
fn trip_alone() -> fusebox::BreakerSnapshot {
    sequential(|| {
        let clock = ManualClock::new();
        let breaker = trips_on_one(&clock);
        let permit = breaker.try_acquire().unwrap();
        let _ = permit.record(Verdict::failure());
        breaker.snapshot()
    })
}

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
    let reference = trip_alone();
    assert_eq!(reference.state, State::Open, "reference: {reference:?}");
    assert_eq!(reference.epoch, 1, "reference: {reference:?}");
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let breaker = trips_on_one(&clock);
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

/// The hedged call's engine itself (`HedgedGuard::call_async_outcome`, driven
/// by hand on this model thread), raced against another caller's trip. A's
/// first attempt does not answer at its first two polls; the manual sleeper's
/// hedge timer is due at once, so a hedge goes out if the breaker still
/// allows one (closed, healthy) and answers at once: it wins and the first
/// attempt's future is dropped with its ticket (a cancellation). If B's trip
/// came first, no hedge is sent and the first attempt answers at its third
/// poll. Either way the call succeeds, and the breaker ends exactly as B's
/// trip alone leaves it: every ticket was given back once (the limit holds
/// nothing), the loser recorded nothing, and a success after the trip was
/// stale.
#[test]
fn the_hedged_call_races_a_trip() {
    use fusebox::{Attempt, Guard, Hedge, ManualSleeper, Retry, Stop, Winner};
    use std::future::Future;
    use std::pin::{Pin, pin};
    use std::task::{Context, Poll, Waker};

    /// Pending for `polls` polls, then `Ok(number)`.
    struct Answer {
        polls: u32,
        number: u32,
    }
    impl Future for Answer {
        type Output = Result<u32, ()>;
        fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<u32, ()>> {
            if self.polls == 0 {
                return Poll::Ready(Ok(self.number));
            }
            self.polls -= 1;
            Poll::Pending
        }
    }

    let stats = Stats::unbounded("hedge::the_hedged_call_races_a_trip");
    let hedged = Witness::new("the hedge was sent and won");
    let refused = Witness::new("no hedge (the trip came first); the first attempt won");
    let probe = Witness::new("the hedge's permit was a half-open probe's, given back");
    let (hedged_in, refused_in, probe_in) = (hedged.clone(), refused.clone(), probe.clone());
    let reference = trip_alone();
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let breaker = trips_on_one(&clock);
        let theirs = breaker.try_acquire_owned().expect("closed");
        let retry = Retry::builder().max_attempts(2).build().unwrap();
        let call = Guard::new(Arc::clone(&breaker), retry)
            .with_sleeper(ManualSleeper::new(clock.clone()))
            .with_hedging(Hedge::after(std::time::Duration::from_millis(1)).unwrap());
        let a = thread::spawn(move || {
            let op = |attempt: Attempt| Answer {
                polls: if attempt.number == 1 { 2 } else { 0 },
                number: attempt.number,
            };
            let mut future = pin!(call.call_async_outcome(op));
            let mut cx = Context::from_waker(Waker::noop());
            for _ in 0..4 {
                if let Poll::Ready(outcome) = future.as_mut().poll(&mut cx) {
                    return outcome;
                }
            }
            panic!("the hedged call did not end in 4 polls");
        });
        let b = thread::spawn(move || theirs.record(Verdict::failure()));
        let outcome = a.join().unwrap();
        let tripped = b.join().unwrap();

        assert_eq!(
            tripped.transition().map(|t| (t.from, t.to)),
            Some((State::Closed, State::Open)),
            "B's failure trips, whatever the call did: {tripped:?}"
        );
        assert_eq!(outcome.stop, Stop::Succeeded, "{outcome:?}");
        match (outcome.winner(), outcome.attempts) {
            (Some(Winner::Hedge(1)), 2) => hedged_in.saw(),
            (Some(Winner::Primary), 1) => refused_in.saw(),
            other => panic!("a hedge is sent and wins, or none is sent: {other:?}"),
        }
        // The hedged call's timer (the manual sleeper's) moves the clock by
        // the hedge delay, before or after the trip: the open period ends 1 ms
        // later if the trip came after. Everything else is the trip's alone.
        let s = breaker.snapshot();
        assert_eq!(breaker.limit().in_flight, 0, "a ticket kept a slot");
        if s.state == State::HalfOpen {
            // The hedge was checked while closed, B tripped, the timer moved
            // the clock past the 1 ms open period, and the hedge's permit was
            // a half-open probe's (the ask moved the breaker, as any caller's
            // would): given back unrecorded, not sent. Without the epoch
            // check the hedge ran as the probe and its success counted.
            assert_eq!(
                (s.epoch, s.probes_in_flight, s.probe_successes, s.reopens),
                (2, 0, 0, 0),
                "{s:?}"
            );
            assert_eq!(outcome.winner(), Some(Winner::Primary));
            probe_in.saw();
            return;
        }
        let ms = std::time::Duration::from_millis(1);
        assert!(
            s.open_until == reference.open_until
                || s.open_until == reference.open_until.map(|t| t + ms),
            "{s:?}"
        );
        let mut comparable = s;
        comparable.open_until = reference.open_until;
        comparable.ready_to_probe = reference.ready_to_probe;
        assert_eq!(
            comparable, reference,
            "the call left a trace beyond the trip"
        );
    }));
    stats.report();
    hedged.assert_seen();
    refused.assert_seen();
    probe.assert_seen();
}
