//! Differential harness for `fusebox::HedgedGuard::call_async_outcome`: decode
//! bytes into a hedging policy, a retry policy, a breaker, an optional retry
//! budget and a script of calls whose every attempt has a latency and a result;
//! run the hedged calls on a `ManualClock` with a tiny executor of our own (no
//! runtime: an `AsyncSleeper` and attempt futures that complete when the manual
//! clock reaches their deadline); and compare every call with a sequential
//! reference model written from the documented rules (`docs/DESIGN.md`, "7c.
//! Hedging", and section 2's rules 1–7), independently of the implementation.
//!
//! This file is a plain module with no libFuzzer dependency. It is included by the
//! cargo-fuzz target (`fuzz/fuzz_targets/hedge_ops.rs`) and by the replay test of
//! the main crate (`tests/fuzz_replay_hedge.rs`), both with `#[path]`.
//!
//! # The executor
//!
//! Every timer the guard makes (its `AsyncSleeper`: the time-limit timer, hedge
//! delays, backoff sleeps) and every attempt future registers its deadline (on the
//! manual clock) in a registry, and leaves it when it completes or is dropped. The
//! executor polls the call; while it is pending, it advances the clock to the
//! earliest deadline among the futures that were polled (so that they hold a
//! waker), wakes those now due, and polls again. A call pending with nothing that
//! would wake it (a lost wake-up: in a real runtime it would hang), or still
//! pending after [`MAX_POLLS`] polls, is a harness failure with its own message.
//! Nothing runs concurrently: the virtual time of every step is exact.
//!
//! # What is compared
//!
//! After every call, and after anything between calls:
//!
//! - every event told to the breaker's listener, in order, with its time, state,
//!   epoch and stored health: `Hedge { attempt, delay }`, `HedgesSettled { sent,
//!   won, cancelled }` (once per call that sent a hedge, before its
//!   `CallStopped`), `Retry`, `AttemptTimedOut`, `CallStopped`, `Rejected`,
//!   `BudgetRefused`, `SlowAttempt`, `StaleReport`, transitions (with the breaker's
//!   reference model, `breaker_model.rs`, shared with the other harnesses);
//! - every attempt the guard started: its number, start time, `Attempt::remaining`
//!   and epoch, and how its future ended (completed at a time, or dropped at a
//!   time: a cut or a cancelled loser); every future must have ended by the
//!   call's end, and the timer registry must be empty;
//! - what the classifier was given for each completed attempt (timed or not, and
//!   the elapsed time);
//! - the call's `Outcome`: `stop`, `attempts`, `last` (the attempt it came from and
//!   its classification), the refusal, and `winner()`;
//! - the clock, the breaker's whole snapshot and stale-report count (so a cancelled
//!   probe's slot is given back, and a cancelled loser makes no stale report), the
//!   concurrency limit's `in_flight` (0: off here, so this only checks nothing was
//!   left holding a slot), and the retry budget's balance.
//!
//! The hedges' extra-load allowance and the quantile histogram are not observable
//! directly: the model keeps both (exact arithmetic, and the at-once countdown
//! below) and they show in which hedges are sent and when.
//!
//! The policy's tail-or-stall check (`docs/DESIGN.md` 7c, "A tail, not a
//! stall") never refuses here: one call runs at a time, so no other round is
//! overdue when a hedge is due, and the model sends every hedge the other rules
//! allow. What that checks: a round left counted overdue after it ended would
//! refuse every later call's hedges (nothing begun after a round's start
//! answers before its hedge is due, in a call run alone), and the model would
//! see them missing. (Every call here runs to its end; a call whose future is
//! dropped mid-flight is `tests/hedge.rs`'s.)
//!
//! # Ties
//!
//! Latencies and delays are whole milliseconds, so several things often happen at
//! the same virtual instant. The model follows the order of one poll of a round
//! (`poll_slots` in `src/guard/hedged.rs`; `docs/DESIGN.md` 7c, "Time limits"):
//! every attempt in flight in slot order, then the one time-limit timer (which
//! cuts the attempt it was set for), then the hedge timer; one event is handled
//! per poll, then the round is polled again at the same instant. So at an exact
//! tie an answering attempt, in any slot, beats a cut.
//!
//! The time-limit timer is set for the round's own attempt (for a hedge, if none
//! in flight has a limit) and, when the attempt it was set for ends (answer or
//! cut) while others are in flight, set again, from now, for the one whose limit
//! ends first (on a tie, the lowest slot). Every limit ends at the common
//! deadline or at its attempt's start plus the attempt timeout, so the oldest
//! attempt's ends first; with a deadline they all end at one instant, and the
//! attempt the timer was set for (not necessarily the lowest slot) is the one cut.
//! A hedge takes the first free slot (slot 0 is the round's own attempt, freed
//! when it ends). Slot order and the timer's choice on a tie are taken from the
//! implementation rather than the design; no input is kept from reaching ties.
//!
//! # Timed and at-once attempts
//!
//! An attempt whose time was read is classified with `classify_timed(result,
//! Some(elapsed))` and recorded with the timed verdict (a slow success is a
//! failure for the breaker), as `finish_timed` does. Every hedge is timed; a
//! round's own attempt too, unless it answers at its first poll in a call that
//! times nothing (no time limit, no slow-call threshold, a classifier that does
//! not want the time; the concurrency limit, whose samples would need a start, is
//! off here). Such an attempt is "at once": its time is never read, it is
//! classified with plain `classify` and recorded with the plain verdict, and a
//! success under a quantile policy is counted in the histogram's lowest bucket
//! by `Latencies::record_at_once`: one in 16 per OS thread, weighted 16, by a
//! thread-local countdown, into the generation of the newest period the
//! histogram has seen (none seen: the count is lost).
//!
//! That countdown would carry from one input to the next on the fuzzer's thread
//! (libFuzzer runs every input on one), which no model of a single input can
//! know. So an input with a quantile policy runs on a fresh thread of its own
//! ([`run_with_summary`]), where the countdown starts at zero: the model keeps
//! the same countdown, and an input's 16th, 32nd, … at-once success under its
//! policy is the one counted. Nothing is left unchecked for it, and an input
//! replays alike wherever it runs. Inputs with a fixed delay (`Hedge::after`,
//! no histogram: the countdown is never touched) run on the caller's thread.
//!
//! # Findings
//!
//! See `fuzz/README.md`, "hedge_ops". The two findings of the first version of
//! this harness are fixed in `src/` and the model follows the documented rules
//! on both, with no tolerance left: H1 (`HedgesSettled` told at the end of every
//! round once a call had hedged, and after `CallStopped` when a retry was refused
//! at its start; now once per call that sent a hedge, immediately before its
//! `CallStopped`, with `sent`, `won` and `cancelled` over the whole call) and H2
//! (a hedged attempt classified with `classify` unless the classifier wanted the
//! time; now every attempt whose time was read is classified timed). Their
//! witnesses stay in the corpus as regression inputs.
//!
//! # Input format
//!
//! Bytes are read in order; missing bytes read as 0.
//!
//! | field | bytes |
//! | --- | --- |
//! | hedge | `h`: `max_hedges = 1 + (h & 3) % 3`; `max_extra_load = EXTRA_LOADS[(h >> 2) & 7]`; `h >> 5`: 0–5 `Hedge::after`, 6–7 a quantile policy |
//! | fixed delay | `d`: `1 + d` ms |
//! | quantile | `q`: quantile `QUANTILES[q & 3]`, `min_samples(MIN_SAMPLES[(q >> 2) & 3])`, `floor` `FLOORS_MS[(q >> 4) & 3]`, `cap = floor + CAP_EXTRA_MS[q >> 6]`; then `f`: 0 no `fallback` (the cap), else `floor + (f - 1) % (cap - floor + 1)` ms |
//! | retry | `r`: `max_attempts = 1 + (r & 7) % 5`; `(r >> 3) & 3` ≥ 2: a deadline; `(r >> 5) & 3` ≥ 2: an attempt timeout; bit 7: the classifier wants the elapsed time; then a deadline byte `1 + 4 × b` ms, a timeout byte `1 + b` ms (each if set), a backoff byte `b % 100` ms (constant backoff, `Jitter::None`) |
//! | breaker | `b`: `b & 3`: 0 the default breaker then `disable()`, 1 `trip_after_consecutive_failures(1 + (b >> 2) & 3)` open `OPEN_FOR_MS[(b >> 4) & 3]` (×2 per re-open up to ×4, 1 probe), 2 the default breaker, 3 the breaker harness's 10-byte header follows; every one with `open_jitter(0.0)` and `adaptive_limit(false)`; `b >> 6`: the clock's start, `STARTS[..]` |
//! | budget | `u`: `u & 3 == 3`: a retry budget with no floor, `ratio(RATIOS[(u >> 2) & 3])`, `max_balance(MAX_BALANCES[(u >> 4) & 3])`, `initial_balance(INITIALS[u >> 6])`; otherwise none |
//!
//! Then the calls. Each time the guard starts an attempt it reads one:
//!
//! - kind byte `k`: `k & 7`: 0–2 success, 3–4 retryable failure, 5 retryable
//!   failure with a server hint (a hint byte follows: that many ms), 6 permanent
//!   failure, 7 ignored; bit 3 flips the result (`Ok` ↔ `Err`; by default a
//!   success is an `Ok`, the rest `Err`s); `(k >> 4) & 7`: 5 `force_open`, 6
//!   `reset`, 7 `disable` on the breaker when the attempt completes (before the
//!   guard sees its result), else nothing; bit 7: the attempt hangs (an hour);
//! - unless it hangs, a latency byte: that many ms (0 completes at once).
//!
//! When the input is exhausted every attempt is an immediate success, so every
//! call ends. After a call, if bytes are left, one byte `g` starts the next call
//! (at most [`MAX_CALLS`]): the clock advances `ADVANCES_MS[g & 7]` ms, then
//! `(g >> 3) & 7` is an operator as above (5–7), else nothing.

// The breaker's reference model, shared with the breaker and retry harnesses.
#[allow(dead_code)] // each harness uses its own part of the model
#[path = "breaker_model.rs"]
mod breaker_model;

