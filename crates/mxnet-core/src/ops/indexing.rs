//! Gathering by index: `take`, `pick` and `one_hot`, with the private gradient operators
//! `_backward_take` and `_backward_pick` that scatter-add into zeros.
//!
//! Index arrays may have any real dtype; float indices (MXNet's default dtype) are truncated
//! toward zero, as MXNet's integer cast does.

use std::sync::Arc;

use mxnet_cpu::parallel;
use rayon::prelude::*;

use super::arith::Arith;
use super::reduce::py_bool;
use super::view::axis_index;
use crate::attrs::{tuple_string, AttrReader, Attrs};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::imperative::call1;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
use crate::{dispatch_all, dispatch_real};
use mxnet_cpu::parallel::PARALLEL_MIN_ELEMENTS;

/// Handling of an index outside `[0, dim)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexMode {
    /// Clamp to the nearest valid index (MXNet's default).
    Clip,
    /// Take the index modulo `dim`.
    Wrap,
    /// Raise an `IndexError`; negative indices down to `-dim` count from the end, as in numpy.
    Raise,
}

impl IndexMode {
    fn parse(op: &str, s: &str) -> Result<IndexMode> {
        match s {
            "clip" => Ok(IndexMode::Clip),
            "wrap" => Ok(IndexMode::Wrap),
            "raise" => Ok(IndexMode::Raise),
            other => Err(Error::Value(format!("{op}: invalid mode '{other}'; use 'clip', 'wrap' or 'raise'"))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            IndexMode::Clip => "clip",
            IndexMode::Wrap => "wrap",
            IndexMode::Raise => "raise",
        }
    }

    /// The position in `[0, dim)` that index `k` selects; `dim` must be positive.
    fn resolve(self, op: &str, k: i64, dim: usize) -> Result<usize> {
        let d = dim as i64;
        match self {
            IndexMode::Clip => Ok(k.clamp(0, d - 1) as usize),
            IndexMode::Wrap => Ok(k.rem_euclid(d) as usize),
            IndexMode::Raise if (-d..d).contains(&k) => Ok(if k < 0 { k + d } else { k } as usize),
            IndexMode::Raise => Err(Error::Index(format!(
                "{op}: index {k} is out of bounds for an axis of size {dim}; use mode='clip' or 'wrap' to accept it"
            ))),
        }
    }
}

/// Read the elements of an index array as integers, row-major. Float values are truncated.
///
/// # Safety
/// Call only inside an engine operation that reads `x`.
unsafe fn read_indices(op: &str, x: &NDArray) -> Result<Vec<i64>> {
    dispatch_real!(op, x.dtype(), T => {
        Ok(x.contiguous_data::<T>().iter().map(|&v| v.to_f64() as i64).collect())
    })
}

/// Sizes before, along and after `axis` of `shape`.
fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

fn check_index_dtype(op: &str, dtype: DType) -> Result<()> {
    if matches!(dtype, DType::Float16 | DType::BFloat16 | DType::Bool) {
        return Err(Error::Type(format!("{op}: index dtype {dtype} is not supported; use float32 or an integer dtype")));
    }
    Ok(())
}

pub struct Take {
    axis: i64,
    mode: IndexMode,
}

impl Operator for Take {
    fn name(&self) -> &'static str {
        "take"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let [a, idx] = inputs else {
            return Err(Error::Value(format!("take: expected inputs a and indices, got {} arrays", inputs.len())));
        };
        check_index_dtype("take", idx.dtype)?;
        let axis = axis_index("take", self.axis, a.shape.len())?;
        if a.shape[axis] == 0 && idx.shape.iter().product::<usize>() > 0 {
            return Err(Error::Index(format!("take: cannot take from axis {axis} of size 0 (shape {:?})", a.shape)));
        }
        let mut shape = a.shape[..axis].to_vec();
        shape.extend_from_slice(&idx.shape);
        shape.extend_from_slice(&a.shape[axis + 1..]);
        Ok(vec![TensorDesc::new(shape, a.dtype)])
    }

