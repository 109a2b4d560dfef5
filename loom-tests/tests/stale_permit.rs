#![cfg(loom)]
//! Property 3, a stale permit's record never changes a newer epoch.
//!
//! Thread A records a verdict on a permit admitted before thread B moves the breaker
//! to a newer epoch (an operator call, or a trip by B's own permit). Each model
//! compares the concurrent outcome with the sequential ones, computed beforehand on
//! fresh breakers in a single-threaded loom execution:
//!
//! - if A's report is `Stale`, the final snapshot is exactly the one B's operation
//!   produces alone (state, epoch, health, samples, deadline: everything), and the
//!   stale counter is 1;
//! - if it is `Applied`, the whole outcome (both results, the final snapshot, the
//!   stale counter, the listener count) is the "A then B" sequential one.
//!
//! A stale record is a pure load (it is decided on the word it reads, and writes
//! nothing), and A is the model thread, which loom runs first: without ticks loom
//! never ran B's whole operation before A's first load, so every stale report took
//! the "CAS failed, re-read, stale" path and none the "stale at first sight" one
//! (0 executions in every two-thread model). Both threads tick (see `Turns`), and a
//! witness asserts that order is reached.

use fusebox::{
    Breaker, BreakerSnapshot, ManualClock, Permit, Recorded, State, Transition, Verdict,
};
use fusebox_loom_tests::{
    OPEN_FOR, Stats, TransitionLog, Turns, Witness, builder, sequential, trip_and_wait,
};
use loom::sync::Arc;
use loom::thread;

/// Everything observable after the race.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Outcome<B> {
    a: Recorded,
    b: B,
    after: BreakerSnapshot,
    stale_reports: u64,
    transitions: usize,
}

/// The sequential references: A then B, B then A, and B alone (A's permit taken but
/// never recorded; it is dropped after B, a no-op outside HalfOpen or once stale).
#[derive(Clone, Copy, Debug)]
struct Reference<B> {
    a_then_b: Outcome<B>,
    b_then_a: Outcome<B>,
    b_alone: BreakerSnapshot,
}

/// One model: a setup run on the model thread (returns the breaker with A's permit
/// already admitted through `admit`), A's record, B's operation.
trait Scenario: Send + Sync + 'static {
    type B: Copy + PartialEq + std::fmt::Debug + Send + Sync + 'static;
    fn build(clock: &ManualClock, log: &Arc<TransitionLog>) -> Breaker;
    /// Setup on the model thread, after `build`, before A's permit is admitted.
    fn prepare(_breaker: &Breaker, _clock: &ManualClock) {}
    /// The epoch A's permit must have.
    const A_EPOCH: u32;
    const A_VERDICT: Verdict;
    fn op_b(breaker: &Breaker) -> Self::B;
}

fn outcome<B>(breaker: &Breaker, log: &TransitionLog, a: Recorded, b: B) -> Outcome<B> {
    Outcome {
        a,
        b,
        after: breaker.snapshot(),
        stale_reports: breaker.stale_reports(),
        transitions: log.total(),
    }
}

fn admit<S: Scenario>(breaker: &Breaker) -> Permit<'_> {
    let permit = breaker.try_acquire().expect("A is admitted");
    assert_eq!(permit.epoch(), S::A_EPOCH);
    permit
}

fn reference<S: Scenario>() -> Reference<S::B> {
    sequential(|| {
        let run = |order: u8| {
            let clock = ManualClock::new();
            let log = TransitionLog::new();
            let breaker = S::build(&clock, &log);
            S::prepare(&breaker, &clock);
            let permit = admit::<S>(&breaker);
            match order {
                0 => {
                    let a = permit.record(S::A_VERDICT);
                    let b = S::op_b(&breaker);
                    Ok(outcome(&breaker, &log, a, b))
                }
                1 => {
                    let b = S::op_b(&breaker);
                    let a = permit.record(S::A_VERDICT);
                    Ok(outcome(&breaker, &log, a, b))
                }
                _ => {
                    let _ = S::op_b(&breaker);
                    let alone = breaker.snapshot();
                    drop(permit);
                    assert_eq!(breaker.snapshot(), alone, "a stale cancel changed nothing");
                    Err(alone)
                }
            }
        };
        let (Ok(a_then_b), Ok(b_then_a), Err(b_alone)) = (run(0), run(1), run(2)) else {
            unreachable!()
        };
        assert!(
            b_then_a.a.is_stale(),
            "B then A makes A stale: {b_then_a:?}"
        );
        assert!(!a_then_b.a.is_stale(), "A then B applies A: {a_then_b:?}");
        Reference {
            a_then_b,
            b_then_a,
            b_alone,
        }
    })
}

