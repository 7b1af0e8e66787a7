"""Attention: the flash kernel vs a float64 NumPy naive attention (forward and
every gradient, masks, Tq != Tk, strided views, every ISA, thread counts),
the layers' properties (equivariance, causality, KV cache, PyTorch state
dicts) and the O(T) memory bound."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from _helpers import run_under_isa
from hypothesis import given, settings
from hypothesis import strategies as st

import attnrs as ar
from attnrs import nn
from attnrs.nn import functional as F

RNG = np.random.default_rng(0)


def rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def naive(q, k, v, g, causal=False, off=0, kpm=None, am=None, scale=None):
    """Explicit float64 attention and its gradients; rows that see no key give 0."""
    q, k, v, g = (np.asarray(a, np.float64) for a in (q, k, v, g))
    tq, tk = q.shape[-2], k.shape[-2]
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ k.swapaxes(-1, -2) * scale
    if am is not None:
        s = s + am
    vis = np.ones((tq, tk), bool)
    if causal:
        vis &= np.arange(tk)[None, :] <= np.arange(tq)[:, None] + off
    vis = np.broadcast_to(vis, s.shape)
    if kpm is not None:
        vis = vis & ~kpm[:, None, None, :]
    s = np.where(vis, s, -np.inf)
    mx = s.max(-1, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    p = np.exp(s - mx)
    tot = p.sum(-1, keepdims=True)
    p = np.divide(p, tot, out=np.zeros_like(p), where=tot > 0)
    o = p @ v
    dp = g @ v.swapaxes(-1, -2)
    ds = p * (dp - (g * o).sum(-1, keepdims=True))
    return o, ds @ k * scale, ds.swapaxes(-1, -2) @ q * scale, p.swapaxes(-1, -2) @ g


def run_kernel(q, k, v, g, **kw):
    o, lse = ar.ops.attention_forward(q, k, v, **kw)
    return (o, *ar.ops.attention_backward(q, k, v, o, lse, g, **kw))


def _absmax(x):
    return float(np.abs(x).max()) if x.size else 0.0


def assert_close(got, want, tol=2e-5):
    # dq and dk are scaled differences P·(dP − rowsum(dO·O)) of terms as large as
    # the other gradients: with one key, P = 1 and the exact dk is 0 while its
    # float32 rounding is ~1e-5 of dv's size. So the three gradients share one
    # scale, the largest of them; the output has its own.
    grad_scale = max(1.0, *(_absmax(b) for b in want[1:]))
    for name, a, b in zip(("o", "dq", "dk", "dv"), got, want):
        scale = max(1.0, _absmax(b)) if name == "o" else grad_scale
        np.testing.assert_allclose(a, b, atol=tol * scale, rtol=0, err_msg=name)


CASES = [
    # B, H, Tq, Tk, D, Dv, causal, masks
    (2, 2, 7, 7, 8, 8, True, None),
    (1, 2, 64, 64, 64, 64, False, "pad"),
    (1, 1, 257, 257, 63, 63, True, "add"),
    (1, 2, 1, 257, 128, 128, False, None),
    (2, 1, 7, 64, 1, 1, False, "both"),
    (1, 1, 257, 7, 64, 8, True, None),
    (1, 1, 64, 257, 128, 64, True, "bool"),
    (2, 1, 1, 1, 1, 1, False, None),
]


@pytest.mark.parametrize("b,h,tq,tk,d,dv,causal,masks", CASES)
def test_matches_naive(b, h, tq, tk, d, dv, causal, masks):
    q, k, v, g = rand(b, h, tq, d), rand(b, h, tk, d), rand(b, h, tk, dv), rand(b, h, tq, dv)
    kw, ref = {"causal": causal}, {"causal": causal}
    if masks in ("pad", "both"):
        kpm = RNG.random((b, tk)) < 0.3
        kpm[:, 0] = False
        kw["key_padding_mask"], ref["kpm"] = kpm, kpm
    if masks in ("add", "both"):
        am = rand(tq, tk)
        kw["attn_mask"], ref["am"] = am, am
    if masks == "bool":
        bm = RNG.random((tq, tk)) < 0.8
        kw["attn_mask"], ref["am"] = bm, np.where(bm, 0.0, -np.inf)
    assert_close(run_kernel(q, k, v, g, **kw), naive(q, k, v, g, **ref))


@pytest.mark.parametrize("scale", [0.3, 0.0, -0.7])
@pytest.mark.parametrize("tq,tk,off", [(1, 1, 0), (7, 7, 0), (64, 64, 0), (67, 67, 0), (13, 70, 57), (131, 131, 0)])
def test_causal_scales_and_tile_edges(scale, tq, tk, off):
    # Causality alone writes −∞ into the unscaled scores of a diagonal tile when
    # the scale is positive; zero and negative scales take the per-row path. Both
    # against float64, on 16- and 64-row query tiles (T ≤ 128 and above), odd sizes.
    q, k, v, g = rand(2, 3, tq, 32), rand(2, 3, tk, 32), rand(2, 3, tk, 32), rand(2, 3, tq, 32)
    got = run_kernel(q, k, v, g, causal=True, causal_offset=off, scale=scale)
    assert_close(got, naive(q, k, v, g, causal=True, off=off, scale=scale))


@settings(max_examples=15, deadline=None)
@given(
    st.integers(1, 2), st.integers(1, 3), st.integers(1, 80), st.integers(1, 80),
    st.sampled_from([1, 5, 16, 33]), st.booleans(), st.floats(0.05, 2.0),
)  # fmt: skip
def test_random_shapes_match_naive(b, h, tq, tk, d, causal, scale):
    q, k, v, g = rand(b, h, tq, d), rand(b, h, tk, d), rand(b, h, tk, d), rand(b, h, tq, d)
    got = run_kernel(q, k, v, g, causal=causal, scale=scale)
    assert_close(got, naive(q, k, v, g, causal=causal, scale=scale))


def test_causal_offset_and_fully_masked_rows():
    q, k, v, g = rand(1, 2, 5, 16), rand(1, 2, 40, 16), rand(1, 2, 40, 16), rand(1, 2, 5, 16)
    assert_close(run_kernel(q, k, v, g, causal=True, causal_offset=35), naive(q, k, v, g, causal=True, off=35))
    kpm = np.zeros((1, 40), bool)
    kpm[0, :3] = True  # rows 0..2 of a top-left causal mask see only padded keys
    got = run_kernel(q, k, v, g, causal=True, key_padding_mask=kpm)
    assert np.all(got[0][0, :, :3] == 0) and np.all(np.isfinite(got[1]))
    assert_close(got, naive(q, k, v, g, causal=True, kpm=kpm))


def test_fused_qkv_views_equal_contiguous_copies():
    b, t, h, d = 2, 70, 3, 16
    qkv = rand(b, t, 3, h, d)
    q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))  # strided views
    assert not q.flags.c_contiguous
    g = rand(b, h, t, d)
    got = run_kernel(q, k, v, g, causal=True)
    want = run_kernel(*(np.ascontiguousarray(a) for a in (q, k, v)), g, causal=True)
    for a, c in zip(got, want):
        np.testing.assert_array_equal(a, c)
    assert_close(got, naive(q, k, v, g, causal=True))
    # Output written straight into a (B, T, H, D) array seen as (B, H, T, D).
    out = np.empty((b, t, h, d), np.float32)
    ar.ops.attention_forward(q, k, v, causal=True, out=out.transpose(0, 2, 1, 3))
    np.testing.assert_array_equal(out.transpose(0, 2, 1, 3), want[0])


def test_thread_count_does_not_change_bits():
    q, k, v, g = rand(1, 1, 300, 32), rand(1, 1, 300, 32), rand(1, 1, 300, 32), rand(1, 1, 300, 32)
    n0 = ar.get_num_threads()
    try:
        ar.set_num_threads(1)
        one = run_kernel(q, k, v, g, causal=True)
        ar.set_num_threads(2)
        two = run_kernel(q, k, v, g, causal=True)
    finally:
        ar.set_num_threads(n0)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


ISA_SCRIPT = textwrap.dedent(
    """
    import json, sys, numpy as np, attnrs as ar
    sys.path.insert(0, {tests!r})
    from test_attention import naive, run_kernel
    rng = np.random.default_rng(1)
    errs = []
    for (tq, tk, d, causal) in [(70, 70, 63, True), (1, 300, 64, False), (9, 130, 8, True)]:
        q, k, v, g = (rng.standard_normal(s).astype(np.float32)
                      for s in [(1, 2, tq, d), (1, 2, tk, d), (1, 2, tk, d), (1, 2, tq, d)])
        kpm = rng.random((1, tk)) < 0.2
        kpm[0, 0] = False
        got = run_kernel(q, k, v, g, causal=causal, key_padding_mask=kpm)
        want = naive(q, k, v, g, causal=causal, kpm=kpm)
        errs.append(max(float(np.abs(a - b).max() / max(1.0, np.abs(b).max())) for a, b in zip(got, want)))
    print(json.dumps({{"isa": ar.info()["isa"], "err": max(errs)}}))
    """
)


@pytest.mark.parametrize("isa", ["scalar", "avx2", "avx512"])
def test_every_isa_matches_naive(isa):
    out = run_under_isa(isa, ISA_SCRIPT.format(tests=os.path.dirname(__file__)))
    assert out["err"] < 2e-5


def test_sdpa_gradients_through_autograd():
    q, k, v = (ar.tensor(rand(2, 2, 9, 8), requires_grad=True) for _ in range(3))
    w = rand(2, 2, 9, 8)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    (y * ar.tensor(w)).sum().backward()
    o, dq, dk, dv = naive(q._array, k._array, v._array, w, causal=True)
    assert_close((y._array, q.grad._array, k.grad._array, v.grad._array), (o, dq, dk, dv))
    # Finite differences on one coordinate of k, in float64 arithmetic of the naive reference.
    eps = 1e-3
    kp, km = k._array.astype(np.float64).copy(), k._array.astype(np.float64).copy()
    kp[1, 0, 3, 2] += eps
    km[1, 0, 3, 2] -= eps
    f = lambda kk: float((naive(q._array, kk, v._array, w, causal=True)[0] * w).sum())
    assert abs((f(kp) - f(km)) / (2 * eps) - k.grad._array[1, 0, 3, 2]) < 1e-3


def test_bad_inputs_raise():
    q = rand(1, 1, 4, 8)
    with pytest.raises(ar.ShapeError):
        ar.ops.attention(q, rand(1, 1, 4, 7), rand(1, 1, 4, 8))
    with pytest.raises(ar.ShapeError):
        ar.ops.attention(q, q, rand(1, 1, 5, 8))
    with pytest.raises(ar.DTypeError):
        ar.ops.attention(q.astype(np.int32), q, q)
    with pytest.raises(ar.ShapeError):
        ar.ops.attention(q, q, q, key_padding_mask=np.zeros((1, 5), bool))
    with pytest.raises(ar.DTypeError):
        ar.ops.attention(q, q, q, key_padding_mask=np.zeros((1, 4), np.int64))
    with pytest.raises(ar.ShapeError):
        ar.ops.attention(q, q, q, attn_mask=np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError):
        ar.ops.attention(q, q, q, scale=float("nan"))
    with pytest.raises(ValueError):  # dropout_p must be in [0, 1)
        F.scaled_dot_product_attention(ar.tensor(q), ar.tensor(q), ar.tensor(q), dropout_p=1.5)
    with pytest.raises(ValueError):
        nn.MultiheadAttention(10, 3)


# --- layers ------------------------------------------------------------------------------


def test_self_attention_is_parameter_free_and_equivariant():
    x = rand(2, 11, 6)
    for scale in (False, True):
        m = nn.SelfAttention(scale=scale)
        assert m.num_parameters() == 0
        y = m(ar.tensor(x))._array
        xd = x.astype(np.float64)
        s = xd @ xd.swapaxes(1, 2) / (np.sqrt(6) if scale else 1.0)
        p = np.exp(s - s.max(-1, keepdims=True))
        np.testing.assert_allclose(y, (p / p.sum(-1, keepdims=True)) @ xd, atol=1e-4)
        perm = RNG.permutation(11)
        np.testing.assert_allclose(m(ar.tensor(x[:, perm]))._array, y[:, perm], atol=1e-5)


def test_mha_equivariance_and_positions_break_it():
    ar.manual_seed(0)
    m = nn.MultiheadAttention(16, 4, batch_first=True)
    x = rand(2, 9, 16)
    perm = RNG.permutation(9)
    y, _ = m(ar.tensor(x), ar.tensor(x), ar.tensor(x))
    xp = ar.tensor(x[:, perm])
    yp, _ = m(xp, xp, xp)
    np.testing.assert_allclose(yp._array, y._array[:, perm], atol=1e-5)
    loss = lambda a: float((a._array**2).sum())
    assert abs(loss(y) - loss(yp)) < 1e-6 * loss(y)
    for pos in (nn.PositionalEmbedding(9, 16), nn.SinusoidalPositionalEncoding(16)):
        a, b = pos(ar.tensor(x)), pos(ar.tensor(x[:, perm]))
        ya, _ = m(a, a, a)
        yb, _ = m(b, b, b)
        # Without positions the two losses agree to float rounding (~1e-7 relative).
        assert abs(loss(ya) - loss(yb)) > 1e-5 * loss(ya)


def test_mha_causality():
    ar.manual_seed(1)
    m = nn.MultiheadAttention(16, 2, batch_first=True)
    x = rand(1, 12, 16)
    x2 = x.copy()
    x2[:, 7:] = rand(1, 5, 16)
    y1, _ = m(*(ar.tensor(x),) * 3, is_causal=True)
    y2, _ = m(*(ar.tensor(x2),) * 3, is_causal=True)
    np.testing.assert_allclose(y1._array[:, :7], y2._array[:, :7], atol=1e-6)
    assert not np.allclose(y1._array[:, 7:], y2._array[:, 7:])


def test_parameter_count_independent_of_heads():
    assert nn.MultiheadAttention(32, 1).num_parameters() == nn.MultiheadAttention(32, 8).num_parameters()
    assert nn.MultiheadAttention(32, 4).num_parameters() == 4 * 32 * 32 + 4 * 32


def test_need_weights_rows_sum_to_one_and_match_output():
    m = nn.MultiheadAttention(12, 3, batch_first=True)
    q, kv = ar.tensor(rand(2, 5, 12)), ar.tensor(rand(2, 8, 12))
    kpm = np.zeros((2, 8), bool)
    kpm[1, 5:] = True
    out, w = m(q, kv, kv, key_padding_mask=kpm, need_weights=True, average_attn_weights=False)
    assert w.shape == (2, 3, 5, 8)
    np.testing.assert_allclose(w._array.sum(-1), 1.0, atol=1e-5)
    assert np.all(w._array[1, :, :, 5:] == 0)
    out2, none = m(q, kv, kv, key_padding_mask=kpm, need_weights=False)
    assert none is None
    np.testing.assert_allclose(out._array, out2._array, atol=1e-6)
    _, wa = m(q, kv, kv, need_weights=True)
    assert wa.shape == (2, 5, 8)


def test_fused_self_attention_path_matches_general_path_and_gradients():
    ar.manual_seed(2)
    m = nn.MultiheadAttention(16, 4, batch_first=True)
    x = ar.tensor(rand(2, 10, 16), requires_grad=True)
    y, _ = m(x, x, x, is_causal=True, need_weights=False)  # fused QKV path
    y.sum().backward()
    g_fused = x.grad._array.copy()
    w_fused = m.in_proj_weight.grad._array.copy()
    m.zero_grad()
    x2 = ar.tensor(x._array, requires_grad=True)
    y2, _ = m(x2, x2 * 1.0, x2 * 1.0, is_causal=True)  # general path (not `is`)
    y2.sum().backward()
    np.testing.assert_allclose(y._array, y2._array, atol=1e-5)
    np.testing.assert_allclose(g_fused, x2.grad._array, atol=1e-4)
    np.testing.assert_allclose(w_fused, m.in_proj_weight.grad._array, atol=1e-4)


def test_torch_named_state_dict_loads_and_matches_formula():
    e, h = 8, 2
    sd = {"in_proj_weight": rand(3 * e, e), "in_proj_bias": rand(3 * e),
          "out_proj.weight": rand(e, e), "out_proj.bias": rand(e)}  # fmt: skip
    m = nn.MultiheadAttention(e, h, batch_first=True)
    m.load_state_dict(sd)
    assert list(m.state_dict()) == list(sd)
    x = rand(2, 6, e).astype(np.float64)
    qkv = x @ sd["in_proj_weight"].T + sd["in_proj_bias"]
    heads = lambda a: a.reshape(2, 6, h, e // h).transpose(0, 2, 1, 3)
    q, k, v = (heads(qkv[..., i * e : (i + 1) * e]) for i in range(3))
    o = naive(q, k, v, np.zeros_like(q))[0].transpose(0, 2, 1, 3).reshape(2, 6, e)
    want = o @ sd["out_proj.weight"].T + sd["out_proj.bias"]
    got, _ = m(*(ar.tensor(x),) * 3)
    np.testing.assert_allclose(got._array, want, atol=1e-4)
    mt = nn.MultiheadAttention(e, h, batch_first=False)
    mt.load_state_dict(sd)
    xt = ar.tensor(x.transpose(1, 0, 2))
    np.testing.assert_allclose(mt(xt, xt, xt)[0]._array.transpose(1, 0, 2), want, atol=1e-4)


def test_kv_cache_incremental_decoding_equals_full():
    ar.manual_seed(3)
    m = nn.MultiheadAttention(16, 4, batch_first=True)
    x = rand(2, 11, 16)
    full, _ = m(*(ar.tensor(x),) * 3, is_causal=True)
    cache = nn.KVCache()
    steps = []
    for a, b in ((0, 4), (4, 5), (5, 6), (6, 11)):  # a prompt, then single steps, then a chunk
        xs = ar.tensor(x[:, a:b])
        with ar.no_grad():
            y, _ = m(xs, xs, xs, is_causal=True, cache=cache)
        steps.append(y._array)
    assert len(cache) == 11
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full._array, atol=1e-5)


def test_transformer_block_shapes_grads_and_cache():
    ar.manual_seed(4)
    blk = nn.TransformerBlock(16, 4, 32, causal=True)
    x = ar.tensor(rand(2, 7, 16), requires_grad=True)
    y = blk(x)
    y.sum().backward()
    assert y.shape == (2, 7, 16) and x.grad.shape == (2, 7, 16)
    assert all(p.grad is not None for p in blk.parameters())
    cache = nn.KVCache()
    with ar.no_grad():
        inc = [blk(ar.tensor(x._array[:, t : t + 1]), cache=cache)._array for t in range(7)]
    np.testing.assert_allclose(np.concatenate(inc, 1), y._array, atol=1e-5)
    dec = nn.TransformerBlock(16, 4, 32, causal=True, cross_attention=True)
    assert dec(x, memory=ar.tensor(rand(2, 3, 16))).shape == (2, 7, 16)
    with pytest.raises(ValueError):
        dec(x)


def test_sinusoidal_table_and_positions():
    pe = nn.SinusoidalPositionalEncoding(6, max_len=20)
    z = pe(ar.zeros(3, 6))._array
    np.testing.assert_allclose(z[:, 0], np.sin(np.arange(3)), atol=1e-6)
    np.testing.assert_allclose(z[:, 1], np.cos(np.arange(3)), atol=1e-6)
    assert pe.state_dict() == {}
    with pytest.raises(ValueError):
        pe(ar.zeros(21, 6))
    pos = nn.PositionalEmbedding(10, 6)
    np.testing.assert_array_equal(pos(ar.zeros(1, 4, 6), offset=2)._array[0], pos.weight._array[2:6])


MEM_SCRIPT = textwrap.dedent(
    """
    import resource, numpy as np, attnrs as ar
    t, d = 8192, 64
    rng = np.random.default_rng(0)
    q, k, v, g = (rng.standard_normal((1, 1, t, d)).astype(np.float32) for _ in range(4))
    o = np.zeros_like(q); grads = tuple(np.zeros_like(q) for _ in range(3))
    ar.ops.attention_forward(q[:, :, :64], k[:, :, :64], v[:, :, :64])  # load everything once
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    o, lse = ar.ops.attention_forward(q, k, v, causal=True, out=o)
    ar.ops.attention_backward(q, k, v, o, lse, g, causal=True, grads=grads)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((after - before) * 1024)
    """
)


def test_memory_is_linear_in_t():
    res = subprocess.run([sys.executable, "-c", MEM_SCRIPT], check=False, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    grew = int(res.stdout.strip().splitlines()[-1])
    assert grew < 8192 * 8192 * 4, f"peak RSS grew by {grew} bytes"


def test_self_attention_gradient_sums_the_three_roles():
    x = ar.tensor(rand(2, 7, 5), requires_grad=True)
    w = rand(2, 7, 5)
    y = nn.SelfAttention(scale=True, causal=True)(x)
    (y * ar.tensor(w)).sum().backward()
    x4 = x._array[:, None]
    o, dq, dk, dv = naive(x4, x4, x4, w[:, None], causal=True)
    np.testing.assert_allclose(y._array, o[:, 0], atol=1e-5)
    np.testing.assert_allclose(x.grad._array, (dq + dk + dv)[:, 0], atol=1e-4)


def test_mha_masks_follow_pytorch_conventions():
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    x = ar.tensor(rand(2, 6, 8))
    hide = np.triu(np.ones((6, 6), bool), 1)  # bool: True = not allowed to attend (PyTorch MHA)
    a, _ = m(x, x, x, attn_mask=hide)
    b, _ = m(x, x, x, attn_mask=np.where(hide, -np.inf, 0.0).astype(np.float32))
    c, _ = m(x, x, x, is_causal=True)
    np.testing.assert_allclose(a._array, b._array, atol=1e-6)
    np.testing.assert_allclose(a._array, c._array, atol=1e-6)
    per_head = np.broadcast_to(hide, (2 * 2, 6, 6))  # (B·H, Tq, Tk)
    d, _ = m(x, x, x, attn_mask=per_head)
    np.testing.assert_allclose(a._array, d._array, atol=1e-6)
