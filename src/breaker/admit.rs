//! Admission: `try_acquire` and its owned twin, the healthy path, the slow path
//! through `Open` and `HalfOpen` (probes, probe leases), graded admission below
//! `shed_below`, and `rejects_for`.

use super::*;

impl Breaker {
    /// A refusal, told, and returned.
    #[cold]
    #[inline(never)]
    pub(super) fn refuse(&self, rejected: Rejected) -> Rejected {
        self.emit(crate::event::EventKind::Rejected(rejected));
        rejected
    }

    /// Ask for a permit to make one attempt.
    ///
    /// In `Closed` (and `Disabled`) this is one atomic load. In `Open` the first
    /// caller at or after the deadline turns the breaker `HalfOpen` and gets the
    /// first probe permit; in `HalfOpen` at most `probes` permits are out at once.
    ///
    /// # Errors
    ///
    /// [`Rejected`] says why no permit was given and, when open, how long to wait.
    #[inline(always)]
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        self.try_acquire_as(false)
    }

    /// [`try_acquire`](Self::try_acquire) for a first attempt (`retry` false) or a
    /// retry, which an engaged concurrency limit admits only below three
    /// quarters of the limit.
    #[inline(always)]
    pub(crate) fn try_acquire_as(&self, retry: bool) -> Result<Permit<'_>, Rejected> {
        match self.admit(retry) {
            Ok(ticket) => Ok(Permit::new(self, ticket)),
            Err(rejected) => Err(rejected),
        }
    }

    /// Ask for a permit that owns a clone of this `Arc`: `'static` and `Send`, so
    /// it can be moved into a spawned task or a response future and recorded (or
    /// dropped, a cancellation) there. Otherwise exactly [`try_acquire`](Self::try_acquire):
    /// the same admission, the same epoch-tagged protocol.
    ///
    /// The `Arc` is cloned only on admission (a rejection touches no reference
    /// count). That clone, and its release when the permit is recorded or
    /// dropped, are the only costs over a borrowed [`Permit`]: two atomic
    /// read-modify-writes of the `Arc`'s reference count. The count is on its own
    /// cache line (the state word is padded), so the healthy path still never
    /// writes the state word's line; but every thread acquiring owned permits
    /// writes the count's line.
    ///
    /// # Errors
    ///
    /// [`Rejected`], as for [`try_acquire`](Self::try_acquire).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, Recorded, Verdict};
    /// use std::sync::Arc;
    ///
    /// let breaker = Arc::new(Breaker::builder().build()?);
    /// let permit = breaker.try_acquire_owned().expect("closed");
    /// let worker = std::thread::spawn(move || permit.record(Verdict::Success));
    /// assert_eq!(worker.join().unwrap(), Recorded::Applied { transition: None });
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    #[inline(always)]
    pub fn try_acquire_owned(self: &Arc<Self>) -> Result<OwnedPermit, Rejected> {
        self.try_acquire_owned_as(false)
    }

    /// [`try_acquire_owned`](Self::try_acquire_owned) for a first attempt or a
    /// retry (see [`try_acquire_as`](Self::try_acquire_as)).
    #[inline(always)]
    pub(crate) fn try_acquire_owned_as(
        self: &Arc<Self>,
        retry: bool,
    ) -> Result<OwnedPermit, Rejected> {
        match self.admit(retry) {
            Ok(ticket) => Ok(OwnedPermit {
                breaker: Arc::clone(self),
                ticket,
            }),
            Err(rejected) => Err(rejected),
        }
    }

    /// The admission both permits share: the ticket of an admitted attempt, whose
    /// ownership (a probe slot, in `HalfOpen`) passes to the caller, who wraps it
    /// in a permit at once.
    #[inline(always)]
    pub(super) fn admit(&self, retry: bool) -> Result<Ticket, Rejected> {
        let s = self.load();
        // The healthy path: the permit keeps the whole word (see `Ticket`), so its
        // success report is one compare. The gate is the healthy word while the
        // concurrency limit is disengaged, and matches no word while it is
        // engaged (every admission then takes a slot, below).
        if s.passes_gate(self.gate()) {
            return Ok(Ticket::whole(s));
        }
        if s.state().measures() {
            return match self.degraded_ticket(s, retry) {
                Ok(ticket) => Ok(ticket),
                Err(rejected) => Err(self.refuse(rejected)),
            };
        }
        // The slow path hands back the epoch, not the permit: the permit is built
        // in the caller, so the caller's `Result` is never a memory object shared
        // with an out-of-line call (which kept the fast path storing the permit to
        // the stack).
        match self.try_acquire_slow(s) {
            Ok(epoch) => Ok(Ticket::of_epoch(epoch)),
            Err(rejected) => Err(rejected),
        }
    }

    /// Everything but `Closed` and `Disabled` (which can still be seen here: the
    /// word may change before the CAS). On admission, returns the epoch of a
    /// permit whose ownership passes to the caller.
    #[cold]
    pub(super) fn try_acquire_slow(&self, mut s: Snapshot) -> Result<u32, Rejected> {
        let mut now_ns = None;
        let update = loop {
            // Set when the decision rests on a deadline word of another epoch.
            let mut word_of_another_epoch = false;
            let update = self.update(s, |cur| {
                word_of_another_epoch = false;
                match cur.state() {
                    State::Closed | State::Disabled => (Decision::Admit(cur.epoch()), None),
                    State::ForcedOpen => (Decision::Reject(Rejected::ForcedOpen), None),
                    State::HalfOpen => {
                        if cur.in_flight() < self.config.probes {
                            let next = cur.with_probes(cur.in_flight() + 1, cur.successes());
                            return (Decision::Admit(cur.epoch()), Some(next));
                        }
                        // Every slot is busy: past the probe lease, this caller
                        // starts a fresh half-open period, so lost probe permits
                        // cannot hold it forever (the lease lives in the same
                        // epoch-tagged word as the open deadline).
                        let Some(lease_ms) = self.deadline_for(cur.epoch()) else {
                            word_of_another_epoch = true;
                            return (Decision::Reject(Rejected::ProbesBusy), None);
                        };
                        let now = *now_ns.get_or_insert_with(|| self.elapsed_ns());
                        if now / NANOS_PER_MS >= lease_ms {
                            let fresh = Snapshot::half_open(cur.next_epoch(), cur.reopen(), 1, 0)
                                .with_leases((cur.leases() + 1).min(LEASES_MAX));
                            (Decision::Admit(fresh.epoch()), Some(fresh))
                        } else {
                            (Decision::Reject(Rejected::ProbesBusy), None)
                        }
                    }
                    State::Open => {
                        let Some(deadline_ms) = self.deadline_for(cur.epoch()) else {
                            word_of_another_epoch = true;
                            return (Decision::Reject(Rejected::Open { retry_after: None }), None);
                        };
                        let now = *now_ns.get_or_insert_with(|| self.elapsed_ns());
                        if now / NANOS_PER_MS >= deadline_ms {
                            let probe = Snapshot::half_open(cur.next_epoch(), cur.reopen(), 1, 0);
                            (Decision::Admit(probe.epoch()), Some(probe))
                        } else {
                            let left = deadline_ms.saturating_mul(NANOS_PER_MS).saturating_sub(now);
                            let retry_after = Some(Duration::from_nanos(left));
                            (Decision::Reject(Rejected::Open { retry_after }), None)
                        }
                    }
                }
            });
            if !word_of_another_epoch {
                break update;
            }
            // The deadline word is not this epoch's: either its publication is a
            // few instructions away (the state word is unchanged, and the answer
            // stands), or our view of the state word is stale. In the second case
            // the word belongs to a newer epoch, whose publisher made its state
            // change first; our `Acquire` load of the word synchronised with it,
            // so this reload sees that change, and we decide again on it. Each
            // retry follows another thread's progress.
            let now = self.load();
            if now == update.before {
                break update;
            }
            s = now;
        };
        match update.outcome {
            Decision::Admit(epoch) => {
                // The permit exists before the listener runs, so even a listener
                // that escaped `catch_unwind` could not leak the probe slot. Then
                // it passes to the caller, which rebuilds it from the epoch.
                let permit = Permit::new(self, Ticket::of_epoch(epoch));
                self.after_update(&update);
                Ok(ManuallyDrop::new(permit).epoch())
            }
            Decision::Reject(rejected) => Err(self.refuse(rejected)),
            Decision::Applied | Decision::Stale => {
                unreachable_decision();
                Err(Rejected::ProbesBusy)
            }
        }
    }

    /// The ticket of a permit admitted under a measuring word below full health
    /// (or at full health while the concurrency limit is engaged): graded
    /// admission first, then a slot under the limit if it is engaged.
    ///
    /// Out of line and cold: its only job is to keep this case off the straight
    /// line of `try_acquire`, at the cost of a call that takes and returns
    /// registers. As a second inline branch it led the compiler to lay the healthy
    /// path out as a jump forward and back (three taken branches per call in a
    /// loop), and a loop of 10^9 healthy calls ran about half as fast.
    #[cold]
    #[inline(never)]
    pub(super) fn degraded_ticket(&self, s: Snapshot, retry: bool) -> Result<Ticket, Rejected> {
        // `shed_below` is 0 when grading is off, and `Disabled` never sheds.
        if s.health() < self.config.shed_below
            && s.state() == State::Closed
            && self.admit_graded(s).is_err()
        {
            return Err(Rejected::Shed);
        }
        self.take_slot(Ticket::of_epoch(s.epoch()), retry)
    }

    /// Graded admission in a degraded `Closed` word `s` (below `shed_below`):
    /// admit with probability `health / shed_below` (at least `min_admit`), on
    /// the health brought up to date with the time since its decay mark.
    ///
    /// Time only raises health (and ends a spell only at full health), so a
    /// draw the stored word admits, the word brought up to date admits too:
    /// the clock is read only when the stored word would refuse (or has fewer
    /// samples than a refusal needs: then nothing is drawn). Reads only, but
    /// for the decay-only store below: the admission changes no state, so it
    /// needs no CAS; the draw is one `fetch_add` on a counter of its own line.
    #[cold]
    #[inline(never)]
    pub(super) fn admit_graded(&self, s: Snapshot) -> Result<(), Rejected> {
        let (shed_below, min_admit) = (self.config.shed_below, self.config.min_admit);
        if s.samples() < self.config.min_samples || min_admit >= RATE_ONE {
            return Ok(());
        }
        let draw = self.draw();
        if health::admits(s.health(), shed_below, min_admit, draw) {
            return Ok(());
        }
        let now = self.now_tick();
        let (h, _) = self.decayed(s, now);
        if h == HEALTH_FULL {
            // Time alone has ended the spell: store that (a decay-only report), so
            // that the next attempts take the healthy path instead of this one. If
            // the breaker moved on meanwhile, this changes nothing (and, not being
            // a caller's report, is not counted as a stale one).
            let _stored = self.report_measured(s, s.epoch(), Verdict::Ignored, Some(now));
            return Ok(());
        }
        // Below full health time leaves the samples as they are (at least
        // `min_samples`): the same draw decides, on the health as of now.
        if h >= shed_below || health::admits(h, shed_below, min_admit, draw) {
            Ok(())
        } else {
            Err(Rejected::Shed)
        }
    }

    /// A uniform draw in `[0, 2^32)`, for graded admission.
    ///
    /// The sequence is stepped by a plain load and store, not a locked
    /// read-modify-write (which cost more than the rest of a graded
    /// admission): two threads that race here may draw the same value, which
    /// correlates their two admissions and leaves the chance of each exactly
    /// what it was; a lost step is never a lost attempt. On one thread the
    /// sequence is exact (the fuzz model draws the same values).
    pub(super) fn draw(&self) -> u64 {
        // Relaxed: nothing is published through the counter (see the module's
        // "Orderings"); a stale read only repeats a draw.
        let n = self.draws.load(Ordering::Relaxed);
        self.draws
            .store(n.wrapping_add(0x9E37_79B9_7F4A_7C15), Ordering::Relaxed);
        splitmix64(n) >> 32
    }

    /// Whether an attempt made `after` from now would still be rejected: `Some`
    /// when the breaker is forced open, or open with a published deadline later
    /// than that (the rejection carries the time left until the deadline). `None`
    /// otherwise, including half-open (a probe slot may free up at any moment).
    ///
    /// This is how a retry avoids sleeping only to be rejected when it wakes.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, ManualClock, Rejected, Verdict};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::builder()
    ///     .trip_after_consecutive_failures(1)
    ///     .open_for(Duration::from_secs(10))
    ///     .open_jitter(0.0)
    ///     .clock(clock.clone())
    ///     .build()?;
    /// let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
    /// let ten = Some(Duration::from_secs(10));
    /// assert_eq!(breaker.rejects_for(Duration::from_secs(3)), Some(Rejected::Open { retry_after: ten }));
    /// assert_eq!(breaker.rejects_for(Duration::from_secs(10)), None);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn rejects_for(&self, after: Duration) -> Option<Rejected> {
        let s = self.load();
        match s.state() {
            State::ForcedOpen => Some(Rejected::ForcedOpen),
            State::Open => {
                let deadline_ms = self.deadline_for(s.epoch())?;
                let now = self.elapsed_ns();
                let wake = now.saturating_add(crate::clock::duration_to_nanos(after));
                (wake / NANOS_PER_MS < deadline_ms).then(|| {
                    let left = deadline_ms.saturating_mul(NANOS_PER_MS).saturating_sub(now);
                    Rejected::Open {
                        retry_after: Some(Duration::from_nanos(left)),
                    }
                })
            }
            State::Closed | State::HalfOpen | State::Disabled => None,
        }
    }
}
