//! The generic BLIS driver: five loops around one microkernel, and the
//! threading over the batch and the block grid.
//!
//! ```text
//! loop 5  jc: columns of C, L3-sized slices (NC_L3) of packed B
//! loop 4  pc: K in KC-deep slices; pack B slice (shared by all tasks)
//! loop 3  tasks: the MC×NC grid of C blocks (rayon); pack A block (per task)
//! loop 2  ir: MR-row micro-panels of A, kept in L1
//! loop 1  jr: NR-column micro-panels of B, streamed from L2 → microkernel
//! ```
//!
//! Every block size comes from the problem and the caches, never from the
//! thread count, and each element of C sums its K slices in the same order
//! on any pool, so results are bitwise identical for any number of threads.

use std::ops::Range;

use rayon::prelude::*;

use super::blocking::{cache_sizes, Blocking, CacheSizes};
use super::kernel::{MicroKernel, Tile};
use super::pack::{pack_a, pack_b, MatRef};
use super::scratch::{with_scratch, Slot};
use super::Gemm;
use crate::threads;

/// A matrix product with fewer multiply-adds stays on the calling thread.
const PAR_MIN_MACS: usize = 1 << 20;
/// Batches at least this long are split over items rather than inside them.
const PAR_BATCH_MIN: usize = 8;
/// A with at most this many elements (m·k) and a unit stride is read in
/// place: packing it would cost more than the cache misses it saves.
const DIRECT_A_MAX: usize = 1 << 16;

/// C's base pointer, shared by tasks that write disjoint tiles.
#[derive(Clone, Copy)]
struct CPtr(*mut f32);

// SAFETY: tasks only write through this pointer to disjoint tiles of C (each
// task owns the rows × columns of its grid block, and batch items own
// disjoint matrices; `Gemm::validate` rejected overlapping C strides).
unsafe impl Send for CPtr {}
// SAFETY: as for Send: no two tasks write the same element.
unsafe impl Sync for CPtr {}

impl CPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// One matrix of the batch, with everything the loops need.
struct Problem<'a> {
    a: MatRef<'a>,
    b: MatRef<'a>,
    c: CPtr,
    c_off: usize,
    c_rs: usize,
    c_cs: usize,
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    beta: f32,
    direct_a: bool,
    bl: Blocking,
}

/// `C = alpha·op(A)·op(B) + beta·C` with microkernel `K`, in the caller's rayon pool.
///
/// # Shapes
/// - as [`Gemm`]; the buffers must already have passed `g.validate`.
pub fn gemm<K: MicroKernel>(g: &Gemm, a: &[f32], b: &[f32], c: &mut [f32]) {
    gemm_with_caches::<K>(g, a, b, c, cache_sizes())
}

/// [`gemm`] with given cache sizes (tests use tiny caches to reach every block edge).
pub fn gemm_with_caches<K: MicroKernel>(
    g: &Gemm,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    caches: CacheSizes,
) {
    assert!(
        K::available(),
        "gemm: the {} microkernel needs CPU features this machine lacks",
        K::NAME
    );
    if g.batch == 0 || g.m == 0 || g.n == 0 {
        return;
    }
    if g.k == 0 {
        scale_c(g, c);
        return;
    }
    // The microkernel's vectors run along rows of C: for a column-major C
    // compute Cᵀ = Bᵀ·Aᵀ instead, which is row-major.
    if g.c.col != 1 && g.c.row == 1 {
        let gt = Gemm {
            m: g.n,
            n: g.m,
            a: g.b.t(),
            b: g.a.t(),
            c: g.c.t(),
            ..*g
        };
        batched::<K>(&gt, b, a, c, caches);
    } else {
        batched::<K>(g, a, b, c, caches);
    }
}

/// C = beta·C (C = 0 when beta is 0): the product with k = 0.
fn scale_c(g: &Gemm, c: &mut [f32]) {
    for p in 0..g.batch {
        for i in 0..g.m {
            for j in 0..g.n {
                let x = &mut c[p * g.c.batch + i * g.c.row + j * g.c.col];
                *x = if g.beta == 0.0 { 0.0 } else { g.beta * *x };
            }
        }
    }
}

/// Runs the batch: small items in parallel over the batch (each on one
/// thread), large ones one after the other with the block grid in parallel.
fn batched<K: MicroKernel>(g: &Gemm, a: &[f32], b: &[f32], c: &mut [f32], caches: CacheSizes) {
    let macs = g.m * g.n * g.k;
    let bl = Blocking::new(caches, K::MR, K::NR, g.m, g.n, g.k);
    let direct_a = (g.a.col == 1 || g.a.row == 1) && g.m * g.k <= DIRECT_A_MAX;
    let c = CPtr(c.as_mut_ptr());
    let item = |p: usize, parallel: bool| {
        let prob = Problem {
            a: MatRef {
                data: a,
                off: p * g.a.batch,
                rs: g.a.row,
                cs: g.a.col,
            },
            b: MatRef {
                data: b,
                off: p * g.b.batch,
                rs: g.b.row,
                cs: g.b.col,
            },
            c,
            c_off: p * g.c.batch,
            c_rs: g.c.row,
            c_cs: g.c.col,
            m: g.m,
            n: g.n,
            k: g.k,
            alpha: g.alpha,
            beta: g.beta,
            direct_a,
            bl,
        };
        single::<K>(&prob, parallel);
    };
    if g.batch > 1 && (macs < PAR_MIN_MACS || g.batch >= PAR_BATCH_MIN) {
        let chunk = threads::chunk_len(g.batch, macs, PAR_MIN_MACS);
        (0..g.batch)
            .into_par_iter()
            .with_min_len(chunk)
            .for_each(|p| item(p, false));
    } else {
        for p in 0..g.batch {
            item(p, macs >= PAR_MIN_MACS);
        }
    }
}

