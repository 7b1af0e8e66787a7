//! Backward pass, recomputing each tile's probabilities from the row LSE.
//!
//! 1. `D_i = Σ_c dO[i,c]·O[i,c]` per query row (O(T) vector); with one
//!    group (see 3.) in the (batch, head)'s task, just before it packs dOᵀ.
//! 2. One task per (batch, head, key-tile group): the group owns key tiles
//!    g, g+G, g+2G, … (interleaved, so causal work is balanced). For each of
//!    its key tiles and every query tile that can see it, with transposed
//!    tiles (keys × queries):
//!    Sᵀ = K Qᵀ, Pᵀ = exp(scale·Sᵀ + mask − lse), dV += Pᵀ dO,
//!    dPᵀ = V dOᵀ, dSᵀ = Pᵀ ⊙ (dPᵀ − D), dK += dSᵀ Q, dQ_g += dS K.
//!    A causal key tile stops, for each query tile, at the last key that
//!    tile's queries see (the rest have P = 0). dK/dV rows are written once
//!    per key tile, by the last query tile's products (their stores write
//!    the output rows: no pass of their own); dQ goes to the group's own
//!    partial (Tq × D).
//! 3. `dQ = scale · Σ_g dQ_g`, summed in group order. With one group
//!    (G = 1, e.g. B·H ≥ 16) each task writes its dQ directly instead: the
//!    product of each query tile's last key tile writes its rows.
//!
//! The number of groups G depends only on B·H and Tk, and the query tile
//! height only on the problem (`query_rows`), so results are bitwise
//! identical for any thread count. Extra memory: B·H·G·Tq·D floats with
//! G ≤ max(1, 16 / (B·H)), i.e. linear in T, plus tile buffers.
//!
//! The three gradients go to separate arrays (`backward`) or to one
//! (3, B, H, T, D) view (`backward_packed`), e.g. the gradient of a fused
//! (B, T, 3, H, D) projection, so a fused QKV backward needs no join.

use rayon::prelude::*;

use super::forward::{causal_bands, masked_cut};
use super::tile::{self, AOp, BOp, Band};
use super::{
    check_operand, crowds_l1, gather, gather_t, query_rows, tail, AttnParams, Layout, Masks,
    OutPtr, BC, BR, OP,
};
use crate::error::{check_extent, non_overlapping, KernelError, Result};
use crate::kernels::alloc::{self, zeros};
use crate::simd::{self, Isa};

/// Layouts of the incoming gradient and of the three gradients written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GradLayouts {
    pub dout: Layout,
    pub dq: Layout,
    pub dk: Layout,
    pub dv: Layout,
}

/// Rows of the dQ reduction per task.
const REDUCE_ROWS: usize = 256;

/// Key-tile groups per (batch, head): enough tasks for load balance when B·H is small.
fn groups(bh: usize, n_kt: usize) -> usize {
    16usize.div_ceil(bh.max(1)).min(n_kt).max(1)
}

struct Scratch {
    qt: Vec<f32>,  // Qᵀ of the task's (batch, head), one d × br block per query tile, O(T)
    dot: Vec<f32>, // dOᵀ likewise, one dv × br block per query tile, O(T)
    qr: Vec<f32>,  // Tq × d packed Q rows of the (batch, head) when packed (`Packing`), else empty
    dor: Vec<f32>, // Tq × dv packed dO rows likewise
    kr: Vec<f32>,  // BC × d packed K rows (non-unit dim or `crowds_l1`)
    st: Vec<f32>,  // BC × BR: Sᵀ, Pᵀ, then dSᵀ
    dk: Vec<f32>,  // BC × d
    dv: Vec<f32>,  // BC × dv
    dq_state: Vec<DqRows>, // per query tile of the (batch, head): where its dQ rows are
}

/// Where a query tile's dQ rows stand in a task (see `key_tile`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum DqRows {
    /// No key tile of the task has added to them yet.
    Untouched,
    /// Summed in the task's partial.
    InPart,
    /// Written out (one group: by the product of their last key tile).
    Written,
}

