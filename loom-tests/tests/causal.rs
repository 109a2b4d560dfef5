#![cfg(loom)]
//! Property 9, causal ordering: a thread that observes a state also observes
//! everything the thread that produced it did first (the module documentation of
//! `breaker/mod.rs`, "# Orderings"; `budget.rs`, "# Orderings", for the budget's two words).
//!
//! In each model thread A writes 1 into a plain loom atomic with `Relaxed` (the
//! "everything it did first": an operator's config write, say), then changes the
//! breaker (`force_open`, `reset`, a trip) or the budget (a withdrawal). Thread B (the
//! model thread) makes one call that can tell whether A's change happened; if it
//! tells that it did, B loads the atomic with `Relaxed` and must read 1. Nothing but
//! the breaker's own orderings can make B see the 1: the data is `Relaxed` on both
//! sides and the ticks add no happens-before edge (see `Turns`).
//!
//! B's call is a pure load in most models here (an admission in `Closed`, a
//! rejection, a stale report, a snapshot), and such a load synchronises only
//! through its own ordering: these models fail when the state word's loads
//! (`Breaker::load`) are weakened to `Relaxed`. In `causal_force_open_seen_by_a_losing_cas`
//! B's record writes, so its view may come from a failed CAS instead (that CAS's
//! failure ordering); in the budget model a refusal comes from either.
//! Both threads tick before their operations so that loom also runs A's change
//! before B's load (see `Turns`); witnesses assert that B saw both the new state
//! and the old one in some executions.

use fusebox::{Breaker, ManualClock, Permit, Recorded, Rejected, RetryBudget, State, Verdict};
use fusebox_loom_tests::{Stats, Turns, Witness, builder};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

/// The shape of every breaker model: `prepare` runs on the model thread before the
/// race (and may take B's permit); A writes the data, then `change`s the breaker; B
/// `observe`s, returning whether it saw A's change.
fn check(
    name: &'static str,
    build: fn(&ManualClock) -> Breaker,
    prepare: for<'a> fn(&'a Breaker) -> Option<Permit<'a>>,
    change: fn(&Breaker),
    observe: for<'a> fn(&'a Breaker, Option<Permit<'a>>) -> bool,
) {
    let stats = Stats::unbounded(name);
    let new = Witness::new("B observed A's change (and then A's earlier write)");
    let old = Witness::new("B observed the state before A's change");
    let (new_in, old_in) = (new.clone(), old.clone());
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let breaker = Arc::new(build(&clock));
        let permit = prepare(&breaker);
        let turns = Turns::new();
        let data = Arc::new(AtomicUsize::new(0));
        let a = {
            let (breaker, turns, data) = (breaker.clone(), turns.clone(), data.clone());
            thread::spawn(move || {
                // Relaxed: only the breaker's orderings may publish it.
                data.store(1, Ordering::Relaxed);
                turns.tick();
                change(&breaker);
            })
        };
        turns.tick();
        if observe(&breaker, permit) {
            // Relaxed: see A's store.
            let seen = data.load(Ordering::Relaxed);
            assert_eq!(
                seen,
                1,
                "B observed A's change but not what A did before it: {:?}",
                breaker.snapshot()
            );
            new_in.saw();
        } else {
            old_in.saw();
        }
        a.join().unwrap();
    }));
    stats.report();
    new.assert_seen();
    old.assert_seen();
}

/// A breaker whose tripping does not matter here (set explicitly rather than left
/// to the defaults).
fn plain(clock: &ManualClock) -> Breaker {
    builder(clock)
        .trip_after_consecutive_failures(5)
        .shed_below(0.0)
        .build()
        .unwrap()
}

fn trips_at_once(clock: &ManualClock) -> Breaker {
    builder(clock)
        .trip_after_consecutive_failures(1)
        .build()
        .unwrap()
}

fn nothing(_: &Breaker) -> Option<Permit<'_>> {
    None
}

fn force_open(breaker: &Breaker) {
    let _ = breaker.force_open();
}

