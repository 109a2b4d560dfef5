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
//! | 5 | `open_growth = GROWTHS[b % 4]` |
//! | 6 | `open_cap = open_for + CAP_EXTRA_MS[b % 8]` ms |
//! | 7 | `probes = 1 + b % 3`, `close_after = 1 + (b / 3) % 3`, `probe_timeout = PROBE_TIMEOUTS[(b / 9) % len]` |
//! | 8 | clock start: `STARTS[b % len]` ns |
//! | 9 | sub-millisecond part of `open_for`: `SUB_MS_NS[b % len]` ns |
//!
//! Then operations, each an opcode byte (`% 16`, see [`Op::decode`]) followed by
//! its argument bytes. An operation whose argument bytes run past the end of the
//! input reads zeros; decoding stops when no opcode byte is left (or after
//! [`MAX_OPS`] operations).

use fusebox::{
    Breaker, BreakerBuilder, ManualClock, Permit, Recorded, Rejected, State, Transition, Verdict,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---------------------------------------------------------------------------
// Constants of the specification and of the input format.
// ---------------------------------------------------------------------------

/// Health 1.0 in the breaker's fixed point.
const FULL: u64 = (1 << 20) - 1;
/// Epochs wrap modulo 2^24.
const EPOCH_MASK: u32 = (1 << 24) - 1;
/// Deadlines saturate at this many milliseconds.
const DEADLINE_MAX_MS: u64 = (1 << 40) - 1;
const NS_PER_MS: u64 = 1_000_000;
/// Scale of the fixed-point rates.
const ONE_FP: u64 = 1 << 32;
/// The re-open count saturates here.
const REOPEN_MAX: u32 = 31;

/// Live (unrecorded) permits kept at once; an acquire beyond this drops its
/// permit immediately.
pub const MAX_LIVE: usize = 16;
/// Operations decoded at most from one input.
pub const MAX_OPS: usize = 8192;
/// Configuration bytes at the start of every input.
pub const HEADER_LEN: usize = 10;

/// Failure rates for `trip_on_failure_rate`.
pub const RATES: [f64; 6] = [0.5, 0.1, 0.25, 0.75, 0.9, 0.999];
/// Windows for `trip_on_failure_rate`.
pub const WINDOWS: [u32; 8] = [1, 2, 3, 4, 5, 8, 10, 20];
/// `alpha` for `health`.
pub const ALPHAS: [f64; 8] = [0.5, 1.0, 0.3, 0.1, 0.05, 0.9, 0.999_999, 1e-6];
/// `threshold` for `health` (1e-7 rounds to 0 units and is clamped to 1; the last
/// one rounds to FULL).
pub const THRESHOLDS: [f64; 8] = [0.5, 0.9, 0.1, 0.75, 0.99, 0.01, 1e-7, 0.999_999_9];
/// `probe_timeout` (the probe lease), in milliseconds; the first is the default.
pub const PROBE_TIMEOUTS_MS: [u64; 7] = [10_000, 1, 2, 5, 20, 100, 1_000];
/// `open_growth`.
pub const GROWTHS: [f64; 4] = [1.0, 1.5, 2.0, 3.0];
/// `open_cap - open_for`, in milliseconds.
pub const CAP_EXTRA_MS: [u64; 8] = [0, 1, 5, 10, 50, 100, 1_000, 100_000];
/// Sub-millisecond part of `open_for`, in nanoseconds.
pub const SUB_MS_NS: [u64; 6] = [0, 0, 1, 499_999, 500_000, 999_999];
/// Clock readings at `build()`, in nanoseconds.
pub const STARTS: [u64; 8] = [
    0,
    1,
    999_999,
    1_000_000,
    12_345_678,
    1_000_000_000_000,
    u64::MAX - 3_600_000_000_000,
    u64::MAX,
];
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

// ---------------------------------------------------------------------------
// Input decoding.
// ---------------------------------------------------------------------------

/// How the breaker trips, decoded from the header.
#[derive(Clone, Copy, Debug)]
pub enum Tripping {
    /// `trip_after_consecutive_failures(n)`.
    Consecutive(u32),
    /// `trip_on_failure_rate(rate, window)`.
    Rate {
        /// Failure rate.
        rate: f64,
        /// Window.
        window: u32,
    },
    /// `health(alpha, threshold, min_samples)`.
    Manual {
        /// Health step.
        alpha: f64,
        /// Trip threshold.
        threshold: f64,
        /// Samples before a trip.
        min_samples: u32,
    },
}

/// The breaker configuration, decoded from the header.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Tripping rule.
    pub tripping: Tripping,
    /// First open period.
    pub open_for_ns: u64,
    /// Growth per re-open.
    pub growth: f64,
    /// Longest open period.
    pub cap_ns: u64,
    /// Concurrent probes.
    pub probes: u32,
    /// Probe successes that close.
    pub close_after: u32,
    /// The probe lease.
    pub probe_timeout_ns: u64,
    /// Clock reading at build.
    pub start_ns: u64,
}

