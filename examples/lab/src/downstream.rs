//! The scripted downstream: the scenarios' phases, and what one attempt does in each.
//!
//! Without a server (the scenarios `default`, `flapping`, `brownout-only` and
//! `tail`, unless `--capacity` gives them one), an attempt's fate is a pure function of
//! the seed, the attempt's identity (client, call, attempt number) and the phase
//! it starts in, so every strategy meets the same downstream: the same attempt of
//! the same call gets the same latency and the same answer whichever strategy
//! makes it. The downstream has no capacity limit there: load changes nothing.
//!
//! # A server with a capacity
//!
//! With a server (the scenarios `overload`, `overload-long` and `spike`, and any
//! scenario run with `--capacity X`) the downstream is a [`Server`]: `workers`
//! identical workers fed by one FIFO queue, without limit on its length (a
//! G/G/N queue). An attempt's *service time* is drawn like an answer's latency
//! without a server (a pure function of the seed and the attempt's identity, as
//! above); its *response time* is the time it waits in the queue plus its
//! service time. An attempt whose response time exceeds [`ATTEMPT_TIMEOUT`]
//! fails at the timeout, as every other timeout in the lab; **the server does not
//! know the client gave up**: the attempt stays in the queue and a worker still
//! serves it, spending capacity on an answer nobody reads.
//!
//! What each [`Condition`] means with a server:
//!
//! - `Healthy`: service time from [`HEALTHY_LATENCY`] (uniform 20–80 ms, mean
//!   50 ms); the attempt succeeds if answered within the timeout.
//! - `CapacityDrop`: as `Healthy`, served by the scenario's trigger share of the
//!   workers ([`Scenario::trigger_share`]: 40 % in `overload`, 50 % in
//!   `overload-long`); in-flight work finishes, and new work waits until fewer
//!   than the remaining workers are busy. Then every worker is back.
//! - `LoadSpike`: as `Healthy`, every worker in place; the clients issue their
//!   calls [`SPIKE_LOAD`] times as often (the lab's client side).
//! - `Brownout`: service time from [`HEALTHY_LATENCY`]; [`BROWNOUT_FAILURE_RATE`]
//!   of the attempts (the same per-attempt draw as without a server) fail fast
//!   (a 503) at the end of their service, if that is within the timeout.
//! - `Slow`: service time from [`SLOW_LATENCY`] (700–1700 ms); the attempt fails
//!   at the timeout if its response time (wait + service) exceeds it, and the
//!   worker still serves it to the end.
//! - `Outage`: the server answers nothing and holds no worker: every attempt
//!   fails at the timeout, as without a server.
//! - `Tail`: as `Healthy`, but [`TAIL_SHARE`] of the attempts (the same
//!   per-attempt draw as without a server) need [`TAIL_FACTOR`] times their
//!   drawn service time (200–800 ms), holding their worker that long.
//!
//! The capacity in attempts per second is `workers` divided by the mean service
//! time of the condition ([`mean_service`]: 50 ms, 1.2 s when slow, 59 ms with
//! the tail, none in an outage). The server's size does not follow the tail:
//! `--capacity X` gives the same workers in `tail` as elsewhere (sized on the
//! 50 ms mean), so a 1.5x server has about 1.27 times what the tail's load needs.
//!
//! # The tail
//!
//! The `tail` scenario is a healthy downstream with a latency tail: each attempt
//! draws its latency from [`HEALTHY_LATENCY`] as in `Healthy`, then, with
//! probability [`TAIL_SHARE`] (2 %), takes [`TAIL_FACTOR`] (10) times as long,
//! 200–800 ms, still within the timeout. Both draws are the attempt's own (a
//! pure function of the seed and the attempt's identity), so every strategy
//! meets the same slow attempts. It is there to measure the tail: p99 and p99.9
//! call latency, and the attempts per call a hedging strategy would spend.
//!
//! The lab sizes the server from the offered load (see [`server_size`]): `X`
//! times the offered calls per second, `X` being `--capacity` or the scenario's
//! own ([`Scenario::default_capacity`]): [`CAPACITY_HEADROOM`] (1.5: utilisation
//! 67 % when healthy, a common provisioning target) in `overload` and `spike`,
//! [`LONG_CAPACITY_HEADROOM`] (1.1: a tightly provisioned server) in
//! `overload-long`. The `overload` trigger is a 10 s drop to
//! [`TRIGGER_CAPACITY`] of the workers (40 %: say 3 of 5 replicas lost, or a
//! noisy neighbour); the `overload-long` trigger a 30 s drop to
//! [`LONG_TRIGGER_CAPACITY`] (half); the `spike` trigger is 10 s of
//! [`SPIKE_LOAD`] times the offered load, with every worker in place (the two
//! trigger types of the metastable-failure studies).
//!
//! Here the downstream is *stateful*: the queue an attempt meets depends on the
//! strategy's own load, so every strategy's run has its own server, starting
//! empty. What does not depend on the strategy is each attempt's service time
//! (and, in a brownout, whether it fails).

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One millisecond of virtual time, in nanoseconds.
pub const MS: u64 = 1_000_000;
/// One second of virtual time, in nanoseconds.
pub const SEC: u64 = 1_000 * MS;