use breaker_model::{Acq, Config, HEADER_LEN, Model, Rec, Rej, Snap, Trans, Tripping};
#[allow(unused_imports)] // used by tests/fuzz_replay_hedge.rs, not by the fuzz target
pub use breaker_model::{Header as BreakerHeader, MState};
use fusebox::{
    AsyncSleeper, Attempt, Breaker, Classification, Classify, Clock, DEFAULT_MAX_EXTRA_LOAD,
    DelayReason, Event, EventKind, Guard, Hedge, HedgedGuard, Jitter, ManualClock, Outcome, Retry,
    RetryBudget, Stop, Verdict, Winner,
};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

// ---------------------------------------------------------------------------
// Limits and tables.
// ---------------------------------------------------------------------------

/// Calls made at most from one input.
pub const MAX_CALLS: usize = 24;
/// Polls of one call before the harness calls it stuck.
pub const MAX_POLLS: usize = 10_000;
/// How long an attempt that "hangs" takes.
pub const HANG: Duration = Duration::from_secs(3600);
/// Slots of a hedged call: its own attempt and up to `MAX_HEDGES` hedges.
const SLOTS: usize = 1 + fusebox::MAX_HEDGES as usize;

/// `max_extra_load`s (the default among them, and 1.0: no bound).
pub const EXTRA_LOADS: [f64; 8] = [
    DEFAULT_MAX_EXTRA_LOAD,
    1.0,
    0.5,
    0.2,
    0.1,
    0.01,
    1.0,
    DEFAULT_MAX_EXTRA_LOAD,
];
/// Quantiles of a quantile policy.
pub const QUANTILES: [f64; 4] = [0.5, 0.9, 0.95, 0.99];
/// `min_samples` of a quantile policy (the last is never reached: the fallback).
pub const MIN_SAMPLES: [u32; 4] = [1, 2, 4, 1000];
/// `floor` of a quantile policy, in ms.
pub const FLOORS_MS: [u64; 4] = [1, 2, 5, 20];
/// `cap - floor` of a quantile policy, in ms.
pub const CAP_EXTRA_MS: [u64; 4] = [0, 30, 100, 1000];
/// `open_for` of a tripping breaker, in ms.
pub const OPEN_FOR_MS: [u64; 4] = [1, 10, 50, 250];
/// Retry budget `ratio`s.
pub const RATIOS: [f64; 4] = [0.1, 0.5, 1.0, 0.001];
/// Retry budget `max_balance`s.
pub const MAX_BALANCES: [u32; 4] = [1, 2, 5, 10];
/// Retry budget `initial_balance`s (capped at `max_balance` by the builder).
pub const INITIALS: [u32; 4] = [0, 1, 2, 10];
/// Clock readings at build, in nanoseconds.
pub const STARTS: [u64; 4] = [0, 999_999, 123_456_789, 1_000_000_000_000];
/// Clock advances between calls, in ms.
pub const ADVANCES_MS: [u64; 8] = [0, 0, 1, 10, 100, 1_000, 10_000, 60_000];

const NS_PER_MS: u64 = 1_000_000;
/// The hedges' extra-load allowance: it banks at most (and starts with) 10.
const EXTRA_BURST_MILLI: u64 = 10_000;
/// The quantile histogram's generation: 10 s.
const GENERATION_NS: u64 = 10_000_000_000;
/// How long a quantile read from the histogram is reused.
const QUANTILE_REFRESH_NS: u64 = 1_000_000;
/// One in this many at-once successes is counted in the histogram, with this
/// weight, by a countdown per thread (`Latencies::record_at_once`).
const AT_ONCE_EVERY: u32 = 16;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn sat_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

// ---------------------------------------------------------------------------
// Reading bytes.
// ---------------------------------------------------------------------------

/// Reads bytes, yielding zeros past the end.
#[derive(Clone, Copy, Debug)]
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
        self.pos += 1;
        b
    }

    fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }
}

// ---------------------------------------------------------------------------
// The decoded input.
// ---------------------------------------------------------------------------

/// When a hedge is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DelaySel {
    /// `Hedge::after(1 + ms)` ms.
    Fixed { ms: u8 },
    /// A quantile policy: indices into [`QUANTILES`], [`MIN_SAMPLES`],
    /// [`FLOORS_MS`], [`CAP_EXTRA_MS`]; `fallback` 0 (none) or `1 + offset`
    /// above the floor (modulo the span).
    Quantile {
        q: u8,
        min_samples: u8,
        floor: u8,
        cap: u8,
        fallback: u8,
    },
}

/// The hedging policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HedgeSel {
    /// 1..=3.
    pub max_hedges: u8,
    /// Index into [`EXTRA_LOADS`].
    pub extra: u8,
    pub delay: DelaySel,
}

/// The retry policy (constant backoff, no jitter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetrySel {
    /// 1..=5.
    pub max_attempts: u8,
    /// `1 + 4 × b` ms.
    pub deadline: Option<u8>,
    /// `1 + b` ms.
    pub timeout: Option<u8>,
    /// `b % 100` ms.
    pub backoff: u8,
    pub wants_elapsed: bool,
}

/// The breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerSel {
    /// The default breaker, then `disable()`.
    Disabled,
    /// `trip_after_consecutive_failures(n)`, open `OPEN_FOR_MS[open_for]`.
    Consecutive { n: u8, open_for: u8 },
    /// The default breaker.
    Default,
    /// The breaker harness's header.
    Spec([u8; HEADER_LEN]),
}

/// A retry budget with no floor (indices into the tables).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetSel {
    pub ratio: u8,
    pub max: u8,
    pub initial: u8,
}

/// Everything before the calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub hedge: HedgeSel,
    pub retry: RetrySel,
    pub breaker: BreakerSel,
    /// Index into [`STARTS`].
    pub start: u8,
    pub budget: Option<BudgetSel>,
}

/// What an attempt returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Success,
    Retryable,
    /// A retryable failure with a server hint of this many ms.
    Hinted(u8),
    Permanent,
    Ignored,
}

/// An operator's act on the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    None,
    ForceOpen,
    Reset,
    Disable,
}

impl Op {
    fn of(v: u8) -> Op {
        match v & 7 {
            5 => Op::ForceOpen,
            6 => Op::Reset,
            7 => Op::Disable,
            _ => Op::None,
        }
    }

    #[allow(dead_code)] // used by tests/fuzz_replay_hedge.rs, not by the fuzz target
    fn code(self) -> u8 {
        match self {
            Op::None => 0,
            Op::ForceOpen => 5,
            Op::Reset => 6,
            Op::Disable => 7,
        }
    }
}

/// One attempt of the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    pub kind: Kind,
    pub flip: bool,
    /// Done to the breaker when the attempt completes.
    pub op: Op,
    /// Its latency in ms; `None`: it hangs ([`HANG`]).
    pub latency: Option<u8>,
}

impl Spec {
    fn decode(r: &mut Reader<'_>) -> Spec {
        let k = r.byte();
        let kind = match k & 7 {
            0..=2 => Kind::Success,
            3 | 4 => Kind::Retryable,
            5 => Kind::Hinted(r.byte()),
            6 => Kind::Permanent,
            _ => Kind::Ignored,
        };
        let latency = if k & 0x80 != 0 { None } else { Some(r.byte()) };
        Spec {
            kind,
            flip: k & 8 != 0,
            op: Op::of(k >> 4),
            latency,
        }
    }

    #[allow(dead_code)] // used by tests/fuzz_replay_hedge.rs, not by the fuzz target
    fn encode(&self, out: &mut Vec<u8>) {
        let code = match self.kind {
            Kind::Success => 0,
            Kind::Retryable => 3,
            Kind::Hinted(_) => 5,
            Kind::Permanent => 6,
            Kind::Ignored => 7,
        };
        out.push(
            code | u8::from(self.flip) << 3
                | self.op.code() << 4
                | u8::from(self.latency.is_none()) << 7,
        );
        if let Kind::Hinted(h) = self.kind {
            out.push(h);
        }
        if let Some(l) = self.latency {
            out.push(l);
        }
    }

    fn latency(&self) -> Duration {
        self.latency.map_or(HANG, |l| ms(u64::from(l)))
    }

    fn class(&self) -> Classification {
        match self.kind {
            Kind::Success => Classification::Success,
            Kind::Retryable => Classification::failure(),
            Kind::Hinted(h) => Classification::failure().with_retry_after(ms(u64::from(h))),
            Kind::Permanent => Classification::permanent(),
            Kind::Ignored => Classification::Ignored,
        }
    }

    /// The attempt's result, for attempt number `n`.
    fn result(&self, n: u32) -> Result<Tag, Tag> {
        let tag = Tag {
            n,
            class: self.class(),
        };
        if (self.kind == Kind::Success) != self.flip {
            Ok(tag)
        } else {
            Err(tag)
        }
    }
}

/// Between two calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Between {
    /// Index into [`ADVANCES_MS`].
    pub advance: u8,
    pub op: Op,
}

impl Between {
    fn decode(r: &mut Reader<'_>) -> Between {
        let g = r.byte();
        Between {
            advance: g & 7,
            op: Op::of(g >> 3),
        }
    }
}

/// An item of the script, for [`encode`].
#[allow(dead_code)] // used by tests/fuzz_replay_hedge.rs, not by the fuzz target
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    /// The next attempt the guard starts.
    Attempt(Spec),
    /// The current call is over (the items before it must cover its attempts);
    /// the next one starts.
    NextCall(Between),
}

impl Header {
    fn decode(r: &mut Reader<'_>) -> Header {
        let h = r.byte();
        let delay = if h >> 5 < 6 {
            DelaySel::Fixed { ms: r.byte() }
        } else {
            let q = r.byte();
            DelaySel::Quantile {
                q: q & 3,
                min_samples: (q >> 2) & 3,
                floor: (q >> 4) & 3,
                cap: q >> 6,
                fallback: r.byte(),
            }
        };
        let hedge = HedgeSel {
            max_hedges: 1 + (h & 3) % 3,
            extra: (h >> 2) & 7,
            delay,
        };
        let x = r.byte();
        let deadline = ((x >> 3) & 3 >= 2).then(|| r.byte());
        let timeout = ((x >> 5) & 3 >= 2).then(|| r.byte());
        let retry = RetrySel {
            max_attempts: 1 + (x & 7) % 5,
            deadline,
            timeout,
            backoff: r.byte() % 100,
            wants_elapsed: x & 0x80 != 0,
        };
        let b = r.byte();
        let breaker = match b & 3 {
            0 => BreakerSel::Disabled,
            1 => BreakerSel::Consecutive {
                n: 1 + ((b >> 2) & 3),
                open_for: (b >> 4) & 3,
            },
            2 => BreakerSel::Default,
            _ => {
                let mut h = [0u8; HEADER_LEN];
                for byte in &mut h {
                    *byte = r.byte();
                }
                BreakerSel::Spec(h)
            }
        };
        let u = r.byte();
        let budget = (u & 3 == 3).then_some(BudgetSel {
            ratio: (u >> 2) & 3,
            max: (u >> 4) & 3,
            initial: u >> 6,
        });
        Header {
            hedge,
            retry,
            breaker,
            start: b >> 6,
            budget,
        }
    }

