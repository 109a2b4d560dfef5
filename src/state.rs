//! The packed state word, the epoch-tagged deadline word and the retry budget's
//! floor word. This is the only file that shifts or masks.
//!
//! # The state word (`u64`)
//!
//! ```text
//!  63          52 51                 32 31    27 26                         3 2     0
//! +--------------+---------------------+--------+----------------------------+-------+
//! |   SAMPLES    |       HEALTH        | GEN    |           EPOCH            | STATE |   Closed, Disabled
//! |   (12 bits)  |      (20 bits)      | (5)    |         (24 bits)          |  (3)  |
//! +--------------+---------------------+--------+----------------------------+-------+
//! |   unused     |  HEALTH (Open only) | REOPEN |           EPOCH            | STATE |   Open, ForcedOpen
//! +-------------+-----------+----------+--------+----------------------------+-------+
//! | unused (11) | LEASES(5) | SUCCESS. | IN_FL. | REOPEN |      EPOCH         | STATE |   HalfOpen
//! |             |           |   (8)    |   (8)  |  (5)   |                    |       |
//! +-------------+-----------+----------+--------+--------+--------------------+-------+
//! ```
//!
//! The upper 32 bits are a union chosen by `STATE`: `Closed` and `Disabled` measure
//! health, so they carry `HEALTH` (fixed point, `HEALTH_FULL` = 1.0) and `SAMPLES`
//! (the attempts of the current spell below full health, saturating at
//! `min_samples`; 0 whenever health is full, so a spell ends when successes or
//! time bring health back to full); `Open`
//! keeps the health it tripped at (0 after a failed probe); `HalfOpen` carries the
//! probes in flight, the probe successes so far and how many periods before it
//! were replaced because their probe lease ran out (which sizes its own lease). `REOPEN` counts consecutive
//! re-opens without an intervening close (it sizes the next open period); in
//! `Closed` and `Disabled` the same bits are `GEN`, the decay generation that ties
//! the word to the decay mark (see [`MarkWord`]).
//!
//! # Legal states and transitions
//!
//! | from       | to         | trigger                                                   |
//! |------------|------------|-----------------------------------------------------------|
//! | Closed     | Open       | a failure leaves health < threshold with samples ≥ min    |
//! | Open       | HalfOpen   | the first `try_acquire` at or after the deadline          |
//! | HalfOpen   | Closed     | the `close_after`-th probe success                        |
//! | HalfOpen   | Open       | any probe failure (REOPEN + 1, longer open period)        |
//! | HalfOpen   | HalfOpen   | every slot busy past the probe lease (a fresh period)     |
//! | any        | ForcedOpen | `force_open()`                                            |
//! | any        | Disabled   | `disable()`                                               |
//! | any        | Closed     | `reset()`                                                 |
//!
//! Every transition, and only a transition, advances `EPOCH` (wrapping at 2^24).
//! Within one epoch the state never changes, so a permit's epoch alone says which
//! state admitted it.
//!
//! # The deadline word (`u64`)
//!
//! ```text
//!  63                                                  24 23                     0
//! +------------------------------------------------------+------------------------+
//! |          DEADLINE (40 bits, ms since breaker start)  |  TAG (epoch, 24 bits)  |
//! +------------------------------------------------------+------------------------+
//! ```
//!
//! The open deadline lives in its own word, tagged with the epoch of the `Open` state
//! it belongs to; in `HalfOpen` the same word holds the probe lease (when the
//! period's probes stop holding their slots), tagged likewise. Only the thread that
//! won the transition into that state writes it, and it writes only while the
//! state word still shows that epoch, by compare-and-swap (see
//! `Breaker::publish_deadline`), so a writer from an older epoch can never
//! overwrite a newer deadline. A reader uses the deadline only when its tag equals
//! the current epoch; between the transition and the publication (a few
//! instructions) the breaker is simply open with an unknown deadline.
//!
//! In `Closed` and `Disabled` the same word is a [`MarkWord`]: the *decay mark*,
//! the time (in decay ticks) up to which health has been brought up to date, or an
//! interval of decay claimed and not yet applied (see `Breaker::report_measured`).
//!
//! # Epoch wrap-around
//!
//! Epochs are compared for equality only. A permit from epoch `e` is mistaken for a
//! current one only if the breaker makes a multiple of 2^24 = 16,777,216 transitions
//! while that one attempt is in flight. Automatic transitions need an open period
//! (at least 1 ms) per `Open -> HalfOpen` or a probe lease (at least 1 ms) per
//! `HalfOpen -> HalfOpen`, so that takes over an hour and a half of
//! uninterrupted flapping at the smallest legal open period (several hours with
//! realistic ones); only a program calling the operator controls in a tight loop
//! could do it faster.

use std::fmt;

/// One bit field of a packed word: where it starts and how wide it is.
#[derive(Clone, Copy)]
struct Field {
    shift: u32,
    bits: u32,
}

impl Field {
    /// The field that starts right after `self`.
    const fn next(self, bits: u32) -> Field {
        Field {
            shift: self.shift + self.bits,
            bits,
        }
    }

    /// The largest value the field holds.
    const fn max(self) -> u64 {
        (1u64 << self.bits) - 1
    }

    /// The field's bits in place.
    const fn mask(self) -> u64 {
        self.max() << self.shift
    }

    /// The first bit after the field.
    const fn end(self) -> u32 {
        self.shift + self.bits
    }

    #[inline(always)]
    const fn get(self, word: u64) -> u64 {
        (word >> self.shift) & self.max()
    }

    #[inline(always)]
    fn set(self, word: u64, value: u64) -> u64 {
        debug_assert!(value <= self.max(), "value does not fit its field");
        (word & !self.mask()) | ((value & self.max()) << self.shift)
    }
}

