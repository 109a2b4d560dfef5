//! The hedged call (`docs/DESIGN.md`, "Hedging"): [`Hedged`], the state of one
//! call whose rounds may send hedges, polled by [`HedgedGuard::call_async`]'s
//! future and by the tower layer's hedged response future alike.
//!
//! The state lives in [`Hedged`], which is not pinned; the futures it drives
//! (up to [`SLOTS`] attempts, one timer for their time limits, one for the
//! hedge delay or the backoff) are pinned by whoever owns them (as locals of
//! the `async fn`, or as pin-projected fields of the tower future) and lent to
//! each [`poll`](Hedged::poll) in [`Pins`]. No allocation, no `unsafe`.
//!
//! What a healthy call costs is kept near an unhedged one's: an attempt that
//! answers at its first poll, in a call that times nothing, reads no clock
//! (its latency counts as the lowest, see `Latencies::record_at_once`), and
//! makes no timer; and the future holds two timers, not one per attempt (a
//! tokio `Sleep` is 88 bytes, and the future is moved and dropped whole).

use super::call::{Call, HedgeTally, Holder, Step, sample_weight};
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
/// in flight (slot `i` is the attempt whose ticket [`Hedged`] keeps in its
/// slot `i`); the timer of the time limit that ends first (the oldest
/// attempt's: every attempt's limit ends at the common deadline or its own
/// start plus the attempt timeout, so a later start never ends sooner); and
/// the round's hedge timer, or between rounds the backoff's sleep.
pub(crate) struct Pins<'p, Fut, Sl> {
    pub(crate) attempts: [Pin<&'p mut Option<Fut>>; SLOTS],
    pub(crate) cut: Pin<&'p mut Option<Sl>>,
    pub(crate) timer: Pin<&'p mut Option<Sl>>,
}

/// What a hedged call knows of an attempt in flight, in 32 bytes (the
/// future holds four, and is moved whole).
#[derive(Clone, Copy)]
struct Slot {
    /// When it began, on the breaker's clock; [`NOT_READ`] for a round's
    /// attempt not yet polled that needs no time (see
    /// [`Hedged::begin_round`]).
    started: u64,
    /// Its time limit in nanoseconds, or [`NO_LIMIT`].
    limit_ns: u64,
    /// Its attempt number.
    number: u32,
    /// Its weight as a latency sample for the concurrency limit (decided
    /// when it began), or 0 if it is not one.
    weight: u32,
    /// 0 for the round's own attempt, `k` for the call's `k`-th hedge.
    hedge: u8,
    /// Whether its limit is the deadline's.
    by_deadline: bool,
}

/// [`Slot::started`]: not read.
const NOT_READ: u64 = u64::MAX;
/// [`Slot::limit_ns`]: no time limit.
const NO_LIMIT: u64 = u64::MAX;

impl Slot {
    const EMPTY: Self = Self {
        started: NOT_READ,
        limit_ns: NO_LIMIT,
        number: 0,
        weight: 0,
        hedge: 0,
        by_deadline: false,
    };

    #[inline(always)]
    fn new(
        started: Option<u64>,
        number: u32,
        hedge: u32,
        limit: Option<(Duration, bool)>,
        weight: Option<u32>,
    ) -> Self {
        Self {
            started: started.unwrap_or(NOT_READ),
            // A limit of 584 years or more is none.
            limit_ns: limit.map_or(NO_LIMIT, |(d, _)| nanos(d)),
            number,
            weight: weight.unwrap_or(0),
            hedge: hedge.min(u32::from(u8::MAX)) as u8,
            by_deadline: limit.is_some_and(|(_, by_deadline)| by_deadline),
        }
    }

    fn started(&self) -> Option<u64> {
        (self.started != NOT_READ).then_some(self.started)
    }

    fn limit(&self) -> Option<(Duration, bool)> {
        (self.limit_ns != NO_LIMIT).then(|| (Duration::from_nanos(self.limit_ns), self.by_deadline))
    }

