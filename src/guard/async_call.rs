//! The async call: [`Guard::call_async`] and [`Guard::call_async_outcome`], the
//! shared [`Call`] core driven by a loop that awaits the attempt (cut at the
//! time limits) and an [`AsyncSleeper`].

use super::HedgedGuard;
use super::hedged::{Hedged, Pins};
use super::*;
use std::pin::pin;

/// The async loop (rules 1–7) over a [`Call`] and an operation, returning
/// `$done(outcome)`. A macro, not an `async fn`: the loop is expanded into the
/// caller's own future, so a call is one state machine, built in place, not a
/// future moved into another future.
macro_rules! async_loop {
    ($guard:expr, $op:ident, $done:expr) => {{
        let guard = $guard;
        // The first attempt of a call with no time limit and no timing, apart:
        // only the permit and `op` live across its await, so the healthy path
        // does not build (or store) the whole call's state.
        let (mut call, mut step) = if guard.lean::<T, E>() {
            let permit = match guard.breaker.try_acquire() {
                Ok(permit) => permit,
                Err(rejected) => return $done(Call::new(guard).rejected(rejected)),
            };
            if let Some(budget) = &guard.budget {
                budget.deposit();
            }
            let attempt = Attempt {
                number: 1,
                remaining: None,
                epoch: permit.epoch(),
            };
            let sample = sample_of(&guard.breaker, permit.holds_slot());
            let result = $op(attempt).await;
            let class = guard.classifier.classify(&result);
            // Rule 2, as in `Call::finish` (with a latency sample for the
            // concurrency limit, as there).
            let _recorded = record_with(&guard.breaker, permit, class.verdict(), sample);
            if let Classification::Success = class {
                guard.breaker.first_success();
                return $done(Outcome {
                    stop: Stop::Succeeded,
                    attempts: 1,
                    last: Some(result),
                    rejected: None,
                    hedge_won: 0,
                });
            }
            let mut call = Call::after_first(guard, None, None);
            let step = call.after_record(class, Some(result));
            (call, Some(step))
        } else {
            (Call::new(guard), None)
        };
        let timed = call.timed();
        loop {
            let next = match step.take() {
                Some(next) => next,
                None => {
                    let (permit, attempt) = match call.begin() {
                        Ok(admitted) => admitted,
                        Err(stop) => return $done(stop),
                    };
                    let started = if timed {
                        Some(guard.breaker.elapsed_ns())
                    } else {
                        None
                    };
                    match call.limit() {
                        None => {
                            let result = $op(attempt).await;
                            match started {
                                None => call.finish(permit, result),
                                Some(started) => call.finish_timed(permit, result, started),
                            }
                        }
                        Some((limit, by_deadline)) => {
                            let timer = guard.sleeper.sleep(limit);
                            match race($op(attempt), timer).await {
                                Some(result) => match started {
                                    None => call.finish(permit, result),
                                    Some(started) => call.finish_timed(permit, result, started),
                                },
                                None => call.cut(permit, limit, by_deadline),
                            }
                        }
                    }
                }
            };
            match next {
                Step::Done(done) => return $done(done),
                Step::Sleep(delay) => guard.sleeper.sleep(delay).await,
            }
        }
    }};
}

