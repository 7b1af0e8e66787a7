"""RNNSeq2Seq: an encoder–decoder GRU with attention over the encoder states
(Luong et al. 2015, "global attention", dot score).

src ─ embed ─ GRU encoder ─ states E (B, S, H), final h ─┐
tgt ─ embed ─ GRU decoder (h0 = encoder's final h) ─ D (B, T, H)
    scores = D Eᵀ (PAD columns masked) ─ softmax ─ context = weights · E
    out = tanh(W_c context + W_h D) ─ head ─ logits

The decoder GRU runs over the whole teacher-forced target in one call; at
decode time it steps one token at a time, carrying its hidden state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..data import BOS, EOS, PAD
from ..nn import functional as F
from ..tensor import Tensor
from ._loss import sequence_loss

__all__ = ["RNNSeq2Seq", "RNNSeq2SeqConfig"]


@dataclass
class RNNSeq2SeqConfig:
    vocab_size: int = 14  # shared by source and target
    n_embd: int = 64  # embedding size
    hidden: int = 128  # GRU hidden size (encoder and decoder)
    n_layer: int = 1  # GRU layers on each side
    max_len: int = 64  # longest output of greedy decoding


class RNNSeq2Seq(nn.Module):
    def __init__(self, config: RNNSeq2SeqConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.src_embed = nn.Embedding(c.vocab_size, c.n_embd)
        self.tgt_embed = nn.Embedding(c.vocab_size, c.n_embd)
        self.encoder = nn.GRU(c.n_embd, c.hidden, num_layers=c.n_layer, batch_first=True)
        self.decoder = nn.GRU(c.n_embd, c.hidden, num_layers=c.n_layer, batch_first=True)
        self.w_context = nn.Linear(c.hidden, c.hidden, bias=False)
        self.w_hidden = nn.Linear(c.hidden, c.hidden)
        self.head = nn.Linear(c.hidden, c.vocab_size)

    def encode(self, src: np.ndarray) -> tuple[Tensor, Tensor, np.ndarray]:
        """# Shapes
        - src: (B, S) ids, right-padded → states (B, S, H), final h (L, B, H), pad mask (B, S)
        """
        src = np.asarray(src)
        pad = src == PAD
        lengths = np.maximum((~pad).sum(axis=1), 1)
        states, h = self.encoder(self.src_embed(src), lengths=lengths)  # (B, S, H), (L, B, H)
        return states, h, pad

    def attend(self, dec: Tensor, states: Tensor, pad: np.ndarray) -> tuple[Tensor, Tensor]:
        """# Shapes
        - dec: (B, T, H), states: (B, S, H), pad: (B, S) → logits (B, T, V), weights (B, T, S)
        """
        scores = dec @ states.transpose(1, 2)  # (B, T, S)
        scores = scores.masked_fill(pad[:, None, :], -1e9)
        weights = F.softmax(scores, dim=-1)  # (B, T, S)
        context = weights @ states  # (B, T, H)
        out = F.tanh(self.w_context(context) + self.w_hidden(dec))  # (B, T, H)
        return self.head(out), weights

    def forward(
        self, src: np.ndarray, tgt_in: np.ndarray, targets: np.ndarray | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Teacher-forced pass.

        # Shapes
        - src: (B, S), tgt_in: (B, T), targets: (B, T) (PAD ignored) or None
        - returns logits (B, T, V) and the mean cross-entropy over non-PAD targets
        """
        states, h, pad = self.encode(src)
        dec, _ = self.decoder(self.tgt_embed(np.asarray(tgt_in)), h)  # (B, T, H)
        logits, _ = self.attend(dec, states, pad)
        return logits, sequence_loss(logits, targets, ignore_index=PAD)

    @no_grad()
    def attention_weights(self, src: np.ndarray, tgt_in: np.ndarray) -> np.ndarray:
        """Teacher-forced attention of every target step over the source.

        # Shapes
        - src: (B, S), tgt_in: (B, T) → (B, T, S), rows sum to 1 over non-PAD sources
        """
        states, h, pad = self.encode(src)
        dec, _ = self.decoder(self.tgt_embed(np.asarray(tgt_in)), h)
        return self.attend(dec, states, pad)[1]._array

    @no_grad()
    def greedy_decode(self, src: np.ndarray, max_len: int | None = None) -> np.ndarray:
        """# Shapes
        - src: (B, S) → (B, L) ids starting with BOS; after EOS rows hold PAD
        """
        was_training = self.training
        self.eval()
        states, h, pad = self.encode(src)
        B = states.shape[0]
        tok = np.full((B, 1), BOS, dtype=np.int64)
        out, done = [tok], np.zeros(B, dtype=bool)
        for _ in range(max_len or self.config.max_len):
            dec, h = self.decoder(self.tgt_embed(tok), h)  # (B, 1, H)
            logits, _ = self.attend(dec, states, pad)
            tok = logits._array[:, -1, :].argmax(axis=-1)[:, None].astype(np.int64)
            tok[done] = PAD
            out.append(tok)
            done |= tok[:, 0] == EOS
            if done.all():
                break
        self.train(was_training)
        return np.concatenate(out, axis=1)
