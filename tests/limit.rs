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

/// A server of `workers` workers, 10 ms of service each, fed by one FIFO queue:
/// an attempt admitted at `now` ends when the earliest-free worker has served
/// it.
struct Fifo {
    free_at: Vec<Duration>,
}

impl Fifo {
    fn admit(&mut self, now: Duration) -> Duration {
        let worker = (0..self.free_at.len())
            .min_by_key(|&i| self.free_at[i])
            .expect("a worker");
        let end = self.free_at[worker].max(now) + 10 * MS;
        self.free_at[worker] = end;
        end
    }
}

/// Open-loop load on a `Fifo` of 4 workers (capacity 400 attempts/s): every
/// 10 ms, `per_tick` attempts are offered for `ticks` ticks; the limit admits
/// what it will, the admitted ones complete when the queue lets them. Returns
/// `(completed, refused, mean latency of the completed)`.
fn open_loop(
    b: &Breaker,
    clock: &ManualClock,
    server: &mut Fifo,
    per_tick: usize,
    ticks: usize,
) -> (usize, usize, Duration) {
    let mut in_flight: Vec<(Duration, Duration, Permit<'_>)> = Vec::new();
    let (mut completed, mut refused, mut total) = (0, 0, Duration::ZERO);
    let end = clock.now() + 10 * MS * u32::try_from(ticks).unwrap();
    while clock.now() < end || !in_flight.is_empty() {
        // Complete what is due, in order.
        in_flight.sort_by_key(|(done, _, _)| *done);
        while in_flight
            .first()
            .is_some_and(|(done, _, _)| *done <= clock.now())
        {
            let (_, started, p) = in_flight.remove(0);
            let latency = clock.now() - started;
            let _ = p.record_timed(Verdict::Success, latency);
            completed += 1;
            total += latency;
        }
        if clock.now() < end && clock.now().as_millis().is_multiple_of(10) {
            for _ in 0..per_tick {
                match b.try_acquire() {
                    Ok(p) => {
                        let now = clock.now();
                        in_flight.push((server.admit(now), now, p));
                    }
                    Err(Rejected::LimitReached { .. }) => refused += 1,
                    Err(other) => panic!("{other:?}"),
                }
            }
        }
        clock.advance(MS);
    }
    (
        completed,
        refused,
        total / u32::try_from(completed.max(1)).unwrap(),
    )
}

#[test]
fn a_queue_engages_the_limit_which_holds_latency_near_the_base_at_full_throughput() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 2, 1000);
    let mut server = Fifo {
        free_at: vec![Duration::ZERO; 4],
    };
    // Half the capacity for 2 s: no queue, latency 10 ms.
    let (_, refused, latency) = open_loop(&b, &clock, &mut server, 2, 200);
    assert_eq!(refused, 0);
    assert!(latency <= 11 * MS, "{latency:?}");
    assert!(!b.limit().engaged, "{:?}", b.limit());
    // Twice the capacity for 5 s: unlimited, the queue would grow by 400
    // attempts a second (a 5 s wait by the end).
    let (_, _, _) = open_loop(&b, &clock, &mut server, 8, 100);
    assert!(
        b.limit().engaged,
        "a growing queue engages the limit: {:?}",
        b.limit()
    );
    let (completed, refused, latency) = open_loop(&b, &clock, &mut server, 8, 400);
    let l = b.limit();
    assert!(l.engaged, "the queue is not rebased away: {l:?}");
    assert!(
        latency <= 25 * MS,
        "admitted attempts wait little: mean {latency:?} ({l:?})"
    );
    assert!(
        completed >= 4 * 360,
        "at least 90 % of the capacity is used: {completed} in 4 s"
    );
    assert!(
        refused >= 4 * 300,
        "the excess is refused at once: {refused}"
    );
    assert!((4..=12).contains(&l.limit), "near the 4 workers: {l:?}");
    assert_eq!(l.in_flight, 0);
}

