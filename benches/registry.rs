//! The registry's map race: which concurrent map `Registry` is built on, chosen by
//! measurement, and what `Registry::get` costs beside a healthy call.
//!
//! The harness is the race bench's (benches/race.rs): `iter_custom` with `N`
//! threads that set up before a start `Barrier`, run `iters` operations back to
//! back, and meet at an end `Barrier`; the time is the wall time for every thread
//! to complete one operation, all running at once (so perfect scaling shows the
//! same time on every row). `registry-uncontended` is 1 thread, `registry-contended/2`
//! both cores of the 2-core machine.
//!
//! Every map holds the same 64 `String` keys (`host-N.example.com:443` and
//! `api.example.com:443`) with `Arc<Breaker>` values and the standard library's
//! hasher (SipHash: keys come from requests, so a keyed hash matters), and every
//! lookup is a hit for `"api.example.com:443"` as a `&str`, reading the value
//! without cloning it:
//!
//! - `map/papaya`: papaya 0.2 `HashMap`, `pin()` + `get`;
//! - `map/scc-hashindex`: scc 3 `HashIndex::peek_with` (lock-free reads);
//! - `map/scc-hashmap`: scc 3 `HashMap::read_sync` (a shared bucket lock);
//! - `map/dashmap`: dashmap 6 `DashMap::get` (a shard `RwLock` read lock);
//! - `map/arc-swap`: arc-swap 1 `ArcSwap<std::collections::HashMap>`, `load()` +
//!   `get` (copy-on-write: every insert or removal clones the whole map);
//! - `call/healthy`: `try_acquire` + `record(Success)` on the breaker of the
//!   registry's entry for that key, looked up once before the loop;
//! - `call/papaya+healthy`: `map/papaya`'s lookup then `call/healthy` on the
//!   breaker it found: the requirement's yardstick (a healthy call + one lookup);
//! - `registry/get`: `Registry::get` (idle eviction on: one clock read per hit),
//!   the `Entry` dropped (an `Arc` increment and decrement);
//!   `registry/get-no-idle`: the same without idle eviction (no clock read);
//!   `registry/get+healthy`: `get` then the healthy call through the entry;
//!   `registry/with+healthy`: `Registry::with` and the healthy call inside it (no
//!   reference count touched);
//! - `churn/*`: the slow path: insert a new key and remove it again (a `String`
//!   clone per insert), per map; `churn/registry`: `get` of a new key (builds a
//!   breaker) then `remove`.
//!
//! Run: `cargo bench -p fusebox-benches --bench registry --features registry`;
//! restrict with `RACE_FILTER` (comma-separated case-name substrings, e.g.
//! `map/papaya,call/,registry/`) and `RACE_THREADS` (e.g. `1,2`).

use arc_swap::ArcSwap;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fusebox::{Breaker, Recorded, Registry, Verdict};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const HOT: &str = "api.example.com:443";
const CHURN: &str = "new-host.example.com:443";

fn keys() -> Vec<String> {
    let mut keys: Vec<String> = (0..63)
        .map(|i| format!("host-{i}.example.com:443"))
        .collect();
    keys.push(HOT.to_string());
    keys
}

fn breaker() -> Arc<Breaker> {
    Arc::new(Breaker::builder().build().unwrap())
}

struct Shared {
    papaya: papaya::HashMap<String, Arc<Breaker>>,
    scc_index: scc::HashIndex<String, Arc<Breaker>>,
    scc_map: scc::HashMap<String, Arc<Breaker>>,
    dashmap: dashmap::DashMap<String, Arc<Breaker>>,
    arc_swap: ArcSwap<HashMap<String, Arc<Breaker>>>,
    registry: Registry<String>,
    registry_no_idle: Registry<String>,
    /// The registry's breaker for `HOT`, looked up once.
    hot: Arc<Breaker>,
}

impl Shared {
    fn new() -> Self {
        let papaya = papaya::HashMap::new();
        let scc_index = scc::HashIndex::default();
        let scc_map = scc::HashMap::default();
        let dashmap = dashmap::DashMap::new();
        let mut std_map = HashMap::new();
        let registry = Registry::builder().max_entries(4096).build().unwrap();
        let registry_no_idle = Registry::builder()
            .max_entries(4096)
            .no_idle_eviction()
            .build()
            .unwrap();
        for key in keys() {
            papaya.pin().insert(key.clone(), breaker());
            let _ = scc_index.insert_sync(key.clone(), breaker());
            let _ = scc_map.insert_sync(key.clone(), breaker());
            dashmap.insert(key.clone(), breaker());
            std_map.insert(key.clone(), breaker());
            let _ = registry.get(key.as_str());
            let _ = registry_no_idle.get(key.as_str());
        }
        let hot = Arc::clone(registry.get(HOT).breaker());
        Self {
            papaya,
            scc_index,
            scc_map,
            dashmap,
            arc_swap: ArcSwap::from_pointee(std_map),
            registry,
            registry_no_idle,
            hot,
        }
    }

    /// Every breaker still closed and every map still holding its 64 keys.
    fn check(&self) {
        assert_eq!(self.hot.snapshot().state, fusebox::State::Closed);
        assert_eq!(self.papaya.len(), 64);
        assert_eq!(self.scc_index.len(), 64);
        assert_eq!(self.scc_map.len(), 64);
        assert_eq!(self.dashmap.len(), 64);
        assert_eq!(self.arc_swap.load().len(), 64);
        assert_eq!(self.registry.len(), 64);
        assert!(self.registry.get(HOT).breaker().snapshot().health == Some(1.0));
    }
}