    /// When its limit ends (with a limit and a start).
    fn cut_at(&self) -> u64 {
        self.started.saturating_add(self.limit_ns)
    }

    fn weight(&self) -> Option<u32> {
        (self.weight != 0).then_some(self.weight)
    }

    fn hedge(&self) -> u32 {
        u32::from(self.hedge)
    }
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
pub(crate) struct Hedged<G: HedgeHolder, M, T, E> {
    call: Call<G, T, E, HedgeTally>,
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
    /// a hedge, or the downstream looked stalled: no new ones for this call
    /// (those in flight go on).
    hedging: bool,
    /// Whether the round ran past its hedge delay (counted overdue by the
    /// policy until it ends: [`Hedge::overdue`]).
    overdue: bool,
    /// The slot whose limit the `cut` timer is set for.
    cut_slot: Option<u8>,
    /// The round's start (read at its first `Pending` if not before) and
    /// hedge delay.
    round_start: u64,
    delay: Duration,
    /// Whether the round has not yet been pending: at its first `Pending`
    /// its start is read if it was not, and its first hedge timer made if it
    /// may hedge (a round whose attempt answers at once makes none).
    first_pending: bool,
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
    #[inline(always)]
    pub(crate) fn new(call: Call<G, T, E, HedgeTally>, make: M) -> Self {
        call.holder().hedge().deposit_call();
        Self::blank(call, make)
    }

    /// A hedged call over `call` before its first round (its share of the
    /// allowance not deposited).
    #[inline(always)]
    fn blank(call: Call<G, T, E, HedgeTally>, make: M) -> Self {
        let max = call.holder().hedge().max_hedges().min(MAX_HEDGES);
        Self {
            call,
            make,
            tickets: [TicketSlot::EMPTY; SLOTS],
            slots: [Slot::EMPTY; SLOTS],
            phase: Phase::Begin,
            sent: 0,
            max,
            hedging: true,
            overdue: false,
            cut_slot: None,
            round_start: 0,
            delay: Duration::ZERO,
            first_pending: false,
            kept: None,
            last_class: Classification::failure(),
            stopped: None,
        }
    }

    /// Open a round: ask for its attempt's permit (rule 1, and rule 4 for a
    /// retry), its ticket kept in slot 0. Admitted: the attempt, and its time
    /// limit, for the caller to make and put in slot 0 of the [`Pins`] (and,
    /// with a limit, a timer in `cut`; the tower future makes its first
    /// attempt this way, before it is pinned). Refused: `None`, and the call
    /// is over (its outcome returned by the next [`poll`](Self::poll)).
    ///
    /// The clock is read now only if the attempt needs its start (a time
    /// limit, a call that times its attempts, a latency sample for the
    /// limit); otherwise at the round's first `Pending`, or never for an
    /// attempt that answers at its first poll.
    #[inline]
    pub(crate) fn begin_round(&mut self) -> Option<(Attempt, Option<Duration>)> {
        match self.call.begin_ticket(&mut self.tickets[0]) {
            Ok(attempt) => Some(self.open_round(attempt)),
            Err(outcome) => {
                self.stopped = Some(outcome);
                self.phase = Phase::Done;
                None
            }
        }
    }

