//! The retry policy: attempts, backoff, jitter and the per-call deadline.
//!
//! # Delay arithmetic
//!
//! The delay before retry `k` (`k = 1` after the first attempt) starts from the
//! backoff's base:
//!
//! | backoff | `base(k)` |
//! |---|---|
//! | `Constant(d)` | `d` |
//! | `Exponential { initial, factor, max }` | `min(initial × factor^(k-1), max)`: exact for whole-number factors; for a fractional factor computed in `f64` and truncated to whole nanoseconds (relative error below 2^-48, plus 1 ns), never outside `[initial, max]` |
//!
//! and jitter spreads it:
//!
//! | jitter | delay | range |
//! |---|---|---|
//! | `None` | `base(k)` | exactly `base(k)` |
//! | `Full` | uniform in `[0, base(k)]` | `[0, cap]` |
//! | `Equal` | `base(k)/2 +` uniform in `[0, base(k)/2]` | `[base(k)/2, base(k)]` |
//! | `Decorrelated` | `min(cap, uniform in [initial, 3 × previous])`, previous starting at `initial` | `[initial, cap]` |
//!
//! where `cap` is `max` (exponential) or `d` (constant). A server hint raises the
//! delay: `delay = max(hint, jittered backoff)`; a hint may exceed the cap (the
//! server knows best) but never the call's deadline. All arithmetic is on whole
//! nanoseconds and saturates: no configuration, however extreme, overflows or panics.

use crate::clock::duration_to_nanos;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::sync::{AtomicU64, Ordering};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::fmt;
use std::time::Duration;

/// How the delay between attempts grows.
///
/// # Examples
///
/// ```
/// use fusebox::{Backoff, Jitter, Retry};
/// use std::time::Duration;
///
/// let retry = Retry::builder()
///     .max_attempts(4)
///     .backoff(Backoff::Exponential {
///         initial: Duration::from_millis(50),
///         factor: 3.0,
///         max: Duration::from_millis(200),
///     })
///     .jitter(Jitter::None)
///     .build()?;
/// let ms = Duration::from_millis;
/// assert_eq!(retry.delays(0).collect::<Vec<_>>(), [ms(50), ms(150), ms(200)]);
/// // A factor below 1 would shrink the delays: refused, naming the field.
/// let shrinking = Backoff::Exponential { initial: ms(50), factor: 0.5, max: ms(200) };
/// assert!(Retry::builder().backoff(shrinking).build().is_err());
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Backoff {
    /// The same delay before every retry.
    Constant(Duration),
    /// `initial × factor^(k-1)` before retry `k`, capped at `max`.
    Exponential {
        /// The delay before the first retry (must not be zero).
        initial: Duration,
        /// Growth per retry (finite, at least 1).
        factor: f64,
        /// The largest delay (at least `initial`).
        max: Duration,
    },
}

/// How delays are randomised, so that callers that failed together do not retry
/// together. See the module documentation for the exact ranges.
///
/// # Examples
///
/// ```
/// use fusebox::{Jitter, Retry};
/// use std::time::Duration;
///
/// let retry = Retry::builder()
///     .constant_backoff(Duration::from_millis(100))
///     .jitter(Jitter::Equal) // each delay uniform in [50 ms, 100 ms]
///     .max_attempts(10)
///     .build()?;
/// for delay in retry.delays(7) {
///     assert!(delay >= Duration::from_millis(50) && delay <= Duration::from_millis(100));
/// }
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Jitter {
    /// No randomisation.
    None,
    /// Uniform in `[0, base]`.
    #[default]
    Full,
    /// Half fixed, half random: uniform in `[base/2, base]`.
    Equal,
    /// "Decorrelated": uniform in `[initial, 3 × previous delay]`, capped.
    Decorrelated,
}

