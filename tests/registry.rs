//! `Registry`: per-key entries made on first use, shared by later uses, bounded by
//! a cap (overflow) and idle eviction that never takes an entry in use, with
//! permits and guards that outlive an explicit removal.

#![cfg(feature = "registry")]

use fusebox::{
    Breaker, GuardError, ManualClock, Recorded, Registry, Retry, RetryBudget, State, Verdict,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

fn trip(breaker: &Breaker) {
    while breaker.snapshot().state == State::Closed {
        let _ = breaker.try_acquire().unwrap().record(Verdict::failure());
    }
}

#[test]
fn first_use_creates_and_second_use_finds_the_same_breaker() {
    let made = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&made);
    let registry = Registry::<String>::builder()
        .breaker(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
            Breaker::builder()
        })
        .budget(|_| RetryBudget::builder())
        .build()
        .unwrap();
    assert_eq!(
        made.load(Ordering::Relaxed),
        1,
        "the overflow entry, at build"
    );
    assert!(registry.is_empty());

    let first = registry.get("api.example.com:443");
    assert_eq!(made.load(Ordering::Relaxed), 2);
    assert_eq!(registry.len(), 1);
    let second = registry.get(&"api.example.com:443".to_string());
    assert_eq!(made.load(Ordering::Relaxed), 2, "a hit makes nothing");
    assert!(Arc::ptr_eq(first.breaker(), second.breaker()));
    assert!(Arc::ptr_eq(
        first.budget().unwrap(),
        second.budget().unwrap()
    ));
    assert!(first.ptr_eq(&second));
    assert!(!first.is_overflow());
    // `with` and `guard` see the same breaker and budget.
    registry.with("api.example.com:443", |e| {
        assert!(Arc::ptr_eq(e.breaker(), first.breaker()))
    });
    let guard = registry.guard("api.example.com:443");
    assert!(Arc::ptr_eq(guard.breaker(), first.breaker()));
    assert!(Arc::ptr_eq(
        guard.budget().unwrap(),
        first.budget().unwrap()
    ));
}

#[test]
fn keys_are_independent() {
    let registry = Registry::<String>::builder()
        .breaker(|_| Breaker::builder().trip_after_consecutive_failures(2))
        .build()
        .unwrap();
    let hosts = ["a.example.com", "b.example.com", "c.example.com"];
    for host in hosts {
        let _ = registry.get(host);
    }
    trip(registry.get("b.example.com").breaker());
    assert_eq!(
        registry.get("b.example.com").breaker().snapshot().state,
        State::Open
    );
    for host in ["a.example.com", "c.example.com"] {
        let s = registry.get(host).breaker().snapshot();
        assert_eq!((s.state, s.health), (State::Closed, Some(1.0)), "{host}");
    }
    // A guard for the tripped key is refused at once; another key's runs.
    let r: Result<(), GuardError<()>> = registry.guard("b.example.com").call(|_| Ok(()));
    assert!(matches!(r, Err(GuardError::Rejected { .. })), "{r:?}");
    let r: Result<(), GuardError<()>> = registry.guard("a.example.com").call(|_| Ok(()));
    assert_eq!(r, Ok(()));
}

#[test]
fn concurrent_first_uses_share_one_entry() {
    for round in 0..50 {
        // A cap of one: a loser that kept its reservation would leave no room.
        let made = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&made);
        let registry = Registry::<String>::builder()
            .breaker(move |_| {
                counter.fetch_add(1, Ordering::Relaxed);
                Breaker::builder()
            })
            .max_entries(1)
            .build()
            .unwrap();
        let threads = 8;
        let barrier = Barrier::new(threads);
        let entries: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        registry.get("race.example.com")
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(registry.len(), 1, "round {round}");
        let kept = registry.get("race.example.com");
        for entry in &entries {
            assert!(
                entry.ptr_eq(&kept),
                "round {round}: a loser's entry escaped"
            );
            assert!(
                !entry.is_overflow(),
                "round {round}: a first use overflowed"
            );
        }
        // Racing first uses may each have built a breaker; only one was kept.
        assert!(made.load(Ordering::Relaxed) >= 2);
        // The losers counted nothing: once the key is removed, the one slot is
        // free for another key.
        assert!(registry.remove("race.example.com").is_some());
        assert!(
            !registry.get("next.example.com").is_overflow(),
            "round {round}"
        );
    }
}

