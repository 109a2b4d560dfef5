//! Replays the hedging fuzz harness (`tests/fuzz_harness/hedge_ops.rs`) on stable:
//! every input of the checked-in corpus and of the crash artifacts, the seeds
//! (hand-written scenarios and generated ones, kept in the corpus), and a
//! deterministic pseudo-random sweep that must keep reaching every situation the
//! model knows. See `fuzz/README.md`, "hedge_ops".
//!
//! To (re)write the seed files:
//! `FUSEBOX_WRITE_SEEDS=1 cargo test --test fuzz_replay_hedge seeds`.

#[path = "fuzz_harness/hedge_ops.rs"]
mod harness;
mod replay_support;

use harness::{
    Between, BreakerHeader, BreakerSel, BudgetSel, DelaySel, Header, HedgeSel, Item, Kind, MState,
    Op, RetrySel, Spec, Summary, encode,
};
use replay_support::{XorShift, corpus, panic_message, replay_artifacts, write_or_check_seed};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

const CORPUS: &str = "fuzz/corpus/hedge_ops";
const ARTIFACTS: &str = "fuzz/artifacts/hedge_ops";
const TEST: &str = "fuzz_replay_hedge";

/// The threads (by name) on which a test expects panics: they are reported by
/// the test, not printed one by one. An input with a quantile policy runs on a
/// thread of its own, named after its caller's with
/// [`harness::INPUT_THREAD_SUFFIX`]: quiet when its caller is.
static QUIET: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Whether the current thread is quiet (see [`QUIET`]).
fn quiet_here() -> bool {
    let current = std::thread::current();
    let Some(name) = current.name() else {
        return false;
    };
    let name = name
        .strip_suffix(harness::INPUT_THREAD_SUFFIX)
        .unwrap_or(name);
    QUIET
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .contains(name)
}

/// Make the current thread quiet, or not (see [`QUIET`]).
fn set_quiet(quiet: bool) {
    let name = std::thread::current()
        .name()
        .expect("a test thread has a name")
        .to_owned();
    let mut set = QUIET
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if quiet {
        set.insert(name);
    } else {
        set.remove(&name);
    }
}

/// Install (once) a panic hook that is silent on a quiet thread and the default
/// hook everywhere else.
fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !quiet_here() {
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
    let mut seen = Summary::default();
    for (name, data) in corpus(CORPUS) {
        seen.absorb(&replay(&name, &data));
    }
    eprintln!("corpus: {seen:#?}");
}

#[test]
fn artifacts_replay() {
    replay_artifacts(ARTIFACTS, harness::run);
}

// ---------------------------------------------------------------------------
// The generator.
// ---------------------------------------------------------------------------

/// A header biased toward hedging that matters: delays of a few ms to a few
/// tens, one to three hedges, the allowance often unbounded, retries, time
/// limits, every kind of breaker (the breaker harness's among them) and a budget
/// now and then.
fn biased_header(rng: &mut XorShift) -> Header {
    let r = rng.next();
    let delay = if (r >> 8).is_multiple_of(4) {
        DelaySel::Quantile {
            q: (r >> 10) as u8 % 4,
            min_samples: (r >> 12) as u8 % 4,
            floor: (r >> 14) as u8 % 4,
            cap: (r >> 16) as u8 % 4,
            fallback: (r >> 18) as u8,
        }
    } else {
        DelaySel::Fixed {
            ms: (r >> 10) as u8 % 40,
        }
    };
    let hedge = HedgeSel {
        max_hedges: 1 + (r % 3) as u8,
        extra: (r >> 4) as u8 % 8,
        delay,
    };
    let t = rng.next();
    let retry = RetrySel {
        max_attempts: 1 + (t % 5) as u8,
        deadline: (t >> 4).is_multiple_of(3).then_some((t >> 8) as u8 % 60),
        timeout: (t >> 16).is_multiple_of(3).then_some((t >> 20) as u8 % 80),
        backoff: (t >> 28) as u8 % 30,
        wants_elapsed: (t >> 36).is_multiple_of(2),
    };
    let b = rng.next();
    let breaker = match b % 6 {
        0 => BreakerSel::Disabled,
        1 | 2 => BreakerSel::Consecutive {
            n: 1 + ((b >> 4) % 4) as u8,
            open_for: ((b >> 8) % 4) as u8,
        },
        3 => BreakerSel::Default,
        _ => BreakerSel::Spec(spec_header(rng)),
    };
    let u = rng.next();
    let budget = u.is_multiple_of(3).then_some(BudgetSel {
        ratio: (u >> 4) as u8 % 4,
        max: (u >> 8) as u8 % 4,
        initial: (u >> 12) as u8 % 4,
    });
    Header {
        hedge,
        retry,
        breaker,
        start: ((b >> 12) % 4) as u8,
        budget,
    }
}

