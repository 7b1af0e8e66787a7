"""Cross-entropy: fused log-softmax + NLL with PyTorch semantics, returning the gradient too."""

from __future__ import annotations

import numpy as np

from .. import _core
from .._validate import ShapeError, as_f32, as_index, as_int, check_finite, check_ndim, contiguous

__all__ = ["cross_entropy"]

_REDUCTIONS = ("mean", "sum", "none")


def cross_entropy(
    logits: np.ndarray,
    target: np.ndarray,
    *,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> tuple[np.ndarray, np.ndarray]:
    """Fused log-softmax + NLL with PyTorch semantics, and its gradient.

    Returns ``(loss, dlogits)``: for ``mean``/``sum`` the loss is a float32
    0-d array and ``dlogits`` the gradient of that reduced loss (upstream
    gradient 1); for ``none`` the loss is (N,) and ``dlogits`` row i is the
    gradient of loss[i]. Rows whose target is ``ignore_index`` give loss 0 and
    gradient 0; ``mean`` divides by the number of other rows (NaN if none).

    # Shapes
    - logits: (N, C) or (C,)
    - target: (N,) or () integer class indices in [0, C) or ignore_index
    - returns loss () or (N,), dlogits logits.shape
    """
    op = "cross_entropy"
    x = as_f32(logits, op, "logits")
    t = as_index(target, op, "target")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}; got {reduction!r}")
    ls = check_finite(label_smoothing, op, "label_smoothing")
    if not 0.0 <= ls <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1]; got {label_smoothing!r}")
    squeeze = x.ndim == 1
    if squeeze:
        x = x[None, :]
        if t.ndim != 0:
            raise ShapeError(f"{op}: with logits of shape {x.shape[1:]} the target must be a scalar; got shape {t.shape}")
        t = t.reshape(1)
    check_ndim(x, op, "logits", 2, "(N, C)")
    if t.shape != (x.shape[0],):
        raise ShapeError(f"{op}: target must have shape ({x.shape[0]},) to match logits {x.shape}; got {t.shape}")
    if x.shape[1] == 0:
        raise ShapeError(f"{op}: logits must have at least one class; got shape {x.shape}")
    x = contiguous(x)
    losses = np.empty(x.shape[0], dtype=np.float32)
    dlogits = np.empty_like(x)
    total = _core.cross_entropy(x, t, losses, dlogits, as_int(ignore_index, "cross_entropy", "ignore_index"), ls, reduction)
    if squeeze:
        dlogits = dlogits[0]
    if reduction == "none":
        return (losses[0] if squeeze else losses), dlogits
    return np.asarray(total, dtype=np.float32), dlogits
