//! The maintainers' targets for `fusebox-default` (`--targets`): every scenario at
//! [`SEEDS`], and every scenario once more with `--capacity` [`CAPACITY`], each
//! target with the value measured and PASS or FAIL. A report, not a test: the lab
//! exits successfully whatever it finds.
//!
//! The targets, for the `fusebox-default` strategy (success = call success rate
//! of the calls issued in the phase group; failed attempts per call = failed
//! downstream attempts / calls; goodput share, latency: see
//! [`ServiceFigures`](super::ServiceFigures)):
//!
//! - every `healthy` and `healthy again` group: success ≥ 99.5 %;
//! - in the scenarios without a server (`default`, `flapping`,
//!   `brownout-only`): `brownout` success ≥ 95 %; whole-run success within 8
//!   points of the best strategy's; no strategy both more successful and cheaper
//!   (fewer whole-run attempts per call) than `fusebox-default`;
//! - `default`: `outage` failed attempts per call ≤ 0.05; `recovery` success
//!   ≥ 97 % (`flapping` keeps its own recovery target, below: its outages are
//!   3 s long, shorter than a breaker's detection and open period together);
//! - `brownout` (in `default` and `brownout-only`): success ≥ 85 %. (Until the
//!   concurrency limit, also ≤ 1.25 attempts per call: the budget's fixed ratio.
//!   With the limit, fast failures at flat latency are headroom, and retries go
//!   beyond the ratio up to the retry policy's attempts, like plain retry's; the
//!   cost bound is now "no strategy both more successful and cheaper".)
//! - `slow` (`default`): success ≥ 20 % with failed attempts per call ≤ 0.6
//!   (two rows);
//! - `flapping`: `recovery` success ≥ 75 %;
//! - `overload`: `retry-only` does not recover within the scenario; fusebox-default
//!   recovers within 5 s of the trigger's end, and at once (0 s); its goodput
//!   during the trigger is the highest of all strategies (a tie counts as
//!   highest: none is higher) and at least 90 % of the reduced capacity; its
//!   whole-run success ≥ 92 %;
//! - `spike` and `overload-long`: goodput during the trigger ≥ 90 % of the
//!   capacity (the goodput share of the `trigger` group); the p99 latency of the
//!   admitted calls issued during the trigger ≤ 2 × that of the `healthy` group;
//!   recovery within 1 s of the trigger's end; `retry-only`'s recovery is shown
//!   beside it as a reference line (INFO, not a target);
//! - whole-run success ≥ 60 % in `default`, and above `layered` and
//!   `callbacks` (strictly) in every scenario;
//! - every scenario with `--capacity 1.5`: the highest whole-run success of all
//!   strategies (a tie counts as highest). `overload` and `spike` have that
//!   server of their own: their plain runs are reused. Not `tail`, below.
//!
//! `tail` (a healthy downstream with a latency tail) has no target for
//! `fusebox-default` yet, only an INFO line with its `warm-up` and `steady`
//! success: the healthy groups' 99.5 % would fail today. Every strategy
//! without a concurrency limit succeeds on every call there; the fusebox
//! strategies' adaptive limit takes the slow attempts for a queue and refuses
//! calls (`LimitReached`): at seed 42, 0.18 % of the `steady` calls, at seed
//! 7, 38 % of the `warm-up`'s. The scenario's own targets are the hedging
//! strategy's, below.
//!
//! # `fusebox-hedge`
//!
//! [`hedge_checks`] holds the tail targets of the hedging issue, for the
//! strategy named [`HEDGE`] against `fusebox-default` (inactive, with one INFO
//! line, in a run without such a strategy):
//!
//! - `tail`: the `steady` p99 and p99.9 call latency at most a fifth of
//!   `fusebox-default`'s ([`HEDGE_SPEEDUP`]), for at most 5 % more attempts
//!   per call ([`HEDGE_EXTRA_ATTEMPTS`]);
//! - `tail --capacity 1.5` (or any server) and `overload`: goodput at least
//!   99 % of `fusebox-default`'s ([`HEDGE_GOODPUT`]; "within 1 %", more is no
//!   fault) and attempts per call at most 5 % above its — during the trigger
//!   in `overload` (goodput: successes per second of trigger), in the `steady`
//!   phase in `tail`, which has no trigger (goodput: successful attempts);
//! - `default` (no server): in the `outage`, a dead downstream, attempts per
//!   call no more than `fusebox-default`'s.

