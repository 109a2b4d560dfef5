//! Feature `tracing`: every event is a `tracing` event, target `fusebox`, with
//! structured fields, transitions at `INFO` and the rest below.
#![cfg(feature = "tracing")]

use fusebox::{Breaker, Guard, GuardError, Jitter, ManualClock, ManualSleeper, Retry, Verdict};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Level, Metadata, Subscriber};

/// One captured event: level, target and its fields as text.
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    target: String,
    fields: Vec<(String, String)>,
}

impl Captured {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0
            .push((field.name().to_string(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_string(), value.to_string()));
    }
}

/// A subscriber that keeps every event at or above `max`.
struct Capture {
    max: Level,
    events: Arc<Mutex<Vec<Captured>>>,
}

impl Subscriber for Capture {
    // Each test runs its own scoped subscriber, several at once on the test
    // harness's threads, with different levels. tracing caches a callsite's
    // interest process-wide: `never` from one test's subscriber (INFO) could
    // silence a TRACE event another test's subscriber wants (a flake, about 1
    // run in 20). `sometimes` makes every event ask `enabled` of the
    // subscriber in scope.
    fn register_callsite(&self, _: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.events.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_string(),
            fields: fields.0,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

fn capture(max: Level, f: impl FnOnce()) -> Vec<Captured> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let subscriber = Capture {
        max,
        events: Arc::clone(&events),
    };
    tracing::subscriber::with_default(subscriber, f);
    events.lock().unwrap().clone()
}

#[test]
fn transitions_are_info_with_structured_fields() {
    let events = capture(Level::INFO, || {
        let b = Breaker::builder()
            .name("payments")
            .trip_after_consecutive_failures(1)
            .build()
            .unwrap();
        let _ = b.try_acquire().unwrap().record(Verdict::failure());
        let _ = b.try_acquire(); // a rejection: TRACE, filtered out here
    });
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.level, Level::INFO);
    assert_eq!(e.target, "fusebox");
    assert_eq!(e.field("breaker"), Some("payments"));
    assert_eq!(e.field("from"), Some("closed"));
    assert_eq!(e.field("to"), Some("open"));
    assert_eq!(e.field("state"), Some("open"));
    assert_eq!(e.field("epoch"), Some("1"));
    assert!(e.field("at_ms").is_some());
    // Open does not measure health: the field is left out, not NaN.
    assert_eq!(e.field("health"), None, "{e:?}");
    assert!(e.field("open_for_ms").is_some(), "{e:?}");
    assert_eq!(e.field("message"), Some("breaker closed -> open"));
}

/// Every number a field holds, parsed: no NaN, no infinity, and every `_ms`
/// time at most three decimals (whole microseconds).
fn check_numbers(events: &[Captured]) {
    for e in events {
        for (name, value) in &e.fields {
            let lower = value.to_ascii_lowercase();
            assert!(
                !lower.contains("nan") && !lower.contains("inf"),
                "{name}={value} in {e:?}"
            );
            if name.ends_with("_ms") {
                let parsed: f64 = value.parse().unwrap_or_else(|_| panic!("{name}={value}"));
                assert!(parsed.is_finite() && parsed >= 0.0, "{name}={value}");
                let decimals = value.split_once('.').map_or(0, |(_, d)| d.len());
                assert!(decimals <= 3, "{name}={value} in {e:?}");
            }
        }
    }
}

