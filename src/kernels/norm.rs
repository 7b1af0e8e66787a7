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

use super::rows::{add_assign as add_rows, ld, st};
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

/// Forward rows per chunk: ~16K elements, fixed by the problem. (At 64K the
/// GPT's (768, 128) split into 512 + 256 rows, so two threads gained little.)
fn chunk_rows(rows: usize, n: usize) -> usize {
    super::rows::rows_per_chunk(rows, n)
}

/// Backward rows per chunk: as the forward, but at least 64 rows, so that the
/// per-chunk dw/db partials (n floats each) stay under 1/32 of the input.
fn chunk_rows_bwd(rows: usize, n: usize) -> usize {
    chunk_rows(rows, n).max(64).min(rows.max(1))
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

/// Rows whose statistics are reduced together: one row of the GPT's 128
/// floats is only 8 AVX-512 vectors, so a row's chain of dependent adds,
/// horizontal sums, divide and square root is latency-bound; `GROUP`
/// independent chains overlap. Each row is still reduced in its own fixed
/// order (one accumulator, vectors left to right), whatever the grouping.
const GROUP: usize = 4;

/// Mean and rstd = 1/√(var + eps) of `R` rows (two passes, biased variance).
#[inline(always)]
unsafe fn stats<V: F32Vec, const R: usize>(
    x: [&[f32]; R],
    n: usize,
    eps: f32,
) -> ([f32; R], [f32; R]) {
    let full = n / V::LANES * V::LANES;
    let mut acc = [V::splat(0.0); R];
    let mut o = 0;
    while o < full {
        for k in 0..R {
            acc[k] = V::add(acc[k], V::load(&x[k][o..o + V::LANES]));
        }
        o += V::LANES;
    }
    if o < n {
        for k in 0..R {
            acc[k] = V::add(acc[k], V::load_partial(&x[k][o..], 0.0));
        }
    }
    let mut mu = [0.0f32; R];
    let mut muv = [V::splat(0.0); R];
    for k in 0..R {
        mu[k] = V::hsum(acc[k]) / n as f32;
        muv[k] = V::splat(mu[k]);
        acc[k] = V::splat(0.0);
    }
    o = 0;
    while o < full {
        for k in 0..R {
            let d = V::sub(V::load(&x[k][o..o + V::LANES]), muv[k]);
            acc[k] = V::fma(d, d, acc[k]);
        }
        o += V::LANES;
    }
    if o < n {
        for k in 0..R {
            // Tail lanes load mu so that they contribute 0.
            let d = V::sub(V::load_partial(&x[k][o..], mu[k]), muv[k]);
            acc[k] = V::fma(d, d, acc[k]);
        }
    }
    let mut rstd = [0.0f32; R];
    for k in 0..R {
        rstd[k] = 1.0 / (V::hsum(acc[k]) / n as f32 + eps).sqrt();
    }
    (mu, rstd)
}

/// `(x − mu)·r·w + b` for one vector at offset `o` (`l` lanes).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn affine<V: F32Vec>(
    x: &[f32],
    w: Option<&[f32]>,
    b: Option<&[f32]>,
    muv: V::V,
    rv: V::V,
    o: usize,
    l: usize,
) -> V::V {
    let mut v = V::mul(V::sub(ld::<V>(x, o, l, 0.0), muv), rv);
    if let Some(w) = w {
        v = V::mul(v, ld::<V>(w, o, l, 0.0));
    }
    if let Some(b) = b {
        v = V::add(v, ld::<V>(b, o, l, 0.0));
    }
    v
}

