//! Kernel timings without the engine or Python: GEMM, LeNet's convolutions and pooling,
//! elementwise maps, sums and softmax, all float32. Run with
//! `cargo bench -p mxnet-cpu --bench kernels`; not part of CI.
//!
//! Throughput is in elements per second: floating-point operations for GEMM and convolution
//! (two per multiply-add), array elements for the others.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mxnet_cpu::gemm::{matmul, MatRef};
use mxnet_cpu::nn::conv::Conv2d;
use mxnet_cpu::nn::pool::{Pool2d, PoolKind};
use mxnet_cpu::nn::Real;
use mxnet_cpu::nn::softmax::{self, Rows, SoftmaxKind};
use mxnet_cpu::{math, reduce, simd};

/// Deterministic values in [-1, 1) without a random-number crate.
fn values(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i.wrapping_mul(2_654_435_761) % 2001) as f32 - 1000.0) / 1000.0).collect()
}

fn gemm(c: &mut Criterion) {
    let mut group = c.benchmark_group("gemm");
    for n in [256usize, 1024] {
        let (a, b, mut out) = (values(n * n), values(n * n), vec![0f32; n * n]);
        group.throughput(Throughput::Elements(2 * (n * n * n) as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |bench, &n| {
            bench.iter(|| {
                let a = MatRef { data: &a, row_stride: n as isize, col_stride: 1 };
                let b = MatRef { data: &b, row_stride: n as isize, col_stride: 1 };
                matmul(n, n, n, a, b, &mut out, false, 0.0, 1.0);
            })
        });
    }
    // FullyConnected's forward at the MLP benchmark's first layer: x (128 x 784) @ W^T, with
    // W (256 x 784) read through strides as a column-major operand.
    let (m, k, n) = (128usize, 784usize, 256usize);
    let (x, w, mut y) = (values(m * k), values(n * k), vec![0f32; m * n]);
    group.throughput(Throughput::Elements(2 * (m * n * k) as u64));
    group.bench_function("fully_connected_128x784x256", |bench| {
        bench.iter(|| {
            let a = MatRef { data: &x, row_stride: k as isize, col_stride: 1 };
            let b = MatRef { data: &w, row_stride: 1, col_stride: k as isize };
            matmul(m, n, k, a, b, &mut y, false, 0.0, 1.0);
        })
    });
    group.finish();
}

/// LeNet's second convolution (20 -> 50 channels, 5x5, on 12x12 maps) at batch 128.
fn lenet_conv() -> Conv2d {
    Conv2d {
        batch: 128,
        in_channels: 20,
        height: 12,
        width: 12,
        filters: 50,
        groups: 1,
        kernel: [5, 5],
        stride: [1, 1],
        pad: [0, 0],
        dilate: [1, 1],
        out_h: 8,
        out_w: 8,
    }
}

fn conv(c: &mut Criterion) {
    // LeNet's first convolution: 1 -> 20 channels, 5x5, on 28x28 images.
    let first = Conv2d { in_channels: 1, height: 28, width: 28, filters: 20, out_h: 24, out_w: 24, ..lenet_conv() };
    // The first layer's input is the data batch, so training needs no gradient for it.
    conv_layer(c, "conv_lenet1_b128", first, false);
    conv_layer(c, "conv_lenet2_b128", lenet_conv(), true);
}

fn conv_layer(c: &mut Criterion, name: &str, g: Conv2d, data_grad: bool) {
    let x = values(g.batch * g.in_channels * g.height * g.width);
    let w = values(g.filters * g.in_channels * 25);
    let bias = values(g.filters);
    let out_len = g.batch * g.filters * g.out_h * g.out_w;
    let (mut y, dy) = (vec![0f32; out_len], values(out_len));
    let (mut dx, mut dw, mut db) = (vec![0f32; x.len()], vec![0f32; w.len()], vec![0f32; g.filters]);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(2 * (out_len * g.in_channels * 25) as u64));
    group.sample_size(30);
    group.bench_function("forward", |b| b.iter(|| g.forward(&x, &w, Some(&bias), &mut y)));
    group.bench_function("backward", |b| {
        b.iter(|| g.backward(&x, &w, &dy, data_grad.then_some(&mut dx[..]), &mut dw, Some(&mut db)))
    });
    group.finish();
}

fn pooling(c: &mut Criterion) {
    // LeNet's first pooling: 128 images x 20 channels of 24x24, 2x2 blocks.
    let p = Pool2d { planes: 128 * 20, height: 24, width: 24, kernel: [2, 2], stride: [2, 2], pad: [0, 0], out_h: 12, out_w: 12 };
    let x = values(p.planes * 24 * 24);
    let (mut y, dy, mut dx) = (vec![0f32; p.planes * 144], values(p.planes * 144), vec![0f32; x.len()]);
    let mut group = c.benchmark_group("max_pool_2x2_lenet1_b128");
    group.throughput(Throughput::Elements(x.len() as u64));
    group.bench_function("forward", |b| b.iter(|| p.forward(PoolKind::Max, &x, &mut y)));
    p.forward(PoolKind::Max, &x, &mut y);
    group.bench_function("backward", |b| b.iter(|| p.backward(PoolKind::Max, &x, &y, &dy, &mut dx)));
    group.finish();
}

/// Single-threaded maps and sums over 32K elements (128 KiB per array), which stay in the L2
/// cache, so the figures show the instruction set chosen at run time rather than memory
/// bandwidth. `exp_unfused` runs the dispatched loop without fused multiply-adds, and
/// `exp_baseline` the loop compiled for the architecture's baseline only (SSE2 on x86-64).
fn elementwise(c: &mut Criterion) {
    const N: usize = 1 << 15;
    let (a, b, mut out) = (values(N), values(N), vec![0f32; N]);
    let mut group = c.benchmark_group("elementwise_32K");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("add", |bench| bench.iter(|| simd::zip_map(&a, &b, &mut out, |x, y| x + y)));
    group.bench_function("exp", |bench| {
        bench.iter(|| simd::map_fused(&a, &mut out, |x: f32, fused| x.exp_fast(fused)))
    });
    group.bench_function("exp_unfused", |bench| bench.iter(|| simd::map(&a, &mut out, |x| math::exp(x, false))));
    group.bench_function("exp_baseline", |bench| {
        bench.iter(|| {
            for (o, &x) in out.iter_mut().zip(black_box(&a[..])) {
                *o = math::exp(x, false);
            }
        })
    });
    group.bench_function("sum", |bench| bench.iter(|| black_box(reduce::sum_run(black_box(&a[..])))));
    group.finish();
}

fn softmax_rows(c: &mut Criterion) {
    let rows = Rows { outer: 4096, length: 1024, inner: 1 };
    let (x, mut y) = (values(4096 * 1024), vec![0f32; 4096 * 1024]);
    let mut group = c.benchmark_group("softmax_4096x1024");
    group.throughput(Throughput::Elements(x.len() as u64));
    group.sample_size(30);
    group.bench_function("forward", |b| b.iter(|| softmax::forward(SoftmaxKind::Softmax, rows, 1.0, &x, &mut y)));
    group.finish();
}

criterion_group!(kernels, gemm, conv, pooling, elementwise, softmax_rows);
criterion_main!(kernels);
