//! The hedged call (`docs/DESIGN.md`, "Hedging"): [`Hedged`], the state of one
//! call whose rounds may send hedges, polled by [`HedgedGuard::call_async`]'s
//! future and by the tower layer's hedged response future alike.
//!
//! The state lives in [`Hedged`], which is not pinned; the futures it drives
//! (up to [`SLOTS`] attempts, their timers, the hedge timer and the backoff's
//! sleep) are pinned by whoever owns them (as locals of the `async fn`, or as
//! pin-projected fields of the tower future) and lent to each
//! [`poll`](Hedged::poll) in [`Pins`]. No allocation, no `unsafe`.

use super::call::{Call, Holder, Step};
use super::*;
use crate::breaker::TicketSlot;
use crate::hedge::MAX_HEDGES;
use crate::state::State;
use std::pin::Pin;
use std::task::Context;

/// Attempts a hedged call may have in flight: its own and [`MAX_HEDGES`].
pub(crate) const SLOTS: usize = 1 + MAX_HEDGES as usize;

/// A [`Holder`] with a hedging policy.
pub(crate) trait HedgeHolder: Holder {
    /// The hedging policy.
    fn hedge(&self) -> &Hedge;
}

/// What makes a hedged call's attempts (its round's attempt after the first,
/// and its hedges).
pub(crate) trait MakeAttempt<T, E> {
    /// An attempt's future.
    type Fut: Future<Output = Result<T, E>>;
    /// The attempt's future, and whether another attempt can be made after it
    /// (a tower request that can no longer be copied cannot).
    fn make(&mut self, attempt: Attempt) -> (Self::Fut, bool);
}

/// An `async` operation makes every attempt.
impl<T, E, F, Fut> MakeAttempt<T, E> for F
where
    F: FnMut(Attempt) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Fut = Fut;
    #[inline(always)]
    fn make(&mut self, attempt: Attempt) -> (Fut, bool) {
        (self(attempt), true)
    }
}

