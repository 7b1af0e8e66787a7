"""Embedding: a bounds-checked gather, and its deterministic scatter-add backward."""

from __future__ import annotations

import numpy as np

from .. import _core
from .._validate import ShapeError, as_f32, as_index, check_ndim, contiguous

__all__ = ["embedding", "embedding_backward"]


def embedding(weight: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Rows of ``weight`` gathered by integer ``ids`` (bounds-checked: an id
    outside [0, V) raises ValueError naming it).

    # Shapes
    - weight: (V, D); ids: any shape of integers
    - returns ids.shape + (D,)
    """
    op = "embedding"
    w = as_f32(weight, op, "weight")
    check_ndim(w, op, "weight", 2, "(num_embeddings, dim)")
    i = as_index(ids, op, "ids")
    out = np.empty(i.shape + (w.shape[1],), dtype=np.float32)
    _core.embedding(contiguous(w), i.reshape(-1), out.reshape(-1, w.shape[1]))
    return out


def embedding_backward(dy: np.ndarray, ids: np.ndarray, num_embeddings: int) -> np.ndarray:
    """Gradient of ``embedding`` w.r.t. the table: ``dW[v] = Σ_{ids = v} dy``,
    summed in a fixed order (deterministic, no atomics).

    # Shapes
    - dy: ids.shape + (D,); ids: any shape of integers
    - returns (num_embeddings, D)
    """
    op = "embedding_backward"
    d = as_f32(dy, op, "dy")
    i = as_index(ids, op, "ids")
    num = int(num_embeddings)
    if num < 0:
        raise ValueError(f"{op}: num_embeddings must be >= 0; got {num_embeddings}")
    if d.ndim != i.ndim + 1 or d.shape[:-1] != i.shape:
        raise ShapeError(f"{op}: dy must have shape ids.shape + (D,) = {i.shape} + (D,); got {d.shape}")
    dim = d.shape[-1]
    dw = np.empty((num, dim), dtype=np.float32)
    _core.embedding_backward(contiguous(d).reshape(-1, dim), i.reshape(-1), dw)
    return dw
