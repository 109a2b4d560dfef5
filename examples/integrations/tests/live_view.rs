//! The live view example (examples/live_view.rs), served on loopback under its
//! simulated traffic and fetched: the JSON lists every breaker with its state and
//! health, the timeline ring and its counts agree with the traffic, the
//! transitions show the outage, and the page is served. (The page's rendering is
//! checked in a real browser by scripts/live-view-screenshot.sh.)
#![cfg(all(feature = "registry", feature = "tokio"))]

#[allow(dead_code)]
#[path = "../examples/live_view.rs"]
mod example;

use fusebox::State;
use std::sync::Arc;
use std::time::Duration;

/// `GET path` on `addr`: status and body.
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://{addr}{path}"))
        .await
        .expect("GET");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a body"))
}

/// `GET path` on `addr` as JSON.
async fn get_json(addr: std::net::SocketAddr, path: &str) -> serde_json::Value {
    let (status, body) = get(addr, path).await;
    assert_eq!(status, 200, "{path}");
    serde_json::from_str(&body).expect("JSON")
}

/// The breaker `name`'s row of a `/api/timeline` body.
fn breaker<'a>(timeline: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    timeline["breakers"]
        .as_array()
        .expect("breakers")
        .iter()
        .find(|b| b["name"] == name)
        .unwrap_or_else(|| panic!("{name} listed"))
}

/// The sum of `field` over a breaker's timeline samples.
fn sum(b: &serde_json::Value, field: &str) -> u64 {
    b["timeline"]
        .as_array()
        .expect("a timeline")
        .iter()
        .map(|s| s[field].as_u64().expect("a count"))
        .sum()
}

