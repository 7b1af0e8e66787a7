"""More of PyTorch's documented behaviour (issue 17): integer sums are int64,
cross-entropy with probability targets and with weight + label smoothing, the pad modes,
einsum's ``...``, MultiStepLR / ExponentialLR / ReduceLROnPlateau and ``maximize=``.

Each expected value is the formula PyTorch documents, written out in NumPy here.
"""

from __future__ import annotations

import numpy as np
import pytest

import attnrs as ar
from attnrs import nn
from attnrs.optim.lr_scheduler import ExponentialLR, MultiStepLR, ReduceLROnPlateau

F = ar.F
RNG = np.random.default_rng(1717)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def log_softmax(x, axis):
    m = x.max(axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis, keepdims=True))


def numeric_grad(f, x, eps=1e-3):
    """Central differences of the scalar ``f`` at ``x`` (float64)."""
    x = x.astype(np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        hi, lo = x.copy(), x.copy()
        hi[i] += eps
        lo[i] -= eps
        g[i] = (f(hi) - f(lo)) / (2 * eps)
    return g


# --- integer reductions ------------------------------------------------------------------
def test_integer_and_bool_sums_are_exact_int64():
    big = 2**40 + 1  # not representable in float32
    t = ar.tensor([[1, 2], [3, big]])
    s = t.sum()
    assert s.dtype == ar.int64 and s.item() == 6 + big
    assert t.sum(0).tolist() == [4, 2 + big] and t.sum(dim=1, keepdim=True).shape == (2, 1)
    assert ar.sum(t.int()).dtype == ar.int64  # int32 sums to int64 too, as in PyTorch
    mask = t > 1
    assert mask.sum().dtype == ar.int64 and mask.sum().item() == 3
    assert ar.tensor([1.5, 2.0]).sum().dtype == ar.float32


# --- cross-entropy -----------------------------------------------------------------------
def test_cross_entropy_with_probability_targets():
    x, p = rand(6, 5), RNG.random((6, 5)).astype(np.float32)
    p /= p.sum(1, keepdims=True)
    w = np.array([1.0, 2.0, 0.5, 1.5, 3.0], np.float32)
    eps = 0.2
    ps = p * (1 - eps) + eps / 5
    per = -(log_softmax(x, 1) * ps * w).sum(1)  # -Σ_c w_c·t_c·log softmax(x)_c
    for red, want in [("none", per), ("sum", per.sum()), ("mean", per.sum() / 6)]:  # mean over samples
        got = F.cross_entropy(ar.tensor(x), ar.tensor(p), weight=w, label_smoothing=eps, reduction=red)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
    xt = ar.tensor(x, requires_grad=True)
    F.cross_entropy(xt, ar.tensor(p)).backward()
    f = lambda a: float(-(log_softmax(a, 1) * p).sum(1).mean())
    np.testing.assert_allclose(xt.grad.numpy(), numeric_grad(f, x), atol=1e-4)
    # (N, C, d) input: classes on axis 1, the mean over N·d positions
    x3, p3 = rand(2, 4, 3), RNG.random((2, 4, 3)).astype(np.float32)
    got = nn.CrossEntropyLoss()(ar.tensor(x3), ar.tensor(p3))
    np.testing.assert_allclose(got.item(), -(log_softmax(x3, 1) * p3).sum(1).mean(), rtol=1e-5)


@pytest.mark.parametrize("shape", [(7, 5), (2, 5, 3)])
def test_cross_entropy_with_weight_and_label_smoothing(shape):
    x = rand(*shape)
    n_pos = int(np.prod(shape)) // 5
    t = RNG.integers(0, 5, size=n_pos)
    t[1] = -100  # ignored
    w = np.array([1.0, 2.0, 0.5, 1.5, 3.0], np.float32)
    eps = 0.15
    flat = np.moveaxis(x, 1, -1).reshape(-1, 5) if x.ndim == 3 else x
    lp = log_softmax(flat, 1)
    keep = t != -100
    safe = np.where(keep, t, 0)
    wt = np.where(keep, w[safe], 0.0)
    nll = -lp[np.arange(len(t)), safe] * wt
    smooth = -(lp * w).sum(1) * keep
    want = {  # (1−ε)·nll + ε/C·smooth; "mean" divides both by the summed target weights
        "none": (1 - eps) * nll + eps / 5 * smooth,
        "sum": (1 - eps) * nll.sum() + eps / 5 * smooth.sum(),
        "mean": ((1 - eps) * nll.sum() + eps / 5 * smooth.sum()) / wt.sum(),
    }
    tgt = t.reshape((shape[0],) + shape[2:])
    for red, expected in want.items():
        got = F.cross_entropy(ar.tensor(x), ar.tensor(tgt), weight=w, label_smoothing=eps, reduction=red)
        np.testing.assert_allclose(got.numpy().reshape(-1) if red == "none" else got.item(), expected,
                                   rtol=1e-5, atol=1e-6)  # fmt: skip


# --- pad modes ---------------------------------------------------------------------------
def test_pad_modes_match_their_definitions():
    x = np.arange(10, dtype=np.float32).reshape(2, 5)
    cases = {  # what PyTorch's documentation shows for each mode on the last dim, pad (2, 3)
        "reflect": [2, 1, 0, 1, 2, 3, 4, 3, 2, 1],
        "replicate": [0, 0, 0, 1, 2, 3, 4, 4, 4, 4],
        "circular": [3, 4, 0, 1, 2, 3, 4, 0, 1, 2],
    }
    for mode, idx in cases.items():
        got = F.pad(ar.tensor(x), (2, 3), mode=mode)
        np.testing.assert_array_equal(got.numpy(), x[:, idx])
    y = F.pad(ar.tensor(x[None]), (1, 1, 1, 0), mode="replicate")  # last two dims
    np.testing.assert_array_equal(y.numpy()[0], np.pad(x, ((1, 0), (1, 1)), mode="edge"))
    np.testing.assert_array_equal(F.pad(ar.tensor(x), (-1, 2), value=9.0).numpy(),
                                  np.pad(x[:, 1:], ((0, 0), (0, 2)), constant_values=9.0))  # fmt: skip
    with pytest.raises(ValueError, match="reflect"):
        F.pad(ar.tensor(x), (5, 0), mode="reflect")  # widths must stay below the dim


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_gradient_adds_back_every_copy(mode):
    x = rand(2, 3, 4)
    w = rand(2, 3 + 3, 4 + 3)
    xt = ar.tensor(x, requires_grad=True)
    (F.pad(xt, (1, 2, 2, 1), mode=mode) * ar.tensor(w)).sum().backward()
    np_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    f = lambda a: float((np.pad(a, ((0, 0), (2, 1), (1, 2)), mode=np_mode) * w).sum())
    np.testing.assert_allclose(xt.grad.numpy(), numeric_grad(f, x), atol=1e-3)


# --- einsum with ... ----------------------------------------------------------------------
def test_einsum_ellipsis_broadcasts_like_pytorch():
    a, b = rand(2, 3, 4, 5), rand(2, 3, 5, 6)
    np.testing.assert_allclose(ar.einsum("...ij,...jk->...ik", ar.tensor(a), ar.tensor(b)).numpy(),
                               a @ b, rtol=1e-5, atol=1e-5)  # fmt: skip
    np.testing.assert_allclose(ar.einsum("...ij,jk", ar.tensor(a), ar.tensor(b[0, 0])).numpy(),
                               a @ b[0, 0], rtol=1e-5, atol=1e-5)  # fmt: skip
    u, v = rand(3, 1, 4), rand(2, 4)  # size-1 '...' dims broadcast
    np.testing.assert_allclose(ar.einsum("...i,...i->...", ar.tensor(u), ar.tensor(v)).numpy(),
                               (u * v).sum(-1), rtol=1e-5, atol=1e-6)  # fmt: skip
    assert ar.einsum("i...->...", ar.tensor(rand(3, 2, 4))).shape == (2, 4)
    ut, vt = ar.tensor(u, requires_grad=True), ar.tensor(v, requires_grad=True)
    ar.einsum("...i,...i->...", ut, vt).sum().backward()
    np.testing.assert_allclose(ut.grad.numpy(), np.broadcast_to(v.sum(0), (3, 1, 4)), rtol=1e-5)
    np.testing.assert_allclose(vt.grad.numpy(), np.broadcast_to(u, (3, 2, 4)).sum(0), rtol=1e-5)
    with pytest.raises(ValueError, match=r"\.\.\."):
        ar.einsum("..i,i", ar.tensor(u), ar.tensor(v[0]))


# --- schedulers and maximize -------------------------------------------------------------
def _sgd(lr=0.5):
    return ar.optim.SGD([nn.Parameter(ar.zeros(2))], lr=lr)


def test_multistep_and_exponential_lr():
    opt = _sgd()
    sched = MultiStepLR(opt, milestones=[3, 7, 7], gamma=0.5)
    lrs = []
    for _ in range(9):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    # base·γ^(milestones <= t): a milestone listed twice decays twice
    assert lrs == [0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 0.0625, 0.0625, 0.0625]
    opt = _sgd()
    sched = ExponentialLR(opt, gamma=0.9)
    for t in range(1, 5):
        opt.step()
        sched.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(0.5 * 0.9**t)


def test_reduce_lr_on_plateau_patience_cooldown_and_floor():
    opt = _sgd(lr=1.0)
    sched = ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=0.2)
    seen = []
    for m in [5, 4, 4, 4, 4, 4, 4, 4, 4, 4]:
        sched.step(m)
        seen.append(opt.param_groups[0]["lr"])
    # 2 bad epochs (> patience=1) halve lr; the cooldown epoch is not counted; the floor holds
    assert seen == [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2]
    opt = _sgd(lr=1.0)
    sched = ReduceLROnPlateau(opt, mode="max", patience=0, threshold=0.5, threshold_mode="abs")
    for m in [1.0, 1.4, 2.0]:  # +0.4 is not an improvement by more than 0.5; +1.0 is
        sched.step(m)
    assert sched.get_last_lr() == [pytest.approx(0.1)]
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(opt, factor=1.0)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW"])
def test_maximize_is_the_same_step_on_the_negated_gradient(name):
    kw = {"lr": 0.05, "weight_decay": 0.1} | ({"momentum": 0.9} if name == "SGD" else {})
    start = rand(4)
    a, b = nn.Parameter(ar.tensor(start)), nn.Parameter(ar.tensor(start))
    opt_a = getattr(ar.optim, name)([a], maximize=True, **kw)
    opt_b = getattr(ar.optim, name)([b], **kw)
    for _ in range(4):
        opt_a.zero_grad()
        opt_b.zero_grad()
        (-((a - 0.3) ** 2).sum()).backward()  # maximize f ...
        (((b - 0.3) ** 2).sum()).backward()  # ... is minimize −f
        opt_a.step()
        opt_b.step()
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert opt_a.param_groups[0]["maximize"] is True


