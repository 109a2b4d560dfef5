//! The `metrics` sink of the observer hook: every breaker's and budget's counter
//! and gauge handles, registered once, the counting of each event, and the
//! opt-in count of first-attempt successes ([`Successes`]). It speaks only the
//! event words; the public [`crate::metrics`] module (descriptions and gauge
//! exports) sits on top of the core.

use crate::event::{DelayReason, Event, EventKind};
use crate::state::State;
use crate::stop::Stop;
use crate::sync::{AtomicU64, Ordering};
use crossbeam_utils::CachePadded;
use metrics::{Counter, Gauge};
use std::cell::Cell;

pub(crate) const ATTEMPTS: &str = "fusebox_attempts_total";
pub(crate) const CALLS: &str = "fusebox_calls_total";
pub(crate) const REJECTIONS: &str = "fusebox_rejections_total";
pub(crate) const RETRIES: &str = "fusebox_retries_total";
pub(crate) const BUDGET_REFUSALS: &str = "fusebox_budget_refusals_total";
pub(crate) const TRANSITIONS: &str = "fusebox_transitions_total";
pub(crate) const STALE: &str = "fusebox_stale_reports_total";
pub(crate) const LEASES: &str = "fusebox_probe_lease_expiries_total";
pub(crate) const SLOW: &str = "fusebox_slow_attempts_total";
pub(crate) const TIMEOUTS: &str = "fusebox_attempt_timeouts_total";
pub(crate) const HEDGES: &str = "fusebox_hedges_total";
pub(crate) const STATE: &str = "fusebox_state";
pub(crate) const BUDGET_BALANCE: &str = "fusebox_budget_balance";
pub(crate) const HEALTH: &str = "fusebox_health";
pub(crate) const SUCCESSES_COUNTED: &str = "fusebox_successes_counted";

pub(crate) const STATES: [State; 5] = [
    State::Closed,
    State::Open,
    State::HalfOpen,
    State::ForcedOpen,
    State::Disabled,
];
pub(crate) const REASONS: [&str; 5] = ["open", "forced_open", "probes_busy", "shed", "limit"];

pub(crate) fn state_code(state: State) -> f64 {
    match state {
        State::Closed => 0.0,
        State::Open => 1.0,
        State::HalfOpen => 2.0,
        State::ForcedOpen => 3.0,
        State::Disabled => 4.0,
    }
}

/// One breaker's registered metric handles.
pub(crate) struct Handles {
    failures: Counter,
    ignored: Counter,
    calls: [Counter; Stop::ALL.len()],
    rejections: [Counter; 5],
    retries_backoff: Counter,
    retries_hint: Counter,
    transitions: [Counter; 5],
    stale: Counter,
    leases: Counter,
    slow: Counter,
    timeouts_deadline: Counter,
    timeouts_attempt: Counter,
    hedges_sent: Counter,
    hedges_won: Counter,
    hedges_cancelled: Counter,
    pub(crate) state: Gauge,
    pub(crate) health: Gauge,
    /// `fusebox_successes_counted`: 1 while first-attempt successes are counted.
    pub(crate) counted: Gauge,
}

/// One retry budget's registered metric handles.
pub(crate) struct BudgetHandles {
    refusals: Counter,
    pub(crate) balance: Gauge,
}

impl BudgetHandles {
    /// Register the handles of the budget `name` with the recorder installed now.
    pub(crate) fn register(name: &str) -> Self {
        Self {
            refusals: metrics::counter!(BUDGET_REFUSALS, "budget" => name.to_string()),
            balance: metrics::gauge!(BUDGET_BALANCE, "budget" => name.to_string()),
        }
    }

    /// Count a refused withdrawal.
    pub(crate) fn refused(&self) {
        self.refusals.increment(1);
    }
}

