//! Reductions over any set of axes of a strided array, as a tree in workgroup memory per output
//! element. When few outputs reduce many elements, the work is split into chunks that a second
//! pass combines, because a full sum would otherwise run on one workgroup.

use super::{check_u32, grid, merge_dims, prelude, MAX_DIMS, STRIDED_INDEX, WORKGROUP};
use crate::{Buffer, Elem, GpuError, Layout, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reducer {
    Sum,
    Prod,
    /// NaN wins, as in numpy.
    Max,
    Min,
}

impl Reducer {
    fn identity(self, elem: Elem) -> &'static str {
        match (self, elem) {
            (Reducer::Sum, Elem::F32) => "0.0",
            (Reducer::Sum, _) => "0",
            (Reducer::Prod, Elem::F32) => "1.0",
            (Reducer::Prod, _) => "1",
            (Reducer::Max, Elem::F32) => "bitcast<f32>(0xff800000u)",
            (Reducer::Max, Elem::I32) => "-2147483647 - 1",
            (Reducer::Max, Elem::U32) => "0u",
            (Reducer::Min, Elem::F32) => "bitcast<f32>(0x7f800000u)",
            (Reducer::Min, Elem::I32) => "2147483647",
            (Reducer::Min, Elem::U32) => "4294967295u",
        }
    }

    /// WGSL body of `fn comb(a, b)`.
    fn combine(self, elem: Elem) -> &'static str {
        match (self, elem) {
            (Reducer::Sum, _) => "return a + b;",
            (Reducer::Prod, _) => "return a * b;",
            (Reducer::Max, Elem::F32) => {
                "if (is_nan(b)) { return b; } return select(max(a, b), a, is_nan(a));"
            }
            (Reducer::Min, Elem::F32) => {
                "if (is_nan(b)) { return b; } return select(min(a, b), a, is_nan(a));"
            }
            (Reducer::Max, _) => "return max(a, b);",
            (Reducer::Min, _) => "return min(a, b);",
        }
    }
}

/// Elements one workgroup reduces before the work is split into chunks: 16 per thread keeps
/// the loop long enough to hide memory latency.
const CHUNK: usize = WORKGROUP as usize * 16;

/// Record `out[o] = scale * reduce(x over the axes marked in `axes`)` for every combination
/// `o` of the other axes, in row-major order, from element `out_offset` of `out`. `scale`
/// multiplies sums and products (1 / count for a mean).
pub fn reduce(
    reducer: Reducer,
    elem: Elem,
    x: &Buffer,
    layout: &Layout,
    axes: &[bool],
    scale: f32,
    out: &Buffer,
    out_offset: usize,
) -> Result<()> {
    let split = Split::of("reduce", layout, axes)?;
    let (n_out, n_red) = (split.n_out, split.n_red);
    let chunks = if n_out < 4096 {
        n_red.div_ceil(CHUNK).max(1)
    } else {
        1
    };
    let device = out.device();
    let view = split.view(layout.offset);
    if chunks == 1 {
        return dispatch(
            reducer,
            elem,
            x,
            &view,
            n_out,
            n_red,
            n_red.max(1),
            1,
            scale,
            out,
            out_offset,
        );
    }
    // Pass 1: partial results, `chunks` per output, then pass 2 reduces each row of them.
    let partial = Buffer::allocate(device, (n_out * chunks * 4) as u64)?;
    dispatch(
        reducer, elem, x, &view, n_out, n_red, CHUNK, chunks, 1.0, &partial, 0,
    )?;
    let rows = Strided {
        offset: 0,
        keep: (&[n_out], &[chunks as isize]),
        red: (&[chunks], &[1]),
    };
    dispatch(
        reducer, elem, &partial, &rows, n_out, chunks, chunks, 1, scale, out, out_offset,
    )
}

/// The axes of a strided array split into kept and reduced ones, each group merged.
struct Split {
    n_out: usize,
    n_red: usize,
    keep: (Vec<usize>, Vec<isize>),
    red: (Vec<usize>, Vec<isize>),
}

impl Split {
    fn of(what: &str, layout: &Layout, axes: &[bool]) -> Result<Split> {
        let (mut keep_shape, mut keep_strides, mut red_shape, mut red_strides) =
            (vec![], vec![], vec![], vec![]);
        for d in 0..layout.ndim() {
            let (shape, strides) = if axes[d] {
                (&mut red_shape, &mut red_strides)
            } else {
                (&mut keep_shape, &mut keep_strides)
            };
            shape.push(layout.shape[d]);
            strides.push(layout.strides[d]);
        }
        let n_out = keep_shape.iter().product();
        let n_red = red_shape.iter().product();
        let (keep_shape, mut keep_strides) = merge_dims(&keep_shape, &[&keep_strides]);
        let (red_shape, mut red_strides) = merge_dims(&red_shape, &[&red_strides]);
        if keep_shape.len() > MAX_DIMS || red_shape.len() > MAX_DIMS {
            return Err(GpuError::Kernel(format!(
                "{what}: more than {MAX_DIMS} dimensions after merging"
            )));
        }
        Ok(Split {
            n_out,
            n_red,
            keep: (keep_shape, keep_strides.remove(0)),
            red: (red_shape, red_strides.remove(0)),
        })
    }

