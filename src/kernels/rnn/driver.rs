//! The time loops: forward over the whole sequence and BPTT backward.
//!
//! Batch rows never interact in a recurrence, so the batch is cut into one
//! block of rows per thread and each block runs the whole time loop by
//! itself, in parallel with the others: per step one recurrent GEMM on the
//! block's current state (a small dense buffer, see [`super::step`]), then
//! the gate math of each of its rows. That is one parallel region per
//! sequence rather than two per step. A batch of one block splits each
//! step's GEMM over the pool instead. How the batch is cut changes no result:
//! every row gets the same arithmetic in any block.

use rayon::prelude::*;

use super::buf;
use super::gates::{self, Bwd, Fwd};
use super::step::{self, StepW};
use super::OP;
use super::{
    check_common, check_saved, check_state, Dims, Grads, Mode, Output, Saved, SavedView, Weights,
};
use crate::error::{KernelError, Result};
use crate::kernels::alloc;
use crate::kernels::gemm::{sgemm, Gemm, Strides};
use crate::kernels::linear::{self, Linear};

/// Batch rows per block of the time loop: the batch shared evenly over the
/// pool's threads, but no block under one MR-row tile. Each block streams
/// the whole recurrent weight once per step, so few large blocks beat many
/// small ones; the cut never changes a result (see the module doc).
fn block_rows(batch: usize, mr: usize) -> usize {
    let blocks = rayon::current_num_threads().min(batch.div_ceil(mr)).max(1);
    batch.div_ceil(blocks).max(1)
}

/// `buf`, a whole-batch buffer of `batch` equal rows, cut into blocks of
/// `rpb` rows (the last may be shorter); an empty buffer gives empty blocks.
fn cut(buf: &mut [f32], batch: usize, rpb: usize) -> Box<dyn Iterator<Item = &mut [f32]> + '_> {
    let blocks = batch.div_ceil(rpb);
    if buf.is_empty() {
        Box::new(std::iter::repeat_with(<&mut [f32]>::default).take(blocks))
    } else {
        let per_row = buf.len() / batch;
        Box::new(buf.chunks_mut(per_row * rpb))
    }
}

/// Column sums of a dense `rows × cols` matrix: fixed blocks of rows give
/// partial sums (in parallel), added in block order, so the result does not
/// depend on the thread count.
fn col_sums(m: &[f32], rows: usize, cols: usize) -> Result<Vec<f32>> {
    const BLOCK: usize = 256;
    let blocks = rows.div_ceil(BLOCK);
    let mut partial = alloc::try_zeros(OP, &[blocks, cols])?;
    partial
        .par_chunks_mut(cols)
        .enumerate()
        .for_each(|(q, acc)| {
            for r in q * BLOCK..rows.min((q + 1) * BLOCK) {
                gates::add_assign(acc, &m[r * cols..(r + 1) * cols]);
            }
        });
    let mut out = vec![0.0f32; cols];
    for acc in partial.chunks(cols) {
        gates::add_assign(&mut out, acc);
    }
    Ok(out)
}

