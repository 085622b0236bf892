//! The native NDArray handle wrapped by `mxnet.ndarray.NDArray`.

use mxnet_core::autograd::{self, AgEntry, GradReq};
use mxnet_core::{Context, NDArray};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::errors::IntoPyResult;

/// A native array handle. Python's `NDArray` class keeps one in `_h`.
#[pyclass(name = "NDArrayHandle", module = "mxnet._native")]
pub struct PyNDArray {
    pub inner: NDArray,
}

impl PyNDArray {
    pub fn new(inner: NDArray) -> Self {
        PyNDArray { inner }
    }
}

pub fn ctx_tuple(ctx: Context) -> (i32, u32) {
    (ctx.device_type(), ctx.device_id())
}

#[pymethods]
impl PyNDArray {
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.inner.shape())
    }

    #[getter]
    fn dtype(&self) -> &'static str {
        self.inner.dtype().name()
    }

    #[getter]
    fn size(&self) -> usize {
        self.inner.size()
    }

    #[getter]
    fn ndim(&self) -> usize {
        self.inner.ndim()
    }

    /// `(device_type, device_id)` with MXNet's codes (1 = cpu, 2 = gpu).
    #[getter]
    fn context(&self) -> (i32, u32) {
        ctx_tuple(self.inner.context())
    }

    /// Strides in elements.
    #[getter]
    fn strides(&self) -> Vec<isize> {
        self.inner.layout().strides.clone()
    }

    /// Offset of the first element in the storage, in elements.
    #[getter]
    fn offset(&self) -> usize {
        self.inner.layout().offset
    }

    /// Return whether several indices share one element (a broadcast view), which makes it read-only.
    #[getter]
    fn has_overlap(&self) -> bool {
        self.inner.layout().has_overlap()
    }

    #[getter]
    fn is_contiguous(&self) -> bool {
        self.inner.is_contiguous()
    }

    /// Number of completed writes to the storage (MXNet's `NDArray.version`).
    #[getter]
    fn version(&self) -> u64 {
        self.inner.var().version()
    }

    fn wait_to_read(&self, py: Python<'_>) -> PyResult<()> {
        crate::gil::wait_to_read(py, &self.inner).py()
    }

    fn wait_to_write(&self, py: Python<'_>) -> PyResult<()> {
        let x = self.inner.clone();
        crate::gil::without_gil(py, move || x.wait_to_write()).py()
    }

    /// Return whether both handles view the same storage.
    fn shares_storage(&self, other: &PyNDArray) -> bool {
        self.inner.shares_storage(&other.inner)
    }

    fn detach(&self) -> PyNDArray {
        PyNDArray::new(self.inner.detach())
    }

    /// Return a second handle of the same array (shared autograd entry), used by `out=` rebinding.
    fn clone_handle(&self) -> PyNDArray {
        PyNDArray::new(self.inner.clone())
    }

    /// Copy the autograd entry of `other` onto this handle (after an `out=` write under record).
    fn take_autograd_from(&mut self, other: &PyNDArray) {
        self.inner.set_autograd_entry(other.inner.autograd_entry().cloned());
    }

    fn attach_grad(&mut self, grad_req: &str) -> PyResult<()> {
        let req = GradReq::parse(grad_req).py()?;
        autograd::attach_grad(&mut self.inner, req).py()
    }

    fn mark_variable(&mut self, grad: &PyNDArray, grad_req: &str) -> PyResult<()> {
        let req = GradReq::parse(grad_req).py()?;
        autograd::mark_variable(&mut self.inner, grad.inner.clone(), req);
        Ok(())
    }

    #[getter]
    fn grad(&self) -> Option<PyNDArray> {
        match self.inner.autograd_entry() {
            Some(AgEntry::Leaf(leaf)) => leaf.grad().map(PyNDArray::new),
            _ => None,
        }
    }

    #[getter]
    fn grad_req(&self) -> &'static str {
        match self.inner.autograd_entry() {
            Some(AgEntry::Leaf(leaf)) => leaf.grad_req().name(),
            _ => "null",
        }
    }

    /// Gluon's stale-gradient flag: set by backward, cleared by `Trainer.step`.
    #[getter]
    fn fresh_grad(&self) -> bool {
        match self.inner.autograd_entry() {
            Some(AgEntry::Leaf(leaf)) => leaf.fresh_grad(),
            _ => false,
        }
    }

    #[setter]
    fn set_fresh_grad(&self, fresh: bool) {
        if let Some(AgEntry::Leaf(leaf)) = self.inner.autograd_entry() {
            leaf.set_fresh_grad(fresh);
        }
    }

    /// Return whether the array is in a recorded graph (an output of a recorded op or a leaf).
    #[getter]
    fn in_graph(&self) -> bool {
        self.inner.autograd_entry().is_some()
    }

    /// numpy's `__array_interface__` for a zero-copy view; waits for pending writes first.
    fn array_interface<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::convert::array_interface(py, &self.inner)
    }

    fn asnumpy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        crate::convert::to_numpy(py, &self.inner)
    }
}
