//! Gradient clipping over a list of tensors: the total 2-norm, and scaling
//! every tensor in place (`torch.nn.utils.clip_grad_norm_`'s two passes);
//! and `accumulate`, a gradient added into `.grad` in place.
//!
//! The norm accumulates `x²` in f64 (the square of an f32 is exact in f64)
//! in `LANES` independent running sums per piece, in plain Rust with no FMA,
//! so every ISA rounds identically and the result is bitwise the same under
//! `ATTNRS_SIMD=scalar|avx2|avx512`; the body still vectorises inside the
//! `dispatch` shims. Pieces are summed per chunk (`multi_tensor::chunks`,
//! fixed by the sizes) and the chunk sums in chunk order: deterministic and
//! independent of the thread count.

use rayon::prelude::*;

use super::multi_tensor::{chunks, CHUNK};
use super::rows::{ld, st, steps};
use crate::simd::{dispatch, F32Vec, Kernel};

/// Running sums per piece: 32 f64 = four AVX-512 registers, enough
/// independent additions to hide the add latency.
const LANES: usize = 32;

struct SumSquares<'a> {
    x: &'a [f32],
}

impl Kernel for SumSquares<'_> {
    type Output = f64;
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) -> f64 {
        let mut acc = [0.0f64; LANES];
        let mut blocks = self.x.chunks_exact(LANES);
        for b in &mut blocks {
            for (a, &x) in acc.iter_mut().zip(b) {
                let x = x as f64;
                *a += x * x;
            }
        }
        for (a, &x) in acc.iter_mut().zip(blocks.remainder()) {
            let x = x as f64;
            *a += x * x;
        }
        // Pairwise, in a fixed order.
        let mut w = LANES;
        while w > 1 {
            w /= 2;
            for j in 0..w {
                acc[j] += acc[j + w];
            }
        }
        acc[0]
    }
}

/// `Σ x²` over every element of every tensor, in f64.
pub fn sum_squares(xs: &[&[f32]]) -> f64 {
    let sums: Vec<f64> = chunks(xs.iter().copied(), CHUNK)
        .into_par_iter()
        .map(|pieces| {
            pieces
                .into_iter()
                .map(|(_, x)| dispatch(SumSquares { x }))
                .sum::<f64>()
        })
        .collect();
    sums.into_iter().sum()
}

/// The total 2-norm `√(Σ x²)` over every tensor, in f64 (inf or NaN when
/// an element is).
pub fn total_norm2(xs: &[&[f32]]) -> f64 {
    sum_squares(xs).sqrt()
}

struct Scale<'a> {
    x: &'a mut [f32],
    c: f32,
}

impl Kernel for Scale<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        let c = V::splat(self.c);
        for (o, l) in steps::<V>(self.x.len()) {
            let y = V::mul(ld::<V>(self.x, o, l, 0.0), c);
            st::<V>(self.x, o, l, y);
        }
    }
}

/// `x ← c·x` for every tensor, in place (one f32 product per element).
pub fn scale(xs: Vec<&mut [f32]>, c: f32) {
    chunks(xs, CHUNK).into_par_iter().for_each(|pieces| {
        for (_, x) in pieces {
            dispatch(Scale { x, c });
        }
    });
}

/// `acc += src` elementwise in fixed chunks over the caller's rayon pool:
/// a later gradient contribution added into `.grad` (a 1M-float `x.grad +=
/// dx` took 0.28 ms on one thread, serial time in a 2-thread training step).
/// Each element is one f32 sum, so the bits are NumPy's `np.add`'s whatever
/// the chunks or the thread count.
pub fn accumulate(acc: &mut [f32], src: &[f32]) {
    assert_eq!(acc.len(), src.len(), "accumulate: lengths differ");
    acc.par_chunks_mut(CHUNK)
        .zip(src.par_chunks(CHUNK))
        .for_each(|(a, s)| super::rows::add_assign(a, s));
}

#[cfg(test)]
mod tests;
