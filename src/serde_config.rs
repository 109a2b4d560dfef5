//! Configuration as data (feature `serde`): the breaker, the retry policy, the
//! retry budget and a whole guard's template, read from TOML, YAML, JSON or any
//! other serde format, and built through the same validating builders as code.
//!
//! Every field is optional: an absent one keeps the builder's default (see
//! [`BreakerBuilder`], [`Retry::default`] and [`RetryBudget::builder`]). Unknown
//! fields are errors, so a typo cannot silently leave a default in place.
//! Durations are strings in the `humantime` crate's form: `"250ms"`, `"5s"`,
//! `"1m 30s"`, `"2h"` (written back the same way, to the nanosecond). Values are
//! validated when the config is built, not when it is read: a [`ConfigError`]
//! then names the field by its [`path`](ConfigError::path) in the config
//! (`breaker.health.alpha`, `retry.backoff.max`) and writes the value as the file
//! does (`0.0`, `"250ms"`, `{ rate = 0.5, window = 10 }`).
//!
//! A breaker's `name` is data too: the name its [events](crate::Event), its
//! `tracing` events and its `metrics` labels carry ([`BreakerBuilder::name`]).
//!
//! What is not data stays in code: a clock, a transition listener, a classifier or
//! a sleeper. `builder()` (or [`TemplateConfig::builders`]) gives the configured
//! builders to add them to, and cannot fail; every error, an invalid value or two
//! trip policies, comes from `build()`, which builds with the defaults.
//!
//! | config | builds | with |
//! |---|---|---|
//! | [`BreakerConfig`] | [`Breaker`] | [`BreakerBuilder`] |
//! | [`RetryConfig`] | [`Retry`] | [`RetryBuilder`] |
//! | [`BudgetConfig`] | [`RetryBudget`] | [`RetryBudgetBuilder`] |
//! | [`TemplateConfig`] | [`Guard`] (its own breaker, policy and budget) | [`TemplateBuilders`] |
//!
//! [`Backoff`] and [`Jitter`] (de)serialize too: a backoff is a table tagged by
//! `kind`, `{ kind = "exponential", initial = "100ms", factor = 2.0, max = "10s" }`
//! (an absent field keeps the default's value) or `{ kind = "constant", delay = "1s" }`;
//! a jitter is one of `"none"`, `"full"`, `"equal"`, `"decorrelated"`.
//!
//! The repository's `examples/fusebox.toml` documents every field with its default.
//!
//! Serialization writes only the fields that are set, so a config read and written
//! back keeps its meaning (and keeps tracking the library's defaults where it did
//! not set them). A built [`Retry`] gives its config back with
//! [`RetryConfig::from`]; a built breaker or budget does not expose its settings,
//! so keep the config they were built from.
//!
//! # Errors in the file itself
//!
//! A value of the wrong type, a malformed duration or an unknown field is the
//! format's error (`toml::de::Error`, `serde_json::Error`, ...), with the line and
//! column where the format tracks them. To have the field's path in it as well,
//! wrap the format's deserializer in the `serde_path_to_error` crate, as the second
//! example shows.
//!
//! # Examples
//!
//! ```
//! use fusebox::serde_config::TemplateConfig;
//!
//! let text = r#"
//!     [breaker]
//!     name = "payments"
//!     trip_on_failure_rate = { rate = 0.5, window = 100 }
//!     open_for = "2s"
//!
//!     [retry]
//!     max_attempts = 4
//!     backoff = { kind = "exponential", initial = "50ms", max = "1s" }
//!     jitter = "equal"
//!     deadline = "5s"
//!     attempt_timeout = "1s"
//!
//!     [budget]
//!     ratio = 0.1
//! "#;
//! let template: TemplateConfig = toml::from_str(text)?;
//! let guard = template.build()?;
//! assert_eq!(guard.breaker().name(), "payments");
//! assert_eq!(guard.retry().max_attempts(), 4);
//! assert!(guard.budget().is_some());
//!
//! let bad: TemplateConfig = toml::from_str("[breaker]\nhealth = { alpha = 0.0, threshold = 0.5, min_samples = 10 }")?;
//! let err = bad.build().unwrap_err();
//! assert_eq!(err.path(), "breaker.health.alpha");
//! assert_eq!(err.to_string(), "invalid `breaker.health.alpha` (0.0): must be in (0, 1]");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The path of an error in the file, with `serde_path_to_error` (here over JSON,
//! whose own message gives only a line and column):
//!
//! ```
//! use fusebox::serde_config::TemplateConfig;
//!
//! let text = r#"{ "retry": { "deadline": "5 fortnights" } }"#;
//! let mut json = serde_json::Deserializer::from_str(text);
//! let err = serde_path_to_error::deserialize::<_, TemplateConfig>(&mut json).unwrap_err();
//! assert_eq!(err.path().to_string(), "retry.deadline");
//! ```