/// `STATE`: which [`State`] the breaker is in.
const STATE: Field = Field { shift: 0, bits: 3 };
/// `EPOCH`: the generation, advanced by every transition.
const EPOCH: Field = STATE.next(24);
/// `REOPEN` (Open, HalfOpen): consecutive re-opens since the breaker last closed
/// (saturating).
const REOPEN: Field = EPOCH.next(5);
/// `GEN` (Closed, Disabled; the bits `REOPEN` has elsewhere): how many decay
/// intervals have been applied to this word (wrapping). It ties the word to the
/// decay mark in the deadline word: see [`MarkWord`].
const GEN: Field = EPOCH.next(5);
const _: () = assert!(
    GEN.shift == REOPEN.shift && GEN.bits == REOPEN.bits,
    "GEN is REOPEN's slot"
);
/// `HEALTH` (Closed, Disabled, Open): fixed-point health, `HEALTH_FULL` = 1.0.
const HEALTH: Field = REOPEN.next(20);
/// `SAMPLES` (Closed, Disabled): attempts while below full health, saturating.
const SAMPLES: Field = HEALTH.next(12);
/// `IN_FLIGHT` (HalfOpen): probes admitted and not yet recorded or dropped.
const IN_FLIGHT: Field = REOPEN.next(8);
/// `SUCCESSES` (HalfOpen): probe successes in this half-open period.
const SUCCESSES: Field = IN_FLIGHT.next(8);
/// `LEASES` (HalfOpen): consecutive half-open periods replaced because their probe
/// lease ran out with every slot busy (saturating); each doubles the next lease.
const LEASES: Field = SUCCESSES.next(5);

const _: () = assert!(SAMPLES.end() == 64, "the state word is exactly 64 bits");
const _: () = assert!(LEASES.end() <= 64, "the half-open fields fit the word");
const _: () = assert!(STATE.max() >= 4, "five states fit the state field");
/// The one bit of `STATE` in which `Disabled` differs from `Closed`.
const DISABLED_BIT: u64 = (State::Disabled.code() ^ State::Closed.code()) << STATE.shift;
const _: () = assert!(
    DISABLED_BIT.count_ones() == 1
        && State::Closed.code() & (DISABLED_BIT >> STATE.shift) == 0
        && State::Open.code() & !(DISABLED_BIT >> STATE.shift) != 0
        && State::HalfOpen.code() & !(DISABLED_BIT >> STATE.shift) != 0
        && State::ForcedOpen.code() & !(DISABLED_BIT >> STATE.shift) != 0,
    "only Closed and Disabled agree with Closed outside DISABLED_BIT"
);

/// Number of bits of the epoch.
#[cfg(test)]
pub(crate) const EPOCH_BITS: u32 = EPOCH.bits;
/// Largest epoch before wrap-around.
pub(crate) const EPOCH_MAX: u32 = EPOCH.max() as u32;
/// Health 1.0 in fixed point.
pub(crate) const HEALTH_FULL: u32 = HEALTH.max() as u32;
/// Largest count the `SAMPLES` field holds (so the largest legal `min_samples`).
pub(crate) const SAMPLES_MAX: u32 = SAMPLES.max() as u32;
/// Largest count the half-open fields hold (so the largest legal `probes` and
/// `close_after`).
pub(crate) const HALF_OPEN_MAX: u32 = IN_FLIGHT.max() as u32;
/// Largest re-open count (the open period stops growing in count here; the cap
/// normally stops it much earlier).
pub(crate) const REOPEN_MAX: u32 = REOPEN.max() as u32;
/// Largest count of consecutive lease-replaced half-open periods.
pub(crate) const LEASES_MAX: u32 = LEASES.max() as u32;

/// `TAG`: the epoch of the `Open` state a deadline belongs to.
const TAG: Field = Field {
    shift: 0,
    bits: EPOCH.bits,
};
/// `DEADLINE`: milliseconds since the breaker's start, saturating.
const DEADLINE: Field = TAG.next(64 - EPOCH.bits);
const _: () = assert!(DEADLINE.end() == 64, "the deadline word is exactly 64 bits");
/// Largest representable deadline, in milliseconds since the breaker started
/// (2^40 ms, about 34.8 years), or decay mark, in ticks. Times past it saturate.
#[cfg(test)]
pub(crate) const DEADLINE_MAX_MS: u64 = DEADLINE.max();

/// The state of a breaker.
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, State};
///
/// let breaker = Breaker::builder().build().unwrap();
/// assert_eq!(breaker.snapshot().state, State::Closed);
/// assert_eq!(State::HalfOpen.to_string(), "half-open");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Admits every attempt and measures health; trips to `Open` when health falls
    /// below the threshold.
    Closed,
    /// Rejects every attempt until its deadline, then lets probes through.
    Open,
    /// Admits at most `probes` attempts at once; closes after `close_after` probe
    /// successes, re-opens on one probe failure.
    HalfOpen,
    /// Operator override: rejects every attempt until `reset()` or `disable()`.
    ForcedOpen,
    /// Operator override: admits every attempt and measures health, never trips.
    Disabled,
}

impl State {
    const fn code(self) -> u64 {
        match self {
            State::Closed => 0,
            State::Open => 1,
            State::HalfOpen => 2,
            State::ForcedOpen => 3,
            State::Disabled => 4,
        }
    }

    const fn from_code(code: u64) -> State {
        match code {
            0 => State::Closed,
            1 => State::Open,
            2 => State::HalfOpen,
            4 => State::Disabled,
            // 3 is ForcedOpen; 5..=7 are never written (every word is built by the
            // constructors below), and rejecting is the safe reading of a bug.
            _ => State::ForcedOpen,
        }
    }

    /// Whether this state measures health (carries `HEALTH` and `SAMPLES`).
    pub(crate) const fn measures(self) -> bool {
        matches!(self, State::Closed | State::Disabled)
    }
}

impl State {
    /// A stable name, as `Display` writes it: `"closed"`, `"open"`,
    /// `"half-open"`, `"forced-open"` or `"disabled"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
            State::ForcedOpen => "forced-open",
            State::Disabled => "disabled",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One decoded-on-demand copy of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(u64);

impl Snapshot {
    /// The raw word.
    #[inline(always)]
    pub(crate) const fn raw(self) -> u64 {
        self.0
    }

