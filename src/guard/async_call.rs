//! The async call: [`Guard::call_async`] and [`Guard::call_async_outcome`], the
//! shared [`Call`] core driven by a loop that awaits the attempt (cut at the
//! time limits) and an [`AsyncSleeper`].

use super::HedgedGuard;
use super::*;
use crate::hedge::MAX_HEDGES;
use crate::state::State;
use std::pin::{Pin, pin};

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

    /// The hedged call (`docs/DESIGN.md`, "Hedging"): each round's attempt
    /// (the first, or a retry after the backoff, by the rules as always) may
    /// be joined by hedges, each its policy's delay after the last, while the
    /// call has hedges left and the breaker and budget allow. The attempts in
    /// flight live in fixed arrays inside this future (pinned with it: no
    /// allocation); the first success wins and the others are dropped, their
    /// permits with them (cancellations). A failure waits for the attempts
    /// still in flight; the round's last one decides by the retry rules.
    async fn call_hedged<T, E, F, Fut>(&self, hedge: &Hedge, mut op: F) -> Outcome<T, E>
    where
        C: Classify<T, E>,
        S: AsyncSleeper,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let breaker: &Breaker = &self.breaker;
        let mut call = Call::new(self);
        // One pinned place per attempt and per attempt's timer, each a local
        // of this future (so pinned with it), reached through its `Pin`.
        let (a0, a1, a2, a3) = (pin!(None), pin!(None), pin!(None), pin!(None));
        let mut attempts: [Pin<&mut Option<Fut>>; SLOTS] = [a0, a1, a2, a3];
        let (t0, t1, t2, t3) = (pin!(None), pin!(None), pin!(None), pin!(None));
        let mut timers: [Pin<&mut Option<S::Sleep>>; SLOTS] = [t0, t1, t2, t3];
        let mut permits: [Option<Permit<'_>>; SLOTS] = [None, None, None, None];
        let mut slots = [Slot::default(); SLOTS];
        let mut hedge_timer = pin!(None::<S::Sleep>);
        let max = hedge.max_hedges().min(MAX_HEDGES);
        let mut sent = 0u32;
        // False once the breaker or the budget refused a hedge: no new ones
        // for this call (those in flight go on).
        let mut hedging = true;
        hedge.deposit_call();
        loop {
            let (permit, attempt) = match call.begin() {
                Ok(admitted) => admitted,
                Err(stop) => return settled(breaker, stop, sent, 0, 0),
            };
            let round_start = breaker.elapsed_ns();
            let limit = call.limit();
            slots[0] = Slot {
                started: round_start,
                number: attempt.number,
                hedge: 0,
                limit,
            };
            timers[0].set(limit.map(|(d, _)| self.sleeper.sleep(d)));
            attempts[0].set(Some(op(attempt)));
            permits[0] = Some(permit);
            // The round's first hedge timer is made only once the attempt
            // has not answered at its first poll: a call that answers at once
            // (the healthy path) makes no timer (tokio's reads the clock and
            // takes a handle on the driver), and the delay counts from then.
            let delay = if hedging && sent < max {
                hedge.delay(round_start)
            } else {
                Duration::ZERO
            };
            let mut first_timer = (hedging && sent < max).then_some(delay);
            // The latest failure of the round while others were in flight.
            let mut kept: Option<Result<T, E>> = None;
            let mut last_class = Classification::failure();
            let (step, winner) = loop {
                let event = std::future::poll_fn(|cx| {
                    let polled = poll_round(cx, &mut attempts, &mut timers, hedge_timer.as_mut());
                    match (polled, first_timer.take()) {
                        (Poll::Pending, Some(delay)) => {
                            hedge_timer.set(Some(self.sleeper.sleep(delay)));
                            // Poll it (only it: the attempts were just polled),
                            // so that it wakes this task.
                            match hedge_timer.as_mut().as_pin_mut().map(|t| t.poll(cx)) {
                                Some(Poll::Ready(())) => Poll::Ready(Event::HedgeDue),
                                _ => Poll::Pending,
                            }
                        }
                        (polled, _) => polled,
                    }
                })
                .await;
                match event {
                    Event::HedgeDue => {
                        hedge_timer.set(None);
                        let Some(j) = attempts.iter().position(|a| a.is_none()) else {
                            continue;
                        };
                        if !(hedging && sent < max && call.may_retry() && call.hedge_time_left()) {
                            continue;
                        }
                        if !hedge_admits(breaker) || !hedge.take_extra() {
                            hedging = false;
                            continue;
                        }
                        let Ok(permit) = breaker.try_acquire_as(true) else {
                            hedge.refund_extra();
                            hedging = false;
                            continue;
                        };
                        if let Some(budget) = self.budget.as_deref() {
                            if !budget.try_withdraw() {
                                // Dropped unrecorded: a cancellation.
                                drop(permit);
                                hedge.refund_extra();
                                hedging = false;
                                continue;
                            }
                        }
                        let attempt = call.admit_hedge(permit.epoch());
                        sent += 1;
                        let started = breaker.elapsed_ns();
                        let limit = call.limit();
                        slots[j] = Slot {
                            started,
                            number: attempt.number,
                            hedge: sent,
                            limit,
                        };
                        timers[j].set(limit.map(|(d, _)| self.sleeper.sleep(d)));
                        attempts[j].set(Some(op(attempt)));
                        permits[j] = Some(permit);
                        breaker.emit(EventKind::Hedge {
                            attempt: attempt.number,
                            delay: Duration::from_nanos(started.saturating_sub(round_start)),
                        });
                        if sent < max {
                            hedge_timer.set(Some(self.sleeper.sleep(delay)));
                        }
                    }
                    Event::Done(i, result) => {
                        attempts[i].set(None);
                        timers[i].set(None);
                        let Some(permit) = permits[i].take() else {
                            continue;
                        };
                        let now = breaker.elapsed_ns();
                        let slot = slots[i];
                        let class = call.record_hedged(permit, &result, slot.started, now);
                        if let Classification::Success = class {
                            hedge.record(now.saturating_sub(slot.started), now);
                            let cancelled = cancel(&mut attempts, &mut timers, &mut permits);
                            hedge_timer.set(None);
                            tell_settled(breaker, sent, slot.hedge > 0, cancelled);
                            break (call.after_record(class, Some(result)), slot.hedge);
                        }
                        if attempts.iter().any(|a| a.is_some()) {
                            kept = Some(result);
                            last_class = class;
                            continue;
                        }
                        hedge_timer.set(None);
                        tell_settled(breaker, sent, false, 0);
                        break (call.after_record(class, Some(result)), 0);
                    }
                    Event::Cut(i) => {
                        attempts[i].set(None);
                        timers[i].set(None);
                        let (Some(permit), Some(limit)) = (permits[i].take(), slots[i].limit)
                        else {
                            continue;
                        };
                        let now = breaker.elapsed_ns();
                        call.record_cut(permit, slots[i].number, limit, slots[i].started, now);
                        if limit.1 {
                            let cancelled = cancel(&mut attempts, &mut timers, &mut permits);
                            hedge_timer.set(None);
                            tell_settled(breaker, sent, false, cancelled);
                            break (Step::Done(call.deadline_cut()), 0);
                        }
                        if attempts.iter().any(|a| a.is_some()) {
                            continue;
                        }
                        hedge_timer.set(None);
                        tell_settled(breaker, sent, false, 0);
                        // The round's last attempt was cut: a retryable
                        // failure, keeping an earlier attempt's result if one
                        // ended (a cut has none).
                        let class = match kept {
                            Some(_) => last_class,
                            None => Classification::failure(),
                        };
                        break (call.after_record(class, kept.take()), 0);
                    }
                }
            };
            match step {
                Step::Done(mut done) => {
                    done.hedge_won = winner;
                    return done;
                }
                Step::Sleep(delay) => self.sleeper.sleep(delay).await,
            }
        }
    }
}

