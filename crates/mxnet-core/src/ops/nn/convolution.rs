//! `Convolution` (1-D NCW and 2-D NCHW, groups, stride, padding, dilation) through im2col
//! and GEMM, and its gradient kernel `_backward_Convolution`.

use std::sync::Arc;

use mxnet_cpu::nn::conv::{out_size, Conv2d};

use super::{check_layout, common_float_dtype, expect_inputs, spatial_attr};
use crate::attrs::{tuple_string, AttrReader, Attrs};
use crate::dispatch_float;
use crate::error::{Error, Result};
use crate::imperative::invoke;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
use crate::ops::reduce::py_bool;

const PARAMS: &[&str] = &[
    "kernel", "stride", "dilate", "pad", "num_filter", "num_group", "workspace", "no_bias", "cudnn_tune", "cudnn_off",
    "layout",
];

#[derive(Clone, Debug)]
pub struct Convolution {
    kernel: Vec<usize>,
    stride: Vec<usize>,
    dilate: Vec<usize>,
    pad: Vec<usize>,
    num_filter: usize,
    num_group: usize,
    no_bias: bool,
    layout: Option<String>,
}

impl Convolution {
    fn parse(op: &'static str, attrs: &Attrs) -> Result<Convolution> {
        let mut r = AttrReader::new(op, attrs);
        let kernel = r.required::<Vec<usize>>("kernel")?;
        let ndim = kernel.len();
        if !(1..=2).contains(&ndim) {
            return Err(Error::Value(format!(
                "{op}: kernel {kernel:?} has {ndim} axes; only 1-D (NCW) and 2-D (NCHW) convolutions are supported"
            )));
        }
        if kernel.contains(&0) {
            return Err(Error::Value(format!("{op}: kernel {kernel:?} must be positive on every axis")));
        }
        let stride = spatial_attr(op, &mut r, "stride", ndim, 1)?;
        let dilate = spatial_attr(op, &mut r, "dilate", ndim, 1)?;
        let pad = spatial_attr(op, &mut r, "pad", ndim, 0)?;
        if stride.contains(&0) || dilate.contains(&0) {
            return Err(Error::Value(format!(
                "{op}: stride {stride:?} and dilate {dilate:?} must be positive on every axis"
            )));
        }
        let num_filter = r.required::<usize>("num_filter")?;
        let num_group = r.get("num_group", 1usize)?;
        if num_group == 0 {
            return Err(Error::Value(format!("{op}: num_group must be at least 1, got 0")));
        }
        if num_filter == 0 || num_filter % num_group != 0 {
            return Err(Error::Value(format!(
                "{op}: num_filter={num_filter} must be a positive multiple of num_group={num_group}"
            )));
        }
        let no_bias = r.get("no_bias", false)?;
        let layout = r.opt::<String>("layout")?;
        check_layout(op, layout.as_deref(), ndim)?;
        r.ignore(&["workspace", "cudnn_tune", "cudnn_off"]);
        r.finish(PARAMS)?;
        Ok(Convolution { kernel, stride, dilate, pad, num_filter, num_group, no_bias, layout })
    }

