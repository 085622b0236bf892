//! `BatchNorm` over one channel axis, with moving statistics updated in place, and its
//! gradient kernel `_backward_BatchNorm`.
//!
//! Outputs: the normalised data, then the mean and the inverse standard deviation
//! `1 / sqrt(var + eps)` that were used (MXNet's saved statistics), visible only with
//! `output_mean_var=True`.

use std::sync::Arc;

use mxnet_cpu::nn::norm;

use super::batch_norm_gpu::{Settings, Split3};

use super::{common_float_dtype, expect_inputs};
use crate::attrs::{AttrReader, Attrs};
use crate::dispatch_float;
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::imperative::invoke;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
use crate::ops::reduce::{normalize_axis, py_bool};
use crate::ops::scalar::format_scalar;

const PARAMS: &[&str] = &[
    "eps", "momentum", "fix_gamma", "use_global_stats", "output_mean_var", "axis", "cudnn_off", "min_calib_range",
    "max_calib_range",
];
const INPUTS: &[&str] = &["data", "gamma", "beta", "moving_mean", "moving_var"];

#[derive(Clone, Debug)]
pub struct BatchNorm {
    eps: f64,
    momentum: f64,
    fix_gamma: bool,
    use_global_stats: bool,
    output_mean_var: bool,
    axis: i64,
}

/// The data seen as `(outer, channels, inner)` around the channel axis.
#[derive(Clone, Copy)]
struct Split {
    outer: usize,
    channels: usize,
    inner: usize,
}

impl Split {
    fn of(shape: &[usize], axis: usize) -> Split {
        Split {
            outer: shape[..axis].iter().product(),
            channels: shape[axis],
            inner: shape[axis + 1..].iter().product(),
        }
    }

    /// Call `f(channel, run)` for every contiguous run of one channel's values.
    fn for_each_run<'a, T>(&self, data: &'a [T], mut f: impl FnMut(usize, &'a [T])) {
        for o in 0..self.outer {
            for c in 0..self.channels {
                let start = (o * self.channels + c) * self.inner;
                f(c, &data[start..start + self.inner]);
            }
        }
    }

    /// Values per channel.
    fn count(&self) -> usize {
        self.outer * self.inner
    }
}

impl BatchNorm {
    fn parse(op: &'static str, attrs: &Attrs) -> Result<BatchNorm> {
        let mut r = AttrReader::new(op, attrs);
        let eps = r.get("eps", 1e-3f64)?;
        let momentum = r.get("momentum", 0.9f64)?;
        let fix_gamma = r.get("fix_gamma", true)?;
        let use_global_stats = r.get("use_global_stats", false)?;
        let output_mean_var = r.get("output_mean_var", false)?;
        let axis = r.get("axis", 1i64)?;
        r.ignore(&["cudnn_off", "min_calib_range", "max_calib_range"]);
        r.finish(PARAMS)?;
        if eps.is_nan() || eps <= 0.0 {
            return Err(Error::Value(format!("{op}: eps must be positive, got {eps}")));
        }
        Ok(BatchNorm { eps, momentum, fix_gamma, use_global_stats, output_mean_var, axis })
    }

    fn gpu_plan(&self, shape: &[usize], batch_stats: bool) -> Result<(Split3, Settings)> {
        let s = self.split("BatchNorm", shape)?;
        let split = Split3 { outer: s.outer, channels: s.channels, inner: s.inner };
        let settings = Settings { eps: self.eps, momentum: self.momentum, fix_gamma: self.fix_gamma, batch_stats };
        Ok((split, settings))
    }

    fn split(&self, op: &str, shape: &[usize]) -> Result<Split> {
        if shape.is_empty() {
            return Err(Error::Value(format!("{op}: data must have at least 1 dimension, got a 0-d array")));
        }
        Ok(Split::of(shape, normalize_axis(op, self.axis, shape.len())?))
    }

    fn attrs(&self) -> Attrs {
        vec![
            ("eps".into(), format_scalar(self.eps)),
            ("momentum".into(), format_scalar(self.momentum)),
            ("fix_gamma".into(), py_bool(self.fix_gamma)),
            ("use_global_stats".into(), py_bool(self.use_global_stats)),
            ("output_mean_var".into(), py_bool(self.output_mean_var)),
            ("axis".into(), self.axis.to_string()),
        ]
    }
}

/// Read a small per-channel array as f64.
///
/// # Safety
/// Call only inside an engine operation that reads `x`.
unsafe fn read_f64<T: Element>(x: &NDArray) -> Vec<f64> {
    x.contiguous_data::<T>().iter().map(|v| v.to_f64()).collect()
}

/// Overwrite the (possibly strided) per-channel array `x` with `values`.
///
/// # Safety
/// Call only inside an engine operation that writes `x`.
unsafe fn write_f64<T: Element>(x: &NDArray, values: &[f64]) {
    let converted: Vec<T> = values.iter().map(|&v| T::from_f64(v)).collect();
    mxnet_cpu::strided::scatter(&converted, x.data_mut::<T>(), x.layout());
}

