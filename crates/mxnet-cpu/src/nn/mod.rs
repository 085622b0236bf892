//! Kernels of the neural-network layers: convolution (im2col + GEMM), pooling, softmax and
//! the per-channel loops of batch normalisation.

pub mod conv;
pub mod norm;
pub mod pool;
pub mod softmax;

use crate::gemm::GemmFloat;

/// A float type the layer kernels compute in (`f32` or `f64`).
pub trait Real:
    GemmFloat + num_traits::Float + bytemuck::Pod + crate::reduce::SumFloat + Send + Sync + std::fmt::Debug + std::iter::Sum
{
    /// Return `e^self`: for `f32` the vectorisable [`crate::math::exp`] (at most 2 ulp
    /// from the correctly rounded result), with fused multiply-adds when `fused` (see
    /// `simd::dispatch_fused`); for `f64` the standard library's.
    fn exp_fast(self, fused: bool) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn exp_fast(self, fused: bool) -> f32 {
        crate::math::exp(self, fused)
    }
}

impl Real for f64 {
    #[inline(always)]
    fn exp_fast(self, _fused: bool) -> f64 {
        self.exp()
    }
}

/// Convert between float types; float-to-float casts always succeed (NaN stays NaN).
#[inline(always)]
pub fn cast<A: Real, B: Real>(a: A) -> B {
    B::from(a).unwrap_or_else(B::nan)
}
