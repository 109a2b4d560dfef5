//! The hedged tower layer and the hedged guard run one engine, but the layer
//! runs a first attempt that needs no time without it (its lean path, as
//! `GuardLayer`'s): this checks that the two agree. Random scripts of calls
//! (each attempt, in the order the call makes them, answers at once or after
//! some milliseconds, with a value or an error) run through
//! `HedgedGuard::call_async_outcome` on one breaker, then through
//! `HedgedGuardLayer` on another configured alike; every call's outcome, every
//! event the breakers tell, the attempts the downstream saw and the breakers'
//! final state must be the same. Features `tower` and `tokio`; tokio's paused
//! clock, which each breaker reads from its own creation on.
#![cfg(all(feature = "tower", feature = "tokio"))]

use fusebox::tower::HedgedGuardLayer;
use fusebox::{Guard, Hedge, Outcome, Stop, TokioSleeper, Winner};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::{Layer, Service, ServiceExt};

mod hedge_support;
use hedge_support::{Log, MS, breaker, retry};

/// One attempt: answers after this many ms (0: at its first poll), with its
/// index in the call or an error.
type Step = (u64, bool);

/// What a call ended with, as compared.
type Seen = (Stop, u32, Option<Winner>, Option<Result<usize, String>>);

fn seen(o: &Outcome<usize, String>) -> Seen {
    (o.stop, o.attempts, o.winner(), o.last.clone())
}

/// The attempt `k` of a call scripted by `script`.
async fn attempt(k: usize, (ms, ok): Step) -> Result<usize, String> {
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if ok {
        Ok(k)
    } else {
        Err(format!("failed {k}"))
    }
}

/// A tiny deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The calls of one run: each a script of four attempts (a call makes at
/// most four).
fn scripts(rng: &mut Rng, calls: usize) -> Vec<[Step; 4]> {
    // At once most often (the lean path), then shorter and longer than the
    // 100 ms hedge delay.
    const LATENCIES: [u64; 6] = [0, 0, 0, 5, 150, 400];
    (0..calls)
        .map(|_| {
            std::array::from_fn(|_| {
                let ms = LATENCIES[rng.below(LATENCIES.len() as u64) as usize];
                (ms, rng.below(10) >= 3)
            })
        })
        .collect()
}

fn hedge(max_hedges: u32) -> Hedge {
    Hedge::builder()
        .after(100 * MS)
        .max_hedges(max_hedges)
        .max_extra_load(1.0)
        .build()
        .unwrap()
}

/// What a run showed: each call's outcome, the events, the attempts sent, and
/// the breaker's final state (its health apart: see `agree`).
#[derive(Debug, PartialEq)]
struct Run {
    outcomes: Vec<Seen>,
    events: Vec<String>,
    sent: usize,
    end: String,
    health: f64,
}

async fn through_the_guard(scripts: &[[Step; 4]], max_attempts: u32, max_hedges: u32) -> Run {
    let log = Log::default();
    let b = breaker(&log);
    let guard = Guard::new(Arc::clone(&b), retry(max_attempts))
        .with_sleeper(TokioSleeper)
        .with_hedging(hedge(max_hedges));
    let sent = AtomicUsize::new(0);
    let mut outcomes = Vec::new();
    for script in scripts {
        let made = AtomicUsize::new(0);
        let outcome = guard
            .call_async_outcome(|_| {
                sent.fetch_add(1, Ordering::Relaxed);
                let k = made.fetch_add(1, Ordering::Relaxed);
                attempt(k, script[k.min(3)])
            })
            .await;
        outcomes.push(seen(&outcome));
    }
    let s = b.snapshot();
    assert_eq!(b.limit().in_flight, 0);
    let events = log.lock().unwrap().clone();
    Run {
        outcomes,
        events,
        sent: sent.into_inner(),
        end: format!("{:?} {} {}", s.state, s.samples, s.epoch),
        health: s.health.unwrap_or(f64::NAN),
    }
}

/// The downstream of the layer's run: the `k`-th request of the current
/// call follows the current script's step `k`.
#[derive(Clone)]
struct Scripted {
    script: Arc<Mutex<([Step; 4], usize)>>,
    sent: Arc<AtomicUsize>,
}

