"""Differentiable attention: scaled
dot-product attention on (B, H, T, D) tensors, and a fused self-attention
on a (B, T, 3E) QKV projection whose heads are read as strided views.

Both run the flash-style kernel forward and backward (no T×T buffer).
Attention dropout (``dropout_p > 0``) takes an explicit path: the (Tq, Tk) weights
are formed with autograd ops, dropped out and applied to V, as PyTorch does (it
costs O(T²) memory; ``dropout_p=0`` keeps the flash kernel).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import ops
from .._validate import ShapeError, as_array, as_int
from ..autograd import Function
from ..tensor import Tensor

__all__ = ["attention_weights", "fused_self_attention", "scaled_dot_product_attention"]


class Attention(Function):
    """O = softmax(scale·QKᵀ + masks)·V; backward recomputes tiles from the saved LSE.

    # Shapes
    - q: (B, H, Tq, D), k: (B, H, Tk, D), v: (B, H, Tk, Dv) → (B, H, Tq, Dv)
    """

    @staticmethod
    def forward(ctx, q, k, v, **kw):
        o, lse, prepared = ops.attention_forward(q, k, v, prepared=True, **kw)
        ctx.save(o, lse, prepared)  # q, k, v and the masks, checked and converted once
        return o

    @staticmethod
    def backward(ctx, g):
        o, lse, prepared = ctx.saved
        return ops.attention_backward(None, None, None, o, lse, g, prepared=prepared)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    key_padding_mask: Any = None,
    causal_offset: int = 0,
) -> Tensor:
    """PyTorch's ``F.scaled_dot_product_attention`` on the flash kernel.

    ``attn_mask``: bool (True = take part) or float (added), broadcastable to
    (B, H, Tq, Tk); not differentiated. ``key_padding_mask``: (B, Tk) bool,
    True = ignore. ``is_causal`` is top-left aligned like PyTorch
    (``causal_offset`` shifts it). A query row that sees no key outputs 0.

    # Shapes
    - query: (B, H, Tq, D) or (H, Tq, D); key: (…, Tk, D); value: (…, Tk, Dv) → (…, Tq, Dv)
    """
    if float(dropout_p) != 0.0:
        return _attention_with_dropout(
            query, key, value, attn_mask, float(dropout_p), bool(is_causal), scale, key_padding_mask,
            int(causal_offset),
        )  # fmt: skip
    kw = {
        "causal": bool(is_causal),
        "key_padding_mask": as_array(key_padding_mask),
        "attn_mask": as_array(attn_mask),
        "scale": scale,
        "causal_offset": as_int(causal_offset, "scaled_dot_product_attention", "causal_offset", 0),
    }
    return Attention.apply(query, key, value, **kw)


def _attention_with_dropout(q: Tensor, k: Tensor, v: Tensor, attn_mask: Any, p: float, causal: bool,
                            scale: float | None, key_padding_mask: Any, offset: int) -> Tensor:  # fmt: skip
    """softmax(q·kᵀ·scale + mask) with dropout(p) on the weights, then · v (explicit, differentiable).

    Rows that see no key output 0, like the kernel.
    """
    from .dropout import dropout
    from .softmax import softmax

    if not 0.0 < p < 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1); got {p}")
    tq, tk = q.shape[-2], k.shape[-2]
    s = (1.0 / math.sqrt(q.shape[-1])) if scale is None else float(scale)
    att = (q @ k.transpose(-2, -1)) * s  # (..., Tq, Tk)
    vis = np.ones((tq, tk), bool)
    if causal:
        vis = np.arange(tk)[None, :] <= np.arange(tq)[:, None] + min(offset, tk)  # no int64 wrap
    m = as_array(attn_mask)
    if m is not None:
        m = np.asarray(m)
        if m.dtype == np.bool_:
            vis = vis & m
        else:
            att = att + Tensor(m.astype(np.float32))
    kpm = as_array(key_padding_mask)
    if kpm is not None:
        keep = ~np.asarray(kpm, bool)  # (B, Tk), True = take part
        vis = vis & keep.reshape(keep.shape[:1] + (1,) * (att.ndim - 2) + keep.shape[1:])
    vis = np.broadcast_to(vis, att.shape)
    att = att.masked_fill(~vis, float(np.finfo(np.float32).min))
    w = softmax(att, -1) * Tensor(vis.any(-1, keepdims=True).astype(np.float32))  # empty rows → 0
    return dropout(w, p, True) @ v


class FusedSelfAttention(Function):
    """Self-attention on a fused QKV projection: heads are strided views of
    the (B, T, 3, H, Dh) array, the output is written as (B, T, H, Dh)
    directly, and the backward writes dq, dk, dv into one (B, T, 3, H, Dh)
    gradient; no copies on the way in or out.

    # Shapes
    - qkv: (B, T, 3E) → (B, T, E)
    """

    @staticmethod
    def forward(ctx, qkv, heads, **kw):
        b, t, e3 = qkv.shape
        e = e3 // 3
        dh = e // heads
        x = qkv.reshape(b, t, 3, heads, dh)  # (B, T, 3, H, Dh), a view
        q, k, v = (x[:, :, i].transpose(0, 2, 1, 3) for i in range(3))  # (B, H, T, Dh) views
        out = np.empty((b, t, heads, dh), dtype=np.float32)
        o4, lse, prepared = ops.attention_forward(
            q, k, v, out=out.transpose(0, 2, 1, 3), prepared=True, **kw
        )
        ctx.save(o4, lse, prepared)
        ctx.shape = (b, t, heads, dh)
        return out.reshape(b, t, e)

    @staticmethod
    def backward(ctx, g):
        o4, lse, prepared = ctx.saved
        b, t, heads, dh = ctx.shape
        g4 = np.ascontiguousarray(g).reshape(b, t, heads, dh).transpose(0, 2, 1, 3)
        dqkv = np.empty((b, t, 3, heads, dh), dtype=np.float32)  # laid out like qkv
        # The kernel writes dq, dk, dv straight into it through a (3, B, H, T, Dh) view.
        ops.attention_backward(
            None, None, None, o4, lse, g4, grads=dqkv.transpose(2, 0, 3, 1, 4), prepared=prepared
        )
        return dqkv.reshape(b, t, 3 * heads * dh)  # (B, T, 3E), a view


def fused_self_attention(
    qkv: Tensor,
    num_heads: int,
    *,
    is_causal: bool = False,
    key_padding_mask: Any = None,
    attn_mask: Any = None,
    scale: float | None = None,
) -> Tensor:
    """Multi-head self-attention from one (B, T, 3E) QKV projection (q, k, v
    blocks of E features, each split into ``num_heads`` heads), output (B, T, E).

    # Shapes
    - qkv: (B, T, 3E) → (B, T, E)
    """
    if qkv.ndim != 3 or qkv.shape[2] % (3 * num_heads):
        raise ShapeError(
            f"fused_self_attention: qkv must be (B, T, 3E) with E divisible by num_heads={num_heads}; "
            f"got shape {qkv.shape}"
        )
    kw = {
        "causal": bool(is_causal),
        "key_padding_mask": as_array(key_padding_mask),
        "attn_mask": as_array(attn_mask),
        "scale": scale,
    }
    return FusedSelfAttention.apply(qkv, int(num_heads), **kw)


def attention_weights(
    q: np.ndarray,
    k: np.ndarray,
    *,
    causal: bool = False,
    causal_offset: int = 0,
    key_padding_mask: Any = None,
    attn_mask: Any = None,
    scale: float | None = None,
) -> np.ndarray:
    """The explicit (B, H, Tq, Tk) softmax matrix (T×T memory: for inspection
    and ``need_weights`` only; not differentiated). Rows that see no key are 0.

    # Shapes
    - q: (B, H, Tq, D), k: (B, H, Tk, D) → (B, H, Tq, Tk)
    """
    q, k = np.asarray(as_array(q), np.float32), np.asarray(as_array(k), np.float32)
    d = q.shape[-1]
    s = ops.matmul(q, k, trans_b=True) * np.float32(scale if scale is not None else 1.0 / math.sqrt(max(d, 1)))
    tq, tk = s.shape[-2:]
    if attn_mask is not None:
        m = np.asarray(as_array(attn_mask))
        s = s + (np.where(m, np.float32(0), np.float32(-np.inf)) if m.dtype == np.bool_ else m.astype(np.float32))
    if causal:
        off = min(as_int(causal_offset, "attention_weights", "causal_offset", 0), tk)
        vis = np.arange(tk)[None, :] <= np.arange(tq)[:, None] + off
        s = np.where(vis, s, np.float32(-np.inf))
    if key_padding_mask is not None:
        s = np.where(np.asarray(as_array(key_padding_mask))[:, None, None, :], np.float32(-np.inf), s)
    mx = s.max(axis=-1, keepdims=True)
    mx = np.where(np.isfinite(mx), mx, np.float32(0))
    p = np.exp(s - mx)
    tot = p.sum(axis=-1, keepdims=True)
    return np.divide(p, tot, out=np.zeros_like(p), where=tot > 0).astype(np.float32)
