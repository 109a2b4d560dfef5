//! The adaptive concurrency limit, through the public API: it engages on a
//! queue, refuses past the limit with a typed reason and a hint, releases every
//! slot once (record, drop, stale), tells a downstream that is only slow from an
//! overloaded one, never engages without timed attempts, and frees retries from
//! the budget while it sees no queue.
//!
//! Attempts run in batches: `k` permits taken at once, the clock advanced by the
//! batch's latency, and every permit recorded with that latency — a downstream
//! answering `k` concurrent attempts in that time.

use fusebox::{
    Breaker, ConfigErrorKind, Guard, GuardError, Jitter, ManualClock, ManualSleeper, Permit,
    Recorded, Rejected, Retry, RetryBudget, Verdict,
};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

fn breaker(clock: &ManualClock, min: u32, max: u32) -> Breaker {
    Breaker::builder()
        .clock(clock.clone())
        .limit_bounds(min, max)
        .build()
        .unwrap()
}

/// Take up to `k` permits (fewer if the limit refuses), let `latency` pass, and
/// record each as a success of that latency. Returns how many were refused by
/// the limit.
fn batch(b: &Breaker, clock: &ManualClock, k: usize, latency: Duration) -> usize {
    let mut permits: Vec<Permit<'_>> = Vec::new();
    let mut refused = 0;
    for _ in 0..k {
        match b.try_acquire() {
            Ok(p) => permits.push(p),
            Err(Rejected::LimitReached { retry_after }) => {
                assert!(retry_after.is_some_and(|d| d >= MS), "{retry_after:?}");
                refused += 1;
            }
            Err(other) => panic!("refused for another reason: {other:?}"),
        }
    }
    clock.advance(latency);
    for p in permits {
        assert!(matches!(
            p.record_timed(Verdict::Success, latency),
            Recorded::Applied { .. }
        ));
    }
    refused
}

/// Unloaded at 10 ms, then latency four times that: the limit engages within a
/// few batches.
fn engaged(b: &Breaker, clock: &ManualClock) {
    for _ in 0..4 {
        batch(b, clock, 8, 10 * MS);
    }
    let l = b.limit();
    assert!(!l.engaged, "no queue yet: {l:?}");
    let base = l.base_latency.expect("windows closed");
    assert!(base > 9 * MS && base <= 10 * MS, "{l:?}");
    for i in 0..6 {
        batch(b, clock, 8, 40 * MS);
        if b.limit().engaged {
            return;
        }
        assert!(i < 5, "never engaged: {:?}", b.limit());
    }
}

#[test]
fn an_engaged_limit_refuses_past_it_and_every_slot_is_released_once() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 2, 1000);
    engaged(&b, &clock);
    let limit = b.limit().limit;
    assert!((2..=8).contains(&limit), "{:?}", b.limit());
    // Exactly `limit` slots.
    let mut held: Vec<Permit<'_>> = (0..limit).map(|_| b.try_acquire().unwrap()).collect();
    assert_eq!(b.limit().in_flight, limit);
    match b.try_acquire() {
        Err(Rejected::LimitReached {
            retry_after: Some(d),
        }) => assert!(d >= MS),
        other => panic!("expected LimitReached with a hint, got {other:?}"),
    }
    // Dropped (a cancellation) and recorded permits each give one slot back.
    drop(held.pop());
    assert_eq!(b.limit().in_flight, limit - 1);
    let _ = held.pop().unwrap().record(Verdict::failure());
    assert_eq!(b.limit().in_flight, limit - 2);
    // A stale record releases its slot too.
    let late = b.try_acquire().expect("a slot is free");
    assert!(b.disable().is_some(), "Closed -> Disabled: a new epoch");
    assert_eq!(late.record(Verdict::Success), Recorded::Stale);
    drop(held);
    assert_eq!(b.limit().in_flight, 0, "{:?}", b.limit());
}

#[test]
fn a_downstream_slow_whatever_the_load_is_rebased_not_starved() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 2, 1000);
    engaged(&b, &clock);
    // Latency stays 40 ms although the limit cut the load: not a queue.
    let mut rounds = 0;
    while b.limit().engaged {
        batch(&b, &clock, 8, 40 * MS);
        rounds += 1;
        assert!(
            rounds < 20,
            "still engaged after {rounds} rounds: {:?}",
            b.limit()
        );
    }
    let l = b.limit();
    let base = l.base_latency.unwrap();
    assert!(
        base > 35 * MS && base <= 40 * MS,
        "rebased to the new latency: {l:?}"
    );
    // Disengaged: nothing is refused, and no permit takes a slot.
    assert_eq!(batch(&b, &clock, 64, 40 * MS), 0);
    let p = b.try_acquire().unwrap();
    assert_eq!(b.limit().in_flight, 0);
    drop(p);
}

/// A server with `workers` workers and a 10 ms service time: `k` concurrent
/// attempts take `10 ms × max(1, k / workers)`.
fn queued(k: usize, workers: usize) -> Duration {
    10 * MS * u32::try_from(k.div_ceil(workers).max(1)).unwrap()
}

