"""conv1d: kernel vs a float64 direct convolution, gradients, ISAs, threads,
causality, receptive fields, streaming, layers and state dicts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import attnrs as ar
from attnrs import nn, ops
from attnrs.nn import functional as F

# --- float64 references --------------------------------------------------------------------


def left_pad(k: int, d: int, causal: bool) -> int:
    return (k - 1) * d if causal else (k - 1) * d // 2


def ref_conv(x, w, b=None, d=1, causal=True):
    """Direct convolution in float64, output length T."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    bsz, _, t = x.shape
    c_out, _, k = w.shape
    y = np.zeros((bsz, c_out, t))
    if b is not None:
        y += np.asarray(b, np.float64)[None, :, None]
    pad = left_pad(k, d, causal)
    for j in range(k):
        off = j * d - pad
        lo, hi = max(0, -off), min(t, t - off)
        if lo < hi:
            y[:, :, lo:hi] += np.einsum("oi,bit->bot", w[:, :, j], x[:, :, lo + off : hi + off])
    return y


def ref_grads(x, w, dy, d=1, causal=True):
    """(dx, dw, db) of sum(conv(x, w, b) * dy) in float64."""
    x, w, dy = (np.asarray(a, np.float64) for a in (x, w, dy))
    t, k = x.shape[2], w.shape[2]
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    pad = left_pad(k, d, causal)
    for j in range(k):
        off = j * d - pad
        lo, hi = max(0, -off), min(t, t - off)
        if lo < hi:
            dx[:, :, lo + off : hi + off] += np.einsum("oi,bot->bit", w[:, :, j], dy[:, :, lo:hi])
            dw[:, :, j] += np.einsum("bot,bit->oi", dy[:, :, lo:hi], x[:, :, lo + off : hi + off])
    return dx, dw, dy.sum(axis=(0, 2))


def rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def close(got, want, scale=1.0):
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5 * max(1.0, scale))


# --- forward and gradients on the grid -----------------------------------------------

SHAPES = [(2, 3, 5, 17), (1, 1, 1, 9), (3, 7, 2, 4), (1, 4, 6, 130)]  # (B, C_in, C_out, T)


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("d", [1, 2, 7, 64])
def test_matches_direct_convolution_and_gradients(k, d, causal):
    rng = np.random.default_rng(k * 100 + d)
    for b, ci, co, t in SHAPES:  # T < receptive field for the larger d
        x, w, bias, dy = (
            rand(rng, b, ci, t),
            rand(rng, co, ci, k),
            rand(rng, co),
            rand(rng, b, co, t),
        )
        y = ops.conv1d(x, w, bias, dilation=d, causal=causal)
        assert y.shape == (b, co, t) and y.dtype == np.float32
        close(y, ref_conv(x, w, bias, d, causal), ci * k)
        dx, dw, db = ops.conv1d_backward(x, w, dy, dilation=d, causal=causal)
        rdx, rdw, rdb = ref_grads(x, w, dy, d, causal)
        close(dx, rdx, co * k)
        close(dw, rdw, b * t)
        close(db, rdb, b * t)


def _strided(rng, shape, kind):
    """An x of ``shape`` that is a non-contiguous view of a larger array."""
    b, c, t = shape
    if kind == "time_step":
        return rand(rng, b, c, 2 * t + 1)[:, :, 1::2][:, :, :t]
    if kind == "channels_last":
        return np.ascontiguousarray(rand(rng, b, t, c)).transpose(0, 2, 1)
    if kind == "channel_slice":
        return rand(rng, b, 2 * c, t)[:, ::2, :]
    return rand(rng, *shape)


