//! The outage lab (`examples/outage`) at a small size: the qualitative claims its
//! table supports, checked on the lab's own output rather than on typed-in numbers;
//! and the README's quote of the default run (table excerpt and picture), checked
//! against what the lab prints and draws.

// The lab is the example's module; this test uses part of it.
#[allow(dead_code)]
#[path = "../examples/outage/lab.rs"]
mod lab;
#[path = "../examples/outage/plot.rs"]
mod plot;

use lab::downstream::{AttemptKey, Condition, Downstream};
use lab::{BeforeTrip, Config, Report, Scenario, Strategy};
use std::sync::OnceLock;

const SEEDS: [u64; 2] = [1, 2];

fn small(seed: u64, scenario: Scenario) -> Config {
    Config {
        seed,
        clients: 16,
        scenario,
    }
}

fn reports() -> Vec<Report> {
    SEEDS
        .iter()
        .map(|&seed| lab::run(&small(seed, Scenario::Default)))
        .collect()
}

#[test]
fn fusebox_amplifies_the_outage_less_than_naive() {
    for report in reports() {
        let amp = |s| report.group(s, "outage").unwrap().amplification();
        let (naive, fusebox) = (amp(Strategy::Naive), amp(Strategy::Fusebox));
        assert!(
            fusebox < naive,
            "seed {}: fusebox {fusebox:.3} attempts/call vs naive {naive:.3}",
            report.config.seed
        );
        assert!(
            report.run(Strategy::Fusebox).peak_load() <= report.run(Strategy::Naive).peak_load(),
            "seed {}: fusebox's peak load above naive's",
            report.config.seed
        );
    }
}

#[test]
fn naive_needs_more_downstream_failures_to_trip() {
    for report in reports() {
        let before = |s| report.run(s).before_trip;
        let BeforeTrip::Tripped(fusebox) = before(Strategy::Fusebox) else {
            panic!("seed {}: fusebox did not trip", report.config.seed);
        };
        // Attempt-level health trips on the 5th failed attempt, exactly.
        assert_eq!(fusebox, u64::from(lab::THRESHOLD));
        let naive = match before(Strategy::Naive) {
            BeforeTrip::Tripped(n) => n,
            // Never tripping during the outage counts as needing more than it saw.
            BeforeTrip::Never(n) => n + 1,
            other => panic!("seed {}: naive {other:?}", report.config.seed),
        };
        assert!(
            naive > fusebox,
            "seed {}: naive {naive} vs fusebox {fusebox}",
            report.config.seed
        );
    }
}

#[test]
fn fusebox_reports_late_outcomes_stale_instead_of_overwriting() {
    for report in reports() {
        for strategy in [Strategy::Fusebox, Strategy::FuseboxRate] {
            let fusebox = report.run(strategy);
            assert_eq!(fusebox.stale_overwrites, 0, "seed {}", report.config.seed);
            assert_eq!(
                fusebox.reported_stale,
                Some(fusebox.late_outcomes),
                "seed {}: every late outcome is reported Stale",
                report.config.seed
            );
        }
        // The naive design, on the same downstream, does overwrite.
        let naive = report.run(Strategy::Naive);
        assert!(
            naive.stale_overwrites > 0,
            "seed {}: naive made no stale overwrite",
            report.config.seed
        );
    }
}

/// The README's brownout claims: attempt-level accounting with a 5-failure trip
/// sheds a 30 % brownout (it trips), while a failure-rate trip rides it out with a
/// higher success rate and less load amplification than the naive design, the
/// budget refusing retries beyond its share.
#[test]
fn failure_rate_trip_rides_out_the_brownout_with_less_load_than_naive() {
    for report in reports() {
        let seed = report.config.seed;
        let brownout = |s| *report.group(s, "brownout").unwrap();
        let (naive, count, rate) = (
            brownout(Strategy::Naive),
            brownout(Strategy::Fusebox),
            brownout(Strategy::FuseboxRate),
        );
        assert!(
            rate.success_rate() > 0.5,
            "seed {seed}: fusebox-rate {:.3}",
            rate.success_rate()
        );
        assert!(rate.success_rate() > count.success_rate(), "seed {seed}");
        assert!(
            rate.amplification() < naive.amplification(),
            "seed {seed}: fusebox-rate {:.3} attempts/call vs naive {:.3}",
            rate.amplification(),
            naive.amplification()
        );
        assert!(
            report
                .run(Strategy::FuseboxRate)
                .budget_refusals
                .unwrap_or(0)
                > 0,
            "seed {seed}: the budget refused nothing"
        );
    }
}

