//! Differential harness for `fusebox::Breaker`: decode bytes into a breaker
//! configuration and a sequence of operations, run them on the real breaker
//! (driven by a `ManualClock`, no jitter) and on an independent reference model
//! written from the specification, and assert after every operation that both
//! agree on everything observable.
//!
//! This file is a plain module with no libFuzzer dependency. It is included by
//! the cargo-fuzz target (`fuzz/fuzz_targets/breaker_ops.rs`) and by the replay
//! test of the main crate (`tests/fuzz_replay.rs`), both with `#[path]`.
//!
//! # Input format
//!
//! The first [`HEADER_LEN`] bytes are the configuration (missing bytes read as 0):
//!
//! | byte | meaning |
//! | --- | --- |
//! | 0 | tripping mode, `% 3`: 0 consecutive failures, 1 failure rate, 2 manual `health` |
//! | 1 | consecutive: `n = 1 + b % 8`; rate: `RATES[b % len]`; manual: `ALPHAS[b % len]` |
//! | 2 | rate: `WINDOWS[b % len]`; manual: `THRESHOLDS[b % len]` |
//! | 3 | manual: `min_samples = b % 9` |
//! | 4 | `open_for = 1 + b % 50` ms |
//! | 5 | `open_growth = GROWTHS[b % 4]`; `half_life = HALF_LIVES_NS[(b >> 2) % 16]`; `slow_call = SLOW_CALLS[b >> 6]` |
//! | 6 | `open_cap = open_for + CAP_EXTRA_MS[b % 8]` ms; `shed_below = SHEDS[b >> 3]` |
//! | 7 | `probes = 1 + b % 3`, `close_after = 1 + (b / 3) % 3`, `probe_timeout = PROBE_TIMEOUTS[(b / 9) % len]` |
//! | 8 | clock start: `STARTS[b % 8]` ns; `min_admit = MIN_ADMITS[b >> 3]` |
//! | 9 | sub-millisecond part of `open_for`: `SUB_MS_NS[b % len]` ns |
//!
//! Format change (time decay and graded admission): `half_life`, `slow_call`,
//! `shed_below` and `min_admit` come from the high bits of bytes 5, 6 and 8, which
//! the older format ignored (`% 4` and `% 8` read only the low bits). So every old
//! input still decodes, with every old field meaning what it meant; its high bits
//! now also pick the new settings, and entry 0 of each new table (all high bits
//! clear, as in the hand-written seeds) is half-life 5 s, no slow-call threshold,
//! graded admission off and `min_admit` 0.05. The breaker is built with
//! `.jitter_seed(seed_of(header))` (a fold of the header bytes), so the model
//! knows the sequence of graded-admission draws.
//!
//! Then operations, each an opcode byte (`% 16`, see [`Op::decode`]) followed by
//! its argument bytes. An operation whose argument bytes run past the end of the
//! input reads zeros; decoding stops when no opcode byte is left (or after
//! [`MAX_OPS`] operations).

// The reference model and the configuration header, shared with the retry harness.
#[allow(dead_code)] // each harness uses its own part of the model
#[path = "breaker_model.rs"]
mod breaker_model;

use breaker_model::*;
pub use breaker_model::{HEADER_LEN, Header, MState};
use fusebox::{Breaker, ManualClock, Permit, Recorded, Rejected, Transition, Verdict};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---------------------------------------------------------------------------
// Constants of the input format.
// ---------------------------------------------------------------------------

/// Live (unrecorded) permits kept at once; an acquire beyond this drops its
/// permit immediately.
pub const MAX_LIVE: usize = 16;
/// Operations decoded at most from one input.
pub const MAX_OPS: usize = 8192;
/// Failure weights.
pub const WEIGHTS: [f64; 16] = [
    1.0,
    0.5,
    2.0,
    0.0,
    -1.0,
    f64::NAN,
    f64::INFINITY,
    1e9,
    1e-12,
    0.25,
    3.0,
    -0.0,
    f64::NEG_INFINITY,
    1000.0,
    f64::MIN_POSITIVE,
    0.999_999,
];
const YEAR_NS: u64 = 365 * 86_400 * 1_000_000_000;
/// Large clock advances, in nanoseconds (up to and past the 40-bit millisecond
/// deadline range, and up to the clock's own saturation).
pub const BIG_NS: [u64; 10] = [
    1_000_000_000,
    60_000_000_000,
    3_600_000_000_000,
    86_400_000_000_000,
    YEAR_NS,
    10 * YEAR_NS,
    34 * YEAR_NS,
    DEADLINE_MAX_MS * NS_PER_MS,
    100 * YEAR_NS,
    u64::MAX,
];
/// How long a timed report's attempt took (see [`elapsed_of`]; entry 0 is
/// unused: it means an untimed `record`).
pub const ELAPSED: [Duration; 16] = [
    Duration::ZERO,
    Duration::ZERO,
    Duration::from_nanos(999_999),
    Duration::from_millis(1),
    Duration::from_nanos(NS_PER_MS + 1),
    Duration::from_millis(5),
    Duration::from_nanos(5 * NS_PER_MS + 1),
    Duration::from_nanos(5 * NS_PER_MS + 2),
    Duration::from_millis(10),
    Duration::from_nanos(10 * NS_PER_MS + 1),
    Duration::from_millis(50),
    Duration::from_secs(1),
    Duration::from_nanos(MAX_PERIOD_NS),
    Duration::from_nanos(u64::MAX),
    Duration::MAX,
    Duration::from_millis(2),
];

