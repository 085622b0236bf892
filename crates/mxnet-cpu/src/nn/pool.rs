//! 2-D pooling over NCHW planes (1-D pooling uses height 1), forward and backward.
//! Window bounds follow MXNet 1.9.1's CPU kernels. A window may run into the padding and, with
//! the `full` convention, past it. The divisor of `avg` counts the padding but not the part
//! past it.

use rayon::prelude::*;

use super::Real;
use crate::parallel::{self, PARALLEL_MIN_ELEMENTS};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PoolKind {
    Max,
    Avg { count_include_pad: bool },
    Sum,
    /// `(sum x^p)^(1/p)` for p = 1, 2 or 3, without absolute values, as MXNet computes it.
    Lp(i32),
}

/// Geometry of a pooling call over `planes` planes of `height x width`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2d {
    pub planes: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub out_h: usize,
    pub out_w: usize,
}

/// One pooling window clipped to the image, with the divisor `avg` uses.
struct Window {
    h: (usize, usize),
    w: (usize, usize),
    padded_area: usize,
}

impl Window {
    fn area(&self) -> usize {
        (self.h.1 - self.h.0) * (self.w.1 - self.w.0)
    }
}

impl Pool2d {
    fn window(&self, oh: usize, ow: usize) -> Window {
        let axis = |o: usize, a: usize, size: usize| -> ((usize, usize), usize) {
            let start = (o * self.stride[a]) as isize - self.pad[a] as isize;
            let end = (start + self.kernel[a] as isize).min((size + self.pad[a]) as isize);
            let padded = (end - start).max(0) as usize;
            let lo = start.max(0) as usize;
            let hi = (end.max(0) as usize).min(size).max(lo);
            ((lo, hi), padded)
        };
        let (h, ph) = axis(oh, 0, self.height);
        let (w, pw) = axis(ow, 1, self.width);
        Window { h, w, padded_area: ph * pw }
    }

    fn plane_in(&self) -> usize {
        self.height * self.width
    }

    fn plane_out(&self) -> usize {
        self.out_h * self.out_w
    }

    fn parallel(&self) -> bool {
        self.planes > 1 && self.planes * self.plane_in() >= PARALLEL_MIN_ELEMENTS
    }

    /// Pool `x` (`planes x height x width`) into `y` (`planes x out_h x out_w`).
    pub fn forward<T: Real>(&self, kind: PoolKind, x: &[T], y: &mut [T]) {
        let (pin, pout) = (self.plane_in(), self.plane_out());
        if pout == 0 || self.planes == 0 {
            return;
        }
        let run = |p: usize, out: &mut [T]| self.forward_plane(kind, &x[p * pin..(p + 1) * pin], out);
        if self.parallel() {
            parallel::install(|| y.par_chunks_mut(pout).enumerate().for_each(|(p, out)| run(p, out)));
        } else {
            y.chunks_mut(pout).enumerate().for_each(|(p, out)| run(p, out));
        }
    }

    /// Fold `f` over the inputs of one window, row by row.
    #[inline(always)]
    fn fold_window<T: Real, A>(&self, x: &[T], win: &Window, init: A, mut f: impl FnMut(A, T) -> A) -> A {
        let mut acc = init;
        for h in win.h.0..win.h.1 {
            for &v in &x[h * self.width + win.w.0..h * self.width + win.w.1] {
                acc = f(acc, v);
            }
        }
        acc
    }

    /// Report whether every window is a whole 2x2 block at stride 2 without padding (the
    /// usual `MaxPool2D(2, 2)`), which the `*_pairs` loops handle without window bounds.
    fn is_plain_2x2(&self) -> bool {
        self.kernel == [2, 2]
            && self.stride == [2, 2]
            && self.pad == [0, 0]
            && self.out_h * 2 <= self.height
            && self.out_w * 2 <= self.width
    }