    /// The bytes that decode to this header.
    #[allow(dead_code)] // used by tests/fuzz_replay_hedge.rs, not by the fuzz target
    pub fn encode(&self, out: &mut Vec<u8>) {
        let kind = match self.hedge.delay {
            DelaySel::Fixed { .. } => 0,
            DelaySel::Quantile { .. } => 6,
        };
        assert!((1..=3).contains(&self.hedge.max_hedges) && self.hedge.extra < 8);
        out.push((self.hedge.max_hedges - 1) | self.hedge.extra << 2 | kind << 5);
        match self.hedge.delay {
            DelaySel::Fixed { ms } => out.push(ms),
            DelaySel::Quantile {
                q,
                min_samples,
                floor,
                cap,
                fallback,
            } => {
                assert!(q < 4 && min_samples < 4 && floor < 4 && cap < 4);
                out.push(q | min_samples << 2 | floor << 4 | cap << 6);
                out.push(fallback);
            }
        }
        let r = &self.retry;
        assert!((1..=5).contains(&r.max_attempts));
        out.push(
            (r.max_attempts - 1)
                | u8::from(r.deadline.is_some()) << 4
                | u8::from(r.timeout.is_some()) << 6
                | u8::from(r.wants_elapsed) << 7,
        );
        out.extend(r.deadline);
        out.extend(r.timeout);
        out.push(r.backoff % 100);
        assert!(self.start < 4);
        let b = match self.breaker {
            BreakerSel::Disabled => 0,
            BreakerSel::Consecutive { n, open_for } => {
                assert!((1..=4).contains(&n) && open_for < 4);
                1 | (n - 1) << 2 | open_for << 4
            }
            BreakerSel::Default => 2,
            BreakerSel::Spec(_) => 3,
        };
        out.push(b | self.start << 6);
        if let BreakerSel::Spec(h) = self.breaker {
            out.extend_from_slice(&h);
        }
        match self.budget {
            None => out.push(0),
            Some(s) => {
                assert!(s.ratio < 4 && s.max < 4 && s.initial < 4);
                out.push(3 | s.ratio << 2 | s.max << 4 | s.initial << 6);
            }
        }
    }

    fn hedge(&self) -> Hedge {
        let h = &self.hedge;
        let b = Hedge::builder()
            .max_hedges(u32::from(h.max_hedges))
            .max_extra_load(EXTRA_LOADS[usize::from(h.extra)]);
        let b = match h.delay {
            DelaySel::Fixed { ms: d } => b.after(ms(1 + u64::from(d))),
            DelaySel::Quantile {
                q,
                min_samples,
                floor,
                cap,
                fallback,
            } => {
                let (floor, cap) = quantile_bounds(floor, cap);
                let b = b
                    .at_quantile(QUANTILES[usize::from(q)])
                    .min_samples(MIN_SAMPLES[usize::from(min_samples)])
                    .floor(floor)
                    .cap(cap);
                match fallback_of(floor, cap, fallback) {
                    Some(f) => b.fallback(f),
                    None => b,
                }
            }
        };
        b.build().expect("every decoded hedging policy is valid")
    }

    fn retry(&self) -> Retry {
        let r = &self.retry;
        let mut b = Retry::builder()
            .max_attempts(u32::from(r.max_attempts))
            .constant_backoff(ms(u64::from(r.backoff % 100)))
            .jitter(Jitter::None);
        if let Some(d) = self.deadline() {
            b = b.deadline(d);
        }
        if let Some(t) = self.timeout() {
            b = b.attempt_timeout(t);
        }
        b.build().expect("every decoded retry policy is valid")
    }

    fn deadline(&self) -> Option<Duration> {
        self.retry.deadline.map(|b| ms(1 + 4 * u64::from(b)))
    }

    fn timeout(&self) -> Option<Duration> {
        self.retry.timeout.map(|b| ms(1 + u64::from(b)))
    }

    fn backoff(&self) -> Duration {
        ms(u64::from(self.retry.backoff % 100))
    }

    /// The model's reading of the breaker's configuration, on a clock starting
    /// at `start_ns`: every one without open jitter (the model draws nothing).
    fn breaker_config(&self, start_ns: u64) -> Config {
        let defaults = Config {
            open_jitter: 0.0,
            ..Config::defaults(start_ns, 0)
        };
        match self.breaker {
            BreakerSel::Disabled | BreakerSel::Default => defaults,
            BreakerSel::Consecutive { n, open_for } => {
                let open_for = OPEN_FOR_MS[usize::from(open_for)] * NS_PER_MS;
                Config {
                    tripping: Tripping::Consecutive(u32::from(n)),
                    open_for_ns: open_for,
                    growth: 2.0,
                    cap_ns: open_for * 4,
                    probes: 1,
                    close_after: 1,
                    ..defaults
                }
            }
            BreakerSel::Spec(h) => Config {
                start_ns,
                open_jitter: 0.0,
                ..Config::decode(&h)
            },
        }
    }
}

/// A quantile policy's `(floor, cap)`.
fn quantile_bounds(floor: u8, cap: u8) -> (Duration, Duration) {
    let floor = FLOORS_MS[usize::from(floor)];
    (ms(floor), ms(floor + CAP_EXTRA_MS[usize::from(cap)]))
}

/// A quantile policy's `fallback`, if set (within `[floor, cap]`).
fn fallback_of(floor: Duration, cap: Duration, fallback: u8) -> Option<Duration> {
    if fallback == 0 {
        return None;
    }
    let span = (cap - floor).as_millis() as u64 + 1;
    Some(floor + ms(u64::from(fallback - 1) % span))
}

/// The bytes of `header` then `items`.
#[allow(dead_code)] // used by tests/fuzz_replay_hedge.rs, not by the fuzz target
pub fn encode(header: &Header, items: &[Item]) -> Vec<u8> {
    let mut out = Vec::new();
    header.encode(&mut out);
    for item in items {
        match item {
            Item::Attempt(s) => s.encode(&mut out),
            Item::NextCall(b) => {
                assert!(b.advance < 8);
                out.push(b.advance | b.op.code() << 3);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// What is compared.
// ---------------------------------------------------------------------------

/// The value / error of an attempt: its number and classification.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tag {
    n: u32,
    class: Classification,
}

/// An event told to the breaker's listener, as compared.
#[derive(Clone, PartialEq)]
struct Ev {
    at_ns: u64,
    state: MState,
    epoch: u32,
    health_bits: Option<u64>,
    kind: EvKind,
}

impl std::fmt::Debug for Ev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = Duration::from_nanos(self.at_ns);
        let health = self
            .health_bits
            .map_or(String::new(), |h| format!(" h={}", f64::from_bits(h)));
        write!(
            f,
            "@{at:?} {:?} e{}{health}: {:?}",
            self.state, self.epoch, self.kind
        )
    }
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
    AttemptTimedOut {
        attempt: u32,
        limit: Duration,
        by_deadline: bool,
    },
    Hedge {
        attempt: u32,
        delay: Duration,
    },
    HedgesSettled {
        sent: u32,
        won: bool,
        cancelled: u32,
    },
    CallStopped(Stop, u32),
    /// Anything else.
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
            EventKind::AttemptTimedOut {
                attempt,
                limit,
                by_deadline,
            } => EvKind::AttemptTimedOut {
                attempt,
                limit,
                by_deadline,
            },
            EventKind::Hedge { attempt, delay } => EvKind::Hedge { attempt, delay },
            EventKind::HedgesSettled {
                sent,
                won,
                cancelled,
            } => EvKind::HedgesSettled {
                sent,
                won,
                cancelled,
            },
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

/// How an attempt's future ended, at a breaker-clock time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// Polled to completion.
    Completed(u64),
    /// Dropped before completing (cut by its limit, or cancelled).
    Dropped(u64),
}

/// An attempt the guard started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AttemptLog {
    n: u32,
    /// Its start on the breaker's clock.
    at_ns: u64,
    remaining: Option<Duration>,
    epoch: u32,
    end: Option<End>,
}

/// What the classifier was given for attempt `n`: `classify` (untimed) or
/// `classify_timed` with this elapsed time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Classified {
    Untimed(u32),
    Timed(u32, Option<Duration>),
}

/// A call's `Outcome`, as compared.
#[derive(Clone, Debug, PartialEq)]
struct OutcomeView {
    stop: Stop,
    attempts: u32,
    last: Option<Result<Tag, Tag>>,
    rejected: Option<Rej>,
    winner: Option<Winner>,
}

impl OutcomeView {
    fn of(o: &Outcome<Tag, Tag>) -> OutcomeView {
        OutcomeView {
            stop: o.stop,
            attempts: o.attempts,
            last: o.last,
            rejected: o.rejected.as_ref().map(Rej::of),
            winner: o.winner(),
        }
    }
}

/// Everything one call showed.
#[derive(Clone, Debug, Default)]
struct Trace {
    events: Vec<Ev>,
    attempts: Vec<AttemptLog>,
    classified: Vec<Classified>,
    outcome: Option<OutcomeView>,
}

// ---------------------------------------------------------------------------
// The real side: timers, attempts, the executor.
// ---------------------------------------------------------------------------

/// The deadlines of the live timers and attempt futures, on the manual clock.
struct Registry {
    clock: ManualClock,
    next_id: u64,
    /// id -> (deadline ns, the waker of its last pending poll).
    live: BTreeMap<u64, (u64, Option<Waker>)>,
}

type Reg = Rc<RefCell<Registry>>;

