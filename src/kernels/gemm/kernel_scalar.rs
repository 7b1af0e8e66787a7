//! Portable 4×8 microkernel: plain Rust, always compiled, the fallback on
//! every CPU (LLVM vectorizes the inner row with the baseline SIMD).

use super::kernel::{store_partial, MicroKernel, Tile};
use super::pack::{self, MatRef};

const MR: usize = 4;
const NR: usize = 8;

#[derive(Debug, Clone, Copy)]
pub struct Scalar;

impl MicroKernel for Scalar {
    const MR: usize = MR;
    const NR: usize = NR;
    const NAME: &'static str = "scalar";

    fn available() -> bool {
        true
    }

    fn pack_a(dst: &mut [f32], src: MatRef<'_>, rows: usize, kc: usize, parallel: bool) {
        pack::pack_a::<MR>(dst, src, rows, kc, parallel)
    }

    fn pack_b(dst: &mut [f32], src: MatRef<'_>, kc: usize, cols: usize, parallel: bool) {
        pack::pack_b::<NR>(dst, src, kc, cols, parallel)
    }

    unsafe fn run(t: &Tile) {
        let mut acc = [[0.0f32; NR]; MR];
        for p in 0..t.k {
            // SAFETY: row p of the B micro-panel holds NR floats (caller's contract).
            let b = unsafe { std::slice::from_raw_parts(t.b.add(p * t.b_rs), NR) };
            for (i, row) in acc.iter_mut().enumerate() {
                // SAFETY: i < MR and p < k: inside the A micro-panel.
                let ai = unsafe { *t.a.add(i * t.a_rs + p * t.a_cs) };
                for (c, &bj) in row.iter_mut().zip(b) {
                    *c += ai * bj;
                }
            }
        }
        let mut buf = [0.0f32; MR * NR];
        for (dst, row) in buf.chunks_exact_mut(NR).zip(&acc) {
            for (d, &v) in dst.iter_mut().zip(row) {
                *d = t.alpha * v;
            }
        }
        // SAFETY: the C contract is the caller's; buf holds MR×NR floats.
        unsafe { store_partial(&buf, NR, t) }
    }
}
