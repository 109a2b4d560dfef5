//! The call core every way of calling shares (`Guard::call`, `call_async`, the
//! tower response futures): [`Call`], a state machine over one call's attempts
//! that asks the breaker, records verdicts, consults the budget and decides the
//! next step, with no I/O of its own.

use super::*;
#[cfg(feature = "tower")]
use crate::breaker::HeldPermit;

/// What a [`Call`] keeps of its hedges: nothing for an unhedged call (`()`,
/// no field, no store), a [`HedgeTally`] for a hedged one.
pub(crate) trait Tally: Copy + Default {
    /// The hedge that won (0: none, or the round's own attempt).
    fn won(&self) -> u32;
    /// Hedges sent.
    fn sent(&self) -> u32;
    /// Attempts cancelled.
    fn cancelled(&self) -> u32;
}

impl Tally for () {
    #[inline(always)]
    fn won(&self) -> u32 {
        0
    }
    #[inline(always)]
    fn sent(&self) -> u32 {
        0
    }
    #[inline(always)]
    fn cancelled(&self) -> u32 {
        0
    }
}

/// A hedged call's tally in one word: the winner in bits 0-7 (set before the
/// winning attempt's success is decided, so that the outcome is built with
/// it, not written into after: a narrow store into a value about to be copied
/// whole stalls the copy); hedges sent in bits 8-15 and attempts cancelled in
/// bits 16-23 (at most `MAX_HEDGES` and `1 + MAX_HEDGES` per round), told
/// once, with the call's stop ([`Call::tell_stop`]).
#[derive(Clone, Copy, Default)]
pub(crate) struct HedgeTally(u32);

impl Tally for HedgeTally {
    #[inline(always)]
    fn won(&self) -> u32 {
        self.0 & 0xff
    }
    #[inline(always)]
    fn sent(&self) -> u32 {
        (self.0 >> 8) & 0xff
    }
    #[inline(always)]
    fn cancelled(&self) -> u32 {
        (self.0 >> 16) & 0xff
    }
}

impl<G, T, E> Call<G, T, E>
where
    G: Holder,
    G::C: Classify<T, E>,
{
    /// An unhedged call over `holder`.
    #[inline]
    pub(crate) fn new(holder: G) -> Self {
        Self::tallied(holder)
    }
}

impl<G, T, E> Call<G, T, E, HedgeTally> {
    /// A hedged call sent a hedge, and cancelled `cancelled` attempts more
    /// (the losers of a round a success ended, or a deadline cut's).
    #[inline(always)]
    pub(crate) fn hedges_told(&mut self, sent: u32, cancelled: u32) {
        // Saturating per byte (the counts fit: see `HedgeTally`).
        let h = self.hedges;
        let sent = (h.sent() + sent).min(0xff);
        let cancelled = (h.cancelled() + cancelled).min(0xff);
        self.hedges = HedgeTally(h.won() | (sent << 8) | (cancelled << 16));
    }

    /// A hedged call's success by hedge `k` (0: the round's own attempt) is
    /// about to be decided: its outcome says so.
    #[inline(always)]
    pub(crate) fn won_by(&mut self, k: u32) {
        self.hedges = HedgeTally((self.hedges.0 & !0xff) | k.min(0xff));
    }
}

impl<G: Holder, T, E> Call<G, T, E, HedgeTally> {
    /// A hedged call's future was dropped before it ended, with `cancelled`
    /// attempts in flight (their permits given back unrecorded): if it sent
    /// hedges, they settled, none won (told once: the call tells no stop).
    #[cold]
    pub(crate) fn tell_dropped(&mut self, cancelled: u32) {
        self.hedges_told(0, cancelled);
        let h = self.hedges;
        if h.sent() > 0 {
            self.holder.breaker().emit(EventKind::HedgesSettled {
                sent: h.sent(),
                won: false,
                cancelled: h.cancelled(),
            });
        }
    }
}

/// What to do after an attempt.
pub(crate) enum Step<T, E> {
    /// The call is over.
    Done(Outcome<T, E>),
    /// Sleep this long, then make the next attempt.
    Sleep(Duration),
}

/// What a [`Call`] holds its policy and state by: a borrowed guard (the permits
/// borrow the breaker), or (the tower layers) a service clone's handle on its
/// guard, or a shared policy and one registry entry's breaker and budget.
/// Accessors, not a `&Guard`, so that the parts need not live in one `Guard`;
/// for a guard each is a field access.
pub(crate) trait Holder {
    /// The classifier.
    type C;
    /// The sleeper.
    type S;
    /// The breaker.
    fn breaker(&self) -> &Breaker;
    /// The retry policy.
    fn retry(&self) -> &Retry;
    /// The retry budget, if any.
    fn budget(&self) -> Option<&RetryBudget>;
    /// The classifier.
    fn classifier(&self) -> &Self::C;
    /// The sleeper (the tower service's and the hedged call's futures sleep
    /// on it).
    fn sleeper(&self) -> &Self::S;
}

