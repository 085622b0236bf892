//! Imperative execution: infer output shapes, allocate, push the kernel to the engine and
//! record the call for autograd. This is the path of every `mx.nd` call.

use std::cell::Cell;
use std::sync::Arc;

use mxnet_engine::{Lane, OpError, PushOptions, RunNow, Var};
use smallvec::SmallVec;

use crate::attrs::Attrs;
use crate::autograd;
use crate::error::{from_engine, Error, Result};
use crate::ndarray::NDArray;
use crate::operator::{OpContext, Operator, TensorDesc};
use crate::random;
use crate::registry::Registry;

/// Call a registered operator by name: `call("broadcast_add", &[a, b], &[])`.
pub fn call(name: &str, inputs: &[&NDArray], attrs: &[(&str, String)]) -> Result<Vec<NDArray>> {
    call_with(name, inputs, &attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

/// Like [`call`] for single-output operators.
pub fn call1(name: &str, inputs: &[&NDArray], attrs: &[(&str, String)]) -> Result<NDArray> {
    Ok(call(name, inputs, attrs)?.swap_remove(0))
}

/// Like [`call`], with attributes in their owned form, as an operator's `attrs()` returns them.
pub(crate) fn call_with(name: &str, inputs: &[&NDArray], attrs: &Attrs) -> Result<Vec<NDArray>> {
    let op = Registry::get().create(name, attrs)?;
    let inputs: Vec<NDArray> = inputs.iter().map(|x| (*x).clone()).collect();
    invoke(op, &inputs, None)
}

/// Like [`call_with`] for single-output operators.
pub(crate) fn call1_with(name: &str, inputs: &[&NDArray], attrs: &Attrs) -> Result<NDArray> {
    Ok(call_with(name, inputs, attrs)?.swap_remove(0))
}

/// Whether the output of a view operator (`transpose`, `slice`, `expand_dims`, ...) may share
/// its input's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Views {
    /// Share it, at no cost: for callers that never write into the result (gradients,
    /// graphs) and for the `reshape` method, which shares memory in MXNet too.
    Share,
    /// Give the output its own buffer, as MXNet's operators do, so that a write into the
    /// result never changes the input, nor the other way round.
    Copy,
}

/// Run `op` on `inputs`, writing into `out` when given. Returns the visible outputs.
pub fn invoke(op: Arc<dyn Operator>, inputs: &[NDArray], out: Option<&[NDArray]>) -> Result<Vec<NDArray>> {
    invoke_for_user(op, inputs, out, Views::Share)
}

/// Like [`invoke`], for a call from the user's code, where `views` decides whether a view
/// operator's output shares its input's buffer.
pub fn invoke_for_user(op: Arc<dyn Operator>, inputs: &[NDArray], out: Option<&[NDArray]>, views: Views) -> Result<Vec<NDArray>> {
    let outputs = invoke_with(&op, inputs, out, true, views)?;
    Ok(outputs.expect("a push that may wait always runs"))
}

/// Invoke `op` on CPU `inputs` if that takes little time on the calling thread: the push is
/// admitted without waiting, and a kernel that runs inline reads and writes at most
/// [`QUICK_MAX_ELEMENTS`] elements. Otherwise return `None`, with nothing run or recorded.
/// The Python binding calls this with the GIL held, so that the call neither pays for
/// releasing the GIL nor waits for the engine while holding it.
pub fn try_invoke_quick(op: &Arc<dyn Operator>, inputs: &[NDArray], views: Views) -> Result<Option<Vec<NDArray>>> {
    if inputs.iter().any(|x| x.context().is_gpu()) || op.output_context().is_some_and(|c| c.is_gpu()) {
        return Ok(None);
    }
    invoke_with(op, inputs, None, false, views)
}

/// Elements (inputs and outputs together) of the largest kernel [`try_invoke_quick`] runs on the
/// calling thread. That is an `a + b` of 16K floats, a few microseconds, about as long as the
/// Python code between two calls (an estimate). Releasing and taking back the GIL costs 0.1 us
/// per call (measured on 2 cores). A thread that does it more often than CPython's 5 ms switch
/// interval also keeps the threads waiting for the GIL from requesting a switch.
pub const QUICK_MAX_ELEMENTS: usize = 3 * INLINE_MAX_ELEMENTS;

fn invoke_with(
    op: &Arc<dyn Operator>,
    inputs: &[NDArray],
    out: Option<&[NDArray]>,
    wait: bool,
    views: Views,
) -> Result<Option<Vec<NDArray>>> {
    let out_ctx = op.output_context().unwrap_or_else(|| ctx_of(inputs));
    let widened = crate::widen::for_inputs(op, inputs, out_ctx.is_gpu());
    let op = widened.as_ref().unwrap_or(op);
    if let Some(first) = inputs.first() {
        if let Some(other) = inputs.iter().find(|x| x.context() != first.context()) {
            return Err(Error::MXNet(format!(
                "{}: inputs are on different contexts ({} and {}); move them with as_in_context() first",
                op.name(),
                first.context(),
                other.context()
            )));
        }
    }
    let descs: SmallVec<[TensorDesc; 4]> = inputs.iter().map(TensorDesc::of).collect();
    let out_descs = op.infer(&descs)?;
    for desc in &out_descs {
        if !desc.shape.contains(&0) {
            let elements = desc.shape.iter().try_fold(1, |n, &d| crate::ndarray::checked_size(op.name(), n, d))?;
            if crate::ndarray::checked_size(op.name(), elements, desc.dtype.size()).is_err() {
                return Err(Error::Value(format!(
                    "{}: an output of shape {:?} and dtype {} would take more bytes than any array can hold; use smaller sizes",
                    op.name(),
                    desc.shape,
                    desc.dtype
                )));
            }
        }
    }
    if !wait && !is_quick(inputs, &out_descs) {
        return Ok(None);
    }
    let recording = autograd::is_recording();

    if views == Views::Share && out.is_none() && inputs.len() == 1 && out_descs.len() == 1 {
        if let Some(layout) = op.view(&inputs[0]) {
            let mut outputs = vec![inputs[0].with_layout(layout)];
            if recording {
                autograd::record(op, inputs, &mut outputs)?;
            }
            return Ok(Some(outputs));
        }
    }

    if let Some(out) = out {
        let visible = op.num_visible_outputs();
        if out.len() != visible {
            return Err(Error::Value(format!(
                "{}: out= has {} array(s) but the operator returns {visible}; pass a list of {visible}",
                op.name(),
                out.len()
            )));
        }
    }
    let on_gpu = out.and_then(|o| o.first()).map_or(out_ctx, |x| x.context()).is_gpu();
    if on_gpu && !op.supports_gpu() {
        // Random draws and other operators without inputs run on the host and are copied
        // into a GPU `out=`, as they are for `ctx=mx.gpu()`.
        if let (true, Some(out)) = (inputs.is_empty(), out) {
            let host = invoke(op.clone(), inputs, None)?;
            for (h, dst) in host.iter().zip(out) {
                copy_into(h, dst)?;
            }
            return Ok(Some(out.to_vec()));
        }
        return Err(crate::gpu::no_kernel(op.name()));
    }
    let mut targets: Vec<NDArray> = Vec::with_capacity(out_descs.len());
    let mut copy_back: Vec<(NDArray, NDArray)> = Vec::new();
    // Indices of the outputs allocated without the zero fill, and of those to zero before the kernel.
    let mut new = New::default();
    for (i, desc) in out_descs.iter().enumerate() {
        let requested_out = out.and_then(|o| o.get(i));
        match requested_out {
            Some(dst) => {
                check_out(op.name(), i, dst, desc)?;
                if !inputs.is_empty() && dst.context() != out_ctx {
                    return Err(Error::MXNet(format!(
                        "{}: out[{i}] is on {} but the result is computed on {out_ctx}; pass an out= array on {out_ctx} or copy the result with as_in_context()",
                        op.name(),
                        dst.context(),
                    )));
                }
                if recording && dst.ag.is_some() {
                    return Err(Error::MXNet(format!(
                        "{}: assigning to NDArrays that are already in a computational graph will cause \
                         undefined behavior when evaluating gradients; write into a new array instead, or \
                         call the op under autograd.pause()",
                        op.name()
                    )));
                }
                // Writing in place is safe only when every input that shares the storage has the
                // output's layout. A shifted view would read elements the kernel already overwrote.
                let aliases_input = inputs.iter().any(|x| x.shares_storage(dst));
                let same_layout = inputs.iter().all(|x| !x.shares_storage(dst) || x.layout() == dst.layout());
                let in_place = op.inplace_safe() && same_layout;
                if dst.is_contiguous() && !dst.layout().has_overlap() && (!aliases_input || in_place) {
                    targets.push(dst.detach());
                } else {
                    if dst.layout().has_overlap() {
                        return Err(Error::Value(format!(
                            "{}: out[{i}] is a broadcast view (several indices share one element); write into .copy() instead",
                            op.name()
                        )));
                    }
                    let tmp = NDArray::zeros(&desc.shape, desc.dtype, dst.context())?;
                    copy_back.push((tmp.clone(), dst.detach()));
                    targets.push(tmp);
                }
            }
            None if op.overwrites_outputs() => {
                new.arrays.push(i);
                targets.push(NDArray::for_overwrite_like(&desc.shape, desc.dtype, out_ctx, inputs)?);
            }
            // Zeroed by the operation itself, on the pool and in parallel, instead of on this
            // (Python's) thread: a 4 MB fill took about 200 us there.
            None if !out_ctx.is_gpu() => {
                new.arrays.push(i);
                new.clear.push(i);
                targets.push(NDArray::for_overwrite_like(&desc.shape, desc.dtype, out_ctx, inputs)?);
            }
            None => targets.push(NDArray::zeros(&desc.shape, desc.dtype, out_ctx)?),
        }
    }

    if !push_forward(op, inputs, &targets, copy_back, new, wait)? {
        return Ok(None);
    }

    let visible = op.num_visible_outputs();
    let mut outputs: Vec<NDArray> = match out {
        // `out` arrays keep their autograd identity (a parameter stays a leaf after an update).
        Some(o) => o.iter().cloned().chain(targets.iter().skip(o.len()).cloned()).collect(),
        None => targets,
    };
    if recording && op.differentiable() {
        autograd::record(op, inputs, &mut outputs)?;
    }
    outputs.truncate(visible);
    Ok(Some(outputs))
}

fn ctx_of(inputs: &[NDArray]) -> crate::Context {
    inputs.first().map(|x| x.context()).unwrap_or_else(crate::Context::cpu)
}

fn check_out(op: &str, i: usize, dst: &NDArray, desc: &TensorDesc) -> Result<()> {
    if dst.shape() != desc.shape.as_slice() {
        return Err(Error::Value(format!(
            "{op}: out[{i}] has shape {:?} but the result has shape {:?}; pass an array of the result's shape",
            dst.shape(),
            desc.shape
        )));
    }
    if dst.dtype() != desc.dtype {
        return Err(Error::Type(format!(
            "{op}: out[{i}] has dtype {} but the result has dtype {}; cast with astype() first",
            dst.dtype(),
            desc.dtype
        )));
    }
    Ok(())
}

/// Push the kernel of `op` reading `inputs` and writing `outputs` (and mutated inputs). Each
/// `(tmp, dst)` of `copy_back` copies an output computed into `tmp` to the strided `dst` inside
/// the same operation, so no other write to `dst` can land between the kernel and the copy.
/// `new` lists the outputs this call allocated without the zero fill (see [`New`]).
/// With `wait` false, push only if the engine admits the operation without waiting, and
/// return whether it was pushed.
pub(crate) fn push_forward(
    op: &Arc<dyn Operator>,
    inputs: &[NDArray],
    outputs: &[NDArray],
    copy_back: Vec<(NDArray, NDArray)>,
    new: New,
    wait: bool,
) -> Result<bool> {
    let ctx = OpContext {
        is_train: autograd::is_training(),
        seed: if op.is_random() { random::next_seed() } else { 0 },
    };
    let on_gpu = outputs.first().is_some_and(|x| x.context().is_gpu());
    let output_elements: usize = outputs.iter().map(|x| x.size()).sum();
    // Not for a copy from a GPU either: it waits for the device, which the push leaves to a
    // copy lane so that the caller returns at once.
    let on_host = !on_gpu && inputs.iter().all(|x| !x.context().is_gpu());
    if on_host && copy_back.is_empty() && output_elements <= INLINE_MAX_ELEMENTS {
        match run_now(op, &ctx, inputs, outputs, &new) {
            RunNow::Ran => return Ok(true),
            RunNow::Declined(()) => {}
        }
    }
    // Inline capacities cover almost every operator, so a push allocates only the engine's
    // block and the closure.
    let reads: SmallVec<[Var; 4]> = inputs.iter().map(|x| x.var().clone()).collect();
    let mut writes: SmallVec<[Var; 4]> = outputs.iter().map(|x| x.var().clone()).collect();
    writes.extend(copy_back.iter().map(|(_, dst)| dst.var().clone()));
    for i in op.mutate_inputs() {
        if let Some(x) = inputs.get(i) {
            writes.push(x.var().clone());
        }
    }
    let op = op.clone();
    let inputs: SmallVec<[NDArray; 4]> = inputs.iter().map(|x| x.detach()).collect();
    let outputs: SmallVec<[NDArray; 2]> = outputs.iter().map(|x| x.detach()).collect();
    let output_bytes: usize = outputs.iter().map(|x| x.size() * x.dtype().size()).sum();
    let lane = lane_of(&inputs, &outputs);
    let New { arrays, clear } = new;
    let guard = Outputs { arrays: outputs, new: arrays, written: false };
    let body = Box::new(move || -> std::result::Result<(), OpError> {
        // Bound as a whole, so that the closure owns the guard rather than copying out its flag.
        let mut guard = guard;
        let outputs = &guard.arrays[..];
        let started = crate::profiler::start();
        for &i in &clear {
            // SAFETY: this operation writes `outputs[i]`, a new array that covers its whole buffer.
            mxnet_cpu::parallel::fill(unsafe { outputs[i].storage().slice_mut::<u8>() }, 0);
        }
        let result = if on_gpu { op.forward_gpu(&ctx, &inputs, outputs) } else { op.forward(&ctx, &inputs, outputs) };
        result.map_err(|e| Arc::new(e) as OpError)?;
        for (tmp, dst) in &copy_back {
            crate::ops::copy::copy_kernel(tmp, dst).map_err(|e| Arc::new(e) as OpError)?;
        }
        guard.written = true;
        crate::profiler::finish(op.name(), started);
        Ok(())
    });
    // GPU operations only record commands, which takes microseconds whatever their size. A copy
    // between devices may wait for a device, so it never runs inline.
    let crosses_devices = matches!(lane, Lane::Dedicated(id) if id % 2 == 1);
    let inline = !crosses_devices && (on_gpu || output_elements <= INLINE_MAX_ELEMENTS);
    let options = PushOptions { inline_if_ready: inline, bytes: output_bytes, priority: current_priority(), lane };
    let engine = crate::engine();
    if wait {
        engine.push_with(body, &reads, &writes, options).map_err(from_engine)?;
        return Ok(true);
    }
    match engine.try_push_with(body, &reads, &writes, options).map_err(from_engine)? {
        None => Ok(true),
        Some(unrun) => {
            // Not pushed, and the caller retries from the start. The quick path takes no `out=`
            // arrays, so the outputs zeroed as this is dropped are new arrays that no one else shares.
            drop(unrun);
            Ok(false)
        }
    }
}

/// Run the CPU kernel of `op` on this thread if the engine lets it start at once (see
/// [`mxnet_engine::Engine::try_run_now`]). The caller has checked that the kernel is small.
/// A push of a small `a + b` cost more than the kernel: the boxed closure, the operation
/// block and the clones of its arrays made up 0.4 of its 1.05 us.
fn run_now(op: &Arc<dyn Operator>, ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray], new: &New) -> RunNow<()> {
    // As in a push, a variable both read and written (an updated weight, `out=` an input)
    // counts as written once. The engine would decline a variable named twice among the writes.
    let mut writes: SmallVec<[&Var; 4]> = SmallVec::new();
    let updated = op.mutate_inputs().into_iter().filter_map(|i| inputs.get(i));
    for v in outputs.iter().chain(updated).map(|x| x.var()) {
        if !writes.iter().any(|w| w.same(v)) {
            writes.push(v);
        }
    }
    let reads: SmallVec<[&Var; 4]> =
        inputs.iter().map(|x| x.var()).filter(|v| !writes.iter().any(|w| w.same(v))).collect();
    let body = || -> std::result::Result<(), OpError> {
        let mut guard = Outputs { arrays: outputs, new: new.arrays.clone(), written: false };
        let started = crate::profiler::start();
        for &i in &new.clear {
            // SAFETY: this operation writes `outputs[i]`, a new array that covers its whole buffer.
            unsafe { outputs[i].storage().slice_mut::<u8>() }.fill(0);
        }
        op.forward(ctx, inputs, outputs).map_err(|e| Arc::new(e) as OpError)?;
        guard.written = true;
        crate::profiler::finish(op.name(), started);
        Ok(())
    };
    match crate::engine().try_run_now(&reads, &writes, body) {
        RunNow::Ran => RunNow::Ran,
        RunNow::Declined(_) => RunNow::Declined(()),
    }
}

