//! AVX2+FMA 6×16 microkernel: 12 ymm accumulators (6 rows × 2 vectors), two
//! B vectors and one broadcast of A per step of K (16 registers in all).

use std::arch::x86_64::*;

use super::kernel::{row_times_block, store_partial, MicroKernel, Tile};
use super::pack::{self, MatRef};

const MR: usize = 6;
const NR: usize = 16;

#[derive(Debug, Clone, Copy)]
pub struct Avx2;

impl MicroKernel for Avx2 {
    const MR: usize = MR;
    const NR: usize = NR;
    const NAME: &'static str = "avx2";

    fn available() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }

    fn pack_a(dst: &mut [f32], src: MatRef<'_>, rows: usize, kc: usize, parallel: bool) {
        pack::pack_a::<MR>(dst, src, rows, kc, parallel)
    }

    fn pack_b(dst: &mut [f32], src: MatRef<'_>, kc: usize, cols: usize, parallel: bool) {
        pack::pack_b::<NR>(dst, src, kc, cols, parallel)
    }

    fn row_times_block(acc: &mut [f32], a: &[f32], b: MatRef<'_>, j0: usize) {
        assert!(Self::available());
        // SAFETY: AVX2 and FMA are present (checked just above); the body is safe code.
        unsafe { row_times_block_avx2(acc, a, b, j0) }
    }

    unsafe fn run(t: &Tile) {
        // SAFETY: AVX2 and FMA are present (`available()`, caller's contract).
        unsafe { kernel(t) }
    }
}

/// [`row_times_block`] compiled for AVX2.
#[target_feature(enable = "avx2,fma")]
unsafe fn row_times_block_avx2(acc: &mut [f32], a: &[f32], b: MatRef<'_>, j0: usize) {
    row_times_block(acc, a, b, j0)
}

#[target_feature(enable = "avx2,fma")]
unsafe fn kernel(t: &Tile) {
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    let (mut a, mut b) = (t.a, t.b);
    let rs = t.a_rs;
    for _ in 0..t.k {
        // SAFETY: a and b walk the micro-panels the caller vouched for: k steps
        // of a_cs in A (MR rows at a_rs) and of b_rs in B (NR floats each).
        unsafe {
            let b0 = _mm256_loadu_ps(b);
            let b1 = _mm256_loadu_ps(b.add(8));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm256_broadcast_ss(&*a.add(i * rs));
                row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
            }
            a = a.add(t.a_cs);
            b = b.add(t.b_rs);
        }
    }
    let alpha = _mm256_set1_ps(t.alpha);
    if t.m == MR && t.n == NR && t.c_cs == 1 {
        let beta = _mm256_set1_ps(t.beta);
        let mut bias = [_mm256_setzero_ps(); 2];
        if !t.bias.is_null() {
            for (j, b) in bias.iter_mut().enumerate() {
                // SAFETY: the bias is readable at j < n = NR (caller's contract).
                *b = unsafe { _mm256_loadu_ps(t.bias.add(8 * j)) };
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                // SAFETY: full tile with unit column stride: 16 contiguous floats per row.
                unsafe {
                    let dst = t.c.add(i * t.c_rs + 8 * j);
                    let mut out = if t.beta == 0.0 {
                        _mm256_mul_ps(alpha, v)
                    } else {
                        _mm256_fmadd_ps(beta, _mm256_loadu_ps(dst), _mm256_mul_ps(alpha, v))
                    };
                    if !t.bias.is_null() {
                        out = _mm256_add_ps(out, bias[j]);
                    }
                    _mm256_storeu_ps(dst, out);
                }
            }
        }
    } else {
        let mut buf = [0.0f32; MR * NR];
        for (i, row) in acc.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                // SAFETY: buf has MR·NR floats; (i, 8j) + 8 ≤ that.
                unsafe {
                    _mm256_storeu_ps(
                        buf.as_mut_ptr().add(i * NR + 8 * j),
                        _mm256_mul_ps(alpha, v),
                    )
                };
            }
        }
        // SAFETY: the C contract is the caller's; buf holds MR×NR floats.
        unsafe { store_partial(&buf, NR, t) }
    }
}
