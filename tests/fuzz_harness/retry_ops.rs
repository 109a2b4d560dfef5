//! Property harness for `fusebox::Guard::call` with `fusebox::Retry`: decode bytes
//! into a retry policy (built through the public builder from raw, possibly hostile
//! values), a breaker, an optional retry budget and a script of attempt outcomes;
//! run one or more guarded calls on a `ManualClock` with a recording sleeper; and
//! assert the documented properties after every attempt, every sleep and every call.
//!
//! This file is a plain module with no libFuzzer dependency. It is included by the
//! cargo-fuzz target (`fuzz/fuzz_targets/retry_ops.rs`) and by the replay test of
//! the main crate (`tests/fuzz_replay_retry.rs`), both with `#[path]`.
//!
//! # Input format
//!
//! Bytes are read in order; missing bytes read as 0. `dur` is a duration (see
//! [`D`]: a selector byte `% 16`, then 0, 1, 2 or 8 argument bytes).
//!
//! | field | bytes |
//! | --- | --- |
//! | `max_attempts` | selector `% 16` (see [`Attempts`]); `Raw` adds 4 bytes LE, `Small` 1 |
//! | backoff | selector `% 5`: 0 `constant_backoff(dur)`, 1 `exponential_backoff(dur, factor, max)`, 2 `backoff(Constant(dur))`, 3 `backoff(Exponential{..})`, 4 builder default |
//! | exponential: factor | selector `% 16` into [`FACTORS`]; the last entry reads 8 bytes (raw `f64` bits) |
//! | exponential: max | selector `% 4`: 0 `= initial`, 1 `initial + dur` (saturating), 2 `dur`, 3 `Duration::MAX` |
//! | jitter | `% 5`: None, Full, Equal, Decorrelated, builder default (Full) |
//! | deadline | `% 8`: 0–3 none, 4 `Some(ZERO)`, 5–7 `Some(dur)` |
//! | seed | 1 byte `s`: even → seed `s / 2`; odd → 8 more bytes LE |
//! | breaker | `% 8`: 0–4 default breaker then `disable()` (never rejects); 5–7 `trip_after_consecutive_failures(1 + (b >> 3) % 4)`, then 1 byte: `open_for = OPEN_FOR[b % 5]` |
//! | budget | `% 3`: 1–2 none; 0: ratio, floor, max, initial bytes into [`RATIOS`], [`FLOORS`], [`MAX_BALANCES`], [`INITIALS`] |
//! | clock start | `STARTS[b % len]` |
//!
//! Then the script. Each time the operation is invoked it reads one attempt:
//!
//! - kind byte `k`: `k % 8` is the classification ([`Kind`]); bit 3 flips the result
//!   (`Ok` ↔ `Err`; by default `Success` is an `Ok`, everything else an `Err`);
//!   bits 4–6 (`(k >> 4) % 8`): 5 `force_open`, 6 `reset`, 7 `disable` during the
//!   attempt, else nothing; bit 7: an attempt duration `dur` follows (else zero);
//! - for weighted failures, a weight byte into [`WEIGHTS`];
//! - for hinted failures, the hint `dur`;
//! - the attempt duration `dur` if bit 7 was set.
//!
//! When the input is exhausted, or at the [`MAX_RUN`]-th attempt of a call, the
//! operation returns `Ok` classified `Success` (so the call ends whatever
//! `max_attempts` is). After a call, if bytes are left, one byte `g` starts the
//! next call (at most [`MAX_CALLS`]): bit 0 set → advance the clock by `dur`;
//! `(g >> 1) % 8`: 5 `force_open`, 6 `reset`, 7 `disable`.
//!
//! An invalid retry or budget configuration must be a `ConfigError` naming an
//! invalid field (never a panic), and ends the input.

use fusebox::{
    Attempt, Backoff, Breaker, Classification, Clock, ConfigError, ConfigErrorKind, Guard,
    GuardError, Jitter, MAX_OPEN_PERIOD, ManualClock, Rejected, Retry, RetryBudget, Sleeper, State,
};
use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

// ---------------------------------------------------------------------------
// Limits and tables.
// ---------------------------------------------------------------------------

/// Calls made at most from one input.
pub const MAX_CALLS: usize = 16;
/// Attempts executed at most per call: the `MAX_RUN`-th attempt returns `Ok`.
pub const MAX_RUN: u32 = 64;
/// `Retry::delays` is checked over at most this many delays.
pub const DELAYS_CHECKED: usize = 64;

const NS_PER_MS: u64 = 1_000_000;
const YEAR_SECS: u64 = 365 * 86_400;
/// The retry budget keeps its refill time in 40 bits of milliseconds; past that
/// (about 34.8 years after it was built) the floor stops refilling.
const BUDGET_MARK_MAX_MS: u64 = (1 << 40) - 1;

/// The documented precision of a fractional exponential factor (finding R4,
/// resolved by documenting it in `src/retry.rs`): `base(k)` is computed in `f64`
/// and truncated, so it may be off from the exact value by a few parts in 2^50
/// (53-bit mantissa, `powi`, the product, the casts), plus one nanosecond.
fn f64_slack(x: u64) -> u64 {
    (x >> 48).saturating_add(1)
}

/// A note for a failure message when `value` misses `[low, high]` by no more than
/// the `f64` slack with a fractional factor (finding R4).
fn r4_note(fractional: bool, value: u64, low: u64, high: u64) -> &'static str {
    if fractional
        && value.saturating_add(f64_slack(low)) >= low
        && value <= high.saturating_add(f64_slack(high))
    {
        " [matches finding R4 in fuzz/README.md: fractional-factor base(k) off by its f64 error]"
    } else {
        ""
    }
}

/// Exponential growth factors (the last entry means "8 raw bytes follow").
pub const FACTORS: [f64; 16] = [
    1.0,
    2.0,
    1.5,
    3.0,
    10.0,
    0.5,
    1e300,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    0.0,
    -1.0,
    1.000_000_1,
    f64::MAX,
    1.1,
    0.0, // placeholder: raw bits
];
/// Index of the raw entry of [`FACTORS`].
pub const FACTOR_RAW: u8 = 15;

/// Failure weights (the breaker clamps them; the retry ignores them).
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
    f64::NEG_INFINITY,
    1000.0,
    1e300,
    -0.0,
    f64::MIN_POSITIVE,
    3.0,
    0.25,
];

/// `open_for` of a tripping breaker (open_cap = min(4 × open_for, 366 days)).
pub const OPEN_FOR: [Duration; 5] = [
    Duration::from_millis(1),
    Duration::from_millis(10),
    Duration::from_millis(250),
    Duration::from_secs(60),
    MAX_OPEN_PERIOD,
];

/// Budget `ratio`s (valid and invalid).
pub const RATIOS: [f64; 12] = [
    0.2,
    0.0,
    0.001,
    0.5,
    1.0,
    10.0,
    0.0004,
    f64::NAN,
    -0.1,
    10.5,
    f64::INFINITY,
    0.0005,
];
/// Budget `min_retries_per_sec` (16 001 is invalid).
pub const FLOORS: [u32; 8] = [0, 1, 10, 100, 1000, 16_000, 16_001, 3];
/// Budget `max_balance` (0 and 16 001 are invalid).
pub const MAX_BALANCES: [u32; 8] = [1, 2, 5, 100, 16_000, 0, 16_001, 3];
/// Budget `initial_balance` (`None`: the builder default).
pub const INITIALS: [Option<u32>; 8] = [
    None,
    Some(0),
    Some(1),
    Some(3),
    Some(100),
    Some(u32::MAX),
    None,
    Some(2),
];
/// Clock readings at build, in nanoseconds.
pub const STARTS: [u64; 6] = [
    0,
    1,
    123_456_789,
    1 << 62,
    u64::MAX - 1_000_000_000_000,
    u64::MAX,
];

// ---------------------------------------------------------------------------
// Reading bytes.
// ---------------------------------------------------------------------------

/// Reads bytes, yielding zeros past the end.
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        b
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        u64::from_le_bytes(b)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }
}

// ---------------------------------------------------------------------------
// Decoded values (also used to encode seeds).
// ---------------------------------------------------------------------------

/// A duration in the input. Selector byte `% 16`, in this order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum D {
    /// 0.
    Zero,
    /// 1 ns.
    OneNs,
    /// `b` nanoseconds.
    Ns(u8),
    /// `b` microseconds.
    Us(u8),
    /// `b` milliseconds.
    Ms(u8),
    /// `u16` milliseconds.
    MsWide(u16),
    /// `b` seconds.
    Secs(u8),
    /// `u16` seconds.
    SecsWide(u16),
    /// `b` hours.
    Hours(u8),
    /// `b` × 365 days.
    Years(u8),
    /// `u64` nanoseconds.
    RawNs(u64),
    /// `u64::MAX` nanoseconds (the most a `Duration` saturates to).
    U64MaxNs,
    /// `u64::MAX` nanoseconds plus 1 ns.
    PastU64MaxNs,
    /// `Duration::MAX`.
    Max,
    /// `Duration::new(secs, nanos % 1e9)`: anything.
    Full(u64, u32),
    /// `2^53 + b - 128` nanoseconds (the edge of exact `f64` integers).
    Near2p53(u8),
}

