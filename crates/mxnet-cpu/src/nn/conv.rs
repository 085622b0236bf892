//! 2-D convolution as im2col + GEMM, one image at a time (1-D convolutions use height 1).
//! Images are spread over the kernel pool's threads when the batch is large enough; each thread owns
//! its column buffer, and the weight gradient is summed from per-thread partial buffers.

use rayon::prelude::*;

use super::Real;
use crate::gemm::{matmul_with, MatRef};
use crate::parallel;
use crate::reduce::SumFloat;
use crate::scratch::Scratch;

/// Below this many multiply-adds for the whole batch a convolution runs on one thread, since
/// spreading small batches costs more in thread wake-ups than it saves (an estimate, not a
/// measured crossover).
const PARALLEL_MIN_FLOPS: usize = 1 << 20;

/// Shape of one convolution call: NCHW data, weight (filters, channels / groups, kh, kw).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    pub batch: usize,
    pub in_channels: usize,
    pub height: usize,
    pub width: usize,
    pub filters: usize,
    pub groups: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub dilate: [usize; 2],
    pub out_h: usize,
    pub out_w: usize,
}

/// Output length of one spatial axis, or `None` when the dilated kernel does not fit in the
/// padded input or the stride is zero.
pub fn out_size(input: usize, kernel: usize, stride: usize, pad: usize, dilate: usize) -> Option<usize> {
    if kernel == 0 || stride == 0 || dilate == 0 {
        return None;
    }
    let effective = dilate * (kernel - 1) + 1;
    let padded = input + 2 * pad;
    (padded >= effective).then(|| (padded - effective) / stride + 1)
}

impl Conv2d {
    fn group_channels(&self) -> usize {
        self.in_channels / self.groups
    }

    fn group_filters(&self) -> usize {
        self.filters / self.groups
    }

    /// Rows of the column matrix of one group: channels per group times kernel area.
    fn col_rows(&self) -> usize {
        self.group_channels() * self.kernel[0] * self.kernel[1]
    }

    fn out_area(&self) -> usize {
        self.out_h * self.out_w
    }

    fn in_image(&self) -> usize {
        self.in_channels * self.height * self.width
    }

    fn out_image(&self) -> usize {
        self.filters * self.out_area()
    }