impl Service<u32> for Scripted {
    type Response = usize;
    type Error = String;
    type Future = Pin<Box<dyn Future<Output = Result<usize, String>> + Send>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), String>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: u32) -> Self::Future {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let mut script = self.script.lock().unwrap();
        let k = script.1;
        script.1 += 1;
        Box::pin(attempt(k, script.0[k.min(3)]))
    }
}

async fn through_the_layer(scripts: &[[Step; 4]], max_attempts: u32, max_hedges: u32) -> Run {
    let log = Log::default();
    let b = breaker(&log);
    let guard = Guard::new(Arc::clone(&b), retry(max_attempts))
        .with_sleeper(TokioSleeper)
        .with_hedging(hedge(max_hedges));
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&outcomes);
    let down = Scripted {
        script: Arc::new(Mutex::new(([(0, true); 4], 0))),
        sent: Arc::new(AtomicUsize::new(0)),
    };
    let mut svc = HedgedGuardLayer::new(guard)
        .on_stop(move |o: &Outcome<usize, String>| sink.lock().unwrap().push(seen(o)))
        .layer(down.clone());
    for script in scripts {
        *down.script.lock().unwrap() = (*script, 0);
        let _ = svc.ready().await.unwrap().call(0).await;
    }
    let s = b.snapshot();
    assert_eq!(b.limit().in_flight, 0);
    let events = log.lock().unwrap().clone();
    let outcomes = outcomes.lock().unwrap().clone();
    Run {
        outcomes,
        events,
        sent: down.sent.load(Ordering::Relaxed),
        end: format!("{:?} {} {}", s.state, s.samples, s.epoch),
        health: s.health.unwrap_or(f64::NAN),
    }
}

#[tokio::test(start_paused = true)]
async fn the_layer_and_the_guard_agree_on_random_scripts() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut lean_failures = 0;
    for run in 0..200 {
        let max_attempts = 1 + rng.below(4) as u32;
        let max_hedges = 1 + rng.below(3) as u32;
        let scripts = scripts(&mut rng, 60);
        lean_failures += scripts.iter().filter(|s| s[0] == (0, false)).count();
        let guard = through_the_guard(&scripts, max_attempts, max_hedges).await;
        let layer = through_the_layer(&scripts, max_attempts, max_hedges).await;
        assert_eq!(
            guard.outcomes.len(),
            scripts.len(),
            "run {run}: every call ended"
        );
        for (i, (g, l)) in guard.outcomes.iter().zip(&layer.outcomes).enumerate() {
            assert_eq!(
                g, l,
                "run {run} (max_attempts {max_attempts}, max_hedges {max_hedges}), call {i}: {:?}",
                scripts[i]
            );
        }
        // The health to within rounding: an attempt that is a latency sample
        // for the concurrency limit (one in several per thread, counted
        // across both runs) brings health up to date with time when
        // recorded, others do not, so the decay is applied in other steps.
        assert!(
            (guard.health - layer.health).abs() < 1e-4,
            "run {run}: {} {}",
            guard.health,
            layer.health
        );
        let health = guard.health;
        assert_eq!(guard, Run { health, ..layer }, "run {run}");
    }
    // The scripts reach the lean path's failure at once, not only its
    // successes and its pending attempts.
    assert!(lean_failures > 100, "{lean_failures}");
}

#[tokio::test(start_paused = true)]
async fn a_lean_first_attempt_dropped_unpolled_gives_its_permit_back() {
    // Half-open with one probe slot: the layer's call takes it for a first
    // attempt that would answer at once; the future is dropped unpolled. The
    // slot is free again (a cancellation), not held until the lease ends.
    // (No concurrency limit: a thread's first attempt would be a latency
    // sample for it, which takes the call's state at once, not the lean
    // path.)
    let b = hedge_support::due_for_one_probe(false).await;
    let guard = Guard::new(Arc::clone(&b), retry(3))
        .with_sleeper(TokioSleeper)
        .with_hedging(hedge(1));
    let down = Scripted {
        script: Arc::new(Mutex::new(([(0, true); 4], 0))),
        sent: Arc::new(AtomicUsize::new(0)),
    };
    let mut svc = HedgedGuardLayer::new(guard).layer(down.clone());
    let future = svc.ready().await.unwrap().call(0);
    assert_eq!(b.snapshot().probes_in_flight, 1, "the probe's permit taken");
    drop(future);
    hedge_support::assert_probe_slot_free(&b);
}
