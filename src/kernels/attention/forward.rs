//! Forward pass: one task per (batch, head, query tile); each walks the key
//! tiles it can see (tiles above the causal diagonal are never visited) with
//! an online softmax, then writes its output rows and their log-sum-exp.

use rayon::prelude::*;

use super::tile::{self, AOp, BOp};
use super::{check_operand, tail, AttnParams, Masks, OutPtr, BC, BR, OP};
use crate::error::{KernelError, Result};
use crate::simd::{self, Isa};

/// Per-task buffers: O(tile) memory, never T×T.
struct Scratch {
    s: Vec<f32>,  // BR × BC scores, then probabilities
    kt: Vec<f32>, // d × BC packed Kᵀ
    vt: Vec<f32>, // BC × dv packed V (only for non-unit dim strides)
    o: Vec<f32>,  // BR × dv output accumulator
    m: Vec<f32>,  // BR running max
    l: Vec<f32>,  // BR running sum
}

impl Scratch {
    fn new(p: &AttnParams) -> Self {
        Scratch {
            s: vec![0.0; BR * BC],
            kt: vec![0.0; p.d * BC],
            vt: vec![0.0; BC * p.dv],
            o: vec![0.0; BR * p.dv],
            m: vec![0.0; BR],
            l: vec![0.0; BR],
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
    validate(p, masks, [q.len(), k.len(), v.len(), o.len()], lse.len())?;
    if p.tq == 1 {
        return super::decode::decode_with(isa, p, masks, q, k, v, o, lse);
    }
    let n_qt = p.tq.div_ceil(BR);
    let tasks = p.batch * p.heads * n_qt;
    let (optr, lptr) = (OutPtr(o.as_mut_ptr()), OutPtr(lse.as_mut_ptr()));
    (0..tasks).into_par_iter().for_each_init(
        || Scratch::new(p),
        |s, task| {
            let (bh, qt) = (task / n_qt, task % n_qt);
            query_tile(isa, p, masks, q, k, v, bh, qt, s, optr, lptr);
        },
    );
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn query_tile(
    isa: Isa,
    p: &AttnParams,
    masks: &Masks,
    q: &[f32],
    k: &[f32],
    v: &[f32],
    bh: usize,
    qt: usize,
    s: &mut Scratch,
    optr: OutPtr,
    lptr: OutPtr,
) {
    let (b, h) = (bh / p.heads, bh % p.heads);
    let (d, dv) = (p.d, p.dv);
    let i0 = qt * BR;
    let mr = BR.min(p.tq - i0);
    let kend = p.key_end(i0 + mr - 1);
    s.m[..mr].fill(f32::NEG_INFINITY);
    s.l[..mr].fill(0.0);
    s.o[..mr * dv].fill(0.0);
    let qa = AOp {
        data: tail(q, p.q.row(b, h, i0)),
        rs: p.q.time,
        cs: p.q.dim,
    };
    let mut j0 = 0;
    while j0 < kend {
        let nc = BC.min(kend - j0);
        // Kᵀ tile, packed (d × nc, row stride BC).
        for jj in 0..nc {
            let base = p.k.row(b, h, j0 + jj);
            for dd in 0..d {
                s.kt[dd * BC + jj] = k[base + dd * p.k.dim];
            }
        }
        let ktb = BOp {
            data: &s.kt,
            ld: BC,
        };
        tile::gemm(isa, mr, nc, d, qa, ktb, &mut s.s, BC, false);
        // A tile needs per-element masking when a mask applies or when it
        // crosses the causal diagonal.
        let masked = masks.any() || (p.causal && j0 + nc > p.key_end(i0));
        for r in 0..mr {
            let row = &mut s.s[r * BC..r * BC + nc];
            let mx = if masked {
                let mut mx = f32::NEG_INFINITY;
                for (jj, x) in row.iter_mut().enumerate() {
                    *x = masks.apply(p, b, h, i0 + r, j0 + jj, *x);
                    mx = mx.max(*x);
                }
                mx
            } else {
                tile::scale_max(isa, row, p.scale)
            };
            let m_old = s.m[r];
            let m_new = m_old.max(mx);
            if m_new == f32::NEG_INFINITY {
                row.fill(0.0); // nothing visible yet in this row
                continue;
            }
            let sum = tile::exp_sum(isa, row, m_new);
            let alpha = (m_old - m_new).exp(); // 0 when m_old = −∞
            s.l[r] = s.l[r] * alpha + sum;
            s.m[r] = m_new;
            if alpha != 1.0 {
                for x in &mut s.o[r * dv..(r + 1) * dv] {
                    *x *= alpha;
                }
            }
        }
        let vb = if p.v.dim == 1 {
            BOp {
                data: tail(v, p.v.row(b, h, j0)),
                ld: p.v.time,
            }
        } else {
            for jj in 0..nc {
                let base = p.v.row(b, h, j0 + jj);
                for c in 0..dv {
                    s.vt[jj * dv + c] = v[base + c * p.v.dim];
                }
            }
            BOp {
                data: &s.vt,
                ld: dv,
            }
        };
        let pa = AOp {
            data: &s.s,
            rs: BC,
            cs: 1,
        };
        tile::gemm(isa, mr, dv, nc, pa, vb, &mut s.o, dv, true);
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
            optr.write_row(
                p.o.row(b, h, i0 + r),
                p.o.dim,
                &s.o[r * dv..(r + 1) * dv],
                mul,
            );
            lptr.set(lse_base + r, lse);
        }
    }
}
