//! Neural-network layers: FullyConnected, Convolution, Pooling, activations, softmax,
//! SoftmaxOutput, BatchNorm, Dropout and Embedding. Gradients that need their own kernel go
//! through private `_backward_*` operators, which have no gradient of their own.

pub mod activation;
pub mod conv_gpu;
pub mod batch_norm;
pub mod batch_norm_gpu;
pub mod convolution;
pub mod dropout;
pub mod embedding;
pub mod fully_connected;
pub mod leaky_relu;
pub mod pooling;
pub mod softmax;
pub mod softmax_output;

use crate::attrs::AttrReader;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::operator::{OpDef, TensorDesc};

pub fn register(defs: &mut Vec<OpDef>) {
    fully_connected::register(defs);
    convolution::register(defs);
    pooling::register(defs);
    activation::register(defs);
    leaky_relu::register(defs);
    softmax::register(defs);
    softmax_output::register(defs);
    batch_norm::register(defs);
    dropout::register(defs);
    embedding::register(defs);
}

/// Check the number of inputs, naming the op and the expected inputs in the error.
pub(crate) fn expect_inputs(op: &str, inputs: &[TensorDesc], names: &[&str]) -> Result<()> {
    if inputs.len() != names.len() {
        return Err(Error::Value(format!(
            "{op}: expected {} input(s) ({}), got {}",
            names.len(),
            names.join(", "),
            inputs.len()
        )));
    }
    Ok(())
}

/// Check that every input has the float dtype of the first one and return it.
pub(crate) fn common_float_dtype(op: &str, inputs: &[TensorDesc], names: &[&str]) -> Result<DType> {
    let dtype = inputs[0].dtype;
    if !matches!(dtype, DType::Float32 | DType::Float64) {
        return Err(Error::Type(format!(
            "{op}: dtype {dtype} is not supported; this operator computes in float32 or float64, cast the input first (x.astype('float32'))"
        )));
    }
    for (desc, name) in inputs.iter().zip(names).skip(1) {
        if desc.dtype != dtype {
            return Err(Error::Type(format!(
                "{op}: {name} has dtype {} but {} has dtype {dtype}; cast them to one dtype",
                desc.dtype, names[0]
            )));
        }
    }
    Ok(dtype)
}

/// Read a per-axis tuple attribute (`stride`, `pad`, ...) for `ndim` spatial axes. An absent
/// or empty tuple gives `default` on every axis.
pub(crate) fn spatial_attr(op: &str, r: &mut AttrReader, key: &str, ndim: usize, default: usize) -> Result<Vec<usize>> {
    match r.opt::<Vec<usize>>(key)? {
        None => Ok(vec![default; ndim]),
        Some(v) if v.is_empty() => Ok(vec![default; ndim]),
        Some(v) if v.len() == ndim => Ok(v),
        Some(v) => Err(Error::Value(format!(
            "{op}: {key} {v:?} has {} values but the kernel has {ndim} spatial axes; give one value per axis",
            v.len()
        ))),
    }
}

/// `layout` attribute check: only channel-first layouts (`NCW`, `NCHW`) are implemented.
pub(crate) fn check_layout(op: &str, layout: Option<&str>, ndim: usize) -> Result<()> {
    let expected = match ndim {
        1 => "NCW",
        2 => "NCHW",
        _ => "NCDHW",
    };
    match layout {
        None => Ok(()),
        Some(l) if l == expected => Ok(()),
        Some(l) => Err(Error::Value(format!(
            "{op}: layout '{l}' is not supported for {ndim}-D kernels; use layout='{expected}' (transpose the data to channels-first)"
        ))),
    }
}