use crate::Breaker;
use crate::budget::{RetryBudget, RetryBudgetBuilder};
use crate::config::BreakerBuilder;
use crate::error::{ConfigError, ConfigErrorKind, ConfigValue, Table};
use crate::guard::Guard;
use crate::retry::{Backoff, Jitter, Retry, RetryBuilder};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::Arc;
use std::time::Duration;

/// A [`Breaker`]'s configuration as data. Every field is optional; an absent one
/// keeps the [`BreakerBuilder`] default. Each field is the builder method of the
/// same name.
///
/// At most one trip policy may be set: [`trip_after_consecutive_failures`](Self::trip_after_consecutive_failures),
/// [`trip_on_failure_rate`](Self::trip_on_failure_rate) or [`health`](Self::health)
/// (none: the default, a failure rate of 0.95 over 50 attempts); a second one is
/// an error from [`build`](Self::build).
///
/// # Examples
///
/// ```
/// use fusebox::serde_config::BreakerConfig;
/// use fusebox::{ManualClock, State, Verdict};
///
/// let config: BreakerConfig = toml::from_str(r#"
///     name = "payments"
///     trip_after_consecutive_failures = 3
///     open_for = "10s"
///     open_jitter = 0.0
/// "#)?;
/// // Add what is not data (a clock, a listener) on the builder.
/// let breaker = config.builder().clock(ManualClock::new()).build()?;
/// assert_eq!(breaker.name(), "payments");
/// for _ in 0..3 {
///     let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
/// }
/// assert_eq!(breaker.snapshot().state, State::Open);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BreakerConfig {
    /// The breaker's name, carried by its events, `tracing` events and `metrics`
    /// labels ([`BreakerBuilder::name`]). A registry's template gives it to
    /// every key's breaker alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Trip on the `n`-th consecutive failed attempt
    /// ([`BreakerBuilder::trip_after_consecutive_failures`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trip_after_consecutive_failures: Option<u32>,
    /// Trip when the failure rate over about `window` attempts exceeds `rate`
    /// ([`BreakerBuilder::trip_on_failure_rate`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trip_on_failure_rate: Option<FailureRate>,
    /// The health arithmetic, set directly ([`BreakerBuilder::health`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// The first open period ([`BreakerBuilder::open_for`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_duration"
    )]
    pub open_for: Option<Duration>,
    /// Growth of the open period per consecutive re-open ([`BreakerBuilder::open_growth`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_growth: Option<f64>,
    /// The longest open period ([`BreakerBuilder::open_cap`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_duration"
    )]
    pub open_cap: Option<Duration>,
    /// Random shortening of open periods ([`BreakerBuilder::open_jitter`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_jitter: Option<f64>,
    /// Probes admitted at once when half-open ([`BreakerBuilder::probes`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<u32>,
    /// Probe successes that close the breaker ([`BreakerBuilder::close_after`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_after: Option<u32>,
    /// The longest probe lease ([`BreakerBuilder::probe_timeout`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_duration"
    )]
    pub probe_timeout: Option<Duration>,
    /// The half-life of health ([`BreakerBuilder::half_life`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_duration"
    )]
    pub half_life: Option<Duration>,
    /// Health below which admission is graded ([`BreakerBuilder::shed_below`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shed_below: Option<f64>,
    /// The least admission chance while graded ([`BreakerBuilder::min_admit`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_admit: Option<f64>,
    /// Count slow attempts as failures ([`BreakerBuilder::slow_call`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_call: Option<SlowCall>,
    /// Seed for the jitter and admission draws ([`BreakerBuilder::jitter_seed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_seed: Option<u64>,
    /// Whether the breaker adapts a concurrency limit
    /// ([`BreakerBuilder::adaptive_limit`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive_limit: Option<bool>,
    /// The adaptive limit's bounds ([`BreakerBuilder::limit_bounds`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_bounds: Option<LimitBounds>,
}

