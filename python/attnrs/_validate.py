"""Argument checks shared by every op: dtype conversion and clear errors.

float64 (and other real float) input is converted to float32; integer, bool
and complex arrays are refused with ``DTypeError``; shape problems raise
``ShapeError``. Messages name the op, the argument, expected and actual.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._core import DTypeError, ShapeError

__all__ = ["as_f32", "check_ndim", "check_finite", "DTypeError", "ShapeError"]


def as_f32(x: Any, op: str, arg: str) -> np.ndarray:
    """``x`` as a float32 ndarray (a view when it already is one).

    Negative-stride views are made contiguous: the kernels read only
    non-negative strides.
    """
    if hasattr(x, "data") and hasattr(x, "requires_grad"):  # a Tensor
        x = x.data
    arr = np.asarray(x)
    kind = arr.dtype.kind
    if kind == "f":
        if arr.dtype != np.float32:
            arr = arr.astype(np.float32)
    else:
        raise DTypeError(
            f"{op}: {arg} must be a floating-point array (float32, or float64 converted to "
            f"float32); got dtype {arr.dtype}"
        )
    if arr.ndim and any(s < 0 for s in arr.strides):
        arr = np.ascontiguousarray(arr)
    return arr


def check_ndim(arr: np.ndarray, op: str, arg: str, ndims: tuple[int, ...] | int, what: str = "") -> None:
    ndims = (ndims,) if isinstance(ndims, int) else ndims
    if arr.ndim not in ndims:
        exp = " or ".join(f"{n}-D" for n in ndims)
        raise ShapeError(f"{op}: {arg} must be {exp}{' ' + what if what else ''}; got shape {arr.shape}")


def check_finite(value: float, op: str, arg: str) -> float:
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{op}: {arg} must be a finite number; got {value!r}")
    return v
