//! Events: what a breaker, and the guards and services over it, did, told to one
//! [`Listener`].
//!
//! A breaker built with [`BreakerBuilder::listener`](crate::BreakerBuilder::listener)
//! calls it for every [`Event`]: transitions, rejections by reason, stale reports,
//! probe-lease expiries, and, from every [`Guard`](crate::Guard) (and tower
//! service) over that breaker, retries with the delay chosen and why, budget
//! refusals, slow and timed-out attempts, and every call that did not end with a
//! first-attempt success. Each event carries the breaker's
//! [name](crate::BreakerBuilder::name), the time on the breaker's clock, and the
//! state, epoch and health the breaker was in when it was told.
//!
//! # The contract
//!
//! - **Outside every CAS loop.** An event is told after the change it reports is
//!   committed (a transition, after the state word and its deadline are written),
//!   from the thread that made it. A listener can call the breaker (take a
//!   [`snapshot`](crate::Breaker::snapshot), say) without deadlock or retry.
//! - **Panics contained.** A panic in the listener is caught and discarded: it
//!   cannot corrupt the breaker, leak a probe slot, or reach the caller.
//! - **No allocation per event.** An event is a `Copy` value on the stack; its
//!   name is borrowed from the breaker.
//! - **Nothing on the healthy path.** A call whose first attempt succeeds at full
//!   health tells nothing (it would cost every call a branch and, for a
//!   timestamp, a clock read). So a listener sees every call that did something
//!   unusual, and counts calls in total only together with the breaker's own
//!   numbers.
//! - **Cheap when unheard.** With no listener (and the `tracing` and `metrics`
//!   features off) an event costs one branch on a path that is already cold.
//!
//! # Examples
//!
//! ```
//! use fusebox::{Breaker, EventKind, Verdict};
//! use std::sync::{Arc, Mutex};
//!
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let log = Arc::clone(&seen);
//! let breaker = Breaker::builder()
//!     .name("payments")
//!     .trip_after_consecutive_failures(1)
//!     .listener(move |event: &fusebox::Event<'_>| {
//!         log.lock().unwrap().push(format!("{} {}", event.name, event.kind.as_str()));
//!     })
//!     .build()?;
//! let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
//! let _ = breaker.try_acquire(); // rejected: open
//! assert_eq!(*seen.lock().unwrap(), ["payments transition", "payments rejected"]);
//! # Ok::<(), fusebox::ConfigError>(())
//! ```

use crate::error::Rejected;
use crate::state::State;
use crate::stop::Stop;
use crate::verdict::Transition;
use std::fmt;
use std::time::Duration;

/// Receives a breaker's [`Event`]s. Implemented for every
/// `Fn(&Event<'_>) + Send + Sync + 'static` closure.
///
/// Called from the thread that caused the event, outside any CAS loop; a panic is
/// caught and discarded. Keep it quick: it runs on the caller's request path
/// (a rejection storm calls it once per rejection).
///
/// # Examples
///
/// A listener of its own (a closure works as well, see [`BreakerBuilder::listener`](crate::BreakerBuilder::listener)):
///
/// ```
/// use fusebox::{Breaker, Event, EventKind, Listener, Verdict};
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
///
/// /// Counts the trips into `Open`.
/// struct Trips(Arc<AtomicU32>);
/// impl Listener for Trips {
///     fn on_event(&self, event: &Event<'_>) {
///         if let EventKind::Transition(t) = event.kind {
///             if t.to == fusebox::State::Open {
///                 self.0.fetch_add(1, Ordering::Relaxed); // a counter, nothing to order
///             }
///         }
///     }
/// }
///
/// let trips = Arc::new(AtomicU32::new(0));
/// let breaker = Breaker::builder()
///     .trip_after_consecutive_failures(1)
///     .listener(Trips(trips.clone()))
///     .build()?;
/// let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
/// assert_eq!(trips.load(Ordering::Relaxed), 1);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub trait Listener: Send + Sync + 'static {
    /// Handle one event.
    fn on_event(&self, event: &Event<'_>);
}

