//! The circuit breaker: [`Breaker`], its permits and what recording them returns.
//!
//! # Orderings
//!
//! The state word is self-contained: every fact a decision needs (state, epoch,
//! health, samples, probe counters) is in the one word, and every change is a single
//! compare-and-swap computed from the value it replaces. Its consistency therefore
//! rests on the atomicity of the read-modify-write alone, not on ordering.
//!
//! On top of that, the protocol is:
//!
//! - every load of the state word is `Acquire` and every successful CAS is `AcqRel`,
//!   so the breaker's history is causally ordered for its users: a thread that
//!   observes a state also observes everything the thread that produced it did
//!   first (an operator's writes before `reset()`, say). On x86-64 an `Acquire`
//!   load is a plain `mov`, so the healthy path pays nothing for it;
//! - the deadline word is written after the transition into `Open` (by its winner
//!   only) with an `AcqRel` CAS, and a failed CAS there is `Acquire`: a writer that
//!   sees a newer deadline is thereby guaranteed to see the newer epoch in the state
//!   word when it re-checks, and gives up (see [`Breaker::publish_deadline`]);
//! - in `Closed` and `Disabled` the same word holds the decay mark (a
//!   [`MarkWord`]), with the same protocol: `Acquire` loads, `AcqRel` CAS,
//!   `Acquire` on failure. Claims and settles are CASes from the exact mark word
//!   read, an interval is applied by a CAS from the exact state word read, and an
//!   epoch's first mark is written over another epoch's word only after a re-check
//!   of the state epoch (see [`Breaker::report_measured`], `start_mark`);
//! - the counters that are metrics only (stale reports, the jitter sequence, the
//!   graded-admission draw sequence) are `Relaxed`: nothing is published through
//!   them, and the read-modify-write alone makes each increment unique.

mod admit;
mod capacity;
mod cas;
mod decay;
mod operator;
mod permit;
mod record;

pub(crate) use cas::splitmix64;
use cas::{Decision, Update, unreachable_decision};
pub(crate) use permit::TicketSlot;
#[cfg(feature = "tower")]
pub(crate) use permit::{BreakerOwner, HeldPermit};
pub use permit::{OwnedPermit, Permit};

use crate::clock::Clock;
use crate::config::{BreakerBuilder, BreakerParts, Config, Listener};
use crate::error::Rejected;
use crate::health::{self, RATE_ONE};
use crate::limit::{GateChange, LimitSnapshot, Limiter};
use crate::observe::Observers;
use crate::state::{
    DeadlineWord, EPOCH_MAX, HEALTH_FULL, LEASES_MAX, MARK_MAX, MarkView, MarkWord, REOPEN_MAX,
    Snapshot, State, Ticket,
};
use crate::sync::{AtomicU64, CasBackoff, Ordering};
use crate::verdict::{Recorded, Transition, Verdict};
use crossbeam_utils::CachePadded;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::fmt;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

const NANOS_PER_MS: u64 = 1_000_000;

/// A decoded copy of the breaker's state, from one load of the state word (and, when
/// open, one of the deadline word and one clock read).
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, State, Verdict};
///
/// let breaker = Breaker::builder().trip_after_consecutive_failures(2).build()?;
/// assert_eq!(breaker.snapshot().state, State::Closed);
/// assert_eq!(breaker.snapshot().health, Some(1.0));
///
/// for _ in 0..2 {
///     let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
/// }
/// let snap = breaker.snapshot();
/// assert_eq!(snap.state, State::Open);
/// assert!(snap.open_until.is_some() && !snap.ready_to_probe);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct BreakerSnapshot {
    /// The state.
    pub state: State,
    /// The epoch (advanced by every transition, wrapping at 2^24).
    pub epoch: u32,
    /// Health in `[0, 1]`: `Some` in `Closed` and `Disabled` (measured) and `Open`
    /// (the health it tripped at; 0 after a failed probe); `None` in `HalfOpen` and
    /// `ForcedOpen`, where health is not measured.
    pub health: Option<f64>,
    /// Attempts seen in the current spell below full health, counted up to
    /// `min_samples` (`Closed` and `Disabled`; 0 at full health and elsewhere).
    pub samples: u32,
    /// Probes admitted and not yet finished (`HalfOpen`; 0 elsewhere).
    pub probes_in_flight: u32,
    /// Probe successes in this half-open period (`HalfOpen`; 0 elsewhere).
    pub probe_successes: u32,
    /// Consecutive re-opens since the last close (sizes the next open period).
    pub reopens: u32,
    /// `Open` only: when the open period ends, as time since the breaker was built.
    /// `None` for the few instructions between the transition and the publication
    /// of its deadline.
    pub open_until: Option<Duration>,
    /// `Open` only: the deadline has passed, so the next `try_acquire` becomes the
    /// first probe (the transition to `HalfOpen` is made lazily, by that caller).
    pub ready_to_probe: bool,
}

