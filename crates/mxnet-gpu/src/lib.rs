//! GPU kernels for mxnet-rs on wgpu (Vulkan, Metal, DX12; GL as a last resort).
//!
//! Like `mxnet-cpu`, this crate does not depend on NDArrays, the engine or autograd. Kernels
//! take device buffers plus a [`Layout`] (shape, strides and offset in elements) and record
//! their commands on the buffer's device. `backend` is the only module that calls wgpu.

pub mod backend;
pub mod kernels;
pub mod pool;

pub use backend::{
    device, forget_after_fork, is_forked_child, list_adapters, opened_devices, AdapterDesc, Device,
};
pub use mxnet_cpu::Layout;
pub use pool::{memory_usage, Buffer};

/// Failures of the GPU backend. Messages name the device and what to do.
#[derive(Debug, Clone)]
pub enum GpuError {
    /// No such adapter, or it could not be opened.
    NoDevice(String),
    OutOfMemory(String),
    /// A kernel failed to compile or was given arguments it cannot handle.
    Kernel(String),
    /// The device reported an error while running commands.
    Device(String),
}

impl std::fmt::Display for GpuError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GpuError::NoDevice(m) | GpuError::Kernel(m) | GpuError::Device(m) => f.write_str(m),
            GpuError::OutOfMemory(m) => write!(f, "out of GPU memory: {m}"),
        }
    }
}

impl std::error::Error for GpuError {}

pub type Result<T> = std::result::Result<T, GpuError>;

/// Element types kernels compute in. Other dtypes live on the device as bytes (copies and
/// transfers work) but have no kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Elem {
    F32,
    I32,
    U32,
}

impl Elem {
    /// Return the WGSL scalar type.
    pub fn wgsl(self) -> &'static str {
        match self {
            Elem::F32 => "f32",
            Elem::I32 => "i32",
            Elem::U32 => "u32",
        }
    }
}
