//! AVX2 + FMA versions of the vector primitives (`__m256`, 8 lanes).
//!
//! Every function requires a CPU with AVX2 and FMA (`crate::simd::isa()` at
//! `Avx2` or above); call them only from code compiled with those features
//! (a `#[target_feature(enable = "avx2,fma")]` shim) so they inline.
//! Algorithms and accuracy: see `vector.rs`.

use std::arch::x86_64::*;

use super::vector::{consts::*, F32Vec};

#[inline(always)]
unsafe fn poly(x: __m256, coeffs: &[f32]) -> __m256 {
    let mut p = _mm256_set1_ps(coeffs[0]);
    for &c in &coeffs[1..] {
        p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(c));
    }
    p
}

#[inline(always)]
unsafe fn abs(x: __m256) -> __m256 {
    _mm256_andnot_ps(_mm256_set1_ps(-0.0), x)
}

/// 2^n for integral `n` ∈ [-150, 129], as two normal factors.
#[inline(always)]
unsafe fn pow2_split(n: __m256) -> (__m256, __m256) {
    let n = _mm256_cvtps_epi32(n);
    let n1 = _mm256_srai_epi32::<1>(n);
    let n2 = _mm256_sub_epi32(n, n1);
    let bias = _mm256_set1_epi32(127);
    let s1 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n1, bias)));
    let s2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(n2, bias)));
    (s1, s2)
}

/// e^x per lane (≤ 2 ulp, NaN propagates, ±inf handled).
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[inline(always)]
pub unsafe fn exp(x: __m256) -> __m256 {
    // Constant first: `maxps`/`minps` return the second operand when it is NaN.
    let x = _mm256_max_ps(_mm256_set1_ps(EXP_LO), x);
    let x = _mm256_min_ps(_mm256_set1_ps(EXP_HI), x);
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        x,
        _mm256_set1_ps(LOG2E),
    ));
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
    let p = poly(r, &EXP_P);
    let p = _mm256_add_ps(
        _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r),
        _mm256_set1_ps(1.0),
    );
    let (s1, s2) = pow2_split(n);
    _mm256_mul_ps(_mm256_mul_ps(p, s1), s2)
}

/// tanh per lane (≤ 4 ulp).
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[inline(always)]
pub unsafe fn tanh(x: __m256) -> __m256 {
    let a = abs(x);
    let z = _mm256_mul_ps(x, x);
    let small = _mm256_fmadd_ps(_mm256_mul_ps(poly(z, &TANH_P), z), x, x);
    let one = _mm256_set1_ps(1.0);
    let e = exp(_mm256_add_ps(a, a));
    let big = _mm256_sub_ps(
        one,
        _mm256_div_ps(_mm256_set1_ps(2.0), _mm256_add_ps(e, one)),
    );
    let sign = _mm256_and_ps(_mm256_set1_ps(-0.0), x);
    let big = _mm256_or_ps(big, sign);
    let is_small = _mm256_cmp_ps::<_CMP_LT_OQ>(a, _mm256_set1_ps(TANH_SMALL));
    _mm256_blendv_ps(big, small, is_small)
}

/// 1 / (1 + e^-x) per lane.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[inline(always)]
pub unsafe fn sigmoid(x: __m256) -> __m256 {
    let one = _mm256_set1_ps(1.0);
    let e = exp(_mm256_sub_ps(_mm256_setzero_ps(), x));
    _mm256_div_ps(one, _mm256_add_ps(one, e))
}

/// erfc per lane (relative error ≤ 1e-6 for x ≥ 0).
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[inline(always)]
pub unsafe fn erfc(x: __m256) -> __m256 {
    let z = _mm256_min_ps(_mm256_set1_ps(ERFC_HI), abs(x));
    let one = _mm256_set1_ps(1.0);
    let t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.5), z, one));
    let z2 = _mm256_mul_ps(z, z);
    let z2_err = _mm256_fmsub_ps(z, z, z2);
    let p = poly(t, &ERFC_P);
    // exp(p − z² − z2_err) with the rounding of both the square and the
    // subtraction carried as a first-order correction (TwoSum).
    let s = _mm256_sub_ps(p, z2);
    let bb = _mm256_sub_ps(s, p);
    let s_err = _mm256_sub_ps(
        _mm256_sub_ps(p, _mm256_sub_ps(s, bb)),
        _mm256_add_ps(z2, bb),
    );
    let r = _mm256_mul_ps(t, exp(s));
    let r = _mm256_fmadd_ps(r, _mm256_sub_ps(s_err, z2_err), r);
    let neg = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_setzero_ps());
    _mm256_blendv_ps(r, _mm256_sub_ps(_mm256_set1_ps(2.0), r), neg)
}

