//! Decode path: one query row (Tq = 1) against a long key/value cache.
//!
//! Split-K ("flash decoding"): the keys are cut into chunks of `CHUNK` (a
//! size fixed by the problem, not the thread count); each (batch, head,
//! chunk) task computes dot products, a local softmax and a partial output;
//! the partials of one (batch, head) are merged in chunk order. Memory:
//! B·H·chunks·(Dv + 2) floats.

use rayon::prelude::*;

use crate::threads;

use super::tile;
use super::{AttnParams, Masks, OutPtr, OP};
use crate::error::{KernelError, Result};
use crate::kernels::alloc::{self, zeros};
use crate::simd::{self, Isa};

const CHUNK: usize = 256;

/// Attention of a single query row per (batch, head), for a KV cache.
///
/// # Shapes
/// - q: (B,H,1,D), k: (B,H,Tk,D), v: (B,H,Tk,Dv) → o: (B,H,1,Dv), lse: (B,H) contiguous
pub fn decode(
    p: &AttnParams,
    masks: &Masks,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    o: &mut [f32],
    lse: &mut [f32],
) -> Result<()> {
    super::forward::validate(p, masks, [q.len(), k.len(), v.len(), o.len()], lse.len())?;
    decode_with(simd::isa(), p, masks, q, k, v, o, lse)
}

/// As `decode`, on a validated problem, with a given ISA.
#[allow(clippy::too_many_arguments)]
pub(crate) fn decode_with(
    isa: Isa,
    p: &AttnParams,
    masks: &Masks,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    o: &mut [f32],
    lse: &mut [f32],
) -> Result<()> {
    if p.tq != 1 {
        return Err(KernelError::shape(
            OP,
            format!("decode: expected one query row (Tq = 1), got Tq = {}", p.tq),
        ));
    }
    let dv = p.dv;
    let bh_n = p.batch * p.heads;
    let n_ch = p.tk.div_ceil(CHUNK).max(1);
    let stride = dv + 2; // [m, l, o(dv)]
    let mut parts = alloc::try_zeros(OP, &[bh_n, n_ch, stride])?;
    // Pieces of at least `threads::INLINE_WORK` work: a decode step small
    // enough to run on the calling thread stays one piece (never enters rayon).
    let min_parts = threads::chunk_len(bh_n * n_ch, p.tk.min(CHUNK) * p.d, threads::INLINE_WORK);
    let min_heads = threads::chunk_len(bh_n, n_ch * dv, threads::INLINE_WORK);
    parts
        .par_chunks_mut(stride)
        .enumerate()
        .with_min_len(min_parts)
        .for_each_init(
            || (vec![0.0f32; CHUNK], zeros(OP, &[p.d])),
            |(sc, qbuf), (task, part)| {
                chunk(
                    isa,
                    p,
                    masks,
                    q,
                    k,
                    v,
                    task / n_ch,
                    task % n_ch,
                    sc,
                    qbuf,
                    part,
                )
            },
        );
    let optr = OutPtr(o.as_mut_ptr());
    let lptr = OutPtr(lse.as_mut_ptr());
    (0..bh_n)
        .into_par_iter()
        .with_min_len(min_heads)
        .for_each_init(
            || zeros(OP, &[dv]),
            |acc, bh| {
                let mine = &parts[bh * n_ch * stride..(bh + 1) * n_ch * stride];
                let m = mine
                    .chunks(stride)
                    .fold(f32::NEG_INFINITY, |m, c| m.max(c[0]));
                acc.fill(0.0);
                let mut l = 0.0f32;
                if m > f32::NEG_INFINITY {
                    for c in mine.chunks(stride) {
                        if c[1] > 0.0 {
                            let w = (c[0] - m).exp();
                            l += c[1] * w;
                            tile::scale_axpy(isa, acc, 1.0, w, &c[2..]);
                        }
                    }
                }
                let (mul, lv) = if l > 0.0 {
                    (1.0 / l, m + l.ln())
                } else {
                    (0.0, f32::NEG_INFINITY)
                };
                let (b, h) = (bh / p.heads, bh % p.heads);
                // SAFETY: the validated layout maps (b, h, 0, c) to distinct
                // in-bounds elements of `out`; this task alone writes (b, h).
                unsafe {
                    optr.write_row(p.o.row(b, h, 0), p.o.dim, acc, mul);
                    lptr.set(bh, lv);
                }
            },
        );
    Ok(())
}

/// Partial softmax and output of keys `[ch·CHUNK, ch·CHUNK + CHUNK)` for one (batch, head).
#[allow(clippy::too_many_arguments)]
fn chunk(
    isa: Isa,
    p: &AttnParams,
    masks: &Masks,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    bh: usize,
    ch: usize,
    sc: &mut [f32],
    qbuf: &mut [f32],
    part: &mut [f32],
) {
    let (b, h) = (bh / p.heads, bh % p.heads);
    let (d, dv) = (p.d, p.dv);
    let j0 = ch * CHUNK;
    let jend = p.key_end(0).min(j0 + CHUNK);
    part.fill(0.0);
    part[0] = f32::NEG_INFINITY;
    if j0 >= jend {
        return;
    }
    let n = jend - j0;
    let qrow = p.q.row(b, h, 0);
    for (dd, x) in qbuf.iter_mut().enumerate() {
        *x = q[qrow + dd * p.q.dim];
    }
    let s = &mut sc[..n];
    for (jj, x) in s.iter_mut().enumerate() {
        let kr = p.k.row(b, h, j0 + jj);
        *x = if d == 0 {
            0.0
        } else if p.k.dim == 1 {
            tile::dot(isa, qbuf, &k[kr..kr + d])
        } else {
            (0..d).map(|dd| qbuf[dd] * k[kr + dd * p.k.dim]).sum()
        };
    }
    let mx = if masks.any() {
        let mut mx = f32::NEG_INFINITY;
        for (jj, x) in s.iter_mut().enumerate() {
            *x = masks.apply(p, b, h, 0, j0 + jj, *x);
            mx = mx.max(*x);
        }
        mx
    } else {
        tile::scale_max(isa, s, p.scale)
    };
    if mx == f32::NEG_INFINITY {
        return;
    }
    let l = tile::exp_sum(isa, s, mx);
    let (head, acc) = part.split_at_mut(2);
    head[0] = mx;
    head[1] = l;
    for (jj, &w) in s.iter().enumerate() {
        if w == 0.0 || dv == 0 {
            continue;
        }
        let vr = p.v.row(b, h, j0 + jj);
        if p.v.dim == 1 {
            tile::scale_axpy(isa, acc, 1.0, w, &v[vr..vr + dv]);
        } else {
            for (c, a) in acc.iter_mut().enumerate() {
                *a += w * v[vr + c * p.v.dim];
            }
        }
    }
}