/// A lock-free circuit breaker with an epoch-tagged permit protocol and an
/// exponentially weighted health score.
///
/// Share it by reference or in an `Arc`: every method takes `&self`, except
/// [`try_acquire_owned`](Self::try_acquire_owned), which needs the `Arc` (its
/// permits keep a clone of it).
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, ManualClock, Recorded, Rejected, State, Verdict};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let breaker = Breaker::builder()
///     .trip_after_consecutive_failures(3)
///     .open_for(Duration::from_secs(10))
///     .open_jitter(0.0)
///     .clock(clock.clone())
///     .build()?;
///
/// for _ in 0..3 {
///     let permit = breaker.try_acquire().expect("closed");
///     let _ = permit.record(Verdict::failure());
/// }
/// assert_eq!(breaker.snapshot().state, State::Open);
/// assert_eq!(
///     breaker.try_acquire().unwrap_err(),
///     Rejected::Open { retry_after: Some(Duration::from_secs(10)) }
/// );
///
/// clock.advance(Duration::from_secs(10));
/// let probe = breaker.try_acquire().expect("the first caller after the deadline probes");
/// assert_eq!(breaker.snapshot().state, State::HalfOpen);
/// assert!(matches!(probe.record(Verdict::Success), Recorded::Applied { .. }));
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct Breaker {
    /// The state word, alone on its cache line: the healthy path only reads it.
    state: CachePadded<AtomicU64>,
    /// Words written off the healthy path, on a line of their own.
    cold: CachePadded<Cold>,
    /// The graded-admission sequence: each draw hashes a distinct value. On a
    /// line of its own: every graded admission writes it, and the decay mark
    /// next to it in `cold` is read by every report below full health.
    draws: CachePadded<AtomicU64>,
    config: Config,
    /// The gate: the word a success leaves unchanged, at epoch 0, while the
    /// concurrency limit is disengaged (the healthy path compares against it),
    /// and all ones (which no word matches) while it is engaged. Read-mostly:
    /// written only when the limit engages or disengages.
    gate: AtomicU64,
    /// The concurrency limit's words (padded inside: see `Limiter`).
    limit: Limiter,
    clock: Box<dyn Clock>,
    /// The clock reading at construction; times are kept relative to it.
    start_ns: u64,
    listener: Option<Listener>,
    /// Who hears its events, and the name they carry (the one hook to the
    /// observers: see [`crate::observe`]).
    observers: Observers,
    /// 1 if a `Guard::call` over this breaker must leave its untimed loop: a
    /// slow-call threshold is set (attempts are timed), or first-attempt
    /// successes are counted. One word for both, so that the healthy call
    /// checks one flag, as it checked the threshold alone before successes
    /// could be counted. Set once (by `metrics::count_successes`), never
    /// cleared.
    #[cfg(feature = "metrics")]
    detour: AtomicU64,
}

struct Cold {
    /// The epoch-tagged open deadline (see `state.rs`).
    deadline: AtomicU64,
    /// Stale reports seen (a metric).
    stale: AtomicU64,
    /// The jitter sequence: each draw seeds a small RNG with a distinct value.
    jitter: AtomicU64,
}

const INITIAL_EPOCH: u32 = 0;

impl Breaker {
    /// A builder with the defaults (see [`BreakerBuilder`]).
    pub fn builder() -> BreakerBuilder {
        BreakerBuilder::default()
    }

