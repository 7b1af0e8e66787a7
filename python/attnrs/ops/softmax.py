"""Softmax and log-softmax along any axis (fused, max-subtracted), and their backward."""

from __future__ import annotations

import numpy as np

from .. import _core
from .._validate import ShapeError, as_f32, check_finite, contiguous

__all__ = ["log_softmax", "log_softmax_backward", "softmax", "softmax_backward"]


def _axis_last(x: np.ndarray, axis: int, op: str, arg: str = "x") -> tuple[np.ndarray, int]:
    """``x`` with ``axis`` moved last, C-contiguous, and the normalized axis."""
    if x.ndim == 0:
        raise ShapeError(f"{op}: {arg} must have at least 1 dimension; got a 0-d array")
    if not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < x.ndim:
        raise ShapeError(f"{op}: axis {axis!r} is out of range for {arg} of shape {x.shape}")
    ax = int(axis) % x.ndim
    if ax != x.ndim - 1:
        x = np.moveaxis(x, ax, -1)
    return contiguous(x), ax


def _axis_back(y: np.ndarray, ax: int) -> np.ndarray:
    return y if ax == y.ndim - 1 else np.moveaxis(y, -1, ax)


def softmax(
    x: np.ndarray, axis: int = -1, *, scale: float = 1.0, mask: np.ndarray | None = None
) -> np.ndarray:
    """``softmax(scale·x + mask)`` along ``axis``, max-subtracted, fused in Rust.

    ``mask`` is additive (use ``-inf`` to mask out) and broadcasts to ``x``;
    a row whose entries are all ``-inf`` gives NaN, as in PyTorch.

    # Shapes
    - x: (…, n, …) — any shape, ``axis`` selects n
    - mask: broadcastable to x
    - returns x.shape
    """
    x = as_f32(x, "softmax", "x")
    scale = check_finite(scale, "softmax", "scale")
    xc, ax = _axis_last(x, axis, "softmax")
    y = np.empty_like(xc)
    m = None
    if mask is not None:
        mk = as_f32(mask, "softmax", "mask")
        try:
            mb = np.broadcast_to(mk, x.shape)
        except ValueError:
            raise ShapeError(f"softmax: mask of shape {mk.shape} does not broadcast to x of shape {x.shape}") from None
        mb = np.moveaxis(mb, ax, -1)
        if all(s == 0 for s in mb.strides[:-1]):
            m = contiguous(mb[(0,) * (mb.ndim - 1)])  # one row, broadcast by the kernel
        else:
            m = contiguous(mb)
    _core.softmax(xc, y, scale, m)
    return _axis_back(y, ax)


def softmax_backward(y: np.ndarray, dy: np.ndarray, axis: int = -1, *, scale: float = 1.0) -> np.ndarray:
    """Gradient of ``softmax(scale·x)`` w.r.t. x from the output ``y``:
    ``dx = scale·y⊙(dy − Σ dy⊙y)`` along ``axis``.

    # Shapes
    - y, dy: same shape; returns that shape
    """
    y = as_f32(y, "softmax_backward", "y")
    dy = as_f32(dy, "softmax_backward", "dy")
    scale = check_finite(scale, "softmax_backward", "scale")
    yc, ax = _axis_last(y, axis, "softmax_backward", "y")
    dyc, _ = _axis_last(dy, axis, "softmax_backward", "dy")
    dx = np.empty_like(yc)
    _core.softmax_backward(yc, dyc, dx, scale)
    return _axis_back(dx, ax)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``x − logsumexp(x)`` along ``axis``, fused in Rust.

    # Shapes
    - x: any shape with at least 1 dimension; returns x.shape
    """
    x = as_f32(x, "log_softmax", "x")
    xc, ax = _axis_last(x, axis, "log_softmax")
    y = np.empty_like(xc)
    _core.log_softmax(xc, y)
    return _axis_back(y, ax)


def log_softmax_backward(y: np.ndarray, dy: np.ndarray, axis: int = -1) -> np.ndarray:
    """Gradient of log-softmax from its output ``y``: ``dx = dy − exp(y)·Σ dy``.

    # Shapes
    - y, dy: same shape; returns that shape
    """
    y = as_f32(y, "log_softmax_backward", "y")
    dy = as_f32(dy, "log_softmax_backward", "dy")
    yc, ax = _axis_last(y, axis, "log_softmax_backward", "y")
    dyc, _ = _axis_last(dy, axis, "log_softmax_backward", "dy")
    dx = np.empty_like(yc)
    _core.softmax_backward(yc, dyc, dx, 1.0, True)
    return _axis_back(dx, ax)
