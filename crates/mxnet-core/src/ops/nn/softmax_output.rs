//! `SoftmaxOutput` (alias `Softmax`): softmax forward whose gradient is the cross-entropy
//! gradient `(p - onehot(label)) * grad_scale / normalizer`, ignoring the head gradient
//! unless `out_grad=True`.

use std::sync::Arc;

use mxnet_cpu::Layout;

use crate::gpu;

use mxnet_cpu::nn::softmax::{forward, Rows, SoftmaxKind};

use super::expect_inputs;
use crate::attrs::{AttrReader, Attrs};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::imperative::invoke;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
use crate::ops::reduce::py_bool;
use crate::ops::scalar::format_scalar;
use crate::{dispatch_float, dispatch_real};

const PARAMS: &[&str] = &[
    "grad_scale", "ignore_label", "multi_output", "use_ignore", "preserve_shape", "normalization", "out_grad",
    "smooth_alpha",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Normalization {
    Null,
    Batch,
    Valid,
}

#[derive(Clone, Debug)]
pub struct SoftmaxOutput {
    grad_scale: f64,
    ignore_label: f64,
    multi_output: bool,
    use_ignore: bool,
    preserve_shape: bool,
    normalization: Normalization,
    out_grad: bool,
    smooth_alpha: f64,
}

impl SoftmaxOutput {
    fn parse(op: &'static str, attrs: &Attrs) -> Result<SoftmaxOutput> {
        let mut r = AttrReader::new(op, attrs);
        let grad_scale = r.get("grad_scale", 1.0f64)?;
        let ignore_label = r.get("ignore_label", -1.0f64)?;

        let multi_output = r.get("multi_output", false)?;
        let use_ignore = r.get("use_ignore", false)?;
        let preserve_shape = r.get("preserve_shape", false)?;
        let normalization = match r.get("normalization", "null".to_string())?.as_str() {
            "null" => Normalization::Null,
            "batch" => Normalization::Batch,
            "valid" => Normalization::Valid,
            other => {
                return Err(Error::Value(format!(
                    "{op}: invalid normalization '{other}'; use 'null', 'batch' or 'valid'"
                )))
            }
        };
        let out_grad = r.get("out_grad", false)?;
        let smooth_alpha = r.get("smooth_alpha", 0.0f64)?;
        r.finish(PARAMS)?;

        if !(0.0..1.0).contains(&smooth_alpha) {
            return Err(Error::Value(format!("{op}: smooth_alpha must be in [0, 1), got {smooth_alpha}")));
        }
        Ok(SoftmaxOutput {
            grad_scale,
            ignore_label,
            multi_output,
            use_ignore,
            preserve_shape,
            normalization,
            out_grad,
            smooth_alpha,
        })
    }

    /// Split the data into softmax rows. `multi_output` normalises over axis 1 and
    /// `preserve_shape` over the last axis. Otherwise each sample's trailing axes form one row.
    fn rows(&self, op: &str, shape: &[usize]) -> Result<Rows> {
        if shape.len() < 2 && !(self.preserve_shape && shape.len() == 1) {
            return Err(Error::Value(format!(
                "{op}: data has shape {shape:?}; it needs a batch axis and a class axis, e.g. (batch, classes)"
            )));
        }
        Ok(if self.multi_output {
            Rows { outer: shape[0], length: shape[1], inner: shape[2..].iter().product() }
        } else if self.preserve_shape {
            let (&last, rest) = shape.split_last().unwrap_or((&1, &[]));
            Rows { outer: rest.iter().product(), length: last, inner: 1 }
        } else {
            Rows { outer: shape[0], length: shape[1..].iter().product(), inner: 1 }
        })
    }

    fn check_label(&self, op: &str, data: &[usize], label: &[usize]) -> Result<()> {
        let rows = self.rows(op, data)?;
        let expected = rows.outer * rows.inner;
        if label.iter().product::<usize>() != expected || label.first().copied().unwrap_or(1) != data[0] && !self.preserve_shape {
            return Err(Error::Value(format!(
                "{op}: label has shape {label:?} but data of shape {data:?} needs {expected} labels ({}); multi_output={}",
                if self.multi_output { "batch x spatial positions" } else { "one per row" },
                py_bool(self.multi_output)
            )));
        }
        Ok(())
    }

    fn attrs(&self) -> Attrs {
        vec![
            ("grad_scale".into(), format_scalar(self.grad_scale)),
            ("ignore_label".into(), format_scalar(self.ignore_label)),
            ("multi_output".into(), py_bool(self.multi_output)),
            ("use_ignore".into(), py_bool(self.use_ignore)),
            ("preserve_shape".into(), py_bool(self.preserve_shape)),
            (
                "normalization".into(),
                match self.normalization {
                    Normalization::Null => "null",
                    Normalization::Batch => "batch",
                    Normalization::Valid => "valid",
                }
                .into(),
            ),
            ("out_grad".into(), py_bool(self.out_grad)),
            ("smooth_alpha".into(), format_scalar(self.smooth_alpha)),
        ]
    }
}

impl Operator for SoftmaxOutput {
    fn name(&self) -> &'static str {
        "SoftmaxOutput"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        expect_inputs("SoftmaxOutput", inputs, &["data", "label"])?;
        dispatch_float!("SoftmaxOutput", inputs[0].dtype, T => { let _ = std::mem::size_of::<T>(); });
        self.check_label("SoftmaxOutput", &inputs[0].shape, &inputs[1].shape)?;
        Ok(vec![inputs[0].clone()])
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        use mxnet_gpu::kernels::softmax::{softmax, Mode};
        let rows = self.rows("SoftmaxOutput", inputs[0].shape())?;
        let x = gpu::contiguous(&inputs[0])?;
        for a in [&x, &outputs[0]] {
            gpu::float_elem("SoftmaxOutput", a.dtype())?;
        }
        Ok(softmax(Mode::Softmax, rows, 1.0, gpu::operand(&x)?, None, gpu::operand(&outputs[0])?)?)
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let rows = self.rows("SoftmaxOutput", inputs[0].shape())?;
        // SAFETY: called by the engine with `inputs` read and `outputs` written.
        unsafe {
            dispatch_float!("SoftmaxOutput", inputs[0].dtype(), T => {
                let x = inputs[0].contiguous_data::<T>();
                forward::<T, T>(SoftmaxKind::Softmax, rows, 1.0, &x, outputs[0].out_data::<T>());
            });
        }
        Ok(())
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let op = Arc::new(SoftmaxOutputBackward { forward: self.clone() });
        let inputs = [g.outputs[0].clone(), g.inputs[1].clone(), g.out_grads[0].clone()];
        Ok(vec![Some(invoke(op, &inputs, None)?.swap_remove(0)), None])
    }

    fn attrs(&self) -> Attrs {
        SoftmaxOutput::attrs(self)
    }
}