impl Scratch {
    fn new(p: &AttnParams, br: usize, pk: Packing) -> Self {
        let (d, dv) = (p.d, p.dv);
        let tq = p.tq.div_ceil(br) * br;
        let rows = |packed: bool, cols: usize| {
            if packed {
                zeros(OP, &[p.tq, cols])
            } else {
                Vec::new()
            }
        };
        Scratch {
            qt: zeros(OP, &[d, tq]),
            dot: zeros(OP, &[dv, tq]),
            qr: rows(pk.q, d),
            dor: rows(pk.dout, dv),
            kr: zeros(OP, &[BC, d]),
            st: vec![0.0; BC * BR],
            dk: zeros(OP, &[BC, d]),
            dv: zeros(OP, &[BC, dv]),
            dq_state: vec![DqRows::Untouched; p.tq.div_ceil(br)],
        }
    }
}

/// Which row operands the backward reads from packed copies of the (batch,
/// head)'s rows (`Scratch::qr`, `dor`) instead of in place: rows with a
/// non-unit column stride, or rows that crowd a few L1 sets (`crowds_l1`:
/// heads of a fused projection), which the tile products would stream from
/// L2 once per strip. Packed once per (batch, head) and key-tile group
/// (session 7; session 6 copied them per pair of tiles): the copy is exact,
/// so the result is the same either way.
#[derive(Clone, Copy)]
struct Packing {
    q: bool,
    dout: bool,
}

impl Packing {
    fn new(br: usize, p: &AttnParams, g: &GradLayouts) -> Self {
        let rows = br.min(p.tq);
        Packing {
            q: p.d > 0 && (p.q.dim != 1 || crowds_l1(rows, p.d, p.q.time)),
            dout: p.dv > 0 && (g.dout.dim != 1 || crowds_l1(rows, p.dv, g.dout.time)),
        }
    }
}

/// One writable buffer holding all three gradients, as a (3, B, H, T, D)
/// view: gradient `w` (0 = dq, 1 = dk, 2 = dv) of element (b, h, t, c) is
/// at `w·which + layout.row(b, h, t) + c·layout.dim`. A fused (B, T, 3, H, D)
/// projection's gradient is this with `which = H·D`, so the backward of a
/// fused QKV projection writes it directly instead of joining three arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedGrads {
    pub which: usize,
    pub layout: Layout,
}

/// The inputs of the backward pass.
#[derive(Clone, Copy)]
pub struct BackwardInputs<'a> {
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    /// The forward output.
    pub o: &'a [f32],
    /// The forward row log-sum-exp, (B, H, Tq) contiguous.
    pub lse: &'a [f32],
    /// dLoss/dO.
    pub dout: &'a [f32],
}

/// dQ, dK, dV of `O = softmax(scale·QKᵀ + mask)·V`, written through the
/// layouts in `g` (every element is written).
///
/// # Shapes
/// - q, dq: (B,H,Tq,D); k, dk: (B,H,Tk,D); v, dv: (B,H,Tk,Dv); o, dout: (B,H,Tq,Dv); lse: (B,H,Tq)
#[allow(clippy::too_many_arguments)]
pub fn backward(
    p: &AttnParams,
    g: &GradLayouts,
    masks: &Masks,
    x: BackwardInputs<'_>,
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
) -> Result<()> {
    backward_with(simd::isa(), p, g, masks, x, dq, dk, dv)
}

/// As `backward`, with the three gradients written into one buffer through
/// `packed` (every element of the (3, B, H, T, D) view is written). Needs
/// Tq == Tk and D == Dv.
///
/// # Shapes
/// - as `backward`; dqkv: (3, B, H, T, D) through `packed`
pub fn backward_packed(
    p: &AttnParams,
    dout: Layout,
    packed: PackedGrads,
    masks: &Masks,
    x: BackwardInputs<'_>,
    dqkv: &mut [f32],
) -> Result<()> {
    backward_packed_part(p, dout, packed, masks, x, p.batch, dqkv)
}

fn validate_inputs(
    p: &AttnParams,
    dout: Layout,
    masks: &Masks,
    x: &BackwardInputs<'_>,
) -> Result<()> {
    super::forward::validate(
        p,
        masks,
        [x.q.len(), x.k.len(), x.v.len(), x.o.len()],
        x.lse.len(),
    )?;
    let (b, h) = (p.batch, p.heads);
    check_operand("grad_out", x.dout.len(), [b, h, p.tq, p.dv], dout, false)
}

