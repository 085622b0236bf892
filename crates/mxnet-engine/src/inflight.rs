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

/// Bits 0..31: operations in flight. Each holds a pushed block of memory, so 2^32 of them
/// would not fit in memory.
const OPS_MASK: u64 = (1 << 32) - 1;
/// Bits 32..47: threads blocked in `wait_idle`, which only a completion that leaves no
/// operation in flight needs to wake. Waking them on every completion cost the MLP training
/// benchmark 2% of its samples in `futex_wake` alone, with Python in `waitall` while the
/// engine drained a long queue.
const IDLE_SLEEPER: u64 = 1 << 32;
const IDLE_SLEEPERS_MASK: u64 = 0xffff << 32;
/// Bits 48..62: threads blocked in `block_while` for any other condition (back-pressure,
/// `stop`), which every completion may unblock. A thread that finds its field full polls
/// instead of registering (see `block_as`), so a count never carries into the next field.
const SLEEPER: u64 = 1 << 48;
const OTHER_SLEEPERS_MASK: u64 = 0x7fff << 48;
const SLEEPERS_MASK: u64 = IDLE_SLEEPERS_MASK | OTHER_SLEEPERS_MASK;
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
        let now_idle = before & OPS_MASK == 1;
        if before & OTHER_SLEEPERS_MASK != 0 || (now_idle && before & IDLE_SLEEPERS_MASK != 0) {
            self.wake_all();
        }
    }

    /// Block until no operation is in flight.
    pub(crate) fn wait_idle(&self) {
        self.block_as(IDLE_SLEEPER, IDLE_SLEEPERS_MASK, |state| state & OPS_MASK > 0);
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
        self.block_as(SLEEPER, OTHER_SLEEPERS_MASK, blocked)
    }

    /// [`InFlight::block_while`], counted in the field `field` of the word, one `sleeper` per
    /// thread ([`IDLE_SLEEPER`] or [`SLEEPER`]).
    fn block_as(&self, sleeper: u64, field: u64, blocked: impl Fn(u64) -> bool) {
        let mut gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        // Registering is a read-modify-write of the word, so the state we check next is at
        // least as new as every completion that did not see us registered.
        let mut state = self.state.load(Acquire);
        loop {
            if state & field == field {
                // The field is full (tens of thousands of blocked threads). Adding one more
                // would carry into the next field, so this thread polls unregistered.
                drop(gate);
                while blocked(self.state.load(Acquire)) {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                return;
            }
            match self.state.compare_exchange_weak(state, state + sleeper, AcqRel, Acquire) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        state += sleeper;
        while blocked(state) {
            gate = self.changed.wait(gate).unwrap_or_else(|e| e.into_inner());
            state = self.state.load(Acquire);
        }
        self.state.fetch_sub(sleeper, AcqRel);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::sync::Arc;
    use std::time::Duration;

    /// A thread in `wait_idle` is not woken by completions that leave work in flight, and
    /// returns after the last one.
    #[test]
    fn wait_idle_returns_after_the_last_completion() {
        let flight = Arc::new(InFlight::new(Limits { ops: 100, bytes: usize::MAX }));
        (0..3).for_each(|_| flight.enter());
        let (done, finished) = channel();
        let waiter = {
            let flight = flight.clone();
            std::thread::spawn(move || {
                flight.wait_idle();
                done.send(()).unwrap();
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        flight.retire(0);
        flight.retire(0);
        assert!(finished.recv_timeout(Duration::from_millis(50)).is_err(), "wait_idle returned with work in flight");
        flight.retire(0);
        finished.recv_timeout(Duration::from_secs(10)).expect("wait_idle did not return after the last completion");
        waiter.join().unwrap();
    }

    /// A thread that finds the sleeper field full polls instead of registering, so the count
    /// does not carry into the pause flag, and it still returns once unblocked.
    #[test]
    fn full_sleeper_field_polls_without_overflow() {
        use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
        let flight = Arc::new(InFlight::new(Limits { ops: 100, bytes: usize::MAX }));
        flight.state.store(OTHER_SLEEPERS_MASK, SeqCst);
        let release = Arc::new(AtomicBool::new(false));
        let (done, finished) = channel();
        let waiter = {
            let (flight, release) = (flight.clone(), release.clone());
            std::thread::spawn(move || {
                flight.block_while(|_| !release.load(SeqCst));
                done.send(()).unwrap();
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(flight.state.load(SeqCst), OTHER_SLEEPERS_MASK, "the full field changed");
        release.store(true, SeqCst);
        finished.recv_timeout(Duration::from_secs(10)).expect("the polling thread did not return");
        waiter.join().unwrap();
        assert_eq!(flight.state.load(SeqCst) & PAUSED, 0);
    }

    /// A push held back at the operation limit is admitted after any completion, not only
    /// the last.
    #[test]
    fn blocked_push_is_admitted_after_one_completion() {
        let flight = Arc::new(InFlight::new(Limits { ops: 2, bytes: usize::MAX }));
        flight.admit(0);
        flight.admit(0);
        let (done, admitted) = channel();
        let pusher = {
            let flight = flight.clone();
            std::thread::spawn(move || {
                flight.admit(0);
                done.send(()).unwrap();
            })
        };
        assert!(admitted.recv_timeout(Duration::from_millis(50)).is_err(), "admitted past the limit");
        flight.retire(0);
        admitted.recv_timeout(Duration::from_secs(10)).expect("push not admitted after a completion");
        pusher.join().unwrap();
    }
}
