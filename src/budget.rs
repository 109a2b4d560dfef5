//! [`RetryBudget`]: a lock-free token bucket that caps retries to a fraction of
//! calls plus a small time-based floor, shared by every guard of one downstream.
//!
//! # Arithmetic
//!
//! The budget holds a balance of tokens (kept in thousandths, in one packed word
//! with the time of its last refill):
//!
//! - every call that reaches the downstream **deposits** `ratio` tokens (default
//!   0.2), up to `max_balance`;
//! - every retry **withdraws** one whole token before it sleeps; with less than one
//!   token the retry is refused ([`GuardError::BudgetExhausted`](crate::GuardError::BudgetExhausted))
//!   and nothing is taken. A withdrawn token is not refunded if the call is
//!   cancelled;
//! - before a withdrawal, the balance is refilled by `min_retries_per_sec` tokens per
//!   second elapsed since the last refill (the floor, so that a service with little
//!   traffic can still retry), up to `max_balance`. Time is kept in milliseconds in
//!   40 bits: about 34.8 years after the budget was built the floor stops refilling
//!   (deposits go on working).
//!
//! In steady state retries are therefore at most `ratio × calls + min_retries_per_sec
//! × seconds` (plus the initial balance): an outage can raise downstream load by at
//! most `ratio` (20 %) over the call rate, where three attempts per call would triple
//! it. This is the behaviour of Finagle's retry budget (a percentage of requests plus
//! a minimum rate per second); gRPC's retry throttling is a similar token bucket
//! keyed on failures rather than calls.
//!
//! # Orderings
//!
//! The word is self-contained (balance and refill time change together in one CAS),
//! and nothing else is published through it, so `Relaxed` would be enough for its
//! consistency; loads are `Acquire` and successful CASes `AcqRel` only so that a
//! refusal is causally ordered after the withdrawals that drained the budget, the
//! same protocol as the breaker's state word. Deposits at the cap write nothing.

use crate::clock::{Clock, MonotonicClock};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::state::{BUDGET_BALANCE_MAX, BUDGET_REFILLED_MAX_MS, BudgetWord};
use crate::sync::{AtomicU64, CasBackoff, Ordering};
use crossbeam_utils::CachePadded;
use std::fmt;

const MILLI: u64 = 1000;
const NANOS_PER_MS: u64 = 1_000_000;

/// Largest `max_balance`, in tokens.
pub const MAX_BUDGET_BALANCE: u32 = 16_000;

/// A shared, lock-free retry budget. See the [module documentation](self) for the
/// arithmetic.
///
/// # Examples
///
/// ```
/// use fusebox::{ManualClock, RetryBudget};
///
/// let budget = RetryBudget::builder()
///     .ratio(0.5)
///     .min_retries_per_sec(0)
///     .max_balance(10)
///     .clock(ManualClock::new())
///     .build()?;
/// assert!(!budget.try_withdraw(), "starts empty when the floor is 0");
/// budget.deposit();
/// budget.deposit(); // two calls: 2 × 0.5 = 1 token
/// assert!(budget.try_withdraw());
/// assert!(!budget.try_withdraw());
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct RetryBudget {
    word: CachePadded<AtomicU64>,
    deposit_milli: u64,
    floor_milli_per_ms: u64,
    max_milli: u64,
    /// A word with the balance at the cap and a refill mark of 0: a word at the
    /// cap compares greater or equal (see `BudgetWord::balance_at_least`).
    cap: BudgetWord,
    clock: Box<dyn Clock>,
    start_ns: u64,
}

impl RetryBudget {
    /// A builder with the defaults: ratio 0.2, 10 retries per second floor, at most
    /// 100 tokens banked, starting with one second of floor.
    pub fn builder() -> RetryBudgetBuilder {
        RetryBudgetBuilder::default()
    }

    /// Record one call (it may later retry): adds `ratio` tokens, up to the cap.
    /// At the cap this is one atomic load and no write.
    #[inline]
    pub fn deposit(&self) {
        let cur = self.load();
        if cur.balance_at_least(self.cap) {
            return;
        }
        self.deposit_slow(cur);
    }

    /// Below the cap: add the deposit by CAS. Out of line, so that a caller's
    /// check at the cap (a `Guard::call` on a busy service) keeps its registers;
    /// and cold, so that the compiler lays that check out as a straight line (a
    /// healthy service's budget sits at the cap: retries are what bring it down).
    #[cold]
    #[inline(never)]
    fn deposit_slow(&self, mut cur: BudgetWord) {
        let backoff = CasBackoff::new();
        loop {
            let balance = (cur.balance_milli() + self.deposit_milli).min(self.max_milli);
            if balance == cur.balance_milli() {
                return;
            }
            let next = BudgetWord::new(balance, cur.refilled_ms());
            match self.cas(cur, next) {
                Ok(()) => return,
                Err(actual) => {
                    cur = actual;
                    backoff.spin();
                }
            }
        }
    }

