//! Matrix multiply through the `gemm` crate, which picks AVX2/AVX-512/NEON at run time.

use gemm::Parallelism;

/// Below this many multiply-adds a product runs on one thread, because handing it to the
/// pool costs more than it saves. Measured with `nd.dot` on float32, 2 cores: 128x128x128
/// (2.1M) took 46 us serial and 55 us parallel, 32x500x800 (12.8M) 399 us and 250 us, and
/// 1x800x500 (0.4M) 31 us and 79 us. The crossover lies between 2.1M and 12.8M. NOTE: times
/// of the products between 12M and 30M varied by up to 1.8x from run to run.
const PARALLEL_MIN_FLOPS: usize = 1 << 22;

/// Up to this many multiply-adds a product runs as plain loops: the `gemm` crate's setup
/// (packing, kernel selection) costs more than the whole product, as in a Dense(8) layer on
/// one sample (64 multiply-adds). An estimate from that case, not a measured crossover.
const DIRECT_MAX_FLOPS: usize = 1 << 12;

/// A float type the `gemm` crate can multiply.
pub trait GemmFloat: Copy + Send + Sync + 'static + num_traits::Zero + num_traits::One {}
impl GemmFloat for f32 {}
impl GemmFloat for f64 {}

/// One matrix operand: a pointer-free description (slice, row stride, column stride) in elements.
#[derive(Clone, Copy)]
pub struct MatRef<'a, T> {
    pub data: &'a [T],
    pub row_stride: isize,
    pub col_stride: isize,
}

/// `c = alpha * c + beta * (a @ b)` with `a` m x k, `b` k x n and `c` m x n row-major.
/// When `accumulate` is false, `c` is overwritten (`alpha` is ignored).
#[allow(clippy::too_many_arguments)]
pub fn matmul<T: GemmFloat>(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: &mut [T],
    accumulate: bool,
    alpha: T,
    beta: T,
) {
    matmul_with(true, m, n, k, a, b, c, accumulate, alpha, beta)
}

/// [`matmul`] that stays on the calling thread when `allow_parallel` is false: callers that
/// already split work over the kernel pool (convolution over image blocks) use it, because a
/// nested parallel GEMM measured slower than one GEMM per thread there.
#[allow(clippy::too_many_arguments)]
pub fn matmul_with<T: GemmFloat>(
    allow_parallel: bool,
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: &mut [T],
    accumulate: bool,
    alpha: T,
    beta: T,
) {
    let start = if accumulate { Start::Scaled(alpha) } else { Start::Overwrite };
    matmul_impl(allow_parallel, m, n, k, a, b, c, start, beta)
}

/// `c = a @ b + row`, `row` (n elements) added to every row of `c`: FullyConnected's forward
/// with its bias. Each thread writes the bias into the block of `c` it computes. Adding it
/// on one thread after a product split over 2 cores cost 22-26 us on a 128x128 output, more
/// than the 35 us product, because half of the rows were in the other core's cache.
pub fn matmul_plus_row<T: GemmFloat>(m: usize, n: usize, k: usize, a: MatRef<'_, T>, b: MatRef<'_, T>, row: &[T], c: &mut [T]) {
    assert!(row.len() >= n, "matmul: row holds {} elements, needs {}", row.len(), n);
    matmul_impl(true, m, n, k, a, b, c, Start::Row(row), T::one())
}

/// What `c` holds before `beta * (a @ b)` is added to it.
#[derive(Clone, Copy)]
enum Start<'a, T> {
    /// Nothing: `c` is overwritten.
    Overwrite,
    /// `alpha * c`.
    Scaled(T),
    /// The first n elements of the slice, in every row.
    Row(&'a [T]),
}

impl<T: GemmFloat> Start<'_, T> {
    /// Write the start into the m x n block at `c` (row stride `ldc`) where the product cannot
    /// do it, and return the product's `(accumulate, alpha)`.
    ///
    /// # Safety
    /// `c` must be valid for writes of m rows of n elements at row stride `ldc`.
    unsafe fn prepare(self, m: usize, n: usize, c: *mut T, ldc: usize) -> (bool, T) {
        match self {
            Start::Overwrite => (false, T::zero()),
            Start::Scaled(alpha) => (true, alpha),
            Start::Row(row) => {
                for i in 0..m {
                    std::slice::from_raw_parts_mut(c.add(i * ldc), n).copy_from_slice(&row[..n]);
                }
                (true, T::one())
            }
        }
    }
}

