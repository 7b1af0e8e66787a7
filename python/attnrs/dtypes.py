"""The dtypes a Tensor holds, named as in PyTorch (they are NumPy dtypes).

Floating-point math is float32 (float64 input becomes float32); int64 (``long``),
int32 (``int``), uint8 and bool tensors hold ids, counts and masks and carry no gradient.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bool", "float", "float32", "int", "int32", "int64", "long", "uint8"]

float32 = np.dtype(np.float32)
float = float32  # noqa: A001
int64 = np.dtype(np.int64)
long = int64
int32 = np.dtype(np.int32)
int = int32  # noqa: A001
bool = np.dtype(np.bool_)  # noqa: A001
uint8 = np.dtype(np.uint8)  # masks and bytes; like int64, no gradient
