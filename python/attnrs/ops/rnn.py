"""Recurrent layers on NumPy arrays, no autograd (re-exported by ``attnrs.ops``).

One layer, one direction, batch-first; float64 input is converted to float32
and arrays are made C-contiguous for the kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._validate import DTypeError, ShapeError, as_f32, is_tensor

__all__ = ["rnn_backward", "rnn_forward", "rnn_lengths"]


_RNN_MODES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _rnn_mode(mode: str) -> str:
    if mode not in _RNN_MODES:
        raise ValueError(f"rnn: mode must be one of {sorted(_RNN_MODES)}; got {mode!r}")
    return mode


def rnn_lengths(lengths: Any, batch: int, steps: int, op: str = "rnn") -> np.ndarray | None:
    """``lengths`` as a contiguous int64 (B,) array with values in 0..=T (None stays None)."""
    if lengths is None:
        return None
    if is_tensor(lengths):
        lengths = lengths._array
    arr = np.asarray(lengths)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and arr.size and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise DTypeError(f"{op}: lengths must be an integer array; got dtype {arr.dtype}")
    if arr.shape != (batch,):
        raise ShapeError(
            f"{op}: lengths must have shape ({batch},) (one per sequence); got {arr.shape}"
        )
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


def _opt32(x: Any, op: str, arg: str, ndim: int) -> np.ndarray | None:
    return None if x is None else _c32(x, op, arg, ndim)


def rnn_forward(
    mode: str,
    x: np.ndarray,
    h0: np.ndarray | None,
    c0: np.ndarray | None,
    w_ih: np.ndarray,
    w_hh: np.ndarray,
    b_ih: np.ndarray | None = None,
    b_hh: np.ndarray | None = None,
    lengths: Any = None,
    save: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple]:
    """One recurrent layer, one direction, over the whole sequence (batch-first).

    ``mode`` is ``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm"`` (gates i, f, g, o) or
    ``"gru"`` (r, z, n), with PyTorch's equations and weight layouts. ``h0``/``c0``
    None mean zeros (``c0`` only for LSTM). With ``lengths``, sequence b keeps its
    state after ``lengths[b]`` steps and outputs zeros there.

    # Shapes
    - x: (B, T, I); h0, c0: (B, H); w_ih: (G·H, I); w_hh: (G·H, H); b_*: (G·H,); lengths: (B,)
    - returns out (B, T, H), h_n (B, H), c_n (B, H) or None, and ``saved`` for
      ``rnn_backward``; ``save=False`` (inference: same results) keeps nothing and
      returns ``()`` for it
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
        mode, x, h0, c0, w_ih, w_hh, _opt32(b_ih, op, "b_ih", 1), _opt32(b_hh, op, "b_hh", 1), lens,
        bool(save),
    )
    return out, h_n, c_n, tuple(saved)


def rnn_backward(
    mode: str,
    x: np.ndarray,
    w_ih: np.ndarray,
    w_hh: np.ndarray,
    b_ih: np.ndarray | None,
    b_hh: np.ndarray | None,
    lengths: Any,
    saved: tuple,
    dout: np.ndarray,
    dh_n: np.ndarray | None = None,
    dc_n: np.ndarray | None = None,
    need_dx: bool = True,
) -> tuple:
    """BPTT of ``rnn_forward`` (same arguments, its ``saved``, and the output grads).
    ``need_dx=False`` skips the input gradient's GEMM and returns None for it.

    # Shapes
    - dout: (B, T, H); dh_n, dc_n: (B, H) or None (zeros)
    - returns (dx (B,T,I) | None, dh0 (B,H), dc0 (B,H) | None, dw_ih, dw_hh, db_ih | None,
      db_hh | None); bias grads are None when the bias is None
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
        _opt32(dh_n, op, "dh_n", 2), _opt32(dc_n, op, "dc_n", 2), bool(need_dx),
    )  # fmt: skip
