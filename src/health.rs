//! The health arithmetic, in fixed point. Pure functions, no atomics.
//!
//! Health `h` is an integer in `0..=HEALTH_FULL` (20 bits; `HEALTH_FULL` is 1.0).
//! Rates (`alpha`, `alpha * weight`) are integers scaled by 2^32. One attempt moves
//! health by an exponentially weighted step, rounded to the nearest unit:
//!
//! ```text
//! failure with weight w:  h' = h - round(h * min(alpha * w, 1))          (toward 0)
//! success:                h' = h + round((FULL - h) * alpha)             (toward FULL)
//! ignored:                h' = h
//! ```
//!
//! Both stay in `0..=FULL` for every input, and a success at full health leaves the
//! word unchanged (which is what keeps the healthy path free of writes).

use crate::state::HEALTH_FULL;

/// 1.0 as a rate (scale 2^32).
pub(crate) const RATE_ONE: u64 = 1 << 32;
const HALF_ULP: u64 = 1 << 31;

/// A real rate in `[0, 1]` in fixed point, rounded to nearest; out-of-range and NaN
/// inputs clamp (NaN counts as 0).
pub(crate) fn rate(x: f64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        0
    } else if x >= 1.0 {
        RATE_ONE
    } else {
        // In range (0, 2^32): the cast cannot saturate.
        (x * RATE_ONE as f64).round() as u64
    }
}

/// Health after a failure whose pull toward 0 is `k` (= alpha * weight, fixed point).
#[inline]
pub(crate) fn after_failure(h: u32, k: u64) -> u32 {
    debug_assert!(h <= HEALTH_FULL && k <= RATE_ONE);
    // h <= 2^20 and k <= 2^32, so the product fits in 53 bits; the rounded drop is
    // at most h, so the subtraction cannot underflow.
    let drop = (u64::from(h) * k.min(RATE_ONE) + HALF_ULP) >> 32;
    h - drop as u32
}

/// Health after a success with rate `a` (= alpha, fixed point).
#[inline]
pub(crate) fn after_success(h: u32, a: u64) -> u32 {
    debug_assert!(h <= HEALTH_FULL && a <= RATE_ONE);
    let gap = HEALTH_FULL - h.min(HEALTH_FULL);
    let rise = (u64::from(gap) * a.min(RATE_ONE) + HALF_ULP) >> 32;
    h + rise as u32
}

/// Health as a real number in `[0, 1]`.
pub(crate) fn to_f64(h: u32) -> f64 {
    f64::from(h) / f64::from(HEALTH_FULL)
}

/// A real threshold in `(0, 1)` in health units, at least 1 and at most FULL.
pub(crate) fn threshold_units(t: f64) -> u32 {
    ((t * f64::from(HEALTH_FULL)).round() as u32).clamp(1, HEALTH_FULL)
}

/// The health after each of `n` consecutive unit failures from full health:
/// returns `(h[n-1], h[n])`, or `None` if some failure did not lower health by at
/// least one unit (alpha too small for the 20-bit resolution).
pub(crate) fn consecutive_failures(a: u64, n: u32) -> Option<(u32, u32)> {
    let mut prev = HEALTH_FULL;
    let mut h = HEALTH_FULL;
    for _ in 0..n {
        prev = h;
        h = after_failure(h, a);
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
    fn rate_clamps_and_rounds() {
        assert_eq!(rate(f64::NAN), 0);
        assert_eq!(rate(-1.0), 0);
        assert_eq!(rate(0.0), 0);
        assert_eq!(rate(1.0), RATE_ONE);
        assert_eq!(rate(7.0), RATE_ONE);
        assert_eq!(rate(f64::INFINITY), RATE_ONE);
        assert_eq!(rate(0.5), RATE_ONE / 2);
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
        assert_eq!(last, HEALTH_FULL - HEALTH_FULL.div_ceil(2));
    }
}