/// A downstream with a stationary latency tail: every `every`, one timed
/// attempt, its latency uniform in 20–80 ms (a xorshift seeded with `seed`)
/// and, for one attempt in 50, ten times that (200–800 ms), whatever the load.
/// Runs `secs` seconds; returns how many attempts the limit refused, and the
/// latest time (ms) at which it was engaged (0: never).
fn tail_stream(
    b: &Breaker,
    clock: &ManualClock,
    seed: u64,
    every: Duration,
    secs: u64,
) -> (usize, u64) {
    let mut x = seed | 1;
    let mut draw = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut in_flight: Vec<(Duration, Duration, Permit<'_>)> = Vec::new();
    let (mut refused, mut engaged_at) = (0, 0);
    let start = clock.now();
    let end = start + Duration::from_secs(secs);
    let mut next = start;
    while clock.now() < end || !in_flight.is_empty() {
        in_flight.sort_by_key(|(done, _, _)| *done);
        while in_flight
            .first()
            .is_some_and(|(done, _, _)| *done <= clock.now())
        {
            let (_, started, p) = in_flight.remove(0);
            let _ = p.record_timed(Verdict::Success, clock.now() - started);
        }
        if b.limit().engaged {
            engaged_at = u64::try_from((clock.now() - start).as_millis()).unwrap();
        }
        if clock.now() < end && clock.now() >= next {
            next += every;
            match b.try_acquire() {
                Ok(p) => {
                    let mut latency = MS * (20 + u32::try_from(draw() % 61).unwrap());
                    if draw() % 50 == 0 {
                        latency *= 10;
                    }
                    in_flight.push((clock.now() + latency, clock.now(), p));
                }
                Err(Rejected::LimitReached { .. }) => refused += 1,
                Err(other) => panic!("{other:?}"),
            }
        }
        clock.advance(MS);
    }
    (refused, engaged_at)
}

/// A latency tail is not a queue: 2 % of the attempts ten times slower, at
/// any load, lift the mean of a window of a few samples (a guard times one
/// attempt in 16) to two or three times the base, two such windows in a row
/// look like a queue growing, and a limit that engaged on window means alone
/// took them for one and refused calls on a healthy downstream (the lab's
/// `tail` scenario; here 40 refusals in 14,400 attempts over the three seeds).
/// A window now engages only if a quarter of its samples, and two, are late,
/// which a tail of 2 % rarely fills. Rarely, not never: two slow attempts in
/// one window after a window with one still read as a queue growing, and
/// this load (2.4 attempts in flight on average) is refused by any limit.
#[test]
fn a_stationary_latency_tail_rarely_engages_the_limit() {
    let mut refused = 0;
    for seed in [7, 42, 1234] {
        let clock = ManualClock::new();
        let b = breaker(&clock, 2, 1000);
        // 40 timed attempts a second: windows of 4 to 8 samples, as a guard
        // sampling one attempt in 16 of 640 a second makes them.
        refused += tail_stream(&b, &clock, seed, 25 * MS, 120).0;
        let base = b.limit().base_latency.expect("measured");
        assert!(base > 35 * MS && base < 65 * MS, "seed {seed}: {base:?}");
    }
    // 3 × 4,800 attempts: at most 0.1 % refused.
    assert!(refused <= 14, "{refused} refused in 14,400 attempts");
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

/// A guard on `breaker` with an empty budget and no floor, 3 attempts 1 ms
/// apart, on `clock`; then 64 healthy calls of 10 ms (the guard times one in 16,
/// so the limit learns the unloaded latency), and the whole tokens they
/// deposited (12.8) spent: 0.8 token is left.
fn warmed_guard(
    clock: &ManualClock,
    breaker: fusebox::BreakerBuilder,
) -> Guard<fusebox::DefaultClassifier, ManualSleeper> {
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
    let guard = Guard::new(
        Arc::new(breaker.clock(clock.clone()).build().unwrap()),
        retry,
    )
    .with_budget(Arc::new(budget))
    .with_sleeper(ManualSleeper::new(clock.clone()));
    for _ in 0..64 {
        let r: Result<u32, GuardError<&'static str>> = guard.call(|_| {
            clock.advance(10 * MS);
            Ok(1)
        });
        assert_eq!(r, Ok(1));
    }
    while guard.budget().unwrap().try_withdraw() {}
    guard
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
        let guard = warmed_guard(&clock, Breaker::builder().adaptive_limit(adaptive));
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

/// Twenty times the capacity from a cold start: a backlog of seconds forms
/// before the limit can tell. The limit stays engaged while that backlog
/// drains (latency rising, then falling, is a queue, not a slow downstream),
/// never counts more slots than live permits, and releases every one.
#[test]
fn a_backlog_from_a_cold_start_drains_under_the_limit() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 2, 1000);
    let mut in_flight: Vec<(Duration, Duration, Permit<'_>)> = Vec::new();
    let mut server = Fifo {
        free_at: vec![Duration::ZERO; 4],
    };
    let mut engaged_ms = 0;
    for t in 0..6000u32 {
        in_flight.sort_by_key(|(done, _, _)| *done);
        while in_flight
            .first()
            .is_some_and(|(done, _, _)| *done <= clock.now())
        {
            let (_, started, p) = in_flight.remove(0);
            let _ = p.record_timed(Verdict::Success, clock.now() - started);
        }
        if t < 4000 {
            for _ in 0..8 {
                if let Ok(p) = b.try_acquire() {
                    let now = clock.now();
                    in_flight.push((server.admit(now), now, p));
                }
            }
        }
        let l = b.limit();
        assert!(
            l.in_flight as usize <= in_flight.len(),
            "t={t} ms: {l:?}, {} live permits",
            in_flight.len()
        );
        if (1000..4000).contains(&t) {
            engaged_ms += u32::from(l.engaged);
        }
        clock.advance(MS);
    }
    assert_eq!(engaged_ms, 3000, "engaged through the overload");
    assert!(
        in_flight.len() <= 12,
        "the backlog drained: {}",
        in_flight.len()
    );
    drop(in_flight);
    assert_eq!(b.limit().in_flight, 0);
}

