"""Layer ops with fused Rust kernels (part of ``attnrs.functional``).

softmax, log_softmax, layer_norm, gelu, embedding and cross_entropy call the
fused kernels of ``attnrs.ops`` for forward and backward; linear calls the
fused ``_core.linear_*`` GEMM kernels (W read transposed in place, bias in the
GEMM's store); dropout and mse_loss are NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _core, ops
from ._checks import ShapeError, as_int, check_finite
from ._fn_common import as_index, as_tensor, norm_axis
from .autograd import Function
from .tensor import Tensor, default_rng

__all__ = [
    "cross_entropy",
    "dropout",
    "embedding",
    "layer_norm",
    "linear",
    "log_softmax",
    "mse_loss",
    "softmax",
]  # fmt: skip


# --- linear ------------------------------------------------------------------------------


def _rows(a: np.ndarray) -> np.ndarray:
    """``a`` as (N, last axis) — also when an axis is 0, where ``reshape(-1, n)`` fails —
    with flipped views copied (the kernel reads any non-negative strides in place)."""
    a2 = a.reshape(math.prod(a.shape[:-1]), a.shape[-1])
    return a2 if all(s >= 0 for s in a2.strides) else np.ascontiguousarray(a2)


class Linear(Function):
    """``y = x Wᵀ + b``: one fused Rust call each way (``_core.linear_forward``
    reads W transposed in place and adds b in the GEMM's store;
    ``_core.linear_backward`` runs dX, dW and db side by side).

    # Shapes
    - x: (…, in), weight: (out, in), bias: (out,) or None → (…, out)
    """

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save(x, w)
        ctx.has_bias = b is not None
        x2 = _rows(x)  # (N, in): one GEMM over all leading axes
        y = np.empty((x2.shape[0], w.shape[0]), dtype=np.float32)  # (N, out)
        bias = None if b is None else np.ascontiguousarray(b)
        _core.linear_forward(x2, _rows(w), y, bias)
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved
        need = ctx.needs_input_grad
        x2 = _rows(x)  # (N, in)
        g2 = np.ascontiguousarray(_rows(g), dtype=np.float32)  # (N, out)
        gx = np.empty(x2.shape, dtype=np.float32) if need[0] else None
        gw = np.empty(w.shape, dtype=np.float32) if need[1] else None
        gb = np.empty(w.shape[0], dtype=np.float32) if ctx.has_bias and need[2] else None
        if gx is not None or gw is not None or gb is not None:
            _core.linear_backward(x2, _rows(w), g2, gx, gw, gb)
        return (None if gx is None else gx.reshape(x.shape)), gw, gb


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` (PyTorch's ``F.linear``).

    # Shapes
    - x: (…, in), weight: (out, in), bias: (out,) → (…, out)
    """
    x, weight = as_tensor(x), as_tensor(weight)
    if weight.ndim != 2:
        raise ShapeError(f"linear: weight must be 2-D (out, in); got shape {weight.shape}")
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ShapeError(
            f"linear: input's last dimension must be in_features={weight.shape[1]}; "
            f"got input shape {x.shape}"
        )
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (weight.shape[0],):
            raise ShapeError(f"linear: bias must have shape ({weight.shape[0]},); got {bias.shape}")
    return Linear.apply(x, weight, bias)


# --- softmax -----------------------------------------------------------------------------


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis=-1, scale=1.0, mask=None):
        y = ops.softmax(x, axis, scale=scale, mask=mask)
        ctx.save(y)
        ctx.axis, ctx.scale = axis, scale
        return y

    @staticmethod
    def backward(ctx, g):
        return ops.softmax_backward(ctx.saved[0], g, ctx.axis, scale=ctx.scale)


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, axis=-1):
        y = ops.log_softmax(x, axis)
        ctx.save(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, g):
        return ops.log_softmax_backward(ctx.saved[0], g, ctx.axis)


