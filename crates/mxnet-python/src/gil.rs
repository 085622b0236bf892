//! Releasing the GIL around native work without crashing at interpreter exit.
//!
//! During finalization CPython ends a daemon thread that tries to take the GIL back by calling
//! `pthread_exit`. glibc implements that with a forced unwind, and when the unwind reaches the
//! Rust frames of a native call (PyO3 catches panics there), the process aborts with
//! "FATAL: exception not rethrown". So once the interpreter starts exiting, a thread other
//! than the finalizing one parks for good when its native work is done, instead of taking the
//! GIL back; the process exit ends it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::thread::ThreadId;

use pyo3::prelude::*;

static EXITING: AtomicBool = AtomicBool::new(false);
static EXITING_THREAD: OnceLock<ThreadId> = OnceLock::new();

/// Run `f` with the GIL released (PyO3's `allow_threads`), but never return to Python from a
/// non-main thread after the interpreter began to exit.
pub fn without_gil<T: Send, F: Send + FnOnce() -> T>(py: Python<'_>, f: F) -> T {
    py.allow_threads(|| {
        let result = f();
        if EXITING.load(Ordering::Acquire) && EXITING_THREAD.get() != Some(&std::thread::current().id()) {
            loop {
                std::thread::park();
            }
        }
        result
    })
}

/// `atexit` hook: from now on, threads other than the calling one park after native work.
/// NOTE: a thread that finished its native work just before this call can still reach the GIL
/// during finalization, and `autograd.Function` backward calls back into Python under the GIL.
#[pyfunction]
pub fn mark_exiting() {
    let _ = EXITING_THREAD.set(std::thread::current().id());
    EXITING.store(true, Ordering::Release);
}
