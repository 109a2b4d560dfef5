//! What a guarded call hands back: [`Attempt`] (what an attempt is told),
//! [`GuardError`] and [`Outcome`] (why the call stopped, with the last result).

use super::*;

/// What the operation is told about the attempt it is making.
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, Guard, Retry};
/// use std::{sync::Arc, time::Duration};
///
/// let retry = Retry::builder()
///     .constant_backoff(Duration::from_millis(1))
///     .deadline(Duration::from_secs(5))
///     .build()?;
/// let guard = Guard::new(Arc::new(Breaker::builder().build()?), retry);
/// let mut seen = Vec::new();
/// let result = guard.call(|attempt| {
///     seen.push(attempt.number);
///     // Use the time left as the attempt's own I/O timeout.
///     assert!(attempt.remaining.unwrap() <= Duration::from_secs(5));
///     if attempt.number < 3 { Err("timeout") } else { Ok("done") }
/// });
/// assert_eq!(result, Ok("done"));
/// assert_eq!(seen, [1, 2, 3]);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
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
///
/// # Examples
///
/// Every failed call says why it stopped, how many attempts it made and, where
/// there was one, the last downstream error:
///
/// ```
/// use fusebox::{Breaker, Guard, GuardError, Rejected, Retry, Stop};
/// use std::{sync::Arc, time::Duration};
///
/// let breaker = Arc::new(Breaker::builder().build()?);
/// let retry = Retry::builder().constant_backoff(Duration::from_millis(1)).build()?;
/// let guard = Guard::new(breaker.clone(), retry);
///
/// match guard.call(|_| Err::<(), _>("503")) {
///     Err(GuardError::Exhausted { attempts, last }) => {
///         assert_eq!(attempts, 3); // the default policy's three attempts
///         assert_eq!(last, Some("503"));
///     }
///     other => panic!("{other:?}"),
/// }
///
/// breaker.force_open(); // an operator takes the downstream out
/// let err = guard.call(|_| Ok::<_, &str>(())).unwrap_err();
/// assert!(matches!(err, GuardError::Rejected { rejected: Rejected::ForcedOpen, attempts: 0, .. }));
/// assert_eq!(err.stop(), Stop::Rejected);
/// assert_eq!(err.last(), None); // nothing was sent
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
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
        /// Attempts made: `max_attempts` (a hedged call's hedges count among
        /// them).
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
    /// Which hedge gave `last` when the call succeeded by it: 0 when the
    /// attempt was not a hedge (see [`winner`](Self::winner)).
    pub(crate) hedge_won: u32,
}

/// Which attempt of a successful call gave its result (see
/// [`Outcome::winner`]).
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, Guard, Retry, Winner};
/// use std::sync::Arc;
///
/// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default());
/// let outcome = guard.call_outcome(|_| Ok::<_, ()>(7));
/// assert_eq!(outcome.winner(), Some(Winner::Primary));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Winner {
    /// The attempt the call made on its own (the first, or a retry).
    Primary,
    /// The `k`-th hedge the call sent (1 for the first); see
    /// [`Guard::with_hedging`].
    Hedge(u32),
}

impl<T, E> Outcome<T, E> {
    /// Which attempt gave the result of a call that [succeeded](Stop::Succeeded):
    /// the call's own attempt, or one of its hedges (see
    /// [`Guard::with_hedging`]). `None` when the call did not succeed.
    ///
    /// # Examples
    ///
    /// See [`Guard::with_hedging`] for a hedge that wins.
    ///
    /// ```
    /// use fusebox::{Breaker, Guard, Retry, Stop, Winner};
    /// use std::sync::Arc;
    ///
    /// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default());
    /// assert_eq!(guard.call_outcome(|_| Ok::<_, ()>(1)).winner(), Some(Winner::Primary));
    /// let failed = guard.call_outcome(|_| Err::<(), _>("down"));
    /// assert_eq!((failed.stop, failed.winner()), (Stop::Exhausted, None));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn winner(&self) -> Option<Winner> {
        match (self.stop, self.hedge_won) {
            (Stop::Succeeded, 0) => Some(Winner::Primary),
            (Stop::Succeeded, k) => Some(Winner::Hedge(k)),
            _ => None,
        }
    }

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
