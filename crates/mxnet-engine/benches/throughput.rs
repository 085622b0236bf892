//! Push-to-complete throughput of empty operations: P threads push N operations in all, then
//! one `wait_for_all`. Run with `cargo bench -p mxnet-engine --bench throughput`.
//!
//! Each operation writes a variable of its own, so every operation is ready when pushed and
//! the figure is the cost of the engine itself. In the `shared_read` runs each also reads one
//! variable that all pushers share, whose state every push and completion then changes.
//! `inline` lets ready operations run on the pushing thread, the engine's fast path for small
//! operations. `queued` sends every one through the ready queue to a drainer on the pool.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mxnet_engine::{Engine, EngineKind, Job, PushOptions, Var};

const OPS: usize = 100_000;

fn spawn(job: Job) {
    rayon::spawn(job)
}

/// Time `pushers` threads pushing `OPS` empty operations and one wait for all of them.
fn run(engine: &Arc<Engine>, pushers: usize, inline: bool, shared_read: bool) -> Duration {
    let shared = Var::new();
    let barrier = Arc::new(Barrier::new(pushers + 1));
    let threads: Vec<_> = (0..pushers)
        .map(|_| {
            let (engine, shared, barrier) = (engine.clone(), shared.clone(), barrier.clone());
            std::thread::spawn(move || {
                let outputs: Vec<Var> = (0..OPS / pushers).map(|_| Var::new()).collect();
                let options = PushOptions { inline_if_ready: inline, ..Default::default() };
                let shared = [shared];
                let reads: &[Var] = if shared_read { &shared } else { &[] };
                barrier.wait();
                for out in &outputs {
                    engine.push_with(Box::new(|| Ok(())), reads, std::slice::from_ref(out), options).unwrap();
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for t in threads {
        t.join().unwrap();
    }
    engine.wait_for_all().unwrap();
    start.elapsed()
}

fn throughput(c: &mut Criterion) {
    let engine = Arc::new(Engine::new(EngineKind::Threaded, 1, spawn));
    let mut group = c.benchmark_group("push_to_complete");
    group.throughput(Throughput::Elements(OPS as u64));
    group.sample_size(20);
    for shared_read in [false, true] {
        for inline in [true, false] {
            for pushers in [1, 2, 8] {
                let name = format!("{}{}", if inline { "inline" } else { "queued" }, if shared_read { "_shared_read" } else { "" });
                group.bench_with_input(BenchmarkId::new(name, pushers), &pushers, |b, &pushers| {
                    b.iter_custom(|iters| (0..iters).map(|_| run(&engine, pushers, inline, shared_read)).sum());
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
