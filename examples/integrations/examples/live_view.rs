//! A live view of every breaker: a registry of breakers (one per downstream)
//! under simulated traffic, served on 127.0.0.1 as JSON and as a small
//! self-contained HTML page (states, health, recent events).
//!
//! Run, from the repository root,
//! `cargo run -p fusebox-integrations --example live_view --features registry,tokio`,
//! then open the printed address. Three downstreams behave differently: `catalog`
//! is healthy, `payments` fails the first attempt of a third of its calls (the
//! retries answer), and `search` goes down for 8 seconds in every 20 and comes back.
//!
//! - `GET /` the page (it polls the two JSON routes twice a second);
//! - `GET /api/breakers` every breaker's snapshot: `name`, `state`, `epoch`,
//!   `health`, `samples`, `probes_in_flight`, `open_until_ms`;
//! - `GET /api/events` the last 200 events, newest last.
//!
//! An example, not a library feature: the page and the JSON are this file's.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fusebox::{Breaker, Event, EventKind, GuardError, Listener, Registry, Stop, TokioSleeper};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The downstreams, and how each behaves.
pub(crate) const HOSTS: [&str; 3] = ["catalog", "payments", "search"];

/// The last events, newest last, formatted as JSON objects.
#[derive(Default)]
pub(crate) struct Recent {
    lines: Mutex<VecDeque<serde_json::Value>>,
}

const KEEP: usize = 200;

impl Listener for Recent {
    fn on_event(&self, e: &Event<'_>) {
        // Rejections (and the calls they stop) are the flood of an outage: keep
        // the rest.
        if matches!(
            e.kind,
            EventKind::Rejected(_)
                | EventKind::CallStopped {
                    stop: Stop::Rejected,
                    ..
                }
        ) {
            return;
        }
        let detail = match e.kind {
            EventKind::Transition(t) => format!("{} -> {}", t.from, t.to),
            EventKind::Retry {
                attempt,
                delay,
                reason,
            } => {
                format!("attempt {attempt} after {delay:?} ({reason})")
            }
            EventKind::CallStopped { stop, attempts } => format!("{stop} after {attempts}"),
            EventKind::BudgetRefused { attempts, .. } => format!("after {attempts} attempts"),
            EventKind::AttemptTimedOut { limit, .. } => format!("cut at {limit:?}"),
            EventKind::SlowAttempt { elapsed, .. } => format!("{elapsed:?}"),
            EventKind::StaleReport { permit_epoch } => format!("permit epoch {permit_epoch}"),
            EventKind::ProbeLeaseExpired { expired_epoch } => format!("epoch {expired_epoch}"),
            _ => String::new(),
        };
        let line = serde_json::json!({
            "breaker": e.name,
            "at_ms": e.at.as_millis() as u64,
            "kind": e.kind.as_str(),
            "state": e.state.as_str(),
            "detail": detail,
        });
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == KEEP {
            lines.pop_front();
        }
        lines.push_back(line);
    }
}

/// The registry: one named breaker (and budget) per host, all telling `recent`.
pub(crate) fn registry(recent: Arc<Recent>) -> Registry<String> {
    let listener: Arc<dyn Listener> = recent;
    Registry::<String>::builder()
        .breaker(move |host: Option<&String>| {
            Breaker::builder()
                .name(host.map_or("(overflow)", String::as_str))
                .trip_on_failure_rate(0.5, 20)
                .open_for(Duration::from_secs(1))
                .shared_listener(Arc::clone(&listener))
        })
        .budget(|_| fusebox::RetryBudget::builder())
        .build()
        .expect("a valid template")
}

/// What `host` answers to attempt `attempt` of its `n`-th call, `t` into a
/// cycle of `period`: `payments` fails the first attempt of every third call
/// (its retries succeed), `search` is down for the last 40 % of every period.
fn answer(
    host: &str,
    n: u64,
    attempt: u32,
    t: Duration,
    period: Duration,
) -> Result<(), &'static str> {
    let phase = t.as_secs_f64() % period.as_secs_f64();
    match host {
        "payments" if n.is_multiple_of(3) && attempt == 1 => Err("payment gateway timeout"),
        "search" if phase >= 0.6 * period.as_secs_f64() => Err("search index unavailable"),
        _ => Ok(()),
    }
}

