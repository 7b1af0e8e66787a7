//! The tile primitives' bodies, written once over `V: F32Vec` and run through
//! `crate::simd::dispatch_on` (the shared idiom: no per-ISA code here apart
//! from the register-block shape of the tile product). Callers in `tile.rs`
//! have checked every bound, so the bodies index without checks.
#![allow(clippy::needless_range_loop)] // register arrays indexed in lockstep

use super::tile::{AOp, BOp, Band};
use crate::simd::{F32Vec, Kernel};

/// Block shape (rows MR, vectors NV of B per step) of the tile product per
/// vector type: about two thirds of the registers hold MR·NV accumulators,
/// NV hold B and one the broadcast of A.
/// - AVX-512 (32 × 16 lanes): 8 × 2 vectors = 8 × 32, 16 accumulators;
/// - AVX2 (16 × 8 lanes): 6 × 2 vectors = 6 × 16, 12 accumulators;
/// - NEON (32 × 4 lanes): 6 × 4 vectors = 6 × 16, 24 accumulators;
/// - scalar (1 lane): the plain loop `gemm_scalar`, which LLVM vectorizes.
#[inline(always)]
const fn shape(lanes: usize, registers: usize) -> (usize, usize) {
    match (lanes, registers >= 32) {
        (16.., true) => (8, 2),
        (_, true) => (6, 4),
        _ => (6, 2),
    }
}

/// `C[m×n] (+)= A[m×k]·B[k×n]`; bounds checked by `tile::gemm`, `k ≥ 1`.
pub(super) struct Gemm<'a> {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: AOp<'a>,
    pub b: BOp<'a>,
    pub c: &'a mut [f32],
    pub ldc: usize,
    pub accumulate: bool,
    /// With `accumulate`: C's rows are first scaled, `C[i,:] = c_scale[i]·C[i,:] + A·B`.
    pub c_scale: Option<&'a [f32]>,
    /// Without `accumulate`: C holds P and becomes the softmax gradient
    /// `C[i,j] = C[i,j]·((A·B)[i,j] − c_grad[j])` (dSᵀ = Pᵀ ⊙ (dPᵀ − D)).
    pub c_grad: Option<&'a [f32]>,
    pub band: Band,
    /// When given, the result rows go to an output instead of C, and C's
    /// contents afterwards are unspecified: see [`OutRows`].
    pub out: Option<OutRows<'a>>,
}

/// The multiplier of a product written to an output (see [`OutRows`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum RowMul<'a> {
    /// Every row by the same factor.
    All(f32),
    /// Row i by `mul[i]` (at least m factors).
    Row(&'a [f32]),
}

/// Where a tile product's result goes instead of C: element (i, j) of what
/// the product would store in C, times the row's factor, is written to
/// `ptr[i·rs + j]` (the last pass of an output's rows done in the product's
/// store: the same value as storing C and writing it out scaled after).
#[derive(Clone, Copy)]
pub(crate) struct OutRows<'a> {
    ptr: *mut f32,
    rs: usize,
    mul: RowMul<'a>,
}

impl<'a> OutRows<'a> {
    /// # Safety
    /// For the product's m × n result, every `ptr + i·rs + j` (i < m, j < n)
    /// is an in-bounds element of one output allocation, written by no one
    /// else and referenced nowhere else while the product runs.
    pub(crate) unsafe fn new(ptr: *mut f32, rs: usize, mul: RowMul<'a>) -> Self {
        OutRows { ptr, rs, mul }
    }

    /// Panics unless there is a factor for each of `m` rows.
    pub(super) fn check(&self, m: usize) {
        if let RowMul::Row(f) = self.mul {
            assert!(f.len() >= m, "tile::gemm: out factors too short");
        }
    }

    /// Row i's factor.
    ///
    /// # Safety
    /// `check(m)` passed for some m > i.
    #[inline(always)]
    pub(super) unsafe fn factor(&self, i: usize) -> f32 {
        match self.mul {
            RowMul::All(x) => x,
            // SAFETY: i < m ≤ f.len() (caller's contract).
            RowMul::Row(f) => unsafe { *f.get_unchecked(i) },
        }
    }

