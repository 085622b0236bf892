//! `mxnet._native`: the PyO3 bridge between the Python package and the Rust core.

mod convert;
mod dlpack;
mod eager;
mod errors;
mod function;
mod gil;
mod graph;
mod ndarray;

/// Every eager call makes a dozen small allocations (layouts, operator instances, engine
/// blocks); with glibc's allocator they took about a third of a 2x2 `a + b`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use mxnet_core::autograd;
use mxnet_core::imperative::copy_into;
use mxnet_core::{dispatch_all, DType, Element, NDArray, Operator, Registry, Views};
use pyo3::prelude::*;

use errors::IntoPyResult;
use ndarray::PyNDArray;

fn handles(xs: &[PyRef<'_, PyNDArray>]) -> Vec<NDArray> {
    xs.iter().map(|x| x.inner.clone()).collect()
}

/// Call a registered operator: `invoke(name, inputs, attrs, out)`. `attrs` are
/// `(key, value)` string pairs in MXNet's form; `out` optionally names the output arrays.
/// The output of a view operator gets its own buffer, as in MXNet, unless `share_views`.
#[pyfunction]
#[pyo3(signature = (name, inputs, attrs, out=None, share_views=false))]
fn invoke(
    py: Python<'_>,
    name: &str,
    inputs: Vec<PyRef<'_, PyNDArray>>,
    attrs: Vec<(String, String)>,
    out: Option<Vec<PyRef<'_, PyNDArray>>>,
    share_views: bool,
) -> PyResult<Vec<PyNDArray>> {
    let inputs = handles(&inputs);
    let out = out.map(|o| handles(&o));
    let op = errors::guarded(|| Registry::get().create(name, &attrs))?;
    let views = if share_views { Views::Share } else { Views::Copy };
    // A call that takes little time on this thread keeps the GIL, as in `invoke_binary`.
    if out.is_none() {
        if let Some(result) = errors::guarded(|| mxnet_core::try_invoke_quick(&op, &inputs, views))? {
            return Ok(result.into_iter().map(PyNDArray::new).collect());
        }
    }
    let result = crate::gil::without_gil(py, || {
        errors::guarded(|| mxnet_core::invoke_for_user(op, &inputs, out.as_deref(), views))
    })?;
    Ok(result.into_iter().map(PyNDArray::new).collect())
}

/// Output shapes and dtypes of operator `name` for inputs of the given `(shape, dtype)`s,
/// without running it (symbolic shape inference). Returns every output (hidden ones such as
/// Dropout's mask included) and the number users see.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn infer(
    name: &str,
    attrs: Vec<(String, String)>,
    inputs: Vec<(Vec<usize>, String)>,
) -> PyResult<(Vec<(Vec<usize>, &'static str)>, usize)> {
    errors::guarded(|| {
        let op = Registry::get().create(name, &attrs)?;
        let descs = inputs
            .into_iter()
            .map(|(shape, dtype)| Ok(mxnet_core::TensorDesc::new(shape, DType::from_name(&dtype)?)))
            .collect::<mxnet_core::Result<Vec<_>>>()?;
        let outs = op.infer(&descs)?;
        let all = outs.into_iter().map(|d| (d.shape, d.dtype.name())).collect();
        Ok((all, op.num_visible_outputs()))
    })
}

/// `[(name, aliases, arguments, params, doc)]` of every registered operator.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn list_ops() -> Vec<(String, Vec<String>, Vec<String>, Vec<String>, String)> {
    Registry::get()
        .defs()
        .iter()
        .map(|d| {
            (
                d.name.to_string(),
                d.aliases.iter().map(|s| s.to_string()).collect(),
                d.arguments.iter().map(|s| s.to_string()).collect(),
                d.params.iter().map(|s| s.to_string()).collect(),
                d.doc.to_string(),
            )
        })
        .collect()
}

/// Create an NDArray from a C-contiguous numpy array of element type `dtype`, copied or shared.
#[pyfunction]
#[pyo3(signature = (arr, dtype, zero_copy=false))]
fn from_numpy(arr: &Bound<'_, PyAny>, dtype: &str, zero_copy: bool) -> PyResult<PyNDArray> {
    let dtype = DType::from_name(dtype).py()?;
    let x = if zero_copy { convert::from_numpy_shared(arr, dtype)? } else { convert::from_numpy_copy(arr, dtype)? };
    Ok(PyNDArray::new(x))
}

