//! SIMD instruction sets chosen at run time. Wheels are compiled for the architecture's
//! baseline (SSE2 on x86-64), where the compiler vectorises plain loops four f32 lanes wide.
//! A loop run through [`dispatch`] is compiled again for AVX2+FMA and for AVX-512 (by `pulp`),
//! and the widest set this CPU supports runs it: 8 or 16 lanes, without `target-cpu=native`.

use std::sync::OnceLock;

use pulp::Arch;

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
