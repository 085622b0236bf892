use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use crate::sync::{Arc, AtomicU64, Mutex, MutexGuard};

use crate::engine::OprBlock;
use crate::ErrorCell;

/// A versioned engine variable; cloning shares the variable.
///
/// The version goes up by one each time a write completes.
#[derive(Clone)]
pub struct Var(pub(crate) Arc<VarInner>);

pub(crate) struct VarInner {
    state: Mutex<VarState>,
    pub(crate) version: AtomicU64,
}

/// Queue state of one variable. A plain mutex per variable is held for a few instructions on
/// push and completion; the lock-free protocol is a later step.
#[derive(Default)]
pub(crate) struct VarState {
    /// Reads dispatched and not yet completed.
    running_reads: usize,
    /// A write is dispatched and not yet completed.
    running_write: bool,
    /// Operations waiting for this variable, oldest first; `true` marks a write.
    queue: VecDeque<(Arc<OprBlock>, bool)>,
    /// Error left by the last failed operation that wrote this variable.
    pub(crate) error: Option<ErrorCell>,
}

impl Default for Var {
    fn default() -> Self {
        Self::new()
    }
}

impl Var {
    pub fn new() -> Self {
        Var(Arc::new(VarInner { state: Mutex::new(VarState::default()), version: AtomicU64::new(0) }))
    }

    /// Number of completed writes.
    pub fn version(&self) -> u64 {
        self.0.version.load(Ordering::Acquire)
    }

    /// Return whether two handles name the same variable.
    pub fn same(&self, other: &Var) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    pub(crate) fn id(&self) -> usize {
        &*self.0 as *const VarInner as usize
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, VarState> {
        // A poisoned lock means a panic while the few queue instructions ran. The state is
        // still consistent because every change is a single push or pop.
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True when no operation is running or queued on this variable.
    pub(crate) fn is_idle(&self) -> bool {
        let st = self.lock();
        st.queue.is_empty() && !st.running_write && st.running_reads == 0
    }

    /// Register `blk` as a reader. Returns true when it may read now.
    pub(crate) fn append_read(&self, blk: &Arc<OprBlock>) -> bool {
        let mut st = self.lock();
        if st.queue.is_empty() && !st.running_write {
            st.running_reads += 1;
            true
        } else {
            st.queue.push_back((blk.clone(), false));
            false
        }
    }

    /// Register `blk` as a writer. Returns true when it may write now.
    pub(crate) fn append_write(&self, blk: &Arc<OprBlock>) -> bool {
        let mut st = self.lock();
        if st.queue.is_empty() && !st.running_write && st.running_reads == 0 {
            st.running_write = true;
            true
        } else {
            st.queue.push_back((blk.clone(), true));
            false
        }
    }

    /// Finish a read or write and return the operations that became unblocked on this variable.
    pub(crate) fn complete(&self, write: bool, error: Option<&ErrorCell>) -> Vec<Arc<OprBlock>> {
        let mut st = self.lock();
        if write {
            st.running_write = false;
            if let Some(cell) = error {
                st.error = Some(cell.clone());
            }
            self.0.version.fetch_add(1, Ordering::AcqRel);
        } else {
            st.running_reads -= 1;
        }
        let mut granted = Vec::new();
        while let Some((_, is_write)) = st.queue.front() {
            if st.running_write {
                break;
            }
            if *is_write {
                if st.running_reads > 0 {
                    break;
                }
                st.running_write = true;
                granted.push(st.queue.pop_front().expect("front exists").0);
                break;
            }
            st.running_reads += 1;
            granted.push(st.queue.pop_front().expect("front exists").0);
        }
        granted
    }

    /// Return the pending error of this variable, if any (still set in its shared cell).
    pub(crate) fn error_cell(&self) -> Option<ErrorCell> {
        let st = self.lock();
        st.error.as_ref().filter(|c| c.lock().map(|e| e.is_some()).unwrap_or(false)).cloned()
    }
}
