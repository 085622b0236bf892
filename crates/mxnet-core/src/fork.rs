//! Keeping the process usable across `fork` (DataLoader worker processes, `multiprocessing`).
//!
//! A forked child gets a copy of the parent's memory, locks included, but only the thread
//! that called `fork`. A lock that another thread held at that moment stays locked in the
//! child forever, and work queued for a thread that is not there never runs.
//!
//! So before the fork the engine finishes its operations and waits until no engine work runs
//! on the kernel thread pool, and the forking thread takes the buffer pool's lock. After the
//! fork both processes release the lock and let pushes through again. The child also starts
//! a new kernel thread pool, where the engine then runs its operations.
//!
//! The pool lock is taken by a `pthread_atfork` handler, inside `fork()` itself. Taken in
//! Python's `before` hook, it was held while later hooks ran Python code, which can hand the
//! GIL to a thread that then waited for the pool lock with the GIL held: a deadlock.
//! MXNet 1.x does the same with `pthread_atfork` handlers around its engine. GPU devices do
//! not survive a fork: in the child every GPU call raises an error that names the fork, and device
//! buffers inherited from the parent are abandoned, not freed.
//!
//! The Python package calls the engine functions from `os.register_at_fork` hooks and
//! [`install_memory_handlers`] once when it loads.

use mxnet_engine::Engine;

use crate::pool;

/// First half of the preparation for `fork`: hold back new pushes and wait for every pushed
/// operation. Call it with other threads free to run (in
/// Python: with the GIL released), because operations may call back into Python.
pub fn stop_engine() {
    if let Some(engine) = Engine::get_if_started() {
        engine.stop();
    }
}

/// Register (once) the `pthread_atfork` handlers that hold the buffer pool's lock across
/// `fork()`. They run after every Python `before` hook, when no Python code runs any more.
/// Then the lock can only be held by a thread inside `pool::allocate` or `pool::release`,
/// which take no other lock while they hold it.
#[cfg(unix)]
pub fn install_memory_handlers() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    extern "C" fn prepare() {
        pool::lock_for_fork();
    }
    extern "C" fn after() {
        pool::unlock_after_fork();
    }
    INSTALLED.call_once(|| {
        // SAFETY: the handlers are plain functions that lock and unlock a mutex; they do not
        // unwind (poisoned locks are recovered, not unwrapped).
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(after), Some(after)) };
        if rc != 0 {
            log::warn!("pthread_atfork failed ({rc}): forking while another thread allocates arrays may hang the child");
        }
    });
}

/// Run in the parent just after `fork`.
pub fn after_in_parent() {
    if let Some(engine) = Engine::get_if_started() {
        engine.start();
    }
}

/// Run in the child just after `fork`.
pub fn after_in_child() {
    mxnet_gpu::forget_after_fork();
    mxnet_cpu::parallel::forget_after_fork();
    if let Some(engine) = Engine::get_if_started() {
        engine.forget_lanes_after_fork();
        engine.start();
    }
}
