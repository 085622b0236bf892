//! `Pooling` (max, avg, sum, lp; 1-D and 2-D; global pooling; valid and full conventions)
//! and its gradient kernel `_backward_Pooling`.

use std::sync::Arc;

use mxnet_gpu::kernels::pool::{self, PoolOp};

use crate::gpu;

use mxnet_cpu::nn::pool::{out_size, Pool2d, PoolKind};

use super::{check_layout, expect_inputs, spatial_attr};
use crate::attrs::{tuple_string, AttrReader, Attrs};
use crate::dispatch_float;
use crate::error::{Error, Result};
use crate::imperative::invoke;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
use crate::ops::reduce::py_bool;

const PARAMS: &[&str] = &[
    "kernel", "pool_type", "global_pool", "cudnn_off", "pooling_convention", "stride", "pad", "p_value",
    "count_include_pad", "layout",
];

#[derive(Clone, Debug)]
pub struct Pooling {
    /// Empty for global pooling without a kernel.
    kernel: Vec<usize>,
    kind: PoolKind,
    pool_type: String,
    global_pool: bool,
    full: bool,
    stride: Vec<usize>,
    pad: Vec<usize>,
    layout: Option<String>,
}

impl Pooling {
    fn parse(op: &'static str, attrs: &Attrs) -> Result<Pooling> {
        let mut r = AttrReader::new(op, attrs);
        let global_pool = r.get("global_pool", false)?;
        let kernel = r.opt::<Vec<usize>>("kernel")?.unwrap_or_default();
        if kernel.is_empty() && !global_pool {
            return Err(Error::Value(format!("{op}: required argument 'kernel' is missing; pass kernel=(k,) or (kh, kw), or global_pool=True")));
        }
        if kernel.len() > 2 || kernel.contains(&0) {
            return Err(Error::Value(format!(
                "{op}: kernel {kernel:?} is not supported; give 1 or 2 positive sizes (1-D NCW or 2-D NCHW pooling)"
            )));
        }
        let ndim = kernel.len();
        let stride = spatial_attr(op, &mut r, "stride", ndim, 1)?;
        let pad = spatial_attr(op, &mut r, "pad", ndim, 0)?;
        if stride.contains(&0) {
            return Err(Error::Value(format!("{op}: stride {stride:?} must be positive on every axis")));
        }
        let pool_type = r.get("pool_type", "max".to_string())?;
        let count_include_pad = r.get("count_include_pad", true)?;
        let p_value = r.get("p_value", 2i32)?;
        let kind = match pool_type.as_str() {
            "max" => PoolKind::Max,
            "avg" => PoolKind::Avg { count_include_pad },
            "sum" => PoolKind::Sum,
            "lp" if (1..=3).contains(&p_value) => PoolKind::Lp(p_value),
            "lp" => return Err(Error::Value(format!("{op}: p_value={p_value} is not supported; lp pooling takes p_value 1, 2 or 3"))),
            other => return Err(Error::Value(format!("{op}: invalid pool_type '{other}'; use 'max', 'avg', 'sum' or 'lp'"))),
        };
        let convention = r.get("pooling_convention", "valid".to_string())?;
        let full = match convention.as_str() {
            "valid" => false,
            "full" => true,
            // NOTE: MXNet 1.9.1 accepts 'same' for some layouts and fails on 1-D inputs with an
            // index error; it is not implemented here.
            other => {
                return Err(Error::Value(format!(
                    "{op}: pooling_convention '{other}' is not supported; use 'valid' or 'full'"
                )))
            }
        };
        let layout = r.opt::<String>("layout")?;
        if ndim > 0 {
            check_layout(op, layout.as_deref(), ndim)?;
        }
        r.ignore(&["cudnn_off"]);
        r.finish(PARAMS)?;
        Ok(Pooling { kernel, kind, pool_type, global_pool, full, stride, pad, layout })
    }

