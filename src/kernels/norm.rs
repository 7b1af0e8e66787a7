//! Layer normalisation over the last axis of a contiguous (rows, n) buffer,
//! fused forward and backward.
//!
//! Forward: mean and rstd = 1/√(var + eps) per row (biased variance, two
//! passes over the cached row), `y = (x − mean)·rstd·w + b`.
//! Backward, with x̂ = (x − mean)·rstd and g = dy·w:
//!   dx = rstd·(g − mean(g) − x̂·mean(g·x̂)),  dw = Σ_rows dy·x̂,  db = Σ_rows dy.
//! dw/db are reduced deterministically: each fixed chunk of rows writes its
//! partial sums, then the partials are added in chunk order.

use rayon::prelude::*;

use super::rows::{ld, st, steps};
use crate::error::{KernelError, Result};
use crate::simd::{dispatch, F32Vec, Kernel};

fn check_len(op: &'static str, arg: &str, len: usize, want: usize) -> Result<()> {
    if len != want {
        return Err(KernelError::shape(
            op,
            format!("{arg}: expected {want} elements, got {len}"),
        ));
    }
    Ok(())
}

/// Rows per chunk: ~64K elements, fixed by the problem.
fn chunk_rows(rows: usize, n: usize) -> usize {
    crate::threads::chunk_len(rows, n, 64 * 1024)
}

struct Fwd<'a> {
    x: &'a [f32],
    y: &'a mut [f32],
    mean: &'a mut [f32],
    rstd: &'a mut [f32],
    w: Option<&'a [f32]>,
    b: Option<&'a [f32]>,
    n: usize,
    eps: f32,
}

impl Kernel for Fwd<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        let n = self.n;
        let rows = self.x.chunks_exact(n).zip(self.y.chunks_exact_mut(n));
        let stats = self.mean.iter_mut().zip(self.rstd.iter_mut());
        for ((x, y), (mean, rstd)) in rows.zip(stats) {
            let mut s = V::splat(0.0);
            for (o, l) in steps::<V>(n) {
                s = V::add(s, ld::<V>(x, o, l, 0.0));
            }
            let mu = V::hsum(s) / n as f32;
            let muv = V::splat(mu);
            let mut q = V::splat(0.0);
            for (o, l) in steps::<V>(n) {
                // Tail lanes load mu so that they contribute 0.
                let d = V::sub(ld::<V>(x, o, l, mu), muv);
                q = V::fma(d, d, q);
            }
            let r = 1.0 / (V::hsum(q) / n as f32 + self.eps).sqrt();
            *mean = mu;
            *rstd = r;
            let rv = V::splat(r);
            for (o, l) in steps::<V>(n) {
                let mut v = V::mul(V::sub(ld::<V>(x, o, l, 0.0), muv), rv);
                if let Some(w) = self.w {
                    v = V::mul(v, ld::<V>(w, o, l, 0.0));
                }
                if let Some(b) = self.b {
                    v = V::add(v, ld::<V>(b, o, l, 0.0));
                }
                st::<V>(y, o, l, v);
            }
        }
    }
}

/// LayerNorm forward over the last axis.
///
/// # Shapes
/// - x, y: (rows, n) contiguous
/// - weight, bias: (n,) or absent
/// - mean, rstd: (rows,)
#[allow(clippy::too_many_arguments)]
pub fn layer_norm(
    x: &[f32],
    weight: Option<&[f32]>,
    bias: Option<&[f32]>,
    rows: usize,
    n: usize,
    eps: f32,
    y: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
) -> Result<()> {
    const OP: &str = "layer_norm";
    check_len(OP, "x", x.len(), rows * n)?;
    check_len(OP, "out", y.len(), rows * n)?;
    check_len(OP, "mean", mean.len(), rows)?;
    check_len(OP, "rstd", rstd.len(), rows)?;
    if let Some(w) = weight {
        check_len(OP, "weight", w.len(), n)?;
    }
    if let Some(b) = bias {
        check_len(OP, "bias", b.len(), n)?;
    }
    if !(eps.is_finite() && eps >= 0.0) {
        return Err(KernelError::value(
            OP,
            format!("eps: expected a finite value >= 0, got {eps}"),
        ));
    }
    if rows == 0 {
        return Ok(());
    }
    if n == 0 {
        return Err(KernelError::shape(
            OP,
            "x: the normalized axis is empty (n = 0)",
        ));
    }
    let rc = chunk_rows(rows, n);
    y.par_chunks_mut(rc * n)
        .zip(mean.par_chunks_mut(rc).zip(rstd.par_chunks_mut(rc)))
        .enumerate()
        .for_each(|(c, (yc, (mc, rsc)))| {
            let r0 = c * rc * n;
            dispatch(Fwd {
                x: &x[r0..r0 + yc.len()],
                y: yc,
                mean: mc,
                rstd: rsc,
                w: weight,
                b: bias,
                n,
                eps,
            });
        });
    Ok(())
}

struct Bwd<'a> {
    dy: &'a [f32],
    x: &'a [f32],
    w: Option<&'a [f32]>,
    mean: &'a [f32],
    rstd: &'a [f32],
    dx: &'a mut [f32],
    /// This chunk's partial dw and db (n each), or empty when not wanted.
    dw: &'a mut [f32],
    db: &'a mut [f32],
    n: usize,
}

