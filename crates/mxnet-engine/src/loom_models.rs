//! loom models of the variable protocol. Each model pushes a few operations from two or three
//! threads onto an engine without workers, so every operation runs on the thread that makes it
//! ready. loom explores the interleavings of pushes, completions and waits, with up to three
//! preemptions per execution.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release -p mxnet-engine loom_models`.

use std::sync::atomic::Ordering;

use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;
use loom::thread;

use crate::engine::{Engine, OpFn};
use crate::var::Var;

/// Shared cell that an operation reads or writes, with a flag that detects a write running
/// while another operation uses the same cell.
#[derive(Default)]
struct Cell {
    value: AtomicUsize,
    writing: AtomicUsize,
    reading: AtomicUsize,
}

/// Return an operation that writes `value` into `cell`.
fn write(cell: &Arc<Cell>, value: usize) -> OpFn {
    let cell = cell.clone();
    Box::new(move || {
        assert_eq!(cell.writing.swap(1, Ordering::SeqCst), 0, "two writes overlap");
        assert_eq!(cell.reading.load(Ordering::SeqCst), 0, "a write overlaps a read");
        cell.value.store(value, Ordering::SeqCst);
        cell.writing.store(0, Ordering::SeqCst);
        Ok(())
    })
}

/// Return an operation that copies the value of `cell` into `seen`.
fn read_into(cell: &Arc<Cell>, seen: &Arc<AtomicUsize>) -> OpFn {
    let (cell, seen) = (cell.clone(), seen.clone());
    Box::new(move || {
        cell.reading.fetch_add(1, Ordering::SeqCst);
        assert_eq!(cell.writing.load(Ordering::SeqCst), 0, "a read overlaps a write");
        seen.store(cell.value.load(Ordering::SeqCst), Ordering::SeqCst);
        cell.reading.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    })
}

/// Run `f` under loom with at most three preemptions per execution. Two are too few to stop
/// two readers inside their bodies while a write is granted, which breaking the grant rule on
/// purpose showed. Three finish all models in about 5 seconds.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

#[test]
fn concurrent_reads_see_the_earlier_write() {
    model(|| {
        let engine = Arc::new(Engine::inline_for_model());
        let (var, cell) = (Var::new(), Arc::new(Cell::default()));
        engine.push(write(&cell, 7), &[], &[var.clone()]).unwrap();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (engine, var, cell) = (engine.clone(), var.clone(), cell.clone());
                thread::spawn(move || {
                    let seen = Arc::new(AtomicUsize::new(0));
                    engine.push(read_into(&cell, &seen), &[var.clone()], &[]).unwrap();
                    engine.wait_for_all().unwrap();
                    seen.load(Ordering::SeqCst)
                })
            })
            .collect();
        for reader in readers {
            assert_eq!(reader.join().unwrap(), 7);
        }
    });
}

#[test]
fn read_and_write_from_two_threads_never_overlap() {
    model(|| {
        let engine = Arc::new(Engine::inline_for_model());
        let (var, cell) = (Var::new(), Arc::new(Cell::default()));
        engine.push(write(&cell, 1), &[], &[var.clone()]).unwrap();
        let writer = {
            let (engine, var, cell) = (engine.clone(), var.clone(), cell.clone());
            thread::spawn(move || engine.push(write(&cell, 2), &[], &[var]).unwrap())
        };
        let seen = Arc::new(AtomicUsize::new(0));
        engine.push(read_into(&cell, &seen), &[var.clone()], &[]).unwrap();
        writer.join().unwrap();
        engine.wait_for_var(&var).unwrap();
        // The read ran after the first write and either before or after the second.
        assert!(matches!(seen.load(Ordering::SeqCst), 1 | 2));
        assert_eq!(cell.value.load(Ordering::SeqCst), 2);
        assert_eq!(var.version(), 2);
    });
}

#[test]
fn write_waits_for_every_running_read() {
    model(|| {
        let engine = Arc::new(Engine::inline_for_model());
        let (var, cell) = (Var::new(), Arc::new(Cell::default()));
        // Two reads run on their own threads while the write is pushed, so the write may
        // queue behind two running reads and must wait for both to complete.
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (engine, var, cell) = (engine.clone(), var.clone(), cell.clone());
                thread::spawn(move || {
                    let seen = Arc::new(AtomicUsize::new(9));
                    engine.push(read_into(&cell, &seen), &[var], &[]).unwrap();
                    seen
                })
            })
            .collect();
        engine.push(write(&cell, 3), &[], &[var.clone()]).unwrap();
        for reader in readers {
            let seen = reader.join().unwrap();
            engine.wait_for_all().unwrap();
            assert!(matches!(seen.load(Ordering::SeqCst), 0 | 3));
        }
        assert_eq!(cell.value.load(Ordering::SeqCst), 3);
    });
}