    fn view(&self, offset: usize) -> Strided<'_> {
        Strided {
            offset,
            keep: (&self.keep.0, &self.keep.1),
            red: (&self.red.0, &self.red.1),
        }
    }
}

struct Strided<'a> {
    offset: usize,
    keep: (&'a [usize], &'a [isize]),
    red: (&'a [usize], &'a [isize]),
}

/// The uniform block shared by the reduction kernels: counts in words 0..8, then the kept
/// shape at 8, the view's offset and kept strides at 16, the reduced shape at 25, a zero offset
/// and the reduced strides at 33 (the layout `strided()` reads).
fn view_params(what: &str, head: [u32; 8], view: &Strided) -> Result<Vec<u32>> {
    let mut params = head.to_vec();
    let push = |params: &mut Vec<u32>, values: &mut dyn Iterator<Item = u32>| {
        let start = params.len();
        params.extend(values);
        params.resize(start + MAX_DIMS, 0);
    };
    push(&mut params, &mut view.keep.0.iter().map(|&d| d as u32));
    params.push(check_u32(what, view.offset)?);
    push(
        &mut params,
        &mut view.keep.1.iter().map(|&s| s as i32 as u32),
    );
    push(&mut params, &mut view.red.0.iter().map(|&d| d as u32));
    params.push(0);
    push(
        &mut params,
        &mut view.red.1.iter().map(|&s| s as i32 as u32),
    );
    Ok(params)
}

#[allow(clippy::too_many_arguments)]
fn dispatch(
    reducer: Reducer,
    elem: Elem,
    x: &Buffer,
    view: &Strided,
    n_out: usize,
    n_red: usize,
    chunk_len: usize,
    chunks: usize,
    scale: f32,
    out: &Buffer,
    out_offset: usize,
) -> Result<()> {
    let what = "reduce";
    let head = [
        check_u32(what, n_out)?,
        check_u32(what, n_red)?,
        view.keep.0.len() as u32,
        view.red.0.len() as u32,
        check_u32(what, chunk_len)?,
        check_u32(what, chunks)?,
        scale.to_bits(),
        check_u32(what, out_offset)?,
    ];
    let params = view_params(what, head, view)?;

    let t = elem.wgsl();
    let key = format!("reduce|{reducer:?}|{t}");
    let scaled = if matches!(reducer, Reducer::Sum | Reducer::Prod) && elem == Elem::F32 {
        "acc * pf(6u)"
    } else {
        "acc"
    };
    let source = || {
        format!(
            "{prelude}{STRIDED_INDEX}
@group(0) @binding(0) var<storage, read_write> x: array<{t}>;
@group(0) @binding(1) var<storage, read_write> out: array<{t}>;
var<workgroup> partial: array<{t}, {WORKGROUP}>;
fn comb(a: {t}, b: {t}) -> {t} {{ {combine} }}
@compute @workgroup_size({WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    let g = wid.y * nwg.x + wid.x;
    let chunks = p(5u);
    let o = g / chunks;
    if (o >= p(0u)) {{ return; }}
    let base = strided(o, p(2u), 8u, 16u);
    let start = (g % chunks) * p(4u);
    let stop = min(start + p(4u), p(1u));
    var acc: {t} = {identity};
    for (var r = start + lid; r < stop; r = r + {WORKGROUP}u) {{
        acc = comb(acc, x[base + strided(r, p(3u), 25u, 33u)]);
    }}
    partial[lid] = acc;
    workgroupBarrier();
    for (var width = {half}u; width > 0u; width = width / 2u) {{
        if (lid < width) {{ partial[lid] = comb(partial[lid], partial[lid + width]); }}
        workgroupBarrier();
    }}
    if (lid == 0u) {{
        let acc = partial[0];
        out[p(7u) + g] = {scaled};
    }}
}}
",
            prelude = prelude(2),
            combine = reducer.combine(elem),
            identity = reducer.identity(elem),
            half = WORKGROUP / 2,
        )
    };
    let device = out.device();
    if chunks == 1 && n_red <= ROW_MAX && n_out >= WORKGROUP as usize {
        // Many short rows: one thread per output instead of a workgroup per output.
        let row_source = || {
            format!(
                "{prelude}{STRIDED_INDEX}
@group(0) @binding(0) var<storage, read_write> x: array<{t}>;
@group(0) @binding(1) var<storage, read_write> out: array<{t}>;
fn comb(a: {t}, b: {t}) -> {t} {{ {combine} }}
@compute @workgroup_size({WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    let o = (wid.y * nwg.x + wid.x) * {WORKGROUP}u + lid;
    if (o >= p(0u)) {{ return; }}
    let base = strided(o, p(2u), 8u, 16u);
    var acc: {t} = {identity};
    for (var r = 0u; r < p(1u); r = r + 1u) {{
        acc = comb(acc, x[base + strided(r, p(3u), 25u, 33u)]);
    }}
    out[p(7u) + o] = {scaled};
}}
",
                prelude = prelude(2),
                combine = reducer.combine(elem),
                identity = reducer.identity(elem),
            )
        };
        let groups = grid(device, n_out.div_ceil(WORKGROUP as usize) as u64)?;
        return device.dispatch(
            &format!("{key}|rows"),
            row_source,
            &[x.raw(), out.raw()],
            &params,
            groups,
        );
    }
    let groups = grid(device, (n_out * chunks) as u64)?;
    device.dispatch(&key, source, &[x.raw(), out.raw()], &params, groups)
}