impl<F> Listener for F
where
    F: Fn(&Event<'_>) + Send + Sync + 'static,
{
    fn on_event(&self, event: &Event<'_>) {
        self(event);
    }
}

/// One thing a breaker (or a guard over it) did. See the [module
/// documentation](self).
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, EventKind, Verdict};
/// use std::sync::{Arc, Mutex};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let sink = log.clone();
/// let breaker = Breaker::builder()
///     .name("search")
///     .trip_after_consecutive_failures(1)
///     .listener(move |e: &fusebox::Event<'_>| {
///         sink.lock().unwrap().push(format!("{} {} at {:?}: {}", e.name, e.kind.as_str(), e.at, e.state))
///     })
///     .build()?;
/// let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
/// let lines = log.lock().unwrap();
/// assert!(lines[0].starts_with("search transition at "), "{}", lines[0]);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Event<'a> {
    /// The breaker's [name](crate::BreakerBuilder::name) (`""` if it has none).
    pub name: &'a str,
    /// When, on the breaker's clock (time since the breaker was built).
    pub at: Duration,
    /// The breaker's state when the event was told (for a transition, the state
    /// entered, unless the breaker has moved on already).
    pub state: State,
    /// The breaker's epoch when the event was told.
    pub epoch: u32,
    /// The breaker's health when the event was told (`None` outside `Closed` and
    /// `Disabled`), as stored: the decay since the last report is not applied.
    pub health: Option<f64>,
    /// What happened.
    pub kind: EventKind<'a>,
}

/// What happened, in an [`Event`].
///
/// # Examples
///
/// ```
/// use fusebox::{Event, EventKind, Rejected};
///
/// fn log(e: &Event<'_>) {
///     match e.kind {
///         EventKind::Transition(t) => println!("{}: {} -> {}", e.name, t.from, t.to),
///         EventKind::Rejected(Rejected::Open { retry_after }) => {
///             println!("{}: open, retry after {retry_after:?}", e.name)
///         }
///         EventKind::Retry { attempt, delay, reason } => {
///             println!("{}: attempt {attempt} in {delay:?} ({reason})", e.name)
///         }
///         other => println!("{}: {}", e.name, other.as_str()),
///     }
/// }
/// let breaker = fusebox::Breaker::builder().listener(log).build()?;
/// # let _ = breaker;
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum EventKind<'a> {
    /// The breaker changed state (the same value the caller that made it got).
    Transition(Transition),
    /// The breaker refused an attempt.
    Rejected(Rejected),
    /// A verdict arrived for an epoch the breaker had left: it changed nothing.
    StaleReport {
        /// The epoch the permit was admitted in.
        permit_epoch: u32,
    },
    /// Every probe slot of a half-open period was still held when its lease ran
    /// out: a fresh half-open period started (the [`Transition`] event, half-open
    /// to half-open, follows), and the old probes' reports will be stale.
    ProbeLeaseExpired {
        /// The epoch of the half-open period that expired.
        expired_epoch: u32,
    },
    /// A guarded call will retry after `delay`.
    Retry {
        /// The attempt about to be made after the delay (2 for the first retry).
        attempt: u32,
        /// The delay chosen.
        delay: Duration,
        /// Why that delay.
        reason: DelayReason,
    },
    /// The retry budget refused a guarded call's retry (the call stops).
    BudgetRefused {
        /// The budget's [name](crate::RetryBudgetBuilder::name) (`""` if none).
        budget: &'a str,
        /// Attempts the call made.
        attempts: u32,
    },
    /// An attempt took longer than the breaker's
    /// [slow-call threshold](crate::BreakerBuilder::slow_call): recorded as a
    /// failure even if it succeeded.
    SlowAttempt {
        /// How long it took.
        elapsed: Duration,
        /// The threshold.
        threshold: Duration,
    },
    /// An attempt in `call_async` (or the tower service) was cut by a time limit:
    /// its future was dropped and a failure recorded.
    AttemptTimedOut {
        /// The attempt's number.
        attempt: u32,
        /// The limit that cut it.
        limit: Duration,
        /// Whether the limit was the call's deadline (else the attempt timeout).
        by_deadline: bool,
    },
    /// A guarded async call sent a hedge: an attempt alongside one still
    /// running (see [`Guard::with_hedging`](crate::Guard::with_hedging)).
    Hedge {
        /// The hedge's attempt number (its place among the call's attempts).
        attempt: u32,
        /// How long after its round's first attempt began it was sent.
        delay: Duration,
    },
    /// A guarded async call that sent hedges ended: told once per such call,
    /// just before its [`CallStopped`](Self::CallStopped), with its counts
    /// over all its rounds; or, for a call whose future is dropped before it
    /// ends (the caller gave up), when it is dropped, with `won: false`, its
    /// attempts then in flight counted cancelled, and no `CallStopped`.
    HedgesSettled {
        /// Hedges the call sent.
        sent: u32,
        /// Whether a hedge's success ended the call.
        won: bool,
        /// Attempts dropped in flight, unrecorded (the losers of a round a
        /// success ended, the attempts a deadline cut, or those in flight
        /// when the call's future was dropped).
        cancelled: u32,
    },
    /// A guarded call ended, other than with a first-attempt success.
    CallStopped {
        /// Why.
        stop: Stop,
        /// Attempts made.
        attempts: u32,
    },
}

