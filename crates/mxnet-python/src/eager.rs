//! The eager call path: operator functions (`mx.nd.relu(x)`) and arithmetic methods (`a + b`)
//! that read their arguments, run the operator and wrap its outputs in Python `NDArray`s in one
//! native call. Each step done in Python instead (argument loops, the attribute list, the
//! wrapper object) cost more than the operation itself for small arrays.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mxnet_core::{NDArray, Operator, Registry, Views};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use pyo3::{ffi, intern};
use smallvec::SmallVec;

use crate::errors;
use crate::ndarray::PyNDArray;

/// Python's `mxnet.ndarray.NDArray`, registered when that module is imported.
static ARRAY_CLASS: GILOnceCell<Py<PyType>> = GILOnceCell::new();

/// Keyword arguments that MXNet's operator functions accept and that carry no attribute.
const IGNORED_KWARGS: [&str; 2] = ["name", "ctx"];

/// Attribute sets remembered per operator function. Beyond this many the cache starts over:
/// a call with changing attributes (a loop over `slice_axis` bounds) must not grow memory.
const MAX_CACHED_OPS: usize = 64;

/// Register the Python `NDArray` class whose instances the eager path returns.
#[pyfunction]
pub fn set_array_class(py: Python<'_>, cls: Bound<'_, PyType>) -> PyResult<()> {
    // A second import (importlib.reload) keeps the first class, which existing arrays use.
    let _ = ARRAY_CLASS.set(py, cls.unbind());
    Ok(())
}

fn array_class(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    ARRAY_CLASS
        .get(py)
        .map(|c| c.bind(py))
        .ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("mxnet._native: import mxnet before calling operators"))
}

/// Wrap `x` in a new Python `NDArray`, as `NDArray.__new__(NDArray)` followed by setting `_h`.
/// The class is a plain Python class, so its allocator is the generic one. Calling that
/// directly skips `object.__new__`'s argument tuple and checks, about 0.1 us per array.
pub fn wrap(py: Python<'_>, x: NDArray) -> PyResult<PyObject> {
    let cls = array_class(py)?;
    let handle = Bound::new(py, PyNDArray::new(x))?;
    // SAFETY: `cls` is a live type object. PyType_GenericAlloc returns a new reference (or
    // NULL with an exception set), with every slot NULL, as object.__new__ leaves it.
    let obj = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyType_GenericAlloc(cls.as_ptr().cast(), 0))? };
    obj.setattr(intern!(py, "_h"), handle)?;
    Ok(obj.unbind())
}

/// Wrap the outputs of an operator call: one array, or a list when there are several.
fn wrap_outputs(py: Python<'_>, mut outputs: Vec<NDArray>) -> PyResult<PyObject> {
    if outputs.len() == 1 {
        return wrap(py, outputs.swap_remove(0));
    }
    let items = outputs.into_iter().map(|x| wrap(py, x)).collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, items)?.into_any().unbind())
}

/// Run `op` on `inputs`: at once while holding the GIL if that takes little time (see
/// `mxnet_core::try_invoke_quick`), otherwise through the engine with the GIL released.
/// Outputs of view operators get their own buffers, as MXNet's operators return.
fn run(py: Python<'_>, op: &Arc<dyn Operator>, inputs: &[NDArray]) -> PyResult<Vec<NDArray>> {
    if let Some(outputs) = errors::guarded(|| mxnet_core::try_invoke_quick(op, inputs, Views::Copy))? {
        return Ok(outputs);
    }
    crate::gil::without_gil(py, || errors::guarded(|| mxnet_core::invoke_for_user(op.clone(), inputs, None, Views::Copy)))
}

/// An operator created once without attributes, so that the eager hot path (`a + b`) skips
/// the name lookup and the string conversion on each call.
#[pyclass(name = "Operator", module = "mxnet._native", frozen)]
pub struct PyOperator {
    op: Arc<dyn Operator>,
}

/// Return operator `name` created without attributes, for [`invoke_binary`].
#[pyfunction]
pub fn operator(name: &str) -> PyResult<PyOperator> {
    errors::guarded(|| Registry::get().create(name, &Vec::new())).map(|op| PyOperator { op })
}

/// `NDArray(invoke(name, [a, b], [], None)[0])` for operators with two inputs, no attributes
/// and one output (`a + b` and the other NDArray operators), given as an [`operator`].
#[pyfunction]
pub fn invoke_binary(py: Python<'_>, op: &Bound<'_, PyOperator>, a: PyRef<'_, PyNDArray>, b: PyRef<'_, PyNDArray>) -> PyResult<PyObject> {
    let inputs = [a.inner.clone(), b.inner.clone()];
    let mut outputs = run(py, &op.get().op, &inputs)?;
    wrap(py, outputs.swap_remove(0))
}

