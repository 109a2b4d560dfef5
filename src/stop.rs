//! Why a guarded call stopped ([`Stop`]): a word the guard, the events and the
//! metrics share, so it lives below all three.

use std::fmt;

/// Why a guarded call stopped: one per call, for logs and metrics.
///
/// Every call ends with exactly one, whether it returned `Ok` or `Err`; see
/// [`Outcome`](crate::Outcome) and [`GuardError::stop`](crate::GuardError::stop).
///
/// # Examples
///
/// ```
/// use fusebox::Stop;
///
/// assert!(Stop::Succeeded.is_success());
/// assert_eq!(Stop::BudgetExhausted.as_str(), "budget_exhausted");
/// assert_eq!(Stop::ALL.len(), 8);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Stop {
    /// The last attempt succeeded.
    Succeeded,
    /// The classifier ignored the last result ([`Classification::Ignored`](crate::Classification::Ignored): a
    /// caller error such as a 404, not a health signal): returned, not retried.
    Ignored,
    /// The classifier called the last result a non-retryable failure.
    Permanent,
    /// Every allowed attempt failed ([`RetryBuilder::max_attempts`](crate::RetryBuilder::max_attempts)).
    Exhausted,
    /// The retry budget refused the next retry.
    BudgetExhausted,
    /// The call's deadline passed (before a sleep, before a retry due past it,
    /// or during an attempt in [`Guard::call_async`](crate::Guard::call_async)).
    DeadlineExceeded,
    /// The breaker refused the first attempt: nothing reached the downstream.
    Rejected,
    /// The breaker refused a retry: it opened (or started shedding) during the
    /// call, or will still be open when the backoff ends.
    RejectedMidCall,
}

impl Stop {
    /// Every stop reason, for pre-registering metrics.
    pub const ALL: [Stop; 8] = [
        Stop::Succeeded,
        Stop::Ignored,
        Stop::Permanent,
        Stop::Exhausted,
        Stop::BudgetExhausted,
        Stop::DeadlineExceeded,
        Stop::Rejected,
        Stop::RejectedMidCall,
    ];

    /// A stable `snake_case` name, for log fields and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stop::Succeeded => "succeeded",
            Stop::Ignored => "ignored",
            Stop::Permanent => "permanent",
            Stop::Exhausted => "exhausted",
            Stop::BudgetExhausted => "budget_exhausted",
            Stop::DeadlineExceeded => "deadline_exceeded",
            Stop::Rejected => "rejected",
            Stop::RejectedMidCall => "rejected_mid_call",
        }
    }

    /// Whether the call succeeded ([`Stop::Succeeded`]).
    pub const fn is_success(self) -> bool {
        matches!(self, Stop::Succeeded)
    }
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