/// One operation of the input.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    /// `try_acquire`; keep the permit (dropped at once when [`MAX_LIVE`] are kept).
    Acquire,
    /// Record verdict code `verdict` (see [`verdict_of`]) on live permit `slot % len`.
    Record {
        /// Permit index (modulo the live count).
        slot: u8,
        /// Verdict code.
        verdict: u8,
    },
    /// Drop live permit `slot % len` unrecorded.
    Drop {
        /// Permit index (modulo the live count).
        slot: u8,
    },
    /// `try_acquire` and, if admitted, record `verdict` at once.
    AcquireRecord {
        /// Verdict code.
        verdict: u8,
    },
    /// Advance the clock by this many milliseconds.
    AdvanceMs(u8),
    /// Advance the clock by this many nanoseconds (`< 1 ms`).
    AdvanceNs(u32),
    /// Advance the clock by `BIG_NS[i % len]`.
    AdvanceBig(u8),
    /// Rewind the clock by this many milliseconds.
    RewindMs(u8),
    /// Rewind the clock by this many nanoseconds (`< 1 ms`).
    RewindNs(u32),
    /// Set the clock to a reading from a small table (see `set_clock_target`).
    SetClock(u8),
    /// If the model is open: set the clock so that the elapsed time is the open
    /// deadline plus `b - 128` nanoseconds. Otherwise nothing.
    NearDeadline(u8),
    /// `force_open`.
    ForceOpen,
    /// `disable`.
    Disable,
    /// `reset`.
    Reset,
    /// `snapshot` (compared after every operation anyway).
    Snapshot,
}

/// Reads bytes, yielding zeros past the end.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn sub_ms(&mut self) -> u32 {
        let v = u32::from(self.byte()) | u32::from(self.byte()) << 8 | u32::from(self.byte()) << 16;
        v % 1_000_000
    }
}

impl Op {
    fn decode(r: &mut Reader<'_>) -> Op {
        match r.byte() % 16 {
            0 => Op::Acquire,
            1 | 15 => Op::Record {
                slot: r.byte(),
                verdict: r.byte(),
            },
            2 => Op::Drop { slot: r.byte() },
            3 => Op::AcquireRecord { verdict: r.byte() },
            4 => Op::AdvanceMs(r.byte()),
            5 => Op::AdvanceNs(r.sub_ms()),
            6 => Op::AdvanceBig(r.byte()),
            7 => Op::RewindMs(r.byte()),
            8 => Op::RewindNs(r.sub_ms()),
            9 => Op::SetClock(r.byte()),
            10 => Op::NearDeadline(r.byte()),
            11 => Op::ForceOpen,
            12 => Op::Disable,
            13 => Op::Reset,
            _ => Op::Snapshot,
        }
    }

    #[allow(dead_code)] // used by tests/fuzz_replay.rs, not by the fuzz target
    fn encode(&self, out: &mut Vec<u8>) {
        let sub_ms = |out: &mut Vec<u8>, code: u8, ns: u32| {
            assert!(ns < 1_000_000, "sub-ms amount {ns} out of range");
            out.extend_from_slice(&[code, ns as u8, (ns >> 8) as u8, (ns >> 16) as u8]);
        };
        match *self {
            Op::Acquire => out.push(0),
            Op::Record { slot, verdict } => out.extend_from_slice(&[1, slot, verdict]),
            Op::Drop { slot } => out.extend_from_slice(&[2, slot]),
            Op::AcquireRecord { verdict } => out.extend_from_slice(&[3, verdict]),
            Op::AdvanceMs(ms) => out.extend_from_slice(&[4, ms]),
            Op::AdvanceNs(ns) => sub_ms(out, 5, ns),
            Op::AdvanceBig(i) => out.extend_from_slice(&[6, i]),
            Op::RewindMs(ms) => out.extend_from_slice(&[7, ms]),
            Op::RewindNs(ns) => sub_ms(out, 8, ns),
            Op::SetClock(i) => out.extend_from_slice(&[9, i]),
            Op::NearDeadline(b) => out.extend_from_slice(&[10, b]),
            Op::ForceOpen => out.push(11),
            Op::Disable => out.push(12),
            Op::Reset => out.push(13),
            Op::Snapshot => out.push(14),
        }
    }
}

