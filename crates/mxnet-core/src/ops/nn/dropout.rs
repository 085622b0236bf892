//! `Dropout(p, mode, axes)`: in training (or always, with `mode='always'`) each value is
//! kept with probability `1 - p` and scaled by `1 / (1 - p)`; otherwise the op is the identity.
//! The scaled mask is a hidden second output, so the gradient is `dy * mask`.

use std::sync::Arc;

use rand::Rng;

use super::expect_inputs;
use crate::attrs::{tuple_string, AttrReader, Attrs};
use crate::dispatch_float;
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::imperative::call1;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
use crate::ops::reduce::normalize_axis;
use crate::ops::scalar::format_scalar;
use crate::random::kernel_rng;
use mxnet_cpu::Layout;

const PARAMS: &[&str] = &["p", "mode", "axes", "cudnn_off"];

pub struct Dropout {
    p: f64,
    always: bool,
    /// Axes along which one draw is shared (MXNet's variational dropout).
    axes: Vec<i64>,
}

impl Operator for Dropout {
    fn name(&self) -> &'static str {
        "Dropout"
    }

    fn num_outputs(&self) -> usize {
        2
    }

    fn num_visible_outputs(&self) -> usize {
        1
    }

    fn is_random(&self) -> bool {
        true
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        expect_inputs("Dropout", inputs, &["data"])?;
        dispatch_float!("Dropout", inputs[0].dtype, T => { let _ = std::mem::size_of::<T>(); });
        for &a in &self.axes {
            normalize_axis("Dropout", a, inputs[0].shape.len())?;
        }
        Ok(vec![inputs[0].clone(), inputs[0].clone()])
    }

    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn forward(&self, ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let shape = inputs[0].shape().to_vec();
        let active = (ctx.is_train || self.always) && self.p > 0.0;

        // The mask is drawn on the shape with the shared axes set to 1, then broadcast.
        let mut draw_shape = shape.clone();
        for &a in &self.axes {
            draw_shape[normalize_axis("Dropout", a, shape.len())?] = 1;
        }
        let draws = draw_shape.iter().product::<usize>();
        // p = 1 drops everything; 1 / (1 - p) would be infinite.
        let scale = if self.p >= 1.0 { 0.0 } else { 1.0 / (1.0 - self.p) };
        let keep = 1.0 - self.p;

        let mut rng = kernel_rng(ctx.seed);
        // SAFETY: called by the engine with `inputs` read and `outputs` written.
        unsafe {
            dispatch_float!("Dropout", inputs[0].dtype(), T => {
                let x = inputs[0].contiguous_data::<T>();
                let y = outputs[0].out_data::<T>();
                let mask = outputs[1].out_data::<T>();
                if !active {
                    // Inference: the identity, with a mask of ones.
                    mask.fill(T::from_f64(1.0));
                    y.copy_from_slice(&x);
                    return Ok(());
                }
                let (kept, dropped) = (T::from_f64(scale), T::from_f64(0.0));
                let mut draw = || if rng.gen::<f64>() < keep { kept } else { dropped };
                if draw_shape == shape {
                    mask.iter_mut().for_each(|m| *m = draw());
                } else {
                    let small: Vec<T> = (0..draws).map(|_| draw()).collect();
                    let layout = Layout::contiguous(&draw_shape).broadcast_to(&shape).ok_or_else(|| {
                        Error::MXNet(format!("Dropout: cannot broadcast the mask shape {draw_shape:?} to {shape:?}"))
                    })?;
                    mask.copy_from_slice(&mxnet_cpu::strided::gather(&small, &layout));
                }
                mxnet_cpu::simd::zip_map(&x, mask, y, |v: T, m: T| v * m);
            });
        }
        Ok(())
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    /// The same rule with a counter-based generator on the device: each mask value depends on
    /// the call's seed and its index only. The stream differs from the CPU's generator, so a
    /// seed gives different (equally distributed) masks on the two devices.
    fn forward_gpu(&self, ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (x, y, mask) = (&inputs[0], &outputs[0], &outputs[1]);
        crate::gpu::float_elem("Dropout", x.dtype())?;
        let active = (ctx.is_train || self.always) && self.p > 0.0;
        if !active {
            crate::gpu::map("Dropout", "1.0", &[], &[], mask)?;
            return crate::gpu::map("Dropout", "x0", &[x], &[], y);
        }
        let shape = x.shape().to_vec();
        let mut draw_shape = shape.clone();
        for &a in &self.axes {
            draw_shape[normalize_axis("Dropout", a, shape.len())?] = 1;
        }
        let scale = if self.p >= 1.0 { 0.0 } else { 1.0 / (1.0 - self.p) };
        // Seed words below 2^30 stay finite floats, whose bits survive the trip through the uniforms.
        let word = |w: u64| f32::from_bits(w as u32 & 0x3fff_ffff);
        let key = [word(ctx.seed), word(ctx.seed >> 32), (1.0 - self.p) as f32, scale as f32];
        let draw = "select(0.0, s3, rand_uniform(i, bitcast<u32>(s0), bitcast<u32>(s1)) < s2)";
        if draw_shape == shape {
            crate::gpu::map("Dropout", draw, &[], &key, mask)?;
        } else {
            let small = NDArray::for_overwrite(&draw_shape, x.dtype(), x.context())?;
            crate::gpu::map("Dropout", draw, &[], &key, &small)?;
            crate::gpu::map("Dropout", "x0", &[&small], &[], mask)?;
        }
        crate::gpu::map("Dropout", "x0 * x1", &[x, mask], &[], y)
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        Ok(vec![Some(call1("broadcast_mul", &[&g.out_grads[0], &g.outputs[1]], &[])?)])
    }

    fn attrs(&self) -> Attrs {
        vec![
            ("p".into(), format_scalar(self.p)),
            ("mode".into(), if self.always { "always" } else { "training" }.into()),
            ("axes".into(), tuple_string(&self.axes)),
        ]
    }
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "Dropout",
        aliases: &[],
        arguments: &["data"],
        params: PARAMS,
        doc: "Dropout: zero each value with probability p and scale the rest by 1/(1-p) (training mode or mode='always').",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("Dropout", attrs);
            let p = r.get("p", 0.5f64)?;
            let mode = r.get("mode", "training".to_string())?;
            let axes = r.get("axes", Vec::<i64>::new())?;
            r.ignore(&["cudnn_off"]);
            r.finish(PARAMS)?;
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::Value(format!("Dropout: p must be in [0, 1], got {p}")));
            }
            let always = match mode.as_str() {
                "training" => false,
                "always" => true,
                other => {
                    return Err(Error::Value(format!("Dropout: invalid mode '{other}'; use 'training' or 'always'")))
                }
            };
            Ok(Arc::new(Dropout { p, always, axes }) as Arc<dyn Operator>)
        },
    });
}
