//! AVX-512 6×64 microkernel: 24 zmm accumulators (6 rows × 4 vectors), four
//! B vectors and one broadcast of A per step of K (29 of the 32 registers).
//!
//! Zen 4 runs one 512-bit FMA per cycle (two 256-bit pipes) with a latency of
//! 4 cycles; 24 independent accumulators hide the latency with room to spare,
//! and each step of K needs 4 vector loads and 6 broadcasts for 24 FMAs,
//! well within its load bandwidth. Rows of C are the vectors, so a row-major
//! C tile is stored with 4 contiguous 64-byte stores per row.

use std::arch::x86_64::*;

use super::kernel::{store_partial, MicroKernel, Tile};

const MR: usize = 6;
const NR: usize = 64;
const V: usize = NR / 16;

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

    unsafe fn run(t: &Tile) {
        // SAFETY: AVX-512F is present (`available()`, caller's contract).
        unsafe { kernel(t) }
    }
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn kernel(t: &Tile) {
    let mut acc = [[_mm512_setzero_ps(); V]; MR];
    let (mut a, mut b) = (t.a, t.b);
    let rs = t.a_rs;
    for _ in 0..t.k {
        // SAFETY: a and b walk the micro-panels the caller vouched for: k steps
        // of a_cs in A (MR rows at a_rs) and of NR floats in B.
        unsafe {
            let bv = [
                _mm512_loadu_ps(b),
                _mm512_loadu_ps(b.add(16)),
                _mm512_loadu_ps(b.add(32)),
                _mm512_loadu_ps(b.add(48)),
            ];
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm512_set1_ps(*a.add(i * rs));
                for (c, &bj) in row.iter_mut().zip(&bv) {
                    *c = _mm512_fmadd_ps(ai, bj, *c);
                }
            }
            a = a.add(t.a_cs);
            b = b.add(NR);
        }
    }
    let alpha = _mm512_set1_ps(t.alpha);
    if t.m == MR && t.n == NR && t.c_cs == 1 {
        let beta = _mm512_set1_ps(t.beta);
        for (i, row) in acc.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                // SAFETY: full tile with unit column stride: 64 contiguous floats per row.
                unsafe {
                    let dst = t.c.add(i * t.c_rs + 16 * j);
                    let out = if t.beta == 0.0 {
                        _mm512_mul_ps(alpha, v)
                    } else {
                        _mm512_fmadd_ps(beta, _mm512_loadu_ps(dst), _mm512_mul_ps(alpha, v))
                    };
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