fn validate(
    p: &AttnParams,
    g: &GradLayouts,
    masks: &Masks,
    x: &BackwardInputs<'_>,
    outs: [usize; 3],
) -> Result<()> {
    validate_inputs(p, g.dout, masks, x)?;
    let (b, h) = (p.batch, p.heads);
    check_operand("dq", outs[0], [b, h, p.tq, p.d], g.dq, true)?;
    check_operand("dk", outs[1], [b, h, p.tk, p.d], g.dk, true)?;
    check_operand("dv", outs[2], [b, h, p.tk, p.dv], g.dv, true)?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_with(
    isa: Isa,
    p: &AttnParams,
    g: &GradLayouts,
    masks: &Masks,
    x: BackwardInputs<'_>,
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
) -> Result<()> {
    backward_tiled(isa, query_rows(p), p, g, masks, x, dq, dk, dv)
}

/// `backward_with` with `br` (≤ `BR`) query rows per tile; tests force either size.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_tiled(
    isa: Isa,
    br: usize,
    p: &AttnParams,
    g: &GradLayouts,
    masks: &Masks,
    x: BackwardInputs<'_>,
    dq: &mut [f32],
    dk: &mut [f32],
    dv: &mut [f32],
) -> Result<()> {
    validate(p, g, masks, &x, [dq.len(), dk.len(), dv.len()])?;
    let outs = [
        OutPtr(dq.as_mut_ptr()),
        OutPtr(dk.as_mut_ptr()),
        OutPtr(dv.as_mut_ptr()),
    ];
    run(isa, (br, p.batch * p.heads), p, g, masks, x, outs)?;
    Ok(())
}

/// As [`backward_packed`] on sequences `0..p.batch` of a batch of
/// `whole_batch` sequences, bit for bit what one call on the whole batch
/// gives for them: the key tiles of each (batch, head) are grouped (and
/// their dQ partials summed) as the whole batch's call groups them, where a
/// call on the part alone may group them otherwise. For a caller that runs
/// a batch in parts of whole sequences (`kernels::block` does).
///
/// # Shapes
/// - as [`backward_packed`]
pub fn backward_packed_part(
    p: &AttnParams,
    dout: Layout,
    packed: PackedGrads,
    masks: &Masks,
    x: BackwardInputs<'_>,
    whole_batch: usize,
    dqkv: &mut [f32],
) -> Result<()> {
    let br = query_rows(p);
    backward_packed_with(
        simd::isa(),
        (br, whole_batch),
        p,
        dout,
        packed,
        masks,
        x,
        dqkv,
    )
}

/// `backward_packed_part` with `br` query rows per tile.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_packed_with(
    isa: Isa,
    (br, whole_batch): (usize, usize),
    p: &AttnParams,
    dout: Layout,
    packed: PackedGrads,
    masks: &Masks,
    x: BackwardInputs<'_>,
    dqkv: &mut [f32],
) -> Result<()> {
    let group_bh = whole_batch.max(p.batch) * p.heads;
    validate_inputs(p, dout, masks, &x)?;
    if p.tq != p.tk || p.d != p.dv {
        return Err(KernelError::shape(
            OP,
            format!(
                "dqkv: one packed gradient buffer needs Tq == Tk and D == Dv; got Tq {}, Tk {}, D {}, Dv {}",
                p.tq, p.tk, p.d, p.dv
            ),
        ));
    }
    let l = packed.layout;
    let shape = [3, p.batch, p.heads, p.tq, p.d];
    let strides = [packed.which, l.batch, l.head, l.time, l.dim];
    check_extent(OP, "dqkv", dqkv.len(), &shape, &strides)?;
    if !non_overlapping(&shape, &strides) {
        return Err(KernelError::shape(
            OP,
            format!(
                "dqkv: strides {strides:?} make distinct elements of a {shape:?} output overlap"
            ),
        ));
    }
    let base = dqkv.as_mut_ptr();
    // Only dereferenced at elements of the validated (3, B, H, T, D) view.
    let outs = [
        OutPtr(base),
        OutPtr(base.wrapping_add(packed.which)),
        OutPtr(base.wrapping_add(2 * packed.which)),
    ];
    let g = GradLayouts {
        dout,
        dq: l,
        dk: l,
        dv: l,
    };
    run(isa, (br, group_bh), p, &g, masks, x, outs)?;
    Ok(())
}

