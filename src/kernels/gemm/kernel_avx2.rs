//! AVX2+FMA 6×16 microkernel: 12 ymm accumulators (6 rows × 2 vectors), two
//! B vectors and one broadcast of A per step of K (16 registers in all), the
//! shape of the BLIS and OpenBLAS Haswell kernels.
//!
//! With 16 registers the loop has no slack: 12 FMAs per step of K take 6
//! cycles on two FMA pipes, so the 8 loads and the loop's integer work must
//! fit beside them. The first version computed the 6 broadcast addresses of
//! a strided A by a chain of 5 dependent adds per step (about 5 cycles, with
//! 29 µops per step for a 4-wide front end: 70–80 % of peak). Now the A access
//! is a compile-time mode — packed (constant offsets), rows read in place
//! (one base per row, indexed by the step) or any strides — and K is unrolled
//! by 4, so a packed step is 12 FMAs, 2 loads and 6 broadcasts with
//! immediate offsets and a quarter of the pointer updates.
//!
//! Edge tiles with fewer rows run the same body with `R < 6` rows (chosen per
//! call, as in the AVX-512 kernel), so a 2-row edge does 4 FMAs per step, not 12.

use std::arch::x86_64::*;

use super::kernel::{row_times_block, store_partial, MicroKernel, Tile};
use super::pack::{self, MatRef};

const MR: usize = 6;
const NR: usize = 16;

#[derive(Debug, Clone, Copy)]
pub struct Avx2;

impl MicroKernel for Avx2 {
    const MR: usize = MR;
    const NR: usize = NR;
    const NAME: &'static str = "avx2";

    fn available() -> bool {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }

    fn pack_a(dst: &mut [f32], src: MatRef<'_>, rows: usize, kc: usize, parallel: bool) {
        pack::pack_a::<MR>(dst, src, rows, kc, parallel)
    }

    fn pack_b(dst: &mut [f32], src: MatRef<'_>, kc: usize, cols: usize, parallel: bool) {
        pack::pack_b::<NR>(dst, src, kc, cols, parallel)
    }

    fn pack_b_streaming(dst: &mut [f32], src: MatRef<'_>, kc: usize, cols: usize, parallel: bool) {
        pack::pack_b_with::<NR>(dst, src, kc, cols, parallel, pack::Stores::Streaming)
    }

    fn row_times_block(acc: &mut [f32], a: &[f32], b: MatRef<'_>, j0: usize) {
        assert!(Self::available());
        // SAFETY: AVX2 and FMA are present (checked just above); the body is safe code.
        unsafe { row_times_block_avx2(acc, a, b, j0) }
    }

    unsafe fn run(t: &Tile) {
        // SAFETY: AVX2 and FMA are present (`available()`, caller's contract),
        // and the R-row tile chosen covers the valid m rows inside MR.
        unsafe {
            match t.m {
                1 => by_mode::<1>(t),
                2 => by_mode::<2>(t),
                3 => by_mode::<3>(t),
                4 => by_mode::<4>(t),
                5 => by_mode::<5>(t),
                _ => by_mode::<6>(t),
            }
        }
    }

    const PARTS: bool = true;

    unsafe fn run_part(t: &Tile, acc: &mut [f32], first: bool, last: bool) {
        assert!(t.m <= MR && t.a_rs == 1 && t.a_cs == MR && acc.len() >= MR * NR);
        let acc = acc.as_mut_ptr();
        // SAFETY: AVX2 and FMA are present and A is packed, MR rows per
        // step (caller's contract, checked above; the 6-row body reads the
        // padding of a shorter tile and stores only its m rows); `acc` holds
        // the MR·NR floats the kernel saves or restores.
        unsafe {
            match (first, last) {
                (true, true) => kernel::<MR, PACKED, SINGLE>(t, acc),
                (true, false) => kernel::<MR, PACKED, FIRST>(t, acc),
                (false, false) => kernel::<MR, PACKED, MIDDLE>(t, acc),
                (false, true) => kernel::<MR, PACKED, LAST>(t, acc),
            }
        }
    }
}