/// Copy `src` into `dst` (same shape; dtypes are converted).
#[pyfunction]
fn copyto(py: Python<'_>, src: &PyNDArray, dst: &PyNDArray) -> PyResult<()> {
    // Without the GIL: the push may wait for in-flight operations, and one of them may free a
    // foreign buffer whose owner needs the GIL.
    let (src, dst) = (src.inner.clone(), dst.inner.clone());
    crate::gil::without_gil(py, move || copy_into(&src, &dst)).py()
}

/// Set every element of `dst` to `value`.
#[pyfunction]
fn fill(py: Python<'_>, dst: &PyNDArray, value: f64) -> PyResult<()> {
    let x = dst.inner.clone();
    let one = dispatch_all!(x.dtype(), T => NDArray::from_vec::<T>(&[], vec![T::from_scalar(value)]).py()?);
    let layout = one.layout().broadcast_to(x.shape()).expect("a 0-d array broadcasts to any shape");
    let source = one.with_layout(layout);
    crate::gil::without_gil(py, move || copy_into(&source, &x)).py()
}

/// Create a view of `x` with the given layout (strides and offset in elements), sharing storage.
/// Used for basic slicing on paths that need no autograd record (assignment).
#[pyfunction]
fn strided_view(x: &PyNDArray, shape: Vec<usize>, strides: Vec<isize>, offset: usize) -> PyResult<PyNDArray> {
    let layout = mxnet_core::Layout { shape, strides, offset };
    let max = mxnet_cpu_extent(&layout);
    if max > x.inner.storage().nbytes() / x.inner.dtype().size() {
        return Err(pyo3::exceptions::PyIndexError::new_err("strided_view: the view exceeds the storage"));
    }
    Ok(PyNDArray::new(x.inner.with_layout(layout)))
}

fn mxnet_cpu_extent(l: &mxnet_core::Layout) -> usize {
    if l.shape.iter().any(|&d| d == 0) {
        return 0;
    }
    let mut hi = l.offset as isize;
    for (&d, &s) in l.shape.iter().zip(&l.strides) {
        if s > 0 {
            hi += (d as isize - 1) * s;
        }
    }
    hi as usize + 1
}

/// Tag the array with CPU context `device_id`. Nothing is copied, because all CPU contexts share memory.
#[pyfunction]
fn with_cpu_context(x: &PyNDArray, device_id: u32) -> PyResult<PyNDArray> {
    Ok(PyNDArray::new(x.inner.with_context(mxnet_core::Context::Cpu(device_id)).py()?))
}

/// Copy the array to a context given as MXNet's `(device_type, device_id)` codes.
#[pyfunction]
fn to_context(py: Python<'_>, x: &PyNDArray, device_type: i32, device_id: u32) -> PyResult<PyNDArray> {
    let ctx = match device_type {
        2 => mxnet_core::Context::Gpu(device_id),
        _ => mxnet_core::Context::Cpu(device_id),
    };
    let inner = x.inner.clone();
    Ok(PyNDArray::new(crate::gil::without_gil(py, move || inner.to_context(ctx)).py()?))
}