    /// A hedged call over `call`, whose first attempt was asked for already
    /// (`first`, admitted under `ticket`, or the call's end): for the tower
    /// future, which calls its inner service before it holds the call, and
    /// which deposits the call's share of the extra-load allowance itself.
    /// One struct literal, no mutation after: the future is built in one
    /// piece (each move of it is a copy of its attempt slots).
    #[cfg(feature = "tower")]
    #[inline(always)]
    pub(crate) fn opened(
        mut call: Call<G, T, E, HedgeTally>,
        make: M,
        ticket: TicketSlot,
        first: Result<Attempt, Outcome<T, E>>,
    ) -> Self {
        let max = call.holder().hedge().max_hedges().min(MAX_HEDGES);
        let (slot, phase, stopped) = match first {
            Ok(attempt) => (round_slot(&mut call, attempt), Phase::Round, None),
            Err(outcome) => (Slot::EMPTY, Phase::Done, Some(outcome)),
        };
        Self {
            make,
            tickets: [
                ticket,
                TicketSlot::EMPTY,
                TicketSlot::EMPTY,
                TicketSlot::EMPTY,
            ],
            slots: [slot, Slot::EMPTY, Slot::EMPTY, Slot::EMPTY],
            phase,
            sent: 0,
            max,
            hedging: true,
            overdue: false,
            cut_slot: (slot.limit_ns != NO_LIMIT).then_some(0),
            round_start: slot.started().unwrap_or(0),
            delay: Duration::ZERO,
            first_pending: true,
            kept: None,
            last_class: Classification::failure(),
            stopped,
            call,
        }
    }

    /// A hedged call over `call`, whose first attempt, made outside it (the
    /// tower future's untimed first attempt), ended at its first poll as
    /// `class` (not a success) and was recorded: the call goes on as after
    /// any round's end (a backoff, its timer set in `pins`, or the call's
    /// end, returned by the next [`poll`](Self::poll)).
    #[cfg(feature = "tower")]
    #[cold]
    pub(crate) fn after_first_failure(
        mut call: Call<G, T, E, HedgeTally>,
        make: M,
        class: Classification,
        result: Result<T, E>,
        pins: &mut Pins<'_, M::Fut, <G::S as AsyncSleeper>::Sleep>,
    ) -> Self {
        let step = call.after_record(class, Some(result));
        let mut hedged = Self::blank(call, make);
        match step {
            Step::Done(outcome) => {
                hedged.stopped = Some(outcome);
                hedged.phase = Phase::Done;
            }
            Step::Sleep(delay) => {
                let sleeper = hedged.call.holder().sleeper();
                pins.timer.set(Some(sleeper.sleep(delay)));
                hedged.phase = Phase::Backoff;
            }
        }
        hedged
    }

    /// Drive a call just [`opened`](Self::opened) whose round's attempt its
    /// owner polled once, and found pending: what the round's first poll does
    /// then (its start read, its first hedge timer made and polled), without
    /// polling the attempt again; then as [`poll`](Self::poll).
    #[cfg(feature = "tower")]
    #[cold]
    pub(crate) fn poll_first_pending(
        &mut self,
        cx: &mut Context<'_>,
        pins: &mut Pins<'_, M::Fut, <G::S as AsyncSleeper>::Sleep>,
    ) -> Poll<Outcome<T, E>> {
        debug_assert!(self.phase == Phase::Round && self.first_pending);
        self.first_pending = false;
        if self.first_pending(cx, pins).is_pending() {
            return Poll::Pending;
        }
        // The hedge was due at once.
        pins.timer.set(None);
        self.try_hedge(pins);
        self.poll(cx, pins)
    }