    /// Writes the m × n result held in `c` (row stride `ldc`) out, scaled
    /// (the paths that compute in C: the scalar level, and K = 0).
    pub(super) fn write(&self, c: &[f32], ldc: usize, m: usize, n: usize) {
        self.check(m);
        for i in 0..m {
            // SAFETY: i < m, and `check(m)` just passed.
            let f = unsafe { self.factor(i) };
            for (j, &v) in c[i * ldc..i * ldc + n].iter().enumerate() {
                // SAFETY: (i, j) is inside the m × n result (`OutRows::new`).
                unsafe { *self.ptr.add(i * self.rs + j) = v * f };
            }
        }
    }
}

impl Gemm<'_> {
    /// The steps `lo..hi` of K that rows `i0..i0 + r` need for the columns
    /// `j..j + w` (see `Band`); `lo ≥ hi` when none.
    #[inline(always)]
    fn steps(&self, i0: usize, r: usize, j: usize, w: usize) -> (usize, usize) {
        let clamp = |x: isize| x.clamp(0, self.k as isize) as usize;
        let first = i0 as isize;
        match self.band {
            Band::Full => (0, self.k),
            Band::KFrom(d) => (clamp(first + d), self.k),
            Band::KTo(d) => (0, clamp(first + r as isize - 1 + d)),
            Band::ColsFrom(d) if ((j + w) as isize) <= first + d => (0, 0),
            Band::ColsFrom(_) => (0, self.k),
        }
    }
}

impl Kernel for Gemm<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        if V::LANES == 1 {
            return gemm_scalar(self);
        }
        // SAFETY (all arms): `tile::gemm` bounded every index of A, B and C.
        match shape(V::LANES, V::REGISTERS) {
            (8, 2) => rows::<V, 8, 2>(self),
            (6, 4) => rows::<V, 6, 4>(self),
            _ => rows::<V, 6, 2>(self),
        }
    }
}

#[inline(always)]
fn gemm_scalar(g: Gemm<'_>) {
    let (a, b) = (g.a, g.b);
    for i in 0..g.m {
        let (lo, hi) = g.steps(i, 1, 0, g.n);
        let crow = &mut g.c[i * g.ldc..i * g.ldc + g.n];
        if let Some(dd) = g.c_grad {
            // Each product summed from 0 in step order, as the plain path does.
            for (j, cv) in crow.iter_mut().enumerate() {
                let mut s = 0.0;
                for p in lo..hi {
                    s += a.data[i * a.rs + p * a.cs] * b.data[p * b.ld + j];
                }
                *cv *= s - dd[j];
            }
            continue;
        }
        if !g.accumulate {
            crow.fill(0.0);
        } else if let Some(s) = g.c_scale {
            crow.iter_mut().for_each(|c| *c *= s[i]);
        }
        for p in lo..hi {
            let av = a.data[i * a.rs + p * a.cs];
            let brow = &b.data[p * b.ld..p * b.ld + g.n];
            for (cv, &bv) in crow.iter_mut().zip(brow) {
                *cv += av * bv;
            }
        }
    }
    if let Some(o) = g.out {
        o.write(g.c, g.ldc, g.m, g.n);
    }
}

/// MR-row strips of C, the last one shorter.
///
/// # Safety
/// The CPU has `V`'s ISA; `g` passed `tile::gemm`'s bounds checks.
#[inline(always)]
unsafe fn rows<V: F32Vec, const MR: usize, const NV: usize>(mut g: Gemm<'_>) {
    let mut i = 0;
    while i < g.m {
        let mr = (g.m - i).min(MR);
        // SAFETY: rows i..i + mr < m, inside the checked bounds; mr ≤ MR ≤ 8.
        unsafe {
            match mr {
                8 => strip::<V, 8, NV>(&mut g, i),
                7 => strip::<V, 7, NV>(&mut g, i),
                6 => strip::<V, 6, NV>(&mut g, i),
                5 => strip::<V, 5, NV>(&mut g, i),
                4 => strip::<V, 4, NV>(&mut g, i),
                3 => strip::<V, 3, NV>(&mut g, i),
                2 => strip::<V, 2, NV>(&mut g, i),
                _ => strip::<V, 1, NV>(&mut g, i),
            }
        }
        i += mr;
    }
}

