//! Every invalid builder value is a typed error naming the field; nothing panics.
//! Every message writes the rejected value as a configuration file does.

use fusebox::{
    Backoff, Breaker, BreakerBuilder, ConfigError, ConfigErrorKind, MAX_OPEN_PERIOD, MIN_HALF_LIFE,
    Retry, RetryBudget,
};
use std::time::Duration;

/// Whether `value` is a value a TOML file can hold (`0.5`, `nan`, `"250ms"`,
/// `{ min = 0, max = 5 }`): what a configuration file writes, not Rust's
/// `Debug` (`NaN`, `1.5ms`, `(0, 5)`, `FailureRate { rate: 0.5, .. }`).
fn is_toml_value(value: &str) -> bool {
    toml::from_str::<toml::Table>(&format!("value = {value}")).is_ok()
}

fn err(b: BreakerBuilder) -> (String, ConfigErrorKind, String) {
    let e = b.build().expect_err("must be rejected");
    assert!(is_toml_value(e.value()), "not a config value: {e}");
    (e.field().to_string(), e.kind(), e.to_string())
}

fn check(b: BreakerBuilder, field: &str, kind: ConfigErrorKind) {
    let (f, k, msg) = err(b);
    assert_eq!((f.as_str(), k), (field, kind), "{msg}");
    assert!(msg.contains(field), "message names the field: {msg}");
}

#[test]
fn defaults_build() {
    let b = Breaker::builder().build().unwrap();
    assert!(b.threshold() > 0.0 && b.threshold() < 1.0);
}

#[test]
fn tripping_errors() {
    use ConfigErrorKind::*;
    let c = "trip_after_consecutive_failures";
    check(
        Breaker::builder().trip_after_consecutive_failures(0),
        c,
        Zero,
    );
    check(
        Breaker::builder().trip_after_consecutive_failures(4096),
        c,
        OutOfRange,
    );
    check(
        Breaker::builder().trip_after_consecutive_failures(u32::MAX),
        c,
        OutOfRange,
    );
    let r = "trip_on_failure_rate";
    check(
        Breaker::builder().trip_on_failure_rate(f64::NAN, 10),
        r,
        NotANumber,
    );
    check(
        Breaker::builder().trip_on_failure_rate(f64::INFINITY, 10),
        r,
        Infinite,
    );
    check(
        Breaker::builder().trip_on_failure_rate(0.0, 10),
        r,
        OutOfRange,
    );
    check(
        Breaker::builder().trip_on_failure_rate(1.0, 10),
        r,
        OutOfRange,
    );
    check(
        Breaker::builder().trip_on_failure_rate(-0.5, 10),
        r,
        OutOfRange,
    );
    check(Breaker::builder().trip_on_failure_rate(0.5, 0), r, Zero);
    check(
        Breaker::builder().trip_on_failure_rate(0.5, 5000),
        r,
        OutOfRange,
    );
    check(
        Breaker::builder().health(f64::NAN, 0.5, 1),
        "health.alpha",
        NotANumber,
    );
    check(Breaker::builder().health(0.0, 0.5, 1), "health.alpha", Zero);
    check(
        Breaker::builder().health(-0.1, 0.5, 1),
        "health.alpha",
        OutOfRange,
    );
    check(
        Breaker::builder().health(1.5, 0.5, 1),
        "health.alpha",
        OutOfRange,
    );
    check(
        Breaker::builder().health(1e-12, 0.5, 1),
        "health.alpha",
        OutOfRange,
    );
    check(
        Breaker::builder().health(0.1, 0.0, 1),
        "health.threshold",
        OutOfRange,
    );
    check(
        Breaker::builder().health(0.1, 1.0, 1),
        "health.threshold",
        OutOfRange,
    );
    check(
        Breaker::builder().health(0.1, f64::NEG_INFINITY, 1),
        "health.threshold",
        Infinite,
    );
    check(
        Breaker::builder().health(0.1, 0.5, 4096),
        "health.min_samples",
        OutOfRange,
    );
    assert!(Breaker::builder().health(1.0, 0.5, 0).build().is_ok());
}

