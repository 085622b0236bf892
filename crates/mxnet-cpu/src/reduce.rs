//! Fast sums over contiguous runs, for reductions whose reduced axes are the trailing ones of
//! a row-major array (full reductions included).

use rayon::prelude::*;

use crate::parallel::PARALLEL_MIN_ELEMENTS;

/// A float that sums in independent lanes and combines them in f64.
pub trait SumFloat: Copy + Send + Sync + Default + std::ops::Add<Output = Self> {
    fn to_f64(self) -> f64;
}

impl SumFloat for f32 {
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl SumFloat for f64 {
    fn to_f64(self) -> f64 {
        self
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

#[cfg(test)]
mod tests {
    use super::*;

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
