//! The outage lab: what fusing retry, breaker and budget changes under an outage,
//! in numbers and a picture.
//!
//! A deterministic, seeded discrete-event simulation in virtual time: clients call
//! a scripted downstream (healthy, a hard outage, recovery, a brownout, a slow
//! period, healthy again; or, in `overload`, `overload-long` and `spike`, a
//! capacity-limited server whose capacity drops or whose load spikes for a while;
//! `--capacity X` puts any scenario on such a server; or, in `tail`, a healthy
//! downstream of which 2 % of the attempts take 10 times as long) through eight
//! strategies — plain retry with no breaker, three BASELINES (the naive retry-inside-breaker design, its
//! per-attempt-callback variant, and a retry loop layered outside a count-based
//! breaker) and `fusebox::Guard`, tripping on a failure count or on a failure rate
//! with the baselines' numbers, or built from the library's defaults, with or
//! without the library's default hedging, driven
//! through `call_async` on a simulated executor — and the lab measures load
//! amplification, how fast each breaker opens and closes, wasted sleeps, stale
//! overwrites, budget refusals, call latency and goodput against the physical
//! limit per phase (p50, p99 and p99.9 latency) and, in the trigger scenarios,
//! recovery time and goodput during the trigger.
//!
//! Run: `cargo run --release -p fusebox-lab` (see `--help`);
//! `-- --targets` checks the maintainers' targets for `fusebox-default`. Every
//! line it prints fits in 100 columns. The picture goes to
//! `$CARGO_TARGET_DIR/outage/` (read when the lab runs), or `target/outage/`
//! without it, unless `--svg` says where.

// `lab` is shared with tests/outage_lab.rs, which uses a few accessors this
// binary does not.
#[allow(dead_code)]
#[path = "lab.rs"]
mod lab;
mod plot;

use lab::report::{WIDTH, labelled, wrap};
use lab::{Config, Scenario};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo run --release -p fusebox-lab -- [options]

options:
  --seed N          seed for the downstream and every random draw (default 42)
  --clients N       logical clients, 1..=10000 (default 64)
  --scenario NAME   default | flapping | brownout-only | overload | spike |
                    overload-long | tail (default: default)
  --capacity X      run the scenario on a capacity-limited server (FIFO queue)
                    sized X times the offered load, X a positive number such as
                    1.5 (workers = round(offered calls/s x X x 50 ms), at least
                    1); without it, overload and spike have a 1.5x server,
                    overload-long a 1.1x one, the others no capacity limit
  --csv PATH        also write per-strategy, per-phase figures as CSV (with call
                    latency p50/p99, admitted calls' p50/p99, goodput against
                    the physical limit, then call and admitted p99.9); in a
                    scenario with a trigger
                    (overload, spike, overload-long), each strategy also has the
                    metric rows `recovery-time` (s, `inf` = never) and
                    `trigger-goodput` (successes/s), their value in the
                    `wasted_sleep_s` column
  --svg PATH        where to write the timeline picture (default:
                    <target>/outage/<scenario>-<seed>.svg, or
                    <scenario>-<seed>-capacity-<X>.svg with --capacity;
                    <target> is $CARGO_TARGET_DIR if set when the lab runs,
                    else target, in the current directory)
  --targets         instead: run every scenario at seeds 42, 7 and 1234, and
                    each once more with --capacity 1.5, and print each target
                    for fusebox-default, measured, with PASS or FAIL (a report:
                    exits 0 either way; honours --clients)
  --help            this text

scenarios: default: healthy, outage, recovery, brownout, slow, healthy again;
flapping: short outages and recoveries; brownout-only: a 60 s 30 % brownout;
overload: 40 % of the workers for 10 s; spike: 2.5x the load for 10 s;
overload-long: half the workers for 30 s on a 1.1x server; tail: healthy for
60 s (warm-up 10 s, steady 50 s), but 2 % of attempts, drawn per attempt and the
same for every strategy, take 10x the usual 20-80 ms (with --capacity, 10x the
service time): p50 / p99 / p99.9 and attempts per call measure the tail

