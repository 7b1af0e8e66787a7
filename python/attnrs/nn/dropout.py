"""Dropout: active in training mode only."""

from __future__ import annotations

import math

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """Zeroes elements with probability ``p`` while training (scaling the rest by 1/(1-p)).

    Uses the generator seeded by ``attnrs.manual_seed``; identity in ``eval()`` mode.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        p = float(p)
        if not math.isfinite(p) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1]; got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