use super::report::{WIDTH, wrap};
use super::{Config, Report, Scenario, Strategy, run};
use std::fmt::Write;

/// Where the seeds' cells start on their line.
const CELLS_INDENT: usize = 4;
/// The width of a seed's column: three fit in [`WIDTH`].
const CELL: usize = (WIDTH - CELLS_INDENT) / 3;

/// The seeds every scenario runs at.
pub const SEEDS: [u64; 3] = [42, 7, 1234];

/// The `--capacity` every scenario also runs with.
pub const CAPACITY: f64 = 1.5;

/// The strategy the targets are for.
pub const STRATEGY: Strategy = Strategy::FuseboxDefault;

/// The name of the hedging strategy the tail targets ([`hedge_checks`]) are
/// for; they wait until the lab has a strategy of this name.
pub const HEDGE: &str = "fusebox-hedge";

/// In `tail`: the hedging strategy's `steady` p99 and p99.9 at most
/// `fusebox-default`'s divided by this…
pub const HEDGE_SPEEDUP: u64 = 5;

/// …for at most this share more attempts per call than `fusebox-default`
/// (also the bound on the attempts per call in `overload`'s trigger and
/// `tail`'s `steady` phase on a server).
pub const HEDGE_EXTRA_ATTEMPTS: f64 = 0.05;

/// On a server (`tail --capacity 1.5`, `overload`): the hedging strategy's
/// goodput at least this share of `fusebox-default`'s.
pub const HEDGE_GOODPUT: f64 = 0.99;

/// One target in one scenario at one seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// The scenario.
    pub scenario: Scenario,
    /// The run's `--capacity`, if it had one.
    pub capacity: Option<f64>,
    /// The seed.
    pub seed: u64,
    /// What is required, in words.
    pub target: String,
    /// What was measured.
    pub measured: String,
    /// Whether the target is met; `None`: a reference line (another strategy's
    /// figure, shown beside a target), not a target.
    pub pass: Option<bool>,
}

impl Check {
    /// The row's scenario column: the name, and the capacity if set.
    pub fn label(&self) -> String {
        match self.capacity {
            Some(x) => format!("{} --capacity {x}", self.scenario.name()),
            None => self.scenario.name().to_string(),
        }
    }
}

/// How a figure and its bound are written: multiplied by `scale`, with at least
/// `decimals` decimals, followed by `suffix`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Unit {
    /// The factor from the figure to what is written.
    pub scale: f64,
    /// The fewest decimals written.
    pub decimals: usize,
    /// Written after the number.
    pub suffix: &'static str,
}

/// A share written as a percentage: `84.97 %`.
pub const PERCENT: Unit = Unit {
    scale: 100.0,
    decimals: 2,
    suffix: " %",
};

/// A difference of shares, in percentage points: `8.00`.
pub const POINTS: Unit = Unit {
    scale: 100.0,
    decimals: 2,
    suffix: "",
};

/// A plain number with `decimals` decimals.
pub const fn number(decimals: usize) -> Unit {
    Unit {
        scale: 1.0,
        decimals,
        suffix: "",
    }
}

impl Unit {
    /// `x` written alone.
    pub fn show(self, x: f64) -> String {
        format!("{:.*}{}", self.decimals, x * self.scale, self.suffix)
    }

    /// `value` and `bound`, written with as many decimals as it takes for two
    /// different numbers never to be written alike (at least `decimals`; where
    /// even 17 do not tell them apart, the value is followed by its exact
    /// difference from the bound).
    pub fn pair(self, value: f64, bound: f64) -> (String, String) {
        let (v, b) = (value * self.scale, bound * self.scale);
        let mut decimals = self.decimals;
        loop {
            let (vs, bs) = (format!("{v:.decimals$}"), format!("{b:.decimals$}"));
            if vs != bs || value == bound {
                return (
                    format!("{vs}{}", self.suffix),
                    format!("{bs}{}", self.suffix),
                );
            }
            if decimals >= 17 {
                return (
                    format!("{vs}{} ({:+e})", self.suffix, value - bound),
                    format!("{bs}{}", self.suffix),
                );
            }
            decimals += 1;
        }
    }
}

