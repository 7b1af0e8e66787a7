//! B packed once, multiplied many times: `C = alpha·A·B + beta·C` where B was
//! packed into the microkernel's NR-column panels ahead of time. An RNN step
//! multiplies a new state by the same weight T times per sequence; packing
//! the weight once saves T − 1 copies of it.
//!
//! The work is split into tasks of (MR-aligned row block) × (group of B
//! panels) whose sizes depend only on the problem; each task owns its C tile
//! and sums the K slices in order, so results do not depend on the thread
//! count.
//!
//! # Shapes
//! - `a`: m × k (any strides), packed `b`: k × n, `c`: m × n (any strides)

use rayon::prelude::*;

use super::driver::CPtr;
use super::kernel::{MicroKernel, Tile};
use super::pack::MatRef;
use super::{Gemm, Strides};
use crate::error::{KernelError, Result};
use crate::simd::{isa, Isa};

/// Depth of one packed K slice (one microkernel call streams kc·NR floats of B).
const KC: usize = 512;
/// Multiply-adds per task: at least this much work before splitting.
const TASK_MACS: usize = 1 << 18;

/// A k × n matrix in the packed layout of the microkernel of the ISA in use:
/// K slices of depth ≤ KC, each as `n.div_ceil(NR)` panels of `kc·NR` floats.
#[derive(Debug, Clone)]
pub struct PackedB {
    k: usize,
    n: usize,
    mr: usize,
    nr: usize,
    isa: Isa,
    data: Vec<f32>,
}

impl PackedB {
    /// Packs the k × n matrix `b` read through strides `s` (`s.batch` ignored).
    pub fn new(b: &[f32], s: Strides, k: usize, n: usize) -> Result<Self> {
        crate::error::check_extent("matmul", "b", b.len(), &[k, n], &[s.row, s.col])?;
        let level = isa();
        let (mr, nr, data) = match level {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => pack_all::<super::kernel_avx512::Avx512>(b, s, k, n),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => pack_all::<super::kernel_avx2::Avx2>(b, s, k, n),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => pack_all::<super::kernel_neon::Neon>(b, s, k, n),
            _ => pack_all::<super::kernel_scalar::Scalar>(b, s, k, n),
        };
        Ok(PackedB {
            k,
            n,
            mr,
            nr,
            isa: level,
            data,
        })
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn n(&self) -> usize {
        self.n
    }

    /// Rows of A per microkernel call (row blocks that are multiples of it
    /// need no padded tail panel).
    pub fn mr(&self) -> usize {
        self.mr
    }
}

/// Every K slice of B in `K`'s panel layout: (MR, NR, data).
fn pack_all<K: MicroKernel>(b: &[f32], s: Strides, k: usize, n: usize) -> (usize, usize, Vec<f32>) {
    let nr = K::NR;
    let panels = n.div_ceil(nr);
    let mut data = crate::kernels::alloc::zeros("matmul", &[k, panels, nr]);
    let src = MatRef {
        data: b,
        off: 0,
        rs: s.row,
        cs: s.col,
    };
    for pc in (0..k).step_by(KC) {
        let kc = KC.min(k - pc);
        let dst = &mut data[pc * panels * nr..(pc + kc) * panels * nr];
        K::pack_b(dst, src.at(pc, 0), kc, n, false);
    }
    (K::MR, nr, data)
}

/// `C = alpha·op(A)·B + beta·C` with a pre-packed B (`g.b` and `g.batch` are
/// ignored: one matrix), in the caller's rayon pool.
pub fn sgemm_packed_b(g: &Gemm, a: &[f32], b: &PackedB, c: &mut [f32]) -> Result<()> {
    dispatch(g, a, b, c, true)
}

/// [`sgemm_packed_b`] on the calling thread only, for callers that are
/// already one task of a parallel loop (an RNN's block of batch rows). Every
/// element gets the same arithmetic as in the parallel version.
pub fn sgemm_packed_b_serial(g: &Gemm, a: &[f32], b: &PackedB, c: &mut [f32]) -> Result<()> {
    dispatch(g, a, b, c, false)
}

fn dispatch(g: &Gemm, a: &[f32], b: &PackedB, c: &mut [f32], parallel: bool) -> Result<()> {
    if g.batch != 1 || g.k != b.k || g.n != b.n {
        return Err(KernelError::shape(
            "matmul",
            format!(
                "packed b: expected one {}×{} operand (batch 1), got batch {}, k {}, n {}",
                b.k, b.n, g.batch, g.k, g.n
            ),
        ));
    }
    let dense = Gemm {
        b: Strides::row_major(b.k, b.n),
        ..*g
    };
    dense.validate(a.len(), b.k * b.n, c.len())?;
    if b.isa != isa() {
        return Err(KernelError::value(
            "matmul",
            "packed b: packed for another instruction set",
        ));
    }
    if g.m == 0 || g.n == 0 {
        return Ok(());
    }
    match b.isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => run::<super::kernel_avx512::Avx512>(g, a, b, c, parallel),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => run::<super::kernel_avx2::Avx2>(g, a, b, c, parallel),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => run::<super::kernel_neon::Neon>(g, a, b, c, parallel),
        _ => run::<super::kernel_scalar::Scalar>(g, a, b, c, parallel),
    }
    Ok(())
}

