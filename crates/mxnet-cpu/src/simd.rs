//! SIMD instruction sets chosen at run time. Wheels are compiled for the architecture's
//! baseline (SSE2 on x86-64), where the compiler vectorises plain loops four f32 lanes wide.
//! A loop run through [`dispatch`] is compiled again for AVX2+FMA and for AVX-512 (by `pulp`),
//! and the widest set this CPU supports runs it: 8 or 16 lanes, without `target-cpu=native`.

use std::any::TypeId;
use std::sync::OnceLock;

use pulp::{Arch, Simd, WithSimd};

/// Detect the widest instruction set of this CPU, once per process.
fn arch() -> Arch {
    static ARCH: OnceLock<Arch> = OnceLock::new();
    *ARCH.get_or_init(Arch::new)
}

/// Run `kernel` compiled for the widest instruction set of this CPU. Mark the closure
/// `#[inline(always)]` and the functions it calls `#[inline]` or `#[inline(always)]`, because
/// code that stays a separate function is compiled for the baseline only. An optimizer update
/// whose closure was not inlined ran as 4-wide SSE code, slower than the inlined version.
#[inline(always)]
pub fn dispatch<R>(kernel: impl FnOnce() -> R) -> R {
    arch().dispatch(kernel)
}

/// [`dispatch`] for kernels that use `f32::mul_add` or `f64::mul_add` when it is one
/// instruction. `kernel` receives `true` in the copies compiled for instruction sets with fused
/// multiply-add (AVX2+FMA, AVX-512, aarch64) and `false` in the baseline copy on x86, where
/// `mul_add` is a slow library call. The flag is a constant in each copy, so tests on it fold.
#[inline(always)]
pub fn dispatch_fused<R>(kernel: impl FnOnce(bool) -> R) -> R {
    arch().dispatch(Fused(kernel))
}

struct Fused<F>(F);

impl<R, F: FnOnce(bool) -> R> WithSimd for Fused<F> {
    type Output = R;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) -> R {
        let baseline_x86 = cfg!(any(target_arch = "x86", target_arch = "x86_64"))
            && TypeId::of::<S>() == TypeId::of::<pulp::Scalar>();
        let has_fma = cfg!(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")) && !baseline_x86;
        (self.0)(has_fma)
    }
}

/// `dst[i] = f(src[i], fused)` over two slices of equal length, where `fused` is true when
/// `mul_add` is one instruction in this copy (see [`dispatch_fused`]).
#[inline(always)]
pub fn map_fused<A: Copy, O>(src: &[A], dst: &mut [O], f: impl Fn(A, bool) -> O) {
    dispatch_fused(
        #[inline(always)]
        |fused| {
            for (d, &x) in dst.iter_mut().zip(src) {
                *d = f(x, fused);
            }
        },
    )
}

/// `dst[i] = f(src[i])` over two slices of equal length.
#[inline(always)]
pub fn map<A: Copy, O>(src: &[A], dst: &mut [O], f: impl Fn(A) -> O) {
    dispatch(
        #[inline(always)]
        || {
            for (d, &x) in dst.iter_mut().zip(src) {
                *d = f(x);
            }
        },
    )
}

/// `dst[i] = f(a[i], b[i])` over three slices of equal length.
#[inline(always)]
pub fn zip_map<A: Copy, B: Copy, O>(a: &[A], b: &[B], dst: &mut [O], f: impl Fn(A, B) -> O) {
    dispatch(
        #[inline(always)]
        || {
            for ((d, &x), &y) in dst.iter_mut().zip(a).zip(b) {
                *d = f(x, y);
            }
        },
    )
}