/// `value` against a lower `bound`: whether it passes (`value >= bound`), and
/// `value >= bound` or `value < bound` written in `unit` (`84.97 % < 85.00 %`).
pub fn at_least(value: f64, bound: f64, unit: Unit) -> (String, bool) {
    let pass = value >= bound;
    let (v, b) = unit.pair(value, bound);
    (format!("{v} {} {b}", if pass { ">=" } else { "<" }), pass)
}

/// `value` against an upper `bound`: whether it passes (`value <= bound`), and
/// `value <= bound` or `value > bound` written in `unit`.
pub fn at_most(value: f64, bound: f64, unit: Unit) -> (String, bool) {
    let pass = value <= bound;
    let (v, b) = unit.pair(value, bound);
    (format!("{v} {} {b}", if pass { "<=" } else { ">" }), pass)
}

/// `value` against another strategy's: whether it passes (`value > other`),
/// and `value > other` or `value <= other` written in `unit`.
pub fn above(value: f64, other: f64, unit: Unit) -> (String, bool) {
    let pass = value > other;
    let (v, o) = unit.pair(value, other);
    (format!("{v} {} {o}", if pass { ">" } else { "<=" }), pass)
}

fn shown(r: Option<u64>) -> String {
    r.map_or_else(|| "never".to_string(), |s| format!("{s} s"))
}

/// A recovery time against `bound` seconds: `0 s <= 5 s`, `7 s > 5 s`, `never`.
fn within(r: Option<u64>, bound: u64) -> (String, bool) {
    match r {
        None => ("never".to_string(), false),
        Some(s) if s <= bound => (format!("{s} s <= {bound} s"), true),
        Some(s) => (format!("{s} s > {bound} s"), false),
    }
}

/// The targets of one report (see the module documentation), the hedging
/// strategy's included ([`hedge_checks`]). A report with `--capacity` gets only
/// the capacity targets ([`capacity_checks`]).
pub fn checks(report: &Report) -> Vec<Check> {
    if let Some(x) = report.config.capacity {
        return capacity_checks(report, x);
    }
    let mut out = fusebox_default_checks(report);
    out.extend(hedge_checks(report));
    out
}

