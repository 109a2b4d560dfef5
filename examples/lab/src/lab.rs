//! The outage lab: every strategy, on the same scripted downstream, in virtual
//! time, measured. No I/O: [`run`] takes a [`Config`] and returns a [`Report`].
//!
//! # The model
//!
//! - `clients` clients each issue one call every [`CALL_PERIOD`], starting
//!   staggered across the first period, until the timeline ends; during a load
//!   spike (`spike`'s trigger) one every [`SPIKE_CALL_PERIOD`], 2.5 times as
//!   often, staggered across that period from the spike's start
//!   ([`call_times`]). Calls are issued **on schedule** (open loop): a client
//!   does not wait for its previous call, so every strategy is offered exactly the
//!   same calls, with the same call numbers, and a slow strategy shows up as load
//!   and as calls in flight, not as fewer calls.
//! - Every call is a task on the simulated executor ([`sim`]); every downstream
//!   attempt and every backoff sleep is a timer. Attempts interleave in virtual
//!   time: while one call sleeps in backoff, others change the breaker.
//! - The downstream ([`downstream`]) is a pure function of the seed, the attempt's
//!   identity and the phase it starts in: identical for every strategy. Except
//!   with a server — in `overload`, `spike` and `overload-long`, and in any
//!   scenario run with `--capacity X` ([`Config::capacity`]) — where it is a
//!   capacity-limited server with a queue, sized X times the offered load: each
//!   strategy's run gets its own, and only the attempts' service times (and
//!   brownout failures) are the same for every strategy. [`downstream`] says
//!   what each condition means with a server.
//! - Every strategy but `fusebox-default` and `fusebox-hedge` uses the same numbers: [`MAX_ATTEMPTS`] attempts per call, the
//!   same exponential backoff ([`BACKOFF_INITIAL`] × 2^(k-1), capped at
//!   [`BACKOFF_MAX`], "equal" jitter: uniform in `[base/2, base]`), a breaker that
//!   trips at [`THRESHOLD`] failures, opens for [`OPEN_FOR`] and closes after
//!   [`CLOSE_AFTER`] half-open successes. Beyond that, each behaves as its design
//!   does: fusebox's open period is fixed like the baselines' (its growth on
//!   consecutive re-opens is turned off; it is still shortened by up to 10 % at
//!   random, the library's default), it admits one probe at a time, and has a
//!   shared retry budget ([`BUDGET_RATIO`], the library's default floor of 10
//!   retries/s). `fusebox-rate` is the same guard tripping on a failure rate
//!   ([`RATE`] over about [`RATE_WINDOW`] attempts) instead of a count. These
//!   are the like-for-like numbers.
//! - Three more strategies do *not* use those breaker numbers:
//!   - `retry-only`: what most services run: [`MAX_ATTEMPTS`] attempts with the
//!     baselines' backoff (the very same per-call draws), no breaker, no budget.
//!     It is a hand loop, like the baselines, rather than fusebox's `Retry`:
//!     fusebox runs a `Retry` only inside a `Guard`, which always has a breaker,
//!     and a "never tripping" breaker would still be fusebox code (it records,
//!     it admits through `try_acquire`); a plain loop is what such a service
//!     writes, and sharing the baselines' backoff draws makes its retries
//!     identical to theirs call for call.
//!   - `fusebox-default`: `Guard` built from the library's defaults, untouched:
//!     `Breaker::builder()` with only the simulation's clock, a jitter seed and
//!     the transition listener the lab logs with; `Retry::builder()` with only a
//!     seed; a shared `RetryBudget::builder()` with only the clock;
//!     `DefaultClassifier`. Whatever the defaults are, this is what a user who
//!     changes nothing gets; the lab sets none of their values.
//!   - `fusebox-hedge`: `fusebox-default`, built the same way, plus
//!     `Guard::with_hedging(Hedge::builder().build())`: the library's default
//!     hedging policy, untouched (a hedge once an attempt has run longer than
//!     the 0.95 quantile of the guard's recent successful attempts, clamped to
//!     1 ms–1 s, 1 s until 32 are known; at most one hedge per call; each takes
//!     a permit and a budget token like a retry, and only while the breaker is
//!     closed and healthy and its concurrency limit not engaged). A hedge is an
//!     attempt like any other for the downstream: it draws its own fate (its
//!     attempt number is the call's next), counts as load and as an attempt of
//!     the call when it starts, and, with a server, joins the queue then. The
//!     attempt that loses the race is dropped by the guard; the downstream does
//!     not know: a server still serves it (its worker stays busy to the end),
//!     but nobody reads its answer, so it counts in no goodput and no failure.
//!
//! # The trigger scenarios and their metrics
//!
//! The downstream is a capacity-limited server with a FIFO queue (see
//! [`downstream`]); a trigger overloads it: in `overload` a 10 s capacity drop
//! (to 40 % of the workers), in `overload-long` a 30 s one (to half, on a server
//! of only 1.1 times the offered load), in `spike` 10 s of 2.5 times the offered
//! load. A strategy whose retries amplify the load can keep the queue longer
//! than the attempt timeout after the trigger: every attempt then times out, is
//! retried, and still costs the server its service time (a metastable failure).
//! Two figures, measured for every strategy in a scenario with a trigger (the
//! first phase whose condition is a capacity drop or a load spike)
//! ([`TriggerFigures`]):
//!
//! - **recovery time**: calls are bucketed by the second they were issued in;
//!   the recovery time is the time from the trigger's end to the start of the
//!   first 1 s bucket from which every bucket until the timeline's end has a
//!   success rate of at least [`RECOVERED_RATE`] (a bucket without calls counts
//!   as recovered); "never" when the last bucket is below it
//!   ([`recovery_secs`]). Resolution: 1 s.
//! - **goodput during the trigger**: downstream attempts that *ended in a
//!   success* during the trigger (answered within the timeout), per second of
//!   trigger. A call succeeds with exactly one successful attempt, so this is
//!   also the calls that completed successfully per second during the trigger,
//!   by completion time. The server's capacity bounds it.
//!
//! # Latency and goodput, per phase
//!
//! For every strategy and phase group, in every scenario ([`ServiceFigures`]):
//!
//! - **call latency**, p50, p99 and p99.9 (nearest rank, [`percentile`]) of
//!   the calls issued in the phase, from issue to end, whatever the outcome (a
//!   call rejected at once takes 0); and the same for the **admitted** calls,
//!   those that made at least one downstream attempt. The per-phase latencies
//!   are kept and sorted at the end of the run. A p99.9 needs 1,000 calls to
//!   mean anything: a phase of 64 clients offers 640 a second.
//! - **goodput as a share of the physical limit**: downstream attempts that
//!   ended in a success during the phase (by end time, within the timeline),
//!   over what the downstream could answer in it: with a server, min(capacity in
//!   attempts/s during the phase — the workers in force over the condition's mean
//!   service time, [`downstream::mean_service`] — and the offered calls/s during
//!   the phase) × its duration; without a server, the offered calls. It can
//!   pass 100 % in a phase that drains the previous phase's backlog; with a
//!   server in an outage the limit is 0 and the share is undefined.
//!
//! # The tail scenario
//!
//! `tail` measures the latency tail rather than a failure: the downstream is
//! healthy for the whole 60 s, but 2 % of the attempts take 10 times their
//! drawn 20–80 ms (see [`downstream`]'s "The tail"; the same slow attempts for
//! every strategy). Nothing fails, so the figures that matter are the p99 and
//! p99.9 call latency against the p50, and the attempts per call it costs to
//! cut them: a strategy that hedges (a second attempt when the first is slow)
//! buys a shorter tail with extra attempts, and [`targets::hedge_checks`] holds
//! the bounds it is to meet. The phases are `warm-up` (10 s) and `steady`
//! (50 s, 32,000 calls at 64 clients, enough for a p99.9). With `--capacity X`
//! the server's service times carry the same tail.