    fn supports_gpu(&self) -> bool {
        self.mode != IndexMode::Raise
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let a = &inputs[0];
        let axis = axis_index("take", self.axis, a.ndim())?;
        gpu_take("take", self.mode, a.shape(), axis, a, &inputs[1], false, &outputs[0])
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (a, out) = (&inputs[0], &outputs[0]);
        let axis = axis_index("take", self.axis, a.ndim())?;
        let (_, dim, inner) = split_at_axis(a.shape(), axis);
        // SAFETY: called by the engine with the inputs read and `out` written.
        unsafe {
            let idx = read_indices("take", &inputs[1])?;
            let pos: Vec<usize> = idx.iter().map(|&k| self.mode.resolve("take", k, dim)).collect::<Result<_>>()?;
            dispatch_all!(a.dtype(), T => {
                let src = a.contiguous_data::<T>();
                let dst = out.out_data::<T>();
                // Output row r (a block of `inner` elements) is block pos[r % n] of outer slice r / n.
                let n = pos.len();
                let copy_row = |(r, row): (usize, &mut [T])| {
                    let start = ((r / n) * dim + pos[r % n]) * inner;
                    row.copy_from_slice(&src[start..start + inner]);
                };
                if dst.is_empty() {
                    // An empty index array or empty trailing axes leave nothing to copy.
                } else if dst.len() >= PARALLEL_MIN_ELEMENTS {
                    let rows_per_task = (4096 / inner).max(1);
                    parallel::install(|| {
                        dst.par_chunks_mut(inner).with_min_len(rows_per_task).enumerate().for_each(copy_row)
                    });
                } else {
                    dst.chunks_mut(inner).enumerate().for_each(copy_row);
                }
            });
        }
        Ok(())
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let (a, idx) = (&g.inputs[0], &g.inputs[1]);
        let axis = axis_index("take", self.axis, a.ndim())?;
        let attrs = [
            ("axis", axis.to_string()),
            ("mode", self.mode.name().to_string()),
            ("shape", tuple_string(a.shape())),
        ];
        Ok(vec![Some(call1("_backward_take", &[&g.out_grads[0], idx], &attrs)?), None])
    }

    fn attrs(&self) -> Attrs {
        vec![("axis".into(), self.axis.to_string()), ("mode".into(), self.mode.name().into())]
    }
}

/// `_backward_take(dy, indices)`: zeros of `shape` (the shape of `take`'s `a`) with the blocks
/// of `dy` added at the taken positions; repeated indices accumulate.
pub struct TakeBackward {
    axis: usize,
    mode: IndexMode,
    shape: Vec<usize>,
}

impl Operator for TakeBackward {
    fn name(&self) -> &'static str {
        "_backward_take"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let (dy, idx) = (&inputs[0], &inputs[1]);
        let fits = self.axis < self.shape.len() && {
            let mut expected = self.shape[..self.axis].to_vec();
            expected.extend_from_slice(&idx.shape);
            expected.extend_from_slice(&self.shape[self.axis + 1..]);
            dy.shape == expected
        };
        if !fits {
            return Err(Error::Value(format!(
                "_backward_take: gradient of shape {:?} does not fit a of shape {:?}, axis {} and indices of shape {:?}",
                dy.shape, self.shape, self.axis, idx.shape
            )));
        }
        Ok(vec![TensorDesc::new(self.shape.clone(), dy.dtype)])
    }

    fn supports_gpu(&self) -> bool {
        self.mode != IndexMode::Raise
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        gpu_take(self.name(), self.mode, &self.shape, self.axis, &inputs[0], &inputs[1], true, &outputs[0])
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (dy, out) = (&inputs[0], &outputs[0]);
        let (outer, dim, inner) = split_at_axis(&self.shape, self.axis);
        // SAFETY: called by the engine with the inputs read and `out` written.
        unsafe {
            let idx = read_indices("_backward_take", &inputs[1])?;
            let pos: Vec<usize> =
                idx.iter().map(|&k| self.mode.resolve("take", k, dim)).collect::<Result<_>>()?;
            dispatch_real!("_backward_take", dy.dtype(), T => {
                let src = dy.contiguous_data::<T>();
                let dst = out.out_data::<T>();
                dst.fill(T::default());
                let mut r = 0;
                for o in 0..outer {
                    for &p in &pos {
                        let start = (o * dim + p) * inner;
                        for (d, &s) in dst[start..start + inner].iter_mut().zip(&src[r..r + inner]) {
                            *d = d.add(s);
                        }
                        r += inner;
                    }
                }
            });
        }
        Ok(())
    }

    /// Takes the head gradient at the same indices, for second-order gradients.
    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let attrs = [("axis", self.axis.to_string()), ("mode", self.mode.name().to_string())];
        Ok(vec![Some(call1("take", &[&g.out_grads[0], &g.inputs[1]], &attrs)?), None])
    }
}

