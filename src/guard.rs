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
//!    (or, in [`crate::tower`], the service takes that long to become ready), the
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

use crate::breaker::{Breaker, OwnedPermit, Permit};
use crate::budget::RetryBudget;
use crate::classify::{Classification, Classify, DefaultClassifier};
use crate::error::Rejected;
use crate::event::{DelayReason, EventKind};
use crate::retry::{Delays, Retry};
use crate::sleep::{AsyncSleeper, Sleeper, ThreadSleeper};
pub use crate::stop::Stop;
use crate::verdict::{Recorded, Verdict};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

/// What the operation is told about the attempt it is making.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// Time left for this attempt, if the call has a deadline or an attempt
    /// timeout: the sooner of the two. Never zero: a retry due at or past the
    /// deadline is not made. In [`Guard::call_async`] the attempt is cut when it
    /// runs out; a blocking operation should use it as its own I/O timeout.
    pub remaining: Option<Duration>,
    /// The breaker epoch the attempt's permit was admitted in.
    pub epoch: u32,
}

/// Why a guarded call failed. Keeps the caller's error type `E`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GuardError<E> {
    /// The breaker refused an attempt (never retried).
    Rejected {
        /// The breaker's reason, with `retry_after` where known.
        rejected: Rejected,
        /// Attempts made before the refusal.
        attempts: u32,
        /// The last downstream error, if an attempt had been made.
        last: Option<E>,
    },
    /// Every allowed attempt failed.
    Exhausted {
        /// Attempts made (= `max_attempts`).
        attempts: u32,
        /// The last attempt's error; `None` if the last attempt was cut by the
        /// [attempt timeout](crate::RetryBuilder::attempt_timeout).
        last: Option<E>,
    },
    /// The retry budget refused the next retry.
    BudgetExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error; `None` if the last attempt was cut by the
        /// attempt timeout.
        last: Option<E>,
    },
    /// The call's deadline passed: the next delay would have ended at or past
    /// it, the retry was due past it (a late wake), or (in
    /// [`Guard::call_async`]) it cut the attempt in flight.
    DeadlineExceeded {
        /// Attempts made (a cut attempt counts; a retry not sent does not).
        attempts: u32,
        /// The last attempt's error; `None` if the last attempt was cut.
        last: Option<E>,
    },
    /// The classifier said the error is not worth retrying (a non-retryable
    /// failure, or an ignored caller error).
    Permanent {
        /// Attempts made.
        attempts: u32,
        /// The error.
        error: E,
    },
}

impl<E> GuardError<E> {
    /// Attempts made before the call stopped.
    pub fn attempts(&self) -> u32 {
        match self {
            GuardError::Rejected { attempts, .. }
            | GuardError::Exhausted { attempts, .. }
            | GuardError::BudgetExhausted { attempts, .. }
            | GuardError::DeadlineExceeded { attempts, .. }
            | GuardError::Permanent { attempts, .. } => *attempts,
        }
    }

    /// The last downstream error, if there was one.
    pub fn last(&self) -> Option<&E> {
        match self {
            GuardError::Rejected { last, .. }
            | GuardError::Exhausted { last, .. }
            | GuardError::BudgetExhausted { last, .. }
            | GuardError::DeadlineExceeded { last, .. } => last.as_ref(),
            GuardError::Permanent { error, .. } => Some(error),
        }
    }

    /// The last downstream error, by value.
    pub fn into_inner(self) -> Option<E> {
        match self {
            GuardError::Rejected { last, .. }
            | GuardError::Exhausted { last, .. }
            | GuardError::BudgetExhausted { last, .. }
            | GuardError::DeadlineExceeded { last, .. } => last,
            GuardError::Permanent { error, .. } => Some(error),
        }
    }

    /// Why the call stopped. [`Stop::Permanent`] covers both a non-retryable
    /// failure and an ignored error; [`Outcome::stop`] tells them apart.
    pub fn stop(&self) -> Stop {
        match self {
            GuardError::Rejected { attempts: 0, .. } => Stop::Rejected,
            GuardError::Rejected { .. } => Stop::RejectedMidCall,
            GuardError::Exhausted { .. } => Stop::Exhausted,
            GuardError::BudgetExhausted { .. } => Stop::BudgetExhausted,
            GuardError::DeadlineExceeded { .. } => Stop::DeadlineExceeded,
            GuardError::Permanent { .. } => Stop::Permanent,
        }
    }

