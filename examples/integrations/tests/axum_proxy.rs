//! The axum proxy example's wiring (the example file itself, included as a
//! module), run on loopback with a short script: healthy 0.5 s, down 1.5 s,
//! then healthy. One client request every 20 ms, one at a time, until the front
//! end has answered 10 200s in a row after the downstream came back (at most
//! 7 s of requests, 10 s in all).
//!
//! Asserted as structure, not exact counts or times (the machine may be
//! loaded): the breaker tripped; no request reached the downstream while the
//! breaker was open (a request that arrives late, after its attempt was cut at
//! the attempt timeout and answered 502, is the one allowed exception); each
//! half-open epoch saw at most `close_after` probes; rejections are 503s with
//! `Retry-After`; the breaker shielded the downstream during the outage; and
//! the front end recovered.
#![cfg(feature = "reqwest")]

#[path = "../examples/axum_proxy.rs"]
#[allow(dead_code)]
mod proxy;

use axum::http::StatusCode;
use fusebox::State;
use proxy::{Script, recovered, run};
use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test]
async fn the_proxy_trips_sheds_and_recovers() {
    let script = Script {
        down_at: Duration::from_millis(500),
        up_at: Duration::from_millis(2000),
    };
    let (run, guard) = tokio::time::timeout(
        Duration::from_secs(10),
        run(script, 400, |at, answers| {
            at > Duration::from_secs(7) || recovered(answers, script.up_at, 10)
        }),
    )
    .await
    .expect("the run ends within 10 s")
    .expect("the servers and the client work");

    let summary = format!(
        "transitions: {:?}\nhits: {:?}\nanswers: {:?}",
        run.transitions,
        run.hits
            .iter()
            .map(|h| (h.at.as_millis(), h.status.as_u16(), h.state, h.epoch))
            .collect::<Vec<_>>(),
        run.answers
            .iter()
            .map(|a| (a.at.as_millis(), a.status.as_u16(), a.retry_after.clone()))
            .collect::<Vec<_>>()
    );

    // The breaker tripped during the outage.
    assert!(
        run.transitions
            .iter()
            .any(|(at, t)| t.to == State::Open && *at >= script.down_at),
        "the breaker never opened\n{summary}"
    );

    // Downstream hits by the breaker's state when they arrived.
    let cut = run
        .answers
        .iter()
        .filter(|a| a.status == StatusCode::BAD_GATEWAY)
        .count();
    let while_open = run.hits.iter().filter(|h| h.state == State::Open).count();
    assert!(
        while_open <= cut,
        "{while_open} requests reached the downstream while the breaker was open \
         ({cut} attempts were cut and may have arrived late)\n{summary}"
    );
    let mut probes_per_epoch: BTreeMap<u32, usize> = BTreeMap::new();
    for h in run.hits.iter().filter(|h| h.state == State::HalfOpen) {
        *probes_per_epoch.entry(h.epoch).or_default() += 1;
    }
    assert!(
        !probes_per_epoch.is_empty(),
        "the breaker never probed\n{summary}"
    );
    let close_after = 2; // proxy::guard's breaker
    for (epoch, probes) in &probes_per_epoch {
        assert!(
            *probes <= close_after + cut,
            "half-open epoch {epoch} let {probes} requests through\n{summary}"
        );
    }

    // Rejections: 503 with a Retry-After of whole seconds (the open period is
    // at most 800 ms, so 1).
    let rejections: Vec<_> = run
        .answers
        .iter()
        .filter(|a| a.status == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!rejections.is_empty(), "no rejection\n{summary}");
    for r in &rejections {
        assert_eq!(
            r.retry_after.as_deref(),
            Some("1"),
            "a rejection without the breaker's Retry-After\n{summary}"
        );
    }

    // The breaker shielded the downstream during the outage: fewer requests
    // reached it than the front end received.
    let during = |at: Duration| at >= script.down_at && at < script.up_at;
    let answered = run.answers.iter().filter(|a| during(a.at)).count();
    let reached = run.hits.iter().filter(|h| during(h.at)).count();
    assert!(
        reached < answered,
        "{reached} of {answered} requests reached the dead downstream\n{summary}"
    );

    // Recovery: the run ended on 200s after the downstream came back, with the
    // breaker closed.
    assert!(
        recovered(&run.answers, script.up_at, 10),
        "no recovery within 7 s\n{summary}"
    );
    assert_eq!(guard.breaker().snapshot().state, State::Closed);
    assert!(
        run.hits
            .iter()
            .any(|h| h.at >= script.up_at && h.status == StatusCode::OK),
        "{summary}"
    );
}
