//! [`Guard`]: retry, breaker and budget composed with one meaning of failure.
//!
//! # The rules
//!
//! 1. Every attempt asks the breaker for a permit. A rejection ends the call at once
//!    with [`GuardError::Rejected`], carrying `retry_after` and the last downstream
//!    error, if any. The breaker's own rejection is never retried.
//! 2. Every attempt's verdict is recorded on the breaker (attempt-level health);
//!    whether the *call* goes on is the retry's business only.
//! 3. Before sleeping: if the breaker is (forced) open and will still be open when
//!    the sleep ends, the call fails fast with `Rejected` (no sleep); if the sleep
//!    would end at or past the deadline, it ends with `DeadlineExceeded` (no sleep);
//!    if the budget refuses, it ends with `BudgetExhausted` (no sleep). In that
//!    order, so a token is withdrawn only for a sleep that will happen.
//! 4. A retry due at or past the deadline is not sent: when the sleeper wakes late
//!    (or, in the tower layer (`fusebox::tower`), the service takes that long to become ready), the
//!    call ends with `DeadlineExceeded` and the last attempt's result, before
//!    asking the breaker: no permit, no health signal, and no budget token beyond
//!    the one the sleep already spent. Otherwise the next `try_acquire` sees the
//!    breaker's current epoch: if it opened meanwhile, the call stops there; a
//!    report from before a transition is `Stale` and changes nothing. The first
//!    attempt is never refused for the deadline, which counts from it.
//! 5. The next delay is `max(server hint, jittered backoff)`; a hint that cannot be
//!    honoured within the deadline ends the call.
//! 6. A panic in the operation propagates to the caller; the attempt's permit is
//!    dropped while unwinding, which is a cancellation (no health signal, its
//!    half-open slot freed). A dropped `call_async` future leaks nothing the same
//!    way, whether it was mid-attempt or mid-sleep (a token withdrawn for that sleep
//!    is not refunded).
//! 7. Time limits. In [`Guard::call_async`] an attempt still running when the
//!    call's [deadline](crate::RetryBuilder::deadline) passes, or after the
//!    [attempt timeout](crate::RetryBuilder::attempt_timeout), is cut: its future is
//!    dropped and the breaker records a failure (the downstream did not answer in
//!    time). Cut by the deadline, the call ends with `DeadlineExceeded`; cut by the
//!    attempt timeout, it goes on as after any retryable failure. The blocking
//!    [`Guard::call`] cannot cut an attempt; it passes the time left in
//!    [`Attempt::remaining`].
//!
//! # Why a call stopped
//!
//! Every call ends with one [`Stop`] reason. [`Guard::call_outcome`] and
//! [`Guard::call_async_outcome`] return it in an [`Outcome`] with the attempts
//! made, the last result (an `Ok` included) and the breaker's refusal, so stops
//! can be logged and counted without classifying again. [`Guard::call`] returns
//! the same outcome as a `Result`: when a call stops after an attempt whose result
//! was `Ok` (a classifier may call an `Ok` a failure, an HTTP 503 response say),
//! that `Ok` is returned (the classifier decides health and retries, never hides a
//! value), and every other stop is a [`GuardError`], whose
//! [`stop`](GuardError::stop) names it.

mod async_call;
mod call;
mod hedged;
mod outcome;
mod sync;

#[cfg(not(feature = "tower"))]
use call::record_with;
use call::sample_of;
pub(crate) use call::{Call, Step};
#[cfg(feature = "tower")]
pub(crate) use call::{
    First, HedgeTally, Holder, admit_first, admit_untimed_first, first_success, limit_of,
    record_with, refused_outcome, tell_refused, timed,
};
#[cfg(feature = "tower")]
pub(crate) use hedged::{HedgeHolder, Hedged, MakeAttempt, Pins};
pub use outcome::{Attempt, GuardError, Outcome, Winner};

use crate::breaker::{Breaker, Permit};
use crate::budget::RetryBudget;
use crate::classify::{Classification, Classify, DefaultClassifier};
use crate::error::Rejected;
use crate::event::{DelayReason, EventKind};
use crate::hedge::Hedge;
use crate::retry::{Delays, Retry};
use crate::sleep::{AsyncSleeper, Sleeper, ThreadSleeper};
pub use crate::stop::Stop;
use crate::verdict::{Recorded, Verdict};
use crossbeam_utils::CachePadded;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