#[test]
fn a_queue_keeps_the_limit_engaged_near_the_servers_concurrency() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 2, 1000);
    for _ in 0..4 {
        batch(&b, &clock, 4, queued(4, 4));
    }
    // Demand of 32 concurrent attempts on 4 workers: latency 80 ms unlimited.
    let mut refused = 0;
    for _ in 0..60 {
        let limit = if b.limit().engaged {
            b.limit().limit as usize
        } else {
            32
        };
        let admitted = limit.min(32);
        refused += batch(&b, &clock, admitted, queued(admitted, 4));
    }
    let l = b.limit();
    assert!(l.engaged, "a queue is not rebased away: {l:?}");
    assert!(
        (4..=8).contains(&l.limit),
        "the limit settles near 4 workers plus a short queue: {l:?}"
    );
    assert_eq!(refused, 0, "batches never asked past the limit");
    assert_eq!(l.in_flight, 0);
}

#[test]
fn without_timed_attempts_the_limit_never_engages() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 2, 1000);
    for latency in [10, 40, 400, 4000] {
        for _ in 0..50 {
            let p = b.try_acquire().unwrap();
            clock.advance(latency * MS);
            let _ = p.record(Verdict::Success);
        }
    }
    let l = b.limit();
    assert!(!l.engaged && l.base_latency.is_none(), "{l:?}");
}

#[test]
fn turned_off_it_never_measures_or_engages() {
    let clock = ManualClock::new();
    let b = Breaker::builder()
        .clock(clock.clone())
        .adaptive_limit(false)
        .build()
        .unwrap();
    for latency in [10, 40, 400] {
        for _ in 0..10 {
            batch(&b, &clock, 8, latency * MS);
        }
    }
    let l = b.limit();
    assert!(
        !l.engaged && l.base_latency.is_none() && l.in_flight == 0,
        "{l:?}"
    );
}

#[test]
fn bad_bounds_are_named() {
    for ((min, max), kind) in [
        ((0, 5), ConfigErrorKind::Zero),
        ((5, 4), ConfigErrorKind::OutOfRange),
        ((1, 70_000), ConfigErrorKind::OutOfRange),
    ] {
        let err = Breaker::builder()
            .limit_bounds(min, max)
            .build()
            .unwrap_err();
        assert_eq!((err.field(), err.kind()), ("limit_bounds", kind), "{err}");
    }
    assert!(Breaker::builder().limit_bounds(1, 65_535).build().is_ok());
}

/// A guard whose op takes 10 ms of the clock and answers from `script`
/// (`true` = success), and whose budget starts empty with no floor.
fn guard_with_empty_budget(
    clock: &ManualClock,
    adaptive: bool,
) -> Guard<fusebox::DefaultClassifier, ManualSleeper> {
    let b = Breaker::builder()
        .clock(clock.clone())
        .adaptive_limit(adaptive)
        .build()
        .unwrap();
    let budget = RetryBudget::builder()
        .ratio(0.2)
        .min_retries_per_sec(0)
        .initial_balance(0)
        .clock(clock.clone())
        .build()
        .unwrap();
    let retry = Retry::builder()
        .max_attempts(3)
        .constant_backoff(MS)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    Guard::new(Arc::new(b), retry)
        .with_budget(Arc::new(budget))
        .with_sleeper(ManualSleeper::new(clock.clone()))
}

fn failing_twice(
    guard: &Guard<fusebox::DefaultClassifier, ManualSleeper>,
    clock: &ManualClock,
) -> Result<u32, GuardError<&'static str>> {
    let n = Cell::new(0);
    guard.call(|_| {
        clock.advance(10 * MS);
        n.set(n.get() + 1);
        if n.get() < 3 { Err("503") } else { Ok(n.get()) }
    })
}

#[test]
fn retries_go_beyond_the_budget_while_the_limit_sees_no_queue() {
    for adaptive in [true, false] {
        let clock = ManualClock::new();
        let guard = guard_with_empty_budget(&clock, adaptive);
        // Healthy calls: the guard times one attempt in 16 per thread, so the
        // limit learns the unloaded latency (and the budget's 20 % fills a bit:
        // 64 calls deposit 12.8 tokens; spend them first).
        for _ in 0..64 {
            let r: Result<u32, GuardError<&'static str>> = guard.call(|_| {
                clock.advance(10 * MS);
                Ok(1)
            });
            assert_eq!(r, Ok(1));
        }
        while guard.budget().unwrap().try_withdraw() {}
        let r = failing_twice(&guard, &clock);
        if adaptive {
            assert!(guard.breaker().limit().base_latency.is_some());
            assert_eq!(
                r,
                Ok(3),
                "fast failures at flat latency: the retries are headroom"
            );
        } else {
            // 0.8 token left after the whole ones were spent, plus this
            // call's 0.2: one retry, then the budget refuses the second.
            assert!(
                matches!(r, Err(GuardError::BudgetExhausted { attempts: 2, .. })),
                "the budget alone decides: {r:?}"
            );
        }
    }
}
