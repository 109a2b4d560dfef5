//! The permits: [`Permit`] (borrows the breaker) and [`OwnedPermit`] (owns an
//! `Arc` of it); record one, or drop it to cancel.

use super::*;

/// Permission to make one attempt, tagged with the epoch it was admitted in.
///
/// Consume it with [`record`](Permit::record). Dropping it unrecorded is a
/// cancellation: it frees its half-open probe slot (if it has one) and is not a
/// health signal. A panicking attempt therefore cannot wedge the breaker.
///
/// # Examples
///
/// The breaker on its own, for code that runs its own loop: take a permit, make the
/// attempt, report it. A report on a permit from before a transition changes
/// nothing:
///
/// ```
/// use fusebox::{Breaker, Recorded, Verdict};
///
/// let breaker = Breaker::builder().build()?;
///
/// let permit = breaker.try_acquire().expect("a new breaker admits");
/// let outcome: Result<u32, &str> = Ok(7); // the attempt
/// let verdict = if outcome.is_ok() { Verdict::Success } else { Verdict::failure() };
/// assert_eq!(permit.record(verdict), Recorded::Applied { transition: None });
///
/// let late = breaker.try_acquire().unwrap();
/// breaker.force_open(); // the breaker moves on while the attempt runs
/// assert_eq!(late.record(Verdict::Success), Recorded::Stale);
///
/// breaker.reset();
/// drop(breaker.try_acquire().unwrap()); // dropped unrecorded: a cancellation
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[must_use = "a permit must be recorded; dropping it counts as a cancellation"]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    /// The epoch admitted in, and the word when a success can be a no-op (see
    /// `Ticket`).
    pub(super) ticket: Ticket,
}

impl<'a> Permit<'a> {
    #[inline(always)]
    pub(super) fn new(breaker: &'a Breaker, ticket: Ticket) -> Self {
        Self { breaker, ticket }
    }

    /// The epoch this permit was admitted in.
    #[inline]
    pub fn epoch(&self) -> u32 {
        self.ticket.epoch()
    }

    /// Report the attempt's verdict.
    ///
    /// Applied to the breaker only if it is still in the permit's epoch; otherwise
    /// nothing changes and the result is [`Recorded::Stale`].
    #[inline(always)]
    pub fn record(self, verdict: Verdict) -> Recorded {
        // Recording consumes the permit without running its `Drop` (which is the
        // cancellation), so a live permit is always an unrecorded one and needs no
        // flag: no store to set it and no load to test it on the hot path.
        let permit = ManuallyDrop::new(self);
        permit.breaker.record(permit.ticket, verdict)
    }

    /// Report the attempt's verdict and how long it took: a success slower than
    /// the breaker's [slow-call threshold](crate::BreakerBuilder::slow_call) is
    /// recorded as a failure of the slow-call weight, and the time is a latency
    /// sample for the [adaptive concurrency limit](crate::BreakerBuilder::adaptive_limit)
    /// (one clock read, to place it in time). With neither, this is
    /// [`record`](Self::record).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, Verdict};
    /// use std::time::Duration;
    ///
    /// let breaker = Breaker::builder()
    ///     .slow_call(Duration::from_millis(500), 1.0)
    ///     .build()?;
    /// let permit = breaker.try_acquire().unwrap();
    /// let _ = permit.record_timed(Verdict::Success, Duration::from_secs(2));
    /// assert!(breaker.snapshot().health.unwrap() < 1.0, "a slow success hurts health");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline]
    pub fn record_timed(self, verdict: Verdict, elapsed: Duration) -> Recorded {
        let breaker = self.breaker;
        let verdict = breaker.timed_verdict(verdict, elapsed);
        if !breaker.limit_enabled() {
            return self.record(verdict);
        }
        let now = breaker.elapsed_ns();
        self.record_sampled(verdict, crate::clock::duration_to_nanos(elapsed), now, 1)
    }

    /// Whether the permit holds a slot under the engaged concurrency limit (its
    /// attempt is then always timed).
    #[inline(always)]
    pub(crate) fn holds_slot(&self) -> bool {
        self.ticket.has_slot()
    }

