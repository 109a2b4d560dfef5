//! Differential harness for `fusebox::Guard::call` with `fusebox::Retry`: decode
//! bytes into a retry policy (built through the public builder from raw, possibly
//! hostile values), a breaker (any configuration the breaker harness knows, the
//! default one, or the older tripping ones), an optional retry budget and a script
//! of attempt outcomes, other callers and operators; run guarded calls on a
//! `ManualClock` with a sleeper that advances it; and compare, at every attempt,
//! every sleep and every call's end, the real objects with a sequential model: the
//! breaker's reference model (`breaker_model.rs`, shared with the breaker
//! harness: decay, graded admission and its draws, probe leases, slow calls,
//! jittered open periods), a model of the guard's rules and a model of the
//! budget's arithmetic.
//!
//! This file is a plain module with no libFuzzer dependency. It is included by the
//! cargo-fuzz target (`fuzz/fuzz_targets/retry_ops.rs`) and by the replay test of
//! the main crate (`tests/fuzz_replay_retry.rs`), both with `#[path]`.
//!
//! # What is compared
//!
//! After every step (an attempt admitted, an attempt's script run, a sleep, a
//! call's end, anything between calls): the clock; the breaker's whole snapshot and
//! stale count; every event told to the breaker's listener, in order (transitions
//! with their jittered periods, probe-lease expiries, refusals, stale reports,
//! retries with their delay and reason, budget refusals, slow attempts, call stops)
//! with its time, state, epoch and stored health; the budget's balance. Each
//! `Attempt` (number, `remaining`, epoch); the elapsed time the classifier is given;
//! each call's `Outcome` (stop, attempts, last result, refusal) or `Result`
//! (`GuardError` variant, attempts, last error, `retry_after`, `stop()`).
//!
//! The one thing the model does not draw is the backoff's jitter (the guard's
//! generator): each sleep's delay is checked against the documented range (exact
//! `base(k)`, see [`BaseSeq`]), and a call that stops before sleeping (breaker,
//! deadline or budget, rule 3) must be explained by some delay in that range; the
//! model goes on from the stop the guard told.
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
//! | time limits | `t`: `t % 8` deadline: 0–3 none, 4 `Some(ZERO)`, 5–7 `Some(dur)`; `(t >> 3) % 4` attempt timeout: 0–1 none, 2 `Some(ZERO)`, 3 `Some(dur)` (after the deadline's); bit 5: the classifier wants each attempt's elapsed time |
//! | seed | 1 byte `s`: even → seed `s / 2`; odd → 8 more bytes LE |
//! | breaker | `b`: `b % 8 < 5`: default breaker then `disable()`; else `b >> 5`: 0 `trip_after_consecutive_failures(1 + (b >> 3) % 4)`, then 1 byte: `open_for = OPEN_FOR[byte % 5]`; 1 the default breaker; 2–7 the breaker harness's 10-byte header follows (see [`BreakerSel::Spec`]): 2–5 as built there, 6 then `disable()`, 7 with `open_jitter(0.1)` |
//! | budget | `% 3`: 1–2 none; 0: ratio, floor, max, initial bytes into [`RATIOS`], [`FLOORS`], [`MAX_BALANCES`], [`INITIALS`] |
//! | clock start | `STARTS[b % len]` |
//!
//! Older inputs decode as they did where the bits they used still mean the same:
//! the new settings come from bits the older format ignored (time limits byte bits
//! 3–5, breaker byte bits 5–7 of a tripping breaker, operator codes 1–4, the
//! between-calls byte's bit 4), so an old input may now also set one of them.
//!
//! Then the script. Each time the operation is invoked it reads one attempt:
//!
//! - kind byte `k`: `k % 8` is the classification ([`Kind`]); bit 3 flips the result
//!   (`Ok` ↔ `Err`; by default `Success` is an `Ok`, everything else an `Err`);
//!   bits 4–6 (`(k >> 4) % 8`) an [`Operator`] during the attempt (another
//!   caller's acquire, success, failure or cancellation; `force_open`, `reset`,
//!   `disable`); bit 7: an attempt duration `dur` follows (else zero);
//! - for weighted failures, a weight byte into [`WEIGHTS`];
//! - for hinted failures, the hint `dur`;
//! - the attempt duration `dur` if bit 7 was set.
//!
//! When the input is exhausted, or at the [`MAX_RUN`]-th attempt of a call, the
//! operation returns `Ok` classified `Success` (so the call ends whatever
//! `max_attempts` is). After a call, if bytes are left, one byte `g` starts the
//! next call (at most [`MAX_CALLS`]): bit 0 set → advance the clock by `dur`;
//! `(g >> 1) % 8`: an [`Operator`]; bit 4: the call uses `Guard::call` instead of
//! `Guard::call_outcome`.
//!
//! An invalid retry, breaker or budget configuration must be a `ConfigError`
//! naming an invalid field (never a panic), and ends the input.

// The breaker's reference model, shared with the breaker harness.
#[allow(dead_code)] // each harness uses its own part of the model
#[path = "breaker_model.rs"]
mod breaker_model;

use breaker_model::{Acq, Config, EPOCH_MASK, HEADER_LEN, Model, Rec, Rej, Snap, Trans, Tripping};
#[allow(unused_imports)] // used by tests/fuzz_replay_retry.rs, not by the fuzz target
pub use breaker_model::{Header as BreakerHeader, MState};
use fusebox::{
    Attempt, Backoff, Breaker, Classification, Classify, Clock, ConfigError, ConfigErrorKind,
    DelayReason, Event, EventKind, Guard, GuardError, Jitter, MAX_OPEN_PERIOD, ManualClock,
    Outcome, OwnedPermit, Retry, RetryBudget, Sleeper, Stop, Verdict,
};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
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
/// Other callers' permits kept at once (see [`Operator::SideAcquire`]).
pub const MAX_SIDE: usize = 4;
/// How late the sleeper wakes after a sleep (see [`Step::late`]).
pub const LATE: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_nanos(1),
    Duration::from_micros(1),
    Duration::from_millis(1),
    Duration::from_millis(5),
    Duration::from_secs(1),
    Duration::from_secs(3600),
    MAX_OPEN_PERIOD,
];

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
    /// The default breaker, then `disable()` (a `reset` brings back the default
    /// policy, graded admission included).
    Disabled,
    /// `trip_after_consecutive_failures(n)` (n in 1..=4), `open_for = OPEN_FOR[i % 5]`,
    /// growth 2 up to four periods, no jitter, 1 probe closing after 1 success;
    /// the defaults otherwise.
    Trip {
        /// Consecutive failures that trip (1..=4).
        n: u8,
        /// Index into [`OPEN_FOR`].
        open_for: u8,
    },
    /// The default breaker (graded admission below 0.5, open jitter 0.1, 2 probes).
    Default,
    /// A breaker of the breaker harness's configuration space: its 10-byte header
    /// (see `breaker_model::Config::decode`; the clock start is this input's).
    Spec {
        /// The breaker harness's header bytes.
        header: [u8; HEADER_LEN],
        /// How it is set up.
        mode: SpecMode,
    },
}

/// What is done with a [`BreakerSel::Spec`] breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecMode {
    /// Built as in the breaker harness (`open_jitter(0.0)`), `Closed`.
    Closed,
    /// Then `disable()`.
    Disabled,
    /// Built with `open_jitter(0.1)` (the model reads the periods it draws).
    Jittered,
}

