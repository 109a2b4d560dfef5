//! Verdicts from results: one classifier serves both halves of the fusion. The
//! breaker gets the health signal ([`Verdict`]); the retry gets the decision
//! (retry or not, and how long the server asked us to wait).

use crate::verdict::Verdict;
use std::fmt;
use std::time::Duration;

/// How one attempt's result counts, for the breaker and for the retry.
///
/// # Examples
///
/// ```
/// use fusebox::{Classification, Verdict};
/// use std::time::Duration;
///
/// let busy = Classification::failure().with_retry_after(Duration::from_secs(2));
/// assert_eq!(busy.verdict(), Verdict::failure());
/// assert!(busy.is_retryable());
/// assert_eq!(busy.retry_after(), Some(Duration::from_secs(2)));
///
/// let bad_request = Classification::Ignored;
/// assert_eq!(bad_request.verdict(), Verdict::Ignored);
/// assert!(!bad_request.is_retryable());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Classification {
    /// The attempt succeeded: a healthy signal; the call ends with this result.
    Success,
    /// The attempt failed.
    Failure {
        /// The health signal's weight (see [`Verdict::Failure`]).
        weight: f64,
        /// Whether another attempt may help. A non-retryable failure ends the call
        /// with [`GuardError::Permanent`](crate::GuardError::Permanent) (it is still
        /// a health signal).
        retryable: bool,
        /// A server's hint ("retry after"): the next delay is at least this.
        retry_after: Option<Duration>,
    },
    /// Not a health signal and not retried: a caller error (a bad request, a
    /// not-found), a cancellation. The call ends with this result.
    Ignored,
}

impl Classification {
    /// A retryable unit failure with no hint.
    pub const fn failure() -> Self {
        Classification::Failure {
            weight: 1.0,
            retryable: true,
            retry_after: None,
        }
    }

    /// A non-retryable unit failure: counts against health, ends the call.
    pub const fn permanent() -> Self {
        Classification::Failure {
            weight: 1.0,
            retryable: false,
            retry_after: None,
        }
    }

    /// This failure with the given weight (no effect on `Success` and `Ignored`).
    pub const fn with_weight(self, weight: f64) -> Self {
        match self {
            Classification::Failure {
                retryable,
                retry_after,
                ..
            } => Classification::Failure {
                weight,
                retryable,
                retry_after,
            },
            other => other,
        }
    }

    /// This failure with a server hint (no effect on `Success` and `Ignored`).
    pub const fn with_retry_after(self, hint: Duration) -> Self {
        match self {
            Classification::Failure {
                weight, retryable, ..
            } => Classification::Failure {
                weight,
                retryable,
                retry_after: Some(hint),
            },
            other => other,
        }
    }

    /// The health signal the breaker records.
    pub fn verdict(&self) -> Verdict {
        match *self {
            Classification::Success => Verdict::Success,
            Classification::Failure { weight, .. } => Verdict::Failure { weight },
            Classification::Ignored => Verdict::Ignored,
        }
    }

    /// Whether the retry may make another attempt.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Classification::Failure {
                retryable: true,
                ..
            }
        )
    }

    /// The server's hint, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Classification::Failure { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Maps an attempt's result to a [`Classification`].
///
/// Closures `Fn(&Result<T, E>) -> Classification` implement it.
///
/// # Examples
///
/// ```
/// use fusebox::{Classification, Classify};
///
/// #[derive(Debug)]
/// enum HttpError { Status(u16), Timeout }
///
/// let classify = |r: &Result<&str, HttpError>| match r {
///     Ok(_) => Classification::Success,
///     Err(HttpError::Status(s)) if *s < 500 => Classification::Ignored,
///     Err(HttpError::Status(501)) => Classification::permanent(),
///     Err(HttpError::Status(_)) => Classification::failure(),
///     Err(HttpError::Timeout) => Classification::failure().with_weight(2.0),
/// };
/// assert_eq!(classify.classify(&Err(HttpError::Status(404))), Classification::Ignored);
/// assert!(classify.classify(&Err(HttpError::Timeout)).is_retryable());
/// ```
///
/// A classifier classifies the results it implements `Classify` for, and no
/// others: a guard whose classifier does not know its calls' results does not
/// compile, and the error says what to use instead (`reqwest::Response` needs
/// `fusebox::reqwest::ReqwestClassifier`, `http::Response` the
/// `HttpClassifier`). (A classifier with a single `Classify` impl makes the
/// compiler infer the call's result type from it, and the same mistake is
/// then reported as a type mismatch in the operation.)
///
/// ```compile_fail,E0277
/// use fusebox::{Breaker, Classification, Classify, Guard, Retry};
/// use std::io;
/// use std::sync::Arc;
///
/// /// An HTTP status, or a gRPC one.
/// struct Http(u16);
/// struct Grpc(i32);
///
/// /// Classifies statuses of both kinds.
/// struct ByStatus;
/// impl Classify<Http, io::Error> for ByStatus {
///     fn classify(&self, r: &Result<Http, io::Error>) -> Classification {
///         match r {
///             Ok(Http(status)) if *status < 500 => Classification::Success,
///             _ => Classification::failure(),
///         }
///     }
/// }
/// impl Classify<Grpc, io::Error> for ByStatus {
///     fn classify(&self, r: &Result<Grpc, io::Error>) -> Classification {
///         match r {
///             Ok(Grpc(0)) => Classification::Success,
///             _ => Classification::failure(),
///         }
///     }
/// }
///
/// let guard = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
///     .with_classifier(ByStatus);
/// // The calls answer `String`s: `ByStatus` cannot classify a `Result<String, io::Error>`.
/// let r = guard.call(|_| Ok::<String, io::Error>("200 OK".to_string()));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot classify a `Result<{T}, {E}>`",
    label = "no `Classify<{T}, {E}>` for this classifier",
    note = "a guard's classifier must implement `Classify` for the results of the calls it guards",
    note = "for `reqwest::Response` / `reqwest::Error`: enable fusebox's `reqwest` feature and use `.with_classifier(fusebox::reqwest::ReqwestClassifier::new())`",
    note = "for `http::Response<B>` (hyper, axum, tower-http): `fusebox::http::HttpClassifier` (feature `http`)",
    note = "for anything else: any closure `Fn(&Result<T, E>) -> fusebox::Classification` is a classifier"
)]
pub trait Classify<T, E> {
    /// Classify one attempt's result.
    fn classify(&self, result: &Result<T, E>) -> Classification;

