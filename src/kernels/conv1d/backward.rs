//! Backward pass: the input gradient as shifted-view GEMMs (the forward with
//! transposed weights and opposite shifts), the weight and bias gradients as
//! per-tap GEMMs `dW[:, :, j] = Σ_b dY[b] · X[b]ᵀ` (shifted) reduced over
//! fixed chunks of (batch, time) in a fixed order, so the result does not
//! depend on the thread count.

use rayon::prelude::*;

use super::forward::{run_taps, ShiftedTap};
use super::{check_len, Conv1d, View3};
use crate::error::Result;
use crate::kernels::gemm::{sgemm, Gemm, Strides};
use crate::threads;

/// At most this many partial weight gradients are reduced: bounds the extra
/// memory to this many copies of the weights.
const MAX_PARTIALS: usize = 16;
/// Least work (FLOPs) per (batch, time) chunk of the weight gradient.
const MIN_CHUNK_WORK: usize = 1 << 22;
/// dY is fed to the weight-gradient GEMM in blocks of at most this many
/// elements (C_out × steps): small enough for the GEMM to read it in place
/// instead of packing it.
const DW_BLOCK_ELEMS: usize = 1 << 16;
/// Rows of dW per GEMM: few enough that the GEMM reads the transposed X
/// block in place instead of packing it.
const DW_ROW_BLOCK: usize = 32;
/// Fewest time steps per weight-gradient GEMM.
const MIN_DW_SUB: usize = 256;
/// Elements per task of the final in-order reduction.
const REDUCE_CHUNK: usize = 1 << 12;

/// `dx = conv1dᵀ(dy, w)`: the gradient of the input.
///
/// # Shapes
/// - `dy`: (B, C_out, T) strided; `w`: (C_out, C_in, K) strided
/// - `dx`: dense (B, C_in, T), fully overwritten
pub fn backward_input(p: &Conv1d, dy: View3<'_>, w: View3<'_>, dx: &mut [f32]) -> Result<()> {
    p.validate()?;
    p.check_y("grad_output", &dy)?;
    p.check_w(&w)?;
    check_len(
        "grad_input",
        dx.len(),
        p.batch * p.c_in * p.len,
        &[p.batch, p.c_in, p.len],
    )?;
    if dx.is_empty() {
        return Ok(());
    }
    // Output t reads input t + off through tap j, so input u = t + off
    // receives W[:, :, j]ᵀ · dy[t].
    let taps: Vec<ShiftedTap<'_>> = (0..p.kernel)
        .map(|j| {
            let (lo, hi) = p.tap_range(j);
            let off = p.tap_offset(j);
            ShiftedTap {
                batch: p.batch,
                rows: p.c_in,
                len: p.len,
                wt: w.data.get(j * w.strides[2]..).unwrap_or(&[]),
                wt_strides: (w.strides[1], w.strides[0]),
                src: dy,
                src_rows: p.c_out,
                lo: (lo as isize + off) as usize,
                hi: (hi as isize + off) as usize,
                src_lo: lo,
            }
        })
        .collect();
    run_taps(&taps, dx, false)
}

/// `dw = Σ_b Σ_t dy ⊗ shifted x` and `db = Σ_b Σ_t dy`; either may be skipped.
///
/// # Shapes
/// - `x`: (B, C_in, T) strided; `dy`: (B, C_out, T) strided
/// - `dw`: dense (C_out, C_in, K); `db`: (C_out,); both fully overwritten
pub fn backward_params(
    p: &Conv1d,
    x: View3<'_>,
    dy: View3<'_>,
    dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
) -> Result<()> {
    p.validate()?;
    p.check_x("input", &x)?;
    p.check_y("grad_output", &dy)?;
    let wsize = p.c_out * p.c_in * p.kernel;
    if let Some(dw) = dw.as_deref() {
        check_len("grad_weight", dw.len(), wsize, &[p.c_out, p.c_in, p.kernel])?;
    }
    if let Some(db) = db.as_deref() {
        check_len("grad_bias", db.len(), p.c_out, &[p.c_out])?;
    }
    let (want_w, want_b) = (dw.is_some(), db.is_some());
    let total = p.batch * p.len;
    let per_step = 2 * p.c_in * p.c_out * p.kernel + p.c_out;
    let chunk =
        threads::chunk_len(total, per_step, MIN_CHUNK_WORK).max(total.div_ceil(MAX_PARTIALS));
    let n_chunks = if total == 0 { 0 } else { total.div_ceil(chunk) };
    let psize = wsize + p.c_out;
    let mut partials = crate::kernels::alloc::try_zeros(super::OP, &[n_chunks, psize])?;
    if psize > 0 {
        partials
            .par_chunks_mut(psize)
            .enumerate()
            .try_for_each(|(ci, part)| {
                let (f0, f1) = (ci * chunk, ((ci + 1) * chunk).min(total));
                let (pw, pb) = part.split_at_mut(wsize);
                let pw = (want_w && p.c_in > 0).then_some(pw);
                let pb = want_b.then_some(pb);
                chunk_params_grad(p, &x, &dy, f0, f1, pw, pb)?;
                Ok(())
            })?;
    }
    if let Some(dw) = dw {
        // Partials are tap-major (K, C_out, C_in); dw is (C_out, C_in, K).
        let mut taps = crate::kernels::alloc::try_zeros(super::OP, &[wsize])?;
        reduce_in_order(&partials, psize, 0, &mut taps);
        let plane = p.c_out * p.c_in;
        for (e, v) in dw.iter_mut().enumerate() {
            let (oi, j) = (e / p.kernel, e % p.kernel);
            *v = taps[j * plane + oi];
        }
    }
    if let Some(db) = db {
        reduce_in_order(&partials, psize, wsize, db);
    }
    Ok(())
}

