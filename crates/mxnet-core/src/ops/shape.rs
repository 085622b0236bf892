//! Operators that change the shape: `Reshape` (with MXNet's special codes), `reshape_like`,
//! `broadcast_to`, `broadcast_axis`, `broadcast_like`, `shape_array` and `size_array`.
//! `Reshape`, `broadcast_to` and `broadcast_axis` share storage with their input when the
//! layout allows.

use std::sync::Arc;

use mxnet_cpu::Layout;

use super::view::{axis_index, ViewMap, ViewOp};
use crate::attrs::{tuple_string, AttrReader, Attrs};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::imperative::call1;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};

/// Resolve MXNet's reshape codes against `input`:
/// `0` copies a dim, `-1` infers one dim, `-2` copies the remaining dims, `-3` merges two
/// dims, `-4` splits one dim into the next two values (one of which may be `-1`).
/// With `reverse`, codes are matched from the right.
pub fn infer_reshape(input: &[usize], codes: &[i64], reverse: bool) -> Result<Vec<usize>> {
    let err = |why: &str| {
        Error::Value(format!("Reshape: cannot reshape array of shape {input:?} with shape {codes:?}: {why}"))
    };
    let (input, codes): (Vec<usize>, Vec<i64>) = if reverse {
        (input.iter().rev().copied().collect(), rev_codes(codes))
    } else {
        (input.to_vec(), codes.to_vec())
    };

    // Output dims, with `None` for the one dim to infer.
    let mut out: Vec<Option<usize>> = Vec::new();
    let mut src = 0usize;
    let mut i = 0usize;
    while i < codes.len() {
        let code = codes[i];
        match code {
            c if c > 0 => {
                out.push(Some(c as usize));
                src += 1;
            }
            0 => {
                let d = *input.get(src).ok_or_else(|| err("code 0 refers past the last input dimension"))?;
                out.push(Some(d));
                src += 1;
            }
            -1 => {
                if out.iter().any(|d| d.is_none()) {
                    return Err(err("more than one -1"));
                }
                out.push(None);
                src += 1;
            }
            -2 => {
                out.extend(input.iter().skip(src).map(|&d| Some(d)));
                src = input.len();
            }
            -3 => {
                if src + 1 >= input.len() {
                    return Err(err("code -3 needs two input dimensions to merge"));
                }
                out.push(Some(input[src] * input[src + 1]));
                src += 2;
            }
            -4 => {
                let d = *input.get(src).ok_or_else(|| err("code -4 refers past the last input dimension"))?;
                let (a, b) = match (codes.get(i + 1), codes.get(i + 2)) {
                    (Some(&a), Some(&b)) => (a, b),
                    _ => return Err(err("code -4 must be followed by two values")),
                };
                let (a, b) = match (a, b) {
                    (-1, b) if b > 0 && d % b as usize == 0 => (d / b as usize, b as usize),
                    (a, -1) if a > 0 && d % a as usize == 0 => (a as usize, d / a as usize),
                    (a, b) if a > 0 && b > 0 && (a * b) as usize == d => (a as usize, b as usize),
                    _ => return Err(err("the two values after -4 must multiply to the split dimension")),
                };
                out.push(Some(a));
                out.push(Some(b));
                src += 1;
                i += 2;
            }
            _ => return Err(err("codes must be positive, 0, -1, -2, -3 or -4")),
        }
        i += 1;
    }

    let total: usize = input.iter().product();
    let known: usize = out.iter().flatten().product();
    let mut shape: Vec<usize> = Vec::with_capacity(out.len());
    for d in &out {
        match d {
            Some(d) => shape.push(*d),
            None => {
                if known == 0 || total % known != 0 {
                    return Err(err("the size does not divide evenly for -1"));
                }
                shape.push(total / known);
            }
        }
    }
    if shape.iter().product::<usize>() != total {
        return Err(err(&format!("the new shape {shape:?} has a different size")));
    }
    if reverse {
        shape.reverse();
    }
    Ok(shape)
}

