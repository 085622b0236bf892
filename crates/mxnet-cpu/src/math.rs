//! Elementary functions written so that the compiler vectorises loops over them on any CPU of
//! the architecture: no table lookups and no branches (both sides of a choice are computed and
//! one is selected), only arithmetic and bit operations.
//!
//! Each function takes a `fused` flag: true in code compiled with fused multiply-add
//! instructions (see `simd::dispatch_fused`), where it is a constant, so the test folds away.
//! Without them each `mul_add` would be a slow library call. Both forms have the accuracy
//! stated, checked against `f64` in the tests below.

/// Call `$kernel::<true>` or `$kernel::<false>` on `$x` by the run-time flag `$fused`, so each
/// public function below picks its compiled form in one line.
macro_rules! with_fused {
    ($kernel:ident, $x:expr, $fused:expr) => {
        if $fused {
            $kernel::<true>($x)
        } else {
            $kernel::<false>($x)
        }
    };
}

/// `e^x`, within 2 ulp of the correctly rounded result for normal results. NaN stays NaN,
/// `+inf` gives `+inf`, `-inf` gives 0, and results below `f32::MIN_POSITIVE` are subnormal or
/// 0 as with `f32::exp`.
#[inline(always)]
pub fn exp(x: f32, fused: bool) -> f32 {
    with_fused!(exp_with, x, fused)
}

/// `ln x`, within 2 ulp of the correctly rounded result, subnormal inputs included. Negative
/// inputs and NaN give NaN, `±0` gives `-inf`, `+inf` gives `+inf`.
#[inline(always)]
pub fn ln(x: f32, fused: bool) -> f32 {
    with_fused!(ln_with, x, fused)
}

/// `tanh x`, within 2 ulp of the correctly rounded result. `±inf` gives `±1`, NaN stays NaN
/// and `-0` stays `-0`.
#[inline(always)]
pub fn tanh(x: f32, fused: bool) -> f32 {
    with_fused!(tanh_with, x, fused)
}