/// The pinned futures of a hedged call, lent to [`Hedged::poll`]: the attempts
/// in flight and their time limits' timers (slot `i` is the attempt whose
/// ticket [`Hedged`] keeps in its slot `i`), the round's hedge timer, and the
/// backoff's sleep.
pub(crate) struct Pins<'p, Fut, Sl> {
    pub(crate) attempts: [Pin<&'p mut Option<Fut>>; SLOTS],
    pub(crate) timers: [Pin<&'p mut Option<Sl>>; SLOTS],
    pub(crate) hedge_timer: Pin<&'p mut Option<Sl>>,
    pub(crate) backoff: Pin<&'p mut Option<Sl>>,
}

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

/// Where a hedged call is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A round's attempt is to be asked for.
    Begin,
    /// A round's attempts are in flight.
    Round,
    /// Backing off before the next round.
    Backoff,
    /// Over (its outcome, if not yet returned, in `stopped`).
    Done,
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

/// One hedged call: each round's attempt (the first, or a retry after the
/// backoff, by the rules as always) may be joined by hedges, each its policy's
/// delay after the last, while the call has hedges and attempts left and the
/// breaker and budget allow. The first success wins and the others are
/// dropped, their permits with them (cancellations). A failure waits for the
/// attempts still in flight; the round's last one decides by the retry rules.
///
/// Dropped, it cancels every ticket it still holds; its owner drops the
/// attempts' futures first (see [`Pins`]).
pub(crate) struct Hedged<G: Holder, M, T, E> {
    call: Call<G, T, E>,
    make: M,
    /// The tickets of the attempts in flight, by slot.
    tickets: [TicketSlot; SLOTS],
    slots: [Slot; SLOTS],
    phase: Phase,
    /// Hedges sent by the call.
    sent: u32,
    /// The most it may send.
    max: u32,
    /// False once the breaker, the budget or the extra-load allowance refused
    /// a hedge: no new ones for this call (those in flight go on).
    hedging: bool,
    /// The round's start and hedge delay.
    round_start: u64,
    delay: Duration,
    /// The round's first hedge timer, to be made at the round's first
    /// `Pending` (a round whose attempt answers at once makes none).
    first_timer: Option<Duration>,
    /// The round's latest failure while others were in flight, and its
    /// classification.
    kept: Option<Result<T, E>>,
    last_class: Classification,
    /// A call over before its first poll (its first attempt refused).
    stopped: Option<Outcome<T, E>>,
}

impl<G, M, T, E> Hedged<G, M, T, E>
where
    G: HedgeHolder,
    G::C: Classify<T, E>,
    G::S: AsyncSleeper,
    M: MakeAttempt<T, E>,
{
    /// A hedged call over `call` (no attempt made yet), making its attempts
    /// with `make`. Its share of the extra-load allowance is deposited now.
    pub(crate) fn new(call: Call<G, T, E>, make: M) -> Self {
        let hedge = call.holder().hedge();
        hedge.deposit_call();
        let max = hedge.max_hedges().min(MAX_HEDGES);
        Self {
            call,
            make,
            tickets: [TicketSlot::EMPTY; SLOTS],
            slots: [Slot::default(); SLOTS],
            phase: Phase::Begin,
            sent: 0,
            max,
            hedging: true,
            round_start: 0,
            delay: Duration::ZERO,
            first_timer: None,
            kept: None,
            last_class: Classification::failure(),
            stopped: None,
        }
    }

    /// Open a round: ask for its attempt's permit (rule 1, and rule 4 for a
    /// retry), its ticket kept in slot 0. Admitted: the attempt, and its time
    /// limit, for the caller to make and put in slot 0 of the [`Pins`] (the
    /// tower future makes its first attempt this way, before it is pinned).
    /// Refused: `None`, and the call is over (its outcome returned by the
    /// next [`poll`](Self::poll)).
    pub(crate) fn begin_round(&mut self) -> Option<(Attempt, Option<Duration>)> {
        let attempt = match self.call.begin_ticket(&mut self.tickets[0]) {
            Ok(attempt) => attempt,
            Err(outcome) => {
                self.stopped = Some(outcome);
                self.phase = Phase::Done;
                return None;
            }
        };
        let holder = self.call.holder();
        let start = holder.breaker().elapsed_ns();
        let limit = self.call.limit();
        self.slots[0] = Slot {
            started: start,
            number: attempt.number,
            hedge: 0,
            limit,
        };
        self.round_start = start;
        // The round's first hedge timer is made only once the attempt has not
        // answered at its first poll: a call that answers at once (the
        // healthy path) makes no timer (tokio's reads the clock and takes a
        // handle on the driver), and the delay counts from then.
        self.first_timer = None;
        if self.hedging && self.sent < self.max && self.call.may_retry() {
            self.delay = holder.hedge().delay(start);
            self.first_timer = Some(self.delay);
        }
        self.kept = None;
        self.last_class = Classification::failure();
        self.phase = Phase::Round;
        Some((attempt, limit.map(|(d, _)| d)))
    }

    /// Drive the call: `Ready` with its outcome once it is over (the winner
    /// noted in it). Polling it again after that panics.
    pub(crate) fn poll<'p>(
        &mut self,
        cx: &mut Context<'_>,
        pins: &mut Pins<'p, M::Fut, <G::S as AsyncSleeper>::Sleep>,
    ) -> Poll<Outcome<T, E>> {
        loop {
            match self.phase {
                Phase::Begin => {
                    let Some((attempt, limit)) = self.begin_round() else {
                        continue;
                    };
                    let (future, more) = self.make.make(attempt);
                    if !more {
                        self.call.no_more_retries();
                    }
                    let sleeper = self.call.holder().sleeper();
                    pins.timers[0].set(limit.map(|d| sleeper.sleep(d)));
                    pins.attempts[0].set(Some(future));
                }
                Phase::Round => {
                    let (step, winner) = match self.poll_round(cx, pins) {
                        Poll::Ready(ended) => ended,
                        Poll::Pending => return Poll::Pending,
                    };
                    match step {
                        Step::Done(mut done) => {
                            self.phase = Phase::Done;
                            done.hedge_won = winner;
                            return Poll::Ready(done);
                        }
                        Step::Sleep(delay) => {
                            let sleeper = self.call.holder().sleeper();
                            pins.backoff.set(Some(sleeper.sleep(delay)));
                            self.phase = Phase::Backoff;
                        }
                    }
                }
                Phase::Backoff => {
                    if let Some(sleep) = pins.backoff.as_mut().as_pin_mut() {
                        if sleep.poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                    }
                    pins.backoff.set(None);
                    self.phase = Phase::Begin;
                }
                Phase::Done => match self.stopped.take() {
                    Some(outcome) => return Poll::Ready(outcome),
                    None => panic!("a hedged call polled after it returned"),
                },
            }
        }
    }

    /// A round, until it decides the call's next step: that step and the
    /// winner (0: none or the round's own attempt; `k`: hedge `k`).
    fn poll_round<'p>(
        &mut self,
        cx: &mut Context<'_>,
        pins: &mut Pins<'p, M::Fut, <G::S as AsyncSleeper>::Sleep>,
    ) -> Poll<(Step<T, E>, u32)> {
        loop {
            let mut event = poll_slots(cx, pins);
            if event.is_pending() {
                if let Some(delay) = self.first_timer.take() {
                    let sleeper = self.call.holder().sleeper();
                    pins.hedge_timer.set(Some(sleeper.sleep(delay)));
                    // Polled (only it: the attempts were just polled), so
                    // that it wakes this task.
                    if let Some(timer) = pins.hedge_timer.as_mut().as_pin_mut() {
                        if timer.poll(cx).is_ready() {
                            event = Poll::Ready(Event::HedgeDue);
                        }
                    }
                }
            }
            let Poll::Ready(event) = event else {
                return Poll::Pending;
            };
            match event {
                Event::HedgeDue => {
                    pins.hedge_timer.set(None);
                    self.try_hedge(pins);
                }
                Event::Done(i, result) => {
                    pins.attempts[i].set(None);
                    pins.timers[i].set(None);
                    let breaker = self.call.holder().breaker();
                    let Some(permit) = self.tickets[i].take(breaker) else {
                        continue;
                    };
                    let now = breaker.elapsed_ns();
                    let slot = self.slots[i];
                    let class = self.call.record_hedged(permit, &result, slot.started, now);
                    if let Classification::Success = class {
                        let hedge = self.call.holder().hedge();
                        hedge.record(now.saturating_sub(slot.started), now);
                        let cancelled = self.cancel(pins);
                        self.tell_settled(slot.hedge > 0, cancelled);
                        let step = self.call.after_record(class, Some(result));
                        return Poll::Ready((step, slot.hedge));
                    }
                    if self.in_flight() {
                        self.kept = Some(result);
                        self.last_class = class;
                        continue;
                    }
                    pins.hedge_timer.set(None);
                    self.tell_settled(false, 0);
                    return Poll::Ready((self.call.after_record(class, Some(result)), 0));
                }
                Event::Cut(i) => {
                    pins.attempts[i].set(None);
                    pins.timers[i].set(None);
                    let breaker = self.call.holder().breaker();
                    let (Some(permit), Some(limit)) =
                        (self.tickets[i].take(breaker), self.slots[i].limit)
                    else {
                        continue;
                    };
                    let now = breaker.elapsed_ns();
                    let slot = self.slots[i];
                    self.call
                        .record_cut(permit, slot.number, limit, slot.started, now);
                    if limit.1 {
                        let cancelled = self.cancel(pins);
                        self.tell_settled(false, cancelled);
                        return Poll::Ready((Step::Done(self.call.deadline_cut()), 0));
                    }
                    if self.in_flight() {
                        continue;
                    }
                    pins.hedge_timer.set(None);
                    self.tell_settled(false, 0);
                    // The round's last attempt was cut: a retryable failure,
                    // keeping an earlier attempt's result if one ended (a cut
                    // has none).
                    let class = match self.kept {
                        Some(_) => self.last_class,
                        None => Classification::failure(),
                    };
                    let kept = self.kept.take();
                    return Poll::Ready((self.call.after_record(class, kept), 0));
                }
            }
        }
    }

    /// The hedge delay passed: send a hedge if the call and the breaker,
    /// budget and allowance let it (a refusal stops new hedges for the call),
    /// and arm the next one's timer.
    fn try_hedge(&mut self, pins: &mut Pins<'_, M::Fut, <G::S as AsyncSleeper>::Sleep>) {
        let Some(j) = self.tickets.iter().position(|t| !t.holds()) else {
            return;
        };
        let left = self.hedging && self.sent < self.max && self.call.may_retry();
        if !(left && self.call.hedge_time_left()) {
            return;
        }
        let holder = self.call.holder();
        let (breaker, hedge) = (holder.breaker(), holder.hedge());
        if !hedge_admits(breaker) || !hedge.take_extra() {
            self.hedging = false;
            return;
        }
        if self.tickets[j].acquire(breaker, true).is_err() {
            hedge.refund_extra();
            self.hedging = false;
            return;
        }
        if let Some(budget) = holder.budget() {
            if !budget.try_withdraw() {
                // Dropped unrecorded: a cancellation.
                drop(self.tickets[j].take(breaker));
                hedge.refund_extra();
                self.hedging = false;
                return;
            }
        }
        let epoch = self.tickets[j].epoch();
        let attempt = self.call.admit_hedge(epoch);
        self.sent += 1;
        let holder = self.call.holder();
        let breaker = holder.breaker();
        let started = breaker.elapsed_ns();
        let limit = self.call.limit();
        self.slots[j] = Slot {
            started,
            number: attempt.number,
            hedge: self.sent,
            limit,
        };
        pins.timers[j].set(limit.map(|(d, _)| holder.sleeper().sleep(d)));
        let (future, more) = self.make.make(attempt);
        pins.attempts[j].set(Some(future));
        breaker.emit(EventKind::Hedge {
            attempt: attempt.number,
            delay: Duration::from_nanos(started.saturating_sub(self.round_start)),
        });
        if self.sent < self.max {
            pins.hedge_timer
                .set(Some(holder.sleeper().sleep(self.delay)));
        }
        if !more {
            self.call.no_more_retries();
        }
    }

    /// Whether an attempt is still in flight.
    fn in_flight(&self) -> bool {
        self.tickets.iter().any(TicketSlot::holds)
    }

    /// Drop every attempt still in flight, its timer and its permit
    /// (unrecorded: a cancellation, no health signal), and the hedge timer.
    /// Returns how many attempts there were.
    fn cancel(&mut self, pins: &mut Pins<'_, M::Fut, <G::S as AsyncSleeper>::Sleep>) -> u32 {
        let breaker = self.call.holder().breaker();
        let mut cancelled = 0;
        for ((attempt, timer), ticket) in pins
            .attempts
            .iter_mut()
            .zip(pins.timers.iter_mut())
            .zip(self.tickets.iter_mut())
        {
            if attempt.is_some() {
                cancelled += 1;
                attempt.set(None);
            }
            timer.set(None);
            drop(ticket.take(breaker));
        }
        pins.hedge_timer.set(None);
        cancelled
    }

    /// Tell the breaker's listeners how a call that sent hedges ended.
    fn tell_settled(&self, won: bool, cancelled: u32) {
        if self.sent > 0 {
            self.call.holder().breaker().emit(EventKind::HedgesSettled {
                sent: self.sent,
                won,
                cancelled,
            });
        }
    }
}

