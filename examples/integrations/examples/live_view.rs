//! A live view of every breaker: a registry of breakers (one per downstream)
//! under simulated traffic, served as JSON and as a small self-contained HTML
//! page that draws, per breaker, a timeline of its state and health over the
//! last minutes, lists its transitions ("what happened") and counts its routine
//! events (retries, rejections) per interval instead of listing them.
//!
//! Run, from the repository root,
//! `cargo run -p fusebox-integrations --example live_view --features registry,tokio`,
//! then open the printed address. It listens on `127.0.0.1` on a port the system
//! picks; to choose, pass an address (`... --features registry,tokio -- 127.0.0.1:8080`)
//! or set `LIVE_VIEW_ADDR`.
//!
//! The simulated downstreams, each called about 40 times a second:
//!
//! - `catalog` is healthy;
//! - `payments` fails the first attempt of every third call; the retry answers;
//! - `search` is down for 8 seconds in every 20, from 4 s to 12 s into each
//!   cycle (so 4–12 s, 24–32 s, ... after start): the first outage, its trip, the
//!   failed probes and the recovery all happen within about 20 s of start.
//!
//! Routes:
//!
//! - `GET /` the page (it polls `/api/timeline` twice a second);
//! - `GET /api/timeline` (optionally `?since_ms=T`) per breaker: the current
//!   snapshot, the timeline ring (one sample every 250 ms, the last 5 minutes:
//!   `t_ms`, the worst `state` of the interval, `health`, and the interval's
//!   counts `retries`, `retry_wait_ms`, `recovered`, `failed`, `rejected`,
//!   `other`), only the samples after `T` when given, its transitions, and the
//!   counts' totals; times are milliseconds since the server started (`now_ms`),
//!   and `started_unix_ms` anchors them to the wall clock;
//! - `GET /api/breakers` every breaker's snapshot: `name`, `state`, `epoch`,
//!   `health`, `samples`, `probes_in_flight`, `open_until_ms`;
//! - `GET /api/events` every breaker's transitions, newest last.
//!
//! An example, not a library feature: the page and the JSON are this file's.

use axum::Router;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fusebox::{
    Breaker, Event, EventKind, GuardError, Listener, Registry, State, Stop, TokioSleeper,
};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// The downstreams, and how each behaves.
pub(crate) const HOSTS: [&str; 3] = ["catalog", "payments", "search"];

/// The breakers trip when more than this share of recent attempts fail.
const TRIP_RATE: f64 = 0.5;

/// How often the server samples every breaker (the timeline's resolution).
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// How far back the timeline reaches.
pub(crate) const KEEP_FOR: Duration = Duration::from_secs(300);

/// Transitions kept per breaker. A flapping breaker makes about 8 per outage,
/// so this covers the timeline's minutes; the page shows the newest few.
const KEEP_TRANSITIONS: usize = 128;

/// Lock a mutex, recovering the data if a holder panicked (every critical
/// section here leaves its data consistent).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A state's rank, worst highest: a sample shows the worst state of its
/// interval, so that an open or half-open spell shorter than the interval still
/// shows on the timeline. 0 means "no transition in this interval".
fn rank(state: State) -> u8 {
    match state {
        State::Closed => 1,
        State::Disabled => 2,
        State::HalfOpen => 3,
        State::Open => 4,
        State::ForcedOpen => 5,
        // `State` is non-exhaustive: a state added later ranks as the worst
        // known, which is what an operator should notice.
        _ => 5,
    }
}

/// The state of `rank`'s rank.
fn ranked(rank: u8) -> State {
    match rank {
        0 | 1 => State::Closed,
        2 => State::Disabled,
        3 => State::HalfOpen,
        4 => State::Open,
        _ => State::ForcedOpen,
    }
}

/// A duration as an operator reads it: "0.4 ms", "250 ms", "1.2 s", "12 s",
/// "2 min 5 s", "1 h 3 min". The page formats its times the same way.
pub(crate) fn human(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    // Whole seconds, rounded as the shorter forms round.
    let s = d.as_secs_f64().round() as u64;
    if ms < 1.0 {
        format!("{ms:.1} ms")
    } else if ms < 999.5 {
        format!("{ms:.0} ms")
    } else if ms < 9_950.0 {
        format!("{:.1} s", ms / 1e3)
    } else if ms < 59_500.0 {
        format!("{:.0} s", ms / 1e3)
    } else if s < 3600 {
        match (s / 60, s % 60) {
            (m, 0) => format!("{m} min"),
            (m, r) => format!("{m} min {r} s"),
        }
    } else {
        match (s / 3600, s % 3600 / 60) {
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        }
    }
}

/// Counts of one interval (or a total): the routine events, tallied rather
/// than listed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Counts {
    /// Retries scheduled.
    pub(crate) retries: u64,
    /// Their delays added up, in microseconds.
    pub(crate) retry_wait_us: u64,
    /// Calls that succeeded after a retry.
    pub(crate) recovered: u64,
    /// Calls that ended in an error after reaching the downstream (attempts
    /// exhausted, budget or deadline spent, refused mid-call, a permanent error).
    pub(crate) failed: u64,
    /// Attempts the breaker refused (the calls they stop are not counted again).
    pub(crate) rejected: u64,
    /// The rest: stale reports, budget refusals, probe-lease expiries, slow and
    /// timed-out attempts, ignored results.
    pub(crate) other: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.retries += o.retries;
        self.retry_wait_us += o.retry_wait_us;
        self.recovered += o.recovered;
        self.failed += o.failed;
        self.rejected += o.rejected;
        self.other += o.other;
    }

    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "retries": self.retries,
            "retry_wait_ms": (self.retry_wait_us as f64 / 100.0).round() / 10.0,
            "recovered": self.recovered,
            "failed": self.failed,
            "rejected": self.rejected,
            "other": self.other,
        })
    }
}

