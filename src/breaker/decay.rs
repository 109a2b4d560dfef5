//! Decay: health follows time. The decay mark in the deadline word, and the
//! protocol that applies each interval of time to the state word it was measured
//! from, once, before any verdict reported after it (see [`MarkWord`]).

use super::*;

impl Breaker {
    /// Decay ticks since the breaker was built. Time in ticks stops at the end of
    /// the mark word's field (139 years of the smallest tick).
    pub(super) fn now_tick(&self) -> u64 {
        self.tick_of(self.elapsed_ns())
    }

    /// The decay tick of `elapsed_ns` (time since the breaker was built).
    #[inline]
    pub(super) fn tick_of(&self, elapsed_ns: u64) -> u64 {
        (elapsed_ns / self.config.tick).min(MARK_MAX)
    }

    /// What the deadline word says about the measuring word `s` (see
    /// [`MarkWord`]), and the raw word it was read from.
    #[inline]
    pub(super) fn mark_view(&self, s: Snapshot, now: u64) -> (MarkView, u64) {
        // Acquire: see the module's "Orderings".
        let raw = self.cold.deadline.load(Ordering::Acquire);
        (MarkWord::from_raw(raw).view(s, now), raw)
    }

    /// The previous epoch (wrapping).
    fn previous(epoch: u32) -> u32 {
        epoch.wrapping_sub(1) & EPOCH_MAX
    }

    /// Health and samples of the measuring word `s` as of tick `now`, reading
    /// only: health decayed by the ticks since the word's decay mark (and by a
    /// claimed interval it has not absorbed yet); samples unchanged unless that
    /// brings health to full, which ends the spell. A word that `disable()`
    /// carried over and whose mark has not followed yet reads the old epoch's
    /// mark; a word with no mark in its epoch otherwise, or read before a change
    /// the deadline word already follows, is taken as stored (never above the
    /// real health).
    pub(super) fn decayed(&self, s: Snapshot, now: u64) -> (u32, u32) {
        let (mut view, raw) = self.mark_view(s, now);
        if view == MarkView::Unmarked && s.health() < HEALTH_FULL {
            let word = MarkWord::from_raw(raw);
            if word.belongs_to(Self::previous(s.epoch())) {
                view = word.retagged(s.epoch()).view(s, now);
            }
        }
        let h = match view {
            MarkView::Current { mark, .. } => {
                health::after_idle(s.health(), now.saturating_sub(mark))
            }
            MarkView::Pending { interval, end } => health::after_idle(
                health::after_idle(s.health(), interval),
                now.saturating_sub(end),
            ),
            MarkView::Unmarked | MarkView::Behind => s.health(),
        };
        (h, if h == HEALTH_FULL { 0 } else { s.samples() })
    }

