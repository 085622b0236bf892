//! Device contexts.

/// Where an array lives. Only the CPU has a backend today; the GPU (wgpu) backend comes later.
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
