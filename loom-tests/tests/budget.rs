#![cfg(loom)]
//! Property 7, the retry budget's token arithmetic is exact under concurrency.
//!
//! The budget holds two terms: the ratio term (a plain count of thousandths of a
//! token, the initial balance plus the deposits) and the floor term (its balance in
//! thousandths and the time of its last refill, packed in one word). Every operation
//! is one compare-and-swap of one of the two words, so every concurrent run must be
//! explained by some sequential order of the operations.
//!
//! With a fixed clock the budget is a pure function of the operations (and of the
//! time that passed before they started); the models with a fixed clock compare each
//! run with [`Spec`], the arithmetic from the module documentation, applied to every
//! interleaving of the threads' operations:
//!
//! - the withdrawals granted to each thread and the final balance are those of some
//!   interleaving (so no token is granted twice, none is lost, and a refusal took
//!   nothing), and every interleaving's outcome is reached by some run;
//! - never overdrawn: the tokens granted are at most the initial balance plus the
//!   deposits plus the floor's refill for the time elapsed, and without a floor,
//!   below the cap, the final balance is exactly `initial + deposits × ratio −
//!   grants` (conservation);
//! - every balance any thread reads, after any of its operations, is within
//!   `0..=max_balance + floor cap` (an underflow would wrap far above it).
//!
//! The `check` models with a floor (`budget_floor_…`) make withdrawals draw on both
//! terms: some are covered by the ratio term (no clock read) while another, racing
//! them, refills the floor term and takes from it.
//!
//! The refill models let time pass and check that the floor is paid once for the
//! time elapsed, however many threads withdraw, and that the refill mark never moves
//! backwards.

use fusebox::{Clock, ManualClock, RetryBudget};
use fusebox_loom_tests::{Stats, Turns, Witness};
use loom::sync::Arc;
use loom::thread::{self, ThreadId};
use std::sync::{Arc as StdArc, Mutex as StdMutex};
use std::time::Duration;

const MILLI: u64 = 1000;

/// One operation on the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Deposit,
    Withdraw,
}

use Op::{Deposit, Withdraw};

/// The budget's arithmetic with a fixed clock, one operation at a time: the
/// sequential specification (thousandths of a token; the floor's time in ms).
#[derive(Clone, Copy, Debug)]
struct Spec {
    /// The ratio term.
    ratio: u64,
    deposit: u64,
    /// The ratio term's cap.
    max: u64,
    /// The floor term as last refilled, and when.
    floor: u64,
    mark_ms: u64,
    /// The floor's refill per ms, and its cap.
    floor_per_ms: u64,
    floor_max: u64,
    /// The fixed clock's reading, in ms since the budget was built.
    now_ms: u64,
}

impl Spec {
    /// Apply `op`; a withdrawal returns what it did.
    fn apply(&mut self, op: Op) -> Option<Took> {
        match op {
            Deposit => {
                self.ratio = (self.ratio + self.deposit).min(self.max);
                None
            }
            Withdraw if self.ratio >= MILLI => {
                self.ratio -= MILLI;
                Some(Took::Ratio)
            }
            // No floor: nothing to refill, and no clock to read.
            Withdraw if self.floor_per_ms == 0 => Some(Took::Nothing),
            Withdraw => {
                // The ratio term is short: read the clock, refill the floor term and
                // take from it.
                let elapsed = self.now_ms.saturating_sub(self.mark_ms);
                let refilled = (self.floor + elapsed * self.floor_per_ms).min(self.floor_max);
                self.mark_ms = self.mark_ms.max(self.now_ms);
                if refilled >= MILLI {
                    self.floor = refilled - MILLI;
                    Some(Took::Floor)
                } else {
                    self.floor = refilled;
                    Some(Took::NothingAfterTheClock)
                }
            }
        }
    }

    /// What `RetryBudget::balance_milli` reports.
    fn balance(&self) -> u64 {
        self.ratio + self.floor
    }
}

/// What one withdrawal did, as its caller can tell: whether it was granted, and
/// whether it read the clock (only a withdrawal the ratio term does not cover asks
/// the floor, and only then is the clock read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Took {
    /// Granted from the ratio term, no clock read.
    Ratio,
    /// Granted from the floor term, after a clock read.
    Floor,
    /// Refused, no clock read (no floor).
    Nothing,
    /// Refused after a clock read.
    NothingAfterTheClock,
    /// Read the clock more than once: never a sequential outcome (reported by the
    /// model thread, as a spawned thread's panic would abort the whole test binary).
    ManyReadings { granted: bool, readings: usize },
}