/// The counts of the interval under way, bumped by the listener on the request
/// path (so atomics, not a lock a rejection storm would queue on) and taken by
/// the sampler.
#[derive(Default)]
struct Tally {
    retries: AtomicU64,
    retry_wait_us: AtomicU64,
    recovered: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
    other: AtomicU64,
    /// The worst state entered in this interval (`rank`), 0 for none.
    worst: AtomicU8,
}

/// Relaxed everywhere in `Tally`: each counter is a tally on its own, and
/// nothing else is published through it. The sampler's `swap` is a
/// read-modify-write, so it takes every increment exactly once: none is lost or
/// counted twice, and one landing in the neighbouring interval is harmless.
const TALLY: Ordering = Ordering::Relaxed;

impl Tally {
    fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, TALLY);
    }

    /// The interval's counts, and zeroes for the next.
    fn take(&self) -> Counts {
        Counts {
            retries: self.retries.swap(0, TALLY),
            retry_wait_us: self.retry_wait_us.swap(0, TALLY),
            recovered: self.recovered.swap(0, TALLY),
            failed: self.failed.swap(0, TALLY),
            rejected: self.rejected.swap(0, TALLY),
            other: self.other.swap(0, TALLY),
        }
    }
}

/// One point of a breaker's timeline.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    /// When, since the server started.
    pub(crate) t: Duration,
    /// The worst state of the interval ending at `t`.
    pub(crate) state: State,
    /// Health at `t` (see `BreakerSnapshot::health`).
    pub(crate) health: Option<f64>,
    /// What was counted in the interval.
    pub(crate) counts: Counts,
}

/// One line of a breaker's "what happened" log.
#[derive(Clone, Debug)]
pub(crate) struct Happened {
    /// When, since the server started.
    pub(crate) at: Duration,
    pub(crate) from: State,
    pub(crate) to: State,
    pub(crate) epoch: u32,
    /// For a transition into `Open`: how long it stays open.
    pub(crate) open_for: Option<Duration>,
    /// What it means, in words.
    pub(crate) detail: String,
}

/// A transition in words, for the log.
fn explain(from: State, to: State, open_for: Option<Duration>) -> String {
    let open = open_for.map_or_else(String::new, |d| format!("; open for {}", human(d)));
    match (from, to) {
        (State::Closed, State::Open) => {
            format!("tripped: over {:.0} % failing{open}", TRIP_RATE * 100.0)
        }
        (State::HalfOpen, State::Open) => format!("probe failed{open}"),
        (State::Open, State::HalfOpen) => "open period over: probing".into(),
        (State::HalfOpen, State::HalfOpen) => "probe lease expired: probing afresh".into(),
        (State::HalfOpen, State::Closed) => "probes succeeded: recovered".into(),
        (_, State::ForcedOpen) => "forced open by an operator".into(),
        (_, State::Disabled) => "disabled by an operator (never trips)".into(),
        (State::ForcedOpen | State::Disabled, State::Closed) => "reset by an operator".into(),
        _ => format!("{from} -> {to}{open}"),
    }
}

/// One breaker's history: its listener (counts and transitions) and, filled
/// by the sampler, its timeline.
pub(crate) struct Track {
    start: Instant,
    capacity: usize,
    tally: Tally,
    /// Transitions, newest last. Locked by the listener only on a transition
    /// (a handful per outage), never for the routine events.
    happened: Mutex<VecDeque<Happened>>,
    /// The samples, newest last, and the totals of every sample taken.
    timeline: Mutex<(VecDeque<Sample>, Counts)>,
}

impl Listener for Track {
    fn on_event(&self, e: &Event<'_>) {
        let t = &self.tally;
        match e.kind {
            EventKind::Transition(tr) => {
                t.worst.fetch_max(rank(tr.to), TALLY);
                let line = Happened {
                    at: self.start.elapsed(),
                    from: tr.from,
                    to: tr.to,
                    epoch: tr.epoch,
                    open_for: tr.open_for,
                    detail: explain(tr.from, tr.to, tr.open_for),
                };
                let mut log = lock(&self.happened);
                if log.len() == KEEP_TRANSITIONS {
                    log.pop_front();
                }
                log.push_back(line);
            }
            EventKind::Retry { delay, .. } => {
                Tally::bump(&t.retries, 1);
                Tally::bump(
                    &t.retry_wait_us,
                    u64::try_from(delay.as_micros()).unwrap_or(u64::MAX),
                );
            }
            EventKind::Rejected(_) => Tally::bump(&t.rejected, 1),
            EventKind::CallStopped { stop, .. } => match stop {
                Stop::Succeeded => Tally::bump(&t.recovered, 1),
                // The rejection itself was counted.
                Stop::Rejected => {}
                Stop::Ignored => Tally::bump(&t.other, 1),
                _ => Tally::bump(&t.failed, 1),
            },
            _ => Tally::bump(&t.other, 1),
        }
    }
}

