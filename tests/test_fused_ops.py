"""Fused layer kernels (attnrs.ops): softmax, log-softmax, cross-entropy,
layernorm, activations, embedding, AdamW.

Checked against float64 NumPy references (hypothesis, odd sizes, 1, primes,
strided views), backward passes by finite differences through the fused
forward, every SIMD level in a subprocess (ATTNRS_SIMD), 1 vs 2 threads
bitwise, and the error messages.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import attnrs as ar
from attnrs import ops

SETTINGS = settings(max_examples=25, deadline=None)
DIMS = st.sampled_from([1, 2, 3, 5, 7, 8, 13, 16, 17, 31, 64, 97])


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- references


def ref_softmax(x, axis=-1, scale=1.0, mask=None):
    t = x.astype(np.float64) * scale
    if mask is not None:
        t = t + mask
    t = t - t.max(axis=axis, keepdims=True)
    e = np.exp(t)
    return e / e.sum(axis=axis, keepdims=True)


def ref_log_softmax(x, axis=-1):
    t = x.astype(np.float64)
    m = t.max(axis=axis, keepdims=True)
    return t - m - np.log(np.exp(t - m).sum(axis=axis, keepdims=True))


def ref_cross_entropy(x, t, ignore_index=-100, ls=0.0, reduction="mean"):
    x = x.astype(np.float64)
    n, c = x.shape
    logp = ref_log_softmax(x)
    keep = t != ignore_index
    safe_t = np.where(keep, t, 0)
    nll = -logp[np.arange(n), safe_t]
    smooth = -logp.mean(axis=1)
    loss = np.where(keep, (1 - ls) * nll + ls * smooth, 0.0)
    onehot = np.zeros_like(x)
    onehot[np.arange(n), safe_t] = 1.0
    grad = (np.exp(logp) - (1 - ls) * onehot - ls / c) * keep[:, None]
    if reduction == "mean":
        return loss.sum() / keep.sum(), grad / keep.sum()
    if reduction == "sum":
        return loss.sum(), grad
    return loss, grad


def ref_layer_norm(x, w, b, eps):
    x = x.astype(np.float64)
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return y


def _cdf(x):
    """Standard normal CDF via erfc (no cancellation in the left tail)."""
    return 0.5 * np.vectorize(math.erfc)(-x / np.sqrt(2))


def ref_gelu(x, approximate="none"):
    x = x.astype(np.float64)
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    return x * _cdf(x)


def ref_gelu_grad(x, approximate="none"):
    x = x.astype(np.float64)
    if approximate == "tanh":
        k = np.sqrt(2 / np.pi)
        t = np.tanh(k * (x + 0.044715 * x**3))
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
    return _cdf(x) + x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)


def close(got, want, atol=1e-6, rtol=1e-5):
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), want, atol=atol, rtol=rtol)


# ---------------------------------------------------------------- softmax


@SETTINGS
@given(rows=DIMS, n=DIMS, seed=st.integers(0, 2**16), scale=st.sampled_from([1.0, 0.125, -2.0]),
       mask_kind=st.sampled_from(["none", "row", "full", "inf"]))  # fmt: skip
def test_softmax_matches_reference(rows, n, seed, scale, mask_kind):
    g = rng(seed)
    x = (g.standard_normal((rows, n)) * 4).astype(np.float32)
    mask = None
    if mask_kind == "row":
        mask = g.standard_normal(n).astype(np.float32)
    elif mask_kind == "full":
        mask = g.standard_normal((rows, n)).astype(np.float32)
    elif mask_kind == "inf":
        mask = np.where(np.arange(n) % 3 == 1, -np.inf, 0.0).astype(np.float32)
    y = ops.softmax(x, scale=scale, mask=mask)
    assert y.dtype == np.float32 and y.shape == x.shape
    close(y, ref_softmax(x, -1, scale, mask), atol=1e-7)
    dy = g.standard_normal((rows, n)).astype(np.float32)
    dx = ops.softmax_backward(y, dy, scale=scale)
    yd = y.astype(np.float64)
    want = scale * yd * (dy - (dy * yd).sum(-1, keepdims=True))
    close(dx, want, atol=1e-6)


@SETTINGS
@given(shape=st.lists(DIMS, min_size=1, max_size=3), seed=st.integers(0, 2**16), data=st.data())
def test_softmax_and_log_softmax_any_axis_and_strided(shape, seed, data):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    g = rng(seed)
    base = (g.standard_normal([2 * s for s in shape]) * 3).astype(np.float32)
    x = base[tuple(slice(None, None, 2) for _ in shape)]  # strided view
    close(ops.softmax(x, axis=axis), ref_softmax(x, axis), atol=1e-7)
    y = ops.log_softmax(x, axis=axis)
    close(y, ref_log_softmax(x, axis), atol=1e-5)
    dy = g.standard_normal(x.shape).astype(np.float32)
    want = dy - np.exp(y.astype(np.float64)) * dy.sum(axis=axis, keepdims=True)
    close(ops.log_softmax_backward(y, dy, axis=axis), want, atol=1e-5)


def test_softmax_mask_broadcasts_over_leading_axes():
    g = rng(0)
    x = g.standard_normal((2, 3, 5)).astype(np.float32)
    mask = np.triu(np.full((3, 5), -np.inf, dtype=np.float32), 1)  # (3, 5) broadcast over batch
    close(ops.softmax(x, mask=mask), ref_softmax(x, -1, 1.0, mask), atol=1e-7)
    y = ops.softmax(np.full((1, 3), 1.0), mask=np.full(3, -np.inf))
    assert np.isnan(y).all()  # fully masked row: NaN, as in PyTorch
    assert ops.softmax(np.float64([[1000.0, 0.0]]))[0, 1] == 0.0  # no overflow
    assert ops.softmax(np.zeros((0, 4))).shape == (0, 4)


def test_large_magnitudes_and_nan_propagation():
    x = np.float32([[1e4, -1e4, 0.0, 3e4], [-3e4, -3e4, -3e4, -3e4]])
    y = ops.softmax(x)
    close(y, ref_softmax(x), atol=1e-7)
    close(ops.log_softmax(x), ref_log_softmax(x), atol=1e-2, rtol=1e-6)
    loss, grad = ops.cross_entropy(x, [1, 2], reduction="none")
    close(loss, ref_cross_entropy(x, np.array([1, 2]), reduction="none")[0], rtol=1e-6)
    assert np.isfinite(grad).all()
    xn = np.float32([[0.0, np.nan, 1.0], [0.0, 1.0, 2.0]])
    y = ops.softmax(xn)
    assert np.isnan(y[0]).all() and np.isfinite(y[1]).all()  # NaN stays in its row
    assert np.isnan(ops.gelu(np.float32([np.nan]))).all()
    assert np.isnan(ops.relu(np.float32([np.nan]))).all()
    assert ops.layer_norm(np.full((2, 5), 3.0))[0].max() == 0.0  # constant rows: 0, not NaN


def test_integer_id_dtypes_and_tensors():
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    for dt in (np.int8, np.int32, np.uint16, np.int64):
        assert np.array_equal(ops.embedding(w, np.array([3, 0], dtype=dt)), w[[3, 0]])
    t = ar.tensor(w)
    assert np.array_equal(ops.embedding(t, [1]), w[[1]])
    assert np.array_equal(ops.softmax(t), ops.softmax(w))


# ---------------------------------------------------------------- cross-entropy


@SETTINGS
@given(n=DIMS, c=DIMS, seed=st.integers(0, 2**16), ls=st.sampled_from([0.0, 0.1, 1.0]),
       reduction=st.sampled_from(["mean", "sum", "none"]))  # fmt: skip
def test_cross_entropy_matches_reference(n, c, seed, ls, reduction):
    g = rng(seed)
    x = (g.standard_normal((n, c)) * 5).astype(np.float32)
    t = g.integers(0, c, n)
    t[g.random(n) < 0.2] = -100
    if (t == -100).all() and reduction == "mean":
        t[0] = 0
    loss, grad = ops.cross_entropy(x, t, label_smoothing=ls, reduction=reduction)
    wl, wg = ref_cross_entropy(x, t, -100, ls, reduction)
    assert loss.dtype == np.float32 and loss.shape == (() if reduction != "none" else (n,))
    assert grad.shape == x.shape and grad.dtype == np.float32
    close(loss, wl, atol=1e-5)
    close(grad, wg, atol=1e-6)


def test_cross_entropy_edge_cases():
    x = np.float32([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]])
    loss, grad = ops.cross_entropy(x, np.array([7, 7]), ignore_index=7)
    assert np.isnan(loss) and not grad.any()  # all ignored: NaN mean, zero grad (PyTorch)
    l1, g1 = ops.cross_entropy(x[0], np.int64(2))  # (C,) logits with a scalar target
    l2, g2 = ops.cross_entropy(x[:1], np.array([2]))
    assert l1 == l2 and g1.shape == (3,) and np.array_equal(g1, g2[0])
    strided = np.ascontiguousarray(np.repeat(x, 2, axis=1))[:, ::2]
    close(ops.cross_entropy(strided, [0, 1])[0], ref_cross_entropy(x, np.array([0, 1]))[0])


# ---------------------------------------------------------------- layernorm


@SETTINGS
@given(rows=DIMS, n=DIMS, seed=st.integers(0, 2**16), affine=st.sampled_from(["none", "w", "wb"]))
def test_layer_norm_matches_reference(rows, n, seed, affine):
    g = rng(seed)
    x = (g.standard_normal((rows, n)) * 3 + 1).astype(np.float32)
    w = g.standard_normal(n).astype(np.float32) if affine != "none" else None
    b = g.standard_normal(n).astype(np.float32) if affine == "wb" else None
    y, mean, rstd = ops.layer_norm(x, w, b, eps=1e-5)
    close(y, ref_layer_norm(x, w, b, 1e-5), atol=1e-5, rtol=1e-4)
    close(mean, x.astype(np.float64).mean(-1), atol=1e-6)
    close(rstd, 1 / np.sqrt(x.astype(np.float64).var(-1) + 1e-5), rtol=1e-4)
    dy = g.standard_normal((rows, n)).astype(np.float32)
    dx, dw, db = ops.layer_norm_backward(dy, x, w, mean, rstd)
    xd = x.astype(np.float64)
    xh = (xd - xd.mean(-1, keepdims=True)) / np.sqrt(xd.var(-1, keepdims=True) + 1e-5)
    gd = dy * (w if w is not None else 1.0)
    r = 1 / np.sqrt(xd.var(-1, keepdims=True) + 1e-5)
    want = r * (gd - gd.mean(-1, keepdims=True) - xh * (gd * xh).mean(-1, keepdims=True))
    close(dx, want, atol=1e-4, rtol=1e-3)
    close(db, dy.astype(np.float64).sum(0), atol=1e-4, rtol=1e-4)
    if w is None:
        assert dw is None
    else:
        close(dw, (dy * xh).sum(0), atol=1e-4, rtol=1e-4)


def test_layer_norm_nd_and_strided():
    g = rng(3)
    x = g.standard_normal((4, 6, 20)).astype(np.float32)[:, ::2, ::2]
    y, mean, _rstd = ops.layer_norm(x)
    assert y.shape == x.shape and mean.shape == (4, 3)
    close(y, ref_layer_norm(x, None, None, 1e-5), atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------- activations


ACTS = ["gelu", "gelu_tanh", "relu", "tanh", "sigmoid"]


def _act_fwd(kind, x):
    if kind == "gelu":
        return ops.gelu(x)
    if kind == "gelu_tanh":
        return ops.gelu(x, approximate="tanh")
    return getattr(ops, kind)(x)


def _act_bwd(kind, x, y, dy):
    if kind == "gelu":
        return ops.gelu_backward(x, dy)
    if kind == "gelu_tanh":
        return ops.gelu_backward(x, dy, approximate="tanh")
    if kind == "relu":
        return ops.relu_backward(x, dy)
    return getattr(ops, kind + "_backward")(y, dy)


def _act_ref(kind, x):
    xd = x.astype(np.float64)
    if kind.startswith("gelu"):
        a = "tanh" if kind == "gelu_tanh" else "none"
        return ref_gelu(x, a), ref_gelu_grad(x, a)
    if kind == "relu":
        return np.maximum(xd, 0), (xd > 0).astype(np.float64)
    if kind == "tanh":
        return np.tanh(xd), 1 - np.tanh(xd) ** 2
    s = 1 / (1 + np.exp(-xd))
    return s, s * (1 - s)


@SETTINGS
@given(shape=st.lists(DIMS, min_size=1, max_size=3), seed=st.integers(0, 2**16), kind=st.sampled_from(ACTS))
def test_activations_match_reference(shape, seed, kind):
    g = rng(seed)
    x = (g.standard_normal(shape) * 4).astype(np.float32)
    dy = g.standard_normal(shape).astype(np.float32)
    y = _act_fwd(kind, x)
    fy, fg = _act_ref(kind, x)
    assert y.shape == x.shape and y.dtype == np.float32
    close(y, fy, atol=1e-6, rtol=1e-5)
    close(_act_bwd(kind, x, y, dy), dy * fg, atol=1e-5, rtol=1e-4)
    xt = x.T  # strided input
    close(_act_fwd(kind, xt), fy.T, atol=1e-6, rtol=1e-5)


def test_gelu_left_tail_is_relatively_accurate():
    x = np.linspace(-9, -3, 601, dtype=np.float32)
    want = ref_gelu(x)
    np.testing.assert_allclose(ops.gelu(x), want, rtol=2e-5, atol=0)


def test_gelu_polynomial_range_absolute_error():
    # |x| <= 2√2 takes the polynomial Φ (abs error <= 1.2e-7): gelu's error is
    # <= 2√2·1.2e-7 + half an ulp of y (measured 3.1e-7), the gradient's 1.3e-7.
    x = np.linspace(-2.8284, 2.8284, 400_001, dtype=np.float32)
    np.testing.assert_allclose(ops.gelu(x), ref_gelu(x), rtol=0, atol=5e-7)
    dy = np.ones_like(x)
    np.testing.assert_allclose(ops.gelu_backward(x, dy), ref_gelu_grad(x), rtol=0, atol=3e-7)


# ---------------------------------------------------------------- embedding


@SETTINGS
@given(v=DIMS, d=DIMS, ids_shape=st.lists(st.integers(1, 9), min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_embedding_matches_reference(v, d, ids_shape, seed):
    g = rng(seed)
    w = g.standard_normal((v, d)).astype(np.float32)
    ids = g.integers(0, v, ids_shape)
    out = ops.embedding(w, ids)
    assert out.shape == tuple(ids_shape) + (d,)
    assert np.array_equal(out, w[ids])
    dy = g.standard_normal(out.shape).astype(np.float32)
    dw = ops.embedding_backward(dy, ids, v)
    want = np.zeros((v, d))
    np.add.at(want, ids.reshape(-1), dy.reshape(-1, d).astype(np.float64))
    close(dw, want, atol=1e-5)


@SETTINGS
@given(v=DIMS, v2=DIMS, d=DIMS, b=st.integers(1, 5), t=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_embedding_add_is_two_lookups_and_an_add(v, v2, d, b, t, seed):
    """Token + position embeddings in one pass: the same bits as two lookups and
    an add, and the same gradients as each lookup's backward on its own ids
    (positions (T,) broadcast over the batch)."""
    g = rng(seed)
    w, w2 = (g.standard_normal((n, d)).astype(np.float32) for n in (v, v2))
    ids, pos = g.integers(0, v, (b, t)), g.integers(0, v2, t)
    out = ops.embedding_add(w, ids, w2, pos)
    assert out.shape == (b, t, d)
    assert np.array_equal(out, w[ids] + w2[pos])
    dy = g.standard_normal(out.shape).astype(np.float32)
    dw, dw2 = ops.embedding_add_backward(dy, ids, v, pos, v2)
    assert np.array_equal(dw, ops.embedding_backward(dy, ids, v))
    assert np.array_equal(dw2, ops.embedding_backward(dy, np.broadcast_to(pos, (b, t)), v2))
    want = np.zeros((v2, d))
    np.add.at(want, np.broadcast_to(pos, (b, t)).reshape(-1), dy.reshape(-1, d).astype(np.float64))
    close(dw2, want, atol=1e-5)


def test_embedding_add_errors():
    w = np.zeros((5, 2), np.float32)
    with pytest.raises(ValueError, match=r"embedding_add: ids_b\[1\] = 5 is out of range"):
        ops.embedding_add(w, np.array([[0, 1]]), w, np.array([0, 5]))
    with pytest.raises(ar.ShapeError, match=r"ids_b must broadcast to ids_a's shape \(2, 2\); got \(3,\)"):
        ops.embedding_add(w, np.zeros((2, 2), int), w, np.arange(3))
    with pytest.raises(ar.ShapeError, match=r"ids_b must broadcast to ids_a's shape \(2,\); got \(1, 2\)"):
        ops.embedding_add(w, np.zeros(2, int), w, np.zeros((1, 2), int))  # more dims: as np.broadcast_to
    out = ops.embedding_add(w + 1, np.array([[0, 1], [2, 3]]), w, np.array([[4], [1]]))  # (2, 1) broadcast
    assert np.array_equal(out, (w + 1)[[[0, 1], [2, 3]]] + w[[[4, 4], [1, 1]]])
    with pytest.raises(ar.ShapeError, match=r"b must have a's dim 2; got shape \(5, 3\)"):
        ops.embedding_add(w, [0], np.zeros((5, 3)), [0])
    with pytest.raises(ar.DTypeError, match="embedding_add: ids_b must be an integer"):
        ops.embedding_add(w, [0], w, np.array([0.5]))
    with pytest.raises(ar.ShapeError, match=r"dy must have shape ids_a.shape \+ \(D,\)"):
        ops.embedding_add_backward(np.zeros((2, 3), np.float32), [0], 5, [0], 5)
    with pytest.raises(ValueError, match=r"embedding_add_backward: ids_a\[0\] = -1"):
        ops.embedding_add_backward(np.zeros((1, 2), np.float32), [-1], 5, [0], 5)


# ---------------------------------------------------------------- AdamW


def ref_adamw(p, g, m, v, lr, b1, b2, eps, wd, step):
    p = p * (1 - lr * wd)
    m = m + (1 - b1) * (g - m)
    v = b2 * v + (1 - b2) * g * g
    denom = np.sqrt(v) / np.sqrt(1 - b2**step) + eps
    return p - lr / (1 - b1**step) * m / denom, m, v


@SETTINGS
@given(n=DIMS, seed=st.integers(0, 2**16), wd=st.sampled_from([0.0, 0.01, 0.5]))
def test_adamw_matches_pytorch_formulas(n, seed, wd):
    g = rng(seed)
    shape = (n, 3)
    p = g.standard_normal(shape).astype(np.float32)
    m = np.zeros(shape, np.float32)
    v = np.zeros(shape, np.float32)
    rp, rm, rv = p.astype(np.float64), m.astype(np.float64), v.astype(np.float64)
    hp = {"lr": 1e-2, "beta1": 0.9, "beta2": 0.99, "eps": 1e-8, "weight_decay": wd}
    for step in range(1, 4):
        grad = g.standard_normal(shape).astype(np.float32)
        ops.adamw_step(p, grad, m, v, step=step, **hp)
        rp, rm, rv = ref_adamw(rp, grad.astype(np.float64), rm, rv, hp["lr"], hp["beta1"], hp["beta2"],
                               hp["eps"], wd, step)  # fmt: skip
    close(p, rp, atol=1e-6, rtol=1e-5)
    close(m, rm, atol=1e-6, rtol=1e-5)
    close(v, rv, atol=1e-7, rtol=1e-5)


# ---------------------------------------------------------------- finite differences


def _fd_check(f, x, dx, eps=1e-2, seed=0, samples=6, rtol=2e-2, atol=2e-3):
    """Directional derivatives of scalar ``f`` (float64 sum of a float32 op)
    at ``x`` along random directions vs ``<dx, direction>``."""
    g = rng(seed)
    for _ in range(samples):
        d = g.standard_normal(x.shape).astype(np.float32)
        num = (f(x + eps * d) - f(x - eps * d)) / (2 * eps)
        ana = float((dx.astype(np.float64) * d).sum())
        assert abs(num - ana) <= atol + rtol * abs(ana), (num, ana)


def test_backwards_match_finite_differences():
    g = rng(11)
    x = g.standard_normal((5, 11)).astype(np.float32)
    w_out = g.standard_normal((5, 11)).astype(np.float32)

    def lin(y):
        return float((y.astype(np.float64) * w_out).sum())

    y = ops.softmax(x, scale=0.7)
    _fd_check(lambda z: lin(ops.softmax(z, scale=0.7)), x, ops.softmax_backward(y, w_out, scale=0.7))
    y = ops.log_softmax(x)
    _fd_check(lambda z: lin(ops.log_softmax(z)), x, ops.log_softmax_backward(y, w_out))
    t = np.array([1, 0, -100, 10, 3])
    for red in ("mean", "sum"):
        _, dl = ops.cross_entropy(x, t, label_smoothing=0.1, reduction=red)
        _fd_check(lambda z, r=red: float(ops.cross_entropy(z, t, label_smoothing=0.1, reduction=r)[0]), x, dl)
    w = g.standard_normal(11).astype(np.float32)
    b = g.standard_normal(11).astype(np.float32)
    y, mean, rstd = ops.layer_norm(x, w, b)
    dx, dw, db = ops.layer_norm_backward(w_out, x, w, mean, rstd)
    _fd_check(lambda z: lin(ops.layer_norm(z, w, b)[0]), x, dx)
    _fd_check(lambda z: lin(ops.layer_norm(x, z, b)[0]), w, dw)
    _fd_check(lambda z: lin(ops.layer_norm(x, w, z)[0]), b, db)
    for kind in ACTS:
        xs = x + np.float32(0.3) * np.sign(x)  # keep relu away from its kink
        y = _act_fwd(kind, xs)
        _fd_check(lambda z, k=kind: lin(_act_fwd(k, z)), xs, _act_bwd(kind, xs, y, w_out), eps=1e-3)
    table = g.standard_normal((7, 4)).astype(np.float32)
    ids = np.array([[1, 6, 1], [0, 1, 2]])
    wo = g.standard_normal((2, 3, 4)).astype(np.float32)
    _fd_check(lambda z: float((ops.embedding(z, ids) * wo).sum()), table, ops.embedding_backward(wo, ids, 7))


# ---------------------------------------------------------------- determinism


def _all_outputs(seed=5):
    g = rng(seed)
    x = g.standard_normal((700, 300)).astype(np.float32)
    dy = g.standard_normal((700, 300)).astype(np.float32)
    t = g.integers(0, 300, 700)
    w = g.standard_normal(300).astype(np.float32)
    y = ops.softmax(x, scale=0.5)
    ln, mean, rstd = ops.layer_norm(x, w, w)
    ids = g.integers(0, 50, (40, 70))
    p = x.copy()
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    ops.adamw_step(p, dy, m, v, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, step=3)
    out = [y, ops.softmax_backward(y, dy, scale=0.5), ops.log_softmax(x), *ops.cross_entropy(x, t, label_smoothing=0.1),
           ln, *ops.layer_norm_backward(dy, x, w, mean, rstd), ops.gelu(x), ops.gelu_backward(x, dy, "tanh"),
           ops.embedding_backward(g.standard_normal((40, 70, 300)).astype(np.float32), ids, 50), p, m, v,
           ops.embedding_add(x, ids % 40, dy, ids[0]),
           *ops.embedding_add_backward(g.standard_normal((40, 70, 300)).astype(np.float32), ids, 50, ids[0], 64)]  # fmt: skip
    return out


def test_bitwise_identical_for_1_and_2_threads():
    before = ar.get_num_threads()
    try:
        ar.set_num_threads(1)
        one = _all_outputs()
        ar.set_num_threads(2)
        two = _all_outputs()
    finally:
        ar.set_num_threads(before)
    for a, b in zip(one, two):
        assert a.tobytes() == b.tobytes()


# ---------------------------------------------------------------- every ISA


def isa_self_check() -> None:
    """Run in a subprocess with ATTNRS_SIMD set: every op against the float64
    references, tanh/sigmoid in ulp, on awkward sizes."""
    for rows, n in [(1, 1), (3, 7), (2, 17), (5, 33), (4, 100), (70, 257)]:
        g = rng(rows * 1000 + n)
        x = (g.standard_normal((rows, n)) * 4).astype(np.float32)
        dy = g.standard_normal((rows, n)).astype(np.float32)
        mask = g.standard_normal(n).astype(np.float32)
        y = ops.softmax(x, scale=0.5, mask=mask)
        close(y, ref_softmax(x, -1, 0.5, mask), atol=1e-7)
        yd = y.astype(np.float64)
        close(ops.softmax_backward(y, dy, scale=0.5), 0.5 * yd * (dy - (dy * yd).sum(-1, keepdims=True)), atol=1e-6)
        ly = ops.log_softmax(x)
        close(ly, ref_log_softmax(x), atol=1e-5)
        close(ops.log_softmax_backward(ly, dy), dy - np.exp(ly.astype(np.float64)) * dy.sum(-1, keepdims=True),
              atol=1e-5)  # fmt: skip
        t = g.integers(0, n, rows)
        loss, grad = ops.cross_entropy(x, t, label_smoothing=0.1)
        wl, wg = ref_cross_entropy(x, t, -100, 0.1)
        close(loss, wl, atol=1e-5)
        close(grad, wg, atol=1e-6)
        w = g.standard_normal(n).astype(np.float32)
        ln, mean, rstd = ops.layer_norm(x, w, w)
        close(ln, ref_layer_norm(x, w, w, 1e-5), atol=1e-5, rtol=1e-4)
        _dx, _dw, db = ops.layer_norm_backward(dy, x, w, mean, rstd)
        close(db, dy.astype(np.float64).sum(0), atol=1e-5)
        for kind in ACTS:
            fy, fg = _act_ref(kind, x)
            ay = _act_fwd(kind, x)
            close(ay, fy, atol=1e-6, rtol=1e-5)
            close(_act_bwd(kind, x, ay, dy), dy * fg, atol=1e-5, rtol=1e-4)
        ids = g.integers(0, n, (rows, 3))
        close(ops.embedding_backward(np.ones((rows, 3, 2), np.float32), ids, n)[:, 0],
              np.bincount(ids.reshape(-1), minlength=n))  # fmt: skip
    # The example-based tests, on this ISA too.
    test_large_magnitudes_and_nan_propagation()
    test_softmax_mask_broadcasts_over_leading_axes()
    test_cross_entropy_edge_cases()
    test_layer_norm_nd_and_strided()
    test_gelu_left_tail_is_relatively_accurate()
    test_gelu_polynomial_range_absolute_error()
    test_backwards_match_finite_differences()
    xs = np.linspace(-12, 12, 200_001, dtype=np.float32)
    for name, ref in (("tanh", np.tanh), ("sigmoid", lambda z: 1 / (1 + np.exp(-z)))):
        got = getattr(ops, name)(xs).astype(np.float64)
        want = ref(xs.astype(np.float64))
        ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
        assert (np.abs(got - want) / ulp).max() <= 4, name


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_every_isa_in_a_subprocess(isa):
    if isa not in ar.info()["isa_available"]:
        pytest.skip(f"this CPU has no {isa}")
    env = dict(os.environ, ATTNRS_SIMD=isa, ATTNRS_NUM_THREADS="2")
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); import attnrs, test_fused_ops as t;"
            f"assert attnrs.info()['isa'] == {isa!r}, attnrs.info(); t.isa_self_check(); print('ok')")  # fmt: skip
    r = subprocess.run([sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr


# ---------------------------------------------------------------- errors


def test_errors_name_op_argument_and_values():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ar.DTypeError, match="softmax: x"):
        ops.softmax(np.zeros((2, 3), np.int32))
    with pytest.raises(ar.ShapeError, match="axis 2 is out of range"):
        ops.softmax(x, axis=2)
    with pytest.raises(ar.ShapeError, match="mask of shape \\(4,\\)"):
        ops.softmax(x, mask=np.zeros(4))
    with pytest.raises(ValueError, match="scale must be a finite"):
        ops.softmax(x, scale=float("nan"))
    with pytest.raises(ar.ShapeError, match="softmax_backward: dy must have shape"):  # the binding's check
        ops.softmax_backward(x, np.zeros((3, 2)))
    with pytest.raises(ar.ShapeError, match="layer_norm_backward: dy must have shape"):
        ops.layer_norm_backward(np.zeros((2, 4)), x, None, np.zeros(2), np.zeros(2))
    with pytest.raises(ar.ShapeError, match="dy must have shape"):
        ops.gelu_backward(x, np.zeros((3, 2)))
    with pytest.raises(ar.ShapeError, match="0-d"):
        ops.log_softmax(np.float32(1.0))
    with pytest.raises(ValueError, match=r"target\[1\] = 3 is out of range"):
        ops.cross_entropy(x, [0, 3])
    with pytest.raises(ar.DTypeError, match="target must be an integer"):
        ops.cross_entropy(x, np.array([0.0, 1.0]))
    with pytest.raises(ar.ShapeError, match=r"target must have shape \(2,\)"):
        ops.cross_entropy(x, [0, 1, 2])
    with pytest.raises(ValueError, match="reduction"):
        ops.cross_entropy(x, [0, 1], reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        ops.cross_entropy(x, [0, 1], label_smoothing=1.5)
    with pytest.raises(ar.ShapeError, match="logits must be 2-D"):
        ops.cross_entropy(np.zeros((2, 3, 4)), [0, 1])
    with pytest.raises(ar.ShapeError, match=r"weight must have shape \(3,\)"):
        ops.layer_norm(x, np.ones(4))
    with pytest.raises(ValueError, match="eps must be a finite"):
        ops.layer_norm(x, eps=float("inf"))
    with pytest.raises(ar.ShapeError, match="non-empty last axis"):
        ops.layer_norm(np.zeros((2, 0)))
    with pytest.raises(ar.ShapeError, match=r"mean must have shape \(2,\)"):
        ops.layer_norm_backward(x, x, None, np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="approximate"):
        ops.gelu(x, approximate="fast")
    with pytest.raises(ar.DTypeError, match="gelu: x"):
        ops.gelu(np.zeros(3, bool))
    with pytest.raises(ValueError, match=r"ids\[3\] = 5 is out of range: expected an id in \[0, 5\)"):
        ops.embedding(np.zeros((5, 2)), np.array([[0, 1], [4, 5]]))
    with pytest.raises(ValueError, match=r"ids\[0\] = -1"):
        ops.embedding_backward(np.zeros((1, 2)), [-1], 5)
    with pytest.raises(ar.DTypeError, match="ids must be an integer"):
        ops.embedding(np.zeros((5, 2)), np.array([0.5]))
    with pytest.raises(ar.ShapeError, match="dy must have shape"):
        ops.embedding_backward(np.zeros((2, 3)), [0], 5)


def test_adamw_errors():
    p, m, v = (np.zeros(4, np.float32) for _ in range(3))
    hp = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0, "step": 1}
    for key, bad in [("lr", float("nan")), ("eps", float("inf")), ("beta1", float("nan")), ("weight_decay", float("-inf"))]:
        with pytest.raises(ValueError, match=key):
            ops.adamw_step(p, p.copy(), m, v, **{**hp, key: bad})
    with pytest.raises(ValueError, match="beta2: expected a value in"):
        ops.adamw_step(p, p.copy(), m, v, **{**hp, "beta2": 1.0})
    with pytest.raises(ValueError, match="lr: expected a finite value >= 0"):
        ops.adamw_step(p, p.copy(), m, v, **{**hp, "lr": -1.0})
    with pytest.raises(ValueError, match="step must be an integer >= 1"):
        ops.adamw_step(p, p.copy(), m, v, **{**hp, "step": 0})
    with pytest.raises(ar.ShapeError, match="C-contiguous"):
        ops.adamw_step(np.zeros((4, 4), np.float32)[:, ::2], np.zeros(8), np.zeros(8, np.float32), np.zeros(8, np.float32), **hp)
    with pytest.raises(ar.DTypeError, match="param must be float32"):
        ops.adamw_step(np.zeros(4), p, m, v, **hp)
    with pytest.raises(ar.ShapeError, match="grad has 3 elements, param has 4"):
        ops.adamw_step(p, np.zeros(3), m, v, **hp)
    with pytest.raises(ValueError, match="param and exp_avg share memory"):
        ops.adamw_step(p, np.zeros(4), p, v, **hp)
    with pytest.raises(ValueError, match="param and grad share memory"):
        ops.adamw_step(p, p, m, v, **hp)
    assert not p.any()  # nothing was touched by the failed calls


if __name__ == "__main__":
    isa_self_check()
    print("ok")
