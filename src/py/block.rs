//! `_core.transformer_block_forward` / `transformer_block_backward`: a whole
//! pre-norm Transformer block in one call each (`kernels::block`), for the
//! `_Block` autograd node of `attnrs.nn.TransformerBlock`. Every array is
//! float32 and C-contiguous; the saved and scratch buffers are flat arrays
//! the caller allocates (`transformer_block_sizes`).

use numpy::{PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::array::{call, dense, dense_mut, py_shape, Pool};
use super::errors::{to_pyerr, ShapeError};
use crate::kernels::block::{self, BlockGrads, BlockShape, BlockWeights};

const OP: &str = "transformer_block";

type In<'py> = PyReadonlyArrayDyn<'py, f32>;
type Out<'py> = PyReadwriteArrayDyn<'py, f32>;

/// Sizes from x (B, T, C) and fc1's weight (F, C).
fn block_shape(
    x: &[usize],
    fc1_w: &[usize],
    heads: usize,
    eps: (f32, f32),
    causal: bool,
) -> PyResult<BlockShape> {
    let [batch, t, width] = *x else {
        return Err(ShapeError::new_err(format!(
            "{OP}: x must be 3-D (B, T, C), got shape {}",
            py_shape(x)
        )));
    };
    let ff = match *fc1_w {
        [ff, c] if c == width => ff,
        _ => {
            return Err(ShapeError::new_err(format!(
                "{OP}: fc1 weight must have shape (F, {width}), got {}",
                py_shape(fc1_w)
            )))
        }
    };
    let s = BlockShape {
        batch,
        t,
        width,
        heads,
        ff,
        eps1: eps.0,
        eps2: eps.1,
        causal,
    };
    s.check().map_err(to_pyerr)?;
    Ok(s)
}

fn opt<'a>(a: &'a Option<In<'_>>, arg: &str, want: &[usize]) -> PyResult<Option<&'a [f32]>> {
    a.as_ref().map(|a| dense(a, OP, arg, want)).transpose()
}

fn opt_mut<'a>(
    a: &'a mut Option<Out<'_>>,
    arg: &str,
    want: &[usize],
) -> PyResult<Option<&'a mut [f32]>> {
    a.as_mut().map(|a| dense_mut(a, OP, arg, want)).transpose()
}

/// The sizes, x and the four projections' weights.
type Common<'a> = (BlockShape, &'a [f32], [&'a [f32]; 4]);

/// What both directions read first: the sizes, x (B, T, C) and the four
/// projections' weights ((3C, C), (C, C), (F, C), (C, F)).
fn common<'a>(
    x: &'a In<'_>,
    [qkv_w, out_w, fc1_w, fc2_w]: [&'a In<'_>; 4],
    (heads, eps1, eps2, causal): (usize, f32, f32, bool),
) -> PyResult<Common<'a>> {
    let s = block_shape(x.shape(), fc1_w.shape(), heads, (eps1, eps2), causal)?;
    let (c, f) = (s.width, s.ff);
    let xs = dense(x, OP, "x", &[s.batch, s.t, c])?;
    let w = [
        dense(qkv_w, OP, "qkv weight", &[3 * c, c])?,
        dense(out_w, OP, "out weight", &[c, c])?,
        dense(fc1_w, OP, "fc1 weight", &[f, c])?,
        dense(fc2_w, OP, "fc2 weight", &[c, f])?,
    ];
    Ok((s, xs, w))
}

/// Floats of the (saved, scratch) buffers for x (B, T, C), `heads` heads and MLP width `ff`.
#[pyfunction]
pub(super) fn transformer_block_sizes(
    batch: usize,
    t: usize,
    width: usize,
    heads: usize,
    ff: usize,
) -> (usize, usize) {
    let s = BlockShape {
        batch,
        t,
        width,
        heads,
        ff,
        eps1: 0.0,
        eps2: 0.0,
        causal: false,
    };
    (s.saved_len(), s.scratch_len())
}

/// y (B, T, C) of the block from x (B, T, C); fills `saved` for the backward.
#[pyfunction]
#[pyo3(signature = (x, ln1_w, ln1_b, qkv_w, qkv_b, out_w, out_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b, saved, y, eps1, eps2, heads, causal))]
#[allow(clippy::too_many_arguments)]
pub(super) fn transformer_block_forward(
    py: Python<'_>,
    x: In<'_>,
    ln1_w: Option<In<'_>>,
    ln1_b: Option<In<'_>>,
    qkv_w: In<'_>,
    qkv_b: Option<In<'_>>,
    out_w: In<'_>,
    out_b: Option<In<'_>>,
    ln2_w: Option<In<'_>>,
    ln2_b: Option<In<'_>>,
    fc1_w: In<'_>,
    fc1_b: Option<In<'_>>,
    fc2_w: In<'_>,
    fc2_b: Option<In<'_>>,
    mut saved: Out<'_>,
    mut y: Out<'_>,
    eps1: f32,
    eps2: f32,
    heads: usize,
    causal: bool,
) -> PyResult<()> {
    let ws = [&qkv_w, &out_w, &fc1_w, &fc2_w];
    let (s, xs, [qw, ow, w1, w2]) = common(&x, ws, (heads, eps1, eps2, causal))?;
    let (c, f) = (s.width, s.ff);
    let w = BlockWeights {
        ln1_w: opt(&ln1_w, "ln1 weight", &[c])?,
        ln1_b: opt(&ln1_b, "ln1 bias", &[c])?,
        qkv_w: qw,
        qkv_b: opt(&qkv_b, "qkv bias", &[3 * c])?,
        out_w: ow,
        out_b: opt(&out_b, "out bias", &[c])?,
        ln2_w: opt(&ln2_w, "ln2 weight", &[c])?,
        ln2_b: opt(&ln2_b, "ln2 bias", &[c])?,
        fc1_w: w1,
        fc1_b: opt(&fc1_b, "fc1 bias", &[f])?,
        fc2_w: w2,
        fc2_b: opt(&fc2_b, "fc2 bias", &[c])?,
    };
    let sv = dense_mut(&mut saved, OP, "saved", &[s.saved_len()])?;
    let ys = dense_mut(&mut y, OP, "y", &[s.batch, s.t, c])?;
    call(py, Pool::Work(s.work()), || {
        block::forward(&s, &w, xs, sv, ys)
    })
}

