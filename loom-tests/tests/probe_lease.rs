#![cfg(loom)]
//! Property 9, the probe lease: a probe permit that never reports holds HalfOpen
//! only until `probe_timeout`; past it, a `try_acquire` that finds every slot busy
//! starts a fresh half-open period, and the lost permit's report is stale.
//!
//! Setup (on the model thread, before the race): `trip_after_consecutive_failures(1)`,
//! one probe, `close_after(1)`, a 1 ms probe lease. The breaker trips (epoch 1),
//! the clock passes the deadline, the first probe is admitted (epoch 2, lease ends
//! 1 ms later), and the clock passes the lease. Then the race:
//!
//! - `late_probe_report_vs_lease_renewal`: A reports the old probe (a failure: it
//!   would re-open); B asks for a permit (past the lease: it would start a fresh
//!   period, epoch 3) and records a success (which closes). Exactly one of them
//!   wins epoch 3; the other is turned away (B: rejected by the re-open) or stale
//!   (A), and the breaker ends in a state the winner explains, never wedged.
//! - `two_renewals_one_winner`: the old probe is lost for good (`mem::forget`); A
//!   and B both ask for a permit past the lease. Exactly one starts the fresh
//!   period; the other finds its one slot taken (`ProbesBusy`), since the fresh
//!   period's lease has not expired.
//!
//! Both tick a shared `Turns` counter before each operation, so loom also tries
//! the orders in which one side's CAS comes before the other side's pure loads
//! (the state word, the lease word, the clock).
//!
//! Planted bugs these were shown to catch (each a one-line edit of
//! `Breaker::try_acquire_slow`, run with the model, then reverted):
//!
//! - the renewal keeps the epoch (`half_open(cur.epoch(), ..)`): both models fail
//!   ("a fresh period"), the lost permit would not be stale;
//! - the renewal ignores the lease (`now >= lease_ms || true`):
//!   `two_renewals_one_winner` fails (the second caller renews the fresh period);
//! - no second decision when the deadline word belongs to another epoch (a stale
//!   view of the state word): `late_probe_report_vs_lease_renewal` fails, B is told
//!   `ProbesBusy` by a breaker that was by then `Open`.

use fusebox::{ManualClock, Recorded, Rejected, State, Verdict};
use fusebox_loom_tests::{
    Stats, TransitionLog, Turns, Witness, builder, exhaustive, trip_and_wait,
};
use loom::sync::Arc;
use loom::thread;
use std::time::Duration;

const LEASE: Duration = Duration::from_millis(1);

fn lease_breaker(clock: &ManualClock, log: &loom::sync::Arc<TransitionLog>) -> fusebox::Breaker {
    TransitionLog::listen(log, builder(clock))
        .trip_after_consecutive_failures(1)
        .probes(1)
        .close_after(1)
        .probe_timeout(LEASE)
        .build()
        .unwrap()
}

