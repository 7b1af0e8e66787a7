"""``attnrs.nn.functional`` (= ``attnrs.F``): torch.nn.functional names and signatures.

Every function is differentiable and forwards to ``attnrs.functional``
(where each op pairs its forward and backward kernels). Import as
``from attnrs.nn import functional as F`` or use ``attnrs.F``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import functional as _f
from .._validate import ShapeError, as_index, norm_axis
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
__all__ += [
    "binary_cross_entropy_with_logits", "kl_div", "nll_loss", "normalize", "one_hot", "pad", "silu",
]  # fmt: skip

linear = _f.linear
relu = _f.relu
tanh = _f.tanh
sigmoid = _f.sigmoid
mse_loss = _f.mse_loss


def cross_entropy(input: Tensor, target: Any, weight: Any = None, size_average: Any = None,  # noqa: A002
                  ignore_index: int = -100, reduce: Any = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:  # fmt: skip
    """``torch.nn.functional.cross_entropy`` (PyTorch's argument order).

    Class-index targets without ``weight`` use the fused kernel. A float ``target`` of the
    input's shape holds class probabilities: ``-Σ_c w_c·t_c·log_softmax(x)_c`` per sample,
    ``"mean"`` over the samples. With ``weight`` (C,) and class indices, PyTorch's
    ``(1−ε)·nll + ε/C·smooth``, ``"mean"`` dividing both by the summed target weights.
    ``size_average``/``reduce`` (deprecated in PyTorch) must be None.
    """
    if size_average is not None or reduce is not None:
        raise ValueError("cross_entropy: size_average and reduce are deprecated; use reduction=")
    x = input if isinstance(input, Tensor) else Tensor(input)
    if _is_probability_target(target, x):
        return _cross_entropy_probs(x, target, weight, reduction, label_smoothing)
    if weight is None:
        return _f.cross_entropy(x, target, ignore_index, reduction, label_smoothing)
    tgt = as_index(target, "cross_entropy", "target")
    if x.ndim > 2:  # (N, C, d…) → (N·d…, C), as the fused path does
        c = x.shape[1]
        flat = x.permute((0,) + tuple(range(2, x.ndim)) + (1,)).reshape(-1, c)
        out = cross_entropy(flat, tgt.reshape(-1), weight, None, ignore_index, None, reduction, label_smoothing)
        return out.reshape(tgt.shape) if reduction == "none" else out
    logp = _f.log_softmax(x, x.ndim - 1)
    nll = nll_loss(logp, tgt, weight, ignore_index, reduction)
    if not label_smoothing:
        return nll
    w = np.asarray(weight, np.float32)
    keep = tgt != ignore_index
    smooth = -(logp * Tensor(w)).sum(x.ndim - 1) * Tensor(keep.astype(np.float32))  # (N,) or ()
    if reduction == "mean":
        smooth = smooth.sum() / float(np.where(keep, w[np.where(keep, tgt, 0)], 0.0).sum())
    else:
        smooth = _reduce(smooth, reduction, "cross_entropy")
    eps = float(label_smoothing)
    return nll * (1.0 - eps) + smooth * (eps / x.shape[-1])


def _is_probability_target(target: Any, x: Tensor) -> bool:
    """PyTorch's rule: a floating-point target of the input's shape holds probabilities."""
    t = target.numpy() if isinstance(target, Tensor) else np.asarray(target)
    return t.dtype.kind == "f" and t.shape == x.shape and x.ndim >= 1


def _cross_entropy_probs(x: Tensor, target: Any, weight: Any, reduction: str, label_smoothing: float) -> Tensor:
    axis = 0 if x.ndim == 1 else 1
    c = x.shape[axis]
    t = target if isinstance(target, Tensor) else Tensor(target)
    if label_smoothing:
        t = t * (1.0 - float(label_smoothing)) + float(label_smoothing) / c
    terms = _f.log_softmax(x, axis) * t
    if weight is not None:
        shape = [1] * x.ndim
        shape[axis] = c
        terms = terms * Tensor(np.asarray(weight, np.float32).reshape(shape))
    loss = -terms.sum(axis)
    if reduction == "mean":
        return loss.sum() / float(max(x.numel() // c, 1)) if x.numel() else loss.sum() * float("nan")
    return _reduce(loss, reduction, "cross_entropy")


conv1d = _f.conv1d
pad = _f.pad

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}; got {reduction!r}")


def silu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """``x·sigmoid(x)`` (swish)."""
    return input * _f.sigmoid(input)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:  # noqa: A002
    """``x / max(‖x‖_p, eps)`` along ``dim``."""
    norm = (input.abs() ** p).sum(dim, keepdim=True) ** (1.0 / p)
    return input / norm.clamp(min=eps)


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """An int64 tensor with one more (last) dim of size ``num_classes`` (max + 1 when -1)."""
    ids = as_index(tensor, "one_hot", "tensor")
    if ids.size and ids.min() < 0:
        raise ValueError("one_hot: class values must be non-negative")
    n = int(ids.max()) + 1 if num_classes == -1 else int(num_classes)
    if ids.size and ids.max() >= n:
        raise ValueError(f"one_hot: class values must be smaller than num_classes={n}")
    return Tensor((ids[..., None] == np.arange(n)).astype(np.int64))


def nll_loss(input: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,  # noqa: A002
             reduction: str = "mean") -> Tensor:  # fmt: skip
    """Negative log-likelihood of log-probabilities ``input`` (N, C), (C,) or (N, C, d…) at class ``target``.

    ``weight`` (C,) rescales each class; ``"mean"`` divides by the summed weight of the
    targets that are not ``ignore_index``, as PyTorch does.
    """
    x = input if isinstance(input, Tensor) else Tensor(input)
    tgt = as_index(target, "nll_loss", "target")
    if x.ndim > 2:  # (N, C, d…) with target (N, d…): classes on axis 1, as in PyTorch
        if tgt.shape != x.shape[:1] + x.shape[2:]:
            raise ShapeError(f"nll_loss: target must have shape {x.shape[:1] + x.shape[2:]} for input {x.shape}; got {tgt.shape}")
        flat = x.permute((0,) + tuple(range(2, x.ndim)) + (1,)).reshape(-1, x.shape[1])
        out = nll_loss(flat, tgt.reshape(-1), weight, ignore_index, reduction)
        return out.reshape(tgt.shape) if reduction == "none" else out
    if x.ndim == 1:
        x, tgt = x.reshape(1, -1), tgt.reshape(1)
    if x.ndim != 2 or tgt.shape != x.shape[:1]:
        raise ShapeError(f"nll_loss: input must be (N, C) with target (N,); got {x.shape} and {tgt.shape}")
    keep = tgt != ignore_index
    safe = np.where(keep, tgt, 0)
    if keep.any() and (safe.min() < 0 or safe.max() >= x.shape[1]):
        raise IndexError(f"nll_loss: target out of range for {x.shape[1]} classes")
    w = np.ones(x.shape[1], np.float32) if weight is None else np.asarray(weight, np.float32)
    wt = np.where(keep, w[safe], 0.0).astype(np.float32)  # (N,)
    picked = _f.gather(x, 1, safe[:, None]).reshape(-1)  # (N,)
    loss = -picked * wt
    if reduction == "mean":
        return loss.sum() / float(wt.sum())
    out = _reduce(loss, reduction, "nll_loss")
    return out.reshape(()) if input.ndim == 1 and reduction == "none" else out


def kl_div(input: Tensor, target: Any, reduction: str = "mean", log_target: bool = False) -> Tensor:  # noqa: A002
    """``target·(log target − input)`` with ``input`` in log space (0 where target is 0).

    ``reduction="batchmean"`` divides the sum by the batch size (the KL divergence);
    ``"mean"`` averages over every element, as PyTorch does.
    """
    t = target if isinstance(target, Tensor) else Tensor(target)
    if log_target:
        loss = t.exp() * (t - input)
    else:
        pos = t._array > 0
        logt = Tensor(np.log(np.where(pos, t._array, 1.0)).astype(np.float32))
        loss = (t * (logt - input)).masked_fill(~pos, 0.0)
    if reduction == "batchmean":
        return loss.sum() / float(input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction, "kl_div")


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Any = None,  # noqa: A002
                                     reduction: str = "mean", pos_weight: Any = None) -> Tensor:  # fmt: skip
    """Sigmoid + binary cross-entropy in one stable expression:
    ``(1 − y)·x + (1 + (pw − 1)·y)·(log(1 + e^−|x|) + max(−x, 0))``."""
    y = target if isinstance(target, Tensor) else Tensor(np.asarray(target, np.float32))
    if input.shape != y.shape:
        raise ShapeError(
            f"binary_cross_entropy_with_logits: input {input.shape} and target {y.shape} differ"
        )
    softplus = (1.0 + (-input.abs()).exp()).log() + (-input).relu()  # log(1 + e^-x), stable
    if pos_weight is None:
        loss = (1.0 - y) * input + softplus
    else:
        loss = (1.0 - y) * input + (1.0 + (pos_weight - 1.0) * y) * softplus
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


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
