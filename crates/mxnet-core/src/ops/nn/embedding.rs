//! `Embedding`: gather rows of a weight matrix by index, with a scatter-add gradient.
//! Indices are truncated to integers and clipped to `[0, input_dim - 1]`, as the CPU kernel
//! of MXNet 1.x does (`TakeCPU<clip=true>` in indexing_op.h), so out-of-range ids give the
//! first or last row instead of an error.

use std::sync::Arc;

use crate::ops::indexing::IndexMode;

use super::expect_inputs;
use crate::attrs::{AttrReader, Attrs};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::imperative::invoke;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
use crate::ops::reduce::py_bool;
use crate::{dispatch_float, dispatch_real};

const PARAMS: &[&str] = &["input_dim", "output_dim", "dtype", "sparse_grad"];

#[derive(Clone, Debug)]
pub struct Embedding {
    input_dim: usize,
    output_dim: usize,
    dtype: DType,
    sparse_grad: bool,
}

impl Embedding {
    fn parse(op: &'static str, attrs: &Attrs) -> Result<Embedding> {
        let mut r = AttrReader::new(op, attrs);
        let input_dim = r.required::<usize>("input_dim")?;
        let output_dim = r.required::<usize>("output_dim")?;
        let dtype = r.get("dtype", DType::Float32)?;
        // NOTE: sparse_grad=True is accepted but the gradient is always a dense array.
        let sparse_grad = r.get("sparse_grad", false)?;
        r.finish(PARAMS)?;
        if input_dim == 0 || output_dim == 0 {
            return Err(Error::Value(format!(
                "{op}: input_dim ({input_dim}) and output_dim ({output_dim}) must be positive"
            )));
        }
        Ok(Embedding { input_dim, output_dim, dtype, sparse_grad })
    }

    fn attrs(&self) -> Attrs {
        vec![
            ("input_dim".into(), self.input_dim.to_string()),
            ("output_dim".into(), self.output_dim.to_string()),
            ("dtype".into(), self.dtype.name().into()),
            ("sparse_grad".into(), py_bool(self.sparse_grad)),
        ]
    }

    /// Row of the weight for each index, clipped into range.
    ///
    /// # Safety
    /// Call only inside an engine operation that reads `data`.
    unsafe fn rows(&self, data: &NDArray) -> Result<Vec<usize>> {
        let last = (self.input_dim - 1) as f64;
        Ok(dispatch_real!("Embedding", data.dtype(), I => {
            data.contiguous_data::<I>()
                .iter()
                // `as usize` maps NaN to 0; the clip bounds everything else.
                .map(|v| v.to_f64().trunc().clamp(0.0, last) as usize)
                .collect()
        }))
    }
}

impl Operator for Embedding {
    fn name(&self) -> &'static str {
        "Embedding"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        expect_inputs("Embedding", inputs, &["data", "weight"])?;
        let (data, weight) = (&inputs[0], &inputs[1]);
        if weight.shape.as_slice() != [self.input_dim, self.output_dim] {
            return Err(Error::Value(format!(
                "Embedding: weight has shape {:?} but input_dim={} and output_dim={} need ({}, {})",
                weight.shape, self.input_dim, self.output_dim, self.input_dim, self.output_dim
            )));
        }
        dispatch_float!("Embedding", weight.dtype, T => { let _ = std::mem::size_of::<T>(); });
        dispatch_real!("Embedding", data.dtype, T => { let _ = std::mem::size_of::<T>(); });
        let mut shape = data.shape.clone();
        shape.push(self.output_dim);
        Ok(vec![TensorDesc::new(shape, weight.dtype)])
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    /// `take` along axis 0 of the weight with clipped indices.
    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let w = &inputs[1];
        crate::ops::indexing::gpu_take("Embedding", IndexMode::Clip, w.shape(), 0, w, &inputs[0], false, &outputs[0])
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let d = self.output_dim;
        // SAFETY: called by the engine with `inputs` read and `outputs` written.
        unsafe {
            let rows = self.rows(&inputs[0])?;
            dispatch_float!("Embedding", inputs[1].dtype(), T => {
                let w = inputs[1].contiguous_data::<T>();
                let y = outputs[0].out_data::<T>();
                for (out_row, &r) in y.chunks_mut(d).zip(&rows) {
                    out_row.copy_from_slice(&w[r * d..(r + 1) * d]);
                }
            });
        }
        Ok(())
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let op = Arc::new(EmbeddingBackward { forward: self.clone() });
        let inputs = [g.out_grads[0].clone(), g.inputs[0].clone(), g.inputs[1].clone()];
        // The indices get no gradient.
        Ok(vec![None, Some(invoke(op, &inputs, None)?.swap_remove(0))])
    }

    fn attrs(&self) -> Attrs {
        Embedding::attrs(self)
    }
}

/// `_backward_Embedding(dy, data, weight) -> dweight`; `weight` gives only shape and dtype.
pub struct EmbeddingBackward {
    forward: Embedding,
}

impl Operator for EmbeddingBackward {
    fn name(&self) -> &'static str {
        "_backward_Embedding"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        expect_inputs(self.name(), inputs, &["out_grad", "data", "weight"])?;
        let expected = self.forward.infer(&inputs[1..])?.swap_remove(0);
        if inputs[0] != expected {
            return Err(Error::Value(format!(
                "_backward_Embedding: out_grad has shape {:?} and dtype {}, expected {:?} and {}",
                inputs[0].shape, inputs[0].dtype, expected.shape, expected.dtype
            )));
        }
        Ok(vec![inputs[2].clone()])
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let shape = [self.forward.input_dim, self.forward.output_dim];
        crate::ops::indexing::gpu_take(self.name(), IndexMode::Clip, &shape, 0, &inputs[0], &inputs[1], true, &outputs[0])
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let d = self.forward.output_dim;
        // SAFETY: called by the engine with `inputs` read and `outputs` written.
        unsafe {
            let rows = self.forward.rows(&inputs[1])?;
            dispatch_float!(self.name(), inputs[0].dtype(), T => {
                let dy = inputs[0].contiguous_data::<T>();
                let dw = outputs[0].out_data::<T>();
                dw.fill(0.0);
                for (g, &r) in dy.chunks(d).zip(&rows) {
                    dw[r * d..(r + 1) * d].iter_mut().zip(g).for_each(|(a, &b)| *a += b);
                }
            });
        }
        Ok(())
    }

    fn attrs(&self) -> Attrs {
        self.forward.attrs()
    }
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "Embedding",
        aliases: &[],
        arguments: &["data", "weight"],
        params: PARAMS,
        doc: "Look up rows of weight (input_dim, output_dim) by the indices in data; indices are clipped into range.",
        create: |attrs: &Attrs| Ok(Arc::new(Embedding::parse("Embedding", attrs)?) as Arc<dyn Operator>),
    });
    defs.push(OpDef {
        name: "_backward_Embedding",
        aliases: &[],
        arguments: &["out_grad", "data", "weight"],
        params: PARAMS,
        doc: "Gradient of Embedding with respect to its weight (a scatter-add of the head gradient).",
        create: |attrs: &Attrs| {
            let forward = Embedding::parse("_backward_Embedding", attrs)?;
            Ok(Arc::new(EmbeddingBackward { forward }) as Arc<dyn Operator>)
        },
    });
}
