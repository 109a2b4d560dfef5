//! [`RetryBudget`]: a lock-free token bucket that caps retries to a fraction of
//! calls plus a small time-based floor, shared by every guard of one downstream.
//!
//! # Arithmetic
//!
//! The budget holds its tokens in two terms, each in thousandths of a token in an
//! atomic word of its own:
//!
//! - the **ratio term**: every call that reaches the downstream **deposits** `ratio`
//!   tokens (default 0.2) into it, up to `max_balance` (default 100). It starts with
//!   the initial balance (default `min_retries_per_sec`, at most `max_balance`);
//! - the **floor term**: it is refilled by `min_retries_per_sec` tokens (default 10)
//!   per second elapsed since its last refill (the floor, so that a service with
//!   little traffic can still retry), up to its own cap of **one second of floor**:
//!   `min(min_retries_per_sec, max_balance)` tokens. It starts empty when the budget
//!   is built, and is refilled lazily, only by a withdrawal that needs it. A refill
//!   adds the whole time elapsed since the last one and then applies the cap, which
//!   is exactly what refilling at every instant would have left. Time is kept in
//!   milliseconds in 40 bits: about 34.8 years after the budget was built the floor
//!   stops refilling (deposits go on working);
//! - every retry **withdraws** one whole token before it sleeps: from the ratio term
//!   when that holds a whole token, and then the clock is not read; otherwise the
//!   floor term is refilled and the token taken from it. When neither term holds a
//!   whole token the retry is refused
//!   ([`GuardError::BudgetExhausted`](crate::GuardError::BudgetExhausted)) and nothing
//!   is taken. The terms' fractions do not add up: a refusal may leave just under one
//!   token in each. A withdrawn token is not refunded if the call is cancelled.
//!
//! The ratio term pays out at most what was paid in, and the floor term at most its
//! rate over the time since the budget was built (its refill mark only moves
//! forward), so the retries granted are at most `initial_balance + ratio × calls +
//! min_retries_per_sec × seconds`, and the budget banks at most `max_balance +
//! min(min_retries_per_sec, max_balance)` tokens (110 with the defaults): an outage
//! can raise downstream load by at most `ratio` (20 %) over the call rate plus the
//! floor, where three attempts per call would triple it. This is the behaviour of
//! Finagle's retry budget (a percentage of requests plus a minimum rate per second);
//! gRPC's retry throttling is a similar token bucket keyed on failures rather than
//! calls.
//!
//! # Orderings
//!
//! Each word is self-contained (the floor term's balance and refill time change
//! together in one CAS; the ratio term is one number), and nothing else is published
//! through either, so `Relaxed` would be enough for their consistency: every change
//! is one CAS computed from the value it replaces, which is what keeps each term
//! from being overdrawn. Loads are `Acquire` and successful CASes `AcqRel` (failed
//! ones `Acquire`) only so that a refusal is causally ordered after the withdrawals
//! that drained the budget, the same protocol as the breaker's state word: a refusal
//! loads the ratio word and then (with a floor) the floor word, and each load
//! synchronises with the last write of its term. Deposits at the cap write nothing.
//! The two words are never read as one snapshot: [`RetryBudget::balance`] adds two
//! loads.

use crate::clock::{Clock, MonotonicClock};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::state::{FLOOR_BALANCE_MAX, FLOOR_REFILLED_MAX_MS, FloorWord};
use crate::sync::{AtomicU64, CasBackoff, Ordering};
use crossbeam_utils::CachePadded;
use std::fmt;

const MILLI: u64 = 1000;
const NANOS_PER_MS: u64 = 1_000_000;