def test_nll_loss_on_class_axis_one_with_extra_dims():
    lp = log_softmax(rand(3, 6, 4), 1)  # (N, C, T): classes on axis 1
    t = RNG.integers(0, 6, size=(3, 4))
    t[0, 2] = -100
    picked = -np.take_along_axis(lp, t.clip(0)[:, None, :], axis=1)[:, 0, :]
    keep = t != -100
    got = F.nll_loss(ar.tensor(lp), ar.tensor(t), reduction="none")
    np.testing.assert_allclose(got.numpy(), picked * keep, rtol=1e-6)
    np.testing.assert_allclose(F.nll_loss(ar.tensor(lp), ar.tensor(t)).item(), (picked * keep).sum() / keep.sum(),
                               rtol=1e-6)  # fmt: skip


def test_integer_arithmetic_stays_integer_with_numpy_and_tensor_operands():
    count = ar.tensor(5)
    count += ar.tensor([[1, 0], [1, 1]]).sum()  # a running token count, as training loops keep
    assert count.dtype == ar.int64 and count.item() == 8
    assert (count + np.int64(2)).dtype == ar.int64 and (count * np.arange(2)).dtype == ar.int64
    assert (ar.tensor(1.5) + np.int64(3)).dtype == ar.float32 and (count / 2).dtype == ar.float32
