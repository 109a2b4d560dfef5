//! Hedged attempts in `Guard::call_async` (feature `tokio`), on tokio's paused
//! clock; the breaker reads the same virtual time through `TokioClock`.
#![cfg(feature = "tokio")]

use fusebox::{
    Breaker, Event, Guard, Hedge, HedgedGuard, Retry, RetryBudget, Stop, TokioSleeper, Verdict,
    Winner,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

mod hedge_support;
use hedge_support::{Log, MS, TokioClock, breaker, retry};

/// A guard on `breaker(log)` and `retry(max_attempts)`, hedged after 100 ms at
/// most `max_hedges` times per call; `unbounded`: an extra-load allowance of one
/// hedge per call (the default's 5 % would cut the tests' bursts short).
fn hedged(
    log: &Log,
    max_attempts: u32,
    max_hedges: u32,
    unbounded: bool,
) -> HedgedGuard<fusebox::DefaultClassifier, TokioSleeper> {
    let mut hedge = Hedge::builder().after(100 * MS).max_hedges(max_hedges);
    if unbounded {
        hedge = hedge.max_extra_load(1.0);
    }
    Guard::new(breaker(log), retry(max_attempts))
        .with_sleeper(TokioSleeper)
        .with_hedging(hedge.build().unwrap())
}

/// The operation: attempt `n` (from 1) takes `script[n - 1].0` ms and
/// succeeds if `script[n - 1].1` (the last entry for later attempts).
async fn scripted(number: u32, script: [(u64, bool); 4]) -> Result<u32, ()> {
    let (ms, ok) = script[(number as usize - 1).min(3)];
    tokio::time::sleep(Duration::from_millis(ms)).await;
    if ok { Ok(number) } else { Err(()) }
}

/// The operation: attempt `n` takes `latency(n)` and succeeds; counts calls.
async fn op(number: u32, latency: impl Fn(u32) -> u64, calls: &AtomicU32) -> Result<u32, ()> {
    calls.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(latency(number))).await;
    Ok(number)
}

