//! Hedged attempts: [`Hedge`], the policy [`Guard::with_hedging`](crate::Guard::with_hedging)
//! takes, and the latency histogram its quantile delay reads.
//!
//! A hedge is a second (or third, fourth) attempt sent while the first is still
//! running, because it has taken longer than most attempts do; the first
//! acceptable answer wins and the others are dropped. It resends a request, so
//! it is opt-in and **for idempotent operations only**. Only the async calls
//! ([`Guard::call_async`](crate::Guard::call_async) and
//! [`Guard::call_async_outcome`](crate::Guard::call_async_outcome)) hedge: the
//! blocking [`Guard::call`](crate::Guard::call) runs one attempt at a time on
//! the caller's thread and cannot. In a tower stack,
//! `HedgedGuardLayer` (feature `tower`) runs a hedged guard around a service.
//! See `docs/DESIGN.md`, "Hedging", for the rules.

use crate::budget::RetryBudget;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::sync::{AtomicU64, Ordering};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The most hedges a call may send ([`HedgeBuilder::max_hedges`]): with the
/// primary, a call has at most `1 + MAX_HEDGES` attempts in flight, kept in a
/// fixed array inside the call's future.
pub const MAX_HEDGES: u32 = 3;

/// How long after an attempt starts a hedge is sent.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Delay {
    /// Always this long.
    Fixed(Duration),
    /// This quantile of the recent successful attempts' latencies.
    Quantile(f64),
}

/// A validated hedging policy: when to send a hedge, and how many a call may
/// send. Cloning it shares its latency histogram (an `Arc`), so every clone of
/// a guard learns from the same attempts.
///
/// # Examples
///
/// ```
/// use fusebox::Hedge;
/// use std::time::Duration;
///
/// // A hedge 50 ms after an attempt starts, at most one per call.
/// let fixed = Hedge::after(Duration::from_millis(50))?;
/// assert_eq!(fixed.max_hedges(), 1);
///
/// // A hedge once an attempt is slower than 95 % of recent successes, never
/// // sooner than 5 ms nor later than 2 s; 200 ms until 32 successes are seen.
/// let adaptive = Hedge::builder()
///     .at_quantile(0.95)
///     .floor(Duration::from_millis(5))
///     .cap(Duration::from_secs(2))
///     .fallback(Duration::from_millis(200))
///     .max_hedges(2)
///     .build()?;
/// assert_eq!(adaptive.max_hedges(), 2);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Hedge {
    delay: Delay,
    floor: Duration,
    cap: Duration,
    fallback: Duration,
    min_samples: u64,
    max_hedges: u32,
    /// The recent latencies, for a quantile delay only (shared by clones).
    latencies: Option<Arc<Latencies>>,
    /// The extra load hedges may add ([`HedgeBuilder::max_extra_load`]): every
    /// call deposits the ratio, every hedge withdraws a whole token (shared by
    /// clones).
    extra: Arc<RetryBudget>,
    max_extra_load: f64,
    /// What tells a tail from a stall (shared by clones).
    overdue: Arc<Overdue>,
}

impl Hedge {
    /// A policy with a fixed delay: one hedge, `delay` after an attempt starts.
    ///
    /// # Errors
    ///
    /// A zero `delay` ([`ConfigError`] naming `after`): it would double every
    /// call.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Hedge;
    /// use std::time::Duration;
    ///
    /// assert!(Hedge::after(Duration::from_millis(20)).is_ok());
    /// let err = Hedge::after(Duration::ZERO).unwrap_err();
    /// assert_eq!(err.to_string(), "invalid `after` (\"0s\"): must be above zero");
    /// ```
    pub fn after(delay: Duration) -> Result<Self, ConfigError> {
        Self::builder().after(delay).build()
    }