/// A [`Holder`] whose calls take their permits through it: [`Call::begin`]
/// returns them. The tower layers' holders keep their permits in a
/// [`HeldPermit`](crate::breaker::HeldPermit) instead (see
/// [`Call::begin_held`]).
pub(crate) trait Acquire: Holder {
    /// The permit an attempt runs under.
    type Permit: AttemptPermit;
    /// Rule 1: ask the breaker, for a first attempt or (`retry`) a later one.
    fn acquire(&self, retry: bool) -> Result<Self::Permit, Rejected>;
}

/// A borrowed holder is one (the tower future's first attempt makes its call
/// on the stack over the holder it keeps).
#[cfg(feature = "tower")]
impl<G: Holder> Holder for &G {
    type C = G::C;
    type S = G::S;
    #[inline(always)]
    fn breaker(&self) -> &Breaker {
        G::breaker(self)
    }
    #[inline(always)]
    fn retry(&self) -> &Retry {
        G::retry(self)
    }
    #[inline(always)]
    fn budget(&self) -> Option<&RetryBudget> {
        G::budget(self)
    }
    #[inline(always)]
    fn classifier(&self) -> &G::C {
        G::classifier(self)
    }
    #[inline(always)]
    fn sleeper(&self) -> &G::S {
        G::sleeper(self)
    }
}

/// Every holder lends its breaker to a [`HeldPermit`](crate::breaker::HeldPermit).
#[cfg(feature = "tower")]
impl<G: Holder> crate::breaker::BreakerOwner for G {
    #[inline(always)]
    fn breaker(&self) -> &Breaker {
        Holder::breaker(self)
    }
}

/// The accessors of a holder that derefs to a `Guard`.
macro_rules! guard_accessors {
    () => {
        #[inline(always)]
        fn breaker(&self) -> &Breaker {
            &self.breaker
        }
        #[inline(always)]
        fn retry(&self) -> &Retry {
            &self.retry
        }
        #[inline(always)]
        fn budget(&self) -> Option<&RetryBudget> {
            self.budget.as_deref()
        }
        #[inline(always)]
        fn classifier(&self) -> &C {
            &self.classifier
        }
        #[inline(always)]
        fn sleeper(&self) -> &S {
            &self.sleeper
        }
    };
}

impl<C, S> Holder for &Guard<C, S> {
    type C = C;
    type S = S;
    guard_accessors!();
}

impl<'g, C, S> Acquire for &'g Guard<C, S> {
    type Permit = Permit<'g>;
    #[inline(always)]
    fn acquire(&self, retry: bool) -> Result<Permit<'g>, Rejected> {
        let guard: &'g Guard<C, S> = self;
        guard.breaker.try_acquire_as(retry)
    }
}

/// The permit protocol the call needs: [`Permit`]'s, the one permit it records
/// (the tower layers' are `Permit`s too, lent by a
/// [`HeldPermit`](crate::breaker::HeldPermit)).
pub(crate) trait AttemptPermit {
    fn epoch(&self) -> u32;
    fn record(self, verdict: Verdict) -> Recorded;
    fn holds_slot(&self) -> bool;
    fn record_sampled(
        self,
        verdict: Verdict,
        elapsed_ns: u64,
        now_ns: u64,
        weight: u32,
    ) -> Recorded;
}

impl AttemptPermit for Permit<'_> {
    #[inline(always)]
    fn epoch(&self) -> u32 {
        Permit::epoch(self)
    }
    #[inline(always)]
    fn record(self, verdict: Verdict) -> Recorded {
        Permit::record(self, verdict)
    }
    #[inline(always)]
    fn holds_slot(&self) -> bool {
        Permit::holds_slot(self)
    }
    #[inline]
    fn record_sampled(
        self,
        verdict: Verdict,
        elapsed_ns: u64,
        now_ns: u64,
        weight: u32,
    ) -> Recorded {
        Permit::record_sampled(self, verdict, elapsed_ns, now_ns, weight)
    }
}

/// One call's state, shared by the sync and async loops (and the tower service).
pub(crate) struct Call<G, T, E, X = ()> {
    holder: G,
    /// Breaker-clock time of the first attempt (the deadline counts from it).
    start_ns: Option<u64>,
    attempts: u32,
    /// The last attempt's result, kept across a sleep for the error (or value) a
    /// stop must return; `None` before the first attempt ends and after an
    /// attempt that was cut.
    last: Option<Result<T, E>>,
    /// Time left before the deadline when the current attempt began.
    deadline_left: Option<Duration>,
    /// The most attempts this call may make: the retry's `max_attempts`, or
    /// fewer (see [`no_more_retries`](Self::no_more_retries)).
    max_attempts: u32,
    delays: Delays,
    /// The current attempt, when it is a latency sample for the concurrency
    /// limit: `(start on the breaker's clock, attempts it stands for)`.
    sample: Option<(u64, u32)>,
    /// A hedged call's tally ([`HedgeTally`]); nothing (`()`) for any other
    /// call, whose `Call` is on the blocking guard's healthy path.
    hedges: X,
}

impl<G, T, E, X> Call<G, T, E, X> {
    /// What the call holds its policy and state by.
    #[inline(always)]
    pub(crate) fn holder(&self) -> &G {
        &self.holder
    }
}