/// [`matmul_with`] with any [`Start`].
#[allow(clippy::too_many_arguments)]
fn matmul_impl<T: GemmFloat>(
    allow_parallel: bool,
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: &mut [T],
    start: Start<'_, T>,
    beta: T,
) {
    assert!(c.len() >= m * n, "matmul: output buffer holds {} elements, needs {}", c.len(), m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // SAFETY: `c` holds m x n elements (asserted above) and is uniquely borrowed.
        let (accumulate, _) = unsafe { start.prepare(m, n, c.as_mut_ptr(), n) };
        if !accumulate {
            c[..m * n].iter_mut().for_each(|x| *x = T::zero());
        }
        return;
    }
    check_extent(a.data.len(), m, k, a.row_stride, a.col_stride, "a");
    check_extent(b.data.len(), k, n, b.row_stride, b.col_stride, "b");
    if m * n * k <= DIRECT_MAX_FLOPS {
        // SAFETY: as above.
        let (accumulate, alpha) = unsafe { start.prepare(m, n, c.as_mut_ptr(), n) };
        return direct(m, n, k, a, b, c, accumulate, alpha, beta);
    }
    let c = OutPtr(c.as_mut_ptr());
    if allow_parallel && m * n * k >= PARALLEL_MIN_FLOPS {
        let threads = crate::parallel::num_threads();
        let column_major_b = b.row_stride == 1 && b.col_stride != 1;
        if n >= threads * SPLIT_MIN_COLUMNS && (column_major_b || m * n * k <= SPLIT_MAX_FLOPS) {
            return split_columns(threads, m, n, k, a, b, c, start, beta);
        }
        // SAFETY: the extents of `a`, `b` and `c` were checked above against their strides, and
        // `c` is uniquely borrowed. `Rayon(0)` uses every thread of the pool the call runs in.
        crate::parallel::install(|| unsafe { gemm_into(m, n, k, c.get(), n, a, b, start, beta, Parallelism::Rayon(0)) });
    } else {
        // SAFETY: as above.
        unsafe { gemm_into(m, n, k, c.get(), n, a, b, start, beta, Parallelism::None) };
    }
}

/// Columns of `c` per thread below which [`split_columns`] is not used: one tile of the
/// crate's AVX-512 float32 kernel.
const SPLIT_MIN_COLUMNS: usize = 16;

/// Up to this many multiply-adds, products with a row-major `b` also take [`split_columns`].
/// Float32 on 2 cores, GFLOP/s of the crate's threading against the split, three runs each:
/// 256^3 153-237 against 228-231, 512^3 218-289 against 245-302, 1024^3 271-308 against
/// 310-318, and FullyConnected's weight gradient (`dY^T X`, 256x784x128) 212 against 235.
/// At 2048^3 the crate's threading was as fast or faster (314-321 against 239-319): there
/// the copy of `a` that each thread packs costs more than sharing the packed `b` saves.
const SPLIT_MAX_FLOPS: usize = 1 << 30;

/// A pointer to the output that may cross to the pool's threads. Each thread writes its own
/// columns.
#[derive(Clone, Copy)]
struct OutPtr<T>(*mut T);

// SAFETY: the blocks written through copies of one `OutPtr` are disjoint.
unsafe impl<T> Send for OutPtr<T> {}
unsafe impl<T> Sync for OutPtr<T> {}

impl<T> OutPtr<T> {
    /// Return the pointer. A closure that calls this method captures the whole `OutPtr`, which
    /// is `Send`, rather than the raw pointer field alone.
    fn get(self) -> *mut T {
        self.0
    }
}