/// Asks for `s` in L2 ahead of use: the gate math of a step reads and writes
/// whole-sequence buffers (projections, saved activations) that were last
/// touched long ago and sit in L3 or memory; fetched during the step's GEMM,
/// they no longer stall it. A hint only (a no-op off x86_64).
#[inline]
fn prefetch(s: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for line in s.chunks(16) {
        // SAFETY: a prefetch never faults and changes no memory; the
        // address lies inside `s`.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
            _mm_prefetch::<_MM_HINT_T1>(line.as_ptr().cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = s;
}

/// The per-batch-row buffers the forward gate math writes (each spans all T steps).
struct FwdRow<'a> {
    gates: &'a mut [f32],
    hprev: &'a mut [f32],
    cprev: &'a mut [f32],
    extra: &'a mut [f32],
    out: &'a mut [f32],
    h_n: &'a mut [f32],
    c_n: &'a mut [f32],
}

/// Runs one layer in one direction over the whole sequence.
///
/// `c0` is the LSTM's initial cell state (None = zeros; must be None for the
/// other modes). `lengths` (B) are the valid steps of each sequence.
///
/// # Shapes
/// - `x`: (B, T, I), `h0`: (B, H), `c0`: (B, H) → `out` (B, T, H), `h_n`, `c_n` (B, H)
pub fn forward(
    mode: Mode,
    d: &Dims,
    x: &[f32],
    h0: &[f32],
    c0: Option<&[f32]>,
    w: &Weights<'_>,
    lengths: Option<&[usize]>,
) -> Result<Output> {
    run_forward(mode, d, x, h0, c0, w, lengths, true)
}

/// [`forward`] for inference: the same `out`, `h_n` and `c_n`, bit for bit,
/// but nothing is kept for backward (`saved` is empty): the state entering
/// each step lives in a small rolling buffer instead of (B, T, H) arrays, and
/// the gate math stores no activations.
pub fn infer(
    mode: Mode,
    d: &Dims,
    x: &[f32],
    h0: &[f32],
    c0: Option<&[f32]>,
    w: &Weights<'_>,
    lengths: Option<&[usize]>,
) -> Result<Output> {
    run_forward(mode, d, x, h0, c0, w, lengths, false)
}

#[allow(clippy::too_many_arguments)]
fn run_forward(
    mode: Mode,
    d: &Dims,
    x: &[f32],
    h0: &[f32],
    c0: Option<&[f32]>,
    w: &Weights<'_>,
    lengths: Option<&[usize]>,
    save: bool,
) -> Result<Output> {
    check_common(mode, d, x.len(), w, lengths)?;
    check_state(mode, d, "h0", h0.len(), false)?;
    if let Some(c) = c0 {
        if !mode.has_cell() {
            return Err(KernelError::shape(
                "rnn",
                format!(
                    "c0: only an LSTM has a cell state; got one for mode {}",
                    mode.name()
                ),
            ));
        }
        check_state(mode, d, "c0", c.len(), true)?;
    }
    let (b, t, i, h) = (d.batch, d.steps, d.input, d.hidden);
    let gh = d.gh(mode);
    let bt = d.rows();
    // Whole-sequence buffers only backward reads: none for inference.
    let kept = |n: usize| if save { n } else { 0 };
    let cell = if mode.has_cell() { kept(bt * h) } else { 0 };
    let extra = if mode == Mode::Gru || mode == Mode::Lstm {
        kept(bt * h)
    } else {
        0
    };

    // The biases that sit outside the recurrence (GRU keeps b_hn inside
    // r ⊙ (W_hn h + b_hn)), added by the input projection.
    let mut bias = vec![0.0f32; gh];
    if let Some(bi) = w.b_ih {
        gates::add_assign(&mut bias, bi);
    }
    if mode != Mode::Gru {
        if let Some(bh) = w.b_hh {
            gates::add_assign(&mut bias, bh);
        }
    }
    let bias = (w.b_ih.is_some() || w.b_hh.is_some()).then_some(bias);

    let mut saved = Saved {
        gates: buf::zeroed(&[kept(bt * gh)])?,
        hprev: buf::zeroed(&[kept(bt * h)])?,
        cprev: buf::zeroed(&[cell])?,
        extra: buf::zeroed(&[extra])?,
    };
    if save {
        for r in 0..b {
            saved.hprev[r * t * h..r * t * h + h].copy_from_slice(&h0[r * h..(r + 1) * h]);
            if let (true, Some(c)) = (mode.has_cell(), c0) {
                saved.cprev[r * t * h..r * t * h + h].copy_from_slice(&c[r * h..(r + 1) * h]);
            }
        }
    }
    let mut out = buf::zeroed(&[bt, h])?;
    let mut h_n = alloc::try_zeros(OP, &[b, h])?;
    let mut c_n = alloc::try_zeros(OP, &[if mode.has_cell() { b * h } else { 0 }])?;

    // W_hhᵀ (H × G·H), packed once for the T recurrent GEMMs.
    //
    // The input projection: training writes it into the saved gates, one
    // GEMM per block over all its steps before the block's time loop (the
    // gate math then overwrites it with the activations). Inference has no
    // (B, T, G·H) buffer at all: each step projects its own input (W_ihᵀ
    // (I × G·H) packed once) right before its gate math, which finds it in
    // cache. (Per step in training too was slower: with the saved buffers
    // streaming through L2 beside both packed weights, the step GEMMs lost
    // their weights to L3.)
    let proj = Proj {
        w: if save {
            None
        } else {
            Some(StepW::new(
                "w_ih",
                w.w_ih,
                Strides::row_major_transposed(gh, i),
                i,
                gh,
            )?)
        },
        bias: bias.as_deref(),
        x,
    };
    let w_hh_t = StepW::new("w_hh", w.w_hh, Strides::row_major_transposed(gh, h), h, gh)?;
    // Batch rows never mix in a recurrence, so each block of rows runs the
    // whole time loop on its own: one parallel region per sequence instead
    // of two per step.
    let rpb = block_rows(b, w_hh_t.mr());
    let blocks: Vec<FwdRow<'_>> = cut(&mut saved.gates, b, rpb)
        .zip(cut(&mut saved.hprev, b, rpb))
        .zip(cut(&mut saved.cprev, b, rpb))
        .zip(cut(&mut saved.extra, b, rpb))
        .zip(cut(&mut out, b, rpb))
        .zip(cut(&mut h_n, b, rpb))
        .zip(cut(&mut c_n, b, rpb))
        .map(
            |((((((gates, hprev), cprev), extra), out), h_n), c_n)| FwdRow {
                gates,
                hprev,
                cprev,
                extra,
                out,
                h_n,
                c_n,
            },
        )
        .collect();
    let (w_hh_t, proj) = (&w_hh_t, &proj);
    let init = Init { h0, c0 };
    blocks
        .into_par_iter()
        .enumerate()
        .try_for_each(|(q, mut blk)| {
            if save {
                let rows = blk.h_n.len() / h;
                let xs = &x[q * rpb * t * i..(q * rpb + rows) * t * i];
                let lin = Linear::new(rows * t, i, gh);
                linear::forward(&lin, xs, w.w_ih, proj.bias, blk.gates)?;
                forward_block(mode, d, w, lengths, w_hh_t, q * rpb, &mut blk)
            } else {
                infer_block(mode, d, w, lengths, proj, w_hh_t, q * rpb, &init, &mut blk)
            }
        })?;
    Ok(Output {
        out,
        h_n,
        c_n,
        saved,
    })
}

/// The input projection, one step of a block at a time.
struct Proj<'a> {
    /// W_ihᵀ (I × G·H), packed (inference only).
    w: Option<StepW>,
    /// (G·H), added to every row.
    bias: Option<&'a [f32]>,
    /// (B, T, I)
    x: &'a [f32],
}