    /// A builder, set to hedge at the 0.95 quantile of recent successful
    /// attempts, between 1 ms and 1 s, after 1 s until 32 are seen, at most one
    /// hedge per call.
    ///
    /// # Examples
    ///
    /// ```
    /// let hedge = fusebox::Hedge::builder().max_hedges(3).build()?;
    /// assert_eq!(hedge.max_hedges(), 3);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn builder() -> HedgeBuilder {
        HedgeBuilder {
            delay: Delay::Quantile(0.95),
            floor: Duration::from_millis(1),
            cap: Duration::from_secs(1),
            fallback: None,
            min_samples: 32,
            max_hedges: 1,
            max_extra_load: DEFAULT_MAX_EXTRA_LOAD,
        }
    }

    /// The most hedges a call sends, in `1..=MAX_HEDGES`.
    pub fn max_hedges(&self) -> u32 {
        self.max_hedges
    }

    /// The delay a hedge would wait now (`now_ns` on the breaker's clock): the
    /// fixed delay, or the quantile of the histogram within `[floor, cap]`,
    /// or the fallback while too few samples are known. Allocates nothing.
    pub(crate) fn delay(&self, now_ns: u64) -> Duration {
        match (self.delay, &self.latencies) {
            (Delay::Quantile(q), Some(latencies)) => {
                match latencies.cached_quantile(q, now_ns, self.min_samples) {
                    Some(ns) => Duration::from_nanos(ns).clamp(self.floor, self.cap),
                    None => self.fallback,
                }
            }
            _ => delay_or(self.delay, self.fallback),
        }
    }

    /// The most extra load hedges add, as a share of calls
    /// ([`HedgeBuilder::max_extra_load`]).
    pub fn max_extra_load(&self) -> f64 {
        self.max_extra_load
    }

    /// A hedged call begins: its share of the extra-load allowance (one load
    /// and no write while the allowance is full, as on a healthy downstream).
    #[inline]
    pub(crate) fn deposit_call(&self) {
        self.extra.deposit();
    }

    /// Whether the extra-load allowance has a hedge left (taken if so).
    #[inline]
    pub(crate) fn take_extra(&self) -> bool {
        self.extra.try_withdraw()
    }

    /// Give back a hedge taken by [`take_extra`](Self::take_extra) that was
    /// not sent (the breaker or the retry budget refused it).
    #[cold]
    pub(crate) fn refund_extra(&self) {
        self.extra.refund();
    }

    /// Learn from a successful attempt that answered at its first poll, whose
    /// time was not read (see [`Latencies::record_at_once`]).
    #[inline]
    pub(crate) fn record_at_once(&self) {
        if let Some(latencies) = &self.latencies {
            latencies.record_at_once();
        }
    }

    /// Learn from a successful attempt that took `elapsed_ns` and ended at
    /// `now_ns` (a fixed delay learns nothing about the delay; every policy
    /// learns that the downstream answered an attempt begun then).
    #[inline]
    pub(crate) fn record(&self, elapsed_ns: u64, now_ns: u64) {
        if let Some(latencies) = &self.latencies {
            latencies.record(elapsed_ns, now_ns);
        }
        self.overdue.answered(now_ns.saturating_sub(elapsed_ns));
    }

    /// A round begun at `started_ns` has run past its hedge delay `delay`
    /// (counted overdue until [`round_over`](Self::round_over)): whether a
    /// hedge may go (see [`Overdue`]).
    #[cold]
    pub(crate) fn overdue(&self, started_ns: u64, delay: Duration) -> bool {
        self.overdue.enter(started_ns, delay)
    }

    /// A round counted by [`overdue`](Self::overdue) is over.
    #[cold]
    pub(crate) fn round_over(&self) {
        self.overdue.leave();
    }
}

/// A fixed delay, or `fallback` for a quantile (which never reaches here with a
/// histogram missing: `build` makes one for every quantile policy).
fn delay_or(delay: Delay, fallback: Duration) -> Duration {
    match delay {
        Delay::Fixed(d) => d,
        Delay::Quantile(_) => fallback,
    }
}

impl fmt::Debug for Hedge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Hedge");
        match self.delay {
            Delay::Fixed(delay) => d.field("after", &delay),
            Delay::Quantile(q) => d
                .field("at_quantile", &q)
                .field("floor", &self.floor)
                .field("cap", &self.cap)
                .field("fallback", &self.fallback)
                .field("min_samples", &self.min_samples),
        };
        d.field("max_hedges", &self.max_hedges)
            .field("max_extra_load", &self.max_extra_load)
            .finish()
    }
}

