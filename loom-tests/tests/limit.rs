#![cfg(loom)]
//! The adaptive concurrency limit (`src/limit.rs`) fused into admission: a permit
//! admitted while the limit is engaged holds a slot and releases it exactly once,
//! however it ends (recorded, dropped, stale); admissions never exceed the limit; a
//! window that steers the limit racing admissions loses neither (the limit stays in
//! `[min, max]`); and the breaker's gate agrees with the limit once the races end.
//!
//! Every breaker's limit is engaged on the model thread before the race, through the
//! public API only (see [`engaged_breaker`]), and the engagement is checked there.

use fusebox::{Breaker, ManualClock, Rejected, State, Verdict};
use fusebox_loom_tests::{Held, Stats, Witness, builder};
use loom::sync::Arc;
use loom::thread;
use std::sync::Arc as StdArc;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::time::Duration;

/// The unloaded latency the setup teaches the limit.
const FAST: Duration = Duration::from_millis(10);
/// Twice the base: the step the setup watches (at least `ENGAGE_AT` = 1.75 × the
/// base, after an unqueued window); in model 2a, a queued window (under
/// `REBASE_RTT` of the engagement's latency).
const MID: Duration = Duration::from_millis(20);
/// The queued latency that engages it: twice the watched step (at least `RISING` =
/// 1.25 × it: still rising), 4 × the base.
const SLOW: Duration = Duration::from_millis(40);
/// The clock when the setup's window engages the limit (its grace, 1.5 × the
/// engagement's 40 ms, ends at 276 ms).
const ENGAGED_AT: Duration = Duration::from_millis(216);

/// One timed attempt on its own: admitted, the clock advanced by `after`, then
/// recorded with `record_timed(Success, rtt)` (a latency sample ending now).
fn timed(breaker: &Breaker, clock: &ManualClock, after: Duration, rtt: Duration) {
    let permit = breaker
        .try_acquire()
        .expect("one attempt at a time is always admitted");
    clock.advance(after);
    assert!(!permit.record_timed(Verdict::Success, rtt).is_stale());
}

/// Whether a latency the limit reports is `want` (the limit keeps latencies in
/// units of 1,024 ns, rounded down).
fn about(latency: Option<Duration>, want: Duration) -> bool {
    latency.is_some_and(|d| d <= want && d > want * 99 / 100)
}