#[test]
fn late_probe_report_vs_lease_renewal() {
    let stats = Stats::unbounded("probe_lease::late_probe_report_vs_lease_renewal");
    let renewed = Witness::new("B renewed the lease first: A's report is stale");
    let reopened = Witness::new("A's failure re-opened first: B is turned away");
    let (renewed_in, reopened_in) = (renewed.clone(), reopened.clone());
    exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let log = TransitionLog::new();
        let breaker = Arc::new(lease_breaker(&clock, &log));
        let probe_epoch = trip_and_wait(&breaker, &clock);
        let old = breaker.try_acquire().expect("the first probe");
        assert_eq!(old.epoch(), probe_epoch);
        clock.advance(LEASE);
        let turns = Turns::new();

        let b = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || {
                turns.tick();
                match breaker.try_acquire() {
                    Ok(permit) => {
                        assert_eq!(permit.epoch(), probe_epoch + 1, "a fresh period");
                        turns.tick();
                        Some(permit.record(Verdict::Success))
                    }
                    Err(Rejected::Open { .. }) => None,
                    Err(other) => panic!("B: unexpected rejection {other:?}"),
                }
            })
        };
        turns.tick();
        let a = old.record(Verdict::failure());
        let b = b.join().unwrap();

        let s = breaker.snapshot();
        match (a, b) {
            (Recorded::Stale, Some(recorded)) => {
                // B renewed, then closed with its success.
                let t = recorded.transition().expect("close_after(1): closes");
                assert_eq!(
                    (t.from, t.to, t.epoch),
                    (State::HalfOpen, State::Closed, probe_epoch + 2)
                );
                assert_eq!(
                    (s.state, s.epoch),
                    (State::Closed, probe_epoch + 2),
                    "{s:?}"
                );
                assert_eq!(
                    log.count(State::HalfOpen),
                    2,
                    "the first probe and the renewal"
                );
                renewed_in.saw();
            }
            (
                Recorded::Applied {
                    transition: Some(t),
                },
                None,
            ) => {
                // A's failure re-opened the old period; B came after, saw Open.
                assert_eq!(
                    (t.from, t.to, t.epoch),
                    (State::HalfOpen, State::Open, probe_epoch + 1)
                );
                assert_eq!((s.state, s.epoch), (State::Open, probe_epoch + 1), "{s:?}");
                assert!(
                    s.open_until.is_some(),
                    "Open with no usable deadline: {s:?}"
                );
                reopened_in.saw();
            }
            other => panic!("impossible outcome {other:?}, {s:?}"),
        }
        assert_eq!(breaker.stale_reports(), u64::from(a.is_stale()));
        assert_eq!(s.probes_in_flight, 0, "{s:?}");
        // One transition per epoch: the trip, the first probe, then the race's.
        assert_eq!(log.total() as u32, s.epoch, "{s:?}");
    }));
    stats.report();
    renewed.assert_seen();
    reopened.assert_seen();
}

#[test]
fn two_renewals_one_winner() {
    let stats = Stats::unbounded("probe_lease::two_renewals_one_winner");
    let a_won = Witness::new("A started the fresh period");
    let b_won = Witness::new("B started the fresh period");
    let (a_won_in, b_won_in) = (a_won.clone(), b_won.clone());
    exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let log = TransitionLog::new();
        let breaker = Arc::new(lease_breaker(&clock, &log));
        let probe_epoch = trip_and_wait(&breaker, &clock);
        // Lost for good: never recorded, never dropped.
        std::mem::forget(breaker.try_acquire().expect("the first probe"));
        clock.advance(LEASE);
        let turns = Turns::new();

        let renew = move |breaker: &fusebox::Breaker, turns: &Turns| {
            turns.tick();
            match breaker.try_acquire() {
                Ok(permit) => {
                    assert_eq!(permit.epoch(), probe_epoch + 1, "a fresh period");
                    // Held until after the join, so the slot stays taken.
                    Some(permit.epoch()).inspect(|_| std::mem::forget(permit))
                }
                Err(Rejected::ProbesBusy) => None,
                Err(other) => panic!("unexpected rejection {other:?}"),
            }
        };
        let b = {
            let (breaker, turns) = (breaker.clone(), turns.clone());
            thread::spawn(move || renew(&breaker, &turns))
        };
        let a = renew(&breaker, &turns);
        let b = b.join().unwrap();
        match (a, b) {
            (Some(_), None) => a_won_in.saw(),
            (None, Some(_)) => b_won_in.saw(),
            other => panic!("renewals: {other:?} (exactly one must win)"),
        }
        let s = breaker.snapshot();
        assert_eq!(
            (s.state, s.epoch, s.probes_in_flight, s.probe_successes),
            (State::HalfOpen, probe_epoch + 1, 1, 0),
            "{s:?}"
        );
        assert_eq!(
            log.count(State::HalfOpen),
            2,
            "the first probe and one renewal"
        );
        // The fresh period has its own lease: past it, it can be renewed again.
        clock.advance(LEASE);
        let again = breaker.try_acquire().expect("past the fresh lease");
        assert_eq!(again.epoch(), probe_epoch + 2);
    }));
    stats.report();
    a_won.assert_seen();
    b_won.assert_seen();
}
