"""Autograd: finite-difference checks of every differentiable op, and the walk itself."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import pytest_under_isa
from gradcheck import gradcheck
from hypothesis import given
from hypothesis import strategies as st

import attnrs as ar
from attnrs import functional as F

rng = np.random.default_rng(1234)


def r(*shape, lo=None):
    x = rng.standard_normal(shape)
    return np.abs(x) + lo if lo is not None else x


def distinct(*shape):
    """Values spaced ≥ 0.1 apart (no ties, no kinks within the FD step)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.1 - n * 0.05 + 0.05).reshape(shape)


# --- arithmetic and broadcasting ---------------------------------------------------------


@pytest.mark.parametrize(
    "sa, sb",
    [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)), ((3, 4), ())],
)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_binary_ops_broadcast(op, sa, sb):
    fn = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
    }[op]
    b = r(*sb, lo=0.5) * np.where(rng.random(sb) < 0.5, -1, 1) if op == "div" else r(*sb)
    gradcheck(fn, r(*sa), b)


def test_scalar_operands_and_reflected():
    gradcheck(lambda a: 2.0 - a * 3.0 + 1.0 / (a + 5.0) - (a / 2.0), r(3, 4))
    gradcheck(lambda a: -a, r(3, 4))


def test_ndarray_operand_is_constant():
    c = r(3, 4).astype(np.float32)
    gradcheck(lambda a: a * c + c, r(3, 4))


@pytest.mark.parametrize(
    "sa, sb",
    [
        ((3, 4), (4, 5)),
        ((2, 3, 4), (4, 5)),
        ((2, 1, 3, 4), (3, 4, 2)),
        ((4,), (4, 5)),
        ((3, 4), (4,)),
        ((4,), (4,)),
    ],
)
def test_matmul(sa, sb):
    gradcheck(lambda a, b: a @ b, r(*sa), r(*sb))


def test_matmul_transposed_views():
    gradcheck(lambda a, b: a.T @ b.transpose(0, 1), r(4, 3), r(5, 4))


# --- reductions and shape ----------------------------------------------------------------


@pytest.mark.parametrize(
    "axis, keepdims", [(None, False), (1, False), (0, True), ((0, 2), False), (-1, True)]
)
def test_sum_mean(axis, keepdims):
    gradcheck(lambda a: a.sum(axis, keepdims), r(2, 3, 4))
    gradcheck(lambda a: a.mean(axis, keepdims), r(2, 3, 4))


@pytest.mark.parametrize(
    "axis, keepdims", [(None, False), (1, False), (0, True), ((0, 2), True), (-1, False)]
)
def test_max_min(axis, keepdims):
    gradcheck(lambda a: a.amax(axis, keepdims), distinct(2, 3, 4))
    gradcheck(lambda a: F.min(a, axis, keepdims), distinct(2, 3, 4))


def test_max_ties_share_gradient():
    x = ar.tensor([[1.0, 3.0, 3.0]], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5]])


def test_shape_ops():
    gradcheck(lambda a: a.reshape(4, 6) * 1.0, r(2, 3, 4))
    gradcheck(lambda a: a.view(-1), r(2, 3))
    gradcheck(lambda a: a.permute(2, 0, 1), r(2, 3, 4))
    gradcheck(lambda a: a.transpose(0, 2), r(2, 3, 4))
    gradcheck(lambda a: a.T, r(2, 3))
    gradcheck(lambda a: a.unsqueeze(1).unsqueeze(-1), r(2, 3))
    gradcheck(lambda a: a.squeeze(), r(2, 1, 3, 1))
    gradcheck(lambda a: a.squeeze(1), r(2, 1, 3, 1))
    gradcheck(lambda a: a.flatten(1), r(2, 3, 4))
    gradcheck(lambda a: a.flatten(), r(2, 3, 4))
    gradcheck(lambda a: a.expand(2, 3, 4), r(3, 1))
    gradcheck(lambda a: a.expand(-1, 5), r(3, 1))


