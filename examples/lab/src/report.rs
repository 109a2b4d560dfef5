//! The report as text: the table for stdout and the per-phase CSV. Pure: strings
//! in, strings out.
//!
//! # The CSV
//!
//! One header line, then one row per strategy and phase group, plus a `whole run`
//! row per strategy, with the columns
//!
//! `scenario,seed,clients,strategy,phase,calls,succeeded,rejected,attempts,failed_attempts,attempts_per_call,success_rate,attempts_while_open,wasted_sleep_s,call_p50_ms,call_p99_ms,admitted_p50_ms,admitted_p99_ms,goodput,goodput_limit,goodput_share,call_p999_ms,admitted_p999_ms`
//!
//! The first fourteen columns are unchanged since before the `overload`
//! scenario (new strategies and phases are new rows); the next seven came with
//! the capacity scenarios: the p50 and p99 call latency of the calls issued in
//! the phase, in ms, of all of them and of the admitted ones (empty without
//! calls); successful attempts that ended during the phase; the physical limit
//! (attempts); and their ratio (empty when the limit is 0). See
//! [`ServiceFigures`]. The last two came with the `tail` scenario: the p99.9
//! call latency, of all the calls and of the admitted ones (empty without
//! calls); they are last so that every earlier column keeps its place. In a scenario with a trigger (`overload`, `spike`,
//! `overload-long`), each strategy has two more rows, *metric rows*, after its
//! `whole run` row; their `phase` names the metric, the other columns are empty,
//! and the value is in the `wasted_sleep_s` column (the fourteenth, the last one
//! before the capacity columns):
//!
//! - `recovery-time`: seconds from the trigger's end until the 1 s success rate
//!   stays at or above 95 % (`inf`: never, within the timeline);
//! - `trigger-goodput`: successful attempts (= calls completed successfully) per
//!   second during the trigger.

use super::downstream::{
    ATTEMPT_TIMEOUT, BROWNOUT_FAILURE_RATE, Condition, HEALTHY_LATENCY, MS, SEC, SLOW_LATENCY,
    TAIL_FACTOR, TAIL_SHARE, mean_service,
};
use super::{
    BACKOFF_INITIAL, BUDGET_RATIO, BeforeTrip, CALL_PERIOD, CLOSE_AFTER, Latency, MAX_ATTEMPTS,
    OPEN_FOR, PhaseFigures, RATE, RATE_WINDOW, RECOVERED_RATE, Report, ServiceFigures, StrategyRun,
    THRESHOLD, Timing, TriggerFigures,
};
use std::fmt::Write;

/// The widest line the lab prints: every line of its output fits in this many
/// columns (a path longer than a line aside).
pub const WIDTH: usize = 100;
/// The figure labels' column.
const LABEL: usize = 46;
/// The narrowest strategy column (a cell is right-aligned in it).
const MIN_CELL: usize = 8;

/// `line` broken at spaces into lines of at most `width` columns, each ending
/// in a newline; the lines after the first start with `indent`. The first keeps
/// `line`'s own leading spaces. A word longer than a line stays whole.
pub fn wrap(line: &str, indent: &str, width: usize) -> String {
    let body = line.trim_start_matches(' ');
    let mut out = String::new();
    let mut current = line[..line.len() - body.len()].to_string();
    let mut empty = true;
    for word in body.split(' ').filter(|w| !w.is_empty()) {
        if !empty && current.len() + 1 + word.len() > width {
            out.push_str(&current);
            out.push('\n');
            current = indent.to_string();
            empty = true;
        }
        if !empty {
            current.push(' ');
        }
        current.push_str(word);
        empty = false;
    }
    out.push_str(&current);
    out.push('\n');
    out
}

/// `label: value`, or, when that would be wider than a line, the label and
/// then the value on a line of its own (a long path).
pub fn labelled(label: &str, value: &str) -> String {
    if label.len() + 1 + value.len() <= WIDTH {
        format!("{label} {value}\n")
    } else {
        format!("{label}\n  {value}\n")
    }
}

/// A line of the table: a section heading, or a figure with one cell per
/// strategy (in the report's order).
enum Row {
    Heading(String),
    Figure(String, Vec<String>),
}