impl Proj<'_> {
    /// `c = x_s·W_ihᵀ + bias` for batch rows `r0..r0 + rows` at step `s`, row
    /// `j` of the block at `c[j·ldc..]`; `xa` is the block's dense copy of
    /// those x rows (padded to whole tiles, I columns). Every row gets the
    /// same arithmetic whatever block holds it.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        d: &Dims,
        r0: usize,
        rows: usize,
        s: usize,
        xa: &mut [f32],
        c: &mut [f32],
        ldc: usize,
        whole: bool,
    ) {
        let (t, i) = (d.steps, d.input);
        let w = self.w.as_ref().expect("rnn: inference packs W_ih");
        for j in 0..rows {
            xa[j * i..(j + 1) * i].copy_from_slice(&self.x[((r0 + j) * t + s) * i..][..i]);
            if s + 1 < t {
                prefetch(&self.x[((r0 + j) * t + s + 1) * i..][..i]);
            }
        }
        w.mul(rows, xa, i, c, ldc, 0.0, self.bias, whole);
    }
}

/// The initial state of the whole batch (B, H) each; `c0` None = zeros.
struct Init<'a> {
    h0: &'a [f32],
    c0: Option<&'a [f32]>,
}

/// The time loop of the batch rows `r0..` that `blk` holds (every buffer of
/// `blk` is those rows' part of the whole-batch buffer).
fn forward_block(
    mode: Mode,
    d: &Dims,
    w: &Weights<'_>,
    lengths: Option<&[usize]>,
    w_hh_t: &StepW,
    r0: usize,
    blk: &mut FwdRow<'_>,
) -> Result<()> {
    let (t, h) = (d.steps, d.hidden);
    let gh = d.gh(mode);
    let rows = blk.h_n.len() / h;
    // A block that holds the whole batch has no other block beside it: its
    // step GEMMs split their panels over the pool instead.
    let whole = rows == d.batch && rayon::current_num_threads() > 1;
    let per = |buf: &[f32]| buf.len() / rows;
    let (pg, pc, pe) = (per(blk.gates), per(blk.cprev), per(blk.extra));
    let pn = per(blk.c_n);
    // The state entering the step, dense (rows padded to whole tiles), and
    // W_hh h of the step (the gate math adds it to the input part; GRU
    // keeps W_hn h apart inside r ⊙ (W_hn h + b_hn)).
    let mut state = step::padded(rows, w_hh_t.mr(), h)?;
    for j in 0..rows {
        state[j * h..(j + 1) * h].copy_from_slice(&blk.hprev[j * t * h..][..h]);
    }
    let mut hh = alloc::try_zeros(OP, &[rows, gh])?;
    for s in 0..t {
        for j in 0..rows {
            prefetch(&blk.gates[j * pg + s * gh..][..gh]);
            prefetch(&blk.out[(j * t + s) * h..][..h]);
            if pe > 0 {
                prefetch(&blk.extra[j * pe + s * h..][..h]);
            }
        }
        w_hh_t.mul(rows, &state, h, &mut hh, gh, 0.0, None, whole);
        for j in 0..rows {
            let r = r0 + j;
            let valid = lengths.is_none_or(|l| s < l[r]);
            let hh_row = &hh[j * gh..(j + 1) * gh];
            let mut row = FwdRow {
                gates: &mut blk.gates[j * pg..(j + 1) * pg],
                hprev: &mut blk.hprev[j * t * h..(j + 1) * t * h],
                cprev: &mut blk.cprev[j * pc..(j + 1) * pc],
                extra: &mut blk.extra[j * pe..(j + 1) * pe],
                out: &mut blk.out[j * t * h..(j + 1) * t * h],
                h_n: &mut blk.h_n[j * h..(j + 1) * h],
                c_n: &mut blk.c_n[j * pn..(j + 1) * pn],
            };
            forward_row(mode, d, s, valid, &mut row, hh_row, w.b_hh);
            if s + 1 < t {
                state[j * h..(j + 1) * h].copy_from_slice(&row.hprev[(s + 1) * h..][..h]);
            }
        }
    }
    Ok(())
}

