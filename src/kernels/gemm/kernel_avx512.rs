//! AVX-512 6×64 microkernel: 24 zmm accumulators (6 rows × 4 vectors), four
//! B vectors and one broadcast of A per step of K (29 of the 32 registers).
//!
//! Zen 4 runs one 512-bit FMA per cycle (two 256-bit pipes) with a latency of
//! 4 cycles; 24 independent accumulators hide the latency with room to spare,
//! and each step of K needs 4 vector loads and 6 broadcasts for 24 FMAs,
//! well within its load bandwidth. Rows of C are the vectors, so a row-major
//! C tile is stored with 4 contiguous 64-byte stores per row.
//!
//! Edge tiles run the same body with fewer rows (`R < 6`) and vectors
//! (`V < 4`), chosen per call, so a 1-row or 20-column edge does not pay for a
//! full tile of FMAs.

use std::arch::x86_64::*;

use super::kernel::{row_times_block, store_partial, MicroKernel, Tile};
use super::pack::{self, MatRef};

const MR: usize = 6;
const NR: usize = 64;

#[derive(Debug, Clone, Copy)]
pub struct Avx512;

impl MicroKernel for Avx512 {
    const MR: usize = MR;
    const NR: usize = NR;
    const NAME: &'static str = "avx512";

    fn available() -> bool {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
    }

    fn pack_a(dst: &mut [f32], src: MatRef<'_>, rows: usize, kc: usize, parallel: bool) {
        pack::pack_a::<MR>(dst, src, rows, kc, parallel)
    }

    fn pack_b(dst: &mut [f32], src: MatRef<'_>, kc: usize, cols: usize, parallel: bool) {
        pack::pack_b::<NR>(dst, src, kc, cols, parallel)
    }

    fn pack_b_streaming(dst: &mut [f32], src: MatRef<'_>, kc: usize, cols: usize, parallel: bool) {
        pack::pack_b_with::<NR>(dst, src, kc, cols, parallel, pack::Stores::Streaming)
    }

    fn row_times_block(acc: &mut [f32], a: &[f32], b: MatRef<'_>, j0: usize) {
        assert!(Self::available());
        // SAFETY: AVX-512F is present (checked just above); the body is safe code.
        unsafe { row_times_block_avx512(acc, a, b, j0) }
    }

    unsafe fn run(t: &Tile) {
        // SAFETY: AVX-512F is present (`available()`, caller's contract), and
        // the R×16V tile chosen covers the valid m×n region inside MR×NR.
        unsafe {
            match t.m {
                1 => by_cols::<1>(t),
                2 => by_cols::<2>(t),
                3 => by_cols::<3>(t),
                4 => by_cols::<4>(t),
                5 => by_cols::<5>(t),
                _ => by_cols::<6>(t),
            }
        }
    }
}

/// [`row_times_block`] compiled for AVX-512.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn row_times_block_avx512(acc: &mut [f32], a: &[f32], b: MatRef<'_>, j0: usize) {
    row_times_block(acc, a, b, j0)
}

/// Picks the number of 16-wide vectors that covers `t.n`.
///
/// # Safety
/// As [`MicroKernel::run`], with `R ≥ t.m`.
#[inline(always)]
unsafe fn by_cols<const R: usize>(t: &Tile) {
    // SAFETY: forwarded; 16·V ≥ t.n.
    unsafe {
        match t.n.div_ceil(16) {
            1 => kernel::<R, 1>(t),
            2 => kernel::<R, 2>(t),
            3 => kernel::<R, 3>(t),
            _ => kernel::<R, 4>(t),
        }
    }
}

/// An R×16V tile (R ≤ 6, V ≤ 4): reads R rows of A and 16V columns of B.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn kernel<const R: usize, const V: usize>(t: &Tile) {
    let mut acc = [[_mm512_setzero_ps(); V]; R];
    let (mut a, mut b) = (t.a, t.b);
    let rs = t.a_rs;
    for _ in 0..t.k {
        // SAFETY: a and b walk the micro-panels the caller vouched for: k steps
        // of a_cs in A (R ≤ MR rows at a_rs) and of b_rs in B (16V ≤ NR floats each).
        unsafe {
            let mut bv = [_mm512_setzero_ps(); V];
            for (j, v) in bv.iter_mut().enumerate() {
                *v = _mm512_loadu_ps(b.add(16 * j));
            }
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm512_set1_ps(*a.add(i * rs));
                for (c, &bj) in row.iter_mut().zip(&bv) {
                    *c = _mm512_fmadd_ps(ai, bj, *c);
                }
            }
            a = a.add(t.a_cs);
            b = b.add(t.b_rs);
        }
    }
    let alpha = _mm512_set1_ps(t.alpha);
    if t.m == R && t.n == 16 * V && t.c_cs == 1 {
        let beta = _mm512_set1_ps(t.beta);
        let mut bias = [_mm512_setzero_ps(); V];
        if !t.bias.is_null() {
            for (j, b) in bias.iter_mut().enumerate() {
                // SAFETY: the bias is readable at j < n = 16V (caller's contract).
                *b = unsafe { _mm512_loadu_ps(t.bias.add(16 * j)) };
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                // SAFETY: an exact R×16V tile with unit column stride.
                unsafe {
                    let dst = t.c.add(i * t.c_rs + 16 * j);
                    let mut out = if t.beta == 0.0 {
                        _mm512_mul_ps(alpha, v)
                    } else {
                        _mm512_fmadd_ps(beta, _mm512_loadu_ps(dst), _mm512_mul_ps(alpha, v))
                    };
                    if !t.bias.is_null() {
                        out = _mm512_add_ps(out, bias[j]);
                    }
                    _mm512_storeu_ps(dst, out);
                }
            }
        }
    } else {
        let mut buf = [0.0f32; MR * NR];
        for (i, row) in acc.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                // SAFETY: buf has MR·NR floats; (i, 16j) + 16 ≤ that.
                unsafe {
                    _mm512_storeu_ps(
                        buf.as_mut_ptr().add(i * NR + 16 * j),
                        _mm512_mul_ps(alpha, v),
                    )
                };
            }
        }
        // SAFETY: the C contract is the caller's; buf holds MR×NR floats.
        unsafe { store_partial(&buf, NR, t) }
    }
}
