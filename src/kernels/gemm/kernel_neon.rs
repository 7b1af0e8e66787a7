//! aarch64 NEON 8×12 microkernel: 24 q-register accumulators (8 rows × 3
//! vectors of 4), three B vectors and two A vectors per step of K — 29 of
//! the 32 128-bit registers.
//!
//! With A packed (8 rows contiguous per step of K) one step is 2 + 3 = 5
//! `ldr q` (80 bytes) for 24 `fmla v.4s, v.4s, v.s[lane]` (fused multiply-add
//! by element: the A value is taken from a lane of the loaded A vector, so no
//! broadcast instruction is needed). A core with two 128-bit FMA pipes and two
//! load pipes (Neoverse N1/V2, Apple M-series' four FMA pipes with three load
//! pipes) issues the 24 FMAs in 12 (6) cycles and the 5 loads in 3 (2), so the
//! loop is FMA-bound; 24 independent accumulators cover a 4-cycle FMA
//! latency on 2 (or 4) pipes. RESULTS.md shows the inner loop's disassembly.
//!
//! A read in place (small A, row stride `a_rs ≠ 1`) loads each of the 8
//! values with `ld1r` (load and broadcast) instead, 8 + 3 loads per 24 FMAs.
//! Edge tiles run the same body with fewer rows (`R < 8`) and vectors
//! (`V < 3`), like the x86 kernels.

use std::arch::aarch64::*;

use super::kernel::{row_times_block, store_partial, MicroKernel, Tile};
use super::pack::{self, MatRef};

const MR: usize = 8;
const NR: usize = 12;

#[derive(Debug, Clone, Copy)]
pub struct Neon;

impl MicroKernel for Neon {
    const MR: usize = MR;
    const NR: usize = NR;
    const NAME: &'static str = "neon";

    fn available() -> bool {
        std::arch::is_aarch64_feature_detected!("neon")
    }

    fn pack_a(dst: &mut [f32], src: MatRef<'_>, rows: usize, kc: usize, parallel: bool) {
        pack::pack_a::<MR>(dst, src, rows, kc, parallel)
    }

    fn pack_b(dst: &mut [f32], src: MatRef<'_>, kc: usize, cols: usize, parallel: bool) {
        pack::pack_b::<NR>(dst, src, kc, cols, parallel)
    }

    fn row_times_block(acc: &mut [f32], a: &[f32], b: MatRef<'_>, j0: usize) {
        assert!(Self::available());
        // SAFETY: NEON is present (checked just above); the body is safe code.
        unsafe { row_times_block_neon(acc, a, b, j0) }
    }

    unsafe fn run(t: &Tile) {
        // SAFETY: NEON is present (`available()`, caller's contract), and the
        // R×4V tile chosen covers the valid m×n region inside MR×NR.
        unsafe {
            match t.m {
                1 => by_cols::<1>(t),
                2 => by_cols::<2>(t),
                3 => by_cols::<3>(t),
                4 => by_cols::<4>(t),
                5 => by_cols::<5>(t),
                6 => by_cols::<6>(t),
                7 => by_cols::<7>(t),
                _ => by_cols::<8>(t),
            }
        }
    }
}

/// [`row_times_block`] compiled for NEON.
#[target_feature(enable = "neon")]
unsafe fn row_times_block_neon(acc: &mut [f32], a: &[f32], b: MatRef<'_>, j0: usize) {
    row_times_block(acc, a, b, j0)
}

/// Picks the number of 4-wide vectors that covers `t.n`.
///
/// # Safety
/// As [`MicroKernel::run`], with `R ≥ t.m`.
#[inline(always)]
unsafe fn by_cols<const R: usize>(t: &Tile) {
    // SAFETY: forwarded; 4·V ≥ t.n.
    unsafe {
        match (t.n.div_ceil(4), t.a_rs == 1) {
            (1, true) => kernel::<R, 1, true>(t),
            (2, true) => kernel::<R, 2, true>(t),
            (_, true) => kernel::<R, 3, true>(t),
            (1, false) => kernel::<R, 1, false>(t),
            (2, false) => kernel::<R, 2, false>(t),
            (_, false) => kernel::<R, 3, false>(t),
        }
    }
}