/// The backward on validated operands; `outs` point at dq, dk, dv, whose
/// validated layouts map every (b, h, t, c) to a distinct element, and no
/// element of one gradient is an element of another.
#[allow(clippy::too_many_arguments)]
fn run(
    isa: Isa,
    (br, group_bh): (usize, usize),
    p: &AttnParams,
    g: &GradLayouts,
    masks: &Masks,
    x: BackwardInputs<'_>,
    outs: [OutPtr; 3],
) -> Result<()> {
    debug_assert!(br > 0 && br <= BR);
    let bh_n = p.batch * p.heads;
    if bh_n == 0 {
        return Ok(());
    }
    let tq = p.tq;
    // 2. Key-tile groups.
    let n_kt = p.tk.div_ceil(BC);
    let n_g = groups(group_bh, n_kt);
    let part_len = alloc::len(OP, &[tq, p.d])?.max(1);
    let [dqp, dkp, dvp] = outs;
    let pk = Packing::new(br, p, g);
    let ctx = Ctx {
        isa,
        br,
        p,
        g,
        masks,
        x: &x,
        dkp,
        dvp,
        dq_out: (n_g == 1 && g.dq.dim == 1).then_some(dqp),
    };
    if n_g == 1 {
        // One group per (batch, head) owns all of its dQ: accumulate it in
        // the task and write it out, with no partials to sum; D is made in
        // the task too, just before its dOᵀ is packed from the same rows.
        (0..bh_n).into_par_iter().for_each_init(
            || {
                let rows = || zeros(OP, &[tq.max(1)]);
                (
                    Scratch::new(p, br, pk),
                    zeros(OP, &[part_len]),
                    [rows(), rows()],
                )
            },
            |(s, part, [dl, ls]), bh| {
                let (dl, ls) = (&mut dl[..tq], &mut ls[..tq]);
                delta_rows(isa, p, g, &x, bh, dl, ls);
                key_group(&ctx, bh, (0, 1), (dl, ls), s, part);
                let (b, h) = (bh / p.heads, bh % p.heads);
                // The query tiles whose rows no product wrote.
                for (qt, &st) in s.dq_state.iter().enumerate() {
                    let (i0, mr) = (qt * br, br.min(tq - qt * br));
                    if st == DqRows::Written {
                        continue;
                    } else if st == DqRows::Untouched {
                        part[i0 * p.d..(i0 + mr) * p.d].fill(0.0);
                    }
                    let at = (g.dq.row(b, h, i0), g.dq.time, g.dq.dim);
                    let rows = (&part[i0 * p.d..], p.d);
                    // SAFETY: as in `write_dq`, for rows i0..i0 + mr of (b, h).
                    unsafe { dqp.write_rows(at, rows, (mr, p.d), p.scale) };
                }
            },
        );
        return Ok(());
    }
    // 1. D = rowsum(dO ⊙ O) of every (batch, head), which every group reads.
    let mut delta = alloc::try_zeros(OP, &[bh_n, tq])?;
    let mut lse = alloc::try_zeros(OP, &[bh_n, tq])?;
    if tq > 0 {
        delta
            .par_chunks_mut(tq)
            .zip(lse.par_chunks_mut(tq))
            .enumerate()
            .for_each(|(bh, (dl, ls))| delta_rows(isa, p, g, &x, bh, dl, ls));
    }
    // Partials of zeros: rows that no key tile of a group sees stay 0.
    let mut parts = alloc::try_zeros(OP, &[bh_n, n_g, part_len])?;
    let (delta, lse) = (&delta, &lse);
    parts.par_chunks_mut(part_len).enumerate().for_each_init(
        || Scratch::new(p, br, pk),
        |s, (task, part)| {
            let (bh, grp) = (task / n_g, task % n_g);
            let rows = (&delta[bh * tq..][..tq], &lse[bh * tq..][..tq]);
            key_group(&ctx, bh, (grp, n_g), rows, s, part)
        },
    );
    // 3. dQ = scale · Σ_g partial_g, in group order.
    let n_rc = tq.div_ceil(REDUCE_ROWS);
    let parts = &parts;
    (0..bh_n * n_rc).into_par_iter().for_each_init(
        || zeros(OP, &[p.d]),
        |acc, task| {
            let (bh, rc) = (task / n_rc, task % n_rc);
            for i in rc * REDUCE_ROWS..tq.min((rc + 1) * REDUCE_ROWS) {
                acc.fill(0.0);
                for grp in 0..n_g {
                    let src = &parts[(bh * n_g + grp) * part_len + i * p.d..][..p.d];
                    for (a, &s) in acc.iter_mut().zip(src) {
                        *a += s;
                    }
                }
                write_dq(p, g, dqp, bh, i, acc);
            }
        },
    );
    Ok(())
}

