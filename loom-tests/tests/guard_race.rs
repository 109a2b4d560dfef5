#![cfg(loom)]
//! Property 8, a guarded call's verdicts land on their own epoch.
//!
//! Thread A runs `Guard::call` (one or two attempts, a sleeper that does not sleep)
//! while thread B moves the breaker to a newer epoch: `force_open()`, `reset()`, or
//! a trip by B's own permit. Each of A's attempts is admitted, then recorded, with a
//! sleep between attempts; B's operation can land before the call, between an
//! admission and its record, during a sleep, or after the call. The references are
//! those sequential runs, computed beforehand on fresh breakers in a single-threaded
//! loom execution (B's operation run from inside A's operation or A's sleeper).
//!
//! Each concurrent run must be exactly one of them: A's result (value or
//! `GuardError`, with its attempts and last error), the epoch of every attempt, B's
//! result, the final snapshot (state, epoch, health, samples, probe counters,
//! deadline), the stale counter and the listener's transitions by target state. So
//! A's verdict was applied to its own epoch or reported stale (and then changed
//! nothing), never applied to another epoch. Every reference must be reached by some
//! run.
//!
//! One documented looseness: a `Rejected::Open` may carry `retry_after: None` in a
//! concurrent run where the reference has `Some`, when A asked between B's trip and
//! the publication of its deadline.

use fusebox::{
    Attempt, Breaker, BreakerSnapshot, Guard, GuardError, Jitter, ManualClock, Recorded, Rejected,
    Retry, Sleeper, State, Transition, Verdict,
};
use fusebox_loom_tests::{
    OPEN_FOR, Stats, TransitionLog, Turns, Witness, builder, sequential, trip_and_wait,
};
use loom::sync::Arc;
use loom::thread;
use std::fmt::Debug;
use std::sync::atomic::Ordering as StdOrdering;
use std::sync::atomic::{AtomicU32 as StdAtomicU32, AtomicUsize as StdAtomicUsize};
use std::sync::{Arc as StdArc, Mutex as StdMutex};
use std::time::Duration;

/// What A's call returns.
type Call = Result<u32, GuardError<&'static str>>;

/// The listener's transitions, counted by target state.
type Counts = [usize; 5];

fn counts(log: &TransitionLog) -> Counts {
    [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
        State::Disabled,
    ]
    .map(|s| log.count(s))
}

/// Everything observable after the race.
#[derive(Clone, Debug, PartialEq)]
struct Outcome<B> {
    a: Call,
    /// The epoch of each of A's attempts, in order.
    epochs: Vec<u32>,
    b: B,
    after: BreakerSnapshot,
    stale_reports: u64,
    transitions: Counts,
}

impl<B: Clone + PartialEq> Outcome<B> {
    /// Whether this reference explains `got`: equal, or equal but for a rejection's
    /// unpublished deadline (see the module documentation).
    fn explains(&self, got: &Self) -> bool {
        if self == got {
            return true;
        }
        let mut loose = self.clone();
        if let Err(GuardError::Rejected {
            rejected: rejected @ Rejected::Open { .. },
            ..
        }) = &mut loose.a
        {
            *rejected = Rejected::Open { retry_after: None };
        }
        loose == *got
    }
}

/// Where B's operation is slotted in a sequential reference.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Slot {
    BeforeTheCall,
    /// Between the admission of attempt `n` and its record.
    DuringAttempt(u32),
    /// During the sleep after attempt `n`.
    DuringSleep(u32),
    AfterTheCall,
}

type Point = StdArc<dyn Fn(Slot) + Send + Sync>;

/// A sleeper that does not sleep, only passes a point: in a sequential reference,
/// one where B's operation may run; in the models, a tick.
struct Hook {
    point: Option<Point>,
    sleeps: StdAtomicU32,
}

impl Hook {
    fn new(point: Option<Point>) -> Self {
        Self {
            point,
            sleeps: StdAtomicU32::new(0),
        }
    }
}

