//! The healthy path and the failure path of the breaker, beside their physical
//! floors, measured in the same run.
//!
//! - `floor/two_loads`: two `Acquire` loads of a shared, unmodified `AtomicU64`
//!   (what a read-only guarded call cannot beat: `try_acquire` + `record(Success)`);
//! - `floor/one_cas`: one successful compare-and-swap on a shared word;
//! - `fusebox/healthy`: `try_acquire` + `record(Success)`, Closed at full health;
//! - `fusebox/fail_then_succeed`: a failure that does not trip, then a success
//!   (two CASes; health oscillates around its equilibrium, never tripping);
//! - `fusebox/rejected`: `try_acquire` on a forced-open breaker;
//! - `fusebox/guard_call`: `Guard::call` whose operation succeeds at once (default
//!   classifier, 3 attempts, with a shared retry budget);
//! - `fusebox/budget`: a retry budget deposit + withdraw;
//! - `limit-off/healthy`, `limit-off/guard_call`: the same two healthy cases
//!   with the adaptive concurrency limit turned off (`adaptive_limit(false)`),
//!   the baseline of what the limit costs while it is disengaged (the default
//!   cases above have it on);
//! - `limit/refused`: `try_acquire` refused by an engaged limit that is full
//!   (the refusal path: one load of the gate, the state word, the slot word);
//! - `limit/slot`: `try_acquire` + `record(Success)` under an engaged limit with
//!   room (the slot taken and released by CAS: the limit's own bookkeeping,
//!   the case to read at 2 threads).
//!
//! `contended/N` runs the same bodies on N threads at once (`iter_custom` + a
//! `Barrier`); the time reported is wall time for every thread to do `iters`
//! operations, so perfect scaling shows the same time as one thread.
//!
//! Run: `cargo bench -p fusebox-benches --bench breaker` (add `-- --quick` for a
//! fast pass).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use fusebox::{Breaker, Guard, GuardError, ManualClock, OwnedPermit, Retry, RetryBudget, Verdict};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn healthy_breaker() -> Breaker {
    Breaker::builder().build().unwrap()
}

fn failing_breaker() -> Breaker {
    // alpha 0.01, threshold 0.1: a failure/success pair settles health near 0.5.
    Breaker::builder().health(0.01, 0.1, 1).build().unwrap()
}

/// A breaker whose limit is engaged, at a limit of exactly `limit` (the bounds
/// pin it): 10 ms unloaded, then 40 ms at the same load, on a manual clock.
fn engaged_breaker(limit: u32) -> Arc<Breaker> {
    let clock = ManualClock::new();
    let b = Breaker::builder()
        .clock(clock.clone())
        .limit_bounds(limit, limit)
        .build()
        .unwrap();
    let batch = |latency: Duration| {
        let permits: Vec<_> = (0..8).filter_map(|_| b.try_acquire().ok()).collect();
        clock.advance(latency);
        for p in permits {
            let _ = p.record_timed(Verdict::Success, latency);
        }
    };
    for _ in 0..4 {
        batch(Duration::from_millis(10));
    }
    for _ in 0..8 {
        if b.limit().engaged {
            break;
        }
        batch(Duration::from_millis(40));
    }
    assert!(b.limit().engaged, "the limit engages: {:?}", b.limit());
    Arc::new(b)
}

fn rejecting_breaker() -> Breaker {
    let b = Breaker::builder().build().unwrap();
    let _ = b.force_open();
    b
}

#[inline(always)]
fn two_loads(word: &AtomicU64) -> u64 {
    word.load(Ordering::Acquire) ^ word.load(Ordering::Acquire)
}

#[inline(always)]
fn one_cas(word: &AtomicU64) {
    let mut cur = word.load(Ordering::Relaxed);
    while let Err(actual) = word.compare_exchange_weak(
        cur,
        cur.wrapping_add(1),
        Ordering::AcqRel,
        Ordering::Relaxed,
    ) {
        cur = actual;
    }
}

#[inline(always)]
fn healthy(b: &Breaker) {
    if let Ok(p) = b.try_acquire() {
        let _ = black_box(p.record(Verdict::Success));
    }
}