    /// Record `verdict` (already judged against the slow-call threshold) and a
    /// latency sample: the attempt took `elapsed_ns` and ended at `now_ns`,
    /// standing for `weight` attempts.
    #[inline]
    pub(crate) fn record_sampled(
        self,
        verdict: Verdict,
        elapsed_ns: u64,
        now_ns: u64,
        weight: u32,
    ) -> Recorded {
        let permit = ManuallyDrop::new(self);
        let breaker = permit.breaker;
        // The report is made at the time the caller read: no second clock read.
        let recorded = breaker.record_at(permit.ticket, verdict, now_ns);
        breaker.sample_latency(elapsed_ns, now_ns, weight);
        recorded
    }
}

impl Drop for Permit<'_> {
    /// Dropped without [`record`](Permit::record): a cancellation.
    #[inline]
    fn drop(&mut self) {
        self.breaker.cancel(self.ticket);
    }
}

impl fmt::Debug for Permit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("epoch", &self.epoch())
            .finish_non_exhaustive()
    }
}

/// A [`Permit`] that owns a clone of the breaker's `Arc` instead of borrowing
/// it: `'static` and `Send`, for response futures and spawned tasks. Get one with
/// [`Breaker::try_acquire_owned`].
///
/// The protocol is the borrowed permit's, through the same code: it is tagged with
/// the epoch it was admitted in, [`record`](Self::record) applies its verdict
/// only in that epoch (else [`Recorded::Stale`]), and dropping it unrecorded is a
/// cancellation that frees its half-open probe slot (if it has one), on whichever
/// thread drops it.
///
/// It costs what the borrowed permit costs plus an `Arc` clone and release (two
/// atomic read-modify-writes on the `Arc`'s count, a shared write). A breaker
/// that lives for the whole program needs neither: borrowed from a `static` (or a
/// leaked `Box`), [`Breaker::try_acquire`] gives a `Permit<'static>`, which is
/// already `'static` and `Send`, at the borrowed permit's cost:
///
/// ```
/// use fusebox::{Breaker, Verdict};
/// use std::sync::LazyLock;
///
/// static PAYMENTS: LazyLock<Breaker> = LazyLock::new(|| Breaker::builder().build().unwrap());
///
/// let permit = PAYMENTS.try_acquire().unwrap(); // a `Permit<'static>`
/// std::thread::spawn(move || permit.record(Verdict::Success)).join().unwrap();
/// ```
///
/// # Examples
///
/// A probe moved into another thread and dropped there gives its slot back:
///
/// ```
/// use fusebox::{Breaker, ManualClock, Rejected, State, Verdict};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let breaker = Arc::new(
///     Breaker::builder()
///         .trip_after_consecutive_failures(1)
///         .open_for(Duration::from_secs(1))
///         .open_jitter(0.0)
///         .probes(1)
///         .clock(clock.clone())
///         .build()?,
/// );
/// let _ = breaker.try_acquire_owned().unwrap().record(Verdict::failure());
/// clock.advance(Duration::from_secs(1));
/// let probe = breaker.try_acquire_owned().expect("the first probe");
/// assert_eq!(breaker.snapshot().state, State::HalfOpen);
/// assert_eq!(breaker.try_acquire_owned().unwrap_err(), Rejected::ProbesBusy);
/// std::thread::spawn(move || drop(probe)).join().unwrap();
/// assert_eq!(breaker.snapshot().probes_in_flight, 0);
/// assert!(breaker.try_acquire_owned().is_ok(), "the slot is free again");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[must_use = "a permit must be recorded; dropping it counts as a cancellation"]
pub struct OwnedPermit {
    pub(super) breaker: Arc<Breaker>,
    /// As in [`Permit`]; [`Ticket::SPENT`] once recorded (nothing to cancel).
    pub(super) ticket: Ticket,
}

impl OwnedPermit {
    /// The epoch this permit was admitted in.
    #[inline]
    pub fn epoch(&self) -> u32 {
        self.ticket.epoch()
    }

    /// The breaker this permit was admitted by.
    #[inline]
    pub fn breaker(&self) -> &Arc<Breaker> {
        &self.breaker
    }

