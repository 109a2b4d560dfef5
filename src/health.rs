//! The health arithmetic, in fixed point. Pure functions, no atomics.
//!
//! Health `h` is an integer in `0..=HEALTH_FULL` (20 bits; `HEALTH_FULL` is 1.0).
//! Rates (`alpha`, `alpha * weight`) are integers scaled by 2^32. One attempt moves
//! health by an exponentially weighted step:
//!
//! ```text
//! failure with weight w:  h' = h - floor(h * k)          k = floor(alpha * w * 2^32) / 2^32
//! success:                h' = h + ceil((FULL - h) * a)   a = ceil(alpha * 2^32) / 2^32
//! ignored:                h' = h
//! ```
//!
//! The rounding is one-sided on purpose, so that two promises hold exactly:
//!
//! - **the fixed-point health is never below the real one.** A failure's drop is
//!   rounded down (and so is its rate), a success's rise is rounded up (and so is its
//!   rate), and both steps are monotone in `h`; by induction over any history, the
//!   fixed-point health is at least `FULL` times the health the same verdicts give in
//!   real arithmetic. The trip test is `h < ceil(threshold * FULL)`, so a health
//!   exactly equal to the threshold in real arithmetic never trips (two failures
//!   with `alpha = 0.5` from full health give exactly 0.25, and a threshold of 0.25
//!   does not trip on them);
//! - **health returns to full.** Below full, a success moves health by at least one
//!   unit, and it shrinks the gap `FULL - h` by at least the factor `1 - a`. The gap
//!   is an integer below 2^20, so from any health at most
//!   [`successes_to_full(a)`](successes_to_full) `= ceil(20 / -log2(1 - a))`
//!   consecutive successes restore exactly `FULL` (100 for
//!   `trip_after_consecutive_failures(5)`), and with it the healthy fast path.
//!   (Rounding the rise to nearest instead left health stuck a few units below
//!   full forever once `gap * a` fell under half a unit.)
//!
//! Both steps stay in `0..=FULL` for every input, and a success at full health leaves
//! the word unchanged (which is what keeps the healthy path free of writes).

use crate::state::HEALTH_FULL;

/// 1.0 as a rate (scale 2^32).
pub(crate) const RATE_ONE: u64 = 1 << 32;
/// Adding this before the shift rounds a product up instead of down.
const ROUND_UP: u64 = RATE_ONE - 1;

/// A real rate in `[0, 1]` in fixed point, rounded down (the rate of a failure's
/// drop); out-of-range and NaN inputs clamp (NaN counts as 0).
pub(crate) fn rate_down(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= 1.0 {
        RATE_ONE
    } else {
        // In range (0, 2^32): the cast cannot saturate, and it truncates (floor).
        (x * RATE_ONE as f64) as u64
    }
}

/// A real rate in `[0, 1]` in fixed point, rounded up (the rate of a success's
/// rise); out-of-range and NaN inputs clamp (NaN counts as 0).
pub(crate) fn rate_up(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= 1.0 {
        RATE_ONE
    } else {
        // In (0, 2^32]: the cast cannot saturate.
        (x * RATE_ONE as f64).ceil() as u64
    }
}

/// Health after a failure whose pull toward 0 is `k` (= alpha * weight, fixed point,
/// from [`rate_down`]). The drop is rounded down.
#[inline]
pub(crate) fn after_failure(h: u32, k: u64) -> u32 {
    debug_assert!(h <= HEALTH_FULL && k <= RATE_ONE);
    // h <= 2^20 and k <= 2^32, so the product fits in 53 bits; the drop is at most
    // h (k <= 1), so the subtraction cannot underflow.
    let drop = (u64::from(h) * k.min(RATE_ONE)) >> 32;
    h - drop as u32
}

/// Health after a success with rate `a` (= alpha, fixed point, from [`rate_up`]).
/// The rise is rounded up, so any success below full health with `a > 0` moves it.
#[inline]
pub(crate) fn after_success(h: u32, a: u64) -> u32 {
    debug_assert!(h <= HEALTH_FULL && a <= RATE_ONE);
    let gap = HEALTH_FULL - h.min(HEALTH_FULL);
    // gap < 2^20 and a <= 2^32: no overflow; the rise is at most gap (a <= 1).
    let rise = (u64::from(gap) * a.min(RATE_ONE) + ROUND_UP) >> 32;
    h + rise as u32
}

/// Health as a real number in `[0, 1]`.
pub(crate) fn to_f64(h: u32) -> f64 {
    f64::from(h) / f64::from(HEALTH_FULL)
}

/// A real threshold in `(0, 1)` in health units, rounded up, at least 1 and at most
/// FULL: the breaker trips when health is strictly below it, so (with the one-sided
/// rounding above) a health equal to the threshold in real arithmetic does not.
pub(crate) fn threshold_units(t: f64) -> u32 {
    ((t * f64::from(HEALTH_FULL)).ceil() as u32).clamp(1, HEALTH_FULL)
}

/// Whether a failure with rate `k` lowers a health of `h` units (by at least one
/// unit). With `h` the threshold, this says failures can bring health below it:
/// every health at or above `h` drops by at least as much.
pub(crate) fn failure_moves(h: u32, k: u64) -> bool {
    after_failure(h, k) < h
}

