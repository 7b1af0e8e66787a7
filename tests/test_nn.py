"""nn: layers, containers, Module state, gradient clipping, small learning tasks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gradcheck import gradcheck

import attnrs as ar
from attnrs import nn
from attnrs.nn import functional as F
from attnrs.nn.utils import clip_grad_norm_


def test_linear_init_shapes_and_forward():
    ar.manual_seed(0)
    lin = nn.Linear(64, 10)
    assert lin.weight.shape == (10, 64) and lin.bias.shape == (10,)
    bound = 1 / math.sqrt(64)
    for p in (lin.weight, lin.bias):
        assert p.dtype == np.float32 and p.requires_grad
        assert np.abs(p.numpy()).max() <= bound and np.abs(p.numpy()).max() > 0.5 * bound
    x = ar.randn(2, 7, 64)
    np.testing.assert_allclose(
        lin(x).numpy(), x.numpy() @ lin.weight.numpy().T + lin.bias.numpy(), rtol=1e-5, atol=1e-6
    )
    assert nn.Linear(3, 2, bias=False).bias is None
    assert [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]
    assert repr(lin) == "Linear(in_features=64, out_features=10, bias=True)"


def test_linear_gradients():
    lin = nn.Linear(3, 4)
    gradcheck(
        lambda x, w, b: F.linear(x, w, b),
        np.random.default_rng(0).standard_normal((2, 3)),
        lin.weight.numpy(),
        lin.bias.numpy(),
    )


def test_manual_seed_reproduces_initialisation():
    ar.manual_seed(42)
    a = nn.Linear(5, 5).weight.numpy().copy()
    ar.manual_seed(42)
    b = nn.Linear(5, 5).weight.numpy()
    np.testing.assert_array_equal(a, b)


def test_embedding_layer():
    ar.manual_seed(1)
    emb = nn.Embedding(1000, 16, padding_idx=0)
    w = emb.weight.numpy()
    assert np.all(w[0] == 0)
    assert abs(w[1:].mean()) < 0.05 and abs(w[1:].std() - 1) < 0.05
    ids = np.array([[0, 5, 5], [7, 0, 1]])
    out = emb(ids)
    assert out.shape == (2, 3, 16)
    np.testing.assert_array_equal(out.numpy(), w[ids])
    out.sum().backward()
    g = emb.weight.grad.numpy()
    assert np.all(g[0] == 0) and np.all(g[5] == 2) and np.all(g[7] == 1) and np.all(g[2] == 0)
    assert repr(emb) == "Embedding(1000, 16, padding_idx=0)"


def test_layernorm_layer():
    ln = nn.LayerNorm(8)
    assert np.all(ln.weight.numpy() == 1) and np.all(ln.bias.numpy() == 0)
    x = ar.randn(3, 5, 8) * 3.0 + 2.0
    y = ln(x).numpy().astype(np.float64)
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(-1), 1, atol=1e-3)
    assert nn.LayerNorm((2, 4), elementwise_affine=False).weight is None
    assert nn.LayerNorm((2, 4))(ar.randn(3, 2, 4)).shape == (3, 2, 4)
    assert [n for n, _ in nn.LayerNorm(4, bias=False).named_parameters()] == ["weight"]


def test_dropout_layer_train_eval():
    d = nn.Dropout(0.5)
    x = ar.ones(100, 100)
    ar.manual_seed(0)
    y = d(x).numpy()
    assert set(np.unique(y)) == {0.0, 2.0}
    d.eval()
    assert d(x) is x
    assert repr(d) == "Dropout(p=0.5)"


def test_activation_layers():
    x = ar.tensor([-2.0, -0.5, 0.0, 1.5])
    xn = x.numpy()
    np.testing.assert_allclose(nn.ReLU()(x).numpy(), np.maximum(xn, 0))
    np.testing.assert_allclose(nn.Tanh()(x).numpy(), np.tanh(xn), rtol=1e-6)
    np.testing.assert_allclose(nn.Sigmoid()(x).numpy(), 1 / (1 + np.exp(-xn)), rtol=1e-6)
    erf = np.vectorize(math.erf)
    np.testing.assert_allclose(
        nn.GELU()(x).numpy(), 0.5 * xn * (1 + erf(xn / math.sqrt(2))), rtol=1e-5, atol=1e-6
    )
    tanh_ref = 0.5 * xn * (1 + np.tanh(math.sqrt(2 / math.pi) * (xn + 0.044715 * xn**3)))
    np.testing.assert_allclose(nn.GELU("tanh")(x).numpy(), tanh_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nn.Softmax(-1)(x).numpy().sum(), 1.0, rtol=1e-6)
    assert nn.Identity(3, k=1)(x) is x


def test_containers_naming_and_indexing():
    seq = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and len(seq[:2]) == 2
    assert seq(ar.randn(5, 4)).shape == (5, 2)
    seq.append(nn.Tanh())
    assert len(list(seq)) == 4

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])
            self.heads = nn.ModuleDict({"a": nn.Linear(2, 1), "b": nn.Linear(2, 3)})
            self.extra = [nn.Linear(2, 2)]  # plain lists are walked too

    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == [
        "blocks.0.weight",
        "blocks.0.bias",
        "blocks.1.weight",
        "blocks.1.bias",
        "heads.a.weight",
        "heads.a.bias",
        "heads.b.weight",
        "heads.b.bias",
        "extra.0.weight",
        "extra.0.bias",
    ]
    assert len(net.blocks) == 2 and "a" in net.heads and list(net.heads) == ["a", "b"]
    net.blocks.append(nn.Linear(2, 2))
    assert net.num_parameters() == 3 * 6 + 3 + 9 + 6
    text = repr(net)
    assert (
        "(blocks): ModuleList(" in text
        and "(0): Linear(in_features=2, out_features=2, bias=True)" in text
    )
    od = nn.Sequential(__import__("collections").OrderedDict(enc=nn.Linear(2, 2), act=nn.GELU()))
    assert [n for n, _ in od.named_parameters()] == ["enc.weight", "enc.bias"]


def test_container_errors():
    with pytest.raises(TypeError):
        nn.Sequential(nn.Linear(2, 2), "relu")
    with pytest.raises(TypeError):
        nn.ModuleList([3])
    with pytest.raises(KeyError):
        nn.ModuleDict({"a.b": nn.ReLU()})
    with pytest.raises(NotImplementedError):
        nn.ModuleList()(1)


def test_layer_constructor_errors():
    for call in [
        lambda: nn.Linear(0, 3),
        lambda: nn.Embedding(0, 3),
        lambda: nn.Embedding(5, 3, padding_idx=5),
        lambda: nn.LayerNorm(0),
        lambda: nn.LayerNorm(4, eps=float("nan")),
        lambda: nn.Dropout(-0.1),
        lambda: nn.GELU("fast"),
    ]:
        with pytest.raises(ValueError):
            call()


def test_state_dict_round_trip_and_errors():
    a = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    b = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    a.register_buffer("steps", np.array([3], dtype=np.int64))
    b.register_buffer("steps", np.array([0], dtype=np.int64))
    b.load_state_dict(a.state_dict())
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and np.array_equal(va, vb)
    assert b.steps.dtype == np.int64 and b.steps[0] == 3
    sd = a.state_dict()
    before = b.state_dict()
    bad = dict(sd)
    del bad["0.bias"]
    bad["zzz"] = np.zeros(1)
    bad["1.weight"] = np.zeros(5)
    with pytest.raises(ar.ShapeError) as e:
        b.load_state_dict(bad)
    msg = str(e.value)
    assert (
        "missing keys: ['0.bias']" in msg
        and "zzz" in msg
        and "1.weight: expected (4,), got (5,)" in msg
    )
    for k, v in b.state_dict().items():  # untouched
        assert np.array_equal(v, before[k])
    missing, unexpected = b.load_state_dict(
        {"0.weight": sd["0.weight"], "x": np.ones(1)}, strict=False
    )
    assert "0.bias" in missing and unexpected == ["x"]
    np.testing.assert_array_equal(b[0].weight.numpy(), sd["0.weight"])


def test_train_eval_and_zero_grad():
    m = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1))
    assert m.training and m[1].training
    m.eval()
    assert not m.training and not m[1].training
    m.train()
    assert m[1].training
    m(ar.randn(3, 2)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_requires_grad_and_apply():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    assert not m(ar.randn(4, 2)).requires_grad
    m.requires_grad_()
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen[-1] == "Sequential" and seen.count("Linear") == 2

    def zero_linear(mod):
        if isinstance(mod, nn.Linear):
            mod.weight.numpy()[...] = 0.0

    m.apply(zero_linear)
    assert all(np.all(mod.weight.numpy() == 0) for mod in m if isinstance(mod, nn.Linear))


def test_clip_grad_norm():
    rng = np.random.default_rng(0)
    ps = [ar.tensor(rng.standard_normal(s), requires_grad=True) for s in [(3, 4), (5,)]]
    gs = [rng.standard_normal(p.shape).astype(np.float32) for p in ps]
    for p, g in zip(ps, gs):
        p.grad = ar.tensor(g)
    total = np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in gs))
    ret = clip_grad_norm_(ps, 1.0)
    np.testing.assert_allclose(ret, total, rtol=1e-6)
    clipped = np.sqrt(sum((p.grad.numpy().astype(np.float64) ** 2).sum() for p in ps))
    np.testing.assert_allclose(clipped, 1.0, rtol=1e-5)
    # below the threshold: untouched; inf norm; parameters without grads are skipped
    before = [p.grad.numpy().copy() for p in ps]
    assert ar.nn.utils.clip_grad_norm_(ps + [ar.zeros(2, requires_grad=True)], 10.0) < 10.0
    assert all(np.array_equal(a, p.grad.numpy()) for a, p in zip(before, ps))
    inf = clip_grad_norm_(ps, 100.0, norm_type=float("inf"))
    np.testing.assert_allclose(inf, max(np.abs(p.grad.numpy()).max() for p in ps), rtol=1e-6)
    assert clip_grad_norm_([ar.zeros(2, requires_grad=True)], 1.0) == 0.0
    for bad in [
        {"max_norm": float("nan")},
        {"max_norm": -1.0},
        {"max_norm": 1.0, "norm_type": 0.0},
    ]:
        with pytest.raises(ValueError):
            clip_grad_norm_(ps, **bad)
    ps[0].grad = ar.tensor(np.full((3, 4), np.inf))
    with pytest.raises(RuntimeError):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)


def test_nn_functional_signatures():
    x = ar.randn(2, 5, 6)
    assert F.gelu(x, approximate="tanh").shape == x.shape
    np.testing.assert_allclose(F.softmax(x, dim=1).numpy().sum(1), 1, rtol=1e-5)
    np.testing.assert_allclose(np.exp(F.log_softmax(x, dim=-1).numpy()).sum(-1), 1, rtol=1e-5)
    assert F.layer_norm(x, (6,), ar.ones(6), ar.zeros(6), eps=1e-5).shape == x.shape
    assert F.embedding(np.array([1, 2]), ar.randn(4, 3)).shape == (2, 3)
    assert F.dropout(x, p=0.0, training=True) is x
    assert F.relu(x).shape == F.tanh(x).shape == F.sigmoid(x).shape == x.shape
    assert F.linear(x, ar.randn(3, 6)).shape == (2, 5, 3)
    assert F.cross_entropy(x.reshape(-1, 6), np.zeros(10, dtype=np.int64)).shape == ()
    assert F.mse_loss(x, x).item() == 0.0


@pytest.mark.parametrize("mode", ["mean", "max", "first", "last"])
def test_global_pool(mode):
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    ref = {"mean": x.mean(1), "max": x.max(1), "first": x[:, 0], "last": x[:, -1]}[mode]
    np.testing.assert_allclose(F.global_pool(ar.tensor(x), mode).numpy(), ref, rtol=1e-5)
    gradcheck(lambda t: F.global_pool(t, mode, dim=1), x)
    assert F.global_pool(ar.tensor(x), mode, dim=-1).shape == (2, 5)


def test_global_pool_errors():
    with pytest.raises(ValueError):
        F.global_pool(ar.randn(2, 3, 4), "median")
    with pytest.raises(ValueError):
        F.global_pool(ar.zeros(2, 0, 4))
    with pytest.raises(ar.ShapeError):
        F.global_pool(ar.randn(2, 3), dim=2)


def test_mlp_learns_xor():
    ar.manual_seed(0)
    x = ar.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0])
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 2))
    opt = ar.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(200):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    assert np.array_equal(model(x).numpy().argmax(1), y)


def test_mlp_learns_regression():
    ar.manual_seed(1)
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, (256, 1)).astype(np.float32)
    y = np.sin(2 * x) + 0.5 * x
    model = nn.Sequential(
        nn.Linear(1, 32), nn.GELU(), nn.Linear(32, 32), nn.GELU(), nn.Linear(32, 1)
    )
    opt = ar.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    sched = ar.optim.CosineWarmup(opt, warmup_steps=20, total_steps=400, min_lr=1e-4)
    xt, yt = ar.tensor(x), ar.tensor(y)
    first = None
    for _ in range(400):
        loss = F.mse_loss(model(xt), yt)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
    assert loss.item() < 0.01 < first


def _block_run(blk, x0, layered, **kw):
    """Output, dx and every parameter's gradient of ``blk`` on ``x0``, by the
    one-node fused path or (``layered``) the sub-layer by sub-layer path."""
    if layered:
        blk._fusable = lambda: False  # instance attribute: this block only
    for p in blk.parameters():
        p.grad = None
    x = ar.tensor(x0, requires_grad=True)
    y = blk(x, **kw)
    (y * ar.tensor(np.linspace(-1, 1, y._array.size, dtype=np.float32).reshape(y.shape))).sum().backward()
    if layered:
        del blk._fusable
    grads = {n: None if p.grad is None else p.grad._array.copy() for n, p in blk.named_parameters()}
    return y._array.copy(), x.grad._array.copy(), grads


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("variant", ["plain", "no_biases", "frozen", "eval_dropout"])
def test_transformer_block_fused_path_is_bitwise_the_layered_path(causal, variant):
    ar.manual_seed(11)
    blk = nn.TransformerBlock(24, 3, 40, causal=causal, dropout=0.2 if variant == "eval_dropout" else 0.0)
    if variant == "no_biases":
        blk.linear1.bias = blk.norm2.bias = blk.self_attn.out_proj.bias = None
    if variant == "frozen":
        blk.norm1.weight.requires_grad = blk.linear2.weight.requires_grad = False
    if variant == "eval_dropout":
        blk.eval()
    assert blk._fusable()
    x0 = np.random.default_rng(3).standard_normal((2, 7, 24)).astype(np.float32)
    fused, layered = _block_run(blk, x0, False), _block_run(blk, x0, True)
    np.testing.assert_array_equal(fused[0], layered[0])
    np.testing.assert_array_equal(fused[1], layered[1])
    assert fused[2].keys() == layered[2].keys()
    for name, g in fused[2].items():
        if g is None or layered[2][name] is None:
            assert g is None and layered[2][name] is None, name
        else:
            np.testing.assert_array_equal(g, layered[2][name], err_msg=name)
    if variant == "frozen":
        assert fused[2]["norm1.weight"] is None and fused[2]["linear2.weight"] is None


def test_transformer_block_takes_the_layered_path_where_the_fused_one_differs():
    blk = nn.TransformerBlock(8, 2, 16, dropout=0.1)
    assert not blk._fusable()  # dropout in training
    blk.eval()
    assert blk._fusable()
    blk.linear1 = nn.Identity()
    assert not blk._fusable()  # a replaced sub-layer
    assert not nn.TransformerBlock(8, 2, 16, cross_attention=True)._fusable()
    # masks go the layered way and still match it
    ar.manual_seed(2)
    blk = nn.TransformerBlock(8, 2, 16)
    x0 = np.random.default_rng(0).standard_normal((2, 5, 8)).astype(np.float32)
    kpm = np.zeros((2, 5), bool)
    kpm[1, 3:] = True
    a, b = _block_run(blk, x0, False, key_padding_mask=kpm), _block_run(blk, x0, True, key_padding_mask=kpm)
    np.testing.assert_array_equal(a[0], b[0])
    with pytest.raises(ValueError, match=r"\(B, T, 8\)"):
        blk(ar.tensor(np.zeros((2, 5, 6), np.float32)))