impl Config {
    fn decode(h: &[u8; HEADER_LEN]) -> Self {
        let tripping = match h[0] % 3 {
            0 => Tripping::Consecutive(1 + u32::from(h[1] % 8)),
            1 => Tripping::Rate {
                rate: RATES[usize::from(h[1]) % RATES.len()],
                window: WINDOWS[usize::from(h[2]) % WINDOWS.len()],
            },
            _ => Tripping::Manual {
                alpha: ALPHAS[usize::from(h[1]) % ALPHAS.len()],
                threshold: THRESHOLDS[usize::from(h[2]) % THRESHOLDS.len()],
                min_samples: u32::from(h[3] % 9),
            },
        };
        let open_for_ns =
            (1 + u64::from(h[4] % 50)) * NS_PER_MS + SUB_MS_NS[usize::from(h[9]) % SUB_MS_NS.len()];
        Config {
            tripping,
            open_for_ns,
            growth: GROWTHS[usize::from(h[5] % 4)],
            cap_ns: open_for_ns + CAP_EXTRA_MS[usize::from(h[6] % 8)] * NS_PER_MS,
            probes: 1 + u32::from(h[7] % 3),
            close_after: 1 + u32::from((h[7] / 3) % 3),
            probe_timeout_ns: PROBE_TIMEOUTS_MS[usize::from(h[7] / 9) % PROBE_TIMEOUTS_MS.len()]
                * NS_PER_MS,
            start_ns: STARTS[usize::from(h[8]) % STARTS.len()],
        }
    }

    fn builder(&self) -> BreakerBuilder {
        let b = Breaker::builder();
        let b = match self.tripping {
            Tripping::Consecutive(n) => b.trip_after_consecutive_failures(n),
            Tripping::Rate { rate, window } => b.trip_on_failure_rate(rate, window),
            Tripping::Manual {
                alpha,
                threshold,
                min_samples,
            } => b.health(alpha, threshold, min_samples),
        };
        b.open_for(Duration::from_nanos(self.open_for_ns))
            .open_growth(self.growth)
            .open_cap(Duration::from_nanos(self.cap_ns))
            .probes(self.probes)
            .close_after(self.close_after)
            .probe_timeout(Duration::from_nanos(self.probe_timeout_ns))
            .open_jitter(0.0)
            .jitter_seed(0)
    }
}

/// The header in readable form, for building seed inputs (see [`encode`]).
#[allow(dead_code)] // used by tests/fuzz_replay.rs, not by the fuzz target
#[derive(Clone, Copy, Debug)]
pub struct Header {
    /// 0 consecutive, 1 rate, 2 manual.
    pub mode: u8,
    /// Byte 1 (see the module docs).
    pub p1: u8,
    /// Byte 2.
    pub p2: u8,
    /// Byte 3.
    pub p3: u8,
    /// `open_for` in ms, 1..=50.
    pub open_for_ms: u8,
    /// Index into [`GROWTHS`].
    pub growth: u8,
    /// Index into [`CAP_EXTRA_MS`].
    pub cap: u8,
    /// 1..=3.
    pub probes: u8,
    /// 1..=3.
    pub close_after: u8,
    /// Index into [`STARTS`].
    pub start: u8,
    /// Index into [`SUB_MS_NS`].
    pub sub_ms: u8,
    /// Index into [`PROBE_TIMEOUTS_MS`] (0: the default, 10 s).
    pub probe_timeout: u8,
}