impl Fwd<'_> {
    /// Normalises `R` rows starting at row `r0`.
    #[inline(always)]
    unsafe fn rows<V: F32Vec, const R: usize>(&mut self, r0: usize) {
        let n = self.n;
        let x: [&[f32]; R] = std::array::from_fn(|k| &self.x[(r0 + k) * n..(r0 + k + 1) * n]);
        let (mu, rstd) = stats::<V, R>(x, n, self.eps);
        let (w, b) = (self.w, self.b);
        let full = n / V::LANES * V::LANES;
        for k in 0..R {
            self.mean[r0 + k] = mu[k];
            self.rstd[r0 + k] = rstd[k];
            let (muv, rv) = (V::splat(mu[k]), V::splat(rstd[k]));
            let y = &mut self.y[(r0 + k) * n..(r0 + k + 1) * n];
            let mut o = 0;
            while o < full {
                let v = affine::<V>(x[k], w, b, muv, rv, o, V::LANES);
                V::store(&mut y[o..o + V::LANES], v);
                o += V::LANES;
            }
            if o < n {
                V::store_partial(&mut y[o..], affine::<V>(x[k], w, b, muv, rv, o, n - o));
            }
        }
    }
}

impl Kernel for Fwd<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(mut self) {
        let rows = self.mean.len();
        let grouped = rows / GROUP * GROUP;
        let mut r = 0;
        while r < grouped {
            self.rows::<V, GROUP>(r);
            r += GROUP;
        }
        while r < rows {
            self.rows::<V, 1>(r);
            r += 1;
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
    layer_norm_with(
        LnInput::Plain(x),
        (weight, bias),
        rows,
        n,
        eps,
        y,
        (mean, rstd),
    )
}

/// The forward's input: x itself, or a residual sum done in the same pass
/// (`Sum(x, res)`: `x += res`, the f32 additions of `np.add(x, res, out=x)`,
/// then the LayerNorm of the new x; each chunk of rows is normalised while its
/// sum is still in cache, bitwise the same as the sum and then [`layer_norm`]).
pub enum LnInput<'a> {
    Plain(&'a [f32]),
    Sum(&'a mut [f32], &'a [f32]),
}

/// [`layer_norm`] of an [`LnInput`].
///
/// # Shapes
/// - as [`layer_norm`] (weight and bias, mean and rstd as pairs); a residual: (rows, n) contiguous
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_with(
    input: LnInput<'_>,
    (weight, bias): (Option<&[f32]>, Option<&[f32]>),
    rows: usize,
    n: usize,
    eps: f32,
    y: &mut [f32],
    (mean, rstd): (&mut [f32], &mut [f32]),
) -> Result<()> {
    const OP: &str = "layer_norm";
    let x_len = match &input {
        LnInput::Plain(x) => x.len(),
        LnInput::Sum(x, res) => {
            check_len(OP, "residual", res.len(), rows * n)?;
            x.len()
        }
    };
    check_len(OP, "x", x_len, rows * n)?;
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
    let run = |x: &[f32], yc: &mut [f32], mc: &mut [f32], rsc: &mut [f32]| {
        dispatch(Fwd {
            x,
            y: yc,
            mean: mc,
            rstd: rsc,
            w: weight,
            b: bias,
            n,
            eps,
        })
    };
    let out = y
        .par_chunks_mut(rc * n)
        .zip(mean.par_chunks_mut(rc).zip(rstd.par_chunks_mut(rc)));
    match input {
        LnInput::Plain(x) => out.enumerate().for_each(|(c, (yc, (mc, rsc)))| {
            let r0 = c * rc * n;
            run(&x[r0..r0 + yc.len()], yc, mc, rsc);
        }),
        LnInput::Sum(x, res) => out
            .zip(x.par_chunks_mut(rc * n).zip(res.par_chunks(rc * n)))
            .for_each(|((yc, (mc, rsc)), (xc, rc_))| {
                add_rows(xc, rc_);
                run(xc, yc, mc, rsc);
            }),
    }
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

/// One row of the backward, borrowed from a `Bwd` chunk.
struct BwdRow<'a, V: F32Vec> {
    dy: &'a [f32],
    x: &'a [f32],
    w: Option<&'a [f32]>,
    muv: V::V,
    rv: V::V,
}

impl<V: F32Vec> BwdRow<'_, V> {
    /// (dy, x̂, g = dy·w) at offset `o` (`l` lanes).
    #[inline(always)]
    unsafe fn load(&self, o: usize, l: usize) -> (V::V, V::V, V::V) {
        let d = ld::<V>(self.dy, o, l, 0.0);
        let xh = V::mul(V::sub(ld::<V>(self.x, o, l, 0.0), self.muv), self.rv);
        let g = match self.w {
            Some(w) => V::mul(d, ld::<V>(w, o, l, 0.0)),
            None => d,
        };
        (d, xh, g)
    }

