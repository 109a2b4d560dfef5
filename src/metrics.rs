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
//! | `fusebox_calls_total` | `breaker`, `stop` ([`Stop::as_str`](crate::Stop::as_str)) | guarded calls by stop reason, **except first-attempt successes** unless the breaker [counts them](count_successes) (see below) |
//! | `fusebox_rejections_total` | `breaker`, `reason` ([`Rejected::as_str`](crate::Rejected::as_str)) | attempts the breaker refused |
//! | `fusebox_retries_total` | `breaker`, `why` (`backoff`, `server_hint`) | retries scheduled |
//! | `fusebox_budget_refusals_total` | `budget` | retries the retry budget (named by [`RetryBudgetBuilder::name`](crate::RetryBudgetBuilder::name)) refused |
//! | `fusebox_transitions_total` | `breaker`, `to` ([`State::as_str`](crate::State::as_str)) | state changes |
//! | `fusebox_stale_reports_total` | `breaker` | verdicts that arrived for an epoch the breaker had left |
//! | `fusebox_probe_lease_expiries_total` | `breaker` | half-open periods restarted because their probes held their slots past the lease |
//! | `fusebox_slow_attempts_total` | `breaker` | attempts over the slow-call threshold |
//! | `fusebox_attempt_timeouts_total` | `breaker`, `limit` (`deadline`, `attempt_timeout`) | attempts cut by a time limit |
//! | `fusebox_hedges_total` | `breaker`, `outcome` (`sent`, `won`, `cancelled`) | hedges sent by [hedging](crate::Guard::with_hedging) async calls, calls a hedge won, and attempts dropped in flight when a hedged call ended or was dropped |
//!
//! and gauges: `fusebox_state{breaker}` (0 closed, 1 open, 2 half-open,
//! 3 forced-open, 4 disabled), `fusebox_health{breaker}` (see below) and
//! `fusebox_successes_counted{breaker}` (1 if the breaker counts first-attempt
//! successes, else 0), set at every event and by [`export`];
//! `fusebox_budget_balance{budget}` (tokens), set by [`export_budget`].
//! [`NAMES`] lists them all.
//!
//! `fusebox_health` is the health score (0 to 1) while the breaker measures it,
//! in `closed` and `disabled`, and **0 while it does not**: `open`,
//! `forced-open` and `half-open`, where the breaker trusts no traffic but its
//! probes. It is set on every transition (an event), so it falls to 0 when the
//! breaker opens and takes the measured value again when it closes; it never
//! keeps a stale value, and is never NaN.
//!
//! # The denominator: counting successes
//!
//! A call whose first attempt succeeds at full health is one load to admit and
//! one load and compare to record; counting it is a write on every call, the
//! cost the breaker is built to avoid. So by default first-attempt successes are
//! not counted: `fusebox_calls_total` counts every call that did something
//! unusual (a retry, a failure, a refusal), and the healthy path writes
//! nothing.
//!
//! [`count_successes`] (one breaker) or [`count_successes_by_default`] (every
//! breaker built afterwards, a registry's included) turns the count on: every
//! guarded call ([`Guard`](crate::Guard), its async calls and the tower layers)
//! whose first attempt succeeds adds one to
//! `fusebox_calls_total{stop="succeeded"}`, so that **`fusebox_calls_total`
//! counts every call**, once, by why it stopped, and
//! `fusebox_successes_counted` is 1. (Raw permits, `try_acquire` and `record`,
//! are attempts, not calls: they are not counted.) The count is kept per thread,
//! on stripes of its own (a cache line each), and added to the counter in
//! batches of 128 and by [`export`], so a scrape after an `export` is exact,
//! and without exports the counter lags by at most 127 calls a stripe. What
//! it costs: [below](#what-counting-costs).
//!
//! With the count on, the queries every dashboard starts with are one line
//! each. The error rate, the share of calls that failed (every stop but
//! `succeeded` and `ignored`: the classifier's "not a health signal", a 404
//! say):
//!
//! ```text
//! sum by (breaker) (rate(fusebox_calls_total{stop!~"succeeded|ignored"}[5m]))
//!   / sum by (breaker) (rate(fusebox_calls_total[5m]))
//! ```
//!
//! The rejection rate, the share of calls the breaker refused (up front, or a
//! retry mid-call):
//!
//! ```text
//! sum by (breaker) (rate(fusebox_calls_total{stop=~"rejected|rejected_mid_call"}[5m]))
//!   / sum by (breaker) (rate(fusebox_calls_total[5m]))
//! ```
//!
//! and refused attempts per second by reason,
//! `sum by (breaker, reason) (rate(fusebox_rejections_total[5m]))`. The `sum by
//! (breaker)` adds up every process of a fleet scraped by one Prometheus. Where
//! some processes might not count successes, append
//! `and on (breaker) min by (breaker) (fusebox_successes_counted) == 1`, so a
//! ratio over an incomplete denominator shows as no data rather than as a
//! wrong number (the Grafana dashboard, `dashboards/grafana/fusebox.json` in the
//! repository, does).
//!
//! ## What counting costs
//!
//! **Off** (the default), nothing measurable. Without the `metrics` feature
//! the code is what it was. With it, `Guard::call` checks one flag of the
//! breaker, "timed or counting", where it checked "timed" before, so its
//! healthy path is the same length (callgrind, `scripts/instructions.sh guard`:
//! 92.8 instructions a call without the feature, 92.9 with it), and the race
//! bench's `guard/fusebox` is within the noise of the build before counting
//! existed. (The tower layer's first attempt and `call_async`'s lean one check
//! after the success: one load and a branch.)
//!
//! **On**, a success is one uncontended atomic add on the thread's stripe,
//! in a copy of the call's loop: on the race bench (`benches/race.rs`,
//! `--features metrics`, one run, medians, a 2-core machine),
//! `guard/fusebox-counted` took 15.7 ns against `guard/fusebox`'s 8.3 ns on one
//! thread (1.9×) and 16.2 ns against 8.2 ns on two (2.0×): it stays flat as
//! threads are added. One shared counter incremented by every call, the design
//! not chosen (`guard/fusebox-counted-shared`), is as cheap alone (14.0 ns,
//! 1.7×) and ten times the call on two threads (80.8 ns, 9.8×): every add
//! moves its cache line from one core to the other.
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
use crate::observe::COUNT_SUCCESSES_BY_DEFAULT;
use crate::observe::metrics::{
    ATTEMPTS, BUDGET_BALANCE, BUDGET_REFUSALS, CALLS, HEALTH, HEDGES, LEASES, REJECTIONS, RETRIES,
    SLOW, STALE, STATE, SUCCESSES_COUNTED, TIMEOUTS, TRANSITIONS, health_value, state_code,
};
use metrics::Unit;

