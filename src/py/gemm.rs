//! `_core.gemm(a, b, c, alpha, beta)`: 3-D strided views (batch, rows, cols),
//! or three 2-D matrices (one product: `attnrs.ops.matmul`'s fast path for
//! 2-D operands, which skips building 3-D views in Python).
//! Broadcasting, dtype conversion and 1-D promotion live in `attnrs.ops`.

use numpy::{PyReadonlyArrayDyn, PyReadwriteArrayDyn};
use pyo3::prelude::*;

use super::array::{view, view_mut};
use super::errors::{detach, to_pyerr, ShapeError};
use crate::error::catch;
use crate::kernels::gemm::{runs_serially, sgemm, Gemm, Strides};
use crate::threads;

/// Products of at most this many multiply-adds (about a microsecond) keep
/// the GIL.
const HOLD_GIL_MACS: usize = 1 << 12;

/// The (batch, rows, cols) shape and strides of a 3-D view, or of a 2-D
/// matrix seen as a batch of one; `two_d` says which all operands must be.
fn dims3(
    op: &str,
    arg: &str,
    shape: &[usize],
    s: &[usize],
    two_d: bool,
) -> PyResult<([usize; 3], Strides)> {
    match (shape.len(), two_d) {
        (3, false) => Ok((
            [shape[0], shape[1], shape[2]],
            Strides {
                batch: s[0],
                row: s[1],
                col: s[2],
            },
        )),
        (2, true) => Ok((
            [1, shape[0], shape[1]],
            Strides {
                batch: 0,
                row: s[0],
                col: s[1],
            },
        )),
        _ => Err(ShapeError::new_err(format!(
            "{op}: {arg}: expected a {}, got shape {shape:?}",
            if two_d {
                "2-D (rows, cols) array (out is 2-D)"
            } else {
                "3-D (batch, rows, cols) array"
            }
        ))),
    }
}

/// C = alpha·A·B + beta·C over the batch; A (batch|1, m, k), B (batch|1, k, n),
/// C (batch, m, n); or all three 2-D: A (m, k), B (k, n), C (m, n).
#[pyfunction]
#[pyo3(signature = (a, b, c, alpha=1.0, beta=0.0))]
fn gemm(
    py: Python<'_>,
    a: PyReadonlyArrayDyn<'_, f32>,
    b: PyReadonlyArrayDyn<'_, f32>,
    mut c: PyReadwriteArrayDyn<'_, f32>,
    alpha: f32,
    beta: f32,
) -> PyResult<()> {
    let av = view(&a, "matmul", "a")?;
    let bv = view(&b, "matmul", "b")?;
    let cv = view_mut(&mut c, "matmul", "out")?;
    let two_d = cv.shape.len() == 2;
    let (a_shape, sa) = dims3("matmul", "a", &av.shape, &av.strides, two_d)?;
    let (b_shape, sb) = dims3("matmul", "b", &bv.shape, &bv.strides, two_d)?;
    let (c_shape, sc) = dims3("matmul", "out", &cv.shape, &cv.strides, two_d)?;
    let [batch, m, n] = c_shape;
    let k = a_shape[2];
    let fits = |shape: &[usize], rows, cols| {
        (shape[0] == batch || shape[0] == 1) && shape[1] == rows && shape[2] == cols
    };
    if !fits(&a_shape, m, k) || !fits(&b_shape, k, n) {
        return Err(ShapeError::new_err(format!(
            "matmul: shapes a {:?}, b {:?}, out {:?} do not agree (expected (batch|1, m, k), (batch|1, k, n), (batch, m, n))",
            av.shape, bv.shape, cv.shape
        )));
    }
    let bcast = |s: Strides, rows: usize| {
        if rows == 1 && batch > 1 {
            s.with_batch(0)
        } else {
            s
        }
    };
    let g = Gemm {
        batch,
        m,
        n,
        k,
        alpha,
        beta,
        a: bcast(sa, a_shape[0]),
        b: bcast(sb, b_shape[0]),
        c: sc,
    };
    let (ad, bd, cd) = (av.data, bv.data, cv.data);
    // A tiny product runs with the GIL held: releasing and re-taking it
    // costs more than the product (a 4×4 one).
    if batch.saturating_mul(m).saturating_mul(n).saturating_mul(k) <= HOLD_GIL_MACS {
        return catch(|| sgemm(&g, ad, bd, cd)).map_err(to_pyerr);
    }
    // A problem too small to split runs here: handing it to the pool would
    // cost a thread wake-up, more than the product itself.
    if runs_serially(&g) {
        return detach(py, || sgemm(&g, ad, bd, cd));
    }
    detach(py, || threads::install(|| sgemm(&g, ad, bd, cd)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(gemm, m)?)?;
    Ok(())
}
