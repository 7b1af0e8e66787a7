"""Differentiable 1-D convolution.

Forward and backward are the Rust kernels of ``attnrs.ops.conv1d`` /
``conv1d_backward``: one GEMM per tap on shifted views, no im2col copy.
"""

from __future__ import annotations

from typing import Any

from .. import ops
from .._validate import ShapeError
from ..autograd import Function
from ..tensor import Tensor, as_tensor

__all__ = ["conv1d"]


class Conv1d(Function):
    """``y = conv1d(x, w) + b`` with output length T (causal or 'same' padding).

    # Shapes
    - x: (B, C_in, T), weight: (C_out, C_in, K), bias: (C_out,) or None → (B, C_out, T)
    """

    @staticmethod
    def forward(ctx, x, w, b, *, dilation, causal):
        ctx.save(x, w)
        ctx.conf = (dilation, causal, b is not None)
        return ops.conv1d(x, w, b, dilation=dilation, causal=causal)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved
        dilation, causal, has_bias = ctx.conf
        need = ctx.needs_input_grad
        return ops.conv1d_backward(
            x, w, g, dilation=dilation, causal=causal,
            need_input=need[0], need_weight=need[1], need_bias=has_bias and need[2],
        )  # fmt: skip


def _causal_from_padding(padding: Any, causal: bool) -> bool:
    if padding is None:
        return bool(causal)
    if padding == "same":
        return False
    if padding == "causal":
        return True
    raise ValueError(
        f"conv1d: padding must be 'causal', 'same' or None (use causal=); got {padding!r}. "
        "attnrs always keeps the length T: for PyTorch's padding=0 ('valid'), slice the output "
        "y[..., (K-1)*dilation:] of a causal conv"
    )


def conv1d(
    input: Any,
    weight: Any,
    bias: Any | None = None,
    dilation: int = 1,
    causal: bool = True,
    *,
    padding: str | None = None,
) -> Tensor:
    """1-D convolution whose output keeps the input length T.

    Close to ``torch.nn.functional.conv1d(input, weight, bias, stride=1,
    padding, dilation)``, with these differences: no stride or groups; the
    padding is chosen by ``causal`` rather than by ``padding``:

    - ``causal=True`` (default): ``(K−1)·dilation`` zeros on the left only,
      so the output at t sees inputs up to t (PyTorch: ``F.pad(x, ((K−1)·d, 0))``
      then ``padding=0``);
    - ``causal=False``: PyTorch's ``padding='same'``: ``⌊(K−1)·d/2⌋`` zeros on
      the left and the rest on the right (for even K and odd d the extra
      step goes to the right).

    ``padding='same'`` / ``'causal'`` (keyword) are accepted as aliases;
    integer paddings are not.

    # Shapes
    - input: (B, C_in, T) or unbatched (C_in, T); weight: (C_out, C_in, K);
      bias: (C_out,) or None → (B, C_out, T) (or (C_out, T))
    """
    causal = _causal_from_padding(padding, causal)
    x, w = as_tensor(input), as_tensor(weight)
    if w.ndim != 3:
        raise ShapeError(
            f"conv1d: weight must be 3-D (out_channels, in_channels, kernel_size); got shape {w.shape}"
        )
    if x.ndim not in (2, 3):
        raise ShapeError(
            f"conv1d: input must be (batch, channels, time) or (channels, time); got shape {x.shape}"
        )
    b = as_tensor(bias) if bias is not None else None
    if x.ndim == 2:
        y = Conv1d.apply(x.reshape(1, *x.shape), w, b, dilation=dilation, causal=causal)
        return y.reshape(y.shape[1:])
    return Conv1d.apply(x, w, b, dilation=dilation, causal=causal)
