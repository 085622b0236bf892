//! `LeakyReLU(act_type=leaky|prelu|elu|selu|gelu|rrelu)` and its gradient kernel.
//! `prelu` learns one slope per channel (axis 1) from its `gamma` input. `rrelu` draws a slope
//! per element in training and returns the draws as a second output, which the gradient reads.

use std::sync::Arc;

use mxnet_cpu::{parallel, simd};
use rand::Rng;
use rayon::prelude::*;

use super::{common_float_dtype, expect_inputs};
use crate::attrs::{AttrReader, Attrs};
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::imperative::invoke;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
use crate::ops::arith::{Arith, Float};
use crate::ops::scalar::format_scalar;
use crate::random::kernel_rng;
use crate::dispatch_float;

const PARAMS: &[&str] = &["act_type", "slope", "lower_bound", "upper_bound"];

/// SELU constants from Klambauer et al., "Self-Normalizing Neural Networks" (2017).
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_LAMBDA: f64 = 1.050_700_987_355_480_5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    Leaky,
    PRelu,
    Elu,
    Selu,
    Gelu,
    RRelu,
}

#[derive(Clone, Debug)]
pub struct LeakyRelu {
    act: Act,
    act_name: String,
    slope: f64,
    lower_bound: f64,
    upper_bound: f64,
}

impl LeakyRelu {
    fn parse(op: &'static str, attrs: &Attrs) -> Result<LeakyRelu> {
        let mut r = AttrReader::new(op, attrs);
        let act_name = r.get("act_type", "leaky".to_string())?;
        let slope = r.get("slope", 0.25f64)?;
        let lower_bound = r.get("lower_bound", 0.125f64)?;
        let upper_bound = r.get("upper_bound", 0.334f64)?;
        r.finish(PARAMS)?;
        let act = match act_name.as_str() {
            "leaky" => Act::Leaky,
            "prelu" => Act::PRelu,
            "elu" => Act::Elu,
            "selu" => Act::Selu,
            "gelu" => Act::Gelu,
            "rrelu" => Act::RRelu,
            other => {
                return Err(Error::Value(format!(
                    "{op}: invalid act_type '{other}'; use 'leaky', 'prelu', 'elu', 'selu', 'gelu' or 'rrelu'"
                )))
            }
        };
        if act == Act::RRelu && (lower_bound.is_nan() || upper_bound.is_nan() || lower_bound > upper_bound) {
            return Err(Error::Value(format!(
                "{op}: lower_bound {lower_bound} must not exceed upper_bound {upper_bound}"
            )));
        }
        Ok(LeakyRelu { act, act_name, slope, lower_bound, upper_bound })
    }

