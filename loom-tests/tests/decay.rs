#![cfg(loom)]
//! The decay protocol (`Breaker::report_measured`; issue 17 item 1). In a `Closed`
//! or `Disabled` epoch the deadline word is the epoch's *mark word*: the tick up to
//! which the state word's health has been brought up to date, tied to the state
//! word by a 5-bit decay generation (`GEN`). A reporter whose clock is past the
//! mark first *claims* the interval from the mark to its clock (a CAS of the mark
//! word, from the exact word it read, into a pending word of the next generation);
//! then anyone applies a pending interval with one CAS of the state word that
//! moves its generation (with the applier's verdict after the interval when the
//! interval ends at or after the applier's clock), and rewrites the pending word as
//! a settled one (`settle_mark`). A verdict lands only on a word that is as of its
//! reporter's clock or later. Every transition into `Closed` or `Disabled` writes
//! the new epoch's first mark (`after_update_at` -> `start_mark`, which re-checks
//! the state epoch); the breaker starts with a settled mark at tick 0.
//!
//! The models race:
//!
//! 1. two reports below full health after a quiet interval: the interval is applied
//!    once, and before both verdicts (never a verdict back-dated to its start);
//! 2. a report's claim, settle and `start_mark` against a trip into `Open` and the
//!    publication of its deadline: the deadline is never overwritten;
//! 3. a stale reporter against a reset (which marks the new epoch) and the new
//!    epoch's first report: the stale reporter cannot move the new epoch's mark;
//! 4. the review's reproduction of the bug 9e4208e fixed: after one failure and
//!    10 s of quiet, a success and a failure on `trip_after_consecutive_failures(2)`
//!    never trip;
//! 5. helping: a claimer stalls before applying its interval, and a reporter whose
//!    clock reading is older applies it: applied once, both verdicts land;
//! 6. a reset's first mark of the new epoch against a trip of that epoch and its
//!    deadline publication: the deadline is never overwritten;
//! 7. `disable()` against a report below full health: some sequential order, and
//!    the `Disabled` epoch decays from `disable`'s tick;
//! 8. `reset()` of a breaker that time alone has healed against a failure: the
//!    epoch moves only if the failure came first (otherwise permits stay valid);
//! 9. `disable()`'s first mark against a report in the new `Disabled` epoch whose
//!    clock reading is later than `disable`'s.
//!
//! Models 7 and 9 fail on 9e4208e (two ways a `Disabled` epoch lost the decay
//! since `disable`: `README.md`, "`src/` bugs these models found"), and pass
//! since `disable()` carries the old epoch's mark over.
//!
//! Each model's documentation names the bug it catches; `README.md` lists the
//! plants it was run against and its result on c2642e8, the commit before the
//! protocol.
//!
//! Settings: half-life 64 ms ([`MIN_HALF_LIFE`]: ticks of exactly 1 ms), graded
//! admission off. The clock stands still during each race (the interval to claim is
//! made before it; model 5 gives one thread an older reading instead); the breaker
//! reads it through a [`TickingClock`], so each report's clock reading (between its
//! load of the state word and its load of the mark word) is a point where loom runs
//! the other thread's operations. Intervals are whole half-lives wherever a claim
//! could split one: the decay of a whole half-life is exact (a shift), so a split
//! interval decays exactly as the whole one, and the references need not know where
//! a claim split it.

use fusebox::{
    Breaker, BreakerBuilder, BreakerSnapshot, MIN_HALF_LIFE, ManualClock, Recorded, Rejected,
    State, Transition, Verdict,
};
use fusebox_loom_tests::{
    OPEN_FOR, Stats, TickingClock, TransitionLog, Turns, Witness, builder, deadline_after,
    sequential,
};
use loom::sync::Arc;
use loom::thread::{self, ThreadId};
use std::time::Duration;

/// One decay tick: `MIN_HALF_LIFE / 64`.
const TICK: Duration = Duration::from_millis(1);

/// One half-life, in ticks.
const HALF_LIFE: u32 = 64;

/// The review's quiet spell (many half-lives: every gap is gone after 21).
const QUIET: Duration = Duration::from_secs(10);

/// The snapshot right after a race, and one half-life later (which shows where the
/// race left the mark: a mark that is missing, behind, or still pending and not
/// absorbed decays differently).
type Seen = (BreakerSnapshot, BreakerSnapshot);

/// The decay models' breaker: `health(0.5, threshold, 1)`, half-life 64 ms, no
/// grading, on `clock` (the caller may give it a ticking one).
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

/// Record `verdict` on a new permit as a timed report (`record_timed`: the
/// breaker's concurrency limit is on, so the report is made at the time it
/// reads, whatever the verdict; a plain success reads no clock); applied with
/// no transition.
fn report_on_time(breaker: &Breaker, verdict: Verdict) {
    let r = breaker
        .try_acquire()
        .expect("closed")
        .record_timed(verdict, Duration::ZERO);
    assert_eq!(r, Recorded::Applied { transition: None }, "{verdict:?}");
}

/// The snapshot now and one half-life later (advancing `clock`).
fn seen(breaker: &Breaker, clock: &ManualClock) -> Seen {
    let now = breaker.snapshot();
    clock.advance(TICK * HALF_LIFE);
    (now, breaker.snapshot())
}

/// `n` decay ticks as a time since the breaker was built.
fn ticks(n: u32) -> Duration {
    TICK * n
}

/// After the race and [`seen`]: a report stores what the snapshot showed (it claims
/// the half-life since the race), and a second one at the same instant finds
/// nothing left to claim.
fn nothing_left_to_claim(breaker: &Breaker, later: BreakerSnapshot) {
    for _ in 0..2 {
        // On time: an untimed non-signal would claim nothing whatever was left.
        report_on_time(breaker, Verdict::Ignored);
        assert_eq!(breaker.snapshot(), later, "an interval claimed twice");
    }
}

/// How the model thread's (A's) and the spawned thread's (B's) operations were
/// scheduled, from each one's first clock reading and a tick right after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Schedule {
    /// A's whole operation came before B read its clock.
    AFirst,
    /// B's whole operation came before A read its clock.
    BFirst,
    /// Each read its clock before the other's operation returned.
    Overlapped,
    /// One of them read no clock.
    NoReading,
}

