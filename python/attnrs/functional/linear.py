"""Linear: ``y = x Wᵀ + b``, one fused kernel call each way (``ops.linear``)."""

from __future__ import annotations

from .. import ops
from .._validate import ShapeError
from ..autograd import Function
from ..tensor import Tensor, as_tensor

__all__ = ["linear"]


class Linear(Function):
    """``y = x Wᵀ + b``: one fused Rust call each way (``ops.linear`` reads W transposed
    in place and adds b in the GEMM's store; ``ops.linear_backward`` runs dX, dW and
    db side by side).

    # Shapes
    - x: (…, in), weight: (out, in), bias: (out,) or None → (…, out)
    """

    # dx, dw, db are new arrays of ``ops.linear_backward`` (a reshaped dx is a view: copied).
    fresh_grads = True

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save(x, w)
        ctx.has_bias = b is not None
        return ops.linear(x, w, b)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved
        need = ctx.needs_input_grad
        return ops.linear_backward(
            x, w, g, need_input=need[0], need_weight=need[1], need_bias=ctx.has_bias and need[2]
        )


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias`` (PyTorch's ``F.linear``).

    # Shapes
    - x: (…, in), weight: (out, in), bias: (out,) → (…, out)
    """
    x, weight = as_tensor(x), as_tensor(weight)
    if weight.ndim != 2:
        raise ShapeError(f"linear: weight must be 2-D (out, in); got shape {weight.shape}")
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ShapeError(
            f"linear: input's last dimension must be in_features={weight.shape[1]}; "
            f"got input shape {x.shape}"
        )
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (weight.shape[0],):
            raise ShapeError(f"linear: bias must have shape ({weight.shape[0]},); got {bias.shape}")
    return Linear.apply(x, weight, bias)
