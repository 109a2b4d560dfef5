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
/// Time in decay ticks stops here (the mark word's 42-bit field).
const MARK_MAX_TICKS: u64 = (1 << 42) - 1;
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

/// The largest legal period (`MAX_OPEN_PERIOD`, 366 days), in nanoseconds.
const MAX_PERIOD_NS: u64 = 366 * 86_400 * 1_000_000_000;
/// `half_life`, in nanoseconds. Entry 0 is 5 s; then the smallest legal value
/// (64 ms: ticks of exactly 1 ms), values whose tick (`half_life / 64`) is rounded
/// down to whole nanoseconds (64 ms + 63 ns: still 1 ms; + 64 ns: 1 ms + 1 ns),
/// ticks of a few milliseconds, the largest legal value (366 days), and one just
/// below the minimum (a configuration error naming `half_life`).
pub const HALF_LIVES_NS: [u64; 16] = [
    5_000_000_000,
    64_000_000,
    64_000_063,
    64_000_064,
    100_000_000,
    128_000_000,
    640_000_000,
    1_000_000_000,
    65_000_000,
    200_000_000,
    12_800_000_000,
    3_600_000_000_000,
    MAX_PERIOD_NS,
    64_000_000,
    70_000_001,
    63_999_999,
];
/// `slow_call(threshold, weight)`, threshold in nanoseconds; entry 0 is unset.
pub const SLOW_CALLS: [Option<(u64, f64)>; 4] = [
    None,
    Some((NS_PER_MS, 1.0)),
    Some((5 * NS_PER_MS + 1, 0.5)),
    Some((10 * NS_PER_MS, 1000.0)),
];
/// `shed_below`. Entry 0 (and -0.0) turns graded admission off; so does any
/// value whose units are not above the trip threshold (1e-7, and the low ones
/// under a high threshold); 1.0 is a configuration error naming `shed_below`.
pub const SHEDS: [f64; 32] = [
    0.0,
    0.5,
    0.9,
    0.99,
    0.3,
    0.75,
    0.999_999,
    0.1,
    1e-7,
    0.6,
    0.95,
    0.25,
    0.8,
    0.4,
    0.7,
    -0.0,
    0.5,
    0.9,
    0.55,
    0.999,
    0.2,
    0.85,
    0.45,
    0.65,
    0.35,
    0.15,
    0.05,
    0.01,
    0.98,
    0.93,
    0.500_000_1,
    1.0,
];
/// `min_admit`. Entry 0 is 0.05; 1.0 and 1 - 1e-10 (which rounds up to 2^32 in
/// fixed point) never shed; `f64::MIN_POSITIVE` and 2.3e-10 round up to the
/// smallest chance, 2^-32; 0.0 is a configuration error naming `min_admit`.
pub const MIN_ADMITS: [f64; 32] = [
    0.05,
    1.0,
    0.5,
    1e-9,
    0.999_999_999_9,
    f64::MIN_POSITIVE,
    0.25,
    0.01,
    0.9,
    0.2,
    0.75,
    0.001,
    0.1,
    0.3,
    0.05,
    0.5,
    0.05,
    0.02,
    0.4,
    0.6,
    0.15,
    0.35,
    0.8,
    0.95,
    0.05,
    0.07,
    0.12,
    0.33,
    0.66,
    0.045,
    2.3e-10,
    0.0,
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
    /// `half_life`, in nanoseconds.
    pub half_life_ns: u64,
    /// `slow_call(threshold ns, weight)`, if set.
    pub slow_call: Option<(u64, f64)>,
    /// `shed_below`.
    pub shed_below: f64,
    /// `min_admit`.
    pub min_admit: f64,
    /// `jitter_seed` (also the seed of the graded-admission draws).
    pub seed: u64,
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
            start_ns: STARTS[usize::from(h[8] % 8)],
            half_life_ns: HALF_LIVES_NS[usize::from((h[5] >> 2) % 16)],
            slow_call: SLOW_CALLS[usize::from(h[5] >> 6)],
            shed_below: SHEDS[usize::from(h[6] >> 3)],
            min_admit: MIN_ADMITS[usize::from(h[8] >> 3)],
            seed: seed_of(h),
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
        let b = b
            .open_for(Duration::from_nanos(self.open_for_ns))
            .open_growth(self.growth)
            .open_cap(Duration::from_nanos(self.cap_ns))
            .probes(self.probes)
            .close_after(self.close_after)
            .probe_timeout(Duration::from_nanos(self.probe_timeout_ns))
            .half_life(Duration::from_nanos(self.half_life_ns))
            .shed_below(self.shed_below)
            .min_admit(self.min_admit);
        let b = match self.slow_call {
            Some((threshold_ns, weight)) => b.slow_call(Duration::from_nanos(threshold_ns), weight),
            None => b,
        };
        b.open_jitter(0.0).jitter_seed(self.seed)
    }
}