/// A breaker with `adaptive_limit(true).limit_bounds(min, max)` whose limit is
/// engaged at 7 clamped to `[min, max]`, with no slot in use, an empty window, a
/// base of 10 ms, a last window of 40 ms and the clock at [`ENGAGED_AT`] (216 ms).
/// The models use bounds 1..1 and 3..4 (so the limit is 1 or 4); where an outcome
/// depends on the controller, a model compares with a sequential reference run on
/// a second breaker.
///
/// The rules (f1be4e1; `Limiter::sample`, `Limiter::close`): a window closes at 2
/// samples once they span twice the last window's mean (at once for the very first
/// window, whose span is 0), at 8 once they span the mean, at 255 whatever, the span
/// measured from the end of the window's first sample. The first base takes a full
/// window or two small ones (the first only records its mean); a base is young (the
/// plain average of its windows under 1.75 × it) for 7 windows, and nothing is
/// decided before its 3rd. Then a window of at least 4 samples at 1.75 × the base
/// or more, after an unqueued window, is watched; the next window engages if it
/// rose by 1.25 × or more (and is still at 1.75 × the base).
///
/// - 8 samples of 10 ms, one at a time, 20 ms apart (20, 40, …, 160 ms): windows of
///   2 close at 40 ms (its mean only recorded: no base yet), 80 ms (the base, 10 ms;
///   young 1), 120 ms and 160 ms (young 3: settled); no queue, disengaged;
/// - 4 samples of 20 ms, 8 ms apart (168, 176, 184, 192 ms): 3 span 16 ms < 2 × 10
///   ms, so the window closes at the 4th (24 ms), mean 2 × the base after an
///   unqueued window: watched, not engaged, and not averaged into the base;
/// - 8 samples of 40 ms, 3 ms apart (195, 198, …, 216 ms: attempts that overlapped):
///   7 span 18 ms < 20 ms, so the window closes at the 8th (21 ms ≥ the last mean),
///   mean 2 × the watched window's: rising, engaged. Throughput 8 × 7/8 in 21 ms =
///   333/s, so the limit is max(333/s × 10 ms × 1.25 = 4.2, half the 13 in flight
///   at 40 ms = 6.5) = 7, clamped (the engagement's reference: 40 ms, 13).
fn engaged_breaker(clock: &ManualClock, min: u32, max: u32) -> Breaker {
    let breaker = builder(clock)
        .adaptive_limit(true)
        .limit_bounds(min, max)
        .build()
        .unwrap();
    for i in 0..8 {
        timed(&breaker, clock, FAST * 2, FAST);
        let l = breaker.limit();
        assert!(!l.engaged && l.in_flight == 0, "sample {i}: {l:?}");
        assert_eq!(l.last_latency.is_some(), i >= 1, "sample {i}: {l:?}");
        assert_eq!(l.base_latency.is_some(), i >= 3, "sample {i}: {l:?}");
    }
    let l = breaker.limit();
    assert!(
        about(l.base_latency, FAST) && about(l.last_latency, FAST),
        "the base is 10 ms: {l:?}"
    );
    for i in 0..4 {
        timed(&breaker, clock, Duration::from_millis(8), MID);
        let l = breaker.limit();
        assert!(!l.engaged && l.in_flight == 0, "watched: sample {i}: {l:?}");
        assert_eq!(about(l.last_latency, MID), i == 3, "sample {i}: {l:?}");
    }
    assert!(about(breaker.limit().base_latency, FAST));
    for i in 0..8 {
        timed(&breaker, clock, Duration::from_millis(3), SLOW);
        let l = breaker.limit();
        assert_eq!(l.engaged, i == 7, "rising: sample {i}: {l:?}");
        assert_eq!(about(l.last_latency, SLOW), i == 7, "sample {i}: {l:?}");
    }
    let l = breaker.limit();
    assert!(l.engaged && l.in_flight == 0, "{l:?}");
    assert!((min..=max).contains(&l.limit), "outside [min, max]: {l:?}");
    assert_eq!(l.limit, 7.clamp(min, max), "{l:?}");
    assert!(about(l.base_latency, FAST), "{l:?}");
    assert_eq!(clock.now(), ENGAGED_AT);
    breaker
}

/// [`fusebox_loom_tests::exhaustive`] (no preemption bound) with room for the
/// setup's many atomic operations (each a loom branch point; the references of
/// models 2 and 3a run the setup twice): loom's default of 1,000 is too few.
fn exhaustive<F>(body: F)
where
    F: Fn() + Send + Sync + 'static,
{
    let mut model = loom::model::Builder::new();
    model.preemption_bound = None;
    model.max_branches = 10_000;
    model.check(body);
}

/// What one model thread's attempt came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Took {
    /// Admitted; whether its record was stale.
    Admitted { stale: bool },
    /// Refused: the limit was reached.
    Refused,
}

/// Acquire, note the permit as held (and the most held at once in `max_held`), then
/// end it: `record(Success)` if `record`, else drop it (a cancellation).
fn attempt(breaker: &Breaker, held: &Held, max_held: &StdAtomicUsize, record: bool) -> Took {
    match breaker.try_acquire() {
        Ok(permit) => {
            let now = held.enter();
            // A std atomic: a record of what the model saw, no choice point.
            max_held.fetch_max(now, StdOrdering::Relaxed);
            held.leave();
            let stale = if record {
                permit.record(Verdict::Success).is_stale()
            } else {
                drop(permit);
                false
            };
            Took::Admitted { stale }
        }
        Err(Rejected::LimitReached { retry_after }) => {
            assert!(retry_after.is_some_and(|d| d >= Duration::from_millis(1)));
            Took::Refused
        }
        Err(e) => panic!("unexpected rejection {e:?}"),
    }
}

