//! The timeline picture (SVG, drawn with plotters): small multiples, one row
//! per strategy, every panel on the same time axis with the scenario's phases
//! shaded (and named along the top):
//!
//! - left, the headline: the **call success rate** of the calls issued in each
//!   second, on a 0-100 % scale, with the breaker's open (red) and half-open
//!   (orange) periods as a strip under it;
//! - right, the **downstream load** (attempts started per second), on one
//!   scale for every strategy, over the offered load (dashed grey: the calls
//!   issued per second), so amplification shows as height above the dash;
//! - below, for each fusebox strategy, its breaker's **health** while closed,
//!   on its own `[0, 1]` scale, with the trip threshold dashed.
//!
//! The strategy's name and design head its row, in its colour, so no panel
//! needs a legend to be read, and no two strategies share a panel.

use crate::lab::baselines::Mode;
use crate::lab::downstream::{Condition, SEC};
use crate::lab::{Config, Report, Strategy, StrategyRun};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::error::Error;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

const WIDTH: u32 = 1400;
/// The title and the column headings.
const HEADER_HEIGHT: u32 = 70;
/// The strip naming the phases above the first row.
const PHASES_HEIGHT: u32 = 22;
/// One strategy's row.
const ROW_HEIGHT: u32 = 122;
/// The heading above the health panels.
const HEALTH_HEADER_HEIGHT: u32 = 48;
/// One health panel.
const HEALTH_HEIGHT: u32 = 112;
/// Extra room under the last panel of a column for the time axis' name.
const AXIS_NAME_HEIGHT: u32 = 22;
/// The legend under everything.
const FOOTER_HEIGHT: u32 = 34;
/// The column with each row's strategy name.
const NAME_WIDTH: u32 = 170;
/// The success-rate column (the load column takes the rest).
const SUCCESS_WIDTH: u32 = 700;
/// Room left of every plot for the value labels, so that the time axes of all
/// the panels of a column line up.
const Y_LABEL_AREA: u32 = 52;
/// Room below every plot for the time axis' tick labels.
const X_LABEL_AREA: u32 = 18;
/// Space around every plot.
const MARGIN: u32 = 6;
/// The time axis' name, under the last panel of each column.
const TIME_AXIS: &str = "time (s, virtual)";
/// The breaker-state strip, in the success panel's units: below 0 %.
const STRIP: (f64, f64) = (-0.17, -0.06);
/// The success panel's vertical range: the strip, then 0-100 %.
const SUCCESS_RANGE: (f64, f64) = (-0.2, 1.08);

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

fn color(strategy: Strategy) -> RGBColor {
    match strategy {
        Strategy::Naive => RGBColor(214, 39, 40),
        Strategy::Callbacks => RGBColor(148, 103, 189),
        Strategy::Layered => RGBColor(31, 119, 180),
        Strategy::Fusebox => RGBColor(44, 160, 44),
        Strategy::FuseboxRate => RGBColor(23, 160, 180),
        Strategy::RetryOnly => RGBColor(140, 86, 75),
        Strategy::FuseboxDefault => RGBColor(214, 79, 164),
        Strategy::FuseboxHedge => RGBColor(255, 127, 14),
    }
}

/// The design behind a strategy's name, in a few words.
fn design(strategy: Strategy) -> &'static str {
    match strategy {
        Strategy::RetryOnly => "plain retry, no breaker",
        Strategy::Naive => "retry inside a breaker",
        Strategy::Callbacks => "naive + attempt callbacks",
        Strategy::Layered => "retry outside a breaker",
        Strategy::Fusebox => "Guard, 5-failure trip",
        Strategy::FuseboxRate => "Guard, failure-rate trip",
        Strategy::FuseboxDefault => "Guard, library defaults",
        Strategy::FuseboxHedge => "Guard, defaults, hedged",
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
        // Faint: the whole timeline, and a healthy one but for its tail.
        Condition::Tail => Some(RGBColor(90, 140, 200).mix(0.07)),
    }
}

/// The colour of a breaker state in the strip; none for closed.
fn state_color(mode: Mode) -> Option<RGBColor> {
    match mode {
        Mode::Closed => None,
        Mode::HalfOpen => Some(RGBColor(245, 160, 30)),
        Mode::Open => Some(RGBColor(170, 20, 20)),
    }
}

