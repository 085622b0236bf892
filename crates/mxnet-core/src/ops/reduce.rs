//! Reductions over axes. `sum` and the internal `_sum_to` (used by broadcast gradients) live
//! here with the shared axis handling and kernel.

use std::sync::Arc;

use mxnet_cpu::strided::for_each_run;
use mxnet_cpu::Layout;

use crate::attrs::{tuple_string, AttrReader, Attrs};
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::imperative::call1;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
use crate::dispatch_real;

/// Normalise a possibly negative axis for an array of `ndim` dims.
pub fn normalize_axis(op: &str, axis: i64, ndim: usize) -> Result<usize> {
    let n = ndim as i64;
    if axis < -n || axis >= n.max(1) {
        return Err(Error::Value(format!(
            "{op}: axis {axis} is out of range for an array with {ndim} dimensions; valid axes are {} to {}",
            -n,
            n - 1
        )));
    }
    Ok(if axis < 0 { (axis + n) as usize } else { axis as usize })
}

/// Which axes a reduction removes, from MXNet's `axis` / `exclude` arguments.
#[derive(Clone, Debug)]
pub struct ReduceAxes {
    pub axis: Option<Vec<i64>>,
    pub keepdims: bool,
    pub exclude: bool,
}

impl ReduceAxes {
    pub fn parse(op: &'static str, r: &mut AttrReader) -> Result<ReduceAxes> {
        let axis = r.opt::<Vec<i64>>("axis")?;
        let keepdims = r.get("keepdims", false)?;
        let exclude = r.get("exclude", false)?;
        let _ = op;
        Ok(ReduceAxes { axis, keepdims, exclude })
    }

    /// A mask with `true` for each reduced axis.
    pub fn mask(&self, op: &str, ndim: usize) -> Result<Vec<bool>> {
        let mut mask = vec![self.axis.is_none(); ndim];
        if let Some(axes) = &self.axis {
            // An empty tuple means "all axes" in MXNet's legacy reductions.
            if axes.is_empty() {
                mask.iter_mut().for_each(|m| *m = true);
            }
            for &a in axes {
                let a = normalize_axis(op, a, ndim)?;
                if mask[a] {
                    return Err(Error::Value(format!("{op}: axis {a} is listed twice")));
                }
                mask[a] = true;
            }
            if self.exclude {
                mask.iter_mut().for_each(|m| *m = !*m);
            }
        }
        Ok(mask)
    }

    /// Output shape. A full reduction without keepdims gives shape `(1,)`, as in MXNet 1.x.
    pub fn out_shape(&self, op: &str, shape: &[usize]) -> Result<Vec<usize>> {
        let mask = self.mask(op, shape.len())?;
        Ok(reduced_shape(shape, &mask, self.keepdims))
    }

    pub fn attrs(&self) -> Attrs {
        let mut a = Attrs::new();
        if let Some(axis) = &self.axis {
            a.push(("axis".into(), tuple_string(axis)));
        }
        a.push(("keepdims".into(), py_bool(self.keepdims)));
        a.push(("exclude".into(), py_bool(self.exclude)));
        a
    }
}

pub fn py_bool(b: bool) -> String {
    if b { "True" } else { "False" }.to_string()
}

pub fn reduced_shape(shape: &[usize], mask: &[bool], keepdims: bool) -> Vec<usize> {
    let out: Vec<usize> = shape
        .iter()
        .zip(mask)
        .filter_map(|(&d, &m)| if m { keepdims.then_some(1) } else { Some(d) })
        .collect();
    if out.is_empty() {
        vec![1]
    } else {
        out
    }
}