fn schedule(
    ticking: &TickingClock,
    (a, a_done): (ThreadId, usize),
    (b, b_done): (ThreadId, usize),
) -> Schedule {
    let first = |t| ticking.readings_by(t).first().copied();
    match (first(a), first(b)) {
        (Some(_), Some(b_read)) if a_done < b_read => Schedule::AFirst,
        (Some(a_read), Some(_)) if b_done < a_read => Schedule::BFirst,
        (Some(_), Some(_)) => Schedule::Overlapped,
        _ => Schedule::NoReading,
    }
}

/// Witnesses for the three schedules of two whole operations.
#[derive(Clone)]
struct Schedules([Witness; 3]);

impl Schedules {
    fn new() -> Self {
        Self([
            Witness::new("A's whole operation first"),
            Witness::new("B's whole operation first"),
            Witness::new(
                "the operations overlapped (each read its clock before the other returned)",
            ),
        ])
    }

    fn saw(&self, s: Schedule) {
        match s {
            Schedule::AFirst => self.0[0].saw(),
            Schedule::BFirst => self.0[1].saw(),
            Schedule::Overlapped => self.0[2].saw(),
            Schedule::NoReading => {}
        }
    }

    fn assert_seen(&self) {
        for w in &self.0 {
            w.assert_seen();
        }
    }
}

/// Outcomes with their labels, histories with the same outcome sharing one label.
fn labelled<T: PartialEq + Clone>(outcomes: Vec<(&str, T)>) -> Vec<(String, T)> {
    let mut out: Vec<(String, T)> = Vec::new();
    for (label, o) in outcomes {
        match out.iter_mut().find(|(_, x)| *x == o) {
            Some((labels, _)) => *labels = format!("{labels} = {label}"),
            None => out.push((label.to_string(), o)),
        }
    }
    out
}

/// One witness per labelled outcome.
fn witnesses<T>(expected: &[(String, T)]) -> Vec<Witness> {
    expected
        .iter()
        .map(|(label, _)| Witness::new(Box::leak(label.clone().into_boxed_str())))
        .collect()
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

/// Model 1's sequential histories: after a failure at tick 0, A's and B's reports,
/// each at the start or the end of a one-half-life interval, in the given order.
fn interval_history(steps: [(char, At); 2]) -> Seen {
    let clock = ManualClock::new();
    let breaker = decaying(&clock, 0.01).build().unwrap();
    report(&breaker, Verdict::failure());
    let mut advanced = false;
    for (who, at) in steps {
        if matches!(at, At::End) && !advanced {
            clock.advance(ticks(HALF_LIFE));
            advanced = true;
        }
        report(&breaker, verdict_of(who));
    }
    if !advanced {
        clock.advance(ticks(HALF_LIFE));
    }
    seen(&breaker, &clock)
}

/// Model 1. After a failure at tick 0 and one half-life of quiet, A (the model
/// thread) records a unit failure and B a half-weight one, both below full health
/// in Closed epoch 0: both would claim the interval.
///
/// Both verdicts were reported after the interval, so the outcome must be "A then
/// B" or "B then A" with the interval decayed once, before both: not a double
/// decay (two claims of one interval), not none (no claim applied), and not a
/// verdict *back-dated* to the start of the interval ("B's verdict, then A's claim"
/// or the mirror: the verdict decayed by time that passed before it happened, as
/// when one thread's claim moved the mark and the other's verdict landed on the
/// undecayed word first). One half-life after the race the snapshot must still match
/// (the mark was left at the interval's end, settled or pending-absorbed), and a
/// report at one instant claims nothing more.
///
/// Catches: the bug 9e4208e fixed (claim and apply in two steps): on c2642e8 this
/// model fails at iteration 21 with the outcome of "B's verdict at the start, then
/// A's claim"; an apply CAS on a word other than the one the mark was read with
/// (plant N11 in `README.md`).
#[test]
fn decay_two_reporters_claim_an_interval_once() {
    let legal = [
        ("A then B", [('A', At::End), ('B', At::End)]),
        ("B then A", [('B', At::End), ('A', At::End)]),
    ];
    let back_dated = [
        (
            "B's verdict at the start, then A's claim",
            [('B', At::Start), ('A', At::End)],
        ),
        (
            "A's verdict at the start, then B's claim",
            [('A', At::Start), ('B', At::End)],
        ),
    ];
    let (legal_out, back_out): (Vec<Seen>, Vec<Seen>) = sequential(move || {
        (
            legal.map(|(_, s)| interval_history(s)).to_vec(),
            back_dated.map(|(_, s)| interval_history(s)).to_vec(),
        )
    });
    for ((label, _), o) in back_dated.iter().zip(&back_out) {
        assert!(
            !legal_out.contains(o),
            "a back-dated verdict ({label}) must show: {o:?}"
        );
    }
    let expected = labelled(
        legal
            .iter()
            .map(|(l, _)| *l)
            .zip(legal_out)
            .collect::<Vec<_>>(),
    );

    let stats = Stats::unbounded("decay::decay_two_reporters_claim_an_interval_once");
    let outcomes = witnesses(&expected);
    let schedules = Schedules::new();
    let (seen_outcome, seen_schedule) = (outcomes.clone(), schedules.clone());
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
        clock.advance(ticks(HALF_LIFE));
        let a = breaker.try_acquire().expect("closed");
        ticking.forget();
        let b = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || {
                let r = breaker
                    .try_acquire()
                    .expect("closed")
                    .record(verdict_of('B'));
                (r, thread::current().id(), turns.tick())
            })
        };
        let ra = a.record(verdict_of('A'));
        let a_done = turns.tick();
        let (rb, b_id, b_done) = b.join().unwrap();
        assert_eq!(ra, Recorded::Applied { transition: None });
        assert_eq!(rb, Recorded::Applied { transition: None });
        let got = seen(&breaker, &clock);
        let Some(i) = expected.iter().position(|(_, o)| *o == got) else {
            panic!(
                "no history with both verdicts after one decay of the interval gives \
                 {got:#?}; expected one of {expected:#?}"
            );
        };
        seen_outcome[i].saw();
        seen_schedule.saw(schedule(
            &ticking,
            (thread::current().id(), a_done),
            (b_id, b_done),
        ));
        nothing_left_to_claim(&breaker, got.1);
    }));
    stats.report();
    for w in &outcomes {
        w.assert_seen();
    }
    schedules.assert_seen();
}

