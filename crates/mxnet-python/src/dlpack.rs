//! DLPack exchange: the DLPack 0.8 structs ("dltensor" capsules) and the DLPack 1.0 versioned
//! header ("dltensor_versioned" capsules), which adds a read-only flag.
//!
//! Export: `to_dlpack(x, for_write, versioned)` returns a capsule that points at a managed tensor.
//! The manager behind it keeps a clone of the NDArray, so the storage lives until the consumer
//! calls the deleter (or, for an unconsumed capsule, until the capsule is destroyed).
//!
//! Import: `from_dlpack(capsule, copy)` takes ownership by renaming the capsule to its "used_"
//! name, checks the tensor and wraps the producer's memory without copying. The storage owns the managed tensor and
//! calls the producer's deleter when the last view of it goes away.

use std::ffi::{c_void, CStr};
use std::sync::Arc;

use mxnet_core::imperative::copy_into;
use mxnet_core::storage::Storage;
use mxnet_core::{Context, DType, Layout, NDArray};
use pyo3::exceptions::{PyBufferError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;

use crate::errors::IntoPyResult;
use crate::ndarray::PyNDArray;

const CAPSULE_NAME: &CStr = c"dltensor";
const USED_CAPSULE_NAME: &CStr = c"used_dltensor";
const VERSIONED_CAPSULE_NAME: &CStr = c"dltensor_versioned";
const USED_VERSIONED_CAPSULE_NAME: &CStr = c"used_dltensor_versioned";

/// `DLDeviceType::kDLCPU`.
pub const DL_CPU: i32 = 1;

/// The DLPack ABI version that our versioned capsules declare.
const DLPACK_MAJOR: u32 = 1;
const DLPACK_MINOR: u32 = 0;

/// `DLPACK_FLAG_BITMASK_READ_ONLY` of `DLManagedTensorVersioned::flags`.
const FLAG_READ_ONLY: u64 = 1;

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

/// The unversioned managed tensor (DLPack 0.8 and earlier).
#[repr(C)]
pub struct DLManagedTensor {
    pub dl_tensor: DLTensor,
    pub manager_ctx: *mut c_void,
    pub deleter: Option<unsafe extern "C" fn(*mut DLManagedTensor)>,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DLPackVersion {
    pub major: u32,
    pub minor: u32,
}

/// The versioned managed tensor (DLPack 1.0).
#[repr(C)]
pub struct DLManagedTensorVersioned {
    pub version: DLPackVersion,
    pub manager_ctx: *mut c_void,
    pub deleter: Option<unsafe extern "C" fn(*mut DLManagedTensorVersioned)>,
    pub flags: u64,
    pub dl_tensor: DLTensor,
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

/// The memory behind an exported capsule: both managed-tensor headers (the capsule points at one
/// of them), the shape and strides they point into, and the array that keeps the storage alive.
struct ExportManager {
    legacy: DLManagedTensor,
    versioned: DLManagedTensorVersioned,
    // Never read here: the headers' shape and strides pointers point into these buffers.
    #[allow(dead_code)]
    shape: Vec<i64>,
    #[allow(dead_code)]
    strides: Vec<i64>,
    array: NDArray,
}

unsafe extern "C" fn export_deleter(managed: *mut DLManagedTensor) {
    if managed.is_null() {
        return;
    }
    // SAFETY: `manager_ctx` was set by `to_dlpack` to a leaked `Box<ExportManager>`, and DLPack
    // calls the deleter at most once.
    unsafe { drop(Box::from_raw((*managed).manager_ctx as *mut ExportManager)) }
}

unsafe extern "C" fn export_deleter_versioned(managed: *mut DLManagedTensorVersioned) {
    if managed.is_null() {
        return;
    }
    // SAFETY: as in `export_deleter`.
    unsafe { drop(Box::from_raw((*managed).manager_ctx as *mut ExportManager)) }
}

/// Call the deleter of the managed tensor in an unconsumed capsule named `name`.
///
/// # Safety
/// Python calls this with the GIL held on a live capsule object.
unsafe fn destroy_capsule(capsule: *mut ffi::PyObject, name: &CStr, used: &CStr, versioned: bool) {
    unsafe {
        if ffi::PyCapsule_IsValid(capsule, used.as_ptr()) == 1 {
            return;
        }
        // Keep any exception that is being raised while the capsule dies.
        let (mut ptype, mut pvalue, mut ptrace) = (std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut());
        ffi::PyErr_Fetch(&mut ptype, &mut pvalue, &mut ptrace);
        let pointer = ffi::PyCapsule_GetPointer(capsule, name.as_ptr());
        if pointer.is_null() {
            ffi::PyErr_WriteUnraisable(capsule);
        } else if versioned {
            let managed = pointer as *mut DLManagedTensorVersioned;
            if let Some(deleter) = (*managed).deleter {
                deleter(managed);
            }
        } else {
            let managed = pointer as *mut DLManagedTensor;
            if let Some(deleter) = (*managed).deleter {
                deleter(managed);
            }
        }
        ffi::PyErr_Restore(ptype, pvalue, ptrace);
    }
}

unsafe extern "C" fn capsule_destructor(capsule: *mut ffi::PyObject) {
    // SAFETY: called by Python on a live capsule.
    unsafe { destroy_capsule(capsule, CAPSULE_NAME, USED_CAPSULE_NAME, false) }
}

unsafe extern "C" fn versioned_capsule_destructor(capsule: *mut ffi::PyObject) {
    // SAFETY: called by Python on a live capsule.
    unsafe { destroy_capsule(capsule, VERSIONED_CAPSULE_NAME, USED_VERSIONED_CAPSULE_NAME, true) }
}

/// Export `x` as a DLPack capsule: "dltensor" (DLPack 0.8), or "dltensor_versioned" (DLPack 1.0)
/// when `versioned`. Waits for pending writes, and with `for_write` also for pending reads, so
/// the consumer reads final values. Without `for_write` a versioned capsule is flagged read-only.
#[pyfunction]
#[pyo3(signature = (x, for_write=true, versioned=false))]
pub fn to_dlpack(py: Python<'_>, x: &PyNDArray, for_write: bool, versioned: bool) -> PyResult<PyObject> {
    let arr = x.inner.clone();
    if arr.context() != Context::cpu() {
        return Err(PyBufferError::new_err(format!(
            "to_dlpack: only CPU arrays can be exported; this array is on {}, copy it with as_in_context(mx.cpu())",
            arr.context()
        )));
    }
    {
        let a = arr.clone();
        crate::gil::without_gil(py, move || if for_write { a.wait_to_write() } else { a.wait_to_read() })
            .py()?;
    }
    let item = arr.dtype().size();
    let data = if arr.size() == 0 {
        arr.storage().as_ptr()
    } else {
        arr.storage().as_ptr().wrapping_add(arr.layout().offset * item)
    };
    let mut shape: Vec<i64> = arr.shape().iter().map(|&d| d as i64).collect();
    let mut strides: Vec<i64> = arr.layout().strides.iter().map(|&s| s as i64).collect();
    // The Vec buffers do not move when the Vecs are moved into the manager below.
    let (shape_ptr, strides_ptr) = (shape.as_mut_ptr(), strides.as_mut_ptr());
    let tensor = || DLTensor {
        data: data as *mut c_void,
        device: DLDevice {
            device_type: DL_CPU,
            device_id: 0,
        },
        ndim: arr.ndim() as i32,
        dtype: dl_dtype(arr.dtype()),
        shape: shape_ptr,
        strides: strides_ptr,
        byte_offset: 0,
    };
    let (legacy_tensor, versioned_tensor) = (tensor(), tensor());
    let manager = Box::new(ExportManager {
        legacy: DLManagedTensor {
            dl_tensor: legacy_tensor,
            manager_ctx: std::ptr::null_mut(),
            deleter: Some(export_deleter),
        },
        versioned: DLManagedTensorVersioned {
            version: DLPackVersion {
                major: DLPACK_MAJOR,
                minor: DLPACK_MINOR,
            },
            manager_ctx: std::ptr::null_mut(),
            deleter: Some(export_deleter_versioned),
            flags: if for_write { 0 } else { FLAG_READ_ONLY },
            dl_tensor: versioned_tensor,
        },
        shape,
        strides,
        array: arr,
    });
    let raw = Box::into_raw(manager);
    // SAFETY: `raw` is a valid, leaked ExportManager. From here its lifetime is managed by the
    // capsule destructor or by the consumer calling the deleter.
    unsafe {
        (*raw).legacy.manager_ctx = raw as *mut c_void;
        (*raw).versioned.manager_ctx = raw as *mut c_void;
        let capsule = if versioned {
            ffi::PyCapsule_New(
                std::ptr::addr_of_mut!((*raw).versioned) as *mut c_void,
                VERSIONED_CAPSULE_NAME.as_ptr(),
                Some(versioned_capsule_destructor),
            )
        } else {
            ffi::PyCapsule_New(
                std::ptr::addr_of_mut!((*raw).legacy) as *mut c_void,
                CAPSULE_NAME.as_ptr(),
                Some(capsule_destructor),
            )
        };
        if capsule.is_null() {
            drop(Box::from_raw(raw));
            return Err(PyErr::fetch(py));
        }
        Ok(Bound::from_owned_ptr(py, capsule).unbind())
    }
}

/// A managed tensor received from a producer, of either header kind.
#[derive(Clone, Copy)]
enum Managed {
    Legacy(*mut DLManagedTensor),
    Versioned(*mut DLManagedTensorVersioned),
}

impl Managed {
    /// # Safety
    /// The pointer must be a live managed tensor whose deleter has not run.
    unsafe fn tensor(&self) -> &DLTensor {
        unsafe {
            match *self {
                Managed::Legacy(m) => &(*m).dl_tensor,
                Managed::Versioned(m) => &(*m).dl_tensor,
            }
        }
    }

    /// Return the `ExportManager` behind the tensor when `to_dlpack` made it.
    ///
    /// # Safety
    /// As for `tensor`.
    unsafe fn our_manager(&self) -> Option<*mut ExportManager> {
        unsafe {
            let ours = match *self {
                Managed::Legacy(m) => (*m)
                    .deleter
                    .is_some_and(|d| d as *const () == export_deleter as *const ())
                    .then_some((*m).manager_ctx),
                Managed::Versioned(m) => (*m)
                    .deleter
                    .is_some_and(|d| d as *const () == export_deleter_versioned as *const ())
                    .then_some((*m).manager_ctx),
            };
            ours.map(|ctx| ctx as *mut ExportManager)
        }
    }

    /// # Safety
    /// Call at most once, after which the pointer is dangling.
    unsafe fn delete(self) {
        unsafe {
            match self {
                Managed::Legacy(m) => {
                    if let Some(deleter) = (*m).deleter {
                        deleter(m);
                    }
                }
                Managed::Versioned(m) => {
                    if let Some(deleter) = (*m).deleter {
                        deleter(m);
                    }
                }
            }
        }
    }
}

/// Owner of imported memory: calls the producer's deleter once, when the storage is dropped.
struct ImportOwner(Managed);

// SAFETY: the pointer is only used once, in `drop`, which may run on an engine worker thread.
// NOTE: this assumes the producer's deleter takes any lock it needs (numpy's takes the GIL).
unsafe impl Send for ImportOwner {}
unsafe impl Sync for ImportOwner {}

impl Drop for ImportOwner {
    fn drop(&mut self) {
        // SAFETY: the capsule was renamed to its "used_" name when this owner was created, so no
        // other code calls the deleter.
        unsafe { self.0.delete() }
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
            // A size-1 dimension is never stepped over, so its stride does not matter.
            let is_c = shape.contains(&0)
                || shape
                    .iter()
                    .zip(s.iter().zip(&contiguous))
                    .all(|(&d, (a, b))| d == 1 || a == b);
            (s, is_c)
        }
    }
}

/// Find the managed tensor in `capsule` and take ownership of it by renaming the capsule.
fn take_capsule(py: Python<'_>, capsule: &Bound<'_, PyAny>) -> PyResult<Managed> {
    let ptr = capsule.as_ptr();
    // SAFETY: `ptr` is a live object (we hold a reference), and capsule calls check its type.
    unsafe {
        let (managed, used) = if ffi::PyCapsule_IsValid(ptr, CAPSULE_NAME.as_ptr()) == 1 {
            let m = ffi::PyCapsule_GetPointer(ptr, CAPSULE_NAME.as_ptr()) as *mut DLManagedTensor;
            (Managed::Legacy(m), USED_CAPSULE_NAME)
        } else if ffi::PyCapsule_IsValid(ptr, VERSIONED_CAPSULE_NAME.as_ptr()) == 1 {
            let m = ffi::PyCapsule_GetPointer(ptr, VERSIONED_CAPSULE_NAME.as_ptr()) as *mut DLManagedTensorVersioned;
            let version = (*m).version;
            if version.major > DLPACK_MAJOR {
                return Err(PyBufferError::new_err(format!(
                    "from_dlpack: the producer uses DLPack {}.{}, but only major version {DLPACK_MAJOR} and \
                     earlier are supported; request an older version from the producer",
                    version.major, version.minor
                )));
            }
            (Managed::Versioned(m), USED_VERSIONED_CAPSULE_NAME)
        } else if ffi::PyCapsule_IsValid(ptr, USED_CAPSULE_NAME.as_ptr()) == 1
            || ffi::PyCapsule_IsValid(ptr, USED_VERSIONED_CAPSULE_NAME.as_ptr()) == 1
        {
            return Err(PyValueError::new_err(
                "from_dlpack: this DLPack capsule was already consumed; a capsule can be imported only once, \
                 call __dlpack__() again for a new one",
            ));
        } else {
            return Err(PyTypeError::new_err(format!(
                "from_dlpack: expected an object with __dlpack__ or a PyCapsule named 'dltensor' or \
                 'dltensor_versioned', got {}",
                capsule.get_type().name()?
            )));
        };
        if ffi::PyCapsule_SetName(ptr, used.as_ptr()) != 0 {
            return Err(PyErr::fetch(py));
        }
        Ok(managed)
    }
}

/// Wrap the tensor behind a DLPack capsule ("dltensor" or "dltensor_versioned"). Without `copy`,
/// the memory is shared and must be C-contiguous and writable; with `copy`, any strided layout
/// is copied into a new array. A capsule that `to_dlpack` made returns the exported array itself
/// (any layout), or a copy of it with `copy`.
///
/// The capsule is consumed (renamed) before the checks. When a check fails, the producer's
/// deleter runs at once, so nothing leaks.
#[pyfunction]
#[pyo3(signature = (capsule, copy=false))]
pub fn from_dlpack(py: Python<'_>, capsule: &Bound<'_, PyAny>, copy: bool) -> PyResult<PyNDArray> {
    let managed = take_capsule(py, capsule)?;
    // SAFETY: the capsule held a live managed tensor, which we now own.
    match unsafe { managed.our_manager() } {
        Some(manager) => import_own(managed, manager, copy),
        None => import_foreign(py, managed, copy),
    }
}

/// Return the array behind one of our own capsules (or a copy of it), and free the manager.
///
/// Returning the exported array itself keeps its engine variable ordering reads and writes
/// through both handles. A foreign wrapper would get a new variable and race with pending
/// operations on the original.
fn import_own(managed: Managed, manager: *mut ExportManager, copy: bool) -> PyResult<PyNDArray> {
    // SAFETY: the manager is alive until `delete`, which frees it once.
    let array = unsafe {
        let array = (*manager).array.clone();
        managed.delete();
        array
    };
    if !copy {
        return Ok(PyNDArray::new(array));
    }
    let out = NDArray::zeros(array.shape(), array.dtype(), Context::cpu()).py()?;
    copy_into(&array, &out).py()?;
    Ok(PyNDArray::new(out))
}

/// The element range `[lo, hi]` that a strided layout touches, relative to its first element.
fn element_range(shape: &[usize], strides: &[isize]) -> (isize, isize) {
    let (mut lo, mut hi) = (0isize, 0isize);
    if shape.contains(&0) {
        return (0, 0);
    }
    for (&d, &s) in shape.iter().zip(strides) {
        let reach = (d as isize - 1) * s;
        if reach < 0 {
            lo += reach;
        } else {
            hi += reach;
        }
    }
    (lo, hi)
}

/// Wrap (or, with `copy` or a strided layout, copy) a producer's tensor after checking it.
fn import_foreign(py: Python<'_>, managed: Managed, copy: bool) -> PyResult<PyNDArray> {
    // From here the owner runs the producer's deleter when it drops: on an error return below,
    // or when the last array that shares the memory goes away.
    let owner = ImportOwner(managed);
    let read_only = matches!(managed, Managed::Versioned(m) if unsafe { (*m).flags } & FLAG_READ_ONLY != 0);
    // SAFETY: the producer keeps the tensor alive until its deleter runs; shape has `ndim`
    // entries and strides, when present, too.
    let (t, shape, strides) = unsafe {
        let t = managed.tensor();
        let ndim = usize::try_from(t.ndim)
            .map_err(|_| PyValueError::new_err(format!("from_dlpack: invalid ndim {}", t.ndim)))?;
        let shape: &[i64] = if ndim == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(t.shape, ndim)
        };
        let strides = if t.strides.is_null() || ndim == 0 {
            None
        } else {
            Some(std::slice::from_raw_parts(t.strides, ndim).to_vec())
        };
        (t, shape.to_vec(), strides)
    };
    if t.device.device_type != DL_CPU {
        return Err(PyBufferError::new_err(format!(
            "from_dlpack: the tensor is on DLPack device type {} (id {}); only CPU tensors (type 1) can be \
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
        return Err(PyValueError::new_err(format!(
            "from_dlpack: invalid negative dimension in shape {shape:?}"
        )));
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
    if read_only && !copy {
        return Err(PyValueError::new_err(
            "from_dlpack: the producer marked the tensor read-only, and NDArrays are always writable, so it \
             cannot be shared; pass copy=True (or make the source writable, e.g. a.flags.writeable = True)",
        ));
    }
    let item = dtype.size();
    let base = (t.data as *mut u8).wrapping_add(t.byte_offset as usize);
    if !(base as usize).is_multiple_of(item) {
        return Err(PyValueError::new_err(format!(
            "from_dlpack: the data pointer is not aligned to the {item}-byte element size; copy the tensor first"
        )));
    }
    let (lo, hi) = element_range(&shape, &strides);
    let nbytes = if shape.contains(&0) {
        0
    } else {
        (hi - lo + 1) as usize * item
    };
    let start = base.wrapping_offset(lo * item as isize);
    // SAFETY: the producer guarantees the tensor's memory is valid for the element range computed
    // above until its deleter runs, and the owner runs the deleter only when the storage drops.
    let storage = unsafe { Storage::from_foreign(start, nbytes, Box::new(owner)) };
    let layout = Layout {
        shape: shape.clone(),
        strides,
        offset: (-lo) as usize,
    };
    let shared = NDArray::from_storage(Arc::new(storage), layout, dtype, Context::cpu());
    if is_c && !copy {
        return Ok(PyNDArray::new(shared));
    }
    let out = NDArray::zeros(&shape, dtype, Context::cpu()).py()?;
    copy_into(&shared, &out).py()?;
    // The engine does not track the producer's writes, so finish the copy before returning.
    let done = out.clone();
    crate::gil::without_gil(py, move || done.wait_to_read()).py()?;
    Ok(PyNDArray::new(out))
}

/// Return whether `obj` is a PyCapsule (any name).
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
        // DLPack 1.0: version, manager_ctx, deleter and flags precede the tensor.
        assert_eq!(std::mem::offset_of!(DLManagedTensorVersioned, flags), 24);
        assert_eq!(std::mem::offset_of!(DLManagedTensorVersioned, dl_tensor), 32);
        assert_eq!(std::mem::size_of::<DLManagedTensorVersioned>(), 80);
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
        assert_eq!(
            from_dl_dtype(DLDataType {
                code: code::FLOAT,
                bits: 32,
                lanes: 4
            }),
            None
        );
        assert_eq!(
            from_dl_dtype(DLDataType {
                code: code::UINT,
                bits: 16,
                lanes: 1
            }),
            None
        );
    }

    #[test]
    fn strides_check() {
        assert_eq!(element_range(&[2, 3], &[3, 1]), (0, 5));
        assert_eq!(element_range(&[2, 3], &[-3, 2]), (-3, 4));
        assert_eq!(element_range(&[0, 3], &[3, 1]), (0, 0));
        assert_eq!(import_strides(&[2, 3], None), (vec![3, 1], true));
        assert!(import_strides(&[2, 3], Some(&[3, 1])).1);
        assert!(!import_strides(&[2, 3], Some(&[1, 2])).1);
        // Size-1 dimensions may carry any stride.
        assert!(import_strides(&[1, 3], Some(&[99, 1])).1);
        assert!(import_strides(&[0, 3], Some(&[7, 7])).1);
    }
}
