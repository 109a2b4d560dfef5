//! The `tracing` feature: every [`Event`] is a `tracing` event, target
//! `"fusebox"`, with structured fields. Transitions are at `INFO`, the rest at
//! `DEBUG`, and rejections (one per refused attempt, a flood in an outage) at
//! `TRACE`. Fields common to all: `breaker` (the name), `at_ms` (breaker clock),
//! `state`, `epoch`, `health`; then the kind's own (`from`, `to`, `open_for_ms`;
//! `reason`, `retry_after_ms`; `attempt`, `delay_ms`, `why`; `budget`; `elapsed_ms`,
//! `threshold_ms`; `limit_ms`, `by_deadline`; `stop`, `attempts`; `permit_epoch`;
//! `expired_epoch`).
//!
//! # What is not measured is left out
//!
//! A field with no value is omitted, never written as a placeholder: `health`
//! only where the breaker measures it (`closed`, `disabled`; so not on a
//! transition into `open` or `half-open`, nor while open), `open_for_ms` only on
//! a transition into `open`, `retry_after_ms` only on a refusal that has one.
//! (They are `Option`s, which `tracing` records only when `Some`.) No field is
//! ever NaN: a log pipeline that parses numbers gets numbers.
//!
//! # Times
//!
//! Every time is a number of milliseconds (`_ms`), a float **rounded down to
//! whole microseconds**: at most three decimals, `at_ms=4.056`, `delay_ms=10.0`.
//! Milliseconds as a number keep the fields' names and type what they were
//! (a pipeline sums and compares them as numbers), and microseconds keep what
//! a slow-call threshold or a short backoff needs below a millisecond. The
//! value is `micros / 1000` computed in one division, which is the double
//! nearest that three-decimal number, so every formatter that writes the
//! shortest round-trip form (`Debug`, `Display`, JSON) writes the three
//! decimals back; `as_secs_f64() * 1e3`, rounded twice, wrote
//! `4.0565310000000006`.

use crate::event::{Event, EventKind};
use std::time::Duration;

/// `d` in milliseconds, rounded down to whole microseconds (see "Times").
fn ms(d: Duration) -> f64 {
    // Exact as a double up to 2^53 microseconds (285 years), so the one
    // rounding is the division's.
    d.as_micros() as f64 / 1e3
}

/// Emit `event` as a `tracing` event (nothing if no subscriber wants it: the
/// macros check the callsite's interest first).
pub(crate) fn emit(event: &Event<'_>) {
    let breaker = event.name;
    let at_ms = ms(event.at);
    let state = event.state.as_str();
    let epoch = event.epoch;
    let health = event.health;
    match event.kind {
        EventKind::Transition(t) => ::tracing::info!(
            target: "fusebox", breaker, at_ms, state, epoch, health,
            from = t.from.as_str(), to = t.to.as_str(),
            open_for_ms = t.open_for.map(ms),
            "breaker {} -> {}", t.from, t.to
        ),
        EventKind::Rejected(r) => ::tracing::trace!(
            target: "fusebox", breaker, at_ms, state, epoch, health,
            reason = r.as_str(), retry_after_ms = r.retry_after().map(ms),
            "attempt rejected"
        ),
        EventKind::StaleReport { permit_epoch } => ::tracing::debug!(
            target: "fusebox", breaker, at_ms, state, epoch, health, permit_epoch,
            "stale report"
        ),
        EventKind::ProbeLeaseExpired { expired_epoch } => ::tracing::debug!(
            target: "fusebox", breaker, at_ms, state, epoch, health, expired_epoch,
            "probe lease expired"
        ),
        EventKind::Retry {
            attempt,
            delay,
            reason,
        } => ::tracing::debug!(
            target: "fusebox", breaker, at_ms, state, epoch, health, attempt,
            delay_ms = ms(delay), why = reason.as_str(),
            "retrying"
        ),
        EventKind::BudgetRefused { budget, attempts } => ::tracing::debug!(
            target: "fusebox", breaker, at_ms, state, epoch, health, budget, attempts,
            reason = "budget_exhausted",
            "retry budget refused"
        ),
        EventKind::SlowAttempt { elapsed, threshold } => ::tracing::debug!(
            target: "fusebox", breaker, at_ms, state, epoch, health,
            elapsed_ms = ms(elapsed), threshold_ms = ms(threshold),
            "slow attempt"
        ),
        EventKind::AttemptTimedOut {
            attempt,
            limit,
            by_deadline,
        } => ::tracing::debug!(
            target: "fusebox", breaker, at_ms, state, epoch, health, attempt,
            limit_ms = ms(limit), by_deadline,
            "attempt timed out"
        ),
        EventKind::Hedge { attempt, delay } => ::tracing::debug!(
            target: "fusebox", breaker, at_ms, state, epoch, health, attempt,
            delay_ms = ms(delay),
            "hedge sent"
        ),
        EventKind::HedgesSettled {
            sent,
            won,
            cancelled,
        } => ::tracing::debug!(
            target: "fusebox", breaker, at_ms, state, epoch, health, sent, won, cancelled,
            "hedges settled"
        ),
        EventKind::CallStopped { stop, attempts } => ::tracing::debug!(
            target: "fusebox", breaker, at_ms, state, epoch, health,
            reason = stop.as_str(), attempts,
            "call stopped"
        ),
    }
}