impl Operator for BatchNorm {
    fn name(&self) -> &'static str {
        "BatchNorm"
    }

    fn num_outputs(&self) -> usize {
        3
    }

    fn num_visible_outputs(&self) -> usize {
        if self.output_mean_var {
            3
        } else {
            1
        }
    }

    fn mutate_inputs(&self) -> Vec<usize> {
        vec![3, 4]
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        expect_inputs("BatchNorm", inputs, INPUTS)?;
        let dtype = common_float_dtype("BatchNorm", inputs, INPUTS)?;
        let split = self.split("BatchNorm", &inputs[0].shape)?;
        for (desc, name) in inputs.iter().zip(INPUTS).skip(1) {
            if desc.shape.as_slice() != [split.channels] {
                return Err(Error::Value(format!(
                    "BatchNorm: {name} has shape {:?} but data of shape {:?} has {} channels on axis {}; it needs ({},)",
                    desc.shape, inputs[0].shape, split.channels, self.axis, split.channels
                )));
            }
        }
        let stats = TensorDesc::new(vec![split.channels], dtype);
        Ok(vec![inputs[0].clone(), stats.clone(), stats])
    }

    fn forward(&self, ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let split = self.split("BatchNorm", inputs[0].shape())?;
        let batch_stats = ctx.is_train && !self.use_global_stats;
        // SAFETY: called by the engine with `inputs` read, `outputs` and the moving
        // statistics (inputs 3 and 4, listed by `mutate_inputs`) written.
        unsafe {
            dispatch_float!("BatchNorm", inputs[0].dtype(), T => {
                let x = inputs[0].contiguous_data::<T>();
                let channels = split.channels;
                let (mean, var) = if batch_stats {
                    let n = split.count().max(1) as f64;
                    let mut mean = vec![0.0f64; channels];
                    split.for_each_run(&x, |c, run| mean[c] += norm::sum(run));
                    mean.iter_mut().for_each(|m| *m /= n);
                    // Biased variance, which MXNet uses both to normalise and to update moving_var.
                    let mut var = vec![0.0f64; channels];
                    split.for_each_run(&x, |c, run| var[c] += norm::squared_deviations(run, mean[c]));
                    var.iter_mut().for_each(|v| *v /= n);

                    // NOTE: MXNet 1.9.1 updates the moving statistics in the backward pass. They
                    // are updated here in the training forward, as PyTorch does, so a training
                    // forward without backward also updates them. After forward and backward
                    // the values agree with MXNet's.
                    // An empty batch has no statistics, so the moving ones stay as they are.
                    if split.count() > 0 {
                        let m = self.momentum;
                        let moving_mean = read_f64::<T>(&inputs[3]);
                        let moving_var = read_f64::<T>(&inputs[4]);
                        let new_mean: Vec<f64> = moving_mean.iter().zip(&mean).map(|(a, b)| a * m + b * (1.0 - m)).collect();
                        let new_var: Vec<f64> = moving_var.iter().zip(&var).map(|(a, b)| a * m + b * (1.0 - m)).collect();
                        write_f64::<T>(&inputs[3], &new_mean);
                        write_f64::<T>(&inputs[4], &new_var);
                    }
                    (mean, var)
                } else {
                    (read_f64::<T>(&inputs[3]), read_f64::<T>(&inputs[4]))
                };
                let invstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + self.eps).sqrt()).collect();
                let gamma = if self.fix_gamma { vec![1.0; channels] } else { read_f64::<T>(&inputs[1]) };
                let beta = read_f64::<T>(&inputs[2]);
                // y = x * a + b per channel, with a = gamma * invstd and b = beta - mean * a.
                let a: Vec<T> = (0..channels).map(|c| T::from_f64(gamma[c] * invstd[c])).collect();
                let b: Vec<T> = (0..channels).map(|c| T::from_f64(beta[c] - mean[c] * gamma[c] * invstd[c])).collect();
                let y = outputs[0].out_data::<T>();
                let mut pos = 0;
                split.for_each_run(&x, |c, run| {
                    norm::scale_shift(run, a[c], b[c], &mut y[pos..pos + run.len()]);
                    pos += run.len();
                });
                for (d, &v) in outputs[1].out_data::<T>().iter_mut().zip(&mean) {
                    *d = T::from_f64(v);
                }
                for (d, &v) in outputs[2].out_data::<T>().iter_mut().zip(&invstd) {
                    *d = T::from_f64(v);
                }
            });
        }
        Ok(())
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (split, settings) = self.gpu_plan(inputs[0].shape(), ctx.is_train && !self.use_global_stats)?;
        let inputs = gpu_inputs(self.name(), inputs, outputs)?;
        super::batch_norm_gpu::forward(&split, &settings, &inputs, outputs)
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let op = Arc::new(BatchNormBackward {
            forward: self.clone(),
            batch_stats: g.is_train && !self.use_global_stats,
        });
        let inputs = [
            g.out_grads[0].clone(),
            g.inputs[0].clone(),
            g.inputs[1].clone(),
            g.outputs[1].clone(),
            g.outputs[2].clone(),
        ];
        let grads = invoke(op, &inputs, None)?;
        let mut result: Vec<Option<NDArray>> = grads.into_iter().map(Some).collect();
        result.extend([None, None]);
        Ok(result)
    }

    fn attrs(&self) -> Attrs {
        BatchNorm::attrs(self)
    }
}

