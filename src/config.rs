//! The breaker's validated configuration and its builder.

use crate::clock::{Clock, MonotonicClock, duration_to_nanos};
use crate::error::{ConfigError, ConfigErrorKind, ConfigValue, Table};
use crate::health;
use crate::state::{HALF_OPEN_MAX, HEALTH_FULL, SAMPLES_MAX};
use crate::verdict::Transition;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Largest open period (`open_for` and `open_cap`): 366 days. Deadlines are kept in
/// milliseconds in 40 bits (about 34.8 years since the breaker started).
pub const MAX_OPEN_PERIOD: Duration = Duration::from_secs(366 * 24 * 3600);
/// Smallest `open_for`: deadlines have millisecond resolution.
pub const MIN_OPEN_PERIOD: Duration = Duration::from_millis(1);
/// The default probe lease ([`BreakerBuilder::probe_timeout`]): 10 s.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest factor by which the open period may grow per consecutive re-open.
pub const MAX_OPEN_GROWTH: f64 = 1000.0;
/// The probe lease doubles once per this many consecutive half-open periods
/// replaced by lease expiry.
const LEASE_DOUBLING_PERIODS: u32 = 4;
/// The default half-life of health ([`BreakerBuilder::half_life`]): 5 s.
pub const DEFAULT_HALF_LIFE: Duration = Duration::from_secs(5);
/// Smallest half-life: time is counted in ticks of `half_life / 64`, at least 1 ms.
pub const MIN_HALF_LIFE: Duration = Duration::from_millis(64);

pub(crate) type Listener = Box<dyn Fn(&Transition) + Send + Sync + 'static>;

/// How health trips the breaker, as given to the builder.
#[derive(Clone, Copy, Debug)]
enum Tripping {
    Consecutive(u32),
    Rate {
        rate: f64,
        window: u32,
    },
    Manual {
        alpha: f64,
        threshold: f64,
        min_samples: u32,
    },
}

/// The validated numbers the breaker runs on.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// alpha as a real number (for weighted failures).
    pub(crate) alpha: f64,
    /// alpha in fixed point (scale 2^32) rounded up: the rate of a success's rise.
    pub(crate) alpha_up: u64,
    /// alpha in fixed point rounded down: the rate of a unit failure's drop.
    pub(crate) alpha_down: u64,
    /// Trip when health (in units) is strictly below this.
    pub(crate) threshold: u32,
    /// Samples needed before a trip; the `SAMPLES` field saturates here.
    pub(crate) min_samples: u32,
    pub(crate) open_for_ns: u64,
    pub(crate) open_growth: f64,
    pub(crate) open_cap_ns: u64,
    pub(crate) open_jitter: f64,
    pub(crate) probes: u32,
    pub(crate) close_after: u32,
    /// How long a half-open period's probes may hold every slot (the probe lease).
    pub(crate) probe_timeout_ns: u64,
    /// One decay tick (`half_life / 64`, at least 1 ms) in nanoseconds, as a
    /// divisor reduced to a multiply and shift (exact; `tick.get()` is the
    /// length).
    pub(crate) tick: strength_reduce::StrengthReducedU64,
    /// Admission is graded below this health (units); 0 when it never is (off, or
    /// not above the threshold).
    pub(crate) shed_below: u32,
    /// The smallest admission chance while graded (scale 2^32).
    pub(crate) min_admit: u64,
    /// An attempt slower than this (ns) is a failure of weight `slow_weight`.
    pub(crate) slow_call_ns: Option<u64>,
    pub(crate) slow_weight: f64,
    /// Whether the adaptive concurrency limit runs, and its bounds.
    pub(crate) limit: Option<(u32, u32)>,
}