impl Sleeper for Hook {
    fn sleep(&self, _: Duration) {
        // A std atomic: a count within one call, on one thread.
        let n = self.sleeps.fetch_add(1, StdOrdering::Relaxed) + 1;
        if let Some(point) = &self.point {
            point(Slot::DuringSleep(n));
        }
    }
}

/// A retry policy of `max_attempts`, retrying at once (a zero constant backoff, no
/// jitter, so the sleeper is told `Duration::ZERO`).
fn retry(max_attempts: u32) -> Retry {
    Retry::builder()
        .max_attempts(max_attempts)
        .constant_backoff(Duration::ZERO)
        .jitter(Jitter::None)
        .seed(1)
        .build()
        .unwrap()
}

/// What B's operation returned: whether it moved the breaker to a new epoch (an
/// operator call on a breaker already in its target state changes nothing).
trait Moved {
    fn moved(&self) -> bool;
}

impl Moved for Option<Transition> {
    fn moved(&self) -> bool {
        self.is_some()
    }
}

impl Moved for Recorded {
    fn moved(&self) -> bool {
        self.transition().is_some()
    }
}

/// One model: the breaker, its setup, A's policy and operation, B's operation.
trait Scenario: Send + Sync + 'static {
    type B: Moved + Clone + PartialEq + Debug + Send + Sync + 'static;
    fn build(clock: &ManualClock, log: &Arc<TransitionLog>) -> Breaker;
    /// Setup on the model thread, before the race.
    fn prepare(_breaker: &Breaker, _clock: &ManualClock) {}
    const MAX_ATTEMPTS: u32 = 1;
    fn op_a(attempt: Attempt) -> Result<u32, &'static str>;
    fn op_b(breaker: &Breaker) -> Self::B;
}

/// The breaker of `S`, prepared, with its listener's log.
fn prepared<S: Scenario>() -> (Arc<TransitionLog>, StdArc<Breaker>) {
    let clock = ManualClock::new();
    let log = TransitionLog::new();
    let breaker = StdArc::new(S::build(&clock, &log));
    S::prepare(&breaker, &clock);
    (log, breaker)
}

/// A's call: a guard of `S`'s policy on `breaker`, passing `point` before the call,
/// at the start of each attempt (after its admission) and in each sleep. Returns the
/// result and the epoch of each attempt.
fn call_a<S: Scenario>(breaker: &StdArc<Breaker>, point: &Point) -> (Call, Vec<u32>) {
    let guard = Guard::new(breaker.clone(), retry(S::MAX_ATTEMPTS))
        .with_sleeper(Hook::new(Some(point.clone())));
    point(Slot::BeforeTheCall);
    let mut epochs = Vec::new();
    let a = guard.call(|attempt| {
        epochs.push(attempt.epoch);
        point(Slot::DuringAttempt(attempt.number));
        S::op_a(attempt)
    });
    (a, epochs)
}

fn outcome<B>(
    a: Call,
    epochs: Vec<u32>,
    b: B,
    breaker: &Breaker,
    log: &TransitionLog,
) -> Outcome<B> {
    Outcome {
        a,
        epochs,
        b,
        after: breaker.snapshot(),
        stale_reports: breaker.stale_reports(),
        transitions: counts(log),
    }
}

/// Where B ran in a sequential reference, and what it returned.
type Ran<B> = StdMutex<Option<(Slot, B)>>;

/// The sequential run with B's operation at the `k`-th point A passes (counting
/// from the point before the call); `None` once `k` is past the last one.
fn run_with_b_at<S: Scenario>(k: usize) -> Option<(Slot, Outcome<S::B>)> {
    let (log, breaker) = prepared::<S>();
    let ran: StdArc<Ran<S::B>> = StdArc::new(StdMutex::new(None));
    let point: Point = {
        let (ran, breaker) = (ran.clone(), breaker.clone());
        let passed = StdAtomicUsize::new(0);
        StdArc::new(move |slot| {
            if passed.fetch_add(1, StdOrdering::Relaxed) == k {
                *ran.lock().unwrap() = Some((slot, S::op_b(&breaker)));
            }
        })
    };
    let (a, epochs) = call_a::<S>(&breaker, &point);
    point(Slot::AfterTheCall);
    let (slot, b) = ran.lock().unwrap().take()?;
    Some((slot, outcome(a, epochs, b, &breaker, &log)))
}