/// `_backward_SoftmaxOutput(output, label, out_grad) -> dx`; `out_grad` is read only with
/// `out_grad=True`.
pub struct SoftmaxOutputBackward {
    forward: SoftmaxOutput,
}

impl SoftmaxOutputBackward {
    /// Gradient into `dx` from probabilities `p` and labels (as f64).
    fn kernel<T: Element + num_traits::Float>(&self, rows: Rows, p: &[T], labels: &[f64], dy: Option<&[T]>, dx: &mut [T]) -> Result<()> {
        let f = &self.forward;
        let (n, inner) = (rows.length, rows.inner);
        let ignored = |l: f64| f.use_ignore && l as i64 == f.ignore_label as i64;
        // As in MXNet 1.9.1 (softmax_output-inl.h), `valid` counts the labels other than
        // ignore_label, whether or not use_ignore is set. With multi_output, `null` and
        // `batch` also divide by the number of spatial positions.
        let spatial = if f.multi_output { inner as f64 } else { 1.0 };
        let normalizer = match f.normalization {
            Normalization::Null => spatial,
            Normalization::Batch => rows.outer as f64 * spatial,
            Normalization::Valid => {
                labels.iter().filter(|&&l| l as i64 != f.ignore_label as i64).count().max(1) as f64
            }
        };
        let scale = T::from_f64(f.grad_scale / normalizer);

        // Label smoothing: the target is `on` at the label and `off` elsewhere.
        let (on, off) = if f.smooth_alpha > 0.0 && n > 1 {
            (1.0 - f.smooth_alpha, f.smooth_alpha / (n - 1) as f64)
        } else {
            (1.0, 0.0)
        };
        let (on, off) = (T::from_f64(on), T::from_f64(off));

        for o in 0..rows.outer {
            for i in 0..inner {
                let label = labels[o * inner + i];
                let start = o * n * inner + i;
                if ignored(label) {
                    (0..n).for_each(|k| dx[start + k * inner] = T::zero());
                    continue;
                }
                if !(label >= 0.0 && (label as usize) < n) {
                    return Err(Error::Value(format!(
                        "SoftmaxOutput: label {label} is out of range for {n} classes; labels must be integers in [0, {n})"
                    )));
                }
                let class = label as usize;
                for k in 0..n {
                    let at = start + k * inner;
                    let target = if k == class { on } else { off };
                    let mut v = (p[at] - target) * scale;
                    if let Some(dy) = dy {
                        v = v * dy[at];
                    }
                    dx[at] = v;
                }
            }
        }
        Ok(())
    }
}

