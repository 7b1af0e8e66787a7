//! The vector interface every fused kernel is written against.
//!
//! A kernel body is written once, generic over `V: F32Vec`, and instantiated
//! per ISA by thin `#[target_feature]` shims (see `crate::kernels::softmax`):
//! every method here is `#[inline(always)]`, so inside a shim the whole body
//! compiles to that ISA's instructions.
//!
//! | type | ISA | lanes |
//! |---|---|---|
//! | `super::scalar::Scalar` | none (the oracle) | 1 |
//! | `super::x86_avx2::Avx2` | AVX2 + FMA | 8 |
//! | `super::x86_avx512::Avx512` | AVX-512F | 16 |
//! | `super::neon::Neon` | aarch64 NEON | 4 |
//!
//! Adding an ISA means one more implementation of this trait, one shim in
//! `super::dispatch`, and the two register-blocked microkernels that cannot
//! be written against it (`crate::kernels::gemm::kernel_*` and the attention
//! tile product's block shape in `crate::kernels::attention::tile`).
//!
//! # Accuracy of the transcendental functions (all ISAs share the algorithms)
//! - `exp`: Cody–Waite reduction `x = n·ln2 + r`, |r| ≤ ln2/2, a degree-7
//!   (Cephes `expf`) polynomial, scaling by 2^n in two steps so that subnormal
//!   results are rounded once. Max error ≤ 2 ulp over the normal range
//!   (tested against f64 `exp` on a 2.4M-point grid; measured max 1.00 ulp
//!   on every ISA); results below f32::MIN_POSITIVE
//!   have absolute error ≤ 1 subnormal ulp; exp(x) = +inf for x ≥ 88.73,
//!   0 for x ≤ -103.98, exp(-inf) = 0, exp(+inf) = +inf, NaN propagates.
//! - `tanh`: odd polynomial for |x| < 0.625 (Cephes `tanhf`), else
//!   `1 − 2/(exp(2|x|)+1)` with the sign restored; ≤ 4 ulp tested,
//!   1.28 ulp measured.
//! - `sigmoid`: `1/(1+exp(−x))`; ≤ 4 ulp tested (1.98 measured), exact 0 / 1
//!   at the extremes.
//! - `erfc`: Numerical Recipes' Chebyshev fit `t·exp(−z² − 1.26551223 + t·P(t))`,
//!   t = 1/(1+z/2): the fit is within 1.2e-7, the f32 evaluation within 1e-6
//!   relative for x ≥ 0 (tested), so `0.5·erfc(−x/√2)`,
//!   the normal CDF, is relatively accurate in both tails); erfc(x) = 2 − erfc(−x).
//! - `super::normal_cdf::normal_cdf` (generic over this trait): Φ(x) by a
//!   polynomial when every lane has |x| ≤ 2√2 (absolute error ≤ 1.2e-7),
//!   else `0.5·erfc(−x/√2)`; see that module.
//!
//! # Safety contract (all `unsafe fn` here)
//! The CPU must support the ISA of the implementing type (guaranteed inside a
//! shim that `crate::simd::isa()` selected). `load`/`store` need slices of at
//! least `LANES` elements; `load_partial`/`store_partial` touch exactly
//! `min(len, LANES)` elements and never read or write past the slice.

/// f32 vector operations of one ISA.
///
/// # Safety
/// Every method is `unsafe` under the contract in the module docs: the CPU
/// has the implementing ISA, and loads/stores stay within their slices.
#[allow(clippy::missing_safety_doc)] // the contract is stated once, above
pub trait F32Vec {
    /// The register type (`f32`, `__m256`, `__m512`).
    type V: Copy;
    /// Elements per register.
    const LANES: usize;
    /// Architectural vector registers (16 for AVX2, 32 for AVX-512 and NEON):
    /// register-blocked bodies size their accumulator blocks from it.
    const REGISTERS: usize;