const GREY: RGBColor = RGBColor(110, 110, 110);

fn whole(v: &f64) -> String {
    format!("{v:.0}")
}

fn tenths(v: &f64) -> String {
    format!("{v:.1}")
}

/// `0 %`, `50 %`, `100 %` on the success scale; nothing on the strip below.
fn percent_label(v: &f64) -> String {
    if *v < -1e-9 {
        String::new()
    } else {
        format!("{:.0} %", v * 100.0)
    }
}

fn secs(ns: u64) -> f64 {
    ns as f64 / SEC as f64
}

/// Whether `run` has a health trace to draw (the fusebox strategies).
fn has_health(run: &StrategyRun) -> bool {
    run.health_threshold.is_some()
}

/// Where the picture goes without `--svg`:
/// `<target>/outage/<scenario>-<seed>.svg` (`-capacity-<X>` before `.svg` with
/// `--capacity X`), `<target>` being `target_dir` (the `CARGO_TARGET_DIR` the
/// lab runs with) when it is set and not empty, else `target`, relative to the
/// current directory like Cargo's own default.
pub fn default_path(config: &Config, target_dir: Option<&OsStr>) -> PathBuf {
    let capacity = config
        .capacity
        .map_or_else(String::new, |x| format!("-capacity-{x}"));
    let target = target_dir
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from("target"), PathBuf::from);
    target.join("outage").join(format!(
        "{}-{}{capacity}.svg",
        config.scenario.name(),
        config.seed
    ))
}

/// Draw `report` to an SVG file at `path` (its folder is created if needed).
pub fn draw(report: &Report, path: &Path) -> Result<(), Box<dyn Error>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let rows = report.runs.len() as u32;
    let healthy: Vec<&StrategyRun> = report.runs.iter().filter(|r| has_health(r)).collect();
    let health = if healthy.is_empty() {
        0
    } else {
        HEALTH_HEADER_HEIGHT
            + PHASES_HEIGHT
            + healthy.len() as u32 * HEALTH_HEIGHT
            + AXIS_NAME_HEIGHT
    };
    let height = HEADER_HEIGHT
        + PHASES_HEIGHT
        + rows * ROW_HEIGHT
        + AXIS_NAME_HEIGHT
        + health
        + FOOTER_HEIGHT;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (header, rest) = root.split_vertically(HEADER_HEIGHT);
    draw_header(report, &header)?;
    let (phases, mut rest) = rest.split_vertically(PHASES_HEIGHT);
    let (_, phases) = phases.split_horizontally(NAME_WIDTH);
    let (left, right) = phases.split_horizontally(SUCCESS_WIDTH);
    draw_phase_names(report, &left)?;
    draw_phase_names(report, &right)?;

    let peak = report
        .runs
        .iter()
        .map(|r| r.peak_load())
        .fold(1.0, f64::max);
    // One load scale for every row, with headroom over the highest peak.
    let load_max = peak * 1.1;
    for (i, run) in report.runs.iter().enumerate() {
        let last = i + 1 == report.runs.len();
        let height = ROW_HEIGHT + if last { AXIS_NAME_HEIGHT } else { 0 };
        let (row, below) = rest.split_vertically(height);
        rest = below;
        let (name, panels) = row.split_horizontally(NAME_WIDTH);
        let (success, load) = panels.split_horizontally(SUCCESS_WIDTH);
        let lines = [
            design(run.strategy).to_string(),
            format!(
                "whole run: {:.1} % success,",
                run.total.success_rate() * 100.0
            ),
            format!("{:.2} attempts per call", run.total.amplification()),
        ];
        draw_name(run, &lines, &name)?;
        draw_success(report, run, &success, last)?;
        draw_load(report, run, load_max, &load, last)?;
    }

    if !healthy.is_empty() {
        let (heading, below) = rest.split_vertically(HEALTH_HEADER_HEIGHT);
        let (phases, below) = below.split_vertically(PHASES_HEIGHT);
        rest = below;
        let (_, heading) = heading.split_horizontally(NAME_WIDTH);
        heading.draw(&Text::new(
            "breaker health while closed (gaps: open or half-open; dashed: the trip threshold)",
            (Y_LABEL_AREA as i32 + MARGIN as i32, 20),
            ("sans-serif", 17),
        ))?;
        let (_, phases) = phases.split_horizontally(NAME_WIDTH);
        draw_phase_names(report, &phases)?;
        for (i, run) in healthy.iter().enumerate() {
            let last = i + 1 == healthy.len();
            let height = HEALTH_HEIGHT + if last { AXIS_NAME_HEIGHT } else { 0 };
            let (row, below) = rest.split_vertically(height);
            rest = below;
            let (name, panel) = row.split_horizontally(NAME_WIDTH);
            let threshold = run.health_threshold.unwrap_or_default();
            draw_name(run, &[format!("trips below {threshold:.2}")], &name)?;
            draw_health(report, run, &panel, last)?;
        }
    }
    draw_footer(&rest)?;
    root.present()?;
    Ok(())
}