/// The arguments of [`BreakerBuilder::limit_bounds`]: both required.
///
/// # Examples
///
/// ```
/// use fusebox::serde_config::{BreakerConfig, LimitBounds};
///
/// let config: BreakerConfig = toml::from_str("limit_bounds = { min = 4, max = 500 }")?;
/// assert_eq!(config.limit_bounds, Some(LimitBounds { min: 4, max: 500 }));
/// let breaker = config.build()?;
/// assert!(!breaker.limit().engaged);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitBounds {
    /// The fewest attempts an engaged limit admits at once (at least 1).
    pub min: u32,
    /// The most (at least `min`, at most 65,535).
    pub max: u32,
}

/// The arguments of [`BreakerBuilder::trip_on_failure_rate`]: both required.
///
/// # Examples
///
/// ```
/// use fusebox::serde_config::{BreakerConfig, FailureRate};
///
/// let config: BreakerConfig = toml::from_str("trip_on_failure_rate = { rate = 0.5, window = 20 }")?;
/// assert_eq!(config.trip_on_failure_rate, Some(FailureRate { rate: 0.5, window: 20 }));
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailureRate {
    /// The failure rate that trips, strictly between 0 and 1.
    pub rate: f64,
    /// About how many recent attempts the rate is measured over (`1..=4095`).
    pub window: u32,
}

/// Written in a [`ConfigError`] as the file writes it: `{ rate = 0.5, window = 10 }`.
impl ConfigValue for FailureRate {
    fn write_config(&self, out: &mut String) {
        Table(&[("rate", &self.rate), ("window", &self.window)]).write_config(out);
    }
}

/// The arguments of [`BreakerBuilder::health`]: all three required.
///
/// # Examples
///
/// ```
/// use fusebox::serde_config::{BreakerConfig, Health};
///
/// let config: BreakerConfig =
///     toml::from_str("health = { alpha = 0.1, threshold = 0.3, min_samples = 10 }")?;
/// assert_eq!(config.health, Some(Health { alpha: 0.1, threshold: 0.3, min_samples: 10 }));
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// How far each attempt moves health, in `(0, 1]`.
    pub alpha: f64,
    /// Trip when health is strictly below this, strictly between 0 and 1.
    pub threshold: f64,
    /// Attempts needed in the current spell before a trip (`0..=4095`).
    pub min_samples: u32,
}

/// Written in a [`ConfigError`] as the file writes it:
/// `{ alpha = 0.1, threshold = 0.5, min_samples = 10 }`.
impl ConfigValue for Health {
    fn write_config(&self, out: &mut String) {
        Table(&[
            ("alpha", &self.alpha),
            ("threshold", &self.threshold),
            ("min_samples", &self.min_samples),
        ])
        .write_config(out);
    }
}

/// The arguments of [`BreakerBuilder::slow_call`]: both required.
///
/// # Examples
///
/// ```
/// use fusebox::serde_config::{BreakerConfig, SlowCall};
/// use std::time::Duration;
///
/// let config: BreakerConfig = toml::from_str(r#"slow_call = { threshold = "2s", weight = 0.5 }"#)?;
/// assert_eq!(
///     config.slow_call,
///     Some(SlowCall { threshold: Duration::from_secs(2), weight: 0.5 })
/// );
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowCall {
    /// An attempt slower than this is a failure (at least 1 ms).
    #[serde(with = "duration")]
    pub threshold: Duration,
    /// The failure's weight, in `(0, Verdict::MAX_WEIGHT]`.
    pub weight: f64,
}