    fn from_parts(parts: BreakerParts) -> Self {
        let BreakerParts {
            config,
            clock,
            listener,
            seed,
            name,
            events,
        } = parts;
        let start_ns = clock.now_nanos();
        let breaker = Self {
            state: CachePadded::new(AtomicU64::new(
                Snapshot::closed(INITIAL_EPOCH, HEALTH_FULL, 0).raw(),
            )),
            cold: CachePadded::new(Cold {
                // The initial epoch measures: its decay mark starts now.
                deadline: AtomicU64::new(MarkWord::settled(INITIAL_EPOCH, 0, 0).raw()),
                stale: AtomicU64::new(0),
                jitter: AtomicU64::new(seed),
            }),
            draws: CachePadded::new(AtomicU64::new(seed ^ 0x5851_F42D_4C95_7F2D)),
            gate: AtomicU64::new(Snapshot::healthy_base().raw()),
            limit: match config.limit {
                Some((min, max)) => Limiter::new(true, min, max),
                None => Limiter::new(false, 1, crate::limit::LIMIT_MAX),
            },
            config,
            clock,
            start_ns,
            #[cfg(feature = "metrics")]
            detour: AtomicU64::new(0),
            listener,
            observers: Observers::new(name, events),
        };
        #[cfg(feature = "metrics")]
        if breaker.config.slow_call_ns.is_some() || breaker.observers.counts_successes() {
            // Relaxed: not shared yet.
            breaker.detour.store(1, Ordering::Relaxed);
        }
        breaker
    }

    /// Who hears this breaker's events.
    #[cfg(feature = "metrics")]
    pub(crate) fn observers(&self) -> &Observers {
        &self.observers
    }

    /// Count guarded calls' first-attempt successes from now on (see
    /// `fusebox::metrics::count_successes`).
    #[cfg(feature = "metrics")]
    pub(crate) fn count_successes(&self) {
        self.observers.count_successes();
        // Release, after the count is on: a call that sees the flag
        // (`detour`, Acquire) sees the count's stripes.
        self.detour.store(1, Ordering::Release);
    }

    /// Whether a `Guard::call` must leave its untimed loop: a slow-call
    /// threshold is set, or first-attempt successes are counted. One load.
    #[cfg(feature = "metrics")]
    #[inline(always)]
    pub(crate) fn detour(&self) -> bool {
        // Acquire: see `count_successes`. A plain load on x86-64.
        self.detour.load(Ordering::Acquire) != 0
    }

    /// A guarded call's first attempt succeeded (the healthy path, which tells
    /// no event): counted in `fusebox_calls_total` if the breaker counts
    /// successes (see `fusebox::metrics::count_successes`). Without the
    /// `metrics` feature, nothing at all.
    #[inline(always)]
    pub(crate) fn first_success(&self) {
        #[cfg(feature = "metrics")]
        self.observers.first_success();
    }

    /// The breaker's name (see [`BreakerBuilder::name`](crate::BreakerBuilder::name));
    /// `""` if it has none.
    pub fn name(&self) -> &str {
        self.observers.name()
    }

    /// Whether anyone hears events: a listener, or the `tracing` or `metrics`
    /// feature. Callers check it before building an event.
    #[inline]
    pub(crate) fn observed(&self) -> bool {
        self.observers.observed()
    }

    /// Tell `kind` to the listener (and to `tracing` and `metrics`, with those
    /// features), stamped with the name, the time and the state now. Called after
    /// the change it reports is committed, never inside a CAS loop; a panicking
    /// listener is caught here.
    #[cold]
    #[inline(never)]
    pub(crate) fn emit(&self, kind: crate::event::EventKind<'_>) {
        if !self.observed() {
            return;
        }
        let s = self.load();
        let event = crate::event::Event {
            name: self.observers.name(),
            at: Duration::from_nanos(self.elapsed_ns()),
            state: s.state(),
            epoch: s.epoch(),
            health: s.state().measures().then(|| health::to_f64(s.health())),
            kind,
        };
        self.observers.emit(&event);
    }

    /// A decoded copy of the state.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, State, Verdict};
    ///
    /// let breaker = Breaker::builder().build().unwrap();
    /// let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
    /// let s = breaker.snapshot();
    /// assert_eq!((s.state, s.epoch, s.samples), (State::Closed, 0, 1));
    /// assert!(s.health.unwrap() < 1.0);
    /// ```
    pub fn snapshot(&self) -> BreakerSnapshot {
        let s = self.load();
        let state = s.state();
        let (mut open_until, mut ready_to_probe) = (None, false);
        if state == State::Open {
            if let Some(deadline_ms) = self.deadline_for(s.epoch()) {
                open_until = Some(Duration::from_millis(deadline_ms));
                ready_to_probe = self.elapsed_ns() / NANOS_PER_MS >= deadline_ms;
            }
        }
        let measured = state.measures();
        // A measuring word's health and samples as of now: decayed by the time
        // since its decay mark (reading only; the next report stores it).
        let (h, samples) = if measured && s.health() < HEALTH_FULL {
            self.decayed(s, self.now_tick())
        } else {
            (s.health(), s.samples())
        };
        BreakerSnapshot {
            state,
            epoch: s.epoch(),
            health: (measured || state == State::Open).then(|| health::to_f64(h)),
            samples: if measured { samples } else { 0 },
            probes_in_flight: if state == State::HalfOpen {
                s.in_flight()
            } else {
                0
            },
            probe_successes: if state == State::HalfOpen {
                s.successes()
            } else {
                0
            },
            reopens: if matches!(state, State::Open | State::HalfOpen) {
                s.reopen()
            } else {
                0
            },
            open_until,
            ready_to_probe,
        }
    }

