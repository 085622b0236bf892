//! Other elementwise operators: `clip`, `where`, `add_n` (`ElementWiseSum`), `BlockGrad`
//! (`stop_gradient`), `make_loss`, `MakeLoss` and `smooth_l1`.

use std::sync::Arc;

use mxnet_cpu::simd;
use mxnet_cpu::strided::unary_map;

use super::arith::Arith;
use super::grad_util::{mul, scalar_op};
use crate::attrs::{AttrReader, Attrs};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::imperative::call1;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
use crate::ops::scalar::format_scalar;
use crate::{dispatch_all, dispatch_float, dispatch_real};


fn one_input<'a>(op: &str, inputs: &'a [TensorDesc]) -> Result<&'a TensorDesc> {
    match inputs {
        [x] => Ok(x),
        _ => Err(Error::Value(format!("{op}: expected 1 input, got {}", inputs.len()))),
    }
}

/// Reject dtypes outside `allowed` when the call is made, rather than when the kernel runs.
fn check_dtype(op: &str, dtype: DType, allowed: &[DType]) -> Result<()> {
    if allowed.contains(&dtype) {
        return Ok(());
    }
    let names: Vec<&str> = allowed.iter().map(|d| d.name()).collect();
    Err(Error::Type(format!("{op}: dtype {dtype} is not supported; cast the input to one of {}", names.join(", "))))
}

const REAL: &[DType] = &[DType::Float32, DType::Float64, DType::Int8, DType::UInt8, DType::Int32, DType::Int64];
const FLOAT: &[DType] = &[DType::Float32, DType::Float64];

/// `clip(data, a_min, a_max)`: NaN stays NaN, as in numpy.
pub struct Clip {
    a_min: f64,
    a_max: f64,
}

impl Operator for Clip {
    fn name(&self) -> &'static str {
        "clip"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let x = one_input("clip", inputs)?;
        check_dtype("clip", x.dtype, REAL)?;
        Ok(vec![x.clone()])
    }

    fn inplace_safe(&self) -> bool {
        true
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    /// Comparisons in the CPU kernel's order, so NaN passes through.
    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        use mxnet_gpu::kernels::elementwise::int_scalar;
        let (expr, bounds) = match crate::gpu::elem("clip", inputs[0].dtype())? {
            mxnet_gpu::Elem::F32 => ("select(select(x0, s0, x0 < s0), s1, x0 > s1)", [self.a_min as f32, self.a_max as f32]),
            _ => ("select(select(x0, si0, x0 < si0), si1, x0 > si1)", [int_scalar(self.a_min as i32), int_scalar(self.a_max as i32)]),
        };
        crate::gpu::map("clip", expr, &[&inputs[0]], &bounds, &outputs[0])
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        // SAFETY: called by the engine with `x` read and `out` written.
        unsafe {
            dispatch_real!("clip", x.dtype(), T => {
                let (lo, hi) = (T::from_f64(self.a_min), T::from_f64(self.a_max));
                // `move`: bounds captured by reference were loaded for every element.
                unary_map(x.data::<T>(), x.layout(), out.out_data::<T>(), move |v: T| {
                    if v > hi { hi } else if v < lo { lo } else { v }
                });
            });
        }
        Ok(())
    }

    /// The gradient passes where `a_min <= x <= a_max` (bounds included, as in MXNet 1.9.1).
    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let x = &g.inputs[0];
        let inside = mul(
            &scalar_op("_greater_equal_scalar", x, self.a_min)?,
            &scalar_op("_lesser_equal_scalar", x, self.a_max)?,
        )?;
        Ok(vec![Some(mul(&g.out_grads[0], &inside)?)])
    }

    fn attrs(&self) -> Attrs {
        vec![("a_min".into(), format_scalar(self.a_min)), ("a_max".into(), format_scalar(self.a_max))]
    }
}

/// `where(condition, x, y)`: `x` where the condition is nonzero, else `y`. The condition has
/// the shape of `x`, or is 1-D with one entry per row (`x.shape[0]`), as in MXNet 1.9.1.
pub struct Where;

