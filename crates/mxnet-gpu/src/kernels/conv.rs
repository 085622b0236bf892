//! The unfolding steps of convolution as matrix products: `im2col` copies the input patches
//! of a batch chunk into columns, `col2im` sums column gradients back into the input gradient.
//! `col2im` gathers (one thread per input element sums the columns that read it), so no two
//! threads write one element and no atomics are needed.

use mxnet_cpu::nn::conv::Conv2d;

use super::{check_u32, grid, prelude, WORKGROUP};
use crate::{Buffer, Result};

/// The layout of a chunk's columns: element `(n, r, p)` (image, patch row `r = (c, kh, kw)`,
/// output position `p`) at `n * image_stride + r * row_stride + p`.
#[derive(Clone, Copy, Debug)]
pub struct Columns {
    pub image_stride: usize,
    pub row_stride: usize,
}

/// The images of one chunk and group: `images` images from element `offset` of the data
/// (NCHW, contiguous), channels `[group * C/G, (group + 1) * C/G)`.
#[derive(Clone, Copy, Debug)]
pub struct Chunk {
    pub offset: usize,
    pub images: usize,
    pub group: usize,
}

fn params(geo: &Conv2d, chunk: Chunk, cols: Columns) -> Result<Vec<u32>> {
    let what = "im2col";
    let cg = geo.in_channels / geo.groups;
    let rows = cg * geo.kernel[0] * geo.kernel[1];
    let total = chunk.images * rows * geo.out_h * geo.out_w;
    check_u32(what, total.max(chunk.images * cg * geo.height * geo.width))?;
    let x_offset = chunk.offset + chunk.group * cg * geo.height * geo.width;
    Ok(vec![
        check_u32(what, total)?,
        cg as u32,
        geo.height as u32,
        geo.width as u32,
        geo.kernel[0] as u32,
        geo.kernel[1] as u32,
        geo.stride[0] as u32,
        geo.stride[1] as u32,
        geo.pad[0] as u32,
        geo.pad[1] as u32,
        geo.dilate[0] as u32,
        geo.dilate[1] as u32,
        geo.out_h as u32,
        geo.out_w as u32,
        check_u32(what, x_offset)?,
        check_u32(what, geo.in_channels * geo.height * geo.width)?,
        check_u32(what, cols.image_stride)?,
        check_u32(what, cols.row_stride)?,
        (chunk.images * cg * geo.height * geo.width) as u32,
    ])
}

/// Record the unfolding of a chunk of `x` into `cols`.
pub fn im2col(geo: &Conv2d, chunk: Chunk, x: &Buffer, cols: Columns, out: &Buffer) -> Result<()> {
    let params = params(geo, chunk, cols)?;
    let source = || {
        format!(
            "{prelude}
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> col: array<f32>;
@compute @workgroup_size({WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    let g = (wid.y * nwg.x + wid.x) * {WORKGROUP}u + lid;
    if (g >= p(0u)) {{ return; }}
    let kh = p(4u); let kw = p(5u); let oh_n = p(12u); let ow_n = p(13u);
    let positions = oh_n * ow_n;
    let rows = p(1u) * kh * kw;
    let pos = g % positions;
    let r = (g / positions) % rows;
    let n = g / (positions * rows);
    let c = r / (kh * kw);
    let ky = (r / kw) % kh;
    let kx = r % kw;
    let iy = i32((pos / ow_n) * p(6u) + ky * p(10u)) - i32(p(8u));
    let ix = i32((pos % ow_n) * p(7u) + kx * p(11u)) - i32(p(9u));
    var v = 0.0;
    if (iy >= 0 && iy < i32(p(2u)) && ix >= 0 && ix < i32(p(3u))) {{
        v = x[p(14u) + n * p(15u) + (c * p(2u) + u32(iy)) * p(3u) + u32(ix)];
    }}
    col[n * p(16u) + r * p(17u) + pos] = v;
}}
",
            prelude = prelude(2)
        )
    };
    let device = out.device();
    let groups = grid(device, (params[0] as u64).div_ceil(WORKGROUP as u64))?;
    device.dispatch("im2col", source, &[x.raw(), out.raw()], &params, groups)
}

/// Record `dx` of a chunk: every input element of the group's channels receives the sum of
/// the column entries that `im2col` copied it to.
pub fn col2im(geo: &Conv2d, chunk: Chunk, cols: Columns, dcol: &Buffer, dx: &Buffer) -> Result<()> {
    let params = params(geo, chunk, cols)?;
    let source = || {
        format!(
            "{prelude}
@group(0) @binding(0) var<storage, read_write> col: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size({WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    let g = (wid.y * nwg.x + wid.x) * {WORKGROUP}u + lid;
    if (g >= p(18u)) {{ return; }}
    let h = p(2u); let w = p(3u); let kh = p(4u); let kw = p(5u);
    let oh_n = i32(p(12u)); let ow_n = i32(p(13u));
    let plane = h * w;
    let iy = i32((g % plane) / w);
    let ix = i32(g % w);
    let c = (g / plane) % p(1u);
    let n = g / (plane * p(1u));
    var acc = 0.0;
    for (var ky = 0u; ky < kh; ky = ky + 1u) {{
        let ty = iy + i32(p(8u)) - i32(ky * p(10u));
        if (ty < 0 || ty % i32(p(6u)) != 0) {{ continue; }}
        let oy = ty / i32(p(6u));
        if (oy >= oh_n) {{ continue; }}
        for (var kx = 0u; kx < kw; kx = kx + 1u) {{
            let tx = ix + i32(p(9u)) - i32(kx * p(11u));
            if (tx < 0 || tx % i32(p(7u)) != 0) {{ continue; }}
            let ox = tx / i32(p(7u));
            if (ox >= ow_n) {{ continue; }}
            let r = (c * kh + ky) * kw + kx;
            acc = acc + col[n * p(16u) + r * p(17u) + u32(oy * ow_n + ox)];
        }}
    }}
    dx[p(14u) + n * p(15u) + c * plane + u32(iy) * w + u32(ix)] = acc;
}}
",
            prelude = prelude(2)
        )
    };
    let device = dx.device();
    let groups = grid(device, (params[18] as u64).div_ceil(WORKGROUP as u64))?;
    device.dispatch("col2im", source, &[dcol.raw(), dx.raw()], &params, groups)
}
