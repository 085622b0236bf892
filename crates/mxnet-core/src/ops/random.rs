//! Random sampling: `_random_uniform`, `_random_normal`, `_random_randint` and `_shuffle`.
//!
//! Each call draws a seed from the global generator (`mx.random.seed`) when it is made. The
//! kernel builds its own generator from that seed, so the values depend only on the seed and
//! the order of calls, not on when the engine runs the kernels. Invalid distribution
//! parameters fail inside the kernel, as in MXNet 1.9.1: the error surfaces at the next wait
//! on the output (or on an array computed from it).

use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::attrs::{tuple_string, AttrReader, Attrs};
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::ndarray::{check_shape, NDArray};
use crate::operator::{OpContext, OpDef, Operator, TensorDesc};
use crate::random::kernel_rng;
use crate::{dispatch_all, dispatch_float};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Sampler {
    Uniform { low: f64, high: f64 },
    Normal { loc: f64, scale: f64 },
    RandInt { low: i64, high: i64 },
}

/// Draws an array of `shape` from one distribution.
pub struct Sample {
    name: &'static str,
    sampler: Sampler,
    shape: Vec<usize>,
    dtype: DType,
}

impl Operator for Sample {
    fn name(&self) -> &'static str {
        self.name
    }

    fn infer(&self, _inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        Ok(vec![TensorDesc::new(self.shape.clone(), self.dtype)])
    }

    fn differentiable(&self) -> bool {
        false
    }

    fn is_random(&self) -> bool {
        true
    }

    fn forward(&self, ctx: &OpContext, _inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let out = &outputs[0];
        let mut rng = kernel_rng(ctx.seed);
        // SAFETY: called by the engine with `out` written.
        unsafe {
            match self.sampler {
                Sampler::Uniform { low, high } => {
                    if low.is_nan() || high.is_nan() || low > high {
                        return Err(Error::MXNet(format!(
                            "{}: low must be less than or equal to high in uniform distribution, got low={low} high={high}",
                            self.name
                        )));
                    }
                    dispatch_float!(self.name, out.dtype(), T => {
                        // Sample in the output type so rounding cannot produce `high`.
                        let (lo, hi) = (T::from_f64(low), T::from_f64(high));
                        if !(hi - lo).is_finite() {
                            return Err(Error::MXNet(format!(
                                "{}: the range [{low}, {high}) is not finite in {}; pass finite bounds closer together",
                                self.name,
                                out.dtype()
                            )));
                        }
                        let dst = out.out_data::<T>();
                        if lo == hi {
                            // `Uniform::new` needs low < high; an empty range gives `low` everywhere.
                            dst.iter_mut().for_each(|v| *v = lo);
                        } else {
                            let dist = Uniform::new(lo, hi);
                            dst.iter_mut().for_each(|v| *v = dist.sample(&mut rng));
                        }
                    });
                }
                Sampler::Normal { loc, scale } => {
                    // The message is MXNet 1.9.1's, so code that matches on it keeps working.
                    let dist = Normal::new(loc, scale)
                        .ok()
                        .filter(|_| scale >= 0.0)
                        .ok_or_else(|| Error::MXNet(format!(
                            "{}: scale parameter in gaussian has to be positive, got scale={scale}",
                            self.name
                        )))?;
                    dispatch_float!(self.name, out.dtype(), T => {
                        for v in out.out_data::<T>() {
                            *v = T::from_f64(dist.sample(&mut rng));
                        }
                    });
                }
                Sampler::RandInt { low, high } => {
                    if low >= high {
                        return Err(Error::MXNet(format!(
                            "{}: low must be less than high, got low={low} high={high}",
                            self.name
                        )));
                    }
                    match out.dtype() {
                        DType::Int32 => out.out_data::<i32>().iter_mut().for_each(|v| *v = rng.gen_range(low..high) as i32),
                        DType::Int64 => out.out_data::<i64>().iter_mut().for_each(|v| *v = rng.gen_range(low..high)),
                        other => {
                            return Err(Error::Type(format!(
                                "{}: dtype {other} is not supported; use int32 or int64",
                                self.name
                            )))
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn attrs(&self) -> Attrs {
        let mut a: Attrs = match self.sampler {
            Sampler::Uniform { low, high } => vec![("low".into(), low.to_string()), ("high".into(), high.to_string())],
            Sampler::Normal { loc, scale } => vec![("loc".into(), loc.to_string()), ("scale".into(), scale.to_string())],
            Sampler::RandInt { low, high } => vec![("low".into(), low.to_string()), ("high".into(), high.to_string())],
        };
        a.push(("shape".into(), tuple_string(&self.shape)));
        a.push(("dtype".into(), self.dtype.name().into()));
        a
    }
}

/// Read `shape`, `dtype` and `ctx`; an absent or empty shape means `(1,)`, as MXNet's legacy
/// arrays have no 0-d form.
fn parse_common(name: &'static str, r: &mut AttrReader, default_dtype: DType, allowed: &[DType]) -> Result<(Vec<usize>, DType)> {
    let shape = check_shape(name, &r.get::<Vec<i64>>("shape", vec![])?)?;
    let shape = if shape.is_empty() { vec![1] } else { shape };
    let dtype = r.get("dtype", default_dtype)?;
    if !allowed.contains(&dtype) {
        let names: Vec<&str> = allowed.iter().map(|d| d.name()).collect();
        return Err(Error::Type(format!("{name}: dtype {dtype} is not supported; use one of {}", names.join(", "))));
    }
    r.ignore(&["ctx"]);
    Ok((shape, dtype))
}

const FLOATS: &[DType] = &[DType::Float32, DType::Float64];

/// Randomly permutes the array along its first axis.
pub struct Shuffle;

impl Operator for Shuffle {
    fn name(&self) -> &'static str {
        "_shuffle"
    }

    fn infer(&self, inputs: &[TensorDesc]) -> Result<Vec<TensorDesc>> {
        let [x] = inputs else {
            return Err(Error::Value(format!("_shuffle: expected 1 input, got {}", inputs.len())));
        };
        Ok(vec![x.clone()])
    }

    fn differentiable(&self) -> bool {
        false
    }

    fn is_random(&self) -> bool {
        true
    }

    fn supports_gpu(&self) -> bool {
        true
    }

    /// The same permutation as on the CPU (drawn on the host from the call's seed), applied on
    /// the device as a `take` of rows.
    fn forward_gpu(&self, ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let rows = x.shape().first().copied().unwrap_or(1);
        let mut order: Vec<usize> = (0..rows).collect();
        order.shuffle(&mut kernel_rng(ctx.seed));
        let order: Vec<i32> = order.into_iter().map(|r| r as i32).collect();
        let host = NDArray::from_vec(&[rows], order)?;
        let index = NDArray::for_overwrite(&[rows], crate::DType::Int32, x.context())?;
        crate::gpu::copy(&host, &index)?;
        // The rows are gathered from a copy, so an output that aliases the input is safe too.
        let source = NDArray::for_overwrite(x.shape(), x.dtype(), x.context())?;
        crate::gpu::copy(x, &source)?;
        let shape = if x.ndim() == 0 { vec![1] } else { x.shape().to_vec() };
        crate::ops::indexing::gpu_take("_shuffle", crate::ops::indexing::IndexMode::Clip, &shape, 0, &source, &index, false, out)
    }

    fn forward(&self, ctx: &OpContext, inputs: &[NDArray], outputs: &[NDArray]) -> Result<()> {
        let (x, out) = (&inputs[0], &outputs[0]);
        let rows = x.shape().first().copied().unwrap_or(1);
        let row_len = x.size().checked_div(rows).unwrap_or(0);
        let mut order: Vec<usize> = (0..rows).collect();
        order.shuffle(&mut kernel_rng(ctx.seed));
        // SAFETY: called by the engine with `x` read and `out` written. The input is copied
        // before the output is written, so an output that aliases the input is safe too.
        unsafe {
            dispatch_all!(x.dtype(), T => {
                let src = x.contiguous_data::<T>().into_owned();
                let dst = out.out_data::<T>();
                for (i, &from) in order.iter().enumerate() {
                    dst[i * row_len..(i + 1) * row_len].copy_from_slice(&src[from * row_len..(from + 1) * row_len]);
                }
            });
        }
        Ok(())
    }
}

pub fn register(defs: &mut Vec<OpDef>) {
    defs.push(OpDef {
        name: "_random_uniform",
        aliases: &["random_uniform", "uniform"],
        arguments: &[],
        params: &["low", "high", "shape", "ctx", "dtype"],
        doc: "Samples from the uniform distribution on [low, high).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("_random_uniform", attrs);
            let low = r.get("low", 0.0)?;
            let high = r.get("high", 1.0)?;
            let (shape, dtype) = parse_common("_random_uniform", &mut r, DType::Float32, FLOATS)?;
            r.finish(&["low", "high", "shape", "ctx", "dtype"])?;
            let sampler = Sampler::Uniform { low, high };
            Ok(Arc::new(Sample { name: "_random_uniform", sampler, shape, dtype }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "_random_normal",
        aliases: &["random_normal", "normal"],
        arguments: &[],
        params: &["loc", "scale", "shape", "ctx", "dtype"],
        doc: "Samples from the normal distribution N(loc, scale^2).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("_random_normal", attrs);
            let loc = r.get("loc", 0.0)?;
            let scale = r.get("scale", 1.0)?;
            let (shape, dtype) = parse_common("_random_normal", &mut r, DType::Float32, FLOATS)?;
            r.finish(&["loc", "scale", "shape", "ctx", "dtype"])?;
            let sampler = Sampler::Normal { loc, scale };
            Ok(Arc::new(Sample { name: "_random_normal", sampler, shape, dtype }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "_random_randint",
        aliases: &["random_randint"],
        arguments: &[],
        params: &["low", "high", "shape", "ctx", "dtype"],
        doc: "Samples integers uniformly from [low, high).",
        create: |attrs: &Attrs| {
            let mut r = AttrReader::new("_random_randint", attrs);
            let low = r.required::<i64>("low")?;
            let high = r.required::<i64>("high")?;
            let (shape, dtype) = parse_common("_random_randint", &mut r, DType::Int32, &[DType::Int32, DType::Int64])?;
            r.finish(&["low", "high", "shape", "ctx", "dtype"])?;
            let sampler = Sampler::RandInt { low, high };
            Ok(Arc::new(Sample { name: "_random_randint", sampler, shape, dtype }) as Arc<dyn Operator>)
        },
    });
    defs.push(OpDef {
        name: "_shuffle",
        aliases: &["shuffle"],
        arguments: &["data"],
        params: &[],
        doc: "Randomly permutes the array along its first axis.",
        create: |attrs: &Attrs| {
            AttrReader::new("_shuffle", attrs).finish(&[])?;
            Ok(Arc::new(Shuffle) as Arc<dyn Operator>)
        },
    });
}
