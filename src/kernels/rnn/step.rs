//! The recurrent GEMM of one time step: `C = beta·C + A·W` for a block of
//! batch rows, where W (W_hhᵀ forward, W_hh backward) is packed once per
//! sequence and A and C are small dense row-major buffers.
//!
//! Each step multiplies a few rows (a thread's share of the batch) by the
//! whole weight, so the weight, not A, is what streams: it is packed in K
//! slices shallow enough that one slice of one NR-column panel, with one
//! tile's A rows, stays in three quarters of L1 while every MR-row tile of
//! the block reuses it, but at least 128 deep (see [`slice_depth`]). (The general
//! [`PackedB`](crate::kernels::gemm::packed_b::PackedB) uses 512-deep
//! slices: an AVX-512 panel of them is 128 KiB and was re-read from L2 by
//! every 6-row tile. Half of L1, 96 deep on AVX-512 with 48 KiB L1d, cost
//! 7 % of an LSTM forward in slice overhead against 128.) The slice depth depends on the ISA and the L1 size
//! only, never on the thread count, and every C element sums its slices in
//! the same order whichever rows or panels a task holds: results do not
//! depend on how the batch is cut or on the number of threads.
//!
//! # Shapes
//! - packed `w`: k × n; `a`: m × k (row stride `lda`, readable for
//!   `m.div_ceil(MR)·MR` rows); `c`: m × n (row stride `ldc`)

use rayon::prelude::*;

use super::OP;
use crate::error::Result;
use crate::kernels::gemm::blocking::cache_sizes;
use crate::kernels::gemm::kernel::{MicroKernel, Tile};
use crate::kernels::gemm::pack::MatRef;
use crate::kernels::gemm::Strides;
use crate::simd::{isa, Isa};

/// A weight packed for [`StepW::mul`]: K slices of depth `kc`, each as
/// `n.div_ceil(NR)` zero-padded panels of `kc·NR` floats.
#[derive(Debug)]
pub(super) struct StepW {
    k: usize,
    n: usize,
    kc: usize,
    mr: usize,
    nr: usize,
    isa: Isa,
    /// The panels, from `data[off]` on: 64-byte aligned (see [`LINE`]).
    data: Vec<f32>,
    off: usize,
}

/// Bytes of a cache line. The packed panels start on a line boundary: the
/// allocator promises 16 bytes only, and a panel 16 or 32 bytes off makes
/// every 64-byte AVX-512 load of it (every second AVX2 load) straddle two
/// lines; which offset a call got varied between calls and processes.
const LINE: usize = 64;

/// K-slice depth for panels `nr` wide with `mr`-row tiles: one panel slice
/// and one tile's A rows fill at most three quarters of L1d (the rest holds
/// the C tile and the next A rows), a multiple of 16 in 128..=512.
///
/// The floor of 128: every slice costs each tile a call, a C-tile update and
/// a pipeline refill, and below 128 steps that outweighs keeping the slice
/// in L1. The AVX-512 6×64 panels on a 32 KiB L1d (Zen 4) fit 80 steps; 128
/// (a 32 KiB slice, partly re-read from L2) made the LSTM forward 2–5 %
/// faster at H = 256 and 3–6 % at H = 512–1024, GRU and RNN forwards 0–4 %,
/// forward+backward unchanged. With a 48 KiB L1d the rule gives 128 anyway.
fn slice_depth(mr: usize, nr: usize) -> usize {
    let fit = cache_sizes().l1d * 3 / 4 / ((mr + nr) * std::mem::size_of::<f32>());
    (fit / 16 * 16).clamp(128, 512)
}

impl StepW {
    /// Packs the k × n matrix `b` (the argument `arg`) read through strides
    /// `s` (`s.batch` ignored).
    pub(super) fn new(arg: &str, b: &[f32], s: Strides, k: usize, n: usize) -> Result<Self> {
        crate::error::check_extent(OP, arg, b.len(), &[k, n], &[s.row, s.col])?;
        let level = isa();
        let (mr, nr, kc, data) = match level {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => pack::<crate::kernels::gemm::kernel_avx512::Avx512>(b, s, k, n)?,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => pack::<crate::kernels::gemm::kernel_avx2::Avx2>(b, s, k, n)?,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => pack::<crate::kernels::gemm::kernel_neon::Neon>(b, s, k, n)?,
            _ => pack::<crate::kernels::gemm::kernel_scalar::Scalar>(b, s, k, n)?,
        };
        let off = aligned_start(&data);
        Ok(StepW {
            k,
            n,
            kc,
            mr,
            nr,
            isa: level,
            data,
            off,
        })
    }

