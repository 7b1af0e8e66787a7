//! Batched single-precision GEMM: `C[b] = alpha · op(A[b]) · op(B[b]) + beta · C[b]`.
//!
//! Every operand is a strided view (row, column and batch strides in
//! elements), so transposes and head splits cost nothing: a transposed
//! operand is the same buffer with its row and column strides swapped. A batch
//! stride of 0 broadcasts one matrix over the batch (not allowed for C).
//! `beta == 0` means C is only written, never read (NaN in C is ignored), as
//! in BLAS.
//!
//! The fast path is a BLIS-style packed GEMM (see `driver`): cache blocks
//! from the detected cache sizes (`blocking`), packed panels (`pack`), one
//! register-blocked microkernel per ISA (`kernel_*`), chosen once from
//! `crate::simd::isa()`. `reference` is the naive oracle the tests compare with.
//!
//! # Shapes
//! - `a`: batch × (m × k), `b`: batch × (k × n), `c`: batch × (m × n)

pub mod blocking;
pub mod driver;
pub mod kernel;
#[cfg(target_arch = "x86_64")]
pub mod kernel_avx2;
#[cfg(target_arch = "x86_64")]
pub mod kernel_avx512;
#[cfg(target_arch = "aarch64")]
pub mod kernel_neon;
pub mod kernel_scalar;
#[cfg(test)]
mod kernel_tests;
pub mod pack;
pub mod packed_b;
pub mod peak;
pub mod reference;
mod scratch;

use crate::error::{check_extent, non_overlapping, KernelError, Result};
use crate::simd::{isa, Isa};

/// Strides of one operand, in elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strides {
    pub row: usize,
    pub col: usize,
    pub batch: usize,
}

impl Strides {
    /// A dense row-major `rows × cols` matrix, batches packed one after the other.
    pub fn row_major(rows: usize, cols: usize) -> Self {
        Strides {
            row: cols,
            col: 1,
            batch: rows * cols,
        }
    }

    /// The transpose view of a dense row-major `rows × cols` matrix, seen as
    /// `cols × rows` (batches packed one after the other).
    pub fn row_major_transposed(rows: usize, cols: usize) -> Self {
        Strides {
            row: 1,
            col: cols,
            batch: rows * cols,
        }
    }

    /// The same view with rows and columns swapped (the transpose).
    pub fn t(self) -> Self {
        Strides {
            row: self.col,
            col: self.row,
            batch: self.batch,
        }
    }

    /// The same view with another batch stride (0 broadcasts).
    pub fn with_batch(self, batch: usize) -> Self {
        Strides { batch, ..self }
    }
}

/// One batched GEMM problem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gemm {
    pub batch: usize,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub alpha: f32,
    pub beta: f32,
    pub a: Strides,
    pub b: Strides,
    pub c: Strides,
}

impl Gemm {
    /// `C = A·B` for dense row-major operands, one matrix each.
    pub fn new(m: usize, n: usize, k: usize) -> Self {
        Gemm {
            batch: 1,
            m,
            n,
            k,
            alpha: 1.0,
            beta: 0.0,
            a: Strides::row_major(m, k),
            b: Strides::row_major(k, n),
            c: Strides::row_major(m, n),
        }
    }

    /// Checks that every view fits its buffer and that C's elements are
    /// distinct (so parallel writes cannot race).
    pub fn validate(&self, a_len: usize, b_len: usize, c_len: usize) -> Result<()> {
        let (bt, m, n, k) = (self.batch, self.m, self.n, self.k);
        let s = |x: Strides| [x.batch, x.row, x.col];
        // Packed panels hold K × (a cache block of rows or columns) floats:
        // a K that overflows that is refused before any size wraps.
        crate::kernels::alloc::len("matmul", &[k, 1 << 14])?;
        check_extent("matmul", "a", a_len, &[bt, m, k], &s(self.a))?;
        check_extent("matmul", "b", b_len, &[bt, k, n], &s(self.b))?;
        check_extent("matmul", "c", c_len, &[bt, m, n], &s(self.c))?;
        if !non_overlapping(&[bt, m, n], &s(self.c)) {
            return Err(KernelError::shape(
                "matmul",
                format!(
                    "c: strides {:?} (batch, row, col) make distinct elements of a {bt}×{m}×{n} output overlap",
                    s(self.c)
                ),
            ));
        }
        if !self.alpha.is_finite() || !self.beta.is_finite() {
            return Err(KernelError::value(
                "matmul",
                format!(
                    "alpha, beta: expected finite values, got {} and {}",
                    self.alpha, self.beta
                ),
            ));
        }
        Ok(())
    }
}

/// True when `sgemm(g, ..)` runs entirely on the calling thread (a problem
/// too small to split), so a caller may skip entering a thread pool.
pub fn runs_serially(g: &Gemm) -> bool {
    driver::is_serial(g)
}

/// `C = alpha · op(A) · op(B) + beta · C` over the batch, in the caller's rayon pool.
pub fn sgemm(g: &Gemm, a: &[f32], b: &[f32], c: &mut [f32]) -> Result<()> {
    g.validate(a.len(), b.len(), c.len())?;
    match isa() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => driver::gemm::<kernel_avx512::Avx512>(g, a, b, c),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => driver::gemm::<kernel_avx2::Avx2>(g, a, b, c),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => driver::gemm::<kernel_neon::Neon>(g, a, b, c),
        _ => driver::gemm::<kernel_scalar::Scalar>(g, a, b, c),
    }
    Ok(())
}

#[cfg(test)]
mod tests;
