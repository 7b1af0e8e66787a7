"""Seq2SeqTransformer: an encoder–decoder Transformer (label+seq2seq).

src ─ embed + pos ─ [encoder block (non-causal) × n_layer] ─ ln ─ memory
tgt ─ embed + pos ─ [decoder block (causal self-attn + cross-attn to memory) × n_layer] ─ ln ─ head

Training uses teacher forcing: the decoder reads ``BOS y_1 … y_{n-1}`` and
predicts ``y_1 … y_n EOS`` in one pass. Decoding is greedy or beam search,
one token at a time. PAD (id 0) positions of the source are masked out of
every attention over the memory; PAD targets are ignored by the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..data import BOS, EOS, PAD
from ..tensor import Tensor
from ._loss import sequence_loss

__all__ = ["Seq2SeqConfig", "Seq2SeqTransformer"]


@dataclass
class Seq2SeqConfig:
    vocab_size: int = 14  # shared by source and target (data.N_SPECIAL + 11 for digit tasks)
    block_size: int = 64  # longest source and target
    n_layer: int = 2  # encoder blocks, and as many decoder blocks
    n_head: int = 4
    n_embd: int = 64  # n_embd % n_head == 0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(
                f"Seq2SeqConfig: n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})"
            )


class Seq2SeqTransformer(nn.Module):
    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.src_embed = nn.Embedding(c.vocab_size, c.n_embd)
        self.tgt_embed = nn.Embedding(c.vocab_size, c.n_embd)
        self.pos = nn.PositionalEmbedding(c.block_size, c.n_embd)  # shared by both sides
        self.drop = nn.Dropout(c.dropout)
        self.encoder = nn.ModuleList(
            [nn.TransformerBlock(c.n_embd, c.n_head, 4 * c.n_embd, causal=False, dropout=c.dropout)
             for _ in range(c.n_layer)]
        )  # fmt: skip
        self.decoder = nn.ModuleList(
            [nn.TransformerBlock(c.n_embd, c.n_head, 4 * c.n_embd, causal=True,
                                 cross_attention=True, dropout=c.dropout)
             for _ in range(c.n_layer)]
        )  # fmt: skip
        self.ln_enc = nn.LayerNorm(c.n_embd)
        self.ln_dec = nn.LayerNorm(c.n_embd)
        self.head = nn.Linear(c.n_embd, c.vocab_size)

    def encode(self, src: np.ndarray) -> tuple[Tensor, np.ndarray]:
        """# Shapes
        - src: (B, S) ids → memory (B, S, C) and its padding mask (B, S), True = PAD
        """
        src = np.asarray(src)
        pad = src == PAD  # (B, S)
        x = self.drop(self.pos(self.src_embed(src)))  # (B, S, C)
        for block in self.encoder:
            x = block(x, key_padding_mask=pad)  # (B, S, C)
        return self.ln_enc(x), pad

    def decode(self, tgt_in: np.ndarray, memory: Tensor, memory_pad: np.ndarray) -> Tensor:
        """# Shapes
        - tgt_in: (B, T) ids, memory: (B, S, C), memory_pad: (B, S) → logits (B, T, V)
        """
        y = self.drop(self.pos(self.tgt_embed(np.asarray(tgt_in))))  # (B, T, C)
        for block in self.decoder:
            y = block(y, memory=memory, memory_key_padding_mask=memory_pad)  # (B, T, C)
        return self.head(self.ln_dec(y))  # (B, T, V)

    def forward(
        self, src: np.ndarray, tgt_in: np.ndarray, targets: np.ndarray | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Teacher-forced pass.

        # Shapes
        - src: (B, S), tgt_in: (B, T), targets: (B, T) ids (PAD ignored) or None
        - returns logits (B, T, V) and the mean cross-entropy over non-PAD targets
        """
        memory, pad = self.encode(src)
        logits = self.decode(tgt_in, memory, pad)
        return logits, sequence_loss(logits, targets, ignore_index=PAD)

    # --- decoding ------------------------------------------------------------------------
    @no_grad()
    def greedy_decode(self, src: np.ndarray, max_len: int | None = None) -> np.ndarray:
        """Most likely token at each step until every row has emitted EOS.

        # Shapes
        - src: (B, S) → (B, L) ids starting with BOS; after EOS rows hold PAD
        """
        return self.beam_decode(src, beam_size=1, max_len=max_len)

    @no_grad()
    def beam_decode(
        self, src: np.ndarray, beam_size: int = 4, max_len: int | None = None, length_penalty: float = 0.0
    ) -> np.ndarray:
        """Beam search: keeps the ``beam_size`` best partial outputs per row by
        summed log-probability (divided by ``length ** length_penalty`` for the
        final choice); ``beam_size=1`` is greedy decoding.

        # Shapes
        - src: (B, S) → (B, L) ids starting with BOS; after EOS rows hold PAD
        """
        src = np.asarray(src)
        if beam_size < 1:
            raise ValueError(f"beam_decode: beam_size must be >= 1; got {beam_size}")
        B, K = src.shape[0], beam_size
        max_len = min(max_len or self.config.block_size - 1, self.config.block_size - 1)
        was_training = self.training
        self.eval()
        memory, pad = self.encode(src)
        memory = Tensor(np.repeat(memory._array, K, axis=0))  # (B*K, S, C)
        pad = np.repeat(pad, K, axis=0)  # (B*K, S)
        seqs = np.full((B * K, 1), BOS, dtype=np.int64)
        scores = np.zeros((B, K))
        scores[:, 1:] = -np.inf  # at first only one live hypothesis per row
        done = np.zeros((B, K), dtype=bool)
        rows = np.arange(B)[:, None]
        for _ in range(max_len):
            logits = self.decode(seqs, memory, pad)._array[:, -1, :]  # (B*K, V)
            V = logits.shape[-1]
            logp = _log_softmax(logits).reshape(B, K, V)
            logp[done] = -np.inf
            logp[done, PAD] = 0.0  # a finished hypothesis only extends with PAD, at no cost
            flat = (scores[:, :, None] + logp).reshape(B, K * V)
            top = np.argsort(-flat, axis=1, kind="stable")[:, :K]  # (B, K)
            beam, tok = top // V, top % V
            scores = np.take_along_axis(flat, top, axis=1)
            seqs = seqs.reshape(B, K, -1)[rows, beam].reshape(B * K, -1)
            seqs = np.concatenate([seqs, tok.reshape(B * K, 1)], axis=1)
            done = done[rows, beam] | (tok == EOS) | (tok == PAD)
            if done.all():
                break
        self.train(was_training)
        lengths = (seqs.reshape(B, K, -1) != PAD).sum(-1)  # (B, K)
        final = scores / np.maximum(lengths, 1) ** length_penalty
        best = final.argmax(axis=1)
        return seqs.reshape(B, K, -1)[np.arange(B), best]


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))
