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
//!
//! # Time
//!
//! Old verdicts also lose weight with time. Time is counted in *ticks* of
//! `half_life / 64` since the breaker started; when `k` ticks have passed since
//! the health was last brought up to date, the gap to full health shrinks first,
//! before the next failure (or report made with the time) applies:
//!
//! ```text
//! decay(x, k) = floor(x * D[k mod 64] / 2^32) >> (k div 64)      D[i] = floor(2^32 * 2^(-i/64))
//! gap' = decay(FULL - h, k)
//! ```
//!
//! so the gap halves every half-life (64 ticks), exactly in ticks. The decayed gap is
//! rounded down, so the health rises at least as far as in real arithmetic and
//! the promise above (never below the real health) still holds; after
//! `21 * 64` ticks (21 half-lives) any gap is 0, so a breaker left alone returns
//! to exactly full health and to the healthy fast path.
//!
//! A success is applied without time (no clock read): the decay and a success
//! both multiply the gap (by `D` and by `1 - a`), so in real arithmetic they
//! commute, and with each step monotone and rounded toward full health the
//! promise above holds whatever their order. A failure does not commute with
//! the decay (it adds to the gap), so it always waits for it. The breaker's
//! design notes (§7, "When time is read") give the whole rule.

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

/// Ticks per half-life: time is counted in `half_life / DECAY_TICKS`.
pub(crate) const DECAY_TICKS: u64 = 64;

/// `D[i] = floor(2^32 * 2^(-i/64))`: the share of a gap left after `i` ticks
/// (computed exactly, in decimal arithmetic with 60 digits).
const DECAY: [u64; DECAY_TICKS as usize] = [
    4_294_967_296,
    4_248_701_964,
    4_202_935_003,
    4_157_661_043,
    4_112_874_773,
    4_068_570_940,
    4_024_744_347,
    3_981_389_854,
    3_938_502_375,
    3_896_076_880,
    3_854_108_391,
    3_812_591_986,
    3_771_522_796,
    3_730_896_002,
    3_690_706_839,
    3_650_950_594,
    3_611_622_602,
    3_572_718_251,
    3_534_232_977,
    3_496_162_266,
    3_458_501_653,
    3_421_246_718,
    3_384_393_094,
    3_347_936_456,
    3_311_872_529,
    3_276_197_082,
    3_240_905_930,
    3_205_994_934,
    3_171_459_999,
    3_137_297_074,
    3_103_502_151,
    3_070_071_267,
    3_037_000_499,
    3_004_285_970,
    2_971_923_841,
    2_939_910_317,
    2_908_241_642,
    2_876_914_101,
    2_845_924_020,
    2_815_267_764,
    2_784_941_737,
    2_754_942_382,
    2_725_266_179,
    2_695_909_647,
    2_666_869_344,
    2_638_141_863,
    2_609_723_833,
    2_581_611_923,
    2_553_802_833,
    2_526_293_303,
    2_499_080_104,
    2_472_160_047,
    2_445_529_971,
    2_419_186_755,
    2_393_127_307,
    2_367_348_571,
    2_341_847_523,
    2_316_621_173,
    2_291_666_560,
    2_266_980_758,
    2_242_560_871,
    2_218_404_035,
    2_194_507_416,
    2_170_868_211,
];

/// What is left of `x` (a health gap, below 2^21) after `k`
/// ticks: halved every [`DECAY_TICKS`] ticks, rounded down.
#[inline]
pub(crate) fn decay(x: u32, k: u64) -> u32 {
    // Any x < 2^21 is gone after 21 half-lives; this also bounds the shift.
    if k >= 21 * DECAY_TICKS {
        return 0;
    }
    // x < 2^21 and D < 2^33: the product fits in 54 bits.
    let part = (u64::from(x) * DECAY[(k % DECAY_TICKS) as usize]) >> 32;
    (part >> (k / DECAY_TICKS)) as u32
}