impl Track {
    /// The samples after `since` (all of them for `None`) and the totals.
    /// Compared in whole milliseconds, as the JSON gives them: the sample a
    /// client last saw as `t_ms` is not sent again.
    pub(crate) fn samples_after(&self, since: Option<Duration>) -> (Vec<Sample>, Counts) {
        let timeline = lock(&self.timeline);
        let samples = timeline
            .0
            .iter()
            .filter(|s| since.is_none_or(|since| ms(s.t) > ms(since)))
            .copied()
            .collect();
        (samples, timeline.1)
    }

    /// The transitions, newest last.
    pub(crate) fn happened(&self) -> Vec<Happened> {
        lock(&self.happened).iter().cloned().collect()
    }
}

/// Every breaker's history, by name: what the listeners count and the sampler
/// records.
pub(crate) struct History {
    start: Instant,
    every: Duration,
    started_at: SystemTime,
    capacity: usize,
    tracks: Mutex<BTreeMap<String, Arc<Track>>>,
}

impl History {
    /// A history keeping `keep_for` of samples taken every `every` (the
    /// sampler's period, which the caller then uses).
    pub(crate) fn new(every: Duration, keep_for: Duration) -> History {
        let every = every.max(Duration::from_millis(1));
        History {
            start: Instant::now(),
            every,
            started_at: SystemTime::now(),
            capacity: (keep_for.as_nanos() / every.as_nanos()).max(1) as usize,
            tracks: Mutex::new(BTreeMap::new()),
        }
    }

    /// Time since the history began (the timeline's clock).
    pub(crate) fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// The track of `name`, made on first use. A breaker the registry makes
    /// again (after idle eviction) continues its name's history.
    pub(crate) fn track(&self, name: &str) -> Arc<Track> {
        let mut tracks = lock(&self.tracks);
        Arc::clone(tracks.entry(name.to_string()).or_insert_with(|| {
            Arc::new(Track {
                start: self.start,
                capacity: self.capacity,
                tally: Tally::default(),
                happened: Mutex::new(VecDeque::new()),
                timeline: Mutex::new((VecDeque::new(), Counts::default())),
            })
        }))
    }

    /// Take one sample of every breaker in `registry`: its snapshot, and the
    /// counts and worst state since the last sample.
    pub(crate) fn sample(&self, registry: &Registry<String>) {
        let t = self.now();
        registry.for_each(|name, entry| {
            let track = self.track(name);
            let snapshot = entry.breaker().snapshot();
            let counts = track.tally.take();
            let entered = track.tally.worst.swap(0, TALLY);
            let mut timeline = lock(&track.timeline);
            // At least a millisecond after the last sample, as the JSON gives
            // times: a client that saw a sample as `t_ms` is sent only later
            // ones (`samples_after`), so a second sample in the same
            // millisecond (a last one taken right after the sampler's) would
            // never reach it.
            let t = match timeline.0.back() {
                Some(last) if ms(last.t) >= ms(t) => Duration::from_millis(ms(last.t) + 1),
                _ => t,
            };
            let sample = Sample {
                t,
                state: ranked(rank(snapshot.state).max(entered)),
                health: snapshot.health,
                counts,
            };
            if timeline.0.len() == track.capacity {
                timeline.0.pop_front();
            }
            timeline.0.push_back(sample);
            timeline.1.add(&counts);
        });
    }
}

/// Sample every breaker of `registry` into `history` every `every`, forever.
pub(crate) async fn sampler(
    registry: Arc<Registry<String>>,
    history: Arc<History>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    // A late tick is taken late, not made up for by a burst of samples.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        history.sample(&registry);
    }
}

/// The registry: one named breaker (and budget) per host, each telling its own
/// track of `history`.
pub(crate) fn registry(history: Arc<History>) -> Registry<String> {
    Registry::<String>::builder()
        .breaker(move |host: Option<&String>| {
            let name = host.map_or("(overflow)", String::as_str);
            let track: Arc<dyn Listener> = history.track(name);
            Breaker::builder()
                .name(name)
                .trip_on_failure_rate(TRIP_RATE, 20)
                .open_for(Duration::from_secs(1))
                .shared_listener(track)
        })
        .budget(|_| fusebox::RetryBudget::builder())
        .build()
        .expect("a valid template")
}

/// What `host` answers to attempt `attempt` of its `n`-th call, `t` into a
/// cycle of `period`: `payments` fails the first attempt of every third call
/// (its retries succeed), `search` is down from 20 % to 60 % of every period
/// (4 s to 12 s of 20 s).
fn answer(
    host: &str,
    n: u64,
    attempt: u32,
    t: Duration,
    period: Duration,
) -> Result<(), &'static str> {
    let phase = (t.as_secs_f64() % period.as_secs_f64()) / period.as_secs_f64();
    match host {
        "payments" if n.is_multiple_of(3) && attempt == 1 => Err("payment gateway timeout"),
        "search" if (0.2..0.6).contains(&phase) => Err("search index unavailable"),
        _ => Ok(()),
    }
}