fn run<K: MicroKernel>(g: &Gemm, a: &[f32], b: &PackedB, c: &mut [f32], parallel: bool) {
    assert!(
        K::available() && K::NR == b.nr,
        "gemm: the {} microkernel does not match this CPU or the packing",
        K::NAME
    );
    let (m, n, k) = (g.m, g.n, g.k);
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                let x = &mut c[i * g.c.row + j * g.c.col];
                *x = if g.beta == 0.0 { 0.0 } else { g.beta * *x };
            }
        }
        return;
    }
    let (mr, nr) = (K::MR, K::NR);
    let panels = n.div_ceil(nr);
    // Task shape from the problem alone: whole MR-row blocks × groups of panels.
    // Serially, one task per panel over all rows: each B panel is streamed
    // once and reused by every row block while it is still in cache.
    let panel_macs = m * k * nr;
    let group = if parallel {
        TASK_MACS.div_ceil(panel_macs.max(1)).clamp(1, panels)
    } else {
        1
    };
    let row_block = if !parallel {
        m
    } else if group == 1 {
        let rows = TASK_MACS.div_ceil((k * nr).max(1));
        rows.div_ceil(mr).max(1) * mr
    } else {
        m
    };
    let row_blocks = m.div_ceil(row_block);
    let groups = panels.div_ceil(group);
    let cp = CPtr(c.as_mut_ptr());
    let a_ref = MatRef {
        data: a,
        off: 0,
        rs: g.a.row,
        cs: g.a.col,
    };
    let task = |t: usize| {
        let (rb, gq) = (t / groups, t % groups);
        let rows = rb * row_block..m.min((rb + 1) * row_block);
        let qs = gq * group..panels.min((gq + 1) * group);
        let mut tail = Vec::new();
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            let beta = if pc == 0 { g.beta } else { 1.0 };
            let slice = &b.data[pc * panels * nr..(pc + kc) * panels * nr];
            for ir in rows.clone().step_by(mr) {
                let mv = mr.min(rows.end - ir);
                let (a_ptr, a_rs, a_cs) = if mv == mr {
                    let src = a_ref.at(ir, pc);
                    (src.data[src.off..].as_ptr(), src.rs, src.cs)
                } else {
                    // The last rows: pad them to a full MR-row panel.
                    tail.resize(mr * kc, 0.0);
                    K::pack_a(&mut tail, a_ref.at(ir, pc), mv, kc, false);
                    (tail.as_ptr(), 1, mr)
                };
                for q in qs.clone() {
                    let col = q * nr;
                    let tile = Tile {
                        k: kc,
                        a: a_ptr,
                        a_rs,
                        a_cs,
                        b: slice[q * kc * nr..(q + 1) * kc * nr].as_ptr(),
                        b_rs: nr,
                        c: cp.get().wrapping_add(ir * g.c.row + col * g.c.col),
                        c_rs: g.c.row,
                        c_cs: g.c.col,
                        alpha: g.alpha,
                        beta,
                        m: mv,
                        n: nr.min(n - col),
                        bias: std::ptr::null(),
                    };
                    // SAFETY: K::available() was asserted. A: a full panel
                    // reads MR rows × kc inside `a` (validated extent); a tail
                    // panel is `tail`, MR·kc floats. B: the panel holds kc·NR
                    // floats. C: the mv × n tile at (ir, col) is inside C
                    // (validated) and inside this task's block, which no other
                    // task writes.
                    unsafe { K::run(&tile) }
                }
            }
        }
    };
    let tasks = row_blocks * groups;
    if parallel && tasks > 1 && m * n * k >= 2 * TASK_MACS {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
}

#[cfg(test)]
mod tests;
