//! `take` along an axis and its gradient: rows chosen by an index array are copied out, and
//! gradients are added back into the chosen rows. Several indices may name one row, so the
//! gradient adds with atomic compare-and-swap on the float's bits. The order of those additions
//! can differ between runs, and so can the last bits of a sum.

use super::pick::IndexMode;
use super::{check_u32, grid, prelude, WORKGROUP};
use crate::{Buffer, Elem, Result};

/// `values` seen as `(outer, dim, inner)` (contiguous from its offset), with `count` indices
/// picking along `dim`; the gathered array is `(outer, count, inner)`.
pub struct Take<'a> {
    pub outer: usize,
    pub dim: usize,
    pub inner: usize,
    pub count: usize,
    pub mode: IndexMode,
    pub index: (&'a Buffer, usize, Elem),
}

fn params(t: &Take, values_offset: usize, out_offset: usize) -> Result<Vec<u32>> {
    let what = "take";
    check_u32(what, t.outer * t.dim.max(t.count) * t.inner)?;
    Ok(vec![
        check_u32(what, t.outer * t.count * t.inner)?,
        check_u32(what, t.dim)?,
        check_u32(what, t.inner)?,
        check_u32(what, t.count)?,
        check_u32(what, t.index.1)?,
        check_u32(what, values_offset)?,
        check_u32(what, out_offset)?,
    ])
}

/// WGSL computing `row`, the resolved index of element `g` of the gathered array, and
/// `o`, `j` (the index's position) and `k` (the position within the row).
fn locate(t: &Take) -> String {
    let raw = if t.index.2 == Elem::F32 {
        // NaN picks row 0, as the CPU's float-to-integer conversion does.
        "let v = index[p(4u) + j]; let raw = select(i32(v), 0, is_nan(v));"
    } else {
        "let raw = i32(index[p(4u) + j]);"
    };
    let resolve = match t.mode {
        IndexMode::Clip => "clamp(raw, 0, dim - 1)",
        IndexMode::Wrap => "((raw % dim) + dim) % dim",
    };
    format!(
        "let dim = i32(p(1u)); let inner = p(2u); let count = p(3u);
         let k = g % inner; let j = (g / inner) % count; let o = g / (inner * count);
         {raw}
         let row = u32({resolve});"
    )
}

/// Record `out[o, j, k] = values[o, index[j], k]`.
pub fn take(t: &Take, elem: Elem, values: (&Buffer, usize), out: (&Buffer, usize)) -> Result<()> {
    let params = params(t, values.1, out.1)?;
    if params[0] == 0 {
        return Ok(());
    }
    let (ty, ti) = (elem.wgsl(), t.index.2.wgsl());
    let key = format!("take|{ty}|{ti}|{:?}", t.mode);
    let locate = locate(t);
    let source = || {
        format!(
            "{prelude}
@group(0) @binding(0) var<storage, read_write> values: array<{ty}>;
@group(0) @binding(1) var<storage, read_write> index: array<{ti}>;
@group(0) @binding(2) var<storage, read_write> out: array<{ty}>;
@compute @workgroup_size({WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    let g = (wid.y * nwg.x + wid.x) * {WORKGROUP}u + lid;
    if (g >= p(0u)) {{ return; }}
    {locate}
    out[p(6u) + g] = values[p(5u) + (o * u32(dim) + row) * inner + k];
}}
",
            prelude = prelude(3)
        )
    };
    let device = out.0.device();
    let groups = grid(device, (params[0] as u64).div_ceil(WORKGROUP as u64))?;
    device.dispatch(
        &key,
        source,
        &[values.0.raw(), t.index.0.raw(), out.0.raw()],
        &params,
        groups,
    )
}

/// Record `out[o, index[j], k] += dy[o, j, k]` (float32); `out` must hold zeros or the sums
/// to add to.
pub fn take_backward(t: &Take, dy: (&Buffer, usize), out: (&Buffer, usize)) -> Result<()> {
    let params = params(t, dy.1, out.1)?;
    if params[0] == 0 {
        return Ok(());
    }
    let ti = t.index.2.wgsl();
    let key = format!("take_backward|{ti}|{:?}", t.mode);
    let locate = locate(t);
    let source = || {
        format!(
            "{prelude}
@group(0) @binding(0) var<storage, read_write> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> index: array<{ti}>;
@group(0) @binding(2) var<storage, read_write> out: array<atomic<u32>>;
@compute @workgroup_size({WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    let g = (wid.y * nwg.x + wid.x) * {WORKGROUP}u + lid;
    if (g >= p(0u)) {{ return; }}
    {locate}
    let at = p(6u) + (o * u32(dim) + row) * inner + k;
    let add = dy[p(5u) + g];
    var old = atomicLoad(&out[at]);
    loop {{
        let swapped = atomicCompareExchangeWeak(&out[at], old, bitcast<u32>(bitcast<f32>(old) + add));
        if (swapped.exchanged) {{ break; }}
        old = swapped.old_value;
    }}
}}
",
            prelude = prelude(3)
        )
    };
    let device = out.0.device();
    let groups = grid(device, (params[0] as u64).div_ceil(WORKGROUP as u64))?;
    device.dispatch(
        &key,
        source,
        &[dy.0.raw(), t.index.0.raw(), out.0.raw()],
        &params,
        groups,
    )
}
