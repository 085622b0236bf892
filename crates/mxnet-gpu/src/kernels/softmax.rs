//! softmax and log_softmax along one axis of a contiguous array, and their gradients. One
//! workgroup per row: a tree for the maximum, a tree for the sum of exponentials, then the
//! outputs, so extreme logits neither overflow nor lose the largest term.

use super::{check_u32, grid, prelude, WORKGROUP};
use crate::{Buffer, Result};

/// The rows: `outer` blocks of `length` elements along the axis, `inner` apart (shared with
/// the CPU kernels).
pub use mxnet_cpu::nn::softmax::Rows;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `y = exp(x / t - max) / sum`.
    Softmax,
    /// `y = x / t - max - log(sum)`.
    LogSoftmax,
    /// `dx = y * (dy - sum(dy * y)) / t`.
    SoftmaxGrad,
    /// `dx = (dy - exp(y) * sum(dy)) / t`.
    LogSoftmaxGrad,
}

/// Record the kernel of `mode`. Forward modes read `a` = x; gradient modes read `a` = y and
/// `b` = dy. `a`, `b` and `out` are contiguous from the given element offsets.
#[allow(clippy::too_many_arguments)]
pub fn softmax(
    mode: Mode,
    rows: Rows,
    temperature: f32,
    a: (&Buffer, usize),
    b: Option<(&Buffer, usize)>,
    out: (&Buffer, usize),
) -> Result<()> {
    let what = "softmax";
    let n_rows = rows.outer * rows.inner;
    if n_rows == 0 || rows.length == 0 {
        return Ok(());
    }
    let b = b.unwrap_or(a);
    let params = vec![
        check_u32(what, n_rows)?,
        check_u32(what, rows.length)?,
        check_u32(what, rows.inner)?,
        check_u32(what, a.1)?,
        check_u32(what, b.1)?,
        check_u32(what, out.1)?,
        (1.0 / temperature).to_bits(),
    ];
    check_u32(what, rows.outer * rows.length * rows.inner)?;
    // Pass 1 gives `m` (max of x/t, or unused), pass 2 gives `s`, pass 3 writes.
    let (pass1, pass2, write) = match mode {
        Mode::Softmax | Mode::LogSoftmax => (
            "comb_max(acc, a[at(r)] * it)",
            "acc + exp(a[at(r)] * it - m)",
            if mode == Mode::Softmax {
                "exp(a[at(r)] * it - m) / s"
            } else {
                "a[at(r)] * it - m - log(s)"
            },
        ),
        Mode::SoftmaxGrad => (
            "acc",
            "acc + a[at(r)] * b[bt(r)]",
            "a[at(r)] * (b[bt(r)] - s) * it",
        ),
        Mode::LogSoftmaxGrad => (
            "acc",
            "acc + b[bt(r)]",
            "(b[bt(r)] - exp(a[at(r)]) * s) * it",
        ),
    };
    let source = || {
        format!(
            "{prelude}
@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
var<workgroup> partial: array<f32, {WORKGROUP}>;
var<private> row_base: u32;
fn at(r: u32) -> u32 {{ return p(3u) + row_base + r * p(2u); }}
fn bt(r: u32) -> u32 {{ return p(4u) + row_base + r * p(2u); }}
fn ot(r: u32) -> u32 {{ return p(5u) + row_base + r * p(2u); }}
fn comb_max(a: f32, b: f32) -> f32 {{ if (is_nan(b)) {{ return b; }} return select(max(a, b), a, is_nan(a)); }}
@compute @workgroup_size({WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    let g = wid.y * nwg.x + wid.x;
    if (g >= p(0u)) {{ return; }}
    let len = p(1u);
    let inner = p(2u);
    row_base = (g / inner) * len * inner + g % inner;
    let it = pf(6u);
    var acc = bitcast<f32>(0xff800000u);
    for (var r = lid; r < len; r = r + {WORKGROUP}u) {{ acc = {pass1}; }}
    partial[lid] = acc;
    workgroupBarrier();
    for (var w = {half}u; w > 0u; w = w / 2u) {{
        if (lid < w) {{ partial[lid] = comb_max(partial[lid], partial[lid + w]); }}
        workgroupBarrier();
    }}
    let m = partial[0];
    workgroupBarrier();
    acc = 0.0;
    for (var r = lid; r < len; r = r + {WORKGROUP}u) {{ acc = {pass2}; }}
    partial[lid] = acc;
    workgroupBarrier();
    for (var w = {half}u; w > 0u; w = w / 2u) {{
        if (lid < w) {{ partial[lid] = partial[lid] + partial[lid + w]; }}
        workgroupBarrier();
    }}
    let s = partial[0];
    for (var r = lid; r < len; r = r + {WORKGROUP}u) {{ out[ot(r)] = {write}; }}
}}
",
            prelude = prelude(3),
            half = WORKGROUP / 2,
        )
    };
    let device = out.0.device();
    let groups = grid(device, n_rows as u64)?;
    let key = format!("softmax|{mode:?}");
    device.dispatch(
        &key,
        source,
        &[a.0.raw(), b.0.raw(), out.0.raw()],
        &params,
        groups,
    )
}