impl Operator for SoftmaxOutputBackward {
    fn name(&self) -> &'static str {
        "_backward_SoftmaxOutput"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        expect_inputs(self.name(), inputs, &["output", "label", "out_grad"])?;
        self.forward.check_label(self.name(), &inputs[0].shape, &inputs[1].shape)?;
        Ok(vec![inputs[0].clone()])
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    /// The CPU rule as one elementwise kernel over the probabilities, after a check of the
    /// labels that raises the CPU's error for a label outside `[0, classes)`. The check waits
    /// for the GPU once per call.
    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let f = &self.forward;
        let name = self.name();
        let rows = f.rows(name, inputs[0].shape())?;
        let (n, inner) = (rows.length, rows.inner);
        let p = gpu::contiguous(&inputs[0])?;
        gpu::float_elem(name, p.dtype())?;
        // Integer labels are compared as floats, as the CPU kernel reads them as f64.
        let labels = gpu::contiguous(&inputs[1])?;
        let labels = if labels.dtype() == DType::Float32 {
            labels
        } else {
            let cast = NDArray::for_overwrite(labels.shape(), DType::Float32, labels.context())?;
            gpu::cast(&labels, &cast)?;
            cast
        };
        let label_rule = |d| gpu::float_elem(name, d);
        check_labels(&labels, n, f.use_ignore.then_some(f.ignore_label as f32))?;
        // The normaliser, on the device: `valid` counts the labels other than ignore_label.
        let spatial = if f.multi_output { inner as f64 } else { 1.0 };
        let scale = NDArray::for_overwrite(&[1], p.dtype(), p.context())?;
        match f.normalization {
            Normalization::Valid => {
                let flat = labels.with_layout(Layout { offset: labels.layout().offset, ..Layout::contiguous(&[labels.size()]) });
                let counted = NDArray::for_overwrite(&[labels.size()], p.dtype(), p.context())?;
                gpu::map_as(name, "select(0.0, 1.0, i32(x0) != i32(s0))", &[&flat], &[f.ignore_label as f32], &counted, label_rule)?;
                gpu::reduce(name, mxnet_gpu::kernels::reduce::Reducer::Sum, &counted, &[true], 1.0, &scale)?;
                gpu::map(name, "s0 / max(x0, 1.0)", &[&scale], &[f.grad_scale as f32], &scale)?;
            }
            Normalization::Null => gpu::map(name, "s0", &[], &[(f.grad_scale / spatial) as f32], &scale)?,
            Normalization::Batch => gpu::map(name, "s0", &[], &[(f.grad_scale / (rows.outer as f64 * spatial)) as f32], &scale)?,
        }
        let (on, off) = if f.smooth_alpha > 0.0 && n > 1 { (1.0 - f.smooth_alpha, f.smooth_alpha / (n - 1) as f64) } else { (1.0, 0.0) };
        let grid = [rows.outer, n, inner];
        let view = |a: &NDArray, strides: Vec<isize>| a.with_layout(Layout { shape: grid.to_vec(), strides, offset: a.layout().offset });
        let p3 = view(&p, Layout::contiguous(&grid).strides);
        let label3 = view(&labels, vec![inner as isize, 0, 1]);
        let scale3 = view(&scale, vec![0, 0, 0]);
        let dx3 = view(&outputs[0], Layout::contiguous(&grid).strides);
        let class = "((i / u32(s1)) % u32(s0))";
        let mut value = format!("(x0 - select(s3, s2, u32(x1) == {class})) * x2");
        let dy;
        let mut args = vec![&p3, &label3, &scale3];
        if f.out_grad {
            dy = view(&gpu::contiguous(&inputs[2])?, Layout::contiguous(&grid).strides);
            args.push(&dy);
            value.push_str(" * x3");
        }
        let expr = format!("select(select(nan(), {value}, x1 >= 0.0 && x1 < s0), 0.0, s5 != 0.0 && f_to_i32(x1) == f_to_i32(s4))");
        let scalars = [n as f32, inner as f32, on as f32, off as f32, f.ignore_label as f32, if f.use_ignore { 1.0 } else { 0.0 }];
        gpu::map_as(name, &expr, &args, &scalars, &dx3, label_rule)
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let rows = self.forward.rows(self.name(), inputs[0].shape())?;
        // SAFETY: called by the engine with `inputs` read and `outputs` written.
        unsafe {
            let labels: Vec<f64> = dispatch_real!(self.name(), inputs[1].dtype(), L => {
                inputs[1].contiguous_data::<L>().iter().map(|v| v.to_f64()).collect()
            });
            dispatch_float!(self.name(), inputs[0].dtype(), T => {
                let p = inputs[0].contiguous_data::<T>();
                let dy = if self.forward.out_grad { Some(inputs[2].contiguous_data::<T>()) } else { None };
                self.kernel(rows, &p, &labels, dy.as_deref(), outputs[0].out_data::<T>())?;
            });
        }
        Ok(())
    }

    fn attrs(&self) -> Attrs {
        self.forward.attrs()
    }
}

