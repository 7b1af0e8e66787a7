//! Scaled dot-product attention, flash style.
//!
//! `O = softmax(scale · Q Kᵀ + mask) V`, computed one query tile × key tile
//! at a time with an online softmax (running max and sum), so no T×T matrix
//! ever exists: the extra memory is a few tile buffers per task plus O(T)
//! vectors. The forward also returns the log-sum-exp of every query row; the
//! backward recomputes the probabilities of each tile from it.
//!
//! Every operand is read (and every output written) through explicit
//! (batch, head, time, dim) strides in elements, so q, k and v can be views
//! of one fused (B, T, 3, H, D) projection and the output can be written
//! straight into a (B, T, H, Dv) array — no copies.
//!
//! Masks: causal (query i sees key j only when j ≤ i + `causal_offset`), key
//! padding (B, Tk) (non-zero = the key is ignored), additive (Tq, Tk) float
//! broadcast through (batch, head, row, col) strides (0 broadcasts). A query
//! row that can see no key at all gets a zero output and LSE = −∞, and zero
//! gradients.
//!
//! Tiles: 64 keys; 64 query rows, or 16 for short causal problems
//! (`query_rows`), where the masked half of a 64×64 diagonal tile would be
//! most of the work.
//!
//! Parallelism (rayon, deterministic for any thread count): the forward runs
//! one task per (batch, head, query tile); the backward one task per (batch,
//! head, key-tile group), each group owning its dK/dV rows and a private dQ
//! partial, and the partials are summed in group order afterwards.
//!
//! # Shapes
//! - q: (B, H, Tq, D), k: (B, H, Tk, D), v: (B, H, Tk, Dv), o: (B, H, Tq, Dv)
//! - lse: (B, H, Tq) contiguous

mod backward;
mod decode;
mod forward;
pub mod tile;
#[cfg(target_arch = "x86_64")]
mod tile_exp;
mod tile_simd;
#[cfg(target_arch = "x86_64")]
mod transpose;

#[cfg(test)]
mod tests;

pub use backward::{
    backward, backward_packed, backward_packed_part, BackwardInputs, GradLayouts, PackedGrads,
};
pub use decode::decode;
pub use forward::forward;

use crate::error::{check_extent, non_overlapping, KernelError, Result};
use crate::simd::Isa;

const OP: &str = "attention";

/// Query rows per tile (the most; see `query_rows`), and the row stride of
/// the per-task tile buffers.
pub(crate) const BR: usize = 64;
/// Query rows per tile of a short causal problem.
pub(crate) const BR_SHORT: usize = 32;
/// Longest sequence (max of Tq, Tk) that takes `BR_SHORT`-row query tiles when causal.
const SHORT_T: usize = 128;
/// Key rows per tile.
pub(crate) const BC: usize = 64;

/// Query rows per tile for `p`. A causal tile on the diagonal computes its
/// scores up to its last query's last visible key, so with 64 query rows
/// about half of a diagonal 64×64 tile is masked work; for short sequences
/// the diagonal is most of the work (T = 64: all of it), and 32-row tiles
/// cut it to the visible band plus a 32×32 triangle. 32 rather than 16
/// (session 5, 1 thread, B12 H4 T64 D32 and B6 H4 T128 D32 against 16):
/// the AVX-512 tile product is 32 columns wide, so a 16-query score tile
/// used half of it (forward 0.84–0.86, backward 0.85–0.89 of the time), and
/// the backward's products over the query rows (dV += Pᵀ·dO, dK += dSᵀ·Q)
/// run 32 steps per load and store of the dK/dV accumulators instead of 16
/// (AVX2: forward 0.98–1.0, backward 0.95–0.97; 24, 48 and 64 rows were
/// slower on AVX2). Longer sequences keep 64 rows: the diagonal is a
/// smaller share there, and wider tiles reuse each loaded key more
/// (measured with 16 rows: at T = 192 and 256 slower, at T ≤ 128 faster).
/// Depends only on the problem, so results do not depend on the thread count.
pub(crate) fn query_rows(p: &AttnParams) -> usize {
    if p.causal && p.tq.max(p.tk) <= SHORT_T {
        BR_SHORT
    } else {
        BR
    }
}

/// How many leading entries of a transposed score tile's key row (key `j`,
/// queries `i0..i0 + width`) the causal mask removes: query i sees key j iff
/// `j <= i + offset`, i.e. `i >= j - offset`.
#[inline]
pub(crate) fn causal_cut(p: &AttnParams, i0: usize, j: usize, width: usize) -> usize {
    j.saturating_sub(p.causal_offset)
        .saturating_sub(i0)
        .min(width)
}

