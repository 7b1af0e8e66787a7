//! Bindings of the fused layer kernels: softmax, log-softmax,
//! cross-entropy, layernorm, activations, embedding, AdamW.
//!
//! Every array is C-contiguous (the Python layer in `attnrs.ops` makes it
//! so); outputs are allocated by Python and passed in. Validate → release
//! the GIL → `kernels::…` in the attnrs pool.

use numpy::{PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::errors::{detach, ShapeError};
use crate::kernels::activation::{self as act_kernels, Act};
use crate::kernels::embedding as emb;
use crate::kernels::loss::{self, CrossEntropy, Reduction};
use crate::kernels::norm;
use crate::kernels::optim::{self, AdamW};
use crate::kernels::softmax::{self as sm, Mask};
use crate::threads;

type In<'py, T = f32> = PyReadonlyArrayDyn<'py, T>;
type Out<'py> = PyReadwriteArrayDyn<'py, f32>;

fn not_contig(op: &str, arg: &str) -> PyErr {
    ShapeError::new_err(format!(
        "{op}: {arg} must be C-contiguous (use np.ascontiguousarray)"
    ))
}

fn slice<'a, T: numpy::Element>(a: &'a In<'_, T>, op: &str, arg: &str) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| not_contig(op, arg))
}

fn slice_mut<'a>(a: &'a mut Out<'_>, op: &str, arg: &str) -> PyResult<&'a mut [f32]> {
    a.as_slice_mut().map_err(|_| not_contig(op, arg))
}

/// (rows, n) of an array: n is the last axis, rows the product of the others.
fn rows_n(shape: &[usize]) -> (usize, usize) {
    match shape.split_last() {
        Some((&n, rest)) => (rest.iter().product(), n),
        None => (1, 1),
    }
}

fn same_shape(op: &str, arg: &str, got: &[usize], want: &[usize]) -> PyResult<()> {
    if got != want {
        return Err(ShapeError::new_err(format!(
            "{op}: {arg} must have shape {want:?}, got {got:?}"
        )));
    }
    Ok(())
}

/// Softmax over the last axis of `x` into `out`; `mask` (n,) or x's shape.
#[pyfunction]
#[pyo3(signature = (x, out, scale=1.0, mask=None))]
fn softmax(
    py: Python<'_>,
    x: In<'_>,
    mut out: Out<'_>,
    scale: f32,
    mask: Option<In<'_>>,
) -> PyResult<()> {
    const OP: &str = "softmax";
    let (rows, n) = rows_n(x.shape());
    same_shape(OP, "out", out.shape(), x.shape())?;
    let xs = slice(&x, OP, "x")?;
    let ys = slice_mut(&mut out, OP, "out")?;
    let m = match &mask {
        None => Mask::None,
        Some(m) if m.shape() == [n] => Mask::Row(slice(m, OP, "mask")?),
        Some(m) if m.shape() == x.shape() => Mask::Full(slice(m, OP, "mask")?),
        Some(m) => {
            return Err(ShapeError::new_err(format!(
                "{OP}: mask must have shape ({n},) or {:?}, got {:?}",
                x.shape(),
                m.shape()
            )))
        }
    };
    detach(py, || {
        threads::install_for(xs.len(), || sm::softmax(xs, ys, rows, n, scale, m))
    })
}

/// Softmax backward: `out = scale·y⊙(dy − Σ dy⊙y)` over the last axis.
#[pyfunction]
#[pyo3(signature = (y, dy, out, scale=1.0))]
fn softmax_backward(
    py: Python<'_>,
    y: In<'_>,
    dy: In<'_>,
    mut out: Out<'_>,
    scale: f32,
) -> PyResult<()> {
    const OP: &str = "softmax_backward";
    let (rows, n) = rows_n(y.shape());
    same_shape(OP, "dy", dy.shape(), y.shape())?;
    same_shape(OP, "out", out.shape(), y.shape())?;
    let (ys, dys) = (slice(&y, OP, "y")?, slice(&dy, OP, "dy")?);
    let dx = slice_mut(&mut out, OP, "out")?;
    detach(py, || {
        threads::install_for(ys.len(), || {
            sm::softmax_backward(ys, dys, dx, rows, n, scale)
        })
    })
}