impl BreakerSel {
    fn decode(r: &mut Reader<'_>) -> BreakerSel {
        let b = r.byte();
        if b % 8 < 5 {
            return BreakerSel::Disabled;
        }
        match b >> 5 {
            0 => BreakerSel::Trip {
                n: 1 + (b >> 3) % 4,
                open_for: r.byte() % 5,
            },
            1 => BreakerSel::Default,
            v => {
                let mut header = [0u8; HEADER_LEN];
                for x in &mut header {
                    *x = r.byte();
                }
                let mode = match v {
                    6 => SpecMode::Disabled,
                    7 => SpecMode::Jittered,
                    _ => SpecMode::Closed,
                };
                BreakerSel::Spec { header, mode }
            }
        }
    }

    #[allow(dead_code)]
    fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            BreakerSel::Disabled => out.push(0),
            BreakerSel::Trip { n, open_for } => {
                assert!((1..=4).contains(&n), "trip n must be in 1..=4");
                out.push(5 | ((n - 1) << 3));
                out.push(open_for);
            }
            BreakerSel::Default => out.push(5 | (1 << 5)),
            BreakerSel::Spec { header, mode } => {
                let v: u8 = match mode {
                    SpecMode::Closed => 2,
                    SpecMode::Disabled => 6,
                    SpecMode::Jittered => 7,
                };
                out.push(5 | (v << 5));
                out.extend_from_slice(&header);
            }
        }
    }

    /// The model's reading of the breaker's configuration, on a clock starting at
    /// `start_ns`.
    fn config(&self, start_ns: u64) -> Config {
        match *self {
            BreakerSel::Disabled | BreakerSel::Default => Config::defaults(start_ns, 0),
            BreakerSel::Trip { n, open_for } => {
                let open_for = sat_ns(OPEN_FOR[usize::from(open_for) % OPEN_FOR.len()]);
                Config {
                    tripping: Tripping::Consecutive(u32::from(n)),
                    open_for_ns: open_for,
                    growth: 2.0,
                    cap_ns: open_for.saturating_mul(4).min(sat_ns(MAX_OPEN_PERIOD)),
                    probes: 1,
                    close_after: 1,
                    open_jitter: 0.0,
                    ..Config::defaults(start_ns, 0)
                }
            }
            BreakerSel::Spec { header, mode } => Config {
                start_ns,
                open_jitter: if mode == SpecMode::Jittered { 0.1 } else { 0.0 },
                ..Config::decode(&header)
            },
        }
    }
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
    /// `None`, or the attempt timeout (`D::Zero` is invalid).
    pub attempt_timeout: Option<D>,
    /// The classifier asks for each attempt's duration (`wants_elapsed`).
    pub wants_elapsed: bool,
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
        let t = r.byte();
        let deadline = match t % 8 {
            0..=3 => None,
            4 => Some(D::Zero),
            _ => Some(D::decode(r)),
        };
        let attempt_timeout = match (t >> 3) % 4 {
            0 | 1 => None,
            2 => Some(D::Zero),
            _ => Some(D::decode(r)),
        };
        let wants_elapsed = t & 0x20 != 0;
        let s = r.byte();
        let seed = if s.is_multiple_of(2) {
            u64::from(s / 2)
        } else {
            r.u64()
        };
        let breaker = BreakerSel::decode(r);
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
            attempt_timeout,
            wants_elapsed,
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
        let deadline: u8 = match self.deadline {
            None => 0,
            Some(D::Zero) => 4,
            Some(_) => 5,
        };
        let timeout: u8 = match self.attempt_timeout {
            None => 0,
            Some(D::Zero) => 2,
            Some(_) => 3,
        };
        out.push(deadline | (timeout << 3) | (u8::from(self.wants_elapsed) << 5));
        for d in [self.deadline, self.attempt_timeout].into_iter().flatten() {
            if d != D::Zero {
                d.encode(out);
            }
        }
        if self.seed < 128 {
            out.push(self.seed as u8 * 2);
        } else {
            out.push(1);
            out.extend_from_slice(&self.seed.to_le_bytes());
        }
        self.breaker.encode(out);
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

/// Something another caller or an operator does to the breaker (during an
/// attempt or between calls). `% 8`, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    /// Nothing.
    None,
    /// Another caller's `try_acquire_owned`; its permit is kept (at most
    /// [`MAX_SIDE`]; beyond that it is dropped at once).
    SideAcquire,
    /// The oldest kept permit records `Success`.
    SideSuccess,
    /// The oldest kept permit records a unit failure.
    SideFailure,
    /// The oldest kept permit is dropped unrecorded (a cancellation).
    SideDrop,
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
            1 => Operator::SideAcquire,
            2 => Operator::SideSuccess,
            3 => Operator::SideFailure,
            4 => Operator::SideDrop,
            5 => Operator::ForceOpen,
            6 => Operator::Reset,
            7 => Operator::Disable,
            _ => Operator::None,
        }
    }

    fn code(self) -> u8 {
        match self {
            Operator::None => 0,
            Operator::SideAcquire => 1,
            Operator::SideSuccess => 2,
            Operator::SideFailure => 3,
            Operator::SideDrop => 4,
            Operator::ForceOpen => 5,
            Operator::Reset => 6,
            Operator::Disable => 7,
        }
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
    /// If a sleep follows this attempt, the sleeper wakes this late:
    /// `LATE[late % 8]` after the delay (carried in the high bits of the
    /// duration's selector byte, which `D` ignores).
    pub late: u8,
}