/// `fusebox-default`'s own targets in a report without `--capacity`.
fn fusebox_default_checks(report: &Report) -> Vec<Check> {
    let scenario = report.config.scenario;
    let seed = report.config.seed;
    let mut out = Vec::new();
    let mut push = |target: String, measured: String, pass: Option<bool>| {
        out.push(Check {
            scenario,
            capacity: None,
            seed,
            target,
            measured,
            pass,
        });
    };
    let group = |label: &str| report.group(STRATEGY, label).copied();
    let success_at_least =
        |label: &str, min: f64, push: &mut dyn FnMut(String, String, Option<bool>)| {
            if let Some(f) = group(label) {
                let (measured, pass) = at_least(f.success_rate(), min, PERCENT);
                push(
                    format!("{label}: success >= {}", PERCENT.show(min)),
                    measured,
                    Some(pass),
                );
            }
        };
    let failed_at_most =
        |label: &str, max: f64, push: &mut dyn FnMut(String, String, Option<bool>)| {
            if let Some(f) = group(label) {
                let (measured, pass) = at_most(f.failed_per_call(), max, number(3));
                push(
                    format!("{label}: failed attempts/call <= {}", number(3).show(max)),
                    measured,
                    Some(pass),
                );
            }
        };
    // `tail` has no failure: the whole-run comparisons below, made for the
    // failure scenarios, do not apply to it.
    let tail = scenario == Scenario::Tail;
    let capacity_free = scenario.default_capacity().is_none() && !tail;
    success_at_least("healthy", 0.995, &mut push);
    success_at_least("healthy again", 0.995, &mut push);
    if tail {
        // A reference, not a target: it would fail today (see the module
        // documentation).
        let success = |label: &str| group(label).map_or(0.0, |f| f.success_rate());
        push(
            "  reference: success, warm-up / steady".to_string(),
            format!(
                "{} / {}",
                PERCENT.show(success("warm-up")),
                PERCENT.show(success("steady"))
            ),
            None,
        );
        return out;
    }
    if scenario == Scenario::Default {
        failed_at_most("outage", 0.05, &mut push);
        success_at_least("recovery", 0.97, &mut push);
    }
    if matches!(scenario, Scenario::Default | Scenario::BrownoutOnly) {
        success_at_least("brownout", 0.85, &mut push);
    }
    if capacity_free {
        success_at_least("brownout", 0.95, &mut push);
    }
    if scenario == Scenario::Default {
        success_at_least("slow", 0.20, &mut push);
        failed_at_most("slow", 0.6, &mut push);
    }
    if scenario == Scenario::Flapping {
        success_at_least("recovery", 0.75, &mut push);
    }
    let recovery = |s: Strategy| report.run(s).trigger.and_then(|t| t.recovery_secs);
    // The goodput share of the `trigger` group.
    let trigger_share = || {
        report
            .service(STRATEGY, "trigger")
            .and_then(|s| s.goodput_share())
    };
    if scenario == Scenario::Overload {
        let retry_only = recovery(Strategy::RetryOnly);
        push(
            "overload: retry-only never recovers".to_string(),
            shown(retry_only),
            Some(retry_only.is_none()),
        );
        let own = recovery(STRATEGY);
        let (measured, pass) = within(own, 5);
        push(
            "overload: recovers within 5 s of the trigger's end".to_string(),
            measured,
            Some(pass),
        );
        let goodput = |s: Strategy| report.run(s).trigger.map_or(0.0, |t| t.goodput);
        let best_other = report
            .runs
            .iter()
            .filter(|r| rival(r.strategy))
            .map(|r| (r.strategy, goodput(r.strategy)))
            .fold((STRATEGY, f64::NEG_INFINITY), |best, x| {
                if x.1 > best.1 { x } else { best }
            });
        let (measured, pass) = at_least(goodput(STRATEGY), best_other.1, number(1));
        push(
            "overload: highest goodput during the trigger (successes/s)".to_string(),
            format!("{measured} ({})", best_other.0.name()),
            Some(pass),
        );
        let (measured, pass) = trigger_share()
            .map_or_else(|| ("-".to_string(), false), |x| at_least(x, 0.90, PERCENT));
        push(
            format!(
                "trigger: goodput >= {} of the reduced capacity",
                PERCENT.show(0.90)
            ),
            measured,
            Some(pass),
        );
        push(
            "trigger end: recovers at once (0 s)".to_string(),
            shown(own),
            Some(own == Some(0)),
        );
    }
    if matches!(scenario, Scenario::Spike | Scenario::OverloadLong) {
        let (measured, pass) = trigger_share()
            .map_or_else(|| ("-".to_string(), false), |x| at_least(x, 0.90, PERCENT));
        push(
            format!("trigger: goodput >= {} of the capacity", PERCENT.show(0.90)),
            measured,
            Some(pass),
        );
        let p99 = |label: &str| report.service(STRATEGY, label).and_then(|s| s.admitted.p99);
        let (during, healthy) = (p99("trigger"), p99("healthy"));
        push(
            "trigger: admitted calls' p99 <= 2x healthy p99 (ms)".to_string(),
            match (during, healthy) {
                (Some(d), Some(h)) => {
                    let ms = |ns: u64| ns as f64 / 1e6;
                    // Judged in whole nanoseconds, as before; written in ms.
                    let (d_ms, bound) = number(1).pair(ms(d), ms(2 * h));
                    let op = if d <= 2 * h { "<=" } else { ">" };
                    format!("{d_ms} {op} {bound} (2 x {})", number(1).show(ms(h)))
                }
                _ => "-".to_string(),
            },
            Some(matches!((during, healthy), (Some(d), Some(h)) if d <= 2 * h)),
        );
        let own = recovery(STRATEGY);
        let (measured, pass) = within(own, 1);
        push(
            "trigger end: recovers within 1 s".to_string(),
            measured,
            Some(pass),
        );
        push(
            "  reference: retry-only's recovery".to_string(),
            match recovery(Strategy::RetryOnly) {
                None => "retry-only never recovers".to_string(),
                Some(s) => format!("retry-only recovers in {s} s"),
            },
            None,
        );
    }
    let whole = |s: Strategy| report.run(s).total;
    let own = whole(STRATEGY).success_rate();
    let minimum = match scenario {
        Scenario::Default => Some(0.60),
        Scenario::Overload => Some(0.92),
        _ => None,
    };
    if let Some(min) = minimum {
        let (measured, pass) = at_least(own, min, PERCENT);
        push(
            format!("whole run: success >= {}", PERCENT.show(min)),
            measured,
            Some(pass),
        );
    }
    for other in [Strategy::Layered, Strategy::Callbacks] {
        let (measured, pass) = above(own, whole(other).success_rate(), PERCENT);
        push(
            format!("whole run: success above {}", other.name()),
            measured,
            Some(pass),
        );
    }
    if capacity_free {
        let best = report
            .runs
            .iter()
            .filter(|r| rival(r.strategy))
            .map(|r| (r.strategy, r.total.success_rate()))
            .fold(
                (STRATEGY, own),
                |best, x| if x.1 > best.1 { x } else { best },
            );
        let (measured, pass) = at_most(best.1 - own, 0.08, POINTS);
        push(
            format!(
                "whole run: success within {} points of the best",
                POINTS.show(0.08)
            ),
            format!("{measured} ({})", best.0.name()),
            Some(pass),
        );
        let own_cost = whole(STRATEGY).amplification();
        let better: Vec<_> = report
            .runs
            .iter()
            .filter(|r| rival(r.strategy))
            .filter(|r| r.total.success_rate() > own && r.total.amplification() < own_cost)
            .collect();
        push(
            "whole run: none more successful and cheaper".to_string(),
            match better.first() {
                None => "none".to_string(),
                Some(r) => format!(
                    "{}: {}, {:.2}/call{}",
                    r.strategy.name(),
                    PERCENT.show(r.total.success_rate()),
                    r.total.amplification(),
                    if better.len() > 1 {
                        format!(" (+{})", better.len() - 1)
                    } else {
                        String::new()
                    }
                ),
            },
            Some(better.is_empty()),
        );
    }
    out
}