impl<G, T, E, X> Call<G, T, E, X>
where
    G: Holder,
    G::C: Classify<T, E>,
    X: Tally,
{
    /// A call over `holder`, keeping the tally `X`.
    #[inline]
    pub(crate) fn tallied(holder: G) -> Self {
        let max_attempts = holder.retry().max_attempts();
        Self {
            holder,
            start_ns: None,
            attempts: 0,
            last: None,
            deadline_left: None,
            max_attempts,
            delays: Delays::new(),
            sample: None,
            hedges: X::default(),
        }
    }

    /// Whether the call may make another attempt after the current one (before
    /// the breaker, the deadline and the budget have their say): a retry, or a
    /// hedge (a hedged call's attempts, hedges included, never exceed the
    /// retry's `max_attempts`).
    #[inline]
    pub(crate) fn may_retry(&self) -> bool {
        self.attempts < self.max_attempts
    }

    /// Make the current attempt the last one: a retryable failure then ends the
    /// call as [`Stop::Exhausted`] (a tower request that cannot be cloned).
    #[inline]
    pub(crate) fn no_more_retries(&mut self) {
        self.max_attempts = self.attempts.max(1);
    }

    /// End the call without another attempt: the service failed before it could
    /// be made (tower's `poll_ready`). [`Stop::Permanent`] with that error; no
    /// health signal (no permit was taken).
    #[cfg(feature = "tower")]
    #[cold]
    pub(crate) fn abandon(&mut self, error: E) -> Outcome<T, E> {
        self.done(Stop::Permanent, Some(Err(error)), None)
    }

    /// A call whose first attempt was admitted outside it (its permit taken,
    /// its budget deposit made): it goes on with that attempt's verdict (see
    /// [`Call::after_record`]), or finishes it. `start_ns` is the attempt's
    /// admission on the breaker's clock when the retry has a deadline (the
    /// deadline counts from it), `sample` the attempt's latency sample, if it
    /// is one (see `admit_first`).
    #[cold]
    pub(crate) fn after_first(
        holder: G,
        start_ns: Option<u64>,
        sample: Option<(u64, u32)>,
    ) -> Self {
        let mut call = Self::tallied(holder);
        call.attempts = 1;
        call.sample = sample;
        if let (Some(deadline), Some(start)) = (call.holder.retry().deadline(), start_ns) {
            call.start_ns = Some(start);
            call.deadline_left = Some(deadline);
        }
        call
    }

    /// This call over another holder (the tower future's call, made on the
    /// stack over a borrowed holder, kept when a retry follows).
    #[cfg(feature = "tower")]
    pub(crate) fn with_holder<G2: Holder>(self, holder: G2) -> Call<G2, T, E, X> {
        Call {
            holder,
            start_ns: self.start_ns,
            attempts: self.attempts,
            last: self.last,
            deadline_left: self.deadline_left,
            max_attempts: self.max_attempts,
            delays: self.delays,
            sample: self.sample,
            hedges: self.hedges,
        }
    }

    /// Whether attempts are timed (as [`Guard::timed`]).
    #[inline]
    pub(crate) fn timed(&self) -> bool {
        timed(&self.holder)
    }

    /// Ask the breaker for a retry's permit, held in `held` (rule 1), unless
    /// the retry is due at or past the call's deadline (rule 4): as
    /// [`begin`](Self::begin), for the tower layers' holders.
    #[cfg(feature = "tower")]
    #[inline]
    pub(crate) fn begin_held<O>(&mut self, held: &mut HeldPermit<O>) -> Result<(), Outcome<T, E>>
    where
        O: crate::breaker::BreakerOwner,
    {
        debug_assert!(self.attempts > 0, "a retry");
        // The holder's breaker is the held permit's owner's (the call holds a
        // clone of the service's holder), so the ticket is the held one's.
        self.begin_ticket(held.slot_mut()).map(|_attempt| ())
    }

    /// Ask the breaker for an attempt's permit, its ticket kept in `slot`
    /// (rule 1), unless the attempt is a retry due at or past the call's
    /// deadline (rule 4): as [`begin`](Self::begin), for a hedged call, which
    /// keeps a ticket per attempt in flight.
    #[inline]
    pub(crate) fn begin_ticket(
        &mut self,
        slot: &mut crate::breaker::TicketSlot,
    ) -> Result<Attempt, Outcome<T, E>> {
        self.check_deadline()?;
        match slot.acquire(self.holder.breaker(), self.attempts > 0) {
            Ok(()) => Ok(self.admitted(slot.epoch(), slot.holds_slot())),
            Err(rejected) => Err(self.rejected(rejected)),
        }
    }

    /// Rule 4 for an attempt about to be asked for: a retry due at or past the
    /// deadline is not sent; otherwise the time left is noted.
    #[inline(always)]
    fn check_deadline(&mut self) -> Result<(), Outcome<T, E>> {
        // `start_ns` is set from the first attempt on when there is a deadline,
        // so this is a retry: checked before the permit, so that a retry that is
        // not sent takes no permit (no half-open slot, no `Open -> HalfOpen`)
        // and records nothing.
        if let (Some(deadline), Some(start)) = (self.holder.retry().deadline(), self.start_ns) {
            let now = self.holder.breaker().elapsed_ns();
            let elapsed = Duration::from_nanos(now.saturating_sub(start));
            match deadline.checked_sub(elapsed) {
                Some(left) if !left.is_zero() => self.deadline_left = Some(left),
                _ => return Err(self.past_deadline()),
            }
        }
        Ok(())
    }

    /// An attempt's bookkeeping once admitted (its permit's epoch and whether
    /// it holds a concurrency slot): its number, its latency sample, and for
    /// the first, the deadline's start and the budget's deposit.
    #[inline(always)]
    fn admitted(&mut self, epoch: u32, holds_slot: bool) -> Attempt {
        let holder = &self.holder;
        self.attempts += 1;
        self.sample = sample_of(holder.breaker(), holds_slot);
        if self.attempts == 1 {
            // The deadline counts from the first attempt's admission, so
            // the first attempt has all of it (a deadline is never zero).
            if let Some(deadline) = holder.retry().deadline() {
                self.start_ns = Some(holder.breaker().elapsed_ns());
                self.deadline_left = Some(deadline);
            }
            if let Some(budget) = holder.budget() {
                budget.deposit();
            }
        }
        let remaining = match (self.deadline_left, holder.retry().attempt_timeout()) {
            (Some(left), Some(timeout)) => Some(left.min(timeout)),
            (left, timeout) => left.or(timeout),
        };
        Attempt {
            number: self.attempts,
            remaining,
            epoch,
        }
    }

    /// A retry was due at or past the deadline (the sleeper woke late, or a
    /// tower service took that long to be ready): the call ends without it,
    /// keeping the last attempt's result. Nothing is recorded and no budget
    /// token is refunded (the one withdrawn paid for the sleep, which happened).
    #[cold]
    fn past_deadline(&mut self) -> Outcome<T, E> {
        let last = self.last.take();
        self.done(Stop::DeadlineExceeded, last, None)
    }

    /// The attempt's time limit in `call_async`: the time left before the
    /// deadline or the per-attempt timeout, whichever is sooner, and whether it is
    /// the deadline's. `None`: the attempt runs until it ends.
    #[inline]
    pub(crate) fn limit(&self) -> Option<(Duration, bool)> {
        limit_of(self.deadline_left, self.holder.retry().attempt_timeout())
    }

    /// Record the attempt and decide: return, or sleep and go again (rules 2–5).
    #[inline]
    pub(crate) fn finish<P: AttemptPermit>(
        &mut self,
        permit: P,
        result: Result<T, E>,
    ) -> Step<T, E> {
        let class = self.holder.classifier().classify(&result);
        // Rule 2: the health signal, whatever the call does next. A stale report
        // (the breaker moved on during the attempt) changed nothing, and the retry
        // decides on its own: the next `try_acquire` sees the new epoch.
        let _recorded = self.record(permit, class.verdict());
        self.after_record(class, Some(result))
    }

    /// [`finish`](Self::finish) for a call's first attempt.
    #[inline]
    pub(crate) fn finish_first<P: AttemptPermit>(
        &mut self,
        permit: P,
        result: Result<T, E>,
    ) -> Step<T, E> {
        let class = self.holder.classifier().classify(&result);
        let _recorded = self.record(permit, class.verdict());
        self.after_first_record(class, Some(result))
    }

    /// Record `verdict` on `permit`, with its latency when the attempt is a
    /// sample for the concurrency limit.
    #[inline(always)]
    fn record<P: AttemptPermit>(&mut self, permit: P, verdict: Verdict) -> Recorded {
        match self.sample.take() {
            None => permit.record(verdict),
            Some(sample) => self.record_sample(permit, verdict, sample),
        }
    }

    #[cold]
    #[inline(never)]
    fn record_sample<P: AttemptPermit>(
        &self,
        permit: P,
        verdict: Verdict,
        sample: (u64, u32),
    ) -> Recorded {
        record_sampled(self.holder.breaker(), permit, verdict, sample)
    }

    /// [`finish`](Self::finish) for an attempt that began at `started_ns` on the
    /// breaker's clock: the classifier sees its duration, and a success slower
    /// than the breaker's slow-call threshold is a failure for the breaker (only:
    /// the call still returns it).
    #[inline(never)]
    pub(crate) fn finish_timed<P: AttemptPermit>(
        &mut self,
        permit: P,
        result: Result<T, E>,
        started_ns: u64,
    ) -> Step<T, E> {
        let holder = &self.holder;
        let now = holder.breaker().elapsed_ns();
        let elapsed = Duration::from_nanos(now.saturating_sub(started_ns));
        let class = holder.classifier().classify_timed(&result, Some(elapsed));
        // Every attempt is timed here: each is a latency sample standing for
        // itself (a sample begun in `admit` is replaced by this one).
        self.sample = None;
        let verdict = holder.breaker().timed_verdict(class.verdict(), elapsed);
        let _recorded = if holder.breaker().limit_enabled() {
            permit.record_sampled(verdict, now.saturating_sub(started_ns), now, 1)
        } else {
            permit.record(verdict)
        };
        if let Some(threshold) = holder.breaker().slow_call_threshold() {
            if elapsed > threshold {
                holder
                    .breaker()
                    .emit(EventKind::SlowAttempt { elapsed, threshold });
            }
        }
        self.after_record(class, Some(result))
    }

    /// An attempt cut by its time limit (its future already dropped): a
    /// retryable failure for the breaker and the retry, with no result. Cut by
    /// the deadline, the call is over.
    #[cold]
    pub(crate) fn cut<P: AttemptPermit>(
        &mut self,
        permit: P,
        limit: Duration,
        by_deadline: bool,
    ) -> Step<T, E> {
        // A sampled attempt cut at its limit took at least that long: the cut
        // time is its latency (a lower bound, which is what a queue looks like).
        let _recorded = self.record(permit, Verdict::failure());
        self.holder.breaker().emit(EventKind::AttemptTimedOut {
            attempt: self.attempts,
            limit,
            by_deadline,
        });
        if by_deadline {
            return Step::Done(self.done(Stop::DeadlineExceeded, None, None));
        }
        self.after_record(Classification::failure(), None)
    }

    /// After the verdict is recorded: return, or sleep and go again (rules 3–5).
    #[inline]
    pub(crate) fn after_record(
        &mut self,
        class: Classification,
        result: Option<Result<T, E>>,
    ) -> Step<T, E> {
        if let Classification::Success = class {
            // A first-attempt success tells nothing (see `crate::event`), and is
            // counted only if the breaker counts successes; a later one ends a
            // call that did something unusual.
            if self.attempts > 1 {
                self.tell_stop(Stop::Succeeded);
            } else {
                self.holder.breaker().first_success();
            }
            return Step::Done(self.outcome(Stop::Succeeded, result, None));
        }
        self.after_failure(class, result)
    }

    /// [`after_record`](Self::after_record) for the first attempt of a call: a
    /// success is the healthy path, with nothing to tell.
    #[inline]
    pub(crate) fn after_first_record(
        &mut self,
        class: Classification,
        result: Option<Result<T, E>>,
    ) -> Step<T, E> {
        if let Classification::Success = class {
            // Not counted here: `Guard::call` counts it apart (`call_counted`),
            // and the tower layer's first attempt never ends here.
            return Step::Done(self.outcome(Stop::Succeeded, result, None));
        }
        self.after_failure(class, result)
    }

    /// After a verdict other than success: stop, or sleep and go again.
    #[inline]
    fn after_failure(&mut self, class: Classification, result: Option<Result<T, E>>) -> Step<T, E> {
        match class {
            // A success never comes here (both callers end the call on it first);
            // it shares the ignored arm only so that the match needs no panic.
            Classification::Success | Classification::Ignored => {
                return Step::Done(self.done(Stop::Ignored, result, None));
            }
            Classification::Failure { retryable, .. } => {
                if !retryable {
                    return Step::Done(self.done(Stop::Permanent, result, None));
                }
            }
        }
        if self.attempts >= self.max_attempts {
            return Step::Done(self.done(Stop::Exhausted, result, None));
        }
        self.before_sleep(class, result)
    }

    #[cold]
    fn before_sleep(&mut self, class: Classification, result: Option<Result<T, E>>) -> Step<T, E> {
        let holder = &self.holder;
        let breaker = holder.breaker();
        let backoff = Duration::from_nanos(self.delays.next(holder.retry(), self.attempts));
        let (delay, reason) = match class.retry_after() {
            Some(hint) if hint > backoff => (hint, DelayReason::ServerHint),
            _ => (backoff, DelayReason::Backoff),
        };
        // Rule 3, in order: breaker, deadline, budget.
        if let Some(rejected) = breaker.rejects_for(delay) {
            breaker.emit(EventKind::Rejected(rejected));
            return Step::Done(self.done(Stop::RejectedMidCall, result, Some(rejected)));
        }
        if let (Some(deadline), Some(start)) = (holder.retry().deadline(), self.start_ns) {
            let elapsed = Duration::from_nanos(breaker.elapsed_ns().saturating_sub(start));
            // A sleep ending at the deadline is not started either: the retry
            // after it would not be sent (see `begin`). `checked_add`: a wake
            // time past `Duration::MAX` is past any deadline.
            if elapsed
                .checked_add(delay)
                .is_none_or(|wake| wake >= deadline)
            {
                return Step::Done(self.done(Stop::DeadlineExceeded, result, None));
            }
        }
        // With headroom (the concurrency limit sees no queue and the breaker is
        // not grading) a retry costs nothing the downstream cannot spare: it
        // spends a budget token if there is one, and goes without one if not
        // (up to the retry policy's attempts). Spending first keeps the budget
        // drained through a stretch of cheap retries, as without headroom, so
        // that when a queue or a failure spell begins, the budget has no stored
        // burst of retries to release at once.
        if let Some(budget) = holder.budget() {
            if !budget.try_withdraw() && !breaker.retry_headroom() {
                #[cfg(feature = "metrics")]
                budget.metric_handles().refused();
                breaker.emit(EventKind::BudgetRefused {
                    budget: budget.name(),
                    attempts: self.attempts,
                });
                return Step::Done(self.done(Stop::BudgetExhausted, result, None));
            }
        }
        breaker.emit(EventKind::Retry {
            attempt: self.attempts + 1,
            delay,
            reason,
        });
        self.last = result;
        Step::Sleep(delay)
    }

    /// Hedging (`call_async` with a [`Hedge`](crate::Hedge)): whether the
    /// deadline leaves time for a hedge now, noting the time left for its
    /// [`Attempt::remaining`]. Unlike [`check_deadline`](Self::check_deadline)
    /// it ends nothing: a deadline that has passed will cut the attempts in
    /// flight.
    pub(crate) fn hedge_time_left(&mut self) -> bool {
        if let (Some(deadline), Some(start)) = (self.holder.retry().deadline(), self.start_ns) {
            let now = self.holder.breaker().elapsed_ns();
            let elapsed = Duration::from_nanos(now.saturating_sub(start));
            match deadline.checked_sub(elapsed) {
                Some(left) if !left.is_zero() => self.deadline_left = Some(left),
                _ => return false,
            }
        }
        true
    }

    /// A hedge admitted under a permit of `epoch`: one more attempt of the
    /// call (after [`hedge_time_left`](Self::hedge_time_left) noted the time
    /// left). Every attempt of a hedged call is timed, so none carries a
    /// sample of its own.
    pub(crate) fn admit_hedge(&mut self, epoch: u32) -> Attempt {
        self.attempts += 1;
        self.sample = None;
        let remaining = match (self.deadline_left, self.holder.retry().attempt_timeout()) {
            (Some(left), Some(timeout)) => Some(left.min(timeout)),
            (left, timeout) => left.or(timeout),
        };
        Attempt {
            number: self.attempts,
            remaining,
            epoch,
        }
    }

    /// Record an attempt of a hedged call and return its classification,
    /// without deciding what follows (other attempts may still be in flight).
    ///
    /// `timed`: `(start, end)` on the breaker's clock, for an attempt whose
    /// time was read: recorded as [`finish_timed`](Self::finish_timed)
    /// records (the classifier sees the time, a slow success is a failure for
    /// the breaker), and a latency sample for the limit of `weight` if it is
    /// one (decided when it began: [`take_sample`](Self::take_sample),
    /// [`sample_weight`]). `None`: an attempt that answered at its first poll
    /// in a call that times nothing ([`timed`](Self::timed) false, not a
    /// sample), recorded as [`finish`](Self::finish) records (no clock read).
    #[inline]
    pub(crate) fn record_hedged<P: AttemptPermit>(
        &self,
        permit: P,
        result: &Result<T, E>,
        timed: Option<(u64, u64)>,
        weight: Option<u32>,
    ) -> Classification {
        let holder = &self.holder;
        let classifier = holder.classifier();
        let Some((started_ns, now_ns)) = timed else {
            let class = classifier.classify(result);
            let _recorded = permit.record(class.verdict());
            return class;
        };
        let elapsed_ns = now_ns.saturating_sub(started_ns);
        let elapsed = Duration::from_nanos(elapsed_ns);
        // As `finish_timed`: a timed attempt's classifier sees its time.
        let class = classifier.classify_timed(result, Some(elapsed));
        let breaker = holder.breaker();
        let verdict = breaker.timed_verdict(class.verdict(), elapsed);
        let _recorded = match weight {
            Some(weight) => permit.record_sampled(verdict, elapsed_ns, now_ns, weight),
            None => permit.record(verdict),
        };
        if let Some(threshold) = breaker.slow_call_threshold() {
            if elapsed > threshold {
                breaker.emit(EventKind::SlowAttempt { elapsed, threshold });
            }
        }
        class
    }

    /// The current attempt's latency sample for the limit, if it is one
    /// (`(its start, its weight)`, decided at its admission), taken.
    #[inline(always)]
    pub(crate) fn take_sample(&mut self) -> Option<(u64, u32)> {
        self.sample.take()
    }

    /// Record a hedged call's attempt number `attempt`, begun at `started_ns`
    /// and cut by its time limit at `now_ns` (its future already dropped): a
    /// failure, as [`cut`](Self::cut) records it, without deciding what
    /// follows.
    pub(crate) fn record_cut<P: AttemptPermit>(
        &self,
        permit: P,
        attempt: u32,
        (limit, by_deadline): (Duration, bool),
        started_ns: u64,
        now_ns: u64,
    ) {
        let breaker = self.holder.breaker();
        let _recorded = if breaker.limit_enabled() {
            permit.record_sampled(
                Verdict::failure(),
                now_ns.saturating_sub(started_ns),
                now_ns,
                1,
            )
        } else {
            permit.record(Verdict::failure())
        };
        breaker.emit(EventKind::AttemptTimedOut {
            attempt,
            limit,
            by_deadline,
        });
    }

    /// End a hedged call whose attempt the deadline cut: `DeadlineExceeded`,
    /// with no result.
    #[cold]
    pub(crate) fn deadline_cut(&mut self) -> Outcome<T, E> {
        self.done(Stop::DeadlineExceeded, None, None)
    }

    /// The breaker refused an attempt: the call ends with the last result kept.
    #[cold]
    pub(crate) fn rejected(&mut self, rejected: Rejected) -> Outcome<T, E> {
        let stop = if self.attempts == 0 {
            Stop::Rejected
        } else {
            Stop::RejectedMidCall
        };
        let last = self.last.take();
        self.done(stop, last, Some(rejected))
    }

    /// The call's outcome, told to the breaker's listeners (every stop but a
    /// first-attempt success comes here).
    #[inline]
    fn done(
        &self,
        stop: Stop,
        last: Option<Result<T, E>>,
        rejected: Option<Rejected>,
    ) -> Outcome<T, E> {
        self.tell_stop(stop);
        self.outcome(stop, last, rejected)
    }

    /// Tell the breaker's listeners that the call stopped: for a call that
    /// sent hedges, how they settled first (once per call, whatever its
    /// rounds), then the stop.
    #[inline]
    fn tell_stop(&self, stop: Stop) {
        if self.hedges.sent() > 0 {
            self.tell_settled();
        }
        tell_stop(self.holder.breaker(), stop, self.attempts);
    }

    #[cold]
    fn tell_settled(&self) {
        self.holder.breaker().emit(EventKind::HedgesSettled {
            sent: self.hedges.sent(),
            won: self.hedges.won() != 0,
            cancelled: self.hedges.cancelled(),
        });
    }

    #[inline(always)]
    fn outcome(
        &self,
        stop: Stop,
        last: Option<Result<T, E>>,
        rejected: Option<Rejected>,
    ) -> Outcome<T, E> {
        Outcome {
            stop,
            attempts: self.attempts,
            last,
            rejected,
            hedge_won: self.hedges.won(),
        }
    }
}