/// Verdict codes for [`Op::Record`] and [`Op::AcquireRecord`]: `v % 4` is 0
/// Success, 1 `Failure { weight: WEIGHTS[(v / 4) % 16] }`, 2 Ignored, 3 a unit
/// failure. For codes 0, 2 and 3, `(v / 4) % 16` is 0 for a plain `record`, and
/// otherwise picks how long the attempt took for `record_timed` (see
/// [`elapsed_of`]; the older format ignored those bits).
pub fn verdict_of(v: u8) -> Verdict {
    match v % 4 {
        0 => Verdict::Success,
        1 => Verdict::Failure {
            weight: WEIGHTS[usize::from(v / 4) % WEIGHTS.len()],
        },
        2 => Verdict::Ignored,
        _ => Verdict::Failure { weight: 1.0 },
    }
}

/// For a verdict code (see [`verdict_of`]): `Some(elapsed)` when the report is
/// `record_timed(verdict, elapsed)`, `None` for a plain `record`.
pub fn elapsed_of(v: u8) -> Option<Duration> {
    let i = usize::from(v / 4) % ELAPSED.len();
    (v % 4 != 1 && i != 0).then(|| ELAPSED[i])
}

/// Verdict code: a timed report of `verdict` (0 success, 2 ignored, 3 unit failure)
/// that took `ELAPSED[i]` (`i` in 1..16).
#[allow(dead_code)]
pub const fn timed(verdict: u8, i: u8) -> u8 {
    assert!(verdict != 1 && verdict < 4 && i > 0 && i < 16);
    verdict + 4 * i
}

/// Verdict code: success.
#[allow(dead_code)]
pub const SUCCESS: u8 = 0;
/// Verdict code: ignored.
#[allow(dead_code)]
pub const IGNORED: u8 = 2;
/// Verdict code: unit failure.
#[allow(dead_code)]
pub const FAILURE: u8 = 3;

/// Verdict code: a failure of weight `WEIGHTS[i]`.
#[allow(dead_code)]
pub const fn weighted(i: u8) -> u8 {
    1 + 4 * (i % 16)
}

/// Encode a header and operations into an input for [`run`].
#[allow(dead_code)] // used by tests/fuzz_replay.rs, not by the fuzz target
pub fn encode(header: Header, ops: &[Op]) -> Vec<u8> {
    let mut out = header.bytes().to_vec();
    for op in ops {
        op.encode(&mut out);
    }
    out
}

// ---------------------------------------------------------------------------
// Driving both.
// ---------------------------------------------------------------------------

