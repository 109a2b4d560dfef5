//! What the hedging tests share (`tests/hedge.rs`, `tests/tower_hedge.rs`): a
//! breaker on tokio's paused clock whose listener logs events as short lines,
//! and a retry policy with exact delays.
#![allow(dead_code)] // each test file uses its own part

use fusebox::{Breaker, Clock, Event, EventKind, Jitter, Retry, State, Verdict};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const MS: Duration = Duration::from_millis(1);

/// The breaker's clock on tokio's (paused) time.
#[derive(Clone)]
pub struct TokioClock(pub tokio::time::Instant);

impl Clock for TokioClock {
    fn now_nanos(&self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

/// The events a breaker told, one line each: `hedge <attempt> <delay>`,
/// `settled <sent> <won> <cancelled>`, `timed out <attempt> at <time>`,
/// otherwise the event's name.
pub type Log = Arc<Mutex<Vec<String>>>;

/// A default breaker on tokio's clock, logging into `log`.
pub fn breaker(log: &Log) -> Arc<Breaker> {
    let sink = Arc::clone(log);
    Arc::new(
        Breaker::builder()
            .clock(TokioClock(tokio::time::Instant::now()))
            .listener(move |e: &Event<'_>| {
                let line = match e.kind {
                    EventKind::Hedge { attempt, delay } => format!("hedge {attempt} {delay:?}"),
                    EventKind::HedgesSettled {
                        sent,
                        won,
                        cancelled,
                    } => format!("settled {sent} {won} {cancelled}"),
                    EventKind::AttemptTimedOut { attempt, .. } => {
                        format!("timed out {attempt} at {:?}", e.at)
                    }
                    other => other.as_str().to_string(),
                };
                sink.lock().unwrap().push(line);
            })
            .build()
            .unwrap(),
    )
}

/// `max_attempts`, a constant 10 ms backoff, no jitter.
pub fn retry(max_attempts: u32) -> Retry {
    Retry::builder()
        .max_attempts(max_attempts)
        .constant_backoff(10 * MS)
        .jitter(Jitter::None)
        .build()
        .unwrap()
}

/// A breaker on tokio's clock that tripped at its first failure and is due
/// to go half-open with one probe slot (its open period over), with the
/// adaptive concurrency limit or without.
pub async fn due_for_one_probe(adaptive_limit: bool) -> Arc<Breaker> {
    let b = Arc::new(
        Breaker::builder()
            .clock(TokioClock(tokio::time::Instant::now()))
            .trip_after_consecutive_failures(1)
            .open_for(Duration::from_secs(1))
            .open_jitter(0.0)
            .probes(1)
            .adaptive_limit(adaptive_limit)
            .build()
            .unwrap(),
    );
    let _ = b.try_acquire().unwrap().record(Verdict::failure());
    tokio::time::advance(Duration::from_secs(1)).await;
    b
}

/// `b` is half-open with its one probe slot free (a cancelled probe gave it
/// back).
pub fn assert_probe_slot_free(b: &Breaker) {
    let s = b.snapshot();
    assert_eq!((s.state, s.probes_in_flight), (State::HalfOpen, 0), "{s:?}");
    assert!(b.try_acquire().is_ok(), "the probe slot is free");
}