impl D {
    fn decode(r: &mut Reader<'_>) -> D {
        match r.byte() % 16 {
            0 => D::Zero,
            1 => D::OneNs,
            2 => D::Ns(r.byte()),
            3 => D::Us(r.byte()),
            4 => D::Ms(r.byte()),
            5 => D::MsWide(r.u16()),
            6 => D::Secs(r.byte()),
            7 => D::SecsWide(r.u16()),
            8 => D::Hours(r.byte()),
            9 => D::Years(r.byte()),
            10 => D::RawNs(r.u64()),
            11 => D::U64MaxNs,
            12 => D::PastU64MaxNs,
            13 => D::Max,
            14 => D::Full(r.u64(), r.u32()),
            _ => D::Near2p53(r.byte()),
        }
    }

    /// The duration.
    pub fn value(self) -> Duration {
        match self {
            D::Zero => Duration::ZERO,
            D::OneNs => Duration::from_nanos(1),
            D::Ns(b) => Duration::from_nanos(u64::from(b)),
            D::Us(b) => Duration::from_micros(u64::from(b)),
            D::Ms(b) => Duration::from_millis(u64::from(b)),
            D::MsWide(v) => Duration::from_millis(u64::from(v)),
            D::Secs(b) => Duration::from_secs(u64::from(b)),
            D::SecsWide(v) => Duration::from_secs(u64::from(v)),
            D::Hours(b) => Duration::from_secs(3600 * u64::from(b)),
            D::Years(b) => Duration::from_secs(YEAR_SECS * u64::from(b)),
            D::RawNs(v) => Duration::from_nanos(v),
            D::U64MaxNs => Duration::from_nanos(u64::MAX),
            D::PastU64MaxNs => {
                Duration::from_nanos(u64::MAX).saturating_add(Duration::from_nanos(1))
            }
            D::Max => Duration::MAX,
            D::Full(s, n) => Duration::new(s, n % 1_000_000_000),
            D::Near2p53(b) => Duration::from_nanos((1u64 << 53) + u64::from(b) - 128),
        }
    }

    #[allow(dead_code)] // used by tests/fuzz_replay_retry.rs, not by the fuzz target
    fn encode(self, out: &mut Vec<u8>) {
        match self {
            D::Zero => out.push(0),
            D::OneNs => out.push(1),
            D::Ns(b) => out.extend_from_slice(&[2, b]),
            D::Us(b) => out.extend_from_slice(&[3, b]),
            D::Ms(b) => out.extend_from_slice(&[4, b]),
            D::MsWide(v) => {
                out.push(5);
                out.extend_from_slice(&v.to_le_bytes());
            }
            D::Secs(b) => out.extend_from_slice(&[6, b]),
            D::SecsWide(v) => {
                out.push(7);
                out.extend_from_slice(&v.to_le_bytes());
            }
            D::Hours(b) => out.extend_from_slice(&[8, b]),
            D::Years(b) => out.extend_from_slice(&[9, b]),
            D::RawNs(v) => {
                out.push(10);
                out.extend_from_slice(&v.to_le_bytes());
            }
            D::U64MaxNs => out.push(11),
            D::PastU64MaxNs => out.push(12),
            D::Max => out.push(13),
            D::Full(s, n) => {
                out.push(14);
                out.extend_from_slice(&s.to_le_bytes());
                out.extend_from_slice(&n.to_le_bytes());
            }
            D::Near2p53(b) => out.extend_from_slice(&[15, b]),
        }
    }
}

/// `max_attempts`. Selector byte `% 16`, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempts {
    /// Leave the builder default (3).
    Default,
    /// 0 (invalid).
    Zero,
    /// 1.
    One,
    /// 2.
    Two,
    /// 3.
    Three,
    /// 4.
    Four,
    /// 5.
    Five,
    /// 8.
    Eight,
    /// 64 (= [`MAX_RUN`]).
    SixtyFour,
    /// 65.
    SixtyFive,
    /// 1000.
    Thousand,
    /// `u32::MAX`.
    Max,
    /// `u32::MAX - 1`.
    MaxMinusOne,
    /// 4 raw bytes.
    Raw(u32),
    /// `1 + b % 32`.
    Small(u8),
    /// `b` (0 included).
    Byte(u8),
}

impl Attempts {
    fn decode(r: &mut Reader<'_>) -> Attempts {
        match r.byte() % 16 {
            0 => Attempts::Default,
            1 => Attempts::Zero,
            2 => Attempts::One,
            3 => Attempts::Two,
            4 => Attempts::Three,
            5 => Attempts::Four,
            6 => Attempts::Five,
            7 => Attempts::Eight,
            8 => Attempts::SixtyFour,
            9 => Attempts::SixtyFive,
            10 => Attempts::Thousand,
            11 => Attempts::Max,
            12 => Attempts::MaxMinusOne,
            13 => Attempts::Raw(r.u32()),
            14 => Attempts::Small(r.byte()),
            _ => Attempts::Byte(r.byte()),
        }
    }

    /// The value given to the builder (`None`: not called).
    pub fn value(self) -> Option<u32> {
        Some(match self {
            Attempts::Default => return None,
            Attempts::Zero => 0,
            Attempts::One => 1,
            Attempts::Two => 2,
            Attempts::Three => 3,
            Attempts::Four => 4,
            Attempts::Five => 5,
            Attempts::Eight => 8,
            Attempts::SixtyFour => 64,
            Attempts::SixtyFive => 65,
            Attempts::Thousand => 1000,
            Attempts::Max => u32::MAX,
            Attempts::MaxMinusOne => u32::MAX - 1,
            Attempts::Raw(v) => v,
            Attempts::Small(b) => 1 + u32::from(b % 32),
            Attempts::Byte(b) => u32::from(b),
        })
    }

    #[allow(dead_code)]
    fn encode(self, out: &mut Vec<u8>) {
        match self {
            Attempts::Raw(v) => {
                out.push(13);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Attempts::Small(b) => out.extend_from_slice(&[14, b]),
            Attempts::Byte(b) => out.extend_from_slice(&[15, b]),
            other => out.push(match other {
                Attempts::Default => 0,
                Attempts::Zero => 1,
                Attempts::One => 2,
                Attempts::Two => 3,
                Attempts::Three => 4,
                Attempts::Four => 5,
                Attempts::Five => 6,
                Attempts::Eight => 7,
                Attempts::SixtyFour => 8,
                Attempts::SixtyFive => 9,
                Attempts::Thousand => 10,
                Attempts::Max => 11,
                _ => 12,
            }),
        }
    }
}

/// The `max` of an exponential backoff.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaxSel {
    /// `max = initial`.
    SameAsInitial,
    /// `max = initial + d` (saturating).
    Plus(D),
    /// `max = d` (may be below `initial`: invalid).
    Abs(D),
    /// `Duration::MAX`.
    Max,
}

/// The backoff and how it is given to the builder.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BackoffSel {
    /// `constant_backoff(d)`.
    Constant(D),
    /// `exponential_backoff(initial, factor, max)`.
    Exponential {
        /// Initial.
        initial: D,
        /// Index into [`FACTORS`]; [`FACTOR_RAW`] uses `raw`.
        factor: u8,
        /// Raw `f64` bits when `factor == FACTOR_RAW`.
        raw: u64,
        /// Max.
        max: MaxSel,
    },
    /// `backoff(Backoff::Constant(d))`.
    EnumConstant(D),
    /// `backoff(Backoff::Exponential { .. })`.
    EnumExponential {
        /// Initial.
        initial: D,
        /// Index into [`FACTORS`].
        factor: u8,
        /// Raw bits.
        raw: u64,
        /// Max.
        max: MaxSel,
    },
    /// The builder default (100 ms ×2 up to 10 s).
    Default,
}

fn decode_exponential(r: &mut Reader<'_>) -> (D, u8, u64, MaxSel) {
    let initial = D::decode(r);
    let factor = r.byte() % 16;
    let raw = if factor == FACTOR_RAW { r.u64() } else { 0 };
    let max = match r.byte() % 4 {
        0 => MaxSel::SameAsInitial,
        1 => MaxSel::Plus(D::decode(r)),
        2 => MaxSel::Abs(D::decode(r)),
        _ => MaxSel::Max,
    };
    (initial, factor, raw, max)
}

fn factor_value(factor: u8, raw: u64) -> f64 {
    if factor % 16 == FACTOR_RAW {
        f64::from_bits(raw)
    } else {
        FACTORS[usize::from(factor % 16)]
    }
}

