//! Tile primitives of the attention kernel: a small register-blocked product
//! `C (+)= A·B` on one query × key tile, and the row operations of the online
//! softmax (scale, max, exp-and-sum, dS). One safe entry point per primitive
//! checks every bound once, then dispatches on the ISA; the scalar path is
//! always compiled and is the oracle of the tests.
//!
//! The tile product broadcasts elements of A, so A is read through arbitrary
//! (row, column) strides — a Q or K block straight from a strided (B,T,3,H,D)
//! projection, or a transposed dS tile — while B and C have unit column stride.

use super::tile_simd::{
    ColReduce, Dot, DotRows, ExpSum, NegInfBefore, ScaleAxpy, ScaleMax, SoftmaxGrad,
};
pub(super) use super::tile_simd::{ExpScaledSub, Gemm, OutRows, RowMul};
use crate::simd::{dispatch_on, Isa};

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

/// Which products of a tile product can be nonzero, when causality makes a
/// triangle of a diagonal tile exactly zero (a probability of 0). Offsets are
/// in the product's own row, column and step indices (row i of C, step p of K).
/// A product may skip the steps and blocks outside its band; every caller
/// gets the result it would get without skipping, up to the sign of zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Band {
    /// Every product.
    Full,
    /// Row i of A is zero at steps `p < i + d` (e.g. Pᵀ: key j sees only queries from j on).
    KFrom(isize),
    /// Row i of A is zero at steps `p ≥ i + d` (e.g. P: query i sees keys up to i).
    KTo(isize),
    /// Row i of C is used only at columns `c ≥ i + d` (e.g. Sᵀ before the
    /// causal mask): the columns before may hold 0 instead of the product.
    ColsFrom(isize),
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
    gemm_band(isa, m, n, k, a, b, c, ldc, accumulate, Band::Full)
}

/// [`gemm`] that may skip the products outside `band` (see [`Band`]).
#[allow(clippy::too_many_arguments)]
pub fn gemm_band(
    isa: Isa,
    m: usize,
    n: usize,
    k: usize,
    a: AOp<'_>,
    b: BOp<'_>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    band: Band,
) {
    gemm_band_out(isa, (m, n, k), a, b, (c, ldc), accumulate, band, None)
}

/// [`gemm_band`] whose result goes to `out` when given (see [`OutRows`]).
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_band_out(
    isa: Isa,
    (m, n, k): (usize, usize, usize),
    a: AOp<'_>,
    b: BOp<'_>,
    (c, ldc): (&mut [f32], usize),
    accumulate: bool,
    band: Band,
    out: Option<OutRows<'_>>,
) {
    let (c_scale, c_grad) = (None, None);
    run_gemm(
        isa,
        Gemm {
            m,
            n,
            k,
            a,
            b,
            c,
            ldc,
            accumulate,
            c_scale,
            c_grad,
            band,
            out,
        },
    )
}

