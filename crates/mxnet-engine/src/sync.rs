//! Synchronisation primitives of the engine: the standard library's in normal builds and
//! loom's under `RUSTFLAGS="--cfg loom"`, so the loom models (`loom_models.rs`) explore the
//! interleavings of the real variable protocol rather than of a copy.

#[cfg(loom)]
pub(crate) use loom::sync::{
    atomic::{AtomicU64, AtomicUsize},
    Arc, Condvar, Mutex, MutexGuard,
};
#[cfg(not(loom))]
pub(crate) use std::sync::{
    atomic::{AtomicU64, AtomicUsize},
    Arc, Condvar, Mutex, MutexGuard,
};