/// Every sequential reference of `S`, by where B ran.
fn references<S: Scenario>() -> Vec<(Slot, Outcome<S::B>)> {
    let references: Vec<_> = sequential(|| (0..).map_while(run_with_b_at::<S>).collect());
    for (slot, reference) in &references {
        // The record of an attempt admitted before B and recorded after it is stale
        // exactly when B moved the breaker to a new epoch, and no other record is:
        // the references are the rule itself, not just whatever the code does.
        let stale = u64::from(matches!(slot, Slot::DuringAttempt(_)) && reference.b.moved());
        assert_eq!(reference.stale_reports, stale, "B {slot:?}: {reference:#?}");
    }
    references
}

/// The concurrent model: B spawned, A's call on the model thread.
fn check<S: Scenario>(name: &'static str) {
    let references = references::<S>();
    let witnesses: Vec<Witness> = references
        .iter()
        .map(|(slot, _)| Witness::new(format!("B ran {slot:?}").leak()))
        .collect();
    let stats = Stats::unbounded(name);
    let witnesses_in = witnesses.clone();
    fusebox_loom_tests::exhaustive(stats.count(move || {
        // A ticks at the points where the references run B, and B ticks first: see
        // `Turns` (without it loom never runs B before A's `Closed` admission).
        let turns = Turns::new();
        let point: Point = {
            let turns = turns.clone();
            StdArc::new(move |_| {
                turns.tick();
            })
        };
        let (log, breaker) = prepared::<S>();
        let b = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || {
                turns.tick();
                S::op_b(&breaker)
            })
        };
        let (a, epochs) = call_a::<S>(&breaker, &point);
        let b = b.join().unwrap();
        let got = outcome(a, epochs, b, &breaker, &log);

        let mut explained = false;
        for ((_, reference), witness) in references.iter().zip(&witnesses_in) {
            if reference.explains(&got) {
                witness.saw();
                explained = true;
            }
        }
        assert!(
            explained,
            "no sequential order explains {got:#?}; the references: {references:#?}"
        );
        // Said directly: a stale record changed nothing of the epoch B left.
        assert!(got.stale_reports <= 1, "{got:#?}");
    }));
    stats.report();
    for w in &witnesses {
        w.assert_seen();
    }
}

/// The op of most scenarios: every attempt fails.
fn fails(_: Attempt) -> Result<u32, &'static str> {
    Err("down")
}

/// Closed, `trip_after_consecutive_failures(1)`. A: one attempt, which fails (and
/// trips). B: `force_open()`. Before: A is rejected (`ForcedOpen`, 0 attempts).
/// During: A's failure is stale; ForcedOpen at epoch 1. After: Open (e1), then
/// ForcedOpen (e2).
struct FailureVsForceOpen;

impl Scenario for FailureVsForceOpen {
    type B = Option<Transition>;

    fn build(clock: &ManualClock, log: &Arc<TransitionLog>) -> Breaker {
        TransitionLog::listen(log, builder(clock))
            .trip_after_consecutive_failures(1)
            .build()
            .unwrap()
    }

    fn op_a(attempt: Attempt) -> Result<u32, &'static str> {
        fails(attempt)
    }

    fn op_b(breaker: &Breaker) -> Option<Transition> {
        breaker.force_open()
    }
}

#[test]
fn guard_race_failure_vs_force_open() {
    check::<FailureVsForceOpen>("guard_race::guard_race_failure_vs_force_open");
}

/// `trip_after_consecutive_failures(2)`, one failure already recorded. A: one
/// attempt, which fails (the second failure: trips). B: `reset()`. During: A is
/// stale, and the reset breaker has full health and no samples.
struct FailureVsReset;

