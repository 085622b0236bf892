//! Half precision on the CPU. Most CPU kernels compute in float32 or float64 only, so an
//! operator with a float16 or bfloat16 input runs through [`Widened`]. It converts the half
//! inputs to float32, runs the kernel and rounds each result to its output's dtype once. MXNet 1.9.1 has float16 CPU kernels for elementwise operators and rejects float16 in
//! others (`dot` on the CPU raises); here every operator accepts it.

use std::sync::Arc;

use crate::attrs::Attrs;
use crate::dtype::DType;
use crate::error::Result;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, Operator, TensorDesc};
use crate::ops::copy::copy_kernel;
use crate::Context;

fn is_half(dtype: DType) -> bool {
    matches!(dtype, DType::Float16 | DType::BFloat16)
}

/// Return `op`, wrapped in [`Widened`] when it runs on the CPU with a half-precision input that
/// its kernel does not compute itself.
pub(crate) fn for_inputs(op: &Arc<dyn Operator>, inputs: &[NDArray], on_gpu: bool) -> Option<Arc<dyn Operator>> {
    let needed = !on_gpu && inputs.iter().any(|x| is_half(x.dtype())) && !op.computes_half();
    needed.then(|| Arc::new(Widened(op.clone())) as Arc<dyn Operator>)
}

/// An operator whose half-precision inputs are converted to float32 around its CPU kernel.
/// Everything but `forward` is the inner operator's, so autograd, symbol export and views see
/// the operator itself.
pub struct Widened(Arc<dyn Operator>);

/// Return `x` converted to float32 if it is a half-precision array, else `x` itself.
fn widen(x: &NDArray) -> Result<NDArray> {
    if !is_half(x.dtype()) {
        return Ok(x.clone());
    }
    let wide = NDArray::for_overwrite(x.shape(), DType::Float32, Context::cpu())?;
    copy_kernel(x, &wide)?;
    Ok(wide)
}

impl Operator for Widened {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn num_outputs(&self) -> usize {
        self.0.num_outputs()
    }

    fn num_visible_outputs(&self) -> usize {
        self.0.num_visible_outputs()
    }

    fn mutate_inputs(&self) -> Vec<usize> {
        self.0.mutate_inputs()
    }

    /// Infer with the inner operator, or, where that rejects half precision, infer in float32
    /// and give float32 results the half dtype of the inputs.
    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let error = match self.0.infer(inputs) {
            Ok(descs) => return Ok(descs),
            Err(e) => e,
        };
        let Some(half) = inputs.iter().map(|d| d.dtype).find(|&t| is_half(t)) else { return Err(error) };
        let wide: Vec<TensorDesc> = inputs
            .iter()
            .map(|d| TensorDesc::new(d.shape.clone(), if is_half(d.dtype) { DType::Float32 } else { d.dtype }))
            .collect();
        let Ok(descs) = self.0.infer(&wide) else { return Err(error) };
        Ok(descs
            .into_iter()
            .map(|d| if d.dtype == DType::Float32 { TensorDesc::new(d.shape, half) } else { d })
            .collect())
    }

    fn view(&self, input: &NDArray) -> Option<mxnet_cpu::Layout> {
        self.0.view(input)
    }

    fn forward(&self, ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let wide: Vec<NDArray> = inputs.iter().map(widen).collect::<Result<_>>()?;
        let descs: Vec<TensorDesc> = wide.iter().map(TensorDesc::of).collect();
        // Zeroed, because kernels that accumulate rely on zeroed new outputs.
        let results = self
            .0
            .infer(&descs)?
            .iter()
            .map(|d| NDArray::zeros(&d.shape, d.dtype, Context::cpu()))
            .collect::<Result<Vec<_>>>()?;
        self.0.forward(ctx, &wide, &results)?;
        for (result, out) in results.iter().zip(outputs) {
            copy_kernel(result, out)?;
        }
        // Updated inputs (optimizer states, BatchNorm's running statistics) go back too.
        for i in self.0.mutate_inputs() {
            if let (Some(x), Some(w)) = (inputs.get(i), wide.get(i)) {
                if !x.shares_storage(w) {
                    copy_kernel(w, x)?;
                }
            }
        }
        Ok(())
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        self.0.backward(g)
    }

    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn differentiable(&self) -> bool {
        self.0.differentiable()
    }

    fn is_random(&self) -> bool {
        self.0.is_random()
    }

    fn attrs(&self) -> Attrs {
        self.0.attrs()
    }
}
