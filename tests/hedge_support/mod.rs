//! What the hedging tests share (`tests/hedge.rs`, `tests/tower_hedge.rs`): a
//! breaker on tokio's paused clock whose listener logs events as short lines,
//! and a retry policy with exact delays.
#![allow(dead_code)] // each test file uses its own part

use fusebox::{Breaker, Clock, Event, EventKind, Jitter, Retry};
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
