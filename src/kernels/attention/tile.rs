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
mod x86 {
    //! AVX-512F and AVX2+FMA bodies. Callers have checked every bound.
    #![allow(clippy::needless_range_loop)] // register arrays indexed in lockstep
    use super::{AOp, BOp};
    use std::arch::x86_64::*;

    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // exp(r) on |r| <= ln2/2: 1 + r + r²(c2 + r(c3 + r(c4 + r(c5 + r c6))))
    const C2: f32 = 0.5;
    const C3: f32 = 0.166_666_67;
    const C4: f32 = 0.041_666_5;
    const C5: f32 = 0.008_333_45;
    const C6: f32 = 0.001_388_89;
    /// Below this, exp underflows: the result is set to exactly 0.
    const EXP_LO: f32 = -87.33;
    const EXP_HI: f32 = 88.37;

    // ---------------------------------------------------------------- AVX-512

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn exp512(x: __m512) -> __m512 {
        let keep = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, _mm512_set1_ps(EXP_LO));
        let x = _mm512_min_ps(
            _mm512_max_ps(x, _mm512_set1_ps(EXP_LO)),
            _mm512_set1_ps(EXP_HI),
        );
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm512_mul_ps(x, _mm512_set1_ps(LOG2E)),
        );
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
        let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
        let mut p = _mm512_set1_ps(C6);
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C5));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C4));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C3));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(C2));
        let r2 = _mm512_mul_ps(r, r);
        p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0)));
        _mm512_maskz_mov_ps(keep, _mm512_scalef_ps(p, n))
    }

    #[inline]
    fn mask16(w: usize) -> __mmask16 {
        if w >= 16 {
            0xFFFF
        } else {
            ((1u32 << w) - 1) as __mmask16
        }
    }

    /// One MR-row strip of C, 32 columns (two zmm) at a time; the last
    /// columns are masked.
    #[inline]
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn strip512<const MR: usize>(
        n: usize,
        k: usize,
        a: *const f32,
        ars: usize,
        acs: usize,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
    ) {
        let mut j = 0;
        while j < n {
            let w = (n - j).min(32);
            let m0 = mask16(w);
            let m1 = mask16(w.saturating_sub(16));
            let mut c0 = [_mm512_setzero_ps(); MR];
            let mut c1 = [_mm512_setzero_ps(); MR];
            let mut bp = b.add(j);
            let mut ap = a;
            if m1 != 0 {
                for _ in 0..k {
                    let b0 = _mm512_maskz_loadu_ps(m0, bp);
                    let b1 = _mm512_maskz_loadu_ps(m1, bp.wrapping_add(16));
                    for i in 0..MR {
                        let av = _mm512_set1_ps(*ap.add(i * ars));
                        c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
                        c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
                    }
                    bp = bp.wrapping_add(ldb);
                    ap = ap.wrapping_add(acs);
                }
            } else {
                for _ in 0..k {
                    let b0 = _mm512_maskz_loadu_ps(m0, bp);
                    for i in 0..MR {
                        let av = _mm512_set1_ps(*ap.add(i * ars));
                        c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
                    }
                    bp = bp.wrapping_add(ldb);
                    ap = ap.wrapping_add(acs);
                }
            }
            for i in 0..MR {
                let cp = c.add(i * ldc + j);
                let cp1 = cp.wrapping_add(16);
                if accumulate {
                    c0[i] = _mm512_add_ps(c0[i], _mm512_maskz_loadu_ps(m0, cp));
                    c1[i] = _mm512_add_ps(c1[i], _mm512_maskz_loadu_ps(m1, cp1));
                }
                _mm512_mask_storeu_ps(cp, m0, c0[i]);
                _mm512_mask_storeu_ps(cp1, m1, c1[i]);
            }
            j += 32;
        }
    }

    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn gemm_avx512(
        m: usize,
        n: usize,
        k: usize,
        a: AOp<'_>,
        b: BOp<'_>,
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
    ) {
        const MR: usize = 8;
        let (ap, bp, cp) = (a.data.as_ptr(), b.data.as_ptr(), c.as_mut_ptr());
        let mut i = 0;
        while i < m {
            let mr = (m - i).min(MR);
            let (ai, ci) = (ap.add(i * a.rs), cp.add(i * ldc));
            let args = (n, k, ai, a.rs, a.cs, bp, b.ld, ci, ldc, accumulate);
            macro_rules! call {
                ($r:literal) => {
                    strip512::<$r>(
                        args.0, args.1, args.2, args.3, args.4, args.5, args.6, args.7, args.8,
                        args.9,
                    )
                };
            }
            match mr {
                8 => call!(8),
                7 => call!(7),
                6 => call!(6),
                5 => call!(5),
                4 => call!(4),
                3 => call!(3),
                2 => call!(2),
                _ => call!(1),
            }
            i += mr;
        }
    }

    #[target_feature(enable = "avx512f")]
    fn hmax512(v: __m512) -> f32 {
        _mm512_reduce_max_ps(v)
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn scale_max_avx512(x: &mut [f32], scale: f32) -> f32 {
        let n = x.len();
        let p = x.as_mut_ptr();
        let s = _mm512_set1_ps(scale);
        let mut mx = _mm512_set1_ps(f32::NEG_INFINITY);
        let mut i = 0;
        while i < n {
            let m = mask16(n - i);
            let v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, p.add(i)), s);
            _mm512_mask_storeu_ps(p.add(i), m, v);
            mx = _mm512_mask_max_ps(mx, m, mx, v);
            i += 16;
        }
        hmax512(mx)
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn exp_sum_avx512(x: &mut [f32], sub: f32) -> f32 {
        let n = x.len();
        let p = x.as_mut_ptr();
        let s = _mm512_set1_ps(sub);
        let mut acc = _mm512_setzero_ps();
        let mut i = 0;
        while i < n {
            let m = mask16(n - i);
            let v = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, p.add(i)), s));
            _mm512_mask_storeu_ps(p.add(i), m, v);
            acc = _mm512_mask_add_ps(acc, m, acc, v);
            i += 16;
        }
        _mm512_reduce_add_ps(acc)
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn exp_scaled_sub_avx512(x: &mut [f32], scale: f32, sub: &[f32]) {
        let n = x.len();
        let (p, q) = (x.as_mut_ptr(), sub.as_ptr());
        let s = _mm512_set1_ps(scale);
        let mut i = 0;
        while i < n {
            let m = mask16(n - i);
            let v = _mm512_fmsub_ps(
                _mm512_maskz_loadu_ps(m, p.add(i)),
                s,
                _mm512_maskz_loadu_ps(m, q.add(i)),
            );
            _mm512_mask_storeu_ps(p.add(i), m, exp512(v));
            i += 16;
        }
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn softmax_grad_avx512(p: &mut [f32], dp: &[f32], d: &[f32]) {
        let n = p.len();
        let (pp, gp, dptr) = (p.as_mut_ptr(), dp.as_ptr(), d.as_ptr());
        let mut i = 0;
        while i < n {
            let m = mask16(n - i);
            let g = _mm512_sub_ps(
                _mm512_maskz_loadu_ps(m, gp.add(i)),
                _mm512_maskz_loadu_ps(m, dptr.add(i)),
            );
            let v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, pp.add(i)), g);
            _mm512_mask_storeu_ps(pp.add(i), m, v);
            i += 16;
        }
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len();
        let (ap, bp) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm512_setzero_ps();
        let mut acc1 = _mm512_setzero_ps();
        let mut i = 0;
        while i + 32 <= n {
            acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(ap.add(i)), _mm512_loadu_ps(bp.add(i)), acc0);
            acc1 = _mm512_fmadd_ps(
                _mm512_loadu_ps(ap.add(i + 16)),
                _mm512_loadu_ps(bp.add(i + 16)),
                acc1,
            );
            i += 32;
        }
        while i < n {
            let m = mask16(n - i);
            acc0 = _mm512_fmadd_ps(
                _mm512_maskz_loadu_ps(m, ap.add(i)),
                _mm512_maskz_loadu_ps(m, bp.add(i)),
                acc0,
            );
            i += 16;
        }
        _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1))
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn scale_axpy_avx512(y: &mut [f32], alpha: f32, w: f32, x: &[f32]) {
        let n = y.len();
        let (yp, xp) = (y.as_mut_ptr(), x.as_ptr());
        let (al, wv) = (_mm512_set1_ps(alpha), _mm512_set1_ps(w));
        let mut i = 0;
        while i < n {
            let m = mask16(n - i);
            let v = _mm512_fmadd_ps(
                _mm512_maskz_loadu_ps(m, xp.add(i)),
                wv,
                _mm512_mul_ps(_mm512_maskz_loadu_ps(m, yp.add(i)), al),
            );
            _mm512_mask_storeu_ps(yp.add(i), m, v);
            i += 16;
        }
    }

    // ---------------------------------------------------------------- AVX2

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn exp256(x: __m256) -> __m256 {
        let keep = _mm256_cmp_ps::<_CMP_GE_OQ>(x, _mm256_set1_ps(EXP_LO));
        let x = _mm256_min_ps(
            _mm256_max_ps(x, _mm256_set1_ps(EXP_LO)),
            _mm256_set1_ps(EXP_HI),
        );
        let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
            _mm256_mul_ps(x, _mm256_set1_ps(LOG2E)),
        );
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
        let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
        let mut p = _mm256_set1_ps(C6);
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(C5));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(C4));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(C3));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(C2));
        let r2 = _mm256_mul_ps(r, r);
        p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0)));
        // 2^n for n in [-126, 127]: build the exponent bits. n = -127 only
        // when x < EXP_LO, which `keep` zeroes.
        let e = _mm256_slli_epi32::<23>(_mm256_add_epi32(
            _mm256_cvtps_epi32(n),
            _mm256_set1_epi32(127),
        ));
        _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), keep)
    }

    #[inline]
    fn mask8(w: usize) -> __m256i {
        const IDX: [i32; 8] = [0, 1, 2, 3, 4, 5, 6, 7];
        let w = w.min(8) as i32;
        let mut m = [0i32; 8];
        for (mv, &i) in m.iter_mut().zip(&IDX) {
            *mv = if i < w { -1 } else { 0 };
        }
        // SAFETY: an unaligned load of a local 8-lane array.
        unsafe { _mm256_loadu_si256(m.as_ptr() as *const __m256i) }
    }

    /// One MR-row strip of C, 16 columns (two ymm) at a time; edge columns use
    /// masked loads and are stored through a local buffer.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn strip256<const MR: usize>(
        n: usize,
        k: usize,
        a: *const f32,
        ars: usize,
        acs: usize,
        b: *const f32,
        ldb: usize,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
    ) {
        let mut j = 0;
        while j < n {
            let w = (n - j).min(16);
            let mut c0 = [_mm256_setzero_ps(); MR];
            let mut c1 = [_mm256_setzero_ps(); MR];
            let mut bp = b.add(j);
            let mut ap = a;
            if w == 16 {
                for _ in 0..k {
                    let b0 = _mm256_loadu_ps(bp);
                    let b1 = _mm256_loadu_ps(bp.add(8));
                    for i in 0..MR {
                        let av = _mm256_broadcast_ss(&*ap.add(i * ars));
                        c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);
                        c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);
                    }
                    bp = bp.wrapping_add(ldb);
                    ap = ap.wrapping_add(acs);
                }
                for i in 0..MR {
                    let cp = c.add(i * ldc + j);
                    if accumulate {
                        c0[i] = _mm256_add_ps(c0[i], _mm256_loadu_ps(cp));
                        c1[i] = _mm256_add_ps(c1[i], _mm256_loadu_ps(cp.add(8)));
                    }
                    _mm256_storeu_ps(cp, c0[i]);
                    _mm256_storeu_ps(cp.add(8), c1[i]);
                }
            } else {
                let (m0, m1) = (mask8(w), mask8(w.saturating_sub(8)));
                for _ in 0..k {
                    let b0 = _mm256_maskload_ps(bp, m0);
                    let b1 = _mm256_maskload_ps(bp.wrapping_add(8), m1);
                    for i in 0..MR {
                        let av = _mm256_broadcast_ss(&*ap.add(i * ars));
                        c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);
                        c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);
                    }
                    bp = bp.wrapping_add(ldb);
                    ap = ap.wrapping_add(acs);
                }
                let mut buf = [0.0f32; 16];
                for i in 0..MR {
                    _mm256_storeu_ps(buf.as_mut_ptr(), c0[i]);
                    _mm256_storeu_ps(buf.as_mut_ptr().add(8), c1[i]);
                    let cp = c.add(i * ldc + j);
                    for (t, &v) in buf.iter().enumerate().take(w) {
                        let dst = cp.add(t);
                        *dst = if accumulate { *dst + v } else { v };
                    }
                }
            }
            j += 16;
        }
    }

    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn gemm_avx2(
        m: usize,
        n: usize,
        k: usize,
        a: AOp<'_>,
        b: BOp<'_>,
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
    ) {
        const MR: usize = 6;
        let (ap, bp, cp) = (a.data.as_ptr(), b.data.as_ptr(), c.as_mut_ptr());
        let mut i = 0;
        while i < m {
            let mr = (m - i).min(MR);
            let (ai, ci) = (ap.add(i * a.rs), cp.add(i * ldc));
            let args = (n, k, ai, a.rs, a.cs, bp, b.ld, ci, ldc, accumulate);
            macro_rules! call {
                ($r:literal) => {
                    strip256::<$r>(
                        args.0, args.1, args.2, args.3, args.4, args.5, args.6, args.7, args.8,
                        args.9,
                    )
                };
            }
            match mr {
                6 => call!(6),
                5 => call!(5),
                4 => call!(4),
                3 => call!(3),
                2 => call!(2),
                _ => call!(1),
            }
            i += mr;
        }
    }

    #[target_feature(enable = "avx2,fma")]
    fn hsum256(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps::<1>(v);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
        _mm_cvtss_f32(s)
    }

    #[target_feature(enable = "avx2,fma")]
    fn hmax256(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps::<1>(v);
        let s = _mm_max_ps(lo, hi);
        let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_max_ss(s, _mm_shuffle_ps::<1>(s, s));
        _mm_cvtss_f32(s)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn scale_max_avx2(x: &mut [f32], scale: f32) -> f32 {
        let n = x.len();
        let p = x.as_mut_ptr();
        let s = _mm256_set1_ps(scale);
        let mut mx = _mm256_set1_ps(f32::NEG_INFINITY);
        let mut i = 0;
        while i + 8 <= n {
            let v = _mm256_mul_ps(_mm256_loadu_ps(p.add(i)), s);
            _mm256_storeu_ps(p.add(i), v);
            mx = _mm256_max_ps(mx, v);
            i += 8;
        }
        let mut m = hmax256(mx);
        while i < n {
            *p.add(i) *= scale;
            m = m.max(*p.add(i));
            i += 1;
        }
        m
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn exp_sum_avx2(x: &mut [f32], sub: f32) -> f32 {
        let n = x.len();
        let p = x.as_mut_ptr();
        let s = _mm256_set1_ps(sub);
        let mut acc = _mm256_setzero_ps();
        let mut i = 0;
        while i < n {
            let w = (n - i).min(8);
            if w == 8 {
                let v = exp256(_mm256_sub_ps(_mm256_loadu_ps(p.add(i)), s));
                _mm256_storeu_ps(p.add(i), v);
                acc = _mm256_add_ps(acc, v);
            } else {
                let mut buf = [f32::NEG_INFINITY; 8];
                buf[..w].copy_from_slice(std::slice::from_raw_parts(p.add(i), w));
                let v = exp256(_mm256_sub_ps(_mm256_loadu_ps(buf.as_ptr()), s));
                _mm256_storeu_ps(buf.as_mut_ptr(), v);
                std::ptr::copy_nonoverlapping(buf.as_ptr(), p.add(i), w);
                acc = _mm256_add_ps(acc, v); // padding lanes are exp(-inf) = 0
            }
            i += 8;
        }
        hsum256(acc)
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn exp_scaled_sub_avx2(x: &mut [f32], scale: f32, sub: &[f32]) {
        let n = x.len();
        let (p, q) = (x.as_mut_ptr(), sub.as_ptr());
        let s = _mm256_set1_ps(scale);
        let mut i = 0;
        while i + 8 <= n {
            let v = _mm256_fmsub_ps(_mm256_loadu_ps(p.add(i)), s, _mm256_loadu_ps(q.add(i)));
            _mm256_storeu_ps(p.add(i), exp256(v));
            i += 8;
        }
        if i < n {
            let w = n - i;
            let mut buf = [0.0f32; 8];
            for t in 0..w {
                buf[t] = *p.add(i + t) * scale - *q.add(i + t);
            }
            _mm256_storeu_ps(buf.as_mut_ptr(), exp256(_mm256_loadu_ps(buf.as_ptr())));
            std::ptr::copy_nonoverlapping(buf.as_ptr(), p.add(i), w);
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn softmax_grad_avx2(p: &mut [f32], dp: &[f32], d: &[f32]) {
        let n = p.len();
        let (pp, gp, dptr) = (p.as_mut_ptr(), dp.as_ptr(), d.as_ptr());
        let mut i = 0;
        while i + 8 <= n {
            let g = _mm256_sub_ps(_mm256_loadu_ps(gp.add(i)), _mm256_loadu_ps(dptr.add(i)));
            _mm256_storeu_ps(pp.add(i), _mm256_mul_ps(_mm256_loadu_ps(pp.add(i)), g));
            i += 8;
        }
        while i < n {
            *pp.add(i) *= *gp.add(i) - *dptr.add(i);
            i += 1;
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len();
        let (ap, bp) = (a.as_ptr(), b.as_ptr());
        let mut acc0 = _mm256_setzero_ps();
        let mut acc1 = _mm256_setzero_ps();
        let mut i = 0;
        while i + 16 <= n {
            acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(ap.add(i)), _mm256_loadu_ps(bp.add(i)), acc0);
            acc1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(ap.add(i + 8)),
                _mm256_loadu_ps(bp.add(i + 8)),
                acc1,
            );
            i += 16;
        }
        let mut s = hsum256(_mm256_add_ps(acc0, acc1));
        while i < n {
            s += *ap.add(i) * *bp.add(i);
            i += 1;
        }
        s
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn scale_axpy_avx2(y: &mut [f32], alpha: f32, w: f32, x: &[f32]) {
        let n = y.len();
        let (yp, xp) = (y.as_mut_ptr(), x.as_ptr());
        let (al, wv) = (_mm256_set1_ps(alpha), _mm256_set1_ps(w));
        let mut i = 0;
        while i + 8 <= n {
            let v = _mm256_fmadd_ps(
                _mm256_loadu_ps(xp.add(i)),
                wv,
                _mm256_mul_ps(_mm256_loadu_ps(yp.add(i)), al),
            );
            _mm256_storeu_ps(yp.add(i), v);
            i += 8;
        }
        while i < n {
            *yp.add(i) = alpha * *yp.add(i) + w * *xp.add(i);
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd;

    fn levels() -> Vec<Isa> {
        simd::available()
            .into_iter()
            .filter(|&l| l != Isa::Neon)
            .collect()
    }

    #[test]
    fn gemm_matches_scalar_on_odd_shapes() {
        for &(m, n, k) in &[(1, 1, 1), (7, 5, 3), (9, 33, 17), (64, 64, 64), (13, 47, 1)] {
            let (rs, cs) = (k + 3, 1); // padded rows of A
            let a: Vec<f32> = (0..m * rs).map(|i| ((i * 7 % 13) as f32) - 6.0).collect();
            let b: Vec<f32> = (0..k * (n + 2))
                .map(|i| ((i * 5 % 11) as f32) - 5.0)
                .collect();
            let mut want = vec![1.0f32; m * (n + 1)];
            gemm(
                Isa::Scalar,
                m,
                n,
                k,
                AOp { data: &a, rs, cs },
                BOp {
                    data: &b,
                    ld: n + 2,
                },
                &mut want,
                n + 1,
                true,
            );
            for isa in levels() {
                let mut got = vec![1.0f32; m * (n + 1)];
                gemm(
                    isa,
                    m,
                    n,
                    k,
                    AOp { data: &a, rs, cs },
                    BOp {
                        data: &b,
                        ld: n + 2,
                    },
                    &mut got,
                    n + 1,
                    true,
                );
                assert_eq!(got, want, "{isa:?} {m}x{n}x{k}");
            }
        }
    }

    #[test]
    fn exp_is_accurate_and_zero_at_minus_infinity() {
        let xs: Vec<f32> = (-200..=80)
            .map(|i| i as f32 * 0.45)
            .chain([f32::NEG_INFINITY, 0.0])
            .collect();
        for isa in levels() {
            let mut v = xs.clone();
            let s = exp_sum(isa, &mut v, 0.0);
            let mut want_sum = 0.0f64;
            for (&x, &y) in xs.iter().zip(&v) {
                let w = (x as f64).exp();
                want_sum += if x < -87.33 { 0.0 } else { w };
                if x < -87.33 {
                    // SIMD paths flush to exactly 0; the scalar one may return a denormal.
                    assert!(
                        y <= 1.2e-38 && (isa == Isa::Scalar || y == 0.0),
                        "{isa:?} exp({x}) = {y}"
                    );
                } else {
                    assert!(
                        ((y as f64) - w).abs() <= 4e-7 * w,
                        "{isa:?} exp({x}) = {y}, want {w}"
                    );
                }
            }
            assert!(((s as f64) - want_sum).abs() <= 1e-5 * want_sum);
        }
    }

    #[test]
    fn row_ops_match_scalar() {
        let x: Vec<f32> = (0..37)
            .map(|i| ((i * 13 % 17) as f32) * 0.3 - 2.0)
            .collect();
        let y: Vec<f32> = (0..37).map(|i| ((i * 3 % 7) as f32) * 0.5 - 1.0).collect();
        for isa in levels() {
            let (mut a, mut b) = (x.clone(), x.clone());
            assert_eq!(
                scale_max(isa, &mut a, 0.5),
                scale_max(Isa::Scalar, &mut b, 0.5)
            );
            assert_eq!(a, b);
            exp_scaled_sub(isa, &mut a, 0.7, &y);
            exp_scaled_sub(Isa::Scalar, &mut b, 0.7, &y);
            for (u, v) in a.iter().zip(&b) {
                assert!((u - v).abs() <= 1e-6 * v.abs().max(1.0));
            }
            let (mut p, mut q) = (x.clone(), x.clone());
            softmax_grad(isa, &mut p, &y, &x);
            softmax_grad(Isa::Scalar, &mut q, &y, &x);
            assert_eq!(p, q);
            let d = dot(isa, &x, &y) - dot(Isa::Scalar, &x, &y);
            assert!(d.abs() < 1e-4);
            let (mut p, mut q) = (x.clone(), x.clone());
            scale_axpy(isa, &mut p, 0.5, 2.0, &y);
            scale_axpy(Isa::Scalar, &mut q, 0.5, 2.0, &y);
            for (u, v) in p.iter().zip(&q) {
                assert!((u - v).abs() <= 1e-6);
            }
        }
    }
}