#[path = "baselines.rs"]
pub mod baselines;
#[path = "downstream.rs"]
pub mod downstream;
#[path = "report.rs"]
pub mod report;
#[path = "sim.rs"]
pub mod sim;
#[path = "targets.rs"]
pub mod targets;

use baselines::{Mode, NaiveBreaker, SimpleBreaker, StateChange};
use downstream::{
    AttemptKey, Condition, Downstream, DownstreamError, Draws, MS, Phase, SEC, mean_service,
    server_size,
};
use fusebox::{
    Attempt, Breaker, DefaultClassifier, Guard, GuardError, Hedge, HedgedGuard, Jitter, Retry,
    RetryBudget, State,
};
use sim::{Sim, SimSleeper};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use downstream::Scenario;

/// Each client issues one call per this much virtual time.
pub const CALL_PERIOD: u64 = 100 * MS;
/// …and one per this much during a load spike: [`downstream::SPIKE_LOAD`] (2.5)
/// times as often.
pub const SPIKE_CALL_PERIOD: u64 = 40 * MS;
/// Attempts per call, the first included (the naive design's `max_retries=3`).
pub const MAX_ATTEMPTS: u32 = 3;
/// Failures that trip a breaker (the naive design's `failure_threshold=5`): failed calls
/// for `naive`, failed attempts for the others.
pub const THRESHOLD: u32 = 5;
/// How long a breaker stays open, for every strategy (fusebox's growth on
/// consecutive re-opens is turned off so the comparison is like for like).
pub const OPEN_FOR: u64 = 5 * SEC;
/// `fusebox-rate`: trip when the failure rate exceeds this…
pub const RATE: f64 = 0.5;
/// …over roughly this many recent attempts.
pub const RATE_WINDOW: u32 = 200;
/// Half-open successes that close a breaker.
pub const CLOSE_AFTER: u32 = 2;
/// The backoff before the first retry (the naive design's `base_delay=1`).
pub const BACKOFF_INITIAL: u64 = SEC;
/// The backoff's growth per retry.
pub const BACKOFF_FACTOR: f64 = 2.0;
/// The longest backoff (the naive design's cap of 30 s).
pub const BACKOFF_MAX: u64 = 30 * SEC;
/// fusebox's retry budget: retries as a share of calls.
pub const BUDGET_RATIO: f64 = 0.2;
/// How often fusebox's health is sampled for the picture.
pub const SAMPLE_EVERY: u64 = 100 * MS;
/// Width of a downstream-load bucket.
pub const LOAD_BUCKET: u64 = SEC;
/// The 1 s success rate from which on a strategy counts as recovered from an
/// overload (see [`recovery_secs`]).
pub const RECOVERED_RATE: f64 = 0.95;

/// What to simulate.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Seeds the downstream, every jitter and every random draw.
    pub seed: u64,
    /// Logical clients.
    pub clients: u32,
    /// The timeline.
    pub scenario: Scenario,
    /// `--capacity`: run on a [`downstream::Server`] sized this many times the
    /// offered load (positive), instead of the scenario's own downstream.
    pub capacity: Option<f64>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            seed: 42,
            clients: 64,
            scenario: Scenario::Default,
            capacity: None,
        }
    }
}

impl Config {
    /// The server's capacity as a multiple of the offered load: `--capacity`, or
    /// else the scenario's own; `None`: no server.
    pub fn server_capacity(&self) -> Option<f64> {
        self.capacity.or(self.scenario.default_capacity())
    }

    /// The server's `(workers, workers during a capacity drop)`, if there is one
    /// (see [`server_size`]).
    pub fn server_size(&self) -> Option<(u32, u32)> {
        self.server_capacity().map(|x| {
            server_size(
                offered_load(self.clients.max(1)),
                x,
                self.scenario.trigger_share(),
            )
        })
    }
}

/// The strategies compared, in column order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// BASELINE: the naive design, the retry loop inside the breaker's `execute`
    /// (the breaker counts calls, not attempts).
    Naive,
    /// BASELINE: the naive design with per-attempt callbacks (a failed attempt is
    /// reported to the breaker, which is checked before each sleep).
    Callbacks,
    /// BASELINE: retry outside a count-based breaker; rejections are retried.
    Layered,
    /// `fusebox::Guard`: breaker + retry + budget fused, tripping like the
    /// baselines: on the [`THRESHOLD`]-th consecutive failed attempt.
    Fusebox,
    /// `fusebox::Guard` as above, tripping on a failure rate instead
    /// ([`RATE`] over roughly the last [`RATE_WINDOW`] attempts): the setting for
    /// a service that should ride out a brownout.
    FuseboxRate,
    /// Plain retry: [`MAX_ATTEMPTS`] attempts with the baselines' backoff, no
    /// breaker, no budget.
    RetryOnly,
    /// `fusebox::Guard` from the library's defaults, untouched (breaker, retry
    /// policy, budget, classifier).
    FuseboxDefault,
    /// `FuseboxDefault` with hedging: `Guard::with_hedging` with the library's
    /// default `Hedge` (a hedge once an attempt outlasts the 0.95 quantile of
    /// the recent successful attempts, at most one per call).
    FuseboxHedge,
}

impl Strategy {
    /// Every strategy, in column order.
    pub const ALL: [Strategy; 8] = [
        Strategy::RetryOnly,
        Strategy::Naive,
        Strategy::Callbacks,
        Strategy::Layered,
        Strategy::Fusebox,
        Strategy::FuseboxRate,
        Strategy::FuseboxDefault,
        Strategy::FuseboxHedge,
    ];

    /// The column name.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Naive => "naive",
            Strategy::Callbacks => "callbacks",
            Strategy::Layered => "layered",
            Strategy::Fusebox => "fusebox",
            Strategy::FuseboxRate => "fusebox-rate",
            Strategy::RetryOnly => "retry-only",
            Strategy::FuseboxDefault => "fusebox-default",
            Strategy::FuseboxHedge => "fusebox-hedge",
        }
    }

    /// Whether the strategy has a breaker (all but `retry-only`).
    pub fn has_breaker(self) -> bool {
        self != Strategy::RetryOnly
    }

    /// Whether the strategy is a `fusebox::Guard`.
    pub fn is_fusebox(self) -> bool {
        matches!(
            self,
            Strategy::Fusebox
                | Strategy::FuseboxRate
                | Strategy::FuseboxDefault
                | Strategy::FuseboxHedge
        )
    }
}