impl Scenario for FailureVsReset {
    type B = Option<Transition>;

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

    fn op_a(attempt: Attempt) -> Result<u32, &'static str> {
        fails(attempt)
    }

    fn op_b(breaker: &Breaker) -> Option<Transition> {
        breaker.reset()
    }
}

#[test]
fn guard_race_failure_vs_reset() {
    check::<FailureVsReset>("guard_race::guard_race_failure_vs_reset");
}

/// `trip_after_consecutive_failures(2)`, one failure already recorded. A: one
/// attempt, which succeeds. B: a failure on its own (epoch-0) permit, which trips in
/// every order. Before: A is rejected (Open, 1 ms left). During: A's success is stale
/// (but A still returns its value). After: health rose first, then B tripped.
struct SuccessVsTripByOtherPermit;

impl Scenario for SuccessVsTripByOtherPermit {
    type B = Recorded;

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

    fn op_a(attempt: Attempt) -> Result<u32, &'static str> {
        Ok(attempt.number)
    }

    fn op_b(breaker: &Breaker) -> Recorded {
        let permit = breaker
            .try_acquire()
            .expect("closed: A never moves the epoch");
        assert_eq!(permit.epoch(), 0);
        let r = permit.record(Verdict::failure());
        let t = r.transition().expect("B's failure trips in every order");
        assert_eq!((t.from, t.to, t.epoch), (State::Closed, State::Open, 1));
        r
    }
}

#[test]
fn guard_race_success_vs_trip_by_other_permit() {
    check::<SuccessVsTripByOtherPermit>("guard_race::guard_race_success_vs_trip_by_other_permit");
}

/// `trip_after_consecutive_failures(2)`. A: two attempts, the first fails (no trip),
/// the second succeeds. B: `force_open()`. The retry path: B before the sleep check
/// or during the sleep ends the call with `Rejected { ForcedOpen, attempts: 1,
/// last: Some("down") }` (rule 3 or rule 4); during attempt 2, A's success is stale
/// but returned.
struct RetryVsForceOpen;

impl Scenario for RetryVsForceOpen {
    type B = Option<Transition>;
    const MAX_ATTEMPTS: u32 = 2;

    fn build(clock: &ManualClock, log: &Arc<TransitionLog>) -> Breaker {
        TransitionLog::listen(log, builder(clock))
            .trip_after_consecutive_failures(2)
            .build()
            .unwrap()
    }

    fn op_a(attempt: Attempt) -> Result<u32, &'static str> {
        if attempt.number == 1 {
            Err("down")
        } else {
            Ok(attempt.number)
        }
    }

    fn op_b(breaker: &Breaker) -> Option<Transition> {
        breaker.force_open()
    }
}

#[test]
fn guard_race_retry_vs_force_open() {
    check::<RetryVsForceOpen>("guard_race::guard_race_retry_vs_force_open");
}

/// `trip_after_consecutive_failures(2)`. A: two attempts, both fail (together they
/// trip, if they land in one epoch). B: `reset()`, a no-op (`None`) while the new
/// breaker has seen no failure. Before, and during attempt 1: B changes nothing,
/// both attempts land in epoch 0 and trip it (Open, e1). During the sleep: one
/// failure in each epoch, no trip. During attempt 2: it is stale. After: A trips
/// epoch 0, B resets the Open breaker.
struct RetriesVsReset;

impl Scenario for RetriesVsReset {
    type B = Option<Transition>;
    const MAX_ATTEMPTS: u32 = 2;

    fn build(clock: &ManualClock, log: &Arc<TransitionLog>) -> Breaker {
        TransitionLog::listen(log, builder(clock))
            .trip_after_consecutive_failures(2)
            .build()
            .unwrap()
    }

    fn op_a(attempt: Attempt) -> Result<u32, &'static str> {
        fails(attempt)
    }

    fn op_b(breaker: &Breaker) -> Option<Transition> {
        breaker.reset()
    }
}

