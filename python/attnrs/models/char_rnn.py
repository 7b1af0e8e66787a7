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
from ..tensor import Tensor
from ._common import check_config
from ._loss import sequence_loss
from ._sampling import LanguageModel

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
        check_config(self, ("vocab_size", "block_size", "n_layer", "n_embd"), choices={"cell": sorted(_CELLS)})


class CharRNN(LanguageModel):
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

    def _prefill(self, idx: np.ndarray) -> tuple[np.ndarray, Any]:
        """Reads the prompt once; the state is the hidden state."""
        logits, hidden = self.step(idx)  # (B, T0, V)
        return logits._array[:, -1, :], hidden

    def _extend(self, tok: np.ndarray, hidden: Any) -> tuple[np.ndarray, Any]:
        logits, hidden = self.step(tok, hidden)  # (B, 1, V)
        return logits._array[:, -1, :], hidden
