//! Errors: [`ConfigError`] for bad builder input, [`Rejected`] for refused permits.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::time::Duration;

/// What was wrong with a configuration value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The value was NaN.
    NotANumber,
    /// The value was infinite.
    Infinite,
    /// The value was zero where zero has no meaning.
    Zero,
    /// The value was outside the documented range.
    OutOfRange,
    /// The value contradicts another field (for example a cap below its base).
    Inconsistent,
}

/// A builder was given a value it cannot use. Names the field and says why.
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, ConfigErrorKind};
///
/// let err = Breaker::builder().probes(0).build().unwrap_err();
/// assert_eq!(err.field(), "probes");
/// assert_eq!(err.kind(), ConfigErrorKind::Zero);
/// assert_eq!(err.to_string(), "invalid `probes` (0): must be at least 1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    kind: ConfigErrorKind,
    value: String,
    reason: Cow<'static, str>,
}

impl ConfigError {
    pub(crate) fn new(
        field: &'static str,
        kind: ConfigErrorKind,
        value: impl fmt::Debug,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            field,
            kind,
            value: format!("{value:?}"),
            reason: reason.into(),
        }
    }

    /// Check a float: NaN and infinities are errors naming `field`.
    pub(crate) fn finite(field: &'static str, value: f64) -> Result<f64, Self> {
        if value.is_nan() {
            Err(Self::new(
                field,
                ConfigErrorKind::NotANumber,
                value,
                "must be a number",
            ))
        } else if value.is_infinite() {
            Err(Self::new(
                field,
                ConfigErrorKind::Infinite,
                value,
                "must be finite",
            ))
        } else {
            Ok(value)
        }
    }

    /// The builder field (method name) that was wrong.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What kind of problem it was.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }

    /// The rejected value, as written by `Debug`.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What the field requires, in words.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid `{}` ({}): {}",
            self.field, self.value, self.reason
        )
    }
}

impl Error for ConfigError {}

/// Why [`Breaker::try_acquire`](crate::Breaker::try_acquire) refused a permit.
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, Rejected};
///
/// let breaker = Breaker::builder().build().unwrap();
/// let _ = breaker.force_open();
/// let rejected = breaker.try_acquire().unwrap_err();
/// assert_eq!(rejected, Rejected::ForcedOpen);
/// assert_eq!(rejected.retry_after(), None);
/// assert_eq!(rejected.to_string(), "circuit breaker forced open by an operator");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejected {
    /// The breaker is open.
    Open {
        /// Time left until the breaker will admit a probe, when the deadline is known.
        retry_after: Option<Duration>,
    },
    /// An operator forced the breaker open; only an operator can close it.
    ForcedOpen,
    /// The breaker is half-open and all its probe slots are taken.
    ProbesBusy,
    /// The breaker is closed but degraded, and admission is graded: this attempt
    /// was shed (see [`BreakerBuilder::shed_below`](crate::BreakerBuilder::shed_below)).
    /// Asking again at once may be admitted.
    Shed,
}

impl Rejected {
    /// How long to wait before asking again, where known.
    ///
    /// `Some` only for [`Rejected::Open`] with a published deadline. `ProbesBusy`
    /// has no estimate: a slot frees as soon as a probe finishes.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Rejected::Open { retry_after } => *retry_after,
            Rejected::ForcedOpen | Rejected::ProbesBusy | Rejected::Shed => None,
        }
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejected::Open {
                retry_after: Some(d),
            } => write!(f, "circuit breaker open, retry after {d:?}"),
            Rejected::Open { retry_after: None } => f.write_str("circuit breaker open"),
            Rejected::ForcedOpen => f.write_str("circuit breaker forced open by an operator"),
            Rejected::ProbesBusy => {
                f.write_str("circuit breaker half-open and all probe slots are busy")
            }
            Rejected::Shed => f.write_str("circuit breaker degraded: attempt shed"),
        }
    }
}

impl Error for Rejected {}
