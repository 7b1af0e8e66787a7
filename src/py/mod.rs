//! PyO3 bindings: validate → release the GIL → call `kernels::…` → wrap.
//! No arithmetic lives here. One file per op family (the names of
//! `attnrs.ops` and `src/kernels/`); shape/stride checks, slices and the call
//! into the pool live in `array.rs`. Each submodule registers its own functions.

mod activation;
mod array;
mod attention;
mod conv1d;
mod embedding;
mod errors;
mod gemm;
mod linear;
mod loss;
mod norm;
mod optim;
mod rnn;
mod runtime;
mod softmax;

use pyo3::prelude::*;

pub use errors::to_pyerr;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    runtime::register(m)?;
    gemm::register(m)?;
    attention::register(m)?;
    conv1d::register(m)?;
    softmax::register(m)?;
    loss::register(m)?;
    norm::register(m)?;
    activation::register(m)?;
    embedding::register(m)?;
    optim::register(m)?;
    linear::register(m)?;
    rnn::register(m)?;
    Ok(())
}