    /// Reinterpret a raw word (as loaded from the atomic).
    #[inline(always)]
    pub(crate) const fn from_raw(raw: u64) -> Self {
        Snapshot(raw)
    }

    #[inline(always)]
    pub(crate) const fn state(self) -> State {
        State::from_code(STATE.get(self.0))
    }

    #[inline(always)]
    pub(crate) const fn epoch(self) -> u32 {
        EPOCH.get(self.0) as u32
    }

    /// The epoch a transition out of this state gets (wrapping).
    #[inline]
    pub(crate) const fn next_epoch(self) -> u32 {
        ((EPOCH.get(self.0) + 1) & EPOCH.max()) as u32
    }

    #[inline(always)]
    pub(crate) const fn reopen(self) -> u32 {
        REOPEN.get(self.0) as u32
    }

    /// Fixed-point health; meaningful in `Closed`, `Disabled` and `Open`.
    #[inline(always)]
    pub(crate) const fn health(self) -> u32 {
        HEALTH.get(self.0) as u32
    }

    /// Samples in the spell below full health; meaningful in `Closed` and `Disabled`.
    #[inline(always)]
    pub(crate) const fn samples(self) -> u32 {
        SAMPLES.get(self.0) as u32
    }

    /// The word a success leaves unchanged, at epoch 0: `Closed`, full health, no
    /// samples (a measuring word at full health always has 0 samples: `SAMPLES`
    /// counts the attempts of the current spell below full health). A breaker
    /// computes it once (see [`is_healthy`](Self::is_healthy)).
    pub(crate) fn healthy_base() -> Self {
        Self::closed(0, HEALTH_FULL, 0)
    }

    /// Whether this is a measuring state (`Closed` or `Disabled`, any epoch, any
    /// decay generation) at full health: a word a success leaves unchanged. `base`
    /// is [`healthy_base()`](Self::healthy_base).
    ///
    /// One mask and one compare: the measuring states are `Closed` (code 0) and
    /// `Disabled` (code 4), which differ from each other only in `DISABLED_BIT` and
    /// from every other state in the bits below it. So with that bit, the epoch and
    /// the decay generation cleared, the word must equal `base` (whose epoch and
    /// generation are 0). The mask is a constant, loaded once outside a loop.
    #[inline(always)]
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn is_healthy(self, base: Snapshot) -> bool {
        debug_assert_eq!(base.epoch(), 0, "the base word has epoch 0");
        debug_assert_eq!(base.generation(), 0, "the base word has generation 0");
        self.passes_gate(base.0)
    }

    /// [`is_healthy`](Self::is_healthy) against the breaker's gate word: the
    /// healthy base while the concurrency limit is disengaged, and a value no
    /// masked word equals (all ones) while it is engaged.
    #[inline(always)]
    pub(crate) fn passes_gate(self, gate: u64) -> bool {
        self.0 & !(DISABLED_BIT | EPOCH.mask() | GEN.mask()) == gate
    }

    /// The decay generation; meaningful in `Closed` and `Disabled` (see
    /// [`MarkWord`]).
    #[inline(always)]
    pub(crate) const fn generation(self) -> u32 {
        GEN.get(self.0) as u32
    }

    /// The generation after this word's (wrapping).
    #[inline]
    pub(crate) const fn next_generation(self) -> u32 {
        ((GEN.get(self.0) + 1) & GEN.max()) as u32
    }

    /// This measuring word with decay generation `generation` (wrapped to the field).
    #[inline]
    pub(crate) fn with_generation(self, generation: u32) -> Self {
        Snapshot(GEN.set(self.0, u64::from(generation) & GEN.max()))
    }

    /// Probes in flight; meaningful in `HalfOpen`.
    #[inline(always)]
    pub(crate) const fn in_flight(self) -> u32 {
        IN_FLIGHT.get(self.0) as u32
    }

    /// Probe successes; meaningful in `HalfOpen`.
    #[inline(always)]
    pub(crate) const fn successes(self) -> u32 {
        SUCCESSES.get(self.0) as u32
    }

    /// Consecutive half-open periods replaced by lease expiry before this one;
    /// meaningful in `HalfOpen`.
    #[inline(always)]
    pub(crate) const fn leases(self) -> u32 {
        LEASES.get(self.0) as u32
    }

    fn header(state: State, epoch: u32, reopen: u32) -> u64 {
        let w = STATE.set(0, state.code());
        let w = EPOCH.set(w, u64::from(epoch));
        REOPEN.set(w, u64::from(reopen))
    }

    /// `Closed` at `epoch` with the given health and samples.
    pub(crate) fn closed(epoch: u32, health: u32, samples: u32) -> Self {
        Self::measuring(State::Closed, epoch, health, samples)
    }

    /// `Disabled` at `epoch` with the given health and samples.
    pub(crate) fn disabled(epoch: u32, health: u32, samples: u32) -> Self {
        Self::measuring(State::Disabled, epoch, health, samples)
    }

    fn measuring(state: State, epoch: u32, health: u32, samples: u32) -> Self {
        let w = Self::header(state, epoch, 0);
        let w = HEALTH.set(w, u64::from(health));
        Snapshot(SAMPLES.set(w, u64::from(samples)))
    }

    /// `Open` at `epoch`, the `reopen`-th consecutive re-open, tripped at `health`.
    pub(crate) fn open(epoch: u32, reopen: u32, health: u32) -> Self {
        let w = Self::header(State::Open, epoch, reopen);
        Snapshot(HEALTH.set(w, u64::from(health)))
    }

    /// `HalfOpen` at `epoch` with the given probe counters.
    pub(crate) fn half_open(epoch: u32, reopen: u32, in_flight: u32, successes: u32) -> Self {
        let w = Self::header(State::HalfOpen, epoch, reopen);
        let w = IN_FLIGHT.set(w, u64::from(in_flight));
        Snapshot(SUCCESSES.set(w, u64::from(successes)))
    }

    /// `ForcedOpen` at `epoch`.
    pub(crate) fn forced_open(epoch: u32) -> Self {
        Snapshot(Self::header(State::ForcedOpen, epoch, 0))
    }

