"""The one-call Transformer block (``_core.transformer_block_forward`` /
``_backward``, Rust ``kernels::block``) against the per-op ``_Block`` path it
replaces: bitwise equal output and gradients at 1 and 2 threads, causal or
not, with and without biases; the fallback; the binding's errors. (The f64
reference checks are the Rust tests; ``test_nn`` compares with the layered
sub-layer path.)"""

import numpy as np
import pytest

import attnrs as ar
from attnrs import _core, nn
from attnrs.nn import transformer


def _block(variant, causal):
    ar.manual_seed(5)
    blk = nn.TransformerBlock(48, 4, 136, causal=causal)
    if variant == "no_biases":
        blk.norm1.bias = blk.norm2.bias = blk.linear1.bias = blk.linear2.bias = None
        blk.self_attn.in_proj_bias = blk.self_attn.out_proj.bias = None
    elif variant == "no_affine":
        blk.norm1 = nn.LayerNorm(48, elementwise_affine=False)
        blk.norm2 = nn.LayerNorm(48, eps=1e-3, elementwise_affine=False)
    elif variant == "frozen":
        blk.self_attn.in_proj_weight.requires_grad = blk.linear1.bias.requires_grad = False
    assert blk._fusable()
    return blk


def _run(blk, x0, native, monkeypatch):
    monkeypatch.setattr(transformer, "_NATIVE", native)
    for p in blk.parameters():
        p.grad = None
    x = ar.tensor(x0, requires_grad=True)
    y = blk(x)
    assert (y._ctx.native is not None) == native
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    (y * ar.tensor(dy)).sum().backward()
    grads = {n: None if p.grad is None else p.grad._array.copy() for n, p in blk.named_parameters()}
    return y._array.copy(), x.grad._array.copy(), grads


def _assert_same(a, b):
    np.testing.assert_array_equal(a[0], b[0], err_msg="y")
    np.testing.assert_array_equal(a[1], b[1], err_msg="dx")
    assert a[2].keys() == b[2].keys()
    for name, g in a[2].items():
        if g is None or b[2][name] is None:
            assert g is None and b[2][name] is None, name
        else:
            np.testing.assert_array_equal(g, b[2][name], err_msg=name)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("variant", ["plain", "no_biases", "no_affine", "frozen"])
@pytest.mark.parametrize("batch_t", [(3, 37), (7, 79), (5, 200)])
def test_native_block_is_bitwise_the_per_op_block(batch_t, variant, causal, threads, monkeypatch):
    before = ar.get_num_threads()
    ar.set_num_threads(threads)
    try:
        blk = _block(variant, causal)
        # 3·37 rows: the products, LayerNorms and attention all split their work.
        # 7·79 rows: the native block also runs its batch in 2 or 3 uneven parts
        # (one per thread), and dW its two K slices side by side. 5·200: parts of
        # B·H < 16 with several key tiles, grouped in the attention backward as
        # the whole batch is (the per-op path's bits).
        x0 = np.random.default_rng(0).standard_normal((*batch_t, 48)).astype(np.float32)
        native, per_op = _run(blk, x0, True, monkeypatch), _run(blk, x0, False, monkeypatch)
    finally:
        ar.set_num_threads(before)
    _assert_same(native, per_op)
    if variant == "frozen":
        assert native[2]["self_attn.in_proj_weight"] is None and native[2]["linear1.bias"] is None


def test_native_block_does_not_depend_on_the_thread_count(monkeypatch):
    before = ar.get_num_threads()
    blk = _block("plain", True)
    x0 = np.random.default_rng(2).standard_normal((2, 64, 48)).astype(np.float32)
    try:
        ar.set_num_threads(1)
        one = _run(blk, x0, True, monkeypatch)
        ar.set_num_threads(2)
        two = _run(blk, x0, True, monkeypatch)
    finally:
        ar.set_num_threads(before)
    _assert_same(one, two)