/// A validated retry policy. Build one with [`Retry::builder`].
///
/// # Examples
///
/// ```
/// use fusebox::{Jitter, Retry};
/// use std::time::Duration;
///
/// let retry = Retry::builder()
///     .max_attempts(4)
///     .exponential_backoff(Duration::from_millis(50), 2.0, Duration::from_secs(2))
///     .jitter(Jitter::Equal)
///     .deadline(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(retry.max_attempts(), 4);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct Retry {
    max_attempts: u32,
    backoff: Backoff,
    jitter: Jitter,
    deadline: Option<Duration>,
    attempt_timeout: Option<Duration>,
    /// The per-call RNG seed sequence; touched only when a call needs a delay.
    seeds: AtomicU64,
}

impl fmt::Debug for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("jitter", &self.jitter)
            .field("deadline", &self.deadline())
            .field("attempt_timeout", &self.attempt_timeout())
            .finish()
    }
}

impl Clone for Retry {
    /// The same policy, with its own jitter sequence.
    ///
    /// A `Retry` draws one seed per call that needs a delay from an atomic
    /// sequence. A clone does not share that sequence, nor copy it (the two would
    /// then draw identical jitter, call for call, and synchronise their retries,
    /// the thundering herd jitter is there to prevent). It starts its own at a
    /// value drawn from this one's sequence and mixed (splitmix64): a point far
    /// from every seed this one will hand out, in practice. So clones of a
    /// [seeded](RetryBuilder::seed) policy are still reproducible (the n-th clone
    /// of a policy draws the same sequence in every run, given the same calls
    /// before it), and cloning costs one uncontended atomic increment.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Jitter, Retry};
    /// use std::time::Duration;
    ///
    /// let retry = Retry::builder()
    ///     .exponential_backoff(Duration::from_millis(100), 2.0, Duration::from_secs(10))
    ///     .jitter(Jitter::Full)
    ///     .build()?;
    /// let copy = retry.clone();
    /// assert_eq!(copy.max_attempts(), retry.max_attempts());
    /// assert_eq!(copy.backoff(), retry.backoff());
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    fn clone(&self) -> Self {
        Self {
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            jitter: self.jitter,
            deadline: self.deadline,
            attempt_timeout: self.attempt_timeout,
            seeds: AtomicU64::new(crate::breaker::splitmix64(self.next_seed())),
        }
    }
}

impl Default for Retry {
    /// 3 attempts, exponential backoff from 100 ms (×2, up to 10 s), full jitter,
    /// no deadline.
    fn default() -> Self {
        RetryBuilder::default()
            .build()
            .unwrap_or_else(|_| unreachable_default())
    }
}

#[cold]
fn unreachable_default() -> Retry {
    Retry {
        max_attempts: 1,
        backoff: Backoff::Constant(Duration::ZERO),
        jitter: Jitter::None,
        deadline: None,
        attempt_timeout: None,
        seeds: AtomicU64::new(0),
    }
}

impl Retry {
    /// A builder with the defaults (see [`Retry::default`]).
    pub fn builder() -> RetryBuilder {
        RetryBuilder::default()
    }

    /// Attempts per call, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The backoff.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The jitter.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The per-call deadline, if any.
    #[inline]
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// The per-attempt timeout, if any (see [`RetryBuilder::attempt_timeout`]).
    #[inline]
    pub fn attempt_timeout(&self) -> Option<Duration> {
        self.attempt_timeout
    }