impl Step {
    fn decode(r: &mut Reader<'_>) -> Step {
        let k = r.byte();
        let kind = Kind::of(k);
        let weight = if kind.weighted() { r.byte() } else { 0 };
        let hint = if kind.hinted() { D::decode(r) } else { D::Zero };
        let (duration, late) = if k & 0x80 != 0 {
            let selector = r.data.get(r.pos).copied().unwrap_or(0);
            (Some(D::decode(r)), (selector >> 4) % 8)
        } else {
            (None, 0)
        };
        Step {
            kind,
            flip: k & 8 != 0,
            operator: Operator::of(k >> 4),
            weight,
            hint,
            duration,
            late,
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
            late: 0,
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
        let timed = self.duration.is_some() || !self.late.is_multiple_of(8);
        if timed {
            k |= 0x80;
        }
        out.push(k);
        if self.kind.weighted() {
            out.push(self.weight);
        }
        if self.kind.hinted() {
            self.hint.encode(out);
        }
        if timed {
            let at = out.len();
            self.duration.unwrap_or(D::Zero).encode(out);
            out[at] |= (self.late % 8) << 4;
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
    /// Make the call with `Guard::call` (a `Result`) instead of
    /// `Guard::call_outcome`.
    pub result_api: bool,
}

impl Between {
    /// Nothing between the calls.
    #[allow(dead_code)]
    pub fn none() -> Between {
        Between {
            advance: None,
            operator: Operator::None,
            result_api: false,
        }
    }

    fn decode(r: &mut Reader<'_>) -> Between {
        let g = r.byte();
        let advance = if g & 1 != 0 { Some(D::decode(r)) } else { None };
        Between {
            advance,
            operator: Operator::of(g >> 1),
            result_api: g & 0x10 != 0,
        }
    }

    #[allow(dead_code)]
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(
            u8::from(self.advance.is_some())
                | (self.operator.code() << 1)
                | (u8::from(self.result_api) << 4),
        );
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
    /// The configured attempt timeout.
    attempt_timeout: Option<Duration>,
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
    if h.attempt_timeout.map(D::value) == Some(Duration::ZERO) {
        errors.push(("attempt_timeout", ConfigErrorKind::Zero));
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
// The model of a guarded call.
// ---------------------------------------------------------------------------

/// What one run went through (for the seeds' and the sweep's coverage checks).
#[allow(dead_code)] // read by tests/fuzz_replay_retry.rs, not by the fuzz target
#[derive(Clone, Copy, Debug, Default)]
pub struct Summary {
    /// The retry configuration was refused.
    pub retry_config_error: bool,
    /// The budget configuration was refused.
    pub budget_config_error: bool,
    /// The breaker configuration was refused.
    pub breaker_config_error: bool,
    /// Calls made.
    pub calls: u32,
    /// Calls made with `Guard::call` (the others with `call_outcome`).
    pub result_api_calls: u32,
    /// Calls whose attempts were timed (slow-call threshold, or the classifier
    /// asked).
    pub timed_calls: u32,
    /// Attempts made (all calls).
    pub attempts: u32,
    /// Sleeps (all calls).
    pub sleeps: u32,
    /// Sleeps whose delay was set by a server hint above the backoff.
    pub hint_raised: u32,
    /// Calls that returned `Ok`.
    pub ok: u32,
    /// `Ok` returned though the last attempt was classified a retryable failure.
    pub ok_on_failure: u32,
    /// `GuardError::Permanent` (a non-retryable, ignored or success-classified `Err`).
    pub permanent: u32,
    /// `GuardError::Exhausted`.
    pub exhausted: u32,
    /// Stopped by a refusal at `try_acquire` (before the first attempt or after a
    /// sleep).
    pub rejected_acquire: u32,
    /// Stopped before a sleep (the breaker would still be open on waking).
    pub rejected_before_sleep: u32,
    /// Stopped by graded admission (`Rejected::Shed`) at `try_acquire`.
    pub shed: u32,
    /// Stopped by `Rejected::ProbesBusy` at `try_acquire`.
    pub probes_busy: u32,
    /// Stopped with `BudgetExhausted`.
    pub budget_exhausted: u32,
    /// Stopped with `DeadlineExceeded` (before a sleep, or a retry due at or past
    /// the deadline).
    pub deadline_exceeded: u32,
    /// Of those, a retry due at or past the deadline (no permit taken).
    pub deadline_at_begin: u32,
    /// Sleeps the sleeper woke late from.
    pub late_wakes: u32,
    /// Operator actions applied (`force_open`, `reset`, `disable`).
    pub operator_actions: u32,
    /// Other callers' acquires, reports and cancellations.
    pub side_ops: u32,
    /// Other callers' acquires shed by graded admission.
    pub side_shed: u32,
    /// Attempts the breaker recorded as stale (it moved on during the attempt).
    pub stale_records: u32,
    /// Attempts slower than the slow-call threshold.
    pub slow_attempts: u32,
    /// Half-open periods replaced by probe-lease expiry.
    pub lease_expiries: u32,
    /// Transitions into `Open` whose period was jittered.
    pub jittered_opens: u32,
    /// Bit `from * 5 + to` for every transition seen (states indexed Closed, Open,
    /// HalfOpen, ForcedOpen, Disabled).
    pub transitions: u32,
    /// Largest `max_attempts` of a valid configuration.
    pub max_attempts: u32,
    /// `Retry::delays` sequences checked.
    pub delay_sequences: u32,
    /// Total time slept (all calls), in nanoseconds.
    pub slept_ns: u128,
}

#[allow(dead_code)] // used by tests/fuzz_replay_retry.rs, not by the fuzz target
impl Summary {
    /// Whether a transition `from -> to` was seen.
    pub fn saw(&self, from: MState, to: MState) -> bool {
        self.transitions & (1 << (from.index() * 5 + to.index())) != 0
    }

    /// Add up another run's summary (flags or-ed, counts summed, the largest
    /// `max_attempts` kept).
    pub fn absorb(&mut self, o: &Summary) {
        self.retry_config_error |= o.retry_config_error;
        self.budget_config_error |= o.budget_config_error;
        self.breaker_config_error |= o.breaker_config_error;
        self.calls += o.calls;
        self.result_api_calls += o.result_api_calls;
        self.timed_calls += o.timed_calls;
        self.attempts += o.attempts;
        self.sleeps += o.sleeps;
        self.hint_raised += o.hint_raised;
        self.ok += o.ok;
        self.ok_on_failure += o.ok_on_failure;
        self.permanent += o.permanent;
        self.exhausted += o.exhausted;
        self.rejected_acquire += o.rejected_acquire;
        self.rejected_before_sleep += o.rejected_before_sleep;
        self.shed += o.shed;
        self.probes_busy += o.probes_busy;
        self.budget_exhausted += o.budget_exhausted;
        self.deadline_exceeded += o.deadline_exceeded;
        self.deadline_at_begin += o.deadline_at_begin;
        self.late_wakes += o.late_wakes;
        self.operator_actions += o.operator_actions;
        self.side_ops += o.side_ops;
        self.side_shed += o.side_shed;
        self.stale_records += o.stale_records;
        self.slow_attempts += o.slow_attempts;
        self.lease_expiries += o.lease_expiries;
        self.jittered_opens += o.jittered_opens;
        self.transitions |= o.transitions;
        self.max_attempts = self.max_attempts.max(o.max_attempts);
        self.delay_sequences += o.delay_sequences;
        self.slept_ns += o.slept_ns;
    }
}

/// The value / error of an attempt: its number and classification.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tag {
    n: u32,
    class: Classification,
}

impl std::fmt::Display for Tag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "attempt #{} ({:?})", self.n, self.class)
    }
}

/// An event told to the breaker's listener, as compared.
#[derive(Clone, Debug, PartialEq)]
struct Ev {
    at_ns: u64,
    state: MState,
    epoch: u32,
    health_bits: Option<u64>,
    kind: EvKind,
}

#[derive(Clone, Debug, PartialEq)]
enum EvKind {
    Transition(Trans),
    ProbeLeaseExpired(u32),
    Rejected(Rej),
    StaleReport(u32),
    Retry {
        attempt: u32,
        delay: Duration,
        server_hint: bool,
    },
    BudgetRefused(u32),
    SlowAttempt {
        elapsed: Duration,
        threshold: Duration,
    },
    CallStopped(Stop, u32),
    /// Anything else (a blocking call tells no `AttemptTimedOut`).
    Other(String),
}

impl Ev {
    fn of(e: &Event<'_>) -> Ev {
        let kind = match e.kind {
            EventKind::Transition(t) => EvKind::Transition(Trans::of(&t)),
            EventKind::ProbeLeaseExpired { expired_epoch } => {
                EvKind::ProbeLeaseExpired(expired_epoch)
            }
            EventKind::Rejected(r) => EvKind::Rejected(Rej::of(&r)),
            EventKind::StaleReport { permit_epoch } => EvKind::StaleReport(permit_epoch),
            EventKind::Retry {
                attempt,
                delay,
                reason,
            } => EvKind::Retry {
                attempt,
                delay,
                server_hint: reason == DelayReason::ServerHint,
            },
            EventKind::BudgetRefused {
                budget: "",
                attempts,
            } => EvKind::BudgetRefused(attempts),
            EventKind::SlowAttempt { elapsed, threshold } => {
                EvKind::SlowAttempt { elapsed, threshold }
            }
            EventKind::CallStopped { stop, attempts } => EvKind::CallStopped(stop, attempts),
            other => EvKind::Other(format!("{other:?}")),
        };
        Ev {
            at_ns: sat_ns(e.at),
            state: MState::of(e.state),
            epoch: e.epoch,
            health_bits: e.health.map(f64::to_bits),
            kind,
        }
    }
}

/// The last result a call keeps: the attempt's number, whether it was an `Ok`,
/// its classification.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Last {
    n: u32,
    ok: bool,
    class: Classification,
}

