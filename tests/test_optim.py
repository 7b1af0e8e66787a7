"""optim: SGD / Adam / AdamW steps against float64 reference formulas, groups, state, schedules."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import attnrs as ar
from attnrs import optim

STEPS = 5


def make_problem(seed=0, shapes=((3, 4), (4,))):
    """Parameters and a fixed gradient per step (so the reference needs no autograd)."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(STEPS)]
    return params, grads


def run(opt_cls, params, grads, **kw):
    ts = [ar.tensor(p, requires_grad=True) for p in params]
    opt = opt_cls(ts, **kw)
    for step_grads in grads:
        for t, g in zip(ts, step_grads):
            t.grad = ar.tensor(g)
        opt.step()
    return [t.numpy().astype(np.float64) for t in ts], opt


# --- float64 references (PyTorch's documented algorithms) -------------------------------


def ref_sgd(params, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    ps = [p.astype(np.float64) for p in params]
    bufs = [None] * len(ps)
    for step_grads in grads:
        for i, g in enumerate(step_grads):
            g = g.astype(np.float64) + weight_decay * ps[i]
            if momentum:
                bufs[i] = g.copy() if bufs[i] is None else momentum * bufs[i] + (1 - dampening) * g
                g = g + momentum * bufs[i] if nesterov else bufs[i]
            ps[i] = ps[i] - lr * g
    return ps


def ref_adam(params, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    b1, b2 = betas
    ps = [p.astype(np.float64) for p in params]
    m = [np.zeros_like(p) for p in ps]
    v = [np.zeros_like(p) for p in ps]
    for t, step_grads in enumerate(grads, start=1):
        for i, g in enumerate(step_grads):
            g = g.astype(np.float64)
            if decoupled:
                ps[i] = ps[i] * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * ps[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            mhat = m[i] / (1 - b1**t)
            vhat = v[i] / (1 - b2**t)
            ps[i] = ps[i] - lr * mhat / (np.sqrt(vhat) + eps)
    return ps


@pytest.mark.parametrize(
    "kw",
    [
        {"lr": 0.1},
        {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "dampening": 0.3},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
        {"lr": 0.1, "weight_decay": 0.1},
    ],
)
def test_sgd_matches_reference(kw):
    params, grads = make_problem()
    got, _ = run(optim.SGD, params, grads, **kw)
    for a, b in zip(got, ref_sgd(params, grads, **kw)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kw", [{"lr": 1e-2}, {"lr": 3e-2, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}]
)
def test_adam_matches_reference(kw):
    params, grads = make_problem(1)
    got, opt = run(optim.Adam, params, grads, **kw)
    for a, b in zip(got, ref_adam(params, grads, **kw)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert opt.state[next(iter(opt.state))]["step"] == STEPS


@pytest.mark.parametrize(
    "kw", [{"lr": 1e-2}, {"lr": 3e-2, "betas": (0.85, 0.95), "eps": 1e-7, "weight_decay": 0.5}]
)
def test_adamw_matches_reference(kw):
    params, grads = make_problem(2)
    got, _ = run(optim.AdamW, params, grads, **kw)
    full = dict(weight_decay=1e-2, **kw) if "weight_decay" not in kw else kw
    for a, b in zip(got, ref_adam(params, grads, decoupled=True, **full)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_param_groups_and_missing_grads():
    params, grads = make_problem(3)
    ts = [ar.tensor(p, requires_grad=True) for p in params]
    opt = optim.SGD([{"params": [ts[0]], "lr": 0.5}, {"params": [ts[1]]}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.1]
    ts[0].grad = ar.tensor(grads[0][0])  # ts[1] has no grad: skipped
    opt.step()
    np.testing.assert_allclose(ts[0].numpy(), params[0] - 0.5 * grads[0][0], rtol=1e-6)
    np.testing.assert_array_equal(ts[1].numpy(), params[1])
    opt.zero_grad(set_to_none=False)
    assert np.all(ts[0].grad.numpy() == 0)
    opt.zero_grad()
    assert ts[0].grad is None
    assert "group 0: 1 params" in repr(opt)


@pytest.mark.parametrize(
    "cls, kw",
    [
        (optim.SGD, {"lr": 0.1, "momentum": 0.9}),
        (optim.Adam, {"lr": 0.01}),
        (optim.AdamW, {"lr": 0.01}),
    ],
)
def test_state_dict_resume_is_exact(cls, kw):
    params, grads = make_problem(4)
    full, _ = run(cls, params, grads, **kw)
    ts = [ar.tensor(p, requires_grad=True) for p in params]
    opt = cls(ts, **kw)
    for step_grads in grads[:2]:
        for t, g in zip(ts, step_grads):
            t.grad = ar.tensor(g)
        opt.step()
    sd = opt.state_dict()
    # JSON-able scalars + arrays only
    json.dumps(
        {
            "param_groups": sd["param_groups"],
            "scalars": {
                i: {k: v for k, v in s.items() if not isinstance(v, np.ndarray)}
                for i, s in sd["state"].items()
            },
        }
    )
    ts2 = [ar.tensor(t.numpy(), requires_grad=True) for t in ts]
    opt2 = cls(ts2, lr=123.0)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == kw["lr"]
    for step_grads in grads[2:]:
        for t, g in zip(ts2, step_grads):
            t.grad = ar.tensor(g)
        opt2.step()
    for a, b in zip(full, ts2):
        np.testing.assert_array_equal(a, b.numpy().astype(np.float64))


def test_load_state_dict_errors_leave_optimizer_untouched():
    ts = [ar.randn(3, requires_grad=True), ar.randn(2, requires_grad=True)]
    opt = optim.Adam(ts, lr=0.1)
    for t in ts:
        t.grad = ar.ones(*t.shape)
    opt.step()
    good = opt.state_dict()
    other = optim.Adam([ar.randn(3, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="parameters saved"):
        other.load_state_dict(good)
    bad = opt.state_dict()
    bad["state"][1]["exp_avg"] = np.zeros(5, np.float32)
    with pytest.raises(ar.ShapeError, match="exp_avg"):
        opt.load_state_dict(bad)
    bad = opt.state_dict()
    bad["param_groups"][0]["lr"] = float("nan")
    with pytest.raises(ValueError, match="lr"):
        opt.load_state_dict(bad)
    bad = opt.state_dict()
    bad["state"][7] = {}
    with pytest.raises(ValueError, match="parameter 7"):
        opt.load_state_dict(bad)
    with pytest.raises(ValueError):
        opt.load_state_dict({"state": {}})
    with pytest.raises(ValueError, match="groups"):
        opt.load_state_dict({"state": {}, "param_groups": []})
    after = opt.state_dict()
    assert after["param_groups"] == good["param_groups"]
    for i in good["state"]:
        assert np.array_equal(after["state"][i]["exp_avg"], good["state"][i]["exp_avg"])


def test_hyper_parameter_errors():
    p = [ar.randn(2, requires_grad=True)]
    nan, inf = float("nan"), float("inf")
    cases = [
        lambda: optim.SGD(p, lr=nan),
        lambda: optim.SGD(p, lr=-0.1),
        lambda: optim.SGD(p, lr=inf),
        lambda: optim.SGD(p, lr="fast"),
        lambda: optim.SGD(p, momentum=-0.5),
        lambda: optim.SGD(p, nesterov=True),
        lambda: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True),
        lambda: optim.SGD(p, weight_decay=nan),
        lambda: optim.Adam(p, lr=nan),
        lambda: optim.Adam(p, betas=(1.0, 0.999)),
        lambda: optim.Adam(p, betas=(0.9, -0.1)),
        lambda: optim.Adam(p, betas=(0.9,)),
        lambda: optim.AdamW(p, eps=0.0),
        lambda: optim.AdamW(p, weight_decay=-1.0),
        lambda: optim.AdamW([]),
        lambda: optim.SGD(p + p),
        lambda: optim.SGD([{"params": p, "lr": 0.1, "momentun": 0.9}]),
        lambda: optim.SGD([p[0] * 2.0]),  # non-leaf
    ]
    for i, call in enumerate(cases):
        with pytest.raises(ValueError):
            call()
            pytest.fail(f"case {i} did not raise")
    with pytest.raises(TypeError):
        optim.SGD([np.zeros(2)])
    with pytest.raises(TypeError):
        optim.SGD([{"lr": 0.1}])
    opt = optim.SGD(p, lr=0.1)
    opt.param_groups[0]["lr"] = nan  # a broken schedule is caught at step time
    p[0].grad = ar.ones(2)
    with pytest.raises(ValueError, match="lr"):
        opt.step()
    opt.param_groups[0]["lr"] = 0.1
    p[0].grad = ar.ones(3)
    with pytest.raises(ar.ShapeError):
        opt.step()


def test_step_on_readonly_parameter_array():
    data = np.ones(3, np.float32)
    data.setflags(write=False)
    t = ar.Tensor(data, requires_grad=True)
    t.grad = ar.ones(3)
    optim.SGD([t], lr=0.5).step()
    np.testing.assert_allclose(t.numpy(), 0.5)
    assert np.all(data == 1)


def test_closure_is_called():
    t = ar.tensor([1.0], requires_grad=True)
    opt = optim.SGD([t], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (t * t).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 1.0
    np.testing.assert_allclose(t.numpy(), [0.8])


# --- schedules ---------------------------------------------------------------------------


def lrs(sched, n):
    out = [sched.get_lr()[0]]
    for _ in range(n):
        sched.step()
        out.append(sched.optimizer.param_groups[0]["lr"])
    return out


def test_cosine_warmup_formula():
    opt = optim.AdamW([ar.randn(2, requires_grad=True)], lr=1.0)
    sched = optim.CosineWarmup(opt, warmup_steps=4, total_steps=12, min_lr=0.1)
    got = lrs(sched, 15)
    ref = []
    for t in range(16):
        if t < 4:
            ref.append((t + 1) / 4)
        else:
            q = min(1.0, (t - 4) / 8)
            ref.append(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * q)))
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert got[3] == 1.0 and got[12] == pytest.approx(0.1) and got[-1] == pytest.approx(0.1)
    no_warm = lrs(optim.CosineWarmup(optim.SGD([ar.randn(1, requires_grad=True)], lr=2.0), 0, 4), 4)
    np.testing.assert_allclose(
        no_warm,
        [
            2.0,
            2 * 0.5 * (1 + math.cos(math.pi / 4)),
            1.0,
            2 * 0.5 * (1 + math.cos(3 * math.pi / 4)),
            0.0,
        ],
        atol=1e-12,
    )


def test_step_lr_and_groups():
    opt = optim.SGD(
        [
            {"params": [ar.randn(1, requires_grad=True)], "lr": 1.0},
            {"params": [ar.randn(1, requires_grad=True)], "lr": 0.5},
        ],
        lr=0.1,
    )
    sched = optim.StepLR(opt, step_size=3, gamma=0.5)
    got = lrs(sched, 7)
    np.testing.assert_allclose(got, [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25])
    assert sched.get_last_lr() == [0.25, 0.125]


def test_scheduler_state_dict():
    opt = optim.SGD([ar.randn(1, requires_grad=True)], lr=1.0)
    s = optim.CosineWarmup(opt, 2, 10)
    for _ in range(5):
        s.step()
    sd = s.state_dict()
    json.dumps(sd)
    opt2 = optim.SGD([ar.randn(1, requires_grad=True)], lr=1.0)
    s2 = optim.CosineWarmup(opt2, 2, 10)
    s2.load_state_dict(sd)
    assert s2.last_step == 5 and opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for bad in [
        {},
        {"last_step": -1, "base_lrs": [1.0]},
        {"last_step": 1, "base_lrs": [1.0, 2.0]},
        {"last_step": 1, "base_lrs": [float("nan")]},
    ]:
        with pytest.raises(ValueError):
            s2.load_state_dict(bad)


def test_scheduler_errors():
    opt = optim.SGD([ar.randn(1, requires_grad=True)], lr=1.0)
    for call in [
        lambda: optim.CosineWarmup(opt, 5, 4),
        lambda: optim.CosineWarmup(opt, -1, 4),
        lambda: optim.CosineWarmup(opt, 0, 0),
        lambda: optim.CosineWarmup(opt, 1, 4, min_lr=float("nan")),
        lambda: optim.StepLR(opt, 0),
        lambda: optim.StepLR(opt, 2, gamma=float("inf")),
    ]:
        with pytest.raises(ValueError):
            call()
    with pytest.raises(TypeError):
        optim.StepLR("sgd", 2)
