//! Core errors as Python exceptions.

use mxnet_core::Error;
use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
use pyo3::PyErr;

pyo3::create_exception!(_native, MXNetError, pyo3::exceptions::PyException, "Error raised by the mxnet-rs core.");

/// Map a core error to the Python exception users expect.
pub fn to_py(e: Error) -> PyErr {
    match e.root() {
        Error::Value(msg) => PyValueError::new_err(msg.clone()),
        Error::Type(msg) => PyTypeError::new_err(msg.clone()),
        Error::Index(msg) => PyIndexError::new_err(msg.clone()),
        other => MXNetError::new_err(other.to_string()),
    }
}

pub trait IntoPyResult<T> {
    fn py(self) -> pyo3::PyResult<T>;
}

impl<T> IntoPyResult<T> for mxnet_core::Result<T> {
    fn py(self) -> pyo3::PyResult<T> {
        self.map_err(to_py)
    }
}

/// Run `f`, turning a Rust panic into `MXNetError` so it never unwinds into Python.
pub fn guarded<T>(f: impl FnOnce() -> mxnet_core::Result<T>) -> pyo3::PyResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result.py(),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(MXNetError::new_err(format!("internal error (Rust panic): {msg}; please report this as a bug")))
        }
    }
}