/// The jitter seed of an input: a fold of its header, so that inputs differ in
/// their draws too.
fn seed_of(h: &[u8; HEADER_LEN]) -> u64 {
    let mut low = [0u8; 8];
    low.copy_from_slice(&h[..8]);
    u64::from_le_bytes(low)
        ^ (u64::from(h[8]) << 8 | u64::from(h[9])).wrapping_mul(0x9E37_79B9_7F4A_7C15)
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
    /// Index into [`HALF_LIVES_NS`] (0: 5 s).
    pub half_life: u8,
    /// Index into [`SLOW_CALLS`] (0: unset).
    pub slow_call: u8,
    /// Index into [`SHEDS`] (0: graded admission off).
    pub shed: u8,
    /// Index into [`MIN_ADMITS`] (0: 0.05).
    pub min_admit: u8,
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
            half_life: 0,
            slow_call: 0,
            shed: 0,
            min_admit: 0,
        }
    }

    fn bytes(&self) -> [u8; HEADER_LEN] {
        assert!(
            self.growth < 4 && self.cap < 8 && self.start < 8,
            "{self:?}"
        );
        assert!(self.half_life < 16 && self.slow_call < 4, "{self:?}");
        assert!(self.shed < 32 && self.min_admit < 32, "{self:?}");
        [
            self.mode,
            self.p1,
            self.p2,
            self.p3,
            self.open_for_ms - 1,
            self.growth | self.half_life << 2 | self.slow_call << 6,
            self.cap | self.shed << 3,
            (self.probes - 1) + 3 * (self.close_after - 1) + 9 * self.probe_timeout,
            self.start | self.min_admit << 3,
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
    Shed,
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

/// Decay ticks per half-life.
const DECAY_TICKS: u64 = 64;

/// The decay table of the specification, `D[i] = floor(2^32 * 2^(-i/64))`,
/// computed exactly (not copied): `D[i]` is the largest integer `d` with
/// `d^64 <= 2^(2048 - i)`, found from a floating-point estimate and checked with
/// big-integer powers. Computed once per process.
fn decay_table() -> &'static [u64; DECAY_TICKS as usize] {
    static TABLE: std::sync::OnceLock<[u64; DECAY_TICKS as usize]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = [0u64; DECAY_TICKS as usize];
        for (i, d) in table.iter_mut().enumerate() {
            let e = 2048 - i as u32;
            let mut x = ((-(i as f64) / 64.0).exp2() * ONE_FP as f64).floor() as u64;
            while !pow64_at_most_pow2(x, e) {
                x -= 1;
            }
            while pow64_at_most_pow2(x + 1, e) {
                x += 1;
            }
            *d = x;
        }
        table
    })
}

