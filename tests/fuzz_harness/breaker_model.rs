//! The reference model of `fusebox::Breaker`, written from its specification, and
//! the breaker configurations the fuzz harnesses decode: shared by the breaker
//! harness (`breaker_ops.rs`, which drives it operation by operation against the
//! real breaker) and the retry harness (`retry_ops.rs`, which drives it under a
//! model of `Guard::call`). Both include this file as a submodule with `#[path]`.
//!
//! The model is a plain sequential re-statement: fixed-point health, trip rules,
//! open periods, epoch-tagged permits, the decay mark per epoch in the deadline
//! word with the decay table computed exactly, graded admission with its exact
//! draw sequence, probe leases, slow calls. It calls nothing of the library but
//! its public types.

use fusebox::{
    Breaker, BreakerBuilder, BreakerSnapshot, Recorded, Rejected, State, Transition, Verdict,
};
use std::collections::VecDeque;
use std::time::Duration;

// ---------------------------------------------------------------------------
// Constants of the specification and of the configuration header.
// ---------------------------------------------------------------------------

/// Health 1.0 in the breaker's fixed point.
pub const FULL: u64 = (1 << 20) - 1;
/// Epochs wrap modulo 2^24.
pub const EPOCH_MASK: u32 = (1 << 24) - 1;
/// Deadlines saturate at this many milliseconds.
pub const DEADLINE_MAX_MS: u64 = (1 << 40) - 1;
/// Time in decay ticks stops here (the mark word's 42-bit field).
pub const MARK_MAX_TICKS: u64 = (1 << 42) - 1;
pub const NS_PER_MS: u64 = 1_000_000;
/// Scale of the fixed-point rates.
pub const ONE_FP: u64 = 1 << 32;
/// The re-open count saturates here.
pub const REOPEN_MAX: u32 = 31;

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

/// The largest legal period (`MAX_OPEN_PERIOD`, 366 days), in nanoseconds.
pub const MAX_PERIOD_NS: u64 = 366 * 86_400 * 1_000_000_000;
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
    /// `open_jitter`: 0 in the breaker harness; the retry harness also builds
    /// breakers with the default 0.1, whose jittered periods the model reads from
    /// the transitions heard (see [`Model::heard_periods`]).
    pub open_jitter: f64,
}

impl Config {
    pub fn decode(h: &[u8; HEADER_LEN]) -> Self {
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
            open_jitter: 0.0,
        }
    }

    pub fn builder(&self) -> BreakerBuilder {
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
        // The reference model does not model the adaptive concurrency limit:
        // it is off here (it has its own unit tests and loom models), so timed
        // records feed only the slow-call rule, as the model expects.
        b.open_jitter(self.open_jitter)
            .jitter_seed(self.seed)
            .adaptive_limit(false)
    }
}

impl Config {
    /// What `Breaker::builder()` is by default, as `BreakerBuilder`'s documentation
    /// states it (`trip_on_failure_rate(0.95, 50)`, half-life 5 s, graded admission
    /// below 0.5 with `min_admit` 0.05, open 500 ms ×2 up to four times that,
    /// jitter 0.1, 2 probes, close after 2, probe leases up to 10 s, no slow-call
    /// threshold), on a clock starting at `start_ns` with `jitter_seed(seed)`.
    pub fn defaults(start_ns: u64, seed: u64) -> Config {
        Config {
            tripping: Tripping::Rate {
                rate: 0.95,
                window: 50,
            },
            open_for_ns: 500 * NS_PER_MS,
            growth: 2.0,
            cap_ns: 4 * 500 * NS_PER_MS,
            probes: 2,
            close_after: 2,
            probe_timeout_ns: 10_000 * NS_PER_MS,
            start_ns,
            half_life_ns: 5_000 * NS_PER_MS,
            slow_call: None,
            shed_below: 0.5,
            min_admit: 0.05,
            seed,
            open_jitter: 0.1,
        }
    }
}