#[allow(dead_code)] // used by tests/fuzz_replay.rs, not by the fuzz target
impl Header {
    /// `trip_after_consecutive_failures(n)`, open 10 ms, growth 2, cap +100 ms,
    /// 1 probe, close after 1, clock starting at 0.
    pub fn consecutive(n: u8) -> Self {
        Header {
            mode: 0,
            p1: n - 1,
            p2: 0,
            p3: 0,
            open_for_ms: 10,
            growth: 2,
            cap: 5,
            probes: 1,
            close_after: 1,
            start: 0,
            sub_ms: 0,
            probe_timeout: 0,
        }
    }

    fn bytes(&self) -> [u8; HEADER_LEN] {
        [
            self.mode,
            self.p1,
            self.p2,
            self.p3,
            self.open_for_ms - 1,
            self.growth,
            self.cap,
            (self.probes - 1) + 3 * (self.close_after - 1) + 9 * self.probe_timeout,
            self.start,
            self.sub_ms,
        ]
    }
}

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
/// failure.
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
// The reference model, from the specification.
// ---------------------------------------------------------------------------

/// The model's own state names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MState {
    /// Closed.
    Closed,
    /// Open.
    Open,
    /// HalfOpen.
    HalfOpen,
    /// ForcedOpen.
    ForcedOpen,
    /// Disabled.
    Disabled,
}

impl MState {
    fn of(s: State) -> MState {
        match s {
            State::Closed => MState::Closed,
            State::Open => MState::Open,
            State::HalfOpen => MState::HalfOpen,
            State::ForcedOpen => MState::ForcedOpen,
            State::Disabled => MState::Disabled,
            // `State` is non-exhaustive: a new state needs a place in the model.
            other => panic!("a state the model does not know: {other:?}"),
        }
    }

    fn index(self) -> u32 {
        match self {
            MState::Closed => 0,
            MState::Open => 1,
            MState::HalfOpen => 2,
            MState::ForcedOpen => 3,
            MState::Disabled => 4,
        }
    }
}

/// A transition, as compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trans {
    from: MState,
    to: MState,
    epoch: u32,
    open_for: Option<Duration>,
}

impl Trans {
    fn of(t: &Transition) -> Trans {
        Trans {
            from: MState::of(t.from),
            to: MState::of(t.to),
            epoch: t.epoch,
            open_for: t.open_for,
        }
    }
}

/// Why an acquire was refused, as compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rej {
    Open(Option<Duration>),
    Forced,
    Busy,
}

/// The outcome of an acquire, as compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Acq {
    Admit(u32),
    Reject(Rej),
}

/// The outcome of a record, as compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rec {
    Applied(Option<Trans>),
    Stale,
}

/// A snapshot, as compared (health by its bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Snap {
    state: MState,
    epoch: u32,
    health_bits: Option<u64>,
    samples: u32,
    probes_in_flight: u32,
    probe_successes: u32,
    reopens: u32,
    open_until: Option<Duration>,
    ready_to_probe: bool,
    stale_reports: u64,
}

/// A fraction in fixed point, scale 2^32, rounded down (`down`) or up.
fn rate(x: f64, down: bool) -> u64 {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= 1.0 {
        ONE_FP
    } else if down {
        (x * ONE_FP as f64).floor() as u64
    } else {
        (x * ONE_FP as f64).ceil() as u64
    }
}

