//! `Activation(act_type=relu|sigmoid|tanh|softrelu|softsign)` and its gradient kernel.

use std::sync::Arc;

use mxnet_cpu::{math, simd};
use mxnet_cpu::strided::unary_map;
use num_traits::Float;

use super::{common_float_dtype, expect_inputs};
use crate::attrs::{AttrReader, Attrs};
use crate::dispatch_float;
use crate::error::{Error, Result};
use crate::imperative::invoke;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
use crate::ops::unary::{Unary, UnaryKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActType {
    Relu,
    Sigmoid,
    Tanh,
    SoftRelu,
    SoftSign,
}

impl ActType {
    fn parse(op: &str, name: &str) -> Result<ActType> {
        Ok(match name {
            "relu" => ActType::Relu,
            "sigmoid" => ActType::Sigmoid,
            "tanh" => ActType::Tanh,
            "softrelu" => ActType::SoftRelu,
            "softsign" => ActType::SoftSign,
            other => {
                return Err(Error::Value(format!(
                    "{op}: invalid act_type '{other}'; use 'relu', 'sigmoid', 'tanh', 'softrelu' or 'softsign'"
                )))
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            ActType::Relu => "relu",
            ActType::Sigmoid => "sigmoid",
            ActType::Tanh => "tanh",
            ActType::SoftRelu => "softrelu",
            ActType::SoftSign => "softsign",
        }
    }

    #[inline(always)]
    fn apply<T: Float>(self, x: T) -> T {
        let one = T::one();
        match self {
            ActType::Relu => {
                if x > T::zero() {
                    x
                } else {
                    T::zero()
                }
            }
            // e^-|x| is at most 1, so it cannot overflow, and results below the smallest normal
            // float stay subnormal instead of 1 / (1 + inf) = 0.
            ActType::Sigmoid => {
                let e = (-x.abs()).exp();
                let s = one / (one + e);
                if x >= T::zero() {
                    s
                } else {
                    e * s
                }
            }
            ActType::Tanh => x.tanh(),
            // log(1 + e^x) without overflow for large x.
            ActType::SoftRelu => x.max(T::zero()) + (-x.abs()).exp().ln_1p(),
            ActType::SoftSign => x / (one + x.abs()),
        }
    }

    /// The GPU kernel: a WGSL expression of the input `x0` (see `mxnet_gpu::kernels::elementwise`).
    fn wgsl(self) -> &'static str {
        match self {
            ActType::Relu => "select(0.0, x0, x0 > 0.0)",
            ActType::Sigmoid => "f_sigmoid(x0)",
            ActType::Tanh => "f_tanh(x0)",
            ActType::SoftRelu => "f_softrelu(x0)",
            ActType::SoftSign => "x0 / (1.0 + abs(x0))",
        }
    }

    /// The GPU gradient: `dx` from `x0` = dy, `x1` = x and `x2` = y.
    fn wgsl_gradient(self) -> &'static str {
        match self {
            ActType::Relu => "select(0.0, x0, x2 > 0.0)",
            ActType::Sigmoid => "x0 * x2 * (1.0 - x2)",
            ActType::Tanh => "x0 * (1.0 - x2 * x2)",
            ActType::SoftRelu => "x0 * f_sigmoid(x1)",
            ActType::SoftSign => "x0 / ((1.0 + abs(x1)) * (1.0 + abs(x1)))",
        }
    }

    /// Derivative at input `x` with output `y`.
    #[inline(always)]
    fn derivative<T: Float>(self, x: T, y: T) -> T {
        let one = T::one();
        match self {
            ActType::Relu => {
                if y > T::zero() {
                    one
                } else {
                    T::zero()
                }
            }
            ActType::Sigmoid => y * (one - y),
            ActType::Tanh => one - y * y,
            ActType::SoftRelu => one / (one + (-x).exp()),
            ActType::SoftSign => {
                let d = one + x.abs();
                one / (d * d)
            }
        }
    }
}

pub struct Activation {
    act: ActType,
}

impl Operator for Activation {
    fn name(&self) -> &'static str {
        "Activation"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        expect_inputs("Activation", inputs, &["data"])?;
        common_float_dtype("Activation", inputs, &["data"])?;
        Ok(vec![inputs[0].clone()])
    }

    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn forward(&self, ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let act = self.act;
        // float32 sigmoid and tanh run the kernels of the `sigmoid` and `tanh` operators, which
        // are vectorised where the standard library's functions are not.
        if inputs[0].dtype() == crate::DType::Float32 {
            let kind = match act {
                ActType::Sigmoid => Some(UnaryKind::Sigmoid),
                ActType::Tanh => Some(UnaryKind::Tanh),
                _ => None,
            };
            if let Some(kind) = kind {
                return Unary { kind }.forward(ctx, inputs, outputs);
            }
            if act == ActType::SoftRelu {
                // log(1 + e^x) as max(x, 0) + log1p(e^-|x|), in the vectorisable functions.
                // SAFETY: called by the engine with `inputs` read and `outputs` written.
                unsafe {
                    let (x, y) = (&inputs[0], &outputs[0]);
                    let (src, dst) = (x.data::<f32>(), y.out_data::<f32>());
                    // The closure is marked `inline(always)`: left to the inliner, it stayed a
                    // baseline-compiled call per element, 7-15x slower (also as a `fn` item).
                    unary_map(src, x.layout(), dst, #[inline(always)] |v: f32| {
                        v.max(0.0) + math::ln_1p(math::exp(-v.abs(), false), false)
                    });
                }
                return Ok(());
            }
        }
        // SAFETY: called by the engine with `inputs` read and `outputs` written.
        unsafe {
            dispatch_float!("Activation", inputs[0].dtype(), T => {
                let (x, layout, y) = (inputs[0].data::<T>(), inputs[0].layout(), outputs[0].out_data::<T>());
                // One loop per activation, so the type is not matched per element.
                match act {
                    ActType::Relu => unary_map(x, layout, y, |v: T| ActType::Relu.apply(v)),
                    ActType::Sigmoid => unary_map(x, layout, y, |v: T| ActType::Sigmoid.apply(v)),
                    ActType::Tanh => unary_map(x, layout, y, |v: T| ActType::Tanh.apply(v)),
                    ActType::SoftRelu => unary_map(x, layout, y, |v: T| ActType::SoftRelu.apply(v)),
                    ActType::SoftSign => unary_map(x, layout, y, |v: T| ActType::SoftSign.apply(v)),
                }
            });
        }
        Ok(())
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        crate::gpu::map_as(self.name(), self.act.wgsl(), &[&inputs[0]], &[], &outputs[0], |d| crate::gpu::float_elem(self.name(), d))
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let op = Arc::new(ActivationBackward { act: self.act });
        let inputs = [g.out_grads[0].clone(), g.inputs[0].clone(), g.outputs[0].clone()];
        Ok(vec![Some(invoke(op, &inputs, None)?.swap_remove(0))])
    }

    fn attrs(&self) -> Attrs {
        vec![("act_type".into(), self.act.name().into())]
    }
}