/// Counts for the calls issued in one phase (or a group of phases with one label).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseFigures {
    /// Calls issued.
    pub calls: u64,
    /// Calls that returned a success.
    pub succeeded: u64,
    /// Calls that ended on a breaker rejection.
    pub rejected: u64,
    /// Downstream attempts those calls made.
    pub attempts: u64,
    /// Of which failed.
    pub failed_attempts: u64,
    /// Attempts started while the strategy's breaker was open.
    pub attempts_while_open: u64,
    /// Backoff slept right before a breaker rejection (nanoseconds, all clients).
    pub wasted_sleep: u64,
    /// Of the attempts, hedges: begun while another attempt of the same call
    /// was in flight (`fusebox-hedge` only).
    pub hedges: u64,
}

impl PhaseFigures {
    /// Downstream attempts per call (load amplification; below 1 when calls are shed).
    pub fn amplification(&self) -> f64 {
        ratio(self.attempts, self.calls)
    }

    /// Share of calls that succeeded.
    pub fn success_rate(&self) -> f64 {
        ratio(self.succeeded, self.calls)
    }

    /// Failed downstream attempts per call.
    pub fn failed_per_call(&self) -> f64 {
        ratio(self.failed_attempts, self.calls)
    }

    fn add(&mut self, other: &PhaseFigures) {
        self.calls += other.calls;
        self.succeeded += other.succeeded;
        self.rejected += other.rejected;
        self.attempts += other.attempts;
        self.failed_attempts += other.failed_attempts;
        self.attempts_while_open += other.attempts_while_open;
        self.wasted_sleep += other.wasted_sleep;
        self.hedges += other.hedges;
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The median, the 99th and the 99.9th percentile of some calls' latencies, in
/// nanoseconds (`None`: no call).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    /// The 50th percentile.
    pub p50: Option<u64>,
    /// The 99th percentile.
    pub p99: Option<u64>,
    /// The 99.9th percentile (with fewer than 1,000 calls, the same rank rule
    /// makes it the slowest or nearly).
    pub p999: Option<u64>,
}

impl Latency {
    /// The percentiles of `values` (sorted here; see [`percentile`]).
    pub fn of(mut values: Vec<u64>) -> Self {
        values.sort_unstable();
        Self {
            p50: percentile(&values, 0.50),
            p99: percentile(&values, 0.99),
            p999: percentile(&values, 0.999),
        }
    }
}

/// The nearest-rank percentile `p` (in `(0, 1]`) of `sorted` (ascending): the
/// smallest value with at least `p` of the values at or below it, i.e. the value
/// of rank `ceil(p × n)`. `None` when `sorted` is empty.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    Some(sorted[rank - 1])
}

/// Per phase group: how long calls took, and how much of what the downstream
/// could answer was answered.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ServiceFigures {
    /// Latency of the calls issued in the phases, from issue to end, whatever
    /// the outcome.
    pub latency: Latency,
    /// The same for the *admitted* calls: those that made at least one
    /// downstream attempt.
    pub admitted: Latency,
    /// Downstream attempts that ended in a success during the phases (= calls
    /// that completed successfully then, by completion time).
    pub goodput: u64,
    /// The physical limit of that: with a server, min(capacity in attempts/s,
    /// offered calls/s) × duration, per phase; without one, the offered calls.
    pub limit: f64,
}

impl ServiceFigures {
    /// `goodput` as a share of `limit`; `None` when the limit is 0 (an outage
    /// with a server: it can answer nothing).
    pub fn goodput_share(&self) -> Option<f64> {
        (self.limit > 0.0).then(|| self.goodput as f64 / self.limit)
    }
}

/// Downstream failures before the breaker first tripped in the first outage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BeforeTrip {
    /// The scenario has no outage.
    NoOutage,
    /// The breaker was not closed when the outage began.
    NotClosed,
    /// It tripped after this many downstream failures (ended since the outage began).
    Tripped(u64),
    /// It did not trip during the outage, which saw this many failures.
    Never(u64),
}

/// A delay measured once per qualifying phase (each outage, each recovery).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Timing {
    /// Mean over the phases where it happened, in seconds.
    pub mean_secs: Option<f64>,
    /// Phases where it happened (before the phase ended, for an outage; before
    /// the simulation ended, for a recovery).
    pub hit: usize,
    /// Qualifying phases.
    pub of: usize,
}

/// The overload figures of one strategy, in a scenario with a trigger (a
/// capacity drop or a load spike).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TriggerFigures {
    /// Seconds from the trigger's end until the 1 s success rate stays at or above
    /// [`RECOVERED_RATE`] for the rest of the timeline; `None`: never.
    pub recovery_secs: Option<u64>,
    /// Successful downstream attempts that ended during the trigger, per second.
    pub goodput: f64,
    /// The longest queueing delay of any attempt, in nanoseconds.
    pub max_wait: u64,
    /// The longest queueing delay of the attempts that arrived in the timeline's
    /// last second, in nanoseconds.
    pub final_wait: u64,
}

/// One strategy's figures and traces.
#[derive(Clone, Debug, PartialEq)]
pub struct StrategyRun {
    /// Which strategy.
    pub strategy: Strategy,
    /// Per phase group (see [`Report::groups`]).
    pub per_group: Vec<PhaseFigures>,
    /// The whole run.
    pub total: PhaseFigures,
    /// Failures before the first trip, in the first outage.
    pub before_trip: BeforeTrip,
    /// From each outage's start until the breaker is open (within the outage);
    /// outages that begin with it open are left out.
    pub to_open: Timing,
    /// From each recovery's start (a healthy phase after an outage) until the
    /// breaker is closed; recoveries that begin with it closed are left out.
    pub to_closed: Timing,
    /// Outcomes reported by a caller whose view predates the breaker's last
    /// transition (fusebox: the permit's epoch is no longer current).
    pub late_outcomes: u64,
    /// Late outcomes that changed the breaker (fusebox: late outcomes not reported
    /// `Stale`).
    pub stale_overwrites: u64,
    /// fusebox: `breaker.stale_reports()`; baselines have no such notion.
    pub reported_stale: Option<u64>,
    /// fusebox: calls ended by `GuardError::BudgetExhausted`.
    pub budget_refusals: Option<u64>,
    /// When each hedge was sent, in order (`fusebox-hedge` only).
    pub hedge_times: Vec<u64>,
    /// State changes, starting with `Closed` at 0.
    pub states: Vec<StateChange>,
    /// fusebox: `(time, health)` every `SAMPLE_EVERY` (`None` unless closed).
    pub health: Vec<(u64, Option<f64>)>,
    /// fusebox: the health below which its breaker trips.
    pub health_threshold: Option<f64>,
    /// Downstream attempts started per `LOAD_BUCKET`.
    pub load: Vec<u64>,
    /// `(calls, succeeded)` of the calls issued in each second of the timeline.
    pub per_second: Vec<(u64, u64)>,
    /// In a scenario with a trigger: its figures.
    pub trigger: Option<TriggerFigures>,
    /// Per phase group: latency and goodput.
    pub service: Vec<ServiceFigures>,
    /// The whole run's latency and goodput.
    pub service_total: ServiceFigures,
}