/// Every attempt is cut off after this long and counts as a failure (a timeout).
pub const ATTEMPT_TIMEOUT: u64 = SEC;
/// Latency of a healthy answer: uniform in this range.
pub const HEALTHY_LATENCY: (u64, u64) = (20 * MS, 80 * MS);
/// Share of attempts that fail (fast, like a 503) during a brownout.
pub const BROWNOUT_FAILURE_RATE: f64 = 0.3;
/// Latency during the slow period: uniform in this range, so 70 % of attempts run
/// past `ATTEMPT_TIMEOUT` and fail at it, and the rest succeed, slowly.
pub const SLOW_LATENCY: (u64, u64) = (700 * MS, 1_700 * MS);
/// `overload` and `spike`: the server's capacity as a multiple of the offered
/// load.
pub const CAPACITY_HEADROOM: f64 = 1.5;
/// `overload`: the share of the workers left during the trigger.
pub const TRIGGER_CAPACITY: f64 = 0.4;
/// `overload-long`: the server's capacity as a multiple of the offered load.
pub const LONG_CAPACITY_HEADROOM: f64 = 1.1;
/// `overload-long`: the share of the workers left during the trigger.
pub const LONG_TRIGGER_CAPACITY: f64 = 0.5;
/// `spike`: the offered load during the trigger, as a multiple of the normal one.
pub const SPIKE_LOAD: f64 = 2.5;
/// `tail`: the share of attempts that are slow…
pub const TAIL_SHARE: f64 = 0.02;
/// …and how many times their drawn healthy latency they take.
pub const TAIL_FACTOR: u64 = 10;

/// What the downstream is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// Answers every attempt quickly.
    Healthy,
    /// Answers nothing: every attempt fails at the timeout.
    Outage,
    /// `BROWNOUT_FAILURE_RATE` of attempts fail fast; the rest succeed.
    Brownout,
    /// Answers slowly: most attempts time out.
    Slow,
    /// Answers like `Healthy`, but a capacity-limited server runs with the
    /// scenario's trigger share of its workers ([`Scenario::trigger_share`]; the
    /// trigger of `overload` and `overload-long`).
    CapacityDrop,
    /// Answers like `Healthy`, but the clients issue their calls [`SPIKE_LOAD`]
    /// times as often (the trigger of `spike`).
    LoadSpike,
    /// Answers like `Healthy`, but [`TAIL_SHARE`] of the attempts take
    /// [`TAIL_FACTOR`] times as long (the `tail` scenario).
    Tail,
}

impl Condition {
    /// Whether this is a trigger: a capacity drop or a load spike.
    pub fn is_trigger(self) -> bool {
        matches!(self, Condition::CapacityDrop | Condition::LoadSpike)
    }
}

/// One stretch of the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    /// Phases with the same label are reported together.
    pub label: &'static str,
    /// What the downstream does during it.
    pub condition: Condition,
    /// Start, in virtual nanoseconds.
    pub start: u64,
    /// End (exclusive).
    pub end: u64,
}