    /// When the breaker rejected: how long until it admits again, where known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            GuardError::Rejected { rejected, .. } => rejected.retry_after(),
            _ => None,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for GuardError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuardError::Rejected {
                rejected,
                attempts,
                last,
            } => f
                .debug_struct("Rejected")
                .field("rejected", rejected)
                .field("attempts", attempts)
                .field("last", last)
                .finish(),
            GuardError::Exhausted { attempts, last } => f
                .debug_struct("Exhausted")
                .field("attempts", attempts)
                .field("last", last)
                .finish(),
            GuardError::BudgetExhausted { attempts, last } => f
                .debug_struct("BudgetExhausted")
                .field("attempts", attempts)
                .field("last", last)
                .finish(),
            GuardError::DeadlineExceeded { attempts, last } => f
                .debug_struct("DeadlineExceeded")
                .field("attempts", attempts)
                .field("last", last)
                .finish(),
            GuardError::Permanent { attempts, error } => f
                .debug_struct("Permanent")
                .field("attempts", attempts)
                .field("error", error)
                .finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for GuardError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuardError::Rejected {
                rejected,
                attempts,
                last,
            } => {
                write!(f, "{rejected} (after {attempts} attempts")?;
                match last {
                    Some(e) => write!(f, "; last error: {e})"),
                    None => f.write_str(")"),
                }
            }
            GuardError::Exhausted { attempts, last } => {
                write!(f, "all {attempts} attempts failed")?;
                last_error(f, last.as_ref())
            }
            GuardError::BudgetExhausted { attempts, last } => {
                write!(f, "retry budget exhausted after {attempts} attempts")?;
                last_error(f, last.as_ref())
            }
            GuardError::DeadlineExceeded { attempts, last } => {
                write!(f, "deadline exceeded after {attempts} attempts")?;
                last_error(f, last.as_ref())
            }
            GuardError::Permanent { attempts, error } => {
                write!(f, "non-retryable error after {attempts} attempts: {error}")
            }
        }
    }
}

/// `; last error: {e}`, or `; the last attempt timed out` when it was cut.
fn last_error<E: fmt::Display>(f: &mut fmt::Formatter<'_>, last: Option<&E>) -> fmt::Result {
    match last {
        Some(e) => write!(f, "; last error: {e}"),
        None => f.write_str("; the last attempt timed out"),
    }
}

impl<E: Error + 'static> Error for GuardError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.last().map(|e| e as &(dyn Error + 'static))
    }
}

/// Everything a guarded call ended with: why it stopped, the attempts made, the
/// last result and the breaker's refusal. From [`Guard::call_outcome`] and
/// [`Guard::call_async_outcome`]; [`into_result`](Self::into_result) turns it
/// into what [`Guard::call`] returns.
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, Guard, Retry, Stop};
/// use std::sync::Arc;
///
/// let breaker = Arc::new(Breaker::builder().build()?);
/// let guard = Guard::new(breaker.clone(), Retry::default());
/// breaker.force_open();
/// let outcome = guard.call_outcome(|_| Ok::<u32, &str>(1));
/// assert_eq!(outcome.stop, Stop::Rejected);
/// assert_eq!(outcome.attempts, 0);
/// assert!(outcome.rejected.is_some());
/// assert!(outcome.into_result().is_err());
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "an outcome holds the call's result"]
#[non_exhaustive]
pub struct Outcome<T, E> {
    /// Why the call stopped.
    pub stop: Stop,
    /// Attempts sent (an attempt cut by a time limit counts; a retry not sent
    /// because the deadline had passed does not).
    pub attempts: u32,
    /// The last attempt's result, `Ok` included. `None` when no attempt finished:
    /// the breaker refused the first one, or the last one was cut by a time
    /// limit.
    pub last: Option<Result<T, E>>,
    /// The breaker's refusal, for [`Stop::Rejected`] and [`Stop::RejectedMidCall`].
    pub rejected: Option<Rejected>,
}

impl<T, E> Outcome<T, E> {
    /// The last attempt's value, if it returned `Ok` (whatever the stop reason).
    pub fn value(&self) -> Option<&T> {
        match &self.last {
            Some(Ok(value)) => Some(value),
            _ => None,
        }
    }

    /// The last attempt's error, if it returned `Err`.
    pub fn error(&self) -> Option<&E> {
        match &self.last {
            Some(Err(error)) => Some(error),
            _ => None,
        }
    }

    /// Whether the last attempt was cut by a time limit (no result).
    pub fn timed_out(&self) -> bool {
        self.attempts > 0 && self.last.is_none()
    }

    /// When the breaker refused: how long until it admits again, where known.
    pub fn retry_after(&self) -> Option<Duration> {
        self.rejected.and_then(|r| r.retry_after())
    }

    /// What [`Guard::call`] returns for this outcome: a last `Ok` is returned as
    /// is, whatever the stop reason; otherwise the [`GuardError`] for the stop.
    #[inline]
    pub fn into_result(self) -> Result<T, GuardError<E>> {
        let attempts = self.attempts;
        let last = match self.last {
            Some(Ok(value)) => return Ok(value),
            Some(Err(error)) => Some(error),
            None => None,
        };
        Err(match (self.stop, last) {
            (Stop::Rejected | Stop::RejectedMidCall, last) => GuardError::Rejected {
                rejected: self
                    .rejected
                    .unwrap_or(Rejected::Open { retry_after: None }),
                attempts,
                last,
            },
            (Stop::BudgetExhausted, last) => GuardError::BudgetExhausted { attempts, last },
            (Stop::DeadlineExceeded, last) => GuardError::DeadlineExceeded { attempts, last },
            (Stop::Succeeded | Stop::Ignored | Stop::Permanent, Some(error)) => {
                GuardError::Permanent { attempts, error }
            }
            (_, last) => GuardError::Exhausted { attempts, last },
        })
    }
}

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
        }
    }
}

