//! Fused optimizer updates: `sgd_update`, `sgd_mom_update`, `nag_mom_update`, `adam_update`
//! `rmsprop_update` and `rmspropalex_update`. The output is the new weight (usually written over the weight with
//! `out=weight`), and the optimizer states (momentum, Adam's mean and variance, RMSProp's
//! mean square) are updated in place.
//!
//! The formulas are those of MXNet 1.9.1's `optimizer_op-inl.h` kernels (hyperparameters
//! rounded to float32 as MXNet stores them), with
//! `clip(v, c) = min(max(v, -c), c)` and a negative `clip_gradient` meaning no clipping:
//!
//! - sgd: `w = (1 - lr*wd)*w - lr*clip(rescale*g)`
//! - sgd_mom: `mom = momentum*mom - lr*wd*w - lr*clip(rescale*g)`, then `w = w + mom`
//! - nag_mom: `g' = clip(rescale*g) + wd*w`, `mom = momentum*mom - lr*g'`,
//!   `w = w + momentum*mom - lr*g'`
//! - adam: `g' = clip(rescale*g + wd*w)`, `m = b1*m + (1-b1)*g'`, `v = b2*v + (1-b2)*g'^2`,
//!   `w = w - lr*m/(sqrt(v) + epsilon)` (the caller folds the bias correction into `lr`)
//! - rmsprop: `g' = clip(rescale*g + wd*w)`, `n = (1-gamma1)*g'^2 + gamma1*n`,
//!   `w = w - lr*g'/sqrt(n + epsilon)`, then `w` is clipped to `clip_weights` when it is
//!   not negative.
//! - rmspropalex (centered): `g' = clip(rescale*g + wd*w)`, `n = (1-gamma1)*g'^2 + gamma1*n`,
//!   `g = (1-gamma1)*g' + gamma1*g`, `delta = gamma2*delta - lr*g'/sqrt(n - g^2 + epsilon)`,
//!   `w = w + delta`, clipped like rmsprop.
//!
//! Every rule is checked against MXNet 1.9.1 output (fixtures of three chained steps, with and
//! without clipping). MXNet's nag_mom called with `out=weight` reads the already updated weight
//! for the `wd*w` term of the momentum; this kernel reads the weight before the step.

use std::borrow::Cow;
use std::sync::Arc;

use mxnet_cpu::parallel::{self, PARALLEL_MIN_ELEMENTS, TASK_ELEMENTS};
use mxnet_cpu::simd;
use rayon::prelude::*;

use crate::attrs::{AttrReader, Attrs};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::ndarray::NDArray;
use crate::operator::{OpContext, OpDef, Operator, TensorDesc};
use crate::dispatch_float;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UpdateKind {
    Sgd,
    SgdMom,
    NagMom,
    Adam,
    RmsProp,
    RmsPropAlex,
}

impl UpdateKind {
    fn name(self) -> &'static str {
        match self {
            UpdateKind::Sgd => "sgd_update",
            UpdateKind::SgdMom => "sgd_mom_update",
            UpdateKind::NagMom => "nag_mom_update",
            UpdateKind::Adam => "adam_update",
            UpdateKind::RmsProp => "rmsprop_update",
            UpdateKind::RmsPropAlex => "rmspropalex_update",
        }
    }

    /// Names of the array inputs; those after `grad` are states updated in place.
    fn arguments(self) -> &'static [&'static str] {
        match self {
            UpdateKind::Sgd => &["weight", "grad"],
            UpdateKind::SgdMom | UpdateKind::NagMom => &["weight", "grad", "mom"],
            UpdateKind::Adam => &["weight", "grad", "mean", "var"],
            UpdateKind::RmsProp => &["weight", "grad", "n"],
            UpdateKind::RmsPropAlex => &["weight", "grad", "n", "g", "delta"],
        }
    }
}

/// Hyperparameters of one update call. Fields an optimizer does not use keep their defaults.
#[derive(Clone, Copy, Debug)]
struct Hyper {
    lr: f64,
    wd: f64,
    rescale_grad: f64,
    clip_gradient: f64,
    momentum: f64,
    beta1: f64,
    beta2: f64,
    epsilon: f64,
    gamma1: f64,
    gamma2: f64,
    clip_weights: f64,
}

#[inline(always)]
fn clip(v: f64, c: f64) -> f64 {
    if c >= 0.0 {
        v.clamp(-c, c)
    } else {
        v
    }
}