/// Model 2. Closed epoch 0 at full health, its mark settled at tick 0 (as built),
/// clock at tick 5: A (the model thread) records a light failure (weight 0.1: no
/// trip) and B a heavy one (weight 1000: health 0, a trip into Open at epoch 1,
/// whose deadline B publishes). A's report claims [0, 5] (a CAS of the mark word
/// from the word it read), applies it with its verdict and settles the mark word,
/// or finds B's deadline there.
///
/// However they interleave, the breaker ends `Open` at epoch 1 with B's deadline
/// (`open_until` = race time + 1 ms): `try_acquire` is rejected with exactly that
/// `retry_after`, and admits a probe once the clock reaches it. The writers that
/// could overwrite the deadline are A's claim and A's settle (each a CAS from the
/// exact word A read, which the publication replaced) and A's `start_mark`: when A
/// loaded the state word at epoch 0 and then, after B's whole trip and publication,
/// found the deadline word belonging to epoch 1 (no mark of epoch 0: "unmarked"), it
/// must re-check the state word, see epoch 1 and give up, not start epoch 0's mark
/// over the deadline (which would leave the Open epoch without a deadline: rejected
/// with no `retry_after`, forever). A's report is applied before the trip, or stale.
///
/// Catches: a claim, settle or `start_mark` that writes over the deadline word
/// without a CAS from the word read, or without the epoch re-check (plants N1–N3 in
/// `README.md`). Passes on c2642e8 (its claim had the same CAS and re-check).
#[test]
fn decay_claim_never_overwrites_an_open_deadline() {
    let stats = Stats::unbounded("decay::decay_claim_never_overwrites_an_open_deadline");
    let a_first = Witness::new("A's light failure applied before B's trip");
    let a_applied_b_inside =
        Witness::new("A applied, and B's whole trip and publication ended before A's report did");
    let a_stale = Witness::new("A stale");
    let a_after_publication =
        Witness::new("A read its clock after B's whole trip and publication (and gave up)");
    let ws = [
        &a_first,
        &a_applied_b_inside,
        &a_stale,
        &a_after_publication,
    ]
    .map(Witness::clone);
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
        clock.advance(ticks(5));
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
        let a_done = turns.tick();
        let a_reads = ticking.readings_by(thread::current().id());
        let (rb, b_done) = b.join().unwrap();

        let rb = rb.expect("A's light failure never trips, so B is admitted in Closed");
        let trip = rb.transition().expect("B's heavy failure trips");
        assert_eq!(
            (trip.from, trip.to, trip.epoch),
            (State::Closed, State::Open, 1)
        );
        match ra {
            Recorded::Applied { transition: None } => {
                ws[0].saw();
                if b_done < a_done {
                    ws[1].saw();
                }
            }
            Recorded::Stale => {
                ws[2].saw();
                // A's one clock reading is its report's (a stale report that saw
                // the trip at first sight reads no clock).
                if a_reads.first().is_some_and(|&at| at > b_done) {
                    ws[3].saw();
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
    for w in [a_first, a_applied_b_inside, a_stale, a_after_publication] {
        w.assert_seen();
    }
}

/// Model 3. Closed epoch 0 after a failure at tick 0 (mark settled at 0), and 2
/// quiet ticks: A (the model thread) records a failure on its permit of epoch 0 (it
/// claims [0, 2]); B resets (Closed epoch 1, full health; the reset writes epoch 1's
/// first mark, at tick 2) and records a failure in epoch 1 (at its mark: no claim).
///
/// A's report is applied before the reset, or stale; either way it must not move
/// epoch 1's mark: one half-life after the race, epoch 1's health has decayed by
/// exactly one half-life from B's failure (the sequential reference). A's claim is
/// a CAS from an epoch-0 word, which the reset's mark replaced; if A loaded the
/// state word at epoch 0 and then found epoch 1's mark (unmarked, for epoch 0), its
/// `start_mark` must re-check the state word and give up: written over epoch 1's
/// mark, it would leave epoch 1 with no mark of its own, and no decay. (If A's claim
/// lands between the reset's load of the word and its `start_mark`, the reset's CAS
/// fails; B's failure then finds no mark of epoch 1 and starts it at the same tick.)
///
/// Catches: a stale `start_mark` without the epoch re-check, a claim, settle or
/// `start_mark` without a CAS (plants N1–N3, N13 in `README.md`). Passes on c2642e8
/// (same CAS and re-check).
#[test]
fn decay_stale_reporter_cannot_move_a_newer_mark() {
    let reference: Seen = sequential(|| {
        let clock = ManualClock::new();
        let breaker = decaying(&clock, 0.01).build().unwrap();
        report(&breaker, Verdict::failure());
        clock.advance(ticks(2));
        let t = breaker.reset().expect("degraded -> reset");
        assert_eq!((t.to, t.epoch), (State::Closed, 1));
        report(&breaker, Verdict::failure());
        seen(&breaker, &clock)
    });
    assert!(reference.1.health > reference.0.health, "decays");
    let stats = Stats::unbounded("decay::decay_stale_reporter_cannot_move_a_newer_mark");
    let applied = Witness::new("A applied before the reset");
    let stale = Witness::new("A stale");
    let after_new_mark = Witness::new("A read its clock after B's reset and epoch-1 failure");
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
        clock.advance(ticks(2));
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
        let got = seen(&breaker, &clock);
        assert_eq!(got.0, reference.0, "B's epoch 1 after its failure");
        assert_eq!(
            got.1, reference.1,
            "epoch 1 decays from its own mark (a stale report must not move it)"
        );
    }));
    stats.report();
    applied.assert_seen();
    stale.assert_seen();
    after_new_mark.assert_seen();
}

/// Model 4's breaker: two consecutive failures trip it (health 0.5 after two, with
/// `min_samples` 2), half-life 64 ms, no grading.
fn consecutive(clock: &ManualClock) -> BreakerBuilder {
    builder(clock)
        .trip_after_consecutive_failures(2)
        .half_life(MIN_HALF_LIFE)
        .shed_below(0.0)
}

/// Model 4's sequential histories: a failure at tick 0, [`QUIET`], then `first` and
/// `second` at one instant.
fn quiet_history(first: Verdict, second: Verdict) -> Seen {
    let clock = ManualClock::new();
    let breaker = consecutive(&clock).build().unwrap();
    report(&breaker, Verdict::failure());
    clock.advance(QUIET);
    report_on_time(&breaker, first);
    report_on_time(&breaker, second);
    seen(&breaker, &clock)
}

