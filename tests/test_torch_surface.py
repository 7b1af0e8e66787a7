"""The PyTorch surface real programs use (issue 17): nn.init, loss modules and the
functional losses, optim.lr_scheduler, Adam(amsgrad=), no_grad as a bare decorator.

Expected values come from the formulas PyTorch documents, written out here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import attnrs as ar
from attnrs import nn
from attnrs.optim.lr_scheduler import (
    CosineAnnealingLR,
    LambdaLR,
    LinearLR,
    OneCycleLR,
    SequentialLR,
    StepLR,
)

F = ar.F
RNG = np.random.default_rng(170)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# --- nn.init ---------------------------------------------------------------------------------


def test_init_fills_in_place_with_pytorch_scales():
    init = nn.init
    w = nn.Parameter(ar.zeros(200, 100, 3))  # fan_in = 300, fan_out = 600
    fan_in, fan_out = 300, 600
    assert init.xavier_uniform_(w) is w
    a = math.sqrt(6.0 / (fan_in + fan_out))
    assert np.abs(w.numpy()).max() <= a and np.abs(w.numpy()).max() > 0.99 * a
    init.xavier_normal_(w, gain=2.0)
    assert abs(w.numpy().std() / (2.0 * math.sqrt(2.0 / (fan_in + fan_out))) - 1) < 0.02
    init.kaiming_uniform_(w, a=math.sqrt(5))  # nn.Linear's own default in PyTorch
    bound = math.sqrt(3.0) * math.sqrt(2.0 / (1 + 5)) / math.sqrt(fan_in)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.numpy().std() / (math.sqrt(2.0) / math.sqrt(fan_out)) - 1) < 0.02
    init.trunc_normal_(w, std=0.02, a=-0.03, b=0.03)
    assert np.abs(w.numpy()).max() <= 0.03
    init.normal_(w, mean=1.0, std=0.1)
    assert abs(w.numpy().mean() - 1.0) < 0.01 and abs(w.numpy().std() - 0.1) < 0.005
    init.uniform_(w, -0.5, 0.25)
    assert w.numpy().min() >= -0.5 and w.numpy().max() < 0.25
    assert init.zeros_(w).numpy().sum() == 0 and init.ones_(w).numpy().min() == 1
    assert init.constant_(w, 0.3).numpy().max() == np.float32(0.3)
    q = init.orthogonal_(nn.Parameter(ar.zeros(4, 6))).numpy()
    np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-5)
    assert init.calculate_gain("tanh") == 5.0 / 3 and init.calculate_gain("relu") == math.sqrt(2)
    with pytest.raises(ValueError, match="2 dims"):
        init.xavier_uniform_(nn.Parameter(ar.zeros(5)))
    assert w.grad is None and not isinstance(w.grad, ar.Tensor)


# --- losses ----------------------------------------------------------------------------------


def _log_softmax(x):
    x = x.astype(np.float64)
    m = x.max(1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(1, keepdims=True))


def test_nll_loss_and_cross_entropy_modules():
    x = rand(6, 5)
    t = np.array([0, 4, -100, 2, 1, 4])
    lp = _log_softmax(x)
    w = RNG.random(5).astype(np.float32)
    keep = t != -100
    per = np.where(keep, -lp[np.arange(6), np.where(keep, t, 0)] * w[np.where(keep, t, 0)], 0)
    got = nn.NLLLoss(weight=w)(ar.tensor(lp.astype(np.float32)), ar.tensor(t))
    assert abs(got.item() - per.sum() / w[t[keep]].sum()) < 1e-5
    got_none = nn.NLLLoss(weight=w, reduction="none")(ar.tensor(lp.astype(np.float32)), ar.tensor(t))
    np.testing.assert_allclose(got_none.numpy(), per, rtol=1e-5, atol=1e-6)
    xt = ar.tensor(x, requires_grad=True)
    ce = nn.CrossEntropyLoss()(xt, ar.tensor(t))
    nll = F.nll_loss(F.log_softmax(ar.tensor(x), dim=1), ar.tensor(t))
    assert abs(ce.item() - nll.item()) < 1e-5
    ce.backward()
    assert xt.grad.shape == (6, 5) and np.all(xt.grad.numpy()[2] == 0)  # the ignored row
    wce = nn.CrossEntropyLoss(weight=w)(ar.tensor(x), ar.tensor(t))  # = weighted NLL of log-softmax
    assert abs(wce.item() - per.sum() / w[t[keep]].sum()) < 1e-5
    assert abs(F.cross_entropy(ar.tensor(x), ar.tensor(t), ar.tensor(w)).item() - wce.item()) < 1e-6


def test_mse_kl_bce_modules():
    a, b = rand(3, 4), rand(3, 4)
    assert abs(nn.MSELoss()(ar.tensor(a), ar.tensor(b)).item() - ((a - b) ** 2).mean()) < 1e-5
    assert abs(nn.MSELoss(reduction="sum")(ar.tensor(a), ar.tensor(b)).item() - ((a - b) ** 2).sum()) < 1e-4
    lp = _log_softmax(a)
    q = np.exp(_log_softmax(b))
    q[0, 0] = 0.0  # 0·log 0 counts as 0
    terms = np.where(q > 0, q * (np.log(np.where(q > 0, q, 1)) - lp), 0.0)
    inp, tgt = ar.tensor(lp.astype(np.float32)), ar.tensor(q.astype(np.float32))
    assert abs(nn.KLDivLoss(reduction="batchmean")(inp, tgt).item() - terms.sum() / 3) < 1e-5
    assert abs(F.kl_div(inp, tgt).item() - terms.mean()) < 1e-5
    logq = ar.tensor(np.log(np.where(q > 0, q, 1e-30)).astype(np.float32))
    assert abs(F.kl_div(inp, logq, reduction="sum", log_target=True).item() - terms.sum()) < 1e-4
    x = rand(5, 3) * 10  # large logits: the stable form must not overflow
    y = (RNG.random((5, 3)) > 0.5).astype(np.float32)
    pw = np.array([0.5, 2.0, 3.0], np.float32)
    sig = 1 / (1 + np.exp(-x.astype(np.float64)))
    ref = -(pw * y * np.log(sig) + (1 - y) * np.log(1 - sig))
    got = nn.BCEWithLogitsLoss(pos_weight=ar.tensor(pw), reduction="none")(ar.tensor(x), ar.tensor(y))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-4, atol=1e-5)
    xt = ar.tensor(x, requires_grad=True)
    F.binary_cross_entropy_with_logits(xt, ar.tensor(y), reduction="sum").backward()
    np.testing.assert_allclose(xt.grad.numpy(), sig - y, atol=1e-5)  # d/dx = sigmoid(x) − y


def test_functional_extras():
    x = rand(3, 4)
    np.testing.assert_allclose(F.silu(ar.tensor(x)).numpy(), x / (1 + np.exp(-x)), rtol=1e-5, atol=1e-6)
    n = F.normalize(ar.tensor(x), dim=1).numpy()
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, rtol=1e-5)
    oh = F.one_hot(ar.tensor([2, 0, 1]), num_classes=4)
    assert oh.dtype == ar.int64 and oh.tolist() == [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]]
    assert F.one_hot(ar.tensor([1, 3])).shape == (2, 4)
    xt = ar.tensor(rand(2, 3, 4), requires_grad=True)
    p = F.pad(xt, (1, 2, 0, 1), value=-1.0)  # last dim (1, 2), the one before (0, 1)
    assert p.shape == (2, 4, 7)
    np.testing.assert_array_equal(p.numpy()[:, :3, 1:5], xt.numpy())
    assert np.all(p.numpy()[:, 3] == -1) and np.all(p.numpy()[..., 0] == -1)
    (p * ar.tensor(np.arange(56, dtype=np.float32).reshape(1, 4, 14)[..., :7])).sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy()[0], np.arange(56, dtype=np.float32).reshape(4, 14)[:3, 1:5])


# --- optim -----------------------------------------------------------------------------------


def _lrs(sched, opt, n=12):
    out = []
    for _ in range(n):
        out.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    return np.array(out)


def _opt(lr=0.1):
    return ar.optim.Adam([nn.Parameter(ar.zeros(2))], lr=lr)


def test_lr_schedulers_follow_the_documented_formulas():
    t = np.arange(12)
    o = _opt()
    np.testing.assert_allclose(_lrs(LambdaLR(o, lambda s: 0.9**s), o), 0.1 * 0.9**t)
    o = _opt()
    np.testing.assert_allclose(_lrs(StepLR(o, 3, 0.5), o), 0.1 * 0.5 ** (t // 3))
    o = _opt()
    want = 0.01 + (0.1 - 0.01) * (1 + np.cos(np.pi * t / 5)) / 2
    np.testing.assert_allclose(_lrs(CosineAnnealingLR(o, T_max=5, eta_min=0.01), o), want, atol=1e-12)
    o = _opt()
    want = 0.1 * (0.25 + 0.75 * np.minimum(t, 4) / 4)
    np.testing.assert_allclose(_lrs(LinearLR(o, start_factor=0.25, total_iters=4), o), want)
    o = _opt()
    seq = SequentialLR(o, [LinearLR(o, start_factor=0.1, total_iters=3), CosineAnnealingLR(o, T_max=6)], [3])
    want = np.where(t < 3, 0.1 * (0.1 + 0.9 * t / 3), 0.1 * (1 + np.cos(np.pi * (t - 3) / 6)) / 2)
    np.testing.assert_allclose(_lrs(seq, o), want, atol=1e-12)


def test_one_cycle_lr_and_momentum():
    o = _opt()
    s = OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=0.3)
    lrs, moms = [], []
    for _ in range(10):
        lrs.append(s.get_last_lr()[0])
        moms.append(o.param_groups[0]["betas"][0])
        o.step()
        s.step()
    lo, mid = 1.0 / 25, 0.3 * 10 - 1  # phase 1 ends at step pct_start·total − 1

    def cos(a, b, p):
        return b + (a - b) / 2 * (math.cos(math.pi * p) + 1)

    want = [cos(lo, 1.0, i / mid) if i <= mid else cos(1.0, lo / 1e4, (i - mid) / (9 - mid)) for i in range(10)]
    want_m = [cos(0.95, 0.85, i / mid) if i <= mid else cos(0.85, 0.95, (i - mid) / (9 - mid)) for i in range(10)]
    np.testing.assert_allclose(lrs, want, atol=1e-12)
    np.testing.assert_allclose(moms, want_m, atol=1e-12)
    assert lrs[0] == pytest.approx(1.0 / 25) and max(lrs) == pytest.approx(1.0)


def test_adam_amsgrad_matches_the_algorithm_and_fused_is_accepted():
    w0, gs = rand(3, 4), [rand(3, 4) * (1 + i % 3) for i in range(8)]
    for cls, wd in ((ar.optim.Adam, 0.1), (ar.optim.AdamW, 0.1)):
        p = nn.Parameter(w0.copy())
        opt = cls([p], lr=0.05, amsgrad=True, weight_decay=wd, fused=True, foreach=False)
        w, m, v, vmax = w0.astype(np.float64), 0.0, 0.0, np.zeros_like(w0, dtype=np.float64)
        for step, g in enumerate(gs, 1):
            p.grad = ar.tensor(g)
            opt.step()
            g = g.astype(np.float64)
            if cls is ar.optim.AdamW:
                w = w * (1 - 0.05 * wd)
            else:
                g = g + wd * w
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            vmax = np.maximum(vmax, v)
            w = w - 0.05 / (1 - 0.9**step) * m / (np.sqrt(vmax) / math.sqrt(1 - 0.999**step) + 1e-8)
        np.testing.assert_allclose(p.numpy(), w, rtol=1e-5, atol=1e-6)
    ar.optim.SGD([nn.Parameter(ar.zeros(1))], lr=0.1, fused=None, foreach=None)


def test_zero_grad_set_to_none():
    m = nn.Linear(2, 2)
    m(ar.tensor(rand(3, 2))).sum().backward()
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is not None and np.all(m.weight.grad.numpy() == 0)
    m.zero_grad()
    assert m.weight.grad is None


# --- autograd modes --------------------------------------------------------------------------


def test_no_grad_as_bare_decorator_and_inference_mode():
    x = ar.ones(2, requires_grad=True)

    @ar.no_grad
    def bare(t):
        return t * 2

    @ar.no_grad()
    def called(t):
        return t * 2

    @ar.inference_mode()
    def inference(t):
        return t * 2

    assert not bare(x).requires_grad and not called(x).requires_grad and not inference(x).requires_grad
    assert bare.__name__ == "bare"
    with ar.inference_mode():
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad


# --- Tensor and top-level surface ------------------------------------------------------------


def test_tensor_methods_match_numpy_definitions():
    a = rand(3, 4)
    x = ar.tensor(a, requires_grad=True)
    np.testing.assert_allclose(x.var().item(), a.var(ddof=1), rtol=1e-5)  # unbiased by default
    np.testing.assert_allclose(x.var(1, unbiased=False).numpy(), a.var(1), rtol=1e-5)
    np.testing.assert_allclose(x.std(dim=0, keepdim=True).numpy(), a.std(0, ddof=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(x.sin().numpy(), np.sin(a), rtol=1e-6)
    np.testing.assert_allclose(x.cos().numpy(), np.cos(a), rtol=1e-6)
    assert x.t().shape == (4, 3) and x.narrow(1, 1, 2).numpy().tolist() == a[:, 1:3].tolist()
    np.testing.assert_array_equal(x.repeat(2, 1, 3).numpy(), np.tile(a, (2, 1, 3)))
    np.testing.assert_array_equal(x.tril(-1).numpy(), np.tril(a, -1))
    np.testing.assert_array_equal(ar.triu(x, 1).numpy(), np.triu(a, 1))
    top = x.topk(2, dim=1)
    np.testing.assert_array_equal(top.indices.numpy(), np.argsort(-a, 1, kind="stable")[:, :2])
    np.testing.assert_array_equal(top.values.numpy(), np.take_along_axis(a, top.indices.numpy(), 1))
    low = ar.topk(x, 1, dim=0, largest=False)
    np.testing.assert_array_equal(low.values.numpy(), a.min(0, keepdims=True))
    (x.sin().sum() + x.tril().sum() + top.values.sum() + x.var()).backward()
    want = np.cos(a) + np.tril(np.ones_like(a)) + 2 * (a - a.mean()) / (a.size - 1)
    np.put_along_axis(want, top.indices.numpy(), np.take_along_axis(want, top.indices.numpy(), 1) + 1, 1)
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-5, atol=1e-6)
    s = ar.zeros(3, 4).scatter(1, ar.tensor([[1], [3], [0]]), 1.0)
    assert s.numpy().tolist() == np.eye(4, dtype=np.float32)[[1, 3, 0]].tolist()
    c = x.clone()
    assert c is not x and c.requires_grad and np.array_equal(c.numpy(), a)


def test_in_place_ops_follow_pytorch_rules():
    t = ar.zeros(2, 3)
    alias = t
    t += 1
    t.mul_(3).add_(ar.ones(3), alpha=2)
    assert alias is t and np.all(t.numpy() == 5)
    t[0, 1] = 7.0
    t[ar.tensor([1])] = ar.tensor([[1.0, 2.0, 3.0]])
    assert t.numpy().tolist() == [[5, 7, 5], [1, 2, 3]]
    t.masked_fill_(t > 4, 0.0).clamp_(max=2.0)
    assert t.numpy().tolist() == [[0, 0, 0], [1, 2, 2]]
    assert t.fill_(2).numpy().sum() == 12 and t.zero_().numpy().sum() == 0
    t.copy_(ar.tensor([1.0, 2.0, 3.0]))
    assert t.numpy().tolist() == [[1, 2, 3], [1, 2, 3]]
    t.scatter_(1, ar.tensor([[0], [2]]), 9.0).index_fill_(0, ar.tensor([0]), -1.0)
    assert t.numpy().tolist() == [[-1, -1, -1], [1, 2, 9]]
    nz = ar.tensor([[0, 3], [5, 0]]).nonzero()
    assert nz.dtype == ar.int64 and nz.tolist() == [[0, 1], [1, 0]]
    assert [r.tolist() for r in ar.tensor([0, 2, 0, 4]).nonzero(as_tuple=True)] == [[1, 3]]
    w = nn.Parameter(ar.ones(3))
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w.add_(1)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w[0] = 2.0
    with ar.no_grad():
        w.mul_(2)
        w -= 0.5
    assert w.numpy().tolist() == [1.5, 1.5, 1.5] and w.requires_grad
    h = w * 2  # a graph node: += rebinds (out of place) so gradients stay right
    h += w
    h.sum().backward()
    assert w.grad.numpy().tolist() == [3.0, 3.0, 3.0]
    i = ar.tensor([1, 2])
    i += 1
    assert i.dtype == ar.int64 and i.tolist() == [2, 3]


def test_top_level_functions():
    a, b = rand(2, 3, 4), rand(2, 4, 5)
    np.testing.assert_allclose(ar.bmm(ar.tensor(a), ar.tensor(b)).numpy(), a @ b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ar.ShapeError):
        ar.bmm(ar.tensor(a), ar.tensor(b[0]))
    at, bt = ar.tensor(a, requires_grad=True), ar.tensor(b, requires_grad=True)
    y = ar.einsum("bij,bjk->bik", at, bt)
    np.testing.assert_allclose(y.numpy(), a @ b, rtol=1e-5, atol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(at.grad.numpy(), np.ones((2, 3, 5)) @ b.transpose(0, 2, 1), rtol=1e-5)
    np.testing.assert_allclose(bt.grad.numpy(), a.transpose(0, 2, 1) @ np.ones((2, 3, 5)), rtol=1e-5)
    v = ar.tensor(a[0, 0], requires_grad=True)
    tot = ar.einsum("i->", v)  # a summed-away index: its gradient broadcasts back
    tot.backward()
    assert tot.item() == pytest.approx(float(a[0, 0].sum()), rel=1e-5) and np.all(v.grad.numpy() == 1)
    np.testing.assert_allclose(ar.einsum("ij,jk", a[0], b[0]).numpy(), a[0] @ b[0], rtol=1e-5)  # implicit
    c = ar.cat([ar.tensor(a), ar.tensor(a)], dim=1)
    assert c.shape == (2, 6, 4) and ar.stack([ar.tensor(a)] * 3, dim=0).shape == (3, 2, 3, 4)
    w = ar.where(ar.tensor(a) > 0, ar.tensor(a), 0.0)
    np.testing.assert_array_equal(w.numpy(), np.where(a > 0, a, 0))
    np.testing.assert_allclose(ar.softmax(ar.tensor(a), dim=-1).numpy().sum(-1), 1.0, rtol=1e-6)
    p_, q_ = ar.tensor([1.0, 5.0, 2.0], requires_grad=True), ar.tensor([3.0, 5.0, 0.0], requires_grad=True)
    mx = ar.maximum(p_, q_)
    assert mx.tolist() == [3.0, 5.0, 2.0] and p_.min(q_).tolist() == [1.0, 5.0, 0.0]
    mx.sum().backward()
    assert p_.grad.tolist() == [0.0, 0.5, 1.0] and q_.grad.tolist() == [1.0, 0.5, 0.0]  # ties share
    r = ar.max(ar.tensor(a), 1)
    np.testing.assert_array_equal(r.indices.numpy(), a.argmax(1))
    for f, g in ((ar.exp, np.exp), (ar.sin, np.sin), (ar.cos, np.cos), (ar.tanh, np.tanh)):
        np.testing.assert_allclose(f(ar.tensor(a)).numpy(), g(a), rtol=1e-5, atol=1e-6)
    ar.manual_seed(0)
    draws = ar.multinomial(ar.tensor([0.0, 3.0, 1.0]), 4000, replacement=True)
    assert draws.dtype == ar.int64 and 0 not in draws.tolist()
    assert abs((draws == 1).numpy().mean() - 0.75) < 0.03
    rows = ar.multinomial(ar.tensor(np.ones((2, 5), np.float32)), 5)  # without replacement
    assert rows.shape == (2, 5) and all(sorted(r) == list(range(5)) for r in rows.tolist())


def test_module_dict_attributes_and_non_persistent_buffers():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.parts = nn.ModuleDict({"wte": nn.Embedding(4, 2), "head": nn.Linear(2, 4)})
            self.register_buffer("mask", ar.tensor(np.tril(np.ones((3, 3), np.float32))), persistent=False)
            self.register_buffer("count", np.zeros(1, np.float32))

    m = M()
    assert m.parts.wte is m.parts["wte"]
    with pytest.raises(AttributeError):
        m.parts.missing  # noqa: B018
    sd = m.state_dict()
    assert "mask" not in sd and "count" in sd and "parts.wte.weight" in sd
    m.load_state_dict(sd)  # strict: the non-persistent buffer is not expected
    assert isinstance(m.mask, ar.Tensor)


# --- attention dropout -----------------------------------------------------------------------


def test_sdpa_dropout_is_unbiased_causal_and_differentiable():
    q, k, v = (ar.tensor(rand(1, 2, 5, 4), requires_grad=True) for _ in range(3))
    plain = F.scaled_dot_product_attention(q, k, v, is_causal=True).numpy()
    ar.manual_seed(1)
    one = F.scaled_dot_product_attention(q, k, v, dropout_p=0.3, is_causal=True)
    assert not np.allclose(one.numpy(), plain)
    one.sum().backward()
    assert all(np.all(np.isfinite(t.grad.numpy())) for t in (q, k, v))
    mean = np.mean(
        [F.scaled_dot_product_attention(q, k, v, dropout_p=0.3, is_causal=True).numpy() for _ in range(3000)], 0
    )
    np.testing.assert_allclose(mean, plain, atol=0.05)  # E[dropout(w)] = w
    v2 = v.numpy().copy()
    v2[:, :, 3:] += 10.0  # change only the future values: same seed, same early outputs
    ar.manual_seed(2)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5, is_causal=True).numpy()
    ar.manual_seed(2)
    b = F.scaled_dot_product_attention(q, k, ar.tensor(v2), dropout_p=0.5, is_causal=True).numpy()
    np.testing.assert_allclose(a[:, :, :3], b[:, :, :3], atol=1e-6)


def test_multihead_attention_dropout_in_training_only():
    ar.manual_seed(0)
    m = nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True)
    x = ar.tensor(rand(2, 6, 8))
    m.eval()
    e1, _ = m(x, x, x, need_weights=False)
    e2, _ = m(x, x, x, need_weights=False)
    np.testing.assert_array_equal(e1.numpy(), e2.numpy())
    m.train()
    t1, _ = m(x, x, x, need_weights=False)
    assert not np.allclose(t1.numpy(), e1.numpy())


def test_state_dict_with_tied_weights_loads_strictly():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(5, 3)
            self.lm_head = nn.Linear(3, 5, bias=False)
            self.wte.weight = self.lm_head.weight  # weight tying

    m = Tied()
    assert [k for k, _ in m.named_parameters()] == ["wte.weight"]
    assert len(list(m.named_parameters(remove_duplicate=False))) == 2
    w = rand(5, 3)
    m.load_state_dict({"wte.weight": w, "lm_head.weight": w})  # PyTorch saves both names
    assert m.lm_head.weight is m.wte.weight and np.array_equal(m.lm_head.weight.numpy(), w)
    m.load_state_dict({"lm_head.weight": 2 * w})  # either name alone is enough
    assert np.array_equal(m.wte.weight.numpy(), 2 * w)
    with pytest.raises(ar.ShapeError, match="mis-shaped"):
        m.load_state_dict({"wte.weight": w, "lm_head.weight": rand(4, 3)})
    with pytest.raises(ar.ShapeError, match="missing"):
        m.load_state_dict({})


# --- save / load of nested checkpoints -------------------------------------------------------


def test_save_load_nested_checkpoint_to_path_and_file_object(tmp_path):
    import io

    ar.manual_seed(0)
    m = nn.Linear(3, 2)
    opt = ar.optim.AdamW(m.parameters(), lr=1e-2)
    m(ar.ones(4, 3)).sum().backward()
    opt.step()
    ckpt = {
        "model": m.state_dict(), "optimizer": opt.state_dict(), "iter_num": 5, "best_val_loss": 1.5,
        "config": {"n_layer": 2, "bias": True, "name": "x", "shape": (2, 3), "none": None},
        "ids": ar.tensor([1, 2, 3]), "history": [0.5, ar.tensor([1.0, 2.0])], 7: "int key",
    }  # fmt: skip
    buf = io.BytesIO()
    ar.save(ckpt, buf)
    buf.seek(0)
    assert buf.read(8)  # safetensors: an 8-byte header length first, no pickle
    buf.seek(0)
    for got in (ar.load(buf), (ar.save(ckpt, tmp_path / "c.safetensors"), ar.load(tmp_path / "c.safetensors"))[1]):
        assert got["iter_num"] == 5 and got["best_val_loss"] == 1.5 and got[7] == "int key"
        assert got["config"] == {"n_layer": 2, "bias": True, "name": "x", "shape": (2, 3), "none": None}
        assert isinstance(got["ids"], ar.Tensor) and got["ids"].dtype == ar.int64 and got["ids"].tolist() == [1, 2, 3]
        assert got["history"][0] == 0.5 and got["history"][1].tolist() == [1.0, 2.0]
        for k, v in m.state_dict().items():
            np.testing.assert_array_equal(got["model"][k], v)
        fresh = nn.Linear(3, 2)
        fresh.load_state_dict(got["model"])
        opt2 = ar.optim.AdamW(fresh.parameters(), lr=1e-2)
        opt2.load_state_dict(got["optimizer"])
    with pytest.raises(TypeError, match="never pickles"):
        ar.save({"f": object()}, io.BytesIO())
    flat = tmp_path / "flat.safetensors"
    ar.save(m, flat)  # a Module or a flat dict still loads as named arrays
    assert list(ar.load(flat)) == ["weight", "bias"]


def test_first_backward_keeps_freed_memory_unless_opted_out(monkeypatch):
    from attnrs import autograd, memory

    calls = []
    monkeypatch.setattr(memory, "retain_freed_memory", lambda: calls.append(1) or True)
    monkeypatch.setattr(autograd, "_memory_kept", False)
    x = ar.ones(2, requires_grad=True)
    (x * 2).sum().backward()
    (x * 2).sum().backward()
    assert calls == [1]  # once per process, on the first backward
    monkeypatch.setattr(autograd, "_memory_kept", False)
    monkeypatch.setenv("ATTNRS_RETAIN_FREED_MEMORY", "0")
    (x * 2).sum().backward()
    assert calls == [1]


# --- nn.Transformer family -------------------------------------------------------------------


def test_transformer_layers_names_defaults_and_formulas():
    layer = nn.TransformerEncoderLayer(8, 2)
    assert layer.self_attn.batch_first is False and layer.linear1.weight.shape == (2048, 8)
    assert layer.dropout.p == 0.1 and not layer.norm_first
    names = list(nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2).state_dict())
    assert names[:4] == ["layers.0.self_attn.in_proj_weight", "layers.0.self_attn.in_proj_bias",
                         "layers.0.self_attn.out_proj.weight", "layers.0.self_attn.out_proj.bias"]  # fmt: skip
    assert "layers.1.norm2.bias" in names and "layers.0.linear2.weight" in names
    ar.manual_seed(0)
    enc = nn.TransformerEncoderLayer(8, 2, 16).eval()
    x = ar.tensor(rand(5, 3, 8))  # (S, B, E)
    sa = enc.self_attn(x, x, x, need_weights=False)[0]
    y = enc.norm1(x + sa)  # post-norm: norm(x + sublayer(x))
    want = enc.norm2(y + enc.linear2(F.relu(enc.linear1(y))))
    np.testing.assert_allclose(enc(x).numpy(), want.numpy(), atol=1e-6)
    dec_names = list(nn.TransformerDecoderLayer(8, 2, 16).state_dict())
    assert dec_names[4:6] == ["multihead_attn.in_proj_weight", "multihead_attn.in_proj_bias"]
    assert "norm3.weight" in dec_names


def test_transformer_masks_causal_and_padding():
    ar.manual_seed(1)
    m = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16,
                       batch_first=True).eval()  # fmt: skip
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    assert mask.numpy().tolist()[1] == [0.0, 0.0, -np.inf, -np.inf]
    src, tgt = rand(2, 6, 8), rand(2, 4, 8)
    kpm = np.zeros((2, 6), bool)
    kpm[0, 4:] = True
    out = m(ar.tensor(src), ar.tensor(tgt), tgt_mask=mask, src_key_padding_mask=kpm, memory_key_padding_mask=kpm)
    tgt2, src2 = tgt.copy(), src.copy()
    tgt2[:, 2:] = rand(2, 2, 8)  # future target steps
    src2[0, 4:] = rand(2, 8)  # padded source steps
    out2 = m(ar.tensor(src2), ar.tensor(tgt2), tgt_mask=mask, src_key_padding_mask=kpm,
             memory_key_padding_mask=kpm)  # fmt: skip
    np.testing.assert_allclose(out.numpy()[:, :2], out2.numpy()[:, :2], atol=1e-5)
    assert not np.allclose(out.numpy()[:, 2:], out2.numpy()[:, 2:])
    boolmask = np.triu(np.ones((4, 4), bool), 1)  # True = not allowed, same as the -inf mask
    out3 = m(ar.tensor(src), ar.tensor(tgt), tgt_mask=boolmask, src_key_padding_mask=kpm,
             memory_key_padding_mask=kpm)  # fmt: skip
    np.testing.assert_allclose(out3.numpy(), out.numpy(), atol=1e-5)
    m.train()
    loss = ((m(ar.tensor(src), ar.tensor(tgt), tgt_mask=mask) - ar.tensor(tgt)) ** 2).mean()
    loss.backward()
    assert all(p.grad is not None for p in m.parameters())