    /// The round's attempt was admitted (its ticket in slot 0): note what it
    /// needs, and return it with its time limit.
    #[inline(always)]
    fn open_round(&mut self, attempt: Attempt) -> (Attempt, Option<Duration>) {
        let slot = round_slot(&mut self.call, attempt);
        self.slots[0] = slot;
        self.cut_slot = (slot.limit_ns != NO_LIMIT).then_some(0);
        self.round_start = slot.started().unwrap_or(0);
        self.first_pending = true;
        self.kept = None;
        self.last_class = Classification::failure();
        self.phase = Phase::Round;
        (attempt, slot.limit().map(|(d, _)| d))
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
                    pins.cut.set(limit.map(|d| sleeper.sleep(d)));
                    pins.attempts[0].set(Some(future));
                }
                Phase::Round => {
                    let step = match self.poll_round(cx, pins) {
                        Poll::Ready(ended) => ended,
                        Poll::Pending => return Poll::Pending,
                    };
                    if self.overdue {
                        self.round_over();
                    }
                    match step {
                        Step::Done(done) => {
                            self.phase = Phase::Done;
                            return Poll::Ready(done);
                        }
                        Step::Sleep(delay) => {
                            let sleeper = self.call.holder().sleeper();
                            pins.timer.set(Some(sleeper.sleep(delay)));
                            self.phase = Phase::Backoff;
                        }
                    }
                }
                Phase::Backoff => {
                    if let Some(sleep) = pins.timer.as_mut().as_pin_mut() {
                        if sleep.poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                    }
                    pins.timer.set(None);
                    self.phase = Phase::Begin;
                }
                Phase::Done => match self.stopped.take() {
                    Some(outcome) => return Poll::Ready(outcome),
                    None => panic!("a hedged call polled after it returned"),
                },
            }
        }
    }

    /// A round, until it decides the call's next step (a success's outcome
    /// says which attempt won).
    fn poll_round<'p>(
        &mut self,
        cx: &mut Context<'_>,
        pins: &mut Pins<'p, M::Fut, <G::S as AsyncSleeper>::Sleep>,
    ) -> Poll<Step<T, E>> {
        // The slots polled from (1: the round's own attempt was just polled).
        let mut from = 0;
        if self.first_pending {
            // The round's first poll: only its own attempt is in flight (no
            // hedge yet). An answer ends the round without the general path's
            // walk over the slots.
            if let Some(attempt) = pins.attempts[0].as_mut().as_pin_mut() {
                match attempt.poll(cx) {
                    Poll::Ready(result) => {
                        self.first_pending = false;
                        if let Some(ended) = self.done(0, result, pins) {
                            return Poll::Ready(ended);
                        }
                    }
                    Poll::Pending => from = 1,
                }
            }
        }
        loop {
            let mut event = poll_slots(cx, pins, self.cut_slot.map(usize::from), from);
            from = 0;
            if event.is_pending() && self.first_pending {
                self.first_pending = false;
                event = self.first_pending(cx, pins);
            }
            let Poll::Ready(event) = event else {
                return Poll::Pending;
            };
            match event {
                Event::HedgeDue => {
                    pins.timer.set(None);
                    self.try_hedge(pins);
                }
                Event::Done(i, result) => {
                    if let Some(ended) = self.done(i, result, pins) {
                        return Poll::Ready(ended);
                    }
                }
                Event::Cut(i) => {
                    pins.attempts[i].set(None);
                    let breaker = self.call.holder().breaker();
                    let (Some(permit), Some(limit)) =
                        (self.tickets[i].take(breaker), self.slots[i].limit())
                    else {
                        continue;
                    };
                    let now = breaker.elapsed_ns();
                    let slot = self.slots[i];
                    let started = slot.started().unwrap_or(now);
                    self.call
                        .record_cut(permit, slot.number, limit, started, now);
                    if limit.1 {
                        let cancelled = self.cancel(pins);
                        self.call.hedges_told(0, cancelled);
                        return Poll::Ready(Step::Done(self.call.deadline_cut()));
                    }
                    if self.in_flight() {
                        self.rearm_cut(i, pins);
                        continue;
                    }
                    self.cancel(pins);
                    // The round's last attempt was cut: a retryable failure,
                    // keeping an earlier attempt's result if one ended (a cut
                    // has none).
                    let class = match self.kept {
                        Some(_) => self.last_class,
                        None => Classification::failure(),
                    };
                    let kept = self.kept.take();
                    return Poll::Ready(self.call.after_record(class, kept));
                }
            }
        }
    }

    /// The attempt in slot `i` ended with `result`: recorded, and the
    /// round's end if it decides it (a success, or the last attempt in
    /// flight), else `None` (the others go on).
    #[inline]
    fn done(
        &mut self,
        i: usize,
        result: Result<T, E>,
        pins: &mut Pins<'_, M::Fut, <G::S as AsyncSleeper>::Sleep>,
    ) -> Option<Step<T, E>> {
        pins.attempts[i].set(None);
        let breaker = self.call.holder().breaker();
        let permit = self.tickets[i].take(breaker)?;
        let slot = self.slots[i];
        let timed = slot.started().map(|start| (start, breaker.elapsed_ns()));
        let class = self
            .call
            .record_hedged(permit, &result, timed, slot.weight());
        if let Classification::Success = class {
            let hedge = self.call.holder().hedge();
            match timed {
                Some((start, now)) => hedge.record(now.saturating_sub(start), now),
                None => hedge.record_at_once(),
            }
            if self.sent > 0 || self.cut_slot.is_some() {
                let cancelled = self.cancel(pins);
                self.call.hedges_told(0, cancelled);
            }
            self.call.won_by(slot.hedge());
            let step = self.call.after_record(class, Some(result));
            return Some(step);
        }
        if self.in_flight() {
            self.kept = Some(result);
            self.last_class = class;
            self.rearm_cut(i, pins);
            return None;
        }
        self.cancel(pins);
        Some(self.call.after_record(class, Some(result)))
    }

    /// The round's attempt did not answer at its first poll: its start is
    /// read now if it was not (the time before, the attempt's first poll, is
    /// not counted), and the round's first hedge timer is made if the call
    /// may hedge, the delay counting from then. The timer is polled (only it:
    /// the attempts were just polled), so that it wakes this task.
    #[cold]
    fn first_pending(
        &mut self,
        cx: &mut Context<'_>,
        pins: &mut Pins<'_, M::Fut, <G::S as AsyncSleeper>::Sleep>,
    ) -> Poll<Event<Result<T, E>>> {
        let holder = self.call.holder();
        // Only the round's own attempt can be in flight (it is what was
        // pending).
        let start = match self.slots[0].started() {
            Some(start) => start,
            None => {
                let now = holder.breaker().elapsed_ns();
                self.slots[0].started = now;
                now
            }
        };
        self.round_start = start;
        if !(self.hedging && self.sent < self.max && self.call.may_retry()) {
            return Poll::Pending;
        }
        self.delay = holder.hedge().delay(start);
        pins.timer.set(Some(holder.sleeper().sleep(self.delay)));
        match pins.timer.as_mut().as_pin_mut().map(|t| t.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Event::HedgeDue),
            _ => Poll::Pending,
        }
    }

    /// The attempt in slot `ended` ended while others are in flight: if the
    /// `cut` timer was its, set it for the next limit to end (the oldest
    /// attempt's), from now.
    fn rearm_cut(
        &mut self,
        ended: usize,
        pins: &mut Pins<'_, M::Fut, <G::S as AsyncSleeper>::Sleep>,
    ) {
        if self.cut_slot.map(usize::from) != Some(ended) {
            return;
        }
        pins.cut.set(None);
        self.cut_slot = None;
        let next = (0..SLOTS)
            .filter(|&k| self.tickets[k].holds() && self.slots[k].limit_ns != NO_LIMIT)
            .min_by_key(|&k| self.slots[k].cut_at());
        if let Some(k) = next {
            let holder = self.call.holder();
            let now = holder.breaker().elapsed_ns();
            let left = Duration::from_nanos(self.slots[k].cut_at().saturating_sub(now));
            pins.cut.set(Some(holder.sleeper().sleep(left)));
            self.cut_slot = Some(k as u8);
        }
    }

    /// The hedge delay passed: send a hedge if the call and the breaker,
    /// budget and allowance let it (a refusal stops new hedges for the call),
    /// and arm the next one's timer.
    fn try_hedge(&mut self, pins: &mut Pins<'_, M::Fut, <G::S as AsyncSleeper>::Sleep>) {
        if !self.overdue {
            // The round's first hedge is due: is it a tail or a stall?
            self.overdue = true;
            if !self
                .call
                .holder()
                .hedge()
                .overdue(self.round_start, self.delay)
            {
                self.hedging = false;
            }
        }
        let Some(j) = self.tickets.iter().position(|t| !t.holds()) else {
            return;
        };
        let left = self.hedging && self.sent < self.max && self.call.may_retry();
        if !(left && self.call.hedge_time_left()) {
            return;
        }
        let holder = self.call.holder();
        let (breaker, hedge) = (holder.breaker(), holder.hedge());
        let Some(seen) = hedge_admits(breaker) else {
            self.hedging = false;
            return;
        };
        if !hedge.take_extra() {
            self.hedging = false;
            return;
        }
        if self.tickets[j].acquire(breaker, true).is_err() {
            hedge.refund_extra();
            self.hedging = false;
            return;
        }
        // The breaker moved between the check and the permit (another
        // caller's trip, and the open period over: the permit is a half-open
        // probe's): not a hedge's. Given back unrecorded (a cancellation frees
        // the probe slot), as a refusal.
        if self.tickets[j].epoch() != seen {
            drop(self.tickets[j].take(breaker));
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
        let (epoch, holds_slot) = (self.tickets[j].epoch(), self.tickets[j].holds_slot());
        let attempt = self.call.admit_hedge(epoch);
        self.call.hedges_told(1, 0);
        self.sent += 1;
        let holder = self.call.holder();
        let breaker = holder.breaker();
        let started = breaker.elapsed_ns();
        let limit = self.call.limit();
        let weight = sample_weight(breaker, holds_slot);
        self.slots[j] = Slot::new(Some(started), attempt.number, self.sent, limit, weight);
        // The oldest attempt's limit ends first: the `cut` timer is set for
        // this one only if none is in flight with a limit.
        if let (Some((d, _)), None) = (limit, self.cut_slot) {
            pins.cut.set(Some(holder.sleeper().sleep(d)));
            self.cut_slot = Some(j as u8);
        }
        let (future, more) = self.make.make(attempt);
        pins.attempts[j].set(Some(future));
        breaker.emit(EventKind::Hedge {
            attempt: attempt.number,
            delay: Duration::from_nanos(started.saturating_sub(self.round_start)),
        });
        if self.sent < self.max {
            pins.timer.set(Some(holder.sleeper().sleep(self.delay)));
        }
        if !more {
            self.call.no_more_retries();
        }
    }

    /// The round, counted overdue, is over.
    #[cold]
    fn round_over(&mut self) {
        self.overdue = false;
        self.call.holder().hedge().round_over();
    }

    /// Whether an attempt is still in flight.
    fn in_flight(&self) -> bool {
        self.tickets.iter().any(TicketSlot::holds)
    }

    /// Drop every attempt still in flight and its permit (unrecorded: a
    /// cancellation, no health signal), and the round's timers. Returns how
    /// many attempts there were.
    fn cancel(&mut self, pins: &mut Pins<'_, M::Fut, <G::S as AsyncSleeper>::Sleep>) -> u32 {
        let breaker = self.call.holder().breaker();
        let mut cancelled = 0;
        for (attempt, ticket) in pins.attempts.iter_mut().zip(self.tickets.iter_mut()) {
            if attempt.is_some() {
                cancelled += 1;
                attempt.set(None);
            }
            drop(ticket.take(breaker));
        }
        if self.cut_slot.take().is_some() {
            pins.cut.set(None);
        }
        pins.timer.set(None);
        cancelled
    }
}

