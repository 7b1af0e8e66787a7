"""The fused Linear (``_core.linear_forward`` / ``linear_backward`` behind
``F.linear`` and ``nn.Linear``) against float64 NumPy: odd and GPT-sized
shapes, leading axes, strided and flipped views, no bias, partial gradients,
bad input, bitwise 1 vs 2 threads, every SIMD level (in a subprocess)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _helpers import pytest_under_isa
from hypothesis import given, settings
from hypothesis import strategies as st

import attnrs as ar
from attnrs import _core, nn
from attnrs import functional as F

SIZES = st.sampled_from([1, 2, 3, 5, 7, 13, 16, 17, 31, 63, 64, 65, 97, 130])


def reference(x, w, b, g):
    """float64 y, dx, dw, db of the float32 inputs, and error scales for each."""
    x64, w64, g64 = (np.asarray(a, np.float64) for a in (x, w, g))
    rows = int(np.prod(x64.shape[:-1]))
    x2, g2 = x64.reshape(rows, x64.shape[-1]), g64.reshape(rows, g64.shape[-1])
    y = x2 @ w64.T + (0.0 if b is None else np.asarray(b, np.float64))
    grads = (g2 @ w64, g2.T @ x2, g2.sum(0))
    scales = (
        (np.abs(x2) @ np.abs(w64).T + (0.0 if b is None else np.abs(b))).reshape(g64.shape),
        np.abs(g2) @ np.abs(w64),
        np.abs(g2).T @ np.abs(x2),
        np.abs(g2).sum(0),
    )
    return (y.reshape(g64.shape), *grads), scales


def run(x, w, b, g, needs=(True, True, True)):
    """Forward and backward through autograd; the gradients (None where not needed)."""
    tx = ar.tensor(x, requires_grad=needs[0])
    tw = ar.tensor(w, requires_grad=needs[1])
    tb = None if b is None else ar.tensor(b, requires_grad=needs[2])
    y = F.linear(tx, tw, tb)
    if y.requires_grad:
        (y * ar.tensor(g)).sum().backward()
    grad = lambda t: None if t is None or t.grad is None else t.grad.numpy()  # noqa: E731
    return y.numpy(), grad(tx), grad(tw), grad(tb)


def problem(seed, x_shape, w_shape, bias=True):
    """Random float32 ``x``, ``w``, ``b`` (None without ``bias``) and the upstream gradient ``g``
    of ``linear(x, w, b)``, drawn in that order."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape, dtype=np.float32)
    w = rng.standard_normal(w_shape, dtype=np.float32)
    b = rng.standard_normal(w_shape[0], dtype=np.float32) if bias else None
    g = rng.standard_normal((*x_shape[:-1], w_shape[0]), dtype=np.float32)
    return x, w, b, g


def check(x, w, b, g):
    got = run(x, w, b, g)
    want, scale = reference(x, w, b, g)
    names = ("y", "dx", "dw", "db")
    for name, a, ref, s in zip(names, got, want, scale):
        if name == "db" and b is None:
            assert a is None
            continue
        assert a.dtype == np.float32, name
        a = a.reshape(ref.shape)
        np.testing.assert_array_less(np.abs(a - ref), 1e-5 * s + 1e-6, err_msg=name)


@settings(max_examples=60, deadline=None)
@given(
    rows=SIZES, inp=SIZES, out=SIZES, bias=st.booleans(), lead=st.sampled_from([(), (2,), (3, 1)])
)
def test_matches_float64(rows, inp, out, bias, lead):
    x, w, b, g = problem(rows * 1000 + inp * 10 + out, (*lead, rows, inp), (out, inp), bias)
    check(x, w, b, g)


@pytest.mark.parametrize("inp,out", [(128, 384), (128, 128), (128, 512), (512, 128), (128, 65)])
def test_gpt_shapes(inp, out):
    x, w, b, g = problem(inp + out, (12, 64, inp), (out, inp))
    check(x, w, b, g)


def test_strided_and_flipped_views():
    rng = np.random.default_rng(1)
    big = rng.standard_normal((40, 60), dtype=np.float32)
    wbig = rng.standard_normal((50, 30), dtype=np.float32)
    b = rng.standard_normal(25, dtype=np.float32)
    g = rng.standard_normal((40, 25), dtype=np.float32)
    w = wbig[::2, ::2]  # (25, 15), strided
    check(big[:, 1:31:2], w, b, g)  # x strided along both axes
    check(big[:, :15], np.ascontiguousarray(w.T).T, b, g)  # W a transposed view
    check(big[::-1, :15], w[::-1], b[::-1], g)  # negative strides are copied
    check(big[:, :15], w, b[::2].repeat(2)[:25], g)  # bias from a strided view