    fn input_names(&self) -> &'static [&'static str] {
        if self.no_bias {
            &["data", "weight"]
        } else {
            &["data", "weight", "bias"]
        }
    }

    /// The 2-D geometry for data of `shape` (1-D convolutions get height 1), checking the
    /// data and weight shapes.
    fn geometry(&self, op: &str, shape: &[usize], weight: &[usize]) -> Result<Conv2d> {
        let nd = self.kernel.len();
        if shape.len() != nd + 2 {
            return Err(Error::Value(format!(
                "{op}: data has shape {shape:?} but a {nd}-D convolution needs {} dimensions ({})",
                nd + 2,
                if nd == 1 { "batch, channel, width" } else { "batch, channel, height, width" }
            )));
        }
        let channels = shape[1];
        if channels % self.num_group != 0 {
            return Err(Error::Value(format!(
                "{op}: data has {channels} channels, which num_group={} does not divide; use a num_group that divides the channel count",
                self.num_group
            )));
        }
        let mut expected_w = vec![self.num_filter, channels / self.num_group];
        expected_w.extend(&self.kernel);
        if weight != expected_w.as_slice() {
            return Err(Error::Value(format!(
                "{op}: weight has shape {weight:?} but data of shape {shape:?} with num_filter={}, num_group={} and kernel={} needs {expected_w:?}",
                self.num_filter,
                self.num_group,
                tuple_string(&self.kernel)
            )));
        }
        // Lift 1-D parameters to 2-D with a unit height axis.
        let lift = |v: &[usize], unit: usize| -> [usize; 2] { if nd == 1 { [unit, v[0]] } else { [v[0], v[1]] } };
        let (kernel, stride, pad, dilate) =
            (lift(&self.kernel, 1), lift(&self.stride, 1), lift(&self.pad, 0), lift(&self.dilate, 1));
        let spatial = lift(&shape[2..], 1);
        let mut out = [0usize; 2];
        for a in 0..2 {
            out[a] = out_size(spatial[a], kernel[a], stride[a], pad[a], dilate[a]).ok_or_else(|| {
                Error::Value(format!(
                    "{op}: kernel {} with dilate {} is larger than the padded input {:?} (data shape {shape:?}, pad {}); use a smaller kernel or more padding",
                    tuple_string(&self.kernel),
                    tuple_string(&self.dilate),
                    &shape[2..],
                    tuple_string(&self.pad)
                ))
            })?;
        }
        Ok(Conv2d {
            batch: shape[0],
            in_channels: channels,
            height: spatial[0],
            width: spatial[1],
            filters: self.num_filter,
            groups: self.num_group,
            kernel,
            stride,
            pad,
            dilate,
            out_h: out[0],
            out_w: out[1],
        })
    }

    fn out_shape(&self, geo: &Conv2d) -> Vec<usize> {
        if self.kernel.len() == 1 {
            vec![geo.batch, geo.filters, geo.out_w]
        } else {
            vec![geo.batch, geo.filters, geo.out_h, geo.out_w]
        }
    }

    fn attrs(&self) -> Attrs {
        let mut a: Attrs = vec![
            ("kernel".into(), tuple_string(&self.kernel)),
            ("stride".into(), tuple_string(&self.stride)),
            ("dilate".into(), tuple_string(&self.dilate)),
            ("pad".into(), tuple_string(&self.pad)),
            ("num_filter".into(), self.num_filter.to_string()),
            ("num_group".into(), self.num_group.to_string()),
            ("no_bias".into(), py_bool(self.no_bias)),
        ];
        if let Some(l) = &self.layout {
            a.push(("layout".into(), l.clone()));
        }
        a
    }
}

impl Operator for Convolution {
    fn name(&self) -> &'static str {
        "Convolution"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let names = self.input_names();
        expect_inputs("Convolution", inputs, names)?;
        let dtype = common_float_dtype("Convolution", inputs, names)?;
        let geo = self.geometry("Convolution", &inputs[0].shape, &inputs[1].shape)?;
        if let Some(b) = inputs.get(2) {
            if b.shape.as_slice() != [self.num_filter] {
                return Err(Error::Value(format!(
                    "Convolution: bias has shape {:?} but num_filter={} needs ({},); or pass no_bias=True",
                    b.shape, self.num_filter, self.num_filter
                )));
            }
        }
        Ok(vec![TensorDesc::new(self.out_shape(&geo), dtype)])
    }

    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let geo = self.geometry("Convolution", inputs[0].shape(), inputs[1].shape())?;
        // SAFETY: called by the engine with `inputs` read and `outputs` written.
        unsafe {
            dispatch_float!("Convolution", inputs[0].dtype(), T => {
                let x = inputs[0].contiguous_data::<T>();
                let w = inputs[1].contiguous_data::<T>();
                let b = inputs.get(2).map(|b| b.contiguous_data::<T>());
                geo.forward(&x, &w, b.as_deref(), outputs[0].out_data::<T>());
            });
        }
        Ok(())
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let geo = self.geometry("Convolution", inputs[0].shape(), inputs[1].shape())?;
        let arrays = inputs.iter().map(crate::gpu::contiguous).collect::<Result<Vec<_>>>()?;
        for a in arrays.iter().chain(outputs) {
            crate::gpu::float_elem("Convolution", a.dtype())?;
        }
        super::conv_gpu::forward(&geo, &arrays[0], &arrays[1], arrays.get(2), &outputs[0])
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let data_grad = g.needs_grad[0];
        let op = Arc::new(ConvolutionBackward { conv: self.clone(), data_grad });
        let inputs = [g.out_grads[0].clone(), g.inputs[0].clone(), g.inputs[1].clone()];
        let grads = invoke(op, &inputs, None)?;
        let mut grads: Vec<Option<NDArray>> = grads.into_iter().map(Some).collect();
        if !data_grad {
            grads[0] = None;
        }
        Ok(grads)
    }

    fn attrs(&self) -> Attrs {
        Convolution::attrs(self)
    }
}

