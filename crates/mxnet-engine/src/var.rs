use std::collections::VecDeque;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};

use crate::sync::{Arc, AtomicU64, AtomicUsize, Mutex, MutexGuard};

use crate::engine::OprBlock;
use crate::ErrorCell;

/// A versioned engine variable; cloning shares the variable.
///
/// The version goes up by one each time a write completes.
#[derive(Clone)]
pub struct Var(pub(crate) Arc<VarInner>);

/// Low 32 bits of `VarInner::state`: reads dispatched and not yet completed.
const READERS: u64 = (1 << 32) - 1;
/// A write is dispatched and not yet completed.
const WRITING: u64 = 1 << 32;
/// Operations wait in `VarInner::queue`. While set, only holders of the queue lock change the
/// state word, so the word and the queue change together.
const QUEUED: u64 = 1 << 33;

/// The dependency state of one variable.
///
/// A read or write that can start at once, and a completion that releases no waiting
/// operation, is one compare-and-swap on `state`. Only an operation that has to wait, and the completion that
/// releases it, take the queue lock. That lock guards a few queue instructions, and it is
/// contended only when operations on this variable really wait for each other.
pub(crate) struct VarInner {
    state: AtomicU64,
    queue: Mutex<Waiting>,
    /// 1 once `Waiting::error` has been set; lets `error_cell` skip the lock.
    has_error: AtomicUsize,
    pub(crate) version: AtomicU64,
}

#[derive(Default)]
pub(crate) struct Waiting {
    /// Operations waiting for this variable, oldest first; `true` marks a write.
    ops: VecDeque<(Arc<OprBlock>, bool)>,
    /// Error left by the last failed operation that wrote this variable.
    error: Option<ErrorCell>,
}

impl Default for Var {
    fn default() -> Self {
        Self::new()
    }
}

/// Return whether an operation may start on a variable in state `s`. Writes need it free and
/// reads need no write running. Either way nothing may be queued ahead of it.
fn can_start(s: u64, write: bool) -> bool {
    if write {
        s == 0
    } else {
        s & (WRITING | QUEUED) == 0
    }
}

fn started(s: u64, write: bool) -> u64 {
    if write {
        s | WRITING
    } else {
        s + 1
    }
}

impl Var {
    pub fn new() -> Self {
        Var(Arc::new(VarInner {
            state: AtomicU64::new(0),
            queue: Mutex::new(Waiting::default()),
            has_error: AtomicUsize::new(0),
            version: AtomicU64::new(0),
        }))
    }

    /// Number of completed writes.
    pub fn version(&self) -> u64 {
        self.0.version.load(Acquire)
    }

    /// Return whether two handles name the same variable.
    pub fn same(&self, other: &Var) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    fn lock(&self) -> MutexGuard<'_, Waiting> {
        // A poisoned lock means a panic while the few queue instructions ran. The queue is
        // still consistent because every change is a single push or pop.
        self.0.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True when no operation is running or queued on this variable.
    pub fn is_idle(&self) -> bool {
        self.0.state.load(Acquire) == 0
    }

    /// Register `blk` as a reader. Returns true when it may read now.
    pub(crate) fn append_read(&self, blk: &Arc<OprBlock>) -> bool {
        self.append(blk, false)
    }

    /// Register `blk` as a writer. Returns true when it may write now.
    pub(crate) fn append_write(&self, blk: &Arc<OprBlock>) -> bool {
        self.append(blk, true)
    }

    /// True once an operation that wrote this variable failed (the error may be raised since).
    pub(crate) fn has_error(&self) -> bool {
        self.0.has_error.load(Acquire) != 0
    }

    /// Start a read or write at once if it can start without queueing and the variable carries
    /// no error, and report whether it started. Finish it with [`Var::complete`], or with
    /// [`Var::cancel`] if the operation never ran.
    pub(crate) fn try_start(&self, write: bool) -> bool {
        !self.has_error() && self.start_if_free(write)
    }

    /// Start a read or write with one compare-and-swap if nothing is in its way.
    fn start_if_free(&self, write: bool) -> bool {
        let state = &self.0.state;
        let mut s = state.load(Acquire);
        while can_start(s, write) {
            match state.compare_exchange_weak(s, started(s, write), AcqRel, Acquire) {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
        false
    }

    fn append(&self, blk: &Arc<OprBlock>, write: bool) -> bool {
        if self.start_if_free(write) {
            return true;
        }
        let state = &self.0.state;
        let mut waiting = self.lock();
        let mut s = state.load(Acquire);
        loop {
            if can_start(s, write) {
                match state.compare_exchange_weak(s, started(s, write), AcqRel, Acquire) {
                    Ok(_) => return true,
                    Err(now) => s = now,
                }
            } else if s & QUEUED == 0 {
                // Setting QUEUED fails if a completion changed the word first; look again.
                match state.compare_exchange_weak(s, s | QUEUED, AcqRel, Acquire) {
                    Ok(_) => break,
                    Err(now) => s = now,
                }
            } else {
                break;
            }
        }
        waiting.ops.push_back((blk.clone(), write));
        false
    }

    /// Finish a read or write and return the operations that became unblocked on this variable.
    pub(crate) fn complete(&self, write: bool, error: Option<&ErrorCell>) -> Vec<Arc<OprBlock>> {
        if write {
            self.0.version.fetch_add(1, AcqRel);
        }
        self.release(write, error)
    }

    /// Finish a read or write started by [`Var::try_start`] that did not run: the version stays.
    pub(crate) fn cancel(&self, write: bool) -> Vec<Arc<OprBlock>> {
        self.release(write, None)
    }

    fn release(&self, write: bool, error: Option<&ErrorCell>) -> Vec<Arc<OprBlock>> {
        let state = &self.0.state;
        let done = if write { WRITING } else { 1 };
        if error.is_none() {
            let mut s = state.load(Acquire);
            while s & QUEUED == 0 {
                match state.compare_exchange_weak(s, s - done, AcqRel, Acquire) {
                    Ok(_) => return Vec::new(),
                    Err(now) => s = now,
                }
            }
        }
        let mut waiting = self.lock();
        if let Some(cell) = error {
            waiting.error = Some(cell.clone());
            self.0.has_error.store(1, Release);
        }
        let mut s = state.fetch_sub(done, AcqRel) - done;
        let mut granted = Vec::new();
        if s & QUEUED == 0 {
            // Nothing waits, and other threads may change the word, so leave it as it is.
            return granted;
        }
        // QUEUED is set and this thread holds the lock, so no other thread changes the word until
        // the store below.
        while let Some(&(_, next_is_write)) = waiting.ops.front() {
            if s & WRITING != 0 || (next_is_write && s & READERS != 0) {
                break;
            }
            s = started(s, next_is_write);
            granted.push(waiting.ops.pop_front().expect("front exists").0);
            if next_is_write {
                break;
            }
        }
        if waiting.ops.is_empty() {
            s &= !QUEUED;
        }
        state.store(s, Release);
        granted
    }

    /// Return the pending error of this variable, if any (still set in its shared cell).
    pub(crate) fn error_cell(&self) -> Option<ErrorCell> {
        if self.0.has_error.load(Acquire) == 0 {
            return None;
        }
        let waiting = self.lock();
        waiting.error.as_ref().filter(|c| c.lock().map(|e| e.is_some()).unwrap_or(false)).cloned()
    }
}
