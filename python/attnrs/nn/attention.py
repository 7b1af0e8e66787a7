"""Attention layers: parameter-free self-attention, multi-head attention with
PyTorch's parameter names, and the key/value cache for incremental decoding.

All of them run the flash-style Rust kernel (no T×T buffer) forward and
backward; only ``need_weights=True`` builds the explicit weight matrix.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validate import ShapeError
from ..tensor import Tensor, default_rng
from . import functional as F
from .functional import attention_weights, fused_self_attention, scaled_dot_product_attention
from .linear import Linear
from .module import Module, Parameter

__all__ = ["KVCache", "MultiheadAttention", "SelfAttention"]


class SelfAttention(Module):
    """Basic parameter-free self-attention: ``Y = softmax(X Xᵀ [/√d]) X``.

    Every position attends to every position (or to earlier ones with
    ``causal=True``) using the inputs themselves as queries, keys and values.

    # Shapes
    - x: (B, T, D) or (T, D) → same shape
    """

    def __init__(self, scale: bool = False, causal: bool = False) -> None:
        super().__init__()
        self.scale, self.causal = bool(scale), bool(causal)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in (2, 3):
            raise ShapeError(f"SelfAttention: x must be (B, T, D) or (T, D); got shape {x.shape}")
        x4 = x.unsqueeze(-3)  # (B, 1, T, D): one head
        s = None if self.scale else 1.0
        y = scaled_dot_product_attention(x4, x4, x4, is_causal=self.causal, scale=s)
        return y.squeeze(-3)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, causal={self.causal}"


class KVCache:
    """Keys and values of the steps seen so far, for one attention layer.

    ``update(k, v)`` appends the new steps (B, H, t, Dh) and returns views of
    everything cached (B, H, T, Dh); storage grows by doubling, so appending
    one step is amortised O(B·H·Dh). Cached values carry no gradient: use it
    for inference (generation), not training.
    """

    def __init__(self) -> None:
        self._k: np.ndarray | None = None
        self._v: np.ndarray | None = None
        self.length = 0

    def __len__(self) -> int:
        return self.length

    def reset(self) -> None:
        self._k = self._v = None
        self.length = 0

    def update(self, k: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k, v = np.asarray(k, np.float32), np.asarray(v, np.float32)
        if k.ndim != 4 or v.ndim != 4 or k.shape[:3] != v.shape[:3]:
            raise ShapeError(f"KVCache.update: k, v must be (B, H, t, Dh); got {k.shape} and {v.shape}")
        t = k.shape[2]
        if self._k is not None and (self._k.shape[:2] != k.shape[:2] or self._k.shape[3] != k.shape[3]
                                    or self._v.shape[3] != v.shape[3]):
            raise ShapeError(
                f"KVCache.update: new keys {k.shape} do not match the cache (B, H, ·, Dh) = "
                f"{self._k.shape[:2] + (self._k.shape[3],)}; call reset() for a new sequence"
            )
        need = self.length + t
        if self._k is None or need > self._k.shape[2]:
            cap = max(need, 2 * (self._k.shape[2] if self._k is not None else 0), 16)
            nk = np.empty(k.shape[:2] + (cap, k.shape[3]), np.float32)
            nv = np.empty(v.shape[:2] + (cap, v.shape[3]), np.float32)
            if self._k is not None:
                nk[:, :, : self.length] = self._k[:, :, : self.length]
                nv[:, :, : self.length] = self._v[:, :, : self.length]
            self._k, self._v = nk, nv
        self._k[:, :, self.length : need] = k
        self._v[:, :, self.length : need] = v
        self.length = need
        return self._k[:, :, :need], self._v[:, :, :need]


class MultiheadAttention(Module):
    """Multi-head attention with PyTorch's parameters: ``in_proj_weight`` (3E, E),
    ``in_proj_bias`` (3E,), ``out_proj.weight`` (E, E), ``out_proj.bias`` (E,),
    so state dicts move between the two.

    ``forward`` returns ``(out, weights)``; ``weights`` is None unless
    ``need_weights`` (then the (B, Tq, Tk) head-averaged or (B, H, Tq, Tk)
    matrix, built explicitly and not differentiated). Self-attention
    (``query is key is value``) projects Q, K, V with one GEMM and feeds the
    heads to the kernel as strided views. ``key_padding_mask`` (B, Tk) bool:
    True = ignore; ``attn_mask`` bool (True = *masked*, PyTorch MHA) or float
    (added), (Tq, Tk) or (B·H, Tq, Tk). ``is_causal`` masks future keys.
    With ``cache=KVCache()`` the new keys/values are appended and the queries
    attend to every cached step (causality aligned to the end), for
    incremental decoding. ``dropout`` acts on the attention weights in training mode
    (an explicit O(T²) path; eval mode and ``dropout=0`` keep the flash kernel).

    # Shapes
    - query: (Tq, B, E), key/value: (Tk, B, E) (PyTorch's default ``batch_first=False``);
      (B, T, E) with ``batch_first=True`` → out like query; weights (B, Tq, Tk) when
      ``need_weights`` (the default, as in PyTorch; pass False for the fused fast path)
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0) -> None:  # fmt: skip
        super().__init__()
        e, h = int(embed_dim), int(num_heads)
        if e <= 0 or h <= 0 or e % h:
            raise ValueError(f"MultiheadAttention: embed_dim ({e}) must be a positive multiple of num_heads ({h})")
        self.embed_dim, self.num_heads, self.head_dim = e, h, e // h
        self.batch_first, self.dropout = bool(batch_first), float(dropout)
        bound = math.sqrt(6.0 / (e + 3 * e))  # xavier_uniform_ on (3E, E), as PyTorch
        self.in_proj_weight = Parameter(default_rng().uniform(-bound, bound, (3 * e, e)))
        self.in_proj_bias = Parameter(np.zeros(3 * e, np.float32)) if bias else None
        self.out_proj = Linear(e, e, bias=bias)
        if bias:
            self.out_proj.bias._array[...] = 0.0

    def _proj(self, x: Tensor, i: int) -> Tensor:
        e = self.embed_dim
        w = self.in_proj_weight[i * e : (i + 1) * e]
        b = self.in_proj_bias[i * e : (i + 1) * e] if self.in_proj_bias is not None else None
        y = F.linear(x, w, b)  # (B, T, E)
        return y.reshape(y.shape[0], y.shape[1], self.num_heads, self.head_dim).permute(0, 2, 1, 3)

    def _mask(self, attn_mask: Any, b: int, tq: int, tk: int) -> Any:
        """PyTorch MHA mask (bool True = masked) → SDPA mask (bool True = take part), (B, H, Tq, Tk)-broadcastable."""
        if attn_mask is None:
            return None
        m = np.asarray(attn_mask._array if isinstance(attn_mask, Tensor) else attn_mask)
        if m.dtype == np.bool_:
            m = ~m
        if m.ndim == 3:
            if m.shape != (b * self.num_heads, tq, tk):
                raise ShapeError(
                    f"MultiheadAttention: a 3-D attn_mask must be (B·H, Tq, Tk) = "
                    f"{(b * self.num_heads, tq, tk)}; got {m.shape}"
                )
            m = m.reshape(b, self.num_heads, tq, tk)
        return m

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Any = None,
                attn_mask: Any = None, is_causal: bool = False, need_weights: bool = True,
                average_attn_weights: bool = True, cache: KVCache | None = None,
                ) -> tuple[Tensor, Tensor | None]:  # fmt: skip
        drop = self.dropout if self.training else 0.0  # on the attention weights, as PyTorch
        for name, t in (("query", query), ("key", key), ("value", value)):
            if t.ndim != 3 or t.shape[-1] != self.embed_dim:
                raise ShapeError(
                    f"MultiheadAttention: {name} must be 3-D with last dim {self.embed_dim} "
                    f"({'(B, T, E)' if self.batch_first else '(T, B, E)'}, batch_first={self.batch_first}); "
                    f"got {t.shape}"
                )
        if query.shape[1 - self.batch_first] != key.shape[1 - self.batch_first]:
            raise ShapeError(
                f"MultiheadAttention: query {query.shape} and key {key.shape} have different batch sizes "
                f"in dim {1 - self.batch_first} (batch_first={self.batch_first})"
            )
        self_attn = query is key and key is value
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        b, tq, e = query.shape
        mask = self._mask(attn_mask, b, tq, key.shape[1] + (len(cache) if cache is not None else 0))
        if self_attn and not need_weights and cache is None and not drop:
            qkv = F.linear(query, self.in_proj_weight, self.in_proj_bias)  # (B, T, 3E): one GEMM
            o = fused_self_attention(
                qkv, self.num_heads, is_causal=is_causal, key_padding_mask=key_padding_mask, attn_mask=mask
            )  # (B, T, E)
            weights = None
        else:
            q, k, v = self._proj(query, 0), self._proj(key, 1), self._proj(value, 2)  # (B, H, T, Dh)
            offset = 0
            if cache is not None:
                k_all, v_all = cache.update(k._array, v._array)
                k, v = Tensor(k_all), Tensor(v_all)
                offset = k_all.shape[2] - tq
            o4 = scaled_dot_product_attention(
                q, k, v, attn_mask=mask, is_causal=is_causal, key_padding_mask=key_padding_mask,
                causal_offset=offset, dropout_p=drop,
            )  # (B, H, Tq, Dh)
            o = o4.permute(0, 2, 1, 3).reshape(b, tq, e)
            weights = None
            if need_weights:
                w = attention_weights(q._array, k._array, causal=is_causal, causal_offset=offset,
                                      key_padding_mask=key_padding_mask, attn_mask=mask)  # fmt: skip
                weights = Tensor(w.mean(axis=1) if average_attn_weights else w)
        out = self.out_proj(o)
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"
