//! Sorting along one axis: `sort`, `argsort` and `topk`, MXNet's ordering operators.
//!
//! One operator serves the three names. Each lane (the elements along the axis at one position
//! of the other axes) is ordered by a stable sort, so equal values keep their input order.
//! MXNet 1.9.1 leaves the order of ties unspecified: above 16 elements its CPU sort reorders them.
//! NaN sorts above every number, as in numpy: last in ascending order, first in descending.

use std::cmp::Ordering;
use std::sync::Arc;

use rayon::prelude::*;

use super::reduce::normalize_axis;
use crate::attrs::{AttrReader, Attrs};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::imperative::call1;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
use crate::{dispatch_all, dispatch_real};

/// The outputs `topk` returns (`ret_typ`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Returns {
    /// The sorted values (and, hidden, their indices for the gradient).
    Value,
    Indices,
    /// Values and indices.
    Both,
    /// An array of the input's shape with 1 at the selected elements and 0 elsewhere.
    Mask,
}

impl Returns {
    fn name(self) -> &'static str {
        match self {
            Returns::Value => "value",
            Returns::Indices => "indices",
            Returns::Both => "both",
            Returns::Mask => "mask",
        }
    }
}

/// `sort`, `argsort` and `topk`.
pub struct TopK {
    name: &'static str,
    /// `None`: the flattened array.
    axis: Option<i64>,
    /// Elements kept per lane; 0 or less keeps the whole axis, as in MXNet.
    k: i64,
    returns: Returns,
    is_ascend: bool,
    /// The dtype of the indices output (int64 when they are hidden).
    dtype: DType,
    /// The `dtype` attribute as given, for the symbol JSON.
    requested: DType,
}

/// The input seen as `outer x len x inner`, `len` along the sorted axis.
#[derive(Clone, Copy)]
struct Lanes {
    outer: usize,
    len: usize,
    inner: usize,
}

impl Lanes {
    /// Return the flat index of element `position` of lane `lane` (outer-major), in a row-major
    /// array with `extent` elements along the axis: the input (`len`) or the output (`kept`).
    fn index(&self, lane: usize, position: usize, extent: usize) -> usize {
        (lane / self.inner) * extent * self.inner + position * self.inner + lane % self.inner
    }
}

/// Split `shape` into lanes along `axis` (`None`: the flattened array).
fn lanes(op: &str, axis: Option<i64>, shape: &[usize]) -> Result<Lanes> {
    let Some(axis) = axis else {
        return Ok(Lanes { outer: 1, len: shape.iter().product(), inner: 1 });
    };
    let axis = normalize_axis(op, axis, shape.len())?;
    if shape.is_empty() {
        return Ok(Lanes { outer: 1, len: 1, inner: 1 });
    }
    Ok(Lanes { outer: shape[..axis].iter().product(), len: shape[axis], inner: shape[axis + 1..].iter().product() })
}

impl TopK {
    fn lanes(&self, shape: &[usize]) -> Result<Lanes> {
        lanes(self.name, self.axis, shape)
    }

    /// Elements kept per lane.
    fn kept(&self, lanes: Lanes) -> usize {
        if self.k <= 0 {
            lanes.len
        } else {
            self.k as usize
        }
    }

    /// Shape of the values and indices.
    fn out_shape(&self, shape: &[usize], kept: usize) -> Result<Vec<usize>> {
        match self.axis {
            None => Ok(vec![kept]),
            Some(_) if shape.is_empty() => Ok(vec![kept]),
            Some(axis) => {
                let mut out = shape.to_vec();
                out[normalize_axis(self.name, axis, shape.len())?] = kept;
                Ok(out)
            }
        }
    }