/// A: `force_open()`. B: `try_acquire()`, rejected `ForcedOpen` (a rejection decided
/// on one load, no write).
#[test]
fn causal_force_open_seen_by_a_rejection() {
    check(
        "causal::causal_force_open_seen_by_a_rejection",
        plain,
        nothing,
        force_open,
        |breaker, _| match breaker.try_acquire() {
            Ok(permit) => {
                assert_eq!(permit.epoch(), 0);
                drop(permit);
                false
            }
            Err(rejected) => {
                assert_eq!(rejected, Rejected::ForcedOpen);
                true
            }
        },
    );
}

/// Set up forced open; A: `reset()`. B: `try_acquire()`, admitted in `Closed` (the
/// healthy path: one load), so after the reset: the operator's writes before
/// `reset()` are visible to every attempt it admits.
#[test]
fn causal_reset_seen_by_a_closed_admission() {
    check(
        "causal::causal_reset_seen_by_a_closed_admission",
        plain,
        |breaker| {
            let _ = breaker.force_open();
            None
        },
        |breaker| {
            let _ = breaker.reset();
        },
        |breaker, _| match breaker.try_acquire() {
            Ok(permit) => {
                assert_eq!(permit.epoch(), 2, "admitted after the reset");
                drop(permit);
                true
            }
            Err(rejected) => {
                assert_eq!(rejected, Rejected::ForcedOpen);
                false
            }
        },
    );
}

/// B holds a permit from the healthy word (`Closed` at full health, after two
/// successes that change nothing: the whole-word ticket). A: `force_open()`. B: `record(Success)`, reported `Stale`
/// (the healthy path's compare fails, and the stale decision is made on the same
/// load).
#[test]
fn causal_force_open_seen_by_a_stale_report() {
    check(
        "causal::causal_force_open_seen_by_a_stale_report",
        |clock| {
            builder(clock)
                .trip_after_consecutive_failures(2)
                .build()
                .unwrap()
        },
        |breaker| {
            for _ in 0..2 {
                let r = breaker.try_acquire().unwrap().record(Verdict::Success);
                assert_eq!(r, Recorded::Applied { transition: None });
            }
            Some(breaker.try_acquire().expect("closed"))
        },
        force_open,
        |_, permit| match permit.expect("prepared").record(Verdict::Success) {
            Recorded::Stale => true,
            Recorded::Applied { transition: None } => false,
            other => panic!("a success on the healthy word: {other:?}"),
        },
    );
}

/// B holds a permit of a Closed breaker that a failure does not trip
/// (`trip_after_consecutive_failures(2)`). A: `force_open()`. B: `record(failure)`,
/// which writes, so it is decided either on B's first load (stale at first sight)
/// or on the value its losing CAS read (B loaded before A's CAS): both must order
/// B after A. (The one model here whose observer writes: it pins the state CAS's
/// failure ordering too.)
#[test]
fn causal_force_open_seen_by_a_losing_cas() {
    check(
        "causal::causal_force_open_seen_by_a_losing_cas",
        |clock| {
            builder(clock)
                .trip_after_consecutive_failures(2)
                .build()
                .unwrap()
        },
        |breaker| Some(breaker.try_acquire().expect("closed")),
        force_open,
        |_, permit| match permit.expect("prepared").record(Verdict::failure()) {
            Recorded::Stale => true,
            Recorded::Applied { transition: None } => false,
            other => panic!("one failure of two: {other:?}"),
        },
    );
}

/// A: `force_open()`. B: `snapshot()` shows `ForcedOpen`.
#[test]
fn causal_force_open_seen_by_a_snapshot() {
    check(
        "causal::causal_force_open_seen_by_a_snapshot",
        plain,
        nothing,
        force_open,
        |breaker, _| {
            let s = breaker.snapshot();
            match s.state {
                State::ForcedOpen => true,
                State::Closed => false,
                _ => panic!("{s:?}"),
            }
        },
    );
}

