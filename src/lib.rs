//! attnrs: CPU deep-learning kernels for sequence models.
//!
//! The pure-Rust core (`kernels`, `simd`, `threads`) builds and tests with plain
//! `cargo test`; the PyO3 bindings in `py` are compiled only with the `python`
//! feature, which maturin enables.

pub mod error;
pub mod kernels;
pub mod simd;
pub mod threads;

#[cfg(feature = "python")]
mod py;

pub use error::{KernelError, Result};
