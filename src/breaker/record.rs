//! Recording: a verdict on a permit (the healthy no-op, the general path), the
//! pure transition it proposes, and the cancellation of a permit dropped
//! unrecorded.

use super::*;

impl Breaker {
    /// Apply a verdict reported under `epoch`.
    ///
    /// Always inlined, so that on the healthy path the permit and the result stay
    /// in registers: when `Permit::record` was an out-of-line call, the caller built
    /// the permit in memory with narrow stores that the callee read back with a wide
    /// load, and the result came back the same way; both missed store-to-load
    /// forwarding, which cost more than the rest of the call.
    #[inline(always)]
    pub(super) fn record(&self, ticket: Ticket, verdict: Verdict) -> Recorded {
        let cur = self.load();
        // The healthy path: a success at full health with saturated samples in the
        // permit's own epoch changes nothing, so there is nothing to compute or write
        // (`decide_record` would propose the same word; this just gets there sooner).
        // With a whole-word ticket that is one compare (see `Ticket`).
        if matches!(verdict, Verdict::Success) {
            if ticket.success_is_noop(cur) {
                return Recorded::Applied { transition: None };
            }
            return self.record_success(cur, ticket);
        }
        self.record_slow(cur, ticket, verdict, None)
    }

    /// A success off the healthy path. Below full health in the permit's own
    /// epoch (a downstream that fails a little: most reports are this) it is
    /// one step of health by one CAS, with no clock read (see `rise`); the
    /// rest goes the general way. Out of line but not cold, and small: the
    /// general path's frame and its cases cost more than the step itself.
    #[inline(never)]
    fn record_success(&self, cur: Snapshot, ticket: Ticket) -> Recorded {
        if self.rise(cur, ticket.epoch(), Verdict::Success) {
            // The attempt is over: its slot (if any) goes, as in `record_slow`.
            self.release_slot(ticket);
            return Recorded::Applied { transition: None };
        }
        // Another state or epoch: the general path (which releases the slot).
        self.record_slow(self.load(), ticket, Verdict::Success, None)
    }

    /// [`record`](Self::record) by a caller that has just read the breaker's
    /// clock (`now_ns`, since the breaker was built): the report is made at
    /// that time, with the decay due first, whatever the verdict, and reads
    /// no clock of its own (the guard's sampled attempts, `record_timed`).
    #[inline]
    pub(super) fn record_at(&self, ticket: Ticket, verdict: Verdict, now_ns: u64) -> Recorded {
        let cur = self.load();
        if matches!(verdict, Verdict::Success) && ticket.success_is_noop(cur) {
            return Recorded::Applied { transition: None };
        }
        self.record_slow(cur, ticket, verdict, Some(self.tick_of(now_ns)))
    }

    /// Everything but the healthy path: out of line, so that the inlined fast path
    /// stays a handful of instructions.
    #[cold]
    #[inline(never)]
    pub(super) fn record_slow(
        &self,
        cur: Snapshot,
        ticket: Ticket,
        verdict: Verdict,
        now: Option<u64>,
    ) -> Recorded {
        // The slot (if any) is released first, whatever the verdict and whether
        // or not it is stale: the attempt is over.
        self.release_slot(ticket);
        let epoch = ticket.epoch();
        #[cfg(feature = "metrics")]
        match verdict {
            Verdict::Failure { .. } => self.observers.verdict(true),
            Verdict::Ignored => self.observers.verdict(false),
            Verdict::Success => {}
        }
        // A failure is applied after the decay due at its time (see
        // `report_measured`): time must be read, and is. A success or a
        // non-signal is applied as it comes, with no clock read: time and a
        // success both shrink the gap to full health by a factor, so the order
        // in which they are applied does not change the health (docs/DESIGN.md
        // §7, "When time is read"); the decay due is applied by the next report
        // that reads the time. A caller that read the clock anyway (`now`) reports on time.
        let mut cur = cur;
        let measuring = cur.state().measures() && cur.epoch() == epoch;
        if measuring && now.is_none() && !verdict.lowers() {
            if self.rise(cur, epoch, verdict) {
                return Recorded::Applied { transition: None };
            }
            // The breaker left the epoch meanwhile: stale, by the usual rule.
            cur = self.load();
        }
        let update = if measuring && cur.epoch() == epoch {
            // One clock read per report, here (or the caller's).
            let now = now.unwrap_or_else(|| self.now_tick());
            if self.report_in_place(cur, epoch, verdict, now).is_some() {
                return Recorded::Applied { transition: None };
            }
            self.report_measured(self.load(), epoch, verdict, Some(now))
        } else {
            self.update(cur, |cur| self.decide_record(cur, epoch, verdict, 0))
        };
        match update.outcome {
            Decision::Stale => {
                // Relaxed: a metric; see the module's "Orderings".
                self.cold.stale.fetch_add(1, Ordering::Relaxed);
                self.emit(crate::event::EventKind::StaleReport {
                    permit_epoch: epoch,
                });
                Recorded::Stale
            }
            _ => Recorded::Applied {
                transition: match update.after {
                    Some(after) if after.epoch() != update.before.epoch() => {
                        self.after_update(&update)
                    }
                    _ => None,
                },
            },
        }
    }

