#![cfg(loom)]
//! Property 2, exactly one winner per transition: when several threads race to make
//! the same transition, one makes it (and alone sees it returned and notifies the
//! listener once); the others see its result (`Recorded::Stale`, or a permit of the
//! new epoch).

use fusebox::{ManualClock, Recorded, State, Verdict};
use fusebox_loom_tests::{
    Latch, OPEN_FOR, Stats, TransitionLog, Turns, Witness, builder, trip_and_wait,
};
use loom::sync::Arc;
use loom::thread;
use std::sync::Arc as StdArc;

/// Two permits admitted in Closed epoch 0 both record a failure that trips
/// (`trip_after_consecutive_failures(1)`): exactly one trips, the other is stale.
///
/// The model's own thread takes one permit before spawning; the spawned thread takes
/// the other and raises a latch, and only then does the model thread record, so both
/// permits are always of epoch 0 and the two `record`s race.
///
/// The loser's record is a pure load when it sees the trip at first sight; both
/// threads tick around their records (see `Turns`) so that loom also runs the model
/// thread's whole record before the spawned thread's (never reached without them).
#[test]
fn concurrent_failures_trip_exactly_once() {
    let stats = Stats::unbounded("one_winner::concurrent_failures_trip_exactly_once");
    let spawned_won = Witness::new("the spawned thread won the trip");
    let main_won = Witness::new("the model thread won the trip");
    let main_first = Witness::new("the model thread's whole record came first");
    let spawned_first = Witness::new("the spawned thread's whole record came first");
    let ws = [&spawned_won, &main_won, &main_first, &spawned_first].map(Witness::clone);
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let log = TransitionLog::new();
        let breaker = Arc::new(
            TransitionLog::listen(&log, builder(&clock))
                .trip_after_consecutive_failures(1)
                .build()
                .unwrap(),
        );
        let admitted = Latch::new();
        let turns = Turns::new();

        let mine = breaker.try_acquire().expect("closed");
        let other = {
            let (breaker, admitted, turns) = (breaker.clone(), admitted.clone(), turns.clone());
            thread::spawn(move || {
                let permit = breaker.try_acquire().expect("still closed");
                assert_eq!(permit.epoch(), 0);
                admitted.open();
                let start = turns.tick();
                let r = permit.record(Verdict::failure());
                (r, start, turns.tick())
            })
        };
        admitted.wait();
        assert_eq!(mine.epoch(), 0);
        let start = turns.tick();
        let mine = mine.record(Verdict::failure());
        let done = turns.tick();
        let (other, other_start, other_done) = other.join().unwrap();
        if done < other_start {
            ws[2].saw();
        }
        if other_done < start {
            ws[3].saw();
        }

        let results = [mine, other];
        let winners: Vec<_> = results.iter().filter_map(Recorded::transition).collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        let t = winners[0];
        assert_eq!(
            (t.from, t.to, t.epoch),
            (State::Closed, State::Open, 1),
            "{t:?}"
        );
        assert_eq!(t.open_for, Some(OPEN_FOR));
        assert_eq!(
            results.iter().filter(|r| r.is_stale()).count(),
            1,
            "the loser must be stale: {results:?}"
        );
        if other.transition().is_some() {
            ws[0].saw();
        } else {
            ws[1].saw();
        }

        assert_eq!(log.total(), 1, "the listener is told once");
        assert_eq!(log.count(State::Open), 1);
        let s = breaker.snapshot();
        assert_eq!((s.state, s.epoch), (State::Open, 1), "{s:?}");
        assert_eq!(s.open_until, Some(OPEN_FOR), "the winner published: {s:?}");
        assert_eq!(breaker.stale_reports(), 1);
    }));
    stats.report();
    for w in [spawned_won, main_won, main_first, spawned_first] {
        w.assert_seen();
    }
}

