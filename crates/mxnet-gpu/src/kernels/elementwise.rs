//! Elementwise kernels: `out[i] = f(x0[..], x1[..], s0, ...)` over up to four strided or
//! broadcast inputs and four scalars. One template serves unary, binary, scalar, cast, copy and
//! fused optimizer expressions; the WGSL expression is part of the pipeline key.

use super::{check_u32, grid, merge_dims, prelude, MAX_DIMS, STRIDED_INDEX, WORKGROUP};
use crate::{Buffer, Elem, GpuError, Layout, Result};

/// Most array inputs and scalar parameters of one elementwise kernel.
pub const MAX_INPUTS: usize = 4;
pub const MAX_SCALARS: usize = 4;

/// An array read by a kernel: its buffer, its view (already broadcast to the output's shape for
/// elementwise kernels) and the element type it is read as.
pub struct Input<'a> {
    pub buffer: &'a Buffer,
    pub layout: &'a Layout,
    pub elem: Elem,
}

/// The contiguous output of an elementwise kernel: `len` elements from `offset`.
pub struct Output<'a> {
    pub buffer: &'a Buffer,
    pub offset: usize,
    pub elem: Elem,
}

/// Record `out[i] = expr` for every element `i` of `shape`. `expr` is WGSL over `x0`..`x3`
/// (the inputs' elements) and `s0`..`s3` (f32 scalars) and evaluates to the output's type.
pub fn map(expr: &str, inputs: &[Input], scalars: &[f32], shape: &[usize], out: Output) -> Result<()> {
    let n: usize = shape.iter().product();
    let n32 = check_u32(expr, n)?;
    if n == 0 {
        return Ok(());
    }
    if inputs.len() > MAX_INPUTS || scalars.len() > MAX_SCALARS {
        return Err(GpuError::Kernel(format!("elementwise kernel {expr}: at most {MAX_INPUTS} inputs and {MAX_SCALARS} scalars")));
    }
    let device = out.buffer.device();
    let contiguous_strides = mxnet_cpu::layout::contiguous_strides(shape);
    let mut strides: Vec<&[isize]> = vec![&contiguous_strides];
    strides.extend(inputs.iter().map(|x| x.layout.strides.as_slice()));
    let (merged, merged_strides) = merge_dims(shape, &strides);
    if merged.len() > MAX_DIMS {
        return Err(GpuError::Kernel(format!("elementwise kernel {expr}: {} dimensions after merging exceed {MAX_DIMS}", merged.len())));
    }
    let ndim = merged.len() as u32;
    let mut params = vec![n32, check_u32(expr, out.offset)?, ndim];
    params.extend(merged.iter().map(|&d| d as u32));
    params.resize(3 + MAX_DIMS, 0);
    let mut contiguous = Vec::with_capacity(inputs.len());
    for (x, s) in inputs.iter().zip(&merged_strides[1..]) {
        params.push(check_u32(expr, x.layout.offset)?);
        params.extend(s.iter().map(|&v| v as i32 as u32));
        params.resize(params.len() + MAX_DIMS - s.len(), 0);
        contiguous.push(*s == merged_strides[0]);
    }
    let scalars_at = params.len();
    params.extend(scalars.iter().map(|v| v.to_bits()));

    let key = format!(
        "map|{expr}|{}|{}|{:?}",
        out.elem.wgsl(),
        inputs.iter().map(|x| x.elem.wgsl()).collect::<Vec<_>>().join(","),
        contiguous
    );
    let source = || {
        let mut s = prelude(inputs.len() + 1);
        s.push_str(STRIDED_INDEX);
        s.push_str(&format!("@group(0) @binding(0) var<storage, read_write> out: array<{}>;\n", out.elem.wgsl()));
        for (k, x) in inputs.iter().enumerate() {
            s.push_str(&format!("@group(0) @binding({}) var<storage, read_write> in{k}: array<{}>;\n", k + 1, x.elem.wgsl()));
        }
        s.push_str(&format!(
            "@compute @workgroup_size({WORKGROUP})\n\
             fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{\n\
             let i = (wid.y * nwg.x + wid.x) * {WORKGROUP}u + lid;\n\
             if (i >= p(0u)) {{ return; }}\n"
        ));
        for (k, &c) in contiguous.iter().enumerate() {
            let view_at = 3 + MAX_DIMS + k * (MAX_DIMS + 1);
            let index = if c { format!("p({view_at}u) + i") } else { format!("strided(i, p(2u), 3u, {view_at}u)") };
            s.push_str(&format!("let x{k} = in{k}[{index}];\n"));
        }
        for k in 0..MAX_SCALARS {
            s.push_str(&format!("let s{k} = pf({}u);\n", scalars_at + k));
        }
        s.push_str(&format!("out[p(1u) + i] = {expr};\n}}\n"));
        s
    };
    let mut buffers = vec![out.buffer.raw()];
    buffers.extend(inputs.iter().map(|x| x.buffer.raw()));
    let groups = grid(device, n.div_ceil(WORKGROUP as usize) as u64)?;
    device.dispatch(&key, source, &buffers, &params, groups)
}
