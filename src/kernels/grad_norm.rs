//! Gradient clipping over a list of tensors: the total 2-norm, and scaling
//! every tensor in place (`torch.nn.utils.clip_grad_norm_`'s two passes).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::test_util::{values, with_threads};
    use crate::simd::{available, dispatch_on};

    fn tensors() -> Vec<Vec<f32>> {
        // Odd sizes, an empty one, one spanning several chunks.
        [0usize, 1, 7, 31, 33, 127, 4099, CHUNK + 5, 2 * CHUNK + 17]
            .iter()
            .enumerate()
            .map(|(k, &n)| values(n, k as u64 + 1, 3.0))
            .collect()
    }

    #[test]
    fn norm_matches_f64_reference_and_is_thread_independent() {
        let ts = tensors();
        let xs: Vec<&[f32]> = ts.iter().map(|t| t.as_slice()).collect();
        let want: f64 = ts.iter().flatten().map(|&x| (x as f64) * (x as f64)).sum();
        let one = with_threads(1, || total_norm2(&xs));
        let two = with_threads(2, || total_norm2(&xs));
        assert_eq!(one.to_bits(), two.to_bits());
        assert!(
            (one - want.sqrt()).abs() <= 1e-12 * want.sqrt(),
            "{one} vs {}",
            want.sqrt()
        );
        assert_eq!(total_norm2(&[]), 0.0);
        assert!(total_norm2(&[&[1.0, f32::INFINITY]]).is_infinite());
        assert!(total_norm2(&[&[1.0], &[f32::NAN]]).is_nan());
    }

    #[test]
    fn piece_sums_are_identical_on_every_isa() {
        let x = values(1000, 9, 2.0);
        let want = dispatch_on(crate::simd::Isa::Scalar, SumSquares { x: &x });
        for level in available() {
            let got = dispatch_on(level, SumSquares { x: &x });
            assert_eq!(got.to_bits(), want.to_bits(), "{level:?}");
            let mut y = x.clone();
            dispatch_on(level, Scale { x: &mut y, c: -1.5 });
            assert!(y.iter().zip(&x).all(|(a, b)| *a == b * -1.5), "{level:?}");
        }
    }

    #[test]
    fn scale_multiplies_every_element_once() {
        let mut ts = tensors();
        let want: Vec<Vec<f32>> = ts
            .iter()
            .map(|t| t.iter().map(|&x| x * 0.37f32).collect())
            .collect();
        with_threads(2, || {
            scale(ts.iter_mut().map(|t| t.as_mut_slice()).collect(), 0.37)
        });
        assert_eq!(ts, want);
    }
}
