//! A whole pre-norm Transformer block, forward and backward, each as one call.
//!
//! `x2 = x + out(attn(qkv(ln1(x))))`, `y = x2 + fc2(gelu(fc1(ln2(x2))))`
//! (nanoGPT; `attnrs.nn.TransformerBlock` with no dropout, masks or cache).
//!
//! The Python `_Block` autograd node ran these as ~12 `_core` calls forward
//! and ~12 backward (plus NumPy for the residual sums), each with its own
//! wrapper, checks and pool hand-off: serial Python time in every training
//! step. Here the same kernels run in the same order, with the same strides,
//! on buffers the caller gives, so every result is the Python path's bit for
//! bit: LayerNorm `norm::layer_norm` / `layer_norm_backward`, the
//! projections `linear::forward` / `linear::backward` (W row-major), the
//! attention `attention::forward` / `backward_packed` on heads read in place
//! from the fused (B, T, 3, H, D) projection, GELU `activation`, and the
//! residual sums as the same f32 additions NumPy does. Three of the four
//! sums run inside the LayerNorm pass beside them (`norm::layer_norm_with`'s
//! `LnInput::Sum`, `layer_norm_backward_with`'s residual), chunk by chunk,
//! which saves a parallel region and a pass over (B·T) × C each.
//!
//! Forward keeps what backward needs in one caller-owned buffer
//! ([`BlockShape::saved_len`]); backward uses a second one as scratch
//! ([`BlockShape::scratch_len`]). Both run in the caller's rayon pool; every
//! kernel splits its work by the problem alone, so results do not depend on
//! the thread count.
//!
//! # Shapes
//! - x, y, dx: (B·T) × C row-major; weights as the Linear/LayerNorm layers hold them

use crate::error::{KernelError, Result};
use crate::kernels::activation::{self, Act};
use crate::kernels::attention::{self, AttnParams, BackwardInputs, Layout, Masks, PackedGrads};
use crate::kernels::linear::{self, Grads, Linear};
use crate::kernels::norm;
use crate::kernels::rows::{add_assign, elems_per_chunk};
use rayon::prelude::*;

const OP: &str = "transformer_block";

/// Sizes of one block call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BlockShape {
    pub batch: usize,
    pub t: usize,
    /// Model width C (a multiple of `heads`).
    pub width: usize,
    pub heads: usize,
    /// MLP hidden width F.
    pub ff: usize,
    pub eps1: f32,
    pub eps2: f32,
    pub causal: bool,
}

/// The block's parameters, as `TransformerBlock` holds them: LayerNorm
/// weight/bias (C each, optional), Linear weights (out × inp, row-major) and
/// biases (out, optional): qkv C → 3C, out C → C, fc1 C → F, fc2 F → C.
#[derive(Debug, Clone, Copy)]
pub struct BlockWeights<'a> {
    pub ln1_w: Option<&'a [f32]>,
    pub ln1_b: Option<&'a [f32]>,
    pub qkv_w: &'a [f32],
    pub qkv_b: Option<&'a [f32]>,
    pub out_w: &'a [f32],
    pub out_b: Option<&'a [f32]>,
    pub ln2_w: Option<&'a [f32]>,
    pub ln2_b: Option<&'a [f32]>,
    pub fc1_w: &'a [f32],
    pub fc1_b: Option<&'a [f32]>,
    pub fc2_w: &'a [f32],
    pub fc2_b: Option<&'a [f32]>,
}

/// The gradients one backward call writes. `dx` and the LayerNorms' four are
/// always written (a LayerNorm without weight still fills its slot); a
/// Linear's weight or bias gradient only where given.
pub struct BlockGrads<'a> {
    pub dx: &'a mut [f32],
    pub ln1_w: &'a mut [f32],
    pub ln1_b: &'a mut [f32],
    pub qkv_w: Option<&'a mut [f32]>,
    pub qkv_b: Option<&'a mut [f32]>,
    pub out_w: Option<&'a mut [f32]>,
    pub out_b: Option<&'a mut [f32]>,
    pub ln2_w: &'a mut [f32],
    pub ln2_b: &'a mut [f32],
    pub fc1_w: Option<&'a mut [f32]>,
    pub fc1_b: Option<&'a mut [f32]>,
    pub fc2_w: Option<&'a mut [f32]>,
    pub fc2_b: Option<&'a mut [f32]>,
}