/// Raise the CPU kernel's error if a label (other than `skip`) is not a class index in
/// `[0, classes)`. A check kernel writes what it finds to a two-word buffer, and reading it back
/// waits for the GPU, so the error belongs to this operation, as on the CPU.
fn check_labels(labels: &NDArray, classes: usize, skip: Option<f32>) -> Result<()> {
    let flags = NDArray::zeros(&[2], DType::Int32, labels.context())?;
    let (buffer, offset) = gpu::operand(labels)?;
    let flag_buffer = gpu::buffer(&flags)?;
    mxnet_gpu::kernels::check::check_range((buffer, offset), labels.size(), 0.0, classes as f32, skip, flag_buffer)?;
    let mut words = [0u8; 8];
    flag_buffer.device().download(flag_buffer.raw(), &mut words)?;
    if words[..4] == [0; 4] {
        return Ok(());
    }
    let label = f32::from_le_bytes([words[4], words[5], words[6], words[7]]) as f64;
    Err(Error::Value(format!(
        "SoftmaxOutput: label {label} is out of range for {classes} classes; labels must be integers in [0, {classes})"
    )))
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "SoftmaxOutput",
        aliases: &["Softmax"],
        arguments: &["data", "label"],
        params: PARAMS,
        doc: "Softmax output layer: forward is softmax; the gradient is (p - onehot(label)) * grad_scale, normalised.",
        create: |attrs: &Attrs| Ok(Arc::new(SoftmaxOutput::parse("SoftmaxOutput", attrs)?) as Arc<dyn Operator>),
    });
    defs.push(OpDef {
        name: "_backward_SoftmaxOutput",
        aliases: &[],
        arguments: &["output", "label", "out_grad"],
        params: PARAMS,
        doc: "Gradient of SoftmaxOutput with respect to its data.",
        create: |attrs: &Attrs| {
            let forward = SoftmaxOutput::parse("_backward_SoftmaxOutput", attrs)?;
            Ok(Arc::new(SoftmaxOutputBackward { forward }) as Arc<dyn Operator>)
        },
    });
}