#[test]
fn writes_from_two_threads_are_serialised() {
    model(|| {
        let engine = Arc::new(Engine::inline_for_model());
        let (var, cell) = (Var::new(), Arc::new(Cell::default()));
        let writers: Vec<_> = (1..=2)
            .map(|value| {
                let (engine, var, cell) = (engine.clone(), var.clone(), cell.clone());
                thread::spawn(move || engine.push(write(&cell, value), &[], &[var]).unwrap())
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        engine.wait_for_var(&var).unwrap();
        assert_eq!(var.version(), 2);
        assert!(matches!(cell.value.load(Ordering::SeqCst), 1 | 2));
    });
}

#[test]
fn error_reaches_dependant_and_is_raised_once() {
    model(|| {
        let engine = Arc::new(Engine::inline_for_model());
        let (a, b) = (Var::new(), Var::new());
        let failing = {
            let (engine, a) = (engine.clone(), a.clone());
            thread::spawn(move || {
                let fail: OpFn = Box::new(|| Err(std::sync::Arc::new(std::fmt::Error) as crate::OpError));
                engine.push(fail, &[], &[a]).unwrap();
            })
        };
        failing.join().unwrap();
        let ran = Arc::new(AtomicUsize::new(0));
        let dependant: OpFn = {
            let ran = ran.clone();
            Box::new(move || {
                ran.store(1, Ordering::SeqCst);
                Ok(())
            })
        };
        engine.push(dependant, &[a.clone()], &[b.clone()]).unwrap();
        let waiter = {
            let (engine, b) = (engine.clone(), b.clone());
            thread::spawn(move || engine.wait_for_var(&b).is_err())
        };
        let raised_here = engine.wait_for_var(&b).is_err();
        let raised_in_waiter = waiter.join().unwrap();
        // Exactly one of the two waits raises; the dependant was skipped.
        assert!(raised_here != raised_in_waiter, "raised here: {raised_here}, in the waiter: {raised_in_waiter}");
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn dropping_a_variable_with_pending_ops_keeps_them() {
    model(|| {
        let engine = Arc::new(Engine::inline_for_model());
        let cell = Arc::new(Cell::default());
        let var = Var::new();
        let blocker = Var::new();
        // A write on `blocker` from another thread delays the second operation.
        let gate = Arc::new(Cell::default());
        engine.push(write(&gate, 1), &[], &[blocker.clone()]).unwrap();
        engine.push(write(&cell, 5), &[blocker.clone()], &[var.clone()]).unwrap();
        drop(var);
        let other = {
            let (engine, blocker, gate) = (engine.clone(), blocker.clone(), gate.clone());
            thread::spawn(move || engine.push(write(&gate, 2), &[], &[blocker]).unwrap())
        };
        other.join().unwrap();
        engine.wait_for_all().unwrap();
        assert_eq!(cell.value.load(Ordering::SeqCst), 5);
    });
}

#[test]
fn stop_waits_for_a_push_in_progress() {
    model(|| {
        let engine = Arc::new(Engine::inline_for_model());
        let cell = Arc::new(Cell::default());
        let pusher = {
            let (engine, cell) = (engine.clone(), cell.clone());
            thread::spawn(move || engine.push(write(&cell, 1), &[], &[Var::new()]).unwrap())
        };
        engine.stop();
        // The push either finished before `stop` returned or waits for `start`; it never runs
        // while the engine is stopped, which is what makes `fork` safe.
        assert_eq!(cell.writing.load(Ordering::SeqCst), 0, "an operation runs after stop returned");
        let before_start = cell.value.load(Ordering::SeqCst);
        engine.start();
        pusher.join().unwrap();
        engine.wait_for_all().unwrap();
        assert!(before_start <= 1);
        assert_eq!(cell.value.load(Ordering::SeqCst), 1);
    });
}

/// Run `op` through [`Engine::try_run_now`], or push it when declined, as the eager path does.
fn run_now_or_push(engine: &Engine, op: OpFn, reads: &[Var], writes: &[Var]) {
    let read_refs: Vec<&Var> = reads.iter().collect();
    let write_refs: Vec<&Var> = writes.iter().collect();
    if let crate::RunNow::Declined(op) = engine.try_run_now(&read_refs, &write_refs, op) {
        engine.push(op, reads, writes).unwrap();
    }
}

#[test]
fn read_run_now_and_pushed_write_never_overlap() {
    model(|| {
        let engine = Arc::new(Engine::inline_for_model());
        let (var, cell) = (Var::new(), Arc::new(Cell::default()));
        engine.push(write(&cell, 1), &[], &[var.clone()]).unwrap();
        let writer = {
            let (engine, var, cell) = (engine.clone(), var.clone(), cell.clone());
            thread::spawn(move || engine.push(write(&cell, 2), &[], &[var]).unwrap())
        };
        let seen = Arc::new(AtomicUsize::new(0));
        run_now_or_push(&engine, read_into(&cell, &seen), &[var.clone()], &[Var::new()]);
        writer.join().unwrap();
        engine.wait_for_all().unwrap();
        assert!(matches!(seen.load(Ordering::SeqCst), 1 | 2));
        assert_eq!(cell.value.load(Ordering::SeqCst), 2);
        assert_eq!(var.version(), 2);
    });
}

#[test]
fn write_run_now_and_pushed_reads_never_overlap() {
    model(|| {
        let engine = Arc::new(Engine::inline_for_model());
        let (var, cell) = (Var::new(), Arc::new(Cell::default()));
        let reader = {
            let (engine, var, cell) = (engine.clone(), var.clone(), cell.clone());
            thread::spawn(move || {
                let seen = Arc::new(AtomicUsize::new(9));
                engine.push(read_into(&cell, &seen), &[var], &[]).unwrap();
                seen
            })
        };
        run_now_or_push(&engine, write(&cell, 4), &[], &[var.clone()]);
        let seen = reader.join().unwrap();
        engine.wait_for_all().unwrap();
        assert!(matches!(seen.load(Ordering::SeqCst), 0 | 4));
        assert_eq!(var.version(), 1);
    });
}