/// Simulated clients: each host gets about 40 calls a second through its guard,
/// for `run_for`; `search`'s outages repeat every `period`. Returns, per host
/// (in `HOSTS` order), how many retries were made (attempts after the first).
pub(crate) async fn traffic(
    registry: Arc<Registry<String>>,
    run_for: Duration,
    period: Duration,
) -> [u64; 3] {
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for host in HOSTS {
        let registry = Arc::clone(&registry);
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let mut retries = 0u64;
            while start.elapsed() < run_for {
                n += 1;
                let t = start.elapsed();
                let guard = registry.guard(host).with_sleeper(TokioSleeper);
                let r: Result<(), GuardError<&str>> = guard
                    .call_async(|a| {
                        retries += u64::from(a.number > 1);
                        async move {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            answer(host, n, a.number, t, period)
                        }
                    })
                    .await;
                let _ = r;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            retries
        }));
    }
    let mut retries = [0; 3];
    for (count, task) in retries.iter_mut().zip(tasks) {
        *count = task.await.unwrap_or(0);
    }
    retries
}

fn json(value: serde_json::Value) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Health rounded to 0.1 % (the JSON's size, not its meaning).
fn round_health(h: Option<f64>) -> Option<f64> {
    h.map(|h| (h * 1000.0).round() / 1000.0)
}

fn happened_json(name: &str, h: &Happened, started_unix_ms: u64) -> serde_json::Value {
    serde_json::json!({
        "breaker": name,
        "kind": "transition",
        "at_ms": ms(h.at),
        "at_unix_ms": started_unix_ms + ms(h.at),
        "from": h.from.as_str(),
        "to": h.to.as_str(),
        "state": h.to.as_str(),
        "epoch": h.epoch,
        "open_for_ms": h.open_for.map(ms),
        "detail": h.detail,
    })
}

/// The `since_ms` of a query string, if given and a number.
fn since_ms(uri: &Uri) -> Option<Duration> {
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("since_ms="))
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
}

/// The body of `/api/timeline`.
pub(crate) fn timeline_json(
    registry: &Registry<String>,
    history: &History,
    since: Option<Duration>,
) -> serde_json::Value {
    let started_unix_ms = history
        .started_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, ms);
    let now = history.now();
    let mut rows = Vec::new();
    registry.for_each(|name, entry| {
        let breaker = entry.breaker();
        let s = breaker.snapshot();
        let track = history.track(name);
        let (samples, totals) = track.samples_after(since);
        let timeline: Vec<_> = samples
            .iter()
            .map(|x| {
                let mut row = x.counts.json();
                row["t_ms"] = ms(x.t).into();
                row["state"] = x.state.as_str().into();
                row["health"] = round_health(x.health).into();
                row
            })
            .collect();
        let transitions: Vec<_> = track
            .happened()
            .iter()
            .map(|h| happened_json(name, h, started_unix_ms))
            .collect();
        rows.push(serde_json::json!({
            "name": name,
            "state": s.state.as_str(),
            "epoch": s.epoch,
            "health": s.health,
            "samples": s.samples,
            "probes_in_flight": s.probes_in_flight,
            "trips_below": breaker.threshold(),
            "timeline": timeline,
            "transitions": transitions,
            "totals": totals.json(),
        }));
    });
    rows.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    serde_json::json!({
        "now_ms": ms(now),
        "now_unix_ms": started_unix_ms + ms(now),
        "started_unix_ms": started_unix_ms,
        "sample_every_ms": ms(history.every),
        "keep_ms": ms(history.every) * history.capacity as u64,
        "breakers": rows,
    })
}

/// The routes: the page and its JSON sources.
pub(crate) fn app(registry: Arc<Registry<String>>, history: Arc<History>) -> Router {
    let (r1, h1) = (Arc::clone(&registry), Arc::clone(&history));
    let (r2, h2) = (Arc::clone(&registry), history);
    Router::new()
        .route(
            "/",
            get(|| async { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE) }),
        )
        .route(
            "/api/timeline",
            get(move |uri: Uri| async move { json(timeline_json(&r1, &h1, since_ms(&uri))) }),
        )
        .route(
            "/api/breakers",
            get(move || async move {
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
                            "open_until_ms": s.open_until.map(ms),
                        })
                    })
                    .collect();
                rows.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
                json(serde_json::Value::Array(rows))
            }),
        )
        .route(
            "/api/events",
            get(move || async move {
                let started_unix_ms = h2
                    .started_at
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, ms);
                let mut all = Vec::new();
                r2.for_each(|name, _| {
                    for h in h2.track(name).happened() {
                        all.push((h.at, happened_json(name, &h, started_unix_ms)));
                    }
                });
                all.sort_by_key(|(at, _)| *at);
                json(serde_json::Value::Array(
                    all.into_iter().map(|(_, v)| v).collect(),
                ))
            }),
        )
}

