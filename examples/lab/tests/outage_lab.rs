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

use lab::downstream::{
    ATTEMPT_TIMEOUT, AttemptKey, Condition, Downstream, DownstreamError, HEALTHY_LATENCY, MS,
    Phase, SEC, SPIKE_LOAD, TAIL_FACTOR, TAIL_SHARE,
};
use lab::{
    BeforeTrip, CALL_PERIOD, Config, Latency, Report, SPIKE_CALL_PERIOD, Scenario, Strategy,
    percentile, recovery_secs,
};
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

/// The CSV columns that existed before the capacity work (the first fourteen),
/// as one string.
fn old_columns(csv: &str) -> String {
    csv.lines()
        .filter(|l| {
            let strategy = l.split(',').nth(3).unwrap_or("");
            ["strategy", "retry-only", "naive", "callbacks", "layered"].contains(&strategy)
        })
        .map(|l| l.split(',').take(14).collect::<Vec<_>>().join(","))
        .collect::<Vec<_>>()
        .join("\n")
}

/// FNV-1a, 64 bits: a fingerprint of a CSV.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The scenarios that existed before `--capacity`, `spike` and `overload-long`
/// give their downstream and baselines the very same figures without the new
/// flag: the fingerprints are of the baselines' CSV rows (first fourteen
/// columns; `retry-only`, `naive`, `callbacks`, `layered`) that the lab wrote
/// before those changes (seed 42, 64 clients). fusebox's own columns change
/// with the library, on purpose.
#[test]
fn existing_scenarios_are_unchanged() {
    let expected = [
        (Scenario::Default, 0x8a0f_c5ee_e09b_3204_u64),
        (Scenario::Flapping, 0xd620_dfc8_ae11_99a5),
        (Scenario::BrownoutOnly, 0x9cea_c8bb_4851_2f57),
        (Scenario::Overload, 0xeb1d_bcb8_309f_25b5),
    ];
    for (scenario, fingerprint) in expected {
        let report = if scenario == Scenario::Default {
            default_run().clone()
        } else {
            lab::run(&Config {
                scenario,
                ..Config::default()
            })
        };
        let csv = lab::report::csv(&report);
        assert_eq!(
            fnv1a(&old_columns(&csv)),
            fingerprint,
            "{scenario:?}: the existing CSV columns changed:\n{}",
            old_columns(&csv)
        );
    }
}

#[test]
fn percentiles_are_nearest_rank() {
    let hundred: Vec<u64> = (1..=100).collect();
    assert_eq!(percentile(&hundred, 0.50), Some(50));
    assert_eq!(percentile(&hundred, 0.99), Some(99));
    assert_eq!(percentile(&hundred, 1.0), Some(100));
    assert_eq!(percentile(&[1, 2, 3, 4], 0.50), Some(2));
    assert_eq!(percentile(&[1, 2, 3, 4], 0.99), Some(4));
    assert_eq!(percentile(&[7], 0.01), Some(7));
    assert_eq!(percentile(&[], 0.5), None);
    // `Latency::of` sorts first.
    let shuffled = vec![90, 10, 50, 30, 70, 20, 40, 60, 80, 100];
    assert_eq!(
        Latency::of(shuffled),
        Latency {
            p50: Some(50),
            p99: Some(100),
            p999: Some(100),
        }
    );
    // p99.9: the value of rank ceil(0.999 n).
    let thousand: Vec<u64> = (1..=1_000).collect();
    assert_eq!(percentile(&thousand, 0.999), Some(999));
    let more: Vec<u64> = (1..=2_001).collect();
    assert_eq!(percentile(&more, 0.999), Some(1_999));
    assert_eq!(Latency::of(thousand).p999, Some(999));
    assert_eq!(Latency::of(Vec::new()), Latency::default());
}

