//! The timeline picture (SVG, drawn with plotters): downstream load over time for
//! every strategy, then one panel per strategy with its breaker state (and
//! fusebox's health), over the scenario's phases.

use crate::lab::Report;
use crate::lab::baselines::Mode;
use crate::lab::downstream::{Condition, SEC};
use plotters::prelude::*;
use std::error::Error;
use std::path::Path;

const WIDTH: u32 = 1400;
const LOAD_HEIGHT: u32 = 400;
const PANEL_HEIGHT: u32 = 190;

fn color(strategy: crate::lab::Strategy) -> RGBColor {
    match strategy {
        crate::lab::Strategy::Naive => RGBColor(214, 39, 40),
        crate::lab::Strategy::Callbacks => RGBColor(148, 103, 189),
        crate::lab::Strategy::Layered => RGBColor(31, 119, 180),
        crate::lab::Strategy::Fusebox => RGBColor(44, 160, 44),
        crate::lab::Strategy::FuseboxRate => RGBColor(23, 190, 207),
    }
}

fn shade(condition: Condition) -> Option<RGBAColor> {
    match condition {
        Condition::Healthy => None,
        Condition::Outage => Some(RGBColor(200, 0, 0).mix(0.10)),
        Condition::Brownout => Some(RGBColor(240, 200, 0).mix(0.18)),
        Condition::Slow => Some(RGBColor(255, 127, 14).mix(0.15)),
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

fn secs(ns: u64) -> f64 {
    ns as f64 / SEC as f64
}

/// Draw `report` to an SVG file at `path` (its folder is created if needed).
pub fn draw(report: &Report, path: &Path) -> Result<(), Box<dyn Error>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let panels = report.runs.len() as u32;
    let root =
        SVGBackend::new(path, (WIDTH, LOAD_HEIGHT + panels * PANEL_HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, rest) = root.split_vertically(LOAD_HEIGHT);
    let end = secs(report.end());
    let shading = |ymin: f64, ymax: f64| {
        report.phases.iter().filter_map(move |p| {
            shade(p.condition)
                .map(|c| Rectangle::new([(secs(p.start), ymin), (secs(p.end), ymax)], c.filled()))
        })
    };

    // Downstream load.
    let peak = report
        .runs
        .iter()
        .map(|r| r.peak_load())
        .fold(1.0, f64::max);
    let ymax = peak * 1.15;
    let c = &report.config;
    let mut chart = ChartBuilder::on(&top)
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
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..end, 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_label_formatter(&whole)
        .x_desc("virtual time (s)")
        .y_desc("attempts started per second")
        .y_label_formatter(&whole)
        .light_line_style(WHITE)
        .draw()?;
    chart.draw_series(shading(0.0, ymax))?;
    chart.draw_series(report.phases.iter().map(|p| {
        Text::new(
            p.label.to_string(),
            (secs(p.start) + 0.3, ymax * 0.97),
            ("sans-serif", 12),
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
        chart
            .draw_series(LineSeries::new(points, style))?
            .label(run.strategy.name())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;

    // Breaker state per strategy.
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
    for (run, area) in report
        .runs
        .iter()
        .zip(rest.split_evenly((report.runs.len(), 1)))
    {
        let title = if run.health_threshold.is_some() {
            format!(
                "{}: breaker state, and health while closed (gray; 1 at the top) with its trip threshold (dotted)",
                run.strategy.name()
            )
        } else {
            format!("{}: breaker state", run.strategy.name())
        };
        let mut chart = ChartBuilder::on(&area)
            .caption(title, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..end, -0.12f64..1.12)?;
        chart
            .configure_mesh()
            .y_labels(3)
            .y_label_formatter(&state_label)
            .x_label_formatter(&whole)
            .light_line_style(WHITE)
            .draw()?;
        chart.draw_series(shading(-0.12, 1.12))?;
        let base = color(run.strategy);
        if let Some(threshold) = run.health_threshold {
            let gray = RGBColor(90, 90, 90);
            let dots = (0..(end * 2.0) as usize)
                .map(|i| Circle::new((i as f64 * 0.5, threshold), 1, gray.filled()));
            chart.draw_series(dots)?;
            // Health, broken where it is not measured (open, half-open).
            for segment in run
                .health
                .split(|(_, h)| h.is_none())
                .filter(|s| !s.is_empty())
            {
                let points = segment
                    .iter()
                    .filter_map(|(t, h)| h.map(|h| (secs(*t), h)))
                    .filter(|(t, _)| *t <= end);
                chart.draw_series(LineSeries::new(points, gray.stroke_width(1)))?;
            }
        }
        // The state as a step line.
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
        chart.draw_series(LineSeries::new(steps, base.stroke_width(2)))?;
    }
    root.present()?;
    Ok(())
}
