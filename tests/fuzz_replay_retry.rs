//! Replays the retry fuzz harness (`tests/fuzz_harness/retry_ops.rs`) on stable: every
//! input of the checked-in corpus and of the crash artifacts, the hand-written
//! seeds, and a deterministic pseudo-random sweep. See `fuzz/README.md`.
//!
//! To (re)write the seed files:
//! `FUSEBOX_WRITE_SEEDS=1 cargo test --test fuzz_replay_retry seeds`.

#[path = "fuzz_harness/retry_ops.rs"]
mod harness;
mod replay_support;

use harness::{
    Attempts, BackoffSel, Between, BreakerHeader, BreakerSel, BudgetSel, D, Header, Item, Kind,
    MState, MaxSel, Operator, SpecMode, Step, Summary, encode,
};
use replay_support::{XorShift, corpus, panic_message, replay_artifacts, write_or_check_seed};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

const CORPUS: &str = "fuzz/corpus/retry_ops";
const ARTIFACTS: &str = "fuzz/artifacts/retry_ops";

thread_local! {
    /// Set while the sweep runs on this thread: its expected-to-be-caught panics
    /// are reported once, grouped, at the end, not one by one.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Install (once) a panic hook that is silent on a thread running the sweep and
/// the default hook everywhere else.
fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                default(info);
            }
        }));
    });
}

