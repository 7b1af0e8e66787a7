//! A fully connected layer, `y = x·Wᵀ + b`, forward and backward, each as
//! one call.
//!
//! Forward is one GEMM that reads W transposed in place (B = Wᵀ is W with
//! its strides swapped, packed straight into the microkernel's panels) and
//! adds the bias in the microkernel's store, so there is no copy of Wᵀ and
//! no second pass over y. Backward runs its three independent products side
//! by side in the caller's pool — dX = dY·W, dW = dYᵀ·x and db = Σ_rows dY —
//! because at a layer's usual sizes either GEMM alone is too small to keep
//! every core busy through its packing and fork-join phases.
//!
//! Every part splits its work by the problem alone and reduces in a fixed
//! order (db sums rows 0, 1, … for each column), so results are bitwise
//! identical for any thread count.
//!
//! # Shapes
//! - x: rows × inp, W: out × inp, b: out, y: rows × out (y, dX, dW, db dense)

use rayon::prelude::*;

use super::gemm::{driver, kernel_scalar, Gemm, Strides};
use crate::error::{KernelError, Result};
use crate::simd::{isa, Isa};

/// Problem size and the strides of the two inputs (batch strides ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linear {
    pub rows: usize,
    pub inp: usize,
    pub out: usize,
    /// Strides of x (rows × inp).
    pub x: Strides,
    /// Strides of W (out × inp).
    pub w: Strides,
}

impl Linear {
    /// Dense row-major x and W.
    pub fn new(rows: usize, inp: usize, out: usize) -> Self {
        Linear {
            rows,
            inp,
            out,
            x: Strides::row_major(rows, inp),
            w: Strides::row_major(out, inp),
        }
    }

    /// The forward product `y = x·Wᵀ` as a GEMM (C = y, dense).
    pub fn forward_gemm(&self) -> Gemm {
        Gemm {
            a: self.x.with_batch(0),
            b: self.w.t().with_batch(0),
            c: Strides::row_major(self.rows, self.out),
            ..Gemm::new(self.rows, self.out, self.inp)
        }
    }

    /// `dX = dY·W` (dY dense rows × out, dX dense rows × inp).
    fn dx_gemm(&self) -> Gemm {
        Gemm {
            b: self.w.with_batch(0),
            ..Gemm::new(self.rows, self.inp, self.out)
        }
    }

    /// `dW = dYᵀ·x` (dY read transposed in place, dW dense out × inp).
    fn dw_gemm(&self) -> Gemm {
        Gemm {
            a: Strides::row_major_transposed(self.rows, self.out),
            b: self.x.with_batch(0),
            ..Gemm::new(self.out, self.inp, self.rows)
        }
    }
}

fn check_len(arg: &str, len: usize, want: usize) -> Result<()> {
    if len != want {
        return Err(KernelError::shape(
            "linear",
            format!("{arg}: expected {want} elements, got {len}"),
        ));
    }
    Ok(())
}

/// `y = x·Wᵀ + b`, in the caller's rayon pool.
///
/// # Shapes
/// - x: rows × inp (strides `p.x`), w: out × inp (strides `p.w`), bias: out,
///   y: rows × out dense
pub fn forward(
    p: &Linear,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
) -> Result<()> {
    let g = p.forward_gemm();
    g.validate(x.len(), w.len(), y.len())?;
    check_len("y", y.len(), p.rows * p.out)?;
    if let Some(b) = bias {
        check_len("bias", b.len(), p.out)?;
    }
    match bias {
        Some(b) => gemm_bias(&g, x, w, y, b),
        None => super::gemm::sgemm(&g, x, w, y)?,
    }
    Ok(())
}

/// The ISA-dispatched [`driver::gemm_bias`].
fn gemm_bias(g: &Gemm, a: &[f32], b: &[f32], c: &mut [f32], bias: &[f32]) {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => driver::gemm_bias::<super::gemm::kernel_avx512::Avx512>(g, a, b, c, bias),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => driver::gemm_bias::<super::gemm::kernel_avx2::Avx2>(g, a, b, c, bias),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => driver::gemm_bias::<super::gemm::kernel_neon::Neon>(g, a, b, c, bias),
        _ => driver::gemm_bias::<kernel_scalar::Scalar>(g, a, b, c, bias),
    }
}

/// The gradients one backward call writes; `None` skips that product.
pub struct Grads<'a> {
    /// rows × inp, dense.
    pub x: Option<&'a mut [f32]>,
    /// out × inp, dense.
    pub w: Option<&'a mut [f32]>,
    /// out.
    pub b: Option<&'a mut [f32]>,
}

/// Columns of dY per db task: the sums of one block run down the rows in order.
const DB_COLS: usize = 256;

/// Below this many multiply-adds in all, backward runs on the calling
/// thread one product after the other (never touching a rayon pool), as a
/// GEMM that small does.
const PAR_MIN_MACS: usize = 1 << 20;

