//! fusebox: retry and circuit breaking fused into one lock-free resilience primitive.
//!
//! The usual design puts a retry loop inside `breaker.execute()`, and it is broken:
//! retries hide failures from the breaker (3 attempts × a threshold of 5 means 15
//! downstream failures before it trips), a late success erases real failures, a
//! caller asleep in backoff overwrites state that others changed meanwhile, and the
//! breaker can open mid-retry without the retry knowing.
//!
//! fusebox's [`Breaker`] is built so those cannot happen:
//!
//! - **every attempt is a health signal**: [`Verdict`]s move an exponentially
//!   weighted health score in `[0, 1]` (not a binary count), and the breaker trips
//!   when health falls below a threshold. The arithmetic is exact and documented:
//!   [`BreakerBuilder::trip_after_consecutive_failures`] trips on the `n`-th failed
//!   attempt, not the `(n-1)`-th or `(n+1)`-th;
//! - **every permit is tagged with the breaker's epoch**: a [`Permit`] admitted
//!   before a transition and recorded after it returns [`Recorded::Stale`] and
//!   changes nothing, so a straggler can never corrupt a newer state;
//! - **the mechanics are lock-free**: state, epoch, health, samples and half-open
//!   counters live in one packed `AtomicU64` updated by compare-and-swap; the open
//!   deadline is epoch-tagged and written only by the transition's winner; a healthy
//!   call (`try_acquire` + `record(Success)`) is two atomic loads and no write;
//! - **health always comes back**: from any health, at most
//!   [`Breaker::successes_to_full_health`] consecutive successes (100 for the
//!   default) restore it to exactly full, and with it that read-only healthy path;
//! - **nothing wedges**: a permit dropped unrecorded frees its probe slot, and a
//!   probe that never reports at all holds half-open only for the probe lease
//!   ([`BreakerBuilder::probe_timeout`]).
//!
//! Time is injected through [`Clock`]: [`MonotonicClock`] by default, [`ManualClock`]
//! for tests and simulations.
//!
//! # Examples
//!
//! ```
//! use fusebox::{Breaker, Rejected, Verdict};
//!
//! fn call_downstream() -> Result<u32, &'static str> {
//!     Ok(42)
//! }
//!
//! let breaker = Breaker::builder().trip_after_consecutive_failures(5).build()?;
//! match breaker.try_acquire() {
//!     Ok(permit) => {
//!         let result = call_downstream();
//!         let verdict = if result.is_ok() { Verdict::Success } else { Verdict::failure() };
//!         let _ = permit.record(verdict);
//!     }
//!     Err(Rejected::Open { retry_after }) => println!("open, come back in {retry_after:?}"),
//!     Err(other) => println!("rejected: {other}"),
//! }
//! # Ok::<(), fusebox::ConfigError>(())
//! ```
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
pub use guard::{Attempt, Guard, GuardError, Outcome, Stop};
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
/// Each needs some of the features `tokio`, `registry`, `tower` and `http`, and
/// rustdoc cannot gate one code block of an included file, so the README is tested
/// when all four are on (as `cargo test --workspace --all-features` has them) and
/// left out otherwise, rather than failing to compile.
#[cfg(all(
    doctest,
    feature = "tokio",
    feature = "registry",
    feature = "tower",
    feature = "http"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