/// A breaker-harness header for a breaker that changes state within
/// milliseconds (`BreakerHeader::fast_changing`).
fn spec_header(rng: &mut XorShift) -> [u8; 10] {
    BreakerHeader::fast_changing(rng.next()).bytes()
}

/// A random script item: mostly attempts (short latencies, sometimes a hang;
/// successes and failures of every kind; an operator now and then), sometimes
/// the start of the next call.
fn biased_item(rng: &mut XorShift) -> Item {
    let r = rng.next();
    if r.is_multiple_of(6) {
        return Item::NextCall(Between {
            advance: ((r >> 4) % 8) as u8,
            op: if (r >> 8).is_multiple_of(6) {
                [Op::ForceOpen, Op::Reset, Op::Reset, Op::Disable][((r >> 12) % 4) as usize]
            } else {
                Op::None
            },
        });
    }
    let kind = match (r >> 4) % 10 {
        0..=3 => Kind::Success,
        4..=6 => Kind::Retryable,
        7 => Kind::Hinted((r >> 8) as u8 % 40),
        8 => Kind::Permanent,
        _ => Kind::Ignored,
    };
    let latency = match (r >> 16) % 8 {
        0 => None,
        1 => Some(0),
        2 | 3 => Some((r >> 20) as u8 % 10),
        _ => Some((r >> 20) as u8 % 120),
    };
    Item::Attempt(Spec {
        kind,
        flip: (r >> 28).is_multiple_of(12),
        op: if (r >> 32).is_multiple_of(16) {
            [Op::ForceOpen, Op::Reset, Op::Disable][((r >> 36) % 3) as usize]
        } else {
            Op::None
        },
        latency,
    })
}

/// A generated input: three in four structured (a biased header and script,
/// now and then with a raw byte spliced in), the rest raw bytes.
fn generated(rng: &mut XorShift, i: usize) -> Vec<u8> {
    if i % 4 == 3 {
        return (0..rng.next() % 120).map(|_| rng.next() as u8).collect();
    }
    let header = biased_header(rng);
    let items: Vec<Item> = (0..rng.next() % 48).map(|_| biased_item(rng)).collect();
    let mut data = encode(&header, &items);
    if rng.next().is_multiple_of(8) {
        let at = (rng.next() as usize) % (data.len() + 1);
        data.insert(at, rng.next() as u8);
    }
    data
}