    /// For each lane in order (outer-major), the positions of its first `kept` elements in
    /// sorted order.
    fn order<T: Element + PartialOrd>(&self, data: &[T], lanes: Lanes, kept: usize) -> Vec<usize> {
        let Lanes { outer, len, inner } = lanes;
        let mut order = vec![0usize; outer * inner * kept];
        if kept == 0 {
            return order;
        }
        let ascend = self.is_ascend;
        let sort_lane = |lane: usize, out: &mut [usize]| {
            let at = |j: usize| data[lanes.index(lane, j, len)];
            let mut positions: Vec<usize> = (0..len).collect();
            if ascend {
                positions.sort_by(|&a, &b| compare(&at(a), &at(b)));
            } else {
                positions.sort_by(|&a, &b| compare(&at(b), &at(a)));
            }
            out.copy_from_slice(&positions[..kept]);
        };
        if data.len() >= mxnet_cpu::parallel::PARALLEL_MIN_ELEMENTS && outer * inner > 1 {
            mxnet_cpu::parallel::install(|| {
                order.par_chunks_mut(kept).enumerate().for_each(|(lane, out)| sort_lane(lane, out))
            });
        } else {
            order.chunks_mut(kept).enumerate().for_each(|(lane, out)| sort_lane(lane, out));
        }
        order
    }

    /// Check that the indices of an axis of `len` elements fit the index dtype exactly.
    fn check_index_dtype(&self, len: usize) -> Result<()> {
        let exact = max_exact_index(self.name, self.dtype)?;
        if len > 0 && (len - 1) as u64 > exact {
            return Err(Error::Value(format!(
                "{}: dtype {} cannot hold index {} exactly ({} elements along the axis); use dtype='int64' or 'float64'",
                self.name,
                self.dtype,
                len - 1,
                len
            )));
        }
        Ok(())
    }
}

/// Return the largest index that `dtype` represents exactly, or an error for a dtype that
/// cannot be an index dtype.
fn max_exact_index(op: &str, dtype: DType) -> Result<u64> {
    match dtype {
        DType::UInt8 => Ok(u8::MAX as u64),
        DType::Float16 => Ok(1 << 11),
        DType::Float32 => Ok(1 << 24),
        DType::Int32 => Ok(i32::MAX as u64),
        DType::Float64 | DType::Int64 => Ok(u64::MAX),
        other => Err(Error::Type(format!(
            "{op}: dtype {other} cannot hold indices; use float32 (the default), float64, float16, int32, int64 or uint8"
        ))),
    }
}

/// Order with NaN above every number; equal values (and two NaNs) compare equal.
fn compare<T: PartialOrd>(a: &T, b: &T) -> Ordering {
    #[allow(clippy::eq_op)]
    let is_nan = |v: &T| v != v;
    a.partial_cmp(b).unwrap_or_else(|| is_nan(a).cmp(&is_nan(b)))
}