/// During `spike`'s trigger every client calls 2.5 times as often (the same
/// calls for every strategy); before and after, as usual.
#[test]
fn the_spike_offers_two_and_a_half_times_the_calls_during_the_trigger() {
    assert_eq!(CALL_PERIOD as f64 / SPIKE_CALL_PERIOD as f64, SPIKE_LOAD);
    let config = small(4, Scenario::Spike);
    let report = lab::run(&config);
    let trigger = report.trigger().unwrap().clone();
    assert_eq!(trigger.condition, Condition::LoadSpike);
    let clients = u64::from(config.clients);
    let normal = |len: u64| clients * len / CALL_PERIOD;
    for run in &report.runs {
        let calls = |label| report.group(run.strategy, label).unwrap().calls;
        assert_eq!(calls("healthy"), normal(20 * SEC));
        assert_eq!(
            calls("trigger"),
            normal(10 * SEC) * 5 / 2,
            "{:?}",
            run.strategy
        );
        assert_eq!(calls("after trigger"), normal(30 * SEC));
    }
    // Each client: one call per 40 ms through the spike, staggered.
    let phases = config.scenario.phases();
    for client in 0..config.clients {
        let times: Vec<u64> = lab::call_times(&phases, client, config.clients)
            .filter(|t| (trigger.start..trigger.end).contains(t))
            .collect();
        assert_eq!(times.len(), 250, "client {client}");
        assert_eq!(
            times[0],
            trigger.start + SPIKE_CALL_PERIOD * u64::from(client) / clients
        );
        assert!(times.windows(2).all(|w| w[1] - w[0] == SPIKE_CALL_PERIOD));
    }
    // The limit during the trigger: the server's 1.5x capacity, below the
    // 2.5x offered load (16 clients: 12 workers, 240 attempts/s, for 10 s).
    let service = report.service(Strategy::RetryOnly, "trigger").unwrap();
    assert_eq!(config.server_size(), Some((12, 12)));
    assert!((service.limit - 2_400.0).abs() < 1e-6, "{}", service.limit);
    // Without a spike the schedule is one call per period from the offset on.
    let default = Scenario::Default.phases();
    let times: Vec<u64> = lab::call_times(&default, 3, 16).take(5).collect();
    let offset = CALL_PERIOD * 3 / 16;
    assert_eq!(
        times,
        (0..5).map(|k| offset + k * CALL_PERIOD).collect::<Vec<_>>()
    );
}

/// `--capacity X`: workers = round(offered calls/s x X x 50 ms), at least 1;
/// the trigger share of them during a capacity drop; `overload`'s own server
/// is `--capacity 1.5`.
#[test]
fn capacity_sizes_the_server_as_documented() {
    let with = |scenario, capacity| Config {
        capacity,
        ..small(1, scenario)
    };
    // 16 clients: 160 calls/s offered.
    assert_eq!(with(Scenario::Default, None).server_size(), None);
    assert_eq!(
        with(Scenario::Default, Some(2.0)).server_size(),
        Some((16, 16))
    );
    assert_eq!(
        with(Scenario::Overload, Some(2.0)).server_size(),
        Some((16, 6))
    );
    assert_eq!(with(Scenario::Overload, None).server_size(), Some((12, 5)));
    // 160 x 1.1 x 0.05 = 8.8: 9 workers, half of them (4.5, rounded) in the trigger.
    assert_eq!(
        with(Scenario::OverloadLong, None).server_size(),
        Some((9, 5))
    );
    assert_eq!(with(Scenario::Spike, None).server_size(), Some((12, 12)));
    assert_eq!(
        with(Scenario::Default, Some(0.001)).server_size(),
        Some((1, 1))
    );

    // The same server, the same run.
    let own = lab::run(&with(Scenario::Overload, None));
    let flagged = lab::run(&with(Scenario::Overload, Some(1.5)));
    assert_eq!(own.runs, flagged.runs);

    // A capacity-free scenario on a server: the goodput limit of a healthy phase
    // is min(capacity, offered) x its length; without the server, the offered
    // calls.
    let served = lab::run(&with(Scenario::Default, Some(0.5)));
    let plain = lab::run(&with(Scenario::Default, None));
    let limit = |r: &Report, label| r.service(Strategy::RetryOnly, label).unwrap().limit;
    // 0.5x: 4 workers, 80 attempts/s, 20 s.
    assert!((limit(&served, "healthy") - 1_600.0).abs() < 1e-6);
    assert!((limit(&plain, "healthy") - 3_200.0).abs() < 1e-6);
    assert_eq!(
        plain.group(Strategy::RetryOnly, "healthy").unwrap().calls,
        3_200
    );
    // An outage with a server can answer nothing: no share.
    let outage = served.service(Strategy::RetryOnly, "outage").unwrap();
    assert_eq!((outage.limit, outage.goodput_share()), (0.0, None));
    // Half the capacity the healthy load needs: the queue grows past the
    // timeout, and most of the server's work goes to answers nobody reads.
    let healthy = served.service(Strategy::RetryOnly, "healthy").unwrap();
    assert!(
        healthy.goodput_share().unwrap() < 0.5,
        "{:?}",
        healthy.goodput_share()
    );
    assert!(healthy.latency.p99.unwrap() > 500 * MS);
    assert!(
        served.run(Strategy::RetryOnly).total.success_rate()
            < plain.run(Strategy::RetryOnly).total.success_rate()
    );
}

