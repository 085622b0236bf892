//! Slicing: `slice` (begin/end/step with `None` entries and negative steps), `slice_axis` and
//! `slice_like`, plus `_slice_backward`, which scatters a slice's gradient into zeros.
//! `slice` and `slice_axis` are views of their input.

use std::sync::Arc;

use mxnet_cpu::Layout;

use super::view::{axis_index, ViewMap, ViewOp};
use crate::attrs::{tuple_string, AttrReader, Attrs};
use crate::error::{Error, Result};
use crate::imperative::call1;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};

/// Begin, end and step per leading axis; `None` takes the default of Python slices.
#[derive(Clone, Debug)]
pub struct SliceSpec {
    begin: Vec<Option<i64>>,
    end: Vec<Option<i64>>,
    step: Vec<Option<i64>>,
}

/// Start index, length and step of one axis, resolved as Python's `slice.indices` does:
/// negative bounds count from the end and out-of-range bounds are clamped.
///
/// MXNet 1.9 resolves valid bounds the same way, but some out-of-range bounds give an error or
/// a different clamp there; Python's rule is the one users expect from `a[b:e:s]`.
fn resolve(begin: Option<i64>, end: Option<i64>, step: i64, dim: usize) -> (i64, usize) {
    let n = dim as i64;
    let clamp = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
    let fix = |v: i64| if v < 0 { v + n } else { v };
    if step > 0 {
        let b = begin.map(|b| clamp(fix(b), 0, n)).unwrap_or(0);
        let e = end.map(|e| clamp(fix(e), 0, n)).unwrap_or(n);
        let len = if e > b { (e - b + step - 1) / step } else { 0 };
        (b, len as usize)
    } else {
        let b = begin.map(|b| clamp(fix(b), -1, n - 1)).unwrap_or(n - 1);
        let e = end.map(|e| clamp(fix(e), -1, n - 1)).unwrap_or(-1);
        let len = if b > e { (b - e + (-step) - 1) / (-step) } else { 0 };
        (b, len as usize)
    }
}

fn option_tuple(values: &[Option<i64>]) -> String {
    let items: Vec<String> = values.iter().map(|v| v.map_or("None".to_string(), |x| x.to_string())).collect();
    tuple_string(&items)
}

impl SliceSpec {
    fn parse(op: &'static str, r: &mut AttrReader) -> Result<SliceSpec> {
        let begin = r.required::<Vec<Option<i64>>>("begin")?;
        let end = r.required::<Vec<Option<i64>>>("end")?;
        let step = r.get::<Vec<Option<i64>>>("step", vec![])?;
        if begin.len() != end.len() || (!step.is_empty() && step.len() != begin.len()) {
            return Err(Error::Value(format!(
                "{op}: begin {} , end {} and step {} must have the same length",
                option_tuple(&begin),
                option_tuple(&end),
                option_tuple(&step)
            )));
        }
        if step.contains(&Some(0)) {
            return Err(Error::Value(format!("{op}: step {} contains 0; steps must be non-zero", option_tuple(&step))));
        }
        Ok(SliceSpec { begin, end, step })
    }

    fn map(&self, op: &str, input: &Layout) -> Result<Layout> {
        if self.begin.len() > input.ndim() {
            return Err(Error::Value(format!(
                "{op}: begin {} has {} entries but the array of shape {:?} has only {} dimensions",
                option_tuple(&self.begin),
                self.begin.len(),
                input.shape,
                input.ndim()
            )));
        }
        let mut layout = input.clone();
        let mut offset = input.offset as isize;
        for i in 0..self.begin.len() {
            let step = self.step.get(i).copied().flatten().unwrap_or(1);
            let (b, len) = resolve(self.begin[i], self.end[i], step, input.shape[i]);
            if len > 0 {
                offset += b as isize * input.strides[i];
            }
            layout.shape[i] = len;
            layout.strides[i] = input.strides[i] * step as isize;
        }
        layout.offset = offset.max(0) as usize;
        Ok(layout)
    }

    fn attrs(&self) -> Attrs {
        vec![
            ("begin".into(), option_tuple(&self.begin)),
            ("end".into(), option_tuple(&self.end)),
            ("step".into(), option_tuple(&self.step)),
        ]
    }

