//! Long stress tests, `#[ignore]`d; CI runs them in release:
//! `cargo test --release --test stress -- --ignored`.
//!
//! Worker threads hammer one breaker with random verdicts, cancellations and (rarely)
//! operator calls while a clock thread moves time and an observer thread checks the
//! invariants on every snapshot it takes. At the end, the transitions reported by the
//! listener must form one unbroken chain: exactly one transition per epoch; an `Open`
//! breaker must have a usable deadline (published for its epoch, and admitting a
//! probe once the clock passes it); and no probe slot may be held. The graded runs
//! add a short half-life (health decays between reports, so reporters race to claim
//! the decay mark in the deadline word while others trip and publish deadlines) and
//! graded admission (shed attempts).

use fusebox::{Breaker, ManualClock, Rejected, State, Transition, Verdict};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

const PROBES: u32 = 2;
const CLOSE_AFTER: u32 = 3;
const MIN_SAMPLES: u32 = 4;

fn run(workers: usize, run_for: Duration, operator_every: u64, seed: u64, graded: bool) {
    let clock = ManualClock::new();
    let log: Arc<Mutex<Vec<Transition>>> = Arc::default();
    let sink = Arc::clone(&log);
    let builder = if graded {
        // Trip below 0.1, shed below 0.6; a 64 ms half-life is a 1 ms tick, so
        // nearly every report claims decay.
        Breaker::builder()
            .health(0.2, 0.1, MIN_SAMPLES)
            .shed_below(0.6)
            .min_admit(0.1)
            .half_life(Duration::from_millis(64))
    } else {
        Breaker::builder()
            .trip_after_consecutive_failures(MIN_SAMPLES)
            .shed_below(0.0)
    };
    let shed = Arc::new(AtomicU64::new(0));
    let breaker = Arc::new(
        builder
            .open_for(Duration::from_millis(2))
            .open_cap(Duration::from_millis(16))
            .open_jitter(0.5)
            .jitter_seed(seed)
            .probes(PROBES)
            .close_after(CLOSE_AFTER)
            .probe_timeout(Duration::from_millis(5))
            .clock(clock.clone())
            .on_transition(move |t| sink.lock().unwrap().push(*t))
            .build()
            .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let returned = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(workers + 3));

    let observer = {
        let (b, stop, start) = (Arc::clone(&breaker), Arc::clone(&stop), Arc::clone(&start));
        thread::spawn(move || {
            start.wait();
            let mut last_epoch = 0u32;
            let mut observations = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let s = b.snapshot();
                observations += 1;
                // Epochs only move forward (24-bit wrapping difference).
                let forward = s.epoch.wrapping_sub(last_epoch) & 0x00FF_FFFF;
                assert!(
                    forward < 1 << 23,
                    "epoch went backwards: {last_epoch} -> {}",
                    s.epoch
                );
                last_epoch = s.epoch;
                assert!(s.probes_in_flight <= PROBES, "probe cap broken: {s:?}");
                assert!(s.probe_successes < CLOSE_AFTER, "should have closed: {s:?}");
                assert!(s.samples <= MIN_SAMPLES, "{s:?}");
                if let Some(h) = s.health {
                    assert!((0.0..=1.0).contains(&h), "{s:?}");
                    // Samples count the spell below full health.
                    if h == 1.0 && matches!(s.state, State::Closed | State::Disabled) {
                        assert_eq!(s.samples, 0, "samples at full health: {s:?}");
                    }
                }
                match s.state {
                    State::HalfOpen => assert!(s.health.is_none()),
                    State::Closed | State::Disabled => assert_eq!(s.reopens, 0),
                    State::Open | State::ForcedOpen => assert_eq!(s.probes_in_flight, 0),
                    other => panic!("a state this test does not know: {other:?}"),
                }
            }
            observations
        })
    };

    let ticker = {
        let (clock, stop, start) = (clock.clone(), Arc::clone(&stop), Arc::clone(&start));
        thread::spawn(move || {
            start.wait();
            let mut rng = SmallRng::seed_from_u64(seed ^ 0xC10C);
            while !stop.load(Ordering::Relaxed) {
                if rng.random_ratio(1, 20) {
                    clock.rewind(Duration::from_micros(rng.random_range(0..3000)));
                } else {
                    clock.advance(Duration::from_micros(rng.random_range(0..1500)));
                }
                if rng.random_ratio(1, 64) {
                    thread::yield_now();
                }
            }
        })
    };

    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let (b, start, returned, shed) = (
                Arc::clone(&breaker),
                Arc::clone(&start),
                Arc::clone(&returned),
                Arc::clone(&shed),
            );
            let stop = Arc::clone(&stop);
            let clock = clock.clone();
            thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(seed.wrapping_add(w as u64));
                start.wait();
                let mut admitted = 0u64;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    if operator_every > 0 && i.is_multiple_of(operator_every) {
                        let t = match rng.random_range(0..4) {
                            0 => b.force_open(),
                            1 => b.disable(),
                            _ => b.reset(),
                        };
                        // `None`: a no-op (it would have changed only the epoch).
                        if let Some(t) = t {
                            assert_ne!(t.epoch, 0, "an operator transition gets a new epoch");
                            returned.fetch_add(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                    let permit = match b.try_acquire() {
                        Ok(permit) => permit,
                        Err(rejected) => {
                            if rejected == Rejected::Shed {
                                shed.fetch_add(1, Ordering::Relaxed);
                            }
                            // A rejected caller waits: let virtual time pass.
                            clock.advance(Duration::from_micros(rng.random_range(0..500)));
                            continue;
                        }
                    };
                    admitted += 1;
                    let verdict = match rng.random_range(0..10) {
                        0..=4 => Verdict::failure(),
                        5..=7 => Verdict::Success,
                        8 => Verdict::Ignored,
                        _ => {
                            drop(permit); // cancellation
                            continue;
                        }
                    };
                    if rng.random_ratio(1, 8) {
                        thread::yield_now(); // let the world move on: stale reports
                    }
                    if permit.record(verdict).transition().is_some() {
                        returned.fetch_add(1, Ordering::Relaxed);
                    }
                }
                admitted
            })
        })
        .collect();

    start.wait();
    thread::sleep(run_for);
    stop.store(true, Ordering::Relaxed);
    let admitted: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let observations = observer.join().unwrap();
    ticker.join().unwrap();

    let mut log = log.lock().unwrap().clone();
    let final_epoch = breaker.snapshot().epoch;
    assert!(log.len() < 1 << 23, "test too long for the wrap-free check");
    log.sort_by_key(|t| t.epoch);
    // One transition per epoch, 1..=final, chained: each starts where the last ended.
    assert_eq!(log.len() as u32, final_epoch, "one listener call per epoch");
    let mut state = State::Closed;
    for (i, t) in log.iter().enumerate() {
        assert_eq!(
            t.epoch,
            i as u32 + 1,
            "epoch {} has no single transition",
            i + 1
        );
        assert_eq!(
            t.from, state,
            "transition {t:?} does not start where the last ended"
        );
        state = t.to;
    }
    assert_eq!(state, breaker.snapshot().state);
    // Every transition except those into HalfOpen (made inside try_acquire: the
    // first probe, or a fresh period past the probe lease) was returned to exactly
    // the caller that made it.
    let lazy = log.iter().filter(|t| t.to == State::HalfOpen).count() as u64;
    assert_eq!(returned.load(Ordering::Relaxed) + lazy, log.len() as u64);
    let end = breaker.snapshot();
    assert!(
        end.probes_in_flight == 0,
        "all permits are gone, so no probe slot may be held: {end:?}"
    );
    if end.state == State::Open {
        // The deadline of the newest Open is published, for this epoch, and it
        // ends: past it the breaker admits a probe (it is not wedged open).
        let until = end
            .open_until
            .unwrap_or_else(|| panic!("Open with no usable deadline: {end:?}"));
        let now = clock.now();
        if until > now {
            clock.advance(until - now);
        }
        let probe = breaker
            .try_acquire()
            .unwrap_or_else(|e| panic!("wedged open past its deadline: {e:?}, {end:?}"));
        assert_eq!(probe.epoch(), (end.epoch + 1) & 0x00FF_FFFF);
    } else if end.state == State::HalfOpen {
        let probe = breaker
            .try_acquire()
            .unwrap_or_else(|e| panic!("no slot free with no permit out: {e:?}, {end:?}"));
        drop(probe);
    } else if end.state == State::Closed {
        // Left alone for 21 half-lives, health is back to exactly full whatever
        // the race left behind, and nothing is shed.
        clock.advance(breaker.half_life() * 21);
        let s = breaker.snapshot();
        assert_eq!((s.health, s.samples), (Some(1.0), 0), "{s:?}");
        let permit = breaker.try_acquire().expect("full health admits");
        assert!(permit.record(Verdict::Success).transition().is_none());
    }
    let renewals = log
        .iter()
        .filter(|t| t.from == State::HalfOpen && t.to == State::HalfOpen)
        .count();
    let shed = shed.load(Ordering::Relaxed);
    eprintln!(
        "workers {workers}: {admitted} admitted, {shed} shed, {} transitions ({renewals} probe-lease renewals), {} stale, {observations} observations, ended {:?}",
        log.len(),
        breaker.stale_reports(),
        end.state,
    );
    if graded {
        assert!(shed > 0, "the graded run must actually shed");
    } else {
        assert_eq!(shed, 0, "grading is off");
    }
    assert!(
        log.len() > 10,
        "the stress test must actually exercise transitions"
    );
}

