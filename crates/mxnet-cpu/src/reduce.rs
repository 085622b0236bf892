//! Fast sums over contiguous runs, for reductions whose reduced axes are the trailing ones of
//! a row-major array (full reductions included).

use rayon::prelude::*;

use crate::parallel::PARALLEL_MIN_ELEMENTS;

/// A float that sums in independent lanes and combines them in f64.
pub trait SumFloat: Copy + Send + Sync + Default + std::ops::Add<Output = Self> {
    fn to_f64(self) -> f64;
    fn from_f64(v: f64) -> Self;
}

impl SumFloat for f32 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self as f64
    }

    #[inline(always)]
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
}

impl SumFloat for f64 {
    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }

    #[inline(always)]
    fn from_f64(v: f64) -> f64 {
        v
    }
}

/// Sum of `x` with 32 independent accumulators, which the compiler turns into SIMD adds
/// without reassociating a single chain; partial sums are combined in f64.
fn sum_lanes<T: SumFloat>(x: &[T]) -> f64 {
    crate::simd::dispatch(
        #[inline(always)]
        || sum_lanes_inline(x),
    )
}

#[inline(always)]
fn sum_lanes_inline<T: SumFloat>(x: &[T]) -> f64 {
    const LANES: usize = 32;
    let mut acc = [T::default(); LANES];
    let mut chunks = x.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a = *a + v;
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|v| v.to_f64()).sum();
    acc.iter().map(|v| v.to_f64()).sum::<f64>() + tail
}

/// Sum one contiguous run, splitting long runs over rayon threads in blocks of 64K elements
/// (each block is summed in f32 lanes, so a block's rounding error stays small).
pub fn sum_run<T: SumFloat>(x: &[T]) -> f64 {
    const BLOCK: usize = 1 << 16;
    if x.len() < PARALLEL_MIN_ELEMENTS {
        return x.chunks(BLOCK).map(sum_lanes).sum();
    }
    crate::parallel::install(|| x.par_chunks(BLOCK).map(sum_lanes).sum())
}

/// Sum of `f(x[i])` over one contiguous run, in 16 f64 lanes, split over rayon threads like
/// [`sum_run`]. f64 lanes keep terms such as the squares of a 2-norm from overflowing f32.
pub fn sum_run_f64<T: SumFloat>(x: &[T], f: impl Fn(f64) -> f64 + Sync + Copy) -> f64 {
    const BLOCK: usize = 1 << 16;
    let block_sum = |block: &[T]| -> f64 {
        crate::simd::dispatch(
            #[inline(always)]
            || {
                const LANES: usize = 16;
                let mut acc = [0f64; LANES];
                let mut chunks = block.chunks_exact(LANES);
                for chunk in &mut chunks {
                    for (a, &v) in acc.iter_mut().zip(chunk) {
                        *a += f(v.to_f64());
                    }
                }
                let tail: f64 = chunks.remainder().iter().map(|v| f(v.to_f64())).sum();
                acc.iter().sum::<f64>() + tail
            },
        )
    };
    if x.len() < PARALLEL_MIN_ELEMENTS {
        return x.chunks(BLOCK).map(block_sum).sum();
    }
    crate::parallel::install(|| x.par_chunks(BLOCK).map(block_sum).sum())
}

/// `out[i] = sum(x[i * run .. (i + 1) * run])`, converting with `from_f64`.
pub fn sum_runs<T: SumFloat>(x: &[T], run: usize, out: &mut [T], from_f64: impl Fn(f64) -> T + Sync) {
    if run == 0 {
        out.iter_mut().for_each(|o| *o = from_f64(0.0));
        return;
    }
    if out.len() == 1 {
        out[0] = from_f64(sum_run(x));
    } else if x.len() >= PARALLEL_MIN_ELEMENTS {
        crate::parallel::install(|| {
            out.par_iter_mut().zip(x.par_chunks(run)).for_each(|(o, r)| *o = from_f64(sum_run(r)))
        });
    } else {
        out.iter_mut().zip(x.chunks(run)).for_each(|(o, r)| *o = from_f64(sum_run(r)));
    }
}