/// How the model expects a call to end.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Expect {
    stop: Stop,
    attempts: u32,
    last: Option<Last>,
    rejected: Option<Rej>,
}

/// `Guard::call`'s error, as compared: its variant's stop, attempts, the last
/// attempt's number, the refusal.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Err_ {
    stop: Stop,
    attempts: u32,
    last: Option<u32>,
    rejected: Option<Rej>,
}

impl Expect {
    /// What `Guard::call` returns for this end, as its documentation states it:
    /// an `Ok` last result is returned whatever the stop; otherwise a `GuardError`
    /// naming the stop (`Permanent` for a non-retryable, ignored or
    /// success-classified `Err`; `Rejected` reports `Stop::Rejected` when no
    /// attempt was made).
    fn result(&self) -> Result<u32, Err_> {
        let last = match self.last {
            Some(l) if l.ok => return Ok(l.n),
            last => last.map(|l| l.n),
        };
        let stop = match self.stop {
            Stop::Rejected | Stop::RejectedMidCall if self.attempts == 0 => Stop::Rejected,
            Stop::Rejected | Stop::RejectedMidCall => Stop::RejectedMidCall,
            Stop::Succeeded | Stop::Ignored | Stop::Permanent if last.is_some() => Stop::Permanent,
            Stop::BudgetExhausted => Stop::BudgetExhausted,
            Stop::DeadlineExceeded => Stop::DeadlineExceeded,
            _ => Stop::Exhausted,
        };
        Err(Err_ {
            stop,
            attempts: self.attempts,
            last,
            rejected: self.rejected,
        })
    }
}

/// Where the model is in the current call.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// The next thing the guard does is `begin`: the deadline rule for a retry,
    /// then `try_acquire`.
    Begin,
    /// Attempt `n` (admitted in `epoch`, begun at `started` ns on the breaker's
    /// clock) is running.
    Running { n: u32, epoch: u32, started: u64 },
    /// Attempt `n` returned `step`'s result; the guard records it next.
    Ran {
        n: u32,
        epoch: u32,
        started: u64,
        step: Step,
    },
    /// Attempt `n` was a retryable failure with attempts left: the guard draws a
    /// backoff in `[low, high]` ns (the draw is the guard's), takes
    /// `delay = max(hint, backoff)`, and asks the breaker, the deadline and the
    /// budget (rule 3) before sleeping.
    BeforeSleep { last: Last, low: u64, high: u64 },
    /// The call is over.
    Done(Expect),
}

/// One call as the model sees it.
#[derive(Clone, Copy, Debug)]
struct CallModel {
    index: usize,
    attempts: u32,
    sleeps: u32,
    /// The breaker-clock time of the first attempt (the deadline counts from it).
    start: Option<u64>,
    /// The last result kept across a sleep.
    last: Option<Last>,
    /// Decorrelated: the previous jittered backoff, when known.
    previous: Option<u64>,
    phase: Phase,
}

/// The elapsed time the classifier was given for the last attempt: `Some(None)`
/// untimed, `Some(Some(d))` timed, `None` not yet classified.
type Seen = Rc<Cell<Option<Option<Duration>>>>;

/// The classifier: the script's classification, whatever the result's type;
/// notes the elapsed time it is given.
struct Classifier {
    wants: bool,
    seen: Seen,
}

impl Classify<Tag, Tag> for Classifier {
    fn classify(&self, r: &Result<Tag, Tag>) -> Classification {
        self.seen.set(Some(None));
        match r {
            Ok(t) | Err(t) => t.class,
        }
    }

    fn classify_timed(&self, r: &Result<Tag, Tag>, elapsed: Option<Duration>) -> Classification {
        self.seen.set(Some(elapsed));
        match r {
            Ok(t) | Err(t) => t.class,
        }
    }

    fn wants_elapsed(&self) -> bool {
        self.wants
    }
}

/// The real objects and the models, side by side, and the script.
struct World<'d> {
    reader: Reader<'d>,
    spec: Spec,
    header: Header,
    clock: ManualClock,
    breaker: Arc<Breaker>,
    budget: Option<Arc<RetryBudget>>,
    heard: Arc<Mutex<Vec<Ev>>>,
    /// Transitions into `Open` heard and already handed to the model.
    fed: usize,
    seen: Seen,
    /// Whether the guard times attempts.
    timed: bool,
    /// The breaker model, the budget model, the model's clock reading.
    model: Model,
    budget_model: Option<BudgetModel>,
    now_ns: u64,
    /// Events the model predicts since the last comparison.
    expected: Vec<Ev>,
    /// Other callers' permits, with the epoch the model admitted them in.
    side: Vec<(OwnedPermit, u32)>,
    /// How late the sleeper wakes from the next sleep (the last attempt's script).
    late: Duration,
    call: CallModel,
    summary: Summary,
}

