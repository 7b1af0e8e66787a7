//! Tile primitives of the attention kernel: a small register-blocked product
//! `C (+)= A·B` on one query × key tile, and the row operations of the online
//! softmax (scale, max, exp-and-sum, dS). One safe entry point per primitive
//! checks every bound once, then dispatches on the ISA; the scalar path is
//! always compiled and is the oracle of the tests.
//!
//! The tile product broadcasts elements of A, so A is read through arbitrary
//! (row, column) strides — a Q or K block straight from a strided (B,T,3,H,D)
//! projection, or a transposed dS tile — while B and C have unit column stride.

use crate::simd::Isa;

/// A read-only operand broadcast element by element: element (i, p) is `data[i·rs + p·cs]`.
#[derive(Clone, Copy)]
pub struct AOp<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

/// A row-major operand with unit column stride: row p starts at `data[p·ld]`.
#[derive(Clone, Copy)]
pub struct BOp<'a> {
    pub data: &'a [f32],
    pub ld: usize,
}

/// `C[m×n] = A[m×k]·B[k×n]` (or `+=` with `accumulate`); C rows start at `c[i·ldc]`.
///
/// # Shapes
/// - a: m × k through (rs, cs); b: k × n, row stride `b.ld`; c: m × n, row stride `ldc`
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    isa: Isa,
    m: usize,
    n: usize,
    k: usize,
    a: AOp<'_>,
    b: BOp<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(n <= ldc || m == 1, "tile::gemm: n {n} > ldc {ldc}");
    assert!((m - 1) * ldc + n <= c.len(), "tile::gemm: c too short");
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                c[i * ldc..i * ldc + n].fill(0.0);
            }
        }
        return;
    }
    assert!(
        (m - 1) * a.rs + (k - 1) * a.cs < a.data.len(),
        "tile::gemm: a too short"
    );
    assert!(
        (k - 1) * b.ld + n <= b.data.len(),
        "tile::gemm: b too short"
    );
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the level was detected at run time (simd::isa), and the
        // asserts above bound every index the kernel touches.
        Isa::Avx512 => unsafe { x86::gemm_avx512(m, n, k, a, b, c, ldc, accumulate) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::gemm_avx2(m, n, k, a, b, c, ldc, accumulate) },
        _ => gemm_scalar(m, n, k, a, b, c, ldc, accumulate),
    }
}

#[allow(clippy::too_many_arguments)]
fn gemm_scalar(
    m: usize,
    n: usize,
    k: usize,
    a: AOp<'_>,
    b: BOp<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    for i in 0..m {
        let crow = &mut c[i * ldc..i * ldc + n];
        if !accumulate {
            crow.fill(0.0);
        }
        for p in 0..k {
            let av = a.data[i * a.rs + p * a.cs];
            let brow = &b.data[p * b.ld..p * b.ld + n];
            for (cv, &bv) in crow.iter_mut().zip(brow) {
                *cv += av * bv;
            }
        }
    }
}

/// `x *= scale`, then returns `max(x)` (−∞ for an empty row).
pub fn scale_max(isa: Isa, x: &mut [f32], scale: f32) -> f32 {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the ISA was detected at run time; the kernel stays inside `x`.
        Isa::Avx512 => unsafe { x86::scale_max_avx512(x, scale) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::scale_max_avx2(x, scale) },
        _ => {
            let mut mx = f32::NEG_INFINITY;
            for v in x.iter_mut() {
                *v *= scale;
                mx = mx.max(*v);
            }
            mx
        }
    }
}

/// `x = exp(x − sub)` (−∞ gives exactly 0) and returns `Σ x`.
pub fn exp_sum(isa: Isa, x: &mut [f32], sub: f32) -> f32 {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the ISA was detected at run time; the kernel stays inside `x`.
        Isa::Avx512 => unsafe { x86::exp_sum_avx512(x, sub) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::exp_sum_avx2(x, sub) },
        _ => {
            let mut s = 0.0f32;
            for v in x.iter_mut() {
                *v = (*v - sub).exp();
                s += *v;
            }
            s
        }
    }
}

