//! Elementwise kernels: `out[i] = f(x0[..], x1[..], s0, ...)` over up to six strided or
//! broadcast inputs and eight scalars. One template serves unary, binary, scalar, cast, copy and
//! fused optimizer expressions; the WGSL expression is part of the pipeline key. Expressions
//! may call the functions of [`HELPERS`].

use super::{check_u32, grid, merge_dims, prelude, MAX_DIMS, STRIDED_INDEX, WORKGROUP};
use crate::{Buffer, Elem, GpuError, Layout, Result};

/// Most array inputs and scalar parameters of one elementwise kernel.
pub const MAX_INPUTS: usize = 6;
pub const MAX_SCALARS: usize = 8;

/// An array read by a kernel: its buffer, its view (already broadcast to the output's shape for
/// elementwise kernels) and the element type it is read as.
pub struct Input<'a> {
    pub buffer: &'a Buffer,
    pub layout: &'a Layout,
    pub elem: Elem,
}

/// The output of an elementwise kernel: a view (any strides without overlap) of a buffer.
pub struct Output<'a> {
    pub buffer: &'a Buffer,
    pub layout: &'a Layout,
    pub elem: Elem,
}

/// An i32 scalar for the slot `si{k}` of [`map`]: its bits travel in an f32 slot, so integers
/// beyond 2^24 stay exact.
pub fn int_scalar(v: i32) -> f32 {
    f32::from_bits(v as u32)
}

