"""Positional information for attention, which is otherwise permutation
equivariant: a learned table, or the fixed sinusoids of "Attention Is All
You Need". Both add to their input: ``x + P[offset : offset + T]``."""

from __future__ import annotations

import math

import numpy as np

from .._validate import ShapeError
from ..tensor import Tensor, default_rng
from .module import Module, Parameter

__all__ = ["PositionalEmbedding", "SinusoidalPositionalEncoding", "sinusoidal_table"]


def _positions(op: str, x: Tensor, offset: int, max_len: int, dim: int) -> int:
    if x.ndim not in (2, 3) or x.shape[-1] != dim:
        raise ShapeError(f"{op}: x must be (B, T, {dim}) or (T, {dim}); got shape {x.shape}")
    t = x.shape[-2]
    if offset < 0 or offset + t > max_len:
        raise ValueError(f"{op}: positions [{offset}, {offset + t}) exceed max_len={max_len}")
    return t


class PositionalEmbedding(Module):
    """Learned absolute positions: ``weight`` (max_len, dim), initialised N(0, 0.02²).

    # Shapes
    - x: (B, T, dim) or (T, dim) → same; ``offset`` shifts the positions (KV-cache decoding)
    """

    def __init__(self, max_len: int, dim: int) -> None:
        super().__init__()
        if int(max_len) <= 0 or int(dim) <= 0:
            raise ValueError(f"PositionalEmbedding: max_len and dim must be positive; got {max_len}, {dim}")
        self.max_len, self.dim = int(max_len), int(dim)
        self.weight = Parameter(default_rng().standard_normal((self.max_len, self.dim)) * 0.02)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        t = _positions("PositionalEmbedding", x, int(offset), self.max_len, self.dim)
        return x + self.weight[int(offset) : int(offset) + t]

    def extra_repr(self) -> str:
        return f"{self.max_len}, {self.dim}"


def sinusoidal_table(max_len: int, dim: int) -> np.ndarray:
    """``P[p, 2i] = sin(p / 10000^(2i/dim))``, ``P[p, 2i+1] = cos(…)``, shape (max_len, dim)."""
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    freq = np.exp(-math.log(10000.0) * np.arange(0, dim, 2, dtype=np.float64) / dim)[None, :]
    table = np.zeros((max_len, dim), dtype=np.float64)
    table[:, 0::2] = np.sin(pos * freq)
    table[:, 1::2] = np.cos(pos * freq)[:, : dim // 2]
    return table.astype(np.float32)


class SinusoidalPositionalEncoding(Module):
    """Fixed sinusoidal positions (no parameters, nothing in the state dict).

    # Shapes
    - x: (B, T, dim) or (T, dim) → same; ``offset`` shifts the positions
    """

    def __init__(self, dim: int, max_len: int = 8192) -> None:
        super().__init__()
        if int(max_len) <= 0 or int(dim) <= 0:
            raise ValueError(f"SinusoidalPositionalEncoding: dim and max_len must be positive; got {dim}, {max_len}")
        self.dim, self.max_len = int(dim), int(max_len)
        self._table = sinusoidal_table(self.max_len, self.dim)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        t = _positions("SinusoidalPositionalEncoding", x, int(offset), self.max_len, self.dim)
        return x + self._table[int(offset) : int(offset) + t]

    def extra_repr(self) -> str:
        return f"{self.dim}, max_len={self.max_len}"
