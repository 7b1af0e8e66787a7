//! The generic BLIS driver: five loops around one microkernel, and the
//! threading over the batch and the block grid.
//!
//! ```text
//! loop 5  jc: columns of C, L3-sized slices (NC_L3); pack B's K×NC_L3 slice
//!         └ tasks: blocks of rows of C (rayon), each:
//! loop 4    pc: K in KC-deep slices, accumulated into C in order;
//!               pack this task's rows × KC block of A (L2)
//! loop 3    NC-wide blocks of the B slice (a KC×NC block in L2)
//! loop 2    ir: MR-row micro-panels of A, kept in L1
//! loop 1    jr: NR-column micro-panels of B → microkernel
//! ```
//!
//! Kernels with `run_part` (AVX2) swap loops 2 and 1 there (`panel_major`):
//! each B micro-panel stays in L1 while the task's A block streams past it
//! from L2, and the next panel is prefetched into L2 meanwhile.
//!
//! B's slice is packed in one parallel phase and shared by all tasks through
//! L3; A is packed by each task, one KC slice at a time, right before use,
//! so packed A is read back from L2 and never written out whole (packing
//! all of A up front was a 16 MiB pass through L3 for 2048²). Small A (at
//! most half of L2, `direct_a_max`) is read in place, and the tasks are then
//! the MC×NC grid of C blocks.
//!
//! When A is small enough to stay in L2 and B must be packed, C is split by
//! columns instead (`columns`): each task packs its own B panels, one KC
//! slice at a time, and sweeps all of A read in place past them — one
//! parallel phase, and no packed data written by one core and read by
//! another. The tile grid (MR×NR tiles from the origin, KC slices of K) is
//! the same in both paths.
//!
//! The tile grid and the K slices come from the problem and the caches,
//! never from the thread count (the row-task split uses the pool's size, but
//! only moves whole tiles between tasks), and each element of C sums its K
//! slices in the same order on any pool, so results are bitwise identical
//! for any number of threads.

use std::ops::Range;

use rayon::prelude::*;

use super::blocking::{cache_sizes, Blocking, CacheSizes, MIN_TASKS, MIN_TASK_MACS};
use super::kernel::{store_partial, MicroKernel, Tile};
use super::pack::{prefetch_l2, MatRef};
use super::scratch::{with_scratch, Slot};
use super::Gemm;
use crate::threads;

/// A matrix product with fewer multiply-adds stays on the calling thread.
const PAR_MIN_MACS: usize = 1 << 20;
/// Batches at least this long are split over items rather than inside them.
const PAR_BATCH_MIN: usize = 8;
/// A with at most this many elements (m·k) and a unit stride is always read
/// in place: packing it would cost more than the cache misses it saves.
const DIRECT_A_MAX: usize = 1 << 16;

/// Elements (m·k) up to which A is read in place: `DIRECT_A_MAX`, or half of
/// L2 when that is more. Such an A stays in L2 while every B panel sweeps it,
/// so reading it in place costs little, and packing it is a whole extra pass
/// (a Linear layer's 768×128 input: 6–8 % of the product on Zen 5).
fn direct_a_max(caches: CacheSizes) -> usize {
    DIRECT_A_MAX.max(caches.l2 / 2 / std::mem::size_of::<f32>())
}

/// Whether A is read in place rather than packed: when A is small (at most
/// `direct_a_max`), when C is at most two B micro-panels wide (each A
/// micro-panel meets one or two B panels), and, for a row-major A (rows
/// contiguous along K), when B's KC×N block fits L2: then the grid has at
/// most two blocks of columns (NC fills half of L2), each MR×KC micro-panel
/// of A is loaded into L1 once or twice and meets every column of C, and
/// packing A is a whole extra pass over it. At N = 128 (a Linear layer's
/// dX = dY·W and its forward with a 512-wide input) packing A was 10–13 % of
/// the product on AVX2, and reading it in place 9–10 % faster at 1 thread; a
/// column-major A (dYᵀ in dW) read in place was not faster there and up to
/// 16 % slower at 2048×512×512, so it is still packed. The bound was half of
/// L2 (one block of columns) until the 1 MiB L2 of Zen 4, where 384² and 512²
/// (two blocks) read in place were 2.4–3.9 % faster than packed at 1 and 2
/// threads (AVX2) and 768²–1024² were unchanged.
pub(super) fn reads_a_in_place<K: MicroKernel>(
    g: &Gemm,
    caches: CacheSizes,
    bl: &Blocking,
) -> bool {
    let f = std::mem::size_of::<f32>();
    let narrow_c = g.n.saturating_mul(bl.kc).saturating_mul(f) <= caches.l2;
    (g.a.col == 1 || g.a.row == 1)
        && (g.m.saturating_mul(g.k) <= direct_a_max(caches)
            || g.n <= 2 * K::NR
            || (g.a.col == 1 && narrow_c))
}