impl StrategyRun {
    /// The highest downstream load, attempts per second.
    pub fn peak_load(&self) -> f64 {
        let per_sec = SEC as f64 / LOAD_BUCKET as f64;
        self.load.iter().copied().max().unwrap_or(0) as f64 * per_sec
    }

    /// State changes after the initial `Closed`.
    pub fn transitions(&self) -> usize {
        self.states.len().saturating_sub(1)
    }
}

/// Everything one run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// What was simulated.
    pub config: Config,
    /// The timeline.
    pub phases: Vec<Phase>,
    /// Phase labels in order of first appearance; figures are grouped by label.
    pub groups: Vec<&'static str>,
    /// One per strategy, in column order.
    pub runs: Vec<StrategyRun>,
}

impl Report {
    /// The run of `strategy`.
    pub fn run(&self, strategy: Strategy) -> &StrategyRun {
        self.runs
            .iter()
            .find(|r| r.strategy == strategy)
            .expect("every strategy runs")
    }

    /// The figures of `strategy` in the phase group `label`.
    pub fn group(&self, strategy: Strategy, label: &str) -> Option<&PhaseFigures> {
        let i = self.groups.iter().position(|g| *g == label)?;
        self.run(strategy).per_group.get(i)
    }

    /// The latency and goodput of `strategy` in the phase group `label`.
    pub fn service(&self, strategy: Strategy, label: &str) -> Option<&ServiceFigures> {
        let i = self.groups.iter().position(|g| *g == label)?;
        self.run(strategy).service.get(i)
    }

    /// Virtual end of the timeline, in nanoseconds.
    pub fn end(&self) -> u64 {
        self.phases.last().map_or(0, |p| p.end)
    }

    /// The scenario's trigger (its first capacity drop or load spike), if it has
    /// one.
    pub fn trigger(&self) -> Option<&Phase> {
        trigger_phase(&self.phases)
    }
}

fn trigger_phase(phases: &[Phase]) -> Option<&Phase> {
    phases.iter().find(|p| p.condition.is_trigger())
}

/// How often each client issues a call under `condition`: [`CALL_PERIOD`], or
/// [`SPIKE_CALL_PERIOD`] during a load spike.
pub fn call_period(condition: Condition) -> u64 {
    if condition == Condition::LoadSpike {
        SPIKE_CALL_PERIOD
    } else {
        CALL_PERIOD
    }
}

/// When client `client` of `clients` issues its calls, in order (its call
/// numbers are the positions in this sequence): in each phase, one call per the
/// phase's [`call_period`], the first `period × client / clients` after the
/// phase's start (the clients staggered across a period). With every phase at
/// [`CALL_PERIOD`] and starting at a multiple of it, this is one call every
/// [`CALL_PERIOD`] from `CALL_PERIOD × client / clients` on, whatever the phases.
/// The same for every strategy.
pub fn call_times(phases: &[Phase], client: u32, clients: u32) -> impl Iterator<Item = u64> + '_ {
    phases.iter().flat_map(move |p| {
        let period = call_period(p.condition);
        let first = p.start + period * u64::from(client) / u64::from(clients);
        (0..)
            .map(move |k| first + k * period)
            .take_while(move |&t| t < p.end)
    })
}

/// Calls per second the clients offer during `phase` (the same for every
/// strategy: the calls are issued on schedule).
pub fn offered_in(clients: u32, phase: &Phase) -> f64 {
    f64::from(clients) * SEC as f64 / call_period(phase.condition) as f64
}

/// Seconds from bucket `from` to the start of the first 1 s bucket from which
/// every bucket before `to` has a success rate of at least [`RECOVERED_RATE`]:
/// the recovery time, when bucket `from` starts at the trigger's end and `to` is
/// the timeline's end. `per_second` holds `(calls, succeeded)` per bucket (a
/// missing or empty bucket counts as recovered). `None`: the last bucket before
/// `to` is below the rate (never recovered); `Some(0)` when `from >= to`.
pub fn recovery_secs(per_second: &[(u64, u64)], from: usize, to: usize) -> Option<u64> {
    let recovered = |b: usize| {
        let (calls, succeeded) = per_second.get(b).copied().unwrap_or((0, 0));
        calls == 0 || succeeded as f64 >= RECOVERED_RATE * calls as f64
    };
    let last_bad = (from..to).rev().find(|&b| !recovered(b));
    match last_bad {
        None => Some(0),
        Some(b) if b + 1 == to => None,
        Some(b) => Some((b + 1 - from) as u64),
    }
}

/// Run every strategy on the scenario and measure.
pub fn run(config: &Config) -> Report {
    let phases = config.scenario.phases();
    let mut groups: Vec<&'static str> = Vec::new();
    for p in &phases {
        if !groups.contains(&p.label) {
            groups.push(p.label);
        }
    }
    // Each strategy runs on a thread of its own: fusebox's `Guard` picks the
    // attempts it times for its concurrency limit with a per-thread countdown,
    // so a fresh thread makes every run the same function of its inputs,
    // whatever ran before it in this process.
    let runs = Strategy::ALL
        .iter()
        .map(|&s| {
            std::thread::scope(|scope| {
                scope
                    .spawn(|| run_strategy(config, &phases, &groups, s))
                    .join()
                    .expect("a strategy's run does not panic")
            })
        })
        .collect();
    Report {
        config: config.clone(),
        phases,
        groups,
        runs,
    }
}

/// How a call ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Failed,
    Rejected,
}

/// Which call.
#[derive(Clone, Copy)]
struct CallId {
    client: u32,
    index: u32,
    /// The phase the call was issued in.
    phase: usize,
    /// When it was issued.
    issued: u64,
}

/// What a run records as it goes.
struct Recorder {
    per_phase: RefCell<Vec<PhaseFigures>>,
    /// Failed attempts by the phase they *ended* in.
    failures_by_end: RefCell<Vec<u64>>,
    /// Downstream failures so far (read by transition logs, hence atomic).
    failures: Arc<AtomicU64>,
    load: RefCell<Vec<u64>>,
    late: Cell<u64>,
    budget_refusals: Cell<u64>,
    /// When each hedge was sent.
    hedge_times: RefCell<Vec<u64>>,
    health: RefCell<Vec<(u64, Option<f64>)>>,
    /// `(calls, succeeded)` by the second the call was issued in.
    per_second: RefCell<Vec<(u64, u64)>>,
    /// Successful attempts by the second they ended in.
    ok_by_end: RefCell<Vec<u64>>,
    /// Successful attempts by the phase they ended in (within the timeline).
    ok_by_end_phase: RefCell<Vec<u64>>,
    /// Call latencies (issue to end), by the phase the call was issued in.
    latencies: RefCell<Vec<Vec<u64>>>,
    /// The same, of the calls that made at least one downstream attempt.
    admitted_latencies: RefCell<Vec<Vec<u64>>>,
}

/// Add `n` to `buckets[i]`, growing it as needed.
fn bump(buckets: &mut Vec<u64>, i: usize, n: u64) {
    if buckets.len() <= i {
        buckets.resize(i + 1, 0);
    }
    buckets[i] += n;
}

/// What every task of a run shares.
struct Env {
    sim: Rc<Sim>,
    ds: Downstream,
    rec: Recorder,
    seed: u64,
    /// The timeline's end.
    end: u64,
}

