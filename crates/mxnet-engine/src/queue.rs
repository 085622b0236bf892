//! The ready queue: operations whose dependencies are met, taken highest priority first by
//! drainers running on the kernel thread pool.
//!
//! A drainer is one job on the pool that runs ready operations until the queue is empty.
//! At most `max_drainers` exist at a time (`MXNET_CPU_WORKER_NTHREADS`), so operations and
//! the parallel parts of kernels share the pool's threads and never oversubscribe the cores.
//! Starting a drainer per operation would cost a wake-up each; a drainer that finds more work
//! keeps going instead.

use std::cmp::Reverse;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

use crossbeam_deque::{Injector, Steal};
use crossbeam_skiplist::SkipMap;

use crate::engine::OprBlock;
use crate::sync::Arc;

/// A job for the kernel thread pool.
pub type Job = Box<dyn FnOnce() + Send + 'static>;

/// Starts a job on the thread pool that the engine shares with the kernels.
pub type Spawn = fn(Job);

pub(crate) struct ReadyQueue {
    /// Priority 0, the priority of nearly every operation: a lock-free FIFO.
    normal: Injector<Arc<OprBlock>>,
    /// Other priorities, highest first and FIFO within one priority (the sequence number).
    ranked: SkipMap<(Reverse<i32>, u64), Arc<OprBlock>>,
    sequence: AtomicU64,
    drainers: AtomicUsize,
    max_drainers: usize,
    spawn: Spawn,
}

impl ReadyQueue {
    pub(crate) fn new(max_drainers: usize, spawn: Spawn) -> ReadyQueue {
        ReadyQueue {
            normal: Injector::new(),
            ranked: SkipMap::new(),
            sequence: AtomicU64::new(0),
            drainers: AtomicUsize::new(0),
            max_drainers: max_drainers.max(1),
            spawn,
        }
    }

    pub(crate) fn push(&self, blk: Arc<OprBlock>) {
        if blk.priority == 0 {
            self.normal.push(blk);
        } else {
            let key = (Reverse(blk.priority), self.sequence.fetch_add(1, SeqCst));
            self.ranked.insert(key, blk);
        }
    }

    /// Take the ready operation of highest priority.
    pub(crate) fn pop(&self) -> Option<Arc<OprBlock>> {
        if self.ranked.front().is_some_and(|e| e.key().0 .0 > 0) {
            if let Some(entry) = self.ranked.pop_front() {
                return Some(entry.value().clone());
            }
        }
        loop {
            match self.normal.steal() {
                Steal::Success(blk) => return Some(blk),
                Steal::Empty => break,
                Steal::Retry => continue,
            }
        }
        self.ranked.pop_front().map(|entry| entry.value().clone())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.normal.is_empty() && self.ranked.is_empty()
    }

    pub(crate) fn drainers(&self) -> usize {
        self.drainers.load(SeqCst)
    }

    /// Claim a drainer slot; false when `max_drainers` are running.
    ///
    /// A compare-and-swap rather than add-then-undo: an undone add could make an exiting
    /// drainer find the slots full and leave an operation behind with no drainer to run it.
    pub(crate) fn try_claim_drainer(&self) -> bool {
        // A read-modify-write, not a load: after `push`, a plain load may return a count from
        // before an exiting drainer's `release_drainer` while that drainer still finds the
        // queue empty (the store-buffer case), and the operation would have no drainer.
        let mut running = self.drainers.fetch_add(0, SeqCst);
        while running < self.max_drainers {
            match self.drainers.compare_exchange_weak(running, running + 1, SeqCst, SeqCst) {
                Ok(_) => return true,
                Err(now) => running = now,
            }
        }
        false
    }

    /// Give a drainer slot back. Returns true when the drainer should go on: work arrived
    /// after its last `pop` and it could claim a slot again. Operations pushed before this
    /// call are seen here; those pushed after find the slot free and start a drainer.
    pub(crate) fn release_drainer(&self) -> bool {
        self.drainers.fetch_sub(1, SeqCst);
        !self.is_empty() && self.try_claim_drainer()
    }

    pub(crate) fn spawn(&self, job: Job) {
        (self.spawn)(job)
    }
}