/// After the race: no slot is held, and the limit `limit` still binds: a fresh
/// permit takes a slot, the next `limit - 1` do too, and one more is refused.
fn slots_all_free_and_cap_holds(breaker: &Breaker, limit: u32) {
    let l = breaker.limit();
    assert_eq!((l.engaged, l.limit, l.in_flight), (true, limit, 0), "{l:?}");
    let permits: Vec<_> = (0..limit)
        .map(|_| breaker.try_acquire().expect("a slot is free"))
        .collect();
    assert_eq!(breaker.limit().in_flight, limit);
    assert!(matches!(
        breaker.try_acquire(),
        Err(Rejected::LimitReached { .. })
    ));
    drop(permits);
    assert_eq!(breaker.limit().in_flight, 0);
}

/// Model 1: limit 1 (bounds 1..1), engaged. A acquires and records its permit, B
/// acquires and drops its: every admitted permit releases its slot exactly once
/// (none held at the end, and the cap of 1 still holds), and never two permits at
/// once (witnesses: one refused, both admitted one after the other).
#[test]
fn limit_slot_released_once_record_or_drop() {
    let stats = Stats::unbounded("limit::limit_slot_released_once_record_or_drop");
    let refused = Witness::new("one of A and B was refused at the limit");
    let both = Witness::new("both were admitted, one after the other");
    let (refused_in, both_in) = (refused.clone(), both.clone());
    exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let breaker = Arc::new(engaged_breaker(&clock, 1, 1));
        let held = Held::new();
        let max_held = StdArc::new(StdAtomicUsize::new(0));
        let spawn = |record: bool| {
            let (breaker, held, max_held) = (breaker.clone(), held.clone(), max_held.clone());
            thread::spawn(move || attempt(&breaker, &held, &max_held, record))
        };
        let a = spawn(true);
        let b = spawn(false);
        let (a, b) = (a.join().unwrap(), b.join().unwrap());

        assert!(
            max_held.load(StdOrdering::Relaxed) <= 1,
            "two permits held at once under a limit of 1"
        );
        match (a, b) {
            (Took::Admitted { stale: false }, Took::Admitted { .. }) => both_in.saw(),
            (Took::Refused, Took::Admitted { .. })
            | (Took::Admitted { stale: false }, Took::Refused) => refused_in.saw(),
            other => panic!("unexpected outcome {other:?}"),
        }
        slots_all_free_and_cap_holds(&breaker, 1);
    }));
    stats.report();
    refused.assert_seen();
    both.assert_seen();
}

/// Model 1b: limit 1, engaged. A acquires and records; B calls `disable()` (a new
/// epoch, which keeps the limit engaged: admissions in `Disabled` take slots too),
/// then acquires and drops: A's slot is released once whether its record is applied
/// or stale, and B's once; never two permits at once (witnesses: A stale, B refused
/// in the `Disabled` epoch).
#[test]
fn limit_slot_released_once_when_stale() {
    let stats = Stats::unbounded("limit::limit_slot_released_once_when_stale");
    let stale = Witness::new("A's record was stale (B's disable() came first)");
    let refused = Witness::new("B was refused in the Disabled epoch while A held the slot");
    let applied = Witness::new("A's record was applied");
    let (stale_in, refused_in, applied_in) = (stale.clone(), refused.clone(), applied.clone());
    exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let breaker = Arc::new(engaged_breaker(&clock, 1, 1));
        let held = Held::new();
        let max_held = StdArc::new(StdAtomicUsize::new(0));
        let a = {
            let (breaker, held, max_held) = (breaker.clone(), held.clone(), max_held.clone());
            thread::spawn(move || attempt(&breaker, &held, &max_held, true))
        };
        let b = {
            let (breaker, held, max_held) = (breaker.clone(), held.clone(), max_held.clone());
            thread::spawn(move || {
                let disabled = breaker.disable().is_some();
                (disabled, attempt(&breaker, &held, &max_held, false))
            })
        };
        let (a, (disabled, b)) = (a.join().unwrap(), b.join().unwrap());

        assert!(disabled, "B's disable() is a transition");
        assert!(max_held.load(StdOrdering::Relaxed) <= 1);
        match a {
            Took::Admitted { stale: true } => stale_in.saw(),
            Took::Admitted { stale: false } => applied_in.saw(),
            Took::Refused => assert!(matches!(b, Took::Admitted { .. })),
        }
        if b == Took::Refused {
            refused_in.saw();
        }
        assert_eq!(breaker.snapshot().state, State::Disabled);
        slots_all_free_and_cap_holds(&breaker, 1);
    }));
    stats.report();
    stale.assert_seen();
    refused.assert_seen();
    applied.assert_seen();
}

