//! `softmax`, `log_softmax` and `softmin` along one axis, with `temperature` and an optional
//! output `dtype`, the legacy `SoftmaxActivation`, and the gradient kernel `_backward_softmax`.

use std::sync::Arc;

use mxnet_gpu::kernels::softmax::Mode;

use mxnet_cpu::nn::softmax::{backward, forward, Rows, SoftmaxKind};

use super::expect_inputs;
use crate::attrs::{AttrReader, Attrs};
use crate::dispatch_float;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::imperative::invoke;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
use crate::ops::reduce::normalize_axis;
use crate::ops::scalar::format_scalar;

const PARAMS: &[&str] = &["axis", "temperature", "dtype", "use_length"];

/// Which elements form one softmax row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RowSpec {
    /// The elements along `axis`.
    Axis,
    /// `SoftmaxActivation(mode='instance')`: all elements of one sample.
    Instance,
    /// `SoftmaxActivation(mode='channel')`: the channels (axis 1) at one position.
    Channel,
}

#[derive(Clone, Debug)]
pub struct Softmax {
    name: &'static str,
    kind: SoftmaxKind,
    spec: RowSpec,
    axis: i64,
    temperature: f64,
    dtype: Option<DType>,
}

impl Softmax {
    fn parse(name: &'static str, kind: SoftmaxKind, attrs: &Attrs) -> Result<Softmax> {
        let mut r = AttrReader::new(name, attrs);
        let axis = r.get("axis", -1i64)?;
        let temperature = r.get("temperature", 1.0f64)?;
        let dtype = r.opt::<DType>("dtype")?;
        let use_length = r.get("use_length", false)?;
        r.finish(PARAMS)?;
        if use_length {
            return Err(Error::Value(format!(
                "{name}: use_length=True is not supported; mask the padded positions with -inf before calling {name}"
            )));
        }
        if !(temperature.is_finite() && temperature != 0.0) {
            return Err(Error::Value(format!("{name}: temperature must be a finite non-zero number, got {temperature}")));
        }
        if let Some(d) = dtype {
            if !matches!(d, DType::Float32 | DType::Float64) {
                return Err(Error::Type(format!("{name}: output dtype {d} is not supported; use float32 or float64")));
            }
        }
        Ok(Softmax { name, kind, spec: RowSpec::Axis, axis, temperature, dtype })
    }

    fn parse_activation(attrs: &Attrs) -> Result<Softmax> {
        let mut r = AttrReader::new("SoftmaxActivation", attrs);
        let mode = r.get("mode", "instance".to_string())?;
        r.finish(&["mode"])?;
        let spec = match mode.as_str() {
            "instance" => RowSpec::Instance,
            "channel" => RowSpec::Channel,
            other => {
                return Err(Error::Value(format!(
                    "SoftmaxActivation: invalid mode '{other}'; use 'instance' or 'channel'"
                )))
            }
        };
        Ok(Softmax { name: "SoftmaxActivation", kind: SoftmaxKind::Softmax, spec, axis: 1, temperature: 1.0, dtype: None })
    }

    /// Record the GPU kernel of `mode` reading `a` (and `b` for gradients) into `out`.
    fn run_gpu(&self, mode: Mode, rows: Rows, temperature: f64, a: &NDArray, b: Option<&NDArray>, out: &NDArray) -> Result<()> {
        for x in [Some(a), b, Some(out)].into_iter().flatten() {
            crate::gpu::float_elem(self.name, x.dtype())?;
        }
        let b = match b {
            Some(b) => Some(crate::gpu::operand(b)?),
            None => None,
        };
        let (a, out) = (crate::gpu::operand(a)?, crate::gpu::operand(out)?);
        Ok(mxnet_gpu::kernels::softmax::softmax(mode, rows, temperature as f32, a, b, out)?)
    }

    fn rows(&self, shape: &[usize]) -> Result<Rows> {
        if shape.is_empty() {
            return Err(Error::Value(format!("{}: data must have at least 1 dimension, got a 0-d array", self.name)));
        }
        match self.spec {
            RowSpec::Axis => {}
            RowSpec::Instance => {
                return Ok(Rows { outer: shape[0], length: shape[1..].iter().product(), inner: 1 });
            }
            RowSpec::Channel if shape.len() >= 2 => {
                return Ok(Rows { outer: shape[0], length: shape[1], inner: shape[2..].iter().product() });
            }
            RowSpec::Channel => {
                return Err(Error::Value(format!(
                    "SoftmaxActivation: mode='channel' needs data with a channel axis (at least 2 dimensions), got shape {shape:?}"
                )));
            }
        }
        let axis = normalize_axis(self.name, self.axis, shape.len())?;
        Ok(Rows {
            outer: shape[..axis].iter().product(),
            length: shape[axis],
            inner: shape[axis + 1..].iter().product(),
        })
    }

    fn attrs(&self) -> Attrs {
        match self.spec {
            RowSpec::Axis => {}
            RowSpec::Instance => return vec![("mode".into(), "instance".into())],
            RowSpec::Channel => return vec![("mode".into(), "channel".into())],
        }
        let mut a: Attrs =
            vec![("axis".into(), self.axis.to_string()), ("temperature".into(), format_scalar(self.temperature))];
        if let Some(d) = self.dtype {
            a.push(("dtype".into(), d.name().into()));
        }
        a
    }
}

fn float_dtype(op: &str, dtype: DType) -> Result<()> {
    dispatch_float!(op, dtype, T => { let _ = std::mem::size_of::<T>(); });
    Ok(())
}

