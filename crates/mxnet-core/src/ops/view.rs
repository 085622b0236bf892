//! A generic operator for view operators with one input: the output is the input's storage
//! under another layout (transpose, swapaxes, expand_dims, squeeze, flip, slice, ...).

use mxnet_cpu::Layout;

use crate::attrs::Attrs;
use crate::error::Result;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, Operator, TensorDesc};

/// The layout mapping of a view operator, from its input's layout to its output's.
pub trait ViewMap: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Compute the output layout over the input's storage. Errors name the operator and the
    /// shapes.
    fn map(&self, input: &Layout) -> Result<Layout>;

    /// Whether the output keeps the input's row-major element order, so that when `map` fails
    /// on a strided input (Flatten of dims that are not packed) a row-major copy is the result.
    fn copies_in_order(&self) -> bool {
        false
    }

    /// Gradient of the input from the output gradient `dy`.
    fn grad(&self, x: &NDArray, dy: &NDArray) -> Result<NDArray>;

    fn attrs(&self) -> Attrs;
}

pub struct ViewOp<M: ViewMap>(pub M);

impl<M: ViewMap> Operator for ViewOp<M> {
    fn computes_half(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let x = &inputs[0];
        let layout = self.0.map(&Layout::contiguous(&x.shape))?;
        Ok(vec![TensorDesc::new(layout.shape, x.dtype)])
    }

    fn view(&self, input: &NDArray) -> Option<Layout> {
        self.0.map(input.layout()).ok()
    }

    super::gpu_through_copies!();

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        match self.0.map(x.layout()) {
            // On a GPU through `copy_for`, so that the kernel's limits name this operator.
            Ok(layout) if out.context().is_gpu() => crate::gpu::copy_for(self.0.name(), &x.with_layout(layout), out),
            Ok(layout) => super::copy::copy_kernel(&x.with_layout(layout), out),
            Err(e) if !self.0.copies_in_order() => Err(e),
            Err(_) => {
                let flat = out.with_layout(Layout { offset: out.layout().offset, ..Layout::contiguous(x.shape()) });
                super::copy::copy_kernel(x, &flat)
            }
        }
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        Ok(vec![Some(self.0.grad(&g.inputs[0], &g.out_grads[0])?)])
    }

    fn attrs(&self) -> Attrs {
        self.0.attrs()
    }
}

/// Normalise a possibly negative `axis` of an `ndim`-dimensional input for operators that
/// index that axis, which a 0-d input does not have.
pub fn axis_index(op: &str, axis: i64, ndim: usize) -> Result<usize> {
    if ndim == 0 {
        return Err(crate::Error::Value(format!(
            "{op}: the input is 0-d and has no axis {axis}; reshape it to shape (1,) first"
        )));
    }
    super::reduce::normalize_axis(op, axis, ndim)
}

#[cfg(test)]
mod tests {
    use super::axis_index;

    #[test]
    fn axis_index_rejects_zero_dim_input() {
        assert_eq!(axis_index("op", -1, 3).unwrap(), 2);
        let msg = axis_index("take", 0, 0).unwrap_err().to_string();
        assert!(msg.contains("take"), "{msg}");
        assert!(msg.contains("0-d"), "{msg}");
    }
}
