#![cfg(loom)]
//! The adaptive concurrency limit (`src/limit.rs`) fused into admission: a permit
//! admitted while the limit is engaged holds a slot and releases it exactly once,
//! however it ends (recorded, dropped, stale); admissions never exceed the limit; a
//! window that steers the limit racing admissions loses neither (the limit stays in
//! `[min, max]`); and the breaker's gate agrees with the limit once the races end.
//!
//! Every breaker's limit is engaged on the model thread before the race, through the
//! public API only (see [`engaged_breaker`]), and the engagement is checked there.

use fusebox::{Breaker, ManualClock, Rejected, Verdict};
use fusebox_loom_tests::{Held, Stats, Witness, builder, exhaustive};
use loom::sync::Arc;
use loom::thread;
use std::sync::Arc as StdArc;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::time::Duration;

/// The unloaded latency the setup teaches the limit.
const FAST: Duration = Duration::from_millis(10);
/// The queued latency that engages it (4 × the base: at least `ENGAGE_AT` = 2).
const SLOW: Duration = Duration::from_millis(40);

/// One timed attempt on its own: admitted, the clock advanced by `rtt`, then
/// recorded with `record_timed` (a latency sample ending now).
fn timed_alone(breaker: &Breaker, clock: &ManualClock, rtt: Duration) {
    let permit = breaker
        .try_acquire()
        .expect("one attempt at a time is always admitted");
    clock.advance(rtt);
    assert!(!permit.record_timed(Verdict::Success, rtt).is_stale());
}

/// A breaker with `limit_bounds(min, max)` whose limit is engaged at `min`, with no
/// slot in use and an empty window, and the clock at 400 ms.
///
/// The window rules (`Limiter::sample`): a window closes at 2 samples once they span
/// twice the last window's mean (at once for the very first window, whose span is
/// 0), at 8 once they span the mean. One attempt at a time, each ending `rtt` after
/// the last, so windows close at 2 or 3 samples:
///
/// - 8 samples of 10 ms (ending at 10, 20, …, 80 ms): windows close at 20 ms (2
///   samples: base 10 ms), 50 ms and 80 ms (3 samples each, 20 ms ≥ 2 × 10 ms);
///   mean 10 ms = the base, no queue, disengaged;
/// - 8 samples of 40 ms (ending at 120, 160, …, 400 ms): the window of 120 and
///   160 ms closes (40 ms ≥ 2 × 10 ms) with mean 40 ms = 4 × the base: engaged, at
///   `throughput × base × 1.25` = 25/s × 10 ms × 1.25 ≈ 0.3, so at `min`. Then the
///   windows of 200–280 ms and 320–400 ms (80 ms ≥ 2 × 40 ms) close past the grace
///   (1.5 × 40 ms after the engagement) with the same mean: the limit stays at
///   `min`, engaged, and the last sample (400 ms) closes a window.
fn engaged_breaker(clock: &ManualClock, min: u32, max: u32) -> Breaker {
    let breaker = builder(clock).limit_bounds(min, max).build().unwrap();
    for _ in 0..8 {
        timed_alone(&breaker, clock, FAST);
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
        timed_alone(&breaker, clock, SLOW);
        // The second 40 ms sample closes the window that engages.
        assert_eq!(breaker.limit().engaged, i >= 1, "sample {i}: {l:?}");
    }
    let l = breaker.limit();
    assert_eq!((l.engaged, l.limit, l.in_flight), (true, min, 0), "{l:?}");
    assert!(l.last_latency.unwrap() > SLOW * 99 / 100, "{l:?}");
    assert_eq!(clock.now(), Duration::from_millis(400));
    breaker
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
        assert_eq!(breaker.snapshot().state, fusebox::State::Disabled);
        slots_all_free_and_cap_holds(&breaker, 1);
    }));
    stats.report();
    stale.assert_seen();
    refused.assert_seen();
    applied.assert_seen();
}