/// Step 1 for one (batch, head): `dl = D = rowsum(dO ⊙ O)` and `ls` = its
/// rows' LSE, where −∞ (a row that sees no key) becomes +∞ so that every
/// recomputed probability of that row is exactly 0.
fn delta_rows(
    isa: Isa,
    p: &AttnParams,
    g: &GradLayouts,
    x: &BackwardInputs<'_>,
    bh: usize,
    dl: &mut [f32],
    ls: &mut [f32],
) {
    let (b, h) = (bh / p.heads, bh % p.heads);
    let (oo, go) = (p.o.row(b, h, 0), g.dout.row(b, h, 0));
    if p.dv == 0 {
        dl.fill(0.0);
    } else if p.o.dim == 1 && g.dout.dim == 1 {
        let (o, dout) = ((&x.o[oo..], p.o.time), (&x.dout[go..], g.dout.time));
        tile::dot_rows(isa, o, dout, p.dv, dl);
    } else {
        for (i, dlv) in dl.iter_mut().enumerate() {
            let (oo, go) = (p.o.row(b, h, i), g.dout.row(b, h, i));
            *dlv = (0..p.dv)
                .map(|c| x.o[oo + c * p.o.dim] * x.dout[go + c * g.dout.dim])
                .sum();
        }
    }
    ls.copy_from_slice(&x.lse[bh * p.tq..][..p.tq]);
    for lv in ls.iter_mut() {
        if *lv == f32::NEG_INFINITY {
            *lv = f32::INFINITY;
        }
    }
}

/// Writes `scale · vals` to dQ row i of (b, h).
fn write_dq(p: &AttnParams, g: &GradLayouts, dqp: OutPtr, bh: usize, i: usize, vals: &[f32]) {
    let (b, h) = (bh / p.heads, bh % p.heads);
    // SAFETY: the validated dq layout maps (b, h, i, c) to distinct in-bounds
    // elements, disjoint from dk and dv; the calling task alone owns row i of
    // (b, h).
    unsafe { dqp.write_row(g.dq.row(b, h, i), g.dq.dim, vals, p.scale) };
}

/// What every key-tile task reads.
struct Ctx<'a> {
    isa: Isa,
    br: usize,
    p: &'a AttnParams,
    g: &'a GradLayouts,
    masks: &'a Masks<'a>,
    x: &'a BackwardInputs<'a>,
    dkp: OutPtr,
    dvp: OutPtr,
    /// With one key-tile group (and dQ of unit column stride): dQ, which each
    /// query tile's last key tile writes from its product's store.
    dq_out: Option<OutPtr>,
}