impl<G, T, E, X> Call<G, T, E, X>
where
    X: Tally,
    G: Acquire,
    G::C: Classify<T, E>,
{
    /// Ask the breaker for the next attempt's permit (rule 1), unless the
    /// attempt is a retry due at or past the call's deadline (rule 4).
    #[inline]
    pub(crate) fn begin(&mut self) -> Result<(G::Permit, Attempt), Outcome<T, E>> {
        self.check_deadline()?;
        self.admit()
    }

    /// [`begin`](Self::begin) for a call's first attempt, which the deadline
    /// never refuses: the healthy path skips the check.
    #[inline]
    pub(crate) fn begin_first(&mut self) -> Result<(G::Permit, Attempt), Outcome<T, E>> {
        debug_assert_eq!(self.attempts, 0, "not the first attempt");
        self.admit()
    }

    /// Rule 1, and the attempt's bookkeeping once admitted.
    #[inline(always)]
    fn admit(&mut self) -> Result<(G::Permit, Attempt), Outcome<T, E>> {
        match self.holder.acquire(self.attempts > 0) {
            Ok(permit) => {
                let holds_slot = permit.holds_slot();
                let attempt = self.admitted(permit.epoch(), holds_slot);
                Ok((permit, attempt))
            }
            Err(rejected) => Err(self.rejected(rejected)),
        }
    }
}