fn max_value(initial: Duration, max: MaxSel) -> Duration {
    match max {
        MaxSel::SameAsInitial => initial,
        MaxSel::Plus(d) => initial.saturating_add(d.value()),
        MaxSel::Abs(d) => d.value(),
        MaxSel::Max => Duration::MAX,
    }
}

impl BackoffSel {
    fn decode(r: &mut Reader<'_>) -> BackoffSel {
        match r.byte() % 5 {
            0 => BackoffSel::Constant(D::decode(r)),
            1 => {
                let (initial, factor, raw, max) = decode_exponential(r);
                BackoffSel::Exponential {
                    initial,
                    factor,
                    raw,
                    max,
                }
            }
            2 => BackoffSel::EnumConstant(D::decode(r)),
            3 => {
                let (initial, factor, raw, max) = decode_exponential(r);
                BackoffSel::EnumExponential {
                    initial,
                    factor,
                    raw,
                    max,
                }
            }
            _ => BackoffSel::Default,
        }
    }

    /// The backoff the builder ends up with.
    pub fn value(self) -> Backoff {
        match self {
            BackoffSel::Constant(d) | BackoffSel::EnumConstant(d) => Backoff::Constant(d.value()),
            BackoffSel::Exponential {
                initial,
                factor,
                raw,
                max,
            }
            | BackoffSel::EnumExponential {
                initial,
                factor,
                raw,
                max,
            } => {
                let initial = initial.value();
                Backoff::Exponential {
                    initial,
                    factor: factor_value(factor, raw),
                    max: max_value(initial, max),
                }
            }
            BackoffSel::Default => Backoff::Exponential {
                initial: Duration::from_millis(100),
                factor: 2.0,
                max: Duration::from_secs(10),
            },
        }
    }

    #[allow(dead_code)]
    fn encode(self, out: &mut Vec<u8>) {
        let exp = |out: &mut Vec<u8>, code: u8, initial: D, factor: u8, raw: u64, max: MaxSel| {
            out.push(code);
            initial.encode(out);
            out.push(factor);
            if factor % 16 == FACTOR_RAW {
                out.extend_from_slice(&raw.to_le_bytes());
            }
            match max {
                MaxSel::SameAsInitial => out.push(0),
                MaxSel::Plus(d) => {
                    out.push(1);
                    d.encode(out);
                }
                MaxSel::Abs(d) => {
                    out.push(2);
                    d.encode(out);
                }
                MaxSel::Max => out.push(3),
            }
        };
        match self {
            BackoffSel::Constant(d) => {
                out.push(0);
                d.encode(out);
            }
            BackoffSel::Exponential {
                initial,
                factor,
                raw,
                max,
            } => exp(out, 1, initial, factor, raw, max),
            BackoffSel::EnumConstant(d) => {
                out.push(2);
                d.encode(out);
            }
            BackoffSel::EnumExponential {
                initial,
                factor,
                raw,
                max,
            } => exp(out, 3, initial, factor, raw, max),
            BackoffSel::Default => out.push(4),
        }
    }
}

/// The breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerSel {
    /// Default breaker, then `disable()`: admits everything.
    Disabled,
    /// `trip_after_consecutive_failures(n)` (n in 1..=4), `open_for = OPEN_FOR[i % 5]`.
    Trip {
        /// Consecutive failures that trip (1..=4).
        n: u8,
        /// Index into [`OPEN_FOR`].
        open_for: u8,
    },
}

/// A retry budget configuration (indices into the tables).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetSel {
    /// Index into [`RATIOS`].
    pub ratio: u8,
    /// Index into [`FLOORS`].
    pub floor: u8,
    /// Index into [`MAX_BALANCES`].
    pub max: u8,
    /// Index into [`INITIALS`].
    pub initial: u8,
}

impl BudgetSel {
    fn ratio(&self) -> f64 {
        RATIOS[usize::from(self.ratio) % RATIOS.len()]
    }
    fn floor(&self) -> u32 {
        FLOORS[usize::from(self.floor) % FLOORS.len()]
    }
    fn max(&self) -> u32 {
        MAX_BALANCES[usize::from(self.max) % MAX_BALANCES.len()]
    }
    fn initial(&self) -> Option<u32> {
        INITIALS[usize::from(self.initial) % INITIALS.len()]
    }
}

/// The whole configuration of an input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Header {
    /// `max_attempts`.
    pub attempts: Attempts,
    /// Backoff.
    pub backoff: BackoffSel,
    /// 0 None, 1 Full, 2 Equal, 3 Decorrelated, 4 default.
    pub jitter: u8,
    /// `None`, or the deadline (`D::Zero` is invalid).
    pub deadline: Option<D>,
    /// Seed of the jitter generators.
    pub seed: u64,
    /// Breaker.
    pub breaker: BreakerSel,
    /// Budget.
    pub budget: Option<BudgetSel>,
    /// Index into [`STARTS`].
    pub start: u8,
}

impl Header {
    fn decode(r: &mut Reader<'_>) -> Header {
        let attempts = Attempts::decode(r);
        let backoff = BackoffSel::decode(r);
        let jitter = r.byte() % 5;
        let deadline = match r.byte() % 8 {
            0..=3 => None,
            4 => Some(D::Zero),
            _ => Some(D::decode(r)),
        };
        let s = r.byte();
        let seed = if s.is_multiple_of(2) {
            u64::from(s / 2)
        } else {
            r.u64()
        };
        let b = r.byte();
        let breaker = if b % 8 < 5 {
            BreakerSel::Disabled
        } else {
            BreakerSel::Trip {
                n: 1 + (b >> 3) % 4,
                open_for: r.byte() % 5,
            }
        };
        let budget = if r.byte().is_multiple_of(3) {
            Some(BudgetSel {
                ratio: r.byte(),
                floor: r.byte(),
                max: r.byte(),
                initial: r.byte(),
            })
        } else {
            None
        };
        let start = r.byte();
        Header {
            attempts,
            backoff,
            jitter,
            deadline,
            seed,
            breaker,
            budget,
            start,
        }
    }

    /// The input bytes of this header (see [`encode`]).
    #[allow(dead_code)]
    pub fn encode(&self, out: &mut Vec<u8>) {
        self.attempts.encode(out);
        self.backoff.encode(out);
        out.push(self.jitter);
        match self.deadline {
            None => out.push(0),
            Some(D::Zero) => out.push(4),
            Some(d) => {
                out.push(5);
                d.encode(out);
            }
        }
        if self.seed < 128 {
            out.push(self.seed as u8 * 2);
        } else {
            out.push(1);
            out.extend_from_slice(&self.seed.to_le_bytes());
        }
        match self.breaker {
            BreakerSel::Disabled => out.push(0),
            BreakerSel::Trip { n, open_for } => {
                assert!((1..=4).contains(&n), "trip n must be in 1..=4");
                out.push(5 | ((n - 1) << 3));
                out.push(open_for);
            }
        }
        match self.budget {
            None => out.push(1),
            Some(b) => out.extend_from_slice(&[0, b.ratio, b.floor, b.max, b.initial]),
        }
        out.push(self.start);
    }

    fn jitter(&self) -> Option<Jitter> {
        match self.jitter % 5 {
            0 => Some(Jitter::None),
            1 => Some(Jitter::Full),
            2 => Some(Jitter::Equal),
            3 => Some(Jitter::Decorrelated),
            _ => None,
        }
    }
}

/// How an attempt is classified (kind byte `% 8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Success`.
    Success,
    /// A retryable failure of weight `WEIGHTS[w]`.
    Retryable,
    /// A retryable failure of weight `WEIGHTS[w]` with a hint.
    RetryableHint,
    /// A non-retryable failure of weight `WEIGHTS[w]`.
    Permanent,
    /// A non-retryable failure with a hint (the hint is irrelevant).
    PermanentHint,
    /// `Ignored`.
    Ignored,
    /// `Classification::failure()`.
    Unit,
    /// `Classification::failure().with_retry_after(hint)`.
    UnitHint,
}

impl Kind {
    fn of(k: u8) -> Kind {
        match k % 8 {
            0 => Kind::Success,
            1 => Kind::Retryable,
            2 => Kind::RetryableHint,
            3 => Kind::Permanent,
            4 => Kind::PermanentHint,
            5 => Kind::Ignored,
            6 => Kind::Unit,
            _ => Kind::UnitHint,
        }
    }

    fn code(self) -> u8 {
        match self {
            Kind::Success => 0,
            Kind::Retryable => 1,
            Kind::RetryableHint => 2,
            Kind::Permanent => 3,
            Kind::PermanentHint => 4,
            Kind::Ignored => 5,
            Kind::Unit => 6,
            Kind::UnitHint => 7,
        }
    }

    fn weighted(self) -> bool {
        matches!(
            self,
            Kind::Retryable | Kind::RetryableHint | Kind::Permanent | Kind::PermanentHint
        )
    }

    fn hinted(self) -> bool {
        matches!(
            self,
            Kind::RetryableHint | Kind::PermanentHint | Kind::UnitHint
        )
    }
}

