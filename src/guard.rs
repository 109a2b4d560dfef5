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
//!    the sleep ends, the call fails fast with `Rejected` (no sleep); if the deadline
//!    would pass during the sleep, it ends with `DeadlineExceeded` (no sleep); if the
//!    budget refuses, it ends with `BudgetExhausted` (no sleep). In that order, so a
//!    token is withdrawn only for a sleep that will happen.
//! 4. After sleeping, the next `try_acquire` sees the breaker's current epoch: if it
//!    opened meanwhile, the call stops there; a report from before a transition is
//!    `Stale` and changes nothing.
//! 5. The next delay is `max(server hint, jittered backoff)`; a hint that cannot be
//!    honoured within the deadline ends the call.
//! 6. A panic in the operation propagates to the caller; the attempt's permit is
//!    dropped while unwinding, which is a cancellation (no health signal, its
//!    half-open slot freed). A dropped `call_async` future leaks nothing the same
//!    way, whether it was mid-attempt or mid-sleep (a token withdrawn for that sleep
//!    is not refunded).
//!
//! When a call stops after an attempt whose result was `Ok` (a classifier may call
//! an `Ok` a failure, an HTTP 503 response say), that `Ok` is returned: the
//! classifier decides health and retries, never hides a value.

use crate::breaker::{Breaker, Permit};
use crate::budget::RetryBudget;
use crate::classify::{Classification, Classify, DefaultClassifier};
use crate::error::Rejected;
use crate::retry::{Delays, Retry};
use crate::sleep::{AsyncSleeper, Sleeper, ThreadSleeper};
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// What the operation is told about the attempt it is making.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Attempt {
    /// 1 for the first attempt.
    pub number: u32,
    /// Time left before the call's deadline, if it has one (zero if it is due).
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
        /// The last attempt's error.
        last: E,
    },
    /// The retry budget refused the next retry.
    BudgetExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        last: E,
    },
    /// The next delay would end past the call's deadline.
    DeadlineExceeded {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        last: E,
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
            GuardError::Rejected { last, .. } => last.as_ref(),
            GuardError::Exhausted { last, .. }
            | GuardError::BudgetExhausted { last, .. }
            | GuardError::DeadlineExceeded { last, .. }
            | GuardError::Permanent { error: last, .. } => Some(last),
        }
    }

    /// The last downstream error, by value.
    pub fn into_inner(self) -> Option<E> {
        match self {
            GuardError::Rejected { last, .. } => last,
            GuardError::Exhausted { last, .. }
            | GuardError::BudgetExhausted { last, .. }
            | GuardError::DeadlineExceeded { last, .. }
            | GuardError::Permanent { error: last, .. } => Some(last),
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
                write!(f, "all {attempts} attempts failed; last error: {last}")
            }
            GuardError::BudgetExhausted { attempts, last } => {
                write!(
                    f,
                    "retry budget exhausted after {attempts} attempts; last error: {last}"
                )
            }
            GuardError::DeadlineExceeded { attempts, last } => {
                write!(
                    f,
                    "deadline exceeded after {attempts} attempts; last error: {last}"
                )
            }
            GuardError::Permanent { attempts, error } => {
                write!(f, "non-retryable error after {attempts} attempts: {error}")
            }
        }
    }
}