    fn input_names(&self) -> &'static [&'static str] {
        if self.act == Act::PRelu {
            &["data", "gamma"]
        } else {
            &["data"]
        }
    }

    /// Elements per channel (the product of the axes after axis 1) and the channel count,
    /// for indexing prelu's gamma.
    fn channel_layout(shape: &[usize], gamma_len: usize) -> (usize, usize) {
        if gamma_len <= 1 || shape.len() < 2 {
            (1, 1)
        } else {
            (shape[2..].iter().product(), shape[1])
        }
    }

    /// The GPU kernels: the forward over `x0` (and the slope in `x1` for prelu) and the
    /// gradient over `x0` = dy, `x1` = x, `x2` = y (and the slope in `x3` for prelu and rrelu),
    /// with `s0` = slope, `s1` = SELU's lambda, `s2` = SELU's alpha.
    fn wgsl(&self) -> Option<(&'static str, &'static str)> {
        Some(match self.act {
            Act::Leaky => ("select(s0 * x0, x0, x0 > 0.0)", "x0 * select(s0, 1.0, x1 > 0.0)"),
            Act::PRelu | Act::RRelu => ("select(x1 * x0, x0, x0 > 0.0)", "x0 * select(x3, 1.0, x1 > 0.0)"),
            Act::Elu => ("select(s0 * f_expm1(x0), x0, x0 > 0.0)", "x0 * select(x2 + s0, 1.0, x1 > 0.0)"),
            Act::Selu => ("select(s1 * s2 * f_expm1(x0), s1 * x0, x0 > 0.0)", "x0 * select(x2 + s1 * s2, s1, x1 > 0.0)"),
            Act::Gelu => (
                "0.5 * x0 * (1.0 + f_erf(x0 * 0.7071067811865476))",
                "x0 * (0.5 * (1.0 + f_erf(x1 * 0.7071067811865476)) + x1 * exp(-0.5 * x1 * x1) * 0.3989422804014327)",
            ),
        })
    }

    /// The scalars of [`LeakyRelu::wgsl`].
    fn wgsl_scalars(&self) -> [f32; 3] {
        [self.slope as f32, SELU_LAMBDA as f32, SELU_ALPHA as f32]
    }

    /// prelu's gamma viewed over data of `shape`: one value per channel (axis 1), or one for all.
    fn gamma_view(shape: &[usize], gamma: &NDArray) -> NDArray {
        let (inner, channels) = Self::channel_layout(shape, gamma.size());
        let outer = shape.iter().product::<usize>() / (inner * channels).max(1);
        let stride = if channels > 1 { gamma.layout().strides[0] } else { 0 };
        gamma.with_layout(mxnet_cpu::Layout { shape: vec![outer, channels, inner], strides: vec![0, stride, 0], offset: gamma.layout().offset })
    }

    fn attrs(&self) -> Attrs {
        vec![
            ("act_type".into(), self.act_name.clone()),
            ("slope".into(), format_scalar(self.slope)),
            ("lower_bound".into(), format_scalar(self.lower_bound)),
            ("upper_bound".into(), format_scalar(self.upper_bound)),
        ]
    }

    #[inline(always)]
    fn apply<T: Element + Float>(act: Act, x: T, slope: T) -> T {
        let zero = <T as Arith>::zero();
        match act {
            Act::Leaky | Act::PRelu | Act::RRelu => {
                if x > zero {
                    x
                } else {
                    slope * x
                }
            }
            Act::Elu => {
                if x > zero {
                    x
                } else {
                    slope * x.exp_m1_fast()
                }
            }
            Act::Selu => {
                let lambda = T::from_f64(SELU_LAMBDA);
                if x > zero {
                    lambda * x
                } else {
                    lambda * T::from_f64(SELU_ALPHA) * x.exp_m1_fast()
                }
            }
            // MXNet 1.9.1 uses the exact erf form, not the tanh approximation.
            Act::Gelu => T::from_f64(0.5) * x * (<T as Arith>::one() + (x / T::from_f64(std::f64::consts::SQRT_2)).erf_fast()),
        }
    }

    #[inline(always)]
    fn derivative<T: Element + Float>(act: Act, x: T, y: T, slope: T) -> T {
        let (zero, one) = (<T as Arith>::zero(), <T as Arith>::one());
        match act {
            Act::Leaky | Act::PRelu | Act::RRelu => {
                if x > zero {
                    one
                } else {
                    slope
                }
            }
            Act::Elu => {
                if x > zero {
                    one
                } else {
                    y + slope
                }
            }
            // NOTE: MXNet 1.9.1 returns lambda * (y + alpha) for x <= 0, which is not the
            // derivative of its forward; the exact derivative lambda * alpha * e^x is y + lambda * alpha.
            Act::Selu => {
                let lambda = T::from_f64(SELU_LAMBDA);
                if x > zero {
                    lambda
                } else {
                    y + lambda * T::from_f64(SELU_ALPHA)
                }
            }
            Act::Gelu => {
                let cdf = T::from_f64(0.5) * (one + (x / T::from_f64(std::f64::consts::SQRT_2)).erf_fast());
                let pdf = (-(x * x) / T::from_f64(2.0)).exp_fast() / T::from_f64((2.0 * std::f64::consts::PI).sqrt());
                cdf + x * pdf
            }
        }
    }
}

