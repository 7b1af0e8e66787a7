"""Losses: fused cross-entropy (``ops.loss``) and mean squared error (NumPy)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from .._validate import ShapeError, as_index, as_int, check_finite
from ..autograd import Function
from ..tensor import Tensor, as_tensor

__all__ = ["cross_entropy", "mse_loss"]


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
        if ctx.reduction == "none":
            return d * g[:, None]
        # d·1 is d bit for bit: a loss's own backward() seeds 1, so no pass over the logits
        # (nothing downstream writes into a gradient it is given; `.grad` takes a copy).
        return d if g == 1 else d * g


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
