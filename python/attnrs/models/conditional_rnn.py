"""ConditionalRNN: label2seq — a label embedding becomes the initial hidden state.

label ─ embedding ─ tanh(Linear) ─ h0 (and c0 for LSTM) ─┐
seq   ─ embedding ─ RNN/LSTM/GRU (from h0) ────────────────┴─ head ─ next-token logits

Trained with teacher forcing on ``BOS s_1 … s_n``; ``generate`` starts from
BOS and the label's state and feeds back its own tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..data import BOS
from ..nn import functional as F
from ..tensor import Tensor
from ._loss import sequence_loss
from ._sampling import sample_next

__all__ = ["ConditionalRNN", "ConditionalRNNConfig"]

_CELLS = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


@dataclass
class ConditionalRNNConfig:
    n_classes: int = 10  # labels
    vocab_size: int = 14  # output tokens (data.N_SPECIAL + 11 for digit sequences)
    cell: str = "gru"  # rnn | lstm | gru
    n_layer: int = 1
    n_embd: int = 64  # token embedding size
    hidden: int = 128  # recurrent hidden size

    def __post_init__(self) -> None:
        if self.cell not in _CELLS:
            raise ValueError(f"ConditionalRNNConfig: cell must be one of {sorted(_CELLS)}; got {self.cell!r}")


class ConditionalRNN(nn.Module):
    def __init__(self, config: ConditionalRNNConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        n_states = 2 if c.cell == "lstm" else 1
        self.label_embed = nn.Embedding(c.n_classes, c.hidden)
        self.to_state = nn.Linear(c.hidden, n_states * c.n_layer * c.hidden)
        self.embed = nn.Embedding(c.vocab_size, c.n_embd)
        self.rnn = getattr(nn, _CELLS[c.cell])(c.n_embd, c.hidden, num_layers=c.n_layer, batch_first=True)
        self.head = nn.Linear(c.hidden, c.vocab_size)

    def initial_state(self, labels: np.ndarray) -> Any:
        """# Shapes
        - labels: (B,) → h0 (L, B, H), or (h0, c0) for LSTM
        """
        c = self.config
        labels = np.asarray(labels)
        B = labels.shape[0]
        s = F.tanh(self.to_state(self.label_embed(labels)))  # (B, n_states·L·H)
        s = s.reshape(B, -1, c.n_layer, c.hidden).permute(1, 2, 0, 3)  # (n_states, L, B, H)
        if c.cell == "lstm":
            return s[0], s[1]
        return s[0]

    def forward(
        self, labels: np.ndarray, seq_in: np.ndarray, targets: np.ndarray | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """# Shapes
        - labels: (B,), seq_in: (B, T) ids, targets: (B, T) ids or None
        - returns logits (B, T, V) and the mean cross-entropy (or None)
        """
        y, _ = self.rnn(self.embed(np.asarray(seq_in)), self.initial_state(labels))  # (B, T, H)
        logits = self.head(y)  # (B, T, V)
        return logits, sequence_loss(logits, targets)

    @no_grad()
    def generate(
        self,
        labels: np.ndarray,
        length: int,
        temperature: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """``length`` tokens per label (greedy when ``temperature == 0``).

        # Shapes
        - labels: (B,) → (B, length) ids (without the leading BOS)
        """
        was_training = self.training
        self.eval()
        labels = np.asarray(labels)
        hidden = self.initial_state(labels)
        tok = np.full((labels.shape[0], 1), BOS, dtype=np.int64)
        out = []
        for _ in range(length):
            y, hidden = self.rnn(self.embed(tok), hidden)  # (B, 1, H)
            tok = sample_next(self.head(y)._array[:, -1, :], temperature, None, rng)
            out.append(tok)
        self.train(was_training)
        return np.concatenate(out, axis=1)
