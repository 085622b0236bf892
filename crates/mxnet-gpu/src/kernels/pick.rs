//! `pick` and its gradient: one element per row chosen by an index array, and the gradient
//! written back at the chosen positions (zeros elsewhere) as a map over the output, so no two
//! threads write one element.

use super::{check_u32, grid, prelude, WORKGROUP};
use crate::{Buffer, Elem, Result};

/// The handling of an index outside `[0, dim)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexMode {
    Clip,
    Wrap,
}

/// The arrays of a pick: `data` (contiguous (outer, dim, inner)) or the gradient, `index`
/// (contiguous (outer, inner)), each with its element offset.
pub struct Pick<'a> {
    pub outer: usize,
    pub dim: usize,
    pub inner: usize,
    pub mode: IndexMode,
    pub values: (&'a Buffer, usize),
    pub index: (&'a Buffer, usize, Elem),
    pub elem: Elem,
}

/// Record `out[o, i] = values[o, index[o, i], i]` (`backward` false) or
/// `out[o, p, i] = values[o, i]` where `p == index[o, i]` and 0 elsewhere (`backward` true).
pub fn pick(p: &Pick, backward: bool, out: (&Buffer, usize)) -> Result<()> {
    let what = "pick";
    let n = if backward {
        p.outer * p.dim * p.inner
    } else {
        p.outer * p.inner
    };
    if n == 0 {
        return Ok(());
    }
    let params = vec![
        check_u32(what, n)?,
        check_u32(what, p.dim)?,
        check_u32(what, p.inner)?,
        check_u32(what, p.values.1)?,
        check_u32(what, p.index.1)?,
        check_u32(what, out.1)?,
    ];
    check_u32(what, p.outer * p.dim * p.inner)?;
    let (t, ti) = (p.elem.wgsl(), p.index.2.wgsl());
    let resolve = match p.mode {
        IndexMode::Clip => "clamp(raw, 0, dim - 1)",
        IndexMode::Wrap => "((raw % dim) + dim) % dim",
    };
    let body = if backward {
        "let i = g % inner; let q = g / inner; let o = q / u32(dim); let at = q % u32(dim);
         let raw = i32(index[p(4u) + o * inner + i]);
         var v = values[p(3u) + o * inner + i];
         if (u32(RESOLVE) != at) { v = ZERO; }
         out[p(5u) + g] = v;"
    } else {
        "let i = g % inner; let o = g / inner;
         let raw = i32(index[p(4u) + g]);
         out[p(5u) + g] = values[p(3u) + (o * u32(dim) + u32(RESOLVE)) * inner + i];"
    };
    let body = body
        .replace("RESOLVE", resolve)
        .replace("ZERO", if p.elem == Elem::F32 { "0.0" } else { "0" });
    let key = format!("pick|{t}|{ti}|{:?}|{backward}", p.mode);
    let source = || {
        format!(
            "{prelude}
@group(0) @binding(0) var<storage, read_write> values: array<{t}>;
@group(0) @binding(1) var<storage, read_write> index: array<{ti}>;
@group(0) @binding(2) var<storage, read_write> out: array<{t}>;
@compute @workgroup_size({WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    let g = (wid.y * nwg.x + wid.x) * {WORKGROUP}u + lid;
    if (g >= p(0u)) {{ return; }}
    let dim = i32(p(1u));
    let inner = p(2u);
    {body}
}}
",
            prelude = prelude(3),
        )
    };
    let device = out.0.device();
    let groups = grid(device, n.div_ceil(WORKGROUP as usize) as u64)?;
    device.dispatch(
        &key,
        source,
        &[p.values.0.raw(), p.index.0.raw(), out.0.raw()],
        &params,
        groups,
    )
}
