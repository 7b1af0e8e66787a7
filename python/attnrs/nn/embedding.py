"""Embedding: a lookup table of learned vectors."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor, default_rng
from . import functional as F
from .module import Module, Parameter

__all__ = ["Embedding"]


class Embedding(Module):
    """Rows of a (num_embeddings, embedding_dim) table, initialised N(0, 1) like PyTorch.

    The ``padding_idx`` row starts at zero and receives no gradient.

    # Shapes
    - ids: (…) integers (NumPy array or integer-valued Tensor) → (…, embedding_dim)
    """

    def __init__(
        self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None
    ) -> None:
        super().__init__()
        n, d = int(num_embeddings), int(embedding_dim)
        if n <= 0 or d <= 0:
            raise ValueError(
                f"Embedding: num_embeddings and embedding_dim must be positive; got {n}, {d}"
            )
        if padding_idx is not None:
            if not -n <= int(padding_idx) < n:
                raise ValueError(
                    f"Embedding: padding_idx={padding_idx} out of range for {n} embeddings"
                )
            padding_idx = int(padding_idx) % n
        self.num_embeddings, self.embedding_dim, self.padding_idx = n, d, padding_idx
        w = default_rng().standard_normal((n, d))
        if padding_idx is not None:
            w[padding_idx] = 0.0
        self.weight = Parameter(w)

    def forward(self, ids: Any) -> Tensor:
        return F.embedding(ids, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