/// Three permits of Closed epoch 0 race to record a tripping failure: one trip, two
/// stale reports.
///
/// The model thread takes all three permits before spawning (owned permits, so
/// they can move to the spawned threads; the breaker is in a `std::sync::Arc`), so
/// every permit is of epoch 0 and the three records race from the start. (Each
/// thread used to take its own permit and meet the others at a latch before
/// recording: the same race, every permit admitted at full health in epoch 0
/// before any record, but the latch's lock and condition variable were scheduling
/// points too, and the model took 116k iterations at 9e4208e, 449k before.)
#[test]
fn three_concurrent_failures_trip_exactly_once() {
    let stats = Stats::bounded("one_winner::three_concurrent_failures_trip_exactly_once", 3);
    let main_won = Witness::new("the model thread won the trip");
    let spawned_won = Witness::new("a spawned thread won the trip");
    let ws = [&main_won, &spawned_won].map(Witness::clone);
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(stats.count(move || {
        let clock = ManualClock::new();
        let log = TransitionLog::new();
        let breaker = StdArc::new(
            TransitionLog::listen(&log, builder(&clock))
                .trip_after_consecutive_failures(1)
                .build()
                .unwrap(),
        );
        let mut permits: Vec<_> = (0..3)
            .map(|_| breaker.try_acquire_owned().expect("closed"))
            .collect();
        assert!(permits.iter().all(|p| p.epoch() == 0));
        let mine = permits.pop().expect("three permits");
        let handles: Vec<_> = permits
            .into_iter()
            .map(|permit| thread::spawn(move || permit.record(Verdict::failure())))
            .collect();
        let mut results = vec![mine.record(Verdict::failure())];
        results.extend(handles.into_iter().map(|h| h.join().unwrap()));

        let winners: Vec<_> = results.iter().filter_map(Recorded::transition).collect();
        assert_eq!(winners.len(), 1, "{results:?}");
        assert_eq!(
            (winners[0].from, winners[0].to, winners[0].epoch),
            (State::Closed, State::Open, 1)
        );
        assert_eq!(results.iter().filter(|r| r.is_stale()).count(), 2);
        if results[0].transition().is_some() {
            ws[0].saw();
        } else {
            ws[1].saw();
        }
        assert_eq!(log.total(), 1);
        let s = breaker.snapshot();
        assert_eq!(
            (s.state, s.epoch, s.open_until),
            (State::Open, 1, Some(OPEN_FOR))
        );
        assert_eq!(breaker.stale_reports(), 2);
    }));
    stats.report();
    main_won.assert_seen();
    spawned_won.assert_seen();
}

/// An Open breaker whose deadline has passed, probes = 2, and two threads calling
/// `try_acquire`: exactly one Open -> HalfOpen transition, and both threads are
/// admitted as probes of the new epoch.
#[test]
fn concurrent_first_probes_leave_open_exactly_once() {
    let stats = Stats::unbounded("one_winner::concurrent_first_probes_leave_open_exactly_once");
    let both_in = Witness::new("both probes were in flight at once");
    let both_in_in = both_in.clone();
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let log = TransitionLog::new();
        let breaker = Arc::new(
            TransitionLog::listen(&log, builder(&clock))
                .trip_after_consecutive_failures(1)
                .probes(2)
                .build()
                .unwrap(),
        );
        let probe_epoch = trip_and_wait(&breaker, &clock);
        assert_eq!(log.total(), 1, "the setup's trip");

        let handles: Vec<_> = (0..2)
            .map(|_| {
                let breaker = breaker.clone();
                thread::spawn(move || {
                    let permit = breaker.try_acquire().expect("a probe slot is free");
                    let epoch = permit.epoch();
                    let in_flight = breaker.snapshot().probes_in_flight;
                    drop(permit);
                    (epoch, in_flight)
                })
            })
            .collect();
        let seen: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();

        for &(epoch, in_flight) in &seen {
            assert_eq!(epoch, probe_epoch, "{seen:?}");
            assert!((1..=2).contains(&in_flight), "{seen:?}");
            if in_flight == 2 {
                both_in_in.saw();
            }
        }
        assert_eq!(log.total(), 2, "exactly one more transition");
        assert_eq!(log.count(State::HalfOpen), 1);
        let s = breaker.snapshot();
        assert_eq!((s.state, s.epoch), (State::HalfOpen, probe_epoch), "{s:?}");
        assert_eq!(s.probes_in_flight, 0, "{s:?}");
    }));
    stats.report();
    both_in.assert_seen();
}

