//! The scripted downstream: the scenarios' phases, and what one attempt does in each.
//!
//! An attempt's fate is a pure function of the seed, the attempt's identity
//! (client, call, attempt number) and the phase it starts in, so every strategy
//! meets the same downstream: the same attempt of the same call gets the same
//! latency and the same answer whichever strategy makes it.

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
}

impl Scenario {
    /// Every scenario, in the order `--help` lists them.
    pub const ALL: [Scenario; 3] = [
        Scenario::Default,
        Scenario::Flapping,
        Scenario::BrownoutOnly,
    ];

    /// The name `--scenario` takes.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Default => "default",
            Scenario::Flapping => "flapping",
            Scenario::BrownoutOnly => "brownout-only",
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

/// The downstream: a seed and a timeline.
#[derive(Clone, Debug)]
pub struct Downstream {
    seed: u64,
    phases: Vec<Phase>,
}

impl Downstream {
    /// The downstream of `phases`, randomised by `seed`.
    pub fn new(seed: u64, phases: Vec<Phase>) -> Self {
        Self { seed, phases }
    }

    /// The index of the phase that time `t` falls in (the last one after the end).
    pub fn phase_at(&self, t: u64) -> usize {
        self.phases
            .iter()
            .position(|p| t < p.end)
            .unwrap_or(self.phases.len() - 1)
    }

    /// What the attempt `key` started at `start` does: how long it takes, and its
    /// answer.
    pub fn attempt(&self, key: AttemptKey, start: u64) -> (u64, Result<(), DownstreamError>) {
        let mut rng = Draws::new(self.seed, &[0xA77E, key.client, key.call, key.attempt]);
        let healthy = |rng: &mut Draws| rng.between(HEALTHY_LATENCY);
        match self.phases[self.phase_at(start)].condition {
            Condition::Healthy => (healthy(&mut rng), Ok(())),
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