/// WGSL functions elementwise expressions may call. WGSL leaves results outside a builtin's
/// domain undefined (`log(-1)`, `pow(-2, 3)`, `asin(2)`), so these give numpy's values there.
pub const HELPERS: &str = "
fn nan() -> f32 { return bitcast<f32>(0x7fc00000u); }
fn inf() -> f32 { return bitcast<f32>(0x7f800000u); }
fn sq(v: f32) -> f32 { return v * v; }
// float to int32 as the CPU converts: toward zero, saturating, NaN as 0.
fn f_to_i32(v: f32) -> i32 {
    if (is_nan(v)) { return 0; }
    if (v >= 2147483648.0) { return 2147483647; }
    if (v <= -2147483648.0) { return -2147483647 - 1; }
    return i32(v);
}
// float to int32 as a cast does on the CPU (and as C does on x86-64): toward zero, with NaN
// and values out of range as the minimum.
fn f_cast_i32(v: f32) -> i32 {
    if (v >= -2147483648.0 && v < 2147483648.0) { return i32(v); }
    return -2147483647 - 1;
}
// A float index as the CPU converts it: truncated toward zero, NaN as 0.
fn f_index(v: f32) -> f32 { return select(trunc(v), 0.0, is_nan(v)); }
// A uniform draw in [0, 1) for element `i` of the stream keyed by (k0, k1). The generator is
// counter-based (two rounds of the PCG output hash), so every thread draws independently and
// the values depend only on the key and the index.
fn pcg(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}
fn rand_uniform(i: u32, k0: u32, k1: u32) -> f32 { return f32(pcg(pcg(i ^ k0) + k1) >> 8u) * 5.9604645e-8; }
// Clip to [-c, c]; a negative c means no clipping (MXNet's optimizer convention).
fn clip_g(v: f32, c: f32) -> f32 { if (c >= 0.0) { return clamp(v, -c, c); } return v; }
fn f_max(a: f32, b: f32) -> f32 { if (is_nan(a) || is_nan(b)) { return nan(); } return max(a, b); }
fn f_min(a: f32, b: f32) -> f32 { if (is_nan(a) || is_nan(b)) { return nan(); } return min(a, b); }
fn f_log(x: f32) -> f32 {
    if (is_nan(x) || x < 0.0) { return nan(); }
    if (x == 0.0) { return -inf(); }
    if (x == inf()) { return x; }
    // GPUs may flush subnormal inputs to zero: scale them into the normal range first.
    if (x < 1.17549435e-38) { return log(x * 16777216.0) - 16.635532333438687; }
    return log(x);
}
// IEEE `!=` is true when either side is NaN; some compilers emit the ordered comparison.
fn f_ne(a: f32, b: f32) -> bool { return a != b || is_nan(a) || is_nan(b); }
fn f_nonzero(a: f32) -> bool { return a != 0.0 || is_nan(a); }
fn f_log1p(x: f32) -> f32 {
    let u = 1.0 + x;
    if (u == 1.0) { return x; }
    if (u == inf()) { return u; }
    return f_log(u) * x / (u - 1.0);
}
fn f_expm1(x: f32) -> f32 {
    let u = exp(x);
    if (u == 1.0) { return x; }
    if (u - 1.0 == -1.0) { return -1.0; }
    if (u == inf()) { return u; }
    return (u - 1.0) * x / log(u);
}
fn f_sqrt(x: f32) -> f32 { if (x < 0.0) { return nan(); } return sqrt(x); }
fn f_cbrt(x: f32) -> f32 {
    if (x == 0.0 || is_nan(x) || abs(x) == inf()) { return x; }
    let r = sign(x) * exp2(log2(abs(x)) / 3.0);
    return r - (r * r * r - x) / (3.0 * r * r);
}
fn f_atan(x: f32) -> f32 { if (is_nan(x)) { return x; } return atan(x); }
fn f_asin(x: f32) -> f32 { if (abs(x) > 1.0) { return nan(); } return asin(x); }
fn f_acos(x: f32) -> f32 { if (abs(x) > 1.0) { return nan(); } return acos(x); }
fn f_tanh(x: f32) -> f32 {
    if (is_nan(x)) { return x; }
    let e = exp(-2.0 * abs(x));
    return sign(x) * (1.0 - e) / (1.0 + e);
}
fn f_sinh(x: f32) -> f32 { if (abs(x) < 1e-3) { return x + x * x * x / 6.0; } let e = exp(x); return 0.5 * (e - 1.0 / e); }
fn f_asinh(x: f32) -> f32 { let a = abs(x); if (a == inf() || is_nan(x)) { return x; } return sign(x) * f_log1p(a + a * a / (1.0 + sqrt(1.0 + a * a))); }
fn f_acosh(x: f32) -> f32 { if (x < 1.0) { return nan(); } return f_log(x + sqrt(x * x - 1.0)); }
fn f_atanh(x: f32) -> f32 { if (abs(x) > 1.0) { return nan(); } return 0.5 * f_log1p(2.0 * x / (1.0 - x)); }
fn f_sign(x: f32) -> f32 { if (is_nan(x)) { return x; } return sign(x); }
fn f_round(x: f32) -> f32 { let t = trunc(x); if (abs(x - t) >= 0.5) { return t + sign(x); } return t; }
fn f_rint(x: f32) -> f32 { let f = floor(x); let c = ceil(x); if (x - f <= c - x) { return f; } return c; }
fn f_sigmoid(x: f32) -> f32 { let e = exp(-abs(x)); let s = 1.0 / (1.0 + e); if (x >= 0.0) { return s; } return e * s; }
fn f_softrelu(x: f32) -> f32 { return max(x, 0.0) + f_log1p(exp(-abs(x))); }
fn f_erf(x: f32) -> f32 {
    // Abramowitz and Stegun 7.1.26: absolute error below 1.5e-7.
    let a = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
    return sign(x) * y;
}
fn f_mod(a: f32, b: f32) -> f32 {
    if (b == 0.0) { return 0.0; }
    let r = a - b * trunc(a / b);
    if (r != 0.0 && ((r < 0.0) != (b < 0.0))) { return r + b; }
    return r;
}
fn i_mod(a: i32, b: i32) -> i32 {
    if (b == 0) { return 0; }
    let r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) { return r + b; }
    return r;
}
fn f_pow(a: f32, b: f32) -> f32 {
    if (b == 0.0) { return 1.0; }
    if (is_nan(a) || is_nan(b)) { return nan(); }
    if (a == 0.0) { if (b > 0.0) { return 0.0; } return inf(); }
    let p = exp2(b * log2(abs(a)));
    if (a > 0.0) { return p; }
    if (trunc(b) != b) { return nan(); }
    if (abs(b % 2.0) == 1.0) { return -p; }
    return p;
}
fn i_pow(a: i32, b: i32) -> i32 {
    if (b < 0) {
        if (a == 1) { return 1; }
        if (a == -1) { return select(-1, 1, (b & 1) == 0); }
        return 0;
    }
    var r = 1; var base = a; var e = b;
    while (e > 0) { if ((e & 1) == 1) { r = r * base; } base = base * base; e = e >> 1u; }
    return r;
}
fn f_hypot(a: f32, b: f32) -> f32 {
    let x = abs(a); let y = abs(b);
    if (x == inf() || y == inf()) { return inf(); }
    let m = max(x, y);
    if (m == 0.0 || is_nan(m)) { return m + x + y; }
    return m * sqrt((x / m) * (x / m) + (y / m) * (y / m));
}
";