    /// Compute [`Pool2d::forward_plane`] for max pooling of plain 2x2 blocks. It folds the four
    /// inputs in the same row-major order, so NaN handling and ties are the same.
    fn max_forward_pairs<T: Real>(&self, x: &[T], y: &mut [T]) {
        let width = self.width;
        for (oh, out_row) in y.chunks_mut(self.out_w).enumerate() {
            let top = &x[2 * oh * width..2 * oh * width + 2 * self.out_w];
            let bottom = &x[(2 * oh + 1) * width..(2 * oh + 1) * width + 2 * self.out_w];
            for ((out, t), b) in out_row.iter_mut().zip(top.chunks_exact(2)).zip(bottom.chunks_exact(2)) {
                let mut m = T::neg_infinity();
                for v in [t[0], t[1], b[0], b[1]] {
                    if v > m {
                        m = v;
                    }
                }
                *out = m;
            }
        }
    }

    /// Compute [`Pool2d::backward_plane`] for max pooling of plain 2x2 blocks: the first input of
    /// each block that equals its output takes the gradient. Blocks do not overlap, so every
    /// element is written once and `dx` needs no zero fill first.
    fn max_backward_pairs<T: Real>(&self, x: &[T], y: &[T], dy: &[T], dx: &mut [T]) {
        let (width, out_w) = (self.width, self.out_w);
        if out_w == 0 {
            dx.fill(T::zero());
            return;
        }
        // Rows past the last block get no gradient.
        let (dx_blocks, dx_rest) = dx.split_at_mut(2 * self.out_h * width);
        dx_rest.fill(T::zero());
        let rows = x.chunks_exact(2 * width).zip(dx_blocks.chunks_exact_mut(2 * width));
        for ((x_rows, dx_rows), (y_row, dy_row)) in rows.zip(y.chunks_exact(out_w).zip(dy.chunks_exact(out_w))) {
            let (x0, x1) = x_rows.split_at(width);
            let (d0, d1) = dx_rows.split_at_mut(width);
            // Columns past the last block get no gradient.
            d0[2 * out_w..].fill(T::zero());
            d1[2 * out_w..].fill(T::zero());
            let pairs = x0.chunks_exact(2).zip(x1.chunks_exact(2)).zip(d0.chunks_exact_mut(2).zip(d1.chunks_exact_mut(2)));
            for (((a, b), (da, db)), (&target, &g)) in pairs.zip(y_row.iter().zip(dy_row)) {
                // The first maximum in row-major order takes the whole gradient.
                let hit = [a[0] == target, a[1] == target, b[0] == target, b[1] == target];
                let first = [hit[0], hit[1] && !hit[0], hit[2] && !hit[0] && !hit[1], hit[3] && !(hit[0] || hit[1] || hit[2])];
                da[0] = if first[0] { g } else { T::zero() };
                da[1] = if first[1] { g } else { T::zero() };
                db[0] = if first[2] { g } else { T::zero() };
                db[1] = if first[3] { g } else { T::zero() };
            }
        }
    }

    fn forward_plane<T: Real>(&self, kind: PoolKind, x: &[T], y: &mut [T]) {
        if kind == PoolKind::Max && self.is_plain_2x2() {
            return self.max_forward_pairs(x, y);
        }
        for oh in 0..self.out_h {
            for ow in 0..self.out_w {
                let win = self.window(oh, ow);
                y[oh * self.out_w + ow] = match kind {
                    // NOTE: a window entirely inside the padding has no inputs. It gives 0
                    // here, where MXNet writes the lowest float.
                    PoolKind::Max => {
                        if win.area() == 0 {
                            T::zero()
                        } else {
                            self.fold_window(x, &win, T::neg_infinity(), |m, v| if v > m { v } else { m })
                        }
                    }
                    PoolKind::Sum => self.fold_window(x, &win, T::zero(), |a, v| a + v),
                    PoolKind::Avg { count_include_pad } => {
                        let count = if count_include_pad { win.padded_area } else { win.area() };
                        if count == 0 {
                            T::zero()
                        } else {
                            self.fold_window(x, &win, T::zero(), |a, v| a + v) / T::from(count).unwrap_or_else(T::one)
                        }
                    }
                    PoolKind::Lp(p) => root(self.fold_window(x, &win, T::zero(), |a, v| a + v.powi(p)), p),
                };
            }
        }
    }

