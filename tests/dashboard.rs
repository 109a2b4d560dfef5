//! The Grafana dashboard (`dashboards/grafana/fusebox.json`) against the
//! metrics fusebox exports: it parses, every panel queries something, every
//! metric a query names is one of [`fusebox::metrics::NAMES`], and every
//! exported metric is shown somewhere. A renamed metric, or a misspelled query,
//! fails here rather than on an operator's empty panel.
#![cfg(feature = "metrics")]

use serde_json::Value;
use std::collections::BTreeSet;

const DASHBOARD: &str = include_str!("../dashboards/grafana/fusebox.json");

/// Exported metrics the dashboard deliberately does not show (none today).
const NOT_SHOWN: &[&str] = &[];

/// The metric names a PromQL expression (with Grafana's `$variables`)
/// selects: every identifier that is not a function, a keyword, a label (in a
/// matcher `{...}` or a grouping list `by (...)`), a duration or a variable.
/// `label_values(metric, label)` (a variable's query) names its first argument.
fn metric_names(expr: &str) -> Vec<String> {
    const GROUPING: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    const OPERATORS: &[&str] = &["and", "or", "unless", "bool", "offset", "atan2"];
    // Reserved words, followed by `by (...)` as often as by `(`.
    const AGGREGATIONS: &[&str] = &[
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    // The index just past the bracket that closes the one at `open`, skipping
    // strings inside.
    let close = |open: usize, left: char, right: char| -> usize {
        let (mut depth, mut j) = (0, open);
        while j < chars.len() {
            match chars[j] {
                '"' | '\'' | '`' => j = skip_string(&chars, j) - 1,
                c if c == left => depth += 1,
                c if c == right => {
                    depth -= 1;
                    if depth == 0 {
                        return j + 1;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        panic!("unbalanced {left} in {expr}");
    };
    let next_char = |from: usize| chars[from..].iter().copied().find(|c| !c.is_whitespace());
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(&chars, i);
        } else if c == '{' {
            i = close(i, '{', '}');
        } else if c == '[' {
            i = close(i, '[', ']');
        } else if c == '$' {
            // `$name`, `$__rate_interval` or `${name}`.
            i += 1;
            if chars.get(i) == Some(&'{') {
                i = close(i, '{', '}');
            } else {
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit() || c == '.' {
            // A number or a duration (`5m`, `1.5`).
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == ':')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let call = next_char(i) == Some('(');
            if GROUPING.contains(&word.as_str()) {
                if call {
                    let open = i + chars[i..].iter().position(|&c| c == '(').unwrap();
                    i = close(open, '(', ')');
                }
            } else if word == "label_values" && call {
                let open = i + chars[i..].iter().position(|&c| c == '(').unwrap();
                let end = close(open, '(', ')');
                let args: String = chars[open + 1..end - 1].iter().collect();
                let first = args.split(',').next().unwrap_or("");
                if args.contains(',') {
                    names.extend(metric_names(first));
                }
                i = end;
            } else if !call
                && !OPERATORS.contains(&word.as_str())
                && !AGGREGATIONS.contains(&word.as_str())
            {
                names.push(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// The index just past the string literal that opens at `open`.
fn skip_string(chars: &[char], open: usize) -> usize {
    let quote = chars[open];
    let mut j = open + 1;
    while j < chars.len() {
        match chars[j] {
            '\\' if quote != '`' => j += 1,
            c if c == quote => return j + 1,
            _ => {}
        }
        j += 1;
    }
    panic!("unterminated string");
}

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        all.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            all.extend(nested);
        }
    }
    all
}

/// What is wrong with `text` as fusebox's dashboard, one line a problem.
fn problems(text: &str) -> Vec<String> {
    let exported: BTreeSet<&str> = fusebox::metrics::NAMES.iter().copied().collect();
    let dashboard: Value = match serde_json::from_str(text) {
        Ok(d) => d,
        Err(e) => return vec![format!("not JSON: {e}")],
    };
    let mut found = Vec::new();
    let mut shown = BTreeSet::new();
    let mut check_expr = |place: &str, expr: &str, found: &mut Vec<String>| {
        let names = metric_names(expr);
        if names.is_empty() {
            found.push(format!("{place}: no metric in {expr:?}"));
        }
        for name in names {
            if exported.contains(name.as_str()) {
                shown.insert(name);
            } else {
                found.push(format!("{place}: {name:?} is not a metric fusebox exports"));
            }
        }
    };
    let mut ids = BTreeSet::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or("(untitled)");
        if !ids.insert(panel["id"].as_u64()) {
            found.push(format!("panel {title:?}: a duplicate or missing id"));
        }
        let targets = panel["targets"].as_array().map_or(&[][..], Vec::as_slice);
        if panel["type"] == "row" {
            if !targets.is_empty() {
                found.push(format!("row {title:?} has targets"));
            }
            continue;
        }
        if targets.is_empty() {
            found.push(format!("panel {title:?} has no target"));
        }
        if panel["datasource"]["uid"] != "${datasource}" {
            found.push(format!(
                "panel {title:?}: datasource is not ${{datasource}}"
            ));
        }
        for target in targets {
            match target["expr"].as_str() {
                Some(expr) => check_expr(&format!("panel {title:?}"), expr, &mut found),
                None => found.push(format!("panel {title:?}: a target without expr")),
            }
        }
    }
    for annotation in dashboard["annotations"]["list"]
        .as_array()
        .expect("annotations")
    {
        if let Some(expr) = annotation["expr"].as_str() {
            check_expr("an annotation", expr, &mut found);
        }
    }
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating");
    let variable = |name: &str| variables.iter().find(|v| v["name"] == name);
    match variable("datasource") {
        Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
        _ => found.push("no Prometheus datasource variable `datasource`".into()),
    }
    match variable("breaker") {
        Some(v) if v["definition"] == "label_values(fusebox_state, breaker)" => {}
        _ => found.push("no variable `breaker` from label_values(fusebox_state, breaker)".into()),
    }
    for v in variables {
        if let Some(query) = v["query"]["query"].as_str() {
            check_expr(&format!("variable {}", v["name"]), query, &mut found);
        }
    }
    for name in &exported {
        if !shown.contains(*name) && !NOT_SHOWN.contains(name) {
            found.push(format!("{name} is exported but in no panel"));
        }
    }
    if dashboard["schemaVersion"].as_u64().is_none_or(|v| v < 36) {
        found.push("schemaVersion below 36".into());
    }
    found
}

#[test]
fn the_dashboard_queries_only_what_fusebox_exports_and_shows_all_of_it() {
    let found = problems(DASHBOARD);
    assert!(found.is_empty(), "{}", found.join("\n"));
    // Not vacuous: the dashboard has the panels the checks walked.
    let dashboard: Value = serde_json::from_str(DASHBOARD).unwrap();
    let queried = panels(&dashboard)
        .iter()
        .filter(|p| p["type"] != "row")
        .count();
    assert!(queried >= 10, "{queried} panels");
}

#[test]
fn a_misspelled_metric_fails_the_check() {
    // A name with a typo, and one without the prefix.
    for (right, wrong) in [
        ("(fusebox_rejections_total{", "(fusebox_rejection_total{"),
        ("(fusebox_state{", "(fusbox_state{"),
    ] {
        assert!(DASHBOARD.contains(right), "{right}");
        let found = problems(&DASHBOARD.replacen(right, wrong, 1));
        let typo = wrong.trim_matches(['(', '{']);
        assert!(
            found
                .iter()
                .any(|p| p.contains(&format!("{typo:?} is not a metric"))),
            "{found:?}"
        );
    }
    // A metric no panel shows any more.
    let found = problems(&DASHBOARD.replace(
        "fusebox_probe_lease_expiries_total",
        "fusebox_stale_reports_total",
    ));
    assert!(
        found.contains(
            &"fusebox_probe_lease_expiries_total is exported but in no panel".to_string()
        ),
        "{found:?}"
    );
}

#[test]
fn the_expression_reader_tells_metrics_from_everything_else() {
    let expr = r#"sum by (breaker, stop) (rate(fusebox_calls_total{breaker=~"$breaker", stop!~"a|b"}[$__rate_interval])) / on (breaker) group_left (x) max(fusebox_state offset 5m) > bool 0.5 and ${v} or label_values(fusebox_health, breaker)"#;
    assert_eq!(
        metric_names(expr),
        ["fusebox_calls_total", "fusebox_state", "fusebox_health"]
    );
}
