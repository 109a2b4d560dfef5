//! The timeline picture (SVG, drawn with plotters), top to bottom:
//!
//! - downstream load over time for every strategy, with the scenario's phases
//!   shaded and named along the top, and the legend in a column of its own to the
//!   right of the plot (so it can never cover a phase name or a line);
//! - one panel per strategy with a breaker (all but `retry-only`, whose load line
//!   is all there is to draw) with its breaker state (closed, half-open, open);
//! - for each fusebox strategy, right below its state, a panel with its health on
//!   its own `[0, 1]` scale and the trip threshold as a dashed line.
//!
//! All seven strategies keep their load line: each has its own colour, and the
//! two without the lab's like-for-like breaker numbers (`retry-only`,
//! `fusebox-default`) are drawn dashed, so the like-for-like comparison stays
//! readable.
//!
//! Every panel has its own time axis, labelled in seconds of virtual time, and the
//! same phase shading, so a panel can be read on its own.

use crate::lab::baselines::Mode;
use crate::lab::downstream::{Condition, SEC};
use crate::lab::{Report, Strategy, StrategyRun};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::error::Error;
use std::path::Path;

const WIDTH: u32 = 1400;
/// The load panel's height.
const LOAD_HEIGHT: u32 = 420;
/// The width of the legend column to the right of the load panel.
const LEGEND_WIDTH: u32 = 190;
/// The height of each state panel.
const PANEL_HEIGHT: u32 = 175;
/// The height of each health panel (a little taller: its scale has six labels).
const HEALTH_HEIGHT: u32 = 210;
/// Room left of every plot for the value labels and the axis name, so that the
/// time axes of all panels line up.
const Y_LABEL_AREA: u32 = 80;
/// Room below every plot for the time axis: tick labels and the axis name.
const X_LABEL_AREA: u32 = 40;
/// The time axis' name, on every panel.
const TIME_AXIS: &str = "time (s, virtual)";

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

fn color(strategy: Strategy) -> RGBColor {
    match strategy {
        Strategy::Naive => RGBColor(214, 39, 40),
        Strategy::Callbacks => RGBColor(148, 103, 189),
        Strategy::Layered => RGBColor(31, 119, 180),
        Strategy::Fusebox => RGBColor(44, 160, 44),
        Strategy::FuseboxRate => RGBColor(23, 190, 207),
        Strategy::RetryOnly => RGBColor(140, 86, 75),
        Strategy::FuseboxDefault => RGBColor(227, 119, 194),
    }
}

fn shade(condition: Condition) -> Option<RGBAColor> {
    match condition {
        Condition::Healthy => None,
        Condition::Outage => Some(RGBColor(200, 0, 0).mix(0.10)),
        Condition::Brownout => Some(RGBColor(240, 200, 0).mix(0.18)),
        Condition::Slow => Some(RGBColor(255, 127, 14).mix(0.15)),
        Condition::CapacityDrop => Some(RGBColor(120, 120, 120).mix(0.15)),
        Condition::LoadSpike => Some(RGBColor(90, 60, 200).mix(0.12)),
    }
}

fn level(mode: Mode) -> f64 {
    match mode {
        Mode::Closed => 1.0,
        Mode::HalfOpen => 0.5,
        Mode::Open => 0.0,
    }
}

fn whole(v: &f64) -> String {
    format!("{v:.0}")
}

fn tenths(v: &f64) -> String {
    format!("{v:.1}")
}

fn secs(ns: u64) -> f64 {
    ns as f64 / SEC as f64
}

/// Whether the strategy's load line is dashed: those without the lab's
/// like-for-like breaker numbers.
fn dashed(strategy: Strategy) -> bool {
    matches!(strategy, Strategy::RetryOnly | Strategy::FuseboxDefault)
}

/// Whether `run` has a health trace to draw (the fusebox strategies).
fn has_health(run: &StrategyRun) -> bool {
    run.health_threshold.is_some()
}

/// Draw `report` to an SVG file at `path` (its folder is created if needed).
pub fn draw(report: &Report, path: &Path) -> Result<(), Box<dyn Error>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let panels: u32 = report
        .runs
        .iter()
        .filter(|run| run.strategy.has_breaker())
        .map(|run| PANEL_HEIGHT + if has_health(run) { HEALTH_HEIGHT } else { 0 })
        .sum();
    let root = SVGBackend::new(path, (WIDTH, LOAD_HEIGHT + panels)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, mut rest) = root.split_vertically(LOAD_HEIGHT);
    draw_load(report, &top)?;
    for run in report.runs.iter().filter(|run| run.strategy.has_breaker()) {
        let (area, below) = rest.split_vertically(PANEL_HEIGHT);
        draw_state(report, run, &area)?;
        rest = below;
        if has_health(run) {
            let (area, below) = rest.split_vertically(HEALTH_HEIGHT);
            draw_health(report, run, &area)?;
            rest = below;
        }
    }
    root.present()?;
    Ok(())
}

/// The phases as shaded rectangles spanning `ymin..ymax`.
fn shading(report: &Report, ymin: f64, ymax: f64) -> impl Iterator<Item = Rectangle<(f64, f64)>> {
    report.phases.iter().filter_map(move |p| {
        shade(p.condition)
            .map(|c| Rectangle::new([(secs(p.start), ymin), (secs(p.end), ymax)], c.filled()))
    })
}

