//! Embedding lookup (gather rows of a (V, D) table by int64 ids) and its
//! deterministic backward (scatter-add into a (V, D) gradient).
//!
//! The backward sorts the positions by id (a stable counting sort), then
//! each chunk of vocabulary rows is owned by one task, which adds its
//! positions' gradient rows in increasing position order: no atomics, and
//! the result is bitwise identical for any thread count.

use rayon::prelude::*;

use super::rows::{ld, st, steps};
use crate::error::{KernelError, Result};
use crate::simd::{dispatch, F32Vec, Kernel};

fn check_ids(op: &'static str, arg: &str, ids: &[i64], num: usize) -> Result<()> {
    for (i, &id) in ids.iter().enumerate() {
        if id < 0 || id as u64 >= num as u64 {
            return Err(KernelError::value(
                op,
                format!("{arg}[{i}] = {id} is out of range: expected an id in [0, {num})"),
            ));
        }
    }
    Ok(())
}

/// `out[i, :] = weight[ids[i], :]`.
///
/// # Shapes
/// - weight: (num, d) contiguous
/// - ids: (n,)
/// - out: (n, d) contiguous
pub fn embedding(weight: &[f32], num: usize, d: usize, ids: &[i64], out: &mut [f32]) -> Result<()> {
    const OP: &str = "embedding";
    if weight.len() != num * d || out.len() != ids.len() * d {
        return Err(KernelError::shape(
            OP,
            format!(
                "weight: expected {num}×{d} elements, got {}; out: expected {}×{d}, got {}",
                weight.len(),
                ids.len(),
                out.len()
            ),
        ));
    }
    check_ids(OP, "ids", ids, num)?;
    if d == 0 || ids.is_empty() {
        return Ok(());
    }
    let rc = super::rows::rows_per_chunk(ids.len(), d);
    out.par_chunks_mut(rc * d).enumerate().for_each(|(c, oc)| {
        let ids = &ids[c * rc..c * rc + oc.len() / d];
        for (row, &id) in oc.chunks_exact_mut(d).zip(ids) {
            let s = id as usize * d;
            row.copy_from_slice(&weight[s..s + d]);
        }
    });
    Ok(())
}

/// One table lookup: rows of `table` ((num, d) contiguous) at `ids`.
#[derive(Clone, Copy)]
pub struct Lookup<'a> {
    pub table: &'a [f32],
    pub num: usize,
    pub ids: &'a [i64],
}

/// `out[i, :] = a.table[a.ids[i], :] + b.table[b.ids[i], :]`: two lookups and
/// their sum in one pass (GPT's token + position embeddings), the same f32
/// sums as `embedding` twice and an add.
///
/// # Shapes
/// - a.table: (a.num, d), b.table: (b.num, d); a.ids, b.ids: (n,)
/// - out: (n, d) contiguous
pub fn embedding_add(a: Lookup<'_>, b: Lookup<'_>, d: usize, out: &mut [f32]) -> Result<()> {
    const OP: &str = "embedding_add";
    let (ids_a, ids_b) = (a.ids, b.ids);
    let (num_a, num_b) = (a.num, b.num);
    let (a, b) = (a.table, b.table);
    let n = ids_a.len();
    if a.len() != num_a * d || b.len() != num_b * d || ids_b.len() != n || out.len() != n * d {
        return Err(KernelError::shape(
            OP,
            format!(
                "a: expected {num_a}×{d} elements, got {}; b: expected {num_b}×{d}, got {}; \
                 ids_b: expected {n} ids, got {}; out: expected {n}×{d}, got {}",
                a.len(),
                b.len(),
                ids_b.len(),
                out.len()
            ),
        ));
    }
    check_ids(OP, "ids_a", ids_a, num_a)?;
    check_ids(OP, "ids_b", ids_b, num_b)?;
    if d == 0 || n == 0 {
        return Ok(());
    }
    let rc = super::rows::rows_per_chunk(n, d);
    out.par_chunks_mut(rc * d).enumerate().for_each(|(c, oc)| {
        let rows = c * rc..c * rc + oc.len() / d;
        let ids = ids_a[rows.clone()].iter().zip(&ids_b[rows]);
        for (row, (&ia, &ib)) in oc.chunks_exact_mut(d).zip(ids) {
            let (ia, ib) = (ia as usize * d, ib as usize * d);
            let pairs = a[ia..ia + d].iter().zip(&b[ib..ib + d]);
            for (o, (&x, &y)) in row.iter_mut().zip(pairs) {
                *o = x + y;
            }
        }
    });
    Ok(())
}

struct Accumulate<'a> {
    /// dW rows `v0 .. v0 + rows` (rows × d).
    dw: &'a mut [f32],
    v0: usize,
    d: usize,
    /// `offsets[v]..offsets[v + 1]` indexes `order` for id v.
    offsets: &'a [usize],
    /// Positions sorted by id, increasing within one id.
    order: &'a [usize],
    dy: &'a [f32],
}

/// Whole vectors per column block of `Accumulate`: their sums stay in
/// registers over all of a row's positions.
const BLOCK: usize = 4;

