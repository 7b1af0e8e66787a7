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
///
/// With `simd` (x86-64 with AVX, see [`vector_copies`]) and `W` a multiple of
/// 8 or 6 (A's micro-panels on AVX2 and AVX-512), the transposing case
/// (`src.cs == 1`) goes through [`transpose_avx`] (the same copy, 8×8 blocks
/// in registers).
fn pack_panel<const W: usize>(
    dst: &mut [f32],
    src: MatRef<'_>,
    rows: usize,
    kc: usize,
    simd: bool,
) {
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
        if cfg!(target_arch = "x86_64") && simd && (W.is_multiple_of(P) || W == NARROW) {
            // SAFETY: `simd` is only set where the CPU has AVX.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                transpose_avx::<W>(&mut dst[..full * W], &lanes, rows, W * src.rs)
            };
        } else if rows == W {
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

/// Asks for the cache lines of `len` floats from `p` (a hint: no-op where
/// the target has no stable prefetch instruction). The load misses of a
/// pack are B and A coming from L3: one pass of B in a 1024² product spent
/// most of its time waiting for them.
#[inline(always)]
pub(super) fn prefetch_floats(p: *const f32, len: usize) {
    #[cfg(target_arch = "x86_64")]
    for off in (0..len).step_by(64 / std::mem::size_of::<f32>()) {
        // SAFETY: a prefetch never faults and changes no data; the address is
        // only formed (wrapping), never dereferenced by this code.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off).cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, len);
}

/// Asks for the cache lines of `len` floats from `p` into L2 (not L1): data
/// needed a little later, such as the next B panel in `driver::panel_major`
/// (a hint, as [`prefetch_floats`]).
#[inline(always)]
pub(super) fn prefetch_l2(p: *const f32, len: usize) {
    #[cfg(target_arch = "x86_64")]
    for off in (0..len).step_by(LINE / std::mem::size_of::<f32>()) {
        // SAFETY: as in `prefetch_floats`: a hint that never faults.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
            _mm_prefetch::<_MM_HINT_T1>(p.wrapping_add(off).cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, len);
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
    if src.rs == 1 && src.cs != 1 && rows > MR {
        // Columns of A are contiguous (a transposed operand, such as dYᵀ in
        // a Linear layer's dW = dYᵀ·x): Aᵀ is a row-major kc × rows block
        // whose NR = MR panels have this very layout, so it is packed like a
        // row-major B, a few steps of K at a time across all the panels,
        // reading whole rows of the source. Panel by panel, each step of K
        // read MR floats from a new row (lda apart); the pack was 11 % of a
        // 1-thread GPT qkv dW and 6 % of a 2048-row MHA in-projection dW on
        // AVX2, and this is 2–4 % faster on those products. A single panel
        // (the last rows of an A read in place) keeps the panel loop below:
        // through this route it took 3 % of a GPT lm-head dW instead of 1 %.
        return pack_b::<MR>(dst, src.t(), kc, rows, parallel);
    }
    let panels = rows.div_ceil(MR);
    let dst = &mut dst[..panels * kc * MR];
    let simd = vector_copies();
    let one = |(q, panel): (usize, &mut [f32])| {
        let r0 = q * MR;
        pack_panel::<MR>(panel, src.at(r0, 0), MR.min(rows - r0), kc, simd);
    };
    if parallel && panels > 1 {
        dst.par_chunks_mut(kc * MR).enumerate().for_each(one);
    } else {
        dst.chunks_mut(kc * MR).enumerate().for_each(one);
    }
}

/// Panels of B per task of a parallel [`pack_b`] of a row-major B (on one
/// thread, one pass covers all the panels).
const PANEL_GROUP: usize = 8;

/// Steps of K per pass of a row-major [`pack_b`] over its panels.
const B_ROWS: usize = 8;

/// Packs the `kc × cols` block `src` into `cols.div_ceil(NR)` panels of `kc·NR`,
/// panels in parallel when `parallel` (each panel is written by one task).
///
/// A row-major B (`src.cs == 1`) is copied `B_ROWS` rows at a time across all
/// the panels, with the next pass's rows prefetched. Panel by panel, each
/// step of K read 64 bytes from a new row (4 KiB apart for 1024 columns: a
/// new page and the same L1 set every time, out of reach of the hardware
/// prefetchers); the pack is bound by B's transfer from L3 either way, and
/// this took it from 1.8 % to 1.5 % of a 1-thread 1024² product on AVX2.
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
    pack_b_with::<NR>(dst, src, kc, cols, parallel, Stores::Cached)
}

/// How [`pack_b_with`] writes the packed panels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stores {
    /// Plain stores: the panels stay in cache for a reader that comes soon.
    Cached,
    /// Non-temporal stores where the copy is by whole vectors (a row-major B
    /// of full panels on x86-64 with AVX, a 32-byte aligned `dst`), for a
    /// packed block larger than L2 that is read back only after much else
    /// has passed through the caches: each destination line is written
    /// without first being read from memory (plain stores read it: a third
    /// stream beside B and the packed copy), and the copy does not evict the
    /// operands in L2. Same values as `Cached`.
    Streaming,
}

/// [`pack_b`] with the stores chosen by `stores`.
///
/// # Shapes
/// - as [`pack_b`]
pub fn pack_b_with<const NR: usize>(
    dst: &mut [f32],
    src: MatRef<'_>,
    kc: usize,
    cols: usize,
    parallel: bool,
    stores: Stores,
) {
    let panels = cols.div_ceil(NR);
    let dst = &mut dst[..panels * kc * NR];
    let group = match (src.cs == 1, parallel) {
        (false, _) => 1,
        (true, true) => PANEL_GROUP,
        (true, false) => panels.max(1),
    };
    let one = |(q, chunk): (usize, &mut [f32])| {
        let c0 = q * group * NR;
        pack_b_group::<NR>(
            chunk,
            src.at(0, c0),
            kc,
            (cols - c0).min(group * NR),
            stores,
        );
    };
    if parallel && panels > group {
        dst.par_chunks_mut(group * kc * NR)
            .enumerate()
            .for_each(one);
    } else {
        dst.chunks_mut(group * kc * NR).enumerate().for_each(one);
    }
}

/// [`pack_b`] of the `kc × cols` block `src` on the calling thread.
fn pack_b_group<const NR: usize>(
    dst: &mut [f32],
    src: MatRef<'_>,
    kc: usize,
    cols: usize,
    stores: Stores,
) {
    let panels = cols.div_ceil(NR);
    if src.cs != 1 {
        let simd = vector_copies();
        for (q, panel) in dst.chunks_mut(kc * NR).enumerate().take(panels) {
            let c0 = q * NR;
            pack_panel::<NR>(panel, src.t().at(c0, 0), NR.min(cols - c0), kc, simd);
        }
        return;
    }
    if NR * std::mem::size_of::<f32>() < LINE {
        return pack_narrow_rows::<NR>(dst, src, kc, cols, vector_copies());
    }
    #[cfg(target_arch = "x86_64")]
    if vector_copies() {
        // SAFETY: `vector_copies()` means AVX2 or AVX-512, so AVX is present.
        unsafe {
            if stores == Stores::Streaming
                && NR.is_multiple_of(8)
                && (dst.as_ptr() as usize).is_multiple_of(32)
            {
                pack_wide_rows_streaming::<NR>(dst, src, kc, cols);
            } else {
                pack_wide_rows_avx::<NR>(dst, src, kc, cols);
            }
        }
        return;
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = stores; // non-temporal stores are an x86-64 path only
    pack_wide_rows::<NR>(dst, src, kc, cols)
}

/// [`pack_wide_rows`] compiled with AVX: each panel row is two or four
/// 32-byte copies instead of four or eight 16-byte ones (the baseline x86-64
/// build has SSE2 only).
///
/// # Safety
/// The CPU must have AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn pack_wide_rows_avx<const NR: usize>(
    dst: &mut [f32],
    src: MatRef<'_>,
    kc: usize,
    cols: usize,
) {
    pack_wide_rows::<NR>(dst, src, kc, cols)
}

/// [`pack_wide_rows`] with every full panel row written by non-temporal
/// 32-byte stores (see [`Stores::Streaming`]); the rows of a partial last
/// panel are written as by `pack_wide_rows`. Ends with a store fence, so the
/// panels are visible to every thread once this returns.
///
/// # Safety
/// The CPU must have AVX; `dst` is 32-byte aligned and `NR` a multiple of 8
/// (so every panel row starts on a 32-byte boundary).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn pack_wide_rows_streaming<const NR: usize>(
    dst: &mut [f32],
    src: MatRef<'_>,
    kc: usize,
    cols: usize,
) {
    use std::arch::x86_64::{_mm256_loadu_ps, _mm256_stream_ps, _mm_sfence};
    debug_assert!(NR.is_multiple_of(8) && (dst.as_ptr() as usize).is_multiple_of(32));
    pack_wide_rows_with::<NR>(dst, src, kc, cols, |row, from| {
        for v in (0..NR).step_by(8) {
            // SAFETY: `from` and `row` hold NR floats and v + 8 ≤ NR; `row`
            // starts a multiple of NR floats from the 32-byte aligned `dst`,
            // so `row + v` is 32-byte aligned; AVX is enabled here.
            unsafe {
                let x = _mm256_loadu_ps(from.as_ptr().add(v));
                _mm256_stream_ps(row.as_mut_ptr().add(v), x);
            }
        }
    });
    // Non-temporal stores are weakly ordered: make them visible before the
    // caller (or the task join that follows) lets any thread read the panels.
    _mm_sfence();
}