    /// Classify one attempt's result knowing how long it took, on the breaker's
    /// clock: `Some` when the guard timed the attempt (because the breaker has a
    /// [slow-call threshold](crate::BreakerBuilder::slow_call) or
    /// [`wants_elapsed`](Self::wants_elapsed) says so), `None` otherwise. The
    /// default ignores the time and calls [`classify`](Self::classify).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Classification, Classify};
    /// use std::time::Duration;
    ///
    /// /// Successes slower than 300 ms are half a failure (and retried).
    /// struct Sluggish;
    /// impl<T, E> Classify<T, E> for Sluggish {
    ///     fn classify(&self, r: &Result<T, E>) -> Classification {
    ///         if r.is_ok() { Classification::Success } else { Classification::failure() }
    ///     }
    ///     fn classify_timed(&self, r: &Result<T, E>, took: Option<Duration>) -> Classification {
    ///         match took {
    ///             Some(t) if r.is_ok() && t > Duration::from_millis(300) => {
    ///                 Classification::failure().with_weight(0.5)
    ///             }
    ///             _ => self.classify(r),
    ///         }
    ///     }
    ///     fn wants_elapsed(&self) -> bool { true }
    /// }
    /// let slow: Result<(), ()> = Ok(());
    /// let c = Sluggish.classify_timed(&slow, Some(Duration::from_secs(1)));
    /// assert_eq!(c, Classification::failure().with_weight(0.5));
    /// ```
    #[inline]
    fn classify_timed(&self, result: &Result<T, E>, elapsed: Option<Duration>) -> Classification {
        let _ = elapsed;
        self.classify(result)
    }

    /// Whether the guard should time every attempt for
    /// [`classify_timed`](Self::classify_timed) (two clock readings per attempt).
    /// Default `false`.
    #[inline]
    fn wants_elapsed(&self) -> bool {
        false
    }
}

/// `do_not_recommend`: a classifier that is not a closure (say an
/// `HttpClassifier` given reqwest's results) would otherwise be reported as
/// "expected an `Fn(&Result<T, E>)` closure", this impl's bound, instead of
/// with the trait's own message, which names the classifier to use.
#[diagnostic::do_not_recommend]
impl<T, E, F> Classify<T, E> for F
where
    F: Fn(&Result<T, E>) -> Classification,
{
    fn classify(&self, result: &Result<T, E>) -> Classification {
        self(result)
    }
}

/// The default classifier: `Ok` is a success, `Err` a retryable unit failure.
///
/// # Examples
///
/// ```
/// use fusebox::{Classification, Classify, DefaultClassifier};
///
/// let c = DefaultClassifier;
/// assert_eq!(c.classify(&Ok::<_, ()>(1)), Classification::Success);
/// assert_eq!(c.classify(&Err::<(), _>("reset")), Classification::failure());
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultClassifier;

impl<T, E> Classify<T, E> for DefaultClassifier {
    fn classify(&self, result: &Result<T, E>) -> Classification {
        match result {
            Ok(_) => Classification::Success,
            Err(_) => Classification::failure(),
        }
    }
}

impl fmt::Debug for DefaultClassifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DefaultClassifier(Ok => Success, Err => retryable failure)")
    }
}