/// Rows `i0..i0 + R` of C, `NV·LANES` columns at a time; the last block has
/// only as many vectors as it needs, its last one partial.
///
/// # Safety
/// As [`rows`], with `i0 + R ≤ m`.
#[inline(always)]
unsafe fn strip<V: F32Vec, const R: usize, const NV: usize>(g: &mut Gemm<'_>, i0: usize) {
    let wide = NV * V::LANES;
    let mut j = 0;
    // SAFETY (whole body): every block covers columns j..j + w ≤ n.
    unsafe {
        while j + wide <= g.n {
            block::<V, R, NV, true>(g, i0, j, wide);
            j += wide;
        }
        let w = g.n - j;
        if w > 0 {
            match w.div_ceil(V::LANES) {
                1 => block::<V, R, 1, false>(g, i0, j, w),
                2 if NV >= 2 => block::<V, R, 2, false>(g, i0, j, w),
                3 if NV >= 3 => block::<V, R, 3, false>(g, i0, j, w),
                _ => block::<V, R, NV, false>(g, i0, j, w),
            }
        }
    }
}

/// `B[p, j..j + w]` as NV vectors (`w = NV·LANES` when `FULL`, else the last
/// vector is partial and zero-filled).
///
/// # Safety
/// Row `p` of B holds columns `j..j + w`.
#[inline(always)]
unsafe fn load_b<V: F32Vec, const NV: usize, const FULL: bool>(
    b: &[f32],
    off: usize,
    w: usize,
) -> [V::V; NV] {
    let mut v = [V::splat(0.0); NV];
    for t in 0..NV {
        let lo = off + t * V::LANES;
        // SAFETY: lo..lo + LANES (FULL) or lo..off + w lies in row p of B.
        unsafe {
            v[t] = if FULL || (t + 1) * V::LANES <= w {
                V::load(b.get_unchecked(lo..))
            } else {
                V::load_partial(b.get_unchecked(lo..off + w), 0.0)
            };
        }
    }
    v
}

/// A read with its row stride in place (`cs = 1`, a K or Pᵀ block): one base
/// per row, indexed by the step.
const ROWS: u8 = 0;
/// A read with unit row stride (`rs = 1`, a Pᵀ or dSᵀ tile read transposed):
/// row i of step p at `p·cs + i`, constant offsets from one base.
const COLS: u8 = 1;
/// Any strides.
const ANY: u8 = 2;

/// One R × w block of C at (i0, j), w ≤ NV·LANES, in registers.
///
/// # Safety
/// As [`strip`], with `j + w ≤ n` and `w > (NV − 1)·LANES`.
#[inline(always)]
unsafe fn block<V: F32Vec, const R: usize, const NV: usize, const FULL: bool>(
    g: &mut Gemm<'_>,
    i0: usize,
    j: usize,
    w: usize,
) {
    // The A access is a compile-time mode so that the step's address
    // arithmetic is a base plus constants (the microkernel's reasoning in
    // `gemm::kernel_avx2`). The order of the FMAs into
    // each accumulator is p = 0, 1, … in every mode, so results are equal.
    // Only the 16-register AVX2 tile is specialized: it has no spare
    // register for the address arithmetic of the general mode (measured
    // −9 % on a causal T = 1024 SDPA, 1 thread); the 32-register tiles keep
    // the general loop, whose speed they were tuned with.
    // SAFETY: forwarded.
    let acc = unsafe {
        if V::REGISTERS >= 32 {
            products::<V, R, NV, FULL, ANY>(g, i0, j, w)
        } else if g.a.cs == 1 {
            products::<V, R, NV, FULL, ROWS>(g, i0, j, w)
        } else if g.a.rs == 1 {
            products::<V, R, NV, FULL, COLS>(g, i0, j, w)
        } else {
            products::<V, R, NV, FULL, ANY>(g, i0, j, w)
        }
    };
    // SAFETY: forwarded.
    unsafe { store::<V, R, NV, FULL>(g, &acc, i0, j, w) }
}

/// The R × w products of block (i0, j) over all of K, A read in mode `MODE`.
///
/// # Safety
/// As [`block`]; `MODE` matches A's strides (ROWS: cs = 1, COLS: rs = 1).
#[inline(always)]
unsafe fn products<V: F32Vec, const R: usize, const NV: usize, const FULL: bool, const MODE: u8>(
    g: &Gemm<'_>,
    i0: usize,
    j: usize,
    w: usize,
) -> [[V::V; NV]; R] {
    let mut acc = [[V::splat(0.0); NV]; R];
    let base = i0 * g.a.rs;
    let (lo, hi) = g.steps(i0, R, j, w);
    // SAFETY: p < k, forwarded.
    for p in lo..hi {
        unsafe { step::<V, R, NV, FULL, MODE>(&mut acc, g, base, p, j, w) };
    }
    acc
}