/// [`pack_b_group`] of a row-major source for panels of a cache line or
/// more: passes of `B_ROWS` steps of K over every panel, each pass's rows
/// read as a few parallel streams and the next pass's lines prefetched.
#[inline(always)]
fn pack_wide_rows<const NR: usize>(dst: &mut [f32], src: MatRef<'_>, kc: usize, cols: usize) {
    pack_wide_rows_with::<NR>(dst, src, kc, cols, |row, from| {
        let row: &mut [f32; NR] = row.try_into().unwrap();
        *row = from.try_into().unwrap();
    })
}

/// The passes of [`pack_wide_rows`], with `full_row(row, from)` copying the
/// NR floats of each full panel row (partial panels are copied and zero
/// padded here).
#[inline(always)]
fn pack_wide_rows_with<const NR: usize>(
    dst: &mut [f32],
    src: MatRef<'_>,
    kc: usize,
    cols: usize,
    full_row: impl Fn(&mut [f32], &[f32]),
) {
    let panels = cols.div_ceil(NR);
    for p0 in (0..kc).step_by(B_ROWS) {
        let steps = B_ROWS.min(kc - p0);
        let ahead = if p0 + 2 * B_ROWS <= kc {
            B_ROWS * src.rs
        } else {
            0
        };
        for (q, panel) in dst.chunks_mut(kc * NR).enumerate().take(panels) {
            let c0 = q * NR;
            let w = NR.min(cols - c0);
            let out = &mut panel[p0 * NR..(p0 + steps) * NR];
            for (t, row) in out.chunks_exact_mut(NR).enumerate() {
                let s = src.idx(p0 + t, c0);
                if ahead > 0 {
                    // The same columns of the next pass's rows.
                    prefetch_floats(src.data[s + ahead..].as_ptr(), w);
                }
                if w == NR {
                    full_row(row, &src.data[s..s + NR]);
                } else {
                    row[..w].copy_from_slice(&src.data[s..s + w]);
                    row[w..].fill(0.0);
                }
            }
        }
    }
}

