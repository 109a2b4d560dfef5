//! The live view example (examples/live_view.rs), served on loopback under its
//! simulated traffic and fetched: the JSON lists every breaker with its state and
//! health, the events show the outage, and the page is served.
#![cfg(all(feature = "registry", feature = "tokio"))]

#[allow(dead_code)]
#[path = "../examples/live_view.rs"]
mod example;

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

#[tokio::test(flavor = "current_thread")]
async fn the_live_view_serves_every_breaker() {
    let recent = Arc::new(example::Recent::default());
    let registry = Arc::new(example::registry(Arc::clone(&recent)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("address");
    let app = example::app(Arc::clone(&registry), recent);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    // Three cycles of 1.5 s: `search` is down for the last 0.6 s of each.
    let traffic = tokio::spawn(example::traffic(
        Arc::clone(&registry),
        Duration::from_millis(4500),
        Duration::from_millis(1500),
    ));

    // Poll the JSON as the page does, while the traffic runs (bounded: 60 polls).
    let mut search_states = Vec::new();
    let mut catalog_always_closed = true;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (status, body) = get(addr, "/api/breakers").await;
        assert_eq!(status, 200);
        let rows: serde_json::Value = serde_json::from_str(&body).expect("JSON");
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
    traffic.await.expect("traffic ran");

    let (_, body) = get(addr, "/api/breakers").await;
    let rows: serde_json::Value = serde_json::from_str(&body).expect("JSON");
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

    let (_, events) = get(addr, "/api/events").await;
    let events: serde_json::Value = serde_json::from_str(&events).expect("JSON");
    let events = events.as_array().expect("an array");
    assert!(
        events
            .iter()
            .any(|e| e["breaker"] == "search" && e["kind"] == "transition"),
        "search's transitions are in the recent events"
    );
    assert!(events.len() <= 200, "the event log is bounded");

    let (status, page) = get(addr, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains("fusebox: live breakers") && page.contains("/api/breakers"));
    server.abort();
}
