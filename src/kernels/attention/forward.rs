//! Forward pass: one task per (batch, head, query tile); each walks the key
//! tiles it can see (tiles above the causal diagonal are never visited, and
//! the diagonal one stops at the tile's last visible key) with an online
//! softmax, then writes its output rows and their log-sum-exp.

use rayon::prelude::*;

use super::tile::{self, AOp, BOp, Band};
use super::{check_operand, crowds_l1, query_rows, tail, AttnParams, Masks, OutPtr, BC, BR, OP};
use crate::error::{KernelError, Result};
use crate::kernels::alloc::zeros;
use crate::simd::{self, Isa};

/// Query rows per forward tile on AVX2 without causality (see `forward_rows`).
pub(super) const FBR: usize = 128;

/// Per-task buffers: O(tile) memory, never T×T. Scores are kept transposed
/// (keys × queries) so that Qᵀ is packed once per task, K is read in place,
/// and the per-query softmax statistics are vector operations across a row.
/// `sl` = [`row_stride`] of the rows per tile is the row stride of the query-wide buffers.
struct Scratch {
    qt: Vec<f32>,    // d × sl packed Qᵀ
    st: Vec<f32>,    // BC × sl scores Sᵀ, then probabilities Pᵀ
    vt: Vec<f32>,    // BC × dv packed V (when its rows crowd L1, see `crowds_l1`)
    o: Vec<f32>,     // sl × dv output accumulator
    m: Vec<f32>,     // sl running max (scaled units)
    l: Vec<f32>,     // sl running sum
    cm: Vec<f32>,    // sl tile max, then tile sum
    sub: Vec<f32>,   // sl value subtracted before exp
    alpha: Vec<f32>, // sl rescale factor of the running state
}

impl Scratch {
    fn new(p: &AttnParams, br: usize) -> Self {
        let sl = row_stride(br);
        Scratch {
            qt: zeros(OP, &[p.d, sl]),
            st: zeros(OP, &[BC, sl]),
            vt: zeros(OP, &[BC, p.dv]),
            o: zeros(OP, &[sl, p.dv]),
            m: vec![0.0; sl],
            l: vec![0.0; sl],
            cm: vec![0.0; sl],
            sub: vec![0.0; sl],
            alpha: vec![0.0; sl],
        }
    }
}

/// Validates the forward operands (shared with the decode path).
pub(crate) fn validate(
    p: &AttnParams,
    masks: &Masks,
    lens: [usize; 4],
    lse_len: usize,
) -> Result<()> {
    p.validate()?;
    masks.validate(p)?;
    let (b, h) = (p.batch, p.heads);
    check_operand("q", lens[0], [b, h, p.tq, p.d], p.q, false)?;
    check_operand("k", lens[1], [b, h, p.tk, p.d], p.k, false)?;
    check_operand("v", lens[2], [b, h, p.tk, p.dv], p.v, false)?;
    check_operand("out", lens[3], [b, h, p.tq, p.dv], p.o, true)?;
    if lse_len < b * h * p.tq {
        return Err(KernelError::shape(
            OP,
            format!(
                "lse: expected {} elements (B·H·Tq), got {lse_len}",
                b * h * p.tq
            ),
        ));
    }
    Ok(())
}