/// Whether the attempt just admitted (`holds_slot`: its permit holds a slot) is a latency sample for
/// the breaker's concurrency limit, and then `(its start, attempts it stands
/// for)`: every attempt holding a slot (the limit is engaged), and otherwise
/// one in [`SAMPLE_EVERY`](crate::limit::SAMPLE_EVERY) per thread, standing for
/// that many.
#[inline(always)]
pub(crate) fn sample_of(breaker: &Breaker, holds_slot: bool) -> Option<(u64, u32)> {
    sample_weight(breaker, holds_slot).map(|weight| (breaker.elapsed_ns(), weight))
}

/// The weight of an attempt's latency sample for the concurrency limit (see
/// [`sample_of`]), or `None` when it is not one. Reads no clock.
#[inline(always)]
pub(crate) fn sample_weight(breaker: &Breaker, holds_slot: bool) -> Option<u32> {
    if holds_slot {
        Some(1)
    } else if breaker.limit_enabled() {
        crate::limit::sample_tick()
    } else {
        None
    }
}

/// Record `verdict` on `permit`, with its latency when the attempt is a
/// `sample` for the concurrency limit (see [`sample_of`]).
#[inline(always)]
pub(crate) fn record_with<P: AttemptPermit>(
    breaker: &Breaker,
    permit: P,
    verdict: Verdict,
    sample: Option<(u64, u32)>,
) -> Recorded {
    match sample {
        None => permit.record(verdict),
        Some(sample) => record_sample(breaker, permit, verdict, sample),
    }
}