/// What one run went through (for checking that seeds cover what they claim).
#[allow(dead_code)] // read by tests/fuzz_replay.rs, not by the fuzz target
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    /// Operations run.
    pub ops: usize,
    /// Bit `from * 5 + to` for every transition seen (states indexed Closed,
    /// Open, HalfOpen, ForcedOpen, Disabled).
    pub transitions: u32,
    /// Largest re-open count seen.
    pub max_reopens: u32,
    /// Longest open period entered.
    pub max_open_for: Duration,
    /// Stale reports at the end.
    pub stale_reports: u64,
    /// Permits dropped unrecorded while holding a probe slot.
    pub dropped_probes: u32,
    /// Clock operations that moved the elapsed time backwards.
    pub rewinds: u32,
    /// Acquires rejected because open / forced open / probes busy.
    pub rejected_open: u32,
    /// See `rejected_open`.
    pub rejected_forced: u32,
    /// See `rejected_open`.
    pub rejected_busy: u32,
    /// Whether an open deadline saturated at 2^40 - 1 ms.
    pub deadline_saturated: bool,
    /// Successes that brought health from below full back to exactly full.
    pub recovered_to_full: u32,
    /// Whether the configuration was (rightly) rejected by the builder.
    pub rejected_config: bool,
    /// Acquires shed by graded admission.
    pub shed: u32,
    /// Acquires admitted by a graded-admission draw.
    pub graded_admits: u32,
    /// Reports that claimed (and applied) at least one decay tick below full health.
    pub decay_claims: u32,
    /// Decay marks started over an open deadline or a probe lease of another epoch.
    pub marks_over_deadline: u32,
    /// Snapshots whose health time alone had brought back to full (stored below).
    pub decayed_to_full: u32,
    /// Checks of "21 half-lives without a report: full health" where the stored
    /// health was below full (time did the work).
    pub quiet_full_checks: u32,
    /// Timed successes slower than the slow-call threshold (recorded as failures).
    pub slow_successes: u32,
    /// Timed reports that stayed as they were.
    pub timed_unchanged: u32,
    /// Whether a decay mark reached the end of its range (time in ticks stopped).
    pub mark_saturated: bool,
    /// `disable` from a `Closed` breaker whose health time had moved since it was
    /// stored (it carries the decayed health).
    pub disabled_decayed: u32,
    /// `reset` on a `Closed` breaker stored below full health that time had
    /// brought back to full (a no-op).
    pub reset_decayed_noop: u32,
    /// Operations after which the shadow breaker's concurrency limit was engaged.
    pub limit_engaged: u32,
    /// Acquires the shadow's limit refused.
    pub limit_refusals: u32,
}

#[allow(dead_code)] // used by tests/fuzz_replay.rs, not by the fuzz target
impl Summary {
    /// Whether a transition `from -> to` was seen.
    pub fn saw(&self, from: MState, to: MState) -> bool {
        self.transitions & (1 << (from.index() * 5 + to.index())) != 0
    }
}

struct Driver<'b> {
    cfg: Config,
    breaker: &'b Breaker,
    clock: ManualClock,
    /// The clock reading, tracked independently of the clock.
    now_ns: u64,
    heard: Arc<Mutex<Vec<Transition>>>,
    model: Model,
    live: Vec<(Permit<'b>, u32)>,
    summary: Summary,
    /// The spec's bound on successes that restore full health.
    to_full: u64,
    /// Consecutive successes applied in a measuring state, in `streak_epoch`.
    successes_in_a_row: u64,
    streak_epoch: u32,
    /// The latest elapsed time (ns) at which a report was applied in a measuring
    /// epoch, with that epoch (for the "21 quiet half-lives" invariant).
    last_report: Option<(u32, u64)>,
    /// 21 half-lives (`Breaker::half_life`), in nanoseconds.
    quiet_ns: u128,
    /// The shadow: the same configuration with the adaptive concurrency limit
    /// on (bounds 1..=4, so it binds), on the same clock, given the same
    /// operations. The reference model does not model the limit (the breaker
    /// above has it off); the shadow is checked against the limit's invariants
    /// instead (see `check_shadow`).
    shadow: &'b Breaker,
    shadow_live: Vec<Permit<'b>>,
}

impl<'b> Driver<'b> {
    fn observe_acquire(real: &Result<Permit<'_>, Rejected>) -> Acq {
        Acq::of(real, Permit::epoch)
    }

    fn observe_record(real: Recorded) -> Rec {
        Rec::of(real)
    }

    /// Acquire on both sides; compare; return the admitted permit and its epoch.
    fn acquire(&mut self, step: usize, op: &Op) -> Option<(Permit<'b>, u32)> {
        let real = self.breaker.try_acquire();
        let expected = self.model.acquire(self.now_ns);
        let observed = Self::observe_acquire(&real);
        assert_eq!(
            observed, expected,
            "try_acquire disagrees at op #{step} {op:?}; config {:?}",
            self.cfg
        );
        if self.model.last_stored {
            // The breaker reported a decay to itself: a report for the quiet check.
            self.note_report(self.model.epoch);
        }
        match (real, expected) {
            (Ok(permit), Acq::Admit(epoch)) => {
                if self.model.last_drew {
                    self.summary.graded_admits += 1;
                }
                Some((permit, epoch))
            }
            (_, Acq::Reject(rej)) => {
                match rej {
                    Rej::Open(_) => self.summary.rejected_open += 1,
                    Rej::Forced => self.summary.rejected_forced += 1,
                    Rej::Busy => self.summary.rejected_busy += 1,
                    Rej::Shed => self.summary.shed += 1,
                }
                None
            }
            (Err(_), Acq::Admit(_)) => unreachable!("compared equal above"),
        }
    }

