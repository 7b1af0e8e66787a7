//! The exception classes and the mapping from kernel errors to them.

use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::error::{catch, ErrorKind, KernelError};

pyo3::create_exception!(
    attnrs,
    ShapeError,
    PyValueError,
    "Shapes of the arguments do not agree."
);
pyo3::create_exception!(
    attnrs,
    DTypeError,
    PyTypeError,
    "An array has a dtype the op cannot take."
);

pub fn to_pyerr(e: KernelError) -> PyErr {
    match e.kind {
        ErrorKind::Shape => ShapeError::new_err(e.to_string()),
        ErrorKind::Value => PyValueError::new_err(e.to_string()),
        ErrorKind::Memory => PyMemoryError::new_err(e.to_string()),
        ErrorKind::Runtime => PyRuntimeError::new_err(e.to_string()),
    }
}

/// Runs a kernel call `f` with the GIL released and maps its outcome to
/// Python: a `KernelError` (returned, or carried by an unwind from a
/// failed allocation or thread-pool start) becomes its exception, and any
/// other panic a `RuntimeError` instead of a `PanicException`.
pub fn detach<R: Send>(py: Python<'_>, f: impl FnOnce() -> crate::Result<R> + Send) -> PyResult<R> {
    py.detach(|| catch(f)).map_err(to_pyerr)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ShapeError", py.get_type::<ShapeError>())?;
    m.add("DTypeError", py.get_type::<DTypeError>())?;
    Ok(())
}
