//! Replays the differential fuzz harness (`tests/fuzz_harness/breaker_ops.rs`) on stable:
//! every input of the checked-in corpus and of the crash artifacts, the hand-written
//! seeds, and a deterministic pseudo-random sweep. See `fuzz/README.md`.
//!
//! To (re)write the seed files: `FUSEBOX_WRITE_SEEDS=1 cargo test --test fuzz_replay seeds`.

#[path = "fuzz_harness/breaker_ops.rs"]
mod harness;
mod replay_support;

use harness::{FAILURE, Header, IGNORED, MState, Op, SUCCESS, Summary, encode, timed, weighted};
use replay_support::{XorShift, corpus, panic_message, replay_artifacts, write_or_check_seed};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

const CORPUS: &str = "fuzz/corpus/breaker_ops";
const ARTIFACTS: &str = "fuzz/artifacts/breaker_ops";

/// Run one input, naming it if the harness panics.
fn replay(name: &str, data: &[u8]) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| harness::run(data))) {
        panic!(
            "input {name} ({} bytes: {data:02x?}) failed:\n{}",
            data.len(),
            panic_message(&*panic)
        );
    }
}

#[test]
fn corpus_replays() {
    for (name, data) in corpus(CORPUS) {
        replay(&name, &data);
    }
}

#[test]
fn artifacts_replay() {
    replay_artifacts(ARTIFACTS, harness::run);
}

#[test]
fn pseudo_random_sweep() {
    const INPUTS: usize = 20_000;
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut data = Vec::with_capacity(512);
    let mut seen = Summary::default();
    for i in 0..INPUTS {
        data.clear();
        let len = harness::HEADER_LEN + (rng.next() % 300) as usize;
        // Bias some inputs toward the cheap, state-moving ops (acquire + record,
        // small clock steps) so that the sweep reaches half-open and re-opens.
        let biased = i % 2 == 0;
        while data.len() < len {
            let r = rng.next();
            if biased && data.len() >= harness::HEADER_LEN && r.is_multiple_of(3) {
                // acquire+record with a failure-heavy verdict, or a small advance.
                if r.is_multiple_of(2) {
                    data.extend_from_slice(&[3, ((r >> 8) % 4) as u8 | 1]);
                } else {
                    data.extend_from_slice(&[4, (r >> 8) as u8 % 64]);
                }
            } else {
                data.push(r as u8);
            }
        }
        let summary = catch_unwind(AssertUnwindSafe(|| harness::run_with_summary(&data)))
            .unwrap_or_else(|_| {
                panic!(
                    "sweep input #{i} failed ({} bytes: {data:02x?})",
                    data.len()
                )
            });
        seen.transitions |= summary.transitions;
        seen.max_reopens = seen.max_reopens.max(summary.max_reopens);
        seen.deadline_saturated |= summary.deadline_saturated;
        seen.dropped_probes += summary.dropped_probes;
        seen.rejected_busy += summary.rejected_busy;
        seen.stale_reports += summary.stale_reports;
        seen.recovered_to_full += summary.recovered_to_full;
        seen.shed += summary.shed;
        seen.graded_admits += summary.graded_admits;
        seen.decay_claims += summary.decay_claims;
        seen.marks_over_deadline += summary.marks_over_deadline;
        seen.decayed_to_full += summary.decayed_to_full;
        seen.quiet_full_checks += summary.quiet_full_checks;
        seen.slow_successes += summary.slow_successes;
        seen.timed_unchanged += summary.timed_unchanged;
        seen.mark_saturated |= summary.mark_saturated;
        seen.rejected_config |= summary.rejected_config;
        seen.limit_engaged += summary.limit_engaged;
        seen.limit_refusals += summary.limit_refusals;
    }
    // The sweep must keep reaching every transition that can happen, and only
    // those, or it has silently stopped testing much.
    use MState::*;
    let all = [Closed, Open, HalfOpen, ForcedOpen, Disabled];
    for from in all {
        for to in all {
            let possible = match (from, to) {
                // Operators (reset, force_open, disable) from anywhere but the
                // state they set (a no-op; reset from Closed only with something
                // to clear), a probe success closing, a trip, a probe admitted, a
                // probe failing.
                (ForcedOpen, ForcedOpen) | (Disabled, Disabled) => false,
                (_, Closed | ForcedOpen | Disabled) => true,
                (Closed, Open) | (Open, HalfOpen) | (HalfOpen, Open) => true,
                // A fresh half-open period past the probe lease.
                (HalfOpen, HalfOpen) => true,
                _ => false,
            };
            assert_eq!(
                seen.saw(from, to),
                possible,
                "sweep coverage of {from:?} -> {to:?}: {seen:#?}"
            );
        }
    }
    assert!(seen.max_reopens >= 5, "{seen:#?}");
    assert!(
        seen.deadline_saturated && seen.dropped_probes > 0 && seen.rejected_busy > 0,
        "{seen:#?}"
    );
    assert!(seen.stale_reports > 0, "{seen:#?}");
    assert!(seen.recovered_to_full > 0, "{seen:#?}");
    // The time-following, graded policy: decay claimed, marks started over other
    // epochs' deadlines, health brought back to full by time alone (and checked
    // 21 half-lives after the last report), attempts shed and admitted by draws,
    // slow successes, the end of the mark's range, invalid policy settings.
    eprintln!("sweep: {seen:#?}");
    assert!(
        seen.decay_claims > 0
            && seen.marks_over_deadline > 0
            && seen.decayed_to_full > 0
            && seen.quiet_full_checks > 0,
        "{seen:#?}"
    );
    assert!(seen.shed > 0 && seen.graded_admits > 0, "{seen:#?}");
    assert!(
        seen.slow_successes > 0 && seen.timed_unchanged > 0,
        "{seen:#?}"
    );
    assert!(seen.mark_saturated && seen.rejected_config, "{seen:#?}");
    // (The shadow's concurrency limit rarely engages in this sweep: engaging
    // takes a settled base and a rising queue. The `seed-limit` seed engages it
    // and is refused, and the fuzzer grows the corpus from there.)
}