#[cold]
#[inline(never)]
fn record_sample<P: AttemptPermit>(
    breaker: &Breaker,
    permit: P,
    verdict: Verdict,
    sample: (u64, u32),
) -> Recorded {
    record_sampled(breaker, permit, verdict, sample)
}

/// Record `verdict` on `permit` with the latency of its `sample`: the attempt
/// began at `started` on the breaker's clock, and stands for `weight`.
#[inline(always)]
fn record_sampled<P: AttemptPermit>(
    breaker: &Breaker,
    permit: P,
    verdict: Verdict,
    (started, weight): (u64, u32),
) -> Recorded {
    let now = breaker.elapsed_ns();
    permit.record_sampled(verdict, now.saturating_sub(started), now, weight)
}

/// Whether a call over `holder` times its attempts: a slow-call threshold, or
/// a classifier that wants the time (as [`Guard::timed`]).
#[inline]
pub(crate) fn timed<G: Holder, T, E>(holder: &G) -> bool
where
    G::C: Classify<T, E>,
{
    holder.breaker().has_slow_call() || holder.classifier().wants_elapsed()
}

/// An attempt's time limit: the time left before the deadline (`deadline_left`)
/// or the per-attempt `timeout`, whichever is sooner, and whether it is the
/// deadline's; `None` without either.
#[inline]
pub(crate) fn limit_of(
    deadline_left: Option<Duration>,
    timeout: Option<Duration>,
) -> Option<(Duration, bool)> {
    match (deadline_left, timeout) {
        (None, None) => None,
        (Some(remaining), None) => Some((remaining, true)),
        (None, Some(timeout)) => Some((timeout, false)),
        (Some(remaining), Some(timeout)) => Some(if remaining <= timeout {
            (remaining, true)
        } else {
            (timeout, false)
        }),
    }
}