impl Operator for TopK {
    fn name(&self) -> &'static str {
        self.name
    }

    fn num_outputs(&self) -> usize {
        match self.returns {
            Returns::Value | Returns::Both => 2,
            Returns::Indices | Returns::Mask => 1,
        }
    }

    fn num_visible_outputs(&self) -> usize {
        match self.returns {
            Returns::Both => 2,
            _ => 1,
        }
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let [x] = inputs else {
            return Err(Error::Value(format!("{}: expected 1 input, got {}", self.name, inputs.len())));
        };
        if matches!(x.dtype, DType::Float16 | DType::BFloat16 | DType::Bool) {
            return Err(Error::Type(format!(
                "{}: dtype {} is not supported; cast the input to float32 first (x.astype('float32'))",
                self.name, x.dtype
            )));
        }
        let lanes = self.lanes(&x.shape)?;
        if self.k > 0 && self.k as usize > lanes.len {
            return Err(Error::Value(format!(
                "{}: k={} is larger than the {} elements along the axis; pass k <= {}, or k=0 for all of them",
                self.name, self.k, lanes.len, lanes.len
            )));
        }
        if matches!(self.returns, Returns::Indices | Returns::Both) {
            self.check_index_dtype(lanes.len)?;
        }
        let shape = self.out_shape(&x.shape, self.kept(lanes))?;
        let values = TensorDesc::new(shape.clone(), x.dtype);
        let indices = TensorDesc::new(shape, self.dtype);
        Ok(match self.returns {
            Returns::Value | Returns::Both => vec![values, indices],
            Returns::Indices => vec![indices],
            Returns::Mask => vec![TensorDesc::new(x.shape.clone(), x.dtype)],
        })
    }

    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let x = &inputs[0];
        let lanes = self.lanes(x.shape())?;
        let kept = self.kept(lanes);
        // Element j of an output lane is the j-th of the input lane in sorted order.
        let out_index = |lane: usize, j: usize| lanes.index(lane, j, kept);
        let in_index = |lane: usize, position: usize| lanes.index(lane, position, lanes.len);
        // SAFETY: called by the engine with `x` read and the outputs written.
        unsafe {
            dispatch_real!(self.name, x.dtype(), T => {
                let data = x.contiguous_data::<T>();
                let order = self.order(&data, lanes, kept);
                // Empty when no element is kept.
                let lane_positions = || order.chunks(kept.max(1)).enumerate();
                if self.returns == Returns::Mask {
                    let mask = outputs[0].out_data::<T>();
                    mask.fill(T::from_f64(0.0));
                    for (lane, positions) in lane_positions() {
                        for &p in positions {
                            mask[in_index(lane, p)] = T::from_f64(1.0);
                        }
                    }
                    return Ok(());
                }
                if matches!(self.returns, Returns::Value | Returns::Both) {
                    let values = outputs[0].out_data::<T>();
                    for (lane, positions) in lane_positions() {
                        for (j, &p) in positions.iter().enumerate() {
                            values[out_index(lane, j)] = data[in_index(lane, p)];
                        }
                    }
                }
                let indices = outputs.last().expect("topk has an indices output");
                dispatch_all!(self.dtype, I => {
                    let out = indices.out_data::<I>();
                    for (lane, positions) in lane_positions() {
                        for (j, &p) in positions.iter().enumerate() {
                            out[out_index(lane, j)] = I::from_f64(p as f64);
                        }
                    }
                });
            });
        }
        Ok(())
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let x = &g.inputs[0];
        if !matches!(self.returns, Returns::Value | Returns::Both) {
            // Indices and masks are constant almost everywhere.
            return Ok(vec![Some(call1("zeros_like", &[x], &[])?)]);
        }
        let axis = self.axis.map_or_else(|| "None".to_string(), |a| a.to_string());
        Ok(vec![Some(call1("_backward_topk", &[&g.out_grads[0], &g.outputs[1], x], &[("axis", axis)])?)])
    }

    fn attrs(&self) -> Attrs {
        let mut a: Attrs = vec![("axis".into(), self.axis.map_or_else(|| "None".to_string(), |a| a.to_string()))];
        if self.name == "topk" {
            a.push(("k".into(), self.k.to_string()));
            a.push(("ret_typ".into(), self.returns.name().into()));
        }
        a.push(("is_ascend".into(), if self.is_ascend { "True" } else { "False" }.into()));
        if self.name != "sort" {
            a.push(("dtype".into(), self.requested.name().into()));
        }
        a
    }
}

/// The gradient of `topk` and `sort` values: each output gradient goes back to the position
/// its value came from; the other positions get 0. Inputs: the values' gradient, the indices,
/// and the forward input (for its shape).
pub struct TopKBackward {
    axis: Option<i64>,
}

impl Operator for TopKBackward {
    fn name(&self) -> &'static str {
        "_backward_topk"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let [grad, _, x] = inputs else {
            return Err(Error::Value(format!("_backward_topk: expected 3 inputs, got {}", inputs.len())));
        };
        Ok(vec![TensorDesc::new(x.shape.clone(), grad.dtype)])
    }

    fn differentiable(&self) -> bool {
        false
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (grad, indices, x) = (&inputs[0], &inputs[1], &inputs[2]);
        let lanes = lanes("_backward_topk", self.axis, x.shape())?;
        let count = lanes.outer * lanes.inner;
        let kept = grad.size().checked_div(count).unwrap_or(0);
        // SAFETY: called by the engine with the inputs read and the output written.
        unsafe {
            dispatch_real!("_backward_topk", grad.dtype(), T => {
                let g = grad.contiguous_data::<T>();
                // Zeroed when allocated; the positions within a lane are distinct, so each
                // gradient lands in its own element.
                let out = outputs[0].out_data::<T>();
                dispatch_all!(indices.dtype(), I => {
                    let idx = indices.contiguous_data::<I>();
                    for lane in 0..count {
                        for j in 0..kept {
                            let at = lanes.index(lane, j, kept);
                            let position = idx[at].to_f64() as usize;
                            out[lanes.index(lane, position, lanes.len)] = g[at];
                        }
                    }
                });
            });
        }
        Ok(())
    }
}