# --- elementwise math --------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, fn, x",
    [
        ("pow2", lambda a: a**2, r(3, 4)),
        ("pow3", lambda a: a**3, r(3, 4)),
        ("pow_half", lambda a: a**0.5, r(3, 4, lo=0.5)),
        ("pow_neg", lambda a: a**-1.5, r(3, 4, lo=0.5)),
        ("rpow", lambda a: 2.0**a, r(3, 4)),
        ("exp", lambda a: a.exp(), r(3, 4)),
        ("log", lambda a: a.log(), r(3, 4, lo=0.5)),
        ("sqrt", lambda a: a.sqrt(), r(3, 4, lo=0.5)),
        ("tanh", lambda a: a.tanh(), r(3, 4)),
        ("sigmoid", lambda a: a.sigmoid(), r(3, 4) * 4),
        ("relu", lambda a: a.relu(), distinct(3, 4)),
        ("gelu", lambda a: a.gelu(), r(3, 4) * 2),
        ("gelu_tanh", lambda a: F.gelu(a, approximate="tanh"), r(3, 4) * 2),
        ("abs", lambda a: abs(a), distinct(3, 4)),
        ("clamp", lambda a: a.clamp(-0.33, 0.52), distinct(3, 4)),
        ("clamp_lo", lambda a: F.clamp(a, min=0.01), distinct(3, 4)),
    ],
)
def test_elementwise(name, fn, x):
    gradcheck(fn, x)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
def test_activations_on_large_arrays_use_kernels_consistently(name):
    # ≥ 16384 elements go through the fused kernels: compare with the float64 formulas
    x64 = distinct(128, 160) / 100  # within ±10, spaced 1e-3 apart
    x = ar.tensor(x64, requires_grad=True)
    y = getattr(x, name)()
    w = rng.standard_normal(y.shape)
    y.backward(w.astype(np.float32))
    ref = {"relu": np.maximum(x64, 0), "sigmoid": 1 / (1 + np.exp(-x64)), "tanh": np.tanh(x64)}[
        name
    ]
    dref = {"relu": (x64 > 0) * 1.0, "sigmoid": ref * (1 - ref), "tanh": 1 - ref**2}[name]
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), w * dref, rtol=1e-4, atol=1e-5)


def test_pow_tensor_exponent():
    gradcheck(lambda a, b: a**b, r(3, 4, lo=0.5), r(3, 4))
    gradcheck(lambda a, b: F.pow(a, b), r(3, 4, lo=0.5), r(4))


def test_zero_dim_tensors_stay_arrays():
    x = ar.tensor(0.5, requires_grad=True)
    y = (x.exp() * 2.0).tanh()
    assert isinstance(y.numpy(), np.ndarray) and y.shape == ()
    y.backward()
    assert isinstance(x.grad.numpy(), np.ndarray) and x.grad.shape == ()
    gradcheck(lambda a: (a * a).log(), np.array(1.5))


def test_one_element_tensors_act_as_numbers():
    loss = ar.tensor([[2.5]])
    assert float(loss) == 2.5 and int(loss) == 2 and bool(loss)
    assert f"{loss:.2f}" == "2.50" and not ar.tensor(0.0)
    with pytest.raises((TypeError, ValueError)):
        bool(ar.ones(2))


def test_sigmoid_extremes_are_finite():
    y = ar.tensor([-1000.0, 0.0, 1000.0]).sigmoid().numpy()
    np.testing.assert_allclose(y, [0.0, 0.5, 1.0])


def test_comparisons_give_bool_arrays():
    a, b = ar.tensor([1.0, 2.0, 3.0]), ar.tensor([3.0, 2.0, 1.0])
    assert (a < b).tolist() == [True, False, False]
    assert (a >= 2).tolist() == [False, True, True]
    assert a.eq(b).tolist() == [False, True, False]
    assert F.ne(a, b).tolist() == [True, False, True]
    assert a.argmax() == 2 and F.argmin(a) == 0
    assert len({a, b}) == 2  # Tensors stay hashable (== keeps identity semantics)


