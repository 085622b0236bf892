//! The bridge between NDArrays and the kernels of `mxnet-gpu`: device lookup, dtype rules,
//! elementwise and reduction calls from operator definitions, and copies between host and
//! device memory.

use std::sync::Arc;

use mxnet_gpu::kernels::elementwise::{self, Input, Output};
use mxnet_gpu::kernels::packed::{self, Packed};
use mxnet_gpu::{Device, Elem, GpuError};

use crate::context::Context;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ndarray::NDArray;

impl From<GpuError> for Error {
    fn from(e: GpuError) -> Error {
        Error::MXNet(e.to_string())
    }
}

/// Return the device of a GPU context, opening it on first use.
pub fn device(ctx: Context) -> Result<Arc<Device>> {
    match ctx {
        Context::Gpu(i) => Ok(mxnet_gpu::device(i as usize)?),
        Context::Cpu(_) => Err(Error::MXNet(format!("internal error: {ctx} has no GPU device"))),
    }
}

/// Reject dtypes a GPU cannot hold: WGSL has no 64-bit types.
pub fn check_dtype(dtype: DType, ctx: Context) -> Result<()> {
    match dtype {
        DType::Float64 | DType::Int64 => Err(Error::Type(format!(
            "{dtype} arrays cannot live on {ctx}: GPU kernels (WGSL) have no 64-bit types; \
             cast to {} first (x.astype('{}')) or keep the array on mx.cpu()",
            if dtype == DType::Float64 { "float32" } else { "int32" },
            if dtype == DType::Float64 { "float32" } else { "int32" },
        ))),
        _ => Ok(()),
    }
}

/// Return the device buffer of a GPU array.
pub fn buffer(x: &NDArray) -> Result<&mxnet_gpu::Buffer> {
    if mxnet_gpu::is_forked_child() {
        return Err(Error::MXNet(format!(
            "{x:?} lives on a GPU opened by the parent process, which a forked child cannot use; \
             return CPU arrays from worker processes"
        )));
    }
    x.storage()
        .device_buffer()
        .ok_or_else(|| Error::MXNet(format!("internal error: {x:?} has no device buffer")))
}

/// Return the device buffer of a contiguous GPU array and the element offset where it starts.
pub fn operand(x: &NDArray) -> Result<(&mxnet_gpu::Buffer, usize)> {
    Ok((buffer(x)?, x.layout().offset))
}

/// Return the kernel element type of `dtype`, or an error naming `op` and the dtypes it accepts.
pub fn elem(op: &str, dtype: DType) -> Result<Elem> {
    match dtype {
        DType::Float32 => Ok(Elem::F32),
        DType::Int32 => Ok(Elem::I32),
        other => Err(Error::Type(format!(
            "{op}: dtype {other} has no GPU kernel yet (float32 and int32 do); cast the input \
             with astype('float32') or run the op on mx.cpu()"
        ))),
    }
}

/// Like [`elem`], for operators that compute only in float32.
pub fn float_elem(op: &str, dtype: DType) -> Result<Elem> {
    match dtype {
        DType::Float32 => Ok(Elem::F32),
        other => Err(Error::Type(format!(
            "{op}: dtype {other} has no GPU kernel yet (float32 does); cast the input with \
             astype('float32') or run the op on mx.cpu()"
        ))),
    }
}

/// Build the error of an operator that has no GPU kernel yet.
pub fn no_kernel(op: &str) -> Error {
    Error::MXNet(format!(
        "operator {op} has no GPU kernel yet; run it on the CPU (x.as_in_context(mx.cpu())) and \
         copy the result back with as_in_context(mx.gpu())"
    ))
}

/// Record `out = expr(inputs..., scalars...)` elementwise; inputs broadcast to `out`'s shape.
/// `expr` is WGSL over `x0`..`x5` and `s0`..`s7` (see `mxnet_gpu::kernels::elementwise::map`).
pub fn map(op: &str, expr: &str, inputs: &[&NDArray], scalars: &[f32], out: &NDArray) -> Result<()> {
    map_as(op, expr, inputs, scalars, out, |d| elem(op, d))
}

