//! Kernels against plain Rust loops on the first adapter. Without an adapter the tests pass
//! with a message, unless MXNET_TEST_REQUIRE_GPU=1 (set in CI, where lavapipe provides one).

use std::sync::Arc;

use mxnet_gpu::kernels::elementwise::{map, Input, Output};
use mxnet_gpu::kernels::matmul::{matmul, Operand};
use mxnet_gpu::kernels::reduce::{reduce, Reducer};
use mxnet_gpu::kernels::softmax::{softmax, Mode, Rows};
use mxnet_gpu::{Buffer, Device, Elem, Layout};

fn gpu() -> Option<Arc<Device>> {
    match mxnet_gpu::device(0) {
        Ok(d) => Some(d),
        Err(e) if std::env::var("MXNET_TEST_REQUIRE_GPU").as_deref() != Ok("1") => {
            eprintln!("skipped: {e}");
            None
        }
        Err(e) => panic!("MXNET_TEST_REQUIRE_GPU=1 but {e}"),
    }
}

fn upload(d: &Arc<Device>, v: &[f32]) -> Buffer {
    let b = Buffer::allocate(d, (v.len() * 4) as u64).unwrap();
    d.upload(b.raw(), bytemuck::cast_slice(v));
    b
}

fn download(d: &Arc<Device>, b: &Buffer, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n];
    d.download(b.raw(), bytemuck::cast_slice_mut(&mut out))
        .unwrap();
    out
}

fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 2000) as f32 / 100.0 - 10.0
        })
        .collect()
}

#[test]
fn broadcast_add_of_a_transposed_view() {
    let Some(d) = gpu() else { return };
    let (a, b) = (values(12, 1), values(4, 2));
    let (ga, gb) = (upload(&d, &a), upload(&d, &b));
    // a viewed as its (4, 3) transpose, b as a column broadcast over 3 columns.
    let la = Layout {
        shape: vec![4, 3],
        strides: vec![1, 4],
        offset: 0,
    };
    let lb = Layout {
        shape: vec![4, 3],
        strides: vec![1, 0],
        offset: 0,
    };
    let out = Buffer::allocate(&d, 48).unwrap();
    let inputs = [
        Input {
            buffer: &ga,
            layout: &la,
            elem: Elem::F32,
        },
        Input {
            buffer: &gb,
            layout: &lb,
            elem: Elem::F32,
        },
    ];
    let out_layout = Layout::contiguous(&[4, 3]);
    let output = Output {
        buffer: &out,
        layout: &out_layout,
        elem: Elem::F32,
    };
    map("x0 + x1 * s0", &inputs, &[2.0], output).unwrap();
    let got = download(&d, &out, 12);
    for i in 0..4 {
        for j in 0..3 {
            assert_eq!(got[i * 3 + j], a[j * 4 + i] + b[i] * 2.0);
        }
    }
}

#[test]
fn sums_and_maxima_over_axes() {
    let Some(d) = gpu() else { return };
    let (n0, n1, n2) = (3, 5000, 7);
    let x = values(n0 * n1 * n2, 3);
    let gx = upload(&d, &x);
    let layout = Layout::contiguous(&[n0, n1, n2]);
    let out = Buffer::allocate(&d, (n0 * n2 * 4) as u64).unwrap();
    reduce(
        Reducer::Sum,
        Elem::F32,
        &gx,
        &layout,
        &[false, true, false],
        1.0,
        &out,
        0,
    )
    .unwrap();
    let got = download(&d, &out, n0 * n2);
    for i in 0..n0 {
        for k in 0..n2 {
            let want: f64 = (0..n1).map(|j| x[(i * n1 + j) * n2 + k] as f64).sum();
            assert!(
                (got[i * n2 + k] as f64 - want).abs() < 1e-2,
                "{} vs {want}",
                got[i * n2 + k]
            );
        }
    }
    let mut with_nan = x.clone();
    with_nan[5] = f32::NAN;
    let gn = upload(&d, &with_nan);
    let all = Buffer::allocate(&d, 4).unwrap();
    reduce(
        Reducer::Max,
        Elem::F32,
        &gn,
        &layout,
        &[true, true, true],
        1.0,
        &all,
        0,
    )
    .unwrap();
    assert!(download(&d, &all, 1)[0].is_nan(), "max must propagate NaN");
    reduce(
        Reducer::Max,
        Elem::F32,
        &gx,
        &layout,
        &[true, true, true],
        1.0,
        &all,
        0,
    )
    .unwrap();
    assert_eq!(
        download(&d, &all, 1)[0],
        x.iter().cloned().fold(f32::MIN, f32::max)
    );
}