/// Log-softmax over the last axis.
#[pyfunction]
fn log_softmax(py: Python<'_>, x: In<'_>, mut out: Out<'_>) -> PyResult<()> {
    const OP: &str = "log_softmax";
    let (rows, n) = rows_n(x.shape());
    same_shape(OP, "out", out.shape(), x.shape())?;
    let xs = slice(&x, OP, "x")?;
    let ys = slice_mut(&mut out, OP, "out")?;
    detach(py, || {
        threads::install_for(xs.len(), || sm::log_softmax(xs, ys, rows, n))
    })
}

/// Log-softmax backward: `out = dy − exp(y)·Σ dy` over the last axis.
#[pyfunction]
fn log_softmax_backward(py: Python<'_>, y: In<'_>, dy: In<'_>, mut out: Out<'_>) -> PyResult<()> {
    const OP: &str = "log_softmax_backward";
    let (rows, n) = rows_n(y.shape());
    same_shape(OP, "dy", dy.shape(), y.shape())?;
    same_shape(OP, "out", out.shape(), y.shape())?;
    let (ys, dys) = (slice(&y, OP, "y")?, slice(&dy, OP, "dy")?);
    let dx = slice_mut(&mut out, OP, "out")?;
    detach(py, || {
        threads::install_for(ys.len(), || sm::log_softmax_backward(ys, dys, dx, rows, n))
    })
}

/// Cross-entropy of (N, C) logits against (N,) int64 targets; fills the
/// per-row losses and dlogits, returns the reduced loss.
#[pyfunction]
#[pyo3(signature = (logits, target, losses, dlogits, ignore_index=-100, label_smoothing=0.0, reduction="mean"))]
#[allow(clippy::too_many_arguments)]
fn cross_entropy(
    py: Python<'_>,
    logits: In<'_>,
    target: In<'_, i64>,
    mut losses: Out<'_>,
    mut dlogits: Out<'_>,
    ignore_index: i64,
    label_smoothing: f32,
    reduction: &str,
) -> PyResult<f32> {
    const OP: &str = "cross_entropy";
    let reduction = match reduction {
        "mean" => Reduction::Mean,
        "sum" => Reduction::Sum,
        "none" => Reduction::None,
        other => {
            return Err(PyValueError::new_err(format!(
                "{OP}: reduction must be 'mean', 'sum' or 'none', got {other:?}"
            )))
        }
    };
    if logits.ndim() != 2 {
        return Err(ShapeError::new_err(format!(
            "{OP}: logits must be 2-D (N, C), got shape {:?}",
            logits.shape()
        )));
    }
    let (n, c) = (logits.shape()[0], logits.shape()[1]);
    same_shape(OP, "target", target.shape(), &[n])?;
    same_shape(OP, "losses", losses.shape(), &[n])?;
    same_shape(OP, "dlogits", dlogits.shape(), &[n, c])?;
    let xs = slice(&logits, OP, "logits")?;
    let ts = slice(&target, OP, "target")?;
    let ls = slice_mut(&mut losses, OP, "losses")?;
    let gs = slice_mut(&mut dlogits, OP, "dlogits")?;
    let p = CrossEntropy {
        ignore_index,
        label_smoothing,
        reduction,
    };
    detach(py, || {
        threads::install_for(xs.len(), || loss::cross_entropy(xs, ts, n, c, p, ls, gs))
    })
}