/// Key tiles `grp, grp + n_g, …` of one (batch, head); dQ accumulates into
/// `part` (Tq × D). `rows`: the (batch, head)'s D and LSE (see `delta_rows`).
fn key_group(
    c: &Ctx<'_>,
    bh: usize,
    (grp, n_g): (usize, usize),
    rows: (&[f32], &[f32]),
    s: &mut Scratch,
    part: &mut [f32],
) {
    let (p, g, x) = (c.p, c.g, c.x);
    let (b, h) = (bh / p.heads, bh % p.heads);
    let tq = p.tq;
    // Qᵀ and dOᵀ of this (batch, head), packed once for all its key tiles,
    // one contiguous block per query tile: a B operand whose rows are Tq
    // floats apart would put each step of a tile product on its own page
    // (and, for Tq a multiple of 1024, in one L1 set).
    let br = c.br;
    let mut i0 = 0;
    while i0 < tq {
        let mr = br.min(tq - i0);
        let (qb, db) = (i0 * p.d, i0 * p.dv);
        let (qrow, drow) = (p.q.row(b, h, i0), g.dout.row(b, h, i0));
        gather_t(
            c.isa,
            &mut s.qt[qb..],
            br,
            x.q,
            qrow,
            p.q.time,
            p.q.dim,
            mr,
            p.d,
        );
        let (dt, dd) = (g.dout.time, g.dout.dim);
        gather_t(c.isa, &mut s.dot[db..], br, x.dout, drow, dt, dd, mr, p.dv);
        i0 += br;
    }
    // Row copies from the first query tile that sees the group's first key tile.
    let i_lo = if p.causal {
        (grp * BC).saturating_sub(p.causal_offset).min(tq) / br * br
    } else {
        0
    };
    if !s.qr.is_empty() {
        let (to, qs) = (&mut s.qr[i_lo * p.d..], (p.q.time, p.q.dim));
        gather(to, p.d, x.q, p.q.row(b, h, i_lo), qs, tq - i_lo, p.d);
    }
    if !s.dor.is_empty() {
        let (to, ds) = (&mut s.dor[i_lo * p.dv..], (g.dout.time, g.dout.dim));
        gather(
            to,
            p.dv,
            x.dout,
            g.dout.row(b, h, i_lo),
            ds,
            tq - i_lo,
            p.dv,
        );
    }
    let n_kt = p.tk.div_ceil(BC);
    s.dq_state.fill(DqRows::Untouched);
    let mut kt = grp;
    while kt < n_kt {
        key_tile(c, (bh, kt), rows, s, part);
        kt += n_g;
    }
}