#[test]
fn the_same_seed_gives_the_same_report() {
    for scenario in Scenario::ALL {
        let config = small(7, scenario);
        assert_eq!(lab::run(&config), lab::run(&config), "{scenario:?}");
    }
}

#[test]
fn a_different_seed_gives_a_different_trace() {
    let config = small(1, Scenario::Default);
    let phases = config.scenario.phases();
    let brownout = phases
        .iter()
        .find(|p| p.condition == Condition::Brownout)
        .unwrap();
    let (a, b) = (
        Downstream::new(1, phases.clone()),
        Downstream::new(2, phases.clone()),
    );
    let differing = (0..100)
        .filter(|&call| {
            let key = AttemptKey {
                client: 0,
                call,
                attempt: 1,
            };
            a.attempt(key, brownout.start) != b.attempt(key, brownout.start)
        })
        .count();
    assert!(differing > 50, "only {differing} of 100 attempts differ");
    let reports = reports();
    assert_ne!(reports[0], reports[1]);
}

#[test]
fn every_scenario_runs_and_renders() {
    for scenario in Scenario::ALL {
        let report = lab::run(&small(3, scenario));
        for run in &report.runs {
            assert_eq!(run.total.calls, report.run(Strategy::Naive).total.calls);
            assert!(run.total.succeeded + run.total.rejected <= run.total.calls);
        }
        let table = lab::report::table(&report, Some("x.svg"));
        assert!(table.contains("seed 3") && table.contains(scenario.name()));
        let csv = lab::report::csv(&report);
        assert_eq!(
            csv.lines().count(),
            1 + Strategy::ALL.len() * (report.groups.len() + 1)
        );
    }
}

/// The default run (seed 42, 64 clients, default scenario), which the README
/// quotes and pictures; computed once for the tests below.
fn default_run() -> &'static Report {
    static REPORT: OnceLock<Report> = OnceLock::new();
    REPORT.get_or_init(|| lab::run(&Config::default()))
}

/// The README quotes the default run's table: every line of its excerpt must be a
/// line the lab prints, in the same order, so the quote cannot rot.
#[test]
fn readme_excerpt_is_the_labs_output() {
    let report = default_run();
    assert_eq!(
        (report.config.seed, report.config.clients),
        (42, 64),
        "the README quotes seed 42 with 64 clients"
    );
    let table = lab::report::table(report, Some("target/outage/default-42.svg"));
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    const OPENING: &str = "```text\nfusebox outage lab:";
    let start = readme
        .find(OPENING)
        .expect("README quotes the lab's table in a ```text block")
        + "```text\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let excerpt: Vec<&str> = readme[start..end].lines().collect();
    assert!(
        excerpt
            .iter()
            .filter(|l| l.starts_with("  whole run "))
            .count()
            >= 2,
        "the README's excerpt keeps the whole-run rows (amplification and success)"
    );
    let mut printed = table.lines();
    for line in excerpt {
        assert!(
            printed.any(|p| p == line),
            "README.md quotes a line that `cargo run --release --example outage` does not \
             print (or not in this order): {line:?}\n\nthe lab prints:\n{table}"
        );
    }
}

/// The README shows the default run's picture from `docs/`: it must be what the lab
/// draws (`cargo run --release --example outage -- --svg docs/outage-default-42.svg`
/// rewrites it).
#[test]
fn readme_picture_is_the_labs_output() {
    let drawn = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("outage-default-42.svg");
    plot::draw(default_run(), &drawn).unwrap();
    let committed = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/outage-default-42.svg");
    assert!(
        std::fs::read(committed).unwrap() == std::fs::read(&drawn).unwrap(),
        "docs/outage-default-42.svg differs from what the lab draws ({}): rerun \
         `cargo run --release --example outage -- --svg docs/outage-default-42.svg`",
        drawn.display()
    );
}
