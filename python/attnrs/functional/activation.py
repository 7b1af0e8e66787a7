"""Elementwise math, max/min reductions and comparisons (part of ``attnrs.functional``).

Each ``Function`` keeps its backward next to its forward. Elementwise work
stays in NumPy; GELU always, and relu/sigmoid/tanh-backward on large arrays,
go to the fused Rust kernels of ``attnrs.ops``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from ._fn_common import as_tensor
from .autograd import Function
from .tensor import Tensor

__all__ = [
    "abs",
    "argmax",
    "argmin",
    "clamp",
    "eq",
    "exp",
    "ge",
    "gelu",
    "gt",
    "le",
    "log",
    "lt",
    "max",
    "min",
    "ne",
    "pow",
    "relu",
    "sigmoid",
    "sqrt",
    "tanh",
]  # fmt: skip

# --- powers, exponentials ---------------------------------------------------------------


class PowScalar(Function):
    @staticmethod
    def forward(ctx, x, p):
        ctx.save(x)
        ctx.p = p
        return np.power(x, np.float32(p))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        p = ctx.p
        if p == 2:
            return g * (x + x)
        return g * (np.float32(p) * np.power(x, np.float32(p - 1)))


class Pow(Function):
    """``a ** b`` with a Tensor exponent; d/db = a**b · log a (nan for a < 0, as in PyTorch)."""

    @staticmethod
    def forward(ctx, a, b):
        y = np.power(a, b, dtype=np.float32)
        ctx.save(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved
        with np.errstate(divide="ignore", invalid="ignore"):
            ga = g * b * np.power(a, b - 1) if ctx.needs_input_grad[0] else None
            gb = g * y * np.log(a) if ctx.needs_input_grad[1] else None
        return ga, gb


def pow(x: Any, p: Any) -> Tensor:  # noqa: A001
    """``x ** p``: ``p`` a number (fast path) or a Tensor; ``x`` may be a number."""
    if isinstance(p, (int, float, np.integer, np.floating)) and isinstance(x, Tensor):
        return PowScalar.apply(x, float(p))
    return Pow.apply(as_tensor(x), as_tensor(p))


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save(y)
        return y

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved[0]


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.saved[0]


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        with np.errstate(invalid="ignore"):
            y = np.sqrt(x)
        ctx.save(y)
        return y

    @staticmethod
    def backward(ctx, g):
        return g * np.float32(0.5) / ctx.saved[0]


def exp(x: Tensor) -> Tensor:
    return Exp.apply(as_tensor(x))


def log(x: Tensor) -> Tensor:
    return Log.apply(as_tensor(x))


def sqrt(x: Tensor) -> Tensor:
    return Sqrt.apply(as_tensor(x))


# --- activations ------------------------------------------------------------------------


# Below this many elements the NumPy expression beats a kernel call (the
# binding's fixed cost); above it the fused Rust kernels win.
_FUSED_MIN = 16384


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)  # NumPy's tanh is already vectorised
        ctx.save(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        if y.size >= _FUSED_MIN:
            return ops.tanh_backward(y, g)
        return g * (1.0 - y * y)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        if x.size >= _FUSED_MIN:
            y = ops.sigmoid(x)
        else:
            e = np.exp(-np.abs(x))  # never overflows
            y = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32, copy=False)
        ctx.save(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        if y.size >= _FUSED_MIN:
            return ops.sigmoid_backward(y, g)
        return g * (y * (1.0 - y))


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return ops.relu(x) if x.size >= _FUSED_MIN else np.maximum(x, np.float32(0))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return ops.relu_backward(x, g) if x.size >= _FUSED_MIN else g * (x > 0)


class Gelu(Function):
    """GELU through the fused Rust kernel; ``approximate`` is "none" (erf) or "tanh"."""

    @staticmethod
    def forward(ctx, x, approximate="none"):
        ctx.save(x)
        ctx.approximate = approximate
        return ops.gelu(x, approximate=approximate)

    @staticmethod
    def backward(ctx, g):
        return ops.gelu_backward(ctx.saved[0], g, approximate=ctx.approximate)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, g):
        return g * np.sign(ctx.saved[0])


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        if lo is None and hi is None:
            ctx.save(None)
            return x.copy()
        y = np.clip(x, lo, hi).astype(np.float32, copy=False)
        ctx.save(y == x)
        return y

    @staticmethod
    def backward(ctx, g):
        (keep,) = ctx.saved
        return g if keep is None else g * keep


def tanh(x: Tensor) -> Tensor:
    return Tanh.apply(as_tensor(x))


def sigmoid(x: Tensor) -> Tensor:
    return Sigmoid.apply(as_tensor(x))


def relu(x: Tensor) -> Tensor:
    return Relu.apply(as_tensor(x))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """GELU: ``x·Φ(x)`` (``approximate="none"``) or its tanh approximation (``"tanh"``)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f'gelu: approximate must be "none" or "tanh"; got {approximate!r}')
    return Gelu.apply(as_tensor(x), approximate=approximate)


def abs(x: Tensor) -> Tensor:  # noqa: A001
    return Abs.apply(as_tensor(x))


def clamp(x: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Clips to ``[min, max]``; the gradient passes where the value was kept."""
    return Clamp.apply(as_tensor(x), min, max)


# --- max / min --------------------------------------------------------------------------


def _axes(axis: Any, ndim: int) -> Any:
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(int(a) % ndim if ndim else int(a) for a in axes)


class Extreme(Function):
    """max/min over axes; the gradient is shared equally between tied extremes."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False, fn=np.max):
        if x.size == 0:
            raise ValueError(f"{fn.__name__}: cannot reduce an empty array of shape {x.shape}")
        ctx.axis = _axes(axis, x.ndim)
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


# --- comparisons (NumPy bool arrays, no gradient) ----------------------------------------


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def eq(a: Any, b: Any) -> np.ndarray:
    return np.equal(_raw(a), _raw(b))


def ne(a: Any, b: Any) -> np.ndarray:
    return np.not_equal(_raw(a), _raw(b))


def lt(a: Any, b: Any) -> np.ndarray:
    return np.less(_raw(a), _raw(b))


def le(a: Any, b: Any) -> np.ndarray:
    return np.less_equal(_raw(a), _raw(b))


def gt(a: Any, b: Any) -> np.ndarray:
    return np.greater(_raw(a), _raw(b))


def ge(a: Any, b: Any) -> np.ndarray:
    return np.greater_equal(_raw(a), _raw(b))
