#![cfg(loom)]
//! Property 6, health stays within bounds and is the result of some sequential order.
//!
//! Threads record mixed verdicts (weights 0.5, 1.0, NaN, 1e9, and successes) on a
//! Closed breaker that cannot trip (`health(0.3, 0.01, 4095)`: 4095 samples needed).
//! At quiescence health is in [0, 1], samples stay within `min_samples`, and the final
//! health *and* samples are those that some interleaving of the threads' verdicts,
//! replayed sequentially on a fresh breaker, produces (every update is one CAS on the
//! whole word, so no update is lost or torn). Samples count the verdicts that are a
//! signal (NaN is not) in the current spell below full health, so they depend on the
//! order too: a success at full health starts no spell.
//!
//! The clock stands still at the breaker's first decay mark (tick 0, written when
//! it was built; half-life 5 s): every report below full health, and every failure,
//! reads the clock and the mark word, finds the word as of its clock already, and
//! applies its verdict with no decay to claim.

use fusebox::{Breaker, ManualClock, State, Verdict};
use fusebox_loom_tests::{Stats, TransitionLog, Witness, builder, sequential};
use loom::sync::Arc;
use loom::thread;

const MIN_SAMPLES: u32 = 4095;

fn build(clock: &ManualClock, log: &Arc<TransitionLog>) -> Breaker {
    TransitionLog::listen(log, builder(clock))
        .health(0.3, 0.01, MIN_SAMPLES)
        .build()
        .unwrap()
}

/// Record `plan` in order, each on a fresh permit of Closed epoch 0.
fn record_all(breaker: &Breaker, plan: &[Verdict]) {
    for &v in plan {
        let permit = breaker.try_acquire().expect("never trips");
        assert_eq!(permit.epoch(), 0);
        let r = permit.record(v);
        assert!(!r.is_stale() && r.transition().is_none(), "{v:?}: {r:?}");
    }
}

/// Every interleaving of `plans` that keeps each plan's own order.
fn interleavings(plans: &[Vec<Verdict>]) -> Vec<Vec<Verdict>> {
    if plans.iter().all(Vec::is_empty) {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let Some((&first, rest)) = plan.split_first() else {
            continue;
        };
        let mut remaining = plans.to_vec();
        remaining[i] = rest.to_vec();
        for mut tail in interleavings(&remaining) {
            tail.insert(0, first);
            out.push(tail);
        }
    }
    out
}

fn signals(plans: &[Vec<Verdict>]) -> u32 {
    plans
        .iter()
        .flatten()
        .filter(|v| match v {
            Verdict::Success => true,
            Verdict::Failure { weight } => *weight > 0.0,
            Verdict::Ignored => false,
            other => panic!("a verdict this model does not know: {other:?}"),
        })
        .count() as u32
}

/// The final health and samples of every sequential order (computed in one
/// single-threaded loom execution, since the breaker's atomics are loom's), and the
/// health of the threads' program order (the plans one after the other): `race`'s
/// prefix, an interleaving of its plans, its suffix.
fn reference(race: Race) -> (Vec<(f64, u32)>, f64) {
    sequential(move || {
        let orders: Vec<Vec<Verdict>> = interleavings(&race.plans)
            .into_iter()
            .map(|order| [race.prefix.clone(), order, race.suffix.clone()].concat())
            .collect();
        let outcomes: Vec<(f64, u32)> = orders
            .iter()
            .map(|order| {
                let clock = ManualClock::new();
                let log = TransitionLog::new();
                let breaker = build(&clock, &log);
                record_all(&breaker, order);
                let s = breaker.snapshot();
                (s.health.unwrap(), s.samples)
            })
            .collect();
        // The first order generated is the plans one after the other.
        let in_plan_order = outcomes[0].0;
        (outcomes, in_plan_order)
    })
}

/// One model: `prefix` recorded on the model thread before the race, the `plans`
/// racing (the first on the model thread, each other on a thread of its own), then
/// `suffix` recorded on the model thread after them.
#[derive(Clone, Debug)]
struct Race {
    prefix: Vec<Verdict>,
    plans: Vec<Vec<Verdict>>,
    suffix: Vec<Verdict>,
}

impl Race {
    /// Only `plans`, racing.
    fn of(plans: Vec<Vec<Verdict>>) -> Self {
        Self {
            prefix: Vec::new(),
            plans,
            suffix: Vec::new(),
        }
    }
}

