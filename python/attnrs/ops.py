"""Kernels on NumPy arrays, no autograd: NumPy in, NumPy out (float32).

float64 input is converted to float32. Strided views are read through their
strides (transposes and slices cost no copy).
"""

from __future__ import annotations

from typing import Any, Optional

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


# --- recurrent layers ----------------------------------------------------------------------

_RNN_MODES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _rnn_mode(mode: str) -> str:
    if mode not in _RNN_MODES:
        raise ValueError(f"rnn: mode must be one of {sorted(_RNN_MODES)}; got {mode!r}")
    return mode


def rnn_lengths(lengths: Any, batch: int, steps: int, op: str = "rnn") -> Optional[np.ndarray]:
    """``lengths`` as a contiguous int64 (B,) array with values in 0..=T (None stays None)."""
    if lengths is None:
        return None
    if hasattr(lengths, "data") and hasattr(lengths, "requires_grad"):  # a Tensor
        lengths = lengths.data
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and arr.size and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise DTypeError(f"{op}: lengths must be an integer array; got dtype {arr.dtype}")
    if arr.shape != (batch,):
        raise ShapeError(f"{op}: lengths must have shape ({batch},) (one per sequence); got {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > steps):
        raise ValueError(
            f"{op}: lengths must lie in 0..={steps} (the sequence length); got min {arr.min()}, max {arr.max()}"
        )
    return np.ascontiguousarray(arr, dtype=np.int64)


def _c32(x: Any, op: str, arg: str, ndim: int) -> np.ndarray:
    arr = np.ascontiguousarray(as_f32(x, op, arg))
    if arr.ndim != ndim:
        raise ShapeError(f"{op}: {arg} must be {ndim}-D; got shape {arr.shape}")
    return arr


def _opt32(x: Any, op: str, arg: str, ndim: int) -> Optional[np.ndarray]:
    return None if x is None else _c32(x, op, arg, ndim)


def rnn_forward(
    mode: str,
    x: np.ndarray,
    h0: Optional[np.ndarray],
    c0: Optional[np.ndarray],
    w_ih: np.ndarray,
    w_hh: np.ndarray,
    b_ih: Optional[np.ndarray] = None,
    b_hh: Optional[np.ndarray] = None,
    lengths: Any = None,
) -> tuple[np.ndarray, np.ndarray, Optional[np.ndarray], tuple]:
    """One recurrent layer, one direction, over the whole sequence (batch-first).

    ``mode`` is ``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm"`` (gates i, f, g, o) or
    ``"gru"`` (r, z, n), with PyTorch's equations and weight layouts. ``h0``/``c0``
    None mean zeros (``c0`` only for LSTM). With ``lengths``, sequence b keeps its
    state after ``lengths[b]`` steps and outputs zeros there.

    # Shapes
    - x: (B, T, I); h0, c0: (B, H); w_ih: (G·H, I); w_hh: (G·H, H); b_*: (G·H,); lengths: (B,)
    - returns out (B, T, H), h_n (B, H), c_n (B, H) or None, and ``saved`` for
      ``rnn_backward``
    """
    mode = _rnn_mode(mode)
    op = "rnn_forward"
    x = _c32(x, op, "x", 3)
    w_ih = _c32(w_ih, op, "w_ih", 2)
    w_hh = _c32(w_hh, op, "w_hh", 2)
    b, t, _ = x.shape
    h = w_hh.shape[1]
    h0 = np.zeros((b, h), np.float32) if h0 is None else _c32(h0, op, "h0", 2)
    if mode != "lstm" and c0 is not None:
        raise ValueError(f"{op}: c0 is only for mode 'lstm'; got mode {mode!r}")
    c0 = _opt32(c0, op, "c0", 2)
    lens = rnn_lengths(lengths, b, t, op)
    out, h_n, c_n, saved = _core.rnn_forward(
        mode, x, h0, c0, w_ih, w_hh, _opt32(b_ih, op, "b_ih", 1), _opt32(b_hh, op, "b_hh", 1), lens
    )
    return out, h_n, c_n, tuple(saved)


def rnn_backward(
    mode: str,
    x: np.ndarray,
    w_ih: np.ndarray,
    w_hh: np.ndarray,
    b_ih: Optional[np.ndarray],
    b_hh: Optional[np.ndarray],
    lengths: Any,
    saved: tuple,
    dout: np.ndarray,
    dh_n: Optional[np.ndarray] = None,
    dc_n: Optional[np.ndarray] = None,
) -> tuple:
    """BPTT of ``rnn_forward`` (same arguments, its ``saved``, and the output grads).

    # Shapes
    - dout: (B, T, H); dh_n, dc_n: (B, H) or None (zeros)
    - returns (dx (B,T,I), dh0 (B,H), dc0 (B,H) | None, dw_ih, dw_hh, db_ih | None, db_hh | None);
      bias grads are None when the bias is None
    """
    mode = _rnn_mode(mode)
    op = "rnn_backward"
    x = _c32(x, op, "x", 3)
    b, t, _ = x.shape
    lens = rnn_lengths(lengths, b, t, op)
    return _core.rnn_backward(
        mode, x, _c32(w_ih, op, "w_ih", 2), _c32(w_hh, op, "w_hh", 2),
        _opt32(b_ih, op, "b_ih", 1), _opt32(b_hh, op, "b_hh", 1), lens,
        [np.ascontiguousarray(s, dtype=np.float32) for s in saved], _c32(dout, op, "dout", 3),
        _opt32(dh_n, op, "dh_n", 2), _opt32(dc_n, op, "dc_n", 2),
    )  # fmt: skip


__all__ += ["rnn_forward", "rnn_backward", "rnn_lengths"]