/// Builds a [`Hedge`]; [`build`](Self::build) validates.
///
/// # Examples
///
/// ```
/// use fusebox::{ConfigErrorKind, Hedge};
/// use std::time::Duration;
///
/// let err = Hedge::builder().max_hedges(4).build().unwrap_err();
/// assert_eq!(err.field(), "max_hedges");
/// assert_eq!(err.to_string(), "invalid `max_hedges` (4): must be in 1..=3");
///
/// let err = Hedge::builder()
///     .floor(Duration::from_secs(2))
///     .cap(Duration::from_secs(1))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.kind(), ConfigErrorKind::Inconsistent);
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until built"]
pub struct HedgeBuilder {
    delay: Delay,
    floor: Duration,
    cap: Duration,
    fallback: Option<Duration>,
    min_samples: u64,
    max_hedges: u32,
    max_extra_load: f64,
}

/// [`HedgeBuilder::max_extra_load`]'s default: hedges add at most 5 % to the
/// calls' attempts (the share a 0.95 quantile delay hedges when latency is
/// what it was).
pub const DEFAULT_MAX_EXTRA_LOAD: f64 = 0.05;

/// How many hedges the extra-load allowance banks (a burst of slow attempts
/// after a quiet spell).
const EXTRA_BURST: u32 = 10;