/// The table: strategies as columns, figures as rows, in two blocks so that
/// every line fits in [`WIDTH`] columns: the strategies without fusebox
/// (`retry-only` and the baselines), then the fusebox strategies, each block
/// with every row. `svg` is where the picture was written, if it was.
pub fn table(report: &Report, svg: Option<&str>) -> String {
    let mut out = String::new();
    let c = &report.config;
    let secs = |ns: u64| ns as f64 / SEC as f64;
    // A preamble line, wrapped; its continuation lines indented under its text.
    let mut line = |text: String| out.push_str(&wrap(&text, "    ", WIDTH));
    line(format!(
        "fusebox outage lab: scenario `{}`, seed {}, {} clients",
        c.scenario.name(),
        c.seed,
        c.clients
    ));
    line(format!(
        "  timeline ({:.0} s virtual): {}",
        secs(report.end()),
        c.scenario.summary()
    ));
    line(format!(
        "  load: every client issues one call per {} ms on schedule ({:.0} calls/s offered)",
        CALL_PERIOD / 1_000_000,
        f64::from(c.clients) * SEC as f64 / CALL_PERIOD as f64
    ));
    line(format!(
        "  all strategies but fusebox-default: {MAX_ATTEMPTS} attempts/call, backoff {:.0} s x2 \
         with equal jitter; with a breaker: trip at {THRESHOLD} failures (fusebox-rate: failure \
         rate > {:.0} % over ~{RATE_WINDOW} attempts), open {:.0} s, close after {CLOSE_AFTER}; \
         fusebox budget {:.0} %",
        secs(BACKOFF_INITIAL),
        RATE * 100.0,
        secs(OPEN_FOR),
        BUDGET_RATIO * 100.0
    ));
    line(
        "  retry-only: no breaker, no budget; fusebox-default: the library's defaults, untouched; \
         fusebox-hedge: the same, hedged with the library's default policy"
            .to_string(),
    );
    if let Some(x) = c.capacity {
        line(format!(
            "  --capacity {x}: a server of {x} times the offered load replaces the scenario's \
             downstream; with a server a brownout fails {:.0} % of attempts at the end of their \
             service, a slow period serves in {}-{} ms, and an outage holds no worker",
            BROWNOUT_FAILURE_RATE * 100.0,
            SLOW_LATENCY.0 / MS,
            SLOW_LATENCY.1 / MS,
        ));
    }
    let tail = report.phases.iter().any(|p| p.condition == Condition::Tail);
    if tail {
        line(format!(
            "  tail: {:.0} % of attempts, the same ones for every strategy, take {TAIL_FACTOR}x \
             their drawn {}-{} ms ({}-{} ms; with a server, of service), within the {:.0} s \
             timeout",
            TAIL_SHARE * 100.0,
            HEALTHY_LATENCY.0 / MS,
            HEALTHY_LATENCY.1 / MS,
            HEALTHY_LATENCY.0 * TAIL_FACTOR / MS,
            HEALTHY_LATENCY.1 * TAIL_FACTOR / MS,
            secs(ATTEMPT_TIMEOUT)
        ));
    }
    if let Some((workers, trigger)) = c.server_size() {
        let mean = (HEALTHY_LATENCY.0 + HEALTHY_LATENCY.1) as f64 / 2.0 / SEC as f64;
        let during = if report
            .phases
            .iter()
            .any(|p| p.condition == Condition::CapacityDrop)
        {
            format!(
                ", {trigger} during the trigger ({:.0}/s)",
                f64::from(trigger) / mean
            )
        } else if tail {
            // The same workers serve the tail's longer mean (`mean_service`).
            let with_tail = mean_service(Condition::Tail).map_or(0.0, |m| m as f64 / SEC as f64);
            format!(", {:.0}/s with the tail", f64::from(workers) / with_tail)
        } else {
            String::new()
        };
        line(format!(
            "  downstream: {workers} workers, service {}-{} ms ({:.0} attempts/s){during}; one \
             FIFO queue; an attempt not answered within {:.0} s fails, and is served all the same",
            HEALTHY_LATENCY.0 / MS,
            HEALTHY_LATENCY.1 / MS,
            f64::from(workers) / mean,
            secs(ATTEMPT_TIMEOUT)
        ));
    }

    let mut rows = Vec::new();
    let mut row = |label: &str, cells: Vec<String>| {
        rows.push(if cells.is_empty() {
            Row::Heading(label.to_string())
        } else {
            Row::Figure(label.to_string(), cells)
        });
    };
    let runs = &report.runs;
    let each = |f: &dyn Fn(&StrategyRun) -> String| runs.iter().map(f).collect::<Vec<_>>();
    // A breaker's figure: "-" for the strategy without one.
    let breaker = |f: &dyn Fn(&StrategyRun) -> String| {
        each(&|r| {
            if r.strategy.has_breaker() {
                f(r)
            } else {
                "-".to_string()
            }
        })
    };
    let groups = |f: &dyn Fn(&PhaseFigures) -> String, row: &mut dyn FnMut(&str, Vec<String>)| {
        for (i, label) in report.groups.iter().enumerate() {
            row(&format!("  {label}"), each(&|r| f(&r.per_group[i])));
        }
        row("  whole run", each(&|r| f(&r.total)));
    };

    row("calls issued", each(&|r| r.total.calls.to_string()));
    row("downstream attempts per call (load amplif.)", vec![]);
    groups(&|f| format!("{:.2}", f.amplification()), &mut row);
    row("call success rate", vec![]);
    groups(&|f| percent(f.success_rate()), &mut row);
    // The same rows as `groups`, from the latency and goodput figures.
    let service = |f: &dyn Fn(&ServiceFigures) -> String,
                   row: &mut dyn FnMut(&str, Vec<String>)| {
        for (i, label) in report.groups.iter().enumerate() {
            row(&format!("  {label}"), each(&|r| f(&r.service[i])));
        }
        row("  whole run", each(&|r| f(&r.service_total)));
    };
    row("call latency p50 / p99 (ms, issue to end)", vec![]);
    service(&|f| latency(f.latency), &mut row);
    // A row of its own: a third figure in the cell above would widen every
    // column past the line.
    row("call latency p99.9 (ms, issue to end)", vec![]);
    service(
        &|f| f.latency.p999.map_or_else(|| "-".to_string(), ms),
        &mut row,
    );
    row("admitted calls' latency p50 / p99 (ms)", vec![]);
    service(&|f| latency(f.admitted), &mut row);
    row("goodput, share of the physical limit", vec![]);
    service(
        &|f| f.goodput_share().map_or_else(|| "-".to_string(), percent),
        &mut row,
    );
    if report.trigger().is_some() {
        let trig = |f: &dyn Fn(&TriggerFigures) -> String| {
            each(&|r| r.trigger.as_ref().map_or_else(|| "-".to_string(), f))
        };
        row(
            &format!(
                "trigger end -> 1 s success stays >= {:.0} %",
                RECOVERED_RATE * 100.0
            ),
            trig(&|t| {
                t.recovery_secs
                    .map_or("never".to_string(), |s| format!("{s} s"))
            }),
        );
        row(
            "goodput during the trigger (successes/s)",
            trig(&|t| format!("{:.0}", t.goodput)),
        );
        row(
            "longest queueing delay (s)",
            trig(&|t| format!("{:.1}", secs(t.max_wait))),
        );
        row(
            "queueing delay in the last second (s)",
            trig(&|t| format!("{:.1}", secs(t.final_wait))),
        );
    }
    row(
        "calls ended by a breaker rejection",
        breaker(&|r| r.total.rejected.to_string()),
    );
    row(
        "outage: downstream failures before the trip",
        breaker(&|r| before_trip(r.before_trip)),
    );
    row(
        "outage start -> breaker open",
        breaker(&|r| timing(r.to_open)),
    );
    row(
        "recovery start -> breaker closed",
        breaker(&|r| timing(r.to_closed)),
    );
    row(
        "attempts started while the breaker was open",
        breaker(&|r| r.total.attempts_while_open.to_string()),
    );
    row(
        "peak downstream load (attempts/s)",
        each(&|r| format!("{:.0}", r.peak_load())),
    );
    row(
        "backoff slept, then rejected anyway (client-s)",
        breaker(&|r| format!("{:.1}", secs(r.total.wasted_sleep))),
    );
    row(
        "late outcomes (view older than a transition)",
        breaker(&|r| r.late_outcomes.to_string()),
    );
    row(
        "  of which overwrote state (stale overwrites)",
        breaker(&|r| r.stale_overwrites.to_string()),
    );
    row(
        "  of which reported Stale",
        each(&|r| optional(r.reported_stale)),
    );
    row(
        "retry-budget refusals",
        each(&|r| optional(r.budget_refusals)),
    );
    row(
        "breaker transitions",
        breaker(&|r| r.transitions().to_string()),
    );

    // The two blocks: the columns of the strategies without fusebox, then of
    // the fusebox ones.
    let blocks = [false, true].map(|fusebox| {
        (0..runs.len())
            .filter(|&i| runs[i].strategy.is_fusebox() == fusebox)
            .collect::<Vec<_>>()
    });
    for columns in blocks.iter().filter(|c| !c.is_empty()) {
        out.push('\n');
        let names: Vec<&str> = columns.iter().map(|&i| runs[i].strategy.name()).collect();
        // Each column as wide as its widest cell or the widest line of its
        // heading, with `gap` spaces before it.
        let width = |headings: &[(&str, &str)]| {
            columns
                .iter()
                .enumerate()
                .map(|(k, &i)| {
                    rows.iter()
                        .filter_map(|r| match r {
                            Row::Figure(_, cells) => Some(cells[i].len()),
                            Row::Heading(_) => None,
                        })
                        .chain([headings[k].0.len(), headings[k].1.len(), MIN_CELL])
                        .max()
                        .unwrap_or(MIN_CELL)
                })
                .collect::<Vec<_>>()
        };
        let fits = |widest: &[usize], gap: usize| {
            LABEL + widest.iter().map(|w| w + gap).sum::<usize>() <= WIDTH
        };
        // Names on one line, two spaces between columns; or one space, if two
        // would make the line too wide; or, if even that would, each name
        // broken after its first hyphen onto two heading lines
        // (`fusebox-` over `default`), one space between columns.
        let whole: Vec<(&str, &str)> = names.iter().map(|n| ("", *n)).collect();
        let broken: Vec<(&str, &str)> = names
            .iter()
            .map(|n| match n.find('-') {
                Some(at) => n.split_at(at + 1),
                None => ("", *n),
            })
            .collect();
        let (headings, widest, gap) = {
            let widest = width(&whole);
            if fits(&widest, 2) {
                (whole, widest, 2)
            } else if fits(&widest, 1) {
                (whole, widest, 1)
            } else {
                let widest = width(&broken);
                (broken, widest, 1)
            }
        };
        let render = |out: &mut String, label: &str, cells: &[&str]| {
            let _ = write!(out, "{label:<LABEL$}");
            for (cell, w) in cells.iter().zip(&widest) {
                let _ = write!(out, "{:gap$}{cell:>w$}", "");
            }
            out.push('\n');
        };
        if headings.iter().any(|h| !h.0.is_empty()) {
            let firsts: Vec<&str> = headings.iter().map(|h| h.0).collect();
            let mut line = String::new();
            render(&mut line, "", &firsts);
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let seconds: Vec<&str> = headings.iter().map(|h| h.1).collect();
        render(&mut out, "figure", &seconds);
        let dashes: Vec<String> = widest.iter().map(|w| "-".repeat(*w)).collect();
        let dashes: Vec<&str> = dashes.iter().map(String::as_str).collect();
        render(&mut out, &"-".repeat(LABEL - 1), &dashes);
        for r in &rows {
            match r {
                // A section heading: no padding to trail the line.
                Row::Heading(label) => {
                    out.push_str(label);
                    out.push('\n');
                }
                Row::Figure(label, cells) => {
                    let cells: Vec<&str> = columns.iter().map(|&i| cells[i].as_str()).collect();
                    render(&mut out, label, &cells);
                }
            }
        }
    }

    out.push('\n');
    out.push_str(NOTES);
    out.push_str(SERVICE_NOTES);
    if report.trigger().is_some() {
        out.push_str(TRIGGER_NOTES);
    }
    match svg {
        Some(path) => out.push_str(&labelled("timeline picture:", path)),
        None => out.push_str("timeline picture: not written\n"),
    }
    out
}

const NOTES: &str = "\
notes: figures per phase are for the calls issued in that phase; amplification
  below 1 means calls were shed. 'Failures before the trip': downstream attempts
  that failed between the first outage's start and the first open ('never (n)': no
  trip during the outage, which saw n failures). Times are means over the outages
  that began with the breaker not open / the recoveries that began with it not
  closed ('(k/n)': it happened in k of n; '-': none qualified). A late outcome is
  a report by a caller whose view of the breaker (naive: at the call's entry;
  others: at the attempt's start; fusebox: the permit's epoch) predates a
  transition; an overwrite is one that changed the breaker anyway. '-': no breaker.
  The table has two blocks, the same rows in each: retry-only and the designs
  fusebox replaces, then the fusebox strategies. fusebox-hedge sends a hedge (a
  second attempt beside one still running) once an attempt outlasts the 0.95
  quantile of the recent successful ones, at most one per call, only while the
  breaker is closed and healthy; a hedge is a downstream attempt like any other,
  and the loser's answer, served all the same, counts in no goodput.
