"""Matrix product ``a @ b`` through the GEMM (``ops.matmul``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Function, unbroadcast
from ..ops.matmul import mm
from ..tensor import Tensor, as_tensor

__all__ = ["matmul"]


class MatMul(Function):
    """Batched ``a @ b`` through the GEMM; backward uses transposed views, no copies.

    # Shapes
    - a: (…, m, k), b: (…, k, n) → (…, m, n); 1-D operands are promoted like NumPy
    """

    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return mm(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        need = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the common case, kept lean
            ga = mm(g, b, trans_b=True) if need[0] else None
            gb = mm(a, g, trans_a=True) if need[1] else None
            return ga, gb
        a2 = a[None, :] if a.ndim == 1 else a  # (…, m, k)
        b2 = b[:, None] if b.ndim == 1 else b  # (…, k, n)
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g = g.reshape(batch + (a2.shape[-2], b2.shape[-1]))  # promoted axes back, (…, m, n)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = unbroadcast(mm(g, b2, trans_b=True), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            gb = unbroadcast(mm(a2, g, trans_a=True), b2.shape).reshape(b.shape)
        return ga, gb


def matmul(a: Any, b: Any) -> Tensor:
    return MatMul.apply(as_tensor(a), as_tensor(b))