/// Reverse a code list for `reverse=True`, keeping each `-4 a b` group in its internal order.
fn rev_codes(codes: &[i64]) -> Vec<i64> {
    let mut groups: Vec<Vec<i64>> = Vec::new();
    let mut i = 0;
    while i < codes.len() {
        if codes[i] == -4 && i + 2 < codes.len() {
            groups.push(vec![-4, codes[i + 2], codes[i + 1]]);
            i += 3;
        } else {
            groups.push(vec![codes[i]]);
            i += 1;
        }
    }
    groups.into_iter().rev().flatten().collect()
}

pub struct Reshape {
    codes: Vec<i64>,
    reverse: bool,
}

impl Operator for Reshape {
    fn name(&self) -> &'static str {
        "Reshape"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let x = &inputs[0];
        Ok(vec![TensorDesc::new(infer_reshape(&x.shape, &self.codes, self.reverse)?, x.dtype)])
    }

    fn view(&self, input: &NDArray) -> Option<Layout> {
        if !input.is_contiguous() {
            return None;
        }
        let shape = infer_reshape(input.shape(), &self.codes, self.reverse).ok()?;
        Some(Layout { offset: input.layout().offset, ..Layout::contiguous(&shape) })
    }

    super::gpu_through_copies!();

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let flat = outputs[0].with_layout(Layout {
            offset: outputs[0].layout().offset,
            ..Layout::contiguous(inputs[0].shape())
        });
        super::copy::copy_kernel(&inputs[0], &flat)
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let shape = tuple_string(g.inputs[0].shape());
        Ok(vec![Some(call1("Reshape", &[&g.out_grads[0]], &[("shape", shape)])?)])
    }

    fn attrs(&self) -> Attrs {
        vec![
            ("shape".into(), tuple_string(&self.codes)),
            ("reverse".into(), super::reduce::py_bool(self.reverse)),
        ]
    }
}

pub struct BroadcastTo {
    shape: Vec<i64>,
}

impl BroadcastTo {
    fn target(&self, input: &[usize]) -> Result<Vec<usize>> {
        if self.shape.len() < input.len() {
            return Err(self.error(input));
        }
        let lead = self.shape.len() - input.len();
        // A 0 in the target keeps the input's dimension, as in MXNet.
        let target: Vec<usize> = self
            .shape
            .iter()
            .enumerate()
            .map(|(i, &d)| if d == 0 && i >= lead { input[i - lead] } else { d.max(0) as usize })
            .collect();
        if Layout::contiguous(input).broadcast_to(&target).is_none() {
            return Err(self.error(input));
        }
        Ok(target)
    }

    fn error(&self, input: &[usize]) -> Error {
        Error::Value(format!(
            "broadcast_to: cannot broadcast shape {input:?} to {:?}; dimensions must match or be 1 in the input",
            self.shape
        ))
    }
}

impl Operator for BroadcastTo {
    fn name(&self) -> &'static str {
        "broadcast_to"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let x = &inputs[0];
        Ok(vec![TensorDesc::new(self.target(&x.shape)?, x.dtype)])
    }

    fn view(&self, input: &NDArray) -> Option<Layout> {
        input.layout().broadcast_to(&self.target(input.shape()).ok()?)
    }

    super::gpu_through_copies!();

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let x = &inputs[0];
        let src = x.with_layout(x.layout().broadcast_to(outputs[0].shape()).expect("checked by infer"));
        super::copy::copy_kernel(&src, &outputs[0])
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        Ok(vec![Some(super::grad_util::reduce_to(&g.out_grads[0], g.inputs[0].shape())?)])
    }

    fn attrs(&self) -> Attrs {
        vec![("shape".into(), tuple_string(&self.shape))]
    }
}

/// `broadcast_axis`: stretch the size-1 axes `axis[i]` to `size[i]` (a read-only view).
pub struct BroadcastAxis {
    axis: Vec<i64>,
    size: Vec<usize>,
}