/// Indices of the outputs an imperative call allocated without the zero fill: every one of them
/// goes in `arrays`, and those of operators that do not write every element also in `clear`.
#[derive(Default)]
pub(crate) struct New {
    arrays: SmallVec<[usize; 2]>,
    clear: SmallVec<[usize; 2]>,
}

/// The new outputs of one pushed operation, zeroed when dropped unless the kernel wrote them.
/// They may hold another array's old bytes, which an operation that fails, panics, or is
/// dropped unrun because an input carries an error must not leave behind. `out=` arrays and
/// updated inputs (weights) are not in here: they keep their values, as in MXNet.
struct Outputs<A: AsRef<[NDArray]>> {
    arrays: A,
    /// Indices of the new outputs in `arrays`.
    new: SmallVec<[usize; 2]>,
    written: bool,
}

impl<A: AsRef<[NDArray]>> Drop for Outputs<A> {
    fn drop(&mut self) {
        if self.written {
            return;
        }
        for out in self.new.iter().map(|&i| &self.arrays.as_ref()[i]) {
            if let Some(b) = out.storage().device_buffer() {
                // A device call may panic, and a panic while unwinding from a kernel's panic
                // aborts the process, so device outputs are left alone then.
                if !std::thread::panicking() {
                    b.device().clear(b.raw(), out.storage().nbytes() as u64);
                }
                continue;
            }
            // SAFETY: the engine runs or drops this operation while it has exclusive access to
            // the arrays it writes, and `out` is a new array that covers its whole buffer.
            unsafe { out.storage().slice_mut::<u8>() }.fill(0);
        }
    }
}