    fn record(&mut self, step: usize, op: &Op, permit: Permit<'b>, epoch: u32, code: u8) {
        let reported = verdict_of(code);
        let (observed, verdict) = match elapsed_of(code) {
            None => (permit.record(reported), reported),
            Some(elapsed) => {
                let verdict = self.model.timed_verdict(reported, elapsed);
                if verdict == reported {
                    self.summary.timed_unchanged += 1;
                } else {
                    self.summary.slow_successes += 1;
                }
                (permit.record_timed(reported, elapsed), verdict)
            }
        };
        let observed = Self::observe_record(observed);
        let health_before = self.model.health;
        let measuring = matches!(self.model.state, MState::Closed | MState::Disabled);
        let expected = self.model.record(self.now_ns, epoch, verdict);
        assert_eq!(
            observed,
            expected,
            "record({reported:?}, timed {:?}) of a permit of epoch {epoch} disagrees at op #{step} {op:?}; config {:?}",
            elapsed_of(code),
            self.cfg
        );
        let claim = self.model.last_claim;
        if claim.ticks > 0 && health_before < FULL {
            self.summary.decay_claims += 1;
        }
        if claim.started && claim.over_deadline {
            self.summary.marks_over_deadline += 1;
        }
        if measuring && expected != Rec::Stale {
            self.note_report(epoch);
        }
        self.check_convergence(step, op, measuring, verdict, health_before, expected);
    }

    /// A report applied now in the measuring epoch `epoch` (for the quiet check).
    /// Its time is now, or the decay mark if the clock has gone back behind it:
    /// the breaker's time never runs backwards, so a report lands at the mark.
    fn note_report(&mut self, epoch: u32) {
        let mark_ns = match (self.model.word_kind, self.model.word_of_epoch()) {
            (WordKind::Mark, Some(mark)) => mark.saturating_mul(self.model.tick_ns),
            _ => 0,
        };
        let elapsed = self.model.elapsed(self.now_ns).max(mark_ns);
        self.last_report = Some(match self.last_report {
            Some((e, t)) if e == epoch => (e, t.max(elapsed)),
            _ => (epoch, elapsed),
        });
    }

    /// The decay promise: in a measuring state, once 21 half-lives have passed
    /// since the latest report applied in this epoch (and time in ticks has not
    /// reached the end of its range), health is exactly full with no samples,
    /// whatever came before. (Without any report in the epoch there is nothing to
    /// check: health is full, or was carried over by `disable`.)
    fn check_quiet(&mut self, step: usize, op: &Op, snapshot: &Snap) {
        let measuring = matches!(self.model.state, MState::Closed | MState::Disabled);
        let Some((epoch, at)) = self.last_report else {
            return;
        };
        let elapsed = self.model.elapsed(self.now_ns);
        if !measuring
            || epoch != self.model.epoch
            || u128::from(elapsed) < u128::from(at) + self.quiet_ns
            || elapsed / self.model.tick_ns >= MARK_MAX_TICKS
        {
            return;
        }
        assert_eq!(
            (snapshot.health_bits, snapshot.samples),
            (Some(1.0f64.to_bits()), 0),
            "health not full 21 half-lives after the last report (at {at} ns, now {elapsed} ns) at op #{step} {op:?}; config {:?}",
            self.cfg
        );
        if self.model.health < FULL {
            self.summary.quiet_full_checks += 1;
        }
    }

    /// The convergence promise: after `to_full` consecutive successes in a
    /// measuring state, health is exactly full (whatever came before), so the
    /// healthy fast path is back.
    fn check_convergence(
        &mut self,
        step: usize,
        op: &Op,
        measuring: bool,
        verdict: Verdict,
        health_before: u64,
        outcome: Rec,
    ) {
        if self.model.epoch != self.streak_epoch {
            self.streak_epoch = self.model.epoch;
            self.successes_in_a_row = 0;
        }
        if !measuring || outcome == Rec::Stale {
            return;
        }
        match verdict {
            Verdict::Success => {
                self.successes_in_a_row += 1;
                if health_before < FULL && self.model.health == FULL {
                    self.summary.recovered_to_full += 1;
                }
            }
            Verdict::Failure { weight } if clamped_weight(weight) > 0.0 => {
                self.successes_in_a_row = 0;
            }
            _ => {}
        }
        if self.successes_in_a_row >= self.to_full {
            assert_eq!(
                self.model.health, FULL,
                "health not full after {} successes in a row (bound {}) at op #{step} {op:?}; config {:?}",
                self.successes_in_a_row, self.to_full, self.cfg
            );
        }
    }

