"""attnrs.ops.matmul against float64 NumPy: shapes, transposes, broadcasting,
strided views, out=, dtype conversion, errors, every SIMD level, thread
determinism."""

from __future__ import annotations

import numpy as np
import pytest
from _helpers import run_under_isa
from hypothesis import given, settings
from hypothesis import strategies as st

import attnrs as ar

SIZES = st.sampled_from([1, 2, 3, 5, 7, 13, 16, 17, 31, 64, 65, 97])


def reference(a, b, trans_a=False, trans_b=False):
    """float64 matmul of the float32-rounded inputs, and a bound on its error scale."""
    a = np.asarray(a, dtype=np.float32).astype(np.float64)
    b = np.asarray(b, dtype=np.float32).astype(np.float64)
    if trans_a and a.ndim >= 2:
        a = a.swapaxes(-1, -2)
    if trans_b and b.ndim >= 2:
        b = b.swapaxes(-1, -2)
    return np.matmul(a, b), np.matmul(np.abs(a), np.abs(b))


def assert_close(got, a, b, **kw):
    want, scale = reference(a, b, **kw)
    assert got.dtype == np.float32
    assert got.shape == want.shape
    np.testing.assert_array_less(np.abs(got - want), 1e-5 * scale + 1e-6)


@settings(max_examples=60, deadline=None)
@given(
    m=SIZES, n=SIZES, k=SIZES,
    batch_a=st.sampled_from([(), (1,), (3,), (2, 1), (1, 3)]),
    batch_b=st.sampled_from([(), (1,), (3,), (2, 3)]),
    trans_a=st.booleans(), trans_b=st.booleans(),
    seed=st.integers(0, 2**16),
)  # fmt: skip
def test_random_shapes(m, n, k, batch_a, batch_b, trans_a, trans_b, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(batch_a + ((k, m) if trans_a else (m, k)), dtype=np.float32)
    b = rng.standard_normal(batch_b + ((n, k) if trans_b else (k, n)), dtype=np.float32)
    got = ar.ops.matmul(a, b, trans_a=trans_a, trans_b=trans_b)
    assert_close(got, a, b, trans_a=trans_a, trans_b=trans_b)


@pytest.mark.parametrize(
    "sa,sb",
    [
        ((5,), (5,)),
        ((5,), (5, 3)),
        ((4, 5), (5,)),
        ((2, 4, 5), (5,)),
        ((5,), (3, 5, 2)),
        ((1,), (1,)),
    ],
)
def test_one_d_promotion(sa, sb):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    got = ar.ops.matmul(a, b)
    want = np.matmul(a, b)
    assert got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_strided_sliced_transposed_and_negative_strides():
    rng = np.random.default_rng(2)
    big_a = rng.standard_normal((3, 80, 90), dtype=np.float32)
    big_b = rng.standard_normal((90, 70), dtype=np.float32)
    cases = [
        (big_a[:, 1:60:2, 3:80:3], big_b[:26, 5:40]),  # row and column steps
        (big_a[0].T[:50, :33], big_b[:80, :33].T),  # transposed views
        (big_a[::-1, ::-1, :11], big_b[:11, ::-2]),  # negative strides (copied)
        (big_a[:, :, 7], big_b[:80, :4]),  # (3, 80) · (80, 4)
        (np.broadcast_to(big_b[:7, :6], (4, 7, 6)), big_b[:6, :9]),  # zero batch stride
    ]
    for a, b in cases:
        assert_close(ar.ops.matmul(a, b), a, b)


def test_batch_broadcasting():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2, 1, 4, 6, 5), dtype=np.float32)
    b = rng.standard_normal((3, 1, 5, 7), dtype=np.float32)
    got = ar.ops.matmul(a, b)
    assert got.shape == (2, 3, 4, 6, 7)
    assert_close(got, a, b)


def test_out_contiguous_and_strided():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((2, 9, 11), dtype=np.float32)
    b = rng.standard_normal((11, 13), dtype=np.float32)
    out = np.full((2, 9, 13), np.nan, dtype=np.float32)
    res = ar.ops.matmul(a, b, out=out)
    assert res is out
    assert_close(out, a, b)
    base = np.full((2, 13, 9), np.nan, dtype=np.float32)
    view = base.transpose(0, 2, 1)  # non-contiguous out
    assert ar.ops.matmul(a, b, out=view) is view
    assert_close(view, a, b)


