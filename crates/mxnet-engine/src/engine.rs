use std::sync::atomic::Ordering;
use std::sync::OnceLock;

use crossbeam_utils::Backoff;

use crate::inflight::{InFlight, Limits};
use crate::lanes::{Lane, Lanes};
use crate::queue::{Job, ReadyQueue, Spawn};
use crate::sync::{Arc, AtomicUsize, Condvar, Mutex};
use crate::var::Var;
use crate::{ErrorCell, OpError};

/// The body of an operation. It runs once: on a pool thread, inline on the pushing thread, or
/// (NaiveEngine) always on the caller.
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
    /// The variables read, then those written, deduplicated: one allocation per operation.
    vars: Vec<Var>,
    reads: usize,
    /// Wait operations run even when an input carries an error: they only signal a waiter.
    is_wait: bool,
    /// Bytes the operation's outputs hold, counted against the in-flight byte limit.
    bytes: usize,
    /// Ready operations of higher priority run first.
    pub(crate) priority: i32,
    lane: Lane,
}

impl OprBlock {
    fn reads(&self) -> &[Var] {
        &self.vars[..self.reads]
    }

    fn writes(&self) -> &[Var] {
        &self.vars[self.reads..]
    }

    /// Decrement the wait counter; true when the operation became ready.
    fn decr_wait(&self) -> bool {
        self.wait.fetch_sub(1, Ordering::AcqRel) == 1
    }
}

/// Options of one push through [`Engine::push_with`].
#[derive(Clone, Copy, Debug, Default)]
pub struct PushOptions {
    /// Run the operation on the calling thread when its inputs are ready at push time,
    /// instead of through the ready queue. Callers set it for small operations, where handing
    /// the work to a pool thread costs more than the work.
    pub inline_if_ready: bool,
    /// Size of the outputs, counted against the in-flight byte limit.
    pub bytes: usize,
    /// Among ready operations, higher priorities run first (MXNet's `priority` argument).
    pub priority: i32,
    /// The lane that runs the operation when it becomes ready after the push.
    pub lane: Lane,
}

/// The dependency engine. Get the process-wide instance with [`Engine::get`].
pub struct Engine {
    shared: Arc<Shared>,
}

/// State shared between the engine handle and the drainers on the thread pool.
pub struct Shared {
    kind: EngineKind,
    /// `None` for the NaiveEngine and the loom models.
    queue: Option<ReadyQueue>,
    inflight: InFlight,
    /// Error cells of failures not yet raised, oldest first. Locked only when an operation
    /// fails or on `wait_for_all`.
    global_errors: Mutex<Vec<ErrorCell>>,
    lanes: Lanes<Arc<OprBlock>>,
}

impl std::ops::Deref for Engine {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.shared
    }
}

static ENGINE: OnceLock<Engine> = OnceLock::new();

/// Runs a job on rayon's global pool; the default [`Spawn`] for users of this crate alone.
fn spawn_on_global_pool(job: Job) {
    rayon::spawn(job)
}

