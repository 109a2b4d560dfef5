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

use crate::clock::Clock;
use crate::config::{BreakerBuilder, Config, Listener};
use crate::error::Rejected;
use crate::health::{self, RATE_ONE};
use crate::state::{
    DeadlineWord, HEALTH_FULL, LEASES_MAX, MARK_MAX, MarkView, MarkWord, REOPEN_MAX, Snapshot,
    State, Ticket,
};
use crate::sync::{AtomicU64, CasBackoff, Ordering};
use crossbeam_utils::CachePadded;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::fmt;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

const NANOS_PER_MS: u64 = 1_000_000;

/// The classification of one attempt's result, as the breaker sees it.
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, Verdict};
///
/// let breaker = Breaker::builder().build().unwrap();
/// let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
/// let _ = breaker.try_acquire().unwrap().record(Verdict::Failure { weight: 0.5 });
/// let _ = breaker.try_acquire().unwrap().record(Verdict::Ignored);
/// let health = breaker.snapshot().health.unwrap();
/// assert!(health < 1.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Verdict {
    /// The attempt succeeded: health moves toward 1 by `alpha`.
    Success,
    /// The attempt failed: health moves toward 0 by `alpha * weight`.
    ///
    /// `weight` is clamped: NaN, zero and negative weights are no signal at all
    /// (like [`Verdict::Ignored`]); weights above [`Verdict::MAX_WEIGHT`] count as
    /// `MAX_WEIGHT`; and `alpha * weight` is capped at 1 (health drops to 0).
    Failure {
        /// How much this failure counts; 1.0 is one ordinary failure.
        weight: f64,
    },
    /// Not a health signal (a caller error, a cancellation): health and samples are
    /// left as they were; in half-open it frees the probe slot.
    Ignored,
}

impl Verdict {
    /// The largest failure weight that counts; larger ones are clamped to it.
    pub const MAX_WEIGHT: f64 = 1000.0;

    /// A unit failure (`weight: 1.0`).
    pub const fn failure() -> Self {
        Verdict::Failure { weight: 1.0 }
    }

    /// The weight of a failure after clamping, 0 when it is no signal.
    fn failure_weight(self) -> f64 {
        match self {
            Verdict::Failure { weight } if weight > 0.0 => weight.min(Self::MAX_WEIGHT),
            // NaN fails `> 0.0` and lands here too.
            _ => 0.0,
        }
    }

    /// Whether this verdict lowers health (a failure of positive weight).
    fn lowers(self) -> bool {
        self.failure_weight() > 0.0
    }
}

/// A state change, as told to the listener and returned by the call that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// The epoch of the state entered.
    pub epoch: u32,
    /// For a transition into [`State::Open`]: how long it stays open (jittered).
    pub open_for: Option<Duration>,
}

/// What recording a verdict did.
#[must_use = "a stale report means the verdict changed nothing"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The verdict was applied to the epoch the permit was admitted in; `transition`
    /// is the state change it caused, if any.
    Applied {
        /// The transition this verdict caused (only this caller sees it).
        transition: Option<Transition>,
    },
    /// The breaker moved to a newer epoch since the permit was admitted: the verdict
    /// changed nothing (not the state, the deadline, health or counters).
    Stale,
}

impl Recorded {
    /// Whether the report was stale.
    pub fn is_stale(&self) -> bool {
        matches!(self, Recorded::Stale)
    }

    /// The transition this report caused, if any.
    pub fn transition(&self) -> Option<Transition> {
        match self {
            Recorded::Applied { transition } => *transition,
            Recorded::Stale => None,
        }
    }
}

/// A decoded copy of the breaker's state, from one load of the state word (and, when
/// open, one of the deadline word and one clock read).
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

/// What one call decided, before the bookkeeping that follows a transition.
#[derive(Clone, Copy)]
enum Decision {
    /// Admit with a permit of this epoch.
    Admit(u32),
    Reject(Rejected),
    Applied,
    Stale,
}

/// The result of one run of the CAS helper.
struct Update<O> {
    outcome: O,
    /// The word the outcome was decided on.
    before: Snapshot,
    /// The word written, if any (never equal to `before`).
    after: Option<Snapshot>,
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
    config: Config,
    /// The word a success leaves unchanged, at epoch 0 (read-only, computed once
    /// from `min_samples`; the healthy path compares against it).
    healthy: Snapshot,
    clock: Box<dyn Clock>,
    /// The clock reading at construction; times are kept relative to it.
    start_ns: u64,
    listener: Option<Listener>,
    /// The name events and exports carry (`""` if none).
    name: Box<str>,
    /// Told every event (see [`crate::event`]).
    events: Option<Arc<dyn crate::event::Listener>>,
    /// The `metrics` handles, registered at the first event.
    #[cfg(feature = "metrics")]
    metrics: std::sync::OnceLock<crate::metrics::Handles>,
}

struct Cold {
    /// The epoch-tagged open deadline (see `state.rs`).
    deadline: AtomicU64,
    /// Stale reports seen (a metric).
    stale: AtomicU64,
    /// The jitter sequence: each draw seeds a small RNG with a distinct value.
    jitter: AtomicU64,
    /// The graded-admission sequence: each draw hashes a distinct value.
    draws: AtomicU64,
}

const INITIAL_EPOCH: u32 = 0;

impl Breaker {
    /// A builder with the defaults (see [`BreakerBuilder`]).
    pub fn builder() -> BreakerBuilder {
        BreakerBuilder::default()
    }

    pub(crate) fn from_parts(
        config: Config,
        clock: Box<dyn Clock>,
        listener: Option<Listener>,
        seed: u64,
        name: Box<str>,
        events: Option<Arc<dyn crate::event::Listener>>,
    ) -> Self {
        let start_ns = clock.now_nanos();
        Self {
            state: CachePadded::new(AtomicU64::new(
                Snapshot::closed(INITIAL_EPOCH, HEALTH_FULL, 0).raw(),
            )),
            cold: CachePadded::new(Cold {
                // The initial epoch measures: its decay mark starts now.
                deadline: AtomicU64::new(MarkWord::settled(INITIAL_EPOCH, 0, 0).raw()),
                stale: AtomicU64::new(0),
                jitter: AtomicU64::new(seed),
                draws: AtomicU64::new(seed ^ 0x5851_F42D_4C95_7F2D),
            }),
            healthy: Snapshot::healthy_base(),
            config,
            clock,
            start_ns,
            listener,
            name,
            events,
            #[cfg(feature = "metrics")]
            metrics: std::sync::OnceLock::new(),
        }
    }