#[test]
fn at_the_cap_new_keys_share_the_overflow_entry() {
    let clock = ManualClock::new();
    let registry = Registry::<String>::builder()
        .max_entries(2)
        .idle_after(Duration::from_secs(16))
        .clock(clock.clone())
        .build()
        .unwrap();
    let a = registry.get("a");
    let b = registry.get("b");
    let c = registry.get("c");
    assert!(!a.is_overflow() && !b.is_overflow());
    assert!(c.is_overflow());
    assert!(c.ptr_eq(registry.overflow()));
    assert!(
        registry.get("d").ptr_eq(&c),
        "one overflow entry for every extra key"
    );
    assert_eq!(registry.len(), 2);
    // Known keys keep their own entries at the cap.
    assert!(registry.get("a").ptr_eq(&a));
    // The overflow is not listed as a key.
    let mut keys: Vec<String> = registry.snapshots().into_iter().map(|(k, _)| k).collect();
    keys.sort();
    assert_eq!(keys, ["a", "b"]);

    // `b` idle but held is not evicted to make room; once it is no longer
    // held, a new key's miss sweeps it out and takes its place; `a` keeps its
    // entry.
    clock.advance(Duration::from_secs(10));
    assert_eq!(registry.evict_idle(), 0); // starts epoch 1 at 10 s
    assert!(registry.get("a").ptr_eq(&a)); // a use in epoch 1: `a` is fresh again
    clock.advance(Duration::from_secs(16)); // epoch 1 started 16 s ago; `b` last looked up before it
    assert!(registry.get("c").is_overflow(), "`b` is held: in use");
    drop(b);
    clock.advance(Duration::from_secs(1)); // a tick: a miss at the cap sweeps again
    let c2 = registry.get("c");
    assert!(!c2.is_overflow(), "the sweep made room");
    assert_eq!(registry.len(), 2);
    assert!(registry.get("a").ptr_eq(&a));
    let mut keys: Vec<String> = registry.snapshots().into_iter().map(|(k, _)| k).collect();
    keys.sort();
    assert_eq!(keys, ["a", "c"], "`b` was evicted");
}