    fn drop_permit(&mut self, permit: Permit<'b>, epoch: u32) {
        if self.model.state == MState::HalfOpen && self.model.epoch == epoch {
            self.summary.dropped_probes += 1;
        }
        drop(permit);
        self.model.cancel(epoch);
    }

    fn operator(
        &mut self,
        step: usize,
        op: &Op,
        real: Option<Transition>,
        expected: Option<Trans>,
    ) {
        if expected.is_some() {
            self.successes_in_a_row = 0;
        }
        assert_eq!(
            real.as_ref().map(Trans::of),
            expected,
            "operator transition disagrees at op #{step} {op:?}; config {:?}",
            self.cfg
        );
    }

    fn set_clock(&mut self, to: u64) {
        let before = self.model.elapsed(self.now_ns);
        self.now_ns = to;
        self.clock.set(Duration::from_nanos(to));
        if self.model.elapsed(self.now_ns) < before {
            self.summary.rewinds += 1;
        }
    }

    fn advance(&mut self, by: u64) {
        let before = self.now_ns;
        self.now_ns = self.now_ns.saturating_add(by);
        self.clock.advance(Duration::from_nanos(by));
        debug_assert!(self.now_ns >= before);
    }

    fn rewind(&mut self, by: u64) {
        let before = self.model.elapsed(self.now_ns);
        self.now_ns = self.now_ns.saturating_sub(by);
        self.clock.rewind(Duration::from_nanos(by));
        if self.model.elapsed(self.now_ns) < before {
            self.summary.rewinds += 1;
        }
    }

    fn set_clock_target(&self, i: u8) -> u64 {
        let start = self.cfg.start_ns;
        let max_deadline_ns = DEADLINE_MAX_MS * NS_PER_MS;
        match i % 8 {
            0 => 0,
            1 => start,
            2 => start.saturating_add(max_deadline_ns - 1),
            3 => start.saturating_add(max_deadline_ns),
            4 => start.saturating_add(max_deadline_ns + NS_PER_MS),
            5 => u64::MAX,
            6 => start.saturating_add(NS_PER_MS),
            _ => start.saturating_add(NS_PER_MS - 1),
        }
    }