    /// This `Closed`/`Disabled` word with new health and samples (same epoch).
    pub(crate) fn with_measure(self, health: u32, samples: u32) -> Self {
        let w = HEALTH.set(self.0, u64::from(health));
        Snapshot(SAMPLES.set(w, u64::from(samples)))
    }

    /// This `HalfOpen` word with `leases` replaced periods before it (same epoch).
    pub(crate) fn with_leases(self, leases: u32) -> Self {
        Snapshot(LEASES.set(self.0, u64::from(leases)))
    }

    /// This `HalfOpen` word with new probe counters (same epoch).
    pub(crate) fn with_probes(self, in_flight: u32, successes: u32) -> Self {
        let w = IN_FLIGHT.set(self.0, u64::from(in_flight));
        Snapshot(SUCCESSES.set(w, u64::from(successes)))
    }
}

/// The state code no word ever has (the states are codes 0 to 4, and every word
/// is built from a `State`): a ticket that must never equal a word carries it.
const NO_STATE: u64 = 7;
const _: () = assert!(
    NO_STATE <= STATE.max()
        && NO_STATE != State::Closed.code()
        && NO_STATE != State::Open.code()
        && NO_STATE != State::HalfOpen.code()
        && NO_STATE != State::ForcedOpen.code()
        && NO_STATE != State::Disabled.code(),
    "NO_STATE is a code no state has"
);

/// What a permit keeps of the word it was admitted under: its epoch, and whether
/// a success report under it can be a no-op.
///
/// A success changes nothing exactly when the breaker is still in the permit's
/// epoch, measuring, at full health with saturated samples. The ticket turns that
/// into one comparison of whole words on the report, with nothing to mask,
/// shift or combine:
///
/// - admitted under a healthy word ([`Snapshot::is_healthy`]),
///   the ticket *is* that word. If the current word equals it, the epoch has not
///   changed (the report is not stale: every transition moves the epoch) and the
///   word is healthy (a success leaves it as it is). If not, the report
///   takes the general path;
/// - admitted under any other word, the ticket is the epoch in place with the
///   state code [`NO_STATE`], which no word has: it never equals the current word,
///   and every report takes the general path.
///
/// Either way the epoch is in its place, so the general path and a cancellation
/// read it from the ticket.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

impl Ticket {
    /// The ticket of a permit admitted under `word`, which must be
    /// healthy (checked by the caller).
    #[inline(always)]
    pub(crate) const fn whole(word: Snapshot) -> Self {
        Ticket(word.0)
    }

    /// The ticket of a permit admitted in `epoch` (which must fit the field), under
    /// a word that is not healthy.
    #[inline(always)]
    pub(crate) fn of_epoch(epoch: u32) -> Self {
        Ticket(STATE.set(EPOCH.set(0, u64::from(epoch)), NO_STATE))
    }

    /// The ticket an [`OwnedPermit`](crate::OwnedPermit) keeps once it has been
    /// recorded, so that its `Drop` knows there is nothing left to cancel: all
    /// ones, so the state code is [`NO_STATE`] (never a whole word) with bits set
    /// outside the epoch (never an epoch ticket). A real ticket is never spent.
    pub(crate) const SPENT: Ticket = Ticket(u64::MAX);

    /// The bit that says the permit holds a slot under the concurrency limit
    /// (only on an epoch ticket: a whole-word ticket never holds one).
    const SLOT: u64 = 1 << 63;

    /// This epoch ticket, holding a slot under the concurrency limit.
    #[inline]
    pub(crate) fn with_slot(self) -> Self {
        debug_assert_eq!(
            STATE.get(self.0),
            NO_STATE,
            "only an epoch ticket holds a slot"
        );
        Ticket(self.0 | Self::SLOT)
    }

    /// Whether the permit holds a slot it must release when it ends.
    #[inline(always)]
    pub(crate) fn has_slot(self) -> bool {
        self.0 & Self::SLOT != 0 && self != Self::SPENT
    }

    /// The epoch the permit was admitted in.
    #[inline(always)]
    pub(crate) const fn epoch(self) -> u32 {
        EPOCH.get(self.0) as u32
    }

    /// Whether a success reported now, under this ticket, changes nothing: the
    /// current word is the healthy word the permit was admitted under.
    #[inline(always)]
    pub(crate) const fn success_is_noop(self, current: Snapshot) -> bool {
        self.0 == current.0
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("epoch", &self.epoch())
            .field("whole", &(STATE.get(self.0) != NO_STATE))
            .finish()
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Snapshot");
        d.field("state", &self.state())
            .field("epoch", &self.epoch());
        match self.state() {
            State::Closed | State::Disabled => {
                d.field("health", &self.health())
                    .field("samples", &self.samples())
                    .field("gen", &self.generation());
            }
            State::Open => {
                d.field("reopen", &self.reopen())
                    .field("health", &self.health());
            }
            State::HalfOpen => {
                d.field("reopen", &self.reopen())
                    .field("in_flight", &self.in_flight())
                    .field("successes", &self.successes())
                    .field("leases", &self.leases());
            }
            State::ForcedOpen => {}
        }
        d.field("raw", &format_args!("{:#018x}", self.0)).finish()
    }
}

/// One copy of the deadline word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeadlineWord(u64);

impl DeadlineWord {
    pub(crate) fn new(epoch: u32, deadline_ms: u64) -> Self {
        let w = TAG.set(0, u64::from(epoch));
        DeadlineWord(DEADLINE.set(w, deadline_ms.min(DEADLINE.max())))
    }

    #[inline]
    pub(crate) const fn raw(self) -> u64 {
        self.0
    }

    #[inline]
    pub(crate) const fn from_raw(raw: u64) -> Self {
        DeadlineWord(raw)
    }

    #[inline]
    pub(crate) const fn tag(self) -> u32 {
        TAG.get(self.0) as u32
    }

    #[inline]
    pub(crate) const fn deadline_ms(self) -> u64 {
        DEADLINE.get(self.0)
    }

