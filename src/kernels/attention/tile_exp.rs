//! The probabilities of a score tile, `x = exp(x·scale − sub[i])`, on x86:
//! the hottest row operation of the attention kernel (one exp per score,
//! forward and backward; measured 16 % of a causal T = 1024 fwd+bwd on AVX2
//! with the shared `F32Vec::exp`).
//!
//! The shared exp serves every input (it clamps both ends and splits 2ⁿ in
//! two factors so that results down to the subnormal range are right). Here
//! the argument is a score minus its row's maximum or log-sum-exp, so it is
//! at most a rounding error above 0, and a result below 2⁻¹²⁶ (a probability
//! of less than 1e-38) may be 0. That allows the cheaper base-2 form: with
//! `y = x·(scale·log₂e) − sub·log₂e`, `n = round(y)`, `f = y − n`:
//! `2^y = 2ⁿ · P(f)`, P a degree-6 polynomial (relative error ≤ 1e-7 on
//! |f| ≤ ½) and 2ⁿ built in the exponent bits (AVX2) or by `vscalefps`
//! (AVX-512): 14 (AVX2) and 12 (AVX-512) operations per vector against 27.
//! −∞ gives exactly 0, NaN stays NaN, overflow gives +∞. No step makes a
//! subnormal number: the shared exp does for every argument below about
//! −87 (its 2ⁿ split and the final products), and on this Xeon each such
//! vector costs a microcode assist, about 10–40× a normal one; the masked
//! scores of causal tiles (−∞) and far-below-max scores are exactly those
//! arguments. That, more than the operation count, is what this saves.
//!
//! The F32Vec trait has no integer operations, so `exp2` is written per ISA
//! here (a local extension trait of the two x86 vector types); NEON and the
//! scalar path keep the shared exp.

use std::arch::x86_64::*;

use super::tile_simd::ExpScaledSub;
use crate::simd::F32Vec;
use crate::simd::{x86_avx2::Avx2, x86_avx512::Avx512};

/// P(f) ≈ 2^f on |f| ≤ ½: `1 + f·(C[0] + f·(C[1] + …))` (a near-minimax
/// fit of relative error; measured ≤ 1.7 ulp evaluated in f32).
const EXP2_P: [f32; 6] = [
    std::f32::consts::LN_2,
    0.240_226_48,
    0.055_503_324,
    0.009_618_437,
    0.001_339_887_5,
    0.000_153_533_62,
];

/// A vector type with the probabilities' `2^y`.
trait Pow2: F32Vec {
    /// `2^y` for the arguments of the module doc.
    ///
    /// # Safety
    /// The CPU has the type's ISA.
    unsafe fn exp2(y: Self::V) -> Self::V;
}

/// P(f), Horner.
///
/// # Safety
/// The CPU has `V`'s ISA.
#[inline(always)]
unsafe fn poly<V: F32Vec>(f: V::V) -> V::V {
    // SAFETY: forwarded.
    unsafe {
        let mut p = V::splat(EXP2_P[5]);
        for &c in EXP2_P[..5].iter().rev() {
            p = V::fma(p, f, V::splat(c));
        }
        V::fma(p, f, V::splat(1.0))
    }
}