/// [`forward_block`] without saving: h lives only in the dense `state`
/// buffer (written back from `out` each step) and the LSTM cell state in a
/// two-slot rolling buffer; `blk.hprev`, `cprev` and `extra` are empty. The
/// gate math gets the same inputs as in [`forward_block`], so the results
/// are the same bits.
#[allow(clippy::too_many_arguments)]
fn infer_block(
    mode: Mode,
    d: &Dims,
    w: &Weights<'_>,
    lengths: Option<&[usize]>,
    proj: &Proj<'_>,
    w_hh_t: &StepW,
    r0: usize,
    init: &Init<'_>,
    blk: &mut FwdRow<'_>,
) -> Result<()> {
    let (t, h) = (d.steps, d.hidden);
    let gh = d.gh(mode);
    let rows = blk.h_n.len() / h;
    let whole = rows == d.batch && rayon::current_num_threads() > 1;
    let mut state = step::padded(rows, w_hh_t.mr(), h)?;
    state[..rows * h].copy_from_slice(&init.h0[r0 * h..(r0 + rows) * h]);
    // Cell state: slot `cur` holds c entering the step, the other receives c'.
    let cells = if mode.has_cell() { rows * h } else { 0 };
    let mut cbuf = alloc::try_zeros(OP, &[2, cells])?;
    if let (true, Some(c0)) = (mode.has_cell(), init.c0) {
        cbuf[..cells].copy_from_slice(&c0[r0 * h..(r0 + rows) * h]);
    }
    let mut cur = 0;
    let mut hh = alloc::try_zeros(OP, &[rows, gh])?;
    // The step's input projection (scratch: the gate math reads it once).
    let mut gx = alloc::try_zeros(OP, &[rows, gh])?;
    let mut xa = step::padded(rows, w_hh_t.mr(), d.input)?;
    for s in 0..t {
        for j in 0..rows {
            prefetch(&blk.out[(j * t + s) * h..][..h]);
        }
        proj.step(d, r0, rows, s, &mut xa, &mut gx, gh, whole);
        w_hh_t.mul(rows, &state, h, &mut hh, gh, 0.0, None, whole);
        let (c_lo, c_hi) = cbuf.split_at_mut(cells);
        let (c_in, c_out) = if cur == 0 {
            (&mut *c_lo, &mut *c_hi)
        } else {
            (&mut *c_hi, &mut *c_lo)
        };
        for j in 0..rows {
            let valid = lengths.is_none_or(|l| s < l[r0 + j]);
            let hs = (j * t + s) * h;
            let (c_prev, c_new) = if mode.has_cell() {
                (&c_in[j * h..(j + 1) * h], &mut c_out[j * h..(j + 1) * h])
            } else {
                (&[][..], &mut [][..])
            };
            let h_prev = &state[j * h..(j + 1) * h];
            if !valid {
                // The state carries over; `out` keeps its zeros.
                c_new.copy_from_slice(c_prev);
                continue;
            }
            let g = &mut gx[j * gh..(j + 1) * gh];
            let hh_row = &hh[j * gh..(j + 1) * gh];
            let h_new = &mut blk.out[hs..hs + h];
            gates::forward_row(match mode {
                Mode::RnnTanh | Mode::RnnRelu => Fwd::Elman {
                    relu: mode == Mode::RnnRelu,
                    pre: g,
                    hh: hh_row,
                },
                Mode::Lstm => Fwd::Lstm {
                    save: false,
                    g,
                    hh: hh_row,
                    c_prev,
                    c_new,
                    tanh_c: &mut [],
                    h_new,
                },
                Mode::Gru => Fwd::Gru {
                    save: false,
                    gx: g,
                    hh: hh_row,
                    b_hh: w.b_hh,
                    h_prev,
                    hn: &mut [],
                    h_new,
                },
            });
            if !mode.has_cell() && mode != Mode::Gru {
                blk.out[hs..hs + h].copy_from_slice(&gx[j * gh..][..h]);
            }
            state[j * h..(j + 1) * h].copy_from_slice(&blk.out[hs..hs + h]);
        }
        cur = 1 - cur;
    }
    blk.h_n.copy_from_slice(&state[..rows * h]);
    if mode.has_cell() {
        let c_last = if cur == 0 {
            &cbuf[..cells]
        } else {
            &cbuf[cells..]
        };
        blk.c_n.copy_from_slice(c_last);
    }
    Ok(())
}

