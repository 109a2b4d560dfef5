#![cfg(loom)]
//! Property 4, the open deadline is never overwritten by an older epoch.
//!
//! One thread's transition into `Open` (epoch e) publishes its deadline after the
//! state CAS, while another thread moves the breaker on (reset, then a trip into
//! `Open` at a newer epoch). At quiescence, if the breaker is `Open`, its deadline
//! word carries the current epoch (`open_until` is `Some`) and holds the deadline of
//! the newest `Open`, computed from the clock (fixed during the race at 1 ms) and
//! that transition's `open_for`. Then, once the clock passes it, `try_acquire` admits
//! a probe: the breaker is not wedged open with an unknown deadline.
//!
//! Periods: `open_for` 1 ms, growth 2 (the default), so a re-open from a failed
//! probe lasts 2 ms (deadline 3 ms) and a trip from `Closed` 1 ms (deadline 2 ms):
//! the two deadlines differ, so a stale one would be caught by value as well as by
//! its tag.

use fusebox::{Breaker, ManualClock, Recorded, State, Transition, Verdict};
use fusebox_loom_tests::{
    OPEN_FOR, Stats, TickingClock, TransitionLog, Turns, Witness, builder, deadline_after,
    trip_and_wait,
};
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

/// The checks at quiescence: the current `Open` (if any) has the deadline of the
/// transition that made it, and past that deadline a probe is admitted.
fn check_deadline_and_liveness(
    breaker: &Breaker,
    clock: &ManualClock,
    race_time: Duration,
    transitions: &[Transition],
) {
    let s = breaker.snapshot();
    if s.state == State::Open {
        let newest = transitions
            .iter()
            .find(|t| t.epoch == s.epoch)
            .unwrap_or_else(|| panic!("no transition made {s:?}: {transitions:?}"));
        assert_eq!(newest.to, State::Open, "{newest:?}");
        let expected = deadline_after(race_time, newest.open_for.expect("into Open"));
        assert_eq!(
            s.open_until,
            Some(expected),
            "the deadline word lost the newest Open's deadline: {s:?} after {transitions:?}"
        );
        clock.advance(expected - race_time);
        assert!(breaker.snapshot().ready_to_probe);
    }
    // Past every deadline of the race, and no permit outstanding: admitted, whatever
    // the state.
    let permit = breaker
        .try_acquire()
        .unwrap_or_else(|e| panic!("wedged: {e:?}, {:?}", breaker.snapshot()));
    if s.state == State::Open {
        assert_eq!(
            permit.epoch(),
            s.epoch + 1,
            "the first probe after the deadline"
        );
        assert_eq!(breaker.snapshot().state, State::HalfOpen);
    }
}

/// Every transition of the race has a distinct epoch, and together they are exactly
/// the epochs after `first - 1` up to the final one: each transition had one winner.
fn check_epoch_chain(breaker: &Breaker, first: u32, transitions: &[Transition]) {
    let mut epochs: Vec<u32> = transitions.iter().map(|t| t.epoch).collect();
    epochs.sort_unstable();
    let last = breaker.snapshot().epoch;
    assert_eq!(
        epochs,
        (first..=last).collect::<Vec<_>>(),
        "{transitions:?}"
    );
}