fn key_tile(
    c: &Ctx<'_>,
    (bh, kt): (usize, usize),
    (delta, lse): (&[f32], &[f32]),
    s: &mut Scratch,
    part: &mut [f32],
) {
    let (isa, br, p, g, masks, x) = (c.isa, c.br, c.p, c.g, c.masks, c.x);
    let (dkp, dvp) = (c.dkp, c.dvp);
    let (b, h) = (bh / p.heads, bh % p.heads);
    let (d, dv, tq) = (p.d, p.dv, p.tq);
    let j0 = kt * BC;
    let nc = BC.min(p.tk - j0);
    // dK and dV: the first query tile that sees the key tile writes its
    // rows (the rest are zeroed then), later ones accumulate; the same bits
    // as accumulating onto zeros (a product sum is never −0).
    let mut first = true;
    let (krow0, vrow0) = (p.k.row(b, h, j0), p.v.row(b, h, j0));
    // Tiles of K, Q and dO whose rows crowd a few L1 sets (heads of a fused
    // projection: `crowds_l1`) are copied first; the tile products would
    // stream them from L2 once per strip (see the forward's V).
    let k_packed = p.k.dim != 1 || crowds_l1(nc, d, p.k.time);
    if k_packed {
        gather(&mut s.kr, d, x.k, krow0, (p.k.time, p.k.dim), nc, d);
    }
    let ka = if k_packed {
        AOp {
            data: &s.kr,
            rs: d,
            cs: 1,
        }
    } else {
        AOp {
            data: tail(x.k, krow0),
            rs: p.k.time,
            cs: p.k.dim,
        }
    };
    let va = AOp {
        data: tail(x.v, vrow0),
        rs: p.v.time,
        cs: p.v.dim,
    };
    // The first query row that sees key j0.
    let i_first = if p.causal {
        j0.saturating_sub(p.causal_offset)
    } else {
        0
    };
    // Rows of dK and dV written by the last query tile's products (from
    // 0; the rest are written from the buffers after the loop).
    let mut kv_written = 0;
    let kv_out = g.dk.dim == 1 && g.dv.dim == 1;
    let mut qt = i_first / br;
    while qt * br < tq {
        let i0 = qt * br;
        let mr = br.min(tq - i0);
        let this_qt = qt;
        qt += 1;
        // Keys past the tile's last visible one have P = 0 and add nothing
        // (exactly) to dV, dK or dQ: a causal tile stops there.
        let ncq = if p.causal {
            nc.min(p.key_end(i0 + mr - 1).saturating_sub(j0))
        } else {
            nc
        };
        if ncq == 0 {
            continue;
        }
        if first {
            s.dk[ncq * d..nc * d].fill(0.0);
            s.dv[ncq * dv..nc * dv].fill(0.0);
        }
        let (qrow0, drow0) = (p.q.row(b, h, i0), g.dout.row(b, h, i0));
        let qtb = BOp {
            data: tail(&s.qt, i0 * d),
            ld: br,
        };
        let dotb = BOp {
            data: tail(&s.dot, i0 * dv),
            ld: br,
        };
        // Sᵀ = K Qᵀ (ncq × mr). On a causal diagonal tile the products skip
        // the triangle where P = 0 (see `causal_bands`): Sᵀ and dPᵀ the blocks
        // left of it, Pᵀ·dO and dSᵀ·Q (rows = keys, steps = queries) the
        // queries before each key, dS·K (rows = queries) the keys after each query.
        let (t_band, q_band) = causal_bands(p, i0, j0);
        let k_band = match t_band {
            Band::ColsFrom(d) => Band::KFrom(d),
            _ => Band::Full,
        };
        tile::gemm_band(isa, ncq, mr, d, ka, qtb, &mut s.st, BR, false, t_band);
        // Pᵀ = exp(scale·Sᵀ + mask − lse).
        let lse_i = &lse[i0..i0 + mr];
        let masked = masks.any() || (p.causal && j0 + ncq > p.key_end(i0));
        // Causality alone (with a positive scale) masks by writing −∞
        // unscaled, as the forward does; other masks prepare every row.
        let prescaled = masked && (masks.any() || p.scale <= 0.0);
        if prescaled {
            for jj in 0..ncq {
                let row = &mut s.st[jj * BR..jj * BR + mr];
                masks.prep_key_row(isa, p, b, h, i0, j0 + jj, row);
            }
        }
        let mul = if prescaled { 1.0 } else { p.scale };
        let cut = masked_cut(p, masks, masked && !prescaled, i0, j0, ncq);
        if let Some(d) = cut {
            tile::neg_inf_before(isa, &mut s.st, BR, ncq, mr, d);
        }
        tile::exp_scaled_sub_rows(isa, &mut s.st, BR, ncq, mr, mul, lse_i, cut);
        // dV += Pᵀ dO (ncq × dv).
        let dob = if s.dor.is_empty() {
            BOp {
                data: tail(x.dout, drow0),
                ld: g.dout.time,
            }
        } else {
            BOp {
                data: &s.dor[i0 * dv..],
                ld: dv,
            }
        };
        let pt = AOp {
            data: &s.st,
            rs: BR,
            cs: 1,
        };
        // The last query tile writes dK and dV rows 0..ncq from its
        // products' stores (no later tile adds to them).
        let last = kv_out && i0 + mr == tq;
        if last {
            kv_written = ncq;
        }
        // SAFETY (both): the validated dk/dv layouts map (b, h, j0 + jj, c),
        // jj < ncq ≤ nc, to distinct in-bounds elements with unit column
        // stride (dq, dk and dv share none); key tile kt of (b, h) belongs to
        // this task alone.
        let (dv_out, dk_out) = if last {
            unsafe {
                (
                    Some(tile::OutRows::new(
                        dvp.0.wrapping_add(g.dv.row(b, h, j0)),
                        g.dv.time,
                        tile::RowMul::All(1.0),
                    )),
                    Some(tile::OutRows::new(
                        dkp.0.wrapping_add(g.dk.row(b, h, j0)),
                        g.dk.time,
                        tile::RowMul::All(p.scale),
                    )),
                )
            }
        } else {
            (None, None)
        };
        let c_dv = (&mut s.dv[..], dv);
        tile::gemm_band_out(isa, (ncq, dv, mr), pt, dob, c_dv, !first, k_band, dv_out);
        // dSᵀ = Pᵀ ⊙ (dPᵀ − D) with dPᵀ = V dOᵀ (ncq × mr), made in the
        // product's store over Pᵀ.
        let ds = tile::Gemm {
            m: ncq,
            n: mr,
            k: dv,
            a: va,
            b: dotb,
            c: &mut s.st,
            ldc: BR,
            accumulate: false,
            c_scale: None,
            c_grad: Some(&delta[i0..i0 + mr]),
            band: t_band,
            out: None,
        };
        tile::run_gemm(isa, ds);
        // dK += dSᵀ Q (ncq × d).
        let qb = if s.qr.is_empty() {
            BOp {
                data: tail(x.q, qrow0),
                ld: p.q.time,
            }
        } else {
            BOp {
                data: &s.qr[i0 * d..],
                ld: d,
            }
        };
        let dst = AOp {
            data: &s.st,
            rs: BR,
            cs: 1,
        };
        let c_dk = (&mut s.dk[..], d);
        tile::gemm_band_out(isa, (ncq, d, mr), dst, qb, c_dk, !first, k_band, dk_out);
        first = false;
        // dQ_g += dS K (mr × d): dS is dSᵀ read with swapped strides.
        let kb = if !k_packed {
            BOp {
                data: tail(x.k, krow0),
                ld: p.k.time,
            }
        } else {
            BOp { data: &s.kr, ld: d }
        };
        let ds = AOp {
            data: &s.st,
            rs: 1,
            cs: BR,
        };
        // With one group, the query tile's last key tile writes its dQ rows
        // from the product's store (no later key tile adds to them).
        // The first key tile to add to them writes them (the same bits as
        // adding to zeros: a product sum is never −0).
        let dq_rows = &mut s.dq_state[this_qt];
        let dq_add = *dq_rows != DqRows::Untouched;
        *dq_rows = DqRows::InPart;
        let dq_out = match c.dq_out {
            Some(dqp) if j0 + nc >= p.key_end(i0 + mr - 1) => {
                *dq_rows = DqRows::Written;
                // SAFETY: the validated dq layout maps (b, h, i0 + r, c), r <
                // mr, c < d, to distinct in-bounds elements with unit column
                // stride, disjoint from dk and dv; with one group this task
                // alone owns the rows of (b, h).
                Some(unsafe {
                    tile::OutRows::new(
                        dqp.0.wrapping_add(g.dq.row(b, h, i0)),
                        g.dq.time,
                        tile::RowMul::All(p.scale),
                    )
                })
            }
            _ => None,
        };
        let c_dq = (&mut part[i0 * d..], d);
        tile::gemm_band_out(isa, (mr, d, ncq), ds, kb, c_dq, dq_add, q_band, dq_out);
    }
    if first {
        s.dk[..nc * d].fill(0.0);
        s.dv[..nc * dv].fill(0.0);
    }
    let (dk_at, dv_at) = (
        (g.dk.row(b, h, j0), g.dk.time, g.dk.dim),
        (g.dv.row(b, h, j0), g.dv.time, g.dv.dim),
    );
    // The rows that no product wrote.
    let (dk_at, dv_at) = (
        (dk_at.0 + kv_written * dk_at.1, dk_at.1, dk_at.2),
        (dv_at.0 + kv_written * dv_at.1, dv_at.1, dv_at.2),
    );
    let rest = nc - kv_written;
    // SAFETY: the validated dk/dv layouts map (b, h, j0 + jj, c) to distinct
    // in-bounds elements (dq, dk and dv share none, also when packed in one
    // buffer); key tile kt of (b, h) belongs to this task's group alone.
    unsafe {
        dkp.write_rows(dk_at, (&s.dk[kv_written * d..], d), (rest, d), p.scale);
        dvp.write_rows(dv_at, (&s.dv[kv_written * dv..], dv), (rest, dv), 1.0);
    }
}