    /// The deadline, if this word belongs to `epoch`.
    #[inline]
    pub(crate) const fn for_epoch(self, epoch: u32) -> Option<u64> {
        if self.tag() == epoch {
            Some(self.deadline_ms())
        } else {
            None
        }
    }
}

impl fmt::Debug for DeadlineWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadlineWord")
            .field("tag", &self.tag())
            .field("deadline_ms", &self.deadline_ms())
            .field("raw", &format_args!("{:#018x}", self.0))
            .finish()
    }
}

/// `TAG` (mark word): the low 16 bits of the epoch the word belongs to.
const MARK_TAG: Field = Field { shift: 0, bits: 16 };
/// `PENDING` (mark word): set while the word holds a claimed decay interval.
const MARK_PENDING: Field = MARK_TAG.next(1);
/// `GEN` (mark word): the decay generation of the state word this word describes.
const MARK_GEN: Field = MARK_PENDING.next(GEN.bits);
/// `MARK` (settled mark word): the decay mark, in ticks since the breaker was
/// built.
const MARK: Field = MARK_GEN.next(64 - MARK_GEN.end());
/// `INTERVAL` (pending mark word): the ticks claimed, at most
/// [`MARK_INTERVAL_MAX`].
const MARK_INTERVAL: Field = MARK_GEN.next(11);
/// `END` (pending mark word): the end of the claimed interval (the new mark), in
/// ticks modulo 2^31.
const MARK_END: Field = MARK_INTERVAL.next(64 - MARK_INTERVAL.end());
const _: () = assert!(MARK.end() == 64 && MARK.bits == 42, "a settled mark word");
const _: () = assert!(
    MARK_END.end() == 64 && MARK_END.bits == 31,
    "a pending mark word"
);
/// The largest decay mark, in ticks (2^42 - 1: 139 years of the smallest tick).
/// Time in ticks stops there.
pub(crate) const MARK_MAX: u64 = MARK.max();
/// The longest interval a pending mark word holds, in ticks. Longer ones are
/// claimed as this long: every gap is gone after 21 half-lives of 64 ticks.
pub(crate) const MARK_INTERVAL_MAX: u64 = MARK_INTERVAL.max();
const _: () = assert!(MARK_INTERVAL_MAX >= 21 * 64, "21 half-lives fit INTERVAL");

/// The full tick count nearest to `now` whose low `field.bits` bits are `low`: within
/// half the field's range behind or ahead of `now`.
fn unwrap_near(low: u64, field: Field, now: u64) -> u64 {
    let behind = now.wrapping_sub(low) & field.max();
    if behind <= field.max() / 2 {
        now.saturating_sub(behind)
    } else {
        now.saturating_add(field.max() + 1 - behind)
    }
}

/// The deadline word of a measuring (`Closed` or `Disabled`) epoch: the *decay
/// mark*, the time up to which the state word's health has been brought up to
/// date, and the link between the two words.
///
/// ```text
///  63                                    22 21     17  16   15               0
/// +----------------------------------------+---------+-----+------------------+
/// |          MARK (42 bits, ticks)         | GEN (5) |  0  | TAG (epoch, 16)  |  settled
/// +------------------------+---------------+---------+-----+------------------+
/// |  END (31 bits, ticks)  | INTERVAL (11) | GEN (5) |  1  | TAG (epoch, 16)  |  pending
/// +------------------------+---------------+---------+-----+------------------+
/// ```
///
/// The tag holds the epoch's low 16 bits: every transition into `Closed` or
/// `Disabled` writes its epoch's first mark word, or moves the old epoch's to it
/// when `disable()` carries a degraded `Closed` word over (as every transition
/// into `Open` or `HalfOpen` writes its deadline), and only `ForcedOpen` epochs, which
/// alternate with the others, write none, so the word is never more than a
/// transition or two behind the state word: an old word could only be mistaken
/// for the current epoch's if some 2^15 transition winners in a row all stalled
/// before writing theirs.
///
/// Read against a state word `s` of the same epoch:
///
/// - `GEN == s.gen`: the word's health is as of this word's mark (`MARK`, or
///   `END` of a pending word whose interval `s` has absorbed);
/// - `PENDING` and `GEN == s.gen + 1`: a reporter has claimed the `INTERVAL`
///   ticks that end at `END` and `s` has not absorbed them yet; anyone may apply
///   them (the state word's CAS moves its `GEN` to this word's), so nobody waits;
/// - a tag of another epoch: no mark in this epoch yet.
///
/// A settled mark is stored whole (time in ticks stops at [`MARK_MAX`]); the end
/// of a pending interval, which lives only from a claim to the report that
/// absorbs it, is stored modulo 2^31 ticks and read back as the value nearest
/// the reader's clock (exact while less than 2^30 ticks, 12 days of the
/// smallest tick, from it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct MarkWord(u64);

/// What a mark word says about a state word of its epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MarkView {
    /// No mark in this epoch yet.
    Unmarked,
    /// The state word's health is as of `mark`. `settle` is set when the word is a
    /// pending one whose interval is already applied (and can be rewritten as a
    /// settled one, to keep the mark exact for longer).
    Current { mark: u64, settle: bool },
    /// `interval` ticks ending at `end` are claimed and not applied yet.
    Pending { interval: u64, end: u64 },
    /// The state word was read before a change this mark word already follows:
    /// read both again.
    Behind,
}

impl MarkWord {
    /// A settled word: the state word of `epoch` at generation `generation` is
    /// as of tick `mark` (saturating at [`MARK_MAX`]).
    pub(crate) fn settled(epoch: u32, generation: u32, mark: u64) -> Self {
        let w = MARK_TAG.set(0, u64::from(epoch) & MARK_TAG.max());
        let w = MARK_GEN.set(w, u64::from(generation) & MARK_GEN.max());
        MarkWord(MARK.set(w, mark.min(MARK.max())))
    }