// ---------------------------------------------------------------------------
// Seeds.
// ---------------------------------------------------------------------------

use Op::*;

fn fail() -> Op {
    AcquireRecord { verdict: FAILURE }
}

fn success() -> Op {
    AcquireRecord { verdict: SUCCESS }
}

/// Index of a weight in `harness::WEIGHTS`.
fn w(weight: f64) -> u8 {
    let i = harness::WEIGHTS
        .iter()
        .position(|x| x.to_bits() == weight.to_bits())
        .unwrap_or_else(|| panic!("weight {weight} is not in WEIGHTS"));
    i as u8
}

/// A seed: its file name, input, and a check of what it must go through.
struct Seed {
    name: &'static str,
    data: Vec<u8>,
    check: fn(&Summary),
}

/// Eight attempts at once, answered together after `ms`, each reporting
/// `ELAPSED[elapsed]` (a timed success).
fn batch(ms: u8, elapsed: u8) -> Vec<Op> {
    let mut ops = vec![Acquire; 8];
    ops.push(AdvanceMs(ms));
    ops.extend(std::iter::repeat_n(
        Record {
            slot: 0,
            verdict: timed(SUCCESS, elapsed),
        },
        8,
    ));
    ops
}

/// The shadow's concurrency limit engaged and refusing: a settled base of 5 ms
/// (five batches), a step to 10 ms (watched), a rise to 50 ms (a queue:
/// engaged), then eight at once against a limit of at most 4.
fn limit_seed() -> Vec<Op> {
    let mut ops = Vec::new();
    for _ in 0..5 {
        ops.extend(batch(10, 5));
    }
    ops.extend(batch(10, 8));
    ops.extend(batch(50, 10));
    ops.extend(batch(50, 10));
    ops.extend(vec![Acquire; 8]);
    ops
}