/// What a first attempt admitted outside a [`Call`] leaves for the call, if
/// it goes on (see [`Call::after_first`]).
#[cfg(feature = "tower")]
#[derive(Clone, Copy)]
pub(crate) struct First {
    /// The admission on the breaker's clock, when the retry has a deadline.
    pub(crate) start_ns: Option<u64>,
    /// The attempt's latency sample, if it is one.
    pub(crate) sample: Option<(u64, u32)>,
}

/// The first attempt's admission outside a [`Call`] (the tower response
/// futures': their call is made only if the attempt does not succeed): rule
/// 1, the ticket kept in `ticket`, and the bookkeeping `Call::admitted` does
/// for a first attempt (its latency sample, the deadline's start, the
/// budget's deposit).
#[cfg(feature = "tower")]
#[inline(always)]
pub(crate) fn admit_first<G: Holder>(
    holder: &G,
    ticket: &mut crate::breaker::TicketSlot,
) -> Result<First, Rejected> {
    let sample = admit_untimed_first(holder, ticket)?;
    let breaker = holder.breaker();
    Ok(First {
        sample,
        start_ns: holder.retry().deadline().map(|_| breaker.elapsed_ns()),
    })
}

/// [`admit_first`] for a call with no deadline (a hedged call's lean first
/// attempt, which has checked): rule 1, the ticket kept in `ticket`, the
/// budget's deposit, and the attempt's latency sample, if it is one.
#[cfg(feature = "tower")]
#[inline(always)]
pub(crate) fn admit_untimed_first<G: Holder>(
    holder: &G,
    ticket: &mut crate::breaker::TicketSlot,
) -> Result<Option<(u64, u32)>, Rejected> {
    let breaker = holder.breaker();
    ticket.acquire(breaker, false)?;
    let sample = sample_of(breaker, ticket.holds_slot());
    if let Some(budget) = holder.budget() {
        budget.deposit();
    }
    Ok(sample)
}