def test_partial_gradients_and_no_bias():
    x, w, b, g = problem(2, (70, 20), (30, 20))
    full = run(x, w, b, g)
    for needs in [(False, True, True), (True, False, False), (False, False, True)]:
        got = run(x, w, b, g, needs)
        for a, ref, need in zip(got[1:], full[1:], needs):
            if need:
                np.testing.assert_array_equal(a, ref)
            else:
                assert a is None
    assert run(x, w, None, g)[3] is None


def test_module_has_the_same_api():
    lin = nn.Linear(16, 8)
    x = ar.tensor(np.ones((3, 16), np.float32), requires_grad=True)
    lin(x).sum().backward()
    assert lin.weight.grad.shape == (8, 16) and lin.bias.grad.shape == (8,)
    np.testing.assert_allclose(lin.bias.grad.numpy(), 3.0)
    assert x.grad.shape == (3, 16)


def test_same_bits_on_one_and_two_threads():
    x, w, b, g = problem(3, (768, 128), (384, 128))
    n0 = ar.get_num_threads()
    try:
        ar.set_num_threads(1)
        one = run(x, w, b, g)
        ar.set_num_threads(2)
        two = run(x, w, b, g)
    finally:
        ar.set_num_threads(n0)
    for a, c in zip(one, two):
        assert a.tobytes() == c.tobytes()


def test_bad_input_names_the_op():
    x = np.ones((4, 3), np.float32)
    w = np.ones((2, 3), np.float32)
    with pytest.raises(ar.ShapeError, match="linear"):
        F.linear(ar.tensor(x), ar.tensor(np.ones((2, 4), np.float32)))
    with pytest.raises(ar.ShapeError, match="linear: bias"):
        F.linear(ar.tensor(x), ar.tensor(w), ar.tensor(np.ones(3, np.float32)))
    # The binding checks on its own too (it may be called directly).
    with pytest.raises(ar.ShapeError, match="linear: out must have shape"):
        _core.linear_forward(x, w, np.empty((4, 3), np.float32))
    with pytest.raises(ar.ShapeError, match="linear: weight"):
        _core.linear_forward(x, np.ones((2, 5), np.float32), np.empty((4, 2), np.float32))
    with pytest.raises(ar.ShapeError, match="C-contiguous"):
        _core.linear_forward(x, w, np.empty((4, 4), np.float32)[:, :2])
    with pytest.raises(ar.ShapeError, match="grad_weight"):
        _core.linear_backward(x, w, np.ones((4, 2), np.float32), dw=np.empty((3, 2), np.float32))
    with pytest.raises(TypeError):
        _core.linear_forward(x.astype(np.float64), w, np.empty((4, 2), np.float32))


@pytest.mark.skipif(os.environ.get("ATTNRS_SIMD") is not None, reason="already in a forced-ISA run")
@pytest.mark.parametrize("isa", [i for i in ar.info()["isa_available"] if i != ar.info()["isa"]])
def test_every_isa_in_a_subprocess(isa):
    pytest_under_isa(isa, __file__)


@pytest.mark.parametrize(
    "xs,ws", [((0, 5), (3, 5)), ((4, 0), (3, 0)), ((4, 5), (0, 5)), ((2, 0, 5), (3, 5))]
)
def test_empty_axes(xs, ws):
    x, w, b, g = problem(4, xs, ws)
    check(x, w, b, g)


def test_large_inputs_with_narrow_outputs():
    # x (900×320) and dY (900×352) are over half of a 2 MiB L2, but C is narrow enough for
    # B's K×N block to fit half of it: the GEMM reads A in place instead of packing it
    # (forward and dX); dW packs dYᵀ. Checked on every ISA by the subprocess test above.
    check(*problem(11, (900, 320), (352, 320)))


def test_linear_gradients_are_taken_without_a_copy(monkeypatch):
    from attnrs.functional.linear import Linear

    def grads(fresh):
        Linear.fresh_grads = fresh
        try:
            x, w, b, _ = problem(12, (5, 6), (6, 6))
            tx, tw, tb = (ar.tensor(a, requires_grad=True) for a in (x, w, b))
            for _ in range(2):  # w used twice per pass, and two passes: gradients accumulate
                F.linear(F.linear(tx, tw, tb), tw).sum().backward()
            return [t.grad.numpy() for t in (tx, tw, tb)]
        finally:
            Linear.fresh_grads = True

    taken, copied = grads(True), grads(False)
    for a, c in zip(taken, copied):
        np.testing.assert_array_equal(a, c)
    assert len({id(a) for a in taken}) == 3
    made = []
    backward = ar.ops.linear_backward
    monkeypatch.setattr(
        ar.ops, "linear_backward", lambda *a, **k: made.append(backward(*a, **k)) or made[-1]
    )
    tw = ar.tensor(np.ones((3, 4), np.float32), requires_grad=True)
    F.linear(ar.tensor(np.ones((2, 4), np.float32)), tw).sum().backward()
    assert tw.grad.numpy() is made[0][1]  # the kernel's own new array, not a copy of it
    np.testing.assert_array_equal(tw.grad.numpy(), np.full((3, 4), 2.0, np.float32))