/// The row-major elements of `x`, copied when `x` shares storage with `out`.
///
/// # Safety
/// Same as [`NDArray::data`].
unsafe fn read_input<'a, T: Element>(x: &'a NDArray, out: &NDArray) -> Cow<'a, [T]> {
    if x.shares_storage(out) {
        Cow::Owned(x.contiguous_data::<T>().into_owned())
    } else {
        x.contiguous_data::<T>()
    }
}

/// Apply the SGD rule to the weight `w` in place. This and the rules below are one loop each,
/// so the rule is not matched per element. They are inlined into [`simd::dispatch`] and
/// compiled for the widest SIMD set of this CPU. Slices passed as arguments tell the compiler
/// that the arrays do not overlap, so the loops vectorise.
#[inline(always)]
fn sgd<T: Element>(h: &Hyper, w: &mut [T], grad: &[T]) {
    let (decay, lr, rescale, clip_at) = (1.0 - h.lr * h.wd, h.lr, h.rescale_grad, h.clip_gradient);
    for (w, &g) in w.iter_mut().zip(grad) {
        *w = T::from_f64(decay * w.to_f64() - lr * clip(rescale * g.to_f64(), clip_at));
    }
}

#[inline(always)]
fn sgd_mom<T: Element>(h: &Hyper, w: &mut [T], grad: &[T], mom: &mut [T]) {
    let (step, lr, momentum, rescale, clip_at) = (h.lr * h.wd, h.lr, h.momentum, h.rescale_grad, h.clip_gradient);
    for ((d, &g), mom) in w.iter_mut().zip(grad).zip(mom) {
        let w = d.to_f64();
        let m = momentum * mom.to_f64() - step * w - lr * clip(rescale * g.to_f64(), clip_at);
        *mom = T::from_f64(m);
        *d = T::from_f64(w + m);
    }
}

#[inline(always)]
fn nag_mom<T: Element>(h: &Hyper, w: &mut [T], grad: &[T], mom: &mut [T]) {
    let (wd, lr, momentum, rescale, clip_at) = (h.wd, h.lr, h.momentum, h.rescale_grad, h.clip_gradient);
    for ((d, &g), mom) in w.iter_mut().zip(grad).zip(mom) {
        let w = d.to_f64();
        let g = clip(rescale * g.to_f64(), clip_at) + wd * w;
        let m = momentum * mom.to_f64() - lr * g;
        *mom = T::from_f64(m);
        *d = T::from_f64(w + momentum * m - lr * g);
    }
}

#[inline(always)]
fn adam<T: Element>(h: &Hyper, w: &mut [T], grad: &[T], mean: &mut [T], var: &mut [T]) {
    let Hyper { lr, wd, rescale_grad, clip_gradient, beta1, beta2, epsilon, .. } = *h;
    for (((d, &g), mean), var) in w.iter_mut().zip(grad).zip(mean).zip(var) {
        let w = d.to_f64();
        let g = clip(rescale_grad * g.to_f64() + wd * w, clip_gradient);
        let m = beta1 * mean.to_f64() + (1.0 - beta1) * g;
        let v = beta2 * var.to_f64() + (1.0 - beta2) * g * g;
        *mean = T::from_f64(m);
        *var = T::from_f64(v);
        *d = T::from_f64(w - lr * m / (v.sqrt() + epsilon));
    }
}

#[inline(always)]
fn rmsprop<T: Element>(h: &Hyper, w: &mut [T], grad: &[T], n_state: &mut [T]) {
    let Hyper { lr, wd, rescale_grad, clip_gradient, gamma1, epsilon, clip_weights, .. } = *h;
    for ((d, &g), n_state) in w.iter_mut().zip(grad).zip(n_state) {
        let w = d.to_f64();
        let g = clip(rescale_grad * g.to_f64() + wd * w, clip_gradient);
        let n = (1.0 - gamma1) * g * g + gamma1 * n_state.to_f64();
        *n_state = T::from_f64(n);
        *d = T::from_f64(clip(w - lr * g / (n + epsilon).sqrt(), clip_weights));
    }
}

