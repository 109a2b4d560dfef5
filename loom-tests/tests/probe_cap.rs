#![cfg(loom)]
//! Property 1, the probe cap: in `HalfOpen` at most `probes` permits are out at once,
//! however the callers of `try_acquire` interleave with the Open -> HalfOpen
//! transition, with each other and with probes finishing (recorded or cancelled).
//!
//! Each model thread counts the probe permits it holds in a shared loom counter
//! (incremented just after admission, decremented just before the permit is recorded
//! or dropped, so it never over-counts the slots in use) and asserts the cap at every
//! admission.

use fusebox::{Breaker, ManualClock, Rejected, State, Verdict};
use fusebox_loom_tests::{Held, Stats, Witness, builder, trip_and_wait};
use loom::sync::Arc;
use loom::thread;

/// What one attempt did.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Attempt {
    /// Admitted as a probe (with this many probes held at that moment, itself
    /// included) and finished with this verdict (`None`: dropped).
    Probe(usize, Option<Verdict>),
    Busy,
    Open,
}

/// One `try_acquire`; if it is admitted as a probe (epoch `probe_epoch`), hold it,
/// check the cap, then finish it with `verdict` (`None`: drop it unrecorded).
fn attempt(
    breaker: &Breaker,
    held: &Held,
    probes: usize,
    probe_epoch: u32,
    verdict: Option<Verdict>,
) -> Attempt {
    match breaker.try_acquire() {
        Ok(permit) => {
            // No transition out of HalfOpen can admit anything here: a success
            // never reaches `close_after` in these models and a failure re-opens
            // with a deadline in the future of the (fixed) clock.
            assert_eq!(permit.epoch(), probe_epoch, "{permit:?}");
            let now = held.enter();
            assert!(
                now <= probes,
                "{now} probes held at once with probes = {probes}"
            );
            held.leave();
            match verdict {
                Some(v) => {
                    let _ = permit.record(v);
                }
                None => drop(permit),
            }
            Attempt::Probe(now, verdict)
        }
        Err(Rejected::ProbesBusy) => Attempt::Busy,
        Err(Rejected::Open { .. }) => Attempt::Open,
        Err(other) => panic!("unexpected rejection: {other:?}"),
    }
}

/// The checks after `join`: no probe is left in flight, the cap held on the
/// breaker's own counter, and the successes it counted are the ones admitted.
fn check_quiescent(breaker: &Breaker, probes: u32, probe_epoch: u32, attempts: &[Attempt]) {
    let s = breaker.snapshot();
    assert!(s.probes_in_flight <= probes, "{s:?}");
    let successes = attempts
        .iter()
        .filter(|a| matches!(a, Attempt::Probe(_, Some(Verdict::Success))))
        .count() as u32;
    let failed = attempts
        .iter()
        .any(|a| matches!(a, Attempt::Probe(_, Some(Verdict::Failure { .. }))));
    if failed {
        // A probe failure re-opens (epoch + 1); every other probe went stale.
        assert_eq!((s.state, s.epoch), (State::Open, probe_epoch + 1), "{s:?}");
    } else {
        assert_eq!((s.state, s.epoch), (State::HalfOpen, probe_epoch), "{s:?}");
        assert_eq!(
            s.probes_in_flight, 0,
            "a finished probe kept its slot: {s:?}"
        );
        assert_eq!(s.probe_successes, successes, "{s:?} after {attempts:?}");
    }
}

/// probes = 1, two threads making two attempts each (success, cancel / ignored,
/// cancel): never two probes at once; some execution is turned away busy.
#[test]
fn probe_cap_one_probe_two_threads() {
    const PROBES: u32 = 1;
    let stats = Stats::unbounded("probe_cap::probe_cap_one_probe_two_threads");
    let busy = Witness::new("a thread was turned away with ProbesBusy");
    let busy_in = busy.clone();
    fusebox_loom_tests::exhaustive(stats.count(move || {
        let clock = ManualClock::new();
        let breaker = Arc::new(
            builder(&clock)
                .trip_after_consecutive_failures(1)
                .probes(PROBES)
                .close_after(3)
                .build()
                .unwrap(),
        );
        let probe_epoch = trip_and_wait(&breaker, &clock);
        let held = Held::new();

        let plans = [
            [Some(Verdict::Success), None],
            [None, Some(Verdict::Ignored)],
        ];
        let handles: Vec<_> = plans
            .into_iter()
            .map(|plan| {
                let (breaker, held) = (breaker.clone(), held.clone());
                thread::spawn(move || {
                    plan.map(|v| attempt(&breaker, &held, PROBES as usize, probe_epoch, v))
                })
            })
            .collect();
        let attempts: Vec<Attempt> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();

        assert!(attempts.iter().any(|a| matches!(a, Attempt::Probe(..))));
        if attempts.contains(&Attempt::Busy) {
            busy_in.saw();
        }
        check_quiescent(&breaker, PROBES, probe_epoch, &attempts);
    }));
    stats.report();
    busy.assert_seen();
}

/// probes = 2, three threads (the model's own and two spawned; success, cancel,
/// failure): never three probes at once;
/// some execution holds two at once and some turns the third away busy.
#[test]
fn probe_cap_two_probes_three_threads() {
    const PROBES: u32 = 2;
    let stats = Stats::bounded("probe_cap::probe_cap_two_probes_three_threads", 3);
    let busy = Witness::new("a thread was turned away with ProbesBusy");
    let two = Witness::new("two probes were held at once");
    let (busy_in, two_in) = (busy.clone(), two.clone());
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(stats.count(move || {
        let clock = ManualClock::new();
        let breaker = Arc::new(
            builder(&clock)
                .trip_after_consecutive_failures(1)
                .probes(PROBES)
                .close_after(3)
                .build()
                .unwrap(),
        );
        let probe_epoch = trip_and_wait(&breaker, &clock);
        let held = Held::new();

        // Three threads: two spawned, and the model's own thread.
        let spawned: Vec<_> = [None, Some(Verdict::failure())]
            .into_iter()
            .map(|v| {
                let (breaker, held) = (breaker.clone(), held.clone());
                thread::spawn(move || attempt(&breaker, &held, PROBES as usize, probe_epoch, v))
            })
            .collect();
        let mut attempts = vec![attempt(
            &breaker,
            &held,
            PROBES as usize,
            probe_epoch,
            Some(Verdict::Success),
        )];
        attempts.extend(spawned.into_iter().map(|h| h.join().unwrap()));

        assert!(attempts.iter().any(|a| matches!(a, Attempt::Probe(..))));
        if attempts.contains(&Attempt::Busy) {
            busy_in.saw();
        }
        if attempts.iter().any(|a| matches!(a, Attempt::Probe(2, _))) {
            two_in.saw();
        }
        check_quiescent(&breaker, PROBES, probe_epoch, &attempts);
    }));
    stats.report();
    busy.assert_seen();
    two.assert_seen();
}
