"""Linear (fully connected) layer and Identity."""

from __future__ import annotations

import math
from typing import Any

from ..tensor import Tensor, default_rng
from . import functional as F
from .module import Module, Parameter

__all__ = ["Identity", "Linear"]


class Linear(Module):
    """``y = x Wᵀ + b``, initialised like PyTorch: U(-1/√in, 1/√in) for weight and bias.

    # Shapes
    - input: (…, in_features) → (…, out_features)
    - weight: (out_features, in_features), bias: (out_features,)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        if int(in_features) <= 0 or int(out_features) <= 0:
            raise ValueError(
                "Linear: in_features and out_features must be positive; "
                f"got {in_features}, {out_features}"
            )
        self.in_features, self.out_features = int(in_features), int(out_features)
        # kaiming_uniform_(a=√5) on (out, in) reduces to U(-1/√in, 1/√in)
        bound = 1.0 / math.sqrt(self.in_features)
        rng = default_rng()
        self.weight = Parameter(rng.uniform(-bound, bound, (self.out_features, self.in_features)))
        self.bias = Parameter(rng.uniform(-bound, bound, (self.out_features,))) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        bias = self.bias is not None
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={bias}"


class Identity(Module):
    """Returns its input (a placeholder layer)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x