/// Largest `max_balance`, in tokens.
pub const MAX_BUDGET_BALANCE: u32 = 16_000;
const _: () = assert!(
    MAX_BUDGET_BALANCE as u64 * 1000 <= FLOOR_BALANCE_MAX,
    "the floor term's largest cap (max_balance tokens) fits BALANCE"
);

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
    /// The ratio term, in milli-tokens (at most `max_milli`): a plain count. Every
    /// deposit and every withdrawal it covers touches this word only, on a cache
    /// line of its own, so that a busy service's deposits and an outage's floor
    /// withdrawals do not contend.
    ratio: CachePadded<AtomicU64>,
    /// The floor term and the time of its last refill (a [`FloorWord`]).
    floor: CachePadded<AtomicU64>,
    deposit_milli: u64,
    floor_milli_per_ms: u64,
    /// The ratio term's cap.
    max_milli: u64,
    /// The floor term's cap: one second of floor, at most `max_milli`.
    floor_max_milli: u64,
    clock: Box<dyn Clock>,
    start_ns: u64,
    /// The name events carry (`""` if none).
    name: Box<str>,
    /// The `metrics` handles, registered at the first refusal or export.
    #[cfg(feature = "metrics")]
    metrics: std::sync::OnceLock<crate::observe::metrics::BudgetHandles>,
}

impl RetryBudget {
    /// The budget's name (see [`RetryBudgetBuilder::name`]); `""` if it has none.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `metrics` handles, registered with the recorder on first use.
    #[cfg(feature = "metrics")]
    pub(crate) fn metric_handles(&self) -> &crate::observe::metrics::BudgetHandles {
        self.metrics
            .get_or_init(|| crate::observe::metrics::BudgetHandles::register(&self.name))
    }

    /// A builder with the defaults: ratio 0.2, 10 retries per second floor, at most
    /// 100 tokens banked by deposits, starting with one second of floor.
    pub fn builder() -> RetryBudgetBuilder {
        RetryBudgetBuilder::default()
    }

