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
    let w = backward_weights(
        opt(&ln1_w, "ln1 weight", &[c])?,
        [qw, ow, w1, w2],
        opt(&ln2_w, "ln2 weight", &[c])?,
    );
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

/// The error for a slot the stack call needs but got None.
fn missing(arg: &str, want: &[usize]) -> PyErr {
    ShapeError::new_err(format!(
        "{OP}: {arg} must be an array of shape {}, got None",
        py_shape(want)
    ))
}

/// An array the stack call needs, in slot `arg`.
fn required<'a>(a: &'a Option<In<'_>>, arg: &str, want: &[usize]) -> PyResult<&'a [f32]> {
    a.as_ref()
        .map_or_else(|| Err(missing(arg, want)), |a| dense(a, OP, arg, want))
}

/// A gradient the stack call always writes, in slot `arg`.
fn required_mut<'a>(
    a: &'a mut Option<Out<'_>>,
    arg: &str,
    want: &[usize],
) -> PyResult<&'a mut [f32]> {
    match a {
        Some(a) => dense_mut(a, OP, arg, want),
        None => Err(missing(arg, want)),
    }
}

/// A stack has at least one block.
fn at_least_one(arg: &str, blocks: usize) -> PyResult<()> {
    if blocks == 0 {
        return Err(ShapeError::new_err(format!(
            "{OP}: {arg} must hold at least one block, got an empty list"
        )));
    }
    Ok(())
}

/// A list of per-block entries: one per block.
fn check_blocks(arg: &str, got: usize, blocks: usize) -> PyResult<()> {
    if got != blocks {
        return Err(ShapeError::new_err(format!(
            "{OP}: {arg} must have one entry per block ({blocks}), got {got}"
        )));
    }
    Ok(())
}

/// Block `i`'s `N` parameter slots, or an error naming how many it has.
fn slots<T, const N: usize>(i: usize, p: &[T]) -> PyResult<&[T; N]> {
    p.try_into().map_err(|_| {
        ShapeError::new_err(format!(
            "{OP}: block {i} must have {N} parameters, got {}",
            p.len()
        ))
    })
}

/// Block `i`'s sizes, from x's shape and its fc1 weight (F, C).
fn stack_shape(
    i: usize,
    x: &[usize],
    fc1_w: &Option<In<'_>>,
    (heads, eps1, eps2, causal): (usize, f32, f32, bool),
) -> PyResult<BlockShape> {
    let Some(fc1_w) = fc1_w else {
        return Err(ShapeError::new_err(format!(
            "{OP}: block {i} fc1 weight must be an array, got None"
        )));
    };
    block_shape(x, fc1_w.shape(), heads, (eps1, eps2), causal)
}

/// The weights the backward reads (biases are not read by it).
fn backward_weights<'a>(
    ln1_w: Option<&'a [f32]>,
    [qkv_w, out_w, fc1_w, fc2_w]: [&'a [f32]; 4],
    ln2_w: Option<&'a [f32]>,
) -> BlockWeights<'a> {
    BlockWeights {
        ln1_w,
        ln1_b: None,
        qkv_w,
        qkv_b: None,
        out_w,
        out_b: None,
        ln2_w,
        ln2_b: None,
        fc1_w,
        fc1_b: None,
        fc2_w,
        fc2_b: None,
    }
}

