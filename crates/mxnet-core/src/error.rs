//! Errors of the core, grouped by the Python exception they become.

use std::sync::Arc;

/// A core error. Each variant maps to one Python exception type; the message names the op,
/// the values involved and what to do.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Raised as `mxnet.base.MXNetError`.
    #[error("{0}")]
    MXNet(String),
    /// Raised as `ValueError` (invalid argument values, shapes that do not fit).
    #[error("{0}")]
    Value(String),
    /// Raised as `TypeError` (wrong dtype or argument type).
    #[error("{0}")]
    Type(String),
    /// Raised as `IndexError` (out-of-range index or axis in indexing).
    #[error("{0}")]
    Index(String),
    /// An error raised by an asynchronous operation and reported at a sync point.
    #[error("{0}")]
    Async(Arc<Error>),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// The innermost error, looking through errors carried by the engine.
    pub fn root(&self) -> &Error {
        match self {
            Error::Async(inner) => inner.root(),
            other => other,
        }
    }
}

/// Build an [`Error::MXNet`] with a formatted message: `mxerr!("op: {} ...", x)`.
#[macro_export]
macro_rules! mxerr {
    ($($arg:tt)*) => { $crate::Error::MXNet(format!($($arg)*)) };
}

/// Return early with an [`Error::MXNet`] unless the condition holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond { return Err($crate::Error::MXNet(format!($($arg)*))); }
    };
}

/// Convert an engine error back into a core error, keeping its kind.
pub fn from_engine(e: mxnet_engine::OpError) -> Error {
    match e.downcast_ref::<Error>() {
        Some(inner) => inner.clone(),
        None => Error::MXNet(e.to_string()),
    }
}