/// HalfOpen with two probes out (probes = 2, close_after = 1): one records a success
/// (closes), the other a failure (re-opens). Exactly one of them transitions; the
/// other is stale, whichever order they land in. Ticks around both records, as in
/// `concurrent_failures_trip_exactly_once` (without them the model thread's whole
/// record never came first).
#[test]
fn probe_success_and_failure_race_one_wins() {
    let stats = Stats::unbounded("one_winner::probe_success_and_failure_race_one_wins");
    let closed = Witness::new("the success won (Closed)");
    let reopened = Witness::new("the failure won (Open)");
    let main_first = Witness::new("the model thread's (success) whole record came first");
    let spawned_first = Witness::new("the spawned thread's (failure) whole record came first");
    let (closed_in, reopened_in) = (closed.clone(), reopened.clone());
    let (main_first_in, spawned_first_in) = (main_first.clone(), spawned_first.clone());
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let log = TransitionLog::new();
        let breaker = Arc::new(
            TransitionLog::listen(&log, builder(&clock))
                .trip_after_consecutive_failures(1)
                .probes(2)
                .close_after(1)
                .build()
                .unwrap(),
        );
        let probe_epoch = trip_and_wait(&breaker, &clock);
        let mine = breaker.try_acquire().expect("the first probe");
        assert_eq!(mine.epoch(), probe_epoch);
        let admitted = Latch::new();
        let turns = Turns::new();
        let other = {
            let (breaker, admitted, turns) = (breaker.clone(), admitted.clone(), turns.clone());
            thread::spawn(move || {
                let permit = breaker.try_acquire().expect("the second probe");
                assert_eq!(permit.epoch(), probe_epoch);
                admitted.open();
                let start = turns.tick();
                let r = permit.record(Verdict::failure());
                (r, start, turns.tick())
            })
        };
        admitted.wait();
        let start = turns.tick();
        let mine = mine.record(Verdict::Success);
        let done = turns.tick();
        let (other, other_start, other_done) = other.join().unwrap();
        if done < other_start {
            main_first_in.saw();
        }
        if other_done < start {
            spawned_first_in.saw();
        }

        let s = breaker.snapshot();
        assert_eq!(s.epoch, probe_epoch + 1, "{s:?}");
        assert_eq!(log.total(), 3, "trip, half-open, and exactly one more");
        assert_eq!(breaker.stale_reports(), 1);
        match (mine.transition(), other.transition()) {
            (Some(t), None) => {
                assert!(other.is_stale());
                assert_eq!((t.from, t.to), (State::HalfOpen, State::Closed));
                assert_eq!(
                    (s.state, s.health, s.samples),
                    (State::Closed, Some(1.0), 0)
                );
                closed_in.saw();
            }
            (None, Some(t)) => {
                assert!(mine.is_stale());
                assert_eq!(
                    (t.from, t.to, t.open_for),
                    (State::HalfOpen, State::Open, Some(OPEN_FOR * 2))
                );
                assert_eq!((s.state, s.reopens), (State::Open, 1), "{s:?}");
                assert_eq!(
                    s.open_until,
                    Some(OPEN_FOR * 3),
                    "opened at 1ms for 2ms: {s:?}"
                );
                reopened_in.saw();
            }
            other => panic!("not exactly one winner: {other:?}"),
        }
    }));
    stats.report();
    closed.assert_seen();
    reopened.assert_seen();
    main_first.assert_seen();
    spawned_first.assert_seen();
}