#[inline(always)]
fn rmspropalex<T: Element>(h: &Hyper, w: &mut [T], grad: &[T], n_state: &mut [T], g_state: &mut [T], delta: &mut [T]) {
    let Hyper { lr, wd, rescale_grad, clip_gradient, gamma1, gamma2, epsilon, clip_weights, .. } = *h;
    let states = n_state.iter_mut().zip(g_state.iter_mut()).zip(delta.iter_mut());
    for ((d, &g), ((n_state, g_state), delta)) in w.iter_mut().zip(grad).zip(states) {
        let w = d.to_f64();
        let g = clip(rescale_grad * g.to_f64() + wd * w, clip_gradient);
        let n = (1.0 - gamma1) * g * g + gamma1 * n_state.to_f64();
        let mean = (1.0 - gamma1) * g + gamma1 * g_state.to_f64();
        let step = gamma2 * delta.to_f64() - lr * g / (n - mean * mean + epsilon).sqrt();
        *n_state = T::from_f64(n);
        *g_state = T::from_f64(mean);
        *delta = T::from_f64(step);
        *d = T::from_f64(clip(w + step, clip_weights));
    }
}

/// Run `rule` over matching pieces of the weight, the gradient and each state: across the
/// kernel pool in pieces of [`TASK_ELEMENTS`] from [`PARALLEL_MIN_ELEMENTS`] elements on, as the
/// elementwise kernels do, else in one call. Adam's float64 division and square root made a
/// single thread the bottleneck (6.5 ms for 4M float32 weights on one core).
fn split_update<T: Element>(
    dst: &mut [T],
    grad: &[T],
    mut states: Vec<&mut [T]>,
    rule: impl Fn(&mut [T], &[T], &mut [&mut [T]]) + Sync,
) {
    if dst.len() < PARALLEL_MIN_ELEMENTS {
        return rule(dst, grad, &mut states);
    }
    let mut pieces: Vec<Vec<&mut [T]>> =
        (0..dst.len().div_ceil(TASK_ELEMENTS)).map(|_| Vec::with_capacity(states.len())).collect();
    for state in states {
        for (piece, chunk) in pieces.iter_mut().zip(state.chunks_mut(TASK_ELEMENTS)) {
            piece.push(chunk);
        }
    }
    parallel::install(|| {
        dst.par_chunks_mut(TASK_ELEMENTS)
            .zip(grad.par_chunks(TASK_ELEMENTS))
            .zip(pieces.into_par_iter())
            .for_each(|((dst, grad), mut states)| rule(dst, grad, &mut states))
    });
}

pub struct Update {
    kind: UpdateKind,
    hyper: Hyper,
}