    /// Gradient of [`Pool2d::forward`]: overwrite `dx` from the input `x`, the output `y`
    /// and the head gradient `dy`. `max` routes each output's gradient to the first input of
    /// its window (row-major order) that equals the maximum, as MXNet 1.9.1 does for ties.
    ///
    /// NOTE: for `avg` with the `full` convention, MXNet 1.9.1's backward divides by the whole
    /// kernel area where its forward divides by the window clipped to the padded input, so its
    /// gradient is not the gradient of its forward. Here both use the clipped divisor.
    pub fn backward<T: Real>(&self, kind: PoolKind, x: &[T], y: &[T], dy: &[T], dx: &mut [T]) {
        let (pin, pout) = (self.plane_in(), self.plane_out());
        if !(kind == PoolKind::Max && self.is_plain_2x2()) || pout == 0 {
            dx.fill(T::zero());
        }
        if pout == 0 || pin == 0 {
            return;
        }
        let run = |p: usize, d: &mut [T]| {
            let range = p * pout..(p + 1) * pout;
            self.backward_plane(kind, &x[p * pin..(p + 1) * pin], &y[range.clone()], &dy[range], d)
        };
        if self.parallel() {
            parallel::install(|| dx.par_chunks_mut(pin).enumerate().for_each(|(p, d)| run(p, d)));
        } else {
            dx.chunks_mut(pin).enumerate().for_each(|(p, d)| run(p, d));
        }
    }

    fn backward_plane<T: Real>(&self, kind: PoolKind, x: &[T], y: &[T], dy: &[T], dx: &mut [T]) {
        if kind == PoolKind::Max && self.is_plain_2x2() {
            return self.max_backward_pairs(x, y, dy, dx);
        }
        let width = self.width;
        for oh in 0..self.out_h {
            for ow in 0..self.out_w {
                let o = oh * self.out_w + ow;
                let win = self.window(oh, ow);
                let g = dy[o];
                match kind {
                    PoolKind::Max => {
                        // The first maximum in row-major order takes the whole gradient.
                        let target = y[o];
                        'window: for h in win.h.0..win.h.1 {
                            let start = h * width + win.w.0;
                            for (k, &v) in x[start..h * width + win.w.1].iter().enumerate() {
                                if v == target {
                                    dx[start + k] = dx[start + k] + g;
                                    break 'window;
                                }
                            }
                        }
                    }
                    PoolKind::Sum | PoolKind::Avg { .. } => {
                        let scale = match kind {
                            PoolKind::Avg { count_include_pad: true } => win.padded_area,
                            PoolKind::Avg { count_include_pad: false } => win.area(),
                            _ => 1,
                        };
                        if scale == 0 {
                            continue;
                        }
                        let share = g / T::from(scale).unwrap_or_else(T::one);
                        for h in win.h.0..win.h.1 {
                            for d in &mut dx[h * width + win.w.0..h * width + win.w.1] {
                                *d = *d + share;
                            }
                        }
                    }
                    PoolKind::Lp(p) => {
                        // d y / d x = x^(p-1) / y^(p-1); a zero output passes no gradient.
                        let denom = y[o].powi(p - 1);
                        if denom == T::zero() {
                            continue;
                        }
                        for h in win.h.0..win.h.1 {
                            for w in win.w.0..win.w.1 {
                                let i = h * width + w;
                                dx[i] = dx[i] + g * x[i].powi(p - 1) / denom;
                            }
                        }
                    }
                }
            }
        }
    }
}