#[test]
fn pseudo_random_sweep() {
    const INPUTS: usize = 3_000;
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut seen = Summary::default();
    let mut failures: BTreeMap<String, (usize, usize, Vec<u8>, String)> = BTreeMap::new();
    install_quiet_hook();
    set_quiet(true);
    for i in 0..INPUTS {
        let data = generated(&mut rng, i);
        match catch_unwind(AssertUnwindSafe(|| harness::run_with_summary(&data))) {
            Ok(summary) => seen.absorb(&summary),
            Err(panic) => {
                // Keep going, and report every kind of failure at the end, each
                // by its shortest input.
                let msg = panic_message(&*panic).to_owned();
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
                    .or_insert((0, i, data.clone(), msg.clone()));
                entry.0 += 1;
                if data.len() < entry.2.len() {
                    *entry = (entry.0, i, data, msg);
                }
            }
        }
    }
    set_quiet(false);
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
    // The sweep must keep reaching every rule of hedging, or it has silently
    // stopped testing much.
    let s = &seen;
    let stop = |name: &str| s.stops.get(name).copied().unwrap_or(0) > 0;
    for (what, reached) in [
        ("hedges", s.hedges > 500),
        ("hedges that won", s.hedge_wins > 50),
        ("losers cancelled", s.cancelled > 50),
        ("cuts by the deadline", s.deadline_cuts > 0),
        ("cuts by the attempt timeout", s.timeout_cuts > 0),
        ("hedges refused by the breaker", s.refused_by_breaker > 0),
        (
            "hedges refused by the allowance",
            s.refused_by_allowance > 0,
        ),
        ("hedges refused by the budget", s.refused_by_budget > 0),
        ("hedges capped by max_attempts", s.capped_by_attempts > 0),
        ("quantile delays", s.quantile_delays > 0),
        ("hedged calls that retried", s.hedged_then_retried > 0),
        (
            "hedged calls refused at a retry's start",
            s.hedged_then_refused_at_begin > 0,
        ),
        ("ties", s.ties > 100),
        (
            "answers beating another attempt's cut",
            s.answer_beats_cut > 0,
        ),
        ("attempts ready at their limit", s.ready_at_limit > 0),
        ("the time-limit timer set again", s.cut_rearms > 0),
        (
            "deadline cuts of an attempt above the lowest slot",
            s.deadline_cut_not_lowest > 0,
        ),
        ("hedges settled", s.settled > 100),
        ("attempts answering at once", s.at_once > 100),
        (
            "at-once successes under a quantile policy",
            s.at_once_successes > 0,
        ),
        ("stale reports", s.stale_reports > 0),
        ("slow attempts", s.slow_attempts > 0),
        ("operator acts", s.operator_acts > 0),
        ("invalid breakers", s.invalid_breakers > 0),
        ("Succeeded", stop("succeeded")),
        ("Exhausted", stop("exhausted")),
        ("Permanent", stop("permanent")),
        ("Ignored", stop("ignored")),
        ("Rejected", stop("rejected")),
        ("RejectedMidCall", stop("rejected_mid_call")),
        ("DeadlineExceeded", stop("deadline_exceeded")),
        ("BudgetExhausted", stop("budget_exhausted")),
    ] {
        assert!(reached, "the sweep never reached: {what}; {seen:#?}");
    }
    use MState::*;
    for (from, to) in [
        (Closed, Open),
        (Open, HalfOpen),
        (HalfOpen, Closed),
        (HalfOpen, Open),
        (Closed, ForcedOpen),
        (Closed, Disabled),
        (Disabled, Closed),
        (ForcedOpen, Closed),
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

/// A header: `Hedge::after(delay_ms)` with `max_hedges`, an unbounded
/// allowance, `max_attempts`, a 10 ms constant backoff, no time limits, a
/// breaker that never trips (disabled only where asked), no budget.
fn header(delay_ms: u8, max_hedges: u8, max_attempts: u8) -> Header {
    Header {
        hedge: HedgeSel {
            max_hedges,
            extra: 1,
            delay: DelaySel::Fixed { ms: delay_ms - 1 },
        },
        retry: RetrySel {
            max_attempts,
            deadline: None,
            timeout: None,
            backoff: 10,
            wants_elapsed: false,
        },
        breaker: BreakerSel::Default,
        start: 0,
        budget: None,
    }
}

fn ok(latency: u8) -> Item {
    attempt(Kind::Success, Some(latency))
}

fn fail(latency: u8) -> Item {
    attempt(Kind::Retryable, Some(latency))
}

fn hang() -> Item {
    attempt(Kind::Success, None)
}

fn attempt(kind: Kind, latency: Option<u8>) -> Item {
    Item::Attempt(Spec {
        kind,
        flip: false,
        op: Op::None,
        latency,
    })
}

fn next_call() -> Item {
    Item::NextCall(Between {
        advance: 0,
        op: Op::None,
    })
}

/// A hand-written scenario: its file name, header and script, and what it must
/// reach (checked on its summary, so that a seed keeps covering its case).
struct Scenario {
    name: &'static str,
    header: Header,
    items: Vec<Item>,
    reaches: fn(&Summary) -> bool,
}

fn stops(s: &Summary, stop: &str) -> u64 {
    s.stops.get(stop).copied().unwrap_or(0)
}

/// The hand-written scenarios.
fn scenarios() -> Vec<Scenario> {
    let mut v = Vec::new();
    let mut push = |name, header, items, reaches: fn(&Summary) -> bool| {
        v.push(Scenario {
            name,
            header,
            items,
            reaches,
        })
    };
    // A slow primary loses to the hedge; the primary is cancelled.
    push(
        "seed-hedge-wins",
        header(100, 1, 3),
        vec![ok(250), ok(5)],
        |s| (s.hedges, s.hedge_wins, s.cancelled) == (1, 1, 1),
    );
    // A fast primary: no hedge.
    push("seed-no-hedge", header(100, 1, 3), vec![ok(99)], |s| {
        s.hedges == 0 && stops(s, "succeeded") == 1
    });
    // Three hedges 20 ms apart; the second one wins, three attempts cancelled.
    push(
        "seed-three-hedges",
        header(20, 3, 5),
        vec![hang(), hang(), ok(30), hang()],
        |s| (s.hedges, s.hedge_wins, s.cancelled) == (3, 1, 3),
    );
    // Hedges count toward max_attempts: two attempts, one hedge.
    push(
        "seed-max-attempts",
        header(10, 3, 2),
        vec![ok(100), ok(100)],
        |s| s.hedges == 1 && s.capped_by_attempts == 1,
    );
    // A hedge fails while the primary is in flight; the primary decides.
    push(
        "seed-failure-waits",
        header(10, 1, 3),
        vec![ok(50), fail(5)],
        |s| (s.hedges, s.hedge_wins, s.cancelled) == (1, 0, 0) && stops(s, "succeeded") == 1,
    );
    // Both fail: the round retries after its backoff, and hedges again; the
    // call's second hedge wins.
    push(
        "seed-round-retries",
        header(10, 2, 5),
        vec![fail(15), fail(10), ok(30), ok(5)],
        |s| (s.hedges, s.hedge_wins, s.hedged_then_retried) == (2, 1, 1),
    );
    // An attempt completing exactly when the hedge is due: no hedge.
    push("seed-tie-at-delay", header(10, 1, 3), vec![ok(10)], |s| {
        s.hedges == 0 && s.ties == 1
    });
    // A hedge and its primary complete at the same instant: the primary (slot
    // 0) wins, the hedge is cancelled.
    push(
        "seed-tie-two-answers",
        header(10, 1, 3),
        vec![ok(20), ok(10)],
        |s| (s.hedges, s.hedge_wins, s.cancelled) == (1, 0, 1) && s.ties >= 1,
    );
    // The deadline cuts the primary and cancels the hedge.
    let mut h = header(25, 1, 3);
    h.retry.deadline = Some(25); // 101 ms
    push("seed-deadline-cut", h, vec![hang(), hang()], |s| {
        (s.hedges, s.deadline_cuts, s.cancelled) == (1, 1, 1)
    });
    // The attempt timeout cuts the primary; the hedge goes on and wins.
    let mut h = header(10, 1, 3);
    h.retry.timeout = Some(29); // 30 ms
    push("seed-timeout-cut", h, vec![hang(), ok(25)], |s| {
        (s.timeout_cuts, s.hedge_wins) == (1, 1)
    });
    // An attempt ready at its limit is not cut.
    let mut h = header(50, 1, 3);
    h.retry.timeout = Some(29);
    push("seed-ready-at-limit", h, vec![ok(30)], |s| {
        s.timeout_cuts == 0 && stops(s, "succeeded") == 1 && s.ties == 1
    });
    // A budget with no token: the hedge is refused, its allowance given back.
    let mut h = header(10, 1, 3);
    h.budget = Some(BudgetSel {
        ratio: 3,
        max: 0,
        initial: 0,
    });
    push("seed-budget-refuses", h, vec![ok(50)], |s| {
        (s.hedges, s.refused_by_budget) == (0, 1)
    });
    // The default allowance (10 banked, 5 % a call): slow calls (every attempt
    // hangs an hour, every byte 0x80, so the script reads the same whether a
    // call hedged or not) hedge ten times, then the allowance refuses.
    let mut h = header(5, 1, 2);
    h.hedge.extra = 0;
    push("seed-allowance-runs-out", h, vec![hang(); 40], |s| {
        s.hedges == 10 && s.refused_by_allowance >= 1
    });
    // A budget that has a token every other call (ratio 0.5, max 1): every
    // other hedge is refused by it and gives its allowance back, so the default
    // allowance lasts twice as many calls as it would if the refused ones kept
    // theirs.
    let mut h = header(5, 1, 2);
    h.hedge.extra = 0;
    h.budget = Some(BudgetSel {
        ratio: 1,
        max: 0,
        initial: 0,
    });
    push("seed-allowance-refunded", h, vec![hang(); 72], |s| {
        s.hedges >= 10 && s.refused_by_budget >= 10
    });
    // A breaker that trips on the first failure: the hedge in flight then
    // reports stale, and the retry is refused.
    let mut h = header(10, 1, 3);
    h.breaker = BreakerSel::Consecutive { n: 1, open_for: 3 };
    push("seed-trip-mid-round", h, vec![fail(15), fail(30)], |s| {
        s.stale_reports == 1
            && stops(s, "rejected_mid_call") == 1
            && s.saw(MState::Closed, MState::Open)
    });
    // A disabled breaker: no hedge.
    let mut h = header(10, 1, 3);
    h.breaker = BreakerSel::Disabled;
    push("seed-disabled-no-hedge", h, vec![ok(50)], |s| {
        (s.hedges, s.refused_by_breaker) == (0, 1)
    });
    // A quantile policy learning 40 ms successes, then hedging a slow call.
    let mut h = header(10, 1, 3);
    h.hedge.delay = DelaySel::Quantile {
        q: 0,
        min_samples: 2,
        floor: 0,
        cap: 2,
        fallback: 0,
    };
    let mut script = Vec::new();
    for _ in 0..4 {
        script.extend([ok(40), next_call()]);
    }
    script.extend([hang(), ok(40)]);
    push("seed-quantile", h, script, |s| {
        s.quantile_delays >= 1 && s.hedge_wins == 1
    });
    // Force-opened as the hedge fails: its report and the primary's are stale,
    // the retry refused.
    push(
        "seed-force-open-mid-round",
        header(10, 1, 3),
        vec![
            fail(40),
            Item::Attempt(Spec {
                kind: Kind::Retryable,
                flip: false,
                op: Op::ForceOpen,
                latency: Some(5),
            }),
        ],
        |s| s.stale_reports == 2 && stops(s, "rejected_mid_call") == 1,
    );
    // Finding H1's witness, now a regression input: a hedged round fails, the
    // retry succeeds; `HedgesSettled` is told once, before `CallStopped`.
    push(
        "seed-h1-settled-per-round",
        header(10, 1, 3),
        vec![fail(20), fail(20), ok(1)],
        |s| (s.hedges, s.hedged_then_retried, s.settled) == (1, 1, 1),
    );
    // Finding H2's witness, now a regression input: a breaker with a slow-call
    // threshold (the breaker harness's header, slow_call 1: 1 ms) times every
    // attempt, so the classifier is given the elapsed time (`classify_timed`),
    // hedged or not.
    let mut h = header(10, 1, 3);
    h.breaker = BreakerSel::Spec(
        BreakerHeader {
            slow_call: 1,
            ..BreakerHeader::consecutive(3)
        }
        .bytes(),
    );
    push("seed-h2-untimed-classify", h, vec![ok(50), ok(5)], |s| {
        s.slow_attempts >= 1 && s.hedge_wins == 1
    });
    // The tie rule of the one time-limit timer: the hedge answers at the very
    // instant the primary's limit ends (30 ms). Every attempt is polled before
    // the timer, so the hedge wins and the primary is cancelled, not cut.
    let mut h = header(10, 1, 3);
    h.retry.timeout = Some(29); // 30 ms
    push("seed-tie-answer-beats-cut", h, vec![hang(), ok(20)], |s| {
        (
            s.hedge_wins,
            s.timeout_cuts,
            s.cancelled,
            s.answer_beats_cut,
        ) == (1, 0, 1, 1)
    });
    // The timer set again: the primary (the timer's attempt) fails at 15 ms with
    // the hedge in flight, so the timer is set again, from then, for the
    // hedge's limit (40 ms), which cuts it; the round fails with the primary's
    // result, the retry succeeds.
    let mut h = header(10, 1, 3);
    h.retry.timeout = Some(29); // 30 ms
    push("seed-cut-rearmed", h, vec![fail(15), hang(), ok(1)], |s| {
        (
            s.cut_rearms,
            s.timeout_cuts,
            s.hedged_then_retried,
            s.settled,
        ) == (1, 1, 1, 1)
    });
    // With a deadline every limit ends at one instant: the primary fails at 15
    // ms, the timer is set again for the first hedge (slot 1); the second hedge
    // takes the freed slot 0. At the deadline (41 ms) the timer cuts the first
    // hedge, the one it was set for, not the lowest slot; the second hedge is
    // cancelled.
    let mut h = header(10, 2, 5);
    h.retry.deadline = Some(10); // 41 ms
    push(
        "seed-deadline-cut-rearmed",
        h,
        vec![fail(15), hang(), hang()],
        |s| {
            (
                s.deadline_cut_not_lowest,
                s.cut_rearms,
                s.cancelled,
                s.settled,
            ) == (1, 1, 1, 1)
                && stops(s, "deadline_exceeded") == 1
        },
    );
    // Settled once per call, over every round: a hedged round fails and
    // retries, the retry hedges too and the deadline cuts it. One
    // `HedgesSettled { sent: 2, won: false, cancelled: 1 }`, before
    // `CallStopped(DeadlineExceeded)`.
    let mut h = header(10, 2, 5);
    h.retry.deadline = Some(20); // 81 ms
    push(
        "seed-settled-once",
        h,
        vec![fail(15), fail(10), hang(), hang()],
        |s| {
            (s.hedges, s.hedged_then_retried, s.settled, s.cancelled) == (2, 1, 1, 1)
                && s.deadline_cuts == 1
        },
    );
    // At-once successes under a quantile policy (q 0.5, one sample, floor 1 ms,
    // cap 101 ms, no fallback: the cap). A timed 40 ms success gives the
    // histogram a period; fifteen calls whose attempt answers at its first poll
    // (no time read) tick the countdown without a count, so the next slow call
    // hedges at the 40 ms bucket's upper end (41.9 ms; its hedge wins in 5 ms);
    // the sixteenth at-once success is counted, weighted 16, in the lowest
    // bucket, so the last call hedges at the floor (1 ms).
    let mut h = header(10, 1, 3);
    h.hedge.delay = DelaySel::Quantile {
        q: 0,
        min_samples: 0,
        floor: 0,
        cap: 2,
        fallback: 0,
    };
    let mut script = vec![ok(40), next_call()];
    for _ in 0..15 {
        script.extend([ok(0), next_call()]);
    }
    script.extend([
        hang(),
        ok(5),
        next_call(),
        ok(0),
        next_call(),
        hang(),
        ok(5),
    ]);
    push("seed-at-once-counted", h, script, |s| {
        (s.at_once_successes, s.at_once_counted, s.hedge_wins) == (16, 1, 2)
            && s.quantile_delays >= 2
    });
    v
}

/// Inputs kept as bytes: (file name, bytes). `regress-h1-settled-after-stop`:
/// a raw input from the sweep (a quantile policy, a breaker-harness breaker with
/// graded admission, a budget) whose hedged round fails and whose retry is shed
/// at its start. It was finding H1's second form (`HedgesSettled` told after
/// `CallStopped`); now a regression input: told once, before it.
const RAW_SEEDS: [(&str, &[u8]); 1] = [(
    "regress-h1-settled-after-stop",
    &[
        0xf3, 0x9a, 0xd4, 0x43, 0x55, 0x8c, 0xbf, 0xcd, 0x05, 0xe2, 0xe2, 0xb5, 0xe0, 0x14, 0x8c,
        0xae, 0x96, 0xeb, 0x8a, 0x39, 0xdf, 0xee, 0xc9, 0x03, 0x0e, 0x69, 0xd4,
    ],
)];

#[test]
fn seeds() {
    for (name, data) in RAW_SEEDS {
        let summary = replay(name, data);
        assert!(
            summary.hedged_then_refused_at_begin > 0 && summary.settled == 1,
            "{name}: {summary:#?}"
        );
        write_or_check_seed(CORPUS, name, data, TEST);
    }
    for sc in scenarios() {
        let data = encode(&sc.header, &sc.items);
        let summary = replay(sc.name, &data);
        assert!(
            (sc.reaches)(&summary),
            "{} no longer reaches its case: {summary:#?}",
            sc.name
        );
        write_or_check_seed(CORPUS, sc.name, &data, TEST);
    }
    // Generated seeds: the first structured inputs of a sweep of their own.
    let mut rng = XorShift(0x05ee_d0f4_ed9e);
    for i in 0..24 {
        let data = generated(&mut rng, i * 4);
        let name = format!("gen-{i:02}");
        replay(&name, &data);
        write_or_check_seed(CORPUS, &name, &data, TEST);
    }
}
