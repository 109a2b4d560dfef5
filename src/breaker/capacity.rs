//! The concurrency limit's hooks in the breaker: the gate the healthy path
//! reads, latency samples, the retry headroom, and the limit's snapshot (the
//! limit itself is `crate::limit`).

use super::*;
use crate::sync::fence;

/// The gate's value while the limit is engaged: no masked state word equals it
/// (the mask clears bits), so every admission takes the slow path.
const GATE_CLOSED: u64 = u64::MAX;

impl Breaker {
    /// The gate word the healthy path compares the state word against.
    #[inline(always)]
    pub(super) fn gate(&self) -> u64 {
        // Relaxed: a hint. A stale gate lets a few admissions skip the slot
        // count (or sends a few down the slow path, which finds the limit
        // disengaged and takes no slot); slot accounting rests on the slot
        // word alone.
        self.gate.load(Ordering::Relaxed)
    }

    /// Make the gate agree with the limit after `change`: store, then re-read
    /// the slot word and store again until they agree, so that of two racing
    /// changes the last to be stored matches the word.
    ///
    /// The two `SeqCst` fences make that hold under the memory model, not only
    /// in an interleaving: without them, a thread that disengaged (slot CAS),
    /// stored the open gate and re-read the slot word could read its own
    /// disengaged word while another thread's engagement (CAS, closed-gate
    /// store, re-read) ran meanwhile, and its open-gate store could still come
    /// last in the gate's modification order (the "R" pattern; x86's store
    /// buffer allows it): an engaged limit behind an open gate, which no
    /// admission on the healthy word then counts. With a fence after every
    /// change and between every store and re-read, of two such threads the one
    /// whose re-read fence comes later in the fences' total order either sees
    /// the other's change or stores after the other's store
    /// (loom-tests/tests/limit.rs, `limit_gate_agrees_after_fresh_start_races_engagement`).
    #[cold]
    fn set_gate(&self, change: GateChange) {
        let mut engaged = change == GateChange::Engaged;
        // After the slot word's change (by this thread), before the gate store.
        fence(Ordering::SeqCst);
        loop {
            let value = if engaged {
                GATE_CLOSED
            } else {
                Snapshot::healthy_base().raw()
            };
            // Relaxed: see `gate`; ordered by the fences.
            self.gate.store(value, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            let now = self.limit.slots().engaged();
            if now == engaged {
                return;
            }
            engaged = now;
        }
    }

    /// Take a slot for a permit admitted under a measuring word, if the limit is
    /// engaged. `retry`: the attempt is a retry, which leaves a quarter of the
    /// limit to first attempts.
    #[inline]
    pub(super) fn take_slot(&self, ticket: Ticket, retry: bool) -> Result<Ticket, Rejected> {
        match self.limit.take(retry) {
            Ok(true) => Ok(ticket.with_slot()),
            Ok(false) => Ok(ticket),
            Err(()) => Err(Rejected::LimitReached {
                retry_after: Some(self.limit.retry_after()),
            }),
        }
    }

    /// Release the slot of a permit that held one (it was recorded or dropped).
    #[inline]
    pub(super) fn release_slot(&self, ticket: Ticket) {
        if ticket.has_slot() {
            self.limit.release();
        }
    }

    /// A timed attempt for the limit: it took `elapsed_ns` and ended at `now_ns`
    /// (breaker clock, since the breaker was built), standing for `weight`
    /// attempts (a sampled one stands for the untimed ones around it).
    #[inline]
    pub(crate) fn sample_latency(&self, elapsed_ns: u64, now_ns: u64, weight: u32) {
        if let Some(change) = self.limit.sample(elapsed_ns, now_ns, weight) {
            self.set_gate(change);
        }
    }

    /// The breaker closed after being open: disengage the limit and forget its
    /// episode, so that it learns the recovered downstream afresh (it engages
    /// again within a window if a queue is still there). Without this, a limit
    /// engaged by the outage's timeouts would meter the recovery by a
    /// throughput measured while nothing answered.
    #[cold]
    pub(super) fn limit_fresh_start(&self) {
        if let Some(change) = self.limit.fresh_start() {
            self.set_gate(change);
        }
    }

    /// Whether the limit adapts (see [`BreakerBuilder::adaptive_limit`]).
    #[inline(always)]
    pub(crate) fn limit_enabled(&self) -> bool {
        // From the read-only configuration, not the limit's own words: the
        // guard asks on every call.
        self.config.limit.is_some()
    }

    /// The adaptive concurrency limit as it is now: engaged or not, the limit,
    /// the slots in use, and the latencies it measures queueing by.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::Breaker;
    ///
    /// let breaker = Breaker::builder().adaptive_limit(true).build()?;
    /// let limit = breaker.limit();
    /// assert!(!limit.engaged, "a new breaker has seen no queue");
    /// assert_eq!(limit.in_flight, 0);
    /// assert_eq!(limit.base_latency, None, "nor any timed attempt");
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn limit(&self) -> LimitSnapshot {
        self.limit.snapshot()
    }

    /// Whether a retry may go beyond the retry budget's ratio: the limit is on,
    /// has measured the downstream and sees no queue, and the breaker is closed
    /// (or disabled) and not grading admission (health at or above
    /// `shed_below`, or above one half when grading is off).
    pub(crate) fn retry_headroom(&self) -> bool {
        if !self.limit.enabled() || !self.limit.headroom() {
            return false;
        }
        let s = self.load();
        if !s.state().measures() {
            return false;
        }
        let line = if self.config.shed_below > 0 {
            self.config.shed_below
        } else {
            HEALTH_FULL / 2
        };
        s.health() >= line
    }
}
