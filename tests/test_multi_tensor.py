"""Multi-tensor kernels: the one-call-per-group Adam/AdamW step (bitwise equal to the
former one-call-per-parameter path), gradient-norm clipping against a float64 NumPy
reference, binding validation, every SIMD level in a subprocess, 1 vs 2 threads."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _helpers import run_under_isa
from hypothesis import given, settings
from hypothesis import strategies as st

import attnrs as ar
from attnrs import _core, ops, optim
from attnrs.nn.utils import clip_grad_norm_

# A 0-d parameter, odd sizes, 1, primes, an empty tensor, and tensors that cross the 32 Ki-element chunks.
SHAPES = [(), (1,), (7, 3), (0, 3), (37,), (4099,), (129, 255), (5,), (32768 + 5,)]
STEPS = 5


def per_parameter_step(opt, decoupled):
    """The optimizer's former step: one ``ops.adamw_step`` per parameter, Adam's L2
    term folded into the gradient with NumPy."""
    for group in opt.param_groups:
        for p in group["params"]:
            if p.grad is None:
                continue
            g = np.ascontiguousarray(p.grad._array, dtype=np.float32)
            state = opt.state.setdefault(p, {})
            if not state:
                state["step"] = 0
                state["exp_avg"] = np.zeros_like(p._array)
                state["exp_avg_sq"] = np.zeros_like(p._array)
            state["step"] += 1
            wd = float(group["weight_decay"])
            if wd and not decoupled:
                g = g + np.float32(wd) * p._array
            b1, b2 = group["betas"]
            ops.adamw_step(p._array, g, state["exp_avg"], state["exp_avg_sq"], lr=float(group["lr"]),
                           beta1=float(b1), beta2=float(b2), eps=float(group["eps"]),
                           weight_decay=wd if decoupled else 0.0, step=int(state["step"]))  # fmt: skip


def make_optimizer(cls, seed):
    rng = np.random.default_rng(seed)
    ts = [ar.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in SHAPES]
    half = len(ts) // 2
    groups = [
        {"params": ts[:half], "lr": 3e-2, "betas": (0.8, 0.95), "weight_decay": 0.3, "eps": 1e-6},
        {"params": ts[half:], "weight_decay": 0.0 if cls is optim.AdamW else 0.05},
    ]
    return ts, cls(groups, lr=1e-2)


def set_grads(ts, rng, k):
    """Step k's gradients: some parameters miss some steps, so step counts differ
    within a group; the (7, 3) parameter gets a non-contiguous float64 gradient."""
    for i, t in enumerate(ts):
        g = rng.standard_normal(t.shape)
        g = np.asfortranarray(g) if i == 2 else g.astype(np.float32)
        skip = (i + k) % 3 == 0 and i % 2 == 1
        t.grad = None if skip else ar.Tensor(g)


def run_steps(cls, seed, step_fn, steps=STEPS):
    ts, opt = make_optimizer(cls, seed)
    rng = np.random.default_rng(seed + 1)
    for k in range(steps):
        set_grads(ts, rng, k)
        step_fn(opt)
    return ts, opt


def snapshot(ts, opt):
    out = {}
    for i, t in enumerate(ts):
        out[f"p{i}"] = t._array.copy()
        s = opt.state.get(t, {})
        if s:
            out[f"m{i}"], out[f"v{i}"], out[f"t{i}"] = (
                s["exp_avg"],
                s["exp_avg_sq"],
                np.array(s["step"]),
            )
    return out


def assert_bitwise(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k


@pytest.mark.parametrize("cls", [optim.AdamW, optim.Adam])
def test_group_step_is_bitwise_the_per_parameter_path(cls):
    new = snapshot(*run_steps(cls, 3, lambda o: o.step()))
    old = snapshot(*run_steps(cls, 3, lambda o: per_parameter_step(o, cls.decoupled)))
    steps = {int(v) for k, v in new.items() if k.startswith("t")}
    assert len(steps) > 1  # the schedule really gives different step counts
    assert_bitwise(new, old)


def test_group_step_bitwise_for_1_and_2_threads():
    before = ar.get_num_threads()
    try:
        ar.set_num_threads(1)
        one = snapshot(*run_steps(optim.AdamW, 5, lambda o: o.step()))
        ar.set_num_threads(2)
        two = snapshot(*run_steps(optim.AdamW, 5, lambda o: o.step()))
    finally:
        ar.set_num_threads(before)
    assert_bitwise(one, two)


@pytest.mark.parametrize("cls", [optim.AdamW, optim.Adam])
def test_resume_with_uneven_step_counts_is_exact(cls):
    full = snapshot(*run_steps(cls, 7, lambda o: o.step(), steps=6))
    ts, opt = run_steps(cls, 7, lambda o: o.step(), steps=3)
    sd = opt.state_dict()
    ts2 = [ar.tensor(t.numpy(), requires_grad=True) for t in ts]
    half = len(ts2) // 2
    opt2 = cls([{"params": ts2[:half]}, {"params": ts2[half:]}], lr=5.0)
    opt2.load_state_dict(sd)
    rng = np.random.default_rng(8)
    for k in range(6):  # replay the same gradient schedule, applying the last 3 steps
        set_grads(ts2, rng, k)
        if k >= 3:
            opt2.step()
    assert_bitwise(full, snapshot(ts2, opt2))


def run_fast_events(cls, general):
    """Nine steps of two groups through every event that sends a group's step back to
    the general path: a parameter without a gradient, a replaced (Fortran-ordered)
    parameter array, a state dict loaded (new group dicts), a read-only parameter
    array, a float64 gradient; an lr schedule throughout. ``general``: the fast path
    off. Returns the snapshot and how each group step went (True: fast path)."""
    rng = np.random.default_rng(11)
    ts = [ar.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True) for s in SHAPES]
    opt = cls([{"params": ts[:4], "weight_decay": 0.1}, {"params": ts[4:]}], lr=1e-2)
    taken = []
    fast_step = opt._fast_step

    def spy(group, fast):
        ok = False if general else fast_step(group, fast)
        taken.append(ok)
        return ok

    opt._fast_step = spy
    sched = optim.StepLR(opt, 2, 0.5)
    for k in range(9):
        for t in ts:
            t.grad = ar.tensor(rng.standard_normal(t.shape).astype(np.float32))
        if k == 2:
            ts[5].grad = None
        if k == 3:
            ts[1]._array = np.asfortranarray(ts[1]._array)
        if k == 5:
            opt.load_state_dict(opt.state_dict())
        if k == 6:
            ts[6]._array.flags.writeable = False
        if k == 7:
            ts[2].grad._array = ts[2].grad._array.astype(np.float64)
        opt.step()
        sched.step()
    return snapshot(ts, opt), taken, opt


@pytest.mark.parametrize("cls", [optim.AdamW, optim.Adam])
def test_fast_group_step_is_bitwise_the_general_path(cls):
    fast, taken, opt = run_fast_events(cls, general=False)
    general, _, _ = run_fast_events(cls, general=True)
    assert_bitwise(fast, general)
    assert taken.count(True) >= 6 and False in taken  # both paths really ran
    assert all(type(s["step"]) is int for s in opt.state.values())
    # After the read-only array and the float64 gradient both groups keep the general path.
    assert taken[-2:] == [False, False]


def test_fast_group_step_keeps_the_general_errors():
    ts, opt = make_optimizer(optim.AdamW, 4)
    for _ in range(3):
        for t in ts:
            t.grad = ar.tensor(np.ones(t.shape, np.float32))
        opt.step()
    ts[3].grad = ar.tensor(np.ones((2, 2), np.float32))
    before = [t._array.copy() for t in ts]
    with pytest.raises(ar.ShapeError, match="AdamW.step: gradient shape"):
        opt.step()
    assert all(np.array_equal(a, t._array) for a, t in zip(before, ts[:2]))


# --- gradient clipping -------------------------------------------------------------------


def grads_params(shapes, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    ps = []
    for s in shapes:
        p = ar.zeros(*s, requires_grad=True)
        p.grad = ar.tensor((rng.standard_normal(s) * scale).astype(np.float32))
        ps.append(p)
    return ps


def numpy_clip(grads, max_norm):
    """The float64 NumPy reference: total norm, then ``g * float32(coef)`` when clipped."""
    total = float(np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads)))
    coef = max_norm / (total + 1e-6)
    return total, [g * np.float32(coef) if coef < 1.0 else g.copy() for g in grads]


shape_lists = st.lists(
    st.one_of(
        st.tuples(st.integers(0, 40)),
        st.tuples(st.integers(1, 13), st.sampled_from([1, 2, 3, 5, 16, 17, 31, 127])),
        st.just((32768 + 3,)),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=40, deadline=None)
@given(shapes=shape_lists, max_norm=st.sampled_from([0.0, 0.5, 1.0, 1e6]), seed=st.integers(0, 99))
def test_clip_matches_float64_reference(shapes, max_norm, seed):
    ps = grads_params(shapes, seed, scale=3.0)
    before = [p.grad._array.copy() for p in ps]
    want_total, want = numpy_clip(before, max_norm)
    total = clip_grad_norm_(ps, max_norm)
    assert total == pytest.approx(want_total, rel=1e-12, abs=1e-300)
    got_coef = max_norm / (total + 1e-6)
    for p, b, w in zip(ps, before, want):
        if got_coef < 1.0:
            np.testing.assert_array_equal(p.grad._array, b * np.float32(got_coef))
        np.testing.assert_allclose(p.grad._array, w, rtol=1e-6, atol=0)


def test_clip_norm_is_bitwise_for_1_and_2_threads_and_matches_the_numpy_path():
    ps = grads_params([(129, 255), (32768 + 5,), (7,), (3, 32768)], 1)
    grads = [p.grad._array for p in ps]
    before = ar.get_num_threads()
    try:
        ar.set_num_threads(1)
        one = _core.total_norm2(grads)
        ar.set_num_threads(2)
        two = _core.total_norm2(grads)
    finally:
        ar.set_num_threads(before)
    assert one.hex() == two.hex()
    # The NumPy path (a float64 gradient array forces it) agrees to f64 rounding.
    slow = clip_grad_norm_([ar.Tensor(np.zeros(1), requires_grad=True)] + ps, 1e9)
    assert slow == pytest.approx(one, rel=1e-12)


def test_clip_semantics_kept():
    ps = grads_params([(3, 4), (5,)], 2)
    ps[0].grad._array[1, 2] = np.inf
    with pytest.raises(RuntimeError, match="inf"):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    assert clip_grad_norm_(ps, 1.0) == float("inf")
    ps[0].grad._array[1, 2] = np.nan
    with pytest.raises(RuntimeError, match="nan"):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    # Below max_norm: gradients untouched; a parameter without a grad is skipped.
    ps = grads_params([(3,)], 3)
    g = ps[0].grad._array.copy()
    total = clip_grad_norm_(ps + [ar.zeros(2, requires_grad=True)], 100.0)
    assert total == pytest.approx(np.linalg.norm(g.astype(np.float64)), rel=1e-12)
    np.testing.assert_array_equal(ps[0].grad._array, g)
    # The same gradient array twice: counted and scaled twice, as the NumPy path does.
    p = grads_params([(4,)], 4)[0]
    q = ar.zeros(4, requires_grad=True)
    q.grad = p.grad
    g = p.grad._array.astype(np.float64)
    assert clip_grad_norm_([p, q], 1e-3) == pytest.approx(np.sqrt(2 * (g**2).sum()), rel=1e-12)


# --- binding validation ------------------------------------------------------------------


def adam_args(n=2):
    def arrs():
        return [np.zeros((3, 2), np.float32) for _ in range(n)]

    return [arrs(), arrs(), arrs(), arrs(), [1] * n]


HP = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=True)


@pytest.mark.parametrize(
    "edit, exc, match",
    [
        (lambda a: a[1].__setitem__(1, np.zeros((3, 2))), ar.DTypeError, r"grads\[1\] must be a float32 ndarray; got dtype float64"),
        (lambda a: a[0].__setitem__(0, [1.0]), ar.DTypeError, r"params\[0\] must be a float32 ndarray; got list"),
        (lambda a: a[2].__setitem__(1, np.zeros((2, 3), np.float32).T), ar.ShapeError, r"exp_avgs\[1\] must be C-contiguous"),
        (lambda a: a[3].__setitem__(0, np.zeros((2, 3), np.float32)), ar.ShapeError, r"exp_avg_sqs\[0\] has shape \[2, 3\], params\[0\] has shape \[3, 2\]"),
        (lambda a: a[1].__setitem__(1, np.zeros(6, np.float32)), ar.ShapeError, r"grads\[1\] has shape"),
        (lambda a: a[1].pop(), ar.ShapeError, r"grads has 1 entries, params has 2"),
        (lambda a: a[4].__setitem__(1, 0), ValueError, r"steps\[1\] must be >= 1"),
        (lambda a: a[0][1].setflags(write=False), ValueError, r"params\[1\] is read-only"),
        (lambda a: a[2].__setitem__(0, a[0][0]), ValueError, r"exp_avgs\[0\] shares memory"),
        (lambda a: a[1].__setitem__(1, a[0][1]), ValueError, r"grads\[1\] shares memory"),
    ],
)  # fmt: skip
def test_adam_multi_step_validation(edit, exc, match):
    args = adam_args()
    edit(args)
    with pytest.raises(exc, match=match):
        _core.adam_multi_step(*args, **HP)


def test_adam_multi_step_rejects_bad_hyper_parameters_and_accepts_empty():
    with pytest.raises(ValueError, match="beta1"):
        _core.adam_multi_step(*adam_args(), **{**HP, "beta1": 1.0})
    _core.adam_multi_step([], [], [], [], [], **HP)
    a = adam_args()
    before = [x.copy() for x in a[0]]
    _core.adam_multi_step(*a, **HP)  # zero gradients: p·(1 − lr·0) = p
    for x, y in zip(a[0], before):
        np.testing.assert_array_equal(x, y)


def test_norm_and_scale_validation():
    x = np.ones(4, np.float32)
    with pytest.raises(
        ar.DTypeError, match=r"total_norm2: xs\[1\] must be a float32 ndarray; got dtype float64"
    ):
        _core.total_norm2([x, np.ones(3)])
    with pytest.raises(ar.ShapeError, match=r"xs\[0\] must be C-contiguous"):
        _core.total_norm2([np.ones((4, 4), np.float32)[:, 1]])
    assert _core.total_norm2([x, x]) == pytest.approx(np.sqrt(8.0))  # read twice is fine
    assert _core.total_norm2([]) == 0.0
    with pytest.raises(ValueError, match=r"scale_: xs\[1\] shares memory"):
        _core.scale_([x, x], 0.5)
    ro = np.ones(3, np.float32)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match=r"scale_: xs\[0\] is read-only"):
        _core.scale_([ro], 0.5)
    y = np.arange(5, dtype=np.float32)
    _core.scale_([x, y], 0.1)
    np.testing.assert_array_equal(y, np.arange(5, dtype=np.float32) * np.float32(0.1))
    # writable=True: also what scale_ needs, checked in the same call.
    assert _core.total_norm2([x, y], writable=True) == _core.total_norm2([x, y])
    with pytest.raises(ValueError, match=r"total_norm2: xs\[1\] shares memory"):
        _core.total_norm2([x, x], writable=True)
    with pytest.raises(ValueError, match=r"total_norm2: xs\[0\] is read-only"):
        _core.total_norm2([ro], writable=True)
    with pytest.raises(ar.DTypeError, match=r"total_norm2: xs\[0\] must be a float32"):
        _core.total_norm2([np.ones(3)], writable=True)


def test_clip_when_the_binding_refuses_the_fast_path():
    """Gradients the one-call check refuses take the former checks: a read-only one and a
    non-contiguous one go through NumPy (total in float64 sums of NumPy, so compare
    to that), distinct overlapping views keep the fast norm and scale_ names the overlap."""
    ps = grads_params([(3, 4), (5,)], 6)
    g0 = ps[0].grad._array.astype(np.float64)
    g1 = ps[1].grad._array.astype(np.float64)
    want = (float(np.sum(np.abs(g0) ** 2.0)) + float(np.sum(np.abs(g1) ** 2.0))) ** 0.5  # NumPy path's formula
    ps[1].grad._array.setflags(write=False)
    assert clip_grad_norm_(ps, 1e9) == want
    with pytest.raises(ValueError, match="read-only"):
        clip_grad_norm_(ps, 1e-3)
    ps = grads_params([(3, 4), (5,)], 6)
    ps[0].grad._array = np.asfortranarray(ps[0].grad._array)
    before = ps[0].grad._array.copy()
    assert clip_grad_norm_(ps, 1e-3) == want
    np.testing.assert_array_equal(ps[0].grad._array, before * np.float32(1e-3 / (want + 1e-6)))
    buf = np.ones(8, np.float32)
    p, q = ar.zeros(4, requires_grad=True), ar.zeros(4, requires_grad=True)
    p.grad, q.grad = ar.Tensor(buf[:4]), ar.Tensor(buf[2:6])
    assert clip_grad_norm_([p, q], 1e9) == _core.total_norm2([buf[:4], buf[2:6]])
    with pytest.raises(ValueError, match="shares memory"):
        clip_grad_norm_([p, q], 1e-3)


# --- every ISA ---------------------------------------------------------------------------

ISA_SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
import numpy as np
import attnrs as ar
import test_multi_tensor as t
from attnrs import optim
for cls in (optim.AdamW, optim.Adam):
    new = t.snapshot(*t.run_steps(cls, 11, lambda o: o.step()))
    old = t.snapshot(*t.run_steps(cls, 11, lambda o: t.per_parameter_step(o, cls.decoupled)))
    t.assert_bitwise(new, old)
grads = [p.grad._array for p in t.grads_params([(129, 255), (32768 + 5,), (7,)], 1)]
print(json.dumps({{"isa": ar.info()["isa"], "norm": ar._core.total_norm2(grads).hex()}}))
"""


def test_every_isa_in_a_subprocess():
    norms = {}
    for isa in ar.info()["isa_available"]:
        script = ISA_SCRIPT.format(tests=os.path.dirname(__file__))
        norms[isa] = run_under_isa(isa, script, timeout=300, ATTNRS_NUM_THREADS="2")["norm"]
    # No FMA in the norm's f64 sums: every ISA gives the same bits.
    assert len(set(norms.values())) == 1, norms