/// Why a retry waits as long as it does.
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, DelayReason, EventKind, Guard, Retry};
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
///
/// let reasons = Arc::new(Mutex::new(Vec::new()));
/// let sink = reasons.clone();
/// let breaker = Breaker::builder()
///     .listener(move |e: &fusebox::Event<'_>| {
///         if let EventKind::Retry { reason, .. } = e.kind {
///             sink.lock().unwrap().push(reason);
///         }
///     })
///     .build()?;
/// let retry = Retry::builder().max_attempts(2).constant_backoff(Duration::from_millis(1)).build()?;
/// let _ = Guard::new(Arc::new(breaker), retry).call(|_| Err::<(), _>("down"));
/// assert_eq!(*reasons.lock().unwrap(), [DelayReason::Backoff]);
/// assert_eq!(DelayReason::ServerHint.as_str(), "server_hint");
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DelayReason {
    /// The retry policy's (jittered) backoff.
    Backoff,
    /// The server's hint ("retry after"), longer than the backoff.
    ServerHint,
}

impl DelayReason {
    /// A stable `snake_case` name: `"backoff"` or `"server_hint"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DelayReason::Backoff => "backoff",
            DelayReason::ServerHint => "server_hint",
        }
    }
}

impl fmt::Display for DelayReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EventKind<'_> {
    /// A stable `snake_case` name for the kind, for log fields and metric labels.
    ///
    /// # Examples
    ///
    /// ```
    /// use fusebox::{EventKind, Rejected};
    ///
    /// assert_eq!(EventKind::Rejected(Rejected::Shed).as_str(), "rejected");
    /// ```
    pub const fn as_str(&self) -> &'static str {
        match self {
            EventKind::Transition(_) => "transition",
            EventKind::Rejected(_) => "rejected",
            EventKind::StaleReport { .. } => "stale_report",
            EventKind::ProbeLeaseExpired { .. } => "probe_lease_expired",
            EventKind::Retry { .. } => "retry",
            EventKind::BudgetRefused { .. } => "budget_refused",
            EventKind::SlowAttempt { .. } => "slow_attempt",
            EventKind::AttemptTimedOut { .. } => "attempt_timed_out",
            EventKind::Hedge { .. } => "hedge",
            EventKind::HedgesSettled { .. } => "hedges_settled",
            EventKind::CallStopped { .. } => "call_stopped",
        }
    }
}

impl Rejected {
    /// A stable `snake_case` name for the reason, for log fields and metric
    /// labels: `"open"`, `"forced_open"`, `"probes_busy"`, `"shed"` or `"limit"`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Rejected::Open { .. } => "open",
            Rejected::ForcedOpen => "forced_open",
            Rejected::ProbesBusy => "probes_busy",
            Rejected::Shed => "shed",
            Rejected::LimitReached { .. } => "limit",
        }
    }
}