impl Operator for LeakyRelu {
    fn name(&self) -> &'static str {
        "LeakyReLU"
    }

    fn num_outputs(&self) -> usize {
        if self.act == Act::RRelu {
            2
        } else {
            1
        }
    }

    // MXNet 1.9.1 shows rrelu's slopes as a second output (`<name>_mask`) in both APIs. NOTE:
    // in predict mode 1.9.1 leaves that output at zero; here it holds the slope applied,
    // (lower_bound + upper_bound) / 2.
    fn num_visible_outputs(&self) -> usize {
        self.num_outputs()
    }

    fn is_random(&self) -> bool {
        self.act == Act::RRelu
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let names = self.input_names();
        expect_inputs("LeakyReLU", inputs, names)?;
        common_float_dtype("LeakyReLU", inputs, names)?;
        if let Some(gamma) = inputs.get(1) {
            let x = &inputs[0].shape;
            let size: usize = gamma.shape.iter().product();
            let channels = x.get(1).copied().unwrap_or(1);
            if gamma.shape.len() != 1 || (size != 1 && (x.len() < 2 || size != channels)) {
                return Err(Error::Value(format!(
                    "LeakyReLU: prelu gamma has shape {:?} but data of shape {x:?} needs (1,) or ({channels},), one slope per channel on axis 1",
                    gamma.shape
                )));
            }
        }
        Ok(vec![inputs[0].clone(); self.num_outputs()])
    }

    fn supports_gpu(&self) -> bool {
        self.wgsl().is_some()
    }

    fn forward_gpu(&self, ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (expr, _) = self.wgsl().ok_or_else(|| crate::gpu::no_kernel("LeakyReLU"))?;
        let rule = |d| crate::gpu::float_elem("LeakyReLU", d);
        if self.act == Act::RRelu {
            // Slopes drawn on the device in training (a different stream from the CPU's), their
            // mean otherwise; they are the second output, which the gradient reads.
            let slopes = &outputs[1];
            if ctx.is_train {
                let word = |w: u64| f32::from_bits(w as u32 & 0x3fff_ffff);
                let key = [self.lower_bound as f32, self.upper_bound as f32, word(ctx.seed), word(ctx.seed >> 32)];
                let draw = "s0 + (s1 - s0) * rand_uniform(i, bitcast<u32>(s2), bitcast<u32>(s3))";
                crate::gpu::map_as("LeakyReLU", draw, &[], &key, slopes, rule)?;
            } else {
                let mean = [((self.lower_bound + self.upper_bound) / 2.0) as f32];
                crate::gpu::map_as("LeakyReLU", "s0", &[], &mean, slopes, rule)?;
            }
            return crate::gpu::map_as("LeakyReLU", expr, &[&inputs[0], slopes], &[], &outputs[0], rule);
        }
        if self.act == Act::PRelu {
            let x = crate::gpu::contiguous(&inputs[0])?;
            let gamma = Self::gamma_view(x.shape(), &inputs[1]);
            let (x3, y3) = (grid_view(&x, &gamma), grid_view(&outputs[0], &gamma));
            return crate::gpu::map_as("LeakyReLU", expr, &[&x3, &gamma], &self.wgsl_scalars(), &y3, rule);
        }
        crate::gpu::map_as("LeakyReLU", expr, &[&inputs[0]], &self.wgsl_scalars(), &outputs[0], rule)
    }

    fn forward(&self, ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let x_nd = &inputs[0];
        // SAFETY: called by the engine with `inputs` read and `outputs` written.
        unsafe {
            dispatch_float!("LeakyReLU", x_nd.dtype(), T => {
                let x = x_nd.contiguous_data::<T>();
                let y = outputs[0].out_data::<T>();
                match self.act {
                    Act::PRelu => {
                        let gamma = inputs[1].contiguous_data::<T>();
                        let (inner, channels) = Self::channel_layout(x_nd.shape(), gamma.len());
                        // One run for a shared slope. Otherwise pieces of whole samples, so that
                        // each slope covers runs of `inner` elements (one element for (N, C) data).
                        let inner = if channels == 1 { x.len().max(1) } else { inner.max(1) };
                        let forward = |x: &[T], y: &mut [T]| {
                            if inner == 1 {
                                for (x, y) in x.chunks(channels).zip(y.chunks_mut(channels)) {
                                    for ((d, &v), &slope) in y.iter_mut().zip(x).zip(&gamma[..]) {
                                        *d = Self::apply(Act::PRelu, v, slope);
                                    }
                                }
                                return;
                            }
                            for (c, (x, y)) in x.chunks(inner).zip(y.chunks_mut(inner)).enumerate() {
                                let slope = gamma[c % channels];
                                simd::map(x, y, move |v: T| Self::apply(Act::PRelu, v, slope));
                            }
                        };
                        parallel::for_each_block(&x[..], y, inner * channels, forward);
                    }
                    Act::RRelu => {
                        let mask = outputs[1].out_data::<T>();
                        if ctx.is_train {
                            let mut rng = kernel_rng(ctx.seed);
                            mask.iter_mut().for_each(|m| *m = T::from_f64(rng.gen_range(self.lower_bound..=self.upper_bound)));
                        } else {
                            mask.fill(T::from_f64((self.lower_bound + self.upper_bound) / 2.0));
                        }
                        for ((d, &v), &s) in y.iter_mut().zip(x.iter()).zip(mask.iter()) {
                            *d = Self::apply(Act::RRelu, v, s);
                        }
                    }
                    Act::Leaky | Act::Elu | Act::Selu | Act::Gelu => {
                        let slope = T::from_f64(self.slope);
                        // One loop per type, fixed at compile time: matched per element, the
                        // loop stayed scalar (see `with_binary_fn`).
                        macro_rules! run {
                            ($act:expr) => {
                                parallel::for_each_chunk(&x[..], y, |x, y| {
                                    simd::map(x, y, move |v: T| Self::apply($act, v, slope))
                                })
                            };
                        }
                        match self.act {
                            Act::Elu => run!(Act::Elu),
                            Act::Selu => run!(Act::Selu),
                            Act::Gelu => run!(Act::Gelu),
                            _ => run!(Act::Leaky),
                        }
                    }
                }
            });
        }
        Ok(())
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let op = Arc::new(LeakyReluBackward { forward: self.clone() });
        let mut inputs = vec![g.out_grads[0].clone(), g.inputs[0].clone(), g.outputs[0].clone()];
        match self.act {
            Act::PRelu => inputs.push(g.inputs[1].clone()),
            Act::RRelu => inputs.push(g.outputs[1].clone()),
            _ => {}
        }
        let grads = invoke(op, &inputs, None)?;
        let mut result: Vec<Option<NDArray>> = grads.into_iter().map(Some).collect();
        result.truncate(g.inputs.len());
        Ok(result)
    }

    fn attrs(&self) -> Attrs {
        LeakyRelu::attrs(self)
    }
}