# --- indexing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "index",
    [
        (slice(1, 3),),
        (1,),
        (slice(None), 2),
        (Ellipsis, slice(None, None, -1)),
        (np.array([0, 2, 2, 1]),),  # repeated rows accumulate
        (slice(None), np.array([[0, 3], [3, 3]])),
        (np.array([0, 1]), np.array([2, 2])),
        (np.array([True, False, True]),),
        (None, slice(0, 2)),
        ([2, 0],),
    ],
)
def test_getitem(index):
    idx = index if len(index) > 1 else index[0]
    gradcheck(lambda a: a[idx], r(3, 4))


def test_getitem_boolean_mask_and_integer_tensor():
    x = r(3, 4)
    mask = x > 0
    gradcheck(lambda a: a[mask], x)
    gradcheck(lambda a: a[ar.tensor([2, 0, 2])], x)


def test_getitem_rejects_float_index_and_out_of_range():
    t = ar.randn(3, 4)
    with pytest.raises(TypeError):
        t[np.array([0.5])]
    with pytest.raises(ar.DTypeError):
        t[ar.tensor([0.5])]
    with pytest.raises(IndexError, match="getitem"):
        t[np.array([7])]


# --- joining, splitting, selection -------------------------------------------------------


def test_cat_stack():
    gradcheck(lambda a, b: F.cat([a, b], 1), r(2, 3), r(2, 5))
    gradcheck(lambda a, b: F.cat([a, b, a], -1), r(2, 3), r(2, 1))
    gradcheck(lambda a, b: F.stack([a, b], 0), r(2, 3), r(2, 3))
    gradcheck(lambda a, b: F.stack([a, b], -1), r(2, 3), r(2, 3))


def test_split_chunk():
    gradcheck(lambda a: F.split(a, 2, 1), r(3, 5))
    gradcheck(lambda a: F.split(a, [1, 3, 1], 1), r(3, 5))
    gradcheck(lambda a: a.chunk(2, 0), r(3, 5))
    # only one output used: the other gets a zero gradient
    gradcheck(lambda a: a.split(2, 1)[1] * 2.0, r(3, 5))
    assert [p.shape for p in F.chunk(ar.randn(7, 2), 3)] == [(3, 2), (3, 2), (1, 2)]


def test_masked_fill_and_where():
    mask = rng.random((3, 4)) < 0.4
    gradcheck(lambda a: a.masked_fill(mask, -7.0), r(3, 4))
    gradcheck(lambda a: F.masked_fill(a, mask[:1], 0.0), r(3, 4))
    cond = rng.random((3, 4)) < 0.5
    gradcheck(lambda a, b: F.where(cond, a, b), r(3, 4), r(4))
    gradcheck(lambda a: F.where(cond, a, 0.0), r(3, 4))


# --- layer ops (fused kernels) -----------------------------------------------------------


def test_linear():
    gradcheck(lambda x, w, b: F.linear(x, w, b), r(5, 3), r(4, 3), r(4))
    gradcheck(lambda x, w: F.linear(x, w), r(2, 5, 3), r(4, 3))
    gradcheck(lambda x, w, b: F.linear(x, w, b), r(3), r(4, 3), r(4))


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_log_softmax(axis):
    gradcheck(lambda a: F.softmax(a, axis), r(3, 4, 5))
    gradcheck(lambda a: F.log_softmax(a, axis), r(3, 4, 5))


def test_softmax_scale_and_method_sugar():
    gradcheck(lambda a: F.softmax(a, -1, scale=0.5), r(3, 6))
    gradcheck(lambda a: a.softmax(0) + a.log_softmax(1), r(3, 6))


def test_softmax_additive_mask():
    mask = np.where(rng.random((3, 6)) < 0.3, -np.inf, 0.0).astype(np.float32)
    mask[:, 0] = 0.0  # no fully masked row
    gradcheck(lambda a: F.softmax(a, -1, mask=mask), r(3, 6))
    y = F.softmax(ar.tensor(r(3, 6)), -1, mask=mask).numpy()
    assert np.all(y[np.isinf(mask)] == 0)
    row = np.zeros(6, np.float32)
    row[4:] = -np.inf
    gradcheck(lambda a: F.softmax(a, 1, mask=row), r(2, 6))