/// The async loop (rules 1–7) over a [`Call`] and an operation, returning
/// `$done(outcome)`. A macro, not an `async fn`: the loop is expanded into the
/// caller's own future, so a call is one state machine, built in place, not a
/// future moved into another future.
macro_rules! async_loop {
    ($guard:expr, $op:ident, $done:expr) => {{
        let guard = $guard;
        // The first attempt of a call with no time limit and no timing, apart:
        // only the permit and `op` live across its await, so the healthy path
        // does not build (or store) the whole call's state.
        let (mut call, mut step) = if guard.lean::<T, E>() {
            let permit = match guard.breaker.try_acquire() {
                Ok(permit) => permit,
                Err(rejected) => return $done(Call::new(guard).rejected(rejected)),
            };
            if let Some(budget) = &guard.budget {
                budget.deposit();
            }
            let attempt = Attempt {
                number: 1,
                remaining: None,
                epoch: permit.epoch(),
            };
            let result = $op(attempt).await;
            let class = guard.classifier.classify(&result);
            // Rule 2, as in `Call::finish`.
            let _recorded = permit.record(class.verdict());
            if let Classification::Success = class {
                return $done(Outcome {
                    stop: Stop::Succeeded,
                    attempts: 1,
                    last: Some(result),
                    rejected: None,
                });
            }
            let mut call = Call::after_first(guard);
            let step = call.after_record(class, Some(result));
            (call, Some(step))
        } else {
            (Call::new(guard), None)
        };
        let timed = call.timed();
        loop {
            let next = match step.take() {
                Some(next) => next,
                None => {
                    let (permit, attempt) = match call.begin() {
                        Ok(admitted) => admitted,
                        Err(stop) => return $done(stop),
                    };
                    let started = if timed {
                        Some(guard.breaker.elapsed_ns())
                    } else {
                        None
                    };
                    match call.limit() {
                        None => {
                            let result = $op(attempt).await;
                            match started {
                                None => call.finish(permit, result),
                                Some(started) => call.finish_timed(permit, result, started),
                            }
                        }
                        Some((limit, by_deadline)) => {
                            let timer = guard.sleeper.sleep(limit);
                            match race($op(attempt), timer).await {
                                Some(result) => match started {
                                    None => call.finish(permit, result),
                                    Some(started) => call.finish_timed(permit, result, started),
                                },
                                None => call.cut(permit, limit, by_deadline),
                            }
                        }
                    }
                }
            };
            match next {
                Step::Done(done) => return $done(done),
                Step::Sleep(delay) => guard.sleeper.sleep(delay).await,
            }
        }
    }};
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
        }
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

    /// Run `op` under the rules, sleeping with the guard's [`Sleeper`] (by default
    /// `std::thread::sleep`). Allocates nothing.
    ///
    /// A blocking attempt cannot be interrupted: the call's
    /// [deadline](crate::RetryBuilder::deadline) and
    /// [attempt timeout](crate::RetryBuilder::attempt_timeout) reach `op` as
    /// [`Attempt::remaining`] (the sooner of the two), for it to use as its own
    /// I/O timeout. The deadline still stops the call before any sleep that
    /// would end at or past it, and before a retry due past it (a sleeper that
    /// woke late): no attempt is sent with no time left.
    ///
    /// When the call stops after an attempt whose result was `Ok` (a classifier
    /// may call an `Ok` a failure), that `Ok` is returned; use
    /// [`call_outcome`](Self::call_outcome) to learn why such a call stopped.
    ///
    /// # Errors
    ///
    /// [`GuardError`], keeping `op`'s error type.
    #[inline]
    pub fn call<T, E, F>(&self, op: F) -> Result<T, GuardError<E>>
    where
        C: Classify<T, E>,
        S: Sleeper,
        F: FnMut(Attempt) -> Result<T, E>,
    {
        self.call_outcome(op).into_result()
    }

    /// [`call`](Self::call), returning the whole [`Outcome`]: why the call
    /// stopped, the attempts made, the last result (an `Ok` too) and the breaker's
    /// refusal, if any.
    ///
    /// # Examples
    ///
    /// A 503-like `Ok` that the classifier calls a retryable failure:
    ///
    /// ```
    /// use fusebox::{Breaker, Classification, Guard, Jitter, Retry, Stop};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let breaker = Arc::new(Breaker::builder().build()?);
    /// let retry = Retry::builder()
    ///     .max_attempts(2)
    ///     .constant_backoff(Duration::ZERO)
    ///     .jitter(Jitter::None)
    ///     .build()?;
    /// let guard = Guard::new(breaker, retry).with_classifier(|r: &Result<u16, ()>| match r {
    ///     Ok(503) | Err(_) => Classification::failure(),
    ///     Ok(_) => Classification::Success,
    /// });
    /// let outcome = guard.call_outcome(|_| Ok(503));
    /// assert_eq!(outcome.stop, Stop::Exhausted);
    /// assert_eq!(outcome.attempts, 2);
    /// assert_eq!(outcome.value(), Some(&503), "the response is still there");
    /// assert_eq!(outcome.stop.as_str(), "exhausted"); // a metrics label
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline]
    pub fn call_outcome<T, E, F>(&self, mut op: F) -> Outcome<T, E>
    where
        C: Classify<T, E>,
        S: Sleeper,
        F: FnMut(Attempt) -> Result<T, E>,
    {
        if self.timed::<T, E>() {
            return self.call_timed(op);
        }
        let mut call = Call::new(self);
        // The first attempt apart: its success is the healthy path, which tells
        // no event (see `crate::event`).
        let (permit, attempt) = match call.begin_first() {
            Ok(admitted) => admitted,
            Err(stop) => return stop,
        };
        let result = op(attempt);
        let mut step = call.finish_first(permit, result);
        loop {
            match step {
                Step::Done(done) => return done,
                Step::Sleep(delay) => self.sleeper.sleep(delay),
            }
            let (permit, attempt) = match call.begin() {
                Ok(admitted) => admitted,
                Err(stop) => return stop,
            };
            let result = op(attempt);
            step = call.finish(permit, result);
        }
    }

    /// Whether attempts are timed: the breaker has a slow-call threshold, or the
    /// classifier wants the time.
    #[inline]
    fn timed<T, E>(&self) -> bool
    where
        C: Classify<T, E>,
    {
        self.breaker.has_slow_call() || self.classifier.wants_elapsed()
    }

    /// Whether an async call's first attempt can take the lean path: no time
    /// limit to race it against, and no timing.
    #[inline]
    fn lean<T, E>(&self) -> bool
    where
        C: Classify<T, E>,
    {
        self.retry.deadline().is_none()
            && self.retry.attempt_timeout().is_none()
            && !self.timed::<T, E>()
    }

    /// [`call_outcome`](Self::call_outcome) with every attempt timed on the
    /// breaker's clock. A loop of its own, so that the untimed loop stays as lean
    /// as it was.
    #[inline(never)]
    fn call_timed<T, E, F>(&self, mut op: F) -> Outcome<T, E>
    where
        C: Classify<T, E>,
        S: Sleeper,
        F: FnMut(Attempt) -> Result<T, E>,
    {
        let mut call = Call::new(self);
        loop {
            let (permit, attempt) = match call.begin() {
                Ok(admitted) => admitted,
                Err(stop) => return stop,
            };
            let started = self.breaker.elapsed_ns();
            let result = op(attempt);
            match call.finish_timed(permit, result, started) {
                Step::Done(done) => return done,
                Step::Sleep(delay) => self.sleeper.sleep(delay),
            }
        }
    }

    /// Run the async `op` under the rules, sleeping with the guard's
    /// [`AsyncSleeper`]. Runtime-agnostic; allocates nothing beyond what `op`'s
    /// futures and the sleeper's do.
    ///
    /// Time limits are real here: an attempt still running when the call's
    /// [deadline](crate::RetryBuilder::deadline) passes, or after the
    /// [attempt timeout](crate::RetryBuilder::attempt_timeout), is cut. Its
    /// future is dropped (raced against the sleeper's timer), the breaker records
    /// a failure (the downstream did not answer in time), and the call ends with
    /// [`GuardError::DeadlineExceeded`] (deadline) or goes on as after any
    /// retryable failure (attempt timeout). With neither set, no timer is made.
    ///
    /// Dropping the returned future at any await point (mid-attempt or
    /// mid-sleep) leaks nothing: an attempt's permit dropped unrecorded is a
    /// cancellation.
    ///
    /// # Errors
    ///
    /// [`GuardError`], keeping `op`'s error type.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(not(feature = "tokio"))] fn main() {}
    /// # #[cfg(feature = "tokio")]
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), fusebox::ConfigError> {
    /// use fusebox::{Breaker, Guard, GuardError, Retry, TokioSleeper};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let retry = Retry::builder().deadline(Duration::from_secs(1)).build()?;
    /// let guard = Guard::new(Arc::new(Breaker::builder().build()?), retry)
    ///     .with_sleeper(TokioSleeper);
    /// // A downstream that hangs for 4 s: the deadline cuts the attempt at 1 s.
    /// let started = tokio::time::Instant::now();
    /// let r: Result<(), GuardError<()>> = guard
    ///     .call_async(|_| async {
    ///         tokio::time::sleep(Duration::from_secs(4)).await;
    ///         Ok(())
    ///     })
    ///     .await;
    /// assert!(matches!(r, Err(GuardError::DeadlineExceeded { attempts: 1, last: None })));
    /// assert_eq!(started.elapsed(), Duration::from_secs(1));
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub async fn call_async<T, E, F, Fut>(&self, op: F) -> Result<T, GuardError<E>>
    where
        C: Classify<T, E>,
        S: AsyncSleeper,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut op = op;
        async_loop!(self, op, |done: Outcome<T, E>| done.into_result())
    }

    /// [`call_async`](Self::call_async), returning the whole [`Outcome`] (see
    /// [`call_outcome`](Self::call_outcome)).
    pub async fn call_async_outcome<T, E, F, Fut>(&self, op: F) -> Outcome<T, E>
    where
        C: Classify<T, E>,
        S: AsyncSleeper,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut op = op;
        async_loop!(self, op, |done: Outcome<T, E>| done)
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