#[tokio::test(flavor = "current_thread")]
async fn the_live_view_serves_every_breaker() {
    // Samples every 50 ms, kept 10 s: the whole 4.5 s run fits in the ring.
    let every = Duration::from_millis(50);
    let history = Arc::new(example::History::new(every, Duration::from_secs(10)));
    let registry = Arc::new(example::registry(Arc::clone(&history)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("address");
    let app = example::app(Arc::clone(&registry), Arc::clone(&history));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let sampler = tokio::spawn(example::sampler(
        Arc::clone(&registry),
        Arc::clone(&history),
        every,
    ));
    // Three cycles of 1.5 s: `search` is down from 0.3 s to 0.9 s of each.
    let traffic = tokio::spawn(example::traffic(
        Arc::clone(&registry),
        Duration::from_millis(4500),
        Duration::from_millis(1500),
    ));

    // Poll the JSON while the traffic runs (bounded: 60 polls).
    let mut search_states = Vec::new();
    let mut catalog_always_closed = true;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let rows = get_json(addr, "/api/breakers").await;
        let rows = rows.as_array().expect("an array");
        for row in rows {
            for field in [
                "name",
                "state",
                "epoch",
                "health",
                "samples",
                "probes_in_flight",
            ] {
                assert!(row.get(field).is_some(), "{field} missing in {row}");
            }
            match row["name"].as_str() {
                Some("catalog") => {
                    catalog_always_closed &= row["state"] == "closed" && row["health"] == 1.0;
                }
                Some("search") => search_states.push(row["state"].as_str().unwrap().to_string()),
                _ => {}
            }
        }
        if traffic.is_finished() {
            break;
        }
    }
    let retried = traffic.await.expect("traffic ran");
    // The sampler stops; one last sample takes the counts since its last one.
    sampler.abort();
    let _ = sampler.await;
    history.sample(&registry);

    let rows = get_json(addr, "/api/breakers").await;
    let names: Vec<_> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["catalog", "payments", "search"],
        "one breaker per host"
    );
    // The JSON agrees with the registry's own snapshots.
    for (host, snapshot) in registry.snapshots() {
        let row = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == host.as_str())
            .expect("every key listed");
        assert_eq!(row["epoch"], snapshot.epoch, "{host}");
    }
    assert!(
        catalog_always_closed,
        "the healthy downstream stayed closed at full health"
    );
    assert!(
        search_states.iter().any(|s| s != "closed"),
        "the live view showed search's outages: {search_states:?}"
    );

    // The timeline: every breaker sampled, in time order, within the window.
    let timeline = get_json(addr, "/api/timeline").await;
    assert_eq!(timeline["sample_every_ms"], 50);
    assert_eq!(timeline["keep_ms"], 10_000);
    let now_ms = timeline["now_ms"].as_u64().expect("now_ms");
    assert!((4500..10_000).contains(&now_ms), "now_ms {now_ms}");
    let names: Vec<_> = timeline["breakers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["catalog", "payments", "search"]);
    for b in timeline["breakers"].as_array().unwrap() {
        let samples = b["timeline"].as_array().unwrap();
        // About 90 samples in 4.5 s at 50 ms, fewer when the machine is busy.
        assert!(
            (20..=200).contains(&samples.len()),
            "{}: {} samples",
            b["name"],
            samples.len()
        );
        let times: Vec<u64> = samples
            .iter()
            .map(|s| s["t_ms"].as_u64().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]), "in time order");
        assert!(*times.last().unwrap() <= now_ms);
        // Nothing was trimmed, so the ring's counts add up to the totals.
        for field in ["retries", "recovered", "failed", "rejected", "other"] {
            assert_eq!(sum(b, field), b["totals"][field], "{}: {field}", b["name"]);
        }
    }

    let catalog = breaker(&timeline, "catalog");
    assert!(
        catalog["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["state"] == "closed" && s["health"] == 1.0),
        "catalog: closed at full health throughout"
    );
    assert_eq!(catalog["totals"]["retries"], 0);
    assert!(catalog["transitions"].as_array().unwrap().is_empty());

    // payments' retries are counted (exactly the retries the clients made),
    // each answered, and none is listed.
    let payments = breaker(&timeline, "payments");
    assert!(retried[1] > 10, "payments retried: {retried:?}");
    assert_eq!(payments["totals"]["retries"], retried[1], "retries counted");
    assert_eq!(payments["totals"]["recovered"], retried[1], "each answered");
    assert_eq!(payments["totals"]["failed"], 0);
    assert!(payments["totals"]["retry_wait_ms"].as_f64().unwrap() > 0.0);
    assert!(
        payments["transitions"].as_array().unwrap().is_empty(),
        "routine retries are not in the transitions"
    );

    // search: open on the timeline, its calls refused (counted), its trip
    // listed, and its transitions a chain (each starts where the last ended).
    let search = breaker(&timeline, "search");
    assert!(
        search["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["state"] == "open"),
        "search's timeline shows it open"
    );
    assert!(search["totals"]["rejected"].as_u64().unwrap() > 0);
    let transitions = search["transitions"].as_array().unwrap();
    assert_eq!(transitions[0]["from"], "closed", "{transitions:?}");
    assert_eq!(
        transitions[0]["to"], "open",
        "the first transition: the trip"
    );
    for pair in transitions.windows(2) {
        assert_eq!(pair[0]["to"], pair[1]["from"], "a chain: {pair:?}");
        assert!(pair[0]["at_ms"].as_u64() <= pair[1]["at_ms"].as_u64());
    }
    let trip = &transitions[0];
    let detail = trip["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("tripped") && detail.contains("open for "),
        "{detail}"
    );
    assert_eq!(
        trip["at_unix_ms"].as_u64().unwrap(),
        timeline["started_unix_ms"].as_u64().unwrap() + trip["at_ms"].as_u64().unwrap()
    );

    // `since_ms`: only the samples after it.
    let all = search["timeline"].as_array().unwrap();
    let since = all[9]["t_ms"].as_u64().unwrap();
    let later = get_json(addr, &format!("/api/timeline?since_ms={since}")).await;
    let later = breaker(&later, "search")["timeline"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(later.len(), all.len() - 10);
    assert!(later.iter().all(|s| s["t_ms"].as_u64().unwrap() > since));

    // `/api/events`: every breaker's transitions, newest last.
    let events = get_json(addr, "/api/events").await;
    let events = events.as_array().expect("an array");
    assert_eq!(events.len(), transitions.len(), "only search transitioned");
    assert!(
        events
            .iter()
            .all(|e| e["breaker"] == "search" && e["kind"] == "transition"),
        "search's transitions are the events"
    );
    assert!(
        events
            .windows(2)
            .all(|w| w[0]["at_ms"].as_u64() <= w[1]["at_ms"].as_u64())
    );

    let (status, page) = get(addr, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("fusebox: live breakers") && page.contains("/api/timeline"));
    server.abort();
}

/// The ring keeps its last `keep_for / every` samples, and a sample shows the
/// worst state of its interval, not only the state at its end.
#[test]
fn the_ring_is_bounded_and_keeps_the_worst_state() {
    let every = Duration::from_millis(100);
    let history = Arc::new(example::History::new(every, Duration::from_millis(300)));
    let registry = example::registry(Arc::clone(&history));
    let search = registry.get("search");
    for _ in 0..5 {
        history.sample(&registry);
    }
    let (samples, _) = history.track("search").samples_after(None);
    assert_eq!(samples.len(), 3, "a ring of 300 ms / 100 ms");
    assert!(samples.windows(2).all(|w| w[0].t < w[1].t));

    // Forced open and reset between two samples: the snapshot says closed,
    // the sample says forced open.
    assert!(search.breaker().force_open().is_some());
    assert!(search.breaker().reset().is_some());
    assert_eq!(search.breaker().snapshot().state, State::Closed);
    history.sample(&registry);
    history.sample(&registry);
    let (samples, _) = history.track("search").samples_after(None);
    let states: Vec<_> = samples.iter().map(|s| s.state).collect();
    assert_eq!(states, [State::Closed, State::ForcedOpen, State::Closed]);
    let log = history.track("search").happened();
    let log: Vec<_> = log.iter().map(|h| (h.from, h.to)).collect();
    assert_eq!(
        log,
        [
            (State::Closed, State::ForcedOpen),
            (State::ForcedOpen, State::Closed)
        ]
    );
}

#[test]
fn durations_read_as_an_operator_reads_them() {
    let cases = [
        (Duration::from_micros(400), "0.4 ms"),
        (Duration::from_micros(12_345_678), "12 s"),
        (Duration::from_millis(250), "250 ms"),
        (Duration::from_micros(999_400), "999 ms"),
        (Duration::from_micros(999_600), "1.0 s"),
        (Duration::from_millis(1234), "1.2 s"),
        (Duration::from_millis(9960), "10 s"),
        (Duration::from_millis(59_700), "1 min"),
        (Duration::from_secs(60), "1 min"),
        (Duration::from_secs(125), "2 min 5 s"),
        (Duration::from_secs(3600 + 180), "1 h 3 min"),
        (Duration::from_secs(7200), "2 h"),
    ];
    for (d, text) in cases {
        assert_eq!(example::human(d), text, "{d:?}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn samples_in_one_millisecond_are_each_sent() {
    // Three samples back to back (within a millisecond, on any machine that
    // is not stalled): each a millisecond after the last, so a client that
    // saw the first as `t_ms` is still sent the others.
    let history = Arc::new(example::History::new(
        Duration::from_millis(50),
        Duration::from_secs(10),
    ));
    let registry = example::registry(Arc::clone(&history));
    let _ = registry.guard("catalog");
    for _ in 0..3 {
        history.sample(&registry);
    }
    let (samples, _) = history.track("catalog").samples_after(None);
    let times: Vec<_> = samples.iter().map(|s| s.t.as_millis()).collect();
    assert_eq!(times.len(), 3, "{times:?}");
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    let (after_first, _) = history.track("catalog").samples_after(Some(samples[0].t));
    assert_eq!(after_first.len(), 2);
}