/// The title and the two columns' headings.
fn draw_header(report: &Report, area: &Area<'_>) -> Result<(), Box<dyn Error>> {
    let c = &report.config;
    let capacity = c
        .capacity
        .map_or_else(String::new, |x| format!(", --capacity {x}"));
    area.draw(&Text::new(
        format!(
            "fusebox outage lab: scenario `{}`, seed {}, {} clients{capacity}",
            c.scenario.name(),
            c.seed,
            c.clients
        ),
        (14, 10),
        ("sans-serif", 22),
    ))?;
    let x = (NAME_WIDTH + Y_LABEL_AREA + MARGIN) as i32;
    area.draw(&Text::new(
        "call success rate (calls issued in each second)",
        (x, 46),
        ("sans-serif", 17),
    ))?;
    area.draw(&Text::new(
        "downstream load (attempts started per second)",
        (x + SUCCESS_WIDTH as i32, 46),
        ("sans-serif", 17),
    ))?;
    Ok(())
}

/// The legend: the breaker-state strip's colours and the offered load's dash.
fn draw_footer(area: &Area<'_>) -> Result<(), Box<dyn Error>> {
    let mut x = (NAME_WIDTH + Y_LABEL_AREA + MARGIN) as i32;
    let y = 12;
    let font = ("sans-serif", 14);
    area.draw(&Text::new(
        "under each success rate, the breaker:",
        (x, y),
        font,
    ))?;
    x += 250;
    for (mode, label) in [(Mode::Open, "open"), (Mode::HalfOpen, "half-open")] {
        if let Some(c) = state_color(mode) {
            area.draw(&Rectangle::new([(x, y), (x + 22, y + 12)], c.filled()))?;
        }
        area.draw(&Text::new(label, (x + 28, y), font))?;
        x += 110;
    }
    area.draw(&Text::new("(closed: nothing)", (x, y), font))?;
    x += 190;
    area.draw(&PathElement::new(
        vec![(x, y + 7), (x + 10, y + 7)],
        GREY.stroke_width(2),
    ))?;
    area.draw(&PathElement::new(
        vec![(x + 16, y + 7), (x + 26, y + 7)],
        GREY.stroke_width(2),
    ))?;
    area.draw(&Text::new(
        "offered load (calls issued per second)",
        (x + 34, y),
        font,
    ))?;
    Ok(())
}

/// A row's heading: the strategy's name, in its colour, and under it `lines`
/// (its design and its whole-run figures, say).
fn draw_name(run: &StrategyRun, lines: &[String], area: &Area<'_>) -> Result<(), Box<dyn Error>> {
    let c = color(run.strategy);
    let bottom = 34 + 18 * lines.len() as i32;
    area.draw(&Rectangle::new([(8, 14), (14, bottom)], c.filled()))?;
    area.draw(&Text::new(
        run.strategy.name(),
        (22, 14),
        ("sans-serif", 17)
            .into_font()
            .style(FontStyle::Bold)
            .color(&c),
    ))?;
    for (i, line) in lines.iter().enumerate() {
        area.draw(&Text::new(
            line.as_str(),
            (22, 38 + 18 * i as i32),
            ("sans-serif", 13).into_font().color(&GREY),
        ))?;
    }
    Ok(())
}

