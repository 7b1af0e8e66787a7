"""The one place where arguments are converted and checked (dtype and layout).

float64 (and other real float) input is converted to float32; integer, bool
and complex arrays are refused with ``DTypeError``; shape problems raise
``ShapeError``. Messages name the op, the argument, expected and actual.
Shapes are the binding's business (``src/py/array.rs``); the checks here are
the ones the Python layers need before they can build a view or an output.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from ._core import DTypeError, ShapeError

_F32 = np.dtype(np.float32)

__all__ = [
    "DTypeError", "ShapeError", "as_array", "as_f32", "as_index", "as_int", "as_mask", "check_finite", "check_ndim",
    "check_writable", "contiguous", "is_tensor", "norm_axes", "norm_axis",
]  # fmt: skip


def is_tensor(x: Any) -> bool:
    """Whether ``x`` is an ``attnrs.Tensor`` (duck-typed: this module sits below tensor.py)."""
    return hasattr(x, "requires_grad") and hasattr(x, "_ctx")


def as_array(x: Any) -> Any:
    """The array behind a Tensor; anything else unchanged (no conversion)."""
    return x._array if is_tensor(x) else x


def as_f32(x: Any, op: str, arg: str) -> np.ndarray:
    """``x`` as a float32 ndarray (a view when it already is one).

    Negative-stride views are made contiguous (the kernels read only
    non-negative strides; a reversed axis of size 1 needs no copy) and
    misaligned ones are copied.
    """
    if type(x) is np.ndarray and x.dtype == _F32 and x.flags.c_contiguous and x.flags.aligned:
        return x  # the common case, kept cheap (models call ops per token)
    if type(x) is not np.ndarray and is_tensor(x):  # a Tensor
        x = x._array
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


I64_MAX = 2**63 - 1  # the largest integer every kernel argument can hold


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


def contiguous(a: np.ndarray) -> np.ndarray:
    """``a`` C-contiguous (0-d arrays stay 0-d, unlike ``np.ascontiguousarray``)."""
    return a if a.flags.c_contiguous and a.flags.aligned else np.array(a, order="C")


def as_index(x: Any, op: str, arg: str) -> np.ndarray:
    """Integer ids as a C-contiguous int64 ndarray.

    Accepts NumPy integer arrays (and lists, ints), int64/int32 Tensors, and
    float Tensors whose values are whole numbers. Float arrays and bools
    are refused with ``DTypeError``.
    """
    if is_tensor(x):
        arr = x._array
        if arr.dtype.kind in "iu":  # an int64/int32 Tensor
            return contiguous(arr.astype(np.int64, copy=False))
        if arr.dtype.kind == "b":
            raise DTypeError(f"{op}: {arg} must hold integer ids; got a bool Tensor")
        if arr.size and not np.all(np.isfinite(arr) & (arr == np.round(arr))):
            raise DTypeError(
                f"{op}: {arg} must hold integer ids; the Tensor has non-integer values"
            )
        return arr.astype(np.int64)
    arr = np.asarray(x)
    if arr.dtype.kind not in "iu":
        raise DTypeError(f"{op}: {arg} must be an integer array (ids); got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{op}: {arg} has values beyond the int64 range")
    return contiguous(arr.astype(np.int64, copy=False))


def as_mask(x: Any, op: str, arg: str) -> np.ndarray:
    """A boolean ndarray; a Tensor or number array is read as ``!= 0``."""
    if is_tensor(x):
        return x._array != 0
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


def norm_axes(axis: Any, ndim: int) -> tuple[int, ...] | None:
    """A reduction's ``axis`` (None, an int or a sequence) as a tuple of axes in ``[0, ndim)``."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(int(a) % ndim if ndim else int(a) for a in axes)


def check_ndim(arr: np.ndarray, op: str, arg: str, ndims: tuple[int, ...] | int, what: str = "") -> None:
    ndims = (ndims,) if isinstance(ndims, int) else ndims
    if arr.ndim not in ndims:
        exp = " or ".join(f"{n}-D" for n in ndims)
        raise ShapeError(f"{op}: {arg} must be {exp}{' ' + what if what else ''}; got shape {arr.shape}")


def check_finite(value: float, op: str, arg: str) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{op}: {arg} must be a finite number; got {value!r}")
    return v