/// Fold every reduced group of the view `layout` of `data`; `mask` marks reduced axes.
/// Calls `init()` for each output element, `step(acc, x)` for each input element of its group
/// and `finish(acc, count)` to produce the output, written row-major into `out`.
pub fn reduce_kernel<T: Copy, A: Copy>(
    data: &[T],
    layout: &Layout,
    mask: &[bool],
    out: &mut [T],
    init: impl Fn() -> A,
    step: impl Fn(A, T) -> A,
    finish: impl Fn(A, usize) -> T,
) {
    let kept: Vec<usize> = (0..layout.ndim()).filter(|&i| !mask[i]).collect();
    let reduced: Vec<usize> = (0..layout.ndim()).filter(|&i| mask[i]).collect();
    let lk = Layout {
        shape: kept.iter().map(|&i| layout.shape[i]).collect(),
        strides: kept.iter().map(|&i| layout.strides[i]).collect(),
        offset: layout.offset,
    };
    let lr = Layout {
        shape: reduced.iter().map(|&i| layout.shape[i]).collect(),
        strides: reduced.iter().map(|&i| layout.strides[i]).collect(),
        offset: 0,
    }
    .coalesced();
    let count: usize = lr.size();
    let mut pos = 0usize;
    let fold = |base: isize| -> T {
        let mut acc = init();
        let group = Layout { offset: base as usize, ..lr.clone() };
        for_each_run(&group.shape, [&group], |[o], n, [s]| {
            for i in 0..n as isize {
                acc = step(acc, data[(o + i * s) as usize]);
            }
        });
        finish(acc, count)
    };
    if lk.ndim() == 0 {
        out[0] = fold(layout.offset as isize);
        return;
    }
    for_each_run(&lk.shape, [&lk], |[o], n, [s]| {
        for i in 0..n as isize {
            out[pos] = fold(o + i * s);
            pos += 1;
        }
    });
}

/// `sum` over axes (with keepdims/exclude), and `_sum_to` which sums a broadcast array back
/// to a target shape.
pub struct Sum {
    name: &'static str,
    axes: ReduceAxes,
    /// For `_sum_to`: the target shape.
    to_shape: Option<Vec<usize>>,
}

impl Sum {
    fn mask(&self, shape: &[usize]) -> Result<Vec<bool>> {
        match &self.to_shape {
            None => self.axes.mask(self.name, shape.len()),
            Some(target) => {
                if target.len() > shape.len() {
                    return Err(Error::Value(format!("_sum_to: cannot sum shape {shape:?} to {target:?}")));
                }
                let lead = shape.len() - target.len();
                Ok((0..shape.len()).map(|i| i < lead || (target[i - lead] == 1 && shape[i] != 1)).collect())
            }
        }
    }
}

impl Operator for Sum {
    fn name(&self) -> &'static str {
        self.name
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let x = &inputs[0];
        let shape = match &self.to_shape {
            Some(t) => {
                self.mask(&x.shape)?;
                t.clone()
            }
            None => self.axes.out_shape(self.name, &x.shape)?,
        };
        Ok(vec![TensorDesc::new(shape, x.dtype)])
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let mask = self.mask(x.shape())?;
        // SAFETY: called by the engine with `x` read and `out` written.
        unsafe {
            dispatch_real!(self.name, x.dtype(), T => {
                // Accumulate in f64 so long float32 sums keep their precision.
                reduce_kernel(x.data::<T>(), x.layout(), &mask, out.out_data::<T>(),
                    || 0.0f64, |a, v: T| a + v.to_f64(), |a, _| T::from_f64(a));
            });
        }
        Ok(())
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let x = &g.inputs[0];
        let mask = self.mask(x.shape())?;
        // Reshape the gradient to keepdims form, then broadcast it back over the reduced axes.
        let kept = reduced_shape(x.shape(), &mask, true);
        let dy = call1("Reshape", &[&g.out_grads[0]], &[("shape", tuple_string(&kept))])?;
        let dx = call1("broadcast_to", &[&dy], &[("shape", tuple_string(x.shape()))])?;
        Ok(vec![Some(dx)])
    }

    fn attrs(&self) -> Attrs {
        match &self.to_shape {
            Some(t) => vec![("shape".into(), tuple_string(t))],
            None => self.axes.attrs(),
        }
    }
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "sum",
        aliases: &["sum_axis"],
        arguments: &["data"],
        params: &["axis", "keepdims", "exclude"],
        doc: "Sum of array elements over the given axes.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("sum", attrs);
            let axes = ReduceAxes::parse("sum", &mut r)?;
            r.finish(&["axis", "keepdims", "exclude"])?;
            Ok(Arc::new(Sum { name: "sum", axes, to_shape: None }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "_sum_to",
        aliases: &[],
        arguments: &["data"],
        params: &["shape"],
        doc: "Sum a broadcast array back to `shape` (gradient of broadcasting).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("_sum_to", attrs);
            let shape = r.required::<Vec<usize>>("shape")?;
            r.finish(&["shape"])?;
            let axes = ReduceAxes { axis: None, keepdims: false, exclude: false };
            Ok(Arc::new(Sum { name: "_sum_to", axes, to_shape: Some(shape) }) as Arc<dyn Operator>)
        },
    });
}