/// Report whether pushing an operation with these inputs and outputs takes little time on the
/// calling thread (see [`try_invoke_quick`]): its kernel either runs on a pool thread (large
/// outputs under a threaded engine) or is small.
fn is_quick(inputs: &[NDArray], outputs: &[TensorDesc]) -> bool {
    let out_elements: usize = outputs.iter().map(|d| d.shape.iter().product::<usize>()).sum();
    let in_elements: usize = inputs.iter().map(|x| x.size()).sum();
    let queued = out_elements > INLINE_MAX_ELEMENTS && crate::engine().kind() != mxnet_engine::EngineKind::Naive;
    queued || out_elements + in_elements <= QUICK_MAX_ELEMENTS
}

/// Choose the engine lane of an operation. Lane `2i` is gpu(i)'s compute queue, and `2i + 1`
/// its copy queue, for operations whose inputs and outputs are on different devices. CPU
/// operations use the pool.
fn lane_of(inputs: &[NDArray], outputs: &[NDArray]) -> Lane {
    let contexts = || inputs.iter().chain(outputs).map(|x| x.context());
    let Some(gpu) = contexts().find(|c| c.is_gpu()) else { return Lane::Pool };
    let first = contexts().next().expect("a GPU context was found");
    if contexts().all(|c| c == first) {
        Lane::Dedicated(2 * gpu.device_id())
    } else {
        Lane::Dedicated(2 * gpu.device_id() + 1)
    }
}