/// Builds a [`Breaker`](crate::Breaker), validating every value. Get one from [`Breaker::builder`](crate::Breaker::builder).
///
/// Defaults (chosen with the outage lab; the crate's design notes give the
/// numbers behind each):
///
/// - health: `trip_on_failure_rate(0.95, 50)` (alpha = 2/51, trip below health
///   0.05 after 50 attempts in the spell), a [half-life](Self::half_life) of 5 s;
/// - graded admission below health 0.5 ([`shed_below`](Self::shed_below)), never
///   admitting fewer than 5 % of attempts ([`min_admit`](Self::min_admit));
/// - open for 500 ms, growing ×2 per consecutive re-open up to 2 s (four times
///   `open_for`), shortened by up to 10 % at random;
/// - 2 probes at a time; close after 2 probe successes; probe leases from
///   `open_for` up to 10 s ([`probe_timeout`](Self::probe_timeout));
/// - no slow-call threshold; the [`MonotonicClock`]; no listener.
///
/// # Examples
///
/// ```
/// use fusebox::Breaker;
/// use std::time::Duration;
///
/// let breaker = Breaker::builder()
///     .trip_on_failure_rate(0.5, 20)
///     .open_for(Duration::from_secs(2))
///     .open_cap(Duration::from_secs(30))
///     .probes(2)
///     .close_after(3)
///     .build()?;
/// assert_eq!(breaker.snapshot().health, Some(1.0));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct BreakerBuilder {
    tripping: Tripping,
    open_for: Duration,
    open_growth: f64,
    open_cap: Option<Duration>,
    open_jitter: f64,
    probes: u32,
    close_after: u32,
    probe_timeout: Duration,
    half_life: Duration,
    shed_below: f64,
    min_admit: f64,
    slow_call: Option<(Duration, f64)>,
    adaptive_limit: bool,
    limit_bounds: (u32, u32),
    clock: Option<Box<dyn Clock>>,
    listener: Option<Listener>,
    jitter_seed: Option<u64>,
    name: Option<Box<str>>,
    events: Option<Arc<dyn crate::event::Listener>>,
    /// An error in the configuration file this builder was made from (two trip
    /// policies), returned by `build`: making the builder cannot fail.
    #[cfg(feature = "serde")]
    config_error: Option<ConfigError>,
}

impl Default for BreakerBuilder {
    fn default() -> Self {
        Self {
            tripping: Tripping::Rate {
                rate: 0.95,
                window: 50,
            },
            open_for: Duration::from_millis(500),
            open_growth: 2.0,
            open_cap: None,
            open_jitter: 0.1,
            probes: 2,
            close_after: 2,
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
            half_life: DEFAULT_HALF_LIFE,
            shed_below: 0.5,
            min_admit: 0.05,
            slow_call: None,
            adaptive_limit: true,
            limit_bounds: (
                crate::limit::DEFAULT_MIN_LIMIT,
                crate::limit::DEFAULT_MAX_LIMIT,
            ),
            clock: None,
            listener: None,
            jitter_seed: None,
            name: None,
            events: None,
            #[cfg(feature = "serde")]
            config_error: None,
        }
    }
}

impl fmt::Debug for BreakerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerBuilder")
            .field("tripping", &self.tripping)
            .field("open_for", &self.open_for)
            .field("open_growth", &self.open_growth)
            .field("open_cap", &self.open_cap)
            .field("open_jitter", &self.open_jitter)
            .field("probes", &self.probes)
            .field("close_after", &self.close_after)
            .field("probe_timeout", &self.probe_timeout)
            .field("half_life", &self.half_life)
            .field("shed_below", &self.shed_below)
            .field("min_admit", &self.min_admit)
            .field("slow_call", &self.slow_call)
            .field("adaptive_limit", &self.adaptive_limit)
            .field("limit_bounds", &self.limit_bounds)
            .field("custom_clock", &self.clock.is_some())
            .field("listener", &self.listener.is_some())
            .field("jitter_seed", &self.jitter_seed)
            .finish()
    }
}

impl BreakerBuilder {
    /// Trip on the `n`-th consecutive failed attempt from full health, exactly.
    ///
    /// Sets `alpha = 1 - 2^(-1/n)`, so that `n` unit failures from full health
    /// halve it (`(1 - alpha)^n = 1/2`); the threshold is the midpoint between the
    /// health after `n - 1` and after `n` failures, computed in the breaker's own
    /// 20-bit fixed point, so the `n`-th failure trips and the `(n-1)`-th does not;
    /// `min_samples = n`. Successes pull health back up by the same `alpha`, so
    /// failures interleaved with successes trip later, not never.
    ///
    /// `n` must be in `1..=4095`.
    pub fn trip_after_consecutive_failures(mut self, n: u32) -> Self {
        self.tripping = Tripping::Consecutive(n);
        self
    }

