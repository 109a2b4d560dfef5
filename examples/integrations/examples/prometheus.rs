//! Feature `metrics`: a guarded client's counters and gauges, rendered as
//! Prometheus text.
//!
//! Run: `cargo run -p fusebox-integrations --example prometheus --features metrics`
//!
//! A downstream fails every third call for a while, then goes down: the breaker
//! retries, trips, rejects, and the exporter shows it all. In a service, serve
//! `handle.render()` on your `/metrics` route (or use the exporter's own HTTP
//! listener) and call `fusebox::metrics::export` for each breaker before
//! rendering, so the gauges are current and the success count exact.
//!
//! The breaker counts its first-attempt successes
//! (`fusebox::metrics::count_successes`), so `fusebox_calls_total` counts every
//! call and the error rate is one line of PromQL:
//!
//! ```text
//! sum by (breaker) (rate(fusebox_calls_total{stop!~"succeeded|ignored"}[5m]))
//!   / sum by (breaker) (rate(fusebox_calls_total[5m]))
//! ```
//!
//! `dashboards/grafana/fusebox.json` in the repository is a Grafana dashboard
//! over these metrics.

use fusebox::{Breaker, Guard, GuardError, Jitter, ManualClock, ManualSleeper, Retry, RetryBudget};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::Arc;
use std::time::Duration;

/// Install the Prometheus recorder (before any breaker event), then describe
/// fusebox's metrics.
pub(crate) fn install() -> PrometheusHandle {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .expect("no other recorder is installed");
    fusebox::metrics::describe();
    handle
}

/// Drive a named guard against a downstream that degrades, then dies.
pub(crate) fn drive() -> (Arc<Breaker>, Arc<RetryBudget>) {
    let clock = ManualClock::new();
    let breaker = Arc::new(
        Breaker::builder()
            .name("inventory")
            .trip_after_consecutive_failures(5)
            .clock(clock.clone())
            .build()
            .expect("valid breaker"),
    );
    // The denominator: first-attempt successes counted too (the recorder is
    // installed first, by `install`).
    fusebox::metrics::count_successes(&breaker);
    let budget = RetryBudget::builder()
        .name("inventory")
        .clock(clock.clone())
        .build()
        .expect("valid budget");
    let retry = Retry::builder()
        .max_attempts(3)
        .constant_backoff(Duration::from_millis(20))
        .jitter(Jitter::None)
        .build()
        .expect("valid retry");
    let budget = Arc::new(budget);
    let guard = Guard::new(Arc::clone(&breaker), retry)
        .with_budget(Arc::clone(&budget))
        .with_sleeper(ManualSleeper::new(clock.clone()));
    for call in 0..200u32 {
        clock.advance(Duration::from_millis(5));
        let down = call >= 150;
        let r: Result<u32, GuardError<&str>> = guard.call(|a| {
            if down || (call % 3 == 0 && a.number == 1) {
                Err("503")
            } else {
                Ok(call)
            }
        });
        let _ = r;
    }
    (breaker, budget)
}

fn main() {
    let handle = install();
    let (breaker, budget) = drive();
    fusebox::metrics::export(&breaker);
    fusebox::metrics::export_budget(&budget);
    print!("{}", handle.render());
}