@settings(max_examples=40, deadline=None)
@given(
    b=st.integers(1, 3), ci=st.integers(1, 9), co=st.integers(1, 9), t=st.integers(1, 40),
    k=st.integers(1, 5), d=st.integers(1, 9), causal=st.booleans(), bias=st.booleans(),
    kind=st.sampled_from(["dense", "time_step", "channels_last", "channel_slice"]),
    seed=st.integers(0, 2**16),
)  # fmt: skip
def test_random_shapes_and_strided_views(b, ci, co, t, k, d, causal, bias, kind, seed):
    rng = np.random.default_rng(seed)
    x = _strided(rng, (b, ci, t), kind)
    w = rand(rng, k, ci, co).transpose(2, 1, 0)  # a strided weight view
    bv = rand(rng, co) if bias else None
    dy = _strided(rng, (b, co, t), kind)
    close(ops.conv1d(x, w, bv, dilation=d, causal=causal), ref_conv(x, w, bv, d, causal), ci * k)
    dx, dw, db = ops.conv1d_backward(x, w, dy, dilation=d, causal=causal)
    rdx, rdw, rdb = ref_grads(x, w, dy, d, causal)
    close(dx, rdx, co * k)
    close(dw, rdw, b * t)
    close(db, rdb, b * t)


def test_float64_input_is_converted():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 11)), rng.standard_normal((4, 3, 2))
    y = ops.conv1d(x, w, dilation=3)
    assert y.dtype == np.float32
    close(y, ref_conv(x, w, None, 3), 6)


def test_autograd_matches_reference_and_finite_differences():
    rng = np.random.default_rng(2)
    b, ci, co, t, k, d = 2, 3, 4, 13, 3, 2
    x = ar.tensor(rand(rng, b, ci, t), requires_grad=True)
    w = ar.tensor(rand(rng, co, ci, k), requires_grad=True)
    bias = ar.tensor(rand(rng, co), requires_grad=True)
    g = rand(rng, b, co, t)
    for causal in (True, False):
        for p in (x, w, bias):
            p.grad = None
        (F.conv1d(x, w, bias, d, causal) * g).sum().backward()
        rdx, rdw, rdb = ref_grads(x.numpy(), w.numpy(), g, d, causal)
        close(x.grad.numpy(), rdx, co * k)
        close(w.grad.numpy(), rdw, b * t)
        close(bias.grad.numpy(), rdb, b * t)

        # Central differences of L = Σ conv(x, w, b)·g (exact for a linear map up to rounding).
        def loss(xa, wa, ba, causal=causal):
            return float((ref_conv(xa, wa, ba, d, causal) * g).sum())

        eps = 0.5
        for arr, grad in ((x, x.grad), (w, w.grad), (bias, bias.grad)):
            for _ in range(4):
                idx = tuple(rng.integers(0, n) for n in arr.shape)
                args = [
                    x.numpy().astype(np.float64),
                    w.numpy().astype(np.float64),
                    bias.numpy().astype(np.float64),
                ]
                which = [id(t) for t in (x, w, bias)].index(id(arr))  # tensors compare elementwise
                args[which][idx] += eps
                up = loss(*args)
                args[which][idx] -= 2 * eps
                down = loss(*args)
                np.testing.assert_allclose(
                    grad.numpy()[idx], (up - down) / (2 * eps), rtol=1e-4, atol=1e-4
                )


def test_gradient_only_where_needed():
    rng = np.random.default_rng(3)
    x = ar.tensor(rand(rng, 1, 2, 5))
    w = ar.tensor(rand(rng, 3, 2, 2), requires_grad=True)
    F.conv1d(x, w).sum().backward()
    assert x.grad is None and w.grad is not None
    dx, dw, db = ops.conv1d_backward(
        x.numpy(), w.numpy(), np.ones((1, 3, 5)), need_input=False, need_bias=False
    )
    assert dx is None and db is None and dw.shape == (3, 2, 2)


def test_unbatched_input_and_padding_alias():
    rng = np.random.default_rng(4)
    x, w, b = rand(rng, 3, 10), rand(rng, 2, 3, 4), rand(rng, 2)
    y = F.conv1d(ar.tensor(x), w, b, 2, padding="same")
    assert y.shape == (2, 10)
    close(y.numpy(), ref_conv(x[None], w, b, 2, False)[0], 12)
    with pytest.raises(ValueError, match="padding"):
        F.conv1d(ar.tensor(x), w, padding=1)


# --- every ISA, thread counts ------------------------------------------------------------------

