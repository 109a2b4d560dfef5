//! The operator controls: `force_open`, `disable`, `reset`.

use super::*;

impl Breaker {
    /// Force the breaker open: every attempt is rejected until [`reset`](Self::reset)
    /// or [`disable`](Self::disable). A transition from any other state (epoch + 1);
    /// `None`, and nothing at all changes, when it is already forced open.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, State};
    ///
    /// let breaker = Breaker::builder().build()?;
    /// let t = breaker.force_open().expect("closed -> forced open");
    /// assert_eq!((t.from, t.to, t.epoch), (State::Closed, State::ForcedOpen, 1));
    /// assert_eq!(breaker.force_open(), None); // already forced open: a no-op
    /// assert_eq!(breaker.snapshot().epoch, 1);
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn force_open(&self) -> Option<Transition> {
        self.operator(|cur| {
            (cur.state() != State::ForcedOpen).then(|| Snapshot::forced_open(cur.next_epoch()))
        })
    }

    /// Disable the breaker: every attempt is admitted and health is still measured,
    /// but it never trips ("metrics only"). A transition from any other state
    /// (epoch + 1); health carries over from `Closed` (and goes on decaying with
    /// time from where it was: see `carry_mark`), and starts full otherwise.
    /// `None`, and nothing at all changes, when it is already disabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, ManualClock, State, Verdict};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::builder().clock(clock.clone()).build()?;
    /// let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
    /// clock.advance(breaker.half_life() * 30); // time forgets the failure
    /// let t = breaker.disable().expect("closed -> disabled");
    /// assert_eq!(t.to, State::Disabled);
    /// assert_eq!(breaker.snapshot().health, Some(1.0));
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn disable(&self) -> Option<Transition> {
        self.operator(|cur| match cur.state() {
            State::Disabled => None,
            // The word carries over as it is, with its decay generation, and the
            // decay mark it is as of moves to the new epoch with it (see
            // `carry_mark`): health goes on decaying from where it was, exactly.
            State::Closed => Some(
                Snapshot::disabled(cur.next_epoch(), cur.health(), cur.samples())
                    .with_generation(cur.generation()),
            ),
            State::Open | State::HalfOpen | State::ForcedOpen => {
                Some(Snapshot::disabled(cur.next_epoch(), HEALTH_FULL, 0))
            }
        })
    }

    /// Reset to `Closed` with full health and no samples. A transition (epoch + 1)
    /// from any state but that one: every permit out before it becomes stale.
    /// `None`, and nothing at all changes (permits out stay valid), when the breaker
    /// is already `Closed` at full health with no samples, counting the time since
    /// the last report (a breaker that time alone has healed is not reset).
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{Breaker, ManualClock, Verdict};
    ///
    /// let clock = ManualClock::new();
    /// let breaker = Breaker::builder().clock(clock.clone()).build()?;
    /// assert_eq!(breaker.reset(), None); // nothing to reset
    /// let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
    /// clock.advance(breaker.half_life() * 30);
    /// assert_eq!(breaker.reset(), None); // time alone healed it
    /// let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
    /// assert!(breaker.reset().is_some()); // a fresh failure: reset
    /// # Ok::<(), fusebox::ConfigError>(())
    /// ```
    pub fn reset(&self) -> Option<Transition> {
        let mut now = None;
        self.operator(|cur| {
            if cur.state() == State::Closed {
                let at_full = cur.health() == HEALTH_FULL
                    || self
                        .decayed(cur, *now.get_or_insert_with(|| self.now_tick()))
                        .0
                        == HEALTH_FULL;
                if at_full {
                    // Full health has no samples (a spell ends there).
                    return None;
                }
            }
            Some(Snapshot::closed(cur.next_epoch(), HEALTH_FULL, 0))
        })
    }

    /// Run an operator call: `target` proposes the new word (always in a new
    /// epoch), or `None` when the call would change nothing but the epoch.
    #[cold]
    pub(super) fn operator(
        &self,
        mut target: impl FnMut(Snapshot) -> Option<Snapshot>,
    ) -> Option<Transition> {
        let update = self.update(self.load(), |cur| ((), target(cur)));
        debug_assert!(
            update
                .after
                .is_none_or(|a| a.epoch() != update.before.epoch())
        );
        self.after_update(&update)
    }
}