impl<G: HedgeHolder, M, T, E> Drop for Hedged<G, M, T, E> {
    /// A call dropped before it ended (its owner dropped the attempts'
    /// futures first): every ticket still held is a cancellation, an overdue
    /// round is over, and the hedges it sent, if any, settled (told as
    /// [`EventKind::HedgesSettled`], none won, with no stop: the caller gave
    /// up).
    fn drop(&mut self) {
        if self.phase == Phase::Done {
            // Every way of ending gives back every ticket (`cancel`, or the
            // last one's record) and ends its round.
            debug_assert!(
                !self.overdue && !self.tickets.iter().any(TicketSlot::holds),
                "an ended hedged call holds a ticket or an overdue round"
            );
            return;
        }
        if self.overdue {
            self.overdue = false;
            self.call.holder().hedge().round_over();
        }
        let breaker = self.call.holder().breaker();
        let mut cancelled = 0;
        for ticket in &mut self.tickets {
            if let Some(permit) = ticket.take(breaker) {
                cancelled += 1;
                drop(permit);
            }
        }
        self.call.tell_dropped(cancelled);
    }
}

/// The slot of a round's attempt just admitted by `call`. The clock is read
/// now only if the attempt needs its start (a time limit, a call that times
/// its attempts, a latency sample for the limit); otherwise at the round's
/// first `Pending`, or never for an attempt that answers at its first poll.
#[inline(always)]
fn round_slot<G, T, E>(call: &mut Call<G, T, E, HedgeTally>, attempt: Attempt) -> Slot
where
    G: Holder,
    G::C: Classify<T, E>,
{
    let limit = call.limit();
    let sample = call.take_sample();
    let started = match sample {
        Some((start, _)) => Some(start),
        None if limit.is_some() || call.timed() => Some(call.holder().breaker().elapsed_ns()),
        None => None,
    };
    Slot::new(
        started,
        attempt.number,
        0,
        limit,
        sample.map(|(_, weight)| weight),
    )
}

