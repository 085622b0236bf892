//! Counts of operations in flight: back-pressure on pushes, `wait_idle`, and the pause used
//! around `fork`.
//!
//! The operation count, the pause flag and the number of blocked threads share one atomic
//! word. A push or a completion is one read-modify-write on it, plus one on the byte count when
//! the operation has outputs. Every handshake between a pusher, a completion and a blocked
//! thread is ordered by that word alone. The mutex and condition variable are taken
//! only by a thread that has to block and by a completion that finds one registered.

use std::sync::atomic::Ordering::{AcqRel, Acquire};

use crate::sync::{AtomicU64, AtomicUsize, Condvar, Mutex};

/// Low bits of the state word: operations in flight.
const OPS_MASK: u64 = (1 << 40) - 1;
/// Bits 40..63: threads blocked in `block_while`.
const SLEEPER: u64 = 1 << 40;
const SLEEPERS_MASK: u64 = ((1 << 23) - 1) << 40;
/// Bit 63: set by `Engine::stop`; pushes wait until `Engine::start`, so that a thread pushing
/// in a loop cannot keep the engine from draining.
const PAUSED: u64 = 1 << 63;

/// Back-pressure: a push waits while this many operations or output bytes are in flight, so a
/// Python loop that never synchronises cannot grow memory without bound. One operation is
/// always admitted, however large.
#[derive(Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) ops: usize,
    pub(crate) bytes: usize,
}

impl Limits {
    /// From `MXNET_ENGINE_MAX_INFLIGHT_OPS` (default 4096) and `MXNET_ENGINE_MAX_INFLIGHT_BYTES`
    /// (default 256 MiB). Only the byte bound was measured: LeNet training at batch 128 (2 cores)
    /// gave 5,300-6,300 images/s under 1 GiB, where Python ran hundreds of MiB of outputs ahead
    /// into fresh, page-faulted memory, and 6,800-7,100 under 128, 256 and 512 MiB. The MLP
    /// did not change. NOTE: the operation bound is an estimate.
    pub(crate) fn from_env() -> Limits {
        let read = |name: &str, default: usize| {
            std::env::var(name).ok().and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0).unwrap_or(default)
        };
        Limits { ops: read("MXNET_ENGINE_MAX_INFLIGHT_OPS", 4096), bytes: read("MXNET_ENGINE_MAX_INFLIGHT_BYTES", 256 << 20) }
    }

    #[cfg(all(loom, test))]
    pub(crate) fn unlimited() -> Limits {
        Limits { ops: usize::MAX, bytes: usize::MAX }
    }
}

pub(crate) struct InFlight {
    limits: Limits,
    /// Operations in flight, blocked threads and the pause flag (the constants above).
    state: AtomicU64,
    /// Output bytes of the operations in flight.
    bytes: AtomicUsize,
    gate: Mutex<()>,
    changed: Condvar,
}

impl InFlight {
    pub(crate) fn new(limits: Limits) -> InFlight {
        InFlight {
            limits,
            state: AtomicU64::new(0),
            bytes: AtomicUsize::new(0),
            gate: Mutex::new(()),
            changed: Condvar::new(),
        }
    }

    /// Count one operation in flight, first waiting while the engine is paused or the limits
    /// are reached. Concurrent pushers may overshoot the byte limit by one operation each.
    pub(crate) fn admit(&self, bytes: usize) {
        while !self.try_admit(bytes) {
            self.block_while(|state| {
                let ops = (state & OPS_MASK) as usize;
                state & PAUSED != 0
                    || (ops > 0
                        && (ops >= self.limits.ops
                            || self.bytes.load(Acquire).saturating_add(bytes) > self.limits.bytes))
            });
        }
    }

    /// Count one operation in flight if [`InFlight::admit`] would not wait, and report whether
    /// it did.
    pub(crate) fn try_admit(&self, bytes: usize) -> bool {
        let before = self.state.fetch_add(1, AcqRel);
        if before & PAUSED == 0 {
            let ops = (before & OPS_MASK) as usize;
            let bytes_in_flight = if bytes > 0 { self.bytes.fetch_add(bytes, AcqRel) } else { self.bytes.load(Acquire) };
            if ops == 0 || (ops < self.limits.ops && bytes_in_flight.saturating_add(bytes) <= self.limits.bytes) {
                return true;
            }
            self.retire(bytes);
        } else {
            self.retire(0);
        }
        false
    }

    /// Count one operation in flight without waiting.
    pub(crate) fn enter(&self) {
        self.state.fetch_add(1, AcqRel);
    }

    /// Count one operation out of flight and wake the blocked threads, if any.
    pub(crate) fn retire(&self, bytes: usize) {
        // Bytes first, so that a thread woken by the count change finds them released.
        if bytes > 0 {
            self.bytes.fetch_sub(bytes, AcqRel);
        }
        let before = self.state.fetch_sub(1, AcqRel);
        if before & SLEEPERS_MASK != 0 {
            self.wake_all();
        }
    }

    /// Block until no operation is in flight.
    pub(crate) fn wait_idle(&self) {
        self.block_while(|state| state & OPS_MASK > 0);
    }

    pub(crate) fn set_paused(&self, paused: bool) {
        let before = if paused { self.state.fetch_or(PAUSED, AcqRel) } else { self.state.fetch_and(!PAUSED, AcqRel) };
        if before & SLEEPERS_MASK != 0 {
            self.wake_all();
        }
    }

    /// Wake the blocked threads so they check their condition again, after a change to state
    /// outside the word (the drainer count). A read-modify-write rather than a load, so that
    /// it reads the newest word. A thread that registered before it is woken, and one that
    /// registers after it reads the changed state.
    pub(crate) fn notify(&self) {
        if self.state.fetch_add(0, AcqRel) & SLEEPERS_MASK != 0 {
            self.wake_all();
        }
    }

    fn wake_all(&self) {
        // Taking the gate orders this after a blocked thread's check of its condition.
        let _gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        self.changed.notify_all();
    }

    /// Park the calling thread while `blocked(state word)` holds.
    pub(crate) fn block_while(&self, blocked: impl Fn(u64) -> bool) {
        let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        // Registering is a read-modify-write of the word, so the state we check next is at
        // least as new as every completion that did not see us registered.
        let mut state = self.state.fetch_add(SLEEPER, AcqRel) + SLEEPER;
        while blocked(state) {
            gate = self.changed.wait(gate).unwrap_or_else(|e| e.into_inner());
            state = self.state.load(Acquire);
        }
        self.state.fetch_sub(SLEEPER, AcqRel);
    }
}