/// Retry, circuit breaker and retry budget in one, agreeing on what a failure is.
/// See the [module documentation](self) for the rules.
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, Guard, GuardError, Jitter, ManualClock, ManualSleeper, Retry};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let breaker = Arc::new(Breaker::builder().clock(clock.clone()).build()?);
/// let retry = Retry::builder()
///     .max_attempts(3)
///     .constant_backoff(Duration::from_secs(1))
///     .jitter(Jitter::None)
///     .build()?;
/// let guard = Guard::new(breaker, retry).with_sleeper(ManualSleeper::new(clock.clone()));
///
/// // Fails twice, then succeeds: three attempts, two (virtual) one-second sleeps.
/// let mut failures = 2;
/// let result: Result<u32, GuardError<&str>> = guard.call(|attempt| {
///     if failures > 0 {
///         failures -= 1;
///         Err("unavailable")
///     } else {
///         Ok(attempt.number)
///     }
/// });
/// assert_eq!(result, Ok(3));
/// assert_eq!(clock.now(), Duration::from_secs(2));
/// // The two failed attempts are still visible in the breaker's health.
/// assert!(guard.breaker().snapshot().health.unwrap() < 1.0);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct Guard<C = DefaultClassifier, S = ThreadSleeper> {
    breaker: Arc<Breaker>,
    retry: Retry,
    budget: Option<Arc<RetryBudget>>,
    classifier: C,
    sleeper: S,
    /// No bytes: aligns the guard as a cache-padded value (the breaker's state
    /// word is one), so that in an `Arc<Guard>` (the tower layer's, or a
    /// caller's) the fields every call reads begin on a line of their own, not
    /// on the line of the `Arc`'s reference counts, which every clone and drop
    /// of the `Arc` writes, from whichever thread makes it.
    _line: CachePadded<()>,
}

impl<C: Clone, S: Clone> Clone for Guard<C, S> {
    /// A guard over the same breaker and budget (the `Arc`s are cloned, so a trip
    /// or a withdrawal through one is seen by the other), with a clone of the
    /// retry policy (its own jitter sequence: see [`Retry`]'s `Clone`), of the
    /// classifier and of the sleeper.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, Guard, GuardError, Retry, State};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(Breaker::builder().trip_after_consecutive_failures(1).build()?);
    /// let guard = Guard::new(breaker, Retry::builder().max_attempts(1).build()?);
    /// let other = guard.clone();
    /// let r: Result<(), GuardError<&str>> = other.call(|_| Err("down"));
    /// assert!(r.is_err());
    /// assert_eq!(guard.breaker().snapshot().state, State::Open, "one breaker, shared");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    fn clone(&self) -> Self {
        Self {
            breaker: Arc::clone(&self.breaker),
            retry: self.retry.clone(),
            budget: self.budget.clone(),
            classifier: self.classifier.clone(),
            sleeper: self.sleeper.clone(),
            _line: CachePadded::new(()),
        }
    }
}

impl Guard {
    /// A guard with the default classifier (`Ok` succeeds, `Err` is a retryable
    /// failure), thread sleeps and no budget.
    pub fn new(breaker: Arc<Breaker>, retry: Retry) -> Self {
        Self {
            breaker,
            retry,
            budget: None,
            classifier: DefaultClassifier,
            sleeper: ThreadSleeper,
            _line: CachePadded::new(()),
        }
    }
}