/// Gate math of batch row `row` at step `s`: writes the state entering step
/// s + 1 (or h_n/c_n at the last step), the output and the saved gates.
fn forward_row(
    mode: Mode,
    d: &Dims,
    s: usize,
    valid: bool,
    row: &mut FwdRow<'_>,
    hh: &[f32],
    b_hh: Option<&[f32]>,
) {
    let (t, h) = (d.steps, d.hidden);
    let gh = d.gh(mode);
    let (hs, gs) = (s * h, s * gh);
    let last = s + 1 == t;
    let (before, after) = row.hprev.split_at_mut((s + 1) * h);
    let h_prev = &before[hs..];
    let h_new: &mut [f32] = if last { row.h_n } else { &mut after[..h] };
    let (c_prev, c_new): (&[f32], &mut [f32]) = if mode.has_cell() {
        let (cb, ca) = row.cprev.split_at_mut((s + 1) * h);
        (&cb[hs..], if last { row.c_n } else { &mut ca[..h] })
    } else {
        (&[], &mut [])
    };
    if !valid {
        h_new.copy_from_slice(h_prev);
        c_new.copy_from_slice(c_prev);
        return;
    }
    let g = &mut row.gates[gs..gs + gh];
    gates::forward_row(match mode {
        Mode::RnnTanh | Mode::RnnRelu => Fwd::Elman {
            relu: mode == Mode::RnnRelu,
            pre: g,
            hh,
        },
        Mode::Lstm => Fwd::Lstm {
            save: true,
            g,
            hh,
            c_prev,
            c_new,
            tanh_c: &mut row.extra[hs..hs + h],
            h_new: &mut *h_new,
        },
        Mode::Gru => Fwd::Gru {
            save: true,
            gx: g,
            hh,
            b_hh,
            h_prev,
            hn: &mut row.extra[hs..hs + h],
            h_new: &mut *h_new,
        },
    });
    if !mode.has_cell() && mode != Mode::Gru {
        h_new.copy_from_slice(&row.gates[gs..gs + h]);
    }
    row.out[hs..hs + h].copy_from_slice(h_new);
}

/// The per-batch-row buffers the backward gate math writes.
struct BwdRow<'a> {
    dgx: &'a mut [f32],
    dgh: &'a mut [f32],
    dh: &'a mut [f32],
    dc: &'a mut [f32],
    direct: &'a mut [f32],
}