_ISA_SCRIPT = textwrap.dedent(
    """
    import numpy as np, attnrs as ar
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 19, 150)).astype(np.float32)
    w = rng.standard_normal((23, 19, 3)).astype(np.float32)
    b = rng.standard_normal(23).astype(np.float32)
    dy = rng.standard_normal((3, 23, 150)).astype(np.float32)
    out = {"isa": ar.info()["isa"]}
    for causal in (True, False):
        out[f"y{causal}"] = ar.ops.conv1d(x, w, b, dilation=5, causal=causal)
        for name, g in zip("xwb", ar.ops.conv1d_backward(x, w, dy, dilation=5, causal=causal)):
            out[f"d{name}{causal}"] = g
    np.savez(__import__("sys").argv[1], **out)
    """
)


@pytest.mark.parametrize("isa", ar.info()["isa_available"])
def test_every_isa_matches_reference(isa, tmp_path):
    path = tmp_path / "out.npz"
    env = dict(os.environ, ATTNRS_SIMD=isa)
    subprocess.run([sys.executable, "-c", _ISA_SCRIPT, str(path)], env=env, check=True, timeout=60)
    got = np.load(path)
    assert str(got["isa"]) == isa
    rng = np.random.default_rng(5)
    x, w, b, dy = rand(rng, 3, 19, 150), rand(rng, 23, 19, 3), rand(rng, 23), rand(rng, 3, 23, 150)
    for causal in (True, False):
        close(got[f"y{causal}"], ref_conv(x, w, b, 5, causal), 57)
        rdx, rdw, rdb = ref_grads(x, w, dy, 5, causal)
        close(got[f"dx{causal}"], rdx, 69)
        close(got[f"dw{causal}"], rdw, 450)
        close(got[f"db{causal}"], rdb, 450)


def test_one_and_two_threads_are_bitwise_equal():
    rng = np.random.default_rng(6)
    x, w, b, dy = (
        rand(rng, 4, 32, 1000),
        rand(rng, 48, 32, 3),
        rand(rng, 48),
        rand(rng, 4, 48, 1000),
    )
    prev = ar.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            ar.set_num_threads(n)
            y = ops.conv1d(x, w, b, dilation=7)
            results.append((y, *ops.conv1d_backward(x, w, dy, dilation=7, causal=True)))
    finally:
        ar.set_num_threads(prev)
    for a, c in zip(*results):
        assert a.tobytes() == c.tobytes()


# --- causality, receptive field, streaming ----------------------------------------------------


def test_causal_output_ignores_the_future():
    rng = np.random.default_rng(7)
    x, w = rand(rng, 2, 3, 40), rand(rng, 4, 3, 3)
    y = ops.conv1d(x, w, dilation=4)
    for s in (0, 13, 39):
        x2 = x.copy()
        x2[:, :, s:] += rand(rng, 2, 3, 40 - s)
        y2 = ops.conv1d(x2, w, dilation=4)
        assert y2[:, :, :s].tobytes() == y[:, :, :s].tobytes()
        assert not np.array_equal(y2[:, :, s], y[:, :, s])
    # 'same' padding looks ahead by (K-1)·d - ⌊(K-1)·d/2⌋ = 4 steps.
    x2 = x.copy()
    x2[:, :, 20] += 1.0
    changed = np.nonzero(
        np.any(
            ops.conv1d(x2, w, dilation=4, causal=False)
            != ops.conv1d(x, w, dilation=4, causal=False),
            axis=(0, 1),
        )
    )[0]
    assert changed.min() == 16 and changed.max() == 24


@pytest.mark.parametrize("k,dilations", [(2, [1, 2, 4, 8]), (3, [1, 3, 2])])
def test_stack_receptive_field_by_perturbation(k, dilations):
    ar.manual_seed(0)
    stack = nn.TCNStack(4, kernel_size=k, dilations=dilations)
    rf = 1 + (k - 1) * sum(dilations)
    assert stack.receptive_field == rf == nn.receptive_field(k, dilations)
    t = rf + 12
    rng = np.random.default_rng(8)
    x = rand(rng, 1, 4, t)
    with ar.no_grad():
        out, skip = stack(ar.tensor(x))
        s = 5
        x2 = x.copy()
        x2[:, :, s] += 1.0
        out2, skip2 = stack(ar.tensor(x2))
    for a, c in ((out, out2), (skip, skip2)):
        changed = np.nonzero(np.any(a.numpy() != c.numpy(), axis=(0, 1)))[0]
        assert changed.min() == s and changed.max() == s + rf - 1