/// One step p of K: NV vectors of B, R broadcasts of A (rows from `base`), R·NV FMAs.
///
/// # Safety
/// As [`products`], with p < k.
#[inline(always)]
unsafe fn step<V: F32Vec, const R: usize, const NV: usize, const FULL: bool, const MODE: u8>(
    acc: &mut [[V::V; NV]; R],
    g: &Gemm<'_>,
    base: usize,
    p: usize,
    j: usize,
    w: usize,
) {
    let (a, b) = (g.a, g.b);
    // SAFETY: p < k, rows i0..i0 + R and columns j..j + w are inside the
    // checked extents of A and B.
    unsafe {
        let bv = load_b::<V, NV, FULL>(b.data, p * b.ld + j, w);
        for i in 0..R {
            // Index of A(i0 + i, p): the mode is a constant, one arm is compiled.
            let at = match MODE {
                ROWS => base + i * a.rs + p,
                COLS => base + p * a.cs + i,
                _ => base + i * a.rs + p * a.cs,
            };
            let av = V::splat(*a.data.get_unchecked(at));
            for t in 0..NV {
                acc[i][t] = V::fma(av, bv[t], acc[i][t]);
            }
        }
    }
}

/// Writes (or adds) the R × w accumulators of block (i0, j) into C.
///
/// # Safety
/// As [`block`].
#[inline(always)]
unsafe fn store<V: F32Vec, const R: usize, const NV: usize, const FULL: bool>(
    g: &mut Gemm<'_>,
    acc: &[[V::V; NV]; R],
    i0: usize,
    j: usize,
    w: usize,
) {
    if let Some(o) = g.out {
        // SAFETY: forwarded.
        return unsafe { store_out::<V, R, NV, FULL>(g, o, acc, (i0, j, w)) };
    }
    for i in 0..R {
        let row = (i0 + i) * g.ldc + j;
        // SAFETY: `tile::run_gemm` checked c_scale.len() ≥ m > i0 + i.
        let scale = g
            .c_scale
            .map(|s| unsafe { V::splat(*s.get_unchecked(i0 + i)) });
        // C's old value, rescaled when asked (a product, then the sum: the
        // same result as scaling C in a pass of its own first).
        let old = |v: V::V| match scale {
            // SAFETY: the caller has V's ISA.
            Some(s) => unsafe { V::mul(v, s) },
            None => v,
        };
        for t in 0..NV {
            let lo = row + t * V::LANES;
            // SAFETY: C's row i0 + i holds columns j..j + w (checked by
            // `tile::gemm`).
            unsafe {
                if FULL || (t + 1) * V::LANES <= w {
                    let d = g.c.get_unchecked_mut(lo..lo + V::LANES);
                    let v = if let Some(dd) = g.c_grad {
                        let c0 = j + t * V::LANES;
                        let dv = V::load(dd.get_unchecked(c0..c0 + V::LANES));
                        V::mul(V::load(d), V::sub(acc[i][t], dv))
                    } else if g.accumulate {
                        V::add(acc[i][t], old(V::load(d)))
                    } else {
                        acc[i][t]
                    };
                    V::store(d, v);
                } else {
                    let d = g.c.get_unchecked_mut(lo..row + w);
                    let v = if let Some(dd) = g.c_grad {
                        let c0 = j + t * V::LANES;
                        let dv = V::load_partial(dd.get_unchecked(c0..j + w), 0.0);
                        V::mul(V::load_partial(d, 0.0), V::sub(acc[i][t], dv))
                    } else if g.accumulate {
                        V::add(acc[i][t], old(V::load_partial(d, 0.0)))
                    } else {
                        acc[i][t]
                    };
                    V::store_partial(d, v);
                }
            }
        }
    }
}