    /// Trip when the failure rate over roughly the last `window` attempts exceeds
    /// `rate`.
    ///
    /// Sets `alpha = 2 / (window + 1)` (the span convention of exponential moving
    /// averages: the last `window` attempts carry about 86 % of the weight),
    /// `threshold = 1 - rate` (under a steady failure rate `p`, health hovers around
    /// `1 - p`), and `min_samples = window` (no trip before `window` attempts in
    /// the current spell below full health). `rate` must be strictly between 0 and 1, `window` in
    /// `1..=4095`.
    pub fn trip_on_failure_rate(mut self, rate: f64, window: u32) -> Self {
        self.tripping = Tripping::Rate { rate, window };
        self
    }

    /// Set the health arithmetic directly: each attempt moves health by `alpha`
    /// (times the failure weight), the breaker trips when health is strictly below
    /// `threshold` after at least `min_samples` attempts in the current spell below full health.
    ///
    /// `alpha` in `(0, 1]`, `threshold` strictly between 0 and 1, `min_samples` in
    /// `0..=4095` (0 and 1 both mean "no minimum": a trip needs a failure anyway).
    pub fn health(mut self, alpha: f64, threshold: f64, min_samples: u32) -> Self {
        self.tripping = Tripping::Manual {
            alpha,
            threshold,
            min_samples,
        };
        self
    }

    /// How long the breaker stays open the first time it trips (at least 1 ms, at
    /// most [`MAX_OPEN_PERIOD`]).
    pub fn open_for(mut self, open_for: Duration) -> Self {
        self.open_for = open_for;
        self
    }

    /// Factor by which the open period grows on each consecutive re-open (a probe
    /// failed) without an intervening close: `open_for * growth^k`, capped. At
    /// least 1 (no growth), at most [`MAX_OPEN_GROWTH`].
    pub fn open_growth(mut self, growth: f64) -> Self {
        self.open_growth = growth;
        self
    }

    /// The longest open period (at least `open_for`, at most [`MAX_OPEN_PERIOD`];
    /// default: four times `open_for`).
    pub fn open_cap(mut self, cap: Duration) -> Self {
        self.open_cap = Some(cap);
        self
    }

    /// Random shortening of each open period, so breakers that opened together do
    /// not probe together: the period is multiplied by a uniform factor in
    /// `(1 - jitter, 1]`. In `[0, 1)`; 0 disables jitter.
    pub fn open_jitter(mut self, jitter: f64) -> Self {
        self.open_jitter = jitter;
        self
    }

    /// How many probes the half-open breaker admits at once (`1..=255`).
    pub fn probes(mut self, probes: u32) -> Self {
        self.probes = probes;
        self
    }

    /// How many probe successes close the half-open breaker (`1..=255`).
    pub fn close_after(mut self, close_after: u32) -> Self {
        self.close_after = close_after;
        self
    }

