"""Linear: ``y = x Wᵀ + b`` as one fused call each way (W read transposed in
place, the bias added in the GEMM's store; dX, dW and db side by side)."""

from __future__ import annotations

import math

import numpy as np

from .. import _core

__all__ = ["linear", "linear_backward"]


def _rows(a: np.ndarray) -> np.ndarray:
    """``a`` as (N, last axis) — also when an axis is 0, where ``reshape(-1, n)`` fails —
    with flipped views copied (the kernel reads any non-negative strides in place)."""
    a2 = a.reshape(math.prod(a.shape[:-1]), a.shape[-1])
    return a2 if all(s >= 0 for s in a2.strides) else np.ascontiguousarray(a2)


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``x @ weight.T + bias`` over all leading axes of ``x`` (one GEMM).

    ``weight`` may be any non-negative-strided view, e.g. ``wt.T`` of a
    row-major copy ``wt`` of Wᵀ, which a one-row GEMM streams unpacked.
    Arguments are float32 (the autograd layer and the models pass float32
    arrays; the binding checks shapes, dtypes and strides).

    # Shapes
    - x: (…, in), weight: (out, in), bias: (out,) or None → (…, out)
    """
    x2 = _rows(x)  # (N, in)
    y = np.empty((x2.shape[0], weight.shape[0]), dtype=np.float32)  # (N, out)
    b = None if bias is None else np.ascontiguousarray(bias)
    _core.linear_forward(x2, _rows(weight), y, b)
    return y.reshape(x.shape[:-1] + (weight.shape[0],))


def linear_backward(
    x: np.ndarray,
    weight: np.ndarray,
    dy: np.ndarray,
    *,
    need_input: bool = True,
    need_weight: bool = True,
    need_bias: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """``(dx, dweight, dbias)`` of :func:`linear`, each None when not asked for.

    # Shapes
    - x: (…, in), weight: (out, in), dy: (…, out) → dx like x, dweight like weight, dbias (out,)
    """
    x2 = _rows(x)  # (N, in)
    d2 = np.ascontiguousarray(_rows(dy), dtype=np.float32)  # (N, out)
    dx = np.empty(x2.shape, dtype=np.float32) if need_input else None
    dw = np.empty(weight.shape, dtype=np.float32) if need_weight else None
    db = np.empty(weight.shape[0], dtype=np.float32) if need_bias else None
    if dx is not None or dw is not None or db is not None:
        _core.linear_backward(x2, _rows(weight), d2, dx, dw, db)
    return (None if dx is None else dx.reshape(x.shape)), dw, db