/// Poll every attempt in flight from slot `from` on (those before it were
/// just polled), then the `cut` timer (for slot `cut_slot`: an attempt ready
/// at its limit is not cut), then the hedge timer.
fn poll_slots<Fut: Future, Sl: Future<Output = ()>>(
    cx: &mut Context<'_>,
    pins: &mut Pins<'_, Fut, Sl>,
    cut_slot: Option<usize>,
    from: usize,
) -> Poll<Event<Fut::Output>> {
    for (i, attempt) in pins.attempts.iter_mut().enumerate().skip(from) {
        if let Some(attempt) = attempt.as_mut().as_pin_mut() {
            if let Poll::Ready(out) = attempt.poll(cx) {
                return Poll::Ready(Event::Done(i, out));
            }
        }
    }
    if let (Some(i), Some(timer)) = (cut_slot, pins.cut.as_mut().as_pin_mut()) {
        if timer.poll(cx).is_ready() {
            return Poll::Ready(Event::Cut(i));
        }
    }
    if let Some(timer) = pins.timer.as_mut().as_pin_mut() {
        if timer.poll(cx).is_ready() {
            return Poll::Ready(Event::HedgeDue);
        }
    }
    Poll::Pending
}

/// A duration in nanoseconds, saturating.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Whether the breaker lets a hedge go now: `Closed`, health at or above the
/// line where admission is graded (`shed_below`; one half when grading is off),
/// and the concurrency limit not engaged (a queue is seen: the slow attempts
/// are slow because of load, which a hedge adds to); if so, the epoch it was
/// seen in (the hedge's permit must be of it: a transition between this check
/// and the permit, found by the loom model `the_hedged_call_races_a_trip`,
/// would make the hedge a half-open probe). Read from a snapshot, which reads
/// the clock only below full health.
fn hedge_admits(breaker: &Breaker) -> Option<u32> {
    let snapshot = breaker.snapshot();
    if snapshot.state != State::Closed {
        return None;
    }
    let line = breaker.shed_below().unwrap_or(0.5);
    if snapshot.health.is_none_or(|h| h < line) {
        return None;
    }
    (!breaker.limit().engaged).then_some(snapshot.epoch)
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