    /// Report the attempt's verdict, as [`Permit::record`].
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, Recorded, Verdict};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(Breaker::builder().build()?);
    /// let permit = breaker.try_acquire_owned().unwrap();
    /// breaker.force_open(); // a transition: the permit's epoch is over
    /// assert_eq!(permit.record(Verdict::failure()), Recorded::Stale);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline(always)]
    pub fn record(mut self, verdict: Verdict) -> Recorded {
        // The ticket is spent before the report, so the `Drop` that follows (which
        // also releases the `Arc`) cancels nothing, even if the report unwinds.
        // Inlined, the compiler sees the store and drops the test with it.
        let ticket = std::mem::replace(&mut self.ticket, Ticket::SPENT);
        self.breaker.record(ticket, verdict)
    }

    /// Report the attempt's verdict and how long it took, as
    /// [`Permit::record_timed`]: a success slower than the breaker's
    /// [slow-call threshold](crate::BreakerBuilder::slow_call) is recorded as a
    /// failure of the slow-call weight.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, Verdict};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let breaker = Arc::new(Breaker::builder().slow_call(Duration::from_millis(500), 1.0).build()?);
    /// let permit = breaker.try_acquire_owned().unwrap();
    /// let _ = permit.record_timed(Verdict::Success, Duration::from_secs(2));
    /// assert!(breaker.snapshot().health.unwrap() < 1.0, "a slow success hurts health");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline]
    pub fn record_timed(self, verdict: Verdict, elapsed: Duration) -> Recorded {
        let verdict = self.breaker.timed_verdict(verdict, elapsed);
        if !self.breaker.limit_enabled() {
            return self.record(verdict);
        }
        let now = self.breaker.elapsed_ns();
        self.record_sampled(verdict, crate::clock::duration_to_nanos(elapsed), now, 1)
    }

    /// As [`Permit::record_sampled`].
    #[inline]
    pub(crate) fn record_sampled(
        mut self,
        verdict: Verdict,
        elapsed_ns: u64,
        now_ns: u64,
        weight: u32,
    ) -> Recorded {
        let ticket = std::mem::replace(&mut self.ticket, Ticket::SPENT);
        // The report is made at the time the caller read: no second clock read.
        let recorded = self.breaker.record_at(ticket, verdict, now_ns);
        self.breaker.sample_latency(elapsed_ns, now_ns, weight);
        recorded
    }
}

impl Drop for OwnedPermit {
    /// Dropped without [`record`](OwnedPermit::record): a cancellation, as for a
    /// [`Permit`]. Then the `Arc` is released.
    #[inline]
    fn drop(&mut self) {
        if self.ticket != Ticket::SPENT {
            self.breaker.cancel(self.ticket);
        }
    }
}

impl fmt::Debug for OwnedPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit")
            .field("epoch", &self.epoch())
            .finish_non_exhaustive()
    }
}

/// What lends a [`HeldPermit`] its breaker (the tower layer's holders: a
/// service clone's handle on its guard, a registry call's entry).
#[cfg(feature = "tower")]
pub(crate) trait BreakerOwner {
    /// The breaker.
    fn breaker(&self) -> &Breaker;
}

/// A permit kept beside an owner of its breaker instead of in a permit of its
/// own: the tower layer's response future holds one, its owner being the
/// call's holder, so that an attempt's permit clones no reference count (an
/// [`OwnedPermit`] clones the breaker's `Arc`, whose count every thread's
/// requests would write).
///
/// The protocol is the other permits', through the same code (a
/// [`TicketSlot`] beside its owner): it holds at most one ticket at a time
/// ([`Ticket::SPENT`] when none), taken into its place
/// ([`slot_mut`](Self::slot_mut), [`parts_mut`](Self::parts_mut)) and given
/// back by [`take`](Self::take) as a
/// borrowed [`Permit`], which is recorded or, dropped, cancels. A `HeldPermit`
/// dropped while it holds a ticket cancels it, as a `Permit` does: an attempt
/// in flight when its response future is dropped frees its half-open probe
/// slot and is no health signal.
#[cfg(feature = "tower")]
pub(crate) struct HeldPermit<O: BreakerOwner> {
    owner: O,
    slot: TicketSlot,
}

#[cfg(feature = "tower")]
impl<O: BreakerOwner> HeldPermit<O> {
    /// Holding no ticket yet.
    #[inline(always)]
    pub(crate) fn new(owner: O) -> Self {
        Self {
            owner,
            slot: TicketSlot::EMPTY,
        }
    }

