//! The performance race: fusebox against the crates users would otherwise pick,
//! side by side in the same run, on 1, 2, 4 and 8 threads.
//!
//! Every case runs through one harness: `iter_custom` with `N` threads that each
//! set up (a tokio runtime, a service clone, ...) *before* a start `Barrier`, then
//! run `iters` operations back to back, then meet at an end `Barrier`; the time
//! given to criterion is the wall time between the two barriers. So the reported
//! time is **the wall time for every one of the N threads to complete one
//! operation** (all running at once), and the aggregate throughput is
//! `N / time` (criterion's `thrpt` line shows it too: each group declares
//! `Throughput::Elements(N)`). Perfect scaling shows the same time on every row.
//! The group `uncontended` is the same harness with one thread; `contended/2` uses
//! both cores of the 2-core machine BENCHMARKS.md is measured on, `contended/4` and `contended/8` are
//! oversubscribed. The run goes one family of cases at a time (see `FAMILIES`),
//! each on every thread count, with fresh subjects each time.
//!
//! The cases (BenchmarkId `case/subject`):
//!
//! - `floor/two_loads`: two `Acquire` loads of a shared, unmodified `AtomicU64`;
//!   `floor/one_cas`: one successful CAS on a shared word;
//! - `floor/checked_loads`: the least any guarded call can do on its healthy path,
//!   written by hand on a plain shared word: load it and branch on "admitted and
//!   healthy" (one mask, one compare) before the call, load it again after and
//!   branch on "unchanged" (one compare). A breaker has to look at its state
//!   before the call (to refuse when open) and after it (to count the outcome,
//!   and to know whether the outcome still belongs to the state it was admitted
//!   in); this is that, with nothing else;
//! - `floor/two_cas`: two successful CASes on a shared word: the least any retry
//!   budget that writes on both a deposit and a withdrawal can cost;
//!   `floor/clock_read`: one `MonotonicClock::now_nanos()` (fusebox's default
//!   clock, which a budget withdrawal reads only when the deposits do not cover it,
//!   to refill the time-based floor's own term);
//! - `healthy/*`: one guarded call that succeeds, Closed, full health: fusebox
//!   `try_acquire` + `record(Success)`; `fusebox-owned`, the same with an owned
//!   permit (`try_acquire_owned` + `record(Success)` on an `Arc<Breaker>`: the
//!   `Arc`'s count is incremented and decremented once per call, by every thread); failsafe 1.3 `CircuitBreaker::call` with
//!   `consecutive_failures(5, ..)` (`failsafe-consecutive`) and with the default
//!   policy of `Config::new()` (`failsafe-default`: a success rate over a 30 s
//!   window, or 5 consecutive failures); recloser 1.4 `Recloser::call` with its
//!   defaults; tower-resilience-circuitbreaker 0.14 (see below); and `mutex-seed`,
//!   a port of the naive retry-inside-breaker design (integer failure count,
//!   `last_failure_time` and state under one `std::sync::Mutex`, locked once to
//!   admit and once to report);
//! - `fail/*`: a failure that does not trip followed by a success: each iteration
//!   is **two guarded calls** (one `Err`, one `Ok`), for every subject alike.
//!   Every subject is configured so that this 50 % failure rate never trips:
//!   fusebox `trip_on_failure_rate(0.75, 100)`; failsafe `consecutive_failures(5)`
//!   (the success resets the count) and the default policy's shape with its
//!   required success rate set to 0 (so only 5 consecutive failures could trip);
//!   recloser and tower-resilience with a failure-rate threshold of 0.75; the
//!   seed port with a threshold of 5 consecutive failures. Each group checks at its
//!   end that every subject still admits calls;
//! - `half-open-busy/*`: the admission storm in `HalfOpen` with one probe allowed
//!   (tower-resilience's on 1 and 2 threads only: on the multi-thread runtime at 4
//!   threads its warm-up did not end in 14 minutes, not investigated),
//!   the probe in flight (never finished): every `try_acquire` is refused. fusebox,
//!   and tower-resilience (`permitted_calls_in_half_open(1)`, its probe a call
//!   whose inner future never completes). failsafe and recloser have no probe cap
//!   (half-open admits everyone), so they have no equivalent;
//!   `half-open-churn/fusebox`: the same storm where a thread that wins the probe
//!   slot finishes at once (`record(Ignored)`, which frees the slot and never
//!   closes the breaker), so the slot is taken and freed all the time;
//! - `guard/raw-call`: the raw healthy call (as `healthy/fusebox`) on the
//!   breaker of the `guard/fusebox` case, measured beside it so that the
//!   `Guard::call` / raw-call ratio compares two numbers of the same family;
//! - `guard/*`: a call through retry + breaker whose first attempt succeeds:
//!   fusebox `Guard::call` (default `Retry`: 3 attempts, exponential 100 ms x2 up
//!   to 10 s, full jitter; with a shared `RetryBudget`), against backon 1.x
//!   `BlockingRetryable` with an `ExponentialBuilder` configured the same way
//!   (100 ms, x2, 10 s, 2 retries, jitter) wrapping failsafe's `call`
//!   (`consecutive_failures(5)`) or recloser's `call`;
//! - `guard/fusebox-counted`, `guard/fusebox-counted-shared` (only with
//!   `--features metrics`, which also puts `guard/fusebox` on a build with the
//!   `metrics` feature, its successes not counted): the denominator's cost.
//!   `fusebox-counted` is `guard/fusebox` on a breaker that counts first-attempt
//!   successes (`fusebox::metrics::count_successes`: per-thread stripes, added to
//!   the counter in batches); `fusebox-counted-shared` is `guard/fusebox` followed
//!   by one `metrics::Counter::increment(1)` on a counter every thread shares,
//!   the design not chosen (the handle held, one atomic add on one line per
//!   call). The run installs a recorder of its own whose counters are atomics,
//!   as the Prometheus exporter's are;
//! - `mix/*-1pct`, `mix/*-5pct`: a steady error mix, one guarded call per
//!   iteration, its outcome set by the thread's own call counter `i`: a failure
//!   when `i % 100 == 0` (1 %) or `i % 20 == 0` (5 %), a success otherwise. The
//!   failures are spread: never two in a row on one thread, and the threads'
//!   counters start 37 apart (coprime with both periods), so no two of up to 20
//!   counters fail on the same call and no consecutive-failure policy trips. Each
//!   mix has a set of subjects of its own (fresh, as every group's): `fusebox`,
//!   `Guard::call` on a default breaker (`Breaker::builder().build()`) with
//!   `Retry::builder().max_attempts(1)`, so a failure is not retried (none of the
//!   peers retries either), the default classifier (an `Err` is a failure) and a
//!   shared default `RetryBudget` (as `guard/fusebox`: the two differ only in the
//!   attempts allowed and the failures); `fusebox-raw`, `try_acquire` +
//!   `record(Success | failure())` on a default breaker, the core without the
//!   guard on its degraded path (a failure takes health below full, and at the
//!   default `alpha` of 2/51 it takes about 350 successes to get back, so at
//!   either mix every verdict is computed and written, not only the failures);
//!   recloser 1.4 with its defaults (error rate 0.5 over 100 calls); failsafe
//!   with `consecutive_failures(5, ..)` (`failsafe-consecutive`, as above);
//!   tower-resilience with a failure-rate threshold of 0.5 (`tower_cb(0.5)`, its
//!   calls driven as below, an odd request failing). Every subject must stay
//!   closed and admit every call at both mixes: each counts the calls it
//!   refused (fusebox's `GuardError::Rejected`, a refused `try_acquire`,
//!   recloser's and failsafe's `Error::Rejected`, tower-resilience's
//!   `OpenCircuit`), and the group's end check fails the run if a count is not
//!   zero or a breaker is not closed: a case that measured rejections measured
//!   the wrong path;
//! - `async/*`: the async healthy path: `async/bare` awaits the downstream's
//!   future (an `async fn` that is ready at once) directly; `async/fusebox-call_async`
//!   awaits the same future through `Guard::call_async` (default `Retry`, a
//!   shared `RetryBudget`, no deadline or attempt timeout, so no timer is made).
//!   Both run `iters` awaits inside one `block_on` of a current-thread runtime;
//!   the difference is what `call_async` adds to an await. `async/permit-only`
//!   is the floor of any async guard: an `async` block that takes a permit,
//!   awaits the same future and records its verdict, with no retry logic;
//! - `budget/*`: a retry-budget deposit and withdrawal (one call's worth of
//!   budget bookkeeping): fusebox `RetryBudget` (`ratio(1.0)`, so the balance stays
//!   level and every withdrawal is covered by the deposits: no clock read) against
//!   tower 0.5's `TpsBudget` (`retry_percent` 1.0);
//! - `layer/*` (only with `--features tower`): one healthy request through a
//!   tower middleware around the same inner `service_fn` (immediately ready,
//!   `Ok`): `layer/bare`, the inner service alone (the driving loop's own cost);
//!   `layer/fusebox`, fusebox's `GuardLayer` (default `Retry`: 3 attempts, so each
//!   call also clones the request and the inner service for a possible retry; the
//!   default classifier; no budget); `layer/fusebox-registry` (also
//!   `--features registry`), its `RegistryLayer` over a `Registry<String>` of 64
//!   hosts (default breaker, no budget, default idle eviction; default `Retry`),
//!   each request keyed by one of them (a `&str` lookup per call, a hit);
//!   `layer/tower-resilience`, its
//!   `CircuitBreakerLayer` (failure-rate threshold 0.5). The middleware's overhead
//!   is a case's time minus `layer/bare`'s.
//!
//! tower-resilience-circuitbreaker is async only: its service (in the
//! `healthy/`, `fail/`, `half-open-busy/` and `mix/` cases) and every `layer/*`
//! service are measured around an inner `service_fn` whose future is
//! immediately ready; every operation is `svc.ready().await` then
//! `svc.call(req).await` on a clone of one shared service (clones share the
//! circuit). Where they run (`run_tower`):
//!
//! - on 1 thread, in a tokio current-thread runtime built before the start
//!   barrier, all `iters` calls inside one `block_on` on the harness thread, so
//!   the runtime's entry cost is not counted per call;
//! - on 2, 4 and 8 threads, in one tokio multi-thread runtime per group with as
//!   many workers as harness threads (built by the group's first such case,
//!   before its start barrier, and shared by all its harness threads). Each
//!   harness thread makes two clones of the service and their futures before the
//!   barrier, then spawns them as two tasks, each doing half of its `iters` on
//!   its own clone with its own call counter, and blocks until both end: the
//!   calls run on the workers, the harness threads only wait. tower-resilience's
//!   circuit sits behind a `tokio::sync::Mutex` that every call locks (closed
//!   too); a task that finds it held waits, and its worker runs another task
//!   meanwhile. With a current-thread runtime per harness thread (this harness
//!   before), the waiting task was its thread's only one, so the whole thread
//!   parked until woken, and the 2-thread medians of these cases ranged from 0.44
//!   to 49 µs from one run to the next. The 2+-thread rows so time the calls on
//!   the runtime a server runs them on, tokio's scheduler included; the
//!   `layer/bare` and `layer/fusebox*` rows are driven the same way, so the
//!   `layer/*` rows compare like with like, but a tower case's scaling (its
//!   1-thread row ran on a current-thread runtime) includes the change of runtime.
//!
//! The `async/*` cases keep a current-thread runtime per harness thread at every
//! thread count (fusebox's own future: nothing in it waits).
//!
//! Run: `cargo bench -p fusebox-benches --bench race --features tower` (about 30
//! minutes; without the feature, the `layer/*` cases are left out); a quick pass in
//! a few minutes:
//! `cargo bench -p fusebox-benches --bench race --features tower -- --quick --measurement-time 1 --noplot`;
//! one family:
//! `RACE_FILTER=layer/ RACE_THREADS=1,2 cargo bench -p fusebox-benches --bench race --features tower -- --noplot`
//! (or `RACE_FILTER=mix/` for the error mixes); the denominator's cost:
//! `RACE_FILTER=guard/ RACE_THREADS=1,2 cargo bench -p fusebox-benches --bench race --features metrics -- --noplot 'guard/(raw-call|fusebox)'`.
//! `scripts/bench-report.sh` runs it and writes `BENCHMARKS.md`.

