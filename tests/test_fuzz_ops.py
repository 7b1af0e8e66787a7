"""Issue 14: property-based fuzzing of the NumPy ``ops`` API as a hostile user
would call it: random shapes (0, 1, primes), layouts (C, Fortran, strided,
reversed, broadcast, misaligned), dtypes (float16/32/64, int, bool, complex),
``out=`` arrays (good, strided, wrong shape or dtype, read-only, aliasing an
input).

Every call must either return what a float64 NumPy reference gives, or raise
a ``ValueError``/``TypeError`` (ShapeError, DTypeError, ...) whose message
names the op. Anything else fails: another exception, a wrong answer, or a
call that should have worked raising. A crash would take the test run down.

Bounded: each test runs a fixed number of examples (``FUZZ_EXAMPLES``, default
150); ``ATTNRS_FUZZ_COUNTS=path`` appends the outcome counts as JSON."""

from __future__ import annotations

import collections

import numpy as np
from _helpers import FUZZ, fuzz_counts_report
from hypothesis import given
from hypothesis import strategies as st

from attnrs import ops

COUNTS: collections.Counter = collections.Counter()
report_counts = fuzz_counts_report("ops", COUNTS)

DIMS = st.sampled_from([0, 1, 1, 2, 3, 4, 5, 7, 8, 13, 17])
FLOATS = [np.float32, np.float32, np.float32, np.float64, np.float16]
OTHERS = [np.int32, np.int64, np.bool_, np.complex64]
LAYOUTS = ["c", "c", "f", "strided", "reversed", "broadcast", "misaligned", "rev1"]


def make(rng: np.random.Generator, shape: tuple, dtype, layout: str) -> np.ndarray:
    """An array of ``shape`` and ``dtype`` laid out as ``layout`` (values ~N(0,1))."""
    vals = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "b":
        vals = vals > 0
    elif np.dtype(dtype).kind in "iu":
        vals = np.round(vals * 3)
    vals = vals.astype(dtype)
    if layout == "f":
        return np.asfortranarray(vals)
    if layout == "strided" and vals.ndim:
        big = np.zeros(shape[:-1] + (2 * shape[-1],), dtype)
        big[..., ::2] = vals
        return big[..., ::2]
    if layout == "reversed" and vals.ndim:
        return np.flip(np.ascontiguousarray(np.flip(vals)))
    if layout == "rev1" and vals.ndim:
        ax = [i for i, n in enumerate(shape) if n == 1]
        if ax:  # a reversed size-1 axis: still "C-contiguous" for NumPy
            sl = [slice(None)] * vals.ndim
            sl[ax[0]] = slice(None, None, -1)
            return np.ascontiguousarray(vals)[tuple(sl)]
    if layout == "broadcast" and vals.ndim and shape[0] > 1:
        return np.broadcast_to(vals[:1], shape)
    if layout == "misaligned" and vals.size:
        buf = np.zeros(vals.nbytes + 1, np.uint8)
        out = np.ndarray(shape, vals.dtype, buffer=buf.data, offset=1)
        out[...] = vals
        return out
    return np.ascontiguousarray(vals)


@st.composite
def arrays(draw, shape, float_only=False):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    bad_dtype = not float_only and draw(st.integers(0, 19)) == 0
    dtype = draw(st.sampled_from(OTHERS if bad_dtype else FLOATS))
    return make(rng, tuple(shape), dtype, draw(st.sampled_from(LAYOUTS)))


def ref(a):
    """The float64 value the kernel sees (its input rounded to float32)."""
    return np.asarray(a).astype(np.float32).astype(np.float64)


def all_float(*xs):
    return all(np.asarray(x).dtype.kind == "f" for x in xs if x is not None)


def check(op: str, call, expect, *, tol=2e-4):
    """Runs ``call``; ``expect()`` is the float64 reference or raises when the
    input is invalid. Classifies and asserts the outcome."""
    COUNTS["cases"] += 1
    try:
        with np.errstate(all="ignore"):
            want = expect()
        valid = True
    except (ValueError, TypeError):
        valid = False
    try:
        got = call()
    except (ValueError, TypeError) as e:
        msg = str(e)
        assert not valid, f"{op}: a valid call raised {type(e).__name__}: {msg}"
        assert op in msg, f"{op}: the error does not name the op: {type(e).__name__}: {msg}"
        COUNTS["clear_errors"] += 1
        return
    except Exception as e:  # noqa: BLE001 - anything else is a finding
        COUNTS["other_exceptions"] += 1
        raise AssertionError(f"{op}: unexpected {type(e).__name__}: {e}") from None
    assert valid, f"{op}: an invalid call returned instead of raising"
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape, f"{op}: shape {got.shape}, expected {want.shape}"
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    ok = np.allclose(got, want, rtol=tol, atol=tol * scale, equal_nan=True)
    if not ok:
        COUNTS["wrong_answers"] += 1
    assert ok, f"{op}: wrong answer, max error {np.max(np.abs(got - want))}"
    COUNTS["correct"] += 1