/// `_backward_LeakyReLU(dy, x, y[, gamma or slopes]) -> dx[, dgamma]`.
pub struct LeakyReluBackward {
    forward: LeakyRelu,
}

impl Operator for LeakyReluBackward {
    fn name(&self) -> &'static str {
        "_backward_LeakyReLU"
    }

    fn num_outputs(&self) -> usize {
        if self.forward.act == Act::PRelu {
            2
        } else {
            1
        }
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let names: &[&str] = match self.forward.act {
            Act::PRelu => &["out_grad", "data", "output", "gamma"],
            Act::RRelu => &["out_grad", "data", "output", "slopes"],
            _ => &["out_grad", "data", "output"],
        };
        expect_inputs(self.name(), inputs, names)?;
        common_float_dtype(self.name(), inputs, names)?;
        if inputs[..3].iter().any(|d| d.shape != inputs[1].shape) {
            return Err(Error::Value(format!(
                "_backward_LeakyReLU: out_grad {:?} and output {:?} must have the data's shape {:?}",
                inputs[0].shape, inputs[2].shape, inputs[1].shape
            )));
        }
        let mut out = vec![inputs[1].clone()];
        if self.forward.act == Act::PRelu {
            out.push(inputs[3].clone());
        }
        Ok(out)
    }

    fn supports_gpu(&self) -> bool {
        self.forward.wgsl().is_some()
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let f = &self.forward;
        let (_, gradient) = f.wgsl().ok_or_else(|| crate::gpu::no_kernel(self.name()))?;
        let rule = |d| crate::gpu::float_elem(self.name(), d);
        let [dy, x, y] = [&inputs[0], &inputs[1], &inputs[2]].map(crate::gpu::contiguous);
        let (dy, x, y) = (dy?, x?, y?);
        if f.act == Act::RRelu {
            let slopes = crate::gpu::contiguous(&inputs[3])?;
            return crate::gpu::map_as(self.name(), gradient, &[&dy, &x, &y, &slopes], &[], &outputs[0], rule);
        }
        if f.act != Act::PRelu {
            return crate::gpu::map_as(self.name(), gradient, &[&dy, &x, &y], &f.wgsl_scalars(), &outputs[0], rule);
        }
        let gamma = LeakyRelu::gamma_view(x.shape(), &inputs[3]);
        let [dy3, x3, y3, dx3] = [&dy, &x, &y, &outputs[0]].map(|a| grid_view(a, &gamma));
        crate::gpu::map_as(self.name(), gradient, &[&dy3, &x3, &y3, &gamma], &f.wgsl_scalars(), &dx3, rule)?;
        // dgamma[c] = sum of dy * x where x <= 0, over the batch and positions of channel c.
        let terms = NDArray::for_overwrite(gamma.shape(), x.dtype(), x.context())?;
        crate::gpu::map_as(self.name(), "select(0.0, x0 * x1, x1 <= 0.0)", &[&dy3, &x3], &[], &terms, rule)?;
        crate::gpu::reduce(self.name(), mxnet_gpu::kernels::reduce::Reducer::Sum, &terms, &[true, false, true], 1.0, &outputs[1])
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let f = &self.forward;
        // SAFETY: called by the engine with `inputs` read and `outputs` written.
        unsafe {
            dispatch_float!(self.name(), inputs[1].dtype(), T => {
                let dy = inputs[0].contiguous_data::<T>();
                let x = inputs[1].contiguous_data::<T>();
                let y = inputs[2].contiguous_data::<T>();
                let dx = outputs[0].out_data::<T>();
                match f.act {
                    Act::PRelu => {
                        let gamma = inputs[3].contiguous_data::<T>();
                        let (inner, channels) = LeakyRelu::channel_layout(inputs[1].shape(), gamma.len());
                        let dgamma = outputs[1].out_data::<T>();
                        dgamma.fill(0.0);
                        // Branch-free selects, so that the loops vectorise and random signs
                        // cost no mispredicted branches (19 ms for 4M elements with branches).
                        if inner == 1 && channels > 1 {
                            simd::dispatch(
                                #[inline(always)]
                                || {
                                    // (N, C) data: one slope per column, so walk rows against gamma.
                                    let rows = dx.chunks_mut(channels).zip(dy.chunks(channels)).zip(x.chunks(channels));
                                    for ((dx, dy), x) in rows {
                                        let columns = dx.iter_mut().zip(dy).zip(x).zip(&gamma[..]).zip(dgamma.iter_mut());
                                        for ((((d, &g), &v), &slope), sum) in columns {
                                            *d = g * LeakyRelu::derivative(Act::PRelu, v, v, slope);
                                            *sum += if v <= 0.0 { g * v } else { 0.0 };
                                        }
                                    }
                                },
                            );
                        } else {
                            // Runs of `inner` elements share one slope and one dgamma entry. The
                            // pool's threads take whole samples (any pieces, with one slope for
                            // all) and sum their own dgamma, which are added at the end.
                            let (run, block) = if channels == 1 {
                                (parallel::TASK_ELEMENTS, parallel::TASK_ELEMENTS)
                            } else {
                                (inner.max(1), channels * inner.max(1))
                            };
                            let backward_block = |(dx, dy, x): (&mut [T], &[T], &[T])| {
                                let mut sums = vec![0.0; channels];
                                simd::dispatch(
                                    #[inline(always)]
                                    || {
                                        let runs = dx.chunks_mut(run).zip(dy.chunks(run)).zip(x.chunks(run));
                                        for (c, ((dx, dy), x)) in runs.enumerate() {
                                            let slope = gamma[c % channels];
                                            let mut sum = 0.0;
                                            for ((d, &g), &v) in dx.iter_mut().zip(dy).zip(x) {
                                                *d = g * LeakyRelu::derivative(Act::PRelu, v, v, slope);
                                                sum += if v <= 0.0 { g * v } else { 0.0 };
                                            }
                                            sums[c % channels] += sum;
                                        }
                                    },
                                );
                                sums
                            };
                            let add = |mut a: Vec<T>, b: Vec<T>| {
                                a.iter_mut().zip(&b).for_each(|(a, &b)| *a += b);
                                a
                            };
                            let sums = if dx.len() < parallel::PARALLEL_MIN_ELEMENTS {
                                backward_block((dx, &dy[..], &x[..]))
                            } else {
                                parallel::install(|| {
                                    dx.par_chunks_mut(block)
                                        .zip(dy.par_chunks(block))
                                        .zip(x.par_chunks(block))
                                        .map(|((dx, dy), x)| backward_block((dx, dy, x)))
                                        .reduce(|| vec![0.0; channels], add)
                                })
                            };
                            dgamma.iter_mut().zip(&sums).for_each(|(d, &s)| *d = s);
                        }
                    }
                    Act::RRelu => {
                        let slopes = inputs[3].contiguous_data::<T>();
                        parallel::for_each_chunk3(&dy[..], &x[..], &slopes[..], dx, |dy, x, slopes, dx| {
                            for (((d, &g), &v), &s) in dx.iter_mut().zip(dy).zip(x).zip(slopes) {
                                *d = g * LeakyRelu::derivative(Act::RRelu, v, v, s);
                            }
                        });
                    }
                    Act::Leaky | Act::Elu | Act::Selu | Act::Gelu => {
                        let slope = T::from_f64(f.slope);
                        let (dy, x, y) = (&dy[..], &x[..], &y[..]);
                        // One loop per type, as in the forward.
                        macro_rules! run {
                            ($act:expr) => {
                                parallel::for_each_chunk3(dy, x, y, dx, |dy, x, y, dx| {
                                    simd::dispatch(
                                        #[inline(always)]
                                        || {
                                            for (((d, &g), &xv), &yv) in dx.iter_mut().zip(dy).zip(x).zip(y) {
                                                *d = g * LeakyRelu::derivative($act, xv, yv, slope);
                                            }
                                        },
                                    )
                                })
                            };
                        }
                        match f.act {
                            Act::Elu => run!(Act::Elu),
                            Act::Selu => run!(Act::Selu),
                            Act::Gelu => run!(Act::Gelu),
                            _ => run!(Act::Leaky),
                        }
                    }
                }
            });
        }
        Ok(())
    }

    fn attrs(&self) -> Attrs {
        self.forward.attrs()
    }
}

