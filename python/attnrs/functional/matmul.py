"""Argument helpers shared by the differentiable ops (``attnrs.functional``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core, ops
from ._checks import DTypeError, ShapeError
from .tensor import Tensor

__all__ = ["as_index", "as_mask", "as_tensor", "mm", "norm_axis"]


def as_tensor(x: Any) -> Tensor:
    """``x`` if it is a Tensor, else a constant float32 Tensor (no grad)."""
    return x if isinstance(x, Tensor) else Tensor(x)


def as_index(x: Any, op: str, arg: str) -> np.ndarray:
    """Integer ids as an int64 ndarray.

    Accepts NumPy integer arrays (and lists, ints) and Tensors whose float32
    values are whole numbers (an "integer Tensor"). Float arrays and bools
    are refused with ``DTypeError``.
    """
    if isinstance(x, Tensor):
        arr = x.data
        if arr.size and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise DTypeError(
                f"{op}: {arg} must hold integer ids; the Tensor has non-integer values"
            )
        return arr.astype(np.int64)
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise DTypeError(f"{op}: {arg} must be an integer array (ids); got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def as_mask(x: Any, op: str, arg: str) -> np.ndarray:
    """A boolean ndarray; a Tensor or number array is read as ``!= 0``."""
    if isinstance(x, Tensor):
        return x.data != 0
    arr = np.asarray(x)
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind in "iuf":
        return arr != 0
    raise DTypeError(f"{op}: {arg} must be a boolean array; got dtype {arr.dtype}")


def norm_axis(axis: int, ndim: int, op: str, arg: str = "dim") -> int:
    """``axis`` in ``[0, ndim)``; negative axes count from the end."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"{op}: {arg} must be an int; got {type(axis).__name__}")
    if not -max(ndim, 1) <= axis < max(ndim, 1):
        raise ShapeError(f"{op}: {arg}={axis} is out of range for a {ndim}-D input")
    return int(axis) % max(ndim, 1)


def mm(a: np.ndarray, b: np.ndarray, trans_a: bool = False, trans_b: bool = False) -> np.ndarray:
    """``op(a) @ op(b)`` through the GEMM.

    2-D operands go straight to ``_core.gemm`` (it validates shapes, dtypes and
    strides itself); anything it refuses, and every other rank, goes through
    ``ops.matmul``, which converts what it can and otherwise raises the
    explanatory error.
    """
    if a.ndim == 2 and b.ndim == 2:
        if trans_a:
            a = a.T
        if trans_b:
            b = b.T
        if a.size and b.size:
            out = np.empty((a.shape[0], b.shape[1]), dtype=np.float32)
            try:
                _core.gemm(a[None], b[None], out[None])
                return out
            except (TypeError, ValueError):
                pass  # e.g. float64 or negative strides: ops.matmul handles or explains
        return ops.matmul(a, b)
    return ops.matmul(a, b, trans_a=trans_a, trans_b=trans_b)