/// The concurrent model: A's permit admitted on the model thread, B spawned, A's
/// record on the model thread racing B's operation.
fn check<S: Scenario>(name: &'static str) {
    let reference = reference::<S>();
    let stats = Stats::unbounded(name);
    let stale = Witness::new("A's report was stale");
    let applied = Witness::new("A's report was applied");
    let b_first = Witness::new("B's whole operation came before A's record (stale at first sight)");
    let (stale_in, applied_in, b_first_in) = (stale.clone(), applied.clone(), b_first.clone());
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let log = TransitionLog::new();
        let breaker = Arc::new(S::build(&clock, &log));
        S::prepare(&breaker, &clock);
        let permit = admit::<S>(&breaker);
        let turns = Turns::new();
        let b = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || {
                turns.tick();
                let b = S::op_b(&breaker);
                (b, turns.tick())
            })
        };
        let a_start = turns.tick();
        let a = permit.record(S::A_VERDICT);
        let (b, b_done) = b.join().unwrap();
        let got = outcome(&breaker, &log, a, b);
        if b_done < a_start {
            assert!(got.a.is_stale(), "{got:?}");
            b_first_in.saw();
        }

        if got.a.is_stale() {
            assert_eq!(
                got.after, reference.b_alone,
                "a stale report changed the state B left"
            );
            assert_eq!(got, reference.b_then_a);
            stale_in.saw();
        } else {
            assert_eq!(got, reference.a_then_b, "applied, so A happened before B");
            applied_in.saw();
        }
    }));
    stats.report();
    stale.assert_seen();
    applied.assert_seen();
    b_first.assert_seen();
}

/// A: a tripping failure (`trip_after_consecutive_failures(1)`) on a Closed epoch-0
/// permit. B: `force_open()`. Applied: Closed -> Open (e1) -> ForcedOpen (e2), and
/// A's deadline publication races B; stale: ForcedOpen at e1 with nothing of A's.
struct FailureVsForceOpen;

impl Scenario for FailureVsForceOpen {
    type B = Option<Transition>;
    const A_EPOCH: u32 = 0;
    const A_VERDICT: Verdict = Verdict::failure();

    fn build(clock: &ManualClock, log: &Arc<TransitionLog>) -> Breaker {
        TransitionLog::listen(log, builder(clock))
            .trip_after_consecutive_failures(1)
            .build()
            .unwrap()
    }

    fn op_b(breaker: &Breaker) -> Option<Transition> {
        breaker.force_open()
    }
}

#[test]
fn stale_failure_vs_force_open() {
    check::<FailureVsForceOpen>("stale_permit::stale_failure_vs_force_open");
}

/// `trip_after_consecutive_failures(2)`, one failure already recorded (health ~0.71,
/// 1 sample). A: a success on a Closed epoch-0 permit. B: a failure on its own
/// epoch-0 permit, which trips. Applied: health rises first, and B trips at ~0.56;
/// stale: B trips at 0.5 and A's success must not touch the Open state.
struct SuccessVsTripByOtherPermit;

impl Scenario for SuccessVsTripByOtherPermit {
    type B = Recorded;
    const A_EPOCH: u32 = 0;
    const A_VERDICT: Verdict = Verdict::Success;

    fn build(clock: &ManualClock, log: &Arc<TransitionLog>) -> Breaker {
        TransitionLog::listen(log, builder(clock))
            .trip_after_consecutive_failures(2)
            .build()
            .unwrap()
    }

    fn prepare(breaker: &Breaker, _clock: &ManualClock) {
        let r = breaker.try_acquire().unwrap().record(Verdict::failure());
        assert_eq!(r, Recorded::Applied { transition: None });
    }

    fn op_b(breaker: &Breaker) -> Recorded {
        // Admitted in epoch 0 whatever A did: A's success cannot change the epoch.
        let permit = breaker.try_acquire().expect("closed");
        assert_eq!(permit.epoch(), 0);
        let r = permit.record(Verdict::failure());
        let t = r.transition().expect("B's failure trips in either order");
        assert_eq!((t.from, t.to, t.epoch), (State::Closed, State::Open, 1));
        r
    }
}

#[test]
fn stale_success_vs_trip_by_other_permit() {
    check::<SuccessVsTripByOtherPermit>("stale_permit::stale_success_vs_trip_by_other_permit");
}

/// `trip_after_consecutive_failures(2)`, one failure already recorded. A: the second
/// failure (trips). B: `reset()`. Applied: Open (e1) then Closed (e2); stale: Closed
/// (e1) at full health with no samples, not A's failure.
struct FailureVsReset;

impl Scenario for FailureVsReset {
    type B = Option<Transition>;
    const A_EPOCH: u32 = 0;
    const A_VERDICT: Verdict = Verdict::failure();

    fn build(clock: &ManualClock, log: &Arc<TransitionLog>) -> Breaker {
        TransitionLog::listen(log, builder(clock))
            .trip_after_consecutive_failures(2)
            .build()
            .unwrap()
    }

