//! Errors: [`ConfigError`] for bad builder input, [`Rejected`] for refused permits.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::time::Duration;

/// What was wrong with a configuration value.
///
/// # Examples
///
/// Tell a value that is simply out of range from one that contradicts another
/// field, say to report a configuration problem differently:
///
/// ```
/// use fusebox::{ConfigErrorKind, Retry};
/// use std::time::Duration;
///
/// let err = Retry::builder()
///     .exponential_backoff(Duration::from_secs(2), 2.0, Duration::from_secs(1))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.kind(), ConfigErrorKind::Inconsistent); // the cap is below the first delay
/// println!("{err}");
/// ```
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
/// [`field`](Self::field) is the builder's name for the value;
/// [`path`](Self::path) is where it sits in a configuration file, when the error
/// came from one (feature `serde`), or was placed with [`within`](Self::within):
/// `breaker.health.alpha` for a template's breaker, say. The message names the
/// path.
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
    /// The full path, when it is not just `field`.
    path: Option<Box<str>>,
}

impl ConfigError {
    /// `value` is written as a configuration file writes it ([`ConfigValue`]),
    /// never by `Debug`: the message speaks the file's language.
    pub(crate) fn new(
        field: &'static str,
        kind: ConfigErrorKind,
        value: impl ConfigValue,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            field,
            kind,
            value: value.to_config(),
            reason: reason.into(),
            path: None,
        }
    }

    /// The same error, its path ending in `path` instead of the builder's field
    /// name (a configuration file may spell a field differently from the builder).
    #[cfg(feature = "serde")]
    pub(crate) fn with_path(mut self, path: impl Into<Box<str>>) -> Self {
        self.path = Some(path.into());
        self
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

    /// Where the wrong value is: the [`field`](Self::field), after any prefixes
    /// added by [`within`](Self::within) (and, for an error from a configuration
    /// file, spelled as the file spells it).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Breaker;
    ///
    /// let err = Breaker::builder().health(0.0, 0.5, 10).build().unwrap_err();
    /// assert_eq!(err.path(), "health.alpha");
    /// let err = err.within("payments").within("downstreams");
    /// assert_eq!(err.path(), "downstreams.payments.health.alpha");
    /// assert_eq!(err.field(), "health.alpha");
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid `downstreams.payments.health.alpha` (0.0): must be in (0, 1]"
    /// );
    /// ```
    pub fn path(&self) -> &str {
        self.path.as_deref().unwrap_or(self.field)
    }

    /// The same error, placed inside `prefix`: its [`path`](Self::path) becomes
    /// `prefix.path`. For a configuration embedded in a larger one.
    #[must_use]
    pub fn within(mut self, prefix: &str) -> Self {
        if prefix.is_empty() {
            return self;
        }
        self.path = Some(format!("{prefix}.{}", self.path()).into_boxed_str());
        self
    }

    /// What kind of problem it was.
    pub fn kind(&self) -> ConfigErrorKind {
        self.kind
    }

    /// The rejected value, written as a configuration file (TOML) writes it:
    /// a number as `10` or `0.5` (`nan`, `inf`), a duration as a quoted
    /// `humantime` string, `"1m 30s"`, a pair of values as an inline table,
    /// `{ min = 0, max = 5 }`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Breaker;
    /// use std::time::Duration;
    ///
    /// let err = Breaker::builder()
    ///     .open_for(Duration::from_micros(1500))
    ///     .open_cap(Duration::from_micros(1400))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.path(), "open_cap");
    /// assert_eq!(err.value(), "\"1ms 400us\"");
    /// let err = Breaker::builder().limit_bounds(0, 5).build().unwrap_err();
    /// assert_eq!(err.value(), "{ min = 0, max = 5 }");
    /// let err = Breaker::builder().min_admit(f64::NAN).build().unwrap_err();
    /// assert_eq!(err.to_string(), "invalid `min_admit` (nan): must be a number");
    /// ```
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
            self.path(),
            self.value,
            self.reason
        )
    }
}

impl Error for ConfigError {}

