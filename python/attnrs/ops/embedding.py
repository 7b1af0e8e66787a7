"""Embedding: a bounds-checked gather, and its deterministic scatter-add backward."""

from __future__ import annotations

import numpy as np

from .. import _core
from .._validate import ShapeError, as_f32, as_index, check_ndim, contiguous

__all__ = ["embedding", "embedding_add", "embedding_add_backward", "embedding_backward"]


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


def index_pair(
    op: str, ids_a: np.ndarray, ids_b: np.ndarray, names: tuple[str, str] = ("ids_a", "ids_b")
) -> tuple[np.ndarray, np.ndarray]:
    """Both id arrays as int64, the second broadcast to the first's shape
    (``names``: the two arguments as the caller calls them)."""
    a, b = as_index(ids_a, op, names[0]), as_index(ids_b, op, names[1])
    if b.shape == a.shape:
        return a, b
    if b.ndim <= a.ndim:  # a broadcast copy by assignment: ~1 µs, np.broadcast_to ~8 µs
        out = np.empty(a.shape, dtype=np.int64)
        try:
            out[...] = b
            return a, out
        except ValueError:
            pass
    raise ShapeError(f"{op}: {names[1]} must broadcast to {names[0]}'s shape {a.shape}; got {b.shape}")


def embedding_add(a: np.ndarray, ids_a: np.ndarray, b: np.ndarray, ids_b: np.ndarray) -> np.ndarray:
    """``embedding(a, ids_a) + embedding(b, ids_b)`` in one pass, the same sums
    bit for bit (GPT's token + position embeddings). ``ids_b`` broadcasts to
    ``ids_a``'s shape (positions (T,) against ids (B, T)).

    # Shapes
    - a: (Va, D), b: (Vb, D); ids_a: any shape of integers; ids_b broadcastable to it
    - returns ids_a.shape + (D,)
    """
    op = "embedding_add"
    wa, wb = as_f32(a, op, "a"), as_f32(b, op, "b")
    check_ndim(wa, op, "a", 2, "(num_embeddings, dim)")
    check_ndim(wb, op, "b", 2, "(num_embeddings, dim)")
    if wb.shape[1] != wa.shape[1]:
        raise ShapeError(f"{op}: b must have a's dim {wa.shape[1]}; got shape {wb.shape}")
    ia, ib = index_pair(op, ids_a, ids_b)
    d = wa.shape[1]
    out = np.empty(ia.shape + (d,), dtype=np.float32)
    _core.embedding_add(contiguous(wa), ia.reshape(-1), contiguous(wb), ib.reshape(-1), out.reshape(-1, d))
    return out


def embedding_add_backward(
    dy: np.ndarray, ids_a: np.ndarray, num_a: int, ids_b: np.ndarray, num_b: int
) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of ``embedding_add`` w.r.t. both tables, each as
    ``embedding_backward`` gives it (the same fixed summation order).

    # Shapes
    - dy: ids_a.shape + (D,); ids_b broadcastable to ids_a
    - returns (num_a, D) and (num_b, D)
    """
    op = "embedding_add_backward"
    d = as_f32(dy, op, "dy")
    ia, ib = index_pair(op, ids_a, ids_b)
    if d.ndim != ia.ndim + 1 or d.shape[:-1] != ia.shape:
        raise ShapeError(f"{op}: dy must have shape ids_a.shape + (D,) = {ia.shape} + (D,); got {d.shape}")
    if int(num_a) < 0 or int(num_b) < 0:
        raise ValueError(f"{op}: num_a and num_b must be >= 0; got {num_a}, {num_b}")
    dim = d.shape[-1]
    da = np.empty((int(num_a), dim), dtype=np.float32)
    db = np.empty((int(num_b), dim), dtype=np.float32)
    _core.embedding_add_backward(contiguous(d).reshape(-1, dim), ia.reshape(-1), ib.reshape(-1), da, db)
    return da, db