/// A: a tripping failure (`trip_after_consecutive_failures(1)`; A's permit is taken
/// in A's thread). B: `try_acquire()` rejected `Open`, with or without a published
/// deadline.
#[test]
fn causal_trip_seen_by_an_open_rejection() {
    check(
        "causal::causal_trip_seen_by_an_open_rejection",
        trips_at_once,
        nothing,
        |breaker| {
            let permit = breaker.try_acquire().expect("closed: B never writes");
            let t = permit.record(Verdict::failure()).transition();
            assert_eq!(t.map(|t| t.to), Some(State::Open));
        },
        |breaker, _| match breaker.try_acquire() {
            Ok(permit) => {
                assert_eq!(permit.epoch(), 0);
                // Dropped unrecorded: a cancellation, which changes nothing in
                // Closed (and is stale after the trip).
                drop(permit);
                false
            }
            Err(Rejected::Open { .. }) => true,
            Err(other) => panic!("{other:?}"),
        },
    );
}

/// The ratio word: one token, no floor and no deposits. A withdraws it; B's
/// withdrawal is refused only after A's (a refusal is decided on one load, no
/// write), and then B sees what A did before withdrawing.
#[test]
fn causal_budget_withdrawal_seen_by_a_refusal() {
    budget_refusal_sees_the_withdrawal(
        "causal::causal_budget_withdrawal_seen_by_a_refusal",
        || {
            RetryBudget::builder()
                .ratio(0.5)
                .min_retries_per_sec(0)
                .max_balance(10)
                .initial_balance(1)
                .clock(ManualClock::new())
                .build()
                .unwrap()
        },
    );
}

/// The floor word: the ratio term empty, 100 ms of floor (exactly one token, not yet
/// refilled). A's withdrawal refills the floor term and takes the token; B's is
/// refused only after A's (on its load of the floor word, or on a failed CAS when it
/// read the word before A's refill), and then B sees what A did before withdrawing.
#[test]
fn causal_budget_floor_withdrawal_seen_by_a_refusal() {
    budget_refusal_sees_the_withdrawal(
        "causal::causal_budget_floor_withdrawal_seen_by_a_refusal",
        || {
            let clock = ManualClock::new();
            let budget = RetryBudget::builder()
                .ratio(0.0)
                .min_retries_per_sec(10)
                .max_balance(10)
                .initial_balance(0)
                .clock(clock.clone())
                .build()
                .unwrap();
            clock.advance(std::time::Duration::from_millis(100));
            budget
        },
    );
}

/// The body of the two budget models: a budget with exactly one token to give
/// (built by `make`); A writes, then withdraws; B withdraws. If B is refused, A's
/// withdrawal came first, and B must see A's earlier write.
fn budget_refusal_sees_the_withdrawal(name: &'static str, make: fn() -> RetryBudget) {
    let stats = Stats::unbounded(name);
    let refused = Witness::new("B was refused (A's withdrawal first)");
    let granted = Witness::new("B was granted the token");
    let (refused_in, granted_in) = (refused.clone(), granted.clone());
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let budget = Arc::new(make());
        let turns = Turns::new();
        let data = Arc::new(AtomicUsize::new(0));
        let a = {
            let (budget, turns, data) = (budget.clone(), turns.clone(), data.clone());
            thread::spawn(move || {
                // Relaxed: only the budget's orderings may publish it.
                data.store(1, Ordering::Relaxed);
                turns.tick();
                budget.try_withdraw()
            })
        };
        turns.tick();
        let mine = budget.try_withdraw();
        if mine {
            granted_in.saw();
        } else {
            // Relaxed: see A's store.
            assert_eq!(
                data.load(Ordering::Relaxed),
                1,
                "refused after A's withdrawal, but A's earlier write is not visible"
            );
            refused_in.saw();
        }
        let theirs = a.join().unwrap();
        assert!(mine != theirs, "one token, one grant");
    }));
    stats.report();
    refused.assert_seen();
    granted.assert_seen();
}
