//! Scalar arithmetic shared by the elementwise kernels, with float and integer semantics.

use crate::dtype::Element;

/// Element arithmetic. Floats follow IEEE 754; integers wrap on overflow and give 0 when
/// divided by zero (MXNet's result, where Rust would panic).
pub trait Arith: Element + PartialOrd {
    fn add(self, b: Self) -> Self;
    fn sub(self, b: Self) -> Self;
    fn mul(self, b: Self) -> Self;
    fn div(self, b: Self) -> Self;
    /// Remainder with the sign of the divisor, like Python's and numpy's `%`.
    fn modulo(self, b: Self) -> Self;
    fn pow(self, b: Self) -> Self;
    fn zero() -> Self;
    fn one() -> Self;
    fn from_bool(b: bool) -> Self {
        if b {
            Self::one()
        } else {
            Self::zero()
        }
    }
    fn is_nonzero(self) -> bool {
        self != Self::zero()
    }
    /// Maximum that propagates NaN, as numpy's `maximum` does.
    fn maximum(self, b: Self) -> Self;
    fn minimum(self, b: Self) -> Self;
}

macro_rules! float_arith {
    ($t:ty) => {
        impl Arith for $t {
            #[inline(always)] fn add(self, b: Self) -> Self { self + b }
            #[inline(always)] fn sub(self, b: Self) -> Self { self - b }
            #[inline(always)] fn mul(self, b: Self) -> Self { self * b }
            #[inline(always)] fn div(self, b: Self) -> Self { self / b }
            #[inline(always)]
            fn modulo(self, b: Self) -> Self {
                if b == 0.0 {
                    // MXNet 1.9.1 returns 0 for a zero divisor (checked against its output).
                    return 0.0;
                }
                let r = self % b;
                if r != 0.0 && ((r < 0.0) != (b < 0.0)) { r + b } else { r }
            }
            #[inline(always)] fn pow(self, b: Self) -> Self { self.powf(b) }
            #[inline(always)] fn zero() -> Self { 0.0 }
            #[inline(always)] fn one() -> Self { 1.0 }
            #[inline(always)]
            fn maximum(self, b: Self) -> Self {
                if self.is_nan() || b.is_nan() { <$t>::NAN } else if self > b { self } else { b }
            }
            #[inline(always)]
            fn minimum(self, b: Self) -> Self {
                if self.is_nan() || b.is_nan() { <$t>::NAN } else if self < b { self } else { b }
            }
        }
    };
}

macro_rules! int_arith {
    ($t:ty) => {
        impl Arith for $t {
            #[inline(always)] fn add(self, b: Self) -> Self { self.wrapping_add(b) }
            #[inline(always)] fn sub(self, b: Self) -> Self { self.wrapping_sub(b) }
            #[inline(always)] fn mul(self, b: Self) -> Self { self.wrapping_mul(b) }
            #[inline(always)]
            fn div(self, b: Self) -> Self {
                if b == 0 { 0 } else { self.wrapping_div(b) }
            }
            #[inline(always)]
            fn modulo(self, b: Self) -> Self {
                if b == 0 {
                    return 0;
                }
                let r = self.wrapping_rem(b);
                #[allow(unused_comparisons)]
                if r != 0 && ((r < 0) != (b < 0)) { r.wrapping_add(b) } else { r }
            }
            #[inline(always)]
            fn pow(self, b: Self) -> Self {
                #[allow(unused_comparisons)]
                if b < 0 {
                    // Integer powers with negative exponents truncate toward zero: 1 and -1
                    // keep a magnitude of 1 (MXNet gives -1 for -1 ** -1), other bases give 0.
                    // MXNet's 0 ** -1 (infinity cast to an integer) is left as 0.
                    #[allow(unused_comparisons)]
                    let minus_one = self < 0 && self == (0 as $t).wrapping_sub(1);
                    return if self == 1 || (minus_one && b & 1 == 0) { 1 } else if minus_one { self } else { 0 };
                }
                self.wrapping_pow(b as u32)
            }
            #[inline(always)] fn zero() -> Self { 0 }
            #[inline(always)] fn one() -> Self { 1 }
            #[inline(always)] fn maximum(self, b: Self) -> Self { if self > b { self } else { b } }
            #[inline(always)] fn minimum(self, b: Self) -> Self { if self < b { self } else { b } }
        }
    };
}

float_arith!(f32);
float_arith!(f64);
int_arith!(i8);
int_arith!(u8);
int_arith!(i32);
int_arith!(i64);

/// Float math used by unary kernels and gradients.
pub trait Float: Arith + num_traits::Float {
    /// Return `e^x`, for f32 with the vectorisable `mxnet_cpu::math::exp` (within 2 ulp).
    fn exp_fast(self) -> Self {
        self.exp()
    }

    /// Return `e^x - 1`, for f32 with the vectorisable `mxnet_cpu::math::exp_m1` (within 3 ulp).
    fn exp_m1_fast(self) -> Self {
        self.exp_m1()
    }

    /// Return the error function, for f32 with the vectorisable `mxnet_cpu::math::erf` (within
    /// 3 ulp).
    fn erf_fast(self) -> Self;
}

impl Float for f32 {
    #[inline(always)]
    fn exp_fast(self) -> f32 {
        mxnet_cpu::math::exp(self, false)
    }

    #[inline(always)]
    fn exp_m1_fast(self) -> f32 {
        mxnet_cpu::math::exp_m1(self, false)
    }

    #[inline(always)]
    fn erf_fast(self) -> f32 {
        mxnet_cpu::math::erf(self, false)
    }
}

impl Float for f64 {
    fn erf_fast(self) -> f64 {
        libm::erf(self)
    }
}
