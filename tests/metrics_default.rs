//! Feature `metrics`: `count_successes_by_default`, a process-wide switch, in
//! a test binary of its own (the other tests build breakers concurrently, and
//! would count their successes while it is on).
#![cfg(feature = "metrics")]

use fusebox::{Breaker, Guard, GuardError, Retry};
use metrics::atomics::AtomicU64;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Every counter and gauge registered, by `name{label=value,...}`.
#[derive(Default)]
struct Store(Mutex<HashMap<String, Arc<AtomicU64>>>);

impl Store {
    fn slot(&self, key: &Key) -> Arc<AtomicU64> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let series = format!("{}{{{}}}", key.name(), labels.join(","));
        let mut values = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(values.entry(series).or_default())
    }

    fn get(&self, series: &str) -> u64 {
        let slot = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(series)
            .map(Arc::clone);
        let slot = slot.unwrap_or_else(|| panic!("no series {series}"));
        slot.load(std::sync::atomic::Ordering::Relaxed)
    }
}

struct Shared(&'static Store);

impl Recorder for Shared {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.0.slot(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.0.slot(key))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

fn one_success(breaker: &Arc<Breaker>) {
    let guard = Guard::new(Arc::clone(breaker), Retry::builder().build().unwrap());
    let r: Result<(), GuardError<()>> = guard.call(|_| Ok(()));
    assert!(r.is_ok());
    fusebox::metrics::export(breaker);
}

#[test]
fn breakers_built_while_the_default_is_on_count_successes() {
    let store: &'static Store = Box::leak(Box::default());
    metrics::set_global_recorder(Shared(store)).expect("the only recorder");
    let succeeded = |name: &str| {
        store.get(&format!(
            "fusebox_calls_total{{breaker={name},stop=succeeded}}"
        ))
    };
    let counted = |name: &str| {
        f64::from_bits(store.get(&format!("fusebox_successes_counted{{breaker={name}}}")))
    };

    let before = Arc::new(Breaker::builder().name("before").build().unwrap());
    fusebox::metrics::count_successes_by_default(true);
    let during = Arc::new(Breaker::builder().name("during").build().unwrap());
    #[cfg(feature = "registry")]
    let registry = fusebox::Registry::<String>::builder()
        .breaker(|key: Option<&String>| {
            Breaker::builder().name(key.map_or("overflow", String::as_str))
        })
        .build()
        .unwrap();
    #[cfg(feature = "registry")]
    let keyed = Arc::clone(registry.get("keyed").breaker());
    fusebox::metrics::count_successes_by_default(false);
    let after = Arc::new(Breaker::builder().name("after").build().unwrap());

    for b in [&before, &during, &after] {
        one_success(b);
    }
    assert_eq!((succeeded("before"), counted("before")), (0, 0.0));
    assert_eq!((succeeded("during"), counted("during")), (1, 1.0));
    assert_eq!((succeeded("after"), counted("after")), (0, 0.0));
    #[cfg(feature = "registry")]
    {
        one_success(&keyed);
        assert_eq!((succeeded("keyed"), counted("keyed")), (1, 1.0));
    }
}