/// Bring the breaker's health to about `target` with fast failures and
/// successes recorded directly (no retry, no budget involved).
fn health_near(guard: &Guard<fusebox::DefaultClassifier, ManualSleeper>, target: f64) {
    let b = guard.breaker();
    for _ in 0..400 {
        let h = b.snapshot().health.unwrap();
        if (h - target).abs() < 0.03 {
            return;
        }
        let v = if h > target {
            Verdict::failure()
        } else {
            Verdict::Success
        };
        let _ = b.try_acquire().unwrap().record(v);
    }
    panic!("health did not reach {target}: {:?}", b.snapshot());
}

/// Retries go beyond the budget only while the breaker is not grading: below
/// `shed_below`, or below one half when grading is off.
#[test]
fn headroom_ends_where_the_breaker_grades() {
    for (shed_below, health, free) in [
        // Grading off: the line is one half.
        (0.0, 0.7, true),
        (0.0, 0.35, false),
        // Grading below 0.8: at 0.7 it grades (no headroom), at 0.9 not.
        (0.8, 0.7, false),
        (0.8, 0.9, true),
    ] {
        let clock = ManualClock::new();
        let guard = warmed_guard(&clock, Breaker::builder().shed_below(shed_below));
        assert!(guard.breaker().limit().base_latency.is_some());
        health_near(&guard, health);
        let r = failing_twice(&guard, &clock);
        if free {
            assert_eq!(r, Ok(3), "shed_below {shed_below}, health {health}");
        } else {
            assert!(
                matches!(r, Err(GuardError::BudgetExhausted { .. })),
                "shed_below {shed_below}, health {health}: {r:?}"
            );
        }
    }
}

/// A clock that counts its readings.
#[derive(Clone, Default)]
struct CountingClock(Arc<std::sync::atomic::AtomicU64>);

impl fusebox::Clock for CountingClock {
    fn now_nanos(&self) -> u64 {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        0
    }
}

/// With the limit off, a healthy guarded call reads no clock: the limit's
/// sampling is the only reason it would.
#[test]
fn with_the_limit_off_a_healthy_call_reads_no_clock() {
    for adaptive in [false, true] {
        let clock = CountingClock::default();
        let b = Breaker::builder()
            .clock(clock.clone())
            .adaptive_limit(adaptive)
            .build()
            .unwrap();
        let guard = Guard::new(Arc::new(b), Retry::default());
        let before = clock.0.load(std::sync::atomic::Ordering::Relaxed);
        for _ in 0..64 {
            let r: Result<u32, GuardError<()>> = guard.call(|_| Ok(1));
            assert_eq!(r, Ok(1));
        }
        let reads = clock.0.load(std::sync::atomic::Ordering::Relaxed) - before;
        if adaptive {
            // One attempt in 16 timed: two readings each.
            assert_eq!(reads, 64 / 16 * 2, "sampled");
        } else {
            assert_eq!(reads, 0, "the limit off, nothing reads the clock");
        }
    }
}

/// Retries are the first load to go: an engaged limit leaves a quarter of
/// itself (at least one slot) to first attempts, so a retry is refused where a
/// first attempt is still admitted.
#[test]
fn an_engaged_limit_keeps_its_last_quarter_for_first_attempts() {
    let clock = ManualClock::new();
    let b = Arc::new(breaker(&clock, 4, 4));
    engaged(&b, &clock);
    assert_eq!((b.limit().engaged, b.limit().limit), (true, 4));
    // Three of the four slots held: the fourth is a first attempt's only.
    let held: Vec<Permit<'_>> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    let budget = RetryBudget::builder()
        .initial_balance(10)
        .clock(clock.clone())
        .build()
        .unwrap();
    let retry = Retry::builder()
        .max_attempts(3)
        .constant_backoff(MS)
        .jitter(Jitter::None)
        .build()
        .unwrap();
    let guard = Guard::new(Arc::clone(&b), retry)
        .with_budget(Arc::new(budget))
        .with_sleeper(ManualSleeper::new(clock.clone()));
    let outcome = guard.call_outcome(|_| -> Result<u32, &str> { Err("503") });
    assert_eq!(
        outcome.attempts, 1,
        "the first attempt took the fourth slot"
    );
    assert_eq!(outcome.stop, fusebox::Stop::RejectedMidCall);
    assert!(matches!(
        outcome.rejected,
        Some(Rejected::LimitReached { .. })
    ));
    // The same slot is still a first attempt's.
    let first = b
        .try_acquire()
        .expect("a first attempt gets the fourth slot");
    assert_eq!(b.limit().in_flight, 4);
    drop(first);
    drop(held);
    assert_eq!(b.limit().in_flight, 0);
}
