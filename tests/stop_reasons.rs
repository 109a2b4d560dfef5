//! Every guarded call says why it stopped ([`Stop`], [`Outcome`]), and
//! `call_async`'s time limits are real: the deadline and the per-attempt timeout
//! cut an attempt in flight (its future dropped, a failure recorded).
#![cfg(feature = "tokio")]

use fusebox::{
    Breaker, Classification, Guard, GuardError, Jitter, ManualClock, ManualSleeper, Outcome,
    Rejected, Retry, RetryBudget, State, Stop, TokioSleeper,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

fn retry(max_attempts: u32) -> fusebox::RetryBuilder {
    Retry::builder()
        .max_attempts(max_attempts)
        .constant_backoff(10 * MS)
        .jitter(Jitter::None)
}

/// The breaker's clock on tokio's (paused, auto-advancing) time, so that the
/// deadline, measured on the breaker's clock, and the sleeps agree.
struct TokioClock(Instant);
impl fusebox::Clock for TokioClock {
    fn now_nanos(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Call inside the runtime (paused time starts with it).
fn breaker() -> Arc<Breaker> {
    Arc::new(
        Breaker::builder()
            .clock(TokioClock(Instant::now()))
            .build()
            .unwrap(),
    )
}

/// Sets its flag when dropped: proves an attempt's future was dropped.
struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The measurement: an attempt hanging for 4 s under a 1 s deadline
/// returned `Ok` after 4 s. Now the deadline cuts it at 1 s, drops its future,
/// and records a failure.
#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_an_attempt_in_flight() {
    let b = breaker();
    let guard = Guard::new(Arc::clone(&b), retry(3).deadline(SEC).build().unwrap())
        .with_sleeper(TokioSleeper);
    let dropped = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let outcome: Outcome<(), &str> = guard
        .call_async_outcome(|_| {
            let flag = DropFlag(Arc::clone(&dropped));
            async move {
                let _flag = flag;
                tokio::time::sleep(4 * SEC).await;
                Ok(())
            }
        })
        .await;
    assert_eq!(start.elapsed(), SEC, "cut at the deadline, not after 4 s");
    assert_eq!(outcome.stop, Stop::DeadlineExceeded);
    assert_eq!(outcome.attempts, 1);
    assert!(outcome.timed_out());
    assert!(outcome.last.is_none());
    assert!(
        dropped.load(Ordering::SeqCst),
        "the attempt's future was dropped"
    );
    let snapshot = b.snapshot();
    assert!(
        snapshot.health.unwrap() < 1.0,
        "the cut is a failure verdict"
    );
    assert_eq!(snapshot.probes_in_flight, 0);
    assert_eq!(
        outcome.into_result(),
        Err(GuardError::DeadlineExceeded {
            attempts: 1,
            last: None
        })
    );
}

/// With a deadline, a later attempt gets only the time left: here 1 s − 600 ms
/// − 10 ms of backoff, so the second attempt is cut at 390 ms.
#[tokio::test(start_paused = true)]
async fn a_later_attempt_is_cut_at_the_time_left() {
    let guard =
        Guard::new(breaker(), retry(3).deadline(SEC).build().unwrap()).with_sleeper(TokioSleeper);
    let start = Instant::now();
    let seen = std::sync::Mutex::new(Vec::new());
    let r: Result<(), GuardError<&str>> = guard
        .call_async(|a| {
            seen.lock().unwrap().push(a.remaining.unwrap());
            async move {
                if a.number == 1 {
                    tokio::time::sleep(600 * MS).await;
                    Err("slow failure")
                } else {
                    tokio::time::sleep(10 * SEC).await;
                    Ok(())
                }
            }
        })
        .await;
    assert_eq!(
        r,
        Err(GuardError::DeadlineExceeded {
            attempts: 2,
            last: None
        })
    );
    assert_eq!(start.elapsed(), SEC);
    assert_eq!(*seen.lock().unwrap(), [SEC, 390 * MS]);
}

/// The per-attempt timeout cuts a hanging attempt and the call goes on: the
/// second attempt answers.
#[tokio::test(start_paused = true)]
async fn the_attempt_timeout_cuts_and_the_call_retries() {
    let b = breaker();
    let guard = Guard::new(
        Arc::clone(&b),
        retry(3).attempt_timeout(200 * MS).build().unwrap(),
    )
    .with_sleeper(TokioSleeper);
    let start = Instant::now();
    let outcome: Outcome<u32, &str> = guard
        .call_async_outcome(|a| async move {
            if a.number == 1 {
                std::future::pending::<()>().await;
            }
            assert_eq!(a.remaining, Some(200 * MS));
            Ok(a.number)
        })
        .await;
    assert_eq!(outcome.stop, Stop::Succeeded);
    assert_eq!(outcome.attempts, 2);
    assert_eq!(outcome.value(), Some(&2));
    assert_eq!(start.elapsed(), 210 * MS, "200 ms cut + 10 ms backoff");
    let snapshot = b.snapshot();
    assert!(snapshot.health.unwrap() < 1.0, "the cut was a failure");
    assert_eq!(snapshot.samples, 2, "the cut and the success, in the spell");
}

/// Every attempt times out: `Exhausted` with no last error, and the message says
/// the last attempt timed out.
#[tokio::test(start_paused = true)]
async fn every_attempt_timing_out_is_exhausted_without_an_error() {
    let guard = Guard::new(
        breaker(),
        retry(2).attempt_timeout(50 * MS).build().unwrap(),
    )
    .with_sleeper(TokioSleeper);
    let r: Result<(), GuardError<&str>> = guard
        .call_async(|_| std::future::pending::<Result<(), &str>>())
        .await;
    let e = r.unwrap_err();
    assert_eq!(
        e,
        GuardError::Exhausted {
            attempts: 2,
            last: None
        }
    );
    assert_eq!(e.stop(), Stop::Exhausted);
    assert_eq!(
        e.to_string(),
        "all 2 attempts failed; the last attempt timed out"
    );
}

/// The sooner limit wins: a 100 ms attempt timeout under a 1 s deadline is an
/// attempt timeout (retried), and the deadline ends the call once the time left
/// is shorter than the timeout.
#[tokio::test(start_paused = true)]
async fn the_sooner_of_timeout_and_deadline_wins() {
    let guard = Guard::new(
        breaker(),
        retry(20)
            .attempt_timeout(400 * MS)
            .deadline(SEC)
            .build()
            .unwrap(),
    )
    .with_sleeper(TokioSleeper);
    let remaining = std::sync::Mutex::new(Vec::new());
    let start = Instant::now();
    let outcome: Outcome<(), &str> = guard
        .call_async_outcome(|a| {
            remaining.lock().unwrap().push(a.remaining.unwrap());
            std::future::pending()
        })
        .await;
    // 0–400 cut (timeout), sleep 10, 410–810 cut (timeout), sleep 10, 820–1000
    // cut (deadline).
    assert_eq!(outcome.stop, Stop::DeadlineExceeded);
    assert_eq!(outcome.attempts, 3);
    assert_eq!(start.elapsed(), SEC);
    assert_eq!(*remaining.lock().unwrap(), [400 * MS, 400 * MS, 180 * MS]);
}

/// An attempt that answers within its limit is not cut, and no timer is made
/// without a limit (a future that is ready at once needs no runtime timer).
#[tokio::test(start_paused = true)]
async fn an_attempt_within_its_limit_is_not_cut() {
    let guard = Guard::new(
        breaker(),
        retry(1).attempt_timeout(SEC).deadline(SEC).build().unwrap(),
    )
    .with_sleeper(TokioSleeper);
    let r: Result<u32, GuardError<&str>> = guard
        .call_async(|_| async {
            tokio::time::sleep(999 * MS).await;
            Ok(7)
        })
        .await;
    assert_eq!(r, Ok(7));
}

/// The blocking `call` cannot cut an attempt: it passes the sooner limit in
/// `Attempt::remaining`.
#[test]
fn the_sync_call_passes_the_sooner_limit() {
    let clock = ManualClock::new();
    let b = Arc::new(Breaker::builder().clock(clock.clone()).build().unwrap());
    let guard = Guard::new(
        b,
        retry(3)
            .attempt_timeout(300 * MS)
            .deadline(SEC)
            .build()
            .unwrap(),
    )
    .with_sleeper(ManualSleeper::new(clock.clone()));
    let mut seen = Vec::new();
    let r: Result<(), GuardError<&str>> = guard.call(|a| {
        seen.push(a.remaining);
        clock.advance(400 * MS); // overruns its timeout: not interrupted
        Err("slow")
    });
    // At 0: min(300, 1000); at 410: min(300, 590); at 820: min(300, 180).
    assert_eq!(seen, [Some(300 * MS), Some(300 * MS), Some(180 * MS)]);
    assert_eq!(r.unwrap_err().stop(), Stop::Exhausted);
}

// ---------------------------------------------------------------------------
// One test per stop reason, through `call_outcome` (sync) and checked against
// what `call` returns for the same outcome.
// ---------------------------------------------------------------------------

type Classifier = fn(&Result<u32, &'static str>) -> Classification;

/// `Ok(503)` and `Err` are retryable failures, `Ok(404)` is ignored, `Ok(400)` a
/// permanent failure (as an HTTP classifier might say); other `Ok`s succeed.
fn classify(r: &Result<u32, &'static str>) -> Classification {
    match r {
        Ok(503) | Err(_) => Classification::failure(),
        Ok(404) => Classification::Ignored,
        Ok(400) => Classification::permanent(),
        Ok(_) => Classification::Success,
    }
}

fn sync_guard(retry: Retry) -> Guard<Classifier, ManualSleeper> {
    let clock = ManualClock::new();
    let b = Arc::new(Breaker::builder().clock(clock.clone()).build().unwrap());
    Guard::new(b, retry)
        .with_classifier(classify as Classifier)
        .with_sleeper(ManualSleeper::new(clock))
}

#[test]
fn succeeded() {
    let guard = sync_guard(retry(3).build().unwrap());
    let o = guard.call_outcome(|a| if a.number < 2 { Err("x") } else { Ok(200) });
    assert_eq!(
        (o.stop, o.attempts, o.value()),
        (Stop::Succeeded, 2, Some(&200))
    );
    assert!(o.stop.is_success());
    assert_eq!(o.into_result(), Ok(200));
}

#[test]
fn ignored_ok_and_ignored_err_are_told_apart_from_permanent() {
    let guard = sync_guard(retry(3).build().unwrap());
    let o = guard.call_outcome(|_| Ok(404));
    assert_eq!((o.stop, o.attempts), (Stop::Ignored, 1));
    assert_eq!(o.into_result(), Ok(404), "an ignored Ok is returned");
    let o = guard.call_outcome(|_| Ok(400));
    assert_eq!((o.stop, o.attempts), (Stop::Permanent, 1));
    assert_eq!(o.value(), Some(&400));
}

#[test]
fn exhausted_keeps_the_last_ok_the_classifier_called_a_failure() {
    let calls = AtomicU32::new(0);
    let guard = sync_guard(retry(3).build().unwrap());
    let o = guard.call_outcome(|_| {
        calls.fetch_add(1, Ordering::Relaxed);
        Ok(503)
    });
    assert_eq!((o.stop, o.attempts), (Stop::Exhausted, 3));
    assert_eq!(o.value(), Some(&503), "the 503 is still there");
    assert_eq!(o.error(), None);
    assert_eq!(calls.load(Ordering::Relaxed), 3);
    // `call` returns the value as before; the reason is in the outcome only.
    assert_eq!(o.into_result(), Ok(503));
}

#[test]
fn exhausted_on_errors() {
    let guard = sync_guard(retry(2).build().unwrap());
    let o = guard.call_outcome(|_| Err("down"));
    assert_eq!(
        (o.stop, o.attempts, o.error()),
        (Stop::Exhausted, 2, Some(&"down"))
    );
    assert_eq!(
        o.into_result(),
        Err(GuardError::Exhausted {
            attempts: 2,
            last: Some("down")
        })
    );
}

#[test]
fn budget_exhausted() {
    let budget = Arc::new(
        RetryBudget::builder()
            .ratio(0.001)
            .min_retries_per_sec(0)
            .initial_balance(0)
            .build()
            .unwrap(),
    );
    let guard = sync_guard(retry(3).build().unwrap()).with_budget(budget);
    let o = guard.call_outcome(|_| Ok(503));
    assert_eq!((o.stop, o.attempts), (Stop::BudgetExhausted, 1));
    assert_eq!(o.value(), Some(&503));
    let o = guard.call_outcome(|_| Err("down"));
    assert_eq!(o.stop, Stop::BudgetExhausted);
    assert_eq!(o.into_result().unwrap_err().stop(), Stop::BudgetExhausted);
}

#[test]
fn deadline_before_a_sleep() {
    let guard = sync_guard(
        Retry::builder()
            .max_attempts(3)
            .constant_backoff(2 * SEC)
            .jitter(Jitter::None)
            .deadline(SEC)
            .build()
            .unwrap(),
    );
    let o = guard.call_outcome(|_| Err("down"));
    assert_eq!((o.stop, o.attempts), (Stop::DeadlineExceeded, 1));
    assert!(!o.timed_out(), "not cut: it ended with an error");
    assert_eq!(o.into_result().unwrap_err().stop(), Stop::DeadlineExceeded);
}

#[test]
fn rejected_before_the_first_attempt() {
    let guard = sync_guard(retry(3).build().unwrap());
    let _ = guard.breaker().force_open();
    let o = guard.call_outcome(|_| Ok(200));
    assert_eq!((o.stop, o.attempts), (Stop::Rejected, 0));
    assert_eq!(o.rejected, Some(Rejected::ForcedOpen));
    assert!(o.last.is_none() && !o.timed_out());
    let e = o.into_result().unwrap_err();
    assert_eq!(e.stop(), Stop::Rejected);
}

#[test]
fn rejected_mid_call_keeps_the_last_result() {
    // Trips on the first failure: the retry is refused by the now-open breaker.
    let clock = ManualClock::new();
    let b = Arc::new(
        Breaker::builder()
            .clock(clock.clone())
            .trip_after_consecutive_failures(1)
            .build()
            .unwrap(),
    );
    let guard = Guard::new(Arc::clone(&b), retry(3).build().unwrap())
        .with_classifier(classify as Classifier)
        .with_sleeper(ManualSleeper::new(clock));
    let o = guard.call_outcome(|_| Ok(503));
    assert_eq!(b.snapshot().state, State::Open);
    assert_eq!((o.stop, o.attempts), (Stop::RejectedMidCall, 1));
    assert_eq!(o.value(), Some(&503));
    assert!(matches!(o.rejected, Some(Rejected::Open { .. })));
    assert!(o.retry_after().is_some());
    let o = guard.call_outcome(|_| Ok(200));
    assert_eq!(o.stop, Stop::Rejected, "the next call is refused up front");
}

/// The async outcome agrees with the sync one, stop for stop.
#[tokio::test(start_paused = true)]
async fn the_async_outcome_reports_the_same_stops() {
    let guard = Guard::new(breaker(), retry(3).build().unwrap())
        .with_classifier(classify as Classifier)
        .with_sleeper(TokioSleeper);
    for (answer, stop, attempts) in [
        (Ok(200), Stop::Succeeded, 1),
        (Ok(404), Stop::Ignored, 1),
        (Ok(400), Stop::Permanent, 1),
        (Ok(503), Stop::Exhausted, 3),
        (Err("down"), Stop::Exhausted, 3),
    ] {
        let o = guard.call_async_outcome(|_| async move { answer }).await;
        assert_eq!((o.stop, o.attempts), (stop, attempts), "{answer:?}");
        assert_eq!(o.last, Some(answer));
    }
}

#[test]
fn stop_names_are_distinct_metric_labels() {
    let mut names: Vec<_> = Stop::ALL.iter().map(|s| s.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Stop::ALL.len());
    assert!(
        names
            .iter()
            .all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
    );
    assert_eq!(Stop::RejectedMidCall.to_string(), "rejected_mid_call");
}

// ---------------------------------------------------------------------------
// A retry at or past the deadline is not made: the call stops with
// `DeadlineExceeded`, keeps the previous attempt's result, takes no permit and
// records nothing. `attempts` counts the attempts sent.
// ---------------------------------------------------------------------------

/// A blocking sleeper on a manual clock that wakes `late` after the time asked
/// (a thread is woken late by a loaded scheduler).
struct LateSleeper {
    clock: ManualClock,
    late: Duration,
}

impl fusebox::Sleeper for LateSleeper {
    fn sleep(&self, duration: Duration) {
        self.clock.advance(duration + self.late);
    }
}

/// An async sleeper on tokio's timer that wakes `.0` after the time asked.
#[derive(Clone, Copy)]
struct LateTokioSleeper(Duration);

impl fusebox::AsyncSleeper for LateTokioSleeper {
    type Sleep = tokio::time::Sleep;
    fn sleep(&self, duration: Duration) -> tokio::time::Sleep {
        tokio::time::sleep(duration + self.0)
    }
}

/// Sync `call`: the first attempt takes 400 ms, the backoff is 500 ms, so the
/// retry is planned for 900 ms under a 1 s deadline; the sleeper wakes late.
/// Waking at 1 s or after, the retry is not sent: `DeadlineExceeded` with the
/// first attempt's error, one attempt, one failure on the breaker (which trips
/// on two), and the budget charged only for the sleep. Waking 1 ms before the
/// deadline, the retry goes with the 1 ms left.
#[test]
fn a_retry_at_or_past_the_deadline_is_not_sent() {
    for (late, sent) in [(100 * MS, false), (300 * MS, false), (99 * MS, true)] {
        let clock = ManualClock::new();
        let b = Arc::new(
            Breaker::builder()
                .clock(clock.clone())
                .trip_after_consecutive_failures(2)
                .build()
                .unwrap(),
        );
        let budget = Arc::new(
            RetryBudget::builder()
                .ratio(0.5)
                .min_retries_per_sec(0)
                .initial_balance(3)
                .clock(clock.clone())
                .build()
                .unwrap(),
        );
        let retry = Retry::builder()
            .max_attempts(3)
            .constant_backoff(500 * MS)
            .jitter(Jitter::None)
            .deadline(SEC)
            .build()
            .unwrap();
        let guard = Guard::new(Arc::clone(&b), retry)
            .with_budget(Arc::clone(&budget))
            .with_sleeper(LateSleeper {
                clock: clock.clone(),
                late,
            });
        let mut seen = Vec::new();
        let o: Outcome<u32, &str> = guard.call_outcome(|a| {
            seen.push(a.remaining);
            clock.advance(400 * MS);
            Err(["first", "second", "third"][a.number as usize - 1])
        });
        if sent {
            assert_eq!(seen, [Some(SEC), Some(MS)], "late by {late:?}");
            continue;
        }
        assert_eq!(seen, [Some(SEC)], "late by {late:?}: no second attempt");
        assert_eq!((o.stop, o.attempts), (Stop::DeadlineExceeded, 1));
        assert_eq!(o.last, Some(Err("first")), "the real last error is kept");
        assert!(!o.timed_out());
        assert_eq!(o.rejected, None);
        let s = b.snapshot();
        assert_eq!(
            (s.state, s.samples),
            (State::Closed, 1),
            "late by {late:?}: nothing recorded for the retry not sent"
        );
        // 3 tokens + 0.5 deposited by the call - 1 withdrawn for the sleep.
        assert_eq!(budget.balance_milli(), 2500, "late by {late:?}");
        assert_eq!(
            o.into_result(),
            Err(GuardError::DeadlineExceeded {
                attempts: 1,
                last: Some("first")
            })
        );
    }
}

/// A last `Ok` the classifier called a failure is kept too, and returned by
/// `call` as `Ok` (the guard's rule).
#[test]
fn a_retry_past_the_deadline_keeps_a_last_ok() {
    let clock = ManualClock::new();
    let b = Arc::new(Breaker::builder().clock(clock.clone()).build().unwrap());
    let retry = Retry::builder()
        .max_attempts(3)
        .constant_backoff(500 * MS)
        .jitter(Jitter::None)
        .deadline(SEC)
        .build()
        .unwrap();
    let guard = Guard::new(Arc::clone(&b), retry)
        .with_classifier(classify as Classifier)
        .with_sleeper(LateSleeper {
            clock: clock.clone(),
            late: 600 * MS,
        });
    let calls = AtomicU32::new(0);
    let o = guard.call_outcome(|_| {
        calls.fetch_add(1, Ordering::Relaxed);
        Ok(503)
    });
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!((o.stop, o.attempts), (Stop::DeadlineExceeded, 1));
    assert_eq!(o.value(), Some(&503));
    assert_eq!(b.snapshot().samples, 1);
    assert_eq!(o.into_result(), Ok(503));
}

/// A sleep that would end exactly at the deadline is not started either (the
/// retry after it could not be sent): no sleep, no token withdrawn.
#[test]
fn a_sleep_ending_at_the_deadline_is_not_started() {
    let clock = ManualClock::new();
    let b = Arc::new(Breaker::builder().clock(clock.clone()).build().unwrap());
    let budget = Arc::new(
        RetryBudget::builder()
            .ratio(0.5)
            .min_retries_per_sec(0)
            .initial_balance(3)
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let sleeper = ManualSleeper::new(clock.clone());
    let retry = Retry::builder()
        .max_attempts(3)
        .constant_backoff(600 * MS)
        .jitter(Jitter::None)
        .deadline(SEC)
        .build()
        .unwrap();
    let guard = Guard::new(Arc::clone(&b), retry)
        .with_budget(Arc::clone(&budget))
        .with_sleeper(sleeper.clone());
    let o: Outcome<u32, &str> = guard.call_outcome(|_| {
        clock.advance(400 * MS);
        Err("down")
    });
    assert_eq!((o.stop, o.attempts), (Stop::DeadlineExceeded, 1));
    assert_eq!(o.last, Some(Err("down")));
    assert_eq!(sleeper.sleeps(), 0, "400 ms + 600 ms ends at the deadline");
    assert_eq!(budget.balance_milli(), 3500, "nothing withdrawn");
}

/// `call_async`: the first attempt takes 10 ms and fails, the backoff of
/// 980 ms ends before the 1 s deadline, but the sleeper wakes 20 ms late, at
/// 1.01 s: the retry is not sent. The call stops at once with the first error.
#[tokio::test(start_paused = true)]
async fn a_late_wake_sends_no_async_retry_past_the_deadline() {
    let b = breaker();
    let retry = retry(3)
        .constant_backoff(980 * MS)
        .deadline(SEC)
        .build()
        .unwrap();
    let guard = Guard::new(Arc::clone(&b), retry).with_sleeper(LateTokioSleeper(20 * MS));
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let o: Outcome<(), &str> = guard
        .call_async_outcome(|a| {
            calls.fetch_add(1, Ordering::Relaxed);
            async move {
                tokio::time::sleep(10 * MS).await;
                Err(["first", "second", "third"][a.number as usize - 1])
            }
        })
        .await;
    assert_eq!(calls.load(Ordering::Relaxed), 1, "no second attempt");
    assert_eq!((o.stop, o.attempts), (Stop::DeadlineExceeded, 1));
    assert_eq!(o.last, Some(Err("first")));
    assert_eq!(start.elapsed(), 1010 * MS, "stopped on waking");
    assert_eq!(b.snapshot().samples, 1, "nothing recorded for the retry");
}

/// The reviewer's case: a backoff equal to the deadline and a sleeper 1 ms late
/// gave `DeadlineExceeded { attempts: 2, last: None }` (a second attempt cut at
/// once, the real error lost). The sleep would end at the deadline, so it is not
/// started: one attempt, its error kept.
#[tokio::test(start_paused = true)]
async fn a_backoff_equal_to_the_deadline_keeps_the_last_error() {
    let b = breaker();
    let retry = retry(3)
        .constant_backoff(SEC)
        .deadline(SEC)
        .build()
        .unwrap();
    let guard = Guard::new(Arc::clone(&b), retry).with_sleeper(LateTokioSleeper(MS));
    let start = Instant::now();
    let r: Result<(), GuardError<&str>> = guard
        .call_async(|a| async move {
            if a.number > 1 {
                tokio::time::sleep(10 * MS).await;
            }
            Err("down")
        })
        .await;
    assert_eq!(
        r,
        Err(GuardError::DeadlineExceeded {
            attempts: 1,
            last: Some("down")
        })
    );
    assert_eq!(start.elapsed(), Duration::ZERO, "no sleep");
    assert_eq!(b.snapshot().samples, 1);
}