def test_layer_norm():
    gradcheck(lambda x, w, b: F.layer_norm(x, 6, w, b), r(2, 3, 6), r(6), r(6), atol=5e-3)
    gradcheck(lambda x: F.layer_norm(x, (6,)), r(4, 6), atol=5e-3)
    gradcheck(
        lambda x, w, b: F.layer_norm(x, (3, 4), w, b, eps=1e-3),
        r(2, 3, 4),
        r(3, 4),
        r(3, 4),
        atol=5e-3,
    )


def test_embedding():
    ids = np.array([[1, 3, 1], [0, 4, 1]])
    gradcheck(lambda w: F.embedding(ids, w), r(5, 3))
    gradcheck(lambda w: F.embedding(ar.tensor(ids), w) * 1.0, r(5, 3))
    w = ar.randn(5, 3, requires_grad=True)
    F.embedding(ids, w, padding_idx=1).sum().backward()
    assert np.all(w.grad.numpy()[1] == 0) and np.all(w.grad.numpy()[4] == 1)


def test_dropout_gradient_and_modes():
    def reseed():
        ar.manual_seed(7)

    gradcheck(lambda a: F.dropout(a, 0.3, training=True), r(4, 5), before_eval=reseed)
    x = ar.randn(200, 50)
    assert F.dropout(x, 0.5, training=False) is x
    ar.manual_seed(3)
    y = F.dropout(x, 0.25).numpy()
    kept = y != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(y[kept], x.numpy()[kept] / 0.75, rtol=1e-6)
    assert np.all(F.dropout(x, 1.0).numpy() == 0)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy(reduction, smoothing):
    t = np.array([0, 3, 1, -100, 2])
    gradcheck(
        lambda x: F.cross_entropy(x, t, reduction=reduction, label_smoothing=smoothing), r(5, 4) * 2
    )
    t3 = np.array([[0, 2, 1], [3, -1, 1]])
    gradcheck(
        lambda x: F.cross_entropy(
            x, t3, ignore_index=-1, reduction=reduction, label_smoothing=smoothing
        ),
        r(2, 4, 3),
    )


def test_cross_entropy_matches_float64_reference():
    x = r(6, 5) * 3
    t = np.array([0, 4, 2, 2, -100, 1])
    loss = F.cross_entropy(ar.tensor(x), t, label_smoothing=0.1).item()
    z = x - x.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    valid = t != -100
    nll = -logp[np.arange(6), np.where(valid, t, 0)]
    ref = ((0.9 * nll + 0.1 * -logp.mean(1)) * valid).sum() / valid.sum()
    np.testing.assert_allclose(loss, ref, rtol=1e-5)
    # (C,) logits with a scalar target, and the integer-valued Tensor target
    assert F.cross_entropy(ar.tensor(x[0]), np.array(4)).shape == ()
    np.testing.assert_allclose(
        F.cross_entropy(ar.tensor(x[:2]), ar.tensor([0, 4])).item(),
        -logp[[0, 1], [0, 4]].mean(),
        rtol=1e-5,
    )


def test_cross_entropy_backward_seeds():
    """The loss's own backward (seed 1) hands on the kernel's dlogits unscaled, the
    same bits as d·1; any other seed multiplies. Twice through a retained graph, and
    a leaf's .grad is its own array (the saved dlogits stay as they were)."""
    x = ar.tensor(r(7, 5) * 2, requires_grad=True)
    t = np.array([0, 4, 2, 2, -100, 1, 3])
    _, d = ar.ops.cross_entropy(x.numpy(), t)
    loss = F.cross_entropy(x, t)
    loss.backward(retain_graph=True)
    assert x.grad.numpy().tobytes() == d.tobytes()
    loss.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.numpy(), d + d)
    x.grad = None
    (F.cross_entropy(x, t) * 3.0).backward()
    assert x.grad.numpy().tobytes() == (d * np.float32(3.0)).tobytes()
    x.grad = None
    F.cross_entropy(x, t).backward(ar.tensor(np.float32(0.5)))
    assert x.grad.numpy().tobytes() == (d * np.float32(0.5)).tobytes()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction):
    gradcheck(lambda a, b: F.mse_loss(a, b, reduction=reduction), r(3, 4), r(3, 4))