/// [`store`] of a product whose result goes out (see [`OutRows`]): the
/// value that `store` would put in C (a plain write, or C's old value,
/// rescaled when asked, plus the product), times the row's factor, written
/// to the output. A function of its own so that the other products' stores
/// keep their code (the output branch inside `store`'s loop cost the AVX-512
/// causal T = 1024 forward 2 %).
///
/// # Safety
/// As [`store`]; `o` came from `OutRows::new` for this product.
#[inline(always)]
unsafe fn store_out<V: F32Vec, const R: usize, const NV: usize, const FULL: bool>(
    g: &Gemm<'_>,
    o: OutRows<'_>,
    acc: &[[V::V; NV]; R],
    (i0, j, w): (usize, usize, usize),
) {
    for i in 0..R {
        let row = (i0 + i) * g.ldc + j;
        // SAFETY (whole row): the caller has V's ISA; `tile::run_gemm`
        // checked c_scale.len() ≥ m and the factors (`OutRows::check`); C's
        // row i0 + i holds columns j..j + w; the output's row i0 + i holds
        // them too and is this product's alone (`OutRows::new`).
        unsafe {
            let m = V::splat(o.factor(i0 + i));
            let scale = g.c_scale.map(|s| V::splat(*s.get_unchecked(i0 + i)));
            let dst = o.ptr.add((i0 + i) * o.rs + j);
            for t in 0..NV {
                let lo = row + t * V::LANES;
                let full = FULL || (t + 1) * V::LANES <= w;
                let n = if full { V::LANES } else { w - t * V::LANES };
                let v = if g.accumulate {
                    let c = g.c.get_unchecked(lo..lo + n);
                    let c = if full {
                        V::load(c)
                    } else {
                        V::load_partial(c, 0.0)
                    };
                    V::add(acc[i][t], scale.map_or(c, |s| V::mul(c, s)))
                } else {
                    acc[i][t]
                };
                let d = std::slice::from_raw_parts_mut(dst.add(t * V::LANES), n);
                if full {
                    V::store(d, V::mul(v, m));
                } else {
                    V::store_partial(d, V::mul(v, m));
                }
            }
        }
    }
}

/// `x *= scale`, returns `max(x)`.
pub(super) struct ScaleMax<'a> {
    pub x: &'a mut [f32],
    pub scale: f32,
}

impl Kernel for ScaleMax<'_> {
    type Output = f32;
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) -> f32 {
        let (n, l) = (self.x.len(), V::LANES);
        let x = self.x;
        let s = V::splat(self.scale);
        let mut mx = V::splat(f32::NEG_INFINITY);
        let mut i = 0;
        while i + l <= n {
            let v = V::mul(V::load(&x[i..]), s);
            V::store(&mut x[i..], v);
            mx = V::max(mx, v);
            i += l;
        }
        if i < n {
            let v = V::mul(V::load_partial(&x[i..], 0.0), s);
            V::store_partial(&mut x[i..], v);
            // Reloaded with −∞ in the missing lanes, so they never win.
            mx = V::max(mx, V::load_partial(&x[i..], f32::NEG_INFINITY));
        }
        V::hmax(mx)
    }
}

/// `out[i] = max_r` (or `Σ_r`, rows in order) `x[r·ld + i]`, over `out.len()`
/// columns; `out` holds the identity (−∞ or 0) on entry. Bounds checked by
/// `tile::col_reduce`, `rows ≥ 1`.
pub(super) struct ColReduce<'a> {
    pub x: &'a [f32],
    pub ld: usize,
    pub rows: usize,
    pub out: &'a mut [f32],
    pub max: bool,
}

impl Kernel for ColReduce<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        let (n, l, ld) = (self.out.len(), V::LANES, self.ld);
        let (x, out) = (self.x, self.out);
        let max = self.max;
        #[inline(always)]
        unsafe fn op<V: F32Vec>(max: bool, a: V::V, v: V::V) -> V::V {
            // SAFETY: the caller has V's ISA.
            unsafe {
                if max {
                    V::max(a, v)
                } else {
                    V::add(a, v)
                }
            }
        }
        let mut i = 0;
        // One vector of columns at a time, all rows into it (in order).
        while i + l <= n {
            let mut acc = V::load(&out[i..]);
            for r in 0..self.rows {
                acc = op::<V>(max, acc, V::load(&x[r * ld + i..]));
            }
            V::store(&mut out[i..], acc);
            i += l;
        }
        if i < n {
            let mut acc = V::load_partial(&out[i..n], 0.0);
            for r in 0..self.rows {
                acc = op::<V>(max, acc, V::load_partial(&x[r * ld + i..r * ld + n], 0.0));
            }
            V::store_partial(&mut out[i..n], acc);
        }
    }
}

