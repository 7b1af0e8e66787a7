//! PyO3 bindings: validate → release the GIL → call `kernels::…` → wrap.
//! No arithmetic lives here. One file per op family (the names of
//! `attnrs.ops` and `src/kernels/`); shape/stride checks, slices and the call
//! into the pool live in `array.rs`. `_core` registers the functions below.

mod activation;
mod array;
mod attention;
mod block;
mod conv1d;
mod embedding;
mod errors;
mod gemm;
mod linear;
mod lm_decode;
mod loss;
mod norm;
mod optim;
mod rnn;
mod runtime;
mod softmax;

use pyo3::prelude::*;

#[allow(unused_imports)] // for bindings that map a returned KernelError themselves
pub use errors::to_pyerr;

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    gemm::register(m)?;
    linear::register(m)?;
    lm_decode::register(m)?;
    // The rest of the `_core` API in one list, family by family.
    for f in [
        wrap_pyfunction!(runtime::info, m)?,
        wrap_pyfunction!(runtime::set_num_threads, m)?,
        wrap_pyfunction!(runtime::env_warnings, m)?,
        wrap_pyfunction!(runtime::get_num_threads, m)?,
        wrap_pyfunction!(runtime::peak_gflops, m)?,
        wrap_pyfunction!(attention::attention_forward, m)?,
        wrap_pyfunction!(attention::attention_backward, m)?,
        wrap_pyfunction!(block::transformer_block_sizes, m)?,
        wrap_pyfunction!(block::transformer_block_forward, m)?,
        wrap_pyfunction!(block::transformer_block_backward, m)?,
        wrap_pyfunction!(block::transformer_stack_forward, m)?,
        wrap_pyfunction!(block::transformer_stack_backward, m)?,
        wrap_pyfunction!(conv1d::conv1d_forward, m)?,
        wrap_pyfunction!(conv1d::conv1d_backward, m)?,
        wrap_pyfunction!(conv1d::conv1d_step, m)?,
        wrap_pyfunction!(softmax::softmax, m)?,
        wrap_pyfunction!(softmax::softmax_backward, m)?,
        wrap_pyfunction!(softmax::log_softmax, m)?,
        wrap_pyfunction!(loss::cross_entropy, m)?,
        wrap_pyfunction!(norm::layer_norm, m)?,
        wrap_pyfunction!(norm::layer_norm_backward, m)?,
        wrap_pyfunction!(activation::activation, m)?,
        wrap_pyfunction!(activation::activation_backward, m)?,
        wrap_pyfunction!(embedding::embedding, m)?,
        wrap_pyfunction!(embedding::embedding_backward, m)?,
        wrap_pyfunction!(embedding::embedding_add, m)?,
        wrap_pyfunction!(embedding::embedding_add_backward, m)?,
        wrap_pyfunction!(optim::adamw_step, m)?,
        wrap_pyfunction!(optim::adam_multi_step, m)?,
        wrap_pyfunction!(optim::total_norm2, m)?,
        wrap_pyfunction!(optim::scale_, m)?,
        wrap_pyfunction!(optim::add_, m)?,
        wrap_pyfunction!(rnn::rnn_forward, m)?,
        wrap_pyfunction!(rnn::rnn_backward, m)?,
    ] {
        m.add_function(f)?;
    }
    Ok(())
}