/// Model 4: the review's reproduction (issue 17 item 1). `trip_after_consecutive_failures(2)`,
/// one failure at tick 0, then 10 s of quiet (156 half-lives: time has forgotten
/// the failure); then, at one instant, A (the model thread) records a success on
/// time (`record_timed`: a report that reads the clock, as the guard's sampled
/// attempts do) and B a failure. Sequentially the quiet time is applied first, whatever the order,
/// and B's failure is the first of a new spell: the breaker stays Closed ("A then
/// B": full health, then one failure; "B then A": one failure, then a success).
///
/// Concurrently: never a transition (no listener call, both reports applied with
/// none), Closed at epoch 0, and the outcome (snapshot, and one half-life later)
/// one of those two histories.
///
/// Catches: the bug 9e4208e fixed. Before it, A could claim the quiet interval
/// (move the mark) and be preempted before its state CAS; B then claimed 0 ticks
/// and its failure landed on the word that still held the old failure: two
/// failures, health below the threshold, and the breaker opened. On c2642e8 this
/// model fails at iteration 21 (B's report trips). Also an apply CAS on a word other
/// than the one the mark was read with (plant N11 in `README.md`).
#[test]
fn decay_quiet_time_lands_before_racing_verdicts() {
    let (a_then_b, b_then_a, trips_without_quiet) = sequential(|| {
        // The threshold bites: without the quiet time, the second failure trips.
        let clock = ManualClock::new();
        let breaker = consecutive(&clock).build().unwrap();
        report(&breaker, Verdict::failure());
        let second = breaker.try_acquire().unwrap().record(Verdict::failure());
        (
            quiet_history(Verdict::Success, Verdict::failure()),
            quiet_history(Verdict::failure(), Verdict::Success),
            second.transition().is_some(),
        )
    });
    assert!(trips_without_quiet, "two failures at one instant trip");
    let expected = labelled(vec![("A then B", a_then_b), ("B then A", b_then_a)]);
    assert_eq!(expected.len(), 2, "the order shows: {expected:#?}");

    let stats = Stats::unbounded("decay::decay_quiet_time_lands_before_racing_verdicts");
    let outcomes = witnesses(&expected);
    let schedules = Schedules::new();
    let (seen_outcome, seen_schedule) = (outcomes.clone(), schedules.clone());
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let turns = Turns::new();
        let ticking = TickingClock::new(&clock, &turns);
        let log = TransitionLog::new();
        let breaker = Arc::new(
            TransitionLog::listen(&log, consecutive(&clock))
                .clock(ticking.clone())
                .build()
                .unwrap(),
        );
        report(&breaker, Verdict::failure());
        clock.advance(QUIET);
        let a = breaker.try_acquire().expect("closed");
        ticking.forget();
        let b = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || {
                let r = breaker
                    .try_acquire()
                    .expect("closed")
                    .record(Verdict::failure());
                (r, thread::current().id(), turns.tick())
            })
        };
        let ra = a.record_timed(Verdict::Success, Duration::ZERO);
        let a_done = turns.tick();
        let (rb, b_id, b_done) = b.join().unwrap();
        assert_eq!(
            rb,
            Recorded::Applied { transition: None },
            "B's failure after {QUIET:?} of quiet must not trip"
        );
        assert_eq!(ra, Recorded::Applied { transition: None }, "A's success");
        assert_eq!(log.total(), 0, "no transition");
        let got = seen(&breaker, &clock);
        assert_eq!((got.0.state, got.0.epoch), (State::Closed, 0), "{got:?}");
        let Some(i) = expected.iter().position(|(_, o)| *o == got) else {
            panic!("no sequential history gives {got:#?}; expected one of {expected:#?}");
        };
        seen_outcome[i].saw();
        seen_schedule.saw(schedule(
            &ticking,
            (thread::current().id(), a_done),
            (b_id, b_done),
        ));
        nothing_left_to_claim(&breaker, got.1);
    }));
    stats.report();
    for w in &outcomes {
        w.assert_seen();
    }
    schedules.assert_seen();
}

/// Model 5's breaker: as [`decaying`], but `alpha` 0.3. (With `alpha` 0.5 a success
/// halves the gap to full, exactly as a half-life of decay does, and a success
/// applied a half-life too early would look like one applied in time.)
fn helped(clock: &ManualClock) -> BreakerBuilder {
    decaying(clock, 0.01).health(0.3, 0.01, 1)
}

/// Model 5's sequential history: a failure at tick 0, then each report at its tick
/// (the clock set there first), then the clock at tick `end` for the snapshots.
fn timed_history(plan: &[(u32, Verdict)], end: u32) -> Seen {
    let clock = ManualClock::new();
    let breaker = helped(&clock).build().unwrap();
    report(&breaker, Verdict::failure());
    for &(at, verdict) in plan {
        clock.set(ticks(at));
        report_on_time(&breaker, verdict);
    }
    clock.set(ticks(end));
    seen(&breaker, &clock)
}

