"""Softmax and log-softmax along an axis (``ops.softmax``)."""

from __future__ import annotations

from typing import Any

from .. import ops
from .._validate import check_finite, norm_axis
from ..autograd import Function
from ..tensor import Tensor, as_tensor

__all__ = ["log_softmax", "softmax"]


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
