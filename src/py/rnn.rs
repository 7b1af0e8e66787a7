//! `_core.rnn_forward` / `_core.rnn_backward`: one layer, one direction, on
//! C-contiguous float32 arrays (batch-first). `attnrs.ops` makes arrays
//! contiguous and composes layers and directions.

use numpy::ndarray::Dim;
use numpy::{
    PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::array::{call, contiguous, Pool};
use super::errors::ShapeError;
use crate::kernels::rnn::{self, Dims, Mode, SavedView, Weights};

type Arr<'py> = Bound<'py, numpy::PyArray<f32, numpy::IxDyn>>;

fn mode_of(s: &str) -> PyResult<Mode> {
    Mode::parse(s).ok_or_else(|| {
        PyValueError::new_err(format!(
            "rnn: mode: expected 'rnn_tanh', 'rnn_relu', 'lstm' or 'gru', got {s:?}"
        ))
    })
}

fn slice<'a>(a: &'a PyReadonlyArrayDyn<'_, f32>, arg: &str, ndim: usize) -> PyResult<&'a [f32]> {
    let shape = a.shape();
    if shape.len() != ndim {
        return Err(ShapeError::new_err(format!(
            "rnn: {arg}: expected a {ndim}-D array, got shape {shape:?}"
        )));
    }
    contiguous(a, "rnn", arg)
}

fn opt_slice<'a>(
    a: &'a Option<PyReadonlyArrayDyn<'_, f32>>,
    arg: &str,
    ndim: usize,
) -> PyResult<Option<&'a [f32]>> {
    a.as_ref().map(|a| slice(a, arg, ndim)).transpose()
}

/// Sizes from x (B, T, I) and w_hh (G·H, H).
fn dims_of(
    mode: Mode,
    x: &PyReadonlyArrayDyn<'_, f32>,
    w_hh: &PyReadonlyArrayDyn<'_, f32>,
) -> PyResult<Dims> {
    let (xs, ws) = (x.shape(), w_hh.shape());
    if xs.len() != 3 || ws.len() != 2 {
        return Err(ShapeError::new_err(format!(
            "rnn: x must be (B, T, I) and w_hh (G·H, H); got shapes {xs:?} and {ws:?}"
        )));
    }
    let h = ws[1];
    if ws[0] != mode.gates() * h {
        return Err(ShapeError::new_err(format!(
            "rnn: w_hh: expected shape ({}·H, H) for mode {}, got {ws:?}",
            mode.gates(),
            mode.name()
        )));
    }
    Ok(Dims {
        batch: xs[0],
        steps: xs[1],
        input: xs[2],
        hidden: h,
    })
}

fn lengths_of(l: Option<PyReadonlyArray1<'_, i64>>) -> PyResult<Option<Vec<usize>>> {
    let Some(l) = l else { return Ok(None) };
    l.as_array()
        .iter()
        .map(|&v| {
            usize::try_from(v).map_err(|_| {
                PyValueError::new_err(format!(
                    "rnn: lengths: expected non-negative lengths, got {v}"
                ))
            })
        })
        .collect::<PyResult<Vec<usize>>>()
        .map(Some)
}

fn arr<'py>(py: Python<'py>, v: Vec<f32>, shape: &[usize]) -> PyResult<Arr<'py>> {
    PyArray1::from_vec(py, v).reshape(Dim(shape.to_vec()))
}

fn opt_arr<'py>(py: Python<'py>, v: Vec<f32>, shape: &[usize]) -> PyResult<Option<Arr<'py>>> {
    if v.is_empty() {
        Ok(None)
    } else {
        arr(py, v, shape).map(Some)
    }
}

/// Forward of one layer and direction.
///
/// Returns `(out (B,T,H), h_n (B,H), c_n (B,H) | None, (gates, hprev, cprev, extra))`;
/// the last tuple is what `rnn_backward` needs (empty 1-D arrays where unused).
/// `save=False` (inference) keeps nothing for backward and returns `[]` for it.
#[pyfunction]
#[pyo3(signature = (mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths=None, save=true))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub(super) fn rnn_forward<'py>(
    py: Python<'py>,
    mode: &str,
    x: PyReadonlyArrayDyn<'py, f32>,
    h0: PyReadonlyArrayDyn<'py, f32>,
    c0: Option<PyReadonlyArrayDyn<'py, f32>>,
    w_ih: PyReadonlyArrayDyn<'py, f32>,
    w_hh: PyReadonlyArrayDyn<'py, f32>,
    b_ih: Option<PyReadonlyArrayDyn<'py, f32>>,
    b_hh: Option<PyReadonlyArrayDyn<'py, f32>>,
    lengths: Option<PyReadonlyArray1<'py, i64>>,
    save: bool,
) -> PyResult<(Arr<'py>, Arr<'py>, Option<Arr<'py>>, Vec<Arr<'py>>)> {
    let mode = mode_of(mode)?;
    let d = dims_of(mode, &x, &w_hh)?;
    let w = Weights {
        w_ih: slice(&w_ih, "w_ih", 2)?,
        w_hh: slice(&w_hh, "w_hh", 2)?,
        b_ih: opt_slice(&b_ih, "b_ih", 1)?,
        b_hh: opt_slice(&b_hh, "b_hh", 1)?,
    };
    let (xs, hs) = (slice(&x, "x", 3)?, slice(&h0, "h0", 2)?);
    let cs = opt_slice(&c0, "c0", 2)?;
    let lens = lengths_of(lengths)?;
    let run = if save { rnn::forward } else { rnn::infer };
    let o = call(py, Pool::Always, || {
        run(mode, &d, xs, hs, cs, &w, lens.as_deref())
    })?;
    let (b, t, h) = (d.batch, d.steps, d.hidden);
    let s = o.saved;
    let (cn, en) = (s.cprev.len(), s.extra.len());
    let saved = if save {
        vec![
            arr(py, s.gates, &[b, t, d.gh(mode)])?,
            arr(py, s.hprev, &[b, t, h])?,
            arr(py, s.cprev, &[cn])?,
            arr(py, s.extra, &[en])?,
        ]
    } else {
        Vec::new()
    };
    Ok((
        arr(py, o.out, &[b, t, h])?,
        arr(py, o.h_n, &[b, h])?,
        opt_arr(py, o.c_n, &[b, h])?,
        saved,
    ))
}