pub struct Pick {
    axis: i64,
    keepdims: bool,
    mode: IndexMode,
}

impl Pick {
    /// Normalised axis and the output shape for `data` of `shape`.
    fn plan(&self, shape: &[usize]) -> Result<(usize, Vec<usize>)> {
        let axis = axis_index("pick", self.axis, shape.len())?;
        let mut out = shape.to_vec();
        if self.keepdims {
            out[axis] = 1;
        } else {
            out.remove(axis);
            if out.is_empty() {
                out.push(1);
            }
        }
        Ok((axis, out))
    }
}

impl Operator for Pick {
    fn name(&self) -> &'static str {
        "pick"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let [data, index] = inputs else {
            return Err(Error::Value(format!("pick: expected inputs data and index, got {} arrays", inputs.len())));
        };
        check_index_dtype("pick", index.dtype)?;
        let (axis, out) = self.plan(&data.shape)?;
        let n: usize = out.iter().product();
        if index.shape.iter().product::<usize>() != n {
            return Err(Error::Value(format!(
                "pick: index of shape {:?} must have one entry per position of data of shape {:?} without axis {axis}, i.e. shape {out:?}",
                index.shape, data.shape
            )));
        }
        if data.shape[axis] == 0 && n > 0 {
            return Err(Error::Index(format!("pick: cannot pick from axis {axis} of size 0 (shape {:?})", data.shape)));
        }
        Ok(vec![TensorDesc::new(out, data.dtype)])
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (data, out) = (&inputs[0], &outputs[0]);
        let (axis, _) = self.plan(data.shape())?;
        let (outer, dim, inner) = split_at_axis(data.shape(), axis);
        // SAFETY: called by the engine with the inputs read and `out` written.
        unsafe {
            let idx = read_indices("pick", &inputs[1])?;
            dispatch_all!(data.dtype(), T => {
                let src = data.contiguous_data::<T>();
                let dst = out.out_data::<T>();
                for o in 0..outer {
                    for i in 0..inner {
                        let p = self.mode.resolve("pick", idx[o * inner + i], dim)?;
                        dst[o * inner + i] = src[(o * dim + p) * inner + i];
                    }
                }
            });
        }
        Ok(())
    }

    fn supports_gpu(&self) -> bool {
        self.mode != IndexMode::Raise
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (axis, _) = self.plan(inputs[0].shape())?;
        gpu_pick("pick", self.mode, inputs[0].shape(), axis, &inputs[0], &inputs[1], false, &outputs[0])
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let (data, idx) = (&g.inputs[0], &g.inputs[1]);
        let (axis, _) = self.plan(data.shape())?;
        let attrs = [
            ("axis", axis.to_string()),
            ("mode", self.mode.name().to_string()),
            ("shape", tuple_string(data.shape())),
        ];
        Ok(vec![Some(call1("_backward_pick", &[&g.out_grads[0], idx], &attrs)?), None])
    }

    fn attrs(&self) -> Attrs {
        vec![
            ("axis".into(), self.axis.to_string()),
            ("keepdims".into(), py_bool(self.keepdims)),
            ("mode".into(), self.mode.name().into()),
        ]
    }
}