impl BreakerConfig {
    /// A [`BreakerBuilder`] with this config's settings, to add a clock or a
    /// listener to. Making it cannot fail, like [`RetryConfig::builder`] and
    /// [`BudgetConfig::builder`]: its `build` returns every error, two trip
    /// policies included (kind [`Inconsistent`](ConfigErrorKind::Inconsistent),
    /// at the second one's path). It names invalid values by the builder's field
    /// names, which are the config's except within `trip_on_failure_rate`, where
    /// both `rate` and `window` are `trip_on_failure_rate`;
    /// [`build`](Self::build) tells them apart.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::serde_config::BreakerConfig;
    ///
    /// let config: BreakerConfig = toml::from_str("trip_after_consecutive_failures = 5")?;
    /// let breaker = config.builder().on_transition(|t| println!("{t:?}")).build()?;
    /// assert_eq!(breaker.successes_to_full_health(), 100);
    ///
    /// let two: BreakerConfig = toml::from_str(
    ///     "trip_after_consecutive_failures = 5\ntrip_on_failure_rate = { rate = 0.5, window = 20 }",
    /// )?;
    /// let err = two.builder().build().unwrap_err();
    /// assert_eq!(err.path(), "trip_on_failure_rate");
    /// assert_eq!(
    ///     err.to_string(),
    ///     "invalid `trip_on_failure_rate` ({ rate = 0.5, window = 20 }): \
    ///      `trip_after_consecutive_failures` is set too; set at most one trip policy \
    ///      (`trip_after_consecutive_failures`, `trip_on_failure_rate` or `health`)"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(&self) -> BreakerBuilder {
        let mut b = Breaker::builder();
        if let Some(name) = &self.name {
            b = b.name(name.as_str());
        }
        // The trip policies in the order they are checked: the first one set is
        // applied; a second one is the error `build` returns (the builder itself
        // would let the last call win, an order a file's reader cannot see).
        let policies: [(&'static str, Option<&dyn ConfigValue>); 3] = [
            (
                "trip_after_consecutive_failures",
                self.trip_after_consecutive_failures
                    .as_ref()
                    .map(|n| n as &dyn ConfigValue),
            ),
            (
                "trip_on_failure_rate",
                self.trip_on_failure_rate
                    .as_ref()
                    .map(|r| r as &dyn ConfigValue),
            ),
            (
                "health",
                self.health.as_ref().map(|h| h as &dyn ConfigValue),
            ),
        ];
        let mut set = policies
            .iter()
            .filter_map(|(name, value)| value.map(|v| (*name, v)));
        if let (Some((first, _)), Some((second, value))) = (set.next(), set.next()) {
            b = b.config_error(ConfigError::new(
                second,
                ConfigErrorKind::Inconsistent,
                value,
                format!(
                    "`{first}` is set too; set at most one trip policy \
                     (`trip_after_consecutive_failures`, `trip_on_failure_rate` or `health`)"
                ),
            ));
        }
        if let Some(n) = self.trip_after_consecutive_failures {
            b = b.trip_after_consecutive_failures(n);
        } else if let Some(FailureRate { rate, window }) = self.trip_on_failure_rate {
            b = b.trip_on_failure_rate(rate, window);
        } else if let Some(h) = self.health {
            b = b.health(h.alpha, h.threshold, h.min_samples);
        }
        if let Some(d) = self.open_for {
            b = b.open_for(d);
        }
        if let Some(g) = self.open_growth {
            b = b.open_growth(g);
        }
        if let Some(d) = self.open_cap {
            b = b.open_cap(d);
        }
        if let Some(j) = self.open_jitter {
            b = b.open_jitter(j);
        }
        if let Some(n) = self.probes {
            b = b.probes(n);
        }
        if let Some(n) = self.close_after {
            b = b.close_after(n);
        }
        if let Some(d) = self.probe_timeout {
            b = b.probe_timeout(d);
        }
        if let Some(d) = self.half_life {
            b = b.half_life(d);
        }
        if let Some(h) = self.shed_below {
            b = b.shed_below(h);
        }
        if let Some(p) = self.min_admit {
            b = b.min_admit(p);
        }
        if let Some(SlowCall { threshold, weight }) = self.slow_call {
            b = b.slow_call(threshold, weight);
        }
        if let Some(seed) = self.jitter_seed {
            b = b.jitter_seed(seed);
        }
        if let Some(on) = self.adaptive_limit {
            b = b.adaptive_limit(on);
        }
        if let Some(LimitBounds { min, max }) = self.limit_bounds {
            b = b.limit_bounds(min, max);
        }
        b
    }

    /// Validate and build, with the default clock and no listener.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] whose [`path`](ConfigError::path) names the first invalid
    /// field as this config spells it (`health.alpha`,
    /// `trip_on_failure_rate.window`), or the second trip policy when two are set.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::serde_config::BreakerConfig;
    ///
    /// let config: BreakerConfig = toml::from_str("trip_on_failure_rate = { rate = 1.5, window = 20 }")?;
    /// let err = config.build().unwrap_err();
    /// assert_eq!(err.path(), "trip_on_failure_rate.rate");
    /// # Ok::<(), toml::de::Error>(())
    /// ```
    pub fn build(&self) -> Result<Breaker, ConfigError> {
        build_breaker(self.builder())
    }
}