type FuseGuard = Guard<DefaultClassifier, SimSleeper>;

/// A fusebox strategy's guard: plain, or hedged (`fusebox-hedge`). Two types
/// in the library (an unhedged guard's call carries none of the hedged call's
/// state), one here.
enum FuseCaller {
    Plain(FuseGuard),
    Hedged(HedgedGuard<DefaultClassifier, SimSleeper>),
}

impl FuseCaller {
    /// The guard's breaker.
    fn breaker(&self) -> &Arc<Breaker> {
        match self {
            FuseCaller::Plain(guard) => guard.breaker(),
            FuseCaller::Hedged(hedged) => hedged.guard().breaker(),
        }
    }
}

/// A strategy's shared state: one breaker (and guard) per downstream.
#[derive(Clone)]
enum Shared {
    Naive(Rc<NaiveBreaker>),
    Callbacks(Rc<NaiveBreaker>),
    Layered(Rc<SimpleBreaker>),
    Fusebox(Rc<FuseCaller>, Arc<Mutex<Vec<StateChange>>>),
    RetryOnly,
}

fn mode(state: State) -> Mode {
    match state {
        State::Closed | State::Disabled => Mode::Closed,
        State::HalfOpen => Mode::HalfOpen,
        State::Open | State::ForcedOpen => Mode::Open,
        // `State` is non-exhaustive: a state added later is drawn as rejecting,
        // the cautious reading.
        _ => Mode::Open,
    }
}

/// fusebox's breaker on the simulation's clock, logging its transitions to
/// `log`: with the lab's numbers, or (`fusebox-default`, `fusebox-hedge`) with
/// the library's defaults, only the clock, the jitter seed and the listener set.
fn fusebox_breaker(
    strategy: Strategy,
    sim: &Sim,
    seed: u64,
    log: Arc<Mutex<Vec<StateChange>>>,
    failures: Arc<AtomicU64>,
) -> Result<Breaker, fusebox::ConfigError> {
    let clock = sim.clock().clone();
    let builder = match strategy {
        Strategy::FuseboxDefault | Strategy::FuseboxHedge => Breaker::builder(),
        Strategy::FuseboxRate => Breaker::builder()
            .trip_on_failure_rate(RATE, RATE_WINDOW)
            .open_for(Duration::from_nanos(OPEN_FOR))
            .open_growth(1.0)
            .close_after(CLOSE_AFTER)
            .probes(1),
        _ => Breaker::builder()
            .trip_after_consecutive_failures(THRESHOLD)
            .open_for(Duration::from_nanos(OPEN_FOR))
            .open_growth(1.0)
            .close_after(CLOSE_AFTER)
            .probes(1),
    };
    builder
        .jitter_seed(seed)
        .clock(sim.clock().clone())
        .on_transition(move |t| {
            log.lock().expect("not poisoned").push(StateChange {
                at: clock.now().as_nanos() as u64,
                state: mode(t.to),
                // Relaxed: a counter in a single-threaded simulation.
                failures_so_far: failures.load(Ordering::Relaxed),
            });
        })
        .build()
}

fn shared(strategy: Strategy, env: &Env) -> Shared {
    let failures = Arc::clone(&env.rec.failures);
    match strategy {
        Strategy::Naive => Shared::Naive(Rc::new(NaiveBreaker::new(
            THRESHOLD,
            OPEN_FOR,
            CLOSE_AFTER,
            failures,
        ))),
        Strategy::Callbacks => Shared::Callbacks(Rc::new(NaiveBreaker::new(
            THRESHOLD,
            OPEN_FOR,
            CLOSE_AFTER,
            failures,
        ))),
        Strategy::Layered => Shared::Layered(Rc::new(SimpleBreaker::new(
            THRESHOLD,
            OPEN_FOR,
            CLOSE_AFTER,
            failures,
        ))),
        Strategy::RetryOnly => Shared::RetryOnly,
        Strategy::FuseboxDefault | Strategy::FuseboxHedge => {
            let log = Arc::new(Mutex::new(Vec::new()));
            let breaker = fusebox_breaker(strategy, &env.sim, env.seed, Arc::clone(&log), failures)
                .expect("the default breaker builds");
            let retry = Retry::builder()
                .seed(env.seed)
                .build()
                .expect("the default retry policy builds");
            let budget = RetryBudget::builder()
                .clock(env.sim.clock().clone())
                .build()
                .expect("the default budget builds");
            let guard = Guard::new(Arc::new(breaker), retry)
                .with_budget(Arc::new(budget))
                .with_sleeper(SimSleeper(Rc::clone(&env.sim)));
            let caller = if strategy == Strategy::FuseboxHedge {
                // The library's default hedging policy, untouched, like the rest.
                let hedge = Hedge::builder()
                    .build()
                    .expect("the default hedging policy builds");
                FuseCaller::Hedged(guard.with_hedging(hedge))
            } else {
                FuseCaller::Plain(guard)
            };
            Shared::Fusebox(Rc::new(caller), log)
        }
        Strategy::Fusebox | Strategy::FuseboxRate => {
            let log = Arc::new(Mutex::new(Vec::new()));
            let breaker = fusebox_breaker(strategy, &env.sim, env.seed, Arc::clone(&log), failures)
                .expect("valid breaker settings");
            let retry = Retry::builder()
                .max_attempts(MAX_ATTEMPTS)
                .exponential_backoff(
                    Duration::from_nanos(BACKOFF_INITIAL),
                    BACKOFF_FACTOR,
                    Duration::from_nanos(BACKOFF_MAX),
                )
                .jitter(Jitter::Equal)
                .seed(env.seed)
                .build()
                .expect("valid retry settings");
            let budget = RetryBudget::builder()
                .ratio(BUDGET_RATIO)
                .clock(env.sim.clock().clone())
                .build()
                .expect("valid budget settings");
            let guard = Guard::new(Arc::new(breaker), retry)
                .with_budget(Arc::new(budget))
                .with_sleeper(SimSleeper(Rc::clone(&env.sim)));
            Shared::Fusebox(Rc::new(FuseCaller::Plain(guard)), log)
        }
    }
}

