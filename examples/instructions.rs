//! Runs one hot path `N` times, for counting instructions per operation under
//! callgrind (see `scripts/instructions.sh`, which runs it for two values of `N`
//! and divides the difference, so that start-up cost cancels).
//!
//! ```text
//! cargo run --release --example instructions -- PATH N
//! ```
//!
//! PATH is one of:
//!
//! - `floor`: two `Acquire` loads of a shared word (the reference point);
//! - `checked`: the least a guarded call can do on its healthy path, by hand on a
//!   plain word (load, mask, compare, branch before the call; load, compare,
//!   branch after it), as the race bench's `floor/checked_loads`;
//! - `clock`: one read of the default `MonotonicClock`;
//! - `healthy`: `try_acquire` + `record(Success)`, Closed at full health;
//! - `owned`: the same with an owned permit, `try_acquire_owned` +
//!   `record(Success)` on an `Arc<Breaker>` (the `Arc`'s count is incremented and
//!   decremented once per call), as the race bench's `healthy/fusebox-owned`;
//! - `healthy-after-failure`: the same, on a breaker that saw a burst of four
//!   failures and then the successes that restore full health (as the race
//!   bench's `healthy/fusebox-after-failure`);
//! - `fail`: a failure that does not trip, then a success (two calls, as in the
//!   race bench's `fail/*` cases);
//! - `guard`: `Guard::call` whose operation succeeds at once (default `Retry`,
//!   with a shared `RetryBudget`), as in the race bench's `guard/fusebox`;
//! - `mix1`, `mix5`: `Guard::call` under a steady error mix, as the race
//!   bench's `mix/fusebox-1pct` and `mix/fusebox-5pct`: a default breaker, a
//!   `Retry` of one attempt (a failure is not retried), the default classifier
//!   and a shared `RetryBudget`; call `i` fails when `i % 100 == 0` (`mix1`) or
//!   `i % 20 == 0` (`mix5`). Instructions per call, the failures' share
//!   included;
//! - `mix1-raw`: the raw permit at 1 %, `try_acquire` + `record(Success |
//!   failure())` on a default breaker, as `mix/fusebox-raw-1pct`;
//! - `budget`: a retry-budget deposit and withdrawal;
//! - `layer-bare`, `layer`, `layer-hedged`, `layer-registry` (feature `tower`,
//!   and `registry` for the last): one healthy request (`poll_ready`, `call`,
//!   one poll of the response future, which is ready) through the inner
//!   `service_fn` alone, through `GuardLayer` (default breaker and `Retry`, no
//!   budget), through `HedgedGuardLayer` (the same guard with the default
//!   `Hedge`, primed: the hedge armed, never sent), and through `RegistryLayer`
//!   (16 keys, `&str` lookups), as the race bench's `layer/*` cases; a layer's
//!   cost is its count minus `layer-bare`'s. `layer-size` prints the response
//!   futures' sizes instead. (Building a `Hedge` calibrates quanta's clock
//!   once, which under callgrind reads the OS clock a varying number of
//!   times: `layer-hedged`'s count moves by a few instructions from run to
//!   run.)
//!
//! Each iteration also pays for the loop itself (a counter increment and a
//! branch) and for `black_box` of one bool from the result (a store), as the race
//! bench does. The breaker paths use a `ManualClock` (they never read the clock;
//! the default clock's calibration at construction varies from run to run by
//! millions of instructions, which would not cancel); the budget uses the default
//! clock, as the race bench does (its withdrawals here are covered by its deposits
//! and never read it). A `ManualClock` that never moves is one difference from the
//! race on the `mix*` paths: below full health a failure brings health up to date
//! with time (a success reads no clock), which here reads the manual clock (a
//! load) where the race reads the default clock (`clock`), and never finds a
//! tick of decay to apply. Every `mix*` path checks at its end that no call was refused
//! and the breaker is still closed.

