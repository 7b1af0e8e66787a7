"""CharRNN: a recurrent character language model (Karpathy's char-rnn).

ids ─ embedding ─ [RNN | LSTM | GRU] × n_layer ─ drop ─ head ─ logits

Trained with truncated BPTT over ``block_size`` windows (the Trainer clips the
gradient norm, which recurrent nets need). ``generate`` feeds one character at
a time and carries the hidden state, so each new character costs one step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..tensor import Tensor
from ._loss import sequence_loss
from ._sampling import sample_next

__all__ = ["CharRNN", "CharRNNConfig"]

_CELLS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


@dataclass
class CharRNNConfig:
    vocab_size: int = 65  # characters
    block_size: int = 64  # BPTT length used in training (generation is unbounded)
    cell: str = "lstm"  # rnn | lstm | gru
    n_layer: int = 1  # stacked recurrent layers
    n_embd: int = 128  # hidden size (and embedding size)
    dropout: float = 0.0  # before the output head

    def __post_init__(self) -> None:
        if self.cell not in _CELLS:
            raise ValueError(f"CharRNNConfig: cell must be one of {sorted(_CELLS)}; got {self.cell!r}")
        for name in ("vocab_size", "block_size", "n_layer", "n_embd"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"CharRNNConfig: {name} must be >= 1; got {getattr(self, name)}")


class CharRNN(nn.Module):
    def __init__(self, config: CharRNNConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.embed = nn.Embedding(c.vocab_size, c.n_embd)
        rnn_cls = getattr(nn, _CELLS[c.cell])
        self.rnn = rnn_cls(c.n_embd, c.n_embd, num_layers=c.n_layer, batch_first=True)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.n_embd, c.vocab_size)

    def forward(
        self, idx: np.ndarray, targets: np.ndarray | None = None, hidden: Any = None
    ) -> tuple[Tensor, Tensor | None]:
        """# Shapes
        - idx: (B, T) ids; targets: (B, T) ids or None
        - returns logits (B, T, V) and the mean cross-entropy (or None)
        """
        logits, _ = self.step(idx, hidden)
        return logits, sequence_loss(logits, targets)

    def step(self, idx: np.ndarray, hidden: Any = None) -> tuple[Tensor, Any]:
        """Runs ``idx`` from ``hidden`` (None = zeros) and returns the logits and
        the final hidden state (``h`` or ``(h, c)`` for LSTM, each (L, B, H))."""
        x = self.embed(np.asarray(idx))  # (B, T, H)
        y, hidden = self.rnn(x, hidden)  # (B, T, H)
        return self.head(self.drop(y)), hidden  # (B, T, V)

    @no_grad()
    def generate(
        self,
        idx: np.ndarray,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Reads the prompt once, then samples one character per step, carrying
        the hidden state.

        # Shapes
        - idx: (B, T0) ids → (B, T0 + max_new_tokens)
        """
        idx = np.asarray(idx, dtype=np.int64)
        if idx.ndim != 2 or idx.shape[1] < 1:
            raise ValueError(f"CharRNN.generate: idx must have shape (B, T) with T >= 1; got {idx.shape}")
        was_training = self.training
        self.eval()
        logits, hidden = self.step(idx)
        out = [idx]
        for _ in range(max_new_tokens):
            nxt = sample_next(logits._array[:, -1, :], temperature, top_k, rng)  # (B, 1)
            out.append(nxt)
            logits, hidden = self.step(nxt, hidden)
        self.train(was_training)
        return np.concatenate(out, axis=1)