impl<E: Error + 'static> Error for GuardError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.last().map(|e| e as &(dyn Error + 'static))
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
    /// # Errors
    ///
    /// [`GuardError`], keeping `op`'s error type.
    #[inline]
    pub fn call<T, E, F>(&self, mut op: F) -> Result<T, GuardError<E>>
    where
        C: Classify<T, E>,
        S: Sleeper,
        F: FnMut(Attempt) -> Result<T, E>,
    {
        if self.timed::<T, E>() {
            return self.call_timed(op);
        }
        let mut call = Call::new(self);
        loop {
            let (permit, attempt) = match call.begin() {
                Ok(admitted) => admitted,
                Err(stop) => return stop,
            };
            let result = op(attempt);
            match call.finish(permit, result) {
                Step::Done(done) => return done,
                Step::Sleep(delay) => self.sleeper.sleep(delay),
            }
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

    /// [`call`](Self::call) with every attempt timed on the breaker's clock. A
    /// loop of its own, so that the untimed loop stays as lean as it was.
    #[inline(never)]
    fn call_timed<T, E, F>(&self, mut op: F) -> Result<T, GuardError<E>>
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
    /// futures do. Dropping the returned future at any await point (mid-attempt
    /// or mid-sleep) leaks nothing: an attempt's permit dropped unrecorded is a
    /// cancellation.
    ///
    /// # Errors
    ///
    /// [`GuardError`], keeping `op`'s error type.
    pub async fn call_async<T, E, F, Fut>(&self, mut op: F) -> Result<T, GuardError<E>>
    where
        C: Classify<T, E>,
        S: AsyncSleeper,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let timed = self.timed::<T, E>();
        let mut call = Call::new(self);
        loop {
            let (permit, attempt) = match call.begin() {
                Ok(admitted) => admitted,
                Err(stop) => return stop,
            };
            if timed {
                let started = self.breaker.elapsed_ns();
                let result = op(attempt).await;
                match call.finish_timed(permit, result, started) {
                    Step::Done(done) => return done,
                    Step::Sleep(delay) => self.sleeper.sleep(delay).await,
                }
                continue;
            }
            let result = op(attempt).await;
            match call.finish(permit, result) {
                Step::Done(done) => return done,
                Step::Sleep(delay) => self.sleeper.sleep(delay).await,
            }
        }
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
enum Step<T, E> {
    Done(Result<T, GuardError<E>>),
    Sleep(Duration),
}

/// One call's state, shared by the sync and async loops.
struct Call<'g, C, S, T, E> {
    guard: &'g Guard<C, S>,
    /// Breaker-clock time of the first attempt (the deadline counts from it).
    start_ns: Option<u64>,
    attempts: u32,
    /// The last attempt's result, kept across a sleep for the error (or value) a
    /// stop must return.
    last: Option<Result<T, E>>,
    delays: Delays,
}

impl<'g, C, S, T, E> Call<'g, C, S, T, E>
where
    C: Classify<T, E>,
{
    fn new(guard: &'g Guard<C, S>) -> Self {
        Self {
            guard,
            start_ns: None,
            attempts: 0,
            last: None,
            delays: Delays::new(),
        }
    }

    /// Ask the breaker for the next attempt's permit (rule 1).
    #[inline]
    fn begin(&mut self) -> Result<(Permit<'g>, Attempt), Result<T, GuardError<E>>> {
        let breaker: &'g Breaker = &self.guard.breaker;
        match breaker.try_acquire() {
            Ok(permit) => {
                self.attempts += 1;
                let remaining = self.guard.retry.deadline().map(|deadline| {
                    let now = breaker.elapsed_ns();
                    let start = *self.start_ns.get_or_insert(now);
                    deadline.saturating_sub(Duration::from_nanos(now.saturating_sub(start)))
                });
                if self.attempts == 1 {
                    if let Some(budget) = &self.guard.budget {
                        budget.deposit();
                    }
                }
                let attempt = Attempt {
                    number: self.attempts,
                    remaining,
                    epoch: permit.epoch(),
                };
                Ok((permit, attempt))
            }
            Err(rejected) => {
                let attempts = self.attempts;
                Err(self.stop(|last| GuardError::Rejected {
                    rejected,
                    attempts,
                    last,
                }))
            }
        }
    }

    /// Record the attempt and decide: return, or sleep and go again (rules 2–5).
    #[inline]
    fn finish(&mut self, permit: Permit<'g>, result: Result<T, E>) -> Step<T, E> {
        let class = self.guard.classifier.classify(&result);
        // Rule 2: the health signal, whatever the call does next. A stale report
        // (the breaker moved on during the attempt) changed nothing, and the retry
        // decides on its own: the next `try_acquire` sees the new epoch.
        let _recorded = permit.record(class.verdict());
        self.after_record(class, result)
    }

    /// [`finish`](Self::finish) for an attempt that began at `started_ns` on the
    /// breaker's clock: the classifier sees its duration, and a success slower
    /// than the breaker's slow-call threshold is a failure for the breaker (only:
    /// the call still returns it).
    #[inline(never)]
    fn finish_timed(
        &mut self,
        permit: Permit<'g>,
        result: Result<T, E>,
        started_ns: u64,
    ) -> Step<T, E> {
        let now = self.guard.breaker.elapsed_ns();
        let elapsed = Duration::from_nanos(now.saturating_sub(started_ns));
        let class = self.guard.classifier.classify_timed(&result, Some(elapsed));
        let _recorded = permit.record_timed(class.verdict(), elapsed);
        self.after_record(class, result)
    }

    /// After the verdict is recorded: return, or sleep and go again (rules 3–5).
    #[inline]
    fn after_record(&mut self, class: Classification, result: Result<T, E>) -> Step<T, E> {
        let attempts = self.attempts;
        if !class.is_retryable() {
            return Step::Done(result.map_err(|error| GuardError::Permanent { attempts, error }));
        }
        if attempts >= self.guard.retry.max_attempts() {
            return Step::Done(result.map_err(|last| GuardError::Exhausted { attempts, last }));
        }
        self.before_sleep(class, result)
    }

    #[cold]
    fn before_sleep(&mut self, class: Classification, result: Result<T, E>) -> Step<T, E> {
        let guard = self.guard;
        let attempts = self.attempts;
        let backoff = Duration::from_nanos(self.delays.next(&guard.retry, attempts));
        let delay = class
            .retry_after()
            .map_or(backoff, |hint| hint.max(backoff));
        // Rule 3, in order: breaker, deadline, budget.
        if let Some(rejected) = guard.breaker.rejects_for(delay) {
            return Step::Done(result.map_err(|last| GuardError::Rejected {
                rejected,
                attempts,
                last: Some(last),
            }));
        }
        if let (Some(deadline), Some(start)) = (guard.retry.deadline(), self.start_ns) {
            let elapsed = Duration::from_nanos(guard.breaker.elapsed_ns().saturating_sub(start));
            // `checked_add`: a wake time past `Duration::MAX` is past any deadline.
            if elapsed
                .checked_add(delay)
                .is_none_or(|wake| wake > deadline)
            {
                return Step::Done(
                    result.map_err(|last| GuardError::DeadlineExceeded { attempts, last }),
                );
            }
        }
        if let Some(budget) = &guard.budget {
            if !budget.try_withdraw() {
                return Step::Done(
                    result.map_err(|last| GuardError::BudgetExhausted { attempts, last }),
                );
            }
        }
        self.last = Some(result);
        Step::Sleep(delay)
    }

    /// End the call: a last `Ok` is returned as is; otherwise `error(last error)`.
    fn stop(&mut self, error: impl FnOnce(Option<E>) -> GuardError<E>) -> Result<T, GuardError<E>> {
        match self.last.take() {
            Some(Ok(value)) => Ok(value),
            Some(Err(e)) => Err(error(Some(e))),
            None => Err(error(None)),
        }
    }
}