    /// The same operation on the shadow (its refusals and outcomes are its own).
    fn apply_shadow(&mut self, op: &Op) {
        let shadow = self.shadow;
        let acquire = |this: &mut Self| match shadow.try_acquire() {
            Ok(p) => Some(p),
            Err(Rejected::LimitReached { retry_after }) => {
                assert!(
                    shadow.limit().engaged,
                    "refused by a disengaged limit: {:?}",
                    shadow.limit()
                );
                assert!(retry_after.is_some_and(|d| d >= Duration::from_millis(1)));
                this.summary.limit_refusals += 1;
                None
            }
            Err(_) => None,
        };
        let report = |p: Permit<'b>, code: u8| match elapsed_of(code) {
            None => {
                let _ = p.record(verdict_of(code));
            }
            Some(elapsed) => {
                let _ = p.record_timed(verdict_of(code), elapsed);
            }
        };
        match *op {
            Op::Acquire => {
                if let Some(p) = acquire(self) {
                    if self.shadow_live.len() < MAX_LIVE {
                        self.shadow_live.push(p);
                    }
                }
            }
            Op::Record { slot, verdict } if !self.shadow_live.is_empty() => {
                let i = usize::from(slot) % self.shadow_live.len();
                report(self.shadow_live.remove(i), verdict);
            }
            Op::Drop { slot } if !self.shadow_live.is_empty() => {
                let i = usize::from(slot) % self.shadow_live.len();
                drop(self.shadow_live.remove(i));
            }
            Op::AcquireRecord { verdict } => {
                if let Some(p) = acquire(self) {
                    report(p, verdict);
                }
            }
            Op::ForceOpen => {
                let _ = shadow.force_open();
            }
            Op::Disable => {
                let _ = shadow.disable();
            }
            Op::Reset => {
                let _ = shadow.reset();
            }
            // The clock is shared: the main breaker's operation moved it.
            _ => {}
        }
    }

    /// The limit's invariants on the shadow: never more slots in use than live
    /// permits, the limit within its bounds, and (checked at the end, once every
    /// permit is gone) no slot held.
    fn check_shadow(&mut self, step: usize, op: &Op) {
        let l = self.shadow.limit();
        assert!(
            l.in_flight as usize <= self.shadow_live.len(),
            "{} slots held by {} live permits after op #{step} {op:?}: {l:?}; config {:?}",
            l.in_flight,
            self.shadow_live.len(),
            self.cfg
        );
        assert!(
            !l.engaged || (1..=4).contains(&l.limit),
            "limit out of bounds after op #{step} {op:?}: {l:?}"
        );
        self.summary.limit_engaged += u32::from(l.engaged);
    }

    fn apply(&mut self, step: usize, op: &Op) {
        self.apply_shadow(op);
        match *op {
            Op::Acquire => {
                if let Some((permit, epoch)) = self.acquire(step, op) {
                    if self.live.len() < MAX_LIVE {
                        self.live.push((permit, epoch));
                    } else {
                        self.drop_permit(permit, epoch);
                    }
                }
            }
            Op::Record { slot, verdict } => {
                if !self.live.is_empty() {
                    let (permit, epoch) = self.live.remove(usize::from(slot) % self.live.len());
                    self.record(step, op, permit, epoch, verdict);
                }
            }
            Op::Drop { slot } => {
                if !self.live.is_empty() {
                    let (permit, epoch) = self.live.remove(usize::from(slot) % self.live.len());
                    self.drop_permit(permit, epoch);
                }
            }
            Op::AcquireRecord { verdict } => {
                if let Some((permit, epoch)) = self.acquire(step, op) {
                    self.record(step, op, permit, epoch, verdict);
                }
            }
            Op::AdvanceMs(ms) => self.advance(u64::from(ms) * NS_PER_MS),
            Op::AdvanceNs(ns) => self.advance(u64::from(ns)),
            Op::AdvanceBig(i) => self.advance(BIG_NS[usize::from(i) % BIG_NS.len()]),
            Op::RewindMs(ms) => self.rewind(u64::from(ms) * NS_PER_MS),
            Op::RewindNs(ns) => self.rewind(u64::from(ns)),
            Op::SetClock(i) => {
                let to = self.set_clock_target(i);
                self.set_clock(to);
            }
            Op::NearDeadline(b) => {
                if self.model.state == MState::Open {
                    let target = i128::from(self.model.deadline_ms()) * i128::from(NS_PER_MS)
                        + (i128::from(b) - 128);
                    let elapsed = target.max(0) as u64;
                    self.set_clock(self.cfg.start_ns.saturating_add(elapsed));
                }
            }
            Op::ForceOpen => {
                let real = self.breaker.force_open();
                let expected = self.model.force_open();
                self.operator(step, op, real, expected);
            }
            Op::Disable => {
                if self.model.state == MState::Closed
                    && self.model.decayed(self.now_ns) != (self.model.health, self.model.samples)
                {
                    self.summary.disabled_decayed += 1;
                }
                let real = self.breaker.disable();
                let expected = self.model.disable(self.now_ns);
                self.operator(step, op, real, expected);
            }
            Op::Reset => {
                if self.model.state == MState::Closed
                    && self.model.health < FULL
                    && self.model.decayed(self.now_ns) == (FULL, 0)
                {
                    self.summary.reset_decayed_noop += 1;
                }
                let real = self.breaker.reset();
                let expected = self.model.reset(self.now_ns);
                self.operator(step, op, real, expected);
            }
            Op::Snapshot => {}
        }
    }

    /// Compare everything observable after an operation.
    fn check(&mut self, step: usize, op: &Op) {
        self.check_shadow(step, op);
        assert_eq!(
            self.clock.now(),
            Duration::from_nanos(self.now_ns),
            "ManualClock reading disagrees at op #{step} {op:?}"
        );
        let s = self.breaker.snapshot();
        let observed = Snap::of(&s, self.breaker.stale_reports());
        let expected = self.model.snapshot(self.now_ns);
        assert_eq!(
            observed,
            expected,
            "snapshot disagrees after op #{step} {op:?} (health real {:?}, model {:?}; elapsed {} ns); config {:?}",
            s.health,
            expected.health_bits.map(f64::from_bits),
            self.model.elapsed(self.now_ns),
            self.cfg
        );

        // `rejects_for` (read-only): around the time left until an open deadline,
        // and from zero to past any deadline.
        let left = match self.model.rejects_for(self.now_ns, Duration::ZERO) {
            Some(Rej::Open(Some(left))) => left,
            _ => Duration::from_millis(1),
        };
        for after in [
            Duration::ZERO,
            left - Duration::from_nanos(1),
            left,
            Duration::from_nanos(u64::MAX),
            Duration::MAX,
        ] {
            assert_eq!(
                self.breaker.rejects_for(after).as_ref().map(Rej::of),
                self.model.rejects_for(self.now_ns, after),
                "rejects_for({after:?}) disagrees after op #{step} {op:?}; config {:?}",
                self.cfg
            );
        }

        let heard: Vec<Trans> = self
            .heard
            .lock()
            .unwrap()
            .drain(..)
            .map(|t| Trans::of(&t))
            .collect();
        assert_eq!(
            heard, self.model.events,
            "transitions told to the listener disagree at op #{step} {op:?}; config {:?}",
            self.cfg
        );
        for t in self.model.events.drain(..) {
            self.summary.transitions |= 1 << (t.from.index() * 5 + t.to.index());
            if let Some(p) = t.open_for {
                self.summary.max_open_for = self.summary.max_open_for.max(p);
            }
        }
        if self.model.state == MState::Open && self.model.deadline_ms() == DEADLINE_MAX_MS {
            self.summary.deadline_saturated = true;
        }
        if matches!(self.model.state, MState::Closed | MState::Disabled)
            && self.model.health < FULL
            && expected.health_bits == Some(1.0f64.to_bits())
        {
            self.summary.decayed_to_full += 1;
        }
        if self.model.word_kind == WordKind::Mark && self.model.word == MARK_MAX_TICKS {
            self.summary.mark_saturated = true;
        }
        self.check_quiet(step, op, &expected);
        self.summary.max_reopens = self.summary.max_reopens.max(self.model.reopen);
        self.summary.stale_reports = self.model.stale;
        self.summary.marks_over_deadline = self
            .summary
            .marks_over_deadline
            .max(self.model.marks_over_deadline);
    }
}