/// What to do after an attempt.
pub(crate) enum Step<T, E> {
    /// The call is over.
    Done(Outcome<T, E>),
    /// Sleep this long, then make the next attempt.
    Sleep(Duration),
}

/// What a [`Call`] holds its policy and state by: a borrowed guard (the permits
/// borrow the breaker), a guard in an `Arc` (owned permits, for `'static`
/// futures), or (the tower registry layer) a shared policy and one registry
/// entry's breaker and budget. Accessors, not a `&Guard`, so that the parts need
/// not live in one `Guard`; for the two guard holders each is a field access.
pub(crate) trait Holder {
    /// The classifier.
    type C;
    /// The sleeper.
    type S;
    /// The permit an attempt runs under.
    type Permit: AttemptPermit;
    /// The breaker.
    fn breaker(&self) -> &Breaker;
    /// The retry policy.
    fn retry(&self) -> &Retry;
    /// The retry budget, if any.
    fn budget(&self) -> Option<&RetryBudget>;
    /// The classifier.
    fn classifier(&self) -> &Self::C;
    /// The sleeper (the tower service's future sleeps on it).
    #[cfg(feature = "tower")]
    fn sleeper(&self) -> &Self::S;
    /// Rule 1: ask the breaker.
    fn acquire(&self) -> Result<Self::Permit, Rejected>;
}