/// The phases, named in a strip with the panels' time scale. A label is
/// written once, at the first of its phases where it does not run into the
/// label before it (`flapping` repeats short phases; the shading shows them).
fn draw_phase_names(report: &Report, area: &Area<'_>) -> Result<(), Box<dyn Error>> {
    let end = secs(report.end());
    let mut chart = ChartBuilder::on(area)
        .margin_left(MARGIN)
        .margin_right(MARGIN + 8)
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(0f64..end, 0f64..1.0)?;
    chart.draw_series(shading(report, 0.0, 1.0))?;
    let font = TextStyle::from(("sans-serif", 12).into_font());
    let mut written: Vec<&str> = Vec::new();
    // The right end, in pixels, of the last label written.
    let mut free_from = i32::MIN;
    for p in &report.phases {
        if written.contains(&p.label) {
            continue;
        }
        let at = (secs(p.start) + end * 0.004, 0.85);
        let x = chart.backend_coord(&at).0;
        let (width, _) = area.estimate_text_size(p.label, &font)?;
        if x < free_from + 6 {
            continue;
        }
        chart.draw_series([Text::new(p.label.to_string(), at, font.clone())])?;
        written.push(p.label);
        free_from = x + width as i32;
    }
    Ok(())
}

/// The phases as shaded rectangles spanning `ymin..ymax`.
fn shading(report: &Report, ymin: f64, ymax: f64) -> impl Iterator<Item = Rectangle<(f64, f64)>> {
    report.phases.iter().filter_map(move |p| {
        shade(p.condition)
            .map(|c| Rectangle::new([(secs(p.start), ymin), (secs(p.end), ymax)], c.filled()))
    })
}

/// A panel's chart builder: the same margins and label areas everywhere, so
/// that every column's time axes line up; `last` adds room for the axis name.
fn panel<'a, 'b>(area: &'a Area<'b>, last: bool) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin_top(MARGIN)
        .margin_bottom(MARGIN)
        .margin_left(MARGIN)
        .margin_right(MARGIN + 8)
        .x_label_area_size(X_LABEL_AREA + if last { AXIS_NAME_HEIGHT } else { 0 })
        .y_label_area_size(Y_LABEL_AREA);
    builder
}

