//! Layer normalisation over the last axis of a contiguous (rows, n) buffer,
//! fused forward and backward.
//!
//! Forward: mean and rstd = 1/√(var + eps) per row (biased variance, two
//! passes over the cached row), `y = (x − mean)·rstd·w + b`.
//! Backward, with x̂ = (x − mean)·rstd and g = dy·w:
//!   dx = rstd·(g − mean(g) − x̂·mean(g·x̂)),  dw = Σ_rows dy·x̂,  db = Σ_rows dy.
//! dw/db are reduced deterministically: each fixed chunk of rows writes its
//! partial sums, then the partials are added in chunk order.

use std::ops::Range;

use rayon::prelude::*;

use super::rows::{add_assign as add_rows, add_assign_with, ld, st};
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
    /// This chunk's rows of x, or of x and the residual summed into it.
    x: LnInput<'a>,
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

/// `y = (x − mu)·r·w + b` of `R` rows (`x[k]`, `y[k·n..]`, statistics
/// `s[k]`), row by row; `W` / `B`: whether there is a weight / bias (`w` /
/// `b` then n floats), so the loop has no test of them.
#[inline(always)]
unsafe fn normalise<V: F32Vec, const R: usize, const W: bool, const B: bool>(
    x: [&[f32]; R],
    y: &mut [f32],
    (w, b): (&[f32], &[f32]),
    s: [(V::V, V::V); R],
) {
    let n = x[0].len();
    let one = |xv: V::V, (muv, rv): (V::V, V::V), wv: V::V, bv: V::V| {
        let mut v = V::mul(V::sub(xv, muv), rv);
        if W {
            v = V::mul(v, wv);
        }
        if B {
            v = V::add(v, bv);
        }
        v
    };
    let full = n / V::LANES * V::LANES;
    let zero = V::splat(0.0);
    for k in 0..R {
        let y = &mut y[k * n..(k + 1) * n];
        for o in (0..full).step_by(V::LANES) {
            // SAFETY: o + LANES <= full <= n, the length of w, b (when
            // used), x[k] and y.
            let wv = if W {
                V::load(w.get_unchecked(o..))
            } else {
                zero
            };
            let bv = if B {
                V::load(b.get_unchecked(o..))
            } else {
                zero
            };
            let v = one(V::load(x[k].get_unchecked(o..)), s[k], wv, bv);
            V::store(y.get_unchecked_mut(o..), v);
        }
        if full < n {
            let l = n - full;
            let wv = if W { ld::<V>(w, full, l, 0.0) } else { zero };
            let bv = if B { ld::<V>(b, full, l, 0.0) } else { zero };
            st::<V>(y, full, l, one(ld::<V>(x[k], full, l, 0.0), s[k], wv, bv));
        }
    }
}

impl Fwd<'_> {
    /// Normalises `R` rows starting at row `r0` (first adding the residual
    /// to them, for a `Sum`, so they are in L1 for the statistics).
    #[inline(always)]
    unsafe fn rows<V: F32Vec, const R: usize>(&mut self, r0: usize) {
        let n = self.n;
        let span = r0 * n..(r0 + R) * n;
        if let LnInput::Sum(x, res) = &mut self.x {
            add_assign_with::<V>(&mut x[span.clone()], &res[span.clone()]);
        }
        let xall: &[f32] = match &self.x {
            LnInput::Plain(x) => x,
            LnInput::Sum(x, _) => x,
        };
        let x: [&[f32]; R] = std::array::from_fn(|k| &xall[(r0 + k) * n..(r0 + k + 1) * n]);
        let (mu, rstd) = stats::<V, R>(x, n, self.eps);
        self.mean[r0..r0 + R].copy_from_slice(&mu);
        self.rstd[r0..r0 + R].copy_from_slice(&rstd);
        let s: [(V::V, V::V); R] = std::array::from_fn(|k| (V::splat(mu[k]), V::splat(rstd[k])));
        let y = &mut self.y[span];
        match (self.w, self.b) {
            (Some(w), Some(b)) => normalise::<V, R, true, true>(x, y, (w, b), s),
            (Some(w), None) => normalise::<V, R, true, false>(x, y, (w, &[]), s),
            (None, Some(b)) => normalise::<V, R, false, true>(x, y, (&[], b), s),
            (None, None) => normalise::<V, R, false, false>(x, y, (&[], &[]), s),
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
    let run = |x: LnInput<'_>, yc: &mut [f32], mc: &mut [f32], rsc: &mut [f32]| {
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
            run(LnInput::Plain(&x[r0..r0 + yc.len()]), yc, mc, rsc);
        }),
        LnInput::Sum(x, res) => out
            .zip(x.par_chunks_mut(rc * n).zip(res.par_chunks(rc * n)))
            .for_each(|((yc, (mc, rsc)), (xc, rc_))| run(LnInput::Sum(xc, rc_), yc, mc, rsc)),
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
    /// A residual gradient added to dx in the same pass (rows × n), or empty.
    res: &'a [f32],
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

    /// Pass 2 at offset `o`: dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), plus
    /// the residual's row `res` when `RES` (the one f32 addition of adding
    /// it afterwards).
    #[inline(always)]
    unsafe fn dx<const RES: bool>(
        &self,
        o: usize,
        l: usize,
        (mg, mgx): (V::V, V::V),
        dx: &mut [f32],
        res: &[f32],
    ) {
        let (_, xh, g) = self.load(o, l);
        let v = V::mul(V::fnma(xh, mgx, V::sub(g, mg)), self.rv);
        let v = if RES {
            V::add(v, ld::<V>(res, o, l, 0.0))
        } else {
            v
        };
        st::<V>(dx, o, l, v);
    }
}