/// BPTT through one layer in one direction.
///
/// `dout` is dL/dout, `dh_n`/`dc_n` dL/dh_n and dL/dc_n (None = zeros).
/// Returns every gradient, each written fresh (not accumulated); `dx` only
/// when `need_dx` (else it is empty: the first layer of a stack whose input
/// needs no gradient skips that B·T × I × G·H GEMM, as PyTorch does).
///
/// # Shapes
/// - `dout`: (B, T, H), `dh_n`, `dc_n`: (B, H); see `Grads` for the results
#[allow(clippy::too_many_arguments)]
pub fn backward(
    mode: Mode,
    d: &Dims,
    x: &[f32],
    w: &Weights<'_>,
    lengths: Option<&[usize]>,
    saved: &SavedView<'_>,
    dout: &[f32],
    dh_n: Option<&[f32]>,
    dc_n: Option<&[f32]>,
    need_dx: bool,
) -> Result<Grads> {
    check_common(mode, d, x.len(), w, lengths)?;
    check_saved(mode, d, saved)?;
    let (b, t, i, h) = (d.batch, d.steps, d.input, d.hidden);
    let gh = d.gh(mode);
    let bt = d.rows();
    if dout.len() != bt * h {
        return Err(KernelError::shape(
            "rnn",
            format!(
                "dout: expected {} elements (B, T, H), got {}",
                bt * h,
                dout.len()
            ),
        ));
    }
    if let Some(g) = dh_n {
        check_state(mode, d, "dh_n", g.len(), false)?;
    }
    if let Some(g) = dc_n {
        if !mode.has_cell() {
            return Err(KernelError::shape(
                "rnn",
                format!(
                    "dc_n: only an LSTM has a cell state; got one for mode {}",
                    mode.name()
                ),
            ));
        }
        check_state(mode, d, "dc_n", g.len(), true)?;
    }
    // Kept between calls (arbitrary contents): `backward_row` writes every
    // step's gate gradients, zeros for the steps past a sequence's length.
    let mut dgx = buf::Scratch::take(&[bt, gh])?;
    let mut dgh = buf::Scratch::take(&[if mode == Mode::Gru { bt } else { 0 }, gh])?;
    let state = |g: Option<&[f32]>| match g {
        Some(g) => alloc::try_copy(OP, g),
        None => alloc::try_zeros(OP, &[b, h]),
    };
    let mut dh = state(dh_n)?;
    let mut dc = if mode.has_cell() {
        state(dc_n)?
    } else {
        Vec::new()
    };
    let mut direct = alloc::try_zeros(OP, &[b, h])?;
    // W_hh (G·H × H) packed once for the T recurrent GEMMs of BPTT.
    let w_hh_p = StepW::new("w_hh", w.w_hh, Strides::row_major(gh, h), gh, h)?;
    // As in the forward: each block of batch rows runs its own time loop.
    let rpb = block_rows(b, w_hh_p.mr());
    let blocks: Vec<BwdRow<'_>> = cut(&mut dgx, b, rpb)
        .zip(cut(&mut dgh, b, rpb))
        .zip(cut(&mut dh, b, rpb))
        .zip(cut(&mut dc, b, rpb))
        .zip(cut(&mut direct, b, rpb))
        .map(|((((dgx, dgh), dh), dc), direct)| BwdRow {
            dgx,
            dgh,
            dh,
            dc,
            direct,
        })
        .collect();
    let w_hh_p = &w_hh_p;
    blocks
        .into_par_iter()
        .enumerate()
        .try_for_each(|(q, mut blk)| {
            backward_block(mode, d, lengths, saved, dout, w_hh_p, q * rpb, &mut blk)
        })?;
    // Each step swaps the roles of `dh` and `direct`: after an odd number of
    // steps dL/dh0 lies in `direct`.
    let dh = if t % 2 == 1 { direct } else { dh };

    let dg_hidden = if mode == Mode::Gru { &dgh } else { &dgx };
    let mut dx = buf::zeroed(&[if need_dx { bt } else { 0 }, i])?;
    if need_dx {
        sgemm(&Gemm::new(bt, i, gh), &dgx, w.w_ih, &mut dx)?;
    }
    let (dw_ih, dw_hh) = weight_grads(gh, i, h, bt, &dgx, x, dg_hidden, saved.hprev)?;
    // Elman and LSTM share one gate gradient for both biases: sum it once.
    let sums_x = (w.b_ih.is_some() || (w.b_hh.is_some() && mode != Mode::Gru))
        .then(|| col_sums(&dgx, bt, gh))
        .transpose()?;
    let db_ih = if w.b_ih.is_some() {
        sums_x.clone().unwrap_or_default()
    } else {
        Vec::new()
    };
    let db_hh = match (w.b_hh.is_some(), mode) {
        (false, _) => Vec::new(),
        (true, Mode::Gru) => col_sums(&dgh, bt, gh)?,
        (true, _) => sums_x.unwrap_or_default(),
    };
    Ok(Grads {
        dx,
        dh0: dh,
        dc0: dc,
        dw_ih,
        dw_hh,
        db_ih,
        db_hh,
    })
}