impl Kernel for Bwd<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        let n = self.n;
        let want_wb = !self.dw.is_empty();
        let rows = self.dy.chunks_exact(n).zip(self.x.chunks_exact(n));
        let stats = self.mean.iter().zip(self.rstd);
        for (((dy, x), (&mu, &r)), dx) in rows.zip(stats).zip(self.dx.chunks_exact_mut(n)) {
            let (muv, rv) = (V::splat(mu), V::splat(r));
            // Σ g and Σ g·x̂; accumulate dw, db partials on the way.
            let mut sg = V::splat(0.0);
            let mut sgx = V::splat(0.0);
            for (o, l) in steps::<V>(n) {
                let d = ld::<V>(dy, o, l, 0.0);
                let xh = V::mul(V::sub(ld::<V>(x, o, l, 0.0), muv), rv);
                let g = match self.w {
                    Some(w) => V::mul(d, ld::<V>(w, o, l, 0.0)),
                    None => d,
                };
                sg = V::add(sg, g);
                sgx = V::fma(g, xh, sgx);
                if want_wb {
                    st::<V>(self.dw, o, l, V::fma(d, xh, ld::<V>(self.dw, o, l, 0.0)));
                    st::<V>(self.db, o, l, V::add(d, ld::<V>(self.db, o, l, 0.0)));
                }
            }
            let inv_n = 1.0 / n as f32;
            let mg = V::splat(V::hsum(sg) * inv_n);
            let mgx = V::splat(V::hsum(sgx) * inv_n);
            for (o, l) in steps::<V>(n) {
                let d = ld::<V>(dy, o, l, 0.0);
                let xh = V::mul(V::sub(ld::<V>(x, o, l, 0.0), muv), rv);
                let g = match self.w {
                    Some(w) => V::mul(d, ld::<V>(w, o, l, 0.0)),
                    None => d,
                };
                let v = V::fnma(xh, mgx, V::sub(g, mg));
                st::<V>(dx, o, l, V::mul(v, rv));
            }
        }
    }
}

struct AddRows<'a> {
    acc: &'a mut [f32],
    src: &'a [f32],
}

impl Kernel for AddRows<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        for (o, l) in steps::<V>(self.acc.len()) {
            let v = V::add(ld::<V>(self.acc, o, l, 0.0), ld::<V>(self.src, o, l, 0.0));
            st::<V>(self.acc, o, l, v);
        }
    }
}

/// LayerNorm backward. `dweight`/`dbias` are filled when given (both or
/// neither), reduced over rows in a fixed order.
///
/// # Shapes
/// - dy, x, dx: (rows, n) contiguous
/// - weight, dweight, dbias: (n,)
/// - mean, rstd: (rows,) from the forward
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward(
    dy: &[f32],
    x: &[f32],
    weight: Option<&[f32]>,
    mean: &[f32],
    rstd: &[f32],
    rows: usize,
    n: usize,
    dx: &mut [f32],
    dwb: Option<(&mut [f32], &mut [f32])>,
) -> Result<()> {
    const OP: &str = "layer_norm_backward";
    check_len(OP, "dy", dy.len(), rows * n)?;
    check_len(OP, "x", x.len(), rows * n)?;
    check_len(OP, "out", dx.len(), rows * n)?;
    check_len(OP, "mean", mean.len(), rows)?;
    check_len(OP, "rstd", rstd.len(), rows)?;
    if let Some(w) = weight {
        check_len(OP, "weight", w.len(), n)?;
    }
    if let Some((dw, db)) = &dwb {
        check_len(OP, "dweight", dw.len(), n)?;
        check_len(OP, "dbias", db.len(), n)?;
    }
    if n == 0 {
        return if rows == 0 {
            Ok(())
        } else {
            Err(KernelError::shape(
                OP,
                "x: the normalized axis is empty (n = 0)",
            ))
        };
    }
    let rc = chunk_rows(rows, n);
    let chunks = rows.div_ceil(rc);
    let pn = if dwb.is_some() { n } else { 0 };
    let mut partial_w = vec![0.0f32; chunks * pn];
    let mut partial_b = vec![0.0f32; chunks * pn];
    if rows > 0 {
        // One (dw, db) partial pair per chunk; empty slices when not wanted.
        let parts: Vec<(&mut [f32], &mut [f32])> = if pn > 0 {
            partial_w
                .chunks_mut(n)
                .zip(partial_b.chunks_mut(n))
                .collect()
        } else {
            (0..chunks).map(|_| (&mut [][..], &mut [][..])).collect()
        };
        dx.par_chunks_mut(rc * n)
            .zip(parts.into_par_iter())
            .enumerate()
            .for_each(|(c, (dxc, (dw, db)))| {
                let r0 = c * rc;
                let r1 = r0 + dxc.len() / n;
                dispatch(Bwd {
                    dy: &dy[r0 * n..r1 * n],
                    x: &x[r0 * n..r1 * n],
                    w: weight,
                    mean: &mean[r0..r1],
                    rstd: &rstd[r0..r1],
                    dx: dxc,
                    dw,
                    db,
                    n,
                });
            });
    }
    if let Some((dw, db)) = dwb {
        dw.fill(0.0);
        db.fill(0.0);
        for c in 0..chunks {
            dispatch(AddRows {
                acc: dw,
                src: &partial_w[c * n..(c + 1) * n],
            });
            dispatch(AddRows {
                acc: db,
                src: &partial_b[c * n..(c + 1) * n],
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "norm_tests.rs"]
mod tests;
