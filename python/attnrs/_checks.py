"""Argument checks shared by every op: dtype conversion and clear errors.

float64 (and other real float) input is converted to float32; integer, bool
and complex arrays are refused with ``DTypeError``; shape problems raise
``ShapeError``. Messages name the op, the argument, expected and actual.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from ._core import DTypeError, ShapeError

__all__ = ["as_f32", "as_int", "check_ndim", "check_finite", "check_writable", "DTypeError", "ShapeError"]

I64_MAX = 2**63 - 1  # the largest integer every kernel argument can hold


def as_f32(x: Any, op: str, arg: str) -> np.ndarray:
    """``x`` as a float32 ndarray (a view when it already is one).

    Negative-stride views are made contiguous (the kernels read only
    non-negative strides; a reversed axis of size 1 needs no copy) and
    misaligned ones are copied.
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
    if arr.ndim and any(s < 0 and n > 1 for s, n in zip(arr.strides, arr.shape)):
        arr = np.ascontiguousarray(arr)
    if not arr.flags.aligned:  # e.g. np.frombuffer at an odd offset: kernels need aligned floats
        arr = np.array(arr, order="K")
    return arr


def as_int(value: Any, op: str, arg: str, lo: int = -I64_MAX - 1, hi: int = I64_MAX) -> int:
    """``value`` as a Python int in ``lo..=hi``.

    Integers of any kind (``int``, NumPy integers, ``bool``) are accepted;
    anything else (``1.5`` is not silently truncated) and out-of-range values
    (which would overflow the kernel's 64-bit integer or wrap around) raise
    ``ValueError`` naming the op, the argument and the range.
    """
    if lo == -I64_MAX - 1:
        want = f"an integer <= {hi}" if hi != I64_MAX else "an integer in [-2**63, 2**63)"
    else:
        want = f"an integer >= {lo}" + (f" and <= {hi}" if hi != I64_MAX else " (and < 2**63)")
    try:
        v = operator.index(value)
    except TypeError:
        # ValueError (not TypeError), as for an out-of-range integer: 1.5 is a bad value here.
        raise ValueError(f"{op}: {arg} must be {want}; got {type(value).__name__} {value!r}") from None
    if not lo <= v <= hi:
        raise ValueError(f"{op}: {arg} must be {want}; got {v}")
    return v


def check_writable(arr: np.ndarray, op: str, arg: str) -> None:
    """``ValueError`` naming the op and argument unless ``arr`` can be written."""
    if not arr.flags.writeable:
        raise ValueError(
            f"{op}: {arg} is read-only (flags.writeable is False); pass a writable array "
            "(e.g. a copy, or np.empty of the same shape)"
        )


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