/// Model 5: helping. On [`helped`]'s breaker (`alpha` 0.3), after a failure at
/// tick 0 the clock stands at tick 128 (two half-lives). A (the model thread) records a success on time (`record_timed`) and reads tick 128; B records
/// a failure, but its clock reading is 64 ticks behind A's (it read tick 64, as if
/// it had sampled the clock a half-life earlier and been preempted since). (A
/// failure scales health and a success or the decay scale the gap to full, so the
/// order of B's failure against A's success and against the second half-life
/// shows.)
///
/// A claims [0, 128] (or [64, 128] after B's claim of [0, 64] was applied), and may
/// stall before applying its claim; B, finding a claimed interval that ends after
/// its reading, applies it, with its own failure after it, and A's success then
/// lands at the new mark; or B claims first and A applies B's interval (alone, as
/// it ends before A's reading) and goes on. The claimed intervals are applied
/// exactly once (not twice, not left pending), both verdicts land, each as of its
/// reporter's clock or later, and the mark ends at tick 128, settled or pending and
/// absorbed. So the outcome is one of these sequential histories (intervals are whole
/// half-lives, so a split at tick 64 decays as the whole interval):
///
/// - "A at 128, then B": A applied its own claim, its verdict first (witness);
/// - "B at 128, then A": B applied A's claimed interval, with its failure after it
///   (B's verdict lands after its clock; a witness: nobody else can put B's verdict
///   right after an interval that ends at A's reading);
/// - "B at 64, then A at 128": B's verdict landed at its own reading (B applied its
///   own claim, or A applied it and B landed at the mark it left).
///
/// One half-life later the snapshot still matches (the mark is at 128), and a report
/// at one instant claims nothing more.
///
/// Catches: the bug 9e4208e fixed (on c2642e8 it fails at iteration 5: B's failure,
/// with B's claim finding the mark moved past its reading, lands on the undecayed
/// word, before A's interval); a helper that puts its verdict after an interval that
/// ended before its reading (plant N4), a claim or settle without a CAS (N1, N2), an
/// apply CAS on a word other than the one the mark was read with (N11; plants in
/// `README.md`).
#[test]
fn decay_claimed_interval_is_applied_once_whoever_applies_it() {
    const AT: u32 = 2 * HALF_LIFE;
    const B_BEHIND: u32 = HALF_LIFE;
    let a_v = Verdict::Success;
    let b_v = Verdict::failure();
    let (histories, splits, never, twice, back_dated) = sequential(move || {
        let histories = vec![
            (
                "A at 128 (applied its own claim), then B",
                timed_history(&[(AT, a_v), (AT, b_v)], AT),
            ),
            (
                "B at 128 (applied A's claimed interval), then A",
                timed_history(&[(AT, b_v), (AT, a_v)], AT),
            ),
            (
                "B at 64 (its own reading), then A at 128",
                timed_history(&[(AT - B_BEHIND, b_v), (AT, a_v)], AT),
            ),
        ];
        // A claim that splits the interval at B's reading decays as the whole one.
        let splits = [
            timed_history(
                &[(AT - B_BEHIND, Verdict::Ignored), (AT, a_v), (AT, b_v)],
                AT,
            ),
            timed_history(
                &[(AT - B_BEHIND, Verdict::Ignored), (AT, b_v), (AT, a_v)],
                AT,
            ),
        ];
        // The interval applied not at all, or twice, shows; so does A's success
        // back-dated to B's reading, right after B's interval and before B's
        // failure, as a helper that put its verdict after an interval that ended
        // before its reading would leave it. (After B's failure it would not show:
        // a success and the decay both scale the gap to full, so they commute.)
        let never = timed_history(&[(0, a_v), (0, b_v)], 0).0;
        let twice = timed_history(&[(2 * AT, a_v), (2 * AT, b_v)], 2 * AT).0;
        let back_dated = timed_history(&[(AT - B_BEHIND, a_v), (AT - B_BEHIND, b_v)], AT);
        (histories, splits, never, twice, back_dated)
    });
    assert!(
        histories.iter().all(|(_, h)| *h != back_dated),
        "A's verdict back-dated must show: {back_dated:?}"
    );
    assert_eq!(
        splits[0], histories[0].1,
        "a split whole half-life is exact"
    );
    assert_eq!(
        splits[1], histories[1].1,
        "a split whole half-life is exact"
    );
    for (label, (now, _)) in &histories {
        assert_ne!(never.health, now.health, "{label}: no decay must show");
        assert_ne!(
            twice.health, now.health,
            "{label}: a double decay must show"
        );
    }
    let expected = labelled(histories);
    assert_eq!(expected.len(), 3, "every history shows: {expected:#?}");

    let stats =
        Stats::unbounded("decay::decay_claimed_interval_is_applied_once_whoever_applies_it");
    let outcomes = witnesses(&expected);
    let seen_outcome = outcomes.clone();
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let turns = Turns::new();
        let ticking = TickingClock::new(&clock, &turns);
        let breaker = Arc::new(helped(&clock).clock(ticking.clone()).build().unwrap());
        report(&breaker, Verdict::failure());
        clock.advance(ticks(AT));
        ticking.forget();
        let run = move |breaker: &Breaker, ticking: &TickingClock, who: char| {
            let permit = breaker.try_acquire().expect("closed");
            if who == 'B' {
                ticking.lag_this_thread(ticks(B_BEHIND));
                permit.record(b_v)
            } else {
                permit.record_timed(a_v, Duration::ZERO)
            }
        };
        let b = {
            let (breaker, ticking) = (breaker.clone(), ticking.clone());
            thread::spawn(move || run(&breaker, &ticking, 'B'))
        };
        let ra = run(&breaker, &ticking, 'A');
        let rb = b.join().unwrap();
        assert_eq!(ra, Recorded::Applied { transition: None }, "A's success");
        assert_eq!(rb, Recorded::Applied { transition: None }, "B's failure");
        assert_eq!(breaker.stale_reports(), 0);
        let got = seen(&breaker, &clock);
        let Some(i) = expected.iter().position(|(_, o)| *o == got) else {
            panic!(
                "no history with each claimed interval applied once, and each verdict as \
                 of its reporter's clock or later, gives {got:#?}; expected one of {expected:#?}"
            );
        };
        seen_outcome[i].saw();
        nothing_left_to_claim(&breaker, got.1);
    }));
    stats.report();
    for w in &outcomes {
        w.assert_seen();
    }
}

/// Model 4u: model 4 with A's success untimed (a plain `record`, which reads no
/// clock: docs/DESIGN.md §7, "When time is read"). After the quiet time, A's
/// success and B's failure race; A claims nothing, B claims the quiet interval.
/// The verdicts land in CAS order, and the success commutes with the quiet
/// time, so the outcome is one of two sequential histories: "A then B" (A's
/// success on the undecayed word, then the quiet time and B's failure, the
/// first of a new spell) or "B then A". Never a trip, nothing stale.
///
/// Catches: B's failure landing on the undecayed word (it would trip), a
/// success that is lost or applied twice (the outcomes differ).
#[test]
fn decay_untimed_success_races_a_failure_after_quiet_time() {
    let history = |first: Verdict, second: Verdict| {
        let clock = ManualClock::new();
        let breaker = consecutive(&clock).build().unwrap();
        report(&breaker, Verdict::failure());
        clock.advance(QUIET);
        report(&breaker, first);
        report(&breaker, second);
        seen(&breaker, &clock)
    };
    let (a_then_b, b_then_a) = sequential(move || {
        (
            history(Verdict::Success, Verdict::failure()),
            history(Verdict::failure(), Verdict::Success),
        )
    });
    let expected = labelled(vec![("A then B", a_then_b), ("B then A", b_then_a)]);
    assert_eq!(expected.len(), 2, "the order shows: {expected:#?}");

    let stats = Stats::unbounded("decay::decay_untimed_success_races_a_failure_after_quiet_time");
    let outcomes = witnesses(&expected);
    let seen_outcome = outcomes.clone();
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let log = TransitionLog::new();
        let breaker = Arc::new(
            TransitionLog::listen(&log, consecutive(&clock))
                .build()
                .unwrap(),
        );
        report(&breaker, Verdict::failure());
        clock.advance(QUIET);
        let a = breaker.try_acquire().expect("closed");
        let b = {
            let breaker = breaker.clone();
            thread::spawn(move || {
                breaker
                    .try_acquire()
                    .expect("closed")
                    .record(Verdict::failure())
            })
        };
        let ra = a.record(Verdict::Success);
        let rb = b.join().unwrap();
        assert_eq!(ra, Recorded::Applied { transition: None }, "A's success");
        assert_eq!(
            rb,
            Recorded::Applied { transition: None },
            "B's failure must not trip"
        );
        assert_eq!(log.total(), 0, "no transition");
        assert_eq!(breaker.stale_reports(), 0);
        let got = seen(&breaker, &clock);
        let Some(i) = expected.iter().position(|(_, o)| *o == got) else {
            panic!("no sequential history gives {got:#?}; expected one of {expected:#?}");
        };
        seen_outcome[i].saw();
        nothing_left_to_claim(&breaker, got.1);
    }));
    stats.report();
    for w in &outcomes {
        w.assert_seen();
    }
}

