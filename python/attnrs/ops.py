"""Kernels on NumPy arrays, no autograd: NumPy in, NumPy out (float32).

float64 input is converted to float32. Strided views are read through their
strides (transposes and slices cost no copy).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _core
from ._checks import (
    DTypeError,
    ShapeError,
    as_f32,
    as_int,
    check_finite,
    check_ndim,
    check_writable,
)

__all__ = [
    "adamw_step",
    "cross_entropy",
    "embedding",
    "embedding_backward",
    "gelu",
    "gelu_backward",
    "layer_norm",
    "layer_norm_backward",
    "log_softmax",
    "log_softmax_backward",
    "matmul",
    "relu",
    "relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "softmax_backward",
    "tanh",
    "tanh_backward",
]  # fmt: skip


def _batch_view(x: np.ndarray, batch_shape: tuple[int, ...]) -> np.ndarray:
    """``x`` (…, r, c) broadcast to ``batch_shape + (r, c)`` and flattened to 3-D,
    without a copy when the broadcast batch can be walked with one stride."""
    r, c = x.shape[-2:]
    nb = math.prod(batch_shape)
    if x.shape[:-2] == batch_shape:
        # Nothing to broadcast (the common case): a view whenever the batch
        # axes collapse to one stride, else a copy.
        return x.reshape(nb, r, c)
    full = np.broadcast_to(x, batch_shape + (r, c))
    # A batch walkable with one stride: all batch strides 0 (pure broadcast) or
    # the batch dims collapse to one stride.
    bstr = [s for n, s in zip(batch_shape, full.strides[:-2]) if n > 1]
    if not bstr or all(s == 0 for s in bstr):
        return np.lib.stride_tricks.as_strided(x, (nb, r, c), (0,) + full.strides[-2:]) if nb > 1 else full.reshape(1, r, c)
    try:
        out = full.view()
        out.shape = (nb, r, c)  # raises when a copy would be needed
        return out
    except AttributeError:
        return np.ascontiguousarray(full).reshape(nb, r, c)


def matmul(
    a: np.ndarray,
    b: np.ndarray,
    *,
    trans_a: bool = False,
    trans_b: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``op(a) @ op(b)`` with NumPy ``matmul`` semantics, where ``op`` transposes
    the last two axes when ``trans_*`` is set (free: only strides change).

    # Shapes
    - a: (…, m, k) or (k,) — 1-D is promoted as in NumPy
    - b: (…, k, n) or (k,)
    - returns (broadcast(…), m, n), with promoted axes dropped
    """
    a = as_f32(a, "matmul", "a")
    b = as_f32(b, "matmul", "b")
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: a and b must have at least 1 dimension; got shapes {a.shape} and {b.shape}")
    if trans_a and a.ndim >= 2:
        a = a.swapaxes(-1, -2)
    if trans_b and b.ndim >= 2:
        b = b.swapaxes(-1, -2)
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    a2 = a[None, :] if a_vec else a
    b2 = b[:, None] if b_vec else b
    m, k = a2.shape[-2:]
    k2, n = b2.shape[-2:]
    if k != k2:
        raise ShapeError(
            f"matmul: inner dimensions differ: a has shape {a.shape} (k={k}), b has shape {b.shape} (k={k2})"
            f"{' after transposes' if trans_a or trans_b else ''}"
        )
    try:
        batch = a2.shape[:-2]
        if b2.shape[:-2] != batch:
            batch = np.broadcast_shapes(batch, b2.shape[:-2])
    except ValueError:
        raise ShapeError(
            f"matmul: batch dimensions {a2.shape[:-2]} of a and {b2.shape[:-2]} of b do not broadcast"
        ) from None
    out_shape = batch + ((m,) if not a_vec else ()) + ((n,) if not b_vec else ())
    nb = math.prod(batch)
    if out is not None:
        if not isinstance(out, np.ndarray) or out.dtype != np.float32:
            raise DTypeError(f"matmul: out must be a float32 ndarray; got {getattr(out, 'dtype', type(out).__name__)}")
        if out.shape != out_shape:
            raise ShapeError(f"matmul: out must have shape {out_shape}; got {out.shape}")
        check_writable(out, "matmul", "out")
        res = out
    else:
        res = np.empty(out_shape, dtype=np.float32)
    if res.size == 0:
        return res
    # Write in place when out is contiguous and does not overlap an input
    # (NumPy semantics allow out to alias a or b: then use a temporary).
    aliased = out is not None and (np.may_share_memory(res, a) or np.may_share_memory(res, b))
    direct = res.flags.c_contiguous and res.flags.aligned and not aliased
    c3 = res.reshape(nb, m, n) if direct else None
    target = c3 if c3 is not None else np.empty((nb, m, n), dtype=np.float32)
    if k == 0:
        target[...] = 0.0
    else:
        _core.gemm(_batch_view(a2, batch), _batch_view(b2, batch), target)
    if c3 is None:
        res[...] = target.reshape(out_shape)
    return res