impl Registry {
    fn add(reg: &Reg, after: Duration) -> (u64, u64) {
        let mut r = reg.borrow_mut();
        let deadline = r.clock.now_nanos().saturating_add(sat_ns(after));
        let id = r.next_id;
        r.next_id += 1;
        r.live.insert(id, (deadline, None));
        (id, deadline)
    }

    /// Whether the future `id` (due at `deadline`) is ready; if not, keep the
    /// waker to wake when the clock reaches its deadline.
    fn poll(reg: &Reg, id: u64, deadline: u64, cx: &Context<'_>) -> bool {
        let mut r = reg.borrow_mut();
        if r.clock.now_nanos() >= deadline {
            r.live.remove(&id);
            return true;
        }
        if let Some(entry) = r.live.get_mut(&id) {
            entry.1 = Some(cx.waker().clone());
        }
        false
    }

    fn remove(reg: &Reg, id: u64) {
        reg.borrow_mut().live.remove(&id);
    }
}

/// The guard's timer: completes once the manual clock reaches its deadline.
struct VSleep {
    reg: Reg,
    id: u64,
    deadline: u64,
}

impl Future for VSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Registry::poll(&self.reg, self.id, self.deadline, cx) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for VSleep {
    fn drop(&mut self) {
        Registry::remove(&self.reg, self.id);
    }
}

/// The guard's sleeper: [`VSleep`]s on the registry's clock.
struct VSleeper(Reg);

impl AsyncSleeper for VSleeper {
    type Sleep = VSleep;
    fn sleep(&self, duration: Duration) -> VSleep {
        let (id, deadline) = Registry::add(&self.0, duration);
        VSleep {
            reg: Rc::clone(&self.0),
            id,
            deadline,
        }
    }
}

/// An attempt in flight: completes with its result once the clock reaches its
/// end, doing its operator's act on the breaker first; notes how it ended.
struct AttemptFut {
    reg: Reg,
    id: u64,
    deadline: u64,
    result: Result<Tag, Tag>,
    op: Op,
    breaker: Arc<Breaker>,
    log: Rc<RefCell<Vec<AttemptLog>>>,
    index: usize,
    start_ns: u64,
    done: bool,
}

impl Future for AttemptFut {
    type Output = Result<Tag, Tag>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Tag, Tag>> {
        if self.done {
            return Poll::Ready(self.result);
        }
        if !Registry::poll(&self.reg, self.id, self.deadline, cx) {
            return Poll::Pending;
        }
        self.done = true;
        let now = self.reg.borrow().clock.now_nanos() - self.start_ns;
        self.log.borrow_mut()[self.index].end = Some(End::Completed(now));
        operate(&self.breaker, self.op);
        Poll::Ready(self.result)
    }
}

impl Drop for AttemptFut {
    fn drop(&mut self) {
        if !self.done {
            let now = self.reg.borrow().clock.now_nanos() - self.start_ns;
            self.log.borrow_mut()[self.index].end = Some(End::Dropped(now));
        }
        Registry::remove(&self.reg, self.id);
    }
}

/// An operator's act on the real breaker.
fn operate(breaker: &Breaker, op: Op) {
    match op {
        Op::None => {}
        Op::ForceOpen => {
            breaker.force_open();
        }
        Op::Reset => {
            breaker.reset();
        }
        Op::Disable => {
            breaker.disable();
        }
    }
}

/// The classifier: the script's classification; notes what it was given.
struct Classifier {
    wants: bool,
    log: Rc<RefCell<Vec<Classified>>>,
}

impl Classify<Tag, Tag> for Classifier {
    fn classify(&self, r: &Result<Tag, Tag>) -> Classification {
        let (Ok(t) | Err(t)) = r;
        self.log.borrow_mut().push(Classified::Untimed(t.n));
        t.class
    }

    fn classify_timed(&self, r: &Result<Tag, Tag>, elapsed: Option<Duration>) -> Classification {
        let (Ok(t) | Err(t)) = r;
        self.log.borrow_mut().push(Classified::Timed(t.n, elapsed));
        t.class
    }

    fn wants_elapsed(&self) -> bool {
        self.wants
    }
}

/// Set when the call's task is woken.
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        // Relaxed: one thread; the flag only says "poll again".
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Run `fut` to completion on the virtual clock (see the module docs).
fn drive<F: Future>(fut: F, reg: &Reg) -> Result<F::Output, String> {
    let flag = Arc::new(Flag::default());
    let waker = Waker::from(Arc::clone(&flag));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    for _ in 0..MAX_POLLS {
        flag.0.store(false, Ordering::Relaxed);
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return Ok(out);
        }
        if flag.0.load(Ordering::Relaxed) {
            continue;
        }
        let mut r = reg.borrow_mut();
        let next = r
            .live
            .values()
            .filter(|(_, w)| w.is_some())
            .map(|(d, _)| *d)
            .min();
        let Some(next) = next else {
            return Err(format!(
                "the call is pending with nothing that would wake it (a lost wake-up: in a runtime it would hang); live futures (deadline ns, polled): {:?}",
                r.live
                    .values()
                    .map(|(d, w)| (*d, w.is_some()))
                    .collect::<Vec<_>>()
            ));
        };
        let now = r.clock.now_nanos();
        if next > now {
            r.clock.advance(Duration::from_nanos(next - now));
        }
        let now = r.clock.now_nanos();
        let due: Vec<Waker> = r
            .live
            .values_mut()
            .filter(|(d, _)| *d <= now)
            .filter_map(|(_, w)| w.take())
            .collect();
        drop(r);
        for w in due {
            w.wake();
        }
    }
    Err(format!("the call did not finish in {MAX_POLLS} polls"))
}

// ---------------------------------------------------------------------------
// The model's arithmetic: token budgets and the latency histogram.
// ---------------------------------------------------------------------------

/// A `RetryBudget` with no floor, in thousandths of a token: deposits of
/// `round(ratio × 1000)` up to the cap, withdrawals of 1000 when there is one,
/// refunds of 1000 up to the cap.
#[derive(Clone, Copy, Debug)]
struct Tokens {
    balance: u64,
    deposit: u64,
    max: u64,
}

impl Tokens {
    fn deposit(&mut self) {
        self.balance = (self.balance + self.deposit).min(self.max);
    }

    fn withdraw(&mut self) -> bool {
        if self.balance >= 1000 {
            self.balance -= 1000;
            true
        } else {
            false
        }
    }

    fn refund(&mut self) {
        self.balance = (self.balance + 1000).min(self.max);
    }
}

/// The quantile policy's histogram, as documented (`HedgeBuilder::at_quantile`
/// and `docs/DESIGN.md`): two generations of 10 s, 129 buckets of a quarter of
/// a power of two from 1 µs, the upper end of the quantile's bucket, reused for
/// 1 ms.
#[derive(Clone, Debug)]
struct Histogram {
    /// Per generation: its period (`now / 10 s`), if any, and its counts.
    generations: [(Option<u64>, Vec<u64>); 2],
    /// The last reading and when it was taken.
    cached: Option<(u64, Option<u64>)>,
}

const BUCKETS: usize = 129;

/// The bucket of `ns`: 0 below 2^10 ns, then four per power of two.
fn bucket_of(ns: u64) -> usize {
    if ns < 1 << 10 {
        return 0;
    }
    let octave = 63 - ns.leading_zeros();
    let quarter = ((ns >> (octave - 2)) & 3) as usize;
    (1 + (octave as usize - 10) * 4 + quarter).min(BUCKETS - 1)
}

/// The upper end (exclusive) of bucket `i`.
fn bucket_upper(i: usize) -> u64 {
    if i == 0 {
        return 1 << 10;
    }
    let octave = (i - 1) / 4 + 10;
    let quarter = ((i - 1) % 4) as u64;
    (5 + quarter) << (octave - 2)
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            generations: [(None, vec![0; BUCKETS]), (None, vec![0; BUCKETS])],
            cached: None,
        }
    }

    fn record(&mut self, elapsed_ns: u64, now_ns: u64) {
        let period = now_ns / GENERATION_NS;
        let g = &mut self.generations[(period & 1) as usize];
        if g.0.is_none_or(|held| held < period) {
            g.0 = Some(period);
            g.1.iter_mut().for_each(|c| *c = 0);
        }
        g.1[bucket_of(elapsed_ns)] += 1;
    }

    /// A successful attempt that answered at once, counted (`weight` times) with
    /// no clock: in the lowest bucket of the generation of the newest period the
    /// histogram has seen, without rotating anything; lost if none was seen (the
    /// generation it lands in has no period, so the first sample recorded into it
    /// clears it).
    fn record_at_once(&mut self, weight: u64) {
        let newest = match (self.generations[0].0, self.generations[1].0) {
            (None, None) => return,
            (Some(_), None) => 0,
            (None, Some(_)) => 1,
            (Some(a), Some(b)) => usize::from(a < b),
        };
        self.generations[newest].1[0] += weight;
    }

    fn quantile(&self, q: f64, now_ns: u64, min_samples: u64) -> Option<u64> {
        let period = now_ns / GENERATION_NS;
        let live: Vec<&Vec<u64>> = self
            .generations
            .iter()
            .filter(|(p, _)| p.is_some_and(|p| p == period || p + 1 == period))
            .map(|(_, c)| c)
            .collect();
        let count = |i: usize| live.iter().map(|c| c[i]).sum::<u64>();
        let total: u64 = (0..BUCKETS).map(count).sum();
        if total < min_samples || total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for i in 0..BUCKETS {
            seen += count(i);
            if seen >= rank {
                return Some(bucket_upper(i));
            }
        }
        unreachable!("the counts sum to the total")
    }

    fn cached_quantile(&mut self, q: f64, now_ns: u64, min_samples: u64) -> Option<u64> {
        if let Some((at, value)) = self.cached {
            if now_ns.saturating_sub(at) < QUANTILE_REFRESH_NS {
                return value;
            }
        }
        let value = self.quantile(q, now_ns, min_samples);
        self.cached = Some((now_ns, value));
        value
    }
}

// ---------------------------------------------------------------------------
// What the sweep reached.
// ---------------------------------------------------------------------------

