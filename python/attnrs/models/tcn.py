"""TCN: a language model of stacked causal dilated convolutions (WaveNet-style).

ids ─ embedding ─ (B, C, T) ─ [TemporalBlock(dilation 2^i) × n_layer] ─ Σ skips ─ relu ─ head ─ logits

Each TemporalBlock is a causal dilated convolution with a gated unit
``tanh(filter) ⊙ sigmoid(gate)``, a residual and a skip output; with kernel
size K and dilations 1, 2, 4, … the receptive field is
``1 + (K-1)·(2^n_layer - 1)`` tokens. Generation streams: every convolution
keeps a ring buffer of its past inputs and computes one new column per token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..nn import functional as F
from ..tensor import Tensor
from ._loss import sequence_loss
from ._sampling import sample_next

__all__ = ["TCN", "TCNConfig"]


@dataclass
class TCNConfig:
    vocab_size: int = 65  # characters
    block_size: int = 64  # training window
    n_layer: int = 6  # TemporalBlocks, dilation 2**i in block i
    n_embd: int = 64  # channels
    kernel_size: int = 2  # taps per convolution
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_embd", "kernel_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TCNConfig: {name} must be >= 1; got {getattr(self, name)}")

    @property
    def receptive_field(self) -> int:
        return 1 + (self.kernel_size - 1) * (2**self.n_layer - 1)


class TCN(nn.Module):
    def __init__(self, config: TCNConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.embed = nn.Embedding(c.vocab_size, c.n_embd)
        self.stack = nn.TCNStack(c.n_embd, num_layers=c.n_layer, kernel_size=c.kernel_size)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.n_embd, c.vocab_size)

    def forward(self, idx: np.ndarray, targets: np.ndarray | None = None) -> tuple[Tensor, Tensor | None]:
        """# Shapes
        - idx: (B, T) ids; targets: (B, T) ids or None
        - returns logits (B, T, V) and the mean cross-entropy (or None)
        """
        x = self.embed(np.asarray(idx)).transpose(1, 2)  # (B, C, T)
        _, skip = self.stack(x)  # (B, C, T): the sum of every block's skip output
        logits = self.head(self.drop(F.relu(skip).transpose(1, 2)))  # (B, T, V)
        return logits, sequence_loss(logits, targets)

    @no_grad()
    def generate(
        self,
        idx: np.ndarray,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Streams the prompt through per-block ring buffers, then samples one
        token per step (one column of each convolution per token).

        # Shapes
        - idx: (B, T0) ids → (B, T0 + max_new_tokens)
        """
        idx = np.asarray(idx, dtype=np.int64)
        if idx.ndim != 2 or idx.shape[1] < 1:
            raise ValueError(f"TCN.generate: idx must have shape (B, T) with T >= 1; got {idx.shape}")
        was_training = self.training
        self.eval()
        state = nn.StreamingState()
        out = [idx]
        logits = None
        for t in range(idx.shape[1]):
            logits = self._step(idx[:, t], state)
        for _ in range(max_new_tokens):
            nxt = sample_next(logits, temperature, top_k, rng)  # (B, 1)
            out.append(nxt)
            logits = self._step(nxt[:, 0], state)
        self.train(was_training)
        return np.concatenate(out, axis=1)

    def _step(self, tok: np.ndarray, state: Any) -> np.ndarray:
        """One token per row through every convolution's streaming step → logits (B, V)."""
        x = self.embed(tok)  # (B, C)
        _, skip = self.stack.stream_step(x, state)  # (B, C)
        return self.head(F.relu(skip))._array  # (B, V)
