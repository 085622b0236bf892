//! Stress test of the threaded engine: eight threads push random operations over shared
//! cells, with random priorities and random inline dispatch. The values the operations see and
//! leave must equal a sequential replay of the push order, and no write may overlap another
//! access to its cell.

#![cfg(not(loom))]

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicI64, AtomicIsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use mxnet_engine::{Engine, EngineKind, OpFn, PushOptions, Var};

const CELLS: usize = 6;
const THREADS: usize = 8;
const OPS_PER_THREAD: usize = 40;
const ROUNDS: usize = 100;

/// A value that only engine operations touch. `busy` counts running readers, or is -1 while
/// a writer runs, so an overlap that the engine should have prevented fails the test.
struct Cell {
    value: UnsafeCell<i64>,
    busy: AtomicIsize,
    var: Var,
}

// SAFETY: `value` is accessed only inside engine operations, which the engine orders; `busy`
// turns any overlap into a test failure instead of a silent race.
unsafe impl Sync for Cell {}

impl Cell {
    fn read(&self) -> i64 {
        let before = self.busy.fetch_add(1, SeqCst);
        assert!(before >= 0, "a read overlaps a write");
        // SAFETY: see `unsafe impl Sync`.
        let v = unsafe { *self.value.get() };
        self.busy.fetch_sub(1, SeqCst);
        v
    }

    fn write(&self, v: i64) {
        assert_eq!(self.busy.compare_exchange(0, -1, SeqCst, SeqCst), Ok(0), "a write overlaps another access");
        // SAFETY: see `unsafe impl Sync`.
        unsafe { *self.value.get() = v };
        self.busy.store(0, SeqCst);
    }
}

/// One operation: `cells[dst] = cells[a] * 3 + cells[b] + k` (wrapping), or with `dst` None
/// a snapshot of `cells[a] - cells[b]` into `seen`.
#[derive(Clone, Copy)]
struct Step {
    a: usize,
    b: usize,
    dst: Option<usize>,
    k: i64,
}

fn apply(step: Step, a: i64, b: i64) -> i64 {
    match step.dst {
        Some(_) => a.wrapping_mul(3).wrapping_add(b).wrapping_add(step.k),
        None => a.wrapping_sub(b),
    }
}

struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn spawn(job: mxnet_engine::Job) {
    rayon::spawn(job)
}

fn run_round(engine: &Arc<Engine>, seed: u64) {
    let cells: Arc<Vec<Cell>> = Arc::new(
        (0..CELLS).map(|i| Cell { value: UnsafeCell::new(i as i64), busy: AtomicIsize::new(0), var: Var::new() }).collect(),
    );
    // The log records each step with its snapshot slot, in push order.
    let log: Arc<Mutex<Vec<(Step, Arc<AtomicI64>)>>> = Arc::new(Mutex::new(Vec::new()));

    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (engine, cells, log) = (engine.clone(), cells.clone(), log.clone());
            std::thread::spawn(move || {
                let mut rng = XorShift(seed * 1_000_003 + t as u64 + 1);
                for _ in 0..OPS_PER_THREAD {
                    let a = rng.below(CELLS as u64) as usize;
                    let b = rng.below(CELLS as u64) as usize;
                    let dst = (rng.below(3) != 0).then(|| rng.below(CELLS as u64) as usize);
                    let step = Step { a, b, dst, k: rng.below(7) as i64 - 3 };
                    let options = PushOptions {
                        inline_if_ready: rng.below(2) == 0,
                        priority: rng.below(5) as i32 - 2,
                        ..Default::default()
                    };
                    let seen = Arc::new(AtomicI64::new(i64::MIN));
                    let body: OpFn = {
                        let (cells, seen) = (cells.clone(), seen.clone());
                        Box::new(move || {
                            let result = apply(step, cells[step.a].read(), cells[step.b].read());
                            match step.dst {
                                Some(d) => cells[d].write(result),
                                None => seen.store(result, SeqCst),
                            }
                            Ok(())
                        })
                    };
                    let reads = [cells[a].var.clone(), cells[b].var.clone()];
                    let writes: Vec<Var> = dst.map(|d| cells[d].var.clone()).into_iter().collect();
                    // The lock makes the log order the push order.
                    let mut log = log.lock().unwrap();
                    engine.push_with(body, &reads, &writes, options).unwrap();
                    log.push((step, seen));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    engine.wait_for_all().unwrap();

    let mut replay: Vec<i64> = (0..CELLS as i64).collect();
    for (i, (step, seen)) in log.lock().unwrap().iter().enumerate() {
        let result = apply(*step, replay[step.a], replay[step.b]);
        match step.dst {
            Some(d) => replay[d] = result,
            None => assert_eq!(seen.load(SeqCst), result, "round {seed}, step {i}: the snapshot differs from the replay"),
        }
    }
    for (i, cell) in cells.iter().enumerate() {
        assert_eq!(cell.read(), replay[i], "round {seed}: cell {i} differs from the replay");
    }
}

#[test]
fn eight_threads_match_a_sequential_replay() {
    for max_running in [1, 2] {
        let engine = Arc::new(Engine::new(EngineKind::Threaded, max_running, spawn));
        for seed in 0..ROUNDS as u64 {
            run_round(&engine, seed);
        }
    }
}