#[test]
#[ignore = "stress: run in release with --ignored"]
fn stress_automatic_transitions() {
    run(4, Duration::from_secs(4), 0, 1, false);
}

#[test]
#[ignore = "stress: run in release with --ignored"]
fn stress_graded_admission_and_decay() {
    run(4, Duration::from_secs(4), 0, 3, true);
}

#[test]
#[ignore = "stress: run in release with --ignored"]
fn stress_with_operator_calls() {
    run(3, Duration::from_secs(4), 5_000, 2, true);
}

/// The concurrency limit under contention: the limit engaged first (on its own
/// thread, by batches of timed attempts), then workers asking far above it time
/// their attempts with a latency that grows with the permits alive at once (a
/// queue), engaging and disengaging it as they go, now and then drop a permit or
/// lose it
/// to an operator's transition (stale), while the clock moves. An observer checks
/// on every look that the slots in use never exceed the live permits and that
/// the limit stays within its bounds; at the end no slot is held, and the run
/// must have refused at the limit (which it does only while engaged).
///
/// Live permits are `started - ended`, two monotone counters: a worker counts a
/// permit started before it asks for it and ended after it is gone, with a
/// `SeqCst` fence between each count and the permit's own slot operation. The
/// observer reads `ended`, then the slots, then `started`, fenced likewise, so
/// the slots it reads were taken by permits it counts as started and not
/// released by permits it counts as ended: `slots <= started - ended` holds for
/// what it reads, not only for a consistent snapshot it cannot take.
#[test]
#[ignore = "stress: run in release with --ignored"]
fn stress_concurrency_limit() {
    use std::sync::atomic::fence;
    const MIN: u32 = 2;
    const MAX: u32 = 64;
    let clock = ManualClock::new();
    let breaker = Arc::new(
        Breaker::builder()
            .clock(clock.clone())
            .limit_bounds(MIN, MAX)
            .shed_below(0.0)
            .build()
            .unwrap(),
    );
    // Engaged before the race, deterministically: unloaded batches at 5 ms,
    // then batches at four times that (a queue), until the limit engages; the
    // race then starts with the limit binding (its demand is far above it).
    let batch = |latency: Duration| {
        let permits: Vec<_> = (0..8).filter_map(|_| breaker.try_acquire().ok()).collect();
        clock.advance(latency);
        for p in permits {
            let _ = p.record_timed(Verdict::Success, latency);
        }
    };
    for _ in 0..6 {
        batch(Duration::from_millis(5));
    }
    for _ in 0..12 {
        if breaker.limit().engaged {
            break;
        }
        batch(Duration::from_millis(20));
    }
    assert!(breaker.limit().engaged, "{:?}", breaker.limit());
    let started = Arc::new(AtomicU64::new(0));
    let ended = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (engaged_seen, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let workers = 4;
    let start = Arc::new(Barrier::new(workers + 2));
    let observer = {
        let (b, started, ended, stop, start, engaged_seen) = (
            Arc::clone(&breaker),
            Arc::clone(&started),
            Arc::clone(&ended),
            Arc::clone(&stop),
            Arc::clone(&start),
            Arc::clone(&engaged_seen),
        );
        thread::spawn(move || {
            start.wait();
            let mut looks = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let gone = ended.load(Ordering::SeqCst);
                fence(Ordering::SeqCst);
                let l = b.limit();
                fence(Ordering::SeqCst);
                let begun = started.load(Ordering::SeqCst);
                assert!(
                    u64::from(l.in_flight) <= begun - gone,
                    "{} slots, {} live permits: {l:?}",
                    l.in_flight,
                    begun - gone
                );
                assert!((MIN..=MAX).contains(&l.limit) || !l.engaged, "{l:?}");
                engaged_seen.fetch_add(u64::from(l.engaged), Ordering::Relaxed);
                looks += 1;
            }
            looks
        })
    };
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let (b, started, ended, stop, start, refused) = (
                Arc::clone(&breaker),
                Arc::clone(&started),
                Arc::clone(&ended),
                Arc::clone(&stop),
                Arc::clone(&start),
                Arc::clone(&refused),
            );
            let clock = clock.clone();
            thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(0x11_317 + w as u64);
                let end_one = || {
                    fence(Ordering::SeqCst);
                    ended.fetch_add(1, Ordering::SeqCst);
                };
                start.wait();
                let mut held = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    // Up to 24 permits at once per worker: far above the limit.
                    if held.len() < 24 && rng.random_ratio(3, 4) {
                        started.fetch_add(1, Ordering::SeqCst);
                        fence(Ordering::SeqCst);
                        match b.try_acquire() {
                            Ok(p) => held.push(p),
                            Err(rejected) => {
                                if matches!(rejected, Rejected::LimitReached { .. }) {
                                    refused.fetch_add(1, Ordering::Relaxed);
                                }
                                end_one();
                            }
                        }
                    } else if !held.is_empty() {
                        let p = held.swap_remove(rng.random_range(0..held.len()));
                        let alive = started.load(Ordering::SeqCst) - ended.load(Ordering::SeqCst);
                        match rng.random_range(0..20) {
                            0 => drop(p),
                            1 => {
                                let _ = b.disable();
                                let _ = p.record(Verdict::Success);
                                let _ = b.reset();
                            }
                            _ => {
                                // 5 ms unloaded, 1 ms more per 2 live
                                // permits: latency falls when the load does.
                                let rtt = Duration::from_micros(5_000 + alive * 500);
                                let _ = p.record_timed(Verdict::Success, rtt);
                            }
                        }
                        end_one();
                    }
                    clock.advance(Duration::from_micros(rng.random_range(0..200)));
                }
                for p in held.drain(..) {
                    drop(p);
                    end_one();
                }
            })
        })
        .collect();
    start.wait();
    thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let looks = observer.join().unwrap();
    let end = breaker.limit();
    assert_eq!(end.in_flight, 0, "every slot released: {end:?}");
    let (engaged, refused) = (
        engaged_seen.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    eprintln!(
        "limit stress: {looks} looks, {engaged} of them engaged, {refused} refused, ended {end:?}"
    );
    // A refusal happens only while the limit is engaged.
    assert!(
        refused > 0,
        "the run must engage the limit and refuse at it"
    );
}