impl Took {
    fn granted(self) -> bool {
        matches!(
            self,
            Took::Ratio | Took::Floor | Took::ManyReadings { granted: true, .. }
        )
    }

    /// What a caller sees of a withdrawal: its result and the clock readings it
    /// made (0 or 1).
    fn seen(granted: bool, readings: usize) -> Self {
        match (granted, readings) {
            (true, 0) => Took::Ratio,
            (true, 1) => Took::Floor,
            (false, 0) => Took::Nothing,
            (false, 1) => Took::NothingAfterTheClock,
            _ => Took::ManyReadings { granted, readings },
        }
    }
}

/// What a run produced: what each thread's withdrawals did, in its program order,
/// and the final balance in thousandths.
type Outcome = (Vec<Vec<Took>>, u64);

/// The outcomes of every interleaving of `threads` from `spec`, without duplicates.
fn sequential_outcomes(spec: Spec, threads: &[&[Op]]) -> Vec<Outcome> {
    fn go(
        spec: Spec,
        threads: &[&[Op]],
        next: &mut [usize],
        results: &mut Vec<Vec<Took>>,
        out: &mut Vec<Outcome>,
    ) {
        let mut done = true;
        for t in 0..threads.len() {
            let Some(&op) = threads[t].get(next[t]) else {
                continue;
            };
            done = false;
            let mut after = spec;
            let granted = after.apply(op);
            next[t] += 1;
            if let Some(g) = granted {
                results[t].push(g);
            }
            go(after, threads, next, results, out);
            if granted.is_some() {
                results[t].pop();
            }
            next[t] -= 1;
        }
        if done {
            let outcome = (results.clone(), spec.balance());
            if !out.contains(&outcome) {
                out.push(outcome);
            }
        }
    }
    let mut out = Vec::new();
    go(
        spec,
        threads,
        &mut vec![0; threads.len()],
        &mut vec![Vec::new(); threads.len()],
        &mut out,
    );
    out
}

/// A budget with a fixed clock: a pure token bucket, with a floor term refilled for
/// `elapsed_ms` (the time that passes between the build and the operations) when
/// `floor` is not 0.
#[derive(Clone, Copy, Debug)]
struct Config {
    initial: u32,
    ratio: f64,
    max: u32,
    floor: u32,
    elapsed_ms: u64,
}

impl Config {
    /// A budget with no floor.
    const fn no_floor(initial: u32, ratio: f64, max: u32) -> Self {
        Config {
            initial,
            ratio,
            max,
            floor: 0,
            elapsed_ms: 0,
        }
    }

    fn build(self, clock: impl Clock) -> RetryBudget {
        RetryBudget::builder()
            .ratio(self.ratio)
            .min_retries_per_sec(self.floor)
            .max_balance(self.max)
            .initial_balance(self.initial)
            .clock(clock)
            .build()
            .unwrap()
    }

    fn spec(self) -> Spec {
        Spec {
            ratio: u64::from(self.initial) * MILLI,
            deposit: (self.ratio * MILLI as f64).round() as u64,
            max: u64::from(self.max) * MILLI,
            floor: 0,
            mark_ms: 0,
            floor_per_ms: u64::from(self.floor),
            floor_max: u64::from(self.floor.min(self.max)) * MILLI,
            now_ms: self.elapsed_ms,
        }
    }
}

/// A manual clock that notes which thread made each reading, so a model can tell
/// whether a withdrawal read the clock. (A std mutex: loom runs one model thread at
/// a time, and nothing inside the lock is a loom operation, so it adds no choice
/// point.)
#[derive(Clone)]
struct ReadsBy {
    clock: ManualClock,
    readers: StdArc<StdMutex<Vec<ThreadId>>>,
}

impl ReadsBy {
    fn new(clock: &ManualClock) -> Self {
        Self {
            clock: clock.clone(),
            readers: StdArc::default(),
        }
    }

    /// The readings the current thread has made.
    fn mine(&self) -> usize {
        let me = thread::current().id();
        self.readers
            .lock()
            .unwrap()
            .iter()
            .filter(|&&t| t == me)
            .count()
    }
}

