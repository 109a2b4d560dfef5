//! The `metrics` sink of the observer hook: every breaker's and budget's counter
//! and gauge handles, registered once, and the counting of each event. It speaks
//! only the event words; the public [`crate::metrics`] module (descriptions and
//! gauge exports) sits on top of the core.

use crate::event::{DelayReason, Event, EventKind};
use crate::state::State;
use crate::stop::Stop;
use metrics::{Counter, Gauge};

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
pub(crate) const STATE: &str = "fusebox_state";
pub(crate) const BUDGET_BALANCE: &str = "fusebox_budget_balance";
pub(crate) const HEALTH: &str = "fusebox_health";

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
    pub(crate) state: Gauge,
    pub(crate) health: Gauge,
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
    /// Register `name`'s handles with the recorder installed now.
    pub(crate) fn register(name: &str) -> Self {
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
            state: metrics::gauge!(STATE, "breaker" => breaker.clone()),
            health: metrics::gauge!(HEALTH, "breaker" => breaker.clone()),
        }
    }
}

/// Move the counters and gauges of `h` for `event`.
pub(crate) fn emit(h: &Handles, event: &Event<'_>) {
    h.state.set(state_code(event.state));
    if let Some(health) = event.health {
        h.health.set(health);
    }
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
        EventKind::CallStopped { stop, .. } => {
            let i = Stop::ALL.iter().position(|&s| s == stop).unwrap_or(0);
            h.calls[i].increment(1);
        }
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
