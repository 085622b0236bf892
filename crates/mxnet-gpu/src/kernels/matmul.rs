//! Batched matrix product `C[b] = alpha * A[b] B[b]` (or `C[b] +=`) over strided A and B
//! (transposes and broadcast batches cost no copy) into C with contiguous rows. Each
//! workgroup of 16x16 threads computes a 64x64 tile of C, 4x4 values per thread in four vec4
//! accumulators, from 64x16 and 16x64 tiles of A and B staged in workgroup memory. Operands
//! whose rows or columns are contiguous and 16-byte aligned are read as vec4.
//! NOTE: one tile shape serves every adapter. It was measured only on lavapipe, where vec4
//! accumulators made it 3x faster than 16 scalar ones; hardware may prefer other sizes.

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
    let shift =
        |offset: usize, stride: isize, by: usize| (offset as isize + stride * by as isize) as usize;
    for (part, k0) in (0..k).step_by(MAX_K_PER_DISPATCH).enumerate() {
        let len = MAX_K_PER_DISPATCH.min(k - k0);
        let a_part = Operand {
            buffer: a.buffer,
            offset: shift(a.offset, a.strides[2], k0),
            strides: a.strides,
        };
        let b_part = Operand {
            buffer: b.buffer,
            offset: shift(b.offset, b.strides[1], k0),
            strides: b.strides,
        };
        product(
            &a_part,
            &b_part,
            batch,
            m,
            n,
            len,
            alpha,
            accumulate || part > 0,
            c,
        )?;
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
    let (load_a, load_b) = (Load::for_a(a, m, k), Load::for_b(b, k, n));
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
@group(0) @binding(0) var<storage, read_write> a: array<{a_elem}>;
@group(0) @binding(1) var<storage, read_write> b: array<{b_elem}>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
// ta[kk * 16 + q] contains rows 4q..4q+3 of the A tile at depth kk, tb[kk * 16 + q] columns
// 4q..4q+3 of the B tile, so each step of the product reads one vec4 of each.
var<workgroup> ta: array<vec4<f32>, 256>;
var<workgroup> tb: array<vec4<f32>, 256>;
{load_a_fn}
{load_b_fn}
@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {{
    let m = p(0u); let n = p(1u); let k = p(2u);
    let batch = i32(wid.z);
    let row0 = wid.y * {TILE}u;
    let col0 = wid.x * {TILE}u;
    let t = lid.y * 16u + lid.x;
    let a_base = pi(3u) + batch * pi(4u);
    let b_base = pi(7u) + batch * pi(8u);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    for (var k0 = 0u; k0 < k; k0 = k0 + {TILE_K}u) {{
        load_a(t, a_base, row0, k0, m, k);
        load_b(t, b_base, col0, k0, n, k);
        workgroupBarrier();
        for (var kk = 0u; kk < {TILE_K}u; kk = kk + 1u) {{
            let av = ta[kk * 16u + lid.y];
            let bv = tb[kk * 16u + lid.x];
            acc0 = fma(vec4<f32>(av.x), bv, acc0);
            acc1 = fma(vec4<f32>(av.y), bv, acc1);
            acc2 = fma(vec4<f32>(av.z), bv, acc2);
            acc3 = fma(vec4<f32>(av.w), bv, acc3);
        }}
        workgroupBarrier();
    }}
    let c_base = pi(11u) + batch * pi(13u);
    var acc = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i = i + 1u) {{
        let row = row0 + lid.y * 4u + i;
        for (var j = 0u; j < 4u; j = j + 1u) {{
            let col = col0 + lid.x * 4u + j;
            if (row < m && col < n) {{
                let at = u32(c_base + i32(row) * pi(14u) + i32(col));
                var v = pf(12u) * acc[i][j];
                if (p(15u) != 0u) {{ v = v + c[at]; }}
                c[at] = v;
            }}
        }}
    }}
}}
",
            prelude = prelude(3),
            a_elem = load_a.elem(),
            b_elem = load_b.elem(),
            load_a_fn = load_a.source("a", "ta", [5, 6]),
            load_b_fn = load_b.source("b", "tb", [10, 9]),
        )
    };
    let key = format!("matmul|f32|{:?}|{:?}", load_a, load_b);
    let groups = [
        n.div_ceil(TILE) as u32,
        m.div_ceil(TILE) as u32,
        batch as u32,
    ];
    device.dispatch(
        &key,
        source,
        &[a.buffer.raw(), b.buffer.raw(), c.raw()],
        &params,
        groups,
    )
}

/// The access pattern by which a kernel reads one operand's tile. The tile has a "wide" side
/// along the output (m for A, n for B) and a "deep" side along the contraction k.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Load {
    /// One element at a time, neighbouring threads along the wide side, for any strides.
    Scalar,
    /// One element at a time, neighbouring threads along k: for an operand whose k stride is
    /// the smaller one.
    ScalarDeep,
    /// vec4 of 4 consecutive elements along the wide side (A in column-major order, B in
    /// row-major order).
    VecWide,
    /// vec4 of 4 consecutive elements along k (A in row-major order, B transposed).
    VecDeep,
}