/// BPTT of one layer and direction; `saved` is the 4-tuple `rnn_forward` returned.
///
/// Returns `(dx | None, dh0, dc0 | None, dw_ih, dw_hh, db_ih | None, db_hh | None)`;
/// `dx` is None when `need_dx` is false (its GEMM is skipped).
#[pyfunction]
#[pyo3(signature = (mode, x, w_ih, w_hh, b_ih, b_hh, lengths, saved, dout, dh_n=None, dc_n=None, need_dx=true))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub(super) fn rnn_backward<'py>(
    py: Python<'py>,
    mode: &str,
    x: PyReadonlyArrayDyn<'py, f32>,
    w_ih: PyReadonlyArrayDyn<'py, f32>,
    w_hh: PyReadonlyArrayDyn<'py, f32>,
    b_ih: Option<PyReadonlyArrayDyn<'py, f32>>,
    b_hh: Option<PyReadonlyArrayDyn<'py, f32>>,
    lengths: Option<PyReadonlyArray1<'py, i64>>,
    saved: Vec<PyReadonlyArrayDyn<'py, f32>>,
    dout: PyReadonlyArrayDyn<'py, f32>,
    dh_n: Option<PyReadonlyArrayDyn<'py, f32>>,
    dc_n: Option<PyReadonlyArrayDyn<'py, f32>>,
    need_dx: bool,
) -> PyResult<(
    Option<Arr<'py>>,
    Arr<'py>,
    Option<Arr<'py>>,
    Arr<'py>,
    Arr<'py>,
    Option<Arr<'py>>,
    Option<Arr<'py>>,
)> {
    let mode = mode_of(mode)?;
    let d = dims_of(mode, &x, &w_hh)?;
    if saved.len() != 4 {
        return Err(ShapeError::new_err(format!(
            "rnn_backward: saved: expected the 4 arrays rnn_forward returned, got {}",
            saved.len()
        )));
    }
    let sv = SavedView {
        gates: contiguous(&saved[0], "rnn_backward", "saved[0]")?,
        hprev: contiguous(&saved[1], "rnn_backward", "saved[1]")?,
        cprev: contiguous(&saved[2], "rnn_backward", "saved[2]")?,
        extra: contiguous(&saved[3], "rnn_backward", "saved[3]")?,
    };
    let w = Weights {
        w_ih: slice(&w_ih, "w_ih", 2)?,
        w_hh: slice(&w_hh, "w_hh", 2)?,
        b_ih: opt_slice(&b_ih, "b_ih", 1)?,
        b_hh: opt_slice(&b_hh, "b_hh", 1)?,
    };
    let xs = slice(&x, "x", 3)?;
    let ds = slice(&dout, "dout", 3)?;
    let dhs = opt_slice(&dh_n, "dh_n", 2)?;
    let dcs = opt_slice(&dc_n, "dc_n", 2)?;
    let lens = lengths_of(lengths)?;
    let g = call(py, Pool::Always, || {
        rnn::backward(
            mode,
            &d,
            xs,
            &w,
            lens.as_deref(),
            &sv,
            ds,
            dhs,
            dcs,
            need_dx,
        )
    })?;
    let (b, t, i, h, gh) = (d.batch, d.steps, d.input, d.hidden, d.gh(mode));
    Ok((
        opt_arr(py, g.dx, &[b, t, i])?,
        arr(py, g.dh0, &[b, h])?,
        opt_arr(py, g.dc0, &[b, h])?,
        arr(py, g.dw_ih, &[gh, i])?,
        arr(py, g.dw_hh, &[gh, h])?,
        opt_arr(py, g.db_ih, &[gh])?,
        opt_arr(py, g.db_hh, &[gh])?,
    ))
}