    fn prepare(breaker: &Breaker, _clock: &ManualClock) {
        let r = breaker.try_acquire().unwrap().record(Verdict::failure());
        assert_eq!(r, Recorded::Applied { transition: None });
    }

    fn op_b(breaker: &Breaker) -> Option<Transition> {
        breaker.reset()
    }
}

#[test]
fn stale_failure_vs_reset() {
    check::<FailureVsReset>("stale_permit::stale_failure_vs_reset");
}

/// HalfOpen (probes = 1, close_after = 1), A holds the probe (epoch 2). A: a success
/// (closes). B: `reset()`. Applied: Closed (e3) at full health with no samples, so
/// B's reset is a no-op (`None`, still e3); stale: Closed (e3) from B, and A's
/// success neither closes again nor counts.
struct ProbeSuccessVsReset;

impl Scenario for ProbeSuccessVsReset {
    type B = Option<Transition>;
    const A_EPOCH: u32 = 2;
    const A_VERDICT: Verdict = Verdict::Success;

    fn build(clock: &ManualClock, log: &Arc<TransitionLog>) -> Breaker {
        TransitionLog::listen(log, builder(clock))
            .trip_after_consecutive_failures(1)
            .close_after(1)
            .build()
            .unwrap()
    }

    fn prepare(breaker: &Breaker, clock: &ManualClock) {
        assert_eq!(trip_and_wait(breaker, clock), Self::A_EPOCH);
    }

    fn op_b(breaker: &Breaker) -> Option<Transition> {
        breaker.reset()
    }
}

#[test]
fn stale_probe_success_vs_reset() {
    check::<ProbeSuccessVsReset>("stale_permit::stale_probe_success_vs_reset");
}

/// HalfOpen (probes = 1), A holds the probe (epoch 2). A: a failure (re-opens for
/// 2 ms, deadline publication). B: `force_open()`. Applied: Open (e3) then
/// ForcedOpen (e4); stale: ForcedOpen (e3), and no deadline of A's anywhere.
struct ProbeFailureVsForceOpen;

impl Scenario for ProbeFailureVsForceOpen {
    type B = Option<Transition>;
    const A_EPOCH: u32 = 2;
    const A_VERDICT: Verdict = Verdict::failure();

    fn build(clock: &ManualClock, log: &Arc<TransitionLog>) -> Breaker {
        TransitionLog::listen(log, builder(clock))
            .trip_after_consecutive_failures(1)
            .build()
            .unwrap()
    }

    fn prepare(breaker: &Breaker, clock: &ManualClock) {
        assert_eq!(trip_and_wait(breaker, clock), Self::A_EPOCH);
    }

    fn op_b(breaker: &Breaker) -> Option<Transition> {
        breaker.force_open()
    }
}

#[test]
fn stale_probe_failure_vs_force_open() {
    check::<ProbeFailureVsForceOpen>("stale_permit::stale_probe_failure_vs_force_open");
}