/// Loops 5 and 4 and the task grid of one matrix.
fn single<K: MicroKernel>(p: &Problem<'_>, parallel: bool) {
    let bl = p.bl;
    // Loop 5: columns of C, one L3-sized slice of packed B at a time.
    for jc in (0..p.n).step_by(bl.nc_l3) {
        let ncols = bl.nc_l3.min(p.n - jc);
        let panels = ncols.div_ceil(K::NR);
        // Loop 4: K in KC-deep slices, accumulated into C in order.
        for pc in (0..p.k).step_by(bl.kc) {
            let kc = bl.kc.min(p.k - pc);
            let beta = if pc == 0 { p.beta } else { 1.0 };
            with_scratch(Slot::B, panels * kc * K::NR, |bpack| {
                pack_b(bpack, K::NR, p.b.at(pc, jc), kc, ncols, parallel);
                let bpack = &*bpack;
                let nblocks = ncols.div_ceil(bl.nc);
                let tasks = p.m.div_ceil(bl.mc) * nblocks;
                // Loop 3: the grid of MC×NC blocks of C, one task each.
                let task = |t: usize| {
                    let (ib, jb) = (t / nblocks, t % nblocks);
                    let rows = ib * bl.mc..p.m.min((ib + 1) * bl.mc);
                    let cols = jb * bl.nc..ncols.min((jb + 1) * bl.nc);
                    block::<K>(p, bpack, pc..pc + kc, jc, rows, cols, beta);
                };
                if parallel && tasks > 1 {
                    (0..tasks).into_par_iter().for_each(task);
                } else {
                    (0..tasks).for_each(task);
                }
            });
        }
    }
}

/// One task: rows × (jc + cols) of C over the K slice `ks`, with the packed
/// B slice `bpack` (panels numbered from column `jc`).
fn block<K: MicroKernel>(
    p: &Problem<'_>,
    bpack: &[f32],
    ks: Range<usize>,
    jc: usize,
    rows: Range<usize>,
    cols: Range<usize>,
    beta: f32,
) {
    let (mr, nr, kc) = (K::MR, K::NR, ks.len());
    let alen = if p.direct_a {
        mr * kc
    } else {
        rows.len().div_ceil(mr) * kc * mr
    };
    with_scratch(Slot::A, alen, |apack| {
        if !p.direct_a {
            pack_a(apack, mr, p.a.at(rows.start, ks.start), rows.len(), kc);
        }
        // Loop 2: MR-row micro-panels of A.
        for (q, ir) in rows.clone().step_by(mr).enumerate() {
            let mv = mr.min(rows.end - ir);
            let (a_ptr, a_rs, a_cs) = if !p.direct_a {
                (apack[q * kc * mr..].as_ptr(), 1, mr)
            } else if mv == mr {
                let src = p.a.at(ir, ks.start);
                (src.data[src.off..].as_ptr(), src.rs, src.cs)
            } else {
                // The last rows of an in-place A: pad them to a full panel.
                pack_a(apack, mr, p.a.at(ir, ks.start), mv, kc);
                (apack.as_ptr(), 1, mr)
            };
            // Loop 1: NR-column micro-panels of B → microkernel.
            for jr in cols.clone().step_by(nr) {
                let bpanel = &bpack[(jr / nr) * kc * nr..][..kc * nr];
                let tile = Tile {
                    k: kc,
                    a: a_ptr,
                    a_rs,
                    a_cs,
                    b: bpanel.as_ptr(),
                    c: p.c
                        .get()
                        .wrapping_add(p.c_off + ir * p.c_rs + (jc + jr) * p.c_cs),
                    c_rs: p.c_rs,
                    c_cs: p.c_cs,
                    alpha: p.alpha,
                    beta,
                    m: mv,
                    n: nr.min(cols.end - jr),
                };
                // SAFETY: `gemm` asserted K::available(). A: packed panels hold
                // kc·MR floats; an in-place panel is a full MR×kc block of A,
                // inside `a` by `Gemm::validate`. B: `bpanel` holds kc·NR floats.
                // C: the m×n tile at (ir, jc + jr) lies inside this matrix of C
                // (validated extent) and inside this task's block, which no
                // other task writes.
                unsafe { K::run(&tile) }
            }
        }
    });
}