#[test]
fn unmeasured_fields_are_left_out_and_times_have_three_decimals() {
    let clock = ManualClock::new();
    let events = capture(Level::TRACE, || {
        let b = Breaker::builder()
            .name("search")
            .trip_after_consecutive_failures(1)
            .open_for(Duration::from_millis(250))
            .open_jitter(0.0)
            .probes(1)
            .close_after(1)
            .clock(clock.clone())
            .build()
            .unwrap();
        // A time whose milliseconds as `as_secs_f64() * 1e3` print as
        // 4.0565310000000006.
        clock.advance(Duration::from_nanos(4_056_531));
        let _ = b.try_acquire().unwrap().record(Verdict::failure()); // -> open
        let _ = b.try_acquire(); // refused while open
        clock.advance(Duration::from_millis(251)); // the deadline is whole milliseconds
        let probe = b.try_acquire().unwrap(); // open -> half-open
        let _ = b.try_acquire(); // refused: the one probe is out
        let _ = probe.record(Verdict::Success); // half-open -> closed
        b.force_open(); // -> forced open
        let _ = b.try_acquire(); // refused: forced open, no retry-after
    });
    check_numbers(&events);
    let transitions: Vec<_> = events.iter().filter(|e| e.field("to").is_some()).collect();
    let to: Vec<_> = transitions.iter().map(|e| e.field("to").unwrap()).collect();
    assert_eq!(
        to,
        ["open", "half-open", "closed", "forced-open"],
        "{events:?}"
    );
    // The first event's clock, exactly: 4.056531 ms, rounded down to 4.056.
    assert_eq!(transitions[0].field("at_ms"), Some("4.056"));
    // Only the transition into open has an open period.
    assert_eq!(transitions[0].field("open_for_ms"), Some("250.0"));
    for t in &transitions[1..] {
        assert_eq!(t.field("open_for_ms"), None, "{t:?}");
    }
    // Health is there where it is measured (closed), and absent elsewhere.
    for e in &events {
        let measured = matches!(e.field("state"), Some("closed" | "disabled"));
        assert_eq!(e.field("health").is_some(), measured, "{e:?}");
    }
    assert_eq!(transitions[2].field("health"), Some("1.0"), "closed again");
    // A refusal while open says when to come back; a forced-open one cannot.
    let refusals: Vec<_> = events
        .iter()
        .filter(|e| e.field("message") == Some("attempt rejected"))
        .collect();
    let reasons: Vec<_> = refusals
        .iter()
        .map(|e| e.field("reason").unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["open", "probes_busy", "forced_open"],
        "{events:?}"
    );
    // 250 ms from the deadline's whole millisecond (about 250.943).
    let retry_after: f64 = refusals[0]
        .field("retry_after_ms")
        .unwrap()
        .parse()
        .unwrap();
    assert!((250.0..=251.0).contains(&retry_after), "{retry_after}");
    assert_eq!(refusals[1].field("retry_after_ms"), None);
    assert_eq!(refusals[2].field("retry_after_ms"), None);
}

#[test]
fn every_kind_is_traced_at_its_level() {
    let events = capture(Level::TRACE, || {
        let clock = ManualClock::new();
        let b = Arc::new(
            Breaker::builder()
                .name("users")
                .trip_after_consecutive_failures(2)
                .clock(clock.clone())
                .build()
                .unwrap(),
        );
        let retry = Retry::builder()
            .max_attempts(3)
            .constant_backoff(Duration::from_millis(10))
            .jitter(Jitter::None)
            .build()
            .unwrap();
        let guard = Guard::new(b, retry).with_sleeper(ManualSleeper::new(clock));
        let r: Result<(), GuardError<&str>> = guard.call(|_| Err("down"));
        assert!(r.is_err());
    });
    let summary: Vec<_> = events
        .iter()
        .map(|e| (e.level, e.field("message").unwrap_or("").to_string()))
        .collect();
    assert_eq!(
        summary,
        [
            (Level::DEBUG, "retrying".to_string()),
            (Level::INFO, "breaker closed -> open".to_string()),
            (Level::TRACE, "attempt rejected".to_string()),
            (Level::DEBUG, "call stopped".to_string()),
        ]
    );
    assert_eq!(events[0].field("delay_ms"), Some("10.0"));
    assert_eq!(events[0].field("why"), Some("backoff"));
    assert_eq!(events[2].field("reason"), Some("open"));
    assert_eq!(events[3].field("reason"), Some("rejected_mid_call"));
    assert!(events.iter().all(|e| e.field("breaker") == Some("users")));
    check_numbers(&events);
}

#[test]
fn no_subscriber_no_events_and_no_panic() {
    // Nothing listens: the calls work as before.
    let b = Breaker::builder()
        .trip_after_consecutive_failures(1)
        .build()
        .unwrap();
    let _ = b.try_acquire().unwrap().record(Verdict::failure());
    assert!(b.try_acquire().is_err());
}