/// Longest reduced run that one thread reduces alone when there are many outputs.
const ROW_MAX: usize = 64;

/// Record `out[o] = index of the maximum (or minimum) of x over the axes marked in `axes``,
/// as a float, in row-major order of the reduced axes. The first NaN wins, then the first of
/// equal extremes, as numpy's argmax.
pub fn arg_reduce(
    is_max: bool,
    elem: Elem,
    x: &Buffer,
    layout: &Layout,
    axes: &[bool],
    out: &Buffer,
    out_offset: usize,
) -> Result<()> {
    let what = "argmax";
    let split = Split::of(what, layout, axes)?;
    let view = split.view(layout.offset);
    let head = [
        check_u32(what, split.n_out)?,
        check_u32(what, split.n_red)?,
        view.keep.0.len() as u32,
        view.red.0.len() as u32,
        0,
        0,
        0,
        check_u32(what, out_offset)?,
    ];
    let params = view_params(what, head, &view)?;
    let n_out = split.n_out;
    let better = if is_max { "vb > va" } else { "vb < va" };
    let key = format!("argreduce|{is_max}|{elem:?}");
    let t = elem.wgsl();
    // Integers have no NaN: the test is constant false for them.
    let nan_test = if elem == Elem::F32 {
        "is_nan"
    } else {
        "never_nan"
    };
    let source = || {
        format!(
            "{prelude}{STRIDED_INDEX}
@group(0) @binding(0) var<storage, read_write> x: array<{t}>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
var<workgroup> values: array<{t}, {WORKGROUP}>;
fn never_nan(v: {t}) -> bool {{ return false; }}
var<workgroup> indices: array<u32, {WORKGROUP}>;
const EMPTY: u32 = 0xffffffffu;
// Whether (vb, ib) beats (va, ia): NaN first, then the extreme, then the lower index.
fn takes_b(va: {t}, ia: u32, vb: {t}, ib: u32) -> bool {{
    if (ib == EMPTY) {{ return false; }}
    if (ia == EMPTY) {{ return true; }}
    let na = {nan_test}(va); let nb = {nan_test}(vb);
    if (na || nb) {{ return nb && (!na || ib < ia); }}
    if (vb == va) {{ return ib < ia; }}
    return {better};
}}
@compute @workgroup_size({WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    let o = wid.y * nwg.x + wid.x;
    if (o >= p(0u)) {{ return; }}
    let base = strided(o, p(2u), 8u, 16u);
    var va: {t} = {t}(0);
    var ia = EMPTY;
    for (var r = lid; r < p(1u); r = r + {WORKGROUP}u) {{
        let vb = x[base + strided(r, p(3u), 25u, 33u)];
        if (takes_b(va, ia, vb, r)) {{ va = vb; ia = r; }}
    }}
    values[lid] = va;
    indices[lid] = ia;
    workgroupBarrier();
    for (var width = {half}u; width > 0u; width = width / 2u) {{
        if (lid < width && takes_b(values[lid], indices[lid], values[lid + width], indices[lid + width])) {{
            values[lid] = values[lid + width];
            indices[lid] = indices[lid + width];
        }}
        workgroupBarrier();
    }}
    if (lid == 0u) {{ out[p(7u) + o] = f32(indices[0]); }}
}}
",
            prelude = prelude(2),
            half = WORKGROUP / 2,
        )
    };
    let device = out.device();
    let groups = grid(device, n_out as u64)?;
    device.dispatch(&key, source, &[x.raw(), out.raw()], &params, groups)
}