/// The forward's intermediates, views into the saved buffer.
struct Saved<T> {
    h1: T,
    qkv: T,
    o: T,
    x2: T,
    h2: T,
    u: T,
    g: T,
    m1: T,
    r1: T,
    m2: T,
    r2: T,
    lse: T,
}

impl<T> From<[T; 12]> for Saved<T> {
    /// The pieces in the order of [`BlockShape::lens`].
    fn from([h1, qkv, o, x2, h2, u, g, m1, r1, m2, r2, lse]: [T; 12]) -> Self {
        Saved {
            h1,
            qkv,
            o,
            x2,
            h2,
            u,
            g,
            m1,
            r1,
            m2,
            r2,
            lse,
        }
    }
}

/// Splits `buf` into consecutive pieces of the given lengths (the caller
/// checked that they add up to `buf.len()`).
fn split_mut<const N: usize>(mut buf: &mut [f32], lens: [usize; N]) -> [&mut [f32]; N] {
    lens.map(|n| {
        let (head, tail) = std::mem::take(&mut buf).split_at_mut(n);
        buf = tail;
        head
    })
}

fn check_len(arg: &str, got: usize, want: usize) -> Result<()> {
    if got != want {
        return Err(KernelError::shape(
            OP,
            format!("{arg}: expected {want} elements, got {got}"),
        ));
    }
    Ok(())
}

fn check_opt(arg: &str, got: Option<usize>, want: usize) -> Result<()> {
    got.map_or(Ok(()), |n| check_len(arg, n, want))
}

impl BlockShape {
    /// Rows B·T.
    pub fn rows(&self) -> usize {
        self.batch * self.t
    }

    /// Floats per row (of B·T) of each saved piece, in [`Saved`] order; the
    /// attention's lse is (B, H, T), `heads` floats a row of the same batch.
    fn row_widths(&self) -> [usize; 12] {
        let (c, f) = (self.width, self.ff);
        [c, 3 * c, c, c, c, f, f, 1, 1, 1, 1, self.heads]
    }

    fn lens(&self) -> [usize; 12] {
        self.row_widths().map(|w| w * self.rows())
    }

    /// Sequences of each data-parallel part (see [`forward`]): one part on
    /// the calling thread outside a pool; else up to one part per thread,
    /// each at least `MIN_PART_ROWS` rows, the batch spread evenly.
    fn parts(&self) -> Vec<usize> {
        let threads = match rayon::current_thread_index() {
            Some(_) => rayon::current_num_threads(),
            None => 1,
        };
        let by_rows = (self.rows() / MIN_PART_ROWS).max(1);
        let p = threads.min(self.batch).min(by_rows).max(1);
        (0..p)
            .map(|i| self.batch / p + usize::from(i < self.batch % p))
            .collect()
    }

    /// This shape with `batch` sequences.
    fn with_batch(&self, batch: usize) -> BlockShape {
        BlockShape { batch, ..*self }
    }

    /// Floats of the forward's saved buffer.
    pub fn saved_len(&self) -> usize {
        self.lens().iter().sum()
    }

    /// Floats of the backward's scratch buffer.
    pub fn scratch_len(&self) -> usize {
        self.rows() * self.scratch_widths().iter().sum::<usize>()
    }

    /// Floats per row of each inner gradient in the backward's scratch:
    /// dg, du (F), dh2, dx2, d_o (C), dqkv (3C), dh1 (C).
    fn scratch_widths(&self) -> [usize; 7] {
        let (c, f) = (self.width, self.ff);
        [f, f, c, c, c, 3 * c, c]
    }