strategies: retry-only (no breaker), naive, callbacks, layered (baselines),
fusebox, fusebox-rate (the baselines' numbers), fusebox-default (the library's
defaults, untouched), fusebox-hedge (fusebox-default with the library's default
hedging: a second attempt once one outlasts the 0.95 quantile of recent ones)
";

/// What the command line asked for.
struct Options {
    config: Config,
    csv: Option<PathBuf>,
    svg: Option<PathBuf>,
    targets: bool,
}

/// `Ok(None)` means `--help`.
fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        config: Config::default(),
        csv: None,
        svg: None,
        targets: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_string(), Some(value)),
            _ => (arg.clone(), None),
        };
        if flag == "--help" || flag == "-h" {
            return Ok(None);
        }
        if flag == "--targets" && inline.is_none() {
            options.targets = true;
            continue;
        }
        if !matches!(
            flag.as_str(),
            "--seed" | "--clients" | "--scenario" | "--capacity" | "--csv" | "--svg"
        ) {
            return Err(format!("unknown argument `{arg}`"));
        }
        let value = match inline {
            Some(v) => v.to_string(),
            None => args
                .next()
                .ok_or_else(|| format!("`{flag}` needs a value"))?,
        };
        match flag.as_str() {
            "--seed" => {
                options.config.seed = value.parse().map_err(|_| {
                    format!(
                        "`--seed` takes a whole number from 0 to {}, not `{value}`",
                        u64::MAX
                    )
                })?;
            }
            "--clients" => {
                options.config.clients = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| {
                        format!("`--clients` takes a whole number from 1 to 10000, not `{value}`")
                    })?;
            }
            "--scenario" => {
                options.config.scenario = Scenario::parse(&value).ok_or_else(|| {
                    let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
                    format!(
                        "`--scenario` takes one of {}, not `{value}`",
                        names.join(", ")
                    )
                })?;
            }
            "--capacity" => {
                options.config.capacity = Some(
                    value
                        .parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite() && *x > 0.0)
                        .ok_or_else(|| {
                            format!(
                                "`--capacity` takes a positive number (the server's capacity \
                                 as a multiple of the offered load, e.g. 1.5), not `{value}`"
                            )
                        })?,
                );
            }
            "--csv" | "--svg" if value.is_empty() => {
                return Err(format!("`{flag}` needs a non-empty path"));
            }
            "--csv" => options.csv = Some(PathBuf::from(value)),
            _ => options.svg = Some(PathBuf::from(value)),
        }
    }
    Ok(Some(options))
}

fn write_file(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, contents)
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprint!(
                "{}\n{USAGE}",
                wrap(&format!("error: {message}"), "  ", WIDTH)
            );
            return ExitCode::from(2);
        }
    };
    let config = &options.config;
    if options.targets {
        let checks = lab::targets::run_all(config.clients);
        print!("{}", lab::targets::render(&checks, config.clients));
        return ExitCode::SUCCESS;
    }
    let svg = options.svg.clone().unwrap_or_else(|| {
        plot::default_path(config, std::env::var_os("CARGO_TARGET_DIR").as_deref())
    });

    let report = lab::run(config);

    let mut status = ExitCode::SUCCESS;
    let svg_written = match plot::draw(&report, &svg) {
        Ok(()) => true,
        Err(e) => {
            let message = format!("error: could not write {}: {e}", svg.display());
            eprint!("{}", wrap(&message, "  ", WIDTH));
            status = ExitCode::FAILURE;
            false
        }
    };
    let svg_name = svg.display().to_string();
    print!(
        "{}",
        lab::report::table(&report, svg_written.then_some(svg_name.as_str()))
    );
    if let Some(csv) = &options.csv {
        match write_file(csv, &lab::report::csv(&report)) {
            Ok(()) => print!("{}", labelled("per-phase CSV:", &csv.display().to_string())),
            Err(e) => {
                let message = format!("error: could not write {}: {e}", csv.display());
                eprint!("{}", wrap(&message, "  ", WIDTH));
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}
