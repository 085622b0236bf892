//! `Pad` (`pad`): constant, edge and reflect padding, as numpy.pad's modes of those names, and
//! `_backward_Pad`, which sums each output gradient into the input element it was read from.
//! Every output element reads at most one input element, so both directions walk one table
//! of source indices per axis. CPU only: these kernels are not on any training hot path.

use std::sync::Arc;

use mxnet_cpu::Layout;

use crate::attrs::{tuple_string, AttrReader, Attrs};
use crate::dispatch_all;
use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::imperative::call1_with;
use crate::ndarray::NDArray;
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Constant,
    Edge,
    Reflect,
}

impl Mode {
    fn parse(op: &str, s: &str) -> Result<Mode> {
        match s {
            "constant" => Ok(Mode::Constant),
            "edge" => Ok(Mode::Edge),
            "reflect" => Ok(Mode::Reflect),
            other => Err(Error::Value(format!("{op}: invalid mode '{other}'; use 'constant', 'edge' or 'reflect'"))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Constant => "constant",
            Mode::Edge => "edge",
            Mode::Reflect => "reflect",
        }
    }
}

/// The padding of every axis: `pad_width` is `(before_0, after_0, before_1, after_1, ...)`.
#[derive(Clone, Debug)]
struct PadSpec {
    mode: Mode,
    pad_width: Vec<usize>,
}

impl PadSpec {
    fn parse(op: &'static str, r: &mut AttrReader) -> Result<PadSpec> {
        let mode = Mode::parse(op, &r.get::<String>("mode", "constant".into())?)?;
        let pad_width = r.required::<Vec<usize>>("pad_width")?;
        Ok(PadSpec { mode, pad_width })
    }

    /// Return `(before, after)` for each axis of an input of `shape`, checked against it.
    fn widths(&self, op: &str, shape: &[usize]) -> Result<Vec<(usize, usize)>> {
        if self.pad_width.len() != 2 * shape.len() {
            return Err(Error::Value(format!(
                "{op}: pad_width {} has {} entries, but an input of shape {shape:?} needs {} (before and after each axis)",
                tuple_string(&self.pad_width),
                self.pad_width.len(),
                2 * shape.len()
            )));
        }
        let widths: Vec<(usize, usize)> = self.pad_width.chunks(2).map(|w| (w[0], w[1])).collect();
        for (axis, (&n, &(before, after))) in shape.iter().zip(&widths).enumerate() {
            let padded = before > 0 || after > 0;
            if padded && n == 0 && self.mode != Mode::Constant {
                return Err(Error::Value(format!("{op}: axis {axis} is empty, so mode '{}' has nothing to repeat", self.mode.name())));
            }
            // As in MXNet 1.9.1, a reflection must be shorter than the axis, so one pass covers it.
            if self.mode == Mode::Reflect && (before >= n.max(1) || after >= n.max(1)) && padded {
                return Err(Error::Value(format!(
                    "{op}: reflect padding of ({before}, {after}) on axis {axis} of size {n} must be smaller than the axis; \
                     use mode 'edge' or pad in several steps"
                )));
            }
        }
        Ok(widths)
    }

    /// For each axis, the input index that each output index reads, or `None` for the constant.
    fn sources(&self, shape: &[usize], widths: &[(usize, usize)]) -> Vec<Vec<Option<usize>>> {
        shape
            .iter()
            .zip(widths)
            .map(|(&n, &(before, after))| {
                (0..before + n + after)
                    .map(|o| {
                        let i = o as i64 - before as i64;
                        let last = n as i64 - 1;
                        match self.mode {
                            _ if (0..n as i64).contains(&i) => Some(i as usize),
                            Mode::Constant => None,
                            Mode::Edge => Some(i.clamp(0, last) as usize),
                            Mode::Reflect if i < 0 => Some((-i) as usize),
                            Mode::Reflect => Some((2 * last - i) as usize),
                        }
                    })
                    .collect()
            })
            .collect()
    }

