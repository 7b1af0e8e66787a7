"""Embedding lookup and its scatter-add gradient (``ops.embedding``)."""

from __future__ import annotations

from typing import Any

from .. import ops
from .._validate import ShapeError, as_index
from ..autograd import Function
from ..ops.embedding import index_pair
from ..tensor import Tensor, as_tensor

__all__ = ["embedding", "embedding_add"]


class Embedding(Function):
    fresh_grads = True  # dweight: a new array of the kernel

    @staticmethod
    def forward(ctx, weight, ids, padding_idx=None):
        ctx.ids, ctx.n, ctx.padding_idx = ids, weight.shape[0], padding_idx
        return ops.embedding(weight, ids)

    @staticmethod
    def backward(ctx, g):
        dw = ops.embedding_backward(g, ctx.ids, ctx.n)
        if ctx.padding_idx is not None:
            dw[ctx.padding_idx] = 0.0
        return dw


class EmbeddingAdd(Function):
    fresh_grads = True  # both table gradients: new arrays of the kernel

    @staticmethod
    def forward(ctx, weight, ids, weight2, ids2):
        ctx.ids, ctx.ids2, ctx.n, ctx.n2 = ids, ids2, weight.shape[0], weight2.shape[0]
        return ops.embedding_add(weight, ids, weight2, ids2)

    @staticmethod
    def backward(ctx, g):
        dw, dw2 = ops.embedding_add_backward(g, ctx.ids, ctx.n, ctx.ids2, ctx.n2)
        return dw, None, dw2, None


def embedding_add(ids: Any, weight: Tensor, ids2: Any, weight2: Tensor) -> Tensor:
    """``embedding(ids, weight) + embedding(ids2, weight2)`` as one node: one
    kernel call each way instead of two lookups, an add and the broadcast's
    reduction, with the same bits (GPT's token + position embeddings; no
    ``padding_idx``). ``ids2`` broadcasts to ``ids``' shape.

    # Shapes
    - ids: (…), weight: (V, D); ids2: broadcastable to ids, weight2: (V2, D) → (…, D)
    """
    weight, weight2 = as_tensor(weight), as_tensor(weight2)
    idx, idx2 = index_pair("embedding_add", ids, ids2, ("ids", "ids2"))  # broadcast once, for both passes
    return EmbeddingAdd.apply(weight, idx, weight2, idx2)


def embedding(ids: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` for integer ``ids`` (PyTorch's argument order).

    ``ids`` is a NumPy integer array or an integer-valued Tensor. The row at
    ``padding_idx`` gets no gradient.

    # Shapes
    - ids: (…), weight: (num_embeddings, dim) → (…, dim)
    """
    weight = as_tensor(weight)
    idx = as_index(ids, "embedding", "ids")
    if weight.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, dim); got {weight.shape}")
    n = weight.shape[0]
    if padding_idx is not None:
        if not -n <= int(padding_idx) < n:
            raise ValueError(
                f"embedding: padding_idx={padding_idx} out of range for {n} embeddings"
            )
        padding_idx = int(padding_idx) % n
    return Embedding.apply(weight, idx, padding_idx)
