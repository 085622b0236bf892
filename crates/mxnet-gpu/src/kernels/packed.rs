//! Casts from and to the dtypes narrower than 32 bits (uint8, int8, bool, float16, bfloat16). WGSL
//! storage has no 8- or 16-bit types, so these arrays live packed in 32-bit words: `unpack`
//! reads one element per thread, and `pack` writes one word per thread, keeping the bytes of
//! the word that lie outside the array.

use super::{check_u32, grid, merge_dims, prelude, MAX_DIMS, STRIDED_INDEX, WORKGROUP};
use crate::{Buffer, Elem, GpuError, Layout, Result};

/// A narrow dtype as stored in 32-bit words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packed {
    U8,
    I8,
    Bool,
    F16,
    BF16,
}

impl Packed {
    fn per_word(self) -> u32 {
        if matches!(self, Packed::F16 | Packed::BF16) {
            2
        } else {
            4
        }
    }
}

/// Record `out[i] = convert(src[view(i)])` for every element `i` of the view `layout` of
/// `src` (any strides, in elements), into a contiguous f32 or i32 output from element
/// `out_offset`.
pub fn unpack(
    kind: Packed,
    src: (&Buffer, &Layout),
    out: (&Buffer, usize),
    elem: Elem,
) -> Result<()> {
    let layout = src.1;
    let n = layout.size();
    if n == 0 {
        return Ok(());
    }
    let (shape, strides) = merge_dims(&layout.shape, &[&layout.strides]);
    if shape.len() > MAX_DIMS {
        return Err(GpuError::Kernel(format!(
            "unpack: {} dimensions after merging exceed {MAX_DIMS}",
            shape.len()
        )));
    }
    let t = elem.wgsl();
    let value = match kind {
        Packed::U8 => "f32((word >> shift) & 0xffu)",
        Packed::I8 => "f32(bitcast<i32>(word << (24u - shift)) >> 24u)",
        Packed::Bool => "select(0.0, 1.0, ((word >> shift) & 0xffu) != 0u)",
        Packed::F16 => "unpack2x16float(word)[at % 2u]",
        Packed::BF16 => "bitcast<f32>(((word >> (16u * (at % 2u))) & 0xffffu) << 16u)",
    };
    let per_word = kind.per_word();
    // 0: count, 1: output offset, 2: rank, 3..11: shape, 11: view offset, 12..20: strides.
    let mut params = vec![
        check_u32("unpack", n)?,
        check_u32("unpack", out.1)?,
        shape.len() as u32,
    ];
    params.extend(shape.iter().map(|&d| d as u32));
    params.resize(3 + MAX_DIMS, 0);
    params.push(check_u32("unpack", layout.offset)?);
    params.extend(strides[0].iter().map(|&v| v as i32 as u32));
    let key = format!("unpack|{kind:?}|{t}");
    let source = || {
        format!(
            "{prelude}{STRIDED_INDEX}
@group(0) @binding(0) var<storage, read_write> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<{t}>;
@compute @workgroup_size({WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    let i = (wid.y * nwg.x + wid.x) * {WORKGROUP}u + lid;
    if (i >= p(0u)) {{ return; }}
    let at = strided(i, p(2u), 3u, 11u);
    let word = src[at / {per_word}u];
    let shift = (at % 4u) * 8u;
    out[p(1u) + i] = {t}({value});
}}
",
            prelude = prelude(2)
        )
    };
    let device = out.0.device();
    let groups = grid(device, (n as u64).div_ceil(WORKGROUP as u64))?;
    device.dispatch(&key, source, &[src.0.raw(), out.0.raw()], &params, groups)
}

/// Record `dst[offset + i] = convert(src[src_offset + i])` for `n` elements of a contiguous f32
/// or i32 source. Floats convert as on the CPU: rounded toward zero and saturated for the
/// integer types (NaN becomes 0), nonzero (NaN included) for bool, nearest for float16 and
/// bfloat16.
pub fn pack(
    kind: Packed,
    src: (&Buffer, usize),
    elem: Elem,
    n: usize,
    dst: (&Buffer, usize),
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    if elem != Elem::F32 && elem != Elem::I32 {
        return Err(GpuError::Kernel(format!(
            "pack: {elem:?} sources are not supported"
        )));
    }
    let t = elem.wgsl();
    let per_word = kind.per_word() as usize;
    let first_word = dst.1 / per_word;
    let words = (dst.1 + n).div_ceil(per_word) - first_word;
    let params = vec![
        check_u32("pack", n)?,
        check_u32("pack", src.1)?,
        check_u32("pack", dst.1)?,
        check_u32("pack", first_word)?,
        check_u32("pack", words)?,
    ];
    // `bits(v)` is the element's bit pattern in the low bits of a u32.
    let bits = match (kind, elem) {
        // The low byte of the int32 a CPU cast makes: 300.0 and 300 give 44, -1 gives 255;
        // NaN and floats beyond the int32 range give 0 (the low byte of its minimum).
        (Packed::U8 | Packed::I8, Elem::F32) => {
            "select(bitcast<u32>(i32(v)) & 0xffu, 0u, !(v >= -2147483648.0 && v < 2147483648.0))"
        }
        (Packed::U8 | Packed::I8, _) => "bitcast<u32>(v) & 0xffu",
        (Packed::Bool, Elem::F32) => "select(0u, 1u, v != 0.0 || is_nan(v))",
        (Packed::Bool, _) => "select(0u, 1u, v != 0)",
        (Packed::F16, _) => "pack2x16float(vec2<f32>(f32(v), 0.0)) & 0xffffu",
        // Round to nearest even on the dropped 16 bits; NaN stays a quiet NaN.
        (Packed::BF16, _) => {
            "select((bitcast<u32>(f32(v)) + 0x7fffu + ((bitcast<u32>(f32(v)) >> 16u) & 1u)) >> 16u, 0x7fc0u, is_nan(f32(v)))"
        }
    };
    let width = 32 / kind.per_word();
    let mask = if kind.per_word() == 2 {
        "0xffffu"
    } else {
        "0xffu"
    };
    let key = format!("pack|{kind:?}|{t}");
    let source = || {
        format!(
            "{prelude}
@group(0) @binding(0) var<storage, read_write> src: array<{t}>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
fn bits(v: {t}) -> u32 {{ return {bits}; }}
@compute @workgroup_size({WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    let w = (wid.y * nwg.x + wid.x) * {WORKGROUP}u + lid;
    if (w >= p(4u)) {{ return; }}
    let word_at = p(3u) + w;
    var word = dst[word_at];
    for (var k = 0u; k < {per_word}u; k = k + 1u) {{
        let at = word_at * {per_word}u + k;
        if (at < p(2u) || at >= p(2u) + p(0u)) {{ continue; }}
        let shift = k * {width}u;
        word = (word & ~({mask} << shift)) | (bits(src[p(1u) + at - p(2u)]) << shift);
    }}
    dst[word_at] = word;
}}
",
            prelude = prelude(2)
        )
    };
    let device = dst.0.device();
    let groups = grid(device, (words as u64).div_ceil(WORKGROUP as u64))?;
    device.dispatch(&key, source, &[src.0.raw(), dst.0.raw()], &params, groups)
}