/// Simulated clients: each host gets about 40 calls a second through its guard,
/// for `run_for`; `search`'s outages repeat every `period`.
pub(crate) async fn traffic(registry: Arc<Registry<String>>, run_for: Duration, period: Duration) {
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for host in HOSTS {
        let registry = Arc::clone(&registry);
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while start.elapsed() < run_for {
                n += 1;
                let t = start.elapsed();
                let guard = registry.guard(host).with_sleeper(TokioSleeper);
                let r: Result<(), GuardError<&str>> = guard
                    .call_async(|a| async move {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        answer(host, n, a.number, t, period)
                    })
                    .await;
                let _ = r;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

fn json(value: serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// The routes: the page and its two JSON sources.
pub(crate) fn app(registry: Arc<Registry<String>>, recent: Arc<Recent>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE) }),
        )
        .route(
            "/api/breakers",
            get(move || {
                let registry = Arc::clone(&registry);
                async move {
                    let mut rows: Vec<_> = registry
                        .snapshots()
                        .into_iter()
                        .map(|(host, s)| {
                            serde_json::json!({
                                "name": host,
                                "state": s.state.as_str(),
                                "epoch": s.epoch,
                                "health": s.health,
                                "samples": s.samples,
                                "probes_in_flight": s.probes_in_flight,
                                "open_until_ms": s.open_until.map(|d| d.as_millis() as u64),
                            })
                        })
                        .collect();
                    rows.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
                    json(serde_json::Value::Array(rows))
                }
            }),
        )
        .route(
            "/api/events",
            get(move || {
                let recent = Arc::clone(&recent);
                async move {
                    let lines = recent.lines.lock().unwrap_or_else(|p| p.into_inner());
                    json(serde_json::Value::Array(lines.iter().cloned().collect()))
                }
            }),
        )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let recent = Arc::new(Recent::default());
    let registry = Arc::new(registry(Arc::clone(&recent)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local address");
    println!("live view on http://{addr}/ (Ctrl-C to stop)");
    tokio::spawn(traffic(
        Arc::clone(&registry),
        Duration::from_secs(3600),
        Duration::from_secs(20),
    ));
    axum::serve(listener, app(registry, recent))
        .await
        .expect("serve");
}

/// The page: no external assets, polls the JSON twice a second.
const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fusebox: live breakers</title>
<style>
 body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
 h1 { font-size: 1.3em; }
 .cards { display: flex; gap: 1em; flex-wrap: wrap; }
 .card { border: 1px solid #ccc; border-radius: 6px; padding: .8em 1em; width: 15em; }
 .name { font-weight: 600; font-size: 1.1em; }
 .state { display: inline-block; padding: 0 .5em; border-radius: 3px; color: #fff; }
 .closed { background: #2a8a3e; } .open { background: #c0392b; }
 .half-open { background: #d68910; } .forced-open { background: #7b241c; }
 .disabled { background: #777; }
 .bar { height: 8px; background: #eee; border-radius: 4px; margin: .4em 0; }
 .bar > div { height: 8px; border-radius: 4px; background: #2a8a3e; }
 table { border-collapse: collapse; margin-top: 1.5em; font-size: 12px; }
 td, th { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: left; }
</style></head>
<body><h1>fusebox: live breakers</h1>
<div class="cards" id="cards"></div>
<table><thead><tr><th>at (ms)</th><th>breaker</th><th>event</th><th>detail</th><th>state</th></tr></thead>
<tbody id="events"></tbody></table>
<script>
async function refresh() {
  try {
    const breakers = await (await fetch('/api/breakers')).json();
    document.getElementById('cards').innerHTML = breakers.map(b => {
      const h = b.health === null ? null : Math.round(b.health * 100);
      return `<div class="card"><div class="name">${b.name}</div>
        <span class="state ${b.state}">${b.state}</span> epoch ${b.epoch}
        <div class="bar"><div style="width:${h ?? 0}%"></div></div>
        health ${h === null ? '-' : h + '%'} · samples ${b.samples} · probes ${b.probes_in_flight}
        ${b.open_until_ms === null ? '' : '<br>open until ' + b.open_until_ms + ' ms'}</div>`;
    }).join('');
    const events = await (await fetch('/api/events')).json();
    document.getElementById('events').innerHTML = events.slice(-25).reverse().map(e =>
      `<tr><td>${e.at_ms}</td><td>${e.breaker}</td><td>${e.kind}</td><td>${e.detail}</td><td>${e.state}</td></tr>`
    ).join('');
  } catch (err) { /* the server went away: keep the last view */ }
}
refresh(); setInterval(refresh, 500);
</script></body></html>
"#;
