use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};

use crossbeam_channel::{unbounded, Receiver, Sender};

use crate::sync::{Arc, AtomicUsize, Condvar, Mutex, MutexGuard};
use crate::var::Var;
use crate::{ErrorCell, OpError};

/// The body of an operation. It runs once, on a worker thread or (NaiveEngine) on the caller.
pub type OpFn = Box<dyn FnOnce() -> Result<(), OpError> + Send + 'static>;

/// Engine variants selected by `MXNET_ENGINE_TYPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// Worker threads per device (the default).
    ThreadedPerDevice,
    /// One shared worker pool.
    Threaded,
    /// Runs every operation synchronously on the calling thread; errors surface at the call.
    Naive,
}

impl EngineKind {
    pub const NAMES: [&'static str; 3] = ["ThreadedEnginePerDevice", "ThreadedEngine", "NaiveEngine"];

    /// Parse an `MXNET_ENGINE_TYPE` value.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "" | "ThreadedEnginePerDevice" => Ok(EngineKind::ThreadedPerDevice),
            "ThreadedEngine" => Ok(EngineKind::Threaded),
            "NaiveEngine" => Ok(EngineKind::Naive),
            other => Err(format!(
                "unknown MXNET_ENGINE_TYPE '{other}'; valid values are {}",
                Self::NAMES.join(", ")
            )),
        }
    }
}

/// One pushed operation and the count of variables it still waits for.
pub(crate) struct OprBlock {
    wait: AtomicUsize,
    func: Mutex<Option<OpFn>>,
    reads: Vec<Var>,
    writes: Vec<Var>,
    /// Wait operations run even when an input carries an error: they only signal a waiter.
    is_wait: bool,
    /// Bytes the operation's outputs hold, counted against the in-flight byte limit.
    bytes: usize,
}

impl OprBlock {
    /// Decrement the wait counter; true when the operation became ready.
    fn decr_wait(&self) -> bool {
        self.wait.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

/// The dependency engine. Get the process-wide instance with [`Engine::get`].
pub struct Engine {
    shared: Arc<Shared>,
}

/// Operations pushed and not yet completed, and the bytes their outputs hold.
#[derive(Default)]
struct Pending {
    ops: usize,
    bytes: usize,
    /// Set by [`Engine::stop`]: pushes wait until the workers start again, so that a
    /// thread pushing in a loop cannot keep the engine from draining.
    paused: bool,
}

/// Back-pressure: a push waits while this many operations or output bytes are in flight, so a
/// Python loop that never synchronises cannot grow memory without bound. One operation is
/// always admitted, however large.
#[derive(Clone, Copy)]
struct Limits {
    ops: usize,
    bytes: usize,
}

impl Limits {
    /// From `MXNET_ENGINE_MAX_INFLIGHT_OPS` (default 4096) and `MXNET_ENGINE_MAX_INFLIGHT_BYTES`
    /// (default 1 GiB). NOTE: both defaults are estimates, not tuned.
    fn from_env() -> Limits {
        let read = |name: &str, default: usize| {
            std::env::var(name).ok().and_then(|v| v.parse::<usize>().ok()).filter(|&n| n > 0).unwrap_or(default)
        };
        Limits { ops: read("MXNET_ENGINE_MAX_INFLIGHT_OPS", 4096), bytes: read("MXNET_ENGINE_MAX_INFLIGHT_BYTES", 1 << 30) }
    }
}

/// A message to the worker threads.
enum Job {
    Run(Arc<OprBlock>),
    /// Ask one worker to exit; sent by [`Engine::stop`].
    Exit,
}

/// The worker threads of a threaded engine and the queue they take ready operations from.
/// The receiver is kept so that workers can be started again after [`Engine::stop`].
struct Workers {
    count: usize,
    tx: Sender<Job>,
    rx: Receiver<Job>,
    handles: Mutex<Vec<JoinHandle<()>>>,
}

/// State shared between the engine handle and its worker threads.
pub struct Shared {
    kind: EngineKind,
    /// `None` for the NaiveEngine.
    workers: Option<Workers>,
    pending: Mutex<Pending>,
    all_done: Condvar,
    /// Signalled when an operation completes, for pushers held back by the in-flight limits.
    slot_free: Condvar,
    limits: Limits,
    /// Error cells of failures not yet raised, oldest first.
    global_errors: Mutex<Vec<ErrorCell>>,
}

impl std::ops::Deref for Engine {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

static ENGINE: OnceLock<Engine> = OnceLock::new();

impl Engine {
    /// Return the process-wide engine, created on first use from `MXNET_ENGINE_TYPE`
    /// and `MXNET_CPU_WORKER_NTHREADS`.
    ///
    /// An invalid `MXNET_ENGINE_TYPE` falls back to the default engine and logs the error;
    /// [`Engine::validate_env`] reports it to callers that can raise.
    pub fn get() -> &'static Engine {
        ENGINE.get_or_init(|| {
            let kind = match Self::validate_env() {
                Ok(kind) => kind,
                Err(msg) => {
                    log::error!("{msg}; using ThreadedEnginePerDevice");
                    EngineKind::ThreadedPerDevice
                }
            };
            let threads = std::env::var("MXNET_CPU_WORKER_NTHREADS")
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|&n| n > 0)
                .unwrap_or(1);
            Engine::new(kind, threads)
        })
    }

    /// Return the process-wide engine if [`Engine::get`] has created it.
    pub fn get_if_started() -> Option<&'static Engine> {
        ENGINE.get()
    }

