//! Per-channel loops of batch normalisation over one contiguous run of a channel's values.
//! Sums use eight f64 partial results, so the loops vectorise (a single f64 chain cannot be
//! reordered by the compiler) and float32 inputs keep f64 precision. Each function runs
//! through [`simd::dispatch`].

use crate::reduce::SumFloat;
use crate::simd;

const LANES: usize = 8;

/// Add `f(i)` for `i` in `0..n` into eight partial sums and return their total.
#[inline(always)]
fn lane_sum(n: usize, f: impl Fn(usize) -> f64) -> f64 {
    let mut lanes = [0f64; LANES];
    let full = n / LANES * LANES;
    for start in (0..full).step_by(LANES) {
        for (k, lane) in lanes.iter_mut().enumerate() {
            *lane += f(start + k);
        }
    }
    let tail: f64 = (full..n).map(&f).sum();
    lanes.iter().sum::<f64>() + tail
}

/// Return the sum of squared deviations of `x` from `mean`.
pub fn squared_deviations<T: SumFloat>(x: &[T], mean: f64) -> f64 {
    simd::dispatch(
        #[inline(always)]
        || lane_sum(x.len(), |i| (x[i].to_f64() - mean) * (x[i].to_f64() - mean)),
    )
}

/// Return the sum of `x` in f64.
pub fn sum<T: SumFloat>(x: &[T]) -> f64 {
    simd::dispatch(
        #[inline(always)]
        || lane_sum(x.len(), |i| x[i].to_f64()),
    )
}

/// Return `sum(dy)` and `sum(dy * (x - mean))` for the gradient of one channel run.
pub fn gradient_sums<T: SumFloat>(dy: &[T], x: &[T], mean: f64) -> (f64, f64) {
    let n = dy.len().min(x.len());
    simd::dispatch(
        #[inline(always)]
        || {
            let total = lane_sum(n, |i| dy[i].to_f64());
            let weighted = lane_sum(n, |i| dy[i].to_f64() * (x[i].to_f64() - mean));
            (total, weighted)
        },
    )
}

/// `y = x * a + b`, the normalisation of one channel run with folded statistics.
pub fn scale_shift<T: SumFloat + std::ops::Mul<Output = T>>(x: &[T], a: T, b: T, y: &mut [T]) {
    simd::map(x, y, |v| v * a + b)
}

/// Input gradient of one channel run: `dx = scale * (dy - mean_dy - xhat * mean_dy_xhat)`
/// with `xhat = (x - mean) * invstd`, computed in f64.
#[allow(clippy::too_many_arguments)]
pub fn input_gradient<T: SumFloat>(
    dy: &[T],
    x: &[T],
    mean: f64,
    invstd: f64,
    scale: f64,
    mean_dy: f64,
    mean_dy_xhat: f64,
    dx: &mut [T],
) {
    simd::dispatch(
        #[inline(always)]
        || {
            for ((d, &g), &v) in dx.iter_mut().zip(dy).zip(x) {
                let xhat = (v.to_f64() - mean) * invstd;
                *d = T::from_f64(scale * (g.to_f64() - mean_dy - xhat * mean_dy_xhat));
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_match_sequential_f64() {
        let x: Vec<f32> = (0..1003).map(|i| ((i % 37) as f32) * 0.25 - 4.0).collect();
        let dy: Vec<f32> = (0..1003).map(|i| ((i % 11) as f32) - 5.0).collect();
        let exact: f64 = x.iter().map(|&v| v as f64).sum();
        let mean = exact / x.len() as f64;
        let squares: f64 = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum();
        assert!((sum(&x) - exact).abs() < 1e-9);
        assert!((squared_deviations(&x, mean) - squares).abs() < 1e-9);
        let (total, weighted) = gradient_sums(&dy, &x, mean);
        let expected: f64 = dy.iter().zip(&x).map(|(&g, &v)| g as f64 * (v as f64 - mean)).sum();
        assert!((total - dy.iter().map(|&g| g as f64).sum::<f64>()).abs() < 1e-9);
        assert!((weighted - expected).abs() < 1e-9);
    }
}
