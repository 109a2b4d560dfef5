//! The `metrics` feature: counters and gauges per named breaker, through the
//! [`metrics`](https://docs.rs/metrics) facade (so any exporter: Prometheus,
//! StatsD, OpenTelemetry).
//!
//! Every [`Event`](crate::Event) a breaker tells also moves a counter, labelled with the
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
use crate::observe::metrics::{
    ATTEMPTS, BUDGET_BALANCE, BUDGET_REFUSALS, CALLS, HEALTH, LEASES, REJECTIONS, RETRIES, SLOW,
    STALE, STATE, TIMEOUTS, TRANSITIONS, state_code,
};
use metrics::Unit;

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
    let handles = breaker.observers().metric_handles();
    handles.state.set(state_code(snapshot.state));
    if snapshot.state.measures() {
        if let Some(h) = snapshot.health {
            handles.health.set(h);
        }
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