    /// Pass 1 at offset `o`: Σ g and Σ g·x̂; dy·x̂ and dy added to the dw, db
    /// partials (when `dw` is non-empty).
    #[inline(always)]
    unsafe fn sums(
        &self,
        o: usize,
        l: usize,
        s: &mut (V::V, V::V),
        dw: &mut [f32],
        db: &mut [f32],
    ) {
        let (d, xh, g) = self.load(o, l);
        s.0 = V::add(s.0, g);
        s.1 = V::fma(g, xh, s.1);
        if !dw.is_empty() {
            st::<V>(dw, o, l, V::fma(d, xh, ld::<V>(dw, o, l, 0.0)));
            st::<V>(db, o, l, V::add(d, ld::<V>(db, o, l, 0.0)));
        }
    }

    /// Pass 2 at offset `o`: dx = rstd·(g − mean(g) − x̂·mean(g·x̂)).
    #[inline(always)]
    unsafe fn dx(&self, o: usize, l: usize, mg: V::V, mgx: V::V, dx: &mut [f32]) {
        let (_, xh, g) = self.load(o, l);
        let v = V::fnma(xh, mgx, V::sub(g, mg));
        st::<V>(dx, o, l, V::mul(v, self.rv));
    }
}

impl Kernel for Bwd<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        // One row at a time: unlike the forward, grouping rows measured slower
        // here (on (768, 128), single thread: 4 rows 23.4 µs, 2 rows 26.5 µs,
        // 1 row 19.9 µs); this pass is bound by loads and stores, not latency.
        let n = self.n;
        let full = n / V::LANES * V::LANES;
        let inv_n = 1.0 / n as f32;
        let rows = self.dy.chunks_exact(n).zip(self.x.chunks_exact(n));
        let stats = self.mean.iter().zip(self.rstd);
        for (((dy, x), (&mu, &r)), dx) in rows.zip(stats).zip(self.dx.chunks_exact_mut(n)) {
            let row = BwdRow::<V> {
                dy,
                x,
                w: self.w,
                muv: V::splat(mu),
                rv: V::splat(r),
            };
            let mut s = (V::splat(0.0), V::splat(0.0));
            let mut o = 0;
            while o < full {
                row.sums(o, V::LANES, &mut s, self.dw, self.db);
                o += V::LANES;
            }
            if o < n {
                row.sums(o, n - o, &mut s, self.dw, self.db);
            }
            let mg = V::splat(V::hsum(s.0) * inv_n);
            let mgx = V::splat(V::hsum(s.1) * inv_n);
            o = 0;
            while o < full {
                row.dx(o, V::LANES, mg, mgx, dx);
                o += V::LANES;
            }
            if o < n {
                row.dx(o, n - o, mg, mgx, dx);
            }
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
    layer_norm_backward_with(dy, x, weight, (mean, rstd), rows, n, dx, dwb, None)
}

/// [`layer_norm_backward`] with, when `res` is given, a residual gradient
/// added to dx in the same pass: `dx = layer_norm_backward(..) + res`, bitwise
/// the same as the backward followed by `np.add(dx, res, out=dx)`.
///
/// # Shapes
/// - as [`layer_norm_backward`] (the forward's mean and rstd as a pair); res: (rows, n) contiguous
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward_with(
    dy: &[f32],
    x: &[f32],
    weight: Option<&[f32]>,
    (mean, rstd): (&[f32], &[f32]),
    rows: usize,
    n: usize,
    dx: &mut [f32],
    dwb: Option<(&mut [f32], &mut [f32])>,
    res: Option<&[f32]>,
) -> Result<()> {
    const OP: &str = "layer_norm_backward";
    if let Some(res) = res {
        check_len(OP, "residual", res.len(), rows * n)?;
    }
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
    let rc = chunk_rows_bwd(rows, n);
    let chunks = rows.div_ceil(rc);
    let pn = if dwb.is_some() { n } else { 0 };
    let mut partial_w = crate::kernels::alloc::try_zeros(OP, &[chunks, pn])?;
    let mut partial_b = crate::kernels::alloc::try_zeros(OP, &[chunks, pn])?;
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
                if let Some(res) = res {
                    add_rows(dxc, &res[r0 * n..r1 * n]);
                }
            });
    }
    if let Some((dw, db)) = dwb {
        sum_partials(&partial_w, dw);
        sum_partials(&partial_b, db);
    }
    Ok(())
}