/// Whether `x^64 <= 2^e`, in exact big-integer arithmetic (little-endian u32 limbs).
fn pow64_at_most_pow2(x: u64, e: u32) -> bool {
    fn square(a: &[u32]) -> Vec<u32> {
        let mut out = vec![0u32; 2 * a.len() + 1];
        for (i, &ai) in a.iter().enumerate() {
            let mut carry = 0u64;
            for (j, &aj) in a.iter().enumerate() {
                let t = u64::from(out[i + j]) + u64::from(ai) * u64::from(aj) + carry;
                out[i + j] = t as u32;
                carry = t >> 32;
            }
            let mut k = i + a.len();
            while carry != 0 {
                let t = u64::from(out[k]) + carry;
                out[k] = t as u32;
                carry = t >> 32;
                k += 1;
            }
        }
        while out.len() > 1 && *out.last().unwrap() == 0 {
            out.pop();
        }
        out
    }
    let mut n = vec![x as u32, (x >> 32) as u32];
    for _ in 0..6 {
        n = square(&n);
    }
    // The bit length of n, and whether n is a power of two.
    let top = n.iter().rposition(|&l| l != 0).expect("x > 0");
    let bits = 32 * top as u32 + (32 - n[top].leading_zeros());
    let power_of_two = n[top].is_power_of_two() && n[..top].iter().all(|&l| l == 0);
    // n <= 2^e  <=>  n < 2^e (bit length at most e) or n == 2^e.
    bits <= e || (power_of_two && bits == e + 1)
}

/// What is left of a health gap `x` after `k` decay ticks (the specification):
/// `floor(x * D[k % 64] / 2^32) >> (k / 64)`.
fn decay(x: u64, k: u64) -> u64 {
    let part = x * decay_table()[(k % DECAY_TICKS) as usize] / ONE_FP;
    let halvings = k / DECAY_TICKS;
    if halvings >= 64 { 0 } else { part >> halvings }
}

/// Health after `k` ticks without a verdict: the gap to full decays.
fn after_idle(h: u64, k: u64) -> u64 {
    FULL - decay(FULL - h, k)
}

/// splitmix64's finaliser (the graded-admission draw hashes a counter with it).
fn splitmix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The step of the graded-admission counter (and its start is `seed ^ DRAWS_SALT`).
const DRAWS_STEP: u64 = 0x9E37_79B9_7F4A_7C15;
const DRAWS_SALT: u64 = 0x5851_F42D_4C95_7F2D;

/// What the deadline word holds, by the kind of state that wrote it (for the
/// summary: a decay mark started over an open deadline or a probe lease).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WordKind {
    Deadline,
    Lease,
    Mark,
}

/// What one report's decay claim did (for the summary).
#[derive(Clone, Copy, Debug, Default)]
struct Claim {
    /// The claim started this epoch's mark.
    started: bool,
    /// It started it over another epoch's open deadline or probe lease.
    over_deadline: bool,
    /// Ticks claimed (and applied).
    ticks: u64,
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
    /// One decay tick, `half_life / 64` rounded down.
    tick_ns: u64,
    /// Graded admission below this health (units); 0 when off.
    shed: u64,
    /// The smallest admission chance (scale 2^32, rounded up).
    min_admit: u64,
    /// The slow-call threshold (ns) and weight.
    slow_call: Option<(u64, f64)>,
    // State.
    state: MState,
    epoch: u32,
    health: u64,
    samples: u32,
    reopen: u32,
    in_flight: u32,
    /// HalfOpen: consecutive periods before this one replaced by lease expiry.
    leases: u32,
    /// The last `acquire` stored a decay (a report made by the breaker itself).
    last_stored: bool,
    successes: u32,
    /// The deadline word: its epoch tag and value (open deadline or probe lease in
    /// ms, or decay mark in ticks).
    word_tag: u32,
    word: u64,
    word_kind: WordKind,
    /// The graded-admission counter.
    draws: u64,
    stale: u64,
    /// Transitions into a measuring state whose first mark replaced an open
    /// deadline or a probe lease.
    marks_over_deadline: u32,
    /// Transitions made during the current operation.
    events: Vec<Trans>,
    /// What the last report's decay claim did.
    last_claim: Claim,
    /// Whether the last acquire drew (graded admission).
    last_drew: bool,
}

