//! The registry's map race: which concurrent map `Registry` is built on, chosen by
//! measurement, and what `Registry::get` costs beside a healthy call.
//!
//! The harness is the race bench's (benches/race.rs): `iter_custom` with `N` threads that set
//! up before a start `Barrier`, run `iters` operations back to back, and meet at an end
//! `Barrier`; the time is the wall time for every thread to complete one operation, all
//! running at once (so perfect scaling shows the same time on every row).
//! `registry-uncontended` is 1 thread, `registry-contended/2` both cores of the 2-core
//! machine.
//!
//! **The keys.** Every map holds the same 10,000 `String` keys
//! (`host-N.example.com:443`, `N` in `0..10000`) with `Arc<Breaker>` values. Every
//! lookup is a hit on a key drawn from a hot subset of 256 of them (every 39th key,
//! spread over the table), in a fixed pseudo-random order of 4,096 draws made once
//! (a xorshift with a fixed seed), looked up as a `&str` copy of the key (the map's own
//! `String` is not the one looked up, as with a key taken from a request). Each
//! thread walks the same order from its own offset (thread `t` of `N` starts at
//! `t * 4096 / N`), so two threads mostly look up different keys at a time. The
//! `floor/draw` row is the draw alone (the loop, the index, the `&str`): every
//! lookup row pays it.
//!
//! **The hashers.** The candidate maps hash with the standard library's SipHash-1-3
//! with **fixed keys** (`BuildHasherDefault<DefaultHasher>`), so a key's bucket, and
//! what probing it costs, is the same in every run: with a per-process seed
//! (`RandomState`) one hot key's probe cost moved 2.3× from run to run. `Registry`
//! keeps its `RandomState` (keys come from requests, so its seed must not be
//! guessable) and takes no hasher parameter: its rows are made comparable across runs
//! by the 256 hot keys instead, whose probe costs average over the seed.
//!
//! The cases:
//!
//! - `floor/draw`: the draw alone (`black_box` of the key's length);
//! - `floor/clock-read`: the draw and one `MonotonicClock::now_nanos()` (the clock a
//!   registry hit read for idle eviction before it stamped entries with the
//!   registry's epoch instead);
//! - `map/papaya`: papaya 0.2 `HashMap`, `pin()` + `get`;
//! - `map/scc-hashindex`: scc 3 `HashIndex::peek_with` (lock-free reads);
//! - `map/scc-hashmap`: scc 3 `HashMap::read_sync` (a shared bucket lock);
//! - `map/dashmap`: dashmap 6 `DashMap::get` (a shard `RwLock` read lock);
//! - `map/arc-swap`: arc-swap 1 `ArcSwap<std::collections::HashMap>`, `load()` +
//!   `get` (copy-on-write: every insert or removal clones the whole map);
//! - `call/healthy`: `try_acquire` + `record(Success)` on one breaker (the registry's
//!   for the first hot key, looked up once before the loop), with the draw;
//! - `call/papaya+healthy`: `map/papaya`'s lookup then the healthy call on the
//!   breaker it found: the requirement's yardstick (a healthy call + one lookup);
//! - `registry/get`: `Registry::get` with idle eviction on (the default), the `Entry`
//!   dropped (an `Arc` increment and decrement); `registry/get-no-idle`: the same on a
//!   registry built with `no_idle_eviction()` (no idle tracking at all: the least a
//!   hit can cost); `registry/get-no-idle+clock-read`: `get-no-idle` and one clock
//!   read, what a hit cost when idle tracking read the clock (a stand-in for the old
//!   hit, measured in the same run as the new one); `registry/get+healthy`: `get`
//!   then the healthy call through the entry; `registry/with+healthy`:
//!   `Registry::with` and the healthy call inside it (no reference count touched);
//! - `churn/*`: the slow path: insert a new key and remove it again (a `String`
//!   clone per insert), per map; `churn/registry`: `get` of a new key (builds a
//!   breaker) then `remove`.
//!
//! Run: `cargo bench -p fusebox-benches --bench registry --features registry`;
//! restrict with `RACE_FILTER` (comma-separated case-name substrings, e.g.
//! `map/papaya,call/,registry/`) and `RACE_THREADS` (e.g. `1,2`).