/// An operator action (during an attempt or between calls).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    /// Nothing.
    None,
    /// `force_open`.
    ForceOpen,
    /// `reset`.
    Reset,
    /// `disable`.
    Disable,
}

impl Operator {
    fn of(v: u8) -> Operator {
        match v % 8 {
            5 => Operator::ForceOpen,
            6 => Operator::Reset,
            7 => Operator::Disable,
            _ => Operator::None,
        }
    }

    fn code(self) -> u8 {
        match self {
            Operator::None => 0,
            Operator::ForceOpen => 5,
            Operator::Reset => 6,
            Operator::Disable => 7,
        }
    }

    fn apply(self, breaker: &Breaker) -> bool {
        match self {
            Operator::None => return false,
            Operator::ForceOpen => {
                let _ = breaker.force_open();
            }
            Operator::Reset => {
                let _ = breaker.reset();
            }
            Operator::Disable => {
                let _ = breaker.disable();
            }
        }
        true
    }
}

/// One scripted attempt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// Classification.
    pub kind: Kind,
    /// Flip the result (`Ok` ↔ `Err`).
    pub flip: bool,
    /// Operator action during the attempt.
    pub operator: Operator,
    /// Index into [`WEIGHTS`] (weighted kinds only).
    pub weight: u8,
    /// The hint (hinted kinds only).
    pub hint: D,
    /// The attempt's duration (`None`: zero, no bytes).
    pub duration: Option<D>,
}

impl Step {
    fn decode(r: &mut Reader<'_>) -> Step {
        let k = r.byte();
        let kind = Kind::of(k);
        let weight = if kind.weighted() { r.byte() } else { 0 };
        let hint = if kind.hinted() { D::decode(r) } else { D::Zero };
        let duration = if k & 0x80 != 0 {
            Some(D::decode(r))
        } else {
            None
        };
        Step {
            kind,
            flip: k & 8 != 0,
            operator: Operator::of(k >> 4),
            weight,
            hint,
            duration,
        }
    }

    /// The final step of every call: `Ok`, `Success`.
    fn done() -> Step {
        Step {
            kind: Kind::Success,
            flip: false,
            operator: Operator::None,
            weight: 0,
            hint: D::Zero,
            duration: None,
        }
    }

    /// A step with defaults (no flip, no operator, weight 1, no hint, no duration).
    #[allow(dead_code)]
    pub fn new(kind: Kind) -> Step {
        Step {
            kind,
            ..Step::done()
        }
    }

    #[allow(dead_code)]
    fn encode(&self, out: &mut Vec<u8>) {
        let mut k = self.kind.code() | (self.operator.code() << 4);
        if self.flip {
            k |= 8;
        }
        if self.duration.is_some() {
            k |= 0x80;
        }
        out.push(k);
        if self.kind.weighted() {
            out.push(self.weight);
        }
        if self.kind.hinted() {
            self.hint.encode(out);
        }
        if let Some(d) = self.duration {
            d.encode(out);
        }
    }

    fn classification(&self) -> Classification {
        let weight = WEIGHTS[usize::from(self.weight) % WEIGHTS.len()];
        let hint = self.hint.value();
        match self.kind {
            Kind::Success => Classification::Success,
            Kind::Retryable => Classification::failure().with_weight(weight),
            Kind::RetryableHint => Classification::Failure {
                weight,
                retryable: true,
                retry_after: Some(hint),
            },
            Kind::Permanent => Classification::permanent().with_weight(weight),
            Kind::PermanentHint => Classification::permanent()
                .with_weight(weight)
                .with_retry_after(hint),
            Kind::Ignored => Classification::Ignored,
            Kind::Unit => Classification::failure(),
            Kind::UnitHint => Classification::failure().with_retry_after(hint),
        }
    }

    fn is_ok(&self) -> bool {
        (self.kind == Kind::Success) != self.flip
    }
}

/// What starts a call after the first.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Between {
    /// Advance the clock first.
    pub advance: Option<D>,
    /// Then an operator action.
    pub operator: Operator,
}

impl Between {
    fn decode(r: &mut Reader<'_>) -> Between {
        let g = r.byte();
        let advance = if g & 1 != 0 { Some(D::decode(r)) } else { None };
        Between {
            advance,
            operator: Operator::of(g >> 1),
        }
    }

    #[allow(dead_code)]
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.advance.is_some()) | (self.operator.code() << 1));
        if let Some(d) = self.advance {
            d.encode(out);
        }
    }
}

/// A piece of the script, for building seeds (see [`encode`]).
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Item {
    /// The next attempt of the current call.
    Attempt(Step),
    /// The end of the current call (it must have stopped by then) and the start
    /// of the next.
    NextCall(Between),
}