/// Model 5u: model 5 with A's success untimed. B's failure reads tick 64 (half a
/// history behind the clock) and claims [0, 64]; A claims nothing. The verdicts
/// land in CAS order, B's as of its reading: "A, then B at 64" or "B at 64,
/// then A"; the rest of the interval, to tick 128, is applied by the first
/// report that reads the time after the race (the snapshots see it at once).
///
/// Catches: B's interval applied twice or not at all, B's failure put before
/// the interval it claimed, A's success lost (each gives another outcome).
#[test]
fn decay_untimed_success_lands_in_cas_order_around_a_claim() {
    const AT: u32 = 2 * HALF_LIFE;
    const B_AT: u32 = HALF_LIFE;
    let history = |a_first: bool| {
        let clock = ManualClock::new();
        let breaker = helped(&clock).build().unwrap();
        report(&breaker, Verdict::failure());
        if a_first {
            report(&breaker, Verdict::Success);
        }
        clock.set(ticks(B_AT));
        report(&breaker, Verdict::failure());
        if !a_first {
            report(&breaker, Verdict::Success);
        }
        clock.set(ticks(AT));
        seen(&breaker, &clock)
    };
    let (a_then_b, b_then_a) = sequential(move || (history(true), history(false)));
    let expected = labelled(vec![
        ("A, then B at 64", a_then_b),
        ("B at 64, then A", b_then_a),
    ]);
    assert_eq!(expected.len(), 2, "the order shows: {expected:#?}");

    let stats = Stats::unbounded("decay::decay_untimed_success_lands_in_cas_order_around_a_claim");
    let outcomes = witnesses(&expected);
    let seen_outcome = outcomes.clone();
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let turns = Turns::new();
        let ticking = TickingClock::new(&clock, &turns);
        let breaker = Arc::new(helped(&clock).clock(ticking.clone()).build().unwrap());
        report(&breaker, Verdict::failure());
        clock.advance(ticks(AT));
        ticking.forget();
        let b = {
            let (breaker, ticking) = (breaker.clone(), ticking.clone());
            thread::spawn(move || {
                let permit = breaker.try_acquire().expect("closed");
                ticking.lag_this_thread(ticks(AT - B_AT));
                permit.record(Verdict::failure())
            })
        };
        let ra = breaker
            .try_acquire()
            .expect("closed")
            .record(Verdict::Success);
        let rb = b.join().unwrap();
        assert_eq!(ra, Recorded::Applied { transition: None }, "A's success");
        assert_eq!(rb, Recorded::Applied { transition: None }, "B's failure");
        assert_eq!(breaker.stale_reports(), 0);
        let got = seen(&breaker, &clock);
        let Some(i) = expected.iter().position(|(_, o)| *o == got) else {
            panic!("no history in CAS order gives {got:#?}; expected one of {expected:#?}");
        };
        seen_outcome[i].saw();
        nothing_left_to_claim(&breaker, got.1);
    }));
    stats.report();
    for w in &outcomes {
        w.assert_seen();
    }
}

/// Model 6. Forced open at epoch 1 (whose deadline word is still epoch 0's mark),
/// clock at tick 5. B resets: Closed at epoch 2, full health, and then (in
/// `after_update_at`) writes epoch 2's first mark: it loads the deadline word,
/// finds another epoch's, and calls `start_mark`, which re-checks the state epoch
/// before its CAS. A (the model thread) asks for a permit: turned away (forced
/// open), or admitted in Closed epoch 2, where its failure trips the breaker
/// (`trip_after_consecutive_failures(1)`) into Open at epoch 3 and A publishes the
/// deadline. A's report itself starts epoch 2's mark if it finds none.
///
/// If A was admitted, the breaker ends Open at epoch 3 with A's deadline (and admits
/// a probe after it), whenever B's mark write came: if B loaded the deadline word
/// after A's publication, it finds epoch 3's deadline (another epoch's word), and
/// its `start_mark` must see epoch 3 in the state word and give up; its `Acquire`
/// load of the deadline word is what makes that re-check see the trip.
///
/// Catches: a transition's `start_mark` that stores instead of a CAS from the word
/// it loaded (plant N13 in `README.md`: A's whole trip and publication come between
/// B's load and B's write). Passes on c2642e8, which wrote no mark at transitions.
///
/// Not reached here: B loading the deadline word only *after* A's publication.
/// That load directly follows B's state CAS, with no choice point between them, and
/// it is a pure load, so loom never runs A's publication before it (the DPOR limit
/// in `README.md`); without the re-check (plant N3), or with that load `Relaxed`
/// (N12), this model passes. The three-thread `deadline::newest_open_deadline_wins_three_threads`
/// reaches that order (a third thread's operations come in between) and catches
/// both.
#[test]
fn decay_new_epoch_mark_never_overwrites_a_newer_open_deadline() {
    let stats =
        Stats::unbounded("decay::decay_new_epoch_mark_never_overwrites_a_newer_open_deadline");
    let turned_away = Witness::new("A turned away (still forced open)");
    let tripped = Witness::new("A admitted in epoch 2, and tripped it");
    let inside = Witness::new("A's whole trip and publication ended before B's reset returned");
    let ws = [&turned_away, &tripped, &inside].map(Witness::clone);
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let turns = Turns::new();
        let ticking = TickingClock::new(&clock, &turns);
        let breaker = Arc::new(
            builder(&clock)
                .trip_after_consecutive_failures(1)
                .half_life(MIN_HALF_LIFE)
                .shed_below(0.0)
                .clock(ticking.clone())
                .build()
                .unwrap(),
        );
        let t = breaker.force_open().expect("closed -> forced open");
        assert_eq!(t.epoch, 1);
        clock.advance(ticks(5));
        let race_time = clock.now();
        let b = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || {
                turns.tick();
                let t = breaker.reset().expect("forced open -> closed");
                assert_eq!(
                    (t.from, t.to, t.epoch),
                    (State::ForcedOpen, State::Closed, 2)
                );
                turns.tick()
            })
        };
        // A tick first: in ForcedOpen the admission is a pure load (see `Turns`).
        turns.tick();
        let ra = breaker
            .try_acquire()
            .map(|permit| (permit.epoch(), permit.record(Verdict::failure())));
        let a_done = turns.tick();
        let b_done = b.join().unwrap();
        let s = breaker.snapshot();
        match ra {
            Err(Rejected::ForcedOpen) => {
                ws[0].saw();
                assert_eq!((s.state, s.epoch), (State::Closed, 2), "{s:?}");
                return;
            }
            Ok((2, r)) => {
                let t: Transition = r.transition().expect("one failure trips");
                assert_eq!((t.from, t.to, t.epoch), (State::Closed, State::Open, 3));
                ws[1].saw();
                if a_done < b_done {
                    ws[2].saw();
                }
            }
            other => panic!("A: turned away, or admitted in epoch 2: {other:?}"),
        }
        let deadline = deadline_after(race_time, OPEN_FOR);
        assert_eq!((s.state, s.epoch), (State::Open, 3), "{s:?}");
        assert_eq!(
            s.open_until,
            Some(deadline),
            "the Open epoch lost its deadline to the reset's mark: {s:?}"
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
        assert_eq!(probe.epoch(), 4);
    }));
    stats.report();
    turned_away.assert_seen();
    tripped.assert_seen();
    inside.assert_seen();
}