impl Engine {
    /// Return the process-wide engine, created on first use from `MXNET_ENGINE_TYPE` and
    /// `MXNET_CPU_WORKER_NTHREADS`, running operations on rayon's global pool.
    pub fn get() -> &'static Engine {
        Self::get_or_init(spawn_on_global_pool)
    }

    /// Return the process-wide engine; when this call creates it, operations run on the
    /// pool that `spawn` starts jobs on. Give the pool that the kernels parallelise on, so
    /// both share its threads. Later calls return the existing engine and ignore `spawn`.
    ///
    /// An invalid `MXNET_ENGINE_TYPE` falls back to the default engine and logs the error;
    /// [`Engine::validate_env`] reports it to callers that can raise.
    pub fn get_or_init(spawn: Spawn) -> &'static Engine {
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
            Engine::with_limits(kind, threads, spawn, Limits::from_env())
        })
    }

    /// Return the process-wide engine if it has been created.
    pub fn get_if_started() -> Option<&'static Engine> {
        ENGINE.get()
    }

    /// Read `MXNET_ENGINE_TYPE` and return the engine kind it selects.
    pub fn validate_env() -> Result<EngineKind, String> {
        EngineKind::parse(&std::env::var("MXNET_ENGINE_TYPE").unwrap_or_default())
    }

    /// Create an engine without a thread pool for the loom models. Its operations run on the
    /// thread that makes them ready: the pusher or the completer of their last dependency.
    #[cfg(all(loom, test))]
    pub(crate) fn inline_for_model() -> Engine {
        let shared = Arc::new(Shared {
            kind: EngineKind::Threaded,
            queue: None,
            inflight: InFlight::new(Limits::unlimited()),
            global_errors: Mutex::new(Vec::new()),
            lanes: Lanes::new(),
        });
        Engine { shared }
    }

    /// Create a private engine that runs at most `max_running` operations at once on the pool
    /// of `spawn`, for tests and benchmarks. Everything else uses [`Engine::get`].
    pub fn new(kind: EngineKind, max_running: usize, spawn: Spawn) -> Engine {
        Engine::with_limits(kind, max_running, spawn, Limits::from_env())
    }

    pub(crate) fn with_limits(kind: EngineKind, max_running: usize, spawn: Spawn, limits: Limits) -> Engine {
        let shared = Arc::new(Shared {
            kind,
            queue: (kind != EngineKind::Naive).then(|| ReadyQueue::new(max_running, spawn)),
            inflight: InFlight::new(limits),
            global_errors: Mutex::new(Vec::new()),
            lanes: Lanes::new(),
        });
        Engine { shared }
    }

    /// Let pushes through again after [`Engine::stop`].
    pub fn start(&self) {
        self.inflight.set_paused(false);
    }

    /// Block until no operation is in flight; pending errors stay pending.
    pub fn wait_idle(&self) {
        self.inflight.wait_idle();
    }

    /// Hold back new pushes and wait until no operation is in flight and no drainer runs on
    /// the thread pool (MXNet's `Engine::Stop`).
    ///
    /// Called before `fork`: the child gets a copy of every lock but none of the threads, so
    /// the parent must fork while no thread holds an engine lock or runs an operation.
    /// Pending errors stay pending. Pushes from other threads wait until [`Engine::start`].
    pub fn stop(&self) {
        self.inflight.set_paused(true);
        self.inflight.wait_idle();
        if let Some(queue) = &self.queue {
            self.inflight.block_while(|_| queue.drainers() > 0);
        }
    }

    /// Forget the lane threads: call in a child process after `fork`, where they do not exist.
    pub fn forget_lanes_after_fork(&self) {
        self.lanes.forget();
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
        self.push_with(func, reads, writes, PushOptions::default())
    }

    /// Like [`Engine::push`], with the options of [`PushOptions`].
    pub fn push_with(&self, func: OpFn, reads: &[Var], writes: &[Var], options: PushOptions) -> Result<(), OpError> {
        self.push_admitted(func, reads, writes, options, true).map(|_| ())
    }

    /// Like [`Engine::push_with`], but push nothing and hand `func` back unrun, as
    /// `Ok(Some(func))`, where the push would have to wait: the in-flight limits are reached or
    /// the engine is stopped for a `fork`. `Ok(None)` means pushed. A caller that holds a lock
    /// the engine's progress may need (Python's GIL) pushes this way and retries with
    /// `push_with` after releasing it.
    pub fn try_push_with(&self, func: OpFn, reads: &[Var], writes: &[Var], options: PushOptions) -> Result<Option<OpFn>, OpError> {
        self.push_admitted(func, reads, writes, options, false)
    }

    fn push_admitted(&self, func: OpFn, reads: &[Var], writes: &[Var], options: PushOptions, wait: bool) -> Result<Option<OpFn>, OpError> {
        let bytes = options.bytes;
        if wait {
            self.inflight.admit(bytes);
        } else if !self.inflight.try_admit(bytes) {
            return Ok(Some(func));
        }
        let (vars, n_reads) = dedup_vars(reads, writes);

        if self.kind == EngineKind::Naive {
            // Counted in flight like queued operations, so that `stop` waits for it.
            let result = match first_error(&vars) {
                Some(cell) => {
                    drop(func);
                    Err(take_error(&cell).unwrap_or_else(|| skipped_error()))
                }
                None => func(),
            };
            for v in &vars[n_reads..] {
                v.0.version.fetch_add(1, Ordering::AcqRel);
            }
            self.inflight.retire(bytes);
            return result.map(|()| None);
        }

        let blk = Arc::new(OprBlock {
            // One extra count keeps the block from dispatching while it is being registered.
            wait: AtomicUsize::new(vars.len() + 1),
            func: Mutex::new(Some(func)),
            vars,
            reads: n_reads,
            is_wait: false,
            bytes,
            priority: options.priority,
            lane: options.lane,
        });
        for v in blk.reads() {
            if v.append_read(&blk) {
                blk.decr_wait();
            }
        }
        for v in blk.writes() {
            if v.append_write(&blk) {
                blk.decr_wait();
            }
        }
        if blk.decr_wait() {
            if options.inline_if_ready {
                Shared::execute(&self.shared, blk);
            } else {
                Shared::dispatch(&self.shared, blk);
            }
        }
        Ok(None)
    }
}