/// Encode a header and a script into an input for [`run`].
#[allow(dead_code)] // used by tests/fuzz_replay_retry.rs, not by the fuzz target
pub fn encode(header: &Header, items: &[Item]) -> Vec<u8> {
    let mut out = Vec::new();
    header.encode(&mut out);
    for item in items {
        match item {
            Item::Attempt(s) => s.encode(&mut out),
            Item::NextCall(b) => b.encode(&mut out),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The specification, computed independently of the library.
// ---------------------------------------------------------------------------

/// A `Duration` in whole nanoseconds, saturating (the documented conversion).
fn sat_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `base(k)` for k = 1, 2, …: `min(initial × factor^(k-1), max)` computed exactly
/// (the real product as a binary fraction `N / 2^S` with a big integer `N`), as
/// the whole nanoseconds around it (`floor`, `ceil`; equal when it is a whole
/// number), saturating at `max`.
struct BaseSeq {
    /// `N`, little-endian 64-bit limbs.
    n: Vec<u64>,
    /// `S`.
    shift: u32,
    /// `factor = odd × 2^exp`.
    odd: u64,
    exp: i32,
    max: u64,
    capped: bool,
}

impl BaseSeq {
    fn new(backoff: Backoff) -> BaseSeq {
        match backoff {
            Backoff::Constant(d) => BaseSeq {
                n: vec![sat_ns(d)],
                shift: 0,
                odd: 1,
                exp: 0,
                max: sat_ns(d),
                capped: false,
            },
            Backoff::Exponential {
                initial,
                factor,
                max,
            } => {
                // Only called on validated configurations: factor finite and >= 1.
                let bits = factor.to_bits();
                let biased = ((bits >> 52) & 0x7ff) as i32;
                let mantissa = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
                let tz = mantissa.trailing_zeros();
                BaseSeq {
                    n: vec![sat_ns(initial)],
                    shift: 0,
                    odd: mantissa >> tz,
                    exp: biased - 1075 + tz as i32,
                    max: sat_ns(max),
                    capped: false,
                }
            }
            // `Backoff` is non-exhaustive: a new backoff needs a model.
            other => panic!("a backoff the model does not know: {other:?}"),
        }
    }

    /// `floor(N / 2^S)`, saturating at `u64::MAX`.
    fn floor(&self) -> u64 {
        let limbs = (self.shift / 64) as usize;
        let bits = self.shift % 64;
        let limb = |i: usize| self.n.get(i).copied().unwrap_or(0);
        let low = if bits == 0 {
            limb(limbs)
        } else {
            (limb(limbs) >> bits) | (limb(limbs + 1) << (64 - bits))
        };
        let high_nonzero = if bits == 0 {
            self.n.iter().skip(limbs + 1).any(|&x| x != 0)
        } else {
            (limb(limbs + 1) >> bits) != 0 || self.n.iter().skip(limbs + 2).any(|&x| x != 0)
        };
        if high_nonzero { u64::MAX } else { low }
    }

    /// The next `base(k)` as `(floor, ceil)` (the first call gives `base(1)`).
    fn next(&mut self) -> (u64, u64) {
        if self.capped {
            return (self.max, self.max);
        }
        let value = self.floor();
        // N is normalised (no factor of two in common with 2^S): whole iff S = 0.
        let whole = self.shift == 0 || self.n.iter().all(|&x| x == 0);
        let base = if value >= self.max {
            self.capped = true;
            (self.max, self.max)
        } else {
            (value, if whole { value } else { value + 1 })
        };
        // Multiply by the factor for the next k.
        if !self.capped {
            let mut carry = 0u128;
            for limb in &mut self.n {
                let p = u128::from(*limb) * u128::from(self.odd) + carry;
                *limb = p as u64;
                carry = p >> 64;
            }
            if carry != 0 {
                self.n.push(carry as u64);
            }
            if self.exp >= 0 {
                let e = self.exp as u32;
                if e >= 128 {
                    // factor >= 2^128: past any u64 max after one step.
                    self.capped = self.n.iter().any(|&x| x != 0);
                } else {
                    self.shl(e);
                }
            } else {
                self.shift += self.exp.unsigned_abs();
            }
            // Normalise: drop common factors of two.
            let tz = self.trailing_zeros().min(self.shift);
            if tz > 0 {
                self.shr(tz);
                self.shift -= tz;
            }
        }
        base
    }

    fn shl(&mut self, e: u32) {
        let limbs = (e / 64) as usize;
        let bits = e % 64;
        let mut out = vec![0u64; self.n.len() + limbs + 1];
        for (i, &x) in self.n.iter().enumerate() {
            out[i + limbs] |= x << bits;
            if bits != 0 {
                out[i + limbs + 1] |= x >> (64 - bits);
            }
        }
        while out.len() > 1 && out.last() == Some(&0) {
            out.pop();
        }
        self.n = out;
    }

    fn shr(&mut self, e: u32) {
        let limbs = (e / 64) as usize;
        let bits = e % 64;
        let len = self.n.len();
        let mut out = vec![0u64; len.saturating_sub(limbs).max(1)];
        for i in limbs..len {
            let j = i - limbs;
            out[j] |= self.n[i] >> bits;
            if bits != 0 && j > 0 {
                out[j - 1] |= self.n[i] << (64 - bits);
            }
        }
        while out.len() > 1 && out.last() == Some(&0) {
            out.pop();
        }
        self.n = out;
    }

    fn trailing_zeros(&self) -> u32 {
        let mut tz = 0u32;
        for &x in &self.n {
            if x == 0 {
                tz += 64;
            } else {
                return tz + x.trailing_zeros();
            }
        }
        0 // N == 0: nothing to normalise
    }
}

/// The validated retry configuration as the harness understands it.
#[derive(Clone, Debug)]
struct Spec {
    max_attempts: u32,
    jitter: Jitter,
    /// `(initial, cap)` in nanoseconds (saturated).
    initial: u64,
    cap: u64,
    /// The configured deadline, exactly.
    deadline: Option<Duration>,
    /// `base(k)` for k = 1..=bases.len(), as `(floor, ceil)` of the exact value.
    bases: Vec<(u64, u64)>,
    /// An exponential backoff with a factor that is not a whole number (its
    /// `base(k)` is documented as rounded, not exact).
    fractional: bool,
}

impl Spec {
    /// The exact `base(k)`, as `(floor, ceil)`.
    fn base(&self, k: u32) -> (u64, u64) {
        let i = (k as usize).saturating_sub(1);
        self.bases
            .get(i)
            .copied()
            .unwrap_or_else(|| panic!("harness: base({k}) not precomputed"))
    }

    /// The documented range of the jittered backoff before retry `k`, given the
    /// previous jittered backoff for `Decorrelated` when known. `base(k)` is the
    /// exact value for a whole-number factor; for a fractional one it is "rounded
    /// to whole nanoseconds, never outside `[initial, max]`": `floor` or `ceil`
    /// of the exact value (which is within `[initial, max]`).
    fn range(&self, k: u32, previous: Option<u64>) -> (u64, u64) {
        let (floor, ceil) = self.base(k);
        if self.fractional && self.jitter != Jitter::Decorrelated {
            // The documented precision of a fractional factor (finding R4, resolved
            // by documenting it): the f64 error, still within [initial, max].
            let (low, high) = match self.jitter {
                Jitter::None => (floor, ceil),
                Jitter::Full => (0, ceil),
                _ => (floor / 2, ceil),
            };
            let low_bound = if self.jitter == Jitter::None {
                self.initial
            } else {
                0
            };
            let low = low.saturating_sub(f64_slack(low)).max(low_bound);
            let high = high.saturating_add(f64_slack(high)).min(self.cap);
            return (low, high);
        }
        match self.jitter {
            Jitter::None => (floor, ceil),
            Jitter::Full => (0, ceil),
            Jitter::Equal => (floor / 2, ceil),
            Jitter::Decorrelated => {
                let high = match previous {
                    Some(p) => p.saturating_mul(3).max(self.initial).min(self.cap),
                    None => self.cap,
                };
                (self.initial, high)
            }
            // `Jitter` is non-exhaustive: a new jitter needs a model.
            other => panic!("a jitter the model does not know: {other:?}"),
        }
    }
}

/// The retry budget's documented arithmetic (thousandths of a token; refill time
/// in whole milliseconds since the budget was built): a ratio term (the initial
/// balance and the deposits, capped at `max`) and a floor term refilled only when a
/// withdrawal finds less than a token in the ratio term (capped at one second of
/// floor, at most `max`).
#[derive(Clone, Debug)]
struct BudgetModel {
    ratio: u64,
    floor_balance: u64,
    mark_ms: u64,
    deposit: u64,
    floor: u64,
    max: u64,
    floor_max: u64,
    start_ns: u64,
    /// False once a call stopped in a way that may or may not have asked the
    /// budget (an `Ok` result stopping before a sleep): comparisons stop.
    known: bool,
}

impl BudgetModel {
    /// What `RetryBudget::balance_milli` reports: both terms, the floor's as of its
    /// last refill.
    fn balance(&self) -> u64 {
        self.ratio + self.floor_balance
    }

    fn deposit(&mut self) {
        self.ratio = (self.ratio + self.deposit).min(self.max);
    }

    fn withdraw(&mut self, now_ns: u64) -> bool {
        if self.ratio >= 1000 {
            self.ratio -= 1000;
            return true;
        }
        // Time since the budget was built, in ms, saturating at the documented
        // 40-bit range: past it the floor stops refilling.
        let now_ms = (now_ns.saturating_sub(self.start_ns) / NS_PER_MS).min(BUDGET_MARK_MAX_MS);
        let elapsed = now_ms.saturating_sub(self.mark_ms);
        let refilled = (u128::from(self.floor_balance)
            + u128::from(elapsed) * u128::from(self.floor))
        .min(u128::from(self.floor_max)) as u64;
        self.mark_ms = self.mark_ms.max(now_ms);
        if refilled >= 1000 {
            self.floor_balance = refilled - 1000;
            true
        } else {
            self.floor_balance = refilled;
            false
        }
    }
}

/// The (field, kind) pairs a configuration must be refused for; empty if valid.
fn retry_errors(h: &Header) -> Vec<(&'static str, ConfigErrorKind)> {
    let mut errors = Vec::new();
    if h.attempts.value() == Some(0) {
        errors.push(("max_attempts", ConfigErrorKind::Zero));
    }
    if let Backoff::Exponential {
        initial,
        factor,
        max,
    } = h.backoff.value()
    {
        if initial.is_zero() {
            errors.push(("exponential_backoff.initial", ConfigErrorKind::Zero));
        }
        if factor.is_nan() {
            errors.push(("exponential_backoff.factor", ConfigErrorKind::NotANumber));
        } else if factor.is_infinite() {
            errors.push(("exponential_backoff.factor", ConfigErrorKind::Infinite));
        } else if factor < 1.0 {
            errors.push(("exponential_backoff.factor", ConfigErrorKind::OutOfRange));
        }
        if max < initial {
            errors.push(("exponential_backoff.max", ConfigErrorKind::Inconsistent));
        }
    }
    if h.deadline.map(D::value) == Some(Duration::ZERO) {
        errors.push(("deadline", ConfigErrorKind::Zero));
    }
    errors
}

fn budget_errors(b: &BudgetSel) -> Vec<(&'static str, ConfigErrorKind)> {
    let mut errors = Vec::new();
    let ratio = b.ratio();
    let ratio_ok = if ratio.is_nan() {
        errors.push(("ratio", ConfigErrorKind::NotANumber));
        false
    } else if ratio.is_infinite() {
        errors.push(("ratio", ConfigErrorKind::Infinite));
        false
    } else if !(0.0..=10.0).contains(&ratio) {
        errors.push(("ratio", ConfigErrorKind::OutOfRange));
        false
    } else {
        true
    };
    if b.floor() > 16_000 {
        errors.push(("min_retries_per_sec", ConfigErrorKind::OutOfRange));
    }
    match b.max() {
        0 => errors.push(("max_balance", ConfigErrorKind::Zero)),
        m if m > 16_000 => errors.push(("max_balance", ConfigErrorKind::OutOfRange)),
        _ => {}
    }
    if ratio_ok && (ratio * 1000.0).round() == 0.0 && b.floor() == 0 {
        errors.push(("ratio", ConfigErrorKind::Inconsistent));
    }
    errors
}

fn check_config_error(what: &str, e: &ConfigError, expected: &[(&'static str, ConfigErrorKind)]) {
    // Exercise the formatting (must not panic).
    let text = format!("{e} {e:?}");
    assert!(!text.is_empty());
    assert!(
        expected.contains(&(e.field(), e.kind())),
        "{what}: ConfigError {{ field: {:?}, kind: {:?} }} names no invalid field; expected one of {expected:?} ({e})",
        e.field(),
        e.kind()
    );
}

// ---------------------------------------------------------------------------
// The run.
// ---------------------------------------------------------------------------

/// What one run went through (for the seeds' and the sweep's coverage checks).
#[allow(dead_code)] // read by tests/fuzz_replay_retry.rs, not by the fuzz target
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    /// The retry configuration was refused.
    pub retry_config_error: bool,
    /// The budget configuration was refused.
    pub budget_config_error: bool,
    /// Calls made.
    pub calls: u32,
    /// Attempts made (all calls).
    pub attempts: u32,
    /// Sleeps (all calls).
    pub sleeps: u32,
    /// Sleeps whose delay was set by a server hint above the backoff range.
    pub hint_raised: u32,
    /// Calls that returned `Ok`.
    pub ok: u32,
    /// `Ok` returned though the last attempt was classified a retryable failure.
    pub ok_on_failure: u32,
    /// `Permanent`.
    pub permanent: u32,
    /// `Exhausted`.
    pub exhausted: u32,
    /// `Rejected` by `try_acquire` (before an attempt).
    pub rejected_acquire: u32,
    /// `Rejected` before a sleep (the breaker would still be open on waking).
    pub rejected_before_sleep: u32,
    /// `BudgetExhausted`.
    pub budget_exhausted: u32,
    /// `DeadlineExceeded`.
    pub deadline_exceeded: u32,
    /// Operator actions applied.
    pub operator_actions: u32,
    /// Largest `max_attempts` of a valid configuration.
    pub max_attempts: u32,
    /// `Retry::delays` sequences checked.
    pub delay_sequences: u32,
    /// Total time slept (all calls), in nanoseconds.
    pub slept_ns: u128,
}

/// Shared between the operation, the sleeper and the driver.
#[derive(Debug, Default)]
struct Log {
    invocations: u32,
    sleeps: u32,
    /// Clock reading at the start of the call's first attempt.
    first_start: Option<u64>,
    /// The last attempt: its number, whether it returned `Ok`, its classification.
    last: Option<(u32, bool, Classification)>,
    /// Decorrelated: the previous jittered backoff, when known.
    previous: Option<u64>,
    hint_raised: u32,
    operator_actions: u32,
    slept_ns: u128,
}

/// The sleeper: advances the clock by the delay and checks the sleep first.
struct Recorder<'a> {
    clock: ManualClock,
    breaker: Arc<Breaker>,
    spec: &'a Spec,
    model: &'a RefCell<Option<BudgetModel>>,
    budget: Option<Arc<RetryBudget>>,
    log: &'a RefCell<Log>,
}

impl Sleeper for Recorder<'_> {
    fn sleep(&self, delay: Duration) {
        let now = self.clock.now_nanos();
        let mut log = self.log.borrow_mut();
        log.sleeps += 1;
        let k = log.sleeps;
        assert_eq!(
            k, log.invocations,
            "sleep #{k} does not follow attempt #{k} ({} attempts made)",
            log.invocations
        );
        assert!(
            k < self.spec.max_attempts,
            "sleep after attempt {k} of max_attempts {}",
            self.spec.max_attempts
        );
        let (_, _, class) = log.last.expect("a sleep follows an attempt");
        assert!(
            class.is_retryable(),
            "sleep #{k} after a non-retryable classification {class:?}"
        );

        // The delay: max(hint, jittered backoff), the backoff in its range.
        let (low, high) = self.spec.range(k, log.previous);
        let (low, high) = (Duration::from_nanos(low), Duration::from_nanos(high));
        let hint = class.retry_after();
        let floor = hint.map_or(low, |h| h.max(low));
        let ceiling = hint.map_or(high, |h| h.max(high));
        assert!(
            floor <= delay && delay <= ceiling,
            "delay #{k} {delay:?} outside [{floor:?}, {ceiling:?}] (backoff range [{low:?}, {high:?}], hint {hint:?}, exact base(k) in {:?} ns){}; {:?}",
            self.spec.base(k),
            r4_note(
                self.spec.fractional,
                sat_ns(delay),
                sat_ns(floor),
                sat_ns(ceiling)
            ),
            self.spec
        );
        assert!(
            delay <= Duration::from_nanos(self.spec.cap) || hint.is_some_and(|h| delay == h),
            "delay #{k} {delay:?} above the cap {} ns and not a hint {hint:?}",
            self.spec.cap
        );
        let exact = hint.is_none_or(|h| delay > h);
        log.previous = exact.then(|| sat_ns(delay));
        if !exact || hint.is_some_and(|h| h > high) {
            log.hint_raised += 1;
        }

        // The deadline: the sleep ends before it (exact arithmetic): a retry at
        // the deadline would not be sent, so a sleep ending there is not started.
        if let Some(deadline) = self.spec.deadline {
            let start = log.first_start.expect("first attempt started");
            let elapsed = now.saturating_sub(start);
            assert!(
                u128::from(elapsed) + delay.as_nanos() < deadline.as_nanos(),
                "sleep #{k} of {delay:?} after {elapsed} ns would end at or past the deadline {deadline:?} ({} ns)",
                deadline.as_nanos()
            );
        }

        // The breaker: it must not still be open when the sleep ends (rule 3).
        assert_eq!(
            self.breaker.rejects_for(delay),
            None,
            "sleep #{k} of {delay:?} while the breaker rejects until after it ({:?})",
            self.breaker.snapshot()
        );

        // The budget: a token was withdrawn for this sleep.
        let mut model = self.model.borrow_mut();
        if let (Some(m), Some(b)) = (model.as_mut(), self.budget.as_ref()) {
            if m.known {
                assert!(
                    m.withdraw(now),
                    "sleep #{k} although the budget model refuses a withdrawal ({m:?}, balance {} milli)",
                    b.balance_milli()
                );
                assert_eq!(
                    b.balance_milli(),
                    m.balance(),
                    "budget balance after the withdrawal for sleep #{k} ({m:?})"
                );
            }
        }
        drop(model);
        drop(log);

        self.log.borrow_mut().slept_ns += delay.as_nanos();
        self.clock.advance(delay);
    }
}

/// The value / error of an attempt: its number and classification.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Tag {
    n: u32,
    class: Classification,
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "attempt #{} ({:?})", self.n, self.class)
    }
}

