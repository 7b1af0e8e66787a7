//! The two GEMM anchors (`gemm` and `matrixmultiply` crates) on `batch`
//! dense row-major problems `C[q] = A[q]·B[q]`, shared by `benches/gemm.rs`
//! and `examples/gemm_ab.rs` so both time exactly the same calls.

/// The `gemm` crate over the batch, with its own parallelism setting.
///
/// # Shapes
/// - a: batch·m·k, b: batch·k·n, c: batch·m·n (row-major, packed)
#[allow(clippy::too_many_arguments)]
pub fn gemm_crate(
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    par: gemm::Parallelism,
) {
    assert!(a.len() >= batch * m * k && b.len() >= batch * k * n && c.len() >= batch * m * n);
    for q in 0..batch {
        // SAFETY: the asserted lengths hold `batch` row-major matrices of these sizes.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr().add(q * m * n),
                1,
                n as isize,
                false,
                a.as_ptr().add(q * m * k),
                1,
                k as isize,
                b.as_ptr().add(q * k * n),
                1,
                n as isize,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                par,
            )
        }
    }
}

/// The `matrixmultiply` crate over the batch (its threads come from `MATMUL_NUM_THREADS`).
///
/// # Shapes
/// - a: batch·m·k, b: batch·k·n, c: batch·m·n (row-major, packed)
pub fn matrixmultiply(
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
) {
    assert!(a.len() >= batch * m * k && b.len() >= batch * k * n && c.len() >= batch * m * n);
    for q in 0..batch {
        // SAFETY: the asserted lengths hold `batch` row-major matrices of these sizes.
        unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                a.as_ptr().add(q * m * k),
                k as isize,
                1,
                b.as_ptr().add(q * k * n),
                n as isize,
                1,
                0.0,
                c.as_mut_ptr().add(q * m * n),
                n as isize,
                1,
            )
        }
    }
}