    /// 1x1 kernels with stride 1 and no padding multiply the image directly, without im2col.
    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.pad == [0, 0]
    }

    fn flops(&self) -> usize {
        self.batch * self.filters * self.col_rows() * self.out_area()
    }

    /// Number of batch chunks to spread over threads (1 for small problems).
    fn chunks(&self) -> usize {
        if self.batch > 1 && self.flops() >= PARALLEL_MIN_FLOPS {
            self.batch.min(parallel::num_threads().max(1))
        } else {
            1
        }
    }

    /// Valid output columns `[lo, hi)` for kernel column `kj`: those whose input column lies
    /// inside the image, so the loops skip the padding without per-element checks.
    #[inline]
    fn valid_cols(&self, kj: usize) -> (usize, usize) {
        let offset = (kj * self.dilate[1]) as isize - self.pad[1] as isize;
        let s = self.stride[1] as isize;
        let lo = if offset >= 0 { 0 } else { ((-offset) + s - 1) / s };
        let limit = self.width as isize - offset;
        let hi = if limit <= 0 { 0 } else { (limit + s - 1) / s };
        let hi = (hi as usize).min(self.out_w);
        let lo = (lo as usize).min(hi);
        (lo, hi)
    }

    /// Input row for output row `oh` and kernel row `ki`, or `None` inside the padding.
    #[inline]
    fn input_row(&self, oh: usize, ki: usize) -> Option<usize> {
        let ih = (oh * self.stride[0] + ki * self.dilate[0]) as isize - self.pad[0] as isize;
        (ih >= 0 && (ih as usize) < self.height).then_some(ih as usize)
    }

    /// Unfold the channels of one group of one image (`channels x height x width`) into
    /// `col` (`channels * kh * kw` rows, `out_h * out_w` columns).
    pub fn im2col<T: Real>(&self, image: &[T], col: &mut [T]) {
        self.im2col_into(image, col, self.out_area());
    }

    /// Like [`Conv2d::im2col`], with rows `ld` elements apart, so several images can be
    /// unfolded side by side into one wide matrix.
    fn im2col_into<T: Real>(&self, image: &[T], col: &mut [T], ld: usize) {
        let (kh, kw) = (self.kernel[0], self.kernel[1]);
        let area = ld;
        let plane = self.height * self.width;
        if self.pad == [0, 0] && self.stride == [1, 1] && self.dilate == [1, 1] {
            // Without padding, stride or dilation (LeNet's layers) every output row reads
            // `out_w` consecutive inputs, so the loop has no bounds to compute per row.
            let (width, out_w, out_h) = (self.width, self.out_w, self.out_h);
            for c in 0..self.group_channels() {
                let src = &image[c * plane..(c + 1) * plane];
                for ki in 0..kh {
                    for kj in 0..kw {
                        let row = ((c * kh + ki) * kw + kj) * area;
                        let dst_rows = col[row..row + out_h * out_w].chunks_exact_mut(out_w);
                        for (oh, dst) in dst_rows.enumerate() {
                            let start = (oh + ki) * width + kj;
                            copy_short(dst, &src[start..start + out_w]);
                        }
                    }
                }
            }
            return;
        }
        for c in 0..self.group_channels() {
            let src = &image[c * plane..(c + 1) * plane];
            for ki in 0..kh {
                for kj in 0..kw {
                    let row = ((c * kh + ki) * kw + kj) * area;
                    let (lo, hi) = self.valid_cols(kj);
                    let col_offset = (kj * self.dilate[1]) as isize - self.pad[1] as isize;
                    for oh in 0..self.out_h {
                        let dst = &mut col[row + oh * self.out_w..row + (oh + 1) * self.out_w];
                        let Some(ih) = self.input_row(oh, ki) else {
                            dst.fill(T::zero());
                            continue;
                        };
                        dst[..lo].fill(T::zero());
                        dst[hi..].fill(T::zero());
                        let line = &src[ih * self.width..(ih + 1) * self.width];
                        let first = (lo as isize * self.stride[1] as isize + col_offset) as usize;
                        if self.stride[1] == 1 {
                            copy_short(&mut dst[lo..hi], &line[first..first + (hi - lo)]);
                        } else {
                            for (k, d) in dst[lo..hi].iter_mut().enumerate() {
                                *d = line[first + k * self.stride[1]];
                            }
                        }
                    }
                }
            }
        }
    }

    /// Fold `col` back into one group of one image, adding overlapping contributions (the
    /// adjoint of [`Conv2d::im2col`]). `image` must be initialised by the caller.
    pub fn col2im<T: Real>(&self, col: &[T], image: &mut [T]) {
        self.col2im_from(col, image, self.out_area());
    }

    /// Like [`Conv2d::col2im`], reading rows `ld` elements apart.
    fn col2im_from<T: Real>(&self, col: &[T], image: &mut [T], ld: usize) {
        let (kh, kw) = (self.kernel[0], self.kernel[1]);
        let area = ld;
        let plane = self.height * self.width;
        for c in 0..self.group_channels() {
            let dst = &mut image[c * plane..(c + 1) * plane];
            for ki in 0..kh {
                for kj in 0..kw {
                    let row = ((c * kh + ki) * kw + kj) * area;
                    let (lo, hi) = self.valid_cols(kj);
                    let col_offset = (kj * self.dilate[1]) as isize - self.pad[1] as isize;
                    for oh in 0..self.out_h {
                        let Some(ih) = self.input_row(oh, ki) else { continue };
                        let src = &col[row + oh * self.out_w + lo..row + oh * self.out_w + hi];
                        let line = &mut dst[ih * self.width..(ih + 1) * self.width];
                        let first = (lo as isize * self.stride[1] as isize + col_offset) as usize;
                        if self.stride[1] == 1 {
                            for (d, &v) in line[first..first + src.len()].iter_mut().zip(src) {
                                *d = *d + v;
                            }
                        } else {
                            for (k, &v) in src.iter().enumerate() {
                                line[first + k * self.stride[1]] = line[first + k * self.stride[1]] + v;
                            }
                        }
                    }
                }
            }
        }
    }

    /// `y = conv(x, w) + bias`. `x` is `(batch, in_channels, height, width)`, `w` is
    /// `(filters, in_channels / groups, kh, kw)`, `y` is `(batch, filters, out_h, out_w)`.
    pub fn forward<T: Real>(&self, x: &[T], w: &[T], bias: Option<&[T]>, y: &mut [T]) {
        let out_image = self.out_image();
        if out_image == 0 || self.batch == 0 {
            return;
        }
        if self.col_rows() == 0 {
            // No input channels: each output is its filter's bias (zero without one), as a
            // product over an empty inner dimension gives.
            for (i, plane) in y.chunks_mut(self.out_area()).enumerate() {
                plane.fill(bias.map_or(T::zero(), |b| b[i % self.filters]));
            }
            return;
        }
        let per_chunk = self.batch.div_ceil(self.chunks());
        let run = |first: usize, y_chunk: &mut [T]| {
            if self.is_pointwise() {
                for (i, y_image) in y_chunk.chunks_mut(out_image).enumerate() {
                    let n = first + i;
                    self.forward_image(&x[n * self.in_image()..(n + 1) * self.in_image()], w, bias, y_image, &mut []);
                }
                return;
            }
            let nb = self.images_per_gemm();
            let (col_len, wide_len) = (self.col_rows() * self.out_area() * nb, self.group_filters() * self.out_area() * nb);
            let (mut col, mut wide) = (Scratch::take::<T>(col_len), Scratch::take::<T>(wide_len));
            let (col, wide) = (col.slice::<T>(col_len), wide.slice::<T>(wide_len));
            for (i, y_block) in y_chunk.chunks_mut(out_image * nb).enumerate() {
                let n = first + i * nb;
                let count = y_block.len() / out_image;
                let images = &x[n * self.in_image()..(n + count) * self.in_image()];
                self.forward_block(images, count, w, bias, y_block, col, wide);
            }
        };
        if per_chunk >= self.batch {
            run(0, y);
        } else {
            parallel::install(|| {
                y.par_chunks_mut(per_chunk * out_image)
                    .enumerate()
                    .for_each(|(c, y_chunk)| run(c * per_chunk, y_chunk))
            });
        }
    }

    /// Images unfolded side by side for one GEMM: wide products keep the GEMM kernel busy
    /// where one small image (LeNet's 8x8 outputs) would leave it starved. The column buffer
    /// is kept near 256 KiB, so that it, the GEMM's packed copy and the product stay in a
    /// core's L2 cache (2 MiB here). Measured on LeNet's second layer at batch 128
    /// (`cargo bench -p mxnet-cpu --bench kernels conv`), forward and backward: 4 MiB 3.0 and
    /// 6.4 ms, 1 MiB 2.4 and 5.7, 512 KiB 2.3 and 4.9, 256 KiB 2.3 and 4.5, 128 KiB 2.3 and 4.6.
    fn images_per_gemm(&self) -> usize {
        let per_image = self.col_rows() * self.out_area() * 4;
        const COL_BUFFER_BYTES: usize = 1 << 18;
        (COL_BUFFER_BYTES / per_image.max(1)).clamp(1, self.batch.max(1))
    }

    /// Forward of `count` consecutive images through one GEMM per group.
    #[allow(clippy::too_many_arguments)]
    fn forward_block<T: Real>(
        &self,
        images: &[T],
        count: usize,
        w: &[T],
        bias: Option<&[T]>,
        y: &mut [T],
        col: &mut [T],
        wide: &mut [T],
    ) {
        let (cg, fg, rows, area) = (self.group_channels(), self.group_filters(), self.col_rows(), self.out_area());
        let (plane, ld) = (self.height * self.width, area * count);
        let (in_image, out_image) = (self.in_image(), self.out_image());
        for g in 0..self.groups {
            for i in 0..count {
                let group_image = &images[i * in_image + g * cg * plane..i * in_image + (g + 1) * cg * plane];
                self.im2col_into(group_image, &mut col[i * area..], ld);
            }
            let w_g = &w[g * fg * rows..(g + 1) * fg * rows];
            matmul_with(
                self.chunks() == 1,
                fg,
                ld,
                rows,
                MatRef { data: w_g, row_stride: rows as isize, col_stride: 1 },
                MatRef { data: &col[..rows * ld], row_stride: ld as isize, col_stride: 1 },
                &mut wide[..fg * ld],
                false,
                T::zero(),
                T::one(),
            );
            // Scatter the (filters, images * area) product into (images, filters, area).
            for f in 0..fg {
                let bf = bias.map_or(T::zero(), |b| b[g * fg + f]);
                for i in 0..count {
                    let src = &wide[f * ld + i * area..f * ld + (i + 1) * area];
                    let dst = &mut y[i * out_image + (g * fg + f) * area..i * out_image + (g * fg + f + 1) * area];
                    for (d, &v) in dst.iter_mut().zip(src) {
                        *d = v + bf;
                    }
                }
            }
        }
    }

    fn forward_image<T: Real>(&self, image: &[T], w: &[T], bias: Option<&[T]>, y: &mut [T], col: &mut [T]) {
        let (cg, fg, rows, area) = (self.group_channels(), self.group_filters(), self.col_rows(), self.out_area());
        let plane = self.height * self.width;
        for g in 0..self.groups {
            let group_image = &image[g * cg * plane..(g + 1) * cg * plane];
            let cols: &[T] = if self.is_pointwise() {
                group_image
            } else {
                self.im2col(group_image, col);
                col
            };
            let w_g = &w[g * fg * rows..(g + 1) * fg * rows];
            matmul_with(
                self.chunks() == 1,
                fg,
                area,
                rows,
                MatRef { data: w_g, row_stride: rows as isize, col_stride: 1 },
                MatRef { data: cols, row_stride: area as isize, col_stride: 1 },
                &mut y[g * fg * area..(g + 1) * fg * area],
                false,
                T::zero(),
                T::one(),
            );
        }
        if let Some(b) = bias {
            for (f, plane) in y.chunks_mut(area).enumerate() {
                let bf = b[f];
                plane.iter_mut().for_each(|v| *v = *v + bf);
            }
        }
    }

    /// Gradients of [`Conv2d::forward`]: `dx` (overwritten; skipped when `None`, for data
    /// that needs no gradient), `dw` (overwritten) and `db` (overwritten when given) from the
    /// head gradient `dy`.
    pub fn backward<T: Real>(&self, x: &[T], w: &[T], dy: &[T], mut dx: Option<&mut [T]>, dw: &mut [T], db: Option<&mut [T]>) {
        let (in_image, out_image) = (self.in_image(), self.out_image());
        if let Some(dx) = dx.as_deref_mut() {
            dx.fill(T::zero());
        }
        dw.fill(T::zero());
        let area = self.out_area();
        // `db[f] += sum(dy[image, f])` for the images of `dy`, with vectorised partial sums.
        let add_bias_gradient = |dy: &[T], db: &mut [T]| {
            for image in dy.chunks(out_image.max(1)) {
                for (f, plane) in image.chunks(area.max(1)).enumerate().take(db.len()) {
                    db[f] = db[f] + <T as SumFloat>::from_f64(super::norm::sum(plane));
                }
            }
        };
        if self.batch == 0 || out_image == 0 || in_image == 0 {
            if let Some(db) = db {
                db.fill(T::zero());
                add_bias_gradient(&dy[..self.batch * out_image], db);
            }
            return;
        }

        let per_chunk = self.batch.div_ceil(self.chunks());
        let dw_len = dw.len();
        let db_len = if db.is_some() { self.filters } else { 0 };
        // Gradients of images `first..first + count`: their share of dw and db, one after the
        // other. `dx_chunk` contains their dx, if wanted. The bias gradient is summed here, where
        // the chunk's dy is in cache and the threads share the work.
        let run = |first: usize, count: usize, mut dx_chunk: Option<&mut [T]>| -> Vec<T> {
            let mut part = vec![T::zero(); dw_len + db_len];
            let (dw_part, db_part) = part.split_at_mut(dw_len);
            let nb = if self.is_pointwise() { 1 } else { self.images_per_gemm() };
            let col_len = if self.is_pointwise() { 0 } else { self.col_rows() * self.out_area() * nb };
            let wide_len = if self.is_pointwise() { 0 } else { self.group_filters() * self.out_area() * nb };
            let mut scratch = [Scratch::take::<T>(col_len), Scratch::take::<T>(col_len), Scratch::take::<T>(wide_len)];
            let [col, dcol, wide] = &mut scratch;
            let (col, dcol, wide) = (col.slice::<T>(col_len), dcol.slice::<T>(col_len), wide.slice::<T>(wide_len));
            for start in (0..count).step_by(nb) {
                let (n, block) = (first + start, nb.min(count - start));
                let images = &x[n * in_image..(n + block) * in_image];
                let dy_block = &dy[n * out_image..(n + block) * out_image];
                let dx_block = dx_chunk.as_deref_mut().map(|d| &mut d[start * in_image..(start + block) * in_image]);
                if self.is_pointwise() {
                    self.backward_image(images, w, dy_block, dx_block, dw_part, &mut [], &mut []);
                } else {
                    let buffers = (&mut col[..], &mut dcol[..], &mut wide[..]);
                    self.backward_block(images, block, w, dy_block, dx_block, dw_part, buffers);
                }
                add_bias_gradient(dy_block, db_part);
            }
            part
        };
        let parts: Vec<Vec<T>> = if per_chunk >= self.batch {
            vec![run(0, self.batch, dx)]
        } else {
            parallel::install(|| match dx {
                Some(dx) => dx
                    .par_chunks_mut(per_chunk * in_image)
                    .enumerate()
                    .map(|(c, dx_chunk)| run(c * per_chunk, dx_chunk.len() / in_image, Some(dx_chunk)))
                    .collect(),
                None => (0..self.batch.div_ceil(per_chunk))
                    .into_par_iter()
                    .map(|c| run(c * per_chunk, per_chunk.min(self.batch - c * per_chunk), None))
                    .collect(),
            })
        };
        let mut db = db;
        if let Some(db) = db.as_deref_mut() {
            db.fill(T::zero());
        }
        for part in parts {
            let (dw_part, db_part) = part.split_at(dw_len);
            dw.iter_mut().zip(dw_part).for_each(|(d, &p)| *d = *d + p);
            if let Some(db) = db.as_deref_mut() {
                db.iter_mut().zip(db_part).for_each(|(d, &p)| *d = *d + p);
            }
        }
    }

    /// Gradients of `count` consecutive images with one GEMM per group and product.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn backward_block<T: Real>(
        &self,
        images: &[T],
        count: usize,
        w: &[T],
        dy: &[T],
        mut dx: Option<&mut [T]>,
        dw: &mut [T],
        (col, dcol, wide): (&mut [T], &mut [T], &mut [T]),
    ) {
        let (cg, fg, rows, area) = (self.group_channels(), self.group_filters(), self.col_rows(), self.out_area());
        let (plane, ld) = (self.height * self.width, area * count);
        let (in_image, out_image) = (self.in_image(), self.out_image());
        for g in 0..self.groups {
            // Gather dy of this group as (filters, images * area) and unfold the images.
            for f in 0..fg {
                for i in 0..count {
                    let src = &dy[i * out_image + (g * fg + f) * area..i * out_image + (g * fg + f + 1) * area];
                    wide[f * ld + i * area..f * ld + (i + 1) * area].copy_from_slice(src);
                }
            }
            for i in 0..count {
                let group_image = &images[i * in_image + g * cg * plane..i * in_image + (g + 1) * cg * plane];
                self.im2col_into(group_image, &mut col[i * area..], ld);
            }
            let dy_m = MatRef { data: &wide[..fg * ld], row_stride: ld as isize, col_stride: 1 };

            // dw_g += dy_g (fg x ld) @ col^T (ld x rows)
            matmul_with(
                self.chunks() == 1,
                fg,
                rows,
                ld,
                dy_m,
                MatRef { data: &col[..rows * ld], row_stride: 1, col_stride: ld as isize },
                &mut dw[g * fg * rows..(g + 1) * fg * rows],
                true,
                T::one(),
                T::one(),
            );

            // dcol = w_g^T (rows x fg) @ dy_g (fg x ld), folded back into each image.
            let Some(dx) = dx.as_deref_mut() else { continue };
            let w_g = &w[g * fg * rows..(g + 1) * fg * rows];
            let w_t = MatRef { data: w_g, row_stride: 1, col_stride: rows as isize };
            matmul_with(self.chunks() == 1, rows, ld, fg, w_t, dy_m, &mut dcol[..rows * ld], false, T::zero(), T::one());
            for i in 0..count {
                let group_dx = &mut dx[i * in_image + g * cg * plane..i * in_image + (g + 1) * cg * plane];
                self.col2im_from(&dcol[i * area..], group_dx, ld);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn backward_image<T: Real>(
        &self,
        image: &[T],
        w: &[T],
        dy: &[T],
        mut dx: Option<&mut [T]>,
        dw: &mut [T],
        col: &mut [T],
        dcol: &mut [T],
    ) {
        let (cg, fg, rows, area) = (self.group_channels(), self.group_filters(), self.col_rows(), self.out_area());
        let plane = self.height * self.width;
        for g in 0..self.groups {
            let group_range = g * cg * plane..(g + 1) * cg * plane;
            let dy_g = &dy[g * fg * area..(g + 1) * fg * area];
            let w_g = &w[g * fg * rows..(g + 1) * fg * rows];

            // dw_g += dy_g (fg x area) @ col^T (area x rows)
            let cols: &[T] = if self.is_pointwise() {
                &image[group_range.clone()]
            } else {
                self.im2col(&image[group_range.clone()], col);
                col
            };
            matmul_with(
                self.chunks() == 1,
                fg,
                rows,
                area,
                MatRef { data: dy_g, row_stride: area as isize, col_stride: 1 },
                MatRef { data: cols, row_stride: 1, col_stride: area as isize },
                &mut dw[g * fg * rows..(g + 1) * fg * rows],
                true,
                T::one(),
                T::one(),
            );

            // dcol = w_g^T (rows x fg) @ dy_g (fg x area), folded back into dx.
            let Some(dx) = dx.as_deref_mut() else { continue };
            let w_t = MatRef { data: w_g, row_stride: 1, col_stride: rows as isize };
            let dy_m = MatRef { data: dy_g, row_stride: area as isize, col_stride: 1 };
            if self.is_pointwise() {
                matmul_with(self.chunks() == 1, rows, area, fg, w_t, dy_m, &mut dx[group_range], false, T::zero(), T::one());
            } else {
                matmul_with(self.chunks() == 1, rows, area, fg, w_t, dy_m, dcol, false, T::zero(), T::one());
                self.col2im(dcol, &mut dx[group_range]);
            }
        }
    }
}

/// `dst.copy_from_slice(src)` for the short rows of im2col (8 elements in LeNet's second
/// layer): eight elements at a time with fixed-size moves, where `copy_from_slice` would call
/// `memmove` for every row (16% of a LeNet convolution's time).
#[inline(always)]
fn copy_short<T: Copy>(dst: &mut [T], src: &[T]) {
    let mut dst_chunks = dst.chunks_exact_mut(8);
    let mut src_chunks = src.chunks_exact(8);
    for (d, s) in (&mut dst_chunks).zip(&mut src_chunks) {
        let d: &mut [T; 8] = d.try_into().expect("chunks of 8");
        *d = *<&[T; 8]>::try_from(s).expect("chunks of 8");
    }
    for (d, &s) in dst_chunks.into_remainder().iter_mut().zip(src_chunks.remainder()) {
        *d = s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(p: &Conv2d, x: &[f64], w: &[f64]) -> Vec<f64> {
        let (cg, fg) = (p.in_channels / p.groups, p.filters / p.groups);
        let mut y = vec![0.0; p.batch * p.filters * p.out_h * p.out_w];
        for n in 0..p.batch {
            for f in 0..p.filters {
                let g = f / fg;
                for oh in 0..p.out_h {
                    for ow in 0..p.out_w {
                        let mut acc = 0.0;
                        for c in 0..cg {
                            for ki in 0..p.kernel[0] {
                                for kj in 0..p.kernel[1] {
                                    let ih = (oh * p.stride[0] + ki * p.dilate[0]) as isize - p.pad[0] as isize;
                                    let iw = (ow * p.stride[1] + kj * p.dilate[1]) as isize - p.pad[1] as isize;
                                    if ih < 0 || iw < 0 || ih as usize >= p.height || iw as usize >= p.width {
                                        continue;
                                    }
                                    let xi = ((n * p.in_channels + g * cg + c) * p.height + ih as usize) * p.width + iw as usize;
                                    let wi = ((f * cg + c) * p.kernel[0] + ki) * p.kernel[1] + kj;
                                    acc += x[xi] * w[wi];
                                }
                            }
                        }
                        y[((n * p.filters + f) * p.out_h + oh) * p.out_w + ow] = acc;
                    }
                }
            }
        }
        y
    }

    #[test]
    fn forward_matches_naive_with_stride_pad_dilate_groups() {
        let (h, w_) = (7, 6);
        let (kernel, stride, pad, dilate) = ([3, 2], [2, 3], [1, 2], [2, 1]);
        let p = Conv2d {
            batch: 2,
            in_channels: 4,
            height: h,
            width: w_,
            filters: 6,
            groups: 2,
            kernel,
            stride,
            pad,
            dilate,
            out_h: out_size(h, kernel[0], stride[0], pad[0], dilate[0]).unwrap(),
            out_w: out_size(w_, kernel[1], stride[1], pad[1], dilate[1]).unwrap(),
        };
        let x: Vec<f64> = (0..2 * 4 * h * w_).map(|i| ((i * 37 % 11) as f64) - 5.0).collect();
        let w: Vec<f64> = (0..6 * 2 * 3 * 2).map(|i| ((i * 13 % 7) as f64) - 3.0).collect();
        let mut y = vec![0.0; 2 * 6 * p.out_h * p.out_w];
        p.forward(&x, &w, None, &mut y);
        assert_eq!(y, naive(&p, &x, &w));
    }

    #[test]
    fn col2im_is_adjoint_of_im2col() {
        let p = Conv2d {
            batch: 1,
            in_channels: 2,
            height: 5,
            width: 5,
            filters: 1,
            groups: 1,
            kernel: [3, 3],
            stride: [2, 1],
            pad: [1, 1],
            dilate: [1, 2],
            out_h: out_size(5, 3, 2, 1, 1).unwrap(),
            out_w: out_size(5, 3, 1, 1, 2).unwrap(),
        };
        let image: Vec<f64> = (0..50).map(|i| (i % 7) as f64).collect();
        let rows = 2 * 9 * p.out_h * p.out_w;
        let other: Vec<f64> = (0..rows).map(|i| (i % 5) as f64 - 2.0).collect();
        let mut col = vec![0.0; rows];
        p.im2col(&image, &mut col);
        let mut folded = vec![0.0; 50];
        p.col2im(&other, &mut folded);
        let lhs: f64 = col.iter().zip(&other).map(|(a, b)| a * b).sum();
        let rhs: f64 = image.iter().zip(&folded).map(|(a, b)| a * b).sum();
        assert_eq!(lhs, rhs);
    }

    #[test]
    fn blocked_gemm_matches_single_images() {
        // 16 channels, 3x3, 48x48: about 1.2 MB of columns per image, so several blocks of
        // images run per thread chunk and the last block is partial.
        let (batch, channels, size) = (7, 16, 48);
        let p = Conv2d {
            batch,
            in_channels: channels,
            height: size,
            width: size,
            filters: 5,
            groups: 1,
            kernel: [3, 3],
            stride: [1, 1],
            pad: [0, 0],
            dilate: [1, 1],
            out_h: size - 2,
            out_w: size - 2,
        };
        assert!(p.images_per_gemm() < batch);
        let x: Vec<f64> = (0..batch * p.in_image()).map(|i| ((i * 37 % 11) as f64) - 5.0).collect();
        let w: Vec<f64> = (0..5 * channels * 9).map(|i| ((i * 13 % 7) as f64) - 3.0).collect();
        let dy: Vec<f64> = (0..batch * p.out_image()).map(|i| ((i * 7 % 5) as f64) - 2.0).collect();

        let mut y = vec![0.0; batch * p.out_image()];
        p.forward(&x, &w, None, &mut y);
        assert_eq!(y, naive(&p, &x, &w));

        let mut dx = vec![0.0; x.len()];
        let mut dw = vec![0.0; w.len()];
        p.backward(&x, &w, &dy, Some(&mut dx), &mut dw, None);
        let single = Conv2d { batch: 1, ..p };
        let mut dw_sum = vec![0.0; w.len()];
        for n in 0..batch {
            let mut dx1 = vec![0.0; p.in_image()];
            let mut dw1 = vec![0.0; w.len()];
            let xs = &x[n * p.in_image()..(n + 1) * p.in_image()];
            let dys = &dy[n * p.out_image()..(n + 1) * p.out_image()];
            single.backward(xs, &w, dys, Some(&mut dx1), &mut dw1, None);
            assert_eq!(&dx[n * p.in_image()..(n + 1) * p.in_image()], &dx1[..]);
            dw_sum.iter_mut().zip(&dw1).for_each(|(a, b)| *a += b);
        }
        assert_eq!(dw, dw_sum);

        // Without dx (data that needs no gradient) the weight gradient is unchanged.
        let mut dw_only = vec![0.0; w.len()];
        p.backward(&x, &w, &dy, None, &mut dw_only, None);
        assert_eq!(dw_only, dw);
    }
}
