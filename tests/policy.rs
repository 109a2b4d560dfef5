//! The breaker's time-following, graded policy, through the public API: health
//! decays with time (half-life), admission is graded below `shed_below`, and a slow
//! success counts as a failure (`slow_call`, `Permit::record_timed`).
//!
//! Every test sets the settings it depends on explicitly (not the defaults), on a
//! `ManualClock`.

use fusebox::{Breaker, BreakerBuilder, ManualClock, Verdict};
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

/// `health(alpha, threshold, 1)` with a half-life of 64 ms (ticks of exactly 1 ms),
/// graded admission off, on `clock`.
fn manual(clock: &ManualClock, alpha: f64, threshold: f64) -> BreakerBuilder {
    Breaker::builder()
        .health(alpha, threshold, 1)
        .half_life(64 * MS)
        .shed_below(0.0)
        .open_jitter(0.0)
        .jitter_seed(7)
        .clock(clock.clone())
}

fn fail(b: &Breaker) {
    let _ = b
        .try_acquire()
        .expect("admitted")
        .record(Verdict::failure());
}

fn health(b: &Breaker) -> f64 {
    b.snapshot().health.expect("a measuring state")
}

/// The decay mark lives in the 42-bit field of the mark word, so time in ticks
/// stops at 2^42 - 1: past it, an interval is never claimed twice and a failure is
/// not forgotten at once. (With 1 ms ticks that is 139 years after the breaker was
/// built; when every report past the end claimed `now - end` ticks again, from a
/// mark that could not move, a failure there was forgotten at once.)
#[test]
fn decay_time_stops_at_the_end_of_the_mark_range() {
    // The same failures at one instant near the start: no decay between them.
    let reference = |failures: usize| {
        let clock = ManualClock::new();
        let b = manual(&clock, 0.5, 0.1).build().unwrap();
        for _ in 0..failures {
            fail(&b);
        }
        health(&b)
    };
    let clock = ManualClock::new();
    let b = manual(&clock, 0.5, 0.1).build().unwrap();
    clock.set(Duration::from_millis(1 << 43));
    fail(&b);
    assert_eq!(
        health(&b),
        reference(1),
        "no time has passed since the failure"
    );
    fail(&b);
    assert_eq!(
        health(&b),
        reference(2),
        "two failures at one instant, no decay between"
    );
    // Time has stopped for decay: it never brings health back.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(health(&b), reference(2));
    // Up to the end of the range time still runs: a half-life ending at the last
    // tick decays a failure as it does near the start.
    let after_a_half_life = |at: Duration| {
        let clock = ManualClock::new();
        let b = manual(&clock, 0.5, 0.1).build().unwrap();
        clock.set(at);
        fail(&b);
        clock.advance(64 * MS);
        let h = health(&b);
        clock.advance(Duration::from_secs(3600));
        (h, health(&b))
    };
    let (near_start, later) = after_a_half_life(Duration::ZERO);
    assert!(near_start > reference(1) && near_start < 1.0 && later == 1.0);
    let (at_the_end, later) = after_a_half_life(Duration::from_millis((1 << 42) - 1 - 64));
    assert_eq!(at_the_end, near_start);
    assert_eq!(later, at_the_end, "then time stops");
}

/// `disable()` from a degraded `Closed` breaker carries health that goes on
/// decaying from where it was: right after the call it is the health as it is
/// *now*, decayed by the time since the last report, never the stored value, and
/// it keeps decaying in `Disabled` exactly as in `Closed`. (Before the fix, two
/// failures, 30 half-lives of quiet and `disable()` left health at the stored
/// 0.25 (0.758 in the review's settings) for good, below the real value.)
#[test]
fn disable_carries_the_decayed_health() {
    let clock = ManualClock::new();
    let b = manual(&clock, 0.5, 0.01).build().unwrap();
    fail(&b);
    fail(&b);
    assert_eq!(health(&b), 0.2500002384188065);
    clock.advance(30 * 64 * MS);
    assert_eq!(health(&b), 1.0, "time has healed it");
    let t = b.disable().expect("closed -> disabled");
    assert_eq!(t.epoch, 1);
    assert_eq!(health(&b), 1.0, "disable carries the decayed health");
    assert_eq!(b.snapshot().samples, 0);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(health(&b), 1.0);

    // Part of the way: the carried health is the decayed one, and it goes on
    // decaying from the instant of the `disable()`, exactly as it would have in
    // `Closed`.
    let reference = |clock: &ManualClock| {
        let b = manual(clock, 0.5, 0.01).build().unwrap();
        fail(&b);
        fail(&b);
        b
    };
    let clock = ManualClock::new();
    let closed = reference(&clock);
    let disabled = reference(&clock);
    clock.advance(64 * MS);
    let before = health(&closed);
    assert!(before > 0.25 && before < 1.0, "{before}");
    disabled.disable().expect("closed -> disabled");
    assert_eq!(health(&disabled), before);
    clock.advance(64 * MS);
    assert_eq!(health(&disabled), health(&closed));
    assert!(health(&disabled) > before);
}