    /// Work (multiply-adds of the largest product row) below which a caller
    /// may run the block on its own thread, as the per-op bindings would.
    pub fn work(&self) -> usize {
        self.rows()
            .saturating_mul(self.width)
            .saturating_mul(self.ff.max(3 * self.width))
    }

    fn split<'a>(&self, buf: &'a [f32]) -> Saved<&'a [f32]> {
        self.split_saved(buf).into()
    }

    fn split_saved<'a>(&self, mut buf: &'a [f32]) -> [&'a [f32]; 12] {
        self.lens().map(|n| {
            let (head, tail) = buf.split_at(n);
            buf = tail;
            head
        })
    }

    /// Checks the sizes and epsilons alone (before the buffers are sized by them).
    pub fn check(&self) -> Result<()> {
        let (c, f, h) = (self.width, self.ff, self.heads);
        if c == 0 || h == 0 || !c.is_multiple_of(h) || f == 0 {
            return Err(KernelError::shape(
                OP,
                format!("width: expected a positive multiple of heads {h} and ff > 0, got width {c}, ff {f}"),
            ));
        }
        for (arg, eps) in [("eps1", self.eps1), ("eps2", self.eps2)] {
            if !(eps.is_finite() && eps >= 0.0) {
                return Err(KernelError::value(
                    OP,
                    format!("{arg}: expected a finite number >= 0, got {eps}"),
                ));
            }
        }
        Ok(())
    }

    fn validate(&self, w: &BlockWeights<'_>) -> Result<()> {
        self.check()?;
        let (c, f) = (self.width, self.ff);
        let n = |v: Option<&[f32]>| v.map(<[f32]>::len);
        check_opt("ln1 weight", n(w.ln1_w), c)?;
        check_opt("ln1 bias", n(w.ln1_b), c)?;
        check_len("qkv weight", w.qkv_w.len(), 3 * c * c)?;
        check_opt("qkv bias", n(w.qkv_b), 3 * c)?;
        check_len("out weight", w.out_w.len(), c * c)?;
        check_opt("out bias", n(w.out_b), c)?;
        check_opt("ln2 weight", n(w.ln2_w), c)?;
        check_opt("ln2 bias", n(w.ln2_b), c)?;
        check_len("fc1 weight", w.fc1_w.len(), f * c)?;
        check_opt("fc1 bias", n(w.fc1_b), f)?;
        check_len("fc2 weight", w.fc2_w.len(), c * f)?;
        check_opt("fc2 bias", n(w.fc2_b), c)
    }

    /// The attention problem on the fused projection: q, k, v are heads read
    /// in place from (B, T, 3, H, D) rows (k and v start C and 2C floats in),
    /// the output is written as (B, T, H, D); scale 1/√D as Python computes it.
    fn attn(&self) -> AttnParams {
        let (c, t, h) = (self.width, self.t, self.heads);
        let d = c / h;
        let in_qkv = Layout {
            batch: t * 3 * c,
            head: d,
            time: 3 * c,
            dim: 1,
        };
        let rows = Layout {
            batch: t * c,
            head: d,
            time: c,
            dim: 1,
        };
        AttnParams {
            batch: self.batch,
            heads: h,
            tq: t,
            tk: t,
            d,
            dv: d,
            scale: (1.0f64 / (d as f64).sqrt()) as f32,
            causal: self.causal,
            causal_offset: 0,
            q: in_qkv,
            k: in_qkv,
            v: in_qkv,
            o: rows,
        }
    }
}

/// A Linear backward's outputs: dx always, dW and db where given.
fn lin<'a>(x: &'a mut [f32], w: Option<&'a mut [f32]>, b: Option<&'a mut [f32]>) -> Grads<'a> {
    Grads { x: Some(x), w, b }
}

const NO_MASKS: Masks<'static> = Masks {
    key_padding: None,
    additive: None,
};