fn check(name: &'static str, race: Race, bound: Option<usize>) {
    let (possible, in_plan_order) = reference(race.clone());
    let Race {
        prefix,
        plans,
        suffix,
    } = race;
    let mut distinct: Vec<f64> = possible.iter().map(|&(h, _)| h).collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    assert!(
        distinct.len() > 1,
        "order must matter for the check to bite: {distinct:?}"
    );
    let signals = signals(&plans) + signals(&[prefix.clone(), suffix.clone()]);
    assert!(
        possible.iter().all(|&(_, samples)| samples <= signals),
        "a spell counts signals only: {possible:?}"
    );

    let stats = match bound {
        None => Stats::unbounded(name),
        Some(b) => Stats::bounded(name, b),
    };
    let reordered = Witness::new("a final health other than the program-order one");
    let reordered_in = reordered.clone();
    let body = stats.count(move || {
        let clock = ManualClock::new();
        let log = TransitionLog::new();
        let breaker = Arc::new(build(&clock, &log));
        record_all(&breaker, &prefix);

        // The first plan runs on the model thread, the others on spawned threads.
        let handles: Vec<_> = plans[1..]
            .iter()
            .cloned()
            .map(|plan| {
                let breaker = breaker.clone();
                thread::spawn(move || record_all(&breaker, &plan))
            })
            .collect();
        record_all(&breaker, &plans[0]);
        for h in handles {
            h.join().unwrap();
        }
        record_all(&breaker, &suffix);

        let s = breaker.snapshot();
        assert_eq!((s.state, s.epoch), (State::Closed, 0), "{s:?}");
        let health = s.health.expect("Closed measures health");
        assert!((0.0..=1.0).contains(&health), "{s:?}");
        assert!(s.samples <= MIN_SAMPLES, "{s:?}");
        assert!(
            possible.contains(&(health, s.samples)),
            "health {health} with {} samples is no sequential order's result ({possible:?})",
            s.samples
        );
        if health != in_plan_order {
            reordered_in.saw();
        }
        assert_eq!(log.total(), 0);
        assert_eq!(breaker.stale_reports(), 0);
    });
    match bound {
        None => fusebox_loom_tests::exhaustive(body),
        Some(b) => {
            let mut model = loom::model::Builder::new();
            model.preemption_bound = Some(b);
            model.check(body);
        }
    }
    stats.report();
    reordered.assert_seen();
}

/// Two threads: (failure 0.5, success) and (failure NaN, failure 1e9).
#[test]
fn health_in_bounds_and_sequential_two_threads() {
    check(
        "health::health_in_bounds_and_sequential_two_threads",
        Race::of(vec![
            vec![Verdict::Failure { weight: 0.5 }, Verdict::Success],
            vec![
                Verdict::Failure { weight: f64::NAN },
                Verdict::Failure { weight: 1e9 },
            ],
        ]),
        None,
    );
}

// The three-thread model (threads (failure 0.5, success), (failure NaN, failure
// 1e9) and (success, failure 1.0), bound 3: 133k iterations at 9e4208e) is split in
// two by the third thread's verdicts: each of them races the other two threads'
// whole plans in one model, the other verdict coming before (its success, at full
// health a no-op) or after the race. Every triple of verdicts, one from each thread,
// races in one of them; what neither runs is the third thread's two verdicts both
// interleaved with the others in one execution (README.md, "Split models").

/// Three threads (bound 3): (failure 0.5, success), (failure NaN, failure 1e9) and
/// the third thread's success; its failure 1.0 follows the race.
#[test]
fn health_in_bounds_and_sequential_three_threads_success_races() {
    check(
        "health::health_in_bounds_and_sequential_three_threads_success_races",
        Race {
            prefix: Vec::new(),
            plans: vec![
                vec![Verdict::Failure { weight: 0.5 }, Verdict::Success],
                vec![
                    Verdict::Failure { weight: f64::NAN },
                    Verdict::Failure { weight: 1e9 },
                ],
                vec![Verdict::Success],
            ],
            suffix: vec![Verdict::failure()],
        },
        Some(3),
    );
}

/// Three threads (bound 3): the third thread's success comes first (at full health,
/// a no-op), then (failure 0.5, success), (failure NaN, failure 1e9) and the third
/// thread's failure 1.0 race.
#[test]
fn health_in_bounds_and_sequential_three_threads_failure_races() {
    check(
        "health::health_in_bounds_and_sequential_three_threads_failure_races",
        Race {
            prefix: vec![Verdict::Success],
            plans: vec![
                vec![Verdict::Failure { weight: 0.5 }, Verdict::Success],
                vec![
                    Verdict::Failure { weight: f64::NAN },
                    Verdict::Failure { weight: 1e9 },
                ],
                vec![Verdict::failure()],
            ],
            suffix: Vec::new(),
        },
        Some(3),
    );
}