/// [`matmul`] as one single-threaded product per block of columns of `c`, the blocks spread
/// over the pool. Used when `b` is column-major, as `W^T` in FullyConnected's forward, where
/// the `gemm` crate's own threading barely scaled: each thread then packs only its columns of
/// `b`. float32 on 2 cores, GFLOP/s of the crate's threading against this split (and a split
/// over rows, which packs all of `b` on each thread): 128x784x256 192 -> 317 (294),
/// 128x256x128 195 -> 252 (226), 256x256x256 272 -> 314 (297), 64x256x128 119 -> 206 (159).
#[allow(clippy::too_many_arguments)]
fn split_columns<T: GemmFloat>(
    threads: usize,
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: OutPtr<T>,
    start: Start<'_, T>,
    beta: T,
) {
    use rayon::prelude::*;
    let width = n.div_ceil(threads).div_ceil(SPLIT_MIN_COLUMNS) * SPLIT_MIN_COLUMNS;
    crate::parallel::install(|| {
        (0..n.div_ceil(width)).into_par_iter().for_each(|block| {
            let first = block * width;
            let columns = width.min(n - first);
            let b = MatRef { data: &b.data[first * b.col_stride as usize..], ..b };
            let start = match start {
                Start::Row(row) => Start::Row(&row[first..first + columns]),
                other => other,
            };
            // SAFETY: `c` holds m x n elements with row stride n (checked by `matmul_impl`),
            // and this block writes only columns first..first + columns of it.
            unsafe { gemm_into(m, columns, k, c.get().add(first), n, a, b, start, beta, Parallelism::None) };
        })
    });
}

/// `c = start + beta * (a @ b)` through the `gemm` crate, `c` row-major with row stride `ldc`.
///
/// # Safety
/// `c` must be valid for writes of m rows of n elements at row stride `ldc`, and not be
/// accessed otherwise during the call. The extents of `a` and `b` must have been checked.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_into<T: GemmFloat>(
    m: usize,
    n: usize,
    k: usize,
    c: *mut T,
    ldc: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    start: Start<'_, T>,
    beta: T,
    parallelism: Parallelism,
) {
    let (accumulate, alpha) = start.prepare(m, n, c, ldc);
    gemm::gemm(
        m,
        n,
        k,
        c,
        1,
        ldc as isize,
        accumulate,
        a.data.as_ptr(),
        a.col_stride,
        a.row_stride,
        b.data.as_ptr(),
        b.col_stride,
        b.row_stride,
        alpha,
        beta,
        false,
        false,
        false,
        parallelism,
    )
}

/// [`matmul`] for tiny products, with the same contract.
#[allow(clippy::too_many_arguments)]
fn direct<T: GemmFloat>(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    c: &mut [T],
    accumulate: bool,
    alpha: T,
    beta: T,
) {
    let (ars, acs) = (a.row_stride as usize, a.col_stride as usize);
    let (brs, bcs) = (b.row_stride as usize, b.col_stride as usize);
    for i in 0..m {
        for j in 0..n {
            let mut sum = T::zero();
            for p in 0..k {
                sum = sum + a.data[i * ars + p * acs] * b.data[p * brs + j * bcs];
            }
            let out = &mut c[i * n + j];
            *out = if accumulate { alpha * *out + beta * sum } else { beta * sum };
        }
    }
}

