//! Φ(x), the standard normal CDF, for the exact (erf) GELU.
//!
//! Most GELU inputs are O(1), where `½·erfc(−x/√2)` (a division and an
//! `exp`) is far more work than needed. When every lane of a vector has
//! |x| ≤ 2√2 (x² ≤ 8; ~92 % of 16-lane vectors of N(0,1) data), Φ is
//! `½ + x·P(x² − 4)`, P of degree 9: a minimax fit of (Φ(x) − ½)/x on
//! [0, 2√2], expanded about x² = 4 so that Horner's partial sums stay small
//! (expanded about 0, the alternating terms lose ~3× the accuracy in f32).
//! Absolute error ≤ 1.2e-7 (measured 7e-8 on every ISA; the fit itself is
//! 2.4e-9, the rest is f32 rounding) — about PyTorch's vectorised erf, whose
//! 1.5e-7 on erf is 0.75e-7 on Φ — but not relative: at x = −2√2,
//! Φ ≈ 2.3e-3, so the relative error there is up to ~5e-5. Any other vector
//! takes the erfc path, relatively accurate (≤ 1e-6) in the far left tail,
//! so x·Φ(x) keeps its relative accuracy for x < −2√2. A NaN lane makes the
//! fast path's result NaN, as erfc's would be.

use super::vector::F32Vec;

/// Fast path bound on x²: |x| ≤ 2√2.
pub const POLY_MAX_X2: f32 = 8.0;
/// Expansion point of P in x².
const POLY_X2_MID: f32 = 4.0;
/// P(u), u = x² − 4, lowest degree first (fitted in f64, rounded to f32).
#[allow(clippy::excessive_precision)] // coefficients as fitted
const POLY_P: [f32; 10] = [
    2.386_249_3e-1,
    -2.307_924_4e-2,
    2.640_137_4e-3,
    -2.688_280_4e-4,
    2.365_744_9e-5,
    -1.807_049_2e-6,
    1.208_823_9e-7,
    -7.260_062_3e-9,
    4.188_148_4e-10,
    -1.870_554_4e-11,
];

/// Φ(x) = ½·erfc(−x/√2) per lane; accuracy in the module docs.
///
/// # Safety
/// The CPU must support `V` (see `F32Vec`).
#[inline(always)]
pub unsafe fn normal_cdf<V: F32Vec>(x: V::V) -> V::V {
    let x2 = V::mul(x, x);
    if V::any_gt(x2, V::splat(POLY_MAX_X2)) {
        let z = V::mul(x, V::splat(-std::f32::consts::FRAC_1_SQRT_2));
        return V::mul(V::splat(0.5), V::erfc(z));
    }
    normal_cdf_poly::<V, 1>([x])[0]
}

/// Φ by the polynomial alone, on `N` vectors side by side (each step of
/// Horner's rule on every vector before the next step, so the `N`
/// dependency chains overlap); each vector gets the same operations, so the
/// same bits, as `normal_cdf` gives it on its fast path. Accurate only where
/// x² ≤ `POLY_MAX_X2` (the caller checks).
///
/// # Safety
/// The CPU must support `V` (see `F32Vec`).
#[inline(always)]
pub unsafe fn normal_cdf_poly<V: F32Vec, const N: usize>(x: [V::V; N]) -> [V::V; N] {
    let u = x.map(|x| V::fma(x, x, V::splat(-POLY_X2_MID)));
    let mut p = [V::splat(POLY_P[POLY_P.len() - 1]); N];
    for &c in POLY_P[..POLY_P.len() - 1].iter().rev() {
        for i in 0..N {
            p[i] = V::fma(p[i], u[i], V::splat(c));
        }
        lockstep::<V, N>(&mut p);
    }
    for i in 0..N {
        p[i] = V::fma(x[i], p[i], V::splat(0.5));
    }
    p
}

/// Keeps `N` independent dependency chains in lockstep on AVX2: an empty
/// `asm!` that takes every vector of `v` in a register and gives it back, so
/// the compiler must finish each chain's current step before any chain's
/// next. Without it LLVM's scheduler runs the chains of a group one after
/// the other (each a long chain of 4-cycle FMAs), and the out-of-order
/// window cannot hold enough of them to keep both FMA ports busy (GELU
/// backward on AVX2 measured 15 % slower). It emits no instruction and
/// changes no value. A no-op for other vector types and group sizes
/// (AVX-512 measured no gain from it).
///
/// # Safety
/// The CPU must support `V` (see `F32Vec`).
#[inline(always)]
pub unsafe fn lockstep<V: F32Vec, const N: usize>(v: &mut [V::V; N]) {
    #[cfg(target_arch = "x86_64")]
    if std::mem::size_of::<V::V>() == std::mem::size_of::<std::arch::x86_64::__m256>() && N == 4 {
        // SAFETY: V::V is __m256 here (the only 32-byte `F32Vec::V`, so the
        // CPU has AVX2), and `v` holds 4 of them.
        lockstep_ymm4(&mut *v.as_mut_ptr().cast::<[std::arch::x86_64::__m256; 4]>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// [`lockstep`] of 4 AVX vectors.
///
/// # Safety
/// The CPU has AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
unsafe fn lockstep_ymm4(v: &mut [std::arch::x86_64::__m256; 4]) {
    // SAFETY: the asm body is empty; it only pins the four values to registers.
    std::arch::asm!(
        "/* {0} {1} {2} {3} */",
        inout(ymm_reg) v[0],
        inout(ymm_reg) v[1],
        inout(ymm_reg) v[2],
        inout(ymm_reg) v[3],
        options(pure, nomem, nostack, preserves_flags)
    );
}