impl World<'_> {
    fn ctx(&self) -> String {
        format!(
            "call #{}, model {:?}, model clock {} ns (breaker elapsed {} ns), breaker {:?}, spec {:?}, header {:?}",
            self.call.index,
            self.call,
            self.now_ns,
            self.model.elapsed(self.now_ns),
            self.breaker.snapshot(),
            self.spec,
            self.header
        )
    }

    /// The model's breaker-clock time.
    fn elapsed(&self) -> u64 {
        self.model.elapsed(self.now_ns)
    }

    fn advance(&mut self, d: Duration) {
        self.clock.advance(d);
        self.now_ns = self.now_ns.saturating_add(sat_ns(d));
    }

    /// An event the model predicts, stamped with the model's state now.
    fn push(&mut self, kind: EvKind) {
        self.expected.push(Ev {
            at_ns: self.elapsed(),
            state: self.model.state,
            epoch: self.model.epoch,
            health_bits: self.model.event_health_bits(),
            kind,
        });
    }

    /// Hand the model the jittered periods of the transitions into `Open` heard
    /// since the last comparison (it takes one per `Open` it enters).
    fn feed_periods(&mut self) {
        if self.model.open_jitter == 0.0 {
            return;
        }
        let opens: Vec<u64> = self
            .heard
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match &e.kind {
                EvKind::Transition(t) if t.to == MState::Open => t.open_for.map(sat_ns),
                _ => None,
            })
            .collect();
        for &p in opens.iter().skip(self.fed) {
            self.model.heard_periods.push_back(p);
        }
        self.fed = opens.len();
    }

    /// The events of the transitions the model made.
    fn push_transitions(&mut self) {
        for t in std::mem::take(&mut self.model.events) {
            self.summary.transitions |= 1 << (t.from.index() * 5 + t.to.index());
            if t.from == MState::HalfOpen && t.to == MState::HalfOpen {
                self.summary.lease_expiries += 1;
                self.push(EvKind::ProbeLeaseExpired(
                    t.epoch.wrapping_sub(1) & EPOCH_MASK,
                ));
            }
            if t.to == MState::Open && self.model.open_jitter > 0.0 {
                self.summary.jittered_opens += 1;
            }
            self.push(EvKind::Transition(t));
        }
    }

    /// Compare everything observable: the clock, the breaker's snapshot and stale
    /// count, the events told, the budget's balance.
    fn compare(&mut self, at: impl Fn() -> String) {
        assert_eq!(
            self.clock.now_nanos(),
            self.now_ns,
            "{}: ManualClock reading; {}",
            at(),
            self.ctx()
        );
        let real = Snap::of(&self.breaker.snapshot(), self.breaker.stale_reports());
        let model = self.model.snapshot(self.now_ns);
        assert_eq!(
            real,
            model,
            "{}: breaker snapshot (real, model); {}",
            at(),
            self.ctx()
        );
        let heard: Vec<Ev> = std::mem::take(&mut *self.heard.lock().unwrap());
        assert_eq!(
            heard,
            self.expected,
            "{}: events told (real, model); {}",
            at(),
            self.ctx()
        );
        self.expected.clear();
        self.fed = 0;
        assert!(
            self.model.heard_periods.is_empty(),
            "{}: the breaker entered Open more often than the model; {}",
            at(),
            self.ctx()
        );
        if let (Some(b), Some(m)) = (&self.budget, &self.budget_model) {
            assert_eq!(
                b.balance_milli(),
                m.balance(),
                "{}: budget balance (real, model {m:?}); {}",
                at(),
                self.ctx()
            );
        }
    }

    /// Another caller or an operator acts on the breaker, on both sides.
    fn operate(&mut self, op: Operator) {
        let now = self.now_ns;
        match op {
            Operator::None => return,
            Operator::SideAcquire => {
                let real = Breaker::try_acquire_owned(&self.breaker);
                self.feed_periods();
                let expected = self.model.acquire(now);
                let observed = Acq::of(&real, OwnedPermit::epoch);
                assert_eq!(
                    observed,
                    expected,
                    "another caller's try_acquire; {}",
                    self.ctx()
                );
                self.push_transitions();
                match (real, expected) {
                    (Ok(permit), Acq::Admit(epoch)) => {
                        if self.side.len() < MAX_SIDE {
                            self.side.push((permit, epoch));
                        } else {
                            drop(permit);
                            self.model.cancel(epoch);
                        }
                    }
                    (_, Acq::Reject(r)) => {
                        if r == Rej::Shed {
                            self.summary.side_shed += 1;
                        }
                        self.push(EvKind::Rejected(r));
                    }
                    (Err(_), Acq::Admit(_)) => unreachable!("compared equal above"),
                }
            }
            Operator::SideSuccess | Operator::SideFailure => {
                if self.side.is_empty() {
                    return;
                }
                let (permit, epoch) = self.side.remove(0);
                let verdict = if op == Operator::SideSuccess {
                    Verdict::Success
                } else {
                    Verdict::failure()
                };
                let real = Rec::of(permit.record(verdict));
                self.feed_periods();
                let expected = self.model.record(now, epoch, verdict);
                assert_eq!(
                    real,
                    expected,
                    "another caller's record({verdict:?}) of epoch {epoch}; {}",
                    self.ctx()
                );
                if expected == Rec::Stale {
                    self.push(EvKind::StaleReport(epoch));
                }
                self.push_transitions();
            }
            Operator::SideDrop => {
                if self.side.is_empty() {
                    return;
                }
                let (permit, epoch) = self.side.remove(0);
                drop(permit);
                self.model.cancel(epoch);
            }
            Operator::ForceOpen | Operator::Reset | Operator::Disable => {
                let (real, expected) = match op {
                    Operator::ForceOpen => (self.breaker.force_open(), self.model.force_open()),
                    Operator::Reset => (self.breaker.reset(), self.model.reset(now)),
                    _ => (self.breaker.disable(), self.model.disable(now)),
                };
                assert_eq!(
                    real.as_ref().map(Trans::of),
                    expected,
                    "{op:?}: the transition (real, model); {}",
                    self.ctx()
                );
                self.push_transitions();
                self.summary.operator_actions += 1;
                return;
            }
        }
        self.summary.side_ops += 1;
    }

    /// The call stops with `stop` (told to the listener unless it is the first
    /// attempt's success, the healthy path).
    fn done(&mut self, stop: Stop, last: Option<Last>, rejected: Option<Rej>) {
        let attempts = self.call.attempts;
        if !(stop == Stop::Succeeded && attempts == 1) {
            self.push(EvKind::CallStopped(stop, attempts));
        }
        self.call.phase = Phase::Done(Expect {
            stop,
            attempts,
            last,
            rejected,
        });
    }

    /// `begin`: a retry due at or past the deadline is not sent (no permit, nothing
    /// recorded: the call keeps its last result); otherwise ask the breaker (rule
    /// 1). Returns the attempt the guard must then make, if admitted.
    fn begin(&mut self) -> Option<(u32, Option<Duration>, u32)> {
        if self.call.attempts > 0 {
            if let (Some(deadline), Some(start)) = (self.spec.deadline, self.call.start) {
                let since = Duration::from_nanos(self.elapsed().saturating_sub(start));
                if since >= deadline {
                    self.summary.deadline_at_begin += 1;
                    self.done(Stop::DeadlineExceeded, self.call.last, None);
                    return None;
                }
            }
        }
        self.feed_periods();
        let acquired = self.model.acquire(self.now_ns);
        self.push_transitions();
        let epoch = match acquired {
            Acq::Admit(epoch) => epoch,
            Acq::Reject(r) => {
                self.push(EvKind::Rejected(r));
                let stop = if self.call.attempts == 0 {
                    Stop::Rejected
                } else {
                    Stop::RejectedMidCall
                };
                self.done(stop, self.call.last, Some(r));
                return None;
            }
        };
        self.call.attempts += 1;
        let n = self.call.attempts;
        let now = self.elapsed();
        let start = *self.call.start.get_or_insert(now);
        if n == 1 {
            if let Some(m) = &mut self.budget_model {
                m.deposit();
            }
        }
        // The time left: the deadline minus the time since the first attempt
        // (zero when due), or the attempt timeout, whichever is sooner.
        let left = self
            .spec
            .deadline
            .map(|d| d.saturating_sub(Duration::from_nanos(now - start)));
        let remaining = match (left, self.spec.attempt_timeout) {
            (Some(l), Some(t)) => Some(l.min(t)),
            (l, t) => l.or(t),
        };
        self.call.phase = Phase::Running {
            n,
            epoch,
            started: now,
        };
        Some((n, remaining, epoch))
    }

    /// The guard records attempt `n`'s verdict (rule 2) and decides: stop, or go
    /// on to the checks before a sleep.
    fn record(&mut self, n: u32, epoch: u32, started: u64, step: Step) {
        let class = step.classification();
        let took = Duration::from_nanos(self.elapsed().saturating_sub(started));
        let seen = self.seen.take();
        assert_eq!(
            seen,
            Some(self.timed.then_some(took)),
            "attempt #{n}: the elapsed time the classifier was given (timed: {}); {}",
            self.timed,
            self.ctx()
        );
        let verdict = if self.timed {
            self.model.timed_verdict(class.verdict(), took)
        } else {
            class.verdict()
        };
        self.feed_periods();
        if self.model.record(self.now_ns, epoch, verdict) == Rec::Stale {
            self.summary.stale_records += 1;
            self.push(EvKind::StaleReport(epoch));
        }
        self.push_transitions();
        if let (true, Some((threshold, _))) = (self.timed, self.model.slow_call) {
            let threshold = Duration::from_nanos(threshold);
            if took > threshold {
                self.summary.slow_attempts += 1;
                self.push(EvKind::SlowAttempt {
                    elapsed: took,
                    threshold,
                });
            }
        }
        let last = Last {
            n,
            ok: step.is_ok(),
            class,
        };
        match class {
            Classification::Success => self.done(Stop::Succeeded, Some(last), None),
            Classification::Ignored => self.done(Stop::Ignored, Some(last), None),
            Classification::Failure {
                retryable: false, ..
            } => self.done(Stop::Permanent, Some(last), None),
            _ if n >= self.spec.max_attempts => self.done(Stop::Exhausted, Some(last), None),
            _ => {
                let (low, high) = self.spec.range(n, self.call.previous);
                self.call.phase = Phase::BeforeSleep { last, low, high };
            }
        }
    }

    /// Run the model's call forward through what needs no observation: records,
    /// and `begin` when `begin` is set. Stops at `Running`, `BeforeSleep` or `Done`.
    fn settle(&mut self, begin: bool) -> Option<(u32, Option<Duration>, u32)> {
        loop {
            match self.call.phase {
                Phase::Ran {
                    n,
                    epoch,
                    started,
                    step,
                } => self.record(n, epoch, started, step),
                Phase::Begin if begin => return self.begin(),
                _ => return None,
            }
        }
    }

    /// The guard invoked the operation with `attempt`.
    fn on_attempt(&mut self, attempt: Attempt) {
        let admitted = self.settle(true);
        let Some((n, remaining, epoch)) = admitted else {
            panic!(
                "the guard made attempt {attempt:?}, but the model {}; {}",
                match self.call.phase {
                    Phase::BeforeSleep { .. } => "expects a sleep first".to_owned(),
                    Phase::Done(e) => format!("expects the call to stop: {e:?}"),
                    _ => "is elsewhere".to_owned(),
                },
                self.ctx()
            )
        };
        assert!(
            n <= self.spec.max_attempts,
            "attempt #{n} past max_attempts"
        );
        assert_eq!(
            (attempt.number, attempt.remaining, attempt.epoch),
            (n, remaining, epoch),
            "the Attempt (number, remaining, epoch) (real, model); {}",
            self.ctx()
        );
        self.summary.attempts += 1;
    }

    /// The operation: its script step, on both sides.
    fn attempt(&mut self, attempt: Attempt) -> Result<Tag, Tag> {
        self.on_attempt(attempt);
        let n = attempt.number;
        self.compare(|| format!("attempt #{n} admitted"));
        let step = if n >= MAX_RUN || self.reader.at_end() {
            Step::done()
        } else {
            Step::decode(&mut self.reader)
        };
        self.operate(step.operator);
        if let Some(d) = step.duration {
            self.advance(d.value());
        }
        self.late = LATE[usize::from(step.late % 8)];
        self.compare(|| format!("attempt #{n} ran ({step:?})"));
        let Phase::Running { n, epoch, started } = self.call.phase else {
            unreachable!("on_attempt leaves the call running")
        };
        self.call.phase = Phase::Ran {
            n,
            epoch,
            started,
            step,
        };
        let tag = Tag {
            n,
            class: step.classification(),
        };
        if step.is_ok() { Ok(tag) } else { Err(tag) }
    }

    /// The guard sleeps `delay`: rule 3 let it (the breaker will not be open when
    /// it ends, it ends by the deadline, the budget gave a token) and rule 5 set it
    /// (`max(hint, backoff)`, the backoff in its range).
    fn on_sleep(&mut self, delay: Duration) {
        self.settle(false);
        let Phase::BeforeSleep { last, low, high } = self.call.phase else {
            panic!(
                "the guard sleeps {delay:?}, but the model is not before a sleep; {}",
                self.ctx()
            )
        };
        let k = last.n;
        // The delay: max(hint, jittered backoff), the backoff in its range.
        let (lo, hi) = (Duration::from_nanos(low), Duration::from_nanos(high));
        let hint = last.class.retry_after();
        let floor = hint.map_or(lo, |h| h.max(lo));
        let ceiling = hint.map_or(hi, |h| h.max(hi));
        assert!(
            floor <= delay && delay <= ceiling,
            "delay #{k} {delay:?} outside [{floor:?}, {ceiling:?}] (backoff range [{lo:?}, {hi:?}], hint {hint:?}, exact base(k) in {:?} ns){}; {}",
            self.spec.base(k),
            r4_note(
                self.spec.fractional,
                sat_ns(delay),
                sat_ns(floor),
                sat_ns(ceiling)
            ),
            self.ctx()
        );
        assert!(
            delay <= Duration::from_nanos(self.spec.cap) || hint == Some(delay),
            "delay #{k} {delay:?} above the cap {} ns and not a hint {hint:?}",
            self.spec.cap
        );
        // The reason told: the hint when it is above the backoff.
        let server_hint = match self.heard.lock().unwrap().last().map(|e| &e.kind) {
            Some(EvKind::Retry {
                attempt,
                delay: d,
                server_hint,
            }) if *attempt == k + 1 && *d == delay => *server_hint,
            other => panic!("sleep #{k}: the last event told is {other:?}, not its Retry"),
        };
        if server_hint {
            assert!(
                hint == Some(delay) && delay > lo,
                "sleep #{k} of {delay:?} told as the server's hint {hint:?} (backoff range [{lo:?}, {hi:?}])"
            );
            self.summary.hint_raised += 1;
        } else {
            assert!(
                lo <= delay && delay <= hi && hint.is_none_or(|h| h <= delay),
                "sleep #{k} of {delay:?} told as the backoff, hint {hint:?} (backoff range [{lo:?}, {hi:?}])"
            );
        }
        // Rule 3, in order.
        assert_eq!(
            self.model.rejects_for(self.now_ns, delay),
            None,
            "sleep #{k} of {delay:?} while the breaker model rejects until after it; {}",
            self.ctx()
        );
        if let (Some(deadline), Some(start)) = (self.spec.deadline, self.call.start) {
            let since = self.elapsed().saturating_sub(start);
            assert!(
                u128::from(since) + delay.as_nanos() < deadline.as_nanos(),
                "sleep #{k} of {delay:?} after {since} ns would end at or past the deadline {deadline:?}; {}",
                self.ctx()
            );
        }
        let now = self.now_ns;
        if let Some(m) = &mut self.budget_model {
            assert!(
                m.withdraw(now),
                "sleep #{k} although the budget model refuses a withdrawal ({m:?})"
            );
        }
        self.push(EvKind::Retry {
            attempt: k + 1,
            delay,
            server_hint,
        });
        // Decorrelated jitter goes on from the backoff drawn, known unless the
        // hint replaced it.
        self.call.previous = (!server_hint).then(|| sat_ns(delay));
        self.call.last = Some(last);
        self.call.sleeps += 1;
        self.call.phase = Phase::Begin;
        self.summary.sleeps += 1;
        self.summary.slept_ns += delay.as_nanos();
    }

    /// The call returned: the model's end of it. A call that stopped before a
    /// sleep chose among rule 3's stops by a backoff the model does not draw: the
    /// model checks that some delay in the documented range explains the stop the
    /// guard told, and goes on from it.
    fn on_return(&mut self) -> Expect {
        self.settle(true);
        if let Phase::BeforeSleep { last, low, high } = self.call.phase {
            let told = match self.heard.lock().unwrap().last().map(|e| &e.kind) {
                Some(EvKind::CallStopped(stop, _)) => *stop,
                other => panic!(
                    "a call stopped before sleeping; the last event told is {other:?}, not CallStopped"
                ),
            };
            let hint = last.class.retry_after();
            let shortest = hint.map_or(Duration::from_nanos(low), |h| {
                h.max(Duration::from_nanos(low))
            });
            let longest = hint.map_or(Duration::from_nanos(high), |h| {
                h.max(Duration::from_nanos(high))
            });
            let since = self.elapsed().saturating_sub(self.call.start.unwrap_or(0));
            // A sleep must end before the deadline (a retry due at it is not sent).
            let in_time = |d: Duration| {
                self.spec
                    .deadline
                    .is_none_or(|dl| u128::from(since) + d.as_nanos() < dl.as_nanos())
            };
            match told {
                Stop::RejectedMidCall => {
                    let r = self
                        .model
                        .rejects_for(self.now_ns, shortest)
                        .unwrap_or_else(|| {
                            panic!(
                                "stopped as RejectedMidCall before a sleep, but the breaker model admits after the shortest delay {shortest:?}; {}",
                                self.ctx()
                            )
                        });
                    self.summary.rejected_before_sleep += 1;
                    self.push(EvKind::Rejected(r));
                    self.done(Stop::RejectedMidCall, Some(last), Some(r));
                }
                Stop::DeadlineExceeded => {
                    assert!(
                        self.model.rejects_for(self.now_ns, longest).is_none() && !in_time(longest),
                        "stopped with DeadlineExceeded before a sleep of at most {longest:?}, {since} ns into the call: the breaker model rejects it, or it ends before the deadline; {}",
                        self.ctx()
                    );
                    self.done(Stop::DeadlineExceeded, Some(last), None);
                }
                Stop::BudgetExhausted => {
                    // The shortest delay the breaker lets through.
                    let first = match self.model.rejects_for(self.now_ns, shortest) {
                        None => shortest,
                        Some(Rej::Open(Some(left))) => left,
                        Some(r) => panic!(
                            "BudgetExhausted, but the breaker model refuses every sleep ({r:?}); {}",
                            self.ctx()
                        ),
                    };
                    assert!(
                        first <= longest && in_time(first),
                        "BudgetExhausted, but no delay in [{shortest:?}, {longest:?}] passes the breaker ({first:?}) and the deadline; {}",
                        self.ctx()
                    );
                    let now = self.now_ns;
                    let m = self
                        .budget_model
                        .as_mut()
                        .unwrap_or_else(|| panic!("BudgetExhausted without a budget"));
                    assert!(
                        !m.withdraw(now),
                        "BudgetExhausted, but the budget model gives a token ({m:?})"
                    );
                    self.push(EvKind::BudgetRefused(last.n));
                    self.done(Stop::BudgetExhausted, Some(last), None);
                }
                other => panic!(
                    "a retryable failure with attempts left stopped with {other:?} without sleeping; {}",
                    self.ctx()
                ),
            }
        }
        match self.call.phase {
            Phase::Done(e) => e,
            Phase::Running { n, epoch, .. } => panic!(
                "the call returned, but the model admits attempt #{n} (epoch {epoch}); {}",
                self.ctx()
            ),
            other => unreachable!("settled to {other:?}"),
        }
    }

    /// Count an ended call.
    fn count(&mut self, e: &Expect) {
        let s = &mut self.summary;
        s.calls += 1;
        match e.stop {
            Stop::Rejected | Stop::RejectedMidCall if e.attempts == self.call.sleeps => {
                s.rejected_acquire += 1;
                match e.rejected {
                    Some(Rej::Shed) => s.shed += 1,
                    Some(Rej::Busy) => s.probes_busy += 1,
                    _ => {}
                }
            }
            Stop::BudgetExhausted => s.budget_exhausted += 1,
            Stop::DeadlineExceeded => s.deadline_exceeded += 1,
            _ => {}
        }
        match e.result() {
            Ok(_) => {
                s.ok += 1;
                if e.last.is_some_and(|l| l.class.is_retryable()) {
                    s.ok_on_failure += 1;
                }
            }
            Err(err) if err.stop == Stop::Permanent => s.permanent += 1,
            Err(err) if err.stop == Stop::Exhausted => s.exhausted += 1,
            Err(_) => {}
        }
    }
}