/// What the conditions mean with a server (the module documentation of
/// `downstream`).
#[test]
fn a_server_serves_every_condition_as_documented() {
    let second = |condition| Phase {
        label: "p",
        condition,
        start: 0,
        end: 10 * SEC,
    };
    let key = |call| AttemptKey {
        client: 0,
        call,
        attempt: 1,
    };
    // An outage: every attempt times out, and no worker is held.
    let ds = Downstream::with_server(9, vec![second(Condition::Outage)], 1, 1);
    for call in 0..3 {
        assert_eq!(
            ds.attempt(key(call), 0),
            (ATTEMPT_TIMEOUT, Err(DownstreamError::Timeout))
        );
    }
    assert!(ds.server().unwrap().waits().iter().all(|&w| w == 0));

    // A brownout: the same answers and service times as without a server, when
    // nothing queues (one attempt at a time).
    let brownout = vec![second(Condition::Brownout)];
    let (free, served) = (
        Downstream::new(9, brownout.clone()),
        Downstream::with_server(9, brownout, 1, 1),
    );
    let mut failed = 0;
    for call in 0..200 {
        let t = u64::from(call) * 100 * MS;
        let expected = free.attempt(key(call), t);
        assert_eq!(served.attempt(key(call), t), expected);
        failed += usize::from(expected.1.is_err());
    }
    assert!((40..80).contains(&failed), "{failed} of 200 failed");

    // Slow: one worker, an attempt past the timeout fails at it, and the worker
    // still serves it to the end, so the next attempt waits.
    let ds = Downstream::with_server(9, vec![second(Condition::Slow)], 1, 1);
    let (took, answer) = ds.attempt(key(0), 0);
    let mut server = ds.server().unwrap().clone();
    // The next arrival at 0 waits for the first one's whole service.
    let queued = server.admit(0, 1);
    assert!(queued > 700 * MS, "waited only {queued} ns");
    if queued - 1 > ATTEMPT_TIMEOUT {
        assert_eq!(
            (took, answer),
            (ATTEMPT_TIMEOUT, Err(DownstreamError::Timeout))
        );
    } else {
        assert_eq!((took, answer), (queued - 1, Ok(())));
    }
}

/// `--capacity`'s value is checked like the other flags'.
#[test]
fn capacity_flag_takes_a_positive_number() {
    let outage = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_outage"))
            .args(args)
            .output()
            .unwrap()
    };
    for bad in ["0", "-1", "abc", "inf", "NaN", ""] {
        let out = outage(&["--capacity", bad, "--svg", "/dev/null"]);
        assert_eq!(out.status.code(), Some(2), "--capacity {bad:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("`--capacity` takes a positive number"),
            "{stderr}"
        );
    }
    let help = outage(&["--help"]);
    let usage = String::from_utf8_lossy(&help.stdout);
    for word in ["--capacity X", "spike", "overload-long"] {
        assert!(usage.contains(word), "--help lacks {word}");
    }
}

/// A reference line is shown but not counted as a target.
#[test]
fn targets_render_reference_lines_without_counting_them() {
    // A seed `--targets` runs, so that the rendering has a column for it.
    let report = lab::run(&small(42, Scenario::OverloadLong));
    let checks = lab::targets::checks(&report);
    assert!(checks.iter().any(|c| c.pass.is_none()));
    let targets = checks.iter().filter(|c| c.pass.is_some()).count();
    let rendered = lab::targets::render(&checks, 16);
    assert!(rendered.contains("INFO retry-only"));
    assert!(rendered.contains(&format!("checks pass ({} targets", targets / 3)));
    let capacity = lab::targets::capacity_check(&report, 1.1);
    assert_eq!(capacity.label(), "overload-long --capacity 1.1");
}

/// The widest line of `text`, in characters, and that line.
fn widest(text: &str) -> (usize, &str) {
    text.lines()
        .map(|l| (l.chars().count(), l))
        .max()
        .unwrap_or((0, ""))
}

/// Assert that every line of `text` fits in the lab's 100 columns.
fn assert_fits(what: &str, text: &str) {
    assert_eq!(lab::report::WIDTH, 100);
    let (width, line) = widest(text);
    assert!(
        width <= lab::report::WIDTH,
        "{what}: a line of {width} columns:\n{line}\n\nin:\n{text}"
    );
}