/// Row r of `x` (`x[r·ld..]`) set to −∞ at the columns `i < r + d`, `i <
/// width`; bounds checked by `tile::neg_inf_before`.
pub(super) struct NegInfBefore<'a> {
    pub x: &'a mut [f32],
    pub ld: usize,
    pub rows: usize,
    pub width: usize,
    pub d: isize,
}

impl Kernel for NegInfBefore<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        let (l, ninf) = (V::LANES, V::splat(f32::NEG_INFINITY));
        for r in 0..self.rows {
            let cut = (r as isize + self.d).clamp(0, self.width as isize) as usize;
            let row = &mut self.x[r * self.ld..r * self.ld + cut];
            let mut i = 0;
            // SAFETY (stores): i + l ≤ cut, or the partial tail i..cut.
            unsafe {
                while i + l <= cut {
                    V::store(&mut row[i..], ninf);
                    i += l;
                }
                if i < cut {
                    V::store_partial(&mut row[i..], ninf);
                }
            }
        }
    }
}

/// `x = exp(x − sub)`, returns `Σ x`.
pub(super) struct ExpSum<'a> {
    pub x: &'a mut [f32],
    pub sub: f32,
}

impl Kernel for ExpSum<'_> {
    type Output = f32;
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) -> f32 {
        let (n, l) = (self.x.len(), V::LANES);
        let x = self.x;
        let s = V::splat(self.sub);
        let mut acc = V::splat(0.0);
        let mut i = 0;
        while i + l <= n {
            let v = V::exp(V::sub(V::load(&x[i..]), s));
            V::store(&mut x[i..], v);
            acc = V::add(acc, v);
            i += l;
        }
        if i < n {
            let v = V::exp(V::sub(V::load_partial(&x[i..], 0.0), s));
            V::store_partial(&mut x[i..], v);
            // Reloaded with 0 in the missing lanes.
            acc = V::add(acc, V::load_partial(&x[i..], 0.0));
        }
        V::hsum(acc)
    }
}

/// `x[r·ld + i] = exp(x[r·ld + i]·scale − sub[i])` for `r < rows`, `i < width`.
pub(super) struct ExpScaledSub<'a> {
    pub x: &'a mut [f32],
    pub ld: usize,
    pub rows: usize,
    pub width: usize,
    pub scale: f32,
    /// `width` elements.
    pub sub: &'a [f32],
    /// When given (`width` elements): set to the column sums of the result,
    /// `Σ_r x[r·ld + i]`, rows added in order from 0 (as `ColReduce`).
    pub sums: Option<&'a mut [f32]>,
    /// `Some(d)`: the caller has set row r to −∞ at the columns `i < r + d`
    /// (a causal mask), so a vector of a row wholly below that cut is
    /// exactly 0 and may be stored as 0 without an exp (the x86 bodies do;
    /// the same result either way).
    pub masked_before: Option<isize>,
}

impl Kernel for ExpScaledSub<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        let s = V::splat(self.scale);
        for r in 0..self.rows {
            let x = &mut self.x[r * self.ld..r * self.ld + self.width];
            // The promised −∞ prefix of the row is 0 without an exp.
            let cut = self.masked_before.map_or(0, |d| {
                (r as isize + d).clamp(0, self.width as isize) as usize
            });
            x[..cut].fill(0.0);
            exp_scaled_sub_row::<V>(&mut x[cut..], s, &self.sub[cut..]);
        }
        if let Some(out) = self.sums {
            out.fill(0.0);
            let (x, ld, rows) = (&*self.x, self.ld, self.rows);
            // SAFETY: the caller has V's ISA; bounds as checked for x.
            unsafe {
                ColReduce {
                    x,
                    ld,
                    rows,
                    out,
                    max: false,
                }
                .run::<V>()
            }
        }
    }
}

/// # Safety
/// The CPU has `V`'s ISA; `sub.len() ≥ x.len()`.
#[inline(always)]
unsafe fn exp_scaled_sub_row<V: F32Vec>(x: &mut [f32], s: V::V, sub: &[f32]) {
    let (n, l) = (x.len(), V::LANES);
    let mut i = 0;
    // SAFETY (loads and stores): i + l ≤ n ≤ sub.len(), or a partial tail.
    unsafe {
        while i + l <= n {
            let v = V::fms(V::load(&x[i..]), s, V::load(&sub[i..]));
            V::store(&mut x[i..], V::exp(v));
            i += l;
        }
        if i < n {
            let v = V::fms(
                V::load_partial(&x[i..], 0.0),
                s,
                V::load_partial(&sub[i..n], 0.0),
            );
            V::store_partial(&mut x[i..], V::exp(v));
        }
    }
}