/// The outcome of [`Engine::try_run_now`].
pub enum RunNow<F> {
    /// It ran; a failure is recorded as for a pushed operation.
    Ran,
    /// It could not start at once and is handed back unrun.
    Declined(F),
}

impl Engine {
    /// Run `func` on the calling thread now, without an operation block or a queue, if every
    /// variable lets it start at once: no write running or queued on a read, nothing on a
    /// write, and no pending error on either. Otherwise hand `func` back, with nothing changed,
    /// for [`Engine::push_with`].
    ///
    /// This is the eager fast path for small operations whose inputs are ready, where the block,
    /// the boxed closure and the queue registration cost more than the kernel. Duplicates may
    /// appear among `reads`; a variable in both lists is declined. The NaiveEngine declines
    /// everything, so that its errors keep surfacing at the call.
    pub fn try_run_now<F: FnOnce() -> Result<(), OpError>>(&self, reads: &[&Var], writes: &[&Var], func: F) -> RunNow<F> {
        if self.kind == EngineKind::Naive || !self.inflight.try_admit(0) {
            return RunNow::Declined(func);
        }

        let started_reads = reads.iter().take_while(|v| v.try_start(false)).count();
        let started_writes =
            if started_reads == reads.len() { writes.iter().take_while(|v| v.try_start(true)).count() } else { 0 };

        // A failed writer sets the error before it releases the variable, so once started, an
        // error it left is visible here. A writer that fails between `try_start`'s own check
        // and the start is caught only by this second check.
        let all_started = started_reads == reads.len() && started_writes == writes.len();
        if !all_started || reads.iter().chain(writes).any(|v| v.has_error()) {
            let mut ready = Vec::new();
            for v in &reads[..started_reads] {
                ready.extend(v.cancel(false));
            }
            for v in &writes[..started_writes] {
                ready.extend(v.cancel(true));
            }
            Shared::dispatch_ready(&self.shared, ready);
            self.inflight.retire(0);
            return RunNow::Declined(func);
        }

        let error = run_caught(func);
        Shared::complete(&self.shared, reads.iter().copied(), writes.iter().copied(), error);
        self.inflight.retire(0);
        RunNow::Ran
    }
}

