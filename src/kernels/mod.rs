//! Pure-Rust kernels: no pyo3 here. Every kernel takes slices plus a small
//! params struct, checks shapes before any unchecked indexing, and runs in
//! whatever rayon pool the caller installed (see `crate::threads`).

pub mod activation;
pub mod alloc;
pub mod attention;
pub mod block;
pub mod conv1d;
pub mod embedding;
pub mod gemm;
pub mod grad_norm;
pub mod linear;
pub mod lm_decode;
pub mod loss;
pub mod multi_tensor;
pub mod norm;
pub mod optim;
pub mod rnn;
mod rows;
pub mod softmax;
#[cfg(test)]
mod test_util;