/// Which part of a K slice a call runs (see [`MicroKernel::run_part`]):
/// all of it (accumulators start at zero and end in C), its first part
/// (start at zero, saved), a middle part (restored, saved) or its last part
/// (restored, stored into C). `SINGLE` is `WHOLE` for `run_part` (a slice in
/// one part): like `LAST`, it may store fewer rows than it computes.
const WHOLE: u8 = 0;
const FIRST: u8 = 1;
const MIDDLE: u8 = 2;
const LAST: u8 = 3;
const SINGLE: u8 = 4;

/// [`row_times_block`] compiled for AVX2.
#[target_feature(enable = "avx2,fma")]
unsafe fn row_times_block_avx2(acc: &mut [f32], a: &[f32], b: MatRef<'_>, j0: usize) {
    row_times_block(acc, a, b, j0)
}

/// A is packed (`a_rs = 1, a_cs = MR`): step p, row i at `a + p·MR + i`.
const PACKED: u8 = 0;
/// Rows of A read in place (`a_cs = 1`): row i, step p at `a + i·a_rs + p`.
const ROWS: u8 = 1;
/// Any strides: `a + i·a_rs + p·a_cs`.
const ANY: u8 = 2;
/// Columns of A read in place (`a_rs = 1`, a transposed operand such as a
/// Linear layer's dYᵀ in dW = dYᵀ·x): step p, row i at `a + p·a_cs + i`,
/// constant offsets from one base per step, as when packed.
const COLS: u8 = 3;

/// Picks the A access mode of the tile.
///
/// # Safety
/// As [`MicroKernel::run`], with `R ≥ t.m` and `R ≤ MR`.
#[inline(always)]
unsafe fn by_mode<const R: usize>(t: &Tile) {
    // SAFETY: forwarded; each mode reads exactly the elements `i·a_rs + p·a_cs`.
    unsafe {
        if t.a_rs == 1 && t.a_cs == MR {
            kernel::<R, PACKED, WHOLE>(t, std::ptr::null_mut())
        } else if t.a_cs == 1 {
            kernel::<R, ROWS, WHOLE>(t, std::ptr::null_mut())
        } else if t.a_rs == 1 {
            kernel::<R, COLS, WHOLE>(t, std::ptr::null_mut())
        } else {
            kernel::<R, ANY, WHOLE>(t, std::ptr::null_mut())
        }
    }
}