/// Every line the lab prints fits in 100 columns: the table of every scenario
/// (with and without `--capacity`, at the README's size and a small one), the
/// targets, `--help`, an error, and what the binary itself prints.
#[test]
fn every_line_the_lab_prints_fits_in_100_columns() {
    // The table, with the picture's path as the binary prints it.
    let mut reports = vec![default_run().clone()];
    for scenario in Scenario::ALL {
        reports.push(lab::run(&small(5, scenario)));
    }
    reports.push(lab::run(&Config {
        capacity: Some(1.5),
        ..small(6, Scenario::Default)
    }));
    // The tail at the README's size, and on a server (its own preamble lines).
    reports.push(lab::run(&Config {
        scenario: Scenario::Tail,
        ..Config::default()
    }));
    reports.push(lab::run(&Config {
        scenario: Scenario::Tail,
        capacity: Some(1.5),
        ..Config::default()
    }));
    for report in &reports {
        let svg = plot::default_path(&report.config, None);
        let table = lab::report::table(report, Some(&svg.display().to_string()));
        assert_fits(report.config.scenario.name(), &table);
        // Both blocks are there, each with its strategies' names.
        for strategy in Strategy::ALL {
            assert!(table.contains(strategy.name()), "{:?}", strategy);
        }
        assert_eq!(table.matches("\nfigure ").count(), 2, "{table}");
    }
    // A path wider than a line goes on a line of its own.
    let long = format!("/{}/default-42.svg", "d".repeat(90));
    let table = lab::report::table(default_run(), Some(&long));
    assert!(table.contains(&format!("timeline picture:\n  {long}\n")));

    // The binary: `--targets` (at a small size), `--help`, a run, an error.
    let outage = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_outage"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = outage(&["--targets", "--clients", "4"]);
    assert!(out.status.success());
    let targets = String::from_utf8(out.stdout).unwrap();
    assert!(targets.contains("checks pass"), "{targets}");
    assert_fits("--targets", &targets);
    let help = String::from_utf8(outage(&["--help"]).stdout).unwrap();
    assert!(help.contains("--svg PATH"));
    assert_fits("--help", &help);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("widths");
    let svg = dir.join("run.svg");
    let csv = dir.join("run.csv");
    let out = outage(&[
        "--scenario",
        "overload-long",
        "--clients",
        "4",
        "--capacity",
        "1.25",
        "--svg",
        svg.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.contains("per-phase CSV:"), "{printed}");
    assert_fits("a run", &printed);
    let out = outage(&["--scenario", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("`--scenario` takes one of"), "{stderr}");
    assert_fits("an error", &stderr);
}

/// `--targets` never prints a failing value equal to its bound: the figure and
/// the bound get as many decimals as it takes, in the same unit.
#[test]
fn a_failing_value_never_prints_equal_to_its_bound() {
    use lab::targets::{PERCENT, POINTS, above, at_least, at_most, number};
    // The issue's case: 84.97 % against 85 %.
    assert_eq!(
        at_least(0.8497, 0.85, PERCENT),
        ("84.97 % < 85.00 %".to_string(), false)
    );
    assert_eq!(
        at_least(0.961, 0.85, PERCENT),
        ("96.10 % >= 85.00 %".to_string(), true)
    );
    // Just below the bound, however close: never written alike.
    let bound: f64 = 0.85;
    let mut value = bound;
    let mut tried = 0;
    for step in [1e-3, 1e-5, 1e-7, 1e-9, 1e-11, 1e-13, 1e-15] {
        for k in 1..=20 {
            value = bound - step * f64::from(k);
            let (text, pass) = at_least(value, bound, PERCENT);
            assert!(!pass, "{value}");
            let (shown, rest) = text.split_once(" < ").unwrap();
            assert_ne!(shown, rest, "{value}: {text}");
            assert!(shown.ends_with(" %") || shown.contains(" % ("), "{text}");
            tried += 1;
        }
    }
    assert!(value < bound && tried == 140);
    // The nearest float below: beyond 17 decimals, the exact difference.
    let next_below = f64::from_bits(bound.to_bits() - 1);
    let (text, pass) = at_least(next_below, bound, PERCENT);
    assert!(!pass);
    let (shown, rest) = text.split_once(" < ").unwrap();
    assert_ne!(shown, rest, "{text}");
    // Equal is equal, and passes.
    assert_eq!(
        at_least(0.85, 0.85, PERCENT),
        ("85.00 % >= 85.00 %".to_string(), true)
    );
    // The other relations.
    assert_eq!(
        at_most(0.0501, 0.05, number(3)),
        ("0.0501 > 0.0500".to_string(), false)
    );
    assert_eq!(
        at_most(0.040, 0.05, number(3)),
        ("0.040 <= 0.050".to_string(), true)
    );
    assert_eq!(
        above(0.45, 0.45, PERCENT),
        ("45.00 % <= 45.00 %".to_string(), false)
    );
    assert_eq!(
        above(0.45001, 0.45, PERCENT),
        ("45.001 % > 45.000 %".to_string(), true)
    );
    assert_eq!(
        at_most(0.0800001, 0.08, POINTS),
        ("8.00001 > 8.00000".to_string(), false)
    );
    // And in a real report, every failing comparison shows two different sides.
    for scenario in Scenario::ALL {
        let report = lab::run(&small(2, scenario));
        for check in lab::targets::checks(&report) {
            for op in [" < ", " > ", " <= "] {
                if let Some((left, right)) = check.measured.split_once(op) {
                    let right = right.split(" (").next().unwrap();
                    if check.pass == Some(false) && op != " <= " {
                        assert_ne!(left, right, "{check:?}");
                    }
                }
            }
        }
    }
}

/// Without `--svg` the picture goes to `$CARGO_TARGET_DIR/outage/`, read when
/// the lab runs; without it (or with it empty), to `target/outage/`.
#[test]
fn the_picture_goes_to_cargo_target_dir() {
    use std::ffi::OsStr;
    use std::path::PathBuf;
    let config = Config::default();
    assert_eq!(
        plot::default_path(&config, None),
        PathBuf::from("target/outage/default-42.svg")
    );
    assert_eq!(
        plot::default_path(&config, Some(OsStr::new(""))),
        PathBuf::from("target/outage/default-42.svg")
    );
    assert_eq!(
        plot::default_path(&config, Some(OsStr::new("/tmp/elsewhere"))),
        PathBuf::from("/tmp/elsewhere/outage/default-42.svg")
    );
    let with_capacity = Config {
        capacity: Some(1.5),
        scenario: Scenario::Spike,
        seed: 7,
        ..config
    };
    assert_eq!(
        plot::default_path(&with_capacity, Some(OsStr::new("build"))),
        PathBuf::from("build/outage/spike-7-capacity-1.5.svg")
    );

    // The binary, run with a target directory of its own.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("target-dir");
    let _ = std::fs::remove_dir_all(&dir);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_outage"))
        .args(["--clients", "4", "--seed", "3"])
        .env("CARGO_TARGET_DIR", &dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let expected = dir.join("outage").join("default-3.svg");
    assert!(expected.is_file(), "no picture at {}", expected.display());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(&expected.display().to_string()),
        "the lab names where the picture went:\n{stdout}"
    );
}

/// The picture's panels: a success-rate panel and a load panel per strategy,
/// and a health panel per fusebox strategy, each row named after its strategy.
#[test]
fn the_picture_has_a_success_rate_panel_per_strategy() {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("panels.svg");
    let report = lab::run(&small(1, Scenario::Default));
    plot::draw(&report, &path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.contains("call success rate"));
    assert!(svg.contains("downstream load"));
    for run in &report.runs {
        // The row's name, and the health section's for a fusebox strategy.
        let name = format!(">\n{}\n</text>", run.strategy.name());
        let expected = if run.strategy.is_fusebox() { 2 } else { 1 };
        assert_eq!(svg.matches(&name).count(), expected, "{:?}", run.strategy);
        // The whole-run success rate beside it.
        let success = format!(
            "whole run: {:.1} % success,",
            run.total.success_rate() * 100.0
        );
        assert!(svg.contains(&success), "{success}");
    }
    // The y labels of seven success panels.
    assert_eq!(svg.matches(">\n100 %\n</text>").count(), report.runs.len());
}

/// The `tail` scenario's phases: one `Tail` condition throughout.
fn tail_phases() -> Vec<Phase> {
    let phases = Scenario::Tail.phases();
    assert!(phases.iter().all(|p| p.condition == Condition::Tail));
    phases
}

/// In `tail`, an attempt takes its healthy latency, or 10 times it: the same
/// draw as in a healthy phase, then 2 % of the attempts (± 0.3 points over
/// 20,000 attempts, a little over 3 standard deviations) are slow; with a server
/// that serves one at a time, the same service times.
#[test]
fn two_percent_of_tail_attempts_take_ten_times_as_long() {
    let phases = tail_phases();
    let healthy: Vec<Phase> = phases
        .iter()
        .map(|p| Phase {
            condition: Condition::Healthy,
            ..p.clone()
        })
        .collect();
    for seed in [42, 7] {
        let (tail, plain) = (
            Downstream::new(seed, phases.clone()),
            Downstream::new(seed, healthy.clone()),
        );
        let served = Downstream::with_server(seed, phases.clone(), 1, 1);
        let n = 20_000u32;
        let mut slow = 0;
        for i in 0..n {
            let key = AttemptKey {
                client: i % 64,
                call: i / 64,
                attempt: 1 + i % 3,
            };
            let (took, answer) = tail.attempt(key, 0);
            let (usual, _) = plain.attempt(key, 0);
            assert_eq!(answer, Ok(()), "the tail stays within the timeout");
            assert!((HEALTHY_LATENCY.0..=HEALTHY_LATENCY.1).contains(&usual));
            if took == usual * TAIL_FACTOR {
                slow += 1;
                assert!((200 * MS..=800 * MS).contains(&took));
            } else {
                assert_eq!(took, usual, "{key:?}: neither the usual latency nor 10x it");
            }
            // One attempt a second on one worker: nothing queues, and the
            // response is the service time, the tail's included.
            if i < 200 {
                assert_eq!(served.attempt(key, u64::from(i) * SEC), (took, Ok(())));
            }
        }
        let share = f64::from(slow) / f64::from(n);
        assert!(
            (share - TAIL_SHARE).abs() <= 0.003,
            "seed {seed}: {slow} of {n} attempts slow ({:.2} %)",
            share * 100.0
        );
    }
}

/// The tail scenario, on the lab's own output: the same seed gives the same
/// table; every call of `retry-only` succeeds at one attempt; its p99.9 is
/// above its p99, which is above its p50 (2 % slow attempts put the p99 in
/// the slow range and leave the p50 in the usual one).
#[test]
fn the_tail_scenario_measures_the_tail() {
    let config = Config {
        scenario: Scenario::Tail,
        ..Config::default()
    };
    let report = lab::run(&config);
    let again = lab::run(&config);
    assert_eq!(report, again);
    assert_eq!(
        lab::report::table(&report, None),
        lab::report::table(&again, None)
    );
    assert_eq!(lab::report::csv(&report), lab::report::csv(&again));
    let other = lab::run(&Config { seed: 43, ..config });
    assert_ne!(
        lab::report::table(&report, None),
        lab::report::table(&other, None)
    );

    assert_eq!(report.groups, ["warm-up", "steady"]);
    assert!(report.trigger().is_none());
    for label in ["warm-up", "steady"] {
        let f = report.group(Strategy::RetryOnly, label).unwrap();
        assert_eq!((f.succeeded, f.attempts), (f.calls, f.calls), "{label}");
        let l = report.service(Strategy::RetryOnly, label).unwrap().latency;
        let (p50, p99, p999) = (l.p50.unwrap(), l.p99.unwrap(), l.p999.unwrap());
        assert!(p999 > p99 && p99 > p50, "{label}: {l:?}");
        assert!(p50 <= HEALTHY_LATENCY.1, "{label}: p50 {p50}");
        assert!(p99 >= HEALTHY_LATENCY.0 * TAIL_FACTOR, "{label}: p99 {p99}");
    }
    let table = lab::report::table(&report, None);
    assert!(table.contains("call latency p99.9 (ms, issue to end)"));
    assert!(table.contains("  tail: 2 % of attempts"), "{table}");

    // The CSV's last two columns: p99.9 of all and of the admitted calls.
    let csv = lab::report::csv(&report);
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(header[21..], ["call_p999_ms", "admitted_p999_ms"]);
    let steady = csv
        .lines()
        .find(|l| l.contains(",retry-only,steady,"))
        .unwrap();
    let p999 = report
        .service(Strategy::RetryOnly, "steady")
        .unwrap()
        .latency
        .p999
        .unwrap();
    assert_eq!(
        steady.split(',').nth(21).unwrap(),
        format!("{:.1}", p999 as f64 / MS as f64)
    );
}

/// `--capacity X` in `tail`: the server's service times carry the tail, and its
/// mean service time (for the goodput limit) counts it: 59 ms.
#[test]
fn the_tail_on_a_server() {
    assert_eq!(
        lab::downstream::mean_service(Condition::Tail),
        Some(59 * MS)
    );
    let report = lab::run(&Config {
        scenario: Scenario::Tail,
        capacity: Some(1.5),
        ..small(3, Scenario::Tail)
    });
    // 16 clients, 160 calls/s: 12 workers, 203 attempts/s with the tail, above
    // the offered load: the limit is the offered calls.
    assert_eq!(report.config.server_size(), Some((12, 12)));
    let steady = report.service(Strategy::RetryOnly, "steady").unwrap();
    assert!((steady.limit - 8_000.0).abs() < 1e-6, "{}", steady.limit);
    let l = steady.latency;
    assert!(l.p999.unwrap() > l.p99.unwrap() && l.p99.unwrap() > l.p50.unwrap());
}

/// The hedging issue's tail targets wait for a strategy named `fusebox-hedge`:
/// until it exists, one INFO line (not a target) in each run they are for;
/// once it does, real targets. The bounds themselves are checked with
/// stand-ins: `fusebox-default` against itself meets the cost bounds and not
/// the 5x latency one; `retry-only` in `overload` misses the goodput one.
#[test]
fn hedging_targets_wait_for_the_hedging_strategy() {
    use lab::targets::{HEDGE, hedge_checks, hedge_checks_for};
    let waiting = !Strategy::ALL.iter().any(|s| s.name() == HEDGE);
    let tail = lab::run(&small(42, Scenario::Tail));
    let tail_server = lab::run(&Config {
        capacity: Some(1.5),
        ..small(42, Scenario::Tail)
    });
    let overload = lab::run(&small(42, Scenario::Overload));
    for report in [&tail, &tail_server, &overload] {
        let checks = hedge_checks(report);
        if waiting {
            assert_eq!(checks.len(), 1, "{checks:?}");
            assert_eq!(checks[0].pass, None);
            assert!(checks[0].target.contains("(waiting)"), "{checks:?}");
            assert!(checks[0].measured.contains("no fusebox-hedge yet"));
        } else {
            assert!(!checks.is_empty() && checks.iter().all(|c| c.pass.is_some()));
        }
        // `--targets` carries them.
        let all = lab::targets::checks(report);
        assert!(checks.iter().all(|c| all.contains(c)));
    }
    assert!(hedge_checks(&lab::run(&small(42, Scenario::Spike))).is_empty());

    let verdicts = |report: &Report, s| {
        hedge_checks_for(report, s)
            .into_iter()
            .map(|c| (c.target, c.pass))
            .collect::<Vec<_>>()
    };
    let own = verdicts(&tail, Strategy::FuseboxDefault);
    assert_eq!(own.len(), 3, "{own:?}");
    assert!(own[0].0.contains(" p99 ") && own[1].0.contains(" p99.9 "));
    assert_eq!(
        own.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
        [Some(false), Some(false), Some(true)],
        "{own:?}"
    );
    for report in [&tail_server, &overload] {
        let own = verdicts(report, Strategy::FuseboxDefault);
        assert_eq!(own.len(), 2, "{own:?}");
        assert!(own.iter().all(|(_, p)| *p == Some(true)), "{own:?}");
    }
    let retry_only = verdicts(&overload, Strategy::RetryOnly);
    assert!(retry_only[0].0.contains("goodput"));
    assert_eq!(retry_only[0].1, Some(false), "{retry_only:?}");
    // `default`'s outage, a dead downstream: no more attempts per call than
    // `fusebox-default` (which `retry-only`, retrying into it, misses); none
    // on a server.
    let default = lab::run(&small(42, Scenario::Default));
    let retry_only = verdicts(&default, Strategy::RetryOnly);
    assert_eq!(retry_only.len(), 1, "{retry_only:?}");
    assert!(
        retry_only[0].0.contains("dead downstream"),
        "{retry_only:?}"
    );
    assert_eq!(retry_only[0].1, Some(false), "{retry_only:?}");
    assert_eq!(
        verdicts(&default, Strategy::FuseboxDefault)[0].1,
        Some(true)
    );
    let default_server = lab::run(&Config {
        capacity: Some(1.5),
        ..small(42, Scenario::Default)
    });
    assert!(hedge_checks(&default_server).is_empty());
}

/// `fusebox-hedge` is a column of its own, after `fusebox-default`, and a
/// fusebox strategy; its run, hedges and all, is a function of the seed; no
/// other strategy sends a hedge (an attempt beside another of its call).
#[test]
fn fusebox_hedge_exists_and_is_deterministic() {
    let names: Vec<&str> = Strategy::ALL.iter().map(|s| s.name()).collect();
    let at = names.iter().position(|n| *n == "fusebox-hedge").unwrap();
    assert_eq!(names[at - 1], "fusebox-default", "{names:?}");
    assert!(Strategy::FuseboxHedge.is_fusebox() && Strategy::FuseboxHedge.has_breaker());
    let config = small(42, Scenario::Tail);
    let (report, again) = (lab::run(&config), lab::run(&config));
    let hedge = report.run(Strategy::FuseboxHedge);
    assert_eq!(hedge, again.run(Strategy::FuseboxHedge));
    assert!(!hedge.hedge_times.is_empty());
    assert!(hedge.hedge_times.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(hedge.total.hedges, hedge.hedge_times.len() as u64);
    let other = lab::run(&Config { seed: 43, ..config });
    assert_ne!(
        hedge.hedge_times,
        other.run(Strategy::FuseboxHedge).hedge_times
    );
    for run in report
        .runs
        .iter()
        .filter(|r| r.strategy != Strategy::FuseboxHedge)
    {
        assert_eq!(run.total.hedges, 0, "{:?}", run.strategy);
        assert!(run.hedge_times.is_empty(), "{:?}", run.strategy);
    }
}

/// In `tail`, `fusebox-hedge` hedges: more than one attempt per call in
/// `steady` (`fusebox-default` makes at most one on this healthy downstream),
/// every extra attempt a hedge, a few per hundred calls (a hedge once an
/// attempt outlasts the 0.95 quantile), and a shorter p99 and p99.9 than
/// `fusebox-default`'s.
#[test]
fn fusebox_hedge_hedges_the_tail() {
    for seed in [42, 7] {
        let report = lab::run(&small(seed, Scenario::Tail));
        let (own, base) = (
            report.group(Strategy::FuseboxHedge, "steady").unwrap(),
            report.group(Strategy::FuseboxDefault, "steady").unwrap(),
        );
        assert!(own.amplification() > 1.0, "seed {seed}: {own:?}");
        assert!(base.amplification() <= 1.0, "seed {seed}: {base:?}");
        assert_eq!(own.failed_attempts, 0);
        // No failure, so no retry: every attempt past the first of a call is
        // a hedge (the default policy sends at most one per call).
        assert!(
            own.attempts <= own.calls + own.hedges,
            "seed {seed}: {own:?}"
        );
        assert!(
            own.hedges > 0 && own.hedges * 100 <= own.calls * 5,
            "seed {seed}: {own:?}"
        );
        let latency = |s| report.service(s, "steady").unwrap().latency;
        let (own, base) = (
            latency(Strategy::FuseboxHedge),
            latency(Strategy::FuseboxDefault),
        );
        assert!(
            own.p99.unwrap() < base.p99.unwrap(),
            "seed {seed}: {own:?} {base:?}"
        );
        assert!(
            own.p999.unwrap() < base.p999.unwrap(),
            "seed {seed}: {own:?} {base:?}"
        );
    }
}

/// On a dead downstream (`default`'s outage) the hedges stop with the
/// breaker: every hedge of the outage is sent before the breaker first opens
/// in it (while every attempt still hangs and none has failed yet), none
/// while it is open, and after that second the outage's load is
/// `fusebox-default`'s, second for second, within a probe.
#[test]
fn fusebox_hedge_stops_hedging_a_dead_downstream_when_the_breaker_opens() {
    for seed in SEEDS {
        let report = lab::run(&small(seed, Scenario::Default));
        let outage = report
            .phases
            .iter()
            .find(|p| p.condition == Condition::Outage)
            .unwrap();
        let hedge = report.run(Strategy::FuseboxHedge);
        let first_open = hedge
            .states
            .iter()
            .find(|c| c.at >= outage.start && c.state == lab::baselines::Mode::Open)
            .unwrap()
            .at;
        let during = |t: &&u64| (outage.start..outage.end).contains(*t);
        assert!(
            hedge
                .hedge_times
                .iter()
                .filter(during)
                .all(|&t| t < first_open)
        );
        let hedged = report
            .group(Strategy::FuseboxHedge, "outage")
            .unwrap()
            .hedges;
        assert!(hedged > 0, "seed {seed}");
        assert_eq!(hedge.total.attempts_while_open, 0);
        let base = report.run(Strategy::FuseboxDefault);
        let second = |t: u64| (t / SEC) as usize;
        for b in second(first_open) + 1..second(outage.end) {
            let (own, theirs) = (hedge.load[b], base.load[b]);
            assert!(
                own.abs_diff(theirs) <= 2,
                "seed {seed}, second {b}: {own} vs {theirs}"
            );
        }
    }
}

/// The hedging issue's target on a dead downstream: no more attempts per call
/// during the outage than without hedging. The outage begins with the breaker
/// closed and healthy, and every attempt hangs for the 1 s timeout, so for its
/// first second nothing has failed and calls hedge after the delay learnt on
/// the healthy downstream; the breaker opens at 1.1-1.3 s and no hedge
/// follows. The hedge's extra-load allowance (5 % of calls, a burst of 10)
/// bounds those hedges: at 64 clients 0.0419 attempts per call against
/// fusebox-default's 0.0402 (seed 42; 7: 0.0420 / 0.0407; 1234: 0.0419 /
/// 0.0403), 4 % more, where before the allowance every call hedged until the
/// retry budget ran dry (0.0515, 28 % more). So the strict target is **not
/// met**; this checks the bound the allowance gives, at most 5 % more.
#[test]
fn fusebox_hedge_adds_at_most_its_allowance_on_a_dead_downstream() {
    for seed in SEEDS {
        let report = lab::run(&small(seed, Scenario::Default));
        let per_call = |s| report.group(s, "outage").unwrap().amplification();
        let (own, base) = (
            per_call(Strategy::FuseboxHedge),
            per_call(Strategy::FuseboxDefault),
        );
        assert!(
            own <= base * 1.05,
            "seed {seed}: {own:.4} > 1.05 x {base:.4} attempts per call"
        );
    }
}