/// Counts of what the inputs reached, for the replay's sweep.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub calls: u64,
    pub attempts: u64,
    pub hedges: u64,
    pub hedge_wins: u64,
    /// Attempts cancelled as losers.
    pub cancelled: u64,
    pub deadline_cuts: u64,
    pub timeout_cuts: u64,
    /// A hedge due, refused by the breaker's state, health or limit.
    pub refused_by_breaker: u64,
    /// A hedge due, refused by the extra-load allowance.
    pub refused_by_allowance: u64,
    /// A hedge due, refused by the retry budget (its allowance given back).
    pub refused_by_budget: u64,
    /// A hedge due when the call had made `max_attempts`.
    pub capped_by_attempts: u64,
    /// A hedge due with no time left before the deadline. Not reached by a
    /// sequential run: an attempt still in flight at the deadline has the
    /// deadline for its limit and is cut by it first (attempts before the hedge
    /// timer), which ends the call.
    pub no_time_left: u64,
    /// Hedge delays read from the histogram (not the fallback).
    pub quantile_delays: u64,
    /// Calls that hedged and then retried.
    pub hedged_then_retried: u64,
    /// Calls that hedged whose retry the breaker or the deadline refused at its
    /// start.
    pub hedged_then_refused_at_begin: u64,
    /// Events handled while something else in the round was due at the same
    /// instant (another attempt, the time-limit timer, the hedge timer).
    pub ties: u64,
    /// An attempt answered at the instant the time-limit timer was due for
    /// another attempt (which was then not cut by it first).
    pub answer_beats_cut: u64,
    /// An attempt answered at the instant its own limit ended (not cut).
    pub ready_at_limit: u64,
    /// The time-limit timer set again, for another attempt, when the one it was
    /// set for ended with others in flight.
    pub cut_rearms: u64,
    /// A deadline cut of an attempt that is not the lowest slot in flight (the
    /// timer was set again for it).
    pub deadline_cut_not_lowest: u64,
    /// `HedgesSettled` told (once per call that hedged).
    pub settled: u64,
    /// A round's attempt answered at once (time never read, classified untimed).
    pub at_once: u64,
    /// At-once successes under a quantile policy (the countdown ticks).
    pub at_once_successes: u64,
    /// At-once successes counted in the histogram (one in 16, weighted 16).
    pub at_once_counted: u64,
    /// A hedge whose permit was of another epoch than its check saw (given back
    /// as a refusal). Not reached by a sequential run: the check and the permit
    /// are taken at one instant with nothing between them.
    pub epoch_moved: u64,
    pub stale_reports: u64,
    pub slow_attempts: u64,
    /// Calls ending with each `Stop` (by `Stop::as_str`).
    pub stops: BTreeMap<&'static str, u64>,
    /// Transitions seen, as `from * 5 + to` bits.
    pub transitions: u32,
    pub operator_acts: u64,
    pub invalid_breakers: u64,
}

impl Summary {
    /// Add `o`'s counts to these.
    #[allow(dead_code)] // used by tests/fuzz_replay_hedge.rs, not by the fuzz target
    pub fn absorb(&mut self, o: &Summary) {
        self.calls += o.calls;
        self.attempts += o.attempts;
        self.hedges += o.hedges;
        self.hedge_wins += o.hedge_wins;
        self.cancelled += o.cancelled;
        self.deadline_cuts += o.deadline_cuts;
        self.timeout_cuts += o.timeout_cuts;
        self.refused_by_breaker += o.refused_by_breaker;
        self.refused_by_allowance += o.refused_by_allowance;
        self.refused_by_budget += o.refused_by_budget;
        self.capped_by_attempts += o.capped_by_attempts;
        self.no_time_left += o.no_time_left;
        self.quantile_delays += o.quantile_delays;
        self.hedged_then_retried += o.hedged_then_retried;
        self.hedged_then_refused_at_begin += o.hedged_then_refused_at_begin;
        self.ties += o.ties;
        self.answer_beats_cut += o.answer_beats_cut;
        self.ready_at_limit += o.ready_at_limit;
        self.cut_rearms += o.cut_rearms;
        self.deadline_cut_not_lowest += o.deadline_cut_not_lowest;
        self.settled += o.settled;
        self.at_once += o.at_once;
        self.at_once_successes += o.at_once_successes;
        self.at_once_counted += o.at_once_counted;
        self.epoch_moved += o.epoch_moved;
        self.stale_reports += o.stale_reports;
        self.slow_attempts += o.slow_attempts;
        for (k, v) in &o.stops {
            *self.stops.entry(k).or_default() += v;
        }
        self.transitions |= o.transitions;
        self.operator_acts += o.operator_acts;
        self.invalid_breakers += o.invalid_breakers;
    }

    /// Whether a transition `from -> to` was seen.
    #[allow(dead_code)] // used by tests/fuzz_replay_hedge.rs, not by the fuzz target
    pub fn saw(&self, from: MState, to: MState) -> bool {
        self.transitions & 1 << (from.index() * 5 + to.index()) != 0
    }
}

// ---------------------------------------------------------------------------
// The model of a hedged call.
// ---------------------------------------------------------------------------

/// An attempt in flight, as the model sees it.
#[derive(Clone, Copy, Debug)]
struct MSlot {
    /// Its entry in the trace's attempts.
    index: usize,
    n: u32,
    /// 0 for the round's own attempt, `k` for the call's `k`-th hedge.
    hedge: u32,
    epoch: u32,
    /// Breaker-clock times: its start, its end, its cut (if it has a limit).
    started: u64,
    end: u64,
    cut: Option<u64>,
    limit: Option<(Duration, bool)>,
    spec: Spec,
}

/// What the model handles next in a round.
#[derive(Clone, Copy, Debug)]
enum MEvent {
    Done(usize),
    Cut(usize),
    HedgeDue,
}

/// One call's state in the model.
#[derive(Clone, Copy, Debug)]
struct MCall {
    attempts: u32,
    /// The first attempt's admission (the deadline counts from it).
    start: Option<u64>,
    deadline_left: Option<Duration>,
    /// The result kept across a sleep.
    last: Option<Result<Tag, Tag>>,
    /// Hedges sent, and attempts cancelled (losers dropped when a success ended
    /// a round, those dropped by a deadline cut), over the whole call.
    sent: u32,
    cancelled: u32,
    /// False once the breaker, the allowance or the budget refused a hedge.
    hedging: bool,
}

/// What comes after a round: the end, or a sleep before the next one.
enum Next {
    Done,
    Sleep(Duration),
}

/// An attempt's time limit, as `limit_of` documents it: the sooner of the
/// deadline's time left and the attempt timeout, and whether it is the
/// deadline's (on a tie, the deadline's).
fn limit_of(left: Option<Duration>, timeout: Option<Duration>) -> Option<(Duration, bool)> {
    match (left, timeout) {
        (None, None) => None,
        (Some(l), None) => Some((l, true)),
        (None, Some(t)) => Some((t, false)),
        (Some(l), Some(t)) => Some(if l <= t { (l, true) } else { (t, false) }),
    }
}

// ---------------------------------------------------------------------------
// The world: the real objects and the models, side by side.
// ---------------------------------------------------------------------------

struct World {
    header: Header,
    clock: ManualClock,
    start_ns: u64,
    breaker: Arc<Breaker>,
    budget: Option<Arc<RetryBudget>>,
    heard: Arc<Mutex<Vec<Ev>>>,
    reg: Reg,
    attempts_log: Rc<RefCell<Vec<AttemptLog>>>,
    classified_log: Rc<RefCell<Vec<Classified>>>,
    // The models.
    model: Model,
    budget_model: Option<Tokens>,
    allowance: Tokens,
    histogram: Histogram,
    /// The model's clock reading.
    now_ns: u64,
    /// Events the model predicts outside a call (between calls).
    expected: Vec<Ev>,
    /// The at-once countdown of this thread (see the module docs).
    at_once_tick: u32,
    call_index: usize,
    summary: Summary,
}

impl World {
    /// The model's breaker-clock time.
    fn elapsed(&self) -> u64 {
        self.model.elapsed(self.now_ns)
    }

    /// Move the model's clock to breaker-clock time `at`.
    fn advance_to(&mut self, at: u64) {
        let now = self.elapsed();
        assert!(
            at >= now,
            "harness invariant: the model's time goes forward"
        );
        self.now_ns += at - now;
    }

    /// An event the model predicts, stamped with the model's state now.
    fn ev(&self, kind: EvKind) -> Ev {
        Ev {
            at_ns: self.elapsed(),
            state: self.model.state,
            epoch: self.model.epoch,
            health_bits: self.model.event_health_bits(),
            kind,
        }
    }

    /// The events of the transitions the model made, into `events`.
    fn push_transitions(&mut self, events: &mut Vec<Ev>) {
        for t in std::mem::take(&mut self.model.events) {
            self.summary.transitions |= 1 << (t.from.index() * 5 + t.to.index());
            if t.from == MState::HalfOpen && t.to == MState::HalfOpen {
                let expired = t.epoch.wrapping_sub(1) & breaker_model::EPOCH_MASK;
                events.push(self.ev(EvKind::ProbeLeaseExpired(expired)));
            }
            events.push(self.ev(EvKind::Transition(t)));
        }
    }

    /// An operator's act on the model's breaker.
    fn model_operate(&mut self, op: Op, events: &mut Vec<Ev>) {
        let now = self.now_ns;
        // The transition, if any, is in `model.events`.
        let _transition = match op {
            Op::None => return,
            Op::ForceOpen => self.model.force_open(),
            Op::Reset => self.model.reset(now),
            Op::Disable => self.model.disable(now),
        };
        self.summary.operator_acts += 1;
        self.push_transitions(events);
    }

    /// A report on the model's breaker (a stale one is told).
    fn model_record(&mut self, epoch: u32, verdict: Verdict, events: &mut Vec<Ev>) {
        if self.model.record(self.now_ns, epoch, verdict) == Rec::Stale {
            self.summary.stale_reports += 1;
            events.push(self.ev(EvKind::StaleReport(epoch)));
        }
        self.push_transitions(events);
    }

    /// The hedge delay the policy gives a round that starts now.
    fn hedge_delay(&mut self) -> Duration {
        match self.header.hedge.delay {
            DelaySel::Fixed { ms: d } => ms(1 + u64::from(d)),
            DelaySel::Quantile {
                q,
                min_samples,
                floor,
                cap,
                fallback,
            } => {
                let (floor, cap) = quantile_bounds(floor, cap);
                let now = self.elapsed();
                let q = QUANTILES[usize::from(q)];
                let min = u64::from(MIN_SAMPLES[usize::from(min_samples)]);
                match self.histogram.cached_quantile(q, now, min) {
                    Some(ns) => {
                        self.summary.quantile_delays += 1;
                        Duration::from_nanos(ns).clamp(floor, cap)
                    }
                    None => fallback_of(floor, cap, fallback).unwrap_or(cap),
                }
            }
        }
    }