/// Record `out[i] = expr` for every element `i` of the output's view. `expr` is WGSL over
/// `x0`..`x5` (the inputs' elements), `s0`..`s7` (the scalars as f32), `si0`..`si7` (the same
/// slots read as i32, for integer scalars passed with [`int_scalar`]) and `i` (the element's
/// row-major index) and evaluates to the output's type.
pub fn map(expr: &str, inputs: &[Input], scalars: &[f32], out: Output) -> Result<()> {
    let shape = &out.layout.shape;
    let n: usize = shape.iter().product();
    let n32 = check_u32(expr, n)?;
    if n == 0 {
        return Ok(());
    }
    if inputs.len() > MAX_INPUTS || scalars.len() > MAX_SCALARS {
        return Err(GpuError::Kernel(format!(
            "elementwise kernel {expr}: at most {MAX_INPUTS} inputs and {MAX_SCALARS} scalars"
        )));
    }
    let device = out.buffer.device();
    let mut strides: Vec<&[isize]> = vec![&out.layout.strides];
    strides.extend(inputs.iter().map(|x| x.layout.strides.as_slice()));
    let (merged, merged_strides) = merge_dims(shape, &strides);
    if merged.len() > MAX_DIMS {
        return Err(GpuError::Kernel(format!(
            "elementwise kernel {expr}: {} dimensions after merging exceed {MAX_DIMS}",
            merged.len()
        )));
    }
    let dense = mxnet_cpu::layout::contiguous_strides(&merged);
    let ndim = merged.len() as u32;
    let mut params = vec![n32, check_u32(expr, out.layout.offset)?, ndim];
    params.extend(merged.iter().map(|&d| d as u32));
    params.resize(3 + MAX_DIMS, 0);
    // Views at 3 + MAX_DIMS: the output's, then each input's (offset, then strides).
    let mut contiguous = Vec::with_capacity(inputs.len() + 1);
    let offsets = std::iter::once(out.layout.offset).chain(inputs.iter().map(|x| x.layout.offset));
    for (offset, s) in offsets.zip(&merged_strides) {
        params.push(check_u32(expr, offset)?);
        params.extend(s.iter().map(|&v| v as i32 as u32));
        params.resize(params.len() + MAX_DIMS - s.len(), 0);
        contiguous.push(*s == dense);
    }
    let scalars_at = params.len();
    params.extend(scalars.iter().map(|v| v.to_bits()));

    let key = format!(
        "map|{expr}|{}|{}|{:?}",
        out.elem.wgsl(),
        inputs
            .iter()
            .map(|x| x.elem.wgsl())
            .collect::<Vec<_>>()
            .join(","),
        contiguous
    );
    let source = || {
        let mut s = prelude(inputs.len() + 1);
        s.push_str(STRIDED_INDEX);
        s.push_str(HELPERS);
        s.push_str(&format!(
            "@group(0) @binding(0) var<storage, read_write> out: array<{}>;\n",
            out.elem.wgsl()
        ));
        for (k, x) in inputs.iter().enumerate() {
            s.push_str(&format!(
                "@group(0) @binding({}) var<storage, read_write> in{k}: array<{}>;\n",
                k + 1,
                x.elem.wgsl()
            ));
        }
        s.push_str(&format!(
            "@compute @workgroup_size({WORKGROUP})\n\
             fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{\n\
             let i = (wid.y * nwg.x + wid.x) * {WORKGROUP}u + lid;\n\
             if (i >= p(0u)) {{ return; }}\n"
        ));
        let index = |k: usize| {
            let view_at = 3 + MAX_DIMS + k * (MAX_DIMS + 1);
            if contiguous[k] {
                format!("p({view_at}u) + i")
            } else {
                format!("strided(i, p(2u), 3u, {view_at}u)")
            }
        };
        for k in 0..inputs.len() {
            s.push_str(&format!("let x{k} = in{k}[{}];\n", index(k + 1)));
        }
        for k in 0..MAX_SCALARS {
            s.push_str(&format!(
                "let s{k} = pf({0}u);\nlet si{k} = pi({0}u);\n",
                scalars_at + k
            ));
        }
        s.push_str(&format!("out[{}] = {expr};\n}}\n", index(0)));
        s
    };
    let mut buffers = vec![out.buffer.raw()];
    buffers.extend(inputs.iter().map(|x| x.buffer.raw()));
    let groups = grid(device, n.div_ceil(WORKGROUP as usize) as u64)?;
    device.dispatch(&key, source, &buffers, &params, groups)
}