fn run_strategy(
    config: &Config,
    phases: &[Phase],
    groups: &[&'static str],
    strategy: Strategy,
) -> StrategyRun {
    let sim = Sim::new();
    let clients = config.clients.max(1);
    let ds = match config.server_size() {
        Some((workers, trigger_workers)) => {
            Downstream::with_server(config.seed, phases.to_vec(), workers, trigger_workers)
        }
        None => Downstream::new(config.seed, phases.to_vec()),
    };
    let env = Rc::new(Env {
        sim: Rc::clone(&sim),
        ds,
        rec: Recorder {
            per_phase: RefCell::new(vec![PhaseFigures::default(); phases.len()]),
            failures_by_end: RefCell::new(vec![0; phases.len()]),
            failures: Arc::new(AtomicU64::new(0)),
            load: RefCell::new(Vec::new()),
            late: Cell::new(0),
            budget_refusals: Cell::new(0),
            hedge_times: RefCell::new(Vec::new()),
            health: RefCell::new(Vec::new()),
            per_second: RefCell::new(Vec::new()),
            ok_by_end: RefCell::new(Vec::new()),
            ok_by_end_phase: RefCell::new(vec![0; phases.len()]),
            latencies: RefCell::new(vec![Vec::new(); phases.len()]),
            admitted_latencies: RefCell::new(vec![Vec::new(); phases.len()]),
        },
        seed: config.seed,
        end: phases.last().map_or(0, |p| p.end),
    });
    let shared = shared(strategy, &env);
    let end = phases.last().map_or(0, |p| p.end);
    let timeline: Rc<[Phase]> = phases.into();
    for client in 0..clients {
        sim.spawn(client_loop(
            Rc::clone(&env),
            shared.clone(),
            Rc::clone(&timeline),
            client,
            clients,
        ));
    }
    if let Shared::Fusebox(guard, _) = &shared {
        sim.spawn(sample_health(Rc::clone(&env), Rc::clone(guard), end));
    }
    sim.run();

    // Collect.
    let (states, late, stale_overwrites, reported_stale, budget_refusals) = match &shared {
        Shared::Naive(b) | Shared::Callbacks(b) => (
            b.book().changes(),
            b.book().late_outcomes(),
            b.book().stale_overwrites(),
            None,
            None,
        ),
        Shared::Layered(b) => (
            b.book().changes(),
            b.book().late_outcomes(),
            b.book().stale_overwrites(),
            None,
            None,
        ),
        Shared::Fusebox(guard, log) => {
            let late = env.rec.late.get();
            let stale = guard.breaker().stale_reports();
            (
                log.lock().expect("not poisoned").clone(),
                late,
                // A late outcome is either reported Stale or applied: applied ones
                // are overwrites.
                late.saturating_sub(stale),
                Some(stale),
                Some(env.rec.budget_refusals.get()),
            )
        }
        Shared::RetryOnly => (Vec::new(), 0, 0, None, None),
    };
    let mut all_states = vec![StateChange {
        at: 0,
        state: Mode::Closed,
        failures_so_far: 0,
    }];
    all_states.extend(states);

    let per_phase = env.rec.per_phase.borrow().clone();
    let mut per_group = vec![PhaseFigures::default(); groups.len()];
    let mut total = PhaseFigures::default();
    for (phase, figures) in phases.iter().zip(&per_phase) {
        let g = groups
            .iter()
            .position(|l| *l == phase.label)
            .expect("every label is a group");
        per_group[g].add(figures);
        total.add(figures);
    }
    let failures_by_end = env.rec.failures_by_end.borrow().clone();
    let health = env.rec.health.take();
    let load = env.rec.load.take();
    let health_threshold = match &shared {
        Shared::Fusebox(guard, _) => Some(guard.breaker().threshold()),
        _ => None,
    };
    let per_second = env.rec.per_second.take();
    let trigger = trigger_phase(phases).map(|t| {
        let second = |ns: u64| usize::try_from(ns / SEC).expect("fits");
        let ok = env.rec.ok_by_end.borrow();
        let served: u64 = (second(t.start)..second(t.end))
            .map(|b| ok.get(b).copied().unwrap_or(0))
            .sum();
        let waits = env
            .ds
            .server()
            .map(|s| s.waits().to_vec())
            .unwrap_or_default();
        TriggerFigures {
            recovery_secs: recovery_secs(&per_second, second(t.end), second(end)),
            goodput: served as f64 * SEC as f64 / (t.end - t.start) as f64,
            max_wait: waits.iter().copied().max().unwrap_or(0),
            final_wait: second(end)
                .checked_sub(1)
                .and_then(|b| waits.get(b).copied())
                .unwrap_or(0),
        }
    });
    let (service, service_total) = service_figures(&env, phases, groups, clients);
    StrategyRun {
        strategy,
        per_group,
        total,
        before_trip: before_trip(phases, &all_states, &failures_by_end),
        to_open: to_open(phases, &all_states),
        to_closed: to_closed(phases, &all_states),
        late_outcomes: late,
        stale_overwrites,
        reported_stale,
        budget_refusals,
        hedge_times: env.rec.hedge_times.take(),
        states: all_states,
        health,
        health_threshold,
        load,
        per_second,
        trigger,
        service,
        service_total,
    }
}

/// Latency and goodput per phase group and for the whole run (see
/// [`ServiceFigures`]).
fn service_figures(
    env: &Env,
    phases: &[Phase],
    groups: &[&'static str],
    clients: u32,
) -> (Vec<ServiceFigures>, ServiceFigures) {
    let server = env.ds.server();
    // What the downstream could answer during each phase, in attempts.
    let limit = |p: &Phase| {
        let offered = offered_in(clients, p);
        let capacity = match &server {
            None => f64::INFINITY,
            Some(server) => mean_service(p.condition).map_or(0.0, |mean| {
                f64::from(server.workers_at(p.start)) * SEC as f64 / mean as f64
            }),
        };
        capacity.min(offered) * (p.end - p.start) as f64 / SEC as f64
    };
    let ok = env.rec.ok_by_end_phase.borrow();
    let mut latencies = env.rec.latencies.take();
    let mut admitted = env.rec.admitted_latencies.take();
    let figures =
        |members: &[usize], latencies: &mut [Vec<u64>], admitted: &mut [Vec<u64>]| ServiceFigures {
            latency: Latency::of(
                members
                    .iter()
                    .flat_map(|&i| latencies[i].iter().copied())
                    .collect(),
            ),
            admitted: Latency::of(
                members
                    .iter()
                    .flat_map(|&i| admitted[i].iter().copied())
                    .collect(),
            ),
            goodput: members.iter().map(|&i| ok[i]).sum(),
            limit: members.iter().map(|&i| limit(&phases[i])).sum(),
        };
    let per_group = groups
        .iter()
        .map(|label| {
            let members: Vec<usize> = (0..phases.len())
                .filter(|&i| phases[i].label == *label)
                .collect();
            figures(&members, &mut latencies, &mut admitted)
        })
        .collect();
    let all: Vec<usize> = (0..phases.len()).collect();
    let total = figures(&all, &mut latencies, &mut admitted);
    (per_group, total)
}

/// Calls per second the clients offer.
pub fn offered_load(clients: u32) -> f64 {
    f64::from(clients) * SEC as f64 / CALL_PERIOD as f64
}

/// The state in force at `t` (after every change made at or before `t`).
fn state_at(states: &[StateChange], t: u64) -> Mode {
    states
        .iter()
        .take_while(|c| c.at <= t)
        .last()
        .map_or(Mode::Closed, |c| c.state)
}

/// The first change into `target` in `[from, to)`.
fn first_change(states: &[StateChange], target: Mode, from: u64, to: u64) -> Option<&StateChange> {
    states
        .iter()
        .find(|c| c.at >= from && c.at < to && c.state == target)
}

fn before_trip(phases: &[Phase], states: &[StateChange], failures_by_end: &[u64]) -> BeforeTrip {
    let Some(i) = phases.iter().position(|p| p.condition == Condition::Outage) else {
        return BeforeTrip::NoOutage;
    };
    let outage = &phases[i];
    // The change made exactly at the start belongs to the time before it.
    if state_at(states, outage.start.saturating_sub(1)) != Mode::Closed {
        return BeforeTrip::NotClosed;
    }
    let before: u64 = failures_by_end[..i].iter().sum();
    match first_change(states, Mode::Open, outage.start, outage.end) {
        Some(trip) => BeforeTrip::Tripped(trip.failures_so_far - before),
        None => BeforeTrip::Never(failures_by_end[i]),
    }
}

fn mean(delays: &[u64], of: usize) -> Timing {
    Timing {
        mean_secs: (!delays.is_empty())
            .then(|| delays.iter().sum::<u64>() as f64 / delays.len() as f64 / SEC as f64),
        hit: delays.len(),
        of,
    }
}

fn to_open(phases: &[Phase], states: &[StateChange]) -> Timing {
    // Outages that begin with the breaker already open do not count.
    let outages: Vec<&Phase> = phases
        .iter()
        .filter(|p| p.condition == Condition::Outage && state_at(states, p.start) != Mode::Open)
        .collect();
    let delays: Vec<u64> = outages
        .iter()
        .filter_map(|p| first_change(states, Mode::Open, p.start, p.end).map(|c| c.at - p.start))
        .collect();
    mean(&delays, outages.len())
}

fn to_closed(phases: &[Phase], states: &[StateChange]) -> Timing {
    // Recoveries (a healthy phase right after an outage) that begin with the
    // breaker not closed; a breaker that never opened has nothing to recover from.
    let recoveries: Vec<&Phase> = phases
        .windows(2)
        .filter(|w| w[0].condition == Condition::Outage && w[1].condition == Condition::Healthy)
        .map(|w| &w[1])
        .filter(|p| state_at(states, p.start) != Mode::Closed)
        .collect();
    let delays: Vec<u64> = recoveries
        .iter()
        .filter_map(|p| {
            first_change(states, Mode::Closed, p.start, u64::MAX).map(|c| c.at - p.start)
        })
        .collect();
    mean(&delays, recoveries.len())
}

async fn client_loop(env: Rc<Env>, shared: Shared, phases: Rc<[Phase]>, client: u32, clients: u32) {
    for (index, t) in call_times(&phases, client, clients).enumerate() {
        let index = u32::try_from(index).expect("fits");
        env.sim.sleep_until(t).await;
        let call = CallId {
            client,
            index,
            phase: env.ds.phase_at(t),
            issued: t,
        };
        let e = Rc::clone(&env);
        match &shared {
            Shared::Naive(b) => env.sim.spawn(naive_call(e, Rc::clone(b), call)),
            Shared::Callbacks(b) => env.sim.spawn(callbacks_call(e, Rc::clone(b), call)),
            Shared::Layered(b) => env.sim.spawn(layered_call(e, Rc::clone(b), call)),
            Shared::Fusebox(g, _) => env.sim.spawn(fusebox_call(e, Rc::clone(g), call)),
            Shared::RetryOnly => env.sim.spawn(retry_only_call(e, call)),
        }
    }
}

async fn sample_health(env: Rc<Env>, guard: Rc<FuseCaller>, end: u64) {
    let mut t = 0;
    while t <= end {
        env.sim.sleep_until(t).await;
        let s = guard.breaker().snapshot();
        // Measured health only: in `Open` the snapshot keeps the health it tripped
        // at, which is history, not a measurement.
        let health = if s.state == State::Closed {
            s.health
        } else {
            None
        };
        env.rec.health.borrow_mut().push((t, health));
        t += SAMPLE_EVERY;
    }
}

/// One downstream attempt, begun now: its fate drawn from the script (with a
/// server, it joins the queue now) and counted as load and as an attempt of
/// `call` when this is called, not when the returned future is first polled;
/// the future waits out the attempt's latency (a timer) and records how it
/// ended. Dropping the future before then (the loser of a hedged call) leaves
/// the attempt begun: counted, and served by a server all the same, as a real
/// server serves a request whose client went away; only its answer is never
/// read, so it counts in no goodput and no failure.
fn attempt(
    env: &Env,
    call: CallId,
    number: u32,
    open: bool,
) -> impl Future<Output = Result<(), DownstreamError>> + '_ {
    let start = env.sim.now();
    let key = AttemptKey {
        client: call.client,
        call: call.index,
        attempt: number,
    };
    let (took, answer) = env.ds.attempt(key, start);
    {
        let mut per_phase = env.rec.per_phase.borrow_mut();
        let f = &mut per_phase[call.phase];
        f.attempts += 1;
        f.attempts_while_open += u64::from(open);
        let bucket = usize::try_from(start / LOAD_BUCKET).expect("fits");
        let mut load = env.rec.load.borrow_mut();
        if load.len() <= bucket {
            load.resize(bucket + 1, 0);
        }
        load[bucket] += 1;
    }
    async move {
        env.sim.sleep_until(start + took).await;
        if answer.is_ok() {
            let now = env.sim.now();
            let second = usize::try_from(now / SEC).expect("fits");
            bump(&mut env.rec.ok_by_end.borrow_mut(), second, 1);
            if now < env.end {
                env.rec.ok_by_end_phase.borrow_mut()[env.ds.phase_at(now)] += 1;
            }
        }
        if answer.is_err() {
            env.rec.per_phase.borrow_mut()[call.phase].failed_attempts += 1;
            env.rec.failures_by_end.borrow_mut()[env.ds.phase_at(env.sim.now())] += 1;
            // Relaxed: a counter in a single-threaded simulation.
            env.rec.failures.fetch_add(1, Ordering::Relaxed);
        }
        answer
    }
}

/// Call `call` ended with `outcome`, having made a downstream attempt or not
/// (`admitted`).
fn done(env: &Env, call: CallId, outcome: Outcome, wasted_sleep: u64, admitted: bool) {
    let latency = env.sim.now() - call.issued;
    env.rec.latencies.borrow_mut()[call.phase].push(latency);
    if admitted {
        env.rec.admitted_latencies.borrow_mut()[call.phase].push(latency);
    }
    let mut per_phase = env.rec.per_phase.borrow_mut();
    let f = &mut per_phase[call.phase];
    f.calls += 1;
    f.succeeded += u64::from(outcome == Outcome::Succeeded);
    f.rejected += u64::from(outcome == Outcome::Rejected);
    f.wasted_sleep += wasted_sleep;
    let second = usize::try_from(call.issued / SEC).expect("fits");
    let mut per_second = env.rec.per_second.borrow_mut();
    if per_second.len() <= second {
        per_second.resize(second + 1, (0, 0));
    }
    per_second[second].0 += 1;
    per_second[second].1 += u64::from(outcome == Outcome::Succeeded);
}

/// The baselines' backoff before retry `k`: the same distribution as fusebox's
/// `Jitter::Equal` exponential backoff (uniform in `[base/2, base]`), drawn per
/// call so every baseline sleeps the same for the same call.
fn backoff(seed: u64, call: CallId, k: u32) -> u64 {
    let grown = BACKOFF_INITIAL as f64 * BACKOFF_FACTOR.powi(k as i32 - 1);
    let base = (grown.min(BACKOFF_MAX as f64)) as u64;
    let half = base / 2;
    half + Draws::new(seed, &[0xBAC0, call.client, call.index, k]).between((0, base - half))
}

/// BASELINE `naive`: the naive design's `execute()`: gate, then the whole retry
/// loop (sleeps included) with no further look at the breaker, then one report.
async fn naive_call(env: Rc<Env>, breaker: Rc<NaiveBreaker>, call: CallId) {
    let Ok(view) = breaker.check_open_state(env.sim.now()) else {
        return done(&env, call, Outcome::Rejected, 0, false);
    };
    let mut ok = false;
    for number in 1..=MAX_ATTEMPTS {
        let open = breaker.state() == Mode::Open;
        ok = attempt(&env, call, number, open).await.is_ok();
        if ok || number == MAX_ATTEMPTS {
            break;
        }
        env.sim.backoff(backoff(env.seed, call, number)).await;
    }
    let now = env.sim.now();
    if ok {
        breaker.on_success(view, now);
        done(&env, call, Outcome::Succeeded, 0, true);
    } else {
        breaker.on_failure(view, now);
        done(&env, call, Outcome::Failed, 0, true);
    }
}

/// BASELINE `callbacks`: the naive design with per-attempt callbacks: the gate,
/// then per failed attempt `on_attempt_failure` → `_on_failure()`, `should_abort`
/// = state is `OPEN` (checked before sleeping), and `_on_success()` when an
/// attempt succeeds.
async fn callbacks_call(env: Rc<Env>, breaker: Rc<NaiveBreaker>, call: CallId) {
    if breaker.check_open_state(env.sim.now()).is_err() {
        return done(&env, call, Outcome::Rejected, 0, false);
    }
    for number in 1..=MAX_ATTEMPTS {
        // The caller's view of its attempt: the breaker as the attempt begins.
        let view = breaker.book().view();
        let open = breaker.state() == Mode::Open;
        let answer = attempt(&env, call, number, open).await;
        let now = env.sim.now();
        if answer.is_ok() {
            breaker.on_success(view, now);
            return done(&env, call, Outcome::Succeeded, 0, true);
        }
        breaker.on_failure(view, now);
        if number == MAX_ATTEMPTS || breaker.state() == Mode::Open {
            break;
        }
        env.sim.backoff(backoff(env.seed, call, number)).await;
    }
    done(&env, call, Outcome::Failed, 0, true)
}

/// BASELINE `layered`: a retry loop around a count-based breaker; each try asks
/// the breaker, and a rejection is one more retryable error.
async fn layered_call(env: Rc<Env>, breaker: Rc<SimpleBreaker>, call: CallId) {
    let mut outcome = Outcome::Rejected;
    let mut downstream_attempts = 0;
    let mut slept = 0;
    let mut wasted = 0;
    for number in 1..=MAX_ATTEMPTS {
        match breaker.acquire(env.sim.now()) {
            Err(()) => {
                wasted += slept;
                outcome = Outcome::Rejected;
            }
            Ok(view) => {
                downstream_attempts += 1;
                let answer = attempt(&env, call, downstream_attempts, false).await;
                breaker.record(view, answer.is_ok(), env.sim.now());
                if answer.is_ok() {
                    return done(&env, call, Outcome::Succeeded, wasted, true);
                }
                outcome = Outcome::Failed;
            }
        }
        if number == MAX_ATTEMPTS {
            break;
        }
        slept = backoff(env.seed, call, number);
        env.sim.backoff(slept).await;
    }
    done(&env, call, outcome, wasted, downstream_attempts > 0)
}

/// `retry-only`: the plain retry loop most services run: up to [`MAX_ATTEMPTS`]
/// attempts with the baselines' backoff (the same draws, call for call), no
/// breaker, no budget.
async fn retry_only_call(env: Rc<Env>, call: CallId) {
    for number in 1..=MAX_ATTEMPTS {
        if attempt(&env, call, number, false).await.is_ok() {
            return done(&env, call, Outcome::Succeeded, 0, true);
        }
        if number == MAX_ATTEMPTS {
            break;
        }
        env.sim.backoff(backoff(env.seed, call, number)).await;
    }
    done(&env, call, Outcome::Failed, 0, true)
}

/// One attempt of a call in flight, counted in the call's `in_flight` for as
/// long as its future lives (to its answer, or until it is dropped).
struct InFlight<'a>(&'a Cell<u32>);