/// True when backward of `p` runs entirely on the calling thread, so a
/// caller may skip entering a thread pool.
pub fn backward_is_serial(p: &Linear) -> bool {
    p.rows.saturating_mul(p.inp).saturating_mul(p.out) < PAR_MIN_MACS
}

/// True when forward of `p` runs entirely on the calling thread.
pub fn forward_is_serial(p: &Linear) -> bool {
    super::gemm::runs_serially(&p.forward_gemm())
}

/// Columns summed in registers at a time by [`block_sums`]: 8 AVX2 vectors.
const SUM_COLS: usize = 64;

/// acc[j] = Σ_i dY[i, j0 + j] over the first `rows` rows, in order.
///
/// `SUM_COLS` columns at a time are summed in a local array the compiler
/// keeps in registers, down all the rows, rather than in `acc`: adding each
/// row into memory made every add a load and a store (2× slower at a Linear
/// layer's 768×512 dY). Each column still starts at 0 and adds its rows in
/// order, so the bits are the same.
#[inline(always)]
fn block_sums(acc: &mut [f32], dy: &[f32], rows: usize, out: usize, j0: usize) {
    let width = acc.len();
    let mut strips = acc.chunks_exact_mut(SUM_COLS);
    for (s, strip) in strips.by_ref().enumerate() {
        let c0 = j0 + s * SUM_COLS;
        let mut sums = [0.0f32; SUM_COLS];
        for row in dy.chunks_exact(out).take(rows) {
            for (a, &v) in sums.iter_mut().zip(&row[c0..c0 + SUM_COLS]) {
                *a += v;
            }
        }
        strip.copy_from_slice(&sums);
    }
    let tail = strips.into_remainder();
    let c0 = j0 + width - tail.len();
    tail.fill(0.0);
    for row in dy.chunks_exact(out).take(rows) {
        for (a, &v) in tail.iter_mut().zip(&row[c0..]) {
            *a += v;
        }
    }
}

/// [`block_sums`] compiled for AVX2 (8 columns per add instead of SSE's 4; each
/// column still sums its rows in order, so the bits do not change).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block_sums_avx2(acc: &mut [f32], dy: &[f32], rows: usize, out: usize, j0: usize) {
    block_sums(acc, dy, rows, out, j0)
}

/// db[j] = Σ_i dY[i, j], rows in order, column blocks in parallel when `parallel`.
fn column_sums(dy: &[f32], rows: usize, out: usize, db: &mut [f32], parallel: bool) {
    let level = isa();
    let task = |(jb, acc): (usize, &mut [f32])| {
        let j0 = jb * DB_COLS;
        match level {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the AVX2 and AVX-512 levels are only chosen on CPUs with AVX2.
            Isa::Avx2 | Isa::Avx512 => unsafe { block_sums_avx2(acc, dy, rows, out, j0) },
            _ => block_sums(acc, dy, rows, out, j0),
        }
    };
    if parallel {
        db.par_chunks_mut(DB_COLS).enumerate().for_each(task);
    } else {
        db.chunks_mut(DB_COLS).enumerate().for_each(task);
    }
}

/// dX = dY·W, dW = dYᵀ·x and db = Σ_rows dY, side by side in the caller's
/// rayon pool.
///
/// # Shapes
/// - as [`forward`]; dy: rows × out dense; grads: see [`Grads`]
pub fn backward(p: &Linear, x: &[f32], w: &[f32], dy: &[f32], grads: Grads<'_>) -> Result<()> {
    check_len("dy", dy.len(), p.rows * p.out)?;
    let (gx, gw) = (p.dx_gemm(), p.dw_gemm());
    if let Some(dx) = &grads.x {
        gx.validate(dy.len(), w.len(), dx.len())?;
        check_len("dx", dx.len(), p.rows * p.inp)?;
    }
    if let Some(dw) = &grads.w {
        gw.validate(dy.len(), x.len(), dw.len())?;
        check_len("dw", dw.len(), p.out * p.inp)?;
    }
    if let Some(db) = &grads.b {
        check_len("db", db.len(), p.out)?;
    }
    let Grads {
        x: dx,
        w: dw,
        b: db,
    } = grads;
    // Shapes were checked above, so the products cannot fail.
    let run_dx = || dx.map(|c| super::gemm::sgemm(&gx, dy, w, c));
    let run_dw = || dw.map(|c| super::gemm::sgemm(&gw, dy, x, c));
    let parallel = !backward_is_serial(p);
    let run_db = || {
        if let Some(db) = db {
            column_sums(dy, p.rows, p.out, db, parallel)
        }
    };
    let (rx, rw) = if parallel {
        let (rx, (rw, ())) = rayon::join(run_dx, || rayon::join(run_dw, run_db));
        (rx, rw)
    } else {
        let (rx, rw) = (run_dx(), run_dw());
        run_db();
        (rx, rw)
    };
    rx.transpose()?;
    rw.transpose()?;
    Ok(())
}

#[cfg(test)]
mod tests;