/// Build a breaker, naming a failure-rate error's argument. The builder names both
/// `rate` and `window` `trip_on_failure_rate`; the rejected value tells which it
/// was: a `window` is a `u32`, written as bare digits, which a rate (an `f64`,
/// written with a point, an exponent, `nan` or `inf`) never is. An
/// `Inconsistent` error there is the whole policy's (a second trip policy), not
/// an argument's.
fn build_breaker(builder: BreakerBuilder) -> Result<Breaker, ConfigError> {
    builder.build().map_err(|e| {
        if e.field() == "trip_on_failure_rate" && e.kind() != ConfigErrorKind::Inconsistent {
            let argument = if e.value().parse::<u32>().is_ok() {
                "window"
            } else {
                "rate"
            };
            e.with_path(format!("trip_on_failure_rate.{argument}"))
        } else {
            e
        }
    })
}

/// A [`Retry`] policy's configuration as data. Every field is optional; an absent
/// one keeps the default (3 attempts, exponential backoff from 100 ms ×2 up to
/// 10 s, full jitter, no deadline, no per-attempt timeout).
///
/// # Examples
///
/// ```
/// use fusebox::serde_config::RetryConfig;
/// use fusebox::{Backoff, Jitter};
/// use std::time::Duration;
///
/// let config: RetryConfig = toml::from_str(r#"
///     max_attempts = 5
///     backoff = { kind = "constant", delay = "200ms" }
///     jitter = "none"
/// "#)?;
/// let retry = config.build()?;
/// assert_eq!(retry.backoff(), Backoff::Constant(Duration::from_millis(200)));
/// assert_eq!(retry.jitter(), Jitter::None);
/// assert_eq!(retry.delays(0).count(), 4);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RetryConfig {
    /// Attempts per call, the first included ([`RetryBuilder::max_attempts`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// The backoff ([`RetryBuilder::backoff`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// The jitter ([`RetryBuilder::jitter`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<Jitter>,
    /// The per-call deadline ([`RetryBuilder::deadline`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_duration"
    )]
    pub deadline: Option<Duration>,
    /// The per-attempt time limit ([`RetryBuilder::attempt_timeout`]).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_duration"
    )]
    pub attempt_timeout: Option<Duration>,
    /// Seed for the jitter generators ([`RetryBuilder::seed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl RetryConfig {
    /// A [`RetryBuilder`] with this config's settings. Its `build` names an invalid
    /// backoff field `exponential_backoff.*`, after the builder method;
    /// [`build`](Self::build) names it as the config does, `backoff.*`.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::serde_config::RetryConfig;
    ///
    /// let config: RetryConfig = toml::from_str("max_attempts = 2")?;
    /// let retry = config.builder().seed(7).build()?;
    /// assert_eq!(retry.max_attempts(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(&self) -> RetryBuilder {
        let mut b = Retry::builder();
        if let Some(n) = self.max_attempts {
            b = b.max_attempts(n);
        }
        if let Some(backoff) = self.backoff {
            b = b.backoff(backoff);
        }
        if let Some(jitter) = self.jitter {
            b = b.jitter(jitter);
        }
        if let Some(d) = self.deadline {
            b = b.deadline(d);
        }
        if let Some(d) = self.attempt_timeout {
            b = b.attempt_timeout(d);
        }
        if let Some(seed) = self.seed {
            b = b.seed(seed);
        }
        b
    }

    /// Validate and build.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] whose [`path`](ConfigError::path) names the first invalid
    /// field as this config spells it (`backoff.max`, `deadline`).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::serde_config::RetryConfig;
    ///
    /// let config: RetryConfig =
    ///     toml::from_str(r#"backoff = { kind = "exponential", initial = "2s", max = "1s" }"#)?;
    /// let err = config.build().unwrap_err();
    /// assert_eq!(err.path(), "backoff.max");
    /// assert_eq!(err.to_string(), r#"invalid `backoff.max` ("1s"): must be at least `initial`"#);
    /// # Ok::<(), toml::de::Error>(())
    /// ```
    pub fn build(&self) -> Result<Retry, ConfigError> {
        build_retry(self.builder())
    }
}

/// Build a policy, naming a backoff error as the config does.
fn build_retry(builder: RetryBuilder) -> Result<Retry, ConfigError> {
    builder
        .build()
        .map_err(|e| match e.field().strip_prefix("exponential_backoff.") {
            Some(argument) => {
                let path = format!("backoff.{argument}");
                e.with_path(path)
            }
            None => e,
        })
}

