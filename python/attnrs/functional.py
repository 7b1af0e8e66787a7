"""Differentiable ops: each ``Function`` pairs a forward with its backward.

Forward and backward work on NumPy float32 arrays; heavy and fused work goes
to the Rust kernels through ``attnrs.ops``. Broadcast gradients are reduced
by the autograd walk (``autograd.unbroadcast``).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import numpy as np

from . import ops
from ._fn_common import mm
from .autograd import Function, unbroadcast
from .tensor import Tensor

Scalar = Union[int, float]
TensorLike = Union[Tensor, np.ndarray, Scalar]


def _t(x: TensorLike) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


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
        return (g * b if ctx.needs_input_grad[0] else None), (g * a if ctx.needs_input_grad[1] else None)


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
    return Add.apply(_t(a), _t(b))


def sub(a: TensorLike, b: TensorLike) -> Tensor:
    return Sub.apply(_t(a), _t(b))


def mul(a: TensorLike, b: TensorLike) -> Tensor:
    return Mul.apply(_t(a), _t(b))


def div(a: TensorLike, b: TensorLike) -> Tensor:
    return Div.apply(_t(a), _t(b))


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


def _norm_axes(axis: Any, ndim: int) -> Optional[tuple[int, ...]]:
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % ndim if ndim else a for a in axes)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = x.shape, _norm_axes(axis, x.ndim), keepdims
        return np.asarray(x.sum(axis=ctx.axis, keepdims=keepdims, dtype=np.float32))

    @staticmethod
    def backward(ctx, g):
        if ctx.axis is not None and not ctx.keepdims:
            g = np.expand_dims(g, ctx.axis)
        return np.broadcast_to(g, ctx.shape)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = x.shape, _norm_axes(axis, x.ndim), keepdims
        out = np.asarray(x.mean(axis=ctx.axis, keepdims=keepdims, dtype=np.float32))
        ctx.count = x.size // out.size if out.size else 1
        return out

    @staticmethod
    def backward(ctx, g):
        if ctx.axis is not None and not ctx.keepdims:
            g = np.expand_dims(g, ctx.axis)
        return np.broadcast_to(g / np.float32(ctx.count), ctx.shape)


def sum(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return Sum.apply(x, axis=axis, keepdims=keepdims)


def mean(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    return Mean.apply(x, axis=axis, keepdims=keepdims)


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape)


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


from ._fn_math import (  # noqa: E402
    abs, argmax, argmin, clamp, eq, exp, ge, gelu, gt, le, log, lt, max, min, ne, pow, relu,
    sigmoid, sqrt, tanh,
)  # fmt: skip
from ._fn_nn import (  # noqa: E402
    cross_entropy, dropout, embedding, layer_norm, linear, log_softmax, mse_loss, softmax,
)  # fmt: skip
from ._fn_shape import (  # noqa: E402
    cat, chunk, concatenate, expand, flatten, getitem, masked_fill, split, squeeze, stack,
    unsqueeze, where,
)  # fmt: skip

__all__ = [
    "Function", "add", "sub", "mul", "div", "neg", "matmul", "sum", "mean", "reshape", "permute",
    "transpose",
    # elementwise math, max/min, comparisons
    "pow", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "gelu", "abs", "clamp", "max", "min",
    "argmax", "argmin", "eq", "ne", "lt", "le", "gt", "ge",
    # shape, indexing, joining, selection
    "unsqueeze", "squeeze", "flatten", "expand", "getitem", "cat", "concatenate", "stack",
    "split", "chunk", "masked_fill", "where",
    # layers and losses (fused kernels)
    "linear", "softmax", "log_softmax", "layer_norm", "embedding", "dropout", "cross_entropy",
    "mse_loss",
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