    /// A pending word: `interval` ticks (capped at [`MARK_INTERVAL_MAX`]) ending at
    /// tick `end` are claimed for the state word of `epoch` that will have
    /// generation `generation` once it absorbs them.
    pub(crate) fn pending(epoch: u32, generation: u32, interval: u64, end: u64) -> Self {
        let w = MARK_TAG.set(0, u64::from(epoch) & MARK_TAG.max());
        let w = MARK_PENDING.set(w, 1);
        let w = MARK_GEN.set(w, u64::from(generation) & MARK_GEN.max());
        let w = MARK_INTERVAL.set(w, interval.min(MARK_INTERVAL_MAX));
        MarkWord(MARK_END.set(w, end & MARK_END.max()))
    }

    #[inline]
    pub(crate) const fn raw(self) -> u64 {
        self.0
    }

    #[inline]
    pub(crate) const fn from_raw(raw: u64) -> Self {
        MarkWord(raw)
    }

    /// This word, moved to `epoch` (everything else unchanged).
    pub(crate) fn retagged(self, epoch: u32) -> Self {
        MarkWord(MARK_TAG.set(self.0, u64::from(epoch) & MARK_TAG.max()))
    }

    /// Whether this word belongs to (the measuring state of) `epoch`.
    #[inline]
    pub(crate) const fn belongs_to(self, epoch: u32) -> bool {
        MARK_TAG.get(self.0) == epoch as u64 & MARK_TAG.max()
    }

    const fn is_pending(self) -> bool {
        MARK_PENDING.get(self.0) == 1
    }

    const fn generation(self) -> u32 {
        MARK_GEN.get(self.0) as u32
    }

    /// What this word says about the measuring word `s`, with ticks read back
    /// near `now`.
    #[inline]
    pub(crate) fn view(self, s: Snapshot, now: u64) -> MarkView {
        if !self.belongs_to(s.epoch()) {
            return MarkView::Unmarked;
        }
        let generation = self.generation();
        if self.is_pending() {
            let end = unwrap_near(MARK_END.get(self.0), MARK_END, now);
            if generation == s.generation() {
                MarkView::Current {
                    mark: end,
                    settle: true,
                }
            } else if generation == s.next_generation() {
                MarkView::Pending {
                    interval: MARK_INTERVAL.get(self.0),
                    end,
                }
            } else {
                MarkView::Behind
            }
        } else if generation == s.generation() {
            MarkView::Current {
                mark: MARK.get(self.0),
                settle: false,
            }
        } else {
            MarkView::Behind
        }
    }
}

impl fmt::Debug for MarkWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("MarkWord");
        d.field("tag", &MARK_TAG.get(self.0))
            .field("gen", &self.generation());
        if self.is_pending() {
            d.field("interval", &MARK_INTERVAL.get(self.0))
                .field("end_low", &MARK_END.get(self.0));
        } else {
            d.field("mark", &MARK.get(self.0));
        }
        d.field("raw", &format_args!("{:#018x}", self.0)).finish()
    }
}

/// `REFILLED` (retry budget, floor term): ms since the budget was built, when the
/// time-based floor last refilled its term (saturating).
const FLOOR_REFILLED: Field = Field { shift: 0, bits: 40 };
/// `BALANCE` (retry budget, floor term): the floor term's milli-tokens; one retry
/// costs 1000.
const FLOOR_BALANCE: Field = FLOOR_REFILLED.next(24);
const _: () = assert!(
    FLOOR_BALANCE.end() == 64,
    "the floor word is exactly 64 bits"
);
/// Largest refill mark, in ms since the budget was built (about 34.8 years).
pub(crate) const FLOOR_REFILLED_MAX_MS: u64 = FLOOR_REFILLED.max();
/// Largest floor balance, in milli-tokens (16,777 retries and change).
/// (`budget.rs` asserts that the largest cap a budget accepts fits.)
pub(crate) const FLOOR_BALANCE_MAX: u64 = FLOOR_BALANCE.max();

/// One copy of a retry budget's floor word: the time-based floor's term and the
/// time of its last refill, which change together in one compare-and-swap.
///
/// ```text
///  63                      40 39                                                   0
/// +-------------------------+-------------------------------------------------------+
/// | BALANCE (milli-tokens)  |        REFILLED (40 bits, ms since the budget start)  |
/// +-------------------------+-------------------------------------------------------+
/// ```
///
/// (The budget's other term, the ratio term, is a plain count of milli-tokens in a
/// word of its own: it has no fields.)
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct FloorWord(u64);

impl FloorWord {
    pub(crate) fn new(balance_milli: u64, refilled_ms: u64) -> Self {
        debug_assert!(
            balance_milli <= FLOOR_BALANCE.max(),
            "a floor balance above the field's range"
        );
        let w = FLOOR_BALANCE.set(0, balance_milli.min(FLOOR_BALANCE.max()));
        FloorWord(FLOOR_REFILLED.set(w, refilled_ms.min(FLOOR_REFILLED.max())))
    }

    #[inline]
    pub(crate) const fn raw(self) -> u64 {
        self.0
    }

    #[inline]
    pub(crate) const fn from_raw(raw: u64) -> Self {
        FloorWord(raw)
    }

    #[inline]
    pub(crate) const fn balance_milli(self) -> u64 {
        FLOOR_BALANCE.get(self.0)
    }

    #[inline]
    pub(crate) const fn refilled_ms(self) -> u64 {
        FLOOR_REFILLED.get(self.0)
    }
}

