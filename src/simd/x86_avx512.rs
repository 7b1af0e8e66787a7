//! AVX-512F versions of the vector primitives (`__m512`, 16 lanes).
//!
//! Every function requires a CPU with AVX-512F (`crate::simd::isa()` at
//! `Avx512`); call them only from code compiled with that feature (a
//! `#[target_feature(enable = "avx512f,avx2,fma")]` shim) so they inline.
//! Only AVX-512F instructions are used (no DQ/BW/VL). Algorithms and
//! accuracy: see `vector.rs`.

use std::arch::x86_64::*;

use super::vector::{consts::*, F32Vec};

#[inline(always)]
unsafe fn poly(x: __m512, coeffs: &[f32]) -> __m512 {
    let mut p = _mm512_set1_ps(coeffs[0]);
    for &c in &coeffs[1..] {
        p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(c));
    }
    p
}

/// 2^n for integral `n` ∈ [-150, 129], as two normal factors.
#[inline(always)]
unsafe fn pow2_split(n: __m512) -> (__m512, __m512) {
    let n = _mm512_cvtps_epi32(n);
    let n1 = _mm512_srai_epi32::<1>(n);
    let n2 = _mm512_sub_epi32(n, n1);
    let bias = _mm512_set1_epi32(127);
    let s1 = _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(n1, bias)));
    let s2 = _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(n2, bias)));
    (s1, s2)
}

/// e^x per lane (≤ 2 ulp, NaN propagates, ±inf handled).
///
/// # Safety
/// The CPU must have AVX-512F.
#[inline(always)]
pub unsafe fn exp(x: __m512) -> __m512 {
    // Constant first: `vmaxps`/`vminps` return the second operand when it is NaN.
    let x = _mm512_max_ps(_mm512_set1_ps(EXP_LO), x);
    let x = _mm512_min_ps(_mm512_set1_ps(EXP_HI), x);
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(x, _mm512_set1_ps(LOG2E)),
    );
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    let p = poly(r, &EXP_P);
    let p = _mm512_add_ps(
        _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r),
        _mm512_set1_ps(1.0),
    );
    let (s1, s2) = pow2_split(n);
    _mm512_mul_ps(_mm512_mul_ps(p, s1), s2)
}

/// tanh per lane (≤ 4 ulp).
///
/// # Safety
/// The CPU must have AVX-512F.
#[inline(always)]
pub unsafe fn tanh(x: __m512) -> __m512 {
    let a = _mm512_abs_ps(x);
    let z = _mm512_mul_ps(x, x);
    let small = _mm512_fmadd_ps(_mm512_mul_ps(poly(z, &TANH_P), z), x, x);
    let one = _mm512_set1_ps(1.0);
    let e = exp(_mm512_add_ps(a, a));
    let big = _mm512_sub_ps(
        one,
        _mm512_div_ps(_mm512_set1_ps(2.0), _mm512_add_ps(e, one)),
    );
    let sign = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(i32::MIN));
    let big = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(big), sign));
    let is_small = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, _mm512_set1_ps(TANH_SMALL));
    _mm512_mask_blend_ps(is_small, big, small)
}

/// 1 / (1 + e^-x) per lane.
///
/// # Safety
/// The CPU must have AVX-512F.
#[inline(always)]
pub unsafe fn sigmoid(x: __m512) -> __m512 {
    let one = _mm512_set1_ps(1.0);
    let e = exp(_mm512_sub_ps(_mm512_setzero_ps(), x));
    _mm512_div_ps(one, _mm512_add_ps(one, e))
}

/// erfc per lane (relative error ≤ 1e-6 for x ≥ 0).
///
/// # Safety
/// The CPU must have AVX-512F.
#[inline(always)]
pub unsafe fn erfc(x: __m512) -> __m512 {
    let z = _mm512_min_ps(_mm512_set1_ps(ERFC_HI), _mm512_abs_ps(x));
    let one = _mm512_set1_ps(1.0);
    let t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.5), z, one));
    let z2 = _mm512_mul_ps(z, z);
    let z2_err = _mm512_fmsub_ps(z, z, z2);
    let p = poly(t, &ERFC_P);
    // exp(p − z² − z2_err) with the rounding of both the square and the
    // subtraction carried as a first-order correction (TwoSum).
    let s = _mm512_sub_ps(p, z2);
    let bb = _mm512_sub_ps(s, p);
    let s_err = _mm512_sub_ps(
        _mm512_sub_ps(p, _mm512_sub_ps(s, bb)),
        _mm512_add_ps(z2, bb),
    );
    let r = _mm512_mul_ps(t, exp(s));
    let r = _mm512_fmadd_ps(r, _mm512_sub_ps(s_err, z2_err), r);
    let neg = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, _mm512_setzero_ps());
    _mm512_mask_blend_ps(neg, r, _mm512_sub_ps(_mm512_set1_ps(2.0), r))
}