impl ViewMap for BroadcastAxis {
    fn name(&self) -> &'static str {
        "broadcast_axis"
    }

    fn map(&self, input: &Layout) -> Result<Layout> {
        if self.axis.len() != self.size.len() {
            return Err(Error::Value(format!(
                "broadcast_axis: axis {:?} and size {:?} must have the same length",
                self.axis, self.size
            )));
        }
        let mut target = input.shape.clone();
        for (&a, &n) in self.axis.iter().zip(&self.size) {
            let a = axis_index("broadcast_axis", a, input.ndim())?;
            if input.shape[a] != 1 && input.shape[a] != n {
                return Err(Error::Value(format!(
                    "broadcast_axis: axis {a} of shape {:?} has size {}; only axes of size 1 can be broadcast to size {n}",
                    input.shape, input.shape[a]
                )));
            }
            target[a] = n;
        }
        input.broadcast_to(&target).ok_or_else(|| {
            Error::Value(format!("broadcast_axis: cannot broadcast shape {:?} to {target:?}", input.shape))
        })
    }

    fn grad(&self, x: &NDArray, dy: &NDArray) -> Result<NDArray> {
        super::grad_util::reduce_to(dy, x.shape())
    }

    fn attrs(&self) -> Attrs {
        vec![("axis".into(), tuple_string(&self.axis)), ("size".into(), tuple_string(&self.size))]
    }
}

/// Resolve an optional `[begin, end)` axis range of an `ndim`-dimensional shape; MXNet allows
/// negative bounds counted from the end.
fn axis_range(op: &str, begin: Option<i64>, end: Option<i64>, ndim: usize) -> Result<(usize, usize)> {
    let n = ndim as i64;
    let fix = |v: i64| if v < 0 { v + n } else { v };
    let b = begin.map(fix).unwrap_or(0);
    let e = end.map(fix).unwrap_or(n);
    if b < 0 || e > n || b > e {
        return Err(Error::Value(format!(
            "{op}: axis range [{begin:?}, {end:?}) is invalid for an array with {ndim} dimensions"
        )));
    }
    Ok((b as usize, e as usize))
}

/// `reshape_like(lhs, rhs)`: `lhs` with the shape of `rhs`, or with `lhs.shape[lhs_begin:lhs_end]`
/// replaced by `rhs.shape[rhs_begin:rhs_end]`.
pub struct ReshapeLike {
    lhs_range: (Option<i64>, Option<i64>),
    rhs_range: (Option<i64>, Option<i64>),
}

impl ReshapeLike {
    fn target(&self, lhs: &[usize], rhs: &[usize]) -> Result<Vec<usize>> {
        let (lb, le) = axis_range("reshape_like", self.lhs_range.0, self.lhs_range.1, lhs.len())?;
        let (rb, re) = axis_range("reshape_like", self.rhs_range.0, self.rhs_range.1, rhs.len())?;
        let mut shape = lhs[..lb].to_vec();
        shape.extend_from_slice(&rhs[rb..re]);
        shape.extend_from_slice(&lhs[le..]);
        if shape.iter().product::<usize>() != lhs.iter().product::<usize>() {
            return Err(Error::Value(format!(
                "reshape_like: cannot reshape lhs of shape {lhs:?} to {shape:?} (taken from rhs of shape {rhs:?}); the sizes differ"
            )));
        }
        Ok(shape)
    }
}

impl Operator for ReshapeLike {
    fn name(&self) -> &'static str {
        "reshape_like"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let [lhs, rhs] = inputs else {
            return Err(Error::Value(format!("reshape_like: expected 2 inputs, got {}", inputs.len())));
        };
        Ok(vec![TensorDesc::new(self.target(&lhs.shape, &rhs.shape)?, lhs.dtype)])
    }

    super::gpu_through_copies!();

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let out = &outputs[0];
        let flat = out.with_layout(Layout { offset: out.layout().offset, ..Layout::contiguous(inputs[0].shape()) });
        super::copy::copy_kernel(&inputs[0], &flat)
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        Ok(vec![Some(super::axes::reshape_to(&g.out_grads[0], g.inputs[0].shape())?), None])
    }

    fn attrs(&self) -> Attrs {
        let mut a = Attrs::new();
        let fields = [
            ("lhs_begin", self.lhs_range.0),
            ("lhs_end", self.lhs_range.1),
            ("rhs_begin", self.rhs_range.0),
            ("rhs_end", self.rhs_range.1),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                a.push((k.into(), v.to_string()));
            }
        }
        a
    }
}

/// `broadcast_like(lhs, rhs)`: broadcast `lhs` to the shape of `rhs`, or only the axes
/// `lhs_axes` to the sizes of `rhs_axes` of `rhs`.
pub struct BroadcastLike {
    lhs_axes: Option<Vec<i64>>,
    rhs_axes: Option<Vec<i64>>,
}