/// Attempts a hedged call may have in flight: its own and [`MAX_HEDGES`].
const SLOTS: usize = 1 + MAX_HEDGES as usize;

/// What a hedged call knows of an attempt in flight.
#[derive(Clone, Copy, Default)]
struct Slot {
    /// When it began, on the breaker's clock.
    started: u64,
    /// Its attempt number.
    number: u32,
    /// 0 for the round's own attempt, `k` for the call's `k`-th hedge.
    hedge: u32,
    /// Its time limit, and whether it is the deadline's.
    limit: Option<(Duration, bool)>,
}

/// What woke a hedged call's round.
enum Event<O> {
    /// The attempt in slot `i` ended with this output.
    Done(usize, O),
    /// The attempt in slot `i` ran out of time.
    Cut(usize),
    /// The hedge delay passed.
    HedgeDue,
}

/// Poll every attempt in flight (each before its timer, so an attempt ready at
/// its limit is not cut), then the hedge timer.
fn poll_round<Fut: Future, Sl: Future<Output = ()>>(
    cx: &mut std::task::Context<'_>,
    attempts: &mut [Pin<&mut Option<Fut>>; SLOTS],
    timers: &mut [Pin<&mut Option<Sl>>; SLOTS],
    hedge_timer: Pin<&mut Option<Sl>>,
) -> Poll<Event<Fut::Output>> {
    for (i, (attempt, timer)) in attempts.iter_mut().zip(timers.iter_mut()).enumerate() {
        let Some(attempt) = attempt.as_mut().as_pin_mut() else {
            continue;
        };
        if let Poll::Ready(out) = attempt.poll(cx) {
            return Poll::Ready(Event::Done(i, out));
        }
        if let Some(timer) = timer.as_mut().as_pin_mut() {
            if timer.poll(cx).is_ready() {
                return Poll::Ready(Event::Cut(i));
            }
        }
    }
    if let Some(timer) = hedge_timer.as_pin_mut() {
        if timer.poll(cx).is_ready() {
            return Poll::Ready(Event::HedgeDue);
        }
    }
    Poll::Pending
}