/// `_backward_pick(dy, index)`: zeros of `shape` (the shape of `pick`'s data) with each
/// element of `dy` written at its picked position.
pub struct PickBackward {
    axis: usize,
    mode: IndexMode,
    shape: Vec<usize>,
}

impl Operator for PickBackward {
    fn name(&self) -> &'static str {
        "_backward_pick"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let dy = &inputs[0];
        let valid = self.axis < self.shape.len()
            && dy.shape.iter().product::<usize>() * self.shape[self.axis] == self.shape.iter().product::<usize>();
        if !valid {
            return Err(Error::Value(format!(
                "_backward_pick: gradient of shape {:?} does not fit data of shape {:?} picked along axis {}",
                dy.shape, self.shape, self.axis
            )));
        }
        Ok(vec![TensorDesc::new(self.shape.clone(), dy.dtype)])
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (dy, out) = (&inputs[0], &outputs[0]);
        let (outer, dim, inner) = split_at_axis(&self.shape, self.axis);
        // SAFETY: called by the engine with the inputs read and `out` written.
        unsafe {
            let idx = read_indices("_backward_pick", &inputs[1])?;
            dispatch_all!(dy.dtype(), T => {
                let src = dy.contiguous_data::<T>();
                let dst = out.out_data::<T>();
                dst.fill(T::default());
                for o in 0..outer {
                    for i in 0..inner {
                        let p = self.mode.resolve("pick", idx[o * inner + i], dim)?;
                        dst[(o * dim + p) * inner + i] = src[o * inner + i];
                    }
                }
            });
        }
        Ok(())
    }

    fn supports_gpu(&self) -> bool {
        self.mode != IndexMode::Raise
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        gpu_pick(self.name(), self.mode, &self.shape, self.axis, &inputs[0], &inputs[1], true, &outputs[0])
    }

    /// Picks the head gradient at the same positions, for second-order gradients.
    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let dy = &g.inputs[0];
        let attrs = [
            ("axis", self.axis.to_string()),
            ("keepdims", "True".to_string()),
            ("mode", self.mode.name().to_string()),
        ];
        let picked = call1("pick", &[&g.out_grads[0], &g.inputs[1]], &attrs)?;
        Ok(vec![Some(super::axes::reshape_to(&picked, dy.shape())?), None])
    }
}

/// `take` along `axis` of data of `shape` on a GPU (`backward`: its gradient, added into a
/// zero-filled `out`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gpu_take(op: &str, mode: IndexMode, shape: &[usize], axis: usize, values: &NDArray, index: &NDArray, backward: bool, out: &NDArray) -> Result<()> {
    use mxnet_gpu::kernels::{gather, pick};
    let (outer, dim, inner) = split_at_axis(shape, axis);
    let values = crate::gpu::contiguous(values)?;
    let index = crate::gpu::contiguous(index)?;
    let mode = match mode {
        IndexMode::Clip => pick::IndexMode::Clip,
        IndexMode::Wrap => pick::IndexMode::Wrap,
        IndexMode::Raise => return Err(crate::gpu::no_kernel(&format!("{op}(mode='raise')"))),
    };
    let elem = crate::gpu::elem(op, values.dtype())?;
    let (index_buffer, index_offset) = crate::gpu::operand(&index)?;
    let t = gather::Take { outer, dim, inner, count: index.size(), mode, index: (index_buffer, index_offset, crate::gpu::elem(op, index.dtype())?) };
    if backward {
        crate::gpu::float_elem(op, values.dtype())?;
        crate::gpu::map(op, "0.0", &[], &[], out)?;
        return Ok(gather::take_backward(&t, crate::gpu::operand(&values)?, crate::gpu::operand(out)?)?);
    }
    Ok(gather::take(&t, elem, crate::gpu::operand(&values)?, crate::gpu::operand(out)?)?)
}

