//! The mxnet-rs core: NDArray, the operator registry and definitions, imperative execution
//! and autograd.

pub mod attrs;
pub mod autograd;
pub mod context;
pub mod dtype;
pub mod error;
pub mod executor;
pub mod fork;
pub mod gpu;
pub mod imperative;
pub mod ndarray;
pub mod operator;
pub mod ops;
pub mod pool;
pub mod profiler;
pub mod random;
pub mod registry;
pub mod storage;
mod widen;

pub use attrs::{AttrReader, Attrs};
pub use context::Context;
pub use dtype::{DType, Element};
pub use error::{Error, Result};
pub use imperative::{call, call1, invoke, invoke_for_user, try_invoke_quick, Views};
pub use ndarray::NDArray;
pub use operator::{GradContext, OpContext, OpDef, Operator, TensorDesc};
pub use registry::Registry;
pub use mxnet_cpu::Layout;

/// Return the process-wide dependency engine. Its operations run on the kernel thread pool
/// (`mxnet_cpu::parallel`), so operations and parallel kernels share one set of threads.
pub fn engine() -> &'static mxnet_engine::Engine {
    mxnet_engine::Engine::get_or_init(mxnet_cpu::parallel::spawn)
}