/// [`map`] with the dtype rule given by `rule` (for float-only operators: [`float_elem`]).
pub fn map_as(
    op: &str,
    expr: &str,
    inputs: &[&NDArray],
    scalars: &[f32],
    out: &NDArray,
    rule: impl Fn(DType) -> Result<Elem>,
) -> Result<()> {
    if out.layout().has_overlap() {
        return Err(Error::Value(format!("{op}: the output is a broadcast view (several indices share one element); write into .copy() instead")));
    }
    let layouts = inputs
        .iter()
        .map(|x| {
            x.layout().broadcast_to(out.shape()).ok_or_else(|| {
                Error::Value(format!("{op}: input of shape {:?} does not broadcast to {:?}", x.shape(), out.shape()))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut kernel_inputs = Vec::with_capacity(inputs.len());
    for (x, layout) in inputs.iter().zip(&layouts) {
        kernel_inputs.push(Input { buffer: buffer(x)?, layout, elem: rule(x.dtype())? });
    }
    let output = Output { buffer: buffer(out)?, layout: out.layout(), elem: rule(out.dtype())? };
    elementwise::map(expr, &kernel_inputs, scalars, output).map_err(|e| explain_axes(op, out.shape(), e))
}

/// Explain the elementwise kernel's axis limit in terms of operator `op` and its output.
fn explain_axes(op: &str, shape: &[usize], e: GpuError) -> Error {
    match e {
        GpuError::Kernel(m) if m.contains("dimensions after merging") => Error::MXNet(format!(
            "{op}: the GPU kernel indexes at most 8 axes after merging contiguous ones, and this view of \
             shape {shape:?} needs more; reshape to fewer axes or call .copy() first ({m})"
        )),
        other => other.into(),
    }
}

/// A matrix operand of [`matmul`]: element `(b, i, j)` of `array`'s buffer at
/// `offset + b * strides[0] + i * strides[1] + j * strides[2]`.
pub struct Matrix<'a> {
    pub array: &'a NDArray,
    pub offset: usize,
    pub strides: [isize; 3],
}

impl<'a> Matrix<'a> {
    /// A contiguous (batch, rows, cols) array, read transposed when `transposed`.
    pub fn packed(array: &'a NDArray, rows: usize, cols: usize, transposed: bool) -> Matrix<'a> {
        let (rs, cs) = if transposed { (1, cols as isize) } else { (cols as isize, 1) };
        Matrix { array, offset: array.layout().offset, strides: [(rows * cols) as isize, rs, cs] }
    }
}

/// Record `out = A B` for `batch` products of (m x k) by (k x n) into the contiguous `out`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(op: &str, a: &Matrix, b: &Matrix, batch: usize, m: usize, n: usize, k: usize, out: &NDArray) -> Result<()> {
    for x in [a.array, b.array, out] {
        float_elem(op, x.dtype())?;
    }
    use mxnet_gpu::kernels::matmul::Operand;
    let oa = Operand { buffer: buffer(a.array)?, offset: a.offset, strides: a.strides };
    let ob = Operand { buffer: buffer(b.array)?, offset: b.offset, strides: b.strides };
    let oc = Operand { buffer: buffer(out)?, offset: out.layout().offset, strides: [(m * n) as isize, n as isize, 1] };
    Ok(mxnet_gpu::kernels::matmul::matmul(&oa, &ob, batch, m, n, k, 1.0, false, &oc)?)
}

/// Record `out = scale * reducer(x over the axes marked in `mask`)`.
pub fn reduce(op: &str, reducer: mxnet_gpu::kernels::reduce::Reducer, x: &NDArray, mask: &[bool], scale: f32, out: &NDArray) -> Result<()> {
    let elem = elem(op, x.dtype())?;
    if !out.is_contiguous() {
        return Err(Error::MXNet(format!("{op}: a GPU kernel writes only contiguous outputs; pass a contiguous out= array")));
    }
    Ok(mxnet_gpu::kernels::reduce::reduce(reducer, elem, buffer(x)?, x.layout(), mask, scale, buffer(out)?, out.layout().offset)?)
}

/// Copy `src` into the view `dst` where either is on a GPU, inside an engine operation that
/// reads `src` and writes `dst`. Same-dtype copies only; casts on a GPU go through `map`.
pub(crate) fn copy(src: &NDArray, dst: &NDArray) -> Result<()> {
    copy_for("copy", src, dst)
}

/// [`copy`] on behalf of operator `op`, which errors name.
pub(crate) fn copy_for(op: &str, src: &NDArray, dst: &NDArray) -> Result<()> {
    let width = src.dtype().size();
    match (src.context(), dst.context()) {
        (Context::Cpu(_), Context::Gpu(_)) => {
            if !dst.is_contiguous() {
                let staged = NDArray::for_overwrite(dst.shape(), dst.dtype(), dst.context())?;
                copy(src, &staged)?;
                return copy(&staged, dst);
            }
            // SAFETY: inside the engine operation that reads `src`.
            let bytes = unsafe { host_bytes(src)? };
            let device = buffer(dst)?.device().clone();
            // An upload pads to 4 bytes, which is safe only up to the end of the storage.
            if dst.layout().offset == 0 && (bytes.len() % 4 == 0 || bytes.len() == dst.storage().nbytes()) {
                device.upload(buffer(dst)?.raw(), &bytes);
            } else {
                let staging = mxnet_gpu::Buffer::allocate(&device, bytes.len() as u64)?;
                device.upload(staging.raw(), &bytes);
                copy_bytes(&device, &staging, 0, dst, dst.layout().offset * width, bytes.len())?;
            }
            Ok(())
        }
        (Context::Gpu(_), Context::Cpu(_)) => {
            let contiguous = contiguous(src)?;
            let device = buffer(&contiguous)?.device().clone();
            let nbytes = contiguous.size() * width;
            let mut bytes = vec![0u8; nbytes + contiguous.layout().offset * width];
            device.download(buffer(&contiguous)?.raw(), &mut bytes)?;
            let host = NDArray::from_bytes(dst.shape(), dst.dtype(), &bytes[contiguous.layout().offset * width..])?;
            crate::ops::copy::copy_kernel(&host, dst)
        }
        (Context::Gpu(a), Context::Gpu(b)) if a == b => {
            if width == 4 {
                // Any 4-byte dtype copies as bits, through the strided elementwise kernel, which
                // reads and writes views; overlapping views of one buffer go through a copy.
                let staged;
                let src = if src.shares_storage(dst) && src.layout() != dst.layout() {
                    staged = NDArray::for_overwrite(src.shape(), src.dtype(), src.context())?;
                    copy(src, &staged)?;
                    &staged
                } else {
                    src
                };
                let input = [Input { buffer: buffer(src)?, layout: src.layout(), elem: Elem::U32 }];
                let output = Output { buffer: buffer(dst)?, layout: dst.layout(), elem: Elem::U32 };
                return elementwise::map("x0", &input, &[], output).map_err(|e| explain_axes(op, dst.shape(), e));
            }
            if !src.is_contiguous() {
                // Narrow dtypes: a strided read goes through float32, which represents every value
                // of uint8, int8, bool, float16 and bfloat16 exactly.
                let wide = NDArray::for_overwrite(src.shape(), DType::Float32, src.context())?;
                cast(src, &wide)?;
                return cast(&wide, dst);
            }
            require_narrow_contiguous(dst)?;
            let device = buffer(dst)?.device().clone();
            copy_bytes(&device, buffer(src)?, src.layout().offset * width, dst, dst.layout().offset * width, src.size() * width)
        }
        (Context::Gpu(_), Context::Gpu(_)) => {
            // Between two devices through the host: wgpu has no peer-to-peer copies.
            let host = NDArray::zeros(src.shape(), src.dtype(), Context::cpu())?;
            copy(src, &host)?;
            copy(&host, dst)
        }
        (Context::Cpu(_), Context::Cpu(_)) => crate::ops::copy::copy_kernel(src, dst),
    }
}

/// Check that a narrow-dtype destination is written whole words at a time: packed bytes of a
/// strided view would need per-byte atomic writes.
fn require_narrow_contiguous(dst: &NDArray) -> Result<()> {
    let width = dst.dtype().size();
    let aligned = (dst.layout().offset * width) % 4 == 0;
    if dst.is_contiguous() && aligned {
        return Ok(());
    }
    Err(Error::MXNet(format!(
        "writing into a strided or unaligned view of a {} GPU array (shape {:?}, strides {:?}, offset {}) is not \
         supported yet; write into a contiguous array, or cast the array to float32 or int32 first",
        dst.dtype(),
        dst.shape(),
        dst.layout().strides,
        dst.layout().offset
    )))
}

/// `x` itself when contiguous, else a contiguous copy on the same device.
pub fn contiguous(x: &NDArray) -> Result<NDArray> {
    if x.is_contiguous() {
        return Ok(x.clone());
    }
    let out = NDArray::for_overwrite(x.shape(), x.dtype(), x.context())?;
    copy(x, &out)?;
    Ok(out)
}

/// Copy out the row-major bytes of a host array.
///
/// # Safety
/// Call inside an engine operation that reads `x`.
unsafe fn host_bytes(x: &NDArray) -> Result<Vec<u8>> {
    let width = x.dtype().size();
    let packed = if x.is_contiguous() {
        x.clone()
    } else {
        let packed = NDArray::for_overwrite(x.shape(), x.dtype(), Context::cpu())?;
        crate::ops::copy::copy_kernel(x, &packed)?;
        packed
    };
    let start = packed.layout().offset * width;
    Ok(packed.storage().slice::<u8>()[start..start + x.size() * width].to_vec())
}

/// Return the packed storage of a dtype narrower than 32 bits.
fn packed(dtype: DType) -> Option<Packed> {
    match dtype {
        DType::UInt8 => Some(Packed::U8),
        DType::Int8 => Some(Packed::I8),
        DType::Bool => Some(Packed::Bool),
        DType::Float16 => Some(Packed::F16),
        DType::BFloat16 => Some(Packed::BF16),
        _ => None,
    }
}

/// Convert `src` to the dtype of `dst` on one GPU. Narrow dtypes convert through float32 and
/// need contiguous arrays.
pub(crate) fn cast(src: &NDArray, dst: &NDArray) -> Result<()> {
    match (packed(src.dtype()), packed(dst.dtype())) {
        (None, None) => {
            let from = elem("Cast", src.dtype())?;
            let expr = match elem("Cast", dst.dtype())? {
                Elem::I32 if from == Elem::F32 => "f_cast_i32(x0)",
                to => if to == Elem::F32 { "f32(x0)" } else { "i32(x0)" },
            };
            map("Cast", expr, &[src], &[], dst)
        }
        (Some(kind), None) => {
            if dst.dtype() != DType::Float32 || !dst.is_contiguous() {
                let wide = NDArray::for_overwrite(src.shape(), DType::Float32, src.context())?;
                cast(src, &wide)?;
                return cast(&wide, dst);
            }
            Ok(packed::unpack(kind, (buffer(src)?, src.layout()), operand(dst)?, Elem::F32)?)
        }
        (None, Some(kind)) => {
            let src = contiguous(src)?;
            require_narrow_contiguous(dst)?;
            Ok(packed::pack(kind, operand(&src)?, elem("Cast", src.dtype())?, src.size(), operand(dst)?)?)
        }
        (Some(_), Some(_)) => {
            let wide = NDArray::for_overwrite(src.shape(), DType::Float32, src.context())?;
            cast(src, &wide)?;
            cast(&wide, dst)
        }
    }
}

/// Copy `n` bytes into the storage of `dst` at byte `to`. Buffer copies move whole 4-byte
/// words, so a length that is not a multiple of 4 must end at the end of the storage.
fn copy_bytes(device: &Device, src: &mxnet_gpu::Buffer, from: usize, dst: &NDArray, to: usize, n: usize) -> Result<()> {
    if from % 4 != 0 || to % 4 != 0 || (n % 4 != 0 && to + n != dst.storage().nbytes()) {
        return Err(Error::MXNet(format!(
            "a GPU copy of {n} bytes at byte offsets {from} -> {to} is not 4-byte aligned; \
             8- and 16-bit views at odd offsets are not supported on the GPU yet"
        )));
    }
    device.copy(src.raw(), from as u64, buffer(dst)?.raw(), to as u64, n as u64);
    Ok(())
}

/// Wait until every command recorded on a GPU so far has run, and raise a device error.
pub fn synchronize(ctx: Context) -> Result<()> {
    if let Context::Gpu(_) = ctx {
        device(ctx)?.synchronize()?;
    }
    Ok(())
}

/// [`synchronize`] every device opened so far (`waitall`).
pub fn synchronize_all() -> Result<()> {
    for d in mxnet_gpu::opened_devices() {
        d.synchronize()?;
    }
    Ok(())
}
