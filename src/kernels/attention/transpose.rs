//! The 8 × 8 block transpose of `gather_t` on x86 (AVX): packing Qᵀ and dOᵀ
//! for the tile products element by element was ~8 % of a short causal
//! fwd+bwd (T = 64, D = 32). Pure data movement, so the result is the same
//! as the portable loop bit for bit; `gather_t` takes it on the AVX2 and
//! AVX-512 levels only (the F32Vec trait has no shuffles).

use std::arch::x86_64::*;

/// `dst[c·ld + r] = src[base + r·rs + c]` for `r < rows8` and `c < cols8`,
/// both multiples of 8: every full 8 × 8 block of a tile in one call (one
/// call per tile rather than per eight rows: at T = 64, D = 32 the per-call
/// setup was a third of the transposes' time).
///
/// # Safety
/// The CPU has AVX; `rows8` and `cols8` are multiples of 8; when both are
/// positive, `base + (rows8 − 1)·rs + cols8 ≤ src.len()` and
/// `(cols8 − 1)·ld + rows8 ≤ dst.len()`.
#[target_feature(enable = "avx")]
pub(super) unsafe fn tile8_avx(
    dst: &mut [f32],
    ld: usize,
    src: &[f32],
    (base, rs): (usize, usize),
    rows8: usize,
    cols8: usize,
) {
    let (s, d) = (src.as_ptr(), dst.as_mut_ptr());
    for r0 in (0..rows8).step_by(8) {
        for c0 in (0..cols8).step_by(8) {
            // SAFETY: rows r0..r0 + 8 ≤ rows8 and columns c0..c0 + 8 ≤ cols8
            // lie in `src` and their transposes in `dst` (the contract).
            unsafe {
                let at = |t: usize| s.add(base + (r0 + t) * rs + c0);
                let r: [__m256; 8] = std::array::from_fn(|t| _mm256_loadu_ps(at(t)));
                for (t, v) in transpose8(r).into_iter().enumerate() {
                    _mm256_storeu_ps(d.add((c0 + t) * ld + r0), v);
                }
            }
        }
    }
}

/// The transpose of an 8 × 8 block held as eight row vectors.
#[inline]
#[target_feature(enable = "avx")]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(u0, u4),
        _mm256_permute2f128_ps::<0x20>(u1, u5),
        _mm256_permute2f128_ps::<0x20>(u2, u6),
        _mm256_permute2f128_ps::<0x20>(u3, u7),
        _mm256_permute2f128_ps::<0x31>(u0, u4),
        _mm256_permute2f128_ps::<0x31>(u1, u5),
        _mm256_permute2f128_ps::<0x31>(u2, u6),
        _mm256_permute2f128_ps::<0x31>(u3, u7),
    ]
}
