//! `_core.layer_norm` / `layer_norm_backward` over the last axis.

use numpy::{PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::array::{call, check_shape, contiguous, contiguous_mut, dense, rows_n, Pool};
use pyo3::exceptions::PyValueError;

use super::errors::ShapeError;
use crate::kernels::norm;

type In<'py, T = f32> = PyReadonlyArrayDyn<'py, T>;
type Out<'py> = PyReadwriteArrayDyn<'py, f32>;

/// LayerNorm over the last axis of `x`: fills out, mean and rstd (x.shape[:-1]).
#[pyfunction]
#[pyo3(signature = (x, weight, bias, eps, out, mean, rstd))]
#[allow(clippy::too_many_arguments)]
pub(super) fn layer_norm(
    py: Python<'_>,
    x: In<'_>,
    weight: Option<In<'_>>,
    bias: Option<In<'_>>,
    eps: f32,
    mut out: Out<'_>,
    mut mean: Out<'_>,
    mut rstd: Out<'_>,
) -> PyResult<()> {
    const OP: &str = "layer_norm";
    let (rows, n) = rows_n(x.shape());
    check_shape(OP, "out", out.shape(), x.shape())?;
    if mean.len() != rows || rstd.len() != rows {
        return Err(ShapeError::new_err(format!(
            "{OP}: mean and rstd must have {rows} elements, got {} and {}",
            mean.len(),
            rstd.len()
        )));
    }
    let xs = contiguous(&x, OP, "x")?;
    let w = weight
        .as_ref()
        .map(|w| dense(w, OP, "weight", &[n]))
        .transpose()?;
    let b = bias
        .as_ref()
        .map(|b| dense(b, OP, "bias", &[n]))
        .transpose()?;
    let ys = contiguous_mut(&mut out, OP, "out")?;
    let ms = contiguous_mut(&mut mean, OP, "mean")?;
    let rs = contiguous_mut(&mut rstd, OP, "rstd")?;
    call(py, Pool::Work(xs.len()), || {
        norm::layer_norm(xs, w, b, rows, n, eps, ys, ms, rs)
    })
}

/// LayerNorm backward: fills dx, and dweight/dbias when given.
#[pyfunction]
#[pyo3(signature = (dy, x, weight, mean, rstd, dx, dweight=None, dbias=None))]
#[allow(clippy::too_many_arguments)]
pub(super) fn layer_norm_backward(
    py: Python<'_>,
    dy: In<'_>,
    x: In<'_>,
    weight: Option<In<'_>>,
    mean: In<'_>,
    rstd: In<'_>,
    mut dx: Out<'_>,
    dweight: Option<Out<'_>>,
    dbias: Option<Out<'_>>,
) -> PyResult<()> {
    const OP: &str = "layer_norm_backward";
    let (rows, n) = rows_n(x.shape());
    check_shape(OP, "dy", dy.shape(), x.shape())?;
    check_shape(OP, "dx", dx.shape(), x.shape())?;
    let dys = contiguous(&dy, OP, "dy")?;
    let xs = contiguous(&x, OP, "x")?;
    let w = weight
        .as_ref()
        .map(|w| dense(w, OP, "weight", &[n]))
        .transpose()?;
    let row_shape = &x.shape()[..x.ndim().saturating_sub(1)];
    let ms = dense(&mean, OP, "mean", row_shape)?;
    let rs = dense(&rstd, OP, "rstd", row_shape)?;
    let dxs = contiguous_mut(&mut dx, OP, "dx")?;
    let (mut dw, mut db) = (dweight, dbias);
    let dwb = match (&mut dw, &mut db) {
        (Some(w), Some(b)) => Some((
            contiguous_mut(w, OP, "dweight")?,
            contiguous_mut(b, OP, "dbias")?,
        )),
        (None, None) => None,
        _ => {
            return Err(PyValueError::new_err(format!(
                "{OP}: pass both dweight and dbias or neither"
            )))
        }
    };
    call(py, Pool::Work(xs.len()), || {
        norm::layer_norm_backward(dys, xs, w, ms, rs, rows, n, dxs, dwb)
    })
}