/// The sleeper: the model checks the sleep, then the clock moves by it.
struct Sleeps<'w, 'd> {
    world: &'w RefCell<World<'d>>,
}

impl Sleeper for Sleeps<'_, '_> {
    fn sleep(&self, delay: Duration) {
        let mut w = self.world.borrow_mut();
        w.on_sleep(delay);
        w.advance(delay);
        let late = std::mem::take(&mut w.late);
        if !late.is_zero() {
            w.advance(late);
            w.summary.late_wakes += 1;
        }
        let k = w.call.sleeps;
        w.compare(|| format!("sleep #{k} of {delay:?}, woken {late:?} late"));
    }
}

/// Compare a `call_outcome` with the model's end of the call (`ctx` describes the
/// state for a failure message; it is built only then).
fn check_outcome(o: &Outcome<Tag, Tag>, e: &Expect, ctx: &dyn Fn() -> String) {
    let last = o.last.as_ref().map(|r| match r {
        Ok(t) => (t.n, true),
        Err(t) => (t.n, false),
    });
    assert_eq!(
        (o.stop, o.attempts, last, o.rejected.as_ref().map(Rej::of)),
        (e.stop, e.attempts, e.last.map(|l| (l.n, l.ok)), e.rejected),
        "the Outcome (stop, attempts, last, rejected) (real, model); {}",
        ctx()
    );
    assert_eq!(o.value().map(|t| t.n), last.filter(|l| l.1).map(|l| l.0));
    assert_eq!(o.error().map(|t| t.n), last.filter(|l| !l.1).map(|l| l.0));
    assert!(
        !o.timed_out(),
        "a blocking call cannot cut an attempt; {}",
        ctx()
    );
    assert_eq!(o.retry_after(), e.rejected.and_then(Rej::retry_after));
    assert_eq!(
        o.stop.is_success(),
        o.stop == Stop::Succeeded,
        "Stop::is_success; {}",
        ctx()
    );
    check_result(&o.clone().into_result(), e, ctx);
}