def need_float(op, *xs):
    if not all_float(*xs):
        raise TypeError(op)


# --- matmul with out= ------------------------------------------------------------------------

OUTS = ["none", "none", "good", "strided", "wrong_shape", "float64", "read_only", "alias_a"]


@FUZZ
@given(m=DIMS, k=DIMS, n=DIMS, batch=st.sampled_from([(), (1,), (3,), (2, 1)]),
       bcast=st.booleans(), data=st.data(), out_kind=st.sampled_from(OUTS),
       ta=st.booleans(), tb=st.booleans())  # fmt: skip
def test_fuzz_matmul(m, k, n, batch, bcast, data, out_kind, ta, tb):
    a = data.draw(arrays(batch + ((k, m) if ta else (m, k))))
    b = data.draw(arrays((batch[1:] if bcast else batch) + ((n, k) if tb else (k, n))))
    shape = batch + (m, n)
    out = None
    if out_kind == "good":
        out = np.full(shape, np.nan, np.float32)
    elif out_kind == "strided":
        out = np.full(shape[:-1] + (2 * n,), np.nan, np.float32)[..., ::2]
    elif out_kind == "wrong_shape":
        out = np.empty(shape[:-1] + (n + 1,), np.float32)
    elif out_kind == "float64":
        out = np.empty(shape, np.float64)
    elif out_kind == "read_only":
        out = np.empty(shape, np.float32)
        out.flags.writeable = False
    elif out_kind == "alias_a" and a.shape == shape and a.dtype == np.float32 and a.flags.writeable:
        out = a

    def expect():
        need_float("matmul", a, b)
        ra, rb = ref(a), ref(b)
        w = np.matmul(ra.swapaxes(-1, -2) if ta else ra, rb.swapaxes(-1, -2) if tb else rb)
        if out is not None and (out.shape != w.shape or out.dtype != np.float32 or not out.flags.writeable):
            raise ValueError("bad out")
        return w

    check("matmul", lambda: ops.matmul(a, b, trans_a=ta, trans_b=tb, out=out), expect, tol=1e-4 * max(1, k) ** 0.5)


# --- softmax / log_softmax over any axis --------------------------------------------------------


@FUZZ
@given(shape=st.lists(DIMS, min_size=1, max_size=4), axis=st.integers(-5, 4), data=st.data(),
       log=st.booleans())  # fmt: skip
def test_fuzz_softmax(shape, axis, data, log):
    x = data.draw(arrays(shape))

    def expect():
        need_float("softmax", x)
        if not -x.ndim <= axis < x.ndim:
            raise ValueError("axis")
        r = ref(x)
        mx = np.max(r, axis=axis, keepdims=True, initial=-np.inf)
        mx = np.where(np.isfinite(mx), mx, 0)
        e = np.exp(r - mx)
        s = e.sum(axis=axis, keepdims=True)
        return (r - mx - np.log(s)) if log else e / s

    op = "log_softmax" if log else "softmax"
    f = ops.log_softmax if log else ops.softmax
    check(op, lambda: f(x, axis=axis), expect)


# --- attention ----------------------------------------------------------------------------------


@FUZZ
@given(b=st.sampled_from([1, 2]), h=st.sampled_from([1, 3]), tq=DIMS, tk=DIMS, d=DIMS,
       dv=DIMS, causal=st.booleans(), offset=st.sampled_from([0, 0, 1, 5, 2**40]),
       mismatch=st.sampled_from([None, None, None, "d", "batch", "rank"]), data=st.data())  # fmt: skip