#[test]
fn an_alpha_too_small_for_the_20_bit_health_is_named_with_its_bound() {
    use ConfigErrorKind::*;
    // Built before, and never tripped: one failure could not move health from full.
    let e = Breaker::builder()
        .health(1e-9, 0.999, 1)
        .build()
        .unwrap_err();
    assert_eq!((e.field(), e.kind()), ("health.alpha", OutOfRange));
    assert!(e.reason().contains("2^-20"), "{e}");
    // Just above 2^-20 it moves health from full, but not from a threshold of 0.5:
    // failures could never bring health below it.
    let e = Breaker::builder()
        .health(1.5e-6, 0.5, 1)
        .build()
        .unwrap_err();
    assert_eq!((e.field(), e.kind()), ("health.alpha", OutOfRange));
    assert!(e.reason().contains("1.907e-6"), "{e}");
    // At the bound for that threshold it builds, and trips.
    let b = Breaker::builder().health(2e-6, 0.5, 1).build().unwrap();
    let mut n = 0;
    while b.snapshot().state == fusebox::State::Closed {
        let _ = b.try_acquire().unwrap().record(fusebox::Verdict::failure());
        n += 1;
        assert!(n < 1_000_000, "never tripped");
    }
    // The failure-rate convenience: a rate so close to 1 that 1 - rate is under the
    // window's resolution.
    let e = Breaker::builder()
        .trip_on_failure_rate(0.9999, 4000)
        .build()
        .unwrap_err();
    assert_eq!((e.field(), e.kind()), ("trip_on_failure_rate", OutOfRange));
}

#[test]
fn open_period_errors() {
    use ConfigErrorKind::*;
    check(
        Breaker::builder().open_for(Duration::ZERO),
        "open_for",
        Zero,
    );
    check(
        Breaker::builder().open_for(Duration::from_micros(999)),
        "open_for",
        OutOfRange,
    );
    check(
        Breaker::builder()
            .open_for(MAX_OPEN_PERIOD + Duration::from_secs(1))
            .open_cap(Duration::MAX),
        "open_for",
        OutOfRange,
    );
    check(
        Breaker::builder().open_for(Duration::MAX),
        "open_for",
        OutOfRange,
    );
    check(
        Breaker::builder().open_growth(f64::NAN),
        "open_growth",
        NotANumber,
    );
    check(
        Breaker::builder().open_growth(0.5),
        "open_growth",
        OutOfRange,
    );
    check(
        Breaker::builder().open_growth(-2.0),
        "open_growth",
        OutOfRange,
    );
    check(
        Breaker::builder().open_growth(1e6),
        "open_growth",
        OutOfRange,
    );
    check(
        Breaker::builder()
            .open_for(Duration::from_secs(10))
            .open_cap(Duration::from_secs(5)),
        "open_cap",
        Inconsistent,
    );
    check(
        Breaker::builder().open_cap(Duration::MAX),
        "open_cap",
        OutOfRange,
    );
    check(
        Breaker::builder().open_jitter(1.0),
        "open_jitter",
        OutOfRange,
    );
    check(
        Breaker::builder().open_jitter(-0.1),
        "open_jitter",
        OutOfRange,
    );
    check(
        Breaker::builder().open_jitter(f64::NAN),
        "open_jitter",
        NotANumber,
    );
    assert!(
        Breaker::builder()
            .open_growth(1.0)
            .open_jitter(0.0)
            .build()
            .is_ok()
    );
}

#[test]
fn half_open_errors() {
    use ConfigErrorKind::*;
    check(Breaker::builder().probes(0), "probes", Zero);
    check(Breaker::builder().probes(256), "probes", OutOfRange);
    check(Breaker::builder().close_after(0), "close_after", Zero);
    check(
        Breaker::builder().close_after(1000),
        "close_after",
        OutOfRange,
    );
    check(
        Breaker::builder().probe_timeout(Duration::ZERO),
        "probe_timeout",
        Zero,
    );
    check(
        Breaker::builder().probe_timeout(Duration::from_micros(999)),
        "probe_timeout",
        OutOfRange,
    );
    check(
        Breaker::builder().probe_timeout(MAX_OPEN_PERIOD + Duration::from_secs(1)),
        "probe_timeout",
        OutOfRange,
    );
    assert!(
        Breaker::builder()
            .probes(255)
            .close_after(255)
            .build()
            .is_ok()
    );
}

#[test]
fn half_life_errors() {
    use ConfigErrorKind::*;
    let f = "half_life";
    check(Breaker::builder().half_life(Duration::ZERO), f, Zero);
    check(
        Breaker::builder().half_life(Duration::from_nanos(1)),
        f,
        OutOfRange,
    );
    // Below 64 ms a tick (half_life / 64) would be under 1 ms.
    check(
        Breaker::builder().half_life(MIN_HALF_LIFE - Duration::from_nanos(1)),
        f,
        OutOfRange,
    );
    check(
        Breaker::builder().half_life(MAX_OPEN_PERIOD + Duration::from_nanos(1)),
        f,
        OutOfRange,
    );
    check(Breaker::builder().half_life(Duration::MAX), f, OutOfRange);
    assert_eq!(MIN_HALF_LIFE, Duration::from_millis(64));
    for ok in [MIN_HALF_LIFE, Duration::from_secs(5), MAX_OPEN_PERIOD] {
        let b = Breaker::builder().half_life(ok).build().unwrap();
        assert_eq!(b.half_life(), ok, "a multiple of 64 ns is kept exactly");
    }
    // Otherwise it is rounded down to whole-nanosecond ticks.
    let b = Breaker::builder()
        .half_life(MIN_HALF_LIFE + Duration::from_nanos(63))
        .build()
        .unwrap();
    assert_eq!(b.half_life(), MIN_HALF_LIFE);
}