    /// The longest probe lease: how long a half-open period's probes may hold
    /// every probe slot, at most (default [`DEFAULT_PROBE_TIMEOUT`], at least 1 ms,
    /// at most [`MAX_OPEN_PERIOD`]).
    ///
    /// Once a half-open period's lease has passed, a `try_acquire` that finds every
    /// slot busy starts a fresh half-open period (a new epoch, with this caller as
    /// its first probe and no successes yet): the old probes become stale and their
    /// reports change nothing. So a probe permit that never reports and is never
    /// dropped (a hung future, a `mem::forget`) cannot keep its slot for good, and
    /// a downstream that hangs instead of failing is probed again within a lease,
    /// not only after its own timeout: recovery is seen sooner.
    ///
    /// The first period's lease is `open_for`; it doubles after every four
    /// consecutive periods replaced this way (a downstream slower than the lease,
    /// but alive, is then given longer), up to `probe_timeout`; a probe failure or a
    /// close starts over. Set `probe_timeout` above the slowest probe you expect to
    /// finish: a downstream slower than it never closes the breaker.
    pub fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.probe_timeout = timeout;
        self
    }

    /// The half-life of health: with no verdicts, the gap to full health halves
    /// every `half_life`, so a quiet service forgets an old failure burst (default [`DEFAULT_HALF_LIFE`], at least [`MIN_HALF_LIFE`], at
    /// most [`MAX_OPEN_PERIOD`]).
    ///
    /// Time is counted in ticks of `half_life / 64`; see the crate's design notes
    /// for the exact arithmetic. Verdicts still move health by `alpha` each, so a
    /// busy service's health follows its last few dozen attempts, and a quiet one's
    /// its last few half-lives.
    pub fn half_life(mut self, half_life: Duration) -> Self {
        self.half_life = half_life;
        self
    }

    /// Graded admission: below this health (and with at least `min_samples`
    /// attempts in the current spell below full health), an attempt is admitted
    /// with probability `health / shed_below`, never less than
    /// [`min_admit`](Self::min_admit), instead of always. Rejections are
    /// [`Rejected::Shed`](crate::Rejected::Shed). In `[0, 1)`; 0 turns grading off
    /// (admit everything until the breaker trips), and so does any value not above
    /// the trip threshold (default 0.5: a downstream that still answers half its
    /// attempts gets all of them, one that answers a quarter gets half).
    ///
    /// This sheds load in proportion to the failure the breaker measures, the shape
    /// of client-side adaptive throttling, while the hard `Open` state is kept for
    /// a downstream that answers (almost) nothing.
    pub fn shed_below(mut self, health: f64) -> Self {
        self.shed_below = health;
        self
    }

    /// The smallest admission probability while admission is graded (default
    /// 0.05): the trickle that keeps measuring a struggling downstream. In `(0, 1]`.
    pub fn min_admit(mut self, probability: f64) -> Self {
        self.min_admit = probability;
        self
    }

    /// Count an attempt slower than `threshold` as a failure of `weight`, even if it
    /// succeeded (default: off). [`Guard`](crate::Guard) measures each attempt on
    /// the breaker's clock when this is set; a bare permit is judged by
    /// [`Permit::record_timed`](crate::Permit::record_timed). `threshold` at least
    /// 1 ms; `weight` finite, in `(0, Verdict::MAX_WEIGHT]`.
    pub fn slow_call(mut self, threshold: Duration, weight: f64) -> Self {
        self.slow_call = Some((threshold, weight));
        self
    }

    /// Whether the breaker adapts a concurrency limit from the latency of the
    /// attempts it sees (default: on; `false` keeps a breaker exactly as it was
    /// before the limit existed: no gate, no sampling, the retry budget alone).
    ///
    /// While latency stays near the downstream's unloaded latency the limit is
    /// disengaged and costs nothing (the healthy path reads one more word, and no
    /// permit holds a slot). When a window of attempts averages twice the unloaded
    /// latency (a queue is forming downstream), it engages: every admission then
    /// takes a slot, the limit settles where latency is 1.25 times the unloaded
    /// one, and attempts beyond it are refused at once with
    /// [`Rejected::LimitReached`](crate::Rejected::LimitReached) instead of
    /// joining the queue. A downstream that is slow whatever the load is told
    /// apart (its latency does not fall when the limit lowers the load): the
    /// limit then takes the new latency as unloaded and disengages. While it
    /// shows no queue, retries go beyond the retry budget's ratio (up to the
    /// retry policy's attempts); while it is engaged, retries leave a quarter of
    /// the limit to first attempts. The crate's design document has the whole
    /// rule and the lab's numbers.
    ///
    /// The limit learns only from timed attempts: [`Guard`](crate::Guard) times
    /// one attempt in 16 per thread while it is disengaged and every attempt
    /// while it is engaged; a bare permit reports through
    /// [`Permit::record_timed`](crate::Permit::record_timed). A breaker that only
    /// ever sees [`Permit::record`](crate::Permit::record) never engages.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Breaker;
    ///
    /// let breaker = Breaker::builder().adaptive_limit(true).build()?;
    /// assert!(!breaker.limit().engaged, "it engages only when a queue forms");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn adaptive_limit(mut self, on: bool) -> Self {
        self.adaptive_limit = on;
        self
    }

    /// The bounds of the adaptive concurrency limit (default: 2 to 10,000):
    /// engaged, it never admits fewer than `min` or more than `max` attempts at
    /// once. `1 <= min <= max <= 65535`.
    pub fn limit_bounds(mut self, min: u32, max: u32) -> Self {
        self.limit_bounds = (min, max);
        self
    }

    /// The clock the breaker reads (default: [`MonotonicClock`]). Pass a
    /// [`ManualClock`](crate::ManualClock) clone to control time in tests.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Box::new(clock));
        self
    }

    /// Whether a clock was set (the registry gives its own to builders without).
    #[cfg(feature = "registry")]
    pub(crate) fn has_clock(&self) -> bool {
        self.clock.is_some()
    }

    /// Call `listener` after every transition, from the thread that won it, after
    /// the state has changed. A panic in the listener is caught and discarded: it
    /// cannot corrupt the breaker or leak a probe slot.
    pub fn on_transition(mut self, listener: impl Fn(&Transition) + Send + Sync + 'static) -> Self {
        self.listener = Some(Box::new(listener));
        self
    }

    /// Name the breaker (for example after its downstream, `"payments"`): every
    /// [`Event`](crate::Event) it tells, and its `tracing` events and `metrics`
    /// labels, carry the name. Default: none (`""`).
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = fusebox::Breaker::builder().name("payments").build()?;
    /// assert_eq!(breaker.name(), "payments");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into().into_boxed_str());
        self
    }

    /// Tell `listener` every [`Event`](crate::Event): transitions, rejections,
    /// stale reports, probe-lease expiries, and the retries, budget refusals,
    /// slow and timed-out attempts and stops of the guards over this breaker. See
    /// [`crate::event`] for the contract (outside any CAS loop, panics contained,
    /// no allocation). One listener per breaker; to share one across breakers, use
    /// [`shared_listener`](Self::shared_listener).
    pub fn listener(self, listener: impl crate::event::Listener) -> Self {
        self.shared_listener(Arc::new(listener))
    }

    /// [`listener`](Self::listener), sharing one listener (say, a metrics sink)
    /// among many breakers.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, Event, Listener};
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    ///
    /// let rejections = Arc::new(AtomicU64::new(0));
    /// let counter = Arc::clone(&rejections);
    /// let sink: Arc<dyn Listener> = Arc::new(move |e: &Event<'_>| {
    ///     if e.kind.as_str() == "rejected" {
    ///         counter.fetch_add(1, Ordering::Relaxed);
    ///     }
    /// });
    /// let a = Breaker::builder().name("a").shared_listener(Arc::clone(&sink)).build()?;
    /// let b = Breaker::builder().name("b").shared_listener(sink).build()?;
    /// a.force_open();
    /// b.force_open();
    /// assert!(a.try_acquire().is_err() && b.try_acquire().is_err());
    /// assert_eq!(rejections.load(Ordering::Relaxed), 2);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn shared_listener(mut self, listener: Arc<dyn crate::event::Listener>) -> Self {
        self.events = Some(listener);
        self
    }

    /// Seed the open-period jitter and the graded-admission draws, for
    /// reproducible tests and simulations (default: random per breaker).
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// Fail `build` with `error` (the first one kept): for a configuration
    /// file's error that no builder call can express, so that
    /// `BreakerConfig::builder` stays infallible like the other configs'.
    #[cfg(feature = "serde")]
    pub(crate) fn config_error(mut self, error: ConfigError) -> Self {
        self.config_error.get_or_insert(error);
        self
    }

    /// Validate, and hand over what a breaker is built from (see
    /// `BreakerBuilder::build`, next to the `Breaker` it builds).
    pub(crate) fn into_parts(self) -> Result<BreakerParts, ConfigError> {
        let config = self.validate()?;
        Ok(BreakerParts {
            config,
            clock: self
                .clock
                .unwrap_or_else(|| Box::new(MonotonicClock::new())),
            listener: self.listener,
            seed: self.jitter_seed.unwrap_or_else(random_seed),
            name: self.name.unwrap_or_default(),
            events: self.events,
        })
    }

    fn validate(&self) -> Result<Config, ConfigError> {
        #[cfg(feature = "serde")]
        if let Some(error) = &self.config_error {
            return Err(error.clone());
        }
        let (alpha, alpha_up, alpha_down, threshold, min_samples) = self.validate_tripping()?;

        let open_for = self.open_for;
        if open_for < MIN_OPEN_PERIOD {
            return Err(ConfigError::new(
                "open_for",
                if open_for.is_zero() {
                    ConfigErrorKind::Zero
                } else {
                    ConfigErrorKind::OutOfRange
                },
                open_for,
                "must be at least 1ms (deadlines have millisecond resolution)",
            ));
        }
        if open_for > MAX_OPEN_PERIOD {
            return Err(ConfigError::new(
                "open_for",
                ConfigErrorKind::OutOfRange,
                open_for,
                "must be at most 366 days",
            ));
        }
        let growth = ConfigError::finite("open_growth", self.open_growth)?;
        if !(1.0..=MAX_OPEN_GROWTH).contains(&growth) {
            return Err(ConfigError::new(
                "open_growth",
                ConfigErrorKind::OutOfRange,
                growth,
                "must be between 1 (no growth) and 1000",
            ));
        }
        // Unset, the cap is four open periods (at most the largest period).
        let open_cap = self
            .open_cap
            .unwrap_or_else(|| open_for.saturating_mul(4).min(MAX_OPEN_PERIOD));
        if open_cap < open_for {
            return Err(ConfigError::new(
                "open_cap",
                ConfigErrorKind::Inconsistent,
                open_cap,
                "must be at least `open_for`",
            ));
        }
        if open_cap > MAX_OPEN_PERIOD {
            return Err(ConfigError::new(
                "open_cap",
                ConfigErrorKind::OutOfRange,
                open_cap,
                "must be at most 366 days",
            ));
        }
        let jitter = ConfigError::finite("open_jitter", self.open_jitter)?;
        if !(0.0..1.0).contains(&jitter) {
            return Err(ConfigError::new(
                "open_jitter",
                ConfigErrorKind::OutOfRange,
                jitter,
                "must be in [0, 1)",
            ));
        }
        let probes = count("probes", self.probes)?;
        let close_after = count("close_after", self.close_after)?;
        let probe_timeout = self.probe_timeout;
        if probe_timeout < MIN_OPEN_PERIOD || probe_timeout > MAX_OPEN_PERIOD {
            return Err(ConfigError::new(
                "probe_timeout",
                if probe_timeout.is_zero() {
                    ConfigErrorKind::Zero
                } else {
                    ConfigErrorKind::OutOfRange
                },
                probe_timeout,
                "must be between 1ms and 366 days (leases have millisecond resolution)",
            ));
        }
        let half_life = self.half_life;
        if half_life < MIN_HALF_LIFE || half_life > MAX_OPEN_PERIOD {
            return Err(ConfigError::new(
                "half_life",
                if half_life.is_zero() {
                    ConfigErrorKind::Zero
                } else {
                    ConfigErrorKind::OutOfRange
                },
                half_life,
                "must be between 64ms and 366 days (time is counted in ticks of half_life / 64, \
                 at least 1ms)",
            ));
        }
        let shed_below = ConfigError::finite("shed_below", self.shed_below)?;
        if !(0.0..1.0).contains(&shed_below) {
            return Err(ConfigError::new(
                "shed_below",
                ConfigErrorKind::OutOfRange,
                shed_below,
                "must be in [0, 1) (0 turns graded admission off)",
            ));
        }
        // Grading needs room above the trip threshold; without it the breaker
        // simply trips first.
        let shed_units = health::threshold_units(shed_below);
        let shed_below = if shed_below > 0.0 && shed_units > threshold {
            shed_units
        } else {
            0
        };
        let min_admit = ConfigError::finite("min_admit", self.min_admit)?;
        if !(min_admit > 0.0 && min_admit <= 1.0) {
            return Err(ConfigError::new(
                "min_admit",
                if min_admit == 0.0 {
                    ConfigErrorKind::Zero
                } else {
                    ConfigErrorKind::OutOfRange
                },
                min_admit,
                "must be in (0, 1] (a trickle must get through to see recovery)",
            ));
        }
        let (slow_call_ns, slow_weight) = match self.slow_call {
            None => (None, 0.0),
            Some((threshold, weight)) => {
                if threshold < MIN_OPEN_PERIOD {
                    return Err(ConfigError::new(
                        "slow_call.threshold",
                        if threshold.is_zero() {
                            ConfigErrorKind::Zero
                        } else {
                            ConfigErrorKind::OutOfRange
                        },
                        threshold,
                        "must be at least 1ms",
                    ));
                }
                let weight = ConfigError::finite("slow_call.weight", weight)?;
                if !(weight > 0.0 && weight <= crate::Verdict::MAX_WEIGHT) {
                    return Err(ConfigError::new(
                        "slow_call.weight",
                        if weight == 0.0 {
                            ConfigErrorKind::Zero
                        } else {
                            ConfigErrorKind::OutOfRange
                        },
                        weight,
                        format!("must be in (0, {}]", crate::Verdict::MAX_WEIGHT),
                    ));
                }
                (Some(duration_to_nanos(threshold)), weight)
            }
        };
        let (min, max) = self.limit_bounds;
        if min == 0 || min > max || max > crate::limit::LIMIT_MAX {
            return Err(ConfigError::new(
                "limit_bounds",
                if min == 0 {
                    ConfigErrorKind::Zero
                } else {
                    ConfigErrorKind::OutOfRange
                },
                Table(&[("min", &min), ("max", &max)]),
                format!(
                    "`min` must be at least 1 and at most `max`, and `max` at most {}",
                    crate::limit::LIMIT_MAX
                ),
            ));
        }
        // At least 1 ms: `half_life` was checked against `MIN_HALF_LIFE` above.
        let tick_ns = duration_to_nanos(half_life) / health::DECAY_TICKS;
        Ok(Config {
            alpha,
            alpha_up,
            alpha_down,
            threshold,
            min_samples,
            open_for_ns: duration_to_nanos(open_for),
            open_growth: growth,
            open_cap_ns: duration_to_nanos(open_cap),
            open_jitter: jitter,
            probes,
            close_after,
            probe_timeout_ns: duration_to_nanos(probe_timeout),
            tick: strength_reduce::StrengthReducedU64::new(tick_ns),
            shed_below,
            min_admit: health::rate_up(min_admit),
            slow_call_ns,
            slow_weight,
            limit: self.adaptive_limit.then_some((min, max)),
        })
    }

    /// `(alpha, alpha_up, alpha_down, threshold units, min_samples)`.
    fn validate_tripping(&self) -> Result<(f64, u64, u64, u32, u32), ConfigError> {
        match self.tripping {
            Tripping::Consecutive(n) => {
                const FIELD: &str = "trip_after_consecutive_failures";
                if n == 0 {
                    return Err(ConfigError::new(
                        FIELD,
                        ConfigErrorKind::Zero,
                        n,
                        "must be at least 1",
                    ));
                }
                if n > SAMPLES_MAX {
                    return Err(ConfigError::new(
                        FIELD,
                        ConfigErrorKind::OutOfRange,
                        n,
                        "must be at most 4095",
                    ));
                }
                let alpha = 1.0 - 0.5f64.powf(1.0 / f64::from(n));
                let alpha_down = health::rate_down(alpha);
                let Some((before, at)) = health::consecutive_failures(alpha_down, n) else {
                    return Err(ConfigError::new(
                        FIELD,
                        ConfigErrorKind::OutOfRange,
                        n,
                        "too large for the 20-bit health resolution",
                    ));
                };
                // Midpoint, rounded up: `at < threshold <= before` because `at < before`.
                let threshold = (before + at).div_ceil(2);
                Ok((alpha, health::rate_up(alpha), alpha_down, threshold, n))
            }
            Tripping::Rate { rate, window } => {
                let rate = ConfigError::finite("trip_on_failure_rate", rate)?;
                if !(rate > 0.0 && rate < 1.0) {
                    return Err(ConfigError::new(
                        "trip_on_failure_rate",
                        ConfigErrorKind::OutOfRange,
                        rate,
                        "rate must be strictly between 0 and 1",
                    ));
                }
                if window == 0 || window > SAMPLES_MAX {
                    return Err(ConfigError::new(
                        "trip_on_failure_rate",
                        if window == 0 {
                            ConfigErrorKind::Zero
                        } else {
                            ConfigErrorKind::OutOfRange
                        },
                        window,
                        "window must be in 1..=4095",
                    ));
                }
                let alpha = 2.0 / (f64::from(window) + 1.0);
                let alpha_down = health::rate_down(alpha);
                let threshold = health::threshold_units(1.0 - rate);
                if !health::failure_moves(threshold, alpha_down) {
                    return Err(ConfigError::new(
                        "trip_on_failure_rate",
                        ConfigErrorKind::OutOfRange,
                        rate,
                        "rate too close to 1 for the window: health could never fall below \
                         1 - rate at the 20-bit resolution",
                    ));
                }
                Ok((alpha, health::rate_up(alpha), alpha_down, threshold, window))
            }
            Tripping::Manual {
                alpha,
                threshold,
                min_samples,
            } => {
                let alpha = ConfigError::finite("health.alpha", alpha)?;
                if !(alpha > 0.0 && alpha <= 1.0) {
                    return Err(ConfigError::new(
                        "health.alpha",
                        if alpha == 0.0 {
                            ConfigErrorKind::Zero
                        } else {
                            ConfigErrorKind::OutOfRange
                        },
                        alpha,
                        "must be in (0, 1]",
                    ));
                }
                let alpha_down = health::rate_down(alpha);
                if !health::failure_moves(HEALTH_FULL, alpha_down) {
                    return Err(ConfigError::new(
                        "health.alpha",
                        ConfigErrorKind::OutOfRange,
                        alpha,
                        "too small to move the 20-bit health from full: must be at least \
                         2^-20 (about 9.54e-7)",
                    ));
                }
                let threshold = ConfigError::finite("health.threshold", threshold)?;
                if !(threshold > 0.0 && threshold < 1.0) {
                    return Err(ConfigError::new(
                        "health.threshold",
                        ConfigErrorKind::OutOfRange,
                        threshold,
                        "must be strictly between 0 and 1",
                    ));
                }
                if min_samples > SAMPLES_MAX {
                    return Err(ConfigError::new(
                        "health.min_samples",
                        ConfigErrorKind::OutOfRange,
                        min_samples,
                        "must be at most 4095",
                    ));
                }
                let units = health::threshold_units(threshold);
                if !health::failure_moves(units, alpha_down) {
                    return Err(ConfigError::new(
                        "health.alpha",
                        ConfigErrorKind::OutOfRange,
                        alpha,
                        format!(
                            "too small for threshold {}: must be at least about \
                             {:.3e} (1 / (threshold * 1048575)) so that failures can bring \
                             the 20-bit health below the threshold",
                            threshold.to_config(),
                            1.0 / (threshold * f64::from(HEALTH_FULL))
                        ),
                    ));
                }
                Ok((
                    alpha,
                    health::rate_up(alpha),
                    alpha_down,
                    units,
                    min_samples.max(1),
                ))
            }
        }
    }
}