impl Operator for Where {
    fn name(&self) -> &'static str {
        "where"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let [cond, x, y] = inputs else {
            return Err(Error::Value(format!("where: expected 3 inputs (condition, x, y), got {}", inputs.len())));
        };
        if x.shape != y.shape {
            return Err(Error::Value(format!(
                "where: x has shape {:?} but y has shape {:?}; they must match",
                x.shape, y.shape
            )));
        }
        if x.dtype != y.dtype {
            return Err(Error::Type(format!(
                "where: x has dtype {} but y has dtype {}; cast one with astype() first",
                x.dtype, y.dtype
            )));
        }
        let per_row = cond.shape.len() == 1 && x.shape.first() == Some(&cond.shape[0]);
        if cond.shape != x.shape && !per_row {
            return Err(Error::Value(format!(
                "where: condition has shape {:?}; it must equal the shape of x {:?} or be 1-D with length x.shape[0]",
                cond.shape, x.shape
            )));
        }
        Ok(vec![x.clone()])
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (cond, x, y, out) = (&inputs[0], &inputs[1], &inputs[2], &outputs[0]);
        // A 1-D condition picks whole rows: view it as (n, 1, ...) to broadcast over them.
        let cond = if cond.shape() == x.shape() {
            cond.clone()
        } else {
            let mut shape = vec![cond.size()];
            shape.resize(x.ndim(), 1);
            let mut strides = vec![cond.layout().strides.first().copied().unwrap_or(1)];
            strides.resize(x.ndim(), 0);
            cond.with_layout(mxnet_cpu::Layout { shape, strides, offset: cond.layout().offset })
        };
        let test = match crate::gpu::elem("where", cond.dtype())? {
            mxnet_gpu::Elem::F32 => "f_nonzero(x0)",
            _ => "x0 != 0",
        };
        let t = crate::gpu::elem("where", x.dtype())?;
        let expr = format!("select(x2, x1, {test})");
        let inputs = [&cond, x, y];
        crate::gpu::map_as("where", &expr, &inputs, &[], out, |d| if d == cond.dtype() { crate::gpu::elem("where", d) } else { Ok(t) })
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (cond, x, y, out) = (&inputs[0], &inputs[1], &inputs[2], &outputs[0]);
        // Each condition entry covers `inner` consecutive output elements.
        let inner = if cond.shape() == x.shape() { 1 } else { x.size() / cond.size().max(1) };
        // SAFETY: called by the engine with the inputs read and `out` written.
        unsafe {
            let take_x: Vec<bool> = dispatch_all!(cond.dtype(), C => {
                cond.contiguous_data::<C>().iter().map(|c| c.to_f64() != 0.0).collect()
            });
            dispatch_all!(x.dtype(), T => {
                let (xs, ys) = (x.contiguous_data::<T>(), y.contiguous_data::<T>());
                let dst = out.out_data::<T>();
                if dst.is_empty() {
                    // Nothing to select, and a condition of n > 0 elements over an empty x
                    // would make `inner` 0.
                } else if inner == 1 {
                    simd::dispatch(
                        #[inline(always)]
                        || {
                            for (((d, &c), &a), &b) in dst.iter_mut().zip(&take_x).zip(xs.iter()).zip(ys.iter()) {
                                *d = if c { a } else { b };
                            }
                        },
                    );
                } else {
                    // One condition per block of `inner` elements (a condition over leading axes).
                    let blocks = dst.chunks_mut(inner).zip(xs.chunks(inner).zip(ys.chunks(inner)));
                    for ((d, (a, b)), &c) in blocks.zip(&take_x) {
                        d.copy_from_slice(if c { a } else { b });
                    }
                }
            });
        }
        Ok(())
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let (cond, dy) = (&g.inputs[0], &g.out_grads[0]);
        let zeros = call1("zeros_like", &[dy], &[])?;
        let dx = call1("where", &[cond, dy, &zeros], &[])?;
        let dother = call1("where", &[cond, &zeros, dy], &[])?;
        Ok(vec![Some(call1("zeros_like", &[cond], &[])?), Some(dx), Some(dother)])
    }
}

/// `add_n(*args)`: the elementwise sum of arrays of one shape and dtype.
pub struct AddN;

