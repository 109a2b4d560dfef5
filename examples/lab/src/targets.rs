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
//!   server of their own: their plain runs are reused.

use super::{Config, Report, Scenario, Strategy, run};
use std::fmt::Write;

/// The seeds every scenario runs at.
pub const SEEDS: [u64; 3] = [42, 7, 1234];

/// The `--capacity` every scenario also runs with.
pub const CAPACITY: f64 = 1.5;

/// The strategy the targets are for.
pub const STRATEGY: Strategy = Strategy::FuseboxDefault;

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

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn ms(ns: u64) -> String {
    format!("{:.0} ms", ns as f64 / 1e6)
}

fn shown(r: Option<u64>) -> String {
    r.map_or_else(|| "never".to_string(), |s| format!("{s} s"))
}

/// The targets of one report (see the module documentation). A report with
/// `--capacity` gets only the capacity target ([`capacity_check`]).
pub fn checks(report: &Report) -> Vec<Check> {
    if let Some(x) = report.config.capacity {
        return vec![capacity_check(report, x)];
    }
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
                push(
                    format!("{label}: success >= {:.1} %", min * 100.0),
                    pct(f.success_rate()),
                    Some(f.success_rate() >= min),
                );
            }
        };
    let capacity_free = scenario.default_capacity().is_none();
    success_at_least("healthy", 0.995, &mut push);
    success_at_least("healthy again", 0.995, &mut push);
    if scenario == Scenario::Default {
        if let Some(f) = group("outage") {
            push(
                "outage: failed attempts/call <= 0.05".to_string(),
                format!("{:.3}", f.failed_per_call()),
                Some(f.failed_per_call() <= 0.05),
            );
        }
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
        if let Some(f) = group("slow") {
            push(
                "slow: failed attempts/call <= 0.6".to_string(),
                format!("{:.3}", f.failed_per_call()),
                Some(f.failed_per_call() <= 0.6),
            );
        }
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
        push(
            "overload: recovers within 5 s of the trigger's end".to_string(),
            shown(own),
            Some(own.is_some_and(|s| s <= 5)),
        );
        let goodput = |s: Strategy| report.run(s).trigger.map_or(0.0, |t| t.goodput);
        let best_other = report
            .runs
            .iter()
            .filter(|r| r.strategy != STRATEGY)
            .map(|r| (r.strategy, goodput(r.strategy)))
            .fold((STRATEGY, f64::NEG_INFINITY), |best, x| {
                if x.1 > best.1 { x } else { best }
            });
        push(
            "overload: highest goodput during the trigger".to_string(),
            format!(
                "{:.1}/s vs {:.1} ({})",
                goodput(STRATEGY),
                best_other.1,
                best_other.0.name()
            ),
            Some(goodput(STRATEGY) >= best_other.1),
        );
        let share = trigger_share();
        push(
            "trigger: goodput >= 90 % of the reduced capacity".to_string(),
            share.map_or_else(|| "-".to_string(), pct),
            Some(share.is_some_and(|x| x >= 0.90)),
        );
        push(
            "trigger end: recovers at once (0 s)".to_string(),
            shown(own),
            Some(own == Some(0)),
        );
    }
    if matches!(scenario, Scenario::Spike | Scenario::OverloadLong) {
        let share = trigger_share();
        push(
            "trigger: goodput >= 90 % of the capacity".to_string(),
            share.map_or_else(|| "-".to_string(), pct),
            Some(share.is_some_and(|x| x >= 0.90)),
        );
        let p99 = |label: &str| report.service(STRATEGY, label).and_then(|s| s.admitted.p99);
        let (during, healthy) = (p99("trigger"), p99("healthy"));
        push(
            "trigger: admitted calls' p99 <= 2x healthy p99".to_string(),
            match (during, healthy) {
                (Some(d), Some(h)) => format!("{} vs {}", ms(d), ms(h)),
                _ => "-".to_string(),
            },
            Some(matches!((during, healthy), (Some(d), Some(h)) if d <= 2 * h)),
        );
        let own = recovery(STRATEGY);
        push(
            "trigger end: recovers within 1 s".to_string(),
            shown(own),
            Some(own.is_some_and(|s| s <= 1)),
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
    if scenario == Scenario::Default {
        push(
            "whole run: success >= 60.0 %".to_string(),
            pct(own),
            Some(own >= 0.60),
        );
    }
    if scenario == Scenario::Overload {
        push(
            "whole run: success >= 92.0 %".to_string(),
            pct(own),
            Some(own >= 0.92),
        );
    }
    for other in [Strategy::Layered, Strategy::Callbacks] {
        let theirs = whole(other).success_rate();
        push(
            format!("whole run: success above {}", other.name()),
            format!("{} vs {}", pct(own), pct(theirs)),
            Some(own > theirs),
        );
    }
    if capacity_free {
        let best = report
            .runs
            .iter()
            .map(|r| (r.strategy, r.total.success_rate()))
            .fold(
                (STRATEGY, own),
                |best, x| if x.1 > best.1 { x } else { best },
            );
        push(
            "whole run: success within 8 points of the best".to_string(),
            format!("{} vs {} ({})", pct(own), pct(best.1), best.0.name()),
            Some(best.1 - own <= 0.08),
        );
        let own_cost = whole(STRATEGY).amplification();
        let better: Vec<_> = report
            .runs
            .iter()
            .filter(|r| r.total.success_rate() > own && r.total.amplification() < own_cost)
            .collect();
        push(
            "whole run: none more successful and cheaper".to_string(),
            match better.first() {
                None => "none".to_string(),
                Some(r) => format!(
                    "{} {}/{:.2} vs {}/{:.2}{}",
                    r.strategy.name(),
                    pct(r.total.success_rate()),
                    r.total.amplification(),
                    pct(own),
                    own_cost,
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

/// The target of a run on a server of `capacity` times the offered load:
/// `fusebox-default` has the highest whole-run success of all strategies (a tie
/// counts as highest).
pub fn capacity_check(report: &Report, capacity: f64) -> Check {
    let own = report.run(STRATEGY).total.success_rate();
    let best_other = report
        .runs
        .iter()
        .filter(|r| r.strategy != STRATEGY)
        .map(|r| (r.strategy, r.total.success_rate()))
        .fold((STRATEGY, f64::NEG_INFINITY), |best, x| {
            if x.1 > best.1 { x } else { best }
        });
    Check {
        scenario: report.config.scenario,
        capacity: Some(capacity),
        seed: report.config.seed,
        target: "whole run: first of all strategies on success".to_string(),
        measured: format!(
            "{} vs {} ({})",
            pct(own),
            pct(best_other.1),
            best_other.0.name()
        ),
        pass: Some(own >= best_other.1),
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
            with_capacity.push(if scenario.default_capacity() == Some(CAPACITY) {
                capacity_check(&report, CAPACITY)
            } else {
                let report = run(&Config {
                    capacity: Some(CAPACITY),
                    ..config
                });
                capacity_check(&report, CAPACITY)
            });
        }
    }
    out.extend(with_capacity);
    out
}

/// The checks as a table: one row per scenario and target, one column per seed.
pub fn render(checks: &[Check], clients: u32) -> String {
    let mut out = String::new();
    let seeds: Vec<String> = SEEDS.iter().map(|s| s.to_string()).collect();
    let _ = writeln!(
        out,
        "targets for `{}`: every scenario, and every scenario with --capacity {CAPACITY}, \
         {clients} clients, seeds {}",
        STRATEGY.name(),
        seeds.join(", ")
    );
    out.push('\n');
    let width = checks
        .iter()
        .map(|c| c.label().len() + 2)
        .chain([15])
        .max()
        .unwrap_or(15);
    let mut header = format!("{:<width$}{:<51}", "scenario", "target");
    for seed in SEEDS {
        let _ = write!(header, " {:<34}", format!("seed {seed}"));
    }
    out.push_str(header.trim_end());
    out.push('\n');
    // Rows in first-appearance order of (scenario, target).
    let mut keys: Vec<(String, &str)> = Vec::new();
    for c in checks {
        let key = (c.label(), c.target.as_str());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for (label, target) in keys {
        let mut line = format!("{label:<width$}{target:<51}");
        for seed in SEEDS {
            let cell = checks
                .iter()
                .find(|c| c.label() == label && c.target == target && c.seed == seed)
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
                );
            let _ = write!(line, " {cell:<34}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let targets: Vec<&Check> = checks.iter().filter(|c| c.pass.is_some()).collect();
    let passed = targets.iter().filter(|c| c.pass == Some(true)).count();
    let _ = writeln!(
        out,
        "\n{passed} of {} checks pass ({} targets x {} seeds; INFO lines are references, \
         not targets); a report, not a test",
        targets.len(),
        targets.len() / SEEDS.len(),
        SEEDS.len()
    );
    out
}