impl Handles {
    /// Register `name`'s handles with the recorder installed now; `counted`:
    /// whether its first-attempt successes are counted (the gauge's value).
    pub(crate) fn register(name: &str, counted: bool) -> Self {
        let breaker = name.to_string();
        let labelled = |metric: &'static str, key: &'static str, value: &'static str| metrics::counter!(metric, "breaker" => breaker.clone(), key => value);
        let plain = |metric: &'static str| metrics::counter!(metric, "breaker" => breaker.clone());
        Self {
            failures: labelled(ATTEMPTS, "verdict", "failure"),
            ignored: labelled(ATTEMPTS, "verdict", "ignored"),
            calls: Stop::ALL.map(|stop| labelled(CALLS, "stop", stop.as_str())),
            rejections: REASONS.map(|reason| labelled(REJECTIONS, "reason", reason)),
            retries_backoff: labelled(RETRIES, "why", DelayReason::Backoff.as_str()),
            retries_hint: labelled(RETRIES, "why", DelayReason::ServerHint.as_str()),
            transitions: STATES.map(|s| labelled(TRANSITIONS, "to", s.as_str())),
            stale: plain(STALE),
            leases: plain(LEASES),
            slow: plain(SLOW),
            timeouts_deadline: labelled(TIMEOUTS, "limit", "deadline"),
            timeouts_attempt: labelled(TIMEOUTS, "limit", "attempt_timeout"),
            hedges_sent: labelled(HEDGES, "outcome", "sent"),
            hedges_won: labelled(HEDGES, "outcome", "won"),
            hedges_cancelled: labelled(HEDGES, "outcome", "cancelled"),
            state: metrics::gauge!(STATE, "breaker" => breaker.clone()),
            health: metrics::gauge!(HEALTH, "breaker" => breaker.clone()),
            counted: {
                let gauge = metrics::gauge!(SUCCESSES_COUNTED, "breaker" => breaker.clone());
                gauge.set(if counted { 1.0 } else { 0.0 });
                gauge
            },
        }
    }

    /// `fusebox_calls_total{stop="succeeded"}`.
    pub(crate) fn succeeded(&self) -> &Counter {
        &self.calls[stop_index(Stop::Succeeded)]
    }
}

/// The value of `fusebox_health` for a breaker in a state with stored health
/// `health` (`None` outside `Closed` and `Disabled`): the health where it is
/// measured, and 0 where it is not (open, forced open, half-open: the breaker
/// trusts no traffic but its probes). See [`crate::metrics`].
pub(crate) fn health_value(health: Option<f64>) -> f64 {
    health.unwrap_or(0.0)
}

/// Move the counters and gauges of `h` for `event`.
pub(crate) fn emit(h: &Handles, event: &Event<'_>) {
    h.state.set(state_code(event.state));
    // `event.health` is `None` exactly when the state does not measure health.
    h.health.set(health_value(event.health));
    match event.kind {
        EventKind::Transition(t) => h.transitions[state_index(t.to)].increment(1),
        EventKind::Rejected(r) => {
            let i = REASONS.iter().position(|&x| x == r.as_str()).unwrap_or(0);
            h.rejections[i].increment(1);
        }
        EventKind::StaleReport { .. } => h.stale.increment(1),
        EventKind::ProbeLeaseExpired { .. } => h.leases.increment(1),
        EventKind::Retry { reason, .. } => match reason {
            DelayReason::ServerHint => h.retries_hint.increment(1),
            _ => h.retries_backoff.increment(1),
        },
        // Counted by the budget itself (`fusebox_budget_refusals_total{budget}`);
        // per breaker, the stop (`budget_exhausted`) counts it.
        EventKind::BudgetRefused { .. } => {}
        EventKind::SlowAttempt { .. } => h.slow.increment(1),
        EventKind::AttemptTimedOut { by_deadline, .. } => {
            if by_deadline {
                h.timeouts_deadline.increment(1);
            } else {
                h.timeouts_attempt.increment(1);
            }
        }
        EventKind::Hedge { .. } => h.hedges_sent.increment(1),
        EventKind::HedgesSettled { won, cancelled, .. } => {
            if won {
                h.hedges_won.increment(1);
            }
            h.hedges_cancelled.increment(u64::from(cancelled));
        }
        EventKind::CallStopped { stop, .. } => h.calls[stop_index(stop)].increment(1),
    }
}