/// Strides of a (batch, head, time, dim) operand, in elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub batch: usize,
    pub head: usize,
    pub time: usize,
    pub dim: usize,
}

impl Layout {
    /// A dense (B, H, T, D) array.
    pub fn contiguous(heads: usize, t: usize, d: usize) -> Self {
        Layout {
            batch: heads * t * d,
            head: t * d,
            time: d,
            dim: 1,
        }
    }

    /// Offset of (b, h, t, 0).
    #[inline]
    pub(crate) fn row(&self, b: usize, h: usize, t: usize) -> usize {
        b * self.batch + h * self.head + t * self.time
    }

    fn as_array(&self) -> [usize; 4] {
        [self.batch, self.head, self.time, self.dim]
    }
}

/// The problem: sizes, scale, causality and the layout of every operand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttnParams {
    pub batch: usize,
    pub heads: usize,
    pub tq: usize,
    pub tk: usize,
    /// Query/key feature size.
    pub d: usize,
    /// Value/output feature size.
    pub dv: usize,
    pub scale: f32,
    pub causal: bool,
    /// With `causal`, query i sees key j only when `j <= i + causal_offset`:
    /// 0 is PyTorch's top-left alignment, `tk - tq` aligns the last query
    /// with the last key (incremental decoding against a cache).
    pub causal_offset: usize,
    pub q: Layout,
    pub k: Layout,
    pub v: Layout,
    pub o: Layout,
}

impl AttnParams {
    /// Dense (B, H, T, D) operands, scale 1/√d, no causality.
    pub fn contiguous(
        batch: usize,
        heads: usize,
        tq: usize,
        tk: usize,
        d: usize,
        dv: usize,
    ) -> Self {
        AttnParams {
            batch,
            heads,
            tq,
            tk,
            d,
            dv,
            scale: 1.0 / (d.max(1) as f32).sqrt(),
            causal: false,
            causal_offset: 0,
            q: Layout::contiguous(heads, tq, d),
            k: Layout::contiguous(heads, tk, d),
            v: Layout::contiguous(heads, tk, dv),
            o: Layout::contiguous(heads, tq, dv),
        }
    }

    /// Keys `[0, end)` a query row `i` may see, before masks.
    #[inline]
    pub(crate) fn key_end(&self, i: usize) -> usize {
        if self.causal {
            // Saturating: an offset near usize::MAX means "every key".
            i.saturating_add(self.causal_offset)
                .saturating_add(1)
                .min(self.tk)
        } else {
            self.tk
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if !self.scale.is_finite() {
            return Err(KernelError::value(
                OP,
                format!("scale: expected a finite number, got {}", self.scale),
            ));
        }
        Ok(())
    }
}

/// Key padding mask: `data[b·batch + j·time] != 0` removes key j of batch b.
#[derive(Debug, Clone, Copy)]
pub struct KeyPadding<'a> {
    pub data: &'a [u8],
    pub batch: usize,
    pub time: usize,
}

/// Additive float mask, element (b, h, i, j) at `data[layout.row(b, h, i) + j·layout.dim]`
/// (`Layout::time` is the row stride, `Layout::dim` the column stride; 0 broadcasts).
#[derive(Debug, Clone, Copy)]
pub struct Additive<'a> {
    pub data: &'a [f32],
    pub layout: Layout,
}

/// The optional masks.
#[derive(Debug, Clone, Copy, Default)]
pub struct Masks<'a> {
    pub key_padding: Option<KeyPadding<'a>>,
    pub additive: Option<Additive<'a>>,
}