impl Operator for Softmax {
    fn name(&self) -> &'static str {
        self.name
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        expect_inputs(self.name, inputs, &["data"])?;
        float_dtype(self.name, inputs[0].dtype)?;
        self.rows(&inputs[0].shape)?;
        Ok(vec![TensorDesc::new(inputs[0].shape.clone(), self.dtype.unwrap_or(inputs[0].dtype))])
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let rows = self.rows(inputs[0].shape())?;
        // SAFETY: called by the engine with `inputs` read and `outputs` written.
        unsafe {
            dispatch_float!(self.name, inputs[0].dtype(), T => {
                let x = inputs[0].contiguous_data::<T>();
                dispatch_float!(self.name, outputs[0].dtype(), U => {
                    forward::<T, U>(self.kind, rows, self.temperature, &x, outputs[0].out_data::<U>());
                });
            });
        }
        Ok(())
    }

    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let rows = self.rows(inputs[0].shape())?;
        let x = crate::gpu::contiguous(&inputs[0])?;
        let (mode, temperature) = match self.kind {
            SoftmaxKind::Softmax => (Mode::Softmax, self.temperature),
            SoftmaxKind::LogSoftmax => (Mode::LogSoftmax, self.temperature),
            SoftmaxKind::Softmin => (Mode::Softmax, -self.temperature),
        };
        self.run_gpu(mode, rows, temperature, &x, None, &outputs[0])
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let op = Arc::new(SoftmaxBackward { forward: self.clone() });
        let inputs = [g.out_grads[0].clone(), g.outputs[0].clone(), g.inputs[0].clone()];
        Ok(vec![Some(invoke(op, &inputs, None)?.swap_remove(0))])
    }

    fn attrs(&self) -> Attrs {
        Softmax::attrs(self)
    }
}

/// `_backward_softmax(dy, y, x) -> dx`; `x` only gives the gradient's dtype and is not read.
pub struct SoftmaxBackward {
    forward: Softmax,
}

impl Operator for SoftmaxBackward {
    fn name(&self) -> &'static str {
        "_backward_softmax"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        expect_inputs(self.name(), inputs, &["out_grad", "output", "data"])?;
        let (dy, y, x) = (&inputs[0], &inputs[1], &inputs[2]);
        if dy.shape != y.shape || y.shape != x.shape || dy.dtype != y.dtype {
            return Err(Error::Value(format!(
                "_backward_softmax: out_grad {:?} ({}) and output {:?} ({}) must match data {:?}",
                dy.shape, dy.dtype, y.shape, y.dtype, x.shape
            )));
        }
        float_dtype(self.name(), y.dtype)?;
        float_dtype(self.name(), x.dtype)?;
        Ok(vec![x.clone()])
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let f = &self.forward;
        let rows = f.rows(inputs[1].shape())?;
        // SAFETY: called by the engine with `inputs` read and `outputs` written.
        unsafe {
            dispatch_float!(self.name(), inputs[1].dtype(), U => {
                let dy = inputs[0].contiguous_data::<U>();
                let y = inputs[1].contiguous_data::<U>();
                dispatch_float!(self.name(), outputs[0].dtype(), T => {
                    backward::<T, U>(f.kind, rows, f.temperature, &y, &dy, outputs[0].out_data::<T>());
                });
            });
        }
        Ok(())
    }

    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let f = &self.forward;
        let rows = f.rows(inputs[1].shape())?;
        let dy = crate::gpu::contiguous(&inputs[0])?;
        let y = crate::gpu::contiguous(&inputs[1])?;
        let (mode, temperature) = match f.kind {
            SoftmaxKind::Softmax => (Mode::SoftmaxGrad, f.temperature),
            SoftmaxKind::LogSoftmax => (Mode::LogSoftmaxGrad, f.temperature),
            SoftmaxKind::Softmin => (Mode::SoftmaxGrad, -f.temperature),
        };
        f.run_gpu(mode, rows, temperature, &y, Some(&dy), &outputs[0])
    }

    fn attrs(&self) -> Attrs {
        self.forward.attrs()
    }
}

macro_rules! softmax_def {
    ($defs:ident, $name:literal, $kind:ident, $doc:literal) => {
        $defs.push(OpDef {
            name: $name,
            aliases: &[],
            arguments: &["data"],
            params: PARAMS,
            doc: $doc,
            create: |attrs: &Attrs| Ok(Arc::new(Softmax::parse($name, SoftmaxKind::$kind, attrs)?) as Arc<dyn Operator>),
        });
    };
}

pub fn register(defs: &mut Vec<OpDef>) {
    softmax_def!(defs, "softmax", Softmax, "Softmax along `axis`: exp(x / t) / sum(exp(x / t)), shifted by the maximum for stability.");
    softmax_def!(defs, "log_softmax", LogSoftmax, "Logarithm of softmax along `axis`, computed without forming the softmax.");
    softmax_def!(defs, "softmin", Softmin, "Softmax of the negated input along `axis`.");
    defs.push(OpDef {
        name: "SoftmaxActivation",
        aliases: &[],
        arguments: &["data"],
        params: &["mode"],
        doc: "Legacy softmax: over all elements of each sample (mode='instance') or over the channels at each position (mode='channel').",
        create: |attrs: &Attrs| Ok(Arc::new(Softmax::parse_activation(attrs)?) as Arc<dyn Operator>),
    });
    defs.push(OpDef {
        name: "_backward_softmax",
        aliases: &[],
        arguments: &["out_grad", "output", "data"],
        params: PARAMS,
        doc: "Gradient of softmax (log_softmax and softmin use their own kinds internally).",
        create: |attrs: &Attrs| {
            let forward = Softmax::parse("_backward_softmax", SoftmaxKind::Softmax, attrs)?;
            Ok(Arc::new(SoftmaxBackward { forward }) as Arc<dyn Operator>)
        },
    });
}