/// `x += y` elementwise, in fixed chunks over the pool: the residual sums,
/// the f32 additions of NumPy's `np.add(x, y, out=x)`.
fn add_into(x: &mut [f32], y: &[f32]) {
    let cl = elems_per_chunk(x.len());
    x.par_chunks_mut(cl)
        .zip(y.par_chunks(cl))
        .for_each(|(a, b)| add_assign(a, b));
}

/// Smallest data-parallel part, in rows: below it the per-part packing of
/// the weights and the nested fork-joins cost more than the locality saves.
const MIN_PART_ROWS: usize = 128;

/// Cuts each of `pieces` (row-major, `widths[i]` floats a row) into
/// consecutive parts of `rows[j]` rows each.
fn split_rows<T: Default, const N: usize>(
    mut pieces: [T; N],
    widths: [usize; N],
    rows: &[usize],
    split_at: impl Fn(T, usize) -> (T, T),
) -> Vec<[T; N]> {
    rows.iter()
        .map(|&r| {
            std::array::from_fn(|i| {
                let (head, tail) = split_at(std::mem::take(&mut pieces[i]), r * widths[i]);
                pieces[i] = tail;
                head
            })
        })
        .collect()
}

/// The block's output `y` from `x`, keeping its intermediates in `saved`
/// (`s.saved_len()` floats) for [`backward`]. Runs in the caller's pool.
///
/// The batch is cut into parts of whole sequences, one per thread
/// ([`BlockShape::parts`]), and each part runs the whole block: every step
/// is row-wise or per sequence, so a part's rows stay in the cache of the
/// thread that made them (each op over all rows reached only 1.6-1.8x on
/// two threads: its input sat in the other core's L2). Each part's kernels
/// still split inside the pool, so an idle thread steals from a busy one.
/// Rows are computed the same way in any part, so the result does not depend
/// on the parts (nor on the thread count).
///
/// # Shapes
/// - x, y: (B·T) × C; saved: `s.saved_len()`
pub fn forward(
    s: &BlockShape,
    w: &BlockWeights<'_>,
    x: &[f32],
    saved: &mut [f32],
    y: &mut [f32],
) -> Result<()> {
    s.validate(w)?;
    let (n, c) = (s.rows(), s.width);
    check_len("x", x.len(), n * c)?;
    check_len("y", y.len(), n * c)?;
    check_len("saved", saved.len(), s.saved_len())?;
    if n == 0 {
        return Ok(());
    }
    let parts = s.parts();
    let rows: Vec<usize> = parts.iter().map(|b| b * s.t).collect();
    let xs = split_rows([x], [c], &rows, <[f32]>::split_at);
    let ys = split_rows([y], [c], &rows, <[f32]>::split_at_mut);
    let svs = split_rows(
        split_mut(saved, s.lens()),
        s.row_widths(),
        &rows,
        <[f32]>::split_at_mut,
    );
    parts
        .into_par_iter()
        .zip(xs)
        .zip(ys)
        .zip(svs)
        .map(|(((b, [x]), [y]), sv)| forward_part(&s.with_batch(b), w, x, sv.into(), y))
        .collect()
}