/// `O = softmax(scale·QKᵀ + mask)·V` and the row log-sum-exp, through the
/// strides in `p`. Tq = 1 takes the decode path.
///
/// # Shapes
/// - q: (B,H,Tq,D), k: (B,H,Tk,D), v: (B,H,Tk,Dv) → o: (B,H,Tq,Dv), lse: (B,H,Tq) contiguous
pub fn forward(
    p: &AttnParams,
    masks: &Masks,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    o: &mut [f32],
    lse: &mut [f32],
) -> Result<()> {
    forward_with(simd::isa(), p, masks, q, k, v, o, lse)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_with(
    isa: Isa,
    p: &AttnParams,
    masks: &Masks,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    o: &mut [f32],
    lse: &mut [f32],
) -> Result<()> {
    forward_tiled(isa, forward_rows(isa, p), p, masks, q, k, v, o, lse)
}

/// Query rows per forward tile: `query_rows`, or on AVX2 without causality
/// `FBR` (each K and V tile then serves twice the queries per load: MHA(512,
/// 8) shape, 1 thread, forward 0.98 of the time with 64 rows; 256 rows gained
/// nothing, and AVX-512 was 1.05 slower with 128). The query tile height does
/// not change any result: every query row's sums run in the same order.
pub(super) fn forward_rows(isa: Isa, p: &AttnParams) -> usize {
    if isa == Isa::Avx2 && !p.causal && query_rows(p) == BR {
        FBR
    } else {
        query_rows(p)
    }
}

/// Row stride (floats) of the query-wide tile buffers (Qᵀ, Sᵀ/Pᵀ) for `br`
/// query rows: max(`br`, `BR`), one cache line more when that is a multiple
/// of 512 bytes. With such a stride the 64 key rows of Sᵀ, read column-wise
/// by P·V, and the d rows of Qᵀ, read by every strip of Sᵀ = K·Qᵀ, fall into
/// at most 8 of the L1's 64 sets (64-byte lines, 4 KiB a way), 8 lines a
/// set beside the V tile's: an 8-way L1d (Zen 4's 32 KiB) evicts them between
/// strips, where a 12-way one (48 KiB) keeps them. An odd number of lines
/// spreads them over every set. 128 rows (AVX2, `FBR`) → 144; 64 (the other
/// levels) stays 64. The stride changes no result.
pub(super) fn row_stride(br: usize) -> usize {
    const LINE: usize = 16; // floats per 64-byte line
    let sl = br.max(BR);
    if sl.is_multiple_of(8 * LINE) {
        sl + LINE
    } else {
        sl
    }
}

/// `forward_with` with `br` (≤ `FBR`) query rows per tile; tests force either size.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_tiled(
    isa: Isa,
    br: usize,
    p: &AttnParams,
    masks: &Masks,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    o: &mut [f32],
    lse: &mut [f32],
) -> Result<()> {
    debug_assert!(br > 0 && br <= FBR);
    validate(p, masks, [q.len(), k.len(), v.len(), o.len()], lse.len())?;
    if p.tq == 1 {
        return super::decode::decode_with(isa, p, masks, q, k, v, o, lse);
    }
    let n_qt = p.tq.div_ceil(br);
    let tasks = p.batch * p.heads * n_qt;
    let (optr, lptr) = (OutPtr(o.as_mut_ptr()), OutPtr(lse.as_mut_ptr()));
    (0..tasks).into_par_iter().for_each_init(
        || Scratch::new(p, br),
        |s, task| {
            let (bh, qt) = (task / n_qt, task % n_qt);
            query_tile(isa, p, masks, q, k, v, bh, qt * br, br, s, optr, lptr);
        },
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
#[allow(clippy::needless_range_loop)] // per-row state arrays indexed in lockstep
fn query_tile(
    isa: Isa,
    p: &AttnParams,
    masks: &Masks,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    bh: usize,
    i0: usize,
    br: usize,
    s: &mut Scratch,
    optr: OutPtr,
    lptr: OutPtr,
) {
    let (b, h) = (bh / p.heads, bh % p.heads);
    let (d, dv) = (p.d, p.dv);
    let mr = br.min(p.tq - i0);
    // The tile buffers' row stride.
    let sl = row_stride(br);
    let kend = p.key_end(i0 + mr - 1);
    s.m[..mr].fill(f32::NEG_INFINITY);
    s.l[..mr].fill(0.0);
    if kend == 0 {
        // Otherwise the first key tile writes O (see below).
        s.o[..mr * dv].fill(0.0);
    }
    // Qᵀ tile, packed once (d × mr, row stride sl).
    let qrow0 = p.q.row(b, h, i0);
    super::gather_t(isa, &mut s.qt, sl, q, qrow0, p.q.time, p.q.dim, mr, d);
    let qtb = BOp {
        data: &s.qt,
        ld: sl,
    };
    // Unmasked tiles with a positive scale skip the scaling pass: the max of
    // the raw scores times the scale is the max of the scaled scores.
    let fold_scale = p.scale > 0.0;
    // Whether the last key tile's product wrote the output rows.
    let mut o_written = false;
    let mut j0 = 0;
    while j0 < kend {
        let nc = BC.min(kend - j0);
        let ka = AOp {
            data: tail(k, p.k.row(b, h, j0)),
            rs: p.k.time,
            cs: p.k.dim,
        };
        // Sᵀ = K Qᵀ (nc × mr); on a causal diagonal tile, the blocks above
        // the diagonal are skipped (masked below) and P V stops each query
        // strip at its last visible key.
        let (s_band, pv_band) = causal_bands(p, i0, j0);
        tile::gemm_band(isa, nc, mr, d, ka, qtb, &mut s.st, sl, false, s_band);
        // A tile needs per-element masking when a mask applies or when it
        // crosses the causal diagonal.
        let masked = masks.any() || (p.causal && j0 + nc > p.key_end(i0));
        // Causality alone masks by writing −∞ (unscaled: −∞ · scale = −∞
        // for a positive scale); other masks and other scales take the
        // per-row preparation, which scales the row first.
        let prescaled = masks.any() || !fold_scale;
        // Causality alone: the `d` of the −∞ cut, written below and promised to the exps.
        let cut = masked_cut(p, masks, masked && !prescaled, i0, j0, nc);
        if prescaled {
            for jj in 0..nc {
                let row = &mut s.st[jj * sl..jj * sl + mr];
                if masked {
                    masks.prep_key_row(isa, p, b, h, i0, j0 + jj, row);
                } else {
                    tile::scale_max(isa, row, p.scale);
                }
            }
        } else if let Some(d) = cut {
            tile::neg_inf_before(isa, &mut s.st, sl, nc, mr, d);
        }
        let cm = &mut s.cm[..mr];
        tile::col_max_rows(isa, &s.st, sl, nc, mr, cm);
        let mul = if prescaled { 1.0 } else { p.scale };
        for ii in 0..mr {
            let m_new = s.m[ii].max(cm[ii] * mul);
            if m_new == f32::NEG_INFINITY {
                // Nothing visible yet in this row: every probability is 0.
                s.sub[ii] = f32::INFINITY;
                s.alpha[ii] = 1.0;
            } else {
                s.sub[ii] = m_new;
                // 0 when the old max is −∞ (no libm call for a first tile).
                s.alpha[ii] = if s.m[ii] == f32::NEG_INFINITY {
                    0.0
                } else {
                    (s.m[ii] - m_new).exp()
                };
                s.m[ii] = m_new;
            }
        }
        // Pᵀ = exp(scale·Sᵀ − m) and the column sums.
        let probs = tile::ExpScaledSub {
            x: &mut s.st,
            ld: sl,
            rows: nc,
            width: mr,
            scale: mul,
            sub: &s.sub[..mr],
            sums: Some(&mut cm[..]),
            masked_before: cut,
        };
        tile::run_exp(isa, probs);
        for ii in 0..mr {
            s.l[ii] = s.l[ii] * s.alpha[ii] + cm[ii];
        }
        // On AVX2, a V tile whose rows crowd a few L1 sets (heads of a fused
        // projection, rows 3E floats apart) is copied first: the 6 × 16
        // product would stream it from L2 once per strip of queries (MHA(512,
        // 8) shape, 1 thread: forward 0.93-0.96 of the time). The AVX-512
        // 8 × 32 product gained nothing from the copy (1.01): it reads in place.
        let in_place = p.v.dim == 1 && (isa != Isa::Avx2 || !crowds_l1(nc, dv, p.v.time));
        let vb = if in_place {
            BOp {
                data: tail(v, p.v.row(b, h, j0)),
                ld: p.v.time,
            }
        } else {
            let (vrow0, vs) = (p.v.row(b, h, j0), (p.v.time, p.v.dim));
            super::gather(&mut s.vt, dv, v, vrow0, vs, nc, dv);
            BOp {
                data: &s.vt,
                ld: dv,
            }
        };
        // O = α·O + P V (mr × dv), the rescale in the product's store: P is
        // Pᵀ read with swapped strides. The first key tile writes O = P V
        // (the same bits as 0·α + P V: a product sum is never −0).
        let first = j0 == 0;
        let pa = AOp {
            data: &s.st,
            rs: 1,
            cs: sl,
        };
        // The last key tile writes the output rows O·(1/l) from the
        // product's store (when O has unit column stride) instead of a pass
        // of its own over the finished tile: the same values.
        let out = if j0 + nc == kend && p.o.dim == 1 {
            for ii in 0..mr {
                let l = s.l[ii];
                cm[ii] = if l > 0.0 { 1.0 / l } else { 0.0 };
            }
            // SAFETY: the validated layout maps (b, h, i0 + r, c), r < mr, c <
            // dv, to distinct in-bounds elements of `out` (unit column
            // stride), and this task alone owns query rows i0..i0 + mr of (b, h).
            Some(unsafe {
                tile::OutRows::new(
                    optr.0.wrapping_add(p.o.row(b, h, i0)),
                    p.o.time,
                    tile::RowMul::Row(&cm[..mr]),
                )
            })
        } else {
            None
        };
        let pv = tile::Gemm {
            m: mr,
            n: dv,
            k: nc,
            a: pa,
            b: vb,
            c: &mut s.o,
            ldc: dv,
            accumulate: !first,
            c_scale: if first { None } else { Some(&s.alpha[..mr]) },
            c_grad: None,
            band: pv_band,
            out,
        };
        o_written = out.is_some();
        tile::run_gemm(isa, pv);
        j0 += nc;
    }
    let lse_base = bh * p.tq + i0;
    for r in 0..mr {
        let l = s.l[r];
        let (mul, lse) = if l > 0.0 {
            (1.0 / l, s.m[r] + l.ln())
        } else {
            (0.0, f32::NEG_INFINITY)
        };
        // SAFETY: the validated layout maps (b, h, i0 + r, c) to distinct
        // in-bounds elements of `out`, and this task alone owns query rows
        // i0..i0+mr of (b, h); likewise lse[lse_base + r].
        unsafe {
            if !o_written {
                optr.write_row(
                    p.o.row(b, h, i0 + r),
                    p.o.dim,
                    &s.o[r * dv..(r + 1) * dv],
                    mul,
                );
            }
            lptr.set(lse_base + r, lse);
        }
    }
}

/// When `cut` (causality alone masks the tile): the `d` of
/// [`tile::neg_inf_before`] and [`tile::ExpScaledSub::masked_before`] for key
/// rows `j0..j0 + nc` and queries from `i0`, i.e. row jj is −∞ at columns
/// `ii < jj + d` (`causal_cut` of each row).
pub(super) fn masked_cut(
    p: &AttnParams,
    masks: &Masks,
    cut: bool,
    i0: usize,
    j0: usize,
    nc: usize,
) -> Option<isize> {
    if !cut || masks.any() || !p.causal {
        return None;
    }
    // causal_cut(j) = max(0, j − offset − i0); an offset of j0 + nc or more
    // cuts nothing, and so does any d ≤ −nc.
    let off = p.causal_offset.min(j0 + nc);
    Some(j0 as isize - i0 as isize - off as isize)
}

/// The bands of a (query tile at `i0`, key tile at `j0`) pair when causal:
/// query i sees key j iff `j ≤ i + offset`, so in the transposed score tile
/// (keys × queries) row jj needs the columns `ii ≥ jj + j0 − i0 − offset`,
/// and in P (queries × keys) row ii is zero from step `ii + i0 + offset − j0 + 1` on.
/// Returns (the Sᵀ band, the P band); both `Full` when not causal.
pub(super) fn causal_bands(p: &AttnParams, i0: usize, j0: usize) -> (Band, Band) {
    if !p.causal {
        return (Band::Full, Band::Full);
    }
    // An offset past any sequence length means every key is visible.
    let off = p.causal_offset.min(p.tk) as isize;
    let d = j0 as isize - i0 as isize - off;
    (Band::ColsFrom(d), Band::KTo(1 - d))
}
