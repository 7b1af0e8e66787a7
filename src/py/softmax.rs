//! `_core.softmax` / `log_softmax` and their backward: C-contiguous arrays over
//! the last axis (the Python layer in `attnrs.ops.softmax` moves the axis and
//! allocates the outputs).

use numpy::{PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::array::{call, check_shape, contiguous, contiguous_mut, rows_n, Pool};
use super::errors::ShapeError;
use crate::kernels::softmax::{self as sm, Mask};

type In<'py, T = f32> = PyReadonlyArrayDyn<'py, T>;
type Out<'py> = PyReadwriteArrayDyn<'py, f32>;

/// Softmax over the last axis of `x` into `out`; `mask` (n,) or x's shape.
#[pyfunction]
#[pyo3(signature = (x, out, scale=1.0, mask=None))]
pub(super) fn softmax(
    py: Python<'_>,
    x: In<'_>,
    mut out: Out<'_>,
    scale: f32,
    mask: Option<In<'_>>,
) -> PyResult<()> {
    const OP: &str = "softmax";
    let (rows, n) = rows_n(x.shape());
    check_shape(OP, "out", out.shape(), x.shape())?;
    let xs = contiguous(&x, OP, "x")?;
    let ys = contiguous_mut(&mut out, OP, "out")?;
    let m = match &mask {
        None => Mask::None,
        Some(m) if m.shape() == [n] => Mask::Row(contiguous(m, OP, "mask")?),
        Some(m) if m.shape() == x.shape() => Mask::Full(contiguous(m, OP, "mask")?),
        Some(m) => {
            return Err(ShapeError::new_err(format!(
                "{OP}: mask must have shape ({n},) or {:?}, got {:?}",
                x.shape(),
                m.shape()
            )))
        }
    };
    call(py, Pool::Work(xs.len()), || {
        sm::softmax(xs, ys, rows, n, scale, m)
    })
}

/// Softmax backward, `out = scale·y⊙(dy − Σ dy⊙y)`, or with `log` the
/// log-softmax backward, `out = dy − exp(y)·Σ dy`, over the last axis.
#[pyfunction]
#[pyo3(signature = (y, dy, out, scale=1.0, log=false))]
pub(super) fn softmax_backward(
    py: Python<'_>,
    y: In<'_>,
    dy: In<'_>,
    mut out: Out<'_>,
    scale: f32,
    log: bool,
) -> PyResult<()> {
    let op = if log {
        "log_softmax_backward"
    } else {
        "softmax_backward"
    };
    let (rows, n) = rows_n(y.shape());
    check_shape(op, "dy", dy.shape(), y.shape())?;
    check_shape(op, "out", out.shape(), y.shape())?;
    let (ys, dys) = (contiguous(&y, op, "y")?, contiguous(&dy, op, "dy")?);
    let dx = contiguous_mut(&mut out, op, "out")?;
    call(py, Pool::Work(ys.len()), || {
        if log {
            sm::log_softmax_backward(ys, dys, dx, rows, n)
        } else {
            sm::softmax_backward(ys, dys, dx, rows, n, scale)
        }
    })
}

/// Log-softmax over the last axis.
#[pyfunction]
pub(super) fn log_softmax(py: Python<'_>, x: In<'_>, mut out: Out<'_>) -> PyResult<()> {
    const OP: &str = "log_softmax";
    let (rows, n) = rows_n(x.shape());
    check_shape(OP, "out", out.shape(), x.shape())?;
    let xs = contiguous(&x, OP, "x")?;
    let ys = contiguous_mut(&mut out, OP, "out")?;
    call(py, Pool::Work(xs.len()), || {
        sm::log_softmax(xs, ys, rows, n)
    })
}
