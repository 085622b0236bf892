//! BatchNorm on a GPU (the GPU half of `batch_norm.rs`), composed of reductions and
//! elementwise kernels over the data seen as `(outer, channels, inner)`. Per-channel values
//! broadcast through zero strides; statistics are two-pass (mean, then squared deviations).

use mxnet_cpu::Layout;
use mxnet_gpu::kernels::reduce::Reducer;

use crate::error::Result;
use crate::gpu;
use crate::ndarray::NDArray;

const OP: &str = "BatchNorm";

/// The data viewed as `(outer, channels, inner)`, and per-channel arrays viewed to broadcast
/// over it.
pub struct Split3 {
    pub outer: usize,
    pub channels: usize,
    pub inner: usize,
}

impl Split3 {
    fn data(&self, x: &NDArray) -> NDArray {
        x.with_layout(Layout { offset: x.layout().offset, ..Layout::contiguous(&[self.outer, self.channels, self.inner]) })
    }

    fn per_channel(&self, v: &NDArray) -> NDArray {
        let stride = v.layout().strides.first().copied().unwrap_or(1);
        v.with_layout(Layout { shape: vec![self.outer, self.channels, self.inner], strides: vec![0, stride, 0], offset: v.layout().offset })
    }

    fn count(&self) -> usize {
        self.outer * self.inner
    }

    fn channel_array(&self, like: &NDArray) -> Result<NDArray> {
        NDArray::for_overwrite(&[self.channels], like.dtype(), like.context())
    }

    /// `out[c] = scale * sum over the batch and positions of expr(inputs)`.
    fn channel_sum(&self, expr: &str, inputs: &[&NDArray], scale: f32, out: &NDArray) -> Result<()> {
        let terms = NDArray::for_overwrite(&[self.outer, self.channels, self.inner], out.dtype(), out.context())?;
        let inputs: Vec<NDArray> = inputs.iter().map(|x| if x.size() == self.channels { self.per_channel(x) } else { self.data(x) }).collect();
        let refs: Vec<&NDArray> = inputs.iter().collect();
        gpu::map(OP, expr, &refs, &[], &terms)?;
        gpu::reduce(OP, Reducer::Sum, &terms, &[true, false, true], scale, out)
    }
}

/// Settings of one call, from the operator's attributes.
pub struct Settings {
    pub eps: f64,
    pub momentum: f64,
    pub fix_gamma: bool,
    pub batch_stats: bool,
}

/// `y`, the saved mean and inverse standard deviation, and the moving statistics updated in
/// place with batch statistics. `inputs` are data, gamma, beta, moving mean, moving variance.
pub fn forward(split: &Split3, s: &Settings, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
    let (x, gamma, beta, moving_mean, moving_var) = (&inputs[0], &inputs[1], &inputs[2], &inputs[3], &inputs[4]);
    let (y, mean, invstd) = (&outputs[0], &outputs[1], &outputs[2]);
    let var = split.channel_array(x)?;
    if s.batch_stats {
        let n = split.count().max(1) as f32;
        split.channel_sum("x0", &[x], 1.0 / n, mean)?;
        split.channel_sum("sq(x0 - x1)", &[x, mean], 1.0 / n, &var)?;
        // An empty batch has no statistics, so the moving ones stay as they are.
        if split.count() > 0 {
            let m = [s.momentum as f32];
            gpu::map(OP, "x0 * s0 + x1 * (1.0 - s0)", &[moving_mean, mean], &m, moving_mean)?;
            gpu::map(OP, "x0 * s0 + x1 * (1.0 - s0)", &[moving_var, &var], &m, moving_var)?;
        }
    } else {
        gpu::map(OP, "x0", &[moving_mean], &[], mean)?;
        gpu::map(OP, "x0", &[moving_var], &[], &var)?;
    }
    gpu::map(OP, "1.0 / sqrt(x0 + s0)", &[&var], &[s.eps as f32], invstd)?;
    // y = x * a + b per channel, with a = gamma * invstd and b = beta - mean * a.
    let (a, b) = (split.channel_array(x)?, split.channel_array(x)?);
    if s.fix_gamma {
        gpu::map(OP, "x0", &[invstd], &[], &a)?;
    } else {
        gpu::map(OP, "x0 * x1", &[gamma, invstd], &[], &a)?;
    }
    gpu::map(OP, "x0 - x1 * x2", &[beta, mean, &a], &[], &b)?;
    let out = split.data(y);
    gpu::map(OP, "x0 * x1 + x2", &[&split.data(x), &split.per_channel(&a), &split.per_channel(&b)], &[], &out)
}

/// `dx`, `dgamma`, `dbeta` from dy, x, gamma and the saved mean and inverse standard deviation.
pub fn backward(split: &Split3, s: &Settings, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
    let (dy, x, gamma, mean, invstd) = (&inputs[0], &inputs[1], &inputs[2], &inputs[3], &inputs[4]);
    let (dx, dgamma, dbeta) = (&outputs[0], &outputs[1], &outputs[2]);
    let n = split.count().max(1) as f32;
    split.channel_sum("x0", &[dy], 1.0, dbeta)?;
    // sum(dy * xhat) = invstd * sum(dy * (x - mean))
    let weighted = split.channel_array(x)?;
    split.channel_sum("x0 * (x1 - x2)", &[dy, x, mean], 1.0, &weighted)?;
    let sum_dy_xhat = split.channel_array(x)?;
    gpu::map(OP, "x0 * x1", &[&weighted, invstd], &[], &sum_dy_xhat)?;
    if s.fix_gamma {
        gpu::map(OP, "0.0", &[], &[], dgamma)?;
    } else {
        gpu::map(OP, "x0", &[&sum_dy_xhat], &[], dgamma)?;
    }
    let scale = split.channel_array(x)?;
    if s.fix_gamma {
        gpu::map(OP, "x0", &[invstd], &[], &scale)?;
    } else {
        gpu::map(OP, "x0 * x1", &[gamma, invstd], &[], &scale)?;
    }
    let dx3 = split.data(dx);
    if !s.batch_stats {
        // Constant statistics: the gradient only scales dy.
        return gpu::map(OP, "x0 * x1", &[&split.data(dy), &split.per_channel(&scale)], &[], &dx3);
    }
    // dx = scale * (dy - sum_dy / n - (x - mean) * k) with k = invstd * sum_dy_xhat / n.
    let k = split.channel_array(x)?;
    gpu::map(OP, "x0 * x1 * s0", &[invstd, &sum_dy_xhat], &[1.0 / n], &k)?;
    let (dy3, x3) = (split.data(dy), split.data(x));
    let (mean_c, k_c, scale_c, sum_dy_c) = (split.per_channel(mean), split.per_channel(&k), split.per_channel(&scale), split.per_channel(dbeta));
    let args = [&dy3, &x3, &mean_c, &k_c, &scale_c, &sum_dy_c];
    gpu::map(OP, "x4 * (x0 - x5 * s0 - (x1 - x2) * x3)", &args, &[1.0 / n], &dx3)
}
