//! `autograd.Function`: a user-defined Python gradient recorded as a graph node.

use mxnet_core::{Error, GradContext, NDArray, OpContext, Operator, Result, TensorDesc};
use pyo3::prelude::*;

use crate::ndarray::PyNDArray;

/// A recorded call of a Python `Function`; its gradient calls the Python `backward`.
pub struct PyFunctionOp {
    pub backward: Py<PyAny>,
}

impl Operator for PyFunctionOp {
    fn name(&self) -> &'static str {
        "_CustomFunction"
    }

    fn infer(&self, _inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        Err(Error::MXNet("_CustomFunction is recorded from Python and never invoked directly".into()))
    }

    fn forward(&self, _ctx: &OpContext, _inputs: &[NDArray], _outputs: &[NDArray]) -> Result<()> {
        Err(Error::MXNet("_CustomFunction is recorded from Python and never invoked directly".into()))
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        crate::gil::with_gil(|py| -> PyResult<Vec<Option<NDArray>>> {
            let grads: Vec<PyNDArray> = g.out_grads.iter().map(|x| PyNDArray::new(x.clone())).collect();
            let result = self.backward.call1(py, (grads,))?;
            let items: Vec<Option<PyRef<PyNDArray>>> = result.extract(py)?;
            if items.len() != g.inputs.len() {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "Function.backward returned {} gradients for {} inputs; return one per input of forward",
                    items.len(),
                    g.inputs.len()
                )));
            }
            Ok(items.into_iter().map(|x| x.map(|h| h.inner.clone())).collect())
        })
        .map_err(|e| Error::MXNet(format!("autograd.Function backward failed: {e}")))
    }
}