    /// Rows of A per microkernel call: A buffers hold whole multiples of it.
    pub(super) fn mr(&self) -> usize {
        self.mr
    }

    /// `c[..m] = beta·c + a[..m]·W (+ bias)`, the bias (n) added to every
    /// row. `parallel` splits the panels over the pool (for a block that is
    /// the whole batch); every element gets the same arithmetic either way.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn mul(
        &self,
        m: usize,
        a: &[f32],
        lda: usize,
        c: &mut [f32],
        ldc: usize,
        beta: f32,
        bias: Option<&[f32]>,
        parallel: bool,
    ) {
        let rows = m.div_ceil(self.mr) * self.mr;
        assert!(
            self.isa == isa()
                && lda >= self.k
                && ldc >= self.n
                && a.len() >= (rows - 1) * lda + self.k
                && (m == 0 || c.len() >= (m - 1) * ldc + self.n)
                && bias.is_none_or(|b| b.len() >= self.n),
            "rnn: step GEMM operands do not fit the packed weight"
        );
        if m == 0 {
            return;
        }
        let call = Call {
            w: self,
            m,
            a,
            lda,
            c: CPtr(c.as_mut_ptr()),
            ldc,
            beta,
            bias,
        };
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => call.run::<crate::kernels::gemm::kernel_avx512::Avx512>(parallel),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => call.run::<crate::kernels::gemm::kernel_avx2::Avx2>(parallel),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => call.run::<crate::kernels::gemm::kernel_neon::Neon>(parallel),
            _ => call.run::<crate::kernels::gemm::kernel_scalar::Scalar>(parallel),
        }
    }
}

type Packed = (usize, usize, usize, Vec<f32>);

/// Every K slice of `b` in `K`'s panel layout: (MR, NR, slice depth, data).
fn pack<K: MicroKernel>(b: &[f32], s: Strides, k: usize, n: usize) -> Result<Packed> {
    let (nr, kc) = (K::NR, slice_depth(K::MR, K::NR));
    let width = n.div_ceil(nr) * nr;
    // LINE bytes of slack in front, so the panels can start on a line.
    let pad = LINE / std::mem::size_of::<f32>();
    let mut data = crate::kernels::alloc::try_zeros(OP, &[k * width + pad])?;
    let off = aligned_start(&data);
    let src = MatRef {
        data: b,
        off: 0,
        rs: s.row,
        cs: s.col,
    };
    for (q, dst) in data[off..off + k * width]
        .chunks_mut(kc * width)
        .enumerate()
    {
        let p0 = q * kc;
        K::pack_b(dst, src.at(p0, 0), kc.min(k - p0), n, true);
    }
    Ok((K::MR, nr, kc, data))
}

/// The first index of `data` whose address is a multiple of [`LINE`] (less
/// than `LINE / 4`: f32s are 4-byte aligned). The buffer never reallocates,
/// so the index stays valid for its life.
fn aligned_start(data: &[f32]) -> usize {
    data.as_ptr().align_offset(LINE)
}

/// C's base pointer, shared by the panel tasks of one product.
#[derive(Clone, Copy)]
struct CPtr(*mut f32);

// SAFETY: each task writes only the columns of its own panels of C, so no
// two tasks touch the same element; `mul` borrows C mutably for the call.
unsafe impl Send for CPtr {}
// SAFETY: as for Send.
unsafe impl Sync for CPtr {}

/// One product, its operands checked by [`StepW::mul`].
struct Call<'a> {
    w: &'a StepW,
    m: usize,
    a: &'a [f32],
    lda: usize,
    c: CPtr,
    ldc: usize,
    beta: f32,
    /// n floats, or none.
    bias: Option<&'a [f32]>,
}

/// Panels per parallel task: at least this many multiply-adds each.
const TASK_MACS: usize = 1 << 18;

