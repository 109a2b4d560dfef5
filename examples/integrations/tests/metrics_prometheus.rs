//! Feature `metrics`: the Prometheus example's wiring, scraped. The counters
//! follow the events (retries, a trip, rejections, stops), the gauges the state,
//! and with first-attempt successes counted, `fusebox_calls_total` counts every
//! call: the error and rejection rates come out of the scrape.
#![cfg(feature = "metrics")]

#[allow(dead_code)]
#[path = "../examples/prometheus.rs"]
mod example;

/// The value of the sample line `name{labels}`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn a_scrape_shows_what_the_breaker_did() {
    let handle = example::install();
    let (breaker, budget) = example::drive();
    fusebox::metrics::export(&breaker);
    fusebox::metrics::export_budget(&budget);
    let text = handle.render();
    let get = |series: &str| {
        sample(&text, series).unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
    };
    // 150 calls, every third failing once: 50 retries that succeed, and 100
    // first-attempt successes (counted: the breaker counts successes); then the
    // downstream dies: one call exhausts and trips the breaker (5 failures in a
    // row), and the remaining 49 are refused up front.
    assert_eq!(
        get(r#"fusebox_calls_total{breaker="inventory",stop="succeeded"}"#),
        150.0
    );
    assert_eq!(
        get(r#"fusebox_successes_counted{breaker="inventory"}"#),
        1.0
    );
    // The denominator: every call once, by stop.
    let calls: f64 = fusebox::Stop::ALL
        .iter()
        .map(|stop| {
            get(&format!(
                r#"fusebox_calls_total{{breaker="inventory",stop="{stop}"}}"#
            ))
        })
        .sum();
    assert_eq!(calls, 200.0, "every call the example made");
    // The dashboard's error rate (every stop but succeeded and ignored) and
    // rejection rate, over it.
    let ignored = get(r#"fusebox_calls_total{breaker="inventory",stop="ignored"}"#);
    let errors = calls - 150.0 - ignored;
    assert_eq!(errors / calls, 0.25);
    let refused = get(r#"fusebox_calls_total{breaker="inventory",stop="rejected"}"#)
        + get(r#"fusebox_calls_total{breaker="inventory",stop="rejected_mid_call"}"#);
    assert_eq!(refused / calls, 49.0 / 200.0);
    assert_eq!(
        get(r#"fusebox_calls_total{breaker="inventory",stop="exhausted"}"#),
        1.0
    );
    assert_eq!(
        get(r#"fusebox_calls_total{breaker="inventory",stop="rejected"}"#),
        49.0
    );
    assert_eq!(
        get(r#"fusebox_rejections_total{breaker="inventory",reason="open"}"#),
        49.0
    );
    assert_eq!(
        get(r#"fusebox_retries_total{breaker="inventory",why="backoff"}"#),
        52.0
    );
    assert_eq!(
        get(r#"fusebox_attempts_total{breaker="inventory",verdict="failure"}"#),
        53.0
    );
    assert_eq!(
        get(r#"fusebox_transitions_total{breaker="inventory",to="open"}"#),
        1.0
    );
    assert_eq!(get(r#"fusebox_state{breaker="inventory"}"#), 1.0, "open");
    assert_eq!(
        get(r#"fusebox_health{breaker="inventory"}"#),
        0.0,
        "not measured while open"
    );
    assert_eq!(
        get(r#"fusebox_budget_refusals_total{budget="inventory"}"#),
        0.0
    );
    let balance = get(r#"fusebox_budget_balance{budget="inventory"}"#);
    assert!(balance > 0.0 && balance <= 100.0, "balance {balance}");
    // Descriptions reach the exporter.
    assert!(text.contains("# HELP fusebox_calls_total"), "{text}");
    assert!(text.contains("# TYPE fusebox_state gauge"), "{text}");
    // Every fusebox family in the scrape is one `fusebox::metrics::NAMES` lists
    // (the dashboard's test checks its queries against that list).
    for line in text.lines().filter(|l| l.starts_with("fusebox_")) {
        let family = line.split(['{', ' ']).next().unwrap_or("");
        assert!(
            fusebox::metrics::NAMES.contains(&family),
            "{family} is not in NAMES"
        );
    }
}