    /// The delays a call would sleep before retries 1, 2, … if every attempt
    /// failed (no hints, no deadline), drawn from a generator seeded with `seed`.
    /// For tests, simulations and documentation; the guard uses the same code.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Jitter, Retry};
    /// use std::time::Duration;
    ///
    /// let retry = Retry::builder()
    ///     .max_attempts(5)
    ///     .exponential_backoff(Duration::from_millis(100), 2.0, Duration::from_millis(500))
    ///     .jitter(Jitter::None)
    ///     .build()?;
    /// let delays: Vec<_> = retry.delays(0).collect();
    /// let ms = |n| Duration::from_millis(n);
    /// assert_eq!(delays, [ms(100), ms(200), ms(400), ms(500)]);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn delays(&self, seed: u64) -> impl Iterator<Item = Duration> + '_ {
        let mut state = Delays::seeded(seed);
        (1..self.max_attempts).map(move |k| Duration::from_nanos(state.next(self, k)))
    }

    /// `base(k)` in nanoseconds (see the module documentation).
    fn base_ns(&self, k: u32) -> u64 {
        match self.backoff {
            Backoff::Constant(d) => duration_to_nanos(d),
            Backoff::Exponential {
                initial,
                factor,
                max,
            } => {
                let (initial, max) = (duration_to_nanos(initial), duration_to_nanos(max));
                let exponent = k.saturating_sub(1);
                if exponent == 0 || factor == 1.0 {
                    return initial.min(max);
                }
                if factor.fract() == 0.0 && factor < u64::MAX as f64 {
                    // An integer factor: exact integer arithmetic, saturating at `max`.
                    return (factor as u64)
                        .checked_pow(exponent)
                        .and_then(|p| initial.checked_mul(p))
                        .map_or(max, |v| v.min(max));
                }
                // A fractional factor: the product is computed in `f64` (relative
                // error below 2^-48 for any exponent `powi` meets here) and truncated
                // to whole nanoseconds, then kept within `[initial, max]`, where the
                // exact product lies.
                let exponent = i32::try_from(exponent).unwrap_or(i32::MAX);
                let grown = initial as f64 * factor.powi(exponent);
                if grown < max as f64 {
                    (grown as u64).clamp(initial, max)
                } else {
                    max
                }
            }
        }
    }

    /// `(initial, cap)` in nanoseconds.
    fn bounds_ns(&self) -> (u64, u64) {
        match self.backoff {
            Backoff::Constant(d) => (duration_to_nanos(d), duration_to_nanos(d)),
            Backoff::Exponential { initial, max, .. } => {
                (duration_to_nanos(initial), duration_to_nanos(max))
            }
        }
    }

    /// A fresh seed for one call's generator.
    fn next_seed(&self) -> u64 {
        // Relaxed: the sequence only has to hand out distinct values, which the
        // read-modify-write guarantees; nothing is published through it.
        self.seeds
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
    }
}

/// One call's delay state: its generator (created on the first retry, so a call
/// that succeeds at once never touches shared state) and the previous delay.
#[derive(Debug)]
pub(crate) struct Delays {
    rng: Option<SmallRng>,
    seed: Option<u64>,
    previous_ns: Option<u64>,
}

impl Delays {
    pub(crate) fn new() -> Self {
        Self {
            rng: None,
            seed: None,
            previous_ns: None,
        }
    }

    fn seeded(seed: u64) -> Self {
        Self {
            rng: None,
            seed: Some(seed),
            previous_ns: None,
        }
    }

    /// The jittered backoff before retry `k`, in nanoseconds.
    pub(crate) fn next(&mut self, retry: &Retry, k: u32) -> u64 {
        let base = retry.base_ns(k);
        let (initial, cap) = retry.bounds_ns();
        let delay = match retry.jitter {
            Jitter::None => base,
            Jitter::Full => self.rng(retry).random_range(0..=base),
            Jitter::Equal => {
                let half = base / 2;
                half + self.rng(retry).random_range(0..=base - half)
            }
            Jitter::Decorrelated => {
                let previous = self.previous_ns.unwrap_or(initial);
                let high = previous.saturating_mul(3).max(initial);
                self.rng(retry).random_range(initial..=high).min(cap)
            }
        };
        self.previous_ns = Some(delay);
        delay
    }

    fn rng(&mut self, retry: &Retry) -> &mut SmallRng {
        let seed = self.seed;
        self.rng.get_or_insert_with(|| {
            SmallRng::seed_from_u64(seed.unwrap_or_else(|| retry.next_seed()))
        })
    }
}