#[test]
fn shed_below_errors() {
    use ConfigErrorKind::*;
    let f = "shed_below";
    check(Breaker::builder().shed_below(f64::NAN), f, NotANumber);
    check(Breaker::builder().shed_below(f64::INFINITY), f, Infinite);
    check(
        Breaker::builder().shed_below(f64::NEG_INFINITY),
        f,
        Infinite,
    );
    check(Breaker::builder().shed_below(-0.1), f, OutOfRange);
    check(Breaker::builder().shed_below(1.0), f, OutOfRange);
    check(Breaker::builder().shed_below(1.5), f, OutOfRange);
    // 0 (and -0) turn grading off, and so does a line not above the threshold.
    let off = |shed: f64| {
        Breaker::builder()
            .health(0.5, 0.5, 1)
            .shed_below(shed)
            .build()
            .unwrap()
            .shed_below()
    };
    assert_eq!(off(0.0), None);
    assert_eq!(off(-0.0), None);
    assert_eq!(off(0.5), None, "at the threshold");
    assert_eq!(off(0.25), None, "below the threshold");
    assert!(off(0.75).is_some_and(|s| (s - 0.75).abs() < 1e-6));
    assert!(off(0.999_999_9).is_some());
}

#[test]
fn min_admit_errors() {
    use ConfigErrorKind::*;
    let f = "min_admit";
    check(Breaker::builder().min_admit(0.0), f, Zero);
    check(Breaker::builder().min_admit(-0.0), f, Zero);
    check(Breaker::builder().min_admit(-0.5), f, OutOfRange);
    check(Breaker::builder().min_admit(1.0 + 1e-9), f, OutOfRange);
    check(Breaker::builder().min_admit(f64::NAN), f, NotANumber);
    check(Breaker::builder().min_admit(f64::INFINITY), f, Infinite);
    for ok in [1.0, 0.05, f64::MIN_POSITIVE] {
        assert!(Breaker::builder().min_admit(ok).build().is_ok(), "{ok}");
    }
}

#[test]
fn slow_call_errors() {
    use ConfigErrorKind::*;
    let (t, w) = ("slow_call.threshold", "slow_call.weight");
    let ms = Duration::from_millis(1);
    check(Breaker::builder().slow_call(Duration::ZERO, 1.0), t, Zero);
    check(
        Breaker::builder().slow_call(ms - Duration::from_nanos(1), 1.0),
        t,
        OutOfRange,
    );
    check(Breaker::builder().slow_call(ms, 0.0), w, Zero);
    check(Breaker::builder().slow_call(ms, -1.0), w, OutOfRange);
    check(Breaker::builder().slow_call(ms, f64::NAN), w, NotANumber);
    check(Breaker::builder().slow_call(ms, f64::INFINITY), w, Infinite);
    check(
        Breaker::builder().slow_call(ms, fusebox::Verdict::MAX_WEIGHT * 1.001),
        w,
        OutOfRange,
    );
    // The threshold is checked first.
    check(
        Breaker::builder().slow_call(Duration::ZERO, f64::NAN),
        t,
        Zero,
    );
    for (threshold, weight) in [
        (ms, fusebox::Verdict::MAX_WEIGHT),
        (ms, f64::MIN_POSITIVE),
        (Duration::MAX, 1.0),
    ] {
        let b = Breaker::builder()
            .slow_call(threshold, weight)
            .build()
            .unwrap();
        assert!(b.slow_call_threshold().is_some());
    }
    assert_eq!(
        Breaker::builder().build().unwrap().slow_call_threshold(),
        None
    );
}

#[test]
fn error_display_is_lowercase_and_says_why() {
    let e = Breaker::builder().open_jitter(2.0).build().unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid `open_jitter` (2.0): must be in [0, 1)"
    );
    assert_eq!(e.value(), "2.0");
    assert_eq!(e.reason(), "must be in [0, 1)");
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(boxed.source().is_none());
}