thread_local! {
    static PRIORITY: Cell<i32> = const { Cell::new(0) };
}

/// Set the engine priority of the operations this thread pushes from now on and return the
/// previous one. Among ready operations the engine runs higher priorities first; the Gluon
/// trainer gives the first layers' updates the highest, as MXNet's kvstore does.
pub fn set_priority(priority: i32) -> i32 {
    PRIORITY.with(|p| p.replace(priority))
}

fn current_priority() -> i32 {
    PRIORITY.with(|p| p.get())
}

/// Operations writing at most this many elements run on the calling thread when their inputs
/// are ready. Measured with benches/bench_python.py on 2 cores: the worker-queue hop costs about
/// 5 us per op, about what a 16K-element elementwise kernel takes, so smaller ops gain by
/// running inline and larger ones by overlapping with Python.
const INLINE_MAX_ELEMENTS: usize = 1 << 14;

/// Copy `src` into the (possibly strided) view `dst` of the same shape and dtype.
pub fn copy_into(src: &NDArray, dst: &NDArray) -> Result<()> {
    if src.shape() != dst.shape() {
        return Err(Error::Value(format!(
            "copyto: source shape {:?} does not match destination shape {:?}",
            src.shape(),
            dst.shape()
        )));
    }
    if dst.layout().has_overlap() {
        return Err(Error::Value(
            "cannot write into a broadcast view (several indices share one element); call .copy() first".into(),
        ));
    }
    let src = src.detach();
    let dst = dst.detach();
    let reads = vec![src.var().clone()];
    let writes = vec![dst.var().clone()];
    // A copy that involves a GPU runs on that device's lane. One to or from the host runs on the
    // copy lane, because it waits for the device and must not hold a CPU worker meanwhile.
    let lane = lane_of(std::slice::from_ref(&src), std::slice::from_ref(&dst));
    let body = Box::new(move || -> std::result::Result<(), OpError> {
        let started = crate::profiler::start();
        crate::ops::copy::copy_kernel(&src, &dst).map_err(|e| Arc::new(e) as OpError)?;
        crate::profiler::finish("_copyto", started);
        Ok(())
    });
    let options = PushOptions { priority: current_priority(), lane, ..Default::default() };
    crate::engine().push_with(body, &reads, &writes, options).map_err(from_engine)
}
