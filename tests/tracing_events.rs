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
    assert!(e.field("health").is_some() && e.field("at_ms").is_some());
    assert_eq!(e.field("message"), Some("breaker closed -> open"));
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