impl Masks<'_> {
    fn validate(&self, p: &AttnParams) -> Result<()> {
        if let Some(kp) = self.key_padding {
            check_extent(
                OP,
                "key_padding_mask",
                kp.data.len(),
                &[p.batch, p.tk],
                &[kp.batch, kp.time],
            )?;
        }
        if let Some(am) = self.additive {
            check_extent(
                OP,
                "attn_mask",
                am.data.len(),
                &[p.batch, p.heads, p.tq, p.tk],
                &am.layout.as_array(),
            )?;
        }
        Ok(())
    }

    /// True when some mask other than causality applies.
    pub(crate) fn any(&self) -> bool {
        self.key_padding.is_some() || self.additive.is_some()
    }

    /// Masks one key row of a transposed score tile in place: `row[ii]` is
    /// the raw score of query `i0 + ii` with key `j`; it becomes
    /// `scale·s + additive` or −∞ where the key is hidden. Same result as
    /// `apply` element by element, with vector fills and scaling.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn prep_key_row(
        &self,
        isa: Isa,
        p: &AttnParams,
        b: usize,
        h: usize,
        i0: usize,
        j: usize,
        row: &mut [f32],
    ) {
        if let Some(kp) = self.key_padding {
            if kp.data[b * kp.batch + j * kp.time] != 0 {
                row.fill(f32::NEG_INFINITY);
                return;
            }
        }
        tile::scale_max(isa, row, p.scale);
        if let Some(am) = self.additive {
            for (ii, x) in row.iter_mut().enumerate() {
                *x += am.data[am.layout.row(b, h, i0 + ii) + j * am.layout.dim];
            }
        }
        if p.causal {
            let cut = causal_cut(p, i0, j, row.len());
            row[..cut].fill(f32::NEG_INFINITY);
        }
    }

    /// The masked score of query i, key j (−∞ when removed), given the raw dot product.
    #[inline]
    pub(crate) fn apply(
        &self,
        p: &AttnParams,
        b: usize,
        h: usize,
        i: usize,
        j: usize,
        s: f32,
    ) -> f32 {
        if j >= p.key_end(i) {
            return f32::NEG_INFINITY;
        }
        if let Some(kp) = self.key_padding {
            if kp.data[b * kp.batch + j * kp.time] != 0 {
                return f32::NEG_INFINITY;
            }
        }
        let mut x = s * p.scale;
        if let Some(am) = self.additive {
            x += am.data[am.layout.row(b, h, i) + j * am.layout.dim];
        }
        x
    }
}

/// Checks a view against its buffer, and (for outputs) that no two elements alias.
pub(crate) fn check_operand(
    arg: &str,
    len: usize,
    shape: [usize; 4],
    l: Layout,
    output: bool,
) -> Result<()> {
    check_extent(OP, arg, len, &shape, &l.as_array())?;
    if output && !non_overlapping(&shape, &l.as_array()) {
        return Err(KernelError::shape(
            OP,
            format!(
                "{arg}: strides {:?} make distinct elements of a {shape:?} output overlap",
                l.as_array()
            ),
        ));
    }
    Ok(())
}

/// Whether a tile of `rows` rows of `cols` floats, `stride` floats apart,
/// crowds the L1 sets (64 sets of 64-byte lines, 4 KiB a way: x86 L1d of 32
/// or 48 KiB) so that a product streaming it reloads it from L2: rows whose
/// stride in bytes is a multiple of a large power of two start in only a few
/// sets (heads of a fused (B, T, 3, H, 64) projection with H·64 = 512: rows
/// 6 KiB apart, two starting sets, 32 lines a set for a 64-row tile).
/// Such a tile is copied to a dense one first; contiguous rows, and strides
/// that spread the rows (GPT's 1.5 KiB rows of 32 floats), are read in place.
pub(crate) fn crowds_l1(rows: usize, cols: usize, stride: usize) -> bool {
    const WAY: usize = 4096;
    const LINE: usize = 64;
    if stride == cols || rows < 2 {
        return false;
    }
    let lines = (cols * 4).div_ceil(LINE);
    let step = (stride * 4) % WAY;
    // Distinct starting offsets (mod one way) of the rows: WAY / gcd(step, WAY).
    let starts = if step == 0 {
        1
    } else {
        WAY >> step.trailing_zeros().min(12)
    };
    let sets = (starts.min(rows) * lines).min(WAY / LINE);
    rows * lines > 8 * sets
}

/// `x[start..]`, or an empty slice when `start` is past the end (a view with
/// a zero-sized axis).
#[inline]
pub(crate) fn tail(x: &[f32], start: usize) -> &[f32] {
    x.get(start..).unwrap_or(&[])
}

/// Gathers `rows × cols` elements at `src[base + r·rs + c·cs]` into `dst`
/// (row stride `ld`); `(rs, cs)` are the source strides.
#[inline]
pub(crate) fn gather(
    dst: &mut [f32],
    ld: usize,
    src: &[f32],
    base: usize,
    (rs, cs): (usize, usize),
    rows: usize,
    cols: usize,
) {
    for r in 0..rows {
        let (from, to) = (base + r * rs, &mut dst[r * ld..r * ld + cols]);
        if cs == 1 {
            to.copy_from_slice(&src[from..from + cols]);
        } else {
            for (c, t) in to.iter_mut().enumerate() {
                *t = src[from + c * cs];
            }
        }
    }
}