impl Model {
    /// The model of a valid configuration, or the field the builder must name (the
    /// first invalid one, in the builder's order).
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
        // The open period, cap and probe settings of the tables are all valid. Then
        // half_life in [64 ms, 366 days]; shed_below finite in [0, 1); min_admit
        // finite in (0, 1]; slow_call threshold >= 1 ms and weight in (0, 1000].
        if !(64 * NS_PER_MS..=MAX_PERIOD_NS).contains(&cfg.half_life_ns) {
            return Err("half_life");
        }
        if !(cfg.shed_below.is_finite() && (0.0..1.0).contains(&cfg.shed_below)) {
            return Err("shed_below");
        }
        if !(cfg.min_admit.is_finite() && cfg.min_admit > 0.0 && cfg.min_admit <= 1.0) {
            return Err("min_admit");
        }
        if let Some((threshold_ns, weight)) = cfg.slow_call {
            if threshold_ns < NS_PER_MS {
                return Err("slow_call.threshold");
            }
            if !(weight.is_finite() && weight > 0.0 && weight <= 1000.0) {
                return Err("slow_call.weight");
            }
        }
        // Graded admission needs room above the trip threshold.
        let shed_units = threshold_units(cfg.shed_below);
        let shed = if cfg.shed_below > 0.0 && shed_units > threshold {
            shed_units
        } else {
            0
        };
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
            tick_ns: cfg.half_life_ns / DECAY_TICKS,
            shed,
            min_admit: rate(cfg.min_admit, false),
            slow_call: cfg.slow_call,
            state: MState::Closed,
            epoch: 0,
            health: FULL,
            samples: 0,
            reopen: 0,
            in_flight: 0,
            leases: 0,
            last_stored: false,
            successes: 0,
            // The initial epoch measures: its decay mark starts at tick 0.
            word_tag: 0,
            word: 0,
            word_kind: WordKind::Mark,
            draws: cfg.seed ^ DRAWS_SALT,
            stale: 0,
            marks_over_deadline: 0,
            events: Vec::new(),
            last_claim: Claim::default(),
            last_drew: false,
        })
    }

    fn elapsed(&self, now_ns: u64) -> u64 {
        now_ns.saturating_sub(self.start_ns)
    }

    /// Decay ticks since the start. Time in ticks is kept in the mark word's
    /// 42-bit field and stops at its end: past it, no more decay.
    fn now_tick(&self, now_ns: u64) -> u64 {
        (self.elapsed(now_ns) / self.tick_ns).min(MARK_MAX_TICKS)
    }

    /// A transition into `Closed` or `Disabled` starts the new epoch's decay mark
    /// at once (the health it carries is as of now).
    fn start_mark(&mut self, now_ns: u64) {
        let now = self.now_tick(now_ns);
        if matches!(self.word_kind, WordKind::Deadline | WordKind::Lease) {
            self.marks_over_deadline += 1;
        }
        self.word_tag = self.epoch;
        self.word = now;
        self.word_kind = WordKind::Mark;
    }

    /// The deadline word's value if it belongs to the current epoch.
    fn word_of_epoch(&self) -> Option<u64> {
        (self.word_tag == self.epoch).then_some(self.word)
    }

    /// The open deadline of the current `Open` epoch (always published in a
    /// sequential run).
    fn deadline_ms(&self) -> u64 {
        self.word_of_epoch()
            .expect("the Open epoch's deadline is published")
    }

    fn write_word(&mut self, value: u64, kind: WordKind) {
        self.word_tag = self.epoch;
        let max = if kind == WordKind::Mark {
            MARK_MAX_TICKS
        } else {
            DEADLINE_MAX_MS
        };
        self.word = value.min(max);
        self.word_kind = kind;
    }

    /// Health and samples of the measuring state as of now: health decayed by the
    /// ticks since this epoch's mark (unchanged without one), samples 0 if that
    /// brings health to full.
    fn decayed(&self, now_ns: u64) -> (u64, u32) {
        let h = match self.word_of_epoch() {
            Some(mark) => after_idle(self.health, self.now_tick(now_ns).saturating_sub(mark)),
            None => self.health,
        };
        (h, if h == FULL { 0 } else { self.samples })
    }

    /// A reporter's decay claim in the current (measuring) epoch: with this
    /// epoch's mark `m`, the ticks since it (0, and no write, if none passed) and
    /// the mark moves to now; otherwise the mark starts at now and 0 ticks.
    fn claim_decay(&mut self, now_ns: u64) -> u64 {
        let now = self.now_tick(now_ns);
        let mut claim = Claim::default();
        match self.word_of_epoch() {
            Some(mark) if now <= mark => {}
            Some(mark) => {
                claim.ticks = now - mark;
                self.write_word(now, WordKind::Mark);
            }
            None => {
                claim.started = true;
                claim.over_deadline =
                    matches!(self.word_kind, WordKind::Deadline | WordKind::Lease);
                self.write_word(now, WordKind::Mark);
            }
        }
        self.last_claim = claim;
        claim.ticks
    }

    /// The verdict recorded for an attempt of `elapsed` (`record_timed`): a success
    /// slower than the slow-call threshold is a failure of the slow-call weight.
    fn timed_verdict(&self, verdict: Verdict, elapsed: Duration) -> Verdict {
        match self.slow_call {
            Some((limit, weight))
                if verdict == Verdict::Success
                    && u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX) > limit =>
            {
                Verdict::Failure { weight }
            }
            _ => verdict,
        }
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

    /// Enter Open with re-open count `reopen` and health `health`; its deadline
    /// goes into the deadline word, tagged with the new epoch.
    fn open(&mut self, now_ns: u64, reopen: u32, health: u64) -> Trans {
        let p = self.period_ns(reopen);
        let t = u128::from(self.elapsed(now_ns));
        let deadline = (t + u128::from(p)).div_ceil(u128::from(NS_PER_MS));
        self.reopen = reopen;
        self.health = health;
        self.samples = 0;
        let trans = self.transition(MState::Open, Some(Duration::from_nanos(p)));
        self.write_word(
            deadline.min(u128::from(DEADLINE_MAX_MS)) as u64,
            WordKind::Deadline,
        );
        trans
    }

    /// Enter a fresh HalfOpen period whose first probe is the caller, after
    /// `leases` periods replaced by lease expiry; its probe lease ends
    /// `min(probe_timeout, open_for * 2^(leases / 4))` from now (whole ms, rounded
    /// up, saturating).
    fn half_open(&mut self, now_ns: u64, leases: u32) -> Acq {
        let doublings = leases / 4;
        let grown = if doublings >= 64 || self.open_for_ns.leading_zeros() < doublings {
            u64::MAX
        } else {
            self.open_for_ns << doublings
        };
        let period = grown.min(self.probe_timeout_ns);
        self.leases = leases;
        let t = u128::from(self.elapsed(now_ns)) + u128::from(period);
        let lease = t.div_ceil(u128::from(NS_PER_MS));
        self.transition(MState::HalfOpen, None);
        self.write_word(
            lease.min(u128::from(DEADLINE_MAX_MS)) as u64,
            WordKind::Lease,
        );
        self.in_flight = 1;
        Acq::Admit(self.epoch)
    }

    /// Graded admission in `Closed` below `shed`: on the health and samples as of
    /// now (read only, unless time has brought health to full: then that is
    /// stored, as a decay-only report), admit while the spell has fewer than `min_samples`
    /// attempts, else with chance `max(min_admit, h / shed)` (1 from `shed` up),
    /// drawing `splitmix64(counter) >> 32` and stepping the counter.
    fn admit_graded(&mut self, now_ns: u64) -> bool {
        let (h, samples) = self.decayed(now_ns);
        if h == FULL {
            // Time alone ended the spell: the breaker stores it (a decay-only
            // report, which moves the mark), and admits.
            let epoch = self.epoch;
            let _ = self.record(now_ns, epoch, Verdict::Ignored);
            self.last_stored = true;
            return true;
        }
        if samples < self.min_samples {
            return true;
        }
        let p = if h >= self.shed {
            ONE_FP
        } else {
            ((h << 32) / self.shed).max(self.min_admit)
        };
        if p >= ONE_FP {
            return true;
        }
        let draw = splitmix64(self.draws) >> 32;
        self.draws = self.draws.wrapping_add(DRAWS_STEP);
        self.last_drew = true;
        draw < p
    }

    fn acquire(&mut self, now_ns: u64) -> Acq {
        self.last_drew = false;
        self.last_stored = false;
        match self.state {
            MState::Closed if self.health < self.shed => {
                if self.admit_graded(now_ns) {
                    Acq::Admit(self.epoch)
                } else {
                    Acq::Reject(Rej::Shed)
                }
            }
            MState::Closed | MState::Disabled => Acq::Admit(self.epoch),
            MState::ForcedOpen => Acq::Reject(Rej::Forced),
            MState::HalfOpen => {
                if self.in_flight < self.probes {
                    self.in_flight += 1;
                    Acq::Admit(self.epoch)
                } else if self.elapsed(now_ns) / NS_PER_MS >= self.deadline_ms_of_lease() {
                    // Every slot busy past the lease: a fresh period.
                    self.half_open(now_ns, (self.leases + 1).min(31))
                } else {
                    Acq::Reject(Rej::Busy)
                }
            }
            MState::Open => {
                let elapsed = self.elapsed(now_ns);
                let deadline = self.deadline_ms();
                if elapsed / NS_PER_MS >= deadline {
                    self.half_open(now_ns, 0)
                } else {
                    let left = deadline * NS_PER_MS - elapsed;
                    Acq::Reject(Rej::Open(Some(Duration::from_nanos(left))))
                }
            }
        }
    }

    /// The probe lease of the current `HalfOpen` epoch.
    fn deadline_ms_of_lease(&self) -> u64 {
        self.word_of_epoch()
            .expect("the HalfOpen epoch's lease is published")
    }

    fn record(&mut self, now_ns: u64, epoch: u32, verdict: Verdict) -> Rec {
        self.last_claim = Claim::default();
        if epoch != self.epoch {
            self.stale += 1;
            return Rec::Stale;
        }
        // `Some(w)` for a failure that is a signal.
        let weight = match verdict {
            Verdict::Failure { weight } if clamped_weight(weight) > 0.0 => {
                Some(clamped_weight(weight))
            }
            _ => None,
        };
        match self.state {
            MState::Closed | MState::Disabled => {
                // Below full health, or about to leave it, bring health up to date
                // with time first (claiming the ticks since the mark).
                let ticks = if self.health < FULL || weight.is_some() {
                    self.claim_decay(now_ns)
                } else {
                    0
                };
                let h = after_idle(self.health, ticks);
                // A spell below full health that time has ended leaves no samples.
                let samples = if h == FULL { 0 } else { self.samples };
                let bump = (samples + 1).min(self.min_samples);
                let (h, samples) = match (verdict, weight) {
                    (Verdict::Success, _) => (after_success(h, self.alpha_up), bump),
                    (_, Some(w)) => {
                        let k = if w == 1.0 {
                            self.alpha_down
                        } else {
                            rate(self.alpha * w, true)
                        };
                        (after_failure(h, k), bump)
                    }
                    // Ignored, or a failure that is no signal: the decay only.
                    _ => (h, samples),
                };
                if self.state == MState::Closed
                    && weight.is_some()
                    && h < self.threshold
                    && samples >= self.min_samples
                {
                    Rec::Applied(Some(self.open(now_ns, 0, h)))
                } else {
                    self.health = h;
                    // Samples count the spell below full health: none at full.
                    self.samples = if h == FULL { 0 } else { samples };
                    Rec::Applied(None)
                }
            }
            MState::HalfOpen => match (verdict, weight) {
                (_, Some(_)) => {
                    let reopen = (self.reopen + 1).min(REOPEN_MAX);
                    Rec::Applied(Some(self.open(now_ns, reopen, 0)))
                }
                (Verdict::Success, None) => {
                    self.successes += 1;
                    self.in_flight -= 1;
                    if self.successes >= self.close_after {
                        self.health = FULL;
                        self.samples = 0;
                        self.reopen = 0;
                        let t = self.transition(MState::Closed, None);
                        self.start_mark(now_ns);
                        Rec::Applied(Some(t))
                    } else {
                        Rec::Applied(None)
                    }
                }
                // Ignored, or no signal: frees the slot.
                _ => {
                    self.in_flight -= 1;
                    Rec::Applied(None)
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

    /// An operator call that would change nothing but the epoch is a no-op. None
    /// of them writes the deadline word.
    fn force_open(&mut self) -> Option<Trans> {
        if self.state == MState::ForcedOpen {
            return None;
        }
        self.reopen = 0;
        self.samples = 0;
        self.health = FULL;
        Some(self.transition(MState::ForcedOpen, None))
    }

    /// From `Closed`, health and samples carry over as they are now (decayed by
    /// the time since the mark); the new epoch's mark starts now.
    fn disable(&mut self, now_ns: u64) -> Option<Trans> {
        if self.state == MState::Disabled {
            return None;
        }
        if self.state == MState::Closed {
            (self.health, self.samples) = self.decayed(now_ns);
        } else {
            self.health = FULL;
            self.samples = 0;
        }
        self.reopen = 0;
        let t = self.transition(MState::Disabled, None);
        self.start_mark(now_ns);
        Some(t)
    }

    /// A no-op on `Closed` at full health as of now (decayed), which has no samples.
    fn reset(&mut self, now_ns: u64) -> Option<Trans> {
        if self.state == MState::Closed && self.decayed(now_ns).0 == FULL {
            return None;
        }
        self.health = FULL;
        self.samples = 0;
        self.reopen = 0;
        let t = self.transition(MState::Closed, None);
        self.start_mark(now_ns);
        Some(t)
    }

    fn snapshot(&self, now_ns: u64) -> Snap {
        let st = self.state;
        let measured = matches!(st, MState::Closed | MState::Disabled);
        let open = st == MState::Open;
        let half = st == MState::HalfOpen;
        // Measuring states report health and samples decayed to now.
        let (health, samples) = if measured {
            self.decayed(now_ns)
        } else {
            (self.health, self.samples)
        };
        Snap {
            state: st,
            epoch: self.epoch,
            health_bits: (measured || open).then(|| (health as f64 / FULL as f64).to_bits()),
            samples: if measured { samples } else { 0 },
            probes_in_flight: if half { self.in_flight } else { 0 },
            probe_successes: if half { self.successes } else { 0 },
            reopens: if open || half { self.reopen } else { 0 },
            open_until: open.then(|| Duration::from_millis(self.deadline_ms())),
            ready_to_probe: open && self.elapsed(now_ns) / NS_PER_MS >= self.deadline_ms(),
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
}

impl<'b> Driver<'b> {
    fn observe_acquire(real: &Result<Permit<'_>, Rejected>) -> Acq {
        match real {
            Ok(p) => Acq::Admit(p.epoch()),
            Err(Rejected::Open { retry_after }) => Acq::Reject(Rej::Open(*retry_after)),
            Err(Rejected::ForcedOpen) => Acq::Reject(Rej::Forced),
            Err(Rejected::ProbesBusy) => Acq::Reject(Rej::Busy),
            Err(Rejected::Shed) => Acq::Reject(Rej::Shed),
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
                let real = self.breaker.disable();
                let expected = self.model.disable(self.now_ns);
                self.operator(step, op, real, expected);
            }
            Op::Reset => {
                let real = self.breaker.reset();
                let expected = self.model.reset(self.now_ns);
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
    assert_eq!(
        breaker.half_life(),
        Duration::from_nanos(model.tick_ns * DECAY_TICKS),
        "half_life disagrees (ticks of half_life / 64, whole ns); config {cfg:?}"
    );
    assert_eq!(
        breaker.shed_below().map(f64::to_bits),
        (model.shed > 0).then(|| (model.shed as f64 / FULL as f64).to_bits()),
        "shed_below disagrees; config {cfg:?}"
    );
    assert_eq!(
        breaker.slow_call_threshold(),
        model.slow_call.map(|(ns, _)| Duration::from_nanos(ns)),
        "slow_call threshold disagrees; config {cfg:?}"
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
        last_report: None,
        quiet_ns: 21 * breaker.half_life().as_nanos(),
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