#[inline(always)]
fn healthy_call(b: &Breaker) {
    if let Ok(p) = b.try_acquire() {
        black_box(matches!(p.record(Verdict::Success), Recorded::Stale));
    }
}

type Run = fn(&Shared, u64, &Barrier);

macro_rules! case {
    ($name:expr, |$s:ident| $body:expr) => {
        (
            $name,
            (|$s: &Shared, iters: u64, start: &Barrier| {
                start.wait();
                for _ in 0..iters {
                    $body;
                }
            }) as Run,
        )
    };
}

const CASES: &[(&str, Run)] = &[
    case!("map/papaya", |s| black_box(
        s.papaya.pin().get(black_box(HOT)).map(Arc::as_ptr)
    )),
    case!("map/scc-hashindex", |s| black_box(
        s.scc_index.peek_with(black_box(HOT), |_, v| Arc::as_ptr(v))
    )),
    case!("map/scc-hashmap", |s| black_box(
        s.scc_map.read_sync(black_box(HOT), |_, v| Arc::as_ptr(v))
    )),
    case!("map/dashmap", |s| black_box(
        s.dashmap.get(black_box(HOT)).map(|v| Arc::as_ptr(&v))
    )),
    case!("map/arc-swap", |s| black_box(
        s.arc_swap.load().get(black_box(HOT)).map(Arc::as_ptr)
    )),
    case!("call/healthy", |s| healthy_call(&s.hot)),
    case!("call/papaya+healthy", |s| {
        if let Some(b) = s.papaya.pin().get(black_box(HOT)) {
            healthy_call(b);
        }
    }),
    case!("registry/get", |s| black_box(
        s.registry.get(black_box(HOT)).is_overflow()
    )),
    case!("registry/get-no-idle", |s| black_box(
        s.registry_no_idle.get(black_box(HOT)).is_overflow()
    )),
    case!("registry/get+healthy", |s| healthy_call(
        s.registry.get(black_box(HOT)).breaker()
    )),
    case!("registry/with+healthy", |s| s
        .registry
        .with(black_box(HOT), |e| healthy_call(e.breaker()))),
    case!("churn/papaya", |s| {
        let map = s.papaya.pin();
        map.insert(CHURN.to_string(), Arc::clone(&s.hot));
        black_box(map.remove(CHURN).is_some());
    }),
    case!("churn/scc-hashindex", |s| {
        let _ = s
            .scc_index
            .insert_sync(CHURN.to_string(), Arc::clone(&s.hot));
        black_box(s.scc_index.remove_sync(CHURN));
    }),
    case!("churn/scc-hashmap", |s| {
        let _ = s.scc_map.insert_sync(CHURN.to_string(), Arc::clone(&s.hot));
        black_box(s.scc_map.remove_sync(CHURN).is_some());
    }),
    case!("churn/dashmap", |s| {
        s.dashmap.insert(CHURN.to_string(), Arc::clone(&s.hot));
        black_box(s.dashmap.remove(CHURN).is_some());
    }),
    case!("churn/arc-swap", |s| {
        s.arc_swap.rcu(|m| {
            let mut m = HashMap::clone(m);
            m.insert(CHURN.to_string(), Arc::clone(&s.hot));
            m
        });
        s.arc_swap.rcu(|m| {
            let mut m = HashMap::clone(m);
            m.remove(CHURN);
            m
        });
    }),
    case!("churn/registry", |s| {
        black_box(s.registry.get(CHURN).is_overflow());
        black_box(s.registry.remove(CHURN).is_some());
    }),
];

fn run_threads(s: &Shared, threads: usize, iters: u64, run: Run) -> Duration {
    let start = Barrier::new(threads + 1);
    let end = Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                run(s, iters, &start);
                end.wait();
            });
        }
        start.wait();
        let t0 = Instant::now();
        end.wait();
        t0.elapsed()
    })
}

/// `RACE_FILTER`: comma-separated case-name substrings; a case runs if it
/// contains any of them.
fn selected(name: &str) -> bool {
    std::env::var("RACE_FILTER").map_or(true, |f| f.split(',').any(|p| name.contains(p)))
}

fn thread_counts() -> Vec<usize> {
    match std::env::var("RACE_THREADS") {
        Ok(list) => list
            .split(',')
            .filter_map(|t| t.trim().parse().ok())
            .collect(),
        Err(_) => vec![1, 2],
    }
}

fn registry_race(c: &mut Criterion) {
    for threads in thread_counts() {
        let s = Shared::new();
        let group_name = if threads == 1 {
            "registry-uncontended".to_string()
        } else {
            format!("registry-contended/{threads}")
        };
        let mut group = c.benchmark_group(group_name);
        group.throughput(Throughput::Elements(threads as u64));
        for &(name, run) in CASES {
            if !selected(name) {
                continue;
            }
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter_custom(|iters| run_threads(&s, threads, iters, run))
            });
        }
        group.finish();
        s.check();
    }
}

criterion_group!(benches, registry_race);
criterion_main!(benches);
