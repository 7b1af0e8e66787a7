//! Packing: copies a block of A into MR-row micro-panels and a block of B
//! into NR-column micro-panels, from any strides, zero-padding the last panel
//! so the microkernel always runs a full tile.
//!
//! Packed layouts (one micro-panel of depth `kc`):
//! - A: element (i, p) at `p·MR + i` — one column of MR rows per step of K;
//! - B: element (p, j) at `p·NR + j` — one row of NR columns per step of K.

use rayon::prelude::*;

/// A strided read-only matrix view: element (i, j) at `data[off + i·rs + j·cs]`.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub off: usize,
    pub rs: usize,
    pub cs: usize,
}

impl MatRef<'_> {
    /// Index of element (i, j) in `data`.
    #[inline(always)]
    pub fn idx(&self, i: usize, j: usize) -> usize {
        self.off + i * self.rs + j * self.cs
    }

    /// The view whose element (0, 0) is this view's (i, j).
    pub fn at(&self, i: usize, j: usize) -> Self {
        MatRef {
            off: self.idx(i, j),
            ..*self
        }
    }

    /// The transposed view.
    pub fn t(&self) -> Self {
        MatRef {
            rs: self.cs,
            cs: self.rs,
            ..*self
        }
    }
}

/// Packs one micro-panel: `dst[p·W + r] = src(r, p)` for `r < rows ≤ W`,
/// `p < kc`, zeros for `rows ≤ r < W`. `src` is seen as rows × kc.
///
/// For A, `src` is the A block (rows of A); for B, it is the transposed B
/// block (columns of B), so both operands share this one routine.
fn pack_panel<const W: usize>(dst: &mut [f32], src: MatRef<'_>, rows: usize, kc: usize) {
    let dst = &mut dst[..kc * W];
    if src.rs == 1 {
        // Each step of K reads `rows` contiguous elements.
        if rows == W {
            // Full panels: a fixed-size copy, inlined (a `memmove` call per
            // step of K was 3 % of a 1024³ product).
            for (p, out) in dst.chunks_exact_mut(W).enumerate() {
                let s = src.idx(0, p);
                let out: &mut [f32; W] = out.try_into().unwrap();
                *out = src.data[s..s + W].try_into().unwrap();
            }
        } else {
            for (p, out) in dst.chunks_exact_mut(W).enumerate() {
                let s = src.idx(0, p);
                out[..rows].copy_from_slice(&src.data[s..s + rows]);
                out[rows..].fill(0.0);
            }
        }
    } else if src.cs == 1 {
        // Rows are contiguous along K: transpose 8 steps of K at a time.
        const P: usize = 8;
        let mut lanes = [&[][..]; W];
        for (r, lane) in lanes.iter_mut().enumerate().take(rows) {
            let s = src.idx(r, 0);
            *lane = &src.data[s..s + kc];
        }
        let full = kc / P * P;
        if rows == W {
            // Element by element from the lanes straight into the panel: a
            // copy through a stack buffer of segments stalled on store
            // forwarding (half of the packing time of A).
            for (q, out) in dst[..full * W].chunks_exact_mut(P * W).enumerate() {
                let segs: [&[f32; P]; W] =
                    std::array::from_fn(|r| lanes[r][q * P..q * P + P].try_into().unwrap());
                for (t, row) in out.chunks_exact_mut(W).enumerate() {
                    let row: &mut [f32; W] = row.try_into().unwrap();
                    for (o, seg) in row.iter_mut().zip(&segs) {
                        *o = seg[t];
                    }
                }
            }
        } else {
            for (q, out) in dst[..full * W].chunks_exact_mut(P * W).enumerate() {
                let mut segs = [[0.0f32; P]; W];
                for (seg, lane) in segs.iter_mut().zip(&lanes[..rows]) {
                    *seg = lane[q * P..q * P + P].try_into().unwrap();
                }
                for (t, row) in out.chunks_exact_mut(W).enumerate() {
                    let row: &mut [f32; W] = row.try_into().unwrap();
                    for (o, seg) in row.iter_mut().zip(&segs) {
                        *o = seg[t];
                    }
                }
            }
        }
        for (p, out) in dst[full * W..].chunks_exact_mut(W).enumerate() {
            for (o, lane) in out.iter_mut().zip(&lanes[..rows]) {
                *o = lane[full + p];
            }
            out[rows..].fill(0.0);
        }
    } else {
        for (p, out) in dst.chunks_exact_mut(W).enumerate() {
            for (r, o) in out[..rows].iter_mut().enumerate() {
                *o = src.data[src.idx(r, p)];
            }
            out[rows..].fill(0.0);
        }
    }
}

/// Packs the `rows × kc` block `src` into `rows.div_ceil(MR)` panels of `kc·MR`,
/// panels in parallel when `parallel` (each panel is written by one task).
///
/// # Shapes
/// - `src`: rows × kc; `dst`: at least `rows.div_ceil(MR) · kc · MR`
pub fn pack_a<const MR: usize>(
    dst: &mut [f32],
    src: MatRef<'_>,
    rows: usize,
    kc: usize,
    parallel: bool,
) {
    let panels = rows.div_ceil(MR);
    let dst = &mut dst[..panels * kc * MR];
    let one = |(q, panel): (usize, &mut [f32])| {
        let r0 = q * MR;
        pack_panel::<MR>(panel, src.at(r0, 0), MR.min(rows - r0), kc);
    };
    if parallel && panels > 1 {
        dst.par_chunks_mut(kc * MR).enumerate().for_each(one);
    } else {
        dst.chunks_mut(kc * MR).enumerate().for_each(one);
    }
}

/// Packs the `kc × cols` block `src` into `cols.div_ceil(NR)` panels of `kc·NR`,
/// panels in parallel when `parallel` (each panel is written by one task).
///
/// # Shapes
/// - `src`: kc × cols; `dst`: at least `cols.div_ceil(NR) · kc · NR`
pub fn pack_b<const NR: usize>(
    dst: &mut [f32],
    src: MatRef<'_>,
    kc: usize,
    cols: usize,
    parallel: bool,
) {
    let panels = cols.div_ceil(NR);
    let dst = &mut dst[..panels * kc * NR];
    let one = |(q, panel): (usize, &mut [f32])| {
        let c0 = q * NR;
        pack_panel::<NR>(panel, src.t().at(c0, 0), NR.min(cols - c0), kc);
    };
    if parallel && panels > 1 {
        dst.par_chunks_mut(kc * NR).enumerate().for_each(one);
    } else {
        dst.chunks_mut(kc * NR).enumerate().for_each(one);
    }
}

#[cfg(test)]
mod tests;
