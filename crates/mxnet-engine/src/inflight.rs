//! Counts of operations in flight: back-pressure on pushes, `wait_idle`, and the pause used
//! around `fork`.
//!
//! Pushes and completions change the counts with atomics only. The mutex and condition
//! variable are taken only by a thread that has to block (a pusher at the limit, a waiter for
//! idleness) and by a completion that finds such a thread registered.

use std::sync::atomic::Ordering::{AcqRel, SeqCst};

use crate::sync::{AtomicBool, AtomicUsize, Condvar, Mutex};

// Each handshake below is a store-then-load pair on two threads (a sleeper registers, then
// reads the counts; a completion changes the counts, then reads the sleepers). The loads are
// read-modify-writes that change nothing: each then reads the newest value, which a plain
// load guarantees only with sequentially consistent fences. loom checks this form and cannot
// check that one.
fn latest(a: &AtomicUsize) -> usize {
    a.fetch_add(0, AcqRel)
}

fn latest_flag(a: &AtomicBool) -> bool {
    a.fetch_or(false, AcqRel)
}

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
    /// (default 1 GiB). NOTE: both defaults are estimates, not tuned.
    pub(crate) fn from_env() -> Limits {
        let read = |name: &str, default: usize| {
            std::env::var(name).ok().and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0).unwrap_or(default)
        };
        Limits { ops: read("MXNET_ENGINE_MAX_INFLIGHT_OPS", 4096), bytes: read("MXNET_ENGINE_MAX_INFLIGHT_BYTES", 1 << 30) }
    }

    #[cfg(loom)]
    pub(crate) fn unlimited() -> Limits {
        Limits { ops: usize::MAX, bytes: usize::MAX }
    }
}

pub(crate) struct InFlight {
    limits: Limits,
    ops: AtomicUsize,
    bytes: AtomicUsize,
    /// Set by `Engine::stop`: pushes wait until `Engine::start`, so that a thread pushing in
    /// a loop cannot keep the engine from draining.
    paused: AtomicBool,
    /// Threads blocked in `block_while`; completions take `gate` only when this is non-zero.
    sleepers: AtomicUsize,
    gate: Mutex<()>,
    changed: Condvar,
}

impl InFlight {
    pub(crate) fn new(limits: Limits) -> InFlight {
        InFlight {
            limits,
            ops: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            paused: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            gate: Mutex::new(()),
            changed: Condvar::new(),
        }
    }

    /// Count one operation in flight, first waiting while the engine is paused or the limits
    /// are reached. Concurrent pushers may overshoot the limits by one operation each.
    pub(crate) fn admit(&self, bytes: usize) {
        loop {
            if !latest_flag(&self.paused) {
                let ops = self.ops.fetch_add(1, SeqCst);
                let held = self.bytes.fetch_add(bytes, SeqCst);
                let fits = ops == 0 || (ops < self.limits.ops && held.saturating_add(bytes) <= self.limits.bytes);
                // Reading `paused` after counting ourselves in pairs with `stop`, which sets
                // `paused` before it waits for zero: either it sees our count or we see it.
                if fits && !latest_flag(&self.paused) {
                    return;
                }
                self.retire(bytes);
            }
            self.block_while(|| {
                let ops = latest(&self.ops);
                latest_flag(&self.paused)
                    || (ops > 0
                        && (ops >= self.limits.ops || latest(&self.bytes).saturating_add(bytes) > self.limits.bytes))
            });
        }
    }

    /// Count one operation in flight without waiting.
    pub(crate) fn enter(&self) {
        self.ops.fetch_add(1, SeqCst);
    }

    /// Count one operation out of flight and wake the threads waiting for a change.
    pub(crate) fn retire(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes, SeqCst);
        self.ops.fetch_sub(1, SeqCst);
        self.notify();
    }

    /// Block until no operation is in flight.
    pub(crate) fn wait_idle(&self) {
        self.block_while(|| latest(&self.ops) > 0);
    }

    pub(crate) fn set_paused(&self, paused: bool) {
        self.paused.swap(paused, SeqCst);
        self.notify();
    }

    /// Wake every blocked thread so it checks its condition again; cheap when none is blocked.
    pub(crate) fn notify(&self) {
        // A sleeper registers before it checks its condition, and the caller changed the state
        // before this load, so a sleeper missed here has seen the change.
        if latest(&self.sleepers) > 0 {
            let _gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
            self.changed.notify_all();
        }
    }

    /// Park the calling thread while `blocked()` holds.
    pub(crate) fn block_while(&self, blocked: impl Fn() -> bool) {
        let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        self.sleepers.fetch_add(1, SeqCst);
        while blocked() {
            gate = self.changed.wait(gate).unwrap_or_else(|e| e.into_inner());
        }
        self.sleepers.fetch_sub(1, SeqCst);
    }
}