/// `p[r·ld + i] = p[r·ld + i]·(dp[r·ld + i] − d[i])` for `r < rows`, `i < width`.
pub(super) struct SoftmaxGrad<'a> {
    pub p: &'a mut [f32],
    pub dp: &'a [f32],
    pub ld: usize,
    pub rows: usize,
    pub width: usize,
    /// `width` elements.
    pub d: &'a [f32],
}

impl Kernel for SoftmaxGrad<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        let (n, l, d) = (self.width, V::LANES, self.d);
        for r in 0..self.rows {
            let p = &mut self.p[r * self.ld..r * self.ld + n];
            let dp = &self.dp[r * self.ld..r * self.ld + n];
            let mut i = 0;
            while i + l <= n {
                let g = V::sub(V::load(&dp[i..]), V::load(&d[i..]));
                let v = V::mul(V::load(&p[i..]), g);
                V::store(&mut p[i..], v);
                i += l;
            }
            if i < n {
                let g = V::sub(
                    V::load_partial(&dp[i..n], 0.0),
                    V::load_partial(&d[i..n], 0.0),
                );
                let v = V::mul(V::load_partial(&p[i..], 0.0), g);
                V::store_partial(&mut p[i..], v);
            }
        }
    }
}

/// `Σ a[i]·b[i]`; `b` as long as `a`.
pub(super) struct Dot<'a> {
    pub a: &'a [f32],
    pub b: &'a [f32],
}

impl Kernel for Dot<'_> {
    type Output = f32;
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) -> f32 {
        let (a, b) = (self.a, self.b);
        let (n, l) = (a.len(), V::LANES);
        let (mut acc0, mut acc1) = (V::splat(0.0), V::splat(0.0));
        let mut i = 0;
        while i + 2 * l <= n {
            acc0 = V::fma(V::load(&a[i..]), V::load(&b[i..]), acc0);
            acc1 = V::fma(V::load(&a[i + l..]), V::load(&b[i + l..]), acc1);
            i += 2 * l;
        }
        while i < n {
            let e = (i + l).min(n);
            acc0 = V::fma(
                V::load_partial(&a[i..e], 0.0),
                V::load_partial(&b[i..e], 0.0),
                acc0,
            );
            i += l;
        }
        V::hsum(V::add(acc0, acc1))
    }
}

/// `out[r] = Dot(a row r, b row r)` over `width` elements; bounds checked
/// by `tile::dot_rows`.
pub(super) struct DotRows<'a> {
    pub a: &'a [f32],
    pub lda: usize,
    pub b: &'a [f32],
    pub ldb: usize,
    pub width: usize,
    pub out: &'a mut [f32],
}

impl Kernel for DotRows<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        let w = self.width;
        for (r, o) in self.out.iter_mut().enumerate() {
            let (a, b) = (&self.a[r * self.lda..][..w], &self.b[r * self.ldb..][..w]);
            // SAFETY: the caller has V's ISA.
            *o = unsafe { Dot { a, b }.run::<V>() };
        }
    }
}

/// `y = alpha·y + w·x`; `x` as long as `y`.
pub(super) struct ScaleAxpy<'a> {
    pub y: &'a mut [f32],
    pub alpha: f32,
    pub w: f32,
    pub x: &'a [f32],
}

impl Kernel for ScaleAxpy<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        let (y, x) = (self.y, self.x);
        let (al, wv) = (V::splat(self.alpha), V::splat(self.w));
        let (n, l) = (y.len(), V::LANES);
        let mut i = 0;
        while i + l <= n {
            let v = V::fma(V::load(&x[i..]), wv, V::mul(V::load(&y[i..]), al));
            V::store(&mut y[i..], v);
            i += l;
        }
        if i < n {
            let v = V::fma(
                V::load_partial(&x[i..n], 0.0),
                wv,
                V::mul(V::load_partial(&y[i..], 0.0), al),
            );
            V::store_partial(&mut y[i..], v);
        }
    }
}
