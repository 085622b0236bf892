//! Joining and splitting: `Concat` (`concat`), `stack` and `SliceChannel` (`split`).
//! Each input or output is copied to or from a strided view of the larger array.

use std::sync::Arc;

use mxnet_cpu::Layout;

use super::reduce::py_bool;
use super::view::axis_index;
use crate::attrs::{AttrReader, Attrs};
use crate::error::{Error, Result};
use crate::imperative::{call, call1};
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};

/// Check that a variadic op got inputs of one dtype and, when given, `num_args` of them.
fn check_inputs(op: &str, inputs: &[TensorDesc], num_args: Option<usize>) -> Result<()> {
    if inputs.is_empty() {
        return Err(Error::Value(format!("{op}: expected at least one input array")));
    }
    if let Some(n) = num_args {
        if n != inputs.len() {
            return Err(Error::Value(format!(
                "{op}: num_args is {n} but {} input arrays were given; pass num_args equal to the number of inputs",
                inputs.len()
            )));
        }
    }
    if let Some(other) = inputs.iter().find(|x| x.dtype != inputs[0].dtype) {
        return Err(Error::Type(format!(
            "{op}: inputs have different dtypes {} and {}; cast them to one dtype first",
            inputs[0].dtype, other.dtype
        )));
    }
    Ok(())
}

/// Restrict `axis` of a layout to the part `[start, start + len)`.
fn axis_window(layout: &Layout, axis: usize, start: usize, len: usize) -> Layout {
    let mut w = layout.clone();
    w.offset = (layout.offset as isize + start as isize * layout.strides[axis]) as usize;
    w.shape[axis] = len;
    w
}

pub struct Concat {
    dim: i64,
    num_args: Option<usize>,
}

impl Operator for Concat {
    fn name(&self) -> &'static str {
        "Concat"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_inputs("Concat", inputs, self.num_args)?;
        let first = &inputs[0].shape;
        let axis = axis_index("Concat", self.dim, first.len())?;
        let mut shape = first.clone();
        shape[axis] = 0;
        for x in inputs {
            let same_rank = x.shape.len() == first.len();
            if !same_rank || (0..first.len()).any(|i| i != axis && x.shape[i] != first[i]) {
                return Err(Error::Value(format!(
                    "Concat: input shapes {:?} and {:?} differ outside the concatenation axis {axis}",
                    first, x.shape
                )));
            }
            shape[axis] += x.shape[axis];
        }
        Ok(vec![TensorDesc::new(shape, inputs[0].dtype)])
    }

    super::gpu_through_copies!();

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let out = &outputs[0];
        let axis = axis_index("Concat", self.dim, out.ndim())?;
        let mut start = 0;
        for x in inputs {
            let len = x.shape()[axis];
            super::copy::copy_kernel(x, &out.with_layout(axis_window(out.layout(), axis, start, len)))?;
            start += len;
        }
        Ok(())
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let dy = &g.out_grads[0];
        let axis = axis_index("Concat", self.dim, dy.ndim())?;
        let mut start = 0;
        let mut grads = Vec::with_capacity(g.inputs.len());
        for x in g.inputs {
            let len = x.shape()[axis];
            let attrs = [
                ("axis", axis.to_string()),
                ("begin", start.to_string()),
                ("end", (start + len).to_string()),
            ];
            grads.push(Some(call1("slice_axis", &[dy], &attrs)?));
            start += len;
        }
        Ok(grads)
    }

    fn attrs(&self) -> Attrs {
        let mut a = vec![("dim".into(), self.dim.to_string())];
        if let Some(n) = self.num_args {
            a.push(("num_args".into(), n.to_string()));
        }
        a
    }
}

pub struct Stack {
    axis: i64,
    num_args: Option<usize>,
}

impl Operator for Stack {
    fn name(&self) -> &'static str {
        "stack"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        check_inputs("stack", inputs, self.num_args)?;
        let first = &inputs[0].shape;
        if let Some(x) = inputs.iter().find(|x| &x.shape != first) {
            return Err(Error::Value(format!(
                "stack: all inputs must have the same shape, got {:?} and {:?}",
                first, x.shape
            )));
        }
        let axis = axis_index("stack", self.axis, first.len() + 1)?;
        let mut shape = first.clone();
        shape.insert(axis, inputs.len());
        Ok(vec![TensorDesc::new(shape, inputs[0].dtype)])
    }

    super::gpu_through_copies!();

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let out = &outputs[0];
        let axis = axis_index("stack", self.axis, out.ndim())?;
        for (i, x) in inputs.iter().enumerate() {
            let mut w = axis_window(out.layout(), axis, i, 1);
            w.shape.remove(axis);
            w.strides.remove(axis);
            super::copy::copy_kernel(x, &out.with_layout(w))?;
        }
        Ok(())
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let dy = &g.out_grads[0];
        let axis = axis_index("stack", self.axis, dy.ndim())?;
        let attrs = [
            ("num_outputs", g.inputs.len().to_string()),
            ("axis", axis.to_string()),
            ("squeeze_axis", "True".to_string()),
        ];
        Ok(call("SliceChannel", &[dy], &attrs)?.into_iter().map(Some).collect())
    }

    fn attrs(&self) -> Attrs {
        let mut a = vec![("axis".into(), self.axis.to_string())];
        if let Some(n) = self.num_args {
            a.push(("num_args".into(), n.to_string()));
        }
        a
    }
}