/// `_backward_BatchNorm(dy, x, gamma, mean, invstd) -> (dx, dgamma, dbeta)`. With batch
/// statistics the gradient flows through the mean and variance; with moving statistics
/// (inference or `use_global_stats`) they are constants.
pub struct BatchNormBackward {
    forward: BatchNorm,
    batch_stats: bool,
}

impl Operator for BatchNormBackward {
    fn name(&self) -> &'static str {
        "_backward_BatchNorm"
    }

    fn num_outputs(&self) -> usize {
        3
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let names = ["out_grad", "data", "gamma", "mean", "invstd"];
        expect_inputs(self.name(), inputs, &names)?;
        common_float_dtype(self.name(), inputs, &names)?;
        let split = self.forward.split(self.name(), &inputs[1].shape)?;
        if inputs[0].shape != inputs[1].shape || inputs[2..].iter().any(|d| d.shape.as_slice() != [split.channels]) {
            return Err(Error::Value(format!(
                "_backward_BatchNorm: shapes {:?} do not fit data {:?}",
                inputs.iter().map(|d| d.shape.clone()).collect::<Vec<_>>(),
                inputs[1].shape
            )));
        }
        Ok(vec![inputs[1].clone(), inputs[2].clone(), inputs[2].clone()])
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (split, settings) = self.forward.gpu_plan(inputs[1].shape(), self.batch_stats)?;
        let inputs = gpu_inputs(self.name(), inputs, outputs)?;
        super::batch_norm_gpu::backward(&split, &settings, &inputs, outputs)
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let split = self.forward.split(self.name(), inputs[1].shape())?;
        let channels = split.channels;
        // SAFETY: called by the engine with `inputs` read and `outputs` written.
        unsafe {
            dispatch_float!(self.name(), inputs[1].dtype(), T => {
                let dy = inputs[0].contiguous_data::<T>();
                let x = inputs[1].contiguous_data::<T>();
                let gamma = if self.forward.fix_gamma { vec![1.0; channels] } else { read_f64::<T>(&inputs[2]) };
                let mean = read_f64::<T>(&inputs[3]);
                let invstd = read_f64::<T>(&inputs[4]);

                // Per-channel sums of dy and dy * xhat.
                let mut sum_dy = vec![0.0f64; channels];
                let mut sum_dy_xhat = vec![0.0f64; channels];
                let mut pos = 0;
                split.for_each_run(&x, |c, run| {
                    let (total, weighted) = norm::gradient_sums(&dy[pos..pos + run.len()], run, mean[c]);
                    sum_dy[c] += total;
                    sum_dy_xhat[c] += weighted * invstd[c];
                    pos += run.len();
                });

                let dx = outputs[0].out_data::<T>();
                let n = split.count().max(1) as f64;
                let mut pos = 0;
                split.for_each_run(&x, |c, run| {
                    let scale = gamma[c] * invstd[c];
                    let dy = &dy[pos..pos + run.len()];
                    let dx = &mut dx[pos..pos + run.len()];
                    if self.batch_stats {
                        norm::input_gradient(dy, run, mean[c], invstd[c], scale, sum_dy[c] / n, sum_dy_xhat[c] / n, dx);
                    } else {
                        // Constant statistics: the gradient only scales dy.
                        mxnet_cpu::simd::map(dy, dx, |g: T| T::from_f64(scale * g.to_f64()));
                    }
                    pos += run.len();
                });

                // With fix_gamma, gamma is the constant 1 and gets a zero gradient, as in MXNet.
                let dgamma = outputs[1].out_data::<T>();
                for (d, &v) in dgamma.iter_mut().zip(&sum_dy_xhat) {
                    *d = if self.forward.fix_gamma { 0.0 } else { T::from_f64(v) };
                }
                for (d, &v) in outputs[2].out_data::<T>().iter_mut().zip(&sum_dy) {
                    *d = T::from_f64(v);
                }
            });
        }
        Ok(())
    }

    fn attrs(&self) -> Attrs {
        self.forward.attrs()
    }
}

/// Contiguous float32 copies of the inputs where needed; the mutated moving statistics must be
/// contiguous already, since they are written in place.
fn gpu_inputs(op: &str, inputs: &[NDArray], outputs: &[NDArray]) -> Result<Vec<NDArray>> {
    for x in inputs.iter().chain(outputs) {
        crate::gpu::float_elem(op, x.dtype())?;
    }
    inputs.iter().map(crate::gpu::contiguous).collect()
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "BatchNorm",
        aliases: &[],
        arguments: INPUTS,
        params: PARAMS,
        doc: "Batch normalization over the channel axis; training updates moving_mean and moving_var in place.",
        create: |attrs: &Attrs| Ok(Arc::new(BatchNorm::parse("BatchNorm", attrs)?) as Arc<dyn Operator>),
    });
}
