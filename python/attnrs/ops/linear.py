"""Linear: ``y = x Wᵀ + b`` as one fused call each way (W read transposed in
place, the bias added in the GEMM's store; dX, dW and db side by side)."""

from __future__ import annotations

import math

import numpy as np

from .. import _core
from .._validate import ShapeError, as_f32, contiguous

__all__ = ["linear", "linear_backward"]


def _rows(a: np.ndarray) -> np.ndarray:
    """``a`` as (N, last axis) — also when an axis is 0, where ``reshape(-1, n)`` fails —
    with flipped views copied (the kernel reads any non-negative strides in place)."""
    a2 = a if a.ndim == 2 else a.reshape(math.prod(a.shape[:-1]), a.shape[-1])
    s0, s1 = a2.strides
    return a2 if s0 >= 0 and s1 >= 0 else np.ascontiguousarray(a2)


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``x @ weight.T + bias`` over all leading axes of ``x`` (one GEMM).

    ``weight`` may be any non-negative-strided view, e.g. ``wt.T`` of a
    row-major copy ``wt`` of Wᵀ, which a one-row GEMM streams unpacked.
    float64 input is converted (after the binding refused it: the float32
    arrays of the autograd layer and the models go straight through); the
    binding checks shapes and strides.

    # Shapes
    - x: (…, in), weight: (out, in), bias: (out,) or None → (…, out)
    """
    if weight.ndim != 2:
        raise ShapeError(f"linear: weight must be 2-D (out, in); got shape {weight.shape}")
    x2 = x if x.ndim == 2 else x.reshape(math.prod(x.shape[:-1]), x.shape[-1])  # (N, in)
    y = np.empty((x2.shape[0], weight.shape[0]), dtype=np.float32)  # (N, out)
    try:  # the common case first, with nothing converted: per generated token, every step counts
        _core.linear_forward(x2, weight, y, bias)
    except (TypeError, ValueError):
        # float64, negative strides or a strided bias: convert and call again,
        # which raises the binding's explanatory error if that was not the problem.
        b = None if bias is None else contiguous(as_f32(bias, "linear", "bias"))
        _core.linear_forward(_rows(as_f32(x2, "linear", "input")), _rows(as_f32(weight, "linear", "weight")), y, b)
    return y if x.ndim == 2 else y.reshape(x.shape[:-1] + (weight.shape[0],))


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
    x2 = _rows(as_f32(x, "linear_backward", "input"))  # (N, in)
    weight = as_f32(weight, "linear_backward", "weight")
    d2 = contiguous(_rows(as_f32(dy, "linear_backward", "grad_output")))  # (N, out)
    dx = np.empty(x2.shape, dtype=np.float32) if need_input else None
    dw = np.empty(weight.shape, dtype=np.float32) if need_weight else None
    db = np.empty(weight.shape[0], dtype=np.float32) if need_bias else None
    if dx is not None or dw is not None or db is not None:
        _core.linear_backward(x2, _rows(weight), d2, dx, dw, db)
    return (None if dx is None else dx.reshape(x.shape)), dw, db