/// A scripted timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// healthy → outage → recovery → brownout → slow → healthy.
    Default,
    /// Short outages alternating with short recoveries.
    Flapping,
    /// A long 30 % brownout between two healthy stretches.
    BrownoutOnly,
    /// A capacity-limited server: a 10 s capacity drop triggers an overload,
    /// then the capacity is back (see the module documentation).
    Overload,
    /// A capacity-limited server: a 10 s load spike (the clients call
    /// [`SPIKE_LOAD`] times as often) triggers an overload; the capacity does not
    /// drop.
    Spike,
    /// A tightly sized server ([`LONG_CAPACITY_HEADROOM`]) that loses half its
    /// workers for 30 s.
    OverloadLong,
    /// A healthy downstream with a latency tail: [`TAIL_SHARE`] of the attempts
    /// take [`TAIL_FACTOR`] times as long (see the module documentation).
    Tail,
}

impl Scenario {
    /// Every scenario, in the order `--help` lists them.
    pub const ALL: [Scenario; 7] = [
        Scenario::Default,
        Scenario::Flapping,
        Scenario::BrownoutOnly,
        Scenario::Overload,
        Scenario::Spike,
        Scenario::OverloadLong,
        Scenario::Tail,
    ];

    /// The name `--scenario` takes.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Default => "default",
            Scenario::Flapping => "flapping",
            Scenario::BrownoutOnly => "brownout-only",
            Scenario::Overload => "overload",
            Scenario::Spike => "spike",
            Scenario::OverloadLong => "overload-long",
            Scenario::Tail => "tail",
        }
    }

    /// The scenario called `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// What the scenario does, in a few words.
    pub fn summary(self) -> &'static str {
        match self {
            Scenario::Default => {
                "healthy 20 s, outage 30 s, recovery 20 s, brownout 30 s, slow 20 s, healthy 20 s"
            }
            Scenario::Flapping => {
                "healthy 20 s, then 8 x (outage 3 s, recovery 5 s), then healthy 20 s"
            }
            Scenario::BrownoutOnly => "healthy 20 s, brownout 60 s, healthy 20 s",
            Scenario::Overload => {
                "healthy 20 s, trigger 10 s (capacity drops to 40 %), after trigger 30 s \
                 (capacity back)"
            }
            Scenario::Spike => {
                "healthy 20 s, trigger 10 s (2.5x the offered load), after trigger 30 s \
                 (the load back to normal)"
            }
            Scenario::OverloadLong => {
                "healthy 20 s, trigger 30 s (capacity drops to 50 %), after trigger 30 s \
                 (capacity back)"
            }
            Scenario::Tail => {
                "warm-up 10 s, steady 50 s; healthy throughout, but 2 % of attempts take 10x \
                 as long (200-800 ms)"
            }
        }
    }

    /// The timeline, as consecutive phases starting at 0.
    pub fn phases(self) -> Vec<Phase> {
        use Condition::*;
        let script: Vec<(&'static str, Condition, u64)> = match self {
            Scenario::Default => vec![
                ("healthy", Healthy, 20),
                ("outage", Outage, 30),
                ("recovery", Healthy, 20),
                ("brownout", Brownout, 30),
                ("slow", Slow, 20),
                ("healthy again", Healthy, 20),
            ],
            Scenario::Flapping => {
                let mut s = vec![("healthy", Healthy, 20)];
                for i in 0..8 {
                    s.push(("outage", Outage, 3));
                    if i < 7 {
                        s.push(("recovery", Healthy, 5));
                    }
                }
                s.push(("healthy again", Healthy, 20));
                s
            }
            Scenario::BrownoutOnly => vec![
                ("healthy", Healthy, 20),
                ("brownout", Brownout, 60),
                ("healthy again", Healthy, 20),
            ],
            Scenario::Overload => vec![
                ("healthy", Healthy, 20),
                ("trigger", CapacityDrop, 10),
                // Not "healthy again": the capacity is back, but whether the
                // downstream is healthy depends on the strategy's own load.
                ("after trigger", Healthy, 30),
            ],
            Scenario::Spike => vec![
                ("healthy", Healthy, 20),
                ("trigger", LoadSpike, 10),
                ("after trigger", Healthy, 30),
            ],
            Scenario::OverloadLong => vec![
                ("healthy", Healthy, 20),
                ("trigger", CapacityDrop, 30),
                ("after trigger", Healthy, 30),
            ],
            // One condition throughout; the warm-up is reported apart so that
            // `steady` is free of whatever a strategy learns at first (a latency
            // estimate, a concurrency limit).
            Scenario::Tail => vec![("warm-up", Tail, 10), ("steady", Tail, 50)],
        };
        let mut start = 0;
        script
            .into_iter()
            .map(|(label, condition, secs)| {
                let end = start + secs * SEC;
                let phase = Phase {
                    label,
                    condition,
                    start,
                    end,
                };
                start = end;
                phase
            })
            .collect()
    }

    /// The capacity of the scenario's own [`Server`], as a multiple of the
    /// offered load; `None`: without `--capacity`, the scenario's downstream has
    /// no server.
    pub fn default_capacity(self) -> Option<f64> {
        match self {
            Scenario::Overload | Scenario::Spike => Some(CAPACITY_HEADROOM),
            Scenario::OverloadLong => Some(LONG_CAPACITY_HEADROOM),
            Scenario::Default | Scenario::Flapping | Scenario::BrownoutOnly | Scenario::Tail => {
                None
            }
        }
    }

    /// The share of a server's workers left during a [`Condition::CapacityDrop`]
    /// (1 in a scenario without one).
    pub fn trigger_share(self) -> f64 {
        match self {
            Scenario::Overload => TRIGGER_CAPACITY,
            Scenario::OverloadLong => LONG_TRIGGER_CAPACITY,
            _ => 1.0,
        }
    }
}

