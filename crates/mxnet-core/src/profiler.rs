//! Operator timings for `mx.profiler`: while it runs, every operation the imperative layer
//! pushes records its operator's name, the thread that ran it, and when its kernel started
//! and ended.
//!
//! Stopped, the cost is one relaxed atomic load per operation. Running, each operation also
//! takes a lock to append its record, which is why the profiler is off by default.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// One operation's kernel run.
#[derive(Clone, Debug)]
pub struct Record {
    pub name: &'static str,
    /// Microseconds since the profiler first started in this process.
    pub start_us: f64,
    pub duration_us: f64,
    /// Index into [`thread_names`].
    pub thread: u32,
}

static RUNNING: AtomicBool = AtomicBool::new(false);
static RECORDS: Mutex<Vec<Record>> = Mutex::new(Vec::new());
static THREAD_NAMES: Mutex<Vec<String>> = Mutex::new(Vec::new());
static NEXT_THREAD: AtomicU32 = AtomicU32::new(0);

thread_local! {
    /// This thread's index into `THREAD_NAMES`, given on its first record.
    static THREAD: u32 = {
        let current = std::thread::current();
        let name = current.name().map_or_else(|| format!("calling thread {:?}", current.id()), str::to_string);
        let mut names = THREAD_NAMES.lock().unwrap_or_else(|e| e.into_inner());
        let index = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
        names.push(name);
        index
    };
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Start or stop recording.
pub fn set_running(running: bool) {
    epoch();
    RUNNING.store(running, Ordering::Relaxed);
}

pub fn is_running() -> bool {
    RUNNING.load(Ordering::Relaxed)
}

/// Microseconds since the profiler first started, the time base of every record (for events
/// that Python code adds to the same trace).
pub fn now_us() -> f64 {
    epoch().elapsed().as_secs_f64() * 1e6
}

/// Return the start time of an operation when the profiler runs, else `None`.
pub(crate) fn start() -> Option<Instant> {
    is_running().then(Instant::now)
}

/// Record operation `name`, started at `started` (from [`start`]), as ending now.
pub(crate) fn finish(name: &'static str, started: Option<Instant>) {
    let Some(started) = started else { return };
    let end = Instant::now();
    let origin = epoch();
    let record = Record {
        name,
        start_us: started.saturating_duration_since(origin).as_secs_f64() * 1e6,
        duration_us: end.saturating_duration_since(started).as_secs_f64() * 1e6,
        thread: THREAD.with(|t| *t),
    };
    RECORDS.lock().unwrap_or_else(|e| e.into_inner()).push(record);
}

/// Remove and return the records so far, oldest first by completion.
pub fn take() -> Vec<Record> {
    std::mem::take(&mut *RECORDS.lock().unwrap_or_else(|e| e.into_inner()))
}

/// Names of the threads that have recorded, by index.
pub fn thread_names() -> Vec<String> {
    THREAD_NAMES.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_only_while_running() {
        set_running(false);
        finish("stopped", start());
        set_running(true);
        let started = start();
        std::thread::sleep(std::time::Duration::from_millis(2));
        finish("running", started);
        set_running(false);
        let records: Vec<Record> = take().into_iter().filter(|r| r.name == "running" || r.name == "stopped").collect();
        assert_eq!(records.len(), 1, "{records:?}");
        assert!(records[0].duration_us >= 2000.0, "{records:?}");
        assert!(thread_names().len() > records[0].thread as usize);
    }
}