/// A strategy's call success rate per second, its breaker's states under it.
fn draw_success(
    report: &Report,
    run: &StrategyRun,
    area: &Area<'_>,
    last: bool,
) -> Result<(), Box<dyn Error>> {
    let end = secs(report.end());
    let (low, high) = SUCCESS_RANGE;
    let mut chart = panel(area, last).build_cartesian_2d(0f64..end, low..high)?;
    let mut mesh = chart.configure_mesh();
    // The scale's labels and guides are drawn below, at 0, 50 and 100 % only
    // (the axis' own key points would label the strip under 0 too).
    mesh.disable_mesh()
        .y_labels(2)
        .y_label_formatter(&|_| String::new())
        .set_tick_mark_size(LabelAreaPosition::Left, 0)
        .x_label_formatter(&whole)
        .x_label_style(("sans-serif", 11));
    if last {
        mesh.x_desc(TIME_AXIS);
    }
    mesh.draw()?;
    chart.draw_series(shading(report, 0.0, high))?;
    let base = area.get_base_pixel();
    for level in [0.0, 0.5, 1.0] {
        chart.draw_series(LineSeries::new(
            [(0.0, level), (end, level)],
            RGBColor(215, 215, 215).stroke_width(1),
        ))?;
        let (x, y) = chart.backend_coord(&(0.0, level));
        area.draw(&Text::new(
            percent_label(&level),
            (x - base.0 - 8, y - base.1),
            TextStyle::from(("sans-serif", 11).into_font())
                .pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
    }
    // The breaker's states, as blocks in the strip (closed leaves it empty).
    let mut blocks = Vec::new();
    for (i, change) in run.states.iter().enumerate() {
        let from = secs(change.at).min(end);
        let to = run
            .states
            .get(i + 1)
            .map_or(end, |next| secs(next.at).min(end));
        if let Some(c) = state_color(change.state).filter(|_| to > from) {
            blocks.push(Rectangle::new([(from, STRIP.0), (to, STRIP.1)], c.filled()));
        }
    }
    chart.draw_series(blocks)?;
    if !run.strategy.has_breaker() {
        chart.draw_series([Text::new(
            "no breaker",
            (end * 0.005, STRIP.1 + 0.01),
            ("sans-serif", 11).into_font().color(&GREY),
        )])?;
    }
    // The success rate, broken over a second without calls; lightly filled.
    let c = color(run.strategy);
    let points: Vec<Option<(f64, f64)>> = run
        .per_second
        .iter()
        .enumerate()
        .map(|(i, &(calls, succeeded))| {
            (calls > 0).then(|| (i as f64 + 0.5, succeeded as f64 / calls as f64))
        })
        .filter(|p| p.is_none_or(|(t, _)| t <= end))
        .collect();
    for segment in points.split(Option::is_none).filter(|s| !s.is_empty()) {
        let line: Vec<(f64, f64)> = segment.iter().flatten().copied().collect();
        let mut fill = line.clone();
        fill.push((line[line.len() - 1].0, 0.0));
        fill.push((line[0].0, 0.0));
        chart.draw_series([Polygon::new(fill, c.mix(0.08).filled())])?;
        chart.draw_series(LineSeries::new(line, c.stroke_width(2)))?;
    }
    Ok(())
}

/// A strategy's downstream load per second over the offered load, on the
/// scale every row shares.
fn draw_load(
    report: &Report,
    run: &StrategyRun,
    ymax: f64,
    area: &Area<'_>,
    last: bool,
) -> Result<(), Box<dyn Error>> {
    let end = secs(report.end());
    let mut chart = panel(area, last).build_cartesian_2d(0f64..end, 0f64..ymax)?;
    let mut mesh = chart.configure_mesh();
    mesh.disable_x_mesh()
        .y_labels(3)
        .y_label_formatter(&whole)
        .x_label_formatter(&whole)
        .x_label_style(("sans-serif", 11))
        .y_label_style(("sans-serif", 11))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(WHITE);
    if last {
        mesh.x_desc(TIME_AXIS);
    }
    mesh.draw()?;
    chart.draw_series(shading(report, 0.0, ymax))?;
    let bucket = secs(crate::lab::LOAD_BUCKET);
    let per_sec = 1.0 / bucket;
    // The offered load: the calls issued in each second.
    let offered = run
        .per_second
        .iter()
        .enumerate()
        .map(|(i, &(calls, _))| (i as f64 + 0.5, calls as f64))
        .filter(|(t, _)| *t <= end);
    chart.draw_series(DashedLineSeries::new(offered, 6, 4, GREY.stroke_width(2)))?;
    let points: Vec<(f64, f64)> = run
        .load
        .iter()
        .enumerate()
        .map(|(i, n)| ((i as f64 + 0.5) * bucket, *n as f64 * per_sec))
        .filter(|(t, _)| *t <= end)
        .collect();
    let c = color(run.strategy);
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let mut fill = points.clone();
        fill.push((last.0, 0.0));
        fill.push((first.0, 0.0));
        chart.draw_series([Polygon::new(fill, c.mix(0.12).filled())])?;
    }
    chart.draw_series(LineSeries::new(points, c.stroke_width(2)))?;
    Ok(())
}

/// A fusebox strategy's health on its own `[0, 1]` scale, with the trip threshold.
fn draw_health(
    report: &Report,
    run: &StrategyRun,
    area: &Area<'_>,
    last: bool,
) -> Result<(), Box<dyn Error>> {
    let Some(threshold) = run.health_threshold else {
        return Ok(());
    };
    let end = secs(report.end());
    let mut chart = panel(area, last).build_cartesian_2d(0f64..end, 0f64..1.05)?;
    let mut mesh = chart.configure_mesh();
    mesh.disable_x_mesh()
        .y_labels(3)
        .y_label_formatter(&tenths)
        .x_label_formatter(&whole)
        .x_label_style(("sans-serif", 11))
        .y_label_style(("sans-serif", 11))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(WHITE);
    if last {
        mesh.x_desc(TIME_AXIS);
    }
    mesh.draw()?;
    chart.draw_series(shading(report, 0.0, 1.05))?;
    chart.draw_series(DashedLineSeries::new(
        [(0.0, threshold), (end, threshold)],
        6,
        4,
        RGBColor(60, 60, 60).stroke_width(1),
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