    /// The breaker lets a hedge go now: `Closed`, health (as of now) at or
    /// above `shed_below` (one half with grading off), the concurrency limit
    /// not engaged (it is off here); if so, the epoch it was seen in (the
    /// hedge's permit must be of it).
    fn hedge_admits(&self) -> Option<u32> {
        let snap = self.model.snapshot(self.now_ns);
        if snap.state != MState::Closed {
            return None;
        }
        let line = if self.model.shed > 0 {
            self.model.shed as f64 / breaker_model::FULL as f64
        } else {
            0.5
        };
        snap.health_bits
            .is_some_and(|h| f64::from_bits(h) >= line)
            .then_some(snap.epoch)
    }

    /// Start attempt `n` (a hedge if `hedge > 0`) now, reading its script.
    fn start_attempt(
        &mut self,
        r: &mut Reader<'_>,
        t: &mut Trace,
        n: u32,
        hedge: u32,
        epoch: u32,
        limit: Option<(Duration, bool)>,
    ) -> MSlot {
        let spec = Spec::decode(r);
        let now = self.elapsed();
        t.attempts.push(AttemptLog {
            n,
            at_ns: now,
            remaining: limit.map(|(d, _)| d),
            epoch,
            end: None,
        });
        self.summary.attempts += 1;
        MSlot {
            index: t.attempts.len() - 1,
            n,
            hedge,
            epoch,
            started: now,
            end: now.saturating_add(sat_ns(spec.latency())),
            cut: limit.map(|(d, _)| now.saturating_add(sat_ns(d))),
            limit,
            spec,
        }
    }

    /// Drop every attempt in flight unrecorded (cancellations); how many.
    fn cancel(&mut self, slots: &mut [Option<MSlot>; SLOTS], t: &mut Trace) -> u32 {
        let now = self.elapsed();
        let mut cancelled = 0;
        for slot in slots.iter_mut() {
            if let Some(s) = slot.take() {
                t.attempts[s.index].end = Some(End::Dropped(now));
                self.model.cancel(s.epoch);
                cancelled += 1;
            }
        }
        self.summary.cancelled += u64::from(cancelled);
        cancelled
    }

    /// The call ends with `stop`: told, unless it is a first-attempt success,
    /// and for a call that sent hedges, how they settled (over the whole call)
    /// first.
    fn done(
        &mut self,
        t: &mut Trace,
        c: &MCall,
        stop: Stop,
        last: Option<Result<Tag, Tag>>,
        rejected: Option<Rej>,
        hedge_won: u32,
    ) {
        if !(stop == Stop::Succeeded && c.attempts == 1) {
            if c.sent > 0 {
                self.summary.settled += 1;
                t.events.push(self.ev(EvKind::HedgesSettled {
                    sent: c.sent,
                    won: hedge_won > 0,
                    cancelled: c.cancelled,
                }));
            }
            t.events
                .push(self.ev(EvKind::CallStopped(stop, c.attempts)));
        }
        *self.summary.stops.entry(stop.as_str()).or_default() += 1;
        let winner = (stop == Stop::Succeeded).then_some(if hedge_won == 0 {
            Winner::Primary
        } else {
            Winner::Hedge(hedge_won)
        });
        t.outcome = Some(OutcomeView {
            stop,
            attempts: c.attempts,
            last,
            rejected,
            winner,
        });
    }

    /// A round's last attempt ended without a success: decide by the retry
    /// rules (rules 3–5).
    fn after_round(
        &mut self,
        t: &mut Trace,
        c: &mut MCall,
        class: Classification,
        result: Option<Result<Tag, Tag>>,
    ) -> Next {
        let next = self.after_failure(t, c, class, result);
        if c.sent > 0 && matches!(next, Next::Sleep(_)) {
            self.summary.hedged_then_retried += 1;
        }
        next
    }

    fn after_failure(
        &mut self,
        t: &mut Trace,
        c: &mut MCall,
        class: Classification,
        result: Option<Result<Tag, Tag>>,
    ) -> Next {
        match class {
            Classification::Success => unreachable!("a success ends the round before"),
            Classification::Ignored => {
                self.done(t, c, Stop::Ignored, result, None, 0);
                return Next::Done;
            }
            Classification::Failure {
                retryable: false, ..
            } => {
                self.done(t, c, Stop::Permanent, result, None, 0);
                return Next::Done;
            }
            // A retryable failure (`Classification` is non-exhaustive).
            _ => {}
        }
        if c.attempts >= u32::from(self.header.retry.max_attempts) {
            self.done(t, c, Stop::Exhausted, result, None, 0);
            return Next::Done;
        }
        let backoff = self.header.backoff();
        let (delay, server_hint) = match class.retry_after() {
            Some(hint) if hint > backoff => (hint, true),
            _ => (backoff, false),
        };
        if let Some(rej) = self.model.rejects_for(self.now_ns, delay) {
            t.events.push(self.ev(EvKind::Rejected(rej)));
            self.done(t, c, Stop::RejectedMidCall, result, Some(rej), 0);
            return Next::Done;
        }
        if let (Some(deadline), Some(start)) = (self.header.deadline(), c.start) {
            let since = Duration::from_nanos(self.elapsed() - start);
            if since + delay >= deadline {
                self.done(t, c, Stop::DeadlineExceeded, result, None, 0);
                return Next::Done;
            }
        }
        if let Some(b) = &mut self.budget_model {
            if !b.withdraw() {
                t.events.push(self.ev(EvKind::BudgetRefused(c.attempts)));
                self.done(t, c, Stop::BudgetExhausted, result, None, 0);
                return Next::Done;
            }
        }
        t.events.push(self.ev(EvKind::Retry {
            attempt: c.attempts + 1,
            delay,
            server_hint,
        }));
        c.last = result;
        Next::Sleep(delay)
    }

    /// A retry (or the first attempt) is refused at its start: the call ends
    /// (telling how its hedges settled, if it sent any, before its stop).
    fn stop_at_begin(
        &mut self,
        t: &mut Trace,
        c: &MCall,
        stop: Stop,
        rejected: Option<Rej>,
    ) -> Trace {
        if c.sent > 0 {
            self.summary.hedged_then_refused_at_begin += 1;
        }
        self.done(t, c, stop, c.last, rejected, 0);
        std::mem::take(t)
    }

    /// An at-once success under a quantile policy: the thread's countdown
    /// ticks, and every 16th is counted in the histogram, weighted 16 (the
    /// input runs on a thread of its own, where the countdown starts at zero:
    /// see the module docs).
    fn at_once_success(&mut self) {
        self.summary.at_once_successes += 1;
        self.at_once_tick = (self.at_once_tick + 1) % AT_ONCE_EVERY;
        if self.at_once_tick == 0 {
            self.summary.at_once_counted += 1;
            self.histogram.record_at_once(u64::from(AT_ONCE_EVERY));
        }
    }

    /// The attempt the time-limit timer was set for ended (answer or cut) with
    /// others in flight: it is set again, from now, for the one whose limit
    /// ends first (on a tie, the lowest slot), if any has a limit.
    fn rearm_cut(&mut self, slots: &[Option<MSlot>; SLOTS]) -> Option<usize> {
        let next = slots
            .iter()
            .enumerate()
            .filter_map(|(k, s)| s.and_then(|s| s.cut).map(|cut| (cut, k)))
            .min()
            .map(|(_, k)| k);
        if next.is_some() {
            self.summary.cut_rearms += 1;
        }
        next
    }