/// Rows `r < g.rows` (row r at `g.x[r·ld..r·ld + width]`):
/// `x = exp(x·scale − sub[i])`. Column vectors outside, rows inside: each
/// vector of `sub` is loaded and scaled once per call, and the column sums
/// (when asked) add the rows in order as they are made, in registers: the
/// same sums as `ColReduce` over the stored tile, without reading it again.
///
/// # Safety
/// The CPU has `V`'s ISA; `tile::exp_scaled_sub_rows` checked the bounds
/// (`width ≤ ld`, `(rows − 1)·ld + width ≤ x.len()`, `sub.len() ≥ width`).
#[inline(always)]
unsafe fn rows<V: Pow2>(mut g: ExpScaledSub<'_>) {
    let (l, log2e) = (V::LANES, std::f32::consts::LOG2_E);
    let mut sums = g.sums.take();
    // Rows from `live(end)` on are −∞ over columns up to `end` (see
    // `masked_before`): their probabilities are +0 with no exp, and the
    // column sums, which add only non-negative values, skip them unchanged.
    let live = |end: usize| match g.masked_before {
        Some(d) => (end as isize - d).clamp(0, g.rows as isize) as usize,
        None => g.rows,
    };
    let mut i = 0;
    // SAFETY: lanes i..i + n ≤ width of `sub` and of every row, as checked.
    unsafe {
        let (s2, l2) = (V::splat(g.scale * log2e), V::splat(log2e));
        while i + l <= g.width {
            let sub2 = V::mul(V::load(g.sub.get_unchecked(i..)), l2);
            let mut acc = V::splat(0.0);
            let rl = live(i + l);
            for r in 0..rl {
                let x = g.x.get_unchecked_mut(r * g.ld + i..);
                let p = V::exp2(V::fms(V::load(x), s2, sub2));
                V::store(x, p);
                acc = V::add(acc, p);
            }
            for r in rl..g.rows {
                V::store(g.x.get_unchecked_mut(r * g.ld + i..), V::splat(0.0));
            }
            if let Some(out) = sums.as_deref_mut() {
                V::store(out.get_unchecked_mut(i..), acc);
            }
            i += l;
        }
        if i < g.width {
            let sub2 = V::mul(V::load_partial(g.sub.get_unchecked(i..g.width), 0.0), l2);
            let mut acc = V::splat(0.0);
            let rl = live(g.width);
            for r in 0..rl {
                let x = g.x.get_unchecked_mut(r * g.ld + i..r * g.ld + g.width);
                let p = V::exp2(V::fms(V::load_partial(x, 0.0), s2, sub2));
                V::store_partial(x, p);
                acc = V::add(acc, p);
            }
            for r in rl..g.rows {
                let x = g.x.get_unchecked_mut(r * g.ld + i..r * g.ld + g.width);
                V::store_partial(x, V::splat(0.0));
            }
            if let Some(out) = sums {
                V::store_partial(out.get_unchecked_mut(i..g.width), acc);
            }
        }
    }
}

impl Pow2 for Avx2 {
    #[inline(always)]
    unsafe fn exp2(y: __m256) -> __m256 {
        // Constant first: `maxps`/`minps` return the second operand (y) when
        // it is NaN. n = −127 gives the exponent field 0: a result of exactly 0.
        let y = _mm256_max_ps(_mm256_set1_ps(-127.0), y);
        let y = _mm256_min_ps(_mm256_set1_ps(128.0), y);
        // Adding 1.5·2²³ rounds y to an integer n (to nearest even) in the
        // low mantissa bits; the extra 127 is the exponent bias, so the low 9
        // bits of t's integer image are n + 127, and shifting them by 23
        // builds 2ⁿ (+∞ for n = 128).
        let magic = _mm256_set1_ps(12_582_912.0 + 127.0);
        let t = _mm256_add_ps(y, magic);
        let f = _mm256_sub_ps(y, _mm256_sub_ps(t, magic));
        let pow2n = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_castps_si256(t)));
        // SAFETY: AVX2 and FMA, the caller's contract.
        _mm256_mul_ps(unsafe { poly::<Self>(f) }, pow2n)
    }
}

impl Pow2 for Avx512 {
    #[inline(always)]
    unsafe fn exp2(y: __m512) -> __m512 {
        // As on AVX2, a result below 2⁻¹²⁶ is 0, made by a zeroing mask and
        // not by `vscalefps` underflowing: a subnormal result costs a
        // microcode assist (measured 40× slower per vector, and every
        // masked score of a causal tile is one). NLT_UQ keeps NaN lanes.
        let keep = _mm512_cmp_ps_mask::<_CMP_NLT_UQ>(y, _mm512_set1_ps(-126.0));
        let y = _mm512_max_ps(_mm512_set1_ps(-127.0), y);
        let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(y);
        let f = _mm512_sub_ps(y, n);
        // SAFETY: AVX-512F, the caller's contract.
        _mm512_maskz_scalef_ps(keep, unsafe { poly::<Self>(f) }, n)
    }
}

/// [`rows`] on AVX2.
///
/// # Safety
/// The CPU has AVX2 and FMA; bounds as for [`rows`].
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn rows_avx2(g: ExpScaledSub<'_>) {
    // SAFETY: forwarded.
    unsafe { rows::<Avx2>(g) }
}

/// [`rows`] on AVX-512.
///
/// # Safety
/// The CPU has AVX-512F; bounds as for [`rows`].
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn rows_avx512(g: ExpScaledSub<'_>) {
    // SAFETY: forwarded.
    unsafe { rows::<Avx512>(g) }
}