    /// Read `MXNET_ENGINE_TYPE` and return the engine kind it selects.
    pub fn validate_env() -> Result<EngineKind, String> {
        EngineKind::parse(&std::env::var("MXNET_ENGINE_TYPE").unwrap_or_default())
    }

    /// An engine without worker threads whose operations run on the thread that makes them
    /// ready (the pusher or the completer of their last dependency), for the loom models.
    #[cfg(loom)]
    pub(crate) fn inline_for_model() -> Engine {
        let shared = Arc::new(Shared {
            kind: EngineKind::Threaded,
            workers: None,
            pending: Mutex::new(Pending::default()),
            all_done: Condvar::new(),
            slot_free: Condvar::new(),
            limits: Limits { ops: usize::MAX, bytes: usize::MAX },
            global_errors: Mutex::new(Vec::new()),
        });
        Engine { shared }
    }

    fn new(kind: EngineKind, threads: usize) -> Engine {
        Engine::with_limits(kind, threads, Limits::from_env())
    }

    fn with_limits(kind: EngineKind, threads: usize, limits: Limits) -> Engine {
        let workers = (kind != EngineKind::Naive).then(|| {
            let (tx, rx) = unbounded::<Job>();
            Workers { count: threads, tx, rx, handles: Mutex::new(Vec::new()) }
        });
        let shared = Arc::new(Shared {
            kind,
            workers,
            pending: Mutex::new(Pending::default()),
            all_done: Condvar::new(),
            slot_free: Condvar::new(),
            limits,
            global_errors: Mutex::new(Vec::new()),
        });
        let engine = Engine { shared };
        engine.start();
        engine
    }

    /// Start the worker threads if they are not running and let pushes through again; undoes
    /// [`Engine::stop`]. Operations queued while the engine was stopped run now.
    pub fn start(&self) {
        if let Some(workers) = &self.workers {
            let mut handles = workers.handles.lock().unwrap_or_else(|e| e.into_inner());
            if handles.is_empty() {
                self.spawn_workers(workers, &mut handles);
            }
        }
        self.lock_pending().paused = false;
        self.slot_free.notify_all();
    }

    fn spawn_workers(&self, workers: &Workers, handles: &mut Vec<JoinHandle<()>>) {
        for i in 0..workers.count {
            let rx = workers.rx.clone();
            let shared = self.shared.clone();
            let handle = thread::Builder::new()
                .name(format!("mxnet-cpu-worker-{i}"))
                .spawn(move || {
                    while let Ok(Job::Run(blk)) = rx.recv() {
                        shared.execute(blk);
                    }
                })
                .expect("failed to spawn an engine worker thread");
            handles.push(handle);
        }
    }