def softmax(x: Tensor, axis: int = -1, *, scale: float = 1.0, mask: Any = None) -> Tensor:
    """``softmax(scale · x + mask)`` along ``axis`` (fused kernel).

    ``mask`` is additive (``-inf`` where masked), broadcast like ``ops.softmax``
    accepts it; a fully masked row gives NaN, as in PyTorch.
    """
    x = as_tensor(x)
    axis = norm_axis(axis, x.ndim, "softmax", "axis")
    return Softmax.apply(x, axis, scale=check_finite(scale, "softmax", "scale"), mask=mask)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    x = as_tensor(x)
    return LogSoftmax.apply(x, norm_axis(axis, x.ndim, "log_softmax", "axis"))


# --- layer norm --------------------------------------------------------------------------


class LayerNorm(Function):
    """Normalises over the last axis; callers flatten ``normalized_shape`` into it."""

    @staticmethod
    def forward(ctx, x, w, b, eps=1e-5):
        y, mean, rstd = ops.layer_norm(x, w, b, eps=eps)
        ctx.save(x, w, mean, rstd)
        ctx.has_bias = b is not None
        return y

    @staticmethod
    def backward(ctx, g):
        x, w, mean, rstd = ctx.saved
        dx, dw, db = ops.layer_norm_backward(g, x, w, mean, rstd)
        return dx, dw, (db if ctx.has_bias else None)


