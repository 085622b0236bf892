//! Array creation: `_zeros`, `_ones`, `_full`, `_arange`, `zeros_like`, `ones_like`.

use std::sync::Arc;

use crate::attrs::{tuple_string, AttrReader, Attrs};
use crate::dispatch_all;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::imperative::call1;
use crate::ndarray::{check_shape, checked_size, NDArray};
use crate::operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};

/// Fill an output with one value (`_zeros`, `_ones`, `_full`, and the `*_like` forms).
pub struct Fill {
    name: &'static str,
    /// `None` for the `*_like` forms, which take the input's shape.
    shape: Option<Vec<usize>>,
    dtype: Option<DType>,
    value: f64,
}

impl Operator for Fill {
    fn name(&self) -> &'static str {
        self.name
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        match (&self.shape, inputs.first()) {
            (Some(shape), _) => Ok(vec![TensorDesc::new(shape.clone(), self.dtype.unwrap_or(DType::Float32))]),
            (None, Some(x)) => Ok(vec![TensorDesc::new(x.shape.clone(), self.dtype.unwrap_or(x.dtype))]),
            (None, None) => Err(Error::Value(format!("{}: expected 1 input", self.name))),
        }
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    fn forward_gpu(&self, _ctx: &OpContext, _inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let out = &outputs[0];
        use mxnet_gpu::kernels::elementwise::int_scalar;
        match crate::gpu::elem(self.name, out.dtype())? {
            mxnet_gpu::Elem::F32 => crate::gpu::map(self.name, "s0", &[], &[self.value as f32], out),
            _ => crate::gpu::map(self.name, "si0", &[], &[int_scalar(self.value as i64 as i32)], out),
        }
    }

    fn forward(&self, _ctx: &OpContext, _inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let out = &outputs[0];
        // SAFETY: called by the engine with `out` written.
        unsafe {
            dispatch_all!(out.dtype(), T => {
                let v = T::from_scalar(self.value);
                mxnet_cpu::parallel::fill(out.out_data::<T>(), v);
            });
        }
        Ok(())
    }

    fn overwrites_outputs(&self) -> bool {
        true
    }

    fn backward(&self, g: &GradContext) -> Result<Vec<Option<NDArray>>> {
        // `zeros_like(x)` does not depend on x's values: its gradient is zero.
        g.inputs.iter().map(|x| call1("zeros_like", &[x], &[]).map(Some)).collect()
    }

    /// The `*_like` forms are recorded, as in MXNet 1.9.1, so that `backward` from their
    /// output gives the input a zero gradient instead of failing.
    fn differentiable(&self) -> bool {
        self.shape.is_none()
    }

    fn attrs(&self) -> Attrs {
        let mut a = Attrs::new();
        if let Some(s) = &self.shape {
            a.push(("shape".into(), tuple_string(s)));
        }
        if let Some(d) = self.dtype {
            a.push(("dtype".into(), d.name().into()));
        }
        if self.name == "_full" {
            a.push(("value".into(), self.value.to_string()));
        }
        a
    }
}

fn parse_fill(name: &'static str, attrs: &Attrs, value: Option<f64>, like: bool) -> Result<Arc<dyn Operator>> {
    let mut r = AttrReader::new(name, attrs);
    let shape = if like { None } else { Some(check_shape(name, &r.get::<Vec<i64>>("shape", vec![])?)?) };
    let dtype = r.opt::<DType>("dtype")?;
    let value = match value {
        Some(v) => v,
        None => r.required::<f64>("value")?,
    };
    r.ignore(&["ctx"]);
    r.finish(&["shape", "dtype", "ctx", "value"])?;
    Ok(Arc::new(Fill { name, shape, dtype, value }))
}

/// `_arange(start, stop, step, repeat, dtype)`.
pub struct Arange {
    start: f64,
    stop: Option<f64>,
    step: f64,
    repeat: usize,
    dtype: DType,
}