pub struct SliceChannel {
    num_outputs: usize,
    axis: i64,
    squeeze_axis: bool,
}

impl SliceChannel {
    /// Compute the normalised axis and the length of each part along it.
    fn plan(&self, shape: &[usize]) -> Result<(usize, usize)> {
        let axis = axis_index("SliceChannel", self.axis, shape.len())?;
        let d = shape[axis];
        if self.num_outputs == 0 {
            return Err(Error::Value(
                "SliceChannel: num_outputs must be positive, got 0; pass the number of parts to split into".into(),
            ));
        }
        if !d.is_multiple_of(self.num_outputs) {
            return Err(Error::Value(format!(
                "SliceChannel: axis {axis} of shape {shape:?} has size {d}, which does not divide into num_outputs={} equal parts",
                self.num_outputs
            )));
        }
        let part = d / self.num_outputs;
        if self.squeeze_axis && part != 1 {
            return Err(Error::Value(format!(
                "SliceChannel: squeeze_axis=True needs parts of size 1, but axis {axis} of shape {shape:?} splits into parts of size {part}"
            )));
        }
        Ok((axis, part))
    }
}

impl Operator for SliceChannel {
    fn name(&self) -> &'static str {
        "SliceChannel"
    }

    fn num_outputs(&self) -> usize {
        self.num_outputs
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let x = &inputs[0];
        let (axis, part) = self.plan(&x.shape)?;
        let mut shape = x.shape.clone();
        shape[axis] = part;
        if self.squeeze_axis {
            shape.remove(axis);
            // MXNet 1.x has no 0-d arrays: splitting a 1-D array with squeeze gives shape (1,).
            if shape.is_empty() {
                shape.push(1);
            }
        }
        Ok(vec![TensorDesc::new(shape, x.dtype); self.num_outputs])
    }

    super::gpu_through_copies!();

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let x = &inputs[0];
        let (axis, part) = self.plan(x.shape())?;
        for (j, out) in outputs.iter().enumerate() {
            let src = x.with_layout(axis_window(x.layout(), axis, j * part, part));
            // The part and the (possibly squeezed) output hold the same elements in row-major order.
            let dst = out.with_layout(Layout { offset: out.layout().offset, ..Layout::contiguous(src.shape()) });
            super::copy::copy_kernel(&src, &dst)?;
        }
        Ok(())
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let x = &g.inputs[0];
        let (axis, part) = self.plan(x.shape())?;
        let mut part_shape = x.shape().to_vec();
        part_shape[axis] = part;
        let parts: Vec<NDArray> = g
            .out_grads
            .iter()
            .map(|dy| super::axes::reshape_to(dy, &part_shape))
            .collect::<Result<_>>()?;
        let refs: Vec<&NDArray> = parts.iter().collect();
        let dx = call1("Concat", &refs, &[("dim", axis.to_string())])?;
        Ok(vec![Some(dx)])
    }

    fn attrs(&self) -> Attrs {
        vec![
            ("num_outputs".into(), self.num_outputs.to_string()),
            ("axis".into(), self.axis.to_string()),
            ("squeeze_axis".into(), py_bool(self.squeeze_axis)),
        ]
    }
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "Concat",
        aliases: &["concat"],
        arguments: &["*data"],
        params: &["dim", "num_args"],
        doc: "Join arrays along an existing axis `dim` (default 1).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("Concat", attrs);
            let dim = r.get("dim", 1i64)?;
            let num_args = r.opt::<usize>("num_args")?;
            r.finish(&["dim", "num_args"])?;
            Ok(Arc::new(Concat { dim, num_args }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "stack",
        aliases: &[],
        arguments: &["*data"],
        params: &["axis", "num_args"],
        doc: "Join arrays of one shape along a new axis `axis` (default 0).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("stack", attrs);
            let axis = r.get("axis", 0i64)?;
            let num_args = r.opt::<usize>("num_args")?;
            r.finish(&["axis", "num_args"])?;
            Ok(Arc::new(Stack { axis, num_args }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "SliceChannel",
        aliases: &["split"],
        arguments: &["data"],
        params: &["num_outputs", "axis", "squeeze_axis"],
        doc: "Split an array into num_outputs equal parts along `axis` (default 1).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("SliceChannel", attrs);
            let num_outputs = r.required::<usize>("num_outputs")?;
            let axis = r.get("axis", 1i64)?;
            let squeeze_axis = r.get("squeeze_axis", false)?;
            r.finish(&["num_outputs", "axis", "squeeze_axis"])?;
            Ok(Arc::new(SliceChannel { num_outputs, axis, squeeze_axis }) as Arc<dyn Operator>)
        },
    });
}