def layer_norm(
    x: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Layer normalisation over the trailing ``normalized_shape`` axes (PyTorch's signature).

    # Shapes
    - x: (…, *normalized_shape); weight, bias: normalized_shape → same as x
    """
    x = as_tensor(x)
    ns = (
        (int(normalized_shape),)
        if isinstance(normalized_shape, (int, np.integer))
        else tuple(normalized_shape)
    )
    if not ns or x.shape[x.ndim - len(ns) :] != ns or x.ndim < len(ns):
        raise ShapeError(
            f"layer_norm: input shape {x.shape} does not end with normalized_shape {ns}"
        )
    eps = check_finite(eps, "layer_norm", "eps")
    if eps < 0:
        raise ValueError(f"layer_norm: eps must be non-negative; got {eps}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != ns:
            raise ShapeError(f"layer_norm: {name} must have shape {ns}; got {tuple(p.shape)}")
    n = int(math.prod(ns))  # math.prod: np.prod costs ~2 µs per call
    flat = x if len(ns) == 1 else x.reshape(x.shape[: x.ndim - len(ns)] + (n,))
    w = None if weight is None else (weight if len(ns) == 1 else as_tensor(weight).reshape(n))
    b = None if bias is None else (bias if len(ns) == 1 else as_tensor(bias).reshape(n))
    y = LayerNorm.apply(flat, w, b, eps=eps)
    return y if len(ns) == 1 else y.reshape(x.shape)


# --- embedding ---------------------------------------------------------------------------


class Embedding(Function):
    @staticmethod
    def forward(ctx, weight, ids, padding_idx=None):
        ctx.ids, ctx.n, ctx.padding_idx = ids, weight.shape[0], padding_idx
        return ops.embedding(weight, ids)

    @staticmethod
    def backward(ctx, g):
        dw = ops.embedding_backward(g, ctx.ids, ctx.n)
        if ctx.padding_idx is not None:
            dw[ctx.padding_idx] = 0.0
        return dw


def embedding(ids: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` for integer ``ids`` (PyTorch's argument order).

    ``ids`` is a NumPy integer array or an integer-valued Tensor. The row at
    ``padding_idx`` gets no gradient.

    # Shapes
    - ids: (…), weight: (num_embeddings, dim) → (…, dim)
    """
    weight = as_tensor(weight)
    idx = as_index(ids, "embedding", "ids")
    if weight.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, dim); got {weight.shape}")
    n = weight.shape[0]
    if padding_idx is not None:
        if not -n <= int(padding_idx) < n:
            raise ValueError(
                f"embedding: padding_idx={padding_idx} out of range for {n} embeddings"
            )
        padding_idx = int(padding_idx) % n
    return Embedding.apply(weight, idx, padding_idx)


# --- dropout -----------------------------------------------------------------------------


class Dropout(Function):
    @staticmethod
    def forward(ctx, x, p):
        keep = default_rng().random(x.shape, dtype=np.float32) >= p
        scale = np.float32(1.0 / (1.0 - p))
        ctx.save(keep, scale)
        return np.where(keep, x * scale, np.float32(0))

    @staticmethod
    def backward(ctx, g):
        keep, scale = ctx.saved
        return np.where(keep, g * scale, np.float32(0))


def dropout(x: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zeroes each element with probability ``p`` and scales the rest by ``1/(1-p)``.

    Identity when not ``training`` or ``p == 0``; uses ``attnrs.manual_seed``'s generator.
    """
    p = check_finite(p, "dropout", "p")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1]; got {p}")
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    return Dropout.apply(x, p)


# --- losses ------------------------------------------------------------------------------

_REDUCTIONS = ("mean", "sum", "none")


class CrossEntropy(Function):
    """Fused log-softmax + NLL on (M, C) logits; the kernel returns dlogits."""

    @staticmethod
    def forward(ctx, logits, target, ignore_index, label_smoothing, reduction):
        loss, dlogits = ops.cross_entropy(
            logits,
            target,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            reduction=reduction,
        )
        ctx.save(dlogits)
        ctx.reduction = reduction
        return np.asarray(loss, dtype=np.float32)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved
        return d * (g[:, None] if ctx.reduction == "none" else g)


def cross_entropy(
    input: Tensor,  # noqa: A002
    target: Any,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy over class logits, following PyTorch exactly for the shapes it takes.

    ``target`` holds class indices (a NumPy integer array or an integer-valued
    Tensor); ``ignore_index`` targets contribute nothing, and ``"mean"``
    divides by the number of targets that are not ignored. Class
    probabilities as targets are not supported.

    # Shapes
    - input: (N, C) with target (N,); (C,) with target (); or (N, C, d1, …) with
      target (N, d1, …) — classes on axis 1, as in PyTorch. A (B, T, C) model
      output is passed as ``logits.reshape(-1, C)`` with ``target.reshape(-1)``.
    - returns a scalar, or for ``reduction="none"`` the target's shape
    """
    x = as_tensor(input)
    tgt = as_index(target, "cross_entropy", "target")
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"cross_entropy: reduction must be one of {_REDUCTIONS}; got {reduction!r}"
        )
    ls = check_finite(label_smoothing, "cross_entropy", "label_smoothing")
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1]; got {label_smoothing}")
    if x.ndim == 0:
        raise ShapeError("cross_entropy: input must have a class axis; got a 0-D tensor")
    expected = () if x.ndim == 1 else x.shape[:1] + x.shape[2:]
    if tgt.shape != expected:
        raise ShapeError(
            f"cross_entropy: target must have shape {expected} for input of shape {x.shape} "
            f"(classes on axis {0 if x.ndim == 1 else 1}); got {tgt.shape}"
        )
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    if x.ndim == 1:
        flat = x.reshape(1, c)
    elif x.ndim == 2:
        flat = x
    else:  # (N, C, d…) → (N·d…, C)
        flat = x.permute((0,) + tuple(range(2, x.ndim)) + (1,)).reshape(-1, c)
    loss = CrossEntropy.apply(flat, tgt.reshape(-1), as_int(ignore_index, "cross_entropy", "ignore_index"), ls, reduction)
    if reduction == "none":
        return loss.reshape(tgt.shape)
    return loss


class MSELoss(Function):
    @staticmethod
    def forward(ctx, x, t, reduction):
        d = np.subtract(x, t, dtype=np.float32)
        ctx.save(d)
        ctx.reduction = reduction
        sq = d * d
        if reduction == "none":
            return sq
        return np.asarray(
            sq.sum(dtype=np.float32) if reduction == "sum" else sq.mean(dtype=np.float32)
        )

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved
        scale = np.float32(2.0 if ctx.reduction != "mean" else 2.0 / max(d.size, 1))
        gx = (g * scale) * d
        return gx, -gx


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean (or summed, or elementwise) squared error; shapes must match."""
    x, t = as_tensor(input), as_tensor(target)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"mse_loss: reduction must be one of {_REDUCTIONS}; got {reduction!r}")
    if x.shape != t.shape:
        raise ShapeError(f"mse_loss: input shape {x.shape} and target shape {t.shape} differ")
    return MSELoss.apply(x, t, reduction)
