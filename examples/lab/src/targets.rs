//! The maintainers' targets for `fusebox-default` (`--targets`): every scenario at
//! [`SEEDS`], each target with the value measured and PASS or FAIL. A report,
//! not a test: the lab exits successfully whatever it finds.
//!
//! The targets, for the `fusebox-default` strategy (success = call success rate
//! of the calls issued in the phase group; failed attempts per call = failed
//! downstream attempts / calls):
//!
//! - every `healthy` and `healthy again` group: success ≥ 99.5 %;
//! - `default`: `outage` failed attempts per call ≤ 0.05; `recovery` success
//!   ≥ 97 %;
//! - `brownout` (in `default` and `brownout-only`): success ≥ 85 % at ≤ 1.25
//!   attempts per call (two rows);
//! - `slow` (`default`): success ≥ 20 % with failed attempts per call ≤ 0.6
//!   (two rows);
//! - `flapping`: `recovery` success ≥ 75 %;
//! - `overload`: `retry-only` does not recover within the scenario; fusebox-default
//!   recovers within 5 s of the trigger's end; its goodput during the trigger is
//!   the highest of all strategies (a tie counts as highest: none is higher);
//! - whole-run success ≥ 60 % in `default`, and above `layered` and
//!   `callbacks` (strictly) in every scenario.

use super::{Config, Report, Scenario, Strategy, run};
use std::fmt::Write;

/// The seeds every scenario runs at.
pub const SEEDS: [u64; 3] = [42, 7, 1234];

/// The strategy the targets are for.
pub const STRATEGY: Strategy = Strategy::FuseboxDefault;

/// One target in one scenario at one seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// The scenario.
    pub scenario: Scenario,
    /// The seed.
    pub seed: u64,
    /// What is required, in words.
    pub target: String,
    /// What was measured.
    pub measured: String,
    /// Whether the target is met.
    pub pass: bool,
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The targets of one report (see the module documentation).
pub fn checks(report: &Report) -> Vec<Check> {
    let scenario = report.config.scenario;
    let seed = report.config.seed;
    let mut out = Vec::new();
    let mut push = |target: String, measured: String, pass: bool| {
        out.push(Check {
            scenario,
            seed,
            target,
            measured,
            pass,
        });
    };
    let group = |label: &str| report.group(STRATEGY, label).copied();
    let success_at_least = |label: &str, min: f64, push: &mut dyn FnMut(String, String, bool)| {
        if let Some(f) = group(label) {
            push(
                format!("{label}: success >= {:.1} %", min * 100.0),
                pct(f.success_rate()),
                f.success_rate() >= min,
            );
        }
    };
    success_at_least("healthy", 0.995, &mut push);
    success_at_least("healthy again", 0.995, &mut push);
    if scenario == Scenario::Default {
        if let Some(f) = group("outage") {
            push(
                "outage: failed attempts/call <= 0.05".to_string(),
                format!("{:.3}", f.failed_per_call()),
                f.failed_per_call() <= 0.05,
            );
        }
        success_at_least("recovery", 0.97, &mut push);
    }
    if matches!(scenario, Scenario::Default | Scenario::BrownoutOnly) {
        success_at_least("brownout", 0.85, &mut push);
        if let Some(f) = group("brownout") {
            push(
                "brownout: attempts/call <= 1.25".to_string(),
                format!("{:.2}", f.amplification()),
                f.amplification() <= 1.25,
            );
        }
    }
    if scenario == Scenario::Default {
        success_at_least("slow", 0.20, &mut push);
        if let Some(f) = group("slow") {
            push(
                "slow: failed attempts/call <= 0.6".to_string(),
                format!("{:.3}", f.failed_per_call()),
                f.failed_per_call() <= 0.6,
            );
        }
    }
    if scenario == Scenario::Flapping {
        success_at_least("recovery", 0.75, &mut push);
    }
    if report.trigger().is_some() {
        let recovery = |s: Strategy| report.run(s).trigger.and_then(|t| t.recovery_secs);
        let shown = |r: Option<u64>| r.map_or_else(|| "never".to_string(), |s| format!("{s} s"));
        let retry_only = recovery(Strategy::RetryOnly);
        push(
            "overload: retry-only never recovers".to_string(),
            shown(retry_only),
            retry_only.is_none(),
        );
        let own = recovery(STRATEGY);
        push(
            "overload: recovers within 5 s of the trigger's end".to_string(),
            shown(own),
            own.is_some_and(|s| s <= 5),
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
            goodput(STRATEGY) >= best_other.1,
        );
    }
    let whole = |s: Strategy| report.run(s).total;
    let own = whole(STRATEGY).success_rate();
    if scenario == Scenario::Default {
        push(
            "whole run: success >= 60.0 %".to_string(),
            pct(own),
            own >= 0.60,
        );
    }
    for other in [Strategy::Layered, Strategy::Callbacks] {
        let theirs = whole(other).success_rate();
        push(
            format!("whole run: success above {}", other.name()),
            format!("{} vs {}", pct(own), pct(theirs)),
            own > theirs,
        );
    }
    out
}

/// Run every scenario at every seed of [`SEEDS`] with `clients` clients and
/// check the targets.
pub fn run_all(clients: u32) -> Vec<Check> {
    let mut out = Vec::new();
    for scenario in Scenario::ALL {
        for seed in SEEDS {
            let report = run(&Config {
                seed,
                clients,
                scenario,
                capacity: None,
            });
            out.extend(checks(&report));
        }
    }
    out
}

/// The checks as a table: one row per scenario and target, one column per seed.
pub fn render(checks: &[Check], clients: u32) -> String {
    let mut out = String::new();
    let seeds: Vec<String> = SEEDS.iter().map(|s| s.to_string()).collect();
    let _ = writeln!(
        out,
        "targets for `{}`: every scenario, {clients} clients, seeds {}",
        STRATEGY.name(),
        seeds.join(", ")
    );
    out.push('\n');
    let mut header = format!("{:<15}{:<51}", "scenario", "target");
    for seed in SEEDS {
        let _ = write!(header, " {:<34}", format!("seed {seed}"));
    }
    out.push_str(header.trim_end());
    out.push('\n');
    // Rows in first-appearance order of (scenario, target).
    let mut keys: Vec<(Scenario, &str)> = Vec::new();
    for c in checks {
        if !keys.contains(&(c.scenario, c.target.as_str())) {
            keys.push((c.scenario, c.target.as_str()));
        }
    }
    for (scenario, target) in keys {
        let mut line = format!("{:<15}{:<51}", scenario.name(), target);
        for seed in SEEDS {
            let cell = checks
                .iter()
                .find(|c| c.scenario == scenario && c.target == target && c.seed == seed)
                .map_or_else(
                    || "-".to_string(),
                    |c| format!("{} {}", if c.pass { "PASS" } else { "FAIL" }, c.measured),
                );
            let _ = write!(line, " {cell:<34}");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let passed = checks.iter().filter(|c| c.pass).count();
    let _ = writeln!(
        out,
        "\n{passed} of {} checks pass ({} targets x {} seeds); a report, not a test",
        checks.len(),
        checks.len() / SEEDS.len(),
        SEEDS.len()
    );
    out
}