/// A metric's kind and unit, for its description.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge(Option<Unit>),
}

/// Every metric fusebox exports: name, kind, help text. [`describe`] tells
/// them to the recorder; [`NAMES`] is its first column.
const DESCRIPTIONS: [(&str, Kind, &str); 15] = [
    (
        ATTEMPTS,
        Kind::Counter,
        "Attempts recorded as failures or ignored (successes are not counted).",
    ),
    (
        CALLS,
        Kind::Counter,
        "Guarded calls by stop reason; first-attempt successes only where counted \
         (fusebox_successes_counted is 1).",
    ),
    (
        REJECTIONS,
        Kind::Counter,
        "Attempts the breaker refused, by reason.",
    ),
    (
        RETRIES,
        Kind::Counter,
        "Retries scheduled, by what set the delay.",
    ),
    (
        BUDGET_REFUSALS,
        Kind::Counter,
        "Retries the retry budget refused.",
    ),
    (
        TRANSITIONS,
        Kind::Counter,
        "Breaker state changes, by state entered.",
    ),
    (
        STALE,
        Kind::Counter,
        "Verdicts reported for an epoch the breaker had left.",
    ),
    (
        LEASES,
        Kind::Counter,
        "Half-open periods restarted by probe-lease expiry.",
    ),
    (
        SLOW,
        Kind::Counter,
        "Attempts slower than the slow-call threshold.",
    ),
    (
        TIMEOUTS,
        Kind::Counter,
        "Attempts cut by the deadline or the attempt timeout.",
    ),
    (
        HEDGES,
        Kind::Counter,
        "Hedged attempts: sent, calls a hedge won, and attempts cancelled in flight \
         when a hedged call ended.",
    ),
    (
        STATE,
        Kind::Gauge(None),
        "Breaker state: 0 closed, 1 open, 2 half-open, 3 forced-open, 4 disabled.",
    ),
    (
        HEALTH,
        Kind::Gauge(None),
        "Breaker health score, 0 to 1, while measured (closed, disabled); 0 while \
         open, forced-open or half-open.",
    ),
    (
        SUCCESSES_COUNTED,
        Kind::Gauge(None),
        "1 if first-attempt successes are counted in fusebox_calls_total (so it \
         counts every call), else 0.",
    ),
    (
        BUDGET_BALANCE,
        Kind::Gauge(Some(Unit::Count)),
        "Retry budget balance, in retries.",
    ),
];