/// LayerNorm over the last axis of `x`: fills out, mean and rstd (x.shape[:-1]).
#[pyfunction]
#[pyo3(signature = (x, weight, bias, eps, out, mean, rstd))]
#[allow(clippy::too_many_arguments)]
fn layer_norm(
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
    same_shape(OP, "out", out.shape(), x.shape())?;
    if mean.len() != rows || rstd.len() != rows {
        return Err(ShapeError::new_err(format!(
            "{OP}: mean and rstd must have {rows} elements, got {} and {}",
            mean.len(),
            rstd.len()
        )));
    }
    let xs = slice(&x, OP, "x")?;
    let w = weight
        .as_ref()
        .map(|w| slice(w, OP, "weight"))
        .transpose()?;
    let b = bias.as_ref().map(|b| slice(b, OP, "bias")).transpose()?;
    let ys = slice_mut(&mut out, OP, "out")?;
    let ms = slice_mut(&mut mean, OP, "mean")?;
    let rs = slice_mut(&mut rstd, OP, "rstd")?;
    detach(py, || {
        threads::install_for(xs.len(), || {
            norm::layer_norm(xs, w, b, rows, n, eps, ys, ms, rs)
        })
    })
}

/// LayerNorm backward: fills dx, and dweight/dbias when given.
#[pyfunction]
#[pyo3(signature = (dy, x, weight, mean, rstd, dx, dweight=None, dbias=None))]
#[allow(clippy::too_many_arguments)]
fn layer_norm_backward(
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
    same_shape(OP, "dy", dy.shape(), x.shape())?;
    same_shape(OP, "dx", dx.shape(), x.shape())?;
    let dys = slice(&dy, OP, "dy")?;
    let xs = slice(&x, OP, "x")?;
    let w = weight
        .as_ref()
        .map(|w| slice(w, OP, "weight"))
        .transpose()?;
    let ms = slice(&mean, OP, "mean")?;
    let rs = slice(&rstd, OP, "rstd")?;
    let dxs = slice_mut(&mut dx, OP, "dx")?;
    let (mut dw, mut db) = (dweight, dbias);
    let dwb = match (&mut dw, &mut db) {
        (Some(w), Some(b)) => Some((slice_mut(w, OP, "dweight")?, slice_mut(b, OP, "dbias")?)),
        (None, None) => None,
        _ => {
            return Err(PyValueError::new_err(format!(
                "{OP}: pass both dweight and dbias or neither"
            )))
        }
    };
    detach(py, || {
        threads::install_for(xs.len(), || {
            norm::layer_norm_backward(dys, xs, w, ms, rs, rows, n, dxs, dwb)
        })
    })
}

fn act_of(name: &str) -> PyResult<Act> {
    Ok(match name {
        "gelu" => Act::Gelu,
        "gelu_tanh" => Act::GeluTanh,
        "relu" => Act::Relu,
        "tanh" => Act::Tanh,
        "sigmoid" => Act::Sigmoid,
        other => {
            return Err(PyValueError::new_err(format!(
                "activation: unknown activation {other:?}; expected gelu, gelu_tanh, relu, tanh or sigmoid"
            )))
        }
    })
}

/// `out = act(x)`; `act` is gelu, gelu_tanh, relu, tanh or sigmoid.
#[pyfunction]
fn activation(py: Python<'_>, act: &str, x: In<'_>, mut out: Out<'_>) -> PyResult<()> {
    let a = act_of(act)?;
    same_shape(a.name(), "out", out.shape(), x.shape())?;
    let xs = slice(&x, a.name(), "x")?;
    let ys = slice_mut(&mut out, a.name(), "out")?;
    detach(py, || {
        threads::install_for(xs.len(), || act_kernels::forward(a, xs, ys))
    })
}

/// `out = dy ⊙ act'`; `saved` is x (gelu*, relu) or y (tanh, sigmoid).
#[pyfunction]
fn activation_backward(
    py: Python<'_>,
    act: &str,
    saved: In<'_>,
    dy: In<'_>,
    mut out: Out<'_>,
) -> PyResult<()> {
    let a = act_of(act)?;
    same_shape(a.name(), "dy", dy.shape(), saved.shape())?;
    same_shape(a.name(), "out", out.shape(), saved.shape())?;
    let ss = slice(&saved, a.name(), "saved")?;
    let dys = slice(&dy, a.name(), "dy")?;
    let dx = slice_mut(&mut out, a.name(), "out")?;
    detach(py, || {
        threads::install_for(ss.len(), || act_kernels::backward(a, ss, dys, dx))
    })
}