    /// The model's prediction of one hedged call, reading its attempts from `r`.
    fn model_call(&mut self, r: &mut Reader<'_>) -> Trace {
        let mut t = Trace::default();
        let max_hedges = u32::from(self.header.hedge.max_hedges);
        let max_attempts = u32::from(self.header.retry.max_attempts);
        let deadline = self.header.deadline();
        let timeout = self.header.timeout();
        // A call times its attempts from their admission if the breaker has a
        // slow-call threshold or the classifier wants the time.
        let call_timed = self.header.retry.wants_elapsed || self.model.slow_call.is_some();
        let quantile = matches!(self.header.hedge.delay, DelaySel::Quantile { .. });
        // Every hedged call adds its share to the extra-load allowance.
        self.allowance.deposit();
        let mut c = MCall {
            attempts: 0,
            start: None,
            deadline_left: None,
            last: None,
            sent: 0,
            cancelled: 0,
            hedging: true,
        };
        loop {
            // The round's own attempt, by rules 1 and 4.
            if c.attempts > 0 {
                if let (Some(dl), Some(start)) = (deadline, c.start) {
                    let since = Duration::from_nanos(self.elapsed() - start);
                    match dl.checked_sub(since) {
                        Some(left) if !left.is_zero() => c.deadline_left = Some(left),
                        _ => return self.stop_at_begin(&mut t, &c, Stop::DeadlineExceeded, None),
                    }
                }
            }
            let acquired = self.model.acquire(self.now_ns);
            self.push_transitions(&mut t.events);
            let epoch = match acquired {
                Acq::Admit(epoch) => epoch,
                Acq::Reject(rej) => {
                    t.events.push(self.ev(EvKind::Rejected(rej)));
                    let stop = if c.attempts == 0 {
                        Stop::Rejected
                    } else {
                        Stop::RejectedMidCall
                    };
                    return self.stop_at_begin(&mut t, &c, stop, Some(rej));
                }
            };
            c.attempts += 1;
            if c.attempts == 1 {
                c.start = Some(self.elapsed());
                c.deadline_left = deadline;
                if let Some(b) = &mut self.budget_model {
                    b.deposit();
                }
            }
            let round_start = self.elapsed();
            let mut slots: [Option<MSlot>; SLOTS] = [None; SLOTS];
            let limit = limit_of(c.deadline_left, timeout);
            let own = self.start_attempt(r, &mut t, c.attempts, 0, epoch, limit);
            slots[0] = Some(own);
            // The one time-limit timer, and the slot it is set for: the round's
            // own attempt's, if it has a limit.
            let mut cut_slot = limit.map(|_| 0);
            // The round's own attempt is at once if it answers at its first poll
            // with no start read: no limit, a call that times nothing.
            let own_at_once = own.end == round_start && limit.is_none() && !call_timed;
            // The delay is read, and the first hedge timer made, at the round's
            // first `Pending` (none if its attempt answers at its first poll),
            // if the call may still hedge.
            let mut delay = Duration::ZERO;
            let mut hedge_timer = None;
            if own.end > round_start
                && c.hedging
                && c.sent < max_hedges
                && c.attempts < max_attempts
            {
                delay = self.hedge_delay();
                hedge_timer = Some(round_start + sat_ns(delay));
            }
            // The latest failure of the round while others were in flight.
            let mut kept: Option<(Result<Tag, Tag>, Classification)> = None;
            let next = loop {
                // The next instant something is due (an attempt's end, the
                // time-limit timer, the hedge timer), then the first due thing in
                // poll order: every attempt in slot order, then the time-limit
                // timer, then the hedge timer.
                let cut_at = cut_slot.map(|i| {
                    slots[i]
                        .and_then(|s| s.cut)
                        .expect("harness invariant: the timer's slot is live, with a limit")
                });
                let due = slots
                    .iter()
                    .flatten()
                    .map(|s| s.end)
                    .chain(cut_at)
                    .chain(hedge_timer)
                    .min()
                    .expect("harness invariant: a round has something in flight");
                self.advance_to(due);
                let now = due;
                let cut_due = cut_at.is_some_and(|at| at <= now);
                let due_now = slots.iter().flatten().filter(|s| s.end <= now).count()
                    + usize::from(cut_due)
                    + usize::from(hedge_timer.is_some_and(|t| t <= now));
                if due_now > 1 {
                    self.summary.ties += 1;
                }
                let event = match slots.iter().position(|s| s.is_some_and(|s| s.end <= now)) {
                    Some(i) => MEvent::Done(i),
                    None if cut_due => MEvent::Cut(cut_slot.expect("a due timer is set")),
                    None => MEvent::HedgeDue,
                };
                match event {
                    MEvent::HedgeDue => {
                        hedge_timer = None;
                        let Some(j) = slots.iter().position(Option::is_none) else {
                            continue;
                        };
                        if !(c.hedging && c.sent < max_hedges) {
                            continue;
                        }
                        if c.attempts >= max_attempts {
                            self.summary.capped_by_attempts += 1;
                            continue;
                        }
                        if let (Some(dl), Some(start)) = (deadline, c.start) {
                            let since = Duration::from_nanos(now - start);
                            match dl.checked_sub(since) {
                                Some(left) if !left.is_zero() => c.deadline_left = Some(left),
                                _ => {
                                    self.summary.no_time_left += 1;
                                    continue;
                                }
                            }
                        }
                        let Some(seen) = self.hedge_admits() else {
                            self.summary.refused_by_breaker += 1;
                            c.hedging = false;
                            continue;
                        };
                        if !self.allowance.withdraw() {
                            self.summary.refused_by_allowance += 1;
                            c.hedging = false;
                            continue;
                        }
                        let acquired = self.model.acquire(self.now_ns);
                        self.push_transitions(&mut t.events);
                        let epoch = match acquired {
                            Acq::Admit(epoch) => epoch,
                            Acq::Reject(rej) => {
                                t.events.push(self.ev(EvKind::Rejected(rej)));
                                self.summary.refused_by_breaker += 1;
                                self.allowance.refund();
                                c.hedging = false;
                                continue;
                            }
                        };
                        // A permit of another epoch than the check saw is given
                        // back unrecorded, as a refusal.
                        if epoch != seen {
                            self.model.cancel(epoch);
                            self.summary.epoch_moved += 1;
                            self.allowance.refund();
                            c.hedging = false;
                            continue;
                        }
                        if let Some(b) = &mut self.budget_model {
                            if !b.withdraw() {
                                self.model.cancel(epoch);
                                self.summary.refused_by_budget += 1;
                                self.allowance.refund();
                                c.hedging = false;
                                continue;
                            }
                        }
                        c.attempts += 1;
                        c.sent += 1;
                        self.summary.hedges += 1;
                        let limit = limit_of(c.deadline_left, timeout);
                        slots[j] =
                            Some(self.start_attempt(r, &mut t, c.attempts, c.sent, epoch, limit));
                        if limit.is_some() && cut_slot.is_none() {
                            cut_slot = Some(j);
                        }
                        t.events.push(self.ev(EvKind::Hedge {
                            attempt: c.attempts,
                            delay: Duration::from_nanos(now - round_start),
                        }));
                        if c.sent < max_hedges {
                            hedge_timer = Some(now + sat_ns(delay));
                        }
                    }
                    MEvent::Done(i) => {
                        let s = slots[i].take().expect("a live slot");
                        if cut_due {
                            if cut_slot == Some(i) {
                                self.summary.ready_at_limit += 1;
                            } else {
                                self.summary.answer_beats_cut += 1;
                            }
                        }
                        t.attempts[s.index].end = Some(End::Completed(now));
                        // The attempt's operator acts as it completes.
                        self.model_operate(s.spec.op, &mut t.events);
                        let class = s.spec.class();
                        let took = Duration::from_nanos(now - s.started);
                        let at_once = i == 0 && s.hedge == 0 && own_at_once;
                        if at_once {
                            // No time read: `classify`, the plain verdict.
                            self.summary.at_once += 1;
                            t.classified.push(Classified::Untimed(s.n));
                            self.model_record(s.epoch, class.verdict(), &mut t.events);
                        } else {
                            // Timed, as `finish_timed`: the classifier sees the
                            // time, a slow success is a failure for the breaker.
                            t.classified.push(Classified::Timed(s.n, Some(took)));
                            let verdict = self.model.timed_verdict(class.verdict(), took);
                            self.model_record(s.epoch, verdict, &mut t.events);
                            if let Some((threshold, _)) = self.model.slow_call {
                                let threshold = Duration::from_nanos(threshold);
                                if took > threshold {
                                    self.summary.slow_attempts += 1;
                                    t.events.push(self.ev(EvKind::SlowAttempt {
                                        elapsed: took,
                                        threshold,
                                    }));
                                }
                            }
                        }
                        let result = s.spec.result(s.n);
                        if let Classification::Success = class {
                            if quantile {
                                if at_once {
                                    self.at_once_success();
                                } else {
                                    self.histogram.record(sat_ns(took), now);
                                }
                            }
                            c.cancelled += self.cancel(&mut slots, &mut t);
                            if s.hedge > 0 {
                                self.summary.hedge_wins += 1;
                            }
                            self.done(&mut t, &c, Stop::Succeeded, Some(result), None, s.hedge);
                            break Next::Done;
                        }
                        if slots.iter().any(Option::is_some) {
                            kept = Some((result, class));
                            if cut_slot == Some(i) {
                                cut_slot = self.rearm_cut(&slots);
                            }
                            continue;
                        }
                        break self.after_round(&mut t, &mut c, class, Some(result));
                    }
                    MEvent::Cut(i) => {
                        let s = slots[i].take().expect("a live slot");
                        t.attempts[s.index].end = Some(End::Dropped(now));
                        self.model_record(s.epoch, Verdict::failure(), &mut t.events);
                        let (limit, by_deadline) = s.limit.expect("a cut attempt has a limit");
                        t.events.push(self.ev(EvKind::AttemptTimedOut {
                            attempt: s.n,
                            limit,
                            by_deadline,
                        }));
                        if by_deadline {
                            self.summary.deadline_cuts += 1;
                            if slots[..i].iter().any(Option::is_some) {
                                self.summary.deadline_cut_not_lowest += 1;
                            }
                            c.cancelled += self.cancel(&mut slots, &mut t);
                            self.done(&mut t, &c, Stop::DeadlineExceeded, None, None, 0);
                            break Next::Done;
                        }
                        self.summary.timeout_cuts += 1;
                        if slots.iter().any(Option::is_some) {
                            cut_slot = self.rearm_cut(&slots);
                            continue;
                        }
                        // The round's last attempt was cut: a retryable failure,
                        // keeping an earlier attempt's result if one ended.
                        let (result, class) = match kept.take() {
                            Some((result, class)) => (Some(result), class),
                            None => (None, Classification::failure()),
                        };
                        break self.after_round(&mut t, &mut c, class, result);
                    }
                }
            };
            match next {
                Next::Done => return t,
                Next::Sleep(delay) => {
                    let at = self.elapsed() + sat_ns(delay);
                    self.advance_to(at);
                }
            }
        }
    }