use backon::{BlockingRetryable, ExponentialBuilder};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use failsafe::backoff::{self, EqualJittered};
use failsafe::failure_policy::{
    self, ConsecutiveFailures, FailurePolicy, OrElse, SuccessRateOverTimeWindow,
};
use failsafe::{CircuitBreaker as _, StateMachine};
use fusebox::{
    AsyncSleeper, Breaker, Clock as _, Guard, GuardError, ManualClock, MonotonicClock, Recorded,
    Retry, RetryBudget, Verdict,
};
use recloser::Recloser;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tower::retry::budget::{Budget as _, TpsBudget};
use tower::util::ServiceFn;
use tower::{Service, ServiceExt, service_fn};
use tower_resilience_circuitbreaker::{CircuitBreakerLayer, CircuitState, DefaultClassifier};

// ---------------------------------------------------------------------------
// The naive retry-inside-breaker design, ported: one mutex around its fields.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SeedState {
    Closed,
    Open,
    HalfOpen,
}

struct SeedFields {
    state: SeedState,
    failure_count: u32,
    success_count: u32,
    last_failure_time: Option<Instant>,
}

/// The naive design's `CircuitBreaker` behind a `std::sync::Mutex`: `execute`
/// checks the gate (locking once), runs the operation, then reports (locking
/// again): a success resets the failure count (or counts toward closing when
/// half-open); a failure bumps the count, stamps `last_failure_time` and opens at
/// the threshold; open becomes half-open when `recovery_timeout` has passed since
/// the last failure.
struct SeedBreaker {
    failure_threshold: u32,
    recovery_timeout: Duration,
    close_after: u32,
    fields: Mutex<SeedFields>,
}