/// A failure's drop is rounded down: the fixed-point health never falls below
/// the real one.
fn after_failure(h: u64, k: u64) -> u64 {
    h - (h * k) / ONE_FP
}

/// A success's rise is rounded up: below full, a success always moves health.
fn after_success(h: u64, alpha_up: u64) -> u64 {
    h + ((FULL - h) * alpha_up).div_ceil(ONE_FP)
}

/// The spec's bound on the successes that restore full health from anywhere:
/// `ceil(20 / -log2(1 - a))`, at most `FULL`.
fn successes_to_full(alpha_up: u64) -> u64 {
    if alpha_up >= ONE_FP {
        return 1;
    }
    let keep = 1.0 - alpha_up as f64 / ONE_FP as f64;
    ((20.0 / -keep.log2()).ceil()).min(FULL as f64) as u64
}

/// The clamped failure weight: 0 means no signal.
fn clamped_weight(w: f64) -> f64 {
    if w.is_nan() || w <= 0.0 {
        0.0
    } else {
        w.min(1000.0)
    }
}

/// A threshold in units, rounded up: a health equal to it in real arithmetic is not
/// below it.
fn threshold_units(x: f64) -> u64 {
    (x * FULL as f64).ceil().clamp(1.0, FULL as f64) as u64
}

struct Model {
    // Configuration.
    alpha: f64,
    alpha_up: u64,
    alpha_down: u64,
    probe_timeout_ns: u64,
    threshold: u64,
    min_samples: u32,
    open_for_ns: u64,
    growth: f64,
    cap_ns: u64,
    probes: u32,
    close_after: u32,
    start_ns: u64,
    // State.
    state: MState,
    epoch: u32,
    health: u64,
    samples: u32,
    reopen: u32,
    in_flight: u32,
    successes: u32,
    deadline_ms: u64,
    stale: u64,
    /// Transitions made during the current operation.
    events: Vec<Trans>,
}