/// [`forward`] of one part (all of it, for one part).
fn forward_part(
    s: &BlockShape,
    w: &BlockWeights<'_>,
    x: &[f32],
    sv: Saved<&mut [f32]>,
    y: &mut [f32],
) -> Result<()> {
    let (n, c, f) = (s.rows(), s.width, s.ff);
    norm::layer_norm(x, w.ln1_w, w.ln1_b, n, c, s.eps1, sv.h1, sv.m1, sv.r1)?;
    linear::forward(&Linear::new(n, c, 3 * c), sv.h1, w.qkv_w, w.qkv_b, sv.qkv)?;
    let qkv: &[f32] = sv.qkv;
    attention::forward(
        &s.attn(),
        &NO_MASKS,
        qkv,
        &qkv[c..],
        &qkv[2 * c..],
        sv.o,
        sv.lse,
    )?;
    linear::forward(&Linear::new(n, c, c), sv.o, w.out_w, w.out_b, sv.x2)?;
    // x2 = out + x, normalised in the same pass over its rows.
    norm::layer_norm_with(
        norm::LnInput::Sum(sv.x2, x),
        (w.ln2_w, w.ln2_b),
        n,
        c,
        s.eps2,
        sv.h2,
        (sv.m2, sv.r2),
    )?;
    linear::forward(&Linear::new(n, c, f), sv.h2, w.fc1_w, w.fc1_b, sv.u)?;
    activation::forward(Act::Gelu, sv.u, sv.g)?;
    linear::forward(&Linear::new(n, f, c), sv.g, w.fc2_w, w.fc2_b, y)?;
    add_into(y, sv.x2);
    Ok(())
}

/// Every gradient of the block from `dy`, the input `x` and the forward's
/// `saved` buffer; `scratch` (`s.scratch_len()` floats) holds the inner
/// gradients. Runs in the caller's pool.
///
/// # Shapes
/// - x, dy: (B·T) × C; saved: `s.saved_len()`; scratch: `s.scratch_len()`; grads: as the weights
#[allow(clippy::too_many_arguments)]
pub fn backward(
    s: &BlockShape,
    w: &BlockWeights<'_>,
    x: &[f32],
    saved: &[f32],
    dy: &[f32],
    scratch: &mut [f32],
    grads: BlockGrads<'_>,
) -> Result<()> {
    s.validate(w)?;
    let (n, c, f) = (s.rows(), s.width, s.ff);
    check_len("x", x.len(), n * c)?;
    check_len("dy", dy.len(), n * c)?;
    check_len("saved", saved.len(), s.saved_len())?;
    check_len("scratch", scratch.len(), s.scratch_len())?;
    check_len("dx", grads.dx.len(), n * c)?;
    for (arg, g) in [
        ("ln1 weight grad", &grads.ln1_w),
        ("ln1 bias grad", &grads.ln1_b),
        ("ln2 weight grad", &grads.ln2_w),
        ("ln2 bias grad", &grads.ln2_b),
    ] {
        check_len(arg, g.len(), c)?;
    }
    // linear::backward checks the Linear gradients' sizes before any work.
    if n == 0 {
        // No rows: every parameter gradient is a sum over nothing.
        let BlockGrads {
            ln1_w,
            ln1_b,
            qkv_w,
            qkv_b,
            out_w,
            out_b,
            ln2_w,
            ln2_b,
            fc1_w,
            fc1_b,
            fc2_w,
            fc2_b,
            ..
        } = grads;
        for g in [ln1_w, ln1_b, ln2_w, ln2_b].into_iter().chain(
            [qkv_w, qkv_b, out_w, out_b, fc1_w, fc1_b, fc2_w, fc2_b]
                .into_iter()
                .flatten(),
        ) {
            g.fill(0.0);
        }
        return Ok(());
    }
    let widths = s.scratch_widths();
    let [dg, du, dh2, dx2, d_o, dqkv, dh1] = split_mut(scratch, widths.map(|w| n * w));
    let BlockGrads {
        dx,
        ln1_w: dln1_w,
        ln1_b: dln1_b,
        qkv_w,
        qkv_b,
        out_w,
        out_b,
        ln2_w: dln2_w,
        ln2_b: dln2_b,
        fc1_w,
        fc1_b,
        fc2_w,
        fc2_b,
    } = grads;
    // 1. The input gradients, part by part as the forward ran (row-wise or
    // per sequence, so the parts do not change a bit).
    let parts = s.parts();
    let rows: Vec<usize> = parts.iter().map(|b| b * s.t).collect();
    let ins = split_rows(
        s.split_saved(saved),
        s.row_widths(),
        &rows,
        <[f32]>::split_at,
    );
    let xs = split_rows([x, dy], [c, c], &rows, <[f32]>::split_at);
    let mut out_widths = [c; 8]; // dx, then the scratch pieces
    out_widths[1..].copy_from_slice(&widths);
    let outs = split_rows(
        [dx, dg, du, dh2, dx2, d_o, dqkv, dh1],
        out_widths,
        &rows,
        <[f32]>::split_at_mut,
    );
    parts
        .into_par_iter()
        .zip(ins)
        .zip(xs)
        .zip(outs)
        .map(|(((b, sv), [x, dy]), d)| {
            backward_part(&s.with_batch(b), s.batch, w, x, sv.into(), dy, d)
        })
        .collect::<Result<()>>()?;
    // 2. The parameter gradients, sums over all rows, each the kernel's own
    // fixed-order reduction (so the same bits as one call per layer).
    let sv = s.split(saved);
    let (du, dh2, dx2, dqkv, dh1) = (&*du, &*dh2, &*dx2, &*dqkv, &*dh1);
    // dW and db of one Linear (no dX: step 1 made it).
    let dw = |p: Linear, x, w, dy, wg, bg| {
        move || {
            linear::backward(
                &p,
                x,
                w,
                dy,
                Grads {
                    x: None,
                    w: wg,
                    b: bg,
                },
            )
        }
    };
    let fc2 = dw(Linear::new(n, f, c), sv.g, w.fc2_w, dy, fc2_w, fc2_b);
    let fc1 = dw(Linear::new(n, c, f), sv.h2, w.fc1_w, du, fc1_w, fc1_b);
    let out = dw(Linear::new(n, c, c), sv.o, w.out_w, dx2, out_w, out_b);
    let qkv = dw(Linear::new(n, c, 3 * c), sv.h1, w.qkv_w, dqkv, qkv_w, qkv_b);
    let norms = || {
        norm::layer_norm_param_grads(dh2, sv.x2, (sv.m2, sv.r2), n, c, (dln2_w, dln2_b))?;
        norm::layer_norm_param_grads(dh1, x, (sv.m1, sv.r1), n, c, (dln1_w, dln1_b))
    };
    // Independent products, side by side: fewer joins than one after the other.
    let ((r_fc2, r_fc1), ((r_out, r_qkv), r_norms)) = rayon::join(
        || rayon::join(fc2, fc1),
        || rayon::join(|| rayon::join(out, qkv), norms),
    );
    r_fc2.and(r_fc1).and(r_out).and(r_qkv).and(r_norms)
}