    /// The 2-D geometry for data of `shape` (1-D pooling gets height 1).
    fn geometry(&self, op: &str, shape: &[usize]) -> Result<Pool2d> {
        let nd = if self.global_pool { shape.len().saturating_sub(2) } else { self.kernel.len() };
        if !(1..=2).contains(&nd) || shape.len() != nd + 2 {
            return Err(Error::Value(format!(
                "{op}: data has shape {shape:?} but {} pooling needs {} dimensions (batch, channel, spatial axes)",
                if self.global_pool { "global".to_string() } else { format!("{}-D", nd) },
                if self.global_pool { "3 or 4".to_string() } else { (nd + 2).to_string() }
            )));
        }
        let lift = |v: &[usize], unit: usize| -> [usize; 2] { if nd == 1 { [unit, v[0]] } else { [v[0], v[1]] } };
        let spatial = lift(&shape[2..], 1);
        let (kernel, stride, pad) = if self.global_pool {
            (spatial, [1, 1], [0, 0])
        } else {
            (lift(&self.kernel, 1), lift(&self.stride, 1), lift(&self.pad, 0))
        };
        let mut out = [0usize; 2];
        for a in 0..2 {
            out[a] = out_size(spatial[a], kernel[a], stride[a], pad[a], self.full).ok_or_else(|| {
                Error::Value(format!(
                    "{op}: kernel {} is larger than the padded input {:?} (data shape {shape:?}, pad {}); use a smaller kernel or more padding",
                    tuple_string(&self.kernel),
                    &shape[2..],
                    tuple_string(&self.pad)
                ))
            })?;
        }
        Ok(Pool2d {
            planes: shape[0] * shape[1],
            height: spatial[0],
            width: spatial[1],
            kernel,
            stride,
            pad,
            out_h: out[0],
            out_w: out[1],
        })
    }

    /// The GPU kernel's reduction.
    fn gpu_op(&self) -> Option<PoolOp> {
        Some(match self.kind {
            PoolKind::Max => PoolOp::Max,
            PoolKind::Avg { count_include_pad } => PoolOp::Avg { count_include_pad },
            PoolKind::Sum => PoolOp::Sum,
            PoolKind::Lp(p) => PoolOp::Lp(p),
        })
    }

    fn out_shape(&self, shape: &[usize], geo: &Pool2d) -> Vec<usize> {
        let mut s = shape[..2].to_vec();
        if shape.len() == 3 {
            s.push(geo.out_w);
        } else {
            s.extend([geo.out_h, geo.out_w]);
        }
        s
    }

    fn attrs(&self) -> Attrs {
        let mut a: Attrs = vec![
            ("kernel".into(), tuple_string(&self.kernel)),
            ("pool_type".into(), self.pool_type.clone()),
            ("global_pool".into(), py_bool(self.global_pool)),
            ("pooling_convention".into(), if self.full { "full" } else { "valid" }.into()),
            ("stride".into(), tuple_string(&self.stride)),
            ("pad".into(), tuple_string(&self.pad)),
        ];
        match self.kind {
            PoolKind::Lp(p) => a.push(("p_value".into(), p.to_string())),
            PoolKind::Avg { count_include_pad } => a.push(("count_include_pad".into(), py_bool(count_include_pad))),
            _ => {}
        }
        if let Some(l) = &self.layout {
            a.push(("layout".into(), l.clone()));
        }
        a
    }
}

fn check_dtype(op: &str, desc: &TensorDesc) -> Result<()> {
    dispatch_float!(op, desc.dtype, T => { let _ = std::mem::size_of::<T>(); });
    Ok(())
}