/// A whole stack of blocks forward in one call: block i reads x (i = 0) or
/// `ys[i - 1]` and writes `saved[i]` and `ys[i]` (see
/// `kernels::block::forward_stack`). `params[i]` holds block i's 12
/// parameters in `transformer_block_forward`'s order; eps per block.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(super) fn transformer_stack_forward(
    py: Python<'_>,
    x: In<'_>,
    params: Vec<Vec<Option<In<'_>>>>,
    mut saved: Vec<Out<'_>>,
    mut ys: Vec<Out<'_>>,
    eps1: Vec<f32>,
    eps2: Vec<f32>,
    heads: usize,
    causal: bool,
) -> PyResult<()> {
    let n = params.len();
    at_least_one("params", n)?;
    for (arg, got) in [
        ("saved", saved.len()),
        ("ys", ys.len()),
        ("eps1", eps1.len()),
        ("eps2", eps2.len()),
    ] {
        check_blocks(arg, got, n)?;
    }
    let mut shapes = Vec::with_capacity(n);
    let mut weights = Vec::with_capacity(n);
    for (i, p) in params.iter().enumerate() {
        let [l1w, l1b, qw, qb, ow, ob, l2w, l2b, w1, b1, w2, b2] = slots(i, p)?;
        let s = stack_shape(i, x.shape(), w1, (heads, eps1[i], eps2[i], causal))?;
        let (c, f) = (s.width, s.ff);
        let arg = |name: &str| format!("block {i} {name}");
        weights.push(BlockWeights {
            ln1_w: opt(l1w, &arg("ln1 weight"), &[c])?,
            ln1_b: opt(l1b, &arg("ln1 bias"), &[c])?,
            qkv_w: required(qw, &arg("qkv weight"), &[3 * c, c])?,
            qkv_b: opt(qb, &arg("qkv bias"), &[3 * c])?,
            out_w: required(ow, &arg("out weight"), &[c, c])?,
            out_b: opt(ob, &arg("out bias"), &[c])?,
            ln2_w: opt(l2w, &arg("ln2 weight"), &[c])?,
            ln2_b: opt(l2b, &arg("ln2 bias"), &[c])?,
            fc1_w: required(w1, &arg("fc1 weight"), &[f, c])?,
            fc1_b: opt(b1, &arg("fc1 bias"), &[f])?,
            fc2_w: required(w2, &arg("fc2 weight"), &[c, f])?,
            fc2_b: opt(b2, &arg("fc2 bias"), &[c])?,
        });
        shapes.push(s);
    }
    let s0 = shapes[0];
    let xd = [s0.batch, s0.t, s0.width];
    let xs = dense(&x, OP, "x", &xd)?;
    let svs = saved
        .iter_mut()
        .enumerate()
        .map(|(i, a)| dense_mut(a, OP, &format!("saved[{i}]"), &[shapes[i].saved_len()]))
        .collect::<PyResult<Vec<_>>>()?;
    let outs = ys
        .iter_mut()
        .enumerate()
        .map(|(i, a)| dense_mut(a, OP, &format!("ys[{i}]"), &xd))
        .collect::<PyResult<Vec<_>>>()?;
    call(py, Pool::Work(s0.work()), || {
        block::forward_stack(&shapes, &weights, xs, svs, outs)
    })
}

