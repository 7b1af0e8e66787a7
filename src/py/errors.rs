//! The exception classes and the mapping from kernel errors to them.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::error::{ErrorKind, KernelError};

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
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("ShapeError", py.get_type::<ShapeError>())?;
    m.add("DTypeError", py.get_type::<DTypeError>())?;
    Ok(())
}