fn count(field: &'static str, n: u32) -> Result<u32, ConfigError> {
    if n == 0 {
        Err(ConfigError::new(
            field,
            ConfigErrorKind::Zero,
            n,
            "must be at least 1",
        ))
    } else if n > HALF_OPEN_MAX {
        Err(ConfigError::new(
            field,
            ConfigErrorKind::OutOfRange,
            n,
            "must be at most 255",
        ))
    } else {
        Ok(n)
    }
}

/// A per-breaker random seed without a global RNG: std's randomly keyed hasher.
pub(crate) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// A validated builder's contents: what a [`Breaker`](crate::Breaker) is built from.
pub(crate) struct BreakerParts {
    pub(crate) config: Config,
    pub(crate) clock: Box<dyn Clock>,
    pub(crate) listener: Option<Listener>,
    pub(crate) seed: u64,
    pub(crate) name: Box<str>,
    pub(crate) events: Option<Arc<dyn crate::event::Listener>>,
}

impl Config {
    /// The threshold as a real number.
    pub(crate) fn threshold_f64(&self) -> f64 {
        health::to_f64(self.threshold)
    }

    /// The probe lease of a half-open period that follows `leases` periods replaced
    /// by lease expiry: `open_for * 2^(leases / 4)`, at most `probe_timeout`.
    pub(crate) fn probe_lease_ns(&self, leases: u32) -> u64 {
        let doublings = i32::try_from(leases / LEASE_DOUBLING_PERIODS).unwrap_or(i32::MAX);
        let grown = self.open_for_ns as f64 * 2f64.powi(doublings);
        // `min` with the cap and the saturating cast keep it in range.
        (grown.min(self.probe_timeout_ns as f64) as u64).min(self.probe_timeout_ns)
    }

    /// The unjittered open period for the `reopen`-th consecutive re-open:
    /// `open_for * growth^reopen`, capped.
    pub(crate) fn open_period_ns(&self, reopen: u32) -> u64 {
        let base = self.open_for_ns as f64;
        let exponent = i32::try_from(reopen).unwrap_or(i32::MAX);
        let grown = base * self.open_growth.powi(exponent);
        // `grown` may be +inf for large exponents; `min` with the cap and the
        // saturating float-to-int cast keep it in range.
        (grown.min(self.open_cap_ns as f64) as u64).min(self.open_cap_ns)
    }
}

const _: () = assert!(HEALTH_FULL > 0);