#[test]
fn guard_race_retries_vs_reset() {
    check::<RetriesVsReset>("guard_race::guard_race_retries_vs_reset");
}

/// Half-open: Open (e1) past its deadline, probes 1, close_after 1. A's attempt is
/// the first probe (it makes Open -> HalfOpen, e2) and succeeds (closes). B:
/// `reset()`. Before: B resets the Open breaker (Closed e2) and A's attempt is an
/// ordinary one. During: A's success is stale: it does not close B's epoch again
/// (Closed e3, one transition into Closed). After: Closed (e3) at full health with
/// no samples, so B's reset is a no-op (`None`).
struct ProbeSuccessVsReset;

impl Scenario for ProbeSuccessVsReset {
    type B = Option<Transition>;

    fn build(clock: &ManualClock, log: &Arc<TransitionLog>) -> Breaker {
        TransitionLog::listen(log, builder(clock))
            .trip_after_consecutive_failures(1)
            .close_after(1)
            .build()
            .unwrap()
    }

    fn prepare(breaker: &Breaker, clock: &ManualClock) {
        assert_eq!(trip_and_wait(breaker, clock), 2);
    }

    fn op_a(attempt: Attempt) -> Result<u32, &'static str> {
        Ok(attempt.number)
    }

    fn op_b(breaker: &Breaker) -> Option<Transition> {
        breaker.reset()
    }
}

#[test]
fn guard_race_probe_success_vs_reset() {
    check::<ProbeSuccessVsReset>("guard_race::guard_race_probe_success_vs_reset");
}

/// Half-open as above (probes 1). A's probe fails (re-opens for 2 ms, e3). B:
/// `force_open()`. Before: A is rejected (`ForcedOpen`). During: A is stale and
/// publishes no deadline. After: Open (e3), then ForcedOpen (e4).
struct ProbeFailureVsForceOpen;

impl Scenario for ProbeFailureVsForceOpen {
    type B = Option<Transition>;

    fn build(clock: &ManualClock, log: &Arc<TransitionLog>) -> Breaker {
        TransitionLog::listen(log, builder(clock))
            .trip_after_consecutive_failures(1)
            .build()
            .unwrap()
    }

    fn prepare(breaker: &Breaker, clock: &ManualClock) {
        assert_eq!(trip_and_wait(breaker, clock), 2);
    }

    fn op_a(attempt: Attempt) -> Result<u32, &'static str> {
        fails(attempt)
    }

    fn op_b(breaker: &Breaker) -> Option<Transition> {
        breaker.force_open()
    }
}

#[test]
fn guard_race_probe_failure_vs_force_open() {
    check::<ProbeFailureVsForceOpen>("guard_race::guard_race_probe_failure_vs_force_open");
}