fn check_extent(len: usize, rows: usize, cols: usize, rs: isize, cs: isize, name: &str) {
    assert!(rs >= 0, "matmul: operand {name} has a negative row stride");
    assert!(cs >= 0, "matmul: operand {name} has a negative column stride");
    let last = (rows - 1) as isize * rs + (cols - 1) as isize * cs;
    assert!((last as usize) < len, "matmul: operand {name} is shorter than its strides imply");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_matches_naive() {
        let a: Vec<f32> = (0..6).map(|x| x as f32).collect(); // 2x3
        let b: Vec<f32> = (0..12).map(|x| x as f32).collect(); // 3x4
        let mut c = vec![0.0f32; 8];
        matmul(
            2, 4, 3,
            MatRef { data: &a, row_stride: 3, col_stride: 1 },
            MatRef { data: &b, row_stride: 4, col_stride: 1 },
            &mut c, false, 0.0, 1.0,
        );
        let mut expected = vec![0.0f32; 8];
        for i in 0..2 {
            for j in 0..4 {
                for p in 0..3 {
                    expected[i * 4 + j] += a[i * 3 + p] * b[p * 4 + j];
                }
            }
        }
        assert_eq!(c, expected);
    }

    /// `matmul_plus_row` on every path: plain loops, one thread, and the split over columns,
    /// against a float64 reference.
    #[test]
    fn plus_row_adds_the_row_on_every_path() {
        for (m, n, k) in [(3usize, 4usize, 5usize), (40, 41, 42), (101, 131, 333)] {
            let a: Vec<f32> = (0..m * k).map(|x| ((x * 7) % 11) as f32 - 5.0).collect();
            let b: Vec<f32> = (0..k * n).map(|x| ((x * 5) % 13) as f32 - 6.0).collect();
            let row: Vec<f32> = (0..n).map(|j| j as f32 * 0.5 - 3.0).collect();
            let mut c = vec![f32::NAN; m * n];
            matmul_plus_row(
                m, n, k,
                MatRef { data: &a, row_stride: k as isize, col_stride: 1 },
                MatRef { data: &b, row_stride: 1, col_stride: k as isize },
                &row, &mut c,
            );
            for i in 0..m {
                for j in 0..n {
                    let dot: f64 = (0..k).map(|p| a[i * k + p] as f64 * b[j * k + p] as f64).sum();
                    let expected = dot + row[j] as f64;
                    assert!((c[i * n + j] as f64 - expected).abs() < 1e-3, "{m}x{n}x{k} ({i}, {j}): {} vs {expected}", c[i * n + j]);
                }
            }
        }
    }

    /// Every path, with accumulation, against a float64 reference: plain loops below
    /// `DIRECT_MAX_FLOPS`, the gemm crate above, and above `PARALLEL_MIN_FLOPS` the split over
    /// columns (on pools of up to 8 threads, with a narrower last block), for a transposed and
    /// a row-major `b`, and a transposed `a` as in FullyConnected's weight gradient.
    #[test]
    fn small_and_large_products_accumulate_with_strides() {
        let sizes = [(3usize, 4usize, 5usize), (8, 9, 10), (20, 21, 22), (40, 41, 42), (101, 131, 333)];
        assert!(101 * 131 * 333 >= PARALLEL_MIN_FLOPS);
        for (size, (m, n, k)) in sizes.into_iter().enumerate() {
            for (a_transposed, b_transposed) in [(false, true), (false, false), (true, false)] {
                let a: Vec<f32> = (0..m * k).map(|x| ((x * 7) % 11) as f32 - 5.0).collect();
                let b: Vec<f32> = (0..k * n).map(|x| ((x * 5) % 13) as f32 - 6.0).collect();
                // Element (i, p) of `a` and (p, j) of `b`, as stored.
                let a_at = |i: usize, p: usize| if a_transposed { a[p * m + i] } else { a[i * k + p] };
                let b_at = |p: usize, j: usize| if b_transposed { b[j * k + p] } else { b[p * n + j] };
                let a_ref = if a_transposed {
                    MatRef { data: &a[..], row_stride: 1, col_stride: m as isize }
                } else {
                    MatRef { data: &a[..], row_stride: k as isize, col_stride: 1 }
                };
                let b_ref = if b_transposed {
                    MatRef { data: &b[..], row_stride: 1, col_stride: k as isize }
                } else {
                    MatRef { data: &b[..], row_stride: n as isize, col_stride: 1 }
                };
                let mut c: Vec<f32> = (0..m * n).map(|x| (x % 3) as f32).collect();
                let before = c.clone();
                matmul(m, n, k, a_ref, b_ref, &mut c, true, 0.5, 2.0);
                for i in 0..m {
                    for j in 0..n {
                        let dot: f64 = (0..k).map(|p| a_at(i, p) as f64 * b_at(p, j) as f64).sum();
                        let expected = 0.5 * before[i * n + j] as f64 + 2.0 * dot;
                        let got = c[i * n + j] as f64;
                        assert!((got - expected).abs() < 1e-3, "size {size}, a^T {a_transposed}, b^T {b_transposed} ({i}, {j}): {got} vs {expected}");
                    }
                }
            }
        }
    }
}