/// The targets of a run with `--capacity`: [`capacity_check`] (but in `tail`,
/// see the module documentation), then the hedging strategy's
/// ([`hedge_checks`]).
pub fn capacity_checks(report: &Report, capacity: f64) -> Vec<Check> {
    let mut out = Vec::new();
    if report.config.scenario != Scenario::Tail {
        out.push(capacity_check(report, capacity));
    }
    out.extend(hedge_checks(report));
    out
}

/// Whether `fusebox-default`'s comparisons count `strategy` among the others:
/// every strategy but itself and `fusebox-hedge`, which is `fusebox-default`
/// with the library's opt-in hedging, not another design (it has targets of
/// its own, [`hedge_checks`]).
fn rival(strategy: Strategy) -> bool {
    strategy != STRATEGY && strategy != Strategy::FuseboxHedge
}

/// The target of a run on a server of `capacity` times the offered load:
/// `fusebox-default` has the highest whole-run success of all strategies (a tie
/// counts as highest), among its [rivals](rival).
pub fn capacity_check(report: &Report, capacity: f64) -> Check {
    let own = report.run(STRATEGY).total.success_rate();
    let best_other = report
        .runs
        .iter()
        .filter(|r| rival(r.strategy))
        .map(|r| (r.strategy, r.total.success_rate()))
        .fold((STRATEGY, f64::NEG_INFINITY), |best, x| {
            if x.1 > best.1 { x } else { best }
        });
    let (measured, pass) = at_least(own, best_other.1, PERCENT);
    Check {
        scenario: report.config.scenario,
        capacity: Some(capacity),
        seed: report.config.seed,
        target: "whole run: first of all strategies on success".to_string(),
        measured: format!("{measured} ({})", best_other.0.name()),
        pass: Some(pass),
    }
}

/// Run every scenario at every seed of [`SEEDS`] with `clients` clients, and
/// each once more with `--capacity` [`CAPACITY`] (reusing the plain run of a
/// scenario whose own server is that size), and check the targets.
pub fn run_all(clients: u32) -> Vec<Check> {
    let mut out = Vec::new();
    let mut with_capacity = Vec::new();
    for scenario in Scenario::ALL {
        for seed in SEEDS {
            let config = Config {
                seed,
                clients,
                scenario,
                capacity: None,
            };
            let report = run(&config);
            out.extend(checks(&report));
            with_capacity.extend(if scenario.default_capacity() == Some(CAPACITY) {
                // The plain run's hedging targets are in `out` already.
                vec![capacity_check(&report, CAPACITY)]
            } else {
                let report = run(&Config {
                    capacity: Some(CAPACITY),
                    ..config
                });
                capacity_checks(&report, CAPACITY)
            });
        }
    }
    out.extend(with_capacity);
    out
}