/// The references, spelled out where the module documentation and the scenarios'
/// docs make claims (so a wrong reference cannot make the models vacuous).
#[test]
fn guard_race_references_are_what_the_rules_say() {
    fn find<B: Clone>(refs: &[(Slot, Outcome<B>)], slot: Slot) -> Outcome<B> {
        refs.iter()
            .find(|(s, _)| *s == slot)
            .unwrap_or_else(|| panic!("no reference with B {slot:?}"))
            .1
            .clone()
    }
    use Slot::*;
    const DOWN: &str = "down";

    let r = references::<FailureVsForceOpen>();
    assert_eq!(r.len(), 3, "{r:#?}");
    let before = find(&r, BeforeTheCall);
    assert_eq!(
        before.a,
        Err(GuardError::Rejected {
            rejected: Rejected::ForcedOpen,
            attempts: 0,
            last: None
        })
    );
    let during = find(&r, DuringAttempt(1));
    assert_eq!(
        (
            during.a,
            during.stale_reports,
            during.after.state,
            during.after.epoch
        ),
        (
            Err(GuardError::Exhausted {
                attempts: 1,
                last: Some(DOWN)
            }),
            1,
            State::ForcedOpen,
            1
        )
    );
    let after = find(&r, AfterTheCall);
    assert_eq!((after.after.epoch, after.transitions), (2, [0, 1, 0, 1, 0]));

    let r = references::<FailureVsReset>();
    let during = find(&r, DuringAttempt(1));
    assert_eq!(
        (
            during.after.state,
            during.after.epoch,
            during.after.health,
            during.after.samples
        ),
        (State::Closed, 1, Some(1.0), 0),
        "the stale failure is not in B's epoch"
    );
    let after = find(&r, AfterTheCall);
    assert_eq!((after.after.epoch, after.transitions), (2, [1, 1, 0, 0, 0]));

    let r = references::<SuccessVsTripByOtherPermit>();
    let before = find(&r, BeforeTheCall);
    assert_eq!(
        before.a,
        Err(GuardError::Rejected {
            rejected: Rejected::Open {
                retry_after: Some(OPEN_FOR)
            },
            attempts: 0,
            last: None
        })
    );
    let during = find(&r, DuringAttempt(1));
    assert_eq!((during.a, during.stale_reports), (Ok(1), 1));

    let r = references::<RetryVsForceOpen>();
    assert_eq!(r.len(), 5, "{r:#?}");
    let sleep = find(&r, DuringSleep(1));
    assert_eq!(
        (sleep.a, sleep.epochs, sleep.stale_reports),
        (
            Err(GuardError::Rejected {
                rejected: Rejected::ForcedOpen,
                attempts: 1,
                last: Some(DOWN)
            }),
            vec![0],
            0
        )
    );
    let during = find(&r, DuringAttempt(2));
    assert_eq!((during.a, during.stale_reports), (Ok(2), 1));

    let r = references::<RetriesVsReset>();
    let before = find(&r, BeforeTheCall);
    assert_eq!(
        (
            before.b,
            before.epochs,
            before.after.state,
            before.after.epoch
        ),
        (None, vec![0, 0], State::Open, 1),
        "a reset of the new breaker is a no-op"
    );
    let during = find(&r, DuringAttempt(1));
    assert_eq!((during.b, during.stale_reports), (None, 0));
    let sleep = find(&r, DuringSleep(1));
    assert_eq!(
        (
            sleep.epochs,
            sleep.after.state,
            sleep.after.samples,
            sleep.stale_reports
        ),
        (vec![0, 1], State::Closed, 1, 0)
    );
    let after = find(&r, AfterTheCall);
    assert_eq!((after.after.state, after.after.epoch), (State::Closed, 2));

    let r = references::<ProbeSuccessVsReset>();
    let during = find(&r, DuringAttempt(1));
    assert_eq!(
        (
            during.epochs,
            during.after.state,
            during.after.epoch,
            during.stale_reports
        ),
        (vec![2], State::Closed, 3, 1)
    );
    // The setup's trip, A's Open -> HalfOpen, and B's reset: no second close.
    assert_eq!(during.transitions, [1, 1, 1, 0, 0]);
    let after = find(&r, AfterTheCall);
    assert_eq!(
        (after.b, after.after.epoch, after.transitions),
        (None, 3, [1, 1, 1, 0, 0]),
        "A closed: the reset of a pristine Closed breaker is a no-op"
    );

    let r = references::<ProbeFailureVsForceOpen>();
    let during = find(&r, DuringAttempt(1));
    assert_eq!(
        (
            during.after.state,
            during.after.epoch,
            during.after.open_until
        ),
        (State::ForcedOpen, 3, None)
    );
}

