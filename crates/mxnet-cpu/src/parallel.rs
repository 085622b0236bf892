//! The thread pool behind every parallel kernel.
//!
//! Kernels run their parallel parts through [`install`] instead of rayon's global pool,
//! because a child process made by `fork` inherits none of the parent's threads. There the
//! global pool would wait forever for workers that do not exist. This pool is replaced by a
//! fresh one after [`forget_after_fork`].

use std::sync::atomic::{AtomicPtr, Ordering};

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};

/// The current pool; null until first use and again in a freshly forked child. Pools are
/// leaked, not dropped: one lives for the whole process, and a child cannot shut down the
/// copy it inherited because that copy's threads do not exist.
/// Kernels split work across the pool only from this many elements on. Below it, waking
/// another thread (microseconds) costs about as much as the whole loop of a cheap kernel, such
/// as a 64K-element sum or `negative`. An estimate shared by the elementwise, reduction,
/// pooling, softmax and gather kernels, not a tuned value.
pub const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;

/// Elements per task when a flat loop is split across the pool.
pub const TASK_ELEMENTS: usize = 1 << 14;

static POOL: AtomicPtr<ThreadPool> = AtomicPtr::new(std::ptr::null_mut());

fn pool() -> &'static ThreadPool {
    let current = POOL.load(Ordering::Acquire);
    if !current.is_null() {
        // SAFETY: non-null values of POOL come from `Box::leak` below and are never freed.
        return unsafe { &*current };
    }
    // Thread count from RAYON_NUM_THREADS, else one per available CPU (rayon's default).
    let built = ThreadPoolBuilder::new()
        .thread_name(|i| format!("mxnet-kernel-{i}"))
        .build()
        .expect("failed to start the kernel thread pool");
    let fresh: *mut ThreadPool = Box::leak(Box::new(built));
    match POOL.compare_exchange(std::ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: as above; `fresh` was just leaked.
        Ok(_) => unsafe { &*fresh },
        // Another thread installed its pool first; ours (never used) stays leaked, once.
        // SAFETY: as above.
        Err(winner) => unsafe { &*winner },
    }
}

/// Run `f` inside the kernel pool, so that rayon parallel iterators and `gemm`'s rayon mode
/// in `f` use its threads.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    pool().install(f)
}

/// Run `kernel(src, dst)` over matching pieces of two slices of equal length: in pieces of
/// [`TASK_ELEMENTS`] across the pool from [`PARALLEL_MIN_ELEMENTS`] on, else in one call on
/// this thread. The elementwise kernels split their flat loops this way.
pub fn for_each_chunk<A: Sync, O: Send>(src: &[A], dst: &mut [O], kernel: impl Fn(&[A], &mut [O]) + Sync) {
    for_each_block(src, dst, 1, kernel)
}

/// [`for_each_chunk`] with pieces that are whole multiples of `block` elements, for kernels
/// whose parameters repeat every `block` elements (a per-channel slope over whole samples).
pub fn for_each_block<A: Sync, O: Send>(src: &[A], dst: &mut [O], block: usize, kernel: impl Fn(&[A], &mut [O]) + Sync) {
    debug_assert_eq!(src.len(), dst.len());
    if dst.len() < PARALLEL_MIN_ELEMENTS || block == 0 {
        return kernel(src, dst);
    }
    let piece = TASK_ELEMENTS.div_ceil(block) * block;
    install(|| dst.par_chunks_mut(piece).zip(src.par_chunks(piece)).for_each(|(d, s)| kernel(s, d)));
}

/// Run `kernel` over pieces of `dst` as [`for_each_chunk`] does, for kernels without a
/// source (a fill).
pub fn for_each_piece<O: Send>(dst: &mut [O], kernel: impl Fn(&mut [O]) + Sync) {
    if dst.len() < PARALLEL_MIN_ELEMENTS {
        return kernel(dst);
    }
    install(|| dst.par_chunks_mut(TASK_ELEMENTS).for_each(&kernel));
}