def test_conv_streaming_equals_full_pass():
    rng = np.random.default_rng(9)
    conv = nn.Conv1d(3, 5, 3, dilation=4)
    x = rand(rng, 2, 3, 30)
    full = conv(ar.tensor(x)).numpy()
    state = nn.StreamingState()
    steps = [conv.stream_step(x[:, :, t], state).numpy() for t in range(30)]
    close(np.stack(steps, axis=-1), full, 9)
    assert state.steps(conv) == 30


def test_stack_streaming_equals_full_pass():
    ar.manual_seed(1)
    stack = nn.TCNStack(6, kernel_size=2, dilations=[1, 2, 4, 8, 16], skip_channels=5)
    rng = np.random.default_rng(10)
    x = rand(rng, 3, 6, 50)  # longer than the receptive field (32): the rings wrap
    with ar.no_grad():
        out, skip = stack(ar.tensor(x))
    state = nn.StreamingState()
    outs, skips = zip(*(stack.stream_step(x[:, :, t], state) for t in range(50)))
    close(np.stack([o.numpy() for o in outs], -1), out.numpy(), 10)
    close(np.stack([s.numpy() for s in skips], -1), skip.numpy(), 10)
    assert len(state) == 15  # three convs per block
    state.reset()
    again = stack.stream_step(x[:, :, 0], state)[0].numpy()
    close(again, out.numpy()[:, :, 0])


def test_stream_step_low_level_ring():
    rng = np.random.default_rng(11)
    w, b = rand(rng, 4, 3, 2), rand(rng, 4)
    x = rand(rng, 1, 3, 9)
    ring = ops.conv1d_state(1, 3, 2, dilation=3)
    assert ring.shape == (4, 1, 3)
    ys = [ops.conv1d_step(x[:, :, t], w, b, state=ring, step=t, dilation=3) for t in range(9)]
    close(np.stack(ys, -1), ref_conv(x, w, b, 3), 6)


# --- layers --------------------------------------------------------------------------------


def test_conv1d_layer_init_and_pytorch_state_dict():
    ar.manual_seed(2)
    conv = nn.Conv1d(8, 6, 5, dilation=2)
    bound = 1 / np.sqrt(8 * 5)
    assert conv.weight.shape == (6, 8, 5) and conv.bias.shape == (6,)
    assert np.abs(conv.weight.numpy()).max() <= bound and np.abs(conv.bias.numpy()).max() <= bound
    assert conv.weight.numpy().std() > 0.4 * bound
    rng = np.random.default_rng(12)
    sd = {
        "weight": rng.standard_normal((6, 8, 5)).astype(np.float32),
        "bias": rng.standard_normal(6).astype(np.float32),
    }
    conv.load_state_dict(sd)
    x = rand(rng, 2, 8, 21)
    close(conv(ar.tensor(x)).numpy(), ref_conv(x, sd["weight"], sd["bias"], 2), 40)
    nobias = nn.Conv1d(8, 6, 5, bias=False)
    assert [n for n, _ in nobias.named_parameters()] == ["weight"]


def test_temporal_block_state_dict_names_and_math():
    ar.manual_seed(3)
    blk = nn.TemporalBlock(4, kernel_size=3, dilation=2, skip_channels=7)
    names = dict(blk.state_dict())
    assert {k: v.shape for k, v in names.items()} == {
        "conv.weight": (8, 4, 3), "conv.bias": (8,), "res.weight": (4, 4, 1), "res.bias": (4,),
        "skip.weight": (7, 4, 1), "skip.bias": (7,),
    }  # fmt: skip
    rng = np.random.default_rng(13)
    x = rand(rng, 2, 4, 15)
    out, skip = blk(ar.tensor(x))
    a = ref_conv(x, names["conv.weight"], names["conv.bias"], 2)
    z = np.tanh(a[:, :4]) / (1 + np.exp(-a[:, 4:]))
    close(out.numpy(), x + ref_conv(z, names["res.weight"], names["res.bias"]), 10)
    close(skip.numpy(), ref_conv(z, names["skip.weight"], names["skip.bias"]), 10)