impl fmt::Debug for FloorWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FloorWord")
            .field("balance_milli", &self.balance_milli())
            .field("refilled_ms", &self.refilled_ms())
            .field("raw", &format_args!("{:#018x}", self.0))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [State; 5] = [
        State::Closed,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
        State::Disabled,
    ];

    #[test]
    fn state_codes_round_trip() {
        for s in ALL {
            assert_eq!(State::from_code(s.code()), s);
        }
    }

    #[test]
    fn measuring_fields_round_trip_over_their_range() {
        let epochs = [0, 1, 12345, EPOCH_MAX - 1, EPOCH_MAX];
        let healths = [0, 1, HEALTH_FULL / 2, HEALTH_FULL - 1, HEALTH_FULL];
        let samples = [0, 1, 77, SAMPLES_MAX - 1, SAMPLES_MAX];
        for &e in &epochs {
            for &h in &healths {
                for &s in &samples {
                    for w in [Snapshot::closed(e, h, s), Snapshot::disabled(e, h, s)] {
                        assert_eq!((w.epoch(), w.health(), w.samples()), (e, h, s));
                        assert_eq!(w.reopen(), 0);
                        let w2 = w.with_measure(s.min(HEALTH_FULL), h.min(SAMPLES_MAX));
                        assert_eq!(w2.epoch(), e);
                        assert_eq!(w2.state(), w.state());
                        assert_eq!(w2.health(), s.min(HEALTH_FULL));
                        assert_eq!(w2.samples(), h.min(SAMPLES_MAX));
                    }
                }
            }
        }
    }

    #[test]
    fn open_and_half_open_fields_round_trip() {
        for e in [0, 5, EPOCH_MAX] {
            for r in [0, 1, REOPEN_MAX] {
                for h in [0, 9, HEALTH_FULL] {
                    let w = Snapshot::open(e, r, h);
                    assert_eq!(
                        (w.state(), w.epoch(), w.reopen(), w.health()),
                        (State::Open, e, r, h)
                    );
                }
                for i in [0, 1, HALF_OPEN_MAX] {
                    for s in [0, 3, HALF_OPEN_MAX] {
                        let w = Snapshot::half_open(e, r, i, s);
                        assert_eq!(
                            (
                                w.state(),
                                w.epoch(),
                                w.reopen(),
                                w.in_flight(),
                                w.successes()
                            ),
                            (State::HalfOpen, e, r, i, s)
                        );
                        let w2 = w.with_probes(s, i);
                        assert_eq!(
                            (w2.epoch(), w2.reopen(), w2.in_flight(), w2.successes()),
                            (e, r, s, i)
                        );
                    }
                }
            }
            let f = Snapshot::forced_open(e);
            assert_eq!((f.state(), f.epoch()), (State::ForcedOpen, e));
        }
    }

    #[test]
    fn healthy_is_the_four_field_check() {
        // The one-compare check agrees with its definition field by field, for
        // words of every state built from overlapping bit patterns.
        let by_fields = |w: Snapshot, epoch: u32| {
            w.state().measures()
                && w.epoch() == epoch
                && w.health() == HEALTH_FULL
                && w.samples() == 0
        };
        let epochs = [0, 1, 5, EPOCH_MAX];
        let mins = [0, 1, 5, SAMPLES_MAX];
        let mut words = Vec::new();
        for &e in &epochs {
            for h in [0, HEALTH_FULL - 1, HEALTH_FULL] {
                for &m in &mins {
                    for g in [0, 1, 31] {
                        words.push(Snapshot::closed(e, h, m).with_generation(g));
                        words.push(Snapshot::disabled(e, h, m).with_generation(g));
                    }
                }
                words.push(Snapshot::open(e, 0, h));
                words.push(Snapshot::open(e, REOPEN_MAX, h));
            }
            for i in [0, 1, HALF_OPEN_MAX] {
                words.push(Snapshot::half_open(e, 0, i, HALF_OPEN_MAX));
            }
            words.push(Snapshot::forced_open(e));
        }
        let mut healthy = 0;
        let base = Snapshot::healthy_base();
        for &w in &words {
            assert_eq!(w.is_healthy(base), by_fields(w, w.epoch()), "{w:?}");
            healthy += usize::from(w.is_healthy(base));
        }
        // Closed and Disabled at full health with 0 samples, for each epoch and
        // decay generation.
        assert_eq!(healthy, 2 * 3 * epochs.len());

        // A ticket: a whole one is a no-op exactly against its own word; an epoch
        // one against no word at all; both keep their epoch.
        for &w in &words {
            for &e in &epochs {
                let t = Ticket::of_epoch(e);
                assert_eq!(t.epoch(), e);
                assert!(!t.success_is_noop(w), "{t:?} against {w:?}");
            }
            assert_eq!(Ticket::whole(w).epoch(), w.epoch());
            assert_ne!(Ticket::whole(w), Ticket::SPENT);
            assert_ne!(Ticket::of_epoch(w.epoch()), Ticket::SPENT);
            assert!(!Ticket::SPENT.success_is_noop(w));
            for &other in &words {
                assert_eq!(Ticket::whole(w).success_is_noop(other), w == other);
            }
        }
    }

    #[test]
    fn epoch_wraps() {
        let w = Snapshot::closed(EPOCH_MAX, HEALTH_FULL, 0);
        assert_eq!(w.next_epoch(), 0);
        assert_eq!(Snapshot::closed(7, 0, 0).next_epoch(), 8);
        assert_eq!(EPOCH_BITS, 24);
        // Wraps at 2^24 and not before: every bit of the field carries.
        for bit in 0..EPOCH_BITS - 1 {
            let e = (1u32 << (bit + 1)) - 1;
            assert_eq!(
                Snapshot::closed(e, 0, 0).next_epoch(),
                e + 1,
                "2^{} - 1",
                bit + 1
            );
            assert_eq!(Snapshot::open(e + 1, 0, 0).epoch(), e + 1);
        }
        assert_eq!(EPOCH_MAX, (1 << 24) - 1);
        assert_eq!(Snapshot::half_open(EPOCH_MAX, 1, 0, 0).next_epoch(), 0);
    }

    #[test]
    fn deadline_word_round_trips_and_saturates() {
        for e in [0, 1, EPOCH_MAX] {
            for d in [0, 1, 5_000, DEADLINE_MAX_MS] {
                let w = DeadlineWord::new(e, d);
                assert_eq!((w.tag(), w.deadline_ms()), (e, d));
                assert_eq!(w.for_epoch(e), Some(d));
                assert_eq!(w.for_epoch(e ^ 1), None);
                assert_eq!(DeadlineWord::from_raw(w.raw()), w);
            }
        }
        assert_eq!(
            DeadlineWord::new(3, u64::MAX).deadline_ms(),
            DEADLINE_MAX_MS
        );
        // Saturates rather than wrapping: past the field, low bits are not kept.
        assert_eq!(DEADLINE_MAX_MS, (1 << 40) - 1);
        for past in [1 << 40, (1 << 40) + 5, (1 << 41) + 12_345, 1 << 63] {
            let w = DeadlineWord::new(9, past);
            assert_eq!((w.tag(), w.deadline_ms()), (9, DEADLINE_MAX_MS), "{past}");
        }
    }

    #[test]
    fn mark_words_round_trip_and_read_against_the_state_word() {
        let gens = [0, 1, 30, 31];
        for &e in &[0, 1, 0xffff, 0x1_0000, EPOCH_MAX] {
            for &g in &gens {
                let s = Snapshot::closed(e, HEALTH_FULL / 2, 3).with_generation(g);
                assert_eq!(s.generation(), g);
                assert_eq!(
                    (s.epoch(), s.health(), s.samples()),
                    (e, HEALTH_FULL / 2, 3)
                );
                let next = s.next_generation();
                assert_eq!(next, (g + 1) % 32, "generations wrap");
                for mark in [0, 1, 77, MARK_MAX - 1, MARK_MAX] {
                    let w = MarkWord::settled(e, g, mark);
                    assert!(w.belongs_to(e) && !w.belongs_to(e.wrapping_add(1) & EPOCH_MAX));
                    assert_eq!(MarkWord::from_raw(w.raw()), w);
                    // A settled mark is whole, wherever the reader's clock is.
                    for now in [0, mark, MARK_MAX] {
                        let view = MarkView::Current {
                            mark,
                            settle: false,
                        };
                        assert_eq!(w.view(s, now), view, "{w:?}");
                    }
                    // A state word of another generation reads it as behind.
                    let other = s.with_generation(next);
                    assert_eq!(w.view(other, mark), MarkView::Behind);
                    // A word of another epoch: no mark.
                    let later = Snapshot::closed(e.wrapping_add(1) & EPOCH_MAX, 0, 0);
                    assert_eq!(w.view(later, mark), MarkView::Unmarked);
                }
                for (interval, end) in [(1, 1), (64, 5_000), (MARK_INTERVAL_MAX, 1 << 40)] {
                    let w = MarkWord::pending(e, next, interval, end);
                    assert_eq!(MarkWord::from_raw(w.raw()), w);
                    // Claimed for the next generation: pending for `s`...
                    assert_eq!(w.view(s, end), MarkView::Pending { interval, end });
                    // ...read back near any clock within 2^30 ticks either way...
                    for now in [end + 1, end + (1 << 30) - 1, end.saturating_sub(1 << 29)] {
                        assert_eq!(w.view(s, now), MarkView::Pending { interval, end });
                    }
                    // ...and absorbed (the mark is its end) for the next word.
                    let absorbed = s.with_generation(next);
                    let current = MarkView::Current {
                        mark: end,
                        settle: true,
                    };
                    assert_eq!(w.view(absorbed, end + 3), current);
                    // Two generations on: behind.
                    let two = absorbed.with_generation(absorbed.next_generation());
                    assert_eq!(w.view(two, end), MarkView::Behind);
                }
            }
        }
        // Intervals are capped; marks saturate.
        let s = Snapshot::closed(9, 0, 1);
        let w = MarkWord::pending(9, 1, u64::MAX, 10);
        assert_eq!(
            w.view(s, 10),
            MarkView::Pending {
                interval: MARK_INTERVAL_MAX,
                end: 10
            }
        );
        let w = MarkWord::settled(9, 0, u64::MAX);
        assert_eq!(
            w.view(s, 0),
            MarkView::Current {
                mark: MARK_MAX,
                settle: false
            }
        );
        // A deadline word (of an `Open` epoch) belongs to no measuring epoch
        // but its own, whose low 16 bits it shares.
        let d = DeadlineWord::new(0x12_3456, 99);
        assert!(MarkWord::from_raw(d.raw()).belongs_to(0x12_3456));
        assert!(!MarkWord::from_raw(d.raw()).belongs_to(0x12_3457));
    }

    #[test]
    fn unwrap_near_reads_back_within_half_the_field() {
        for now in [0, 1, 1 << 31, 1 << 40, MARK_MAX] {
            for delta in [0, 1, 12_345, (1 << 30) - 1] {
                let behind = now.saturating_sub(delta);
                assert_eq!(unwrap_near(behind & MARK_END.max(), MARK_END, now), behind);
                let ahead = now + delta;
                assert_eq!(unwrap_near(ahead & MARK_END.max(), MARK_END, now), ahead);
            }
        }
    }

    #[test]
    fn floor_word_round_trips_and_saturates() {
        // The largest cap a budget accepts (see `budget.rs`): 16,000 tokens.
        let largest_cap = 16_000 * 1000;
        for b in [0, 1, 999, largest_cap] {
            for t in [0, 1, 123_456, FLOOR_REFILLED_MAX_MS] {
                let w = FloorWord::new(b, t);
                assert_eq!((w.balance_milli(), w.refilled_ms()), (b, t));
                assert_eq!(FloorWord::from_raw(w.raw()), w);
            }
        }
        assert_eq!(FLOOR_REFILLED_MAX_MS, (1 << 40) - 1);
        let w = FloorWord::new(largest_cap, u64::MAX);
        assert_eq!(
            (w.balance_milli(), w.refilled_ms()),
            (largest_cap, FLOOR_REFILLED_MAX_MS)
        );
        let s = format!("{w:?}");
        assert!(
            s.contains("balance_milli: 16000000") && s.contains("refilled_ms"),
            "{s}"
        );
    }

    #[test]
    fn debug_prints_decoded_fields() {
        let s = format!("{:?}", Snapshot::half_open(3, 1, 2, 0));
        assert!(
            s.contains("HalfOpen") && s.contains("in_flight: 2") && s.contains("raw"),
            "{s}"
        );
    }
}