/// `_backward_Convolution(dy, x, W) -> (dx, dW[, db])`.
pub struct ConvolutionBackward {
    conv: Convolution,
    /// False when the data needs no gradient (the first layer's input): dx stays zero and
    /// its product and col2im are skipped.
    data_grad: bool,
}

impl Operator for ConvolutionBackward {
    fn name(&self) -> &'static str {
        "_backward_Convolution"
    }

    fn num_outputs(&self) -> usize {
        if self.conv.no_bias {
            2
        } else {
            3
        }
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let names = ["out_grad", "data", "weight"];
        expect_inputs(self.name(), inputs, &names)?;
        let dtype = common_float_dtype(self.name(), inputs, &names)?;
        let geo = self.conv.geometry(self.name(), &inputs[1].shape, &inputs[2].shape)?;
        let expected = self.conv.out_shape(&geo);
        if inputs[0].shape != expected {
            return Err(Error::Value(format!(
                "_backward_Convolution: out_grad has shape {:?}, expected {expected:?}",
                inputs[0].shape
            )));
        }
        let mut out = vec![inputs[1].clone(), inputs[2].clone()];
        if !self.conv.no_bias {
            out.push(TensorDesc::new(vec![self.conv.num_filter], dtype));
        }
        Ok(out)
    }

    /// Return true: the kernel zero-fills the gradients it accumulates. The data gradient is
    /// left unwritten only when it is not needed, and then `Convolution::backward` drops it.
    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let geo = self.conv.geometry(self.name(), inputs[1].shape(), inputs[2].shape())?;
        // SAFETY: called by the engine with `inputs` read and `outputs` written; the outputs
        // are distinct fresh arrays.
        unsafe {
            dispatch_float!(self.name(), inputs[0].dtype(), T => {
                let dy = inputs[0].contiguous_data::<T>();
                let x = inputs[1].contiguous_data::<T>();
                let w = inputs[2].contiguous_data::<T>();
                let db = outputs.get(2).map(|b| b.out_data::<T>());
                let dx = outputs[0].out_data::<T>();
                geo.backward(&x, &w, &dy, self.data_grad.then_some(dx), outputs[1].out_data::<T>(), db);
            });
        }
        Ok(())
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let geo = self.conv.geometry(self.name(), inputs[1].shape(), inputs[2].shape())?;
        let arrays = inputs.iter().map(crate::gpu::contiguous).collect::<Result<Vec<_>>>()?;
        for a in arrays.iter().chain(outputs) {
            crate::gpu::float_elem(self.name(), a.dtype())?;
        }
        let dx = self.data_grad.then_some(&outputs[0]);
        super::conv_gpu::backward(&geo, &arrays[0], &arrays[1], &arrays[2], dx, &outputs[1], outputs.get(2))
    }

    fn attrs(&self) -> Attrs {
        self.conv.attrs()
    }
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "Convolution",
        aliases: &[],
        arguments: &["data", "weight", "bias"],
        params: PARAMS,
        doc: "1-D (NCW) or 2-D (NCHW) convolution with stride, padding, dilation and groups.",
        create: |attrs: &Attrs| Ok(Arc::new(Convolution::parse("Convolution", attrs)?) as Arc<dyn Operator>),
    });
    defs.push(OpDef {
        name: "_backward_Convolution",
        aliases: &[],
        arguments: &["out_grad", "data", "weight"],
        params: PARAMS,
        doc: "Gradients of Convolution with respect to data, weight and bias.",
        create: |attrs: &Attrs| {
            let conv = Convolution::parse("_backward_Convolution", attrs)?;
            Ok(Arc::new(ConvolutionBackward { conv, data_grad: true }) as Arc<dyn Operator>)
        },
    });
}