    /// Block until no operation is in flight; pending errors stay pending.
    pub fn wait_idle(&self) {
        let mut pending = self.lock_pending();
        while pending.ops > 0 {
            pending = self.all_done.wait(pending).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Hold back new pushes, wait until no operation is in flight, then stop and join the
    /// worker threads (MXNet's `Engine::Stop`).
    ///
    /// Called before `fork`: the child gets a copy of every lock but none of the threads, so
    /// the parent must fork while no thread holds an engine or kernel lock or runs an
    /// operation. Pending errors stay pending. Pushes from other threads wait until
    /// [`Engine::start`].
    pub fn stop(&self) {
        self.lock_pending().paused = true;
        self.wait_idle();
        let Some(workers) = &self.workers else { return };
        let mut handles = workers.handles.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..handles.len() {
            // Each worker exits on the first Exit it takes, so every worker gets one.
            let _ = workers.tx.send(Job::Exit);
        }
        for handle in handles.drain(..) {
            let _ = handle.join();
        }
    }

    pub fn kind(&self) -> EngineKind {
        self.kind
    }

    /// Push an operation that reads `reads` and writes `writes`.
    ///
    /// Duplicates are removed and a variable in both lists counts as written. With the
    /// NaiveEngine the operation runs before `push` returns, and its error is returned here.
    /// The threaded engines return `Ok` and report errors at the next wait.
    pub fn push(&self, func: OpFn, reads: &[Var], writes: &[Var]) -> Result<(), OpError> {
        self.push_with(func, reads, writes, false, 0)
    }

    /// Like [`Engine::push`]; with `inline_if_ready`, an operation whose inputs are ready at push
    /// time runs on the calling thread instead of going through the worker queue. Callers set
    /// it for small operations, where the queue hop (waking a worker) costs more than the work.
    /// `bytes` is the size of the outputs, counted against the in-flight byte limit.
    pub fn push_with(
        &self,
        func: OpFn,
        reads: &[Var],
        writes: &[Var],
        inline_if_ready: bool,
        bytes: usize,
    ) -> Result<(), OpError> {
        let (reads, writes) = dedup_vars(reads, writes);

        if self.kind == EngineKind::Naive {
            // Counted in flight like queued operations, so that `stop` waits for it.
            self.admit(bytes);
            let result = match first_error(&reads, &writes) {
                Some(cell) => Err(take_error(&cell).unwrap_or_else(|| skipped_error())),
                None => func(),
            };
            for v in &writes {
                v.0.version.fetch_add(1, Ordering::AcqRel);
            }
            self.retire(bytes);
            return result;
        }

        let blk = Arc::new(OprBlock {
            // One extra count keeps the block from dispatching while it is being registered.
            wait: AtomicUsize::new(reads.len() + writes.len() + 1),
            func: Mutex::new(Some(func)),
            reads,
            writes,
            is_wait: false,
            bytes,
        });
        self.admit(bytes);
        for v in &blk.reads {
            if v.append_read(&blk) {
                blk.decr_wait();
            }
        }
        for v in &blk.writes {
            if v.append_write(&blk) {
                blk.decr_wait();
            }
        }
        if blk.decr_wait() {
            if inline_if_ready {
                self.execute(blk);
            } else {
                self.dispatch(blk);
            }
        }
        Ok(())
    }
}

impl Shared {
    fn dispatch(&self, blk: Arc<OprBlock>) {
        match &self.workers {
            // The shared receiver lives as long as the engine, so the send cannot fail.
            Some(workers) => workers.tx.send(Job::Run(blk)).expect("engine queue is open"),
            None => self.execute(blk),
        }
    }

    /// Run one ready operation, record its error on the variables it writes, and release the
    /// operations that waited for it.
    fn execute(&self, blk: Arc<OprBlock>) {
        let func = blk.func.lock().unwrap_or_else(|e| e.into_inner()).take();
        let inherited = if blk.is_wait { None } else { first_error(&blk.reads, &blk.writes) };
        let error: Option<ErrorCell> = match inherited {
            Some(cell) => Some(cell),
            None => match func {
                Some(f) => match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(Arc::new(Mutex::new(Some(e)))),
                    Err(panic) => Some(Arc::new(Mutex::new(Some(panic_error(panic))))),
                },
                None => None,
            },
        };
        if let Some(cell) = &error {
            let mut errors = self.global_errors.lock().unwrap_or_else(|e| e.into_inner());
            if !errors.iter().any(|c| Arc::ptr_eq(c, cell)) {
                errors.push(cell.clone());
            }
        }

        let mut ready = Vec::new();
        for v in &blk.reads {
            ready.extend(v.complete(false, None));
        }
        for v in &blk.writes {
            ready.extend(v.complete(true, error.as_ref()));
        }
        for next in ready {
            if next.decr_wait() {
                self.dispatch(next);
            }
        }

        self.retire(blk.bytes);
    }

    /// Count one operation out of flight.
    fn retire(&self, bytes: usize) {
        let mut pending = self.lock_pending();
        pending.ops -= 1;
        pending.bytes -= bytes;
        if pending.ops == 0 {
            self.all_done.notify_all();
        }
        self.slot_free.notify_all();
    }

}

impl Engine {
    /// Block until every operation pushed so far that writes `var` has completed, then raise
    /// the variable's pending error (once).
    pub fn wait_for_var(&self, var: &Var) -> Result<(), OpError> {
        if self.kind != EngineKind::Naive && !var.is_idle() {
            let signal = Arc::new((Mutex::new(false), Condvar::new()));
            let notify = signal.clone();
            let waiter: OpFn = Box::new(move || {
                let (done, cv) = &*notify;
                *done.lock().unwrap_or_else(|e| e.into_inner()) = true;
                cv.notify_all();
                Ok(())
            });
            self.push_wait(waiter, var);
            let (done, cv) = &*signal;
            let mut finished = done.lock().unwrap_or_else(|e| e.into_inner());
            while !*finished {
                finished = cv.wait(finished).unwrap_or_else(|e| e.into_inner());
            }
        }
        match var.error_cell() {
            Some(cell) => match take_error(&cell) {
                Some(e) => Err(e),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// Push a read of `var` that runs even when the variable carries an error, so waiters wake.
    fn push_wait(&self, func: OpFn, var: &Var) {
        let blk = Arc::new(OprBlock {
            wait: AtomicUsize::new(2),
            func: Mutex::new(Some(func)),
            reads: vec![var.clone()],
            writes: Vec::new(),
            is_wait: true,
            bytes: 0,
        });
        self.lock_pending().ops += 1;
        if var.append_read(&blk) {
            blk.decr_wait();
        }
        if blk.decr_wait() {
            self.dispatch(blk);
        }
    }

    /// Block until every pushed operation has completed, then raise the oldest pending error.
    /// All pending errors are cleared, as in MXNet's `WaitForAll`.
    pub fn wait_for_all(&self) -> Result<(), OpError> {
        self.wait_idle();
        let cells: Vec<ErrorCell> =
            std::mem::take(&mut *self.global_errors.lock().unwrap_or_else(|e| e.into_inner()));
        let mut first = None;
        for cell in cells {
            if let Some(e) = take_error(&cell) {
                first.get_or_insert(e);
            }
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

}

impl Shared {
    fn lock_pending(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Count a new operation in flight, first waiting while the limits are reached. Workers
    /// never push, so completions keep coming while a pusher waits here.
    fn admit(&self, bytes: usize) {
        let mut pending = self.lock_pending();
        while pending.paused
            || (pending.ops > 0 && (pending.ops >= self.limits.ops || pending.bytes + bytes > self.limits.bytes))
        {
            pending = self.slot_free.wait(pending).unwrap_or_else(|e| e.into_inner());
        }
        pending.ops += 1;
        pending.bytes += bytes;
    }
}

fn dedup_vars(reads: &[Var], writes: &[Var]) -> (Vec<Var>, Vec<Var>) {
    let mut w: Vec<Var> = Vec::with_capacity(writes.len());
    for v in writes {
        if !w.iter().any(|x| x.same(v)) {
            w.push(v.clone());
        }
    }
    let mut r: Vec<Var> = Vec::with_capacity(reads.len());
    for v in reads {
        if !w.iter().any(|x| x.same(v)) && !r.iter().any(|x| x.same(v)) {
            r.push(v.clone());
        }
    }
    // A stable order is not needed for correctness: each variable is locked on its own.
    r.sort_by_key(|v| v.id());
    w.sort_by_key(|v| v.id());
    (r, w)
}

fn first_error(reads: &[Var], writes: &[Var]) -> Option<ErrorCell> {
    reads.iter().chain(writes.iter()).find_map(|v| v.error_cell())
}

fn take_error(cell: &ErrorCell) -> Option<OpError> {
    cell.lock().unwrap_or_else(|e| e.into_inner()).take()
}

#[derive(Debug)]
struct EngineError(String);

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EngineError {}

fn skipped_error() -> OpError {
    std::sync::Arc::new(EngineError("an input of this operation failed earlier and its error was already raised".into()))
}

fn panic_error(panic: Box<dyn std::any::Any + Send>) -> OpError {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    std::sync::Arc::new(EngineError(format!("internal error (Rust panic) in an engine operation: {msg}")))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI64;

    fn err(msg: &str) -> OpError {
        Arc::new(EngineError(msg.to_string()))
    }

    #[test]
    fn writes_are_ordered_and_reads_see_them() {
        let engine = Engine::new(EngineKind::Threaded, 2);
        let var = Var::new();
        let cell = Arc::new(AtomicI64::new(0));
        for i in 0..100 {
            let c = cell.clone();
            engine
                .push(Box::new(move || {
                    // Each write checks that the previous write completed before it.
                    assert_eq!(c.load(Ordering::SeqCst), i);
                    c.store(i + 1, Ordering::SeqCst);
                    Ok(())
                }), &[], &[var.clone()])
                .unwrap();
        }
        engine.wait_for_all().unwrap();
        assert_eq!(cell.load(Ordering::SeqCst), 100);
        assert_eq!(var.version(), 100);
    }

    #[test]
    fn error_spreads_and_is_raised_once() {
        let engine = Engine::get();
        let a = Var::new();
        let b = Var::new();
        engine.push(Box::new(|| Err(err("scale must be positive"))), &[], &[a.clone()]).unwrap();
        engine.push(Box::new(|| Ok(())), &[a.clone()], &[b.clone()]).unwrap();
        let first = engine.wait_for_var(&b).unwrap_err();
        assert_eq!(first.to_string(), "scale must be positive");
        assert!(engine.wait_for_var(&b).is_ok());
        assert!(engine.wait_for_var(&a).is_ok());
    }

    #[test]
    fn inline_ops_keep_order_with_queued_ops() {
        let engine = Engine::new(EngineKind::Threaded, 1);
        let var = Var::new();
        let cell = Arc::new(AtomicI64::new(0));
        for i in 0..200 {
            let c = cell.clone();
            let body: OpFn = Box::new(move || {
                assert_eq!(c.load(Ordering::SeqCst), i);
                c.store(i + 1, Ordering::SeqCst);
                Ok(())
            });
            // Alternate queued and inline pushes on one variable: order must still hold.
            engine.push_with(body, &[], &[var.clone()], i % 2 == 0, 0).unwrap();
        }
        engine.wait_for_all().unwrap();
        assert_eq!(cell.load(Ordering::SeqCst), 200);
    }

    #[test]
    fn push_waits_at_the_inflight_limit() {
        let engine = Engine::with_limits(EngineKind::Threaded, 1, Limits { ops: 1, bytes: 1 << 30 });
        let slow: OpFn = Box::new(|| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            Ok(())
        });
        engine.push(slow, &[], &[Var::new()]).unwrap();
        let start = std::time::Instant::now();
        // An independent operation still waits: one operation is already in flight.
        engine.push(Box::new(|| Ok(())), &[], &[Var::new()]).unwrap();
        assert!(start.elapsed() >= std::time::Duration::from_millis(30));
        engine.wait_for_all().unwrap();
    }

    #[test]
    fn byte_limit_admits_one_large_op() {
        let engine = Engine::with_limits(EngineKind::Threaded, 1, Limits { ops: 100, bytes: 10 });
        engine.push_with(Box::new(|| Ok(())), &[], &[Var::new()], false, 1000).unwrap();
        engine.push_with(Box::new(|| Ok(())), &[], &[Var::new()], false, 1000).unwrap();
        engine.wait_for_all().unwrap();
    }

    #[test]
    fn stop_holds_back_pushes_until_start() {
        for kind in [EngineKind::Threaded, EngineKind::Naive] {
            let engine = Arc::new(Engine::new(kind, 2));
            let ran = Arc::new(AtomicI64::new(0));
            engine.stop();
            let pusher = {
                let (engine, ran) = (engine.clone(), ran.clone());
                std::thread::spawn(move || {
                    let body: OpFn = Box::new(move || {
                        ran.store(1, Ordering::SeqCst);
                        Ok(())
                    });
                    engine.push(body, &[], &[Var::new()]).unwrap();
                })
            };
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert_eq!(ran.load(Ordering::SeqCst), 0, "{kind:?} ran an operation while stopped");
            engine.start();
            pusher.join().unwrap();
            engine.wait_for_all().unwrap();
            assert_eq!(ran.load(Ordering::SeqCst), 1, "{kind:?}");
        }
    }

    #[test]
    fn unknown_engine_type_lists_valid_names() {
        let msg = EngineKind::parse("Fast").unwrap_err();
        assert!(msg.contains("NaiveEngine"), "{msg}");
        assert!(msg.contains("'Fast'"), "{msg}");
    }
}