impl Model {
    /// The model of a valid configuration, or the field the builder must name.
    fn new(cfg: &Config) -> Result<Model, &'static str> {
        let (alpha, threshold, min_samples) = match cfg.tripping {
            Tripping::Consecutive(n) => {
                let alpha = 1.0 - 0.5f64.powf(1.0 / f64::from(n));
                let a = rate(alpha, true);
                let mut prev = FULL;
                let mut h = FULL;
                for _ in 0..n {
                    prev = h;
                    h = after_failure(h, a);
                }
                (alpha, (prev + h).div_ceil(2), n)
            }
            Tripping::Rate { rate, window } => (
                2.0 / (f64::from(window) + 1.0),
                threshold_units(1.0 - rate),
                window,
            ),
            Tripping::Manual {
                alpha,
                threshold,
                min_samples,
            } => (alpha, threshold_units(threshold), min_samples.max(1)),
        };
        // Failures must be able to bring health below the threshold (and, for
        // `health`, to move it from full at all).
        let down = rate(alpha, true);
        match cfg.tripping {
            Tripping::Consecutive(_) => {}
            Tripping::Rate { .. } if after_failure(threshold, down) >= threshold => {
                return Err("trip_on_failure_rate");
            }
            Tripping::Rate { .. } => {}
            Tripping::Manual { .. }
                if after_failure(FULL, down) >= FULL
                    || after_failure(threshold, down) >= threshold =>
            {
                return Err("health.alpha");
            }
            Tripping::Manual { .. } => {}
        }
        Ok(Model {
            alpha,
            alpha_up: rate(alpha, false),
            alpha_down: down,
            probe_timeout_ns: cfg.probe_timeout_ns,
            threshold,
            min_samples,
            open_for_ns: cfg.open_for_ns,
            growth: cfg.growth,
            cap_ns: cfg.cap_ns,
            probes: cfg.probes,
            close_after: cfg.close_after,
            start_ns: cfg.start_ns,
            state: MState::Closed,
            epoch: 0,
            health: FULL,
            samples: 0,
            reopen: 0,
            in_flight: 0,
            successes: 0,
            deadline_ms: 0,
            stale: 0,
            events: Vec::new(),
        })
    }

    fn elapsed(&self, now_ns: u64) -> u64 {
        now_ns.saturating_sub(self.start_ns)
    }

    fn period_ns(&self, reopen: u32) -> u64 {
        let p = (self.open_for_ns as f64 * self.growth.powi(reopen as i32)).min(self.cap_ns as f64)
            as u64;
        p.min(self.cap_ns)
    }

    /// Move to `to` with a new epoch and record the transition.
    fn transition(&mut self, to: MState, open_for: Option<Duration>) -> Trans {
        let t = Trans {
            from: self.state,
            to,
            epoch: (self.epoch + 1) & EPOCH_MASK,
            open_for,
        };
        self.state = to;
        self.epoch = t.epoch;
        self.in_flight = 0;
        self.successes = 0;
        self.events.push(t);
        t
    }

    /// Enter Open with re-open count `reopen` and health `health`.
    fn open(&mut self, now_ns: u64, reopen: u32, health: u64) -> Trans {
        let p = self.period_ns(reopen);
        let t = u128::from(self.elapsed(now_ns));
        let deadline = (t + u128::from(p)).div_ceil(u128::from(NS_PER_MS));
        self.deadline_ms = deadline.min(u128::from(DEADLINE_MAX_MS)) as u64;
        self.reopen = reopen;
        self.health = health;
        self.samples = 0;
        self.transition(MState::Open, Some(Duration::from_nanos(p)))
    }

    /// Enter a fresh HalfOpen period whose first probe is the caller; its probe
    /// lease ends `probe_timeout` from now (whole ms, rounded up, saturating).
    fn half_open(&mut self, now_ns: u64) -> Acq {
        let t = u128::from(self.elapsed(now_ns)) + u128::from(self.probe_timeout_ns);
        let lease = t.div_ceil(u128::from(NS_PER_MS));
        self.deadline_ms = lease.min(u128::from(DEADLINE_MAX_MS)) as u64;
        self.transition(MState::HalfOpen, None);
        self.in_flight = 1;
        Acq::Admit(self.epoch)
    }

    fn acquire(&mut self, now_ns: u64) -> Acq {
        match self.state {
            MState::Closed | MState::Disabled => Acq::Admit(self.epoch),
            MState::ForcedOpen => Acq::Reject(Rej::Forced),
            MState::HalfOpen => {
                if self.in_flight < self.probes {
                    self.in_flight += 1;
                    Acq::Admit(self.epoch)
                } else if self.elapsed(now_ns) / NS_PER_MS >= self.deadline_ms {
                    // Every slot busy past the lease: a fresh period.
                    self.half_open(now_ns)
                } else {
                    Acq::Reject(Rej::Busy)
                }
            }
            MState::Open => {
                let elapsed = self.elapsed(now_ns);
                if elapsed / NS_PER_MS >= self.deadline_ms {
                    self.half_open(now_ns)
                } else {
                    let left = self.deadline_ms * NS_PER_MS - elapsed;
                    Acq::Reject(Rej::Open(Some(Duration::from_nanos(left))))
                }
            }
        }
    }

    fn record(&mut self, now_ns: u64, epoch: u32, verdict: Verdict) -> Rec {
        if epoch != self.epoch {
            self.stale += 1;
            return Rec::Stale;
        }
        // `Some(w)` for a failure that is a signal, `None` for a success.
        let failure = match verdict {
            Verdict::Success => None,
            Verdict::Failure { weight } if clamped_weight(weight) > 0.0 => {
                Some(clamped_weight(weight))
            }
            // Ignored, or a failure that is no signal.
            _ => {
                if self.state == MState::HalfOpen {
                    self.in_flight -= 1;
                }
                return Rec::Applied(None);
            }
        };
        match self.state {
            MState::Closed | MState::Disabled => {
                self.samples = (self.samples + 1).min(self.min_samples);
                match failure {
                    None => {
                        self.health = after_success(self.health, self.alpha_up);
                        Rec::Applied(None)
                    }
                    Some(w) => {
                        let k = if w == 1.0 {
                            self.alpha_down
                        } else {
                            rate(self.alpha * w, true)
                        };
                        self.health = after_failure(self.health, k);
                        if self.state == MState::Closed
                            && self.health < self.threshold
                            && self.samples >= self.min_samples
                        {
                            let h = self.health;
                            Rec::Applied(Some(self.open(now_ns, 0, h)))
                        } else {
                            Rec::Applied(None)
                        }
                    }
                }
            }
            MState::HalfOpen => match failure {
                Some(_) => {
                    let reopen = (self.reopen + 1).min(REOPEN_MAX);
                    Rec::Applied(Some(self.open(now_ns, reopen, 0)))
                }
                None => {
                    self.successes += 1;
                    self.in_flight -= 1;
                    if self.successes >= self.close_after {
                        self.health = FULL;
                        self.samples = 0;
                        self.reopen = 0;
                        Rec::Applied(Some(self.transition(MState::Closed, None)))
                    } else {
                        Rec::Applied(None)
                    }
                }
            },
            // No permit is ever admitted in these states, and no input can wrap
            // the 24-bit epoch back to one, so a permit of the current epoch
            // cannot be recorded here.
            MState::Open | MState::ForcedOpen => {
                panic!(
                    "harness invariant: a permit of epoch {epoch} recorded in {:?}",
                    self.state
                )
            }
        }
    }

    /// A permit of `epoch` dropped unrecorded.
    fn cancel(&mut self, epoch: u32) {
        if self.state == MState::HalfOpen && epoch == self.epoch {
            self.in_flight -= 1;
        }
    }

    /// An operator call that would change nothing but the epoch is a no-op.
    fn force_open(&mut self) -> Option<Trans> {
        if self.state == MState::ForcedOpen {
            return None;
        }
        self.reopen = 0;
        self.samples = 0;
        self.health = FULL;
        Some(self.transition(MState::ForcedOpen, None))
    }

    fn disable(&mut self) -> Option<Trans> {
        if self.state == MState::Disabled {
            return None;
        }
        if self.state != MState::Closed {
            self.health = FULL;
            self.samples = 0;
        }
        self.reopen = 0;
        Some(self.transition(MState::Disabled, None))
    }

    fn reset(&mut self) -> Option<Trans> {
        if self.state == MState::Closed && self.health == FULL && self.samples == 0 {
            return None;
        }
        self.health = FULL;
        self.samples = 0;
        self.reopen = 0;
        Some(self.transition(MState::Closed, None))
    }

    fn snapshot(&self, now_ns: u64) -> Snap {
        let st = self.state;
        let measured = matches!(st, MState::Closed | MState::Disabled);
        let open = st == MState::Open;
        let half = st == MState::HalfOpen;
        Snap {
            state: st,
            epoch: self.epoch,
            health_bits: (measured || open).then(|| (self.health as f64 / FULL as f64).to_bits()),
            samples: if measured { self.samples } else { 0 },
            probes_in_flight: if half { self.in_flight } else { 0 },
            probe_successes: if half { self.successes } else { 0 },
            reopens: if open || half { self.reopen } else { 0 },
            open_until: open.then(|| Duration::from_millis(self.deadline_ms)),
            ready_to_probe: open && self.elapsed(now_ns) / NS_PER_MS >= self.deadline_ms,
            stale_reports: self.stale,
        }
    }
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
}

