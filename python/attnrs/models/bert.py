"""BERT: a non-causal Transformer encoder pretrained as a masked language model.

token ids ─ wte ─┐
positions ─ wpe ─┼─ + ─ drop ─ [TransformerBlock(non-causal) × n_layer] ─ ln_f ─┬─ mlm_head ─ logits
segments ─ wse ──┘   (optional)                                                └─ encode(): vectors

Every position sees every other one (no causal mask), so the model cannot be
trained to predict the next token; instead ~15 % of the input tokens are
hidden (``attnrs.data.bert_mask``: 80 % become ``[MASK]``, 10 % a random
token, 10 % stay) and the model predicts the originals. The loss counts only
those positions: every other target is ``ignore_index``.

The MLM head is BERT's: dense → GELU → LayerNorm, then a projection onto the
token embedding matrix (tied weights) plus a per-token bias.

``encode`` gives per-token vectors and a pooled vector per sequence for
downstream seq2label use; ``classifier_from_bert`` starts a
``TransformerClassifier`` from a pretrained encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import nn
from ..nn import functional as F
from ..tensor import Tensor, default_rng
from .classifier import ClassifierConfig, TransformerClassifier

__all__ = ["BERT", "BERTConfig", "classifier_from_bert"]

IGNORE_INDEX = -100  # targets of the positions that were not masked


@dataclass
class BERTConfig:
    vocab_size: int = 72  # including the special tokens ([PAD] [MASK] [CLS] [SEP])
    block_size: int = 128  # longest input (learned positions)
    n_layer: int = 4  # encoder blocks
    n_head: int = 4  # attention heads per block
    n_embd: int = 128  # model width; n_embd % n_head == 0
    dropout: float = 0.0  # after embeddings and each residual branch
    n_segments: int = 0  # segment (sentence A/B) embeddings; 0 = none
    ignore_index: int = IGNORE_INDEX  # target value of positions the loss skips

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"BERTConfig: {name} must be >= 1; got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"BERTConfig: n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"BERTConfig: dropout must be in [0, 1); got {self.dropout}")
        if self.n_segments < 0:
            raise ValueError(f"BERTConfig: n_segments must be >= 0; got {self.n_segments}")


class BERT(nn.Module):
    def __init__(self, config: BERTConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = nn.Embedding(c.block_size, c.n_embd)
        if c.n_segments:
            self.wse = nn.Embedding(c.n_segments, c.n_embd)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            [nn.TransformerBlock(c.n_embd, c.n_head, 4 * c.n_embd, causal=False, dropout=c.dropout)
             for _ in range(c.n_layer)]
        )  # fmt: skip
        self.ln_f = nn.LayerNorm(c.n_embd)
        # MLM head: transform, then the tied output projection (wte.weight) + bias.
        self.mlm_dense = nn.Linear(c.n_embd, c.n_embd)
        self.mlm_norm = nn.LayerNorm(c.n_embd)
        self.mlm_bias = nn.Parameter(np.zeros(c.vocab_size, dtype=np.float32))
        self._init_weights()

    def _init_weights(self) -> None:
        """BERT's init: N(0, 0.02) weights, zero biases, LayerNorms at (1, 0)."""
        rng = default_rng()
        for name, p in self.named_parameters():
            if name.startswith(("ln_", "mlm_norm")) or ".norm" in name:
                continue
            if name.endswith("bias"):
                p._array = np.zeros_like(p._array)
                continue
            p._array = rng.normal(0.0, 0.02, size=p._array.shape).astype(np.float32)

    def hidden_states(
        self, ids: Any, segments: Any = None, key_padding_mask: Any = None, position_ids: Any = None
    ) -> Tensor:
        """The encoder's output after ``ln_f``.

        # Shapes
        - ids: (B, T) int ids, T <= block_size; segments: (B, T) ids < n_segments or None;
          key_padding_mask: (B, T) bool, True = padding (ignored as a key);
          position_ids: (T,) or (B, T) ids < block_size, default 0..T-1
        - returns (B, T, n_embd)
        """
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"BERT: ids must have shape (B, T); got {ids.shape}")
        T = ids.shape[1]
        if T > self.config.block_size:
            raise ValueError(f"BERT: sequence length {T} exceeds block_size {self.config.block_size}")
        pos = np.arange(T) if position_ids is None else np.asarray(position_ids)
        if pos.shape[-1] != T or (pos.size and (pos.min() < 0 or pos.max() >= self.config.block_size)):
            raise ValueError(
                f"BERT: position_ids must be (T,) or (B, T) ids in [0, {self.config.block_size}) with T = {T}"
            )
        x = self.wte(ids) + self.wpe(pos)  # (B, T, C)
        if segments is not None:
            if not self.config.n_segments:
                raise ValueError("BERT: segments given but the config has n_segments=0")
            x = x + self.wse(np.asarray(segments))  # (B, T, C)
        x = self.drop(x)
        for block in self.blocks:
            x = block(x, key_padding_mask=key_padding_mask)  # (B, T, C)
        return self.ln_f(x)

    def forward(
        self,
        ids: Any,
        targets: Any = None,
        key_padding_mask: Any = None,
        segments: Any = None,
        position_ids: Any = None,
    ) -> tuple[Tensor, Tensor | None]:
        """# Shapes
        - ids: (B, T) int ids (already masked); targets: (B, T) original ids at the
          masked positions and ``ignore_index`` elsewhere, or None
        - returns logits (B, T, vocab_size) and the mean cross-entropy over the
          masked positions (or None)
        """
        h = self.hidden_states(ids, segments, key_padding_mask, position_ids)  # (B, T, C)
        h = self.mlm_norm(F.gelu(self.mlm_dense(h)))  # (B, T, C)
        logits = F.linear(h, self.wte.weight, self.mlm_bias)  # (B, T, V), tied to wte
        loss = None if targets is None else self.mlm_loss(logits, targets)
        return logits, loss

    def mlm_loss(self, logits: Tensor, targets: Any) -> Tensor:
        """Mean cross-entropy over the positions whose target is not ``ignore_index``
        (the masked ones); every other position gets no gradient.

        # Shapes
        - logits: (B, T, V), targets: (B, T) → scalar
        """
        B, T, V = logits.shape
        t = np.asarray(targets).reshape(B * T)
        return F.cross_entropy(logits.reshape(B * T, V), t, ignore_index=self.config.ignore_index)

    def encode(
        self, ids: Any, key_padding_mask: Any = None, segments: Any = None, pooling: str = "mean"
    ) -> tuple[Tensor, Tensor]:
        """Per-token vectors and one pooled vector per sequence.

        ``pooling``: ``"mean"`` over the non-padding positions, ``"first"`` the
        first position (a ``[CLS]`` token when the inputs start with one) or
        ``"max"``. Differentiable (run it under ``no_grad`` for features).

        # Shapes
        - ids: (B, T) → tokens (B, T, n_embd), pooled (B, n_embd)
        """
        h = self.hidden_states(ids, segments, key_padding_mask)  # (B, T, C)
        if pooling == "mean" and key_padding_mask is not None:
            keep = ~np.asarray(key_padding_mask, dtype=bool)  # (B, T)
            w = (keep / np.maximum(keep.sum(axis=1, keepdims=True), 1)).astype(np.float32)
            return h, (h * w[:, :, None]).sum(axis=1)  # (B, C)
        return h, F.global_pool(h, pooling)

    @staticmethod
    def masked_accuracy(logits: Any, targets: Any, ignore_index: int = IGNORE_INDEX) -> float:
        """Fraction of the masked positions (targets != ignore_index) predicted exactly."""
        t = np.asarray(targets)
        pred = np.asarray(logits._array if isinstance(logits, Tensor) else logits).argmax(axis=-1)
        sel = t != ignore_index
        return float((pred[sel] == t[sel]).mean()) if sel.any() else float("nan")


