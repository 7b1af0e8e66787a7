"""TransformerClassifier: seq2label with a non-causal Transformer encoder.

ids ─ embedding + positions ─ [TransformerBlock(non-causal) × n_layer] ─ ln_f ─ pool ─ head ─ class logits

Pooling turns the (B, T, C) encoder output into one vector per sequence:
``mean`` or ``max`` over time, or ``first``: a learned "global" token is
prepended to every sequence and its output, which attends to every position,
is the summary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import nn
from ..nn import functional as F
from ..nn.transformer import apply_blocks
from ..tensor import Tensor
from ._common import check_config, evaluating, transformer_stack

__all__ = ["ClassifierConfig", "TransformerClassifier"]

POOLING = ("mean", "max", "first")


@dataclass
class ClassifierConfig:
    vocab_size: int = 16  # input symbols
    n_classes: int = 4  # labels
    block_size: int = 64  # longest input sequence
    n_layer: int = 2  # encoder blocks
    n_head: int = 4
    n_embd: int = 64  # n_embd % n_head == 0
    dropout: float = 0.0
    pooling: str = "mean"  # mean | max | first (learned global token)

    def __post_init__(self) -> None:
        check_config(self, heads=True, choices={"pooling": POOLING})


class TransformerClassifier(nn.Module):
    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.global_id = c.vocab_size  # id of the learned first token (pooling="first")
        self.embed = nn.Embedding(c.vocab_size + 1, c.n_embd)
        self.pos = nn.PositionalEmbedding(c.block_size + 1, c.n_embd)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = transformer_stack(c, causal=False)
        self.ln_f = nn.LayerNorm(c.n_embd)
        self.head = nn.Linear(c.n_embd, c.n_classes)

    def forward(self, x: np.ndarray, targets: np.ndarray | None = None) -> tuple[Tensor, Tensor | None]:
        """# Shapes
        - x: (B, T) ids, T <= block_size; targets: (B,) class ids or None
        - returns logits (B, n_classes) and the mean cross-entropy (or None)
        """
        x = np.asarray(x)
        B, T = x.shape
        if T > self.config.block_size:
            raise ValueError(
                f"TransformerClassifier.forward: length {T} exceeds block_size {self.config.block_size}"
            )
        if self.config.pooling == "first":
            x = np.concatenate([np.full((B, 1), self.global_id, dtype=x.dtype), x], axis=1)  # (B, T+1)
        h = self.drop(self.pos(self.embed(x)))  # (B, T', C)
        h = apply_blocks(self.blocks, h)  # (B, T', C): every block, as one node where it can
        pooled = F.global_pool(self.ln_f(h), self.config.pooling)  # (B, C)
        logits = self.head(pooled)  # (B, n_classes)
        loss = None if targets is None else F.cross_entropy(logits, np.asarray(targets))
        return logits, loss

    @evaluating
    def predict(self, x: np.ndarray) -> np.ndarray:
        """Most likely class per row, (B,) int64."""
        logits, _ = self(x)
        return logits._array.argmax(axis=-1).astype(np.int64)
