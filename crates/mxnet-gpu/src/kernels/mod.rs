//! WGSL kernels. Each kernel module builds its shader source from a template, with the element
//! type and the operation spliced in, so one template serves every operator of a family. It then
//! packs shapes, strides and scalars into the uniform block and records one dispatch.

pub mod check;
pub mod conv;
pub mod elementwise;
pub mod gather;
pub mod matmul;
pub mod packed;
pub mod pick;
pub mod pool;
pub mod reduce;
pub mod softmax;

use crate::backend::{Device, PARAM_WORDS};
use crate::{GpuError, Result};

/// Threads per workgroup of the one-dimensional kernels: a multiple of every vendor's SIMD
/// width (32 on NVIDIA, 64 on AMD) and within WebGPU's guaranteed 256.
pub const WORKGROUP: u32 = 256;

/// Most dimensions a strided kernel indexes after merging; larger ranks are rejected.
pub const MAX_DIMS: usize = 8;

/// WGSL shared by every kernel: the uniform block, its accessors, and a NaN test on the bits,
/// because compilers may fold `v != v` to false.
pub(crate) fn prelude(binding: usize) -> String {
    format!(
        "struct Params {{ w: array<vec4<u32>, {} > }}\n\
         @group(0) @binding({binding}) var<uniform> params: Params;\n\
         fn p(i: u32) -> u32 {{ return params.w[i / 4u][i % 4u]; }}\n\
         fn pi(i: u32) -> i32 {{ return bitcast<i32>(p(i)); }}\n\
         fn pf(i: u32) -> f32 {{ return bitcast<f32>(p(i)); }}\n\
         fn is_nan(v: f32) -> bool {{ return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }}\n",
        PARAM_WORDS / 4
    )
}

/// Workgroup counts covering `groups` workgroups: a second dimension takes what exceeds the
/// per-dimension limit (65535 on most adapters). Kernels recover the linear group as
/// `wid.y * nwg.x + wid.x`.
pub(crate) fn grid(device: &Device, groups: u64) -> Result<[u32; 3]> {
    let max = device.max_workgroups_per_dim() as u64;
    let x = groups.min(max);
    let y = if x == 0 { 0 } else { groups.div_ceil(x) };
    if y > max {
        return Err(GpuError::Kernel(format!(
            "{groups} workgroups exceed the {max}x{max} grid of {device:?}"
        )));
    }
    Ok([x as u32, y as u32, 1])
}

/// Merge adjacent dimensions that every stride list walks as one (`strides[d] ==
/// strides[d + 1] * shape[d + 1]` for all), so most views index as one or two dimensions.
/// Returns the merged shape and one merged stride list per input.
pub(crate) fn merge_dims(shape: &[usize], strides: &[&[isize]]) -> (Vec<usize>, Vec<Vec<isize>>) {
    let mut out_shape: Vec<usize> = Vec::new();
    let mut out_strides: Vec<Vec<isize>> = vec![Vec::new(); strides.len()];
    for d in 0..shape.len() {
        if shape[d] == 1 {
            continue;
        }
        let mergeable = !out_shape.is_empty()
            && strides
                .iter()
                .zip(&out_strides)
                .all(|(s, o)| *o.last().unwrap() == s[d] * shape[d] as isize);
        if mergeable {
            *out_shape.last_mut().unwrap() *= shape[d];
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                *o.last_mut().unwrap() = s[d];
            }
        } else {
            out_shape.push(shape[d]);
            for (s, o) in strides.iter().zip(out_strides.iter_mut()) {
                o.push(s[d]);
            }
        }
    }
    (out_shape, out_strides)
}

/// Check that an element count fits the 32-bit indices of the kernels.
pub(crate) fn check_u32(what: &str, n: usize) -> Result<u32> {
    u32::try_from(n).map_err(|_| {
        GpuError::Kernel(format!(
            "{what}: {n} elements exceed the 2^32 a GPU kernel can index"
        ))
    })
}

/// WGSL that maps a linear index `i` of a `ndim`-dimensional shape stored at `p(shape_at..)`
/// to an element offset, with the offset and strides at `p(view_at..)`.
pub(crate) const STRIDED_INDEX: &str = "
fn strided(i: u32, ndim: u32, shape_at: u32, view_at: u32) -> u32 {
    var rem = i;
    var off = pi(view_at);
    for (var d = i32(ndim) - 1; d >= 0; d = d - 1) {
        let dim = p(shape_at + u32(d));
        off = off + i32(rem % dim) * pi(view_at + 1u + u32(d));
        rem = rem / dim;
    }
    return u32(off);
}
";

#[cfg(test)]
mod tests {
    use super::merge_dims;

    #[test]
    fn merges_contiguous_and_keeps_broadcast() {
        let (shape, strides) = merge_dims(&[2, 3, 4], &[&[12, 4, 1]]);
        assert_eq!((shape, strides), (vec![24], vec![vec![1]]));
        let (shape, strides) = merge_dims(&[2, 3, 4], &[&[12, 4, 1], &[0, 0, 1]]);
        assert_eq!((shape, strides), (vec![6, 4], vec![vec![4, 1], vec![0, 1]]));
        let (shape, strides) = merge_dims(&[3, 1, 4], &[&[1, 7, 3]]);
        assert_eq!((shape, strides), (vec![3, 4], vec![vec![1, 3]]));
    }
}