/// Decode `data` and run it, panicking on the first violated property.
pub fn run(data: &[u8]) {
    let _ = run_with_summary(data);
}

/// [`run`], returning what the run went through.
pub fn run_with_summary(data: &[u8]) -> Summary {
    let mut summary = Summary::default();
    let mut reader = Reader::new(data);
    let header = Header::decode(&mut reader);

    // The retry policy, through the public builder.
    let mut builder = Retry::builder();
    if let Some(n) = header.attempts.value() {
        builder = builder.max_attempts(n);
    }
    builder = match header.backoff {
        BackoffSel::Constant(d) => builder.constant_backoff(d.value()),
        BackoffSel::Exponential { .. } => match header.backoff.value() {
            Backoff::Exponential {
                initial,
                factor,
                max,
            } => builder.exponential_backoff(initial, factor, max),
            _ => unreachable!("an exponential selector builds an exponential backoff"),
        },
        BackoffSel::EnumConstant(_) | BackoffSel::EnumExponential { .. } => {
            builder.backoff(header.backoff.value())
        }
        BackoffSel::Default => builder,
    };
    if let Some(j) = header.jitter() {
        builder = builder.jitter(j);
    }
    if let Some(d) = header.deadline {
        builder = builder.deadline(d.value());
    }
    builder = builder.seed(header.seed);
    let _ = format!("{builder:?}");
    let expected = retry_errors(&header);
    let retry = match builder.build() {
        Ok(retry) => {
            assert!(
                expected.is_empty(),
                "an invalid retry configuration was accepted: expected {expected:?}; {header:?}"
            );
            retry
        }
        Err(e) => {
            assert!(
                !expected.is_empty(),
                "a valid retry configuration was refused: {e}; {header:?}"
            );
            check_config_error("retry", &e, &expected);
            summary.retry_config_error = true;
            return summary;
        }
    };

    // Its getters.
    let max_attempts = header.attempts.value().unwrap_or(3);
    let backoff = header.backoff.value();
    let jitter = header.jitter().unwrap_or(Jitter::Full);
    let deadline = header.deadline.map(D::value);
    assert_eq!(retry.max_attempts(), max_attempts, "max_attempts()");
    assert_eq!(retry.backoff(), backoff, "backoff()");
    assert_eq!(retry.jitter(), jitter, "jitter()");
    assert_eq!(retry.deadline(), deadline, "deadline()");
    let _ = format!("{retry:?}");
    summary.max_attempts = max_attempts;

    let (initial, cap) = match backoff {
        Backoff::Constant(d) => (sat_ns(d), sat_ns(d)),
        Backoff::Exponential { initial, max, .. } => (sat_ns(initial), sat_ns(max)),
        other => panic!("a backoff the model does not know: {other:?}"),
    };
    let mut seq = BaseSeq::new(backoff);
    let wanted = (MAX_RUN as usize).max(DELAYS_CHECKED) + 1;
    let spec = Spec {
        max_attempts,
        jitter,
        initial,
        cap,
        deadline,
        bases: (0..wanted).map(|_| seq.next()).collect(),
        fractional: matches!(backoff, Backoff::Exponential { factor, .. } if factor.fract() != 0.0),
    };
    for (i, &(floor, ceil)) in spec.bases.iter().enumerate() {
        assert!(
            initial.min(cap) <= floor && floor <= ceil && ceil <= cap,
            "harness: base({}) in [{floor}, {ceil}] outside [initial {initial}, cap {cap}]",
            i + 1
        );
    }

    // Retry::delays: exactly max_attempts - 1 delays, each in its range.
    for seed in [header.seed, header.seed ^ 0x5555_5555_5555_5555] {
        let delays: Vec<Duration> = retry.delays(seed).take(DELAYS_CHECKED + 1).collect();
        let expected_len = (max_attempts as usize - 1).min(DELAYS_CHECKED + 1);
        assert_eq!(
            delays.len(),
            expected_len,
            "Retry::delays({seed}) yields {} delays (first {}), max_attempts {max_attempts}",
            delays.len(),
            DELAYS_CHECKED + 1
        );
        let again: Vec<Duration> = retry.delays(seed).take(DELAYS_CHECKED + 1).collect();
        assert_eq!(delays, again, "Retry::delays({seed}) is not reproducible");
        let mut previous = Some(initial);
        for (i, &d) in delays.iter().enumerate() {
            let k = i as u32 + 1;
            let (low, high) = spec.range(k, previous);
            assert!(
                Duration::from_nanos(low) <= d && d <= Duration::from_nanos(high),
                "Retry::delays({seed}) delay #{k} {d:?} outside [{low}, {high}] ns (exact base(k) in {:?} ns, jitter {jitter:?}, backoff {backoff:?}){}",
                spec.base(k),
                r4_note(spec.fractional, sat_ns(d), low, high)
            );
            previous = Some(sat_ns(d));
        }
        summary.delay_sequences += 1;
    }

    // The clock, the breaker, the budget.
    let start_ns = STARTS[usize::from(header.start) % STARTS.len()];
    let clock = ManualClock::starting_at(Duration::from_nanos(start_ns));
    let breaker = match header.breaker {
        BreakerSel::Disabled => {
            let b = Breaker::builder()
                .clock(clock.clone())
                .jitter_seed(0)
                .build()
                .unwrap_or_else(|e| panic!("harness: default breaker refused: {e}"));
            let _ = b.disable();
            b
        }
        BreakerSel::Trip { n, open_for } => {
            let open_for = OPEN_FOR[usize::from(open_for) % OPEN_FOR.len()];
            Breaker::builder()
                .trip_after_consecutive_failures(u32::from(n))
                .open_for(open_for)
                .open_cap(open_for.saturating_mul(4).min(MAX_OPEN_PERIOD))
                .open_growth(2.0)
                .open_jitter(0.0)
                .jitter_seed(0)
                .probes(1)
                .close_after(1)
                .clock(clock.clone())
                .build()
                .unwrap_or_else(|e| panic!("harness: breaker refused: {e}"))
        }
    };
    let breaker = Arc::new(breaker);
    let (budget, model) = match header.budget {
        None => (None, None),
        Some(sel) => {
            let mut b = RetryBudget::builder()
                .ratio(sel.ratio())
                .min_retries_per_sec(sel.floor())
                .max_balance(sel.max())
                .clock(clock.clone());
            if let Some(i) = sel.initial() {
                b = b.initial_balance(i);
            }
            let _ = format!("{b:?}");
            let expected = budget_errors(&sel);
            match b.build() {
                Ok(budget) => {
                    assert!(
                        expected.is_empty(),
                        "an invalid budget was accepted: expected {expected:?}; {sel:?}"
                    );
                    let max = u64::from(sel.max()) * 1000;
                    let model = BudgetModel {
                        ratio: (u64::from(sel.initial().unwrap_or(sel.floor())) * 1000).min(max),
                        floor_balance: 0,
                        mark_ms: 0,
                        deposit: (sel.ratio() * 1000.0).round() as u64,
                        floor: u64::from(sel.floor()),
                        max,
                        floor_max: (u64::from(sel.floor()) * 1000).min(max),
                        start_ns,
                        known: true,
                    };
                    assert_eq!(
                        budget.balance_milli(),
                        model.balance(),
                        "initial budget balance"
                    );
                    (Some(Arc::new(budget)), Some(model))
                }
                Err(e) => {
                    assert!(
                        !expected.is_empty(),
                        "a valid budget was refused: {e}; {sel:?}"
                    );
                    check_config_error("budget", &e, &expected);
                    summary.budget_config_error = true;
                    return summary;
                }
            }
        }
    };
    let model = RefCell::new(model);
    let log = RefCell::new(Log::default());
    let recorder = Recorder {
        clock: clock.clone(),
        breaker: Arc::clone(&breaker),
        spec: &spec,
        model: &model,
        budget: budget.clone(),
        log: &log,
    };
    let mut guard = Guard::new(Arc::clone(&breaker), retry)
        .with_classifier(|r: &Result<Tag, Tag>| match r {
            Ok(t) | Err(t) => t.class,
        })
        .with_sleeper(&recorder);
    if let Some(b) = &budget {
        guard = guard.with_budget(Arc::clone(b));
    }

    for call in 0..MAX_CALLS {
        if call > 0 {
            if reader.at_end() {
                break;
            }
            let between = Between::decode(&mut reader);
            if let Some(d) = between.advance {
                clock.advance(d.value());
            }
            if between.operator.apply(&breaker) {
                summary.operator_actions += 1;
            }
        }
        *log.borrow_mut() = Log {
            previous: Some(initial),
            ..Log::default()
        };
        let result = guard.call(|attempt: Attempt| {
            attempt_step(
                &mut reader,
                attempt,
                &clock,
                &breaker,
                &spec,
                &model,
                &budget,
                &log,
            )
        });
        check_call(
            call,
            &result,
            &clock,
            &breaker,
            &spec,
            &model,
            &budget,
            &log,
            &mut summary,
        );
    }
    summary
}

