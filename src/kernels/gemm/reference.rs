//! The naive triple loop: the test oracle for every optimized path. Accumulates
//! in f64 so it is more accurate than anything it checks.

use super::Gemm;

/// Assumes `g.validate` passed for these buffers.
pub fn sgemm_reference(g: &Gemm, a: &[f32], b: &[f32], c: &mut [f32]) {
    for p in 0..g.batch {
        for i in 0..g.m {
            for j in 0..g.n {
                let mut acc = 0.0f64;
                for l in 0..g.k {
                    let av = a[p * g.a.batch + i * g.a.row + l * g.a.col];
                    let bv = b[p * g.b.batch + l * g.b.row + j * g.b.col];
                    acc += av as f64 * bv as f64;
                }
                let ci = p * g.c.batch + i * g.c.row + j * g.c.col;
                let prev = if g.beta == 0.0 {
                    0.0
                } else {
                    g.beta as f64 * c[ci] as f64
                };
                c[ci] = (g.alpha as f64 * acc + prev) as f32;
            }
        }
    }
}