/// `pick` (or its gradient with `backward`) on a GPU; `shape` is the data's shape.
#[allow(clippy::too_many_arguments)]
fn gpu_pick(op: &str, mode: IndexMode, shape: &[usize], axis: usize, values: &NDArray, index: &NDArray, backward: bool, out: &NDArray) -> Result<()> {
    use mxnet_gpu::kernels::pick;
    let (outer, dim, inner) = split_at_axis(shape, axis);
    let values = crate::gpu::contiguous(values)?;
    let index = crate::gpu::contiguous(index)?;
    let mode = match mode {
        IndexMode::Clip => pick::IndexMode::Clip,
        IndexMode::Wrap => pick::IndexMode::Wrap,
        IndexMode::Raise => return Err(crate::gpu::no_kernel(&format!("{op}(mode='raise')"))),
    };
    let p = pick::Pick {
        outer,
        dim,
        inner,
        mode,
        values: (crate::gpu::buffer(&values)?, values.layout().offset),
        index: (crate::gpu::buffer(&index)?, index.layout().offset, crate::gpu::elem(op, index.dtype())?),
        elem: crate::gpu::elem(op, values.dtype())?,
    };
    Ok(pick::pick(&p, backward, (crate::gpu::buffer(out)?, out.layout().offset))?)
}

pub struct OneHot {
    depth: usize,
    on_value: f64,
    off_value: f64,
    dtype: DType,
}

impl Operator for OneHot {
    fn name(&self) -> &'static str {
        "one_hot"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_index_dtype("one_hot", inputs[0].dtype)?;
        let mut shape = inputs[0].shape.clone();
        shape.push(self.depth);
        Ok(vec![TensorDesc::new(shape, self.dtype)])
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    /// Each output element compares its column with its row's index; indices outside
    /// `[0, depth)` match no column, as on the CPU.
    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (idx, out) = (&inputs[0], &outputs[0]);
        let rows = idx.size();
        let index = crate::gpu::contiguous(idx)?;
        let grid = [rows, self.depth];
        let column_view = index.with_layout(mxnet_cpu::Layout { shape: grid.to_vec(), strides: vec![1, 0], offset: index.layout().offset });
        let out2 = out.with_layout(mxnet_cpu::Layout { offset: out.layout().offset, ..mxnet_cpu::Layout::contiguous(&grid) });
        let int_out = crate::gpu::elem("one_hot", out.dtype())? == mxnet_gpu::Elem::I32;
        let hit = match crate::gpu::elem("one_hot", index.dtype())? {
            // Floats truncate toward zero and NaN reads as 0, as the CPU's conversion does.
            mxnet_gpu::Elem::F32 => "f_index(x0) >= 0.0 && f_index(x0) < s2 && u32(f_index(x0)) == i % u32(s2)",
            _ => "x0 >= 0 && f32(x0) < s2 && u32(x0) == i % u32(s2)",
        };
        use mxnet_gpu::kernels::elementwise::int_scalar;
        let (expr, on, off) = if int_out {
            (format!("select(si1, si0, {hit})"), int_scalar(self.on_value as i32), int_scalar(self.off_value as i32))
        } else {
            (format!("select(s1, s0, {hit})"), self.on_value as f32, self.off_value as f32)
        };
        let scalars = [on, off, self.depth as f32];
        crate::gpu::map("one_hot", &expr, &[&column_view], &scalars, &out2)
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let out = &outputs[0];
        // SAFETY: called by the engine with the input read and `out` written.
        unsafe {
            let idx = read_indices("one_hot", &inputs[0])?;
            dispatch_all!(out.dtype(), T => {
                let (on, off) = (T::from_f64(self.on_value), T::from_f64(self.off_value));
                let dst = out.out_data::<T>();
                dst.fill(off);
                // Indices outside [0, depth) give a row of off_value, as in MXNet.
                for (row, &k) in idx.iter().enumerate() {
                    if (0..self.depth as i64).contains(&k) {
                        dst[row * self.depth + k as usize] = on;
                    }
                }
            });
        }
        Ok(())
    }

    fn differentiable(&self) -> bool {
        false
    }

    fn attrs(&self) -> Attrs {
        vec![
            ("depth".into(), self.depth.to_string()),
            ("on_value".into(), super::scalar::format_scalar(self.on_value)),
            ("off_value".into(), super::scalar::format_scalar(self.off_value)),
            ("dtype".into(), self.dtype.name().into()),
        ]
    }
}

