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

#[pyfunction]
pub(super) fn set_num_threads(n: i64) -> PyResult<()> {
    if n < 1 {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "set_num_threads: n: expected an integer >= 1, got {n}"
        )));
    }
    threads::set_num_threads(n as usize).map_err(super::to_pyerr)
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
    Ok(py.detach(|| crate::kernels::gemm::peak::concurrent_gflops(threads as usize, budget)))
}

#[pyfunction]
pub(super) fn get_num_threads() -> usize {
    threads::num_threads()
}