impl Kernel for Accumulate<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        let (d, l) = (self.d, V::LANES);
        for (i, row) in self.dw.chunks_exact_mut(d).enumerate() {
            let v = self.v0 + i;
            let ps = &self.order[self.offsets[v]..self.offsets[v + 1]];
            // Each element: 0 + dy[p₀] + dy[p₁] + … in increasing position, as
            // a zeroed row with every position's row added in turn.
            let mut o = 0;
            while o + BLOCK * l <= d {
                let mut acc = [V::splat(0.0); BLOCK];
                for &p in ps {
                    let src = &self.dy[p * d + o..p * d + o + BLOCK * l];
                    for (k, a) in acc.iter_mut().enumerate() {
                        *a = V::add(*a, V::load(&src[k * l..]));
                    }
                }
                for (k, a) in acc.iter().enumerate() {
                    V::store(&mut row[o + k * l..], *a);
                }
                o += BLOCK * l;
            }
            for (oo, n) in steps::<V>(d - o) {
                let mut a = V::splat(0.0);
                for &p in ps {
                    a = V::add(a, ld::<V>(&self.dy[p * d + o..(p + 1) * d], oo, n, 0.0));
                }
                st::<V>(&mut row[o..], oo, n, a);
            }
        }
    }
}

/// One table's gradient: `dw` ((num, d) contiguous, overwritten) receives the
/// rows of `dy` at the positions of `ids`.
pub struct ScatterAdd<'a> {
    pub ids: &'a [i64],
    pub num: usize,
    pub dw: &'a mut [f32],
}

/// A table's positions sorted by id (a stable counting sort), after the
/// shape and id checks (errors naming `op` and the ids argument `arg`).
struct Sorted {
    /// `offsets[v]..offsets[v + 1]` indexes `order` for id v.
    offsets: Vec<usize>,
    order: Vec<usize>,
}

fn sort_ids(
    op: &'static str,
    arg: &str,
    dy: &[f32],
    t: &ScatterAdd<'_>,
    d: usize,
) -> Result<Sorted> {
    let (ids, num) = (t.ids, t.num);
    if dy.len() != ids.len() * d || t.dw.len() != num * d {
        return Err(KernelError::shape(
            op,
            format!(
                "dy: expected {}×{d} elements, got {}; dweight: expected {num}×{d}, got {}",
                ids.len(),
                dy.len(),
                t.dw.len()
            ),
        ));
    }
    check_ids(op, arg, ids, num)?;
    let mut offsets: Vec<usize> = crate::kernels::alloc::try_zeroed(op, num.saturating_add(1))?;
    for &id in ids {
        offsets[id as usize + 1] += 1;
    }
    for v in 0..num {
        offsets[v + 1] += offsets[v];
    }
    let mut next = crate::kernels::alloc::try_copy(op, &offsets)?;
    let mut order: Vec<usize> = crate::kernels::alloc::try_zeroed(op, ids.len())?;
    for (p, &id) in ids.iter().enumerate() {
        let slot = &mut next[id as usize];
        order[*slot] = p;
        *slot += 1;
    }
    Ok(Sorted { offsets, order })
}

/// Every table's rows, cut into tasks of whole vocabulary rows (~8 Ki
/// floats of additions each, by the average positions per row), run in one
/// parallel region: each row is one task's, so no atomics and the same bits
/// at any thread count.
fn scatter_all(dy: &[f32], d: usize, tables: Vec<(ScatterAdd<'_>, &Sorted)>) {
    if d == 0 {
        return;
    }
    let mut tasks = Vec::new();
    for (t, s) in tables {
        let work_per_row = d * (1 + t.ids.len() / t.num.max(1));
        let rc = crate::threads::chunk_len(t.num, work_per_row, 8 * 1024);
        for (c, dw) in t.dw.chunks_mut(rc * d).enumerate() {
            tasks.push(Accumulate {
                dw,
                v0: c * rc,
                d,
                offsets: &s.offsets,
                order: &s.order,
                dy,
            });
        }
    }
    tasks.into_par_iter().for_each(dispatch);
}

/// `dweight[v, :] = Σ_{i: ids[i] = v} dy[i, :]`, summed in increasing i.
///
/// # Shapes
/// - dy: (n, d) contiguous
/// - ids: (n,)
/// - dweight: (num, d) contiguous, overwritten
pub fn embedding_backward(
    dy: &[f32],
    ids: &[i64],
    num: usize,
    d: usize,
    dweight: &mut [f32],
) -> Result<()> {
    let t = ScatterAdd {
        ids,
        num,
        dw: dweight,
    };
    let s = sort_ids("embedding_backward", "ids", dy, &t, d)?;
    scatter_all(dy, d, vec![(t, &s)]);
    Ok(())
}

/// The gradients of `embedding_add` w.r.t. both tables: each as
/// `embedding_backward` gives it (the same fixed order, bit for bit), with
/// errors named for this op, both tables' rows in one parallel region.
///
/// # Shapes
/// - dy: (n, d) contiguous; a.ids, b.ids: (n,)
/// - a.dw: (a.num, d), b.dw: (b.num, d), overwritten
pub fn embedding_add_backward(
    dy: &[f32],
    d: usize,
    a: ScatterAdd<'_>,
    b: ScatterAdd<'_>,
) -> Result<()> {
    const OP: &str = "embedding_add_backward";
    let n = a.ids.len();
    if b.ids.len() != n {
        return Err(KernelError::shape(
            OP,
            format!("ids_b: expected {n} ids, got {}", b.ids.len()),
        ));
    }
    let sa = sort_ids(OP, "ids_a", dy, &a, d)?;
    let sb = sort_ids(OP, "ids_b", dy, &b, d)?;
    scatter_all(dy, d, vec![(a, &sa), (b, &sb)]);
    Ok(())
}

#[cfg(test)]
mod tests;