/// The operation: one attempt.
#[allow(clippy::too_many_arguments)]
fn attempt_step(
    reader: &mut Reader<'_>,
    attempt: Attempt,
    clock: &ManualClock,
    breaker: &Breaker,
    spec: &Spec,
    model: &RefCell<Option<BudgetModel>>,
    budget: &Option<Arc<RetryBudget>>,
    log: &RefCell<Log>,
) -> Result<Tag, Tag> {
    let now = clock.now_nanos();
    let mut l = log.borrow_mut();
    l.invocations += 1;
    let n = l.invocations;
    assert!(
        n <= spec.max_attempts,
        "attempt #{n} made with max_attempts {}",
        spec.max_attempts
    );
    assert_eq!(attempt.number, n, "Attempt::number of the attempt #{n}");
    assert_eq!(
        l.sleeps,
        n - 1,
        "attempt #{n} after {} sleeps (each retry follows exactly one sleep)",
        l.sleeps
    );
    let start = *l.first_start.get_or_insert(now);
    let snapshot = breaker.snapshot();
    assert!(
        matches!(
            snapshot.state,
            State::Closed | State::HalfOpen | State::Disabled
        ),
        "attempt #{n} admitted while the breaker is {:?}",
        snapshot.state
    );
    assert_eq!(
        attempt.epoch, snapshot.epoch,
        "attempt #{n}: Attempt::epoch vs the breaker's epoch"
    );
    // Attempt::remaining: the deadline minus the time since the first attempt
    // started, never zero: a retry at or past the deadline is not sent.
    let elapsed = now.saturating_sub(start);
    let remaining = spec
        .deadline
        .map(|d| d.saturating_sub(Duration::from_nanos(elapsed)));
    assert_eq!(
        attempt.remaining, remaining,
        "attempt #{n}: Attempt::remaining ({elapsed} ns since the first attempt, deadline {:?})",
        spec.deadline
    );
    assert_ne!(
        remaining,
        Some(Duration::ZERO),
        "attempt #{n} sent at or past the deadline"
    );

    // The budget: the call's first attempt deposited.
    let mut m = model.borrow_mut();
    if let (Some(m), Some(b)) = (m.as_mut(), budget.as_ref()) {
        if n == 1 {
            m.deposit();
        }
        if m.known {
            assert_eq!(
                b.balance_milli(),
                m.balance(),
                "budget balance at attempt #{n} ({m:?})"
            );
        }
    }
    drop(m);

    let step = if n >= MAX_RUN || reader.at_end() {
        Step::done()
    } else {
        Step::decode(reader)
    };
    if step.operator.apply(breaker) {
        l.operator_actions += 1;
    }
    if let Some(d) = step.duration {
        clock.advance(d.value());
    }
    let class = step.classification();
    let ok = step.is_ok();
    l.last = Some((n, ok, class));
    let tag = Tag { n, class };
    if ok { Ok(tag) } else { Err(tag) }
}