impl Clock for ReadsBy {
    fn now_nanos(&self) -> u64 {
        self.readers.lock().unwrap().push(thread::current().id());
        self.clock.now_nanos()
    }
}

/// Run `ops` on `budget`, checking the balance after each; what the withdrawals
/// did (their results and whether they read `clock`). Each operation is preceded by
/// a tick of `turns`: without them loom never tries a withdrawal before the other
/// thread's deposits at the cap (see [`Turns`]). `max_milli` is the most the two
/// terms can hold together.
fn run_ops(
    budget: &RetryBudget,
    clock: &ReadsBy,
    turns: &Turns,
    ops: &[Op],
    max_milli: u64,
) -> Vec<Took> {
    let mut took = Vec::new();
    for &op in ops {
        turns.tick();
        match op {
            Deposit => {
                let before = clock.mine();
                budget.deposit();
                assert_eq!(clock.mine(), before, "a deposit read the clock");
            }
            Withdraw => {
                let before = clock.mine();
                let granted = budget.try_withdraw();
                took.push(Took::seen(granted, clock.mine() - before));
            }
        }
        let seen = budget.balance_milli();
        assert!(
            seen <= max_milli,
            "balance {seen} after {op:?}: over the cap {max_milli} (or wrapped)"
        );
    }
    took
}

/// The model: thread 0 is the model's own thread, the others are spawned; each runs
/// its operations. The outcome must be a sequential one, every sequential outcome
/// must be reached, and the token accounting must balance.
fn check(
    name: &'static str,
    config: Config,
    threads: &'static [&'static [Op]],
    bound: Option<usize>,
) {
    let spec = config.spec();
    let expected = sequential_outcomes(spec, threads);
    let witnesses: Vec<Witness> = expected
        .iter()
        .map(|(took, balance)| {
            let label = format!("withdrawals {took:?}, final balance {balance}");
            Witness::new(label.leak())
        })
        .collect();
    let stats = match bound {
        None => Stats::unbounded(name),
        Some(b) => Stats::bounded(name, b),
    };
    let witnesses_in = witnesses.clone();
    // The most both terms hold together.
    let most = spec.max + spec.floor_max;
    let body = stats.count(move || {
        let clock = ManualClock::new();
        let reads = ReadsBy::new(&clock);
        let budget = Arc::new(config.build(reads.clone()));
        clock.advance(Duration::from_millis(config.elapsed_ms));
        let turns = Turns::new();
        let handles: Vec<_> = threads[1..]
            .iter()
            .map(|&ops| {
                let (budget, reads, turns) = (budget.clone(), reads.clone(), turns.clone());
                thread::spawn(move || run_ops(&budget, &reads, &turns, ops, most))
            })
            .collect();
        let mut took = vec![run_ops(&budget, &reads, &turns, threads[0], most)];
        took.extend(handles.into_iter().map(|h| h.join().unwrap()));
        let balance = budget.balance_milli();

        // Never overdrawn, and conservation below the cap.
        let grants = took.iter().flatten().filter(|t| t.granted()).count() as u64;
        let deposits = threads
            .iter()
            .flat_map(|ops| ops.iter())
            .filter(|&&op| op == Deposit)
            .count() as u64;
        let paid_in = spec.ratio + deposits * spec.deposit;
        let floor_refill = (config.elapsed_ms * spec.floor_per_ms).min(spec.floor_max);
        assert!(
            grants * MILLI <= paid_in + floor_refill,
            "{grants} tokens granted, {paid_in} thousandths paid in, {floor_refill} refilled"
        );
        if paid_in <= spec.max {
            // The floor term is refilled lazily: untouched, it still reads 0.
            assert!(
                balance + grants * MILLI <= paid_in + floor_refill,
                "more than paid in: {grants} grants, {deposits} deposits, balance {balance}"
            );
            if spec.floor_per_ms == 0 {
                assert_eq!(
                    balance,
                    paid_in - grants * MILLI,
                    "not conserved: {grants} grants, {deposits} deposits"
                );
            }
        }
        assert!(balance <= most, "{balance} over the caps {most}");

        // Linearisable: the outcome of some sequential order.
        let got = (took, balance);
        let Some(i) = expected.iter().position(|o| *o == got) else {
            panic!("no sequential order explains {got:?}; the sequential outcomes: {expected:?}");
        };
        witnesses_in[i].saw();
    });
    match bound {
        None => fusebox_loom_tests::exhaustive(body),
        Some(b) => {
            let mut model = loom::model::Builder::new();
            model.preemption_bound = Some(b);
            model.check(body);
        }
    }
    stats.report();
    for w in &witnesses {
        w.assert_seen();
    }
}