/// Drop every attempt still in flight, its timer and its permit (unrecorded: a
/// cancellation, no health signal). Returns how many there were.
fn cancel<Fut, Sl>(
    attempts: &mut [Pin<&mut Option<Fut>>; SLOTS],
    timers: &mut [Pin<&mut Option<Sl>>; SLOTS],
    permits: &mut [Option<Permit<'_>>; SLOTS],
) -> u32 {
    let mut cancelled = 0;
    for ((attempt, timer), permit) in attempts.iter_mut().zip(timers.iter_mut()).zip(permits) {
        if attempt.is_some() {
            cancelled += 1;
            attempt.set(None);
        }
        timer.set(None);
        drop(permit.take());
    }
    cancelled
}

/// Whether the breaker lets a hedge go now: `Closed`, health at or above the
/// line where admission is graded (`shed_below`; one half when grading is off),
/// and the concurrency limit not engaged (a queue is seen: the slow attempts
/// are slow because of load, which a hedge adds to). Read from a snapshot,
/// which reads the clock only below full health.
fn hedge_admits(breaker: &Breaker) -> bool {
    let snapshot = breaker.snapshot();
    if snapshot.state != State::Closed {
        return false;
    }
    let line = breaker.shed_below().unwrap_or(0.5);
    if snapshot.health.is_none_or(|h| h < line) {
        return false;
    }
    !breaker.limit().engaged
}

/// Tell the breaker's listeners how a call that sent hedges ended.
fn tell_settled(breaker: &Breaker, sent: u32, won: bool, cancelled: u32) {
    if sent > 0 {
        breaker.emit(EventKind::HedgesSettled {
            sent,
            won,
            cancelled,
        });
    }
}

/// `outcome`, for a call whose breaker refused a round's attempt (told by the
/// refusal), after telling how its hedges ended.
fn settled<T, E>(
    breaker: &Breaker,
    outcome: Outcome<T, E>,
    sent: u32,
    won: u32,
    cancelled: u32,
) -> Outcome<T, E> {
    tell_settled(breaker, sent, won > 0, cancelled);
    outcome
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
        self.guard.call_hedged(&self.hedge, op).await.into_result()
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
        self.guard.call_hedged(&self.hedge, op).await
    }
}