impl Load {
    /// Choose the load of A, an (m x k) operand with strides `[batch, row, k]`.
    fn for_a(a: &Operand, m: usize, k: usize) -> Load {
        Self::choose(a, a.strides[1], m, a.strides[2], k)
    }

    /// Choose the load of B, a (k x n) operand with strides `[batch, k, column]`.
    fn for_b(b: &Operand, k: usize, n: usize) -> Load {
        Self::choose(b, b.strides[2], n, b.strides[1], k)
    }

    /// vec4 loads need 4 consecutive elements that are a whole vec4 of the buffer: unit stride,
    /// a length that is a multiple of 4, and every other stride and the offset multiples of 4.
    fn choose(
        x: &Operand,
        wide_stride: isize,
        wide: usize,
        deep_stride: isize,
        deep: usize,
    ) -> Load {
        let aligned = |s: isize| s % 4 == 0;
        let base_aligned = x.offset % 4 == 0 && aligned(x.strides[0]);
        if base_aligned && wide_stride == 1 && wide % 4 == 0 && aligned(deep_stride) {
            Load::VecWide
        } else if base_aligned && deep_stride == 1 && deep % 4 == 0 && aligned(wide_stride) {
            Load::VecDeep
        } else if deep_stride.abs() < wide_stride.abs() {
            Load::ScalarDeep
        } else {
            Load::Scalar
        }
    }

    fn elem(self) -> &'static str {
        match self {
            Load::Scalar | Load::ScalarDeep => "f32",
            Load::VecWide | Load::VecDeep => "vec4<f32>",
        }
    }

    /// Generate the WGSL of `load_{x}(t, base, wide0, k0, wide, k)`, by which thread `t` of 256 stores its
    /// share of the 64-wide, 16-deep tile of operand `x` starting at (`wide0`, `k0`) into
    /// `tile`. `strides` are the parameter words of the wide and the deep stride. Elements
    /// outside the operand are stored as zeros.
    fn source(self, x: &str, tile: &str, strides: [usize; 2]) -> String {
        let [ws, ds] = strides;
        let body = match self {
            // Thread t reads 4 elements of the tile: threads next to each other read along the
            // wide side, as far as the strides allow coalescing.
            Load::Scalar => format!(
                "for (var e = 0u; e < 4u; e = e + 1u) {{
        let idx = t + e * 256u;
        let w = wide0 + idx % {TILE}u;
        let d = k0 + idx / {TILE}u;
        var v = 0.0;
        if (w < wide && d < k) {{ v = {x}[u32(base + i32(w) * pi({ws}u) + i32(d) * pi({ds}u))]; }}
        {tile}[(idx / {TILE}u) * 16u + (idx % {TILE}u) / 4u][idx % 4u] = v;
    }}"
            ),
            Load::ScalarDeep => format!(
                "for (var e = 0u; e < 4u; e = e + 1u) {{
        let idx = t + e * 256u;
        let w = wide0 + idx / {TILE_K}u;
        let d = k0 + idx % {TILE_K}u;
        var v = 0.0;
        if (w < wide && d < k) {{ v = {x}[u32(base + i32(w) * pi({ws}u) + i32(d) * pi({ds}u))]; }}
        {tile}[(idx % {TILE_K}u) * 16u + (idx / {TILE_K}u) / 4u][(idx / {TILE_K}u) % 4u] = v;
    }}"
            ),
            // Thread t reads the 4 wide-side elements 4(t % 16).. at depth t / 16.
            Load::VecWide => format!(
                "let w = wide0 + (t % 16u) * 4u;
    let d = k0 + t / 16u;
    var v = vec4<f32>(0.0);
    if (w < wide && d < k) {{ v = {x}[u32(base + i32(w) + i32(d) * pi({ds}u)) / 4u]; }}
    {tile}[t] = v;"
            ),
            // Thread t reads the 4 depths 4(t % 4).. of wide-side element t / 4.
            Load::VecDeep => format!(
                "let w = wide0 + t / 4u;
    let d0 = (t % 4u) * 4u;
    var v = vec4<f32>(0.0);
    if (w < wide && k0 + d0 < k) {{ v = {x}[u32(base + i32(w) * pi({ws}u) + i32(k0 + d0)) / 4u]; }}
    for (var j = 0u; j < 4u; j = j + 1u) {{
        {tile}[(d0 + j) * 16u + (t / 4u) / 4u][(t / 4u) % 4u] = v[j];
    }}"
            ),
        };
        format!(
            "fn load_{x}(t: u32, base: i32, wide0: u32, k0: u32, wide: u32, k: u32) {{
    {body}
}}"
        )
    }
}