def test_fuzz_attention(b, h, tq, tk, d, dv, causal, offset, mismatch, data):
    q = data.draw(arrays((b, h, tq, d)))
    k = data.draw(arrays((b, h, tk, d + (mismatch == "d"))))
    v = data.draw(arrays((b + (mismatch == "batch"), h, tk, dv)))
    if mismatch == "rank":
        v = v[0, 0]

    def expect():
        need_float("attention", q, k, v)
        if k.shape[-1] != q.shape[-1] or v.shape[:3] != (b, h, tk) or v.ndim != 4:
            raise ValueError("shape")
        rq, rk, rv = ref(q), ref(k), ref(v)
        s = rq @ rk.swapaxes(-1, -2) / np.sqrt(d) if d else np.zeros((b, h, tq, tk))
        if causal:
            vis = np.arange(tk)[None, :] <= np.arange(tq)[:, None] + offset
            s = np.where(vis, s, -np.inf)
        mx = s.max(-1, keepdims=True, initial=-np.inf)
        p = np.exp(s - np.where(np.isfinite(mx), mx, 0))
        tot = p.sum(-1, keepdims=True)
        p = np.divide(p, tot, out=np.zeros_like(p), where=tot > 0)
        return p @ rv

    check("attention", lambda: ops.attention_forward(q, k, v, causal=causal, causal_offset=offset)[0], expect, tol=5e-4)


# --- conv1d -------------------------------------------------------------------------------------


@FUZZ
@given(bsz=st.sampled_from([1, 2]), cin=st.sampled_from([1, 2, 3]), cout=st.sampled_from([1, 2, 5]),
       t=DIMS, kk=st.sampled_from([1, 2, 3]), dil=st.sampled_from([1, 2, 3, 2**62, 2**70]),
       causal=st.booleans(), bias=st.booleans(), data=st.data())  # fmt: skip
def test_fuzz_conv1d(bsz, cin, cout, t, kk, dil, causal, bias, data):
    x = data.draw(arrays((bsz, cin, t)))
    w = data.draw(arrays((cout, cin, kk)))
    bb = data.draw(arrays((cout,))) if bias else None

    def expect():
        need_float("conv1d", x, w, bb)
        if dil >= 2**63 or (kk - 1) * dil >= 2**62:  # refusing absurd padding is fine
            raise ValueError("dilation")
        rx, rw = ref(x), ref(w)
        pad = (kk - 1) * dil
        out = np.zeros((bsz, cout, t))
        left = pad if causal else pad // 2  # PyTorch 'same': the odd one on the right
        for j in range(kk):
            shift = j * dil - left
            for s in range(t):
                src = s + shift
                if 0 <= src < t:
                    out[:, :, s] += rx[:, :, src] @ rw[:, :, j].T
        if bb is not None:
            out += ref(bb)[None, :, None]
        return out

    check("conv1d", lambda: ops.conv1d(x, w, bb, dilation=dil, causal=causal), expect, tol=5e-4)


# --- layer_norm and cross_entropy ----------------------------------------------------------------


@FUZZ
@given(rows=DIMS, n=DIMS, data=st.data(), affine=st.booleans())
def test_fuzz_layer_norm(rows, n, data, affine):
    x = data.draw(arrays((rows, n)))
    w = data.draw(arrays((n,))) if affine else None
    bb = data.draw(arrays((n,))) if affine else None

    def expect():
        need_float("layer_norm", x, w, bb)
        if n == 0:
            raise ValueError("empty")
        r = ref(x)
        mu = r.mean(-1, keepdims=True)
        y = (r - mu) / np.sqrt(((r - mu) ** 2).mean(-1, keepdims=True) + 1e-5)
        return y * ref(w) + ref(bb) if affine else y

    check("layer_norm", lambda: ops.layer_norm(x, w, bb)[0], expect, tol=1e-3)


@FUZZ
@given(nrows=DIMS, c=DIMS, data=st.data(), ignore=st.sampled_from([-100, 0, 2**70]),
       tdtype=st.sampled_from([np.int64, np.int32, np.uint8, np.float32, np.bool_]))  # fmt: skip
def test_fuzz_cross_entropy(nrows, c, data, ignore, tdtype):
    x = data.draw(arrays((nrows, c)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    t = rng.integers(-1, max(c, 1) + 1, nrows).astype(tdtype) if tdtype != np.bool_ else rng.random(nrows) > 0.5

    def expect():
        need_float("cross_entropy", x)
        if t.dtype.kind not in "iu" or c == 0 or ignore >= 2**63:
            raise TypeError("dtype")
        tt = t.astype(np.int64)
        keep = tt != ignore
        if np.any((tt[keep] < 0) | (tt[keep] >= c)):
            raise ValueError("range")
        r = ref(x)
        mx = r.max(-1, keepdims=True)
        lp = r - mx - np.log(np.exp(r - mx).sum(-1, keepdims=True))
        losses = -lp[np.arange(nrows), np.where(keep, tt, 0)]
        return np.asarray(losses[keep].mean() if keep.any() else np.nan)

    def call():
        loss = ops.cross_entropy(x, t, ignore_index=ignore)
        return loss[0] if isinstance(loss, tuple) else loss

    check("cross_entropy", call, expect, tol=1e-3)