impl BroadcastLike {
    fn target(&self, lhs: &[usize], rhs: &[usize]) -> Result<Vec<usize>> {
        let bad = || {
            Error::Value(format!(
                "broadcast_like: cannot broadcast lhs of shape {lhs:?} like rhs of shape {rhs:?}; dimensions must match or be 1 in lhs"
            ))
        };
        let target = match (&self.lhs_axes, &self.rhs_axes) {
            (None, None) => rhs.to_vec(),
            (Some(la), Some(ra)) if la.len() == ra.len() => {
                let mut t = lhs.to_vec();
                for (&a, &b) in la.iter().zip(ra) {
                    let a = axis_index("broadcast_like", a, lhs.len())?;
                    let b = axis_index("broadcast_like", b, rhs.len())?;
                    t[a] = rhs[b];
                }
                t
            }
            _ => {
                return Err(Error::Value(format!(
                    "broadcast_like: lhs_axes {:?} and rhs_axes {:?} must both be given with the same length, or both omitted",
                    self.lhs_axes, self.rhs_axes
                )))
            }
        };
        Layout::contiguous(lhs).broadcast_to(&target).ok_or_else(bad)?;
        Ok(target)
    }
}

impl Operator for BroadcastLike {
    fn name(&self) -> &'static str {
        "broadcast_like"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let [lhs, rhs] = inputs else {
            return Err(Error::Value(format!("broadcast_like: expected 2 inputs, got {}", inputs.len())));
        };
        Ok(vec![TensorDesc::new(self.target(&lhs.shape, &rhs.shape)?, lhs.dtype)])
    }

    super::gpu_through_copies!();

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let x = &inputs[0];
        let layout = x.layout().broadcast_to(outputs[0].shape()).ok_or_else(|| {
            Error::Value(format!("broadcast_like: cannot broadcast shape {:?} to {:?}", x.shape(), outputs[0].shape()))
        })?;
        super::copy::copy_kernel(&x.with_layout(layout), &outputs[0])
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        Ok(vec![Some(super::grad_util::reduce_to(&g.out_grads[0], g.inputs[0].shape())?), None])
    }

    fn attrs(&self) -> Attrs {
        let mut a = Attrs::new();
        if let Some(v) = &self.lhs_axes {
            a.push(("lhs_axes".into(), tuple_string(v)));
        }
        if let Some(v) = &self.rhs_axes {
            a.push(("rhs_axes".into(), tuple_string(v)));
        }
        a
    }
}

/// `shape_array` (the shape as an int64 vector) and `size_array` (the element count as an
/// int64 array of shape (1,)).
pub struct ShapeArray {
    name: &'static str,
}

