//! fusebox: retry and circuit breaking fused into one lock-free resilience primitive.
//!
//! A [`Guard`] wraps each call to a downstream service: every attempt asks one
//! shared [`Breaker`] for a permit and reports its result to it, retries back off
//! (with jitter, a deadline and a shared [`RetryBudget`]), and a result that arrives
//! after the breaker has changed state is ignored instead of overwriting it.
//!
//! # Start here
//!
//! ```
//! use fusebox::{Breaker, Guard, GuardError, Retry, RetryBudget};
//! use std::{sync::Arc, time::Duration};
//!
//! // One breaker and one budget per downstream, shared by every call to it.
//! let breaker = Arc::new(Breaker::builder().name("inventory").build()?);
//! let budget = Arc::new(RetryBudget::builder().build()?);
//! let retry = Retry::builder()
//!     .max_attempts(3)
//!     .exponential_backoff(Duration::from_millis(1), 2.0, Duration::from_millis(10))
//!     .build()?;
//! let guard = Guard::new(breaker, retry).with_budget(budget);
//!
//! // The operation gets the attempt's number; here the first attempt fails.
//! let result = guard.call(|attempt| {
//!     if attempt.number == 1 { Err("connection reset") } else { Ok(42) }
//! });
//! assert_eq!(result, Ok(42));
//!
//! match guard.call(|_| Err::<u32, _>("503")) {
//!     Ok(_) => unreachable!(),
//!     Err(GuardError::Rejected { rejected, .. }) => println!("not sent: {rejected}"),
//!     Err(e) => println!("gave up after {} attempts ({}): {e}", e.attempts(), e.stop()),
//! }
//! # Ok::<(), fusebox::ConfigError>(())
//! ```
//!
//! [`Guard::call`] blocks the thread between attempts; with the `tokio` feature,
//! [`Guard::call_async`] with [`TokioSleeper`] sleeps on tokio's timer and cuts an
//! attempt at the deadline. The defaults of every builder are the settings the
//! repository's outage lab measured best among the breaker designs.
//!
//! # Features
//!
//! | feature | adds |
//! |---|---|
//! | `tokio` | `TokioSleeper`: async retries on tokio's timer |
//! | `http` | `fusebox::http`: `HttpClassifier` (status table, `Retry-After`), 503 responses for a refusal |
//! | `tower` | `fusebox::tower`: `GuardLayer`, a `Guard` as tower middleware; `HedgedGuardLayer`, a `HedgedGuard`'s; with `registry`, `RegistryLayer` |
//! | `reqwest` | `fusebox::reqwest`: `GuardMiddleware` for `reqwest-middleware` (in place of `reqwest-retry`), the classifier for reqwest's types |
//! | `registry` | `fusebox::registry`: one breaker and budget per downstream key, lock-free lookups, bounded |
//! | `serde` | `fusebox::serde_config`: configs from TOML, YAML, JSON through the validating builders |
//! | `tracing` | every [event] as a `tracing` event (target `fusebox`) |
//! | `metrics` | `fusebox::metrics`: counters and gauges per named breaker through the `metrics` facade |
//!
//! # Where to go next
//!
//! - [`guard`]: the rules a call follows (when it retries, sleeps, stops) and
//!   [`Stop`], why it stopped; [`GuardError`] is what a failed call returns.
//! - [`Retry`] and [`RetryBudget`]: attempts, backoff, jitter, deadline; the
//!   shared budget that keeps retries a bounded share of traffic.
//! - [`BreakerBuilder`]: when the breaker trips ([`BreakerBuilder::trip_on_failure_rate`],
//!   [`BreakerBuilder::trip_after_consecutive_failures`]), graded admission, open
//!   periods, probes, the concurrency limit.
//! - [`Classify`]: what counts as a failure, and how much; [`event`]: what a
//!   [`Listener`] hears.
//! - [`Breaker::try_acquire`] and [`Permit`]: the breaker on its own, for code that
//!   runs its own loop.
//!
//! # What it guarantees
//!
//! - **Every attempt is a health signal**: [`Verdict`]s move an exponentially
//!   weighted health score in `[0, 1]` (not a binary count), and the breaker trips
//!   when health falls below a threshold. The arithmetic is exact and documented:
//!   [`BreakerBuilder::trip_after_consecutive_failures`] trips on the `n`-th failed
//!   attempt, not the `(n-1)`-th or `(n+1)`-th.
//! - **Every permit is tagged with the breaker's epoch** (a number bumped at every
//!   change of state): a [`Permit`] admitted before a transition and recorded after
//!   it returns [`Recorded::Stale`] and changes nothing, so a straggler can never
//!   corrupt a newer state.
//! - **The mechanics are lock-free**: state, epoch, health, samples and half-open
//!   counters live in one packed `AtomicU64` updated by compare-and-swap; a healthy
//!   call (`try_acquire` + `record(Success)`) is two atomic loads and no write.
//! - **Health always comes back**: from any health, at most
//!   [`Breaker::successes_to_full_health`] consecutive successes (347 for the
//!   default) restore it to exactly full, and time alone does too (the gap to full
//!   health halves every half-life).
//! - **Nothing wedges**: a permit dropped unrecorded frees its probe slot, and a
//!   probe that never reports holds half-open only for its lease
//!   ([`BreakerBuilder::probe_timeout`]).
//!
//! Time is injected through [`Clock`]: [`MonotonicClock`] by default, [`ManualClock`]
//! for tests and simulations.
//!
//! The design (concepts, the state word's layout, the transition table, the
//! memory-ordering protocol and every decided behaviour) is in `docs/DESIGN.md` in
//! the repository and the package; the code itself documents each at its source
//! (`src/state.rs`, `src/breaker/`, `src/health.rs`).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod breaker;
pub mod budget;
mod classify;
mod clock;
mod config;
mod error;
pub mod event;
pub mod guard;
mod health;
mod hedge;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
mod limit;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
mod observe;
#[cfg(feature = "registry")]
#[cfg_attr(docsrs, doc(cfg(feature = "registry")))]
pub mod registry;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod reqwest;
pub mod retry;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub mod serde_config;
mod sleep;
mod state;
mod stop;
mod sync;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;
mod verdict;