impl SeedBreaker {
    fn new(failure_threshold: u32) -> Self {
        Self {
            failure_threshold,
            recovery_timeout: Duration::from_secs(30),
            close_after: 2,
            fields: Mutex::new(SeedFields {
                state: SeedState::Closed,
                failure_count: 0,
                success_count: 0,
                last_failure_time: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SeedFields> {
        self.fields.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn admit(&self) -> bool {
        let mut f = self.lock();
        if f.state == SeedState::Open {
            let elapsed = f.last_failure_time.map_or(Duration::MAX, |t| t.elapsed());
            if elapsed > self.recovery_timeout {
                f.state = SeedState::HalfOpen;
                f.success_count = 0;
            } else {
                return false;
            }
        }
        true
    }

    fn on_success(&self) {
        let mut f = self.lock();
        if f.state == SeedState::HalfOpen {
            f.success_count += 1;
            if f.success_count >= self.close_after {
                f.state = SeedState::Closed;
                f.failure_count = 0;
            }
        } else {
            f.failure_count = 0;
        }
    }

    fn on_failure(&self) {
        let mut f = self.lock();
        f.failure_count += 1;
        f.last_failure_time = Some(Instant::now());
        if f.failure_count >= self.failure_threshold {
            f.state = SeedState::Open;
        }
    }

    fn execute<T, E>(&self, op: impl FnOnce() -> Result<T, E>) -> Option<Result<T, E>> {
        if !self.admit() {
            return None;
        }
        let result = op();
        match &result {
            Ok(_) => self.on_success(),
            Err(_) => self.on_failure(),
        }
        Some(result)
    }

    fn is_closed(&self) -> bool {
        self.lock().state == SeedState::Closed
    }
}

// ---------------------------------------------------------------------------
// tower-resilience: an inner service whose futures are ready at once (or never).
// ---------------------------------------------------------------------------

/// The request that is never answered (holds a half-open probe forever).
const NEVER: u32 = u32::MAX;

/// The inner service's future: ready at once with `Ok` (even requests) or `Err`
/// (odd ones), or never ready (`NEVER`).
struct Answer(Option<Result<u32, ()>>);

impl Future for Answer {
    type Output = Result<u32, ()>;
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.0.take() {
            Some(answer) => Poll::Ready(answer),
            None => Poll::Pending,
        }
    }
}

fn answer(req: u32) -> Answer {
    Answer(match req {
        NEVER => None,
        odd if odd & 1 == 1 => Some(Err(())),
        even => Some(Ok(even)),
    })
}

type InnerSvc = ServiceFn<fn(u32) -> Answer>;
type TowerCb = tower_resilience_circuitbreaker::CircuitBreaker<InnerSvc, DefaultClassifier>;

fn inner_svc() -> InnerSvc {
    service_fn(answer as fn(u32) -> Answer)
}

fn tower_cb(failure_rate_threshold: f64) -> TowerCb {
    CircuitBreakerLayer::builder()
        .failure_rate_threshold(failure_rate_threshold)
        .build()
        .expect("valid tower-resilience config")
        .layer_fn(inner_svc())
}

/// A tower-resilience breaker in `HalfOpen` with its one probe slot taken by a
/// call that never finishes.
fn tower_half_open_busy() -> TowerCb {
    let mut svc = CircuitBreakerLayer::builder()
        .sliding_window_size(2)
        .minimum_number_of_calls(2)
        .failure_rate_threshold(0.5)
        .wait_duration_in_open(Duration::from_millis(1))
        .permitted_calls_in_half_open(1)
        .build()
        .expect("valid tower-resilience config")
        .layer_fn(inner_svc());
    let rt = runtime();
    rt.block_on(async {
        for _ in 0..2 {
            let _ = svc.ready().await.unwrap().call(1).await;
        }
    });
    assert!(svc.is_open(), "tower-resilience breaker tripped");
    std::thread::sleep(Duration::from_millis(5));
    rt.block_on(async {
        svc.ready().await.unwrap();
    });
    let _entered = rt.enter();
    let mut probe = svc.call(NEVER);
    // Poll once: the call takes the probe slot, then waits on `NEVER` forever.
    let mut cx = Context::from_waker(std::task::Waker::noop());
    assert!(probe.as_mut().poll(&mut cx).is_pending());
    assert_eq!(svc.state_sync(), CircuitState::HalfOpen);
    // The probe never finishes: its future (and so its slot) is kept for good.
    std::mem::forget(probe);
    svc
}

/// An [`AsyncSleeper`](fusebox::AsyncSleeper) on tokio's timer (the bench does
/// not need the crate's `tokio` feature for `TokioSleeper`).
#[cfg(feature = "tower")]
#[derive(Clone, Copy)]
struct BenchSleeper;

#[cfg(feature = "tower")]
impl fusebox::AsyncSleeper for BenchSleeper {
    type Sleep = tokio::time::Sleep;
    fn sleep(&self, duration: Duration) -> tokio::time::Sleep {
        tokio::time::sleep(duration)
    }
}

#[cfg(feature = "tower")]
type FuseboxLayered =
    fusebox::tower::GuardService<InnerSvc, fusebox::DefaultClassifier, BenchSleeper>;

/// fusebox's `GuardLayer` (default breaker, default `Retry`, no budget) around
/// the inner service.
#[cfg(feature = "tower")]
fn fusebox_layered() -> FuseboxLayered {
    use tower::Layer as _;
    let guard = Guard::new(
        Arc::new(Breaker::builder().build().unwrap()),
        Retry::default(),
    )
    .with_sleeper(BenchSleeper);
    fusebox::tower::GuardLayer::new(guard).layer(inner_svc())
}

#[cfg(all(feature = "tower", feature = "registry"))]
type FuseboxRegistryLayered = fusebox::tower::RegistryService<
    InnerSvc,
    String,
    fusebox::tower::KeyRef<fn(&u32) -> &str, str>,
    fusebox::DefaultClassifier,
    BenchSleeper,
>;

/// The 64 downstream hosts of `layer/fusebox-registry`.
#[cfg(all(feature = "tower", feature = "registry"))]
const HOSTS: [&str; 64] = {
    let mut hosts = [""; 64];
    let names = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r",
        "s", "t", "u", "v", "w", "x", "y", "z", "aa", "ab", "ac", "ad", "ae", "af", "ag", "ah",
        "ai", "aj", "ak", "al", "am", "an", "ao", "ap", "aq", "ar", "as", "at", "au", "av", "aw",
        "ax", "ay", "az", "ba", "bb", "bc", "bd", "be", "bf", "bg", "bh", "bi", "bj", "bk", "bl",
    ];
    let mut i = 0;
    while i < 64 {
        hosts[i] = names[i];
        i += 1;
    }
    hosts
};

/// The key of a `layer/*` request (`i << 1`): one of 64 hosts, borrowed.
#[cfg(all(feature = "tower", feature = "registry"))]
fn host_of(req: &u32) -> &str {
    HOSTS[(*req >> 1) as usize % HOSTS.len()]
}

/// fusebox's `RegistryLayer` (a `Registry<String>` with the default breaker, no
/// budget and the default idle eviction; default `Retry`) around the inner
/// service, each request keyed by one of 64 hosts (a `&str` looked up, no
/// allocation); every key made before the run.
#[cfg(all(feature = "tower", feature = "registry"))]
fn fusebox_registry_layered() -> FuseboxRegistryLayered {
    use tower::Layer as _;
    let registry = Arc::new(fusebox::Registry::<String>::builder().build().unwrap());
    for host in HOSTS {
        let _ = registry.get(host);
    }
    fusebox::tower::RegistryLayer::new(
        registry,
        fusebox::tower::key_ref(host_of as fn(&u32) -> &str),
        Retry::default(),
    )
    .with_sleeper(BenchSleeper)
    .layer(inner_svc())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime")
}

/// The runtime of the async peers at 2+ threads: `workers` worker threads (as
/// many as the harness threads), shared by every harness thread of one `Shared`.
fn multi_thread_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .expect("tokio multi-thread runtime")
}

// ---------------------------------------------------------------------------
// The subjects.
// ---------------------------------------------------------------------------

type FsConsecutive = StateMachine<ConsecutiveFailures<EqualJittered>, ()>;
type FsDefault = StateMachine<
    OrElse<SuccessRateOverTimeWindow<EqualJittered>, ConsecutiveFailures<EqualJittered>>,
    (),
>;

fn fs_consecutive() -> FsConsecutive {
    let backoff = backoff::equal_jittered(Duration::from_secs(10), Duration::from_secs(300));
    failsafe::Config::new()
        .failure_policy(failure_policy::consecutive_failures(5, backoff))
        .build()
}

/// failsafe's default policy shape with its required success rate set to `rate`.
fn fs_default_shape(rate: f64) -> FsDefault {
    let backoff = backoff::equal_jittered(Duration::from_secs(10), Duration::from_secs(300));
    let policy = failure_policy::success_rate_over_time_window(
        rate,
        5,
        Duration::from_secs(30),
        backoff.clone(),
    )
    .or_else(failure_policy::consecutive_failures(5, backoff));
    failsafe::Config::new().failure_policy(policy).build()
}

/// A fusebox breaker in `HalfOpen` with one probe allowed. With `busy`, its probe
/// is taken for good (the permit is forgotten, so never recorded nor cancelled).
fn fusebox_half_open(busy: bool) -> Breaker {
    let clock = ManualClock::new();
    let b = Breaker::builder()
        .trip_after_consecutive_failures(1)
        .open_for(Duration::from_secs(1))
        .open_jitter(0.0)
        .probes(1)
        .close_after(255)
        .clock(clock.clone())
        .build()
        .unwrap();
    let _ = b.try_acquire().unwrap().record(Verdict::failure());
    clock.advance(Duration::from_secs(2));
    let probe = b
        .try_acquire()
        .expect("the first caller after the deadline probes");
    if busy {
        std::mem::forget(probe);
    } else {
        let _ = probe.record(Verdict::Ignored);
    }
    b
}

// ---------------------------------------------------------------------------
// The error mix: a steady failure rate, failures spread out.
// ---------------------------------------------------------------------------

/// One failure every this many calls: `mix/*-1pct`.
const MIX_1PCT: u64 = 100;
/// One failure every this many calls: `mix/*-5pct`.
const MIX_5PCT: u64 = 20;

/// How far apart the call counters of two threads (or tasks) start: coprime
/// with both periods, so that any 20 counters started one after another fail on
/// different calls (the threads' failures interleave instead of coinciding; a
/// consecutive-failure policy sees them one at a time).
const COUNTER_STRIDE: u64 = 37;

/// Whether call `i` of a mix with one failure every `period` calls fails.
#[inline(always)]
fn mix_fails(i: u64, period: u64) -> bool {
    i.is_multiple_of(period)
}

/// The subjects of one error mix (one set for 1 %, one for 5 %), and the
/// rejections each of them handed out. Every count must stay zero: a case that
/// measured rejections measured the wrong path.
struct Mix {
    /// `Guard::call` on a default breaker, one attempt (no retry), the default
    /// classifier, a shared default `RetryBudget` (as `guard/fusebox`).
    guard: Guard,
    /// The raw permit on a default breaker.
    raw: Breaker,
    recloser: Recloser,
    failsafe: FsConsecutive,
    tower: TowerCb,
    rejected_guard: AtomicU64,
    rejected_raw: AtomicU64,
    rejected_recloser: AtomicU64,
    rejected_failsafe: AtomicU64,
    rejected_tower: AtomicU64,
}

impl Mix {
    fn new() -> Self {
        Self {
            guard: Guard::new(
                Arc::new(Breaker::builder().build().unwrap()),
                Retry::builder().max_attempts(1).build().unwrap(),
            )
            .with_budget(Arc::new(RetryBudget::builder().build().unwrap())),
            raw: Breaker::builder().build().unwrap(),
            recloser: Recloser::custom().build(),
            failsafe: fs_consecutive(),
            tower: tower_cb(0.5),
            rejected_guard: AtomicU64::new(0),
            rejected_raw: AtomicU64::new(0),
            rejected_recloser: AtomicU64::new(0),
            rejected_failsafe: AtomicU64::new(0),
            rejected_tower: AtomicU64::new(0),
        }
    }

    /// Every subject is still closed and none refused a call.
    fn check(&self, mix: &str) {
        use fusebox::State;
        for (subject, b) in [
            ("fusebox", &**self.guard.breaker()),
            ("fusebox-raw", &self.raw),
        ] {
            assert_eq!(
                b.snapshot().state,
                State::Closed,
                "mix/{subject}-{mix}: the breaker tripped"
            );
        }
        assert!(
            self.failsafe.is_call_permitted(),
            "mix/failsafe-consecutive-{mix}: the breaker tripped"
        );
        assert!(
            self.recloser.call(|| Ok::<(), ()>(())).is_ok(),
            "mix/recloser-{mix}: the breaker tripped"
        );
        assert_eq!(
            self.tower.state_sync(),
            CircuitState::Closed,
            "mix/tower-resilience-{mix}: the breaker tripped"
        );
        for (subject, count) in [
            ("fusebox", &self.rejected_guard),
            ("fusebox-raw", &self.rejected_raw),
            ("recloser", &self.rejected_recloser),
            ("failsafe-consecutive", &self.rejected_failsafe),
            ("tower-resilience", &self.rejected_tower),
        ] {
            let n = count.load(Ordering::Relaxed);
            assert_eq!(n, 0, "mix/{subject}-{mix}: {n} calls rejected");
        }
    }
}

struct Shared {
    /// The harness threads of this group.
    threads: usize,
    /// The multi-thread runtime of the tower cases at 2+ threads (made by the
    /// group's first such case; see `run_tower`).
    multi_rt: std::sync::OnceLock<tokio::runtime::Runtime>,
    /// Call counters handed out (see `counter_start`).
    counters: AtomicU64,
    word: AtomicU64,
    /// Only ever read (by `floor/checked_loads`): stays 0, "admitted and healthy".
    checked_word: AtomicU64,
    clock: MonotonicClock,
    // Healthy.
    fb: Breaker,
    /// As `fb`, in an `Arc`, for owned permits.
    fb_arc: Arc<Breaker>,
    /// As `fb`, after a failure burst and the successes that restore full health.
    fb_recovered: Breaker,
    fs_consecutive: FsConsecutive,
    fs_default: FsDefault,
    recloser: Recloser,
    tower: TowerCb,
    seed: SeedBreaker,
    // Failure path (configured never to trip on the alternation).
    fb_fail: Breaker,
    fs_consecutive_fail: FsConsecutive,
    fs_default_fail: FsDefault,
    recloser_fail: Recloser,
    tower_fail: TowerCb,
    seed_fail: SeedBreaker,
    // Half-open storms.
    fb_busy: Breaker,
    fb_churn: Breaker,
    tower_busy: TowerCb,
    // Retry + breaker.
    guard: Guard,
    backoff: ExponentialBuilder,
    fs_guard: FsConsecutive,
    recloser_guard: Recloser,
    // The async guard (sleeps never happen on the healthy path).
    guard_async: Guard<fusebox::DefaultClassifier, NoSleep>,
    // Budgets.
    budget: RetryBudget,
    tps: TpsBudget,
    // Tower middleware around the same inner service.
    #[cfg(feature = "tower")]
    layer_bare: InnerSvc,
    #[cfg(feature = "tower")]
    layer_fusebox: FuseboxLayered,
    #[cfg(feature = "tower")]
    layer_tower: TowerCb,
    #[cfg(all(feature = "tower", feature = "registry"))]
    layer_fusebox_registry: FuseboxRegistryLayered,
    // The error mixes.
    mix1: Mix,
    mix5: Mix,
    /// As `guard`, on a breaker that counts first-attempt successes.
    #[cfg(feature = "metrics")]
    guard_counted: Guard,
    /// A counter every thread increments (`guard/fusebox-counted-shared`).
    #[cfg(feature = "metrics")]
    shared_counter: metrics::Counter,
}

/// A default breaker that saw a burst of failures (one short of a trip), then the
/// successes that bring its health back to exactly full.
fn recovered_breaker() -> Breaker {
    let b = Breaker::builder().build().unwrap();
    for _ in 0..4 {
        let _ = b.try_acquire().unwrap().record(Verdict::failure());
    }
    assert!(b.snapshot().health < Some(1.0));
    for _ in 0..b.successes_to_full_health() {
        let _ = b.try_acquire().unwrap().record(Verdict::Success);
    }
    assert_eq!(b.snapshot().health, Some(1.0), "health returned to full");
    b
}

impl Shared {
    fn new(threads: usize) -> Self {
        Self {
            threads,
            multi_rt: std::sync::OnceLock::new(),
            counters: AtomicU64::new(0),
            word: AtomicU64::new(0),
            checked_word: AtomicU64::new(0),
            clock: MonotonicClock::new(),
            fb: Breaker::builder().build().unwrap(),
            fb_arc: Arc::new(Breaker::builder().build().unwrap()),
            fb_recovered: recovered_breaker(),
            fs_consecutive: fs_consecutive(),
            fs_default: failsafe::Config::new().build(),
            recloser: Recloser::custom().build(),
            tower: tower_cb(0.5),
            seed: SeedBreaker::new(5),
            fb_fail: Breaker::builder()
                .trip_on_failure_rate(0.75, 100)
                .build()
                .unwrap(),
            fs_consecutive_fail: fs_consecutive(),
            fs_default_fail: fs_default_shape(0.0),
            recloser_fail: Recloser::custom().error_rate(0.75).build(),
            tower_fail: tower_cb(0.75),
            seed_fail: SeedBreaker::new(5),
            fb_busy: fusebox_half_open(true),
            fb_churn: fusebox_half_open(false),
            tower_busy: tower_half_open_busy(),
            guard: Guard::new(
                Arc::new(Breaker::builder().build().unwrap()),
                Retry::default(),
            )
            .with_budget(Arc::new(RetryBudget::builder().build().unwrap())),
            guard_async: Guard::new(
                Arc::new(Breaker::builder().build().unwrap()),
                Retry::default(),
            )
            .with_budget(Arc::new(RetryBudget::builder().build().unwrap()))
            .with_sleeper(NoSleep),
            backoff: ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(100))
                .with_factor(2.0)
                .with_max_delay(Duration::from_secs(10))
                .with_max_times(2)
                .with_jitter(),
            fs_guard: fs_consecutive(),
            recloser_guard: Recloser::custom().build(),
            budget: RetryBudget::builder().ratio(1.0).build().unwrap(),
            tps: TpsBudget::new(Duration::from_secs(10), 10, 1.0),
            #[cfg(feature = "tower")]
            layer_bare: inner_svc(),
            #[cfg(feature = "tower")]
            layer_fusebox: fusebox_layered(),
            #[cfg(feature = "tower")]
            layer_tower: tower_cb(0.5),
            #[cfg(all(feature = "tower", feature = "registry"))]
            layer_fusebox_registry: fusebox_registry_layered(),
            mix1: Mix::new(),
            mix5: Mix::new(),
            #[cfg(feature = "metrics")]
            guard_counted: {
                let breaker = Arc::new(Breaker::builder().name("guard-counted").build().unwrap());
                fusebox::metrics::count_successes(&breaker);
                Guard::new(breaker, Retry::default())
                    .with_budget(Arc::new(RetryBudget::builder().build().unwrap()))
            },
            #[cfg(feature = "metrics")]
            shared_counter: metrics::counter!("bench_shared_total"),
        }
    }

    /// Where the next thread's (or task's) call counter starts.
    fn counter_start(&self) -> u64 {
        self.counters.fetch_add(1, Ordering::Relaxed) * COUNTER_STRIDE
    }

    /// Every breaker meant to stay closed still admits calls, and the storms are
    /// still storms: otherwise a case measured a rejection instead of its path.
    fn check(&self) {
        use fusebox::State;
        for b in [
            &self.fb,
            &*self.fb_arc,
            &self.fb_recovered,
            &self.fb_fail,
            self.guard.breaker(),
            #[cfg(feature = "metrics")]
            self.guard_counted.breaker(),
            #[cfg(feature = "tower")]
            self.layer_fusebox.guard().breaker(),
            self.guard_async.breaker(),
        ] {
            assert_eq!(
                b.snapshot().state,
                State::Closed,
                "a fusebox breaker tripped"
            );
        }
        #[cfg(all(feature = "tower", feature = "registry"))]
        {
            let registry = self.layer_fusebox_registry.registry();
            assert_eq!(registry.len(), HOSTS.len(), "a key missed");
            registry.for_each(|_, entry| {
                assert_eq!(entry.breaker().snapshot().state, State::Closed);
            });
        }
        assert!(
            checked_loads(&self.checked_word),
            "the checked floor took its refusal branch"
        );
        assert_eq!(self.fb_busy.snapshot().state, State::HalfOpen);
        assert_eq!(self.fb_churn.snapshot().state, State::HalfOpen);
        for fs in [
            &self.fs_consecutive,
            &self.fs_consecutive_fail,
            &self.fs_guard,
        ] {
            assert!(fs.is_call_permitted(), "a failsafe breaker tripped");
        }
        for fs in [&self.fs_default, &self.fs_default_fail] {
            assert!(fs.is_call_permitted(), "a failsafe breaker tripped");
        }
        for r in [&self.recloser, &self.recloser_fail, &self.recloser_guard] {
            assert!(
                r.call(|| Ok::<(), ()>(())).is_ok(),
                "a recloser breaker tripped"
            );
        }
        for t in [&self.tower, &self.tower_fail] {
            assert_eq!(
                t.state_sync(),
                CircuitState::Closed,
                "tower-resilience tripped"
            );
        }
        assert_eq!(self.tower_busy.state_sync(), CircuitState::HalfOpen);
        assert!(self.seed.is_closed() && self.seed_fail.is_closed());
        self.mix1.check("1pct");
        self.mix5.check("5pct");
    }
}

// ---------------------------------------------------------------------------
// The operations.
// ---------------------------------------------------------------------------

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

/// Bits of `word` that `checked_loads` reads as "the state": anything set there
/// means "not admitted, or not at full health" (the shape of fusebox's check:
/// state bits and payload against one expected pattern).
const CHECK_MASK: u64 = 0xffff_ffff_0000_0007;

#[inline(always)]
fn checked_loads(word: &AtomicU64) -> bool {
    let before = word.load(Ordering::Acquire);
    if before & CHECK_MASK != 0 {
        return false;
    }
    // ... the call runs here ...
    word.load(Ordering::Acquire) == before
}

#[inline(always)]
fn two_cas(word: &AtomicU64) {
    one_cas(word);
    one_cas(word);
}

#[inline(always)]
fn fusebox_call(b: &Breaker, verdict: Verdict) {
    if let Ok(p) = b.try_acquire() {
        black_box(matches!(p.record(verdict), Recorded::Stale));
    }
}

#[inline(always)]
fn fusebox_owned_call(b: &Arc<Breaker>, verdict: Verdict) {
    if let Ok(p) = b.try_acquire_owned() {
        black_box(matches!(p.record(verdict), Recorded::Stale));
    }
}

#[inline(always)]
fn failsafe_call(cb: &impl failsafe::CircuitBreaker, ok: bool) {
    let r = cb.call(|| if ok { Ok(1u32) } else { Err(()) });
    black_box(r.is_ok());
}

#[inline(always)]
fn recloser_call(r: &Recloser, ok: bool) {
    let r = r.call(|| if ok { Ok(1u32) } else { Err(()) });
    black_box(r.is_ok());
}

#[inline(always)]
fn seed_call(s: &SeedBreaker, ok: bool) {
    let r = s.execute(|| if ok { Ok(1u32) } else { Err(()) });
    black_box(matches!(r, Some(Ok(_))));
}

async fn tower_call<S: Service<u32>>(svc: &mut S, req: u32) {
    let r = match svc.ready().await {
        Ok(ready) => ready.call(req).await,
        Err(e) => Err(e),
    };
    black_box(r.is_ok());
}

#[inline(always)]
fn guard_call(g: &Guard) {
    let r: Result<u32, GuardError<()>> = g.call(|a| Ok(a.number));
    black_box(r.is_ok());
}

#[inline(always)]
fn backon_failsafe(s: &Shared) {
    let r = (|| s.fs_guard.call(|| Ok::<u32, ()>(1)))
        .retry(&s.backoff)
        .call();
    black_box(r.is_ok());
}

#[inline(always)]
fn backon_recloser(s: &Shared) {
    let r = (|| s.recloser_guard.call(|| Ok::<u32, ()>(1)))
        .retry(&s.backoff)
        .call();
    black_box(r.is_ok());
}

/// One call of `mix/fusebox-*`: `Guard::call` (one attempt) whose operation
/// fails when `fail`; a rejection is counted.
#[inline(always)]
fn mix_guard(m: &Mix, fail: bool) {
    let r: Result<u32, GuardError<()>> =
        m.guard.call(|a| if fail { Err(()) } else { Ok(a.number) });
    if let Err(GuardError::Rejected { .. }) = r {
        m.rejected_guard.fetch_add(1, Ordering::Relaxed);
    }
    black_box(r.is_ok());
}

/// One call of `mix/fusebox-raw-*`: a permit and its verdict; a refused permit
/// is counted.
#[inline(always)]
fn mix_raw(m: &Mix, fail: bool) {
    match m.raw.try_acquire() {
        Ok(p) => {
            let verdict = if fail {
                Verdict::failure()
            } else {
                Verdict::Success
            };
            black_box(matches!(p.record(verdict), Recorded::Stale));
        }
        Err(_) => {
            m.rejected_raw.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[inline(always)]
fn mix_recloser(m: &Mix, fail: bool) {
    let r = m.recloser.call(|| if fail { Err(()) } else { Ok(1u32) });
    if let Err(recloser::Error::Rejected) = r {
        m.rejected_recloser.fetch_add(1, Ordering::Relaxed);
    }
    black_box(r.is_ok());
}

#[inline(always)]
fn mix_failsafe(m: &Mix, fail: bool) {
    let r = m.failsafe.call(|| if fail { Err(()) } else { Ok(1u32) });
    if let Err(failsafe::Error::Rejected) = r {
        m.rejected_failsafe.fetch_add(1, Ordering::Relaxed);
    }
    black_box(r.is_ok());
}

/// One call of `mix/tower-resilience-*` (an odd request fails); whether the
/// circuit refused it.
async fn mix_tower(svc: &mut TowerCb, i: u64, fail: bool) -> bool {
    let req = ((i as u32) << 1) | fail as u32;
    let r = match svc.ready().await {
        Ok(ready) => ready.call(req).await,
        Err(e) => Err(e),
    };
    black_box(r.is_ok());
    matches!(r, Err(e) if e.is_circuit_open())
}

/// The downstream of the async cases: an `async fn` whose future is ready at
/// its first poll.
async fn async_op(i: u32) -> Result<u32, ()> {
    Ok(i)
}

/// An async sleeper that does not wait (the healthy path never sleeps).
#[derive(Clone, Copy, Debug)]
struct NoSleep;

impl AsyncSleeper for NoSleep {
    type Sleep = std::future::Ready<()>;
    fn sleep(&self, _: Duration) -> Self::Sleep {
        std::future::ready(())
    }
}

/// A case run inside one current-thread `block_on` per thread: `$body` is an
/// `async` expression awaited `iters` times.
macro_rules! async_case {
    ($name:expr, |$s:ident, $i:ident| $body:expr) => {
        (
            $name,
            (|$s: &Shared, iters: u64, start: &Barrier| {
                let rt = runtime();
                start.wait();
                rt.block_on(async {
                    for $i in 0..iters {
                        black_box($body.await.is_ok());
                    }
                });
            }) as Run,
        )
    };
}

// ---------------------------------------------------------------------------
// The harness.
// ---------------------------------------------------------------------------

/// One case: run `iters` operations on `shared`, waiting on `start` once set up.
type Run = fn(&Shared, u64, &Barrier);

/// A case whose operation is a plain function of the shared subjects.
macro_rules! sync_case {
    ($name:expr, |$s:ident| $body:expr) => {
        (
            $name,
            (|$s: &Shared, iters: u64, start: &Barrier| {
                start.wait();
                for _ in 0..iters {
                    $body;
                }
            }) as Run,
        )
    };
}

/// Run `iters` operations on clones of the async tower service `svc` (the clones
/// share its circuit): `drive(clone, from, to)` does operations `from..to` (the
/// values of its call counter) on one clone and returns how many were refused;
/// `run_tower` returns the sum.
///
/// On 1 thread: a current-thread runtime and the clone made before the start
/// barrier, all `iters` operations inside one `block_on` on the harness thread.
/// On 2+ threads: the group's multi-thread runtime (`threads` workers, shared by
/// every harness thread); each harness thread makes two clones and their
/// futures before the barrier, then spawns them as two tasks (each doing half of
/// its `iters`, with its own call counter) and blocks until both end. So a worker
/// whose task waits (on tower-resilience's async mutex) runs another task
/// instead of parking its thread.
fn run_tower<S, F, Fut>(s: &Shared, svc: &S, iters: u64, start: &Barrier, drive: F) -> u64
where
    S: Clone,
    F: Fn(S, u64, u64) -> Fut,
    Fut: Future<Output = u64> + Send + 'static,
{
    let first = s.counter_start();
    if s.threads == 1 {
        let rt = runtime();
        let run = drive(svc.clone(), first, first + iters);
        start.wait();
        return rt.block_on(run);
    }
    let rt = s.multi_rt.get_or_init(|| multi_thread_runtime(s.threads));
    let half = iters / 2;
    let second = s.counter_start();
    let a = drive(svc.clone(), first, first + half);
    let b = drive(svc.clone(), second, second + (iters - half));
    start.wait();
    let (a, b) = (rt.spawn(a), rt.spawn(b));
    rt.block_on(async { a.await.expect("task a") + b.await.expect("task b") })
}

/// A healthy (or refused) tower case: `iters` calls of `$req` (a function of the
/// call counter `$i`) on clones of `s.$field` (see `run_tower`).
macro_rules! tower_case {
    ($name:expr, $field:ident, |$i:ident| $req:expr) => {
        (
            $name,
            (|s: &Shared, iters: u64, start: &Barrier| {
                run_tower(s, &s.$field, iters, start, |mut svc, from, to| async move {
                    for $i in from..to {
                        tower_call(&mut svc, $req).await;
                    }
                    0
                });
            }) as Run,
        )
    };
}

/// A `mix/*` case of a synchronous subject: `iters` calls, call `i` of this
/// thread's counter failing when `mix_fails(i, $period)`.
macro_rules! mix_case {
    ($name:expr, $period:expr, |$s:ident, $fail:ident| $body:expr) => {
        (
            $name,
            (|$s: &Shared, iters: u64, start: &Barrier| {
                let first = $s.counter_start();
                start.wait();
                for i in first..first + iters {
                    let $fail = mix_fails(i, $period);
                    $body;
                }
            }) as Run,
        )
    };
}

/// `mix/tower-resilience-*`: as `mix_case!`, through `run_tower`; the refused
/// calls are counted in the mix's `rejected_tower`.
macro_rules! tower_mix_case {
    ($name:expr, $mix:ident, $period:expr) => {
        (
            $name,
            (|s: &Shared, iters: u64, start: &Barrier| {
                let refused = run_tower(
                    s,
                    &s.$mix.tower,
                    iters,
                    start,
                    |mut svc, from, to| async move {
                        let mut refused = 0;
                        for i in from..to {
                            refused +=
                                u64::from(mix_tower(&mut svc, i, mix_fails(i, $period)).await);
                        }
                        refused
                    },
                );
                s.$mix.rejected_tower.fetch_add(refused, Ordering::Relaxed);
            }) as Run,
        )
    };
}

const CASES: &[(&str, Run)] = &[
    sync_case!("floor/two_loads", |s| black_box(two_loads(&s.word))),
    sync_case!("floor/one_cas", |s| one_cas(&s.word)),
    sync_case!("floor/checked_loads", |s| black_box(checked_loads(
        &s.checked_word
    ))),
    sync_case!("floor/two_cas", |s| two_cas(&s.word)),
    sync_case!("floor/clock_read", |s| black_box(s.clock.now_nanos())),
    // Healthy: one successful guarded call.
    sync_case!("healthy/fusebox", |s| fusebox_call(&s.fb, Verdict::Success)),
    // The same call with an owned permit (an `Arc` clone and release per call).
    sync_case!("healthy/fusebox-owned", |s| fusebox_owned_call(
        &s.fb_arc,
        Verdict::Success
    )),
    // The same call on a breaker that saw failures and recovered: it must be back
    // on the same read-only path (health returns to exactly full).
    sync_case!("healthy/fusebox-after-failure", |s| fusebox_call(
        &s.fb_recovered,
        Verdict::Success
    )),
    sync_case!("healthy/failsafe-consecutive", |s| failsafe_call(
        &s.fs_consecutive,
        true
    )),
    sync_case!("healthy/failsafe-default", |s| failsafe_call(
        &s.fs_default,
        true
    )),
    sync_case!("healthy/recloser", |s| recloser_call(&s.recloser, true)),
    tower_case!("healthy/tower-resilience", tower, |i| (i as u32) << 1),
    sync_case!("healthy/mutex-seed", |s| seed_call(&s.seed, true)),
    // Failure path: one failed call that does not trip, then one successful call.
    sync_case!("fail/fusebox", |s| {
        fusebox_call(&s.fb_fail, Verdict::failure());
        fusebox_call(&s.fb_fail, Verdict::Success)
    }),
    sync_case!("fail/failsafe-consecutive", |s| {
        failsafe_call(&s.fs_consecutive_fail, false);
        failsafe_call(&s.fs_consecutive_fail, true)
    }),
    sync_case!("fail/failsafe-default", |s| {
        failsafe_call(&s.fs_default_fail, false);
        failsafe_call(&s.fs_default_fail, true)
    }),
    sync_case!("fail/recloser", |s| {
        recloser_call(&s.recloser_fail, false);
        recloser_call(&s.recloser_fail, true)
    }),
    (
        "fail/tower-resilience",
        (|s: &Shared, iters: u64, start: &Barrier| {
            run_tower(
                s,
                &s.tower_fail,
                iters,
                start,
                |mut svc, from, to| async move {
                    for _ in from..to {
                        tower_call(&mut svc, 1).await;
                        tower_call(&mut svc, 2).await;
                    }
                    0
                },
            );
        }) as Run,
    ),
    sync_case!("fail/mutex-seed", |s| {
        seed_call(&s.seed_fail, false);
        seed_call(&s.seed_fail, true)
    }),
    // Half-open admission storms, one probe allowed.
    sync_case!("half-open-busy/fusebox", |s| {
        black_box(s.fb_busy.try_acquire().is_ok());
    }),
    tower_case!("half-open-busy/tower-resilience", tower_busy, |i| (i
        as u32)
        << 1),
    sync_case!("half-open-churn/fusebox", |s| fusebox_call(
        &s.fb_churn,
        Verdict::Ignored
    )),
    // Retry + breaker, first attempt succeeds.
    sync_case!("guard/raw-call", |s| fusebox_call(
        s.guard.breaker(),
        Verdict::Success
    )),
    sync_case!("guard/fusebox", |s| guard_call(&s.guard)),
    sync_case!("guard/backon+failsafe", |s| backon_failsafe(s)),
    sync_case!("guard/backon+recloser", |s| backon_recloser(s)),
    // Error mix: one call per iteration, 1 % or 5 % of them failing (spread).
    mix_case!("mix/fusebox-1pct", MIX_1PCT, |s, fail| mix_guard(
        &s.mix1, fail
    )),
    mix_case!("mix/fusebox-5pct", MIX_5PCT, |s, fail| mix_guard(
        &s.mix5, fail
    )),
    mix_case!("mix/fusebox-raw-1pct", MIX_1PCT, |s, fail| mix_raw(
        &s.mix1, fail
    )),
    mix_case!("mix/fusebox-raw-5pct", MIX_5PCT, |s, fail| mix_raw(
        &s.mix5, fail
    )),
    mix_case!("mix/recloser-1pct", MIX_1PCT, |s, fail| mix_recloser(
        &s.mix1, fail
    )),
    mix_case!("mix/recloser-5pct", MIX_5PCT, |s, fail| mix_recloser(
        &s.mix5, fail
    )),
    mix_case!("mix/failsafe-consecutive-1pct", MIX_1PCT, |s, fail| {
        mix_failsafe(&s.mix1, fail)
    }),
    mix_case!("mix/failsafe-consecutive-5pct", MIX_5PCT, |s, fail| {
        mix_failsafe(&s.mix5, fail)
    }),
    tower_mix_case!("mix/tower-resilience-1pct", mix1, MIX_1PCT),
    tower_mix_case!("mix/tower-resilience-5pct", mix5, MIX_5PCT),
    // Async: the bare downstream future, and the same through `call_async`.
    async_case!("async/bare", |_s, i| async_op(black_box(i as u32))),
    // The least an async guard can do: a permit around the await, no retry.
    async_case!("async/permit-only", |s, i| async {
        let permit = s.guard_async.breaker().try_acquire();
        let r = async_op(black_box(i as u32)).await;
        if let Ok(permit) = permit {
            let _ = permit.record(if r.is_ok() {
                Verdict::Success
            } else {
                Verdict::failure()
            });
        }
        r
    }),
    async_case!("async/fusebox-call_async", |s, i| s
        .guard_async
        .call_async(|_| async_op(black_box(i as u32)))),
    // Retry budget: one deposit and one withdrawal.
    sync_case!("budget/fusebox", |s| {
        s.budget.deposit();
        black_box(s.budget.try_withdraw())
    }),
    sync_case!("budget/tower-tps", |s| {
        s.tps.deposit();
        black_box(s.tps.withdraw())
    }),
];

/// Tower middleware around the same inner service, healthy (even requests).
#[cfg(feature = "tower")]
const LAYER_CASES: &[(&str, Run)] = &[
    tower_case!("layer/bare", layer_bare, |i| (i as u32) << 1),
    tower_case!("layer/fusebox", layer_fusebox, |i| (i as u32) << 1),
    #[cfg(feature = "registry")]
    tower_case!("layer/fusebox-registry", layer_fusebox_registry, |i| (i
        as u32)
        << 1),
    tower_case!("layer/tower-resilience", layer_tower, |i| (i as u32) << 1),
];
#[cfg(not(feature = "tower"))]
const LAYER_CASES: &[(&str, Run)] = &[];

/// The denominator: first-attempt successes counted (striped), and the design
/// not chosen (one shared counter).
#[cfg(feature = "metrics")]
const METRICS_CASES: &[(&str, Run)] = &[
    sync_case!("guard/fusebox-counted", |s| guard_call(&s.guard_counted)),
    sync_case!("guard/fusebox-counted-shared", |s| {
        guard_call(&s.guard);
        s.shared_counter.increment(1)
    }),
];
#[cfg(not(feature = "metrics"))]
const METRICS_CASES: &[(&str, Run)] = &[];

/// The run's `metrics` recorder: every counter and gauge an atomic, as the
/// Prometheus exporter's are (so that a counted case pays what it would in a
/// service), one per series: the tests' own (`tests/metrics_support`).
#[cfg(feature = "metrics")]
#[path = "../tests/metrics_support/mod.rs"]
mod recorder;

/// Wall time for `threads` threads to each run `iters` operations of `run`.
fn run_threads(s: &Shared, threads: usize, iters: u64, run: Run) -> Duration {
    let start = Barrier::new(threads + 1);
    let end = Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                run(s, iters, &start);
                end.wait();
            });
        }
        start.wait();
        let t0 = Instant::now();
        end.wait();
        t0.elapsed()
    })
}