impl Bwd<'_> {
    /// The chunk's rows one at a time; `RES`: whether `res` holds a residual.
    #[inline(always)]
    unsafe fn rows<V: F32Vec, const RES: bool>(self) {
        // One row at a time: unlike the forward, grouping rows measured slower
        // here (on (768, 128), single thread: 4 rows 23.4 µs, 2 rows 26.5 µs,
        // 1 row 19.9 µs); this pass is bound by loads and stores, not latency.
        let n = self.n;
        let full = n / V::LANES * V::LANES;
        let inv_n = 1.0 / n as f32;
        let rows = self.dy.chunks_exact(n).zip(self.x.chunks_exact(n));
        let stats = self.mean.iter().zip(self.rstd);
        let mut res_rows = self.res.chunks_exact(n);
        for (((dy, x), (&mu, &r)), dx) in rows.zip(stats).zip(self.dx.chunks_exact_mut(n)) {
            let res = if RES {
                res_rows.next().unwrap_or(&[])
            } else {
                &[]
            };
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
            let m = (
                V::splat(V::hsum(s.0) * inv_n),
                V::splat(V::hsum(s.1) * inv_n),
            );
            o = 0;
            while o < full {
                row.dx::<RES>(o, V::LANES, m, dx, res);
                o += V::LANES;
            }
            if o < n {
                row.dx::<RES>(o, n - o, m, dx, res);
            }
        }
    }
}

impl Kernel for Bwd<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        if self.res.is_empty() {
            self.rows::<V, false>()
        } else {
            self.rows::<V, true>()
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
                    res: res.map_or(&[], |res| &res[r0 * n..r1 * n]),
                    dw,
                    db,
                    n,
                });
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

/// Vectors of columns whose dw and db sums stay in registers while a
/// [`ParamSums`] chunk streams a tile of its rows (2 accumulators each).
const PARAM_COLS: usize = 4;

/// Floats of dy (and as many of x) per row tile of [`ParamSums`]: a tile's
/// rows are read once per block of columns, so they should stay in L1.
const PARAM_TILE: usize = 4096;

impl ParamSums<'_> {
    /// Adds rows `rows` (in order) of the `K` vectors of columns from `o0`
    /// (the last `tail` ≤ LANES wide, the others whole) to the partials, the
    /// sums kept in registers over the rows: the operations of
    /// `BwdRow::sums`, so its bits.
    #[inline(always)]
    unsafe fn columns<V: F32Vec, const K: usize>(
        &mut self,
        o0: usize,
        tail: usize,
        rows: Range<usize>,
    ) {
        let n = self.dw.len();
        let len = |k: usize| if k + 1 == K { tail } else { V::LANES };
        let at = |k: usize| o0 + k * V::LANES;
        let mut sw: [V::V; K] = std::array::from_fn(|k| ld::<V>(self.dw, at(k), len(k), 0.0));
        let mut sb: [V::V; K] = std::array::from_fn(|k| ld::<V>(self.db, at(k), len(k), 0.0));
        let (dy, x) = (
            &self.dy[rows.start * n..rows.end * n],
            &self.x[rows.start * n..rows.end * n],
        );
        let stats = self.mean[rows.clone()].iter().zip(&self.rstd[rows]);
        for ((dy, x), (&mu, &r)) in dy.chunks_exact(n).zip(x.chunks_exact(n)).zip(stats) {
            let (muv, rv) = (V::splat(mu), V::splat(r));
            for k in 0..K {
                let d = ld::<V>(dy, at(k), len(k), 0.0);
                let xh = V::mul(V::sub(ld::<V>(x, at(k), len(k), 0.0), muv), rv);
                sw[k] = V::fma(d, xh, sw[k]);
                sb[k] = V::add(d, sb[k]);
            }
        }
        for k in 0..K {
            st::<V>(self.dw, at(k), len(k), sw[k]);
            st::<V>(self.db, at(k), len(k), sb[k]);
        }
    }
}

impl Kernel for ParamSums<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(mut self) {
        // Blocks of columns over a tile of rows, the sums in registers,
        // rather than rows over all columns (each partial loaded, updated
        // and stored per row). Each column still adds its rows in order.
        let n = self.dw.len();
        let rows = self.mean.len();
        let tile = (PARAM_TILE / n).max(1);
        let block = PARAM_COLS * V::LANES;
        for r0 in (0..rows).step_by(tile) {
            let r = r0..(r0 + tile).min(rows);
            let mut o = 0;
            while o + block <= n {
                self.columns::<V, PARAM_COLS>(o, V::LANES, r.clone());
                o += block;
            }
            while o < n {
                self.columns::<V, 1>(o, V::LANES.min(n - o), r.clone());
                o += V::LANES;
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