    fn attrs(&self) -> Attrs {
        vec![("mode".into(), self.mode.name().into()), ("pad_width".into(), tuple_string(&self.pad_width))]
    }
}

/// Call `f(output offset, source offset)` for every element of an output laid out as `out`,
/// in row-major order, where `sources` maps output to source indices per axis and `src` lays
/// out the source.
fn for_each_source(out: &Layout, src: &Layout, sources: &[Vec<Option<usize>>], mut f: impl FnMut(usize, Option<usize>)) {
    if out.size() == 0 {
        return;
    }
    let ndim = out.ndim();
    let mut index = vec![0usize; ndim];
    loop {
        let mut out_offset = out.offset as isize;
        let mut src_offset = Some(src.offset as isize);
        for axis in 0..ndim {
            out_offset += index[axis] as isize * out.strides[axis];
            src_offset = match (src_offset, sources[axis][index[axis]]) {
                (Some(s), Some(i)) => Some(s + i as isize * src.strides[axis]),
                _ => None,
            };
        }
        f(out_offset as usize, src_offset.map(|s| s as usize));
        // Advance the row-major counter; leave once the first axis wraps.
        let mut axis = ndim;
        loop {
            if axis == 0 {
                return;
            }
            axis -= 1;
            index[axis] += 1;
            if index[axis] < out.shape[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
}

/// `Pad(data, mode, pad_width, constant_value)`.
pub struct Pad {
    spec: PadSpec,
    constant_value: f64,
}

impl Operator for Pad {
    fn computes_half(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "Pad"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let x = &inputs[0];
        let widths = self.spec.widths("Pad", &x.shape)?;
        let shape = x.shape.iter().zip(&widths).map(|(&n, &(b, a))| b + n + a).collect();
        Ok(vec![TensorDesc::new(shape, x.dtype)])
    }

    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let sources = self.spec.sources(x.shape(), &self.spec.widths("Pad", x.shape())?);
        // SAFETY: called inside the engine operation that reads `x` and writes `out`.
        unsafe {
            dispatch_all!(x.dtype(), T => {
                let src = x.data::<T>();
                let dst = out.out_data::<T>();
                let constant = T::from_f64(self.constant_value);
                let base = out.layout().offset;
                for_each_source(out.layout(), x.layout(), &sources, |o, s| dst[o - base] = s.map_or(constant, |i| src[i]));
            });
        }
        Ok(())
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        let mut attrs = self.spec.attrs();
        attrs.push(("shape".into(), tuple_string(g.inputs[0].shape())));
        Ok(vec![Some(call1_with("_backward_Pad", &[&g.out_grads[0]], &attrs)?)])
    }

    fn attrs(&self) -> Attrs {
        let mut attrs = self.spec.attrs();
        attrs.push(("constant_value".into(), self.constant_value.to_string()));
        attrs
    }
}

/// `_backward_Pad(data, mode, pad_width, shape)`: the gradient of `Pad` for an input of
/// `shape`, each element the sum of the output gradients read from it.
pub struct PadBackward {
    spec: PadSpec,
    shape: Vec<usize>,
}

impl Operator for PadBackward {
    fn computes_half(&self) -> bool {
        true
    }

    fn name(&self) -> &'static str {
        "_backward_Pad"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let widths = self.spec.widths("_backward_Pad", &self.shape)?;
        let padded: Vec<usize> = self.shape.iter().zip(&widths).map(|(&n, &(b, a))| b + n + a).collect();
        if padded != inputs[0].shape {
            return Err(Error::Value(format!(
                "_backward_Pad: gradient of shape {:?} does not match the padded shape {padded:?}",
                inputs[0].shape
            )));
        }
        Ok(vec![TensorDesc::new(self.shape.clone(), inputs[0].dtype)])
    }

    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn forward(&self, _ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (dy, dx) = (&inputs[0], &outputs[0]);
        let sources = self.spec.sources(&self.shape, &self.spec.widths("_backward_Pad", &self.shape)?);
        // Sums in f64, so that edge padding, which adds many gradients into one element, loses
        // no precision in float16.
        let mut sums = vec![0f64; dx.size()];
        let packed = Layout::contiguous(&self.shape);
        // SAFETY: called inside the engine operation that reads `dy` and writes `dx`.
        unsafe {
            dispatch_all!(dy.dtype(), T => {
                let grads = dy.data::<T>();
                for_each_source(dy.layout(), &packed, &sources, |o, s| {
                    if let Some(i) = s {
                        sums[i] += grads[o].to_f64();
                    }
                });
                for (d, s) in dx.out_data::<T>().iter_mut().zip(&sums) {
                    *d = T::from_f64(*s);
                }
            });
        }
        Ok(())
    }

    /// Pad the head gradient again with zeros, for second-order gradients: both directions
    /// are linear and each is the other's transpose.
    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        Ok(vec![Some(call1_with("Pad", &[&g.out_grads[0]], &self.spec.attrs())?)])
    }

    fn attrs(&self) -> Attrs {
        let mut attrs = self.spec.attrs();
        attrs.push(("shape".into(), tuple_string(&self.shape)));
        attrs
    }
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "Pad",
        aliases: &["pad"],
        arguments: &["data"],
        params: &["mode", "pad_width", "constant_value"],
        doc: "Pad every axis by pad_width = (before_0, after_0, before_1, after_1, ...) with a constant, \
              the edge value or a reflection (numpy.pad's 'constant', 'edge' and 'reflect').",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("Pad", attrs);
            let spec = PadSpec::parse("Pad", &mut r)?;
            let constant_value = r.get("constant_value", 0.0)?;
            r.finish(&["mode", "pad_width", "constant_value"])?;
            Ok(Arc::new(Pad { spec, constant_value }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "_backward_Pad",
        aliases: &[],
        arguments: &["data"],
        params: &["mode", "pad_width", "shape"],
        doc: "Gradient of Pad: each input element sums the output gradients read from it.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("_backward_Pad", attrs);
            let spec = PadSpec::parse("_backward_Pad", &mut r)?;
            let shape = r.required::<Vec<usize>>("shape")?;
            r.finish(&["mode", "pad_width", "shape"])?;
            Ok(Arc::new(PadBackward { spec, shape }) as Arc<dyn Operator>)
        },
    });
}