";

const SERVICE_NOTES: &str = "\
latency: of the calls issued in the phase, from issue to end whatever the outcome
  (a call rejected at once takes 0 ms), p50 / p99 and p99.9 (nearest rank);
  admitted calls: those that made at least one downstream attempt. Goodput share:
  attempts that ended in a success during the phase, over what the downstream
  could answer in it: with a server, min(workers / mean service time, offered
  calls/s) x the phase's length ('-': a server that answers nothing); without
  one, the offered calls.
";

const TRIGGER_NOTES: &str = "\
trigger (a capacity drop or a load spike): the recovery time runs from the
  trigger's end to the start of the first 1 s bucket of issued calls from which
  every bucket succeeds at 95 % or more ('never': not within the timeline).
  Goodput during the trigger: attempts that ended in a success during it, per
  second (the server's useful work). Queueing delay: the longest wait for a
  worker, over the run and over the attempts of the last second.
";

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// Nanoseconds as whole milliseconds.
fn ms(ns: u64) -> String {
    format!("{:.0}", ns as f64 / MS as f64)
}

/// `p50 / p99` in milliseconds, `-` without calls.
fn latency(l: Latency) -> String {
    match (l.p50, l.p99) {
        (Some(p50), Some(p99)) => format!("{} / {}", ms(p50), ms(p99)),
        _ => "-".to_string(),
    }
}

/// Nanoseconds as milliseconds with one decimal for the CSV; empty for `None`.
fn csv_ms(ns: Option<u64>) -> String {
    ns.map_or_else(String::new, |ns| format!("{:.1}", ns as f64 / MS as f64))
}

fn optional(x: Option<u64>) -> String {
    x.map_or_else(|| "-".to_string(), |n| n.to_string())
}

fn before_trip(b: BeforeTrip) -> String {
    match b {
        BeforeTrip::NoOutage => "-".to_string(),
        BeforeTrip::NotClosed => "not closed".to_string(),
        BeforeTrip::Tripped(n) => n.to_string(),
        BeforeTrip::Never(n) => format!("never ({n})"),
    }
}

fn timing(t: Timing) -> String {
    match (t.mean_secs, t.of) {
        (_, 0) => "-".to_string(),
        (None, _) => "never".to_string(),
        (Some(s), 1) => format!("{s:.2} s"),
        (Some(s), n) => format!("{s:.2} s ({}/{n})", t.hit),
    }
}

/// Per strategy and phase group (plus the whole run), one CSV row each.
pub fn csv(report: &Report) -> String {
    let mut out = String::from(
        "scenario,seed,clients,strategy,phase,calls,succeeded,rejected,attempts,\
         failed_attempts,attempts_per_call,success_rate,attempts_while_open,\
         wasted_sleep_s,call_p50_ms,call_p99_ms,admitted_p50_ms,admitted_p99_ms,\
         goodput,goodput_limit,goodput_share,call_p999_ms,admitted_p999_ms\n",
    );
    let c = &report.config;
    let with_trigger = report.trigger().is_some();
    for run in &report.runs {
        let rows = report
            .groups
            .iter()
            .zip(run.per_group.iter().zip(&run.service))
            .chain(std::iter::once((
                &"whole run",
                (&run.total, &run.service_total),
            )));
        for (label, (f, s)) in rows {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{:.4},{:.4},{},{:.3},{},{},{},{},{},{:.1},{},{},{}",
                c.scenario.name(),
                c.seed,
                c.clients,
                run.strategy.name(),
                label,
                f.calls,
                f.succeeded,
                f.rejected,
                f.attempts,
                f.failed_attempts,
                f.amplification(),
                f.success_rate(),
                f.attempts_while_open,
                f.wasted_sleep as f64 / SEC as f64,
                csv_ms(s.latency.p50),
                csv_ms(s.latency.p99),
                csv_ms(s.admitted.p50),
                csv_ms(s.admitted.p99),
                s.goodput,
                s.limit,
                s.goodput_share()
                    .map_or_else(String::new, |x| format!("{x:.4}")),
                csv_ms(s.latency.p999),
                csv_ms(s.admitted.p999),
            );
        }
        if !with_trigger {
            continue;
        }
        let t = run
            .trigger
            .expect("every run of a scenario with a trigger has its figures");
        let metrics = [
            (
                "recovery-time",
                t.recovery_secs
                    .map_or_else(|| "inf".to_string(), |s| s.to_string()),
            ),
            ("trigger-goodput", format!("{:.1}", t.goodput)),
        ];
        for (metric, value) in metrics {
            let _ = writeln!(
                out,
                "{},{},{},{},{metric},,,,,,,,,{value},,,,,,,,,",
                c.scenario.name(),
                c.seed,
                c.clients,
                run.strategy.name(),
            );
        }
    }
    out
}
