//! Scratch buffers kept per thread between kernel calls. Convolution unfolds images into
//! column buffers, and allocating and zero-filling them on every call took about 6% of the
//! CPU time of a LeNet training step (perf, 2 cores).

use std::cell::RefCell;

/// Buffers a thread keeps for later calls; more are freed on return.
/// NOTE: kept buffers stay as large as the largest request they served (a 224x224 image with
/// a 7x7 kernel needs about 7 MiB), so each kernel thread may hold a few such buffers
/// until it exits.
const KEPT_PER_THREAD: usize = 4;

thread_local! {
    static FREE: RefCell<Vec<Vec<u64>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer from the calling thread's cache, returned to it on drop. Its elements hold
/// whatever an earlier user left (zeros when newly grown): callers write before they read.
pub struct Scratch {
    words: Vec<u64>,
}

impl Scratch {
    /// Take a buffer for `len` elements of `T`. A kernel that runs nested inside another one
    /// on the same thread (rayon work stealing) simply gets a buffer of its own.
    pub fn take<T: bytemuck::Pod>(len: usize) -> Scratch {
        let words_needed = (len * std::mem::size_of::<T>()).div_ceil(8);
        let mut words = FREE.with(|free| free.borrow_mut().pop()).unwrap_or_default();
        if words.len() < words_needed {
            words.resize(words_needed, 0);
        }
        Scratch { words }
    }

    /// Return the first `len` elements as `T`. Panics if the buffer was taken for fewer bytes.
    pub fn slice<T: bytemuck::Pod>(&mut self, len: usize) -> &mut [T] {
        &mut bytemuck::cast_slice_mut::<u64, T>(&mut self.words)[..len]
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let words = std::mem::take(&mut self.words);
        // `try_with`: a thread that is exiting has no cache left to return to.
        let _ = FREE.try_with(|free| {
            let mut free = free.borrow_mut();
            if free.len() < KEPT_PER_THREAD {
                free.push(words);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_grown() {
        let first_ptr = {
            let mut a = Scratch::take::<f32>(100);
            a.slice::<f32>(100).fill(1.5);
            a.slice::<f32>(100).as_ptr() as usize
        };
        let mut b = Scratch::take::<f32>(50);
        assert_eq!(b.slice::<f32>(50).as_ptr() as usize, first_ptr);
        // Taken while `b` is out: a second buffer, grown to the request.
        let mut c = Scratch::take::<f64>(1000);
        assert_eq!(c.slice::<f64>(1000).len(), 1000);
        assert_ne!(c.slice::<f64>(1).as_ptr() as usize, first_ptr);
    }
}