/// `out` = the sum of the `out.len()`-float partials in `partials`, in order.
fn sum_partials(partials: &[f32], out: &mut [f32]) {
    out.fill(0.0);
    for p in partials.chunks_exact(out.len()) {
        add_rows(out, p);
    }
}

/// One chunk of rows' partial dw = Σ dy·x̂ and db = Σ dy, rows in order.
struct ParamSums<'a> {
    dy: &'a [f32],
    x: &'a [f32],
    mean: &'a [f32],
    rstd: &'a [f32],
    dw: &'a mut [f32],
    db: &'a mut [f32],
}

impl Kernel for ParamSums<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        let n = self.dw.len();
        let rows = self.dy.chunks_exact(n).zip(self.x.chunks_exact(n));
        for ((dy, x), (&mu, &r)) in rows.zip(self.mean.iter().zip(self.rstd)) {
            // The arithmetic of `BwdRow::sums`, so the partials are its bits.
            let row = BwdRow::<V> {
                dy,
                x,
                w: None,
                muv: V::splat(mu),
                rv: V::splat(r),
            };
            let mut o = 0;
            while o < n {
                let l = V::LANES.min(n - o);
                let (d, xh, _) = row.load(o, l);
                st::<V>(self.dw, o, l, V::fma(d, xh, ld::<V>(self.dw, o, l, 0.0)));
                st::<V>(self.db, o, l, V::add(d, ld::<V>(self.db, o, l, 0.0)));
                o += l;
            }
        }
    }
}

/// The LayerNorm's weight and bias gradients alone, bitwise what
/// [`layer_norm_backward_with`] writes beside dx (the same fixed chunks of
/// rows, rows in order, the chunk partials added in chunk order): for a
/// caller that computes dx in parts of the rows and these over all of them.
///
/// # Shapes
/// - dy, x: (rows, n) contiguous; mean, rstd: (rows,); dweight, dbias: (n,)
pub fn layer_norm_param_grads(
    dy: &[f32],
    x: &[f32],
    (mean, rstd): (&[f32], &[f32]),
    rows: usize,
    n: usize,
    (dw, db): (&mut [f32], &mut [f32]),
) -> Result<()> {
    const OP: &str = "layer_norm_param_grads";
    check_len(OP, "dy", dy.len(), rows * n)?;
    check_len(OP, "x", x.len(), rows * n)?;
    check_len(OP, "mean", mean.len(), rows)?;
    check_len(OP, "rstd", rstd.len(), rows)?;
    check_len(OP, "dweight", dw.len(), n)?;
    check_len(OP, "dbias", db.len(), n)?;
    if n == 0 {
        return Ok(());
    }
    let rc = chunk_rows_bwd(rows, n);
    let chunks = rows.div_ceil(rc);
    let mut partial_w = crate::kernels::alloc::try_zeros(OP, &[chunks, n])?;
    let mut partial_b = crate::kernels::alloc::try_zeros(OP, &[chunks, n])?;
    partial_w
        .par_chunks_mut(n)
        .zip(partial_b.par_chunks_mut(n))
        .enumerate()
        .for_each(|(c, (dw, db))| {
            let (r0, r1) = (c * rc, ((c + 1) * rc).min(rows));
            dispatch(ParamSums {
                dy: &dy[r0 * n..r1 * n],
                x: &x[r0 * n..r1 * n],
                mean: &mean[r0..r1],
                rstd: &rstd[r0..r1],
                dw,
                db,
            });
        });
    sum_partials(&partial_w, dw);
    sum_partials(&partial_b, db);
    Ok(())
}

#[cfg(test)]
mod tests;