impl Arange {
    fn len(&self) -> Result<usize> {
        let (start, stop) = match self.stop {
            Some(stop) => (self.start, stop),
            None => (0.0, self.start),
        };
        if self.step == 0.0 {
            return Err(Error::Value("arange: step must not be 0".into()));
        }
        let n = ((stop - start) / self.step).ceil();
        Ok(if n > 0.0 { n as usize } else { 0 })
    }
}

impl Operator for Arange {
    fn name(&self) -> &'static str {
        "_arange"
    }

    fn infer(&self, _inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        Ok(vec![TensorDesc::new(vec![checked_size("_arange", self.len()?, self.repeat)?], self.dtype)])
    }

    fn forward(&self, _ctx: &OpContext, _inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let start = if self.stop.is_some() { self.start } else { 0.0 };
        let out = &outputs[0];
        // SAFETY: called by the engine with `out` written.
        unsafe {
            dispatch_all!(out.dtype(), T => {
                if T::INTEGER {
                    // As MXNet: start and step truncated to integers, then integer arithmetic
                    // that wraps to the dtype (`arange(0, 10, 2.5, dtype='int32')` is 0, 2, 4,
                    // 6 and `arange(120, 130, dtype='int8')` passes 127 to -128).
                    let (first, step) = (start as i64, self.step as i64);
                    for (i, x) in out.out_data::<T>().iter_mut().enumerate() {
                        *x = T::from_i64_wrapping(first.wrapping_add(((i / self.repeat) as i64).wrapping_mul(step)));
                    }
                } else {
                    for (i, x) in out.out_data::<T>().iter_mut().enumerate() {
                        *x = T::from_f64(start + (i / self.repeat) as f64 * self.step);
                    }
                }
            });
        }
        Ok(())
    }

    fn differentiable(&self) -> bool {
        false
    }
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "_zeros",
        aliases: &[],
        arguments: &[],
        params: &["shape", "ctx", "dtype"],
        doc: "An array of zeros.",
        create: |a: &Attrs| parse_fill("_zeros", a, Some(0.0), false),
    });
    defs.push(OpDef {
        name: "_ones",
        aliases: &[],
        arguments: &[],
        params: &["shape", "ctx", "dtype"],
        doc: "An array of ones.",
        create: |a: &Attrs| parse_fill("_ones", a, Some(1.0), false),
    });
    defs.push(OpDef {
        name: "_full",
        aliases: &[],
        arguments: &[],
        params: &["shape", "ctx", "dtype", "value"],
        doc: "An array filled with `value`.",
        create: |a: &Attrs| parse_fill("_full", a, None, false),
    });
    defs.push(OpDef {
        name: "zeros_like",
        aliases: &[],
        arguments: &["data"],
        params: &[],
        doc: "Zeros with the shape and dtype of the input.",
        create: |a: &Attrs| parse_fill("zeros_like", a, Some(0.0), true),
    });
    defs.push(OpDef {
        name: "ones_like",
        aliases: &[],
        arguments: &["data"],
        params: &[],
        doc: "Ones with the shape and dtype of the input.",
        create: |a: &Attrs| parse_fill("ones_like", a, Some(1.0), true),
    });
    defs.push(OpDef {
        name: "_arange",
        aliases: &[],
        arguments: &[],
        params: &["start", "stop", "step", "repeat", "infer_range", "ctx", "dtype"],
        doc: "Evenly spaced values in [start, stop), each repeated `repeat` times.",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("_arange", attrs);
            let start = r.get("start", 0.0)?;
            let stop = r.opt::<f64>("stop")?;
            let step = r.get("step", 1.0)?;
            let repeat = r.get("repeat", 1usize)?;
            let dtype = r.get("dtype", DType::Float32)?;
            r.ignore(&["ctx", "infer_range"]);
            r.finish(&["start", "stop", "step", "repeat", "dtype", "ctx"])?;
            if repeat == 0 {
                return Err(Error::Value("arange: repeat must be at least 1".into()));
            }
            Ok(Arc::new(Arange { start, stop, step, repeat, dtype }) as Arc<dyn Operator>)
        },
    });
}