/// Every gradient of a stack run by `transformer_stack_forward`, last block
/// first: `xs[i]` is block i's input (x, then the forward's `ys`),
/// `weights[i]` its 6 weights in `transformer_block_backward`'s order and
/// `grads[i]` its 13 outputs (dx, then as `transformer_block_backward`'s;
/// dx and the LayerNorms' always given). `grads[0][0]` is the stack's dx.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(super) fn transformer_stack_backward(
    py: Python<'_>,
    xs: Vec<In<'_>>,
    weights: Vec<Vec<Option<In<'_>>>>,
    saved: Vec<In<'_>>,
    dy: In<'_>,
    mut scratch: Out<'_>,
    mut grads: Vec<Vec<Option<Out<'_>>>>,
    eps1: Vec<f32>,
    eps2: Vec<f32>,
    heads: usize,
    causal: bool,
) -> PyResult<()> {
    let n = weights.len();
    at_least_one("weights", n)?;
    for (arg, got) in [
        ("xs", xs.len()),
        ("saved", saved.len()),
        ("grads", grads.len()),
        ("eps1", eps1.len()),
        ("eps2", eps2.len()),
    ] {
        check_blocks(arg, got, n)?;
    }
    let mut shapes = Vec::with_capacity(n);
    let mut ws = Vec::with_capacity(n);
    for (i, p) in weights.iter().enumerate() {
        let [l1w, qw, ow, l2w, w1, w2] = slots(i, p)?;
        let s = stack_shape(i, xs[0].shape(), w1, (heads, eps1[i], eps2[i], causal))?;
        let (c, f) = (s.width, s.ff);
        let arg = |name: &str| format!("block {i} {name}");
        ws.push(backward_weights(
            opt(l1w, &arg("ln1 weight"), &[c])?,
            [
                required(qw, &arg("qkv weight"), &[3 * c, c])?,
                required(ow, &arg("out weight"), &[c, c])?,
                required(w1, &arg("fc1 weight"), &[f, c])?,
                required(w2, &arg("fc2 weight"), &[c, f])?,
            ],
            opt(l2w, &arg("ln2 weight"), &[c])?,
        ));
        shapes.push(s);
    }
    let s0 = shapes[0];
    let xd = [s0.batch, s0.t, s0.width];
    let inputs = xs
        .iter()
        .enumerate()
        .map(|(i, a)| dense(a, OP, &format!("xs[{i}]"), &xd))
        .collect::<PyResult<Vec<_>>>()?;
    let svs = saved
        .iter()
        .enumerate()
        .map(|(i, a)| dense(a, OP, &format!("saved[{i}]"), &[shapes[i].saved_len()]))
        .collect::<PyResult<Vec<_>>>()?;
    let dys = dense(&dy, OP, "dy", &xd)?;
    let scratch_len = shapes
        .iter()
        .map(BlockShape::scratch_len)
        .max()
        .unwrap_or(0);
    let scr = dense_mut(&mut scratch, OP, "scratch", &[scratch_len])?;
    let mut out = Vec::with_capacity(n);
    for (i, g) in grads.iter_mut().enumerate() {
        if g.len() != 13 {
            return Err(ShapeError::new_err(format!(
                "{OP}: block {i} must have 13 gradient slots (dx, then 12 as params), got {}",
                g.len()
            )));
        }
        let (c, f) = (shapes[i].width, shapes[i].ff);
        let [dx, l1w, l1b, qw, qb, ow, ob, l2w, l2b, w1, b1, w2, b2] = &mut g[..] else {
            unreachable!("length checked above")
        };
        let arg = |name: &str| format!("block {i} {name}");
        out.push(BlockGrads {
            dx: required_mut(dx, &arg("dx"), &xd)?,
            ln1_w: required_mut(l1w, &arg("ln1 weight grad"), &[c])?,
            ln1_b: required_mut(l1b, &arg("ln1 bias grad"), &[c])?,
            qkv_w: opt_mut(qw, &arg("qkv weight grad"), &[3 * c, c])?,
            qkv_b: opt_mut(qb, &arg("qkv bias grad"), &[3 * c])?,
            out_w: opt_mut(ow, &arg("out weight grad"), &[c, c])?,
            out_b: opt_mut(ob, &arg("out bias grad"), &[c])?,
            ln2_w: required_mut(l2w, &arg("ln2 weight grad"), &[c])?,
            ln2_b: required_mut(l2b, &arg("ln2 bias grad"), &[c])?,
            fc1_w: opt_mut(w1, &arg("fc1 weight grad"), &[f, c])?,
            fc1_b: opt_mut(b1, &arg("fc1 bias grad"), &[f])?,
            fc2_w: opt_mut(w2, &arg("fc2 weight grad"), &[c, f])?,
            fc2_b: opt_mut(b2, &arg("fc2 bias grad"), &[c])?,
        });
    }
    call(py, Pool::Work(s0.work()), || {
        block::backward_stack(&shapes, &ws, &inputs, &svs, dys, scr, out)
    })
}