/// Both gradients at once (the input one beside the parameter ones).
///
/// # Shapes
/// As `backward_input` and `backward_params`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    p: &Conv1d,
    x: View3<'_>,
    w: View3<'_>,
    dy: View3<'_>,
    dx: Option<&mut [f32]>,
    dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
) -> Result<()> {
    let want_params = dw.is_some() || db.is_some();
    let (rx, rp) = rayon::join(
        || dx.map_or(Ok(()), |dx| backward_input(p, dy, w, dx)),
        || {
            if want_params {
                backward_params(p, x, dy, dw, db)
            } else {
                Ok(())
            }
        },
    );
    rx.and(rp)
}

/// Adds this chunk's share of the parameter gradients, for the flattened
/// (batch, time) steps `f0..f1`: every tap's weight gradient into `pw`
/// (zeroed, tap-major (K, C_out, C_in) so that each tap is a dense GEMM
/// output) and the per-channel sums of dY into `pb` (zeroed). The steps go
/// in blocks small enough for the GEMM to read dY in place; each block of dY
/// serves every tap and the bias sums while it is in cache.
fn chunk_params_grad(
    p: &Conv1d,
    x: &View3<'_>,
    dy: &View3<'_>,
    f0: usize,
    f1: usize,
    mut pw: Option<&mut [f32]>,
    mut pb: Option<&mut [f32]>,
) -> Result<()> {
    if p.c_out == 0 {
        return Ok(());
    }
    let sub = (DW_BLOCK_ELEMS / p.c_out).max(MIN_DW_SUB);
    // X blocks transposed to (time, C_in): a row-major GEMM operand.
    let mut xt_buf =
        crate::kernels::alloc::try_zeros(super::OP, &[if pw.is_some() { sub } else { 0 }, p.c_in])?;
    for b in f0 / p.len..f1.div_ceil(p.len) {
        let t0 = f0.max(b * p.len) - b * p.len;
        let t1 = f1.min((b + 1) * p.len) - b * p.len;
        for s0 in (t0..t1).step_by(sub) {
            let s1 = (s0 + sub).min(t1);
            if let Some(pw) = pw.as_deref_mut() {
                for j in 0..p.kernel {
                    let (lo, hi) = p.tap_range(j);
                    let (a, e) = (s0.max(lo), s1.min(hi));
                    if a < e {
                        tap_weight_grad(p, x, dy, (b, j, a, e - a), pw, &mut xt_buf)?;
                    }
                }
            }
            if let Some(pb) = pb.as_deref_mut() {
                let [yb, yc, yt] = dy.strides;
                for (c, acc) in pb.iter_mut().enumerate() {
                    *acc += sum_strided(dy.data, b * yb + c * yc + s0 * yt, s1 - s0, yt);
                }
            }
        }
    }
    Ok(())
}

