"""Elementwise activations (GELU erf/tanh, ReLU, tanh, sigmoid) and their backward, SIMD."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._validate import as_f32, contiguous

__all__ = [
    "gelu", "gelu_backward", "relu", "relu_backward", "sigmoid", "sigmoid_backward", "tanh",
    "tanh_backward",
]  # fmt: skip

_F32 = np.dtype(np.float32)


def _gelu_kind(approximate: str, op: str) -> str:
    if approximate == "none":
        return "gelu"
    if approximate == "tanh":
        return "gelu_tanh"
    raise ValueError(f"{op}: approximate must be 'none' or 'tanh'; got {approximate!r}")


def _act(kind: str, x: Any, op: str) -> np.ndarray:
    xc = x if type(x) is np.ndarray and x.dtype == _F32 and x.flags.c_contiguous and x.flags.aligned else contiguous(as_f32(x, op, "x"))
    y = np.empty_like(xc)
    _core.activation(kind, xc, y)
    return y


def _act_bwd(kind: str, saved: Any, dy: Any, op: str, saved_name: str) -> np.ndarray:
    s = contiguous(as_f32(saved, op, saved_name))
    d = contiguous(as_f32(dy, op, "dy"))
    dx = np.empty_like(s)
    _core.activation_backward(kind, s, d, dx)
    return dx


def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """GELU: ``x·Φ(x)`` (``approximate="none"``) or the tanh form
    ``½x(1 + tanh(√(2/π)(x + 0.044715x³)))``, elementwise, SIMD. Φ is a
    polynomial (absolute error ≤ 1.2e-7) on SIMD vectors whose inputs all lie
    in |x| ≤ 2√2, else ½·erfc(−x/√2), relatively accurate in the left tail.

    # Shapes
    - x: any; returns x.shape
    """
    return _act("gelu" if approximate == "none" else _gelu_kind(approximate, "gelu"), x, "gelu")


def gelu_backward(x: np.ndarray, dy: np.ndarray, approximate: str = "none") -> np.ndarray:
    """``dy ⊙ gelu'(x)`` for the chosen form.

    # Shapes
    - x, dy: same shape; returns that shape
    """
    return _act_bwd(_gelu_kind(approximate, "gelu_backward"), x, dy, "gelu_backward", "x")


def relu(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)`` elementwise (NaN stays NaN)."""
    return _act("relu", x, "relu")


def relu_backward(x: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``dy`` where ``x > 0``, else 0."""
    return _act_bwd("relu", x, dy, "relu_backward", "x")


def tanh(x: np.ndarray) -> np.ndarray:
    """tanh elementwise (SIMD, ≤ 4 ulp)."""
    return _act("tanh", x, "tanh")


def tanh_backward(y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``dy·(1 − y²)`` from the forward output ``y``."""
    return _act_bwd("tanh", y, dy, "tanh_backward", "y")


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``1/(1 + e^−x)`` elementwise (SIMD)."""
    return _act("sigmoid", x, "sigmoid")


def sigmoid_backward(y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``dy·y(1 − y)`` from the forward output ``y``."""
    return _act_bwd("sigmoid", y, dy, "sigmoid_backward", "y")
