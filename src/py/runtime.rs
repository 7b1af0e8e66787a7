//! Build and runtime facts: ISA in use, thread pool.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::{simd, threads};

#[pyfunction]
pub(super) fn info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
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

/// Sets the pool size. `n` must be an `int` (not a float: 1.5 is refused,
/// not truncated) in `1..=max_threads`; the pool starts now, and a failure
/// raises `RuntimeError` and keeps the old size.
#[pyfunction]
pub(super) fn set_num_threads(py: Python<'_>, n: &Bound<'_, PyAny>) -> PyResult<()> {
    let max = threads::max_threads();
    let range = || {
        pyo3::exceptions::PyValueError::new_err(format!(
            "set_num_threads: n: expected an integer in 1..={max}, got {n}"
        ))
    };
    if n.is_instance_of::<pyo3::types::PyBool>() || !n.is_instance_of::<pyo3::types::PyInt>() {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "set_num_threads: n: expected an int, got {} {n}",
            n.get_type().name()?
        )));
    }
    let n = n.extract::<i64>().map_err(|_| range())?;
    let n = usize::try_from(n).map_err(|_| range())?;
    super::errors::detach(py, || threads::set_num_threads(n))
}

/// The `ATTNRS_*` environment variables that were set to unusable values,
/// one message each (the package warns with them at import).
#[pyfunction]
pub(super) fn env_warnings() -> Vec<String> {
    threads::env_warnings()
}

/// GFLOP/s of `threads` cores running the GEMM microkernel together on hot
/// panels for about `seconds`: the benches' "% of peak" denominator.
#[pyfunction]
#[pyo3(signature = (threads, seconds = 0.2))]
pub(super) fn peak_gflops(py: Python<'_>, threads: i64, seconds: f64) -> PyResult<f64> {
    let ok = (1..=1024).contains(&threads) && seconds > 0.0 && seconds <= 60.0;
    if !ok {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "peak_gflops: expected 1 <= threads <= 1024 and 0 < seconds <= 60, got threads={threads}, seconds={seconds}"
        )));
    }
    let budget = std::time::Duration::from_secs_f64(seconds);
    super::errors::detach(py, || {
        Ok(crate::kernels::gemm::peak::concurrent_gflops(
            threads as usize,
            budget,
        ))
    })
}

#[pyfunction]
pub(super) fn get_num_threads() -> usize {
    threads::num_threads()
}
