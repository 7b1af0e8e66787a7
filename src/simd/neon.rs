//! aarch64 NEON versions of the vector primitives (`float32x4_t`, 4 lanes).
//!
//! NEON (Advanced SIMD) is part of the aarch64 base ISA, so every aarch64 CPU
//! runs these; `crate::simd::isa()` still reports `Neon` only after runtime
//! detection, like the x86 levels. Same algorithms, constants and accuracy
//! as the x86 paths (see `vector.rs`); the lane semantics that differ between
//! the ISAs are pinned to the x86 ones:
//! - `max`/`min` return the second operand when either is NaN (`maxps`),
//!   not NaN as `fmax` does, so every ISA gives the same bits;
//! - partial loads and stores go through a 4-float stack buffer (NEON has no
//!   masked loads), touching exactly the slice.

use std::arch::aarch64::*;

use super::vector::{consts::*, F32Vec};

#[inline(always)]
unsafe fn poly(x: float32x4_t, coeffs: &[f32]) -> float32x4_t {
    let mut p = vdupq_n_f32(coeffs[0]);
    for &c in &coeffs[1..] {
        p = vfmaq_f32(vdupq_n_f32(c), p, x);
    }
    p
}

/// 2^n for integral `n` ∈ [-150, 129], as two normal factors.
#[inline(always)]
unsafe fn pow2_split(n: float32x4_t) -> (float32x4_t, float32x4_t) {
    let n = vcvtnq_s32_f32(n);
    let n1 = vshrq_n_s32::<1>(n);
    let n2 = vsubq_s32(n, n1);
    let bias = vdupq_n_s32(127);
    let s1 = vreinterpretq_f32_s32(vshlq_n_s32::<23>(vaddq_s32(n1, bias)));
    let s2 = vreinterpretq_f32_s32(vshlq_n_s32::<23>(vaddq_s32(n2, bias)));
    (s1, s2)
}

/// `if a > b { a } else { b }` per lane (the x86 `maxps` NaN rule).
#[inline(always)]
unsafe fn max_x86(a: float32x4_t, b: float32x4_t) -> float32x4_t {
    vbslq_f32(vcgtq_f32(a, b), a, b)
}

/// `if a < b { a } else { b }` per lane (the x86 `minps` NaN rule).
#[inline(always)]
unsafe fn min_x86(a: float32x4_t, b: float32x4_t) -> float32x4_t {
    vbslq_f32(vcltq_f32(a, b), a, b)
}

/// e^x per lane (≤ 2 ulp, NaN propagates, ±inf handled).
///
/// # Safety
/// The CPU must have NEON (every aarch64 CPU does).
#[inline(always)]
pub unsafe fn exp(x: float32x4_t) -> float32x4_t {
    // Constant first: a NaN `x` is the second operand and wins, as on x86.
    let x = max_x86(vdupq_n_f32(EXP_LO), x);
    let x = min_x86(vdupq_n_f32(EXP_HI), x);
    let n = vrndnq_f32(vmulq_n_f32(x, LOG2E));
    let r = vfmsq_f32(x, n, vdupq_n_f32(LN2_HI));
    let r = vfmsq_f32(r, n, vdupq_n_f32(LN2_LO));
    let p = poly(r, &EXP_P);
    let p = vaddq_f32(vfmaq_f32(r, p, vmulq_f32(r, r)), vdupq_n_f32(1.0));
    let (s1, s2) = pow2_split(n);
    vmulq_f32(vmulq_f32(p, s1), s2)
}

/// tanh per lane (≤ 4 ulp).
///
/// # Safety
/// The CPU must have NEON.
#[inline(always)]
pub unsafe fn tanh(x: float32x4_t) -> float32x4_t {
    let a = vabsq_f32(x);
    let z = vmulq_f32(x, x);
    let small = vfmaq_f32(x, vmulq_f32(poly(z, &TANH_P), z), x);
    let one = vdupq_n_f32(1.0);
    let e = exp(vaddq_f32(a, a));
    let big = vsubq_f32(one, vdivq_f32(vdupq_n_f32(2.0), vaddq_f32(e, one)));
    let sign = vandq_u32(vreinterpretq_u32_f32(x), vdupq_n_u32(0x8000_0000));
    let big = vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(big), sign));
    let is_small = vcltq_f32(a, vdupq_n_f32(TANH_SMALL));
    vbslq_f32(is_small, small, big)
}

/// 1 / (1 + e^-x) per lane.
///
/// # Safety
/// The CPU must have NEON.
#[inline(always)]
pub unsafe fn sigmoid(x: float32x4_t) -> float32x4_t {
    let one = vdupq_n_f32(1.0);
    let e = exp(vsubq_f32(vdupq_n_f32(0.0), x));
    vdivq_f32(one, vaddq_f32(one, e))
}