/// Why an attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownstreamError {
    /// No answer within `ATTEMPT_TIMEOUT`.
    Timeout,
    /// A fast error answer (a 503).
    Unavailable,
}

/// Which attempt: the same key gets the same fate in every strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptKey {
    /// The client.
    pub client: u32,
    /// The client's call number.
    pub call: u32,
    /// 1 for the call's first downstream attempt.
    pub attempt: u32,
}

/// The downstream: a seed, a timeline and, in `overload`, a server.
#[derive(Clone, Debug)]
pub struct Downstream {
    seed: u64,
    phases: Vec<Phase>,
    server: Option<RefCell<Server>>,
}

impl Downstream {
    /// The downstream of `phases`, randomised by `seed`, without a capacity limit.
    pub fn new(seed: u64, phases: Vec<Phase>) -> Self {
        Self {
            seed,
            phases,
            server: None,
        }
    }

    /// The downstream of `phases` served by `workers` workers, and by
    /// `trigger_workers` during [`Condition::CapacityDrop`] phases; it starts
    /// empty.
    pub fn with_server(seed: u64, phases: Vec<Phase>, workers: u32, trigger_workers: u32) -> Self {
        let mut schedule = Vec::new();
        for p in &phases {
            let n = if p.condition == Condition::CapacityDrop {
                trigger_workers
            } else {
                workers
            };
            if schedule.last().is_none_or(|&(_, last)| last != n) {
                schedule.push((p.start, n));
            }
        }
        Self {
            seed,
            phases,
            server: Some(RefCell::new(Server::new(schedule))),
        }
    }

