#![cfg(loom)]
//! The decay mark (`Breaker::claim_decay`): in a `Closed` or `Disabled` epoch the
//! deadline word holds the time (in decay ticks) up to which health has been
//! brought up to date. A reporter below full health, or one about to leave it,
//! claims the ticks since the mark by moving it to now with a CAS and applies
//! exactly those ticks before its verdict; a reporter that finds the word belonging
//! to another epoch starts the mark, but only while the state word still shows its
//! own epoch. These models race a claim against:
//!
//! 1. another claim of the same epoch: the interval is applied once, never twice and
//!    never not at all;
//! 2. a trip into `Open` and the publication of its deadline: the deadline is never
//!    overwritten by a mark, so the `Open` epoch keeps its deadline and admits a
//!    probe after it;
//! 3. a reset and a new epoch's first report: a stale reporter of the older epoch
//!    cannot move the new epoch's mark.
//!
//! Settings: half-life 64 ms ([`MIN_HALF_LIFE`]: ticks of exactly 1 ms), graded
//! admission off. The clock stands still during each race (the interval to claim is
//! made before it); the breaker reads it through a [`TickingClock`], so each claim's
//! clock reading (between the reporter's load of the state word and its load of
//! the deadline word) is a point where loom runs the other thread's operations.

use fusebox::{
    Breaker, BreakerBuilder, BreakerSnapshot, MIN_HALF_LIFE, ManualClock, Recorded, Rejected,
    State, Verdict,
};
use fusebox_loom_tests::{
    OPEN_FOR, Stats, TickingClock, Turns, Witness, builder, deadline_after, sequential,
};
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

/// One decay tick: `MIN_HALF_LIFE / 64`.
const TICK: Duration = Duration::from_millis(1);

/// The models' breaker: `health(0.5, threshold, 1)`, half-life 64 ms, no grading,
/// on `clock` (the caller may give it a ticking one).
fn decaying(clock: &ManualClock, threshold: f64) -> BreakerBuilder {
    builder(clock)
        .health(0.5, threshold, 1)
        .half_life(MIN_HALF_LIFE)
        .shed_below(0.0)
}

/// Record `verdict` on a new permit; the result must be applied with no transition.
fn report(breaker: &Breaker, verdict: Verdict) {
    let r = breaker.try_acquire().expect("closed").record(verdict);
    assert_eq!(r, Recorded::Applied { transition: None }, "{verdict:?}");
}

/// When a report of model 1 happens: at the start of the interval (before the clock
/// advances), or at its end (with the race).
#[derive(Clone, Copy, Debug)]
enum At {
    Start,
    End,
}

/// Model 1's verdicts: A a unit failure, B a half-weight one. (Failures scale
/// health and decay scales the gap to full, so where the decay falls between them
/// shows in the result.)
fn verdict_of(who: char) -> Verdict {
    if who == 'A' {
        Verdict::failure()
    } else {
        Verdict::Failure { weight: 0.5 }
    }
}

/// Model 1's sequential histories: after a failure at tick 0 (which starts the
/// mark), A's and B's reports, each at the start or the end of a 64-tick interval,
/// in the given order. Returns the snapshot at the end of the interval and one more
/// half-life later (which shows where the mark was left).
fn interval_history(steps: [(char, At); 2]) -> (BreakerSnapshot, BreakerSnapshot) {
    let clock = ManualClock::new();
    let breaker = decaying(&clock, 0.01).build().unwrap();
    report(&breaker, Verdict::failure());
    let mut advanced = false;
    for (who, at) in steps {
        if matches!(at, At::End) && !advanced {
            clock.advance(64 * TICK);
            advanced = true;
        }
        report(&breaker, verdict_of(who));
    }
    if !advanced {
        clock.advance(64 * TICK);
    }
    let now = breaker.snapshot();
    clock.advance(64 * TICK);
    (now, breaker.snapshot())
}