    /// A verdict that cannot lower health (a success, or no signal), reported
    /// under the measuring epoch `epoch` and applied without time: a success
    /// raises health by one step (`decide_record` with no ticks, without its
    /// other cases), anything else changes nothing. `false` if the breaker has
    /// left `epoch` (or stopped measuring) before it landed: the caller then
    /// decides by the general rule (a stale report).
    #[inline]
    fn rise(&self, mut cur: Snapshot, epoch: u32, verdict: Verdict) -> bool {
        let backoff = CasBackoff::new();
        loop {
            if cur.epoch() != epoch || !cur.state().measures() {
                return false;
            }
            if verdict != Verdict::Success {
                return true;
            }
            let h = health::after_success(cur.health(), self.config.alpha_up);
            // The spell below full health counts its attempts; a success that
            // ends it leaves none (and one at full health changes nothing).
            let samples = if h == HEALTH_FULL {
                0
            } else {
                (cur.samples() + 1).min(self.config.min_samples)
            };
            let next = cur.with_measure(h, samples);
            if next == cur {
                return true;
            }
            // AcqRel on success, Acquire on failure: see the module's "Orderings".
            match self.state.compare_exchange_weak(
                cur.raw(),
                next.raw(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => {
                    cur = Snapshot::from_raw(actual);
                    backoff.spin();
                }
            }
        }
    }

    /// The pure transition for a verdict: `cur -> (decision, new word)`, after
    /// `ticks` of decay this reporter claimed (applied first, in a measuring state).
    #[inline]
    pub(super) fn decide_record(
        &self,
        cur: Snapshot,
        epoch: u32,
        verdict: Verdict,
        ticks: u64,
    ) -> (Decision, Option<Snapshot>) {
        if cur.epoch() != epoch {
            return (Decision::Stale, None);
        }
        let cfg = &self.config;
        let next = match cur.state() {
            state @ (State::Closed | State::Disabled) => {
                let h = health::after_idle(cur.health(), ticks);
                // A spell below full health that time has ended leaves no samples.
                let samples = if h == HEALTH_FULL { 0 } else { cur.samples() };
                let bump = (samples + 1).min(cfg.min_samples);
                let weight = verdict.failure_weight();
                let (h, samples) = match verdict {
                    Verdict::Success => (health::after_success(h, cfg.alpha_up), bump),
                    Verdict::Failure { .. } if weight > 0.0 => {
                        let k = if weight == 1.0 {
                            cfg.alpha_down
                        } else {
                            health::rate_down(cfg.alpha * weight)
                        };
                        (health::after_failure(h, k), bump)
                    }
                    _ => (h, samples),
                };
                if state == State::Closed
                    && weight > 0.0
                    && h < cfg.threshold
                    && samples >= cfg.min_samples
                {
                    Some(Snapshot::open(cur.next_epoch(), 0, h))
                } else {
                    // Samples count the spell below full health: none at full.
                    Some(cur.with_measure(h, if h == HEALTH_FULL { 0 } else { samples }))
                }
            }
            State::HalfOpen => {
                let in_flight = cur.in_flight().saturating_sub(1);
                let failed =
                    matches!(verdict, Verdict::Failure { .. }) && verdict.failure_weight() > 0.0;
                if failed {
                    Some(Snapshot::open(
                        cur.next_epoch(),
                        (cur.reopen() + 1).min(REOPEN_MAX),
                        0,
                    ))
                } else if verdict == Verdict::Success {
                    let successes = cur.successes() + 1;
                    if successes >= cfg.close_after {
                        Some(Snapshot::closed(cur.next_epoch(), HEALTH_FULL, 0))
                    } else {
                        Some(cur.with_probes(in_flight, successes))
                    }
                } else {
                    Some(cur.with_probes(in_flight, cur.successes()))
                }
            }
            // No permit is ever admitted in an `Open` or `ForcedOpen` epoch, so a
            // matching epoch here would be a bug; changing nothing is the safe answer.
            State::Open | State::ForcedOpen => return (Decision::Stale, None),
        };
        (Decision::Applied, next)
    }

    /// A permit was dropped unrecorded: release its slot under the concurrency
    /// limit (if it holds one), and free its probe slot, if it holds one in the
    /// current epoch. Not a health signal.
    #[inline]
    pub(super) fn cancel(&self, ticket: Ticket) {
        self.release_slot(ticket);
        let epoch = ticket.epoch();
        let s = self.load();
        if s.state() != State::HalfOpen || s.epoch() != epoch {
            return;
        }
        let update = self.update(s, |cur| {
            if cur.state() == State::HalfOpen && cur.epoch() == epoch {
                (
                    (),
                    Some(cur.with_probes(cur.in_flight().saturating_sub(1), cur.successes())),
                )
            } else {
                ((), None)
            }
        });
        debug_assert!(update.after.is_none_or(|a| a.epoch() == epoch));
    }
}
