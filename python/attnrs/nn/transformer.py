"""The pre-norm Transformer block: self-attention (causal or not), optional
cross-attention over an encoder's memory, and a GELU MLP, each a residual
branch ``x + dropout(f(norm(x)))``."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..tensor import Tensor
from .attention import KVCache, MultiheadAttention
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .norm import LayerNorm

__all__ = ["TransformerBlock"]


class TransformerBlock(Module):
    """Pre-norm block (GPT-2 / nanoGPT style).

    ``dropout`` applies to the output of each residual branch (attention
    weights themselves are not dropped: the flash kernel never forms them).
    ``cache`` (a ``KVCache``) makes the self-attention incremental: pass only
    the new steps, with ``causal=True`` they attend to every cached step
    (cross-attention keys/values are recomputed from ``memory`` each call).

    # Shapes
    - x: (B, T, d_model); memory: (B, S, d_model) (cross_attention only) → (B, T, d_model)
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, causal: bool = False,
                 cross_attention: bool = False, dropout: float = 0.0) -> None:  # fmt: skip
        super().__init__()
        self.causal, self.cross_attention = bool(causal), bool(cross_attention)
        self.norm1 = LayerNorm(d_model)
        self.self_attn = MultiheadAttention(d_model, n_heads)
        if self.cross_attention:
            self.norm_cross = LayerNorm(d_model)
            self.cross_attn = MultiheadAttention(d_model, n_heads)
        self.norm2 = LayerNorm(d_model)
        self.linear1 = Linear(d_model, d_ff)
        self.linear2 = Linear(d_ff, d_model)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor, memory: Tensor | None = None, *, key_padding_mask: Any = None,
                memory_key_padding_mask: Any = None, attn_mask: Any = None,
                cache: KVCache | None = None) -> Tensor:  # fmt: skip
        if not self.cross_attention and (memory is not None or memory_key_padding_mask is not None):
            raise ValueError(
                "TransformerBlock: memory / memory_key_padding_mask given, but this block has no "
                "cross-attention; build it with cross_attention=True to attend to memory"
            )
        h = self.norm1(x)
        a, _ = self.self_attn(h, h, h, key_padding_mask=key_padding_mask, attn_mask=attn_mask,
                              is_causal=self.causal, cache=cache)  # fmt: skip
        x = x + self.dropout(a)
        if self.cross_attention:
            if memory is None:
                raise ValueError("TransformerBlock: cross_attention=True needs memory (B, S, d_model)")
            h = self.norm_cross(x)
            a, _ = self.cross_attn(h, memory, memory, key_padding_mask=memory_key_padding_mask)
            x = x + self.dropout(a)
        h = self.norm2(x)
        return x + self.dropout(self.linear2(F.gelu(self.linear1(h))))

    def extra_repr(self) -> str:
        return f"causal={self.causal}, cross_attention={self.cross_attention}"