    /// The `metrics` handles, registered with the recorder on first use.
    #[cfg(feature = "metrics")]
    pub(crate) fn metric_handles(&self) -> &crate::metrics::Handles {
        self.metrics
            .get_or_init(|| crate::metrics::Handles::register(&self.name))
    }

    /// The breaker's name (see [`BreakerBuilder::name`](crate::BreakerBuilder::name));
    /// `""` if it has none.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether anyone hears events: a listener, or the `tracing` or `metrics`
    /// feature. Callers check it before building an event.
    #[inline]
    pub(crate) fn observed(&self) -> bool {
        cfg!(feature = "tracing") || cfg!(feature = "metrics") || self.events.is_some()
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
            name: &self.name,
            at: Duration::from_nanos(self.elapsed_ns()),
            state: s.state(),
            epoch: s.epoch(),
            health: s.state().measures().then(|| health::to_f64(s.health())),
            kind,
        };
        if let Some(events) = &self.events {
            let _ignored = catch_unwind(AssertUnwindSafe(|| events.on_event(&event)));
        }
        crate::observe::emit(self, &event);
    }

    /// A refusal, told, and returned.
    #[cold]
    #[inline(never)]
    fn refuse(&self, rejected: Rejected) -> Rejected {
        self.emit(crate::event::EventKind::Rejected(rejected));
        rejected
    }

    /// Ask for a permit to make one attempt.
    ///
    /// In `Closed` (and `Disabled`) this is one atomic load. In `Open` the first
    /// caller at or after the deadline turns the breaker `HalfOpen` and gets the
    /// first probe permit; in `HalfOpen` at most `probes` permits are out at once.
    ///
    /// # Errors
    ///
    /// [`Rejected`] says why no permit was given and, when open, how long to wait.
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        match self.admit() {
            Ok(ticket) => Ok(Permit::new(self, ticket)),
            Err(rejected) => Err(rejected),
        }
    }

    /// Ask for a permit that owns a clone of this `Arc`: `'static` and `Send`, so
    /// it can be moved into a spawned task or a response future and recorded (or
    /// dropped, a cancellation) there. Otherwise exactly [`try_acquire`](Self::try_acquire):
    /// the same admission, the same epoch-tagged protocol.
    ///
    /// The `Arc` is cloned only on admission (a rejection touches no reference
    /// count). That clone, and its release when the permit is recorded or
    /// dropped, are the only costs over a borrowed [`Permit`]: two atomic
    /// read-modify-writes of the `Arc`'s reference count. The count is on its own
    /// cache line (the state word is padded), so the healthy path still never
    /// writes the state word's line; but every thread acquiring owned permits
    /// writes the count's line.
    ///
    /// # Errors
    ///
    /// [`Rejected`], as for [`try_acquire`](Self::try_acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, Recorded, Verdict};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(Breaker::builder().build()?);
    /// let permit = breaker.try_acquire_owned().expect("closed");
    /// let worker = std::thread::spawn(move || permit.record(Verdict::Success));
    /// assert_eq!(worker.join().unwrap(), Recorded::Applied { transition: None });
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline(always)]
    pub fn try_acquire_owned(self: &Arc<Self>) -> Result<OwnedPermit, Rejected> {
        match self.admit() {
            Ok(ticket) => Ok(OwnedPermit {
                breaker: Arc::clone(self),
                ticket,
            }),
            Err(rejected) => Err(rejected),
        }
    }

    /// The admission both permits share: the ticket of an admitted attempt, whose
    /// ownership (a probe slot, in `HalfOpen`) passes to the caller, who wraps it
    /// in a permit at once.
    #[inline(always)]
    fn admit(&self) -> Result<Ticket, Rejected> {
        let s = self.load();
        // The healthy path: the permit keeps the whole word (see `Ticket`), so its
        // success report is one compare.
        if s.is_healthy(self.healthy) {
            return Ok(Ticket::whole(s));
        }
        if s.state().measures() {
            return match self.degraded_ticket(s) {
                Some(ticket) => Ok(ticket),
                None => Err(self.refuse(Rejected::Shed)),
            };
        }
        // The slow path hands back the epoch, not the permit: the permit is built
        // in the caller, so the caller's `Result` is never a memory object shared
        // with an out-of-line call (which kept the fast path storing the permit to
        // the stack).
        match self.try_acquire_slow(s) {
            Ok(epoch) => Ok(Ticket::of_epoch(epoch)),
            Err(rejected) => Err(rejected),
        }
    }

    /// Everything but `Closed` and `Disabled` (which can still be seen here: the
    /// word may change before the CAS). On admission, returns the epoch of a
    /// permit whose ownership passes to the caller.
    #[cold]
    fn try_acquire_slow(&self, mut s: Snapshot) -> Result<u32, Rejected> {
        let mut now_ns = None;
        let update = loop {
            // Set when the decision rests on a deadline word of another epoch.
            let mut word_of_another_epoch = false;
            let update = self.update(s, |cur| {
                word_of_another_epoch = false;
                match cur.state() {
                    State::Closed | State::Disabled => (Decision::Admit(cur.epoch()), None),
                    State::ForcedOpen => (Decision::Reject(Rejected::ForcedOpen), None),
                    State::HalfOpen => {
                        if cur.in_flight() < self.config.probes {
                            let next = cur.with_probes(cur.in_flight() + 1, cur.successes());
                            return (Decision::Admit(cur.epoch()), Some(next));
                        }
                        // Every slot is busy: past the probe lease, this caller
                        // starts a fresh half-open period, so lost probe permits
                        // cannot hold it forever (the lease lives in the same
                        // epoch-tagged word as the open deadline).
                        let Some(lease_ms) = self.deadline_for(cur.epoch()) else {
                            word_of_another_epoch = true;
                            return (Decision::Reject(Rejected::ProbesBusy), None);
                        };
                        let now = *now_ns.get_or_insert_with(|| self.elapsed_ns());
                        if now / NANOS_PER_MS >= lease_ms {
                            let fresh = Snapshot::half_open(cur.next_epoch(), cur.reopen(), 1, 0)
                                .with_leases((cur.leases() + 1).min(LEASES_MAX));
                            (Decision::Admit(fresh.epoch()), Some(fresh))
                        } else {
                            (Decision::Reject(Rejected::ProbesBusy), None)
                        }
                    }
                    State::Open => {
                        let Some(deadline_ms) = self.deadline_for(cur.epoch()) else {
                            word_of_another_epoch = true;
                            return (Decision::Reject(Rejected::Open { retry_after: None }), None);
                        };
                        let now = *now_ns.get_or_insert_with(|| self.elapsed_ns());
                        if now / NANOS_PER_MS >= deadline_ms {
                            let probe = Snapshot::half_open(cur.next_epoch(), cur.reopen(), 1, 0);
                            (Decision::Admit(probe.epoch()), Some(probe))
                        } else {
                            let left = deadline_ms.saturating_mul(NANOS_PER_MS).saturating_sub(now);
                            let retry_after = Some(Duration::from_nanos(left));
                            (Decision::Reject(Rejected::Open { retry_after }), None)
                        }
                    }
                }
            });
            if !word_of_another_epoch {
                break update;
            }
            // The deadline word is not this epoch's: either its publication is a
            // few instructions away (the state word is unchanged, and the answer
            // stands), or our view of the state word is stale. In the second case
            // the word belongs to a newer epoch, whose publisher made its state
            // change first; our `Acquire` load of the word synchronised with it,
            // so this reload sees that change, and we decide again on it. Each
            // retry follows another thread's progress.
            let now = self.load();
            if now == update.before {
                break update;
            }
            s = now;
        };
        match update.outcome {
            Decision::Admit(epoch) => {
                // The permit exists before the listener runs, so even a listener
                // that escaped `catch_unwind` could not leak the probe slot. Then
                // it passes to the caller, which rebuilds it from the epoch.
                let permit = Permit::new(self, Ticket::of_epoch(epoch));
                self.after_update(&update);
                Ok(ManuallyDrop::new(permit).epoch())
            }
            Decision::Reject(rejected) => Err(self.refuse(rejected)),
            Decision::Applied | Decision::Stale => {
                unreachable_decision();
                Err(Rejected::ProbesBusy)
            }
        }
    }

    /// The ticket of a permit admitted under a measuring word below full health, or
    /// `None` when graded admission sheds the attempt.
    ///
    /// Out of line and cold: its only job is to keep this case off the straight
    /// line of `try_acquire`, at the cost of a call that takes and returns
    /// registers. As a second inline branch it led the compiler to lay the healthy
    /// path out as a jump forward and back (three taken branches per call in a
    /// loop), and a loop of 10^9 healthy calls ran about half as fast.
    #[cold]
    #[inline(never)]
    fn degraded_ticket(&self, s: Snapshot) -> Option<Ticket> {
        // `shed_below` is 0 when grading is off, and `Disabled` never sheds.
        if s.health() < self.config.shed_below
            && s.state() == State::Closed
            && self.admit_graded(s).is_err()
        {
            return None;
        }
        Some(Ticket::of_epoch(s.epoch()))
    }

    /// Graded admission in a degraded `Closed` word: admit with probability
    /// `health / shed_below` (at least `min_admit`), on the health brought up to
    /// date with the time since its decay mark. Reads only: the admission changes
    /// no state, so it needs no CAS; the draw is one `fetch_add` on a counter off
    /// the state word's cache line.
    #[cold]
    #[inline(never)]
    fn admit_graded(&self, s: Snapshot) -> Result<(), Rejected> {
        let now = self.now_tick();
        let (h, samples) = self.decayed(s, now);
        if h == HEALTH_FULL {
            // Time alone has ended the spell: store that (a decay-only report), so
            // that the next attempts take the healthy path instead of this one. If
            // the breaker moved on meanwhile, this changes nothing (and, not being
            // a caller's report, is not counted as a stale one).
            let _stored = self.report_measured(s, s.epoch(), Verdict::Ignored, Some(now));
            return Ok(());
        }
        if samples < self.config.min_samples {
            return Ok(());
        }
        let p = health::admission(h, self.config.shed_below, self.config.min_admit);
        if p >= RATE_ONE || self.draw() < p {
            Ok(())
        } else {
            Err(Rejected::Shed)
        }
    }

    /// A uniform draw in `[0, 2^32)`, for graded admission.
    fn draw(&self) -> u64 {
        // Relaxed: the counter only has to hand out distinct values; nothing is
        // published through it (see the module's "Orderings").
        let n = self
            .cold
            .draws
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        splitmix64(n) >> 32
    }

    /// Decay ticks since the breaker was built. Time in ticks stops at the end of
    /// the mark word's field (139 years of the smallest tick).
    fn now_tick(&self) -> u64 {
        (self.elapsed_ns() / self.config.tick_ns).min(MARK_MAX)
    }

    /// What the deadline word says about the measuring word `s` (see
    /// [`MarkWord`]), and the raw word it was read from.
    #[inline]
    fn mark_view(&self, s: Snapshot, now: u64) -> (MarkView, u64) {
        // Acquire: see the module's "Orderings".
        let raw = self.cold.deadline.load(Ordering::Acquire);
        (MarkWord::from_raw(raw).view(s, now), raw)
    }

    /// Health and samples of the measuring word `s` as of tick `now`, reading
    /// only: health decayed by the ticks since the word's decay mark (and by a
    /// claimed interval it has not absorbed yet); samples unchanged unless that
    /// brings health to full, which ends the spell. A word with no mark in its
    /// epoch, or read before a change the deadline word already follows, is
    /// taken as stored (never above the real health).
    fn decayed(&self, s: Snapshot, now: u64) -> (u32, u32) {
        let h = match self.mark_view(s, now).0 {
            MarkView::Current { mark, .. } => {
                health::after_idle(s.health(), now.saturating_sub(mark))
            }
            MarkView::Pending { interval, end } => health::after_idle(
                health::after_idle(s.health(), interval),
                now.saturating_sub(end),
            ),
            MarkView::Unmarked | MarkView::Behind => s.health(),
        };
        (h, if h == HEALTH_FULL { 0 } else { s.samples() })
    }

    /// Apply `verdict`, reported under `epoch` at tick `now`, to the measuring
    /// word `s` of that epoch, with the decay due first. The heart of the decay
    /// protocol; see [`MarkWord`] for the two words' layout.
    ///
    /// A verdict lands on the state word only when that word is as of `now` or
    /// later, so it is never decayed with time that passed before it happened,
    /// and time that passed before it is never applied after it:
    ///
    /// 1. the word is as of a mark at or after `now` (or the verdict changes
    ///    nothing that time could change: a success or no signal at full health):
    ///    the verdict is applied with one CAS of the state word from the word read;
    /// 2. the word is behind `now`: the reporter *claims* the interval from the
    ///    mark to `now` by turning the deadline word into a pending one (CAS from
    ///    the word read, so two claims of one interval cannot both succeed);
    /// 3. an interval is claimed and not applied: it is applied (with the
    ///    reporter's verdict after it, if the interval ends at or after `now`) by
    ///    one CAS of the state word that also moves its generation to the claim's.
    ///    Anyone does this, so a claimer that stalls holds nobody up; the claim is
    ///    applied exactly once, because only a word of the generation before it
    ///    accepts it.
    ///
    /// Every step is a CAS from a word read in this pass; a failed one, or a
    /// pass that only helped, reads both words again. The interval claimed is
    /// thus applied to exactly the word it was claimed for, whoever applies it.
    ///
    /// A word of generation `g` could only be mistaken for a later word of the
    /// same generation after 32 more claims, each at least a tick (1 ms) later
    /// than the last, while this reporter stands between two of its own
    /// instructions: the same kind of argument as the epoch's wrap-around.
    #[cold]
    fn report_measured(
        &self,
        mut s: Snapshot,
        epoch: u32,
        verdict: Verdict,
        mut now: Option<u64>,
    ) -> Update<Decision> {
        let backoff = CasBackoff::new();
        loop {
            if s.epoch() != epoch || !s.state().measures() {
                // The breaker has left the epoch: stale (decided by the usual rule).
                return self.update(s, |cur| self.decide_record(cur, epoch, verdict, 0));
            }
            if s.health() == HEALTH_FULL && !verdict.lowers() {
                // A success or no signal at full health changes nothing, as of the
                // word just read (of this epoch): no time to read, nothing to write.
                return Update {
                    outcome: Decision::Applied,
                    before: s,
                    after: None,
                };
            }
            // One clock read per report, and only here, where time matters.
            let now = *now.get_or_insert_with(|| self.now_tick());
            let (view, raw) = self.mark_view(s, now);
            let apply = match view {
                MarkView::Current { mark, settle } if now <= mark => {
                    if settle {
                        self.settle_mark(raw, epoch, s.generation(), mark);
                    }
                    Some((0, true, s.generation()))
                }
                MarkView::Current { mark, .. } => {
                    let claim = MarkWord::pending(epoch, s.next_generation(), now - mark, now);
                    // AcqRel on success, Acquire on failure: as in `publish_deadline`.
                    // Losing the race is fine: whoever won changed the word, and the
                    // next pass reads it.
                    let _claimed = self.cold.deadline.compare_exchange(
                        raw,
                        claim.raw(),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                    None
                }
                MarkView::Pending { interval, end } => {
                    // The interval ends at or after `now`: this verdict belongs right
                    // after it. Otherwise apply the interval alone, and go on.
                    Some((interval, end >= now, s.next_generation()))
                }
                MarkView::Unmarked => {
                    self.start_mark(raw, epoch, s.generation(), now);
                    None
                }
                MarkView::Behind => None,
            };
            if let Some((ticks, with_verdict, generation)) = apply {
                let v = if with_verdict {
                    verdict
                } else {
                    Verdict::Ignored
                };
                let read = s;
                let update = self.update(s, |cur| {
                    if cur != read {
                        return (None, None);
                    }
                    let (decision, next) = self.decide_record(cur, epoch, v, ticks);
                    let next = next.map(|n| {
                        if n.epoch() == epoch {
                            n.with_generation(generation)
                        } else {
                            n
                        }
                    });
                    (Some(decision), next)
                });
                if let Some(decision) = update.outcome {
                    if generation != s.generation()
                        && update.after.is_some_and(|a| a.epoch() == epoch)
                    {
                        // This pass applied a claimed interval: record that in the
                        // deadline word, whose mark is then exact for longer.
                        if let MarkView::Pending { end, .. } = view {
                            self.settle_mark(raw, epoch, generation, end);
                        }
                    }
                    if with_verdict {
                        return Update {
                            outcome: decision,
                            before: update.before,
                            after: update.after,
                        };
                    }
                    // Helped a claim through; now this report.
                    if let Some(after) = update.after {
                        if after.epoch() != epoch {
                            // A decay-only step never changes the epoch.
                            unreachable_decision();
                        }
                        s = after;
                        continue;
                    }
                }
            }
            backoff.spin();
            s = self.load();
        }
    }

    /// Rewrite the pending deadline word `raw`, whose interval the state word at
    /// generation `generation` has absorbed, as a settled one with the same mark.
    /// Losing the race is fine: the word changed, so a newer claim or epoch
    /// replaced it, and the pending word held the same mark for as long as it
    /// lasted.
    fn settle_mark(&self, raw: u64, epoch: u32, generation: u32, mark: u64) {
        let settled = MarkWord::settled(epoch, generation, mark);
        // AcqRel on success, Acquire on failure: as in `publish_deadline`.
        let _settled = self.cold.deadline.compare_exchange(
            raw,
            settled.raw(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Start the decay mark of the measuring epoch `epoch` at tick `now`, over
    /// the deadline word `raw` of another epoch, only while the state word still
    /// shows `epoch`: the argument of [`publish_deadline`](Self::publish_deadline)
    /// keeps it from overwriting a newer epoch's deadline (`raw` was loaded before
    /// this check). Losing the race is fine: someone else started the mark or
    /// the breaker moved on, and the caller reads both words again.
    fn start_mark(&self, raw: u64, epoch: u32, generation: u32, now: u64) {
        if self.load().epoch() != epoch {
            return;
        }
        let mark = MarkWord::settled(epoch, generation, now);
        // AcqRel on success, Acquire on failure: as in `publish_deadline`.
        let _started = self.cold.deadline.compare_exchange(
            raw,
            mark.raw(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Apply a verdict reported under `epoch`.
    ///
    /// Always inlined, so that on the healthy path the permit and the result stay
    /// in registers: when `Permit::record` was an out-of-line call, the caller built
    /// the permit in memory with narrow stores that the callee read back with a wide
    /// load, and the result came back the same way; both missed store-to-load
    /// forwarding, which cost more than the rest of the call.
    #[inline(always)]
    fn record(&self, ticket: Ticket, verdict: Verdict) -> Recorded {
        let cur = self.load();
        // The healthy path: a success at full health with saturated samples in the
        // permit's own epoch changes nothing, so there is nothing to compute or write
        // (`decide_record` would propose the same word; this just gets there sooner).
        // With a whole-word ticket that is one compare (see `Ticket`).
        if matches!(verdict, Verdict::Success) && ticket.success_is_noop(cur) {
            return Recorded::Applied { transition: None };
        }
        self.record_slow(cur, ticket.epoch(), verdict)
    }

    /// Everything but the healthy path: out of line, so that the inlined fast path
    /// stays a handful of instructions.
    #[cold]
    #[inline(never)]
    fn record_slow(&self, cur: Snapshot, epoch: u32, verdict: Verdict) -> Recorded {
        // Below full health, or about to leave it, health is brought up to date
        // with time first (see `report_measured`); a success or a non-signal at
        // full health has nothing to decay and does not start a spell.
        #[cfg(feature = "metrics")]
        match verdict {
            Verdict::Failure { .. } => crate::metrics::verdict(self, true),
            Verdict::Ignored => crate::metrics::verdict(self, false),
            Verdict::Success => {}
        }
        let update = if cur.state().measures() && cur.epoch() == epoch {
            self.report_measured(cur, epoch, verdict, None)
        } else {
            self.update(cur, |cur| self.decide_record(cur, epoch, verdict, 0))
        };
        match update.outcome {
            Decision::Stale => {
                // Relaxed: a metric; see the module's "Orderings".
                self.cold.stale.fetch_add(1, Ordering::Relaxed);
                self.emit(crate::event::EventKind::StaleReport {
                    permit_epoch: epoch,
                });
                Recorded::Stale
            }
            _ => Recorded::Applied {
                transition: match update.after {
                    Some(after) if after.epoch() != update.before.epoch() => {
                        self.after_update(&update)
                    }
                    _ => None,
                },
            },
        }
    }

    /// The pure transition for a verdict: `cur -> (decision, new word)`, after
    /// `ticks` of decay this reporter claimed (applied first, in a measuring state).
    #[inline]
    fn decide_record(
        &self,
        cur: Snapshot,
        epoch: u32,
        verdict: Verdict,
        ticks: u64,
    ) -> (Decision, Option<Snapshot>) {
        if cur.epoch() != epoch {
            return (Decision::Stale, None);
        }
        let cfg = &self.config;
        let next = match cur.state() {
            state @ (State::Closed | State::Disabled) => {
                let h = health::after_idle(cur.health(), ticks);
                // A spell below full health that time has ended leaves no samples.
                let samples = if h == HEALTH_FULL { 0 } else { cur.samples() };
                let bump = (samples + 1).min(cfg.min_samples);
                let weight = verdict.failure_weight();
                let (h, samples) = match verdict {
                    Verdict::Success => (health::after_success(h, cfg.alpha_up), bump),
                    Verdict::Failure { .. } if weight > 0.0 => {
                        let k = if weight == 1.0 {
                            cfg.alpha_down
                        } else {
                            health::rate_down(cfg.alpha * weight)
                        };
                        (health::after_failure(h, k), bump)
                    }
                    _ => (h, samples),
                };
                if state == State::Closed
                    && weight > 0.0
                    && h < cfg.threshold
                    && samples >= cfg.min_samples
                {
                    Some(Snapshot::open(cur.next_epoch(), 0, h))
                } else {
                    // Samples count the spell below full health: none at full.
                    Some(cur.with_measure(h, if h == HEALTH_FULL { 0 } else { samples }))
                }
            }
            State::HalfOpen => {
                let in_flight = cur.in_flight().saturating_sub(1);
                let failed =
                    matches!(verdict, Verdict::Failure { .. }) && verdict.failure_weight() > 0.0;
                if failed {
                    Some(Snapshot::open(
                        cur.next_epoch(),
                        (cur.reopen() + 1).min(REOPEN_MAX),
                        0,
                    ))
                } else if verdict == Verdict::Success {
                    let successes = cur.successes() + 1;
                    if successes >= cfg.close_after {
                        Some(Snapshot::closed(cur.next_epoch(), HEALTH_FULL, 0))
                    } else {
                        Some(cur.with_probes(in_flight, successes))
                    }
                } else {
                    Some(cur.with_probes(in_flight, cur.successes()))
                }
            }
            // No permit is ever admitted in an `Open` or `ForcedOpen` epoch, so a
            // matching epoch here would be a bug; changing nothing is the safe answer.
            State::Open | State::ForcedOpen => return (Decision::Stale, None),
        };
        (Decision::Applied, next)
    }

    /// A permit of `epoch` was dropped unrecorded: free its probe slot, if it holds
    /// one in the current epoch. Not a health signal.
    #[inline]
    fn cancel(&self, epoch: u32) {
        let s = self.load();
        if s.state() != State::HalfOpen || s.epoch() != epoch {
            return;
        }
        let update = self.update(s, |cur| {
            if cur.state() == State::HalfOpen && cur.epoch() == epoch {
                (
                    (),
                    Some(cur.with_probes(cur.in_flight().saturating_sub(1), cur.successes())),
                )
            } else {
                ((), None)
            }
        });
        debug_assert!(update.after.is_none_or(|a| a.epoch() == epoch));
    }

    /// Force the breaker open: every attempt is rejected until [`reset`](Self::reset)
    /// or [`disable`](Self::disable). A transition from any other state (epoch + 1);
    /// `None`, and nothing at all changes, when it is already forced open.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, State};
    ///
    /// let breaker = Breaker::builder().build()?;
    /// let t = breaker.force_open().expect("closed -> forced open");
    /// assert_eq!((t.from, t.to, t.epoch), (State::Closed, State::ForcedOpen, 1));
    /// assert_eq!(breaker.force_open(), None); // already forced open: a no-op
    /// assert_eq!(breaker.snapshot().epoch, 1);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn force_open(&self) -> Option<Transition> {
        self.operator(None, |cur| {
            (cur.state() != State::ForcedOpen).then(|| Snapshot::forced_open(cur.next_epoch()))
        })
    }

    /// Disable the breaker: every attempt is admitted and health is still measured,
    /// but it never trips ("metrics only"). A transition from any other state
    /// (epoch + 1); health carries over from `Closed` as it is now (decayed by the
    /// time since the last report), and starts full otherwise.
    /// `None`, and nothing at all changes, when it is already disabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, ManualClock, State, Verdict};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::builder().clock(clock.clone()).build()?;
    /// let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
    /// clock.advance(breaker.half_life() * 30); // time forgets the failure
    /// let t = breaker.disable().expect("closed -> disabled");
    /// assert_eq!(t.to, State::Disabled);
    /// assert_eq!(breaker.snapshot().health, Some(1.0));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn disable(&self) -> Option<Transition> {
        // The health carried over is as of `now`, which is also the new epoch's
        // decay mark.
        let now = self.now_tick();
        self.operator(Some(now), |cur| match cur.state() {
            State::Disabled => None,
            State::Closed => {
                let (h, samples) = self.decayed(cur, now);
                Some(Snapshot::disabled(cur.next_epoch(), h, samples))
            }
            State::Open | State::HalfOpen | State::ForcedOpen => {
                Some(Snapshot::disabled(cur.next_epoch(), HEALTH_FULL, 0))
            }
        })
    }

    /// Reset to `Closed` with full health and no samples. A transition (epoch + 1)
    /// from any state but that one: every permit out before it becomes stale.
    /// `None`, and nothing at all changes (permits out stay valid), when the breaker
    /// is already `Closed` at full health with no samples, counting the time since
    /// the last report (a breaker that time alone has healed is not reset).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, ManualClock, Verdict};
    ///
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::builder().clock(clock.clone()).build()?;
    /// assert_eq!(breaker.reset(), None); // nothing to reset
    /// let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
    /// clock.advance(breaker.half_life() * 30);
    /// assert_eq!(breaker.reset(), None); // time alone healed it
    /// let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
    /// assert!(breaker.reset().is_some()); // a fresh failure: reset
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn reset(&self) -> Option<Transition> {
        let mut now = None;
        self.operator(None, |cur| {
            if cur.state() == State::Closed {
                let at_full = cur.health() == HEALTH_FULL
                    || self
                        .decayed(cur, *now.get_or_insert_with(|| self.now_tick()))
                        .0
                        == HEALTH_FULL;
                if at_full {
                    // Full health has no samples (a spell ends there).
                    return None;
                }
            }
            Some(Snapshot::closed(cur.next_epoch(), HEALTH_FULL, 0))
        })
    }

    /// Run an operator call: `target` proposes the new word (always in a new
    /// epoch), or `None` when the call would change nothing but the epoch.
    /// `mark_at` is the tick a new measuring word is as of (now, if `None`).
    #[cold]
    fn operator(
        &self,
        mark_at: Option<u64>,
        mut target: impl FnMut(Snapshot) -> Option<Snapshot>,
    ) -> Option<Transition> {
        let update = self.update(self.load(), |cur| ((), target(cur)));
        debug_assert!(
            update
                .after
                .is_none_or(|a| a.epoch() != update.before.epoch())
        );
        self.after_update_at(&update, mark_at)
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
        Duration::from_nanos(self.config.tick_ns.saturating_mul(health::DECAY_TICKS))
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

    /// Whether an attempt made `after` from now would still be rejected: `Some`
    /// when the breaker is forced open, or open with a published deadline later
    /// than that (the rejection carries the time left until the deadline). `None`
    /// otherwise, including half-open (a probe slot may free up at any moment).
    ///
    /// This is how a retry avoids sleeping only to be rejected when it wakes.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, ManualClock, Rejected, Verdict};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::builder()
    ///     .trip_after_consecutive_failures(1)
    ///     .open_for(Duration::from_secs(10))
    ///     .open_jitter(0.0)
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
    /// let ten = Some(Duration::from_secs(10));
    /// assert_eq!(breaker.rejects_for(Duration::from_secs(3)), Some(Rejected::Open { retry_after: ten }));
    /// assert_eq!(breaker.rejects_for(Duration::from_secs(10)), None);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn rejects_for(&self, after: Duration) -> Option<Rejected> {
        let s = self.load();
        match s.state() {
            State::ForcedOpen => Some(Rejected::ForcedOpen),
            State::Open => {
                let deadline_ms = self.deadline_for(s.epoch())?;
                let now = self.elapsed_ns();
                let wake = now.saturating_add(crate::clock::duration_to_nanos(after));
                (wake / NANOS_PER_MS < deadline_ms).then(|| {
                    let left = deadline_ms.saturating_mul(NANOS_PER_MS).saturating_sub(now);
                    Rejected::Open {
                        retry_after: Some(Duration::from_nanos(left)),
                    }
                })
            }
            State::Closed | State::HalfOpen | State::Disabled => None,
        }
    }

    /// Time since the breaker was built, by its clock (0 if the clock went back).
    pub(crate) fn elapsed_ns(&self) -> u64 {
        self.clock.now_nanos().saturating_sub(self.start_ns)
    }

    /// The deadline word's value (open deadline or probe lease, in ms since the
    /// breaker was built) if it belongs to `epoch`; `None` if it is another
    /// epoch's (not yet published, or the breaker has moved on).
    fn deadline_for(&self, epoch: u32) -> Option<u64> {
        // Acquire: see the module's "Orderings"; the tag check makes any other
        // epoch's value harmless (it is simply not this epoch's deadline).
        DeadlineWord::from_raw(self.cold.deadline.load(Ordering::Acquire)).for_epoch(epoch)
    }

    #[inline(always)]
    fn load(&self) -> Snapshot {
        // Acquire: see the module's "Orderings".
        Snapshot::from_raw(self.state.load(Ordering::Acquire))
    }

    /// The one CAS helper. Runs `decide` on the current word until its proposal is
    /// installed or it proposes nothing; a proposal equal to the current word is
    /// "nothing" (no write, so no cache-line traffic).
    #[inline(always)]
    fn update<O>(
        &self,
        mut cur: Snapshot,
        mut decide: impl FnMut(Snapshot) -> (O, Option<Snapshot>),
    ) -> Update<O> {
        let backoff = CasBackoff::new();
        loop {
            let (outcome, next) = decide(cur);
            let next = match next {
                Some(next) if next != cur => next,
                _ => {
                    return Update {
                        outcome,
                        before: cur,
                        after: None,
                    };
                }
            };
            // AcqRel on success, Acquire on failure: see the module's "Orderings".
            match self.state.compare_exchange_weak(
                cur.raw(),
                next.raw(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return Update {
                        outcome,
                        before: cur,
                        after: Some(next),
                    };
                }
                Err(actual) => {
                    cur = Snapshot::from_raw(actual);
                    backoff.spin();
                }
            }
        }
    }

    /// After a CAS that changed the epoch: publish the deadline (into `Open`), then
    /// tell the listener. Only the winner of the transition gets here.
    #[cold]
    fn after_update<O>(&self, update: &Update<O>) -> Option<Transition> {
        self.after_update_at(update, None)
    }

    /// [`after_update`](Self::after_update), with the tick a new measuring word is
    /// as of (now, if `None`).
    #[cold]
    fn after_update_at<O>(&self, update: &Update<O>, mark_at: Option<u64>) -> Option<Transition> {
        let after = update.after?;
        if after.epoch() == update.before.epoch() {
            return None;
        }
        let open_for = match after.state() {
            State::Open => {
                let period_ns = self.jittered(self.config.open_period_ns(after.reopen()));
                self.publish_after(after.epoch(), period_ns);
                Some(Duration::from_nanos(period_ns))
            }
            State::HalfOpen => {
                // The probe lease: when this half-open period's probes stop
                // holding their slots (see `try_acquire_slow`).
                let lease_ns = self.config.probe_lease_ns(after.leases());
                self.publish_after(after.epoch(), lease_ns);
                None
            }
            State::Closed | State::Disabled => {
                // The new epoch's decay mark (see `MarkWord`), unless a report
                // already started it.
                // Acquire: as in `publish_deadline`.
                let raw = self.cold.deadline.load(Ordering::Acquire);
                if !MarkWord::from_raw(raw).belongs_to(after.epoch()) {
                    let now = mark_at.unwrap_or_else(|| self.now_tick());
                    self.start_mark(raw, after.epoch(), after.generation(), now);
                }
                None
            }
            State::ForcedOpen => None,
        };
        let transition = Transition {
            from: update.before.state(),
            to: after.state(),
            epoch: after.epoch(),
            open_for,
        };
        if let Some(listener) = &self.listener {
            // The state is already committed; a panicking listener can only lose its
            // own notification.
            let _ignored = catch_unwind(AssertUnwindSafe(|| listener(&transition)));
        }
        if self.observed() {
            if update.before.state() == State::HalfOpen && after.state() == State::HalfOpen {
                self.emit(crate::event::EventKind::ProbeLeaseExpired {
                    expired_epoch: update.before.epoch(),
                });
            }
            self.emit(crate::event::EventKind::Transition(transition));
        }
        Some(transition)
    }

    /// Publish the deadline `period_ns` from now for the state at `epoch` (the open
    /// deadline of an `Open`, the probe lease of a `HalfOpen`), rounded up to whole
    /// milliseconds.
    fn publish_after(&self, epoch: u32, period_ns: u64) {
        let deadline_ns = self.elapsed_ns().saturating_add(period_ns);
        let published = self.publish_deadline(epoch, deadline_ns.div_ceil(NANOS_PER_MS));
        debug_assert!(published || self.load().epoch() != epoch);
    }

    /// Write the deadline of the `Open` (or `HalfOpen`) state at `epoch`, unless the breaker has
    /// already left that epoch. Returns whether it was written.
    ///
    /// A write from an older epoch can never overwrite a newer one: this CAS
    /// succeeds only if the deadline word is unchanged since it was loaded, and it
    /// was loaded before the state word was seen still at `epoch`. A newer deadline
    /// is written only after the state word left `epoch`; if our CAS reads it
    /// (failure, `Acquire`), we synchronise with that writer and the re-check sees
    /// the newer epoch.
    #[cold]
    fn publish_deadline(&self, epoch: u32, deadline_ms: u64) -> bool {
        let new = DeadlineWord::new(epoch, deadline_ms).raw();
        // Acquire: see the doc above.
        let mut current = self.cold.deadline.load(Ordering::Acquire);
        let backoff = CasBackoff::new();
        loop {
            if self.load().epoch() != epoch {
                return false;
            }
            // AcqRel on success, Acquire on failure: see the doc above.
            match self.cold.deadline.compare_exchange_weak(
                current,
                new,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => {
                    current = actual;
                    backoff.spin();
                }
            }
        }
    }

    /// `period_ns` shortened by a random factor in `(1 - jitter, 1]`.
    fn jittered(&self, period_ns: u64) -> u64 {
        let jitter = self.config.open_jitter;
        if jitter == 0.0 {
            return period_ns;
        }
        // Relaxed: a metric-like sequence; see the module's "Orderings".
        let seed = self
            .cold
            .jitter
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        let u: f64 = SmallRng::seed_from_u64(seed).random();
        ((period_ns as f64) * (1.0 - jitter * u)).max(1.0) as u64
    }
}

/// splitmix64's finaliser: a well-mixed 64-bit value from a counter.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cold]
fn unreachable_decision() {
    debug_assert!(
        false,
        "try_acquire decided something other than admit or reject"
    );
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker")
            .field("state", &self.load())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Permission to make one attempt, tagged with the epoch it was admitted in.
///
/// Consume it with [`record`](Permit::record). Dropping it unrecorded is a
/// cancellation: it frees its half-open probe slot (if it has one) and is not a
/// health signal. A panicking attempt therefore cannot wedge the breaker.
#[must_use = "a permit must be recorded; dropping it counts as a cancellation"]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    /// The epoch admitted in, and the word when a success can be a no-op (see
    /// `Ticket`).
    ticket: Ticket,
}

impl<'a> Permit<'a> {
    #[inline(always)]
    fn new(breaker: &'a Breaker, ticket: Ticket) -> Self {
        Self { breaker, ticket }
    }

    /// The epoch this permit was admitted in.
    #[inline]
    pub fn epoch(&self) -> u32 {
        self.ticket.epoch()
    }

    /// Report the attempt's verdict.
    ///
    /// Applied to the breaker only if it is still in the permit's epoch; otherwise
    /// nothing changes and the result is [`Recorded::Stale`].
    #[inline(always)]
    pub fn record(self, verdict: Verdict) -> Recorded {
        // Recording consumes the permit without running its `Drop` (which is the
        // cancellation), so a live permit is always an unrecorded one and needs no
        // flag: no store to set it and no load to test it on the hot path.
        let permit = ManuallyDrop::new(self);
        permit.breaker.record(permit.ticket, verdict)
    }

    /// Report the attempt's verdict and how long it took: a success slower than
    /// the breaker's [slow-call threshold](crate::BreakerBuilder::slow_call) is
    /// recorded as a failure of the slow-call weight. Without a threshold this is
    /// [`record`](Self::record).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, Verdict};
    /// use std::time::Duration;
    ///
    /// let breaker = Breaker::builder()
    ///     .slow_call(Duration::from_millis(500), 1.0)
    ///     .build()?;
    /// let permit = breaker.try_acquire().unwrap();
    /// let _ = permit.record_timed(Verdict::Success, Duration::from_secs(2));
    /// assert!(breaker.snapshot().health.unwrap() < 1.0, "a slow success hurts health");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline]
    pub fn record_timed(self, verdict: Verdict, elapsed: Duration) -> Recorded {
        let verdict = self.breaker.timed_verdict(verdict, elapsed);
        self.record(verdict)
    }
}

impl Drop for Permit<'_> {
    /// Dropped without [`record`](Permit::record): a cancellation.
    #[inline]
    fn drop(&mut self) {
        self.breaker.cancel(self.ticket.epoch());
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("epoch", &self.epoch())
            .finish_non_exhaustive()
    }
}

/// A [`Permit`] that owns a clone of the breaker's `Arc` instead of borrowing
/// it: `'static` and `Send`, for response futures and spawned tasks. Get one with
/// [`Breaker::try_acquire_owned`].
///
/// The protocol is the borrowed permit's, through the same code: it is tagged with
/// the epoch it was admitted in, [`record`](Self::record) applies its verdict
/// only in that epoch (else [`Recorded::Stale`]), and dropping it unrecorded is a
/// cancellation that frees its half-open probe slot (if it has one), on whichever
/// thread drops it.
///
/// It costs what the borrowed permit costs plus an `Arc` clone and release (two
/// atomic read-modify-writes on the `Arc`'s count, a shared write). A breaker
/// that lives for the whole program needs neither: borrowed from a `static` (or a
/// leaked `Box`), [`Breaker::try_acquire`] gives a `Permit<'static>`, which is
/// already `'static` and `Send`, at the borrowed permit's cost:
///
/// ```
/// use fusebox::{Breaker, Verdict};
/// use std::sync::LazyLock;
///
/// static PAYMENTS: LazyLock<Breaker> = LazyLock::new(|| Breaker::builder().build().unwrap());
///
/// let permit = PAYMENTS.try_acquire().unwrap(); // a `Permit<'static>`
/// std::thread::spawn(move || permit.record(Verdict::Success)).join().unwrap();
/// ```
///
/// # Examples
///
/// A probe moved into another thread and dropped there gives its slot back:
///
/// ```
/// use fusebox::{Breaker, ManualClock, Rejected, State, Verdict};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let breaker = Arc::new(
///     Breaker::builder()
///         .trip_after_consecutive_failures(1)
///         .open_for(Duration::from_secs(1))
///         .open_jitter(0.0)
///         .probes(1)
///         .clock(clock.clone())
///         .build()?,
/// );
/// let _ = breaker.try_acquire_owned().unwrap().record(Verdict::failure());
/// clock.advance(Duration::from_secs(1));
/// let probe = breaker.try_acquire_owned().expect("the first probe");
/// assert_eq!(breaker.snapshot().state, State::HalfOpen);
/// assert_eq!(breaker.try_acquire_owned().unwrap_err(), Rejected::ProbesBusy);
/// std::thread::spawn(move || drop(probe)).join().unwrap();
/// assert_eq!(breaker.snapshot().probes_in_flight, 0);
/// assert!(breaker.try_acquire_owned().is_ok(), "the slot is free again");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[must_use = "a permit must be recorded; dropping it counts as a cancellation"]
pub struct OwnedPermit {
    breaker: Arc<Breaker>,
    /// As in [`Permit`]; [`Ticket::SPENT`] once recorded (nothing to cancel).
    ticket: Ticket,
}

impl OwnedPermit {
    /// The epoch this permit was admitted in.
    #[inline]
    pub fn epoch(&self) -> u32 {
        self.ticket.epoch()
    }

    /// The breaker this permit was admitted by.
    #[inline]
    pub fn breaker(&self) -> &Arc<Breaker> {
        &self.breaker
    }

    /// Report the attempt's verdict, as [`Permit::record`].
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, Recorded, Verdict};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(Breaker::builder().build()?);
    /// let permit = breaker.try_acquire_owned().unwrap();
    /// breaker.force_open(); // a transition: the permit's epoch is over
    /// assert_eq!(permit.record(Verdict::failure()), Recorded::Stale);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline(always)]
    pub fn record(mut self, verdict: Verdict) -> Recorded {
        // The ticket is spent before the report, so the `Drop` that follows (which
        // also releases the `Arc`) cancels nothing, even if the report unwinds.
        // Inlined, the compiler sees the store and drops the test with it.
        let ticket = std::mem::replace(&mut self.ticket, Ticket::SPENT);
        self.breaker.record(ticket, verdict)
    }

    /// Report the attempt's verdict and how long it took, as
    /// [`Permit::record_timed`]: a success slower than the breaker's
    /// [slow-call threshold](crate::BreakerBuilder::slow_call) is recorded as a
    /// failure of the slow-call weight.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, Verdict};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let breaker = Arc::new(Breaker::builder().slow_call(Duration::from_millis(500), 1.0).build()?);
    /// let permit = breaker.try_acquire_owned().unwrap();
    /// let _ = permit.record_timed(Verdict::Success, Duration::from_secs(2));
    /// assert!(breaker.snapshot().health.unwrap() < 1.0, "a slow success hurts health");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline]
    pub fn record_timed(self, verdict: Verdict, elapsed: Duration) -> Recorded {
        let verdict = self.breaker.timed_verdict(verdict, elapsed);
        self.record(verdict)
    }
}

impl Drop for OwnedPermit {
    /// Dropped without [`record`](OwnedPermit::record): a cancellation, as for a
    /// [`Permit`]. Then the `Arc` is released.
    #[inline]
    fn drop(&mut self) {
        if self.ticket != Ticket::SPENT {
            self.breaker.cancel(self.ticket.epoch());
        }
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("epoch", &self.epoch())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[path = "breaker_tests.rs"]
mod tests;