#[test]
fn the_cap_holds_under_concurrent_new_keys() {
    for round in 0..20 {
        let registry = Registry::<String>::builder()
            .max_entries(10)
            .no_idle_eviction()
            .build()
            .unwrap();
        let barrier = Barrier::new(4);
        let owned: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let (registry, barrier) = (&registry, &barrier);
                    scope.spawn(move || {
                        barrier.wait();
                        (0..10)
                            .filter(|i| !registry.get(&format!("t{t}-k{i}")).is_overflow())
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(registry.len(), 10, "round {round}");
        // An entry handed out as a key's own may have been taken back over the
        // cap, but never more than 10 are kept.
        assert!(owned >= 10, "round {round}: {owned}");
        for (key, _) in registry.snapshots() {
            assert!(!registry.get(&key).is_overflow(), "round {round}: {key}");
        }
    }
}

#[test]
fn a_miss_at_the_cap_sweeps_at_most_once_per_tick() {
    let clock = ManualClock::new();
    let registry = Registry::<String>::builder()
        .max_entries(1)
        .idle_after(Duration::from_secs(16)) // a tick is 1 s
        .clock(clock.clone())
        .build()
        .unwrap();
    clock.set(Duration::from_millis(500));
    let _ = registry.get("a"); // in epoch 0 (started at 0: not a tick ago, none starts)
    clock.set(Duration::from_millis(16_900));
    assert!(
        registry.get("b").is_overflow(),
        "swept at 16.9 s: nothing idle; epoch 1 starts now"
    );
    // `a` goes 16 s after the start of the first epoch after its last use:
    // at 32.9 s, by the first sweep from then on.
    clock.set(Duration::from_millis(32_800));
    assert!(
        registry.get("b").is_overflow(),
        "swept at 32.8 s: epoch 1 started less than 16 s ago"
    );
    clock.set(Duration::from_millis(33_700));
    assert!(
        registry.get("b").is_overflow(),
        "`a` is idle, but the last sweep is less than a tick old"
    );
    clock.set(Duration::from_millis(33_800));
    assert!(
        !registry.get("b").is_overflow(),
        "a tick later the sweep frees `a`"
    );
    assert_eq!(registry.len(), 1);
}

#[test]
fn idle_entries_are_evicted_and_used_ones_kept() {
    let clock = ManualClock::new();
    let registry = Registry::<String>::builder()
        .breaker(|_| Breaker::builder().trip_after_consecutive_failures(1))
        .idle_after(Duration::from_secs(160)) // a tick is 10 s
        .clock(clock.clone())
        .build()
        .unwrap();
    // Neither is held: `busy` is looked up every 20 s, `quiet` never again.
    // Both are tripped, so that a closed breaker shows a new entry. A periodic
    // task calls `evict_idle` every 20 s, after `busy`'s lookup: each call starts
    // an epoch.
    registry.with("busy", |e| trip(e.breaker()));
    registry.with("quiet", |e| trip(e.breaker()));
    for _ in 0..8 {
        clock.advance(Duration::from_secs(20));
        let _ = registry.get("busy");
        assert_eq!(registry.evict_idle(), 0);
    }
    // `quiet` was last looked up at 0 s; the first epoch after that started at
    // 20 s, so it goes at 180 s, not before, though idle since 160 s.
    clock.advance(Duration::from_secs(20) - Duration::from_nanos(1));
    assert_eq!(registry.evict_idle(), 0, "179.999999999 s");
    clock.advance(Duration::from_nanos(1));
    assert_eq!(registry.evict_idle(), 1, "180 s");
    assert_eq!(registry.len(), 1);
    let state = |key: &str| registry.with(key, |e| e.breaker().snapshot().state);
    assert_eq!(state("busy"), State::Open, "kept");
    assert_eq!(
        state("quiet"),
        State::Closed,
        "a new entry for an evicted key"
    );

    // A clock that goes backwards evicts nothing.
    clock.rewind(Duration::from_secs(1000));
    assert_eq!(registry.evict_idle(), 0);
    assert_eq!(registry.len(), 2);
}

#[test]
fn misses_sweep_idle_entries_without_a_periodic_task() {
    let clock = ManualClock::new();
    let registry = Registry::<String>::builder()
        .idle_after(Duration::from_secs(16))
        .clock(clock.clone())
        .build()
        .unwrap();
    for i in 0..10 {
        let _ = registry.get(&format!("short-lived-{i}"));
    }
    assert_eq!(registry.len(), 10);
    clock.advance(Duration::from_secs(17));
    // A miss, one idle period after the last sweep: it sweeps (nothing is idle
    // yet: no epoch has started since the 10 were made) and starts epoch 1.
    let _ = registry.get("newcomer");
    assert_eq!(registry.len(), 11);
    clock.advance(Duration::from_secs(16));
    let _ = registry.get("newcomer-2"); // 16 s after epoch 1 started: the 10 go
    assert_eq!(registry.len(), 2);
}

#[test]
fn no_idle_eviction_keeps_entries() {
    let clock = ManualClock::new();
    let registry = Registry::<String>::builder()
        .no_idle_eviction()
        .clock(clock.clone())
        .build()
        .unwrap();
    let a = registry.get("a");
    clock.advance(Duration::from_secs(365 * 24 * 3600));
    assert_eq!(registry.evict_idle(), 0);
    let _ = registry.get("b");
    assert!(registry.get("a").ptr_eq(&a));
    assert!(registry.remove("a").is_some());
    assert!(registry.remove("a").is_none());
    assert_eq!(registry.len(), 1);
}

#[test]
fn snapshots_list_every_key() {
    let registry = Registry::<String>::builder()
        .breaker(|_| Breaker::builder().trip_after_consecutive_failures(1))
        .build()
        .unwrap();
    for i in 0..20 {
        let _ = registry.get(&format!("host-{i}"));
    }
    trip(registry.get("host-7").breaker());
    let mut snapshots = registry.snapshots();
    snapshots.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(snapshots.len(), 20);
    for (key, snapshot) in &snapshots {
        let expected = if key == "host-7" {
            State::Open
        } else {
            State::Closed
        };
        assert_eq!(snapshot.state, expected, "{key}");
    }
    let mut seen = 0;
    registry.for_each(|_, _| seen += 1);
    assert_eq!(seen, 20);
}

#[test]
fn the_registry_clock_drives_breakers_and_budgets_without_their_own() {
    let clock = ManualClock::new();
    let registry = Registry::<String>::builder()
        .breaker(|_| {
            Breaker::builder()
                .trip_after_consecutive_failures(1)
                .open_for(Duration::from_secs(1))
                .open_jitter(0.0)
        })
        .budget(|_| {
            RetryBudget::builder()
                .ratio(0.0)
                .min_retries_per_sec(1)
                .initial_balance(0)
        })
        .clock(clock.clone())
        .build()
        .unwrap();
    let entry = registry.get("db");
    trip(entry.breaker());
    assert!(!entry.breaker().snapshot().ready_to_probe);
    clock.advance(Duration::from_secs(1));
    assert!(entry.breaker().snapshot().ready_to_probe);
    // The budget's floor refills on the registry's clock: one token after 1 s.
    assert!(entry.budget().unwrap().try_withdraw());
    assert!(!entry.budget().unwrap().try_withdraw());
}

#[test]
fn bad_templates_fail_at_build() {
    let err = Registry::<String>::builder()
        .breaker(|_| Breaker::builder().open_for(Duration::ZERO))
        .build()
        .unwrap_err();
    assert_eq!(err.path(), "breaker.open_for");
    let err = Registry::<String>::builder()
        .budget(|_| RetryBudget::builder().max_balance(0))
        .build()
        .unwrap_err();
    assert_eq!(err.path(), "budget.max_balance");
    let err = Registry::<String>::builder()
        .idle_after(Duration::from_millis(1))
        .build()
        .unwrap_err();
    assert_eq!(err.field(), "idle_after");
    assert_eq!(
        Registry::<String>::builder()
            .max_entries(0)
            .build()
            .unwrap_err()
            .field(),
        "max_entries"
    );
}

#[test]
fn a_key_whose_template_fails_gets_the_overflow_entry() {
    let registry = Registry::<u32>::builder()
        .breaker(|port| Breaker::builder().probes(port.map_or(1, |p| p % 2)))
        .build()
        .unwrap();
    assert_eq!(registry.try_get(&80).unwrap_err().path(), "breaker.probes");
    assert!(registry.get(&80).is_overflow());
    assert!(registry.is_empty());
    assert!(!registry.get(&443).is_overflow());
    // The failed creations took no room.
    assert_eq!(registry.len(), 1);
}

#[test]
fn the_guard_uses_the_registry_retry_policy() {
    let registry = Registry::<String>::builder()
        .retry(
            Retry::builder()
                .max_attempts(2)
                .constant_backoff(Duration::from_millis(1))
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let r: Result<(), GuardError<&str>> = registry.guard("db").call(|_| Err("down"));
    assert_eq!(r.unwrap_err().attempts(), 2);
    // `Entry::guard` takes its own policy.
    let r: Result<(), GuardError<&str>> = registry
        .get("db")
        .guard(Retry::builder().max_attempts(1).build().unwrap())
        .call(|_| Err("down"));
    assert_eq!(r.unwrap_err().attempts(), 1);
}

#[cfg(feature = "serde")]
#[test]
fn a_template_config_configures_every_key() {
    use fusebox::serde_config::TemplateConfig;

    let template: TemplateConfig = toml::from_str(
        r#"
        [breaker]
        trip_after_consecutive_failures = 2
        open_for = "3s"
        [retry]
        max_attempts = 4
        [budget]
        ratio = 0.5
        "#,
    )
    .unwrap();
    let clock = ManualClock::new();
    let registry = Registry::<String>::builder()
        .template(&template)
        .unwrap()
        .clock(clock.clone())
        .build()
        .unwrap();
    let guard = registry.guard("api.example.com:443");
    assert_eq!(guard.retry().max_attempts(), 4);
    assert!(guard.budget().is_some());
    let a = registry.get("a");
    let b = registry.get("b");
    assert!(
        !Arc::ptr_eq(a.breaker(), b.breaker()),
        "configured alike, shared nothing"
    );
    for _ in 0..2 {
        let _ = a
            .breaker()
            .try_acquire()
            .unwrap()
            .record(Verdict::failure());
    }
    assert_eq!(
        a.breaker().snapshot().state,
        State::Open,
        "two failures trip it"
    );
    assert_eq!(b.breaker().snapshot().state, State::Closed);
    // It reads the registry's clock: open for at most 3 s (less with jitter).
    assert!(!a.breaker().snapshot().ready_to_probe);
    clock.advance(Duration::from_secs(3));
    assert!(a.breaker().snapshot().ready_to_probe);

    // A bad template fails at `template`, with its path.
    let bad: TemplateConfig = toml::from_str("[breaker]\nopen_for = \"0s\"").unwrap();
    let err = Registry::<String>::builder().template(&bad).unwrap_err();
    assert_eq!(err.path(), "breaker.open_for");
    let bad: TemplateConfig = toml::from_str("[retry]\nmax_attempts = 0").unwrap();
    let err = Registry::<String>::builder().template(&bad).unwrap_err();
    assert_eq!(err.path(), "retry.max_attempts");
}

// ---------------------------------------------------------------------------
// No entry in use is evicted: held outside the registry (an `Entry`, a `Guard`,
// an `Arc<Breaker>` or `Arc<RetryBudget>`, an owned permit) or looked up within
// its idle time. Each sweep's removal re-checks both.
// ---------------------------------------------------------------------------

fn idle_registry(clock: &ManualClock) -> Registry<String> {
    Registry::<String>::builder()
        .breaker(|_| {
            Breaker::builder()
                .trip_after_consecutive_failures(1)
                .open_for(Duration::from_secs(600))
        })
        .budget(|_| RetryBudget::builder())
        .idle_after(Duration::from_secs(16)) // a tick is 1 s
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// The reviewer's case: a guard taken from the registry, its breaker tripped,
/// called every 100 ms for 17 s (every call rejected, none through the
/// registry). A miss on another key sweeps: the key must keep its one breaker,
/// open, not get a fresh closed one beside the guard's.
#[test]
fn a_held_guard_keeps_its_entry_through_rejections() {
    let clock = ManualClock::new();
    let registry = idle_registry(&clock);
    let g = registry.guard("db");
    trip(g.breaker());
    // An epoch starts after the guard's lookup, so that the sweep below finds the
    // entry idle by its stamp: only the hold keeps it.
    clock.advance(Duration::from_secs(1));
    assert_eq!(registry.evict_idle(), 0);
    for _ in 0..170 {
        clock.advance(Duration::from_millis(100));
        let r: Result<(), GuardError<()>> = g.call(|_| Ok(()));
        assert!(matches!(r, Err(GuardError::Rejected { .. })), "{r:?}");
    }
    let _ = registry.get("other"); // a miss 17 s after the last sweep: sweeps
    assert_eq!(registry.len(), 2, "nothing evicted");
    let db = registry.get("db");
    assert!(
        Arc::ptr_eq(db.breaker(), g.breaker()),
        "two live breakers for one key"
    );
    assert_eq!(db.breaker().snapshot().state, State::Open);
}

/// Every kind of holder keeps the entry in; once the last one is gone, the
/// entry is evicted after its idle time like any other.
#[test]
fn an_entry_held_in_any_form_is_not_evicted() {
    type Holder = Box<dyn FnOnce(&Registry<String>) -> Box<dyn std::any::Any>>;
    let holders: Vec<(&str, Holder)> = vec![
        ("entry", Box::new(|r| Box::new(r.get("db")))),
        ("guard", Box::new(|r| Box::new(r.guard("db")))),
        (
            "breaker",
            Box::new(|r| Box::new(Arc::clone(r.get("db").breaker()))),
        ),
        (
            "budget",
            Box::new(|r| Box::new(Arc::clone(r.get("db").budget().unwrap()))),
        ),
        (
            "owned permit",
            Box::new(|r| Box::new(r.get("db").breaker().try_acquire_owned().unwrap())),
        ),
    ];
    for (what, take) in holders {
        let clock = ManualClock::new();
        let registry = idle_registry(&clock);
        let held = take(&registry);
        // An epoch starts after the lookup, so that from 17 s on the entry is idle
        // by its stamp: only the hold keeps it.
        clock.advance(Duration::from_secs(1));
        assert_eq!(registry.evict_idle(), 0, "{what}");
        clock.advance(Duration::from_secs(16));
        assert_eq!(registry.evict_idle(), 0, "{what}: in use");
        assert_eq!(registry.len(), 1, "{what}");
        clock.advance(Duration::from_secs(100));
        assert_eq!(registry.evict_idle(), 0, "{what}: still in use");
        drop(held);
        // Unused for 117 s and no longer held: the next sweep takes it.
        assert_eq!(registry.evict_idle(), 1, "{what}: released");
        assert!(registry.is_empty(), "{what}");
    }
}

/// `remove` still takes a held entry out (an operator's explicit request):
/// its holders keep using the old breaker, and the key's next use makes a new
/// one.
#[test]
fn permits_and_guards_survive_an_explicit_removal() {
    let clock = ManualClock::new();
    let registry = idle_registry(&clock);
    let entry = registry.get("db");
    let owned = entry.breaker().try_acquire_owned().unwrap();
    let guard = registry.guard("db");
    drop(entry);
    assert!(registry.remove("db").is_some());
    assert!(registry.is_empty());

    // The permit still reports to the removed breaker, which trips.
    let old = Arc::clone(owned.breaker());
    assert!(matches!(
        owned.record(Verdict::failure()),
        Recorded::Applied {
            transition: Some(_)
        }
    ));
    assert_eq!(old.snapshot().state, State::Open);
    assert!(Arc::ptr_eq(guard.breaker(), &old));
    let fresh = registry.get("db");
    assert!(!Arc::ptr_eq(fresh.breaker(), &old));
    assert_eq!(fresh.breaker().snapshot().state, State::Closed);
}

/// A manual clock that runs a hook on one chosen reading: the registry reads
/// its clock once per sweep (the sweep's time) and again for each idle entry
/// just before removing it (the re-check's time; then once more if the sweep
/// starts an epoch), so a hook on that second reading acts between the scan and
/// the removal, deterministically.
struct SteppedClock {
    clock: ManualClock,
    /// Readings left before the hook runs (0: disarmed).
    countdown: AtomicUsize,
    hook: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
    fired: AtomicUsize,
}

impl SteppedClock {
    fn new(clock: ManualClock) -> Arc<Self> {
        Arc::new(Self {
            clock,
            countdown: AtomicUsize::new(0),
            hook: std::sync::Mutex::new(None),
            fired: AtomicUsize::new(0),
        })
    }

    /// Run `hook` on the `n`-th reading from now.
    fn arm(&self, n: usize, hook: impl FnOnce() + Send + 'static) {
        *self.hook.lock().unwrap() = Some(Box::new(hook));
        self.countdown.store(n, Ordering::SeqCst);
    }
}

impl fusebox::Clock for SteppedClock {
    fn now_nanos(&self) -> u64 {
        let due = self
            .countdown
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            == Ok(1);
        if due {
            // Taken out first: the hook may read this clock again.
            let hook = self.hook.lock().unwrap().take();
            if let Some(hook) = hook {
                self.fired.fetch_add(1, Ordering::SeqCst);
                hook();
            }
        }
        self.clock.now_nanos()
    }
}

/// One idle entry `"a"`, and a sweep with `between` run after the scan found
/// it idle and before its removal. Returns the entries removed and whether the
/// entry held before is still the key's.
fn sweep_with_a_step(
    between: impl FnOnce(&Registry<String>, &mut Vec<fusebox::registry::Entry>) + Send + 'static,
) -> (usize, bool) {
    let manual = ManualClock::new();
    let clock = SteppedClock::new(manual.clone());
    let registry = Arc::new(
        Registry::<String>::builder()
            .idle_after(Duration::from_secs(16))
            .clock(Arc::clone(&clock))
            .build()
            .unwrap(),
    );
    let before = Arc::as_ptr(registry.get("a").breaker());
    manual.advance(Duration::from_secs(1));
    assert_eq!(registry.evict_idle(), 0); // starts epoch 1, after `a`'s lookup
    manual.advance(Duration::from_secs(16));
    let kept = Arc::new(std::sync::Mutex::new(Vec::new()));
    {
        let registry = Arc::downgrade(&registry);
        let kept = Arc::clone(&kept);
        // Reading 1: the sweep's time (the scan); reading 2: the re-check's.
        clock.arm(2, move || {
            let registry = registry.upgrade().unwrap();
            between(&registry, &mut kept.lock().unwrap());
        });
    }
    let removed = registry.evict_idle();
    assert_eq!(
        clock.fired.load(Ordering::SeqCst),
        1,
        "the hook ran between the scan and the removal"
    );
    let same = registry.with("a", |e| Arc::as_ptr(e.breaker()) == before);
    drop(kept);
    (removed, same)
}

/// The control: with nothing between the scan and the removal, the idle entry
/// is removed.
#[test]
fn an_idle_entry_is_removed_when_nothing_happens_after_the_scan() {
    assert_eq!(sweep_with_a_step(|_, _| {}), (1, false));
}

/// A lookup after the scan (it stamps the entry with the current epoch) keeps
/// the entry: the removal re-checks the stamp. Fails if the re-check is only
/// `ptr_eq`.
#[test]
fn an_entry_used_after_the_scan_is_not_removed() {
    let (removed, same) = sweep_with_a_step(|registry, _| registry.with("a", |_| ()));
    assert_eq!((removed, same), (0, true));
}

/// A holder taken after the scan without a lookup (`for_each` does not count as
/// a use) keeps the entry: the removal re-checks the holders too.
#[test]
fn an_entry_held_after_the_scan_is_not_removed() {
    let (removed, same) = sweep_with_a_step(|registry, kept| {
        registry.for_each(|_, entry| kept.push(entry.clone()));
    });
    assert_eq!((removed, same), (0, true));
}

// ---------------------------------------------------------------------------
// Idle eviction without a clock read on a hit: a lookup stamps its entry with
// the registry's epoch; misses and sweeps start epochs (at most one a tick); a
// sweep at `now` evicts an entry (not held) whose stamp is older than the newest
// epoch that started at or before `now - idle`.
// ---------------------------------------------------------------------------

/// A manual clock that counts its readings.
#[derive(Clone)]
struct CountingClock {
    clock: ManualClock,
    readings: Arc<AtomicUsize>,
}

impl fusebox::Clock for CountingClock {
    fn now_nanos(&self) -> u64 {
        self.readings.fetch_add(1, Ordering::SeqCst);
        self.clock.now_nanos()
    }
}

/// Every hit path (`get`, `with`, `try_get`, `guard`) reads no clock, whether
/// the entry's stamp is current (no write) or behind (one write), and the
/// lookups still count as uses.
#[test]
fn a_hit_reads_no_clock() {
    let manual = ManualClock::new();
    let clock = CountingClock {
        clock: manual.clone(),
        readings: Arc::new(AtomicUsize::new(0)),
    };
    let registry = Registry::<String>::builder()
        .budget(|_| RetryBudget::builder())
        .idle_after(Duration::from_secs(16))
        .clock(clock.clone())
        .build()
        .unwrap();
    let _ = (registry.get("a"), registry.get("b"));
    let readings = || clock.readings.load(Ordering::SeqCst);
    for round in 0..40 {
        manual.advance(Duration::from_secs(1));
        // Each round starts an epoch (a tick apart), so the first hit on each key
        // writes its stamp and the others find it current.
        assert_eq!(registry.evict_idle(), 0, "round {round}: both in use");
        let before = readings();
        for _ in 0..10 {
            for key in ["a", "b"] {
                drop(registry.get(key));
                registry.with(key, |e| assert!(!e.is_overflow()));
                drop(registry.try_get(key).unwrap());
                drop(registry.guard(key));
            }
        }
        assert_eq!(readings(), before, "round {round}: a hit read the clock");
    }
    assert_eq!(registry.len(), 2);
    // Without idle eviction, neither a hit nor `evict_idle` reads it.
    let registry = Registry::<String>::builder()
        .no_idle_eviction()
        .clock(clock.clone())
        .build()
        .unwrap();
    let _ = registry.get("a");
    let before = readings();
    drop(registry.get("a"));
    registry.with("a", |_| ());
    assert_eq!(registry.evict_idle(), 0);
    assert_eq!(readings(), before);
}

/// Both edges of the bound. An entry goes at the first sweep at least `idle`
/// after the start of the first epoch started after its last lookup: not a
/// nanosecond before (a lookup just before an epoch's start is then exactly
/// `idle` old), and a lookup just after an epoch's start waits for the next
/// epoch's start.
#[test]
fn an_entry_goes_idle_after_the_first_epoch_start_after_its_last_lookup() {
    let clock = ManualClock::new();
    let registry = Registry::<String>::builder()
        .idle_after(Duration::from_secs(16)) // a tick is 1 s
        .clock(clock.clone())
        .build()
        .unwrap();
    let ns = Duration::from_nanos(1);
    let keys = |registry: &Registry<String>| {
        let mut keys: Vec<String> = registry.snapshots().into_iter().map(|(k, _)| k).collect();
        keys.sort();
        keys
    };
    let _ = (registry.get("a"), registry.get("b"), registry.get("c"));
    clock.set(Duration::from_secs(5));
    let _ = registry.get("a"); // last lookup at 5 s, in epoch 0
    clock.set(Duration::from_secs(6));
    let _ = registry.get("c"); // last lookup at 6 s, just before epoch 1 starts
    assert_eq!(registry.evict_idle(), 0); // epoch 1 starts at 6 s
    let _ = registry.get("b"); // last lookup at 6 s, just after epoch 1 started

    clock.set(Duration::from_secs(22) - ns);
    assert_eq!(registry.evict_idle(), 0, "epoch 1 started 16 s - 1 ns ago"); // epoch 2
    clock.set(Duration::from_secs(22));
    assert_eq!(
        registry.evict_idle(),
        2,
        "`a` and `c`: 16 s after epoch 1 started"
    );
    assert_eq!(
        keys(&registry),
        ["b"],
        "`c` unused for exactly 16 s; `b` stays"
    );

    // `b`'s first epoch start after its lookup is epoch 2's, at 22 s - 1 ns.
    clock.set(Duration::from_secs(38) - 2 * ns);
    assert_eq!(
        registry.evict_idle(),
        0,
        "unused for 32 s, but 16 s - 1 ns after epoch 2"
    );
    clock.set(Duration::from_secs(38) - ns);
    assert_eq!(registry.evict_idle(), 1);
    assert!(registry.is_empty());
}

/// The stale epoch: no miss and no sweep for three hours while `hot` is looked
/// up every second, so every lookup finds epoch 0, started three hours ago.
/// The miss that ends the quiet spell sweeps: `hot` must stay (it was looked up
/// a second ago), and so does `cold` (unused for three hours, but its stamp is
/// `hot`'s: without a clock read, a lookup during the spell cannot say when it
/// came). The miss starts epoch 1; 16 s later `cold` goes and `hot` stays.
#[test]
fn an_entry_looked_up_while_the_epoch_is_stale_survives_the_sweep_after() {
    let clock = ManualClock::new();
    let hot_made = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hot_made);
    let registry = Registry::<String>::builder()
        .breaker(move |key| {
            if key.is_some_and(|k| k == "hot") {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            Breaker::builder()
        })
        .idle_after(Duration::from_secs(16))
        .clock(clock.clone())
        .build()
        .unwrap();
    let _ = (registry.get("hot"), registry.get("cold"));
    for _ in 0..3 * 3600 {
        clock.advance(Duration::from_secs(1));
        registry.with("hot", |_| ());
    }
    let _ = registry.get("new"); // a miss, three hours after the last sweep: sweeps
    assert_eq!(registry.len(), 3, "nothing evicted");
    for _ in 0..16 {
        clock.advance(Duration::from_secs(1));
        registry.with("hot", |_| ());
    }
    assert_eq!(
        registry.evict_idle(),
        1,
        "`cold`, 16 s after epoch 1 started"
    );
    let mut keys: Vec<String> = registry.snapshots().into_iter().map(|(k, _)| k).collect();
    keys.sort();
    assert_eq!(keys, ["hot", "new"]);
    assert_eq!(
        hot_made.load(Ordering::SeqCst),
        1,
        "`hot` was never rebuilt"
    );
}

/// On the real clock, with idle eviction at 300 ms: one thread looks `hot` up
/// all the time while another churns new keys (misses: sweeps and epoch
/// starts) and calls `evict_idle` in a loop for 1.5 s. `hot` is never evicted
/// (its template runs once), while the churned keys are. The lookup thread
/// measures its longest pause between two lookups: if the machine stalled it
/// for half the idle time, `hot` may have been idle, and only the churn is
/// checked.
#[test]
fn an_entry_looked_up_all_the_time_is_never_evicted_under_churn() {
    let idle = Duration::from_millis(300);
    let hot_made = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hot_made);
    let registry = Registry::<String>::builder()
        .breaker(move |key| {
            if key.is_some_and(|k| k == "hot") {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            Breaker::builder()
        })
        .max_entries(1 << 20)
        .idle_after(idle)
        .build()
        .unwrap();
    let _ = registry.get("hot");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (longest_pause, churned, evicted) = std::thread::scope(|scope| {
        let hot = scope.spawn(|| {
            let mut last = std::time::Instant::now();
            let mut longest = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                registry.with("hot", |e| assert!(!e.is_overflow()));
                let now = std::time::Instant::now();
                longest = longest.max(now - last);
                last = now;
            }
            longest
        });
        let churn = scope.spawn(|| {
            let (mut churned, mut evicted) = (0usize, 0usize);
            let start = std::time::Instant::now();
            while start.elapsed() < Duration::from_millis(1500) {
                let _ = registry.get(&format!("churn-{churned}"));
                churned += 1;
                evicted += registry.evict_idle();
                std::thread::sleep(Duration::from_micros(200));
            }
            (churned, evicted)
        });
        let (churned, evicted) = churn.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        (hot.join().unwrap(), churned, evicted)
    });
    if longest_pause < idle / 2 {
        assert_eq!(
            hot_made.load(Ordering::SeqCst),
            1,
            "`hot` was evicted and rebuilt"
        );
    } else {
        eprintln!("the lookup thread paused for {longest_pause:?}: `hot` not checked");
    }
    assert!(evicted > 0, "no churned key evicted ({churned} churned)");
    assert!(registry.len() < churned, "{} of {churned}", registry.len());
}