use arc_swap::ArcSwap;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fusebox::{Breaker, Clock, MonotonicClock, Recorded, Registry, Verdict};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher};
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// SipHash-1-3 with fixed keys: the same buckets in every run.
type Fixed = BuildHasherDefault<DefaultHasher>;

/// Keys in every map.
const KEYS: usize = 10_000;
/// Keys looked up (every `KEYS / HOT`-th key).
const HOT: usize = 256;
/// Draws in the fixed lookup order (a power of two: the index is masked).
const DRAWS: usize = 4096;
const CHURN: &str = "new-host.example.com:443";

fn key(i: usize) -> String {
    format!("host-{i}.example.com:443")
}

/// The lookup order: `DRAWS` copies of hot keys, drawn by a xorshift with a fixed
/// seed.
fn draws() -> Vec<String> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..DRAWS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            key((x % HOT as u64) as usize * (KEYS / HOT))
        })
        .collect()
}

struct Shared {
    draws: Vec<String>,
    clock: MonotonicClock,
    papaya: papaya::HashMap<String, Arc<Breaker>, Fixed>,
    scc_index: scc::HashIndex<String, Arc<Breaker>, Fixed>,
    scc_map: scc::HashMap<String, Arc<Breaker>, Fixed>,
    dashmap: dashmap::DashMap<String, Arc<Breaker>, Fixed>,
    arc_swap: ArcSwap<HashMap<String, Arc<Breaker>, Fixed>>,
    registry: Registry<String>,
    registry_no_idle: Registry<String>,
    /// The registry's breaker for the first hot key, looked up once.
    hot: Arc<Breaker>,
}