impl HedgeBuilder {
    /// Hedge a fixed `delay` after an attempt starts (above zero). Replaces
    /// [`at_quantile`](Self::at_quantile); the floor, cap and fallback are then
    /// unused.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = Delay::Fixed(delay);
        self
    }

    /// Hedge once an attempt has run longer than the quantile `q` (in `(0, 1)`)
    /// of the latencies of the guard's recent successful attempts, clamped to
    /// [`floor`](Self::floor) and [`cap`](Self::cap). Recent: the last 10 to
    /// 20 s (two generations of 10 s, rotated by time). The quantile is read at
    /// the resolution of the histogram: a quarter of a power of two, rounded up
    /// (a hedge sent at most 25 % later than the exact quantile would send it).
    pub fn at_quantile(mut self, q: f64) -> Self {
        self.delay = Delay::Quantile(q);
        self
    }

    /// The shortest quantile delay (default 1 ms; above zero).
    pub fn floor(mut self, floor: Duration) -> Self {
        self.floor = floor;
        self
    }

    /// The longest quantile delay (default 1 s; at least the floor).
    pub fn cap(mut self, cap: Duration) -> Self {
        self.cap = cap;
        self
    }

    /// The delay until [`min_samples`](Self::min_samples) successes are known
    /// (default: the cap; within `[floor, cap]`).
    pub fn fallback(mut self, fallback: Duration) -> Self {
        self.fallback = Some(fallback);
        self
    }

    /// How many recent successes the quantile needs before it is used
    /// (default 32; at least 1).
    pub fn min_samples(mut self, n: u32) -> Self {
        self.min_samples = u64::from(n);
        self
    }

    /// The most hedges one call sends (default 1; in `1..=MAX_HEDGES`).
    ///
    /// Hedges are attempts: a call's attempts, hedges included, never exceed
    /// the retry's [`max_attempts`](crate::RetryBuilder::max_attempts), so a
    /// guard that may hedge once needs `max_attempts(2)` or more, and a hedged
    /// round that fails leaves fewer retries (as gRPC's `maxAttempts` counts
    /// hedges). To hedge without retrying failures, classify failures as not
    /// retryable.
    pub fn max_hedges(mut self, n: u32) -> Self {
        self.max_hedges = n;
        self
    }

    /// The most extra load hedges may add, as a share of calls (default
    /// [`DEFAULT_MAX_EXTRA_LOAD`], 5 %; in `(0, 1]`): every call adds `ratio`
    /// of a hedge to an allowance (which starts with 10 and banks at most
    /// 10), every hedge takes one, and a call finding it empty sends no hedge. It is what keeps
    /// hedging from multiplying the load when latency changes faster than
    /// the quantile follows: a downstream that stops answering (every attempt
    /// is slow before any fails) or a queue that forms (every attempt waits)
    /// would otherwise get a hedge for every call until the breaker or the
    /// limit sees it. Independent of the retry budget, which a hedge also
    /// draws on.
    ///
    /// # Examples
    ///
    /// ```
    /// let hedge = fusebox::Hedge::builder().max_extra_load(0.02).build()?;
    /// assert_eq!(hedge.max_extra_load(), 0.02);
    /// assert!(fusebox::Hedge::builder().max_extra_load(0.0).build().is_err());
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn max_extra_load(mut self, ratio: f64) -> Self {
        self.max_extra_load = ratio;
        self
    }

    /// Check the settings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the field: `after`, `at_quantile`, `floor`,
    /// `cap`, `fallback`, `min_samples`, `max_hedges` or `max_extra_load`.
    pub fn build(self) -> Result<Hedge, ConfigError> {
        ConfigError::finite("max_extra_load", self.max_extra_load)?;
        if !(self.max_extra_load > 0.0 && self.max_extra_load <= 1.0) {
            return Err(ConfigError::new(
                "max_extra_load",
                ConfigErrorKind::OutOfRange,
                self.max_extra_load,
                "must be in (0, 1]",
            ));
        }
        // No floor (no clock read); it starts full, as a quiet downstream's
        // allowance is.
        let extra = RetryBudget::builder()
            .ratio(self.max_extra_load)
            .min_retries_per_sec(0)
            .max_balance(EXTRA_BURST)
            .initial_balance(EXTRA_BURST)
            .build()
            .map_err(|e| e.within("max_extra_load"))?;
        if !(1..=MAX_HEDGES).contains(&self.max_hedges) {
            return Err(ConfigError::new(
                "max_hedges",
                ConfigErrorKind::OutOfRange,
                self.max_hedges,
                "must be in 1..=3",
            ));
        }
        let latencies = match self.delay {
            Delay::Fixed(delay) => {
                if delay.is_zero() {
                    return Err(ConfigError::new(
                        "after",
                        ConfigErrorKind::Zero,
                        delay,
                        "must be above zero",
                    ));
                }
                None
            }
            Delay::Quantile(q) => {
                ConfigError::finite("at_quantile", q)?;
                if !(q > 0.0 && q < 1.0) {
                    return Err(ConfigError::new(
                        "at_quantile",
                        ConfigErrorKind::OutOfRange,
                        q,
                        "must be in (0, 1)",
                    ));
                }
                if self.floor.is_zero() {
                    return Err(ConfigError::new(
                        "floor",
                        ConfigErrorKind::Zero,
                        self.floor,
                        "must be above zero",
                    ));
                }
                if self.cap < self.floor {
                    return Err(ConfigError::new(
                        "cap",
                        ConfigErrorKind::Inconsistent,
                        self.cap,
                        "must be at least `floor`",
                    ));
                }
                if let Some(fallback) = self.fallback {
                    if fallback < self.floor || fallback > self.cap {
                        return Err(ConfigError::new(
                            "fallback",
                            ConfigErrorKind::Inconsistent,
                            fallback,
                            "must be within `floor` and `cap`",
                        ));
                    }
                }
                if self.min_samples == 0 {
                    return Err(ConfigError::new(
                        "min_samples",
                        ConfigErrorKind::Zero,
                        0u32,
                        "must be at least 1",
                    ));
                }
                Some(Arc::new(Latencies::new(GENERATION_NS)))
            }
        };
        Ok(Hedge {
            delay: self.delay,
            floor: self.floor,
            cap: self.cap,
            fallback: self.fallback.unwrap_or(self.cap),
            min_samples: self.min_samples,
            max_hedges: self.max_hedges,
            latencies,
            extra: Arc::new(extra),
            max_extra_load: self.max_extra_load,
            overdue: Arc::new(Overdue::new()),
        })
    }
}