/// `out[i] = weight[ids[i]]`: weight (V, D), ids (N,) int64, out (N, D).
#[pyfunction]
fn embedding(py: Python<'_>, weight: In<'_>, ids: In<'_, i64>, mut out: Out<'_>) -> PyResult<()> {
    const OP: &str = "embedding";
    if weight.ndim() != 2 {
        return Err(ShapeError::new_err(format!(
            "{OP}: weight must be 2-D (num_embeddings, dim), got shape {:?}",
            weight.shape()
        )));
    }
    let (num, d) = (weight.shape()[0], weight.shape()[1]);
    same_shape(OP, "out", out.shape(), &[ids.len(), d])?;
    let ws = slice(&weight, OP, "weight")?;
    let is = slice(&ids, OP, "ids")?;
    let os = slice_mut(&mut out, OP, "out")?;
    detach(py, || {
        threads::install_for(os.len(), || emb::embedding(ws, num, d, is, os))
    })
}

/// `dweight[v] = Σ_{ids[i] = v} dy[i]`: dy (N, D), ids (N,), dweight (V, D).
#[pyfunction]
fn embedding_backward(
    py: Python<'_>,
    dy: In<'_>,
    ids: In<'_, i64>,
    mut dweight: Out<'_>,
) -> PyResult<()> {
    const OP: &str = "embedding_backward";
    if dweight.ndim() != 2 {
        return Err(ShapeError::new_err(format!(
            "{OP}: dweight must be 2-D, got shape {:?}",
            dweight.shape()
        )));
    }
    let (num, d) = (dweight.shape()[0], dweight.shape()[1]);
    same_shape(OP, "dy", dy.shape(), &[ids.len(), d])?;
    let dys = slice(&dy, OP, "dy")?;
    let is = slice(&ids, OP, "ids")?;
    let dw = slice_mut(&mut dweight, OP, "dweight")?;
    detach(py, || {
        threads::install(|| emb::embedding_backward(dys, is, num, d, dw))
    })
}

/// One AdamW step in place over same-sized contiguous buffers.
#[pyfunction]
#[pyo3(signature = (param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay, step))]
#[allow(clippy::too_many_arguments)]
fn adamw_step(
    py: Python<'_>,
    mut param: Out<'_>,
    grad: In<'_>,
    mut exp_avg: Out<'_>,
    mut exp_avg_sq: Out<'_>,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    step: u64,
) -> PyResult<()> {
    const OP: &str = "adamw_step";
    let g = slice(&grad, OP, "grad")?;
    let p = slice_mut(&mut param, OP, "param")?;
    let m = slice_mut(&mut exp_avg, OP, "exp_avg")?;
    let v = slice_mut(&mut exp_avg_sq, OP, "exp_avg_sq")?;
    let h = AdamW {
        lr,
        beta1,
        beta2,
        eps,
        weight_decay,
        step,
    };
    detach(py, || threads::install(|| optim::adamw_step(p, g, m, v, h)))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(softmax, m)?)?;
    m.add_function(wrap_pyfunction!(softmax_backward, m)?)?;
    m.add_function(wrap_pyfunction!(log_softmax, m)?)?;
    m.add_function(wrap_pyfunction!(log_softmax_backward, m)?)?;
    m.add_function(wrap_pyfunction!(cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(layer_norm, m)?)?;
    m.add_function(wrap_pyfunction!(layer_norm_backward, m)?)?;
    m.add_function(wrap_pyfunction!(activation, m)?)?;
    m.add_function(wrap_pyfunction!(activation_backward, m)?)?;
    m.add_function(wrap_pyfunction!(embedding, m)?)?;
    m.add_function(wrap_pyfunction!(embedding_backward, m)?)?;
    m.add_function(wrap_pyfunction!(adamw_step, m)?)?;
    Ok(())
}
