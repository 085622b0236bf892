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
//! MXNet 1.x does the same with `pthread_atfork` handlers around its engine. GPU devices do
//! not survive a fork: in the child every GPU call raises an error that names the fork, and device
//! buffers inherited from the parent are abandoned, not freed.
//!
//! The Python package calls these from `os.register_at_fork` hooks.

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

/// Second half, right before `fork`: take the buffer pool's lock. In Python call it with the
/// GIL held, so no thread can hold the pool lock while it waits for the GIL.
pub fn lock_memory() {
    pool::lock_for_fork();
}

/// Run in the parent just after `fork`.
pub fn after_in_parent() {
    pool::unlock_after_fork();
    if let Some(engine) = Engine::get_if_started() {
        engine.start();
    }
}

/// Run in the child just after `fork`.
pub fn after_in_child() {
    pool::unlock_after_fork();
    mxnet_gpu::forget_after_fork();
    mxnet_cpu::parallel::forget_after_fork();
    if let Some(engine) = Engine::get_if_started() {
        engine.forget_lanes_after_fork();
        engine.start();
    }
}