/// Compare a `Guard::call` result with the model's.
fn check_result(r: &Result<Tag, GuardError<Tag>>, e: &Expect, ctx: &dyn Fn() -> String) {
    let observed = match r {
        Ok(t) => Ok(t.n),
        Err(g) => {
            let _ = format!("{g} {g:?}");
            let (variant, rejected) = match g {
                GuardError::Rejected { rejected, .. } => {
                    assert_eq!(
                        g.retry_after(),
                        rejected.retry_after(),
                        "retry_after; {}",
                        ctx()
                    );
                    (
                        if g.attempts() == 0 {
                            Stop::Rejected
                        } else {
                            Stop::RejectedMidCall
                        },
                        Some(Rej::of(rejected)),
                    )
                }
                GuardError::Exhausted { .. } => (Stop::Exhausted, None),
                GuardError::BudgetExhausted { .. } => (Stop::BudgetExhausted, None),
                GuardError::DeadlineExceeded { .. } => (Stop::DeadlineExceeded, None),
                GuardError::Permanent { .. } => (Stop::Permanent, None),
                other => panic!("unknown GuardError variant {other:?}"),
            };
            assert_eq!(g.stop(), variant, "GuardError::stop; {}", ctx());
            if rejected.is_none() {
                assert_eq!(g.retry_after(), None, "retry_after; {}", ctx());
            }
            assert_eq!(
                g.clone().into_inner().map(|t| t.n),
                g.last().map(|t| t.n),
                "into_inner vs last; {}",
                ctx()
            );
            Err(Err_ {
                stop: variant,
                attempts: g.attempts(),
                last: g.last().map(|t| t.n),
                rejected,
            })
        }
    };
    assert_eq!(
        observed,
        e.result(),
        "the call's Result (real, model of {e:?}); {}",
        ctx()
    );
}

