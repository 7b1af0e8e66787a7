//! `_core.conv1d_forward / conv1d_backward / conv1d_step`: strided inputs,
//! dense outputs allocated by `attnrs.ops`. Shapes are checked here; dtype
//! conversion and defaults live in Python.

use numpy::{PyReadonlyArrayDyn, PyReadwriteArrayDyn};
use pyo3::prelude::*;

use super::array::{call, contiguous, dense, dense_mut, view, Pool, View};
use super::errors::ShapeError;
use crate::kernels::conv1d::{self, Conv1d, Padding, StreamStep, View3};

const OP: &str = "conv1d";
/// Streaming steps with fewer multiply-adds run without entering the pool.
const STEP_INLINE_MACS: usize = 1 << 18;

fn view3<'a>(v: &View<'a>, arg: &str, what: &str) -> PyResult<View3<'a>> {
    if v.shape.len() != 3 {
        return Err(ShapeError::new_err(format!(
            "{OP}: {arg} must be 3-D {what}; got shape {:?}",
            v.shape
        )));
    }
    Ok(View3 {
        data: v.data,
        strides: [v.strides[0], v.strides[1], v.strides[2]],
    })
}

/// The geometry from x (B, C_in, T) and w (C_out, C_in, K).
fn geometry(x: &View<'_>, w: &View<'_>, dilation: usize, causal: bool) -> PyResult<Conv1d> {
    if w.shape.len() == 3 && x.shape.len() == 3 && w.shape[1] != x.shape[1] {
        return Err(ShapeError::new_err(format!(
            "{OP}: input has {} channels (shape {:?}) but weight expects C_in = {} (shape {:?})",
            x.shape[1], x.shape, w.shape[1], w.shape
        )));
    }
    Ok(Conv1d {
        batch: x.shape[0],
        c_in: x.shape[1],
        c_out: w.shape[0],
        len: x.shape[2],
        kernel: w.shape[2],
        dilation,
        padding: if causal {
            Padding::Causal
        } else {
            Padding::Same
        },
    })
}

/// y = conv1d(x, w) + b into the dense (B, C_out, T) array `y`.
#[pyfunction]
#[pyo3(signature = (x, w, b, y, dilation, causal))]
pub(super) fn conv1d_forward(
    py: Python<'_>,
    x: PyReadonlyArrayDyn<'_, f32>,
    w: PyReadonlyArrayDyn<'_, f32>,
    b: Option<PyReadonlyArrayDyn<'_, f32>>,
    mut y: PyReadwriteArrayDyn<'_, f32>,
    dilation: usize,
    causal: bool,
) -> PyResult<()> {
    let xv = view(&x, OP, "input")?;
    let wv = view(&w, OP, "weight")?;
    let x3 = view3(&xv, "input", "(batch, channels, time)")?;
    let w3 = view3(&wv, "weight", "(out_channels, in_channels, kernel_size)")?;
    let p = geometry(&xv, &wv, dilation, causal)?;
    let bias = b
        .as_ref()
        .map(|b| dense(b, OP, "bias", &[p.c_out]))
        .transpose()?;
    let yd = dense_mut(&mut y, OP, "output", &[p.batch, p.c_out, p.len])?;
    call(py, Pool::Always, || conv1d::forward(&p, x3, w3, bias, yd))
}