# --- the walk ----------------------------------------------------------------------------


def test_chain_of_100k_ops():
    x = ar.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    y.sum().backward()
    assert x.grad.numpy()[0] == 1.0


def test_diamond_and_accumulation():
    x = ar.tensor(r(3), requires_grad=True)
    y = x * 2.0
    z = (y * y + y).sum()  # y is used three times
    z.backward(retain_graph=True)
    g1 = x.grad.numpy().copy()
    np.testing.assert_allclose(g1, 2 * (2 * y.numpy() + 1), rtol=1e-6)
    z.backward()  # gradients accumulate
    np.testing.assert_allclose(x.grad.numpy(), 2 * g1, rtol=1e-6)


def test_freed_graph_raises():
    x = ar.tensor(r(3), requires_grad=True)
    z = (x.exp() * 2.0).sum()
    z.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        z.backward()


def test_no_grad_and_set_grad_enabled():
    x = ar.tensor(r(3), requires_grad=True)
    with ar.no_grad():
        y = x * 2.0
        assert not ar.is_grad_enabled()
        with ar.enable_grad():
            assert (x * 1.0).requires_grad
    assert ar.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf

    @ar.no_grad()
    def f(t):
        return t * 3.0

    assert not f(x).requires_grad
    with ar.set_grad_enabled(False):
        assert not (x + 1.0).requires_grad


def test_detach_and_leaf_grad():
    x = ar.tensor(r(3), requires_grad=True)
    y = (x.detach() * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), x.numpy())
    x.zero_grad()
    assert x.grad is None
    x.backward(np.ones(3))  # a leaf root
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(3))