/// What tells a *tail* (this attempt is slow, the downstream answers others)
/// from a *stall* (the downstream answers no one in time: it is dead, or it
/// queues every request), where a hedge is one more request that will not be
/// answered either, or one more in the queue.
///
/// A round past its hedge delay may hedge if the downstream has answered an
/// attempt begun at least a quarter of the delay after the round's (that
/// attempt took under three quarters of a delay while this one took over a
/// whole one: this one is the tail), or else if no other round of the
/// policy's calls is overdue (one slow call alone, as on a quiet service, is
/// a tail as far as anyone can tell). A dead downstream answers nothing begun
/// after it died, and a queue delays every later request about as much as
/// the earlier ones, so there only the first overdue round hedges. (Half a
/// delay instead of a quarter asked too much of a busy tail: in the lab's
/// `tail` scenario some slow calls found no answer begun that late and sent
/// no hedge, and p99.9 rose from 162 to 252 ms at one seed.)
///
/// Orderings: `Relaxed`. Both words are estimates read for themselves, and
/// publish no other memory; a stale read decides one hedge either way.
pub(crate) struct Overdue {
    /// Rounds past their hedge delay and not yet over.
    rounds: AtomicU64,
    /// The latest start (on the breaker's clock) of a timed attempt that
    /// succeeded, to within [`ANSWERED_GRAIN_NS`]: a success begun less than
    /// that after the one kept writes nothing, so that a healthy service's
    /// calls do not all write the word.
    answered: AtomicU64,
}

/// The grain of [`Overdue::answered`]: 1 ms.
const ANSWERED_GRAIN_NS: u64 = 1_000_000;

impl Overdue {
    fn new() -> Self {
        Self {
            rounds: AtomicU64::new(0),
            answered: AtomicU64::new(0),
        }
    }

    #[inline]
    fn answered(&self, started_ns: u64) {
        // Relaxed: see the type's docs.
        if started_ns > self.answered.load(Ordering::Relaxed) + ANSWERED_GRAIN_NS {
            self.answered.fetch_max(started_ns, Ordering::Relaxed);
        }
    }

    fn enter(&self, started_ns: u64, delay: Duration) -> bool {
        // Relaxed: see the type's docs.
        let others = self.rounds.fetch_add(1, Ordering::Relaxed);
        let quarter = u64::try_from(delay.as_nanos() / 4).unwrap_or(u64::MAX);
        others == 0 || self.answered.load(Ordering::Relaxed) >= started_ns.saturating_add(quarter)
    }

