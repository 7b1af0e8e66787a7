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


# --- conv1d ------------------------------------------------------------------------------

__all__ += ["conv1d", "conv1d_backward", "conv1d_state", "conv1d_step"]


def _conv_args(
    x: Any, w: Any, b: Any, dilation: Any, op: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    x = as_f32(x, op, "input")
    w = as_f32(w, op, "weight")
    if w.ndim != 3:
        raise ShapeError(f"{op}: weight must be 3-D (out_channels, in_channels, kernel_size); got shape {w.shape}")
    if w.shape[2] == 0:
        raise ShapeError(f"{op}: weight must have kernel_size >= 1; got shape {w.shape}")
    if b is not None:
        b = np.ascontiguousarray(as_f32(b, op, "bias"))
        if b.shape != (w.shape[0],):
            raise ShapeError(f"{op}: bias must have shape ({w.shape[0]},) (out_channels); got {b.shape}")
    if isinstance(dilation, bool) or not isinstance(dilation, (int, np.integer)) or dilation < 1:
        raise ValueError(f"{op}: dilation must be an integer >= 1; got {dilation!r}")
    return x, w, b, int(dilation)


def _conv_input(x: np.ndarray, w: np.ndarray, op: str, arg: str = "input") -> None:
    if x.ndim != 3:
        raise ShapeError(f"{op}: {arg} must be 3-D (batch, channels, time); got shape {x.shape}")
    if x.shape[1] != w.shape[1]:
        raise ShapeError(
            f"{op}: {arg} has {x.shape[1]} channels (shape {x.shape}) but weight expects "
            f"in_channels={w.shape[1]} (weight shape {w.shape})"
        )


def conv1d(
    x: Any,
    w: Any,
    b: Any = None,
    *,
    dilation: int = 1,
    causal: bool = True,
) -> np.ndarray:
    """1-D convolution with output length T: ``y[:, o, t] = b[o] + Σ_{i,j} w[o, i, j] · x[:, i, t + j·d − pad]``.

    ``causal=True`` pads ``(K−1)·d`` zeros on the left only, so ``y[t]`` sees
    ``x[t−(K−1)·d ..= t]``; ``causal=False`` is PyTorch's ``padding='same'``:
    ``⌊(K−1)·d/2⌋`` zeros on the left, the rest (one more for an odd total,
    i.e. an even K with an odd d) on the right. One GEMM per tap on shifted
    views of x; x may be any strided view.

    # Shapes
    - x: (B, C_in, T), w: (C_out, C_in, K), b: (C_out,) or None → (B, C_out, T)
    """
    x, w, b, d = _conv_args(x, w, b, dilation, "conv1d")
    _conv_input(x, w, "conv1d")
    y = np.empty((x.shape[0], w.shape[0], x.shape[2]), dtype=np.float32)
    _core.conv1d_forward(x, w, b, y, d, bool(causal))
    return y


def conv1d_backward(
    x: Any,
    w: Any,
    dy: Any,
    *,
    dilation: int = 1,
    causal: bool = True,
    need_input: bool = True,
    need_weight: bool = True,
    need_bias: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Gradients of :func:`conv1d` for the upstream gradient ``dy``: ``(dx, dw, db)``,
    each None when not asked for. ``dw`` sums the batch in a fixed order, so the
    result is the same for any thread count.

    # Shapes
    - x: (B, C_in, T), w: (C_out, C_in, K), dy: (B, C_out, T)
    - → dx (B, C_in, T), dw (C_out, C_in, K), db (C_out,)
    """
    x, w, _, d = _conv_args(x, w, None, dilation, "conv1d_backward")
    _conv_input(x, w, "conv1d_backward")
    dy = as_f32(dy, "conv1d_backward", "grad_output")
    want = (x.shape[0], w.shape[0], x.shape[2])
    if dy.shape != want:
        raise ShapeError(f"conv1d_backward: grad_output must have shape {want} (the output's); got {dy.shape}")
    dx = np.empty(x.shape, dtype=np.float32) if need_input else None
    dw = np.empty(w.shape, dtype=np.float32) if need_weight else None
    db = np.empty(w.shape[0], dtype=np.float32) if need_bias else None
    if dx is not None or dw is not None or db is not None:
        _core.conv1d_backward(x, w, dy, dx, dw, db, d, bool(causal))
    return dx, dw, db


def conv1d_state(batch: int, in_channels: int, kernel_size: int, dilation: int = 1) -> np.ndarray:
    """A zeroed ring buffer for :func:`conv1d_step`: the last ``(K−1)·d + 1``
    inputs, laid out ``(span, batch, in_channels)``."""
    if kernel_size < 1 or dilation < 1 or batch < 0 or in_channels < 0:
        raise ValueError(
            f"conv1d_state: expected kernel_size >= 1, dilation >= 1 and non-negative sizes; got "
            f"batch={batch}, in_channels={in_channels}, kernel_size={kernel_size}, dilation={dilation}"
        )
    return np.zeros(((kernel_size - 1) * dilation + 1, batch, in_channels), dtype=np.float32)


def conv1d_step(
    x_t: Any,
    w: Any,
    b: Any = None,
    *,
    state: np.ndarray,
    step: int,
    dilation: int = 1,
) -> np.ndarray:
    """One step of a causal :func:`conv1d` for generation: consumes ``x_t``, the
    input at time ``step`` (0 for the first call of a stream), updates the ring
    buffer ``state`` in place (from :func:`conv1d_state`) and returns the output
    at that time. The cost does not depend on ``step``.

    # Shapes
    - x_t: (B, C_in), w: (C_out, C_in, K), b: (C_out,) or None
    - state: ((K−1)·d + 1, B, C_in) float32, C-contiguous → (B, C_out)
    """
    x_t, w, b, d = _conv_args(x_t, w, b, dilation, "conv1d_step")
    if x_t.ndim != 2 or x_t.shape[1] != w.shape[1]:
        raise ShapeError(f"conv1d_step: x_t must be 2-D (batch, in_channels={w.shape[1]}); got shape {x_t.shape}")
    if not isinstance(state, np.ndarray) or state.dtype != np.float32:
        raise DTypeError(f"conv1d_step: state must be a float32 ndarray from conv1d_state; got {type(state).__name__}")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"conv1d_step: step must be an integer >= 0; got {step!r}")
    y = np.empty((x_t.shape[0], w.shape[0]), dtype=np.float32)
    _core.conv1d_step(np.ascontiguousarray(x_t), w, b, state, y, int(step), d)
    return y
