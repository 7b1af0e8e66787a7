"""Issue 14, items 7–10: integer range checks, reversed size-1 axes, silently
ignored arguments, and messages for out= arrays, ranks and masks."""

from __future__ import annotations

import numpy as np
import pytest

import attnrs as ar
from attnrs import nn, ops

F32 = np.float32


def rnd(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(F32)


# --- item 7: integers ---------------------------------------------------------------------


def test_huge_causal_offset_is_refused_or_exact():
    q, k, v = rnd(1, 2, 5, 3), rnd(1, 2, 7, 3, seed=1), rnd(1, 2, 7, 4, seed=2)
    full, _ = ops.attention_forward(q, k, v)
    for off in (2**63 - 1, 7, 1000):  # every key visible: the non-causal result
        np.testing.assert_array_equal(ops.attention_forward(q, k, v, causal=True, causal_offset=off)[0], full)
    for off in (2**64 - 1, 2**64, 2**70, -1):
        with pytest.raises(ValueError, match="attention: causal_offset must be an integer >= 0"):
            ops.attention_forward(q, k, v, causal=True, causal_offset=off)
    out, lse = ops.attention_forward(q, k, v, causal=True, causal_offset=2**63 - 1)
    dq = ops.attention_backward(q, k, v, out, lse, out, causal=True, causal_offset=2**63 - 1)[0]
    dq_full = ops.attention_backward(q, k, v, out, lse, out)[0]
    np.testing.assert_array_equal(dq, dq_full)
    with pytest.raises(ValueError, match="attention_backward: causal_offset"):
        ops.attention_backward(q, k, v, out, lse, out, causal=True, causal_offset=2**64)


BIG_INTS = [2**63, 2**64 - 1, 2**64, 2**70, -(2**70)]


@pytest.mark.parametrize("value", BIG_INTS)
def test_huge_integers_are_value_errors_naming_op_and_argument(value):
    x, w = rnd(1, 2, 6), rnd(3, 2, 2)
    cases = [
        (lambda: ops.conv1d(x, w, dilation=value), "conv1d: dilation"),
        (lambda: ops.conv1d_step(x[:, :, 0], w, state=ops.conv1d_state(1, 2, 2), step=value), "conv1d_step: step"),
        (lambda: ops.conv1d_step(x[:, :, 0], w, state=ops.conv1d_state(1, 2, 2), step=0, dilation=value),
         "conv1d_step: dilation"),
        (lambda: ops.cross_entropy(rnd(2, 3), np.array([0, 1]), ignore_index=value), "cross_entropy: ignore_index"),
        (lambda: ops.adamw_step(np.zeros(2, F32), np.zeros(2, F32), np.zeros(2, F32), np.zeros(2, F32),
                                lr=1e-3, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.0, step=value),
         "adamw_step: step"),
        (lambda: ops.conv1d_state(1, 2, 2, dilation=value), "conv1d_state: dilation"),
        (lambda: ar.set_num_threads(value), "set_num_threads: n"),
    ]  # fmt: skip
    for f, msg in cases:
        if msg.startswith("cross_entropy") and -(2**63) <= value < 2**63:
            continue
        with pytest.raises(ValueError, match=msg):
            f()


def test_conv1d_step_huge_dilation_names_the_overflow():
    x_t, w = rnd(1, 2), rnd(3, 2, 3)
    with pytest.raises(ValueError, match="conv1d_state: the state would need"):
        ops.conv1d_state(1, 2, 3, dilation=2**62)
    with pytest.raises(ValueError, match="dilation"):
        ops.conv1d_step(x_t, w, state=ops.conv1d_state(1, 2, 3), step=0, dilation=2**63 - 1)


@pytest.mark.parametrize("bad", [1.5, "2", None])
def test_non_integer_arguments_are_refused(bad):
    x, w = rnd(1, 2, 6), rnd(3, 2, 2)
    with pytest.raises(ValueError, match="conv1d: dilation"):
        ops.conv1d(x, w, dilation=bad)
    with pytest.raises(ValueError, match="adamw_step: step"):
        ops.adamw_step(np.zeros(2, F32), np.zeros(2, F32), np.zeros(2, F32), np.zeros(2, F32),
                       lr=1e-3, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.0, step=bad)  # fmt: skip


# --- item 8: reversed size-1 axes -----------------------------------------------------------


def test_reversed_size_one_axes_are_accepted():
    x = np.ones((1, 1, 1, 4), F32)[:, :, ::-1]
    assert x.strides[2] < 0 and x.flags.c_contiguous  # NumPy keeps it "contiguous": no copy
    np.testing.assert_allclose(ops.attention(x, x, x), x)
    np.testing.assert_allclose(ops.softmax(x), np.full(x.shape, 0.25, F32))
    a = rnd(1, 4)[::-1]
    b = rnd(4, 3)[:, ::-1][:, ::-1]
    np.testing.assert_allclose(ops.matmul(a, b), a @ b, rtol=1e-5, atol=1e-6)
    out = np.zeros((1, 3), F32)[::-1]
    ops.matmul(a, b, out=out)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-6)
    y = rnd(2, 1, 5)[:, ::-1]
    np.testing.assert_allclose(ops.conv1d(y, rnd(3, 1, 2)[:, ::-1]), ops.conv1d(y.copy(), rnd(3, 1, 2)), rtol=1e-5)
    t = ar.tensor(x)
    np.testing.assert_allclose(ar.nn.functional.softmax(t, -1).numpy(), np.full(x.shape, 0.25, F32))