/// The targets of the hedging issue for the strategy named [`HEDGE`] in
/// `report` (see the module documentation): in `tail`, on a server or not, in
/// `overload`, and in `default`'s outage without a server; none elsewhere.
/// Without a strategy of that name: one INFO line saying the targets wait for
/// it.
pub fn hedge_checks(report: &Report) -> Vec<Check> {
    let applies = match report.config.scenario {
        Scenario::Tail | Scenario::Overload => true,
        Scenario::Default => report.config.server_capacity().is_none(),
        _ => false,
    };
    if !applies {
        return Vec::new();
    }
    match report.runs.iter().find(|r| r.strategy.name() == HEDGE) {
        Some(hedge) => hedge_checks_for(report, hedge.strategy),
        None => {
            let what = if report.config.scenario == Scenario::Default {
                "outage attempts/call <= its"
            } else if report.config.server_capacity().is_some() {
                "goodput >= 99 %, attempts/call <= +5 %"
            } else {
                "p99, p99.9 <= 1/5, attempts/call <= +5 %"
            };
            vec![Check {
                scenario: report.config.scenario,
                capacity: report.config.capacity,
                seed: report.config.seed,
                target: format!("{HEDGE} vs {}: {what} (waiting)", STRATEGY.name()),
                measured: format!("no {HEDGE} yet"),
                pass: None,
            }]
        }
    }
}

/// The hedging issue's tail targets, judged for `hedge` against
/// `fusebox-default` in `report` (see the module documentation); empty where
/// none applies. [`hedge_checks`] calls it with the strategy named [`HEDGE`].
pub fn hedge_checks_for(report: &Report, hedge: Strategy) -> Vec<Check> {
    let c = &report.config;
    let mut out = Vec::new();
    let mut push = |target: String, (measured, pass): (String, bool)| {
        out.push(Check {
            scenario: c.scenario,
            capacity: c.capacity,
            seed: c.seed,
            target,
            measured,
            pass: Some(pass),
        });
    };
    let name = hedge.name();
    let attempts = |label: &str, push: &mut dyn FnMut(String, (String, bool))| {
        let per_call = |s| report.group(s, label).map(|f| f.amplification());
        if let (Some(own), Some(base)) = (per_call(hedge), per_call(STRATEGY)) {
            push(
                format!(
                    "{label}: {name} attempts/call <= {} x {}'s",
                    number(2).show(1.0 + HEDGE_EXTRA_ATTEMPTS),
                    STRATEGY.name()
                ),
                at_most(own, base * (1.0 + HEDGE_EXTRA_ATTEMPTS), number(3)),
            );
        }
    };
    let goodput_target = |what: &str| {
        format!(
            "{what}: {name} goodput >= {} of {}'s",
            PERCENT.show(HEDGE_GOODPUT),
            STRATEGY.name()
        )
    };
    match (c.scenario, c.server_capacity().is_some()) {
        (Scenario::Tail, false) => {
            let ms = |ns: u64| ns as f64 / 1e6;
            let steady = |s| report.service(s, "steady").map(|f| f.latency);
            let (own, base) = (steady(hedge), steady(STRATEGY));
            let pairs = [
                ("p99", own.and_then(|l| l.p99), base.and_then(|l| l.p99)),
                ("p99.9", own.and_then(|l| l.p999), base.and_then(|l| l.p999)),
            ];
            for (p, own, base) in pairs {
                push(
                    format!(
                        "steady: {name} {p} <= 1/{HEDGE_SPEEDUP} of {}'s (ms)",
                        STRATEGY.name()
                    ),
                    match (own, base) {
                        // Judged in whole nanoseconds (own x 5 <= base); written in ms.
                        (Some(own), Some(base)) => {
                            let pass = own * HEDGE_SPEEDUP <= base;
                            let (o, b) = number(1).pair(ms(own), ms(base) / HEDGE_SPEEDUP as f64);
                            (format!("{o} {} {b}", if pass { "<=" } else { ">" }), pass)
                        }
                        _ => ("-".to_string(), false),
                    },
                );
            }
            attempts("steady", &mut push);
        }
        (Scenario::Tail, true) => {
            let goodput = |s| report.service(s, "steady").map(|f| f.goodput as f64);
            push(
                goodput_target("steady"),
                match (goodput(hedge), goodput(STRATEGY)) {
                    (Some(own), Some(base)) => at_least(own, base * HEDGE_GOODPUT, number(0)),
                    _ => ("-".to_string(), false),
                },
            );
            attempts("steady", &mut push);
        }
        (Scenario::Overload, _) => {
            let goodput = |s| report.run(s).trigger.map(|t| t.goodput);
            push(
                goodput_target("trigger"),
                match (goodput(hedge), goodput(STRATEGY)) {
                    (Some(own), Some(base)) => at_least(own, base * HEDGE_GOODPUT, number(1)),
                    _ => ("-".to_string(), false),
                },
            );
            attempts("trigger", &mut push);
        }
        (Scenario::Default, false) => {
            // A dead downstream: every attempt hangs, and nothing has failed
            // before the breaker opens; hedging must add no attempts.
            let per_call = |s| report.group(s, "outage").map(|f| f.amplification());
            push(
                format!(
                    "outage (dead downstream): {name} attempts/call <= {}'s",
                    STRATEGY.name()
                ),
                match (per_call(hedge), per_call(STRATEGY)) {
                    (Some(own), Some(base)) => at_most(own, base, number(4)),
                    _ => ("-".to_string(), false),
                },
            );
        }
        _ => {}
    }
    out
}

