"""Elementwise arithmetic, powers, exponentials and comparisons; NumPy does the work."""

from __future__ import annotations

from typing import Any, Union

import numpy as np

from .._validate import as_array
from ..autograd import Function
from ..tensor import Tensor, as_tensor

__all__ = [
    "abs", "add", "clamp", "cos", "maximum", "minimum", "sin", "div", "eq", "exp", "ge", "gt", "le", "log", "lt", "mul", "ne", "neg", "pow",
    "sqrt", "sub",
]  # fmt: skip

Scalar = Union[int, float]
TensorLike = Union[Tensor, np.ndarray, Scalar]


def _pair(a: TensorLike, b: TensorLike) -> tuple[Any, Any]:
    """Operands of a binary op: Python numbers pass through as constants (no
    Tensor is built for them; NumPy keeps the float32 result); anything else
    becomes a Tensor."""
    if type(b) is float or type(b) is int:
        return as_tensor(a), b
    if type(a) is float or type(a) is int:
        return a, as_tensor(b)
    return as_tensor(a), as_tensor(b)


def _integral(x: Any) -> bool:
    """An int/bool operand (a Python int, a NumPy integer scalar or array, an integer or
    bool Tensor): no gradient flows."""
    if isinstance(x, Tensor):
        return x._array.dtype.kind in "iub"
    if isinstance(x, (np.ndarray, np.generic)):
        return x.dtype.kind in "iub"
    return type(x) is int or type(x) is bool


def _int_op(ufunc: np.ufunc, a: Any, b: Any) -> Tensor | None:
    """``ufunc`` on two integral operands, keeping the integer dtype as PyTorch does."""
    if _integral(a) and _integral(b):
        out = np.asarray(ufunc(as_array(a), as_array(b)))
        return Tensor(out if out.dtype != np.bool_ else out.astype(np.int64))
    return None


# --- arithmetic --------------------------------------------------------------------------


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return np.add(a, b, dtype=np.float32)

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return np.subtract(a, b, dtype=np.float32)

    @staticmethod
    def backward(ctx, g):
        return g, -g


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return np.multiply(a, b, dtype=np.float32)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        return (g * b if ctx.needs_input_grad[0] else None), (
            g * a if ctx.needs_input_grad[1] else None
        )


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return np.divide(a, b, dtype=np.float32)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        ga = g / b if ctx.needs_input_grad[0] else None
        gb = -g * a / (b * b) if ctx.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, g):
        return -g


def add(a: TensorLike, b: TensorLike) -> Tensor:
    r = _int_op(np.add, a, b)
    return Add.apply(*_pair(a, b)) if r is None else r


def sub(a: TensorLike, b: TensorLike) -> Tensor:
    r = _int_op(np.subtract, a, b)
    return Sub.apply(*_pair(a, b)) if r is None else r


def mul(a: TensorLike, b: TensorLike) -> Tensor:
    r = _int_op(np.multiply, a, b)
    return Mul.apply(*_pair(a, b)) if r is None else r


def div(a: TensorLike, b: TensorLike) -> Tensor:
    return Div.apply(*_pair(a, b))


def neg(a: Tensor) -> Tensor:
    return Neg.apply(a)


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


def _pointwise(name: str, f: Any, df: Any) -> type[Function]:
    """The ``Function`` ``y = f(x)`` whose backward is ``g · df(x)`` (``x`` is saved)."""

    def forward(ctx, x):
        ctx.save(x)
        return f(x)

    def backward(ctx, g):
        return g * df(ctx.saved[0])

    return type(name, (Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})


Sin = _pointwise("Sin", np.sin, np.cos)
Cos = _pointwise("Cos", np.cos, lambda x: -np.sin(x))
Abs = _pointwise("Abs", np.abs, np.sign)


def sin(x: Tensor) -> Tensor:
    return Sin.apply(as_tensor(x))


def cos(x: Tensor) -> Tensor:
    return Cos.apply(as_tensor(x))


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


def abs(x: Tensor) -> Tensor:  # noqa: A001
    return Abs.apply(as_tensor(x))


def clamp(x: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002
    """Clips to ``[min, max]``; the gradient passes where the value was kept."""
    return Clamp.apply(as_tensor(x), min, max)


class Extremum(Function):
    """Elementwise maximum/minimum; a tie shares the gradient equally, as PyTorch does."""

    @staticmethod
    def forward(ctx, a, b, is_max):
        ctx.save(a, b)
        ctx.fn_is_max = is_max
        return np.asarray((np.maximum if is_max else np.minimum)(a, b)).astype(np.float32, copy=False)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        pick_a = (a > b) if ctx.fn_is_max else (a < b)
        tie = a == b
        wa = pick_a + np.float32(0.5) * tie
        return g * wa, g * (np.float32(1) - wa)


def _extremum(a: Any, b: Any, fn: Any, is_max: bool) -> Tensor:
    ta, tb = as_tensor(a), as_tensor(b)
    if ta._array.dtype.kind != "f" and tb._array.dtype.kind != "f":
        return Tensor(np.asarray(fn(ta._array, tb._array)))
    return Extremum.apply(ta, tb, is_max)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise larger of ``a`` and ``b`` (broadcast), like ``torch.maximum``."""
    return _extremum(a, b, np.maximum, True)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise smaller of ``a`` and ``b`` (broadcast), like ``torch.minimum``."""
    return _extremum(a, b, np.minimum, False)


# --- comparisons (bool Tensors, no gradient) ---------------------------------------------


def _comparison(ufunc: np.ufunc, name: str) -> Any:
    def compare(a: Any, b: Any) -> Tensor:
        return Tensor(np.asarray(ufunc(as_array(a), as_array(b))))

    compare.__name__ = compare.__qualname__ = name
    compare.__doc__ = f"``{ufunc.__name__}(a, b)`` elementwise, a bool Tensor (no gradient)."
    return compare


eq = _comparison(np.equal, "eq")
ne = _comparison(np.not_equal, "ne")
lt = _comparison(np.less, "lt")
le = _comparison(np.less_equal, "le")
gt = _comparison(np.greater, "gt")
ge = _comparison(np.greater_equal, "ge")
