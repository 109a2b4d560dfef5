//! The words of a report: the [`Verdict`] on one attempt, the [`Transition`] a
//! report or an operator call may cause, and what recording returns
//! ([`Recorded`]). Every layer speaks them; this module imports nothing above
//! [`State`].

use crate::state::State;
use std::time::Duration;

/// The classification of one attempt's result, as the breaker sees it.
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, Verdict};
///
/// let breaker = Breaker::builder().build().unwrap();
/// let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
/// let _ = breaker.try_acquire().unwrap().record(Verdict::Failure { weight: 0.5 });
/// let _ = breaker.try_acquire().unwrap().record(Verdict::Ignored);
/// let health = breaker.snapshot().health.unwrap();
/// assert!(health < 1.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Verdict {
    /// The attempt succeeded: health moves toward 1 by `alpha`.
    Success,
    /// The attempt failed: health moves toward 0 by `alpha * weight`.
    ///
    /// `weight` is clamped: NaN, zero and negative weights are no signal at all
    /// (like [`Verdict::Ignored`]); weights above [`Verdict::MAX_WEIGHT`] count as
    /// `MAX_WEIGHT`; and `alpha * weight` is capped at 1 (health drops to 0).
    Failure {
        /// How much this failure counts; 1.0 is one ordinary failure.
        weight: f64,
    },
    /// Not a health signal (a caller error, a cancellation): health and samples are
    /// left as they were; in half-open it frees the probe slot.
    Ignored,
}

impl Verdict {
    /// The largest failure weight that counts; larger ones are clamped to it.
    pub const MAX_WEIGHT: f64 = 1000.0;

    /// A unit failure (`weight: 1.0`).
    pub const fn failure() -> Self {
        Verdict::Failure { weight: 1.0 }
    }

    /// The weight of a failure after clamping, 0 when it is no signal.
    pub(crate) fn failure_weight(self) -> f64 {
        match self {
            Verdict::Failure { weight } if weight > 0.0 => weight.min(Self::MAX_WEIGHT),
            // NaN fails `> 0.0` and lands here too.
            _ => 0.0,
        }
    }

    /// Whether this verdict lowers health (a failure of positive weight).
    pub(crate) fn lowers(self) -> bool {
        self.failure_weight() > 0.0
    }
}

/// A state change, as told to the listener and returned by the call that made it.
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, State, Verdict};
///
/// let breaker = Breaker::builder().trip_after_consecutive_failures(1).build()?;
/// let recorded = breaker.try_acquire().unwrap().record(Verdict::failure());
/// let t = recorded.transition().expect("the first failure trips");
/// assert_eq!((t.from, t.to), (State::Closed, State::Open));
/// assert!(t.open_for.is_some());
/// assert_eq!(t.epoch, breaker.snapshot().epoch);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// The epoch of the state entered.
    pub epoch: u32,
    /// For a transition into [`State::Open`]: how long it stays open (jittered).
    pub open_for: Option<Duration>,
}

/// What recording a verdict did.
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, Recorded, Verdict};
///
/// let breaker = Breaker::builder().build()?;
/// let permit = breaker.try_acquire().unwrap();
/// match permit.record(Verdict::Success) {
///     Recorded::Applied { transition: None } => {}              // the usual case
///     Recorded::Applied { transition: Some(t) } => println!("{t:?}"), // this report moved it
///     Recorded::Stale => println!("the breaker moved on; nothing changed"),
/// }
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[must_use = "a stale report means the verdict changed nothing"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The verdict was applied to the epoch the permit was admitted in; `transition`
    /// is the state change it caused, if any.
    Applied {
        /// The transition this verdict caused (only this caller sees it).
        transition: Option<Transition>,
    },
    /// The breaker moved to a newer epoch since the permit was admitted: the verdict
    /// changed nothing (not the state, the deadline, health or counters).
    Stale,
}

impl Recorded {
    /// Whether the report was stale.
    pub fn is_stale(&self) -> bool {
        matches!(self, Recorded::Stale)
    }

    /// The transition this report caused, if any.
    pub fn transition(&self) -> Option<Transition> {
        match self {
            Recorded::Applied { transition } => *transition,
            Recorded::Stale => None,
        }
    }
}