/// The gradients of conv1d into whichever of dx (B, C_in, T), dw (C_out, C_in, K),
/// db (C_out,) are given.
#[pyfunction]
#[pyo3(signature = (x, w, dy, dx, dw, db, dilation, causal))]
#[allow(clippy::too_many_arguments)]
pub(super) fn conv1d_backward(
    py: Python<'_>,
    x: PyReadonlyArrayDyn<'_, f32>,
    w: PyReadonlyArrayDyn<'_, f32>,
    dy: PyReadonlyArrayDyn<'_, f32>,
    mut dx: Option<PyReadwriteArrayDyn<'_, f32>>,
    mut dw: Option<PyReadwriteArrayDyn<'_, f32>>,
    mut db: Option<PyReadwriteArrayDyn<'_, f32>>,
    dilation: usize,
    causal: bool,
) -> PyResult<()> {
    let xv = view(&x, OP, "input")?;
    let wv = view(&w, OP, "weight")?;
    let dyv = view(&dy, OP, "grad_output")?;
    let x3 = view3(&xv, "input", "(batch, channels, time)")?;
    let w3 = view3(&wv, "weight", "(out_channels, in_channels, kernel_size)")?;
    let dy3 = view3(&dyv, "grad_output", "(batch, out_channels, time)")?;
    let p = geometry(&xv, &wv, dilation, causal)?;
    if dyv.shape != [p.batch, p.c_out, p.len] {
        return Err(ShapeError::new_err(format!(
            "{OP}: grad_output must have shape {:?} (the output's); got {:?}",
            [p.batch, p.c_out, p.len],
            dyv.shape
        )));
    }
    let dxd = dx
        .as_mut()
        .map(|a| dense_mut(a, OP, "grad_input", &[p.batch, p.c_in, p.len]))
        .transpose()?;
    let dwd = dw
        .as_mut()
        .map(|a| dense_mut(a, OP, "grad_weight", &[p.c_out, p.c_in, p.kernel]))
        .transpose()?;
    let dbd = db
        .as_mut()
        .map(|a| dense_mut(a, OP, "grad_bias", &[p.c_out]))
        .transpose()?;
    call(py, Pool::Always, || {
        conv1d::backward(&p, x3, w3, dy3, dxd, dwd, dbd)
    })
}

/// One streaming step: x_t (B, C_in) dense, ring (span, B, C_in) dense,
/// y_t (B, C_out) dense; `pos` counts the steps already taken.
#[pyfunction]
#[pyo3(signature = (x_t, w, b, ring, y_t, pos, dilation))]
#[allow(clippy::too_many_arguments)]
pub(super) fn conv1d_step(
    py: Python<'_>,
    x_t: PyReadonlyArrayDyn<'_, f32>,
    w: PyReadonlyArrayDyn<'_, f32>,
    b: Option<PyReadonlyArrayDyn<'_, f32>>,
    mut ring: PyReadwriteArrayDyn<'_, f32>,
    mut y_t: PyReadwriteArrayDyn<'_, f32>,
    pos: usize,
    dilation: usize,
) -> PyResult<()> {
    let xv = view(&x_t, OP, "x_t")?;
    let wv = view(&w, OP, "weight")?;
    let w3 = view3(&wv, "weight", "(out_channels, in_channels, kernel_size)")?;
    if xv.shape.len() != 2 || xv.shape[1] != wv.shape[1] {
        return Err(ShapeError::new_err(format!(
            "{OP}: x_t must be 2-D (batch, in_channels = {}); got shape {:?}",
            wv.shape[1], xv.shape
        )));
    }
    let p = StreamStep {
        batch: xv.shape[0],
        c_in: xv.shape[1],
        c_out: wv.shape[0],
        kernel: wv.shape[2],
        dilation,
    };
    if p.kernel == 0 || dilation == 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "{OP}: expected kernel_size >= 1 and dilation >= 1; got {} and {dilation}",
            p.kernel
        )));
    }
    let xd = contiguous(&x_t, OP, "x_t")?;
    let bias = b
        .as_ref()
        .map(|b| dense(b, OP, "bias", &[p.c_out]))
        .transpose()?;
    // A huge dilation would overflow (K−1)·d + 1 (or the buffer's size) and
    // ask for a wrapped shape: refuse it by name.
    let span = (p.kernel - 1)
        .checked_mul(dilation)
        .and_then(|r| r.checked_add(1))
        .filter(|s| s.checked_mul(p.batch.max(1) * p.c_in.max(1)).is_some())
        .ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(format!(
                "{OP}: dilation {dilation} with kernel_size {}: the state's (K−1)·d + 1 time steps overflow; use a smaller dilation",
                p.kernel
            ))
        })?;
    let rd = dense_mut(&mut ring, OP, "state", &[span, p.batch, p.c_in])?;
    let yd = dense_mut(&mut y_t, OP, "output", &[p.batch, p.c_out])?;
    // A step is usually tiny: handing it to the pool costs more than it
    // does, so small steps run on the calling thread (results are the same
    // on any thread).
    let work = p.batch * p.c_in * p.c_out * p.kernel;
    let pool = if work < STEP_INLINE_MACS {
        Pool::Caller
    } else {
        Pool::Always
    };
    call(py, pool, || conv1d::step(&p, xd, w3, bias, rd, pos, yd))
}