/// A value as a configuration file (TOML, the format the crate documents) writes
/// it, for [`ConfigError`]'s messages: what the user wrote, not a Rust value's
/// `Debug`. Every value a builder can reject has an implementation, so a new
/// check cannot print Rust syntax by accident.
pub(crate) trait ConfigValue {
    /// Append the value to `out`.
    fn write_config(&self, out: &mut String);

    /// The value as a string.
    fn to_config(&self) -> String {
        let mut out = String::new();
        self.write_config(&mut out);
        out
    }
}

macro_rules! integer_config_value {
    ($($t:ty),*) => {$(
        impl ConfigValue for $t {
            fn write_config(&self, out: &mut String) {
                use fmt::Write;
                let _ = write!(out, "{self}");
            }
        }
    )*};
}

// `i32` for a bare literal (`0`), which is an `i32` by default.
integer_config_value!(u8, u16, u32, u64, usize, i32);

impl ConfigValue for f64 {
    fn write_config(&self, out: &mut String) {
        use fmt::Write;
        if self.is_nan() {
            out.push_str("nan");
        } else if self.is_infinite() {
            out.push_str(if *self > 0.0 { "inf" } else { "-inf" });
        } else {
            // `Debug` of a finite float is TOML's float syntax: always a point or
            // an exponent (`2.0`, `0.05`, `1e-12`), never rounded, where `Display`
            // writes `2` (an integer to TOML) and spells 1e-300 out in full.
            let _ = write!(out, "{self:?}");
        }
    }
}

impl ConfigValue for Duration {
    /// A quoted `humantime` string, each unit at most once, largest first:
    /// `"0s"`, `"1m 30s"`, `"1ms 400us"`, `"400d"` (days rather than humantime's
    /// years and months: exact, and read back the same).
    fn write_config(&self, out: &mut String) {
        use fmt::Write;
        out.push('"');
        if self.is_zero() {
            out.push_str("0s");
        } else {
            let secs = self.as_secs();
            let nanos = self.subsec_nanos();
            let units = [
                (secs / 86_400, "d"),
                (secs / 3_600 % 24, "h"),
                (secs / 60 % 60, "m"),
                (secs % 60, "s"),
                (u64::from(nanos / 1_000_000), "ms"),
                (u64::from(nanos / 1_000 % 1_000), "us"),
                (u64::from(nanos % 1_000), "ns"),
            ];
            let mut first = true;
            for (n, unit) in units.into_iter().filter(|(n, _)| *n > 0) {
                if !first {
                    out.push(' ');
                }
                first = false;
                let _ = write!(out, "{n}{unit}");
            }
        }
        out.push('"');
    }
}

/// Several values under their names, written as an inline table:
/// `{ rate = 0.5, window = 10 }`.
pub(crate) struct Table<'a>(pub(crate) &'a [(&'static str, &'a dyn ConfigValue)]);

impl ConfigValue for Table<'_> {
    fn write_config(&self, out: &mut String) {
        out.push_str("{ ");
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(name);
            out.push_str(" = ");
            value.write_config(out);
        }
        out.push_str(" }");
    }
}

impl<T: ConfigValue + ?Sized> ConfigValue for &T {
    fn write_config(&self, out: &mut String) {
        (**self).write_config(out);
    }
}

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
    /// The breaker's adaptive concurrency limit is reached: the downstream is
    /// queueing, and this attempt would only lengthen the queue (see
    /// [`BreakerBuilder::adaptive_limit`](crate::BreakerBuilder::adaptive_limit)).
    LimitReached {
        /// About how long until a slot frees up (the last measured latency
        /// divided by the limit, at least 1 ms).
        retry_after: Option<Duration>,
    },
}

impl Rejected {
    /// How long to wait before asking again, where known.
    ///
    /// `Some` for [`Rejected::Open`] with a published deadline and for
    /// [`Rejected::LimitReached`]. `ProbesBusy` has no estimate: a slot frees as
    /// soon as a probe finishes.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Rejected::Open { retry_after } | Rejected::LimitReached { retry_after } => *retry_after,
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
            Rejected::LimitReached {
                retry_after: Some(d),
            } => write!(f, "concurrency limit reached, retry after {d:?}"),
            Rejected::LimitReached { retry_after: None } => {
                f.write_str("concurrency limit reached")
            }
        }
    }
}

impl Error for Rejected {}
