//! Build and runtime facts: ISA in use, thread pool.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::{simd, threads};

#[pyfunction]
fn info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("version", env!("CARGO_PKG_VERSION"))?;
    d.set_item("isa", simd::isa().name())?;
    d.set_item(
        "isa_available",
        simd::available()
            .iter()
            .map(|l| l.name())
            .collect::<Vec<_>>(),
    )?;
    d.set_item("threads", threads::num_threads())?;
    d.set_item("arch", std::env::consts::ARCH)?;
    d.set_item("debug_build", cfg!(debug_assertions))?;
    Ok(d)
}

#[pyfunction]
fn set_num_threads(n: i64) -> PyResult<()> {
    if n < 1 {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "set_num_threads: n: expected an integer >= 1, got {n}"
        )));
    }
    threads::set_num_threads(n as usize).map_err(super::to_pyerr)
}

#[pyfunction]
fn get_num_threads() -> usize {
    threads::num_threads()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(info, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    Ok(())
}