/// Builds a [`Retry`], validating every value.
///
/// # Examples
///
/// Every setting has a default (3 attempts, exponential backoff from 100 ms doubling
/// up to 10 s, full jitter, no deadline); `build` checks the values and names the
/// one that is wrong:
///
/// ```
/// use fusebox::Retry;
/// use std::time::Duration;
///
/// let retry = Retry::builder()
///     .max_attempts(4)
///     .exponential_backoff(Duration::from_millis(20), 2.0, Duration::from_secs(1))
///     .deadline(Duration::from_secs(3))
///     .attempt_timeout(Duration::from_millis(500))
///     .build()?;
/// assert_eq!(retry.max_attempts(), 4);
///
/// let err = Retry::builder().max_attempts(0).build().unwrap_err();
/// println!("{err}"); // names `max_attempts` and what it must be
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct RetryBuilder {
    max_attempts: u32,
    backoff: Backoff,
    jitter: Jitter,
    deadline: Option<Duration>,
    attempt_timeout: Option<Duration>,
    seed: Option<u64>,
}

impl Default for RetryBuilder {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: Backoff::Exponential {
                initial: Duration::from_millis(100),
                factor: 2.0,
                max: Duration::from_secs(10),
            },
            jitter: Jitter::Full,
            deadline: None,
            attempt_timeout: None,
            seed: None,
        }
    }
}

impl RetryBuilder {
    /// Attempts per call, the first included (at least 1; 1 means no retry).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// The same delay before every retry (zero allowed: retry at once).
    pub fn constant_backoff(mut self, delay: Duration) -> Self {
        self.backoff = Backoff::Constant(delay);
        self
    }

    /// `initial × factor^(k-1)` before retry `k`, capped at `max`.
    pub fn exponential_backoff(mut self, initial: Duration, factor: f64, max: Duration) -> Self {
        self.backoff = Backoff::Exponential {
            initial,
            factor,
            max,
        };
        self
    }