impl From<&Retry> for RetryConfig {
    /// The settings of a built policy, every one set (the seed excepted: a policy
    /// does not keep it).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::serde_config::RetryConfig;
    /// use fusebox::Retry;
    ///
    /// let config = RetryConfig::from(&Retry::default());
    /// assert_eq!(config.max_attempts, Some(3));
    /// let again = RetryConfig::from(&config.build()?);
    /// assert_eq!(again, config);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    fn from(retry: &Retry) -> Self {
        Self {
            max_attempts: Some(retry.max_attempts()),
            backoff: Some(retry.backoff()),
            jitter: Some(retry.jitter()),
            deadline: retry.deadline(),
            attempt_timeout: retry.attempt_timeout(),
            seed: None,
        }
    }
}

/// A [`RetryBudget`]'s configuration as data. Every field is optional; an absent
/// one keeps the default (ratio 0.2, 10 retries per second, at most 100 tokens,
/// starting with one second of floor).
///
/// # Examples
///
/// ```
/// use fusebox::serde_config::BudgetConfig;
///
/// let config: BudgetConfig = toml::from_str("ratio = 0.5\nmin_retries_per_sec = 0\nmax_balance = 10")?;
/// let budget = config.build()?;
/// assert_eq!(budget.balance(), 0.0);
/// budget.deposit();
/// budget.deposit();
/// assert!(budget.try_withdraw());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BudgetConfig {
    /// The budget's name, carried by its `BudgetRefused` events and its `metrics`
    /// labels ([`RetryBudgetBuilder::name`]). A registry's template gives it to
    /// every key's budget alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tokens deposited per call ([`RetryBudgetBuilder::ratio`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<f64>,
    /// The time-based floor ([`RetryBudgetBuilder::min_retries_per_sec`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_retries_per_sec: Option<u32>,
    /// The most tokens deposits can bank ([`RetryBudgetBuilder::max_balance`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_balance: Option<u32>,
    /// The starting balance ([`RetryBudgetBuilder::initial_balance`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_balance: Option<u32>,
}

impl BudgetConfig {
    /// A [`RetryBudgetBuilder`] with this config's settings, to add a clock to.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::serde_config::BudgetConfig;
    /// use fusebox::ManualClock;
    ///
    /// let config: BudgetConfig = toml::from_str("name = \"payments\"\ninitial_balance = 3")?;
    /// let budget = config.builder().clock(ManualClock::new()).build()?;
    /// assert_eq!(budget.balance(), 3.0);
    /// assert_eq!(budget.name(), "payments");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(&self) -> RetryBudgetBuilder {
        let mut b = RetryBudget::builder();
        if let Some(name) = &self.name {
            b = b.name(name.as_str());
        }
        if let Some(r) = self.ratio {
            b = b.ratio(r);
        }
        if let Some(n) = self.min_retries_per_sec {
            b = b.min_retries_per_sec(n);
        }
        if let Some(n) = self.max_balance {
            b = b.max_balance(n);
        }
        if let Some(n) = self.initial_balance {
            b = b.initial_balance(n);
        }
        b
    }

    /// Validate and build, with the default clock.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid field.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::serde_config::BudgetConfig;
    ///
    /// let config: BudgetConfig = toml::from_str("ratio = 11.0")?;
    /// assert_eq!(config.build().unwrap_err().path(), "ratio");
    /// # Ok::<(), toml::de::Error>(())
    /// ```
    pub fn build(&self) -> Result<RetryBudget, ConfigError> {
        self.builder().build()
    }
}

/// One downstream's whole configuration, a template for its [`Guard`]: the
/// `breaker`, the `retry` policy and, if present, a retry `budget`. Every part is
/// optional: an absent `breaker` or `retry` keeps the defaults; an absent `budget`
/// means no budget (a present one, even empty, the default budget).
///
/// A template is data: each [`build`](Self::build) makes a new breaker and budget,
/// so one template can configure many downstreams alike (a registry of
/// downstreams keyed by name can hold one per entry, or one shared default), and
/// the guards built from it share nothing. Errors name the part:
/// `breaker.health.alpha`, `retry.backoff.max`, `budget.ratio`.
///
/// # Examples
///
/// ```
/// use fusebox::serde_config::TemplateConfig;
/// use fusebox::{Guard, GuardError};
///
/// let template: TemplateConfig = serde_json::from_str(r#"{
///     "breaker": { "trip_after_consecutive_failures": 5 },
///     "retry": { "max_attempts": 2, "backoff": { "kind": "constant", "delay": "1ms" } }
/// }"#)?;
/// let guard: Guard = template.build()?;
/// let result: Result<u32, GuardError<&str>> = guard.call(|_| Err("down"));
/// assert_eq!(result.unwrap_err().attempts(), 2);
/// assert!(guard.budget().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct TemplateConfig {
    /// The breaker.
    #[serde(default, skip_serializing_if = "is_default")]
    pub breaker: BreakerConfig,
    /// The retry policy.
    #[serde(default, skip_serializing_if = "is_default")]
    pub retry: RetryConfig,
    /// The retry budget; `None` for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetConfig>,
}