/// Sum of the 8 lanes (fixed order: halves, then pairs).
///
/// # Safety
/// The CPU must have AVX2.
#[inline(always)]
pub unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Max of the 8 lanes.
///
/// # Safety
/// The CPU must have AVX2.
#[inline(always)]
pub unsafe fn hmax(v: __m256) -> f32 {
    let s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_max_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Lanes `i < n` set (all bits), the others clear.
#[inline(always)]
unsafe fn lane_mask(n: usize) -> __m256i {
    let iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), iota)
}

/// The AVX2 + FMA implementation of `F32Vec`.
#[derive(Clone, Copy, Debug)]
pub struct Avx2;

impl F32Vec for Avx2 {
    type V = __m256;
    const LANES: usize = 8;
    const REGISTERS: usize = 16;

    #[inline(always)]
    unsafe fn splat(x: f32) -> __m256 {
        _mm256_set1_ps(x)
    }
    #[inline(always)]
    unsafe fn load(s: &[f32]) -> __m256 {
        debug_assert!(s.len() >= 8);
        _mm256_loadu_ps(s.as_ptr())
    }
    #[inline(always)]
    unsafe fn load_partial(s: &[f32], fill: f32) -> __m256 {
        let n = s.len().min(8);
        let m = lane_mask(n);
        // SAFETY (caller's contract + mask): only the first n ≤ len lanes are read.
        let v = _mm256_maskload_ps(s.as_ptr(), m);
        _mm256_blendv_ps(_mm256_set1_ps(fill), v, _mm256_castsi256_ps(m))
    }
    #[inline(always)]
    unsafe fn store(d: &mut [f32], v: __m256) {
        debug_assert!(d.len() >= 8);
        _mm256_storeu_ps(d.as_mut_ptr(), v)
    }
    #[inline(always)]
    unsafe fn store_partial(d: &mut [f32], v: __m256) {
        let n = d.len().min(8);
        _mm256_maskstore_ps(d.as_mut_ptr(), lane_mask(n), v)
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        _mm256_add_ps(a, b)
    }
    #[inline(always)]
    unsafe fn sub(a: __m256, b: __m256) -> __m256 {
        _mm256_sub_ps(a, b)
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        _mm256_mul_ps(a, b)
    }
    #[inline(always)]
    unsafe fn div(a: __m256, b: __m256) -> __m256 {
        _mm256_div_ps(a, b)
    }
    #[inline(always)]
    unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
        _mm256_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn fnma(a: __m256, b: __m256, c: __m256) -> __m256 {
        _mm256_fnmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn fms(a: __m256, b: __m256, c: __m256) -> __m256 {
        _mm256_fmsub_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn max(a: __m256, b: __m256) -> __m256 {
        _mm256_max_ps(a, b)
    }
    #[inline(always)]
    unsafe fn min(a: __m256, b: __m256) -> __m256 {
        _mm256_min_ps(a, b)
    }
    #[inline(always)]
    unsafe fn sqrt(a: __m256) -> __m256 {
        _mm256_sqrt_ps(a)
    }
    #[inline(always)]
    unsafe fn select_gt(a: __m256, b: __m256, x: __m256, y: __m256) -> __m256 {
        _mm256_blendv_ps(y, x, _mm256_cmp_ps::<_CMP_GT_OQ>(a, b))
    }
    #[inline(always)]
    unsafe fn any_gt(a: __m256, b: __m256) -> bool {
        _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(a, b)) != 0
    }
    #[inline(always)]
    unsafe fn exp(a: __m256) -> __m256 {
        exp(a)
    }
    #[inline(always)]
    unsafe fn tanh(a: __m256) -> __m256 {
        tanh(a)
    }
    #[inline(always)]
    unsafe fn sigmoid(a: __m256) -> __m256 {
        sigmoid(a)
    }
    #[inline(always)]
    unsafe fn erfc(a: __m256) -> __m256 {
        erfc(a)
    }
    #[inline(always)]
    unsafe fn hsum(a: __m256) -> f32 {
        hsum(a)
    }
    #[inline(always)]
    unsafe fn hmax(a: __m256) -> f32 {
        hmax(a)
    }
}