def test_odd_inputs_take_the_per_op_path(monkeypatch):
    blk = _block("plain", False)
    x0 = np.random.default_rng(4).standard_normal((5, 2, 48)).astype(np.float32)
    # A transposed view is not C-contiguous: the per-op path takes it, same bits.
    x = ar.tensor(x0.transpose(1, 0, 2))
    y = blk(x)
    assert y._ctx is None or y._ctx.native is None
    monkeypatch.setattr(transformer, "_NATIVE", True)
    np.testing.assert_array_equal(y._array, blk(ar.tensor(x0.transpose(1, 0, 2).copy()))._array)
    # No rows.
    assert blk(ar.tensor(np.zeros((2, 0, 48), np.float32))).shape == (2, 0, 48)


def _args(b=2, t=3, c=8, f=12):
    z = lambda *s: np.zeros(s, np.float32)  # noqa: E731
    ws = [z(c), z(c), z(3 * c, c), z(3 * c), z(c, c), z(c), z(c), z(c), z(f, c), z(f), z(c, f), z(c)]
    saved, _ = _core.transformer_block_sizes(b, t, c, 2, f)
    return [z(b, t, c), *ws, z(saved), z(b, t, c), 1e-5, 1e-5, 2, False]


def test_binding_names_op_argument_expected_and_actual():
    _core.transformer_block_forward(*_args())  # the arguments as they should be
    a = _args()
    a[8] = np.zeros(7, np.float32)  # ln2 bias
    with pytest.raises(ar.ShapeError, match=r"transformer_block: ln2 bias must have shape \(8,\), got \(7,\)"):
        _core.transformer_block_forward(*a)
    a = _args()
    a[3] = np.zeros((24, 9), np.float32)
    with pytest.raises(ar.ShapeError, match=r"transformer_block: qkv weight must have shape \(24, 8\), got \(24, 9\)"):
        _core.transformer_block_forward(*a)
    a = _args()
    a[0] = np.zeros((6, 8), np.float32)
    with pytest.raises(ar.ShapeError, match=r"transformer_block: x must be 3-D \(B, T, C\), got shape \(6, 8\)"):
        _core.transformer_block_forward(*a)
    a = _args()
    a[13] = np.zeros(5, np.float32)
    with pytest.raises(ar.ShapeError, match=r"transformer_block: saved must have shape"):
        _core.transformer_block_forward(*a)
    a = _args()
    a[17] = 3  # heads not dividing the width
    with pytest.raises(ar.ShapeError, match="transformer_block: width: expected a positive multiple of heads 3"):
        _core.transformer_block_forward(*a)
    a = _args()
    a[15] = -1.0
    with pytest.raises(ValueError, match="transformer_block: eps1: expected a finite number >= 0, got -1"):
        _core.transformer_block_forward(*a)
    a = _args()
    a[10] = np.zeros(a[10].shape)  # float64
    with pytest.raises(TypeError):
        _core.transformer_block_forward(*a)
    a = _args()
    a[9] = np.zeros((16, 8), np.float32)[::2]  # strided view
    with pytest.raises(ValueError, match="fc1 weight"):
        _core.transformer_block_forward(*a)


def test_backward_twice_and_a_strided_upstream_gradient(monkeypatch):
    # The saved buffer is read, never written, by the backward: a retained graph
    # gives the same gradients again; a non-contiguous dy is taken as a copy.
    monkeypatch.setattr(transformer, "_NATIVE", True)
    blk = _block("plain", True)
    x = ar.tensor(np.random.default_rng(6).standard_normal((2, 9, 48)).astype(np.float32), requires_grad=True)
    y = blk(x)
    dy = np.random.default_rng(7).standard_normal((2, 48, 9)).astype(np.float32).transpose(0, 2, 1)
    y.backward(dy, retain_graph=True)
    first = x.grad._array.copy(), blk.linear1.weight.grad._array.copy()
    y.backward(dy)
    np.testing.assert_array_equal(x.grad._array, 2 * first[0])
    np.testing.assert_array_equal(blk.linear1.weight.grad._array, 2 * first[1])
    x2 = ar.tensor(x._array, requires_grad=True)
    blk.zero_grad()
    blk(x2).backward(np.ascontiguousarray(dy))
    np.testing.assert_array_equal(x2.grad._array, first[0])