impl Operator for Update {
    fn name(&self) -> &'static str {
        self.kind.name()
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let names = self.kind.arguments();
        if inputs.len() != names.len() {
            return Err(Error::Value(format!(
                "{}: expected {} inputs ({}), got {}",
                self.name(),
                names.len(),
                names.join(", "),
                inputs.len()
            )));
        }
        let w = &inputs[0];
        if !matches!(w.dtype, DType::Float32 | DType::Float64) {
            return Err(Error::Type(format!(
                "{}: weight dtype {} is not supported; use float32 or float64",
                self.name(),
                w.dtype
            )));
        }
        for (name, x) in names.iter().zip(inputs).skip(1) {
            if x.shape != w.shape || x.dtype != w.dtype {
                return Err(Error::Value(format!(
                    "{}: {} has shape {:?} and dtype {} but weight has shape {:?} and dtype {}; they must match",
                    self.name(),
                    name,
                    x.shape,
                    x.dtype,
                    w.shape,
                    w.dtype
                )));
            }
        }
        Ok(vec![w.clone()])
    }

    fn mutate_inputs(&self) -> Vec<usize> {
        (2..self.kind.arguments().len()).collect()
    }

    /// Each weight element is read before the new value is written.
    fn inplace_safe(&self) -> bool {
        true
    }

    fn differentiable(&self) -> bool {
        false
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let out = &outputs[0];
        for (name, state) in self.kind.arguments().iter().zip(inputs).skip(2) {
            if !state.is_contiguous() || state.shares_storage(out) {
                return Err(Error::Value(format!(
                    "{}: state '{}' must be a contiguous array of its own (not a view or the output); pass a fresh array",
                    self.name(),
                    name
                )));
            }
        }
        let h = &self.hyper;
        // SAFETY: called by the engine with the weight and gradient read, the output written
        // and the states (inputs 2 and later, checked above to be separate contiguous arrays)
        // listed as written through `mutate_inputs`. A weight or gradient that overlaps the
        // output in another layout is copied before the output is written.
        unsafe {
            dispatch_float!(self.name(), out.dtype(), T => {
                let dst = out.out_data::<T>();
                // The kernels update in place; the trainer passes the weight as `out`.
                if !(inputs[0].shares_storage(out) && inputs[0].layout() == out.layout()) {
                    let weight = read_input::<T>(&inputs[0], out);
                    dst.copy_from_slice(&weight);
                }
                let grad = read_input::<T>(&inputs[1], out);
                let states: Vec<&mut [T]> = inputs[2..].iter().map(|s| s.out_data::<T>()).collect();
                let kind = self.kind;
                split_update(dst, &grad, states, |dst, grad, states| match kind {
                    UpdateKind::Sgd => simd::dispatch(#[inline(always)] || sgd(h, dst, grad)),
                    UpdateKind::SgdMom => simd::dispatch(#[inline(always)] || sgd_mom(h, dst, grad, &mut *states[0])),
                    UpdateKind::NagMom => simd::dispatch(#[inline(always)] || nag_mom(h, dst, grad, &mut *states[0])),
                    UpdateKind::Adam => {
                        let (mean, rest) = states.split_at_mut(1);
                        simd::dispatch(#[inline(always)] || adam(h, dst, grad, &mut *mean[0], &mut *rest[0]))
                    }
                    UpdateKind::RmsProp => simd::dispatch(#[inline(always)] || rmsprop(h, dst, grad, &mut *states[0])),
                    UpdateKind::RmsPropAlex => {
                        let [n_state, g_state, delta] = states else {
                            unreachable!("rmspropalex_update has three states, checked by infer")
                        };
                        simd::dispatch(#[inline(always)] || rmspropalex(h, dst, grad, n_state, g_state, delta))
                    }
                });
            });
        }
        Ok(())
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    /// The same rules as the CPU kernels, one elementwise kernel per updated array: states
    /// first (they read the weight before its update), then the weight.
    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let h = &self.hyper;
        let (w, g, out) = (&inputs[0], &inputs[1], &outputs[0]);
        let name = self.name();
        let map = |expr: &str, args: &[&NDArray], scalars: &[f64], dst: &NDArray| {
            let scalars: Vec<f32> = scalars.iter().map(|&v| v as f32).collect();
            crate::gpu::map_as(name, expr, args, &scalars, dst, |d| crate::gpu::float_elem(name, d))
        };
        match self.kind {
            UpdateKind::Sgd => map(
                "(1.0 - s0 * s1) * x0 - s0 * clip_g(s2 * x1, s3)",
                &[w, g],
                &[h.lr, h.wd, h.rescale_grad, h.clip_gradient],
                out,
            ),
            UpdateKind::SgdMom => {
                let mom = &inputs[2];
                let hyper = [h.lr * h.wd, h.lr, h.rescale_grad, h.clip_gradient, h.momentum];
                map("s4 * x0 - s0 * x1 - s1 * clip_g(s2 * x2, s3)", &[mom, w, g], &hyper, mom)?;
                map("x0 + x1", &[w, mom], &[], out)
            }
            UpdateKind::NagMom => {
                let mom = &inputs[2];
                let hyper = [h.wd, h.lr, h.rescale_grad, h.clip_gradient, h.momentum];
                map("s4 * x0 - s1 * (clip_g(s2 * x2, s3) + s0 * x1)", &[mom, w, g], &hyper, mom)?;
                map("x0 + s4 * x2 - s1 * (clip_g(s2 * x1, s3) + s0 * x0)", &[w, g, mom], &hyper, out)
            }
            UpdateKind::Adam => {
                let (mean, var) = (&inputs[2], &inputs[3]);
                let hyper = [h.rescale_grad, h.wd, h.clip_gradient, h.beta1, h.beta2, h.lr, h.epsilon];
                map("s3 * x0 + (1.0 - s3) * clip_g(s0 * x2 + s1 * x1, s2)", &[mean, w, g], &hyper, mean)?;
                map("s4 * x0 + (1.0 - s4) * sq(clip_g(s0 * x2 + s1 * x1, s2))", &[var, w, g], &hyper, var)?;
                map("x0 - s5 * x1 / (sqrt(x2) + s6)", &[w, mean, var], &hyper, out)
            }
            UpdateKind::RmsProp => {
                let n = &inputs[2];
                let hyper = [h.rescale_grad, h.wd, h.clip_gradient, h.gamma1, h.lr, h.epsilon, h.clip_weights];
                map("(1.0 - s3) * sq(clip_g(s0 * x2 + s1 * x1, s2)) + s3 * x0", &[n, w, g], &hyper, n)?;
                map("clip_g(x0 - s4 * clip_g(s0 * x1 + s1 * x0, s2) / sqrt(x2 + s5), s6)", &[w, g, n], &hyper, out)
            }
            UpdateKind::RmsPropAlex => {
                let (n, mean, delta) = (&inputs[2], &inputs[3], &inputs[4]);
                let hyper = [h.rescale_grad, h.wd, h.clip_gradient, h.gamma1, h.gamma2, h.lr, h.epsilon, h.clip_weights];
                let grad = "clip_g(s0 * x2 + s1 * x1, s2)";
                map(&format!("(1.0 - s3) * sq({grad}) + s3 * x0"), &[n, w, g], &hyper, n)?;
                map(&format!("(1.0 - s3) * {grad} + s3 * x0"), &[mean, w, g], &hyper, mean)?;
                map(&format!("s4 * x0 - s5 * {grad} / sqrt(x3 - x4 * x4 + s6)"), &[delta, w, g, n, mean], &hyper, delta)?;
                map("clip_g(x0 + x1, s7)", &[w, delta], &hyper, out)
            }
        }
    }

    fn attrs(&self) -> Attrs {
        let h = &self.hyper;
        let mut a: Attrs = vec![
            ("lr".into(), h.lr.to_string()),
            ("wd".into(), h.wd.to_string()),
            ("rescale_grad".into(), h.rescale_grad.to_string()),
            ("clip_gradient".into(), h.clip_gradient.to_string()),
        ];
        match self.kind {
            UpdateKind::Sgd => {}
            UpdateKind::SgdMom | UpdateKind::NagMom => a.push(("momentum".into(), h.momentum.to_string())),
            UpdateKind::Adam => {
                a.push(("beta1".into(), h.beta1.to_string()));
                a.push(("beta2".into(), h.beta2.to_string()));
                a.push(("epsilon".into(), h.epsilon.to_string()));
            }
            UpdateKind::RmsProp => {
                a.push(("gamma1".into(), h.gamma1.to_string()));
                a.push(("epsilon".into(), h.epsilon.to_string()));
                a.push(("clip_weights".into(), h.clip_weights.to_string()));
            }
            UpdateKind::RmsPropAlex => {
                a.push(("gamma1".into(), h.gamma1.to_string()));
                a.push(("gamma2".into(), h.gamma2.to_string()));
                a.push(("epsilon".into(), h.epsilon.to_string()));
                a.push(("clip_weights".into(), h.clip_weights.to_string()));
            }
        }
        a
    }
}

fn create(kind: UpdateKind, attrs: &Attrs) -> Result<Arc<dyn Operator>> {
    let name = kind.name();
    let mut r = AttrReader::new(name, attrs);
    let mut hyper = Hyper {
        lr: r.required("lr")?,
        wd: r.get("wd", 0.0)?,
        rescale_grad: r.get("rescale_grad", 1.0)?,
        clip_gradient: r.get("clip_gradient", -1.0)?,
        momentum: 0.0,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        gamma1: 0.95,
        gamma2: 0.9,
        clip_weights: -1.0,
    };
    // `lazy_update` only changes how row-sparse gradients are applied; arrays here are dense.
    r.ignore(&["lazy_update"]);
    let accepted: &[&str] = match kind {
        UpdateKind::Sgd => &["lr", "wd", "rescale_grad", "clip_gradient", "lazy_update"],
        UpdateKind::SgdMom => &["lr", "momentum", "wd", "rescale_grad", "clip_gradient", "lazy_update"],
        UpdateKind::NagMom => &["lr", "momentum", "wd", "rescale_grad", "clip_gradient"],
        UpdateKind::Adam => &["lr", "beta1", "beta2", "epsilon", "wd", "rescale_grad", "clip_gradient", "lazy_update"],
        UpdateKind::RmsProp => &["lr", "gamma1", "epsilon", "wd", "rescale_grad", "clip_gradient", "clip_weights"],
        UpdateKind::RmsPropAlex => {
            &["lr", "gamma1", "gamma2", "epsilon", "wd", "rescale_grad", "clip_gradient", "clip_weights"]
        }
    };
    match kind {
        UpdateKind::Sgd => {}
        UpdateKind::SgdMom | UpdateKind::NagMom => hyper.momentum = r.get("momentum", 0.0)?,
        UpdateKind::Adam => {
            hyper.beta1 = r.get("beta1", 0.9)?;
            hyper.beta2 = r.get("beta2", 0.999)?;
            hyper.epsilon = r.get("epsilon", 1e-8)?;
        }
        UpdateKind::RmsProp => {
            hyper.gamma1 = r.get("gamma1", 0.95)?;
            hyper.epsilon = r.get("epsilon", 1e-8)?;
            hyper.clip_weights = r.get("clip_weights", -1.0)?;
        }
        UpdateKind::RmsPropAlex => {
            hyper.gamma1 = r.get("gamma1", 0.95)?;
            hyper.gamma2 = r.get("gamma2", 0.9)?;
            hyper.epsilon = r.get("epsilon", 1e-8)?;
            hyper.clip_weights = r.get("clip_weights", -1.0)?;
        }
    }
    r.finish(accepted)?;
    // MXNet 1.9.1 stores these hyperparameters as C `float`, so 0.999 becomes
    // 0.99900001287 even for float64 weights. Its Adam fixtures differ from exact float64
    // arithmetic by 1.3e-5 relative in `var` because of this, so we round the same way.
    for v in [
        &mut hyper.lr,
        &mut hyper.wd,
        &mut hyper.rescale_grad,
        &mut hyper.clip_gradient,
        &mut hyper.momentum,
        &mut hyper.beta1,
        &mut hyper.beta2,
        &mut hyper.epsilon,
        &mut hyper.gamma1,
        &mut hyper.gamma2,
        &mut hyper.clip_weights,
    ] {
        *v = *v as f32 as f64;
    }
    Ok(Arc::new(Update { kind, hyper }))
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "sgd_update",
        aliases: &[],
        arguments: &["weight", "grad"],
        params: &["lr", "wd", "rescale_grad", "clip_gradient", "lazy_update"],
        doc: "SGD step: w = (1 - lr*wd)*w - lr*clip(rescale_grad*grad).",
        create: |a: &Attrs| create(UpdateKind::Sgd, a),
    });
    defs.push(OpDef {
        name: "sgd_mom_update",
        aliases: &[],
        arguments: &["weight", "grad", "mom"],
        params: &["lr", "momentum", "wd", "rescale_grad", "clip_gradient", "lazy_update"],
        doc: "SGD step with momentum; updates mom in place.",
        create: |a: &Attrs| create(UpdateKind::SgdMom, a),
    });
    defs.push(OpDef {
        name: "nag_mom_update",
        aliases: &[],
        arguments: &["weight", "grad", "mom"],
        params: &["lr", "momentum", "wd", "rescale_grad", "clip_gradient"],
        doc: "Nesterov momentum step; updates mom in place.",
        create: |a: &Attrs| create(UpdateKind::NagMom, a),
    });
    defs.push(OpDef {
        name: "adam_update",
        aliases: &[],
        arguments: &["weight", "grad", "mean", "var"],
        params: &["lr", "beta1", "beta2", "epsilon", "wd", "rescale_grad", "clip_gradient", "lazy_update"],
        doc: "Adam step; updates mean and var in place. lr already includes the bias correction.",
        create: |a: &Attrs| create(UpdateKind::Adam, a),
    });
    defs.push(OpDef {
        name: "rmsprop_update",
        aliases: &[],
        arguments: &["weight", "grad", "n"],
        params: &["lr", "gamma1", "epsilon", "wd", "rescale_grad", "clip_gradient", "clip_weights"],
        doc: "RMSProp step (not centered); updates n in place.",
        create: |a: &Attrs| create(UpdateKind::RmsProp, a),
    });
    defs.push(OpDef {
        name: "rmspropalex_update",
        aliases: &[],
        arguments: &["weight", "grad", "n", "g", "delta"],
        params: &["lr", "gamma1", "gamma2", "epsilon", "wd", "rescale_grad", "clip_gradient", "clip_weights"],
        doc: "Centered RMSProp step (Graves, 2013); updates n, g and delta in place.",
        create: |a: &Attrs| create(UpdateKind::RmsPropAlex, a),
    });
}