/// Two tokens, two threads each withdrawing twice: exactly two grants in all, in any
/// split between the threads, and a balance of exactly 0.
#[test]
fn budget_two_withdrawers_never_overdraw() {
    check(
        "budget::budget_two_withdrawers_never_overdraw",
        Config::no_floor(2, 0.5, 10),
        &[&[Withdraw, Withdraw], &[Withdraw, Withdraw]],
        None,
    );
}

/// Three threads (bound 3): one token, two withdrawers and a depositor adding
/// 2 × 0.5 token. The second withdrawal is granted only if both deposits landed
/// before it; the balance is `2000 − 1000 × grants` exactly.
#[test]
fn budget_withdrawers_and_depositor_three_threads() {
    check(
        "budget::budget_withdrawers_and_depositor_three_threads",
        Config::no_floor(1, 0.5, 10),
        &[&[Withdraw], &[Withdraw], &[Deposit, Deposit]],
        Some(3),
    );
}

/// One thread deposits three times (0.4 token each), the other withdraws twice from
/// one token: the first withdrawal is always granted, the second only after all
/// three deposits; the final balance is conserved exactly (1200 or 200).
#[test]
fn budget_deposits_and_withdrawals_conserve() {
    check(
        "budget::budget_deposits_and_withdrawals_conserve",
        Config::no_floor(1, 0.4, 10),
        &[&[Deposit, Deposit, Deposit], &[Withdraw, Withdraw]],
        None,
    );
}

/// Cap 2 tokens, one token in, two racing deposits of 0.6: 2.2 tokens clipped to
/// exactly 2, whichever lands first, and no thread ever reads more than the cap.
#[test]
fn budget_racing_deposits_clip_at_the_cap() {
    check(
        "budget::budget_racing_deposits_clip_at_the_cap",
        Config::no_floor(1, 0.6, 2),
        &[&[Deposit], &[Deposit]],
        None,
    );
}

/// Starting at the cap (2 tokens): deposits at the cap change nothing (the balance
/// stays 2000 until the withdrawal), the deposits after it refill up to the cap and
/// no further.
#[test]
fn budget_deposits_at_the_cap_change_nothing() {
    check(
        "budget::budget_deposits_at_the_cap_change_nothing",
        Config::no_floor(2, 0.6, 2),
        &[&[Deposit, Deposit], &[Withdraw, Deposit]],
        None,
    );
}

/// Both terms, two threads: one token in the ratio term, a deposit of half a token,
/// and 150 ms of floor (1.5 tokens, not yet refilled). A withdraws twice, B deposits
/// and withdraws: the ratio term covers one withdrawal (1.5 tokens hold one whole
/// token), the floor term one more, so exactly two of the three are granted, and
/// which one is refused depends on the order. A withdrawal covered by the ratio term
/// races another that refills the floor term and takes from it; 0.5 token is left
/// in each term.
#[test]
fn budget_floor_refill_races_ratio_withdrawals() {
    check(
        "budget::budget_floor_refill_races_ratio_withdrawals",
        Config {
            initial: 1,
            ratio: 0.5,
            max: 10,
            floor: 10,
            elapsed_ms: 150,
        },
        &[&[Withdraw, Withdraw], &[Deposit, Withdraw]],
        None,
    );
}

/// Two threads withdrawing from the floor term at once, beside a deposit: the ratio
/// term starts empty and B's deposit of 0.6 token never makes it whole, so every
/// withdrawal reads the ratio word and goes on to the floor term; 250 ms of floor
/// make 2.5 tokens, refilled once however many withdrawals race for it. A withdraws
/// twice, B deposits then withdraws: exactly two of the three are granted, and 0.6 +
/// 0.5 token are left.
#[test]
fn budget_two_floor_withdrawers_and_a_deposit() {
    check(
        "budget::budget_two_floor_withdrawers_and_a_deposit",
        Config {
            initial: 0,
            ratio: 0.6,
            max: 10,
            floor: 10,
            elapsed_ms: 250,
        },
        &[&[Withdraw, Withdraw], &[Deposit, Withdraw]],
        None,
    );
}