/// One calm window after the setup's engagement (bounds 3..4, so at 4): 10 ms
/// samples ending at 216 and 296 ms (the second spans 80 ms, twice the last mean of
/// 40 ms, and is past the grace, which ended at 276 ms). The controller steers the
/// limit from 4 to 3 (halfway toward the little throughput two samples in 80 ms
/// show) and counts one calm window (latency within the tolerance, no refusal). The
/// clock stays at 296 ms.
fn one_calm_window(breaker: &Breaker, clock: &ManualClock) {
    timed(breaker, clock, Duration::ZERO, FAST);
    timed(breaker, clock, SLOW * 2, FAST);
    let l = breaker.limit();
    assert!(
        l.engaged && l.in_flight == 0 && l.limit == 3 && about(l.last_latency, FAST),
        "one calm window: {l:?}"
    );
    assert_eq!(clock.now(), ENGAGED_AT + SLOW * 2);
}

/// Model 2's body: bounds 3..4, engaged (at 4), and, if `calm_first`, one calm
/// window already closed ([`one_calm_window`]: at 3). The window holds one sample of
/// `rtt` (B's first, ending now) and the clock is twice the last window's mean later
/// (80 ms, or 20 ms after a calm window). A acquires a permit, holds it and drops it
/// (slot CASes on the slot word); B makes one timed attempt of `rtt`, whose sample
/// closes the window (past the grace, spanning twice the last mean) and so steers
/// the limit (a CAS on the same word). Afterwards the limit word is exactly what a
/// sequential run leaves (the reference: the same steps on a second breaker, A's
/// then B's; A's admission cannot change the window's outcome, no refusal being
/// possible), within `[3, 4]`, and no slot is held: neither the admission nor the
/// window's change was lost (witness: A held its slot while B's window closed).
fn steer_while_admitting(name: &'static str, calm_first: bool, rtt: Duration) {
    let stats = Stats::unbounded(name);
    let overlapped = Witness::new("A held a slot while B's window closed");
    let overlapped_in = overlapped.clone();
    exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let prepared = |clock: &ManualClock| {
            let breaker = engaged_breaker(clock, 3, 4);
            let span = if calm_first {
                one_calm_window(&breaker, clock);
                FAST * 2
            } else {
                SLOW * 2
            };
            // B's first sample opens the window; B's attempt in the race ends
            // twice the last mean later and closes it.
            timed(&breaker, clock, Duration::ZERO, rtt);
            clock.advance(span);
            let l = breaker.limit();
            assert!(
                !about(l.last_latency, rtt),
                "the window is still open: {l:?}"
            );
            breaker
        };
        let expected = {
            let clock = ManualClock::new();
            let reference = prepared(&clock);
            drop(reference.try_acquire().unwrap());
            timed(&reference, &clock, Duration::ZERO, rtt);
            let r = reference.limit();
            assert!(
                about(r.last_latency, rtt) && (3..=4).contains(&r.limit),
                "reference: B's window closed: {r:?}"
            );
            r
        };
        let breaker = Arc::new(prepared(&clock));
        let held = Held::new();
        let max_held = StdArc::new(StdAtomicUsize::new(0));
        let a = {
            let (breaker, held, max_held) = (breaker.clone(), held.clone(), max_held.clone());
            thread::spawn(move || {
                let permit = breaker.try_acquire().expect("never more than 2 of 3");
                let n = held.enter();
                max_held.fetch_max(n, StdOrdering::Relaxed);
                // B's window closed while this permit held its slot.
                let l = breaker.limit();
                held.leave();
                drop(permit);
                (l.in_flight, about(l.last_latency, rtt))
            })
        };
        let b = {
            let (breaker, clock) = (breaker.clone(), clock.clone());
            thread::spawn(move || timed(&breaker, &clock, Duration::ZERO, rtt))
        };
        let (held_then, seen) = a.join().unwrap();
        b.join().unwrap();
        assert!(held_then >= 1, "A's permit holds a slot");
        if seen {
            overlapped_in.saw();
        }
        assert!(max_held.load(StdOrdering::Relaxed) <= 1);
        let l = breaker.limit();
        assert!((3..=4).contains(&l.limit), "outside [min, max]: {l:?}");
        assert_eq!(l, expected, "not the sequential outcome");
        if l.engaged {
            slots_all_free_and_cap_holds(&breaker, l.limit);
        } else {
            assert_eq!(l.in_flight, 0);
        }
    }));
    stats.report();
    overlapped.assert_seen();
}