/// Three threads (bound 3), `trip_after_consecutive_failures(1)`. A (the model
/// thread) records a tripping failure on a Closed epoch-0 permit; B calls
/// `force_open()`; C calls `reset()`. The outcome (all three results, the final
/// snapshot, the stale counter, the listener count) must be the one of some
/// sequential order of the three operations, and when A is stale the final snapshot
/// is the one B and C alone produce in the same order.
#[test]
fn stale_failure_vs_force_open_and_reset_three_threads() {
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Three {
        a: Recorded,
        b: Option<Transition>,
        c: Option<Transition>,
        after: BreakerSnapshot,
        stale_reports: u64,
        transitions: usize,
    }
    fn build(clock: &ManualClock, log: &Arc<TransitionLog>) -> Breaker {
        TransitionLog::listen(log, builder(clock))
            .trip_after_consecutive_failures(1)
            .build()
            .unwrap()
    }
    const ORDERS: [[char; 3]; 6] = [
        ['a', 'b', 'c'],
        ['a', 'c', 'b'],
        ['b', 'a', 'c'],
        ['b', 'c', 'a'],
        ['c', 'a', 'b'],
        ['c', 'b', 'a'],
    ];
    // For each order: the outcome, and the snapshot of the same order without A.
    let reference: Vec<(Three, BreakerSnapshot)> = sequential(|| {
        ORDERS
            .iter()
            .map(|order| {
                let run = |with_a: bool| {
                    let clock = ManualClock::new();
                    let log = TransitionLog::new();
                    let breaker = build(&clock, &log);
                    let mut permit = Some(breaker.try_acquire().unwrap());
                    let (mut a, mut b, mut c) = (None, None, None);
                    for op in order {
                        match op {
                            'a' if with_a => {
                                a = Some(permit.take().unwrap().record(Verdict::failure()))
                            }
                            'a' => {}
                            'b' => b = Some(breaker.force_open()),
                            _ => c = Some(breaker.reset()),
                        }
                    }
                    let after = breaker.snapshot();
                    drop(permit);
                    Three {
                        a: a.unwrap_or(Recorded::Stale),
                        b: b.unwrap(),
                        c: c.unwrap(),
                        after,
                        stale_reports: breaker.stale_reports(),
                        transitions: log.total(),
                    }
                };
                (run(true), run(false).after)
            })
            .collect()
    });
    let stats = Stats::bounded(
        "stale_permit::stale_failure_vs_force_open_and_reset_three_threads",
        3,
    );
    let stale = Witness::new("A's report was stale");
    let applied = Witness::new("A's report was applied");
    let both_first = Witness::new("B's and C's whole operations came before A's record");
    let (stale_in, applied_in, both_first_in) =
        (stale.clone(), applied.clone(), both_first.clone());
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(stats.count(move || {
        let clock = ManualClock::new();
        let log = TransitionLog::new();
        let breaker = Arc::new(build(&clock, &log));
        let permit = breaker.try_acquire().unwrap();
        let turns = Turns::new();
        let b = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || {
                turns.tick();
                let b = breaker.force_open();
                (b, turns.tick())
            })
        };
        let c = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || {
                turns.tick();
                let c = breaker.reset();
                (c, turns.tick())
            })
        };
        let a_start = turns.tick();
        let a = permit.record(Verdict::failure());
        let ((b, b_done), (c, c_done)) = (b.join().unwrap(), c.join().unwrap());
        if b_done < a_start && c_done < a_start {
            assert!(a.is_stale());
            both_first_in.saw();
        }
        let got = Three {
            a,
            b,
            c,
            after: breaker.snapshot(),
            stale_reports: breaker.stale_reports(),
            transitions: log.total(),
        };
        let Some((_, without_a)) = reference.iter().find(|(r, _)| *r == got) else {
            panic!("no sequential order explains {got:#?}");
        };
        if got.a.is_stale() {
            assert_eq!(got.after, *without_a, "a stale report changed the state");
            stale_in.saw();
        } else {
            // Applied, so before both operators' transitions (its permit is of
            // epoch 0); a reset of the pristine breaker before it is a no-op.
            assert!([b, c].iter().flatten().all(|t| t.epoch > 1), "{got:#?}");
            applied_in.saw();
        }
    }));
    stats.report();
    stale.assert_seen();
    applied.assert_seen();
    both_first.assert_seen();
}

/// The references themselves, spelled out once (so a wrong reference cannot make the
/// models above vacuous).
#[test]
fn references_are_what_the_docs_say() {
    let r = reference::<FailureVsForceOpen>();
    assert_eq!(
        (r.a_then_b.after.state, r.a_then_b.after.epoch),
        (State::ForcedOpen, 2)
    );
    assert_eq!((r.b_alone.state, r.b_alone.epoch), (State::ForcedOpen, 1));
    assert_eq!(r.b_then_a.stale_reports, 1);

    let r = reference::<SuccessVsTripByOtherPermit>();
    let (ab, ba) = (r.a_then_b.after, r.b_then_a.after);
    assert_eq!(
        (ab.state, ab.epoch, ba.state, ba.epoch),
        (State::Open, 1, State::Open, 1)
    );
    assert!(ab.health.unwrap() > ba.health.unwrap(), "{ab:?} vs {ba:?}");
    assert!(
        (ba.health.unwrap() - 0.5).abs() < 1e-5,
        "two failures: {ba:?}"
    );
    assert_eq!(ab.open_until, Some(OPEN_FOR));

    let r = reference::<FailureVsReset>();
    assert_eq!(r.a_then_b.after.epoch, 2);
    assert_eq!(
        (
            r.b_alone.state,
            r.b_alone.epoch,
            r.b_alone.health,
            r.b_alone.samples
        ),
        (State::Closed, 1, Some(1.0), 0)
    );

    let r = reference::<ProbeSuccessVsReset>();
    assert_eq!(
        (r.a_then_b.after.state, r.a_then_b.after.epoch, r.a_then_b.b),
        (State::Closed, 3, None),
        "a reset of a pristine Closed breaker is a no-op"
    );
    assert_eq!((r.b_alone.state, r.b_alone.epoch), (State::Closed, 3));

    let r = reference::<ProbeFailureVsForceOpen>();
    let t = r.a_then_b.a.transition().unwrap();
    assert_eq!(
        (t.to, t.epoch, t.open_for),
        (State::Open, 3, Some(OPEN_FOR * 2))
    );
    assert_eq!((r.b_alone.state, r.b_alone.epoch), (State::ForcedOpen, 3));
}