/// Restrict the run to cases whose name contains `RACE_FILTER` (a quick way to
/// rerun one family, e.g. `RACE_FILTER=healthy/`), and the thread counts to
/// `RACE_THREADS` (comma-separated, e.g. `1,2`).
fn selected(name: &str) -> bool {
    std::env::var("RACE_FILTER").map_or(true, |f| name.contains(&f))
}

fn thread_counts() -> Vec<usize> {
    match std::env::var("RACE_THREADS") {
        Ok(list) => list
            .split(',')
            .filter_map(|t| t.trim().parse().ok())
            .collect(),
        Err(_) => vec![1, 2, 4, 8],
    }
}

/// The order of the run: one family of cases at a time, each on 1, 2, 4 and 8
/// threads before the next family starts, so that the numbers a ratio compares
/// (peers against fusebox at one thread count, one thread count against another,
/// the healthy call against its floor) are measured minutes apart at most, not a
/// whole run apart: on a shared machine the background load drifts. Each family
/// lists case-name prefixes; a floor is measured with the family it bounds.
const FAMILIES: &[&[&str]] = &[
    &["floor/two_loads", "floor/checked_loads", "healthy/"],
    &["guard/"],
    &["mix/"],
    &["async/"],
    &["floor/one_cas", "fail/"],
    &["floor/two_cas", "floor/clock_read", "budget/"],
    &["half-open-"],
    &["layer/"],
];