impl<'a> InFlight<'a> {
    fn new(count: &'a Cell<u32>) -> Self {
        count.set(count.get() + 1);
        Self(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// `fusebox::Guard::call_async` (or `HedgedGuard::call_async`), shared by
/// every client. The operation may have two attempts of the call in flight at
/// once (a hedge beside the attempt it races): each is begun when the guard
/// calls it ([`attempt`]), and the one that loses is dropped.
async fn fusebox_call(env: Rc<Env>, guard: Rc<FuseCaller>, call: CallId) {
    let env_ref: &Env = &env;
    let breaker = guard.breaker();
    // When the call's latest attempt to end ended (a dropped loser never
    // does): a rejection after it was preceded by the backoff slept since.
    let ended = Cell::new(None::<u64>);
    // Downstream attempts the guard let this call make.
    let made = Cell::new(0u32);
    // This call's attempts in flight: one begun beside another is a hedge.
    let in_flight = Cell::new(0u32);
    let op = |a: Attempt| {
        made.set(made.get() + 1);
        if in_flight.get() > 0 {
            env_ref.rec.per_phase.borrow_mut()[call.phase].hedges += 1;
            env_ref.rec.hedge_times.borrow_mut().push(env_ref.sim.now());
        }
        let flying = InFlight::new(&in_flight);
        let open = breaker.snapshot().state == State::Open;
        // Begun here, when the guard asks for it, not when first polled.
        let pending = attempt(env_ref, call, a.number, open);
        let ended = &ended;
        async move {
            // Landed (or dropped, a loser) with this future.
            let _flying = flying;
            let answer = pending.await;
            ended.set(Some(env_ref.sim.now()));
            // The guard records right after this returns, in the same poll: if
            // the epoch moved on during the attempt, this outcome is late.
            if breaker.snapshot().epoch != a.epoch {
                env_ref.rec.late.set(env_ref.rec.late.get() + 1);
            }
            answer
        }
    };
    let result = match &*guard {
        FuseCaller::Plain(guard) => guard.call_async(op).await,
        FuseCaller::Hedged(hedged) => hedged.call_async(op).await,
    };
    let (outcome, wasted) = match result {
        Ok(()) => (Outcome::Succeeded, 0),
        // The backoff slept since the last attempt ended, then rejected (0 for
        // a fail-fast). The time since, not the sleeper's total: a hedged
        // call's sleeper also times its hedges, which are no backoff.
        Err(GuardError::Rejected { .. }) => (
            Outcome::Rejected,
            ended.get().map_or(0, |t| env.sim.now() - t),
        ),
        Err(GuardError::BudgetExhausted { .. }) => {
            env.rec
                .budget_refusals
                .set(env.rec.budget_refusals.get() + 1);
            (Outcome::Failed, 0)
        }
        Err(_) => (Outcome::Failed, 0),
    };
    done(&env, call, outcome, wasted, made.get() > 0);
}