/// The jitter seed of an input: a fold of its header, so that inputs differ in
/// their draws too.
pub fn seed_of(h: &[u8; HEADER_LEN]) -> u64 {
    let mut low = [0u8; 8];
    low.copy_from_slice(&h[..8]);
    u64::from_le_bytes(low)
        ^ (u64::from(h[8]) << 8 | u64::from(h[9])).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The header in readable form, for building seed inputs (see [`encode`]).
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

impl Header {
    /// A breaker that changes state within milliseconds, drawn from the bits
    /// of `r` (the replay tests' sweeps): short open periods, leases and
    /// half-lives, any trip rule, graded admission and slow-call threshold.
    pub fn fast_changing(r: u64) -> Self {
        let byte = |shift: u32| (r >> shift) as u8;
        Self {
            mode: byte(0) % 3,
            p1: byte(2),
            p2: byte(8),
            p3: byte(12),
            open_for_ms: 1 + byte(16) % 20,
            growth: byte(20) % 4,
            cap: byte(22) % 6,
            probes: 1 + byte(24) % 3,
            close_after: 1 + byte(26) % 3,
            start: 0,
            sub_ms: byte(28) % 6,
            probe_timeout: byte(31) % 7,
            // Mostly the shortest half-lives (64 ms … 1 s), now and then the others.
            half_life: if byte(34).is_multiple_of(4) {
                byte(36) % 16
            } else {
                1 + byte(36) % 7
            },
            slow_call: byte(40) % 4,
            shed: byte(42) % 32,
            min_admit: byte(48) % 32,
        }
    }

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

    pub fn bytes(&self) -> [u8; HEADER_LEN] {
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
    pub fn of(s: State) -> MState {
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

    pub fn index(self) -> u32 {
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
    pub from: MState,
    pub to: MState,
    pub epoch: u32,
    pub open_for: Option<Duration>,
}

impl Trans {
    pub fn of(t: &Transition) -> Trans {
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
pub enum Rej {
    Open(Option<Duration>),
    Forced,
    Busy,
    Shed,
}

impl Rej {
    /// The model's name for a real refusal.
    pub fn of(r: &Rejected) -> Rej {
        match r {
            Rejected::Open { retry_after } => Rej::Open(*retry_after),
            Rejected::ForcedOpen => Rej::Forced,
            Rejected::ProbesBusy => Rej::Busy,
            Rejected::Shed => Rej::Shed,
            // `Rejected` is non-exhaustive: a new refusal needs a place in the model.
            other => panic!("unknown Rejected variant {other:?}"),
        }
    }

    /// When to come back: known only for `Open`.
    pub fn retry_after(self) -> Option<Duration> {
        match self {
            Rej::Open(after) => after,
            Rej::Forced | Rej::Busy | Rej::Shed => None,
        }
    }
}

/// The outcome of an acquire, as compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acq {
    Admit(u32),
    Reject(Rej),
}

impl Acq {
    /// The model's view of a real acquire, given the epoch of an admitted permit.
    pub fn of<P>(real: &Result<P, Rejected>, epoch: impl Fn(&P) -> u32) -> Acq {
        match real {
            Ok(permit) => Acq::Admit(epoch(permit)),
            Err(r) => Acq::Reject(Rej::of(r)),
        }
    }
}

/// The outcome of a record, as compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rec {
    Applied(Option<Trans>),
    Stale,
}

impl Rec {
    /// The model's view of a real report.
    pub fn of(real: Recorded) -> Rec {
        match real {
            Recorded::Applied { transition } => Rec::Applied(transition.as_ref().map(Trans::of)),
            Recorded::Stale => Rec::Stale,
        }
    }
}

/// A snapshot, as compared (health by its bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snap {
    pub state: MState,
    pub epoch: u32,
    pub health_bits: Option<u64>,
    pub samples: u32,
    pub probes_in_flight: u32,
    pub probe_successes: u32,
    pub reopens: u32,
    pub open_until: Option<Duration>,
    pub ready_to_probe: bool,
    pub stale_reports: u64,
}

/// A fraction in fixed point, scale 2^32, rounded down (`down`) or up.
pub fn rate(x: f64, down: bool) -> u64 {
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
pub fn after_failure(h: u64, k: u64) -> u64 {
    h - (h * k) / ONE_FP
}

/// A success's rise is rounded up: below full, a success always moves health.
pub fn after_success(h: u64, alpha_up: u64) -> u64 {
    h + ((FULL - h) * alpha_up).div_ceil(ONE_FP)
}

/// The spec's bound on the successes that restore full health from anywhere:
/// `ceil(20 / -log2(1 - a))`, at most `FULL`.
pub fn successes_to_full(alpha_up: u64) -> u64 {
    if alpha_up >= ONE_FP {
        return 1;
    }
    let keep = 1.0 - alpha_up as f64 / ONE_FP as f64;
    ((20.0 / -keep.log2()).ceil()).min(FULL as f64) as u64
}

/// The clamped failure weight: 0 means no signal.
pub fn clamped_weight(w: f64) -> f64 {
    if w.is_nan() || w <= 0.0 {
        0.0
    } else {
        w.min(1000.0)
    }
}

/// A threshold in units, rounded up: a health equal to it in real arithmetic is not
/// below it.
pub fn threshold_units(x: f64) -> u64 {
    (x * FULL as f64).ceil().clamp(1.0, FULL as f64) as u64
}

/// Decay ticks per half-life.
pub const DECAY_TICKS: u64 = 64;

/// The decay table of the specification, `D[i] = floor(2^32 * 2^(-i/64))`,
/// computed exactly (not copied): `D[i]` is the largest integer `d` with
/// `d^64 <= 2^(2048 - i)`, found from a floating-point estimate and checked with
/// big-integer powers. Computed once per process.
pub fn decay_table() -> &'static [u64; DECAY_TICKS as usize] {
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
pub fn pow64_at_most_pow2(x: u64, e: u32) -> bool {
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
pub fn decay(x: u64, k: u64) -> u64 {
    let part = x * decay_table()[(k % DECAY_TICKS) as usize] / ONE_FP;
    let halvings = k / DECAY_TICKS;
    if halvings >= 64 { 0 } else { part >> halvings }
}

/// Health after `k` ticks without a verdict: the gap to full decays.
pub fn after_idle(h: u64, k: u64) -> u64 {
    FULL - decay(FULL - h, k)
}

/// splitmix64's finaliser (the graded-admission draw hashes a counter with it).
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The step of the graded-admission counter (and its start is `seed ^ DRAWS_SALT`).
pub const DRAWS_STEP: u64 = 0x9E37_79B9_7F4A_7C15;
pub const DRAWS_SALT: u64 = 0x5851_F42D_4C95_7F2D;

/// What the deadline word holds, by the kind of state that wrote it (for the
/// summary: a decay mark started over an open deadline or a probe lease).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordKind {
    Deadline,
    Lease,
    Mark,
}

/// What one report's decay claim did (for the summary).
#[derive(Clone, Copy, Debug, Default)]
pub struct Claim {
    /// The claim started this epoch's mark.
    pub started: bool,
    /// It started it over another epoch's open deadline or probe lease.
    pub over_deadline: bool,
    /// Ticks claimed (and applied).
    pub ticks: u64,
}

pub struct Model {
    // Configuration.
    pub alpha: f64,
    pub alpha_up: u64,
    pub alpha_down: u64,
    pub probe_timeout_ns: u64,
    pub threshold: u64,
    pub min_samples: u32,
    pub open_for_ns: u64,
    pub growth: f64,
    pub cap_ns: u64,
    pub probes: u32,
    pub close_after: u32,
    pub start_ns: u64,
    /// One decay tick, `half_life / 64` rounded down.
    pub tick_ns: u64,
    /// Graded admission below this health (units); 0 when off.
    pub shed: u64,
    /// The smallest admission chance (scale 2^32, rounded up).
    pub min_admit: u64,
    /// The slow-call threshold (ns) and weight.
    pub slow_call: Option<(u64, f64)>,
    /// `open_jitter`.
    pub open_jitter: f64,
    /// With `open_jitter` > 0, the jittered open periods (ns) of the transitions
    /// into `Open` the real breaker was heard making, oldest first: the model takes
    /// each one it enters (the random draw is the breaker's), after checking that
    /// it lies within the jitter's range.
    pub heard_periods: VecDeque<u64>,
    // State.
    pub state: MState,
    pub epoch: u32,
    pub health: u64,
    pub samples: u32,
    pub reopen: u32,
    pub in_flight: u32,
    /// HalfOpen: consecutive periods before this one replaced by lease expiry.
    pub leases: u32,
    /// The last `acquire` stored a decay (a report made by the breaker itself).
    pub last_stored: bool,
    pub successes: u32,
    /// The deadline word: its epoch tag and value (open deadline or probe lease in
    /// ms, or decay mark in ticks).
    pub word_tag: u32,
    pub word: u64,
    pub word_kind: WordKind,
    /// The graded-admission counter.
    pub draws: u64,
    pub stale: u64,
    /// Transitions into a measuring state whose first mark replaced an open
    /// deadline or a probe lease.
    pub marks_over_deadline: u32,
    /// Transitions made during the current operation.
    pub events: Vec<Trans>,
    /// What the last report's decay claim did.
    pub last_claim: Claim,
    /// Whether the last acquire drew (graded admission).
    pub last_drew: bool,
}

impl Model {
    /// The model of a valid configuration, or the field the builder must name (the
    /// first invalid one, in the builder's order).
    pub fn new(cfg: &Config) -> Result<Model, &'static str> {
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
            open_jitter: cfg.open_jitter,
            heard_periods: VecDeque::new(),
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

    pub fn elapsed(&self, now_ns: u64) -> u64 {
        now_ns.saturating_sub(self.start_ns)
    }

    /// Decay ticks since the start. Time in ticks is kept in the mark word's
    /// 42-bit field and stops at its end: past it, no more decay.
    pub fn now_tick(&self, now_ns: u64) -> u64 {
        (self.elapsed(now_ns) / self.tick_ns).min(MARK_MAX_TICKS)
    }

    /// A transition into `Closed` or `Disabled` starts the new epoch's decay mark
    /// at once (the health it carries is as of now).
    pub fn start_mark(&mut self, now_ns: u64) {
        let now = self.now_tick(now_ns);
        if matches!(self.word_kind, WordKind::Deadline | WordKind::Lease) {
            self.marks_over_deadline += 1;
        }
        self.word_tag = self.epoch;
        self.word = now;
        self.word_kind = WordKind::Mark;
    }

    /// The deadline word's value if it belongs to the current epoch.
    pub fn word_of_epoch(&self) -> Option<u64> {
        (self.word_tag == self.epoch).then_some(self.word)
    }

    /// The open deadline of the current `Open` epoch (always published in a
    /// sequential run).
    pub fn deadline_ms(&self) -> u64 {
        self.word_of_epoch()
            .expect("the Open epoch's deadline is published")
    }

    pub fn write_word(&mut self, value: u64, kind: WordKind) {
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
    pub fn decayed(&self, now_ns: u64) -> (u64, u32) {
        let h = match self.word_of_epoch() {
            Some(mark) => after_idle(self.health, self.now_tick(now_ns).saturating_sub(mark)),
            None => self.health,
        };
        (h, if h == FULL { 0 } else { self.samples })
    }

    /// A reporter's decay claim in the current (measuring) epoch: with this
    /// epoch's mark `m`, the ticks since it (0, and no write, if none passed) and
    /// the mark moves to now; otherwise the mark starts at now and 0 ticks.
    pub fn claim_decay(&mut self, now_ns: u64) -> u64 {
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
    pub fn timed_verdict(&self, verdict: Verdict, elapsed: Duration) -> Verdict {
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

    pub fn period_ns(&self, reopen: u32) -> u64 {
        let p = (self.open_for_ns as f64 * self.growth.powi(reopen as i32)).min(self.cap_ns as f64)
            as u64;
        p.min(self.cap_ns)
    }

    /// The period `p` shortened by the open jitter: `p` itself without jitter;
    /// otherwise the next period heard from the real breaker, which must lie in
    /// `[p × (1 − open_jitter), p]` ("shortened by up to `open_jitter` at random",
    /// computed in `f64`: one nanosecond of rounding allowed below).
    pub fn jittered(&mut self, p: u64) -> u64 {
        if self.open_jitter == 0.0 {
            return p;
        }
        let heard = self.heard_periods.pop_front().unwrap_or_else(|| {
            panic!("the model enters Open (period {p} ns before jitter), but no such transition was heard")
        });
        let low = ((p as f64) * (1.0 - self.open_jitter)).floor().max(1.0) as u64;
        assert!(
            low.saturating_sub(1) <= heard && heard <= p,
            "jittered open period {heard} ns outside [{low}, {p}] (open_jitter {})",
            self.open_jitter
        );
        heard
    }

    /// Move to `to` with a new epoch and record the transition.
    pub fn transition(&mut self, to: MState, open_for: Option<Duration>) -> Trans {
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
    pub fn open(&mut self, now_ns: u64, reopen: u32, health: u64) -> Trans {
        let p = self.jittered(self.period_ns(reopen));
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
    pub fn half_open(&mut self, now_ns: u64, leases: u32) -> Acq {
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

    /// Graded admission in `Closed` below `shed`: admit while the spell has
    /// fewer than `min_samples` attempts (no draw), or when `min_admit` is 1;
    /// otherwise draw `splitmix64(counter) >> 32` (stepping the counter) and
    /// admit if the draw is below the chance `max(min_admit, h / shed)` of the
    /// stored health; only if not, look at the health as of now: full (time
    /// ended the spell) is stored, as a decay-only report, and admits; below
    /// full the same draw is compared with the chance of that health (1 from
    /// `shed` up).
    pub fn admit_graded(&mut self, now_ns: u64) -> bool {
        if self.samples < self.min_samples || self.min_admit >= ONE_FP {
            return true;
        }
        let chance = |h: u64, shed: u64, min_admit: u64| {
            if h >= shed {
                ONE_FP
            } else {
                ((h << 32) / shed).max(min_admit)
            }
        };
        let draw = splitmix64(self.draws) >> 32;
        self.draws = self.draws.wrapping_add(DRAWS_STEP);
        self.last_drew = true;
        if draw < chance(self.health, self.shed, self.min_admit) {
            return true;
        }
        let (h, _) = self.decayed(now_ns);
        if h == FULL {
            // Time alone ended the spell: the breaker stores it (a decay-only
            // report, which moves the mark), and admits.
            let epoch = self.epoch;
            let _ = self.report(now_ns, epoch, Verdict::Ignored, true);
            self.last_stored = true;
            return true;
        }
        draw < chance(h, self.shed, self.min_admit)
    }

    pub fn acquire(&mut self, now_ns: u64) -> Acq {
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
    pub fn deadline_ms_of_lease(&self) -> u64 {
        self.word_of_epoch()
            .expect("the HalfOpen epoch's lease is published")
    }

    /// A caller's report (`record`, or `record_timed` with the limit off): a
    /// success or a non-signal is applied without time.
    pub fn record(&mut self, now_ns: u64, epoch: u32, verdict: Verdict) -> Rec {
        self.report(now_ns, epoch, verdict, false)
    }

    /// A report at `now_ns`; `timed`: made with the time (the breaker's own
    /// decay-only store), so the decay due is applied first whatever the verdict.
    fn report(&mut self, now_ns: u64, epoch: u32, verdict: Verdict, timed: bool) -> Rec {
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
                // A failure brings health up to date with time first (claiming the
                // ticks since the mark), and so does a timed report below full
                // health; a caller's success or non-signal is applied as it
                // comes, without time (the breaker under test has its
                // concurrency limit off, so none of its caller's reports is timed).
                let ticks = if weight.is_some() || (timed && self.health < FULL) {
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
    pub fn cancel(&mut self, epoch: u32) {
        if self.state == MState::HalfOpen && epoch == self.epoch {
            self.in_flight -= 1;
        }
    }

    /// An operator call that would change nothing but the epoch is a no-op. None
    /// of them writes the deadline word.
    pub fn force_open(&mut self) -> Option<Trans> {
        if self.state == MState::ForcedOpen {
            return None;
        }
        self.reopen = 0;
        self.samples = 0;
        self.health = FULL;
        Some(self.transition(MState::ForcedOpen, None))
    }

    /// From `Closed`, the word carries over as it is (health, samples); below
    /// full health its decay mark moves to the new epoch with it, so health goes
    /// on decaying from where it was. At full health, and from any other state
    /// (full health), the new epoch's mark starts now.
    pub fn disable(&mut self, now_ns: u64) -> Option<Trans> {
        if self.state == MState::Disabled {
            return None;
        }
        if self.state != MState::Closed {
            self.health = FULL;
            self.samples = 0;
        }
        let carried = self.health < FULL;
        self.reopen = 0;
        let t = self.transition(MState::Disabled, None);
        if carried && self.word_kind == WordKind::Mark {
            // The mark word is re-tagged: same mark, the new epoch.
            self.word_tag = self.epoch;
        } else {
            self.start_mark(now_ns);
        }
        Some(t)
    }

    /// A no-op (no epoch bump, nothing stored) when the breaker, decayed to now,
    /// is `Closed` at full health with no samples (issue 17): a stored word below
    /// full that time has brought back to full is such a breaker.
    pub fn reset(&mut self, now_ns: u64) -> Option<Trans> {
        if self.state == MState::Closed && self.decayed(now_ns) == (FULL, 0) {
            return None;
        }
        self.health = FULL;
        self.samples = 0;
        self.reopen = 0;
        let t = self.transition(MState::Closed, None);
        self.start_mark(now_ns);
        Some(t)
    }

    pub fn snapshot(&self, now_ns: u64) -> Snap {
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

    /// `Breaker::rejects_for(after)` at `now_ns`: `ForcedOpen` always; `Open`
    /// while an attempt made `after` from now would still come before the deadline
    /// (in whole milliseconds), with the time left until the deadline; `None` in
    /// every other state. Exact arithmetic: no `after` is too long.
    pub fn rejects_for(&self, now_ns: u64, after: Duration) -> Option<Rej> {
        match self.state {
            MState::ForcedOpen => Some(Rej::Forced),
            MState::Open => {
                let elapsed = self.elapsed(now_ns);
                let deadline_ns = self.deadline_ms() * NS_PER_MS;
                (u128::from(elapsed) + after.as_nanos() < u128::from(deadline_ns))
                    .then(|| Rej::Open(Some(Duration::from_nanos(deadline_ns - elapsed))))
            }
            MState::Closed | MState::HalfOpen | MState::Disabled => None,
        }
    }

    /// Check what a freshly built breaker reports about its configuration
    /// against the model's reading of it (`cfg` names it in messages).
    pub fn check_built(&self, breaker: &Breaker, cfg: &dyn std::fmt::Debug) {
        let to_full = successes_to_full(self.alpha_up);
        assert_eq!(
            u64::from(breaker.successes_to_full_health()),
            to_full,
            "the convergence bound disagrees; config {cfg:?}"
        );
        assert_eq!(
            breaker.alpha().to_bits(),
            self.alpha.to_bits(),
            "alpha disagrees: real {}, model {}; config {cfg:?}",
            breaker.alpha(),
            self.alpha
        );
        assert_eq!(
            breaker.half_life(),
            Duration::from_nanos(self.tick_ns * DECAY_TICKS),
            "half_life disagrees (ticks of half_life / 64, whole ns); config {cfg:?}"
        );
        assert_eq!(
            breaker.shed_below().map(f64::to_bits),
            (self.shed > 0).then(|| (self.shed as f64 / FULL as f64).to_bits()),
            "shed_below disagrees; config {cfg:?}"
        );
        assert_eq!(
            breaker.slow_call_threshold(),
            self.slow_call.map(|(ns, _)| Duration::from_nanos(ns)),
            "slow_call threshold disagrees; config {cfg:?}"
        );
        let threshold = self.threshold as f64 / FULL as f64;
        assert_eq!(
            breaker.threshold().to_bits(),
            threshold.to_bits(),
            "threshold disagrees: real {}, model {threshold} ({} units); config {cfg:?}",
            breaker.threshold(),
            self.threshold
        );
    }

    /// The health a listener's event carries: the stored health of a measuring
    /// state (not decayed to now), `None` elsewhere.
    pub fn event_health_bits(&self) -> Option<u64> {
        matches!(self.state, MState::Closed | MState::Disabled)
            .then(|| (self.health as f64 / FULL as f64).to_bits())
    }
}

impl Snap {
    /// The model's view of a real snapshot and stale-report count.
    pub fn of(s: &BreakerSnapshot, stale_reports: u64) -> Snap {
        Snap {
            state: MState::of(s.state),
            epoch: s.epoch,
            health_bits: s.health.map(f64::to_bits),
            samples: s.samples,
            probes_in_flight: s.probes_in_flight,
            probe_successes: s.probe_successes,
            reopens: s.reopens,
            open_until: s.open_until,
            ready_to_probe: s.ready_to_probe,
            stale_reports,
        }
    }
}
