//! The outage lab (`examples/lab`) at a small size: the qualitative claims its
//! table supports, checked on the lab's own output rather than on typed-in numbers;
//! and the README's quote of the default run (table excerpt and picture), checked
//! against what the lab prints and draws.

// The lab is the binary's module; this test uses part of it.
#[allow(dead_code)]
#[path = "../src/lab.rs"]
mod lab;
#[path = "../src/plot.rs"]
mod plot;

use lab::downstream::{ATTEMPT_TIMEOUT, AttemptKey, Condition, Downstream, SEC};
use lab::{BeforeTrip, CALL_PERIOD, Config, Report, Scenario, Strategy, recovery_secs};
use std::sync::OnceLock;

const SEEDS: [u64; 2] = [1, 2];

fn small(seed: u64, scenario: Scenario) -> Config {
    Config {
        seed,
        clients: 16,
        scenario,
        capacity: None,
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
        for strategy in [
            Strategy::Fusebox,
            Strategy::FuseboxRate,
            Strategy::FuseboxDefault,
        ] {
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
        // A row per strategy and phase group, a whole-run row, and in a scenario
        // with a trigger the two metric rows; every row has the header's columns.
        let metric_rows = if report.trigger().is_some() { 2 } else { 0 };
        assert_eq!(
            csv.lines().count(),
            1 + Strategy::ALL.len() * (report.groups.len() + 1 + metric_rows)
        );
        let columns = csv.lines().next().unwrap().split(',').count();
        assert!(csv.lines().all(|l| l.split(',').count() == columns));
        assert_eq!(
            report.trigger().is_some(),
            matches!(
                scenario,
                Scenario::Overload | Scenario::Spike | Scenario::OverloadLong
            ),
            "{scenario:?}"
        );
        for run in &report.runs {
            assert_eq!(run.trigger.is_some(), report.trigger().is_some());
        }
        let targets = lab::targets::checks(&report);
        assert!(!targets.is_empty(), "{scenario:?}: no target applies");
        let rendered = lab::targets::render(&targets, 16);
        assert!(rendered.contains(scenario.name()));
    }
}

/// The recovery time, on a hand-made series of `(calls, succeeded)` per second:
/// the start of the first bucket from which every bucket is at 95 % or more.
#[test]
fn recovery_time_is_measured_on_the_per_second_series() {
    let ok = (100, 100);
    let bad = (100, 94);
    let edge = (100, 95); // exactly 95 %: recovered
    let empty = (0, 0); // no calls: recovered
    // Trigger ends at bucket 2; the timeline at bucket 8.
    let series = [bad, bad, bad, bad, ok, bad, ok, edge];
    assert_eq!(
        recovery_secs(&series, 2, 8),
        Some(4),
        "stays good from bucket 6"
    );
    let series = [bad, bad, ok, ok, ok, ok, ok, ok];
    assert_eq!(
        recovery_secs(&series, 2, 8),
        Some(0),
        "good from the trigger's end"
    );
    let series = [ok, ok, ok, ok, ok, ok, ok, bad];
    assert_eq!(
        recovery_secs(&series, 2, 8),
        None,
        "the last second is bad: never"
    );
    // Buckets before `from` and from `to` on do not count.
    let series = [bad, bad, ok, empty, ok, ok, ok, ok, bad];
    assert_eq!(recovery_secs(&series, 2, 8), Some(0));
    // A series shorter than the timeline: the missing seconds had no calls.
    assert_eq!(recovery_secs(&[bad, bad, bad, bad], 2, 8), Some(2));
    assert_eq!(recovery_secs(&[], 2, 2), Some(0));
}

/// The server: FIFO over its workers, and a capacity drop holds new work back
/// until fewer than the remaining workers are busy.
#[test]
fn the_server_queues_fifo_and_follows_its_schedule() {
    let phases = |conditions: &[(Condition, u64)]| {
        let mut start = 0;
        conditions
            .iter()
            .map(|&(condition, len)| {
                let p = lab::downstream::Phase {
                    label: "p",
                    condition,
                    start,
                    end: start + len,
                };
                start += len;
                p
            })
            .collect::<Vec<_>>()
    };
    let ds = Downstream::with_server(
        0,
        phases(&[
            (Condition::Healthy, 100),
            (Condition::CapacityDrop, 100),
            (Condition::Healthy, 100),
        ]),
        2,
        1,
    );
    let server = ds.server().unwrap();
    let mut server = server.clone();
    // Two workers: two attempts start at once, the third waits for one.
    assert_eq!(server.admit(0, 10), 10);
    assert_eq!(server.admit(0, 10), 10);
    assert_eq!(server.admit(0, 10), 20);
    // FIFO: an arrival never starts before the one ahead of it.
    assert_eq!(server.admit(5, 1), 6);
    // One worker from 100 to 200: attempts go one at a time, and the third waits
    // for the second worker's return at 200.
    assert_eq!(server.admit(100, 50), 50);
    assert_eq!(server.admit(100, 50), 100);
    assert_eq!(server.admit(100, 50), 150);
    assert_eq!(server.admit(200, 50), 50);
}

/// The overload scenario's point: after the trigger, plain retry keeps the
/// downstream overloaded although its capacity is back and above the offered
/// load (a metastable failure), while the same server fed the same calls without
/// retries drains its backlog and answers in time again well before the end.
#[test]
fn retry_only_keeps_the_overload_going_after_the_trigger() {
    let config = small(5, Scenario::Overload);
    let report = lab::run(&config);
    let trigger = report.trigger().unwrap().clone();
    let retry_only = report.run(Strategy::RetryOnly);
    let figures = retry_only.trigger.unwrap();
    assert_eq!(
        report
            .group(Strategy::RetryOnly, "healthy")
            .unwrap()
            .success_rate(),
        1.0,
        "the server has room for the offered load"
    );
    assert_eq!(figures.recovery_secs, None, "retry-only recovered");
    let after = report.group(Strategy::RetryOnly, "after trigger").unwrap();
    assert!(
        after.amplification() > 2.9 && after.success_rate() < 0.01,
        "after the trigger: {:.2} attempts/call, {:.3} success",
        after.amplification(),
        after.success_rate()
    );
    assert!(
        figures.final_wait > 10 * ATTEMPT_TIMEOUT,
        "the queue at the end: {} s",
        figures.final_wait as f64 / SEC as f64
    );

    // The control: the same server and the same calls, first attempts only.
    let (workers, trigger_workers) = config.server_size().unwrap();
    let ds = Downstream::with_server(
        config.seed,
        config.scenario.phases(),
        workers,
        trigger_workers,
    );
    let end = report.end();
    let mut arrivals: Vec<(u64, u32, u32)> = (0..config.clients)
        .flat_map(|client| {
            let offset = CALL_PERIOD * u64::from(client) / u64::from(config.clients);
            (0..)
                .map(move |call| (offset + call * CALL_PERIOD, client, call as u32))
                .take_while(move |(t, _, _)| *t < end)
        })
        .collect();
    arrivals.sort_unstable();
    let mut last_timeout = 0;
    for (t, client, call) in arrivals {
        let key = AttemptKey {
            client,
            call,
            attempt: 1,
        };
        if ds.attempt(key, t).1.is_err() {
            last_timeout = t;
        }
    }
    assert!(
        last_timeout > trigger.start && last_timeout < trigger.end + 15 * SEC,
        "without retries the last timeout is at {} s (trigger {}-{} s)",
        last_timeout as f64 / SEC as f64,
        trigger.start / SEC,
        trigger.end / SEC
    );
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
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
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
            "README.md quotes a line that `cargo run --release -p fusebox-lab` does not \
             print (or not in this order): {line:?}\n\nthe lab prints:\n{table}"
        );
    }
}

/// The README shows the default run's picture from `docs/`: it must be what the lab
/// draws (`cargo run --release -p fusebox-lab -- --svg docs/outage-default-42.svg`
/// rewrites it).
#[test]
fn readme_picture_is_the_labs_output() {
    let drawn = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("outage-default-42.svg");
    plot::draw(default_run(), &drawn).unwrap();
    let committed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/outage-default-42.svg"
    );
    assert!(
        std::fs::read(committed).unwrap() == std::fs::read(&drawn).unwrap(),
        "docs/outage-default-42.svg differs from what the lab draws ({}): rerun \
         `cargo run --release -p fusebox-lab -- --svg docs/outage-default-42.svg`",
        drawn.display()
    );
}