/// `reset()` compares the decayed word: a breaker that time alone has brought back
/// to full health with no samples is already what `reset()` makes, so it changes
/// nothing: no transition, no epoch, and permits out stay valid. (Before the fix
/// it compared the stored word, transitioned, and turned in-flight permits stale.)
#[test]
fn reset_after_a_quiet_recovery_is_a_no_op() {
    let clock = ManualClock::new();
    let b = manual(&clock, 0.5, 0.01).build().unwrap();
    fail(&b);
    clock.advance(30 * 64 * MS);
    let s = b.snapshot();
    assert_eq!((s.health, s.samples, s.epoch), (Some(1.0), 0, 0));
    let permit = b.try_acquire().expect("closed");
    assert_eq!(b.reset(), None, "nothing to reset");
    assert_eq!(b.snapshot().epoch, 0);
    assert!(
        !permit.record(Verdict::failure()).is_stale(),
        "the permit stays valid"
    );
    // A fresh failure is something to reset.
    let t = b.reset().expect("degraded -> reset");
    assert_eq!(t.epoch, 1);
    assert_eq!(b.reset(), None);
}

/// Samples count the attempts of the current spell below full health. When time
/// alone brings health back to full, the spell is over: the next failure starts a
/// new one with one sample, and does not inherit the old spell's count (before the
/// fix it did, so with `min_samples` 5 a single failure after a quiet recovery
/// tripped the breaker, although the snapshot just before showed 0 samples).
#[test]
fn a_spell_ended_by_time_leaves_no_samples() {
    let clock = ManualClock::new();
    let b = Breaker::builder()
        .health(0.9, 0.5, 5)
        .half_life(64 * MS)
        .shed_below(0.0)
        .open_jitter(0.0)
        .clock(clock.clone())
        .build()
        .unwrap();
    for _ in 0..4 {
        fail(&b);
    }
    assert_eq!(
        b.snapshot().samples,
        4,
        "below the threshold, but 4 samples of 5"
    );
    clock.advance(21 * 64 * MS);
    let s = b.snapshot();
    assert_eq!(
        (s.health, s.samples),
        (Some(1.0), 0),
        "time ended the spell"
    );
    let r = b.try_acquire().unwrap().record(Verdict::failure());
    assert_eq!(
        r.transition(),
        None,
        "one failure of a new spell does not trip"
    );
    let s = b.snapshot();
    assert_eq!(s.samples, 1);
    assert!(
        s.health.unwrap() < 0.5,
        "health is below the threshold: only samples hold the trip"
    );
}

/// Health 1.0 in the breaker's fixed point (20 bits).
const FULL: u64 = (1 << 20) - 1;

/// The snapshot's health in fixed-point units (exact: health is `units / FULL`).
fn units(b: &Breaker) -> u64 {
    let units = (health(b) * FULL as f64).round();
    assert_eq!(
        units / FULL as f64,
        health(b),
        "health is a whole number of units"
    );
    units as u64
}

/// With no reports the gap to full health halves every half-life, exactly (the
/// decay table's first entry is 2^32: whole half-lives are plain shifts), and is
/// gone after at most 21 half-lives; samples go with it. Checked on a half-life of
/// 64 ms (1 ms ticks) and of 100 ms (ticks of 1.5625 ms: the half-life is still 64
/// whole ticks).
#[test]
fn decay_halves_the_gap_every_half_life_and_restores_full_health() {
    for half_life in [64 * MS, 100 * MS, Duration::from_secs(5)] {
        let clock = ManualClock::new();
        let b = manual(&clock, 0.5, 0.01)
            .half_life(half_life)
            .build()
            .unwrap();
        assert_eq!(b.half_life(), half_life);
        for _ in 0..3 {
            fail(&b);
        }
        let gap = FULL - units(&b);
        assert!(gap > FULL / 2, "three failures of alpha 0.5: {gap}");
        let mut k = 0;
        while k <= 21 {
            assert_eq!(
                FULL - units(&b),
                gap >> k,
                "after {k} half-lives ({half_life:?})"
            );
            if units(&b) == FULL {
                break;
            }
            assert_eq!(b.snapshot().samples, 1, "decay does not change samples");
            clock.advance(half_life);
            k += 1;
        }
        assert!(k <= 21, "full within 21 half-lives, took {k}");
        assert_eq!((b.snapshot().health, b.snapshot().samples), (Some(1.0), 0));
    }
}

