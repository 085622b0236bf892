//! Elementary functions written so that the compiler vectorises loops over them on any CPU of
//! the architecture: no table lookups, no branches, only arithmetic and bit operations.

/// `e^x` for `f32`, within 2 ulp of the correctly rounded result for normal results (checked
/// against `f64::exp` in the tests below). NaN stays NaN, `+inf` gives `+inf`, `-inf` gives 0,
/// and results below `f32::MIN_POSITIVE` are subnormal or 0 as with `f32::exp`.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    exp_f32_with::<false>(x)
}

/// [`exp_f32`] with fused multiply-adds, for code compiled with FMA instructions (see
/// `simd::dispatch_fused`); elsewhere each `mul_add` is a slow library call. Same accuracy.
#[inline(always)]
pub fn exp_f32_fused(x: f32) -> f32 {
    exp_f32_with::<true>(x)
}

/// `a * b + c`, fused into one rounding when `FUSED`.
#[inline(always)]
fn madd<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
fn exp_f32_with<const FUSED: bool>(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two, so that n * LN2_HI is exact for |n| <= 256 (Cody and Waite).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer with plain float
    // arithmetic, which vectorises on baseline SSE2 where `round` would not.
    const ROUND: f32 = 12_582_912.0;
    // Beyond these bounds e^x is +inf or 0 in f32; clamping keeps 2^n representable.
    // `clamp` passes NaN through.
    let x = x.clamp(-104.0, 88.8);
    let shifted = madd::<FUSED>(x, LOG2_E, ROUND);
    let n = shifted - ROUND;
    let r = madd::<FUSED>(-n, LN2_LO, madd::<FUSED>(-n, LN2_HI, x));
    // e^r on |r| <= ln(2)/2: a minimax polynomial with the coefficients of Cephes' expf; the
    // tests below check the result to 2 ulp.
    let p = 1.987_569_1e-4_f32;
    let p = madd::<FUSED>(p, r, 1.398_199_9e-3);
    let p = madd::<FUSED>(p, r, 8.333_452e-3);
    let p = madd::<FUSED>(p, r, 4.166_579_6e-2);
    let p = madd::<FUSED>(p, r, 1.666_666_5e-1);
    let p = madd::<FUSED>(p, r, 5.000_000_1e-1);
    let e_r = madd::<FUSED>(p * r, r, r) + 1.0;
    // `shifted` is 1.5 * 2^23 + n exactly, so its low mantissa bits hold n as an integer.
    // Reading them avoids `as i32`, whose saturating semantics do not vectorise. For NaN the
    // bits are meaningless but `e_r` is NaN, and so is the result.
    let n = shifted.to_bits() as i32 - ROUND.to_bits() as i32;
    // Scale by 2^n in two halves, so that n down to -150 gives subnormals instead of a
    // wrapped exponent.
    let half = n >> 1;
    let first = f32::from_bits(((half + 127) as u32) << 23);
    let second = f32::from_bits(((n - half + 127) as u32) << 23);
    e_r * first * second
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two finite floats of the same sign.
    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_matches_f64_over_the_whole_range() {
        for exp in [exp_f32 as fn(f32) -> f32, exp_f32_fused] {
            check_exp_range(exp);
        }
    }

    fn check_exp_range(exp: fn(f32) -> f32) {
        let check = |x: f32| {
            let expected = (x as f64).exp() as f32;
            let got = exp(x);
            if expected >= f32::MIN_POSITIVE && expected.is_finite() {
                let d = ulps(got, expected);
                assert!(d <= 2, "exp({x:e}) = {got:e}, expected {expected:e} ({d} ulp)");
            } else if expected.is_finite() {
                // Subnormal results carry fewer significant bits; allow two of their steps.
                let step = f32::from_bits(1);
                assert!((got - expected).abs() <= 2.0 * step, "exp({x:e}) = {got:e}, expected {expected:e}");
            } else {
                assert_eq!(got, f32::INFINITY, "exp({x:e})");
            }
        };
        // Every 61st magnitude up to 104, with both signs: about 35 million values, from the
        // smallest subnormal inputs to results that overflow or underflow.
        let end = 104.0f32.to_bits();
        for bits in (0..=end).step_by(61) {
            let magnitude = f32::from_bits(bits);
            check(-magnitude);
            if magnitude < 89.0 {
                check(magnitude);
            }
        }
    }

    #[test]
    fn exp_special_values() {
        for exp in [exp_f32 as fn(f32) -> f32, exp_f32_fused] {
            assert!(exp(f32::NAN).is_nan());
            assert_eq!(exp(f32::INFINITY), f32::INFINITY);
            assert_eq!(exp(f32::NEG_INFINITY), 0.0);
            assert_eq!(exp(0.0), 1.0);
            assert_eq!(exp(-0.0), 1.0);
            assert_eq!(exp(89.0), f32::INFINITY);
            assert_eq!(exp(-110.0), 0.0);
            // e^-100 is subnormal.
            assert!(exp(-100.0) > 0.0);
            assert!(exp(-100.0) < f32::MIN_POSITIVE);
        }
    }
}