impl Operator for ShapeArray {
    fn name(&self) -> &'static str {
        self.name
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let n = if self.name == "shape_array" { inputs[0].shape.len() } else { 1 };
        Ok(vec![TensorDesc::new(vec![n], DType::Int64)])
    }

    /// The int64 result lives on the CPU whatever the input's context: a GPU has no 64-bit
    /// types, and the values come from the shape alone. MXNet 1.9.1 returns it on the input's
    /// context.
    fn output_context(&self) -> Option<crate::Context> {
        Some(crate::Context::cpu())
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let x = &inputs[0];
        let values: Vec<i64> = if self.name == "shape_array" {
            x.shape().iter().map(|&d| d as i64).collect()
        } else {
            vec![x.size() as i64]
        };
        // SAFETY: called by the engine with `outputs[0]` written.
        unsafe { outputs[0].out_data::<i64>().copy_from_slice(&values) };
        Ok(())
    }

    fn differentiable(&self) -> bool {
        false
    }
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "Reshape",
        aliases: &["reshape"],
        arguments: &["data"],
        params: &["shape", "reverse"],
        doc: "Give the array a new shape; codes 0, -1, -2, -3, -4 as in MXNet.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("Reshape", attrs);
            let codes = r.required::<Vec<i64>>("shape")?;
            let reverse = r.get("reverse", false)?;
            r.finish(&["shape", "reverse"])?;
            Ok(Arc::new(Reshape { codes, reverse }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "broadcast_to",
        aliases: &[],
        arguments: &["data"],
        params: &["shape"],
        doc: "Broadcast the array to a new shape (a read-only view).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("broadcast_to", attrs);
            let shape = r.required::<Vec<i64>>("shape")?;
            r.finish(&["shape"])?;
            Ok(Arc::new(BroadcastTo { shape }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "broadcast_axis",
        aliases: &["broadcast_axes"],
        arguments: &["data"],
        params: &["axis", "size"],
        doc: "Broadcast size-1 axes to the given sizes (a read-only view).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("broadcast_axis", attrs);
            let axis = r.get::<Vec<i64>>("axis", vec![])?;
            let size = r.get::<Vec<usize>>("size", vec![])?;
            r.finish(&["axis", "size"])?;
            Ok(Arc::new(ViewOp(BroadcastAxis { axis, size })) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "reshape_like",
        aliases: &[],
        arguments: &["lhs", "rhs"],
        params: &["lhs_begin", "lhs_end", "rhs_begin", "rhs_end"],
        doc: "Reshape lhs to the shape of rhs (or of the given axis ranges).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("reshape_like", attrs);
            let lhs_range = (r.opt::<i64>("lhs_begin")?, r.opt::<i64>("lhs_end")?);
            let rhs_range = (r.opt::<i64>("rhs_begin")?, r.opt::<i64>("rhs_end")?);
            r.finish(&["lhs_begin", "lhs_end", "rhs_begin", "rhs_end"])?;
            Ok(Arc::new(ReshapeLike { lhs_range, rhs_range }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "broadcast_like",
        aliases: &[],
        arguments: &["lhs", "rhs"],
        params: &["lhs_axes", "rhs_axes"],
        doc: "Broadcast lhs to the shape of rhs (or only the given axes).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("broadcast_like", attrs);
            let lhs_axes = r.opt::<Vec<i64>>("lhs_axes")?;
            let rhs_axes = r.opt::<Vec<i64>>("rhs_axes")?;
            r.finish(&["lhs_axes", "rhs_axes"])?;
            Ok(Arc::new(BroadcastLike { lhs_axes, rhs_axes }) as Arc<dyn Operator>)
        },
    });
    for name in ["shape_array", "size_array"] {
        defs.push(OpDef {
            name,
            aliases: &[],
            arguments: &["data"],
            params: &[],
            doc: if name == "shape_array" {
                "The shape of the array as an int64 vector."
            } else {
                "The number of elements as an int64 array of shape (1,)."
            },
            create: if name == "shape_array" {
                |attrs: &Attrs| {
                    AttrReader::new("shape_array", attrs).finish(&[])?;
                    Ok(Arc::new(ShapeArray { name: "shape_array" }) as Arc<dyn Operator>)
                }
            } else {
                |attrs: &Attrs| {
                    AttrReader::new("size_array", attrs).finish(&[])?;
                    Ok(Arc::new(ShapeArray { name: "size_array" }) as Arc<dyn Operator>)
                }
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::infer_reshape;

    #[test]
    fn reshape_codes_match_mxnet() {
        let s = [2, 3, 4];
        assert_eq!(infer_reshape(&s, &[0, -1], false).unwrap(), vec![2, 12]);
        assert_eq!(infer_reshape(&s, &[4, 0, -1], false).unwrap(), vec![4, 3, 2]);
        assert_eq!(infer_reshape(&s, &[-2], false).unwrap(), vec![2, 3, 4]);
        assert_eq!(infer_reshape(&s, &[-3, 4], false).unwrap(), vec![6, 4]);
        assert_eq!(infer_reshape(&s, &[2, -3], false).unwrap(), vec![2, 12]);
        assert_eq!(infer_reshape(&s, &[-4, 1, 2, -2], false).unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(infer_reshape(&s, &[-4, 2, -1, -2], false).unwrap(), vec![2, 1, 3, 4]);
        assert_eq!(infer_reshape(&s, &[0, 0, -4, 2, 2], false).unwrap(), vec![2, 3, 2, 2]);
        assert_eq!(infer_reshape(&[10, 5, 4], &[-1, 0], true).unwrap(), vec![50, 4]);
        assert_eq!(infer_reshape(&[10, 5, 4], &[-1, 0], false).unwrap(), vec![40, 5]);
    }
}