/// Tell `breaker`'s listeners that a call stopped after `attempts` attempts.
#[inline]
fn tell_stop(breaker: &Breaker, stop: Stop, attempts: u32) {
    if breaker.observed() {
        breaker.emit(EventKind::CallStopped { stop, attempts });
    }
}

/// A first attempt the breaker refused, outside a [`Call`] (tower's `call`):
/// told to the listeners now, as [`Call::rejected`] tells it (the outcome,
/// [`refused_outcome`], is made when the response future is polled).
#[cfg(feature = "tower")]
#[cold]
pub(crate) fn tell_refused(breaker: &Breaker) {
    tell_stop(breaker, Stop::Rejected, 0);
}

/// The outcome of a call whose first attempt the breaker refused.
#[cfg(feature = "tower")]
#[inline]
pub(crate) fn refused_outcome<T, E>(rejected: Rejected) -> Outcome<T, E> {
    Outcome {
        stop: Stop::Rejected,
        attempts: 0,
        last: None,
        rejected: Some(rejected),
        hedge_won: 0,
    }
}

/// The outcome of a call over `breaker` whose first attempt succeeded (the
/// healthy path, which tells no listener: see `crate::event`; counted only if
/// the breaker counts successes).
#[cfg(feature = "tower")]
#[inline(always)]
pub(crate) fn first_success<T, E>(breaker: &Breaker, result: Result<T, E>) -> Outcome<T, E> {
    breaker.first_success();
    Outcome {
        stop: Stop::Succeeded,
        attempts: 1,
        last: Some(result),
        rejected: None,
        hedge_won: 0,
    }
}