    /// How many verdicts were reported stale since the breaker was built.
    pub fn stale_reports(&self) -> u64 {
        // Relaxed: a metric; see the module's "Orderings".
        self.cold.stale.load(Ordering::Relaxed)
    }

    /// The trip threshold in `[0, 1]`, as computed from the builder's settings.
    pub fn threshold(&self) -> f64 {
        self.config.threshold_f64()
    }

    /// The health step `alpha`, as computed from the builder's settings.
    pub fn alpha(&self) -> f64 {
        self.config.alpha
    }

    /// The half-life of health (see [`BreakerBuilder::half_life`]): `64` decay
    /// ticks, so the configured value rounded down to a multiple of 64 ns.
    pub fn half_life(&self) -> Duration {
        Duration::from_nanos(self.config.tick.get().saturating_mul(health::DECAY_TICKS))
    }

    /// The health below which admission is graded, or `None` when it never is
    /// (see [`BreakerBuilder::shed_below`]).
    pub fn shed_below(&self) -> Option<f64> {
        (self.config.shed_below > 0).then(|| health::to_f64(self.config.shed_below))
    }

    /// The slow-call threshold, if set (see [`BreakerBuilder::slow_call`]): an
    /// attempt slower than this is a failure for the breaker even if it succeeded.
    pub fn slow_call_threshold(&self) -> Option<Duration> {
        self.config.slow_call_ns.map(Duration::from_nanos)
    }

    /// Whether a slow-call threshold is set (so attempts should be timed).
    #[inline]
    pub(crate) fn has_slow_call(&self) -> bool {
        self.config.slow_call_ns.is_some()
    }

    /// The verdict the breaker records for an attempt judged `verdict` that took
    /// `elapsed`: a success slower than the slow-call threshold becomes a failure
    /// of the slow-call weight; anything else is unchanged.
    pub(crate) fn timed_verdict(&self, verdict: Verdict, elapsed: Duration) -> Verdict {
        match self.config.slow_call_ns {
            Some(limit)
                if verdict == Verdict::Success
                    && crate::clock::duration_to_nanos(elapsed) > limit =>
            {
                Verdict::Failure {
                    weight: self.config.slow_weight,
                }
            }
            _ => verdict,
        }
    }

    /// At most how many consecutive successes bring health back to exactly full
    /// from any health (and with it the read-only healthy path):
    /// `ceil(20 / -log2(1 - alpha))` for the 20-bit health, with `alpha` rounded up
    /// to the 2^-32 fixed point. (Time alone also does it: see
    /// [`half_life`](Self::half_life).)
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, Verdict};
    ///
    /// let breaker = Breaker::builder().trip_after_consecutive_failures(5).build()?;
    /// assert_eq!(breaker.successes_to_full_health(), 100);
    /// for _ in 0..4 {
    ///     let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
    /// }
    /// for _ in 0..breaker.successes_to_full_health() {
    ///     let _ = breaker.try_acquire().unwrap().record(Verdict::Success);
    /// }
    /// assert_eq!(breaker.snapshot().health, Some(1.0));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn successes_to_full_health(&self) -> u32 {
        // `alpha_up` is never 0: validation rejects an alpha that rounds to it.
        health::successes_to_full(self.config.alpha_up).unwrap_or(u32::MAX)
    }

    /// Time since the breaker was built, by its clock (0 if the clock went back).
    pub(crate) fn elapsed_ns(&self) -> u64 {
        self.clock.now_nanos().saturating_sub(self.start_ns)
    }
}

impl BreakerBuilder {
    /// Validate and build.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`](crate::ConfigError) naming the first invalid field.
    pub fn build(self) -> Result<Breaker, crate::ConfigError> {
        Ok(Breaker::from_parts(self.into_parts()?))
    }
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("state", &self.load())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