    /// Take one token for a retry. Returns whether the retry is allowed; a refusal
    /// takes nothing.
    pub fn try_withdraw(&self) -> bool {
        // Saturated at the refill mark's range (2^40 - 1 ms, about 34.8 years after
        // the budget was built): past it the time-based floor stops refilling,
        // rather than refilling on every call.
        let now_ms = (self.clock.now_nanos().saturating_sub(self.start_ns) / NANOS_PER_MS)
            .min(BUDGET_REFILLED_MAX_MS);
        let mut cur = self.load();
        let backoff = CasBackoff::new();
        loop {
            // Time that went backwards refills nothing and does not move the mark.
            let elapsed = now_ms.saturating_sub(cur.refilled_ms());
            let refilled = cur
                .balance_milli()
                .saturating_add(elapsed.saturating_mul(self.floor_milli_per_ms))
                .min(self.max_milli);
            let mark = cur.refilled_ms().max(now_ms);
            let (allowed, balance) = if refilled >= MILLI {
                (true, refilled - MILLI)
            } else {
                (false, refilled)
            };
            let next = BudgetWord::new(balance, mark);
            if next == cur {
                return allowed;
            }
            match self.cas(cur, next) {
                Ok(()) => return allowed,
                Err(actual) => {
                    cur = actual;
                    backoff.spin();
                }
            }
        }
    }

    /// The balance, in tokens (before any refill due since the last withdrawal).
    pub fn balance(&self) -> f64 {
        self.load().balance_milli() as f64 / MILLI as f64
    }

    /// The balance in thousandths of a token (exact; for tests and metrics).
    pub fn balance_milli(&self) -> u64 {
        self.load().balance_milli()
    }

    #[inline]
    fn load(&self) -> BudgetWord {
        // Acquire: see the module's "Orderings".
        BudgetWord::from_raw(self.word.load(Ordering::Acquire))
    }

    #[inline]
    fn cas(&self, cur: BudgetWord, next: BudgetWord) -> Result<(), BudgetWord> {
        // AcqRel on success, Acquire on failure: see the module's "Orderings".
        self.word
            .compare_exchange_weak(cur.raw(), next.raw(), Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(BudgetWord::from_raw)
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("word", &self.load())
            .field("deposit_milli", &self.deposit_milli)
            .field("floor_milli_per_ms", &self.floor_milli_per_ms)
            .field("max_milli", &self.max_milli)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RetryBudget`], validating every value.
pub struct RetryBudgetBuilder {
    ratio: f64,
    min_retries_per_sec: u32,
    max_balance: u32,
    initial: Option<u32>,
    clock: Option<Box<dyn Clock>>,
}

impl Default for RetryBudgetBuilder {
    fn default() -> Self {
        Self {
            ratio: 0.2,
            min_retries_per_sec: 10,
            max_balance: 100,
            initial: None,
            clock: None,
        }
    }
}

impl fmt::Debug for RetryBudgetBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudgetBuilder")
            .field("ratio", &self.ratio)
            .field("min_retries_per_sec", &self.min_retries_per_sec)
            .field("max_balance", &self.max_balance)
            .field("initial", &self.initial)
            .field("custom_clock", &self.clock.is_some())
            .finish()
    }
}

impl RetryBudgetBuilder {
    /// Tokens deposited per call (a retry costs 1): the fraction of calls that may
    /// retry. In `[0, 10]`, resolution 0.001.
    pub fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// The floor: tokens added per second regardless of traffic (at most 16,000).
    pub fn min_retries_per_sec(mut self, n: u32) -> Self {
        self.min_retries_per_sec = n;
        self
    }

    /// The most tokens the budget can bank (`1..=16_000`).
    pub fn max_balance(mut self, tokens: u32) -> Self {
        self.max_balance = tokens;
        self
    }

    /// The starting balance in tokens (default: `min_retries_per_sec`, capped at
    /// `max_balance`).
    pub fn initial_balance(mut self, tokens: u32) -> Self {
        self.initial = Some(tokens);
        self
    }

    /// The clock for the time-based floor (default: [`MonotonicClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Box::new(clock));
        self
    }