/// Model 1. After a failure at tick 0 and 64 quiet ticks, A (the model thread)
/// records a unit failure and B a half-weight one, both below full health in Closed
/// epoch 0: both claim the interval; exactly one gets it.
///
/// The outcome is one of four sequential histories, in which each report happened
/// at the start or at the end of the interval and the interval was decayed once:
/// "A then B" and "B then A" at its end, and "B at its start, A at its end" (and the
/// mirror), which is what happens when one thread claims the interval but the
/// other's verdict lands first: the claimer's CAS then applies the decay on top of
/// it. (So a verdict can be decayed with an interval it was reported at the end
/// of; the interval is still applied exactly once.) Not both claims (a double
/// decay) nor neither (no decay, and the mark left at the start): one half-life
/// after the race the snapshot must still match that history's, so the mark was
/// left at the end of the interval.
#[test]
fn decay_two_reporters_claim_an_interval_once() {
    let histories = [
        ("A then B", [('A', At::End), ('B', At::End)]),
        ("B then A", [('B', At::End), ('A', At::End)]),
        (
            "B's verdict, then A's claim",
            [('B', At::Start), ('A', At::End)],
        ),
        (
            "A's verdict, then B's claim",
            [('A', At::Start), ('B', At::End)],
        ),
    ];
    let outcomes: Vec<(BreakerSnapshot, BreakerSnapshot)> =
        sequential(move || histories.map(|(_, steps)| interval_history(steps)).to_vec());
    // Histories with the same outcome share a witness.
    let mut expected: Vec<(String, (BreakerSnapshot, BreakerSnapshot))> = Vec::new();
    for ((label, _), outcome) in histories.iter().zip(outcomes) {
        match expected.iter_mut().find(|(_, o)| *o == outcome) {
            Some((labels, _)) => *labels = format!("{labels} = {label}"),
            None => expected.push((label.to_string(), outcome)),
        }
    }
    assert!(
        expected.len() >= 3,
        "where the decay falls must show: {expected:#?}"
    );

    let stats = Stats::unbounded("decay::decay_two_reporters_claim_an_interval_once");
    let witnesses: Vec<Witness> = expected
        .iter()
        .map(|(label, _)| Witness::new(Box::leak(label.clone().into_boxed_str())))
        .collect();
    let seen = witnesses.clone();
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let turns = Turns::new();
        let breaker = Arc::new(
            decaying(&clock, 0.01)
                .clock(TickingClock::new(&clock, &turns))
                .build()
                .unwrap(),
        );
        report(&breaker, Verdict::failure());
        clock.advance(64 * TICK);
        let a = breaker.try_acquire().expect("closed");
        let b = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || {
                turns.tick();
                breaker
                    .try_acquire()
                    .expect("closed")
                    .record(verdict_of('B'))
            })
        };
        turns.tick();
        let ra = a.record(verdict_of('A'));
        let rb = b.join().unwrap();
        assert_eq!(ra, Recorded::Applied { transition: None });
        assert_eq!(rb, Recorded::Applied { transition: None });
        let now = breaker.snapshot();
        clock.advance(64 * TICK);
        let later = breaker.snapshot();
        let Some(i) = expected.iter().position(|(_, o)| *o == (now, later)) else {
            panic!(
                "no sequential history with one decay of the interval gives {now:?}, \
                 then one half-life later {later:?}; expected one of {expected:#?}"
            );
        };
        seen[i].saw();
        // Then, independently of the references: a report stores what the snapshot
        // showed (it claims that half-life), and a second one at the same instant
        // finds nothing left to claim.
        for _ in 0..2 {
            report(&breaker, Verdict::Ignored);
            assert_eq!(breaker.snapshot(), later, "an interval claimed twice");
        }
    }));
    stats.report();
    for w in &witnesses {
        w.assert_seen();
    }
}

/// Model 2. Closed epoch 0 at full health, whose deadline word is still the
/// initial one (another epoch's): A (the model thread) records a light failure
/// (weight 0.1: no trip) and B a heavy one (weight 1000: health 0, a trip into Open
/// at epoch 1, whose deadline B publishes). Both start the decay mark on the way.
///
/// However they interleave, the breaker ends `Open` at epoch 1 with B's deadline
/// (`open_until` = race time + 1 ms): `try_acquire` is rejected with exactly that
/// `retry_after`, and admits a probe once the clock reaches it. The dangerous order
/// is A loading the state word (epoch 0) and then, after B's whole trip and
/// publication, finding the deadline word belonging to epoch 1: A must re-check the
/// state word, see epoch 1 and give up, not start epoch 0's mark over the deadline
/// (which would leave the Open epoch without a deadline: rejected with no
/// `retry_after`, forever). A's report is applied before the trip, or stale.
#[test]
fn decay_claim_never_overwrites_an_open_deadline() {
    let stats = Stats::unbounded("decay::decay_claim_never_overwrites_an_open_deadline");
    let a_first = Witness::new("A's light failure applied before B's trip");
    let a_stale = Witness::new("A stale");
    let a_after_publication =
        Witness::new("A claimed after B's whole trip and publication (and gave up)");
    let ws = [&a_first, &a_stale, &a_after_publication].map(Witness::clone);
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let turns = Turns::new();
        let ticking = TickingClock::new(&clock, &turns);
        let breaker = Arc::new(
            decaying(&clock, 0.3)
                .clock(ticking.clone())
                .build()
                .unwrap(),
        );
        clock.advance(5 * TICK);
        let race_time = clock.now();
        let a = breaker.try_acquire().expect("closed");
        ticking.forget();
        let b = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || {
                let r = breaker
                    .try_acquire()
                    .ok()
                    .map(|p| p.record(Verdict::Failure { weight: 1000.0 }));
                (r, turns.tick())
            })
        };
        let ra = a.record(Verdict::Failure { weight: 0.1 });
        let a_reads = ticking.readings_by(thread::current().id());
        let (rb, b_done) = b.join().unwrap();

        let rb = rb.expect("A's light failure never trips, so B is admitted in Closed");
        let trip = rb.transition().expect("B's heavy failure trips");
        assert_eq!(
            (trip.from, trip.to, trip.epoch),
            (State::Closed, State::Open, 1)
        );
        match ra {
            Recorded::Applied { transition: None } => ws[0].saw(),
            Recorded::Stale => {
                ws[1].saw();
                // A's one clock reading is its claim's (a stale report that saw
                // the trip at first sight reads no clock).
                if a_reads.first().is_some_and(|&at| at > b_done) {
                    ws[2].saw();
                }
            }
            other => panic!("a light failure: applied or stale, {other:?}"),
        }
        let s = breaker.snapshot();
        let deadline = deadline_after(race_time, OPEN_FOR);
        assert_eq!((s.state, s.epoch), (State::Open, 1), "{s:?}");
        assert_eq!(
            s.open_until,
            Some(deadline),
            "the Open epoch lost its deadline to a decay mark: {s:?}"
        );
        match breaker.try_acquire() {
            Err(Rejected::Open { retry_after }) => {
                assert_eq!(retry_after, Some(deadline - race_time));
            }
            other => panic!("open until the deadline: {other:?}"),
        }
        clock.advance(deadline - race_time);
        let probe = breaker
            .try_acquire()
            .expect("the first probe after the deadline");
        assert_eq!(probe.epoch(), 2);
        assert_eq!(breaker.snapshot().state, State::HalfOpen);
    }));
    stats.report();
    a_first.assert_seen();
    a_stale.assert_seen();
    a_after_publication.assert_seen();
}