/// B·T rows per chunk of the weight gradients, about.
const WGRAD_ROWS: usize = 1024;

/// dW_ih = dG_xᵀ·X (G·H × I) and dW_hh = dG_hᵀ·H_prev (G·H × H), over the
/// `bt` rows of dG (G·H wide), X (`i`) and H_prev (`h`).
///
/// The rows are cut into an even number of equal chunks (set by `bt` alone,
/// never by the pool), each chunk's two products run on one thread into its
/// own partial, and the partials are added in chunk order: results do not
/// depend on the thread count. Each thread packs and reads only its own
/// chunks' operands and two threads get equal shares. (The two products side
/// by side, `rayon::join`, left one thread idle for half of the larger one;
/// one after the other, each split over the pool by the GEMM driver, every
/// thread read all of packed B, half of it written by the other core. Elman
/// backward, I128 H256 T128 B32, 2 threads, AVX2: 0.92 of the join's time
/// that way, 0.87 this way.)
#[allow(clippy::too_many_arguments)]
pub(super) fn weight_grads(
    gh: usize,
    i: usize,
    h: usize,
    bt: usize,
    dg_x: &[f32],
    x: &[f32],
    dg_h: &[f32],
    hprev: &[f32],
) -> Result<(Vec<f32>, Vec<f32>)> {
    let chunks = if bt >= 2 * WGRAD_ROWS {
        2 * bt.div_ceil(2 * WGRAD_ROWS)
    } else {
        1
    };
    let rows = bt.div_ceil(chunks);
    let (ni, nh) = (gh * i, gh * h);
    let product = |r0: usize, n: usize, dg: &[f32], xs: &[f32], dw: &mut [f32]| {
        let k = bt.min(r0 + rows) - r0;
        let g = Gemm {
            a: Strides::row_major_transposed(k, gh),
            ..Gemm::new(gh, n, k)
        };
        sgemm(
            &g,
            &dg[r0 * gh..(r0 + k) * gh],
            &xs[r0 * n..(r0 + k) * n],
            dw,
        )
    };
    let both = |c: usize, part: &mut [f32]| {
        let (pi, ph) = part.split_at_mut(ni);
        product(c * rows, i, dg_x, x, pi)?;
        product(c * rows, h, dg_h, hprev, ph)
    };
    if chunks == 1 {
        let mut dw = alloc::try_zeros(OP, &[ni + nh])?;
        both(0, &mut dw)?;
        let dw_hh = dw.split_off(ni);
        return Ok((dw, dw_hh));
    }
    // The partials never leave: a kept buffer, every element written (β = 0).
    let mut parts = buf::Scratch::take(&[chunks, ni + nh])?;
    parts
        .par_chunks_mut(ni + nh)
        .enumerate()
        .try_for_each(|(c, part)| both(c, part))?;
    // The sum in chunk order, element ranges in parallel.
    let mut dw = alloc::try_zeros(OP, &[ni + nh])?;
    const PIECE: usize = 1 << 14;
    dw.par_chunks_mut(PIECE).enumerate().for_each(|(q, out)| {
        let at = q * PIECE;
        for part in parts.chunks(ni + nh) {
            gates::add_assign(out, &part[at..at + out.len()]);
        }
    });
    let dw_hh = dw.split_off(ni);
    Ok((dw, dw_hh))
}