impl Operator for AddN {
    fn name(&self) -> &'static str {
        "add_n"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let Some(first) = inputs.first() else {
            return Err(Error::Value("add_n: expected at least 1 input array, got none".into()));
        };
        for (i, x) in inputs.iter().enumerate() {
            if x.shape != first.shape || x.dtype != first.dtype {
                return Err(Error::Value(format!(
                    "add_n: input {i} has shape {:?} and dtype {} but input 0 has shape {:?} and dtype {}; all inputs must match",
                    x.shape, x.dtype, first.shape, first.dtype
                )));
            }
        }
        check_dtype("add_n", first.dtype, REAL)?;
        Ok(vec![first.clone()])
    }

    /// Each output element is written after all inputs at that position are read.
    fn inplace_safe(&self) -> bool {
        true
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    /// Sums four inputs per kernel; inputs that alias the output in another layout are copied
    /// first, as on the CPU.
    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let out = &outputs[0];
        let parts = inputs
            .iter()
            .map(|x| {
                if x.shares_storage(out) && x.layout() != out.layout() {
                    let copy = NDArray::for_overwrite(x.shape(), x.dtype(), x.context())?;
                    crate::gpu::copy(x, &copy)?;
                    Ok(copy)
                } else {
                    Ok(x.clone())
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let (first, rest) = parts.split_at(parts.len().min(4));
        let refs: Vec<&NDArray> = first.iter().collect();
        let sum = (0..refs.len()).map(|k| format!("x{k}")).collect::<Vec<_>>().join(" + ");
        crate::gpu::map("add_n", &sum, &refs, &[], out)?;
        for chunk in rest.chunks(3) {
            let mut refs = vec![out];
            refs.extend(chunk.iter());
            let sum = (0..refs.len()).map(|k| format!("x{k}")).collect::<Vec<_>>().join(" + ");
            crate::gpu::map("add_n", &sum, &refs, &[], out)?;
        }
        Ok(())
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let out = &outputs[0];
        // SAFETY: called by the engine with the inputs read and `out` written. Inputs that
        // share the output's storage are copied first.
        unsafe {
            dispatch_real!("add_n", out.dtype(), T => {
                let parts: Vec<std::borrow::Cow<[T]>> = inputs
                    .iter()
                    .map(|x| if x.shares_storage(out) {
                        std::borrow::Cow::Owned(x.contiguous_data::<T>().into_owned())
                    } else {
                        x.contiguous_data::<T>()
                    })
                    .collect();
                let dst = out.out_data::<T>();
                dst.copy_from_slice(&parts[0]);
                for part in &parts[1..] {
                    for (d, &v) in dst.iter_mut().zip(part.iter()) {
                        *d = d.add(v);
                    }
                }
            });
        }
        Ok(())
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        Ok(g.inputs.iter().map(|_| Some(g.out_grads[0].clone())).collect())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LossNorm {
    Null,
    Batch,
    Valid,
}

/// Identity in the forward pass with a gradient that does not depend on the head gradient:
/// `BlockGrad` returns zeros, `make_loss` ones, and `MakeLoss` `grad_scale` divided by the
/// normalizer.
pub struct GradOverride {
    name: &'static str,
    /// `None` for BlockGrad (zero gradient).
    grad_scale: Option<f64>,
    normalization: LossNorm,
    valid_thresh: f64,
}

impl Operator for GradOverride {
    fn name(&self) -> &'static str {
        self.name
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        Ok(vec![one_input(self.name, inputs)?.clone()])
    }

    fn inplace_safe(&self) -> bool {
        true
    }

    super::gpu_through_copies!();

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        super::copy::copy_kernel(&inputs[0], &outputs[0])
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let x = &g.inputs[0];
        let Some(scale) = self.grad_scale else {
            return Ok(vec![Some(call1("zeros_like", &[x], &[])?)]);
        };
        let ones = call1("ones_like", &[x], &[])?;
        let dx = match self.normalization {
            LossNorm::Null => scalar_op("_mul_scalar", &ones, scale)?,
            LossNorm::Batch => {
                let batch = x.shape().first().copied().unwrap_or(1).max(1);
                scalar_op("_mul_scalar", &ones, scale / batch as f64)?
            }
            LossNorm::Valid => {
                // Divide by the number of elements above `valid_thresh` (at least 1).
                let valid = call1("sum", &[&scalar_op("_greater_scalar", x, self.valid_thresh)?], &[])?;
                let valid = scalar_op("_maximum_scalar", &valid, 1.0)?;
                let scaled = scalar_op("_mul_scalar", &ones, scale)?;
                call1("broadcast_div", &[&scaled, &valid], &[])?
            }
        };
        Ok(vec![Some(dx)])
    }
}

/// `smooth_l1(data, scalar=sigma)`: `0.5 (sigma x)^2` where `|x| < 1/sigma^2`, else
/// `|x| - 0.5/sigma^2`.
pub struct SmoothL1 {
    sigma: f64,
}

impl Operator for SmoothL1 {
    fn name(&self) -> &'static str {
        "smooth_l1"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let x = one_input("smooth_l1", inputs)?;
        check_dtype("smooth_l1", x.dtype, FLOAT)?;
        Ok(vec![x.clone()])
    }

    fn inplace_safe(&self) -> bool {
        true
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let s2 = (self.sigma * self.sigma) as f32;
        let expr = "select(abs(x0) - 0.5 / s0, 0.5 * s0 * x0 * x0, abs(x0) < 1.0 / s0)";
        crate::gpu::map_as("smooth_l1", expr, &[&inputs[0]], &[s2], &outputs[0], |d| crate::gpu::float_elem("smooth_l1", d))
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let s2 = self.sigma * self.sigma;
        // SAFETY: called by the engine with `x` read and `out` written.
        unsafe {
            dispatch_float!("smooth_l1", x.dtype(), T => {
                unary_map(x.data::<T>(), x.layout(), out.out_data::<T>(), move |v: T| {
                    let v = v.to_f64();
                    T::from_f64(if v.abs() < 1.0 / s2 { 0.5 * s2 * v * v } else { v.abs() - 0.5 / s2 })
                });
            });
        }
        Ok(())
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let (x, dy) = (&g.inputs[0], &g.out_grads[0]);
        let s2 = self.sigma * self.sigma;
        let inside = scalar_op("_lesser_scalar", &call1("abs", &[x], &[])?, 1.0 / s2)?;
        let outside = scalar_op("_rminus_scalar", &inside, 1.0)?;
        let d_inside = mul(&inside, &scalar_op("_mul_scalar", x, s2)?)?;
        let d_outside = mul(&outside, &call1("sign", &[x], &[])?)?;
        let d = call1("elemwise_add", &[&d_inside, &d_outside], &[])?;
        Ok(vec![Some(mul(dy, &d)?)])
    }

    fn attrs(&self) -> Attrs {
        vec![("scalar".into(), format_scalar(self.sigma))]
    }
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "clip",
        aliases: &[],
        arguments: &["data"],
        params: &["a_min", "a_max"],
        doc: "Clip the elements to [a_min, a_max].",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("clip", attrs);
            let a_min = r.required::<f64>("a_min")?;
            let a_max = r.required::<f64>("a_max")?;
            r.finish(&["a_min", "a_max"])?;
            if a_min > a_max {
                return Err(Error::Value(format!("clip: a_min={a_min} is greater than a_max={a_max}; swap them")));
            }
            Ok(Arc::new(Clip { a_min, a_max }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "where",
        aliases: &[],
        arguments: &["condition", "x", "y"],
        params: &[],
        doc: "Elements of x where the condition is nonzero, else elements of y.",
        create: |attrs: &Attrs| {
            AttrReader::new("where", attrs).finish(&[])?;
            Ok(Arc::new(Where) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "add_n",
        aliases: &["ElementWiseSum", "_sparse_ElementWiseSum"],
        arguments: &["*args"],
        params: &[],
        doc: "Elementwise sum of the input arrays.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("add_n", attrs);
            r.ignore(&["num_args"]);
            r.finish(&["num_args"])?;
            Ok(Arc::new(AddN) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "BlockGrad",
        aliases: &["stop_gradient"],
        arguments: &["data"],
        params: &[],
        doc: "Identity that stops the gradient: the input receives zeros.",
        create: |attrs: &Attrs| {
            AttrReader::new("BlockGrad", attrs).finish(&[])?;
            let op = GradOverride { name: "BlockGrad", grad_scale: None, normalization: LossNorm::Null, valid_thresh: 0.0 };
            Ok(Arc::new(op) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "make_loss",
        aliases: &[],
        arguments: &["data"],
        params: &[],
        doc: "Identity whose gradient is ones, so the input acts as a loss.",
        create: |attrs: &Attrs| {
            AttrReader::new("make_loss", attrs).finish(&[])?;
            let op = GradOverride { name: "make_loss", grad_scale: Some(1.0), normalization: LossNorm::Null, valid_thresh: 0.0 };
            Ok(Arc::new(op) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "MakeLoss",
        aliases: &[],
        arguments: &["data"],
        params: &["grad_scale", "valid_thresh", "normalization"],
        doc: "Identity whose gradient is grad_scale, divided by the batch size or the valid count.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("MakeLoss", attrs);
            let grad_scale = r.get("grad_scale", 1.0)?;
            let valid_thresh = r.get("valid_thresh", 0.0)?;
            let norm = r.get("normalization", "null".to_string())?;
            r.finish(&["grad_scale", "valid_thresh", "normalization"])?;
            let normalization = match norm.as_str() {
                "null" => LossNorm::Null,
                "batch" => LossNorm::Batch,
                "valid" => LossNorm::Valid,
                other => {
                    return Err(Error::Value(format!(
                        "MakeLoss: normalization '{other}' is not supported; use 'null', 'batch' or 'valid'"
                    )))
                }
            };
            let op = GradOverride { name: "MakeLoss", grad_scale: Some(grad_scale), normalization, valid_thresh };
            Ok(Arc::new(op) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "smooth_l1",
        aliases: &[],
        arguments: &["data"],
        params: &["scalar"],
        doc: "Smooth L1 loss with parameter sigma (`scalar`).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("smooth_l1", attrs);
            let sigma = r.get("scalar", 1.0)?;
            r.ignore(&["is_int"]);
            r.finish(&["scalar"])?;
            if sigma <= 0.0 {
                return Err(Error::Value(format!("smooth_l1: scalar (sigma) must be positive, got {sigma}")));
            }
            Ok(Arc::new(SmoothL1 { sigma }) as Arc<dyn Operator>)
        },
    });
}