/// Decay between reports is applied once, by the next report, and a report does
/// not change what time does afterwards: a failure, half a half-life, an ignored
/// report (which stores the decayed health), half a half-life more, is a failure
/// and one half-life with no report in between.
#[test]
fn a_report_stores_the_decay_and_claims_it_once() {
    let run = |report_between: bool| {
        let clock = ManualClock::new();
        let b = manual(&clock, 0.5, 0.01).build().unwrap();
        fail(&b);
        let after_failure = units(&b);
        clock.advance(32 * MS);
        if report_between {
            let before = units(&b);
            let _ = b.try_acquire().unwrap().record(Verdict::Ignored);
            assert_eq!(
                units(&b),
                before,
                "the report stored what the snapshot showed"
            );
            assert!(before > after_failure);
        }
        clock.advance(32 * MS);
        units(&b)
    };
    let (quiet, reported) = (run(false), run(true));
    // Two half steps of the table (D[32] twice) round the gap down twice, so the
    // stored decay may be a unit ahead of one whole half-life, never behind it.
    assert!(
        reported >= quiet && reported - quiet <= 1,
        "{quiet} {reported}"
    );
    // The same instant twice: the second report claims nothing.
    let clock = ManualClock::new();
    let b = manual(&clock, 0.5, 0.01).build().unwrap();
    fail(&b);
    clock.advance(64 * MS);
    let _ = b.try_acquire().unwrap().record(Verdict::Ignored);
    let once = units(&b);
    let _ = b.try_acquire().unwrap().record(Verdict::Ignored);
    assert_eq!(units(&b), once, "no tick passed: nothing more to claim");
}