def classifier_from_bert(
    bert: BERT, n_classes: int, pooling: str = "mean", block_size: int | None = None
) -> TransformerClassifier:
    """A ``TransformerClassifier`` whose encoder starts from ``bert``'s weights.

    Copied: the token embedding (``wte`` → ``embed`` rows 0..V-1; the
    classifier's extra "global" token row, used by ``pooling="first"``,
    starts from ``[CLS]``, id 2 of ``data.MLMTokenizer``), the learned
    positions (``wpe`` → ``pos``, as many rows as both have), every
    Transformer block and ``ln_f``. The MLM head is dropped; the class head
    is new. Segment embeddings are not carried over.

    With ``pooling="first"`` the classifier puts its global token at position
    0 and the sequence at 1..T, as BERT sees ``[CLS] x_1 … x_T``.
    """
    c = bert.config
    cfg = ClassifierConfig(
        vocab_size=c.vocab_size, n_classes=int(n_classes), block_size=block_size or c.block_size,
        n_layer=c.n_layer, n_head=c.n_head, n_embd=c.n_embd, dropout=c.dropout, pooling=pooling,
    )  # fmt: skip
    clf = TransformerClassifier(cfg)
    emb = clf.embed.weight._array.copy()  # (V + 1, C)
    emb[: c.vocab_size] = bert.wte.weight._array
    emb[c.vocab_size] = bert.wte.weight._array[min(2, c.vocab_size - 1)]
    clf.embed.weight._array = emb
    pos = clf.pos.weight._array.copy()  # (block + 1, C)
    n = min(len(pos), c.block_size)
    pos[:n] = bert.wpe.weight._array[:n]
    clf.pos.weight._array = pos
    src = bert.state_dict()
    state = clf.state_dict()
    for name in state:
        if name.startswith(("blocks.", "ln_f.")):
            state[name] = np.array(src[name], dtype=np.float32, copy=True)
    clf.load_state_dict(state)
    return clf