/// The top panel: downstream load per strategy, phases named, legend beside it.
fn draw_load(report: &Report, area: &Area<'_>) -> Result<(), Box<dyn Error>> {
    let (plot_area, legend_area) = area.split_horizontally(WIDTH - LEGEND_WIDTH);
    let end = secs(report.end());
    let peak = report
        .runs
        .iter()
        .map(|r| r.peak_load())
        .fold(1.0, f64::max);
    // Headroom above the highest line for the phase names.
    let ymax = peak * 1.15;
    let c = &report.config;
    let mut chart = ChartBuilder::on(&plot_area)
        .caption(
            format!(
                "downstream load: scenario `{}`, seed {}, {} clients",
                c.scenario.name(),
                c.seed,
                c.clients
            ),
            ("sans-serif", 20),
        )
        .margin(12)
        .margin_right(4)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(0f64..end, 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_label_formatter(&whole)
        .x_desc(TIME_AXIS)
        .y_desc("attempts started per second")
        .y_label_formatter(&whole)
        .light_line_style(WHITE)
        .draw()?;
    chart.draw_series(shading(report, 0.0, ymax))?;
    chart.draw_series(report.phases.iter().map(|p| {
        Text::new(
            p.label.to_string(),
            (secs(p.start) + 0.4, ymax * 0.975),
            ("sans-serif", 13),
        )
    }))?;
    let bucket = secs(crate::lab::LOAD_BUCKET);
    for run in &report.runs {
        let per_sec = 1.0 / bucket;
        let points = run
            .load
            .iter()
            .enumerate()
            .map(|(i, n)| ((i as f64 + 0.5) * bucket, *n as f64 * per_sec))
            .filter(|(t, _)| *t <= end);
        let style = color(run.strategy).stroke_width(2);
        if dashed(run.strategy) {
            chart.draw_series(DashedLineSeries::new(points, 8, 4, style))?;
        } else {
            chart.draw_series(LineSeries::new(points, style))?;
        }
    }

    // The legend, in its own column: a line sample and the strategy's name.
    let x = 12;
    let mut y = 60;
    legend_area.draw(&Text::new("strategy", (x, y - 26), ("sans-serif", 14)))?;
    for run in &report.runs {
        let style = color(run.strategy).stroke_width(3);
        if dashed(run.strategy) {
            for (a, b) in [(0, 10), (16, 28)] {
                legend_area.draw(&PathElement::new(vec![(x + a, y), (x + b, y)], style))?;
            }
        } else {
            legend_area.draw(&PathElement::new(vec![(x, y), (x + 28, y)], style))?;
        }
        legend_area.draw(&Text::new(
            run.strategy.name(),
            (x + 36, y - 8),
            ("sans-serif", 15),
        ))?;
        y += 26;
    }
    Ok(())
}

/// A strategy's breaker state over time, as a step line.
fn draw_state(report: &Report, run: &StrategyRun, area: &Area<'_>) -> Result<(), Box<dyn Error>> {
    let end = secs(report.end());
    let state_label = |v: &f64| {
        if (*v - 1.0).abs() < 1e-9 {
            "closed".to_string()
        } else if (*v - 0.5).abs() < 1e-9 {
            "half-open".to_string()
        } else if v.abs() < 1e-9 {
            "open".to_string()
        } else {
            String::new()
        }
    };
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{}: breaker state", run.strategy.name()),
            ("sans-serif", 15),
        )
        .margin(8)
        .margin_left(12)
        .margin_right(LEGEND_WIDTH + 4)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(0f64..end, -0.15f64..1.15)?;
    chart
        .configure_mesh()
        .y_labels(3)
        .y_label_formatter(&state_label)
        .x_label_formatter(&whole)
        .x_desc(TIME_AXIS)
        .light_line_style(WHITE)
        .draw()?;
    chart.draw_series(shading(report, -0.15, 1.15))?;
    let mut steps = Vec::with_capacity(run.states.len() * 2 + 1);
    for (i, change) in run.states.iter().enumerate() {
        let t = secs(change.at).min(end);
        if i > 0 {
            steps.push((t, level(run.states[i - 1].state)));
        }
        steps.push((t, level(change.state)));
    }
    if let Some(last) = run.states.last() {
        steps.push((end, level(last.state)));
    }
    chart.draw_series(LineSeries::new(steps, color(run.strategy).stroke_width(2)))?;
    Ok(())
}

/// A fusebox strategy's health on its own `[0, 1]` scale, with the trip threshold.
fn draw_health(report: &Report, run: &StrategyRun, area: &Area<'_>) -> Result<(), Box<dyn Error>> {
    let Some(threshold) = run.health_threshold else {
        return Ok(());
    };
    let end = secs(report.end());
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "{}: health while closed (gaps: open or half-open); dashed: trip threshold {threshold:.2}",
                run.strategy.name()
            ),
            ("sans-serif", 15),
        )
        .margin(8)
        .margin_left(12)
        .margin_right(LEGEND_WIDTH + 4)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(0f64..end, 0f64..1.05)?;
    chart
        .configure_mesh()
        .y_labels(6)
        .y_label_formatter(&tenths)
        .y_desc("health")
        .x_label_formatter(&whole)
        .x_desc(TIME_AXIS)
        .light_line_style(WHITE)
        .draw()?;
    chart.draw_series(shading(report, 0.0, 1.05))?;
    let gray = RGBColor(70, 70, 70);
    chart.draw_series(DashedLineSeries::new(
        [(0.0, threshold), (end, threshold)],
        6,
        4,
        gray.stroke_width(1),
    ))?;
    // Health, broken where it is not measured (open, half-open).
    let base = color(run.strategy);
    for segment in run
        .health
        .split(|(_, h)| h.is_none())
        .filter(|s| !s.is_empty())
    {
        let points = segment
            .iter()
            .filter_map(|(t, h)| h.map(|h| (secs(*t), h)))
            .filter(|(t, _)| *t <= end);
        chart.draw_series(LineSeries::new(points, base.stroke_width(2)))?;
    }
    Ok(())
}