/// The name of every metric fusebox exports, counters and gauges (the
/// tables in the [module documentation](self)): for a dashboard's or an alert
/// rule's check that the names it queries exist.
///
/// # Examples
///
/// ```
/// assert!(fusebox::metrics::NAMES.contains(&"fusebox_calls_total"));
/// assert!(fusebox::metrics::NAMES.iter().all(|name| name.starts_with("fusebox_")));
/// ```
pub const NAMES: [&str; DESCRIPTIONS.len()] = {
    let mut names = [""; DESCRIPTIONS.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = DESCRIPTIONS[i].0;
        i += 1;
    }
    names
};

/// Describe every metric (unit and help text) to the installed recorder. Call
/// once, after installing it.
pub fn describe() {
    for (name, kind, help) in DESCRIPTIONS {
        match kind {
            Kind::Counter => metrics::describe_counter!(name, Unit::Count, help),
            Kind::Gauge(Some(unit)) => metrics::describe_gauge!(name, unit, help),
            Kind::Gauge(None) => metrics::describe_gauge!(name, help),
        }
    }
}

/// Set `breaker`'s gauges (`fusebox_state`, `fusebox_health`) from a
/// [snapshot](Breaker::snapshot), and add the first-attempt successes counted
/// since the last export to `fusebox_calls_total` (see
/// [`count_successes`]): call before each scrape (or on a timer) so the gauges
/// follow health between events too, and the counters are exact.
pub fn export(breaker: &Breaker) {
    let snapshot = breaker.snapshot();
    let observers = breaker.observers();
    observers.flush_successes();
    let handles = observers.metric_handles();
    handles.state.set(state_code(snapshot.state));
    // A snapshot has health in `Open` too (the health it tripped at): the gauge
    // does not (see the module docs).
    let measured = snapshot.health.filter(|_| snapshot.state.measures());
    handles.health.set(health_value(measured));
}

/// Count the first-attempt successes of guarded calls over `breaker` from now
/// on, so that `fusebox_calls_total` counts every call (see [the
/// denominator](self#the-denominator-counting-successes)), and set
/// `fusebox_successes_counted{breaker}` to 1. Idempotent; there is no way
/// back. Registers the breaker's handles, so install the recorder first.
///
/// Allocates once, a cache line per stripe (one stripe per core, rounded up to
/// a power of two, at most 16).
///
/// # Examples
///
/// ```
/// use fusebox::{Breaker, Guard, GuardError, Retry};
/// use std::sync::Arc;
///
/// let breaker = Arc::new(Breaker::builder().name("payments").build()?);
/// fusebox::metrics::count_successes(&breaker);
/// let guard = Guard::new(Arc::clone(&breaker), Retry::builder().build()?);
/// let r: Result<u32, GuardError<()>> = guard.call(|_| Ok(7));
/// assert_eq!(r, Ok(7)); // fusebox_calls_total{breaker="payments",stop="succeeded"}: 1
/// fusebox::metrics::export(&breaker); // before a scrape: the count is exact
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub fn count_successes(breaker: &Breaker) {
    breaker.count_successes();
}

/// Whether breakers built from now on count their first-attempt successes, as
/// if [`count_successes`] were called on each (the breakers a `Registry`
/// makes per key, say, which the caller never sees built). Breakers built before keep their setting. Call at start-up,
/// after installing the recorder: each breaker registers its handles, and sets
/// `fusebox_successes_counted`, at its first event or export.
///
/// # Examples
///
/// ```
/// use fusebox::Breaker;
///
/// fusebox::metrics::count_successes_by_default(true);
/// let counted = Breaker::builder().name("inventory").build()?;
/// fusebox::metrics::count_successes_by_default(false);
/// fusebox::metrics::export(&counted); // fusebox_successes_counted{breaker="inventory"}: 1
/// # Ok::<(), fusebox::ConfigError>(())
/// ```
pub fn count_successes_by_default(on: bool) {
    // Relaxed: a setting, read once per breaker built; it orders nothing else.
    COUNT_SUCCESSES_BY_DEFAULT.store(on, std::sync::atomic::Ordering::Relaxed);
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