impl<C, S> Guard<C, S> {
    /// Run the async `op` under the rules, sleeping with the guard's
    /// [`AsyncSleeper`]. Runtime-agnostic; allocates nothing beyond what `op`'s
    /// futures and the sleeper's do.
    ///
    /// Time limits are real here: an attempt still running when the call's
    /// [deadline](crate::RetryBuilder::deadline) passes, or after the
    /// [attempt timeout](crate::RetryBuilder::attempt_timeout), is cut. Its
    /// future is dropped (raced against the sleeper's timer), the breaker records
    /// a failure (the downstream did not answer in time), and the call ends with
    /// [`GuardError::DeadlineExceeded`] (deadline) or goes on as after any
    /// retryable failure (attempt timeout). With neither set, no timer is made.
    ///
    /// Dropping the returned future at any await point (mid-attempt or
    /// mid-sleep) leaks nothing: an attempt's permit dropped unrecorded is a
    /// cancellation.
    ///
    /// # Errors
    ///
    /// [`GuardError`], keeping `op`'s error type.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(not(feature = "tokio"))] fn main() {}
    /// # #[cfg(feature = "tokio")]
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), fusebox::ConfigError> {
    /// use fusebox::{Breaker, Guard, GuardError, Retry, TokioSleeper};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let retry = Retry::builder().deadline(Duration::from_secs(1)).build()?;
    /// let guard = Guard::new(Arc::new(Breaker::builder().build()?), retry)
    ///     .with_sleeper(TokioSleeper);
    /// // A downstream that hangs for 4 s: the deadline cuts the attempt at 1 s.
    /// let started = tokio::time::Instant::now();
    /// let r: Result<(), GuardError<()>> = guard
    ///     .call_async(|_| async {
    ///         tokio::time::sleep(Duration::from_secs(4)).await;
    ///         Ok(())
    ///     })
    ///     .await;
    /// assert!(matches!(r, Err(GuardError::DeadlineExceeded { attempts: 1, last: None })));
    /// assert_eq!(started.elapsed(), Duration::from_secs(1));
    /// # Ok(())
    /// # }
    /// ```
    #[inline]
    pub async fn call_async<T, E, F, Fut>(&self, op: F) -> Result<T, GuardError<E>>
    where
        C: Classify<T, E>,
        S: AsyncSleeper,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut op = op;
        async_loop!(self, op, |done: Outcome<T, E>| done.into_result())
    }

    /// [`call_async`](Self::call_async), returning the whole [`Outcome`] (see
    /// [`call_outcome`](Self::call_outcome)).
    pub async fn call_async_outcome<T, E, F, Fut>(&self, op: F) -> Outcome<T, E>
    where
        C: Classify<T, E>,
        S: AsyncSleeper,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut op = op;
        async_loop!(self, op, |done: Outcome<T, E>| done)
    }

    /// The hedged call (`docs/DESIGN.md`, "Hedging"; the rounds are
    /// [`Hedged`]'s). The attempts in flight and the two timers are locals
    /// of this future (pinned with it: no allocation), lent to each poll.
    async fn call_hedged<T, E, F, Fut>(hedged: &HedgedGuard<C, S>, op: F) -> Outcome<T, E>
    where
        C: Classify<T, E>,
        S: AsyncSleeper,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        // Declared first, so dropped last: a call dropped mid-round drops its
        // attempts' futures before it cancels their permits.
        let mut call = Hedged::new(Call::tallied(hedged), op);
        let (a0, a1, a2, a3) = (pin!(None), pin!(None), pin!(None), pin!(None));
        let mut pins = Pins {
            attempts: [a0, a1, a2, a3],
            cut: pin!(None),
            timer: pin!(None),
        };
        std::future::poll_fn(move |cx| call.poll(cx, &mut pins)).await
    }
}

/// Poll `attempt` and then `timer` until one is ready: `Some` with the attempt's
/// output, or `None` if the timer fired first. The attempt is polled first, so
/// an attempt ready at the limit wins. Both are dropped when this returns.
async fn race<A: Future, B: Future<Output = ()>>(attempt: A, timer: B) -> Option<A::Output> {
    let mut attempt = std::pin::pin!(attempt);
    let mut timer = std::pin::pin!(timer);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(out) = attempt.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

impl<C, S> HedgedGuard<C, S> {
    /// [`Guard::call_async`] with hedged attempts (see [`HedgedGuard`] and
    /// `docs/DESIGN.md`, "Hedging"): allocates nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[cfg(not(feature = "tokio"))] fn main() {}
    /// # #[cfg(feature = "tokio")]
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), fusebox::ConfigError> {
    /// use fusebox::{Breaker, Guard, Hedge, Retry, TokioSleeper};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let hedged = Guard::new(Arc::new(Breaker::builder().build()?), Retry::default())
    ///     .with_sleeper(TokioSleeper)
    ///     .with_hedging(Hedge::after(Duration::from_millis(50))?);
    /// // The first attempt is stuck; the hedge at 50 ms answers.
    /// let r = hedged
    ///     .call_async(|attempt| async move {
    ///         if attempt.number == 1 {
    ///             std::future::pending::<()>().await;
    ///         }
    ///         Ok::<_, ()>(attempt.number)
    ///     })
    ///     .await;
    /// assert_eq!(r, Ok(2));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn call_async<T, E, F, Fut>(&self, op: F) -> Result<T, GuardError<E>>
    where
        C: Classify<T, E>,
        S: AsyncSleeper,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        Guard::call_hedged(self, op).await.into_result()
    }

    /// [`call_async`](Self::call_async), returning the whole [`Outcome`]
    /// ([`Outcome::winner`] says which attempt won).
    pub async fn call_async_outcome<T, E, F, Fut>(&self, op: F) -> Outcome<T, E>
    where
        C: Classify<T, E>,
        S: AsyncSleeper,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        Guard::call_hedged(self, op).await
    }
}