#[inline(always)]
fn fail_then_succeed(b: &Breaker) {
    if let Ok(p) = b.try_acquire() {
        let _ = black_box(p.record(Verdict::failure()));
    }
    if let Ok(p) = b.try_acquire() {
        let _ = black_box(p.record(Verdict::Success));
    }
}

#[inline(always)]
fn rejected(b: &Breaker) {
    let _ = black_box(b.try_acquire());
}

#[inline(always)]
fn guard_call(g: &Guard) {
    let r: Result<u32, GuardError<()>> = g.call(|a| Ok(a.number));
    let _ = black_box(r);
}

#[inline(always)]
fn budget(b: &RetryBudget) {
    b.deposit();
    let _ = black_box(b.try_withdraw());
}

type Body = fn(&Shared);

struct Shared {
    word: AtomicU64,
    healthy: Breaker,
    failing: Breaker,
    rejecting: Breaker,
    guard: Guard,
    budget: RetryBudget,
    healthy_off: Breaker,
    guard_off: Guard,
    /// Engaged at a limit of 1, its one slot held by `_held`.
    full: Arc<Breaker>,
    _held: OwnedPermit,
    /// Engaged at a limit no bench thread count reaches.
    roomy: Arc<Breaker>,
}

const CASES: [(&str, Body); 11] = [
    ("floor/two_loads", |s| {
        black_box(two_loads(&s.word));
    }),
    ("floor/one_cas", |s| one_cas(&s.word)),
    ("fusebox/healthy", |s| healthy(&s.healthy)),
    ("fusebox/fail_then_succeed", |s| {
        fail_then_succeed(&s.failing)
    }),
    ("fusebox/rejected", |s| rejected(&s.rejecting)),
    ("fusebox/guard_call", |s| guard_call(&s.guard)),
    ("fusebox/budget", |s| budget(&s.budget)),
    ("limit-off/healthy", |s| healthy(&s.healthy_off)),
    ("limit-off/guard_call", |s| guard_call(&s.guard_off)),
    ("limit/refused", |s| rejected(&s.full)),
    ("limit/slot", |s| healthy(&s.roomy)),
];

fn shared() -> Arc<Shared> {
    let off = || Breaker::builder().adaptive_limit(false).build().unwrap();
    let full = engaged_breaker(1);
    let held = full.try_acquire_owned().expect("the one slot");
    assert!(full.try_acquire().is_err(), "full");
    Arc::new(Shared {
        healthy_off: off(),
        guard_off: Guard::new(Arc::new(off()), Retry::default())
            .with_budget(Arc::new(RetryBudget::builder().build().unwrap())),
        full,
        _held: held,
        roomy: engaged_breaker(1000),
        word: AtomicU64::new(0),
        healthy: healthy_breaker(),
        failing: failing_breaker(),
        rejecting: rejecting_breaker(),
        guard: Guard::new(Arc::new(healthy_breaker()), Retry::default())
            .with_budget(Arc::new(RetryBudget::builder().build().unwrap())),
        budget: RetryBudget::builder().ratio(1.0).build().unwrap(),
    })
}

fn uncontended(c: &mut Criterion) {
    let s = shared();
    let mut group = c.benchmark_group("uncontended");
    for (name, body) in CASES {
        group.bench_function(name, |b| b.iter(|| body(&s)));
    }
    group.finish();
}

fn contended(c: &mut Criterion) {
    let s = shared();
    for threads in [2usize, 4] {
        let mut group = c.benchmark_group(format!("contended/{threads}"));
        for (name, body) in CASES {
            group.bench_with_input(
                BenchmarkId::from_parameter(name),
                &threads,
                |b, &threads| b.iter_custom(|iters| run_threads(&s, threads, iters, body)),
            );
        }
        group.finish();
    }
}

/// Wall time for `threads` threads to each run `body` `iters` times.
fn run_threads(s: &Arc<Shared>, threads: usize, iters: u64, body: Body) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                barrier.wait();
                for _ in 0..iters {
                    body(s);
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed()
    })
}

criterion_group!(benches, uncontended, contended);
criterion_main!(benches);
