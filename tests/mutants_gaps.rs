//! Tests that close gaps found by mutation testing (`scripts/mutants.sh`, results in
//! `docs/MUTANTS.md`): each test names the mutant(s) it now catches.

use fusebox::{Breaker, Guard, ManualClock, Recorded, Retry, RetryBudget, State, Verdict};
use std::sync::Arc;
use std::time::Duration;

/// `State`'s `Display` is what logs and the transition listener print; every state has
/// its own, stable name. Catches `src/state.rs: replace <impl fmt::Display for
/// State>::fmt -> fmt::Result with Ok(Default::default())` (which prints nothing).
#[test]
fn state_display_names() {
    let names = [
        (State::Closed, "closed"),
        (State::Open, "open"),
        (State::HalfOpen, "half-open"),
        (State::ForcedOpen, "forced-open"),
        (State::Disabled, "disabled"),
    ];
    for (state, name) in names {
        assert_eq!(state.to_string(), name, "{state:?}");
    }
}

/// `Recorded::is_stale` is the caller's one-call test for "my verdict changed
/// nothing". Catches `src/breaker.rs: replace Recorded::is_stale -> bool with false`
/// (the suites matched on `Recorded::Stale` and never called it on a stale report).
#[test]
fn is_stale_tells_a_stale_report() {
    let breaker = Breaker::builder().build().expect("default config");
    let early = breaker.try_acquire().expect("closed admits");
    let fresh = breaker.try_acquire().expect("closed admits");
    let recorded = fresh.record(Verdict::Success);
    assert!(!recorded.is_stale(), "{recorded:?}");

    breaker.force_open().expect("closed -> forced open");
    let recorded = early.record(Verdict::failure());
    assert_eq!(recorded, Recorded::Stale);
    assert!(recorded.is_stale());
    assert_eq!(recorded.transition(), None);
}

/// `RetryBudget::balance` is the balance in tokens, `balance_milli / 1000`: the suites
/// only ever read `balance_milli`. Catches the five `src/budget.rs` mutants of
/// `RetryBudget::balance` (`-> 0.0`, `-> 1.0`, `-> -1.0`, `/` -> `%`, `/` -> `*`).
#[test]
fn budget_balance_is_in_tokens() {
    let clock = ManualClock::new(); // never advanced: no time-based refill
    let budget = RetryBudget::builder()
        .ratio(0.25)
        .initial_balance(2)
        .clock(clock.clone())
        .build()
        .expect("valid budget");
    assert_eq!(budget.balance(), 2.0);
    budget.deposit();
    assert_eq!(budget.balance_milli(), 2_250);
    assert_eq!(budget.balance(), 2.25);
    assert!(budget.try_withdraw());
    assert_eq!(budget.balance(), 1.25);
}

/// `Guard::retry` and `Guard::budget` hand back what the guard was built with. Catches
/// `src/guard.rs: replace Guard<C, S>::retry -> &Retry with Box::leak(Box::new(Default::default()))`
/// (the default policy has 3 attempts, not 7) and `replace Guard<C, S>::budget ->
/// Option<&Arc<RetryBudget>> with None`.
#[test]
fn guard_accessors_return_its_parts() {
    let breaker = Arc::new(Breaker::builder().build().expect("default config"));
    let retry = Retry::builder()
        .max_attempts(7)
        .constant_backoff(Duration::from_millis(3))
        .build()
        .expect("valid retry");
    let backoff = retry.backoff();
    let guard = Guard::new(Arc::clone(&breaker), retry);
    assert_eq!(guard.retry().max_attempts(), 7);
    assert_eq!(guard.retry().backoff(), backoff);
    assert!(guard.budget().is_none());
    assert!(Arc::ptr_eq(guard.breaker(), &breaker));

    let budget = Arc::new(RetryBudget::builder().build().expect("default budget"));
    let guard = guard.with_budget(Arc::clone(&budget));
    let held = guard
        .budget()
        .expect("the guard holds the budget it was given");
    assert!(Arc::ptr_eq(held, &budget));
}
