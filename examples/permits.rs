//! The permit protocol by hand, against a simulated downstream that fails for a
//! while and then recovers. Time is virtual (`ManualClock`), so this runs instantly.
//!
//! Run: `cargo run --example permits`

use fusebox::{Breaker, ManualClock, Recorded, Rejected, Verdict};
use std::time::Duration;

fn main() -> Result<(), fusebox::ConfigError> {
    let clock = ManualClock::new();
    let breaker = Breaker::builder()
        .trip_after_consecutive_failures(5)
        .open_for(Duration::from_millis(500))
        .open_jitter(0.0)
        .clock(clock.clone())
        .on_transition(|t| println!("    transition: {} -> {} (epoch {})", t.from, t.to, t.epoch))
        .build()?;

    // The downstream is down from t = 1 s to t = 3 s.
    let downstream_ok =
        |now: Duration| now < Duration::from_secs(1) || now >= Duration::from_secs(3);

    let mut rejected = 0;
    for step in 0..50 {
        clock.advance(Duration::from_millis(100));
        let now = clock.now();
        match breaker.try_acquire() {
            Ok(permit) => {
                let verdict = if downstream_ok(now) {
                    Verdict::Success
                } else {
                    Verdict::failure()
                };
                let recorded = permit.record(verdict);
                if let Recorded::Stale = recorded {
                    println!("{now:>6.1?} stale report (the breaker moved on)");
                }
                if step % 5 == 0 || recorded.transition().is_some() {
                    let s = breaker.snapshot();
                    println!(
                        "{now:>6.1?} {:?} -> {} health {:?}",
                        verdict, s.state, s.health
                    );
                }
            }
            Err(Rejected::Open { retry_after }) => {
                rejected += 1;
                if rejected % 3 == 1 {
                    println!("{now:>6.1?} rejected: open, retry after {retry_after:?}");
                }
            }
            Err(other) => println!("{now:>6.1?} rejected: {other}"),
        }
    }
    println!("final: {:?}", breaker.snapshot());
    Ok(())
}
