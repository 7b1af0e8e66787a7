//! Row-wise softmax and log-softmax over the last axis of a contiguous
//! (rows, n) buffer, forward and backward, fused: one read of the input and
//! one write of the output per call (the row is reused from cache).
//!
//! - softmax: `y = softmax(scale·x + mask)` per row, max-subtracted; a row
//!   whose entries are all `-inf` (fully masked) gives NaN, as in PyTorch.
//! - softmax backward: `dx = scale · y ⊙ (dy − Σ dy⊙y)`.
//! - log-softmax: `y = x − max − ln Σ exp(x − max)`;
//!   backward `dx = dy − exp(y) · Σ dy`.
//!
//! Rows are split into chunks fixed by the problem size and run in parallel
//! with rayon; every row is computed by one task in a fixed order, so the
//! result is bitwise identical for any thread count.

use super::rows::{exp_or_zero, ld, par_row_chunks, st, steps};
use crate::error::{KernelError, Result};
use crate::simd::{dispatch, F32Vec, Kernel};

/// An additive mask applied after the scale.
#[derive(Clone, Copy, Debug)]
pub enum Mask<'a> {
    None,
    /// One row of `n` values, broadcast over all rows.
    Row(&'a [f32]),
    /// A full (rows, n) mask, contiguous.
    Full(&'a [f32]),
}

fn check_len(op: &'static str, arg: &str, len: usize, rows: usize, n: usize) -> Result<()> {
    if len != rows * n {
        return Err(KernelError::shape(
            op,
            format!(
                "{arg}: expected {rows}×{n} = {} elements, got {len}",
                rows * n
            ),
        ));
    }
    Ok(())
}

struct Fwd<'a> {
    x: &'a [f32],
    y: &'a mut [f32],
    n: usize,
    scale: f32,
    /// The mask rows of this chunk: `Row` repeats, `Full` is sliced.
    mask: Mask<'a>,
}

impl Kernel for Fwd<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        let n = self.n;
        for (r, (x, y)) in self
            .x
            .chunks_exact(n)
            .zip(self.y.chunks_exact_mut(n))
            .enumerate()
        {
            let m = match self.mask {
                Mask::None => None,
                Mask::Row(m) => Some(m),
                Mask::Full(m) => Some(&m[r * n..(r + 1) * n]),
            };
            softmax_row::<V>(x, y, self.scale, m);
        }
    }
}

/// `scale·x + mask` at `x[o..o + l]`, plus `tail_bias` when `l < LANES`.
/// (A function, not a closure: closures do not inherit the shim's target
/// features, so the vector code in one would not inline.)
#[inline(always)]
unsafe fn logits<V: F32Vec>(
    x: &[f32],
    mask: Option<&[f32]>,
    sc: V::V,
    tail_bias: V::V,
    o: usize,
    l: usize,
) -> V::V {
    let bias = if l == V::LANES {
        V::splat(0.0)
    } else {
        tail_bias
    };
    let add = match mask {
        Some(m) => V::add(ld::<V>(m, o, l, 0.0), bias),
        None => bias,
    };
    V::fma(ld::<V>(x, o, l, 0.0), sc, add)
}

/// One row of softmax(scale·x + mask) into `y`.
#[inline(always)]
unsafe fn softmax_row<V: F32Vec>(x: &[f32], y: &mut [f32], scale: f32, mask: Option<&[f32]>) {
    let n = x.len();
    let sc = V::splat(scale);
    let ninf = f32::NEG_INFINITY;
    // 0 in the lanes of the (partial) last step, -inf past the row's end,
    // so padded lanes never win the max and add exp(-inf) = 0 to the sum.
    let tail = n % V::LANES;
    let zeros = [0.0f32; 64];
    let tail_bias = V::load_partial(&zeros[..tail], ninf);
    // Pass 1: running max of t = scale·x + mask.
    let mut mx = V::splat(ninf);
    for (o, l) in steps::<V>(n) {
        mx = V::max(mx, logits::<V>(x, mask, sc, tail_bias, o, l));
    }
    let mv = V::splat(V::hmax(mx));
    // Pass 2: e = exp(t − max) into y, running sum.
    let mut sum = V::splat(0.0);
    for (o, l) in steps::<V>(n) {
        let t = V::sub(logits::<V>(x, mask, sc, tail_bias, o, l), mv);
        let e = exp_or_zero::<V>(t);
        st::<V>(y, o, l, e);
        sum = V::add(sum, e);
    }
    // Pass 3: normalise (the row is still in cache).
    let inv = V::splat(1.0 / V::hsum(sum));
    for (o, l) in steps::<V>(n) {
        st::<V>(y, o, l, V::mul(ld::<V>(y, o, l, 0.0), inv));
    }
}

/// Softmax over the last axis: `y = softmax(scale·x + mask)` row by row.
///
/// # Shapes
/// - x, y: (rows, n) contiguous
/// - mask: `Row` (n,) or `Full` (rows, n)
pub fn softmax(
    x: &[f32],
    y: &mut [f32],
    rows: usize,
    n: usize,
    scale: f32,
    mask: Mask<'_>,
) -> Result<()> {
    const OP: &str = "softmax";
    check_len(OP, "x", x.len(), rows, n)?;
    check_len(OP, "out", y.len(), rows, n)?;
    match mask {
        Mask::None => {}
        Mask::Row(m) => check_len(OP, "mask", m.len(), 1, n)?,
        Mask::Full(m) => check_len(OP, "mask", m.len(), rows, n)?,
    }
    par_row_chunks(y, rows, n, |r, y| {
        let mask = match mask {
            Mask::Full(m) => Mask::Full(&m[r.clone()]),
            other => other,
        };
        let x = &x[r];
        dispatch(Fwd {
            x,
            y,
            n,
            scale,
            mask,
        });
    });
    Ok(())
}

