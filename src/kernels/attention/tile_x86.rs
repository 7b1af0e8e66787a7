//! AVX-512F and AVX2+FMA bodies. Callers have checked every bound.
#![allow(clippy::needless_range_loop)] // register arrays indexed in lockstep
use super::{AOp, BOp};
use std::arch::x86_64::*;

// exp comes from the shared SIMD primitives (`crate::simd`, ≤ 2 ulp).

// ---------------------------------------------------------------- AVX-512

#[inline]
#[target_feature(enable = "avx512f")]
fn exp512(x: __m512) -> __m512 {
    // SAFETY: this function is only compiled for and called on AVX-512F.
    unsafe { crate::simd::x86_avx512::exp(x) }
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
                    args.0, args.1, args.2, args.3, args.4, args.5, args.6, args.7, args.8, args.9,
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

/// Rows back to back in one body (the per-row body inlines here).
#[target_feature(enable = "avx512f")]
pub unsafe fn exp_scaled_sub_rows_avx512(
    x: &mut [f32],
    ld: usize,
    rows: usize,
    width: usize,
    scale: f32,
    sub: &[f32],
) {
    for r in 0..rows {
        exp_scaled_sub_avx512(&mut x[r * ld..r * ld + width], scale, sub);
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
    // SAFETY: this function is only compiled for and called on AVX2+FMA.
    unsafe { crate::simd::x86_avx2::exp(x) }
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
                    args.0, args.1, args.2, args.3, args.4, args.5, args.6, args.7, args.8, args.9,
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

/// Rows back to back in one body (the per-row body inlines here).
#[target_feature(enable = "avx2,fma")]
pub unsafe fn exp_scaled_sub_rows_avx2(
    x: &mut [f32],
    ld: usize,
    rows: usize,
    width: usize,
    scale: f32,
    sub: &[f32],
) {
    for r in 0..rows {
        exp_scaled_sub_avx2(&mut x[r * ld..r * ld + width], scale, sub);
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
