"""Layer normalisation over the trailing axes (``ops.norm``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .. import ops
from .._validate import ShapeError, check_finite
from ..autograd import Function
from ..tensor import Tensor, as_tensor

__all__ = ["layer_norm"]


class LayerNorm(Function):
    """Normalises over the last axis; callers flatten ``normalized_shape`` into it."""

    fresh_grads = True  # dx, dw, db: new arrays of the kernel

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