/// Count a failure or ignored verdict (called from the breaker's report path,
/// which a success at full health never reaches).
pub(crate) fn verdict(h: &Handles, failure: bool) {
    if failure {
        h.failures.increment(1);
    } else {
        h.ignored.increment(1);
    }
}

fn state_index(state: State) -> usize {
    STATES.iter().position(|&s| s == state).unwrap_or(0)
}

fn stop_index(stop: Stop) -> usize {
    Stop::ALL.iter().position(|&s| s == stop).unwrap_or(0)
}

/// How many first-attempt successes a thread's stripe gathers before it adds
/// them to the shared counter: the counter's one shared write (a contended
/// cache line when several threads count) is paid once per batch, under a
/// nanosecond a call. [`crate::metrics::export`] takes the rest, so a scrape
/// after an export is exact; without exports, a stripe lags by at most
/// `BATCH - 1`.
pub(crate) const BATCH: u64 = 128;

/// The most stripes a breaker's success count has (a power of two).
const MAX_STRIPES: usize = 16;

/// First-attempt successes of guarded calls, counted when the breaker counts
/// them ([`crate::metrics::count_successes`]), on per-thread stripes: each
/// thread adds to a counter on a cache line of its own (shared only with the
/// threads whose index falls on the same stripe), so counting is an
/// uncontended atomic add, not a write every thread makes to one line.
///
/// Orderings: every access is `Relaxed`. The counts publish nothing, and are
/// read only to be added to the exported counter, which needs no order with
/// anything else; the read-modify-writes alone make sure that no increment is
/// lost and that each `swap` takes exactly the increments before it.
pub(crate) struct Successes {
    stripes: Box<[CachePadded<AtomicU64>]>,
    /// `stripes.len() - 1` (the length is a power of two).
    mask: usize,
}

impl Successes {
    /// One stripe per available core, rounded up to a power of two and at most
    /// [`MAX_STRIPES`] (a stripe is a cache line: 128 bytes on x86-64).
    pub(crate) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let len = cores.next_power_of_two().clamp(1, MAX_STRIPES);
        Self {
            stripes: (0..len)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            mask: len - 1,
        }
    }

    /// Count one success on this thread's stripe; `Some(n)` when the stripe's
    /// batch is full: the `n` successes taken from it, for the caller to add
    /// to the exported counter.
    #[inline]
    pub(crate) fn add(&self) -> Option<u64> {
        let stripe = &self.stripes[thread_index() & self.mask];
        // Relaxed: see the type's docs.
        if stripe.fetch_add(1, Ordering::Relaxed) + 1 < BATCH {
            return None;
        }
        Some(stripe.swap(0, Ordering::Relaxed))
    }

    /// Take every success counted and not yet added to the exported counter.
    pub(crate) fn take_all(&self) -> u64 {
        // Relaxed: see the type's docs.
        self.stripes
            .iter()
            .map(|stripe| stripe.swap(0, Ordering::Relaxed))
            .sum()
    }
}

thread_local! {
    /// This thread's index, for its stripe (`usize::MAX`: not given yet).
    static THREAD_INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The next thread index. A std atomic, not one of `crate::sync`'s: it is a
/// static (loom's atomics cannot be), and only spreads threads over stripes,
/// which no model depends on.
static NEXT_THREAD_INDEX: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// This thread's index: given in order of first use, so that the threads of a
/// pool land on different stripes. 0 while the thread-local is being torn down.
#[inline]
fn thread_index() -> usize {
    THREAD_INDEX
        .try_with(|index| {
            let i = index.get();
            if i != usize::MAX {
                return i;
            }
            // Relaxed: a unique number is all it gives.
            let i = NEXT_THREAD_INDEX.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                & (usize::MAX >> 1);
            index.set(i);
            i
        })
        .unwrap_or(0)
}
