//! `FullyConnected`: `y = x W^T + b` with MXNet's `flatten` rule, and its gradient kernel.

use std::sync::Arc;

use crate::gpu;

use mxnet_cpu::gemm::{matmul, matmul_plus_row, MatRef};

use super::{common_float_dtype, expect_inputs};
use crate::attrs::{AttrReader, Attrs};
use crate::dispatch_float;
use crate::error::{Error, Result};
use crate::imperative::invoke;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
use crate::ops::reduce::py_bool;

const PARAMS: &[&str] = &["num_hidden", "no_bias", "flatten"];

#[derive(Clone, Debug)]
pub struct FullyConnected {
    num_hidden: usize,
    no_bias: bool,
    flatten: bool,
}

impl FullyConnected {
    fn parse(op: &'static str, attrs: &Attrs) -> Result<FullyConnected> {
        let mut r = AttrReader::new(op, attrs);
        let num_hidden = r.required::<usize>("num_hidden")?;
        let no_bias = r.get("no_bias", false)?;
        let flatten = r.get("flatten", true)?;
        r.finish(PARAMS)?;
        if num_hidden == 0 {
            return Err(Error::Value(format!("{op}: num_hidden must be positive, got 0")));
        }
        Ok(FullyConnected { num_hidden, no_bias, flatten })
    }

    fn input_names(&self) -> &'static [&'static str] {
        if self.no_bias {
            &["data", "weight"]
        } else {
            &["data", "weight", "bias"]
        }
    }

    /// Rows and columns of the data seen as a matrix: `flatten` keeps the first axis and
    /// merges the rest; otherwise every axis but the last becomes a row.
    fn matrix_shape(&self, shape: &[usize]) -> (usize, usize) {
        match (self.flatten, shape.split_last()) {
            (_, None) => (1, 1),
            (true, Some(_)) => (shape[0], shape[1..].iter().product()),
            (false, Some((&last, rest))) => (rest.iter().product(), last),
        }
    }

    fn out_shape(&self, shape: &[usize]) -> Vec<usize> {
        if self.flatten {
            vec![shape.first().copied().unwrap_or(1), self.num_hidden]
        } else {
            let mut s = shape[..shape.len().saturating_sub(1)].to_vec();
            s.push(self.num_hidden);
            s
        }
    }

    fn attrs(&self) -> Attrs {
        vec![
            ("num_hidden".into(), self.num_hidden.to_string()),
            ("no_bias".into(), py_bool(self.no_bias)),
            ("flatten".into(), py_bool(self.flatten)),
        ]
    }
}

