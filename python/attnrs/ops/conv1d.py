"""Causal / 'same' dilated 1-D convolution on (B, C, T), its backward and the streaming step."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._validate import DTypeError, ShapeError, as_f32, as_int, check_writable

__all__ = ["conv1d", "conv1d_backward", "conv1d_state", "conv1d_step"]


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
    if isinstance(dilation, bool):
        raise ValueError(f"{op}: dilation must be an integer >= 1; got {dilation!r}")
    return x, w, b, as_int(dilation, op, "dilation", 1)


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
    op = "conv1d_state"
    batch, in_channels = as_int(batch, op, "batch", 0), as_int(in_channels, op, "in_channels", 0)
    kernel_size, dilation = as_int(kernel_size, op, "kernel_size", 1), as_int(dilation, op, "dilation", 1)
    if (kernel_size - 1) * dilation + 1 > 2**62:
        raise ValueError(
            f"conv1d_state: the state would need (kernel_size - 1)·dilation + 1 = "
            f"{(kernel_size - 1) * dilation + 1} time steps; dilation {dilation} is too large"
        )
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
    check_writable(state, "conv1d_step", "state")
    if isinstance(step, bool):
        raise ValueError(f"conv1d_step: step must be an integer >= 0; got {step!r}")
    step = as_int(step, "conv1d_step", "step", 0)
    y = np.empty((x_t.shape[0], w.shape[0]), dtype=np.float32)
    _core.conv1d_step(np.ascontiguousarray(x_t), w, b, state, y, int(step), d)
    return y