    /// The server, if this downstream has one.
    pub fn server(&self) -> Option<std::cell::Ref<'_, Server>> {
        self.server.as_ref().map(RefCell::borrow)
    }

    /// The index of the phase that time `t` falls in (the last one after the end).
    pub fn phase_at(&self, t: u64) -> usize {
        self.phases
            .iter()
            .position(|p| t < p.end)
            .unwrap_or(self.phases.len() - 1)
    }

    /// What the attempt `key` started at `start` does: how long it takes, and its
    /// answer. With a server, the attempt joins its queue (unless the server is
    /// out): attempts must be made in the order of their start times (the
    /// simulation's order).
    pub fn attempt(&self, key: AttemptKey, start: u64) -> (u64, Result<(), DownstreamError>) {
        let mut rng = Draws::new(self.seed, &[0xA77E, key.client, key.call, key.attempt]);
        let healthy = |rng: &mut Draws| rng.between(HEALTHY_LATENCY);
        // The healthy draw, then whether this attempt is in the tail: a second
        // draw, so the healthy ones keep the latency they would have had.
        let tail = |rng: &mut Draws| {
            let latency = healthy(rng);
            if rng.unit() < TAIL_SHARE {
                latency * TAIL_FACTOR
            } else {
                latency
            }
        };
        let condition = self.phases[self.phase_at(start)].condition;
        if let Some(server) = &self.server {
            // The same draws, in the same order, as without a server.
            let (service, answer) = match condition {
                Condition::Outage => return (ATTEMPT_TIMEOUT, Err(DownstreamError::Timeout)),
                Condition::Healthy | Condition::CapacityDrop | Condition::LoadSpike => {
                    (healthy(&mut rng), Ok(()))
                }
                Condition::Brownout => {
                    let service = healthy(&mut rng);
                    if rng.unit() < BROWNOUT_FAILURE_RATE {
                        (service, Err(DownstreamError::Unavailable))
                    } else {
                        (service, Ok(()))
                    }
                }
                Condition::Slow => (rng.between(SLOW_LATENCY), Ok(())),
                Condition::Tail => (tail(&mut rng), Ok(())),
            };
            let response = server.borrow_mut().admit(start, service);
            return if response > ATTEMPT_TIMEOUT {
                (ATTEMPT_TIMEOUT, Err(DownstreamError::Timeout))
            } else {
                (response, answer)
            };
        }
        match condition {
            // Without a server, a capacity drop or a load spike changes nothing.
            Condition::Healthy | Condition::CapacityDrop | Condition::LoadSpike => {
                (healthy(&mut rng), Ok(()))
            }
            Condition::Outage => (ATTEMPT_TIMEOUT, Err(DownstreamError::Timeout)),
            Condition::Brownout => {
                let latency = healthy(&mut rng);
                if rng.unit() < BROWNOUT_FAILURE_RATE {
                    (latency, Err(DownstreamError::Unavailable))
                } else {
                    (latency, Ok(()))
                }
            }
            Condition::Slow => {
                let latency = rng.between(SLOW_LATENCY);
                if latency > ATTEMPT_TIMEOUT {
                    (ATTEMPT_TIMEOUT, Err(DownstreamError::Timeout))
                } else {
                    (latency, Ok(()))
                }
            }
            // At most 800 ms: within the timeout.
            Condition::Tail => (tail(&mut rng), Ok(())),
        }
    }
}

/// The mean of a uniform range, in nanoseconds.
fn mean_of((lo, hi): (u64, u64)) -> u64 {
    (lo + hi) / 2
}

/// A server's mean service time under `condition`, in nanoseconds; `None` in an
/// outage, where the server serves nothing. The capacity in attempts per second
/// is the workers in force divided by it.
pub fn mean_service(condition: Condition) -> Option<u64> {
    match condition {
        Condition::Healthy
        | Condition::CapacityDrop
        | Condition::LoadSpike
        | Condition::Brownout => Some(mean_of(HEALTHY_LATENCY)),
        Condition::Slow => Some(mean_of(SLOW_LATENCY)),
        // The healthy mean, TAIL_FACTOR times as long for TAIL_SHARE of the
        // attempts: 59 ms.
        Condition::Tail => Some(
            (mean_of(HEALTHY_LATENCY) as f64 * (1.0 + TAIL_SHARE * (TAIL_FACTOR - 1) as f64))
                .round() as u64,
        ),
        Condition::Outage => None,
    }
}

/// A server's size for `offered` calls per second: `(workers, workers during a
/// capacity drop)`, so that the capacity when healthy is `capacity` times the
/// offered load (workers = offered × capacity × the mean healthy service time,
/// rounded) and `trigger_share` of it during a capacity drop (rounded), each at
/// least 1. `overload` (64 clients, 1.5, 40 %): 48 workers (960 attempts/s) and
/// 19 (380/s); `overload-long` (1.1, 50 %): 35 (700/s) and 18 (360/s).
pub fn server_size(offered: f64, capacity: f64, trigger_share: f64) -> (u32, u32) {
    let mean = mean_of(HEALTHY_LATENCY) as f64 / SEC as f64;
    let workers = (offered * capacity * mean)
        .round()
        .clamp(1.0, f64::from(u32::MAX));
    let trigger = (workers * trigger_share).round().clamp(1.0, workers);
    (workers as u32, trigger as u32)
}