    /// Apply `verdict`, reported under `epoch` at tick `now`, to the measuring
    /// word `s` of that epoch, with the decay due first. The heart of the decay
    /// protocol; see [`MarkWord`] for the two words' layout. Failures and
    /// reports made with the time come here (after `report_in_place`, their
    /// common case); a caller's success or non-signal does not (`rise`: it
    /// commutes with the decay, docs/DESIGN.md §7).
    ///
    /// A verdict lands on the state word only when that word is as of `now` or
    /// later, so it is never decayed with time that passed before it happened,
    /// and time that passed before it is never applied after it:
    ///
    /// 1. the word is as of a mark at or after `now` (or the verdict changes
    ///    nothing that time could change: a success or no signal at full health):
    ///    the verdict is applied with one CAS of the state word from the word read;
    /// 2. the word is behind `now`: the reporter *claims* the interval from the
    ///    mark to `now` by turning the deadline word into a pending one (CAS from
    ///    the word read, so two claims of one interval cannot both succeed);
    /// 3. an interval is claimed and not applied: it is applied (with the
    ///    reporter's verdict after it, if the interval ends at or after `now`) by
    ///    one CAS of the state word that also moves its generation to the claim's.
    ///    Anyone does this, so a claimer that stalls holds nobody up; the claim is
    ///    applied exactly once, because only a word of the generation before it
    ///    accepts it.
    ///
    /// Every step is a CAS from a word read in this pass; a failed one, or a
    /// pass that only helped, reads both words again. The interval claimed is
    /// thus applied to exactly the word it was claimed for, whoever applies it.
    ///
    /// A word of generation `g` could only be mistaken for a later word of the
    /// same generation after 32 more claims, each at least a tick (1 ms) later
    /// than the last, while this reporter stands between two of its own
    /// instructions: the same kind of argument as the epoch's wrap-around.
    #[cold]
    pub(super) fn report_measured(
        &self,
        mut s: Snapshot,
        epoch: u32,
        verdict: Verdict,
        mut now: Option<u64>,
    ) -> Update<Decision> {
        let backoff = CasBackoff::new();
        loop {
            if s.epoch() != epoch || !s.state().measures() {
                // The breaker has left the epoch: stale (decided by the usual rule).
                return self.update(s, |cur| self.decide_record(cur, epoch, verdict, 0));
            }
            if s.health() == HEALTH_FULL && !verdict.lowers() {
                // A success or no signal at full health changes nothing, as of the
                // word just read (of this epoch): no time to read, nothing to write.
                return Update {
                    outcome: Decision::Applied,
                    before: s,
                    after: None,
                };
            }
            // One clock read per report, and only here, where time matters.
            let now = *now.get_or_insert_with(|| self.now_tick());
            let (view, raw) = self.mark_view(s, now);
            let apply = match view {
                MarkView::Current { mark, settle } if now <= mark => {
                    if settle {
                        self.settle_mark(raw, epoch, s.generation(), mark);
                    }
                    Some((0, true, s.generation()))
                }
                MarkView::Current { mark, .. } => {
                    let claim = MarkWord::pending(epoch, s.next_generation(), now - mark, now);
                    // AcqRel on success, Acquire on failure: as in `publish_deadline`.
                    // Losing the race is fine: whoever won changed the word, and the
                    // next pass reads it.
                    let _claimed = self.cold.deadline.compare_exchange(
                        raw,
                        claim.raw(),
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                    None
                }
                MarkView::Pending { interval, end } => {
                    // The interval ends at or after `now`: this verdict belongs right
                    // after it. Otherwise apply the interval alone, and go on.
                    Some((interval, end >= now, s.next_generation()))
                }
                MarkView::Unmarked => {
                    if s.health() < HEALTH_FULL {
                        // Only `disable()` makes a word below full health in a
                        // new epoch, and it carries the old epoch's mark over:
                        // help it.
                        self.carry_mark(Self::previous(epoch), epoch);
                    }
                    // A word at full health needs only a start; a no-op once
                    // the word is this epoch's.
                    self.start_mark(epoch, s.generation(), now);
                    None
                }
                MarkView::Behind => None,
            };
            if let Some((ticks, with_verdict, generation)) = apply {
                let v = if with_verdict {
                    verdict
                } else {
                    Verdict::Ignored
                };
                let read = s;
                let update = self.update(s, |cur| {
                    if cur != read {
                        return (None, None);
                    }
                    let (decision, next) = self.decide_record(cur, epoch, v, ticks);
                    let next = next.map(|n| {
                        if n.epoch() == epoch {
                            n.with_generation(generation)
                        } else {
                            n
                        }
                    });
                    (Some(decision), next)
                });
                if let Some(decision) = update.outcome {
                    if generation != s.generation()
                        && update.after.is_some_and(|a| a.epoch() == epoch)
                    {
                        // This pass applied a claimed interval: record that in the
                        // deadline word, whose mark is then exact for longer.
                        if let MarkView::Pending { end, .. } = view {
                            self.settle_mark(raw, epoch, generation, end);
                        }
                    }
                    if with_verdict {
                        return Update {
                            outcome: decision,
                            before: update.before,
                            after: update.after,
                        };
                    }
                    // Helped a claim through; now this report.
                    if let Some(after) = update.after {
                        if after.epoch() != epoch {
                            // A decay-only step never changes the epoch.
                            unreachable_decision();
                        }
                        s = after;
                        continue;
                    }
                }
            }
            backoff.spin();
            s = self.load();
        }
    }

    /// The common case of [`report_measured`](Self::report_measured), without
    /// its machinery: the state word `s` of the measuring epoch `epoch` (the
    /// caller checked both) is already as of `now` (its decay mark, settled for
    /// its generation, is at or after `now`), so `verdict` applies by one CAS
    /// from `s` with no decay first, unless it trips the breaker. `None` when
    /// any of that does not hold (a tick has passed since the mark, a claim is
    /// pending, a trip) or the CAS fails (the word changed): the caller takes
    /// the general path, which reads both words again and decides afresh.
    ///
    /// The mark of a generation never changes, and a claim made after the mark
    /// word was read moves the state word's generation only when it is
    /// applied, which changes the word and fails this CAS.
    #[inline]
    pub(super) fn report_in_place(
        &self,
        s: Snapshot,
        epoch: u32,
        verdict: Verdict,
        now: u64,
    ) -> Option<()> {
        debug_assert!(s.epoch() == epoch && s.state().measures());
        let (view, _) = self.mark_view(s, now);
        if !matches!(view, MarkView::Current { mark, settle: false } if now <= mark) {
            return None;
        }
        let (_, next) = self.decide_record(s, epoch, verdict, 0);
        let next = next?;
        if next.epoch() != epoch {
            // A trip: the transition's bookkeeping is the general path's.
            return None;
        }
        if next == s {
            // Nothing to write (a success at full health, a failure at zero).
            return Some(());
        }
        // AcqRel on success, Acquire on failure: see the module's "Orderings".
        self.state
            .compare_exchange(s.raw(), next.raw(), Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| ())
    }

    /// Rewrite the pending deadline word `raw`, whose interval the state word at
    /// generation `generation` has absorbed, as a settled one with the same mark.
    /// Losing the race is fine: the word changed, so a newer claim or epoch
    /// replaced it, and the pending word held the same mark for as long as it
    /// lasted.
    pub(super) fn settle_mark(&self, raw: u64, epoch: u32, generation: u32, mark: u64) {
        let settled = MarkWord::settled(epoch, generation, mark);
        // AcqRel on success, Acquire on failure: as in `publish_deadline`.
        let _settled = self.cold.deadline.compare_exchange(
            raw,
            settled.raw(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Start the decay mark of the measuring epoch `epoch`, whose state word is
    /// at full health (where the mark only bounds the next claim), at tick `now`,
    /// over a deadline word of another epoch. It writes only while the state word
    /// still shows `epoch`, re-checked after each load of the deadline word: the
    /// argument of [`publish_deadline`](Self::publish_deadline) keeps it from
    /// overwriting a newer epoch's deadline. It stops once the word belongs to
    /// `epoch` (someone started it) or the breaker has moved on; a CAS lost to a
    /// stale writer of an older epoch (a claim or settle from the exact word it
    /// read, which fails once the word is this epoch's) is tried again.
    pub(super) fn start_mark(&self, epoch: u32, generation: u32, now: u64) {
        let mark = MarkWord::settled(epoch, generation, now);
        self.rewrite_mark(epoch, |word| (!word.belongs_to(epoch)).then_some(mark));
    }

    /// Move the decay mark of the `Closed` epoch `from` to the `Disabled` epoch
    /// `to` that `disable()` made from it, unchanged but for its tag: the
    /// `Disabled` word carries the `Closed` word's health, samples and generation,
    /// so the mark word (settled, or pending with a claim of the old word's
    /// generation) says exactly the same of it. Until this is done the new epoch
    /// finds the old epoch's word; a reporter of the new epoch does it too (see
    /// `report_measured`), so nobody waits for the operator. A stale writer of the
    /// old epoch may still claim or settle in between (from the exact word it
    /// read, with the old tag): the loop carries whatever the word holds then.
    /// Stops once the word belongs to `to`, or is neither epoch's (the breaker
    /// has moved on: a newer epoch's word), or the state word has left `to`.
    pub(super) fn carry_mark(&self, from: u32, to: u32) {
        self.rewrite_mark(to, |word| word.belongs_to(from).then(|| word.retagged(to)));
    }

    /// The loop `start_mark` and `carry_mark` share: while the state word shows
    /// `epoch`, replace the deadline word with what `next` makes of it, by CAS
    /// from the word read; stop when `next` says `None` (nothing, or nothing
    /// more, to do) or the breaker has left `epoch`. The deadline word is loaded
    /// before the state word is checked: the argument of
    /// [`publish_deadline`](Self::publish_deadline).
    fn rewrite_mark(&self, epoch: u32, next: impl Fn(MarkWord) -> Option<MarkWord>) {
        let backoff = CasBackoff::new();
        // Acquire: as in `publish_deadline`.
        let mut raw = self.cold.deadline.load(Ordering::Acquire);
        loop {
            let Some(new) = next(MarkWord::from_raw(raw)) else {
                return;
            };
            if self.load().epoch() != epoch {
                return;
            }
            // AcqRel on success, Acquire on failure: as in `publish_deadline`.
            match self.cold.deadline.compare_exchange_weak(
                raw,
                new.raw(),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => {
                    raw = actual;
                    backoff.spin();
                }
            }
        }
    }
}
