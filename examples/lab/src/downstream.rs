//! The scripted downstream: the scenarios' phases, and what one attempt does in each.
//!
//! In every scenario but `overload`, an attempt's fate is a pure function of the
//! seed, the attempt's identity (client, call, attempt number) and the phase it
//! starts in, so every strategy meets the same downstream: the same attempt of the
//! same call gets the same latency and the same answer whichever strategy makes it.
//! The downstream has no capacity limit there: load changes nothing.
//!
//! # The `overload` scenario: a server with a capacity
//!
//! In `overload` the downstream is a [`Server`]: `workers` identical workers fed
//! by one FIFO queue, without limit on its length (a G/G/N queue). An attempt's
//! *service time* is drawn exactly like a healthy answer's latency
//! ([`HEALTHY_LATENCY`], uniform 20–80 ms, mean 50 ms, a pure function of the
//! seed and the attempt's identity as above); its *response time* is the time it
//! waits in the queue plus its service time. An attempt whose response time
//! exceeds [`ATTEMPT_TIMEOUT`] fails at the timeout, as every other timeout in the
//! lab; **the server does not know the client gave up**: the attempt stays in the
//! queue and a worker still serves it, spending capacity on an answer nobody
//! reads. The capacity is `workers / 50 ms` attempts per second.
//!
//! The lab sizes the server from the offered load (see [`server_size`]):
//! [`CAPACITY_HEADROOM`] times the offered calls per second (1.5: utilisation 67 %
//! when healthy, a common provisioning target). The trigger is a 10 s drop to
//! [`TRIGGER_CAPACITY`] of the workers (40 %: say 3 of 5 replicas lost, or a
//! noisy neighbour); in-flight work finishes, and new work waits until fewer than
//! the remaining workers are busy. Then every worker is back.
//!
//! Here the downstream is *stateful*: the queue an attempt meets depends on the
//! strategy's own load, so every strategy's run has its own server, starting
//! empty. What does not depend on the strategy is each attempt's service time.

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
/// `overload`: the server's capacity as a multiple of the offered load.
pub const CAPACITY_HEADROOM: f64 = 1.5;
/// `overload`: the share of the workers left during the trigger.
pub const TRIGGER_CAPACITY: f64 = 0.4;

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
    /// Answers like `Healthy`, but a capacity-limited server runs with
    /// [`TRIGGER_CAPACITY`] of its workers (the `overload` scenario's trigger).
    CapacityDrop,
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
}

impl Scenario {
    /// Every scenario, in the order `--help` lists them.
    pub const ALL: [Scenario; 4] = [
        Scenario::Default,
        Scenario::Flapping,
        Scenario::BrownoutOnly,
        Scenario::Overload,
    ];

    /// The name `--scenario` takes.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Default => "default",
            Scenario::Flapping => "flapping",
            Scenario::BrownoutOnly => "brownout-only",
            Scenario::Overload => "overload",
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

    /// Whether the downstream is a capacity-limited [`Server`].
    pub fn has_server(self) -> bool {
        self == Scenario::Overload
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
    /// answer. With a server, the attempt joins its queue: attempts must be made
    /// in the order of their start times (the simulation's order).
    pub fn attempt(&self, key: AttemptKey, start: u64) -> (u64, Result<(), DownstreamError>) {
        let mut rng = Draws::new(self.seed, &[0xA77E, key.client, key.call, key.attempt]);
        let healthy = |rng: &mut Draws| rng.between(HEALTHY_LATENCY);
        let condition = self.phases[self.phase_at(start)].condition;
        if let Some(server) = &self.server {
            // Only answering conditions are scripted with a server.
            debug_assert!(matches!(
                condition,
                Condition::Healthy | Condition::CapacityDrop
            ));
            let response = server.borrow_mut().admit(start, healthy(&mut rng));
            return if response > ATTEMPT_TIMEOUT {
                (ATTEMPT_TIMEOUT, Err(DownstreamError::Timeout))
            } else {
                (response, Ok(()))
            };
        }
        match condition {
            // Without a server, a capacity drop changes nothing.
            Condition::Healthy | Condition::CapacityDrop => (healthy(&mut rng), Ok(())),
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
        }
    }
}

/// The `overload` server's size for `offered` calls per second: `(workers,
/// workers during the trigger)`, so that the capacity is [`CAPACITY_HEADROOM`]
/// times the offered load (64 clients: 48 workers, 960 attempts/s) and
/// [`TRIGGER_CAPACITY`] of it during the trigger (19 workers, 380 attempts/s),
/// each at least 1.
pub fn server_size(offered: f64) -> (u32, u32) {
    let mean_service = (HEALTHY_LATENCY.0 + HEALTHY_LATENCY.1) as f64 / 2.0 / SEC as f64;
    let workers = (offered * CAPACITY_HEADROOM * mean_service)
        .round()
        .max(1.0);
    let trigger = (workers * TRIGGER_CAPACITY).round().max(1.0);
    (workers as u32, trigger as u32)
}

/// The `overload` scenario's server: identical workers fed by one unbounded FIFO
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
