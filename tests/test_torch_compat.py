"""PyTorch drop-in semantics (issue 17): what a program written for torch relies on.

Each test states the PyTorch behaviour it pins down. The first three groups are the
differences that used to be silent (wrong results, no error).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import attnrs as ar
from attnrs import nn

F = ar.F
RNG = np.random.default_rng(17)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# --- 1a. comparisons are elementwise, hashing stays by identity ----------------------------


def test_comparisons_return_elementwise_bool_tensors():
    a = ar.tensor([1.0, 2.0, 3.0])
    b = ar.tensor([1.0, 5.0, 3.0])
    for got, want in (
        (a == b, [True, False, True]),
        (a != b, [False, True, False]),
        (a < b, [False, True, False]),
        (a <= b, [True, True, True]),
        (a > 2, [False, False, True]),
        (a >= 2, [False, True, True]),
        (a == 2.0, [False, True, False]),
        (2.0 == a, [False, True, False]),
    ):
        assert isinstance(got, ar.Tensor) and got.dtype == ar.bool
        assert got.tolist() == want
    assert (a == None) is False and (a != None) is True  # noqa: E711  (as torch)


def test_tensors_hash_by_identity_and_work_as_keys():
    a, b = ar.tensor([1.0, 2.0]), ar.tensor([1.0, 2.0])
    d = {a: "a", b: "b"}
    assert d[a] == "a" and d[b] == "b" and len({a, b, a}) == 2
    assert hash(a) != hash(b)


def test_bool_mask_ops_and_indexing():
    a = ar.tensor([1.0, -2.0, 3.0, -4.0])
    m = (a > 0) & (a < 2)
    assert m.tolist() == [True, False, False, False]
    assert (~(a > 0)).tolist() == [False, True, False, True]
    assert ((a > 2) | (a < -3)).tolist() == [False, False, True, True]
    assert a[a > 0].tolist() == [1.0, 3.0]  # a bool tensor indexes as a mask


def _causal_attention(x, mask):
    t = x.shape[1]
    att = (x @ x.transpose(-2, -1)) * (1.0 / math.sqrt(x.shape[-1]))
    att = att.masked_fill(mask[:t, :t] == 0, float("-inf"))  # the nanoGPT idiom
    return att.softmax(-1) @ x


def test_masked_fill_with_mask_eq_0_makes_attention_causal():
    t = 6
    mask = ar.tensor(np.tril(np.ones((t, t), np.float32)))  # register_buffer("bias", tril(ones))
    x = rand(2, t, 4)
    y = _causal_attention(ar.tensor(x), mask).numpy()
    x2 = x.copy()
    x2[:, 3:] = rand(2, t - 3, 4)  # change only the future
    y2 = _causal_attention(ar.tensor(x2), mask).numpy()
    np.testing.assert_allclose(y[:, :3], y2[:, :3], atol=1e-6)
    assert not np.allclose(y[:, 3:], y2[:, 3:])
    # and no gradient flows from an early output to a later input
    xt = ar.tensor(x, requires_grad=True)
    _causal_attention(xt, mask)[:, 1].sum().backward()
    assert np.all(xt.grad.numpy()[:, 2:] == 0) and np.any(xt.grad.numpy()[:, :2] != 0)


# --- 1b. PyTorch's layout defaults -----------------------------------------------------------


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
def test_rnns_default_to_seq_first(cls):
    m = cls(3, 5)
    assert m.batch_first is False
    x = rand(7, 2, 3)  # (T, B, I)
    out, _ = m(x)
    assert out.shape == (7, 2, 5)
    m.batch_first = True
    out_bf, _ = m(x.transpose(1, 0, 2))
    np.testing.assert_allclose(out_bf.numpy().transpose(1, 0, 2), out.numpy(), atol=1e-6)
    with pytest.raises(ar.ShapeError, match="batch_first"):
        cls(3, 5)(rand(7, 2, 4))


def test_multihead_attention_defaults_match_pytorch():
    ar.manual_seed(0)
    m = nn.MultiheadAttention(8, 2)
    assert m.batch_first is False
    x = rand(5, 3, 8)  # (T, B, E): PyTorch's default layout
    out, w = m(ar.tensor(x), ar.tensor(x), ar.tensor(x))
    assert out.shape == (5, 3, 8)
    assert w is not None and w.shape == (3, 5, 5)  # need_weights=True by default, averaged over heads
    np.testing.assert_allclose(w.numpy().sum(-1), 1.0, atol=1e-5)
    mb = nn.MultiheadAttention(8, 2, batch_first=True)
    mb.load_state_dict(m.state_dict())
    xb = ar.tensor(x.transpose(1, 0, 2))
    out_b, none = mb(xb, xb, xb, need_weights=False)
    assert none is None
    np.testing.assert_allclose(out_b.numpy().transpose(1, 0, 2), out.numpy(), atol=1e-5)
    with pytest.raises(ar.ShapeError, match="batch_first"):
        m(ar.tensor(x), ar.tensor(rand(5, 2, 8)), ar.tensor(rand(5, 2, 8)))


# --- 1c. max/min over a dim return (values, indices); dim= and keepdim= --------------------


def test_max_min_with_dim_return_values_and_indices():
    x = ar.tensor([[1.0, 7.0, 3.0], [9.0, 2.0, 4.0]], requires_grad=True)
    r = x.max(1)
    assert r.values.tolist() == [7.0, 9.0] and r.indices.tolist() == [1, 0]
    assert r.indices.dtype == ar.int64
    values, indices = x.min(dim=0)
    assert values.tolist() == [1.0, 2.0, 3.0] and indices.tolist() == [0, 1, 0]
    assert x.max(1)[0].tolist() == [7.0, 9.0]  # the idiom x.max(1)[0]
    k = x.max(dim=1, keepdim=True)
    assert k.values.shape == (2, 1) and k.indices.shape == (2, 1)
    x.max(1).values.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    whole = x.max()
    assert isinstance(whole, ar.Tensor) and whole.shape == () and whole.item() == 9.0


def test_reductions_take_dim_and_keepdim():
    a = rand(2, 3, 4)
    x = ar.tensor(a)
    np.testing.assert_allclose(x.sum(dim=1, keepdim=True).numpy(), a.sum(1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(x.mean(dim=(0, 2)).numpy(), a.mean((0, 2)), rtol=1e-6)
    np.testing.assert_allclose(x.amax(dim=(0, 2)).numpy(), a.max((0, 2)), rtol=1e-6)
    assert x.argmax(dim=-1).tolist() == a.argmax(-1).tolist()
    assert x.argmax(dim=-1, keepdim=True).shape == (2, 3, 1)
    np.testing.assert_allclose(x.sum(axis=1).numpy(), a.sum(1), rtol=1e-6)  # NumPy's names too
    with pytest.raises(TypeError, match="amax"):
        x.max(dim=(0, 1))
