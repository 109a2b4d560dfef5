//! The report as text: the table for stdout and the per-phase CSV. Pure: strings
//! in, strings out.

use super::downstream::SEC;
use super::{
    BACKOFF_INITIAL, BUDGET_RATIO, BeforeTrip, CALL_PERIOD, CLOSE_AFTER, MAX_ATTEMPTS, OPEN_FOR,
    PhaseFigures, RATE, RATE_WINDOW, Report, StrategyRun, THRESHOLD, Timing,
};
use std::fmt::Write;

const LABEL: usize = 48;
const CELL: usize = 14;

/// The table: strategies as columns, figures as rows. `svg` is where the picture
/// was written, if it was.
pub fn table(report: &Report, svg: Option<&str>) -> String {
    let mut out = String::new();
    let c = &report.config;
    let secs = |ns: u64| ns as f64 / SEC as f64;
    let _ = writeln!(
        out,
        "fusebox outage lab: scenario `{}`, seed {}, {} clients",
        c.scenario.name(),
        c.seed,
        c.clients
    );
    let _ = writeln!(
        out,
        "  timeline ({:.0} s virtual): {}",
        secs(report.end()),
        c.scenario.summary()
    );
    let _ = writeln!(
        out,
        "  load: every client issues one call per {} ms on schedule ({:.0} calls/s offered)",
        CALL_PERIOD / 1_000_000,
        f64::from(c.clients) * SEC as f64 / CALL_PERIOD as f64
    );
    let _ = writeln!(
        out,
        "  all strategies: {MAX_ATTEMPTS} attempts/call, backoff {:.0} s x2 with equal jitter, \
         trip at {THRESHOLD} failures (fusebox-rate: failure rate > {:.0} % over ~{RATE_WINDOW} \
         attempts), open {:.0} s, close after {CLOSE_AFTER}; fusebox budget {:.0} %",
        secs(BACKOFF_INITIAL),
        RATE * 100.0,
        secs(OPEN_FOR),
        BUDGET_RATIO * 100.0
    );
    out.push('\n');

    let mut row = |label: &str, cells: Vec<String>| {
        if cells.is_empty() {
            // A section heading: no padding to trail the line.
            let _ = writeln!(out, "{label}");
            return;
        }
        let _ = write!(out, "{label:<LABEL$}");
        for cell in cells {
            // At least one space between cells, however wide a cell is.
            let _ = write!(out, " {cell:>w$}", w = CELL - 1);
        }
        out.push('\n');
    };
    let runs = &report.runs;
    let each = |f: &dyn Fn(&StrategyRun) -> String| runs.iter().map(f).collect::<Vec<_>>();
    let groups = |f: &dyn Fn(&PhaseFigures) -> String, row: &mut dyn FnMut(&str, Vec<String>)| {
        for (i, label) in report.groups.iter().enumerate() {
            row(&format!("  {label}"), each(&|r| f(&r.per_group[i])));
        }
        row("  whole run", each(&|r| f(&r.total)));
    };

    row("figure", each(&|r| r.strategy.name().to_string()));
    row(&"-".repeat(LABEL), each(&|_| "-".repeat(CELL)));
    row("calls issued", each(&|r| r.total.calls.to_string()));
    row("downstream attempts per call (load amplif.)", vec![]);
    groups(&|f| format!("{:.2}", f.amplification()), &mut row);
    row("call success rate", vec![]);
    groups(&|f| percent(f.success_rate()), &mut row);
    row(
        "calls ended by a breaker rejection",
        each(&|r| r.total.rejected.to_string()),
    );
    row(
        "outage: downstream failures before the trip",
        each(&|r| before_trip(r.before_trip)),
    );
    row("outage start -> breaker open", each(&|r| timing(r.to_open)));
    row(
        "recovery start -> breaker closed",
        each(&|r| timing(r.to_closed)),
    );
    row(
        "attempts started while the breaker was open",
        each(&|r| r.total.attempts_while_open.to_string()),
    );
    row(
        "peak downstream load (attempts/s)",
        each(&|r| format!("{:.0}", r.peak_load())),
    );
    row(
        "backoff slept, then rejected anyway (client-s)",
        each(&|r| format!("{:.1}", secs(r.total.wasted_sleep))),
    );
    row(
        "late outcomes (view older than a transition)",
        each(&|r| r.late_outcomes.to_string()),
    );
    row(
        "  of which overwrote state (stale overwrites)",
        each(&|r| r.stale_overwrites.to_string()),
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
        each(&|r| r.transitions().to_string()),
    );

    out.push('\n');
    out.push_str(NOTES);
    match svg {
        Some(path) => {
            let _ = writeln!(out, "timeline picture: {path}");
        }
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
  transition; an overwrite is one that changed the breaker anyway.
";

fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
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
         wasted_sleep_s\n",
    );
    let c = &report.config;
    for run in &report.runs {
        let rows = report
            .groups
            .iter()
            .zip(&run.per_group)
            .chain(std::iter::once((&"whole run", &run.total)));
        for (label, f) in rows {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{:.4},{:.4},{},{:.3}",
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
                f.wasted_sleep as f64 / SEC as f64
            );
        }
    }
    out
}
