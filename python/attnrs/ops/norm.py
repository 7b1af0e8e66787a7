"""LayerNorm over the last axis (fused) and its backward."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _core
from .._validate import ShapeError, as_f32, contiguous

__all__ = ["layer_norm", "layer_norm_backward", "layer_norm_inference"]

_F32 = np.dtype(np.float32)


def _vector(v: Any, n: int, op: str, arg: str) -> np.ndarray | None:
    if v is None:
        return None
    if type(v) is np.ndarray and v.dtype == _F32 and v.shape == (n,) and v.flags.c_contiguous and v.flags.aligned:
        return v  # the common case, without a call (models call this per token)
    return contiguous(as_f32(v, op, arg))  # its shape (n,): checked by the binding


def layer_norm(
    x: np.ndarray,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LayerNorm over the last axis: ``(x − mean)/√(var + eps)·weight + bias``
    (biased variance), fused in Rust. Returns ``(y, mean, rstd)`` with
    rstd = 1/√(var + eps), which ``layer_norm_backward`` takes.

    # Shapes
    - x: (…, n); weight, bias: (n,) or None
    - returns y (…, n), mean (…,), rstd (…,)
    """
    op = "layer_norm"
    if not (type(x) is np.ndarray and x.dtype == _F32 and x.flags.c_contiguous and x.flags.aligned):
        x = contiguous(as_f32(x, op, "x"))
    shape = x.shape
    if not shape or shape[-1] == 0:
        raise ShapeError(f"{op}: x must have a non-empty last axis; got shape {shape}")
    eps = float(eps)
    if not 0.0 <= eps < math.inf:  # also refuses NaN
        raise ValueError(f"{op}: eps must be a finite number >= 0; got {eps!r}")
    n, rows = shape[-1], shape[:-1]
    w = None if weight is None else _vector(weight, n, op, "weight")
    b = None if bias is None else _vector(bias, n, op, "bias")
    y = np.empty(shape, dtype=np.float32)
    mean = np.empty(rows, dtype=np.float32)
    rstd = np.empty(rows, dtype=np.float32)
    _core.layer_norm(x, w, b, eps, y, mean, rstd)
    return y, mean, rstd


def layer_norm_inference(
    x: np.ndarray, weight: np.ndarray | None, bias: np.ndarray | None, eps: float
) -> np.ndarray:
    """``layer_norm(x, weight, bias, eps)[0]`` with no conversion: for callers
    that hold float32, C-contiguous arrays (the per-token decode paths). The
    binding still checks every shape and dtype and raises on anything else.

    # Shapes
    - x: (…, n); weight, bias: (n,) or None → (…, n)
    """
    y = np.empty(x.shape, dtype=np.float32)
    rows = x.shape[:-1]
    _core.layer_norm(x, weight, bias, eps, y, np.empty(rows, np.float32), np.empty(rows, np.float32))
    return y


def layer_norm_backward(
    dy: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray | None,
    mean: np.ndarray,
    rstd: np.ndarray,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Gradients of ``layer_norm`` from the saved ``mean``/``rstd``.

    Returns ``(dx, dweight, dbias)``; ``dweight`` is None when ``weight`` is
    None, ``dbias`` (= dy summed over all but the last axis) is always given.
    dweight/dbias are reduced over rows in a fixed order (deterministic).

    # Shapes
    - dy, x: (…, n); weight: (n,) or None; mean, rstd: (…,)
    - returns dx (…, n), dweight (n,) or None, dbias (n,)
    """
    op = "layer_norm_backward"
    dy = as_f32(dy, op, "dy")
    x = as_f32(x, op, "x")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ShapeError(f"{op}: x must have a non-empty last axis; got shape {x.shape}")
    n = x.shape[-1]
    w = _vector(weight, n, op, "weight")
    mean = contiguous(as_f32(mean, op, "mean"))  # shapes x.shape[:-1]: checked by the binding
    rstd = contiguous(as_f32(rstd, op, "rstd"))
    dx = np.empty(x.shape, dtype=np.float32)
    dw = np.empty(n, dtype=np.float32)
    db = np.empty(n, dtype=np.float32)
    _core.layer_norm_backward(contiguous(dy), contiguous(x), w, mean, rstd, dx, dw, db)
    return dx, (dw if w is not None else None), db
