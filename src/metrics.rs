//! The `metrics` feature: counters and gauges per named breaker, through the
//! [`metrics`](https://docs.rs/metrics) facade (so any exporter: Prometheus,
//! StatsD, OpenTelemetry).
//!
//! Every [`Event`] a breaker tells also moves a counter, labelled with the
//! breaker's [name](crate::BreakerBuilder::name):
//!
//! | metric | labels | counts |
//! |---|---|---|
//! | `fusebox_attempts_total` | `breaker`, `verdict` (`failure`, `ignored`) | attempts recorded as failures (slow ones and cut ones included) or ignored |
//! | `fusebox_calls_total` | `breaker`, `stop` ([`Stop::as_str`](crate::Stop::as_str)) | guarded calls by stop reason, **except first-attempt successes** (see below) |
//! | `fusebox_rejections_total` | `breaker`, `reason` ([`Rejected::as_str`](crate::Rejected::as_str)) | attempts the breaker refused |
//! | `fusebox_retries_total` | `breaker`, `why` (`backoff`, `server_hint`) | retries scheduled |
//! | `fusebox_budget_refusals_total` | `budget` | retries the retry budget (named by [`RetryBudgetBuilder::name`](crate::RetryBudgetBuilder::name)) refused |
//! | `fusebox_transitions_total` | `breaker`, `to` ([`State::as_str`](crate::State::as_str)) | state changes |
//! | `fusebox_stale_reports_total` | `breaker` | verdicts that arrived for an epoch the breaker had left |
//! | `fusebox_probe_lease_expiries_total` | `breaker` | half-open periods restarted because their probes held their slots past the lease |
//! | `fusebox_slow_attempts_total` | `breaker` | attempts over the slow-call threshold |
//! | `fusebox_attempt_timeouts_total` | `breaker`, `limit` (`deadline`, `attempt_timeout`) | attempts cut by a time limit |
//!
//! and gauges: `fusebox_state{breaker}` (0 closed, 1 open, 2 half-open,
//! 3 forced-open, 4 disabled) and `fusebox_health{breaker}` (0 to 1; outside
//! closed and disabled it keeps its last value), set at every event and by
//! [`export`]; `fusebox_budget_balance{budget}` (tokens), set by
//! [`export_budget`].
//!
//! # The healthy path writes nothing
//!
//! A call whose first attempt succeeds at full health is one load to admit and one
//! load and compare to record; counting it would add a shared write to every
//! call, the cost the breaker is built to avoid. So first-attempt successes are
//! not counted: `fusebox_calls_total` counts every call that did something
//! unusual, and the total (for a success ratio) is your own request counter, the
//! one every service already keeps. With the feature on, the healthy path is the
//! same instructions as with it off (checked by callgrind; see BENCHMARKS.md).
//!
//! # Handles
//!
//! A breaker registers its counters with the installed recorder on its first
//! event (or its first [`export`]) and keeps the handles, so an event costs an
//! increment, not a lookup, and allocates nothing; the registration allocates
//! once per breaker. A budget does the same at its first refusal (or
//! [`export_budget`]). Install the recorder at start-up, before the first
//! event, as the `metrics` crate asks of every library.
//!
//! # Examples
//!
//! ```
//! use fusebox::{Breaker, Verdict};
//!
//! fusebox::metrics::describe(); // units and help texts, once
//! let breaker = Breaker::builder().name("payments").build()?;
//! let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
//! fusebox::metrics::export(&breaker); // gauges from a snapshot, before a scrape
//! # Ok::<(), fusebox::ConfigError>(())
//! ```

use crate::breaker::Breaker;
use crate::event::{DelayReason, Event, EventKind};
use crate::guard::Stop;
use crate::state::State;
use metrics::{Counter, Gauge, Unit};

