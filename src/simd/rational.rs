//! Short-path tanh and sigmoid for gate math, generic over [`F32Vec`].
//!
//! `V::tanh` and `V::sigmoid` are accurate to a few ulp everywhere but cost
//! an `exp` (Cody–Waite reduction, a degree-7 polynomial, a two-step 2^n
//! scale), a division and, for tanh, a second polynomial for small inputs
//! and a blend: 25–40 vector instructions each. The recurrent layers' gate
//! math evaluates five of them per LSTM element and, with 16 AVX2 registers,
//! was bound by that instruction count (about 15 % of an LSTM forward).
//!
//! Here tanh is one rational function, Eigen's `generic_fast_tanh_float`:
//! the input clamped to ±7.9988 (where tanh rounds to ±1 in f32), an odd
//! degree-13 numerator over an even degree-6 denominator, one division —
//! 14 instructions. Sigmoid is `½ + ½·tanh(x/2)` (16). Both are written once
//! against the trait, so every ISA (and the scalar oracle) runs the same
//! algorithm with the same roundings but for the FMA contraction.
//!
//! Accuracy (tested in `rational/tests.rs` against f64 on a dense grid over
//! [−20, 20], every ISA): tanh within 3e-7 absolute and 5 ulp (measured
//! 2.8e-7, 4.7 ulp, near |tanh| ≈ 1); sigmoid within 2e-7 absolute (measured
//! 1.7e-7; its relative error grows where σ(x) is tiny, x ≲ −10: the
//! absolute error is what the gate products see), exactly 0 and 1 beyond
//! |x| ≈ 16. NaN propagates. Use `V::tanh`/`V::sigmoid` where relative
//! accuracy in the tails matters.

use super::F32Vec;

/// |x| beyond which the rational form is clamped (tanh rounds to ±1 there).
const CLAMP: f32 = 7.998_811_7;
/// Numerator, odd powers x¹ … x¹³, highest first.
#[allow(clippy::excessive_precision)]
const ALPHA: [f32; 7] = [
    -2.760_768_477_423_55e-16,
    2.000_187_904_824_77e-13,
    -8.604_671_522_137_35e-11,
    5.122_297_090_371_14e-8,
    1.485_722_357_179_79e-5,
    6.372_619_288_754_36e-4,
    4.893_524_558_917_86e-3,
];
/// Denominator, even powers x⁰ … x⁶, highest first.
#[allow(clippy::excessive_precision)]
const BETA: [f32; 4] = [
    1.198_258_394_667_02e-6,
    1.185_347_056_866_54e-4,
    2.268_434_632_439_00e-3,
    4.893_525_185_543_85e-3,
];

/// tanh per lane by a rational function (see the module docs).
///
/// # Safety
/// The CPU supports `V`'s ISA.
#[inline(always)]
pub unsafe fn tanh<V: F32Vec>(x: V::V) -> V::V {
    // Constant second in min/max: a NaN in x comes back out.
    let x = V::max(V::splat(-CLAMP), V::min(V::splat(CLAMP), x));
    let x2 = V::mul(x, x);
    let mut p = V::splat(ALPHA[0]);
    for &a in &ALPHA[1..] {
        p = V::fma(p, x2, V::splat(a));
    }
    let mut q = V::splat(BETA[0]);
    for &b in &BETA[1..] {
        q = V::fma(q, x2, V::splat(b));
    }
    V::div(V::mul(p, x), q)
}

/// σ(x) = 1/(1 + e^−x) per lane as `½ + ½·tanh(x/2)` (see the module docs).
///
/// # Safety
/// The CPU supports `V`'s ISA.
#[inline(always)]
pub unsafe fn sigmoid<V: F32Vec>(x: V::V) -> V::V {
    let half = V::splat(0.5);
    V::fma(half, tanh::<V>(V::mul(half, x)), half)
}

#[cfg(test)]
mod tests;