/// Bytes per cache line (the prefetch granularity).
const LINE: usize = 64;

/// [`pack_b_group`] of a row-major source for panels narrower than a cache
/// line (an A block packed through [`pack_a`]'s transposed route: 6 floats
/// per panel row on AVX2 and AVX-512, 8 on NEON; also NEON's and the scalar
/// kernel's B panels): each pass's rows are sliced once, and each line of
/// the next pass's rows is prefetched once, not once per panel (two or
/// three times). For AVX2's 16-wide B panels in small column groups the
/// per-pass slicing cost more than it saved (1–2 % slower on a GPT proj
/// dW), so panels of a line or more keep the loop above.
///
/// With `simd` (x86-64 with AVX, see [`vector_copies`]), the full passes of
/// 6-float panels go through [`pass6_avx`] (the same copy, 256-bit loads and
/// stores).
fn pack_narrow_rows<const NR: usize>(
    dst: &mut [f32],
    src: MatRef<'_>,
    kc: usize,
    cols: usize,
    simd: bool,
) {
    let f = std::mem::size_of::<f32>();
    let _ = simd; // read only by the x86-64 branch below
    for p0 in (0..kc).step_by(B_ROWS) {
        let steps = B_ROWS.min(kc - p0);
        // This pass's rows from their first column on; the next pass's rows
        // lie `ahead` further.
        let rows: [&[f32]; B_ROWS] = std::array::from_fn(|t| {
            if t < steps {
                &src.data[src.idx(p0 + t, 0)..]
            } else {
                &[]
            }
        });
        let ahead = if p0 + 2 * B_ROWS <= kc {
            B_ROWS * src.rs
        } else {
            0
        };
        #[allow(unused_mut)]
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if simd && NR == 6 && steps == B_ROWS {
            // SAFETY: `simd` is only set where the CPU has AVX.
            done = unsafe { pass6_avx(dst, &rows, p0, kc, cols, ahead) };
        }
        let panels = dst.chunks_mut(kc * NR).enumerate();
        for (q, panel) in panels.take(cols.div_ceil(NR)).skip(done) {
            let c0 = q * NR;
            let w = NR.min(cols - c0);
            let out = &mut panel[p0 * NR..(p0 + steps) * NR];
            for (row, src_row) in out.chunks_exact_mut(NR).zip(&rows) {
                if ahead > 0 {
                    // The next pass's line holding this panel's last column,
                    // when this panel is the first to reach that line.
                    let x = &src_row[ahead + c0 + w - 1];
                    if q == 0 || std::ptr::from_ref(x) as usize % LINE < w * f {
                        prefetch_floats(x, 1);
                    }
                }
                let src_row = &src_row[c0..c0 + w];
                if w == NR {
                    let row: &mut [f32; NR] = row.try_into().unwrap();
                    *row = src_row.try_into().unwrap();
                } else {
                    row[..w].copy_from_slice(src_row);
                    row[w..].fill(0.0);
                }
            }
        }
    }
}

