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
    Attempts, BackoffSel, Between, BreakerSel, BudgetSel, D, Header, Item, Kind, MaxSel, Operator,
    Step, Summary, encode,
};
use replay_support::{XorShift, artifacts, corpus, panic_message, write_or_check_seed};
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
    let mut failures = Vec::new();
    for (name, data) in artifacts(ARTIFACTS) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| harness::run(&data))) {
            failures.push(format!(
                "{name} ({} bytes: {data:02x?}):\n{}",
                data.len(),
                panic_message(&*panic)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} artifact(s) still fail:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn pseudo_random_sweep() {
    const INPUTS: usize = 20_000;
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let mut data = Vec::with_capacity(256);
    let mut seen = Summary::default();
    let mut failures: BTreeMap<String, (usize, usize, Vec<u8>, String)> = BTreeMap::new();
    install_quiet_hook();
    QUIET.with(|q| q.set(true));
    for i in 0..INPUTS {
        data.clear();
        let len = (rng.next() % 160) as usize;
        // Half the inputs get a header biased toward valid configurations with
        // small delays (so that calls run), the rest are raw bytes.
        if i % 2 == 0 {
            let r = rng.next();
            data.extend_from_slice(&[
                // max_attempts: one of the small table entries.
                2 + (r % 8) as u8,
                // constant or exponential backoff, milliseconds.
                [0u8, 1][(r >> 3) as usize % 2],
                4,
                (r >> 8) as u8 % 20,
            ]);
            if data[1] == 1 {
                // factor 1, 2, 1.5 or 3; max = initial + ms.
                data.extend_from_slice(&[(r >> 16) as u8 % 4, 1, 4, (r >> 24) as u8]);
            }
            data.extend_from_slice(&[
                (r >> 32) as u8 % 5,          // jitter
                (r >> 35) as u8,              // deadline
                4,                            // (if any) ms
                (r >> 40) as u8,              // deadline ms / seed
                ((r >> 48) as u8 % 8) | 0x28, // breaker: mostly tripping
                (r >> 52) as u8,              // open_for / budget
            ]);
        }
        while data.len() < len {
            let r = rng.next();
            // Bias the script toward failures with short hints and durations.
            if data.len() > 12 && r.is_multiple_of(3) {
                let kind = [1u8, 2, 6, 7][(r >> 8) as usize % 4];
                data.extend_from_slice(&[kind | 0x80, 0, 4, (r >> 16) as u8 % 8]);
            } else {
                data.push(r as u8);
            }
        }
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
        seen.retry_config_error |= summary.retry_config_error;
        seen.budget_config_error |= summary.budget_config_error;
        seen.calls += summary.calls;
        seen.attempts += summary.attempts;
        seen.sleeps += summary.sleeps;
        seen.hint_raised += summary.hint_raised;
        seen.ok += summary.ok;
        seen.ok_on_failure += summary.ok_on_failure;
        seen.permanent += summary.permanent;
        seen.exhausted += summary.exhausted;
        seen.rejected_acquire += summary.rejected_acquire;
        seen.rejected_before_sleep += summary.rejected_before_sleep;
        seen.budget_exhausted += summary.budget_exhausted;
        seen.deadline_exceeded += summary.deadline_exceeded;
        seen.operator_actions += summary.operator_actions;
        seen.delay_sequences += summary.delay_sequences;
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
    // The sweep must keep reaching every way a call can end, or it has silently
    // stopped testing much.
    assert!(
        seen.retry_config_error && seen.budget_config_error,
        "{seen:#?}"
    );
    assert!(seen.sleeps > 1000 && seen.hint_raised > 0, "{seen:#?}");
    assert!(seen.ok > 0 && seen.ok_on_failure > 0, "{seen:#?}");
    assert!(seen.permanent > 0 && seen.exhausted > 0, "{seen:#?}");
    assert!(
        seen.rejected_acquire > 0 && seen.rejected_before_sleep > 0,
        "{seen:#?}"
    );
    assert!(
        seen.budget_exhausted > 0 && seen.deadline_exceeded > 0,
        "{seen:#?}"
    );
    assert!(seen.operator_actions > 0, "{seen:#?}");
    eprintln!("sweep: {seen:#?}");
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
                    }),
                    Item::NextCall(Between {
                        advance: None,
                        operator: Operator::Disable,
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
    ]
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