/// `a` (contiguous, of the data's shape) viewed with the (outer, channels, inner) shape of
/// prelu's gamma view.
fn grid_view(a: &NDArray, gamma: &NDArray) -> NDArray {
    a.with_layout(mxnet_cpu::Layout { offset: a.layout().offset, ..mxnet_cpu::Layout::contiguous(gamma.shape()) })
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "LeakyReLU",
        aliases: &[],
        arguments: &["data", "gamma"],
        params: PARAMS,
        doc: "Leaky rectifiers and relatives: leaky, prelu (learned per-channel slope gamma), elu, selu, gelu and rrelu.",
        create: |attrs: &Attrs| Ok(Arc::new(LeakyRelu::parse("LeakyReLU", attrs)?) as Arc<dyn Operator>),
    });
    defs.push(OpDef {
        name: "_backward_LeakyReLU",
        aliases: &[],
        arguments: &["out_grad", "data", "output", "gamma"],
        params: PARAMS,
        doc: "Gradient of LeakyReLU with respect to data (and gamma for prelu).",
        create: |attrs: &Attrs| {
            let forward = LeakyRelu::parse("_backward_LeakyReLU", attrs)?;
            Ok(Arc::new(LeakyReluBackward { forward }) as Arc<dyn Operator>)
        },
    });
}