    /// Compute the gradient: `dy` written into zeros of `shape` at this slice.
    fn backward(&self, dy: &NDArray, shape: &[usize]) -> Result<NDArray> {
        let mut attrs = self.attrs();
        attrs.push(("shape".into(), tuple_string(shape)));
        let attrs: Vec<(&str, String)> = attrs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        call1("_slice_backward", &[dy], &attrs)
    }
}

/// `slice` and `slice_axis` (which is a `slice` of one axis).
pub struct Slice {
    name: &'static str,
    spec: SliceSpec,
    /// For `slice_axis`: the axis and its begin/end, resolved against the input's rank.
    axis: Option<(i64, i64, Option<i64>)>,
}

impl Slice {
    fn spec_for(&self, ndim: usize) -> Result<SliceSpec> {
        let Some((axis, begin, end)) = self.axis else {
            return Ok(self.spec.clone());
        };
        let a = axis_index(self.name, axis, ndim)?;
        let mut spec = SliceSpec { begin: vec![None; a + 1], end: vec![None; a + 1], step: vec![None; a + 1] };
        spec.begin[a] = Some(begin);
        spec.end[a] = end;
        Ok(spec)
    }
}

impl ViewMap for Slice {
    fn name(&self) -> &'static str {
        self.name
    }

    fn map(&self, input: &Layout) -> Result<Layout> {
        self.spec_for(input.ndim())?.map(self.name, input)
    }

    fn grad(&self, x: &NDArray, dy: &NDArray) -> Result<NDArray> {
        self.spec_for(x.ndim())?.backward(dy, x.shape())
    }

    fn attrs(&self) -> Attrs {
        match self.axis {
            None => self.spec.attrs(),
            Some((axis, begin, end)) => vec![
                ("axis".into(), axis.to_string()),
                ("begin".into(), begin.to_string()),
                ("end".into(), end.map_or("None".to_string(), |e| e.to_string())),
            ],
        }
    }
}

/// `_slice_backward`: zeros of `shape` with `data` written at the slice `spec`.
pub struct SliceBackward {
    spec: SliceSpec,
    shape: Vec<usize>,
}

impl Operator for SliceBackward {
    fn computes_half(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "_slice_backward"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let region = self.spec.map("_slice_backward", &Layout::contiguous(&self.shape))?;
        if region.shape != inputs[0].shape {
            return Err(Error::Value(format!(
                "_slice_backward: gradient of shape {:?} does not match the slice shape {:?}",
                inputs[0].shape, region.shape
            )));
        }
        Ok(vec![TensorDesc::new(self.shape.clone(), inputs[0].dtype)])
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        self.forward(ctx, inputs, outputs)
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let out = &outputs[0];
        super::copy::fill_zeros("_slice_backward", out)?;
        let region = self.spec.map("_slice_backward", out.layout())?;
        super::copy::copy_kernel(&inputs[0], &out.with_layout(region))
    }

    /// Slices the head gradient back out, for second-order gradients.
    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let attrs = self.spec.attrs();
        let attrs: Vec<(&str, String)> = attrs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        Ok(vec![Some(call1("slice", &[&g.out_grads[0]], &attrs)?)])
    }

    fn attrs(&self) -> Attrs {
        let mut a = self.spec.attrs();
        a.push(("shape".into(), tuple_string(&self.shape)));
        a
    }
}

/// `slice_like(data, shape_like, axes)`: the leading part of `data` with the sizes of
/// `shape_like` on `axes` (all axes when empty).
pub struct SliceLike {
    axes: Vec<i64>,
}

impl SliceLike {
    fn spec(&self, data: &[usize], like: &[usize]) -> Result<SliceSpec> {
        let ndim = data.len();
        let mut end: Vec<Option<i64>> = vec![None; ndim];
        let axes: Vec<usize> = if self.axes.is_empty() {
            if like.len() != ndim {
                return Err(Error::Value(format!(
                    "slice_like: data of shape {data:?} and shape_like of shape {like:?} must have the same number of dimensions when axes is empty"
                )));
            }
            (0..ndim).collect()
        } else {
            self.axes.iter().map(|&a| axis_index("slice_like", a, ndim)).collect::<Result<_>>()?
        };
        for a in axes {
            let target = *like.get(a).ok_or_else(|| {
                Error::Value(format!("slice_like: axis {a} is out of range for shape_like of shape {like:?}"))
            })?;
            if target > data[a] {
                return Err(Error::Value(format!(
                    "slice_like: shape_like has size {target} on axis {a}, larger than data's size {} (data shape {data:?})",
                    data[a]
                )));
            }
            end[a] = Some(target as i64);
        }
        Ok(SliceSpec { begin: vec![None; ndim], end, step: vec![] })
    }
}