/// The checks as a table, every line within [`WIDTH`] columns: per scenario
/// (and capacity) a heading naming the seeds' columns, then per target a line
/// with the target and a line with each seed's verdict and measure, in a
/// column per seed. A row whose cells do not fit side by side has one line per
/// seed instead.
pub fn render(checks: &[Check], clients: u32) -> String {
    let mut out = String::new();
    let seeds: Vec<String> = SEEDS.iter().map(|s| s.to_string()).collect();
    out.push_str(&wrap(
        &format!(
            "targets for `{}`: every scenario, and every scenario with --capacity {CAPACITY}, \
             {clients} clients, seeds {}",
            STRATEGY.name(),
            seeds.join(", ")
        ),
        "  ",
        WIDTH,
    ));
    // Rows in first-appearance order of (scenario, target), under their scenario.
    let mut keys: Vec<(String, &str)> = Vec::new();
    for c in checks {
        let key = (c.label(), c.target.as_str());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut heading = None;
    for (label, target) in &keys {
        if heading != Some(label) {
            heading = Some(label);
            let _ = writeln!(out, "\n{label} (columns: seed {})", seeds.join(", seed "));
        }
        let _ = writeln!(out, "  {target}");
        let cells: Vec<String> = SEEDS
            .iter()
            .map(|&seed| {
                checks
                    .iter()
                    .find(|c| c.label() == *label && c.target == *target && c.seed == seed)
                    .map_or_else(
                        || "-".to_string(),
                        |c| {
                            let verdict = match c.pass {
                                Some(true) => "PASS",
                                Some(false) => "FAIL",
                                None => "INFO",
                            };
                            format!("{verdict} {}", c.measured)
                        },
                    )
            })
            .collect();
        // Side by side: every cell but the last leaves a space before the next.
        let last = cells.len() - 1;
        let fits = cells.iter().enumerate().all(|(k, cell)| {
            cell.len() < CELL || (k == last && CELLS_INDENT + k * CELL + cell.len() <= WIDTH)
        });
        if fits {
            let mut line = " ".repeat(CELLS_INDENT);
            for (k, cell) in cells.iter().enumerate() {
                let _ = write!(line, "{cell:<w$}", w = if k == last { 0 } else { CELL });
            }
            out.push_str(line.trim_end());
            out.push('\n');
        } else {
            for (seed, cell) in SEEDS.iter().zip(&cells) {
                out.push_str(&wrap(
                    &format!("{:CELLS_INDENT$}seed {seed}: {cell}", ""),
                    "        ",
                    WIDTH,
                ));
            }
        }
    }
    let targets: Vec<&Check> = checks.iter().filter(|c| c.pass.is_some()).collect();
    let passed = targets.iter().filter(|c| c.pass == Some(true)).count();
    out.push('\n');
    out.push_str(&wrap(
        &format!(
            "{passed} of {} checks pass ({} targets x {} seeds; INFO lines are references); \
             a report, not a test",
            targets.len(),
            targets.len() / SEEDS.len(),
            SEEDS.len()
        ),
        "  ",
        WIDTH,
    ));
    out
}
