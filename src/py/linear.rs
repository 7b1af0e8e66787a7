//! `_core.linear_forward` / `_core.linear_backward`: a Linear layer's
//! `y = x·Wᵀ + b` and its three gradients, each one call. x and W may be any
//! 2-D strided views; outputs, dy and the bias are C-contiguous (checked by
//! the shared `array::dense` helpers) and allocated by Python
//! (`attnrs.ops.linear`).

use numpy::{PyReadonlyArrayDyn, PyReadwriteArrayDyn};
use pyo3::prelude::*;

use super::array::{dense, dense_mut, view};
use super::errors::{detach, ShapeError};
use crate::kernels::gemm::Strides;
use crate::kernels::linear::{self, Grads, Linear};
use crate::threads;

type In<'py> = PyReadonlyArrayDyn<'py, f32>;
type Out<'py> = PyReadwriteArrayDyn<'py, f32>;

const OP: &str = "linear";

fn shape_err(arg: &str, want: String, got: &[usize]) -> PyErr {
    ShapeError::new_err(format!("{OP}: {arg} must have shape {want}, got {got:?}"))
}

/// The problem and the strides of x (rows, inp) and W (out, inp).
fn problem(x: &[usize], xs: &[usize], w: &[usize], ws: &[usize]) -> PyResult<Linear> {
    if x.len() != 2 {
        return Err(shape_err("x", "(rows, in_features)".into(), x));
    }
    if w.len() != 2 || w[1] != x[1] {
        return Err(shape_err("weight", format!("(out_features, {})", x[1]), w));
    }
    let st = |s: &[usize]| Strides {
        row: s[0],
        col: s[1],
        batch: 0,
    };
    Ok(Linear {
        x: st(xs),
        w: st(ws),
        ..Linear::new(x[0], x[1], w[0])
    })
}

/// y = x·Wᵀ + b; x (rows, in), w (out, in), bias (out,) or None, y (rows, out).
#[pyfunction]
#[pyo3(signature = (x, w, y, bias=None))]
fn linear_forward(
    py: Python<'_>,
    x: In<'_>,
    w: In<'_>,
    mut y: Out<'_>,
    bias: Option<In<'_>>,
) -> PyResult<()> {
    let xv = view(&x, OP, "x")?;
    let wv = view(&w, OP, "weight")?;
    let p = problem(&xv.shape, &xv.strides, &wv.shape, &wv.strides)?;
    let ys = dense_mut(&mut y, OP, "out", &[p.rows, p.out])?;
    let bs = match &bias {
        Some(b) => Some(dense(b, OP, "bias", &[p.out])?),
        None => None,
    };
    let (xd, wd) = (xv.data, wv.data);
    let f = || linear::forward(&p, xd, wd, bs, ys);
    // A product too small to split runs here: a pool hand-off costs more.
    if linear::forward_is_serial(&p) {
        return detach(py, f);
    }
    detach(py, || threads::install(f))
}

/// dx = dy·W, dw = dyᵀ·x, db = Σ_rows dy, each written when given.
#[pyfunction]
#[pyo3(signature = (x, w, dy, dx=None, dw=None, db=None))]
fn linear_backward(
    py: Python<'_>,
    x: In<'_>,
    w: In<'_>,
    dy: In<'_>,
    mut dx: Option<Out<'_>>,
    mut dw: Option<Out<'_>>,
    mut db: Option<Out<'_>>,
) -> PyResult<()> {
    let xv = view(&x, OP, "x")?;
    let wv = view(&w, OP, "weight")?;
    let p = problem(&xv.shape, &xv.strides, &wv.shape, &wv.strides)?;
    let dys = dense(&dy, OP, "grad_output", &[p.rows, p.out])?;
    let grads = Grads {
        x: match dx.as_mut() {
            Some(a) => Some(dense_mut(a, OP, "grad_input", &[p.rows, p.inp])?),
            None => None,
        },
        w: match dw.as_mut() {
            Some(a) => Some(dense_mut(a, OP, "grad_weight", &[p.out, p.inp])?),
            None => None,
        },
        b: match db.as_mut() {
            Some(a) => Some(dense_mut(a, OP, "grad_bias", &[p.out])?),
            None => None,
        },
    };
    let (xd, wd) = (xv.data, wv.data);
    let f = || linear::backward(&p, xd, wd, dys, grads);
    if linear::backward_is_serial(&p) {
        return detach(py, f);
    }
    detach(py, || threads::install(f))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(linear_forward, m)?)?;
    m.add_function(wrap_pyfunction!(linear_backward, m)?)?;
    Ok(())
}
