//! DLPack exchange (unversioned capsules, DLPack 0.8 struct layout).
//!
//! Export: `to_dlpack(x, for_write)` returns a PyCapsule named "dltensor" that points at a
//! `DLManagedTensor`. The manager behind it holds a clone of the NDArray, so the storage lives
//! until the consumer calls the deleter (or, when nobody consumed the capsule, until the capsule
//! is destroyed).
//!
//! Import: `from_dlpack(capsule, copy)` checks the tensor, renames the capsule to
//! "used_dltensor" and wraps the producer's memory without copying. The storage owns the
//! `DLManagedTensor` and calls the producer's deleter when the last view of it goes away.

use std::ffi::{c_void, CStr};
use std::sync::Arc;

use mxnet_core::imperative::copy_into;
use mxnet_core::storage::Storage;
use mxnet_core::{Context, DType, Layout, NDArray};
use pyo3::exceptions::{PyBufferError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::ffi;

use crate::errors::IntoPyResult;
use crate::ndarray::PyNDArray;

const CAPSULE_NAME: &CStr = c"dltensor";
const USED_CAPSULE_NAME: &CStr = c"used_dltensor";

/// `DLDeviceType::kDLCPU`.
pub const DL_CPU: i32 = 1;

/// `DLDataTypeCode` values.
mod code {
    pub const INT: u8 = 0;
    pub const UINT: u8 = 1;
    pub const FLOAT: u8 = 2;
    pub const BFLOAT: u8 = 4;
    pub const BOOL: u8 = 6;
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DLDevice {
    pub device_type: i32,
    pub device_id: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DLDataType {
    pub code: u8,
    pub bits: u8,
    pub lanes: u16,
}

#[repr(C)]
pub struct DLTensor {
    pub data: *mut c_void,
    pub device: DLDevice,
    pub ndim: i32,
    pub dtype: DLDataType,
    pub shape: *mut i64,
    /// In elements; null means C-contiguous.
    pub strides: *mut i64,
    pub byte_offset: u64,
}

#[repr(C)]
pub struct DLManagedTensor {
    pub dl_tensor: DLTensor,
    pub manager_ctx: *mut c_void,
    pub deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

pub fn dl_dtype(dtype: DType) -> DLDataType {
    let (code, bits) = match dtype {
        DType::Float32 => (code::FLOAT, 32),
        DType::Float64 => (code::FLOAT, 64),
        DType::Float16 => (code::FLOAT, 16),
        DType::BFloat16 => (code::BFLOAT, 16),
        DType::UInt8 => (code::UINT, 8),
        DType::Int8 => (code::INT, 8),
        DType::Int32 => (code::INT, 32),
        DType::Int64 => (code::INT, 64),
        DType::Bool => (code::BOOL, 8),
    };
    DLDataType { code, bits, lanes: 1 }
}

pub fn from_dl_dtype(t: DLDataType) -> Option<DType> {
    if t.lanes != 1 {
        return None;
    }
    Some(match (t.code, t.bits) {
        (code::FLOAT, 32) => DType::Float32,
        (code::FLOAT, 64) => DType::Float64,
        (code::FLOAT, 16) => DType::Float16,
        (code::BFLOAT, 16) => DType::BFloat16,
        (code::UINT, 8) => DType::UInt8,
        (code::INT, 8) => DType::Int8,
        (code::INT, 32) => DType::Int32,
        (code::INT, 64) => DType::Int64,
        (code::BOOL, 8) => DType::Bool,
        _ => return None,
    })
}

/// What our exported `DLManagedTensor` points into. `tensor` comes first so that a pointer to the
/// manager is also a valid `*mut DLManagedTensor`; `manager_ctx` points back at the manager too.
#[repr(C)]
struct ExportManager {
    tensor: DLManagedTensor,
    shape: Vec<i64>,
    strides: Vec<i64>,
    /// Keeps the storage alive while the consumer uses it.
    #[allow(dead_code)]
    array: NDArray,
}

unsafe extern "C" fn export_deleter(managed: *mut DLManagedTensor) {
    if managed.is_null() {
        return;
    }
    // SAFETY: `manager_ctx` was set by `to_dlpack` to a leaked `Box<ExportManager>`, and DLPack
    // calls the deleter at most once.
    unsafe {
        let manager = (*managed).manager_ctx as *mut ExportManager;
        drop(Box::from_raw(manager));
    }
}

/// Destructor of capsules we produce: free the tensor unless a consumer took it.
unsafe extern "C" fn capsule_destructor(capsule: *mut ffi::PyObject) {
    // SAFETY: called by Python with the GIL held on a live capsule object.
    unsafe {
        if ffi::PyCapsule_IsValid(capsule, USED_CAPSULE_NAME.as_ptr()) == 1 {
            return;
        }
        // Keep any exception that is being raised while the capsule dies.
        let (mut ptype, mut pvalue, mut ptrace) = (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
        ffi::PyErr_Fetch(&mut ptype, &mut pvalue, &mut ptrace);
        let managed = ffi::PyCapsule_GetPointer(capsule, CAPSULE_NAME.as_ptr()) as *mut DLManagedTensor;
        if managed.is_null() {
            ffi::PyErr_WriteUnraisable(capsule);
        } else if let Some(deleter) = (*managed).deleter {
            deleter(managed);
        }
        ffi::PyErr_Restore(ptype, pvalue, ptrace);
    }
}

/// Export `x` as a "dltensor" capsule. Waits for pending writes (and, with `for_write`, for
/// pending reads too) so that the consumer sees final values.
#[pyfunction]
#[pyo3(signature = (x, for_write=true))]
pub fn to_dlpack(py: Python<'_>, x: &PyNDArray, for_write: bool) -> PyResult<PyObject> {
    let arr = x.inner.clone();
    if arr.context() != Context::cpu() {
        return Err(PyBufferError::new_err(format!(
            "to_dlpack: only CPU arrays can be exported; this array is on {}, copy it with as_in_context(mx.cpu())",
            arr.context()
        )));
    }
    {
        let a = arr.clone();
        py.allow_threads(move || if for_write { a.wait_to_write() } else { a.wait_to_read() }).py()?;
    }
    let item = arr.dtype().size();
    let data = if arr.size() == 0 {
        arr.storage().as_ptr()
    } else {
        arr.storage().as_ptr().wrapping_add(arr.layout().offset * item)
    };
    let shape: Vec<i64> = arr.shape().iter().map(|&d| d as i64).collect();
    let strides: Vec<i64> = arr.layout().strides.iter().map(|&s| s as i64).collect();
    let ndim = shape.len() as i32;
    let dtype = dl_dtype(arr.dtype());
    let mut manager = Box::new(ExportManager {
        tensor: DLManagedTensor {
            dl_tensor: DLTensor {
                data: data as *mut c_void,
                device: DLDevice { device_type: DL_CPU, device_id: 0 },
                ndim,
                dtype,
                shape: std::ptr::null_mut(),
                strides: std::ptr::null_mut(),
                byte_offset: 0,
            },
            manager_ctx: std::ptr::null_mut(),
            deleter: Some(export_deleter),
        },
        shape,
        strides,
        array: arr,
    });
    // The Vec buffers do not move when the Box is leaked, so these pointers stay valid.
    manager.tensor.dl_tensor.shape = manager.shape.as_mut_ptr();
    manager.tensor.dl_tensor.strides = manager.strides.as_mut_ptr();
    let raw = Box::into_raw(manager);
    // SAFETY: `raw` is a valid, leaked ExportManager; from here its lifetime is managed by the
    // capsule destructor or by the consumer calling the deleter.
    unsafe {
        (*raw).tensor.manager_ctx = raw as *mut c_void;
        let capsule = ffi::PyCapsule_New(
            std::ptr::addr_of_mut!((*raw).tensor) as *mut c_void,
            CAPSULE_NAME.as_ptr(),
            Some(capsule_destructor),
        );
        if capsule.is_null() {
            drop(Box::from_raw(raw));
            return Err(PyErr::fetch(py));
        }
        Ok(Bound::from_owned_ptr(py, capsule).unbind())
    }
}

fn deleter_is_ours(managed: *mut DLManagedTensor) -> bool {
    // SAFETY: `managed` points at a live DLManagedTensor (checked by the caller).
    let deleter = unsafe { (*managed).deleter };
    deleter.is_some_and(|d| d as *const () == export_deleter as *const ())
}

/// Owner of imported memory: calls the producer's deleter once, when the storage is dropped.
struct ImportOwner(*mut DLManagedTensor);

// SAFETY: the pointer is only used once, in `drop`. DLPack deleters may be called from any
// thread; numpy's takes the GIL itself and torch's needs none.
unsafe impl Send for ImportOwner {}
unsafe impl Sync for ImportOwner {}

impl Drop for ImportOwner {
    fn drop(&mut self) {
        // SAFETY: the capsule was renamed to "used_dltensor" when this owner was created, so
        // nobody else calls the deleter.
        unsafe {
            if let Some(deleter) = (*self.0).deleter {
                deleter(self.0);
            }
        }
    }
}

/// Layout checks for an imported tensor, in elements: returns the strides (C order when the
/// producer gave none) and whether they describe a C-contiguous array.
fn import_strides(shape: &[usize], strides: Option<&[i64]>) -> (Vec<isize>, bool) {
    let contiguous = Layout::contiguous(shape).strides;
    match strides {
        None => (contiguous, true),
        Some(s) => {
            let s: Vec<isize> = s.iter().map(|&v| v as isize).collect();
            // Strides of size-1 dimensions do not matter (torch reports arbitrary ones there).
            let is_c = shape.iter().any(|&d| d == 0)
                || shape.iter().zip(s.iter().zip(&contiguous)).all(|(&d, (a, b))| d == 1 || a == b);
            (s, is_c)
        }
    }
}

/// Wrap the tensor behind a "dltensor" capsule. Without `copy`, the memory is shared and must be
/// C-contiguous; with `copy`, any strided layout is copied into a new array. A capsule that
/// `to_dlpack` made returns the exported array itself (any layout), or a copy of it with `copy`.
#[pyfunction]
#[pyo3(signature = (capsule, copy=false))]
pub fn from_dlpack(py: Python<'_>, capsule: &Bound<'_, PyAny>, copy: bool) -> PyResult<PyNDArray> {
    let ptr = capsule.as_ptr();
    // SAFETY: `ptr` is a live object (we hold a reference); the capsule calls only read it.
    let managed = unsafe {
        if ffi::PyCapsule_IsValid(ptr, CAPSULE_NAME.as_ptr()) != 1 {
            if ffi::PyCapsule_IsValid(ptr, USED_CAPSULE_NAME.as_ptr()) == 1 {
                return Err(PyValueError::new_err(
                    "from_dlpack: this DLPack capsule was already consumed; a capsule can be imported only once, \
                     call __dlpack__() again for a new one",
                ));
            }
            return Err(PyTypeError::new_err(format!(
                "from_dlpack: expected an object with __dlpack__ or a PyCapsule named 'dltensor', got {}",
                capsule.get_type().name()?
            )));
        }
        ffi::PyCapsule_GetPointer(ptr, CAPSULE_NAME.as_ptr()) as *mut DLManagedTensor
    };
    if managed.is_null() {
        return Err(PyErr::fetch(py));
    }
    if deleter_is_ours(managed) {
        // SAFETY: `ptr` is a valid "dltensor" capsule (checked above).
        if unsafe { ffi::PyCapsule_SetName(ptr, USED_CAPSULE_NAME.as_ptr()) } != 0 {
            return Err(PyErr::fetch(py));
        }
        // Our own capsule: return the exported array itself, so that its engine variable keeps
        // ordering reads and writes through both handles. A foreign wrapper would get a new
        // variable and race with pending operations on the original.
        // SAFETY: `export_deleter` is only installed on tensors that `to_dlpack` built from a
        // leaked ExportManager; we own it now (the capsule is renamed) and free it once here.
        let array = unsafe {
            let manager = (*managed).manager_ctx as *mut ExportManager;
            let array = (*manager).array.clone();
            export_deleter(managed);
            array
        };
        if copy {
            let out = NDArray::zeros(array.shape(), array.dtype(), Context::cpu()).py()?;
            copy_into(&array, &out).py()?;
            return Ok(PyNDArray::new(out));
        }
        return Ok(PyNDArray::new(array));
    }
    // SAFETY: a valid "dltensor" capsule points at a DLManagedTensor that the producer keeps
    // alive until its deleter is called; shape has `ndim` entries and strides, when present, too.
    let (t, shape, strides) = unsafe {
        let t = &(*managed).dl_tensor;
        let ndim = usize::try_from(t.ndim)
            .map_err(|_| PyValueError::new_err(format!("from_dlpack: invalid ndim {}", t.ndim)))?;
        let shape: &[i64] = if ndim == 0 { &[] } else { std::slice::from_raw_parts(t.shape, ndim) };
        let strides = if t.strides.is_null() || ndim == 0 {
            None
        } else {
            Some(std::slice::from_raw_parts(t.strides, ndim).to_vec())
        };
        (t, shape.to_vec(), strides)
    };
    if t.device.device_type != DL_CPU {
        return Err(PyBufferError::new_err(format!(
            "from_dlpack: the tensor lives on DLPack device type {} (id {}); only CPU tensors (type 1) can be \
             imported, move it to the CPU first (e.g. tensor.cpu())",
            t.device.device_type, t.device.device_id
        )));
    }
    let dtype = from_dl_dtype(t.dtype).ok_or_else(|| {
        PyTypeError::new_err(format!(
            "from_dlpack: DLPack dtype (code {}, bits {}, lanes {}) has no NDArray equivalent; supported are \
             float16/32/64, bfloat16, int8/32/64, uint8 and bool",
            t.dtype.code, t.dtype.bits, t.dtype.lanes
        ))
    })?;
    if shape.iter().any(|&d| d < 0) {
        return Err(PyValueError::new_err(format!("from_dlpack: negative dimension in shape {shape:?}")));
    }
    let shape: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
    let (strides, is_c) = import_strides(&shape, strides.as_deref());
    if !is_c && !copy {
        return Err(PyValueError::new_err(format!(
            "from_dlpack: the tensor with shape {shape:?} and strides {strides:?} (in elements) is not \
             C-contiguous and cannot be shared without a copy; make it contiguous on the producer side \
             (e.g. np.ascontiguousarray or tensor.contiguous()) or pass copy=True"
        )));
    }
    let item = dtype.size();
    let base = (t.data as *mut u8).wrapping_add(t.byte_offset as usize);
    if (base as usize) % item != 0 {
        return Err(PyValueError::new_err(format!(
            "from_dlpack: the data pointer is not aligned to the {item}-byte element size"
        )));
    }
    // The element range [lo, hi] the layout touches, relative to `base`.
    let size: usize = shape.iter().product();
    let (mut lo, mut hi) = (0isize, 0isize);
    if size > 0 {
        for (&d, &s) in shape.iter().zip(&strides) {
            let reach = (d as isize - 1) * s;
            if reach < 0 {
                lo += reach;
            } else {
                hi += reach;
            }
        }
    }
    let nbytes = if size == 0 { 0 } else { (hi - lo + 1) as usize * item };
    let start = base.wrapping_offset(lo * item as isize);
    // The checks passed: take ownership of the tensor.
    // SAFETY: `ptr` is a valid "dltensor" capsule (checked above).
    if unsafe { ffi::PyCapsule_SetName(ptr, USED_CAPSULE_NAME.as_ptr()) } != 0 {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: the producer guarantees the tensor's memory is valid for the element range computed
    // above until its deleter runs, and the owner runs the deleter only when the storage drops.
    let storage = unsafe { Storage::from_foreign(start, nbytes, Box::new(ImportOwner(managed))) };
    let layout = Layout { shape: shape.clone(), strides, offset: (-lo) as usize };
    let shared = NDArray::from_storage(Arc::new(storage), layout, dtype, Context::cpu());
    if is_c {
        return Ok(PyNDArray::new(shared));
    }
    let out = NDArray::zeros(&shape, dtype, Context::cpu()).py()?;
    copy_into(&shared, &out).py()?;
    // The engine does not track the producer's writes, so finish the copy before returning.
    let done = out.clone();
    py.allow_threads(move || done.wait_to_read()).py()?;
    Ok(PyNDArray::new(out))
}

/// Whether `obj` is a PyCapsule (any name).
#[pyfunction]
pub fn is_capsule(obj: &Bound<'_, PyAny>) -> bool {
    // SAFETY: a type check on a live object.
    unsafe { ffi::PyCapsule_CheckExact(obj.as_ptr()) == 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_layout_matches_dlpack_0_8() {
        // Sizes and offsets of the C structs on 64-bit targets (dlpack.h v0.8).
        assert_eq!(std::mem::size_of::<DLDevice>(), 8);
        assert_eq!(std::mem::size_of::<DLDataType>(), 4);
        assert_eq!(std::mem::size_of::<DLTensor>(), 48);
        assert_eq!(std::mem::offset_of!(DLTensor, ndim), 16);
        assert_eq!(std::mem::offset_of!(DLTensor, dtype), 20);
        assert_eq!(std::mem::offset_of!(DLTensor, shape), 24);
        assert_eq!(std::mem::offset_of!(DLTensor, byte_offset), 40);
        assert_eq!(std::mem::size_of::<DLManagedTensor>(), 64);
    }

    #[test]
    fn dtype_codes_round_trip() {
        for dt in [
            DType::Float32,
            DType::Float64,
            DType::Float16,
            DType::BFloat16,
            DType::UInt8,
            DType::Int8,
            DType::Int32,
            DType::Int64,
            DType::Bool,
        ] {
            assert_eq!(from_dl_dtype(dl_dtype(dt)), Some(dt));
        }
        assert_eq!(from_dl_dtype(DLDataType { code: code::FLOAT, bits: 32, lanes: 4 }), None);
        assert_eq!(from_dl_dtype(DLDataType { code: code::UINT, bits: 16, lanes: 1 }), None);
    }

    #[test]
    fn strides_check() {
        assert_eq!(import_strides(&[2, 3], None), (vec![3, 1], true));
        assert!(import_strides(&[2, 3], Some(&[3, 1])).1);
        assert!(!import_strides(&[2, 3], Some(&[1, 2])).1);
        // Size-1 dimensions may carry any stride.
        assert!(import_strides(&[1, 3], Some(&[99, 1])).1);
        assert!(import_strides(&[0, 3], Some(&[7, 7])).1);
    }
}