# --- item 9: silently ignored arguments ------------------------------------------------------


def test_transformer_block_without_cross_attention_refuses_memory():
    blk = nn.TransformerBlock(8, 2, 16)
    x = ar.tensor(rnd(2, 3, 8))
    with pytest.raises(ValueError, match="no cross-attention"):
        blk(x, memory=ar.tensor(rnd(2, 4, 8)))
    with pytest.raises(ValueError, match="no cross-attention"):
        blk(x, memory_key_padding_mask=np.zeros((2, 4), bool))
    assert blk(x).shape == (2, 3, 8)
    cross = nn.TransformerBlock(8, 2, 16, cross_attention=True)
    assert cross(x, memory=ar.tensor(rnd(2, 4, 8))).shape == (2, 3, 8)


# --- item 10: messages ---------------------------------------------------------------------


def test_read_only_and_aliased_out_name_op_and_argument():
    q = rnd(1, 1, 4, 3)
    ro = np.empty_like(q)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="attention: out is read-only"):
        ops.attention_forward(q, q, q, out=ro)
    with pytest.raises(ValueError, match="attention: out shares memory with q"):
        ops.attention_forward(q, q, q, out=q)
    with pytest.raises(ValueError, match="matmul: out is read-only"):
        ops.matmul(q[0, 0], q[0, 0].T, out=np.broadcast_to(F32(0), (4, 4)))
    with pytest.raises(ar.DTypeError, match="attention: out must be a float32 ndarray; got float64"):
        ops.attention_forward(q, q, q, out=np.empty(q.shape))
    state = ops.conv1d_state(1, 2, 2)
    state.flags.writeable = False
    with pytest.raises(ValueError, match="conv1d_step: state is read-only"):
        ops.conv1d_step(rnd(1, 2), rnd(3, 2, 2), state=state, step=0)
    out, lse = ops.attention_forward(q, q, q)
    with pytest.raises(ValueError, match="grads shares memory with q"):
        ops.attention_backward(q, q, q, out, lse, out, grads=_alias(q))


def _alias(q):
    """A (3, B, H, T, D) view whose first slice is ``q`` itself (stride 0 over the 3)."""
    return np.lib.stride_tricks.as_strided(q, (3, *q.shape), (0, *q.strides))


def test_temporal_block_rank_message():
    blk = nn.TemporalBlock(4)
    with pytest.raises(ar.ShapeError, match=r"TemporalBlock: input must be 3-D \(B, C=4, T\); got shape \(4, 10\)"):
        blk(ar.tensor(np.zeros((4, 10), F32)))


def test_mha_bad_3d_mask_message():
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    x = ar.tensor(rnd(2, 5, 8))
    with pytest.raises(ar.ShapeError, match=r"a 3-D attn_mask must be \(B·H, Tq, Tk\) = \(4, 5, 5\); got \(4, 5, 4\)"):
        m(x, x, x, attn_mask=np.zeros((4, 5, 4), bool))


def test_misaligned_arrays_are_copied_or_refused_clearly():
    """NumPy allows float32 data at an odd address (np.frombuffer at offset 1);
    a Rust &[f32] must not point there: inputs are copied, a misaligned out=
    of matmul goes through a temporary, and the raw binding refuses."""
    buf = np.zeros(4 * 12 + 1, np.uint8)
    x = np.ndarray((3, 4), F32, buffer=buf.data, offset=1)
    x[...] = rnd(3, 4)
    assert not x.flags.aligned
    np.testing.assert_allclose(ops.matmul(x, x.T), x.astype(np.float64) @ x.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ops.softmax(x).sum(-1), 1, rtol=1e-6)
    out_buf = np.zeros(4 * 9 + 1, np.uint8)
    out = np.ndarray((3, 3), F32, buffer=out_buf.data, offset=1)
    ops.matmul(x, x.T, out=out)
    np.testing.assert_allclose(out, x.astype(np.float64) @ x.T, rtol=1e-5, atol=1e-6)
    with pytest.raises(ar.ShapeError, match="matmul: a is not aligned"):
        ar._core.gemm(x[None], np.ascontiguousarray(x.T)[None], np.zeros((1, 3, 3), F32))
