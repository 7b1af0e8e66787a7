"""Differentiable ops: each ``Function`` pairs a forward with its backward.

Forward and backward work on NumPy float32 arrays; heavy and fused work goes
to the Rust kernels through ``attnrs.ops``. Broadcast gradients are reduced
by the autograd walk (``autograd.unbroadcast``).
"""

from __future__ import annotations

import math
from typing import Any, Union

import numpy as np

from ._fn_common import mm
from ._fn_shape import Reshape
from .autograd import Function, unbroadcast
from .tensor import Tensor

Scalar = Union[int, float]
TensorLike = Union[Tensor, np.ndarray, Scalar]


def _t(x: TensorLike) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _pair(a: TensorLike, b: TensorLike) -> tuple[Any, Any]:
    """Operands of a binary op: Python numbers pass through as constants (no
    Tensor is built for them; NumPy keeps the float32 result); anything else
    becomes a Tensor."""
    if type(b) is float or type(b) is int:
        return _t(a), b
    if type(a) is float or type(a) is int:
        return a, _t(b)
    return _t(a), _t(b)


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
    return Add.apply(*_pair(a, b))


def sub(a: TensorLike, b: TensorLike) -> Tensor:
    return Sub.apply(*_pair(a, b))


def mul(a: TensorLike, b: TensorLike) -> Tensor:
    return Mul.apply(*_pair(a, b))


def div(a: TensorLike, b: TensorLike) -> Tensor:
    return Div.apply(*_pair(a, b))


def neg(a: Tensor) -> Tensor:
    return Neg.apply(a)


# --- matmul ------------------------------------------------------------------------------