// The native side of an operator function such as `mx.nd.FullyConnected`. It serves the
// common call, where the inputs come first as `NDArray`s and the attributes as keywords,
// and hands every other form (inputs by keyword, `out=`, positional attributes, variadic
// inputs) to the Python function `general`, which accepts them all.
// Each instance has a `__dict__`, where Python sets the function's `__name__` and `__doc__`.
#[pyclass(name = "OpFunction", module = "mxnet._native", frozen, dict)]
pub struct OpFunction {
    name: String,
    /// Names of the inputs, in order.
    inputs: Vec<String>,
    variadic: bool,
    general: Py<PyAny>,
    /// `mxnet.base.attr_string`, for attribute values other than numbers, strings and None.
    attr_string: Py<PyAny>,
    ops: Mutex<HashMap<Vec<(String, String)>, Arc<dyn Operator>>>,
}

#[pymethods]
impl OpFunction {
    #[new]
    fn new(name: String, inputs: Vec<String>, variadic: bool, general: Py<PyAny>, attr_string: Py<PyAny>) -> Self {
        OpFunction { name, inputs, variadic, general, attr_string, ops: Mutex::new(HashMap::new()) }
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn __call__(&self, py: Python<'_>, args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<PyObject> {
        match self.common_call(py, args, kwargs)? {
            Some((inputs, attrs)) => {
                let op = self.operator(attrs)?;
                let outputs = run(py, &op, &inputs)?;
                wrap_outputs(py, outputs)
            }
            None => Ok(self.general.call(py, args, kwargs)?),
        }
    }

    /// Return the function itself when read as a class attribute, as a built-in function does:
    /// it takes no `self`. Being a descriptor also makes `inspect.isroutine` true, so `help()`
    /// and `inspect` list operator functions as functions.
    fn __get__(slf: Py<Self>, _instance: &Bound<'_, PyAny>, _owner: Option<&Bound<'_, PyAny>>) -> Py<Self> {
        slf
    }

    /// Pickle by name, as a function is: the unpickler looks up `__module__`.`__name__`.
    fn __reduce__(&self) -> &str {
        &self.name
    }

    fn __copy__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __deepcopy__(slf: Py<Self>, _memo: &Bound<'_, PyAny>) -> Py<Self> {
        slf
    }

    fn __repr__(&self) -> String {
        format!("<operator function {}>", self.name)
    }
}

impl OpFunction {
    /// Read the inputs and attributes of a call in the common form, or return `None` for the
    /// Python function to handle.
    #[allow(clippy::type_complexity)]
    fn common_call(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Option<(SmallVec<[NDArray; 4]>, Vec<(String, String)>)>> {
        if self.variadic || args.len() > self.inputs.len() {
            return Ok(None);
        }
        let cls = array_class(py)?;
        let mut inputs = SmallVec::new();
        for arg in args.iter() {
            // Subclasses and None (an absent optional input) take the general path.
            if !arg.get_type().is(cls) {
                return Ok(None);
            }
            let handle = arg.getattr(intern!(py, "_h"))?;
            inputs.push(handle.downcast::<PyNDArray>()?.borrow().inner.clone());
        }
        let mut attrs = Vec::new();
        if let Some(kwargs) = kwargs {
            for (key, value) in kwargs.iter() {
                let key = key.downcast_into::<PyString>()?;
                let key = key.to_cow()?;
                let key = key.as_ref();
                if key == "out" || self.inputs.iter().any(|name| name == key) {
                    return Ok(None);
                }
                if !IGNORED_KWARGS.contains(&key) {
                    attrs.push((key.to_string(), self.attr_value(py, &value)?));
                }
            }
        }
        Ok(Some((inputs, attrs)))
    }

    /// MXNet's string form of an attribute value, as the Python function writes it.
    fn attr_value(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<String> {
        if let Ok(s) = value.downcast_exact::<PyString>() {
            return Ok(s.to_cow()?.into_owned());
        }
        if value.is_none() || value.is_exact_instance_of::<PyInt>() || value.is_exact_instance_of::<PyFloat>()
            || value.is_exact_instance_of::<PyBool>()
        {
            return Ok(value.str()?.to_cow()?.into_owned());
        }
        self.attr_string.call1(py, (value,))?.extract(py)
    }

    /// Return the operator for these attributes, created once per attribute set.
    fn operator(&self, attrs: Vec<(String, String)>) -> PyResult<Arc<dyn Operator>> {
        if attrs.is_empty() {
            // The registry keeps operators without attributes.
            return errors::guarded(|| Registry::get().create(&self.name, &attrs));
        }
        let mut ops = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(op) = ops.get(&attrs) {
            return Ok(op.clone());
        }
        // Invalid attributes raise here, each time, and are never cached.
        let op = errors::guarded(|| Registry::get().create(&self.name, &attrs))?;
        if ops.len() >= MAX_CACHED_OPS {
            ops.clear();
        }
        ops.insert(attrs, op.clone());
        Ok(op)
    }
}