/// Half-open, probes 1, close_after 2 (a success does not close). A's guarded call
/// (one attempt, which succeeds) races B, who takes a probe permit and drops it (a
/// cancellation). Whoever comes first makes Open -> HalfOpen (exactly once); the other
/// is turned away only while the slot is held. At quiescence no probe slot is leaked
/// (none in flight, and a new probe is admitted), and the breaker counted A's
/// success if and only if A was admitted.
#[test]
fn guard_race_probe_vs_cancelled_contender() {
    let stats = Stats::unbounded("guard_race::guard_race_probe_vs_cancelled_contender");
    let a_busy = Witness::new("A was rejected ProbesBusy while B held the slot");
    let b_busy = Witness::new("B was turned away while A's attempt held the slot");
    let both = Witness::new("both were admitted, one after the other");
    let (a_busy_in, b_busy_in, both_in) = (a_busy.clone(), b_busy.clone(), both.clone());
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let turns = Turns::new();
        let point: Point = {
            let turns = turns.clone();
            StdArc::new(move |_| {
                turns.tick();
            })
        };
        let clock = ManualClock::new();
        let log = TransitionLog::new();
        let breaker = StdArc::new(
            TransitionLog::listen(&log, builder(&clock))
                .trip_after_consecutive_failures(1)
                .probes(1)
                .close_after(2)
                .build()
                .unwrap(),
        );
        let probe_epoch = trip_and_wait(&breaker, &clock);
        let guard =
            Guard::new(breaker.clone(), retry(1)).with_sleeper(Hook::new(Some(point.clone())));

        let b = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || {
                turns.tick();
                let permit = breaker.try_acquire();
                let admitted = permit.as_ref().map(|p| p.epoch()).map_err(|e| *e);
                turns.tick();
                drop(permit);
                admitted
            })
        };
        point(Slot::BeforeTheCall);
        let mut epochs = Vec::new();
        let a: Call = guard.call(|attempt| {
            epochs.push(attempt.epoch);
            point(Slot::DuringAttempt(attempt.number));
            Ok(attempt.number)
        });
        let b = b.join().unwrap();

        let s = breaker.snapshot();
        assert_eq!((s.state, s.epoch), (State::HalfOpen, probe_epoch), "{s:?}");
        assert_eq!(s.probes_in_flight, 0, "a probe slot leaked: {s:?}");
        assert_eq!(breaker.stale_reports(), 0);
        assert_eq!(counts(&log), [0, 1, 1, 0, 0], "one Open -> HalfOpen");
        match (&a, b) {
            (Ok(1), Ok(epoch)) => {
                assert_eq!(
                    (epochs.as_slice(), epoch),
                    (&[probe_epoch][..], probe_epoch)
                );
                assert_eq!(s.probe_successes, 1, "{s:?}");
                both_in.saw();
            }
            (Ok(1), Err(Rejected::ProbesBusy)) => {
                assert_eq!(epochs, [probe_epoch]);
                assert_eq!(s.probe_successes, 1, "{s:?}");
                b_busy_in.saw();
            }
            (
                Err(GuardError::Rejected {
                    rejected: Rejected::ProbesBusy,
                    attempts: 0,
                    last: None,
                }),
                Ok(epoch),
            ) => {
                assert_eq!(epoch, probe_epoch);
                assert!(epochs.is_empty());
                assert_eq!(s.probe_successes, 0, "{s:?}");
                a_busy_in.saw();
            }
            other => panic!("{other:?}, {s:?}"),
        }

        // The slot is free: a new probe is admitted; the cap still holds.
        let probe = breaker.try_acquire().expect("the slot was given back");
        assert_eq!(probe.epoch(), probe_epoch);
        assert_eq!(breaker.try_acquire().unwrap_err(), Rejected::ProbesBusy);
        drop(probe);
    }));
    stats.report();
    a_busy.assert_seen();
    b_busy.assert_seen();
    both.assert_seen();
}