/// Decode `data` and run it on the real breaker and on the model, panicking on
/// the first disagreement.
pub fn run(data: &[u8]) {
    let _ = run_with_summary(data);
}

/// [`run`], returning what the run went through.
pub fn run_with_summary(data: &[u8]) -> Summary {
    let mut reader = Reader { data, pos: 0 };
    let mut header = [0u8; HEADER_LEN];
    for b in &mut header {
        *b = reader.byte();
    }
    let cfg = Config::decode(&header);

    let clock = ManualClock::starting_at(Duration::from_nanos(cfg.start_ns));
    let heard = Arc::new(Mutex::new(Vec::new()));
    let listener_log = Arc::clone(&heard);
    let model = match Model::new(&cfg) {
        Ok(model) => model,
        Err(field) => {
            // The spec rejects it: failures could never bring health below the
            // threshold. The builder must say so, naming the field.
            let err = cfg
                .builder()
                .clock(ManualClock::new())
                .build()
                .expect_err("the builder accepted a config whose threshold is unreachable");
            assert_eq!(err.field(), field, "{err} ({cfg:?})");
            return Summary {
                rejected_config: true,
                ..Summary::default()
            };
        }
    };
    let breaker = cfg
        .builder()
        .clock(clock.clone())
        .on_transition(move |t| listener_log.lock().unwrap().push(*t))
        .build()
        .unwrap_or_else(|e| panic!("a valid config was rejected: {e} ({cfg:?})"));
    model.check_built(&breaker, &cfg);
    let shadow = cfg
        .builder()
        .clock(clock.clone())
        .adaptive_limit(true)
        .limit_bounds(1, 4)
        .build()
        .unwrap_or_else(|e| panic!("a valid config was rejected with the limit on: {e}"));
    let to_full = successes_to_full(model.alpha_up);

    let mut driver = Driver {
        cfg,
        breaker: &breaker,
        clock,
        now_ns: cfg.start_ns,
        heard,
        model,
        live: Vec::with_capacity(MAX_LIVE),
        summary: Summary::default(),
        to_full,
        successes_in_a_row: 0,
        streak_epoch: 0,
        last_report: None,
        quiet_ns: 21 * breaker.half_life().as_nanos(),
        shadow: &shadow,
        shadow_live: Vec::with_capacity(MAX_LIVE),
    };
    driver.check(0, &Op::Snapshot);

    let mut step = 0;
    while !reader.at_end() && step < MAX_OPS {
        step += 1;
        let op = Op::decode(&mut reader);
        driver.apply(step, &op);
        driver.check(step, &op);
    }
    // Drop what is still live, oldest first, comparing after each.
    while !driver.live.is_empty() || !driver.shadow_live.is_empty() {
        step += 1;
        let op = Op::Drop { slot: 0 };
        driver.apply(step, &op);
        driver.check(step, &op);
    }
    let l = shadow.limit();
    assert_eq!(l.in_flight, 0, "a slot outlived every permit: {l:?}");
    driver.summary.ops = step;
    driver.summary
}