/// The server: identical workers fed by one unbounded FIFO
/// queue, their number following a schedule.
///
/// An attempt's start of service is decided when it arrives, since FIFO order and
/// non-preemptive service make it depend only on earlier arrivals and on the
/// schedule: it starts at the first moment, no earlier than its arrival nor the
/// previous attempt's start, when fewer workers are busy than the schedule
/// allows. Busy workers are the finish times of started attempts; a worker taken
/// away by the schedule finishes its attempt first.
#[derive(Clone, Debug)]
pub struct Server {
    /// `(from, workers)`, by time: `workers` in force from `from`.
    schedule: Vec<(u64, u32)>,
    /// Finish times of started attempts still busy at `last_start`.
    busy: BinaryHeap<Reverse<u64>>,
    /// When the latest attempt started (FIFO: the next starts no earlier).
    last_start: u64,
    /// The longest queueing delay of the attempts arriving in each second.
    waits: Vec<u64>,
}

impl Server {
    fn new(schedule: Vec<(u64, u32)>) -> Self {
        Self {
            schedule,
            busy: BinaryHeap::new(),
            last_start: 0,
            waits: Vec::new(),
        }
    }

    /// Workers in force at `t`.
    pub fn workers_at(&self, t: u64) -> u32 {
        self.schedule
            .iter()
            .take_while(|(from, _)| *from <= t)
            .last()
            .map_or(0, |&(_, n)| n)
    }

    /// The first schedule change after `t`.
    fn next_change(&self, t: u64) -> Option<u64> {
        self.schedule
            .iter()
            .map(|&(from, _)| from)
            .find(|&from| from > t)
    }

    /// Queue an attempt arriving at `arrival` that needs `service` of a worker;
    /// returns its response time (queueing delay plus service). Arrivals must come
    /// in time order.
    pub fn admit(&mut self, arrival: u64, service: u64) -> u64 {
        let mut at = arrival.max(self.last_start);
        loop {
            // Attempts done by `at` free their workers for good: later arrivals
            // start no earlier than `at`.
            while self.busy.peek().is_some_and(|Reverse(f)| *f <= at) {
                self.busy.pop();
            }
            let allowed = usize::try_from(self.workers_at(at)).unwrap_or(usize::MAX);
            if self.busy.len() < allowed {
                break;
            }
            // Wait for a worker to finish, or for more workers, whichever is first.
            let finish = self.busy.peek().map_or(u64::MAX, |Reverse(f)| *f);
            let more = self.next_change(at).unwrap_or(u64::MAX);
            at = finish.min(more);
            assert!(at != u64::MAX, "a server with no worker, ever");
        }
        self.last_start = at;
        self.busy.push(Reverse(at + service));
        let second = usize::try_from(arrival / SEC).expect("fits");
        if self.waits.len() <= second {
            self.waits.resize(second + 1, 0);
        }
        self.waits[second] = self.waits[second].max(at - arrival);
        at - arrival + service
    }

    /// The longest queueing delay of the attempts that arrived in each second
    /// (0 for a second without arrivals).
    pub fn waits(&self) -> &[u64] {
        &self.waits
    }
}

/// A tiny deterministic generator (splitmix64) keyed by a seed and a few integers,
/// so that any strategy can draw "the" random numbers of a given event without
/// sharing a stream with the others.
#[derive(Clone, Debug)]
pub struct Draws(u64);

impl Draws {
    /// The draws of the event named by `key` under `seed`.
    pub fn new(seed: u64, key: &[u32]) -> Self {
        let mut state = splitmix(seed);
        for &k in key {
            state = splitmix(state ^ u64::from(k));
        }
        Self(state)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix(self.0)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi]`.
    pub fn between(&mut self, (lo, hi): (u64, u64)) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