/// Step 1 of [`backward`] on one part (`s`, of a batch of `whole_batch`
/// sequences): dx and the inner gradients `[dx, dg, du, dh2, dx2, d_o, dqkv,
/// dh1]`, each the part's rows.
fn backward_part(
    s: &BlockShape,
    whole_batch: usize,
    w: &BlockWeights<'_>,
    x: &[f32],
    sv: Saved<&[f32]>,
    dy: &[f32],
    [dx, dg, du, dh2, dx2, d_o, dqkv, dh1]: [&mut [f32]; 8],
) -> Result<()> {
    let (n, c, f) = (s.rows(), s.width, s.ff);
    linear::backward(
        &Linear::new(n, f, c),
        sv.g,
        w.fc2_w,
        dy,
        lin(dg, None, None),
    )?;
    activation::backward(Act::Gelu, sv.u, dg, du)?;
    linear::backward(
        &Linear::new(n, c, f),
        sv.h2,
        w.fc1_w,
        du,
        lin(dh2, None, None),
    )?;
    // dx2 = ln2's input gradient + dy (the residual), in one pass.
    norm::layer_norm_backward_with(
        dh2,
        sv.x2,
        w.ln2_w,
        (sv.m2, sv.r2),
        n,
        c,
        dx2,
        None,
        Some(dy),
    )?;
    linear::backward(
        &Linear::new(n, c, c),
        sv.o,
        w.out_w,
        dx2,
        lin(d_o, None, None),
    )?;
    let p = s.attn();
    let inputs = BackwardInputs {
        q: sv.qkv,
        k: &sv.qkv[c..],
        v: &sv.qkv[2 * c..],
        o: sv.o,
        lse: sv.lse,
        dout: d_o,
    };
    // dq, dk, dv go straight into the (B, T, 3, H, D) gradient of the projection.
    let packed = PackedGrads {
        which: c,
        layout: p.q,
    };
    // Grouped as the whole batch's call would group them: the number of key
    // groups (and so dQ's summation order) depends on B·H.
    attention::backward_packed_part(&p, p.o, packed, &NO_MASKS, inputs, whole_batch, dqkv)?;
    linear::backward(
        &Linear::new(n, c, 3 * c),
        sv.h1,
        w.qkv_w,
        dqkv,
        lin(dh1, None, None),
    )?;
    norm::layer_norm_backward_with(dh1, x, w.ln1_w, (sv.m1, sv.r1), n, c, dx, None, Some(dx2))
}