/// Both terms, three threads (bound 3): one token in the ratio term, 120 ms of floor
/// (1.2 tokens); A and B withdraw once, C deposits half a token and withdraws. Each
/// term holds one whole token, so exactly two of the three withdrawals are granted;
/// which thread is refused depends on the order.
#[test]
fn budget_floor_and_ratio_withdrawals_three_threads() {
    check(
        "budget::budget_floor_and_ratio_withdrawals_three_threads",
        Config {
            initial: 1,
            ratio: 0.5,
            max: 10,
            floor: 10,
            elapsed_ms: 120,
        },
        &[&[Withdraw], &[Withdraw], &[Deposit, Withdraw]],
        Some(3),
    );
}

/// A budget paid only by the floor: 10 tokens a second (10 thousandths per ms), no
/// ratio, empty at the start.
fn floor_only(clock: impl Clock) -> RetryBudget {
    RetryBudget::builder()
        .ratio(0.0)
        .min_retries_per_sec(10)
        .max_balance(10)
        .initial_balance(0)
        .clock(clock)
        .build()
        .unwrap()
}

/// A manual clock that notes every reading it gives, so a model can tell which
/// reading a withdrawal used. (A std mutex: loom runs one model thread at a time.)
#[derive(Clone)]
struct Noting {
    clock: ManualClock,
    readings: StdArc<StdMutex<Vec<Duration>>>,
}

impl Clock for Noting {
    fn now_nanos(&self) -> u64 {
        let now = self.clock.now_nanos();
        self.readings
            .lock()
            .unwrap()
            .push(Duration::from_nanos(now));
        now
    }
}

/// 150 ms pass (1.5 tokens of floor), then two threads withdraw: the refill is paid
/// once, not once per thread. Exactly one grant, 0.5 token left, and the refill mark
/// is at 150 ms (50 ms more refill exactly one more token, and nothing is left).
///
/// The refused withdrawal is a pure load when it sees the other's at first sight
/// (nothing to refill, nothing to take: no write); the threads tick around their
/// withdrawals so that loom also runs the spawned thread's whole withdrawal before
/// the model thread's (never reached without the ticks; see `Turns`).
#[test]
fn budget_refill_is_paid_once() {
    let stats = Stats::unbounded("budget::budget_refill_is_paid_once");
    let model_won = Witness::new("the model thread was granted the token");
    let spawned_won = Witness::new("the spawned thread was granted the token");
    let spawned_first = Witness::new("the spawned thread's whole withdrawal came first");
    let (model_won_in, spawned_won_in) = (model_won.clone(), spawned_won.clone());
    let spawned_first_in = spawned_first.clone();
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let budget = Arc::new(floor_only(clock.clone()));
        clock.advance(Duration::from_millis(150));
        let turns = Turns::new();

        let other = {
            let (budget, turns) = (budget.clone(), turns.clone());
            thread::spawn(move || {
                turns.tick();
                let granted = budget.try_withdraw();
                (granted, turns.tick())
            })
        };
        let start = turns.tick();
        let mine = budget.try_withdraw();
        let (other, other_done) = other.join().unwrap();
        if other_done < start {
            assert!(other && !mine);
            spawned_first_in.saw();
        }

        assert!(
            mine != other,
            "1.5 tokens refilled: exactly one grant (model {mine}, spawned {other})"
        );
        assert_eq!(budget.balance_milli(), 500);
        if mine {
            model_won_in.saw();
        } else {
            spawned_won_in.saw();
        }

        // The mark is at 150 ms: 50 ms more make exactly one more token.
        clock.advance(Duration::from_millis(50));
        assert!(budget.try_withdraw());
        assert_eq!(budget.balance_milli(), 0);
        assert!(!budget.try_withdraw());
    }));
    stats.report();
    model_won.assert_seen();
    spawned_won.assert_seen();
    spawned_first.assert_seen();
}

