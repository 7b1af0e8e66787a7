"""Kernels on NumPy arrays, no autograd: NumPy in, NumPy out (float32).

float64 input is converted to float32. Strided views are read through their
strides (transposes and slices cost no copy).
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from . import _core
from ._checks import ShapeError, DTypeError, as_f32

__all__ = ["matmul"]


def _batch_view(x: np.ndarray, batch_shape: tuple[int, ...]) -> np.ndarray:
    """``x`` (…, r, c) broadcast to ``batch_shape + (r, c)`` and flattened to 3-D,
    without a copy when the broadcast batch can be walked with one stride."""
    r, c = x.shape[-2:]
    full = np.broadcast_to(x, batch_shape + (r, c))
    nb = int(np.prod(batch_shape, dtype=np.int64)) if batch_shape else 1
    # A batch walkable with one stride: all batch strides 0 (pure broadcast) or
    # the batch dims collapse to one stride.
    bstr = [s for n, s in zip(batch_shape, full.strides[:-2]) if n > 1]
    if not bstr or all(s == 0 for s in bstr):
        return np.lib.stride_tricks.as_strided(x, (nb, r, c), (0,) + full.strides[-2:]) if nb > 1 else full.reshape(1, r, c)
    try:
        out = full.view()
        out.shape = (nb, r, c)  # raises when a copy would be needed
        return out
    except AttributeError:
        return np.ascontiguousarray(full).reshape(nb, r, c)


def matmul(
    a: np.ndarray,
    b: np.ndarray,
    *,
    trans_a: bool = False,
    trans_b: bool = False,
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """``op(a) @ op(b)`` with NumPy ``matmul`` semantics, where ``op`` transposes
    the last two axes when ``trans_*`` is set (free: only strides change).

    # Shapes
    - a: (…, m, k) or (k,) — 1-D is promoted as in NumPy
    - b: (…, k, n) or (k,)
    - returns (broadcast(…), m, n), with promoted axes dropped
    """
    a = as_f32(a, "matmul", "a")
    b = as_f32(b, "matmul", "b")
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: a and b must have at least 1 dimension; got shapes {a.shape} and {b.shape}")
    if trans_a and a.ndim >= 2:
        a = a.swapaxes(-1, -2)
    if trans_b and b.ndim >= 2:
        b = b.swapaxes(-1, -2)
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    a2 = a[None, :] if a_vec else a
    b2 = b[:, None] if b_vec else b
    m, k = a2.shape[-2:]
    k2, n = b2.shape[-2:]
    if k != k2:
        raise ShapeError(
            f"matmul: inner dimensions differ: a has shape {a.shape} (k={k}), b has shape {b.shape} (k={k2})"
            f"{' after transposes' if trans_a or trans_b else ''}"
        )
    try:
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    except ValueError:
        raise ShapeError(
            f"matmul: batch dimensions {a2.shape[:-2]} of a and {b2.shape[:-2]} of b do not broadcast"
        ) from None
    out_shape = batch + ((m,) if not a_vec else ()) + ((n,) if not b_vec else ())
    nb = int(np.prod(batch, dtype=np.int64)) if batch else 1
    if out is not None:
        if not isinstance(out, np.ndarray) or out.dtype != np.float32:
            raise DTypeError(f"matmul: out must be a float32 ndarray; got {getattr(out, 'dtype', type(out).__name__)}")
        if out.shape != out_shape:
            raise ShapeError(f"matmul: out must have shape {out_shape}; got {out.shape}")
        res = out
    else:
        res = np.empty(out_shape, dtype=np.float32)
    if res.size == 0:
        return res
    c3 = res.reshape(nb, m, n) if res.flags.c_contiguous else None
    target = c3 if c3 is not None else np.empty((nb, m, n), dtype=np.float32)
    if k == 0:
        target[...] = 0.0
    else:
        _core.gemm(_batch_view(a2, batch), _batch_view(b2, batch), target)
    if c3 is None:
        res[...] = target.reshape(out_shape)
    return res



# --- recurrent layers (implemented in _ops_rnn.py) ------------------------------------------
from ._ops_rnn import rnn_backward, rnn_forward, rnn_lengths  # noqa: E402

__all__ += ["rnn_forward", "rnn_backward", "rnn_lengths"]
