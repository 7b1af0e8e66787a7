//! `_core.gemm(a, b, c, alpha, beta)`: 3-D strided views (batch, rows, cols).
//! Broadcasting, dtype conversion and 1-D promotion live in `attnrs.ops`.

use numpy::{PyReadonlyArrayDyn, PyReadwriteArrayDyn};
use pyo3::prelude::*;

use super::array::{view, view_mut};
use super::errors::{detach, ShapeError};
use crate::kernels::gemm::{runs_serially, sgemm, Gemm, Strides};
use crate::threads;

fn strides3(op: &str, arg: &str, shape: &[usize], s: &[usize]) -> PyResult<Strides> {
    if shape.len() != 3 {
        return Err(ShapeError::new_err(format!(
            "{op}: {arg}: expected a 3-D (batch, rows, cols) array, got shape {shape:?}"
        )));
    }
    Ok(Strides {
        batch: s[0],
        row: s[1],
        col: s[2],
    })
}

/// C = alpha·A·B + beta·C over the batch; A (batch|1, m, k), B (batch|1, k, n), C (batch, m, n).
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
    let sa = strides3("matmul", "a", &av.shape, &av.strides)?;
    let sb = strides3("matmul", "b", &bv.shape, &bv.strides)?;
    let sc = strides3("matmul", "out", &cv.shape, &cv.strides)?;
    let (batch, m, n) = (cv.shape[0], cv.shape[1], cv.shape[2]);
    let k = av.shape[2];
    let fits = |shape: &[usize], rows, cols| {
        (shape[0] == batch || shape[0] == 1) && shape[1] == rows && shape[2] == cols
    };
    if !fits(&av.shape, m, k) || !fits(&bv.shape, k, n) {
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
        a: bcast(sa, av.shape[0]),
        b: bcast(sb, bv.shape[0]),
        c: sc,
    };
    let (ad, bd, cd) = (av.data, bv.data, cv.data);
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