/// The accessors of a holder that derefs to a `Guard`.
macro_rules! guard_accessors {
    () => {
        #[inline(always)]
        fn breaker(&self) -> &Breaker {
            &self.breaker
        }
        #[inline(always)]
        fn retry(&self) -> &Retry {
            &self.retry
        }
        #[inline(always)]
        fn budget(&self) -> Option<&RetryBudget> {
            self.budget.as_deref()
        }
        #[inline(always)]
        fn classifier(&self) -> &C {
            &self.classifier
        }
        #[cfg(feature = "tower")]
        #[inline(always)]
        fn sleeper(&self) -> &S {
            &self.sleeper
        }
    };
}

impl<'g, C, S> Holder for &'g Guard<C, S> {
    type C = C;
    type S = S;
    type Permit = Permit<'g>;
    guard_accessors!();
    #[inline(always)]
    fn acquire(&self) -> Result<Permit<'g>, Rejected> {
        let guard: &'g Guard<C, S> = self;
        guard.breaker.try_acquire()
    }
}

impl<C, S> Holder for Arc<Guard<C, S>> {
    type C = C;
    type S = S;
    type Permit = OwnedPermit;
    guard_accessors!();
    #[inline(always)]
    fn acquire(&self) -> Result<OwnedPermit, Rejected> {
        Breaker::try_acquire_owned(&self.breaker)
    }
}

/// The permit protocol the call needs, shared by [`Permit`] and [`OwnedPermit`].
pub(crate) trait AttemptPermit {
    fn epoch(&self) -> u32;
    fn record(self, verdict: Verdict) -> Recorded;
    fn record_timed(self, verdict: Verdict, elapsed: Duration) -> Recorded;
}

impl AttemptPermit for Permit<'_> {
    #[inline(always)]
    fn epoch(&self) -> u32 {
        Permit::epoch(self)
    }
    #[inline(always)]
    fn record(self, verdict: Verdict) -> Recorded {
        Permit::record(self, verdict)
    }
    #[inline]
    fn record_timed(self, verdict: Verdict, elapsed: Duration) -> Recorded {
        Permit::record_timed(self, verdict, elapsed)
    }
}

impl AttemptPermit for OwnedPermit {
    #[inline(always)]
    fn epoch(&self) -> u32 {
        OwnedPermit::epoch(self)
    }
    #[inline(always)]
    fn record(self, verdict: Verdict) -> Recorded {
        OwnedPermit::record(self, verdict)
    }
    #[inline]
    fn record_timed(self, verdict: Verdict, elapsed: Duration) -> Recorded {
        OwnedPermit::record_timed(self, verdict, elapsed)
    }
}