#[test]
fn matmul_with_transposed_operand() {
    let Some(d) = gpu() else { return };
    let (m, n, k) = (70, 33, 45);
    let a = values(m * k, 4);
    let bt = values(n * k, 5); // B stored transposed: (n, k)
    let (ga, gb) = (upload(&d, &a), upload(&d, &bt));
    let c = Buffer::allocate(&d, (m * n * 4) as u64).unwrap();
    let oa = Operand {
        buffer: &ga,
        offset: 0,
        strides: [0, k as isize, 1],
    };
    let ob = Operand {
        buffer: &gb,
        offset: 0,
        strides: [0, 1, k as isize],
    };
    let oc = Operand {
        buffer: &c,
        offset: 0,
        strides: [0, n as isize, 1],
    };
    matmul(&oa, &ob, 1, m, n, k, 0.5, false, &oc).unwrap();
    let got = download(&d, &c, m * n);
    for i in 0..m {
        for j in 0..n {
            let want: f64 = 0.5
                * (0..k)
                    .map(|t| a[i * k + t] as f64 * bt[j * k + t] as f64)
                    .sum::<f64>();
            assert!(
                (got[i * n + j] as f64 - want).abs() < 1e-3 * (1.0 + want.abs()),
                "({i},{j}) {} vs {want}",
                got[i * n + j]
            );
        }
    }
}

/// Every way the matmul kernel reads an operand: vec4 along the output side or along k when
/// rows or columns are contiguous and aligned, element by element otherwise (odd sizes, an
/// offset of one element). Each case is a batch of two products with an accumulated result.
#[test]
fn matmul_every_operand_layout() {
    let Some(d) = gpu() else { return };
    for (m, n, k) in [(68, 72, 36), (7, 5, 9), (64, 64, 16), (130, 4, 20)] {
        for a_transposed in [false, true] {
            for b_transposed in [false, true] {
                for offset in [0, 1] {
                    check_matmul(&d, m, n, k, a_transposed, b_transposed, offset);
                }
            }
        }
    }
}

/// Compute `C += 2 A B` for a batch of two, with A and B stored (optionally transposed) at
/// `offset` elements into their buffers, and compare against a float64 loop.
fn check_matmul(d: &Arc<Device>, m: usize, n: usize, k: usize, at: bool, bt: bool, offset: usize) {
    let batch = 2;
    let a = values(offset + batch * m * k, 6);
    let b = values(offset + batch * k * n, 7);
    let c0 = values(batch * m * n, 8);
    let (ga, gb, gc) = (upload(d, &a), upload(d, &b), upload(d, &c0));

    let a_strides = if at {
        [(m * k) as isize, 1, m as isize]
    } else {
        [(m * k) as isize, k as isize, 1]
    };
    let b_strides = if bt {
        [(k * n) as isize, 1, k as isize]
    } else {
        [(k * n) as isize, n as isize, 1]
    };
    let oa = Operand {
        buffer: &ga,
        offset,
        strides: a_strides,
    };
    let ob = Operand {
        buffer: &gb,
        offset,
        strides: b_strides,
    };
    let oc = Operand {
        buffer: &gc,
        offset: 0,
        strides: [(m * n) as isize, n as isize, 1],
    };
    matmul(&oa, &ob, batch, m, n, k, 2.0, true, &oc).unwrap();

    let got = download(d, &gc, batch * m * n);
    let at_ = |s: [isize; 3], bi: usize, i: usize, j: usize| {
        offset + bi * s[0] as usize + i * s[1] as usize + j * s[2] as usize
    };
    for bi in 0..batch {
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k)
                    .map(|t| {
                        a[at_(a_strides, bi, i, t)] as f64 * b[at_(b_strides, bi, t, j)] as f64
                    })
                    .sum();
                let want = c0[bi * m * n + i * n + j] as f64 + 2.0 * dot;
                let have = got[bi * m * n + i * n + j] as f64;
                assert!(
                    (have - want).abs() < 1e-3 * (1.0 + want.abs()),
                    "{m}x{n}x{k} a_transposed={at} b_transposed={bt} offset={offset} \
                     [{bi},{i},{j}]: {have} vs {want}"
                );
            }
        }
    }
}

#[test]
fn softmax_of_extreme_logits() {
    let Some(d) = gpu() else { return };
    let x = vec![1000.0f32, 0.0, -1000.0, 1.0, 2.0, 3.0];
    let gx = upload(&d, &x);
    let out = Buffer::allocate(&d, 24).unwrap();
    let rows = Rows {
        outer: 2,
        length: 3,
        inner: 1,
    };
    softmax(Mode::Softmax, rows, 1.0, (&gx, 0), None, (&out, 0)).unwrap();
    let y = download(&d, &out, 6);
    assert_eq!(&y[..3], &[1.0, 0.0, 0.0]);
    let e: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|v| (v - 3.0).exp()).collect();
    let s: f64 = e.iter().sum();
    for j in 0..3 {
        assert!((y[3 + j] as f64 - e[j] / s).abs() < 1e-6);
    }
    softmax(Mode::LogSoftmax, rows, 1.0, (&gx, 0), None, (&out, 0)).unwrap();
    let ly = download(&d, &out, 6);
    assert_eq!(ly[2], -2000.0);
}
