//! The two GEMM anchors (`gemm` and `matrixmultiply` crates) on `batch`
//! dense row-major problems `C[q] = A[q]·B[q]`, the same problem for attnrs,
//! and the A/B probes' command line; shared by `benches/rust/gemm.rs`,
//! `benches/probes/gemm_ab.rs` and `linear_ab.rs`, so they all time exactly
//! the same calls.

#![allow(dead_code)] // each bench or probe that includes this file uses its own subset

use attnrs::kernels::gemm::{Gemm, Strides};

/// The attnrs problem the anchors solve: `batch` dense row-major `C = A·B`.
pub fn attnrs_problem(batch: usize, m: usize, n: usize, k: usize) -> Gemm {
    Gemm {
        batch,
        a: Strides::row_major(m, k),
        b: Strides::row_major(k, n),
        c: Strides::row_major(m, n),
        ..Gemm::new(m, n, k)
    }
}

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
        let (aq, bq) = (&a[q * m * k..], &b[q * k * n..]);
        gemm_strided(
            m,
            n,
            k,
            (aq, k, 1),
            (bq, n, 1),
            &mut c[q * m * n..(q + 1) * m * n],
            par,
        );
    }
}

/// `C = A·B` with the `gemm` crate, one problem: A and B given as (slice, row
/// stride, column stride) in elements, C dense row-major.
///
/// # Shapes
/// - a: an m×k view, b: a k×n view, c: m·n
pub fn gemm_strided(
    m: usize,
    n: usize,
    k: usize,
    a: (&[f32], usize, usize),
    b: (&[f32], usize, usize),
    c: &mut [f32],
    par: gemm::Parallelism,
) {
    let holds = |s: &[f32], rows: usize, cols: usize, rs: usize, cs: usize| {
        rows == 0 || cols == 0 || s.len() > (rows - 1) * rs + (cols - 1) * cs
    };
    assert!(holds(a.0, m, k, a.1, a.2) && holds(b.0, k, n, b.1, b.2) && c.len() >= m * n);
    // SAFETY: the assert above: each buffer holds its view.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.0.as_ptr(),
            a.2 as isize,
            a.1 as isize,
            b.0.as_ptr(),
            b.2 as isize,
            b.1 as isize,
            0.0f32,
            1.0f32,
            false,
            false,
            false,
            par,
        )
    }
}

/// The A/B probes' command line, `[threads] [rounds] [shape of N numbers]...`:
/// the thread count, the rounds and the shapes (`defaults` when none is given).
pub fn probe_args<const N: usize>(
    threads: usize,
    rounds: usize,
    defaults: &[[usize; N]],
) -> (usize, usize, Vec<[usize; N]>) {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|s| s.parse().ok())
        .collect();
    let mut shapes: Vec<[usize; N]> = args[2.min(args.len())..]
        .chunks_exact(N)
        .map(|c| c.try_into().unwrap())
        .collect();
    if shapes.is_empty() {
        shapes = defaults.to_vec();
    }
    let threads = args.first().copied().unwrap_or(threads);
    (threads, args.get(1).copied().unwrap_or(rounds), shapes)
}

/// `MATMUL_NUM_THREADS`, set to 1 first unless it is already set
/// (`matrixmultiply` reads it once per process). Call it before any other
/// thread exists.
pub fn matmul_num_threads() -> usize {
    if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
        // SAFETY: no other thread exists yet (the caller's contract).
        unsafe { std::env::set_var("MATMUL_NUM_THREADS", "1") };
    }
    std::env::var("MATMUL_NUM_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
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