impl Shared {
    fn new() -> Self {
        let papaya = papaya::HashMap::with_hasher(Fixed::default());
        let scc_index = scc::HashIndex::with_hasher(Fixed::default());
        let scc_map = scc::HashMap::with_hasher(Fixed::default());
        let dashmap = dashmap::DashMap::with_hasher(Fixed::default());
        let mut std_map = HashMap::with_hasher(Fixed::default());
        let registry = Registry::builder().max_entries(2 * KEYS).build().unwrap();
        let registry_no_idle = Registry::builder()
            .max_entries(2 * KEYS)
            .no_idle_eviction()
            .build()
            .unwrap();
        {
            let pinned = papaya.pin();
            for key in (0..KEYS).map(key) {
                // One breaker per key, shared by the candidate maps (only its
                // address is read there).
                let breaker = Arc::new(Breaker::builder().build().unwrap());
                pinned.insert(key.clone(), Arc::clone(&breaker));
                let _ = scc_index.insert_sync(key.clone(), Arc::clone(&breaker));
                let _ = scc_map.insert_sync(key.clone(), Arc::clone(&breaker));
                dashmap.insert(key.clone(), Arc::clone(&breaker));
                let _ = registry.get(key.as_str());
                let _ = registry_no_idle.get(key.as_str());
                std_map.insert(key, breaker);
            }
        }
        let hot = Arc::clone(registry.get(key(0).as_str()).breaker());
        Self {
            draws: draws(),
            clock: MonotonicClock::new(),
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

    /// Every breaker looked up still closed and healthy, every map still holding its
    /// keys (every lookup was a hit).
    fn check(&self) {
        assert_eq!(self.hot.snapshot().state, fusebox::State::Closed);
        assert_eq!(self.papaya.len(), KEYS);
        assert_eq!(self.scc_index.len(), KEYS);
        assert_eq!(self.scc_map.len(), KEYS);
        assert_eq!(self.dashmap.len(), KEYS);
        assert_eq!(self.arc_swap.load().len(), KEYS);
        assert_eq!(self.registry.len(), KEYS);
        assert_eq!(self.registry_no_idle.len(), KEYS);
        for key in &self.draws {
            let entry = self.registry.get(key.as_str());
            assert!(!entry.is_overflow());
            assert_eq!(entry.breaker().snapshot().health, Some(1.0));
        }
    }
}

#[inline(always)]
fn healthy_call(b: &Breaker) {
    if let Ok(p) = b.try_acquire() {
        black_box(matches!(p.record(Verdict::Success), Recorded::Stale));
    }
}

/// One thread's run: `iters` operations from draw `offset` on.
type Run = fn(&Shared, u64, &Barrier, usize);

macro_rules! case {
    ($name:expr, |$s:ident, $key:ident| $body:expr) => {
        (
            $name,
            (|$s: &Shared, iters: u64, start: &Barrier, offset: usize| {
                start.wait();
                let mut i = offset;
                for _ in 0..iters {
                    let $key: &str = black_box($s.draws[i & (DRAWS - 1)].as_str());
                    i = i.wrapping_add(1);
                    $body;
                }
            }) as Run,
        )
    };
}

const CASES: &[(&str, Run)] = &[
    case!("floor/draw", |s, key| black_box(key.len())),
    case!("floor/clock-read", |s, key| black_box((
        key.len(),
        s.clock.now_nanos()
    ))),
    case!("map/papaya", |s, key| black_box(
        s.papaya.pin().get(key).map(Arc::as_ptr)
    )),
    case!("map/scc-hashindex", |s, key| black_box(
        s.scc_index.peek_with(key, |_, v| Arc::as_ptr(v))
    )),
    case!("map/scc-hashmap", |s, key| black_box(
        s.scc_map.read_sync(key, |_, v| Arc::as_ptr(v))
    )),
    case!("map/dashmap", |s, key| black_box(
        s.dashmap.get(key).map(|v| Arc::as_ptr(&v))
    )),
    case!("map/arc-swap", |s, key| black_box(
        s.arc_swap.load().get(key).map(Arc::as_ptr)
    )),
    case!("call/healthy", |s, key| {
        black_box(key.len());
        healthy_call(&s.hot)
    }),
    case!("call/papaya+healthy", |s, key| {
        if let Some(b) = s.papaya.pin().get(key) {
            healthy_call(b);
        }
    }),
    case!("registry/get", |s, key| black_box(
        s.registry.get(key).is_overflow()
    )),
    case!("registry/get-no-idle", |s, key| black_box(
        s.registry_no_idle.get(key).is_overflow()
    )),
    case!("registry/get-no-idle+clock-read", |s, key| black_box((
        s.registry_no_idle.get(key).is_overflow(),
        s.clock.now_nanos()
    ))),
    case!("registry/get+healthy", |s, key| healthy_call(
        s.registry.get(key).breaker()
    )),
    case!("registry/with+healthy", |s, key| s
        .registry
        .with(key, |e| healthy_call(e.breaker()))),
    case!("churn/papaya", |s, _key| {
        let map = s.papaya.pin();
        map.insert(CHURN.to_string(), Arc::clone(&s.hot));
        black_box(map.remove(CHURN).is_some());
    }),
    case!("churn/scc-hashindex", |s, _key| {
        let _ = s
            .scc_index
            .insert_sync(CHURN.to_string(), Arc::clone(&s.hot));
        black_box(s.scc_index.remove_sync(CHURN));
    }),
    case!("churn/scc-hashmap", |s, _key| {
        let _ = s.scc_map.insert_sync(CHURN.to_string(), Arc::clone(&s.hot));
        black_box(s.scc_map.remove_sync(CHURN).is_some());
    }),
    case!("churn/dashmap", |s, _key| {
        s.dashmap.insert(CHURN.to_string(), Arc::clone(&s.hot));
        black_box(s.dashmap.remove(CHURN).is_some());
    }),
    case!("churn/arc-swap", |s, _key| {
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
    case!("churn/registry", |s, _key| {
        black_box(s.registry.get(CHURN).is_overflow());
        black_box(s.registry.remove(CHURN).is_some());
    }),
];

fn run_threads(s: &Shared, threads: usize, iters: u64, run: Run) -> Duration {
    let start = Barrier::new(threads + 1);
    let end = Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (start, end) = (&start, &end);
            scope.spawn(move || {
                run(s, iters, start, t * DRAWS / threads);
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
