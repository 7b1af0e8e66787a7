//! Helpers shared by the fused row kernels: vector-sized steps over a row
//! with a masked tail, and the row splitting every kernel uses.

use std::ops::Range;

use rayon::prelude::*;

use crate::simd::vector::consts::EXP_LO;
use crate::simd::{dispatch, F32Vec, Kernel};

/// `(offset, len)` steps over `n` elements: `len == V::LANES` except the
/// last, which may be shorter.
#[inline(always)]
pub fn steps<V: F32Vec>(n: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n)
        .step_by(V::LANES)
        .map(move |o| (o, V::LANES.min(n - o)))
}

/// Loads `s[off..off + len]`, the lanes past `len` set to `fill`.
///
/// # Safety
/// The CPU supports `V`; `off + len <= s.len()`, `len <= V::LANES`.
#[inline(always)]
pub unsafe fn ld<V: F32Vec>(s: &[f32], off: usize, len: usize, fill: f32) -> V::V {
    if len == V::LANES {
        V::load(&s[off..off + len])
    } else {
        V::load_partial(&s[off..off + len], fill)
    }
}

/// Stores the first `len` lanes of `v` to `d[off..off + len]`.
///
/// # Safety
/// The CPU supports `V`; `off + len <= d.len()`, `len <= V::LANES`.
#[inline(always)]
pub unsafe fn st<V: F32Vec>(d: &mut [f32], off: usize, len: usize, v: V::V) {
    if len == V::LANES {
        V::store(&mut d[off..off + len], v)
    } else {
        V::store_partial(&mut d[off..off + len], v)
    }
}

/// `V::exp(t)`, with the lanes below `EXP_LO` (−∞ included) kept off its
/// multiplies. `V::exp` gives exactly 0 there, but through a product that
/// underflows, and on x86 (FTZ off, as NumPy and PyTorch leave it) such a
/// vector takes a microcode assist: ~8× a vector's time, measured on a Xeon.
/// Every row with a partial last vector has −∞ padding lanes, and masked
/// entries are −∞, so that was most of a short row's time. Same bits as
/// `V::exp` for every input (test `exp_or_zero_has_the_exp_bits`); NaN stays NaN.
/// Softmax, log-softmax and cross-entropy use it.
///
/// # Safety
/// The CPU supports `V`.
#[inline(always)]
pub unsafe fn exp_or_zero<V: F32Vec>(t: V::V) -> V::V {
    let (lo, zero) = (V::splat(EXP_LO), V::splat(0.0));
    // Most vectors have no such lane: one test instead of two selects (which
    // cost ~10 % of a softmax row). `select_gt(lo, t, …)` picks 0 where
    // t < EXP_LO; a NaN t compares false.
    if !V::any_gt(lo, t) {
        return V::exp(t);
    }
    V::select_gt(lo, t, zero, V::exp(V::select_gt(lo, t, zero, t)))
}

/// Rows per parallel chunk for rows of `n` elements: about 64 KiB of each
/// operand per chunk, chosen from the problem alone (never the thread count).
pub fn rows_per_chunk(rows: usize, n: usize) -> usize {
    crate::threads::chunk_len(rows, n, 16 * 1024)
}

/// Runs `f(range, chunk)` in parallel over fixed chunks of whole rows of `out`
/// ((rows, n), `rows_per_chunk` rows a chunk): `range` is the chunk's element
/// range, the same in every other (rows, n) operand. Nothing runs when `out`
/// is empty. The chunks depend on the problem only, so the result does not
/// depend on the thread count.
pub fn par_row_chunks<F>(out: &mut [f32], rows: usize, n: usize, f: F)
where
    F: Fn(Range<usize>, &mut [f32]) + Sync + Send,
{
    if rows == 0 || n == 0 {
        return;
    }
    let len = rows_per_chunk(rows, n) * n;
    out.par_chunks_mut(len).enumerate().for_each(|(c, chunk)| {
        let r0 = c * len;
        f(r0..r0 + chunk.len(), chunk)
    });
}

/// Elements per parallel chunk of a flat elementwise kernel (a multiple of 64
/// so that every chunk but the last is whole vectors).
pub fn elems_per_chunk(total: usize) -> usize {
    let c = crate::threads::chunk_len(total, 1, 64 * 1024);
    c.div_ceil(64) * 64
}

/// `acc += src` elementwise on the widest vectors the CPU has (each element
/// the one f32 sum, so the same bits as a plain loop or NumPy's `np.add`).
pub fn add_assign(acc: &mut [f32], src: &[f32]) {
    dispatch(AddAssign { acc, src });
}

struct AddAssign<'a> {
    acc: &'a mut [f32],
    src: &'a [f32],
}

impl Kernel for AddAssign<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        add_assign_with::<V>(self.acc, self.src)
    }
}

/// [`add_assign`] with the vector type of the caller's kernel (inlined there).
///
/// # Safety
/// The CPU supports `V`; `src.len() >= acc.len()`.
#[inline(always)]
pub unsafe fn add_assign_with<V: F32Vec>(acc: &mut [f32], src: &[f32]) {
    for (o, l) in steps::<V>(acc.len()) {
        let v = V::add(ld::<V>(acc, o, l, 0.0), ld::<V>(src, o, l, 0.0));
        st::<V>(acc, o, l, v);
    }
}
