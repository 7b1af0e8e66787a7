"""Reductions: sum, mean, max, min (differentiable), argmax, argmin (indices)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .._validate import norm_axes, norm_axis
from ..autograd import Function
from ..tensor import Tensor, as_tensor

__all__ = ["MaxMin", "argmax", "argmin", "max", "max_dim", "mean", "min", "min_dim", "sum", "topk"]


class MaxMin(NamedTuple):
    """What ``max``/``min`` over one dim return, as ``torch.return_types.max``: a tuple
    ``(values, indices)`` whose fields are also named."""

    values: Tensor
    indices: Tensor


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...] | None) -> tuple[int, ...]:
    """``shape`` with the reduced axes set to 1 (the keepdims shape)."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _spread(g: np.ndarray, kshape: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """The gradient of a reduction, broadcast back over the reduced axes.

    Small results are materialised (cheaper than ``np.broadcast_to``'s Python
    overhead); large ones stay a zero-copy broadcast view.
    """
    g = g.reshape(kshape)
    if math.prod(shape) > 65536:
        return np.broadcast_to(g, shape)
    out = np.empty(shape, dtype=np.float32)
    out[...] = g
    return out


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = norm_axes(axis, x.ndim)
        ctx.shape, ctx.kshape = x.shape, _kept_shape(x.shape, axes)
        return np.asarray(np.add.reduce(x, axis=axes, dtype=np.float32, keepdims=keepdims))

    @staticmethod
    def backward(ctx, g):
        return _spread(g, ctx.kshape, ctx.shape)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = norm_axes(axis, x.ndim)
        ctx.shape, ctx.kshape = x.shape, _kept_shape(x.shape, axes)
        out = np.asarray(x.mean(axis=axes, keepdims=keepdims, dtype=np.float32))
        ctx.count = x.size // out.size if out.size else 1
        return out

    @staticmethod
    def backward(ctx, g):
        return _spread(g / np.float32(ctx.count), ctx.kshape, ctx.shape)


def sum(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis``; integer and bool tensors sum exactly into int64, as in PyTorch."""
    x = as_tensor(x)
    if x.dtype.kind in "iub":
        axes = norm_axes(axis, x.ndim)
        return Tensor(np.asarray(np.add.reduce(x.numpy(), axis=axes, dtype=np.int64, keepdims=keepdims)))
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    return Mean.apply(x, axis=axis, keepdims=keepdims)



class Extreme(Function):
    """max/min over axes; the gradient is shared equally between tied extremes."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False, fn=np.max):
        if x.size == 0:
            raise ValueError(f"{fn.__name__}: cannot reduce an empty array of shape {x.shape}")
        ctx.axis = norm_axes(axis, x.ndim)
        ctx.keepdims = keepdims
        y = fn(x, axis=ctx.axis, keepdims=True)
        ctx.save(x, y)
        return np.asarray(
            y if keepdims else (y.reshape(()) if ctx.axis is None else y.squeeze(ctx.axis))
        )

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved
        if not ctx.keepdims:
            g = g.reshape(y.shape)
        hit = x == y
        count = hit.sum(axis=ctx.axis, keepdims=True, dtype=np.float32)
        return g * hit / count


def max(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Largest values over ``axis`` (all axes when None); values only, like ``torch.amax``."""
    return Extreme.apply(as_tensor(x), axis=axis, keepdims=keepdims, fn=np.max)


def min(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Smallest values over ``axis`` (all axes when None); values only, like ``torch.amin``."""
    return Extreme.apply(as_tensor(x), axis=axis, keepdims=keepdims, fn=np.min)


def argmax(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """Indices of the largest values (an int64 NumPy array; not differentiable)."""
    return np.argmax(np.asarray(x), axis=axis, keepdims=keepdims)


def argmin(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    return np.argmin(np.asarray(x), axis=axis, keepdims=keepdims)


def _extreme_dim(x: Any, dim: Any, keepdim: bool, fn: Any, arg: Any, op: str) -> MaxMin:
    x = as_tensor(x)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int (use amax/amin for several dims); got {dim!r}")
    d = norm_axis(int(dim), x.ndim, op)
    values = Extreme.apply(x, axis=d, keepdims=keepdim, fn=fn)
    indices = np.asarray(arg(x._array, axis=d, keepdims=keepdim) if x.ndim else np.int64(0))
    return MaxMin(values, Tensor(indices.astype(np.int64, copy=False)))


def max_dim(x: Any, dim: int, keepdim: bool = False) -> MaxMin:
    """``(values, indices)`` of the largest entries along ``dim``, like ``torch.max(x, dim)``."""
    return _extreme_dim(x, dim, keepdim, np.max, np.argmax, "max")


def min_dim(x: Any, dim: int, keepdim: bool = False) -> MaxMin:
    """``(values, indices)`` of the smallest entries along ``dim``, like ``torch.min(x, dim)``."""
    return _extreme_dim(x, dim, keepdim, np.min, np.argmin, "min")


def topk(x: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> MaxMin:  # noqa: A002
    """The ``k`` largest (or smallest) entries along ``dim`` and their indices, like
    ``torch.topk``; the values are differentiable (a gather). Ties keep the lower index first."""
    from .shape import gather

    x = as_tensor(x)
    d = norm_axis(dim, x.ndim, "topk")
    n = x.shape[d] if x.ndim else 1
    if not 0 <= int(k) <= n:
        raise ValueError(f"topk: k={k} is out of range for dim {dim} of size {n}")
    key = -x._array if largest else x._array
    idx = np.argsort(key, axis=d, kind="stable")
    idx = np.take(idx, np.arange(int(k)), axis=d)
    return MaxMin(gather(x, d, idx), Tensor(idx.astype(np.int64)))