use fusebox::{
    Breaker, Clock as _, Guard, GuardError, ManualClock, MonotonicClock, Recorded, Retry,
    RetryBudget, Verdict,
};
use std::hint::black_box;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(n)) = (
        args.first(),
        args.get(1).and_then(|n| n.parse::<u64>().ok()),
    ) else {
        eprintln!(
            "usage: instructions floor|checked|clock|healthy|owned|healthy-after-failure|fail|guard|mix1|mix5|mix1-raw|budget|layer-bare|layer|layer-hedged|layer-registry|layer-size N"
        );
        return ExitCode::FAILURE;
    };
    match path.as_str() {
        "floor" => {
            let word = black_box(AtomicU64::new(0));
            for _ in 0..n {
                black_box(word.load(Ordering::Acquire) ^ word.load(Ordering::Acquire));
            }
        }
        "checked" => {
            let word = black_box(AtomicU64::new(0));
            for _ in 0..n {
                let before = word.load(Ordering::Acquire);
                let ok =
                    before & 0xffff_ffff_0000_0007 == 0 && word.load(Ordering::Acquire) == before;
                black_box(ok);
            }
        }
        "clock" => {
            let clock = MonotonicClock::new();
            for _ in 0..n {
                black_box(clock.now_nanos());
            }
        }
        "healthy" => {
            let b = Breaker::builder()
                .clock(ManualClock::new())
                .build()
                .unwrap();
            for _ in 0..n {
                if let Ok(p) = b.try_acquire() {
                    black_box(matches!(p.record(Verdict::Success), Recorded::Stale));
                }
            }
        }
        "owned" => {
            let b = Arc::new(
                Breaker::builder()
                    .clock(ManualClock::new())
                    .build()
                    .unwrap(),
            );
            for _ in 0..n {
                if let Ok(p) = b.try_acquire_owned() {
                    black_box(matches!(p.record(Verdict::Success), Recorded::Stale));
                }
            }
        }
        "healthy-after-failure" => {
            let b = Breaker::builder()
                .clock(ManualClock::new())
                .build()
                .unwrap();
            for _ in 0..4 {
                let _ = b.try_acquire().unwrap().record(Verdict::failure());
            }
            for _ in 0..b.successes_to_full_health() {
                let _ = b.try_acquire().unwrap().record(Verdict::Success);
            }
            assert_eq!(b.snapshot().health, Some(1.0));
            for _ in 0..n {
                if let Ok(p) = b.try_acquire() {
                    black_box(matches!(p.record(Verdict::Success), Recorded::Stale));
                }
            }
        }
        "fail" => {
            let b = Breaker::builder()
                .trip_on_failure_rate(0.75, 100)
                .clock(ManualClock::new())
                .build()
                .unwrap();
            for _ in 0..n {
                for verdict in [Verdict::failure(), Verdict::Success] {
                    if let Ok(p) = b.try_acquire() {
                        black_box(matches!(p.record(verdict), Recorded::Stale));
                    }
                }
            }
            assert_eq!(b.snapshot().state, fusebox::State::Closed);
        }
        "guard" => {
            let clock = ManualClock::new();
            let breaker = Breaker::builder().clock(clock.clone()).build().unwrap();
            let budget = RetryBudget::builder().clock(clock).build().unwrap();
            let guard =
                Guard::new(Arc::new(breaker), Retry::default()).with_budget(Arc::new(budget));
            for _ in 0..n {
                let r: Result<u32, GuardError<()>> = guard.call(|a| Ok(a.number));
                black_box(r.is_ok());
            }
        }
        "mix1" | "mix5" => {
            let period = if path == "mix1" { 100 } else { 20 };
            let clock = ManualClock::new();
            let breaker = Breaker::builder().clock(clock.clone()).build().unwrap();
            let budget = RetryBudget::builder().clock(clock).build().unwrap();
            let retry = Retry::builder().max_attempts(1).build().unwrap();
            let guard = Guard::new(Arc::new(breaker), retry).with_budget(Arc::new(budget));
            let mut rejected = 0u64;
            for i in 0..n {
                let fail = i.is_multiple_of(period);
                let r: Result<u32, GuardError<()>> =
                    guard.call(|a| if fail { Err(()) } else { Ok(a.number) });
                if let Err(GuardError::Rejected { .. }) = r {
                    rejected += 1;
                }
                black_box(r.is_ok());
            }
            assert_eq!(rejected, 0, "a call was rejected");
            assert_eq!(guard.breaker().snapshot().state, fusebox::State::Closed);
        }
        "mix1-raw" => {
            let b = Breaker::builder()
                .clock(ManualClock::new())
                .build()
                .unwrap();
            let mut rejected = 0u64;
            for i in 0..n {
                let verdict = if i.is_multiple_of(100) {
                    Verdict::failure()
                } else {
                    Verdict::Success
                };
                match b.try_acquire() {
                    Ok(p) => black_box(matches!(p.record(verdict), Recorded::Stale)),
                    Err(_) => {
                        rejected += 1;
                        false
                    }
                };
            }
            assert_eq!(rejected, 0, "a call was rejected");
            assert_eq!(b.snapshot().state, fusebox::State::Closed);
        }
        "budget" => {
            let budget = RetryBudget::builder().ratio(1.0).build().unwrap();
            for _ in 0..n {
                budget.deposit();
                black_box(budget.try_withdraw());
            }
        }
        #[cfg(feature = "tower")]
        "layer-bare" | "layer" | "layer-hedged" | "layer-registry" | "layer-size" => {
            layer::run(path, n)
        }
        other => {
            eprintln!("unknown path {other:?}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// The `layer*` paths: a tower service driven by hand (a no-op waker, one poll
/// per call: every future here is ready at once), so no runtime is counted.
#[cfg(feature = "tower")]
mod layer {
    use fusebox::{Breaker, Guard, ManualClock, ManualSleeper, Retry};
    use std::future::{Future, Ready, ready};
    use std::hint::black_box;
    use std::pin::pin;
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};
    use tower::{Layer, Service, service_fn};

    type Inner = tower::util::ServiceFn<fn(u32) -> Ready<Result<u32, ()>>>;

    fn inner() -> Inner {
        fn answer(i: u32) -> Ready<Result<u32, ()>> {
            ready(if i & 1 == 0 { Ok(i) } else { Err(()) })
        }
        service_fn(answer as fn(u32) -> Ready<Result<u32, ()>>)
    }

    fn guarded() -> impl Service<u32, Response = u32> + Clone {
        let clock = ManualClock::new();
        let breaker = Breaker::builder().clock(clock.clone()).build().unwrap();
        let guard =
            Guard::new(Arc::new(breaker), Retry::default()).with_sleeper(ManualSleeper::new(clock));
        fusebox::tower::GuardLayer::new(guard).layer(inner())
    }

    /// The hedged layer (default `Hedge`, primed past its fallback): every
    /// call answers at its first poll, so the hedge is armed, never sent.
    fn hedged() -> impl Service<u32, Response = u32> + Clone {
        let clock = ManualClock::new();
        let breaker = Breaker::builder().clock(clock.clone()).build().unwrap();
        let guard = Guard::new(Arc::new(breaker), Retry::default())
            .with_sleeper(ManualSleeper::new(clock))
            .with_hedging(fusebox::Hedge::builder().build().unwrap());
        let svc = fusebox::tower::HedgedGuardLayer::new(guard).layer(inner());
        let mut primed = svc.clone();
        let mut cx = Context::from_waker(Waker::noop());
        for i in 0..100 {
            black_box(request(&mut primed, &mut cx, i << 1));
        }
        svc
    }

    #[cfg(feature = "registry")]
    fn keyed() -> impl Service<u32, Response = u32> + Clone {
        const HOSTS: [&str; 16] = [
            "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p",
        ];
        fn host_of(req: &u32) -> &str {
            HOSTS[(*req >> 1) as usize % HOSTS.len()]
        }
        let clock = ManualClock::new();
        let registry = Arc::new(
            fusebox::Registry::<String>::builder()
                .clock(clock.clone())
                .build()
                .unwrap(),
        );
        fusebox::tower::RegistryLayer::new(
            registry,
            fusebox::tower::key_ref(host_of as fn(&u32) -> &str),
            Retry::default(),
        )
        .with_sleeper(ManualSleeper::new(clock))
        .layer(inner())
    }

    /// An `AsyncSleeper` on tokio's timer (as the race bench's), for the size of
    /// a future that races a `tokio::time::Sleep`.
    #[derive(Clone, Copy)]
    struct TokioSleep;

    impl fusebox::AsyncSleeper for TokioSleep {
        type Sleep = tokio::time::Sleep;
        fn sleep(&self, duration: std::time::Duration) -> tokio::time::Sleep {
            tokio::time::sleep(duration)
        }
    }

    /// One request: `poll_ready`, `call`, one poll.
    #[inline(always)]
    fn request<S: Service<u32>>(svc: &mut S, cx: &mut Context<'_>, i: u32) -> bool {
        if !matches!(svc.poll_ready(cx), Poll::Ready(Ok(()))) {
            return false;
        }
        let future = pin!(svc.call(i));
        matches!(future.poll(cx), Poll::Ready(Ok(_)))
    }

    fn drive<S: Service<u32>>(mut svc: S, n: u64) {
        let mut cx = Context::from_waker(Waker::noop());
        for i in 0..n {
            black_box(request(&mut svc, &mut cx, (i as u32) << 1));
        }
    }

    pub(super) fn run(path: &str, n: u64) {
        match path {
            "layer-bare" => drive(inner(), n),
            "layer" => drive(guarded(), n),
            "layer-hedged" => drive(hedged(), n),
            #[cfg(feature = "registry")]
            "layer-registry" => drive(keyed(), n),
            "layer-size" => {
                let mut svc = guarded();
                println!(
                    "GuardService future (ManualSleeper): {} bytes",
                    std::mem::size_of_val(&svc.call(0))
                );
                let guard = Guard::new(
                    Arc::new(Breaker::builder().build().unwrap()),
                    Retry::default(),
                )
                .with_sleeper(TokioSleep);
                let mut svc = fusebox::tower::GuardLayer::new(guard).layer(inner());
                println!(
                    "GuardService future (tokio::time::Sleep): {} bytes",
                    std::mem::size_of_val(&svc.call(0))
                );
                let hedged = Guard::new(
                    Arc::new(Breaker::builder().build().unwrap()),
                    Retry::default(),
                )
                .with_sleeper(TokioSleep)
                .with_hedging(fusebox::Hedge::builder().build().unwrap());
                let mut svc = fusebox::tower::HedgedGuardLayer::new(hedged).layer(inner());
                println!(
                    "HedgedGuardService future (tokio::time::Sleep): {} bytes",
                    std::mem::size_of_val(&svc.call(0))
                );
                #[cfg(feature = "registry")]
                {
                    let mut svc = keyed();
                    println!(
                        "RegistryService future: {} bytes",
                        std::mem::size_of_val(&svc.call(0))
                    );
                }
            }
            _ => panic!("unknown path {path:?} (the registry path needs feature `registry`)"),
        }
    }
}