    /// Any [`Backoff`].
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The jitter mode (default [`Jitter::Full`]).
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// An overall deadline per call, measured from its first attempt (which
    /// therefore always has all of it: a zero deadline is a [`ConfigError`]).
    ///
    /// - A sleep that would end at or past it is not started: the call ends with
    ///   [`GuardError::DeadlineExceeded`](crate::GuardError::DeadlineExceeded).
    /// - A retry due at or past it is not sent (the sleeper woke late, or a tower
    ///   service took that long to become ready): the call ends with
    ///   `DeadlineExceeded` and the last attempt's result, taking no permit and
    ///   recording nothing.
    /// - In [`Guard::call_async`](crate::Guard::call_async) it also bounds the
    ///   attempt in flight: an attempt still running when the deadline passes is
    ///   cut (its future dropped, a failure verdict recorded) and the call ends
    ///   with `DeadlineExceeded`.
    /// - The blocking [`Guard::call`](crate::Guard::call) cannot interrupt an
    ///   attempt; it tells the operation the time left in
    ///   [`Attempt::remaining`](crate::Attempt::remaining), to pass on as the
    ///   attempt's own I/O timeout.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// A time limit per attempt (default: none).
    ///
    /// In [`Guard::call_async`](crate::Guard::call_async), an attempt still running
    /// after `timeout` is cut: its future is dropped and the breaker records a
    /// failure (the downstream did not answer in time). The call then goes on as
    /// after any retryable failure: another attempt after the backoff, or a stop.
    /// The blocking [`Guard::call`](crate::Guard::call) cannot interrupt an
    /// attempt: there the timeout only shortens
    /// [`Attempt::remaining`](crate::Attempt::remaining), which the operation should
    /// use as its I/O timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Retry;
    /// use std::time::Duration;
    ///
    /// let retry = Retry::builder()
    ///     .attempt_timeout(Duration::from_millis(250))
    ///     .deadline(Duration::from_secs(1))
    ///     .build()?;
    /// assert_eq!(retry.attempt_timeout(), Some(Duration::from_millis(250)));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// Seed the jitter generators, for reproducible tests (default: random).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Validate and build.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid field.
    pub fn build(self) -> Result<Retry, ConfigError> {
        if self.max_attempts == 0 {
            return Err(ConfigError::new(
                "max_attempts",
                ConfigErrorKind::Zero,
                self.max_attempts,
                "must be at least 1 (the first attempt counts)",
            ));
        }
        if let Backoff::Exponential {
            initial,
            factor,
            max,
        } = self.backoff
        {
            if initial.is_zero() {
                return Err(ConfigError::new(
                    "exponential_backoff.initial",
                    ConfigErrorKind::Zero,
                    initial,
                    "must not be zero (zero never grows; for no delay, a constant backoff of 0)",
                ));
            }
            let factor = ConfigError::finite("exponential_backoff.factor", factor)?;
            if factor < 1.0 {
                return Err(ConfigError::new(
                    "exponential_backoff.factor",
                    ConfigErrorKind::OutOfRange,
                    factor,
                    "must be at least 1",
                ));
            }
            if max < initial {
                return Err(ConfigError::new(
                    "exponential_backoff.max",
                    ConfigErrorKind::Inconsistent,
                    max,
                    "must be at least `initial`",
                ));
            }
        }
        if let Some(deadline) = self.deadline {
            if deadline.is_zero() {
                return Err(ConfigError::new(
                    "deadline",
                    ConfigErrorKind::Zero,
                    deadline,
                    "must be longer than zero",
                ));
            }
        }
        if let Some(timeout) = self.attempt_timeout {
            if timeout.is_zero() {
                return Err(ConfigError::new(
                    "attempt_timeout",
                    ConfigErrorKind::Zero,
                    timeout,
                    "must be longer than zero (no attempt could finish)",
                ));
            }
        }
        let seed = self.seed.unwrap_or_else(crate::config::random_seed);
        Ok(Retry {
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            jitter: self.jitter,
            deadline: self.deadline,
            attempt_timeout: self.attempt_timeout,
            seeds: AtomicU64::new(seed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(backoff: Backoff, jitter: Jitter) -> Retry {
        Retry::builder()
            .max_attempts(12)
            .backoff(backoff)
            .jitter(jitter)
            .build()
            .unwrap()
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn clones_draw_their_own_reproducible_jitter() {
        let build = || {
            Retry::builder()
                .max_attempts(5)
                .jitter(Jitter::Full)
                .seed(7)
                .build()
                .unwrap()
        };
        // The delay before retry 3 of eight successive calls.
        let draws = |r: &Retry| -> Vec<u64> { (0..8).map(|_| Delays::new().next(r, 3)).collect() };
        let run = || {
            let original = build();
            let (a, b) = (original.clone(), original.clone());
            let c = a.clone();
            [&original, &a, &b, &c].map(draws)
        };
        let first = run();
        for i in 0..first.len() {
            for j in i + 1..first.len() {
                assert_ne!(
                    first[i], first[j],
                    "policies {i} and {j} drew the same jitter"
                );
            }
        }
        assert_eq!(run(), first, "clones of a seeded policy are reproducible");
        let r = build();
        let copy = r.clone();
        assert_eq!(
            (
                copy.max_attempts(),
                copy.backoff(),
                copy.jitter(),
                copy.deadline()
            ),
            (r.max_attempts(), r.backoff(), r.jitter(), r.deadline())
        );
        // No seed is handed out twice among the first draws of both sequences.
        let mut seeds: Vec<u64> = (0..1000)
            .flat_map(|_| [r.next_seed(), copy.next_seed()])
            .collect();
        seeds.sort_unstable();
        seeds.dedup();
        assert_eq!(seeds.len(), 2000);
    }

    #[test]
    fn exponential_without_jitter_is_exact_and_capped() {
        let r = retry(
            Backoff::Exponential {
                initial: 10 * MS,
                factor: 3.0,
                max: 500 * MS,
            },
            Jitter::None,
        );
        let d: Vec<_> = r.delays(1).map(|d| d.as_millis()).collect();
        assert_eq!(d, [10, 30, 90, 270, 500, 500, 500, 500, 500, 500, 500]);
    }

    #[test]
    fn every_jitter_mode_stays_in_bounds_over_many_seeds() {
        let (initial, max) = (7 * MS, 900 * MS);
        let exp = Backoff::Exponential {
            initial,
            factor: 2.0,
            max,
        };
        for jitter in [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
        ] {
            let r = retry(exp, jitter);
            for seed in 0..2000 {
                for (i, d) in r.delays(seed).enumerate() {
                    let base = Duration::from_nanos(r.base_ns(i as u32 + 1));
                    match jitter {
                        Jitter::None => assert_eq!(d, base),
                        Jitter::Full => assert!(d <= base),
                        Jitter::Equal => assert!(d >= base / 2 && d <= base, "{d:?} vs {base:?}"),
                        Jitter::Decorrelated => {
                            assert!(
                                d >= initial && d <= max,
                                "{d:?} outside [{initial:?}, {max:?}]"
                            )
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn jitter_actually_varies_and_is_reproducible() {
        let r = retry(Backoff::Constant(100 * MS), Jitter::Full);
        let a: Vec<_> = r.delays(5).collect();
        assert_eq!(a, r.delays(5).collect::<Vec<_>>());
        assert_ne!(a, r.delays(6).collect::<Vec<_>>());
        let distinct: std::collections::HashSet<_> = (0..100).map(|s| r.delays(s).next()).collect();
        assert!(distinct.len() > 90);
    }

    #[test]
    fn extreme_configurations_saturate() {
        let r = retry(
            Backoff::Exponential {
                initial: Duration::from_nanos(1),
                factor: 1e300,
                max: Duration::MAX,
            },
            Jitter::Decorrelated,
        );
        for d in r.delays(3) {
            assert!(d <= Duration::MAX);
        }
        let r = retry(Backoff::Constant(Duration::MAX), Jitter::Equal);
        assert!(r.delays(1).all(|d| d <= Duration::from_nanos(u64::MAX)));
        let r = retry(Backoff::Constant(Duration::ZERO), Jitter::Decorrelated);
        assert!(r.delays(1).all(|d| d.is_zero()));
        let r = Retry::builder().max_attempts(u32::MAX).build().unwrap();
        assert_eq!(r.delays(1).take(100).count(), 100);
    }

    #[test]
    fn invalid_values_are_named() {
        let e = |b: RetryBuilder| b.build().unwrap_err().field();
        assert_eq!(e(Retry::builder().max_attempts(0)), "max_attempts");
        assert_eq!(
            e(Retry::builder().exponential_backoff(Duration::ZERO, 2.0, MS)),
            "exponential_backoff.initial"
        );
        assert_eq!(
            e(Retry::builder().exponential_backoff(MS, f64::NAN, MS)),
            "exponential_backoff.factor"
        );
        assert_eq!(
            e(Retry::builder().exponential_backoff(MS, 0.5, MS)),
            "exponential_backoff.factor"
        );
        assert_eq!(
            e(Retry::builder().exponential_backoff(MS, f64::INFINITY, MS)),
            "exponential_backoff.factor"
        );
        assert_eq!(
            e(Retry::builder().exponential_backoff(2 * MS, 2.0, MS)),
            "exponential_backoff.max"
        );
        assert_eq!(e(Retry::builder().deadline(Duration::ZERO)), "deadline");
        assert!(
            Retry::builder()
                .constant_backoff(Duration::ZERO)
                .build()
                .is_ok()
        );
        let _ = Retry::default();
    }
}