/// One call's state, shared by the sync and async loops (and the tower service).
pub(crate) struct Call<G, T, E> {
    holder: G,
    /// Breaker-clock time of the first attempt (the deadline counts from it).
    start_ns: Option<u64>,
    attempts: u32,
    /// The last attempt's result, kept across a sleep for the error (or value) a
    /// stop must return; `None` before the first attempt ends and after an
    /// attempt that was cut.
    last: Option<Result<T, E>>,
    /// Time left before the deadline when the current attempt began.
    deadline_left: Option<Duration>,
    /// The most attempts this call may make: the retry's `max_attempts`, or
    /// fewer (see [`no_more_retries`](Self::no_more_retries)).
    max_attempts: u32,
    delays: Delays,
}

impl<G, T, E> Call<G, T, E>
where
    G: Holder,
    G::C: Classify<T, E>,
{
    #[inline]
    pub(crate) fn new(holder: G) -> Self {
        let max_attempts = holder.retry().max_attempts();
        Self {
            holder,
            start_ns: None,
            attempts: 0,
            last: None,
            deadline_left: None,
            max_attempts,
            delays: Delays::new(),
        }
    }

    /// Whether the call may make another attempt after the current one (before
    /// the breaker, the deadline and the budget have their say).
    #[cfg(feature = "tower")]
    #[inline]
    pub(crate) fn may_retry(&self) -> bool {
        self.attempts < self.max_attempts
    }

    /// Make the current attempt the last one: a retryable failure then ends the
    /// call as [`Stop::Exhausted`] (a tower request that cannot be cloned).
    #[cfg(feature = "tower")]
    #[inline]
    pub(crate) fn no_more_retries(&mut self) {
        self.max_attempts = self.attempts.max(1);
    }

    /// End the call without another attempt: the service failed before it could
    /// be made (tower's `poll_ready`). [`Stop::Permanent`] with that error; no
    /// health signal (no permit was taken).
    #[cfg(feature = "tower")]
    #[cold]
    pub(crate) fn abandon(&mut self, error: E) -> Outcome<T, E> {
        self.done(Stop::Permanent, Some(Err(error)), None)
    }

    /// A call whose first attempt was made (and its budget deposit) outside it;
    /// it goes on with that attempt's verdict (see [`Call::after_record`]).
    #[cold]
    pub(crate) fn after_first(holder: G) -> Self {
        let mut call = Self::new(holder);
        call.attempts = 1;
        call
    }

    /// What the call holds its policy and state by.
    #[cfg(feature = "tower")]
    #[inline(always)]
    pub(crate) fn holder(&self) -> &G {
        &self.holder
    }

    /// Whether attempts are timed (as [`Guard::timed`]).
    #[inline]
    pub(crate) fn timed(&self) -> bool {
        self.holder.breaker().has_slow_call() || self.holder.classifier().wants_elapsed()
    }

    /// Ask the breaker for the next attempt's permit (rule 1), unless the
    /// attempt is a retry due at or past the call's deadline (rule 4).
    #[inline]
    pub(crate) fn begin(&mut self) -> Result<(G::Permit, Attempt), Outcome<T, E>> {
        // `start_ns` is set from the first attempt on when there is a deadline,
        // so this is a retry: checked before the permit, so that a retry that is
        // not sent takes no permit (no half-open slot, no `Open -> HalfOpen`)
        // and records nothing.
        if let (Some(deadline), Some(start)) = (self.holder.retry().deadline(), self.start_ns) {
            let now = self.holder.breaker().elapsed_ns();
            let elapsed = Duration::from_nanos(now.saturating_sub(start));
            match deadline.checked_sub(elapsed) {
                Some(left) if !left.is_zero() => self.deadline_left = Some(left),
                _ => return Err(self.past_deadline()),
            }
        }
        self.admit()
    }

    /// [`begin`](Self::begin) for a call's first attempt, which the deadline
    /// never refuses: the healthy path skips the check.
    #[inline]
    pub(crate) fn begin_first(&mut self) -> Result<(G::Permit, Attempt), Outcome<T, E>> {
        debug_assert_eq!(self.attempts, 0, "not the first attempt");
        self.admit()
    }

    /// Rule 1, and the attempt's bookkeeping once admitted.
    #[inline(always)]
    fn admit(&mut self) -> Result<(G::Permit, Attempt), Outcome<T, E>> {
        let holder = &self.holder;
        match holder.acquire() {
            Ok(permit) => {
                self.attempts += 1;
                if self.attempts == 1 {
                    // The deadline counts from the first attempt's admission, so
                    // the first attempt has all of it (a deadline is never zero).
                    if let Some(deadline) = holder.retry().deadline() {
                        self.start_ns = Some(holder.breaker().elapsed_ns());
                        self.deadline_left = Some(deadline);
                    }
                    if let Some(budget) = holder.budget() {
                        budget.deposit();
                    }
                }
                let remaining = match (self.deadline_left, holder.retry().attempt_timeout()) {
                    (Some(left), Some(timeout)) => Some(left.min(timeout)),
                    (left, timeout) => left.or(timeout),
                };
                let attempt = Attempt {
                    number: self.attempts,
                    remaining,
                    epoch: permit.epoch(),
                };
                Ok((permit, attempt))
            }
            Err(rejected) => Err(self.rejected(rejected)),
        }
    }

    /// A retry was due at or past the deadline (the sleeper woke late, or a
    /// tower service took that long to be ready): the call ends without it,
    /// keeping the last attempt's result. Nothing is recorded and no budget
    /// token is refunded (the one withdrawn paid for the sleep, which happened).
    #[cold]
    fn past_deadline(&mut self) -> Outcome<T, E> {
        let last = self.last.take();
        self.done(Stop::DeadlineExceeded, last, None)
    }

    /// The attempt's time limit in `call_async`: the time left before the
    /// deadline or the per-attempt timeout, whichever is sooner, and whether it is
    /// the deadline's. `None`: the attempt runs until it ends.
    #[inline]
    pub(crate) fn limit(&self) -> Option<(Duration, bool)> {
        match (self.deadline_left, self.holder.retry().attempt_timeout()) {
            (None, None) => None,
            (Some(remaining), None) => Some((remaining, true)),
            (None, Some(timeout)) => Some((timeout, false)),
            (Some(remaining), Some(timeout)) => Some(if remaining <= timeout {
                (remaining, true)
            } else {
                (timeout, false)
            }),
        }
    }

    /// Record the attempt and decide: return, or sleep and go again (rules 2–5).
    #[inline]
    pub(crate) fn finish(&mut self, permit: G::Permit, result: Result<T, E>) -> Step<T, E> {
        let class = self.holder.classifier().classify(&result);
        // Rule 2: the health signal, whatever the call does next. A stale report
        // (the breaker moved on during the attempt) changed nothing, and the retry
        // decides on its own: the next `try_acquire` sees the new epoch.
        let _recorded = permit.record(class.verdict());
        self.after_record(class, Some(result))
    }

    /// [`finish`](Self::finish) for a call's first attempt.
    #[inline]
    pub(crate) fn finish_first(&mut self, permit: G::Permit, result: Result<T, E>) -> Step<T, E> {
        let class = self.holder.classifier().classify(&result);
        let _recorded = permit.record(class.verdict());
        self.after_first_record(class, Some(result))
    }

    /// [`finish`](Self::finish) for an attempt that began at `started_ns` on the
    /// breaker's clock: the classifier sees its duration, and a success slower
    /// than the breaker's slow-call threshold is a failure for the breaker (only:
    /// the call still returns it).
    #[inline(never)]
    pub(crate) fn finish_timed(
        &mut self,
        permit: G::Permit,
        result: Result<T, E>,
        started_ns: u64,
    ) -> Step<T, E> {
        let holder = &self.holder;
        let now = holder.breaker().elapsed_ns();
        let elapsed = Duration::from_nanos(now.saturating_sub(started_ns));
        let class = holder.classifier().classify_timed(&result, Some(elapsed));
        let _recorded = permit.record_timed(class.verdict(), elapsed);
        if let Some(threshold) = holder.breaker().slow_call_threshold() {
            if elapsed > threshold {
                holder
                    .breaker()
                    .emit(EventKind::SlowAttempt { elapsed, threshold });
            }
        }
        self.after_record(class, Some(result))
    }

    /// An attempt cut by its time limit (its future already dropped): a
    /// retryable failure for the breaker and the retry, with no result. Cut by
    /// the deadline, the call is over.
    #[cold]
    pub(crate) fn cut(
        &mut self,
        permit: G::Permit,
        limit: Duration,
        by_deadline: bool,
    ) -> Step<T, E> {
        let _recorded = permit.record(Verdict::failure());
        self.holder.breaker().emit(EventKind::AttemptTimedOut {
            attempt: self.attempts,
            limit,
            by_deadline,
        });
        if by_deadline {
            return Step::Done(self.done(Stop::DeadlineExceeded, None, None));
        }
        self.after_record(Classification::failure(), None)
    }

    /// After the verdict is recorded: return, or sleep and go again (rules 3–5).
    #[inline]
    pub(crate) fn after_record(
        &mut self,
        class: Classification,
        result: Option<Result<T, E>>,
    ) -> Step<T, E> {
        if let Classification::Success = class {
            // A first-attempt success tells nothing (see `crate::event`); a later
            // one ends a call that did something unusual.
            if self.attempts > 1 {
                self.tell_stop(Stop::Succeeded);
            }
            return Step::Done(self.outcome(Stop::Succeeded, result, None));
        }
        self.after_failure(class, result)
    }

    /// [`after_record`](Self::after_record) for the first attempt of a call: a
    /// success is the healthy path, with nothing to tell.
    #[inline]
    pub(crate) fn after_first_record(
        &mut self,
        class: Classification,
        result: Option<Result<T, E>>,
    ) -> Step<T, E> {
        if let Classification::Success = class {
            return Step::Done(self.outcome(Stop::Succeeded, result, None));
        }
        self.after_failure(class, result)
    }

    /// After a verdict other than success: stop, or sleep and go again.
    #[inline]
    fn after_failure(&mut self, class: Classification, result: Option<Result<T, E>>) -> Step<T, E> {
        match class {
            // A success never comes here (both callers end the call on it first);
            // it shares the ignored arm only so that the match needs no panic.
            Classification::Success | Classification::Ignored => {
                return Step::Done(self.done(Stop::Ignored, result, None));
            }
            Classification::Failure { retryable, .. } => {
                if !retryable {
                    return Step::Done(self.done(Stop::Permanent, result, None));
                }
            }
        }
        if self.attempts >= self.max_attempts {
            return Step::Done(self.done(Stop::Exhausted, result, None));
        }
        self.before_sleep(class, result)
    }

    #[cold]
    fn before_sleep(&mut self, class: Classification, result: Option<Result<T, E>>) -> Step<T, E> {
        let holder = &self.holder;
        let breaker = holder.breaker();
        let backoff = Duration::from_nanos(self.delays.next(holder.retry(), self.attempts));
        let (delay, reason) = match class.retry_after() {
            Some(hint) if hint > backoff => (hint, DelayReason::ServerHint),
            _ => (backoff, DelayReason::Backoff),
        };
        // Rule 3, in order: breaker, deadline, budget.
        if let Some(rejected) = breaker.rejects_for(delay) {
            breaker.emit(EventKind::Rejected(rejected));
            return Step::Done(self.done(Stop::RejectedMidCall, result, Some(rejected)));
        }
        if let (Some(deadline), Some(start)) = (holder.retry().deadline(), self.start_ns) {
            let elapsed = Duration::from_nanos(breaker.elapsed_ns().saturating_sub(start));
            // A sleep ending at the deadline is not started either: the retry
            // after it would not be sent (see `begin`). `checked_add`: a wake
            // time past `Duration::MAX` is past any deadline.
            if elapsed
                .checked_add(delay)
                .is_none_or(|wake| wake >= deadline)
            {
                return Step::Done(self.done(Stop::DeadlineExceeded, result, None));
            }
        }
        if let Some(budget) = holder.budget() {
            if !budget.try_withdraw() {
                #[cfg(feature = "metrics")]
                budget.metric_handles().refused();
                breaker.emit(EventKind::BudgetRefused {
                    budget: budget.name(),
                    attempts: self.attempts,
                });
                return Step::Done(self.done(Stop::BudgetExhausted, result, None));
            }
        }
        breaker.emit(EventKind::Retry {
            attempt: self.attempts + 1,
            delay,
            reason,
        });
        self.last = result;
        Step::Sleep(delay)
    }

    /// The breaker refused an attempt: the call ends with the last result kept.
    #[cold]
    pub(crate) fn rejected(&mut self, rejected: Rejected) -> Outcome<T, E> {
        let stop = if self.attempts == 0 {
            Stop::Rejected
        } else {
            Stop::RejectedMidCall
        };
        let last = self.last.take();
        self.done(stop, last, Some(rejected))
    }

    /// The call's outcome, told to the breaker's listeners (every stop but a
    /// first-attempt success comes here).
    #[inline]
    fn done(
        &self,
        stop: Stop,
        last: Option<Result<T, E>>,
        rejected: Option<Rejected>,
    ) -> Outcome<T, E> {
        self.tell_stop(stop);
        self.outcome(stop, last, rejected)
    }

    /// Tell the breaker's listeners that the call stopped.
    #[inline]
    fn tell_stop(&self, stop: Stop) {
        let breaker = self.holder.breaker();
        if breaker.observed() {
            breaker.emit(EventKind::CallStopped {
                stop,
                attempts: self.attempts,
            });
        }
    }

    #[inline(always)]
    fn outcome(
        &self,
        stop: Stop,
        last: Option<Result<T, E>>,
        rejected: Option<Rejected>,
    ) -> Outcome<T, E> {
        Outcome {
            stop,
            attempts: self.attempts,
            last,
            rejected,
        }
    }
}

/// Poll `attempt` and then `timer` until one is ready: `Some` with the attempt's
/// output, or `None` if the timer fired first. The attempt is polled first, so
/// an attempt ready at the limit wins. Both are dropped when this returns.
async fn race<A: Future, B: Future<Output = ()>>(attempt: A, timer: B) -> Option<A::Output> {
    let mut attempt = std::pin::pin!(attempt);
    let mut timer = std::pin::pin!(timer);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(out) = attempt.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