/// Set every element of `dst` to `value`, across the pool from [`PARALLEL_MIN_ELEMENTS`] on.
/// A value of zero bytes is written by `memset`, which the C library implements with the
/// fastest stores of the running CPU; the generic loop is built for the baseline instruction set.
pub fn fill<T: bytemuck::Pod + Send + Sync>(dst: &mut [T], value: T) {
    if bytemuck::bytes_of(&value).iter().all(|&b| b == 0) {
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(dst);
        let piece = TASK_ELEMENTS * std::mem::size_of::<T>();
        if bytes.len() < PARALLEL_MIN_ELEMENTS * std::mem::size_of::<T>() {
            return bytes.fill(0);
        }
        return install(|| bytes.par_chunks_mut(piece).for_each(|p| p.fill(0)));
    }
    for_each_piece(dst, |piece| piece.fill(value))
}

/// Copy `src` into `dst` (equal lengths), across the pool from the size of
/// [`PARALLEL_MIN_ELEMENTS`] float32 values on. A single thread copied the 800 KB gradient of
/// a 784x256 weight in 47-58 us during training, below what the two cores' caches sustain.
pub fn copy(src: &[u8], dst: &mut [u8]) {
    const WIDTH: usize = std::mem::size_of::<f32>();
    assert_eq!(src.len(), dst.len(), "parallel::copy: slices of different lengths");
    if dst.len() < PARALLEL_MIN_ELEMENTS * WIDTH {
        return dst.copy_from_slice(src);
    }
    let piece = TASK_ELEMENTS * WIDTH;
    install(|| dst.par_chunks_mut(piece).zip(src.par_chunks(piece)).for_each(|(d, s)| d.copy_from_slice(s)));
}

/// [`for_each_chunk`] over two source slices.
pub fn for_each_chunk2<A: Sync, B: Sync, O: Send>(
    a: &[A],
    b: &[B],
    dst: &mut [O],
    kernel: impl Fn(&[A], &[B], &mut [O]) + Sync,
) {
    debug_assert!(a.len() == dst.len() && b.len() == dst.len());
    if dst.len() < PARALLEL_MIN_ELEMENTS {
        return kernel(a, b, dst);
    }
    install(|| {
        dst.par_chunks_mut(TASK_ELEMENTS)
            .zip(a.par_chunks(TASK_ELEMENTS).zip(b.par_chunks(TASK_ELEMENTS)))
            .for_each(|(d, (a, b))| kernel(a, b, d))
    });
}

/// [`for_each_chunk`] over three source slices.
pub fn for_each_chunk3<A: Sync, B: Sync, C: Sync, O: Send>(
    a: &[A],
    b: &[B],
    c: &[C],
    dst: &mut [O],
    kernel: impl Fn(&[A], &[B], &[C], &mut [O]) + Sync,
) {
    debug_assert!(a.len() == dst.len() && b.len() == dst.len() && c.len() == dst.len());
    if dst.len() < PARALLEL_MIN_ELEMENTS {
        return kernel(a, b, c, dst);
    }
    install(|| {
        dst.par_chunks_mut(TASK_ELEMENTS)
            .zip(a.par_chunks(TASK_ELEMENTS).zip(b.par_chunks(TASK_ELEMENTS)).zip(c.par_chunks(TASK_ELEMENTS)))
            .for_each(|(d, ((a, b), c))| kernel(a, b, c, d))
    });
}

/// Start `job` on the kernel pool without waiting for it. The engine runs its operations
/// this way, so operations and the parallel parts of kernels share the pool's threads.
pub fn spawn(job: Box<dyn FnOnce() + Send + 'static>) {
    pool().spawn(job)
}

/// Number of threads of the kernel pool.
pub fn num_threads() -> usize {
    pool().current_num_threads()
}

/// Drop the reference to the inherited pool in a forked child, so the next parallel kernel
/// starts a new pool. Takes no lock, so it is safe right after `fork`.
pub fn forget_after_fork() {
    POOL.store(std::ptr::null_mut(), Ordering::Release);
}