impl TemplateConfig {
    /// The configured builders, to add a clock, a listener or a seed to before
    /// [`TemplateBuilders::build`], which returns every error (making the
    /// builders cannot fail).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::serde_config::TemplateConfig;
    /// use fusebox::ManualClock;
    ///
    /// let template: TemplateConfig = toml::from_str("[budget]")?;
    /// let clock = ManualClock::new();
    /// let mut builders = template.builders();
    /// builders.breaker = builders.breaker.clock(clock.clone());
    /// builders.budget = builders.budget.map(|b| b.clock(clock.clone()));
    /// let guard = builders.build()?;
    /// assert!(guard.budget().is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builders(&self) -> TemplateBuilders {
        TemplateBuilders {
            breaker: self.breaker.builder(),
            retry: self.retry.builder(),
            budget: self.budget.as_ref().map(BudgetConfig::builder),
        }
    }

    /// Validate and build a [`Guard`] with a new breaker and budget (default
    /// clocks, no listener), the default classifier and thread sleeps; change the
    /// last two with [`Guard::with_classifier`] and [`Guard::with_sleeper`].
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] whose [`path`](ConfigError::path) names the first invalid
    /// field within the template (`breaker.open_for`, `retry.max_attempts`).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::serde_config::TemplateConfig;
    ///
    /// let template: TemplateConfig = toml::from_str("[retry]\nmax_attempts = 0")?;
    /// let err = template.build().unwrap_err();
    /// assert_eq!(err.path(), "retry.max_attempts");
    /// # Ok::<(), toml::de::Error>(())
    /// ```
    pub fn build(&self) -> Result<Guard, ConfigError> {
        self.builders().build()
    }
}

/// A [`TemplateConfig`]'s builders, from [`TemplateConfig::builders`]: set what
/// is not data on them, then [`build`](Self::build).
///
/// # Examples
///
/// ```
/// use fusebox::serde_config::TemplateConfig;
///
/// let mut builders = TemplateConfig::default().builders();
/// builders.retry = builders.retry.seed(42);
/// let guard = builders.build()?;
/// assert_eq!(guard.retry().max_attempts(), 3);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct TemplateBuilders {
    /// The breaker's builder.
    pub breaker: BreakerBuilder,
    /// The retry policy's builder.
    pub retry: RetryBuilder,
    /// The budget's builder, if the template has a budget.
    pub budget: Option<RetryBudgetBuilder>,
}

impl TemplateBuilders {
    /// Validate and build the guard.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] whose [`path`](ConfigError::path) names the first invalid
    /// field within the template, the breaker's first, then the retry policy's,
    /// then the budget's.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::serde_config::TemplateConfig;
    ///
    /// let template: TemplateConfig = toml::from_str("[budget]\nmax_balance = 0")?;
    /// let err = template.builders().build().unwrap_err();
    /// assert_eq!(err.path(), "budget.max_balance");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<Guard, ConfigError> {
        let breaker = build_breaker(self.breaker).map_err(|e| e.within("breaker"))?;
        let retry = build_retry(self.retry).map_err(|e| e.within("retry"))?;
        let budget = match self.budget {
            Some(b) => Some(b.build().map_err(|e| e.within("budget"))?),
            None => None,
        };
        let guard = Guard::new(Arc::new(breaker), retry);
        Ok(match budget {
            Some(budget) => guard.with_budget(Arc::new(budget)),
            None => guard,
        })
    }
}

/// Durations as `humantime` strings: parsed by `humantime::parse_duration`
/// (`"250ms"`, `"1m 30s"`, `"2h"`), written by `humantime::format_duration`, which
/// keeps every nanosecond, so a duration written and read back is the same.
/// A string that does not parse is an error saying why, and what is expected.
mod duration {
    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(*d))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_str(DurationVisitor)
    }

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"250ms\", \"5s\" or \"1m 30s\"")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            humantime::parse_duration(v).map_err(|e| {
                E::custom(format_args!(
                    "invalid duration {v:?}: {e}; expected a duration such as \"250ms\", \
                     \"5s\" or \"1m 30s\""
                ))
            })
        }
    }
}