#[tokio::test(start_paused = true)]
async fn a_slow_primary_loses_to_the_hedge_and_its_permit_is_cancelled() {
    let log = Log::default();
    let b = breaker(&log);
    let guard = Guard::new(Arc::clone(&b), retry(3))
        .with_sleeper(TokioSleeper)
        .with_hedging(Hedge::after(100 * MS).unwrap());
    let calls = AtomicU32::new(0);
    let start = tokio::time::Instant::now();
    let outcome = guard
        .call_async_outcome(|a| op(a.number, |n| if n == 1 { 10_000 } else { 5 }, &calls))
        .await;
    assert_eq!(outcome.stop, Stop::Succeeded);
    assert_eq!(outcome.value(), Some(&2));
    assert_eq!(outcome.winner(), Some(Winner::Hedge(1)));
    assert_eq!(outcome.attempts, 2);
    assert_eq!(start.elapsed(), 105 * MS);
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    // The primary's permit was dropped unrecorded: no verdict, no stale report.
    let s = b.snapshot();
    assert_eq!((s.samples, s.health), (0, Some(1.0)));
    assert_eq!(b.stale_reports(), 0);
    assert_eq!(b.limit().in_flight, 0);
    let log = log.lock().unwrap();
    assert_eq!(
        *log,
        ["hedge 2 100ms", "settled 1 true 1", "call_stopped"],
        "one hedge, which won, one attempt cancelled"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fast_primary_sends_no_hedge() {
    let log = Log::default();
    let guard = Guard::new(breaker(&log), retry(3))
        .with_sleeper(TokioSleeper)
        .with_hedging(Hedge::after(100 * MS).unwrap());
    let calls = AtomicU32::new(0);
    let outcome = guard
        .call_async_outcome(|a| op(a.number, |_| 99, &calls))
        .await;
    assert_eq!(outcome.winner(), Some(Winner::Primary));
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
}

fn empty_budget() -> Arc<RetryBudget> {
    Arc::new(
        RetryBudget::builder()
            .ratio(0.001)
            .min_retries_per_sec(0)
            .initial_balance(0)
            .build()
            .unwrap(),
    )
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_sends_no_hedge_and_the_primary_goes_on() {
    let log = Log::default();
    let guard = Guard::new(breaker(&log), retry(3))
        .with_sleeper(TokioSleeper)
        .with_budget(empty_budget())
        .with_hedging(Hedge::after(100 * MS).unwrap());
    let calls = AtomicU32::new(0);
    let start = tokio::time::Instant::now();
    let outcome = guard
        .call_async_outcome(|a| op(a.number, |_| 1_000, &calls))
        .await;
    assert_eq!(outcome.winner(), Some(Winner::Primary));
    assert_eq!(start.elapsed(), 1_000 * MS);
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_hedge_the_budget_refuses_gives_its_allowance_back() {
    // The extra-load allowance starts with 10 hedges. 15 slow calls whose
    // hedges the (empty) retry budget refuses must leave it as it was: once
    // the budget has tokens, the next 10 slow calls all hedge. Had each
    // refusal kept its allowance, it would be spent (10 - 15 + 15 x 5 %).
    let log = Log::default();
    let budget = empty_budget();
    let guard = Guard::new(breaker(&log), retry(3))
        .with_sleeper(TokioSleeper)
        .with_budget(Arc::clone(&budget))
        .with_hedging(Hedge::after(100 * MS).unwrap());
    let calls = AtomicU32::new(0);
    for _ in 0..15 {
        let outcome = guard
            .call_async_outcome(|a| op(a.number, |_| 1_000, &calls))
            .await;
        assert_eq!(outcome.winner(), Some(Winner::Primary));
    }
    assert_eq!(calls.load(Ordering::Relaxed), 15, "no hedge went out");
    // 0.001 a deposit: 20,000 deposits bank 20 tokens (its default cap is
    // higher), enough for the 10 hedges.
    for _ in 0..20_000 {
        budget.deposit();
    }
    assert!(budget.balance() >= 10.0, "{}", budget.balance());
    let mut hedged = 0;
    for _ in 0..10 {
        let outcome = guard
            .call_async_outcome(|a| op(a.number, |n| if n == 1 { 1_000 } else { 10 }, &calls))
            .await;
        if outcome.winner() == Some(Winner::Hedge(1)) {
            hedged += 1;
        }
    }
    assert_eq!(hedged, 10, "the allowance was given back");
}

#[tokio::test(start_paused = true)]
async fn a_hedge_in_flight_survives_the_budget_running_out() {
    let log = Log::default();
    // One token: the first hedge takes it, the second finds none.
    let budget = Arc::new(
        RetryBudget::builder()
            .ratio(0.001)
            .min_retries_per_sec(0)
            .initial_balance(1)
            .build()
            .unwrap(),
    );
    let guard = Guard::new(breaker(&log), retry(3))
        .with_sleeper(TokioSleeper)
        .with_budget(budget)
        .with_hedging(
            Hedge::builder()
                .after(100 * MS)
                .max_hedges(3)
                .build()
                .unwrap(),
        );
    let calls = AtomicU32::new(0);
    let start = tokio::time::Instant::now();
    let outcome = guard
        .call_async_outcome(|a| op(a.number, |n| if n == 1 { 10_000 } else { 500 }, &calls))
        .await;
    assert_eq!(outcome.winner(), Some(Winner::Hedge(1)));
    assert_eq!(start.elapsed(), 600 * MS, "the hedge ran to its end");
    assert_eq!(calls.load(Ordering::Relaxed), 2, "no second hedge");
}

#[tokio::test(start_paused = true)]
async fn max_hedges_is_respected() {
    let log = Log::default();
    let guard = hedged(&log, 3, 2, false);
    let calls = AtomicU32::new(0);
    let start = tokio::time::Instant::now();
    let outcome = guard
        .call_async_outcome(|a| op(a.number, |_| 1_000, &calls))
        .await;
    assert_eq!(outcome.winner(), Some(Winner::Primary), "the first to end");
    assert_eq!(start.elapsed(), 1_000 * MS);
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    let log = log.lock().unwrap();
    assert_eq!(
        *log,
        [
            "hedge 2 100ms",
            "hedge 3 200ms",
            "settled 2 false 2",
            "call_stopped"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn hedges_count_toward_max_attempts() {
    // `max_hedges(3)` allows three hedges, but a call's attempts, hedges
    // included, never exceed the retry's `max_attempts`: 2 sends one hedge,
    // and 1 (no retry) sends none.
    for (max_attempts, sent) in [(2u32, 1u32), (1, 0), (4, 3)] {
        let log = Log::default();
        let guard = Guard::new(breaker(&log), retry(max_attempts))
            .with_sleeper(TokioSleeper)
            .with_hedging(
                Hedge::builder()
                    .after(100 * MS)
                    .max_hedges(3)
                    .max_extra_load(1.0)
                    .build()
                    .unwrap(),
            );
        let calls = AtomicU32::new(0);
        let outcome = guard
            .call_async_outcome(|a| op(a.number, |_| 1_000, &calls))
            .await;
        assert_eq!(outcome.stop, Stop::Succeeded);
        assert_eq!(outcome.attempts, 1 + sent, "max_attempts {max_attempts}");
        assert_eq!(calls.load(Ordering::Relaxed), 1 + sent);
        let hedges = log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("hedge "))
            .count();
        assert_eq!(hedges as u32, sent, "max_attempts {max_attempts}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_degraded_breaker_sends_no_hedge() {
    let log = Log::default();
    let b = breaker(&log);
    // Health below `shed_below` (0.5) without tripping (the default policy
    // trips at 5 % health) and below `min_samples` (50): no grading in force,
    // so the primary is admitted, but a hedge is not.
    for _ in 0..20 {
        let _ = b.try_acquire().unwrap().record(Verdict::failure());
    }
    assert!(b.snapshot().health.unwrap() < 0.5, "{:?}", b.snapshot());
    log.lock().unwrap().clear();
    let guard = Guard::new(Arc::clone(&b), retry(2))
        .with_sleeper(TokioSleeper)
        .with_hedging(Hedge::after(100 * MS).unwrap());
    let calls = AtomicU32::new(0);
    let outcome = guard
        .call_async_outcome(|a| op(a.number, |_| 1_000, &calls))
        .await;
    if outcome.stop == Stop::Succeeded {
        assert_eq!(
            calls.load(Ordering::Relaxed),
            1,
            "no hedge below shed_below"
        );
    }
    assert!(!log.lock().unwrap().iter().any(|l| l.starts_with("hedge")));
}

#[tokio::test(start_paused = true)]
async fn a_half_open_breaker_sends_no_hedge() {
    let log = Log::default();
    // A breaker tripped by one failure, then half-open after its period.
    let sink = Arc::clone(&log);
    let b = Arc::new(
        Breaker::builder()
            .clock(TokioClock(tokio::time::Instant::now()))
            .trip_after_consecutive_failures(1)
            .open_for(Duration::from_secs(1))
            .open_jitter(0.0)
            .listener(move |e: &Event<'_>| sink.lock().unwrap().push(e.kind.as_str().into()))
            .build()
            .unwrap(),
    );
    let _ = b.try_acquire().unwrap().record(Verdict::failure());
    tokio::time::advance(Duration::from_secs(1)).await;
    log.lock().unwrap().clear();
    let guard = Guard::new(Arc::clone(&b), retry(2))
        .with_sleeper(TokioSleeper)
        .with_hedging(Hedge::after(100 * MS).unwrap());
    let calls = AtomicU32::new(0);
    let outcome = guard
        .call_async_outcome(|a| op(a.number, |_| 1_000, &calls))
        .await;
    assert_eq!(outcome.stop, Stop::Succeeded, "the probe answered");
    assert_eq!(calls.load(Ordering::Relaxed), 1, "no hedge while half-open");
    assert!(!log.lock().unwrap().iter().any(|l| l == "hedge"));
}

#[tokio::test(start_paused = true)]
async fn the_quantile_delay_follows_recorded_latencies() {
    let log = Log::default();
    let hedge = Hedge::builder()
        .at_quantile(0.5)
        .min_samples(8)
        .floor(MS)
        .cap(Duration::from_secs(10))
        .fallback(Duration::from_secs(10))
        .build()
        .unwrap();
    let guard = Guard::new(breaker(&log), retry(2))
        .with_sleeper(TokioSleeper)
        .with_hedging(hedge);
    let calls = AtomicU32::new(0);
    for _ in 0..8 {
        let outcome = guard
            .call_async_outcome(|a| op(a.number, |_| 40, &calls))
            .await;
        assert_eq!(outcome.winner(), Some(Winner::Primary));
    }
    assert!(
        log.lock().unwrap().is_empty(),
        "no hedge during the fallback"
    );
    let outcome = guard
        .call_async_outcome(|a| op(a.number, |n| if n == 1 { 5_000 } else { 40 }, &calls))
        .await;
    assert_eq!(outcome.winner(), Some(Winner::Hedge(1)));
    let log = log.lock().unwrap();
    // 40 ms lies in the histogram bucket [2^25, 2^25 × 5/4) ns = [33.6,
    // 41.9) ms: the delay is the bucket's upper end, which tokio's timer
    // rounds up to a whole millisecond. (The fallback would have been 10 s.)
    assert_eq!(log[0], "hedge 2 42ms", "{log:?}");
}

#[tokio::test(start_paused = true)]
async fn a_dead_downstream_gets_no_more_attempts_than_without_hedging() {
    for hedged in [false, true] {
        let log = Log::default();
        let guard = Guard::new(breaker(&log), retry(3)).with_sleeper(TokioSleeper);
        let calls = AtomicU32::new(0);
        let op = |_| {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Err::<u32, _>("refused") }
        };
        let outcome = if hedged {
            let hedge = Hedge::builder().after(MS).max_hedges(3).build().unwrap();
            guard.with_hedging(hedge).call_async_outcome(op).await
        } else {
            guard.call_async_outcome(op).await
        };
        assert_eq!(outcome.stop, Stop::Exhausted);
        assert_eq!(outcome.attempts, 3, "hedged: {hedged}");
        assert_eq!(calls.load(Ordering::Relaxed), 3, "hedged: {hedged}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_every_attempt_in_flight() {
    let log = Log::default();
    let b = breaker(&log);
    let retry = Retry::builder().deadline(300 * MS).build().unwrap();
    let guard = Guard::new(Arc::clone(&b), retry)
        .with_sleeper(TokioSleeper)
        .with_hedging(Hedge::after(100 * MS).unwrap());
    let calls = AtomicU32::new(0);
    let start = tokio::time::Instant::now();
    let outcome = guard
        .call_async_outcome(|a| op(a.number, |_| 10_000, &calls))
        .await;
    assert_eq!(outcome.stop, Stop::DeadlineExceeded);
    assert_eq!(start.elapsed(), 300 * MS);
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    // The primary's cut is a failure; the hedge was cancelled.
    assert_eq!(b.snapshot().samples, 1);
    let log = log.lock().unwrap();
    assert!(log.contains(&"settled 1 false 1".to_string()), "{log:?}");
}

#[tokio::test(start_paused = true)]
async fn hedges_add_at_most_the_extra_load_allowance() {
    // Every attempt is slow (a downstream that stopped answering quickly, before
    // anything fails): each call's attempt outlives the delay. 200 calls, one
    // after another. Unbounded (an allowance of one hedge per call), each call
    // hedges; by default, the allowance's 10 plus 5 % of the calls.
    for (ratio, most) in [(1.0, 200), (fusebox::DEFAULT_MAX_EXTRA_LOAD, 10 + 10)] {
        let log = Log::default();
        let hedged = Guard::new(breaker(&log), retry(2))
            .with_sleeper(TokioSleeper)
            .with_hedging(
                Hedge::builder()
                    .after(MS)
                    .max_extra_load(ratio)
                    .build()
                    .unwrap(),
            );
        let calls = AtomicU32::new(0);
        for _ in 0..200 {
            let r = hedged.call_async(|a| op(a.number, |_| 50, &calls)).await;
            assert!(r.is_ok());
        }
        let hedges = log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with("hedge "))
            .count();
        if ratio == 1.0 {
            assert_eq!(hedges, most, "one hedge per call without a bound");
        } else {
            assert!(
                hedges <= most,
                "{hedges} hedges for 200 calls, at most {most}"
            );
            assert!(hedges >= 10, "the allowance's first 10 were sent: {hedges}");
        }
        assert_eq!(calls.load(Ordering::Relaxed) as usize, 200 + hedges);
    }
}

#[tokio::test(start_paused = true)]
async fn hedges_settle_once_per_call_whatever_its_rounds() {
    // Round 1: the hedge (sent at 100 ms) fails at 130 ms, the first attempt
    // at 150 ms (before a second hedge was due): a retryable failure, a retry
    // after 10 ms. Round 2: the retry is slow too and is hedged again
    // (max_hedges 2 per call); its hedge answers.
    // One `HedgesSettled` for the call, with both rounds' counts, just before
    // its stop (it was told at the first round's end too, before the fix).
    let log = Log::default();
    let guard = hedged(&log, 4, 2, true);
    let outcome = guard
        .call_async_outcome(|a| {
            scripted(
                a.number,
                [(150, false), (30, false), (10_000, true), (5, true)],
            )
        })
        .await;
    assert_eq!(outcome.stop, Stop::Succeeded);
    assert_eq!(outcome.value(), Some(&4));
    assert_eq!(outcome.winner(), Some(Winner::Hedge(2)));
    assert_eq!(outcome.attempts, 4);
    let log = log.lock().unwrap();
    assert_eq!(
        *log,
        [
            "hedge 2 100ms",
            "retry",
            "hedge 4 100ms",
            "settled 2 true 1",
            "call_stopped"
        ],
        "{log:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn each_attempt_is_cut_at_its_own_limit() {
    // Attempt timeout 300 ms, a hedge at 100 ms, every attempt hangs: the
    // first attempt is cut at 300 ms, the hedge at 400 ms (its own start plus
    // the timeout, not when the first was cut), then the call has used its
    // two attempts.
    let log = Log::default();
    let retry = Retry::builder()
        .max_attempts(2)
        .attempt_timeout(300 * MS)
        .build()
        .unwrap();
    let guard = Guard::new(breaker(&log), retry)
        .with_sleeper(TokioSleeper)
        .with_hedging(Hedge::after(100 * MS).unwrap());
    let calls = AtomicU32::new(0);
    let start = tokio::time::Instant::now();
    let outcome = guard
        .call_async_outcome(|a| op(a.number, |_| 10_000, &calls))
        .await;
    assert_eq!(outcome.stop, Stop::Exhausted, "{outcome:?}");
    assert_eq!(outcome.attempts, 2);
    assert_eq!(start.elapsed(), 400 * MS);
    let log = log.lock().unwrap();
    let cuts: Vec<&String> = log.iter().filter(|l| l.starts_with("timed out")).collect();
    assert_eq!(
        cuts,
        ["timed out 1 at 300ms", "timed out 2 at 400ms"],
        "{log:?}"
    );
}

/// An attempt that wakes its task every 10 ms without answering (a future
/// polled often, as one sharing its task with others is).
async fn restless(number: u32, answer_after: u64) -> Result<u32, ()> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(answer_after);
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(10 * MS).await;
    }
    Ok(number)
}

#[tokio::test(start_paused = true)]
async fn the_hedge_delay_counts_from_the_attempt_not_from_the_last_poll() {
    // The first attempt wakes the call every 10 ms; the hedge is still due
    // 100 ms after the attempt began (a timer made afresh at each poll would
    // never fire), and answers first.
    let log = Log::default();
    let guard = Guard::new(breaker(&log), retry(2))
        .with_sleeper(TokioSleeper)
        .with_hedging(Hedge::after(100 * MS).unwrap());
    let start = tokio::time::Instant::now();
    let outcome = guard
        .call_async_outcome(|a| restless(a.number, if a.number == 1 { 1_000 } else { 5 }))
        .await;
    assert_eq!(outcome.winner(), Some(Winner::Hedge(1)), "{outcome:?}");
    assert_eq!(
        start.elapsed(),
        110 * MS,
        "the hedge's 5 ms, in 10 ms steps"
    );
    assert_eq!(log.lock().unwrap()[0], "hedge 2 100ms");
}

#[tokio::test(start_paused = true)]
async fn hedged_attempts_are_latency_samples_for_the_concurrency_limit() {
    // As any attempt: one in 16 per thread is a sample for the breaker's
    // concurrency limit (on by default), which measures the downstream from
    // them. 400 calls of 20 ms, none hedged (the delay is 1 s).
    let log = Log::default();
    let b = breaker(&log);
    assert!(b.limit().base_latency.is_none());
    let guard = Guard::new(Arc::clone(&b), retry(2))
        .with_sleeper(TokioSleeper)
        .with_hedging(Hedge::after(Duration::from_secs(1)).unwrap());
    let calls = AtomicU32::new(0);
    for _ in 0..400 {
        let r = guard.call_async(|a| op(a.number, |_| 20, &calls)).await;
        assert!(r.is_ok());
    }
    let base = b
        .limit()
        .base_latency
        .expect("the limit measured the hedged calls");
    assert!(base >= 19 * MS && base <= 21 * MS, "{base:?}");
}

#[tokio::test(start_paused = true)]
async fn max_hedges_holds_across_rounds() {
    // max_hedges(1) per call: round 1 sends its hedge (both attempts fail);
    // the retry's round sends none, however slow its attempt.
    let log = Log::default();
    let guard = hedged(&log, 4, 1, true);
    let outcome = guard
        .call_async_outcome(|a| {
            scripted(
                a.number,
                [(150, false), (30, false), (1_000, true), (1_000, true)],
            )
        })
        .await;
    assert_eq!(outcome.stop, Stop::Succeeded);
    assert_eq!(outcome.attempts, 3, "no hedge in the second round");
    assert_eq!(outcome.winner(), Some(Winner::Primary));
    let log = log.lock().unwrap();
    assert_eq!(
        *log,
        [
            "hedge 2 100ms",
            "retry",
            "settled 1 false 0",
            "call_stopped"
        ],
        "{log:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_hedged_call_frees_its_probe_slot() {
    // Half-open with one probe slot: a hedged call's attempt takes it; the
    // caller gives up (drops the call's future mid-attempt). The slot is free
    // again at once (a cancellation), not held until the probe lease ends.
    let b = hedge_support::due_for_one_probe(true).await;
    let guard = Guard::new(Arc::clone(&b), retry(2))
        .with_sleeper(TokioSleeper)
        .with_hedging(Hedge::after(100 * MS).unwrap());
    let calls = AtomicU32::new(0);
    let r = tokio::time::timeout(
        50 * MS,
        guard.call_async_outcome(|a| op(a.number, |_| 10_000, &calls)),
    )
    .await;
    assert!(r.is_err(), "the caller gave up");
    assert_eq!(calls.load(Ordering::Relaxed), 1, "the probe was in flight");
    hedge_support::assert_probe_slot_free(&b);
}

/// The hedges sent (`Hedge` events) in `log`.
fn hedges_in(log: &Log) -> usize {
    log.lock()
        .unwrap()
        .iter()
        .filter(|l| l.starts_with("hedge "))
        .count()
}

#[tokio::test(start_paused = true)]
async fn a_stalled_downstream_gets_one_hedge_not_one_per_call() {
    // Five calls at once to a downstream that answers no one for 10 s: all
    // are overdue at 100 ms. The first to find its hedge due hedges (one slow
    // call alone is a tail as far as anyone can tell); the others see a round
    // overdue already and no answer to anything begun since they began: a
    // stall, where a hedge is one more request nobody answers.
    let log = Log::default();
    let guard = hedged(&log, 3, 1, true);
    let calls = AtomicU32::new(0);
    let call = || guard.call_async_outcome(|a| op(a.number, |_| 10_000, &calls));
    let (a, b, c, d, e) = tokio::join!(call(), call(), call(), call(), call());
    for outcome in [a, b, c, d, e] {
        assert_eq!(outcome.stop, Stop::Succeeded);
    }
    assert_eq!(hedges_in(&log), 1, "{:?}", log.lock().unwrap());
    assert_eq!(calls.load(Ordering::Relaxed), 6);
}

#[tokio::test(start_paused = true)]
async fn a_tail_among_answered_calls_still_hedges() {
    // Two calls stuck from 0 ms, and a fast call (5 ms) begun `at` ms. At
    // 100 ms both stuck calls are overdue; the second hedges too only if the
    // downstream answered an attempt begun at least a quarter of the delay
    // (25 ms) after its own: then its slowness is its own (a tail), not the
    // downstream's.
    for (at, hedges) in [(10, 1), (30, 2)] {
        let log = Log::default();
        let guard = hedged(&log, 3, 1, true);
        let calls = AtomicU32::new(0);
        let stuck = || {
            guard.call_async_outcome(|a| op(a.number, |n| if n == 1 { 10_000 } else { 5 }, &calls))
        };
        let fast = async {
            tokio::time::sleep(Duration::from_millis(at)).await;
            guard
                .call_async_outcome(|a| op(a.number, |_| 5, &calls))
                .await
        };
        let (a, b, c) = tokio::join!(stuck(), stuck(), fast);
        for outcome in [a, b, c] {
            assert_eq!(outcome.stop, Stop::Succeeded);
        }
        assert_eq!(
            hedges_in(&log),
            hedges,
            "fast call at {at} ms: {:?}",
            log.lock().unwrap()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_overdue_round_counts_no_more_once_over_or_given_up() {
    // A slow call whose hedge wins (its round over), then a stuck call given
    // up at 150 ms (its future dropped with its round overdue): a later stuck
    // call, alone, hedges too. Were either still counted overdue, it would
    // read as a stall (another round overdue, nothing answered since) and
    // send no hedge.
    let log = Log::default();
    let guard = hedged(&log, 3, 1, true);
    let calls = AtomicU32::new(0);
    let won = guard
        .call_async_outcome(|a| op(a.number, |n| if n == 1 { 10_000 } else { 5 }, &calls))
        .await;
    assert_eq!(won.winner(), Some(Winner::Hedge(1)));
    let stuck = || guard.call_async_outcome(|a| op(a.number, |_| 10_000, &calls));
    assert!(tokio::time::timeout(150 * MS, stuck()).await.is_err());
    assert_eq!(hedges_in(&log), 2);
    let outcome = stuck().await;
    assert_eq!(outcome.attempts, 2);
    assert_eq!(hedges_in(&log), 3, "{:?}", log.lock().unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_call_backing_off_is_not_overdue() {
    // Call A: its attempt fails at 150 ms, its hedge (sent at 100 ms) at
    // 160 ms; it backs off 10 ms, then its last attempt. Call B, begun at
    // 65 ms, is stuck, its hedge due at 165 ms, while A backs off: A's round
    // is over, so B is the only overdue round and hedges. Had A's round been
    // counted until A ended, B would read a stall and not.
    let log = Log::default();
    let guard = hedged(&log, 3, 1, true);
    let calls = AtomicU32::new(0);
    let a = guard.call_async_outcome(|a| {
        scripted(
            a.number,
            [(150, false), (60, false), (1_000, true), (1_000, true)],
        )
    });
    let b = async {
        tokio::time::sleep(65 * MS).await;
        guard
            .call_async_outcome(|a| op(a.number, |n| if n == 1 { 10_000 } else { 5 }, &calls))
            .await
    };
    let (a, b) = tokio::join!(a, b);
    assert_eq!((a.stop, a.attempts), (Stop::Succeeded, 3));
    assert_eq!(
        b.winner(),
        Some(Winner::Hedge(1)),
        "{:?}",
        log.lock().unwrap()
    );
    assert_eq!(hedges_in(&log), 2);
}

#[tokio::test(start_paused = true)]
async fn a_call_given_up_settles_its_hedges_when_dropped() {
    // Given up before its hedge: nothing to tell. Given up with its hedge in
    // flight: the hedge settled, none won, both attempts cancelled (and no
    // stop: the caller gave up). Given up in its backoff after a round that
    // hedged: that round's counts, nothing in flight.
    let log = Log::default();
    let guard = hedged(&log, 3, 1, true);
    let calls = AtomicU32::new(0);
    let stuck = || guard.call_async_outcome(|a| op(a.number, |_| 10_000, &calls));
    assert!(tokio::time::timeout(50 * MS, stuck()).await.is_err());
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
    assert!(tokio::time::timeout(150 * MS, stuck()).await.is_err());
    assert_eq!(*log.lock().unwrap(), ["hedge 2 100ms", "settled 1 false 2"]);
    log.lock().unwrap().clear();
    // Both attempts fail at 150 ms (the hedge ends the round); the backoff
    // is 10 ms, and the caller gives up 5 ms into it.
    let failing = guard.call_async_outcome(|a| {
        scripted(
            a.number,
            [(150, false), (50, false), (10_000, true), (10_000, true)],
        )
    });
    assert!(tokio::time::timeout(155 * MS, failing).await.is_err());
    assert_eq!(
        *log.lock().unwrap(),
        ["hedge 2 100ms", "retry", "settled 1 false 0"],
        "{:?}",
        log.lock().unwrap()
    );
    assert_eq!(guard.guard().breaker().limit().in_flight, 0);
}