/// The adapters `mx.gpu(i)` opens, in index order, as dicts of name, backend, device type and driver.
#[pyfunction]
fn gpu_adapters(py: Python<'_>) -> PyResult<Vec<Bound<'_, pyo3::types::PyDict>>> {
    let adapters = crate::gil::without_gil(py, mxnet_gpu::list_adapters);
    adapters
        .into_iter()
        .map(|a| {
            let d = pyo3::types::PyDict::new(py);
            d.set_item("name", a.name)?;
            d.set_item("backend", a.backend)?;
            d.set_item("device_type", a.device_type)?;
            d.set_item("driver", a.driver)?;
            d.set_item("unified_memory", a.unified_memory)?;
            Ok(d)
        })
        .collect()
}

/// Bytes of gpu(`device_id`) held by arrays and cached for reuse by this process.
#[pyfunction]
fn gpu_memory_usage(py: Python<'_>, device_id: u32) -> PyResult<(u64, u64)> {
    let device = crate::gil::without_gil(py, || mxnet_core::gpu::device(mxnet_core::Context::Gpu(device_id))).py()?;
    Ok(mxnet_gpu::memory_usage(&device))
}

/// `os.register_at_fork(before=...)` hook; see `mxnet_core::fork`.
#[pyfunction]
fn prepare_fork(py: Python<'_>) {
    crate::gil::without_gil(py, mxnet_core::fork::stop_engine);
}

/// `os.register_at_fork(after_in_parent=...)` hook.
#[pyfunction]
fn after_fork_in_parent() {
    mxnet_core::fork::after_in_parent();
}

/// `os.register_at_fork(after_in_child=...)` hook.
#[pyfunction]
fn after_fork_in_child() {
    mxnet_core::fork::after_in_child();
}

#[pyfunction]
fn waitall(py: Python<'_>) -> PyResult<()> {
    crate::gil::without_gil(py, || mxnet_core::engine().wait_for_all())
        .map_err(|e| errors::to_py(mxnet_core::error::from_engine(e)))?;
    crate::gil::without_gil(py, mxnet_core::gpu::synchronize_all).py()
}

/// Start or stop the operator profiler (`mx.profiler.set_state`).
#[pyfunction]
fn profiler_set_running(running: bool) {
    mxnet_core::profiler::set_running(running)
}

/// Microseconds on the profiler's clock.
#[pyfunction]
fn profiler_now_us() -> f64 {
    mxnet_core::profiler::now_us()
}

/// Remove and return the profiler's records as `(name, start_us, duration_us, thread)`, and
/// the names of the threads, by index.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn profiler_take() -> (Vec<(&'static str, f64, f64, u32)>, Vec<String>) {
    let records = mxnet_core::profiler::take().into_iter().map(|r| (r.name, r.start_us, r.duration_us, r.thread)).collect();
    (records, mxnet_core::profiler::thread_names())
}

/// Set the engine priority of the operations this thread pushes; returns the previous one.
#[pyfunction]
fn set_priority(priority: i32) -> i32 {
    mxnet_core::imperative::set_priority(priority)
}

#[pyfunction]
fn engine_type() -> PyResult<&'static str> {
    let kind = mxnet_engine::Engine::validate_env().map_err(errors::MXNetError::new_err)?;
    let _ = kind;
    Ok(match mxnet_core::engine().kind() {
        mxnet_engine::EngineKind::ThreadedPerDevice => "ThreadedEnginePerDevice",
        mxnet_engine::EngineKind::Threaded => "ThreadedEngine",
        mxnet_engine::EngineKind::Naive => "NaiveEngine",
    })
}

#[pyfunction]
fn seed(value: u64) {
    mxnet_core::random::seed(value);
}

#[pyfunction]
fn set_recording(on: bool) -> bool {
    autograd::set_recording(on)
}

#[pyfunction]
fn set_training(on: bool) -> bool {
    autograd::set_training(on)
}

#[pyfunction]
fn is_recording() -> bool {
    autograd::is_recording()
}

#[pyfunction]
fn is_training() -> bool {
    autograd::is_training()
}

fn optional_handles(xs: Vec<Option<PyRef<'_, PyNDArray>>>) -> Vec<Option<NDArray>> {
    xs.into_iter().map(|x| x.map(|h| h.inner.clone())).collect()
}

#[pyfunction]
#[pyo3(signature = (heads, head_grads, retain_graph=false, train_mode=true))]
fn backward(
    py: Python<'_>,
    heads: Vec<PyRef<'_, PyNDArray>>,
    head_grads: Vec<Option<PyRef<'_, PyNDArray>>>,
    retain_graph: bool,
    train_mode: bool,
) -> PyResult<()> {
    let heads = handles(&heads);
    let head_grads = optional_handles(head_grads);
    crate::gil::without_gil(py, || errors::guarded(|| autograd::backward(&heads, &head_grads, retain_graph, false, train_mode)))
}

#[pyfunction]
#[pyo3(signature = (heads, variables, head_grads, retain_graph=false, create_graph=false, train_mode=true))]
fn grad(
    py: Python<'_>,
    heads: Vec<PyRef<'_, PyNDArray>>,
    variables: Vec<PyRef<'_, PyNDArray>>,
    head_grads: Vec<Option<PyRef<'_, PyNDArray>>>,
    retain_graph: bool,
    create_graph: bool,
    train_mode: bool,
) -> PyResult<Vec<PyNDArray>> {
    let heads = handles(&heads);
    let variables = handles(&variables);
    let head_grads = optional_handles(head_grads);
    let grads = crate::gil::without_gil(py, || {
        errors::guarded(|| autograd::grad(&heads, &variables, &head_grads, retain_graph, create_graph, train_mode))
    })?;
    Ok(grads.into_iter().map(PyNDArray::new).collect())
}