/// erfc per lane (relative error ≤ 1e-6 for x ≥ 0).
///
/// # Safety
/// The CPU must have NEON.
#[inline(always)]
pub unsafe fn erfc(x: float32x4_t) -> float32x4_t {
    let z = min_x86(vdupq_n_f32(ERFC_HI), vabsq_f32(x));
    let one = vdupq_n_f32(1.0);
    let t = vdivq_f32(one, vfmaq_f32(one, vdupq_n_f32(0.5), z));
    let z2 = vmulq_f32(z, z);
    // z·z − z2 with one rounding: the error of the square.
    let z2_err = vfmaq_f32(vnegq_f32(z2), z, z);
    let p = poly(t, &ERFC_P);
    // exp(p − z² − z2_err) with the rounding of both the square and the
    // subtraction carried as a first-order correction (TwoSum).
    let s = vsubq_f32(p, z2);
    let bb = vsubq_f32(s, p);
    let s_err = vsubq_f32(vsubq_f32(p, vsubq_f32(s, bb)), vaddq_f32(z2, bb));
    let r = vmulq_f32(t, exp(s));
    let r = vfmaq_f32(r, r, vsubq_f32(s_err, z2_err));
    let neg = vcltq_f32(x, vdupq_n_f32(0.0));
    vbslq_f32(neg, vsubq_f32(vdupq_n_f32(2.0), r), r)
}

/// Sum of the 4 lanes (fixed order: (l0 + l1) + (l2 + l3), `faddp`).
///
/// # Safety
/// The CPU must have NEON.
#[inline(always)]
pub unsafe fn hsum(v: float32x4_t) -> f32 {
    vaddvq_f32(v)
}

/// Max of the 4 lanes.
///
/// # Safety
/// The CPU must have NEON.
#[inline(always)]
pub unsafe fn hmax(v: float32x4_t) -> f32 {
    vmaxvq_f32(v)
}

/// The NEON implementation of `F32Vec`.
#[derive(Clone, Copy, Debug)]
pub struct Neon;

impl F32Vec for Neon {
    type V = float32x4_t;
    const LANES: usize = 4;
    const REGISTERS: usize = 32;

    #[inline(always)]
    unsafe fn splat(x: f32) -> float32x4_t {
        vdupq_n_f32(x)
    }
    #[inline(always)]
    unsafe fn load(s: &[f32]) -> float32x4_t {
        debug_assert!(s.len() >= 4);
        vld1q_f32(s.as_ptr())
    }
    #[inline(always)]
    unsafe fn load_partial(s: &[f32], fill: f32) -> float32x4_t {
        let mut buf = [fill; 4];
        let n = s.len().min(4);
        buf[..n].copy_from_slice(&s[..n]);
        vld1q_f32(buf.as_ptr())
    }
    #[inline(always)]
    unsafe fn store(d: &mut [f32], v: float32x4_t) {
        debug_assert!(d.len() >= 4);
        vst1q_f32(d.as_mut_ptr(), v)
    }
    #[inline(always)]
    unsafe fn store_partial(d: &mut [f32], v: float32x4_t) {
        let mut buf = [0.0f32; 4];
        vst1q_f32(buf.as_mut_ptr(), v);
        let n = d.len().min(4);
        d[..n].copy_from_slice(&buf[..n]);
    }
    #[inline(always)]
    unsafe fn add(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        vaddq_f32(a, b)
    }
    #[inline(always)]
    unsafe fn sub(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        vsubq_f32(a, b)
    }
    #[inline(always)]
    unsafe fn mul(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        vmulq_f32(a, b)
    }
    #[inline(always)]
    unsafe fn div(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        vdivq_f32(a, b)
    }
    #[inline(always)]
    unsafe fn fma(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        vfmaq_f32(c, a, b)
    }
    #[inline(always)]
    unsafe fn fnma(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        vfmsq_f32(c, a, b)
    }
    #[inline(always)]
    unsafe fn fms(a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        // −(c − a·b) = a·b − c exactly: negation does not round.
        vnegq_f32(vfmsq_f32(c, a, b))
    }
    #[inline(always)]
    unsafe fn max(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        max_x86(a, b)
    }
    #[inline(always)]
    unsafe fn min(a: float32x4_t, b: float32x4_t) -> float32x4_t {
        min_x86(a, b)
    }
    #[inline(always)]
    unsafe fn sqrt(a: float32x4_t) -> float32x4_t {
        vsqrtq_f32(a)
    }
    #[inline(always)]
    unsafe fn select_gt(
        a: float32x4_t,
        b: float32x4_t,
        x: float32x4_t,
        y: float32x4_t,
    ) -> float32x4_t {
        vbslq_f32(vcgtq_f32(a, b), x, y)
    }
    #[inline(always)]
    unsafe fn any_gt(a: float32x4_t, b: float32x4_t) -> bool {
        vmaxvq_u32(vcgtq_f32(a, b)) != 0
    }
    #[inline(always)]
    unsafe fn exp(a: float32x4_t) -> float32x4_t {
        exp(a)
    }
    #[inline(always)]
    unsafe fn tanh(a: float32x4_t) -> float32x4_t {
        tanh(a)
    }
    #[inline(always)]
    unsafe fn sigmoid(a: float32x4_t) -> float32x4_t {
        sigmoid(a)
    }
    #[inline(always)]
    unsafe fn erfc(a: float32x4_t) -> float32x4_t {
        erfc(a)
    }
    #[inline(always)]
    unsafe fn hsum(a: float32x4_t) -> f32 {
        hsum(a)
    }
    #[inline(always)]
    unsafe fn hmax(a: float32x4_t) -> f32 {
        hmax(a)
    }
}