/// What model 7's and model 8's races leave: A's result, B's transition (if any),
/// and what the snapshots show.
type OperatorOutcome = (Recorded, Option<(State, State, u32)>, Seen);

fn moved(t: Option<Transition>) -> Option<(State, State, u32)> {
    t.map(|t| (t.from, t.to, t.epoch))
}

/// Model 7. After a failure at tick 0 and one half-life of quiet, A (the model
/// thread) records a failure on its permit of Closed epoch 0 while B calls
/// `disable()`, which carries the health decayed to its reading (tick 64) into
/// Disabled epoch 1 and writes epoch 1's first mark at that tick.
///
/// The outcome is one of the sequential orders: "A, then disable" (A's failure
/// after the decayed interval, carried over) or "disable, then A" (A stale); and
/// one half-life later epoch 1 has decayed by one half-life from its mark (the
/// epoch was marked at tick 64: a Disabled epoch left unmarked would keep its
/// carried health forever, until a report started a mark at its own, later, tick).
///
/// Catches: `disable` carrying the stored health rather than the decayed one, and no
/// mark for the Disabled epoch (bug 4 of issue 17: c2642e8 fails its reference
/// check, "the Disabled epoch decays"); no first mark at transitions (plant N7 in
/// `README.md`, the same check).
///
/// **Failed on 9e4208e** (a `src/` bug, fixed since; `README.md`, "`src/` bugs
/// these models found"): `after_update_at` loaded the deadline word, and its
/// `start_mark` CASes from that word once. When A's settle of its absorbed claim
/// (`settle_mark`, pending -> settled, both epoch 0) or A's claim comes between
/// that load and that CAS, the CAS fails and nobody retries: Disabled epoch 1 is
/// left with no mark, and its carried health does not decay (one half-life later
/// the snapshot shows the same health).
#[test]
fn decay_disable_vs_a_report_below_full_health() {
    let histories: Vec<(&str, OperatorOutcome)> = sequential(|| {
        let run = |a_first: bool| -> OperatorOutcome {
            let clock = ManualClock::new();
            let breaker = decaying(&clock, 0.01).build().unwrap();
            report(&breaker, Verdict::failure());
            clock.advance(ticks(HALF_LIFE));
            let permit = breaker.try_acquire().unwrap();
            let (ra, t) = if a_first {
                let ra = permit.record(Verdict::failure());
                (ra, breaker.disable())
            } else {
                let t = breaker.disable();
                (permit.record(Verdict::failure()), t)
            };
            (ra, moved(t), seen(&breaker, &clock))
        };
        vec![
            ("A, then disable", run(true)),
            ("disable, then A (stale)", run(false)),
        ]
    });
    for (label, (_, _, (now, later))) in &histories {
        assert_eq!(now.state, State::Disabled, "{label}");
        assert!(
            later.health > now.health,
            "{label}: the Disabled epoch decays"
        );
    }
    let expected = labelled(histories);
    assert_eq!(expected.len(), 2, "{expected:#?}");

    let stats = Stats::unbounded("decay::decay_disable_vs_a_report_below_full_health");
    let outcomes = witnesses(&expected);
    let schedules = Schedules::new();
    let (seen_outcome, seen_schedule) = (outcomes.clone(), schedules.clone());
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
        clock.advance(ticks(HALF_LIFE));
        let a = breaker.try_acquire().expect("closed");
        ticking.forget();
        let b = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || {
                let t = breaker.disable();
                (t, thread::current().id(), turns.tick())
            })
        };
        let ra = a.record(Verdict::failure());
        let a_done = turns.tick();
        let (t, b_id, b_done) = b.join().unwrap();
        let got = (ra, moved(t), seen(&breaker, &clock));
        let Some(i) = expected.iter().position(|(_, o)| *o == got) else {
            panic!("no sequential order gives {got:#?}; expected one of {expected:#?}");
        };
        seen_outcome[i].saw();
        seen_schedule.saw(schedule(
            &ticking,
            (thread::current().id(), a_done),
            (b_id, b_done),
        ));
        nothing_left_to_claim(&breaker, got.2.1);
    }));
    stats.report();
    for w in &outcomes {
        w.assert_seen();
    }
    schedules.assert_seen();
}