def test_out_may_alias_an_input():
    rng = np.random.default_rng(8)
    a = rng.standard_normal((2, 9, 9), dtype=np.float32)
    b = rng.standard_normal((9, 9), dtype=np.float32)
    want_a, want_b = a.copy(), b.copy()
    res = ar.ops.matmul(a, b, out=a)
    assert res is a
    assert_close(a, want_a, want_b)
    ar.ops.matmul(want_a[0], b, out=b)
    assert_close(b, want_a[0], want_b)


def test_two_d_fast_path_views_and_outs():
    # 2-D float32 operands go straight to _core.gemm: strided and transposed
    # views, transposed and non-contiguous outs, negative strides (copied by
    # the general path), an out with overlapping strides (written through a
    # temporary), and 2-D/3-D mixes at the binding, which it refuses by name.
    rng = np.random.default_rng(9)
    a = rng.standard_normal((40, 30), dtype=np.float32)
    b = rng.standard_normal((30, 20), dtype=np.float32)
    for x, y in [(a, b), (a[::2, 1:28], b[1:28, ::3]), (a[:, ::-1][:, :30], b), (b.T, a.T[:, :7])]:
        assert_close(ar.ops.matmul(x, y), x, y)
    out = np.full((20, 40), np.nan, np.float32).T
    assert ar.ops.matmul(a, b, out=out) is out
    assert_close(out, a, b)
    assert_close(ar.ops.matmul(b, a, trans_a=True, trans_b=True), b.T, a.T)
    row = np.zeros(20, np.float32)
    overlapping = np.lib.stride_tricks.as_strided(row, (40, 20), (0, 4))
    ar.ops.matmul(a, b, out=overlapping)
    np.testing.assert_allclose(row, (a @ b)[-1], rtol=1e-4, atol=1e-4)
    with pytest.raises(ar.ShapeError, match="2-D"):
        ar._core.gemm(a[None], b[None], np.empty((40, 20), np.float32))


