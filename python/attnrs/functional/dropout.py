"""Dropout (NumPy; the mask comes from ``attnrs.manual_seed``'s generator)."""

from __future__ import annotations

import numpy as np

from .._validate import check_finite
from ..autograd import Function
from ..tensor import Tensor, as_tensor, default_rng

__all__ = ["dropout"]


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
