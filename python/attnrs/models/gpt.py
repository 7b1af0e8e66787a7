"""GPT: a causal self-attention language model (nanoGPT's architecture).

token ids ─ wte ─┐
                 + ─ drop ─ [TransformerBlock(causal) × n_layer] ─ ln_f ─ lm_head ─ logits
positions ─ wpe ─┘

Each block is pre-norm: ``x + attn(ln_1(x))`` then ``x + mlp(ln_2(x))``.
``generate`` decodes one token at a time against a KV cache, so each new
token costs one query row per layer instead of re-running the whole window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import nn, ops
from ..autograd import no_grad
from ..tensor import Tensor
from ._loss import sequence_loss
from ._sampling import sample_next

__all__ = ["GPT", "GPTConfig"]


@dataclass
class GPTConfig:
    vocab_size: int = 65  # characters of tinyshakespeare
    block_size: int = 64  # longest context (learned positions)
    n_layer: int = 4  # transformer blocks
    n_head: int = 4  # attention heads per block
    n_embd: int = 128  # model width; n_embd % n_head == 0
    dropout: float = 0.0  # after embeddings, attention and MLP
    tie_weights: bool = False  # lm_head shares wte's weight

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"GPTConfig: {name} must be >= 1; got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"GPTConfig: n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig: dropout must be in [0, 1); got {self.dropout}")


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = nn.Embedding(c.block_size, c.n_embd)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            [nn.TransformerBlock(c.n_embd, c.n_head, 4 * c.n_embd, causal=True, dropout=c.dropout)
             for _ in range(c.n_layer)]
        )  # fmt: skip
        self.ln_f = nn.LayerNorm(c.n_embd)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_weights:
            self.lm_head.weight = self.wte.weight  # (V, C) for both
        self._init_weights()

    def _init_weights(self) -> None:
        """GPT-2 init: N(0, 0.02) weights, zero biases, residual projections scaled
        by 1/sqrt(2·n_layer)."""
        from ..tensor import default_rng

        rng = default_rng()
        for name, p in self.named_parameters():
            if name.startswith("ln_") or ".norm" in name:
                continue  # LayerNorm: weight 1, bias 0
            if name.endswith("bias"):
                p._array = np.zeros_like(p._array)
                continue
            std = 0.02
            if name.endswith(("out_proj.weight", "linear2.weight")):  # residual projections
                std = 0.02 / np.sqrt(2 * self.config.n_layer)
            p._array = rng.normal(0.0, std, size=p._array.shape).astype(np.float32)

    def forward(
        self, idx: np.ndarray, targets: np.ndarray | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """# Shapes
        - idx: (B, T) int ids, T <= block_size; targets: (B, T) int ids or None
        - returns logits (B, T, vocab_size) and the mean cross-entropy (or None)
        """
        idx = np.asarray(idx)
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(
                f"GPT.forward: sequence length {T} exceeds block_size {self.config.block_size}"
            )
        pos = np.arange(T)
        x = self.drop(self.wte(idx) + self.wpe(pos))  # (B, T, C)
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
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
        """Appends ``max_new_tokens`` sampled tokens to ``idx`` and returns it.

        The prompt is run once to fill each block's KV cache; every next token
        is one cached decode step. When the context reaches ``block_size`` the
        cache is rebuilt from the last ``block_size // 2`` tokens (learned
        positions cannot go further), so long generations stay cheap.

        # Shapes
        - idx: (B, T0) int ids → (B, T0 + max_new_tokens)
        """
        idx = np.asarray(idx, dtype=np.int64)
        if idx.ndim != 2 or idx.shape[1] < 1:
            raise ValueError(
                f"GPT.generate: idx must have shape (B, T) with T >= 1; got {idx.shape}"
            )
        was_training = self.training
        self.eval()
        out = [idx]
        caches = None
        wt = self._decode_weights()
        ctx = idx[:, -self.config.block_size :]
        logits = None
        for i in range(max_new_tokens):
            if caches is None:  # (re)fill the caches from the context
                caches = [nn.KVCache() for _ in self.blocks]
                logits = self._decode_step(ctx, caches, 0, wt)
            nxt = sample_next(logits, temperature, top_k, rng)  # (B, 1)
            out.append(nxt)
            if i == max_new_tokens - 1:
                break
            ctx = np.concatenate([ctx, nxt], axis=1)
            if ctx.shape[1] > self.config.block_size:
                ctx = ctx[:, -(self.config.block_size // 2 or 1) :]
                caches = None
            else:
                logits = self._decode_step(nxt, caches, ctx.shape[1] - 1, wt)
        self.train(was_training)
        return np.concatenate(out, axis=1)

    @no_grad()
    def attention_maps(self, idx: np.ndarray) -> list[np.ndarray]:
        """The causal self-attention weights of every layer for ``idx``.

        # Shapes
        - idx: (B, T) → one (B, n_head, T, T) array per layer
        """
        idx = np.asarray(idx)
        x = self.wte(idx) + self.wpe(np.arange(idx.shape[1]))  # (B, T, C)
        maps = []
        for block in self.blocks:
            h = block.norm1(x)
            _, w = block.self_attn(
                h, h, h, is_causal=True, need_weights=True, average_attn_weights=False
            )
            maps.append(np.asarray(w._array if isinstance(w, Tensor) else w))  # (B, nh, T, T)
            x = block(x)
        return maps

    def _decode_weights(self) -> dict[int, np.ndarray]:
        """Row-major copies of every projection's Wᵀ (``TransformerBlock.decode_weights``
        and the head's), made once per ``generate``."""
        wt = {id(self.lm_head.weight): np.ascontiguousarray(self.lm_head.weight._array.T)}
        for block in self.blocks:
            wt.update(block.decode_weights())
        return wt

    def _decode_step(
        self, idx: np.ndarray, caches: list, start: int, wt: dict[int, np.ndarray]
    ) -> np.ndarray:
        """Runs ``idx`` at positions start..start+t-1 through the blocks'
        inference path (``TransformerBlock.decode_step``: the same math as
        ``forward``, without autograd). Either one new token against the
        caches, or a whole context into empty caches (``start == 0``).
        Appends to the caches; returns the last position's logits.

        # Shapes
        - idx: (B, t) int ids → (B, V)
        """
        B, t = idx.shape
        if t > 1 and start != 0:
            raise ValueError("GPT._decode_step: several tokens only into empty caches (start = 0)")
        c = self.config
        pos = np.arange(start, start + t)
        x = (self.wte.weight._array[idx] + self.wpe.weight._array[pos]).reshape(B * t, c.n_embd)  # (B·t, C)
        for block, cache in zip(self.blocks, caches):
            x = block.decode_step(x, cache, B, wt)  # (B·t, C)
        last = np.ascontiguousarray(x.reshape(B, t, c.n_embd)[:, -1])  # (B, C)
        ln, head = self.ln_f, self.lm_head
        h = ops.layer_norm_inference(last, ln.weight._array, None if ln.bias is None else ln.bias._array, ln.eps)
        bias = None if head.bias is None else head.bias._array
        return ops.linear(h, wt[id(head.weight)].T, bias)  # (B, V)
