//! The one CAS helper through which every change of the state word goes, what
//! follows a transition (the deadline's publication, the events), and the
//! deadline word's protocol.

use super::*;

/// What one call decided, before the bookkeeping that follows a transition.
#[derive(Clone, Copy)]
pub(super) enum Decision {
    /// Admit with a permit of this epoch.
    Admit(u32),
    Reject(Rejected),
    Applied,
    Stale,
}

/// The result of one run of the CAS helper.
pub(super) struct Update<O> {
    pub(super) outcome: O,
    /// The word the outcome was decided on.
    pub(super) before: Snapshot,
    /// The word written, if any (never equal to `before`).
    pub(super) after: Option<Snapshot>,
}

impl Breaker {
    /// The deadline word's value (open deadline or probe lease, in ms since the
    /// breaker was built) if it belongs to `epoch`; `None` if it is another
    /// epoch's (not yet published, or the breaker has moved on).
    pub(super) fn deadline_for(&self, epoch: u32) -> Option<u64> {
        // Acquire: see the module's "Orderings"; the tag check makes any other
        // epoch's value harmless (it is simply not this epoch's deadline).
        DeadlineWord::from_raw(self.cold.deadline.load(Ordering::Acquire)).for_epoch(epoch)
    }

    #[inline(always)]
    pub(super) fn load(&self) -> Snapshot {
        // Acquire: see the module's "Orderings".
        Snapshot::from_raw(self.state.load(Ordering::Acquire))
    }

    /// The one CAS helper. Runs `decide` on the current word until its proposal is
    /// installed or it proposes nothing; a proposal equal to the current word is
    /// "nothing" (no write, so no cache-line traffic).
    #[inline(always)]
    pub(super) fn update<O>(
        &self,
        mut cur: Snapshot,
        mut decide: impl FnMut(Snapshot) -> (O, Option<Snapshot>),
    ) -> Update<O> {
        let backoff = CasBackoff::new();
        loop {
            let (outcome, next) = decide(cur);
            let next = match next {
                Some(next) if next != cur => next,
                _ => {
                    return Update {
                        outcome,
                        before: cur,
                        after: None,
                    };
                }
            };
            // AcqRel on success, Acquire on failure: see the module's "Orderings".
            match self.state.compare_exchange_weak(
                cur.raw(),
                next.raw(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return Update {
                        outcome,
                        before: cur,
                        after: Some(next),
                    };
                }
                Err(actual) => {
                    cur = Snapshot::from_raw(actual);
                    backoff.spin();
                }
            }
        }
    }

    /// After a CAS that changed the epoch: publish the deadline (into `Open`), then
    /// tell the listener. Only the winner of the transition gets here.
    #[cold]
    pub(super) fn after_update<O>(&self, update: &Update<O>) -> Option<Transition> {
        let after = update.after?;
        if after.epoch() == update.before.epoch() {
            return None;
        }
        let open_for = match after.state() {
            State::Open => {
                let period_ns = self.jittered(self.config.open_period_ns(after.reopen()));
                self.publish_after(after.epoch(), period_ns);
                Some(Duration::from_nanos(period_ns))
            }
            State::HalfOpen => {
                // The probe lease: when this half-open period's probes stop
                // holding their slots (see `try_acquire_slow`).
                let lease_ns = self.config.probe_lease_ns(after.leases());
                self.publish_after(after.epoch(), lease_ns);
                None
            }
            State::Closed | State::Disabled => {
                if after.health() < HEALTH_FULL {
                    // `disable()` from a degraded `Closed`: the word carries the
                    // old epoch's health, generation and decay mark (see
                    // `carry_mark`).
                    self.carry_mark(update.before.epoch(), after.epoch());
                }
                // The new epoch's first mark, now, unless it has one already
                // (carried, or started by a report).
                self.start_mark(after.epoch(), after.generation(), self.now_tick());
                if !update.before.state().measures() {
                    // Closed again after an outage: what the concurrency limit
                    // learnt before it is history (see `limit_fresh_start`).
                    self.limit_fresh_start();
                }
                None
            }
            State::ForcedOpen => None,
        };
        let transition = Transition {
            from: update.before.state(),
            to: after.state(),
            epoch: after.epoch(),
            open_for,
        };
        if let Some(listener) = &self.listener {
            // The state is already committed; a panicking listener can only lose its
            // own notification.
            let _ignored = catch_unwind(AssertUnwindSafe(|| listener(&transition)));
        }
        if self.observed() {
            if update.before.state() == State::HalfOpen && after.state() == State::HalfOpen {
                self.emit(crate::event::EventKind::ProbeLeaseExpired {
                    expired_epoch: update.before.epoch(),
                });
            }
            self.emit(crate::event::EventKind::Transition(transition));
        }
        Some(transition)
    }

    /// Publish the deadline `period_ns` from now for the state at `epoch` (the open
    /// deadline of an `Open`, the probe lease of a `HalfOpen`), rounded up to whole
    /// milliseconds.
    pub(super) fn publish_after(&self, epoch: u32, period_ns: u64) {
        let deadline_ns = self.elapsed_ns().saturating_add(period_ns);
        let published = self.publish_deadline(epoch, deadline_ns.div_ceil(NANOS_PER_MS));
        debug_assert!(published || self.load().epoch() != epoch);
    }

    /// Write the deadline of the `Open` (or `HalfOpen`) state at `epoch`, unless the breaker has
    /// already left that epoch. Returns whether it was written.
    ///
    /// A write from an older epoch can never overwrite a newer one: this CAS
    /// succeeds only if the deadline word is unchanged since it was loaded, and it
    /// was loaded before the state word was seen still at `epoch`. A newer deadline
    /// is written only after the state word left `epoch`; if our CAS reads it
    /// (failure, `Acquire`), we synchronise with that writer and the re-check sees
    /// the newer epoch.
    #[cold]
    pub(super) fn publish_deadline(&self, epoch: u32, deadline_ms: u64) -> bool {
        let new = DeadlineWord::new(epoch, deadline_ms).raw();
        // Acquire: see the doc above.
        let mut current = self.cold.deadline.load(Ordering::Acquire);
        let backoff = CasBackoff::new();
        loop {
            if self.load().epoch() != epoch {
                return false;
            }
            // AcqRel on success, Acquire on failure: see the doc above.
            match self.cold.deadline.compare_exchange_weak(
                current,
                new,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => {
                    current = actual;
                    backoff.spin();
                }
            }
        }
    }

    /// `period_ns` shortened by a random factor in `(1 - jitter, 1]`.
    pub(super) fn jittered(&self, period_ns: u64) -> u64 {
        let jitter = self.config.open_jitter;
        if jitter == 0.0 {
            return period_ns;
        }
        // Relaxed: a metric-like sequence; see the module's "Orderings".
        let seed = self
            .cold
            .jitter
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        let u: f64 = SmallRng::seed_from_u64(seed).random();
        ((period_ns as f64) * (1.0 - jitter * u)).max(1.0) as u64
    }
}

/// splitmix64's finaliser: a well-mixed 64-bit value from a counter.
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cold]
pub(super) fn unreachable_decision() {
    debug_assert!(
        false,
        "try_acquire decided something other than admit or reject"
    );
}
