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
/// A latency twice the base: a queue, but under `REBASE_RTT` of the engagement's.
const MID: Duration = Duration::from_millis(20);
/// The queued latency that engages it (4 × the base: at least `ENGAGE_AT` = 2).
const SLOW: Duration = Duration::from_millis(40);

/// One timed attempt on its own: admitted, the clock advanced by `after`, then
/// recorded with `record_timed(Success, rtt)` (a latency sample ending now).
fn timed(breaker: &Breaker, clock: &ManualClock, after: Duration, rtt: Duration) {
    let permit = breaker
        .try_acquire()
        .expect("one attempt at a time is always admitted");
    clock.advance(after);
    assert!(!permit.record_timed(Verdict::Success, rtt).is_stale());
}

/// A breaker with `adaptive_limit(true).limit_bounds(min, max)` whose limit is
/// engaged (at some limit in `[min, max]`, which the controller chooses), with no
/// slot in use, an empty window, and the clock at 96 ms (the engagement's instant;
/// its grace ends at 156 ms). The models use bounds 1..1 and 3..4, so the
/// controller's choice matters little; where the outcome depends on it, a model
/// compares with a sequential reference run on a second breaker.
///
/// The window rules (`Limiter::sample`): a window closes at 2 samples once they
/// span twice the last window's mean (at once for the very first window, whose span
/// is 0), at 8 once they span the mean, at 255 whatever; and (`Limiter::close`) only
/// a window of at least 8 samples engages, when its mean is at least twice the base.
///
/// - 8 samples of 10 ms, one at a time, each ending 10 ms after the last (10, 20,
///   …, 80 ms): windows close at 20 ms (2 samples: base 10 ms), 50 ms and 80 ms (3
///   samples each, spanning 20 ms ≥ 2 × 10 ms); no queue, disengaged;
/// - 8 samples of 40 ms ending 2 ms apart (82, 84, …, 96 ms: attempts that
///   overlapped): 7 span 12 ms < 2 × 10 ms, so the window closes at the 8th
///   (14 ms ≥ 10 ms), mean 40 ms = 4 × the base: a full window, engaged (the
///   engagement's reference: 40 ms, concurrency 500/s × 40 ms = 20).
fn engaged_breaker(clock: &ManualClock, min: u32, max: u32) -> Breaker {
    let breaker = builder(clock)
        .adaptive_limit(true)
        .limit_bounds(min, max)
        .build()
        .unwrap();
    for _ in 0..8 {
        timed(&breaker, clock, FAST, FAST);
    }
    let l = breaker.limit();
    assert!(!l.engaged, "no queue yet: {l:?}");
    assert_eq!(l.in_flight, 0);
    let base = l.base_latency.expect("a window closed");
    assert!(
        base <= FAST && base > FAST * 99 / 100,
        "the base is 10 ms (in 1,024 ns units): {l:?}"
    );
    for i in 0..8 {
        timed(&breaker, clock, Duration::from_millis(2), SLOW);
        let l = breaker.limit();
        assert_eq!(l.engaged, i == 7, "sample {i}: {l:?}");
    }
    let l = breaker.limit();
    assert!(l.engaged && l.in_flight == 0, "{l:?}");
    assert!((min..=max).contains(&l.limit), "{l:?}");
    assert!(l.last_latency.unwrap() > SLOW * 99 / 100, "{l:?}");
    assert_eq!(clock.now(), Duration::from_millis(96));
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

/// Model 2's body: bounds 3..4, engaged (at 4). The window holds one sample of
/// `rtt` (ending at 96 ms) and the clock is at 176 ms. A acquires a permit, holds it
/// and drops it (slot CASes on the slot word); B makes one timed attempt of `rtt`,
/// whose sample closes the window (past the grace, spanning twice the last mean)
/// and so steers the limit (a CAS on the same word). Afterwards the limit word is
/// exactly what a sequential run leaves (the reference: the same steps on a second
/// breaker, A's then B's; A's admission cannot change the window's outcome, no
/// refusal being possible), within `[3, 4]`, and no slot is held: neither the
/// admission nor the window's change was lost (witness: A held its slot while B's
/// window closed).
fn steer_while_admitting(name: &'static str, rtt: Duration) {
    let stats = Stats::unbounded(name);
    let overlapped = Witness::new("A held a slot while B's window closed");
    let overlapped_in = overlapped.clone();
    exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let prepared = |clock: &ManualClock| {
            let breaker = engaged_breaker(clock, 3, 4);
            // B's first sample opens the window at 96 ms; B's attempt in the race
            // ends 80 ms later and closes it.
            timed(&breaker, clock, Duration::ZERO, rtt);
            clock.advance(SLOW * 2);
            breaker
        };
        let expected = {
            let clock = ManualClock::new();
            let reference = prepared(&clock);
            drop(reference.try_acquire().unwrap());
            timed(&reference, &clock, Duration::ZERO, rtt);
            let r = reference.limit();
            assert!(
                r.last_latency < Some(SLOW * 99 / 100) && (3..=4).contains(&r.limit),
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
                let permit = breaker.try_acquire().expect("never more than 2 of 4");
                let n = held.enter();
                max_held.fetch_max(n, StdOrdering::Relaxed);
                // B's window closed while this permit held its slot.
                let l = breaker.limit();
                held.leave();
                drop(permit);
                (l.in_flight, l.last_latency < Some(SLOW * 99 / 100))
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

/// Model 2a: B's window of 20 ms (twice the base, half the engagement's latency:
/// queued, not slow). On 996008f the controller holds the limit at 4 there (its
/// load test has not decided): the window's CAS changes only its calm count.
#[test]
fn limit_steered_by_a_queued_window_while_admitting() {
    steer_while_admitting(
        "limit::limit_steered_by_a_queued_window_while_admitting",
        MID,
    );
}

/// Model 2b: B's window of 10 ms (no queue). On 996008f it steers the limit from 4
/// to 3 (toward the little throughput two samples in 80 ms show) and counts one
/// calm window.
#[test]
fn limit_steered_by_an_unqueued_window_while_admitting() {
    steer_while_admitting(
        "limit::limit_steered_by_an_unqueued_window_while_admitting",
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

/// Model 3a: bounds 3..4, engaged, one calm window already counted (10 ms samples
/// at 96 and 176 ms) and one 10 ms sample of the next window (176 ms); the clock at
/// 196 ms. B's timed attempt of 10 ms closes that second calm window, which
/// disengages the limit (checked on a sequential reference) and opens the gate,
/// while A acquires and records: every slot taken is released once (a permit
/// admitted while engaged keeps its slot across the disengagement), and afterwards
/// the limit is disengaged and a fresh permit takes no slot (witness: a slot held
/// across the disengagement).
#[test]
fn limit_disengages_while_admitting() {
    let stats = Stats::unbounded("limit::limit_disengages_while_admitting");
    let across = Witness::new("a slot was held across the disengagement");
    let across_in = across.clone();
    exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let prepared = |clock: &ManualClock| {
            let breaker = engaged_breaker(clock, 3, 4);
            timed(&breaker, clock, Duration::ZERO, FAST);
            timed(&breaker, clock, SLOW * 2, FAST);
            let l = breaker.limit();
            assert!(l.engaged && l.in_flight == 0, "one calm window: {l:?}");
            // B's first sample of the second calm window (176 ms); B's attempt in
            // the race ends 20 ms later and closes it.
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
/// engaged; a window of seven 40 ms samples open (ending 98 to 110 ms); one permit
/// held (a slot), then `force_open()`, and the clock at 150 ms. A calls `reset()`
/// (`ForcedOpen` → `Closed`: the limit's fresh start clears the window and
/// disengages, then sets the gate); B records the permit timed, 40 ms (stale: it
/// releases its slot; its sample fills the window to 8, spanning 52 ms ≥ 40 ms, and
/// the closer engages if it finds the limit disengaged, then sets the gate).
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
