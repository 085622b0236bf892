//! Checks of input values that the CPU kernels validate with an error. A GPU kernel cannot
//! raise, so a check records a report on the device, which the next synchronisation raises.

use super::{check_u32, grid, prelude, WORKGROUP};
use crate::{Buffer, Result};

/// Record a check that the `n` float32 values of `x` (a buffer and the element offset of the
/// first value) lie in `[lo, hi)`, values equal to `skip` excepted (compared as integers, as
/// labels are). A violation raises `message` at the next synchronisation of the device, with
/// `{value}` replaced by one offending value.
pub fn check_range(
    x: (&Buffer, usize),
    n: usize,
    lo: f32,
    hi: f32,
    skip: Option<f32>,
    message: &str,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let op = "check_range";
    let device = x.0.device();
    let (code, flags) = device.report_slot(message);
    let params = vec![
        check_u32(op, n)?,
        check_u32(op, x.1)?,
        lo.to_bits(),
        hi.to_bits(),
        skip.is_some() as u32,
        skip.unwrap_or(0.0).to_bits(),
        code,
    ];
    let source = || {
        format!(
            "{prelude}
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> flags: array<atomic<u32>>;
@compute @workgroup_size({WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    let g = (wid.y * nwg.x + wid.x) * {WORKGROUP}u + lid;
    if (g >= p(0u)) {{ return; }}
    let v = x[p(1u) + g];
    let skipped = p(4u) != 0u && i32(v) == i32(pf(5u));
    // NaN fails both comparisons, so it is reported too.
    if (!(v >= pf(2u) && v < pf(3u)) && !skipped) {{
        atomicMax(&flags[0], p(6u));
        atomicStore(&flags[1], bitcast<u32>(v));
    }}
}}
",
            prelude = prelude(2),
        )
    };
    let groups = grid(device, (n as u64).div_ceil(WORKGROUP as u64))?;
    device.dispatch("check_range", source, &[x.0.raw(), flags], &params, groups)?;
    device.arm_reports();
    Ok(())
}
