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
    assert!(c.len() >= m * n, "matmul: output buffer holds {} elements, needs {}", c.len(), m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].iter_mut().for_each(|x| *x = T::zero());
        }
        return;
    }
    check_extent(a.data.len(), m, k, a.row_stride, a.col_stride, "a");
    check_extent(b.data.len(), k, n, b.row_stride, b.col_stride, "b");
    if m * n * k <= DIRECT_MAX_FLOPS {
        return direct(m, n, k, a, b, c, accumulate, alpha, beta);
    }
    // SAFETY: the extents of `a`, `b` and `c` were checked above against their strides, so
    // every index gemm computes stays inside the slices. `c` is uniquely borrowed.
    let mut run = |parallelism: Parallelism| unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
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
    };
    if allow_parallel && m * n * k >= PARALLEL_MIN_FLOPS {
        let threads = crate::parallel::num_threads();
        if b.row_stride == 1 && b.col_stride != 1 && m >= threads * SPLIT_MIN_ROWS && m * n * k >= SPLIT_MIN_FLOPS {
            return split_rows(threads, m, n, k, a, b, c, accumulate, alpha, beta);
        }
        // `Rayon(0)` uses every thread of the pool the call runs in.
        crate::parallel::install(|| run(Parallelism::Rayon(0)));
    } else {
        run(Parallelism::None);
    }
}

/// Rows of `c` per thread below which [`split_rows`] is not used.
const SPLIT_MIN_ROWS: usize = 16;

/// Products below this many multiply-adds keep the crate's threading even with a column-major
/// `b`. FullyConnected 128x256 -> 128 (4.2M) ran at 117-127 GFLOP/s split against 152-156
/// through the crate, measured through the engine with 50 calls in a row. NOTE: the
/// crossover between 4.2M and 25.7M (128x784 -> 256, faster split) was not searched.
const SPLIT_MIN_FLOPS: usize = 1 << 24;

/// [`matmul`] as one single-threaded product per block of rows of `c`, the blocks spread over
/// the pool. Used when `b` is column-major, as `W^T` in FullyConnected's forward: the `gemm`
/// crate's own threading barely scaled there. float32 on 2 cores, GFLOP/s of the crate's
/// threading against this split: 128x784x256 188 -> 281, 128x256x784 184 -> 238, 256x256x256
/// 273 -> 289, 1024^3 327 -> 335. With a row-major `b` the two were level within 10% either
/// way, so the crate keeps that case.
#[allow(clippy::too_many_arguments)]
fn split_rows<T: GemmFloat>(
    threads: usize,
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
    use rayon::prelude::*;
    let rows = m.div_ceil(threads);
    crate::parallel::install(|| {
        c[..m * n].par_chunks_mut(rows * n).enumerate().for_each(|(i, block)| {
            let a = MatRef { data: &a.data[i * rows * a.row_stride as usize..], ..a };
            matmul_with(false, block.len() / n, n, k, a, b, block, accumulate, alpha, beta);
        })
    });
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

    /// Every path (plain loops below `DIRECT_MAX_FLOPS`, the gemm crate above, and above
    /// `SPLIT_MIN_FLOPS` the row split that a transposed `b` takes, with a last block of fewer
    /// rows on 2 threads), with accumulation, against a float64 reference.
    #[test]
    fn small_and_large_products_accumulate_with_strides() {
        let sizes = [(3usize, 4usize, 5usize), (8, 9, 10), (20, 21, 22), (40, 41, 42), (101, 131, 1300)];
        assert!(101 * 131 * 1300 >= SPLIT_MIN_FLOPS.max(PARALLEL_MIN_FLOPS));
        for (size, (m, n, k)) in sizes.into_iter().enumerate() {
            let a: Vec<f32> = (0..m * k).map(|x| ((x * 7) % 11) as f32 - 5.0).collect();
            // `b` is stored transposed: element (p, j) at j * k + p.
            let b: Vec<f32> = (0..k * n).map(|x| ((x * 5) % 13) as f32 - 6.0).collect();
            let mut c: Vec<f32> = (0..m * n).map(|x| (x % 3) as f32).collect();
            let before = c.clone();
            matmul(
                m, n, k,
                MatRef { data: &a, row_stride: k as isize, col_stride: 1 },
                MatRef { data: &b, row_stride: 1, col_stride: k as isize },
                &mut c, true, 0.5, 2.0,
            );
            for i in 0..m {
                for j in 0..n {
                    let dot: f64 = (0..k).map(|p| a[i * k + p] as f64 * b[j * k + p] as f64).sum();
                    let expected = 0.5 * before[i * n + j] as f64 + 2.0 * dot;
                    assert!((c[i * n + j] as f64 - expected).abs() < 1e-3, "size {size} ({i}, {j})");
                }
            }
        }
    }
}
