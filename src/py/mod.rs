//! PyO3 bindings: validate → release the GIL → call `kernels::…` → wrap.
//! No arithmetic lives here. Each submodule registers its own functions.

mod array;
mod attention;
mod conv1d;
mod errors;
mod gemm;
mod layers;
mod linear;
mod multi_tensor;
mod rnn;
mod runtime;

use pyo3::prelude::*;

#[allow(unused_imports)] // for bindings that map a returned KernelError themselves
pub use errors::to_pyerr;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    runtime::register(m)?;
    gemm::register(m)?;
    attention::register(m)?;
    conv1d::register(m)?;
    layers::register(m)?;
    multi_tensor::register(m)?;
    linear::register(m)?;
    rnn::register(m)?;
    Ok(())
}
