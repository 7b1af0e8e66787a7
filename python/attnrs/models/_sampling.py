"""Sampling the next token from logits (shared by the language models)."""

from __future__ import annotations

import numpy as np

from ..tensor import default_rng

__all__ = ["sample_next"]


def sample_next(
    logits: np.ndarray,
    temperature: float = 1.0,
    top_k: int | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """One token per row from ``softmax(logits / temperature)``, optionally
    restricted to the ``top_k`` largest logits; ``temperature == 0`` is greedy.

    # Shapes
    - logits: (B, V) → (B, 1) int64
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2:
        raise ValueError(f"sample_next: logits must have shape (B, V); got {logits.shape}")
    if not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"sample_next: temperature must be a finite number >= 0; got {temperature}")
    if temperature == 0:
        return logits.argmax(axis=-1)[:, None].astype(np.int64)
    logits = logits / temperature
    if top_k is not None:
        if int(top_k) < 1:
            raise ValueError(f"sample_next: top_k must be >= 1; got {top_k}")
        k = min(int(top_k), logits.shape[-1])
        kth = np.partition(logits, -k, axis=-1)[:, -k][:, None]
        logits = np.where(logits < kth, -np.inf, logits)
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    rng = rng if rng is not None else default_rng()
    u = rng.random((p.shape[0], 1))
    idx = (np.cumsum(p, axis=-1) < u).sum(axis=-1, keepdims=True)
    return np.minimum(idx, p.shape[-1] - 1).astype(np.int64)
