//! Small helpers that gradient functions share.

use crate::error::Result;
use crate::imperative::call1;
use crate::ndarray::NDArray;

/// Call a scalar operator such as `_mul_scalar` on `x`.
pub fn scalar_op(name: &str, x: &NDArray, scalar: f64) -> Result<NDArray> {
    call1(name, &[x], &[("scalar", super::scalar::format_scalar(scalar))])
}

/// Sum a broadcast gradient back to `shape` (the shape of the input that was broadcast).
pub fn reduce_to(g: &NDArray, shape: &[usize]) -> Result<NDArray> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    call1("_sum_to", &[g], &[("shape", crate::attrs::tuple_string(shape))])
}

/// Elementwise product with broadcasting, the building block of most gradients.
pub fn mul(a: &NDArray, b: &NDArray) -> Result<NDArray> {
    call1("broadcast_mul", &[a, b], &[])
}

/// Elementwise quotient with broadcasting.
pub fn div(a: &NDArray, b: &NDArray) -> Result<NDArray> {
    call1("broadcast_div", &[a, b], &[])
}