    /// Validate and build.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid field.
    pub fn build(self) -> Result<RetryBudget, ConfigError> {
        let ratio = ConfigError::finite("ratio", self.ratio)?;
        if !(0.0..=10.0).contains(&ratio) {
            return Err(ConfigError::new(
                "ratio",
                ConfigErrorKind::OutOfRange,
                ratio,
                "must be in [0, 10]",
            ));
        }
        if self.min_retries_per_sec > MAX_BUDGET_BALANCE {
            return Err(ConfigError::new(
                "min_retries_per_sec",
                ConfigErrorKind::OutOfRange,
                self.min_retries_per_sec,
                "must be at most 16000",
            ));
        }
        if self.max_balance == 0 || self.max_balance > MAX_BUDGET_BALANCE {
            return Err(ConfigError::new(
                "max_balance",
                if self.max_balance == 0 {
                    ConfigErrorKind::Zero
                } else {
                    ConfigErrorKind::OutOfRange
                },
                self.max_balance,
                "must be in 1..=16000",
            ));
        }
        let deposit_milli = (ratio * MILLI as f64).round() as u64;
        if deposit_milli == 0 && self.min_retries_per_sec == 0 {
            return Err(ConfigError::new(
                "ratio",
                ConfigErrorKind::Inconsistent,
                ratio,
                "with min_retries_per_sec = 0, must be at least 0.001 (or no retry is ever allowed)",
            ));
        }
        let initial = self
            .initial
            .unwrap_or(self.min_retries_per_sec)
            .min(self.max_balance);
        let max_milli = u64::from(self.max_balance) * MILLI;
        debug_assert!(max_milli <= BUDGET_BALANCE_MAX);
        let clock = self
            .clock
            .unwrap_or_else(|| Box::new(MonotonicClock::new()));
        let start_ns = clock.now_nanos();
        Ok(RetryBudget {
            word: CachePadded::new(AtomicU64::new(
                BudgetWord::new(u64::from(initial) * MILLI, 0).raw(),
            )),
            deposit_milli,
            floor_milli_per_ms: u64::from(self.min_retries_per_sec),
            max_milli,
            cap: BudgetWord::new(max_milli, 0),
            clock,
            start_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use std::time::Duration;

    fn budget(ratio: f64, floor: u32, max: u32, clock: &ManualClock) -> RetryBudget {
        RetryBudget::builder()
            .ratio(ratio)
            .min_retries_per_sec(floor)
            .max_balance(max)
            .clock(clock.clone())
            .build()
            .unwrap()
    }

    #[test]
    fn ratio_of_calls_caps_retries() {
        let clock = ManualClock::new();
        let b = budget(0.2, 0, 1000, &clock);
        let mut allowed = 0;
        for _ in 0..1000 {
            b.deposit();
            if b.try_withdraw() {
                allowed += 1;
            }
        }
        assert_eq!(allowed, 200, "20 % of 1000 calls");
        assert_eq!(b.balance_milli(), 0);
    }

    #[test]
    fn floor_refills_with_time_up_to_the_cap() {
        let clock = ManualClock::new();
        let b = budget(0.0, 10, 20, &clock);
        let drain = |b: &RetryBudget| (0..100).filter(|_| b.try_withdraw()).count();
        assert_eq!(drain(&b), 10, "starts with one second of floor");
        clock.advance(Duration::from_millis(500));
        assert_eq!(drain(&b), 5);
        clock.advance(Duration::from_secs(3600));
        assert_eq!(drain(&b), 20, "capped at max_balance");
        clock.rewind(Duration::from_secs(10));
        assert_eq!(drain(&b), 0, "time going back refills nothing");
        clock.advance(Duration::from_secs(10) + Duration::from_millis(100));
        assert_eq!(drain(&b), 1, "and does not move the refill mark back");
    }

    #[test]
    fn deposit_at_cap_writes_nothing() {
        let clock = ManualClock::new();
        let b = budget(1.0, 5, 5, &clock);
        let before = b.word.load(Ordering::Relaxed);
        b.deposit();
        assert_eq!(b.word.load(Ordering::Relaxed), before);
    }

    #[test]
    fn invalid_values_are_named() {
        let f = |b: RetryBudgetBuilder| b.build().unwrap_err().field();
        assert_eq!(f(RetryBudget::builder().ratio(f64::NAN)), "ratio");
        assert_eq!(f(RetryBudget::builder().ratio(-0.1)), "ratio");
        assert_eq!(f(RetryBudget::builder().ratio(11.0)), "ratio");
        assert_eq!(
            f(RetryBudget::builder().ratio(0.0).min_retries_per_sec(0)),
            "ratio"
        );
        assert_eq!(f(RetryBudget::builder().max_balance(0)), "max_balance");
        assert_eq!(f(RetryBudget::builder().max_balance(16_001)), "max_balance");
        assert_eq!(
            f(RetryBudget::builder().min_retries_per_sec(20_000)),
            "min_retries_per_sec"
        );
        assert!(RetryBudget::builder().build().is_ok());
    }
}