# ---------------------------------------------------------------------------
# Fused layer kernels (softmax, cross-entropy, layernorm, activations,
# embedding, AdamW). float32 NumPy in, float32 NumPy out; float64 input is
# converted. Ops over an axis other than the last move it to the end first
# (one copy) and return a view with the axis moved back.
# ---------------------------------------------------------------------------


def _c(a: np.ndarray) -> np.ndarray:
    """``a`` C-contiguous (0-d arrays stay 0-d, unlike ``np.ascontiguousarray``)."""
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _axis_last(x: np.ndarray, axis: int, op: str, arg: str = "x") -> tuple[np.ndarray, int]:
    """``x`` with ``axis`` moved last, C-contiguous, and the normalized axis."""
    if x.ndim == 0:
        raise ShapeError(f"{op}: {arg} must have at least 1 dimension; got a 0-d array")
    if not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < x.ndim:
        raise ShapeError(f"{op}: axis {axis!r} is out of range for {arg} of shape {x.shape}")
    ax = int(axis) % x.ndim
    if ax != x.ndim - 1:
        x = np.moveaxis(x, ax, -1)
    return _c(x), ax


def _axis_back(y: np.ndarray, ax: int) -> np.ndarray:
    return y if ax == y.ndim - 1 else np.moveaxis(y, -1, ax)


def _same_shape(op: str, a: np.ndarray, b: np.ndarray, na: str, nb: str) -> None:
    if a.shape != b.shape:
        raise ShapeError(f"{op}: {na} and {nb} must have the same shape; got {a.shape} and {b.shape}")


def softmax(
    x: np.ndarray, axis: int = -1, *, scale: float = 1.0, mask: np.ndarray | None = None
) -> np.ndarray:
    """``softmax(scale·x + mask)`` along ``axis``, max-subtracted, fused in Rust.

    ``mask`` is additive (use ``-inf`` to mask out) and broadcasts to ``x``;
    a row whose entries are all ``-inf`` gives NaN, as in PyTorch.

    # Shapes
    - x: (…, n, …) — any shape, ``axis`` selects n
    - mask: broadcastable to x
    - returns x.shape
    """
    x = as_f32(x, "softmax", "x")
    scale = check_finite(scale, "softmax", "scale")
    xc, ax = _axis_last(x, axis, "softmax")
    y = np.empty_like(xc)
    m = None
    if mask is not None:
        mk = as_f32(mask, "softmax", "mask")
        try:
            mb = np.broadcast_to(mk, x.shape)
        except ValueError:
            raise ShapeError(f"softmax: mask of shape {mk.shape} does not broadcast to x of shape {x.shape}") from None
        mb = np.moveaxis(mb, ax, -1)
        if all(s == 0 for s in mb.strides[:-1]):
            m = _c(mb[(0,) * (mb.ndim - 1)])  # one row, broadcast by the kernel
        else:
            m = _c(mb)
    _core.softmax(xc, y, scale, m)
    return _axis_back(y, ax)


