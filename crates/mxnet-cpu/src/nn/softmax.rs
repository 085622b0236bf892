//! Softmax, log-softmax and softmin along one axis of a row-major array viewed as
//! `(outer, length, inner)`: the axis has `length` elements spaced `inner` apart.
//! Each row is shifted by its maximum first, so logits of 1e4 or -inf do not overflow.

use rayon::prelude::*;

use super::{cast, Real};
use crate::parallel::{self, PARALLEL_MIN_ELEMENTS, TASK_ELEMENTS};
use crate::simd;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoftmaxKind {
    Softmax,
    LogSoftmax,
    /// Softmax of the negated input.
    Softmin,
}

/// Extent of the rows: `outer * length * inner` elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rows {
    pub outer: usize,
    pub length: usize,
    pub inner: usize,
}

impl Rows {
    /// Call `f(start)` with the first element index of every row.
    fn for_each_row(&self, mut f: impl FnMut(usize)) {
        for o in 0..self.outer {
            for i in 0..self.inner {
                f(o * self.length * self.inner + i);
            }
        }
    }
}

/// `y = softmax(x * scale)` (or its log) along the rows, where `scale` is `1/temperature`,
/// negated for softmin. The output may have another float type than the input.
pub fn forward<T: Real, U: Real>(kind: SoftmaxKind, rows: Rows, temperature: f64, x: &[T], y: &mut [U]) {
    let sign = if kind == SoftmaxKind::Softmin { -1.0 } else { 1.0 };
    let scale: T = cast(sign / temperature);
    let (n, step) = (rows.length, rows.inner);
    if n == 0 {
        return;
    }
    if rows.inner == 1 {
        // Rows are contiguous slices: one pass for the maximum, one for exp and the sum.
        let total = rows.outer * n;
        let (x, y) = (&x[..total], &mut y[..total]);
        if total >= PARALLEL_MIN_ELEMENTS && rows.outer > 1 {
            let task = (TASK_ELEMENTS / n).max(1) * n;
            parallel::install(|| {
                y.par_chunks_mut(task)
                    .zip(x.par_chunks(task))
                    .for_each(|(ys, xs)| contiguous_rows(kind, scale, n, xs, ys))
            });
        } else {
            contiguous_rows(kind, scale, n, x, y);
        }
        return;
    }
    rows.for_each_row(|start| {
        let at = |k: usize| start + k * step;
        let max = (0..n).map(|k| x[at(k)] * scale).fold(T::neg_infinity(), |m, v| if v > m { v } else { m });
        let sum: T = (0..n).map(|k| (x[at(k)] * scale - max).exp()).sum();
        match kind {
            SoftmaxKind::LogSoftmax => {
                let log_sum = sum.ln();
                for k in 0..n {
                    y[at(k)] = cast(x[at(k)] * scale - max - log_sum);
                }
            }
            _ => {
                for k in 0..n {
                    y[at(k)] = cast((x[at(k)] * scale - max).exp() / sum);
                }
            }
        }
    });
}

/// Rows of length `n` packed back to back, compiled for the widest SIMD set of this CPU.
fn contiguous_rows<T: Real, U: Real>(kind: SoftmaxKind, scale: T, n: usize, x: &[T], y: &mut [U]) {
    simd::dispatch_fused(
        #[inline(always)]
        |fused| {
            for (yr, xr) in y.chunks_mut(n).zip(x.chunks(n)) {
                contiguous_row(kind, scale, xr, yr, fused);
            }
        },
    )
}

/// Compute one contiguous row of [`forward`], evaluating exp once per element. Each pass is a
/// plain loop or keeps independent partial results in lanes, so that the compiler vectorises it.
#[inline(always)]
fn contiguous_row<T: Real, U: Real>(kind: SoftmaxKind, scale: T, x: &[T], y: &mut [U], fused: bool) {
    let max = lane_max(x, scale);
    match kind {
        SoftmaxKind::LogSoftmax => {
            for (out, &v) in y.iter_mut().zip(x) {
                *out = cast((v * scale - max).exp_fast(fused));
            }
            let log_sum: T = cast(lane_sum(y).ln());
            for (out, &v) in y.iter_mut().zip(x) {
                *out = cast(v * scale - max - log_sum);
            }
        }
        _ => {
            for (out, &v) in y.iter_mut().zip(x) {
                *out = cast((v * scale - max).exp_fast(fused));
            }
            let inverse = U::one() / lane_sum(y);
            for out in y.iter_mut() {
                *out = *out * inverse;
            }
        }
    }
}

/// Independent partial results of the max and sum passes: two AVX-512 registers of f32, so
/// that two dependency chains of max or add overlap.
const LANES: usize = 32;

/// Maximum of `x * scale`, ignoring NaN (a NaN still reaches the output through exp).
#[inline(always)]
fn lane_max<T: Real>(x: &[T], scale: T) -> T {
    let larger = |m: T, v: T| if v > m { v } else { m };
    let mut lanes = [T::neg_infinity(); LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = larger(*lane, v * scale);
        }
    }
    let max = tail.iter().fold(T::neg_infinity(), |m, &v| larger(m, v * scale));
    lanes.iter().fold(max, |m, &v| larger(m, v))
}

