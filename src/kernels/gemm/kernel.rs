//! The microkernel contract: one MR×NR tile of `C = alpha·A·B + beta·C`.
//!
//! A kernel multiplies an MR-row micro-panel of A (`a[i·a_rs + p·a_cs]`,
//! either packed with `a_rs = 1, a_cs = MR` or read in place) by one
//! NR-column micro-panel of B (`b[p·b_rs + j]`, packed and zero-padded to NR
//! columns with `b_rs = NR`, or a full panel read in place) and
//! keeps the whole MR×NR accumulator in registers. Full tiles with unit
//! column stride are written straight from the registers; a partial tile
//! (`m < MR` or `n < NR`) or a strided C goes through a small stack buffer and
//! only the valid `m×n` region is written, so edges cost no scalar slow path
//! for the arithmetic.

use super::pack::MatRef;

/// One call of a microkernel. Only the microkernel dereferences these pointers.
#[derive(Debug, Clone, Copy)]
pub struct Tile {
    /// Depth of the product (the packed K slice).
    pub k: usize,
    /// Element (i, p) of the A micro-panel is at `a + i·a_rs + p·a_cs`.
    pub a: *const f32,
    pub a_rs: usize,
    pub a_cs: usize,
    /// B micro-panel: element (p, j) at `b + p·b_rs + j` (`b_rs = NR` when
    /// packed; B's row stride when read in place).
    pub b: *const f32,
    pub b_rs: usize,
    /// Element (i, j) of the C tile is at `c + i·c_rs + j·c_cs`.
    pub c: *mut f32,
    pub c_rs: usize,
    pub c_cs: usize,
    pub alpha: f32,
    /// 0 means C is only written, never read.
    pub beta: f32,
    /// Valid rows (≤ MR) and columns (≤ NR) of the tile.
    pub m: usize,
    pub n: usize,
    /// Null, or a row vector added to every row of the tile on store
    /// (`bias[j]` for `j < n`): a Linear layer's bias fused into the
    /// epilogue, `C = alpha·A·B + beta·C + bias`.
    pub bias: *const f32,
}

/// An MR×NR register-blocked FMA microkernel.
pub trait MicroKernel: Copy + Send + Sync + 'static {
    const MR: usize;
    const NR: usize;
    const NAME: &'static str;

    /// Whether this CPU can run the kernel.
    fn available() -> bool;

    /// [`super::pack::pack_a`] with this kernel's MR (a const generic needs the literal).
    fn pack_a(dst: &mut [f32], src: MatRef<'_>, rows: usize, kc: usize, parallel: bool);

    /// [`super::pack::pack_b`] with this kernel's NR.
    fn pack_b(dst: &mut [f32], src: MatRef<'_>, kc: usize, cols: usize, parallel: bool);

    /// [`MicroKernel::pack_b`] with non-temporal stores where the kernel's
    /// packing has them ([`super::pack::Stores::Streaming`]), for a packed
    /// block larger than L2; the same values.
    fn pack_b_streaming(dst: &mut [f32], src: MatRef<'_>, kc: usize, cols: usize, parallel: bool) {
        Self::pack_b(dst, src, kc, cols, parallel)
    }

    /// One row of A times a block of B: `acc[j] = Σ_p a[p]·B(p, j0 + j)`,
    /// streaming B row by row (the m = 1 path, where B is read once and a
    /// column panel would cross a page per step of K).
    fn row_times_block(acc: &mut [f32], a: &[f32], b: MatRef<'_>, j0: usize) {
        row_times_block(acc, a, b, j0)
    }

    /// Computes one tile.
    ///
    /// # Safety
    /// `Self::available()` is true; `a` is readable at every `i·a_rs + p·a_cs`
    /// for `i < MR, p < k`; `b` is readable at every `p·b_rs + j` for `p < k,
    /// j < NR`; `c` is writable
    /// (and readable unless `beta == 0`) at every `i·c_rs + j·c_cs` for
    /// `i < m ≤ MR, j < n ≤ NR`, and no other thread touches those elements;
    /// `bias` is null or readable at `j < n`.
    unsafe fn run(t: &Tile);

    /// Whether [`MicroKernel::run_part`] is implemented (the driver then
    /// runs packed products B panel by B panel, see `driver::panel_major`).
    const PARTS: bool = false;

    /// One part of a K slice of a tile with A packed (MR floats per step,
    /// also for a tile of fewer rows: all MR rows are computed and the m
    /// rows stored, so each stored element is summed exactly as by
    /// [`MicroKernel::run`]): `first`
    /// starts the accumulators at zero, otherwise they are restored from
    /// `acc` (MR·NR floats); `last` stores them into C as [`MicroKernel::run`]
    /// does, otherwise they are saved to `acc`. The saved values are the
    /// registers' own f32s, so a K slice run in parts is bitwise the slice
    /// run whole (`first && last` is exactly `run`).
    ///
    /// # Safety
    /// As [`MicroKernel::run`] for the part's `t.k` steps; the kernel checks
    /// `t.m <= MR`, packed A and `acc.len() >= MR·NR`.
    unsafe fn run_part(t: &Tile, acc: &mut [f32], first: bool, last: bool) {
        let _ = (t, acc, first, last);
        unreachable!("run_part: not implemented by this kernel");
    }
}

/// The body of [`MicroKernel::row_times_block`]; kernels call it from a
/// `#[target_feature]` shim so that LLVM vectorizes it for their ISA.
///
/// # Shapes
/// - `acc`: w, `a`: k, `b`: k × (j0 + w) with unit column stride
#[inline(always)]
pub fn row_times_block(acc: &mut [f32], a: &[f32], b: MatRef<'_>, j0: usize) {
    let w = acc.len();
    acc.fill(0.0);
    for (p, &ap) in a.iter().enumerate() {
        let s = b.idx(p, j0);
        for (c, &bv) in acc.iter_mut().zip(&b.data[s..s + w]) {
            *c += ap * bv;
        }
    }
}

/// Writes `buf` (alpha·A·B for the tile, row stride `nr`) into the valid
/// `m×n` region of C, adding `beta·C` unless `beta == 0`, then the bias
/// unless it is null (the order every kernel's full-tile store uses too).
///
/// # Safety
/// The C and bias parts of [`MicroKernel::run`]'s contract hold for `t`,
/// and `buf.len() >= (t.m - 1)·nr + t.n`.
#[inline(always)]
pub unsafe fn store_partial(buf: &[f32], nr: usize, t: &Tile) {
    for i in 0..t.m {
        let row = &buf[i * nr..i * nr + t.n];
        for (j, &v) in row.iter().enumerate() {
            // SAFETY: i < m and j < n, inside the tile (and the bias) the
            // caller vouched for.
            unsafe {
                let dst = t.c.add(i * t.c_rs + j * t.c_cs);
                let out = if t.beta == 0.0 { v } else { v + t.beta * *dst };
                *dst = if t.bias.is_null() {
                    out
                } else {
                    out + *t.bias.add(j)
                };
            }
        }
    }
}
