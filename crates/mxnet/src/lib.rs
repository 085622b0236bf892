pub use mxnet_core::*;
pub use mxnet_engine as engine;