/// `pw[j] += dY[b][:, a..a+k] · X[b][:, a+off_j..a+off_j+k]ᵀ`, X's block
/// transposed into `xt_buf` first so that the GEMM gets a row-major B.
fn tap_weight_grad(
    p: &Conv1d,
    x: &View3<'_>,
    dy: &View3<'_>,
    (b, j, a, k): (usize, usize, usize, usize),
    pw: &mut [f32],
    xt_buf: &mut [f32],
) -> Result<()> {
    let [_, yc, yt] = dy.strides;
    let src = (a as isize + p.tap_offset(j)) as usize;
    let xt = &mut xt_buf[..k * p.c_in];
    transpose_block(x, b, src, k, p.c_in, xt);
    // (C_out × k) · (k × C_in) into tap j's plane of pw.
    let g = Gemm {
        batch: 1,
        m: p.c_out,
        n: p.c_in,
        k,
        alpha: 1.0,
        beta: 1.0,
        a: Strides {
            row: yc,
            col: yt,
            batch: 0,
        },
        b: Strides::row_major(k, p.c_in).with_batch(0),
        c: Strides {
            row: p.c_in,
            col: 1,
            batch: 0,
        },
    };
    let plane = p.c_out * p.c_in;
    let pw = &mut pw[j * plane..(j + 1) * plane];
    for o0 in (0..p.c_out).step_by(DW_ROW_BLOCK) {
        let rows = DW_ROW_BLOCK.min(p.c_out - o0);
        let da = &dy.data[b * dy.strides[0] + o0 * yc + a * yt..];
        sgemm(&Gemm { m: rows, ..g }, da, xt, &mut pw[o0 * p.c_in..])?;
    }
    Ok(())
}

/// `out[t·C + i] = x[b, i, t0 + t]` for `t < len`, `i < C`: eight channels
/// at a time, so that each step of t writes eight consecutive floats while
/// the eight source rows are read forward.
fn transpose_block(x: &View3<'_>, b: usize, t0: usize, len: usize, c: usize, out: &mut [f32]) {
    const LANES: usize = 8;
    let [xb, xc, xt] = x.strides;
    let base = b * xb + t0 * xt;
    let full = c - c % LANES;
    for i0 in (0..full).step_by(LANES) {
        let rows: [&[f32]; LANES] = std::array::from_fn(|l| &x.data[base + (i0 + l) * xc..]);
        if xt == 1 {
            let rows: [&[f32]; LANES] = std::array::from_fn(|l| &rows[l][..len]);
            for (t, o) in out.chunks_exact_mut(c).take(len).enumerate() {
                let o: &mut [f32; LANES] = (&mut o[i0..i0 + LANES]).try_into().unwrap();
                for l in 0..LANES {
                    o[l] = rows[l][t];
                }
            }
        } else {
            for (t, o) in out.chunks_exact_mut(c).take(len).enumerate() {
                for l in 0..LANES {
                    o[i0 + l] = rows[l][t * xt];
                }
            }
        }
    }
    for i in full..c {
        let row = base + i * xc;
        for (t, o) in out.chunks_exact_mut(c).take(len).enumerate() {
            o[i] = x.data[row + t * xt];
        }
    }
}

/// `Σ data[start + i·stride]` for `i < n`, in eight fixed lanes (the order
/// depends only on `n`).
fn sum_strided(data: &[f32], start: usize, n: usize, stride: usize) -> f32 {
    let mut lanes = [0.0f32; 8];
    if stride == 1 {
        let row = &data[start..start + n];
        let mut it = row.chunks_exact(8);
        for c in &mut it {
            for (l, v) in lanes.iter_mut().zip(c) {
                *l += v;
            }
        }
        for (l, v) in lanes.iter_mut().zip(it.remainder()) {
            *l += v;
        }
    } else {
        for i in 0..n {
            lanes[i % 8] += data[start + i * stride];
        }
    }
    let s4 = [
        lanes[0] + lanes[4],
        lanes[1] + lanes[5],
        lanes[2] + lanes[6],
        lanes[3] + lanes[7],
    ];
    (s4[0] + s4[2]) + (s4[1] + s4[3])
}

/// `out[i] = Σ_c partials[c·psize + offset + i]`, chunks summed in order.
fn reduce_in_order(partials: &[f32], psize: usize, offset: usize, out: &mut [f32]) {
    let n_chunks = partials.len().checked_div(psize).unwrap_or(0);
    out.par_chunks_mut(REDUCE_CHUNK)
        .enumerate()
        .for_each(|(k, o)| {
            o.fill(0.0);
            let start = offset + k * REDUCE_CHUNK;
            for c in 0..n_chunks {
                let part = &partials[c * psize + start..c * psize + start + o.len()];
                for (d, s) in o.iter_mut().zip(part) {
                    *d += s;
                }
            }
        });
}
