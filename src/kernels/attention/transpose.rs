//! The 8 × 8 block transpose of `gather_t` on x86 (AVX): packing Qᵀ and dOᵀ
//! for the tile products element by element was ~8 % of a short causal
//! fwd+bwd (T = 64, D = 32). Pure data movement, so the result is the same
//! as the portable loop bit for bit; `gather_t` takes it on the AVX2 and
//! AVX-512 levels only (the F32Vec trait has no shuffles).

use std::arch::x86_64::*;

/// `dst[c·ld + r] = rows[r][c]` for `r < 8` and `c < 8·(rows[0].len() / 8)`:
/// the full 8-column blocks of eight source rows.
///
/// # Safety
/// The CPU has AVX. Every row of `rows` has the same length `cols`, and
/// `dst` holds `(cols8 − 1)·ld + 8` elements, `cols8 = 8·(cols / 8)`.
#[target_feature(enable = "avx")]
pub(super) unsafe fn blocks8_avx(dst: &mut [f32], ld: usize, rows: &[&[f32]; 8]) {
    let cols = rows[0].len();
    let mut c0 = 0;
    while c0 + 8 <= cols {
        // SAFETY: columns c0..c0 + 8 ≤ cols of every row; the outputs are
        // dst[(c0 + t)·ld ..][..8], t < 8, inside dst by the contract (the
        // slices below are bounds checked as well).
        unsafe {
            let r: [__m256; 8] =
                std::array::from_fn(|t| _mm256_loadu_ps(rows[t][c0..c0 + 8].as_ptr()));
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
            let out = [
                _mm256_permute2f128_ps::<0x20>(u0, u4),
                _mm256_permute2f128_ps::<0x20>(u1, u5),
                _mm256_permute2f128_ps::<0x20>(u2, u6),
                _mm256_permute2f128_ps::<0x20>(u3, u7),
                _mm256_permute2f128_ps::<0x31>(u0, u4),
                _mm256_permute2f128_ps::<0x31>(u1, u5),
                _mm256_permute2f128_ps::<0x31>(u2, u6),
                _mm256_permute2f128_ps::<0x31>(u3, u7),
            ];
            for (t, v) in out.into_iter().enumerate() {
                let o = (c0 + t) * ld;
                _mm256_storeu_ps(dst[o..o + 8].as_mut_ptr(), v);
            }
        }
        c0 += 8;
    }
}
