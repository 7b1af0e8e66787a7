"""Activations: tanh, sigmoid, ReLU, GELU (the fused kernels of ``ops.activation``)."""

from __future__ import annotations

import numpy as np

from .. import ops
from ..autograd import Function
from ..tensor import Tensor, as_tensor

__all__ = ["gelu", "relu", "sigmoid", "tanh"]

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
