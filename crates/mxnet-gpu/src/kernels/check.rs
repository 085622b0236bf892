//! Checks of input values that the CPU kernels validate with an error. A GPU kernel cannot
//! raise, so a check writes what it found to a small buffer that the operator reads back.

use super::{check_u32, grid, prelude, WORKGROUP};
use crate::{Buffer, Result};

/// Record a check that the `n` float32 values of `x` (a buffer and the element offset of the
/// first value) lie in `[lo, hi)`, values whose integer part equals `skip` excepted (labels
/// compare that way). `flags` is two zeroed 32-bit words. A value outside the range sets the
/// first to 1 and the second to the value's bits. When several values are outside, the
/// words describe one of them.
pub fn check_range(
    x: (&Buffer, usize),
    n: usize,
    lo: f32,
    hi: f32,
    skip: Option<f32>,
    flags: &Buffer,
) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let op = "check_range";
    let params = vec![
        check_u32(op, n)?,
        check_u32(op, x.1)?,
        lo.to_bits(),
        hi.to_bits(),
        skip.is_some() as u32,
        skip.unwrap_or(0.0).to_bits(),
    ];
    let source = || {
        format!(
            "{prelude}
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> flags: array<atomic<u32>>;
// Rust's `as` conversion to an integer: NaN gives 0 and values past the range saturate.
fn to_int(v: f32) -> i32 {{
    if (is_nan(v)) {{ return 0; }}
    if (v >= 2147483648.0) {{ return 2147483647; }}
    if (v <= -2147483648.0) {{ return -2147483647 - 1; }}
    return i32(v);
}}
@compute @workgroup_size({WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {{
    let g = (wid.y * nwg.x + wid.x) * {WORKGROUP}u + lid;
    if (g >= p(0u)) {{ return; }}
    let v = x[p(1u) + g];
    let skipped = p(4u) != 0u && to_int(v) == to_int(pf(5u));
    // NaN fails both comparisons, so it is reported too.
    if (!(v >= pf(2u) && v < pf(3u)) && !skipped) {{
        // The first thread to claim the flag writes its value, so the two words agree. The
        // weak exchange may fail without a reason, so it is retried while the flag is clear.
        loop {{
            let claimed = atomicCompareExchangeWeak(&flags[0], 0u, 1u);
            if (claimed.exchanged) {{
                atomicStore(&flags[1], bitcast<u32>(v));
                break;
            }}
            if (claimed.old_value != 0u) {{ break; }}
        }}
    }}
}}
",
            prelude = prelude(2),
        )
    };
    let device = x.0.device();
    let groups = grid(device, (n as u64).div_ceil(WORKGROUP as u64))?;
    device.dispatch(
        "check_range",
        source,
        &[x.0.raw(), flags.raw()],
        &params,
        groups,
    )
}
