//! Forward pass, and the shifted-view GEMM that forward and the input
//! gradient share: one batched GEMM per tap, no im2col copy.

use rayon::prelude::*;

use super::{check_len, Conv1d, View3};
use crate::error::Result;
use crate::kernels::gemm::{sgemm, Gemm, Strides};
use crate::threads;

/// Elements per rayon chunk when filling an output with the bias.
const FILL_CHUNK: usize = 1 << 15;

/// One tap's GEMM: `dst[b][:, lo..hi] = wt · src[b][:, src_lo..src_lo+(hi−lo)] + beta · dst`,
/// `dst` dense (batch, rows, len), `wt` a `rows × src_rows` view.
pub(super) struct ShiftedTap<'a> {
    pub batch: usize,
    pub rows: usize,
    pub len: usize,
    /// The weight slice starting at this tap, and its (row, col) strides.
    pub wt: &'a [f32],
    pub wt_strides: (usize, usize),
    pub src: View3<'a>,
    pub src_rows: usize,
    /// Output steps written, and the first source step they read.
    pub lo: usize,
    pub hi: usize,
    pub src_lo: usize,
}

impl<'a> ShiftedTap<'a> {
    /// The same tap restricted to batch item `b` (a batch of one).
    pub fn item(&self, b: usize) -> ShiftedTap<'a> {
        let src = View3 {
            data: self.src.data.get(b * self.src.strides[0]..).unwrap_or(&[]),
            strides: self.src.strides,
        };
        ShiftedTap {
            batch: 1,
            src,
            wt: self.wt,
            ..*self
        }
    }

    pub fn run(&self, dst: &mut [f32], beta: f32) -> Result<()> {
        if self.hi <= self.lo || self.batch == 0 || self.rows == 0 {
            return Ok(());
        }
        let [sb, sr, st] = self.src.strides;
        let g = Gemm {
            batch: self.batch,
            m: self.rows,
            n: self.hi - self.lo,
            k: self.src_rows,
            alpha: 1.0,
            beta,
            a: Strides {
                row: self.wt_strides.0,
                col: self.wt_strides.1,
                batch: 0,
            },
            b: Strides {
                row: sr,
                col: st,
                batch: sb,
            },
            c: Strides {
                row: self.len,
                col: 1,
                batch: self.rows * self.len,
            },
        };
        if g.k == 0 {
            if beta == 0.0 {
                zero_range(dst, self.batch * self.rows, self.len, self.lo, self.hi);
            }
            return Ok(());
        }
        let src = &self.src.data[self.src_lo * st..];
        sgemm(&g, self.wt, src, &mut dst[self.lo..])
    }
}

/// Zeroes columns `lo..hi` of every row of a dense `rows × len` buffer.
fn zero_range(dst: &mut [f32], rows: usize, len: usize, lo: usize, hi: usize) {
    for r in 0..rows {
        dst[r * len + lo..r * len + hi].fill(0.0);
    }
}

/// Runs the taps in `order` into `dst`: the first with `beta = 0` when it
/// covers every output step, otherwise `dst` is zeroed first.
pub(super) fn run_taps(taps: &[ShiftedTap<'_>], dst: &mut [f32], prefilled: bool) -> Result<()> {
    let full = taps.iter().position(|t| t.lo == 0 && t.hi == t.len);
    let first = if prefilled { None } else { full };
    if !prefilled && first.is_none() {
        fill(dst, 0.0);
    }
    if let Some(i) = first {
        taps[i].run(dst, 0.0)?;
    }
    for (i, tap) in taps.iter().enumerate() {
        if Some(i) != first {
            tap.run(dst, 1.0)?;
        }
    }
    Ok(())
}

/// Fills `dst` with `value` in parallel chunks.
pub(super) fn fill(dst: &mut [f32], value: f32) {
    dst.par_chunks_mut(FILL_CHUNK).for_each(|c| c.fill(value));
}

/// Fills a dense (B, C_out, T) output with the bias of each channel.
fn fill_bias(y: &mut [f32], bias: &[f32], len: usize) {
    if len == 0 {
        return;
    }
    let rows = threads::chunk_len(y.len() / len, len, FILL_CHUNK);
    y.par_chunks_mut(rows * len)
        .enumerate()
        .for_each(|(ci, chunk)| {
            for (r, row) in chunk.chunks_mut(len).enumerate() {
                row.fill(bias[(ci * rows + r) % bias.len()]);
            }
        });
}

/// `y = conv1d(x, w) + bias`.
///
/// # Shapes
/// - `x`: (B, C_in, T) strided; `w`: (C_out, C_in, K) strided
/// - `bias`: (C_out,); `y`: dense (B, C_out, T), fully overwritten
pub fn forward(
    p: &Conv1d,
    x: View3<'_>,
    w: View3<'_>,
    bias: Option<&[f32]>,
    y: &mut [f32],
) -> Result<()> {
    p.validate()?;
    p.check_x("input", &x)?;
    p.check_w(&w)?;
    check_len(
        "output",
        y.len(),
        p.batch * p.c_out * p.len,
        &[p.batch, p.c_out, p.len],
    )?;
    if let Some(b) = bias {
        check_len("bias", b.len(), p.c_out, &[p.c_out])?;
    }
    if y.is_empty() {
        return Ok(());
    }
    let taps: Vec<ShiftedTap<'_>> = (0..p.kernel)
        .map(|j| {
            let (lo, hi) = p.tap_range(j);
            ShiftedTap {
                batch: p.batch,
                rows: p.c_out,
                len: p.len,
                wt: w.data.get(j * w.strides[2]..).unwrap_or(&[]),
                wt_strides: (w.strides[0], w.strides[1]),
                src: x,
                src_rows: p.c_in,
                lo,
                hi,
                src_lo: (lo as isize + p.tap_offset(j)) as usize,
            }
        })
        .collect();
    match bias {
        // One batch item at a time: its bias-filled output stays in cache
        // for the taps that accumulate into it.
        Some(b) if p.batch > 1 => {
            y.par_chunks_mut(p.c_out * p.len)
                .enumerate()
                .try_for_each(|(item, yb)| {
                    fill_bias(yb, b, p.len);
                    let one: Vec<ShiftedTap<'_>> = taps.iter().map(|t| t.item(item)).collect();
                    run_taps(&one, yb, true)
                })
        }
        Some(b) => {
            fill_bias(y, b, p.len);
            run_taps(&taps, y, true)
        }
        None => run_taps(&taps, y, false),
    }
}
