//! Releasing the GIL around native work without crashing at interpreter exit.
//!
//! During finalization CPython 3.13 and older end a daemon thread that takes the GIL back by
//! calling `pthread_exit` (CPython 3.14 parks such threads instead). glibc implements that with
//! a forced unwind, and when the unwind crosses the Rust frames of a native call the process
//! aborts with "FATAL: exception not rethrown".
//!
//! So an `atexit` hook marks the interpreter as exiting. From then on, a thread other than the
//! exiting one parks for good when its native work is done, instead of taking the GIL back,
//! and the process exit ends it. Threads that finished their work before the mark and wait for
//! the GIL get it from the hook, which releases the GIL until they have taken it, while
//! finalization has not started yet.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::OnceLock;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

static EXITING: AtomicBool = AtomicBool::new(false);
static EXITING_THREAD: OnceLock<ThreadId> = OnceLock::new();
/// Threads that native code is taking the GIL for, or that hold it from native code.
static TAKING_GIL: AtomicUsize = AtomicUsize::new(0);

fn exiting_elsewhere() -> bool {
    EXITING.load(SeqCst) && EXITING_THREAD.get() != Some(&std::thread::current().id())
}

/// Count the calling thread in `TAKING_GIL`, or park it for good when the interpreter is
/// exiting. The count goes up before the flag is read, and `mark_exiting` sets the flag before
/// it reads the count, so either the hook waits for this thread or this thread parks.
fn start_taking_gil() {
    TAKING_GIL.fetch_add(1, SeqCst);
    if exiting_elsewhere() {
        TAKING_GIL.fetch_sub(1, SeqCst);
        loop {
            std::thread::park();
        }
    }
}

/// Run `f` with the GIL released (PyO3's `allow_threads`), but never return to Python from a
/// thread other than the exiting one after the interpreter began to exit.
pub fn without_gil<T: Send, F: Send + FnOnce() -> T>(py: Python<'_>, f: F) -> T {
    let result = py.allow_threads(|| {
        let result = f();
        start_taking_gil();
        result
    });
    TAKING_GIL.fetch_sub(1, SeqCst);
    result
}

/// Wait until `x` can be read, releasing the GIL only if the wait can block. A thread that
/// releases and takes back the GIL more often than CPython's switch interval (5 ms) restarts
/// the timer of a thread waiting for the GIL, so that thread never requests a switch. A loop of
/// small operations that read a computed result now and then starved other threads for seconds.
pub fn wait_to_read(py: Python<'_>, x: &mxnet_core::NDArray) -> mxnet_core::Result<()> {
    if x.is_ready() {
        return x.wait_to_read();
    }
    let x = x.clone();
    without_gil(py, move || x.wait_to_read())
}

/// Take the GIL from native code that runs without it (PyO3's `with_gil`), unless the
/// interpreter is exiting, in which case the thread parks for good instead. Used to call back
/// into Python, for example an `autograd.Function` backward.
pub fn with_gil<R>(f: impl for<'py> FnOnce(Python<'py>) -> R) -> R {
    start_taking_gil();
    let result = Python::with_gil(f);
    TAKING_GIL.fetch_sub(1, SeqCst);
    result
}

/// `atexit` hook: from now on, threads other than the calling one park after native work
/// and before they take the GIL from native code.
/// NOTE: a thread that holds the GIL from native code for more than the 2-second bound below
/// (a slow `autograd.Function` backward) can still meet finalization inside Rust frames.
#[pyfunction]
pub fn mark_exiting(py: Python<'_>) {
    let _ = EXITING_THREAD.set(std::thread::current().id());
    EXITING.store(true, SeqCst);
    // Let the threads already taking the GIL back, or running Python code for native code,
    // finish with it now, before finalization starts.
    // The bound keeps a thread that never gets the GIL from delaying the exit for long.
    let deadline = Instant::now() + Duration::from_secs(2);
    while TAKING_GIL.load(SeqCst) > 0 && Instant::now() < deadline {
        py.allow_threads(|| std::thread::sleep(Duration::from_millis(1)));
    }
}