def test_stack_gradients_flow_to_every_parameter():
    ar.manual_seed(4)
    stack = nn.TCNStack(3, num_layers=3)
    x = ar.tensor(np.random.default_rng(14).standard_normal((2, 3, 12)), requires_grad=True)
    out, skip = stack(x)
    (out.sum() + skip.sum()).backward()
    assert x.grad is not None
    for name, p in stack.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), name


def test_learns_a_delay():
    """A causal conv learns y[t] = x[t−3] (the loss falls to ~0)."""
    ar.manual_seed(5)
    conv = nn.Conv1d(1, 1, 4)
    rng = np.random.default_rng(15)
    first = None
    for _ in range(300):
        x = rand(rng, 8, 1, 32)
        target = np.zeros_like(x)
        target[:, :, 3:] = x[:, :, :-3]
        diff = conv(ar.tensor(x)) - target
        loss = (diff * diff).mean()
        first = loss.item() if first is None else first
        conv.zero_grad()
        loss.backward()
        for p in conv.parameters():
            p._array -= 0.1 * p.grad.numpy()
    assert loss.item() < 1e-3 * first
    close(conv.weight.numpy()[0, 0], [1, 0, 0, 0], 50)


# --- bad input ----------------------------------------------------------------------------


def test_bad_input_raises_clear_errors():
    x, w = np.zeros((2, 3, 5), np.float32), np.zeros((4, 3, 2), np.float32)
    with pytest.raises(ar.ShapeError, match="in_channels=3"):
        ops.conv1d(np.zeros((2, 4, 5), np.float32), w)
    with pytest.raises(ar.ShapeError, match="3-D"):
        ops.conv1d(np.zeros((3, 5), np.float32), w)
    with pytest.raises(ar.ShapeError, match="weight"):
        ops.conv1d(x, np.zeros((4, 3), np.float32))
    with pytest.raises(ar.ShapeError, match="kernel_size"):
        ops.conv1d(x, np.zeros((4, 3, 0), np.float32))
    with pytest.raises(ar.ShapeError, match="bias"):
        ops.conv1d(x, w, np.zeros(3, np.float32))
    with pytest.raises(ar.DTypeError):
        ops.conv1d(x.astype(np.int32), w)
    with pytest.raises(ValueError, match="dilation"):
        ops.conv1d(x, w, dilation=0)
    with pytest.raises(ar.ShapeError, match="grad_output"):
        ops.conv1d_backward(x, w, np.zeros((2, 4, 6), np.float32))
    with pytest.raises(ValueError, match="positive"):
        nn.Conv1d(3, 0, 2)
    with pytest.raises(ValueError, match="causal"):
        nn.Conv1d(3, 4, 3, causal=False).stream_step(np.zeros((1, 3)), nn.StreamingState())
    conv, state = nn.Conv1d(3, 4, 2), nn.StreamingState()
    conv.stream_step(np.zeros((2, 3)), state)
    with pytest.raises(ar.ShapeError, match="batch"):
        conv.stream_step(np.zeros((1, 3)), state)
    with pytest.raises(ar.ShapeError, match="x_t"):
        ops.conv1d_step(np.zeros((1, 4), np.float32), w, state=ops.conv1d_state(1, 3, 2), step=0)
    with pytest.raises(ar.ShapeError, match="state"):
        ops.conv1d_step(np.zeros((1, 3), np.float32), w, state=ops.conv1d_state(1, 3, 2, 2), step=0)


def test_empty_axes():
    w = np.ones((4, 3, 2), np.float32)
    assert ops.conv1d(np.zeros((0, 3, 5), np.float32), w).shape == (0, 4, 5)
    assert ops.conv1d(np.zeros((2, 3, 0), np.float32), w).shape == (2, 4, 0)
    dx, dw, db = ops.conv1d_backward(
        np.zeros((2, 3, 0), np.float32), w, np.zeros((2, 4, 0), np.float32)
    )
    assert dx.shape == (2, 3, 0) and not dw.any() and not db.any()