/// Which backward: softmax's with its scale, or log-softmax's.
#[derive(Clone, Copy)]
enum Backward {
    Softmax { scale: f32 },
    LogSoftmax,
}

struct Bwd<'a> {
    y: &'a [f32],
    dy: &'a [f32],
    dx: &'a mut [f32],
    n: usize,
    kind: Backward,
}

impl Kernel for Bwd<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        let n = self.n;
        let rows = self.y.chunks_exact(n).zip(self.dy.chunks_exact(n));
        for ((y, dy), dx) in rows.zip(self.dx.chunks_exact_mut(n)) {
            match self.kind {
                Backward::Softmax { scale } => {
                    let mut dot = V::splat(0.0);
                    for (o, l) in steps::<V>(n) {
                        dot = V::fma(ld::<V>(dy, o, l, 0.0), ld::<V>(y, o, l, 0.0), dot);
                    }
                    let d = V::splat(V::hsum(dot));
                    let sc = V::splat(scale);
                    for (o, l) in steps::<V>(n) {
                        let g = V::sub(ld::<V>(dy, o, l, 0.0), d);
                        let v = V::mul(V::mul(ld::<V>(y, o, l, 0.0), g), sc);
                        st::<V>(dx, o, l, v);
                    }
                }
                Backward::LogSoftmax => {
                    let mut s = V::splat(0.0);
                    for (o, l) in steps::<V>(n) {
                        s = V::add(s, ld::<V>(dy, o, l, 0.0));
                    }
                    let s = V::splat(V::hsum(s));
                    for (o, l) in steps::<V>(n) {
                        let p = V::exp(ld::<V>(y, o, l, 0.0));
                        st::<V>(dx, o, l, V::fnma(p, s, ld::<V>(dy, o, l, 0.0)));
                    }
                }
            }
        }
    }
}

/// Either backward over (rows, n), row chunks in parallel.
fn backward(
    op: &'static str,
    kind: Backward,
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    rows: usize,
    n: usize,
) -> Result<()> {
    check_len(op, "y", y.len(), rows, n)?;
    check_len(op, "dy", dy.len(), rows, n)?;
    check_len(op, "out", dx.len(), rows, n)?;
    par_row_chunks(dx, rows, n, |r, dx| {
        let (y, dy) = (&y[r.clone()], &dy[r]);
        dispatch(Bwd { y, dy, dx, n, kind });
    });
    Ok(())
}

/// Softmax backward from the forward output: `dx = scale·y⊙(dy − Σ dy⊙y)`.
///
/// # Shapes
/// - y, dy, dx: (rows, n) contiguous
pub fn softmax_backward(
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    rows: usize,
    n: usize,
    scale: f32,
) -> Result<()> {
    let kind = Backward::Softmax { scale };
    backward("softmax_backward", kind, y, dy, dx, rows, n)
}

struct LogFwd<'a> {
    x: &'a [f32],
    y: &'a mut [f32],
    n: usize,
}

impl Kernel for LogFwd<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        let n = self.n;
        for (x, y) in self.x.chunks_exact(n).zip(self.y.chunks_exact_mut(n)) {
            // (x − max) − ln Σ: exact for the max entry, no large-magnitude rounding.
            let (m, ln_sum) = max_and_ln_sum_exp::<V>(x);
            let (mv, lv) = (V::splat(m), V::splat(ln_sum));
            for (o, l) in steps::<V>(n) {
                st::<V>(y, o, l, V::sub(V::sub(ld::<V>(x, o, l, 0.0), mv), lv));
            }
        }
    }
}

/// `(max, ln Σ exp(x − max))` of one row (NaN for an all `-inf` row).
#[inline(always)]
unsafe fn max_and_ln_sum_exp<V: F32Vec>(x: &[f32]) -> (f32, f32) {
    let ninf = f32::NEG_INFINITY;
    let mut mx = V::splat(ninf);
    for (o, l) in steps::<V>(x.len()) {
        mx = V::max(mx, ld::<V>(x, o, l, ninf));
    }
    let m = V::hmax(mx);
    let mv = V::splat(m);
    let mut sum = V::splat(0.0);
    for (o, l) in steps::<V>(x.len()) {
        let t = V::sub(ld::<V>(x, o, l, ninf), mv);
        sum = V::add(sum, exp_or_zero::<V>(t));
    }
    (m, V::hsum(sum).ln())
}

/// Log-softmax over the last axis.
///
/// # Shapes
/// - x, y: (rows, n) contiguous
pub fn log_softmax(x: &[f32], y: &mut [f32], rows: usize, n: usize) -> Result<()> {
    const OP: &str = "log_softmax";
    check_len(OP, "x", x.len(), rows, n)?;
    check_len(OP, "out", y.len(), rows, n)?;
    par_row_chunks(y, rows, n, |r, y| dispatch(LogFwd { x: &x[r], y, n }));
    Ok(())
}

/// Log-softmax backward from the forward output: `dx = dy − exp(y)·Σ dy`.
///
/// # Shapes
/// - y, dy, dx: (rows, n) contiguous
pub fn log_softmax_backward(
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    rows: usize,
    n: usize,
) -> Result<()> {
    let kind = Backward::LogSoftmax;
    backward("log_softmax_backward", kind, y, dy, dx, rows, n)
}

#[cfg(test)]
mod tests;