/// Health after `k` ticks without a verdict: the gap to full decays.
#[inline]
pub(crate) fn after_idle(h: u32, k: u64) -> u32 {
    debug_assert!(h <= HEALTH_FULL);
    HEALTH_FULL - decay(HEALTH_FULL - h.min(HEALTH_FULL), k)
}

/// The chance (scale 2^32) that an attempt is admitted at health `h` when
/// admission is graded below `shed_below` units: `h / shed_below`, at least
/// `min_admit`, and 1 from `shed_below` up. The specification [`admits`]
/// implements without its division (the tests hold them to each other).
#[inline]
#[cfg(test)]
pub(crate) fn admission(h: u32, shed_below: u32, min_admit: u64) -> u64 {
    if h >= shed_below || shed_below == 0 {
        return RATE_ONE;
    }
    // h < shed_below <= 2^20: the quotient is below 2^32.
    ((u64::from(h) << 32) / u64::from(shed_below)).max(min_admit)
}

/// Whether `draw` (uniform in `[0, 2^32)`) admits an attempt at health `h`
/// below `shed_below` units: exactly `draw < admission(h, shed_below, min_admit)`,
/// without the division. `draw < max(m, floor(h * 2^32 / s))` holds iff
/// `draw < m` or `draw + 1 <= floor(h * 2^32 / s)`, and for integers the second
/// is `(draw + 1) * s <= h * 2^32` (both sides below 2^53).
#[inline]
pub(crate) fn admits(h: u32, shed_below: u32, min_admit: u64, draw: u64) -> bool {
    debug_assert!(h < shed_below && shed_below <= HEALTH_FULL && draw < RATE_ONE);
    draw < min_admit || (draw + 1) * u64::from(shed_below) <= u64::from(h) << 32
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

    #[test]
    fn decay_table_is_two_to_the_minus_i_over_64() {
        for (i, &d) in DECAY.iter().enumerate() {
            let real = (-(i as f64) / 64.0).exp2() * RATE_ONE as f64;
            assert!(
                (d as f64 - real.floor()).abs() <= 1.0,
                "D[{i}] = {d}, real {real}"
            );
            assert!(d as f64 <= real, "D[{i}] rounds down");
        }
        assert!(DECAY.windows(2).all(|w| w[0] > w[1]), "strictly decreasing");
    }

    #[test]
    fn decay_table_is_exact() {
        // `D[i]` is the largest integer `d` with `d^64 <= 2^(2048 - i)`: checked in
        // exact big-integer arithmetic (little-endian u32 limbs), since f64 cannot
        // tell a table entry from its neighbour (the test above allows either).
        fn pow64(x: u64) -> Vec<u32> {
            let mut n = vec![x as u32, (x >> 32) as u32];
            for _ in 0..6 {
                let mut out = vec![0u32; 2 * n.len() + 1];
                for (i, &a) in n.iter().enumerate() {
                    let mut carry = 0u64;
                    for (j, &b) in n.iter().enumerate() {
                        let t = u64::from(out[i + j]) + u64::from(a) * u64::from(b) + carry;
                        out[i + j] = t as u32;
                        carry = t >> 32;
                    }
                    let mut k = i + n.len();
                    while carry != 0 {
                        let t = u64::from(out[k]) + carry;
                        out[k] = t as u32;
                        carry = t >> 32;
                        k += 1;
                    }
                }
                while out.len() > 1 && out.last() == Some(&0) {
                    out.pop();
                }
                n = out;
            }
            n
        }
        // Whether n <= 2^e.
        let at_most = |n: &[u32], e: u32| {
            let top = n.iter().rposition(|&l| l != 0).unwrap();
            let bits = 32 * top as u32 + (32 - n[top].leading_zeros());
            let power = n[top].is_power_of_two() && n[..top].iter().all(|&l| l == 0);
            bits <= e || (power && bits == e + 1)
        };
        for (i, &d) in DECAY.iter().enumerate() {
            let e = 2048 - i as u32;
            assert!(at_most(&pow64(d), e), "D[{i}] = {d} is too large");
            assert!(!at_most(&pow64(d + 1), e), "D[{i}] = {d} is too small");
        }
    }

    #[test]
    fn decay_halves_per_half_life_and_ends_at_zero() {
        let gap = HEALTH_FULL - 1000;
        assert_eq!(decay(gap, 0), gap);
        assert_eq!(decay(gap, DECAY_TICKS), gap / 2);
        assert_eq!(decay(gap, 2 * DECAY_TICKS), gap / 4);
        assert_eq!(decay(1 << 20, 20 * DECAY_TICKS), 1);
        assert_eq!(decay(1 << 20, 21 * DECAY_TICKS - 1), 0);
        assert_eq!(decay(HEALTH_FULL, 21 * DECAY_TICKS), 0);
        assert_eq!(decay(HEALTH_FULL, u64::MAX), 0);
        // Monotone in k, never above the real value.
        let mut prev = u32::MAX;
        for k in 0..(22 * DECAY_TICKS) {
            let d = decay(HEALTH_FULL, k);
            assert!(d <= prev, "k {k}");
            let real = f64::from(HEALTH_FULL) * (-(k as f64) / 64.0).exp2();
            assert!(f64::from(d) <= real + 1e-9, "k {k}: {d} above {real}");
            prev = d;
        }
        assert_eq!(after_idle(0, DECAY_TICKS), HEALTH_FULL - HEALTH_FULL / 2);
        assert_eq!(after_idle(HEALTH_FULL, 5), HEALTH_FULL);
        assert_eq!(after_idle(7, 21 * DECAY_TICKS), HEALTH_FULL);
    }

    #[test]
    fn admission_is_graded_below_the_shed_line_with_a_floor() {
        let line = 1 << 19;
        let floor = RATE_ONE / 20;
        assert_eq!(admission(HEALTH_FULL, line, floor), RATE_ONE);
        assert_eq!(admission(line, line, floor), RATE_ONE);
        assert_eq!(admission(line / 2, line, floor), RATE_ONE / 2);
        assert_eq!(admission(0, line, floor), floor);
        assert_eq!(
            admission(line - 1, line, floor),
            ((u64::from(line) - 1) << 32) / u64::from(line)
        );
        assert_eq!(admission(0, 0, floor), RATE_ONE, "0 turns shedding off");
    }

    /// `admits` (the breaker's comparison, with no division) is exactly
    /// `draw < admission(..)` (the specification), at the edges of every
    /// operand and over a pseudo-random sweep.
    #[test]
    fn admits_is_the_draw_compared_with_the_admission_chance() {
        // xorshift64 (a test's own generator: the health arithmetic imports
        // nothing from the breaker).
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut cases = Vec::new();
        for shed in [1, 2, 3, 7, 1 << 19, HEALTH_FULL - 1, HEALTH_FULL] {
            for h in [0, 1, shed / 2, shed.saturating_sub(2), shed - 1] {
                for min_admit in [0, 1, RATE_ONE / 20, RATE_ONE - 1] {
                    let p = admission(h, shed, min_admit);
                    for draw in [0, 1, p.saturating_sub(1), p, p + 1, RATE_ONE - 1] {
                        cases.push((h, shed, min_admit, draw.min(RATE_ONE - 1)));
                    }
                }
            }
        }
        for _ in 0..200_000 {
            let shed = (next() % u64::from(HEALTH_FULL)) as u32 + 1;
            let h = (next() % u64::from(shed)) as u32;
            let min_admit = next() % RATE_ONE;
            cases.push((h, shed, min_admit, next() >> 32));
        }
        for (h, shed, min_admit, draw) in cases {
            if h >= shed {
                continue;
            }
            assert_eq!(
                admits(h, shed, min_admit, draw),
                draw < admission(h, shed, min_admit),
                "h {h}, shed {shed}, min {min_admit}, draw {draw}"
            );
        }
    }
}