/// Two threads. A (the model thread) records a failure on the HalfOpen probe (epoch
/// 2): a re-open into Open (e3, 2 ms) whose deadline publication races B. B resets
/// (Closed) and trips again with its own permit (Open, 1 ms).
///
/// The breaker's clock is a [`TickingClock`]: A reads it between its CAS into Open
/// and the publication, and that choice point is what makes loom run B's whole
/// reset, trip and publication in between (A's publication starts with pure loads,
/// so otherwise loom never puts B's deadline CAS before them; see `Turns`). In that
/// order A must give up, and a publisher that skipped its first epoch check would
/// overwrite B's deadline with its older one: the breaker would stay Open with no
/// usable deadline (caught below by `open_until`).
#[test]
fn reopen_deadline_not_overwritten_by_older_epoch() {
    let stats = Stats::unbounded("deadline::reopen_deadline_not_overwritten_by_older_epoch");
    let applied = Witness::new("A's re-open applied before B moved on (two Opens)");
    let b_between = Witness::new(
        "B reset, tripped and published between A's CAS into Open and A's publication",
    );
    let (applied_in, b_between_in) = (applied.clone(), b_between.clone());
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let turns = Turns::new();
        let ticking = TickingClock::new(&clock, &turns);
        let log = TransitionLog::new();
        let breaker = Arc::new(
            TransitionLog::listen(&log, builder(&clock))
                .clock(ticking.clone())
                .trip_after_consecutive_failures(1)
                .build()
                .unwrap(),
        );
        let probe_epoch = trip_and_wait(&breaker, &clock);
        let race_time = clock.now();
        let probe = breaker.try_acquire().expect("the first probe");
        assert_eq!(probe.epoch(), probe_epoch);
        ticking.forget();

        let b = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || {
                let reset = breaker
                    .reset()
                    .expect("a reset of a HalfOpen or Open breaker transitions");
                let permit = breaker.try_acquire().expect("closed after the reset");
                assert_eq!(permit.epoch(), reset.epoch);
                let tripped = permit.record(Verdict::failure());
                let trip = tripped.transition().expect("one failure trips");
                // After the trip and its publication.
                let done = turns.tick();
                (reset, trip, done)
            })
        };
        let a = probe.record(Verdict::failure());
        let a_reads = ticking.readings_by(thread::current().id());
        let (reset, trip, b_done) = b.join().unwrap();

        assert_eq!(
            (trip.from, trip.to, trip.open_for),
            (State::Closed, State::Open, Some(OPEN_FOR))
        );
        let s = breaker.snapshot();
        assert_eq!(
            (s.state, s.epoch),
            (State::Open, trip.epoch),
            "B's trip is last: {s:?}"
        );
        assert_eq!(s.open_until, Some(OPEN_FOR * 2), "1 ms + 1 ms: {s:?}");
        let mut transitions = vec![reset, trip];
        match a {
            Recorded::Applied {
                transition: Some(t),
            } => {
                assert_eq!((t.from, t.to, t.epoch), (State::HalfOpen, State::Open, 3));
                assert_eq!(t.open_for, Some(OPEN_FOR * 2));
                assert_eq!((reset.from, reset.epoch), (State::Open, 4));
                transitions.push(t);
                applied_in.saw();
                // A's one reading is the one before its publication.
                assert_eq!(a_reads.len(), 1, "{a_reads:?}");
                if a_reads[0] > b_done {
                    b_between_in.saw();
                }
            }
            Recorded::Stale => {
                assert_eq!((reset.from, reset.epoch), (State::HalfOpen, 3));
                assert_eq!(breaker.stale_reports(), 1);
            }
            other => panic!("a probe failure re-opens or is stale: {other:?}"),
        }
        assert_eq!(log.total(), 2 + transitions.len());
        check_epoch_chain(&breaker, probe_epoch + 1, &transitions);
        check_deadline_and_liveness(&breaker, &clock, race_time, &transitions);
    }));
    stats.report();
    applied.assert_seen();
    b_between.assert_seen();
}

/// Three threads (bound 3), probes = 2. A (the model thread) records a failure on the
/// first probe (epoch 2); B resets; C calls `try_acquire` and records a failure if
/// admitted (a second probe of epoch 2, or a Closed permit after the reset, which
/// trips). Whichever Open is last, its deadline is the one published. The clock
/// ticks (a [`TickingClock`]), as in the two-thread model.
#[test]
fn newest_open_deadline_wins_three_threads() {
    let stats = Stats::bounded("deadline::newest_open_deadline_wins_three_threads", 3);
    let two_opens = Witness::new("two transitions into Open in one execution");
    let open_last = Witness::new("the breaker ended Open");
    let (two_opens_in, open_last_in) = (two_opens.clone(), open_last.clone());
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(stats.count(move || {
        let clock = ManualClock::new();
        let turns = Turns::new();
        let log = TransitionLog::new();
        let breaker = Arc::new(
            TransitionLog::listen(&log, builder(&clock))
                .clock(TickingClock::new(&clock, &turns))
                .trip_after_consecutive_failures(1)
                .probes(2)
                .build()
                .unwrap(),
        );
        let probe_epoch = trip_and_wait(&breaker, &clock);
        let race_time = clock.now();
        let probe = breaker.try_acquire().expect("the first probe");

        let b = {
            let breaker = breaker.clone();
            thread::spawn(move || breaker.reset())
        };
        let c = {
            let breaker = breaker.clone();
            thread::spawn(move || {
                breaker
                    .try_acquire()
                    .ok()
                    .map(|permit| permit.record(Verdict::failure()))
            })
        };
        let a = probe.record(Verdict::failure());
        let reset = b.join().unwrap();
        let c = c.join().unwrap();

        let transitions: Vec<Transition> = [a.transition(), reset, c.and_then(|r| r.transition())]
            .into_iter()
            .flatten()
            .collect();
        let opens = transitions.iter().filter(|t| t.to == State::Open).count();
        if opens >= 2 {
            two_opens_in.saw();
        }
        if breaker.snapshot().state == State::Open {
            open_last_in.saw();
        }
        assert_eq!(
            log.total(),
            2 + transitions.len(),
            "one notification per transition"
        );
        check_epoch_chain(&breaker, probe_epoch + 1, &transitions);
        check_deadline_and_liveness(&breaker, &clock, race_time, &transitions);
    }));
    stats.report();
    two_opens.assert_seen();
    open_last.assert_seen();
}
