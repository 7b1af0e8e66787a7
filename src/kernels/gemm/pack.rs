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

/// Packs one micro-panel: `dst[p·w + r] = src(r, p)` for `r < rows ≤ w`,
/// `p < kc`, zeros for `rows ≤ r < w`. `src` is seen as rows × kc.
///
/// For A, `src` is the A block (rows of A); for B, it is the transposed B
/// block (columns of B), so both operands share this one routine.
fn pack_panel(dst: &mut [f32], w: usize, src: MatRef<'_>, rows: usize, kc: usize) {
    let dst = &mut dst[..kc * w];
    if src.rs == 1 {
        // Each step of K reads `rows` contiguous elements.
        for (p, out) in dst.chunks_exact_mut(w).enumerate() {
            let s = src.idx(0, p);
            out[..rows].copy_from_slice(&src.data[s..s + rows]);
            out[rows..].fill(0.0);
        }
    } else if src.cs == 1 {
        // Each row is contiguous along K: read rows, write with stride w.
        for r in 0..rows {
            let s = src.idx(r, 0);
            for (out, &v) in dst[r..].iter_mut().step_by(w).zip(&src.data[s..s + kc]) {
                *out = v;
            }
        }
        if rows < w {
            for out in dst.chunks_exact_mut(w) {
                out[rows..].fill(0.0);
            }
        }
    } else {
        for (p, out) in dst.chunks_exact_mut(w).enumerate() {
            for (r, o) in out[..rows].iter_mut().enumerate() {
                *o = src.data[src.idx(r, p)];
            }
            out[rows..].fill(0.0);
        }
    }
}

/// Packs the `rows × kc` block `src` into `rows.div_ceil(mr)` panels of `kc·mr`.
///
/// # Shapes
/// - `src`: rows × kc; `dst`: at least `rows.div_ceil(mr) · kc · mr`
pub fn pack_a(dst: &mut [f32], mr: usize, src: MatRef<'_>, rows: usize, kc: usize) {
    for (q, panel) in dst.chunks_mut(kc * mr).take(rows.div_ceil(mr)).enumerate() {
        let r0 = q * mr;
        pack_panel(panel, mr, src.at(r0, 0), mr.min(rows - r0), kc);
    }
}

/// Packs the `kc × cols` block `src` into `cols.div_ceil(nr)` panels of `kc·nr`,
/// panels in parallel when `parallel` (each panel is written by one task).
///
/// # Shapes
/// - `src`: kc × cols; `dst`: at least `cols.div_ceil(nr) · kc · nr`
pub fn pack_b(dst: &mut [f32], nr: usize, src: MatRef<'_>, kc: usize, cols: usize, parallel: bool) {
    let panels = cols.div_ceil(nr);
    let dst = &mut dst[..panels * kc * nr];
    let one = |(q, panel): (usize, &mut [f32])| {
        let c0 = q * nr;
        pack_panel(panel, nr, src.t().at(c0, 0), nr.min(cols - c0), kc);
    };
    if parallel && panels > 1 {
        dst.par_chunks_mut(kc * nr).enumerate().for_each(one);
    } else {
        dst.chunks_mut(kc * nr).enumerate().for_each(one);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_layouts(rs: usize, cs: usize) {
        // A 7×5 matrix with value 10·i + j, at the given strides.
        let (rows, cols) = (7, 5);
        let mut data = vec![f32::NAN; rs * (rows - 1) + cs * (cols - 1) + 1];
        for i in 0..rows {
            for j in 0..cols {
                data[i * rs + j * cs] = (10 * i + j) as f32;
            }
        }
        let src = MatRef {
            data: &data,
            off: 0,
            rs,
            cs,
        };
        let mut pa = vec![f32::NAN; 2 * 4 * cols];
        pack_a(&mut pa, 4, src, rows, cols);
        for i in 0..8 {
            for p in 0..cols {
                let want = if i < rows { (10 * i + p) as f32 } else { 0.0 };
                assert_eq!(pa[(i / 4) * 4 * cols + p * 4 + i % 4], want);
            }
        }
        // B = src.t() is cols × rows (kc × width): element (p, j) = src(j, p).
        let mut pb = vec![f32::NAN; 2 * 4 * cols];
        pack_b(&mut pb, 4, src.t(), cols, rows, false);
        for j in 0..8 {
            for p in 0..cols {
                let want = if j < rows { (10 * j + p) as f32 } else { 0.0 };
                assert_eq!(pb[(j / 4) * 4 * cols + p * 4 + j % 4], want);
            }
        }
    }

    #[test]
    fn packs_row_major_col_major_and_strided() {
        check_layouts(5, 1);
        check_layouts(1, 7);
        check_layouts(13, 2);
    }
}