impl Shared {
    /// Queue a ready operation and start a drainer for it if a slot is free.
    // Associated functions taking `&Arc<Self>` rather than methods, because loom's `Arc`
    // cannot be a method receiver.
    fn dispatch(this: &Arc<Self>, blk: Arc<OprBlock>) {
        if let (Lane::Dedicated(id), EngineKind::ThreadedPerDevice) = (blk.lane, this.kind) {
            let shared = this.clone();
            return this.lanes.send(id, blk, move |blk| Shared::execute(&shared, blk));
        }
        let Some(queue) = &this.queue else {
            return Shared::execute(this, blk);
        };
        queue.push(blk);
        if queue.try_claim_drainer() {
            let shared = this.clone();
            queue.spawn(Box::new(move || Shared::drain(&shared)));
        }
    }

    /// Run ready operations until none is left: the body of a drainer job.
    fn drain(this: &Arc<Self>) {
        let queue = this.queue.as_ref().expect("drainers exist only with a ready queue");
        loop {
            // Before leaving, wait a few microseconds for more work: a pusher that finds no
            // drainer pays for waking a pool thread, which costs more than this short wait.
            let backoff = Backoff::new();
            while !backoff.is_completed() {
                match queue.pop() {
                    Some(blk) => {
                        Shared::execute(this, blk);
                        backoff.reset();
                    }
                    None => backoff.snooze(),
                }
            }
            let go_on = queue.release_drainer();
            // `stop` may be waiting for the last drainer to leave.
            this.inflight.notify();
            if !go_on {
                return;
            }
        }
    }

    /// Run one ready operation, record its error on the variables it writes, and release the
    /// operations that waited for it.
    fn execute(this: &Arc<Self>, blk: Arc<OprBlock>) {
        let func = blk.func.lock().unwrap_or_else(|e| e.into_inner()).take();
        let inherited = if blk.is_wait { None } else { first_error(&blk.vars) };
        let error: Option<ErrorCell> = match inherited {
            Some(cell) => {
                // Dropped unrun, and before the operations waiting for this one are released:
                // the operation may clean up its outputs when dropped (the imperative layer
                // zeroes them).
                drop(func);
                Some(cell)
            }
            None => func.and_then(run_caught),
        };
        Shared::complete(this, blk.reads().iter(), blk.writes().iter(), error);
        this.inflight.retire(blk.bytes);
    }