/// An R×16 tile (R ≤ 6) with A read in mode `MODE`, part `PART` of its K
/// slice; `saved` (MR·NR floats, row-major) holds the accumulators between
/// parts and is not touched by a `WHOLE` call (it may be null then).
///
/// # Safety
/// As [`MicroKernel::run`]; for a part other than `WHOLE`, `saved` is valid
/// for MR·NR floats.
#[target_feature(enable = "avx2,fma")]
unsafe fn kernel<const R: usize, const MODE: u8, const PART: u8>(t: &Tile, saved: *mut f32) {
    // Fetch the C tile's lines while the K loop runs, so that its store (and,
    // for a later K slice, its load) does not wait on L2/L3 (1024² and 2048²
    // at 1 thread: 1.0-1.6 % faster; 256², 512² and 2 threads: unchanged).
    // A prefetch never faults, so the wrapping addresses need no checks.
    if PART == WHOLE || PART == LAST || PART == SINGLE {
        for i in 0..R {
            let row = t.c.wrapping_add(i * t.c_rs);
            _mm_prefetch::<_MM_HINT_T0>(row as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(NR - 1) as *const i8);
        }
    }
    let mut acc = [[_mm256_setzero_ps(); 2]; R];
    if PART == MIDDLE || PART == LAST {
        for (i, row) in acc.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                // SAFETY: i < R ≤ MR, so (i, 8j) + 8 ≤ MR·NR floats of `saved`.
                *v = unsafe { _mm256_loadu_ps(saved.add(i * NR + 8 * j)) };
            }
        }
    }
    let (a, rs, cs) = (t.a, t.a_rs, t.a_cs);
    let (b, b_rs) = (t.b, t.b_rs);
    // Address of A(i, p): the mode is a constant, so only one arm is compiled.
    let a_at = |i: usize, p: usize| match MODE {
        PACKED => a.wrapping_add(p * MR + i),
        ROWS => a.wrapping_add(i * rs + p),
        COLS => a.wrapping_add(p * cs + i),
        _ => a.wrapping_add(i * rs + p * cs),
    };
    // One step of K: two B vectors, R broadcasts of A, 2R FMAs.
    let mut step = |p: usize| {
        // SAFETY: p < k, so A(i, p) for i < R ≤ MR and B(p, 0..NR) lie in the
        // micro-panels the caller vouched for.
        unsafe {
            let bp = b.add(p * b_rs);
            let b0 = _mm256_loadu_ps(bp);
            let b1 = _mm256_loadu_ps(bp.add(8));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm256_broadcast_ss(&*a_at(i, p));
                row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
            }
        }
    };
    let k4 = t.k / 4 * 4;
    let mut p = 0;
    while p < k4 {
        step(p);
        step(p + 1);
        step(p + 2);
        step(p + 3);
        p += 4;
    }
    while p < t.k {
        step(p);
        p += 1;
    }
    if PART == FIRST || PART == MIDDLE {
        // The exact f32 accumulators: the next part goes on from them as if
        // the registers had been kept.
        for (i, row) in acc.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                // SAFETY: as for the restore above.
                unsafe { _mm256_storeu_ps(saved.add(i * NR + 8 * j), v) };
            }
        }
        return;
    }
    let alpha = _mm256_set1_ps(t.alpha);
    // Full-width rows with unit column stride: C's own vectors, fused
    // (`beta·C + alpha·acc` in one rounding). Also the m < R rows of the
    // last part of a `run_part` tile (its padding rows are not stored), so
    // that they round as the R = m body of `run` does.
    if (t.m == R || PART != WHOLE) && t.n == NR && t.c_cs == 1 {
        let beta = _mm256_set1_ps(t.beta);
        let mut bias = [_mm256_setzero_ps(); 2];
        if !t.bias.is_null() {
            for (j, b) in bias.iter_mut().enumerate() {
                // SAFETY: the bias is readable at j < n = NR (caller's contract).
                *b = unsafe { _mm256_loadu_ps(t.bias.add(8 * j)) };
            }
        }
        for (i, row) in acc.iter().enumerate() {
            if PART != WHOLE && i >= t.m {
                // (A `run` tile has m = R: this loop stays as it was there.)
                break;
            }
            for (j, &v) in row.iter().enumerate() {
                // SAFETY: row i < m of a tile NR wide with unit column stride.
                unsafe {
                    let dst = t.c.add(i * t.c_rs + 8 * j);
                    let mut out = if t.beta == 0.0 {
                        _mm256_mul_ps(alpha, v)
                    } else {
                        _mm256_fmadd_ps(beta, _mm256_loadu_ps(dst), _mm256_mul_ps(alpha, v))
                    };
                    if !t.bias.is_null() {
                        out = _mm256_add_ps(out, bias[j]);
                    }
                    _mm256_storeu_ps(dst, out);
                }
            }
        }
    } else {
        let mut buf = [0.0f32; MR * NR];
        for (i, row) in acc.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                // SAFETY: buf has MR·NR floats; (i, 8j) + 8 ≤ that for i < R ≤ MR.
                unsafe {
                    _mm256_storeu_ps(
                        buf.as_mut_ptr().add(i * NR + 8 * j),
                        _mm256_mul_ps(alpha, v),
                    )
                };
            }
        }
        // SAFETY: the C contract is the caller's; buf holds the m ≤ R rows.
        unsafe { store_partial(&buf, NR, t) }
    }
}