// ---------------------------------------------------------------------------
// The run.
// ---------------------------------------------------------------------------

/// Decode `data` and run it, panicking on the first disagreement.
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
    if let Some(d) = header.attempt_timeout {
        builder = builder.attempt_timeout(d.value());
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
    let attempt_timeout = header.attempt_timeout.map(D::value);
    assert_eq!(retry.max_attempts(), max_attempts, "max_attempts()");
    assert_eq!(retry.backoff(), backoff, "backoff()");
    assert_eq!(retry.jitter(), jitter, "jitter()");
    assert_eq!(retry.deadline(), deadline, "deadline()");
    assert_eq!(
        retry.attempt_timeout(),
        attempt_timeout,
        "attempt_timeout()"
    );
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
        attempt_timeout,
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

    // The clock and the breaker, on both sides.
    let start_ns = STARTS[usize::from(header.start) % STARTS.len()];
    let clock = ManualClock::starting_at(Duration::from_nanos(start_ns));
    let cfg = header.breaker.config(start_ns);
    let heard: Arc<Mutex<Vec<Ev>>> = Arc::new(Mutex::new(Vec::new()));
    let listener = {
        let heard = Arc::clone(&heard);
        move |e: &Event<'_>| heard.lock().unwrap().push(Ev::of(e))
    };
    let built = match header.breaker {
        BreakerSel::Disabled | BreakerSel::Default => {
            Breaker::builder().clock(clock.clone()).jitter_seed(0)
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
        }
        BreakerSel::Spec { .. } => cfg.builder().clock(clock.clone()),
    }
    // The model does not model the adaptive concurrency limit (nor the retries
    // it frees from the budget while it sees no queue): off here.
    .adaptive_limit(false)
    .listener(listener)
    .build();
    let model = match (Model::new(&cfg), built) {
        (Ok(model), Ok(breaker)) => {
            model.check_built(&breaker, &cfg);
            (model, Arc::new(breaker))
        }
        (Err(field), Err(e)) => {
            assert_eq!(e.field(), field, "{e} ({cfg:?})");
            summary.breaker_config_error = true;
            return summary;
        }
        (Ok(_), Err(e)) => panic!("a valid breaker configuration was refused: {e} ({cfg:?})"),
        (Err(field), Ok(_)) => {
            panic!("an invalid breaker configuration ({field}) was accepted ({cfg:?})")
        }
    };
    let (model, breaker) = model;

    // The budget.
    let (budget, budget_model) = match header.budget {
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
                    };
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

    let seen: Seen = Rc::new(Cell::new(None));
    let timed = model.slow_call.is_some() || header.wants_elapsed;
    let world = RefCell::new(World {
        reader,
        spec,
        header,
        clock,
        breaker: Arc::clone(&breaker),
        budget: budget.clone(),
        heard,
        fed: 0,
        seen: Rc::clone(&seen),
        timed,
        model,
        budget_model,
        now_ns: start_ns,
        expected: Vec::new(),
        side: Vec::new(),
        late: Duration::ZERO,
        call: CallModel {
            index: 0,
            attempts: 0,
            sleeps: 0,
            start: None,
            last: None,
            previous: None,
            phase: Phase::Begin,
        },
        summary,
    });
    {
        let mut w = world.borrow_mut();
        if matches!(
            header.breaker,
            BreakerSel::Disabled
                | BreakerSel::Spec {
                    mode: SpecMode::Disabled,
                    ..
                }
        ) {
            let real = breaker.disable();
            let now = w.now_ns;
            let expected = w.model.disable(now);
            assert_eq!(real.as_ref().map(Trans::of), expected, "disable at build");
            w.push_transitions();
        }
        w.compare(|| "built".to_owned());
    }

    let sleeper = Sleeps { world: &world };
    let mut guard = Guard::new(Arc::clone(&breaker), retry)
        .with_classifier(Classifier {
            wants: header.wants_elapsed,
            seen,
        })
        .with_sleeper(sleeper);
    if let Some(b) = &budget {
        guard = guard.with_budget(Arc::clone(b));
    }

    for call in 0..MAX_CALLS {
        let mut result_api = false;
        {
            let mut w = world.borrow_mut();
            if call > 0 {
                if w.reader.at_end() {
                    break;
                }
                let between = Between::decode(&mut w.reader);
                if let Some(d) = between.advance {
                    w.advance(d.value());
                }
                w.operate(between.operator);
                result_api = between.result_api;
                w.compare(|| format!("before call #{call}"));
            }
            w.call = CallModel {
                index: call,
                attempts: 0,
                sleeps: 0,
                start: None,
                last: None,
                previous: Some(initial),
                phase: Phase::Begin,
            };
        }
        let op = |attempt: Attempt| world.borrow_mut().attempt(attempt);
        let mut w;
        if result_api {
            let result = guard.call(op);
            w = world.borrow_mut();
            let e = w.on_return();
            check_result(&result, &e, &|| w.ctx());
            w.count(&e);
            w.summary.result_api_calls += 1;
        } else {
            let outcome = guard.call_outcome(op);
            w = world.borrow_mut();
            let e = w.on_return();
            check_outcome(&outcome, &e, &|| w.ctx());
            w.count(&e);
        }
        if timed {
            w.summary.timed_calls += 1;
        }
        w.compare(|| format!("after call #{call}"));
    }

    // Other callers' permits still out are dropped, oldest first.
    let mut w = world.borrow_mut();
    while !w.side.is_empty() {
        w.operate(Operator::SideDrop);
        w.compare(|| "dropping the permits left".to_owned());
    }
    w.summary
}