/// `c + b·a[lane]` (`fmla v.4s, v.4s, v.s[lane]`); `lane` is a constant
/// after the row loop unrolls, so the match folds away.
#[inline(always)]
unsafe fn fma_lane(c: float32x4_t, b: float32x4_t, a: float32x4_t, lane: usize) -> float32x4_t {
    match lane {
        0 => vfmaq_laneq_f32::<0>(c, b, a),
        1 => vfmaq_laneq_f32::<1>(c, b, a),
        2 => vfmaq_laneq_f32::<2>(c, b, a),
        _ => vfmaq_laneq_f32::<3>(c, b, a),
    }
}

/// An R×4V tile (R ≤ 8, V ≤ 3): reads R rows of A and 4V columns of B.
/// `PACKED`: A's rows are contiguous (`a_rs = 1`), loaded as vectors.
#[target_feature(enable = "neon")]
unsafe fn kernel<const R: usize, const V: usize, const PACKED: bool>(t: &Tile) {
    let mut acc = [[vdupq_n_f32(0.0); V]; R];
    let (mut a, mut b) = (t.a, t.b);
    let rs = t.a_rs;
    for _ in 0..t.k {
        // SAFETY: a and b walk the micro-panels the caller vouched for: k steps
        // of a_cs in A (R ≤ MR rows at a_rs; a packed panel holds MR = 8
        // floats per step, so both A vectors are readable) and of b_rs in B
        // (4V ≤ NR floats each).
        unsafe {
            let mut bv = [vdupq_n_f32(0.0); V];
            for (j, v) in bv.iter_mut().enumerate() {
                *v = vld1q_f32(b.add(4 * j));
            }
            if PACKED {
                let a0 = vld1q_f32(a);
                let a1 = if R > 4 { vld1q_f32(a.add(4)) } else { a0 };
                for (i, row) in acc.iter_mut().enumerate() {
                    let av = if i < 4 { a0 } else { a1 };
                    for (c, &bj) in row.iter_mut().zip(&bv) {
                        *c = fma_lane(*c, bj, av, i % 4);
                    }
                }
            } else {
                for (i, row) in acc.iter_mut().enumerate() {
                    let ai = vld1q_dup_f32(a.add(i * rs));
                    for (c, &bj) in row.iter_mut().zip(&bv) {
                        *c = vfmaq_f32(*c, ai, bj);
                    }
                }
            }
            a = a.add(t.a_cs);
            b = b.add(t.b_rs);
        }
    }
    let alpha = vdupq_n_f32(t.alpha);
    if t.m == R && t.n == 4 * V && t.c_cs == 1 {
        let beta = vdupq_n_f32(t.beta);
        let mut bias = [vdupq_n_f32(0.0); V];
        if !t.bias.is_null() {
            for (j, b) in bias.iter_mut().enumerate() {
                // SAFETY: the bias is readable at j < n = 4V (caller's contract).
                *b = unsafe { vld1q_f32(t.bias.add(4 * j)) };
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                // SAFETY: an exact R×4V tile with unit column stride.
                unsafe {
                    let dst = t.c.add(i * t.c_rs + 4 * j);
                    let mut out = if t.beta == 0.0 {
                        vmulq_f32(alpha, v)
                    } else {
                        vfmaq_f32(vmulq_f32(alpha, v), beta, vld1q_f32(dst))
                    };
                    if !t.bias.is_null() {
                        out = vaddq_f32(out, bias[j]);
                    }
                    vst1q_f32(dst, out);
                }
            }
        }
    } else {
        let mut buf = [0.0f32; MR * NR];
        for (i, row) in acc.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                // SAFETY: buf has MR·NR floats; (i, 4j) + 4 ≤ that.
                unsafe { vst1q_f32(buf.as_mut_ptr().add(i * NR + 4 * j), vmulq_f32(alpha, v)) };
            }
        }
        // SAFETY: the C contract is the caller's; buf holds MR×NR floats.
        unsafe { store_partial(&buf, NR, t) }
    }
}