/// Every gradient of the block from dy (B, T, C), x and the forward's `saved`:
/// dx and the LayerNorms' (always), each Linear's weight and bias where given.
#[pyfunction]
#[pyo3(signature = (x, ln1_w, qkv_w, out_w, ln2_w, fc1_w, fc2_w, saved, dy, scratch, dx, dln1_w, dln1_b, dqkv_w, dqkv_b, dout_w, dout_b, dln2_w, dln2_b, dfc1_w, dfc1_b, dfc2_w, dfc2_b, eps1, eps2, heads, causal))]
#[allow(clippy::too_many_arguments)]
pub(super) fn transformer_block_backward(
    py: Python<'_>,
    x: In<'_>,
    ln1_w: Option<In<'_>>,
    qkv_w: In<'_>,
    out_w: In<'_>,
    ln2_w: Option<In<'_>>,
    fc1_w: In<'_>,
    fc2_w: In<'_>,
    saved: In<'_>,
    dy: In<'_>,
    mut scratch: Out<'_>,
    mut dx: Out<'_>,
    mut dln1_w: Out<'_>,
    mut dln1_b: Out<'_>,
    mut dqkv_w: Option<Out<'_>>,
    mut dqkv_b: Option<Out<'_>>,
    mut dout_w: Option<Out<'_>>,
    mut dout_b: Option<Out<'_>>,
    mut dln2_w: Out<'_>,
    mut dln2_b: Out<'_>,
    mut dfc1_w: Option<Out<'_>>,
    mut dfc1_b: Option<Out<'_>>,
    mut dfc2_w: Option<Out<'_>>,
    mut dfc2_b: Option<Out<'_>>,
    eps1: f32,
    eps2: f32,
    heads: usize,
    causal: bool,
) -> PyResult<()> {
    let ws = [&qkv_w, &out_w, &fc1_w, &fc2_w];
    let (s, xs, [qw, ow, w1, w2]) = common(&x, ws, (heads, eps1, eps2, causal))?;
    let (c, f) = (s.width, s.ff);
    let xd = [s.batch, s.t, c];
    // Biases are not read by the backward.
    let w = BlockWeights {
        ln1_w: opt(&ln1_w, "ln1 weight", &[c])?,
        ln1_b: None,
        qkv_w: qw,
        qkv_b: None,
        out_w: ow,
        out_b: None,
        ln2_w: opt(&ln2_w, "ln2 weight", &[c])?,
        ln2_b: None,
        fc1_w: w1,
        fc1_b: None,
        fc2_w: w2,
        fc2_b: None,
    };
    let sv = dense(&saved, OP, "saved", &[s.saved_len()])?;
    let dys = dense(&dy, OP, "dy", &xd)?;
    let scr = dense_mut(&mut scratch, OP, "scratch", &[s.scratch_len()])?;
    let grads = BlockGrads {
        dx: dense_mut(&mut dx, OP, "dx", &xd)?,
        ln1_w: dense_mut(&mut dln1_w, OP, "ln1 weight grad", &[c])?,
        ln1_b: dense_mut(&mut dln1_b, OP, "ln1 bias grad", &[c])?,
        qkv_w: opt_mut(&mut dqkv_w, "qkv weight grad", &[3 * c, c])?,
        qkv_b: opt_mut(&mut dqkv_b, "qkv bias grad", &[3 * c])?,
        out_w: opt_mut(&mut dout_w, "out weight grad", &[c, c])?,
        out_b: opt_mut(&mut dout_b, "out bias grad", &[c])?,
        ln2_w: dense_mut(&mut dln2_w, OP, "ln2 weight grad", &[c])?,
        ln2_b: dense_mut(&mut dln2_b, OP, "ln2 bias grad", &[c])?,
        fc1_w: opt_mut(&mut dfc1_w, "fc1 weight grad", &[f, c])?,
        fc1_b: opt_mut(&mut dfc1_b, "fc1 bias grad", &[f])?,
        fc2_w: opt_mut(&mut dfc2_w, "fc2 weight grad", &[c, f])?,
        fc2_b: opt_mut(&mut dfc2_b, "fc2 bias grad", &[c])?,
    };
    call(py, Pool::Work(s.work()), || {
        block::backward(&s, &w, xs, sv, dys, scr, grads)
    })
}