/// The clock moves during the race: 150 ms have passed; A withdraws while B advances
/// the clock by 40 ms and then withdraws. Whatever clock reading each withdrawal
/// used (A's may be older than B's refill mark, which then refills nothing and does
/// not move the mark back), 190 ms of floor are 1.9 tokens: exactly one grant and
/// 0.9 token left. Then the mark is at 190 ms: 10 ms more make exactly one token.
#[test]
fn budget_refill_with_the_clock_moving() {
    let stats = Stats::unbounded("budget::budget_refill_with_the_clock_moving");
    let a_won = Witness::new("A (clock unchanged by A) was granted the token");
    let b_won = Witness::new("B (after advancing the clock) was granted the token");
    let stale_reading =
        Witness::new("A read 150 ms and was refused: B's refill to 190 ms came first (mark kept)");
    let (a_won_in, b_won_in, stale_reading_in) =
        (a_won.clone(), b_won.clone(), stale_reading.clone());
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let readings = StdArc::new(StdMutex::new(Vec::new()));
        let budget = Arc::new(floor_only(Noting {
            clock: clock.clone(),
            readings: readings.clone(),
        }));
        readings.lock().unwrap().clear();
        clock.advance(Duration::from_millis(150));

        let b = {
            let (budget, clock) = (budget.clone(), clock.clone());
            thread::spawn(move || {
                clock.advance(Duration::from_millis(40));
                budget.try_withdraw()
            })
        };
        let a = budget.try_withdraw();
        let b = b.join().unwrap();

        assert!(
            a != b,
            "at most 1.9 tokens refilled, and at least 1.5: exactly one grant (A {a}, B {b})"
        );
        if a {
            a_won_in.saw();
        } else {
            b_won_in.saw();
            // B's own reading is 190 ms (it follows B's advance), so 150 ms is A's.
            if readings
                .lock()
                .unwrap()
                .contains(&Duration::from_millis(150))
            {
                stale_reading_in.saw();
            }
        }
        // B's withdrawal, at 190 ms, refilled up to 190 ms: whatever A did.
        assert_eq!(budget.balance_milli(), 900);

        clock.advance(Duration::from_millis(10));
        assert!(budget.try_withdraw(), "the mark is at 190 ms");
        assert_eq!(budget.balance_milli(), 0, "the mark was not moved back");
        assert!(!budget.try_withdraw());
    }));
    stats.report();
    a_won.assert_seen();
    b_won.assert_seen();
    stale_reading.assert_seen();
}

/// The specification itself on the examples of the module documentation, so a
/// wrong `Spec` cannot make the models above vacuous.
#[test]
fn budget_spec_matches_the_documentation() {
    use Took::{Floor, Nothing, NothingAfterTheClock, Ratio};
    let mut s = Config::no_floor(0, 0.5, 10).spec();
    assert_eq!(s.apply(Withdraw), Some(Nothing));
    s.apply(Deposit);
    s.apply(Deposit);
    assert_eq!(s.apply(Withdraw), Some(Ratio));
    assert_eq!(s.apply(Withdraw), Some(Nothing));
    assert_eq!(s.balance(), 0);

    let outcomes = sequential_outcomes(
        Config::no_floor(1, 0.4, 10).spec(),
        &[&[Deposit, Deposit, Deposit], &[Withdraw, Withdraw]],
    );
    let mut finals: Vec<_> = outcomes.iter().map(|(g, b)| (g[1].clone(), *b)).collect();
    finals.sort();
    assert_eq!(
        finals,
        [(vec![Ratio, Ratio], 200), (vec![Ratio, Nothing], 1200)]
    );

    // The floor term: its own cap (one second of floor), lazily refilled, and the
    // terms' fractions do not add up (`src/budget.rs` unit tests, same numbers).
    let mut s = Config {
        initial: 0,
        ratio: 0.5,
        max: 10,
        floor: 10,
        elapsed_ms: 50,
    }
    .spec();
    s.apply(Deposit);
    assert_eq!(s.apply(Withdraw), Some(NothingAfterTheClock));
    assert_eq!(s.balance(), 1000);
    s.now_ms = 100;
    assert_eq!(s.apply(Withdraw), Some(Floor));
    assert_eq!(s.balance(), 500);
    s.now_ms = 3_600_000;
    s.apply(Deposit);
    assert_eq!(
        s.balance(),
        1000,
        "one token in the ratio term, the floor term not refilled yet"
    );
    assert_eq!(s.apply(Withdraw), Some(Ratio));
    assert_eq!(s.balance(), 0);
    assert_eq!(s.apply(Withdraw), Some(Floor));
    assert_eq!(
        s.balance(),
        9_000,
        "refilled to its cap of 10 tokens, one taken"
    );
}