def test_backward_errors():
    x = ar.tensor(r(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        ar.tensor([1.0]).backward()
    with pytest.raises(RuntimeError, match="one element"):
        (x * 2.0).backward()
    with pytest.raises(ValueError, match="grad must have shape"):
        (x * 2.0).backward(np.ones(4))
    with pytest.raises(RuntimeError, match="leaf"):
        (x * 2.0).requires_grad_(False)


def test_custom_function_api():
    class Cube(F.Function):
        @staticmethod
        def forward(ctx, a, k=1.0):
            ctx.save(a)
            ctx.k = k
            return k * a**3

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved
            return g * ctx.k * 3 * a**2

    gradcheck(lambda a: Cube.apply(a, k=2.0), r(3))


# --- bad input ---------------------------------------------------------------------------


def test_errors_of_functional_entry_points():
    x = ar.randn(3, 4)
    cases = [
        (ar.ShapeError, lambda: x @ ar.randn(5, 2)),
        (ar.ShapeError, lambda: F.cat([x, ar.randn(2, 5)], 0)),
        (ar.ShapeError, lambda: F.stack([x, ar.randn(4, 3)])),
        (ValueError, lambda: F.cat([])),
        (ar.ShapeError, lambda: F.split(x, [1, 1], 0)),
        (ValueError, lambda: F.split(x, 0)),
        (ValueError, lambda: F.chunk(x, 0)),
        (ar.ShapeError, lambda: x.unsqueeze(3)),
        (ar.ShapeError, lambda: x.squeeze(2)),
        (ar.ShapeError, lambda: x.flatten(1, 0)),
        (ar.ShapeError, lambda: x.expand(3, 5)),
        (ar.ShapeError, lambda: x.expand(4)),
        (ar.ShapeError, lambda: x.masked_fill(np.ones((2, 4), bool), 0.0)),
        (ar.DTypeError, lambda: x.masked_fill(np.array(["a"] * 4), 0.0)),
        (ar.ShapeError, lambda: F.where(np.ones((2, 2), bool), x, 0.0)),
        (ValueError, lambda: F.max(ar.zeros(0))),
        (ValueError, lambda: F.gelu(x, approximate="fast")),
        (ar.ShapeError, lambda: F.softmax(x, 2)),
        (ValueError, lambda: F.softmax(x, -1, scale=float("nan"))),
        (TypeError, lambda: F.log_softmax(x, 1.5)),
        (ar.ShapeError, lambda: F.layer_norm(x, 5)),
        (ar.ShapeError, lambda: F.layer_norm(x, 4, weight=ar.ones(3))),
        (ValueError, lambda: F.layer_norm(x, 4, eps=-1.0)),
        (ar.ShapeError, lambda: F.linear(x, ar.randn(2, 5))),
        (ar.ShapeError, lambda: F.linear(x, ar.randn(4))),
        (ar.ShapeError, lambda: F.linear(x, ar.randn(2, 4), ar.randn(3))),
        (ar.DTypeError, lambda: F.embedding(np.array([0.5]), ar.randn(3, 2))),
        (ar.DTypeError, lambda: F.embedding(ar.tensor([0.5]), ar.randn(3, 2))),
        (ar.ShapeError, lambda: F.embedding(np.array([0]), ar.randn(3))),
        (ValueError, lambda: F.embedding(np.array([0]), ar.randn(3, 2), padding_idx=3)),
        (ValueError, lambda: F.embedding(np.array([3]), ar.randn(3, 2))),
        (ValueError, lambda: F.dropout(x, 1.5)),
        (ValueError, lambda: F.dropout(x, float("nan"))),
        (ar.ShapeError, lambda: F.cross_entropy(x, np.array([0, 1]))),
        (ar.ShapeError, lambda: F.cross_entropy(ar.randn(2, 3, 4), np.array([0, 1]))),
        (ar.DTypeError, lambda: F.cross_entropy(x, np.array([0.0, 1.0, 2.0]))),
        (ValueError, lambda: F.cross_entropy(x, np.array([0, 1, 9]))),
        (ValueError, lambda: F.cross_entropy(x, np.array([0, 1, 2]), reduction="avg")),
        (ValueError, lambda: F.cross_entropy(x, np.array([0, 1, 2]), label_smoothing=1.5)),
        (ar.ShapeError, lambda: F.cross_entropy(ar.tensor(1.0), np.array(0))),
        (ar.ShapeError, lambda: F.mse_loss(x, ar.randn(4, 3))),
        (ValueError, lambda: F.mse_loss(x, x, reduction="max")),
        (ar.DTypeError, lambda: ar.tensor(np.array(["a"]))),
        (ar.DTypeError, lambda: x @ np.array([[1 + 2j]] * 4)),
    ]
    for i, (exc, call) in enumerate(cases):
        with pytest.raises(exc):
            call()
            pytest.fail(f"case {i} did not raise")


# --- broadcasting property test ----------------------------------------------------------


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast: b drops leading axes and sets some axes to 1."""
    shape = draw(st.lists(st.integers(1, 4), min_size=0, max_size=4))
    drop = draw(st.integers(0, len(shape)))
    b = [1 if draw(st.booleans()) else n for n in shape[drop:]]
    return (tuple(shape), tuple(b)) if draw(st.booleans()) else (tuple(b), tuple(shape))


def reduce_to(g, shape):
    """float64 reference of the broadcast reduction, written independently of the library."""
    lead = g.ndim - len(shape)
    g = g.sum(axis=tuple(range(lead))) if lead else g
    for i, n in enumerate(shape):
        if n == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


@given(broadcast_pair(), st.sampled_from(["add", "sub", "mul", "div"]), st.integers(0, 2**31))
def test_broadcast_gradients_match_reference(shapes, op, seed):
    g = np.random.default_rng(seed)
    sa, sb = shapes
    a = g.standard_normal(sa).astype(np.float32)
    b = (g.uniform(0.5, 2.0, sb) * g.choice([-1, 1], sb)).astype(np.float32)
    ta, tb = ar.tensor(a, requires_grad=True), ar.tensor(b, requires_grad=True)
    out = {"add": ta + tb, "sub": ta - tb, "mul": ta * tb, "div": ta / tb}[op]
    w = g.standard_normal(out.shape).astype(np.float32)
    out.backward(w)
    a64, b64, w64 = a.astype(np.float64), b.astype(np.float64), w.astype(np.float64)
    da, db = {
        "add": (w64, w64),
        "sub": (w64, -w64),
        "mul": (w64 * b64, w64 * a64),
        "div": (w64 / b64, -w64 * a64 / b64**2),
    }[op]
    np.testing.assert_allclose(
        ta.grad.numpy(), reduce_to(np.broadcast_to(da, out.shape), sa), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(
        tb.grad.numpy(), reduce_to(np.broadcast_to(db, out.shape), sb), rtol=1e-4, atol=1e-5
    )


# --- every SIMD level --------------------------------------------------------------------


@pytest.mark.parametrize("isa", [i for i in ar.info()["isa_available"] if i != ar.info()["isa"]])
def test_layer_op_gradients_under_other_isas(isa):
    """The fused-kernel ops pass their gradient checks on every SIMD path (the
    level is fixed per process, so this runs in a subprocess)."""
    sel = "softmax or layer_norm or cross_entropy or gelu or embedding or linear or large_arrays"
    pytest_under_isa(isa, __file__, "-k", sel, timeout=300)


def test_fresh_gradients_are_taken_without_a_copy_and_still_accumulate():
    from attnrs import autograd, nn
    from attnrs.functional.norm import LayerNorm

    def grads(fresh):
        LayerNorm.fresh_grads = fresh
        try:
            ar.manual_seed(5)
            emb, ln = nn.Embedding(7, 6), nn.LayerNorm(6)
            ids = np.array([[1, 2, 2], [6, 0, 1]])
            for _ in range(2):  # the second backward accumulates into the first's gradients
                (ln(emb(ids)) * ar.tensor(np.arange(36, dtype=np.float32).reshape(2, 3, 6))).sum().backward()
            return [p.grad._array for p in (emb.weight, ln.weight, ln.bias)]
        finally:
            LayerNorm.fresh_grads = True

    assert LayerNorm.fresh_grads and not autograd.Function.fresh_grads
    taken, copied = grads(True), grads(False)
    for a, b in zip(taken, copied):
        np.testing.assert_array_equal(a, b)
    assert len({id(a) for a in taken}) == 3  # one array per parameter, never shared
    # after ONE backward a taken gradient is the kernel's own new array (not a view)
    ar.manual_seed(5)
    ln = nn.LayerNorm(4)
    ln(ar.tensor(np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32))).sum().backward()
    assert ln.weight.grad._array.base is None and ln.bias.grad._array.base is None
    assert ln.weight.grad._array is not ln.bias.grad._array


@pytest.mark.parametrize("shape", [(1 << 16,), (257, 301), (3, 129, 513)])
def test_large_gradients_accumulate_over_the_pool_with_numpys_bits(shape):
    """Gradients of at least 64 Ki floats are added into `.grad` by `_core.add_`
    over the pool: the same bits as NumPy's `a + b`, at 1 and 2 threads."""
    rng = np.random.default_rng(3)
    g1, g2 = (rng.standard_normal(shape).astype(np.float32) for _ in range(2))
    want = g1 + g2
    default_threads = ar.get_num_threads()
    for threads in (1, 2):
        ar.set_num_threads(threads)
        try:
            x = ar.tensor(np.zeros(shape, np.float32), requires_grad=True)
            (x * ar.tensor(g1)).sum().backward()
            (x * ar.tensor(g2)).sum().backward()
            np.testing.assert_array_equal(x.grad.numpy(), want)
        finally:
            ar.set_num_threads(default_threads)


def test_core_add_names_bad_arguments():
    from attnrs import _core

    a = np.zeros((4, 5), np.float32)
    with pytest.raises(ar.ShapeError, match=r"add_.*src"):
        _core.add_(a, np.zeros((5, 4), np.float32))
    # Fortran order is contiguous memory but not the element order: refused.
    with pytest.raises(ar.ShapeError, match=r"add_: dst must be C-contiguous"):
        _core.add_(a.T, np.zeros((5, 4), np.float32))
    with pytest.raises(ar.ShapeError, match=r"add_: src must be C-contiguous"):
        _core.add_(a, np.asfortranarray(np.zeros((4, 5), np.float32)))
    b = np.ones((4, 5), np.float32)
    _core.add_(a, b)
    _core.add_(a, b)
    np.testing.assert_array_equal(a, 2 * b)