/// The address to listen on: the first argument, else `LIVE_VIEW_ADDR`, else
/// `127.0.0.1:0` (a port the system picks).
fn listen_addr() -> Result<SocketAddr, String> {
    let given = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("LIVE_VIEW_ADDR").ok());
    let text = given.as_deref().unwrap_or("127.0.0.1:0");
    text.parse()
        .map_err(|e| format!("{text:?} is not an address such as 127.0.0.1:8080 ({e})"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = match listen_addr() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("live_view: {e}");
            std::process::exit(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("live_view: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let addr = listener
        .local_addr()
        .expect("a bound socket has an address");
    let history = Arc::new(History::new(SAMPLE_EVERY, KEEP_FOR));
    let registry = Arc::new(registry(Arc::clone(&history)));
    println!("live view on http://{addr}/ (Ctrl-C to stop)");
    tokio::spawn(sampler(
        Arc::clone(&registry),
        Arc::clone(&history),
        SAMPLE_EVERY,
    ));
    tokio::spawn(traffic(
        Arc::clone(&registry),
        Duration::from_secs(3600),
        Duration::from_secs(20),
    ));
    if let Err(e) = axum::serve(listener, app(registry, history)).await {
        eprintln!("live_view: {e}");
        std::process::exit(1);
    }
}

/// The page: no external assets, no library; polls `/api/timeline` twice a
/// second (only the samples it lacks) and draws each breaker's timeline as
/// inline SVG.
const PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fusebox: live breakers</title>
<style>
 body { font: 14px/1.4 system-ui, sans-serif; margin: 1em 2em; color: #222; }
 header { display: flex; align-items: baseline; gap: 1.2em; flex-wrap: wrap; }
 h1 { font-size: 1.3em; margin: 0; }
 #status { color: #666; font-size: 12px; }
 .legend { font-size: 12px; color: #555; margin: .3em 0 0; }
 .legend i { display: inline-block; width: 12px; height: 10px; margin: 0 3px 0 10px;
   vertical-align: -1px; border-radius: 2px; }
 section.breaker { border: 1px solid #ddd; border-left: 6px solid #bbb; border-radius: 6px;
   padding: .4em 1em .5em; margin: .7em 0; }
 section.closed { border-left-color: #2a8a3e; } section.open { border-left-color: #c0392b; }
 section.half-open { border-left-color: #e08e0b; } section.forced-open { border-left-color: #7b241c; }
 section.disabled { border-left-color: #888; }
 .head { display: flex; align-items: baseline; gap: .8em; }
 .name { font-weight: 600; font-size: 1.15em; min-width: 5.5em; }
 .badge { padding: 0 .5em; border-radius: 3px; color: #fff; font-weight: 600; font-size: 12px;
   text-transform: uppercase; letter-spacing: .03em; }
 .b-closed { background: #2a8a3e; } .b-open { background: #c0392b; }
 .b-half-open { background: #e08e0b; } .b-forced-open { background: #7b241c; }
 .b-disabled { background: #888; }
 .t-closed { color: #2a8a3e; } .t-open { color: #c0392b; } .t-half-open { color: #b86e00; }
 .t-forced-open { color: #7b241c; } .t-disabled { color: #666; }
 .row { display: flex; gap: 1.2em; margin-top: .3em; }
 svg.timeline { flex: none; }
 svg text { font: 10px system-ui, sans-serif; fill: #666; }
 .side { flex: 1; min-width: 0; font-size: 12.5px; }
 .counts { color: #444; margin-bottom: .25em; }
 .count { font-weight: 600; font-variant-numeric: tabular-nums; color: #222; }
 .side h3 { font-size: 12px; margin: .2em 0; color: #555; font-weight: 600; }
 ol.log { list-style: none; margin: 0; padding: 0; }
 ol.log li { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; padding: 1px 0;
   border-bottom: 1px solid #f2f2f2; }
 ol.log time { font-variant-numeric: tabular-nums; color: #444; }
 .ago { color: #888; display: inline-block; min-width: 4.6em; margin: 0 .3em; }
 .detail { color: #555; }
 ol.log li.trip { background: #fbeaea; } ol.log li.recovery { background: #eaf5ec; }
 .quiet, .more { color: #777; margin: .1em 0; }
</style></head>
<body>
<header><h1>fusebox: live breakers</h1><span id="status">loading…</span></header>
<div class="legend">state:<i class="b-closed"></i>closed<i class="b-half-open"></i>half-open
 (probing)<i class="b-open"></i>open (calls refused)<i class="b-forced-open"></i>forced open
 &nbsp;·&nbsp; health: <i style="background:#1f5fa8;height:3px;vertical-align:3px"></i>line, dashed: trip level
 &nbsp;·&nbsp; calls per second:<i style="background:#7fa6dc"></i>retries<i style="background:#e74c3c"></i>rejected<i style="background:#333"></i>failed</div>
<div id="breakers"></div>
<script>
'use strict';
const COLOR = { 'closed': '#2a8a3e', 'open': '#c0392b', 'half-open': '#e08e0b',
  'forced-open': '#7b241c', 'disabled': '#999' };
const DOWN = s => s === 'open' || s === 'half-open' || s === 'forced-open';
// What the page has of the timelines: every sample it was sent, by breaker.
// It asks only for those after the oldest of the breakers' newest samples.
let have = { started: null, series: {} };

function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;',
    '"': '&quot;', "'": '&#39;' })[c]);
}
// A duration as an operator reads it (the server's `human`, in JS).
function dur(ms) {
  if (ms < 1) return ms.toFixed(1) + ' ms';
  if (ms < 999.5) return Math.round(ms) + ' ms';
  if (ms < 9950) return (ms / 1000).toFixed(1) + ' s';
  if (ms < 59500) return Math.round(ms / 1000) + ' s';
  const s = Math.round(ms / 1000);
  if (s < 3600) return Math.floor(s / 60) + ' min' + (s % 60 ? ' ' + (s % 60) + ' s' : '');
  return Math.floor(s / 3600) + ' h' + (s % 3600 >= 60 ? ' ' + Math.floor(s % 3600 / 60) + ' min' : '');
}
function ago(ms) { return ms < 1000 ? 'just now' : dur(ms) + ' ago'; }
function two(n) { return String(n).padStart(2, '0'); }
function clock(unixMs) {
  const d = new Date(unixMs);
  return two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds());
}
function num(n) { return n.toLocaleString('en-US'); }

// The geometry of a timeline strip.
const W = 660, LX = 46, PW = W - LX - 6;
const BAND = [2, 16], HEALTH = [22, 50], BARS = [78, 24], AXIS = 116, H = 120, BUCKETS = 60;

function strip(b, series, d, win, maxRate) {
  const t0 = d.now_ms - win;
  const x = t => (LX + PW * Math.min(1, Math.max(0, (t - t0) / win))).toFixed(1);
  const every = d.sample_every_ms;
  const out = [];
  out.push(`<rect x="${LX}" y="${BAND[0]}" width="${PW}" height="${BAND[1]}" fill="#f3f3f3"/>`);
  out.push(`<rect x="${LX}" y="${HEALTH[0]}" width="${PW}" height="${HEALTH[1]}" fill="#f7f7f7"/>`);
  out.push(`<text x="${LX - 5}" y="${BAND[0] + 12}" text-anchor="end">state</text>`);
  out.push(`<text x="${LX - 5}" y="${HEALTH[0] + 8}" text-anchor="end">100 %</text>`);
  out.push(`<text x="${LX - 5}" y="${HEALTH[0] + 29}" text-anchor="end">health</text>`);
  out.push(`<text x="${LX - 5}" y="${HEALTH[0] + HEALTH[1]}" text-anchor="end">0 %</text>`);
  out.push(`<text x="${LX - 5}" y="${BARS[0] + 8}" text-anchor="end">${Math.round(maxRate)}/s</text>`);
  out.push(`<text x="${LX - 5}" y="${BARS[0] + BARS[1]}" text-anchor="end">calls</text>`);
  // State: one band per run of samples in the same state (each sample covers
  // the interval before it, and shows the worst state of that interval).
  let run = null;
  const bands = [];
  for (const s of series) {
    if (s.t_ms <= t0) continue;
    if (run && run.state === s.state && s.t_ms - run.to <= 2 * every) { run.to = s.t_ms; continue; }
    if (run) bands.push(run);
    run = { state: s.state, from: s.t_ms - every, to: s.t_ms };
  }
  if (run) bands.push(run);
  for (const r of bands) {
    const w = Math.max(1, x(r.to) - x(r.from)).toFixed(1);
    out.push(`<rect class="band ${r.state}" data-breaker="${esc(b.name)}" data-state="${r.state}" ` +
      `x="${x(r.from)}" y="${BAND[0]}" width="${w}" height="${BAND[1]}" fill="${COLOR[r.state] || '#555'}">` +
      `<title>${r.state} ${clock(d.started_unix_ms + r.from)}–${clock(d.started_unix_ms + r.to)} ` +
      `(${dur(r.to - r.from)})</title></rect>`);
    // Shade the health lane too while the breaker is not closed: health is
    // not measured then.
    if (DOWN(r.state)) {
      out.push(`<rect x="${x(r.from)}" y="${HEALTH[0]}" width="${w}" height="${HEALTH[1]}" ` +
        `fill="${COLOR[r.state]}" opacity=".12"/>`);
    }
  }
  // Each outage labelled with its length (from its transitions, as the
  // status line says it).
  for (const o of outages(b)) {
    const to = o.to ?? d.now_ms, w = x(to) - x(o.from);
    if (w < 56) continue;
    out.push(`<text class="outage" x="${(+x(o.from) + w / 2).toFixed(1)}" y="${BAND[0] + 12}" ` +
      `text-anchor="middle" style="fill:#fff;font-weight:600">down ${dur(to - o.from)}` +
      `${o.to === null ? ' so far' : ''}</text>`);
  }
  // Health: a line through the measured samples, broken where not measured.
  const hy = h => (HEALTH[0] + HEALTH[1] * (1 - h)).toFixed(1);
  const ty = hy(b.trips_below);
  out.push(`<line x1="${LX}" x2="${LX + PW}" y1="${ty}" y2="${ty}" stroke="#c0392b" ` +
    `stroke-dasharray="4 3" stroke-width="1" opacity=".7"/>`);
  out.push(`<text x="${LX + PW - 2}" y="${ty - 2}" text-anchor="end">trips below ${Math.round(b.trips_below * 100)} %</text>`);
  let pts = [];
  const lines = [];
  for (const s of series) {
    if (s.t_ms <= t0) continue;
    if (s.health === null || DOWN(s.state)) { if (pts.length) lines.push(pts); pts = []; continue; }
    pts.push(x(s.t_ms) + ',' + hy(s.health));
  }
  if (pts.length) lines.push(pts);
  for (const p of lines) {
    if (p.length === 1) p.push(p[0]);
    out.push(`<polyline class="health" points="${p.join(' ')}" fill="none" stroke="#1f5fa8" stroke-width="1.6"/>`);
  }
  // Counts: per bucket of whole sample intervals, as calls per second, stacked.
  for (const k of bucketize(series, t0, win, every)) {
    let y = BARS[0] + BARS[1];
    const bx = x(k.from), w = Math.max(1, x(k.to) - x(k.from) - 1).toFixed(1);
    for (const [v, c] of [[k.retries, '#7fa6dc'], [k.failed, '#333'], [k.rejected, '#e74c3c']]) {
      const h = BARS[1] * Math.min(1, v / k.secs / maxRate);
      if (h <= 0) continue;
      y -= h;
      out.push(`<rect x="${bx}" y="${y.toFixed(1)}" width="${w}" height="${h.toFixed(1)}" fill="${c}"/>`);
    }
  }
  out.push(`<line x1="${LX}" x2="${LX + PW}" y1="${BARS[0] + BARS[1] + .5}" y2="${BARS[0] + BARS[1] + .5}" stroke="#ccc"/>`);
  // Time axis: ticks on round wall-clock times, "now" at the right.
  const step = [5, 10, 15, 30, 60, 120, 300].find(s => win / 1000 / s <= 7) * 1000;
  const u0 = d.started_unix_ms + t0;
  for (let u = Math.ceil(u0 / step) * step; u < d.now_unix_ms; u += step) {
    const tx = x(u - d.started_unix_ms);
    if (tx > LX + PW - 60) break; // "now" is there
    out.push(`<line x1="${tx}" x2="${tx}" y1="${BAND[0]}" y2="${AXIS - 9}" stroke="#fff" stroke-width="1" opacity=".5"/>`);
    out.push(`<text x="${tx}" y="${AXIS}" text-anchor="middle">${clock(u)}</text>`);
  }
  out.push(`<text x="${LX + PW}" y="${AXIS}" text-anchor="end">now</text>`);
  if (t0 < 0) {
    const sx = x(0);
    out.push(`<text x="${+sx - 4}" y="${BAND[0] + 12}" text-anchor="end">started ${clock(d.started_unix_ms)}</text>`);
  }
  return `<svg class="timeline" data-breaker="${esc(b.name)}" data-samples="${series.length}" ` +
    `width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" ` +
    `aria-label="${esc(b.name)}: state and health over the last ${dur(win)}">${out.join('')}</svg>`;
}

// The samples' counts summed per bucket of `n` whole sample intervals (about
// BUCKETS of them in the window), with the time the bucket's samples cover.
function bucketize(series, t0, win, every) {
  const n = Math.max(1, Math.round(win / BUCKETS / every)), out = new Map();
  for (const s of series) {
    if (s.t_ms <= t0) continue;
    const id = Math.floor(Math.round(s.t_ms / every) / n);
    let k = out.get(id);
    if (!k) {
      k = { from: (id * n - 1) * every, to: (id * n + n - 1) * every, secs: 0, retries: 0, failed: 0, rejected: 0 };
      out.set(id, k);
    }
    k.secs += every / 1000;
    k.retries += s.retries; k.failed += s.failed; k.rejected += s.rejected;
  }
  return [...out.values()];
}

// Sum of the counts of the samples after `since`.
function counted(series, since) {
  const c = { retries: 0, retry_wait_ms: 0, recovered: 0, failed: 0, rejected: 0 };
  for (const s of series) if (s.t_ms > since) for (const k in c) c[k] += s[k];
  return c;
}

// The outages in the transitions: from a trip (out of closed) to the next
// close (`to` null while it lasts).
function outages(b) {
  const out = [];
  for (const t of b.transitions) {
    const last = out[out.length - 1];
    if (!DOWN(t.from) && DOWN(t.to) && (!last || last.to !== null)) out.push({ from: t.at_ms, to: null });
    else if (DOWN(t.from) && !DOWN(t.to) && last && last.to === null) last.to = t.at_ms;
  }
  return out;
}

// One line: what the breaker is doing, and since when.
function status(b, d) {
  const tr = b.transitions, now = d.now_ms, last = tr[tr.length - 1];
  const at = t => `${clock(d.started_unix_ms + t)} (${ago(now - t)})`;
  // The start of the current (or last) outage: the last transition out of closed.
  const tripIdx = tr.map(t => !DOWN(t.from) && DOWN(t.to)).lastIndexOf(true);
  const trip = tripIdx >= 0 ? tr[tripIdx] : null;
  if (DOWN(b.state)) {
    let s = trip
      ? `<b class="t-open">down for ${dur(now - trip.at_ms)}</b> (since ${clock(d.started_unix_ms + trip.at_ms)})`
      : '<b class="t-open">down since the start</b>';
    const fails = tr.slice(tripIdx + 1).filter(t => t.from === 'half-open' && t.to === 'open').length;
    if (fails) s += ` · ${fails} failed probe${fails > 1 ? 's' : ''}`;
    if (b.state === 'open' && last && last.to === 'open' && last.open_for_ms !== null) {
      const left = last.at_ms + last.open_for_ms - now;
      s += left > 0 ? ` · probes again in ${dur(left)}` : ' · probing on the next call';
    }
    if (b.state === 'half-open') s += ' · probing';
    return s;
  }
  const h = b.health === null ? '' : ` · health ${Math.round(b.health * 100)} %`;
  if (last && last.to === 'closed' && trip) {
    return `<b class="t-closed">recovered ${at(last.at_ms)}</b> after ${dur(last.at_ms - trip.at_ms)} down${h}`;
  }
  if (!tr.length) return `closed since ${clock(d.started_unix_ms)}, no transitions${h}`;
  return `${b.state} since ${at(last.at_ms)}${h}`;
}

// The transitions, newest first; a probe and its verdict (open -> half-open,
// then half-open -> open or closed) make one line.
function log(b, d) {
  const tr = b.transitions, lines = [];
  for (let i = 0; i < tr.length; i++) {
    const t = tr[i], v = tr[i + 1];
    if (t.from === 'open' && t.to === 'half-open' && v && v.from === 'half-open' && v.to !== 'half-open') {
      lines.push({ ...v, from: 'open', via: 'half-open' });
      i++;
    } else {
      lines.push({ ...t, via: null });
    }
  }
  if (!lines.length) return `<p class="quiet">No transitions: closed all along.</p>`;
  lines.reverse();
  const SHOW = 7;
  const shown = lines.slice(0, SHOW).map(t => {
    const mark = !DOWN(t.from) && DOWN(t.to) ? ' trip' : t.to === 'closed' ? ' recovery' : '';
    const via = t.via ? ` → <span class="t-${t.via}">${t.via}</span>` : '';
    return `<li class="transition${mark}" data-breaker="${esc(b.name)}" data-from="${t.from}" ` +
      `title="${esc(t.detail)}" ` +
      `data-to="${t.to}"${t.via ? ` data-via="${t.via}"` : ''}>` +
      `<time>${clock(t.at_unix_ms)}</time><span class="ago">${ago(d.now_ms - t.at_ms)}</span>` +
      `<b class="t-${t.from}">${t.from}</b>${via} → <b class="t-${t.to}">${t.to}</b> ` +
      `<span class="detail">${esc(t.detail)}</span></li>`;
  }).join('');
  const more = lines.length > SHOW ? `<p class="more">… and ${lines.length - SHOW} earlier</p>` : '';
  return `<ol class="log" data-breaker="${esc(b.name)}">${shown}</ol>${more}`;
}

function render(d) {
  // The window: the whole run so far, in steps of 30 s, up to what is kept.
  const win = Math.min(d.keep_ms, Math.max(30000, Math.ceil(d.now_ms / 30000) * 30000));
  // One scale for every breaker's bars, so that they compare.
  let maxRate = 10;
  for (const b of d.breakers) {
    for (const k of bucketize(have.series[b.name] || [], d.now_ms - win, win, d.sample_every_ms)) {
      maxRate = Math.max(maxRate, (k.retries + k.failed + k.rejected) / k.secs);
    }
  }
  const span = Math.min(60000, d.now_ms);
  document.getElementById('breakers').innerHTML = d.breakers.map(b => {
    const series = have.series[b.name] || [];
    const c = counted(series, d.now_ms - span);
    const n = (kind, v) =>
      `<span class="count" data-breaker="${esc(b.name)}" data-kind="${kind}" data-value="${v}">${num(v)}</span>`;
    const wait = c.retries ? ` (mean wait ${dur(c.retry_wait_ms / c.retries)})` : '';
    return `<section class="breaker ${b.state}" id="breaker-${esc(b.name)}" data-state="${b.state}">
      <div class="head"><span class="name">${esc(b.name)}</span>
      <span class="badge b-${b.state}">${b.state}</span><span class="status">${status(b, d)}</span></div>
      <div class="row">${strip(b, series, d, win, maxRate)}
      <div class="side"><div class="counts">Last ${dur(span)}: ${n('retries', c.retries)} retries${wait},
        ${n('recovered', c.recovered)} recovered by a retry, ${n('failed', c.failed)} failed,
        ${n('rejected', c.rejected)} rejected</div>
      <h3>What happened</h3>${log(b, d)}</div></div></section>`;
  }).join('');
  document.getElementById('status').textContent =
    `updated ${clock(d.now_unix_ms)} · sampled every ${dur(d.sample_every_ms)} · ` +
    `timeline: the last ${dur(win)} (up to ${dur(d.keep_ms)}) · routine retries and rejections ` +
    `are counted per interval, transitions listed`;
}

async function refresh() {
  const last = s => s.length ? s[s.length - 1].t_ms : -1;
  const lasts = Object.values(have.series).map(last);
  const since = lasts.length ? Math.min(...lasts) : -1;
  let d;
  try {
    d = await (await fetch('/api/timeline' + (since >= 0 ? '?since_ms=' + since : ''))).json();
  } catch (err) {
    document.getElementById('status').textContent = 'server unreachable: showing the last view';
    return;
  }
  if (have.started !== d.started_unix_ms) {
    // A new server: what we have is another run's.
    have = { started: d.started_unix_ms, series: {} };
    if (since >= 0) return;
  }
  for (const b of d.breakers) {
    const s = have.series[b.name] || (have.series[b.name] = []);
    for (const x of b.timeline) if (x.t_ms > last(s)) s.push(x);
    while (s.length && s[0].t_ms <= d.now_ms - d.keep_ms) s.shift();
  }
  render(d);
}
// One poll at a time: the next is due half a second after the last ended.
(async function poll() { await refresh(); setTimeout(poll, 500); })();
</script></body></html>
"##;
