//! CPU kernels. Kernels work on plain slices plus a [`Layout`] (shape, strides, offset in
//! elements); they know nothing about NDArrays, the engine or autograd.

pub mod gemm;
pub mod layout;
pub mod math;
pub mod reduce;
pub mod scratch;
pub mod nn;
pub mod parallel;
pub mod simd;
pub mod strided;

pub use layout::Layout;