fn race(c: &mut Criterion) {
    // The recorder, installed once, before any subject is built.
    #[cfg(feature = "metrics")]
    let _ = recorder::store();
    for family in FAMILIES {
        for threads in thread_counts() {
            // Fresh subjects for every family and thread count.
            let s = Shared::new(threads);
            let group_name = if threads == 1 {
                "uncontended".to_string()
            } else {
                format!("contended/{threads}")
            };
            let mut group = c.benchmark_group(group_name);
            group.throughput(Throughput::Elements(threads as u64));
            for &(name, run) in CASES.iter().chain(LAYER_CASES).chain(METRICS_CASES) {
                if !family.iter().any(|prefix| name.starts_with(prefix)) || !selected(name) {
                    continue;
                }
                if name == "half-open-busy/tower-resilience" && threads > 2 {
                    // On the multi-thread runtime at 4 threads its warm-up did
                    // not end in 14 minutes (2026-12-07; not investigated): left
                    // out beyond 2 threads rather than stall the run.
                    continue;
                }
                group.bench_function(BenchmarkId::from_parameter(name), |b| {
                    b.iter_custom(|iters| run_threads(&s, threads, iters, run))
                });
            }
            group.finish();
            s.check();
        }
    }
}

criterion_group!(benches, race);
criterion_main!(benches);