/// Model 2a: after one calm window (limit 3, calm count 1), B's window of 20 ms
/// (twice the base, half the engagement's latency: queued, not slow). On f1be4e1
/// the controller holds the limit at 3 there (its load test has not decided): the
/// window's CAS changes only its calm count, back to 0. (Straight after the
/// engagement, with a calm count of 0 already, such a window changes nothing and
/// makes no CAS, so the model would race nothing.)
#[test]
fn limit_steered_by_a_queued_window_while_admitting() {
    steer_while_admitting(
        "limit::limit_steered_by_a_queued_window_while_admitting",
        true,
        MID,
    );
}

/// Model 2b: B's window of 10 ms (no queue) right after the engagement. On f1be4e1
/// it steers the limit from 4 to 3 (toward the little throughput two samples in 80
/// ms show) and counts one calm window (as [`one_calm_window`]).
#[test]
fn limit_steered_by_an_unqueued_window_while_admitting() {
    steer_while_admitting(
        "limit::limit_steered_by_an_unqueued_window_while_admitting",
        false,
        FAST,
    );
}

/// After the race: whatever the limit's state, the gate agrees with it: an engaged
/// limit makes a fresh permit take a slot, a disengaged one does not.
fn gate_agrees(breaker: &Breaker) -> bool {
    let l = breaker.limit();
    assert_eq!(l.in_flight, 0, "{l:?}");
    let permit = breaker.try_acquire().expect("a slot is free");
    let after = breaker.limit();
    assert_eq!(
        after.in_flight,
        u32::from(l.engaged),
        "the gate disagrees with the limit: {l:?} then {after:?}"
    );
    drop(permit);
    assert_eq!(breaker.limit().in_flight, 0);
    l.engaged
}

/// Model 3a: bounds 3..4, engaged, one calm window already counted
/// ([`one_calm_window`]: the limit at 3, its floor) and one 10 ms sample of the next
/// window (296 ms); the clock at 316 ms. B's timed attempt of 10 ms closes that
/// second calm window, which disengages the limit (on f1be4e1 as a limit at its
/// floor with latency under 1.75 × the base, before it would count as the second
/// calm window; checked on a sequential reference) and opens the gate, while A
/// acquires and records: every slot taken is released once (a permit admitted while
/// engaged keeps its slot across the disengagement), and afterwards the limit is
/// disengaged and a fresh permit takes no slot (witness: a slot held across the
/// disengagement).
#[test]
fn limit_disengages_while_admitting() {
    let stats = Stats::unbounded("limit::limit_disengages_while_admitting");
    let across = Witness::new("a slot was held across the disengagement");
    let across_in = across.clone();
    exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let prepared = |clock: &ManualClock| {
            let breaker = engaged_breaker(clock, 3, 4);
            one_calm_window(&breaker, clock);
            // B's first sample of the second calm window (296 ms); B's attempt in
            // the race ends 20 ms later (twice the last mean) and closes it.
            timed(&breaker, clock, Duration::ZERO, FAST);
            clock.advance(FAST * 2);
            breaker
        };
        {
            let clock = ManualClock::new();
            let reference = prepared(&clock);
            timed(&reference, &clock, Duration::ZERO, FAST);
            let r = reference.limit();
            assert!(
                !r.engaged,
                "reference: the second calm window disengages: {r:?}"
            );
        }
        let breaker = Arc::new(prepared(&clock));
        let a = {
            let breaker = breaker.clone();
            thread::spawn(move || {
                let permit = breaker.try_acquire().expect("never more than 2 of 4");
                let l = breaker.limit();
                assert!(!permit.record(Verdict::Success).is_stale());
                !l.engaged && l.in_flight > 0
            })
        };
        let b = {
            let (breaker, clock) = (breaker.clone(), clock.clone());
            thread::spawn(move || timed(&breaker, &clock, Duration::ZERO, FAST))
        };
        let held_across = a.join().unwrap();
        b.join().unwrap();
        if held_across {
            across_in.saw();
        }
        assert!(!gate_agrees(&breaker), "B's second calm window disengages");
    }));
    stats.report();
    across.assert_seen();
}