/// B with unit column stride is read in place when C has at most this many
/// micro-panel rows (each packed element of B would be used this few times).
const DIRECT_B_MAX_PANELS: usize = 6;

/// B with unit column stride is also read in place when all of it (k·n)
/// fits in half of L1: then every row of a column panel is a hot line
/// whatever B's row stride, and packing would be a pure extra pass (a 64×64
/// B of an attention head: 16 KiB, about 6 % of the product).
fn direct_b_small(caches: CacheSizes, k: usize, n: usize) -> bool {
    k.saturating_mul(n)
        .saturating_mul(std::mem::size_of::<f32>())
        <= caches.l1d / 2
}

/// C's base pointer, shared by tasks that write disjoint tiles (this driver's and
/// `packed_b`'s).
#[derive(Clone, Copy)]
pub(super) struct CPtr(pub(super) *mut f32);

// SAFETY: tasks only write through this pointer to disjoint tiles of C (here each
// task owns the rows × columns of its grid block, and batch items own disjoint
// matrices; in `packed_b` each task owns its row block × panel group); C's extent
// and the non-overlap of its strides were validated before any task starts.
unsafe impl Send for CPtr {}
// SAFETY: as for Send: no two tasks write the same element.
unsafe impl Sync for CPtr {}

impl CPtr {
    pub(super) fn get(self) -> *mut f32 {
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
    direct_b: bool,
    /// Column groups of B panels per task (0: the block grid instead); see [`columns`].
    col_group: usize,
    bl: Blocking,
    /// L2 size in bytes (for [`row_task_count`]).
    l2: usize,
    /// L1d size in bytes (for [`b_panel_parts`]).
    l1d: usize,
    /// Added to every row of C after the last K slice (n floats), if any.
    bias: Option<&'a [f32]>,
}

/// `C = alpha·op(A)·op(B) + beta·C` with microkernel `K`, in the caller's rayon pool.
///
/// # Shapes
/// - as [`Gemm`]; the buffers must already have passed `g.validate`.
pub fn gemm<K: MicroKernel>(g: &Gemm, a: &[f32], b: &[f32], c: &mut [f32]) {
    gemm_with_caches::<K>(g, a, b, c, None, cache_sizes())
}

/// [`gemm`] plus a bias row added to every row of C in the microkernel's
/// store (`C = alpha·op(A)·op(B) + beta·C + bias`), the fused Linear forward.
///
/// # Shapes
/// - as [`Gemm`]; `bias`: n (a column-major C is not transposed then: the
///   bias must run along the microkernel's vectors).
pub fn gemm_bias<K: MicroKernel>(g: &Gemm, a: &[f32], b: &[f32], c: &mut [f32], bias: &[f32]) {
    gemm_with_caches::<K>(g, a, b, c, Some(bias), cache_sizes())
}

/// [`gemm`] / [`gemm_bias`] with given cache sizes (tests use tiny caches to
/// reach every block edge).
pub fn gemm_with_caches<K: MicroKernel>(
    g: &Gemm,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    bias: Option<&[f32]>,
    caches: CacheSizes,
) {
    assert!(
        K::available(),
        "gemm: the {} microkernel needs CPU features this machine lacks",
        K::NAME
    );
    if let Some(bias) = bias {
        assert!(bias.len() >= g.n, "gemm: a bias needs n floats");
    }
    if g.batch == 0 || g.m == 0 || g.n == 0 {
        return;
    }
    if g.k == 0 {
        scale_c(g, c, bias);
        return;
    }
    // The microkernel's vectors run along rows of C: for a column-major C
    // compute Cᵀ = Bᵀ·Aᵀ instead, which is row-major (not with a bias,
    // which would then run across the vectors).
    if g.c.col != 1 && g.c.row == 1 && bias.is_none() {
        let gt = Gemm {
            m: g.n,
            n: g.m,
            a: g.b.t(),
            b: g.a.t(),
            c: g.c.t(),
            ..*g
        };
        batched::<K>(&gt, b, a, c, None, caches);
    } else {
        batched::<K>(g, a, b, c, bias, caches);
    }
}

/// C = beta·C (+ bias) (C = 0 when beta is 0): the product with k = 0.
fn scale_c(g: &Gemm, c: &mut [f32], bias: Option<&[f32]>) {
    for p in 0..g.batch {
        for i in 0..g.m {
            for j in 0..g.n {
                let x = &mut c[p * g.c.batch + i * g.c.row + j * g.c.col];
                *x = if g.beta == 0.0 { 0.0 } else { g.beta * *x };
                if let Some(b) = bias {
                    *x += b[j];
                }
            }
        }
    }
}

/// True when the whole problem is too small to split: it then runs on the
/// calling thread and never touches a rayon pool.
pub fn is_serial(g: &Gemm) -> bool {
    g.batch
        .saturating_mul(g.m)
        .saturating_mul(g.n)
        .saturating_mul(g.k)
        < PAR_MIN_MACS
}

/// Runs the batch: small items in parallel over the batch (each on one
/// thread), large ones one after the other with the block grid in parallel.
fn batched<K: MicroKernel>(
    g: &Gemm,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    bias: Option<&[f32]>,
    caches: CacheSizes,
) {
    let macs = g.m.saturating_mul(g.n).saturating_mul(g.k);
    let bl = Blocking::new(caches, K::MR, K::NR, g.m, g.n, g.k);
    if splits_k(g, &bl, caches, bias.is_some()) {
        return k_split::<K>(g, a, b, c, bl.kc, caches);
    }
    // Read operands in place when packing cannot pay for itself: A when it
    // is small or C is narrow (see `reads_a_in_place`), B when it meets few
    // A micro-panels (short C).
    let direct_a = reads_a_in_place::<K>(g, caches, &bl);
    let direct_b =
        g.b.col == 1 && (g.m <= DIRECT_B_MAX_PANELS * K::MR || direct_b_small(caches, g.k, g.n));
    let col_group = column_group::<K>(g, caches, &bl, direct_a && !direct_b);
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
            direct_b,
            col_group,
            bl,
            l2: caches.l2,
            l1d: caches.l1d,
            bias,
        };
        single::<K>(&prob, parallel);
    };
    if is_serial(g) {
        for p in 0..g.batch {
            item(p, false);
        }
    } else if g.batch > 1 && (macs < PAR_MIN_MACS || g.batch >= PAR_BATCH_MIN) {
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

/// Whether [`k_split`] runs the product: one dense row-major C (written
/// only, no bias) small enough that the partials of its K slices stay in L2
/// (at most half of it in all), at least two K slices, more than one thread,
/// and more than one row (the one-row path sums K whole). A Linear layer's
/// dW = dYᵀ·x (out × inp, K = the B·T rows) is such a product.
pub(super) fn splits_k(g: &Gemm, bl: &Blocking, caches: CacheSizes, bias: bool) -> bool {
    let slices = g.k.div_ceil(bl.kc);
    let partials = g.m.saturating_mul(g.n).saturating_mul(slices - 1);
    g.batch == 1
        && g.beta == 0.0
        && !bias
        && g.m > 1
        && slices >= 2
        && g.c.col == 1
        && g.c.row == g.n
        && partials.saturating_mul(std::mem::size_of::<f32>()) <= caches.l2 / 2
        && !is_serial(g)
        && rayon::current_num_threads() > 1
}

/// C = Σ of the products of K's KC slices, the slices side by side: slice 0
/// into C and each other into its own partial, then the partials added to C
/// in slice order. Each slice's product is the tile grid's (one K slice,
/// `alpha·acc` stored with beta 0) and the kernels store a later slice as
/// `C + alpha·acc` (beta 1), so this is bitwise the one-slice-after-the-other
/// result. It lets each thread read its own rows of K: the rows of dY and x
/// in a Linear layer's dW that the same thread computed just before (the
/// Transformer block runs its batch in parts, see `block::forward`).
fn k_split<K: MicroKernel>(
    g: &Gemm,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    kc: usize,
    caches: CacheSizes,
) {
    let (m, n) = (g.m, g.n);
    let slices = g.k.div_ceil(kc);
    // Every float of the partials is written (beta 0) before it is read.
    with_scratch(Slot::A, (slices - 1) * m * n, |partials| {
        let mut outs: Vec<&mut [f32]> = vec![&mut c[..m * n]];
        outs.extend(partials.chunks_mut(m * n));
        outs.into_par_iter().enumerate().for_each(|(q, out)| {
            let pc = q * kc;
            let sub = Gemm {
                k: kc.min(g.k - pc),
                ..*g
            };
            batched::<K>(
                &sub,
                &a[pc * g.a.col..],
                &b[pc * g.b.row..],
                out,
                None,
                caches,
            );
        });
        let partials = &*partials;
        let rows = crate::kernels::rows::rows_per_chunk(m, n * slices);
        c[..m * n]
            .par_chunks_mut(rows * n)
            .enumerate()
            .for_each(|(i, acc)| {
                let at = i * rows * n;
                for part in partials.chunks_exact(m * n) {
                    crate::kernels::rows::add_assign(acc, &part[at..at + acc.len()]);
                }
            });
    });
}

/// Columns of C per task in the one-row path.
const ROW_BLOCK: usize = 1024;

/// One row of C (m = 1, B with unit column stride): B is streamed row by
/// row, one task per `ROW_BLOCK` columns, each summing K in order.
fn single_row<K: MicroKernel>(p: &Problem<'_>, parallel: bool) {
    let mut a = crate::kernels::alloc::zeros("matmul", &[p.k]);
    a.iter_mut()
        .enumerate()
        .for_each(|(q, x)| *x = p.a.data[p.a.idx(0, q)]);
    let task = |jb: usize| {
        let j0 = jb * ROW_BLOCK;
        let w = ROW_BLOCK.min(p.n - j0);
        with_scratch(Slot::Edge, w, |acc| {
            K::row_times_block(acc, &a, p.b, j0);
            acc.iter_mut().for_each(|v| *v *= p.alpha);
            // Only the C fields of the tile are used by `store_partial`.
            let tile = Tile {
                k: p.k,
                a: a.as_ptr(),
                a_rs: 0,
                a_cs: 1,
                b: acc.as_ptr(),
                b_rs: 0,
                c: p.c.get().wrapping_add(p.c_off + j0 * p.c_cs),
                c_rs: p.c_rs,
                c_cs: p.c_cs,
                alpha: p.alpha,
                beta: p.beta,
                m: 1,
                n: w,
                bias: p.bias.map_or(std::ptr::null(), |b| b[j0..].as_ptr()),
            };
            // SAFETY: columns j0..j0 + w of the single row of this matrix of C
            // lie inside `c` (validated extent) and belong to this task alone.
            unsafe { store_partial(acc, w, &tile) }
        });
    };
    let tasks = p.n.div_ceil(ROW_BLOCK);
    if parallel && tasks > 1 {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
}

/// Loops 5 and 3 and the task grid of one matrix.
fn single<K: MicroKernel>(p: &Problem<'_>, parallel: bool) {
    if p.m == 1 && p.b.cs == 1 {
        return single_row::<K>(p, parallel);
    }
    if p.col_group > 0 && parallel {
        return columns::<K>(p);
    }
    let bl = p.bl;
    let (nr, k) = (K::NR, p.k);
    // Packs every KC slice of a K-deep operand slice; `pack(dst, pc, kc)` packs one.
    let pack_all =
        |dst: &mut [f32], stride: usize, pack: &(dyn Fn(&mut [f32], usize, usize) + Sync)| {
            let one = |(q, d): (usize, &mut [f32])| {
                let pc = q * bl.kc;
                pack(d, pc, bl.kc.min(k - pc));
            };
            if parallel && k > bl.kc {
                dst.par_chunks_mut(bl.kc * stride).enumerate().for_each(one);
            } else {
                dst.chunks_mut(bl.kc * stride).enumerate().for_each(one);
            }
        };
    // Loop 5: columns of C, one L3-sized slice of packed B at a time.
    for jc in (0..p.n).step_by(bl.nc_l3) {
        let ncols = bl.nc_l3.min(p.n - jc);
        let bstride = if p.direct_b {
            0
        } else {
            ncols.div_ceil(nr) * nr
        };
        with_scratch(Slot::B, k * bstride, |bpack| {
            if !p.direct_b {
                // A slice larger than L2 is read back only after the tasks'
                // A blocks and C tiles have passed through the caches, so it
                // is written with non-temporal stores (`Stores::Streaming`):
                // no read of each destination line before its write, and L2
                // keeps what it holds. On Zen 4 (AVX2, 1 thread) the pack
                // fell from 1.6 % to 0.9 % of a 2048² product, and 1024²–2048²
                // were 0.5–1.6 % faster in process at 1 and 2 threads.
                let pack_b = if k * bstride * std::mem::size_of::<f32>() > p.l2 {
                    K::pack_b_streaming
                } else {
                    K::pack_b
                };
                pack_all(bpack, bstride, &|d, pc, kc| {
                    pack_b(d, p.b.at(pc, jc), kc, ncols, parallel)
                });
            }
            if !p.direct_a {
                return row_tasks::<K>(p, bpack, bstride, jc, ncols, parallel);
            }
            let slices = Slices {
                apack: &[],
                astride: 0,
                bpack,
                bstride,
                ic: 0,
                jc,
            };
            grid::<K>(p, &slices, p.m, ncols, parallel);
        });
    }
}

/// Tasks of [`row_tasks`] over the `ncols` columns of one B slice: as few
/// as keep each task's MC×KC block of A within a quarter of L2 (more rows
/// per task: each KC×NC block of B fetched into L2 meets more of A; 1024²
/// in 4 tasks instead of 16 was 3 % faster at 1 thread on AVX2 and 5 % on
/// AVX-512), then a multiple of the pool's threads so they get equal shares
/// (the split into tasks never changes a result: the tile grid and the K
/// slices do not depend on it), but no task under `MIN_TASK_MACS`.
fn row_task_count<K: MicroKernel>(p: &Problem<'_>, ncols: usize, parallel: bool) -> usize {
    let units = p.m.div_ceil(K::MR);
    let f = std::mem::size_of::<f32>();
    let max_units = (p.l2 / 4 / (p.bl.kc * f) / K::MR).max(1);
    let mut tasks = units.div_ceil(max_units);
    if parallel {
        let macs = p.m.saturating_mul(ncols).saturating_mul(p.k);
        tasks = tasks
            .next_multiple_of(rayon::current_num_threads().max(1))
            .min(macs / MIN_TASK_MACS)
            .min(units);
    }
    tasks.max(1)
}

/// Loops 3, 4 and 2–1 when A must be packed: B's slice is packed (and
/// shared) already; each task owns a block of rows of C (whole MR panels,
/// spread evenly) across all `ncols` columns, and per KC slice packs its
/// block of A into its thread's scratch (L2) right before sweeping the
/// NC-wide blocks of B past it, so packed A is read back while hot and is
/// never written out whole.
fn row_tasks<K: MicroKernel>(
    p: &Problem<'_>,
    bpack: &[f32],
    bstride: usize,
    jc: usize,
    ncols: usize,
    parallel: bool,
) {
    let (mr, bl) = (K::MR, p.bl);
    let units = p.m.div_ceil(mr);
    let tasks = row_task_count::<K>(p, ncols, parallel);
    let task = |t: usize| {
        let r0 = t * units / tasks * mr;
        let r1 = ((t + 1) * units / tasks * mr).min(p.m);
        let mv = r1 - r0;
        with_scratch(Slot::A, bl.kc.min(p.k) * mv.div_ceil(mr) * mr, |apack| {
            k_slices(p, |ks, beta, bias| {
                if K::PARTS && !p.direct_b {
                    // A part by part, as `panel_major` reads it.
                    let plen = ks.len().div_ceil(b_panel_parts::<K>(p.l1d, ks.len()));
                    for k0 in (0..ks.len()).step_by(plen) {
                        let steps = plen.min(ks.len() - k0);
                        let a = p.a.at(r0, ks.start + k0);
                        K::pack_a(&mut apack[k0 * mv.div_ceil(mr) * mr..], a, mv, steps, false);
                    }
                    let b = &bpack[ks.start * bstride..];
                    // The first panel of the next K slice, fetched during this slice's last panel.
                    let after = if ks.end < p.k {
                        &bpack[ks.end * bstride..][..bl.kc.min(p.k - ks.end) * K::NR]
                    } else {
                        &[]
                    };
                    let rows = r0..r0 + mv;
                    return panel_major::<K>(p, apack, b, after, ks, rows, jc, ncols, beta, bias);
                }
                K::pack_a(apack, p.a.at(r0, ks.start), mv, ks.len(), false);
                let s = Slices {
                    apack,
                    astride: 0,
                    bpack,
                    bstride,
                    ic: r0,
                    jc,
                };
                for c0 in (0..ncols).step_by(bl.nc) {
                    let cols = c0..ncols.min(c0 + bl.nc);
                    block::<K>(p, &s, ks.clone(), 0..mv, cols, beta, bias);
                }
            })
        });
    };
    if parallel && tasks > 1 {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
}

/// Parts a K slice of `kc` steps is run in by [`panel_major`]: as few as
/// keep one part of a B micro-panel (`part × NR` floats) within half of L1,
/// beside the A micro-panels streaming through and the saved accumulators
/// (AVX2, KC = 512: one 32 KiB panel in 2 parts of 16 KiB on a 48 KiB L1).
pub(super) fn b_panel_parts<K: MicroKernel>(l1d: usize, kc: usize) -> usize {
    let panel = kc * K::NR * std::mem::size_of::<f32>();
    panel.div_ceil((l1d / 2).max(1)).clamp(1, kc.max(1))
}

/// Loops 2 and 1 of one row task's K slice, B panel by B panel (the BLIS
/// order), for kernels with [`MicroKernel::run_part`]: each NR-wide panel of
/// the packed B slice `b` meets every MR-row panel of the task's packed A
/// block `apack` (in L2) while it stays in L1, the slice's steps in
/// [`b_panel_parts`] parts (each tile's accumulators saved in between), and
/// the next panel (after the last: `after`) is fetched into L2 in even
/// portions before each tile. The A-panel-in-L1 order of [`block`] instead
/// streamed each KC×NC block of B from L2 and met it cold from L3 after every
/// block change: 2048² on AVX2 at 1 thread was 2–3 % slower, 1024² 2 %.
///
/// `apack` holds the A block part by part (all the block's MR-row panels
/// of the first part's steps, then of the second's…), so that one part's
/// sweep down the rows reads one contiguous stream, which the hardware
/// prefetchers follow from tile to tile (whole-slice panels made it a new
/// short stream every tile: 0.3 % slower at 2048², 2 threads). The last
/// partial panel and the last rows (under MR: the panel's zero padding is
/// computed and not stored) run as parts too.
/// Every tile runs the same K slice in the same order, so C is bitwise the
/// same as through [`block`].
#[allow(clippy::too_many_arguments)]
fn panel_major<K: MicroKernel>(
    p: &Problem<'_>,
    apack: &[f32],
    b: &[f32],
    after: &[f32],
    ks: Range<usize>,
    rows: Range<usize>,
    jc: usize,
    ncols: usize,
    beta: f32,
    bias: Option<&[f32]>,
) {
    let (mr, nr, kc) = (K::MR, K::NR, ks.len());
    let mv = rows.len();
    let units = mv.div_ceil(mr);
    let parts = b_panel_parts::<K>(p.l1d, kc);
    let plen = kc.div_ceil(parts);
    let panel = kc * nr;
    let line = 64 / std::mem::size_of::<f32>();
    with_scratch(Slot::Edge, units * mr * nr, |saved| {
        for jr in (0..ncols).step_by(nr) {
            let nv = nr.min(ncols - jr);
            let bp = &b[(jr / nr) * panel..][..panel];
            let next = if jr + nr < ncols {
                &b[(jr / nr + 1) * panel..][..panel]
            } else {
                after
            };
            // Lines of the next panel, fetched a few before each tile of this one.
            let lines = next.len().div_ceil(line);
            let per_tile = lines.div_ceil((units * parts).max(1));
            let mut fetched = 0;
            let j = jc + jr;
            for q in 0..parts {
                let (k0, k1) = (q * plen, kc.min(q * plen + plen));
                for (ip, acc) in saved.chunks_exact_mut(mr * nr).enumerate() {
                    let n = per_tile.min(lines - fetched);
                    prefetch_l2(next.as_ptr().wrapping_add(fetched * line), n * line);
                    fetched += n;
                    let ir = ip * mr;
                    let tile = Tile {
                        k: k1 - k0,
                        a: apack[k0 * units * mr + ip * (k1 - k0) * mr..].as_ptr(),
                        a_rs: 1,
                        a_cs: mr,
                        b: bp[k0 * nr..].as_ptr(),
                        b_rs: nr,
                        c: p.c
                            .get()
                            .wrapping_add(p.c_off + (rows.start + ir) * p.c_rs + j * p.c_cs),
                        c_rs: p.c_rs,
                        c_cs: p.c_cs,
                        alpha: p.alpha,
                        beta,
                        m: mr.min(mv - ir),
                        n: nv,
                        bias: bias.map_or(std::ptr::null(), |b| b[j..].as_ptr()),
                    };
                    // SAFETY: A panel ip of part q holds (k1 - k0)·MR packed
                    // floats (zero-padded past the block's rows) and the B
                    // panel kc·NR (zero-padded past its columns); the m×n
                    // tile of C lies in this task's rows, which no other task
                    // writes; `acc` holds MR·NR floats.
                    unsafe { K::run_part(&tile, acc, q == 0, q + 1 == parts) }
                }
            }
        }
    });
}

/// The packed slices one grid of tasks works on.
struct Slices<'a> {
    /// Packed A rows `ic..`: the KC slice at `pc` starts at `pc·astride`
    /// (empty when A is read in place).
    apack: &'a [f32],
    astride: usize,
    /// Packed B columns `jc..`: the KC slice at `pc` starts at `pc·bstride`.
    bpack: &'a [f32],
    bstride: usize,
    ic: usize,
    jc: usize,
}

/// Row blocks of the grid: `rblocks` (from MC), raised when `parallel` until
/// the tasks (`rblocks × nblocks`) are a multiple of the pool's threads, as
/// long as each block keeps at least one MR panel of the `units`. 768 rows
/// in blocks of at most 42 were 19 tasks, 10 and 9 for two threads (a 5 %
/// tail); 20 blocks of 36–42 rows share evenly. Only whole tiles move
/// between blocks, so results do not change.
pub(super) fn grid_row_blocks(
    rblocks: usize,
    nblocks: usize,
    units: usize,
    parallel: bool,
) -> usize {
    let threads = if parallel {
        rayon::current_num_threads().max(1)
    } else {
        1
    };
    let mut r = rblocks.max(1);
    while !(r * nblocks).is_multiple_of(threads) && r < units {
        r += 1;
    }
    if (r * nblocks).is_multiple_of(threads) {
        r
    } else {
        rblocks.max(1)
    }
}

/// Rows of row block `ib` of `rblocks` over `m` rows: whole MR panels (of
/// the `units` = ⌈m / mr⌉), spread evenly over the blocks.
fn row_block(ib: usize, rblocks: usize, units: usize, mr: usize, m: usize) -> Range<usize> {
    ib * units / rblocks * mr..m.min((ib + 1) * units / rblocks * mr)
}

/// The MC×NC grid of tasks over an `mrows × ncols` slice of C.
fn grid<K: MicroKernel>(
    p: &Problem<'_>,
    s: &Slices<'_>,
    mrows: usize,
    ncols: usize,
    parallel: bool,
) {
    let (bl, mr) = (p.bl, K::MR);
    let nblocks = ncols.div_ceil(bl.nc);
    let units = mrows.div_ceil(mr);
    let rblocks = grid_row_blocks(mrows.div_ceil(bl.mc), nblocks, units, parallel);
    let tasks = rblocks * nblocks;
    let task = |t: usize| {
        let (ib, jb) = (t / nblocks, t % nblocks);
        let rows = row_block(ib, rblocks, units, mr, mrows);
        let cols = jb * bl.nc..ncols.min((jb + 1) * bl.nc);
        k_slices(p, |ks, beta, bias| {
            block::<K>(p, s, ks, rows.clone(), cols.clone(), beta, bias)
        });
    };
    if parallel && tasks > 1 {
        (0..tasks).into_par_iter().for_each(task);
    } else {
        (0..tasks).for_each(task);
    }
}

/// Loop 4: K in KC-deep slices, accumulated into C in order: `f(ks, beta,
/// bias)` per slice, with the caller's beta for the first slice only and the
/// bias with the last.
fn k_slices(p: &Problem<'_>, mut f: impl FnMut(Range<usize>, f32, Option<&[f32]>)) {
    for pc in (0..p.k).step_by(p.bl.kc) {
        let ks = pc..p.k.min(pc + p.bl.kc);
        let beta = if pc == 0 { p.beta } else { 1.0 };
        let bias = if ks.end == p.k { p.bias } else { None };
        f(ks, beta, bias);
    }
}

/// Columns of C per task, at least, in the column-task path: each MR-row
/// micro-panel of A read from L2 then meets at least this many columns of B
/// (with one 16-wide AVX2 panel per task the kernel waited on A: 3–4 %
/// slower at 1 thread on 256² and 512²).
const COLUMN_TASK_MIN_WIDTH: usize = 64;

/// Panels of B per task in the column-task path, or 0 for the block grid.
///
/// When A is small enough to be read in place (`direct_a`) and B must be
/// packed, the block grid costs two parallel phases (pack B, then the
/// grid) and each task then reads packed B panels that the other threads
/// wrote. Splitting C by columns instead lets every task pack its own B
/// panels, one KC slice at a time into a buffer that stays in its core's
/// caches, and sweep all of A (in L2) past them: one parallel phase, no
/// packed data shared between cores, and equal tasks. Groups hold at least
/// `MIN_TASK_MACS` of work and there are about `MIN_TASKS` of them when
/// that allows; a group's KC×width block of B fills at most a quarter of L2.
/// A may fill all of L2 (it was a quarter): on Zen 4 (1 MiB L2) 320² to
/// 512² at 2 threads were 4–40 % faster on AVX2 and 10–20 % on AVX-512 than
/// through the grid, whose B packing phase alone was 4 % of a 512² product;
/// 1 thread never takes this path.
pub(super) fn column_group<K: MicroKernel>(
    g: &Gemm,
    caches: CacheSizes,
    bl: &Blocking,
    eligible: bool,
) -> usize {
    // A up to all of L2 (never below half of `DIRECT_A_MAX`, the bound it
    // had with any caches).
    let a_max = (caches.l2 / std::mem::size_of::<f32>()).max(DIRECT_A_MAX / 2);
    if !eligible || g.m.saturating_mul(g.k) > a_max || g.m == 1 {
        return 0;
    }
    let panels = g.n.div_ceil(K::NR);
    let per_panel = g.m.saturating_mul(g.k).saturating_mul(K::NR).max(1);
    let min_group = MIN_TASK_MACS.div_ceil(per_panel);
    let max_group = (caches.l2 / 4 / (bl.kc * K::NR * std::mem::size_of::<f32>())).max(1);
    let min_width = COLUMN_TASK_MIN_WIDTH.div_ceil(K::NR);
    (panels / MIN_TASKS)
        .max(min_width)
        .max(min_group)
        .min(max_group)
        .max(1)
}

/// Row blocks per column group in the column-task path: 1 when the `n`
/// columns of C, in groups `w` wide, share evenly among the pool's `threads`
/// (a multiple of `threads` groups, all full); otherwise `threads`, as long
/// as each block keeps at least `COLUMN_ROW_BLOCK_UNITS` of the `units` MR
/// panels (each row block packs its group's B panels again), so that each
/// thread gets one row block of every group. A GPT lm head (768×128 → 65)
/// ran one 64-column task beside a 1-column one (0.8 of the 1-thread time
/// at 2 threads on AVX2). Only whole MR panels move between tasks, so
/// results do not change.
pub(super) fn column_row_blocks(n: usize, w: usize, units: usize, threads: usize) -> usize {
    let w = w.max(1);
    let threads = threads.max(1);
    if n.div_ceil(w).is_multiple_of(threads) && n.is_multiple_of(w) {
        1
    } else {
        threads.min(units / COLUMN_ROW_BLOCK_UNITS).max(1)
    }
}

/// MR panels per row block, at least, when [`column_row_blocks`] splits rows.
const COLUMN_ROW_BLOCK_UNITS: usize = 4;

/// The column-task path (see [`column_group`]): each task owns
/// `p.col_group` B panels and a block of rows of C ([`column_row_blocks`];
/// usually all of them), packs its panels one KC slice at a time and runs
/// loops 2 and 1 over A read in place.
fn columns<K: MicroKernel>(p: &Problem<'_>) {
    let (mr, nr) = (K::MR, K::NR);
    let w = p.col_group * nr;
    let kc = p.bl.kc.min(p.k);
    let groups = p.n.div_ceil(w);
    let units = p.m.div_ceil(mr);
    let rblocks = column_row_blocks(p.n, w, units, rayon::current_num_threads());
    // Row blocks outermost: rayon's halving then gives each thread whole
    // row blocks of every group.
    let task = |t: usize| {
        let (rb, grp) = (t / groups, t % groups);
        let rows = row_block(rb, rblocks, units, mr, p.m);
        let j0 = grp * w;
        let cols = w.min(p.n - j0);
        with_scratch(Slot::B, kc * cols.div_ceil(nr) * nr, |bpack| {
            k_slices(p, |ks, beta, bias| {
                K::pack_b(bpack, p.b.at(ks.start, j0), ks.len(), cols, false);
                let s = Slices {
                    apack: &[],
                    astride: 0,
                    bpack,
                    bstride: 0,
                    ic: 0,
                    jc: j0,
                };
                block::<K>(p, &s, ks, rows.clone(), 0..cols, beta, bias);
            })
        });
    };
    (0..groups * rblocks).into_par_iter().for_each(task);
}

/// Loops 2 and 1 over `rows × cols` of the slices (relative to `ic`, `jc`)
/// for the K slice `ks`.
fn block<K: MicroKernel>(
    p: &Problem<'_>,
    s: &Slices<'_>,
    ks: Range<usize>,
    rows: Range<usize>,
    cols: Range<usize>,
    beta: f32,
    bias: Option<&[f32]>,
) {
    let (mr, nr, kc) = (K::MR, K::NR, ks.len());
    let apack = &s.apack[ks.start * s.astride..];
    let bpack = &s.bpack[ks.start * s.bstride..];
    let a_edge = if p.direct_a { mr * kc } else { 0 };
    let b_edge = if p.direct_b && !cols.end.is_multiple_of(nr) {
        kc * nr
    } else {
        0
    };
    with_scratch(Slot::Edge, a_edge + b_edge, |edge| {
        let (epack, bedge) = edge.split_at_mut(a_edge);
        if b_edge > 0 {
            // The last columns of an in-place B: pad them to a full panel.
            let j = cols.end / nr * nr;
            K::pack_b(bedge, p.b.at(ks.start, s.jc + j), kc, cols.end - j, false);
        }
        let bedge = &*bedge;
        // Loop 2: MR-row micro-panels of A.
        for ir in rows.clone().step_by(mr) {
            let mv = mr.min(rows.end - ir);
            let (a_ptr, a_rs, a_cs) = if !p.direct_a {
                (apack[(ir / mr) * kc * mr..].as_ptr(), 1, mr)
            } else if mv == mr {
                let src = p.a.at(s.ic + ir, ks.start);
                (src.data[src.off..].as_ptr(), src.rs, src.cs)
            } else {
                // The last rows of an in-place A: pad them to a full panel.
                K::pack_a(epack, p.a.at(s.ic + ir, ks.start), mv, kc, false);
                (epack.as_ptr(), 1, mr)
            };
            // Loop 1: NR-column micro-panels of B → microkernel.
            for jr in cols.clone().step_by(nr) {
                let nv = nr.min(cols.end - jr);
                let (i, j) = (s.ic + ir, s.jc + jr);
                let (b_ptr, b_rs) = if !p.direct_b {
                    (bpack[(jr / nr) * kc * nr..][..kc * nr].as_ptr(), nr)
                } else if nv == nr {
                    let src = p.b.at(ks.start, j);
                    (src.data[src.off..].as_ptr(), src.rs)
                } else {
                    (bedge.as_ptr(), nr)
                };
                let tile = Tile {
                    k: kc,
                    a: a_ptr,
                    a_rs,
                    a_cs,
                    b: b_ptr,
                    b_rs,
                    c: p.c.get().wrapping_add(p.c_off + i * p.c_rs + j * p.c_cs),
                    c_rs: p.c_rs,
                    c_cs: p.c_cs,
                    alpha: p.alpha,
                    beta,
                    m: mv,
                    n: nv,
                    bias: bias.map_or(std::ptr::null(), |b| b[j..].as_ptr()),
                };
                // SAFETY: `gemm` asserted K::available(). A: a packed panel
                // holds kc·MR floats; an in-place panel is a full MR×kc block
                // of A, inside `a` by `Gemm::validate`. B: likewise a packed
                // panel holds kc·NR floats and an in-place one is a full
                // kc×NR block of B. C: the m×n tile at (i, j) lies inside this
                // matrix of C (validated extent) and inside this task's
                // block, which no other task writes. The bias slice starts at
                // column j of n ≥ j + nv floats (asserted in `gemm_with_caches`).
                unsafe { K::run(&tile) }
            }
        }
    });
}
