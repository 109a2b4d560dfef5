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
//! | `fusebox_budget_refusals_total` | `breaker`, `budget` | retries the retry budget refused |
//! | `fusebox_transitions_total` | `breaker`, `to` ([`State::as_str`](crate::State::as_str)) | state changes |
//! | `fusebox_stale_reports_total` | `breaker` | verdicts that arrived for an epoch the breaker had left |
//! | `fusebox_probe_lease_expiries_total` | `breaker` | half-open periods restarted because their probes held their slots past the lease |
//! | `fusebox_slow_attempts_total` | `breaker` | attempts over the slow-call threshold |
//! | `fusebox_attempt_timeouts_total` | `breaker`, `limit` (`deadline`, `attempt_timeout`) | attempts cut by a time limit |
//!
//! and two gauges, set at every event and by [`export`]:
//! `fusebox_state{breaker}` (0 closed, 1 open, 2 half-open, 3 forced-open,
//! 4 disabled) and `fusebox_health{breaker}` (0 to 1; absent outside closed and
//! disabled, where it keeps its last value).
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
//! event and keeps the handles, so an event costs an increment, not a lookup
//! (`fusebox_budget_refusals_total`, labelled by budget, is looked up each time).
//! Install the recorder at start-up, before the first breaker event, as the
//! `metrics` crate asks of every library.
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
        EventKind::BudgetRefused { budget, .. } => metrics::counter!(
            BUDGET_REFUSALS,
            "breaker" => event.name.to_string(),
            "budget" => budget.to_string()
        )
        .increment(1),
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