const ATTEMPTS: &str = "fusebox_attempts_total";
const CALLS: &str = "fusebox_calls_total";
const REJECTIONS: &str = "fusebox_rejections_total";
const RETRIES: &str = "fusebox_retries_total";
const BUDGET_REFUSALS: &str = "fusebox_budget_refusals_total";
const TRANSITIONS: &str = "fusebox_transitions_total";
const STALE: &str = "fusebox_stale_reports_total";
const LEASES: &str = "fusebox_probe_lease_expiries_total";
const SLOW: &str = "fusebox_slow_attempts_total";
const TIMEOUTS: &str = "fusebox_attempt_timeouts_total";
const STATE: &str = "fusebox_state";
const BUDGET_BALANCE: &str = "fusebox_budget_balance";
const HEALTH: &str = "fusebox_health";

const STATES: [State; 5] = [
    State::Closed,
    State::Open,
    State::HalfOpen,
    State::ForcedOpen,
    State::Disabled,
];
const REASONS: [&str; 4] = ["open", "forced_open", "probes_busy", "shed"];

/// Describe every metric (unit and help text) to the installed recorder. Call
/// once, after installing it.
pub fn describe() {
    let counters: [(&'static str, &'static str); 10] = [
        (
            ATTEMPTS,
            "Attempts recorded as failures or ignored (successes are not counted).",
        ),
        (
            CALLS,
            "Guarded calls by stop reason, except first-attempt successes.",
        ),
        (REJECTIONS, "Attempts the breaker refused, by reason."),
        (RETRIES, "Retries scheduled, by what set the delay."),
        (BUDGET_REFUSALS, "Retries the retry budget refused."),
        (TRANSITIONS, "Breaker state changes, by state entered."),
        (
            STALE,
            "Verdicts reported for an epoch the breaker had left.",
        ),
        (LEASES, "Half-open periods restarted by probe-lease expiry."),
        (SLOW, "Attempts slower than the slow-call threshold."),
        (
            TIMEOUTS,
            "Attempts cut by the deadline or the attempt timeout.",
        ),
    ];
    for (name, help) in counters {
        metrics::describe_counter!(name, Unit::Count, help);
    }
    metrics::describe_gauge!(
        STATE,
        "Breaker state: 0 closed, 1 open, 2 half-open, 3 forced-open, 4 disabled."
    );
    metrics::describe_gauge!(
        HEALTH,
        "Breaker health score, 0 to 1 (closed and disabled)."
    );
    metrics::describe_gauge!(
        BUDGET_BALANCE,
        Unit::Count,
        "Retry budget balance, in retries."
    );
}

/// Set `breaker`'s gauges (`fusebox_state`, `fusebox_health`) from a
/// [snapshot](Breaker::snapshot): call before each scrape (or on a timer) so the
/// gauges follow health between events too.
pub fn export(breaker: &Breaker) {
    let snapshot = breaker.snapshot();
    let handles = breaker.metric_handles();
    handles.state.set(state_code(snapshot.state));
    if snapshot.state.measures() {
        if let Some(h) = snapshot.health {
            handles.health.set(h);
        }
    }
}

fn state_code(state: State) -> f64 {
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
    rejections: [Counter; 4],
    retries_backoff: Counter,
    retries_hint: Counter,
    transitions: [Counter; 5],
    stale: Counter,
    leases: Counter,
    slow: Counter,
    timeouts_deadline: Counter,
    timeouts_attempt: Counter,
    state: Gauge,
    health: Gauge,
}

/// One retry budget's registered metric handles.
pub(crate) struct BudgetHandles {
    refusals: Counter,
    balance: Gauge,
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

/// Set the budget's gauge (`fusebox_budget_balance`, in tokens) and register its
/// handles: call before each scrape, as [`export`] for breakers.
///
/// # Examples
///
/// ```
/// let budget = fusebox::RetryBudget::builder().name("payments").build()?;
/// fusebox::metrics::export_budget(&budget);
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub fn export_budget(budget: &crate::RetryBudget) {
    budget.metric_handles().balance.set(budget.balance());
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

/// Move the counters and gauges for `event`.
pub(crate) fn emit(breaker: &Breaker, event: &Event<'_>) {
    let h = breaker.metric_handles();
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
pub(crate) fn verdict(breaker: &Breaker, failure: bool) {
    let h = breaker.metric_handles();
    if failure {
        h.failures.increment(1);
    } else {
        h.ignored.increment(1);
    }
}

fn state_index(state: State) -> usize {
    STATES.iter().position(|&s| s == state).unwrap_or(0)
}