/// Packs the transpose of a `rows × cols` block: `dst[c·ld + r] =
/// src[base + r·rs + c·cs]`. Reads the source row by row (contiguous when
/// `cs == 1`, the usual case), so each source cache line is touched once;
/// on the AVX2 and AVX-512 levels, 8 × 8 blocks go through register
/// transposes (`transpose.rs`; the same result).
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn gather_t(
    isa: Isa,
    dst: &mut [f32],
    ld: usize,
    src: &[f32],
    base: usize,
    rs: usize,
    cs: usize,
    rows: usize,
    cols: usize,
) {
    if cols == 0 {
        return;
    }
    assert!((cols - 1) * ld + rows <= dst.len() || rows == 0);
    let mut r0 = 0;
    if cs == 1 {
        // The full 8 × 8 blocks of the rows in groups of eight in one call,
        // then the columns past them row by row (each row slice exactly
        // `cols` long).
        let rows8 = rows / 8 * 8;
        let c_done = transpose_tile8(isa, dst, ld, src, (base, rs), rows8, cols);
        if c_done < cols {
            for r in 0..rows8 {
                let row = &tail(src, base + r * rs)[..cols];
                for c in c_done..cols {
                    dst[c * ld + r] = row[c];
                }
            }
        }
        r0 = rows8;
    }
    for r in r0..rows {
        let row = tail(src, base + r * rs);
        if cs == 1 {
            for (c, &v) in row[..cols].iter().enumerate() {
                dst[c * ld + r] = v;
            }
        } else {
            for c in 0..cols {
                dst[c * ld + r] = row[c * cs];
            }
        }
    }
}

/// The full 8 × 8 blocks (rows `< rows8`, a multiple of 8) of `gather_t`
/// with unit column stride through register transposes where the level has
/// them; returns how many columns it wrote (0 or `8·(cols / 8)`).
#[cfg(target_arch = "x86_64")]
fn transpose_tile8(
    isa: Isa,
    d: &mut [f32],
    ld: usize,
    src: &[f32],
    (base, rs): (usize, usize),
    rows8: usize,
    cols: usize,
) -> usize {
    let cols8 = cols / 8 * 8;
    if rows8 == 0 || cols8 == 0 || !matches!(isa, Isa::Avx2 | Isa::Avx512) {
        return 0;
    }
    if !crate::simd::supported(isa) {
        return 0;
    }
    assert!(
        (cols8 - 1) * ld + rows8 <= d.len(),
        "gather_t: dst too short"
    );
    assert!(
        base + (rows8 - 1) * rs + cols <= src.len(),
        "gather_t: src too short"
    );
    // SAFETY: the CPU has AVX (an AVX2/AVX-512 level, checked); rows8 and
    // cols8 are multiples of 8 and both extents are asserted above.
    unsafe { transpose::tile8_avx(d, ld, src, (base, rs), rows8, cols8) };
    cols8
}

#[cfg(not(target_arch = "x86_64"))]
fn transpose_tile8(
    _isa: Isa,
    _d: &mut [f32],
    _ld: usize,
    _src: &[f32],
    _at: (usize, usize),
    _rows8: usize,
    _cols: usize,
) -> usize {
    0
}

/// A raw pointer that tasks share to write disjoint elements of one output.
#[derive(Clone, Copy)]
pub(crate) struct OutPtr(pub *mut f32);
// SAFETY: used only to write elements that the validated layout maps one to
// one, and each task writes a disjoint set of (batch, head, row) slots.
unsafe impl Send for OutPtr {}
// SAFETY: as above.
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// Writes `val` to element `idx`.
    ///
    /// # Safety
    /// As for `write_row`.
    #[inline]
    pub(crate) unsafe fn set(self, idx: usize, val: f32) {
        *self.0.add(idx) = val;
    }

    /// Writes `vals[r·vld + c]·mul` to element `base + r·rs + c·cs` for r <
    /// `rows`, c < `width`: `write_row` on `rows` rows in one call (the same
    /// result), with no per-row call or index arithmetic of the caller.
    ///
    /// # Safety
    /// As for `write_row`, for every row.
    #[inline]
    pub(crate) unsafe fn write_rows(
        self,
        (base, rs, cs): (usize, usize, usize),
        (vals, vld): (&[f32], usize),
        (rows, width): (usize, usize),
        mul: f32,
    ) {
        for r in 0..rows {
            let v = &vals[r * vld..r * vld + width];
            // SAFETY: forwarded (row r of the block).
            unsafe { self.write_row(base + r * rs, cs, v, mul) };
        }
    }

    /// Writes `vals[c]·mul` to element `base + c·stride` for every c.
    ///
    /// # Safety
    /// Every written element lies in the validated output, and no other task
    /// writes the same elements.
    #[inline]
    pub(crate) unsafe fn write_row(self, base: usize, stride: usize, vals: &[f32], mul: f32) {
        for (c, &v) in vals.iter().enumerate() {
            *self.0.add(base + c * stride) = v * mul;
        }
    }
}