/// A tile product as a whole [`Gemm`]: what [`gemm_band`] does, and also
/// `c_scale`, which accumulates into C after scaling its rows,
/// `C[i,:] = c_scale[i]·C[i,:] + A·B` (the online softmax's rescale of the
/// output done in the product's store instead of a pass of its own; the same
/// result as scaling C first and then accumulating); and `c_grad`, which
/// makes C (holding P) the softmax gradient `C ⊙ (A·B − c_grad[column])`
/// in the store (the same result as the product and then
/// [`softmax_grad_rows`], without a tile of its own).
pub(super) fn run_gemm(isa: Isa, g: Gemm<'_>) {
    let (m, n, k, ldc) = (g.m, g.n, g.k, g.ldc);
    let (a, b, accumulate, c_scale) = (g.a, g.b, g.accumulate, g.c_scale);
    if m == 0 || n == 0 {
        return;
    }
    assert!(n <= ldc || m == 1, "tile::gemm: n {n} > ldc {ldc}");
    assert!((m - 1) * ldc + n <= g.c.len(), "tile::gemm: c too short");
    if let Some(s) = c_scale {
        assert!(accumulate && s.len() >= m, "tile::gemm: c_scale too short");
    }
    if let Some(o) = g.out {
        o.check(m);
        assert!(g.c_grad.is_none(), "tile::gemm: out with c_grad");
    }
    let c_grad = g.c_grad;
    if let Some(dd) = c_grad {
        assert!(!accumulate && dd.len() >= n, "tile::gemm: c_grad too short");
    }
    if k == 0 {
        for i in 0..m {
            let row = &mut g.c[i * ldc..i * ldc + n];
            if let Some(dd) = c_grad {
                row.iter_mut().zip(dd).for_each(|(x, &d)| *x *= 0.0 - d);
            } else if !accumulate {
                row.fill(0.0);
            } else if let Some(s) = c_scale {
                row.iter_mut().for_each(|x| *x *= s[i]);
            }
        }
        if let Some(o) = g.out {
            o.write(g.c, ldc, m, n);
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
    dispatch_on(isa, g)
}

/// `x *= scale`, then returns `max(x)` (−∞ for an empty row).
pub fn scale_max(isa: Isa, x: &mut [f32], scale: f32) -> f32 {
    dispatch_on(isa, ScaleMax { x, scale })
}

/// `out[i] = max_r x[r·ld + i]` over `rows` rows of `width` elements (−∞
/// when `rows` is 0): the per-query maxima of a transposed score tile in one
/// call. A NaN score may or may not win (`maxps` order), like `scale_max`.
pub fn col_max_rows(isa: Isa, x: &[f32], ld: usize, rows: usize, width: usize, out: &mut [f32]) {
    col_reduce(isa, x, ld, rows, width, out, true)
}

/// `out[i] = Σ_r x[r·ld + i]`, rows summed in order r = 0, 1, … (0 when
/// `rows` is 0): the per-query sums of a probability tile in one call, equal
/// bit for bit to summing the rows one by one.
pub fn col_sum_rows(isa: Isa, x: &[f32], ld: usize, rows: usize, width: usize, out: &mut [f32]) {
    col_reduce(isa, x, ld, rows, width, out, false)
}

fn col_reduce(
    isa: Isa,
    x: &[f32],
    ld: usize,
    rows: usize,
    width: usize,
    out: &mut [f32],
    max: bool,
) {
    let out = &mut out[..width];
    out.fill(if max { f32::NEG_INFINITY } else { 0.0 });
    if rows == 0 || width == 0 {
        return;
    }
    assert!(
        width <= ld && (rows - 1) * ld + width <= x.len(),
        "tile::col_reduce: x too short"
    );
    dispatch_on(
        isa,
        ColReduce {
            x,
            ld,
            rows,
            out,
            max,
        },
    )
}

/// Sets row r (at `x[r·ld..]`, `width` columns) to −∞ at the columns
/// `i < r + d`, for `r < rows`: a causal diagonal tile's mask (the cut that
/// [`ExpScaledSub::masked_before`] promises), in one call with vector stores
/// instead of a scalar fill per row.
pub fn neg_inf_before(isa: Isa, x: &mut [f32], ld: usize, rows: usize, width: usize, d: isize) {
    if rows == 0 || width == 0 {
        return;
    }
    assert!(
        width <= ld && (rows - 1) * ld + width <= x.len(),
        "tile::neg_inf_before: x too short"
    );
    dispatch_on(
        isa,
        NegInfBefore {
            x,
            ld,
            rows,
            width,
            d,
        },
    )
}

/// `x = exp(x − sub)` (−∞ gives exactly 0) and returns `Σ x`.
pub fn exp_sum(isa: Isa, x: &mut [f32], sub: f32) -> f32 {
    dispatch_on(isa, ExpSum { x, sub })
}

/// `x[i] = exp(x[i]·scale − sub[i])` (the probabilities of one key row of a
/// transposed tile, recomputed from the query rows' log-sum-exp).
pub fn exp_scaled_sub(isa: Isa, x: &mut [f32], scale: f32, sub: &[f32]) {
    let width = x.len();
    exp_scaled_sub_rows(isa, x, width, 1, width, scale, sub, None)
}

/// `exp_scaled_sub` on `rows` rows of `width` elements, row r at `x[r·ld..]`,
/// in one call: a tile row is often a single vector (16 queries), so the
/// rows run back to back inside one SIMD body instead of paying a call and
/// a serial exp latency each. Same result as calling `exp_scaled_sub` per
/// row. `masked_before = Some(d)` promises that the caller has set row r to
/// −∞ at the columns `i < r + d` (see [`ExpScaledSub::masked_before`]).
#[allow(clippy::too_many_arguments)]
pub fn exp_scaled_sub_rows(
    isa: Isa,
    x: &mut [f32],
    ld: usize,
    rows: usize,
    width: usize,
    scale: f32,
    sub: &[f32],
    masked_before: Option<isize>,
) {
    let sums = None;
    run_exp(
        isa,
        ExpScaledSub {
            x,
            ld,
            rows,
            width,
            scale,
            sub,
            sums,
            masked_before,
        },
    )
}

/// The probabilities of a tile as a whole [`ExpScaledSub`]: what
/// [`exp_scaled_sub_rows`] does, and with `sums` also sets `sums[i]` to the
/// column sums of the result, rows added in order (equal bit for bit to
/// [`col_sum_rows`] after it; on x86 made in registers as the rows are made).
pub(super) fn run_exp(isa: Isa, mut g: ExpScaledSub<'_>) {
    let (ld, rows, width) = (g.ld, g.rows, g.width);
    if let Some(s) = g.sums.take() {
        let s = &mut s[..width];
        if rows == 0 {
            s.fill(0.0);
        }
        g.sums = Some(s);
    }
    if rows == 0 || width == 0 {
        return;
    }
    assert!(
        width <= ld && (rows - 1) * ld + width <= g.x.len(),
        "tile::exp_scaled_sub_rows: x too short"
    );
    g.sub = &g.sub[..width];
    #[cfg(target_arch = "x86_64")]
    {
        use super::tile_exp;
        use crate::simd::supported;
        if isa == Isa::Avx2 && supported(Isa::Avx2) {
            // SAFETY: the CPU has AVX2 and FMA; the bounds are checked above.
            return unsafe { tile_exp::rows_avx2(g) };
        }
        if isa == Isa::Avx512 && supported(Isa::Avx512) {
            // SAFETY: the CPU has AVX-512F; the bounds are checked above.
            return unsafe { tile_exp::rows_avx512(g) };
        }
    }
    dispatch_on(isa, g)
}

/// `p[i] = p[i]·(dp[i] − d[i])`: dS from P, dP and D = rowsum(dO ⊙ O).
pub fn softmax_grad(isa: Isa, p: &mut [f32], dp: &[f32], d: &[f32]) {
    let width = p.len();
    softmax_grad_rows(isa, p, dp, width, 1, width, d)
}

/// `softmax_grad` on `rows` rows of `width` elements of `p` and `dp`, row r
/// at `[r·ld..]`, in one call (one dispatch per tile instead of one per
/// key row). Same result as calling `softmax_grad` per row.
pub fn softmax_grad_rows(
    isa: Isa,
    p: &mut [f32],
    dp: &[f32],
    ld: usize,
    rows: usize,
    width: usize,
    d: &[f32],
) {
    if rows == 0 || width == 0 {
        return;
    }
    let end = (rows - 1) * ld + width;
    assert!(
        width <= ld && end <= p.len() && end <= dp.len(),
        "tile::softmax_grad_rows: p or dp too short"
    );
    let d = &d[..width];
    dispatch_on(
        isa,
        SoftmaxGrad {
            p,
            dp,
            ld,
            rows,
            width,
            d,
        },
    )
}

/// `Σ a[i]·b[i]`.
pub fn dot(isa: Isa, a: &[f32], b: &[f32]) -> f32 {
    let b = &b[..a.len()];
    dispatch_on(isa, Dot { a, b })
}

/// `out[r] = Σ_i a[r·lda + i]·b[r·ldb + i]` over `i < width`, for `r <
/// out.len()`: [`dot`] of each pair of rows (the same result bit for bit),
/// in one call (the backward's D = rowsum(dO ⊙ O) of one (batch, head): one
/// dispatch instead of one per 32-float row).
pub fn dot_rows(
    isa: Isa,
    (a, lda): (&[f32], usize),
    (b, ldb): (&[f32], usize),
    width: usize,
    out: &mut [f32],
) {
    let rows = out.len();
    if rows == 0 {
        return;
    }
    assert!(
        (rows - 1) * lda + width <= a.len() && (rows - 1) * ldb + width <= b.len(),
        "tile::dot_rows: a or b too short"
    );
    dispatch_on(
        isa,
        DotRows {
            a,
            lda,
            b,
            ldb,
            width,
            out,
        },
    )
}

/// `y = alpha·y + x·w`, elementwise over `y`.
pub fn scale_axpy(isa: Isa, y: &mut [f32], alpha: f32, w: f32, x: &[f32]) {
    let x = &x[..y.len()];
    dispatch_on(isa, ScaleAxpy { y, alpha, w, x })
}

#[cfg(test)]
mod tests;
