"""Attention at short causal lengths (the 16-row query tiles) and the fused
QKV backward that writes dq, dk, dv into one (B, T, 3, H, D) gradient: vs the
float64 naive attention of test_attention, vs the unfused backward (bitwise),
finite differences, every ISA, thread counts, and clear errors on aliasing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from gradcheck import gradcheck
from test_attention import assert_close, naive, rand

import attnrs as ar
from attnrs.nn import functional as F

AWKWARD_T = [1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 255, 256, 257]  # 16-row tiles up to T = 128


def fused_views(qkv: np.ndarray) -> tuple[np.ndarray, ...]:
    """(B, T, 3, H, D) → q, k, v as (B, H, T, D) strided views."""
    return tuple(qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))


def packed_backward(q, k, v, o, lse, g, **kw):
    b, h, t, d = q.shape
    dqkv = np.full((b, t, 3, h, d), np.nan, np.float32)
    got = ar.ops.attention_backward(q, k, v, o, lse, g, grads=dqkv.transpose(2, 0, 3, 1, 4), **kw)
    return dqkv, got


@pytest.mark.parametrize("t", AWKWARD_T)
@pytest.mark.parametrize("causal", [False, True])
def test_short_lengths_match_naive_through_the_packed_backward(t, causal):
    b, h, d = 2, 2, 8
    q, k, v = fused_views(rand(b, t, 3, h, d))
    g = rand(b, h, t, d)
    o, lse = ar.ops.attention_forward(q, k, v, causal=causal)
    dqkv, (dq, dk, dv) = packed_backward(q, k, v, o, lse, g, causal=causal)
    want = naive(q, k, v, g, causal=causal)
    assert_close((o, dq, dk, dv), want)
    # The returned gradients are views of the one buffer, which is fully written.
    assert np.shares_memory(dq, dqkv) and np.shares_memory(dv, dqkv)
    assert np.all(np.isfinite(dqkv))
    np.testing.assert_array_equal(dqkv[:, :, 1].transpose(0, 2, 1, 3), dk)


@pytest.mark.parametrize("t,causal,masks", [(64, True, None), (70, True, "pad"), (33, False, "add"), (300, True, None)])
def test_packed_backward_equals_unfused_bitwise(t, causal, masks):
    b, h, d = 2, 3, 16
    q, k, v = fused_views(rand(b, t, 3, h, d))
    g = rand(b, h, t, d)
    kw = {"causal": causal}
    if masks == "pad":
        kpm = np.random.default_rng(2).random((b, t)) < 0.3
        kpm[:, 0] = False
        kw["key_padding_mask"] = kpm
    elif masks == "add":
        kw["attn_mask"] = rand(t, t)
    o, lse = ar.ops.attention_forward(q, k, v, **kw)
    _, packed = packed_backward(q, k, v, o, lse, g, **kw)
    separate = ar.ops.attention_backward(q, k, v, o, lse, g, **kw)
    for a, c in zip(packed, separate):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("t", [17, 64])
def test_fused_self_attention_gradient_matches_float64(t):
    b, h, d = 3, 4, 8
    qkv = ar.tensor(rand(b, t, 3 * h * d), requires_grad=True)
    w = rand(b, t, h * d)
    y = F.fused_self_attention(qkv, h, is_causal=True)
    (y * ar.tensor(w)).sum().backward()
    q, k, v = fused_views(qkv._array.reshape(b, t, 3, h, d))
    w4 = w.reshape(b, t, h, d).transpose(0, 2, 1, 3)
    o, dq, dk, dv = naive(q, k, v, w4, causal=True)
    want = np.stack([a.transpose(0, 2, 1, 3) for a in (dq, dk, dv)], axis=2).reshape(b, t, 3 * h * d)
    np.testing.assert_allclose(y._array, o.transpose(0, 2, 1, 3).reshape(b, t, h * d), atol=2e-5, rtol=0)
    np.testing.assert_allclose(qkv.grad._array, want, atol=5e-5 * max(1.0, np.abs(want).max()), rtol=0)


def test_fused_self_attention_finite_differences():
    gradcheck(lambda x: F.fused_self_attention(x, 2, is_causal=True), rand(2, 17, 3 * 2 * 4))


def test_thread_count_does_not_change_bits_at_the_gpt_shape():
    b, t, h, d = 12, 64, 4, 32
    q, k, v = fused_views(rand(b, t, 3, h, d))
    g = rand(b, h, t, d)
    n0 = ar.get_num_threads()
    res = []
    try:
        for n in (1, 2):
            ar.set_num_threads(n)
            o, lse = ar.ops.attention_forward(q, k, v, causal=True)
            res.append((o, lse, packed_backward(q, k, v, o, lse, g, causal=True)[0]))
    finally:
        ar.set_num_threads(n0)
    for a, c in zip(*res):
        np.testing.assert_array_equal(a, c)


def test_outputs_aliasing_inputs_are_refused_clearly():
    b, t, h, d = 1, 8, 2, 4
    qkv = rand(b, t, 3, h, d)
    q, k, v = fused_views(qkv)
    g = rand(b, h, t, d)
    o, lse = ar.ops.attention_forward(q, k, v, causal=True)
    # The gradient buffer is the input projection itself.
    with pytest.raises(ValueError, match=r"attention_backward: grads shares memory with q"):
        ar.ops.attention_backward(q, k, v, o, lse, g, grads=qkv.transpose(2, 0, 3, 1, 4), causal=True)
    # Separate gradients, one of them written over grad_out.
    with pytest.raises(ValueError, match=r"grads\[2\] shares memory with grad_out"):
        ar.ops.attention_backward(q, k, v, o, lse, g, grads=(np.empty_like(g), np.empty_like(g), g))
    # Three views of one buffer passed separately: pointed to the packed form.
    buf = np.empty((b, t, 3, h, d), np.float32)
    with pytest.raises(ValueError, match=r"single \(3, B, H, T, D\) array"):
        ar.ops.attention_backward(q, k, v, o, lse, g, grads=fused_views(buf))
    with pytest.raises(ar.ShapeError, match=r"grads must have shape"):
        ar.ops.attention_backward(q, k, v, o, lse, g, grads=np.empty((3, b, h, t, d + 1), np.float32))
    with pytest.raises(ar.DTypeError, match=r"grads must be a float32 ndarray"):
        ar.ops.attention_backward(q, k, v, o, lse, g, grads=np.empty((3, b, h, t, d), np.float64))
    # dq, dk, dv on top of one another (a zero stride on the first axis).
    one = np.empty((b, h, t, d), np.float32)
    over = np.lib.stride_tricks.as_strided(one, (3, *one.shape), (0, *one.strides))
    with pytest.raises(ar.ShapeError, match=r"dqkv: .*overlap"):
        ar.ops.attention_backward(q, k, v, o, lse, g, grads=over)


def test_packed_backward_needs_self_attention_shapes():
    q, k, v = rand(1, 2, 5, 4), rand(1, 2, 7, 4), rand(1, 2, 7, 4)
    g = rand(1, 2, 5, 4)
    o, lse = ar.ops.attention_forward(q, k, v)
    with pytest.raises(ar.ShapeError, match=r"grads must have shape"):
        ar.ops.attention_backward(q, k, v, o, lse, g, grads=np.empty((3, 1, 2, 7, 4), np.float32))
    with pytest.raises(ar.ShapeError, match=r"Tq == Tk"):
        ar._core.attention_backward(q, k, v, o, lse, g, np.empty((3, 1, 2, 5, 4), np.float32), None, None, 0.5)


ISA_SCRIPT = textwrap.dedent(
    """
    import json, sys, numpy as np, attnrs as ar
    sys.path.insert(0, {tests!r})
    from test_attention import naive
    from test_attention_fused import fused_views, packed_backward
    rng = np.random.default_rng(3)
    errs, bitwise = [], True
    for t, causal in [(17, True), (64, True), (65, False), (257, True)]:
        q, k, v = fused_views(rng.standard_normal((2, t, 3, 2, 16)).astype(np.float32))
        g = rng.standard_normal((2, 2, t, 16)).astype(np.float32)
        o, lse = ar.ops.attention_forward(q, k, v, causal=causal)
        _, got = packed_backward(q, k, v, o, lse, g, causal=causal)
        sep = ar.ops.attention_backward(q, k, v, o, lse, g, causal=causal)
        bitwise &= all(np.array_equal(a, c) for a, c in zip(got, sep))
        want = naive(q, k, v, g, causal=causal)
        errs.append(max(float(np.abs(a - c).max() / max(1.0, np.abs(c).max())) for a, c in zip((o, *got), want)))
    print(json.dumps({{"isa": ar.info()["isa"], "err": max(errs), "bitwise": bool(bitwise)}}))
    """
)


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_every_isa_short_tiles_and_packed_backward(isa):
    if isa not in ar.info()["isa_available"]:
        pytest.skip(f"this CPU has no {isa}")
    env = dict(os.environ, ATTNRS_SIMD=isa)
    script = ISA_SCRIPT.format(tests=os.path.dirname(__file__))
    res = subprocess.run([sys.executable, "-c", script], check=False, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["isa"] == isa and out["bitwise"]
    assert out["err"] < 5e-5