/// The messages, pinned: the field, the value as a configuration file writes it
/// (numbers bare, `nan` and `inf` as TOML spells them, durations as quoted
/// `humantime` strings, pairs as inline tables) and the reason.
#[test]
fn messages_write_values_as_a_config_file_does() {
    let ms = Duration::from_millis(1);
    let breaker = |b: BreakerBuilder| b.build().unwrap_err();
    let exponential = |initial, factor, max| Backoff::Exponential {
        initial,
        factor,
        max,
    };
    let cases: Vec<(ConfigError, &str)> = vec![
        (
            breaker(Breaker::builder().trip_after_consecutive_failures(0)),
            "invalid `trip_after_consecutive_failures` (0): must be at least 1",
        ),
        (
            breaker(Breaker::builder().trip_on_failure_rate(f64::NAN, 10)),
            "invalid `trip_on_failure_rate` (nan): must be a number",
        ),
        (
            breaker(Breaker::builder().trip_on_failure_rate(f64::INFINITY, 10)),
            "invalid `trip_on_failure_rate` (inf): must be finite",
        ),
        (
            breaker(Breaker::builder().trip_on_failure_rate(0.5, 0)),
            "invalid `trip_on_failure_rate` (0): window must be in 1..=4095",
        ),
        (
            breaker(Breaker::builder().health(0.1, f64::NEG_INFINITY, 1)),
            "invalid `health.threshold` (-inf): must be finite",
        ),
        (
            breaker(Breaker::builder().health(1e-12, 0.5, 1)),
            "invalid `health.alpha` (1e-12): too small to move the 20-bit health from full: \
             must be at least 2^-20 (about 9.54e-7)",
        ),
        (
            // The threshold in the reason is written like the value: `1e-300`,
            // not three hundred digits.
            breaker(Breaker::builder().health(1e-6, 1e-300, 1)),
            "invalid `health.alpha` (1e-6): too small for threshold 1e-300: must be at least \
             about 9.537e293 (1 / (threshold * 1048575)) so that failures can bring the 20-bit \
             health below the threshold",
        ),
        (
            breaker(Breaker::builder().open_for(Duration::ZERO)),
            "invalid `open_for` (\"0s\"): must be at least 1ms (deadlines have millisecond \
             resolution)",
        ),
        (
            breaker(Breaker::builder().open_for(Duration::from_micros(999))),
            "invalid `open_for` (\"999us\"): must be at least 1ms (deadlines have millisecond \
             resolution)",
        ),
        (
            breaker(Breaker::builder().open_for(Duration::MAX)),
            "invalid `open_for` (\"213503982334601d 7h 15s 999ms 999us 999ns\"): must be at \
             most 366 days",
        ),
        (
            breaker(
                Breaker::builder()
                    .open_for(Duration::from_secs(10))
                    .open_cap(1500 * ms),
            ),
            "invalid `open_cap` (\"1s 500ms\"): must be at least `open_for`",
        ),
        (
            breaker(Breaker::builder().open_cap(Duration::from_secs(400 * 86_400))),
            "invalid `open_cap` (\"400d\"): must be at most 366 days",
        ),
        (
            breaker(Breaker::builder().open_growth(0.5)),
            "invalid `open_growth` (0.5): must be between 1 (no growth) and 1000",
        ),
        (
            breaker(Breaker::builder().probe_timeout(Duration::from_nanos(1))),
            "invalid `probe_timeout` (\"1ns\"): must be between 1ms and 366 days (leases have \
             millisecond resolution)",
        ),
        (
            breaker(Breaker::builder().half_life(63 * ms)),
            "invalid `half_life` (\"63ms\"): must be between 64ms and 366 days (time is \
             counted in ticks of half_life / 64, at least 1ms)",
        ),
        (
            breaker(Breaker::builder().shed_below(-0.0001)),
            "invalid `shed_below` (-0.0001): must be in [0, 1) (0 turns graded admission off)",
        ),
        (
            breaker(Breaker::builder().min_admit(-0.0)),
            "invalid `min_admit` (-0.0): must be in (0, 1] (a trickle must get through to see \
             recovery)",
        ),
        (
            breaker(Breaker::builder().slow_call(Duration::ZERO, 1.0)),
            "invalid `slow_call.threshold` (\"0s\"): must be at least 1ms",
        ),
        (
            breaker(Breaker::builder().slow_call(ms, 2000.0)),
            "invalid `slow_call.weight` (2000.0): must be in (0, 1000]",
        ),
        (
            breaker(Breaker::builder().limit_bounds(0, 5)),
            "invalid `limit_bounds` ({ min = 0, max = 5 }): `min` must be at least 1 and at \
             most `max`, and `max` at most 65535",
        ),
        (
            breaker(Breaker::builder().limit_bounds(2, 70_000)),
            "invalid `limit_bounds` ({ min = 2, max = 70000 }): `min` must be at least 1 and \
             at most `max`, and `max` at most 65535",
        ),
        (
            Retry::builder()
                .backoff(exponential(2 * ms, 2.0, ms))
                .build()
                .unwrap_err(),
            "invalid `exponential_backoff.max` (\"1ms\"): must be at least `initial`",
        ),
        (
            Retry::builder()
                .deadline(Duration::ZERO)
                .build()
                .unwrap_err(),
            "invalid `deadline` (\"0s\"): must be longer than zero",
        ),
        (
            RetryBudget::builder().ratio(11.0).build().unwrap_err(),
            "invalid `ratio` (11.0): must be in [0, 10]",
        ),
    ];
    // The check below tells Rust's `Debug` from a file's syntax.
    for debug in [
        "NaN",
        "1.5ms",
        "(0, 5)",
        "FailureRate { rate: 0.5, window: 10 }",
    ] {
        assert!(!is_toml_value(debug), "{debug}");
    }
    for (err, message) in cases {
        assert_eq!(err.to_string(), message);
        assert!(is_toml_value(err.value()), "{err}");
    }
}