/// Record a Python `Function` call: `outputs` get an autograd entry whose gradient calls
/// `backward(out_grads) -> [input grads]`.
#[pyfunction]
fn record_function(
    inputs: Vec<PyRef<'_, PyNDArray>>,
    outputs: Vec<PyRef<'_, PyNDArray>>,
    backward: Py<PyAny>,
) -> PyResult<Vec<PyNDArray>> {
    let op: Arc<dyn Operator> = Arc::new(function::PyFunctionOp { backward });
    let inputs = handles(&inputs);
    let mut outputs: Vec<NDArray> = outputs.iter().map(|x| x.inner.detach()).collect();
    autograd::record(&op, &inputs, &mut outputs).py()?;
    Ok(outputs.into_iter().map(PyNDArray::new).collect())
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    #[cfg(unix)]
    mxnet_core::fork::install_memory_handlers();
    m.add("MXNetError", m.py().get_type::<errors::MXNetError>())?;
    m.add_class::<PyNDArray>()?;
    m.add_class::<graph::PyGraph>()?;
    m.add_function(wrap_pyfunction!(invoke, m)?)?;
    m.add_function(wrap_pyfunction!(eager::invoke_binary, m)?)?;
    m.add_function(wrap_pyfunction!(eager::operator, m)?)?;
    m.add_function(wrap_pyfunction!(eager::set_array_class, m)?)?;
    m.add_class::<eager::PyOperator>()?;
    m.add_class::<eager::OpFunction>()?;
    m.add_function(wrap_pyfunction!(prepare_fork, m)?)?;
    m.add_function(wrap_pyfunction!(after_fork_in_parent, m)?)?;
    m.add_function(wrap_pyfunction!(after_fork_in_child, m)?)?;
    m.add_function(wrap_pyfunction!(list_ops, m)?)?;
    m.add_function(wrap_pyfunction!(infer, m)?)?;
    m.add_function(wrap_pyfunction!(from_numpy, m)?)?;
    m.add_function(wrap_pyfunction!(copyto, m)?)?;
    m.add_function(wrap_pyfunction!(fill, m)?)?;
    m.add_function(wrap_pyfunction!(strided_view, m)?)?;
    m.add_function(wrap_pyfunction!(waitall, m)?)?;
    m.add_function(wrap_pyfunction!(with_cpu_context, m)?)?;
    m.add_function(wrap_pyfunction!(to_context, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_adapters, m)?)?;
    m.add_function(wrap_pyfunction!(gpu_memory_usage, m)?)?;
    m.add_function(wrap_pyfunction!(engine_type, m)?)?;
    m.add_function(wrap_pyfunction!(set_priority, m)?)?;
    m.add_function(wrap_pyfunction!(profiler_set_running, m)?)?;
    m.add_function(wrap_pyfunction!(profiler_take, m)?)?;
    m.add_function(wrap_pyfunction!(profiler_now_us, m)?)?;
    m.add_function(wrap_pyfunction!(gil::mark_exiting, m)?)?;
    m.add_function(wrap_pyfunction!(seed, m)?)?;
    m.add_function(wrap_pyfunction!(set_recording, m)?)?;
    m.add_function(wrap_pyfunction!(set_training, m)?)?;
    m.add_function(wrap_pyfunction!(is_recording, m)?)?;
    m.add_function(wrap_pyfunction!(is_training, m)?)?;
    m.add_function(wrap_pyfunction!(backward, m)?)?;
    m.add_function(wrap_pyfunction!(grad, m)?)?;
    m.add_function(wrap_pyfunction!(record_function, m)?)?;
    m.add_function(wrap_pyfunction!(dlpack::to_dlpack, m)?)?;
    m.add_function(wrap_pyfunction!(dlpack::from_dlpack, m)?)?;
    m.add_function(wrap_pyfunction!(dlpack::is_capsule, m)?)?;
    Ok(())
}
