//! A size-bucketed cache of CPU buffers, so that allocating an operator's output reuses memory
//! freed by earlier arrays instead of going back to the system allocator (large allocations
//! are mmap-ed by glibc and page-faulted on every first touch).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::sync::{Mutex, MutexGuard};

/// Alignment of every buffer, in bytes: one cache line, enough for AVX-512 loads.
pub const ALIGN: usize = 64;

/// Upper bound on the bytes kept in the cache; buffers freed beyond it go back to the system.
/// NOTE: a fixed guess, not tuned; large enough for the working set of mid-size models.
const MAX_CACHED_BYTES: usize = 1 << 30;

struct Pool {
    /// Free buffers by [`bucket_index`] of their capacity.
    free: Vec<Vec<usize>>,
    cached_bytes: usize,
}

impl Pool {
    fn new() -> Pool {
        Pool { free: (0..BUCKETS).map(|_| Vec::new()).collect(), cached_bytes: 0 }
    }
}

/// 64 buckets up to 4 KiB, then four per power of two up to 2^63 bytes.
const BUCKETS: usize = 64 + 4 * 52;

/// Position of a capacity from [`bucket_size`] in [`Pool::free`]: an index computed with a
/// few instructions instead of a hash-map lookup on every allocation.
fn bucket_index(capacity: usize) -> usize {
    if capacity <= 4096 {
        return capacity / ALIGN - 1;
    }
    let top = (usize::BITS - 1 - capacity.leading_zeros()) as usize;
    64 + (top - 12) * 4 + (capacity >> (top - 2)) - 4
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

thread_local! {
    /// The pool lock held by the forking thread from [`lock_for_fork`] to [`unlock_after_fork`].
    static FORK_GUARD: RefCell<Option<MutexGuard<'static, Option<Pool>>>> = const { RefCell::new(None) };
}

/// Take the pool lock before `fork`, so that no other thread holds it when memory is copied.
pub fn lock_for_fork() {
    let guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    FORK_GUARD.with(|held| *held.borrow_mut() = Some(guard));
}

/// Release the lock taken by [`lock_for_fork`]; called in the parent and in the child. The
/// child is the forking thread's copy, so it owns the guard of its copy of the lock.
pub fn unlock_after_fork() {
    FORK_GUARD.with(|held| held.borrow_mut().take());
}

/// Round a request up to its bucket: multiples of 64 bytes up to 4 KiB, then four buckets per
/// power of two, so a reused buffer wastes at most 25%.
pub fn bucket_size(nbytes: usize) -> usize {
    let n = nbytes.max(ALIGN);
    if n <= 4096 {
        return n.div_ceil(ALIGN) * ALIGN;
    }
    let top = usize::BITS - 1 - n.leading_zeros();
    let step = 1usize << (top - 2);
    n.div_ceil(step) * step
}

fn layout(capacity: usize) -> Layout {
    Layout::from_size_align(capacity, ALIGN).expect("bucket sizes are valid layouts")
}

/// Allocate a buffer of at least `nbytes`; returns the pointer and its capacity, or `None`
/// when the system is out of memory. With `zeroed` false, a reused buffer keeps the bytes of
/// the array that last held it, for callers that overwrite every byte.
pub fn allocate(nbytes: usize, zeroed: bool) -> Option<(*mut u8, usize)> {
    let (ptr, capacity) = allocate_bucket(nbytes, zeroed)?;
    if !zeroed && poison_enabled() {
        // SAFETY: the buffer has `capacity` bytes and is not shared yet.
        unsafe { std::ptr::write_bytes(ptr, 0xFF, capacity) };
    }
    Some((ptr, capacity))
}

/// `MXNET_DEBUG_POISON_OUTPUTS=1` fills buffers allocated without the zero fill with 0xFF
/// bytes (NaN for floats), so that a test run shows any operator that claims to write every
/// output element ([`crate::Operator::overwrites_outputs`]) but leaves some unwritten.
pub(crate) fn poison_enabled() -> bool {
    static POISON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *POISON.get_or_init(|| std::env::var("MXNET_DEBUG_POISON_OUTPUTS").is_ok_and(|v| v == "1"))
}

fn allocate_bucket(nbytes: usize, zeroed: bool) -> Option<(*mut u8, usize)> {
    let capacity = bucket_size(nbytes);
    let reused = {
        let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let pool = guard.get_or_insert_with(Pool::new);
        let ptr = pool.free[bucket_index(capacity)].pop();
        if ptr.is_some() {
            pool.cached_bytes -= capacity;
        }
        ptr
    };
    match reused {
        Some(addr) => {
            let ptr = addr as *mut u8;
            if zeroed {
                // SAFETY: the buffer came from `alloc_zeroed` with this capacity and nobody else
                // holds it since it was returned to the pool.
                unsafe { std::ptr::write_bytes(ptr, 0, capacity) };
            }
            Some((ptr, capacity))
        }
        None => {
            let layout = Layout::from_size_align(capacity, ALIGN).ok()?;
            // The system allocator, not the global one: the Python extension installs mimalloc,
            // which reserves even absurd sizes (4 TB) lazily, so running out of memory would
            // kill the process on first touch instead of failing here.
            // SAFETY: the layout has a non-zero size (at least ALIGN bytes).
            let ptr = unsafe { System.alloc_zeroed(layout) };
            (!ptr.is_null()).then_some((ptr, capacity))
        }
    }
}

/// Return a buffer from [`allocate`] to the cache (or to the system when the cache is full).
///
/// # Safety
/// `ptr` and `capacity` must come from one call of [`allocate`], and the buffer must not be
/// used afterwards.
pub unsafe fn release(ptr: *mut u8, capacity: usize) {
    let mut guard = POOL.lock().unwrap_or_else(|e| e.into_inner());
    let pool = guard.get_or_insert_with(Pool::new);
    if pool.cached_bytes + capacity <= MAX_CACHED_BYTES {
        pool.free[bucket_index(capacity)].push(ptr as usize);
        pool.cached_bytes += capacity;
    } else {
        drop(guard);
        System.dealloc(ptr, layout(capacity));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_up_by_at_most_a_quarter() {
        assert_eq!(bucket_size(1), 64);
        assert_eq!(bucket_size(4096), 4096);
        assert_eq!(bucket_size(5000), 5120);
        for n in [4097usize, 10_000, 1 << 20, 5_898_240] {
            let b = bucket_size(n);
            assert!(b >= n);
            assert!(b <= n + n / 4 + 64, "{n} -> {b}");
        }
    }

    #[test]
    fn every_bucket_has_its_own_index() {
        let mut seen = std::collections::HashSet::new();
        let mut n = 1usize;
        while n < usize::MAX / 8 {
            for m in [n, n + 1, n + n / 3, n + n / 2, n + 3 * n / 4] {
                let b = bucket_size(m);
                let i = bucket_index(b);
                assert!(i < BUCKETS, "{m} -> {b} -> {i}");
                // One index per capacity, one capacity per index.
                assert!(seen.insert((i, b)) || seen.contains(&(i, b)));
                assert!(seen.iter().all(|&(j, c)| (j == i) == (c == b)), "{m} -> {b} -> {i}");
            }
            n *= 2;
        }
    }

    #[test]
    fn impossible_request_returns_none() {
        assert!(allocate(usize::MAX / 2, true).is_none());
        assert!(allocate(usize::MAX / 2, false).is_none());
    }

    #[test]
    fn reused_buffers_are_zeroed() {
        // Dirty a buffer, release it, then ask for zeros: the pool hands the same buffer back
        // unless a test running in parallel takes it first, and a fresh one is zeroed too.
        let (p, cap) = allocate(10_000, false).unwrap();
        unsafe {
            std::ptr::write_bytes(p, 7, cap);
            release(p, cap);
        }
        let (q, cap2) = allocate(10_000, true).unwrap();
        assert_eq!(cap, cap2);
        let bytes = unsafe { std::slice::from_raw_parts(q, cap2) };
        assert!(bytes.iter().all(|&b| b == 0));
        unsafe { release(q, cap2) };
    }
}