impl<G: Holder, M, T, E> Drop for Hedged<G, M, T, E> {
    /// Every ticket still held is a cancellation (the call's future was
    /// dropped mid-round; its owner dropped the attempts' futures first).
    fn drop(&mut self) {
        let breaker = self.call.holder().breaker();
        for ticket in &mut self.tickets {
            drop(ticket.take(breaker));
        }
    }
}

/// Poll every attempt in flight (each before its timer, so an attempt ready at
/// its limit is not cut), then the hedge timer.
fn poll_slots<Fut: Future, Sl: Future<Output = ()>>(
    cx: &mut Context<'_>,
    pins: &mut Pins<'_, Fut, Sl>,
) -> Poll<Event<Fut::Output>> {
    for (i, (attempt, timer)) in pins
        .attempts
        .iter_mut()
        .zip(pins.timers.iter_mut())
        .enumerate()
    {
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
    if let Some(timer) = pins.hedge_timer.as_mut().as_pin_mut() {
        if timer.poll(cx).is_ready() {
            return Poll::Ready(Event::HedgeDue);
        }
    }
    Poll::Pending
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

/// A hedged guard, borrowed, holds a hedged call.
impl<C, S> Holder for &HedgedGuard<C, S> {
    type C = C;
    type S = S;
    #[inline(always)]
    fn breaker(&self) -> &Breaker {
        &self.guard.breaker
    }
    #[inline(always)]
    fn retry(&self) -> &Retry {
        &self.guard.retry
    }
    #[inline(always)]
    fn budget(&self) -> Option<&RetryBudget> {
        self.guard.budget.as_deref()
    }
    #[inline(always)]
    fn classifier(&self) -> &C {
        &self.guard.classifier
    }
    #[inline(always)]
    fn sleeper(&self) -> &S {
        &self.guard.sleeper
    }
}

impl<C, S> HedgeHolder for &HedgedGuard<C, S> {
    #[inline(always)]
    fn hedge(&self) -> &Hedge {
        &self.hedge
    }
}
