"""LayerNorm over the trailing axes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..tensor import Tensor
from . import functional as F
from .module import Module, Parameter

__all__ = ["LayerNorm"]


class LayerNorm(Module):
    """Normalises over the last ``len(normalized_shape)`` axes; weight 1 and bias 0 at init.

    # Shapes
    - input: (…, *normalized_shape) → same; weight, bias: normalized_shape
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        ns = (
            (int(normalized_shape),)
            if isinstance(normalized_shape, (int, np.integer))
            else tuple(normalized_shape)
        )
        if not ns or any(n <= 0 for n in ns):
            raise ValueError(
                f"LayerNorm: normalized_shape must be positive sizes; got {normalized_shape}"
            )
        if not np.isfinite(eps) or eps < 0:
            raise ValueError(f"LayerNorm: eps must be a finite non-negative number; got {eps}")
        self.normalized_shape, self.eps = ns, float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.weight = Parameter(np.ones(ns, np.float32)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(ns, np.float32)) if elementwise_affine and bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