/// Model 3. Closed epoch 0 after a failure at tick 0 (the mark at 0), and 2 quiet
/// ticks: A (the model thread) records a failure on its permit of epoch 0 (it would
/// claim the 2 ticks); B resets (Closed epoch 1, full health) and records a failure
/// in epoch 1, which starts epoch 1's mark at tick 2.
///
/// A's report is applied before the reset, or stale; either way it must not move
/// epoch 1's mark: one half-life after the race, epoch 1's health has decayed by
/// exactly one half-life from B's failure (the sequential reference). A stale claim
/// that overwrote the word would leave epoch 1 with no mark of its own, and no decay.
#[test]
fn decay_stale_reporter_cannot_move_a_newer_mark() {
    let (reference_now, reference_later): (BreakerSnapshot, BreakerSnapshot) = sequential(|| {
        let clock = ManualClock::new();
        let breaker = decaying(&clock, 0.01).build().unwrap();
        report(&breaker, Verdict::failure());
        clock.advance(2 * TICK);
        let t = breaker.reset().expect("degraded -> reset");
        assert_eq!((t.to, t.epoch), (State::Closed, 1));
        report(&breaker, Verdict::failure());
        let now = breaker.snapshot();
        clock.advance(64 * TICK);
        (now, breaker.snapshot())
    });
    assert!(reference_later.health > reference_now.health, "decays");
    let stats = Stats::unbounded("decay::decay_stale_reporter_cannot_move_a_newer_mark");
    let applied = Witness::new("A applied before the reset");
    let stale = Witness::new("A stale");
    let after_new_mark = Witness::new("A claimed after B's new epoch started its mark");
    let ws = [&applied, &stale, &after_new_mark].map(Witness::clone);
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let turns = Turns::new();
        let ticking = TickingClock::new(&clock, &turns);
        let breaker = Arc::new(
            decaying(&clock, 0.01)
                .clock(ticking.clone())
                .build()
                .unwrap(),
        );
        report(&breaker, Verdict::failure());
        clock.advance(2 * TICK);
        let a = breaker.try_acquire().expect("closed");
        ticking.forget();
        let b = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || {
                let t = breaker.reset().expect("degraded -> reset");
                assert_eq!((t.to, t.epoch), (State::Closed, 1));
                report(&breaker, Verdict::failure());
                turns.tick()
            })
        };
        let ra = a.record(Verdict::failure());
        let a_reads = ticking.readings_by(thread::current().id());
        let b_done = b.join().unwrap();
        match ra {
            Recorded::Applied { transition: None } => {
                ws[0].saw();
                assert_eq!(breaker.stale_reports(), 0);
            }
            Recorded::Stale => {
                ws[1].saw();
                assert_eq!(breaker.stale_reports(), 1);
                if a_reads.first().is_some_and(|&at| at > b_done) {
                    ws[2].saw();
                }
            }
            other => panic!("a non-tripping failure: applied or stale, {other:?}"),
        }
        let now = breaker.snapshot();
        assert_eq!(now, reference_now, "B's epoch 1 after its failure");
        clock.advance(64 * TICK);
        assert_eq!(
            breaker.snapshot(),
            reference_later,
            "epoch 1 decays from its own mark (a stale claim must not move it)"
        );
    }));
    stats.report();
    applied.assert_seen();
    stale.assert_seen();
    after_new_mark.assert_seen();
}
