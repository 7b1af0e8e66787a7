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

/// An array the stack call needs in slot `arg` of block `i`.
fn required<'a>(a: &'a Option<In<'_>>, arg: &str, want: &[usize]) -> PyResult<&'a [f32]> {
    match a {
        Some(a) => dense(a, OP, arg, want),
        None => Err(ShapeError::new_err(format!(
            "{OP}: {arg} must be an array of shape {}, got None",
            py_shape(want)
        ))),
    }
}

/// A gradient the stack call always writes, in slot `arg`.
fn required_mut<'a>(
    a: &'a mut Option<Out<'_>>,
    arg: &str,
    want: &[usize],
) -> PyResult<&'a mut [f32]> {
    match a {
        Some(a) => dense_mut(a, OP, arg, want),
        None => Err(ShapeError::new_err(format!(
            "{OP}: {arg} must be an array of shape {}, got None",
            py_shape(want)
        ))),
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

/// Block `i`'s shape and weights from its `names.len()` parameter slots.
fn stack_block<'a>(
    i: usize,
    x: &[usize],
    p: &'a [Option<In<'_>>],
    names: &[&str],
    fc1: usize,
    (heads, eps1, eps2, causal): (usize, f32, f32, bool),
) -> PyResult<(BlockShape, Vec<Option<&'a [f32]>>)> {
    if p.len() != names.len() {
        return Err(ShapeError::new_err(format!(
            "{OP}: block {i} must have {} parameters, got {}",
            names.len(),
            p.len()
        )));
    }
    let Some(fc1_w) = &p[fc1] else {
        return Err(ShapeError::new_err(format!(
            "{OP}: block {i} fc1 weight must be an array, got None"
        )));
    };
    let s = block_shape(x, fc1_w.shape(), heads, (eps1, eps2), causal)?;
    let (c, f) = (s.width, s.ff);
    let shape_of = |name: &str| -> Vec<usize> {
        match name {
            "qkv weight" => vec![3 * c, c],
            "qkv bias" => vec![3 * c],
            "out weight" => vec![c, c],
            "fc1 weight" => vec![f, c],
            "fc1 bias" => vec![f],
            "fc2 weight" => vec![c, f],
            _ => vec![c],
        }
    };
    let arrays = names
        .iter()
        .zip(p)
        .map(|(name, a)| {
            let arg = format!("block {i} {name}");
            if name.ends_with("weight") && !name.starts_with("ln") {
                required(a, &arg, &shape_of(name)).map(Some)
            } else {
                opt(a, &arg, &shape_of(name))
            }
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok((s, arrays))
}

const FWD_NAMES: [&str; 12] = [
    "ln1 weight",
    "ln1 bias",
    "qkv weight",
    "qkv bias",
    "out weight",
    "out bias",
    "ln2 weight",
    "ln2 bias",
    "fc1 weight",
    "fc1 bias",
    "fc2 weight",
    "fc2 bias",
];
const BWD_NAMES: [&str; 6] = [
    "ln1 weight",
    "qkv weight",
    "out weight",
    "ln2 weight",
    "fc1 weight",
    "fc2 weight",
];

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
        let (s, a) = stack_block(
            i,
            x.shape(),
            p,
            &FWD_NAMES,
            8,
            (heads, eps1[i], eps2[i], causal),
        )?;
        let req = |k: usize| a[k].unwrap_or_default();
        weights.push(BlockWeights {
            ln1_w: a[0],
            ln1_b: a[1],
            qkv_w: req(2),
            qkv_b: a[3],
            out_w: req(4),
            out_b: a[5],
            ln2_w: a[6],
            ln2_b: a[7],
            fc1_w: req(8),
            fc1_b: a[9],
            fc2_w: req(10),
            fc2_b: a[11],
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
        let (s, a) = stack_block(
            i,
            xs[0].shape(),
            p,
            &BWD_NAMES,
            4,
            (heads, eps1[i], eps2[i], causal),
        )?;
        let req = |k: usize| a[k].unwrap_or_default();
        // Biases are not read by the backward.
        ws.push(BlockWeights {
            ln1_w: a[0],
            ln1_b: None,
            qkv_w: req(1),
            qkv_b: None,
            out_w: req(2),
            out_b: None,
            ln2_w: a[3],
            ln2_b: None,
            fc1_w: req(4),
            fc1_b: None,
            fc2_w: req(5),
            fc2_b: None,
        });
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