impl<'b> Driver<'b> {
    fn observe_acquire(real: &Result<Permit<'_>, Rejected>) -> Acq {
        match real {
            Ok(p) => Acq::Admit(p.epoch()),
            Err(Rejected::Open { retry_after }) => Acq::Reject(Rej::Open(*retry_after)),
            Err(Rejected::ForcedOpen) => Acq::Reject(Rej::Forced),
            Err(Rejected::ProbesBusy) => Acq::Reject(Rej::Busy),
            Err(other) => panic!("unknown Rejected variant {other:?}"),
        }
    }

    fn observe_record(real: Recorded) -> Rec {
        match real {
            Recorded::Applied { transition } => Rec::Applied(transition.as_ref().map(Trans::of)),
            Recorded::Stale => Rec::Stale,
        }
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
        match (real, expected) {
            (Ok(permit), Acq::Admit(epoch)) => Some((permit, epoch)),
            (_, Acq::Reject(rej)) => {
                match rej {
                    Rej::Open(_) => self.summary.rejected_open += 1,
                    Rej::Forced => self.summary.rejected_forced += 1,
                    Rej::Busy => self.summary.rejected_busy += 1,
                }
                None
            }
            (Err(_), Acq::Admit(_)) => unreachable!("compared equal above"),
        }
    }