impl<C, S> Guard<C, S> {
    /// Share `budget` (one per downstream) with this guard.
    pub fn with_budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Classify results with `classifier` (a [`Classify`] implementation or a
    /// closure `Fn(&Result<T, E>) -> Classification`).
    pub fn with_classifier<C2>(self, classifier: C2) -> Guard<C2, S> {
        Guard {
            breaker: self.breaker,
            retry: self.retry,
            budget: self.budget,
            classifier,
            sleeper: self.sleeper,
            _line: self._line,
        }
    }

    /// Wait between attempts with `sleeper` (a [`Sleeper`] for [`call`](Self::call),
    /// an [`AsyncSleeper`] for [`call_async`](Self::call_async)).
    pub fn with_sleeper<S2>(self, sleeper: S2) -> Guard<C, S2> {
        Guard {
            breaker: self.breaker,
            retry: self.retry,
            budget: self.budget,
            classifier: self.classifier,
            sleeper,
            _line: self._line,
        }
    }

    /// This guard with its async calls' attempts hedged by `hedge` (a
    /// [`HedgedGuard`], whose `call_async` hedges): an attempt still running
    /// after the policy's delay is joined by another (a *hedge*), without
    /// cancelling it, and the first success wins; see [`Hedge`] and
    /// `docs/DESIGN.md`, "Hedging". **For idempotent operations only**: the
    /// downstream may see a request twice. A hedge is sent only while the
    /// breaker is `Closed`, not grading admission and its concurrency limit
    /// not engaged, and it takes a permit and (with a budget) a budget token
    /// as a retry does; hedges count toward the retry's `max_attempts`. The
    /// blocking [`call`](Self::call) cannot hedge; in a tower stack,
    /// [`HedgedGuardLayer`](crate::tower::HedgedGuardLayer) (feature `tower`)
    /// runs a hedged guard around a service. A type of its own, so that an
    /// unhedged guard's `call_async` future carries none of the hedged call's
    /// state.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(not(feature = "tokio"))] fn main() {}
    /// # #[cfg(feature = "tokio")]
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), fusebox::ConfigError> {
    /// use fusebox::{Breaker, Guard, Hedge, Retry, TokioSleeper, Winner};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
    ///     .with_sleeper(TokioSleeper)
    ///     .with_hedging(Hedge::after(Duration::from_millis(100))?);
    /// // The first attempt hangs for 10 s; the hedge sent at 100 ms answers in 5 ms.
    /// let started = tokio::time::Instant::now();
    /// let outcome = guard
    ///     .call_async_outcome(|attempt| async move {
    ///         let wait = if attempt.number == 1 { 10_000 } else { 5 };
    ///         tokio::time::sleep(Duration::from_millis(wait)).await;
    ///         Ok::<_, ()>(attempt.number)
    ///     })
    ///     .await;
    /// assert_eq!(outcome.value(), Some(&2));
    /// assert_eq!(outcome.winner(), Some(Winner::Hedge(1)));
    /// assert_eq!(started.elapsed(), Duration::from_millis(105));
    /// # Ok(())
    /// # }
    /// ```
    pub fn with_hedging(self, hedge: Hedge) -> HedgedGuard<C, S> {
        HedgedGuard { guard: self, hedge }
    }

    /// The breaker.
    pub fn breaker(&self) -> &Arc<Breaker> {
        &self.breaker
    }

    /// The retry policy.
    pub fn retry(&self) -> &Retry {
        &self.retry
    }

    /// The budget, if any.
    pub fn budget(&self) -> Option<&Arc<RetryBudget>> {
        self.budget.as_ref()
    }

    /// The classifier (for the tower layer's holder).
    #[cfg(feature = "tower")]
    #[inline(always)]
    pub(crate) fn classifier(&self) -> &C {
        &self.classifier
    }

    /// The sleeper (for the tower layer's holder).
    #[allow(dead_code)] // used by the tower layer's holder only
    #[inline(always)]
    pub(crate) fn sleeper(&self) -> &S {
        &self.sleeper
    }
}

/// A [`Guard`] whose async calls hedge their attempts (made by
/// [`Guard::with_hedging`]; see [`Hedge`] and `docs/DESIGN.md`, "Hedging").
/// Its [`call_async`](Self::call_async) and
/// [`call_async_outcome`](Self::call_async_outcome) follow the guard's rules,
/// with hedges; the blocking calls and everything else are the guard's
/// ([`guard`](Self::guard)). Clones share the breaker, the budget and the
/// latency histogram the hedge delay is read from.
///
/// # Examples
///
/// ```
/// # #[cfg(not(feature = "tokio"))] fn main() {}
/// # #[cfg(feature = "tokio")]
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), fusebox::ConfigError> {
/// use fusebox::{Breaker, Guard, Hedge, HedgedGuard, Retry, TokioSleeper};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let hedged: HedgedGuard<_, _> = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
///     .with_sleeper(TokioSleeper)
///     .with_hedging(Hedge::builder().at_quantile(0.95).build()?);
/// let r = hedged.call_async(|_| async { Ok::<_, ()>("fast") }).await;
/// assert_eq!(r, Ok("fast")); // no hedge: the attempt beat the delay
/// assert_eq!(hedged.hedge().max_hedges(), 1);
/// # Ok(())
/// # }
/// ```
pub struct HedgedGuard<C = DefaultClassifier, S = ThreadSleeper> {
    guard: Guard<C, S>,
    hedge: Hedge,
}

impl<C, S> HedgedGuard<C, S> {
    /// The guard (its breaker, retry policy, budget; its blocking calls).
    pub fn guard(&self) -> &Guard<C, S> {
        &self.guard
    }

    /// The hedging policy.
    pub fn hedge(&self) -> &Hedge {
        &self.hedge
    }

    /// The guard, without hedging.
    pub fn into_guard(self) -> Guard<C, S> {
        self.guard
    }
}

impl<C: Clone, S: Clone> Clone for HedgedGuard<C, S> {
    fn clone(&self) -> Self {
        Self {
            guard: self.guard.clone(),
            hedge: self.hedge.clone(),
        }
    }
}

impl<C: fmt::Debug, S: fmt::Debug> fmt::Debug for HedgedGuard<C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HedgedGuard")
            .field("guard", &self.guard)
            .field("hedge", &self.hedge)
            .finish()
    }
}

impl<C: fmt::Debug, S: fmt::Debug> fmt::Debug for Guard<C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("breaker", &self.breaker)
            .field("retry", &self.retry)
            .field("budget", &self.budget)
            .field("classifier", &self.classifier)
            .field("sleeper", &self.sleeper)
            .finish()
    }
}
