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


# --- 2. integer and bool tensors, dtypes and the CPU device --------------------------------


def test_dtype_inference_and_dtype_argument():
    assert ar.tensor([1, 2]).dtype == ar.int64 == ar.long
    assert ar.tensor([1.0, 2.0]).dtype == ar.float32 == ar.float
    assert ar.tensor(np.array([1.0], np.float64)).dtype == ar.float32  # float64 becomes float32
    assert ar.tensor([True, False]).dtype == ar.bool
    assert ar.tensor(np.array([1], np.int32)).dtype == ar.int32 == ar.int
    assert ar.tensor([1, 2], dtype=ar.float32).dtype == ar.float32
    assert ar.zeros(2, 3, dtype=ar.long).dtype == ar.int64
    assert ar.ones((2,), dtype=ar.bool).tolist() == [True, True]
    assert ar.full((2,), 7).dtype == ar.int64 and ar.full((2,), 0.5).dtype == ar.float32
    assert ar.arange(4).dtype == ar.int64 and ar.arange(4).tolist() == [0, 1, 2, 3]
    assert ar.arange(0, 1, 0.5).dtype == ar.float32
    assert ar.arange(3, dtype=ar.float32).tolist() == [0.0, 1.0, 2.0]
    assert ar.randint(0, 5, (100,)).dtype == ar.int64
    r = ar.randint(3, 9, (200,)).numpy()
    assert r.min() >= 3 and r.max() < 9
    assert sorted(ar.randperm(6).tolist()) == list(range(6))
    assert ar.zeros_like(ar.tensor([1, 2])).dtype == ar.int64
    a = np.arange(3, dtype=np.float32)
    t = ar.from_numpy(a)
    a[0] = 5
    assert t.tolist()[0] == 5.0  # shares memory
    big = 2**24 + 1  # not exact in float32
    assert ar.tensor([big]).tolist() == [big] and int(ar.tensor(big)) == big


def test_casts_and_no_grad_for_integers():
    x = ar.tensor([1.7, -2.2, 0.0], requires_grad=True)
    assert x.long().tolist() == [1, -2, 0] and x.int().dtype == ar.int32
    assert x.bool().tolist() == [True, True, False]
    i = ar.tensor([1, 2])
    assert i.float().dtype == ar.float32 and i.to(ar.float32).tolist() == [1.0, 2.0]
    assert x.to(ar.float32) is x and x.to("cpu") is x and x.to(ar.device("cpu")) is x
    assert x.type_as(i).dtype == ar.int64 and i.type_as(x).dtype == ar.float32
    assert x.type() == "torch.FloatTensor" and i.type() == "torch.LongTensor"
    assert (x > 0).type(ar.float32).tolist() == [1.0, 0.0, 0.0]
    assert not x.long().requires_grad
    with pytest.raises(RuntimeError, match="floating-point"):
        ar.tensor([1, 2], requires_grad=True)
    assert (i + 1).dtype == ar.int64 and (i * 2).tolist() == [2, 4]  # integer math stays integer
    assert (i + 0.5).dtype == ar.float32 and (i / 2).dtype == ar.float32
    assert [10, 20, 30][ar.tensor(1)] == 20 and list(range(ar.tensor(3))) == [0, 1, 2]  # __index__
    with pytest.raises(TypeError):
        [1, 2][ar.tensor(1.0)]


def test_device_and_cuda_namespace():
    dev = ar.device("cuda" if ar.cuda.is_available() else "cpu")
    assert str(dev) == "cpu" and dev.type == "cpu" and dev == "cpu"
    assert ar.cuda.is_available() is False and ar.cuda.device_count() == 0
    t = ar.zeros(2, device=dev)
    assert t.device == dev and t.to(dev) is t and t.cpu() is t
    with pytest.raises(RuntimeError, match="CPU only"):
        ar.device("cuda")
    with pytest.raises(RuntimeError, match="CPU only"):
        t.to("cuda")
    m = nn.Linear(2, 3)
    assert m.to(dev) is m and m.cpu() is m and m.to(ar.float32) is m
    with pytest.raises(RuntimeError):
        m.to("cuda:0")


def test_size_numel_dim():
    x = ar.zeros(2, 3, 4)
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.numel() == 24 and x.dim() == 3
    assert nn.Linear(3, 2).weight.numel() == 6


def test_ids_as_tensors_everywhere():
    from attnrs.models import GPT, GPTConfig

    ids = ar.tensor([[1, 4, 2], [0, 3, 3]])  # int64
    emb = nn.Embedding(5, 3)
    np.testing.assert_array_equal(emb(ids).numpy(), emb.weight.numpy()[ids.numpy()])
    logits = ar.tensor(rand(4, 5), requires_grad=True)
    tgt = ar.tensor([0, 4, 2, 1])
    want = F.cross_entropy(logits, tgt.numpy())
    got = F.cross_entropy(logits, tgt)
    assert abs(got.item() - want.item()) < 1e-6
    x = ar.tensor(rand(5, 2))
    np.testing.assert_array_equal(x[tgt].numpy(), x.numpy()[tgt.numpy()])
    ar.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=1, n_embd=8))
    lg, loss = model(ids, ids)
    lg2, loss2 = model(ids.numpy(), ids.numpy())
    np.testing.assert_array_equal(lg.numpy(), lg2.numpy())
    with pytest.raises(ar.DTypeError):
        emb(ar.tensor([True, False]))


def test_gather_matches_pytorch_semantics():
    x = ar.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    idx = ar.tensor([[0, 0], [2, 1]])
    y = x.gather(1, idx)  # out[i][j] = x[i][idx[i][j]]
    assert y.tolist() == [[1.0, 1.0], [6.0, 5.0]]
    y.sum().backward()
    assert x.grad.tolist() == [[2.0, 0.0, 0.0], [0.0, 1.0, 1.0]]  # repeats accumulate
    z = x.gather(0, ar.tensor([[1, 0, 1]]))  # out[i][j] = x[idx[i][j]][j]
    assert z.tolist() == [[4.0, 2.0, 6.0]]
    with pytest.raises(IndexError):
        x.gather(1, ar.tensor([[3]]))