/// Sum of the 16 lanes (fixed order).
///
/// # Safety
/// The CPU must have AVX-512F.
#[inline(always)]
pub unsafe fn hsum(v: __m512) -> f32 {
    _mm512_reduce_add_ps(v)
}

/// Max of the 16 lanes.
///
/// # Safety
/// The CPU must have AVX-512F.
#[inline(always)]
pub unsafe fn hmax(v: __m512) -> f32 {
    _mm512_reduce_max_ps(v)
}

/// Mask with bits `i < n` set (`n ≤ 16`).
#[inline(always)]
fn lane_mask(n: usize) -> __mmask16 {
    ((1u32 << n.min(16)) - 1) as __mmask16
}

/// The AVX-512F implementation of `F32Vec`.
#[derive(Clone, Copy, Debug)]
pub struct Avx512;

impl F32Vec for Avx512 {
    type V = __m512;
    const LANES: usize = 16;
    const REGISTERS: usize = 32;

    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        _mm512_set1_ps(x)
    }
    #[inline(always)]
    unsafe fn load(s: &[f32]) -> __m512 {
        debug_assert!(s.len() >= 16);
        _mm512_loadu_ps(s.as_ptr())
    }
    #[inline(always)]
    unsafe fn load_partial(s: &[f32], fill: f32) -> __m512 {
        // Masked-off lanes are not read (no fault past the slice).
        _mm512_mask_loadu_ps(_mm512_set1_ps(fill), lane_mask(s.len()), s.as_ptr())
    }
    #[inline(always)]
    unsafe fn store(d: &mut [f32], v: __m512) {
        debug_assert!(d.len() >= 16);
        _mm512_storeu_ps(d.as_mut_ptr(), v)
    }
    #[inline(always)]
    unsafe fn store_partial(d: &mut [f32], v: __m512) {
        _mm512_mask_storeu_ps(d.as_mut_ptr(), lane_mask(d.len()), v)
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        _mm512_add_ps(a, b)
    }
    #[inline(always)]
    unsafe fn sub(a: __m512, b: __m512) -> __m512 {
        _mm512_sub_ps(a, b)
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        _mm512_mul_ps(a, b)
    }
    #[inline(always)]
    unsafe fn div(a: __m512, b: __m512) -> __m512 {
        _mm512_div_ps(a, b)
    }
    #[inline(always)]
    unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn fnma(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fnmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn fms(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fmsub_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn max(a: __m512, b: __m512) -> __m512 {
        _mm512_max_ps(a, b)
    }
    #[inline(always)]
    unsafe fn min(a: __m512, b: __m512) -> __m512 {
        _mm512_min_ps(a, b)
    }
    #[inline(always)]
    unsafe fn sqrt(a: __m512) -> __m512 {
        _mm512_sqrt_ps(a)
    }
    #[inline(always)]
    unsafe fn select_gt(a: __m512, b: __m512, x: __m512, y: __m512) -> __m512 {
        _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(a, b), y, x)
    }
    #[inline(always)]
    unsafe fn any_gt(a: __m512, b: __m512) -> bool {
        _mm512_cmp_ps_mask::<_CMP_GT_OQ>(a, b) != 0
    }
    #[inline(always)]
    unsafe fn exp(a: __m512) -> __m512 {
        exp(a)
    }
    #[inline(always)]
    unsafe fn tanh(a: __m512) -> __m512 {
        tanh(a)
    }
    #[inline(always)]
    unsafe fn sigmoid(a: __m512) -> __m512 {
        sigmoid(a)
    }
    #[inline(always)]
    unsafe fn erfc(a: __m512) -> __m512 {
        erfc(a)
    }
    #[inline(always)]
    unsafe fn hsum(a: __m512) -> f32 {
        hsum(a)
    }
    #[inline(always)]
    unsafe fn hmax(a: __m512) -> f32 {
        hmax(a)
    }
}