impl Operator for FullyConnected {
    fn name(&self) -> &'static str {
        "FullyConnected"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let names = self.input_names();
        expect_inputs("FullyConnected", inputs, names)?;
        let dtype = common_float_dtype("FullyConnected", inputs, names)?;
        let x = &inputs[0].shape;
        if x.is_empty() {
            return Err(Error::Value("FullyConnected: data must have at least 1 dimension, got a 0-d array".into()));
        }
        let (_, k) = self.matrix_shape(x);
        let w = &inputs[1].shape;
        if w.as_slice() != [self.num_hidden, k] {
            return Err(Error::Value(format!(
                "FullyConnected: weight has shape {w:?} but data of shape {x:?} with num_hidden={} and flatten={} needs ({}, {k})",
                self.num_hidden,
                py_bool(self.flatten),
                self.num_hidden
            )));
        }
        if let Some(b) = inputs.get(2) {
            if b.shape.as_slice() != [self.num_hidden] {
                return Err(Error::Value(format!(
                    "FullyConnected: bias has shape {:?} but num_hidden={} needs ({},); or pass no_bias=True",
                    b.shape, self.num_hidden, self.num_hidden
                )));
            }
        }
        Ok(vec![TensorDesc::new(self.out_shape(x), dtype)])
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (m, k) = self.matrix_shape(inputs[0].shape());
        let n = self.num_hidden;
        // SAFETY: called by the engine with `inputs` read and `outputs` written.
        unsafe {
            dispatch_float!("FullyConnected", inputs[0].dtype(), T => {
                let x = inputs[0].contiguous_data::<T>();
                let w = inputs[1].contiguous_data::<T>();
                let y = outputs[0].out_data::<T>();
                // y (m x n) = x (m x k) @ W^T (k x n) + bias. W^T is read through strides.
                let x = MatRef { data: &x, row_stride: k as isize, col_stride: 1 };
                let w = MatRef { data: &w, row_stride: 1, col_stride: k as isize };
                match inputs.get(2) {
                    Some(b) => matmul_plus_row(m, n, k, x, w, &b.contiguous_data::<T>(), y),
                    None => matmul(m, n, k, x, w, y, false, 0.0, 1.0),
                }
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
        let (m, k) = self.matrix_shape(inputs[0].shape());
        let n = self.num_hidden;
        let x = gpu::contiguous(&inputs[0])?;
        let w = gpu::contiguous(&inputs[1])?;
        let y = &outputs[0];
        // y (m x n) = x (m x k) @ W^T (k x n); W^T is read through strides.
        gpu::matmul(self.name(), &gpu::Matrix::packed(&x, m, k, false), &gpu::Matrix::packed(&w, n, k, true), 1, m, n, k, y)?;
        if let Some(b) = inputs.get(2) {
            gpu::map(self.name(), "x0 + x1", &[y, b], &[], y)?;
        }
        Ok(())
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let data_grad = g.needs_grad[0];
        let op = Arc::new(FullyConnectedBackward { fc: self.clone(), data_grad });
        let inputs = [g.out_grads[0].clone(), g.inputs[0].clone(), g.inputs[1].clone()];
        let grads = invoke(op, &inputs, None)?;
        let mut grads: Vec<Option<NDArray>> = grads.into_iter().map(Some).collect();
        if !data_grad {
            grads[0] = None;
        }
        Ok(grads)
    }

    fn attrs(&self) -> Attrs {
        FullyConnected::attrs(self)
    }
}

/// `_backward_FullyConnected(dy, x, W) -> (dx, dW[, db])`.
pub struct FullyConnectedBackward {
    fc: FullyConnected,
    /// False when the data needs no gradient (the first layer's input): dx stays zero and
    /// its product is skipped.
    data_grad: bool,
}

impl Operator for FullyConnectedBackward {
    fn name(&self) -> &'static str {
        "_backward_FullyConnected"
    }

    /// Return true: every output is written except the data gradient when it is not needed,
    /// and then `FullyConnected::backward` drops it without reading it.
    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn num_outputs(&self) -> usize {
        if self.fc.no_bias {
            2
        } else {
            3
        }
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let names = ["out_grad", "data", "weight"];
        expect_inputs(self.name(), inputs, &names)?;
        let dtype = common_float_dtype(self.name(), inputs, &names)?;
        let expected = self.fc.out_shape(&inputs[1].shape);
        if inputs[0].shape != expected {
            return Err(Error::Value(format!(
                "_backward_FullyConnected: out_grad has shape {:?}, expected {expected:?}",
                inputs[0].shape
            )));
        }
        let mut out = vec![inputs[1].clone(), inputs[2].clone()];
        if !self.fc.no_bias {
            out.push(TensorDesc::new(vec![self.fc.num_hidden], dtype));
        }
        Ok(out)
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (m, k) = self.fc.matrix_shape(inputs[1].shape());
        let n = self.fc.num_hidden;
        // SAFETY: called by the engine with `inputs` read and `outputs` written.
        unsafe {
            dispatch_float!(self.name(), inputs[0].dtype(), T => {
                let dy = inputs[0].contiguous_data::<T>();
                let x = inputs[1].contiguous_data::<T>();
                let w = inputs[2].contiguous_data::<T>();
                // dx (m x k) = dy (m x n) @ W (n x k)
                if self.data_grad {
                    matmul(
                        m, k, n,
                        MatRef { data: &dy, row_stride: n as isize, col_stride: 1 },
                        MatRef { data: &w, row_stride: k as isize, col_stride: 1 },
                        outputs[0].out_data::<T>(), false, 0.0, 1.0,
                    );
                }
                // dW (n x k) = dy^T (n x m) @ x (m x k)
                matmul(
                    n, k, m,
                    MatRef { data: &dy, row_stride: 1, col_stride: n as isize },
                    MatRef { data: &x, row_stride: k as isize, col_stride: 1 },
                    outputs[1].out_data::<T>(), false, 0.0, 1.0,
                );
                if let Some(db) = outputs.get(2) {
                    let db = db.out_data::<T>();
                    db.fill(0.0);
                    for row in dy.chunks(n) {
                        db.iter_mut().zip(row).for_each(|(d, &v)| *d += v);
                    }
                }
            });
        }
        Ok(())
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (m, k) = self.fc.matrix_shape(inputs[1].shape());
        let n = self.fc.num_hidden;
        let dy = gpu::contiguous(&inputs[0])?;
        let x = gpu::contiguous(&inputs[1])?;
        let w = gpu::contiguous(&inputs[2])?;
        let name = self.name();
        if self.data_grad {
            // dx (m x k) = dy (m x n) @ W (n x k)
            gpu::matmul(name, &gpu::Matrix::packed(&dy, m, n, false), &gpu::Matrix::packed(&w, n, k, false), 1, m, k, n, &outputs[0])?;
        }
        // dW (n x k) = dy^T (n x m) @ x (m x k)
        gpu::matmul(name, &gpu::Matrix::packed(&dy, m, n, true), &gpu::Matrix::packed(&x, m, k, false), 1, n, k, m, &outputs[1])?;
        if let Some(db) = outputs.get(2) {
            let rows = dy.with_layout(mxnet_cpu::Layout { offset: dy.layout().offset, ..mxnet_cpu::Layout::contiguous(&[m, n]) });
            gpu::reduce(name, mxnet_gpu::kernels::reduce::Reducer::Sum, &rows, &[true, false], 1.0, db)?;
        }
        Ok(())
    }

    fn attrs(&self) -> Attrs {
        self.fc.attrs()
    }
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "FullyConnected",
        aliases: &[],
        arguments: &["data", "weight", "bias"],
        params: PARAMS,
        doc: "Fully connected layer: y = x W^T + b. With flatten=True the data is reshaped to (batch, -1) first.",
        create: |attrs: &Attrs| Ok(Arc::new(FullyConnected::parse("FullyConnected", attrs)?) as Arc<dyn Operator>),
    });
    defs.push(OpDef {
        name: "_backward_FullyConnected",
        aliases: &[],
        arguments: &["out_grad", "data", "weight"],
        params: PARAMS,
        doc: "Gradients of FullyConnected with respect to data, weight and bias.",
        create: |attrs: &Attrs| {
            let fc = FullyConnected::parse("_backward_FullyConnected", attrs)?;
            Ok(Arc::new(FullyConnectedBackward { fc, data_grad: true }) as Arc<dyn Operator>)
        },
    });
}