/// [`forward`] of a stack of blocks, one after the other in one call (the
/// model's whole block stack: no Python between the blocks). Block i reads
/// `x` (i = 0) or `ys[i - 1]` and writes `saved[i]` and `ys[i]`; the last
/// `ys` is the stack's output. Each block is exactly one [`forward`] call,
/// so the bits are those of calling the blocks one by one.
///
/// # Shapes
/// - `s`, `w`, `saved`, `ys`: one entry per block; x and every `ys[i]`: (B·T) × C
pub fn forward_stack(
    s: &[BlockShape],
    w: &[BlockWeights<'_>],
    x: &[f32],
    saved: Vec<&mut [f32]>,
    ys: Vec<&mut [f32]>,
) -> Result<()> {
    check_stack(s.len(), [w.len(), saved.len(), ys.len()])?;
    let mut input = x;
    for ((si, wi), (sv, y)) in s.iter().zip(w).zip(saved.into_iter().zip(ys)) {
        forward(si, wi, input, sv, &mut *y)?;
        input = y;
    }
    Ok(())
}

/// [`backward`] of a stack run by [`forward_stack`], last block first: block
/// i reads its input `xs[i]` (x, then the forward's `ys`), `saved[i]` and
/// the gradient of its output — `dy` for the last block, else the `dx` that
/// block i + 1 just wrote into `grads[i + 1]` — and writes `grads[i]`;
/// `grads[0].dx` is the stack's input gradient. One [`backward`] call per
/// block, so the bits are those of calling the blocks one by one.
///
/// # Shapes
/// - `s`, `w`, `xs`, `saved`, `grads`: one entry per block; dy and each `dx`: (B·T) × C
#[allow(clippy::too_many_arguments)]
pub fn backward_stack(
    s: &[BlockShape],
    w: &[BlockWeights<'_>],
    xs: &[&[f32]],
    saved: &[&[f32]],
    dy: &[f32],
    scratch: &mut [f32],
    grads: Vec<BlockGrads<'_>>,
) -> Result<()> {
    check_stack(s.len(), [w.len(), xs.len(), saved.len(), grads.len()])?;
    let mut upstream = dy;
    for (i, g) in grads.into_iter().enumerate().rev() {
        let dx = g.dx;
        backward(
            &s[i],
            &w[i],
            xs[i],
            saved[i],
            upstream,
            scratch,
            BlockGrads { dx: &mut *dx, ..g },
        )?;
        upstream = dx;
    }
    Ok(())
}

/// Every per-block list of a stack call has one entry per block (at least one).
fn check_stack<const N: usize>(blocks: usize, lens: [usize; N]) -> Result<()> {
    if blocks == 0 || lens.iter().any(|&l| l != blocks) {
        return Err(KernelError::shape(
            OP,
            format!("a stack needs one entry per block in every list (at least one block); got {blocks} shapes and lists of {lens:?}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