impl Operator for SliceLike {
    fn name(&self) -> &'static str {
        "slice_like"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let [data, like] = inputs else {
            return Err(Error::Value(format!("slice_like: expected 2 inputs, got {}", inputs.len())));
        };
        let layout = self.spec(&data.shape, &like.shape)?.map("slice_like", &Layout::contiguous(&data.shape))?;
        Ok(vec![TensorDesc::new(layout.shape, data.dtype)])
    }

    super::gpu_through_copies!();

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let x = &inputs[0];
        let layout = self.spec(x.shape(), inputs[1].shape())?.map("slice_like", x.layout())?;
        super::copy::copy_kernel(&x.with_layout(layout), &outputs[0])
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let x = &g.inputs[0];
        let spec = self.spec(x.shape(), g.inputs[1].shape())?;
        Ok(vec![Some(spec.backward(&g.out_grads[0], x.shape())?), None])
    }

    fn attrs(&self) -> Attrs {
        vec![("axes".into(), tuple_string(&self.axes))]
    }
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "slice",
        aliases: &[],
        arguments: &["data"],
        params: &["begin", "end", "step"],
        doc: "Slice with begin/end/step tuples (None entries and negative steps allowed); a view.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("slice", attrs);
            let spec = SliceSpec::parse("slice", &mut r)?;
            r.finish(&["begin", "end", "step"])?;
            Ok(Arc::new(ViewOp(Slice { name: "slice", spec, axis: None })) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "slice_axis",
        aliases: &[],
        arguments: &["data"],
        params: &["axis", "begin", "end"],
        doc: "Slice [begin, end) along one axis; end None means the axis size. A view.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("slice_axis", attrs);
            let axis = r.required::<i64>("axis")?;
            let begin = r.required::<i64>("begin")?;
            let end = r.opt::<i64>("end")?;
            r.finish(&["axis", "begin", "end"])?;
            let spec = SliceSpec { begin: vec![], end: vec![], step: vec![] };
            Ok(Arc::new(ViewOp(Slice { name: "slice_axis", spec, axis: Some((axis, begin, end)) })) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "slice_like",
        aliases: &[],
        arguments: &["data", "shape_like"],
        params: &["axes"],
        doc: "Slice data from the start to the shape of shape_like on the given axes.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("slice_like", attrs);
            let axes = r.get::<Vec<i64>>("axes", vec![])?;
            r.finish(&["axes"])?;
            Ok(Arc::new(SliceLike { axes }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "_slice_backward",
        aliases: &[],
        arguments: &["data"],
        params: &["begin", "end", "step", "shape"],
        doc: "Zeros of `shape` with `data` written at the slice (gradient of slice).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("_slice_backward", attrs);
            let spec = SliceSpec::parse("_slice_backward", &mut r)?;
            let shape = r.required::<Vec<usize>>("shape")?;
            r.finish(&["begin", "end", "step", "shape"])?;
            Ok(Arc::new(SliceBackward { spec, shape }) as Arc<dyn Operator>)
        },
    });
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn resolve_matches_python_slices() {
        // (begin, end, step, dim) -> what range(*slice(b, e, s).indices(dim)) gives.
        assert_eq!(resolve(None, None, 1, 5), (0, 5));
        assert_eq!(resolve(None, None, -1, 5), (4, 5));
        assert_eq!(resolve(Some(-1), Some(-4), -1, 5), (4, 3));
        assert_eq!(resolve(Some(1), Some(100), 2, 5), (1, 2));
        assert_eq!(resolve(Some(3), Some(1), 1, 5), (3, 0));
        assert_eq!(resolve(Some(4), Some(0), -2, 5), (4, 2));
        assert_eq!(resolve(Some(-10), None, 1, 5), (0, 5));
    }
}