/// Two guards on one breaker (`trip_after_consecutive_failures(2)`), each making up
/// to two attempts that all fail, retrying at once. Every attempt is admitted in
/// Closed epoch 0 (nothing else admits). Exactly two failures are applied (the second
/// trips) and every other record is stale; exactly one Closed -> Open transition,
/// whose deadline is published. A call is `Rejected` only by `Open` (never forced or
/// busy), with `retry_after` the full open period or not yet published; a call
/// rejected before its first attempt leaves both applied failures to the other call.
/// Both calls cannot be exhausted: one of them asks after the trip.
#[test]
fn guard_race_two_guards_trip_once() {
    let stats = Stats::unbounded("guard_race::guard_race_two_guards_trip_once");
    let rejected_0 = Witness::new("a call was rejected before its first attempt");
    let rejected_1 = Witness::new("a call was rejected after one attempt");
    let exhausted = Witness::new("a call made both attempts");
    let stale = Witness::new("an attempt's failure was stale (after the trip)");
    let unpublished = Witness::new("a rejection came before the deadline was published");
    let ws = [&rejected_0, &rejected_1, &exhausted, &stale, &unpublished].map(|w| w.clone());
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let turns = Turns::new();
        let clock = ManualClock::new();
        let log = TransitionLog::new();
        let breaker = StdArc::new(
            TransitionLog::listen(&log, builder(&clock))
                .trip_after_consecutive_failures(2)
                .build()
                .unwrap(),
        );
        // Each call ticks before each admission (before the call, and in the sleeper
        // before the second): an admission in Closed is a load only (see `Turns`).
        let call = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            move || {
                let point: Point = {
                    let turns = turns.clone();
                    StdArc::new(move |_| {
                        turns.tick();
                    })
                };
                let guard = Guard::new(breaker.clone(), retry(2))
                    .with_sleeper(Hook::new(Some(point.clone())));
                point(Slot::BeforeTheCall);
                let mut epochs = Vec::new();
                let result: Call = guard.call(|attempt| {
                    epochs.push(attempt.epoch);
                    fails(attempt)
                });
                (result, epochs)
            }
        };
        let other = thread::spawn(call.clone());
        let mine = call();
        let other = other.join().unwrap();

        let s = breaker.snapshot();
        assert_eq!(
            (s.state, s.epoch, s.open_until),
            (State::Open, 1, Some(OPEN_FOR)),
            "{s:?}"
        );
        assert_eq!(counts(&log), [0, 1, 0, 0, 0], "exactly one Closed -> Open");
        let calls = [&mine, &other];
        let mut attempts = 0;
        for (result, epochs) in calls {
            assert!(epochs.iter().all(|&e| e == 0), "{calls:?}");
            let err = result.as_ref().expect_err("every attempt fails");
            assert_eq!(err.attempts() as usize, epochs.len(), "{calls:?}");
            attempts += epochs.len();
            match err {
                GuardError::Exhausted { attempts: 2, last } => {
                    assert_eq!(*last, Some("down"));
                    ws[2].saw();
                }
                GuardError::Rejected {
                    rejected: Rejected::Open { retry_after },
                    attempts: n @ (0 | 1),
                    last,
                } => {
                    assert!(retry_after.is_none_or(|left| left == OPEN_FOR), "{calls:?}");
                    if retry_after.is_none() {
                        ws[4].saw();
                    }
                    if *n == 0 {
                        assert_eq!(*last, None);
                        let (_, epochs) = if calls[0].1.is_empty() {
                            calls[1]
                        } else {
                            calls[0]
                        };
                        assert_eq!(epochs.len(), 2, "the trip took two failures: {calls:?}");
                        ws[0].saw();
                    } else {
                        assert_eq!(*last, Some("down"));
                        ws[1].saw();
                    }
                }
                _ => panic!("inconsistent: {calls:?}"),
            }
        }
        // Exactly two applied: every other record was stale.
        assert_eq!(
            breaker.stale_reports(),
            attempts as u64 - 2,
            "{calls:?}, {s:?}"
        );
        if attempts > 2 {
            ws[3].saw();
        }
        assert!(
            !matches!(
                (&mine.0, &other.0),
                (
                    Err(GuardError::Exhausted { .. }),
                    Err(GuardError::Exhausted { .. })
                )
            ),
            "both exhausted: {calls:?}"
        );
    }));
    stats.report();
    for w in [rejected_0, rejected_1, exhausted, stale, unpublished] {
        w.assert_seen();
    }
}