    fn record(&mut self, step: usize, op: &Op, permit: Permit<'b>, epoch: u32, code: u8) {
        let verdict = verdict_of(code);
        let observed = Self::observe_record(permit.record(verdict));
        let health_before = self.model.health;
        let measuring = matches!(self.model.state, MState::Closed | MState::Disabled);
        let expected = self.model.record(self.now_ns, epoch, verdict);
        assert_eq!(
            observed, expected,
            "record({verdict:?}) of a permit of epoch {epoch} disagrees at op #{step} {op:?}; config {:?}",
            self.cfg
        );
        self.check_convergence(step, op, measuring, verdict, health_before, expected);
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

    fn apply(&mut self, step: usize, op: &Op) {
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
                    let target = i128::from(self.model.deadline_ms) * i128::from(NS_PER_MS)
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
                let real = self.breaker.disable();
                let expected = self.model.disable();
                self.operator(step, op, real, expected);
            }
            Op::Reset => {
                let real = self.breaker.reset();
                let expected = self.model.reset();
                self.operator(step, op, real, expected);
            }
            Op::Snapshot => {}
        }
    }

    /// Compare everything observable after an operation.
    fn check(&mut self, step: usize, op: &Op) {
        assert_eq!(
            self.clock.now(),
            Duration::from_nanos(self.now_ns),
            "ManualClock reading disagrees at op #{step} {op:?}"
        );
        let s = self.breaker.snapshot();
        let observed = Snap {
            state: MState::of(s.state),
            epoch: s.epoch,
            health_bits: s.health.map(f64::to_bits),
            samples: s.samples,
            probes_in_flight: s.probes_in_flight,
            probe_successes: s.probe_successes,
            reopens: s.reopens,
            open_until: s.open_until,
            ready_to_probe: s.ready_to_probe,
            stale_reports: self.breaker.stale_reports(),
        };
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
        if self.model.state == MState::Open && self.model.deadline_ms == DEADLINE_MAX_MS {
            self.summary.deadline_saturated = true;
        }
        self.summary.max_reopens = self.summary.max_reopens.max(self.model.reopen);
        self.summary.stale_reports = self.model.stale;
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
    let to_full = successes_to_full(model.alpha_up);
    assert_eq!(
        u64::from(breaker.successes_to_full_health()),
        to_full,
        "the convergence bound disagrees; config {cfg:?}"
    );
    assert_eq!(
        breaker.alpha().to_bits(),
        model.alpha.to_bits(),
        "alpha disagrees: real {}, model {}; config {cfg:?}",
        breaker.alpha(),
        model.alpha
    );
    let threshold = model.threshold as f64 / FULL as f64;
    assert_eq!(
        breaker.threshold().to_bits(),
        threshold.to_bits(),
        "threshold disagrees: real {}, model {threshold} ({} units); config {cfg:?}",
        breaker.threshold(),
        model.threshold
    );

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
    while !driver.live.is_empty() {
        step += 1;
        let op = Op::Drop { slot: 0 };
        driver.apply(step, &op);
        driver.check(step, &op);
    }
    driver.summary.ops = step;
    driver.summary
}