pub use breaker::{Breaker, BreakerSnapshot, OwnedPermit, Permit};
pub use budget::{MAX_BUDGET_BALANCE, RetryBudget, RetryBudgetBuilder};
pub use classify::{Classification, Classify, DefaultClassifier};
pub use clock::{Clock, ManualClock, MonotonicClock};
pub use config::{
    BreakerBuilder, DEFAULT_HALF_LIFE, DEFAULT_PROBE_TIMEOUT, MAX_OPEN_GROWTH, MAX_OPEN_PERIOD,
    MIN_HALF_LIFE, MIN_OPEN_PERIOD,
};
pub use error::{ConfigError, ConfigErrorKind, Rejected};
pub use event::{DelayReason, Event, EventKind, Listener};
pub use guard::{Attempt, Guard, GuardError, HedgedGuard, Outcome, Stop, Winner};
pub use hedge::{DEFAULT_MAX_EXTRA_LOAD, Hedge, HedgeBuilder, MAX_HEDGES};
pub use limit::LimitSnapshot;
#[cfg(feature = "registry")]
#[cfg_attr(docsrs, doc(cfg(feature = "registry")))]
pub use registry::{Registry, RegistryBuilder};
pub use retry::{Backoff, Jitter, Retry, RetryBuilder};
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use sleep::TokioSleeper;
pub use sleep::{AsyncSleeper, ManualSleeper, Sleeper, ThreadSleeper};
pub use state::State;
pub use verdict::{Recorded, Transition, Verdict};

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_static<T: 'static>() {}

    #[test]
    fn shared_types_are_send_and_sync() {
        assert_send_sync::<super::Breaker>();
        assert_send_sync::<super::ManualClock>();
        assert_send_sync::<super::MonotonicClock>();
        assert_send_sync::<super::Permit<'static>>();
        assert_send_sync::<super::OwnedPermit>();
        assert_static::<super::OwnedPermit>();
    }
}

/// The README's examples, compiled and run as doc tests so the README cannot rot.
/// Each needs some of the features `tokio`, `registry`, `tower`, `http` and
/// `reqwest`, and rustdoc cannot gate one code block of an included file, so the
/// README is tested when all five are on (as `cargo test --workspace --all-features` has them) and
/// left out otherwise, rather than failing to compile.
#[cfg(all(
    doctest,
    feature = "tokio",
    feature = "registry",
    feature = "tower",
    feature = "http",
    feature = "reqwest"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