/// A breaker for graded admission: `health(0.5, 0.01, min_samples)`, grading below
/// `shed_below`, at least `min_admit`, a half-life far longer than the test (the
/// clock does not move anyway), draws seeded.
fn graded(clock: &ManualClock, shed_below: f64, min_admit: f64, min_samples: u32) -> Breaker {
    Breaker::builder()
        .health(0.5, 0.01, min_samples)
        .half_life(Duration::from_secs(86_400))
        .shed_below(shed_below)
        .min_admit(min_admit)
        .open_jitter(0.0)
        .jitter_seed(0x00C0_FFEE)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Acquire until admitted (graded admission may shed), then record a failure.
fn fail_admitted(b: &Breaker) {
    for _ in 0..100_000 {
        if let Ok(permit) = b.try_acquire() {
            let _ = permit.record(Verdict::failure());
            return;
        }
    }
    panic!("never admitted: {:?}", b.snapshot());
}

/// The fraction of `n` acquires admitted (the permits are dropped: in `Closed`
/// that changes nothing).
fn admitted_fraction(b: &Breaker, n: u32) -> f64 {
    let mut admitted = 0;
    for _ in 0..n {
        match b.try_acquire() {
            Ok(permit) => {
                admitted += 1;
                drop(permit);
            }
            Err(rejected) => {
                assert_eq!(rejected, fusebox::Rejected::Shed);
                assert_eq!(rejected.retry_after(), None);
            }
        }
    }
    f64::from(admitted) / f64::from(n)
}

/// Below `shed_below`, attempts are admitted with chance `health / shed_below`,
/// never less than `min_admit`: over 10 000 acquires the fraction is within 2 % of
/// it (the draws are deterministic for a seed; the bound is about four standard
/// deviations). At or above the line, everything is admitted.
#[test]
fn graded_admission_admits_health_over_shed_below_and_at_least_min_admit() {
    let clock = ManualClock::new();
    let b = graded(&clock, 0.9, 0.05, 1);
    assert_eq!(admitted_fraction(&b, 1000), 1.0, "full health");
    let mut seen_floor = false;
    // Six failures of alpha 0.5 leave 1/64 (a seventh would trip, at 0.01).
    for failures in 1..=6 {
        fail_admitted(&b);
        let s = b.snapshot();
        assert_eq!(
            s.state,
            fusebox::State::Closed,
            "{failures} failures: {s:?}"
        );
        let h = s.health.unwrap();
        let expected = (h / 0.9).max(0.05);
        seen_floor |= h / 0.9 < 0.05;
        let got = admitted_fraction(&b, 10_000);
        assert!(
            (got - expected).abs() <= 0.02,
            "health {h}: admitted {got}, expected {expected}"
        );
        assert_eq!(b.snapshot(), s, "admission changes no state");
    }
    assert!(seen_floor, "the floor was exercised");
    // A higher floor holds as well.
    let b = graded(&clock, 0.9, 0.3, 1);
    for _ in 0..6 {
        fail_admitted(&b);
    }
    assert!(b.snapshot().health.unwrap() / 0.9 < 0.3);
    let got = admitted_fraction(&b, 10_000);
    assert!((got - 0.3).abs() <= 0.02, "floor 0.3: admitted {got}");
    // At the line, no grading: 0.5 of a line at 0.5.
    let b = graded(&clock, 0.5, 0.05, 1);
    fail_admitted(&b);
    assert!(b.snapshot().health.unwrap() >= 0.5);
    assert_eq!(admitted_fraction(&b, 1000), 1.0);
    // Graded admission off: never shed, whatever the health.
    let b = graded(&clock, 0.0, 0.05, 1);
    for _ in 0..6 {
        fail_admitted(&b);
    }
    assert_eq!(admitted_fraction(&b, 1000), 1.0);
}

/// Time raises the admission chance too: the read-only decay of `try_acquire`
/// sees the health the next report would store.
#[test]
fn graded_admission_follows_decayed_health() {
    let clock = ManualClock::new();
    let b = Breaker::builder()
        .health(0.5, 0.01, 1)
        .half_life(64 * MS)
        .shed_below(0.9)
        .min_admit(0.05)
        .jitter_seed(3)
        .clock(clock.clone())
        .build()
        .unwrap();
    for _ in 0..4 {
        fail_admitted(&b);
    }
    let low = admitted_fraction(&b, 10_000);
    assert!(low < 0.1, "{low}");
    clock.advance(64 * MS);
    let h = b.snapshot().health.unwrap();
    let got = admitted_fraction(&b, 10_000);
    assert!((got - h / 0.9).abs() <= 0.02, "health {h}: admitted {got}");
    clock.advance(4 * 64 * MS);
    assert!(b.snapshot().health.unwrap() >= 0.9);
    assert_eq!(admitted_fraction(&b, 1000), 1.0);
}

/// `Disabled` measures but never sheds, whatever its health.
#[test]
fn disabled_never_sheds() {
    let clock = ManualClock::new();
    let b = graded(&clock, 0.9, 0.05, 1);
    for _ in 0..6 {
        fail_admitted(&b);
    }
    assert!(
        admitted_fraction(&b, 1000) < 0.2,
        "closed at this health sheds"
    );
    let low = b.snapshot().health;
    let t = b.disable().expect("closed -> disabled");
    assert_eq!(t.to, fusebox::State::Disabled);
    assert_eq!(b.snapshot().health, low, "health carries over");
    assert_eq!(admitted_fraction(&b, 10_000), 1.0);
    // More failures in Disabled: still never shed (and never trip).
    for _ in 0..20 {
        fail_admitted(&b);
    }
    assert_eq!(b.snapshot().state, fusebox::State::Disabled);
    assert_eq!(admitted_fraction(&b, 10_000), 1.0);
}

/// Shedding needs `min_samples` attempts in the current spell below full health:
/// fewer, and everything is admitted however low health is.
#[test]
fn shedding_needs_min_samples() {
    let clock = ManualClock::new();
    let b = Breaker::builder()
        .health(0.9, 0.01, 5)
        .half_life(Duration::from_secs(86_400))
        .shed_below(0.9)
        .min_admit(0.05)
        .jitter_seed(11)
        .clock(clock.clone())
        .build()
        .unwrap();
    for n in 1..5 {
        let _ = b
            .try_acquire()
            .expect("under min_samples")
            .record(Verdict::failure());
        let s = b.snapshot();
        assert_eq!(s.samples, n);
        assert!(s.health.unwrap() < 0.9, "below the line: {s:?}");
        assert_eq!(admitted_fraction(&b, 1000), 1.0, "{n} samples of 5");
    }
    let _ = b
        .try_acquire()
        .expect("under min_samples")
        .record(Verdict::Success);
    assert_eq!(b.snapshot().samples, 5);
    let got = admitted_fraction(&b, 10_000);
    let expected = (b.snapshot().health.unwrap() / 0.9).max(0.05);
    assert!((got - expected).abs() <= 0.02, "{got} {expected}");
}

/// `slow_call(threshold, weight)`: a timed success slower than the threshold is a
/// failure of that weight; at the threshold or faster it is a success; timed
/// failures and ignored reports are unchanged; without a threshold,
/// `record_timed` is `record`.
#[test]
fn slow_call_turns_a_slow_success_into_a_failure() {
    let build = |slow: Option<(Duration, f64)>| {
        let b = manual(&ManualClock::new(), 0.5, 0.01);
        match slow {
            Some((threshold, weight)) => b.slow_call(threshold, weight),
            None => b,
        }
        .build()
        .unwrap()
    };
    let limit = 10 * MS;
    let half = {
        let b = build(None);
        let _ = b
            .try_acquire()
            .unwrap()
            .record(Verdict::Failure { weight: 0.5 });
        b.snapshot()
    };
    let timed = |verdict: Verdict, elapsed: Duration| {
        let b = build(Some((limit, 0.5)));
        let r = b.try_acquire().unwrap().record_timed(verdict, elapsed);
        assert_eq!(r.transition(), None);
        b.snapshot()
    };
    let full = build(None).snapshot();
    assert_eq!(
        timed(Verdict::Success, limit + Duration::from_nanos(1)),
        half
    );
    assert_eq!(timed(Verdict::Success, Duration::MAX), half);
    assert_eq!(
        timed(Verdict::Success, limit),
        full,
        "at the threshold: fast enough"
    );
    assert_eq!(timed(Verdict::Success, Duration::ZERO), full);
    assert_eq!(timed(Verdict::Ignored, Duration::MAX), full);
    assert_eq!(
        timed(Verdict::Failure { weight: 0.5 }, Duration::ZERO),
        half,
        "a fast failure is still a failure"
    );
    // Without a threshold nothing is slow.
    let b = build(None);
    let _ = b
        .try_acquire()
        .unwrap()
        .record_timed(Verdict::Success, Duration::MAX);
    assert_eq!(b.snapshot(), full);
}

/// A slow probe success is a probe failure: it re-opens.
#[test]
fn a_slow_probe_success_reopens() {
    let clock = ManualClock::new();
    let b = Breaker::builder()
        .trip_after_consecutive_failures(1)
        .open_for(10 * MS)
        .open_jitter(0.0)
        .probes(1)
        .close_after(1)
        .slow_call(5 * MS, 1.0)
        .clock(clock.clone())
        .build()
        .unwrap();
    fail(&b);
    clock.advance(10 * MS);
    let t = b
        .try_acquire()
        .expect("the probe")
        .record_timed(Verdict::Success, 6 * MS)
        .transition()
        .expect("re-opens");
    assert_eq!(
        (t.from, t.to),
        (fusebox::State::HalfOpen, fusebox::State::Open)
    );
    clock.advance(t.open_for.unwrap());
    let t = b
        .try_acquire()
        .expect("the probe")
        .record_timed(Verdict::Success, 5 * MS)
        .transition()
        .expect("closes");
    assert_eq!(t.to, fusebox::State::Closed);
}

/// `Guard` measures each attempt on the breaker's clock when a slow-call threshold
/// is set (as `BreakerBuilder::slow_call` documents): a successful attempt slower
/// than the threshold is a failure for the breaker, a fast one is not. (Before the
/// fix `Guard` recorded the verdict untimed, so slow calls never counted.)
#[test]
fn guard_counts_a_slow_attempt_as_a_failure() {
    use fusebox::{Guard, ManualSleeper, Retry};
    use std::sync::Arc;
    let clock = ManualClock::new();
    let breaker = Arc::new(
        manual(&clock, 0.5, 0.01)
            .slow_call(5 * MS, 1.0)
            .build()
            .unwrap(),
    );
    let retry = Retry::builder().max_attempts(1).build().unwrap();
    let guard =
        Guard::new(Arc::clone(&breaker), retry).with_sleeper(ManualSleeper::new(clock.clone()));
    let attempt = |took: Duration| {
        let r: Result<u32, fusebox::GuardError<u32>> = guard.call(|_| {
            clock.advance(took);
            Ok(7)
        });
        assert_eq!(r.unwrap(), 7, "the caller still gets its value");
        breaker.snapshot().health.unwrap()
    };
    assert_eq!(attempt(5 * MS), 1.0, "at the threshold: a success");
    let reference = {
        let b = manual(&ManualClock::new(), 0.5, 0.01).build().unwrap();
        fail(&b);
        health(&b)
    };
    assert_eq!(attempt(6 * MS), reference, "slower: a unit failure");
}