/// BPTT of the batch rows `r0..` that `blk` holds. On entry `blk.dh` holds
/// dL/dh_n (and `blk.dc` dL/dc_n); the two state buffers trade roles each step.
#[allow(clippy::too_many_arguments)]
fn backward_block(
    mode: Mode,
    d: &Dims,
    lengths: Option<&[usize]>,
    saved: &SavedView<'_>,
    dout: &[f32],
    w_hh_p: &StepW,
    r0: usize,
    blk: &mut BwdRow<'_>,
) -> Result<()> {
    let (t, h) = (d.steps, d.hidden);
    let gh = d.gh(mode);
    let rows = blk.dh.len() / h;
    let whole = rows == d.batch && rayon::current_num_threads() > 1;
    let pdh = blk.dgh.len() / rows;
    let pc = blk.dc.len() / rows;
    // The step's gate gradients that go through W_hh, dense.
    let mut dg = step::padded(rows, w_hh_p.mr(), gh)?;
    let (mut dh, mut direct) = (&mut *blk.dh, &mut *blk.direct);
    for s in (0..t).rev() {
        for j in 0..rows {
            let r = r0 + j;
            let valid = lengths.is_none_or(|l| s < l[r]);
            let mut row = BwdRow {
                dgx: &mut blk.dgx[j * t * gh..(j + 1) * t * gh],
                dgh: &mut blk.dgh[j * pdh..(j + 1) * pdh],
                dh: &mut dh[j * h..(j + 1) * h],
                dc: &mut blk.dc[j * pc..(j + 1) * pc],
                direct: &mut direct[j * h..(j + 1) * h],
            };
            backward_row(mode, d, r, s, valid, &mut row, saved, dout);
            let src = if mode == Mode::Gru {
                &*row.dgh
            } else {
                &*row.dgx
            };
            dg[j * gh..(j + 1) * gh].copy_from_slice(&src[s * gh..(s + 1) * gh]);
        }
        if s > 0 {
            // What the gate math of step s − 1 reads and writes.
            for j in 0..rows {
                let (hs, gs) = (((r0 + j) * t + s - 1) * h, ((r0 + j) * t + s - 1) * gh);
                prefetch(&saved.gates[gs..gs + gh]);
                prefetch(&dout[hs..hs + h]);
                prefetch(&blk.dgx[(j * t + s - 1) * gh..][..gh]);
                if pdh > 0 {
                    prefetch(&blk.dgh[j * pdh + (s - 1) * gh..][..gh]);
                }
                let hprev = if mode == Mode::Gru { saved.hprev } else { &[] };
                for b in [saved.extra, saved.cprev, hprev] {
                    if !b.is_empty() {
                        prefetch(&b[hs..hs + h]);
                    }
                }
            }
        }
        w_hh_p.mul(rows, &dg, gh, direct, h, 1.0, None, whole);
        std::mem::swap(&mut dh, &mut direct);
    }
    Ok(())
}

/// Gate gradients of batch row `r` at step `s`. `row.dh` holds dL/dh_s from
/// the later steps on entry; the part of dL/dh_{s-1} that does not go through
/// W_hh is left in `row.direct` (the recurrent GEMM adds the rest).
#[allow(clippy::too_many_arguments)]
fn backward_row(
    mode: Mode,
    d: &Dims,
    r: usize,
    s: usize,
    valid: bool,
    row: &mut BwdRow<'_>,
    saved: &SavedView<'_>,
    dout: &[f32],
) {
    let (t, h) = (d.steps, d.hidden);
    let gh = d.gh(mode);
    let hs = (r * t + s) * h;
    let gs = (r * t + s) * gh;
    if !valid {
        // Past the sequence's end: no gradient (the kept buffers hold old data).
        row.dgx[s * gh..(s + 1) * gh].fill(0.0);
        if !row.dgh.is_empty() {
            row.dgh[s * gh..(s + 1) * gh].fill(0.0);
        }
        row.direct.copy_from_slice(row.dh);
        return;
    }
    let g = &saved.gates[gs..gs + gh];
    let dout = &dout[hs..hs + h];
    let dgx = &mut row.dgx[s * gh..(s + 1) * gh];
    let (dh, direct) = (&*row.dh, &mut *row.direct);
    gates::backward_row(match mode {
        Mode::RnnTanh | Mode::RnnRelu => Bwd::Elman {
            relu: mode == Mode::RnnRelu,
            h: g,
            dh,
            dout,
            dg: dgx,
            direct,
        },
        Mode::Lstm => Bwd::Lstm {
            g,
            tanh_c: &saved.extra[hs..hs + h],
            c_prev: &saved.cprev[hs..hs + h],
            dh,
            dout,
            dc: &mut *row.dc,
            dg: dgx,
            direct,
        },
        Mode::Gru => Bwd::Gru {
            g,
            hn: &saved.extra[hs..hs + h],
            h_prev: &saved.hprev[hs..hs + h],
            dh,
            dout,
            dgx,
            dgh: &mut row.dgh[s * gh..(s + 1) * gh],
            direct,
        },
    });
}