/// Create `sort`, `argsort` or `topk` from its attributes, with MXNet's defaults for each.
fn create(name: &'static str, attrs: &Attrs) -> Result<Arc<dyn Operator>> {
    let mut r = AttrReader::new(name, attrs);
    let axis = r.get_or_none("axis", -1i64)?;
    let is_topk = name == "topk";
    let is_ascend = r.get("is_ascend", !is_topk)?;

    let (k, returns) = if is_topk {
        let k = r.get("k", 1i64)?;
        let returns = match r.get("ret_typ", "indices".to_string())?.as_str() {
            "value" => Returns::Value,
            "indices" => Returns::Indices,
            "both" => Returns::Both,
            "mask" => Returns::Mask,
            other => {
                return Err(Error::Value(format!(
                    "topk: invalid ret_typ '{other}'; use 'value', 'indices', 'both' or 'mask'"
                )))
            }
        };
        (k, returns)
    } else if name == "sort" {
        (0, Returns::Value)
    } else {
        (0, Returns::Indices)
    };
    let requested = if name == "sort" { DType::Int64 } else { r.get("dtype", DType::Float32)? };
    // Hidden indices (kept for the gradient of the values) may be many: int64 represents
    // every one. The dtype attribute only applies to indices that are returned.
    let dtype = if matches!(returns, Returns::Value | Returns::Mask) { DType::Int64 } else { requested };
    let accepted: &[&str] = match name {
        "topk" => &["axis", "k", "ret_typ", "is_ascend", "dtype"],
        "argsort" => &["axis", "is_ascend", "dtype"],
        _ => &["axis", "is_ascend"],
    };
    r.finish(accepted)?;
    // An index dtype that cannot represent indices at all is rejected whatever the return.
    max_exact_index(name, requested)?;
    Ok(Arc::new(TopK { name, axis, k, returns, is_ascend, dtype, requested }))
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "sort",
        aliases: &[],
        arguments: &["data"],
        params: &["axis", "is_ascend"],
        doc: "Sort along an axis (the flattened array for axis=None); ties keep their order.",
        create: |attrs: &Attrs| create("sort", attrs),
    });
    defs.push(OpDef {
        name: "argsort",
        aliases: &[],
        arguments: &["data"],
        params: &["axis", "is_ascend", "dtype"],
        doc: "Indices that sort an axis (the flattened array for axis=None), as dtype (float32 by default).",
        create: |attrs: &Attrs| create("argsort", attrs),
    });
    defs.push(OpDef {
        name: "topk",
        aliases: &[],
        arguments: &["data"],
        params: &["axis", "k", "ret_typ", "is_ascend", "dtype"],
        doc: "The k largest (or, with is_ascend=True, smallest) elements along an axis: their indices, values, both, or a mask.",
        create: |attrs: &Attrs| create("topk", attrs),
    });
    defs.push(OpDef {
        name: "_backward_topk",
        aliases: &[],
        arguments: &["ograd", "indices", "data"],
        params: &["axis"],
        doc: "Gradient of topk and sort: scatter the values' gradient back to their positions.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("_backward_topk", attrs);
            let axis = r.get_or_none("axis", -1i64)?;
            r.finish(&["axis"])?;
            Ok(Arc::new(TopKBackward { axis }) as Arc<dyn Operator>)
        },
    });
}