#[inline(always)]
fn lane_sum<U: Real>(y: &[U]) -> U {
    let mut lanes = [U::zero(); LANES];
    let chunks = y.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = *lane + v;
        }
    }
    lanes.iter().copied().sum::<U>() + tail.iter().copied().sum::<U>()
}

/// Gradient of [`forward`] from its output `y` and the head gradient `dy`, written to `dx`.
pub fn backward<T: Real, U: Real>(kind: SoftmaxKind, rows: Rows, temperature: f64, y: &[U], dy: &[U], dx: &mut [T]) {
    let sign = if kind == SoftmaxKind::Softmin { -1.0 } else { 1.0 };
    let scale: U = cast(sign / temperature);
    let (n, step) = (rows.length, rows.inner);
    if n == 0 {
        return;
    }
    if step == 1 {
        let total = rows.outer * n;
        let (y, dy, dx) = (&y[..total], &dy[..total], &mut dx[..total]);
        if total >= PARALLEL_MIN_ELEMENTS && rows.outer > 1 {
            let task = (TASK_ELEMENTS / n).max(1) * n;
            parallel::install(|| {
                dx.par_chunks_mut(task)
                    .zip(y.par_chunks(task).zip(dy.par_chunks(task)))
                    .for_each(|(dx, (y, dy))| contiguous_backward_rows(kind, scale, n, y, dy, dx))
            });
        } else {
            contiguous_backward_rows(kind, scale, n, y, dy, dx);
        }
        return;
    }
    rows.for_each_row(|start| {
        let at = |k: usize| start + k * step;
        match kind {
            SoftmaxKind::LogSoftmax => {
                // d/dz log_softmax(z) applied to dy: dy - softmax(z) * sum(dy)
                let total: U = (0..n).map(|k| dy[at(k)]).sum();
                for k in 0..n {
                    dx[at(k)] = cast((dy[at(k)] - y[at(k)].exp() * total) * scale);
                }
            }
            _ => {
                // d/dz softmax(z) applied to dy: y * (dy - sum(dy * y))
                let dot: U = (0..n).map(|k| dy[at(k)] * y[at(k)]).sum();
                for k in 0..n {
                    dx[at(k)] = cast(y[at(k)] * (dy[at(k)] - dot) * scale);
                }
            }
        }
    });
}

/// [`backward`] over rows of length `n` packed back to back, with the row sums in lanes.
fn contiguous_backward_rows<T: Real, U: Real>(kind: SoftmaxKind, scale: U, n: usize, y: &[U], dy: &[U], dx: &mut [T]) {
    simd::dispatch_fused(
        #[inline(always)]
        |fused| {
            for ((dxr, yr), dyr) in dx.chunks_mut(n).zip(y.chunks(n)).zip(dy.chunks(n)) {
                match kind {
                    SoftmaxKind::LogSoftmax => {
                        let total = lane_sum(dyr);
                        for ((d, &yv), &g) in dxr.iter_mut().zip(yr).zip(dyr) {
                            *d = cast((g - yv.exp_fast(fused) * total) * scale);
                        }
                    }
                    _ => {
                        let dot = lane_dot(yr, dyr);
                        for ((d, &yv), &g) in dxr.iter_mut().zip(yr).zip(dyr) {
                            *d = cast(yv * (g - dot) * scale);
                        }
                    }
                }
            }
        },
    )
}

/// `sum(a * b)` in independent lanes.
#[inline(always)]
fn lane_dot<U: Real>(a: &[U], b: &[U]) -> U {
    let mut lanes = [U::zero(); LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: U = ca.remainder().iter().zip(cb.remainder()).map(|(&x, &y)| x * y).sum();
    for (xa, xb) in ca.zip(cb) {
        for ((lane, &x), &y) in lanes.iter_mut().zip(xa).zip(xb) {
            *lane = *lane + x * y;
        }
    }
    lanes.iter().copied().sum::<U>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_logits_stay_finite() {
        let x = [1.0e4f32, -1.0e4, 0.0, 1.0e4];
        let mut y = [0.0f32; 4];
        forward(SoftmaxKind::Softmax, Rows { outer: 1, length: 4, inner: 1 }, 1.0, &x, &mut y);
        assert_eq!(y, [0.5, 0.0, 0.0, 0.5]);
    }

    #[test]
    fn strided_axis_sums_to_one() {
        let x: Vec<f64> = (0..12).map(|v| v as f64 * 0.3).collect();
        let mut y = vec![0.0f64; 12];
        let rows = Rows { outer: 2, length: 3, inner: 2 };
        forward(SoftmaxKind::Softmin, rows, 2.0, &x, &mut y);
        for o in 0..2 {
            for i in 0..2 {
                let s: f64 = (0..3).map(|k| y[o * 6 + k * 2 + i]).sum();
                assert!((s - 1.0).abs() < 1e-12);
            }
        }
    }
}
