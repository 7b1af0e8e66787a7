//! Scalar (one-lane) versions of the vector primitives: always compiled, the
//! fallback on CPUs without AVX2, and the oracle the SIMD paths are tested
//! against. Same algorithms and constants as the AVX paths (see `vector.rs`).

use super::vector::{consts::*, F32Vec};

/// e^x (≤ 2 ulp; see the module docs of `vector.rs`).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let x = x.clamp(EXP_LO, EXP_HI);
    let n = (x * LOG2E).round_ties_even();
    let r = n.mul_add(-LN2_HI, x);
    let r = n.mul_add(-LN2_LO, r);
    let mut p = EXP_P[0];
    for &c in &EXP_P[1..] {
        p = p.mul_add(r, c);
    }
    let p = p.mul_add(r * r, r) + 1.0;
    // 2^n in two steps, each factor a normal float: n ∈ [-150, 129].
    let n = n as i32;
    let n1 = n >> 1;
    let n2 = n - n1;
    p * f32::from_bits(((n1 + 127) as u32) << 23) * f32::from_bits(((n2 + 127) as u32) << 23)
}

/// tanh(x) (≤ 4 ulp).
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    if a < TANH_SMALL {
        let z = x * x;
        let mut p = TANH_P[0];
        for &c in &TANH_P[1..] {
            p = p.mul_add(z, c);
        }
        (p * z).mul_add(x, x)
    } else {
        let t = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
        t.copysign(x)
    }
}

/// 1 / (1 + e^-x).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// erfc(x) (relative error ≤ 1e-6 for x ≥ 0).
#[inline(always)]
pub fn erfc(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let z = x.abs().min(ERFC_HI);
    let t = 1.0 / 0.5f32.mul_add(z, 1.0);
    let z2 = z * z;
    let z2_err = z.mul_add(z, -z2);
    let mut p = ERFC_P[0];
    for &c in &ERFC_P[1..] {
        p = p.mul_add(t, c);
    }
    // exp(p − z² − z2_err) with the rounding of both the square and the
    // subtraction carried as a first-order correction (TwoSum).
    let s = p - z2;
    let bb = s - p;
    let s_err = (p - (s - bb)) + (-z2 - bb);
    let r = t * exp(s) * (1.0 + (s_err - z2_err));
    if x < 0.0 {
        2.0 - r
    } else {
        r
    }
}

/// The one-lane implementation of `F32Vec`.
#[derive(Clone, Copy, Debug)]
pub struct Scalar;

impl F32Vec for Scalar {
    type V = f32;
    const LANES: usize = 1;
    const REGISTERS: usize = 16;

    #[inline(always)]
    unsafe fn splat(x: f32) -> f32 {
        x
    }
    #[inline(always)]
    unsafe fn load(s: &[f32]) -> f32 {
        s[0]
    }
    #[inline(always)]
    unsafe fn load_partial(s: &[f32], fill: f32) -> f32 {
        // LANES = 1: a partial load is always empty.
        s.first().copied().unwrap_or(fill)
    }
    #[inline(always)]
    unsafe fn store(d: &mut [f32], v: f32) {
        d[0] = v;
    }
    #[inline(always)]
    unsafe fn store_partial(d: &mut [f32], v: f32) {
        if let Some(x) = d.first_mut() {
            *x = v;
        }
    }
    #[inline(always)]
    unsafe fn add(a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    unsafe fn sub(a: f32, b: f32) -> f32 {
        a - b
    }
    #[inline(always)]
    unsafe fn mul(a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    unsafe fn div(a: f32, b: f32) -> f32 {
        a / b
    }
    #[inline(always)]
    unsafe fn fma(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
    #[inline(always)]
    unsafe fn fnma(a: f32, b: f32, c: f32) -> f32 {
        (-a).mul_add(b, c)
    }
    #[inline(always)]
    unsafe fn fms(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, -c)
    }
    #[inline(always)]
    unsafe fn max(a: f32, b: f32) -> f32 {
        // Same NaN rule as `maxps`: the second operand wins when either is NaN.
        if a > b {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    unsafe fn min(a: f32, b: f32) -> f32 {
        if a < b {
            a
        } else {
            b
        }
    }
    #[inline(always)]
    unsafe fn sqrt(a: f32) -> f32 {
        a.sqrt()
    }
    #[inline(always)]
    unsafe fn select_gt(a: f32, b: f32, x: f32, y: f32) -> f32 {
        if a > b {
            x
        } else {
            y
        }
    }
    #[inline(always)]
    unsafe fn any_gt(a: f32, b: f32) -> bool {
        a > b
    }
    #[inline(always)]
    unsafe fn exp(a: f32) -> f32 {
        exp(a)
    }
    #[inline(always)]
    unsafe fn tanh(a: f32) -> f32 {
        tanh(a)
    }
    #[inline(always)]
    unsafe fn sigmoid(a: f32) -> f32 {
        sigmoid(a)
    }
    #[inline(always)]
    unsafe fn erfc(a: f32) -> f32 {
        erfc(a)
    }
    #[inline(always)]
    unsafe fn hsum(a: f32) -> f32 {
        a
    }
    #[inline(always)]
    unsafe fn hmax(a: f32) -> f32 {
        a
    }
}