/// The `Hedge` builder's errors: each names its field.
#[test]
fn hedge_errors() {
    use ConfigErrorKind::*;
    use fusebox::{Hedge, HedgeBuilder};
    fn check(b: HedgeBuilder, field: &str, kind: ConfigErrorKind) {
        let e = b.build().expect_err("must be rejected");
        assert!(is_toml_value(e.value()), "not a config value: {e}");
        assert_eq!((e.field(), e.kind()), (field, kind), "{e}");
        assert!(
            e.to_string().contains(field),
            "message names the field: {e}"
        );
    }
    let ms = Duration::from_millis;
    assert!(Hedge::builder().build().is_ok());
    assert!(Hedge::after(ms(1)).is_ok());
    let e = Hedge::after(Duration::ZERO).expect_err("a zero delay");
    assert_eq!((e.field(), e.kind()), ("after", Zero));
    check(Hedge::builder().after(Duration::ZERO), "after", Zero);
    for q in [0.0, 1.0, -0.5, 1.5] {
        check(Hedge::builder().at_quantile(q), "at_quantile", OutOfRange);
    }
    // Just inside the open interval.
    assert!(Hedge::builder().at_quantile(1e-9).build().is_ok());
    assert!(Hedge::builder().at_quantile(1.0 - 1e-9).build().is_ok());
    check(
        Hedge::builder().at_quantile(f64::NAN),
        "at_quantile",
        NotANumber,
    );
    check(
        Hedge::builder().at_quantile(f64::INFINITY),
        "at_quantile",
        Infinite,
    );
    check(Hedge::builder().floor(Duration::ZERO), "floor", Zero);
    check(
        Hedge::builder().floor(ms(10)).cap(ms(9)),
        "cap",
        Inconsistent,
    );
    assert!(
        Hedge::builder()
            .floor(ms(10))
            .cap(ms(10))
            .fallback(ms(10))
            .build()
            .is_ok()
    );
    check(
        Hedge::builder().floor(ms(10)).cap(ms(20)).fallback(ms(9)),
        "fallback",
        Inconsistent,
    );
    check(
        Hedge::builder().floor(ms(10)).cap(ms(20)).fallback(ms(21)),
        "fallback",
        Inconsistent,
    );
    check(Hedge::builder().min_samples(0), "min_samples", Zero);
    for n in [0, 4, u32::MAX] {
        check(Hedge::builder().max_hedges(n), "max_hedges", OutOfRange);
    }
    for n in 1..=3 {
        assert_eq!(
            Hedge::builder().max_hedges(n).build().unwrap().max_hedges(),
            n
        );
    }
    for r in [0.0, -0.1, 1.000_001] {
        check(
            Hedge::builder().max_extra_load(r),
            "max_extra_load",
            OutOfRange,
        );
    }
    assert!(Hedge::builder().max_extra_load(1.0).build().is_ok());
    let hedge = Hedge::builder().max_extra_load(0.02).build().unwrap();
    assert_eq!(hedge.max_extra_load(), 0.02);
    let debug = format!("{hedge:?}");
    assert!(
        debug.starts_with("Hedge") && debug.contains("0.02"),
        "{debug}"
    );
    check(
        Hedge::builder().max_extra_load(f64::NAN),
        "max_extra_load",
        NotANumber,
    );
}