fn root<T: Real>(s: T, p: i32) -> T {
    match p {
        1 => s,
        2 => s.sqrt(),
        3 => s.cbrt(),
        _ => s.powf(T::one() / T::from(p).unwrap_or_else(T::one)),
    }
}

/// Output length of one axis: `valid` rounds the window count down, `full` rounds it up.
/// Returns `None` when the kernel is larger than the padded input or the stride is zero.
pub fn out_size(input: usize, kernel: usize, stride: usize, pad: usize, full: bool) -> Option<usize> {
    let padded = input + 2 * pad;
    if stride == 0 || kernel == 0 || padded < kernel {
        return None;
    }
    let span = padded - kernel;
    Some(if full { span.div_ceil(stride) } else { span / stride } + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_ties_go_to_first_element() {
        let p = Pool2d { planes: 1, height: 2, width: 2, kernel: [2, 2], stride: [2, 2], pad: [0, 0], out_h: 1, out_w: 1 };
        let x = [1.0f32, 3.0, 3.0, 0.0];
        let mut y = [0.0f32];
        p.forward(PoolKind::Max, &x, &mut y);
        assert_eq!(y, [3.0]);
        let mut dx = [0.0f32; 4];
        p.backward(PoolKind::Max, &x, &y, &[1.0], &mut dx);
        assert_eq!(dx, [0.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn plain_2x2_max_matches_windowed_definition() {
        // 5x7 planes: the last row and column belong to no window. Values repeat (ties) and
        // include NaN, which max pooling skips.
        let p = Pool2d { planes: 3, height: 5, width: 7, kernel: [2, 2], stride: [2, 2], pad: [0, 0], out_h: 2, out_w: 3 };
        assert!(p.is_plain_2x2());
        let x: Vec<f32> = (0..3 * 35).map(|i| if i % 17 == 5 { f32::NAN } else { ((i * 7) % 5) as f32 }).collect();
        let mut y = vec![0.0f32; 3 * 6];
        p.forward(PoolKind::Max, &x, &mut y);
        let dy: Vec<f32> = (0..18).map(|i| i as f32 + 1.0).collect();
        let mut dx = vec![0.0f32; x.len()];
        p.backward(PoolKind::Max, &x, &y, &dy, &mut dx);

        let mut dx_expected = vec![0.0f32; x.len()];
        for plane in 0..3 {
            for oh in 0..2 {
                for ow in 0..3 {
                    let base = plane * 35 + 2 * oh * 7 + 2 * ow;
                    let block = [base, base + 1, base + 7, base + 8];
                    let max = block.iter().fold(f32::NEG_INFINITY, |m, &i| if x[i] > m { x[i] } else { m });
                    let o = plane * 6 + oh * 3 + ow;
                    assert_eq!(y[o], max);
                    let first = block.iter().copied().find(|&i| x[i] == max).unwrap();
                    dx_expected[first] += dy[o];
                }
            }
        }
        assert_eq!(dx, dx_expected);
    }

    #[test]
    fn avg_divisor_counts_padding() {
        let p = Pool2d { planes: 1, height: 2, width: 2, kernel: [2, 2], stride: [2, 2], pad: [1, 1], out_h: 2, out_w: 2 };
        let x = [4.0f64, 4.0, 4.0, 4.0];
        let mut y = [0.0f64; 4];
        p.forward(PoolKind::Avg { count_include_pad: true }, &x, &mut y);
        assert_eq!(y, [1.0; 4]);
        p.forward(PoolKind::Avg { count_include_pad: false }, &x, &mut y);
        assert_eq!(y, [4.0; 4]);
    }

    #[test]
    fn out_size_conventions() {
        assert_eq!(out_size(7, 3, 2, 0, false), Some(3));
        assert_eq!(out_size(6, 3, 2, 0, true), Some(3));
        assert_eq!(out_size(6, 3, 2, 0, false), Some(2));
        assert_eq!(out_size(2, 3, 1, 0, false), None);
    }
}
