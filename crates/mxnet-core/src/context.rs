//! Device contexts.

/// Where an array lives: host memory, or the memory of the i-th wgpu adapter (`mxnet-gpu`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    Cpu(u32),
    Gpu(u32),
}

impl Context {
    pub fn cpu() -> Context {
        Context::Cpu(0)
    }

    /// MXNet's device type code: 1 for CPU, 2 for GPU.
    pub fn device_type(self) -> i32 {
        match self {
            Context::Cpu(_) => 1,
            Context::Gpu(_) => 2,
        }
    }

    pub fn is_gpu(self) -> bool {
        matches!(self, Context::Gpu(_))
    }

    pub fn device_id(self) -> u32 {
        match self {
            Context::Cpu(i) | Context::Gpu(i) => i,
        }
    }
}

impl std::fmt::Display for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Context::Cpu(i) => write!(f, "cpu({i})"),
            Context::Gpu(i) => write!(f, "gpu({i})"),
        }
    }
}