fn parse_mode(op: &'static str, r: &mut AttrReader) -> Result<IndexMode> {
    IndexMode::parse(op, &r.get::<String>("mode", "clip".into())?)
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "take",
        aliases: &[],
        arguments: &["a", "indices"],
        params: &["axis", "mode"],
        doc: "Take slices of `a` along `axis` at `indices` (mode clip, wrap or raise for out-of-range indices).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("take", attrs);
            let axis = r.get("axis", 0i64)?;
            let mode = parse_mode("take", &mut r)?;
            r.finish(&["axis", "mode"])?;
            Ok(Arc::new(Take { axis, mode }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "_backward_take",
        aliases: &[],
        arguments: &["ograd", "indices"],
        params: &["axis", "mode", "shape"],
        doc: "Gradient of take: scatter-add the output gradient into zeros of `shape`.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("_backward_take", attrs);
            let axis = r.required::<usize>("axis")?;
            let mode = parse_mode("_backward_take", &mut r)?;
            let shape = r.required::<Vec<usize>>("shape")?;
            r.finish(&["axis", "mode", "shape"])?;
            Ok(Arc::new(TakeBackward { axis, mode, shape }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "pick",
        aliases: &[],
        arguments: &["data", "index"],
        params: &["axis", "keepdims", "mode"],
        doc: "Pick one element along `axis` for each position, at the positions in `index`.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("pick", attrs);
            let axis = r.get("axis", -1i64)?;
            let keepdims = r.get("keepdims", false)?;
            let mode = parse_mode("pick", &mut r)?;
            r.finish(&["axis", "keepdims", "mode"])?;
            if mode == IndexMode::Raise {
                return Err(Error::Value("pick: mode must be 'clip' or 'wrap'".into()));
            }
            Ok(Arc::new(Pick { axis, keepdims, mode }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "_backward_pick",
        aliases: &[],
        arguments: &["ograd", "index"],
        params: &["axis", "mode", "shape"],
        doc: "Gradient of pick: write the output gradient into zeros of `shape` at the picked positions.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("_backward_pick", attrs);
            let axis = r.required::<usize>("axis")?;
            let mode = parse_mode("_backward_pick", &mut r)?;
            let shape = r.required::<Vec<usize>>("shape")?;
            r.finish(&["axis", "mode", "shape"])?;
            Ok(Arc::new(PickBackward { axis, mode, shape }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "one_hot",
        aliases: &[],
        arguments: &["indices"],
        params: &["depth", "on_value", "off_value", "dtype"],
        doc: "One-hot encode indices into a trailing axis of size depth.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("one_hot", attrs);
            let depth = r.required::<usize>("depth")?;
            let on_value = r.get("on_value", 1.0f64)?;
            let off_value = r.get("off_value", 0.0f64)?;
            let dtype = r.get("dtype", DType::Float32)?;
            r.finish(&["depth", "on_value", "off_value", "dtype"])?;
            Ok(Arc::new(OneHot { depth, on_value, off_value, dtype }) as Arc<dyn Operator>)
        },
    });
}

#[cfg(test)]
mod tests {
    use super::IndexMode;

    #[test]
    fn index_modes_resolve_out_of_range() {
        assert_eq!(IndexMode::Clip.resolve("t", -3, 4).unwrap(), 0);
        assert_eq!(IndexMode::Clip.resolve("t", 9, 4).unwrap(), 3);
        assert_eq!(IndexMode::Wrap.resolve("t", -1, 4).unwrap(), 3);
        assert_eq!(IndexMode::Wrap.resolve("t", 9, 4).unwrap(), 1);
        assert_eq!(IndexMode::Raise.resolve("t", -1, 4).unwrap(), 3);
        assert!(IndexMode::Raise.resolve("t", 4, 4).is_err());
    }
}