/// `x[i] = exp(x[i]·scale − sub[i])` (the probabilities of one key row of a
/// transposed tile, recomputed from the query rows' log-sum-exp).
pub fn exp_scaled_sub(isa: Isa, x: &mut [f32], scale: f32, sub: &[f32]) {
    let sub = &sub[..x.len()];
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the ISA was detected at run time; `sub` is at least as long as `x`.
        Isa::Avx512 => unsafe { x86::exp_scaled_sub_avx512(x, scale, sub) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::exp_scaled_sub_avx2(x, scale, sub) },
        _ => {
            for (v, &s) in x.iter_mut().zip(sub) {
                *v = (*v * scale - s).exp();
            }
        }
    }
}

/// `exp_scaled_sub` on `rows` rows of `width` elements, row r at `x[r·ld..]`,
/// in one call: a tile row is often a single vector (16 queries), so the
/// rows run back to back inside one SIMD body instead of paying a call and
/// a serial exp latency each. Same result as calling `exp_scaled_sub` per row.
pub fn exp_scaled_sub_rows(
    isa: Isa,
    x: &mut [f32],
    ld: usize,
    rows: usize,
    width: usize,
    scale: f32,
    sub: &[f32],
) {
    if rows == 0 || width == 0 {
        return;
    }
    assert!(
        width <= ld && (rows - 1) * ld + width <= x.len(),
        "tile::exp_scaled_sub_rows: x too short"
    );
    let sub = &sub[..width];
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the ISA was detected at run time; every row lies in `x`
        // (asserted above) and `sub` holds `width` elements.
        Isa::Avx512 => unsafe { x86::exp_scaled_sub_rows_avx512(x, ld, rows, width, scale, sub) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::exp_scaled_sub_rows_avx2(x, ld, rows, width, scale, sub) },
        _ => {
            for r in 0..rows {
                exp_scaled_sub(isa, &mut x[r * ld..r * ld + width], scale, sub);
            }
        }
    }
}

/// `p[i] = p[i]·(dp[i] − d[i])`: dS from P, dP and D = rowsum(dO ⊙ O).
pub fn softmax_grad(isa: Isa, p: &mut [f32], dp: &[f32], d: &[f32]) {
    let (dp, d) = (&dp[..p.len()], &d[..p.len()]);
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the ISA was detected at run time; dp and d are as long as p.
        Isa::Avx512 => unsafe { x86::softmax_grad_avx512(p, dp, d) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::softmax_grad_avx2(p, dp, d) },
        _ => {
            for ((pv, &g), &dv) in p.iter_mut().zip(dp).zip(d) {
                *pv *= g - dv;
            }
        }
    }
}

/// `Σ a[i]·b[i]`.
pub fn dot(isa: Isa, a: &[f32], b: &[f32]) -> f32 {
    let b = &b[..a.len()];
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the ISA was detected at run time; b is as long as a.
        Isa::Avx512 => unsafe { x86::dot_avx512(a, b) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::dot_avx2(a, b) },
        _ => a.iter().zip(b).map(|(x, y)| x * y).sum(),
    }
}

/// `y = alpha·y + x·w`, elementwise over `y`.
pub fn scale_axpy(isa: Isa, y: &mut [f32], alpha: f32, w: f32, x: &[f32]) {
    let x = &x[..y.len()];
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the ISA was detected at run time; x is as long as y.
        Isa::Avx512 => unsafe { x86::scale_axpy_avx512(y, alpha, w, x) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2 => unsafe { x86::scale_axpy_avx2(y, alpha, w, x) },
        _ => {
            for (yv, &xv) in y.iter_mut().zip(x) {
                *yv = alpha * *yv + w * xv;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[path = "tile_x86.rs"]
mod x86;

#[cfg(test)]
mod tests;
