//! Batched matrix product `C[b] = alpha * A[b] B[b]` (or `C[b] +=`) over strided A and B
//! (transposes and broadcast batches cost no copy) into C with contiguous rows. Each
//! workgroup of 16x16 threads computes a 64x64 tile of C, 4x4 values per thread, from 64x16 and 16x64 tiles of A and B
//! staged in workgroup memory.
//! NOTE: tile sizes are not tuned per adapter class yet, and loads are scalar (no vec4).

use super::{check_u32, prelude};
use crate::{Buffer, GpuError, Result};

const TILE: usize = 64;
const TILE_K: usize = 16;

/// A matrix operand: element `(b, i, j)` at `offset + b * strides[0] + i * strides[1] + j * strides[2]`.
pub struct Operand<'a> {
    pub buffer: &'a Buffer,
    pub offset: usize,
    pub strides: [isize; 3],
}

/// Longest contraction one dispatch runs. Mesa's llvmpipe (the software Vulkan driver of CI)
/// returned wrong sums once a shader loop ran more than 65535 iterations (seen with Mesa
/// 22.3.6), and 16384 keeps every dispatch below that. Hardware pays one more dispatch per
/// 16384 of `k`.
const MAX_K_PER_DISPATCH: usize = 16384;

/// Record `C = alpha * A B` (`C += alpha * A B` with `accumulate`) for `batch` products of
/// (m x k) by (k x n). C's rows must be contiguous (`c.strides[2] == 1`).
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    a: &Operand,
    b: &Operand,
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    accumulate: bool,
    c: &Operand,
) -> Result<()> {
    if k <= MAX_K_PER_DISPATCH {
        return product(a, b, batch, m, n, k, alpha, accumulate, c);
    }
    let shift = |offset: usize, stride: isize, by: usize| (offset as isize + stride * by as isize) as usize;
    for (part, k0) in (0..k).step_by(MAX_K_PER_DISPATCH).enumerate() {
        let len = MAX_K_PER_DISPATCH.min(k - k0);
        let a_part = Operand { buffer: a.buffer, offset: shift(a.offset, a.strides[2], k0), strides: a.strides };
        let b_part = Operand { buffer: b.buffer, offset: shift(b.offset, b.strides[1], k0), strides: b.strides };
        product(&a_part, &b_part, batch, m, n, len, alpha, accumulate || part > 0, c)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn product(
    a: &Operand,
    b: &Operand,
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    accumulate: bool,
    c: &Operand,
) -> Result<()> {
    if c.strides[2] != 1 {
        return Err(GpuError::Kernel(format!(
            "matmul: the product's rows must be contiguous, got strides {:?}",
            c.strides
        )));
    }
    let (c_offset, c_strides, c) = (c.offset, c.strides, c.buffer);
    if batch == 0 || m == 0 || n == 0 {
        return Ok(());
    }
    let what = "matmul";
    let device = c.device();
    let max = device.max_workgroups_per_dim() as usize;
    if batch > max || n.div_ceil(TILE) > max || m.div_ceil(TILE) > max {
        return Err(GpuError::Kernel(format!(
            "matmul: {batch} products of {m}x{k} by {k}x{n} exceed the dispatch grid of {device:?}"
        )));
    }
    let s = |v: isize| v as i32 as u32;
    let params = vec![
        check_u32(what, m)?,
        check_u32(what, n)?,
        check_u32(what, k)?,
        check_u32(what, a.offset)?,
        s(a.strides[0]),
        s(a.strides[1]),
        s(a.strides[2]),
        check_u32(what, b.offset)?,
        s(b.strides[0]),
        s(b.strides[1]),
        s(b.strides[2]),
        check_u32(what, c_offset)?,
        alpha.to_bits(),
        s(c_strides[0]),
        s(c_strides[1]),
        accumulate as u32,
    ];
    let source = || {
        format!(
            "{prelude}
@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
var<workgroup> ta: array<f32, {tile_a}>;
var<workgroup> tb: array<f32, {tile_a}>;
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{
    let m = p(0u); let n = p(1u); let k = p(2u);
    let batch = i32(wid.z);
    let row0 = wid.y * {TILE}u;
    let col0 = wid.x * {TILE}u;
    let flat = lid.y * 16u + lid.x;
    let a_base = pi(3u) + batch * pi(4u);
    let b_base = pi(7u) + batch * pi(8u);
    var acc: array<f32, 16>;
    for (var k0 = 0u; k0 < k; k0 = k0 + {TILE_K}u) {{
        for (var e = 0u; e < 4u; e = e + 1u) {{
            let idx = flat + e * 256u;
            let am = row0 + idx / {TILE_K}u;
            let ak = k0 + idx % {TILE_K}u;
            var va = 0.0;
            if (am < m && ak < k) {{ va = a[u32(a_base + i32(am) * pi(5u) + i32(ak) * pi(6u))]; }}
            ta[idx] = va;
            let bk = k0 + idx / {TILE}u;
            let bn = col0 + idx % {TILE}u;
            var vb = 0.0;
            if (bk < k && bn < n) {{ vb = b[u32(b_base + i32(bk) * pi(9u) + i32(bn) * pi(10u))]; }}
            tb[idx] = vb;
        }}
        workgroupBarrier();
        for (var kk = 0u; kk < {TILE_K}u; kk = kk + 1u) {{
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var i = 0u; i < 4u; i = i + 1u) {{
                av[i] = ta[(lid.y * 4u + i) * {TILE_K}u + kk];
                bv[i] = tb[kk * {TILE}u + lid.x * 4u + i];
            }}
            for (var i = 0u; i < 4u; i = i + 1u) {{
                for (var j = 0u; j < 4u; j = j + 1u) {{
                    acc[i * 4u + j] = acc[i * 4u + j] + av[i] * bv[j];
                }}
            }}
        }}
        workgroupBarrier();
    }}
    let c_base = pi(11u) + batch * pi(13u);
    for (var i = 0u; i < 4u; i = i + 1u) {{
        let row = row0 + lid.y * 4u + i;
        for (var j = 0u; j < 4u; j = j + 1u) {{
            let col = col0 + lid.x * 4u + j;
            if (row < m && col < n) {{
                let at = u32(c_base + i32(row) * pi(14u) + i32(col));
                var v = pf(12u) * acc[i * 4u + j];
                if (p(15u) != 0u) {{ v = v + c[at]; }}
                c[at] = v;
            }}
        }}
    }}
}}
",
            prelude = prelude(3),
            tile_a = TILE * TILE_K,
        )
    };
    let groups = [
        n.div_ceil(TILE) as u32,
        m.div_ceil(TILE) as u32,
        batch as u32,
    ];
    device.dispatch(
        "matmul|f32",
        source,
        &[a.buffer.raw(), b.buffer.raw(), c.raw()],
        &params,
        groups,
    )
}