    /// All lanes `x`.
    unsafe fn splat(x: f32) -> Self::V;
    /// `s[..LANES]`; `s.len() >= LANES`.
    unsafe fn load(s: &[f32]) -> Self::V;
    /// The first `s.len() < LANES` lanes from `s`, the others `fill`.
    unsafe fn load_partial(s: &[f32], fill: f32) -> Self::V;
    /// Writes all lanes to `d[..LANES]`; `d.len() >= LANES`.
    unsafe fn store(d: &mut [f32], v: Self::V);
    /// Writes the first `d.len() < LANES` lanes to `d`.
    unsafe fn store_partial(d: &mut [f32], v: Self::V);

    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn div(a: Self::V, b: Self::V) -> Self::V;
    /// `a·b + c`, one rounding (scalar uses `f32::mul_add`).
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `c − a·b`, one rounding.
    unsafe fn fnma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a·b − c`, one rounding.
    unsafe fn fms(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// Lane-wise max; if `b` is NaN the result is NaN.
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
    /// Lane-wise min; if `b` is NaN the result is NaN.
    unsafe fn min(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn sqrt(a: Self::V) -> Self::V;
    /// `if a > b { x } else { y }` per lane (false when either is NaN).
    unsafe fn select_gt(a: Self::V, b: Self::V, x: Self::V, y: Self::V) -> Self::V;
    /// Whether `a > b` in any lane (a NaN lane compares false).
    unsafe fn any_gt(a: Self::V, b: Self::V) -> bool;

    unsafe fn exp(a: Self::V) -> Self::V;
    unsafe fn tanh(a: Self::V) -> Self::V;
    unsafe fn sigmoid(a: Self::V) -> Self::V;
    unsafe fn erfc(a: Self::V) -> Self::V;

    /// Sum of the lanes in a fixed order.
    unsafe fn hsum(a: Self::V) -> f32;
    /// Max of the lanes.
    unsafe fn hmax(a: Self::V) -> f32;
}

/// Constants shared by every ISA's `exp`, `tanh` and `erfc`.
#[allow(clippy::excessive_precision)] // coefficients as published
pub(crate) mod consts {
    pub const LOG2E: f32 = std::f32::consts::LOG2_E;
    /// ln 2 split for Cody–Waite: `LN2_HI` has 9 significant bits so `n·LN2_HI` is exact.
    pub const LN2_HI: f32 = 0.693_359_4;
    pub const LN2_LO: f32 = -2.121_944_4e-4;
    /// exp input clamp: below, the result rounds to 0; above, it overflows to +inf.
    pub const EXP_LO: f32 = -104.0;
    pub const EXP_HI: f32 = 89.0;
    /// Cephes `expf` polynomial: e^r ≈ 1 + r + r²·P(r).
    pub const EXP_P: [f32; 6] = [
        1.987_569_1e-4,
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        5.000_000_1e-1,
    ];
    /// Cephes `tanhf` polynomial for |x| < 0.625: x + x·z·P(z), z = x².
    pub const TANH_SMALL: f32 = 0.625;
    pub const TANH_P: [f32; 5] = [
        -5.704_988_7e-3,
        2.063_908_9e-2,
        -5.373_971_6e-2,
        1.333_144_2e-1,
        -3.333_328_2e-1,
    ];
    /// Numerical Recipes `erfcc`: erfc(z) = t·exp(−z² + P(t)), highest degree first.
    pub const ERFC_P: [f32; 10] = [
        0.170_872_77,
        -0.822_152_23,
        1.488_515_9,
        -1.135_203_98,
        0.278_868_07,
        -0.186_288_06,
        0.096_784_18,
        0.374_091_96,
        1.000_023_7,
        -1.265_512_2,
    ];
    /// erfc input clamp: erfc(11) ≈ 1.4e-54 underflows to 0.
    pub const ERFC_HI: f32 = 11.0;
}