/// [`duration`] for an optional field (absent is `None`; `skip_serializing_if`
/// keeps `None` out of the output).
mod optional_duration {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::time::Duration;

    /// A present value, read or written as a duration string.
    #[derive(Serialize, Deserialize)]
    #[serde(transparent)]
    struct Wrapped(#[serde(with = "super::duration")] Duration);

    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        d.map(Wrapped).serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<Wrapped>::deserialize(d)?.map(|Wrapped(d)| d))
    }
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// The default exponential backoff's values, for fields a config leaves out.
const DEFAULT_INITIAL: Duration = Duration::from_millis(100);
const DEFAULT_FACTOR: f64 = 2.0;
const DEFAULT_MAX: Duration = Duration::from_secs(10);

fn default_initial() -> Duration {
    DEFAULT_INITIAL
}

fn default_factor() -> f64 {
    DEFAULT_FACTOR
}

fn default_max() -> Duration {
    DEFAULT_MAX
}

/// [`Backoff`] as written in a config: a table tagged by `kind`.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum BackoffRepr {
    Constant {
        #[serde(with = "duration")]
        delay: Duration,
    },
    Exponential {
        #[serde(default = "default_initial", with = "duration")]
        initial: Duration,
        #[serde(default = "default_factor")]
        factor: f64,
        #[serde(default = "default_max", with = "duration")]
        max: Duration,
    },
}

/// Written as a table tagged by `kind`: `{ kind = "constant", delay = "1s" }` or
/// `{ kind = "exponential", initial = "100ms", factor = 2.0, max = "10s" }`; an
/// exponential backoff's absent fields keep the default's values (100 ms, 2, 10 s).
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Backoff {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let repr = match *self {
            Backoff::Constant(delay) => BackoffRepr::Constant { delay },
            Backoff::Exponential {
                initial,
                factor,
                max,
            } => BackoffRepr::Exponential {
                initial,
                factor,
                max,
            },
        };
        repr.serialize(serializer)
    }
}

/// See the [`Serialize`] implementation for the form.
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> Deserialize<'de> for Backoff {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match BackoffRepr::deserialize(deserializer)? {
            BackoffRepr::Constant { delay } => Backoff::Constant(delay),
            BackoffRepr::Exponential {
                initial,
                factor,
                max,
            } => Backoff::Exponential {
                initial,
                factor,
                max,
            },
        })
    }
}

/// [`Jitter`] as written in a config: its name in lower case.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum JitterRepr {
    None,
    Full,
    Equal,
    Decorrelated,
}

/// Written as the variant's name in lower case: `"none"`, `"full"`, `"equal"`,
/// `"decorrelated"`.
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl Serialize for Jitter {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Jitter::None => JitterRepr::None,
            Jitter::Full => JitterRepr::Full,
            Jitter::Equal => JitterRepr::Equal,
            Jitter::Decorrelated => JitterRepr::Decorrelated,
        }
        .serialize(serializer)
    }
}

/// See the [`Serialize`] implementation for the form.
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<'de> Deserialize<'de> for Jitter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match JitterRepr::deserialize(deserializer)? {
            JitterRepr::None => Jitter::None,
            JitterRepr::Full => Jitter::Full,
            JitterRepr::Equal => Jitter::Equal,
            JitterRepr::Decorrelated => Jitter::Decorrelated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_backoff_field_keeps_the_default_policy_value() {
        assert_eq!(
            Retry::default().backoff(),
            Backoff::Exponential {
                initial: DEFAULT_INITIAL,
                factor: DEFAULT_FACTOR,
                max: DEFAULT_MAX,
            }
        );
    }

    #[test]
    fn an_empty_config_builds_the_builders_defaults() {
        let from_config = BreakerConfig::default().build().unwrap();
        let from_builder = Breaker::builder().build().unwrap();
        assert_eq!(from_config.alpha(), from_builder.alpha());
        assert_eq!(from_config.threshold(), from_builder.threshold());
        assert_eq!(from_config.half_life(), from_builder.half_life());
        assert_eq!(from_config.shed_below(), from_builder.shed_below());
        let retry = RetryConfig::default().build().unwrap();
        assert_eq!(
            RetryConfig::from(&retry),
            RetryConfig::from(&Retry::default())
        );
    }
}
