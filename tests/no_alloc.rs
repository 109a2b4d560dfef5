//! Zero heap allocations per call after construction, counted by a global
//! allocator: breaker permits, borrowed and owned (graded admission, decay and
//! `record_timed` included),
//! the guard's sync path (success, retries, stops), its async path, the tower
//! layer's response future (feature `tower`) and the retry budget.

use fusebox::{
    Breaker, Guard, GuardError, Hedge, Jitter, ManualClock, ManualSleeper, Retry, RetryBudget,
    Verdict,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

struct Counting;

// Per thread: libtest's main thread (and any other) allocates while this test
// runs (it waits for the result, formats output), and counting process-wide made
// the test fail about one run in three on a busy machine. Only the allocations
// of the thread inside `allocations_during` count.
//
// `const` initialisers and no `Drop`: reading these never allocates or registers
// a destructor, so the allocator can use them; `try_with` covers thread teardown.
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    let _ = COUNTING.try_with(|counting| {
        if counting.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY-free: delegating to `System` is safe; `GlobalAlloc` is an unsafe trait,
// which the test crate may implement (the library itself forbids unsafe).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The allocations `f` makes on this thread.
fn allocations_during(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

/// Poll a future to completion on this thread without allocating (the waker is a
/// no-op, so the future must make progress on every poll, as these ones do).
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// A future pending at its first poll (waking its task), then `Ok`.
struct PendingOnce(bool, u32);

impl std::future::Future for PendingOnce {
    type Output = Result<u32, u32>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<u32, u32>> {
        if self.0 {
            return std::task::Poll::Ready(Ok(self.1));
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// One test function (counting is per thread, so other test threads could not
/// disturb it; one function keeps the whole budget of checks in one place).
#[test]
fn no_allocation_per_call() {
    let clock = ManualClock::new();
    let breaker = Arc::new(
        Breaker::builder()
            .trip_after_consecutive_failures(3)
            .open_for(Duration::from_millis(5))
            .clock(clock.clone())
            .on_transition(|_| {})
            // Events are told on the stack: a listener that allocates nothing
            // itself costs no allocation (it is called on every failure path).
            .name("no-alloc")
            .listener(|e: &fusebox::Event<'_>| {
                let _ = std::hint::black_box((e.name, e.kind.as_str()));
            })
            .build()
            .unwrap(),
    );
    // With the `metrics` feature a breaker (and a budget) registers its metric
    // handles once, at its first event or export: that one-time registration
    // allocates, events after it do not.
    #[cfg(feature = "metrics")]
    fusebox::metrics::export(&breaker);
    let budget = Arc::new(RetryBudget::builder().clock(clock.clone()).build().unwrap());
    #[cfg(feature = "metrics")]
    fusebox::metrics::export_budget(&budget);
    let retry = Retry::builder()
        .max_attempts(3)
        .exponential_backoff(Duration::from_millis(1), 2.0, Duration::from_millis(4))
        .jitter(Jitter::Decorrelated)
        .deadline(Duration::from_secs(3600))
        .build()
        .unwrap();
    let guard = Guard::new(Arc::clone(&breaker), retry)
        .with_budget(Arc::clone(&budget))
        .with_sleeper(ManualSleeper::new(clock.clone()));

    // The counter counts this thread (so a zero below means something), and only
    // this thread: another thread's allocations while we count are not ours.
    assert!(allocations_during(|| drop(std::hint::black_box(Box::new(1u64)))) >= 1);
    let other = std::thread::spawn(|| {
        for i in 0..1000u64 {
            drop(std::hint::black_box(vec![i; 16]));
        }
    });
    let ours = allocations_during(|| {
        for _ in 0..1000 {
            std::hint::spin_loop();
        }
    });
    other.join().unwrap();
    assert_eq!(ours, 0, "another thread's allocations were counted");

    // Breaker: healthy path, failures, trips, probes, operator calls: 10^6
    // operations including many transitions.
    let n = allocations_during(|| {
        for i in 0..1_000_000u32 {
            match breaker.try_acquire() {
                Ok(p) => {
                    let v = if i % 10 < 4 {
                        Verdict::failure()
                    } else {
                        Verdict::Success
                    };
                    let _ = p.record(v);
                }
                Err(_) => clock.advance(Duration::from_millis(1)),
            }
            if i % 100_000 == 0 {
                let _ = breaker.reset();
            }
        }
    });
    assert_eq!(n, 0, "breaker allocated");
    assert!(
        breaker.snapshot().epoch > 1000,
        "transitions were exercised"
    );

    // Owned permits: the healthy path (an `Arc` clone and release, no
    // allocation), then failures, trips, probes and cancellations.
    let _ = breaker.reset();
    let epoch = breaker.snapshot().epoch;
    let n = allocations_during(|| {
        for _ in 0..100_000u32 {
            let p = breaker.try_acquire_owned().expect("healthy");
            let _ = std::hint::black_box(p.record(Verdict::Success));
        }
    });
    assert_eq!(n, 0, "owned healthy path allocated");
    assert_eq!(
        breaker.snapshot().epoch,
        epoch,
        "stayed on the healthy path"
    );
    let n = allocations_during(|| {
        for i in 0..100_000u32 {
            match breaker.try_acquire_owned() {
                Ok(p) if i % 7 == 0 => drop(p),
                Ok(p) => {
                    let v = if i % 10 < 4 {
                        Verdict::failure()
                    } else {
                        Verdict::Success
                    };
                    let _ = p.record_timed(v, Duration::from_millis(1));
                }
                Err(_) => clock.advance(Duration::from_millis(1)),
            }
        }
    });
    assert_eq!(n, 0, "owned permits allocated");
    assert_eq!(
        Arc::strong_count(&breaker),
        2,
        "every owned permit released"
    );

    // Graded admission (draws, `Rejected::Shed`), decay claims with the clock
    // moving, and `record_timed` turning slow successes into failures.
    let graded = Breaker::builder()
        .health(0.5, 0.01, 1)
        .half_life(Duration::from_millis(64))
        .shed_below(0.9)
        .min_admit(0.05)
        .slow_call(Duration::from_millis(5), 1.0)
        .jitter_seed(5)
        .clock(clock.clone())
        .build()
        .unwrap();
    #[cfg(feature = "metrics")]
    fusebox::metrics::export(&graded);
    let (mut shed, mut admitted) = (0u32, 0u32);
    let n = allocations_during(|| {
        for i in 0..200_000u32 {
            match graded.try_acquire() {
                Ok(p) => {
                    admitted += 1;
                    let took = Duration::from_millis(u64::from(i % 8));
                    let v = if i % 3 == 0 {
                        Verdict::Ignored
                    } else {
                        Verdict::Success
                    };
                    let _ = p.record_timed(v, took);
                }
                Err(fusebox::Rejected::Shed) => shed += 1,
                Err(_) => {}
            }
            if i % 1000 == 0 {
                clock.advance(Duration::from_millis(1));
            }
            if i % 50_000 == 0 {
                let _ = graded.reset();
            }
        }
    });
    assert_eq!(n, 0, "graded admission, decay or record_timed allocated");
    assert!(
        shed > 1000 && admitted > 1000,
        "shed {shed}, admitted {admitted}"
    );

    let _ = breaker.reset();
    let n = allocations_during(|| {
        for i in 0..100_000u32 {
            let r: Result<u32, GuardError<u32>> = guard.call(|a| {
                if i % 2 == 0 || a.number > 1 {
                    Ok(a.number)
                } else {
                    Err(i)
                }
            });
            let _ = std::hint::black_box(r);
        }
    });
    assert_eq!(n, 0, "guard sync path allocated");

    // The async path, polled by a minimal executor (no-op waker; the manual
    // sleeper's futures are ready at once): nothing beyond the caller's futures,
    // which here are `Ready` and allocate nothing either.
    let n = allocations_during(|| {
        for i in 0..100_000u32 {
            let fut = guard.call_async(|a| {
                std::future::ready(if i % 2 == 0 || a.number > 1 {
                    Ok(a.number)
                } else {
                    Err(i)
                })
            });
            let r: Result<u32, GuardError<u32>> = block_on(fut);
            let _ = std::hint::black_box(r);
        }
    });
    assert_eq!(n, 0, "guard async path allocated");

    // The tower layer (feature `tower`): `call` + the response future, around a
    // `service_fn` whose futures are `Ready`; the readiness check first, as
    // tower's contract asks. Healthy and failing, with the guard's deadline
    // (each attempt races a timer). The `ManualSleeper` moves the clock by the
    // whole deadline when the timer is made, so every failure here stops at the
    // deadline, without a retry: see `no_allocation_per_layer_call` for the
    // retries.
    #[cfg(feature = "tower")]
    {
        use tower::{Layer, Service};
        let _ = breaker.reset();
        let mut svc =
            fusebox::tower::GuardLayer::new(guard.clone()).layer(tower::service_fn(|i: u32| {
                std::future::ready(if i & 1 == 0 { Ok(i) } else { Err(i) })
            }));
        let n = allocations_during(|| {
            for i in 0..100_000u32 {
                block_on(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
                let r: Result<u32, GuardError<u32>> = block_on(svc.call(i));
                let _ = std::hint::black_box(r);
            }
        });
        assert_eq!(n, 0, "tower layer allocated");
    }
    // The async path with no time limit: the lean first attempt.
    let lean = Guard::new(Arc::clone(&breaker), Retry::default())
        .with_sleeper(ManualSleeper::new(clock.clone()));
    let n = allocations_during(|| {
        for i in 0..100_000u32 {
            let fut = lean.call_async(|a| {
                std::future::ready(if i % 2 == 0 || a.number > 1 {
                    Ok(a.number)
                } else {
                    Err(i)
                })
            });
            let r: Result<u32, GuardError<u32>> = block_on(fut);
            let _ = std::hint::black_box(r);
        }
    });
    assert_eq!(n, 0, "guard async lean path allocated");

    // The hedged async path: every primary is pending at its first poll, the
    // manual sleeper's hedge timer is ready at once, so a hedge is sent (a
    // budget token, a permit), then the primary wins and the hedge is dropped.
    // The quantile policy records each winner's latency in its histogram.
    let hedged = Guard::new(Arc::clone(&breaker), Retry::default())
        .with_sleeper(ManualSleeper::new(clock.clone()))
        .with_budget(Arc::clone(&budget))
        .with_hedging(
            Hedge::builder()
                .at_quantile(0.9)
                .min_samples(1)
                .max_hedges(2)
                .build()
                .unwrap(),
        );
    let hedges = std::sync::atomic::AtomicU32::new(0);
    let n = allocations_during(|| {
        for i in 0..100_000u32 {
            let fut = hedged.call_async(|a| {
                if a.number > 1 {
                    hedges.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                PendingOnce(false, i)
            });
            let r: Result<u32, GuardError<u32>> = block_on(fut);
            let _ = std::hint::black_box(r);
        }
    });
    assert_eq!(n, 0, "guard async hedged path allocated");
    assert!(
        hedges.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the hedged path sent hedges"
    );

    let n = allocations_during(|| {
        for _ in 0..100_000 {
            budget.deposit();
            let _ = budget.try_withdraw();
        }
    });
    assert_eq!(n, 0, "budget allocated");
}

/// The tower layer's calls without a time limit (feature `tower`): a healthy
/// call, or one that stops after its first attempt, allocates nothing, through
/// the layered service and through a clone of it (once the clone has its own
/// handle, made at its second call); a call that retries allocates its retry
/// state once, whatever the number of retries.
#[cfg(feature = "tower")]
#[test]
fn no_allocation_per_layer_call() {
    use fusebox::Classification;
    use fusebox::tower::GuardLayer;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tower::{Layer, Service};

    let clock = ManualClock::new();
    let breaker = Arc::new(
        Breaker::builder()
            .trip_on_failure_rate(0.9, 100)
            .shed_below(0.0)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let retry = Retry::builder()
        .max_attempts(3)
        .constant_backoff(Duration::from_millis(1))
        .build()
        .unwrap();
    // With `metrics`, the breaker registers its handles once (see above).
    #[cfg(feature = "metrics")]
    fusebox::metrics::export(&breaker);
    let guard = Guard::new(Arc::clone(&breaker), retry)
        .with_sleeper(ManualSleeper::new(clock))
        .with_classifier(|r: &Result<u32, bool>| match r {
            Ok(_) => Classification::Success,
            Err(true) => Classification::failure(),
            Err(false) => Classification::permanent(),
        });
    // Requests `3k`: succeed; `3k + 1`: a permanent failure (no retry);
    // `3k + 2`: fail twice, then succeed (three attempts).
    let failures = Arc::new(AtomicU32::new(0));
    let svc = GuardLayer::new(guard).layer(tower::service_fn({
        let failures = Arc::clone(&failures);
        move |i: u32| {
            std::future::ready(match i % 3 {
                1 => Err(false),
                2 if failures.fetch_add(1, Ordering::Relaxed) % 3 != 2 => Err(true),
                _ => Ok(i),
            })
        }
    }));
    let mut clone = svc.clone();
    // The clone's first two calls: the second makes its handle.
    for i in [0, 3] {
        assert_eq!(block_on(clone.call(i)), Ok(i));
    }
    for mut svc in [svc, clone] {
        let n = allocations_during(|| {
            for i in (0..30_000u32).filter(|i| i % 3 != 2) {
                block_on(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
                let r = block_on(svc.call(i));
                assert_eq!(r.is_ok(), i % 3 == 0);
            }
        });
        assert_eq!(n, 0, "the tower layer allocated (healthy, or no retry)");
        let n = allocations_during(|| {
            for i in (0..30_000u32).filter(|i| i % 3 == 2) {
                block_on(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
                assert_eq!(block_on(svc.call(i)), Ok(i), "on the third attempt");
            }
        });
        assert_eq!(n, 10_000, "one allocation per call that retries");
    }
    assert_eq!(breaker.snapshot().state, fusebox::State::Closed);
}

/// The hedged tower layer (feature `tower`): no allocation per call at all,
/// whether the call answers at once, sends hedges, or retries (its attempts,
/// their timers and its retry state live in the response future).
#[cfg(feature = "tower")]
#[test]
fn no_allocation_per_hedged_layer_call() {
    use fusebox::Classification;
    use fusebox::tower::HedgedGuardLayer;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tower::{Layer, Service};

    /// Ready at once, or pending at its first poll; then `result`.
    struct Answer(bool, Result<u32, bool>);
    impl std::future::Future for Answer {
        type Output = Result<u32, bool>;
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<u32, bool>> {
            if self.0 {
                self.0 = false;
                cx.waker().wake_by_ref();
                return std::task::Poll::Pending;
            }
            std::task::Poll::Ready(self.1)
        }
    }

    let clock = ManualClock::new();
    let breaker = Arc::new(
        Breaker::builder()
            .trip_on_failure_rate(0.9, 100)
            .shed_below(0.0)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    #[cfg(feature = "metrics")]
    fusebox::metrics::export(&breaker);
    let retry = Retry::builder()
        .max_attempts(3)
        .constant_backoff(Duration::from_millis(1))
        .build()
        .unwrap();
    let hedged = Guard::new(Arc::clone(&breaker), retry)
        .with_sleeper(ManualSleeper::new(clock))
        .with_classifier(|r: &Result<u32, bool>| match r {
            Ok(_) => Classification::Success,
            Err(true) => Classification::failure(),
            Err(false) => Classification::permanent(),
        })
        .with_hedging(
            Hedge::builder()
                .at_quantile(0.9)
                .min_samples(1)
                .max_hedges(2)
                .max_extra_load(1.0)
                .build()
                .unwrap(),
        );
    // Requests `3k`: answer at once; `3k + 1`: pending at the first poll (the
    // manual sleeper's hedge timer is ready at once: a hedge goes out);
    // `3k + 2`: every attempt fails (retried to `max_attempts`).
    let attempts = Arc::new(AtomicU32::new(0));
    let mut svc = HedgedGuardLayer::new(hedged).layer(tower::service_fn({
        let attempts = Arc::clone(&attempts);
        move |i: u32| {
            attempts.fetch_add(1, Ordering::Relaxed);
            match i % 3 {
                0 => Answer(false, Ok(i)),
                1 => Answer(true, Ok(i)),
                _ => Answer(false, Err(true)),
            }
        }
    }));
    // The service's first call makes nothing more than any later one: warm
    // the breaker's metric handles and the histogram.
    block_on(svc.call(0)).unwrap();
    let n = allocations_during(|| {
        for i in 0..30_000u32 {
            block_on(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
            let r = block_on(svc.call(i));
            let _ = std::hint::black_box(r);
        }
    });
    assert_eq!(n, 0, "the hedged tower layer allocated");
    assert!(
        attempts.load(Ordering::Relaxed) > 30_000 + 10_000,
        "hedges and retries were made: {} attempts",
        attempts.load(Ordering::Relaxed)
    );
}

/// A registry hit (`get`, `with`, `guard`'s lookup) allocates nothing; only a
/// miss (a new key's entry) does.
#[cfg(feature = "registry")]
#[test]
fn no_allocation_per_registry_hit() {
    use fusebox::{Registry, Retry};

    let clock = ManualClock::new();
    let registry = Registry::<String>::builder()
        .budget(|_| RetryBudget::builder())
        .idle_after(Duration::from_secs(16))
        .clock(clock.clone())
        .build()
        .unwrap();
    let hosts: Vec<String> = (0..64)
        .map(|i| format!("host-{i}.example.com:443"))
        .collect();
    for host in &hosts {
        let _ = registry.get(host.as_str());
    }
    // Warm this thread's epoch slot in the map (made on a thread's first pin).
    let _ = registry.get(hosts[0].as_str());
    let retry = Retry::default();

    let n = allocations_during(|| {
        for i in 0..100_000usize {
            if i % 1000 == 0 {
                // A tick on, a sweep starts an epoch: the next hit on each entry
                // also writes its stamp. The sweep itself allocates nothing either.
                clock.advance(Duration::from_secs(1));
                assert_eq!(registry.evict_idle(), 0);
            }
            let host = hosts[i % hosts.len()].as_str();
            let entry = registry.get(host);
            if let Ok(permit) = entry.breaker().try_acquire() {
                let _ = permit.record(Verdict::Success);
            }
            registry.with(host, |e| std::hint::black_box(e.is_overflow()));
            let _ = std::hint::black_box(entry.guard(retry.clone()));
        }
    });
    assert_eq!(n, 0, "a registry hit allocated");
    assert_eq!(registry.len(), 64, "every lookup was a hit");

    // The counter does see a miss.
    let n = allocations_during(|| drop(registry.get("new.example.com")));
    assert!(n > 0);
}

/// The registry layer's hit path (features `tower` + `registry` + `http`):
/// the key borrowed from the request (`Authority` of an `http::Request`, or a
/// `key_ref` closure), the lookup, the permit and the response future allocate
/// nothing; only a key's first use does, and a call that retries allocates its
/// retry state once.
#[cfg(all(feature = "tower", feature = "registry", feature = "http"))]
#[test]
fn no_allocation_per_registry_layer_hit() {
    use fusebox::Registry;
    use fusebox::tower::{Authority, RegistryLayer, key_ref};
    use tower::{Layer, Service};

    let clock = ManualClock::new();
    let registry = Arc::new(
        Registry::<String>::builder()
            .breaker(|_| Breaker::builder().trip_after_consecutive_failures(1000))
            .budget(|_| RetryBudget::builder())
            .idle_after(Duration::from_secs(16))
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let retry = Retry::builder()
        .max_attempts(2)
        .constant_backoff(Duration::from_millis(1))
        .build()
        .unwrap();

    // `http::Request`s keyed by authority. A request is not `Clone` (and a copy
    // would allocate), so these get one attempt each.
    let mut http_svc = RegistryLayer::new(Arc::clone(&registry), Authority, retry.clone())
        .with_sleeper(ManualSleeper::new(clock.clone()))
        .clone_requests_with(|_: &http::Request<u32>| None)
        .layer(tower::service_fn(|req: http::Request<u32>| {
            let n = *req.body();
            std::future::ready(if n % 3 == 1 { Err(n) } else { Ok(n) })
        }));
    let hosts = ["http://a.example.com/", "http://b.example.com:8080/"];
    // Built up front: building a request allocates.
    let mut requests: Vec<http::Request<u32>> = (0..20_000u32)
        .map(|i| http::Request::get(hosts[i as usize % 2]).body(i).unwrap())
        .collect();
    // Retried requests, keyed by a `&str` they carry (a `key_ref` closure);
    // the calls that made a retry (the budget refuses most), counted.
    let retried = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut svc = RegistryLayer::new(
        Arc::clone(&registry),
        key_ref(|req: &(&'static str, u32)| req.0),
        retry,
    )
    .with_sleeper(ManualSleeper::new(clock.clone()))
    .on_stop({
        let retried = Arc::clone(&retried);
        move |outcome: &fusebox::Outcome<u32, u32>| {
            if outcome.attempts > 1 {
                retried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    })
    .layer(tower::service_fn(|req: (&'static str, u32)| {
        std::future::ready(if req.1 % 3 == 1 {
            Err(req.1)
        } else {
            Ok(req.1)
        })
    }));
    // First uses (they allocate) and this thread's epoch slot, outside the count.
    for host in hosts {
        let r = block_on(http_svc.call(http::Request::get(host).body(0).unwrap()));
        assert!(r.is_ok());
    }
    assert!(block_on(svc.call(("c.example.com", 0))).is_ok());
    assert_eq!(registry.len(), 3);
    // With `metrics`, a breaker and a budget register their handles once, at
    // their first event or export (see above): done here, outside the count.
    #[cfg(feature = "metrics")]
    registry.for_each(|_, entry| {
        fusebox::metrics::export(entry.breaker());
        fusebox::metrics::export_budget(entry.budget().unwrap());
    });

    let n = allocations_during(|| {
        for (i, request) in requests.drain(..).enumerate() {
            if i % 5000 == 0 {
                // Crossing ticks: the hit also writes the entry's last-use time.
                clock.advance(Duration::from_secs(1));
            }
            block_on(std::future::poll_fn(|cx| http_svc.poll_ready(cx))).unwrap();
            let r = block_on(http_svc.call(request));
            let _ = std::hint::black_box(r);
        }
    });
    assert_eq!(n, 0, "the registry layer (http, authority) allocated");
    // Healthy calls allocate nothing; a call that retries allocates its retry
    // state once, at its first retry (the response future keeps it out of line:
    // see `ResponseFuture`).
    let n = allocations_during(|| {
        for i in 0..20_000u32 {
            block_on(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
            let r = block_on(svc.call(("c.example.com", i)));
            let _ = std::hint::black_box(r);
        }
    });
    let retried = retried.load(std::sync::atomic::Ordering::Relaxed);
    assert!(retried > 0, "some calls retried");
    assert_eq!(
        n, retried,
        "the registry layer: one allocation per call that retried"
    );
    assert_eq!(registry.len(), 3, "every lookup was a hit");
    let c = registry.get("c.example.com");
    assert!(
        c.breaker().snapshot().samples > 0,
        "failures (and retries) happened"
    );
}