def test_two_d_fast_path_falls_back_before_writing():
    # The 2-D path hands everything to _core.gemm, which refuses before it
    # writes; the general path then handles or explains: an out that
    # overlaps an input, a read-only out, an out of another dtype, and
    # mm's empty operands.
    rng = np.random.default_rng(10)
    x = rng.standard_normal((12, 24), dtype=np.float32)
    a, b = x[:, :12].copy(), rng.standard_normal((12, 12), dtype=np.float32)
    want = x[:, :12] @ b
    got = ar.ops.matmul(x[:, :12], b, out=x[:, 6:18])  # out overlaps a
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    ro = np.zeros((12, 12), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out"):
        ar.ops.matmul(a, b, out=ro)
    assert not ro.any()
    with pytest.raises(ar.DTypeError, match="float64"):
        ar.ops.matmul(a, b, out=np.zeros((12, 12)))
    from attnrs.ops.matmul import mm

    assert mm(np.ones((0, 3), np.float32), np.ones((3, 4), np.float32)).shape == (0, 4)
    np.testing.assert_array_equal(mm(np.ones((2, 0), np.float32), np.ones((0, 4), np.float32)), np.zeros((2, 4)))


def test_float64_input_is_converted():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((6, 7)), rng.standard_normal((7, 8))
    got = ar.ops.matmul(a, b)
    assert got.dtype == np.float32
    assert_close(got, a, b)


def test_empty_and_zero_k():
    assert ar.ops.matmul(np.ones((0, 3), np.float32), np.ones((3, 4), np.float32)).shape == (0, 4)
    z = ar.ops.matmul(np.ones((2, 0), np.float32), np.ones((0, 4), np.float32))
    np.testing.assert_array_equal(z, np.zeros((2, 4), np.float32))


@pytest.mark.parametrize(
    "a,b,kw,exc,words",
    [
        (np.ones((3, 4)), np.ones((5, 6)), {}, ar.ShapeError, ["(3, 4)", "(5, 6)"]),
        (np.ones((3, 4)), np.ones((3, 6)), {"trans_a": False}, ar.ShapeError, ["(3, 4)", "(3, 6)"]),
        (np.ones((2, 3, 4)), np.ones((3, 4, 5)), {}, ar.ShapeError, ["(2,)", "(3,)"]),
        (np.ones((3, 4), np.int32), np.ones((4, 2)), {}, ar.DTypeError, ["int32"]),
        (np.ones((3, 4)), np.ones((4, 2), bool), {}, ar.DTypeError, ["bool"]),
        (np.ones((3, 4), np.complex64), np.ones((4, 2)), {}, ar.DTypeError, ["complex64"]),
        (np.float32(2.0), np.ones((4, 2)), {}, ar.ShapeError, ["()"]),
        (np.ones((3, 4)), np.ones((4, 2)), {"out": np.empty((2, 3), np.float32)}, ar.ShapeError, ["(3, 2)", "(2, 3)"]),
        (np.ones((3, 4)), np.ones((4, 2)), {"out": np.empty((3, 2))}, ar.DTypeError, ["float64"]),
    ],
)  # fmt: skip
def test_errors_name_the_shapes(a, b, kw, exc, words):
    with pytest.raises(exc) as info:
        ar.ops.matmul(a, b, **kw)
    msg = str(info.value)
    assert "matmul" in msg
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    assert issubclass(ar.ShapeError, ValueError) and issubclass(ar.DTypeError, TypeError)


def test_threads_bitwise_equal():
    rng = np.random.default_rng(6)
    cases = [
        (
            rng.standard_normal((257, 300), dtype=np.float32),
            rng.standard_normal((300, 190), dtype=np.float32),
        ),
        (
            rng.standard_normal((16, 40, 40), dtype=np.float32),
            rng.standard_normal((16, 40, 40), dtype=np.float32),
        ),
        (
            rng.standard_normal((700, 70), dtype=np.float32).T,
            rng.standard_normal((700, 500), dtype=np.float32),
        ),
    ]
    before = ar.get_num_threads()
    try:
        results = []
        for t in (1, 2):
            ar.set_num_threads(t)
            results.append([ar.ops.matmul(a, b) for a, b in cases])
        for r1, r2 in zip(*results):
            np.testing.assert_array_equal(r1, r2)
    finally:
        ar.set_num_threads(before)


CHILD = r"""
import json, sys
import numpy as np
import attnrs as ar
rng = np.random.default_rng(7)
worst = 0.0
for (m, n, k, bt) in [(1, 1, 1, 1), (7, 65, 13, 1), (64, 64, 64, 4), (97, 131, 515, 1), (3, 1, 4096, 1)]:
    a = rng.standard_normal((bt, m, k), dtype=np.float32)
    b = rng.standard_normal((bt, n, k), dtype=np.float32).swapaxes(1, 2)
    got = ar.ops.matmul(a, b)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    scale = np.matmul(np.abs(a).astype(np.float64), np.abs(b).astype(np.float64))
    worst = max(worst, float(np.max(np.abs(got - want) / (scale + 1e-30))))
print(json.dumps({"isa": ar.info()["isa"], "worst": worst}))
"""


@pytest.mark.parametrize("isa", ar.info()["isa_available"])
def test_every_isa_in_a_subprocess(isa):
    assert run_under_isa(isa, CHILD, timeout=300)["worst"] < 1e-5


def test_raw_gemm_refuses_strides_that_are_not_whole_floats():
    """`_core.gemm` reads strides off the array: one that is not a multiple of
    4 bytes is refused with the argument named, and a tiny product (run with
    the GIL held) still matches NumPy."""
    buf = np.zeros(64, np.uint8)
    bad = np.ndarray((3, 2), np.float32, buffer=buf.data, strides=(9, 4))
    with pytest.raises(
        ar.ShapeError, match=r"matmul: a has byte strides \[9, 4\]; expected multiples of 4"
    ):
        ar._core.gemm(bad, np.ones((2, 3), np.float32), np.zeros((3, 3), np.float32))
    a = np.arange(8, dtype=np.float32).reshape(2, 4)
    b = np.arange(12, dtype=np.float32).reshape(4, 3)
    c = np.full((2, 3), np.nan, np.float32)
    ar._core.gemm(a, b, c)
    np.testing.assert_array_equal(c, a @ b)
