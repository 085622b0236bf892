//! Conversions between NDArrays and numpy arrays: copies and zero-copy sharing.

use std::sync::Arc;

use mxnet_core::storage::Storage;
use mxnet_core::{dispatch_all, Context, DType, Error, Layout, NDArray};
use numpy::{PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::IntoPyResult;

fn numpy_typestr(dtype: DType) -> Result<&'static str, Error> {
    Ok(match dtype {
        DType::Float32 => "<f4",
        DType::Float64 => "<f8",
        DType::Float16 => "<f2",
        DType::UInt8 => "|u1",
        DType::Int8 => "|i1",
        DType::Int32 => "<i4",
        DType::Int64 => "<i8",
        DType::Bool => "|b1",
        DType::BFloat16 => {
            return Err(Error::Type(
                "bfloat16 arrays have no numpy dtype and cannot be shared without a copy; \
                 use asnumpy() (which returns float32) or astype('float32')"
                    .into(),
            ))
        }
    })
}

/// `__array_interface__` describing `x`'s memory, after waiting for pending writes.
pub fn array_interface<'py>(py: Python<'py>, x: &NDArray) -> PyResult<Bound<'py, PyDict>> {
    if x.context() != Context::cpu() {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "only CPU arrays can be shared with numpy; this array is on {}, copy it with as_in_context(mx.cpu())",
            x.context()
        )));
    }
    let typestr = numpy_typestr(x.dtype()).py()?;
    crate::gil::wait_to_read(py, x).py()?;
    let item = x.dtype().size() as isize;
    let ptr = x.storage().as_ptr() as usize + x.layout().offset * x.dtype().size();
    let d = PyDict::new(py);
    // Broadcast views are exported read-only, like numpy's own broadcast_to results.
    d.set_item("data", (ptr, x.layout().has_overlap()))?;
    d.set_item("shape", pyo3::types::PyTuple::new(py, x.shape())?)?;
    d.set_item("strides", pyo3::types::PyTuple::new(py, x.layout().strides.iter().map(|s| s * item))?)?;
    d.set_item("typestr", typestr)?;
    d.set_item("version", 3)?;
    Ok(d)
}

/// Copy `x` into a new numpy array (bfloat16 becomes float32 because numpy has no bfloat16).
pub fn to_numpy<'py>(py: Python<'py>, x: &NDArray) -> PyResult<Bound<'py, PyAny>> {
    if x.context().is_gpu() {
        let host = x.to_context(Context::cpu()).py()?;
        return to_numpy(py, &host);
    }
    crate::gil::wait_to_read(py, x).py()?;
    let np = py.import("numpy")?;
    let out_dtype = if x.dtype() == DType::BFloat16 { "float32" } else { x.dtype().name() };
    let out = np.call_method1("empty", (x.shape().to_vec(), out_dtype))?;
    let out_arr = out.downcast::<PyUntypedArray>()?;
    // SAFETY: `out` is a fresh C-contiguous numpy array of `x.size()` elements of the dtype
    // written below, and we waited for pending writes to `x`.
    unsafe {
        let dst = (*out_arr.as_array_ptr()).data as *mut u8;
        if x.dtype() == DType::BFloat16 {
            let values = mxnet_cpu::strided::gather(x.data::<half::bf16>(), x.layout());
            let dst = std::slice::from_raw_parts_mut(dst as *mut f32, values.len());
            for (d, v) in dst.iter_mut().zip(values) {
                *d = v.to_f32();
            }
        } else {
            dispatch_all!(x.dtype(), T => {
                let values = mxnet_cpu::strided::gather(x.data::<T>(), x.layout());
                std::slice::from_raw_parts_mut(dst as *mut T, values.len()).copy_from_slice(&values);
            });
        }
    }
    Ok(out)
}

fn check_numpy<'py>(arr: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyUntypedArray>> {
    Ok(arr.downcast::<PyUntypedArray>()?.clone())
}

/// Copy a C-contiguous numpy array whose element type is `dtype` into a new NDArray.
/// For `bfloat16`, `arr` contains the raw uint16 bits.
pub fn from_numpy_copy(arr: &Bound<'_, PyAny>, dtype: DType) -> PyResult<NDArray> {
    let a = check_numpy(arr)?;
    if !a.is_c_contiguous() {
        return Err(pyo3::exceptions::PyValueError::new_err("from_numpy: expected a C-contiguous array"));
    }
    let item: usize = a.dtype().itemsize();
    if item != dtype.size() {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "from_numpy: numpy itemsize {item} does not match dtype {dtype}"
        )));
    }
    let shape = a.shape().to_vec();
    let out = NDArray::zeros(&shape, dtype, Context::cpu()).py()?;
    let nbytes = out.size() * item;
    // SAFETY: `out` is new and private to this function; the numpy buffer contains `nbytes`
    // bytes because it is C-contiguous with this shape and itemsize.
    unsafe {
        let src = (*a.as_array_ptr()).data as *const u8;
        std::ptr::copy_nonoverlapping(src, out.storage().as_ptr(), nbytes);
    }
    Ok(out)
}

/// Wrap numpy memory without copying. The NDArray keeps the numpy array alive.
pub fn from_numpy_shared(arr: &Bound<'_, PyAny>, dtype: DType) -> PyResult<NDArray> {
    let a = check_numpy(arr)?;
    let flags = arr.getattr("flags")?;
    let c_contig: bool = flags.getattr("c_contiguous")?.extract()?;
    let writeable: bool = flags.getattr("writeable")?.extract()?;
    let aligned: bool = flags.getattr("aligned")?.extract()?;
    if !c_contig {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "from_numpy(zero_copy=True): the array is not C-contiguous; pass np.ascontiguousarray(a) \
             or use zero_copy=False to copy",
        ));
    }
    if !writeable || !aligned {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "from_numpy(zero_copy=True): the array must be writeable and aligned; use zero_copy=False to copy",
        ));
    }
    if a.dtype().itemsize() != dtype.size() {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "from_numpy(zero_copy=True): numpy dtype does not match {dtype}"
        )));
    }
    let shape = a.shape().to_vec();
    let nbytes = shape.iter().product::<usize>() * dtype.size();
    let owner: Py<PyAny> = arr.clone().unbind();
    // SAFETY: the numpy array stays alive as long as the storage (it owns a reference), its
    // buffer is C-contiguous, aligned and `nbytes` long.
    let storage = unsafe {
        let ptr = (*a.as_array_ptr()).data as *mut u8;
        Storage::from_foreign(ptr, nbytes, Box::new(owner))
    };
    Ok(NDArray::from_storage(Arc::new(storage), Layout::contiguous(&shape), dtype, Context::cpu()))
}