    fn leave(&self) {
        // Relaxed: see the type's docs.
        self.rounds.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long one generation of the histogram gathers: 10 s.
const GENERATION_NS: u64 = 10_000_000_000;

/// Sub-buckets per power of two (2 bits of mantissa).
const SUB_BITS: u32 = 2;
const SUBS: usize = 1 << SUB_BITS;
/// Latencies below 2^10 ns (1 µs) share bucket 0.
const MIN_OCTAVE: u32 = 10;
/// Buckets per generation: bucket 0, then `SUBS` per power of two from 2^10 ns
/// (1 µs) up; the last takes everything from 2^41 ns (36 min) on.
pub(crate) const BUCKETS: usize = 1 + 32 * SUBS;

/// The bucket of a latency of `ns` nanoseconds.
#[inline]
pub(crate) fn bucket_of(ns: u64) -> usize {
    if ns < 1 << MIN_OCTAVE {
        return 0;
    }
    let octave = 63 - ns.leading_zeros();
    let sub = ((ns >> (octave - SUB_BITS)) as usize) & (SUBS - 1);
    (1 + (octave - MIN_OCTAVE) as usize * SUBS + sub).min(BUCKETS - 1)
}

/// The largest latency in bucket `i` (its upper end, exclusive).
pub(crate) fn bucket_upper(i: usize) -> u64 {
    if i == 0 {
        return 1 << MIN_OCTAVE;
    }
    let octave = (i - 1) / SUBS + MIN_OCTAVE as usize;
    let sub = ((i - 1) % SUBS) as u64;
    (SUBS as u64 + sub + 1) << (octave - SUB_BITS as usize)
}

/// One in this many successful attempts that answer at their first poll is
/// counted, per thread, with this weight ([`Latencies::record_at_once`]).
const AT_ONCE_EVERY: u32 = 16;

std::thread_local! {
    /// This thread's countdown to its next counted at-once attempt.
    static AT_ONCE_TICK: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// One generation: the counts of the latencies recorded during one period.
struct Generation {
    /// The period (`now / period_ns`) whose latencies the counts hold.
    period: AtomicU64,
    counts: [AtomicU64; BUCKETS],
}

/// Recent latencies in two generations rotated by time: the one of the current
/// period and the one before it. Recording is one `fetch_add` on one counter
/// (and, once a period, clearing the older generation); reading a quantile
/// walks both generations' counters. No lock and no allocation after `new`.
///
/// Orderings: every access is `Relaxed`. The counts publish nothing: no other
/// memory is read on the strength of a count, and a quantile is an estimate.
/// What a race can do is bounded and harmless: a thread that starts a period
/// (wins the `period` CAS) clears the counters one by one, so a latency another
/// thread records into that generation meanwhile may be cleared with them (one
/// sample lost), and a reader during the clearing may count a few of the old
/// period's samples (a quantile of slightly older data). No count can go wrong
/// in a way that persists: the next rotation clears it.
pub(crate) struct Latencies {
    period_ns: u64,
    generations: [Generation; 2],
    /// The last quantile read ([`Latencies::cached_quantile`]): its value in
    /// nanoseconds, or [`NO_QUANTILE`] for "too few samples".
    cached: AtomicU64,
    /// When `cached` was computed, plus one (0: never).
    cached_at: AtomicU64,
}

/// `Latencies::cached`: the quantile was not known (too few samples).
const NO_QUANTILE: u64 = u64::MAX;

/// How long a quantile read from the histogram is reused: a walk of both
/// generations (516 loads) costs more than the rest of a healthy hedged call,
/// and the quantile of a 10-second window barely moves in a millisecond.
const QUANTILE_REFRESH_NS: u64 = 1_000_000;

impl Latencies {
    pub(crate) fn new(period_ns: u64) -> Self {
        let generation = || Generation {
            // `u64::MAX`: no period yet (never equal to `now / period_ns`).
            period: AtomicU64::new(u64::MAX),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        };
        Self {
            period_ns: period_ns.max(1),
            generations: [generation(), generation()],
            cached: AtomicU64::new(NO_QUANTILE),
            cached_at: AtomicU64::new(0),
        }
    }

    /// A successful attempt that answered at its first poll: it waited for
    /// nothing, and its time is not read (two clock reads would cost more
    /// than the rest of a healthy hedged call). It counts in the lowest
    /// bucket, with no clock: in the generation of the newest period the
    /// histogram has seen (no rotation; the next timed sample rotates).
    ///
    /// Sampled: one in [`AT_ONCE_EVERY`] per thread, counted that many times,
    /// so that a healthy service's calls, nearly all at once, do not all write
    /// the same counter (a cache line every thread's calls would share). The
    /// expected count is the true one; the quantile is an estimate anyway.
    /// Under loom every one is counted (a thread-local countdown would carry
    /// from one explored execution to the next).
    #[inline]
    pub(crate) fn record_at_once(&self) {
        let weight = if cfg!(loom) {
            1
        } else {
            let due = AT_ONCE_TICK.with(|tick| {
                let next = tick.get().wrapping_add(1) % AT_ONCE_EVERY;
                tick.set(next);
                next == 0
            });
            if !due {
                return;
            }
            AT_ONCE_EVERY
        };
        // Relaxed: see the type's docs. The newer period's generation (the
        // other may be a period behind, or cleared next).
        let [a, b] = &self.generations;
        let (pa, pb) = (
            a.period.load(Ordering::Relaxed),
            b.period.load(Ordering::Relaxed),
        );
        let newer = match (pa, pb) {
            (u64::MAX, _) => b,
            (_, u64::MAX) => a,
            _ if pa >= pb => a,
            _ => b,
        };
        newer.counts[0].fetch_add(u64::from(weight), Ordering::Relaxed);
    }

    /// [`quantile`](Self::quantile), reused for [`QUANTILE_REFRESH_NS`]: a
    /// reading at most that old (on the caller's clock) is returned as is,
    /// otherwise the histogram is walked and the result kept for the next
    /// callers.
    ///
    /// Orderings: `Relaxed`. The two words publish nothing (the value is read
    /// for itself), and a race only costs accuracy: two threads may both walk
    /// and store (each a valid quantile of nearly the same data), and a reader
    /// may pair a new time with the value before it (a quantile at most one
    /// refresh older). A clock reading behind the stored time (another
    /// thread's later `now`) reuses the value.
    pub(crate) fn cached_quantile(&self, q: f64, now_ns: u64, min_samples: u64) -> Option<u64> {
        let at = self.cached_at.load(Ordering::Relaxed);
        if at != 0 && now_ns.saturating_sub(at - 1) < QUANTILE_REFRESH_NS {
            let value = self.cached.load(Ordering::Relaxed);
            return (value != NO_QUANTILE).then_some(value);
        }
        let value = self.quantile(q, now_ns, min_samples);
        self.cached
            .store(value.unwrap_or(NO_QUANTILE), Ordering::Relaxed);
        self.cached_at
            .store(now_ns.saturating_add(1), Ordering::Relaxed);
        value
    }

    /// Count a latency of `elapsed_ns` ended at `now_ns`.
    pub(crate) fn record(&self, elapsed_ns: u64, now_ns: u64) {
        let period = now_ns / self.period_ns;
        let generation = &self.generations[(period & 1) as usize];
        // Relaxed: see the type's docs.
        let held = generation.period.load(Ordering::Relaxed);
        if held != period
            && (held == u64::MAX || held < period)
            && generation
                .period
                .compare_exchange(held, period, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            // This thread started the period: the generation's counts are two
            // periods old (or more), cleared before this one's first sample.
            for count in &generation.counts {
                count.store(0, Ordering::Relaxed);
            }
        }
        // A sample recorded as the clock crossed into a period (a thread whose
        // `now` is a period behind another's) lands in whichever generation its
        // own period names; at worst the newer period's CAS clears it.
        generation.counts[bucket_of(elapsed_ns)].fetch_add(1, Ordering::Relaxed);
    }

    /// The `q` quantile (upper end of its bucket) of the latencies of the
    /// current and the previous period as of `now_ns`, or `None` with fewer
    /// than `min_samples` of them.
    pub(crate) fn quantile(&self, q: f64, now_ns: u64, min_samples: u64) -> Option<u64> {
        let period = now_ns / self.period_ns;
        let live = |g: &Generation| {
            // Relaxed: see the type's docs.
            let p = g.period.load(Ordering::Relaxed);
            p != u64::MAX && (p == period || p.wrapping_add(1) == period)
        };
        let [a, b] = &self.generations;
        let (a, b) = (live(a).then_some(a), live(b).then_some(b));
        let count = |i: usize| {
            a.map_or(0, |g| g.counts[i].load(Ordering::Relaxed))
                + b.map_or(0, |g| g.counts[i].load(Ordering::Relaxed))
        };
        let total: u64 = (0..BUCKETS).map(count).sum();
        if total < min_samples || total == 0 {
            return None;
        }
        // The rank of the quantile, 1-based, at least 1: the smallest bucket
        // whose cumulative count reaches it holds the quantile.
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for i in 0..BUCKETS {
            seen += count(i);
            if seen >= rank {
                return Some(bucket_upper(i));
            }
        }
        // The counts moved between the two walks (a concurrent record or
        // clearing): the largest bucket is a safe answer (the cap clamps it).
        Some(bucket_upper(BUCKETS - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_contain_their_values() {
        for ns in [0, 1, 1023, 1024, 1279, 1280, 5_000, 1_000_000, 123_456_789] {
            let i = bucket_of(ns);
            assert!(ns < bucket_upper(i), "{ns} in bucket {i}");
            if i > 0 {
                assert!(ns >= bucket_upper(i - 1), "{ns} above bucket {}", i - 1);
            }
        }
        for i in 1..BUCKETS {
            assert!(bucket_upper(i) > bucket_upper(i - 1));
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantile_follows_the_samples_and_forgets_old_periods() {
        let l = Latencies::new(1_000);
        assert_eq!(l.quantile(0.5, 0, 1), None);
        for _ in 0..90 {
            l.record(10_000, 0);
        }
        for _ in 0..10 {
            l.record(1_000_000, 0);
        }
        let p50 = l.quantile(0.5, 0, 10).unwrap();
        assert!((10_000..=12_288).contains(&p50), "{p50}");
        let p95 = l.quantile(0.95, 0, 10).unwrap();
        assert!((1_000_000..=1_310_720).contains(&p95), "{p95}");
        assert_eq!(l.quantile(0.5, 0, 101), None, "too few samples");
        // One period later the samples are the previous generation's: still read.
        assert_eq!(l.quantile(0.5, 1_000, 10), Some(p50));
        // Two periods later they are gone.
        assert_eq!(l.quantile(0.5, 2_000, 1), None);
        // A new sample two periods on clears the old generation first.
        l.record(2_000_000, 2_000);
        assert_eq!(
            l.quantile(0.5, 2_000, 1),
            Some(bucket_upper(bucket_of(2_000_000)))
        );
    }

    /// `record_at_once` counts one in [`AT_ONCE_EVERY`] per thread: call it
    /// that many times to count one (with that weight).
    fn at_once(l: &Latencies) {
        for _ in 0..AT_ONCE_EVERY {
            l.record_at_once();
        }
    }

    #[test]
    fn an_at_once_sample_goes_to_the_newest_generation() {
        let w = u64::from(AT_ONCE_EVERY);
        // Only one generation has a period (the other never used): that one.
        let l = Latencies::new(1_000);
        l.record(10_000, 1_000); // period 1: generation 1
        at_once(&l);
        assert!(
            l.quantile(0.5, 1_000, 1 + w).is_some(),
            "counted in period 1"
        );
        // Generation 0 holds period 0, generation 1 period 1 (newer): the
        // sample survives the rotation to period 2, which clears period 0.
        let l = Latencies::new(1_000);
        l.record(10_000, 0);
        l.record(10_000, 1_000);
        at_once(&l);
        l.record(10_000, 2_000);
        assert!(
            l.quantile(0.5, 2_000, 2 + w).is_some(),
            "kept with period 1"
        );
        // Generation 0 holds period 2 (newer), generation 1 period 1: into
        // generation 0, which the rotation to period 3 (clearing period 1)
        // keeps.
        let l = Latencies::new(1_000);
        l.record(10_000, 1_000);
        l.record(10_000, 2_000);
        at_once(&l);
        l.record(10_000, 3_000);
        assert!(
            l.quantile(0.5, 3_000, 2 + w).is_some(),
            "kept with period 2"
        );
    }

    #[test]
    fn a_cached_quantile_is_reused_for_its_refresh_and_then_read_again() {
        let l = Latencies::new(10 * QUANTILE_REFRESH_NS);
        assert_eq!(l.cached_quantile(0.5, 0, 1), None, "no samples yet");
        l.record(10_000, 1);
        // Within the refresh the answer is the cached one, stale or not.
        assert_eq!(l.cached_quantile(0.5, QUANTILE_REFRESH_NS - 1, 1), None);
        let fresh = Some(bucket_upper(bucket_of(10_000)));
        assert_eq!(l.cached_quantile(0.5, QUANTILE_REFRESH_NS, 1), fresh);
        for _ in 0..10 {
            l.record(5_000_000, QUANTILE_REFRESH_NS + 1);
        }
        assert_eq!(
            l.cached_quantile(0.5, 2 * QUANTILE_REFRESH_NS - 1, 1),
            fresh
        );
        assert_eq!(
            l.cached_quantile(0.5, 2 * QUANTILE_REFRESH_NS, 1),
            Some(bucket_upper(bucket_of(5_000_000)))
        );
        // A clock behind the stored reading (another thread's) reuses it.
        assert_eq!(
            l.cached_quantile(0.5, 0, 1),
            Some(bucket_upper(bucket_of(5_000_000)))
        );
    }
}