/// Model 3b: the gate after a disengagement racing an engagement. Bounds 3..4,
/// engaged; a window of seven 40 ms samples open (ending 218 to 230 ms); one permit
/// held (a slot), then `force_open()`, and the clock at 270 ms. A calls `reset()`
/// (`ForcedOpen` → `Closed`: the limit's fresh start resets the estimator, clears
/// the window and disengages, then sets the gate); B records the permit timed, 40
/// ms (stale: it releases its slot; its sample fills the window to 8, spanning 52
/// ms ≥ 40 ms, and the closer engages if it finds the limit disengaged, then sets
/// the gate). Engaged, the closer holds the limit (in the grace, which ends at 276
/// ms). On f1be4e1 the fresh start also resets the base's window count (`young`),
/// so a closer that reads the fresh start's estimator decides nothing: B engages
/// only if its close read the estimator before A's fresh start stored it (the last
/// window queued, the base settled) and the slot word after A disengaged it.
/// Afterwards no slot is held and the gate agrees with the limit (witnesses: ended
/// engaged, ended disengaged).
///
/// Without the fences in `Breaker::set_gate` this fails (at iteration 635 on
/// 996008f): A disengages, stores the open gate and re-reads the slot word; B
/// engages, stores the closed gate, re-reads (engaged) and returns; A's re-read
/// returns A's own disengaged word (`Relaxed`: nothing orders B's CAS before it)
/// and A's open-gate store is last in the gate's modification order (the two
/// stores are unordered): the limit is engaged behind an open gate, and a fresh
/// permit takes no slot.
#[test]
fn limit_gate_agrees_after_fresh_start_races_engagement() {
    let stats = Stats::unbounded("limit::limit_gate_agrees_after_fresh_start_races_engagement");
    let engaged = Witness::new("B's window engaged the limit after A's fresh start");
    let disengaged = Witness::new("the limit ended disengaged");
    let (engaged_in, disengaged_in) = (engaged.clone(), disengaged.clone());
    exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let breaker = StdArc::new(engaged_breaker(&clock, 3, 4));
        for _ in 0..7 {
            timed(&breaker, &clock, Duration::from_millis(2), SLOW);
        }
        let permit = breaker.try_acquire_owned().unwrap();
        let l = breaker.limit();
        assert!(l.engaged && l.in_flight == 1, "{l:?}");
        assert!(breaker.force_open().is_some());
        clock.advance(SLOW);
        let a = {
            let breaker = breaker.clone();
            thread::spawn(move || {
                let t = breaker.reset().expect("ForcedOpen -> Closed");
                assert_eq!(t.to, State::Closed);
            })
        };
        let b = thread::spawn(move || {
            assert!(permit.record_timed(Verdict::Success, SLOW).is_stale());
        });
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(breaker.snapshot().state, State::Closed);
        if gate_agrees(&breaker) {
            engaged_in.saw();
        } else {
            disengaged_in.saw();
        }
    }));
    stats.report();
    engaged.assert_seen();
    disengaged.assert_seen();
}