    /// Record one call (it may later retry): adds `ratio` tokens to the ratio term,
    /// up to its cap. At the cap this is one atomic load and no write.
    #[inline]
    pub fn deposit(&self) {
        let cur = self.load_ratio();
        if cur >= self.max_milli {
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
    fn deposit_slow(&self, mut cur: u64) {
        let backoff = CasBackoff::new();
        loop {
            let next = (cur + self.deposit_milli).min(self.max_milli);
            if next == cur {
                return;
            }
            match self.cas_ratio(cur, next) {
                Ok(()) => return,
                Err(actual) => {
                    cur = actual;
                    backoff.spin();
                }
            }
        }
    }

    /// Give back a token taken by [`try_withdraw`](Self::try_withdraw) for
    /// something that was then not done (a hedge the breaker refused after
    /// its allowance was taken): one token to the ratio term, up to its cap.
    #[cold]
    pub(crate) fn refund(&self) {
        let mut cur = self.load_ratio();
        let backoff = CasBackoff::new();
        loop {
            let next = (cur + MILLI).min(self.max_milli);
            if next == cur {
                return;
            }
            match self.cas_ratio(cur, next) {
                Ok(()) => return,
                Err(actual) => {
                    cur = actual;
                    backoff.spin();
                }
            }
        }
    }

    /// Take one token for a retry. Returns whether the retry is allowed; a refusal
    /// takes nothing. A withdrawal the ratio term covers reads no clock.
    #[inline]
    pub fn try_withdraw(&self) -> bool {
        let mut cur = self.load_ratio();
        let backoff = CasBackoff::new();
        while cur >= MILLI {
            match self.cas_ratio(cur, cur - MILLI) {
                Ok(()) => return true,
                Err(actual) => {
                    cur = actual;
                    backoff.spin();
                }
            }
        }
        self.withdraw_floor()
    }

    /// The ratio term holds less than a token: refill the floor term and take the
    /// token from it. Out of line: the clock and the refill arithmetic stay off the
    /// path of a withdrawal the ratio term covers.
    #[inline(never)]
    fn withdraw_floor(&self) -> bool {
        if self.floor_milli_per_ms == 0 {
            // No floor: its term is always empty, and there is no need to ask the
            // clock.
            return false;
        }
        // Saturated at the refill mark's range (2^40 - 1 ms, about 34.8 years after
        // the budget was built): past it the time-based floor stops refilling,
        // rather than refilling on every call.
        let now_ms = (self.clock.now_nanos().saturating_sub(self.start_ns) / NANOS_PER_MS)
            .min(FLOOR_REFILLED_MAX_MS);
        let mut cur = self.load_floor();
        let backoff = CasBackoff::new();
        loop {
            // Time that went backwards refills nothing and does not move the mark.
            let elapsed = now_ms.saturating_sub(cur.refilled_ms());
            let refilled = cur
                .balance_milli()
                .saturating_add(elapsed.saturating_mul(self.floor_milli_per_ms))
                .min(self.floor_max_milli);
            let mark = cur.refilled_ms().max(now_ms);
            let (allowed, balance) = if refilled >= MILLI {
                (true, refilled - MILLI)
            } else {
                (false, refilled)
            };
            let next = FloorWord::new(balance, mark);
            if next == cur {
                return allowed;
            }
            match self.cas_floor(cur, next) {
                Ok(()) => return allowed,
                Err(actual) => {
                    cur = actual;
                    backoff.spin();
                }
            }
        }
    }

    /// The balance, in tokens: the ratio term plus the floor term as of its last
    /// refill (a refill due since is not counted). The two terms are read one after
    /// the other, not as one snapshot.
    pub fn balance(&self) -> f64 {
        self.balance_milli() as f64 / MILLI as f64
    }

    /// The balance in thousandths of a token, as [`balance`](Self::balance) (exact;
    /// for tests and metrics).
    pub fn balance_milli(&self) -> u64 {
        self.load_ratio() + self.load_floor().balance_milli()
    }

    #[inline]
    fn load_ratio(&self) -> u64 {
        // Acquire: see the module's "Orderings".
        self.ratio.load(Ordering::Acquire)
    }

    #[inline]
    fn cas_ratio(&self, cur: u64, next: u64) -> Result<(), u64> {
        // AcqRel on success, Acquire on failure: see the module's "Orderings".
        self.ratio
            .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
    }

    #[inline]
    fn load_floor(&self) -> FloorWord {
        // Acquire: see the module's "Orderings".
        FloorWord::from_raw(self.floor.load(Ordering::Acquire))
    }

    #[inline]
    fn cas_floor(&self, cur: FloorWord, next: FloorWord) -> Result<(), FloorWord> {
        // AcqRel on success, Acquire on failure: see the module's "Orderings".
        self.floor
            .compare_exchange_weak(cur.raw(), next.raw(), Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(FloorWord::from_raw)
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("ratio_milli", &self.load_ratio())
            .field("floor", &self.load_floor())
            .field("deposit_milli", &self.deposit_milli)
            .field("floor_milli_per_ms", &self.floor_milli_per_ms)
            .field("max_milli", &self.max_milli)
            .field("floor_max_milli", &self.floor_max_milli)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RetryBudget`], validating every value.
///
/// # Examples
///
/// ```
/// use fusebox::RetryBudget;
///
/// // Retries may be 10 % of calls, plus 5 per second whatever the traffic.
/// let budget = RetryBudget::builder()
///     .name("payments")
///     .ratio(0.1)
///     .min_retries_per_sec(5)
///     .max_balance(50)
///     .initial_balance(1)
///     .build()?;
/// assert!(budget.try_withdraw()); // the one initial token
/// assert_eq!(budget.name(), "payments");
///
/// assert!(RetryBudget::builder().ratio(-1.0).build().is_err());
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub struct RetryBudgetBuilder {
    ratio: f64,
    min_retries_per_sec: u32,
    max_balance: u32,
    initial: Option<u32>,
    clock: Option<Box<dyn Clock>>,
    name: Option<Box<str>>,
}

impl Default for RetryBudgetBuilder {
    fn default() -> Self {
        Self {
            ratio: 0.2,
            min_retries_per_sec: 10,
            max_balance: 100,
            initial: None,
            clock: None,
            name: None,
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
    /// Name the budget (after its downstream, say): a budget refusal's
    /// [`Event`](crate::Event) carries it. Default: none (`""`).
    ///
    /// # Examples
    ///
    /// ```
    /// let budget = fusebox::RetryBudget::builder().name("payments").build()?;
    /// assert_eq!(budget.name(), "payments");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into().into_boxed_str());
        self
    }

    /// Tokens deposited per call (a retry costs 1): the fraction of calls that may
    /// retry. In `[0, 10]`, resolution 0.001.
    pub fn ratio(mut self, ratio: f64) -> Self {
        self.ratio = ratio;
        self
    }

    /// The floor: tokens added per second regardless of traffic (at most 16,000),
    /// into a term of their own that banks at most one second of floor (at most
    /// `max_balance` tokens).
    pub fn min_retries_per_sec(mut self, n: u32) -> Self {
        self.min_retries_per_sec = n;
        self
    }

    /// The most tokens deposits (and the initial balance) can bank (`1..=16_000`);
    /// the floor's term banks up to `min(min_retries_per_sec, max_balance)` more.
    pub fn max_balance(mut self, tokens: u32) -> Self {
        self.max_balance = tokens;
        self
    }

    /// The starting balance in tokens, banked like deposits (default:
    /// `min_retries_per_sec`, capped at `max_balance`). The floor's term starts
    /// empty.
    pub fn initial_balance(mut self, tokens: u32) -> Self {
        self.initial = Some(tokens);
        self
    }

    /// The clock for the time-based floor (default: [`MonotonicClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Box::new(clock));
        self
    }

    /// Whether a clock was set (the registry gives its own to builders without).
    #[cfg(feature = "registry")]
    pub(crate) fn has_clock(&self) -> bool {
        self.clock.is_some()
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
        // One second of floor, never more than the ratio term's cap.
        let floor_max_milli = u64::from(self.min_retries_per_sec.min(self.max_balance)) * MILLI;
        let clock = self
            .clock
            .unwrap_or_else(|| Box::new(MonotonicClock::new()));
        let start_ns = clock.now_nanos();
        Ok(RetryBudget {
            ratio: CachePadded::new(AtomicU64::new(u64::from(initial) * MILLI)),
            floor: CachePadded::new(AtomicU64::new(FloorWord::new(0, 0).raw())),
            deposit_milli,
            floor_milli_per_ms: u64::from(self.min_retries_per_sec),
            max_milli,
            floor_max_milli,
            clock,
            start_ns,
            name: self.name.unwrap_or_default(),
            #[cfg(feature = "metrics")]
            metrics: std::sync::OnceLock::new(),
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
    fn floor_refills_with_time_up_to_its_cap() {
        let clock = ManualClock::new();
        let b = budget(0.0, 10, 20, &clock);
        let drain = |b: &RetryBudget| (0..100).filter(|_| b.try_withdraw()).count();
        assert_eq!(drain(&b), 10, "starts with one second of floor");
        clock.advance(Duration::from_millis(500));
        assert_eq!(drain(&b), 5);
        clock.advance(Duration::from_secs(3600));
        assert_eq!(drain(&b), 10, "capped at one second of floor");
        clock.rewind(Duration::from_secs(10));
        assert_eq!(drain(&b), 0, "time going back refills nothing");
        clock.advance(Duration::from_secs(10) + Duration::from_millis(100));
        assert_eq!(drain(&b), 1, "and does not move the refill mark back");

        // A floor above max_balance banks max_balance at most.
        let b = budget(0.0, 50, 5, &clock);
        assert_eq!(drain(&b), 5, "the initial balance, capped at max_balance");
        clock.advance(Duration::from_secs(3600));
        assert_eq!(drain(&b), 5, "the floor's cap is at most max_balance");
    }

    #[test]
    fn the_terms_have_their_own_caps() {
        let clock = ManualClock::new();
        let b = budget(1.0, 3, 5, &clock);
        for _ in 0..10 {
            b.deposit();
        }
        assert_eq!(b.balance_milli(), 5000, "ratio term at its cap");
        clock.advance(Duration::from_secs(3600));
        assert_eq!(
            b.balance_milli(),
            5000,
            "the floor term is refilled lazily, by a withdrawal that needs it"
        );
        let granted = (0..100).filter(|_| b.try_withdraw()).count();
        assert_eq!(granted, 5 + 3, "max_balance + one second of floor");
        assert_eq!(b.balance_milli(), 0);
    }

    #[test]
    fn the_fractions_of_the_terms_do_not_add_up() {
        let clock = ManualClock::new();
        let b = RetryBudget::builder()
            .ratio(0.5)
            .min_retries_per_sec(10)
            .max_balance(10)
            .initial_balance(0)
            .clock(clock.clone())
            .build()
            .unwrap();
        b.deposit();
        clock.advance(Duration::from_millis(50));
        assert!(!b.try_withdraw(), "half a token in each term");
        assert_eq!(b.balance_milli(), 1000, "the refused withdrawal refilled");
        clock.advance(Duration::from_millis(50));
        assert!(b.try_withdraw(), "a whole token in the floor term");
        assert_eq!(b.balance_milli(), 500);
        b.deposit();
        assert!(b.try_withdraw(), "a whole token in the ratio term");
        assert_eq!(b.balance_milli(), 0);
    }

    /// A clock that counts its readings.
    #[derive(Clone, Default)]
    struct Counting {
        clock: ManualClock,
        reads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Clock for Counting {
        fn now_nanos(&self) -> u64 {
            self.reads
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.clock.now_nanos()
        }
    }

    impl Counting {
        fn reads(&self) -> usize {
            self.reads.load(std::sync::atomic::Ordering::Relaxed)
        }
    }

    #[test]
    fn only_a_withdrawal_drawing_on_the_floor_reads_the_clock() {
        let clock = Counting::default();
        let b = RetryBudget::builder()
            .ratio(1.0)
            .min_retries_per_sec(10)
            .initial_balance(0)
            .clock(clock.clone())
            .build()
            .unwrap();
        let built = clock.reads();
        for _ in 0..100 {
            b.deposit();
            assert!(b.try_withdraw());
        }
        assert_eq!(
            clock.reads(),
            built,
            "the ratio term covered every withdrawal"
        );
        assert!(!b.try_withdraw(), "both terms empty");
        assert_eq!(clock.reads(), built + 1, "the refusal asked the floor");
        clock.clock.advance(Duration::from_millis(100));
        assert!(b.try_withdraw(), "from the floor");
        assert_eq!(clock.reads(), built + 2);

        let clock = Counting::default();
        let b = RetryBudget::builder()
            .ratio(0.5)
            .min_retries_per_sec(0)
            .clock(clock.clone())
            .build()
            .unwrap();
        let built = clock.reads();
        assert!(!b.try_withdraw());
        assert_eq!(clock.reads(), built, "no floor: never a clock read");
    }

    /// Retries granted are at most `initial + ratio × calls + floor × seconds`, on an
    /// arbitrary single-threaded schedule of deposits, withdrawals and time.
    #[test]
    fn retries_are_bounded_by_calls_time_and_the_initial_balance() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for (ratio, floor, max, initial) in [(0.2, 10, 100, 10), (1.0, 3, 5, 0), (0.001, 1, 1, 1)] {
            let clock = ManualClock::new();
            let b = RetryBudget::builder()
                .ratio(ratio)
                .min_retries_per_sec(floor)
                .max_balance(max)
                .initial_balance(initial)
                .clock(clock.clone())
                .build()
                .unwrap();
            let (mut calls, mut granted, mut ms) = (0u64, 0u64, 0u64);
            for _ in 0..20_000 {
                match next() % 4 {
                    0 => {
                        b.deposit();
                        calls += 1;
                    }
                    1 => {
                        let d = next() % 50;
                        clock.advance(Duration::from_millis(d));
                        ms += d;
                    }
                    _ => granted += u64::from(b.try_withdraw()),
                }
                let bound_milli = u64::from(initial) * MILLI
                    + calls * (ratio * MILLI as f64).round() as u64
                    + u64::from(floor) * ms;
                assert!(
                    granted * MILLI <= bound_milli,
                    "{granted} granted, bound {bound_milli}"
                );
                assert!(b.balance_milli() <= u64::from(max + floor.min(max)) * MILLI);
            }
            assert!(granted > 0);
        }
    }

    #[test]
    fn deposit_at_cap_writes_nothing() {
        let clock = ManualClock::new();
        let b = budget(1.0, 5, 5, &clock);
        let before = (
            b.ratio.load(Ordering::Relaxed),
            b.floor.load(Ordering::Relaxed),
        );
        b.deposit();
        assert_eq!(
            (
                b.ratio.load(Ordering::Relaxed),
                b.floor.load(Ordering::Relaxed)
            ),
            before
        );
    }

    #[test]
    fn debug_shows_both_terms() {
        let clock = ManualClock::new();
        let s = format!("{:?}", budget(0.2, 10, 100, &clock));
        assert!(
            s.contains("ratio_milli: 10000")
                && s.contains("FloorWord")
                && s.contains("floor_max_milli: 10000"),
            "{s}"
        );
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
