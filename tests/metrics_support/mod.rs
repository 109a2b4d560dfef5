//! A `metrics` recorder of the tests' own (feature `metrics`): every counter
//! and gauge registered, readable by series. Shared by `tests/metrics_counts.rs`
//! and `tests/metrics_default.rs`.
#![allow(dead_code)] // each test binary uses a part
use metrics::atomics::AtomicU64;
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once};

/// Every counter and gauge registered, by `name{label=value,...}` (labels
/// in registration order), each an atomic the handle writes.
#[derive(Default)]
pub struct Store {
    values: Mutex<HashMap<String, Arc<AtomicU64>>>,
}

impl Store {
    fn slot(&self, key: &Key) -> Arc<AtomicU64> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let series = format!("{}{{{}}}", key.name(), labels.join(","));
        Arc::clone(self.lock().entry(series).or_default())
    }

    fn raw(&self, series: &str) -> u64 {
        let slot = self.lock().get(series).map(Arc::clone);
        let slot = slot.unwrap_or_else(|| panic!("no series {series}"));
        slot.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<AtomicU64>>> {
        self.values.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A counter's value.
    pub fn counter(&self, series: &str) -> u64 {
        self.raw(series)
    }

    /// A gauge's value (the `metrics` atomics keep a gauge's `f64` bits).
    pub fn gauge(&self, series: &str) -> f64 {
        f64::from_bits(self.raw(series))
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

/// The store of the recorder installed for this test binary (once; each
/// test names its breakers apart).
pub fn store() -> &'static Store {
    static STORE: std::sync::OnceLock<&'static Store> = std::sync::OnceLock::new();
    static INSTALL: Once = Once::new();
    let store = *STORE.get_or_init(|| Box::leak(Box::default()));
    INSTALL.call_once(|| {
        metrics::set_global_recorder(Shared(store)).expect("the only recorder");
    });
    store
}