    /// Record `error` on the variables an operation wrote, finish its reads and writes, and
    /// dispatch the operations that became ready.
    fn complete<'a>(
        this: &Arc<Self>,
        reads: impl Iterator<Item = &'a Var>,
        writes: impl Iterator<Item = &'a Var>,
        error: Option<ErrorCell>,
    ) {
        if let Some(cell) = &error {
            let mut errors = this.global_errors.lock().unwrap_or_else(|e| e.into_inner());
            if !errors.iter().any(|c| Arc::ptr_eq(c, cell)) {
                errors.push(cell.clone());
            }
        }
        let mut ready = Vec::new();
        for v in reads {
            ready.extend(v.complete(false, None));
        }
        for v in writes {
            ready.extend(v.complete(true, error.as_ref()));
        }
        Shared::dispatch_ready(this, ready);
    }

    fn dispatch_ready(this: &Arc<Self>, ready: Vec<Arc<OprBlock>>) {
        for next in ready {
            if next.decr_wait() {
                Shared::dispatch(this, next);
            }
        }
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
            vars: vec![var.clone()],
            reads: 1,
            is_wait: true,
            bytes: 0,
            // The waiter blocks a user thread; release it before other ready work.
            priority: i32::MAX,
            lane: Lane::Pool,
        });
        // Not held back by the limits or by `stop`: a wait adds no memory and must not block
        // behind the pushes it waits for.
        self.inflight.enter();
        if var.append_read(&blk) {
            blk.decr_wait();
        }
        if blk.decr_wait() {
            Shared::dispatch(&self.shared, blk);
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

/// Return the variables of `reads` and `writes` without duplicates, reads first, and the
/// number of reads. A variable in both lists counts as written.
fn dedup_vars(reads: &[Var], writes: &[Var]) -> (Vec<Var>, usize) {
    let mut vars: Vec<Var> = Vec::with_capacity(reads.len() + writes.len());
    for v in reads {
        if !writes.iter().any(|x| x.same(v)) && !vars.iter().any(|x| x.same(v)) {
            vars.push(v.clone());
        }
    }
    let n_reads = vars.len();
    for v in writes {
        if !vars[n_reads..].iter().any(|x| x.same(v)) {
            vars.push(v.clone());
        }
    }
    // No sorting: each variable's state changes on its own, so the order is free.
    (vars, n_reads)
}

fn first_error(vars: &[Var]) -> Option<ErrorCell> {
    vars.iter().find_map(|v| v.error_cell())
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

/// Run an operation body and return the cell of its error or panic, if any.
fn run_caught(func: impl FnOnce() -> Result<(), OpError>) -> Option<ErrorCell> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(func)) {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(Arc::new(Mutex::new(Some(e)))),
        Err(panic) => Some(Arc::new(Mutex::new(Some(panic_error(panic))))),
    }
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
        let engine = Engine::new(EngineKind::Threaded, 2, spawn_on_global_pool);
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
        let engine = Engine::new(EngineKind::Threaded, 1, spawn_on_global_pool);
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
            engine.push_with(body, &[], &[var.clone()], PushOptions { inline_if_ready: i % 2 == 0, ..Default::default() }).unwrap();
        }
        engine.wait_for_all().unwrap();
        assert_eq!(cell.load(Ordering::SeqCst), 200);
    }

    #[test]
    fn push_waits_at_the_inflight_limit() {
        let engine = Engine::with_limits(EngineKind::Threaded, 1, spawn_on_global_pool, Limits { ops: 1, bytes: 1 << 30 });
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
    fn try_push_declines_instead_of_waiting() {
        for kind in [EngineKind::Threaded, EngineKind::Naive] {
            let engine = Arc::new(Engine::with_limits(kind, 1, spawn_on_global_pool, Limits { ops: 1, bytes: 1 << 30 }));
            let ran = Arc::new(AtomicI64::new(0));
            let counter = |ran: &Arc<AtomicI64>| -> OpFn {
                let ran = ran.clone();
                Box::new(move || {
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
            };
            // Nothing in flight: admitted and run.
            assert!(engine.try_push_with(counter(&ran), &[], &[Var::new()], PushOptions::default()).unwrap().is_none());
            engine.wait_for_all().unwrap();
            assert_eq!(ran.load(Ordering::SeqCst), 1);

            // Stopped for a fork: declined, and the function never runs.
            engine.stop();
            assert!(engine.try_push_with(counter(&ran), &[], &[Var::new()], PushOptions::default()).unwrap().is_some());
            engine.start();
            engine.wait_for_all().unwrap();
            assert_eq!(ran.load(Ordering::SeqCst), 1);
        }

        // At the in-flight limit: declined while a slow operation runs, admitted after it.
        let engine = Engine::with_limits(EngineKind::Threaded, 1, spawn_on_global_pool, Limits { ops: 1, bytes: 1 << 30 });
        let slow: OpFn = Box::new(|| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            Ok(())
        });
        engine.push(slow, &[], &[Var::new()]).unwrap();
        assert!(engine.try_push_with(Box::new(|| Ok(())), &[], &[Var::new()], PushOptions::default()).unwrap().is_some());
        engine.wait_for_all().unwrap();
        assert!(engine.try_push_with(Box::new(|| Ok(())), &[], &[Var::new()], PushOptions::default()).unwrap().is_none());
        engine.wait_for_all().unwrap();
    }

    #[test]
    fn byte_limit_admits_one_large_op() {
        let engine = Engine::with_limits(EngineKind::Threaded, 1, spawn_on_global_pool, Limits { ops: 100, bytes: 10 });
        engine.push_with(Box::new(|| Ok(())), &[], &[Var::new()], PushOptions { bytes: 1000, ..Default::default() }).unwrap();
        engine.push_with(Box::new(|| Ok(())), &[], &[Var::new()], PushOptions { bytes: 1000, ..Default::default() }).unwrap();
        engine.wait_for_all().unwrap();
    }

    #[test]
    fn stop_holds_back_pushes_until_start() {
        for kind in [EngineKind::Threaded, EngineKind::Naive] {
            let engine = Arc::new(Engine::new(kind, 2, spawn_on_global_pool));
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
    fn ready_operations_run_highest_priority_first() {
        let engine = Engine::new(EngineKind::Threaded, 1, spawn_on_global_pool);
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let order = Arc::new(Mutex::new(Vec::new()));
        // The only drainer blocks on the gate, so the operations below queue up ready.
        let blocker: OpFn = {
            let gate = gate.clone();
            Box::new(move || {
                let (open, cv) = &*gate;
                let mut open = open.lock().unwrap();
                while !*open {
                    open = cv.wait(open).unwrap();
                }
                Ok(())
            })
        };
        engine.push(blocker, &[], &[Var::new()]).unwrap();
        for priority in [0, 5, -3, 10, 0, 5] {
            let order = order.clone();
            let body: OpFn = Box::new(move || {
                order.lock().unwrap().push(priority);
                Ok(())
            });
            engine.push_with(body, &[], &[Var::new()], PushOptions { priority, ..Default::default() }).unwrap();
        }
        {
            let (open, cv) = &*gate;
            *open.lock().unwrap() = true;
            cv.notify_all();
        }
        engine.wait_for_all().unwrap();
        assert_eq!(*order.lock().unwrap(), vec![10, 5, 5, 0, 0, -3]);
    }

    #[test]
    fn dedicated_lane_runs_on_its_thread_in_dependency_order() {
        let engine = Engine::new(EngineKind::ThreadedPerDevice, 1, spawn_on_global_pool);
        let var = Var::new();
        let log: Arc<Mutex<Vec<(i32, String)>>> = Arc::new(Mutex::new(Vec::new()));
        for i in 0..40 {
            let log = log.clone();
            let lane = if i % 2 == 0 { Lane::Dedicated(7) } else { Lane::Pool };
            let body = Box::new(move || {
                let thread = std::thread::current().name().unwrap_or("").to_string();
                log.lock().unwrap().push((i, thread));
                Ok(())
            });
            engine.push_with(body, &[], &[var.clone()], PushOptions { lane, ..Default::default() }).unwrap();
        }
        engine.wait_for_all().unwrap();
        let log = log.lock().unwrap();
        let order: Vec<i32> = log.iter().map(|(i, _)| *i).collect();
        assert_eq!(order, (0..40).collect::<Vec<_>>(), "writes of one variable run in push order");
        for (i, thread) in log.iter() {
            assert_eq!(thread == "mxnet-lane-7", i % 2 == 0, "operation {i} ran on '{thread}'");
        }
    }

    #[test]
    fn shared_pool_engine_ignores_lanes() {
        let engine = Engine::new(EngineKind::Threaded, 1, spawn_on_global_pool);
        let var = Var::new();
        let thread = Arc::new(Mutex::new(String::new()));
        let seen = thread.clone();
        let body = Box::new(move || {
            *seen.lock().unwrap() = std::thread::current().name().unwrap_or("").to_string();
            Ok(())
        });
        engine.push_with(body, &[], &[var.clone()], PushOptions { lane: Lane::Dedicated(9), ..Default::default() }).unwrap();
        engine.wait_for_all().unwrap();
        assert_ne!(*thread.lock().unwrap(), "mxnet-lane-9");
    }

    #[test]
    fn unknown_engine_type_lists_valid_names() {
        let msg = EngineKind::parse("Fast").unwrap_err();
        assert!(msg.contains("NaiveEngine"), "{msg}");
        assert!(msg.contains("'Fast'"), "{msg}");
    }
}