def softmax_backward(y: np.ndarray, dy: np.ndarray, axis: int = -1, *, scale: float = 1.0) -> np.ndarray:
    """Gradient of ``softmax(scale·x)`` w.r.t. x from the output ``y``:
    ``dx = scale·y⊙(dy − Σ dy⊙y)`` along ``axis``.

    # Shapes
    - y, dy: same shape; returns that shape
    """
    y = as_f32(y, "softmax_backward", "y")
    dy = as_f32(dy, "softmax_backward", "dy")
    _same_shape("softmax_backward", y, dy, "y", "dy")
    scale = check_finite(scale, "softmax_backward", "scale")
    yc, ax = _axis_last(y, axis, "softmax_backward", "y")
    dyc, _ = _axis_last(dy, axis, "softmax_backward", "dy")
    dx = np.empty_like(yc)
    _core.softmax_backward(yc, dyc, dx, scale)
    return _axis_back(dx, ax)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``x − logsumexp(x)`` along ``axis``, fused in Rust.

    # Shapes
    - x: any shape with at least 1 dimension; returns x.shape
    """
    x = as_f32(x, "log_softmax", "x")
    xc, ax = _axis_last(x, axis, "log_softmax")
    y = np.empty_like(xc)
    _core.log_softmax(xc, y)
    return _axis_back(y, ax)


def log_softmax_backward(y: np.ndarray, dy: np.ndarray, axis: int = -1) -> np.ndarray:
    """Gradient of log-softmax from its output ``y``: ``dx = dy − exp(y)·Σ dy``.

    # Shapes
    - y, dy: same shape; returns that shape
    """
    y = as_f32(y, "log_softmax_backward", "y")
    dy = as_f32(dy, "log_softmax_backward", "dy")
    _same_shape("log_softmax_backward", y, dy, "y", "dy")
    yc, ax = _axis_last(y, axis, "log_softmax_backward", "y")
    dyc, _ = _axis_last(dy, axis, "log_softmax_backward", "dy")
    dx = np.empty_like(yc)
    _core.log_softmax_backward(yc, dyc, dx)
    return _axis_back(dx, ax)


def _as_int64(ids: Any, op: str, arg: str) -> np.ndarray:
    if hasattr(ids, "data") and hasattr(ids, "requires_grad"):  # a Tensor
        ids = ids.data
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        raise DTypeError(f"{op}: {arg} must be an integer array; got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{op}: {arg} has values beyond the int64 range")
    return _c(arr.astype(np.int64, copy=False))


_REDUCTIONS = ("mean", "sum", "none")


def cross_entropy(
    logits: np.ndarray,
    target: np.ndarray,
    *,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> tuple[np.ndarray, np.ndarray]:
    """Fused log-softmax + NLL with PyTorch semantics, and its gradient.

    Returns ``(loss, dlogits)``: for ``mean``/``sum`` the loss is a float32
    0-d array and ``dlogits`` the gradient of that reduced loss (upstream
    gradient 1); for ``none`` the loss is (N,) and ``dlogits`` row i is the
    gradient of loss[i]. Rows whose target is ``ignore_index`` give loss 0 and
    gradient 0; ``mean`` divides by the number of other rows (NaN if none).

    # Shapes
    - logits: (N, C) or (C,)
    - target: (N,) or () integer class indices in [0, C) or ignore_index
    - returns loss () or (N,), dlogits logits.shape
    """
    op = "cross_entropy"
    x = as_f32(logits, op, "logits")
    t = _as_int64(target, op, "target")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}; got {reduction!r}")
    ls = check_finite(label_smoothing, op, "label_smoothing")
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1]; got {label_smoothing!r}")
    squeeze = x.ndim == 1
    if squeeze:
        x = x[None, :]
        if t.ndim != 0:
            raise ShapeError(f"{op}: with logits of shape {x.shape[1:]} the target must be a scalar; got shape {t.shape}")
        t = t.reshape(1)
    check_ndim(x, op, "logits", 2, "(N, C)")
    if t.shape != (x.shape[0],):
        raise ShapeError(f"{op}: target must have shape ({x.shape[0]},) to match logits {x.shape}; got {t.shape}")
    if x.shape[1] == 0:
        raise ShapeError(f"{op}: logits must have at least one class; got shape {x.shape}")
    x = _c(x)
    losses = np.empty(x.shape[0], dtype=np.float32)
    dlogits = np.empty_like(x)
    total = _core.cross_entropy(x, t, losses, dlogits, as_int(ignore_index, op, "ignore_index"), ls, reduction)
    if squeeze:
        dlogits = dlogits[0]
    if reduction == "none":
        return (losses[0] if squeeze else losses), dlogits
    return np.asarray(total, dtype=np.float32), dlogits


def _vector(v: Any, n: int, op: str, arg: str) -> np.ndarray | None:
    if v is None:
        return None
    a = _c(as_f32(v, op, arg))
    if a.shape != (n,):
        raise ShapeError(f"{op}: {arg} must have shape ({n},) (the normalized axis); got {a.shape}")
    return a


def layer_norm(
    x: np.ndarray,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LayerNorm over the last axis: ``(x − mean)/√(var + eps)·weight + bias``
    (biased variance), fused in Rust. Returns ``(y, mean, rstd)`` with
    rstd = 1/√(var + eps), which ``layer_norm_backward`` takes.

    # Shapes
    - x: (…, n); weight, bias: (n,) or None
    - returns y (…, n), mean (…,), rstd (…,)
    """
    op = "layer_norm"
    x = as_f32(x, op, "x")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ShapeError(f"{op}: x must have a non-empty last axis; got shape {x.shape}")
    eps = check_finite(eps, op, "eps")
    if eps < 0:
        raise ValueError(f"{op}: eps must be >= 0; got {eps}")
    n = x.shape[-1]
    w, b = _vector(weight, n, op, "weight"), _vector(bias, n, op, "bias")
    xc = _c(x)
    y = np.empty_like(xc)
    mean = np.empty(x.shape[:-1], dtype=np.float32)
    rstd = np.empty(x.shape[:-1], dtype=np.float32)
    _core.layer_norm(xc, w, b, eps, y, mean, rstd)
    return y, mean, rstd


