//! 2-D pooling (1-D as height 1) with the CPU kernels' window rules (`mxnet_cpu::nn::pool`):
//! windows clipped to the image, `avg` dividing by the window inside the padded input (or
//! inside the image without `count_include_pad`), `max` ignoring NaN and routing the gradient
//! to the first maximum in row-major order. The backward pass gathers: one thread per input
//! element visits the windows that contain it.

use mxnet_cpu::nn::pool::Pool2d;

use super::elementwise::HELPERS;
use super::{check_u32, grid, prelude, WORKGROUP};
use crate::{Buffer, GpuError, Result};

/// The pooling reductions with a GPU kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolOp {
    Max,
    Avg {
        count_include_pad: bool,
    },
    Sum,
    /// `(sum x^p)^(1/p)` for p = 1, 2 or 3, without absolute values, as the CPU computes it.
    Lp(i32),
}

const WINDOW: &str = "
struct Window { y0: i32, y1: i32, x0: i32, x1: i32, padded: f32 }
fn window(oy: u32, ox: u32) -> Window {
    let h = i32(p(2u)); let w = i32(p(3u));
    let sy = i32(oy * p(6u)) - i32(p(8u));
    let sx = i32(ox * p(7u)) - i32(p(9u));
    let ey = min(sy + i32(p(4u)), h + i32(p(8u)));
    let ex = min(sx + i32(p(5u)), w + i32(p(9u)));
    var win: Window;
    win.padded = f32(max(ey - sy, 0) * max(ex - sx, 0));
    win.y0 = max(sy, 0); win.y1 = max(min(max(ey, 0), h), win.y0);
    win.x0 = max(sx, 0); win.x1 = max(min(max(ex, 0), w), win.x0);
    return win;
}
fn area(win: Window) -> f32 { return f32((win.y1 - win.y0) * (win.x1 - win.x0)); }
";

fn params(geo: &Pool2d, offsets: [usize; 4]) -> Result<Vec<u32>> {
    let what = "Pooling";
    check_u32(what, geo.planes * geo.height * geo.width.max(1))?;
    let mut v = vec![
        check_u32(what, geo.planes * geo.out_h * geo.out_w)?,
        check_u32(what, geo.planes * geo.height * geo.width)?,
        geo.height as u32,
        geo.width as u32,
        geo.kernel[0] as u32,
        geo.kernel[1] as u32,
        geo.stride[0] as u32,
        geo.stride[1] as u32,
        geo.pad[0] as u32,
        geo.pad[1] as u32,
        geo.out_h as u32,
        geo.out_w as u32,
    ];
    for o in offsets {
        v.push(check_u32(what, o)?);
    }
    Ok(v)
}

fn divisor(op: PoolOp) -> &'static str {
    match op {
        PoolOp::Avg {
            count_include_pad: true,
        } => "win.padded",
        PoolOp::Avg {
            count_include_pad: false,
        } => "area(win)",
        _ => "1.0",
    }
}

/// Record `y = pool(x)`; `x` and `y` are contiguous from the given element offsets.
pub fn forward(geo: &Pool2d, op: PoolOp, x: (&Buffer, usize), y: (&Buffer, usize)) -> Result<()> {
    let params = params(geo, [x.1, y.1, 0, 0])?;
    let (init, step, finish) = match op {
        PoolOp::Max => (
            "bitcast<f32>(0xff800000u)",
            "if (v > acc) { acc = v; }",
            "if (area(win) == 0.0) { acc = 0.0; }",
        ),
        PoolOp::Lp(1) => ("0.0", "acc = acc + v;", ""),
        PoolOp::Lp(2) => ("0.0", "acc = acc + v * v;", "acc = f_sqrt(acc);"),
        PoolOp::Lp(_) => ("0.0", "acc = acc + v * v * v;", "acc = f_cbrt(acc);"),
        _ => (
            "0.0",
            "acc = acc + v;",
            "let d = DIV; if (d == 0.0) { acc = 0.0; } else { acc = acc / d; }",
        ),
    };
    let finish = finish.replace("DIV", divisor(op));
    let key = format!("pool|{op:?}");
    let source = || {
        format!(
            "{prelude}{WINDOW}{HELPERS}
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@compute @workgroup_size({WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    let g = (wid.y * nwg.x + wid.x) * {WORKGROUP}u + lid;
    if (g >= p(0u)) {{ return; }}
    let outs = p(10u) * p(11u);
    let plane = g / outs;
    let win = window((g % outs) / p(11u), g % p(11u));
    let base = p(12u) + plane * p(2u) * p(3u);
    var acc = {init};
    for (var iy = win.y0; iy < win.y1; iy = iy + 1) {{
        for (var ix = win.x0; ix < win.x1; ix = ix + 1) {{
            let v = x[base + u32(iy) * p(3u) + u32(ix)];
            {step}
        }}
    }}
    {finish}
    y[p(13u) + g] = acc;
}}
",
            prelude = prelude(2)
        )
    };
    let device = y.0.device();
    let groups = grid(device, (params[0] as u64).div_ceil(WORKGROUP as u64))?;
    device.dispatch(&key, source, &[x.0.raw(), y.0.raw()], &params, groups)
}