/// Model 8. After a failure at tick 0 and 10 s of quiet, time alone has healed the
/// breaker (its decayed health is full, though the state word still holds the
/// failure). A (the model thread) records a failure on its permit of Closed epoch 0
/// while B calls `reset()`.
///
/// Sequentially, `reset()` before A's failure is a no-op (no new epoch: A's permit
/// stays valid and its failure is applied), and after it a transition to a fresh
/// Closed epoch 1. So concurrently A is never stale, and the outcome is one of those
/// two orders: `reset()` reads A's claimed, not yet applied, interval as decay too,
/// and a decision on a word A has since changed fails its CAS and is made again.
///
/// Catches: `reset()` comparing the stored word rather than the decayed one (bug 5
/// of issue 17: c2642e8 fails its reference check, "a time-healed breaker is not
/// reset"; plant N9 the same), a reset that reads a claimed interval not yet
/// applied as no decay (N10: the reset bumps the epoch and A is stale; plants in
/// `README.md`).
#[test]
fn decay_reset_of_a_time_healed_breaker_keeps_permits_valid() {
    let histories: Vec<(&str, OperatorOutcome)> = sequential(|| {
        let run = |a_first: bool| -> OperatorOutcome {
            let clock = ManualClock::new();
            let breaker = decaying(&clock, 0.01).build().unwrap();
            report(&breaker, Verdict::failure());
            clock.advance(QUIET);
            assert_eq!(breaker.snapshot().health, Some(1.0), "time-healed");
            let permit = breaker.try_acquire().unwrap();
            let (ra, t) = if a_first {
                let ra = permit.record(Verdict::failure());
                (ra, breaker.reset())
            } else {
                let t = breaker.reset();
                (permit.record(Verdict::failure()), t)
            };
            (ra, moved(t), seen(&breaker, &clock))
        };
        vec![
            ("reset (a no-op), then A", run(false)),
            ("A, then reset", run(true)),
        ]
    });
    assert_eq!(histories[0].1.1, None, "a time-healed breaker is not reset");
    let expected = labelled(histories);
    assert_eq!(expected.len(), 2, "{expected:#?}");

    let stats = Stats::unbounded("decay::decay_reset_of_a_time_healed_breaker_keeps_permits_valid");
    let outcomes = witnesses(&expected);
    let schedules = Schedules::new();
    let (seen_outcome, seen_schedule) = (outcomes.clone(), schedules.clone());
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
        clock.advance(QUIET);
        let a = breaker.try_acquire().expect("closed");
        ticking.forget();
        let b = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || {
                let t = breaker.reset();
                (t, thread::current().id(), turns.tick())
            })
        };
        let ra = a.record(Verdict::failure());
        let a_done = turns.tick();
        let (t, b_id, b_done) = b.join().unwrap();
        assert!(
            !ra.is_stale(),
            "A's permit became stale: reset() moved the epoch of a time-healed breaker ({t:?})"
        );
        let got = (ra, moved(t), seen(&breaker, &clock));
        let Some(i) = expected.iter().position(|(_, o)| *o == got) else {
            panic!("no sequential order gives {got:#?}; expected one of {expected:#?}");
        };
        seen_outcome[i].saw();
        seen_schedule.saw(schedule(
            &ticking,
            (thread::current().id(), a_done),
            (b_id, b_done),
        ));
    }));
    stats.report();
    for w in &outcomes {
        w.assert_seen();
    }
    schedules.assert_seen();
}

/// Model 9. After a failure at tick 0 the clock stands at tick 128. B calls
/// `disable()` with a reading 64 ticks old (it read tick 64 and was preempted
/// before its CAS: it carries the health decayed to tick 64 and will mark Disabled
/// epoch 1 at 64); A (the model thread) asks for a permit and, if it is admitted in
/// the Disabled epoch, records a failure at tick 128.
///
/// Sequentially (disable at 64, then A's failure at 128) A's report claims [64,
/// 128] and applies that half-life before its failure. Concurrently the same, once
/// A's report is in epoch 1 at all: whether disable's mark came first or not.
///
/// **Failed on 9e4208e** (a `src/` bug, fixed since; `README.md`, "`src/` bugs
/// these models found"): when A's report came between B's state CAS and B's mark
/// write, it finds no mark of epoch 1 and starts one at its own reading (128), over
/// which B's `after_update_at` then writes nothing (the word already belongs to
/// epoch 1): the half-life between disable's tick and A's is never applied (health
/// 0.375 instead of 0.4375).
#[test]
fn decay_disable_mark_vs_a_later_report_in_the_new_epoch() {
    const AT: u32 = 2 * HALF_LIFE;
    const B_BEHIND: u32 = HALF_LIFE;
    let reference: Seen = sequential(|| {
        let clock = ManualClock::new();
        let breaker = decaying(&clock, 0.01).build().unwrap();
        report(&breaker, Verdict::failure());
        clock.set(ticks(AT - B_BEHIND));
        let t = breaker.disable().expect("closed -> disabled");
        assert_eq!((t.to, t.epoch), (State::Disabled, 1));
        clock.set(ticks(AT));
        report(&breaker, Verdict::failure());
        seen(&breaker, &clock)
    });
    let stats = Stats::unbounded("decay::decay_disable_mark_vs_a_later_report_in_the_new_epoch");
    let turned = Witness::new("A admitted in epoch 0 (a no-op cancel)");
    let in_disabled = Witness::new("A admitted in Disabled epoch 1");
    let ws = [&turned, &in_disabled].map(Witness::clone);
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
        clock.set(ticks(AT));
        let b = {
            let (breaker, ticking, turns) = (breaker.clone(), ticking.clone(), turns.clone());
            thread::spawn(move || {
                ticking.lag_this_thread(ticks(B_BEHIND));
                turns.tick();
                let t = breaker.disable().expect("closed -> disabled");
                assert_eq!((t.to, t.epoch), (State::Disabled, 1));
            })
        };
        // A tick first: in Closed the admission is a pure load (see `Turns`).
        turns.tick();
        let permit = breaker.try_acquire().expect("closed or disabled: admitted");
        let ra = (permit.epoch() == 1).then(|| permit.record(Verdict::failure()));
        b.join().unwrap();
        let Some(ra) = ra else {
            ws[0].saw();
            return;
        };
        ws[1].saw();
        assert_eq!(ra, Recorded::Applied { transition: None });
        assert_eq!(
            seen(&breaker, &clock),
            reference,
            "disable at tick 64, then A's failure at tick 128"
        );
    }));
    stats.report();
    turned.assert_seen();
    in_disabled.assert_seen();
}