/// The error function, within 3 ulp of the correctly rounded result. `±inf` gives `±1` and NaN
/// stays NaN.
#[inline(always)]
pub fn erf(x: f32, fused: bool) -> f32 {
    with_fused!(erf_with, x, fused)
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
fn exp_with<const FUSED: bool>(x: f32) -> f32 {
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

/// `ln(1 + x)`, within 3 ulp of the correctly rounded result, also where `x` is too small for
/// `1 + x` to differ from 1. `-1` gives `-inf`, values below `-1` and NaN give NaN.
#[inline(always)]
pub fn ln_1p(x: f32, fused: bool) -> f32 {
    with_fused!(ln_1p_with, x, fused)
}

/// `e^x - 1`, within 3 ulp of the correctly rounded result, also near 0 where `e^x` rounds to
/// 1. `+inf` gives `+inf`, `-inf` gives -1 and NaN stays NaN.
#[inline(always)]
pub fn exp_m1(x: f32, fused: bool) -> f32 {
    with_fused!(exp_m1_with, x, fused)
}

/// `p[0] + z * (p[1] + z * (...))`, Horner's scheme.
#[inline(always)]
fn polynomial<const FUSED: bool>(z: f32, p: &[f32]) -> f32 {
    let (last, rest) = p.split_last().expect("a polynomial has coefficients");
    rest.iter().rev().fold(*last, |acc, &c| madd::<FUSED>(acc, z, c))
}

#[inline(always)]
fn ln_with<const FUSED: bool>(x: f32) -> f32 {
    // ln 2 split as in `exp_with`: e * LN2_HI is exact for every exponent e of an f32.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Subnormals are scaled by 2^23 into the normal range first.
    let subnormal = x < f32::MIN_POSITIVE;
    let scaled = if subnormal { x * 8_388_608.0 } else { x };
    let bits = scaled.to_bits() as i32;

    // x = 2^e * m with m in [1, 2), then m moved into [sqrt(1/2), sqrt(2)) so that
    // f = m - 1 (exact) stays small on both sides of 0.
    let e = (bits >> 23) - 127 - if subnormal { 23 } else { 0 };
    let m = f32::from_bits(((bits & 0x007f_ffff) | 0x3f80_0000) as u32);
    let high = m > std::f32::consts::SQRT_2;
    let m = if high { m * 0.5 } else { m };
    let e = (e + high as i32) as f32;
    let f = m - 1.0;
    let result = madd::<FUSED>(e, LN2_HI, madd::<FUSED>(e, LN2_LO, ln_1p_reduced::<FUSED>(f)));

    // The special values last, as selects that vectorise.
    let result = if x == f32::INFINITY { x } else { result };
    let result = if x == 0.0 { f32::NEG_INFINITY } else { result };
    if x < 0.0 || x.is_nan() {
        f32::NAN
    } else {
        result
    }
}

/// `ln(1 + f)` for f in [sqrt(1/2) - 1, sqrt(2) - 1].
#[inline(always)]
fn ln_1p_reduced<const FUSED: bool>(f: f32) -> f32 {
    // ln(1 + f) = 2 atanh(s) with s = f / (2 + f), |s| <= 0.172: the odd series
    // 2s (1 + s^2/3 + s^4/5 + ...), cut where the next term is below 2^-35 of the sum.
    let s = f / (2.0 + f);
    let z = s * s;
    let series = polynomial::<FUSED>(z, &[1.0 / 3.0, 1.0 / 5.0, 1.0 / 7.0, 1.0 / 9.0, 1.0 / 11.0]);
    let two_s = s + s;
    madd::<FUSED>(two_s * z, series, two_s)
}

#[inline(always)]
fn ln_1p_with<const FUSED: bool>(x: f32) -> f32 {
    // Where 1 + x lies in [sqrt(1/2), sqrt(2)), the series of `ln_with` runs on x itself, so
    // the rounding of 1 + x never enters.
    let near = ln_1p_reduced::<FUSED>(x);
    // Elsewhere ln(u) * x / (u - 1) with u = 1 + x rounded: the ratio corrects for the
    // rounding of u.
    let u = 1.0 + x;
    let far = ln_with::<FUSED>(u) * (x / (u - 1.0));
    let far = if x == f32::INFINITY { x } else { far };
    let inside = x > std::f32::consts::FRAC_1_SQRT_2 - 1.0 && x < std::f32::consts::SQRT_2 - 1.0;
    if inside {
        near
    } else {
        far
    }
}

#[inline(always)]
fn exp_m1_with<const FUSED: bool>(x: f32) -> f32 {
    // Near 0: x + x^2 (1/2! + x/3! + ... + x^7/9!), the Taylor series cut where the next term
    // is below 2^-35 of the sum on |x| < ln(2)/2.
    const P: [f32; 8] = [
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40320.0,
        1.0 / 362_880.0,
    ];
    let near = madd::<FUSED>(x * x, polynomial::<FUSED>(x, &P), x);
    // The sum above turns -0 into +0.
    let near = if x == 0.0 { x } else { near };
    // Elsewhere e^x - 1, where e^x >= sqrt(2) or <= sqrt(1/2) keeps the subtraction's
    // cancellation to a factor of at most 3.4.
    let far = exp_with::<FUSED>(x) - 1.0;
    if x.abs() < std::f32::consts::LN_2 / 2.0 {
        near
    } else {
        far
    }
}

#[inline(always)]
fn tanh_with<const FUSED: bool>(x: f32) -> f32 {
    let a = x.abs();
    // Near 0: x + x^3 P(x^2), a polynomial fitted (least squares iterated to minimax, in f64)
    // to a relative error of 1e-9 on |x| < 0.55.
    let z = a * a;
    const P: [f32; 5] = [-0.333_333_18, 0.133_325_86, -0.053_852_31, 0.021_071_677, -0.006_274_237];
    let small = madd::<FUSED>(a * z, polynomial::<FUSED>(z, &P), a);
    // Elsewhere 1 - 2 / (e^2|x| + 1): from |x| = 0.55 on, tanh >= 1/2 and the subtraction
    // adds no error to that of exp. Large |x| make e^2|x| infinite and the result exactly 1.
    let large = 1.0 - 2.0 / (exp_with::<FUSED>(a + a) + 1.0);
    // tanh is odd, so it is computed on |x| and takes the sign of x, which keeps -0 as -0.
    let result = if a < 0.55 { small } else { large };
    result.copysign(x)
}

#[inline(always)]
fn erf_with<const FUSED: bool>(x: f32) -> f32 {
    let a = x.abs();
    // Below 1: x P(x^2), fitted like `tanh_with`'s polynomial to a relative error of 1.2e-9.
    // The fit's leading coefficient rounds to 2/sqrt(pi), the Taylor series' own.
    const P: [f32; 7] = [
        std::f32::consts::FRAC_2_SQRT_PI,
        -0.376_126_26,
        0.112_835_85,
        -0.026_853_812,
        0.005_188_327_5,
        -8.010_192e-4,
        7.853_856e-5,
    ];
    let small = a * polynomial::<FUSED>(a * a, &P);
    // From 1 on: 1 - e^(-x^2) t Q(t) with t = 1 / (1 + |x|/2), fitted to an absolute error of
    // 2e-10 on [1, 4]. Beyond 4, e^(-x^2) t Q(t) is below half an ulp of 1 and the result is 1.
    const Q: [f32; 6] = [0.278_917_48, 0.312_674_72, 0.131_284_21, 0.381_341_17, -0.053_732_56, -0.051_004_204];
    let t = 1.0 / madd::<FUSED>(a, 0.5, 1.0);
    let erfc = exp_with::<FUSED>(-(a * a)) * t * polynomial::<FUSED>(t, &Q);
    let large = 1.0 - erfc;
    // erf is odd, like tanh.
    let result = if a < 1.0 { small } else { large };
    result.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A function of this module in its two compiled forms.
    type Forms = [fn(f32) -> f32; 2];

    const EXP: Forms = [|x| exp(x, false), |x| exp(x, true)];
    const LN: Forms = [|x| ln(x, false), |x| ln(x, true)];
    const TANH: Forms = [|x| tanh(x, false), |x| tanh(x, true)];
    const ERF: Forms = [|x| erf(x, false), |x| erf(x, true)];

    /// Distance in units in the last place between two finite floats of the same sign.
    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    /// Check `f` against the correctly rounded `reference` on every `step`-th float magnitude
    /// up to `end`, with each sign in `signs`. Normal results must be within `max_ulps`,
    /// infinite and zero results exact. Subnormal results carry fewer significant bits, so
    /// they may be two steps of the smallest subnormal away.
    fn check_range(name: &str, f: fn(f32) -> f32, reference: fn(f64) -> f64, end: f32, step: usize, signs: &[f32], max_ulps: u32) {
        for bits in (0..=end.to_bits()).step_by(step) {
            for &sign in signs {
                let x = f32::from_bits(bits) * sign;
                let expected = reference(x as f64) as f32;
                let got = f(x);
                if expected.is_infinite() || expected == 0.0 {
                    assert_eq!(got, expected, "{name}({x:e})");
                } else if expected.abs() >= f32::MIN_POSITIVE {
                    let d = ulps(got, expected);
                    assert!(d <= max_ulps, "{name}({x:e}) = {got:e}, expected {expected:e} ({d} ulp)");
                } else {
                    let step = f32::from_bits(1);
                    assert!((got - expected).abs() <= 2.0 * step, "{name}({x:e}) = {got:e}, expected {expected:e}");
                }
            }
        }
    }

    // Each range test visits tens of millions of inputs, from the smallest subnormal to where
    // the result becomes constant, with the step coprime to the mantissa's powers of two.

    #[test]
    fn exp_matches_f64_over_the_whole_range() {
        for f in EXP {
            check_range("exp", f, f64::exp, 104.0, 61, &[-1.0], 2);
            check_range("exp", f, f64::exp, 89.0, 61, &[1.0], 2);
        }
    }

    #[test]
    fn ln_matches_f64_over_the_whole_range() {
        for f in LN {
            check_range("ln", f, f64::ln, f32::MAX, 97, &[1.0], 2);
        }
    }

    #[test]
    fn tanh_matches_f64_over_the_whole_range() {
        for f in TANH {
            check_range("tanh", f, f64::tanh, 12.0, 61, &[1.0, -1.0], 2);
        }
    }

    #[test]
    fn erf_matches_f64_over_the_whole_range() {
        for f in ERF {
            check_range("erf", f, libm::erf, 6.0, 61, &[1.0, -1.0], 3);
        }
    }

    const LN_1P: Forms = [|x| ln_1p(x, false), |x| ln_1p(x, true)];
    const EXP_M1: Forms = [|x| exp_m1(x, false), |x| exp_m1(x, true)];

    #[test]
    fn ln_1p_matches_f64_over_the_whole_range() {
        for f in LN_1P {
            check_range("ln_1p", f, f64::ln_1p, f32::MAX, 97, &[1.0], 3);
            check_range("ln_1p", f, f64::ln_1p, 1.0, 61, &[-1.0], 3);
        }
    }

    #[test]
    fn exp_m1_matches_f64_over_the_whole_range() {
        for f in EXP_M1 {
            check_range("exp_m1", f, f64::exp_m1, 89.0, 61, &[1.0], 3);
            check_range("exp_m1", f, f64::exp_m1, 20.0, 61, &[-1.0], 3);
        }
    }

    #[test]
    fn ln_1p_and_exp_m1_special_values() {
        for (ln_1p, exp_m1) in LN_1P.into_iter().zip(EXP_M1) {
            assert!(ln_1p(f32::NAN).is_nan());
            assert!(ln_1p(-1.5).is_nan());
            assert!(ln_1p(f32::NEG_INFINITY).is_nan());
            assert_eq!(ln_1p(-1.0), f32::NEG_INFINITY);
            assert_eq!(ln_1p(f32::INFINITY), f32::INFINITY);
            assert_eq!(ln_1p(-0.0).to_bits(), (-0.0f32).to_bits());
            assert_eq!(ln_1p(1e-30), 1e-30);

            assert!(exp_m1(f32::NAN).is_nan());
            assert_eq!(exp_m1(f32::INFINITY), f32::INFINITY);
            assert_eq!(exp_m1(f32::NEG_INFINITY), -1.0);
            assert_eq!(exp_m1(89.0), f32::INFINITY);
            assert_eq!(exp_m1(-200.0), -1.0);
            assert_eq!(exp_m1(-0.0).to_bits(), (-0.0f32).to_bits());
            assert_eq!(exp_m1(1e-30), 1e-30);
        }
    }

    #[test]
    fn special_values() {
        for (exp, (ln, (tanh, erf))) in EXP.into_iter().zip(LN.into_iter().zip(TANH.into_iter().zip(ERF))) {
            assert!(exp(f32::NAN).is_nan());
            assert_eq!(exp(f32::INFINITY), f32::INFINITY);
            assert_eq!(exp(f32::NEG_INFINITY), 0.0);
            assert_eq!(exp(-0.0), 1.0);
            assert_eq!(exp(89.0), f32::INFINITY);
            assert_eq!(exp(-110.0), 0.0);

            assert!(ln(f32::NAN).is_nan());
            assert!(ln(-1.0).is_nan());
            assert!(ln(-f32::from_bits(1)).is_nan());
            assert!(ln(f32::NEG_INFINITY).is_nan());
            assert_eq!(ln(0.0), f32::NEG_INFINITY);
            assert_eq!(ln(-0.0), f32::NEG_INFINITY);
            assert_eq!(ln(f32::INFINITY), f32::INFINITY);
            assert_eq!(ln(1.0), 0.0);
            assert!((ln(f32::from_bits(1)) - (-103.278_93)).abs() < 1e-4);

            for f in [tanh, erf] {
                assert!(f(f32::NAN).is_nan());
                assert_eq!(f(f32::INFINITY), 1.0);
                assert_eq!(f(f32::NEG_INFINITY), -1.0);
                assert_eq!(f(f32::MAX), 1.0);
                assert_eq!(f(0.0).to_bits(), 0.0f32.to_bits());
                assert_eq!(f(-0.0).to_bits(), (-0.0f32).to_bits());
            }
        }
    }
}