def layer_norm_backward(
    dy: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray | None,
    mean: np.ndarray,
    rstd: np.ndarray,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Gradients of ``layer_norm`` from the saved ``mean``/``rstd``.

    Returns ``(dx, dweight, dbias)``; ``dweight`` is None when ``weight`` is
    None, ``dbias`` (= dy summed over all but the last axis) is always given.
    dweight/dbias are reduced over rows in a fixed order (deterministic).

    # Shapes
    - dy, x: (…, n); weight: (n,) or None; mean, rstd: (…,)
    - returns dx (…, n), dweight (n,) or None, dbias (n,)
    """
    op = "layer_norm_backward"
    dy = as_f32(dy, op, "dy")
    x = as_f32(x, op, "x")
    _same_shape(op, dy, x, "dy", "x")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ShapeError(f"{op}: x must have a non-empty last axis; got shape {x.shape}")
    n = x.shape[-1]
    w = _vector(weight, n, op, "weight")
    mean = _c(as_f32(mean, op, "mean"))
    rstd = _c(as_f32(rstd, op, "rstd"))
    for name, a in (("mean", mean), ("rstd", rstd)):
        if a.shape != x.shape[:-1]:
            raise ShapeError(f"{op}: {name} must have shape {x.shape[:-1]}; got {a.shape}")
    dx = np.empty(x.shape, dtype=np.float32)
    dw = np.empty(n, dtype=np.float32)
    db = np.empty(n, dtype=np.float32)
    _core.layer_norm_backward(_c(dy), _c(x), w, mean, rstd, dx, dw, db)
    return dx, (dw if w is not None else None), db


def _gelu_kind(approximate: str, op: str) -> str:
    if approximate == "none":
        return "gelu"
    if approximate == "tanh":
        return "gelu_tanh"
    raise ValueError(f"{op}: approximate must be 'none' or 'tanh'; got {approximate!r}")


def _act(kind: str, x: Any, op: str) -> np.ndarray:
    xc = _c(as_f32(x, op, "x"))
    y = np.empty_like(xc)
    _core.activation(kind, xc, y)
    return y


def _act_bwd(kind: str, saved: Any, dy: Any, op: str, saved_name: str) -> np.ndarray:
    s = _c(as_f32(saved, op, saved_name))
    d = _c(as_f32(dy, op, "dy"))
    _same_shape(op, s, d, saved_name, "dy")
    dx = np.empty_like(s)
    _core.activation_backward(kind, s, d, dx)
    return dx


def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """GELU: ``x·Φ(x)`` (``approximate="none"``) or the tanh form
    ``½x(1 + tanh(√(2/π)(x + 0.044715x³)))``, elementwise, SIMD. Φ is a
    polynomial (absolute error ≤ 1.2e-7) on SIMD vectors whose inputs all lie
    in |x| ≤ 2√2, else ½·erfc(−x/√2), relatively accurate in the left tail.

    # Shapes
    - x: any; returns x.shape
    """
    return _act(_gelu_kind(approximate, "gelu"), x, "gelu")


def gelu_backward(x: np.ndarray, dy: np.ndarray, approximate: str = "none") -> np.ndarray:
    """``dy ⊙ gelu'(x)`` for the chosen form.

    # Shapes
    - x, dy: same shape; returns that shape
    """
    return _act_bwd(_gelu_kind(approximate, "gelu_backward"), x, dy, "gelu_backward", "x")


def relu(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)`` elementwise (NaN stays NaN)."""
    return _act("relu", x, "relu")


def relu_backward(x: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``dy`` where ``x > 0``, else 0."""
    return _act_bwd("relu", x, dy, "relu_backward", "x")


def tanh(x: np.ndarray) -> np.ndarray:
    """tanh elementwise (SIMD, ≤ 4 ulp)."""
    return _act("tanh", x, "tanh")


def tanh_backward(y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``dy·(1 − y²)`` from the forward output ``y``."""
    return _act_bwd("tanh", y, dy, "tanh_backward", "y")


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``1/(1 + e^−x)`` elementwise (SIMD)."""
    return _act("sigmoid", x, "sigmoid")


def sigmoid_backward(y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``dy·y(1 − y)`` from the forward output ``y``."""
    return _act_bwd("sigmoid", y, dy, "sigmoid_backward", "y")


def embedding(weight: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Rows of ``weight`` gathered by integer ``ids`` (bounds-checked: an id
    outside [0, V) raises ValueError naming it).

    # Shapes
    - weight: (V, D); ids: any shape of integers
    - returns ids.shape + (D,)
    """
    op = "embedding"
    w = as_f32(weight, op, "weight")
    check_ndim(w, op, "weight", 2, "(num_embeddings, dim)")
    i = _as_int64(ids, op, "ids")
    out = np.empty(i.shape + (w.shape[1],), dtype=np.float32)
    _core.embedding(_c(w), i.reshape(-1), out.reshape(-1, w.shape[1]))
    return out


def embedding_backward(dy: np.ndarray, ids: np.ndarray, num_embeddings: int) -> np.ndarray:
    """Gradient of ``embedding`` w.r.t. the table: ``dW[v] = Σ_{ids = v} dy``,
    summed in a fixed order (deterministic, no atomics).

    # Shapes
    - dy: ids.shape + (D,); ids: any shape of integers
    - returns (num_embeddings, D)
    """
    op = "embedding_backward"
    d = as_f32(dy, op, "dy")
    i = _as_int64(ids, op, "ids")
    num = int(num_embeddings)
    if num < 0:
        raise ValueError(f"{op}: num_embeddings must be >= 0; got {num_embeddings}")
    if d.ndim != i.ndim + 1 or d.shape[:-1] != i.shape:
        raise ShapeError(f"{op}: dy must have shape ids.shape + (D,) = {i.shape} + (D,); got {d.shape}")
    dim = d.shape[-1]
    dw = np.empty((num, dim), dtype=np.float32)
    _core.embedding_backward(_c(d).reshape(-1, dim), i.reshape(-1), dw)
    return dw


def _inplace(a: Any, op: str, arg: str) -> np.ndarray:
    if hasattr(a, "data") and hasattr(a, "requires_grad"):  # a Tensor
        a = a.data
    if not isinstance(a, np.ndarray):
        raise DTypeError(f"{op}: {arg} must be a float32 ndarray (updated in place); got {type(a).__name__}")
    if a.dtype != np.float32:
        raise DTypeError(f"{op}: {arg} must be float32 (updated in place); got dtype {a.dtype}")
    if not a.flags.c_contiguous:
        raise ShapeError(f"{op}: {arg} must be C-contiguous to be updated in place; got strides {a.strides}")
    if not a.flags.writeable:
        raise ValueError(f"{op}: {arg} is read-only")
    return a.reshape(-1)


def adamw_step(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    step: int,
) -> None:
    """One fused AdamW step (PyTorch's formulas, decoupled weight decay), in
    place on ``param``, ``exp_avg`` and ``exp_avg_sq``; ``step`` counts from 1
    and drives the bias correction. ``weight_decay=0`` is Adam without decay.

    # Shapes
    - param, exp_avg, exp_avg_sq: float32, C-contiguous, any shape, same size
    - grad: same size (float64 converted)
    """
    op = "adamw_step"
    p = _inplace(param, op, "param")
    m = _inplace(exp_avg, op, "exp_avg")
    v = _inplace(exp_avg_sq, op, "exp_avg_sq")
    g = _c(as_f32(grad, op, "grad")).reshape(-1)
    for name, a in (("grad", g), ("exp_avg", m), ("exp_avg_sq", v)):
        if a.size != p.size:
            raise ShapeError(f"{op}: {name} has {a.size} elements, param has {p.size}")
    named = (("param", p), ("grad", g), ("exp_avg", m), ("exp_avg_sq", v))
    for i, (na, a) in enumerate(named):
        for nb, b in named[i + 1:]:
            if np.may_share_memory(a, b):
                raise ValueError(f"{op}: {na} and {nb} share memory; pass four distinct arrays")
    hp = {k: check_finite(val, op, k) for k, val in
          (("lr", lr), ("beta1", beta1), ("beta2", beta2), ("eps", eps), ("weight_decay", weight_decay))}  # fmt: skip
    _core.adamw_step(p, g, m, v, step=as_int(step, op, "step", 1), **hp)


from ._ops_attention import attention, attention_backward, attention_forward  # noqa: E402

__all__ += ["attention", "attention_forward", "attention_backward"]
# --- conv1d ------------------------------------------------------------------------------

__all__ += ["conv1d", "conv1d_backward", "conv1d_state", "conv1d_step"]


def _conv_args(
    x: Any, w: Any, b: Any, dilation: Any, op: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    x = as_f32(x, op, "input")
    w = as_f32(w, op, "weight")
    if w.ndim != 3:
        raise ShapeError(f"{op}: weight must be 3-D (out_channels, in_channels, kernel_size); got shape {w.shape}")
    if w.shape[2] == 0:
        raise ShapeError(f"{op}: weight must have kernel_size >= 1; got shape {w.shape}")
    if b is not None:
        b = np.ascontiguousarray(as_f32(b, op, "bias"))
        if b.shape != (w.shape[0],):
            raise ShapeError(f"{op}: bias must have shape ({w.shape[0]},) (out_channels); got {b.shape}")
    if isinstance(dilation, bool):
        raise ValueError(f"{op}: dilation must be an integer >= 1; got {dilation!r}")
    return x, w, b, as_int(dilation, op, "dilation", 1)


def _conv_input(x: np.ndarray, w: np.ndarray, op: str, arg: str = "input") -> None:
    if x.ndim != 3:
        raise ShapeError(f"{op}: {arg} must be 3-D (batch, channels, time); got shape {x.shape}")
    if x.shape[1] != w.shape[1]:
        raise ShapeError(
            f"{op}: {arg} has {x.shape[1]} channels (shape {x.shape}) but weight expects "
            f"in_channels={w.shape[1]} (weight shape {w.shape})"
        )


def conv1d(
    x: Any,
    w: Any,
    b: Any = None,
    *,
    dilation: int = 1,
    causal: bool = True,
) -> np.ndarray:
    """1-D convolution with output length T: ``y[:, o, t] = b[o] + Σ_{i,j} w[o, i, j] · x[:, i, t + j·d − pad]``.

    ``causal=True`` pads ``(K−1)·d`` zeros on the left only, so ``y[t]`` sees
    ``x[t−(K−1)·d ..= t]``; ``causal=False`` is PyTorch's ``padding='same'``:
    ``⌊(K−1)·d/2⌋`` zeros on the left, the rest (one more for an odd total,
    i.e. an even K with an odd d) on the right. One GEMM per tap on shifted
    views of x; x may be any strided view.

    # Shapes
    - x: (B, C_in, T), w: (C_out, C_in, K), b: (C_out,) or None → (B, C_out, T)
    """
    x, w, b, d = _conv_args(x, w, b, dilation, "conv1d")
    _conv_input(x, w, "conv1d")
    y = np.empty((x.shape[0], w.shape[0], x.shape[2]), dtype=np.float32)
    _core.conv1d_forward(x, w, b, y, d, bool(causal))
    return y


def conv1d_backward(
    x: Any,
    w: Any,
    dy: Any,
    *,
    dilation: int = 1,
    causal: bool = True,
    need_input: bool = True,
    need_weight: bool = True,
    need_bias: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients of :func:`conv1d` for the upstream gradient ``dy``: ``(dx, dw, db)``,
    each None when not asked for. ``dw`` sums the batch in a fixed order, so the
    result is the same for any thread count.

    # Shapes
    - x: (B, C_in, T), w: (C_out, C_in, K), dy: (B, C_out, T)
    - → dx (B, C_in, T), dw (C_out, C_in, K), db (C_out,)
    """
    x, w, _, d = _conv_args(x, w, None, dilation, "conv1d_backward")
    _conv_input(x, w, "conv1d_backward")
    dy = as_f32(dy, "conv1d_backward", "grad_output")
    want = (x.shape[0], w.shape[0], x.shape[2])
    if dy.shape != want:
        raise ShapeError(f"conv1d_backward: grad_output must have shape {want} (the output's); got {dy.shape}")
    dx = np.empty(x.shape, dtype=np.float32) if need_input else None
    dw = np.empty(w.shape, dtype=np.float32) if need_weight else None
    db = np.empty(w.shape[0], dtype=np.float32) if need_bias else None
    if dx is not None or dw is not None or db is not None:
        _core.conv1d_backward(x, w, dy, dx, dw, db, d, bool(causal))
    return dx, dw, db


def conv1d_state(batch: int, in_channels: int, kernel_size: int, dilation: int = 1) -> np.ndarray:
    """A zeroed ring buffer for :func:`conv1d_step`: the last ``(K−1)·d + 1``
    inputs, laid out ``(span, batch, in_channels)``."""
    op = "conv1d_state"
    batch, in_channels = as_int(batch, op, "batch", 0), as_int(in_channels, op, "in_channels", 0)
    kernel_size, dilation = as_int(kernel_size, op, "kernel_size", 1), as_int(dilation, op, "dilation", 1)
    if (kernel_size - 1) * dilation + 1 > 2**62:
        raise ValueError(
            f"conv1d_state: the state would need (kernel_size - 1)·dilation + 1 = "
            f"{(kernel_size - 1) * dilation + 1} time steps; dilation {dilation} is too large"
        )
    if kernel_size < 1 or dilation < 1 or batch < 0 or in_channels < 0:
        raise ValueError(
            f"conv1d_state: expected kernel_size >= 1, dilation >= 1 and non-negative sizes; got "
            f"batch={batch}, in_channels={in_channels}, kernel_size={kernel_size}, dilation={dilation}"
        )
    return np.zeros(((kernel_size - 1) * dilation + 1, batch, in_channels), dtype=np.float32)


def conv1d_step(
    x_t: Any,
    w: Any,
    b: Any = None,
    *,
    state: np.ndarray,
    step: int,
    dilation: int = 1,
) -> np.ndarray:
    """One step of a causal :func:`conv1d` for generation: consumes ``x_t``, the
    input at time ``step`` (0 for the first call of a stream), updates the ring
    buffer ``state`` in place (from :func:`conv1d_state`) and returns the output
    at that time. The cost does not depend on ``step``.

    # Shapes
    - x_t: (B, C_in), w: (C_out, C_in, K), b: (C_out,) or None
    - state: ((K−1)·d + 1, B, C_in) float32, C-contiguous → (B, C_out)
    """
    x_t, w, b, d = _conv_args(x_t, w, b, dilation, "conv1d_step")
    if x_t.ndim != 2 or x_t.shape[1] != w.shape[1]:
        raise ShapeError(f"conv1d_step: x_t must be 2-D (batch, in_channels={w.shape[1]}); got shape {x_t.shape}")
    if not isinstance(state, np.ndarray) or state.dtype != np.float32:
        raise DTypeError(f"conv1d_step: state must be a float32 ndarray from conv1d_state; got {type(state).__name__}")
    check_writable(state, "conv1d_step", "state")
    if isinstance(step, bool):
        raise ValueError(f"conv1d_step: step must be an integer >= 0; got {step!r}")
    step = as_int(step, "conv1d_step", "step", 0)
    y = np.empty((x_t.shape[0], w.shape[0]), dtype=np.float32)
    _core.conv1d_step(np.ascontiguousarray(x_t), w, b, state, y, int(step), d)
    return y
# --- recurrent layers (implemented in _ops_rnn.py) ------------------------------------------
from ._ops_rnn import rnn_backward, rnn_forward, rnn_lengths  # noqa: E402

__all__ += ["rnn_forward", "rnn_backward", "rnn_lengths"]