/// Record `dx` from the input `x`, the output `y` and the head gradient `dy`.
pub fn backward(
    geo: &Pool2d,
    op: PoolOp,
    x: (&Buffer, usize),
    y: (&Buffer, usize),
    dy: (&Buffer, usize),
    dx: (&Buffer, usize),
) -> Result<()> {
    if geo.stride.contains(&0) {
        return Err(GpuError::Kernel("Pooling: stride must be positive".into()));
    }
    let mut params = params(geo, [x.1, y.1, dy.1, dx.1])?;
    params.push(0);
    let contribution = match op {
        // The first input in row-major order that equals the output takes the gradient.
        PoolOp::Max => {
            "let peak = y[p(13u) + o];
             var first = -1;
             for (var wy = win.y0; wy < win.y1 && first < 0; wy = wy + 1) {
                 for (var wx = win.x0; wx < win.x1; wx = wx + 1) {
                     if (x[base + u32(wy) * p(3u) + u32(wx)] == peak) { first = wy * i32(p(3u)) + wx; break; }
                 }
             }
             if (first == iy * i32(p(3u)) + ix) { acc = acc + dy[p(14u) + o]; }"
        }
        // d y / d x = x^(p-1) / y^(p-1); a zero output passes no gradient.
        PoolOp::Lp(p) => match p {
            1 => "acc = acc + dy[p(14u) + o];",
            2 => "let yo = y[p(13u) + o]; if (yo != 0.0) { acc = acc + dy[p(14u) + o] * x[base + u32(iy) * p(3u) + u32(ix)] / yo; }",
            _ => "let yo = y[p(13u) + o]; let xi = x[base + u32(iy) * p(3u) + u32(ix)]; if (yo != 0.0) { acc = acc + dy[p(14u) + o] * xi * xi / (yo * yo); }",
        },
        _ => "let d = DIV; if (d != 0.0) { acc = acc + dy[p(14u) + o] / d; }",
    };
    let contribution = contribution.replace("DIV", divisor(op));
    let key = format!("pool_backward|{op:?}");
    let source = || {
        format!(
            "{prelude}{WINDOW}
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size({WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    let g = (wid.y * nwg.x + wid.x) * {WORKGROUP}u + lid;
    if (g >= p(1u)) {{ return; }}
    let hw = p(2u) * p(3u);
    let plane = g / hw;
    let iy = i32((g % hw) / p(3u));
    let ix = i32(g % p(3u));
    let base = p(12u) + plane * hw;
    let sy = i32(p(6u)); let sx = i32(p(7u));
    // Windows whose start lies in (i + pad - kernel, i + pad].
    let oy0 = max(0, (iy + i32(p(8u)) - i32(p(4u)) + sy) / sy);
    let oy1 = min(i32(p(10u)) - 1, (iy + i32(p(8u))) / sy);
    let ox0 = max(0, (ix + i32(p(9u)) - i32(p(5u)) + sx) / sx);
    let ox1 = min(i32(p(11u)) - 1, (ix + i32(p(9u))) / sx);
    var acc = 0.0;
    for (var oy = oy0; oy <= oy1; oy = oy + 1) {{
        for (var ox = ox0; ox <= ox1; ox = ox + 1) {{
            let win = window(u32(oy), u32(ox));
            if (iy < win.y0 || iy >= win.y1 || ix < win.x0 || ix >= win.x1) {{ continue; }}
            let o = plane * p(10u) * p(11u) + u32(oy) * p(11u) + u32(ox);
            {contribution}
        }}
    }}
    dx[p(15u) + g] = acc;
}}
",
            prelude = prelude(4)
        )
    };
    let device = dx.0.device();
    let groups = grid(device, (params[1] as u64).div_ceil(WORKGROUP as u64))?;
    device.dispatch(
        &key,
        source,
        &[x.0.raw(), y.0.raw(), dy.0.raw(), dx.0.raw()],
        &params,
        groups,
    )
}
