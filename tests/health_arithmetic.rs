//! The builder conveniences trip exactly where their documentation says.

use fusebox::{Breaker, ManualClock, Recorded, State, Verdict};

fn consecutive(n: u32) -> Breaker {
    Breaker::builder()
        .trip_after_consecutive_failures(n)
        .open_jitter(0.0)
        .clock(ManualClock::new())
        .build()
        .unwrap()
}

fn fail(b: &Breaker) -> Recorded {
    b.try_acquire().unwrap().record(Verdict::failure())
}

/// From full health the n-th consecutive unit failure trips: not the (n-1)-th, not
/// the (n+1)-th. Checked for every n up to 300 and a spread up to the maximum.
#[test]
fn nth_consecutive_failure_trips_exactly() {
    let ns = (1..=300).chain([301, 500, 777, 1000, 1024, 2048, 3000, 4000, 4095]);
    for n in ns {
        let b = consecutive(n);
        for k in 1..n {
            assert_eq!(
                fail(&b),
                Recorded::Applied { transition: None },
                "n = {n}: failure {k} tripped"
            );
        }
        let t = fail(&b).transition();
        assert_eq!(
            t.map(|t| t.to),
            Some(State::Open),
            "n = {n}: failure {n} did not trip"
        );
    }
}

/// The documented arithmetic: alpha = 1 - 2^(-1/n); after n failures health is 1/2;
/// the threshold lies between the health after n-1 and after n failures.
#[test]
fn consecutive_convenience_matches_its_documented_arithmetic() {
    for n in [1, 2, 3, 5, 10, 20, 100] {
        let b = consecutive(n);
        let alpha = 1.0 - 0.5f64.powf(1.0 / f64::from(n));
        assert!((b.alpha() - alpha).abs() < 1e-12);
        let before = 0.5f64.powf(f64::from(n - 1) / f64::from(n));
        let at = 0.5;
        let t = b.threshold();
        assert!(
            t > at && t <= before,
            "n = {n}: threshold {t} not in ({at}, {before}]"
        );
        // The fixed-point health is never below the real one, and rounds each
        // drop down: over n failures it may sit up to about 1/alpha units (1e-4
        // for n = 100) above the real value, so the midpoint is that close.
        assert!(
            (t - (before + at) / 2.0).abs() < 1e-4,
            "n = {n}: threshold {t} is not the midpoint"
        );
    }
}

/// The README's table, so the README cannot drift from the code.
#[test]
fn readme_table_for_n_5() {
    let b = consecutive(5);
    assert_eq!(format!("{:.4}", b.alpha()), "0.1294");
    assert_eq!(format!("{:.4}", b.threshold()), "0.5372");
    let mut healths = Vec::new();
    for _ in 0..5 {
        let _ = fail(&b);
        healths.push(format!("{:.4}", b.snapshot().health.unwrap()));
    }
    assert_eq!(healths, ["0.8706", "0.7579", "0.6598", "0.5744", "0.5000"]);
}

/// Interleaved successes delay a trip (health recovers) but do not reset it.
#[test]
fn successes_delay_but_do_not_erase() {
    let b = consecutive(5);
    for _ in 0..4 {
        let _ = fail(&b);
    }
    let _ = b.try_acquire().unwrap().record(Verdict::Success);
    assert_eq!(b.snapshot().state, State::Closed);
    // One success undoes roughly one failure's worth: two more failures trip.
    assert_eq!(fail(&b).transition(), None);
    assert_eq!(fail(&b).transition().map(|t| t.to), Some(State::Open));
}

/// `trip_on_failure_rate(r, w)`: a steady failure rate well below r never trips, one
/// well above trips, and nothing trips before w attempts.
#[test]
fn failure_rate_form_trips_on_rate_not_on_noise() {
    let build = || {
        Breaker::builder()
            .trip_on_failure_rate(0.5, 20)
            .open_jitter(0.0)
            .clock(ManualClock::new())
            .build()
            .unwrap()
    };
    // 25 % failures (every 4th attempt) for 2000 attempts: never trips.
    let b = build();
    for i in 0..2000 {
        let v = if i % 4 == 3 {
            Verdict::failure()
        } else {
            Verdict::Success
        };
        assert_eq!(
            b.try_acquire().unwrap().record(v).transition(),
            None,
            "tripped at {i}"
        );
    }
    // 75 % failures: trips, but only once `window` attempts were seen.
    let b = build();
    let mut tripped_at = None;
    for i in 1..=200u32 {
        let v = if i % 4 == 0 {
            Verdict::Success
        } else {
            Verdict::failure()
        };
        if b.try_acquire().unwrap().record(v).transition().is_some() {
            tripped_at = Some(i);
            break;
        }
    }
    let at = tripped_at.expect("75 % failures must trip");
    assert!((20..=60).contains(&at), "tripped at attempt {at}");
    // 100 % failures from the start: exactly at the window (min_samples = 20).
    let b = build();
    for i in 1..20 {
        assert_eq!(
            fail(&b).transition(),
            None,
            "tripped at {i}, before the window"
        );
    }
    assert!(fail(&b).transition().is_some());
}

/// The manual form: the threshold is strict (health equal to it does not trip) and
/// `min_samples` holds a trip back.
#[test]
fn manual_form_threshold_is_strict_and_min_samples_holds() {
    // alpha 0.5: in real arithmetic one failure from full health leaves exactly
    // 0.5, two leave exactly 0.25. A threshold equal to that health must not trip
    // on it, whatever the 20-bit rounding; the next failure is below it and does.
    for (threshold, failures) in [(0.5, 1), (0.25, 2), (0.125, 3), (0.0625, 4)] {
        let b = Breaker::builder()
            .health(0.5, threshold, 1)
            .shed_below(0.0) // admit every attempt: this is about the trip only
            .clock(ManualClock::new())
            .build()
            .unwrap();
        for k in 1..=failures {
            assert_eq!(
                fail(&b).transition(),
                None,
                "threshold {threshold}: failure {k} leaves health == threshold, no trip"
            );
        }
        assert!(b.snapshot().health.unwrap() >= threshold);
        assert_eq!(
            fail(&b).transition().map(|t| t.to),
            Some(State::Open),
            "threshold {threshold}: below it trips"
        );
    }

    // Health is below 0.3 after the 2nd failure (0.25), but min_samples = 3 holds it.
    let b = Breaker::builder()
        .health(0.5, 0.3, 3)
        .shed_below(0.0)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    assert_eq!(fail(&b).transition(), None); // 0.5, 1 sample
    assert_eq!(fail(&b).transition(), None); // 0.25, 2 samples < 3
    assert!(b.snapshot().health.unwrap() < 0.3);
    let t = fail(&b).transition(); // 0.125, 3 samples
    assert_eq!(t.map(|t| t.to), Some(State::Open));
}