impl Call<'_> {
    fn run<K: MicroKernel>(&self, parallel: bool) {
        assert!(
            K::available() && K::NR == self.w.nr && K::MR == self.w.mr,
            "{OP}: the {} microkernel does not match this CPU or the packing",
            K::NAME
        );
        let (k, nr) = (self.w.k, self.w.nr);
        let panels = self.w.n.div_ceil(nr);
        let per = TASK_MACS.div_ceil(self.m * k * nr).max(1);
        if parallel && panels > per {
            let tasks = panels.div_ceil(per);
            (0..tasks).into_par_iter().for_each(|t| {
                self.panels::<K>(t * per..panels.min((t + 1) * per));
            });
        } else {
            self.panels::<K>(0..panels);
        }
    }

    /// The full-height columns of panels `qs`: per panel, every K slice in
    /// order, each slice reused by all the MR-row tiles while it is in L1.
    fn panels<K: MicroKernel>(&self, qs: std::ops::Range<usize>) {
        let w = self.w;
        let (k, n, kc, mr, nr) = (w.k, w.n, w.kc, w.mr, w.nr);
        let width = n.div_ceil(nr) * nr;
        for q in qs {
            let col = q * nr;
            for p0 in (0..k).step_by(kc) {
                let depth = kc.min(k - p0);
                let panel = &w.data[w.off + p0 * width + q * depth * nr..][..depth * nr];
                for ir in (0..self.m).step_by(mr) {
                    let tile = Tile {
                        k: depth,
                        a: self.a[ir * self.lda + p0..].as_ptr(),
                        a_rs: self.lda,
                        a_cs: 1,
                        b: panel.as_ptr(),
                        b_rs: nr,
                        c: self.c.0.wrapping_add(ir * self.ldc + col),
                        c_rs: self.ldc,
                        c_cs: 1,
                        alpha: 1.0,
                        beta: if p0 == 0 { self.beta } else { 1.0 },
                        m: mr.min(self.m - ir),
                        n: nr.min(n - col),
                        // Added once, with the first K slice.
                        bias: match self.bias {
                            Some(b) if p0 == 0 => b[col..].as_ptr(),
                            _ => std::ptr::null(),
                        },
                    };
                    // SAFETY: K::available() was asserted. A: MR rows from
                    // row ir at stride lda, `depth` columns from p0, lie inside
                    // `a` (`mul` checked `a` covers the MR-padded rows). B: the
                    // panel slice holds depth·NR floats. C: the m × n tile at
                    // (ir, col) is inside C (checked in `mul`) and in this
                    // task's panels only. The bias, when given, holds n
                    // floats (checked in `mul`), so columns col.. of the tile.
                    unsafe { K::run(&tile) }
                }
            }
        }
    }
}

/// Zeros for a block's A buffer: `rows` rounded up to whole MR-row tiles.
pub(super) fn padded(rows: usize, mr: usize, cols: usize) -> Result<Vec<f32>> {
    crate::kernels::alloc::try_zeros(OP, &[rows.div_ceil(mr) * mr, cols])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_panels_start_on_a_cache_line_and_hold_the_weight() {
        // Odd shapes (tails in K and N, several K slices) and several allocations
        // (the allocator's offsets vary): every panel base is line-aligned
        // and the product still equals the plain one.
        for (k, n) in [(1, 1), (2, 5), (7, 33), (37, 130), (300, 17)] {
            let b: Vec<f32> = (0..k * n).map(|v| (v % 13) as f32 - 6.0).collect();
            for _ in 0..3 {
                let w = StepW::new("w", &b, Strides::row_major(k, n), k, n).unwrap();
                let base = w.data[w.off..].as_ptr() as usize;
                assert_eq!(base % LINE, 0, "k {k} n {n}: panels not line-aligned");
                let m: usize = 3;
                let a: Vec<f32> = (0..m.div_ceil(w.mr()) * w.mr() * k)
                    .map(|v| (v % 7) as f32 - 3.0)
                    .collect();
                let mut c = vec![0.0f32; m * n];
                w.mul(m, &a, k, &mut c, n, 0.0, None, false);
                for r in 0..m {
                    for j in 0..n {
                        let want: f64 = (0..k)
                            .map(|p| f64::from(a[r * k + p]) * f64::from(b[p * n + j]))
                            .sum();
                        assert_eq!(f64::from(c[r * n + j]), want, "k {k} n {n} ({r}, {j})");
                    }
                }
            }
        }
    }
}