/// Whether [`pack_narrow_rows`] may use [`pass6_avx`] and [`pack_panel`]
/// [`transpose_avx`]: x86-64 at the AVX2 or AVX-512 level
/// (`crate::simd::isa()`, so `ATTNRS_SIMD=scalar` keeps the plain copies).
fn vector_copies() -> bool {
    use crate::simd::{isa, Isa};
    cfg!(target_arch = "x86_64") && matches!(isa(), Isa::Avx2 | Isa::Avx512)
}

/// One full pass (`B_ROWS` = 8 steps of K from `p0`) of [`pack_narrow_rows`]
/// for 6-float panels, over the leading panels that are full and whose
/// 8-float loads stay inside `rows`; returns how many panels it packed (the
/// caller packs the rest). Each step of K is one 8-float load and one
/// 8-float store at `t·6`, in order, so a store's last 2 floats are
/// overwritten by the next step's store; the last step stores 4 + 2 floats
/// (not past the pass). The next pass's lines are prefetched as in the
/// plain loop.
///
/// # Safety
/// The CPU must have AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn pass6_avx(
    dst: &mut [f32],
    rows: &[&[f32]; B_ROWS],
    p0: usize,
    kc: usize,
    cols: usize,
    ahead: usize,
) -> usize {
    use std::arch::x86_64::*;
    const W: usize = 6;
    // Panels q with q·6 + 8 ≤ every row's length, and full (q·6 + 6 ≤ cols).
    let shortest = rows.iter().map(|r| r.len()).min().unwrap_or(0);
    let n = if shortest < 8 {
        0
    } else {
        ((shortest - 8) / W + 1).min(cols / W)
    };
    let n = n.min(dst.len() / (kc * W));
    let f = std::mem::size_of::<f32>();
    for q in 0..n {
        let c0 = q * W;
        if ahead > 0 {
            for r in rows {
                // As in `pack_narrow_rows`: each line of the next pass's
                // rows once, by the first panel to reach it.
                if let Some(x) = r.get(ahead + c0 + W - 1) {
                    if q == 0 || std::ptr::from_ref(x) as usize % LINE < W * f {
                        prefetch_floats(x, 1);
                    }
                }
            }
        }
        let out = &mut dst[q * kc * W + p0 * W..][..B_ROWS * W];
        let o = out.as_mut_ptr();
        // SAFETY: each load reads rows[t][c0..c0 + 8], inside the row
        // (c0 + 8 ≤ shortest, by the choice of `n`); the stores write
        // out[6t..6t + 8] for t < 7 (≤ 44 of 48) and out[42..48], all inside
        // `out` (B_ROWS·W = 48 floats, checked by the slicing above).
        unsafe {
            for (t, r) in rows.iter().enumerate().take(B_ROWS - 1) {
                let v = _mm256_loadu_ps(r.as_ptr().add(c0));
                _mm256_storeu_ps(o.add(t * W), v);
            }
            let v = _mm256_loadu_ps(rows[B_ROWS - 1].as_ptr().add(c0));
            let last = (B_ROWS - 1) * W;
            _mm_storeu_ps(o.add(last), _mm256_castps256_ps128(v));
            let hi = _mm256_extractf128_ps::<1>(v);
            _mm_store_sd(o.add(last + 4).cast(), _mm_castps_pd(hi));
        }
    }
    n
}