/// `out[i]` = the maximum (or with `max` false the minimum) of the run `x[i * run .. (i + 1) *
/// run]`, with NaN propagating as in numpy. Each run keeps 16 partial results, so the loop
/// vectorises. `run` must be at least 1.
pub fn extreme_runs<T: SumFloat + PartialOrd>(x: &[T], run: usize, out: &mut [T], max: bool) {
    #[allow(clippy::eq_op)]
    let pick = move |m: T, v: T| if (if max { v > m } else { v < m }) || v != v { v } else { m };
    let run_extreme = |r: &[T]| -> T {
        const LANES: usize = 16;
        let mut lanes = [r[0]; LANES];
        let mut chunks = r.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (lane, &v) in lanes.iter_mut().zip(chunk) {
                *lane = pick(*lane, v);
            }
        }
        let partial = chunks.remainder().iter().fold(r[0], |m, &v| pick(m, v));
        lanes.iter().fold(partial, |m, &v| pick(m, v))
    };
    let fill = |out: &mut [T], x: &[T]| {
        crate::simd::dispatch(
            #[inline(always)]
            || {
                for (o, r) in out.iter_mut().zip(x.chunks_exact(run)) {
                    *o = run_extreme(r);
                }
            },
        )
    };
    if x.len() >= PARALLEL_MIN_ELEMENTS && out.len() > 1 {
        let per_task = (crate::parallel::TASK_ELEMENTS / run).max(1);
        crate::parallel::install(|| {
            out.par_chunks_mut(per_task)
                .zip(x.par_chunks(per_task * run))
                .for_each(|(out, x)| fill(out, x))
        });
    } else {
        fill(out, x);
    }
}

/// Column sums of the row-major `rows x cols` matrix `x`: `out[j] = sum_i x[i * cols + j]`,
/// converting with `from_f64`. Whole rows are added to f64 accumulators, a loop the compiler
/// vectorises, instead of walking each column with a stride. Large inputs split the columns
/// across threads in bands.
pub fn sum_columns<T: SumFloat>(x: &[T], cols: usize, out: &mut [T], from_f64: impl Fn(f64) -> T + Sync) {
    if cols == 0 {
        return;
    }
    let rows = x.len() / cols;
    let band_sums = |first: usize, out: &mut [T]| {
        let mut acc = vec![0f64; out.len()];
        crate::simd::dispatch(
            #[inline(always)]
            || {
                for row in x.chunks_exact(cols).take(rows) {
                    for (a, &v) in acc.iter_mut().zip(&row[first..first + out.len()]) {
                        *a += v.to_f64();
                    }
                }
            },
        );
        for (o, a) in out.iter_mut().zip(acc) {
            *o = from_f64(a);
        }
    };
    // Bands of at least 256 columns, so each thread adds contiguous pieces of 1 KiB or more.
    const BAND: usize = 256;
    if x.len() >= PARALLEL_MIN_ELEMENTS && cols >= 2 * BAND {
        let band = cols.div_ceil(crate::parallel::num_threads()).max(BAND);
        crate::parallel::install(|| {
            out.par_chunks_mut(band).enumerate().for_each(|(i, out)| band_sums(i * band, out))
        });
    } else {
        band_sums(0, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_propagate_nan_and_match_fold() {
        let mut x: Vec<f32> = (0..70_000).map(|i| ((i * 7919 % 1000) as f32) - 500.0).collect();
        x[123] = f32::NAN;
        for (run, max) in [(1000usize, true), (1000, false), (37, true), (1, false)] {
            let n = x.len() / run;
            let mut out = vec![0f32; n];
            extreme_runs(&x[..n * run], run, &mut out, max);
            for (i, o) in out.iter().enumerate() {
                let r = &x[i * run..(i + 1) * run];
                if r.iter().any(|v| v.is_nan()) {
                    assert!(o.is_nan(), "run {i} holds NaN, got {o}");
                } else {
                    let e = r.iter().copied().fold(r[0], |m, v| if (max && v > m) || (!max && v < m) { v } else { m });
                    assert_eq!(*o, e, "run {i}");
                }
            }
        }
    }

    #[test]
    fn column_sums_match_sequential_f64() {
        // 3000 columns split into bands on two or more threads, and a narrow matrix on one.
        for (rows, cols) in [(40usize, 3000usize), (7, 5)] {
            let x: Vec<f32> = (0..rows * cols).map(|i| ((i % 89) as f32) * 0.5 - 20.0).collect();
            let mut out = vec![0f32; cols];
            sum_columns(&x, cols, &mut out, |v| v as f32);
            for (j, o) in out.iter().enumerate() {
                let expected: f64 = (0..rows).map(|i| x[i * cols + j] as f64).sum();
                assert!((*o as f64 - expected).abs() < 1e-3, "column {j}: {o} vs {expected}");
            }
        }
    }

    #[test]
    fn sums_match_sequential_f64() {
        let x: Vec<f32> = (0..200_003).map(|i| ((i % 97) as f32) * 0.25 - 3.0).collect();
        let expected: f64 = x.iter().map(|&v| v as f64).sum();
        assert!((sum_run(&x) - expected).abs() < 1e-6 * expected.abs().max(1.0));
        let mut out = vec![0f32; 7];
        sum_runs(&x[..7 * 1000], 1000, &mut out, |v| v as f32);
        for (i, o) in out.iter().enumerate() {
            let e: f64 = x[i * 1000..(i + 1) * 1000].iter().map(|&v| v as f64).sum();
            assert!((*o as f64 - e).abs() < 1e-3, "{o} vs {e}");
        }
    }
}