/// Run one input, naming it if the harness panics.
fn replay(name: &str, data: &[u8]) -> Summary {
    match catch_unwind(AssertUnwindSafe(|| harness::run_with_summary(data))) {
        Ok(summary) => summary,
        Err(panic) => panic!(
            "input {name} ({} bytes: {data:02x?}) failed:\n{}",
            data.len(),
            panic_message(&*panic)
        ),
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

/// A header biased toward valid configurations with short delays, every kind of
/// breaker (the breaker harness's configurations among them), time limits, a
/// timing classifier and a budget now and then.
fn biased_header(rng: &mut XorShift) -> Header {
    let r = rng.next();
    let small = |x: u64| (x % 20) as u8;
    let backoff = if r.is_multiple_of(2) {
        BackoffSel::Constant(D::Ms(small(r >> 8)))
    } else {
        BackoffSel::Exponential {
            initial: D::Ms(1 + small(r >> 8) / 2),
            factor: ((r >> 16) % 4) as u8, // 1, 2, 1.5, 3
            raw: 0,
            max: MaxSel::Plus(D::Ms((r >> 24) as u8)),
        }
    };
    let attempts = [
        Attempts::One,
        Attempts::Two,
        Attempts::Three,
        Attempts::Four,
        Attempts::Five,
        Attempts::Eight,
        Attempts::SixtyFour,
        Attempts::Thousand,
    ][(r >> 32) as usize % 8];
    let t = rng.next();
    let deadline = match t % 4 {
        0 => Some(D::Ms((t >> 8) as u8)),
        1 => Some(D::MsWide(((t >> 8) % 2000) as u16)),
        _ => None,
    };
    let attempt_timeout = (t >> 20)
        .is_multiple_of(4)
        .then(|| D::Ms(1 + (t >> 24) as u8 % 50));
    let breaker = match (t >> 32) % 8 {
        0 => BreakerSel::Disabled,
        1 | 2 => BreakerSel::Trip {
            n: 1 + ((t >> 36) % 4) as u8,
            open_for: ((t >> 40) % 2) as u8, // 1 ms or 10 ms
        },
        3 => BreakerSel::Default,
        v => BreakerSel::Spec {
            header: spec_header(rng),
            mode: [
                SpecMode::Closed,
                SpecMode::Closed,
                SpecMode::Disabled,
                SpecMode::Jittered,
            ][(v - 4) as usize],
        },
    };
    let b = rng.next();
    let budget = b.is_multiple_of(4).then_some(BudgetSel {
        ratio: (b >> 8) as u8,
        floor: (b >> 16) as u8,
        max: (b >> 24) as u8,
        initial: (b >> 32) as u8,
    });
    Header {
        attempts,
        backoff,
        jitter: ((r >> 40) % 5) as u8,
        deadline,
        attempt_timeout,
        wants_elapsed: (t >> 44).is_multiple_of(3),
        seed: (r >> 48) % 128,
        breaker,
        budget,
        start: ((b >> 40) % 6) as u8,
    }
}

/// A breaker-harness header for a breaker that changes state within
/// milliseconds (`BreakerHeader::fast_changing`).
fn spec_header(rng: &mut XorShift) -> [u8; 10] {
    BreakerHeader::fast_changing(rng.next()).bytes()
}

/// A random script item: mostly attempts (failures, short hints and durations,
/// other callers and operators), sometimes the start of the next call.
fn biased_item(rng: &mut XorShift) -> Item {
    use Kind::*;
    let r = rng.next();
    if r.is_multiple_of(8) {
        return Item::NextCall(Between {
            advance: match (r >> 3) % 4 {
                0 => None,
                1 => Some(D::Ms((r >> 8) as u8)),
                2 => Some(D::Secs((r >> 8) as u8 % 30)),
                _ => Some(D::Hours((r >> 8) as u8 % 3)),
            },
            operator: operator((r >> 16) as u8),
            result_api: (r >> 24).is_multiple_of(3),
        });
    }
    let kind = [
        Unit,
        Unit,
        Retryable,
        RetryableHint,
        UnitHint,
        Success,
        Success,
        Permanent,
        Ignored,
        PermanentHint,
    ][(r >> 8) as usize % 10];
    Item::Attempt(Step {
        kind,
        flip: (r >> 16).is_multiple_of(16),
        operator: if (r >> 20).is_multiple_of(3) {
            operator((r >> 24) as u8)
        } else {
            Operator::None
        },
        weight: (r >> 28) as u8 % 4, // 1, 0.5, 2, 0
        hint: D::Ms((r >> 32) as u8 % 30),
        duration: match (r >> 40) % 4 {
            0 => None,
            1 => Some(D::Ms((r >> 44) as u8 % 20)),
            2 => Some(D::Us((r >> 44) as u8)),
            _ => Some(D::Ms((r >> 44) as u8)),
        },
        // Now and then the sleeper wakes late (up to a second, mostly).
        late: if (r >> 52).is_multiple_of(4) {
            ((r >> 54) % 7) as u8
        } else {
            0
        },
    })
}

/// Other callers (often) and operators (now and then).
fn operator(b: u8) -> Operator {
    [
        Operator::SideAcquire,
        Operator::SideAcquire,
        Operator::SideSuccess,
        Operator::SideFailure,
        Operator::SideDrop,
        Operator::SideAcquire,
        Operator::SideFailure,
        Operator::ForceOpen,
        Operator::Reset,
        Operator::Disable,
    ][usize::from(b) % 10]
}

#[test]
fn pseudo_random_sweep() {
    const INPUTS: usize = 20_000;
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let mut seen = Summary::default();
    let mut failures: BTreeMap<String, (usize, usize, Vec<u8>, String)> = BTreeMap::new();
    install_quiet_hook();
    QUIET.with(|q| q.set(true));
    for i in 0..INPUTS {
        // Three in four inputs are structured (a biased header and script, with a
        // few raw bytes spliced in); the rest are raw bytes.
        let data = if i % 4 != 3 {
            let header = biased_header(&mut rng);
            let items: Vec<Item> = (0..rng.next() % 40)
                .map(|_| biased_item(&mut rng))
                .collect();
            let mut data = encode(&header, &items);
            if rng.next().is_multiple_of(8) {
                let at = (rng.next() as usize) % (data.len() + 1);
                data.insert(at, rng.next() as u8);
            }
            data
        } else {
            (0..rng.next() % 160).map(|_| rng.next() as u8).collect()
        };
        let summary = match catch_unwind(AssertUnwindSafe(|| harness::run_with_summary(&data))) {
            Ok(summary) => summary,
            Err(panic) => {
                // Keep going, and report every kind of failure at the end.
                let msg = panic_message(&*panic);
                let kind: String = msg
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .filter(|c| !c.is_ascii_digit())
                    .take(100)
                    .collect();
                let entry = failures
                    .entry(kind)
                    .or_insert((0, i, data.clone(), msg.to_owned()));
                entry.0 += 1;
                if data.len() < entry.2.len() {
                    *entry = (entry.0, i, data.clone(), msg.to_owned());
                }
                continue;
            }
        };
        seen.absorb(&summary);
    }
    QUIET.with(|q| q.set(false));
    let report: Vec<String> = failures
        .values()
        .map(|(count, i, data, msg)| {
            format!(
                "{count} input(s), the shortest #{i} ({} bytes: {data:02x?}):\n{msg}",
                data.len()
            )
        })
        .collect();
    assert!(
        report.is_empty(),
        "{} kind(s) of failure in the sweep:\n\n{}",
        report.len(),
        report.join("\n\n")
    );
    eprintln!("sweep: {seen:#?}");
    // The sweep must keep reaching every way a call can end, and every feature
    // of the breaker under a guard, or it has silently stopped testing much.
    let s = &seen;
    for (what, reached) in [
        ("retry ConfigError", s.retry_config_error),
        ("budget ConfigError", s.budget_config_error),
        ("breaker ConfigError", s.breaker_config_error),
        ("sleeps", s.sleeps > 1000),
        ("hint-raised delays", s.hint_raised > 0),
        ("Ok", s.ok > 0),
        ("Ok after a retryable failure", s.ok_on_failure > 0),
        ("Permanent", s.permanent > 0),
        ("Exhausted", s.exhausted > 0),
        ("Rejected at try_acquire", s.rejected_acquire > 0),
        ("Rejected before a sleep", s.rejected_before_sleep > 0),
        ("Rejected::Shed", s.shed > 0),
        ("Rejected::ProbesBusy", s.probes_busy > 0),
        ("BudgetExhausted", s.budget_exhausted > 0),
        ("DeadlineExceeded", s.deadline_exceeded > 0),
        ("a retry due at the deadline", s.deadline_at_begin > 0),
        ("late wakes", s.late_wakes > 0),
        ("operator actions", s.operator_actions > 0),
        ("other callers", s.side_ops > 0),
        ("other callers shed", s.side_shed > 0),
        ("stale records", s.stale_records > 0),
        ("slow attempts", s.slow_attempts > 0),
        ("probe-lease expiries", s.lease_expiries > 0),
        ("jittered open periods", s.jittered_opens > 0),
        ("timed calls", s.timed_calls > 0),
        ("Guard::call", s.result_api_calls > 0),
    ] {
        assert!(reached, "the sweep never reached: {what}; {seen:#?}");
    }
    use MState::*;
    for (from, to) in [
        (Closed, Open),
        (Open, HalfOpen),
        (HalfOpen, Closed),
        (HalfOpen, Open),
        (HalfOpen, HalfOpen),
        (Closed, ForcedOpen),
        (Open, ForcedOpen),
        (Closed, Disabled),
        (Disabled, Closed),
        (ForcedOpen, Closed),
        (HalfOpen, Disabled),
    ] {
        assert!(
            seen.saw(from, to),
            "the sweep never saw {from:?} -> {to:?}; {seen:#?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Seeds.
// ---------------------------------------------------------------------------

const MS: u128 = 1_000_000;
const SEC: u128 = 1_000_000_000;

/// A valid header: `max_attempts`, backoff, jitter (0 None, 1 Full, 2 Equal,
/// 3 Decorrelated), no deadline, seed 7, a disabled breaker, no budget, clock at 0.
fn header(attempts: Attempts, backoff: BackoffSel, jitter: u8) -> Header {
    Header {
        attempts,
        backoff,
        jitter,
        deadline: None,
        attempt_timeout: None,
        wants_elapsed: false,
        seed: 7,
        breaker: BreakerSel::Disabled,
        budget: None,
        start: 0,
    }
}

fn attempt(kind: Kind) -> Item {
    Item::Attempt(Step::new(kind))
}

/// An attempt whose result is flipped (`Ok` classified as a failure, or an `Err`
/// classified `Success` / `Ignored`).
fn flipped(kind: Kind) -> Item {
    Item::Attempt(Step {
        flip: true,
        ..Step::new(kind)
    })
}

fn hinted(kind: Kind, hint: D) -> Item {
    Item::Attempt(Step {
        hint,
        ..Step::new(kind)
    })
}

fn next_call() -> Item {
    Item::NextCall(Between {
        advance: None,
        operator: Operator::None,
        result_api: false,
    })
}

/// A seed: its file name, input, and a check of what it must go through.
struct Seed {
    name: &'static str,
    data: Vec<u8>,
    check: fn(&Summary),
}

fn all_seeds() -> Vec<Seed> {
    use Kind::*;
    vec![
        Seed {
            // 4 attempts, exponential 10 ms ×2 up to 50 ms, no jitter: 10, 20, 40 ms,
            // then Exhausted; a second call fails once (weight NaN) and succeeds.
            name: "seed-exhausted-exact",
            data: encode(
                &header(
                    Attempts::Four,
                    BackoffSel::Exponential {
                        initial: D::Ms(10),
                        factor: 1, // 2.0
                        raw: 0,
                        max: MaxSel::Plus(D::Ms(40)),
                    },
                    0,
                ),
                &[
                    attempt(Unit),
                    attempt(Unit),
                    attempt(Unit),
                    attempt(Unit),
                    next_call(),
                    Item::Attempt(Step {
                        weight: 5, // NaN
                        ..Step::new(Retryable)
                    }),
                    attempt(Success),
                ],
            ),
            check: |s| {
                assert_eq!((s.calls, s.exhausted, s.ok, s.sleeps), (2, 1, 1, 4));
                assert_eq!(s.slept_ns, 80 * MS);
            },
        },
        Seed {
            // Server hints above the cap (5 s, 2 ms over a 1 ms full-jitter backoff)
            // raise the delay; a zero hint does not; a 60 s deadline holds them.
            name: "seed-hints",
            data: encode(
                &Header {
                    deadline: Some(D::Secs(60)),
                    ..header(Attempts::Five, BackoffSel::Constant(D::Ms(1)), 1)
                },
                &[
                    hinted(UnitHint, D::Secs(5)),
                    hinted(RetryableHint, D::Zero),
                    hinted(UnitHint, D::Ms(2)),
                    attempt(Success),
                ],
            ),
            check: |s| {
                assert_eq!((s.ok, s.sleeps), (1, 3));
                assert!(s.hint_raised >= 2, "{s:?}");
                assert!(s.slept_ns >= 5 * SEC + 2 * MS && s.slept_ns <= 5 * SEC + 3 * MS);
            },
        },
        Seed {
            // Deadline 5 s, exponential 1 s ×2, no jitter: sleeps of 1 s and 2 s, the
            // 4 s one would end at 7 s: DeadlineExceeded after 3 attempts. Then a
            // 10 s hint that cannot be honoured ends the next call at once.
            name: "seed-deadline",
            data: encode(
                &Header {
                    deadline: Some(D::Secs(5)),
                    ..header(
                        Attempts::Eight,
                        BackoffSel::EnumExponential {
                            initial: D::Secs(1),
                            factor: 1,
                            raw: 0,
                            max: MaxSel::Abs(D::Secs(60)),
                        },
                        0,
                    )
                },
                &[
                    attempt(Unit),
                    attempt(Unit),
                    attempt(Unit),
                    next_call(),
                    hinted(RetryableHint, D::Secs(10)),
                ],
            ),
            check: |s| {
                assert_eq!((s.deadline_exceeded, s.sleeps), (2, 2));
                assert_eq!(s.slept_ns, 3 * SEC);
            },
        },
        Seed {
            // Permanent, Ignored and Success-classified errors end the call with
            // Permanent; Ok results classified as failures or Ignored are returned.
            name: "seed-permanent-ignored",
            data: encode(
                &header(Attempts::Three, BackoffSel::Constant(D::Zero), 3),
                &[
                    attempt(Unit),
                    Item::Attempt(Step {
                        weight: 5, // NaN
                        ..Step::new(Permanent)
                    }),
                    next_call(),
                    attempt(Ignored),
                    next_call(),
                    flipped(Success),
                    next_call(),
                    flipped(Unit),
                    flipped(Unit),
                    flipped(Unit),
                    next_call(),
                    flipped(Ignored),
                ],
            ),
            check: |s| {
                assert_eq!((s.calls, s.permanent, s.ok, s.ok_on_failure), (5, 3, 2, 1));
                assert_eq!(s.exhausted, 0);
            },
        },
        Seed {
            // A breaker tripping after 2 failures (open 10 ms): the trip stops the
            // call before a 1 ms sleep; the next call is rejected at once; after
            // 20 ms the probe fails with a 50 ms hint, which outlasts the 20 ms
            // re-open, so the call sleeps, probes again and succeeds.
            name: "seed-breaker-trip",
            data: encode(
                &Header {
                    breaker: BreakerSel::Trip { n: 2, open_for: 1 },
                    ..header(Attempts::Five, BackoffSel::Constant(D::Ms(1)), 0)
                },
                &[
                    attempt(Unit),
                    attempt(Unit),
                    next_call(),
                    Item::NextCall(Between {
                        advance: Some(D::Ms(20)),
                        operator: Operator::None,
                        result_api: false,
                    }),
                    hinted(UnitHint, D::Ms(50)),
                    attempt(Success),
                ],
            ),
            check: |s| {
                assert_eq!(s.calls, 3);
                assert_eq!(
                    (s.rejected_before_sleep, s.rejected_acquire, s.ok),
                    (1, 1, 1)
                );
                assert_eq!(s.slept_ns, MS + 50 * MS);
            },
        },
        Seed {
            // Budget: ratio 0.5, no floor, at most 2 tokens, starting with 1. Call 1
            // deposits (1.5), retries once (0.5), is refused: BudgetExhausted. Call 2
            // deposits (1.0), retries once, succeeds.
            name: "seed-budget",
            data: encode(
                &Header {
                    budget: Some(BudgetSel {
                        ratio: 3,   // 0.5
                        floor: 0,   // 0
                        max: 1,     // 2
                        initial: 2, // Some(1)
                    }),
                    ..header(Attempts::Thousand, BackoffSel::Constant(D::Zero), 0)
                },
                &[
                    attempt(Unit),
                    attempt(Unit),
                    next_call(),
                    attempt(Unit),
                    attempt(Success),
                ],
            ),
            check: |s| {
                assert_eq!((s.budget_exhausted, s.ok, s.sleeps), (1, 1, 2));
            },
        },
        Seed {
            // Operators during attempts and between calls: force_open mid-attempt
            // (the record is stale; the call fails fast before sleeping), reset,
            // disable mid-attempt, force_open between calls (rejected at once),
            // disable (admitted again).
            name: "seed-operators",
            data: encode(
                &header(Attempts::Four, BackoffSel::Constant(D::Ms(1)), 0),
                &[
                    Item::Attempt(Step {
                        operator: Operator::ForceOpen,
                        ..Step::new(Unit)
                    }),
                    Item::NextCall(Between {
                        advance: None,
                        operator: Operator::Reset,
                        result_api: false,
                    }),
                    Item::Attempt(Step {
                        operator: Operator::Disable,
                        ..Step::new(Unit)
                    }),
                    Item::Attempt(Step {
                        operator: Operator::Reset,
                        ..Step::new(Success)
                    }),
                    Item::NextCall(Between {
                        advance: Some(D::Ms(1)),
                        operator: Operator::ForceOpen,
                        result_api: false,
                    }),
                    Item::NextCall(Between {
                        advance: None,
                        operator: Operator::Disable,
                        result_api: false,
                    }),
                    attempt(Success),
                ],
            ),
            check: |s| {
                assert_eq!(s.calls, 4);
                assert!(s.operator_actions >= 5, "{s:?}");
                assert_eq!(
                    (s.rejected_before_sleep, s.rejected_acquire, s.ok),
                    (1, 1, 2)
                );
            },
        },
        Seed {
            // Hostile but valid: u32::MAX attempts, exponential from 1 ns ×1e300 up to
            // Duration::MAX, decorrelated jitter: delays saturate; the harness stops
            // the call at its 64th attempt.
            name: "seed-saturation",
            data: {
                let mut items = vec![attempt(Unit); 62];
                items.insert(10, hinted(UnitHint, D::Max));
                encode(
                    &Header {
                        seed: 0xdead_beef_cafe_f00d,
                        ..header(
                            Attempts::Max,
                            BackoffSel::Exponential {
                                initial: D::OneNs,
                                factor: 6, // 1e300
                                raw: 0,
                                max: MaxSel::Max,
                            },
                            3,
                        )
                    },
                    &items,
                )
            },
            check: |s| {
                assert_eq!(
                    (s.max_attempts, s.attempts, s.sleeps, s.ok),
                    (u32::MAX, 64, 63, 1)
                );
                assert!(s.hint_raised >= 1, "{s:?}");
            },
        },
        Seed {
            // Several invalid retry fields at once: a ConfigError naming one of them.
            name: "seed-invalid-retry",
            data: encode(
                &Header {
                    deadline: Some(D::Zero),
                    ..header(
                        Attempts::Zero,
                        BackoffSel::Exponential {
                            initial: D::Zero,
                            factor: 7, // NaN
                            raw: 0,
                            max: MaxSel::SameAsInitial,
                        },
                        2,
                    )
                },
                &[attempt(Unit)],
            ),
            check: |s| assert!(s.retry_config_error && s.calls == 0),
        },
        Seed {
            // An invalid budget (max_balance 0, ratio NaN): a ConfigError.
            name: "seed-invalid-budget",
            data: encode(
                &Header {
                    budget: Some(BudgetSel {
                        ratio: 7, // NaN
                        floor: 2,
                        max: 5, // 0
                        initial: 0,
                    }),
                    ..header(Attempts::Two, BackoffSel::Default, 4)
                },
                &[attempt(Unit)],
            ),
            check: |s| assert!(s.budget_config_error && s.calls == 0),
        },
        Seed {
            // The default breaker under a guard (issue 17): 60 failures in one
            // call bring health below 0.5 with 50 samples, where graded admission
            // starts: the call is shed mid-way; later calls are admitted with
            // chance health / 0.5 (the draws are the breaker's, seeded 0), and
            // one of them is shed at its first attempt.
            name: "seed-shed-default",
            data: encode(
                &Header {
                    breaker: BreakerSel::Default,
                    ..header(Attempts::SixtyFour, BackoffSel::Constant(D::Zero), 0)
                },
                &{
                    let mut items = vec![attempt(Unit); 60];
                    for _ in 0..6 {
                        items.push(next_call());
                        items.push(attempt(Unit));
                    }
                    items
                },
            ),
            check: |s| {
                assert!(s.shed >= 2, "{s:?}");
                assert_eq!(s.rejected_acquire, s.shed, "{s:?}");
                assert!(!s.saw(MState::Closed, MState::Open), "{s:?}");
            },
        },
        Seed {
            // A retry due at or past the deadline is not sent (issue 17):
            // deadline 10 ms, constant 5 ms backoff: an attempt at 0, a sleep
            // to 5 ms from which the sleeper wakes 5 ms late, at the deadline:
            // DeadlineExceeded without a second attempt (no permit, nothing
            // recorded; the first attempt's error kept). A second call whose
            // attempt takes 5 ms stops before its sleep, which would end at the
            // deadline (5 + 5 = 10).
            name: "seed-deadline-at-begin",
            data: encode(
                &Header {
                    deadline: Some(D::Ms(10)),
                    ..header(Attempts::Eight, BackoffSel::Constant(D::Ms(5)), 0)
                },
                &[
                    Item::Attempt(Step {
                        late: 4, // 5 ms
                        ..Step::new(Unit)
                    }),
                    next_call(),
                    Item::Attempt(Step {
                        duration: Some(D::Ms(5)),
                        ..Step::new(Unit)
                    }),
                ],
            ),
            check: |s| {
                assert_eq!((s.deadline_exceeded, s.deadline_at_begin), (2, 1));
                assert_eq!((s.attempts, s.sleeps, s.late_wakes), (2, 1, 1));
                assert_eq!(s.slept_ns, 5 * MS);
            },
        },
        Seed {
            // Time limits passed to a blocking attempt: deadline 10 ms, attempt
            // timeout 3 ms, a classifier that asks for the time: `remaining` is
            // 3 ms, 3 ms, then 1 ms (the deadline's); each attempt is timed.
            name: "seed-time-limits",
            data: encode(
                &Header {
                    deadline: Some(D::Ms(10)),
                    attempt_timeout: Some(D::Ms(3)),
                    wants_elapsed: true,
                    ..header(Attempts::Four, BackoffSel::Constant(D::Ms(2)), 0)
                },
                &[
                    Item::Attempt(Step {
                        duration: Some(D::Ms(1)),
                        ..Step::new(Unit)
                    }),
                    Item::Attempt(Step {
                        duration: Some(D::Ms(4)),
                        ..Step::new(Unit)
                    }),
                    attempt(Success),
                ],
            ),
            check: |s| {
                assert_eq!((s.timed_calls, s.attempts, s.sleeps, s.ok), (1, 3, 2, 1));
            },
        },
        Seed {
            // Slow calls (the breaker harness's slow-call threshold 1 ms): a 1 ms
            // success (at the threshold) is a success; a 2 ms one is returned,
            // but the breaker records a failure; two of them in a row trip
            // `trip_after_consecutive_failures(2)`; the next call is rejected.
            name: "seed-slow-call",
            data: encode(
                &Header {
                    breaker: BreakerSel::Spec {
                        header: BreakerHeader {
                            slow_call: 1,
                            ..BreakerHeader::consecutive(2)
                        }
                        .bytes(),
                        mode: SpecMode::Closed,
                    },
                    ..header(Attempts::Three, BackoffSel::Constant(D::Ms(1)), 0)
                },
                &[
                    Item::Attempt(Step {
                        duration: Some(D::Ms(1)),
                        ..Step::new(Success)
                    }),
                    next_call(),
                    Item::Attempt(Step {
                        duration: Some(D::Ms(2)),
                        ..Step::new(Success)
                    }),
                    next_call(),
                    Item::Attempt(Step {
                        duration: Some(D::Ms(2)),
                        ..Step::new(Success)
                    }),
                    next_call(),
                ],
            ),
            check: |s| {
                assert_eq!((s.slow_attempts, s.ok, s.timed_calls), (2, 3, 4), "{s:?}");
                assert_eq!(s.rejected_acquire, 1, "{s:?}");
                assert!(s.saw(MState::Closed, MState::Open), "{s:?}");
            },
        },
        Seed {
            // Probe leases under a guard: one probe, open 10 ms. A trip stops the
            // call before its sleep; 10 ms later another caller takes the probe
            // slot and keeps it: the next call is refused `ProbesBusy`; 10 ms
            // later (the lease) a call starts a fresh half-open period and closes
            // the breaker; the lost probe's late report is stale.
            name: "seed-probe-lease",
            data: encode(
                &Header {
                    breaker: BreakerSel::Spec {
                        header: BreakerHeader::consecutive(1).bytes(),
                        mode: SpecMode::Closed,
                    },
                    ..header(Attempts::Three, BackoffSel::Constant(D::Ms(1)), 0)
                },
                &[
                    attempt(Unit),
                    Item::NextCall(Between {
                        advance: Some(D::Ms(10)),
                        operator: Operator::SideAcquire,
                        result_api: false,
                    }),
                    Item::NextCall(Between {
                        advance: Some(D::Ms(10)),
                        operator: Operator::None,
                        result_api: true,
                    }),
                    attempt(Success),
                    Item::NextCall(Between {
                        advance: None,
                        operator: Operator::SideSuccess,
                        result_api: false,
                    }),
                ],
            ),
            check: |s| {
                assert_eq!((s.rejected_before_sleep, s.probes_busy), (1, 1), "{s:?}");
                assert_eq!((s.lease_expiries, s.ok), (1, 2), "{s:?}");
                assert!(s.saw(MState::HalfOpen, MState::Closed), "{s:?}");
            },
        },
        Seed {
            // Another caller trips the breaker during the guard's attempt: its
            // permit (taken before the call) records a failure, so the guard's
            // own report is stale, and the call stops before sleeping; with open
            // jitter 0.1 the period is the breaker's draw in (9 ms, 10 ms].
            name: "seed-other-caller-trips",
            data: encode(
                &Header {
                    breaker: BreakerSel::Spec {
                        header: BreakerHeader::consecutive(1).bytes(),
                        mode: SpecMode::Jittered,
                    },
                    ..header(Attempts::Three, BackoffSel::Constant(D::Ms(1)), 0)
                },
                &[
                    attempt(Success),
                    Item::NextCall(Between {
                        advance: None,
                        operator: Operator::SideAcquire,
                        result_api: false,
                    }),
                    Item::Attempt(Step {
                        operator: Operator::SideFailure,
                        ..Step::new(Unit)
                    }),
                ],
            ),
            check: |s| {
                assert_eq!((s.stale_records, s.rejected_before_sleep), (1, 1), "{s:?}");
                assert_eq!((s.jittered_opens, s.side_ops), (1, 2), "{s:?}");
            },
        },
        Seed {
            // Decay and graded admission under a guard (the breaker harness's
            // `health(0.5, 0.01, 3)`, half-life 64 ms, shed below 0.9): three
            // failures (health 0.125, 3 samples), then the retry is shed (chance
            // 0.125 / 0.9; the draws are the breaker's), and so is the next call;
            // two seconds of quiet (31 half-lives) bring health back to full, and
            // the next call goes through at once.
            name: "seed-decay-and-shed",
            data: encode(
                &Header {
                    breaker: BreakerSel::Spec {
                        header: BreakerHeader {
                            mode: 2,
                            p1: 0, // alpha 0.5
                            p2: 5, // threshold 0.01
                            p3: 3, // min_samples 3
                            half_life: 1,
                            shed: 2, // 0.9
                            ..BreakerHeader::consecutive(1)
                        }
                        .bytes(),
                        mode: SpecMode::Closed,
                    },
                    ..header(Attempts::Eight, BackoffSel::Constant(D::Zero), 0)
                },
                &[
                    attempt(Unit),
                    attempt(Unit),
                    attempt(Unit),
                    next_call(),
                    Item::NextCall(Between {
                        advance: Some(D::Secs(2)),
                        ..Between::none()
                    }),
                    attempt(Success),
                ],
            ),
            check: |s| {
                assert_eq!((s.calls, s.attempts, s.shed, s.ok), (3, 4, 2, 1), "{s:?}");
                assert_eq!(s.transitions, 0, "{s:?}");
            },
        },
    ]
}

/// Inputs kept in the corpus for what they once caught, and what they must still
/// go through.
#[test]
fn regressions() {
    if !replay_support::in_repository() {
        return;
    }
    // Issue 17: the fuzzer's first crash on a default breaker, minimised: a default
    // breaker disabled, reset mid-attempt, then failures until graded admission
    // sheds a call ("unknown Rejected variant Shed" before the retry model learnt
    // it).
    let name = "regress-shed-default-breaker";
    let path = replay_support::dir(CORPUS).join(name);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let summary = replay(name, &data);
    assert!(
        summary.shed >= 1,
        "{name} no longer ends a call with Rejected::Shed: {summary:#?}"
    );
}

#[test]
fn seeds() {
    for seed in all_seeds() {
        let summary = replay(seed.name, &seed.data);
        if catch_unwind(AssertUnwindSafe(|| (seed.check)(&summary))).is_err() {
            panic!(
                "seed {} does not cover what it claims: {summary:#?}",
                seed.name
            );
        }
        write_or_check_seed(CORPUS, seed.name, &seed.data, "fuzz_replay_retry");
    }
}