impl Operator for Pooling {
    fn name(&self) -> &'static str {
        "Pooling"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        expect_inputs("Pooling", inputs, &["data"])?;
        check_dtype("Pooling", &inputs[0])?;
        let geo = self.geometry("Pooling", &inputs[0].shape)?;
        Ok(vec![TensorDesc::new(self.out_shape(&inputs[0].shape, &geo), inputs[0].dtype)])
    }

    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let geo = self.geometry("Pooling", inputs[0].shape())?;
        // SAFETY: called by the engine with `inputs` read and `outputs` written.
        unsafe {
            dispatch_float!("Pooling", inputs[0].dtype(), T => {
                let x = inputs[0].contiguous_data::<T>();
                geo.forward(self.kind, &x, outputs[0].out_data::<T>());
            });
        }
        Ok(())
    }

    fn supports_gpu(&self) -> bool {
        self.gpu_op().is_some()
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let geo = self.geometry("Pooling", inputs[0].shape())?;
        let op = self.gpu_op().ok_or_else(|| gpu::no_kernel("Pooling(pool_type='lp')"))?;
        let x = gpu::contiguous(&inputs[0])?;
        gpu::float_elem("Pooling", x.dtype())?;
        let y = &outputs[0];
        Ok(pool::forward(&geo, op, gpu::operand(&x)?, gpu::operand(y)?)?)
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let op = Arc::new(PoolingBackward { pool: self.clone() });
        let inputs = [g.out_grads[0].clone(), g.inputs[0].clone(), g.outputs[0].clone()];
        Ok(vec![Some(invoke(op, &inputs, None)?.swap_remove(0))])
    }

    fn attrs(&self) -> Attrs {
        Pooling::attrs(self)
    }
}

/// `_backward_Pooling(dy, x, y) -> dx`.
pub struct PoolingBackward {
    pool: Pooling,
}

impl Operator for PoolingBackward {
    fn name(&self) -> &'static str {
        "_backward_Pooling"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        expect_inputs(self.name(), inputs, &["out_grad", "data", "output"])?;
        check_dtype(self.name(), &inputs[1])?;
        let geo = self.pool.geometry(self.name(), &inputs[1].shape)?;
        let expected = self.pool.out_shape(&inputs[1].shape, &geo);
        for (desc, what) in [(&inputs[0], "out_grad"), (&inputs[2], "output")] {
            if desc.shape != expected || desc.dtype != inputs[1].dtype {
                return Err(Error::Value(format!(
                    "_backward_Pooling: {what} has shape {:?} and dtype {}, expected {expected:?} and {}",
                    desc.shape, desc.dtype, inputs[1].dtype
                )));
            }
        }
        Ok(vec![inputs[1].clone()])
    }

    /// Return true: the kernel zero-fills the gradient itself where no window covers it.
    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let geo = self.pool.geometry(self.name(), inputs[1].shape())?;
        // SAFETY: called by the engine with `inputs` read and `outputs` written.
        unsafe {
            dispatch_float!(self.name(), inputs[1].dtype(), T => {
                let dy = inputs[0].contiguous_data::<T>();
                let x = inputs[1].contiguous_data::<T>();
                let y = inputs[2].contiguous_data::<T>();
                geo.backward(self.pool.kind, &x, &y, &dy, outputs[0].out_data::<T>());
            });
        }
        Ok(())
    }

    fn supports_gpu(&self) -> bool {
        self.pool.gpu_op().is_some()
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let geo = self.pool.geometry(self.name(), inputs[1].shape())?;
        let op = self.pool.gpu_op().ok_or_else(|| gpu::no_kernel("Pooling(pool_type='lp')"))?;
        gpu::float_elem(self.name(), inputs[1].dtype())?;
        let [dy, x, y] = [&inputs[0], &inputs[1], &inputs[2]].map(gpu::contiguous);
        let (dy, x, y) = (dy?, x?, y?);
        let dx = &outputs[0];
        Ok(pool::backward(&geo, op, gpu::operand(&x)?, gpu::operand(&y)?, gpu::operand(&dy)?, gpu::operand(dx)?)?)
    }

    fn attrs(&self) -> Attrs {
        self.pool.attrs()
    }
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "Pooling",
        aliases: &[],
        arguments: &["data"],
        params: PARAMS,
        doc: "1-D or 2-D pooling (max, avg, sum or lp) over NCW or NCHW data.",
        create: |attrs: &Attrs| Ok(Arc::new(Pooling::parse("Pooling", attrs)?) as Arc<dyn Operator>),
    });
    defs.push(OpDef {
        name: "_backward_Pooling",
        aliases: &[],
        arguments: &["out_grad", "data", "output"],
        params: PARAMS,
        doc: "Gradient of Pooling with respect to its data.",
        create: |attrs: &Attrs| {
            let pool = Pooling::parse("_backward_Pooling", attrs)?;
            Ok(Arc::new(PoolingBackward { pool }) as Arc<dyn Operator>)
        },
    });
}
