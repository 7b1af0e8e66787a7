"""Scaled dot-product attention on NumPy arrays (no autograd): forward with
the row log-sum-exp, and backward. Re-exported by ``attnrs.ops``.

Inputs are (B, H, T, D) like PyTorch's ``scaled_dot_product_attention`` (3-D
(H, T, D) is accepted too) and are read through their strides: heads split
from a fused (B, T, 3, H, D) projection need no copy. float64 is converted
to float32.

Masks:
- ``causal``: query i sees key j only when ``j <= i + causal_offset``
  (0 is PyTorch's ``is_causal``; ``Tk - Tq`` aligns the last query with the
  last key, as in incremental decoding).
- ``key_padding_mask``: (B, Tk) bool, True = ignore that key (PyTorch MHA).
- ``attn_mask``: broadcastable to (B, H, Tq, Tk); bool True = take part (PyTorch
  SDPA), float is added to the scores.

A query row that sees no key gets a zero output (PyTorch gives NaN) and a
log-sum-exp of -inf.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .. import _core
from .._validate import DTypeError, ShapeError, as_f32, as_int, check_writable

__all__ = ["Prepared", "attention", "attention_backward", "attention_forward"]


def _as4(x: Any, op: str, arg: str) -> np.ndarray:
    a = as_f32(x, op, arg)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ShapeError(f"{op}: {arg} must be 4-D (B, H, T, D) or 3-D (H, T, D); got shape {a.shape}")
    return a


def _masks(
    op: str, q: np.ndarray, k: np.ndarray, key_padding_mask: Any, attn_mask: Any
) -> tuple[np.ndarray | None, np.ndarray | None]:
    b, h, tq, _ = q.shape
    tk = k.shape[2]
    kpm = None
    if key_padding_mask is not None:
        m = np.asarray(key_padding_mask)
        if m.dtype != np.bool_:
            raise DTypeError(f"{op}: key_padding_mask must be a bool array (True = ignore); got dtype {m.dtype}")
        if m.shape != (b, tk):
            raise ShapeError(f"{op}: key_padding_mask must have shape (B, Tk) = {(b, tk)}; got {m.shape}")
        kpm = np.ascontiguousarray(m).view(np.uint8)
    am = None
    if attn_mask is not None:
        m = np.asarray(attn_mask)
        if m.dtype == np.bool_:
            m = np.where(m, np.float32(0.0), np.float32(-np.inf))
        elif m.dtype.kind == "f":
            m = m.astype(np.float32, copy=False)
        else:
            raise DTypeError(f"{op}: attn_mask must be bool or float; got dtype {m.dtype}")
        if m.ndim > 4 or m.ndim < 2:
            raise ShapeError(f"{op}: attn_mask must broadcast to (B, H, Tq, Tk); got shape {m.shape}")
        try:
            am = np.broadcast_to(m, (b, h, tq, tk))
        except ValueError:
            raise ShapeError(
                f"{op}: attn_mask of shape {m.shape} does not broadcast to (B, H, Tq, Tk) = {(b, h, tq, tk)}"
            ) from None
        if any(s < 0 for s in am.strides):
            am = np.ascontiguousarray(am)
    return kpm, am


def _scale(scale: float | None, d: int, op: str) -> float:
    if scale is None:
        return 1.0 / math.sqrt(d) if d > 0 else 1.0
    s = float(scale)
    if not math.isfinite(s):
        raise ValueError(f"{op}: scale must be a finite number; got {scale!r}")
    return s


def _check_qkv(op: str, q: np.ndarray, k: np.ndarray, v: np.ndarray) -> None:
    if q.shape[:2] != k.shape[:2] or k.shape[:3] != v.shape[:3] or q.shape[3] != k.shape[3]:
        raise ShapeError(
            f"{op}: shapes q {q.shape}, k {k.shape}, v {v.shape} do not agree "
            "(expected (B, H, Tq, D), (B, H, Tk, D), (B, H, Tk, Dv))"
        )


class Prepared(NamedTuple):
    """Checked and converted attention arguments: 4-D q, k, v views and the
    kernel's (scale, causal, causal_offset, key_padding_mask, attn_mask).
    ``attention_forward(..., prepared=True)`` returns it so that the backward
    (``attention_backward(prepared=...)``) skips every check and conversion."""

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    args: tuple
    squeeze: bool


def _prepare(
    op: str, q: Any, k: Any, v: Any, causal: bool, key_padding_mask: Any, attn_mask: Any,
    scale: float | None, causal_offset: int,
) -> Prepared:  # fmt: skip
    squeeze = np.ndim(q) == 3
    q, k, v = _as4(q, op, "q"), _as4(k, op, "k"), _as4(v, op, "v")
    _check_qkv(op, q, k, v)
    kpm, am = _masks(op, q, k, key_padding_mask, attn_mask)
    causal_offset = as_int(causal_offset, op, "causal_offset", 0)
    args = (_scale(scale, q.shape[3], op), bool(causal), causal_offset, kpm, am)
    return Prepared(q, k, v, args, squeeze)


def attention_forward(
    q: Any,
    k: Any,
    v: Any,
    *,
    causal: bool = False,
    key_padding_mask: Any = None,
    attn_mask: Any = None,
    scale: float | None = None,
    causal_offset: int = 0,
    out: np.ndarray | None = None,
    prepared: bool = False,
) -> tuple:
    """``(softmax(scale·q kᵀ + masks) v, lse)``.

    ``out`` may be any writable float32 (B, H, Tq, Dv) view (e.g. a (B, Tq, H, Dv)
    array transposed), so heads merge back without a copy. With ``prepared=True``
    a third item, the checked arguments, is returned for ``attention_backward``.

    # Shapes
    - q: (B, H, Tq, D), k: (B, H, Tk, D), v: (B, H, Tk, Dv)
    - returns out (B, H, Tq, Dv) and lse (B, H, Tq)
    """
    op = "attention"
    p = _prepare(op, q, k, v, causal, key_padding_mask, attn_mask, scale, causal_offset)
    q, k, v = p.q, p.k, p.v
    b, h, tq, _ = q.shape
    dv = v.shape[3]
    if out is None:
        out = np.empty((b, h, tq, dv), dtype=np.float32)
    else:
        if p.squeeze and isinstance(out, np.ndarray) and out.ndim == 3:
            out = out[None]
        _check_out(op, "out", out, (b, h, tq, dv), (q, k, v))
    lse = np.empty((b, h, tq), dtype=np.float32)
    _core.attention_forward(q, k, v, out, lse, *p.args)
    res = (out[0], lse[0]) if p.squeeze else (out, lse)
    return (*res, p) if prepared else res


def attention(
    q: Any,
    k: Any,
    v: Any,
    *,
    causal: bool = False,
    key_padding_mask: Any = None,
    attn_mask: Any = None,
    scale: float | None = None,
) -> np.ndarray:
    """``softmax(scale·q kᵀ + masks) v`` (flash-style kernel, no T×T buffer).

    # Shapes
    - q: (B, H, Tq, D), k: (B, H, Tk, D), v: (B, H, Tk, Dv) → (B, H, Tq, Dv)
    """
    return attention_forward(
        q, k, v, causal=causal, key_padding_mask=key_padding_mask, attn_mask=attn_mask, scale=scale
    )[0]


def attention_backward(
    q: Any,
    k: Any,
    v: Any,
    out: Any,
    lse: Any,
    grad_out: Any,
    *,
    causal: bool = False,
    key_padding_mask: Any = None,
    attn_mask: Any = None,
    scale: float | None = None,
    causal_offset: int = 0,
    grads: tuple[np.ndarray, np.ndarray, np.ndarray] | np.ndarray | None = None,
    prepared: Prepared | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dq, dk, dv)`` from the forward's ``out`` and ``lse`` and ``grad_out``.

    ``grads`` optionally gives the outputs: three writable float32 arrays (any
    strides), or one (3, B, H, T, D) float32 view holding all three (self-attention:
    Tq == Tk, D == Dv), e.g. the gradient of a fused (B, T, 3, H, D) projection
    transposed, so no copy joins them. Outputs must not share memory with the inputs.
    ``prepared`` (from ``attention_forward(..., prepared=True)``) stands for q, k, v
    and the masks, already checked: pass ``None`` for those.

    # Shapes
    - as ``attention_forward``; grad_out like out; returns dq, dk, dv like q, k, v
    """
    op = "attention_backward"
    p = prepared
    if p is None:
        p = _prepare(op, q, k, v, causal, key_padding_mask, attn_mask, scale, causal_offset)
    q, k, v, args, squeeze = p
    out, grad_out = _as4(out, op, "out"), _as4(grad_out, op, "grad_out")
    lse = np.ascontiguousarray(as_f32(lse, op, "lse"))
    if lse.ndim == 2:
        lse = lse[None]
    if lse.shape != q.shape[:3]:
        raise ShapeError(f"{op}: lse must have shape (B, H, Tq) = {q.shape[:3]}; got {lse.shape}")
    if isinstance(grads, np.ndarray):
        _check_out(op, "grads", grads, (3, *q.shape), (q, k, v, out, lse, grad_out))
        _core.attention_backward(q, k, v, out, lse, grad_out, grads, None, None, *args)
        dq, dk, dv = grads[0], grads[1], grads[2]
    else:
        if grads is None:
            grads = (
                np.empty(q.shape, dtype=np.float32),
                np.empty(k.shape, dtype=np.float32),
                np.empty(v.shape, dtype=np.float32),
            )
        else:
            for i, (g, ref) in enumerate(zip(grads, (q, k, v))):
                _check_out(op, f"grads[{i}]", g, ref.shape, (q, k, v, out, lse, grad_out, *grads[:i]))
        dq, dk, dv = grads
        _core.attention_backward(q, k, v, out, lse, grad_out, dq, dk, dv, *args)
    if squeeze:
        return dq[0], dk[0], dv[0]
    return dq, dk, dv


_INPUT_NAMES = ("q", "k", "v", "out", "lse", "grad_out", "grads[0]", "grads[1]")


def _check_out(op: str, arg: str, g: Any, shape: tuple[int, ...], inputs: tuple[np.ndarray, ...]) -> None:
    """A caller-given output: a writable float32 ndarray of ``shape`` sharing no memory with ``inputs``."""
    if not isinstance(g, np.ndarray) or g.dtype != np.float32:
        raise DTypeError(f"{op}: {arg} must be a float32 ndarray; got {getattr(g, 'dtype', type(g).__name__)}")
    if g.shape != tuple(shape):
        raise ShapeError(f"{op}: {arg} must have shape {tuple(shape)}; got {g.shape}")
    check_writable(g, op, arg)
    for name, x in zip(_INPUT_NAMES, inputs):
        if np.may_share_memory(g, x):
            hint = (" (for one buffer holding dq, dk and dv, pass a single (3, B, H, T, D) array as grads)"
                    if arg.startswith("grads") else "")  # fmt: skip
            raise ValueError(
                f"{op}: {arg} shares memory with {name}; outputs must be written to separate arrays{hint}"
            )