fn all_seeds() -> Vec<Seed> {
    use MState::*;
    vec![
        Seed {
            // The shadow breaker's concurrency limit engages and refuses (the
            // main breaker, without it, stays closed at full health).
            name: "seed-limit",
            data: encode(Header::consecutive(3), &limit_seed()),
            check: |s| {
                assert!(s.limit_engaged > 0, "engaged");
                assert!(s.limit_refusals >= 4, "refused");
            },
        },
        Seed {
            // Three consecutive failures trip; the fourth caller is turned away.
            name: "seed-trip",
            data: encode(
                Header::consecutive(3),
                &[
                    success(),
                    fail(),
                    fail(),
                    Snapshot,
                    fail(),
                    Acquire,
                    AdvanceMs(3),
                    Acquire,
                ],
            ),
            check: |s| {
                assert!(s.saw(Closed, Open));
                assert!(s.rejected_open >= 2);
            },
        },
        Seed {
            // Trip, wait, probe (a second caller is busy), two successes close.
            name: "seed-probe-close",
            data: encode(
                Header {
                    close_after: 2,
                    ..Header::consecutive(2)
                },
                &[
                    fail(),
                    fail(),
                    AdvanceMs(9),
                    Acquire, // still open
                    AdvanceMs(1),
                    Acquire, // the probe
                    Acquire, // busy
                    Record {
                        slot: 0,
                        verdict: SUCCESS,
                    },
                    success(), // second probe success closes
                    success(),
                ],
            ),
            check: |s| {
                assert!(s.saw(Open, HalfOpen));
                assert!(s.saw(HalfOpen, Closed));
                assert!(s.rejected_busy >= 1);
            },
        },
        Seed {
            // Probe failures re-open with a growing period (10, 20, 40, 80 ms,
            // capped at 110 ms), then a success closes.
            name: "seed-reopen-growth",
            data: encode(
                Header::consecutive(1),
                &[
                    fail(),
                    AdvanceMs(10),
                    fail(), // probe fails: 20 ms
                    AdvanceMs(20),
                    fail(), // 40 ms
                    AdvanceMs(40),
                    fail(), // 80 ms
                    AdvanceMs(80),
                    fail(), // 110 ms (cap)
                    AdvanceMs(109),
                    Acquire,
                    AdvanceMs(1),
                    success(),
                ],
            ),
            check: |s| {
                assert!(s.saw(HalfOpen, Open));
                assert!(s.saw(HalfOpen, Closed));
                assert!(s.max_reopens >= 4);
                assert_eq!(s.max_open_for, Duration::from_millis(110));
            },
        },
        Seed {
            // Thirty-four probe failures in a row: the re-open count saturates at
            // 31 and the period (1 ms x 3^r) at the cap of 100.001 s.
            name: "seed-reopen-saturation",
            data: encode(
                Header {
                    open_for_ms: 1,
                    growth: 3,
                    cap: 7,
                    ..Header::consecutive(1)
                },
                &[fail(), NearDeadline(128), fail()]
                    .into_iter()
                    .chain([NearDeadline(128), fail()].into_iter().cycle().take(2 * 33))
                    .chain([NearDeadline(127), Acquire, NearDeadline(128), success()])
                    .collect::<Vec<_>>(),
            ),
            check: |s| {
                assert_eq!(s.max_reopens, 31);
                assert_eq!(s.max_open_for, Duration::from_millis(100_001));
                assert!(s.saw(HalfOpen, Closed));
                assert!(s.rejected_open >= 1);
            },
        },
        Seed {
            // Permits out before a reset (and before a trip) report stale.
            name: "seed-stale-after-reset",
            data: encode(
                Header::consecutive(2),
                &[
                    fail(), // so that the reset is not a no-op
                    Acquire,
                    Acquire,
                    Acquire,
                    Reset,
                    Record {
                        slot: 0,
                        verdict: FAILURE,
                    },
                    Record {
                        slot: 0,
                        verdict: SUCCESS,
                    },
                    fail(),
                    Acquire,
                    fail(), // trips: the live permit is now stale
                    Record {
                        slot: 0,
                        verdict: FAILURE,
                    },
                    Drop { slot: 0 },
                ],
            ),
            check: |s| {
                assert!(s.saw(Closed, Closed));
                assert!(s.saw(Closed, Open));
                assert!(s.stale_reports >= 3);
            },
        },
        Seed {
            // A probe dropped unrecorded frees its slot; the next caller probes in
            // the same epoch; then an ignored probe, then a success closes.
            name: "seed-dropped-probe",
            data: encode(
                Header {
                    probes: 1,
                    close_after: 1,
                    ..Header::consecutive(1)
                },
                &[
                    fail(),
                    AdvanceMs(10),
                    Acquire,
                    Acquire, // busy
                    Drop { slot: 0 },
                    Acquire, // probe again
                    Record {
                        slot: 0,
                        verdict: IGNORED,
                    },
                    success(),
                ],
            ),
            check: |s| {
                assert!(s.dropped_probes >= 1);
                assert!(s.rejected_busy >= 1);
                assert!(s.saw(HalfOpen, Closed));
            },
        },
        Seed {
            // The clock goes back, even before the breaker's start: elapsed time
            // saturates at zero and the deadline still holds.
            name: "seed-clock-rewind",
            data: encode(
                Header {
                    start: 5, // 1000 s
                    sub_ms: 3,
                    ..Header::consecutive(1)
                },
                &[
                    AdvanceMs(7),
                    fail(),
                    RewindMs(3),
                    Acquire,
                    AdvanceNs(999_999),
                    RewindNs(1),
                    SetClock(0), // before the start
                    Acquire,
                    SetClock(6),
                    AdvanceMs(20),
                    Acquire,
                    Record {
                        slot: 0,
                        verdict: FAILURE,
                    },
                    RewindMs(200),
                    Acquire,
                    NearDeadline(127),
                    Acquire,
                    NearDeadline(128),
                    success(),
                ],
            ),
            check: |s| {
                assert!(s.rewinds >= 3);
                assert!(s.saw(Open, HalfOpen));
                assert!(s.rejected_open >= 3);
            },
        },
        Seed {
            // Operator overrides from every state, twice in a row included.
            name: "seed-disable-force-open",
            data: encode(
                Header::consecutive(2),
                &[
                    fail(),
                    Disable,
                    fail(),
                    fail(),
                    fail(),
                    success(),
                    Acquire,
                    ForceOpen,
                    Acquire,
                    Record {
                        slot: 0,
                        verdict: SUCCESS,
                    },
                    ForceOpen,
                    Disable,
                    Disable,
                    Reset,
                    fail(),
                    fail(),
                    Disable,
                    ForceOpen,
                    Reset,
                    fail(),
                    fail(),
                    AdvanceMs(10),
                    Acquire,
                    Disable,
                    Reset,
                ],
            ),
            check: |s| {
                assert!(s.saw(Closed, Disabled));
                assert!(s.saw(Disabled, ForcedOpen));
                // Forced open twice and disabled twice: the second is a no-op.
                assert!(!s.saw(ForcedOpen, ForcedOpen));
                assert!(s.saw(ForcedOpen, Disabled));
                assert!(!s.saw(Disabled, Disabled));
                assert!(s.saw(Open, Disabled) || s.saw(HalfOpen, Disabled));
                assert!(s.rejected_forced >= 1);
                assert!(s.stale_reports >= 1);
            },
        },
        Seed {
            // Failure-rate tripping with weighted, NaN, negative, infinite and
            // tiny failure weights.
            name: "seed-failure-rate-weights",
            data: encode(
                Header {
                    mode: 1,
                    p1: 0, // rate 0.5
                    p2: 4, // window 5
                    ..Header::consecutive(1)
                },
                &[
                    success(),
                    AcquireRecord {
                        verdict: weighted(w(f64::NAN)),
                    },
                    AcquireRecord {
                        verdict: weighted(w(-1.0)),
                    },
                    AcquireRecord {
                        verdict: weighted(w(0.0)),
                    },
                    AcquireRecord {
                        verdict: weighted(w(1e-12)),
                    },
                    AcquireRecord {
                        verdict: weighted(w(0.5)),
                    },
                    success(),
                    AcquireRecord {
                        verdict: weighted(w(2.0)),
                    },
                    AcquireRecord { verdict: IGNORED },
                    // Samples count the spell below full health: the first success
                    // (at full) and the 1e-12 failure (which moves nothing) are not
                    // in it, so one more failure makes the infinite one the 5th.
                    fail(),
                    AcquireRecord {
                        verdict: weighted(w(f64::INFINITY)),
                    },
                    AdvanceMs(10),
                    AcquireRecord {
                        verdict: weighted(w(1e9)),
                    },
                ],
            ),
            check: |s| {
                assert!(s.saw(Closed, Open));
                assert!(s.saw(HalfOpen, Open));
            },
        },
        Seed {
            // Manual health settings: alpha 0.3, threshold 0.5, min 3 samples.
            name: "seed-manual-health",
            data: encode(
                Header {
                    mode: 2,
                    p1: 2, // alpha 0.3
                    p2: 0, // threshold 0.5
                    p3: 3, // min_samples 3
                    growth: 1,
                    ..Header::consecutive(1)
                },
                &[
                    AcquireRecord {
                        verdict: weighted(w(3.0)),
                    }, // below, but 1 sample
                    success(),
                    AcquireRecord {
                        verdict: weighted(w(0.25)),
                    },
                    fail(),
                    fail(),
                    AdvanceMs(10),
                    fail(),
                    AdvanceMs(15),
                    success(),
                ],
            ),
            check: |s| {
                assert!(s.saw(Closed, Open));
                assert!(s.saw(HalfOpen, Open));
                assert!(s.saw(HalfOpen, Closed));
                assert_eq!(s.max_open_for, Duration::from_millis(15));
            },
        },
        Seed {
            // Three probes at once: one succeeds, one is ignored, one fails and
            // re-opens; the fourth caller is busy and the last probe goes stale.
            name: "seed-probes-multi",
            data: encode(
                Header {
                    probes: 3,
                    close_after: 3,
                    ..Header::consecutive(2)
                },
                &[
                    fail(),
                    fail(),
                    AdvanceMs(10),
                    Acquire,
                    Acquire,
                    Acquire,
                    Acquire,
                    Acquire, // busy
                    Record {
                        slot: 0,
                        verdict: SUCCESS,
                    },
                    Record {
                        slot: 0,
                        verdict: IGNORED,
                    },
                    Acquire,
                    Record {
                        slot: 1,
                        verdict: FAILURE,
                    },
                    Record {
                        slot: 0,
                        verdict: SUCCESS,
                    },
                    Drop { slot: 0 },
                ],
            ),
            check: |s| {
                assert!(s.rejected_busy >= 1);
                assert!(s.saw(HalfOpen, Open));
                assert!(s.stale_reports >= 1);
            },
        },
        Seed {
            // Deadlines near and past the 40-bit millisecond range, and a clock
            // that saturates.
            name: "seed-deadline-saturation",
            data: encode(
                Header {
                    growth: 3,
                    cap: 7,
                    ..Header::consecutive(1)
                },
                &[
                    SetClock(2),
                    fail(),
                    Snapshot,
                    Acquire,
                    NearDeadline(128),
                    fail(),
                    AdvanceBig(9),
                    fail(),
                    Acquire,
                    Record {
                        slot: 0,
                        verdict: FAILURE,
                    },
                    Reset,
                    SetClock(5),
                    fail(),
                    Acquire,
                    success(),
                ],
            ),
            check: |s| {
                assert!(s.deadline_saturated);
                assert!(s.saw(HalfOpen, Open));
            },
        },
        Seed {
            // Sub-millisecond open periods (growth 1.5 from 1.5 ms) and clock steps
            // of nanoseconds across the deadline.
            name: "seed-sub-ms",
            data: encode(
                Header {
                    open_for_ms: 1,
                    sub_ms: 4, // +0.5 ms
                    growth: 1,
                    cap: 2,
                    ..Header::consecutive(1)
                },
                &[
                    AdvanceNs(123_456),
                    fail(),
                    Acquire,
                    NearDeadline(127),
                    Acquire,
                    AdvanceNs(1),
                    fail(),
                    NearDeadline(0),
                    Acquire,
                    AdvanceNs(999_999),
                    AdvanceNs(1),
                    Acquire,
                    Record {
                        slot: 0,
                        verdict: FAILURE,
                    },
                    NearDeadline(200),
                    success(),
                ],
            ),
            check: |s| {
                assert!(s.saw(HalfOpen, Open));
                assert!(s.saw(HalfOpen, Closed));
                assert!(s.max_reopens >= 2);
            },
        },
        Seed {
            // A probe that never reports holds its slot only for the probe lease
            // (5 ms): then a fresh half-open period starts, the lost permit's
            // report is stale, and a probe success closes.
            name: "seed-probe-lease",
            data: encode(
                Header {
                    probe_timeout: 3, // 5 ms
                    ..Header::consecutive(1)
                },
                &[
                    fail(),
                    AdvanceMs(10),
                    Acquire, // the probe that will be lost
                    Acquire, // busy
                    AdvanceMs(4),
                    Acquire, // still busy: 4 ms into a 5 ms lease
                    AdvanceMs(1),
                    AcquireRecord { verdict: SUCCESS }, // a fresh period, and it closes
                    Record {
                        slot: 0,
                        verdict: FAILURE,
                    }, // the lost probe, stale
                ],
            ),
            check: |s| {
                assert!(s.saw(HalfOpen, HalfOpen));
                assert!(s.saw(HalfOpen, Closed));
                assert!(s.rejected_busy >= 2);
                assert!(s.stale_reports >= 1);
            },
        },
        Seed {
            // Leases start at open_for (10 ms) and double after four consecutive
            // periods replaced by expiry: the fifth period's lease is 20 ms, so
            // 19 ms into it the slot is still busy.
            name: "seed-lease-growth",
            data: encode(
                Header {
                    probe_timeout: 5, // 100 ms, above the grown lease
                    ..Header::consecutive(1)
                },
                &{
                    let mut ops = vec![fail(), AdvanceMs(10), Acquire];
                    for _ in 0..4 {
                        ops.extend([AdvanceMs(9), Acquire, AdvanceMs(1), Acquire]);
                    }
                    ops.extend([AdvanceMs(19), Acquire, AdvanceMs(1), Acquire]);
                    ops
                },
            ),
            check: |s| {
                assert!(s.saw(HalfOpen, HalfOpen));
                assert!(s.rejected_busy >= 5, "{}", s.rejected_busy);
            },
        },
        Seed {
            // Health returns to exactly full after a failure burst: 4 failures
            // (trip on the 5th), then the bound's 100 successes.
            name: "seed-health-converges",
            data: encode(Header::consecutive(5), &{
                let mut ops = vec![fail(); 4];
                ops.extend(std::iter::repeat_n(success(), 100));
                ops
            }),
            check: |s| {
                assert_eq!(s.transitions, 0, "no trip");
                assert_eq!(s.recovered_to_full, 1);
            },
        },
        Seed {
            // Operator calls that would change only the epoch do nothing.
            name: "seed-operator-noops",
            data: encode(
                Header::consecutive(2),
                &[
                    Acquire,
                    Reset, // pristine: a no-op, the permit stays current
                    Record {
                        slot: 0,
                        verdict: SUCCESS,
                    },
                    ForceOpen,
                    ForceOpen,
                    Disable,
                    Disable,
                    fail(),
                    Reset,
                    Reset,
                ],
            ),
            check: |s| {
                assert_eq!(s.stale_reports, 0);
                assert!(s.saw(Closed, ForcedOpen) && s.saw(ForcedOpen, Disabled));
                assert!(s.saw(Disabled, Closed));
            },
        },
        Seed {
            // Time decay, half-life 64 ms (ticks of 1 ms), alpha 0.5: a failure
            // (0.5), one half-life (0.75 in the snapshot, read only), a failure
            // that claims those 64 ticks first, half a half-life claimed by an
            // ignored report, then 21 half-lives of quiet: full again by time
            // alone. A new spell; a failure within the same tick claims nothing, one
            // a nanosecond later (the next tick) claims one.
            name: "seed-decay-half-life",
            data: encode(
                Header {
                    mode: 2,
                    p1: 0, // alpha 0.5
                    p2: 5, // threshold 0.01
                    p3: 1,
                    half_life: 1, // 64 ms
                    ..Header::consecutive(1)
                },
                &[
                    fail(),
                    Snapshot,
                    AdvanceMs(64),
                    Snapshot,
                    fail(),
                    AdvanceMs(32),
                    AcquireRecord { verdict: IGNORED },
                    success(),
                    AdvanceMs(255),
                    AdvanceMs(255),
                    AdvanceMs(255),
                    AdvanceMs(255),
                    AdvanceMs(255),
                    AdvanceMs(255),
                    Snapshot,
                    fail(),
                    AdvanceNs(999_999),
                    fail(),
                    AdvanceNs(1),
                    fail(),
                ],
            ),
            check: |s| {
                assert_eq!(s.transitions, 0, "no trip");
                assert!(s.decay_claims >= 3, "{s:?}");
                assert!(s.decayed_to_full > 0 && s.quiet_full_checks > 0);
            },
        },
        Seed {
            // Graded admission: alpha 0.5, min_samples 3, shed below 0.9, at least
            // 5 %, half-life 64 ms. Two failures (under min_samples: all admitted),
            // a third: health 0.125, so about 14 % get through (ignored reports,
            // which change nothing but the draw count); failures until the few
            // admitted ones trip it (the floor of 5 % near 0); a probe closes. Then
            // three failures again, three half-lives (read-only decay raises the
            // chance), a fourth (decay to above 0.9: admitted without a draw);
            // disabled from degraded: never shed.
            name: "seed-shed-graded",
            data: encode(
                Header {
                    mode: 2,
                    p1: 0, // alpha 0.5
                    p2: 5, // threshold 0.01
                    p3: 3, // min_samples 3
                    half_life: 1,
                    shed: 2, // 0.9
                    min_admit: 0,
                    ..Header::consecutive(1)
                },
                &{
                    let mut ops = vec![fail(), fail(), Acquire, Acquire, fail()];
                    ops.extend(std::iter::repeat_n(AcquireRecord { verdict: IGNORED }, 40));
                    ops.extend([Drop { slot: 0 }, Drop { slot: 0 }]);
                    ops.extend(std::iter::repeat_n(fail(), 120));
                    ops.extend([AdvanceMs(50), success(), fail(), fail(), fail()]);
                    ops.extend([AdvanceMs(192), Acquire, AdvanceMs(64), Acquire]);
                    ops.extend(std::iter::repeat_n(AcquireRecord { verdict: IGNORED }, 10));
                    ops.extend([Reset, fail(), fail(), fail(), fail(), Disable]);
                    ops.extend(std::iter::repeat_n(AcquireRecord { verdict: IGNORED }, 20));
                    ops
                },
            ),
            check: |s| {
                assert!(s.shed >= 10 && s.graded_admits >= 3, "{s:?}");
                assert!(s.saw(Closed, Open) && s.saw(HalfOpen, Closed));
                assert!(s.saw(Closed, Disabled));
            },
        },
        Seed {
            // The decay mark and the Open / HalfOpen epochs, in turn. A mark starts
            // over the initial word; the trip's deadline replaces it; the probe's
            // lease replaces that; after the close, the first failure starts a mark
            // over the lease; a stale permit of the first epoch reports (and moves
            // nothing); two half-lives decay from the new mark; a trip, a failed
            // probe, a close, a mark over a lease again. Then disabled from a
            // degraded Closed: no mark of its own, so no decay until its first
            // report starts one. Force open, reset: a mark over an old mark.
            name: "seed-decay-mark-epochs",
            data: encode(
                Header {
                    probes: 1,
                    close_after: 1,
                    half_life: 1,
                    ..Header::consecutive(2)
                },
                &[
                    fail(),
                    AdvanceMs(10),
                    Acquire, // a permit of epoch 0, kept
                    fail(),  // trips: Open e1, its deadline over the mark
                    Snapshot,
                    AdvanceMs(10),
                    success(), // probe e2 (lease), closes: e3
                    fail(),    // a mark of e3 over e2's lease
                    Record {
                        slot: 0,
                        verdict: FAILURE,
                    }, // stale
                    AdvanceMs(128),
                    Snapshot,
                    fail(), // claims 128 ticks: no trip
                    fail(), // trips: Open e4
                    AdvanceMs(10),
                    Acquire,
                    Record {
                        slot: 0,
                        verdict: FAILURE,
                    }, // probe e5 fails: Open e6, 20 ms
                    NearDeadline(128),
                    success(), // e7, closes: e8
                    fail(),    // a mark over e7's lease
                    Disable,   // e9 carries health decayed to now; its mark starts now
                    AdvanceMs(255),
                    AdvanceMs(255),
                    Snapshot,                           // decayed
                    AcquireRecord { verdict: IGNORED }, // stores the decay
                    AdvanceMs(64),
                    Snapshot, // decayed
                    fail(),
                    ForceOpen,
                    Reset,
                    fail(), // e11's mark over e9's
                    AdvanceMs(64),
                    success(),
                ],
            ),
            check: |s| {
                assert!(s.marks_over_deadline >= 2, "{s:?}");
                assert!(s.stale_reports >= 1 && s.decay_claims >= 2, "{s:?}");
                assert!(s.saw(Closed, Open) && s.saw(HalfOpen, Open));
                assert!(s.saw(HalfOpen, Closed) && s.saw(Closed, Disabled));
                assert!(s.saw(ForcedOpen, Closed));
            },
        },
        Seed {
            // Slow calls: threshold 5 ms + 1 ns, weight 0.5. Timed successes over
            // it (5 ms + 2 ns, u64::MAX ns, Duration::MAX) are failures; at it, and
            // fast, they are successes; timed ignored and failure reports stay as
            // they are. A slow probe success re-opens.
            name: "seed-slow-call",
            data: encode(
                Header {
                    slow_call: 2,
                    ..Header::consecutive(3)
                },
                &[
                    AcquireRecord {
                        verdict: timed(SUCCESS, 7),
                    },
                    AcquireRecord {
                        verdict: timed(SUCCESS, 6),
                    },
                    AcquireRecord {
                        verdict: timed(SUCCESS, 1),
                    },
                    AcquireRecord {
                        verdict: timed(IGNORED, 14),
                    },
                    AcquireRecord {
                        verdict: timed(FAILURE, 2),
                    },
                    AcquireRecord {
                        verdict: timed(SUCCESS, 13),
                    },
                    AcquireRecord {
                        verdict: timed(SUCCESS, 14),
                    },
                    AcquireRecord {
                        verdict: timed(SUCCESS, 12),
                    },
                    fail(),
                    fail(),
                    AdvanceMs(10),
                    AcquireRecord {
                        verdict: timed(SUCCESS, 10),
                    }, // slow probe: re-opens
                    AdvanceMs(20),
                    AcquireRecord {
                        verdict: timed(SUCCESS, 5),
                    }, // 5 ms: fast enough, closes
                ],
            ),
            check: |s| {
                assert!(s.slow_successes >= 4 && s.timed_unchanged >= 4, "{s:?}");
                assert!(s.saw(Closed, Open));
                assert!(s.saw(HalfOpen, Open) && s.saw(HalfOpen, Closed));
            },
        },
        Seed {
            // Decay time stops at the end of the mark's 42-bit range (2^42 - 1
            // ticks of 1 ms): two failures past it do not decay between them, nor
            // afterwards; the clock going back leaves the mark where it is (a
            // report then lands at the mark), and time passing the mark again
            // decays.
            name: "seed-decay-saturation",
            data: encode(
                Header {
                    mode: 2,
                    p1: 0, // alpha 0.5
                    p2: 5, // threshold 0.01
                    p3: 1,
                    half_life: 1,
                    ..Header::consecutive(1)
                },
                &[
                    SetClock(5), // u64::MAX ns: past the end of the ticks
                    fail(),
                    fail(),
                    AdvanceBig(0),
                    Snapshot,
                    SetClock(2), // back, 2^40 ms past the start
                    fail(),
                    Snapshot,
                    Reset,
                    SetClock(1),
                    fail(),
                    SetClock(2),
                    Snapshot,
                    SetClock(5), // forward past the mark again: decays
                    Snapshot,
                ],
            ),
            check: |s| {
                assert!(s.mark_saturated && s.rewinds >= 1, "{s:?}");
                assert!(s.decayed_to_full > 0, "{s:?}");
            },
        },
        Seed {
            // A half-life under 64 ms: the builder names `half_life`.
            name: "seed-invalid-half-life",
            data: encode(
                Header {
                    half_life: 15,
                    ..Header::consecutive(1)
                },
                &[fail()],
            ),
            check: |s| assert!(s.rejected_config),
        },
        Seed {
            // shed_below 1.0: the builder names `shed_below`.
            name: "seed-invalid-shed-below",
            data: encode(
                Header {
                    shed: 31,
                    ..Header::consecutive(1)
                },
                &[fail()],
            ),
            check: |s| assert!(s.rejected_config),
        },
        Seed {
            // min_admit 0: the builder names `min_admit`.
            name: "seed-invalid-min-admit",
            data: encode(
                Header {
                    min_admit: 31,
                    ..Header::consecutive(1)
                },
                &[fail()],
            ),
            check: |s| assert!(s.rejected_config),
        },
        Seed {
            // `disable` from a degraded `Closed` breaker carries health that
            // goes on decaying from where it was (issue 17), never the stored
            // word for good: half-life 64 ms, alpha 0.5: a failure (0.5), one
            // half-life (0.75), disable: 0.75 (the word and its mark carried);
            // a half-life later, 0.875 without a report; a report stores it.
            name: "seed-disable-decayed",
            data: encode(
                Header {
                    mode: 2,
                    p1: 0, // alpha 0.5
                    p2: 5, // threshold 0.01
                    p3: 1,
                    half_life: 1, // 64 ms
                    ..Header::consecutive(1)
                },
                &[
                    fail(),
                    AdvanceMs(64),
                    Disable,
                    AdvanceMs(64),
                    Snapshot,
                    AcquireRecord { verdict: IGNORED },
                    AdvanceMs(64),
                    Snapshot,
                ],
            ),
            check: |s| {
                assert_eq!(s.disabled_decayed, 1);
                assert!(s.saw(Closed, Disabled));
            },
        },
        Seed {
            // `reset` is a no-op on a breaker that time has brought back to full
            // health (issue 17): a failure, 1.53 s of quiet (over 21 half-lives
            // of 64 ms), a permit taken, reset (nothing happens), the permit's
            // success applied (not stale); then a failure and a reset that does
            // reset.
            name: "seed-reset-after-decay",
            data: encode(
                Header {
                    mode: 2,
                    p1: 0,
                    p2: 5,
                    p3: 1,
                    half_life: 1,
                    ..Header::consecutive(1)
                },
                &[
                    fail(),
                    AdvanceMs(255),
                    AdvanceMs(255),
                    AdvanceMs(255),
                    AdvanceMs(255),
                    AdvanceMs(255),
                    AdvanceMs(255),
                    Acquire,
                    Reset,
                    Record {
                        slot: 0,
                        verdict: SUCCESS,
                    },
                    fail(),
                    Reset,
                ],
            ),
            check: |s| {
                assert_eq!((s.reset_decayed_noop, s.stale_reports), (1, 0));
                assert!(s.saw(Closed, Closed));
            },
        },
    ]
}

#[test]
fn seeds() {
    for seed in all_seeds() {
        let summary = catch_unwind(AssertUnwindSafe(|| harness::run_with_summary(&seed.data)))
            .unwrap_or_else(|_| panic!("seed {} failed (see the panic above)", seed.name));
        eprintln!("{}: {summary:?}", seed.name);
        if catch_unwind(AssertUnwindSafe(|| (seed.check)(&summary))).is_err() {
            panic!(
                "seed {} does not cover what it claims: {summary:#?}",
                seed.name
            );
        }
        write_or_check_seed(CORPUS, seed.name, &seed.data, "fuzz_replay");
    }
}