    /// The owner.
    #[inline(always)]
    pub(crate) fn owner(&self) -> &O {
        &self.owner
    }

    /// The ticket's place, for a call that asks the owner's breaker itself
    /// ([`Call::begin_held`](crate::guard::Call::begin_held)).
    #[inline(always)]
    pub(crate) fn slot_mut(&mut self) -> &mut TicketSlot {
        &mut self.slot
    }

    /// The owner and the ticket's place, for a first attempt's admission
    /// ([`admit_first`](crate::guard::admit_first)).
    #[inline(always)]
    pub(crate) fn parts_mut(&mut self) -> (&O, &mut TicketSlot) {
        (&self.owner, &mut self.slot)
    }

    /// Whether a ticket is held (an attempt is in flight).
    #[inline(always)]
    pub(crate) fn holds(&self) -> bool {
        self.slot.holds()
    }

    /// The held ticket as a [`Permit`] on the owner's breaker, to record (or,
    /// dropped, to cancel), and the owner, for the rest of the attempt's end;
    /// `None` if none is held. Nothing is held after.
    #[inline(always)]
    pub(crate) fn take(&mut self) -> Option<(Permit<'_>, &O)> {
        // The slot's ticket taken here, not through `TicketSlot::take`: that
        // costs the tower layer's healthy call 9 instructions more (callgrind
        // `layer`, its inlining into the response future's poll).
        let ticket = std::mem::replace(&mut self.slot.0, Ticket::SPENT);
        if ticket == Ticket::SPENT {
            return None;
        }
        let owner = &self.owner;
        Some((Permit::new(owner.breaker(), ticket), owner))
    }
}

#[cfg(feature = "tower")]
impl<O: BreakerOwner> Drop for HeldPermit<O> {
    /// A ticket still held is a cancellation, as for a [`Permit`].
    #[inline]
    fn drop(&mut self) {
        // Checked first: the owner's breaker is a chain of loads, and the
        // healthy path drops this with nothing held.
        if self.slot.holds() {
            drop(self.slot.take(self.owner.breaker()));
        }
    }
}

/// A permit's ticket kept without its breaker: a hedged call keeps one per
/// attempt in flight (up to four), all from the one breaker its call holds, so
/// that its future holds no borrow of the breaker and no reference count per
/// attempt.
///
/// The protocol is a [`Permit`]'s: [`acquire`](Self::acquire) takes a ticket,
/// [`take`](Self::take) gives it back as a `Permit` on the breaker, recorded
/// or, dropped, cancelled. It has no `Drop` of its own (it does not know its
/// breaker): its holder must `take` and drop a ticket still held when it is
/// dropped itself, and must give `take` the breaker that admitted it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct TicketSlot(Ticket);

impl TicketSlot {
    /// Holding no ticket.
    pub(crate) const EMPTY: Self = Self(Ticket::SPENT);

    /// Ask `breaker` for a permit for a first attempt or (`retry`) a later
    /// one; admitted, its ticket is held here. Nothing may be held already.
    #[inline(always)]
    pub(crate) fn acquire(&mut self, breaker: &Breaker, retry: bool) -> Result<(), Rejected> {
        debug_assert!(!self.holds(), "a ticket is held already");
        self.0 = breaker.admit(retry)?;
        Ok(())
    }

    /// Whether a ticket is held.
    #[inline(always)]
    pub(crate) fn holds(&self) -> bool {
        self.0 != Ticket::SPENT
    }

    /// The held ticket's epoch (meaningful only while one is held).
    #[inline(always)]
    pub(crate) fn epoch(&self) -> u32 {
        self.0.epoch()
    }

    /// Whether the held ticket has a slot under the engaged concurrency limit.
    #[inline(always)]
    pub(crate) fn holds_slot(&self) -> bool {
        self.0.has_slot()
    }

    /// The held ticket as a [`Permit`] on `breaker` (the one that admitted
    /// it), to record or, dropped, to cancel; `None` if none is held. Nothing
    /// is held after.
    #[inline(always)]
    pub(crate) fn take<'a>(&mut self, breaker: &'a Breaker) -> Option<Permit<'a>> {
        let ticket = std::mem::replace(&mut self.0, Ticket::SPENT);
        if ticket == Ticket::SPENT {
            return None;
        }
        Some(Permit::new(breaker, ticket))
    }
}