/// Check a call's outcome against the attempts and sleeps it made.
#[allow(clippy::too_many_arguments)]
fn check_call(
    call: usize,
    result: &Result<Tag, GuardError<Tag>>,
    clock: &ManualClock,
    breaker: &Breaker,
    spec: &Spec,
    model: &RefCell<Option<BudgetModel>>,
    budget: &Option<Arc<RetryBudget>>,
    log: &RefCell<Log>,
    summary: &mut Summary,
) {
    let l = log.borrow();
    let (n, s) = (l.invocations, l.sleeps);
    let now = clock.now_nanos();
    let ctx = format!(
        "call #{call}: {n} attempts, {s} sleeps, result {result:?}, last attempt {:?}, breaker {:?}, spec {spec:?}",
        l.last,
        breaker.snapshot()
    );
    summary.calls += 1;
    summary.attempts += n;
    summary.sleeps += s;
    summary.hint_raised += l.hint_raised;
    summary.operator_actions += l.operator_actions;
    summary.slept_ns += l.slept_ns;
    assert!(
        n <= spec.max_attempts,
        "more attempts than max_attempts; {ctx}"
    );

    if let Err(e) = result {
        assert_eq!(
            e.attempts(),
            n,
            "GuardError::attempts() vs attempts made; {ctx}"
        );
        let _ = format!("{e} {e:?}");
        match e {
            GuardError::Rejected { rejected, .. } => {
                assert_eq!(
                    e.retry_after(),
                    rejected.retry_after(),
                    "retry_after(); {ctx}"
                )
            }
            _ => assert_eq!(e.retry_after(), None, "retry_after(); {ctx}"),
        }
        let last = e.last().map(|t| t.n);
        let expected_last = (n > 0).then_some(n);
        assert_eq!(
            last, expected_last,
            "GuardError::last() is not the last attempt's error; {ctx}"
        );
        assert_eq!(
            e.clone().into_inner().map(|t| t.n),
            expected_last,
            "into_inner(); {ctx}"
        );
    }

    // A call that ends by a rejection at `try_acquire` made as many sleeps as
    // attempts (none, or one after its last attempt); any other stop happens
    // after an attempt and before a sleep.
    let rejected_at_acquire = n == s;
    assert!(
        s == n || s + 1 == n,
        "sleeps and attempts out of step; {ctx}"
    );

    let state = breaker.snapshot().state;
    let check_rejected = |rejected: &Rejected, after: Option<Duration>| {
        match rejected {
            Rejected::ForcedOpen => {
                assert_eq!(state, State::ForcedOpen, "Rejected::ForcedOpen; {ctx}")
            }
            Rejected::Open { .. } => assert_eq!(state, State::Open, "Rejected::Open; {ctx}"),
            Rejected::ProbesBusy => panic!("ProbesBusy with a single caller; {ctx}"),
            other => panic!("unknown Rejected variant {other:?}; {ctx}"),
        }
        match after {
            // Before a sleep: the breaker rejects the shortest delay the sleep could
            // have had, with the same reason.
            Some(d) => assert_eq!(
                breaker.rejects_for(d).as_ref(),
                Some(rejected),
                "Rejected before a sleep of at least {d:?}, but rejects_for disagrees; {ctx}"
            ),
            // At try_acquire: it still rejects, the same way (nothing moved since).
            None => match breaker.try_acquire() {
                Err(again) => assert_eq!(&again, rejected, "try_acquire again; {ctx}"),
                Ok(p) => {
                    drop(p);
                    panic!("Rejected at try_acquire, but the breaker admits now; {ctx}")
                }
            },
        }
    };

    if n == 0 {
        // Rejected before the first attempt.
        match result {
            Err(GuardError::Rejected {
                rejected,
                last: None,
                ..
            }) => {
                check_rejected(rejected, None);
                summary.rejected_acquire += 1;
            }
            other => panic!("no attempt made, but the call returned {other:?}; {ctx}"),
        }
        check_budget(&model.borrow(), budget, &ctx);
        return;
    }

    let (last_n, last_ok, class) = l.last.expect("an attempt was made");
    assert_eq!(last_n, n);

    // An Ok result is returned whenever the last attempt returned Ok, and only then.
    if last_ok {
        match result {
            Ok(t) => assert_eq!(t.n, n, "the Ok returned is not the last attempt's; {ctx}"),
            Err(e) => panic!("the last attempt returned Ok, the call {e:?}; {ctx}"),
        }
    } else {
        assert!(
            result.is_err(),
            "the last attempt failed, the call returned Ok; {ctx}"
        );
    }

    if rejected_at_acquire {
        // Slept after the last attempt, then try_acquire refused.
        assert!(
            class.is_retryable(),
            "slept after a non-retryable attempt; {ctx}"
        );
        if let Err(e) = result {
            match e {
                GuardError::Rejected { rejected, .. } => check_rejected(rejected, None),
                other => panic!("stopped at try_acquire after a sleep with {other:?}; {ctx}"),
            }
        } else {
            assert!(
                matches!(state, State::Open | State::ForcedOpen),
                "Ok returned after a sleep with no further attempt, breaker {state:?}; {ctx}"
            );
        }
        summary.rejected_acquire += 1;
        if last_ok {
            summary.ok += 1;
            summary.ok_on_failure += 1;
        }
        check_budget(&model.borrow(), budget, &ctx);
        return;
    }

    // Stopped after the last attempt, before sleeping.
    let mut model = model.borrow_mut();
    if !class.is_retryable() {
        if let Err(e) = result {
            assert!(
                matches!(e, GuardError::Permanent { .. }),
                "a non-retryable {class:?} on an Err must end the call with Permanent; {ctx}"
            );
            summary.permanent += 1;
        } else {
            summary.ok += 1;
        }
        check_budget(&model, budget, &ctx);
        return;
    }
    if n >= spec.max_attempts {
        if let Err(e) = result {
            assert!(
                matches!(e, GuardError::Exhausted { .. }),
                "a retryable failure at the last allowed attempt must end with Exhausted; {ctx}"
            );
            summary.exhausted += 1;
        } else {
            summary.ok += 1;
            summary.ok_on_failure += 1;
        }
        check_budget(&model, budget, &ctx);
        return;
    }

    // A retryable failure with attempts left, and no sleep: the breaker, the
    // deadline or the budget stopped it. The delay it did not sleep was in
    // [max(hint, low), max(hint, high)].
    let (low, high) = spec.range(n, l.previous);
    let hint = class.retry_after();
    let shortest = hint.map_or(Duration::from_nanos(low), |h| {
        h.max(Duration::from_nanos(low))
    });
    let longest = hint.map_or(Duration::from_nanos(high), |h| {
        h.max(Duration::from_nanos(high))
    });
    match result {
        Ok(_) => {
            // Which of the three it was is not observable: the budget may or may
            // not have been asked.
            summary.ok += 1;
            summary.ok_on_failure += 1;
            if let Some(m) = model.as_mut() {
                m.known = false;
            }
        }
        Err(GuardError::Rejected { rejected, last, .. }) => {
            assert!(last.is_some(), "{ctx}");
            check_rejected(rejected, Some(shortest));
            summary.rejected_before_sleep += 1;
        }
        Err(GuardError::DeadlineExceeded { .. }) => {
            let deadline = spec
                .deadline
                .unwrap_or_else(|| panic!("DeadlineExceeded without a deadline; {ctx}"));
            let start = l.first_start.expect("an attempt started");
            let elapsed = now.saturating_sub(start);
            let limit = deadline.as_nanos();
            assert!(
                u128::from(elapsed) + longest.as_nanos() >= limit,
                "DeadlineExceeded although a sleep of at most {longest:?} after {elapsed} ns ends before the deadline {deadline:?}; {ctx}"
            );
            summary.deadline_exceeded += 1;
        }
        Err(GuardError::BudgetExhausted { .. }) => {
            let b = budget
                .as_ref()
                .unwrap_or_else(|| panic!("BudgetExhausted without a budget; {ctx}"));
            // Less than a whole token in each term (their fractions do not add up).
            assert!(
                b.balance_milli() < 2000,
                "BudgetExhausted with a whole token left in a term; {ctx}"
            );
            if let Some(m) = model.as_mut() {
                if m.known {
                    assert!(
                        !m.withdraw(now),
                        "BudgetExhausted but the budget model allows a withdrawal ({m:?}); {ctx}"
                    );
                }
            }
            summary.budget_exhausted += 1;
        }
        Err(other) => panic!(
            "a retryable failure with attempts left ended with {other:?} without sleeping; {ctx}"
        ),
    }
    check_budget(&model, budget, &ctx);
}

fn check_budget(model: &Option<BudgetModel>, budget: &Option<Arc<RetryBudget>>, ctx: &str) {
    if let (Some(m), Some(b)) = (model, budget) {
        if m.known {
            assert_eq!(
                b.balance_milli(),
                m.balance(),
                "budget balance after the call ({m:?}); {ctx}"
            );
        }
    }
}