/// `_backward_Activation(dy, x, y) -> dx`.
pub struct ActivationBackward {
    act: ActType,
}

impl Operator for ActivationBackward {
    fn name(&self) -> &'static str {
        "_backward_Activation"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let names = ["out_grad", "data", "output"];
        expect_inputs(self.name(), inputs, &names)?;
        common_float_dtype(self.name(), inputs, &names)?;
        if inputs.iter().any(|d| d.shape != inputs[0].shape) {
            return Err(Error::Value(format!(
                "_backward_Activation: out_grad, data and output must have one shape, got {:?}, {:?} and {:?}",
                inputs[0].shape, inputs[1].shape, inputs[2].shape
            )));
        }
        Ok(vec![inputs[1].clone()])
    }

    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let args = [&inputs[0], &inputs[1], &inputs[2]];
        crate::gpu::map_as(self.name(), self.act.wgsl_gradient(), &args, &[], &outputs[0], |d| crate::gpu::float_elem(self.name(), d))
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let act = self.act;
        // SAFETY: called by the engine with `inputs` read and `outputs` written.
        unsafe {
            dispatch_float!(self.name(), inputs[0].dtype(), T => {
                let dy = inputs[0].contiguous_data::<T>();
                let x = inputs[1].contiguous_data::<T>();
                let y = inputs[2].contiguous_data::<T>();
                let dx = outputs[0].out_data::<T>();
                // One loop per activation, so the type is not matched per element.
                let (dy, x, y) = (&dy[..], &x[..], &y[..]);
                match act {
                    ActType::Relu => simd::zip_map(dy, y, dx, |g: T, yv: T| if yv > T::default() { g } else { T::default() }),
                    ActType::Sigmoid => chain(dy, x, y, dx, |xv, yv| ActType::Sigmoid.derivative(xv, yv)),
                    ActType::Tanh => chain(dy, x, y, dx, |xv, yv| ActType::Tanh.derivative(xv, yv)),
                    ActType::SoftRelu => chain(dy, x, y, dx, |xv, yv| ActType::SoftRelu.derivative(xv, yv)),
                    ActType::SoftSign => chain(dy, x, y, dx, |xv, yv| ActType::SoftSign.derivative(xv, yv)),
                }
            });
        }
        Ok(())
    }

    fn attrs(&self) -> Attrs {
        vec![("act_type".into(), self.act.name().into())]
    }
}

fn parse_act(op: &'static str, attrs: &Attrs) -> Result<ActType> {
    let mut r = AttrReader::new(op, attrs);
    let name = r.required::<String>("act_type")?;
    r.finish(&["act_type"])?;
    ActType::parse(op, &name)
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "Activation",
        aliases: &[],
        arguments: &["data"],
        params: &["act_type"],
        doc: "Elementwise activation: relu, sigmoid, tanh, softrelu (log(1 + exp(x))) or softsign (x / (1 + |x|)).",
        create: |attrs: &Attrs| Ok(Arc::new(Activation { act: parse_act("Activation", attrs)? }) as Arc<dyn Operator>),
    });
    defs.push(OpDef {
        name: "_backward_Activation",
        aliases: &[],
        arguments: &["out_grad", "data", "output"],
        params: &["act_type"],
        doc: "Gradient of Activation.",
        create: |attrs: &Attrs| {
            Ok(Arc::new(ActivationBackward { act: parse_act("_backward_Activation", attrs)? }) as Arc<dyn Operator>)
        },
    });
}

/// `dx = dy * f(x, y)` (the chain rule), compiled for the widest SIMD set of this CPU.
fn chain<T: Copy + std::ops::Mul<Output = T>>(dy: &[T], x: &[T], y: &[T], dx: &mut [T], f: impl Fn(T, T) -> T) {
    simd::dispatch(
        #[inline(always)]
        || {
            for (((d, &g), &xv), &yv) in dx.iter_mut().zip(dy).zip(x).zip(y) {
                *d = g * f(xv, yv);
            }
        },
    )
}