class MatMul(Function):
    """Batched ``a @ b`` through the GEMM; backward uses transposed views, no copies.

    # Shapes
    - a: (…, m, k), b: (…, k, n) → (…, m, n); 1-D operands are promoted like NumPy
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return mm(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the common case, kept lean
            ga = mm(g, b, trans_b=True) if need[0] else None
            gb = mm(a, g, trans_a=True) if need[1] else None
            return ga, gb
        a2 = a[None, :] if a.ndim == 1 else a  # (…, m, k)
        b2 = b[:, None] if b.ndim == 1 else b  # (…, k, n)
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g = g.reshape(batch + (a2.shape[-2], b2.shape[-1]))  # promoted axes back, (…, m, n)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = unbroadcast(mm(g, b2, trans_b=True), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            gb = unbroadcast(mm(a2, g, trans_a=True), b2.shape).reshape(b.shape)
        return ga, gb


def matmul(a: TensorLike, b: TensorLike) -> Tensor:
    return MatMul.apply(_t(a), _t(b))


# --- reductions and shape ----------------------------------------------------------------


def _norm_axes(axis: Any, ndim: int) -> tuple[int, ...] | None:
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % ndim if ndim else a for a in axes)


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
        axes = _norm_axes(axis, x.ndim)
        ctx.shape, ctx.kshape = x.shape, _kept_shape(x.shape, axes)
        return np.asarray(np.add.reduce(x, axis=axes, dtype=np.float32, keepdims=keepdims))

    @staticmethod
    def backward(ctx, g):
        return _spread(g, ctx.kshape, ctx.shape)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = _norm_axes(axis, x.ndim)
        ctx.shape, ctx.kshape = x.shape, _kept_shape(x.shape, axes)
        out = np.asarray(x.mean(axis=axes, keepdims=keepdims, dtype=np.float32))
        ctx.count = x.size // out.size if out.size else 1
        return out

    @staticmethod
    def backward(ctx, g):
        return _spread(g / np.float32(ctx.count), ctx.kshape, ctx.shape)


def sum(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    return Mean.apply(x, axis=axis, keepdims=keepdims)




class Permute(Function):
    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = tuple(a % x.ndim for a in axes)
        return x.transpose(ctx.axes)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(np.argsort(ctx.axes))


def reshape(x: Tensor, *shape: Any) -> Tensor:
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Reshape.apply(x, shape)


def permute(x: Tensor, *axes: Any) -> Tensor:
    axes = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
    return Permute.apply(x, axes)


def transpose(x: Tensor, dim0: int = -2, dim1: int = -1) -> Tensor:
    axes = list(range(x.ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return Permute.apply(x, tuple(axes))


from ._fn_conv import conv1d  # noqa: E402
from ._fn_math import (  # noqa: E402
    abs,
    argmax,
    argmin,
    clamp,
    eq,
    exp,
    ge,
    gelu,
    gt,
    le,
    log,
    lt,
    max,
    min,
    ne,
    pow,
    relu,
    sigmoid,
    sqrt,
    tanh,
)  # fmt: skip
from ._fn_nn import (  # noqa: E402
    cross_entropy,
    dropout,
    embedding,
    layer_norm,
    linear,
    log_softmax,
    mse_loss,
    softmax,
)  # fmt: skip
from ._fn_shape import (  # noqa: E402
    cat,
    chunk,
    concatenate,
    expand,
    flatten,
    getitem,
    masked_fill,
    split,
    squeeze,
    stack,
    unsqueeze,
    where,
)  # fmt: skip

__all__ = [
    "Function", "abs", "add", "argmax", "argmin", "cat", "chunk", "clamp", "concatenate",
    "conv1d", "cross_entropy", "div", "dropout", "embedding", "eq", "exp", "expand", "flatten",
    "ge", "gelu",
    "getitem", "gt", "layer_norm", "le", "linear", "log", "log_softmax", "lt", "masked_fill",
    "matmul", "max", "mean", "min", "mse_loss", "mul", "ne", "neg", "permute", "pow", "relu",
    "reshape", "sigmoid", "softmax", "split", "sqrt", "squeeze", "stack", "sub", "sum", "tanh",
    "transpose", "unsqueeze", "where",
]  # fmt: skip


# --- operator sugar on Tensor -----------------------------------------------------------


def _install_methods() -> None:
    T = Tensor
    T.__add__ = lambda a, b: add(a, b)
    T.__radd__ = lambda a, b: add(b, a)
    T.__sub__ = lambda a, b: sub(a, b)
    T.__rsub__ = lambda a, b: sub(b, a)
    T.__mul__ = lambda a, b: mul(a, b)
    T.__rmul__ = lambda a, b: mul(b, a)
    T.__truediv__ = lambda a, b: div(a, b)
    T.__rtruediv__ = lambda a, b: div(b, a)
    T.__neg__ = lambda a: neg(a)
    T.__pow__ = lambda a, p: pow(a, p)
    T.__rpow__ = lambda a, b: pow(b, a)
    T.__abs__ = lambda a: abs(a)
    T.__matmul__ = lambda a, b: matmul(a, b)
    T.__rmatmul__ = lambda a, b: matmul(b, a)
    T.__getitem__ = getitem
    # comparisons give NumPy bool arrays; == and != keep identity semantics (hashable Tensors)
    T.__lt__ = lambda a, b: lt(a, b)
    T.__le__ = lambda a, b: le(a, b)
    T.__gt__ = lambda a, b: gt(a, b)
    T.__ge__ = lambda a, b: ge(a, b)
    T.eq = eq
    T.ne = ne
    T.sum = lambda x, axis=None, keepdims=False: sum(x, axis, keepdims)
    T.mean = lambda x, axis=None, keepdims=False: mean(x, axis, keepdims)
    T.max = lambda x, axis=None, keepdims=False: max(x, axis, keepdims)
    T.min = lambda x, axis=None, keepdims=False: min(x, axis, keepdims)
    T.argmax = lambda x, axis=None, keepdims=False: argmax(x, axis, keepdims)
    T.argmin = lambda x, axis=None, keepdims=False: argmin(x, axis, keepdims)
    T.reshape = reshape
    T.view = reshape
    T.permute = permute
    T.transpose = transpose
    T.T = property(lambda x: permute(x, tuple(reversed(range(x.ndim)))))
    T.unsqueeze = unsqueeze
    T.squeeze = squeeze
    T.flatten = flatten
    T.expand = expand
    T.split = split
    T.chunk = chunk
    T.masked_fill = masked_fill
    T.pow = pow
    T.exp = exp
    T.log = log
    T.sqrt = sqrt
    T.tanh = tanh
    T.sigmoid = sigmoid
    T.relu = relu
    T.gelu = gelu
    T.abs = abs
    T.clamp = clamp
    T.softmax = lambda x, dim=-1: softmax(x, dim)
    T.log_softmax = lambda x, dim=-1: log_softmax(x, dim)


_install_methods()