    /// The real call, reading its attempts from `r`; returns what it showed and
    /// where its reader stopped.
    fn real_call<'d>(
        &mut self,
        hedged: &HedgedGuard<Classifier, VSleeper>,
        r: Reader<'d>,
    ) -> Result<(Trace, Reader<'d>), String> {
        let reader = Rc::new(RefCell::new(r));
        let op = {
            let reader = Rc::clone(&reader);
            let reg = Rc::clone(&self.reg);
            let log = Rc::clone(&self.attempts_log);
            let breaker = Arc::clone(&self.breaker);
            let start_ns = self.start_ns;
            move |a: Attempt| {
                let spec = Spec::decode(&mut reader.borrow_mut());
                let now = reg.borrow().clock.now_nanos();
                let index = {
                    let mut log = log.borrow_mut();
                    log.push(AttemptLog {
                        n: a.number,
                        at_ns: now - start_ns,
                        remaining: a.remaining,
                        epoch: a.epoch,
                        end: None,
                    });
                    log.len() - 1
                };
                let (id, deadline) = Registry::add(&reg, spec.latency());
                AttemptFut {
                    reg: Rc::clone(&reg),
                    id,
                    deadline,
                    result: spec.result(a.number),
                    op: spec.op,
                    breaker: Arc::clone(&breaker),
                    log: Rc::clone(&log),
                    index,
                    start_ns,
                    done: false,
                }
            }
        };
        let outcome = drive(hedged.call_async_outcome(op), &self.reg)?;
        let t = Trace {
            events: std::mem::take(&mut *self.heard.lock().unwrap()),
            attempts: std::mem::take(&mut *self.attempts_log.borrow_mut()),
            classified: std::mem::take(&mut *self.classified_log.borrow_mut()),
            outcome: Some(OutcomeView::of(&outcome)),
        };
        let r = *reader.borrow();
        Ok((t, r))
    }

    /// Compare what no call shows: the clock, the breaker's snapshot, the limit,
    /// the budget, the timers left.
    fn compare_state(&self, at: &str, context: &dyn Fn() -> String) {
        let mut problems = Vec::new();
        if self.clock.now_nanos() != self.now_ns {
            problems.push(format!(
                "clock: real {} ns, model {} ns",
                self.clock.now_nanos(),
                self.now_ns
            ));
        }
        let real = Snap::of(&self.breaker.snapshot(), self.breaker.stale_reports());
        let model = self.model.snapshot(self.now_ns);
        if real != model {
            problems.push(format!(
                "breaker snapshot:\n    real  {real:?}\n    model {model:?}"
            ));
        }
        let limit = self.breaker.limit();
        if limit.in_flight != 0 || limit.engaged {
            problems.push(format!(
                "the concurrency limit (off) holds slots: {limit:?}"
            ));
        }
        if let (Some(b), Some(m)) = (&self.budget, &self.budget_model) {
            if b.balance_milli() != m.balance {
                problems.push(format!(
                    "retry budget balance: real {}, model {} (milli-tokens)",
                    b.balance_milli(),
                    m.balance
                ));
            }
        }
        let live = self.reg.borrow().live.len();
        if live != 0 {
            problems.push(format!("{live} timer(s) or attempt(s) still live"));
        }
        if !problems.is_empty() {
            panic!("hedge_ops: {at}: {}\n{}", problems.join("\n"), context());
        }
    }

    /// Compare the events told outside calls.
    fn compare_between(&mut self, at: &str, context: &dyn Fn() -> String) {
        let heard = std::mem::take(&mut *self.heard.lock().unwrap());
        let expected = std::mem::take(&mut self.expected);
        if let Some(diff) = diff_lists("events", &expected, &heard) {
            panic!("hedge_ops: {at}: events differ\n{diff}{}", context());
        }
        self.compare_state(at, context);
    }
}

/// A diff of two lists (by their longest common subsequence): `  ` in both,
/// `- ` the model's only, `+ ` the real one's only; `None` when they are equal.
fn diff_lists<T: std::fmt::Debug + PartialEq>(
    name: &str,
    model: &[T],
    real: &[T],
) -> Option<String> {
    if model == real {
        return None;
    }
    let (m, r) = (model.len(), real.len());
    // lcs[i][j]: the longest common subsequence of model[i..] and real[j..].
    let mut lcs = vec![vec![0usize; r + 1]; m + 1];
    for i in (0..m).rev() {
        for j in (0..r).rev() {
            lcs[i][j] = if model[i] == real[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = format!("{name} (- model only, + real only):\n");
    let (mut i, mut j) = (0, 0);
    while i < m || j < r {
        if i < m && j < r && model[i] == real[j] {
            writeln!(out, "      {:?}", model[i]).unwrap();
            i += 1;
            j += 1;
        } else if j == r || (i < m && lcs[i + 1][j] >= lcs[i][j + 1]) {
            writeln!(out, "    - {:?}", model[i]).unwrap();
            i += 1;
        } else {
            writeln!(out, "    + {:?}", real[j]).unwrap();
            j += 1;
        }
    }
    Some(out)
}

/// Run one input.
pub fn run(data: &[u8]) {
    let _ = run_with_summary(data);
}

/// What the name of the thread an input with a quantile policy runs on ends
/// with (its caller's name before it): for a panic hook that tells them apart.
#[allow(dead_code)] // used by tests/fuzz_replay_hedge.rs, not by the fuzz target
pub const INPUT_THREAD_SUFFIX: &str = " (hedge_ops input)";

/// [`run`], returning what the input reached. An input with a quantile policy
/// runs on a fresh thread, so that the at-once countdown (a thread-local of the
/// implementation) starts at zero and the run depends on the input alone (see
/// the module docs); its panic, if any, is resumed on the caller's thread.
pub fn run_with_summary(data: &[u8]) -> Summary {
    let header = Header::decode(&mut Reader::new(data));
    if !matches!(header.hedge.delay, DelaySel::Quantile { .. }) {
        return run_here(data);
    }
    let name = format!(
        "{}{INPUT_THREAD_SUFFIX}",
        std::thread::current().name().unwrap_or("unnamed")
    );
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name(name)
            .spawn_scoped(scope, || run_here(data))
            .expect("harness: a thread for the input")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Run one input on this thread (whose at-once countdown must be at zero if
/// the input has a quantile policy).
fn run_here(data: &[u8]) -> Summary {
    let mut r = Reader::new(data);
    let header = Header::decode(&mut r);
    let mut summary = Summary::default();
    let start_ns = STARTS[usize::from(header.start)];
    let clock = ManualClock::starting_at(Duration::from_nanos(start_ns));
    let cfg = header.breaker_config(start_ns);
    let heard: Arc<Mutex<Vec<Ev>>> = Arc::new(Mutex::new(Vec::new()));
    let listener = {
        let heard = Arc::clone(&heard);
        move |e: &Event<'_>| heard.lock().unwrap().push(Ev::of(e))
    };
    let built = cfg
        .builder()
        .clock(clock.clone())
        .listener(listener)
        .build();
    let (model, breaker) = match (Model::new(&cfg), built) {
        (Ok(model), Ok(breaker)) => {
            model.check_built(&breaker, &cfg);
            (model, Arc::new(breaker))
        }
        (Err(field), Err(e)) => {
            assert_eq!(e.field(), field, "{e} ({cfg:?})");
            summary.invalid_breakers += 1;
            return summary;
        }
        (Ok(_), Err(e)) => panic!("a valid breaker configuration was refused: {e} ({cfg:?})"),
        (Err(field), Ok(_)) => {
            panic!("an invalid breaker configuration ({field}) was accepted ({cfg:?})")
        }
    };
    let (budget, budget_model) = match header.budget {
        None => (None, None),
        Some(s) => {
            let ratio = RATIOS[usize::from(s.ratio)];
            let max = MAX_BALANCES[usize::from(s.max)];
            let initial = INITIALS[usize::from(s.initial)];
            let budget = RetryBudget::builder()
                .ratio(ratio)
                .min_retries_per_sec(0)
                .max_balance(max)
                .initial_balance(initial)
                .clock(clock.clone())
                .build()
                .expect("every decoded budget is valid");
            let model = Tokens {
                balance: u64::from(initial.min(max)) * 1000,
                deposit: (ratio * 1000.0).round() as u64,
                max: u64::from(max) * 1000,
            };
            (Some(Arc::new(budget)), Some(model))
        }
    };
    let reg: Reg = Rc::new(RefCell::new(Registry {
        clock: clock.clone(),
        next_id: 0,
        live: BTreeMap::new(),
    }));
    let classified_log = Rc::new(RefCell::new(Vec::new()));
    let mut guard = Guard::new(Arc::clone(&breaker), header.retry())
        .with_classifier(Classifier {
            wants: header.retry.wants_elapsed,
            log: Rc::clone(&classified_log),
        })
        .with_sleeper(VSleeper(Rc::clone(&reg)));
    if let Some(b) = &budget {
        guard = guard.with_budget(Arc::clone(b));
    }
    let hedged = guard.with_hedging(header.hedge());
    let extra = EXTRA_LOADS[usize::from(header.hedge.extra)];
    let mut w = World {
        header,
        clock,
        start_ns,
        breaker,
        budget,
        heard,
        reg,
        attempts_log: Rc::new(RefCell::new(Vec::new())),
        classified_log,
        model,
        budget_model,
        allowance: Tokens {
            balance: EXTRA_BURST_MILLI,
            deposit: (extra * 1000.0).round() as u64,
            max: EXTRA_BURST_MILLI,
        },
        histogram: Histogram::new(),
        now_ns: start_ns,
        expected: Vec::new(),
        at_once_tick: 0,
        call_index: 0,
        summary,
    };
    let context = |w: &World| {
        format!(
            "\ninput ({} bytes): {data:02x?}\nheader: {:?}\nbreaker config: {cfg:?}\ncall #{}",
            data.len(),
            w.header,
            w.call_index
        )
    };
    if matches!(w.header.breaker, BreakerSel::Disabled) {
        w.breaker.disable();
        let mut events = Vec::new();
        w.model_operate(Op::Disable, &mut events);
        w.expected = events;
        let ctx = context(&w);
        w.compare_between("disable() after build", &|| ctx.clone());
    }
    loop {
        let ctx = context(&w);
        let mut model_reader = r;
        let model = w.model_call(&mut model_reader);
        let real = w.real_call(&hedged, r);
        let (real, real_reader) =
            real.unwrap_or_else(|e| panic!("hedge_ops: the real call failed: {e}{ctx}"));
        compare_calls(&model, &real, &ctx);
        assert_eq!(
            real_reader.pos, model_reader.pos,
            "hedge_ops: the script was read to different places (real, model){ctx}"
        );
        w.compare_state("after the call", &|| ctx.clone());
        w.summary.calls += 1;
        r = model_reader;
        w.call_index += 1;
        if r.at_end() || w.call_index >= MAX_CALLS {
            break;
        }
        let between = Between::decode(&mut r);
        let advance = ms(ADVANCES_MS[usize::from(between.advance)]);
        w.clock.advance(advance);
        w.now_ns += sat_ns(advance);
        operate(&w.breaker, between.op);
        let mut events = Vec::new();
        w.model_operate(between.op, &mut events);
        w.expected = events;
        let ctx = context(&w);
        w.compare_between("between calls", &|| ctx.clone());
    }
    w.summary
}

/// Compare one call's traces; panic with every difference.
fn compare_calls(model: &Trace, real: &Trace, context: &str) {
    let diffs: Vec<String> = [
        diff_lists("events", &model.events, &real.events),
        diff_lists("attempts", &model.attempts, &real.attempts),
        diff_lists("classified", &model.classified, &real.classified),
        (model.outcome != real.outcome).then(|| {
            format!(
                "outcome:\n    - {:?}\n    + {:?}\n",
                model.outcome, real.outcome
            )
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !diffs.is_empty() {
        panic!(
            "hedge_ops: the call differs from the model\n{}{context}",
            diffs.join("")
        );
    }
}
