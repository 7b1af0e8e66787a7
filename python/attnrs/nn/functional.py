"""``attnrs.nn.functional`` (= ``attnrs.F``): torch.nn.functional names and signatures.

Every function is differentiable and forwards to ``attnrs.functional``
(where each op pairs its forward and backward kernels). Import as
``from attnrs.nn import functional as F`` or use ``attnrs.F``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import functional as _f
from .._validate import norm_axis
from ..functional.attention import (
    attention_weights,
    fused_self_attention,
    scaled_dot_product_attention,
)  # fmt: skip
from ..tensor import Tensor

__all__ = [
    "conv1d", "cross_entropy", "dropout", "embedding", "gelu", "global_pool", "layer_norm", "linear",
    "log_softmax", "mse_loss", "relu", "sigmoid", "softmax", "tanh",
]  # fmt: skip
__all__ += ["attention_weights", "fused_self_attention", "scaled_dot_product_attention"]

linear = _f.linear
relu = _f.relu
tanh = _f.tanh
sigmoid = _f.sigmoid
mse_loss = _f.mse_loss
cross_entropy = _f.cross_entropy
conv1d = _f.conv1d


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002
    """GELU, exact (erf) or ``approximate="tanh"``."""
    return _f.gelu(input, approximate)


def softmax(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    return _f.softmax(input, dim)


def log_softmax(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    return _f.log_softmax(input, dim)


def layer_norm(
    input: Tensor,  # noqa: A002
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    return _f.layer_norm(input, normalized_shape, weight, bias, eps)


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:  # noqa: A002
    """Rows of ``weight`` for the integer ids in ``input``."""
    return _f.embedding(input, weight, padding_idx)


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:  # noqa: A002
    return _f.dropout(input, p, training)


def global_pool(x: Tensor, mode: str = "mean", dim: int = 1) -> Tensor:
    """Pools a sequence into one vector (seq2label).

    ``mode``: "mean" or "max" over ``dim``; "first" / "last" take the first or
    last step (e.g. a leading "global" token, or the final RNN state).

    # Shapes
    - x: (B, T, D) with dim=1 → (B, D)
    """
    axis = norm_axis(dim, x.ndim, "global_pool")
    if x.shape[axis] == 0:
        raise ValueError(f"global_pool: cannot pool over an empty axis {dim} of shape {x.shape}")
    if mode == "mean":
        return _f.mean(x, axis)
    if mode == "max":
        return _f.max(x, axis)
    if mode in ("first", "last"):
        idx = (slice(None),) * axis + (0 if mode == "first" else -1,)
        return _f.getitem(x, idx)
    raise ValueError(f'global_pool: mode must be "mean", "max", "first" or "last"; got {mode!r}')