/// An upper bound on the consecutive successes that bring any health back to
/// exactly `FULL` with success rate `a` (fixed point): the smallest `n` with
/// `2^20 * (1 - a)^n <= 1`, that is `ceil(20 / -log2(1 - a))`, and never more than
/// `FULL` (each success moves at least one unit). `None` when `a` is 0.
pub(crate) fn successes_to_full(a: u64) -> Option<u32> {
    if a == 0 {
        return None;
    }
    if a >= RATE_ONE {
        return Some(1);
    }
    let keep = 1.0 - a as f64 / RATE_ONE as f64;
    // -log2(keep) > 0 since 0 < keep < 1; the quotient is finite and positive.
    let n = (20.0 / -keep.log2()).ceil();
    Some(if n >= f64::from(HEALTH_FULL) {
        HEALTH_FULL
    } else {
        n as u32
    })
}

/// The health after each of `n` consecutive unit failures from full health:
/// returns `(h[n-1], h[n])`, or `None` if some failure did not lower health by at
/// least one unit (alpha too small for the 20-bit resolution).
pub(crate) fn consecutive_failures(k: u64, n: u32) -> Option<(u32, u32)> {
    let mut prev = HEALTH_FULL;
    let mut h = HEALTH_FULL;
    for _ in 0..n {
        prev = h;
        h = after_failure(h, k);
        if h >= prev {
            return None;
        }
    }
    Some((prev, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_clamp_and_round_one_way() {
        for rate in [rate_down, rate_up] {
            assert_eq!(rate(f64::NAN), 0);
            assert_eq!(rate(-1.0), 0);
            assert_eq!(rate(0.0), 0);
            assert_eq!(rate(1.0), RATE_ONE);
            assert_eq!(rate(7.0), RATE_ONE);
            assert_eq!(rate(f64::INFINITY), RATE_ONE);
            assert_eq!(rate(0.5), RATE_ONE / 2);
        }
        // 0.1 is not a multiple of 2^-32: the two roundings differ by one.
        assert_eq!(rate_up(0.1), rate_down(0.1) + 1);
        assert!((rate_down(0.1) as f64) < 0.1 * RATE_ONE as f64);
        assert!((rate_up(0.1) as f64) > 0.1 * RATE_ONE as f64);
        assert_eq!(rate_up(1e-12), 1);
        assert_eq!(rate_down(1e-12), 0);
    }

    #[test]
    fn a_success_below_full_always_moves() {
        for a in [1, 2, RATE_ONE / 1000, RATE_ONE / 7, RATE_ONE - 1] {
            for h in [0, 1, HEALTH_FULL / 2, HEALTH_FULL - 3, HEALTH_FULL - 1] {
                assert!(after_success(h, a) > h, "{h} {a}");
            }
        }
        // The case that stuck with round-to-nearest: the default alpha, 3 units short.
        let a = rate_up(1.0 - 0.5f64.powf(0.2));
        assert_eq!(after_success(HEALTH_FULL - 3, a), HEALTH_FULL - 2);
    }

    #[test]
    fn successes_to_full_bounds_the_worst_case_exactly_enough() {
        // The gap's step is monotone, so the worst start is health 0; the bound must
        // cover it, and be tight to within the rounding (a few successes).
        for alpha in [
            1.0,
            0.9,
            0.5,
            0.2,
            0.129_449_436_703_876,
            0.05,
            0.01,
            2.0 / 201.0,
            1e-3,
        ] {
            let a = rate_up(alpha);
            let bound = successes_to_full(a).unwrap();
            let (mut h, mut n) = (0, 0u32);
            while h < HEALTH_FULL {
                h = after_success(h, a);
                n += 1;
            }
            assert!(n <= bound, "alpha {alpha}: {n} successes, bound {bound}");
            // Not loose either: the bound ignores that the last steps move at least
            // one unit each, which matters only for small alphas (1e-3: 7.3k vs 13.9k).
            assert!(bound <= 2 * n + 2, "alpha {alpha}: {n} vs bound {bound}");
        }
        assert_eq!(
            successes_to_full(rate_up(1.0 - 0.5f64.powf(0.2))),
            Some(100)
        );
        assert_eq!(successes_to_full(0), None);
        assert_eq!(successes_to_full(1), Some(HEALTH_FULL));
    }

    #[test]
    fn steps_stay_in_bounds_for_extreme_inputs() {
        for h in [0, 1, 2, HEALTH_FULL / 3, HEALTH_FULL - 1, HEALTH_FULL] {
            for k in [0, 1, RATE_ONE / 3, RATE_ONE - 1, RATE_ONE] {
                let f = after_failure(h, k);
                assert!(f <= h, "failure raised health: {h} -> {f}");
                let s = after_success(h, k);
                assert!(
                    s >= h && s <= HEALTH_FULL,
                    "success out of range: {h} -> {s}"
                );
            }
            assert_eq!(after_failure(h, RATE_ONE), 0);
            assert_eq!(after_success(h, RATE_ONE), HEALTH_FULL);
            assert_eq!(after_failure(h, 0), h);
            assert_eq!(after_success(h, 0), h);
        }
        assert_eq!(after_success(HEALTH_FULL, RATE_ONE / 7), HEALTH_FULL);
    }

    #[test]
    fn consecutive_failures_detects_resolution_limit() {
        assert!(consecutive_failures(1, 3).is_none());
        let (prev, last) = consecutive_failures(RATE_ONE / 2, 1).unwrap();
        assert_eq!(prev, HEALTH_FULL);
        assert_eq!(last, HEALTH_FULL - HEALTH_FULL / 2);
    }
}