/// The one panel width under 8 that [`transpose_avx`] takes: MR of the AVX2
/// and AVX-512 kernels, whose A panels a row-major A is transposed into (a
/// square product's A, packed per row task; the element-by-element loop was
/// 1.3–1.5 % of a 1024² or 2048² product on AVX2).
const NARROW: usize = 6;

/// Eight zeros: the source of [`transpose_avx`]'s loads for rows past the
/// panel's last row.
#[cfg(target_arch = "x86_64")]
static ZEROS: [f32; 8] = [0.0; 8];

/// The full 8-step blocks of [`pack_panel`]'s transposing case:
/// `dst[p·W + r] = lanes[r][p]` for `r < rows`, zeros for `rows ≤ r < W`,
/// `p < dst.len() / W` (a multiple of 8). Each block of 8 steps of K × 8
/// rows is transposed in registers: 16 128-bit loads, rows i and i + 4 of
/// the same 4 steps into one 256-bit register (the lane crossing done by the
/// loads, off the shuffle port), then 8 unpacks and 8 shuffles give the 8
/// steps, one 256-bit store each. The element-by-element loop was scalar
/// SSE2 code (the crate's baseline target), a load and a store per float.
///
/// A 6-wide panel (`W = NARROW`) is one group of 8 rows whose last two are
/// zeros: each step's 8 floats are stored at `t·6`, in order, so the next
/// step's store overwrites the 2 extra floats; the last step stores exactly
/// 6 (4 + 2), so nothing is written past `dst`.
///
/// # Safety
/// The CPU must have AVX.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn transpose_avx<const W: usize>(
    dst: &mut [f32],
    lanes: &[&[f32]; W],
    rows: usize,
    ahead: usize,
) {
    use std::arch::x86_64::*;
    const P: usize = 8;
    let steps = dst.len() / W;
    assert!((W.is_multiple_of(P) || W == NARROW) && steps.is_multiple_of(P) && rows <= W);
    // Each valid lane holds at least `steps` floats (`pack_panel` slices
    // them kc long, and `steps` ≤ kc), so every load below stays inside it.
    assert!(lanes[..rows].iter().all(|l| l.len() >= steps));
    let o = dst.as_mut_ptr();
    for q in 0..steps / P {
        if W == NARROW && q % 2 == 0 {
            // A's rows come from L3 (a square product's A is not in L2):
            // fetch the next panel's rows, one line per row every 16 steps
            // (a line's worth), a whole panel ahead, so that the six new
            // streams of every panel do not start cold (2048² on AVX2, 1
            // thread: the vector pack took 1.2 % of the product's samples
            // without this, 0.8–1.1 % with it).
            for lane in &lanes[..rows] {
                prefetch_floats(lane.as_ptr().wrapping_add(q * P + ahead), 1);
            }
        }
        for g in 0..W.div_ceil(P) {
            // Row i of this group: its 8 steps from q·8, or 8 zeros past
            // the last row.
            let src: [*const f32; P] = std::array::from_fn(|i| {
                let r = g * P + i;
                if r < rows {
                    lanes[r][q * P..].as_ptr()
                } else {
                    ZEROS.as_ptr()
                }
            });
            // x[i + 4h]: steps 4h..4h + 4 of row i (low half) and row i + 4
            // (high half), for i < 4.
            let mut x = [_mm256_setzero_ps(); P];
            for (j, v) in x.iter_mut().enumerate() {
                let (i, h) = (j % 4, j / 4);
                // SAFETY: each pointer has 8 readable floats (above).
                unsafe {
                    let lo = _mm_loadu_ps(src[i].add(4 * h));
                    let hi = _mm_loadu_ps(src[i + 4].add(4 * h));
                    *v = _mm256_insertf128_ps::<1>(_mm256_castps128_ps256(lo), hi);
                }
            }
            for h in 0..2 {
                let x = &x[4 * h..4 * h + 4];
                let t0 = _mm256_unpacklo_ps(x[0], x[1]);
                let t1 = _mm256_unpackhi_ps(x[0], x[1]);
                let t2 = _mm256_unpacklo_ps(x[2], x[3]);
                let t3 = _mm256_unpackhi_ps(x[2], x[3]);
                // Step 4h + c of all 8 rows.
                let cols = [
                    _mm256_shuffle_ps::<0x44>(t0, t2),
                    _mm256_shuffle_ps::<0xEE>(t0, t2),
                    _mm256_shuffle_ps::<0x44>(t1, t3),
                    _mm256_shuffle_ps::<0xEE>(t1, t3),
                ];
                for (c, v) in cols.into_iter().enumerate() {
                    let t = q * P + 4 * h + c;
                    if W >= P || t + 1 < steps {
                        // SAFETY: step t < steps. W ≥ 8: rows g·8..g·8 + 8
                        // ≤ W, floats t·W + g·8 .. + 8 of `dst` (steps·W
                        // long). W = 6 (g = 0): floats t·6 .. t·6 + 8 ≤
                        // (t + 2)·6 ≤ steps·6, as t + 1 < steps.
                        unsafe { _mm256_storeu_ps(o.add(t * W + g * P), v) };
                    } else {
                        // SAFETY: the last step of a 6-wide panel: floats
                        // t·6 .. t·6 + 6 = steps·6, the end of `dst`.
                        unsafe {
                            _mm_storeu_ps(o.add(t * W), _mm256_castps256_ps128(v));
                            let hi = _mm256_extractf128_ps::<1>(v);
                            _mm_store_sd(o.add(t * W + 4).cast(), _mm_castps_pd(hi));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
